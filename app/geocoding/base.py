"""What every geocoder returns: ranked candidates and a decision (found / ambiguous / not found)."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.vocabulary import GEOCODING_LEVEL_LABELS

LEVELS = tuple(GEOCODING_LEVEL_LABELS)


class GeocoderUnavailable(Exception):
    """A remote geocoder did not answer (timeout, connection refused, server error)."""


@dataclass
class Candidate:
    label: str
    level: str  # housenumber | street | municipality
    score: float  # 0–1
    lon: float
    lat: float
    code_insee: str | None
    postcode: str | None = None
    city: str | None = None
    street: str | None = None
    housenumber: str | None = None
    id: str | None = None  # BAN id when known
    source: str = "local"
    note: str | None = None  # e.g. "numéro 12 introuvable : position du numéro le plus proche"
    # Where the true position may be when the match is not at the house number: the street's
    # addresses (local geocoder) — used to flag coverage answers that could differ.
    # A function giving that list: a street's addresses are read from the index only for the
    # candidate that becomes the answer, not for the hundreds a homonym search scores.
    extent_of: object = field(default=None, repr=False)
    # The query names a commune (by name or postal code) and this candidate lies in another: a
    # suggestion to choose, never the answer ("5 rue des Lilas, Les Lilas" is not in Bondy).
    elsewhere: bool = False
    # Why this answer needs checking although it scores well: the postal code and the commune
    # written disagree ("le code postal 93240 n'est pas celui de Sevran").
    doubt: str | None = None

    @property
    def extent(self) -> list | None:
        if self.extent_of is None:
            return None
        cached = self.__dict__.get("_extent")
        if cached is None:
            cached = self.__dict__["_extent"] = self.extent_of()
        return cached

    def as_dict(self) -> dict:
        return {
            "label": self.label, "level": self.level, "level_label": GEOCODING_LEVEL_LABELS[self.level],
            "score": round(self.score, 3), "lon": round(self.lon, 6), "lat": round(self.lat, 6),
            "code_insee": self.code_insee, "postcode": self.postcode, "city": self.city, "street": self.street,
            "housenumber": self.housenumber, "id": self.id, "source": self.source,
            "note": "; ".join(filter(None, [self.note, self.doubt and f"{self.doubt} : à confirmer"])) or None,
        }

    @property
    def place_key(self):
        """Two candidates at the same place (same street of the same commune, or same commune)."""
        return (self.code_insee, self.street or "", self.level == "municipality")


@dataclass
class GeocodeResult:
    status: str  # found | ambiguous | not_found
    candidates: list[Candidate]
    message: str | None = None
    warnings: list[dict] = field(default_factory=list)
    backend: str | None = None

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.status == "found" and self.candidates else None

    def as_dict(self) -> dict:
        return {
            "status": self.status, "message": self.message, "backend": self.backend,
            "best": self.best.as_dict() if self.best else None,
            "candidates": [c.as_dict() for c in self.candidates],
            "warnings": self.warnings,
        }


NOT_FOUND = "Adresse non trouvée."


def decide(candidates: list[Candidate], *, min_score: float, margin: float, limit: int,
           backend: str, list_all: bool = True) -> GeocodeResult:
    """Rank candidates and decide. Ambiguous: two different places score within `margin` of each
    other — the caller must choose rather than let us guess. Below `min_score`: not found, and the
    candidates are offered as suggestions."""
    ranked = sorted(candidates, key=lambda c: (-c.score, LEVELS.index(c.level), c.label))
    unique, seen = [], set()
    for c in ranked:
        key = (c.label, c.level)
        if key not in seen:
            seen.add(key)
            unique.append(c)
    answers = [c for c in unique if not c.elsewhere]
    if not answers or answers[0].score < min_score:
        unique = unique[:limit]
        message = NOT_FOUND + (" Suggestions ci-dessous." if unique else " Vérifier la saisie (numéro, voie, commune).")
        return GeocodeResult("not_found", unique, message, backend=backend)
    best = answers[0]
    rivals = [c for c in answers[1:] if c.place_key != best.place_key and c.score >= best.score - margin
              and c.score >= min_score]
    if rivals and not list_all:
        rivals = rivals[:max(0, limit - 1)]
    if rivals:
        # Every close match is listed, past `limit`: the same street in 39 communes is 39 choices,
        # the person must see the right one among them.
        places = {c.place_key for c in [best, *rivals]}
        listed = [best, *rivals]
        listed_ids = {id(c) for c in listed}  # identity: dataclass equality compares every field
        rest = [c for c in unique if id(c) not in listed_ids]
        communes = {c.code_insee for c in listed}
        return GeocodeResult("ambiguous", listed + rest[:max(0, limit - len(listed))],
                             "Adresse ambiguë : plusieurs correspondances proches"
                             + (f" ({len(places)} dans {len(communes)} communes)" if len(communes) > 1 else "")
                             + ", préciser la commune ou le code postal.", backend=backend)
    unique = ([best] + [c for c in unique if c is not best])[:limit]
    return GeocodeResult("found", unique, f"À confirmer : {best.doubt}." if best.doubt else None, backend=backend)
