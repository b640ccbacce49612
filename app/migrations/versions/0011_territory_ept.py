"""Établissement public territorial (Grand Paris) of each commune

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('territory', sa.Column('ept', sa.String(length=9), nullable=True))
    op.create_index(op.f('ix_territory_ept'), 'territory', ['ept'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_territory_ept'), table_name='territory')
    op.execute("ALTER TABLE territory DROP COLUMN ept")  # SQLite ≥ 3.35 and PostgreSQL
