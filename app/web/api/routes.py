"""JSON API v1. Thin: parse the request, call the domain modules, shape the response."""

from __future__ import annotations

import math

import shapely
from flask import jsonify, request, url_for
from sqlalchemy import func, select

from app import dialects, territories
from app.db import get_meta
from app.errors import InvalidInput
from app.gaps import demand
from app.lookup import lookup, lookup_many, parse_options
from app.lookup.address import lookup_address
from app.models import Kind, Landlord, Partner
from app.partners import cards, directory, kinds
from app.vocabulary import AGE_BAND_LABELS, HOUSING_TYPE_LABELS, MODE_LABELS, STATUS_LABELS
from app.web import get_session, limits, state
from app.web.api import bp
from app.web.api.openapi import openapi_document

LOOKUP_PARAMS = ("lon", "lat", "address", "as_of", "age", "landlord", "housing", "kinds", "radius")


def _options(source: dict):
    settings = state().settings
    return parse_options(
        get_session(), as_of=source.get("as_of"), age=source.get("age"), landlord=source.get("landlord"),
        housing=source.get("housing"), kinds=source.get("kinds"), radius=source.get("radius"),
        default_radius_m=settings.PROXIMITY_RADIUS_M, max_radius_m=settings.MAX_RADIUS_M,
        proximity_limit=settings.PROXIMITY_LIMIT,
    )


def _float_param(name: str) -> float:
    raw = request.args.get(name)
    if raw is None or raw.strip() == "":
        raise InvalidInput(f"Paramètre « {name} » obligatoire (degrés WGS84, ex. lon=2.4820&lat=48.9022).",
                           code="invalid-coordinates", field=name)
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(f"« {name} » doit être un nombre décimal (reçu « {raw[:40]} »).",
                           code="invalid-coordinates", field=name) from None
    if not math.isfinite(value):
        raise InvalidInput(f"« {name} » n'est pas un nombre fini.", code="invalid-coordinates", field=name)
    return value


def _refuse_unknown_params(allowed) -> None:
    unknown = sorted(set(request.args) - set(allowed))
    if unknown:
        raise InvalidInput(f"Paramètre(s) inconnu(s) : {', '.join(u[:40] for u in unknown[:5])}.", field=unknown[0][:40])


@bp.get("/ping")
def ping():
    """Trivial endpoint (no database): the benchmark's baseline."""
    return jsonify(status="ok")


@bp.get("/status")
def status():
    session = get_session()
    from app import db

    engine = state().engine
    return jsonify(
        status="ok",
        backend=dialects.backend_name(engine),
        schema_revision=db.current_revision(engine),
        dataset=get_meta(session, "dataset") or "production",
        territories=territories.reference_summary(session),
        partners=session.scalar(select(func.count()).select_from(Partner)),
    )


@bp.get("/lookup")
def lookup_point():
    _refuse_unknown_params(LOOKUP_PARAMS)
    if "address" in request.args:
        if "lon" in request.args or "lat" in request.args:
            raise InvalidInput("Donner soit « address », soit « lon » et « lat », pas les deux.", field="address")
        options = _options(request.args)
        settings = state().settings
        result = lookup_address(get_session(), state().geocoder, request.args["address"], options,
                                boundary_m=settings.BOUNDARY_DISTANCE_M)
        demand.record_if_enabled(state(), result["lookup"])
        return jsonify(result)
    lon, lat = _float_param("lon"), _float_param("lat")
    options = _options(request.args)
    answer = lookup(get_session(), lon, lat, options)
    demand.record_if_enabled(state(), answer)
    return jsonify(answer)


@bp.get("/geocode")
def geocode():
    """Address autocomplete and search: ranked candidates with level and score."""
    _refuse_unknown_params(("q", "limit", "autocomplete"))
    autocomplete = request.args.get("autocomplete", "1")
    if autocomplete not in ("0", "1"):
        raise InvalidInput("« autocomplete » vaut 0 ou 1.", field="autocomplete")
    result = state().geocoder.search(get_session(), request.args.get("q"), limit=_int_arg("limit", 5, 1, 20),
                                     autocomplete=autocomplete == "1")
    return jsonify(result.as_dict())


def _json_body():
    """The request's JSON body, or None when it is not JSON. Never more than MAX_CONTENT_LENGTH
    bytes are read: a body declared larger was refused before (app/web/__init__.py), and one sent
    without a length (chunked) is refused as soon as it passes the limit."""
    import orjson
    from werkzeug.exceptions import RequestEntityTooLarge

    limit = state().settings.MAX_CONTENT_LENGTH
    if request.content_length is None and request.environ.get("wsgi.input_terminated"):
        raw = request.environ["wsgi.input"].read(limit + 1)
        if len(raw) > limit:
            raise RequestEntityTooLarge()
    else:
        raw = request.get_data(cache=False)
    if not request.is_json:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


