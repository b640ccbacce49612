"""Editing partners in the browser: the partner sheet as a form (every field, territories by name,
GeoJSON polygons), the coverage preview, proposals and their moderation queue, error reports,
the history page with its reverts, and "Je confirme que ces informations sont à jour". Thin:
parse the form into a partner record, call app.editing, render. Every POST needs the CSRF token."""

from __future__ import annotations

import json
import re

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from app import audit, editing, territories, territory_search
from app.accounts import roles
from app.editing.preview import coverage_preview
from app.errors import InvalidInput, MaillageError
from app.models import Account, AuditEntry, ErrorReport, Landlord, Partner, Proposal
from app.partners import cards, kinds as kinds_module
from app.partners import referral
from app.partners.cards import CONTACT_FIELDS, SITE_FIELDS
from app.vocabulary import AGE_BAND_LABELS, HOUSING_TYPE_LABELS, PROPOSAL_STATE_LABELS, REPORT_STATE_LABELS, \
    STATUS_LABELS
from app.web import get_session, state
from app.web.accounts import current_account, login_required, public, writing

bp = Blueprint("editing", __name__)

SCALAR_FIELDS = ("name", "description", "how_to_refer", "website", "eligibility", "age_band", "capacity", "status",
                 "valid_from", "valid_to", "finess", "siret", "data_inclusion_id", "kind")
BLANK_ROWS = 2  # empty contact and site rows offered by the form
CODE_IN_LINE = re.compile(r"\(([a-z]+:[0-9A-Za-z]+)\)\s*$")


def _partner(partner_id: int, db=None) -> Partner:
    partner = (db or get_session()).get(Partner, partner_id)
    if partner is None:
        abort(404)
    return partner


def _editable(partner_id: int) -> Partner:
    """The partner, if the current account may edit it (403 otherwise, 404 if there is none)."""
    partner = _partner(partner_id)
    if not roles.may_edit(get_session(), current_account(), partner):
        abort(403)
    return partner


def _actor(db) -> Account:
    return db.get(Account, current_account().id)


# --------------------------------------------------------------------------------------------- form ↔ record


def _lines_to_codes(db, raw: str, field: str) -> list[str]:
    """Territories one per line, by name ("Bondy", "Seine-Saint-Denis") or code; "Nom (commune:93010)"
    as the form shows them."""
    codes = []
    for line in (raw or "").splitlines():
        line = line.strip()
        if not line:
            continue
        match = CODE_IN_LINE.search(line)
        codes.append(match.group(1) if match else territory_search.resolve(db, line, field=field).code)
    return codes


def _rows(prefix: str, fields: tuple[str, ...], extra: tuple[str, ...] = ()) -> list[dict]:
    rows, i = [], 0
    while f"{prefix}-{i}-{fields[0]}" in request.form or f"{prefix}-{i}-{fields[1]}" in request.form:
        row = {name: (request.form.get(f"{prefix}-{i}-{name}") or "").strip() or None for name in fields + extra}
        if any(row.values()) and request.form.get(f"{prefix}-{i}-delete") != "1":
            rows.append(row)
        i += 1
    return rows


def _uploaded_polygon() -> dict | None:
    """The GeoJSON polygon of the form: a file just uploaded, or the one a preview carried over
    (read once per request: the upload is a stream)."""
    if "uploaded_polygon" not in g:
        g.uploaded_polygon = _read_polygon()
    return g.uploaded_polygon


def _read_polygon() -> dict | None:
    upload = request.files.get("polygon_file")
    raw = upload.read().decode("utf-8", "replace") if upload and upload.filename else request.form.get("polygon_geojson", "")
    if not raw.strip():
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        raise InvalidInput("Le fichier de polygone n'est pas du GeoJSON lisible.", field="polygon_file") from None
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        features = data.get("features") or []
        if len(features) != 1:
            raise InvalidInput("Le GeoJSON doit contenir un seul polygone (une seule entité).", field="polygon_file")
        data = features[0]
    if isinstance(data, dict) and data.get("type") == "Feature":
        data = data.get("geometry")
    if not isinstance(data, dict) or data.get("type") not in ("Polygon", "MultiPolygon"):
        raise InvalidInput("Le GeoJSON doit être un polygone (Polygon ou MultiPolygon).", field="polygon_file")
    return {"mode": request.form.get("polygon_mode", "include"), "label": (request.form.get("polygon_label") or "").strip()
            or "polygone téléversé", "geometry": data}


