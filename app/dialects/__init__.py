"""Everything that differs between SpatiaLite and PostGIS lives in this package, and only here.

The rest of the code writes its queries with SQLAlchemy and the spatial predicates of
app/dialects/expressions.py (`box_meets`, `box_holds_point`, `meets_point`); each backend's
module compiles them its own way and owns its engine, its read sessions, its extent query, its
query plans and its reset: app/dialects/spatialite.py, app/dialects/postgis.py. This module is
what the rest of the code calls.

`fetch_all` is the lookup's hot path: a statement compiled once per driver, run on the driver's
cursor (docs/PERFORMANCE.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from app.dialects import postgis, spatialite
from app.dialects.expressions import SRID, box_holds_point, box_meets, meets_point

__all__ = ["SRID", "box_holds_point", "box_meets", "meets_point", "EngineOptions", "make_engine", "read_only",
           "prepare_database", "reset_database", "backend_name", "extent", "explain", "fetch_all", "chunked",
           "PARAMETER_LIMIT"]

_BACKENDS = {spatialite.DIALECT: spatialite, postgis.DIALECT: postgis}

# Bound values one statement may carry on the strictest backend (SQLite before 3.32: 999):
# longer IN lists go in chunks.
PARAMETER_LIMIT = 900


@dataclass(frozen=True)
class EngineOptions:
    spatialite_library: str = "mod_spatialite"
    echo: bool = False


def _backend(bind: Engine | Connection | Session):
    if isinstance(bind, Session):
        bind = bind.get_bind()
    return _BACKENDS[bind.dialect.name]


def make_engine(url: str, options: EngineOptions | None = None) -> Engine:
    """The one engine factory for both backends."""
    options = options or EngineOptions()
    if url.startswith("sqlite"):
        return spatialite.make_engine(url, options)
    if url.startswith("postgresql"):
        return postgis.make_engine(url, options)
    raise ValueError(
        f"DATABASE_URL non pris en charge : {url.split(':', 1)[0]!r} "
        "(attendu sqlite:///chemin ou postgresql+psycopg://…)"
    )


def read_only(engine: Engine) -> Engine:
    """The engine as requests use it: they only read, so no transaction is opened and each
    statement reads what is committed (app.db.read_session_factory)."""
    return _backend(engine).read_only(engine)


def prepare_database(conn: Connection) -> None:
    """Backend prerequisites before the schema migrations run."""
    _backend(conn).prepare_database(conn)


def reset_database(engine: Engine) -> None:
    """Drop every Maillage table (`maillage demo --force`)."""
    _backend(engine).reset_database(engine)


def backend_name(bind: Engine | Connection | Session) -> str:
    """"spatialite" or "postgis"."""
    return _backend(bind).NAME


def extent(session: Session, geom) -> tuple[float, float, float, float] | None:
    """Bounding box (minx, miny, maxx, maxy) of a geometry column's rows; None when it has none."""
    row = _backend(session).extent(session, geom.expression if hasattr(geom, "expression") else geom)
    return None if row[0] is None else tuple(float(v) for v in row)


@dataclass(frozen=True)
class _Compiled:
    sql: str  # for the driver's cursor, in its parameter style
    order: tuple | None  # parameter names in order, when the driver's style is positional
    fixed: dict  # the values the statement carries itself (Kind.mode == "proximity")

    def parameters(self, params: dict):
        if self.fixed:
            params = {**self.fixed, **params}
        return params if self.order is None else tuple([params[name] for name in self.order])


_COMPILED: dict[tuple, _Compiled] = {}


def compiled(dialect, statement) -> _Compiled:
    """A statement compiled once per driver: its SQL, and how to pass it parameters. Statements
    given here are module constants (the cache holds a few entries per driver) whose parameters
    are named bindparams; SQLAlchemy, not a rewrite of the text, decides the parameter style."""
    key = (dialect.name, dialect.driver, statement)
    found = _COMPILED.get(key)
    if found is None:
        result = statement.compile(dialect=dialect)
        found = _COMPILED[key] = _Compiled(result.string, tuple(result.positiontup) if result.positional else None,
                                           {k: v for k, v in result.params.items() if v is not None})
    return found


def fetch_all(session: Session, statement, params: dict) -> list[tuple]:
    """Rows of a read-only statement, run on the session's connection through the driver's cursor.
    The lookup's hot path: SQLAlchemy's per-statement work costs 0.1–0.25 ms, as much as the indexed
    query itself (docs/PERFORMANCE.md)."""
    conn = session.connection()
    statement = compiled(conn.dialect, statement)
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.execute(statement.sql, statement.parameters(params))
        return cursor.fetchall()
    finally:
        cursor.close()


def explain(conn: Connection, statement, params: dict) -> str:
    """The backend's query plan of a statement, as `fetch_all` would run it."""
    statement = compiled(conn.dialect, statement)
    return _backend(conn).explain(conn, statement.sql, statement.parameters(params))


def chunked(values: list, size: int = PARAMETER_LIMIT):
    """`values` in slices short enough for one statement's IN list."""
    for start in range(0, len(values), size):
        yield values[start:start + size]
