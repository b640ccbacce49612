"""Accounts, single-use tokens, login attempts, audit entries, proposals and error reports

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table('account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('territories', sa.JSON(), nullable=False),
    sa.Column('partners', sa.JSON(), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('oidc_subject', sa.String(length=200), nullable=True),
    sa.Column('created_at', TZ, nullable=False),
    sa.Column('last_login_at', TZ, nullable=True),
    sa.Column('session_epoch', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account')),
    sa.UniqueConstraint('email', name=op.f('uq_account_email')),
    sa.UniqueConstraint('oidc_subject', name=op.f('uq_account_oidc_subject')),
    )
    op.create_table('account_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=12), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('expires_at', TZ, nullable=False),
    sa.Column('used_at', TZ, nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_account_token_account_id_account'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account_token')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_account_token_token_hash')),
    )
    op.create_index(op.f('ix_account_token_account_id'), 'account_token', ['account_id'], unique=False)
    op.create_table('login_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('at', TZ, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_attempt')),
    )
    op.create_index(op.f('ix_login_attempt_key'), 'login_attempt', ['key'], unique=False)
    op.create_table('audit_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', TZ, nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=300), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=True),
    sa.Column('partner_ref', sa.String(length=120), nullable=True),
    sa.Column('target', sa.String(length=200), nullable=True),
    sa.Column('diff', sa.JSON(), nullable=False),
    sa.Column('snapshot', sa.JSON(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_audit_entry_account_id_account'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['partner_id'], ['partner.id'], name=op.f('fk_audit_entry_partner_id_partner'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entry')),
    )
    for column in ('at', 'account_id', 'action', 'partner_id'):
        op.create_index(op.f(f'ix_audit_entry_{column}'), 'audit_entry', [column], unique=False)
    op.create_table('proposal',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('author', sa.String(length=300), nullable=False),
    sa.Column('record', sa.JSON(), nullable=False),
    sa.Column('diff', sa.JSON(), nullable=False),
    sa.Column('territories', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('created_at', TZ, nullable=False),
    sa.Column('decided_by', sa.String(length=300), nullable=True),
    sa.Column('decided_at', TZ, nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_proposal_account_id_account'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['partner_id'], ['partner.id'], name=op.f('fk_proposal_partner_id_partner'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_proposal')),
    )
    for column in ('partner_id', 'account_id', 'state'):
        op.create_index(op.f(f'ix_proposal_{column}'), 'proposal', [column], unique=False)
    op.create_table('error_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('territories', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('created_at', TZ, nullable=False),
    sa.Column('handled_by', sa.String(length=300), nullable=True),
    sa.Column('handled_at', TZ, nullable=True),
    sa.Column('answer', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partner.id'], name=op.f('fk_error_report_partner_id_partner'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_error_report')),
    )
    for column in ('partner_id', 'state'):
        op.create_index(op.f(f'ix_error_report_{column}'), 'error_report', [column], unique=False)


def downgrade() -> None:
    for table in ('error_report', 'proposal', 'audit_entry', 'login_attempt', 'account_token', 'account'):
        op.drop_table(table)
