"""The offline geocoder: BAN addresses imported into the project's database (`maillage import ban`).

The index is held in memory in compact arrays, built once per process and data version
(app.geocoding.cache: no request waits for it, none queries the database to check it):

- streets: the BAN's (commune, street name) grouped by their canonical words (spelling variants
  of one street are one street), sorted by commune, so that the streets of one commune are one
  contiguous range of street numbers;
- posting lists: for each canonical word, the sorted array of the streets holding it. A query
  naming a commune (by name or postal code) only looks at that commune's slice of each list
  (binary search), whatever the size of the file; without a commune the lists are summed with
  numpy and only the best streets are kept (no full sort);
- addresses: numpy arrays sorted by street, number and repetition index (number, index, lon, lat,
  spelling of the street, BAN id rebuilt from the street's id prefix when it follows the BAN
  pattern, kept apart otherwise) — about 25 bytes an address.

A query is parsed (app.geocoding.normalize), its commune found, candidate streets gathered through
the posting lists (typo-tolerant matching of unknown words by rapidfuzz against the vocabulary),
scored on the whole street name, the commune (postal code or name) and the house number, then
ranked.
"""

from __future__ import annotations

import bisect
from array import array
from collections import defaultdict

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA
from sqlalchemy import text
from sqlalchemy.orm import Session

from app import db
from app.geocoding.base import Candidate
from app.geocoding.cache import VersionedCache
from app.geocoding.communes import CommuneIndex, without_article
from app.geocoding.normalize import STOPWORDS, STREET_TYPES, ParsedQuery, canonical_tokens, fold

ADDRESS_VERSION_KEY = "address_version"
NO_NUMBER = -1
IN_COMMUNE_POOL = 40  # streets of the named commune(s) scored
ELSEWHERE_POOL = 10  # streets of other communes scored as suggestions
GLOBAL_POOL = 50  # streets scored when no commune is written
MAX_HOMONYMS = 300  # streets tied at the best match kept when no commune is written


class Street:
    """A view of one street of the index (built on demand for the streets a query scores)."""

    __slots__ = ("index", "i", "code_insee", "name", "city", "postcode", "words")

    def __init__(self, index: "StreetIndex", i: int):
        self.index, self.i = index, i
        commune = int(index.street_commune[i])
        self.code_insee = index.commune_codes[commune]
        self.city = index.commune_names[commune]
        self.name = index.street_names[i]
        self.postcode = index.street_postcodes[i]
        self.words = index.street_words[i]

    def label(self, numero=None, rep=None) -> str:
        head = f"{numero}{' ' + rep if rep else ''} " if numero is not None else ""
        return f"{head}{self.name} {self.postcode + ' ' if self.postcode else ''}{self.city}"

    @property
    def span(self) -> tuple[int, int]:
        return int(self.index.street_start[self.i]), int(self.index.street_start[self.i + 1])

    @property
    def lon(self) -> float:
        return float(self.index.street_lon[self.i])

    @property
    def lat(self) -> float:
        return float(self.index.street_lat[self.i])

    def points_of(self) -> list[tuple[float, float]]:
        a, b = self.span
        return list(zip(self.index.lon[a:b].tolist(), self.index.lat[a:b].tolist()))

    @property
    def has_numbers(self) -> bool:
        a, b = self.span
        return bool(b > a and self.index.numero[b - 1] != NO_NUMBER)


