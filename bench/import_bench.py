"""Import benchmark: a synthetic national FINESS file of 100,000 establishments and a partner sheet
of 5,000 rows covering all of France, on SpatiaLite and PostGIS.

Each import runs as `maillage import …` in its own process (what an operator runs, through
bench/peak.py), so its wall time includes start-up and its peak memory (VmHWM) is the import's own. The
baseline, measured in the same run on the same database, is the floor any FINESS import pays:
parse the same file with the csv module, reproject every geolocation with pyproj, and INSERT one
plain row per establishment with executemany. Reported: seconds, rows/s, ratio to the baseline,
peak memory.

    .venv/bin/python bench/import_bench.py [--backends spatialite,postgis] [--rows 100000]

Needs ../shared/data/communes-france-2025.geojson.gz. Results: bench/results/import_bench.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.generate_partners import generate  # noqa: E402
from bench.lookup_bench import COMMUNES, RESULTS, database_url  # noqa: E402
from bench.synthetic_finess import national  # noqa: E402

MAILLAGE = str(ROOT / ".venv" / "bin" / "maillage")
# Every synthetic category mapped to a proximity kind: the worst case, 100,000 partners created.
ALL_MAPPED = "categetab,kind\n156,cmp\n425,cattp\n292,etablissement_psy\n258,pension_de_famille\n189,cmp\n" \
             "355,etablissement_psy\n500,pension_de_famille\n620,gem\n124,cmp\n223,cmp\n"


def timed(args: list[str], url: str) -> dict:
    """Run a maillage command; wall seconds and the process's own peak RSS. Output goes to files
    (a pipe that fills up would block the process while we wait for it)."""
    import tempfile

    env = {**os.environ, "DATABASE_URL": url}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        peak_file = Path(tempfile.mkstemp(suffix=".txt")[1])
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "peak.py"), str(peak_file), *args], env=env,
                                stdout=out, stderr=err, text=True)
        status = proc.wait()
        seconds = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
        peak = int(peak_file.read_text() or -1)
        peak_file.unlink()
    if status != 0 and "refusé" in stdout + stderr:
        raise SystemExit(f"{' '.join(args)} failed:\n{stdout}\n{stderr[-2000:]}")
    return {"s": round(seconds, 2), "peak_rss_mb": peak, "summary": stdout.strip().splitlines()[0]}


def baseline(url: str, path: Path) -> float:
    """csv parse + pyproj reprojection + one executemany INSERT of plain rows, same database."""
    import numpy as np
    from pyproj import Transformer
    from sqlalchemy import create_engine, text

    from app.config import load_settings
    from app.db import engine_from_settings

    engine = engine_from_settings(load_settings({"DATABASE_URL": url})) if url.startswith("sqlite") else create_engine(url)
    t0 = time.perf_counter()
    structures, xs, ys = [], [], []
    with path.open(encoding="utf-8") as fh:
        for values in csv.reader(fh, delimiter=";"):
            if values[0] == "structureet":
                structures.append((values[1], values[4], values[18], values[12]))
            elif values[0] == "geolocalisation":
                xs.append(float(values[2]))
                ys.append(float(values[3]))
    lon, lat = Transformer.from_crs(2154, 4326, always_xy=True).transform(np.array(xs), np.array(ys))
    rows = [{"f": s[0], "n": s[1], "c": s[2], "i": s[3], "x": float(a), "y": float(b)}
            for s, a, b in zip(structures, lon, lat)]
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_plain"))
        conn.execute(text("CREATE TABLE bench_plain (f varchar(9), n varchar(300), c varchar(3), i varchar(3), "
                          "x float, y float)"))
        conn.execute(text("INSERT INTO bench_plain VALUES (:f, :n, :c, :i, :x, :y)"), rows)
    seconds = time.perf_counter() - t0
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE bench_plain"))
    engine.dispose()
    return round(seconds, 2)


def partner_sheet(path: Path) -> dict:
    """The synthetic nationwide partner set as a sheet: each partner on two rows (a second contact
    on a continuation row), ~5,000 rows."""
    from app.exchange import partner_sheet

    data = generate(str(COMMUNES))
    rows = []
    for record in data["partners"]:
        record.setdefault("sites", [])
        record.setdefault("coverage", {})
        record["coverage"] = {"include": record["coverage"].get("include", []), "exclude": [], "polygons": []}
        record.setdefault("reserved_landlords", [])
        record["contacts"].append({"label": "Secrétariat", "phone": "01 00 00 00 00"})
        rows.extend(partner_sheet.partner_rows(record))
    path.write_bytes(partner_sheet.csv_bytes(rows))
    return {"partners": len(data["partners"]), "rows": len(rows)}


def newer_file(path: Path, out: Path, seed: int = 7) -> dict:
    """The same file a few months later: 10 % of establishments changed their phone number, 1 %
    are gone (closed)."""
    import random

    rng = random.Random(seed)
    lines = path.read_text(encoding="utf-8").splitlines()
    numbers = [line.split(";")[1] for line in lines if line.startswith("structureet;")]
    gone = set(rng.sample(numbers, len(numbers) // 100))
    changed = set(rng.sample([n for n in numbers if n not in gone], len(numbers) // 10))
    kept = []
    for line in lines:
        fields = line.split(";")
        if len(fields) > 1 and fields[1] in gone:
            continue
        if fields[0] == "structureet" and fields[1] in changed:
            fields[16] = "0199999999"
            line = ";".join(fields)
        kept.append(line)
    out.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return {"changed": len(changed), "gone": len(gone)}


def step(out: dict, backend: str, name: str, args: list[str], url: str, rows: int, base: float | None) -> None:
    result = timed(args, url)
    result["rows_per_s"] = round(rows / result["s"])
    if base:
        result["ratio_to_baseline"] = round(result["s"] / base, 1)
    out[name] = result
    print(f"  {backend:10} {name:26} {result['s']:7.1f} s  {result['rows_per_s']:7} rows/s  "
          f"peak {result['peak_rss_mb']} MB  — {result['summary'][:100]}", flush=True)


def run_backend(backend: str, finess_file: Path, newer: Path, sheet_file: Path, sheet_rows: int, n: int) -> dict:
    out: dict = {"backend": backend}
    # 1. A realistic national import (default category mapping, ~10 % followed) and the partner
    #    sheet, on a database holding every French commune.
    url = database_url(backend)
    timed(["db", "upgrade"], url)
    out["communes"] = timed(["import", "communes", str(COMMUNES)], url)
    base = out["baseline_s"] = baseline(url, finess_file)
    step(out, backend, "finess_default_mapping", ["import", "finess", str(finess_file)], url, n, base)
    step(out, backend, "sheet_first", ["import", "partners-sheet", str(sheet_file)], url, sheet_rows, None)
    step(out, backend, "sheet_rerun", ["import", "partners-sheet", str(sheet_file)], url, sheet_rows, None)
    # 2. The worst case on a fresh database: every establishment followed (100,000 created), the
    #    same file again, then a newer file (10 % changed, 1 % closed).
    url = database_url(backend)
    timed(["db", "upgrade"], url)
    mapping = RESULTS / "finess-all-mapped.csv"
    mapping.write_text(ALL_MAPPED, encoding="utf-8")
    all_mapped = ["--mapping", str(mapping)]
    step(out, backend, "finess_all_mapped_first", ["import", "finess", str(finess_file), *all_mapped], url, n, base)
    step(out, backend, "finess_all_mapped_rerun", ["import", "finess", str(finess_file), *all_mapped], url, n, base)
    step(out, backend, "finess_all_mapped_newer", ["import", "finess", str(newer), *all_mapped], url, n, base)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="spatialite,postgis")
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    import geopandas as gpd

    gdf = gpd.read_file(f"/vsigzip/{COMMUNES}", engine="pyogrio")
    gdf = gdf[gdf.geometry.notna() & (gdf["type"] == "COM")].copy()
    gdf["pop"] = gdf["population_municipale"].fillna(0).astype(int)
    gdf["postcode"] = "00000"
    finess_file = RESULTS / "finess-national-synthetic.csv"
    finess_file.write_text(national(gdf, args.rows), encoding="utf-8")
    newer = RESULTS / "finess-national-synthetic-newer.csv"
    changes = newer_file(finess_file, newer)
    sheet_file = RESULTS / "partenaires-france.csv"
    sheet = partner_sheet(sheet_file)
    print(f"FINESS: {args.rows} establishments (newer file: {changes}); partner sheet: {sheet['partners']} "
          f"partners on {sheet['rows']} rows")
    results = [run_backend(b, finess_file, newer, sheet_file, sheet["rows"], args.rows)
               for b in args.backends.split(",")]
    out = {"rows": args.rows, "newer_file": changes, "sheet": sheet, "results": results}
    (RESULTS / "import_bench.json").write_text(json.dumps(out, indent=1, ensure_ascii=False))
    print(json.dumps(out, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