def record_from_form(db, partner: Partner) -> dict:
    record = cards.record_of(partner)
    for name in SCALAR_FIELDS:
        if name in request.form:
            record[name] = (request.form.get(name) or "").strip() or None
    if record.get("capacity") is not None:
        record["capacity"] = record["capacity"]  # registry checks it is a whole number
    if "referral_present" in request.form:
        record.update(referral.from_form(request.form))
    if "housing_present" in request.form:
        record["housing_types"] = request.form.getlist("housing_types")
    if "landlords_present" in request.form:
        record["reserved_landlords"] = request.form.getlist("reserved_landlords")
    if "contacts_present" in request.form:
        record["contacts"] = _rows("contact", CONTACT_FIELDS)
    if "sites_present" in request.form:
        sites = _rows("site", SITE_FIELDS, ("lon", "lat"))
        for site in sites:
            for axis in ("lon", "lat"):
                if site[axis] is not None:
                    try:
                        site[axis] = float(site[axis].replace(",", "."))
                    except ValueError:
                        raise InvalidInput(f"Coordonnée « {site[axis]} » illisible (nombre décimal attendu).",
                                           field=f"site {axis}") from None
            site["role"] = site["role"] or "principal"
        record["sites"] = sites
    if "coverage_present" in request.form:
        polygons = [p for i, p in enumerate(record["coverage"]["polygons"])
                    if request.form.get(f"polygon-{i}-keep") == "1"]
        uploaded = _uploaded_polygon()
        if uploaded:
            polygons.append(uploaded)
        record["coverage"] = {"include": _lines_to_codes(db, request.form.get("include", ""), "include"),
                              "exclude": _lines_to_codes(db, request.form.get("exclude", ""), "exclude"),
                              "polygons": polygons}
    return record


def _code_lines(db, codes: list[str]) -> str:
    from app.territories import unit_names

    names = unit_names(db, codes)
    return "\n".join(f"{names.get(c) or c} ({c})" for c in codes)


def _stored_polygons(partner: Partner) -> tuple[list[dict], set[int]]:
    """The partner's saved polygons, which the form's "Garder" boxes refer to by their index, and
    which of them are kept: all on a first display, the person's choice once the form came back (a
    preview, a refusal) — a polygon just uploaded is not among them (it rides in polygon_geojson)."""
    stored = cards.record_of(partner)["coverage"]["polygons"]
    if request.method == "POST" and "coverage_present" in request.form:
        kept = {i for i in range(len(stored)) if request.form.get(f"polygon-{i}-keep") == "1"}
    else:
        kept = set(range(len(stored)))
    return stored, kept


def _form_context(db, partner: Partner, record: dict) -> dict:
    stored_polygons, kept_polygons = _stored_polygons(partner)
    return {
        "p": partner, "r": record, "stored_polygons": stored_polygons, "kept_polygons": kept_polygons, "kinds": kinds_module.all_kinds(db), "statuses": STATUS_LABELS,
        "ages": AGE_BAND_LABELS, "housing": HOUSING_TYPE_LABELS,
        "landlords": list(db.scalars(select(Landlord).order_by(Landlord.name))),
        "contacts": record["contacts"] + [{}] * BLANK_ROWS, "sites": record["sites"] + [{}] * BLANK_ROWS,
        "include_lines": _code_lines(db, record["coverage"]["include"]),
        "exclude_lines": _code_lines(db, record["coverage"]["exclude"]),
        "contact_fields": CONTACT_FIELDS, "site_fields": SITE_FIELDS,
        "moderated": current_account().role == "referent",
        "area_geojson": _shape_geojson(roles.partner_shape(partner)),
    }


