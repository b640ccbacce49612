"""The offline geocoder: BAN addresses imported into the project's database (`maillage import ban`).

Addresses are grouped into streets (commune + street name) and held in memory, cached per engine
and refreshed when an import changes them (meta key `address_version`). A query is parsed
(app.geocoding.normalize), candidate streets are found through an inverted index of canonical words
(with typo-tolerant matching of unknown words by rapidfuzz), scored on the whole street name, the
commune (postal code or name) and the house number, then ranked.
"""

from __future__ import annotations

import bisect
import statistics
import weakref
from collections import defaultdict
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA
from sqlalchemy import text
from sqlalchemy.orm import Session

from app import db
from app.geocoding.base import Candidate
from app.geocoding.communes import CommuneIndex
from app.geocoding.normalize import STOPWORDS, STREET_TYPES, ParsedQuery, canonical_tokens, fold

ADDRESS_VERSION_KEY = "address_version"


@dataclass
class Street:
    code_insee: str
    name: str  # as in the BAN (nom_voie)
    city: str
    postcode: str | None
    key: str  # significant canonical words, space-separated
    words: tuple[str, ...]
    numbers: dict = field(default_factory=dict)  # (numero, rep) -> (ban_id, lon, lat)
    by_number: dict = field(default_factory=dict)  # numero -> [(rep, ban_id, lon, lat)]
    lon: float = 0.0
    lat: float = 0.0
    points: list = field(default_factory=list)
    variants: dict = field(default_factory=dict)  # (numero, rep, folded other spelling) -> (ban_id, lon, lat)

    def label(self, numero=None, rep=None) -> str:
        head = f"{numero}{' ' + rep if rep else ''} " if numero is not None else ""
        return f"{head}{self.name} {self.postcode + ' ' if self.postcode else ''}{self.city}"


class StreetIndex:
    def __init__(self, session: Session, version: str | None):
        self.version = version
        grouped: dict[tuple[str, str], Street] = {}
        spellings: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        canonical: dict[str, tuple[str, ...]] = {}
        rows = session.execute(text(
            "SELECT id, code_insee, numero, rep, nom_voie, code_postal, nom_commune, lon, lat FROM address "
            "ORDER BY code_insee, nom_voie, numero, rep, id"))
        for ban_id, code, numero, rep, nom_voie, postcode, city, lon, lat in rows:
            tokens = canonical.get(nom_voie)
            if tokens is None:
                tokens = canonical[nom_voie] = tuple(canonical_tokens(nom_voie))
            # Spelling variants of one street ("Av du Mal de Lattre…" / "Avenue du Mal de Lattre…")
            # are one street.
            group = (code, " ".join(tokens))
            street = grouped.get(group)
            if street is None:
                words = tuple(t for t in tokens if t not in STOPWORDS)
                street = grouped[group] = Street(code, nom_voie, city, postcode, " ".join(words), words)
            spellings[group][nom_voie] += 1
            street.points.append((lon, lat))
            if numero is not None:
                if (numero, rep) not in street.numbers:
                    street.numbers[(numero, rep)] = (ban_id, lon, lat)
                    street.by_number.setdefault(numero, []).append((rep, ban_id, lon, lat))
                elif nom_voie != street.name:
                    # The same number under another spelling: kept to answer that spelling exactly.
                    street.variants[(numero, rep, fold(nom_voie))] = (ban_id, lon, lat)
        for group, street in grouped.items():
            # The spelling most addresses use, the longest on a tie (abbreviations lose).
            street.name = max(spellings[group].items(), key=lambda kv: (kv[1], len(kv[0]), kv[0]))[0]
        self.streets: list[Street] = list(grouped.values())
        self.postcodes: dict[str, set[str]] = defaultdict(set)
        self.cities: dict[str, set[str]] = defaultdict(set)  # folded nom_commune -> codes
        postings: dict[str, set[int]] = defaultdict(set)
        for i, street in enumerate(self.streets):
            street.lon = statistics.median(p[0] for p in street.points)
            street.lat = statistics.median(p[1] for p in street.points)
            for word in set(street.words):
                postings[word].add(i)
            if street.postcode:
                self.postcodes[street.postcode].add(street.code_insee)
            self.cities[fold(street.city)].add(street.code_insee)
        self.postings = {w: frozenset(ids) for w, ids in postings.items()}
        self.vocabulary = sorted(self.postings)
        self.city_keys = list(self.cities)

    def __len__(self) -> int:
        return len(self.streets)

    def word_matches(self, word: str, *, prefix: bool) -> list[tuple[str, float]]:
        """Index words matching a query word: itself, close spellings, and (autocomplete) completions."""
        out = []
        if word in self.postings:
            out.append((word, 1.0))
        if prefix:
            start = bisect.bisect_left(self.vocabulary, word)
            for candidate in self.vocabulary[start:start + 40]:
                if not candidate.startswith(word):
                    break
                if candidate != word:
                    out.append((candidate, 0.97))
        if not out and len(word) >= 3:
            # One typo (a transposition counts as one) in any word of 3+ letters, more in long ones.
            for candidate, distance, _ in process.extract(word, self.vocabulary, scorer=OSA.distance,
                                                          score_cutoff=1 if len(word) < 8 else 2, limit=4):
                out.append((candidate, _word_sim(word, candidate, prefix=False)))
        return out

    def split_glued(self, word: str) -> list[str]:
        """Two index words typed without their space or hyphen ("saintlouis")."""
        if len(word) >= 8 and word not in self.postings:
            for i in range(3, len(word) - 2):
                if word[:i] in self.postings and word[i:] in self.postings:
                    return [word[:i], word[i:]]
        return [word]


