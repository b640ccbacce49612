"""The web shell: the Flask application factory, the request's session and the security headers.

The only package that imports Flask. Pages (app/web/pages.py) and the API (app/web/api/) parse the
request, call the domain and render; errors become pages or problem details (app/web/errors.py).
Nothing connects, reads the environment or starts anything at import time: `create_app()` does.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass

from flask import Flask, g, request
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.config import PROJECT_ROOT, Settings, load_settings
from app.web.json_provider import OrjsonProvider


# Forms sent by POST that write nothing (the orientation guide's signs are POSTed to stay out of
# URLs and logs): no CSRF token needed; the authorisation tests check they leave nothing behind.
POST_READS = {"orientation.guide_page": "app.web.orientation.guide_page"}


@dataclass
class State:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]  # read-write, one transaction each (demand counts)
    read_sessions: sessionmaker[Session]  # requests: read only, no transaction
    geocoder: object  # app.geocoding.Geocoder
    jobs: object  # app.jobs runner: in-process or RQ on Redis


def create_app(config: dict | None = None) -> Flask:
    """The app; `config`: settings overrides (app/config.py), and under "flask" raw Flask settings."""
    from app import db, geocoding, jobs, privacy
    from flask_wtf.csrf import CSRFProtect

    from app.web import accounts, editing, limits, sso
    from app.web.annotate import bp as annotate_bp
    from app.web.api import bp as api_bp
    from app.web.errors import register_error_handlers
    from app.web.jobs import bp as jobs_bp
    from app.web.orientation import bp as orientation_bp
    from app.web.pages import bp as web_bp

    config = dict(config or {})
    flask_extra = config.pop("flask", {})  # Flask settings for tests (e.g. WTF_CSRF_ENABLED)
    settings = load_settings(config)
    app = Flask(__name__, template_folder=str(PROJECT_ROOT / "templates"),
                static_folder=str(PROJECT_ROOT / "app" / "static"))
    app.config.update(settings.as_flask_config())
    # staff sessions (app/web/accounts.py): signed cookie, HTTPS only, not readable by scripts, not sent cross-site
    app.config.update(SESSION_COOKIE_SECURE=settings.COOKIE_SECURE, SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_NAME="maillage_session",
                      PERMANENT_SESSION_LIFETIME=settings.SESSION_HOURS * 3600, WTF_CSRF_TIME_LIMIT=None)
    app.config.update(flask_extra)
    app.json = OrjsonProvider(app)
    engine = db.engine_from_settings(settings)
    app.extensions["maillage"] = State(settings, engine, db.session_factory(engine), db.read_session_factory(engine),
                                         geocoding.from_settings(settings), jobs.from_settings(settings, engine))
    logging.getLogger("maillage").setLevel(settings.LOG_LEVEL.upper())
    privacy.install()

    if settings.TRUSTED_PROXIES:
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = settings.TRUSTED_PROXIES
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_prefix=n)

    csrf = CSRFProtect(app)  # every form; the API's POST (a read: batch lookups) carries no cookie state
    csrf.exempt(api_bp)
    for endpoint in POST_READS:
        csrf.exempt(POST_READS[endpoint])
    app.register_blueprint(api_bp)
    app.register_blueprint(web_bp)
    app.register_blueprint(jobs_bp)
    app.register_blueprint(accounts.bp)
    app.register_blueprint(sso.bp)
    app.register_blueprint(editing.bp)
    app.register_blueprint(orientation_bp)
    app.register_blueprint(annotate_bp)
    register_error_handlers(app)
    limits.init(app, settings)
    sso.init(app, settings)

    @app.teardown_appcontext
    def _close_session(_exc):
        session = g.pop("db_session", None)
        if session is not None:
            try:
                session.close()
            except Exception as exc:  # noqa: BLE001 - the answer is already made (a 503 if the database went)
                # A lost database fails the rollback of the connection's return to the pool: the
                # pool drops that connection; nothing may reach the server as a raw 500 page.
                logging.getLogger("maillage").warning("session close failed: %s", type(exc).__name__)
                with contextlib.suppress(Exception):
                    session.invalidate()

    @app.before_request
    def _start_timer():
        g.started = time.perf_counter()

    @app.before_request
    def _refuse_oversize_bodies():
        """A body declared larger than MAX_CONTENT_LENGTH is refused before a byte of it is read
        (Werkzeug also stops a body without Content-Length once it passes the limit)."""
        from werkzeug.exceptions import RequestEntityTooLarge

        if request.content_length is not None and request.content_length > settings.MAX_CONTENT_LENGTH:
            raise RequestEntityTooLarge()

    @app.before_request
    def _refuse_nul_bytes():
        """NUL cannot be stored or compared in PostgreSQL text: refused up front, on every page
        and API route alike (a 400, not a query error)."""
        from app.errors import InvalidInput, reject_nul

        if "\x00" in request.path or any("\x00" in key for key in request.args):
            raise InvalidInput("Caractère nul interdit dans l'adresse de la requête.")
        for key, value in request.args.items(multi=True):
            reject_nul({key[:40]: value})

    @app.after_request
    def _security_headers(response):
        if "started" in g:
            # Server-Timing: what the server spent on the request (benchmarks read it; browsers show it)
            response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - g.started) * 1000:.1f}"
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Content-Security-Policy", _csp(settings))
        if request.path.startswith(("/api/v1/lookup", "/api/v1/geocode", "/couverture", "/fiche", "/annoter")):
            # Answers are about a person's address: no shared cache may keep them.
            response.headers["Cache-Control"] = "no-store"
        return response

    return app


def _csp(settings: Settings) -> str:
    """Scripts and styles from the app only; the folium map document (its own URL, shown in a
    frame of the coverage map page) gets a per-response nonce for its inline code and may be framed
    by the app's pages; tile images from the configured tile host; forms may lead to ProConnect when set."""
    from urllib.parse import urlsplit

    nonce = g.get("csp_nonce")
    extra = f" 'nonce-{nonce}'" if nonce else ""
    tiles = ""
    if settings.TILE_URL:
        parts = urlsplit(settings.TILE_URL)
        tiles = f" {parts.scheme}://{parts.netloc.replace('{s}', '*')}"  # {s}.tile… → *.tile…
    provider = ""
    if settings.PROCONNECT_ISSUER and settings.PROCONNECT_CLIENT_ID:
        # the login and logout forms are redirected to ProConnect (browsers hold form-action to redirects)
        parts = urlsplit(settings.PROCONNECT_ISSUER)
        provider = f" {parts.scheme}://{parts.netloc}"
    framed = g.get("map_frame", False)
    return (f"default-src 'self'; img-src 'self' data:{tiles}; style-src 'self'{extra}; script-src 'self'{extra}; "
            + ("style-src-attr 'unsafe-inline'; " if framed or g.get("style_attributes") else "")
            + ("frame-ancestors 'self'; " if framed else "frame-ancestors 'none'; ")
            + f"frame-src 'self'; base-uri 'self'; form-action 'self'{provider}; object-src 'none'")


def state(app: Flask | None = None) -> State:
    from flask import current_app

    return (app or current_app).extensions["maillage"]


def get_session() -> Session:
    """The request's session (read-mostly; closed at the end of the request)."""
    if "db_session" not in g:
        g.db_session = state().read_sessions()
    return g.db_session
