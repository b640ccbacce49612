"""Synthetic nationwide partner set for benchmarks (not real structures).

From the commune contours of all France it builds, deterministically (seeded):
- ~100 DAC: one per département (departement:XX);
- ~830 adult and ~320 child psychiatric sectors: each département's communes (arrondissements for
  Paris, Lyon, Marseille) cut west to east into groups of about 80,000 / 210,000 inhabitants;
- 300 CLSM: the 300 most populous communes;
- 160 EMPP: one per département, two in the ~60 most populous ones (halves of its adult sectors);
- 800 housing sites (résidences accueil, pensions de famille) at random points of communes drawn by
  population.
Written in the partners-json record format.

    python bench/generate_partners.py COMMUNES.geojson[.gz] OUT.json
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

SEED = 20261128
ADULT_POP = 80_000
CHILD_POP = 210_000


def read_units(path: str) -> gpd.GeoDataFrame:
    source = f"/vsigzip/{path}" if path.endswith(".gz") else path
    gdf = gpd.read_file(source, engine="pyogrio")
    gdf = gdf[gdf.geometry.notna()].copy()
    gdf["dep"] = [c[:3] if c.startswith("97") else c[:2] for c in gdf["code"]]
    gdf["pop"] = gdf["population_municipale"].fillna(0).astype(int)
    gdf["x"] = gdf.geometry.representative_point().x
    return gdf


def partition(units: gpd.GeoDataFrame, per: int) -> list[list[str]]:
    """Cut units (sorted west to east) into groups of about `per` inhabitants."""
    units = units.sort_values(["x", "code"])
    n = max(1, round(units["pop"].sum() / per))
    target = units["pop"].sum() / n
    groups, current, acc = [], [], 0
    for typed, pop in zip(units["typed"], units["pop"]):
        current.append(typed)
        acc += pop
        if acc >= target * (len(groups) + 1) and len(groups) < n - 1:
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    return groups


def point_in(geom, uniform) -> tuple[float, float]:
    """A random point inside geom (rejection sampling in its bounds; `uniform(a, b)` draws)."""
    minx, miny, maxx, maxy = geom.bounds
    for _ in range(200):
        x, y = uniform(minx, maxx), uniform(miny, maxy)
        if shapely.contains_xy(geom, x, y):
            return x, y
    point = geom.representative_point()
    return point.x, point.y


def generate(path: str) -> dict:
    rng = random.Random(SEED)
    gdf = read_units(path)
    big_cities = {"75056", "13055", "69123"}
    com = gdf[gdf["type"] == "COM"].copy()
    com["typed"] = "commune:" + com["code"]
    arm = gdf[gdf["type"] == "ARM"].copy()
    arm["typed"] = "arrondissement:" + arm["code"]
    sector_units = gpd.GeoDataFrame(
        np.concatenate([com[~com["code"].isin(big_cities)].to_numpy(), arm.to_numpy()]), columns=com.columns
    )
    sector_units["pop"] = sector_units["pop"].astype(int)
    sector_units["x"] = sector_units["x"].astype(float)
    partners = []

    def record(ref, kind, name, include=None, sites=None, **extra):
        r = {"ref": f"bench:{ref}", "kind": kind, "name": name, "how_to_refer": "Synthétique (banc d'essai).",
             "contacts": [{"label": "Accueil", "email": f"{ref.replace(':', '-')}@example.org"}]}
        if include:
            r["coverage"] = {"include": include}
        if sites:
            r["sites"] = sites
        r.update(extra)
        partners.append(r)

    deps = sorted(com["dep"].unique())
    for dep in deps:
        record(f"dac-{dep}", "dac", f"DAC {dep}", [f"departement:{dep}"])
    adult_by_dep = {}
    for dep in deps:
        units = sector_units[sector_units["dep"] == dep]
        adult_by_dep[dep] = partition(units, ADULT_POP)
        for i, group in enumerate(adult_by_dep[dep], start=1):
            record(f"g-{dep}-{i}", "secteur_psy_adulte", f"Secteur {dep}G{i:02d}", group)
        for i, group in enumerate(partition(units, CHILD_POP), start=1):
            record(f"i-{dep}-{i}", "secteur_psy_infanto", f"Secteur {dep}I{i:02d}", group)
    for code, nom in com.sort_values(["pop", "code"], ascending=[False, True])[["code", "nom"]].head(300).to_numpy():
        record(f"clsm-{code}", "clsm", f"CLSM {nom}", [f"commune:{code}"])
    populous = set(com.groupby("dep")["pop"].sum().sort_values(ascending=False).index[:59])
    for dep in deps:
        sectors = adult_by_dep[dep]
        halves = [sectors] if dep not in populous or len(sectors) < 2 else [sectors[: len(sectors) // 2],
                                                                             sectors[len(sectors) // 2:]]
        for i, half in enumerate(halves, start=1):
            record(f"empp-{dep}-{i}", "empp", f"EMPP {dep}-{i}", [u for group in half for u in group])
    weights = com["pop"].to_numpy(dtype=float) + 1
    chosen = rng.choices(range(len(com)), weights=weights.tolist(), k=800)
    geoms = com.geometry.to_numpy()
    for n, idx in enumerate(chosen):
        x, y = point_in(geoms[idx], rng.uniform)
        kind = "residence_accueil" if n % 2 else "pension_de_famille"
        record(f"log-{n}", kind, f"Logement accompagné {n}", capacity=rng.randint(15, 30),
               sites=[{"name": f"Site {n}", "lon": round(x, 6), "lat": round(y, 6),
                       "code_insee": com["code"].iloc[idx]}])
    return {"about": "Jeu synthétique de banc d'essai : aucune structure réelle.", "landlords": [], "partners": partners}


def random_points(path: str, n: int, seed: int = SEED + 1) -> np.ndarray:
    """n points in French communes drawn by population (where people live and look up addresses)."""
    rng = np.random.default_rng(seed)
    gdf = read_units(path)
    com = gdf[gdf["type"] == "COM"]
    weights = com["pop"].to_numpy(dtype=float) + 1
    idx = rng.choice(len(com), size=n, p=weights / weights.sum())
    geoms = com.geometry.to_numpy()
    out = np.empty((n, 2))
    for k, i in enumerate(idx):
        out[k] = point_in(geoms[i], rng.uniform)
    return out


if __name__ == "__main__":
    data = generate(sys.argv[1])
    Path(sys.argv[2]).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    counts = {}
    for p in data["partners"]:
        counts[p["kind"]] = counts.get(p["kind"], 0) + 1
    print(json.dumps(counts, indent=1))
