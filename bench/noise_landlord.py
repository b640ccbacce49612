"""A third noise generator ("C"): how a landlord's housing-stock export gets addresses wrong.

Written apart from bench/geocode_bench.py ("A") and bench/noise_b.py ("B"), and not tuned on the
geocoder: its kinds and shares come from what landlords' information systems export, not from
what the geocoder handles. Each row keeps its split columns (number, street line, postal code,
commune), as such exports do:

- upper case, accents kept or dropped (systems export "RUE DE L'EGLISE");
- the street type abbreviated the landlords' way ("AV", "BD", "R", "ALL", "IMP", "CHE", "PL",
  "SQ", "RTE", "CRS", "QU", "PASS", "SENT"), with or without a dot;
- the building, staircase, flat or residence written in the street line ("BAT C ESC 2", "APPT 34",
  "RES LES TILLEULS", "LOGT 12") before or after the street;
- one typo anywhere (a letter replaced by any letter, left out or doubled: no keyboard model);
- the postal code missing, or the commune missing, or the postal code of another commune of the
  département;
- the repetition index glued or spelt out ("12B", "12 BIS");
- the street type left out;
- spaces doubled, a trailing comma.

Shares: about half the rows come out clean (upper case at most); the rest get one or two of the
above. Each row carries the BAN row it was made from.
"""

from __future__ import annotations

import random
import unicodedata

TYPES_C = {"rue": ["R", "R.", "RUE"], "avenue": ["AV", "AV.", "AVE"], "boulevard": ["BD", "BLD", "BD."],
           "allee": ["ALL", "ALL.", "ALLEE"], "impasse": ["IMP", "IMP."], "chemin": ["CHE", "CHEM"],
           "place": ["PL", "PL."], "square": ["SQ", "SQ."], "route": ["RTE"], "cours": ["CRS"], "quai": ["QU", "QUAI"],
           "passage": ["PASS", "PAS"], "sente": ["SENT", "STE"], "villa": ["VLA"], "residence": ["RES"]}
FLAT_C = ["BAT {b}", "BAT {b} ESC {n}", "ESC {n}", "APPT {k}", "LOGT {k}", "RES LES {r}", "ENTREE {n}", "BAT {b} APT {k}"]
RESIDENCES = ["TILLEULS", "PEUPLIERS", "LILAS", "ACACIAS", "MARRONNIERS", "CEDRES", "ERABLES", "PINS"]


def _plain(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word))
    how = rng.random()
    if how < 0.4:
        return word[:i] + rng.choice("abcdefghijklmnopqrstuvwxyz") + word[i + 1:]
    if how < 0.7:
        return word[:i] + word[i + 1:]
    return word[:i] + word[i] + word[i:]


def noisy_row(row: dict, rng: random.Random, postcodes: list[str]) -> tuple[dict, list[str]]:
    """The row's split columns as a landlord's export writes them, and the kinds of noise applied."""
    number = row["numero"]
    rep = (row.get("rep") or "").strip()
    street = row["nom_voie"]
    postcode, city = row["code_postal"], row["nom_commune"]
    kinds: list[str] = []
    upper = rng.random() < 0.6
    if upper:
        street, city = street.upper(), city.upper()
        if rng.random() < 0.6:
            street, city = _plain(street), _plain(city)
            kinds.append("upper_plain")
        else:
            kinds.append("upper")
    draws = rng.random()
    extra = 0 if draws < 0.5 else (1 if draws < 0.9 else 2)
    options = ["abbrev", "flat", "typo", "no_postcode", "no_city", "other_postcode", "rep", "no_type", "spaces"]
    weights = [30, 20, 12, 8, 6, 3, 8, 5, 8]
    for kind in set(rng.choices(options, weights, k=extra)):
        words = street.split()
        if kind == "abbrev" and words:
            key = _plain(words[0]).lower()
            if key in TYPES_C:
                words[0] = rng.choice(TYPES_C[key])
                street = " ".join(words)
        elif kind == "flat":
            flat = rng.choice(FLAT_C).format(b=rng.choice("ABCDEFG"), n=rng.randint(1, 6), k=rng.randint(1, 120),
                                             r=rng.choice(RESIDENCES))
            street = f"{flat} {street}" if rng.random() < 0.5 else f"{street} {flat}"
        elif kind == "typo" and words:
            j = rng.randrange(len(words))
            words[j] = _typo(words[j], rng)
            street = " ".join(words)
        elif kind == "no_postcode":
            postcode = ""
        elif kind == "no_city" and postcode:
            city = ""
        elif kind == "other_postcode":
            postcode = rng.choice([p for p in postcodes if p != postcode] or [postcode])
        elif kind == "rep" and rep:
            rep = rng.choice([rep[0].upper(), rep.upper()])
            number = f"{number}{rep}" if rng.random() < 0.5 else f"{number} {rep}"
            rep = ""
        elif kind == "no_type" and len(words) > 2:
            street = " ".join(words[1:])
        elif kind == "spaces":
            street = street.replace(" ", "  ", 1) + ","
        else:
            continue
        kinds.append(kind)
    if rep:
        number = f"{number} {rep}"
    return {"number": number, "street": street, "postcode": postcode, "city": city}, kinds
