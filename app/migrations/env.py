"""Alembic environment. Run through app.db.upgrade(engine), which passes the connection."""

from alembic import context
from geoalchemy2 import alembic_helpers

from app.models import Base

config = context.config


def run_migrations_online() -> None:
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # GeoAlchemy2's helpers keep spatial indexes and SpatiaLite geometry registration right.
        include_object=alembic_helpers.include_object,
        process_revision_directives=alembic_helpers.writer,
        render_item=alembic_helpers.render_item,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported: run `maillage db upgrade`")
run_migrations_online()