class StreetIndex:
    def __init__(self, session: Session, version: str | None):
        self.version = version
        raw_of: dict[tuple[str, str], int] = {}
        raw_keys: list[tuple[str, str]] = []
        raw_prefix: list[str | None] = []
        raw_postcodes: list[dict] = []
        city_of: dict[str, str] = {}
        reps: dict[str | None, int] = {None: 0}
        a_raw, a_num, a_rep = array("i"), array("i"), array("B")
        a_lon, a_lat = array("d"), array("d")
        exceptions: dict[int, str] = {}
        n = 0
        for ban_id, code, numero, rep, nom_voie, postcode, city, lon, lat in _address_rows(session):
            key = (code, nom_voie)
            r = raw_of.get(key)
            if r is None:
                r = raw_of[key] = len(raw_keys)
                raw_keys.append(key)
                raw_prefix.append(None)
                raw_postcodes.append(defaultdict(int))
                city_of.setdefault(code, city)
            raw_postcodes[r][postcode] += 1
            rep_code = reps.get(rep)
            if rep_code is None:
                rep_code = reps[rep] = len(reps)
            # BAN ids are "<commune>_<street>_<number:05d>[_<rep>]": kept as the street's prefix.
            if numero is None:
                exceptions[n] = ban_id
            else:
                tail = f"_{numero:05d}_{rep}" if rep else f"_{numero:05d}"
                prefix = raw_prefix[r]
                if prefix is None and ban_id.endswith(tail):
                    raw_prefix[r] = ban_id[: -len(tail)]
                elif prefix is None or len(ban_id) != len(prefix) + len(tail) or not ban_id.startswith(prefix) \
                        or not ban_id.endswith(tail):
                    exceptions[n] = ban_id
            a_raw.append(r)
            a_num.append(NO_NUMBER if numero is None else numero)
            a_rep.append(rep_code)
            a_lon.append(lon)
            a_lat.append(lat)
            n += 1
        self.rep_names: list[str | None] = [None] * len(reps)
        for rep, code in reps.items():
            self.rep_names[code] = rep
        self.raw_names = [k[1] for k in raw_keys]
        self.raw_prefix = raw_prefix
        # Streets: spelling variants of one commune's street ("Av du Mal de Lattre…" / "Avenue du
        # Mal de Lattre…") are one street; sorted by commune, then canonical name.
        canonical: dict[str, tuple[str, ...]] = {}
        groups: dict[tuple[str, str], list[int]] = {}
        for r, (code, nom_voie) in enumerate(raw_keys):
            tokens = canonical.get(nom_voie)
            if tokens is None:
                tokens = canonical[nom_voie] = tuple(canonical_tokens(nom_voie))
            groups.setdefault((code, " ".join(tokens)), []).append(r)
        ordered = sorted(groups)
        self.street_keys = [interned_key for _code, interned_key in ordered]  # canonical words, articles included
        raw_street = np.empty(len(raw_keys), dtype=np.int32)
        self.commune_codes: list[str] = []
        self.commune_names: list[str] = []
        commune_id: dict[str, int] = {}
        street_commune = np.empty(len(ordered), dtype=np.int32)
        raw_counts = np.bincount(np.frombuffer(a_raw, dtype=np.int32), minlength=len(raw_keys)) if n else \
            np.zeros(len(raw_keys), dtype=np.int64)
        self.street_names: list[str] = []
        self.street_words: list[tuple[str, ...]] = []
        self.street_postcodes: list[str | None] = []
        interned: dict[str, str] = {}
        for s, key in enumerate(ordered):
            code = key[0]
            c = commune_id.get(code)
            if c is None:
                c = commune_id[code] = len(self.commune_codes)
                self.commune_codes.append(code)
                self.commune_names.append(city_of[code])
            street_commune[s] = c
            members = groups[key]
            raw_street[members] = s
            # The spelling most addresses use, the longest on a tie (abbreviations lose).
            best = max(members, key=lambda m: (raw_counts[m], len(raw_keys[m][1]), raw_keys[m][1]))
            self.street_names.append(raw_keys[best][1])
            tokens = canonical[raw_keys[best][1]]
            self.street_words.append(tuple(interned.setdefault(t, t) for t in tokens if t not in STOPWORDS))
            counts: dict = defaultdict(int)
            for m in members:
                for postcode, k in raw_postcodes[m].items():
                    counts[postcode] += k
            self.street_postcodes.append(max(counts.items(), key=lambda kv: (kv[1], kv[0] or ""))[0])
        self.street_commune = street_commune
        self.commune_id = commune_id
        # Addresses sorted by street, number, repetition index.
        raws = np.frombuffer(a_raw, dtype=np.int32)
        numero = np.frombuffer(a_num, dtype=np.int32)
        rep = np.frombuffer(a_rep, dtype=np.uint8)
        street_of = raw_street[raws] if n else np.empty(0, dtype=np.int32)
        order = np.lexsort((rep, numero, street_of)) if n else np.empty(0, dtype=np.int64)
        self.numero = numero[order]
        self.rep = rep[order]
        self.raw = raws[order]
        self.lon = np.frombuffer(a_lon, dtype=np.float64)[order]
        self.lat = np.frombuffer(a_lat, dtype=np.float64)[order]
        position = np.empty(n, dtype=np.int64)
        position[order] = np.arange(n)
        self.id_exceptions = {int(position[k]): v for k, v in exceptions.items()}
        sorted_streets = street_of[order]
        self.street_start = np.searchsorted(sorted_streets, np.arange(len(ordered) + 1)).astype(np.int64)
        del a_raw, a_num, a_rep, a_lon, a_lat, street_of, sorted_streets, position, order
        # A street's position: the median of its addresses' longitudes and latitudes.
        counts = np.diff(self.street_start)
        low = self.street_start[:-1] + (counts - 1) // 2
        high = self.street_start[:-1] + counts // 2
        streets_sorted = np.repeat(np.arange(len(ordered)), counts)
        for axis in ("lon", "lat"):
            values = getattr(self, axis)
            by_value = np.lexsort((values, streets_sorted))
            setattr(self, f"street_{axis}", (values[by_value[low]] + values[by_value[high]]) / 2)
        del streets_sorted
        self.commune_start = np.searchsorted(street_commune, np.arange(len(self.commune_codes) + 1))
        postings: dict[str, list[int]] = defaultdict(list)
        self.postcodes: dict[str, set[str]] = defaultdict(set)
        self.cities: dict[str, set[str]] = defaultdict(set)  # folded nom_commune -> codes
        for s, words in enumerate(self.street_words):
            for word in dict.fromkeys(words):
                postings[word].append(s)
            code = self.commune_codes[street_commune[s]]
            if self.street_postcodes[s]:
                self.postcodes[self.street_postcodes[s]].add(code)
        for code, city in city_of.items():
            self.cities[fold(city)].add(code)
        for code, city in city_of.items():
            bare = without_article(fold(city))
            if bare not in self.cities or code in self.cities[bare]:
                self.cities[bare].add(code)  # "Raincy" for Le Raincy, after any commune named so
        self.postings = {w: np.asarray(ids, dtype=np.int32) for w, ids in postings.items()}
        self.vocabulary = sorted(self.postings)
        self.city_keys = list(self.cities)
        self.size = n

    def __len__(self) -> int:
        return len(self.street_names)

    def street(self, i: int) -> Street:
        return Street(self, i)

    def ban_id(self, k: int) -> str | None:
        known = self.id_exceptions.get(k)
        if known is not None:
            return known
        prefix = self.raw_prefix[self.raw[k]]
        if prefix is None:
            return None
        rep = self.rep_names[self.rep[k]]
        return f"{prefix}_{int(self.numero[k]):05d}" + (f"_{rep}" if rep else "")

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
            # One typo (a transposition counts as one) in any word of 3+ letters, two in words of 5+.
            for candidate, distance, _ in process.extract(word, self.vocabulary, scorer=OSA.distance,
                                                          score_cutoff=1 if len(word) < 5 else 2, limit=6):
                out.append((candidate, _word_sim(word, candidate, prefix=False)))
        return out

    def split_glued(self, word: str) -> list[str]:
        """Two index words typed without their space or hyphen ("saintlouis")."""
        if len(word) >= 8 and word not in self.postings:
            for i in range(3, len(word) - 2):
                if word[:i] in self.postings and word[i:] in self.postings:
                    return [word[:i], word[i:]]
        return [word]

    def streets_of(self, codes: set[str]) -> list[tuple[int, int]]:
        """Street number ranges of these communes."""
        out = []
        for code in codes:
            c = self.commune_id.get(code)
            if c is not None:
                out.append((int(self.commune_start[c]), int(self.commune_start[c + 1])))
        return out


