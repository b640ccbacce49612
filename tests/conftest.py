"""Test fixtures. Database tests run on both backends: SpatiaLite (a temporary file) and PostGIS
(a throwaway database created on the server named by MAILLAGE_TEST_POSTGRES_URL and dropped at the
end). Each test runs in a transaction that is rolled back.

The PostGIS half is not optional: if the server is unreachable the tests fail. A developer
without PostgreSQL can restrict the run explicitly with MAILLAGE_TEST_BACKENDS=spatialite; the
header then says so.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from app.partners import kinds
from importers import demo
from app.config import PROJECT_ROOT, load_settings
from app.db import engine_from_settings, transaction, upgrade

SHARED_DATA = Path(os.environ.get("MAILLAGE_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))
ALL_BACKENDS = ("spatialite", "postgis")
BACKENDS = tuple(b for b in os.environ.get("MAILLAGE_TEST_BACKENDS", ",".join(ALL_BACKENDS)).split(",") if b)
POSTGRES_ADMIN_URL = os.environ.get(
    "MAILLAGE_TEST_POSTGRES_URL", "postgresql+psycopg://maillage_test:maillage_test@127.0.0.1:5432/postgres"
)
ARTIFACTS = PROJECT_ROOT / "tests" / "artifacts"


def pytest_report_header(config):
    lines = [f"maillage backends: {', '.join(BACKENDS)}", f"shared data: {SHARED_DATA}"]
    if set(BACKENDS) != set(ALL_BACKENDS):
        lines.append("WARNING: not all backends are tested (MAILLAGE_TEST_BACKENDS)")
    return lines


def shared(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        raise FileNotFoundError(f"shared test data missing: {path} (set MAILLAGE_SHARED_DATA)")
    return path


class Databases:
    """Creates databases for a backend and drops them at the end of the session."""

    def __init__(self, tmp_path_factory):
        self.tmp = tmp_path_factory
        self.created: list[tuple[str, str]] = []

    def new_url(self, backend: str) -> str:
        if backend == "spatialite":
            return f"sqlite:///{self.tmp.mktemp('spatialite') / 'maillage.sqlite'}"
        name = f"maillage_test_{uuid.uuid4().hex[:12]}"
        admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        self.created.append((backend, name))
        return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"

    def drop_all(self):
        if not self.created:
            return
        admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for _, name in self.created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def databases(tmp_path_factory):
    dbs = Databases(tmp_path_factory)
    yield dbs
    dbs.drop_all()


def make_engine(url: str):
    return engine_from_settings(load_settings({"DATABASE_URL": url}))


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture(scope="session")
def demo_url(backend, databases):
    """A database holding the demo dataset, built once per backend per test session."""
    url = databases.new_url(backend)
    engine = make_engine(url)
    demo.build(engine, log=lambda _m: None)
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def geo_url(backend, databases):
    """The demo plus the BAN addresses of Bondy (address search, autocomplete)."""
    from importers import ban
    from importers.base import run

    url = databases.new_url(backend)
    engine = make_engine(url)
    demo.build(engine, log=lambda _m: None)
    report = run(engine, "ban", ban.read, ban.load, [shared("ban-adresses-93010-bondy.csv")])
    assert report.created == 8413
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def demo_engine(demo_url):
    engine = make_engine(demo_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def empty_url(backend, databases):
    """A database with the schema and the kind catalogue only."""
    url = databases.new_url(backend)
    engine = make_engine(url)
    upgrade(engine)
    with transaction(engine) as session:
        kinds.load_catalogue(session)
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def empty_engine(empty_url):
    engine = make_engine(empty_url)
    yield engine
    engine.dispose()


def _rolled_back(engine):
    conn = engine.connect()
    outer = conn.begin()
    try:
        yield conn
    finally:
        outer.rollback()
        conn.close()


@pytest.fixture
def demo_conn(demo_engine):
    """A connection to the demo database inside a transaction rolled back after the test."""
    yield from _rolled_back(demo_engine)


@pytest.fixture
def empty_conn(empty_engine):
    yield from _rolled_back(empty_engine)


@pytest.fixture
def demo_session(demo_conn):
    with Session(bind=demo_conn, join_transaction_mode="create_savepoint", expire_on_commit=False) as session:
        yield session


@pytest.fixture
def empty_session(empty_conn):
    with Session(bind=empty_conn, join_transaction_mode="create_savepoint", expire_on_commit=False) as session:
        yield session


@pytest.fixture(scope="session")
def demo_app(demo_url, tmp_path_factory):
    from app.web import create_app

    # no rate limit: the whole suite is one client (tests/test_limits.py checks the limits)
    application = create_app({"DATABASE_URL": demo_url, "JOBS_DIR": str(tmp_path_factory.mktemp("jobs")),
                              "RATE_LIMIT_HEAVY": "", "RATE_LIMIT_BATCH_POINTS": ""})
    application.config["TESTING"] = True
    yield application
    application.extensions["maillage"].jobs.shutdown()
    application.extensions["maillage"].engine.dispose()


@pytest.fixture
def client(demo_app):
    return demo_app.test_client()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
