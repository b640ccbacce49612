"""The BAN / addok API client against a local stand-in server (never the internet).

The stand-in answers `/search/` and `/reverse/` in the API's GeoJSON format, with responses built
from the real Bondy BAN rows, and can be told to fail, to be slow or to answer garbage.
"""

from __future__ import annotations

import csv
import json
import threading
import time

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from app.geocoding import Geocoder, GeocoderSettings
from app.geocoding.ban_api import BanApiClient
from app.geocoding.base import GeocoderUnavailable
from tests.conftest import shared


def _feature(row: dict, score: float) -> dict:
    number = row["numero"] + (f" {row['rep']}" if row["rep"] else "")
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [float(row["lon"]), float(row["lat"])]},
        "properties": {"label": f"{number} {row['nom_voie']} {row['code_postal']} {row['nom_commune']}",
                       "score": score, "housenumber": number, "id": row["id"], "type": "housenumber",
                       "name": f"{number} {row['nom_voie']}", "postcode": row["code_postal"],
                       "citycode": row["code_insee"], "city": row["nom_commune"], "street": row["nom_voie"]},
    }


class StandIn:
    """A tiny addok look-alike: exact-ish search on the Bondy rows, scripted failures."""

    def __init__(self):
        with shared("ban-adresses-93010-bondy.csv").open(encoding="utf-8", newline="") as fh:
            self.rows = list(csv.DictReader(fh, delimiter=";"))
        self.failures: list[int | str] = []  # next responses: an HTTP status, "slow" or "garbage"
        self.requests: list[dict] = []

    def __call__(self, environ, start_response):
        request = Request(environ)
        self.requests.append({"path": request.path, **request.args})
        if self.failures:
            failure = self.failures.pop(0)
            if failure == "slow":
                time.sleep(1.0)
            elif failure == "garbage":
                return Response("<html>maintenance</html>", 200, content_type="text/html")(environ, start_response)
            else:
                return Response("error", failure)(environ, start_response)
        if request.path == "/search/":
            q = request.args.get("q", "").lower()
            found = [r for r in self.rows if f"{r['numero']} {r['nom_voie']}".lower() in q]
            features = [_feature(r, 0.93) for r in found[: int(request.args.get("limit", 5))]]
        elif request.path == "/reverse/":
            lon, lat = float(request.args["lon"]), float(request.args["lat"])
            nearest = min(self.rows, key=lambda r: (float(r["lon"]) - lon) ** 2 + (float(r["lat"]) - lat) ** 2)
            features = [_feature(nearest, 0.99)]
        else:
            return Response("not found", 404)(environ, start_response)
        body = json.dumps({"type": "FeatureCollection", "features": features})
        return Response(body, 200, content_type="application/json")(environ, start_response)


@pytest.fixture
def stand_in():
    app = StandIn()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.url = f"http://127.0.0.1:{server.port}"
    yield app
    server.shutdown()


def client(stand_in, **kw):
    options = {"timeout": 0.5, "retries": 2, "backoff": 0.01, "cooldown": 30.0}
    options.update(kw)
    return BanApiClient(stand_in.url, **options)


def test_search_parses_the_api_format(stand_in):
    candidates = client(stand_in).search("5 Rue de l’Egalité 93140 Bondy", limit=3)
    assert candidates[0].label == "5 Rue de l’Egalité 93140 Bondy"
    assert (candidates[0].level, candidates[0].code_insee, candidates[0].id) == ("housenumber", "93010", "93010_3121_00005")
    assert candidates[0].source == "ban-api" and 0 <= candidates[0].score <= 1
    assert stand_in.requests[-1] == {"path": "/search/", "q": "5 Rue de l’Egalité 93140 Bondy", "limit": "3",
                                     "autocomplete": "0"}


def test_reverse(stand_in):
    found = client(stand_in).reverse(2.475533, 48.899036)
    assert found[0].id == "93010_3121_00005"


def test_transient_errors_are_retried_with_backoff(stand_in):
    stand_in.failures = [503, "slow"]  # a server error, then a timeout, then an answer
    sleeps = []
    api = client(stand_in, sleep=sleeps.append)
    assert api.search("5 Rue de l’Egalité Bondy")[0].id == "93010_3121_00005"
    assert len(stand_in.requests) == 3 and sleeps == [0.01, 0.02]


def test_a_dead_service_is_not_called_again_during_the_cool_down(stand_in):
    now = [100.0]
    api = client(stand_in, sleep=lambda _s: None, clock=lambda: now[0])
    stand_in.failures = [500, 502, 504]
    with pytest.raises(GeocoderUnavailable, match="HTTP 504"):
        api.search("5 Rue de l’Egalité Bondy")
    assert len(stand_in.requests) == 3  # 1 call + 2 retries, bounded
    with pytest.raises(GeocoderUnavailable):
        api.search("5 Rue de l’Egalité Bondy")
    assert len(stand_in.requests) == 3  # cooling down: no call at all
    now[0] += 31
    assert api.search("5 Rue de l’Egalité Bondy")[0].id == "93010_3121_00005"


def test_garbage_and_unreachable_servers_are_unavailable(stand_in):
    stand_in.failures = ["garbage"]
    with pytest.raises(GeocoderUnavailable, match="non JSON"):
        client(stand_in, retries=0).search("x y z")
    with pytest.raises(GeocoderUnavailable):
        BanApiClient("http://127.0.0.1:9", timeout=0.2, retries=1, backoff=0.01).search("5 rue x")


def test_geocoder_uses_the_api_first_and_degrades_to_the_local_index(stand_in, demo_session):
    api = client(stand_in, sleep=lambda _s: None)
    geocoder = Geocoder(GeocoderSettings(backends=("ban-api", "local")), ban_client=api)
    result = geocoder.search(demo_session, "5 Rue de l’Egalité 93140 Bondy")
    assert result.status == "found" and result.backend == "ban-api" and result.best.source == "ban-api"
    assert not result.warnings
    stand_in.failures = [503, 503, 503]
    result = geocoder.search(demo_session, "5 Rue de l’Egalité 93140 Bondy")
    # The demo has no BAN addresses: the local side falls back to the commune, and says why.
    assert result.best.level == "municipality" and result.best.code_insee == "93010"
    assert result.warnings[0]["code"] == "geocoder-unavailable"
    assert "indisponible" in result.warnings[0]["message"]


def test_no_outgoing_call_unless_configured(stand_in, demo_session, monkeypatch):
    import requests

    def refuse(*args, **kwargs):
        raise AssertionError("no HTTP call expected")

    monkeypatch.setattr(requests.Session, "get", refuse)
    geocoder = Geocoder(GeocoderSettings(backends=("local",)))
    assert geocoder.ban is None
    assert geocoder.search(demo_session, "5 rue de l'Égalité 93140 Bondy").best.code_insee == "93010"