_INDEXES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def street_index(session: Session) -> StreetIndex:
    version = db.meta_value(session, ADDRESS_VERSION_KEY)
    return db.cached_for_version(_INDEXES, session, version, lambda: StreetIndex(session, version))


def _word_sim(q: str, s: str, *, prefix: bool) -> float:
    if q == s:
        return 1.0
    if len(q) == 1:
        return 0.9 if s.startswith(q) else 0.0  # an initial: "j" for "jean"
    if prefix and s.startswith(q):
        return 0.95  # autocomplete: the word being typed
    r = fuzz.ratio(q, s) / 100
    if len(q) >= 3:
        distance = OSA.distance(q, s, score_cutoff=2)
        if distance == 1:
            r = max(r, 0.85)
        elif distance == 2 and len(q) >= 7:
            r = max(r, 0.8)
    return r if r >= 0.75 else 0.0


def _split_type(words) -> tuple[str | None, list[str]]:
    words = list(words)
    if words and words[0] in STREET_TYPES:
        return words[0], words[1:]
    return None, words


def name_score(query_words: list[str], street: Street, *, prefix_last: bool = False) -> float:
    """Word-level similarity of a query's street words to a street: each query word takes its best
    street word (exact, close spelling, initial, or completion); recall counts more than precision
    (people drop first names, not add words); the street type (rue, avenue…) weighs a little."""
    q_type, q_name = _split_type(query_words)
    s_type, s_name = _split_type(street.words)
    if q_type is None and s_type and len(q_name) > 1 and q_name[0] not in s_name \
            and _word_sim(q_name[0], s_type, prefix=False) >= 0.8:
        q_type, q_name = s_type, q_name[1:]  # a misspelt street type ("snte" for "sente")
    if not q_name:
        q_name, q_type = ([q_type] if q_type else []), None
        s_name = list(street.words)
        s_type = None
    if not q_name or not s_name:
        return 0.0
    total, used = 0.0, set()
    last = len(q_name) - 1
    for i, q in enumerate(q_name):
        best, best_j = 0.0, None
        for j, sw in enumerate(s_name):
            if j not in used:
                v = _word_sim(q, sw, prefix=prefix_last and i == last)
                if v > best:
                    best, best_j = v, j
        if best_j is not None:
            used.add(best_j)
            total += best
    if not total:
        return 0.0
    recall, precision = total / len(q_name), total / len(s_name)
    score = 5 * precision * recall / (4 * precision + recall)  # F2
    if q_type is None:
        factor = 0.97
    elif s_type is None:
        factor = 0.9
    elif q_type == s_type:
        factor = 1.0
    else:
        factor = 0.85  # rue for avenue: a common slip, still the best lead when the name matches
    return score * factor


