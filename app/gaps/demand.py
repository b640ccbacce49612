"""Unmet demand without personal data (optional; MAILLAGE_DEMAND_COUNTS, off by default).

A lookup that finds no partner of a territorial kind adds 1 to the counter of (commune, ISO week,
kind). Nothing else is kept: not the address, not the point, not the time, not the filters. The
gap analysis shows these counts per commune, and hides counts under SMALL_COUNT ("< 5") so that a
single household's search in a small commune cannot be read from an export.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.models import UnmetDemand

SMALL_COUNT = 5


def uncovered(answer: dict) -> tuple[str | None, list[str]]:
    """(commune-level unit code, territorial kinds nobody covers) of a lookup answer."""
    units = answer.get("territory", {}).get("units") or []
    unit = next((u["code"] for u in units if u["level"] in ("arrondissement", "commune")), None)
    if unit is None:
        return None, []
    kinds = [k["kind"] for k in answer["kinds"] if k["mode"] == "territorial" and not k["partners"]]
    return unit, kinds


def record(session: Session, answer: dict, today: dt.date | None = None) -> int:
    """Count one uncovered lookup per kind in its own transaction; returns how many counters moved."""
    unit, kinds = uncovered(answer)
    if unit is None or not kinds:
        return 0
    year, week, _ = (today or dt.date.today()).isocalendar()
    label = f"{year}-W{week:02d}"
    for kind in kinds:
        updated = session.execute(update(UnmetDemand).where(
            UnmetDemand.code == unit, UnmetDemand.week == label, UnmetDemand.kind_code == kind
        ).values(count=UnmetDemand.count + 1)).rowcount
        if not updated:
            session.add(UnmetDemand(code=unit, week=label, kind_code=kind, count=1))
    session.commit()
    return len(kinds)


def counts(session: Session, kind: str, since: dt.date, until: dt.date) -> dict[str, int]:
    """Per unit code, the uncovered lookups of a kind over the weeks from `since` to `until`."""
    first, last = since.isocalendar(), until.isocalendar()
    low, high = f"{first[0]}-W{first[1]:02d}", f"{last[0]}-W{last[1]:02d}"
    rows = session.execute(select(UnmetDemand.code, func.sum(UnmetDemand.count)).where(
        UnmetDemand.kind_code == kind, UnmetDemand.week >= low, UnmetDemand.week <= high
    ).group_by(UnmetDemand.code)).all()
    return {code: int(total) for code, total in rows}


def shown(count: int | None) -> str | int:
    if not count:
        return 0
    return count if count >= SMALL_COUNT else f"< {SMALL_COUNT}"


def record_if_enabled(app_state, answer: dict | None) -> None:
    """Called after a lookup answered (API and web): counts it when MAILLAGE_DEMAND_COUNTS is on
    and the lookup is about today. Counting never makes a lookup fail."""
    import logging

    if not app_state.settings.DEMAND_COUNTS or not answer or answer.get("as_of") != dt.date.today().isoformat():
        return
    try:
        with app_state.sessions() as session:
            record(session, answer)
    except Exception:  # the error, never the answer or the address, is logged
        logging.getLogger("maillage").warning("comptage de la demande non couverte impossible", exc_info=True)
