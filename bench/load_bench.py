"""Load benchmark: 50 concurrent clients for 60 s on loopback against the served application
(`maillage serve`, waitress, 8 threads), on the demo with Bondy's BAN addresses, both backends —
first alone, then in the same run while one more client hammers the heavy outputs (GeoPackage
exports with a new date each time, so never cached, and the folium coverage map).

Each front-line client loops over: a lookup by point (`GET /api/v1/lookup`), a coverage card by
address (`GET /couverture?adresse=…`, geocoding included) and a batch of 100 points
(`POST /api/v1/lookup/batch`). Reported per phase: requests, errors (any 5xx, connection error or
unexpected status on the front line), the lookups' p50/p99 (client side, end to end), and the ratio
of the lookup p99 with the heavy client to without it (target: < 2). The heavy client's own answers
are counted apart: 303 (a job started), 429 (rate limited) and 503 `jobs-busy` are the defences
working, not errors.

    MAILLAGE_BENCH_PG_DB=maillage_api_load .venv/bin/python bench/load_bench.py [--backends spatialite,postgis] [--clients 50] [--seconds 60]

Results: bench/results/load_bench.json. The client runs on the same machine as the server: its
threads share the cores with it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import threading
import time
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.lookup_bench import RESULTS, database_url  # noqa: E402
from bench.serving import served  # noqa: E402
from bench.web_bench import BAN, addresses, points  # noqa: E402


def build(backend: str) -> str:
    from app.config import load_settings
    from app.db import engine_from_settings
    from importers import ban, demo
    from importers.base import run

    url, _ = database_url(backend)
    engine = engine_from_settings(load_settings({"DATABASE_URL": url}))
    demo.build(engine, log=lambda _m: None)
    run(engine, "ban", ban.read, ban.load, [BAN])
    engine.dispose()
    return url


class Phase:
    def __init__(self):
        self.lock = threading.Lock()
        self.lookup_ms: list[float] = []
        self.card_ms: list[float] = []
        self.batch_ms: list[float] = []
        self.requests = 0
        self.errors: dict[str, int] = {}
        self.heavy: dict[str, int] = {}

    def error(self, what: str):
        with self.lock:
            self.errors[what] = self.errors.get(what, 0) + 1


def front_line(site: str, phase: Phase, stop: threading.Event, seed: int):
    rng = random.Random(seed)
    pts, addrs = points(300, seed), addresses(100, seed)
    http = requests.Session()
    while not stop.is_set():
        for kind in ("lookup", "card", "batch"):
            if stop.is_set():
                break
            started = time.perf_counter()
            try:
                if kind == "lookup":
                    lon, lat = rng.choice(pts)
                    r = http.get(f"{site}/api/v1/lookup", params={"lon": lon, "lat": lat}, timeout=60)
                elif kind == "card":
                    r = http.get(f"{site}/couverture", params={"adresse": rng.choice(addrs)}, timeout=60)
                else:
                    r = http.post(f"{site}/api/v1/lookup/batch", json={"points": rng.sample(pts, 100)}, timeout=60)
            except requests.RequestException as exc:
                phase.error(f"{kind}: {type(exc).__name__}")
                continue
            ms = (time.perf_counter() - started) * 1000
            with phase.lock:
                phase.requests += 1
                getattr(phase, f"{kind}_ms").append(ms)
            if r.status_code != 200:
                phase.error(f"{kind}: HTTP {r.status_code}")


def heavy_client(site: str, phase: Phase, stop: threading.Event):
    http = requests.Session()
    day = dt.date(2026, 12, 1)
    i = 0
    while not stop.is_set():
        i += 1
        date = (day - dt.timedelta(days=i)).isoformat()  # a new date: never a cached result
        url = (f"{site}/ecarts/export.gpkg?territoire=departement:93&date={date}" if i % 2
               else f"{site}/carte/couverture.html?type=secteur_psy_adulte&territoire=departement:93&date={date}")
        try:
            r = http.get(url, timeout=120, allow_redirects=False)
            key = f"HTTP {r.status_code}"
        except requests.RequestException as exc:
            key = type(exc).__name__
        with phase.lock:
            phase.heavy[key] = phase.heavy.get(key, 0) + 1


def run_phase(site: str, clients: int, seconds: float, heavy: bool) -> dict:
    phase, stop = Phase(), threading.Event()
    threads = [threading.Thread(target=front_line, args=(site, phase, stop, i)) for i in range(clients)]
    if heavy:
        threads.append(threading.Thread(target=heavy_client, args=(site, phase, stop)))
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(180)

    def stats(values):
        arr = np.array(values or [0.0])
        return {"n": len(values), "p50_ms": round(float(np.percentile(arr, 50)), 1),
                "p99_ms": round(float(np.percentile(arr, 99)), 1)}

    return {"requests": phase.requests, "per_second": round(phase.requests / seconds, 1),
            "errors": sum(phase.errors.values()), "error_kinds": phase.errors,
            "lookup": stats(phase.lookup_ms), "card": stats(phase.card_ms), "batch": stats(phase.batch_ms),
            "heavy_client": phase.heavy}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--backends", default="spatialite,postgis")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {"clients": args.clients, "seconds": args.seconds, "server_threads": args.threads, "backends": {}}
    for backend in args.backends.split(","):
        url = build(backend)
        with served(url, 5397, threads=args.threads) as (api, http, _server):
            site = api.removesuffix("/api/v1")
            for path in ("/couverture?adresse=1+rue+de+la+Republique+Bondy", "/api/v1/lookup?lon=2.48&lat=48.91"):
                http.get(site + path, timeout=60)  # warm the caches
            alone = run_phase(site, args.clients, args.seconds, heavy=False)
            loaded = run_phase(site, args.clients, args.seconds, heavy=True)
        ratio = round(loaded["lookup"]["p99_ms"] / max(alone["lookup"]["p99_ms"], 0.1), 2)
        out["backends"][backend] = {"alone": alone, "with_heavy_client": loaded, "lookup_p99_ratio": ratio}
        print(json.dumps({backend: out["backends"][backend]}, indent=1, ensure_ascii=False), flush=True)
    (RESULTS / "load_bench.json").write_text(json.dumps(out, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
