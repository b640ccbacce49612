"""A second, independent generator of noisy address queries (generator "B").

Written apart from bench/geocode_bench.py's generator ("A") on purpose: a benchmark scored on the
generator the geocoder was tuned against says little (the last round scored 100 % on A and 97.6 %
on an independent set of the same kinds). B makes other choices at every step:

- typos follow an AZERTY keyboard: a neighbouring key instead of the right one, a key pressed
  twice or next to the right one, a letter left out, two letters swapped — anywhere after the
  first letter, in any word of 4 letters or more (A: 5+, fixed vowel set, never the last letter);
- abbreviations from another list, with and without their dot ("bvd", "r.", "Gl", "Cdt");
- kinds A has not: a mistyped postal code (another real postal code of the file when one is a
  digit away, else any digit changed) with the commune written, two typos, no street type, a
  first name or word dropped, an initial without its dot, a misspelt commune, the commune written
  first, everything lower case without accents or apostrophes.

Each query carries the BAN row it was made from (id, position, commune) and its kind.
"""

from __future__ import annotations

import random
import unicodedata

KINDS_B = ["lower_flat", "postcode_typo", "double_typo", "no_street_type", "word_drop", "initial_nodot",
           "city_typo", "commune_first", "abbrev_b", "no_commune"]

_AZERTY = ["azertyuiop", "qsdfghjklm", "wxcvbn"]
_NEIGHBOURS: dict[str, str] = {}
for _r, _row in enumerate(_AZERTY):
    for _c, _k in enumerate(_row):
        near = []
        for dr in (-1, 0, 1):
            rr = _r + dr
            if 0 <= rr < len(_AZERTY):
                for dc in (-1, 0, 1):
                    cc = _c + dc
                    if (dr or dc) and 0 <= cc < len(_AZERTY[rr]):
                        near.append(_AZERTY[rr][cc])
        _NEIGHBOURS[_k] = "".join(near)

_ABBREV_B = {"rue": ["r.", "R"], "avenue": ["Av", "avn", "AV."], "boulevard": ["bvd", "bld", "Bd."],
             "place": ["pl.", "PL"], "impasse": ["imp.", "Imp"], "allée": ["all.", "al"], "allee": ["all."],
             "chemin": ["ch.", "chem."], "square": ["sq."], "route": ["rte."], "passage": ["pass."],
             "saint": ["St", "st."], "sainte": ["Ste"], "général": ["Gl", "gal."], "maréchal": ["Mal."],
             "commandant": ["Cdt"], "docteur": ["Dr."], "professeur": ["Pr"], "président": ["Pdt."]}
_TYPES = {"rue", "avenue", "boulevard", "place", "impasse", "allée", "allee", "chemin", "square", "route",
          "passage", "villa", "sentier", "sente", "cité", "cite", "voie", "quai", "cours", "square", "promenade",
          "résidence", "residence", "rond-point", "ruelle", "mail", "parvis"}
_LINKS = {"de", "du", "des", "la", "le", "les", "d'", "l'", "d’", "l’", "et", "à", "au", "aux"}


def _plain(text: str) -> str:
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return text.replace("’", " ").replace("'", " ").replace("-", " ").lower()


def keyboard_typo(word: str, rng: random.Random) -> str:
    """One slip of the fingers, after the first letter."""
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word))
    ch = word[i].lower()
    kind = rng.choice(["near", "near", "skip", "swap", "extra"])
    if kind == "near" and ch in _NEIGHBOURS:
        return word[:i] + rng.choice(_NEIGHBOURS[ch]) + word[i + 1:]
    if kind == "extra" and ch in _NEIGHBOURS:
        return word[:i] + rng.choice(_NEIGHBOURS[ch] + ch) + word[i:]
    if kind == "swap" and i < len(word) - 1:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return word[:i] + word[i + 1:]


def _name_words(street: str) -> list[int]:
    """Positions of the words that carry the street's name (not its type, not the links)."""
    words = street.split()
    return [i for i, w in enumerate(words) if i > 0 and w.lower() not in _LINKS and not w.isdigit() and len(w) >= 4]


