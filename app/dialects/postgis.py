"""PostGIS: how the spatial predicates compile, the engine and its pool (idle connections checked
before use), read sessions in autocommit, the extent, query plans and resets."""

from __future__ import annotations

import time

from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session

from app.dialects.expressions import SRID, box_holds_point, box_meets, meets_point

NAME = "postgis"
DIALECT = "postgresql"


def _point(compiler, kw, lon, lat) -> str:
    return f"ST_SetSRID(ST_MakePoint({compiler.process(lon, **kw)}, {compiler.process(lat, **kw)}), {SRID})"


# PostGIS's planner uses the GiST index by itself for `&&`.
@compiles(box_meets, DIALECT)
def _box_meets(element, compiler, **kw):
    geom, *box = (compiler.process(v, **kw) for v in element.clauses)
    return f"{geom} && ST_MakeEnvelope({', '.join(box)}, {SRID})"


@compiles(box_holds_point, DIALECT)
def _box_holds_point(element, compiler, **kw):
    geom, lon, lat = element.clauses
    return f"{compiler.process(geom, **kw)} && {_point(compiler, kw, lon, lat)}"


@compiles(meets_point, DIALECT)
def _meets_point(element, compiler, **kw):
    geom, lon, lat = element.clauses
    return f"ST_Intersects({compiler.process(geom, **kw)}, {_point(compiler, kw, lon, lat)})"


# A pooled connection unused for this long is checked before use: after a server restart or a
# dropped connection, requests get a fresh one instead of an error.
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


def make_engine(url: str, options) -> Engine:
    # hide_parameters: error texts (and so logs) never carry a looked-up point or address
    engine = create_engine(url, echo=options.echo, hide_parameters=True)
    event.listen(engine, "checkout", _ping_if_idle(engine.dialect))
    event.listen(engine, "checkin", _note_return)
    return engine


def read_only(engine: Engine) -> Engine:
    # each statement reads what is committed, as READ COMMITTED does inside a transaction anyway,
    # without the BEGIN and ROLLBACK round trips
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def prepare_database(conn: Connection) -> None:
    conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))


def reset_database(engine: Engine) -> None:
    """The schema is dropped and made again."""
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))


def extent(session: Session, geom) -> tuple:
    """(minx, miny, maxx, maxy) of a table's geometries, NULLs when it has none."""
    box = select(func.ST_Extent(geom).label("e")).subquery("extent")
    return session.execute(select(func.ST_XMin(box.c.e), func.ST_YMin(box.c.e), func.ST_XMax(box.c.e),
                                  func.ST_YMax(box.c.e))).one()


def explain(conn: Connection, sql: str, params) -> str:
    rows = conn.exec_driver_sql("EXPLAIN " + sql, params).fetchall()
    return "\n".join(r[0] for r in rows)
