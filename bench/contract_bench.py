"""The longer contract run: schemathesis on every operation of /api/v1/openapi.json against the app
on the demo, both backends, with many random examples per operation (tests/test_schemathesis.py runs
the same checks, bounded and derandomized, in the suite).

    .venv/bin/python bench/contract_bench.py [--backends spatialite,postgis] [--examples 300]

Prints each failure (operation, check, the case to reproduce it) and exits 1 if there is one.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.lookup_bench import database_url  # noqa: E402


def main() -> int:
    from app.config import load_settings
    from app.db import engine_from_settings
    from app.web import create_app, state
    from importers import demo
    from tests.test_schemathesis import contract_failures

    parser = argparse.ArgumentParser()
    parser.add_argument("--backends", default="spatialite,postgis")
    parser.add_argument("--examples", type=int, default=300)
    args = parser.parse_args()
    failed = 0
    for backend in args.backends.split(","):
        url, _ = database_url(backend)
        engine = engine_from_settings(load_settings({"DATABASE_URL": url}))
        demo.build(engine, log=lambda _m: None)
        engine.dispose()
        app = create_app({"DATABASE_URL": url, "JOBS_DIR": tempfile.mkdtemp(prefix="maillage-contract-"),
                          "RATE_LIMIT_HEAVY": "", "RATE_LIMIT_BATCH_POINTS": ""})
        started = time.perf_counter()
        failures = contract_failures(app, examples=args.examples, derandomize=False)
        print(f"{backend}: {len(failures)} failure(s), {args.examples} examples per operation, "
              f"{time.perf_counter() - started:.0f} s")
        for failure in failures:
            print("  " + failure.replace("\n", "\n    "))
        failed += len(failures)
        state(app).engine.dispose()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
