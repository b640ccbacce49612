"""Per-client rate limits on the expensive endpoints (Flask-Limiter): the gap analysis and its
exports, the planners' map and its downloads, the PDF fiche, and the batch lookup counted in
points. Lookups one address at a time — the front line's work — are never limited.

Counters live in memory (one server process) or in Redis under MAILLAGE_REDIS_PREFIX when
MAILLAGE_REDIS_URL is set (every process of every machine shares them). A client is its address
(behind a proxy, set MAILLAGE_TRUSTED_PROXIES). Beyond a limit: 429 with Retry-After, a problem
`rate-limited` on the API, a French page on the web.
"""

from __future__ import annotations

from flask import Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

# The endpoints whose every request costs seconds of CPU (or starts a job that does), with the
# requests that are only the empty form exempted.
HEAVY_ENDPOINTS = {
    "web.gaps_page": "territoire", "web.gaps_download": None, "web.coverage_map_page": "territoire",
    "web.coverage_map_geojson": None, "web.coverage_map_frame": None, "web.fiche_pdf": None,
}


def init(app: Flask, settings) -> Limiter:
    """A limiter for this application (its own counters), applied to the heavy endpoints."""
    if settings.REDIS_URL:
        app.config["RATELIMIT_STORAGE_URI"] = settings.REDIS_URL
        app.config["RATELIMIT_KEY_PREFIX"] = f"{settings.REDIS_PREFIX}limits"
    else:
        app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    app.config["RATELIMIT_ENABLED"] = bool(settings.RATE_LIMIT_HEAVY or settings.RATE_LIMIT_BATCH_POINTS)
    limiter = Limiter(get_remote_address, app=app, headers_enabled=True, strategy="moving-window")
    if settings.RATE_LIMIT_HEAVY:
        shared = limiter.shared_limit(settings.RATE_LIMIT_HEAVY, scope="heavy",
                                      exempt_when=lambda: _only_the_form())
        for endpoint in HEAVY_ENDPOINTS:
            app.view_functions[endpoint] = shared(app.view_functions[endpoint])
    app.extensions["maillage_limiter"] = limiter
    return limiter


def _only_the_form() -> bool:
    needs = HEAVY_ENDPOINTS.get(request.endpoint)
    return needs is not None and not request.args.get(needs)


def charge_batch(points: int) -> None:
    """Counts a batch's points against its client's limit (MAILLAGE_RATE_LIMIT_BATCH_POINTS),
    once its body is parsed; beyond the limit, nothing is looked up: 429 with Retry-After."""
    import time

    from limits import parse

    from app.errors import MaillageError
    from app.web import state

    from flask import current_app

    rule = state().settings.RATE_LIMIT_BATCH_POINTS
    limiter = current_app.extensions["maillage_limiter"]
    if not rule or not limiter.enabled:
        return
    item, key = parse(rule), get_remote_address()
    if limiter.limiter.hit(item, "batch-points", key, cost=max(1, points)):
        return
    reset = limiter.limiter.get_window_stats(item, "batch-points", key).reset_time
    wait = max(1, int(reset - time.time()) + 1)
    raise MaillageError(f"Trop de points demandés : au plus {item.amount} par {_per(item)} pour un même client. "
                        f"Réessayer dans {wait} s.", code="rate-limited", extra={"retry_after": wait})


def _per(item) -> str:
    unit = {"second": "seconde", "minute": "minute", "hour": "heure", "day": "jour"}.get(item.GRANULARITY.name,
                                                                                      item.GRANULARITY.name)
    return unit if item.multiples == 1 else f"{item.multiples} {unit}s"
