"""The lookup's filters: raw values from a query string or a command line, checked into Options."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.errors import InvalidInput, reject_nul
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


def parse_options(session: Session, *, as_of=None, age=None, landlord=None, housing=None, kinds=None,
                  radius=None, today: dt.date | None = None, default_radius_m: int = 5000,
                  max_radius_m: int = 50000, proximity_limit: int = 5) -> Options:
    """Validate raw filter values (strings from a query string or a CLI) into Options."""
    reject_nul({"as_of": as_of, "age": age, "landlord": landlord, "housing": housing, "kinds": kinds,
                "radius": radius})
    if as_of in (None, ""):
        as_of_date = today or dt.date.today()
    elif isinstance(as_of, dt.date):
        as_of_date = as_of
    else:
        try:
            as_of_date = dt.date.fromisoformat(str(as_of).strip())
        except ValueError:
            raise InvalidInput(f"Date « {_short(as_of)} » invalide : format attendu AAAA-MM-JJ (ex. 2026-12-01).",
                               code="invalid-date", field="as_of") from None
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
        unknown = unknown_codes(session, kinds)
        if unknown:
            raise InvalidInput(f"Type(s) de partenaire inconnu(s) : {_short(', '.join(unknown))}.",
                               code="unknown-kind", field="kinds")
        kind_codes = tuple(dict.fromkeys(kinds))
    radius_m = None
    if radius not in (None, ""):
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
