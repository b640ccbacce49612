"""Unmet-demand counts per commune, ISO week and kind (optional, off by default)

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('unmet_demand',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('week', sa.String(length=8), nullable=False),
    sa.Column('kind_code', sa.String(length=40), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['kind_code'], ['kind.code'], name=op.f('fk_unmet_demand_kind_code_kind')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unmet_demand')),
    sa.UniqueConstraint('code', 'week', 'kind_code', name='uq_unmet_demand_code')
    )
    op.create_index(op.f('ix_unmet_demand_kind_code'), 'unmet_demand', ['kind_code'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_unmet_demand_kind_code'), table_name='unmet_demand')
    op.drop_table('unmet_demand')
