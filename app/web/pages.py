"""Web pages (French): address search and coverage card, fiche d'orientation, directory, partner
pages, coverage maps. Thin: parse the query string, call the domain modules, render.

Every page works without JavaScript (plain GET forms); scripts add autocomplete and maps. Nothing
here stores or logs an address (app/privacy.py redacts the query strings in logs).
"""

from __future__ import annotations

import datetime as dt
import secrets

from flask import Blueprint, Response, abort, g, render_template, request, url_for
from sqlalchemy import select

from app import french, maps
from app.db import get_meta
from app.errors import ERRORS, InvalidInput, MaillageError
from app.lookup import lookup, parse_options
from app.lookup.options import parse_date
from app.lookup.address import lookup_address
from app.models import Landlord
from app.partners import directory, kinds as kinds_module
from app.vocabulary import AGE_BAND_LABELS, ALL_AGES, HOUSING_TYPE_LABELS, STATUS_LABELS, STATUSES
from app.web import get_session, state
from app.web.api.openapi import openapi_document

bp = Blueprint("web", __name__)

FILTERS = ("age", "bailleur", "logement", "date")


def is_demo() -> bool:
    try:
        return get_meta(get_session(), "dataset") == "demo"
    except Exception:  # a database not yet initialised must not break the error pages
        return False


@bp.app_context_processor
def _globals():
    return {"demo": is_demo(), "csp_nonce": nonce}