def _split_city(words: list[str], index: StreetIndex,
                communes: CommuneIndex) -> tuple[list[str], set[str], list[str]]:
    """Find the commune named at the end of the query; return the street words, its codes and the
    words naming it."""
    segments: list[list[str]] = [[]]
    for w in words:
        if w == ",":
            segments.append([])
        else:
            segments[-1].append(w)
    segments = [s for s in segments if s]
    if not segments:
        return [], set(), []
    flat = [w for s in segments for w in s]
    if len(segments) > 1 and not any(w in STREET_TYPES for w in segments[-1]):
        tail = segments[-1]
        codes = _city_codes(tail, index, communes, fuzzy=True)
        if codes:
            return flat[: len(flat) - len(tail)], codes, tail
    for size in range(min(4, len(flat) - 1), 0, -1):
        tail = flat[-size:]
        head = [w for w in flat[:-size] if w not in STOPWORDS]
        if len(head) <= 1 and all(w in STREET_TYPES for w in head):
            continue  # "rue de Bondy": Bondy names the street ("voie promenade" is a street already)
        codes = _city_codes(tail, index, communes, fuzzy=size == 1 and len(tail[0]) >= 4)
        if codes:
            return flat[:-size], codes, tail
    return flat, set(), []


def _names_words(street: Street, words: list[str]) -> bool:
    """Every one of these words (or a close spelling) is in the street's name."""
    return all(any(_word_sim(w, sw, prefix=False) >= 0.8 for sw in street.words) for w in words)


def _city_codes(words: list[str], index: StreetIndex, communes: CommuneIndex, *, fuzzy: bool) -> set[str]:
    key = " ".join(words)
    if key in index.cities:
        return set(index.cities[key])
    found = {c.code for c in communes.by_key.get(key, [])}
    if found:
        return found
    if fuzzy and index.city_keys:
        match = process.extractOne(key, index.city_keys, scorer=fuzz.ratio, score_cutoff=80)
        if match:
            return set(index.cities[match[0]])
    return set()


def search(session: Session, pq: ParsedQuery, communes: CommuneIndex, *, limit: int = 5,
           autocomplete: bool = False) -> list[Candidate]:
    index = street_index(session)
    if not len(index):
        return []
    street_words, city_codes, city_words = _split_city(pq.words, index, communes)
    city_words = [w for w in city_words if w not in STOPWORDS]
    # The communes the query names, by name and/or postal code: both are written, a street in
    # either may be meant; when they agree, where they agree.
    wanted_codes: set[str] = set(city_codes)
    by_postcode: set[str] = set()
    if pq.postcode:
        by_postcode = index.postcodes.get(pq.postcode, set()) | communes.codes_for_postcode(pq.postcode)
        wanted_codes = (wanted_codes & by_postcode) or (wanted_codes | by_postcode)
    wanted_codes = communes.with_arrondissements(wanted_codes)
    significant = [part for w in street_words if w not in STOPWORDS for part in index.split_glued(w)]
    if not significant:
        return []
    # All the words, the commune's included: "Rue de Bondy" is named after one.
    full = [part for w in pq.words if w != "," and w not in STOPWORDS for part in index.split_glued(w)]
    # Candidate streets: those sharing words (or close spellings) with the query.
    hits: dict[int, float] = defaultdict(float)
    for position, word in enumerate(full):
        if len(word) == 1:
            continue  # initials are resolved when scoring
        is_last = position == len(full) - 1
        for matched, weight in index.word_matches(word, prefix=autocomplete and is_last):
            bonus = 0.3 if matched in STREET_TYPES else 1.0
            for i in index.postings[matched]:
                hits[i] += weight * bonus
    if not hits:
        return []
    pool = sorted(hits.items(), key=lambda x: -x[1])
    if wanted_codes:
        inside = [x for x in pool if index.streets[x[0]].code_insee in wanted_codes]
        pool = inside[:40] + [x for x in pool if index.streets[x[0]].code_insee not in wanted_codes][:10]
    else:
        pool = pool[:50]
    candidates = []
    for i, _ in pool:
        street = index.streets[i]
        sim = name_score(significant, street, prefix_last=autocomplete)
        whole = 0.9 * name_score(full, street, prefix_last=autocomplete) if len(full) > len(significant) else 0.0
        elsewhere = bool(wanted_codes) and street.code_insee not in wanted_codes
        if elsewhere and city_words and _names_words(street, city_words) and \
                (not by_postcode or street.code_insee in by_postcode):
            # The "commune" may be the end of this street's name ("12 avenue Thiers": Thiers is a
            # commune too); then no commune was written.
            sim, elsewhere = 0.8 * whole, False
        else:
            sim = max(sim, whole)
        if elsewhere:
            sim *= 0.6
        if sim > 0:
            found = _at_number(street, pq, sim)
            if elsewhere:
                for candidate in found:
                    candidate.elsewhere = True
                    candidate.note = "; ".join(filter(None, [candidate.note, f"voie de {street.city}, "
                                                             "pas dans la commune indiquée"]))
            candidates.extend(found)
    candidates.sort(key=lambda c: -c.score)
    return candidates[: max(limit * 2, 10)]


