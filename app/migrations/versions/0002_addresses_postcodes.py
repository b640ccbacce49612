"""BAN addresses for the offline geocoder; postal codes of communes

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa
from geoalchemy2 import Geometry

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN on both backends: a batch (copy-and-swap) rebuild would lose SpatiaLite's
    # geometry registration of the territory table.
    op.add_column('territory', sa.Column('postcodes', sa.Text(), nullable=True))
    op.create_geospatial_table('address',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('code_insee', sa.String(length=5), nullable=False),
    sa.Column('numero', sa.Integer(), nullable=True),
    sa.Column('rep', sa.String(length=16), nullable=True),
    sa.Column('nom_voie', sa.String(length=200), nullable=False),
    sa.Column('code_postal', sa.String(length=5), nullable=True),
    sa.Column('nom_commune', sa.String(length=200), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_address'))
    )
    op.create_geospatial_index('idx_address_geom', 'address', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_address_code_insee'), 'address', ['code_insee'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_address_code_insee'), table_name='address')
    op.drop_geospatial_index('idx_address_geom', table_name='address', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('address')
    op.execute("ALTER TABLE territory DROP COLUMN postcodes")  # SQLite ≥ 3.35 and PostgreSQL
