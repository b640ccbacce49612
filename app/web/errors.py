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

from app.errors import ERRORS, MaillageError

log = logging.getLogger("maillage")

# Werkzeug's HTTP errors on API routes, by status; any other (a malformed request, 413…) keeps its
# own status with the code invalid-input.
HTTP_CODES = {404: "not-found", 405: "method-not-allowed"}


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
            return error_page(exc.code or 500, exc.description or "")
        code = HTTP_CODES.get(exc.code, "invalid-input")
        detail = {404: "Aucune ressource à cette adresse de l'API.",
                  405: f"Méthode {request.method} non autorisée ici."}.get(exc.code, exc.description)
        return problem(code, detail, status=exc.code or 500)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        # Log the type and the route only: never the query string (it may hold an address).
        log.exception("unexpected error on %s %s", request.method, request.path)
        if not _wants_problem():
            return error_page(500, "Erreur interne. L'incident a été journalisé.")
        return problem("internal-error", "Erreur interne. L'incident a été journalisé.")


def error_page(status: int, message: str):
    return render_template("error.html", status=status, message=message), status
