"""The oracle test at scale: many seeded random scenarios, the real lookup against the independent
implementation of docs/eligibility.md (tests/oracle.py), both backends. No pytest needed.

    .venv/bin/python bench/oracle_bench.py [--seed 1] [--first 0] [--count 5000]
                                           [--backends spatialite,postgis] [--show] [--examples 3]

Scenario `i` of a seed is built from random.Random(f"{seed}:{i}") alone, so a failure printed by
the test or by this script is rerun by hand with `--seed S --first i --count 1 --show` (which also
prints the scenario's records and every differing answer). Each backend gets its own throwaway
database (communes of 75 and 93, IRIS of Bondy and Montreuil), dropped at the end; PostGIS through
MAILLAGE_BENCH_POSTGRES_URL (default: the test role of dev.sh on 127.0.0.1). Exit status 1 when
any answer differs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.config import load_settings  # noqa: E402
from app.db import engine_from_settings  # noqa: E402
from tests.oracle import Reference  # noqa: E402
from tests.oracle_check import Outcome, run_scenario  # noqa: E402
from tests.oracle_scenarios import Generator, build_database  # noqa: E402

PG_ADMIN = os.environ.get("MAILLAGE_BENCH_POSTGRES_URL",
                          "postgresql+psycopg://maillage_test:maillage_test@127.0.0.1:5432/postgres")


class Database:
    """A throwaway database of a backend (context manager: dropped on exit)."""

    def __init__(self, backend: str):
        self.backend = backend
        self.tmp = self.pg_name = None

    def __enter__(self) -> str:
        if self.backend == "spatialite":
            self.tmp = tempfile.TemporaryDirectory(prefix="maillage-oracle-")
            return f"sqlite:///{Path(self.tmp.name) / 'oracle.sqlite'}"
        self.pg_name = f"maillage_oracle_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE DATABASE "{self.pg_name}"')
        return PG_ADMIN.rsplit("/", 1)[0] + f"/{self.pg_name}"

    def __exit__(self, *exc):
        if self.tmp is not None:
            self.tmp.cleanup()
        if self.pg_name is not None:
            self._admin(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')

    @staticmethod
    def _admin(sql: str) -> None:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(sql))
        admin.dispose()


def run_backend(backend: str, seed: int, first: int, count: int, show: bool) -> tuple[Outcome, dict]:
    times = {}
    with Database(backend) as url:
        engine = engine_from_settings(load_settings({"DATABASE_URL": url}))
        started = time.perf_counter()
        build_database(engine)
        times["build_s"] = time.perf_counter() - started
        outcome = Outcome()
        with engine.connect() as conn:
            outer = conn.begin()
            with Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False) as session:
                ref = Reference.load(session)
                generator = Generator(ref)
                started = time.perf_counter()
                for index in range(first, first + count):
                    scenario = generator.scenario(seed, index)
                    if show:
                        print(f"--- {scenario.name}: records")
                        for record in scenario.records:
                            print(json.dumps(record, ensure_ascii=False))
                        for req in scenario.requests:
                            print("request", json.dumps(req.describe(), ensure_ascii=False))
                    result = run_scenario(session, ref, scenario, backend)
                    if show:
                        for failure in result.failures:
                            print(failure.message())
                    outcome.add(result)
                    done = index - first + 1
                    if not show and done % 250 == 0:
                        print(f"  {backend}: {done}/{count} scenarios, {sum(outcome.by_rule.values())} wrong",
                              file=sys.stderr)
                times["run_s"] = time.perf_counter() - started
            outer.rollback()
        engine.dispose()
    return outcome, times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--first", type=int, default=0, help="index of the first scenario")
    parser.add_argument("--count", type=int, default=5000, help="number of scenarios per backend")
    parser.add_argument("--backends", default="spatialite,postgis")
    parser.add_argument("--show", action="store_true", help="print each scenario's records and every difference")
    parser.add_argument("--examples", type=int, default=3, help="reproductions printed per rule (without --show)")
    args = parser.parse_args(argv)
    wrong = 0
    for backend in [b for b in args.backends.split(",") if b]:
        outcome, times = run_backend(backend, args.seed, args.first, args.count, args.show)
        wrong += sum(outcome.by_rule.values())
        print(f"== {backend}: seed {args.seed}, scenarios {args.first}..{args.first + args.count - 1}; "
              f"database built in {times['build_s']:.1f} s, compared in {times['run_s']:.1f} s")
        print(outcome.report(limit=0 if args.show else args.examples))
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
