"""The job pages: a job's progress (a page that refreshes itself without JavaScript, and a JSON
state the page's script polls to move its progress bar), and its result to download.

Jobs are started by the pages that need one (app/web/pages.py); ids are random (uuid4), so a job
and its result are reachable only by whoever started it and holds the link.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, abort, jsonify, render_template, url_for

from app.jobs import STATUS_LABELS
from app.web import state

bp = Blueprint("jobs", __name__)


def _info(job_id: str):
    info = state().jobs.status(job_id) if job_id.isalnum() and len(job_id) <= 64 else None
    if info is None:
        abort(404, "Ce travail n'existe pas ou son résultat a expiré : le relancer depuis sa page.")
    return info


def _paris_time(ts: float | None) -> str | None:
    """16/10/2026 à 14:05, Paris time."""
    if ts is None:
        return None
    from zoneinfo import ZoneInfo

    moment = dt.datetime.fromtimestamp(ts, ZoneInfo("Europe/Paris"))
    return moment.strftime("%d/%m/%Y à %H:%M")


# Tasks whose result is a page to read rather than a file to download: task path → endpoint.
RESULT_PAGES = {"app.gaps.tasks:page": "web.gaps_result"}


def job_json(info) -> dict:
    body = info.as_dict()
    body["page_url"] = url_for("jobs.job_page", job_id=info.id)
    endpoint = RESULT_PAGES.get(info.task, "jobs.job_result")
    body["result_url"] = url_for(endpoint, job_id=info.id) if info.status == "done" else None
    body["result_label"] = "Voir le résultat" if info.task in RESULT_PAGES else "Télécharger le résultat"
    return body


@bp.get("/travaux/<job_id>")
def job_page(job_id: str):
    info = _info(job_id)
    response = Response(render_template("travail.html", job=info, state_url=url_for("jobs.job_state", job_id=job_id),
                                        result_url=job_json(info)["result_url"],
                                        result_label=job_json(info)["result_label"], status_label=STATUS_LABELS[info.status],
                                        expires=_paris_time(info.expires_at)))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/travaux/<job_id>.json")
def job_state(job_id: str):
    response = jsonify(job_json(_info(job_id)))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/travaux/<job_id>/resultat")
def job_result(job_id: str):
    info = _info(job_id)
    result = state().jobs.result(job_id)
    if result is None:
        abort(404, "Le résultat de ce travail n'est pas (ou plus) disponible.")
    if result.data is not None:
        response = jsonify(result.data)
    else:
        response = Response(result.read(), mimetype=info.mimetype)
        response.headers["Content-Disposition"] = f'attachment; filename="{info.download_name or info.filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response
