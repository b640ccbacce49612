"""Territories by name: what a person types ("Seine-Saint-Denis", "93", "Est Ensemble", "Paris 13e",
"Bondy", "93140") → the typed codes it may mean, best first, each with its level and name.

Everywhere a territory is asked (the coverage map, the gap analysis, the directory, the editing of a
partner's coverage), a picker offers these candidates and shows the typed code it chose: a bare
"93" is both the département Seine-Saint-Denis and the région Provence-Alpes-Côte d'Azur, so it is
never guessed — both are listed, the département first.

The index (every unit and group name of the loaded reference, normalised) is built once per engine
and data version.
"""

from __future__ import annotations

import re
import unicodedata
import weakref
from dataclasses import dataclass

from rapidfuzz import fuzz, process
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import db, territories
from app.errors import InvalidInput
from app.models import Territory, TerritoryGroup
from app.vocabulary import LEVEL_LABELS

# Levels people mean most often for the same words, first: a département before a région of the
# same number, a commune before an IRIS.
LEVEL_ORDER = ("departement", "commune", "arrondissement", "epci", "ept", "region", "iris")
ARTICLES = ("le", "la", "les", "l")
MAX_QUERY = 120
FUZZY_MIN = 78  # rapidfuzz WRatio: "bondi" → Bondy (80); candidates only, ranked after every exact or prefix match


@dataclass(frozen=True)
class Entry:
    code: str  # typed
    level: str
    name: str
    key: str  # normalised name
    bare: str  # the normalised name without its leading article
    context: str  # what tells it apart: "Seine-Saint-Denis (93)", "commune de Paris"…
    population: int | None


def normalise(text: str) -> str:
    """Lower case, no accents, words only, ordinals as plain numbers ("13e" → "13", "1er" → "1"),
    "st"/"ste" as "saint"/"sainte"."""
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"[^a-z0-9]+", " ", text)
    text = re.sub(r"\b(\d+)(?:er|re|e|eme|ieme)\b", r"\1", text)
    words = {"st": "saint", "ste": "sainte", "arr": "arrondissement", "arrdt": "arrondissement"}
    return " ".join(words.get(w, w) for w in text.split())


def _without_article(key: str) -> str:
    first, _, rest = key.partition(" ")
    return rest if first in ARTICLES and rest else key


class Index:
    def __init__(self, version: str | None, entries: list[Entry]):
        self.version = version
        self.entries = entries
        self.by_code = {e.code: e for e in entries}
        self.keys = [e.key for e in entries]
        self.bares = [e.bare for e in entries]


_INDEXES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _index(session: Session) -> Index:
    version = db.data_version(session)
    return db.cached_for_version(_INDEXES, session, version, lambda: _build(session, version))


def _build(session: Session, version: str | None) -> Index:
    groups = {(level, code): name for level, code, name in session.execute(
        select(TerritoryGroup.level, TerritoryGroup.code, TerritoryGroup.name))}
    entries = []
    populations: dict[tuple[str, str], int] = {}
    for level, code, name, departement, parent, population in session.execute(
            select(Territory.level, Territory.code, Territory.name, Territory.departement, Territory.parent_code,
                   Territory.population)):
        if level == "iris":
            context = f"IRIS de {parent}" if parent else "IRIS"
        else:
            dep_name = groups.get(("departement", departement))
            context = f"{dep_name} ({departement})" if dep_name else (departement or "")
        key = normalise(name)
        entries.append(Entry(f"{level}:{code}", level, name, key, _without_article(key), context, population))
        if level == "commune" and departement:
            populations[("departement", departement)] = populations.get(("departement", departement), 0) + (population or 0)
    for (level, code), name in groups.items():
        context = {"departement": f"département {code}", "region": f"région {code}", "epci": f"EPCI {code}",
                   "ept": "Grand Paris"}.get(level, code)
        key = normalise(name)
        entries.append(Entry(f"{level}:{code}", level, name, key, _without_article(key), context,
                             populations.get((level, code))))
    return Index(version, entries)


