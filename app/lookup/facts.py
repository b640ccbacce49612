"""The lookup's read model: kinds and partners as an answer needs them, and the candidates found
at a point. Partner facts are read with plain column queries, cached with the reference data
(app/lookup/cache.py)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import shapely
from shapely import wkb
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from app import dialects
from app.models import Contact, CoveragePart, Partner, PartnerLandlord, Site
from app.partners import cards
from app.partners.cards import CONTACT_FIELDS, SITE_FIELDS
from app.territories import UnitAtPoint


@dataclass(frozen=True)
class KindInfo:
    code: str
    label: str
    short_label: str
    mode: str
    age_band: str
    radius_m: int | None
    if_none: str
    feminine: bool
    is_housing: bool

    def __hash__(self) -> int:  # a cache key on every lookup: the code is enough (equality checks all)
        return hash(self.code)


@dataclass
class PartnerFacts:
    id: int
    ref: str
    kind: str
    name: str
    status: str
    valid_from: dt.date | None
    valid_to: dt.date | None
    age_band: str
    housing_types: list
    landlords: list
    includes: list  # [(code|None, label, part_id)] in the partner's order
    card: dict  # what the answer shows about the partner
    sites: list = field(default_factory=list)  # [(lon, lat, site_dict)]
    polygons: list = field(default_factory=list)  # [(part_id, label, prepared shapely geometry)]
    include_index: dict = field(default_factory=dict)  # typed code -> position among includes

    def __post_init__(self):
        self.include_index = {}
        for position, (code, _label, _part_id) in enumerate(self.includes):
            if code is not None:
                self.include_index.setdefault(code, position)


@dataclass
class Candidates:
    units: list[UnitAtPoint]
    covering: set[int]  # partner ids whose coverage contains the point
    nearby: list[tuple[int, float]]  # (partner_id, distance in metres) of proximity sites in range


def _rows_by_partner(session: Session, chunks: list[list[int]], columns, order, *where) -> dict[int, list]:
    """Rows of a partner's child table (first column: partner_id), grouped by partner, in order."""
    grouped: dict[int, list] = {}
    for chunk in chunks:
        for row in session.execute(select(*columns).where(columns[0].in_(chunk), *where).order_by(*order)):
            grouped.setdefault(row[0], []).append(row)
    return grouped


def query_partners(session: Session, ids: set[int], landlord_names: dict[str, str]) -> dict[int, PartnerFacts]:
    """Partner facts read with plain column queries, one per table (not ORM objects: a lookup
    meeting 20 partners not yet cached took 13 ms through the ORM, ~3 ms this way)."""
    if not ids:
        return {}
    ordered = sorted(ids)
    chunks = list(dialects.chunked(ordered))
    sites = _rows_by_partner(session, chunks, (
        Site.partner_id, *(getattr(Site, f) for f in SITE_FIELDS), func.ST_X(Site.geom), func.ST_Y(Site.geom),
    ), (Site.partner_id, Site.position, Site.id))
    contacts = _rows_by_partner(session, chunks, (Contact.partner_id, *(getattr(Contact, f) for f in CONTACT_FIELDS)),
                                (Contact.partner_id, Contact.position, Contact.id))
    landlord_rows = _rows_by_partner(session, chunks, (PartnerLandlord.partner_id, PartnerLandlord.landlord_code),
                                     (PartnerLandlord.partner_id, PartnerLandlord.landlord_code))
    parts = _included_parts(session, chunks)
    out: dict[int, PartnerFacts] = {}
    columns = (Partner.id, Partner.ref, Partner.name, Partner.kind_code, Partner.description, Partner.how_to_refer,
               Partner.website, Partner.age_band, Partner.housing_types, Partner.eligibility, Partner.capacity,
               Partner.status, Partner.valid_from, Partner.valid_to, Partner.finess, Partner.siret, Partner.source,
               Partner.last_verified_at, Partner.referral, Partner.funders, Partner.funding_end)
    for chunk in chunks:
        for p in session.execute(select(*columns).where(Partner.id.in_(chunk))):
            pid = p.id
            site_dicts = [cards.site_card(dict(zip(SITE_FIELDS, row[1:-2])), row[-2], row[-1])
                          for row in sites.get(pid, ())]
            landlords = [row[1] for row in landlord_rows.get(pid, ())]
            card = cards.card(p, sites=site_dicts,
                              contacts=[dict(zip(CONTACT_FIELDS, row[1:])) for row in contacts.get(pid, ())],
                              reserved=cards.reserved_to(landlords, landlord_names))
            includes, polygons = parts.get(pid, ([], []))
            out[pid] = PartnerFacts(
                id=pid, ref=p.ref, kind=p.kind_code, name=p.name, status=p.status, valid_from=p.valid_from,
                valid_to=p.valid_to, age_band=p.age_band, housing_types=list(card["housing_types"]),
                landlords=landlords, includes=includes, card=card,
                sites=[(site["lon"], site["lat"], site) for site in site_dicts if site["lon"] is not None],
                polygons=polygons,
            )
    return out


def _included_parts(session: Session, chunks: list[list[int]]) -> dict[int, tuple[list, list]]:
    """Per partner: its included parts [(code | None, label, part_id)] in its own order, and its custom
    polygons [(part_id, label, prepared shape)], prepared because they are tested many times."""
    out: dict[int, tuple[list, list]] = {}
    rows = _rows_by_partner(session, chunks, (
        CoveragePart.partner_id, CoveragePart.code, CoveragePart.label, CoveragePart.id,
        case((CoveragePart.code.is_(None), CoveragePart.geom.ST_AsBinary())),
    ), (CoveragePart.partner_id, CoveragePart.position, CoveragePart.id), CoveragePart.mode == "include")
    for partner_id, partner_rows in rows.items():
        includes, polygons = out.setdefault(partner_id, ([], []))
        for _, code, label, part_id, geom in partner_rows:
            includes.append((code, label, part_id))
            if code is None and geom is not None:
                shape = wkb.loads(bytes(geom))
                shapely.prepare(shape)
                polygons.append((part_id, label, shape))
    return out