def _shape_geojson(shape) -> dict | None:
    from shapely.geometry import mapping

    return mapping(shape) if shape is not None and not shape.is_empty else None


# --------------------------------------------------------------------------------------------- edit


@bp.get("/partenaires/<int:partner_id>/modifier")
@login_required
def edit_form(partner_id: int):
    db = get_session()
    partner = _editable(partner_id)
    return render_template("editing/edit.html", **_form_context(db, partner, cards.record_of(partner)))


@bp.post("/partenaires/<int:partner_id>/modifier")
@login_required
def edit(partner_id: int):
    db = get_session()
    partner = _editable(partner_id)
    reason = (request.form.get("reason") or "").strip()[:500]
    record = None
    try:
        record = record_from_form(db, partner)
        if request.form.get("action") == "preview":
            from app.partners import registry

            clean, errors = registry.normalise(db, {**record, "ref": partner.ref})
            if errors:
                raise registry.InvalidRecord(partner.ref, errors.errors)
            preview = coverage_preview(db, cards.record_of(partner), record)
            polygon = _uploaded_polygon()
            return render_template("editing/edit.html", preview=preview, reason=reason,
                                   polygon_geojson=json.dumps(polygon["geometry"]) if polygon else "",
                                   **_form_context(db, partner, record))
        with writing() as wdb:
            outcome = editing.change(wdb, _partner(partner_id, wdb), record, actor=_actor(wdb),
                                     moderate_all=state().settings.MODERATE_ALL, reason=reason)
    except MaillageError as exc:
        return render_template("editing/edit.html", error=exc.message, problems=getattr(exc, "errors", None),
                               reason=reason, **_form_context(db, partner, record or cards.record_of(partner))), 400
    messages = []
    if outcome.applied:
        messages.append("Modifications enregistrées.")
    if outcome.proposal:
        messages.append("Les changements de zone, de type, de statut ou de dates sont proposés à l'administrateur "
                        "du territoire : ils s'appliqueront après validation.")
    flash(" ".join(messages) or "Aucun changement.")
    return redirect(url_for("web.partner_page", partner_id=partner_id)), 303


@bp.post("/partenaires/<int:partner_id>/confirmer")
@login_required
def verify(partner_id: int):
    _editable(partner_id)
    with writing() as wdb:
        editing.verify(wdb, _partner(partner_id, wdb), actor=_actor(wdb))
    flash("Merci : les informations sont confirmées à jour à la date d'aujourd'hui.")
    return redirect(url_for("web.partner_page", partner_id=partner_id)), 303


# --------------------------------------------------------------------------------------------- history


@bp.get("/partenaires/<int:partner_id>/historique")
@login_required
def history(partner_id: int):
    db = get_session()
    partner = _editable(partner_id)
    entries = audit.history(db, partner_id)
    _name_diffs(db, [e.diff for e in entries])
    return render_template("editing/history.html", p=partner, entries=entries,
                           labels=audit.FIELD_LABELS,
                           may_revert=current_account().role != "referent")


@bp.post("/partenaires/<int:partner_id>/historique/<int:entry_id>/restaurer")
@login_required
def revert(partner_id: int, entry_id: int):
    _editable(partner_id)
    if current_account().role == "referent":
        abort(403)
    try:
        with writing() as wdb:
            entry = wdb.get(AuditEntry, entry_id)
            if entry is None:
                abort(404)
            done = editing.revert(wdb, _partner(partner_id, wdb), entry, actor=_actor(wdb))
    except MaillageError as exc:
        flash(exc.message)
        return redirect(url_for("editing.history", partner_id=partner_id)), 303
    flash("Version restaurée." if done else "Cette version est déjà la version actuelle.")
    return redirect(url_for("editing.history", partner_id=partner_id)), 303


# --------------------------------------------------------------------------------------------- moderation


