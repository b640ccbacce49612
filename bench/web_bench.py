"""Web pages benchmark on the demo data: server time of the home page and the coverage card, and
the weight of a département coverage map page.

The app is served as in production (`maillage serve`, waitress). Server time is read from the
`Server-Timing: app;dur=…` header each response carries (the time Flask spent, without the
network), for requests interleaved with the trivial /api/v1/ping of the same server, the
baseline measured in the same run. Coverage cards are asked for points drawn in the demo
communes and for real Bondy addresses (geocoding included).

    .venv/bin/python bench/web_bench.py [--backends spatialite,postgis] [--requests 400]

Results: bench/results/web_bench.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.lookup_bench import RESULTS, SHARED, database_url  # noqa: E402
from bench.serving import served  # noqa: E402

BAN = SHARED / "ban-adresses-93010-bondy.csv"


def build(backend: str) -> str:
    from app.config import load_settings
    from app.db import engine_from_settings
    from importers import demo
    from importers import ban
    from importers.base import run

    url = database_url(backend)
    engine = engine_from_settings(load_settings({"DATABASE_URL": url}))
    demo.build(engine, log=lambda _m: None)
    run(engine, "ban", ban.read, ban.load, [BAN])
    engine.dispose()
    return url


def addresses(n: int, seed: int = 5) -> list[str]:
    import csv

    rng = random.Random(seed)
    with BAN.open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh, delimiter=";") if r["numero"] != "99999"]
    return [f"{r['numero']}{r['rep'] or ''} {r['nom_voie']} {r['code_postal']} {r['nom_commune']}"
            for r in rng.sample(rows, n)]


def points(n: int, seed: int = 6) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    # the demo's four départements: a box over Paris and its inner ring
    return [(round(rng.uniform(2.22, 2.58), 5), round(rng.uniform(48.78, 48.95), 5)) for _ in range(n)]


def server_ms(response) -> float:
    timing = response.headers["Server-Timing"]
    return float(timing.split("dur=")[1])


def summary(values: list[float]) -> dict:
    arr = np.array(values)
    return {"p50_ms": round(float(np.percentile(arr, 50)), 1), "p95_ms": round(float(np.percentile(arr, 95)), 1),
            "max_ms": round(float(arr.max()), 1)}


def run_backend(backend: str, n: int) -> dict:
    url = build(backend)
    out: dict = {"backend": backend}
    with served(url, 5392) as (api, http, _server):
        base = api.rsplit("/api/v1", 1)[0]
        pages = {
            "home": [base + "/"] * n,
            "card_point": [base + f"/couverture?lon={x}&lat={y}" for x, y in points(n)],
            "card_address": [base + "/couverture?adresse=" + a for a in addresses(n)],
        }
        for urls in pages.values():  # warm-up: reference, street index, templates
            for u in urls[:30]:
                http.get(u)
        times: dict[str, list[float]] = {name: [] for name in pages}
        times["ping"] = []
        for i in range(n):
            times["ping"].append(server_ms(http.get(api + "/ping")))
            for name, urls in pages.items():
                r = http.get(urls[i])
                assert r.status_code == 200, (urls[i], r.status_code)
                times[name].append(server_ms(r))
        for name, values in times.items():
            out[name] = summary(values)
        out["departement_map_93"] = map_weight(http, base, "departement:93")
    # The heaviest case: the département with the most communes (Pas-de-Calais, 890), with IGN's
    # contours of all France loaded over the demo.
    load_france(url)
    with served(url, 5393) as (api, http, _server):
        base = api.rsplit("/api/v1", 1)[0]
        out["departement_map_62"] = map_weight(http, base, "departement:62")
    print(json.dumps(out, indent=1), flush=True)
    return out


def load_france(url: str) -> None:
    from app.config import load_settings
    from app.db import engine_from_settings
    from bench.lookup_bench import COMMUNES
    from importers import communes
    from importers.base import run

    engine = engine_from_settings(load_settings({"DATABASE_URL": url}))
    run(engine, "communes", communes.read, communes.load, COMMUNES)
    engine.dispose()


def map_weight(http, base: str, territory: str) -> dict:
    """Everything a browser fetches for a coverage map page (page, map frame, scripts, styles)."""
    query = f"type=clsm&territoire={territory}"
    weights = {}
    for path in (f"/carte?{query}", f"/carte/couverture.html?{query}", "/static/vendor/leaflet-1.9.3/leaflet.js",
                 "/static/vendor/leaflet-1.9.3/leaflet.css", "/static/maillage.css", "/static/map-frame.css"):
        t0 = time.perf_counter()
        r = http.get(base + path)
        assert r.status_code == 200, (path, r.status_code)
        weights[path] = {"bytes": len(r.content), "ms": round((time.perf_counter() - t0) * 1000, 1)}
    return {"files": weights, "total_kb": round(sum(w["bytes"] for w in weights.values()) / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="spatialite,postgis")
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = [run_backend(b, args.requests) for b in args.backends.split(",")]
    (RESULTS / "web_bench.json").write_text(json.dumps({"requests": args.requests, "results": results}, indent=1))


if __name__ == "__main__":
    main()
