"""Normalising French addresses as people type them.

`fold` makes text comparable (case, accents, punctuation, ligatures); `canonical_tokens` also
expands the usual abbreviations (av → avenue, st → saint, gal → general…) and is applied to both
the query and the reference street names, so "Av. du Gal de Gaulle" and "Avenue du Général de
Gaulle" meet. `parse` splits a query into house number, repetition index, postal code and the
remaining words, dropping what does not locate a building: "Appt 12", "Bât B", "Esc. 3", "2e étage",
"Résidence Les Lilas", "CEDEX 12", "BP 45".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

_SPECIAL = str.maketrans({"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ß": "ss", "’": " ", "'": " ", "`": " ",
                          "-": " ", "_": " ", "/": " ", ".": " ", ",": " , ", ";": " , ", "°": " "})
_NON_WORD = re.compile(r"[^a-z0-9, ]+")
_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """Lower case, no accents, letters/digits/commas only, single spaces."""
    text = text.translate(_SPECIAL)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = _NON_WORD.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


# Abbreviations → canonical word. Street types first, then titles and common words of names.
ABBREVIATIONS = {
    "av": "avenue", "ave": "avenue", "aven": "avenue", "avn": "avenue",
    "bd": "boulevard", "bld": "boulevard", "blvd": "boulevard", "bvd": "boulevard", "boul": "boulevard",
    "bou": "boulevard", "r": "rue", "pl": "place", "pla": "place", "all": "allee", "al": "allee",
    "ch": "chemin", "chem": "chemin", "che": "chemin", "imp": "impasse", "sq": "square", "rte": "route",
    "fg": "faubourg", "fbg": "faubourg", "faub": "faubourg", "crs": "cours", "qu": "quai", "qua": "quai",
    "pass": "passage", "psg": "passage", "sent": "sentier", "sen": "sentier", "prom": "promenade",
    "lot": "lotissement", "carr": "carrefour", "rpt": "rond point", "vla": "villa", "ham": "hameau",
    "hle": "hameau", "mte": "montee", "esp": "esplanade", "tra": "traverse", "trav": "traverse",
    "ld": "lieu dit", "cite": "cite", "res": "residence", "resid": "residence", "zi": "zone industrielle",
    "za": "zone artisanale", "st": "saint", "ste": "sainte", "sts": "saints", "stes": "saintes",
    "gal": "general", "gen": "general", "gl": "general", "mal": "marechal", "mar": "marechal",
    "pdt": "president", "pres": "president", "cdt": "commandant", "cmdt": "commandant",
    "lt": "lieutenant", "lieut": "lieutenant", "cne": "capitaine", "cap": "capitaine", "col": "colonel",
    "adj": "adjudant", "sgt": "sergent", "dr": "docteur", "doc": "docteur", "pr": "professeur",
    "prof": "professeur", "mgr": "monseigneur", "nd": "notre dame", "gd": "grand", "gde": "grande",
    "gr": "grand", "pt": "petit", "pte": "petite", "vx": "vieux", "vve": "veuve", "fr": "freres",
    "mme": "madame", "mlle": "mademoiselle",
}
STREET_TYPES = frozenset({
    "rue", "avenue", "boulevard", "place", "allee", "chemin", "impasse", "square", "route", "faubourg",
    "cours", "quai", "passage", "sentier", "promenade", "lotissement", "carrefour", "rond", "villa", "hameau",
    "montee", "esplanade", "traverse", "cite", "residence", "voie", "sente", "ruelle", "parvis", "mail",
    "galerie", "pont", "port", "parc", "domaine", "clos", "cour", "rampe", "chaussee", "rocade", "venelle",
    "ruelle", "jardin", "jardins", "hameau", "lieu", "zone", "tour", "porte",
})
STOPWORDS = frozenset({"de", "du", "des", "la", "le", "les", "l", "d", "et", "a", "au", "aux", "en", "sur", "sous"})
REPETITIONS = {"bis": "bis", "b": "b", "ter": "ter", "t": "t", "quater": "quater", "qua": "quater",
               "quinquies": "quinquies", "c": "c", "a": "a", "d": "d", "e": "e", "f": "f"}
_NUMBER = re.compile(r"^(\d{1,4})(bis|ter|quater|quinquies|[a-z])?$")
_POSTCODE = re.compile(r"^\d{5}$")
_INSEE = re.compile(r"^(?:\d{5}|2[ab]\d{3})$")
_ORDINAL = re.compile(r"^\d{1,2}(e|eme|er|ere|nd|nde)$")

# Keywords introducing a part of the address that locates a flat, not a building: the keyword and
# its short value ("appt 12", "bat b", "esc 3", "porte 4") are dropped.
_FLAT_KEYS = frozenset({"appt", "apt", "app", "appart", "appartement", "logement", "lgt", "log", "bat", "batiment",
                        "bt", "bloc", "esc", "escalier", "etage", "etg", "boite", "bal", "chambre", "cedex",
                        "bp", "cs", "tsa"})
_BUILDING_KEYS = frozenset({"residence", "res", "immeuble", "imm", "hlm", "tour", "foyer", "batiment"})


@dataclass
class ParsedQuery:
    folded: str  # the whole query, folded, abbreviations as typed
    lowered: str = ""  # the whole query in lower case, accents kept: to tell "Jaurès" from "Jaurés"
    number: int | None = None
    rep: str | None = None
    postcode: str | None = None
    words: list[str] = field(default_factory=list)  # canonical tokens, commas kept as ","


def _expand(tokens: list[str]) -> list[str]:
    """Abbreviations expanded (multi-word expansions split)."""
    out: list[str] = []
    for token in tokens:
        expansion = ABBREVIATIONS.get(token)
        if expansion and out[-1:] == ["l"] and token in ("st", "ste"):
            expansion = None  # "de l'st": an elided article never precedes "saint" — a typo ("l'Est")
        out.extend(expansion.split() if expansion else [token])
    return out


def canonical_tokens(text: str) -> list[str]:
    """Folded tokens with abbreviations expanded: what queries and street names are compared on."""
    return _expand(fold(text).split())


def _is_rep(token: str) -> bool:
    """A repetition index written apart from its number: bis, ter, quater… or a single letter."""
    return token not in STREET_TYPES and (token in REPETITIONS or (len(token) == 1 and token.isalpha()))


def _value_like(token: str) -> bool:
    return token.isdigit() or len(token) <= 3 or bool(_ORDINAL.match(token))


def parse(text: str) -> ParsedQuery:
    """Split an address query into number, repetition index, postal code and words."""
    pq = ParsedQuery(folded=fold(text), lowered=" ".join(text.lower().replace("’", "'").split()))
    raw_tokens = pq.folded.split()
    # 1. Flat-level noise: keyword + short value, ordinals before "etage", CEDEX codes.
    tokens: list[str] = []
    i = 0
    while i < len(raw_tokens):
        token = raw_tokens[i]
        nxt = raw_tokens[i + 1] if i + 1 < len(raw_tokens) else None
        if token == "rez" and raw_tokens[i + 1:i + 3] == ["de", "chaussee"]:
            i += 3
            continue
        if token == "rdc":
            i += 1
            continue
        if _ORDINAL.match(token) and nxt in ("etage", "etg"):
            i += 2
            continue
        if token in _FLAT_KEYS and nxt is not None and _value_like(nxt):
            i += 2  # "cedex 12", "appt 12", "bat b", "esc 3"
            continue
        if token in ("appt", "apt", "appartement", "etage", "cedex", "bat", "batiment", "esc", "escalier"):
            i += 1
            continue
        if token in ("porte", "pte") and nxt is not None and nxt.isdigit() and len(nxt) <= 3 \
                and not (tokens and tokens[-1] in STOPWORDS):
            i += 2  # "porte 4" (a door), not "rue de la Porte"
            continue
        if token in ("n", "no", "num", "numero") and nxt is not None and _NUMBER.match(nxt):
            i += 1  # "n° 12": keep the number
            continue
        tokens.append(token)
        i += 1
    # 2. Postal code: a 5-digit token (the last one); "CEDEX" codes were dropped above.
    for j in range(len(tokens) - 1, -1, -1):
        if _POSTCODE.match(tokens[j]):
            pq.postcode = tokens.pop(j)
            break
    # "Paris 13e", "Paris 13", "Lyon 2eme", "Marseille 1er": the arrondissement, as its postal code.
    tokens, arrondissement = _arrondissement(tokens)
    if arrondissement and pq.postcode is None:
        pq.postcode = arrondissement
    # 3. House number: the number right before a street type wins ("appt 12 5 rue…" → 5), else the
    #    first number followed by a word. Attached or separate repetition index.
    expanded = _expand(tokens)
    number_at = None
    for j, token in enumerate(expanded):
        if _NUMBER.match(token):
            k = j + 1
            if k < len(expanded) and (_is_rep(expanded[k]) or expanded[k] == ","):
                k += 1
            if k < len(expanded) and expanded[k] in STREET_TYPES:
                number_at = j
    if number_at is not None and number_at > 0 and _NUMBER.match(expanded[number_at - 1]) \
            and (number_at == 1 or expanded[number_at - 2] == ","):
        number_at -= 1  # "67 14 juillet": the house number comes first, "14" is the street's
    if number_at is None:
        for j, token in enumerate(expanded):
            following = [t for t in expanded[j + 1:] if t != ","]
            if _NUMBER.match(token) and following and not following[0].isdigit():
                number_at = j
                break
    if number_at is not None:
        m = _NUMBER.match(expanded[number_at])
        pq.number, pq.rep = int(m.group(1)), m.group(2)
        drop = [number_at]
        nxt = expanded[number_at + 1] if number_at + 1 < len(expanded) else None
        if pq.rep is None and nxt is not None and _is_rep(nxt):
            rest = [t for t in expanded[number_at + 2:] if t != ","]
            after = rest[0] if rest else None
            # "12 bis …", "12 b rue …"; a lone letter counts only before a street type
            if len(nxt) > 1 or after in STREET_TYPES:
                pq.rep = REPETITIONS.get(nxt, nxt)
                drop.append(number_at + 1)
        # 4. Building noise before the number ("residence les lilas 5 rue…"): drop what precedes it
        #    when it starts with a building keyword.
        head = expanded[:number_at]
        if head and head[0] in _BUILDING_KEYS:
            drop += list(range(number_at))
        dropped = set(drop)
        expanded = [t for j, t in enumerate(expanded) if j not in dropped]
    pq.words = [t for t in expanded if t]
    # Commas at the ends carry nothing.
    while pq.words and pq.words[0] == ",":
        pq.words.pop(0)
    while pq.words and pq.words[-1] == ",":
        pq.words.pop()
    return pq


# City → (number of arrondissements, postal code of the n-th).
_ARRONDISSEMENTS = {"paris": (20, lambda n: f"750{n:02d}"), "lyon": (9, lambda n: f"6900{n}"),
                    "marseille": (16, lambda n: f"130{n:02d}")}
_ARR_NUMBER = re.compile(r"^(\d{1,2})(e|eme|er|ere|i?eme)?$")


def _arrondissement(tokens: list[str]) -> tuple[list[str], str | None]:
    """[…, "paris", "13e"] at the end of the query (or before a comma, or before
    "arrondissement") → [… "paris"] and "75013"."""
    for j in range(len(tokens) - 1):
        city = _ARRONDISSEMENTS.get(tokens[j])
        m = _ARR_NUMBER.match(tokens[j + 1]) if city else None
        if not m:
            continue
        n = int(m.group(1))
        after = tokens[j + 2:]
        if after[:1] in (["arrondissement"], ["arr"], ["ardt"]):
            after = after[1:]
        if 1 <= n <= city[0] and (not after or after[0] == ","):
            return tokens[:j + 1] + after, city[1](n)
    return tokens, None


def looks_like_insee(token: str) -> bool:
    return bool(_INSEE.match(token))
