"""Errors on the web: a French error page for the pages, RFC 9457 problem details for the API,
with stable machine codes.

Each problem has `type` (a link to the code's description in the API docs), `title`, `status`,
`detail` (French, for people), `code` (stable, for programs) and, when one input is at fault,
`invalid_params: [{name, reason}]`.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from app import privacy
from app.errors import ERRORS, MaillageError

log = logging.getLogger("maillage")

# Werkzeug's HTTP errors on API routes, by status; any other (a malformed request, 413…) keeps its
# own status with the code invalid-input.
HTTP_CODES = {404: "not-found", 405: "method-not-allowed", 413: "payload-too-large", 429: "rate-limited"}
TOO_MANY = ("Trop de demandes coûteuses venant de ce poste : patienter une minute avant de recommencer "
            "(les recherches d'adresse ne sont jamais limitées).")


def problem(code: str, detail: str, *, status: int | None = None, field: str | None = None, **extra):
    """The problem details of a registered code (app.errors.ERRORS), with its status unless told."""
    status = status or ERRORS[code].status
    body = {
        "type": f"/api/docs#probleme-{code}",
        "title": ERRORS[code].title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": request.path,
    }
    if field:
        body["invalid_params"] = [{"name": field, "reason": detail}]
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def _wants_problem() -> bool:
    return request.path.startswith("/api/")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(MaillageError)
    def _domain(exc: MaillageError):
        response = (error_page(exc.status, exc.message) if not _wants_problem()
                    else problem(exc.code, exc.message, field=exc.field, **exc.extra))
        if "retry_after" in exc.extra:  # the service is busy, not the request wrong: say when to come back
            response = app.make_response(response)
            response.headers["Retry-After"] = str(exc.extra["retry_after"])
        return response

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        if not _wants_problem():
            message = {413: _too_large(), 429: TOO_MANY}.get(exc.code, exc.description or "")
            return error_page(exc.code or 500, message)
        code = HTTP_CODES.get(exc.code, "invalid-input")
        detail = {404: "Aucune ressource à cette adresse de l'API.",
                  405: f"Méthode {request.method} non autorisée ici.",
                  413: _too_large(), 429: TOO_MANY}.get(exc.code, exc.description)
        return problem(code, detail, status=exc.code or 500)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if is_database_unavailable(exc):
            return database_unavailable(exc)
        # The route, the exception's type and where it happened: never the query string nor the
        # exception's message (a driver's error may quote a value: an address, a coordinate).
        log.error("unexpected error on %s %s: %s\n%s", request.method, request.path, type(exc).__name__,
                  privacy.traceback_without_values(exc))
        if not _wants_problem():
            return error_page(500, "Erreur interne. L'incident a été journalisé.")
        return problem("internal-error", "Erreur interne. L'incident a été journalisé.")


RETRY_AFTER_S = 5
UNAVAILABLE = ("Le service est momentanément indisponible : la base de données ne répond pas. "
               "Réessayer dans quelques secondes.")


def is_database_unavailable(exc: BaseException) -> bool:
    """A lost or unreachable database (refused connection, server gone, pool exhausted), from
    SQLAlchemy or from a driver used directly (app.dialects.fetch_all): the service, not the
    request, is at fault."""
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError,
                        sa_exc.DisconnectionError)):
        return True
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return False
    return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))


def database_unavailable(exc: BaseException):
    log.warning("database unavailable on %s %s: %s", request.method, request.path, type(exc).__name__)
    response = (error_page(503, UNAVAILABLE) if not _wants_problem()
                else problem("database-unavailable", UNAVAILABLE))
    from flask import current_app

    response = current_app.make_response(response)
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    response.headers["Cache-Control"] = "no-store"
    return response


def _too_large() -> str:
    from flask import current_app

    limit = current_app.config["MAX_CONTENT_LENGTH"]
    size = f"{limit / 1024 / 1024:.1f}".replace(".", ",").removesuffix(",0") + " Mo" if limit >= 1024 * 1024 \
        else f"{limit} octets"
    return (f"Corps de requête trop volumineux : au plus {size}. Découper le lot (au plus "
            f"{current_app.config['MAX_BATCH_POINTS']} points par requête).")


def error_page(status: int, message: str):
    return render_template("error.html", status=status, message=message), status
