"""Engine, sessions and schema migrations (Alembic) for both backends."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from app import dialects
from app.config import Settings
from app.models import Meta

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def engine_from_settings(settings: Settings) -> Engine:
    url = settings.DATABASE_URL
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return dialects.make_engine(
        url, dialects.EngineOptions(spatialite_library=settings.SPATIALITE_LIBRARY_PATH)
    )


def session_factory(bind: Engine | Connection) -> sessionmaker[Session]:
    """Sessions on an engine, or on a connection already in a transaction (tests): there a
    session's commit only releases a savepoint and the outer rollback undoes everything."""
    return sessionmaker(bind, expire_on_commit=False, join_transaction_mode="create_savepoint")


def read_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for web and API requests, which only read: no transaction is opened, each
    statement reads what is committed (as PostgreSQL's default READ COMMITTED does inside a
    transaction anyway). On PostgreSQL this saves the BEGIN and ROLLBACK round trips of every
    request; on SQLite the BEGIN (app/dialects/). Writes (the optional demand counts) use `session_factory`."""
    return sessionmaker(dialects.read_only(engine), expire_on_commit=False)


@contextmanager
def transaction(engine: Engine | Connection):
    """One session, one transaction: committed on success, rolled back on any error."""
    with session_factory(engine)() as session, session.begin():
        yield session


def alembic_config(connection=None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> list[dict]:
    """Migrate the schema; returns the reference units a data migration renamed
    ({"code", "old", "new"}), for the caller to show."""
    with engine.begin() as conn:
        dialects.prepare_database(conn)
    with engine.begin() as conn:
        config = alembic_config(conn)
        command.upgrade(config, revision)
    return config.attributes.get("renamed", [])


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def is_up_to_date(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()


def get_meta(session: Session, key: str) -> str | None:
    return session.scalar(select(Meta.value).where(Meta.key == key))


def set_meta(session: Session, key: str, value: str) -> None:
    row = session.get(Meta, key)
    if row is None:
        session.add(Meta(key=key, value=value))
    else:
        row.value = value


# ---------------------------------------------------------------------------------------------
# Data version: a token that changes with every committed write, so read-side caches (the
# lookup's partner cards) know when to refresh. Maintained here for every Session, whatever
# wrote: ORM unit of work or ORM-enabled insert/update/delete statements.

DATA_VERSION_KEY = "data_version"


# Tables no read-side cache depends on: writing them leaves the data version alone (accounts, logins,
# the audit, proposals and reports included). The optional
# demand counts are written after lookups; bumping the version there would make every uncovered
# lookup throw away the partner cards, shapes and geocoding indexes of every process.
UNVERSIONED_TABLES = frozenset({"unmet_demand", "account", "account_token", "login_attempt", "audit_entry",
                                "proposal", "error_report"})


def _mark_written(session: Session, tables) -> None:
    session.info["maillage_wrote"] = True
    if any(t not in UNVERSIONED_TABLES for t in tables):
        session.info["maillage_bump"] = True


@event.listens_for(Session, "after_flush")
def _after_flush(session, _flush_context):
    changed = [*session.new, *session.dirty, *session.deleted]
    if changed:
        _mark_written(session, {getattr(o, "__tablename__", None) for o in changed})


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state):
    if state.is_insert or state.is_update or state.is_delete:
        mapper = state.bind_mapper
        _mark_written(state.session, {mapper.local_table.name if mapper is not None else None})


@event.listens_for(Session, "before_commit")
def _bump_version(session):
    if session.info.pop("maillage_bump", False):
        import uuid

        session.execute(text("DELETE FROM meta WHERE key = :k"), {"k": DATA_VERSION_KEY})
        session.execute(text("INSERT INTO meta (key, value) VALUES (:k, :v)"),
                        {"k": DATA_VERSION_KEY, "v": uuid.uuid4().hex})


def session_wrote(session: Session) -> bool:
    """True once a session has written anything: its reads may see uncommitted data."""
    return bool(session.info.get("maillage_wrote"))


def meta_value(session: Session, key: str) -> str | None:
    # Plain SQL: this runs on every lookup and geocoding, the ORM select costs several times more.
    return session.execute(text("SELECT value FROM meta WHERE key = :key"), {"key": key}).scalar()


def data_version(session: Session) -> str | None:
    return meta_value(session, DATA_VERSION_KEY)


def engine_of(session: Session) -> Engine:
    bind = session.get_bind()
    return getattr(bind, "engine", bind)


def cached_for_version(cache, session: Session, version: str | None, build):
    """A read-side object built from the database (it has a `version` attribute), shared per
    engine in `cache` (a WeakKeyDictionary) until `version` changes. A session that has written
    may see its own uncommitted data: it gets a private build, never shared."""
    if session_wrote(session):
        return build()
    engine = engine_of(session)
    obj = cache.get(engine)
    if obj is None or obj.version != version:
        obj = cache[engine] = build()
    return obj
