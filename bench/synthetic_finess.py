"""Synthetic FINESS etalab stock files, in the official layout (not real establishments).

Used by tests (small hand-made files) and by bench/import_bench.py (a national file of 100,000
establishments). Layout: ../shared/data/finess/FINESS-LAYOUT.md.

    python bench/synthetic_finess.py COMMUNES.geojson.gz OUT.csv [N]
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass

# Category code → label, as in the official file (the mapped ones and a few common others).
CATEGORIES = {
    "156": "Centre Médico-Psychologique (C.M.P.)",
    "425": "Centre d'Accueil Thérapeutique à temps partiel (C.A.T.T.P.)",
    "292": "Centre Hospitalier Spécialisé lutte Maladies Mentales",
    "258": "Maisons Relais - Pensions de Famille",
    "189": "Centre Médico-Psycho-Pédagogique (C.M.P.P.)",
    "355": "Centre Hospitalier (C.H.)",
    "500": "Etablissement d'hébergement pour personnes âgées dépendantes",
    "620": "Pharmacie d'Officine",
    "124": "Centre de Santé",
    "223": "Protection Maternelle et Infantile (P.M.I.)",
}
# Rough share of each category in a national file (most establishments are not mental health).
WEIGHTS = {"156": 4, "425": 2, "292": 1, "258": 2, "189": 1, "355": 2, "500": 20, "620": 45, "124": 13, "223": 10}
DEP_FIELD = {"971": "9A", "972": "9B", "973": "9C", "974": "9D", "975": "9E", "976": "9F"}


@dataclass
class Establishment:
    nofinesset: str
    categetab: str
    rs: str
    code_insee: str
    postcode: str
    city: str
    telephone: str = "0100000000"
    siret: str = ""
    dateouv: str = "2001-01-01"
    datemaj: str = "2026-01-15"
    numvoie: str = "1"
    typvoie: str = "R"
    voie: str = "DE LA REPUBLIQUE"


def structure_line(e: Establishment) -> str:
    code = e.code_insee
    dep = DEP_FIELD.get(code[:3], code[:2])
    commune = code[2:]  # "93010" → "010"; overseas "97123" → "123" with département "9A"
    fields = [
        "structureet", e.nofinesset, e.nofinesset[:-1] + "0",
        e.rs[:38], e.rs, "", "", e.numvoie, e.typvoie, e.voie, "", "", commune, dep, "DEPARTEMENT",
        f"{e.postcode} {e.city.upper()}", e.telephone, "", e.categetab, CATEGORIES.get(e.categetab, "Autre"), "1000",
        "Agrégat", e.siret, "", "03", "ARS", "", "", e.dateouv, e.dateouv, e.datemaj, "",
    ]
    return ";".join(_quote(f) for f in fields)


def _quote(value: str) -> str:
    return f'"{value.replace(chr(34), chr(34) * 2)}"' if ";" in value or '"' in value else value


def geoloc_line(nofinesset: str, x: float, y: float, epsg: int = 2154, date: str = "2026-01-15") -> str:
    names = {2154: "RGF93 / Lambert-93 (Métropole)", 5490: "RGAF09/UTM Zone 20N (Antilles)",
             2972: "RGFG95/UTM Zone 22N (Guyane)", 2975: "RGR92/UTM Zone 40S (Réunion)",
             4471: "RGM04/UTM zone 38S (Mayotte)"}
    return f"geolocalisation;{nofinesset};{x:.1f};{y:.1f};1,ATLASANTE,100,BAN,EPSG:{epsg} {names.get(epsg, '')};{date}"


def file_text(structures: list[str], geolocs: list[str], *, date: str = "2026-05-12") -> str:
    return "\n".join([f"finess;etalab;111;{date}", *structures, *geolocs]) + "\n"


def national(communes, n: int, seed: int = 20261128) -> str:
    """A national file of `n` establishments spread over communes by population, each with a
    Lambert-93 geolocation inside its commune (metropolitan communes only)."""
    import numpy as np
    from pyproj import Transformer

    rng = random.Random(seed)
    metro = communes[~communes["code"].str.startswith("97")].reset_index(drop=True)
    weights = np.maximum(metro["pop"].to_numpy(), 50)
    picks = rng.choices(range(len(metro)), weights=weights, k=n)
    cats = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()), k=n)
    points = metro.geometry.representative_point()
    lon = np.array([points.iloc[i].x for i in picks]) + np.array([rng.uniform(-0.002, 0.002) for _ in range(n)])
    lat = np.array([points.iloc[i].y for i in picks]) + np.array([rng.uniform(-0.002, 0.002) for _ in range(n)])
    x, y = Transformer.from_crs(4326, 2154, always_xy=True).transform(lon, lat)
    structures, geolocs = [], []
    for k, (i, cat) in enumerate(zip(picks, cats)):
        code = metro["code"].iloc[i]
        nofiness = f"{code[:2]}{k:07d}"
        e = Establishment(nofiness, cat, f"{CATEGORIES[cat].split(' (')[0].upper()} {k}", code,
                          metro["postcode"].iloc[i], metro["nom"].iloc[i], siret=f"{k:014d}")
        structures.append(structure_line(e))
        geolocs.append(geoloc_line(nofiness, x[k], y[k]))
    return file_text(structures, geolocs)


def main(argv: list[str]) -> None:
    import geopandas as gpd

    source, out = argv[0], argv[1]
    n = int(argv[2]) if len(argv) > 2 else 100_000
    gdf = gpd.read_file(f"/vsigzip/{source}" if source.endswith(".gz") else source, engine="pyogrio")
    gdf = gdf[gdf.geometry.notna() & (gdf["type"] == "COM")].copy()
    gdf["pop"] = gdf["population_municipale"].fillna(0).astype(int)
    gdf["postcode"] = "00000"
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(national(gdf, n))


if __name__ == "__main__":
    main(sys.argv[1:])
