"""The partner directory: filtered, paginated listings (used by the API and the web pages)."""

from __future__ import annotations

from dataclasses import dataclass

import shapely
from shapely import wkb
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app import dialects, kinds, territories
from app.errors import InvalidInput, reject_nul
from app.matching import MATCHED_ON_LABELS
from app.models import CoverageArea, Kind, Partner, Site
from app.territories import TypedCode
from app.vocabulary import STATUS_LABELS, STATUSES


@dataclass
class Page:
    items: list[Partner]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def partners_in_territory(session: Session, typed: TypedCode) -> list[int]:
    """Territorial partners whose coverage overlaps the territory's interior (a shared border is
    not enough), and proximity partners with a site inside it."""
    shape = territories.geometry(session, typed)
    shapely.prepare(shape)
    box = shape.bounds
    ids = set()
    for pid, geom in session.execute(
        select(CoverageArea.partner_id, func.ST_AsBinary(CoverageArea.geom))
        .where(CoverageArea.geom.is_not(None), dialects.box_meets(CoverageArea.geom, *box))
    ):
        if shape.relate_pattern(wkb.loads(bytes(geom)), "T********"):
            ids.add(pid)
    for pid, x, y in session.execute(
        kinds.proximity_sites(Site.partner_id, func.ST_X(Site.geom), func.ST_Y(Site.geom))
        .where(dialects.box_meets(Site.geom, *box))
    ):
        if shapely.contains_xy(shape, x, y):
            ids.add(pid)
    return sorted(ids)


def search(session: Session, *, kind: str | None = None, status: str | None = None, q: str | None = None,
           territory: str | None = None, page: int = 1, per_page: int = 50) -> Page:
    reject_nul({"kind": kind, "status": status, "q": q, "territory": territory})
    query = select(Partner).join(Kind)
    if kind:
        kinds.get_kind(session, kind)
        query = query.where(Partner.kind_code == kind)
    if status:
        if status not in STATUSES:
            raise InvalidInput(f"Statut « {status} » inconnu ({', '.join(STATUSES)}).", code="invalid-status",
                               field="status")
        query = query.where(Partner.status == status)
    q = (q or "").strip()
    if q:
        if len(q) > 200:
            raise InvalidInput("Recherche trop longue (200 caractères au plus).", field="q")
        like = f"%{q.lower()}%"
        query = query.where(or_(func.lower(Partner.name).like(like), func.lower(Partner.description).like(like),
                                Partner.ref == q, Partner.finess == q))
    if territory:
        ids = partners_in_territory(session, territories.parse_code(territory, field="territory"))
        query = query.where(Partner.id.in_(ids or [-1]))
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    items = session.scalars(
        query.order_by(Kind.sort_order, Partner.name, Partner.id).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return Page(list(items), total, page, per_page)


def partner_summary(p: Partner) -> dict:
    return {"id": p.id, "ref": p.ref, "name": p.name, "kind": p.kind_code, "kind_label": p.kind.label,
            "status": p.status, "status_label": STATUS_LABELS[p.status],
            "valid_from": p.valid_from.isoformat() if p.valid_from else None,
            "valid_to": p.valid_to.isoformat() if p.valid_to else None,
            "reserved_to": p.reserved_landlords}


def partner_detail(session: Session, partner_id: int, *, tolerance: float | None = None) -> dict:
    """Everything about one partner (API and partner page): contacts, sites, coverage parts with
    names, compiled coverage as a GeoJSON feature (simplified when asked), provenance."""
    from geoalchemy2.shape import to_shape
    from shapely.geometry import mapping
    from app.errors import NotFound
    from app.models import Landlord
    from app.registry import STORED_OPTIONS

    p = session.scalar(select(Partner).where(Partner.id == partner_id).options(*STORED_OPTIONS))
    if p is None:
        raise NotFound(f"Aucun partenaire n° {partner_id}.")
    coverage = None
    if p.area is not None and p.area.geom is not None:
        geom = to_shape(p.area.geom)
        if tolerance:
            geom = geom.simplify(tolerance, preserve_topology=True)
        coverage = {
            "type": "Feature",
            "geometry": mapping(geom),
            "properties": {"partner_id": p.id, "area_km2": p.area.area_km2,
                           "compiled_at": p.area.compiled_at.isoformat(), "problems": p.area.problems},
        }
    parts = []
    for part in p.parts:
        entry = {"mode": part.mode, "code": part.code, "label": part.label}
        if part.code is None and part.geom is not None:
            entry["geometry"] = mapping(to_shape(part.geom))
        parts.append(entry)
    names = territories.unit_names(session, [pt["code"] for pt in parts if pt["code"]])
    for entry in parts:
        if entry["code"]:
            entry["name"] = names.get(entry["code"], entry["code"])
    sites = []
    for s in p.sites:
        point = to_shape(s.geom) if s.geom is not None else None
        sites.append({
            "name": s.name, "role": s.role, "address": s.address, "postcode": s.postcode, "city": s.city,
            "code_insee": s.code_insee, "phone": s.phone, "email": s.email, "opening_hours": s.opening_hours,
            "accessibility": s.accessibility, "finess": s.finess, "capacity": s.capacity,
            "lon": round(point.x, 6) if point else None, "lat": round(point.y, 6) if point else None,
        })
    landlord_names = dict(session.execute(select(Landlord.code, Landlord.name)).all())
    return {
        **partner_summary(p),
        "description": p.description, "how_to_refer": p.how_to_refer, "website": p.website,
        "age_band": p.age_band, "housing_types": p.housing_types, "eligibility": p.eligibility,
        "capacity": p.capacity, "finess": p.finess, "siret": p.siret, "data_inclusion_id": p.data_inclusion_id,
        "reserved_to": [{"code": c, "name": landlord_names.get(c, c)} for c in p.reserved_landlords],
        "contacts": [{k: getattr(c, k) for k in ("label", "phone", "email", "url", "hours", "notes")} for c in p.contacts],
        "sites": sites,
        "coverage_parts": parts,
        "coverage": coverage,
        "provenance": {"source": p.source, "file": p.source_file, "row": p.source_row,
                       "imported_at": p.imported_at.isoformat() if p.imported_at else None,
                       "last_verified_at": p.last_verified_at.isoformat() if p.last_verified_at else None,
                       # other sources' records of this structure, merged here (app/matching.py)
                       "also_from": [{"ref": a.ref, "source": a.source, "file": a.source_file, "row": a.source_row,
                                      "matched_on": MATCHED_ON_LABELS.get(a.matched_on, a.matched_on)}
                                     for a in p.aliases]},
    }