@bp.post("/lookup/batch")
def lookup_batch():
    body = _json_body()
    if not isinstance(body, dict) or not isinstance(body.get("points"), list):
        raise InvalidInput('Corps JSON attendu : {"points": [[lon, lat], …], "as_of": …}.',
                           code="invalid-body", field="points")
    limit = state().settings.MAX_BATCH_POINTS
    if len(body["points"]) > limit:
        raise InvalidInput(f"{len(body['points'])} points : au plus {limit} par requête.",
                           code="too-many-points", field="points")
    options = _options(body)
    limits.charge_batch(len(body["points"]))
    return jsonify(lookup_many(get_session(), body["points"], options, compact=True))


@bp.get("/kinds")
def list_kinds():
    return jsonify(items=[_kind_json(k) for k in kinds.all_kinds(get_session())])


def _kind_json(k: Kind) -> dict:
    return {"code": k.code, "label": k.label, "short_label": k.short_label, "mode": k.mode,
            "mode_label": MODE_LABELS[k.mode], "age_band": k.age_band, "radius_m": k.radius_m,
            "is_housing": k.is_housing, "description": k.description, "if_none": k.if_none}


@bp.get("/landlords")
def list_landlords():
    rows = get_session().scalars(select(Landlord).order_by(Landlord.name))
    return jsonify(items=[{"code": r.code, "name": r.name, "siren": r.siren} for r in rows])


@bp.get("/vocabularies")
def vocabularies():
    return jsonify(age_bands=AGE_BAND_LABELS, statuses=STATUS_LABELS, housing_types=HOUSING_TYPE_LABELS,
                   modes=MODE_LABELS)


def _int_arg(name: str, default: int, lo: int, hi: int) -> int:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"« {name} » doit être un entier.", code="invalid-pagination", field=name) from None
    if not lo <= value <= hi:
        raise InvalidInput(f"« {name} » doit être entre {lo} et {hi}.", code="invalid-pagination", field=name)
    return value


@bp.get("/partners")
def list_partners():
    result = directory.search(
        get_session(), kind=request.args.get("kind"), status=request.args.get("status"), q=request.args.get("q"),
        territory=request.args.get("territory"), page=_int_arg("page", 1, 1, 100000),
        per_page=_int_arg("per_page", 50, 1, 200),
    )
    args = {k: v for k, v in request.args.items() if k != "page"}
    page, pages = result.page, result.pages
    return jsonify(
        items=[_partner_summary(p) for p in result.items], page=page, per_page=result.per_page,
        total=result.total, pages=pages,
        next=url_for("api.list_partners", page=page + 1, **args) if page < pages else None,
        prev=url_for("api.list_partners", page=page - 1, **args) if page > 1 else None,
    )


def _partner_summary(p: Partner) -> dict:
    return {**cards.summary(p), "url": url_for("api.get_partner", partner_id=p.id)}


@bp.get("/partners/<int:partner_id>")
def get_partner(partner_id: int):
    session = get_session()
    tolerance = request.args.get("simplify")
    if tolerance:
        try:
            tol = float(tolerance)
        except ValueError:
            raise InvalidInput("« simplify » doit être une tolérance en degrés (ex. 0.0005).",
                               field="simplify") from None
        if not 0 <= tol <= 0.1:
            raise InvalidInput("« simplify » doit être entre 0 et 0.1 degré.", field="simplify")
    else:
        tol = None
    detail = directory.partner_detail(session, partner_id, tolerance=tol)
    return jsonify({**detail, "url": url_for("api.get_partner", partner_id=partner_id),
                    "dataset": get_meta(session, "dataset") or "production"})


@bp.get("/territories")
def search_territories():
    """Territories by name or code, for pickers: ?q=Seine-Saint-Denis | 93 | Paris 13e | Bondy."""
    from app import territory_search

    session = get_session()
    _refuse_unknown_params(("q", "limit"))
    results = territory_search.search(session, request.args.get("q") or "", limit=_int_arg("limit", 10, 1, 50))
    return jsonify(results=results)


@bp.get("/territories/<path:typed_code>")
def get_territory(typed_code: str):
    session = get_session()
    typed = territories.parse_code(typed_code, field="typed_code")
    out = territories.describe(session, typed)
    if request.args.get("geometry") in ("1", "true", "oui"):
        geom = territories.geometry(session, typed)
        # Simplify unions of many communes so a région stays a reasonable download.
        tolerance = 0.0 if typed.is_unit else 0.0005
        out["geometry"] = shapely.geometry.mapping(geom.simplify(tolerance, preserve_topology=True) if tolerance else geom)
    return jsonify(out)


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())