def nonce() -> str:
    """Per-response nonce for the inline scripts folium writes (app/web/__init__ puts it in the CSP)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def _filter_choices(session) -> dict:
    return {
        "ages": [("", "Tous âges")] + [(k, v) for k, v in AGE_BAND_LABELS.items() if k != ALL_AGES],
        "person_ages": [("adulte", "Adulte"), ("enfant", "Enfant ou adolescent"), ("", "Âge non précisé")],
        "landlords": [("", "Non précisé")] + [(ll.code, ll.name) for ll in
                                                  session.scalars(select(Landlord).order_by(Landlord.name))],
        "housing": [("", "Tous logements")] + list(HOUSING_TYPE_LABELS.items()),
    }


def _filters_from_request() -> dict:
    return {name: (request.args.get(name) or "").strip()[:60] for name in FILTERS}


def _options(session, filters: dict):
    settings = state().settings
    return parse_options(session, as_of=filters["date"] or None, age=filters["age"] or None,
                         landlord=filters["bailleur"] or None, housing=filters["logement"] or None,
                         default_radius_m=settings.PROXIMITY_RADIUS_M, max_radius_m=settings.MAX_RADIUS_M,
                         proximity_limit=settings.PROXIMITY_LIMIT)


@bp.app_template_filter("status_label")
def _status_label(value: str) -> str:
    return STATUS_LABELS.get(value, value)


@bp.app_template_filter("precision_label")
def _precision_label(level: str) -> str:
    from app.vocabulary import GEOCODING_PRECISION_LABELS

    return GEOCODING_PRECISION_LABELS.get(level, level)


@bp.app_template_filter("source_label")
def _source_label(provenance: dict) -> str:
    from app.partners.registry import source_label

    return source_label(provenance.get("source") or "", provenance.get("file"), provenance.get("row"))


for _name, _filter in (("fr_date", french.date), ("fr_number", french.number), ("fr_percent", french.percent),
                      ("plural", french.plural)):
    bp.add_app_template_filter(_filter, _name)


@bp.app_template_filter("age_label")
def _age_label(value: str) -> str:
    return AGE_BAND_LABELS.get(value, value)


@bp.get("/")
def home():
    session = get_session()
    return render_template("home.html", filters=_filters_from_request(), choices=_filter_choices(session),
                           tile=_tile(), extent=_rounded_extent(session))


def _rounded_extent(session):
    from app.territories import reference_extent

    extent = reference_extent(session)
    return tuple(round(v, 4) for v in extent) if extent else None


@bp.get("/carte/communes.geojson")
def communes_in_view():
    """Commune outlines in a map view (the home map's background when no tiles are configured)."""
    raw = (request.args.get("bbox") or "").split(",")
    try:
        minx, miny, maxx, maxy = (float(v) for v in raw)
    except ValueError:
        abort(Response("bbox=ouest,sud,est,nord attendu (degrés WGS84).", status=400, mimetype="text/plain"))
    # at most a few départements' view (the home map at zoom 8); the answer is also capped in communes
    if not (-180 <= minx < maxx <= 180 and -90 <= miny < maxy <= 90) or (maxx - minx) * (maxy - miny) > 4.0:
        abort(Response("Emprise invalide ou trop grande (zoomer).", status=400, mimetype="text/plain"))
    return maps.communes_geojson(get_session(), (minx, miny, maxx, maxy))


def _tile() -> dict:
    settings = state().settings
    return {"url": settings.TILE_URL, "attribution": settings.TILE_ATTRIBUTION}


def _answer() -> tuple[dict | None, dict | None, str | None, int]:
    """(geocoding, lookup answer, error message, status) for the address or point in the query."""
    session = get_session()
    filters = _filters_from_request()
    address = (request.args.get("adresse") or "").strip()
    lon, lat = request.args.get("lon"), request.args.get("lat")
    try:
        options = _options(session, filters)
        if address:
            result = lookup_address(session, state().geocoder, address, options,
                                    boundary_m=state().settings.BOUNDARY_DISTANCE_M)
            return result["geocoding"], result["lookup"], None, 200
        if lon and lat:
            try:
                lon_f, lat_f = float(lon), float(lat)
            except ValueError:
                raise InvalidInput("Coordonnées illisibles : des nombres décimaux sont attendus.") from None
            return None, lookup(session, lon_f, lat_f, options), None, 200
    except MaillageError as exc:
        return None, None, exc.message, 400
    return None, None, "Saisir une adresse, ou choisir un point sur la carte.", 400


def _card_sections(answer: dict | None) -> dict | None:
    """The card's kinds laid out: those to contact first, then the others folded by theme
    (geodata/kinds.csv, app.partners.kinds.card_layout)."""
    if not answer:
        return None
    by_code = {k["kind"]: k for k in answer["kinds"]}
    layout = kinds_module.card_layout(list(by_code))
    return {"priority": [by_code[c] for c in layout["priority"]],
            "themes": [{**t, "kinds": [by_code[c] for c in t["kinds"]]} for t in layout["themes"]]}


@bp.get("/couverture")
def coverage_card():
    from app.gaps import demand

    geocoding, answer, error, status = _answer()
    demand.record_if_enabled(state(), answer)
    session = get_session()
    features = maps.card_features(session, answer) if answer else None
    return render_template("couverture.html", geocoding=geocoding, answer=answer, error=error,
                           address=(request.args.get("adresse") or "").strip()[:200],
                           filters=_filters_from_request(), choices=_filter_choices(session),
                           features=features, tile=_tile(), fiche_args=_fiche_args(),
                           sections=_card_sections(answer),
                           filter_args={k: v for k, v in _filters_from_request().items() if v}), status


def _fiche_args() -> dict:
    args = {k: v for k, v in request.args.items() if k in ("adresse", "lon", "lat", *FILTERS) and v}
    return args


def _qr_svg(url: str):
    """The card's address as a QR code, drawn here as inline SVG (segno: nothing fetched)."""
    import io

    import segno
    from markupsafe import Markup

    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=3, border=2, xmldecl=False, svgclass="qr",
                                    lineclass=None, title="Code QR de la réponse en ligne")
    svg = out.getvalue().decode()
    return Markup(svg.replace("<svg ", '<svg role="img" aria-label="Code QR : la réponse en ligne" ', 1))


def _fiche_context(pdf: bool = False) -> tuple[dict, int]:
    geocoding, answer, error, status = _answer()
    card_url = url_for("web.coverage_card", _external=True, **_fiche_args()) if answer else None
    return {"geocoding": geocoding, "answer": answer, "error": error,
            "address": (request.args.get("adresse") or "").strip()[:200], "filters": _filters_from_request(),
            "printed_at": dt.date.today(), "fiche_args": {} if pdf else _fiche_args(),
            "sections": _card_sections(answer), "card_url": card_url,
            "qr": _qr_svg(card_url) if card_url else None, "pdf": pdf}, status


