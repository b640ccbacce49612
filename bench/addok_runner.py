"""Runs inside .venv-addok: index BAN-derived documents into addok (local Redis) and answer
the benchmark's queries. Usage: addok_runner.py CONFIG.py DOCS.jsonl QUERIES.json OUT.json"""

import json
import os
import sys
import time

os.environ["ADDOK_CONFIG_MODULE"] = sys.argv[1]
from addok.config import config  # noqa: E402

config.load()
from addok.batch import process_documents  # noqa: E402
from addok.core import search  # noqa: E402
from addok.db import DB  # noqa: E402
from addok.ds import DS  # noqa: E402

DB.flushdb()
DS.flushdb()
with open(sys.argv[2], encoding="utf-8") as fh:
    docs = [line for line in fh if line.strip()]
t0 = time.perf_counter()
for start in range(0, len(docs), 500):
    process_documents(*docs[start:start + 500])
index_s = time.perf_counter() - t0
with open(sys.argv[3], encoding="utf-8") as fh:
    queries = json.load(fh)
search("warm up 1 rue de paris", limit=1)
answers = []
t0 = time.perf_counter()
for q in queries:
    results = search(q, limit=1)
    if results:
        r = results[0]
        answers.append({"lon": float(r.lon), "lat": float(r.lat), "id": r.id,
                        "type": r.type})
    else:
        answers.append(None)
elapsed = time.perf_counter() - t0
with open(sys.argv[4], "w", encoding="utf-8") as fh:
    json.dump({"answers": answers, "seconds": elapsed, "index_seconds": index_s}, fh)
