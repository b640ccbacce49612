"""Inventory status per territory and kind (gap analysis: "aucune offre" vs "non inventorié")

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('inventory',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('kind_code', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['kind_code'], ['kind.code'], name=op.f('fk_inventory_kind_code_kind')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inventory')),
    sa.UniqueConstraint('code', 'kind_code', name='uq_inventory_code')
    )
    op.create_index(op.f('ix_inventory_kind_code'), 'inventory', ['kind_code'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_inventory_kind_code'), table_name='inventory')
    op.drop_table('inventory')