@bp.get("/fiche")
def fiche():
    context, status = _fiche_context()
    return render_template("fiche.html", **context), status


@bp.get("/fiche.pdf")
def fiche_pdf():
    import logging

    from weasyprint import CSS, HTML
    from weasyprint.urls import URLFetcher

    from app.config import PROJECT_ROOT

    for name in ("weasyprint", "weasyprint.progress", "fontTools"):
        logging.getLogger(name).setLevel(logging.WARNING)
    context, status = _fiche_context(pdf=True)
    if context["answer"] is None:
        return render_template("fiche.html", **{**context, "pdf": False}), status
    # No fetching at all (the stylesheet is passed in): a PDF never reaches the network.
    css = CSS(string=(PROJECT_ROOT / "app" / "static" / "print.css").read_text(encoding="utf-8"))
    # One page: a fiche too long for it is drawn again tighter (smaller type, one site a kind), then
    # tighter still (past the first block, one partner a kind and the others named on one line).
    for compact in (0, 1, 2):
        html = render_template("fiche.html", **context, compact=compact)
        document = HTML(string=html, url_fetcher=URLFetcher(allowed_protocols=set())).render(stylesheets=[css])
        if len(document.pages) == 1:
            break
    pdf = document.write_pdf()
    name = f"fiche-orientation-{dt.date.today().isoformat()}.pdf"
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "Cache-Control": "no-store"})


@bp.get("/annuaire")
def partner_directory():
    session = get_session()
    args = {k: (request.args.get(k) or "").strip()[:200] for k in ("type", "territoire", "statut", "q", "a_verifier")}
    try:
        page_number = max(1, min(int(request.args.get("page") or 1), 100000))
    except ValueError:
        page_number = 1
    error, result, note = None, None, None
    try:
        territory = None
        if args["territoire"]:
            territory, note = _territory(session, args["territoire"])
        result = directory.search(session, kind=args["type"] or None, status=args["statut"] or None, q=args["q"] or None,
                                  territory=territory, page=page_number, per_page=25,
                                  stale=args["a_verifier"] == "1")
    except MaillageError as exc:
        error = exc.message
    return render_template("annuaire.html", args={k: v for k, v in args.items() if v}, form=args, result=result,
                           error=error, territory_note=note,
                           kinds=kinds_module.all_kinds(session),
                           statuses=[(s, STATUS_LABELS[s]) for s in STATUSES]), (400 if error else 200)


@bp.get("/partenaires/<int:partner_id>")
def partner_page(partner_id: int):
    session = get_session()
    detail = directory.partner_detail(session, partner_id, tolerance=maps.DISPLAY_TOLERANCE)
    features = {"type": "FeatureCollection", "features": (
        ([{**detail["coverage"], "properties": {"role": "zone", "name": detail["name"]}}] if detail["coverage"] else [])
        + [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [s["lon"], s["lat"]]},
            "properties": {"role": "site", "name": s["name"]}} for s in detail["sites"] if s["lon"] is not None])}
    return render_template("partenaire.html", p=detail, features=features if features["features"] else None,
                           tile=_tile())


@bp.get("/carte")
def coverage_map_page():
    session = get_session()
    args = {k: (request.args.get(k) or "").strip()[:60] for k in ("type", "territoire", "date", "age")}
    all_kinds = kinds_module.all_kinds(session)
    context = {"args": {k: v for k, v in args.items() if v}, "error": None, "summary": None, "units": None,
               "proximity": None, "form": args, "territory_note": None, "ages": _filter_choices(session)["ages"],
               "kinds": [k for k in all_kinds if k.mode == "territorial"],
               "proximity_kinds": [k for k in all_kinds if k.mode == "proximity"], "tile": _tile()}
    status = 200
    if args["type"] and args["territoire"]:
        try:
            code, context["territory_note"] = _territory(session, args["territoire"])
            context["args"]["territoire"] = code
            chosen = next((k for k in all_kinds if k.code == args["type"]), None)
            if chosen is not None and chosen.mode == "proximity":
                # sites and their radius, the communes within reach (app.maps.proximity_map)
                context["proximity"] = maps.proximity_map(session, args["type"], code, _date(args["date"]),
                                                          age=args["age"] or None)
            else:
                units = maps.coverage_units(session, args["type"], code, _date(args["date"]),
                                            age=args["age"] or None)
                context.update(units=units, summary=maps.summary(units), labels=maps.STATUS_LABELS,
                               colours=maps.STATUS_COLOURS)
        except MaillageError as exc:
            context["error"], status = exc.message, 400
    return render_template("carte.html", **context), status