def _postcode_typo(postcode: str, postcodes: list[str], rng: random.Random) -> str:
    near = [p for p in postcodes if p != postcode and sum(a != b for a, b in zip(p, postcode)) == 1]
    if near and rng.random() < 0.7:
        return rng.choice(near)  # the worst case: a real postal code, of another commune
    i = rng.randrange(2, 5)
    digit = rng.choice([d for d in "0123456789" if d != postcode[i]])
    return postcode[:i] + digit + postcode[i + 1:]


def make_b(row: dict, kind: str, rng: random.Random, postcodes: list[str]) -> str | None:
    number = row["numero"] + (row["rep"] if row["rep"] and rng.random() < 0.5 else
                              (" " + row["rep"] if row["rep"] else ""))
    street, postcode, city = row["nom_voie"], row["code_postal"], row["nom_commune"]
    words = street.split()
    if kind == "lower_flat":
        return _plain(f"{number} {street} {postcode} {city}")
    if kind == "postcode_typo":
        return f"{number} {street} {_postcode_typo(postcode, postcodes, rng)} {city}"
    if kind == "double_typo":
        spots = _name_words(street)
        if not spots:
            return None
        if len(spots) >= 2:
            for i in rng.sample(spots, 2):
                words[i] = keyboard_typo(words[i], rng)
        else:
            i = spots[0]
            if len(words[i]) < 7:
                return None
            words[i] = keyboard_typo(keyboard_typo(words[i], rng), rng)
        return f"{number} {' '.join(words)} {city}"
    if kind == "no_street_type":
        if words[0].lower() not in _TYPES or len(words) < 2:
            return None
        rest = words[1:]
        if rest and rest[0].lower() in _LINKS and len(rest) > 1:
            rest = rest[1:]
        return f"{number} {' '.join(rest)} {postcode} {city}"
    if kind == "word_drop":
        spots = _name_words(street)
        if len(spots) < 2:
            return None
        drop = rng.choice(spots[:-1])  # a first name or a title, rarely the surname
        return f"{number} {' '.join(w for i, w in enumerate(words) if i != drop)} {city}"
    if kind == "initial_nodot":
        spots = _name_words(street)
        if len(spots) < 2 or not words[spots[0]][:1].isupper():
            return None
        words[spots[0]] = words[spots[0]][0]
        return f"{number} {' '.join(words)} {postcode}"
    if kind == "city_typo":
        parts = city.split()
        j = max(range(len(parts)), key=lambda k: len(parts[k]))
        if len(parts[j]) < 5:
            return None
        parts[j] = keyboard_typo(parts[j], rng)
        return f"{number} {street} {' '.join(parts)}"
    if kind == "commune_first":
        return f"{city} {postcode}, {number} {street}"
    if kind == "abbrev_b":
        changed = [rng.choice(_ABBREV_B[w.lower()]) if w.lower() in _ABBREV_B else w for w in words]
        if changed == words:
            return None
        return f"{number} {' '.join(changed)} {postcode} {city}"
    if kind == "no_commune":
        return _plain(f"{number} {street}") if rng.random() < 0.5 else f"{number} {street}"
    raise ValueError(kind)


def generate_b(rows: list[dict], per_kind: int, seed: int) -> list[dict]:
    rng = random.Random(seed * 7919 + 1)
    postcodes = sorted({r["code_postal"] for r in rows if r["code_postal"]})
    numbered = [r for r in rows if r["numero"] != "99999"]
    out = []
    for kind in KINDS_B:
        made = tries = 0
        while made < per_kind and tries < per_kind * 60:
            tries += 1
            row = rng.choice(numbered)
            q = make_b(row, kind, rng, postcodes)
            if q:
                out.append({"kind": kind, "q": q, "id": row["id"], "lon": float(row["lon"]), "lat": float(row["lat"]),
                            "code_insee": row["code_insee"], "street": row["nom_voie"]})
                made += 1
    return out