def search(session: Session, query: str, *, limit: int = 10) -> list[dict]:
    """Candidates for what a person typed, best first (see the module's docstring)."""
    if not isinstance(query, str):
        raise InvalidInput("Territoire attendu (un nom ou un code).", code="invalid-territory-code", field="q")
    raw = query.strip()
    if "\x00" in raw:
        raise InvalidInput("Caractère nul dans le territoire.", code="invalid-territory-code", field="q")
    if len(raw) > MAX_QUERY:
        raise InvalidInput(f"Territoire trop long ({len(raw)} caractères, {MAX_QUERY} au plus).",
                           code="invalid-territory-code", field="q")
    if not raw:
        return []
    index = _index(session)
    scored: dict[str, float] = {}

    def add(code: str, score: float) -> None:
        if code in index.by_code and score > scored.get(code, -1):
            scored[code] = score

    if ":" in raw:  # a typed code: that one, if it is in the reference
        try:
            typed = territories.parse_code(raw, field="q")
        except InvalidInput:
            typed = None
        if typed is not None:
            add(str(typed), 1000)
    key = normalise(raw)
    compact = key.replace(" ", "")
    if re.fullmatch(r"\d{1,3}|2a|2b|97\d", compact):  # a bare number: département and région
        add(f"departement:{compact.upper()}", 900)
        add(f"region:{compact}", 890)
    if re.fullmatch(r"\d{5}|2[ab]\d{3}", compact):  # INSEE code or postal code
        code = compact.upper()
        add(f"commune:{code}", 950)
        add(f"arrondissement:{code}", 950)
        for entry in _by_postcode(session, code):
            add(entry, 940)
    if re.fullmatch(r"\d{9}", compact):  # SIREN of an EPCI / EPT, or an IRIS code
        for level in ("epci", "ept", "iris"):
            add(f"{level}:{compact}", 950)
    if key:
        bare = _without_article(key)
        for i, entry in enumerate(index.entries):
            if entry.key == key or entry.bare == bare:
                add(entry.code, 800)
            elif entry.key.startswith(key) or entry.bare.startswith(bare):
                add(entry.code, 700 - min(len(entry.key) - len(key), 99))
        if len(scored) < limit and len(bare) >= 3:
            for _match, score, i in process.extract(bare, index.bares, scorer=fuzz.WRatio, limit=limit * 3,
                                                    score_cutoff=FUZZY_MIN):
                add(index.entries[i].code, score * 5)  # 425–500: after every exact or prefix match
    ranked = sorted(scored.items(), key=lambda item: (-item[1], LEVEL_ORDER.index(index.by_code[item[0]].level)
                                                     if index.by_code[item[0]].level in LEVEL_ORDER else 99,
                                                     index.by_code[item[0]].name))
    return [_out(index.by_code[code]) for code, _ in ranked[:limit]]


def _by_postcode(session: Session, postcode: str) -> list[str]:
    rows = session.execute(select(Territory.level, Territory.code).where(
        Territory.level.in_(("commune", "arrondissement")), Territory.postcodes.like(f"%{postcode}%")))
    return [f"{level}:{code}" for level, code in rows]


def _out(entry: Entry) -> dict:
    return {"code": entry.code, "level": entry.level, "level_label": LEVEL_LABELS.get(entry.level, entry.level),
            "name": entry.name, "context": entry.context, "population": entry.population,
            "label": f"{entry.name} — {LEVEL_LABELS.get(entry.level, entry.level).lower()}, {entry.context}"}


@dataclass(frozen=True)
class Resolved:
    code: str  # the typed code retained (or the typed codes as given)
    name: str | None
    others: list[dict]  # other readings of the same words, shown next to the choice

    @property
    def note(self) -> str | None:
        """« Territoire retenu : … » when words were read as a code, with the other readings."""
        if self.name is None:
            return None
        text = f"Territoire retenu : {self.name} ({self.code})"
        if self.others:
            text += " ; autre possibilité : " + ", ".join(f"{o['name']} ({o['code']})" for o in self.others)
        return text + "."


def resolve(session: Session, query: str, *, field: str = "territoire") -> Resolved:
    """The typed code a person meant, for a form's territory field, and what else it could mean.
    Typed codes (or a `|` list) are kept as given. Words: the one candidate, or the one whose name
    is exactly those words; exact names at several levels (Paris: the département and the commune, a
    bare 93: the département and the région) → the level people mean most (LEVEL_ORDER), the other
    shown beside it; several of one level (two communes named Saint-Denis) or none → a clear
    message listing the choices, never a guess."""
    raw = (query or "").strip()
    if ":" in raw or "|" in raw:
        return Resolved(raw, None, [])
    found = search(session, raw, limit=6)
    if not found:
        raise InvalidInput(f"Territoire « {raw[:60]} » introuvable dans le référentiel chargé : saisir un nom "
                           "(Bondy, Seine-Saint-Denis, Paris 13e) ou un code typé (departement:93).",
                           code="unknown-territory", field=field)
    index = _index(session)
    key = normalise(raw)
    numeric = re.fullmatch(r"\d{1,3}|2[ab]|97\d", key.replace(" ", "")) is not None
    exact = [c for c in found if numeric and c["level"] in ("departement", "region")
             or index.by_code[c["code"]].key == key or index.by_code[c["code"]].bare == _without_article(key)]
    pool = exact or (found if len(found) == 1 else [])
    levels = [c["level"] for c in pool]
    if pool and levels.count(levels[0]) == 1:
        chosen = pool[0]
        return Resolved(chosen["code"], chosen["name"], [c for c in pool[1:]])
    choices = " ; ".join(f"{c['name']}, {c['context']} ({c['code']})" for c in (pool or found)[:6])
    raise InvalidInput(f"Territoire « {raw[:60]} » ambigu : préciser parmi {choices}.", code="ambiguous-territory-code",
                       field=field)
