"""The data model (SQLAlchemy 2, GeoAlchemy2). Same tables on SpatiaLite and PostGIS.

Controlled values (levels, statuses, age bands…) and their labels are in app/vocabulary.py.
Geometries are WGS84 (EPSG:4326). Stored geometries are always MULTIPOLYGON or POINT: SpatiaLite
enforces the declared type, so callers convert with `app.geometry.as_multipolygon` first.
"""

from __future__ import annotations

import datetime as dt

from geoalchemy2 import Geometry
from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names so Alembic migrations are identical on both backends.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


class Meta(Base):
    """Key/value facts about the database itself (e.g. dataset=demo)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Territory(Base):
    """A reference unit: commune, arrondissement municipal or IRIS, with its contour.

    Départements, régions, EPCI and EPT are not stored as shapes: they resolve to the union of their
    communes (level 'commune' only: Paris 75056 and its arrondissements overlap).
    """

    __tablename__ = "territory"
    __table_args__ = (UniqueConstraint("level", "code", name="uq_territory_level_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    level: Mapped[str] = mapped_column(String(16), index=True)
    code: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    # For an arrondissement: its commune (75056); for an IRIS: its commune or arrondissement.
    parent_code: Mapped[str | None] = mapped_column(String(16), index=True)
    departement: Mapped[str | None] = mapped_column(String(3), index=True)
    region: Mapped[str | None] = mapped_column(String(2), index=True)
    epci: Mapped[str | None] = mapped_column(String(9), index=True)
    # Établissement public territorial (Grand Paris only): SIREN, like an EPCI's.
    ept: Mapped[str | None] = mapped_column(String(9), index=True)
    population: Mapped[int | None] = mapped_column(Integer)
    population_source: Mapped[str | None] = mapped_column(String(200))
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=False)
    source: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    # Postal codes ("93140", "75013|75634"), for the geocoder's commune fallback.
    postcodes: Mapped[str | None] = mapped_column(Text)

    @property
    def typed_code(self) -> str:
        return f"{self.level}:{self.code}"


class TerritoryGroup(Base):
    """Names of départements, régions, EPCI and EPT (their shapes are unions of communes)."""

    __tablename__ = "territory_group"
    __table_args__ = (UniqueConstraint("level", "code", name="uq_territory_group_level_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    level: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))


class Kind(Base):
    """A partner kind, loaded from geodata/kinds.csv (kinds are data, not code)."""

    __tablename__ = "kind"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    short_label: Mapped[str] = mapped_column(String(80))
    # 'territorial': has a coverage area; 'proximity': found by distance to its sites.
    mode: Mapped[str] = mapped_column(String(16))
    age_band: Mapped[str] = mapped_column(String(8), default="tous")
    sort_order: Mapped[int] = mapped_column(Integer, default=100)
    radius_m: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text, default="")
    # What front-line staff should do when no partner of this kind covers the address.
    if_none: Mapped[str] = mapped_column(Text, default="")
    # Grammatical gender for "aucun / aucune … ne couvre cette adresse".
    feminine: Mapped[bool] = mapped_column(Boolean, default=False)
    is_housing: Mapped[bool] = mapped_column(Boolean, default=False)


class Landlord(Base):
    """A social landlord (bailleur social) a service can be reserved to."""

    __tablename__ = "landlord"

    code: Mapped[str] = mapped_column(String(60), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    siren: Mapped[str | None] = mapped_column(String(9))


class PartnerLandlord(Base):
    __tablename__ = "partner_landlord"

    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partner.id", ondelete="CASCADE"), primary_key=True
    )
    landlord_code: Mapped[str] = mapped_column(ForeignKey("landlord.code"), primary_key=True)


class Partner(Base):
    __tablename__ = "partner"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Natural key used by imports for idempotent upserts (e.g. "demo:clsm-bondy", "finess:930…").
    ref: Mapped[str] = mapped_column(String(120), unique=True)
    kind_code: Mapped[str] = mapped_column(ForeignKey("kind.code"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    # "Comment saisir": how to refer a tenant (who may refer, what to send, delays).
    how_to_refer: Mapped[str] = mapped_column(Text, default="")
    website: Mapped[str | None] = mapped_column(String(500))
    # Public served
    age_band: Mapped[str] = mapped_column(String(8), default="tous")
    housing_types: Mapped[list] = mapped_column(JSON, default=list)
    eligibility: Mapped[str] = mapped_column(Text, default="")
    capacity: Mapped[int | None] = mapped_column(Integer)
    # Life cycle
    status: Mapped[str] = mapped_column(String(12), default="active", index=True)
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    # External identifiers
    finess: Mapped[str | None] = mapped_column(String(9), index=True)
    siret: Mapped[str | None] = mapped_column(String(14))
    data_inclusion_id: Mapped[str | None] = mapped_column(String(120))
    # Structured referral (app/partners/referral.py): referrers, channels, form and fiche de liaison
    # links, documents, consent, usual delay; funders and the end of the funding.
    referral: Mapped[dict | None] = mapped_column(JSON)
    funders: Mapped[list | None] = mapped_column(JSON)
    funding_end: Mapped[dt.date | None] = mapped_column(Date)
    # Provenance
    source: Mapped[str] = mapped_column(String(120), default="manuel")
    source_file: Mapped[str | None] = mapped_column(String(300))
    source_row: Mapped[int | None] = mapped_column(Integer)
    imported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    last_verified_at: Mapped[dt.date | None] = mapped_column(Date)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=_now, server_default=func.current_timestamp()
    )
    # Hash of the normalised input the record was last written from: an identical re-import
    # is detected and changes nothing (not even updated_at).
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    # Hash of the source row (e.g. a FINESS line) the record was last built from, for importers
    # that merge a source into partners people also edit: an unchanged row is skipped outright.
    source_hash: Mapped[str | None] = mapped_column(String(64))

    kind: Mapped[Kind] = relationship(lazy="joined")
    sites: Mapped[list[Site]] = relationship(
        back_populates="partner", cascade="all, delete-orphan", order_by="Site.position"
    )
    contacts: Mapped[list[Contact]] = relationship(
        back_populates="partner", cascade="all, delete-orphan", order_by="Contact.position"
    )
    parts: Mapped[list[CoveragePart]] = relationship(
        back_populates="partner", cascade="all, delete-orphan", order_by="CoveragePart.position"
    )
    area: Mapped[CoverageArea | None] = relationship(
        back_populates="partner", cascade="all, delete-orphan", uselist=False
    )
    landlord_links: Mapped[list[PartnerLandlord]] = relationship(
        cascade="all, delete-orphan", order_by="PartnerLandlord.landlord_code"
    )
    aliases: Mapped[list[PartnerAlias]] = relationship(
        back_populates="partner", cascade="all, delete-orphan", order_by="PartnerAlias.ref"
    )

    @property
    def reserved_landlords(self) -> list[str]:
        return [link.landlord_code for link in self.landlord_links]


class Site(Base):
    """A place where the partner receives people (a sector's CMP, a residence, an office)."""

    __tablename__ = "site"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(300))
    # 'principal', 'cmp', 'cattp', 'antenne', 'residence', … (free vocabulary, see docs)
    role: Mapped[str] = mapped_column(String(40), default="principal")
    address: Mapped[str] = mapped_column(String(300), default="")
    postcode: Mapped[str | None] = mapped_column(String(5))
    city: Mapped[str | None] = mapped_column(String(200))
    code_insee: Mapped[str | None] = mapped_column(String(5))
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(200))
    opening_hours: Mapped[str | None] = mapped_column(Text)
    accessibility: Mapped[str | None] = mapped_column(Text)
    finess: Mapped[str | None] = mapped_column(String(9), index=True)
    capacity: Mapped[int | None] = mapped_column(Integer)
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=True), nullable=True)

    partner: Mapped[Partner] = relationship(back_populates="sites")


