"""Web pages (French). The full front-line interface is built on top of these in later work."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template

from app import get_session
from app.api.openapi import openapi_document
from app.api.problems import TITLES
from app.db import get_meta

bp = Blueprint("web", __name__)


def is_demo() -> bool:
    try:
        return get_meta(get_session(), "dataset") == "demo"
    except Exception:  # a database not yet initialised must not break the error pages
        return False


@bp.app_context_processor
def _globals():
    return {"demo": is_demo()}


@bp.get("/")
def home():
    return render_template("home.html")


@bp.get("/api/docs")
def api_docs():
    return render_template("api/docs.html", spec=openapi_document(), problems=TITLES)


@bp.get("/modeles/partenaires.<fmt>")
def partner_template(fmt: str):
    """The blank partner sheet (docs/partner-sheet.md), to fill and import."""
    from importers import partners_sheet

    if fmt not in ("csv", "xlsx"):
        abort(404)
    mimetype = ("text/csv; charset=utf-8" if fmt == "csv"
                else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    return Response(partners_sheet.template_bytes(fmt, get_session()), mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="maillage-partenaires-modele.{fmt}"'})


def error_page(status: int, message: str):
    return render_template("error.html", status=status, message=message), status
