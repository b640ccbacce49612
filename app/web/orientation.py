"""The orientation guide's page, "Que faire face à… ?" (docs/orientation.md), and the templates'
access to the signs and emergency numbers (the coverage card and the fiche include its partials).

The ticked signs come only in a POST body: never in a URL (access logs, history, Referer), never
stored or logged; the response is not cached. The address follows the coverage card's rules.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request

from app import orientation
from app.errors import MaillageError
from app.vocabulary import CHANNEL_LABELS, FUNDER_LABELS, REFERRER_LABELS
from app.web import get_session
from app.web import pages

bp = Blueprint("orientation", __name__)


@bp.record_once
def _template_globals(setup) -> None:
    # Jinja globals, not a context processor: the card's macros are imported without context.
    setup.app.jinja_env.globals.update(orientation_catalogue=orientation.catalogue,
                                       emergency_numbers=orientation.EMERGENCY_NUMBERS, funder_labels=FUNDER_LABELS,
                                       referrer_labels=REFERRER_LABELS, channel_labels=CHANNEL_LABELS)


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


@bp.get("/partenaires/<int:partner_id>/fiche-liaison")
def liaison_form(partner_id: int):
    """A blank fiche de liaison for one partner, to print and fill by hand."""
    import datetime as dt

    from app.partners import directory, referral

    found = directory.partner_detail(get_session(), partner_id)  # NotFound → 404
    return render_template("fiche_liaison.html", p=found, fields=referral.liaison_fields(found["referral"]),
                           printed_at=dt.date.today())
