"""Engine, sessions and schema migrations (Alembic) for both backends."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from app import spatial
from app.config import Settings
from app.models import Meta

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def engine_from_settings(settings: Settings) -> Engine:
    url = settings.DATABASE_URL
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return spatial.make_engine(
        url, spatial.EngineOptions(spatialite_library=settings.SPATIALITE_LIBRARY_PATH)
    )


def session_factory(bind: Engine | Connection) -> sessionmaker[Session]:
    """Sessions on an engine, or on a connection already in a transaction (tests): there a
    session's commit only releases a savepoint and the outer rollback undoes everything."""
    return sessionmaker(bind, expire_on_commit=False, join_transaction_mode="create_savepoint")


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


def upgrade(engine: Engine, revision: str = "head") -> None:
    with engine.begin() as conn:
        spatial.prepare_database(conn)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), revision)


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


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
