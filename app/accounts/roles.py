"""Who may do what: an administrator everything; a territory administrator what touches their
territories (a partner whose coverage or sites meet one of them, a proposal whose current or proposed
area does: app.editing.may_decide); a referent their own partners. Every write route asks one of
these functions."""

from __future__ import annotations

from geoalchemy2.shape import to_shape
from shapely.geometry import MultiPoint
from sqlalchemy.orm import Session

from app import territories
from app.errors import MaillageError
from app.models import Account, Partner


def is_admin(account: Account | None) -> bool:
    return account is not None and account.active and account.role == "admin"


def partner_shape(partner: Partner):
    """The partner's coverage area, or its sites for a proximity kind (None without either)."""
    if partner.area is not None and partner.area.geom is not None:
        return to_shape(partner.area.geom)
    points = [to_shape(s.geom) for s in partner.sites if s.geom is not None]
    return MultiPoint(points) if points else None


def territories_met(session: Session, shapes, codes, cache: dict | None = None) -> list[str]:
    """The typed codes among `codes` whose shape meets one of `shapes`."""
    cache = {} if cache is None else cache
    met = []
    for code in codes:
        try:
            geom = territories.geometry(session, territories.parse_code(code), cache)
        except MaillageError:
            continue
        if any(s is not None and geom.intersects(s) for s in shapes):
            met.append(code)
    return met


def administers_partner(session: Session, account: Account | None, partner: Partner,
                        cache: dict | None = None) -> bool:
    """An administrator, or a territory administrator one of whose territories the partner meets."""
    if account is None or not account.active:
        return False
    if account.role == "admin":
        return True
    if account.role != "territoire":
        return False
    return bool(territories_met(session, [partner_shape(partner)], account.territories or [], cache))


def may_edit(session: Session, account: Account | None, partner: Partner) -> bool:
    """Edit the partner's sheet (a referent's changes to coverage, kind, status or dates become proposals)."""
    if account is None or not account.active:
        return False
    if account.role == "referent":
        return partner.id in (account.partners or [])
    return administers_partner(session, account, partner)


def administers_territory(session: Session, account: Account | None, code: str, cache: dict | None = None) -> bool:
    """An administrator, or a territory administrator one of whose territories holds this one (its
    inventory status is theirs to set): Bondy or Est Ensemble for departement:93, not Paris. "Holds":
    all but 1 % of its area, contours of different sources (IRIS, communes) never matching exactly."""
    if account is None or not account.active:
        return False
    if account.role == "admin":
        return True
    if account.role != "territoire" or not account.territories:
        return False
    if code in account.territories:
        return True
    cache = {} if cache is None else cache
    try:
        target = territories.geometry(session, territories.parse_code(code), cache)
    except MaillageError:
        return False
    for own in account.territories:
        try:
            mine = territories.geometry(session, territories.parse_code(own), cache)
        except MaillageError:
            continue
        if target.difference(mine).area <= 0.01 * target.area:
            return True
    return False
