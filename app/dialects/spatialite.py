"""SpatiaLite: how the spatial predicates compile, the engine (pysqlite3 and the extension),
read sessions without BEGIN, the extent from the R*Tree, query plans and resets."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import column, create_engine, event, func, select, table
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session

from app.dialects.expressions import SRID, box_holds_point, box_meets, meets_point, table_of

NAME = "spatialite"
DIALECT = "sqlite"


def _rtree(geom, compiler, kw, condition: str) -> str:
    """`<table>.id IN (SELECT pkid FROM idx_<table>_<column> WHERE …)`: SpatiaLite's spatial index
    is a virtual table that its planner only uses when the query names it."""
    owner, name = table_of(geom)
    pk = compiler.process(owner.c.id, **kw)
    return f"{pk} IN (SELECT pkid FROM idx_{name}_{geom.name} WHERE {condition})"


@compiles(box_meets, DIALECT)
def _box_meets(element, compiler, **kw):
    geom, *box = element.clauses
    minx, miny, maxx, maxy = (compiler.process(v, **kw) for v in box)
    return _rtree(geom, compiler, kw, f"xmin <= {maxx} AND xmax >= {minx} AND ymin <= {maxy} AND ymax >= {miny}")


@compiles(box_holds_point, DIALECT)
def _box_holds_point(element, compiler, **kw):
    geom, lon, lat = element.clauses
    x, y = compiler.process(lon, **kw), compiler.process(lat, **kw)
    return _rtree(geom, compiler, kw, f"xmin <= {x} AND xmax >= {x} AND ymin <= {y} AND ymax >= {y}")


@compiles(meets_point, DIALECT)
def _meets_point(element, compiler, **kw):
    geom, lon, lat = (compiler.process(v, **kw) for v in element.clauses)
    # SpatiaLite answers -1 (true in SQL) when an argument is NULL or invalid
    return f"ST_Intersects({geom}, MakePoint({lon}, {lat}, {SRID})) = 1"


# Execution option of read-only connections: no BEGIN (see make_engine and read_only).
NO_BEGIN = "maillage_no_begin"


def _connect_hook(library: str):
    def on_connect(dbapi_conn, _record):
        dbapi_conn.enable_load_extension(True)
        dbapi_conn.load_extension(library)
        dbapi_conn.enable_load_extension(False)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys = ON")
        # WAL lets several app workers read while an import writes.
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA busy_timeout = 10000")
        if cur.execute("SELECT CheckSpatialMetaData()").fetchone()[0] < 1:
            # 'WGS84' loads only the WGS84-related SRIDs: seconds faster than the full EPSG table.
            cur.execute("SELECT InitSpatialMetaData(1, 'WGS84')")
        cur.close()

    return on_connect


def make_engine(url: str, options) -> Engine:
    # The stock sqlite3 module of many Pythons cannot load extensions. pysqlite3, built from
    # source, can, and links the *system* libsqlite3 — the one Debian's mod_spatialite links
    # too. A module bundling its own SQLite (sqlean.py, pysqlite3-binary) puts two SQLite
    # libraries in the process and corrupts the heap (seen here: "double free" at exit).
    import pysqlite3.dbapi2 as sqlite_module

    engine = create_engine(
        url,
        module=sqlite_module,
        echo=options.echo,
        hide_parameters=True,  # error texts (and so logs) never carry a looked-up point or address
        connect_args={"check_same_thread": False},
    )
    event.listen(engine, "connect", _connect_hook(options.spatialite_library))
    # pysqlite's own transaction handling does not emit BEGIN for SELECTs; take control so
    # an import really is one transaction (SQLAlchemy's documented recipe).
    @event.listens_for(engine, "connect")
    def _no_pysqlite_begin(dbapi_conn, _record):
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn):
        if not conn.get_execution_options().get(NO_BEGIN):
            conn.exec_driver_sql("BEGIN")

    return engine


def read_only(engine: Engine) -> Engine:
    # not SQLAlchemy's AUTOCOMMIT on pysqlite: resetting it on return to the pool would give
    # the connection back pysqlite's own transaction handling (see make_engine)
    return engine.execution_options(**{NO_BEGIN: True})


def prepare_database(conn: Connection) -> None:
    """Nothing to do: the extension initialises its metadata on connection."""


def reset_database(engine: Engine) -> None:
    """A SpatiaLite database is its file: deleted with its write-ahead log."""
    engine.dispose()
    path = engine.url.database
    if path and path != ":memory:":
        for suffix in ("", "-wal", "-shm"):
            Path(path + suffix).unlink(missing_ok=True)


def extent(session: Session, geom) -> tuple:
    """(minx, miny, maxx, maxy) of a table's geometries, NULLs when it has none: the R*Tree holds
    every row's box, so no geometry is decoded."""
    _, name = table_of(geom)
    index = table(f"idx_{name}_{geom.name}", column("xmin"), column("ymin"), column("xmax"), column("ymax"))
    return session.execute(select(func.min(index.c.xmin), func.min(index.c.ymin), func.max(index.c.xmax),
                                  func.max(index.c.ymax))).one()


def explain(conn: Connection, sql: str, params) -> str:
    rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).fetchall()
    return "\n".join(str(r[-1]) for r in rows)
