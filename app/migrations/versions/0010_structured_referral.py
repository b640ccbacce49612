"""Structured referral, funders and end of funding per partner (app/partners/referral.py)

Revision ID: 0010
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # who may refer, channels, documents, consent, delay, form and fiche de liaison links
    op.add_column('partner', sa.Column('referral', sa.JSON(), nullable=True))
    op.add_column('partner', sa.Column('funders', sa.JSON(), nullable=True))
    op.add_column('partner', sa.Column('funding_end', sa.Date(), nullable=True))


def downgrade() -> None:
    for column in ('funding_end', 'funders', 'referral'):
        op.execute(f"ALTER TABLE partner DROP COLUMN {column}")  # SQLite ≥ 3.35 and PostgreSQL