_ADDRESS_SQL = "SELECT id, code_insee, numero, rep, nom_voie, code_postal, nom_commune, lon, lat FROM address"


def _address_rows(session: Session):
    """Every address, streamed: SQLite's own cursor (SQLAlchemy's row objects cost as much as the
    rest of the build); pages on PostgreSQL (millions of rows never held at once)."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        cursor = connection.connection.driver_connection.cursor()
        try:
            cursor.execute(_ADDRESS_SQL)
            while True:
                rows = cursor.fetchmany(20000)
                if not rows:
                    break
                yield from rows
        finally:
            cursor.close()
        return
    # PostgreSQL: pages in primary-key order (a server-side cursor needs a transaction, which
    # request sessions do not open; a client cursor would hold every row at once).
    last = ""
    while True:
        rows = session.execute(text(f"{_ADDRESS_SQL} WHERE id > :last ORDER BY id LIMIT 50000"),
                               {"last": last}).all()
        if not rows:
            return
        yield from rows
        last = rows[-1][0]


def _address_version(session: Session) -> str | None:
    return db.meta_value(session, ADDRESS_VERSION_KEY)


_CACHE = VersionedCache("adresses", _address_version, StreetIndex)


def street_index(session: Session) -> StreetIndex:
    return _CACHE.get(session)


def warm(engine) -> StreetIndex:
    """Build the address index of this engine now (a server does it before it listens)."""
    return _CACHE.warm(engine)


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
        elif distance == 2 and len(q) >= 5:
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
        # rue for avenue: a slip, still the best lead when the name matches — but less likely than
        # a dropped first name ("rue Boileau" is Rue Nicolas Boileau rather than Allée Boileau)
        factor = 0.8
    return score * factor


def _segments(words: list[str]) -> list[list[str]]:
    segments: list[list[str]] = [[]]
    for w in words:
        if w == ",":
            segments.append([])
        else:
            segments[-1].append(w)
    return [s for s in segments if s]


def _split_city(words: list[str], index: StreetIndex,
                communes: CommuneIndex) -> tuple[list[str], set[str], list[str]]:
    """Find the commune named in the query — at its end, or at its start ("Bondy 93140, 12 rue…");
    return the street words, its codes and the words naming it."""
    segments = _segments(words)
    if not segments:
        return [], set(), []
    flat = [w for s in segments for w in s]
    if len(segments) > 1 and not any(w in STREET_TYPES for w in segments[-1]):
        tail = segments[-1]
        codes = _city_codes(tail, index, communes, fuzzy=True)
        if codes:
            return flat[: len(flat) - len(tail)], codes, tail
    # Exact names first — at the end, then at the start — then close spellings: a misspelt match
    # of more words must not swallow the street's last word ("Paul Bert Aulnay-sous-Bois" is not
    # "bert aulnay…", "Auffreville-Brasseuil 78930, 47 rue René Char" is not in Chars), unless those
    # words are in no street ("L'lÎe-Saint-Denis" is L'Île-Saint-Denis, not Saint-Denis).
    last = segments[-1]

    def at_end(fuzzy: bool, longer_than: int = 0):
        for size in range(min(4, len(flat) - 1), longer_than, -1):
            tail = flat[-size:]
            head = [w for w in (flat[:-size] if size >= len(last) else last[:-size]) if w not in STOPWORDS]
            if len(head) <= 1 and all(w in STREET_TYPES for w in head):
                continue  # "rue de Bondy", "Saint-Denis, rue de Villetaneuse": the name is the street's
            if longer_than and any(w in index.postings for w in tail[:size - longer_than] if w not in STOPWORDS):
                continue
            key_length = sum(len(w) for w in tail)
            codes = _city_codes(tail, index, communes,
                                fuzzy=fuzzy and ((size == 1 and key_length >= 4) or key_length >= 6))
            if codes:
                return flat[:-size], codes, tail
        return None

    def at_start(fuzzy: bool):
        if len(segments) > 1 and not any(w in STREET_TYPES for w in segments[0]):
            codes = _city_codes(segments[0], index, communes, fuzzy=fuzzy)
            if codes:
                return flat[len(segments[0]):], codes, segments[0]
        for size in range(min(4, len(flat) - 2), 0, -1):
            if flat[size] in STREET_TYPES and not any(w in STREET_TYPES for w in flat[:size]):
                codes = _city_codes(flat[:size], index, communes, fuzzy=fuzzy and sum(map(len, flat[:size])) >= 6)
                if codes:
                    return flat[size:], codes, flat[:size]
        return None

    exact = at_end(False)
    if exact:
        return at_end(True, longer_than=len(exact[2])) or exact
    found = at_start(False) or at_end(True) or at_start(True)
    if found:
        return found
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
    if fuzzy and index.city_keys and len(key) >= 4:
        match = process.extractOne(key, index.city_keys, scorer=fuzz.ratio, score_cutoff=80 if len(words) == 1 else 86)
        if match:
            return set(index.cities[match[0]])
    return set()


def _gather_in(index: StreetIndex, matches: list[tuple[str, float]], ranges: list[tuple[int, int]]) -> dict:
    """Streets of these ranges holding a matched word, with the sum of the words' weights: each
    posting list is only read in each commune's slice."""
    hits: dict[int, float] = defaultdict(float)
    for word, weight in matches:
        posting = index.postings[word]
        for a, b in ranges:
            lo, hi = np.searchsorted(posting, (a, b))
            for s in posting[lo:hi].tolist():
                hits[s] += weight
    return hits


