"""Hash of the source row a partner was last imported from

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Lets a re-import of a large source (FINESS: ~100,000 rows) skip every row whose source text
    # did not change, without loading the stored partner.
    op.add_column('partner', sa.Column('source_hash', sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE partner DROP COLUMN source_hash")  # SQLite ≥ 3.35 and PostgreSQL
