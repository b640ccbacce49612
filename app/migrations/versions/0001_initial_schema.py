"""initial schema

Revision ID: 0001
Revises: 
"""
from alembic import op
import geoalchemy2
import sqlalchemy as sa
from geoalchemy2 import Geometry

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('kind',
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('short_label', sa.String(length=80), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('age_band', sa.String(length=8), nullable=False),
    sa.Column('sort_order', sa.Integer(), nullable=False),
    sa.Column('radius_m', sa.Integer(), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('if_none', sa.Text(), nullable=False),
    sa.Column('feminine', sa.Boolean(), nullable=False),
    sa.Column('is_housing', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_kind'))
    )
    op.create_table('landlord',
    sa.Column('code', sa.String(length=60), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('siren', sa.String(length=9), nullable=True),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_landlord'))
    )
    op.create_table('meta',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_meta'))
    )
    op.create_geospatial_table('territory',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('parent_code', sa.String(length=16), nullable=True),
    sa.Column('departement', sa.String(length=3), nullable=True),
    sa.Column('region', sa.String(length=2), nullable=True),
    sa.Column('epci', sa.String(length=9), nullable=True),
    sa.Column('population', sa.Integer(), nullable=True),
    sa.Column('population_source', sa.String(length=200), nullable=True),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_territory')),
    sa.UniqueConstraint('level', 'code', name='uq_territory_level_code')
    )
    op.create_geospatial_index('idx_territory_geom', 'territory', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_territory_departement'), 'territory', ['departement'], unique=False)
    op.create_index(op.f('ix_territory_epci'), 'territory', ['epci'], unique=False)
    op.create_index(op.f('ix_territory_level'), 'territory', ['level'], unique=False)
    op.create_index(op.f('ix_territory_parent_code'), 'territory', ['parent_code'], unique=False)
    op.create_index(op.f('ix_territory_region'), 'territory', ['region'], unique=False)
    op.create_table('territory_group',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_territory_group')),
    sa.UniqueConstraint('level', 'code', name='uq_territory_group_level_code')
    )
    op.create_table('partner',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ref', sa.String(length=120), nullable=False),
    sa.Column('kind_code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('how_to_refer', sa.Text(), nullable=False),
    sa.Column('website', sa.String(length=500), nullable=True),
    sa.Column('age_band', sa.String(length=8), nullable=False),
    sa.Column('housing_types', sa.JSON(), nullable=False),
    sa.Column('eligibility', sa.Text(), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=True),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('finess', sa.String(length=9), nullable=True),
    sa.Column('siret', sa.String(length=14), nullable=True),
    sa.Column('data_inclusion_id', sa.String(length=120), nullable=True),
    sa.Column('source', sa.String(length=120), nullable=False),
    sa.Column('source_file', sa.String(length=300), nullable=True),
    sa.Column('source_row', sa.Integer(), nullable=True),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_verified_at', sa.Date(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['kind_code'], ['kind.code'], name=op.f('fk_partner_kind_code_kind')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner')),
    sa.UniqueConstraint('ref', name=op.f('uq_partner_ref'))
    )
    op.create_index(op.f('ix_partner_finess'), 'partner', ['finess'], unique=False)
    op.create_index(op.f('ix_partner_kind_code'), 'partner', ['kind_code'], unique=False)
    op.create_index(op.f('ix_partner_status'), 'partner', ['status'], unique=False)
    op.create_table('contact',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('phone', sa.String(length=40), nullable=True),
    sa.Column('email', sa.String(length=200), nullable=True),
    sa.Column('url', sa.String(length=500), nullable=True),
    sa.Column('hours', sa.Text(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['partner_id'], ['partner.id'], name=op.f('fk_contact_partner_id_partner'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact'))
    )
    op.create_index(op.f('ix_contact_partner_id'), 'contact', ['partner_id'], unique=False)
    op.create_geospatial_table('coverage_area',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.Column('area_km2', sa.Float(), nullable=True),
    sa.Column('compiled_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('problems', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partner.id'], name=op.f('fk_coverage_area_partner_id_partner'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coverage_area')),
    sa.UniqueConstraint('partner_id', name=op.f('uq_coverage_area_partner_id'))
    )
    op.create_geospatial_index('idx_coverage_area_geom', 'coverage_area', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_geospatial_table('coverage_part',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('mode', sa.String(length=8), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=True),
    sa.Column('label', sa.String(length=300), nullable=True),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.ForeignKeyConstraint(['partner_id'], ['partner.id'], name=op.f('fk_coverage_part_partner_id_partner'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coverage_part'))
    )
    op.create_index(op.f('ix_coverage_part_code'), 'coverage_part', ['code'], unique=False)
    op.create_index(op.f('ix_coverage_part_partner_id'), 'coverage_part', ['partner_id'], unique=False)
    op.create_table('partner_landlord',
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('landlord_code', sa.String(length=60), nullable=False),
    sa.ForeignKeyConstraint(['landlord_code'], ['landlord.code'], name=op.f('fk_partner_landlord_landlord_code_landlord')),
    sa.ForeignKeyConstraint(['partner_id'], ['partner.id'], name=op.f('fk_partner_landlord_partner_id_partner'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('partner_id', 'landlord_code', name=op.f('pk_partner_landlord'))
    )
    op.create_geospatial_table('site',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('role', sa.String(length=40), nullable=False),
    sa.Column('address', sa.String(length=300), nullable=False),
    sa.Column('postcode', sa.String(length=5), nullable=True),
    sa.Column('city', sa.String(length=200), nullable=True),
    sa.Column('code_insee', sa.String(length=5), nullable=True),
    sa.Column('phone', sa.String(length=40), nullable=True),
    sa.Column('email', sa.String(length=200), nullable=True),
    sa.Column('opening_hours', sa.Text(), nullable=True),
    sa.Column('accessibility', sa.Text(), nullable=True),
    sa.Column('finess', sa.String(length=9), nullable=True),
    sa.Column('capacity', sa.Integer(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.ForeignKeyConstraint(['partner_id'], ['partner.id'], name=op.f('fk_site_partner_id_partner'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_site'))
    )
    op.create_geospatial_index('idx_site_geom', 'site', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_site_finess'), 'site', ['finess'], unique=False)
    op.create_index(op.f('ix_site_partner_id'), 'site', ['partner_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_site_partner_id'), table_name='site')
    op.drop_index(op.f('ix_site_finess'), table_name='site')
    op.drop_geospatial_index('idx_site_geom', table_name='site', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('site')
    op.drop_table('partner_landlord')
    op.drop_index(op.f('ix_coverage_part_partner_id'), table_name='coverage_part')
    op.drop_index(op.f('ix_coverage_part_code'), table_name='coverage_part')
    op.drop_geospatial_table('coverage_part')
    op.drop_geospatial_index('idx_coverage_area_geom', table_name='coverage_area', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('coverage_area')
    op.drop_index(op.f('ix_contact_partner_id'), table_name='contact')
    op.drop_table('contact')
    op.drop_index(op.f('ix_partner_status'), table_name='partner')
    op.drop_index(op.f('ix_partner_kind_code'), table_name='partner')
    op.drop_index(op.f('ix_partner_finess'), table_name='partner')
    op.drop_table('partner')
    op.drop_table('territory_group')
    op.drop_index(op.f('ix_territory_region'), table_name='territory')
    op.drop_index(op.f('ix_territory_parent_code'), table_name='territory')
    op.drop_index(op.f('ix_territory_level'), table_name='territory')
    op.drop_index(op.f('ix_territory_epci'), table_name='territory')
    op.drop_index(op.f('ix_territory_departement'), table_name='territory')
    op.drop_geospatial_index('idx_territory_geom', table_name='territory', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('territory')
    op.drop_table('meta')
    op.drop_table('landlord')
    op.drop_table('kind')