def _gather_all(index: StreetIndex, matches: list[tuple[str, float]], pool: int, ties: int) -> list[int]:
    """The best streets of the whole index for these words, ties at the best score kept (homonyms:
    the same street name in several communes), with numpy and a partial selection."""
    if not matches:
        return []
    arrays = [index.postings[w] for w, _ in matches]
    ids = np.concatenate(arrays)
    weights = np.repeat(np.array([w for _, w in matches]), [len(a) for a in arrays])
    streets, inverse = np.unique(ids, return_inverse=True)
    sums = np.bincount(inverse, weights=weights)
    if len(streets) > pool:
        top = np.argpartition(-sums, pool - 1)[:pool]
        best = sums.max()
        tied = np.flatnonzero(sums >= best - 1e-9)
        if len(tied) > pool:
            top = tied[:ties]
    else:
        top = np.arange(len(streets))
    top = top[np.argsort(-sums[top], kind="stable")]
    return streets[top].tolist()


def search(session: Session, pq: ParsedQuery, communes: CommuneIndex, *, limit: int = 5,
           autocomplete: bool = False) -> list[Candidate]:
    index = street_index(session)
    if not len(index):
        return []
    street_words, city_codes, city_words = _split_city(pq.words, index, communes)
    city_words = [w for w in city_words if w not in STOPWORDS]
    city_codes = communes.with_arrondissements(city_codes)
    # The communes the query names, by name and/or postal code: both are written, a street in
    # either may be meant; when they agree, where they agree.
    wanted_codes: set[str] = set(city_codes)
    by_postcode: set[str] = set()
    disagree = False
    if pq.postcode:
        by_postcode = communes.with_arrondissements(index.postcodes.get(pq.postcode, set())
                                                    | communes.codes_for_postcode(pq.postcode))
        if wanted_codes and by_postcode and not wanted_codes & by_postcode:
            disagree = True
        wanted_codes = (wanted_codes & by_postcode) or (wanted_codes | by_postcode)
    significant = [part for w in street_words if w not in STOPWORDS for part in index.split_glued(w)]
    if not significant:
        return []
    written = " ".join(street_words)  # the street as written, articles included, canonical
    # All the words, the commune's included: "Rue de Bondy" is named after one.
    full = [part for w in pq.words if w != "," and w not in STOPWORDS for part in index.split_glued(w)]
    # The street's type (its first word) names no street: gather on the other words (types weigh in
    # the scoring; "Avenue du Port" keeps "port").
    skip = {significant[0]} if significant[0] in STREET_TYPES and len(significant) > 1 else set()
    gather_words = [w for w in full if len(w) > 1 and w not in skip] or [w for w in full if len(w) > 1]
    matches: dict[str, float] = {}
    last = len(full) - 1
    for word in gather_words:
        is_last = full.index(word) == last
        for matched, weight in index.word_matches(word, prefix=autocomplete and is_last):
            matches[matched] = max(matches.get(matched, 0.0), weight)
    match_list = list(matches.items())
    if not match_list:
        return []
    pool: list[int] = []
    if wanted_codes:
        hits = _gather_in(index, match_list, index.streets_of(wanted_codes))
        inside = sorted(hits, key=lambda s: (-hits[s], s))[:IN_COMMUNE_POOL]
        pool = inside
        scored = _score_streets(index, inside, significant, full, autocomplete, written)
        best_inside = max((sim for _, sim, _ in scored), default=0.0)
        if best_inside < 0.95:
            # Not (well) found where the query says: other communes' streets, as suggestions.
            outside = [s for s in _gather_all(index, match_list, IN_COMMUNE_POOL, IN_COMMUNE_POOL)
                       if index.commune_codes[index.street_commune[s]] not in wanted_codes]
            scored += _score_streets(index, outside[:ELSEWHERE_POOL], significant, full, autocomplete, written)
    else:
        pool = _gather_all(index, match_list, GLOBAL_POOL, MAX_HOMONYMS)
        scored = _score_streets(index, pool, significant, full, autocomplete, written)
    candidates = []
    doubt = None
    if disagree:
        named = ", ".join(sorted({index.commune_names[index.commune_id[c]] for c in city_codes
                                  if c in index.commune_id} or {" ".join(city_words)}))
        doubt = f"le code postal {pq.postcode} n'est pas celui de {named}"
    scored.sort(key=lambda x: -x[1])
    keep = [x for x in scored if x[1] > 0]
    top = keep[0][1] if keep else 0.0
    # Every street within reach of the best (homonyms), and the next ones for suggestions.
    keep = [x for x in keep if x[1] >= top - 0.05][:MAX_HOMONYMS] + \
        [x for x in keep if x[1] < top - 0.05][:limit]
    for street, sim, whole in keep:
        code = street.code_insee
        elsewhere = bool(wanted_codes) and code not in wanted_codes
        if elsewhere and city_words and _names_words(street, city_words) and \
                (not by_postcode or code in by_postcode):
            # The "commune" may be the end of this street's name ("12 avenue Thiers": Thiers is a
            # commune too); then no commune was written.
            sim, elsewhere = 0.8 * whole, False
        if elsewhere:
            sim *= 0.6
        note = None
        if disagree and not elsewhere:
            # The postal code or the commune is mistyped: the commune written in full is trusted
            # more (a digit slips more easily than a name), the answer is to confirm.
            if code not in city_codes:
                sim *= 0.9
            note = doubt
        if sim <= 0:
            continue
        found = _at_number(index, street, pq, sim)
        for candidate in found:
            if elsewhere:
                candidate.elsewhere = True
                candidate.note = "; ".join(filter(None, [candidate.note, f"voie de {street.city}, "
                                                         "pas dans la commune indiquée"]))
            elif note:
                candidate.doubt = note
        candidates.extend(found)
    candidates.sort(key=lambda c: -c.score)
    return candidates


