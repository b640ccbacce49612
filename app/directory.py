"""The partner directory: filtered, paginated listings (used by the API and the web pages)."""

from __future__ import annotations

from dataclasses import dataclass

import shapely
from shapely import wkb
from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import Session

from app import kinds, spatial, territories
from app.errors import InvalidInput, reject_nul
from app.models import STATUSES, Kind, Partner
from app.territories import TypedCode


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
    backend = spatial.backend_for(session)
    minx, miny, maxx, maxy = shape.bounds
    box = {"minx": minx, "miny": miny, "maxx": maxx, "maxy": maxy}
    ids = set()
    for pid, geom in session.execute(
        text("SELECT ca.partner_id, ST_AsBinary(ca.geom) FROM coverage_area ca WHERE ca.geom IS NOT NULL "
             f"AND {backend.box_filter('coverage_area', 'ca')}"), box
    ):
        if shape.relate_pattern(wkb.loads(bytes(geom)), "T********"):
            ids.add(pid)
    for pid, x, y in session.execute(
        text("SELECT s.partner_id, ST_X(s.geom), ST_Y(s.geom) FROM site s JOIN partner p ON p.id = s.partner_id "
             f"JOIN kind k ON k.code = p.kind_code WHERE k.mode = 'proximity' AND {backend.box_filter('site', 's')}"),
        box,
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
