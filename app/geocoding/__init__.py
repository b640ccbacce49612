"""Geocoding: an address as people type it → ranked candidates with a level and a score.

Backends, tried in the configured order (MAILLAGE_GEOCODERS, e.g. "local" or "ban-api,local"):
- `local`: BAN addresses imported into the database (app.geocoding.local), offline;
- `ban-api`: the BAN / addok HTTP API (app.geocoding.ban_api), only when configured;
then always the commune fallback (app.geocoding.communes): postal code, INSEE code or name.

No Flask here; the API and the CLI call `Geocoder.search`. A query is never stored or logged.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from rapidfuzz import fuzz, process
from sqlalchemy.orm import Session

from app.errors import InvalidInput
from app.french import agree, plural
from app.geocoding import communes, local
from app.geocoding.ban_api import BanApiClient
from app.geocoding.base import Candidate, GeocodeResult, GeocoderUnavailable, decide
from app.geocoding.normalize import STOPWORDS, fold, parse

BACKENDS = ("local", "ban-api")
MIN_QUERY_LETTERS = 2


@dataclass(frozen=True)
class GeocoderSettings:
    backends: tuple[str, ...] = ("local",)
    ban_api_url: str = "https://data.geopf.fr/geocodage"
    ban_api_timeout_s: float = 2.0
    ban_api_retries: int = 2
    min_score: float = 0.5
    ambiguity_margin: float = 0.03
    max_length: int = 200

    @classmethod
    def from_settings(cls, settings) -> GeocoderSettings:
        names = tuple(n.strip() for n in settings.GEOCODERS.split(",") if n.strip())
        unknown = [n for n in names if n not in BACKENDS]
        if unknown:
            raise ValueError(f"MAILLAGE_GEOCODERS : {agree(len(unknown), 'géocodeur inconnu', 'géocodeurs inconnus')} "
                             f"{', '.join(unknown)} "
                             f"(possibles : {', '.join(BACKENDS)})")
        return cls(backends=names, ban_api_url=settings.BAN_API_URL, ban_api_timeout_s=settings.BAN_API_TIMEOUT_S,
                   ban_api_retries=settings.BAN_API_RETRIES, min_score=settings.GEOCODER_MIN_SCORE)


def check_query(q, *, max_length: int = 200, field: str = "q") -> str:
    """Refuse what cannot be an address, with a message that says why."""
    if q is None or not str(q).strip():
        raise InvalidInput("Adresse vide : saisir un numéro, une voie et une commune ou un code postal.",
                           code="empty-address", field=field)
    q = str(q)
    if len(q) > max_length:
        raise InvalidInput(f"Adresse trop longue ({len(q)} caractères, {max_length} au plus).",
                           code="address-too-long", field=field)
    if any(unicodedata.category(c) in ("Cc", "Cs", "Co", "Cn") and c not in "\t\n\r" for c in q):
        raise InvalidInput("Adresse illisible : caractères de contrôle ou binaires.", code="invalid-address",
                           field=field)
    return q


class Geocoder:
    def __init__(self, settings: GeocoderSettings, *, ban_client: BanApiClient | None = None):
        self.settings = settings
        self.ban = None
        if "ban-api" in settings.backends:
            self.ban = ban_client or BanApiClient(settings.ban_api_url, timeout=settings.ban_api_timeout_s,
                                                  retries=settings.ban_api_retries)

    def search(self, session: Session, q, *, limit: int = 5, autocomplete: bool = False) -> GeocodeResult:
        q = check_query(q, max_length=self.settings.max_length)
        limit = max(1, min(int(limit), 20))
        pq = parse(q)
        warnings: list[dict] = []
        suggestions: list[Candidate] = []
        letters = sum(c.isalnum() for c in q)
        if letters < MIN_QUERY_LETTERS:
            return GeocodeResult("not_found", [], "Adresse trop courte.", backend=None)
        decide_args = dict(min_score=self.settings.min_score, margin=self.settings.ambiguity_margin, limit=limit,
                           list_all=not autocomplete)
        commune_index = communes.commune_index(session)
        outside = outside_postcode(pq, commune_index)
        if outside:
            return _out_of_territory(outside, commune_index)
        named_outside = outside_commune(pq, commune_index)
        for name in self.settings.backends:
            try:
                if name == "local":
                    found = local.search(session, pq, commune_index, limit=limit, autocomplete=autocomplete)
                    if pq.number is None and found:
                        # "Bondy", "93140 Bondy": a commune that explains the whole query beats
                        # "Rue de Bondy".
                        found += [c for c in communes.search(session, pq, commune_index, limit=limit)
                                  if c.score >= 0.9]
                else:
                    found = self.ban.search(q, limit=limit, autocomplete=autocomplete)
            except GeocoderUnavailable as exc:
                warnings.append({"code": "geocoder-unavailable",
                                 "message": f"Service d'adresses en ligne indisponible ({exc}) : "
                                            "recherche dans la base locale."})
                continue
            result = decide(found, backend=name, **decide_args)
            if named_outside and (len(named_outside[0]) == len([w for w in pq.words if w != ","]) and pq.number is None
                                  or not _names_street(result.candidates[0] if result.candidates else None,
                                                       named_outside[0])):
                # "10 rue de la République Lyon", "Lyon": Lyon is not in the reference; its streets
                # are not those of the reference's Rue de la République (nor its Rue de Lyon).
                return _out_of_territory(named_outside[1], commune_index)
            if result.status != "not_found":
                result.warnings = warnings
                return result
            suggestions.extend(result.candidates)
        if named_outside:
            return _out_of_territory(named_outside[1], commune_index)
        # Commune fallback: a postal code, INSEE code or commune name from the territory reference.
        fallback = communes.search(session, pq, commune_index, limit=limit)
        result = decide(fallback, backend="communes", **decide_args)
        if result.status == "found":
            best = result.candidates[0]
            has_street = any(w != "," for w in pq.words if w not in _commune_words(best))
            result.message = ("Adresse précise introuvable : position approchée à la commune, à confirmer."
                              if has_street or pq.number is not None else
                              "Commune trouvée : position approchée à la commune.")
            result.candidates = result.candidates + [s for s in suggestions if s.score >= 0.3][: limit - 1]
        elif result.status == "not_found":
            result.candidates = sorted(suggestions, key=lambda c: -c.score)[:limit] or result.candidates
            result.message = ("Adresse non trouvée. " + ("Suggestions ci-dessous." if result.candidates else
                              "Vérifier la saisie (numéro, voie, commune ou code postal)."))
        result.warnings = warnings
        return result


OUT_OF_TERRITORY = "Adresse hors du territoire couvert par cette base"


def outside_postcode(pq, index: communes.CommuneIndex) -> str | None:
    """A postal code of a département the reference does not hold ("69002" with Île-de-France
    loaded): what to say, or None."""
    if not pq.postcode or not index.departements or pq.postcode in index.by_postcode:
        return None
    departements = communes.departement_of_postcode(pq.postcode)
    if departements & index.departements or not departements & communes.french_departements():
        return None  # a loaded département's postal code, unknown or mistyped, or no postal code at all
    return f"code postal {pq.postcode}"


def outside_commune(pq, index: communes.CommuneIndex) -> tuple[list[str], str] | None:
    """The name of a French commune that the reference does not hold, written where a commune goes
    (the whole query, its last segment, or its last words): (its words, what to say), or None."""
    if not index.departements or (pq.postcode and pq.postcode in index.by_postcode):
        return None  # a postal code of the reference places the address inside it
    words = [w for w in pq.words if w != ","]
    segments = [s for s in " ".join(pq.words).split(",")]
    tails = [s.split() for s in (segments[-1], segments[0]) if s.strip()] if len(segments) > 1 else []
    # "rue de Verdun": after an article or a preposition the name is the street's, not a commune.
    tails += [words[-size:] for size in range(min(4, len(words)), 0, -1)
              if size == len(words) or words[-size - 1] not in STOPWORDS]
    france = communes.france_communes()
    for tail in tails:
        key = " ".join(tail)
        if key in index.by_key:
            return None  # "Neuilly-Plaisance": the commune is in the reference (not Plaisance, Gers)
        if len(key) < 3:
            continue
        known = france.get(key)
        if known and not any(c.code in index.by_code for c in known) and not _near_reference_name(words, index):
            first = known[0]
            more = len({c.departement for c in known}) - 1
            where = f"{first.name}, {first.departement_name}" + (
                f" et {plural(more, 'autre département', 'autres départements')}" if more else "")
            return tail, where
    return None


def _near_reference_name(words: list[str], index: communes.CommuneIndex) -> bool:
    """The query may end with a misspelt commune of the reference ("Le Blaanc-Mesnil" is not
    Le Mesnil, Manche)."""
    for size in range(min(4, len(words)), 0, -1):
        key = " ".join(words[-size:])
        if len(key) >= 4 and process.extractOne(key, index.keys, scorer=fuzz.ratio,
                                                score_cutoff=80 if size == 1 else 86):
            return True
    return False


def _names_street(candidate: Candidate | None, words: list[str]) -> bool:
    """The commune's words are the end of a street's name that the query matches well ("1 allée
    Marguerite Duras"; not "10 rue de la République Lyon" → "Rue de Lyon")."""
    street = fold((candidate.street or "") if candidate else "").split()
    return bool(street) and candidate.score >= 0.8 and all(w in street for w in words)


def _covers(index: communes.CommuneIndex) -> str:
    """What the reference covers, in words: "les départements 75, 92, 93 et 94, et 36 communes du
    78" — a département of which less than half the communes are loaded is counted in communes."""
    loaded = index.units_per_departement
    france = communes.france_commune_counts()
    whole = sorted(d for d in loaded if 2 * loaded[d] >= france.get(d, 0))
    parts = [f"{loaded[d]} commune{'s' if loaded[d] > 1 else ''} du {d}" for d in sorted(set(loaded) - set(whole))]
    if len(whole) == 1:
        said = [f"le département {whole[0]}"]
    elif 1 < len(whole) <= 8:
        said = [f"les départements {', '.join(whole[:-1])} et {whole[-1]}"]
    else:
        said = [f"{len(whole)} départements"] if whole else []
    said += parts[:3] + ([f"{len(parts) - 3} autres départements en partie"] if len(parts) > 3 else [])
    return said[0] if len(said) == 1 else ", ".join(said[:-1]) + ", et " + said[-1]


def _out_of_territory(what: str, index: communes.CommuneIndex) -> GeocodeResult:
    covers = _covers(index)
    message = f"{OUT_OF_TERRITORY} ({what} : la base couvre {covers})."
    return GeocodeResult("not_found", [], message, backend=None,
                         warnings=[{"code": "out-of-territory", "message": message}])


def warm(engine) -> int:
    """Build the geocoder's indexes now, before a server listens: no request waits for them.
    Returns the number of addresses indexed."""
    communes.warm(engine)
    return local.warm(engine).size


def _commune_words(candidate: Candidate) -> set[str]:
    return set(fold(candidate.city or "").split())


def from_settings(settings) -> Geocoder:
    return Geocoder(GeocoderSettings.from_settings(settings))