def _score_streets(index: StreetIndex, ids: list[int], significant: list[str], full: list[str],
                   autocomplete: bool, written: str = "") -> list[tuple[Street, float, float]]:
    out = []
    for i in ids:
        street = index.street(i)
        sim = name_score(significant, street, prefix_last=autocomplete)
        if sim >= 0.95 and written and index.street_keys[i] != written:
            sim *= 0.96  # "Rue Fontaine" and "Rue de la Fontaine": the articles written decide
        whole = 0.9 * name_score(full, street, prefix_last=autocomplete) if len(full) > len(significant) else 0.0
        out.append((street, max(sim, whole), whole))
    return out


def _at_number(index: StreetIndex, street: Street, pq: ParsedQuery, sim: float) -> list[Candidate]:
    base = dict(code_insee=street.code_insee, postcode=street.postcode, city=street.city, street=street.name,
                source="local")
    if pq.number is None:
        return [Candidate(label=street.label(), level="street", score=sim * 0.9, lon=street.lon, lat=street.lat,
                          extent_of=street.points_of, **base)]
    a, b = street.span
    numbers = index.numero[a:b]
    lo, hi = np.searchsorted(numbers, (pq.number, pq.number + 1))
    same_number = list(range(a + int(lo), a + int(hi)))
    if same_number:
        exact = [k for k in same_number if index.rep_names[index.rep[k]] == pq.rep]
        if len(exact) > 1:
            # The same number under two spellings of the street: the one written wins, accents
            # included ("Jean Jaurès" and "Jean Jaurés" are two streets of some communes).
            names = {k: index.raw_names[index.raw[k]] for k in exact}
            typed = set(pq.lowered.replace("'", " ").split())
            written = [k for k in exact if set(names[k].lower().replace("’", " ").replace("'", " ").split()[1:])
                       <= typed] or [k for k in exact if fold(names[k]) in pq.folded]
            exact = written or exact
        if exact:
            k = exact[0]
            return [Candidate(label=street.label(pq.number, pq.rep), level="housenumber", score=sim,
                              lon=float(index.lon[k]), lat=float(index.lat[k]),
                              housenumber=f"{pq.number}{' ' + pq.rep if pq.rep else ''}", id=index.ban_id(k), **base)]
        # "12" when only "12 bis" exists, or "12 ter" when only "12": the building next door at most.
        k = min(same_number, key=lambda k: (index.rep[k] != 0, index.rep_names[index.rep[k]] or ""))
        rep = index.rep_names[index.rep[k]]
        return [Candidate(label=street.label(pq.number, rep), level="housenumber", score=sim * 0.95,
                          lon=float(index.lon[k]), lat=float(index.lat[k]),
                          housenumber=f"{pq.number}{' ' + rep if rep else ''}", id=index.ban_id(k), **base,
                          note=f"indice de répétition « {pq.rep or 'aucun'} » introuvable : numéro {pq.number}"
                               f"{' ' + rep if rep else ''} retenu")]
    if not street.has_numbers:
        return [Candidate(label=street.label(), level="street", score=sim * 0.85, lon=street.lon, lat=street.lat,
                          extent_of=street.points_of, **base,
                          note="voie sans numéros dans la base d'adresses : position de la voie")]
    # Unknown number: the nearest known number on the same side of the street, at street level.
    valid = numbers[numbers != NO_NUMBER]
    same_side = valid[valid % 2 == pq.number % 2]
    if not len(same_side):
        same_side = valid
    nearest = int(same_side[np.argmin(np.abs(same_side - pq.number) * 2 + (same_side > pq.number))])
    k = a + int(np.searchsorted(numbers, nearest))
    return [Candidate(label=f"{street.label()} (n° {pq.number} introuvable)", level="street", score=sim * 0.8,
                      lon=float(index.lon[k]), lat=float(index.lat[k]), extent_of=street.points_of, **base,
                      note=f"numéro {pq.number} absent de la base d'adresses : position du n° {nearest}")]
