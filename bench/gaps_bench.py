"""Gap analysis benchmark: the full-France gap matrix for every kind, and the Île-de-France one,
on SpatiaLite and PostGIS, against a plain geopandas computation of the same coverage counts in
the same run.

Data: the 34,875 communes and 45 arrondissements of ../shared/data/communes-france-2025.geojson.gz
and the synthetic nationwide partner set of bench/generate_partners.py (DAC, sectors, CLSM, EMPP,
housing). Each computation runs in its own process: wall time and that process's peak memory
(VmHWM, read by the process itself: a forked child's ru_maxrss starts at its parent's). The
geopandas baseline reads the same units and compiled coverage areas from the
database (reading not timed), then times `sjoin(points, areas, predicate="within")` and a group-by
count per kind; the two results are compared unit by unit.

    .venv/bin/python bench/gaps_bench.py [--backends spatialite,postgis]

Results: bench/results/gaps_bench.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.lookup_bench import COMMUNES, RESULTS, build, database_url  # noqa: E402
from bench.peak import peak_mb  # noqa: E402

IDF = "region:11"


def child(url: str, territory: str, mode: str) -> dict:
    """Run one computation in a fresh process; wall seconds and peak RSS of that process. The
    result goes through a file: a France-wide count table would fill a pipe and block the child."""
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        result_path = tmp.name
    code = (f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); from bench.gaps_bench import {mode}; "
            f"open({result_path!r}, 'w').write(json.dumps({mode}({url!r}, {territory!r})))")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    status = proc.wait()
    wall = time.perf_counter() - t0
    text_ = Path(result_path).read_text()
    Path(result_path).unlink()
    if status != 0 or not text_:
        raise SystemExit(f"{mode} {territory} failed (status {status}); rerun it alone to see the error")
    result = json.loads(text_)
    result.update(process_s=round(wall, 2))
    return result


def maillage(url: str, territory: str) -> dict:
    """app.gaps.compute for every kind; the counts go back for the comparison."""
    from app.config import load_settings
    from app.db import engine_from_settings, transaction
    from app import gaps

    engine = engine_from_settings(load_settings({"DATABASE_URL": url}))
    with transaction(engine) as session:
        t0 = time.perf_counter()
        matrix = gaps.compute(session, territory, None)
        seconds = time.perf_counter() - t0
        counts = {k.code: {u.code: int(c) for u, c in zip(matrix.units, k.counts) if c}
                  for k in matrix.kinds if k.counts is not None}
    engine.dispose()
    return {"s": round(seconds, 2), "units": len(matrix.units), "kinds": len(matrix.kinds), "counts": counts,
            "peak_rss_mb": peak_mb()}


def geopandas_baseline(url: str, territory: str) -> dict:
    """The same coverage counts with geopandas: units' representative points within the active
    partners' compiled areas, per kind."""
    import datetime as dt

    import geopandas as gpd
    import shapely

    from app.config import load_settings
    from app.db import engine_from_settings, transaction
    from app import gaps

    engine = engine_from_settings(load_settings({"DATABASE_URL": url}))
    with transaction(engine) as session:
        _, units = gaps.territory_units(session, territory)
        today = dt.date.today()
        rows = list(gaps.active_rows(session, (
            "SELECT p.kind_code, p.status, p.valid_from, p.valid_to, ST_AsBinary(ca.geom) AS geom FROM coverage_area ca "
            "JOIN partner p ON p.id = ca.partner_id WHERE ca.geom IS NOT NULL"), {}, today))
    engine.dispose()
    points = gpd.GeoDataFrame({"code": [u.code for u in units]},
                              geometry=gpd.points_from_xy([u.x for u in units], [u.y for u in units]), crs=4326)
    areas = gpd.GeoDataFrame({"kind": [r.kind_code for r in rows]},
                             geometry=shapely.from_wkb([bytes(r.geom) for r in rows]), crs=4326)
    t0 = time.perf_counter()
    joined = gpd.sjoin(points, areas, predicate="within", how="inner")
    grouped = joined.groupby(["kind", "code"]).size()
    seconds = time.perf_counter() - t0
    counts: dict[str, dict[str, int]] = {}
    for (kind, code), n in grouped.items():
        counts.setdefault(kind, {})[code] = int(n)
    return {"s": round(seconds, 2), "units": len(units), "counts": counts, "peak_rss_mb": peak_mb()}


def compare(a: dict, b: dict) -> dict:
    kinds = set(a) | set(b)
    differing = sum(1 for k in kinds for code in set(a.get(k, {})) | set(b.get(k, {}))
                    if a.get(k, {}).get(code, 0) != b.get(k, {}).get(code, 0))
    return {"kinds": len(kinds), "differing_unit_counts": differing}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="spatialite,postgis")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    from bench.generate_partners import generate

    partners_file = RESULTS / "partners-france.json"
    partners_file.write_text(json.dumps(generate(str(COMMUNES)), ensure_ascii=False), encoding="utf-8")
    out = {}
    for backend in args.backends.split(","):
        url, _ = database_url(backend)  # always rebuilt: no --reuse here
        out[backend] = {"build": build(url, partners_file)}
        print(f"== {backend} build {out[backend]['build']}", flush=True)
        for label, territory in (("france", "france"), ("idf", IDF)):
            ours = child(url, territory, "maillage")
            base = child(url, territory, "geopandas_baseline")
            agreement = compare(ours.pop("counts"), base.pop("counts"))
            out[backend][label] = {"maillage": ours, "geopandas": base, "agreement": agreement}
            print(f"  {label:7} maillage {ours['s']:6.2f} s (process {ours['process_s']} s, peak {ours['peak_rss_mb']} MB, "
                  f"{ours['units']} units, {ours['kinds']} kinds) | geopandas sjoin {base['s']:6.2f} s "
                  f"(peak {base['peak_rss_mb']} MB) | differing counts: {agreement['differing_unit_counts']}",
                  flush=True)
    (RESULTS / "gaps_bench.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
