"""Faults: a lost database answers 503 with Retry-After (problem+json on the API, a French page on
the web), never a raw server page, and the service recovers by itself — on a PostgreSQL server this
test starts on its own port and stops (never the machine's shared one), served by waitress; an
exception's log carries no request value (a query forced to fail)."""

import logging
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from app import privacy
from app.db import transaction, upgrade
from app.partners import kinds
from tests.conftest import make_engine

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SECRET = "12 rue des Lilas 2.4812"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OwnPostgres:
    """A throwaway PostgreSQL cluster (initdb) on a free port, run as the postgres user."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="maillage-api-pg-"))
        self.data, self.port = self.root / "data", _free_port()
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_postgres:
            shutil.chown(self.root, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        self.start()

    def _run(self, tool, *args):
        result = subprocess.run([*self.as_postgres, str(PG_BIN / tool), *args], capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr

    def start(self):
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-o",
                  f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop(self):
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self, database="postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def close(self):
        subprocess.run([*self.as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def own_postgres():
    assert (PG_BIN / "initdb").exists(), "PostgreSQL 15 absent : lancer `bash dev.sh test`"
    server = OwnPostgres()
    admin = create_engine(server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text('CREATE DATABASE "maillage_api_faults"'))
    admin.dispose()
    engine = make_engine(server.url("maillage_api_faults"))
    upgrade(engine)
    with transaction(engine) as session:
        kinds.load_catalogue(session)
    engine.dispose()
    yield server
    server.close()


@pytest.fixture
def served(own_postgres):
    """The application on the own server's database, served by waitress on a free port."""
    from waitress import create_server

    from app.web import create_app, state

    app = create_app({"DATABASE_URL": own_postgres.url("maillage_api_faults")})
    server = create_server(app, host="127.0.0.1", port=0, threads=4, ident="maillage")
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.trigger.pull_trigger(server.close)  # closed by its own loop: no select() on a closed socket
    time.sleep(0.2)
    state(app).engine.dispose()


PATHS = ["/api/v1/lookup?lon=2.48&lat=48.91", "/api/v1/kinds", "/api/v1/partners", "/api/v1/status",
         "/annuaire", "/couverture?lon=2.48&lat=48.91", "/partenaires/1"]


def _get_all(base):
    out = {}
    for path in PATHS:
        out[path] = requests.get(base + path, timeout=30)
    return out


def test_a_lost_database_is_a_503_with_retry_after_then_the_service_recovers(own_postgres, served):
    before = _get_all(served)
    assert before["/api/v1/lookup?lon=2.48&lat=48.91"].status_code == 200
    assert before["/api/v1/kinds"].status_code == 200
    own_postgres.stop()
    try:
        for _ in range(2):  # the first round finds pooled connections dead, the second cannot connect
            during = _get_all(served)
            for path, response in during.items():
                if path == "/partenaires/1" and response.status_code == 404:
                    continue
                assert response.status_code == 503, (path, response.status_code, response.text[:300])
                assert response.headers["Retry-After"] == "5"
                if path.startswith("/api/"):
                    assert response.headers["Content-Type"] == "application/problem+json"
                    body = response.json()
                    assert body["code"] == "database-unavailable" and body["status"] == 503
                    assert "Réessayer dans quelques secondes" in body["detail"]
                else:
                    assert response.headers["Content-Type"].startswith("text/html")
                    assert "momentanément indisponible" in response.text
    finally:
        own_postgres.start()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        after = requests.get(served + "/api/v1/lookup?lon=2.48&lat=48.91", timeout=30)
        if after.status_code == 200:
            break
        assert after.status_code == 503
        time.sleep(0.2)
    assert after.status_code == 200, after.text[:300]
    assert all(r.status_code in (200, 404) for r in _get_all(served).values())


def test_concurrent_requests_while_the_database_goes_get_no_500(own_postgres, served):
    statuses, stop = [], threading.Event()

    def hammer():
        session = requests.Session()
        while not stop.is_set():
            for path in PATHS[:4]:
                r = session.get(served + path, timeout=30)
                statuses.append((r.status_code, r.headers.get("Content-Type", "")))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    own_postgres.stop()
    time.sleep(1.5)
    own_postgres.start()
    time.sleep(2.5)
    stop.set()
    for t in threads:
        t.join(60)
    codes = {code for code, _ in statuses}
    assert codes <= {200, 503}, sorted(codes)
    assert 503 in codes and 200 in codes
    assert all(ctype.startswith("application/") for _, ctype in statuses)  # never waitress's text/plain page


def test_a_failing_query_logs_no_request_value(demo_url, caplog, capfd, backend):
    """A query that fails with a person's input as its parameter: the answer is a problem, the
    log names the route and the exception's type, never the value (nor SQLAlchemy's
    `[parameters: …]`, nor the driver's own message quoting it)."""
    from app.web import create_app, get_session, state

    app = create_app({"DATABASE_URL": demo_url})

    def fails():
        sql = ("SELECT CAST(:address AS integer)" if backend == "postgis"
               else "SELECT value FROM no_such_table WHERE value = :address")
        get_session().execute(text(sql), {"address": SECRET})

    app.add_url_rule("/api/v1/lookup-test-fails", "test_fails", fails)
    privacy.install()
    with caplog.at_level(logging.INFO):
        response = app.test_client().get("/api/v1/lookup-test-fails?address=" + SECRET)
    state(app).engine.dispose()
    assert response.status_code in (500, 503) and response.mimetype == "application/problem+json"
    assert SECRET not in response.get_data(as_text=True)
    logged = caplog.text + "".join(capfd.readouterr())
    assert "/api/v1/lookup-test-fails" in logged and "Error" in logged
    assert "Lilas" not in logged and "2.4812" not in logged


def test_sqlalchemy_errors_and_formatted_tracebacks_hide_parameters(demo_engine):
    with pytest.raises(Exception) as failure, demo_engine.connect() as conn:
        conn.execute(text("SELECT value FROM no_such_table_at_all WHERE value = :address"), {"address": SECRET})
    assert SECRET not in str(failure.value)
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None,
                               (ValueError, ValueError(f"boom [parameters: ('{SECRET}',)]"), None))
    privacy.RedactingFilter().filter(record)
    assert "Lilas" not in record.exc_text and "[parameters: ***]" in record.exc_text
