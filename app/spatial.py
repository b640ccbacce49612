"""Everything that differs between SpatiaLite and PostGIS lives here, and only here.

The rest of the code asks this module for: an engine, the SQL that finds rows whose geometry
contains a point or meets a box *through the spatial index*, and the backend's query plan.

Index use differs: PostGIS's planner uses the GiST index by itself for ST_Intersects; SpatiaLite
never does unless the query joins the R*Tree virtual table `idx_<table>_<column>` explicitly,
so the SpatiaLite SQL below always goes through it (checked by tests/test_importers.py).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session

SRID = 4326


class Backend:
    name: str

    def box_filter(self, table: str, alias: str, column: str = "geom") -> str:
        """SQL predicate: row's bounding box meets (:minx, :miny, :maxx, :maxy), index only."""
        raise NotImplementedError

    def point_box_filter(self, table: str, alias: str, column: str = "geom") -> str:
        """SQL predicate: row's bounding box contains the point (:lon, :lat), index only. Callers
        refine with the exact geometry (app.lookup: in SQL with intersects_point for territories,
        in memory on cached shapes for coverage areas)."""
        raise NotImplementedError

    def point(self) -> str:
        """SQL expression of the WGS84 point (:lon, :lat)."""
        raise NotImplementedError

    def intersects_point(self, alias: str, column: str = "geom") -> str:
        """SQL predicate: the row's geometry meets the point (:lon, :lat), boundary included —
        exact, to be combined with point_box_filter for the index."""
        raise NotImplementedError

    def explain(self, conn: Connection, sql: str, params: dict) -> str:
        raise NotImplementedError

    def extent_sql(self, table: str, column: str = "geom") -> str:
        """SQL returning one row (minx, miny, maxx, maxy) of the table's geometries (NULLs if none)."""
        raise NotImplementedError



class SpatiaLite(Backend):
    name = "spatialite"

    def box_filter(self, table, alias, column="geom"):
        return (
            f"{alias}.id IN (SELECT pkid FROM idx_{table}_{column} "
            f"WHERE xmin <= :maxx AND xmax >= :minx AND ymin <= :maxy AND ymax >= :miny)"
        )

    def point_box_filter(self, table, alias, column="geom"):
        return (
            f"{alias}.id IN (SELECT pkid FROM idx_{table}_{column} "
            f"WHERE xmin <= :lon AND xmax >= :lon AND ymin <= :lat AND ymax >= :lat)"
        )

    def point(self):
        return f"MakePoint(:lon, :lat, {SRID})"

    def intersects_point(self, alias, column="geom"):
        # SpatiaLite answers -1 (true in SQL) when an argument is NULL or invalid
        return f"ST_Intersects({alias}.{column}, {self.point()}) = 1"

    def explain(self, conn, sql, params):
        rows = conn.execute(text("EXPLAIN QUERY PLAN " + sql), params).fetchall()
        return "\n".join(str(r[-1]) for r in rows)

    def extent_sql(self, table, column="geom"):
        # the R*Tree holds every row's box: no geometry is decoded
        return f"SELECT min(xmin), min(ymin), max(xmax), max(ymax) FROM idx_{table}_{column}"


class PostGIS(Backend):
    name = "postgis"

    def box_filter(self, table, alias, column="geom"):
        return f"{alias}.{column} && ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, {SRID})"

    def point_box_filter(self, table, alias, column="geom"):
        return f"{alias}.{column} && {self.point()}"

    def point(self):
        return f"ST_SetSRID(ST_MakePoint(:lon, :lat), {SRID})"

    def intersects_point(self, alias, column="geom"):
        return f"ST_Intersects({alias}.{column}, {self.point()})"

    def explain(self, conn, sql, params):
        rows = conn.execute(text("EXPLAIN " + sql), params).fetchall()
        return "\n".join(r[0] for r in rows)

    def extent_sql(self, table, column="geom"):
        return (f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
                f"FROM (SELECT ST_Extent({column}) AS e FROM {table}) AS extent")


_BACKENDS = {"sqlite": SpatiaLite(), "postgresql": PostGIS()}


