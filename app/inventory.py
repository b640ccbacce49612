"""Inventory status: which territories were surveyed for which kinds (see app/gaps.py)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import territories
from app.errors import InvalidInput
from app.models import INVENTORY_STATUSES, Inventory, Kind, _now

STATUS_LABELS = {"inventorie": "inventorié", "non_inventorie": "non inventorié", "inconnu": "inventaire inconnu"}


def set_status(session: Session, code: str, kind_codes: list[str], status: str, *, source: str = "manuel",
               note: str | None = None) -> int:
    """Record (or change) the inventory status of a territory for kinds; returns how many changed."""
    if status not in INVENTORY_STATUSES:
        raise InvalidInput(f"État « {status} » inconnu ({', '.join(INVENTORY_STATUSES)}).", field="status")
    typed = territories.parse_code(code, field="territory")
    if str(typed) not in territories.existing(session, [typed]):
        raise InvalidInput(f"Territoire {typed} absent du référentiel chargé.{territories.absent_hint(session, typed)}",
                           field="territory")
    known = set(session.scalars(select(Kind.code)))
    unknown = [k for k in kind_codes if k not in known]
    if unknown or not kind_codes:
        raise InvalidInput(f"Type(s) inconnu(s) : {', '.join(unknown) or '(aucun)'}.", field="kinds")
    changed = 0
    current = {r.kind_code: r for r in session.scalars(select(Inventory).where(
        Inventory.code == str(typed), Inventory.kind_code.in_(kind_codes)))}
    for kind in kind_codes:
        row = current.get(kind)
        if row is None:
            session.add(Inventory(code=str(typed), kind_code=kind, status=status, source=source, note=note,
                                  updated_at=_now()))
            changed += 1
        elif (row.status, row.source, row.note) != (status, source, note):
            row.status, row.source, row.note, row.updated_at = status, source, note, _now()
            changed += 1
    session.flush()
    return changed


def listing(session: Session) -> list[Inventory]:
    return list(session.scalars(select(Inventory).order_by(Inventory.code, Inventory.kind_code)))