@bp.get("/moderation")
@login_required
def moderation():
    db = get_session()
    queue = editing.queue(db, current_account())
    previews = {}
    for proposal in queue["proposals"]:
        partner = db.get(Partner, proposal.partner_id)
        if any(k.startswith("coverage") for k in proposal.diff):
            previews[proposal.id] = coverage_preview(db, cards.record_of(partner), proposal.record)
    partners = {p.id: p for p in db.scalars(select(Partner).where(Partner.id.in_(
        {x.partner_id for x in [*queue["proposals"], *queue["reports"], *queue["mine"]]})))}
    _name_diffs(db, [p.diff for p in [*queue["proposals"], *queue["mine"]]])
    return render_template("editing/moderation.html", queue=queue, previews=previews, partners=partners,
                           labels=audit.FIELD_LABELS, proposal_states=PROPOSAL_STATE_LABELS,
                           report_states=REPORT_STATE_LABELS)


@bp.post("/propositions/<int:proposal_id>/decision")
@login_required
def decide(proposal_id: int):
    proposal = get_session().get(Proposal, proposal_id)
    if proposal is None:
        abort(404)
    if not editing.may_decide(get_session(), current_account(), proposal):
        abort(403)
    accept = request.form.get("decision") == "valider"
    try:
        with writing() as wdb:
            editing.decide(wdb, wdb.get(Proposal, proposal_id), actor=_actor(wdb), accept=accept,
                           reason=(request.form.get("reason") or "")[:1000])
    except MaillageError as exc:
        flash(exc.message)
        return redirect(url_for("editing.moderation")), 303
    flash("Proposition validée : la fiche est à jour." if accept else "Proposition rejetée.")
    return redirect(url_for("editing.moderation")), 303


@bp.route("/partenaires/<int:partner_id>/signaler", methods=["GET", "POST"])
@public
def report(partner_id: int):
    partner = _partner(partner_id)
    if request.method == "POST":
        try:
            with writing() as wdb:
                editing.report_error(wdb, _partner(partner_id, wdb), request.form.get("text", ""))
        except MaillageError as exc:
            return render_template("editing/report.html", p=partner, error=exc.message,
                                   text=request.form.get("text", "")), 400
        return render_template("accounts/message.html", title="Merci",
                               message="Votre signalement est enregistré : les référents de la structure et "
                                       "l'administrateur du territoire le verront.")
    return render_template("editing/report.html", p=partner)


@bp.post("/signalements/<int:report_id>")
@login_required
def handle_report(report_id: int):
    report_row = get_session().get(ErrorReport, report_id)
    if report_row is None:
        abort(404)
    if not editing.may_handle(get_session(), current_account(), report_row):
        abort(403)
    try:
        with writing() as wdb:
            editing.handle_report(wdb, wdb.get(ErrorReport, report_id), actor=_actor(wdb),
                                  state=request.form.get("state", ""), answer=(request.form.get("answer") or "")[:1000])
    except MaillageError as exc:
        flash(exc.message)
    return redirect(url_for("editing.moderation")), 303


# --------------------------------------------------------------------------------------------- inventory


def _inventory_page(db, *, error: str | None = None, form: dict | None = None, status: int = 200):
    from app.partners import inventory
    from app.territories import unit_names
    from app.vocabulary import INVENTORY_LABELS, INVENTORY_STATUSES

    account, cache = current_account(), {}
    rows = [r for r in inventory.listing(db) if roles.administers_territory(db, account, r.code, cache)]
    names = unit_names(db, sorted({r.code for r in rows}))
    kinds = kinds_module.all_kinds(db)
    return render_template("editing/inventory.html", rows=rows, names=names, kinds=kinds,
                           kind_labels={k.code: k.label for k in kinds}, labels=INVENTORY_LABELS,
                           statuses=INVENTORY_STATUSES, error=error, form=form or {}), status


@bp.get("/inventaire")
@login_required
def inventory_page():
    """The inventory status of the account's territories: which kinds were surveyed where."""
    if current_account().role == "referent":
        abort(403)
    return _inventory_page(get_session())


