"""Who funds the partners a gap analysis counts, and when their funding ends: the partners of the
analysed kinds in service at the date, covering a unit of the territory (territorial kinds) or
sited in one (proximity kinds), that name a funder or an end of funding — ends soonest first, those
ending within a year flagged."""

from __future__ import annotations

import datetime as dt

import shapely
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Partner, Site
from app.vocabulary import FUNDER_LABELS

SOON_DAYS = 365


def rows(session: Session, units, kinds, as_of: dt.date) -> list[dict]:
    from app.partners.availability import availability

    codes = [k.code for k in kinds]
    if not codes or not units:
        return []
    named = {name for k in kinds if k.mode == "territorial" for per_unit in k.partners for name in per_unit}
    for k in kinds:
        for shares in k.shares:
            named.update(name for name, _share in getattr(shares, "partners", []) or [])
    tree = shapely.STRtree([u.shape for u in units])
    proximity = {k.code for k in kinds if k.mode != "territorial"}
    out = []
    query = select(Partner).where(Partner.kind_code.in_(codes)).order_by(Partner.name, Partner.id)
    for partner in session.scalars(query):
        if not (partner.funders or partner.funding_end) or availability(partner, as_of) != "active":
            continue
        if partner.kind_code in proximity:
            points = session.execute(select(func.ST_X(Site.geom), func.ST_Y(Site.geom)).where(
                Site.partner_id == partner.id, Site.geom.is_not(None))).all()
            inside = any(len(tree.query(shapely.Point(x, y), predicate="intersects")) for x, y in points)
        else:
            inside = partner.name in named
        if not inside:
            continue
        days = (partner.funding_end - as_of).days if partner.funding_end else None
        out.append({"partenaire": partner.name, "type": partner.kind.short_label,
                    "financeurs": ", ".join(FUNDER_LABELS.get(f, f) for f in partner.funders or []),
                    "fin_financement": partner.funding_end.isoformat() if partner.funding_end else "",
                    "fin_dans_l_annee": days is not None and days <= SOON_DAYS})
    return sorted(out, key=lambda r: (r["fin_financement"] or "9999", r["partenaire"]))