def _date(raw: str, field: str = "date") -> dt.date | None:
    """A date of a form (gaps, map): the API's rules (format, 1900–2199)."""
    return parse_date(raw, field=field) if raw else None


def _territory(session, raw: str, field: str = "territoire"):
    """A territory field read as people type it (app.territory_search.resolve): a name, a bare number
    or a typed code → (typed code, the note saying which territory was retained, or None)."""
    from app import territory_search

    if raw.strip().lower() == "france":
        return "france", None
    resolved = territory_search.resolve(session, raw, field=field)
    return resolved.code, resolved.note


def _map_choices():
    """(kind, typed territory, date, age) of a coverage map's query, checked: 404 without a kind or
    a territory, 400 with the French reason for a wrong one."""
    session = get_session()
    kind, territory = request.args.get("type") or "", request.args.get("territoire") or ""
    if not kind or not territory:
        abort(404)
    try:
        territory, _ = _territory(session, territory)
        date = _date(request.args.get("date") or "")
        age = (request.args.get("age") or "")[:20] or None
        maps.check_coverage_request(session, kind, territory, age)
    except MaillageError as exc:
        abort(Response(exc.message, status=400, mimetype="text/plain"))
    return kind, territory, date, age


def _map_units():
    kind, territory, date, age = _map_choices()
    try:
        return maps.coverage_units(get_session(), kind, territory, date, age=age)
    except MaillageError as exc:
        abort(Response(exc.message, status=400, mimetype="text/plain"))


