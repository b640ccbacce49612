"""The `ban-api` geocoder against a real, self-hosted addok (the engine of the national BAN
service) — not a stand-in: addok 1.3.2 + addok-fr + addok-france from requirements-addok.lock
(.venv-addok, installed by `dev.sh test`), its WSGI application under waitress, on a redis-server
of its own started here (own port and directory, removed after). addok indexes the documents that
`maillage export addok` writes from the BAN addresses of Bondy, then Maillage geocodes through it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from app.cli import main
from app.config import PROJECT_ROOT
from app.geocoding import Geocoder, GeocoderSettings

ADDOK_PYTHON = PROJECT_ROOT / ".venv-addok" / "bin" / "python"
ADDOK_CONFIG = PROJECT_ROOT / "addok" / "maillage_addok.py"
SECRET = "17 rue imaginaire des Témoins Zq 93140 Bondy"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(port: int, what: str, proc: subprocess.Popen, log: Path) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError(f"{what} s'est arrêté : {log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} ne répond pas sur le port {port}")


@pytest.fixture(scope="session")
def addok_url(tmp_path_factory, geo_url):
    """A real addok HTTP server holding Bondy's BAN addresses (exported by `maillage export addok`
    from the SpatiaLite and PostGIS test databases alike: they hold the same file)."""
    assert ADDOK_PYTHON.exists(), ".venv-addok absent : lancer `bash dev.sh test` (ou `bash dev.sh addok`)"
    assert shutil.which("redis-server"), "redis-server absent : lancer `bash dev.sh test` (paquet redis-server)"
    tmp = tmp_path_factory.mktemp("addok")
    docs = tmp / "bondy.ndjson"
    result = CliRunner().invoke(main, ["--database-url", geo_url, "export", "addok", str(docs)])
    assert result.exit_code == 0, result.output
    redis_port, http_port = _free_port(), _free_port()
    redis_log, addok_log = tmp / "redis.log", tmp / "addok.log"
    redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--dir", str(tmp),
                              "--save", "", "--appendonly", "no"], stdout=redis_log.open("w"), stderr=subprocess.STDOUT)
    env = {**os.environ, "ADDOK_CONFIG_MODULE": str(ADDOK_CONFIG), "ADDOK_REDIS_PORT": str(redis_port),
           "ADDOK_REDIS_DB": "0"}
    server = None
    try:
        _wait(redis_port, "redis-server", redis, redis_log)
        addok = [str(ADDOK_PYTHON.parent / "addok")]
        for args in (["batch", str(docs)], ["ngrams"]):
            subprocess.run(addok + args, env=env, check=True, capture_output=True, timeout=300)
        server = subprocess.Popen([str(ADDOK_PYTHON), "-m", "waitress", "--host=127.0.0.1", f"--port={http_port}",
                                   "addok.http.wsgi:application"], env=env, stdout=addok_log.open("w"),
                                  stderr=subprocess.STDOUT)
        _wait(http_port, "addok", server, addok_log)
        yield f"http://127.0.0.1:{http_port}", addok_log
    finally:
        for proc in (server, redis):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)


@pytest.fixture
def geo_session(geo_url):
    from app import db
    from tests.conftest import make_engine

    engine = make_engine(geo_url)
    with db.read_session_factory(engine)() as session:
        yield session
    engine.dispose()


@pytest.fixture
def addok_geocoder(addok_url):
    return Geocoder(GeocoderSettings(backends=("ban-api",), ban_api_url=addok_url[0]))


@pytest.mark.parametrize("query, ban_id", [
    ("Appt 12 bât B 5 rue de l'Égalité 93140", "93010_3121_00005"),
    ("5 RUE DE L EGALITE BONDY", "93010_3121_00005"),
    ("12 r roger salengro bondy", "93010_8172_00012"),
])
def test_a_self_hosted_addok_answers_at_the_house_number(geo_session, addok_geocoder, query, ban_id):
    result = addok_geocoder.search(geo_session, query)
    assert result.status == "found" and result.backend == "ban-api", (result.status, result.message)
    assert (result.best.id, result.best.level, result.best.code_insee) == (ban_id, "housenumber", "93010")
    assert result.best.source == "ban-api" and result.best.postcode == "93140"


def test_lookup_by_address_through_addok_gives_the_coverage(geo_url, addok_url):
    from app.web import create_app

    application = create_app({"DATABASE_URL": geo_url, "GEOCODERS": "ban-api", "BAN_API_URL": addok_url[0]})
    try:
        body = application.test_client().get("/api/v1/lookup", query_string={
            "address": "5 rue de l'Égalité 93140 Bondy"}).get_json()
    finally:
        application.extensions["maillage"].engine.dispose()
    assert body["geocoding"]["backend"] == "ban-api" and body["geocoding"]["best"]["id"] == "93010_3121_00005"
    sector = next(k for k in body["lookup"]["kinds"] if k["kind"] == "secteur_psy_adulte")
    assert sector["partners"]


def test_addok_never_writes_the_looked_up_address(geo_session, addok_geocoder, addok_url):
    addok_geocoder.search(geo_session, SECRET)
    requests.get(f"{addok_url[0]}/search/", params={"q": SECRET}, timeout=10)
    time.sleep(0.2)
    assert "imaginaire" not in addok_url[1].read_text()
