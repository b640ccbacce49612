"""Runs inside .venv-addok for bench/geocode_scale_bench.py: index the documents into a
private Redis, answer the queries, measure CPU (this process + the Redis server's) and memory.

    addok_scale_runner.py REDIS_PORT REDIS_PID DOCS.jsonl QUERIES.json OUT.json [PASSES]
"""

import json
import os
import sys
import time
from pathlib import Path

port, redis_pid = int(sys.argv[1]), int(sys.argv[2])
os.environ.update(ADDOK_REDIS_PORT=str(port), ADDOK_REDIS_DB="0",
                  ADDOK_CONFIG_MODULE=str(Path(__file__).resolve().parent.parent / "addok" / "maillage_addok.py"))
from addok.config import config as addok_config  # noqa: E402

addok_config.load()
from addok.batch import process_documents  # noqa: E402
from addok.core import search  # noqa: E402
from addok.db import DB  # noqa: E402


def redis_cpu_s() -> float:
    fields = Path(f"/proc/{redis_pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


DB.flushall()
t0 = time.perf_counter()
batch = []
with open(sys.argv[3], encoding="utf-8") as fh:
    for line in fh:
        batch.append(line)
        if len(batch) == 500:
            process_documents(*batch)
            batch = []
if batch:
    process_documents(*batch)
index_s = time.perf_counter() - t0
queries = json.loads(Path(sys.argv[4]).read_text(encoding="utf-8"))
search("12 rue de la paix", limit=1)
best = None
for _ in range(int(sys.argv[6]) if len(sys.argv) > 6 else 1):  # the least of the passes: shared machine
    answers = []
    cpu0, redis0, wall0 = time.process_time(), redis_cpu_s(), time.perf_counter()
    for q in queries:
        results = search(q, limit=1)
        if results:
            r = results[0]
            answers.append({"lon": float(r.lon), "lat": float(r.lat), "id": getattr(r, "id", None), "type": r.type,
                            "score": float(r.score), "citycode": getattr(r, "citycode", None)})
        else:
            answers.append(None)
    run = (time.process_time() - cpu0, redis_cpu_s() - redis0, time.perf_counter() - wall0)
    if best is None or sum(run[:2]) < sum(best[:2]):
        best = run
cpu, redis_cpu, wall = best
info = DB.info("memory")
rss = next(int(line.split()[1]) // 1024 for line in Path("/proc/self/status").read_text().splitlines()
           if line.startswith("VmRSS:"))
n = len(queries)
Path(sys.argv[5]).write_text(json.dumps({
    "answers": answers, "index_s": index_s, "cpu_ms": 1000 * (cpu + redis_cpu) / n, "addok_cpu_ms": 1000 * cpu / n,
    "redis_cpu_ms": 1000 * redis_cpu / n, "wall_ms": 1000 * wall / n, "redis_mb": info["used_memory"] / 2**20,
    "rss_mb": rss}))