def _at_number(street: Street, pq: ParsedQuery, sim: float) -> list[Candidate]:
    base = dict(code_insee=street.code_insee, postcode=street.postcode, city=street.city, street=street.name,
                source="local")
    if pq.number is None:
        return [Candidate(label=street.label(), level="street", score=sim * 0.9, lon=street.lon, lat=street.lat,
                          extent=street.points, **base)]
    exact = street.numbers.get((pq.number, pq.rep))
    if exact and street.variants:
        for (numero, rep, spelling), position in street.variants.items():
            if (numero, rep) == (pq.number, pq.rep) and spelling in pq.folded:
                exact = position
    if exact:
        ban_id, lon, lat = exact
        return [Candidate(label=street.label(pq.number, pq.rep), level="housenumber", score=sim, lon=lon, lat=lat,
                          housenumber=f"{pq.number}{' ' + pq.rep if pq.rep else ''}", id=ban_id, **base)]
    same_number = street.by_number.get(pq.number)
    if same_number:
        # "12" when only "12 bis" exists, or "12 ter" when only "12": the building next door at most.
        rep, ban_id, lon, lat = sorted(same_number, key=lambda x: (x[0] is not None, x[0] or ""))[0]
        return [Candidate(label=street.label(pq.number, rep), level="housenumber", score=sim * 0.95, lon=lon,
                          lat=lat, housenumber=f"{pq.number}{' ' + rep if rep else ''}", id=ban_id, **base,
                          note=f"indice de répétition « {pq.rep or 'aucun'} » introuvable : numéro {pq.number}"
                               f"{' ' + rep if rep else ''} retenu")]
    if not street.by_number:
        return [Candidate(label=street.label(), level="street", score=sim * 0.85, lon=street.lon, lat=street.lat,
                          extent=street.points, **base,
                          note="voie sans numéros dans la base d'adresses : position de la voie")]
    # Unknown number: the nearest known number on the same side of the street, at street level.
    numbers = sorted(street.by_number)
    same_side = [n for n in numbers if n % 2 == pq.number % 2] or numbers
    nearest = min(same_side, key=lambda n: (abs(n - pq.number), n))
    rep, _ban_id, lon, lat = street.by_number[nearest][0]
    return [Candidate(label=f"{street.label()} (n° {pq.number} introuvable)", level="street", score=sim * 0.8,
                      lon=lon, lat=lat, extent=street.points, **base,
                      note=f"numéro {pq.number} absent de la base d'adresses : position du n° {nearest}")]
