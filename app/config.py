"""Settings: defaults, overridden by environment variables, overridden by an explicit mapping.

Nothing here runs at import time; `load_settings()` is called by the app factory and the CLI.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = f"sqlite:///{PROJECT_ROOT / 'var' / 'maillage.sqlite'}"


@dataclass(frozen=True)
class Settings:
    # SQLAlchemy URL. sqlite:///path → SpatiaLite file; postgresql+psycopg://… → PostGIS.
    DATABASE_URL: str = DEFAULT_DATABASE_URL
    # Name or path of the SpatiaLite loadable module (Debian: libsqlite3-mod-spatialite).
    SPATIALITE_LIBRARY_PATH: str = "mod_spatialite"
    # Default search radius (metres) for proximity kinds whose catalogue entry sets none.
    PROXIMITY_RADIUS_M: int = 5000
    # Upper bound for a radius asked through the API (metres).
    MAX_RADIUS_M: int = 50000
    # How many sites of each proximity kind a lookup returns.
    PROXIMITY_LIMIT: int = 5
    # Maximum number of points in one POST /api/v1/lookup/batch request.
    MAX_BATCH_POINTS: int = 10000
    # Largest request body (bytes) accepted; a larger one is refused with 413 before it is read or
    # parsed. 2 MiB holds a batch of 10,000 points written at full precision (~45 bytes a point).
    MAX_CONTENT_LENGTH: int = 2 * 1024 * 1024
    # Number of proxies in front of the app whose X-Forwarded-* headers are trusted (0 = none).
    TRUSTED_PROXIES: int = 0
    # Flask secret key (sessions/CSRF for the web forms). Set it in production.
    SECRET_KEY: str = field(default="dev-only-change-me", repr=False)
    LOG_LEVEL: str = "INFO"
    # Geocoders tried in order: "local" (BAN addresses imported with `maillage import ban`) and/or
    # "ban-api" (HTTP, the only setting that sends addresses outside). The commune fallback always follows.
    GEOCODERS: str = "local"
    # BAN / addok API base URL (national service or a self-hosted addok), timeout (s) and retries.
    BAN_API_URL: str = "https://data.geopf.fr/geocodage"
    BAN_API_TIMEOUT_S: float = 2.0
    BAN_API_RETRIES: int = 2
    # Geocoding score (0–1) under which an address counts as not found.
    GEOCODER_MIN_SCORE: float = 0.5
    # Distance (m) to a coverage boundary under which a territorial answer is flagged "à confirmer".
    BOUNDARY_DISTANCE_M: int = 50
    # Base-map tiles for the web maps, e.g. "https://tile.openstreetmap.org/{z}/{x}/{y}.png" (its host is
    # added to the CSP). Empty: no tiles, the layers show on a plain background (offline by default).
    TILE_URL: str = ""
    TILE_ATTRIBUTION: str = ""
    # Unmet-demand counts (off by default): each lookup that finds no partner of a territorial kind
    # adds 1 to (commune, ISO week, kind) — never an address, a point or a time of day.
    DEMAND_COUNTS: bool = False
    # Background jobs (app/jobs, docs/jobs.md). In-process by default: JOBS_WORKERS child processes,
    # state and results under JOBS_DIR. With REDIS_URL: RQ on Redis (`maillage jobs worker`), keys
    # under REDIS_PREFIX. At most JOBS_MAX_QUEUED jobs wait or run; results are deleted
    # JOBS_RESULT_TTL_S seconds after their job ends; a job running longer than JOBS_TIMEOUT_S fails (RQ).
    JOBS_DIR: str = str(PROJECT_ROOT / "var" / "jobs")
    JOBS_WORKERS: int = 1
    # The in-process workers' niceness increment (0: the server's own priority).
    JOBS_NICE: int = 10
    JOBS_MAX_QUEUED: int = 20
    JOBS_RESULT_TTL_S: int = 3600
    JOBS_TIMEOUT_S: int = 1800
    # The coverage map's frame (/carte/couverture.html) is drawn by a job: the request waits this long
    # for it (a commune's map is ready at once), then the frame shows the job's progress instead.
    MAP_FRAME_WAIT_S: float = 3.0
    REDIS_URL: str = ""
    # Per-client rate limits (app/web/limits.py): the expensive pages and downloads together, and the
    # batch lookup counted in points ("N/second|minute|hour|day"; empty: no limit).
    RATE_LIMIT_HEAVY: str = "30/minute"
    RATE_LIMIT_BATCH_POINTS: str = "600000/minute"
    REDIS_PREFIX: str = "maillage:"
    # Staff accounts (README "Comptes et rôles"). E-mail through SMTP: host (empty: no e-mail is sent,
    # the links are only shown to the operator by the CLI), port, STARTTLS, login, sender address.
    SMTP_HOST: str = ""
    SMTP_PORT: int = 25
    SMTP_STARTTLS: bool = False
    SMTP_USER: str = ""
    SMTP_PASSWORD: str = field(default="", repr=False)
    MAIL_FROM: str = "maillage@example.org"
    # Address of the site in e-mailed links, e.g. "https://maillage.example.org" (empty: the request's host).
    PUBLIC_URL: str = ""
    # Lifetime of an invitation link (days), of a password reset link (hours) and of a session (hours).
    INVITATION_DAYS: int = 7
    RESET_HOURS: int = 2
    SESSION_HOURS: int = 8
    # Session cookie sent over HTTPS only (keep on in production; off only for a local http:// test).
    COOKIE_SECURE: bool = True
    # Single sign-on through ProConnect (OpenID Connect; README "Connexion avec ProConnect"): on when the
    # issuer and the client id are set. The issuer's /.well-known/openid-configuration is read; scopes
    # asked, acr_values sent (empty: none), and whether an e-mail without `email_verified` is taken as
    # verified (the provider vouches for the addresses it gives).
    PROCONNECT_ISSUER: str = ""
    PROCONNECT_CLIENT_ID: str = ""
    PROCONNECT_CLIENT_SECRET: str = field(default="", repr=False)
    PROCONNECT_SCOPES: str = "openid email given_name usual_name"
    PROCONNECT_ACR_VALUES: str = ""
    PROCONNECT_EMAILS_VERIFIED: bool = False
    PROCONNECT_TIMEOUT_S: float = 10.0
    # When on, a referent's every change (contacts and "comment saisir" too) waits for a territory administrator.
    MODERATE_ALL: bool = False
    # Address files to annotate (maillage annotate, "Annoter un fichier"): most data rows per file,
    # and how long (seconds) an uploaded file and its results are kept when nobody downloads them.
    ANNOTATE_MAX_ROWS: int = 200_000
    ANNOTATE_MAX_MB: int = 50
    ANNOTATE_RETENTION_S: int = 1800
    ANNOTATE_DIR: str = ""  # where uploads wait for their job (empty: <temp>/maillage-annotate)

    def as_flask_config(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def backend(self) -> str:
        return "postgis" if self.DATABASE_URL.startswith("postgresql") else "spatialite"


# Environment variable for each setting: DATABASE_URL keeps its conventional name,
# the others are prefixed so they cannot collide with unrelated variables.
ENV_NAMES = {f.name: (f.name if f.name == "DATABASE_URL" else f"MAILLAGE_{f.name}") for f in fields(Settings)}


def _coerce(name: str, raw: str):
    default = getattr(Settings, name)
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError as exc:
            raise ValueError(f"{ENV_NAMES[name]} doit être un entier (reçu {raw!r})") from exc
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError as exc:
            raise ValueError(f"{ENV_NAMES[name]} doit être un nombre (reçu {raw!r})") from exc
    return raw


def load_settings(overrides: dict | None = None, environ: dict | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    values = {}
    for name, env_name in ENV_NAMES.items():
        if env_name in environ and environ[env_name] != "":
            values[name] = _coerce(name, environ[env_name])
    for name, value in (overrides or {}).items():
        if name not in ENV_NAMES:
            raise KeyError(f"unknown setting {name!r}")
        values[name] = value
    return Settings(**values)