@bp.get("/carte/couverture.geojson")
def coverage_map_geojson():
    import json

    units = _map_units()
    body = json.dumps(maps.units_geojson(units, tolerance=0), ensure_ascii=False)
    name = f"couverture-{request.args.get('type')}-{request.args.get('territoire').replace(':', '-')}.geojson"
    return Response(body, mimetype="application/geo+json",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/carte/couverture.html")
def coverage_map_frame():
    """The folium map document shown in the coverage map page's frame, drawn by a job (cached per
    data version): the request waits for it MAP_FRAME_WAIT_S seconds at most — a commune's map is
    there at once —, else the frame shows the job's progress and reloads itself when it is done."""
    import time

    kind, territory, date, age = _map_choices()
    tile = _tile()
    runner = state().jobs
    info = runner.submit(maps.coverage_map_task, {
        "kind": kind, "territory": territory, "date": date.isoformat() if date else None, "age": age,
        "static_prefix": url_for("static", filename=""), "tile_url": tile["url"], "tile_attribution": tile["attribution"]})
    deadline = time.monotonic() + state().settings.MAP_FRAME_WAIT_S
    while not info.finished and time.monotonic() < deadline:
        time.sleep(0.05)
        info = runner.status(info.id) or info
    result = runner.result(info.id) if info.status == "done" else None
    if result is not None:
        html = result.read().decode("utf-8").replace(maps.NONCE_PLACEHOLDER, nonce())
        response = Response(html, mimetype="text/html")
    else:
        from app.jobs import STATUS_LABELS

        response = Response(render_template(
            "carte_attente.html", job=info, status_label=STATUS_LABELS[info.status],
            state_url=url_for("jobs.job_state", job_id=info.id)), mimetype="text/html")
        response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    g.map_frame = True
    return response


def _gaps_request(session):
    """(form values, matrix, comparison) for the gap analysis page and its downloads."""
    from app import gaps

    form = {"territoire": (request.args.get("territoire") or "").strip()[:2000],
            "date": (request.args.get("date") or "").strip()[:10],
            "comparer": (request.args.get("comparer") or "").strip()[:10],
            "types": [t for t in request.args.getlist("types") if t][:40],
            "niveau": _gaps_level(),
            "age": (request.args.get("age") or "").strip()[:20]}
    if not form["territoire"]:
        return form, None, None
    date = _date(form["date"])
    territory, form["note"] = _territory(session, form["territoire"])
    matrix = gaps.compute(session, territory, form["types"] or None, date, level=form["niveau"],
                          age=form["age"] or None)
    comparison = None
    if form["comparer"]:
        earlier = _date(form["comparer"], "comparer")
        if earlier >= matrix.as_of:
            raise InvalidInput("La date de comparaison doit précéder la date d'analyse.", field="comparer")
        comparison = gaps.compare(session, gaps.compute(session, territory, form["types"] or None, earlier,
                                                        level=form["niveau"], age=form["age"] or None), matrix)
    return form, matrix, comparison


@bp.get("/ecarts")
def gaps_page():
    from flask import redirect

    from app.gaps import screen
    from app.gaps import tasks as gap_tasks

    session = get_session()
    error, view, comparison = None, None, None
    form = {"territoire": "", "date": "", "comparer": "", "types": [], "niveau": "commune", "age": ""}
    try:
        territory = (request.args.get("territoire") or "").strip()[:2000]
        if territory:
            code, note = _territory(session, territory)
            if gap_tasks.is_large(code):
                # a région or the whole reference: computed apart from the request (app/jobs)
                date = _date((request.args.get("date") or "").strip()[:10]) or dt.date.today()
                from app import gaps

                gaps.parse_kinds(session, [t for t in request.args.getlist("types") if t][:40] or None)
                if (request.args.get("comparer") or "").strip():
                    raise InvalidInput("Pour une région ou la France entière, la comparaison de deux dates se lit dans "
                                       "le classeur : choisir un département ou un établissement public territorial "
                                       "pour la voir à l'écran.", field="comparer")
                params = {"territory": code, "types": [t for t in request.args.getlist("types") if t][:40],
                          "date": date.isoformat(), "level": _gaps_level(), "age": gaps.parse_age(
                              (request.args.get("age") or "").strip()[:20] or None)}
                info = state().jobs.submit(gap_tasks.page, params)
                return redirect(url_for("jobs.job_page", job_id=info.id), code=303)
        form, matrix, comparison = _gaps_request(session)
        view = screen.view(matrix) if matrix else None
    except MaillageError as exc:
        error = exc.message
        form = {"territoire": request.args.get("territoire", "")[:2000], "date": request.args.get("date", "")[:10],
                "comparer": request.args.get("comparer", "")[:10], "types": request.args.getlist("types"),
                "niveau": request.args.get("niveau", "commune")[:10], "age": request.args.get("age", "")[:20]}
    return _gaps_render(session, form, view, comparison, error, request.query_string.decode())


def _gaps_level() -> str:
    return (request.args.get("niveau") or "commune").strip()[:20]


def _gaps_render(session, form, view, comparison, error, query):
    from app.gaps import exports as gap_exports
    from app.gaps import screen

    return render_template("ecarts.html", form=form, view=view, comparison=comparison, error=error,
                           kinds=kinds_module.all_kinds(session), ages=_filter_choices(session)["ages"],
                           query=query, formats=gap_exports.FORMATS, tile=_tile(), units_label=screen.units_label,
                           levels=GAP_LEVELS), (400 if error else 200)


# The /ecarts form's "Unités" choice: the units analysed, or the group every indicator is also given by.
GAP_LEVELS = (("commune", "Communes"), ("ept", "Communes et par EPT"), ("epci", "Communes et par EPCI"),
              ("departement", "Communes et par département"), ("iris", "IRIS (si chargés)"))


@bp.get("/ecarts/resultat/<job_id>")
def gaps_result(job_id: str):
    """The gap analysis of a large territory, computed by a job (app/gaps/tasks.py:page), shown as
    the page shows a small one."""
    from app.gaps import tasks as gap_tasks

    session = get_session()
    info = state().jobs.status(job_id) if job_id.isalnum() and len(job_id) <= 64 else None
    result = state().jobs.result(job_id) if info is not None and info.task == gap_tasks.page.job_task.path else None
    if result is None or result.data is None:
        abort(404, "Cette analyse n'existe pas ou son résultat a expiré : la relancer depuis la page Analyse des écarts.")
    view = result.data
    form = {"territoire": view["territory"], "date": view["as_of"], "comparer": "", "types": [k["code"] for k in view["kinds"]],
            "niveau": view["level"] or "commune", "age": "", "note": None}
    from urllib.parse import urlencode

    query = urlencode([("territoire", view["territory"]), ("date", view["as_of"])]
                      + [("types", k["code"]) for k in view["kinds"]] + ([("niveau", view["level"])] if view["level"] else []))
    return _gaps_render(session, form, view, None, None, query)


def _gaps_job(fmt: str):
    """The workbook, GeoPackage or PDF: a background job (cached per data version), whose page
    shows its progress and then the file. The form is checked here, the territory read as on the
    page (a name or a bare number becomes its typed code), its content by the job."""
    from flask import redirect

    from app.gaps import tasks as gap_tasks

    territory = (request.args.get("territoire") or "").strip()[:2000]
    if not territory:
        abort(Response("Choisir un territoire.", status=400, mimetype="text/plain"))
    try:
        territory, _ = _territory(get_session(), territory)
        date = _date((request.args.get("date") or "").strip()[:10]) or dt.date.today()
        compare = _date((request.args.get("comparer") or "").strip()[:10], "comparer")
        if compare and compare >= date:
            raise InvalidInput("La date de comparaison doit précéder la date d'analyse.", field="comparer")
    except MaillageError as exc:
        abort(Response(exc.message, status=400, mimetype="text/plain"))
    params = {"territory": territory, "fmt": fmt, "types": [t for t in request.args.getlist("types") if t][:40],
              "date": date.isoformat(), "compare": compare.isoformat() if compare else None,
              "level": _gaps_level(), "age": (request.args.get("age") or "")[:20] or None}
    info = state().jobs.submit(gap_tasks.export, params)
    return redirect(url_for("jobs.job_page", job_id=info.id), code=303)


@bp.get("/ecarts/export.<fmt>")
def gaps_download(fmt: str):
    from app.gaps import exports as gap_exports
    from app.gaps import tasks as gap_tasks

    if fmt not in gap_exports.FORMATS:
        abort(404)
    if fmt in gap_tasks.JOB_FORMATS:
        return _gaps_job(fmt)
    session = get_session()
    try:
        _, matrix, _ = _gaps_request(session)
    except MaillageError as exc:
        abort(Response(exc.message, status=400, mimetype="text/plain"))
    if matrix is None:
        abort(Response("Choisir un territoire.", status=400, mimetype="text/plain"))
    content, mimetype, name = gap_exports.report_bytes(matrix, fmt, gap_exports.context(session, matrix, [fmt]))
    return Response(content, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico on pages without an icon link (JSON answers): give them one."""
    from flask import send_from_directory

    from app.config import PROJECT_ROOT

    return send_from_directory(PROJECT_ROOT / "app" / "static", "favicon.svg", mimetype="image/svg+xml", max_age=86400)


@bp.get("/api/docs")
def api_docs():
    g.style_attributes = True  # Swagger UI sets style attributes (never scripts: script-src stays 'self')
    return render_template("api/docs.html", spec=openapi_document(),
                           problems={code: error.title for code, error in ERRORS.items()})


@bp.get("/modeles/partenaires.<fmt>")
def partner_template(fmt: str):
    """The blank partner sheet (docs/partner-sheet.md), to fill and import."""
    from app.exchange import partner_sheet

    if fmt not in ("csv", "xlsx"):
        abort(404)
    mimetype = ("text/csv; charset=utf-8" if fmt == "csv"
                else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    return Response(partner_sheet.template_bytes(fmt, get_session()), mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="maillage-partenaires-modele.{fmt}"'})
