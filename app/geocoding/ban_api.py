"""Client for the BAN / addok HTTP API (`/search`, `/reverse`).

The base URL points at the national service (https://data.geopf.fr/geocodage, formerly
api-adresse.data.gouv.fr) or at a self-hosted addok. Each call has a timeout and a bounded number of
retries with exponential backoff; after a failure the client stays "down" for a cool-down period
so that a dead service does not slow every lookup — the caller falls back to the local geocoder
and says so.

Privacy: the query leaves the building only when this backend is configured
(MAILLAGE_GEOCODERS contains "ban-api"); nothing is logged with it.
"""

from __future__ import annotations

import threading
import time

import requests

from app.geocoding.base import Candidate, GeocoderUnavailable

_LEVELS = {"housenumber": "housenumber", "street": "street", "locality": "street", "municipality": "municipality"}
_RETRY_STATUS = {429, 500, 502, 503, 504}


class BanApiClient:
    def __init__(self, base_url: str, *, timeout: float = 2.0, retries: int = 2, backoff: float = 0.2,
                 cooldown: float = 30.0, session: requests.Session | None = None, sleep=time.sleep,
                 clock=time.monotonic):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.cooldown = cooldown
        self.http = session or requests.Session()
        self.http.headers.setdefault("User-Agent", "Maillage (geocodage adresses partenaires)")
        self._sleep = sleep
        self._clock = clock
        self._down_until = 0.0
        self._lock = threading.Lock()

    @property
    def is_down(self) -> bool:
        return self._clock() < self._down_until

    def _get(self, path: str, params: dict) -> dict:
        if self.is_down:
            raise GeocoderUnavailable("service BAN indisponible (nouvel essai dans quelques secondes)")
        last = None
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(self.backoff * (2 ** (attempt - 1)))
            try:
                response = self.http.get(f"{self.base_url}{path}", params=params, timeout=self.timeout)
            except requests.RequestException as exc:
                last = f"{type(exc).__name__}"
                continue
            if response.status_code in _RETRY_STATUS:
                last = f"HTTP {response.status_code}"
                continue
            if response.status_code == 400:
                return {"features": []}  # the service refuses the query (too short, …): nothing found
            if response.status_code != 200:
                last = f"HTTP {response.status_code}"
                break
            try:
                data = response.json()
            except ValueError:
                last = "réponse non JSON"
                break
            if not isinstance(data, dict) or not isinstance(data.get("features"), list):
                last = "réponse inattendue"
                break
            return data
        with self._lock:
            self._down_until = self._clock() + self.cooldown
        raise GeocoderUnavailable(f"service BAN indisponible ({last})")

    def search(self, q: str, *, limit: int = 5, autocomplete: bool = False) -> list[Candidate]:
        data = self._get("/search/", {"q": q, "limit": limit, "autocomplete": int(bool(autocomplete))})
        return [c for c in (_candidate(f) for f in data["features"]) if c is not None]

    def reverse(self, lon: float, lat: float) -> list[Candidate]:
        data = self._get("/reverse/", {"lon": lon, "lat": lat})
        return [c for c in (_candidate(f) for f in data["features"]) if c is not None]


def _candidate(feature) -> Candidate | None:
    try:
        props = feature["properties"]
        lon, lat = feature["geometry"]["coordinates"][:2]
        level = _LEVELS.get(props.get("type"))
        if level is None:
            return None
        return Candidate(
            label=str(props["label"]), level=level, score=max(0.0, min(1.0, float(props.get("score", 0)))),
            lon=float(lon), lat=float(lat), code_insee=props.get("citycode"), postcode=props.get("postcode"),
            city=props.get("city"), street=props.get("street") or (props.get("name") if level == "street" else None),
            housenumber=props.get("housenumber"), id=props.get("id"), source="ban-api",
        )
    except (KeyError, TypeError, ValueError, IndexError):
        return None  # a malformed feature is skipped, not trusted
