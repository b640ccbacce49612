"""The orientation guide's page, "Que faire face à… ?" (docs/orientation.md), and the templates'
access to the signs and emergency numbers (the coverage card and the fiche include its partials).

The ticked signs come only in a POST body: never in a URL (access logs, history, Referer), never
stored or logged; the response is not cached. The address follows the coverage card's rules.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request

from app import orientation
from app.errors import MaillageError
from app.web import get_session
from app.web import pages

bp = Blueprint("orientation", __name__)


@bp.app_context_processor
def _orientation_globals():
    return {"orientation_catalogue": orientation.catalogue, "emergency_numbers": orientation.EMERGENCY_NUMBERS}


@bp.route("/que-faire", methods=["GET", "POST"])
def guide_page():
    geocoding, answer, error, status = pages._answer()
    ticked: list[str] = []
    result = None
    if request.method == "POST":
        raw = request.form.getlist("signe")
        try:
            ticked = orientation.check_signals(raw)
        except MaillageError as exc:
            error, status, answer = exc.message, 400, None
        else:
            if not ticked and answer is not None:
                error, status = "Cocher au moins un signe observé.", 400
            elif answer is not None:
                result = orientation.guide(answer, ticked)
    session = get_session()
    address = (request.args.get("adresse") or "").strip()[:200]
    html = render_template("que_faire.html", geocoding=geocoding, answer=answer, error=error, address=address,
                           ticked=set(ticked), result=result, fiche_args=pages._fiche_args(),
                           filters=pages._filters_from_request(), choices=pages._filter_choices(session))
    # about a person: no cache may keep it (the signs are in no URL, so not in the history either)
    return html, status, {"Cache-Control": "no-store"}
