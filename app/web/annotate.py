"""The page "Annoter un fichier": upload a CSV or XLSX of addresses, check the columns recognised
on a preview of the first rows, follow the background job's progress, download the workbook.

Privacy: the upload and its results live in a private directory (app/annotate/uploads.py) only
for the job — deleted once downloaded, on request, or MAILLAGE_ANNOTATE_RETENTION_S seconds after
the last step — and nothing about them is logged. The directory's token is the only thing the
browser holds; it is bound to the browser's session, so a link alone opens nothing. Every POST
carries the application's CSRF token (Flask-WTF); GETs change nothing.
"""

from __future__ import annotations

import datetime as dt

from flask import (Blueprint, Response, abort, jsonify, redirect, render_template, request, session, url_for)
from sqlalchemy import select

from app.annotate import reading
from app.annotate.uploads import Uploads
from app.errors import InvalidInput, MaillageError
from app.models import Landlord
from app.partners import kinds as kinds_module
from app.web import get_session, state
from app.web.accounts import public  # open without an account: a file belongs to the browser that sent it

bp = Blueprint("annotate", __name__)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SESSION_KEY = "annotate"
MAX_OWNED = 20  # uploads a browser session remembers


# --------------------------------------------------------------------------------------------- session, CSRF


def _own(token: str) -> None:
    owned = session.get(SESSION_KEY, [])
    session[SESSION_KEY] = (owned + [token])[-MAX_OWNED:]


def _owned(token: str) -> dict:
    """The upload's state, when this browser sent it; else 404 (expired, deleted or not yours)."""
    if token not in session.get(SESSION_KEY, []):
        abort(404, "Ce fichier n'existe pas ou plus : les fichiers sont supprimés après le téléchargement ou après "
                   "un court délai. Déposer le fichier de nouveau.")
    found = _uploads().state(token)
    if found is None:
        abort(404, "Ce fichier n'existe plus : les fichiers sont supprimés après le téléchargement ou après un court "
                   "délai. Déposer le fichier de nouveau.")
    return found


def _sweep() -> None:
    settings = state().settings

    def forget_job(found: dict) -> None:
        if found.get("job"):
            _jobs().delete(found["job"])

    _uploads().sweep(settings.ANNOTATE_RETENTION_S, on_delete=forget_job)


def _jobs():
    """The application's job runner (app/jobs): in-process child processes by default, RQ workers
    when MAILLAGE_REDIS_URL is set."""
    return state().jobs


def _uploads() -> Uploads:
    return Uploads(state().settings.ANNOTATE_DIR or None)


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


# --------------------------------------------------------------------------------------------- pages


