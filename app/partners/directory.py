"""The partner directory: filtered, paginated listings (used by the API and the web pages)."""

from __future__ import annotations

from dataclasses import dataclass

import shapely
from shapely import wkb
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app import dialects, territories
from app.errors import InvalidInput, reject_nul
from app.models import CoverageArea, Kind, Partner, Site
from app.partners import cards, kinds
from app.partners.matching import MATCHED_ON_LABELS
from app.territories import TypedCode
from app.vocabulary import STATUSES


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
           territory: str | None = None, page: int = 1, per_page: int = 50, stale: bool = False) -> Page:
    """`stale`: only the partners to verify (never verified, or not within their kind's threshold)."""
    reject_nul({"kind": kind, "status": status, "q": q, "territory": territory})
    query = select(Partner).join(Kind)
    if stale:
        import datetime as dt

        from app.editing import freshness

        query = query.where(freshness.stale_clause(dt.date.today(), [k.code for k in kinds.all_kinds(session)]))
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


MAX_ID = 2**31 - 1


def partner_detail(session: Session, partner_id: int, *, tolerance: float | None = None) -> dict:
    """Everything about one partner (API and partner page, app.partners.cards.detail), with its
    compiled coverage as a GeoJSON feature (simplified when asked) and its parts' names."""
    from geoalchemy2.shape import to_shape
    from shapely.geometry import mapping
    from app.errors import NotFound
    from app.models import Landlord
    from app.partners.registry import STORED_OPTIONS

    # Ids are 32-bit on PostgreSQL (and SQLite's 64): an id beyond is no partner, not a query error.
    p = (session.scalar(select(Partner).where(Partner.id == partner_id).options(*STORED_OPTIONS))
         if 0 < partner_id <= MAX_ID else None)
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
    landlord_names = dict(session.execute(select(Landlord.code, Landlord.name)).all())
    also_from = [{"ref": a.ref, "source": a.source, "file": a.source_file, "row": a.source_row,
                  "matched_on": MATCHED_ON_LABELS.get(a.matched_on, a.matched_on)} for a in p.aliases]
    return cards.detail(p, parts=parts, coverage=coverage, landlord_names=landlord_names, also_from=also_from)