@bp.post("/inventaire")
@login_required
def set_inventory():
    from app.partners import inventory

    account = current_account()
    if account.role == "referent":
        abort(403)
    db = get_session()
    form = {"territoire": (request.form.get("territoire") or "").strip()[:200],
            "kinds": request.form.getlist("kinds"), "status": request.form.get("status", ""),
            "note": (request.form.get("note") or "").strip()[:500]}
    try:
        code = territory_search.resolve(db, form["territoire"], field="territoire").code if form["territoire"] \
            else None
        if code is None:
            raise InvalidInput("Indiquez le territoire (un nom ou un code : Bondy, Seine-Saint-Denis, departement:93).",
                               field="territoire")
        typed = territories.parse_code(code, field="territoire")
        if str(typed) not in territories.existing(db, [typed]):
            raise InvalidInput(f"Territoire {typed} absent du référentiel chargé.", field="territoire")
        code = str(typed)
        if not form["kinds"]:
            raise InvalidInput("Cochez au moins un type de partenaire.", field="kinds")
        if not roles.administers_territory(db, account, code):
            abort(403)
        with writing() as wdb:
            changed = inventory.set_status(wdb, code, form["kinds"], form["status"], source="saisie web",
                                           note=form["note"] or None, actor=_actor(wdb))
    except MaillageError as exc:
        return _inventory_page(db, error=exc.message, form=form, status=400)
    from app.territories import unit_names

    name = unit_names(db, [code]).get(code) or code
    flash(f"{changed} état{'s' if changed > 1 else ''} d'inventaire enregistré{'s' if changed > 1 else ''} "
          f"pour {name}." if changed else f"Aucun changement pour {name}.")
    return redirect(url_for("editing.inventory_page")), 303


def _name_diffs(db, diffs) -> None:
    """The names the diffs of this page show instead of codes (territories, kinds, landlords), looked
    up once per page for the `diff_value` filter."""
    from app.territories import unit_names

    codes = set()
    for diff in diffs:
        for field, sides in (diff or {}).items():
            if field in ("coverage.include", "coverage.exclude"):
                for side in sides:
                    codes.update(c for c in side or [] if isinstance(c, str) and ":" in c)
    g.diff_names = {"codes": unit_names(db, sorted(codes)) if codes else {},
                    "kind": {k.code: k.label for k in kinds_module.all_kinds(db)},
                    "reserved_landlords": dict(db.execute(select(Landlord.code, Landlord.name)).all())}


FIELD_VOCABULARIES = {"status": STATUS_LABELS, "age_band": AGE_BAND_LABELS, "housing_types": HOUSING_TYPE_LABELS}


@bp.app_template_filter("diff_value")
def _diff_value(value, field: str | None = None) -> str:
    """A diff's side as people read it: names, not codes (a commune's name, a kind's label, a status's
    words), lists joined, contacts and sites by their name, polygons by label, dates as 16/10/2026."""
    names = g.get("diff_names") or {}
    if value is None or value == [] or value == "":
        return "—"
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, list):
        return " ; ".join(_diff_value(v, field) for v in value)
    if isinstance(value, dict):
        if "geometry" in value:
            return f"polygone « {value.get('label') or 'sans nom'} »" + (" (exclu)" if value.get("mode") == "exclude" else "")
        return ", ".join(str(v) for k, v in value.items() if v not in (None, "") and k not in ("lon", "lat", "code_insee"))
    if isinstance(value, str):
        if field in ("coverage.include", "coverage.exclude"):
            return names.get("codes", {}).get(value, value)
        vocabulary = FIELD_VOCABULARIES.get(field) or names.get(field)
        if vocabulary and value in vocabulary:
            return vocabulary[value]
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            y, m, d = value.split("-")
            return f"{d}/{m}/{y}"
    return str(value)


@bp.app_context_processor
def _editing_globals():
    def may_edit_partner(partner_id: int) -> bool:
        account = current_account()
        if account is None:
            return False
        partner = get_session().get(Partner, partner_id)
        return partner is not None and roles.may_edit(get_session(), account, partner)
    return {"may_edit_partner": may_edit_partner}


@bp.record_once
def _jinja_globals(setup):
    """`freshness` for every template, the card's imported macros included (they get no context)."""
    from app.editing.freshness import freshness

    setup.app.jinja_env.globals["freshness"] = freshness