class Contact(Base):
    """A functional contact (a role, a desk, a shared mailbox): never a private person."""

    __tablename__ = "contact"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    label: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(String(500))
    hours: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)

    partner: Mapped[Partner] = relationship(back_populates="contacts")


class PartnerAlias(Base):
    """Another source's record of the same structure, merged into this partner instead of making a
    second card (app/partners/matching.py): the record's ref (`data-inclusion:…`, `finess:…`), where it was
    read and what matched it. A re-import of that record finds the partner by this ref."""

    __tablename__ = "partner_alias"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(120), unique=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(120))
    source_file: Mapped[str | None] = mapped_column(String(300))
    source_row: Mapped[int | None] = mapped_column(Integer)
    # finess | siret | data_inclusion_id | nom (a probable match a person confirmed)
    matched_on: Mapped[str] = mapped_column(String(20))
    imported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)

    partner: Mapped[Partner] = relationship(back_populates="aliases")


class CoveragePart(Base):
    """One typed part of a coverage area: a territory code or a custom polygon, in or out.

    The parts are the truth; `CoverageArea.geom` is derived from them by app.partners.coverage.
    """

    __tablename__ = "coverage_part"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    mode: Mapped[str] = mapped_column(String(8), default="include")
    # Typed territory code ("arrondissement:75113"), or None for a custom polygon.
    code: Mapped[str | None] = mapped_column(String(40), index=True)
    label: Mapped[str | None] = mapped_column(String(300))
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=True)

    partner: Mapped[Partner] = relationship(back_populates="parts")


