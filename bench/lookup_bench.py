"""Lookup benchmark on all French communes and a synthetic nationwide partner set, both backends.

Measures, in one run and on the same machine, each figure next to its baseline:
(a) single-point lookups through the HTTP API (waitress, as `maillage serve`) against the trivial
    /api/v1/ping of the same server, interleaved request by request: p50, p99 and the p50 ratio, in
    the steady state of a running server (caches filled by batch requests across France and 2,000
    lookups) and, reported apart, for the first 500 lookups after start (empty caches);
    server memory (RSS, peak) with all of France loaded;
(b) 100,000 points through the batch lookup against geopandas.sjoin of the same points on the same
    compiled coverage polygons, with a check that both find the same covering partners.

    .venv/bin/python bench/lookup_bench.py [--backends spatialite,postgis] [--requests 2000] [--points 100000]
                                          [--reuse]

Needs ../shared/data/communes-france-2025.geojson.gz. PostGIS: MAILLAGE_BENCH_POSTGRES_URL (default:
the test role of dev.sh on 127.0.0.1), database MAILLAGE_BENCH_PG_DB (default maillage_bench). Results
go to bench/results/.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.partners import kinds  # noqa: E402
from app.config import load_settings  # noqa: E402
from app.db import engine_from_settings, set_meta, transaction, upgrade  # noqa: E402
from app.lookup import lookup_many, parse_options  # noqa: E402
from bench.generate_partners import generate, random_points  # noqa: E402
from bench.serving import served  # noqa: E402
from importers import communes, partners_json  # noqa: E402
from importers.base import run  # noqa: E402

SHARED = Path(os.environ.get("MAILLAGE_SHARED_DATA", ROOT.parent / "shared" / "data"))
COMMUNES = SHARED / "communes-france-2025.geojson.gz"
RESULTS = ROOT / "bench" / "results"
PG_ADMIN = os.environ.get("MAILLAGE_BENCH_POSTGRES_URL",
                          "postgresql+psycopg://maillage_test:maillage_test@127.0.0.1:5432/postgres")


def build_mark(partners_file: Path) -> str:
    """What a database was built from: the communes file and the generated partners (their bytes),
    so that --reuse never measures a database built from other data. Code changes in the importers
    or the coverage compilation are not tracked: a full run rebuilds."""
    return f"{COMMUNES.name}:{hashlib.sha256(partners_file.read_bytes()).hexdigest()[:16]}"


def database_url(backend: str, mark: str | None = None) -> tuple[str, bool]:
    """The benchmark database of a backend, and whether it must be built. With a `mark` (--reuse), a
    database that an earlier run left complete with the same mark is kept."""
    if backend == "spatialite":
        path = RESULTS / "bench.sqlite"
        url = f"sqlite:///{path}"
        if mark and path.exists() and _complete(url, mark):
            return url, False
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return url, True
    # MAILLAGE_BENCH_PG_DB: one name per checkout, so two checkouts benchmarking on one server
    # never drop each other's database
    name = os.environ.get("MAILLAGE_BENCH_PG_DB", "maillage_bench")
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}).first()
        if mark and exists and _complete(url, mark):
            admin.dispose()
            return url, False
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url, True


def _complete(url: str, mark: str) -> bool:
    """True when `build` finished on this database (it records the marker last)."""
    engine = engine_from_settings(load_settings({"DATABASE_URL": url}))
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT value FROM meta WHERE key = 'bench_built'")).scalar() == mark
    except Exception:
        return False
    finally:
        engine.dispose()


def build(url: str, partners_file: Path) -> dict:
    engine = engine_from_settings(load_settings({"DATABASE_URL": url}))
    upgrade(engine)
    with transaction(engine) as session:
        kinds.load_catalogue(session)
    t0 = time.perf_counter()
    report = run(engine, communes.NAME, communes.read, communes.load, COMMUNES)
    t1 = time.perf_counter()
    preport = run(engine, partners_json.NAME, partners_json.read, partners_json.load, partners_file)
    t2 = time.perf_counter()
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    with transaction(engine) as session:
        set_meta(session, "bench_built", build_mark(partners_file))
    engine.dispose()
    return {"communes_loaded": report.created, "communes_s": round(t1 - t0, 1),
            "partners_loaded": preport.created, "partners_s": round(t2 - t1, 1)}


def percentile(values, q):
    return float(np.percentile(np.array(values), q))


def _pairs(http, base: str, points: np.ndarray) -> tuple[list, list, list]:
    """One /ping then one /lookup per point, interleaved: client-side seconds of each, sizes."""
    ping, look, sizes = [], [], []
    for lon, lat in points:
        t = time.perf_counter()
        r = http.get(base + "/ping")
        ping.append(time.perf_counter() - t)
        assert r.status_code == 200
        t = time.perf_counter()
        r = http.get(base + "/lookup", params={"lon": f"{lon:.6f}", "lat": f"{lat:.6f}"})
        look.append(time.perf_counter() - t)
        assert r.status_code == 200, r.text[:300]
        sizes.append(len(r.content))
    return ping, look, sizes


def http_bench(url: str, points: np.ndarray, n_requests: int) -> dict:
    cold_n = 500
    with served(url, 5391) as (base, http, server):
        # A server just started (or just after a data change): its caches are empty.
        cold_ping, cold_look, _ = _pairs(http, base, points[:cold_n])
        # Steady state of a running server: partner cards (batch requests across France) and the
        # coverage shapes met by single lookups are cached (see PERFORMANCE.md).
        for start in range(0, min(len(points), 40_000), 10_000):
            chunk = points[start:start + 10_000].round(6).tolist()
            assert http.post(base + "/lookup/batch", json={"points": chunk}, timeout=600).status_code == 200
        warm = 2000
        for lon, lat in points[cold_n:cold_n + warm]:
            http.get(base + "/lookup", params={"lon": f"{lon:.6f}", "lat": f"{lat:.6f}"})
        measured = points[cold_n + warm:cold_n + warm + n_requests]
        ping, look, sizes = _pairs(http, base, measured)
        # Memory with the caches as full as this data set makes them.
        for lon, lat in points[-3000:]:
            http.get(base + "/lookup", params={"lon": f"{lon:.6f}", "lat": f"{lat:.6f}"})
        status = Path(f"/proc/{server.pid}/status").read_text()
        mem = {line.split(":")[0]: int(line.split()[1]) // 1024 for line in status.splitlines()
               if line.startswith(("VmRSS", "VmHWM"))}
    p50_ping, p50_look = percentile(ping, 50) * 1000, percentile(look, 50) * 1000
    return {
        "requests": n_requests,
        "ping_p50_ms": round(p50_ping, 2), "ping_p99_ms": round(percentile(ping, 99) * 1000, 2),
        "lookup_p50_ms": round(p50_look, 2), "lookup_p99_ms": round(percentile(look, 99) * 1000, 2),
        "lookup_mean_ms": round(statistics.mean(look) * 1000, 2),
        "p50_ratio": round(p50_look / p50_ping, 2),
        "cold_requests": cold_n,
        "cold_lookup_p50_ms": round(percentile(cold_look, 50) * 1000, 2),
        "cold_lookup_p99_ms": round(percentile(cold_look, 99) * 1000, 2),
        "cold_p50_ratio": round(percentile(cold_look, 50) / percentile(cold_ping, 50), 2),
        "response_kb_median": round(statistics.median(sizes) / 1024, 1),
        "server_rss_mb": mem.get("VmRSS"), "server_peak_rss_mb": mem.get("VmHWM"),
    }


def batch_bench(url: str, points: np.ndarray) -> dict:
    engine = engine_from_settings(load_settings({"DATABASE_URL": url}))
    with transaction(engine) as session:
        options = parse_options(session)
        lookup_many(session, points[:1000], options, compact=True)  # warm the reference cache
        t0 = time.perf_counter()
        result = lookup_many(session, points, options, compact=True)
        batch_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        rows = session.execute(text(
            "SELECT ca.partner_id, ST_AsBinary(ca.geom) FROM coverage_area ca WHERE ca.geom IS NOT NULL")).all()
        polys = gpd.GeoDataFrame({"partner_id": [r[0] for r in rows]},
                                 geometry=shapely.from_wkb([bytes(r[1]) for r in rows]), crs=4326)
        load_s = time.perf_counter() - t0
    engine.dispose()
    pts = gpd.GeoDataFrame({"i": np.arange(len(points))}, geometry=shapely.points(points), crs=4326)
    t0 = time.perf_counter()
    joined = gpd.sjoin(pts, polys, predicate="intersects", how="inner")
    sjoin_s = time.perf_counter() - t0
    expected: dict[int, set] = {}
    for i, pid in zip(joined["i"].to_numpy(), joined["partner_id"].to_numpy()):
        expected.setdefault(int(i), set()).add(int(pid))
    agree = 0
    for i, res in enumerate(result["results"]):
        found = {p["id"] for k in res["kinds"].values() if k["status"] in ("covered", "restricted")
                 for p in k["partners"]}
        agree += found == expected.get(i, set())
    return {"points": len(points), "batch_s": round(batch_s, 2), "sjoin_s": round(sjoin_s, 2),
            "ratio": round(batch_s / sjoin_s, 2), "sjoin_polygon_load_s": round(load_s, 2),
            "points_per_s": round(len(points) / batch_s), "agreement": f"{agree}/{len(points)}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="spatialite,postgis")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--reuse", action="store_true",
                        help="keep the databases a previous complete run built (skips the build)")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    partners_file = RESULTS / "partners-france.json"
    partners_file.write_text(json.dumps(generate(str(COMMUNES)), ensure_ascii=False), encoding="utf-8")
    points = random_points(str(COMMUNES), max(args.points, args.requests + 2500 + 3000, 40_000))
    out = {}
    for backend in args.backends.split(","):
        print(f"== {backend}", flush=True)
        url, fresh = database_url(backend, build_mark(partners_file) if args.reuse else None)
        out[backend] = {"build": build(url, partners_file) if fresh else "reused"}
        print(" build", out[backend]["build"], flush=True)
        out[backend]["http"] = http_bench(url, points, args.requests)
        print(" http ", out[backend]["http"], flush=True)
        out[backend]["batch"] = batch_bench(url, points[: args.points])
        print(" batch", out[backend]["batch"], flush=True)
    (RESULTS / "lookup_bench.json").write_text(json.dumps(out, indent=1))
    print("\n| backend | ping p50 | lookup p50 | lookup p99 | p50 ratio (target ≤ 2) | cold: p50, p99, ratio | "
          "server RSS / peak | batch 100k | sjoin | ratio (target ≤ 5) | agreement |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for backend, r in out.items():
        h, b = r["http"], r["batch"]
        print(f"| {backend} | {h['ping_p50_ms']} ms | {h['lookup_p50_ms']} ms | {h['lookup_p99_ms']} ms | "
              f"{h['p50_ratio']} | {h['cold_lookup_p50_ms']} ms, {h['cold_lookup_p99_ms']} ms, {h['cold_p50_ratio']} | "
              f"{h['server_rss_mb']} / {h['server_peak_rss_mb']} MB | {b['batch_s']} s | "
              f"{b['sjoin_s']} s | {b['ratio']} | {b['agreement']} |")


if __name__ == "__main__":
    main()