def backend_for(bind: Engine | Connection | Session) -> Backend:
    if isinstance(bind, Session):
        bind = bind.get_bind()
    return _BACKENDS[bind.dialect.name]


_DRIVER_SQL: dict[tuple[str, str], str] = {}


def fetch_all(session: Session, sql: str, params: dict) -> list[tuple]:
    """Rows of a read-only statement with :named parameters, run on the session's connection
    through the driver's cursor. The lookup's hot path: SQLAlchemy's per-statement work costs
    0.1–0.25 ms, as much as the indexed query itself (docs/PERFORMANCE.md)."""
    conn = session.connection()
    dialect = conn.dialect.name
    driver_sql = _DRIVER_SQL.get((dialect, sql))
    if driver_sql is None:
        # sqlite3 takes :name as is; psycopg wants %(name)s (and a literal % doubled)
        driver_sql = sql if dialect == "sqlite" else re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", sql.replace("%", "%%"))
        _DRIVER_SQL[(dialect, sql)] = driver_sql
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.execute(driver_sql, params)
        return cursor.fetchall()
    finally:
        cursor.close()


@dataclass(frozen=True)
class EngineOptions:
    spatialite_library: str = "mod_spatialite"
    echo: bool = False


def _spatialite_connect_hook(library: str):
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


# Execution option of read-only connections on SQLite: no BEGIN (app.db.read_session_factory).
NO_BEGIN = "maillage_no_begin"


# A pooled PostgreSQL connection unused for this long is checked before use: after a server restart
# or a dropped connection, requests get a fresh one instead of an error.
PING_AFTER_IDLE_S = 10.0


def _ping_if_idle(dialect):
    """SQLAlchemy's pool_pre_ping pings on every checkout: one more round trip per request (about
    0.15 ms, 5–10 % of a lookup). Connections in steady use skip it; idle ones are pinged, and a
    dead one makes the pool open a new connection (SQLAlchemy's documented checkout-event recipe)."""

    def on_checkout(dbapi_conn, record, _proxy):
        last = record.info.get("maillage_returned")
        if last is not None and time.monotonic() - last > PING_AFTER_IDLE_S:
            try:
                dialect.do_ping(dbapi_conn)
            except Exception as exc:
                raise DisconnectionError("connexion PostgreSQL perdue") from exc

    return on_checkout


def _note_return(_dbapi_conn, record):
    record.info["maillage_returned"] = time.monotonic()


def make_engine(url: str, options: EngineOptions | None = None) -> Engine:
    """The one engine factory for both backends."""
    options = options or EngineOptions()
    if url.startswith("sqlite"):
        # The stock sqlite3 module of many Pythons cannot load extensions. pysqlite3, built from
        # source, can, and links the *system* libsqlite3 — the one Debian's mod_spatialite links
        # too. A module bundling its own SQLite (sqlean.py, pysqlite3-binary) puts two SQLite
        # libraries in the process and corrupts the heap (seen here: "double free" at exit).
        import pysqlite3.dbapi2 as sqlite_module

        engine = create_engine(
            url,
            module=sqlite_module,
            echo=options.echo,
            connect_args={"check_same_thread": False},
        )
        event.listen(engine, "connect", _spatialite_connect_hook(options.spatialite_library))
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
    if url.startswith("postgresql"):
        engine = create_engine(url, echo=options.echo)
        event.listen(engine, "checkout", _ping_if_idle(engine.dialect))
        event.listen(engine, "checkin", _note_return)
        return engine
    raise ValueError(
        f"DATABASE_URL non pris en charge : {url.split(':', 1)[0]!r} "
        "(attendu sqlite:///chemin ou postgresql+psycopg://…)"
    )


def prepare_database(conn: Connection) -> None:
    """Backend prerequisites before the schema migrations run."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))


def reset_database(engine: Engine) -> None:
    """Drop every Maillage table (`maillage demo --force`): PostgreSQL's schema is dropped and made
    again; a SpatiaLite database is its file, deleted with its write-ahead log."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        return
    engine.dispose()
    path = engine.url.database
    if path and path != ":memory:":
        for suffix in ("", "-wal", "-shm"):
            Path(path + suffix).unlink(missing_ok=True)
