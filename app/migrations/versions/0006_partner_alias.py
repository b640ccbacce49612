"""Partner aliases: another source's record of the same structure, merged instead of duplicated

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('partner_alias',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ref', sa.String(length=120), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=120), nullable=False),
    sa.Column('source_file', sa.String(length=300), nullable=True),
    sa.Column('source_row', sa.Integer(), nullable=True),
    sa.Column('matched_on', sa.String(length=20), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partner.id'], name=op.f('fk_partner_alias_partner_id_partner'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner_alias')),
    sa.UniqueConstraint('ref', name=op.f('uq_partner_alias_ref'))
    )
    op.create_index(op.f('ix_partner_alias_partner_id'), 'partner_alias', ['partner_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_partner_alias_partner_id'), table_name='partner_alias')
    op.drop_table('partner_alias')
