"""The lookup's filters: raw values from a query string or a command line, checked into Options."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.errors import InvalidInput, reject_nul
from app.french import agree
from app.models import Landlord
from app.partners.kinds import unknown_codes
from app.vocabulary import HOUSING_TYPE_LABELS, PERSON_AGES


@dataclass(frozen=True)
class Options:
    as_of: dt.date
    age: str | None = None
    landlord: str | None = None
    housing: str | None = None
    kinds: tuple[str, ...] | None = None
    radius_m: int | None = None
    proximity_limit: int = 5
    default_radius_m: int = 5000


def _short(value, limit: int = 60) -> str:
    """Echo user input in a message without letting it flood the message."""
    text_value = str(value)
    return text_value if len(text_value) <= limit else text_value[:limit] + "…"


# Dates a person can mean: before 1900 or after 2199 is a typo (0001-01-01, 9999-12-31), and the
# date arithmetic of comparisons and ISO weeks overflows near the ends of Python's range.
MIN_DATE, MAX_DATE = dt.date(1900, 1, 1), dt.date(2199, 12, 31)


def parse_date(raw, *, field: str) -> dt.date:
    """An ISO date (AAAA-MM-JJ) a person typed, checked for its format and its range."""
    if isinstance(raw, dt.date):
        value = raw
    elif not isinstance(raw, str):
        raise InvalidInput(f"« {field} » doit être une date AAAA-MM-JJ (texte).", code="invalid-date", field=field)
    else:
        try:
            value = dt.date.fromisoformat(raw.strip())
        except ValueError:
            raise InvalidInput(f"Date « {_short(raw)} » invalide : format attendu AAAA-MM-JJ (ex. 2026-12-01).",
                               code="invalid-date", field=field) from None
    if not MIN_DATE <= value <= MAX_DATE:
        raise InvalidInput(f"Date du {value.strftime('%d/%m/%Y') if value.year >= 1000 else value.isoformat()} hors "
                           f"des limites : entre le {MIN_DATE:%d/%m/%Y} et le {MAX_DATE:%d/%m/%Y}.",
                           code="invalid-date", field=field)
    return value


def _text(value, field: str, code: str):
    """A filter given as JSON (a batch's body) must be text like a query string's: a list, an
    object, a number or a boolean is refused, never coerced."""
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f"« {field} » doit être un texte.", code=code, field=field)
    return value


def parse_options(session: Session, *, as_of=None, age=None, landlord=None, housing=None, kinds=None,
                  radius=None, today: dt.date | None = None, default_radius_m: int = 5000,
                  max_radius_m: int = 50000, proximity_limit: int = 5) -> Options:
    """Validate raw filter values (strings from a query string or a CLI) into Options."""
    reject_nul({"as_of": as_of, "age": age, "landlord": landlord, "housing": housing, "kinds": kinds,
                "radius": radius})
    age, landlord = _text(age, "age", "invalid-age"), _text(landlord, "landlord", "unknown-landlord")
    housing = _text(housing, "housing", "invalid-housing")
    if as_of in (None, ""):
        as_of_date = today or dt.date.today()
    else:
        as_of_date = parse_date(as_of, field="as_of")
    if age in ("", None):
        age = None
    elif age not in PERSON_AGES:
        raise InvalidInput(f"Tranche d'âge « {_short(age)} » inconnue : adulte ou enfant.", code="invalid-age", field="age")
    if landlord in ("", None):
        landlord = None
    elif session.get(Landlord, str(landlord)) is None:
        raise InvalidInput(f"Bailleur « {_short(landlord)} » inconnu (liste : /api/v1/landlords).",
                           code="unknown-landlord", field="landlord")
    if housing in ("", None):
        housing = None
    elif housing not in HOUSING_TYPE_LABELS:
        raise InvalidInput(f"Type de logement « {_short(housing)} » inconnu ({', '.join(HOUSING_TYPE_LABELS)}).",
                           code="invalid-housing", field="housing")
    kind_codes = None
    if kinds not in (None, "", []):
        if isinstance(kinds, str):
            kinds = [k.strip() for k in kinds.split(",") if k.strip()]
        elif not isinstance(kinds, (list, tuple)) or not all(isinstance(k, str) for k in kinds):
            raise InvalidInput("« kinds » : une liste de codes de types (textes) est attendue.",
                               code="unknown-kind", field="kinds")
        reject_nul({"kinds": ",".join(kinds)})
        unknown = unknown_codes(session, kinds)
        if unknown:
            raise InvalidInput(f"{agree(len(unknown), 'Type de partenaire inconnu', 'Types de partenaire inconnus')} : "
                               f"{_short(', '.join(unknown))}.",
                               code="unknown-kind", field="kinds")
        kind_codes = tuple(dict.fromkeys(kinds))
    radius_m = None
    if radius not in (None, ""):
        if isinstance(radius, bool) or not isinstance(radius, (str, int, float)):
            raise InvalidInput("« radius » doit être un nombre de mètres.", code="invalid-radius", field="radius")
        try:
            value = float(radius)
        except (TypeError, ValueError):
            raise InvalidInput(f"Rayon « {_short(radius)} » invalide : un nombre de mètres est attendu.",
                               code="invalid-radius", field="radius") from None
        if not (math.isfinite(value) and 0 < value <= max_radius_m):
            raise InvalidInput(f"Rayon hors limites : entre 1 et {max_radius_m} mètres.",
                               code="invalid-radius", field="radius")
        radius_m = max(1, round(value))
    return Options(as_of=as_of_date, age=age, landlord=landlord, housing=housing, kinds=kind_codes,
                   radius_m=radius_m, proximity_limit=proximity_limit, default_radius_m=default_radius_m)
