"""French for people: numbers (1 234 567, 12,5), percentages (12,5 %), dates (16/10/2026) and real
plurals (« 1 commune », « 3 communes »). The pages, the gap exports and the reports all write
through these, so a figure reads the same everywhere."""

from __future__ import annotations

import datetime as dt

# A narrow no-break space groups thousands (what the French typography and spreadsheets expect);
# it never breaks a number across two lines.
THOUSANDS = "\u202f"


def number(value, decimals: int = 0) -> str:
    """1 234 567 and 12,5; "—" for an unknown value."""
    if value is None:
        return "—"
    text = f"{value:,.{decimals}f}"
    return text.replace(",", THOUSANDS).replace(".", ",")


def percent(share, decimals: int = 1) -> str:
    """A share (0–1) as 12,5 %; "—" when unknown."""
    if share is None:
        return "—"
    return number(share * 100, decimals) + "\u00a0%"


def date(value) -> str:
    """16/10/2026 from a date, a datetime or an ISO date string; "" for none."""
    if not value:
        return ""
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value[:10])
        except ValueError:
            return value
    return value.strftime("%d/%m/%Y")


def plural(count: int, one: str, many: str, zero: str | None = None) -> str:
    """« 1 commune », « 2 communes » (in French 0 and 1 take the singular); `zero` replaces the whole."""
    if count == 0 and zero is not None:
        return zero
    return f"{number(count)} {one if abs(count) < 2 else many}"


def agree(count: int, one: str, many: str) -> str:
    """The word alone, agreeing with a count: agree(3, "Type inconnu", "Types inconnus")."""
    return one if abs(count) < 2 else many