class CoverageArea(Base):
    """The compiled coverage of a territorial partner: one spatially indexed MultiPolygon."""

    __tablename__ = "coverage_area"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partner.id", ondelete="CASCADE"), unique=True
    )
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=True)
    area_km2: Mapped[float | None] = mapped_column(Float)
    compiled_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    # Problems met while compiling (e.g. a code absent from the reference), for the report.
    problems: Mapped[list] = mapped_column(JSON, default=list)

    partner: Mapped[Partner] = relationship(back_populates="area")


class Address(Base):
    """A BAN address (Base Adresse Nationale), for the offline geocoder. Reference data: public
    addresses of buildings, never anyone's looked-up address."""

    __tablename__ = "address"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # BAN "id", e.g. 93010_i7xf1o_00001
    code_insee: Mapped[str] = mapped_column(String(5), index=True)
    numero: Mapped[int | None] = mapped_column(Integer)  # None for a lieu-dit (BAN numero 99999)
    rep: Mapped[str | None] = mapped_column(String(16))  # repetition index: bis, ter, a, b…
    nom_voie: Mapped[str] = mapped_column(String(200))
    code_postal: Mapped[str | None] = mapped_column(String(5))
    nom_commune: Mapped[str] = mapped_column(String(200))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=True), nullable=False)
    source: Mapped[str | None] = mapped_column(String(200))


