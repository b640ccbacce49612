"""A partner's state at a date: the one rule the lookup, the gap analysis and the exports share."""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class Dated(Protocol):
    """What availability reads: a stored partner, the lookup's partner facts, a query row."""

    status: str
    valid_from: dt.date | None
    valid_to: dt.date | None


def availability(p: Dated, as_of: dt.date) -> str:
    """Effective state at a date. Dates win over the status field: a service "closed" with a
    valid_to was open until then, a "planned" one with a valid_from opens on that day."""
    if p.valid_to and as_of > p.valid_to:
        return "closed"
    if p.valid_from and as_of < p.valid_from:
        return "planned"
    if p.status == "closed":
        return "active" if p.valid_to else "closed"
    if p.status == "planned":
        return "active" if p.valid_from else "planned"
    return p.status  # active or suspended