def _form_context(**extra) -> dict:
    db_session = get_session()
    kinds = kinds_module.all_kinds(db_session)
    landlords = [(ll.code, ll.name) for ll in db_session.scalars(select(Landlord).order_by(Landlord.name))]
    settings = state().settings
    return {"kinds": kinds, "landlords": landlords, "max_rows": settings.ANNOTATE_MAX_ROWS,
            "max_mb": settings.ANNOTATE_MAX_MB, "retention_min": max(1, settings.ANNOTATE_RETENTION_S // 60),
            "form": {"types": [], "date": "", "bailleur": ""}, **extra}


@bp.get("/annoter")
def upload_form():
    _sweep()
    return _no_store(Response(render_template("annotate/form.html", **_form_context())))


def _options_from_form() -> dict:
    return {"types": [t for t in request.form.getlist("types") if t][:50],
            "date": request.form.get("date", "")[:20], "bailleur": request.form.get("bailleur", "")[:50]}


@bp.post("/annoter")
@public
def upload():
    _sweep()
    settings = state().settings
    form = _options_from_form()
    file = request.files.get("fichier")
    token = None
    try:
        if request.content_length and request.content_length > settings.ANNOTATE_MAX_MB * 2**20 + 65536:
            raise InvalidInput(f"Fichier trop volumineux : {settings.ANNOTATE_MAX_MB} Mo au plus.", code="file-too-large")
        if file is None or not file.filename:
            raise InvalidInput("Choisir un fichier .csv ou .xlsx à annoter.", code="invalid-file", field="fichier")
        _check_options(form)
        token, path = _uploads().save(file.stream, file.filename, max_bytes=settings.ANNOTATE_MAX_MB * 2**20)
        name = _uploads().state(token)["name"]
        source = reading.open_source(path, max_rows=settings.ANNOTATE_MAX_ROWS, name=name)
    except MaillageError as exc:
        if token:
            _uploads().delete(token)
        return _no_store(Response(render_template("annotate/form.html", **_form_context(error=exc.message, form=form)),
                                  status=413 if exc.code == "file-too-large" else 400))
    columns = reading.detect_columns(source.header)
    _uploads().write_state(token, {**_uploads().state(token), "options": form})
    _own(token)
    return _preview(token, source, columns)


def _check_options(form: dict) -> None:
    from app.lookup import parse_options

    parse_options(get_session(), as_of=form["date"] or None, landlord=form["bailleur"] or None,
                  kinds=form["types"] or None)


def _preview(token: str, source, columns: reading.Columns, *, error: str | None = None, status: int = 200):
    return _no_store(Response(render_template(
        "annotate/preview.html", token=token, source=source, rows=source.preview(), columns=columns,
        roles=[(r, reading.ROLE_LABELS[r]) for r in reading.ROLES], error=error,
        used=set(columns.used()), retention_min=max(1, state().settings.ANNOTATE_RETENTION_S // 60)), status=status))


@bp.post("/annoter/<token>/lancer")
@public
def start(token: str):
    found = _owned(token)
    if found.get("job"):
        return redirect(url_for("annotate.job_page", token=token), code=303)
    settings = state().settings
    source = reading.open_source(_uploads().source_path(token), max_rows=settings.ANNOTATE_MAX_ROWS, name=found["name"])
    chosen = {r: (request.form.get(r) or None) for r in reading.ROLES}
    groups = tuple(g for g in request.form.getlist("groups") if g and g in source.header)[:10]
    columns = reading.Columns(**chosen, groups=groups)
    try:
        reading.check_columns(columns, source.header)
    except MaillageError as exc:
        return _preview(token, source, columns, error=exc.message, status=400)
    from app.annotate.task import annotate_upload

    options = found.get("options") or {}
    try:
        info = _jobs().submit(annotate_upload, {
            "root": str(_uploads().root), "token": token, "columns": {**chosen, "groups": list(groups)}, "kinds": options.get("types") or None,
            "landlord": options.get("bailleur") or None, "as_of": options.get("date") or None})
    except MaillageError as exc:  # too many jobs: come back later
        return _preview(token, source, columns, error=exc.message, status=503)
    _uploads().write_state(token, {**found, "job": info.id, "columns": columns.describe()})
    return redirect(url_for("annotate.job_page", token=token), code=303)


def _job(found: dict):
    info = _jobs().status(found["job"]) if found.get("job") else None
    return info


def job_state(token: str, found: dict) -> dict:
    info = _job(found)
    if info is None:
        return {"status": "unknown", "percent": 0, "done": 0, "total": 0, "finished": True,
                "error": "Le travail n'existe plus (délai dépassé) : déposer le fichier de nouveau."}
    return {"status": info.status, "percent": info.percent, "done": info.done, "total": info.total,
            "step": info.step, "finished": info.finished, "error": info.error,
            "ready": info.status == "done"}


@bp.get("/annoter/<token>")
def job_page(token: str):
    found = _owned(token)
    if not found.get("job"):
        return redirect(url_for("annotate.upload_form"))
    progress = job_state(token, found)
    retention = state().settings.ANNOTATE_RETENTION_S
    return _no_store(Response(render_template(
        "annotate/job.html", token=token, name=found["name"], progress=progress,
        columns=found.get("columns") or [], state_url=url_for("annotate.job_json", token=token),
        retention_min=max(1, retention // 60))))


@bp.get("/annoter/<token>/etat")
def job_json(token: str):
    return _no_store(jsonify(job_state(token, _owned(token))))


@bp.post("/annoter/<token>/telecharger")
@public
def download(token: str):
    found = _owned(token)
    info = _job(found)
    result = _jobs().result(found["job"]) if info is not None and info.status == "done" else None
    if result is None:
        abort(404, "Le résultat n'est pas (ou plus) disponible.")
    body = result.read()
    name = info.download_name or "annotation.xlsx"
    _jobs().delete(found["job"])
    _uploads().delete(token)
    response = Response(body, mimetype=XLSX)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return _no_store(response)


@bp.post("/annoter/<token>/supprimer")
@public
def remove(token: str):
    found = _owned(token)
    if found.get("job"):
        _jobs().delete(found["job"])
    _uploads().delete(token)
    return redirect(url_for("annotate.upload_form", supprime=1), code=303)