class Inventory(Base):
    """Whether a territory has been surveyed for a kind: a 0 in a gap analysis means "no offer"
    only where the kind was inventoried (set by hand, or by an exhaustive source such as FINESS)."""

    __tablename__ = "inventory"
    __table_args__ = (UniqueConstraint("code", "kind_code", name="uq_inventory_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40))  # typed territory code: departement:93, epci:…, commune:…
    kind_code: Mapped[str] = mapped_column(ForeignKey("kind.code"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class UnmetDemand(Base):
    """How many lookups found no partner of a kind, per commune and ISO week (optional, see
    MAILLAGE_DEMAND_COUNTS). Counts only: no address, no point, no time of day."""

    __tablename__ = "unmet_demand"
    __table_args__ = (UniqueConstraint("code", "week", "kind_code", name="uq_unmet_demand_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40))  # typed unit code: commune:93010, arrondissement:75113
    week: Mapped[str] = mapped_column(String(8))  # ISO week, e.g. 2026-W48
    kind_code: Mapped[str] = mapped_column(ForeignKey("kind.code"), index=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


# --------------------------------------------------------------------------------------------- accounts, audit, moderation
# Staff accounts are personal data: the minimum (name, e-mail, role, scope). Roles and scopes are
# checked by app/accounts/roles.py; see README "Comptes et rôles".


class Account(Base):
    """A staff account: an administrator, a territory administrator (typed territory codes) or a
    structure's referent (partner ids). Deleting one keeps its audit rows under a pseudonym."""

    __tablename__ = "account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # 'admin' | 'territoire' | 'referent' (app/vocabulary.py ROLE_LABELS)
    role: Mapped[str] = mapped_column(String(16))
    # typed territory codes ("departement:93", "epci:200054781") for a territory administrator
    territories: Mapped[list] = mapped_column(JSON, default=list)
    # partner ids for a referent
    partners: Mapped[list] = mapped_column(JSON, default=list)
    password_hash: Mapped[str | None] = mapped_column(String(200))  # argon2id; None until the invitation is used
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # subject of a ProConnect (OpenID Connect) identity linked to the account
    oidc_subject: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # bumped on password change / deactivation: sessions issued before are refused
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)


class AccountToken(Base):
    """A single-use, expiring link sent by e-mail: an invitation or a password reset. Only the
    token's SHA-256 is stored."""

    __tablename__ = "account_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(12))  # 'invitation' | 'reset'
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class LoginAttempt(Base):
    """Failed logins per e-mail hash and per client, for throttling (no address kept in clear)."""

    __tablename__ = "login_attempt"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), index=True)  # sha256 of "email:…" or "ip:…"
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class AuditEntry(Base):
    """One write: who (an account — a pseudonym once deleted — or an import file and line), when,
    what (field-level diff, coverage parts included, and the record after, for reverts) and why."""

    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id", ondelete="SET NULL"), index=True)
    actor: Mapped[str] = mapped_column(String(300))  # "Camille Martin", "compte supprimé n° 4", "import partners-sheet x.csv, ligne 3"
    # edit | import | proposal | validation | rejection | revert | verification | report | account | inventory
    action: Mapped[str] = mapped_column(String(16), index=True)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner.id", ondelete="SET NULL"), index=True)
    partner_ref: Mapped[str | None] = mapped_column(String(120))
    target: Mapped[str | None] = mapped_column(String(200))  # what else it is about: "compte 4", "proposition 2"
    diff: Mapped[dict] = mapped_column(JSON, default=dict)  # field → [before, after]
    snapshot: Mapped[dict | None] = mapped_column(JSON)  # the partner's record after the write
    reason: Mapped[str] = mapped_column(Text, default="")


class Proposal(Base):
    """A referent's change to coverage, kind, status or dates, waiting for a territory administrator."""

    __tablename__ = "proposal"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id", ondelete="SET NULL"), index=True)
    author: Mapped[str] = mapped_column(String(300))
    record: Mapped[dict] = mapped_column(JSON)  # the whole record proposed
    diff: Mapped[dict] = mapped_column(JSON, default=dict)
    # typed territory codes the old or new coverage meets: who may decide
    territories: Mapped[list] = mapped_column(JSON, default=list)
    state: Mapped[str] = mapped_column(String(12), default="ouverte", index=True)  # ouverte | validée | rejetée
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    decided_by: Mapped[str | None] = mapped_column(String(300))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(Text, default="")


class ErrorReport(Base):
    """"Signaler une erreur": free text about a structure (never about a person), no reporter's
    address; routed to its referents and the administrators of the territories it covers."""

    __tablename__ = "error_report"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    territories: Mapped[list] = mapped_column(JSON, default=list)
    state: Mapped[str] = mapped_column(String(12), default="ouvert", index=True)  # ouvert | traité | rejeté
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    handled_by: Mapped[str | None] = mapped_column(String(300))
    handled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    answer: Mapped[str] = mapped_column(Text, default="")
