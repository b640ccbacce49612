"""Inventory status: which territories were surveyed for which kinds (see app/gaps/)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit, territories
from app.errors import InvalidInput
from app.french import agree
from app.models import Account, Inventory, Kind, _now
from app.partners.kinds import unknown_codes
from app.vocabulary import INVENTORY_LABELS, INVENTORY_STATUSES, INVENTORY_UNKNOWN


# sources of a status a person set (the web form, the command line): imports do not overwrite a newer one
PERSON_SOURCES = ("saisie web", "manuel")


def set_status(session: Session, code: str, kind_codes: list[str], status: str, *, source: str = "manuel",
               note: str | None = None, actor: Account | None = None, actor_label: str | None = None) -> int:
    """Record (or change) the inventory status of a territory for kinds; returns how many changed.
    A change is audited (who: the account, or `actor_label`, or the source; what: kind by kind; why: the note)."""
    if status not in INVENTORY_STATUSES:
        raise InvalidInput(f"État « {status} » inconnu ({', '.join(INVENTORY_STATUSES)}).", field="status")
    typed = territories.parse_code(code, field="territory")
    if str(typed) not in territories.existing(session, [typed]):
        raise InvalidInput(f"Territoire {typed} absent du référentiel chargé.{territories.absent_hint(session, typed)}",
                           field="territory")
    unknown = unknown_codes(session, kind_codes)
    if unknown or not kind_codes:
        if not unknown:
            raise InvalidInput("Aucun type de partenaire choisi.", field="kinds")
        raise InvalidInput(f"{agree(len(unknown), 'Type inconnu', 'Types inconnus')} : {', '.join(unknown)}.",
                           field="kinds")
    changes: dict[str, list] = {}
    current = {r.kind_code: r for r in session.scalars(select(Inventory).where(
        Inventory.code == str(typed), Inventory.kind_code.in_(kind_codes)))}
    labels = dict(session.execute(select(Kind.code, Kind.label).where(Kind.code.in_(kind_codes))).all())
    for kind in dict.fromkeys(kind_codes):
        row = current.get(kind)
        field = f"inventaire : {labels.get(kind, kind)}"
        if row is None:
            session.add(Inventory(code=str(typed), kind_code=kind, status=status, source=source, note=note,
                                  updated_at=_now()))
            changes[field] = [None, _said(status, note)]
        elif (row.status, row.source, row.note) != (status, source, note):
            changes[field] = [_said(row.status, row.note), _said(status, note)]
            row.status, row.source, row.note, row.updated_at = status, source, note, _now()
    session.flush()
    if changes:
        audit.record(session, action="inventory", actor=actor, actor_label=actor_label or (None if actor else source),
                     target=f"inventaire {typed}", diff=changes, reason=note or "")
    return len(changes)


def _said(status: str, note: str | None) -> str:
    return INVENTORY_LABELS[status] + (f" ({note})" if note else "")


def listing(session: Session) -> list[Inventory]:
    return list(session.scalars(select(Inventory).order_by(Inventory.code, Inventory.kind_code)))


# Most specific first: an IRIS record wins over its commune's, a commune's over its EPCI's, and so on.
_SPECIFICITY = ("iris", "arrondissement", "commune", "ept", "epci", "departement", "region")

UNKNOWN = {"status": INVENTORY_UNKNOWN, "label": INVENTORY_LABELS[INVENTORY_UNKNOWN], "territory": None, "territory_name": None,
           "date": None, "source": None}


def records(session: Session) -> dict[str, dict[str, dict]]:
    """Every inventory record: typed territory code -> kind code -> its answer entry."""
    out: dict[str, dict[str, dict]] = {}
    for row in listing(session):
        out.setdefault(row.code, {})[row.kind_code] = {
            "status": row.status, "label": INVENTORY_LABELS[row.status], "territory": row.code,
            "territory_name": None, "date": row.updated_at.date().isoformat() if row.updated_at else None,
            "source": row.source,
        }
    return out


def at_units(recs: dict[str, dict[str, dict]], codes: dict, names: dict[str, str]) -> dict[str, dict]:
    """Per kind code, the inventory entry that applies at a point whose typed codes are `codes`
    (app.territories.codes_at_point): the most specific record; kinds without one are unknown."""
    if not recs:
        return {}
    ordered = sorted((c for c in codes if c in recs), key=lambda c: _SPECIFICITY.index(c.split(":", 1)[0]))
    out: dict[str, dict] = {}
    for code in reversed(ordered):  # the most specific last, so it wins
        for kind_code, entry in recs[code].items():
            out[kind_code] = {**entry, "territory_name": names.get(code, code)}
    return out
