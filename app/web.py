"""Web pages (French). The full front-line interface is built on top of these in later work."""

from __future__ import annotations

from flask import Blueprint, render_template

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


def error_page(status: int, message: str):
    return render_template("error.html", status=status, message=message), status
