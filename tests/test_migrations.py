"""Alembic migrations: up, down and up again on both backends; models and migrations agree."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from geoalchemy2 import alembic_helpers
from sqlalchemy import inspect

from app.db import alembic_config, current_revision, head_revision, upgrade
from app.models import Base
from tests.conftest import make_engine

TABLES = set(Base.metadata.tables)


def test_upgrade_downgrade_upgrade(backend, databases):
    engine = make_engine(databases.new_url(backend))
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert TABLES <= set(inspect(engine).get_table_names())
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    assert not TABLES & set(inspect(engine).get_table_names())
    upgrade(engine)
    assert TABLES <= set(inspect(engine).get_table_names())
    engine.dispose()


def ours(obj, name, type_, reflected, compare_to):
    """Our tables only: SpatiaLite's own tables (SpatialIndex, idx_*…) and alembic_version aside."""
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
    if table is not None and table not in TABLES:
        return False
    return alembic_helpers.include_object(obj, name, type_, reflected, compare_to)


def test_models_match_the_migrations(empty_engine):
    with empty_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": ours, "compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
