"""JSON API v1. Thin: each operation is declared with its models (app/web/api/contract.py), which
check the request before the view runs; the view calls the domain modules and shapes the answer."""

from __future__ import annotations

import shapely
from flask import jsonify, request, url_for
from sqlalchemy import func, select

from app import dialects, territories
from app.db import get_meta
from app.gaps import demand
from app.lookup import lookup, lookup_many, parse_options
from app.lookup.address import lookup_address
from app.models import Kind, Landlord, Partner
from app.partners import cards, directory, kinds
from app.vocabulary import AGE_BAND_LABELS, HOUSING_TYPE_LABELS, MODE_LABELS, STATUS_LABELS
from app.web import get_session, limits, state
from app.web.api import bp
from app.web.api import models as m
from app.web.api.contract import operation
from app.web.api.openapi import openapi_document


def _options(filters: m.LookupFilters):
    settings = state().settings
    return parse_options(get_session(), **filters.filters(), default_radius_m=settings.PROXIMITY_RADIUS_M,
                         max_radius_m=settings.MAX_RADIUS_M, proximity_limit=settings.PROXIMITY_LIMIT)


@operation(bp, "get", "/lookup", query=m.LookupQuery, answers={200: (m.LookupAnswer, m.AddressLookupAnswer)},
           summary="Qui couvre ce point ?",
           description="Pour chaque type de partenaire : les structures compétentes (avec la partie de zone qui "
                       "correspond), ou une entrée « aucune couverture » ; pour les types à proximité, les sites "
                       "les plus proches dans le rayon. Avec address au lieu de lon/lat : le géocodage, puis la "
                       "même réponse avec les points « à confirmer ».",
           problems={400: "Paramètre invalide (coordonnées, adresse, date, filtre inconnu…)"})
def lookup_point(query: m.LookupQuery):
    options = _options(query)
    if query.address is not None:
        settings = state().settings
        result = lookup_address(get_session(), state().geocoder, query.address, options,
                                boundary_m=settings.BOUNDARY_DISTANCE_M)
        demand.record_if_enabled(state(), result["lookup"])
        return jsonify(result)
    answer = lookup(get_session(), query.lon, query.lat, options)
    demand.record_if_enabled(state(), answer)
    return jsonify(answer)


@operation(bp, "get", "/geocode", query=m.GeocodeQuery, answers={200: m.GeocodeResult},
           summary="Géocodage et autocomplétion d'adresse",
           description="Candidats classés (libellé, précision numéro/voie/commune, score 0–1, lon/lat, code INSEE) ; "
                       "adresse ambiguë : plusieurs candidats sans choix ; non trouvée : suggestions. Assez rapide "
                       "pour être appelé à chaque frappe. Rien n'est conservé ni journalisé.",
           problems={400: "Adresse vide, trop longue ou illisible"})
def geocode(query: m.GeocodeQuery):
    result = state().geocoder.search(get_session(), query.q, limit=query.limit, autocomplete=query.autocomplete == 1)
    return jsonify(result.as_dict())


@operation(bp, "post", "/lookup/batch", query=m.NoParameters, body=m.BatchBody, answers={200: m.BatchAnswer},
           summary="Plusieurs points en un appel (forme compacte)",
           description="Les fiches des partenaires sont données une fois, dans partners ; chaque résultat liste "
                       "les identifiants par type. Au plus MAILLAGE_MAX_BATCH_POINTS points par requête.",
           problems={400: "Corps invalide ou trop de points"})
def lookup_batch(query: m.NoParameters, body: m.BatchBody):
    options = _options(body)
    limits.charge_batch(len(body.points))
    return jsonify(lookup_many(get_session(), body.points, options, compact=True))


@operation(bp, "get", "/kinds", query=m.NoParameters, answers={200: m.KindList},
           summary="Types de partenaires (catalogue)")
def list_kinds(query: m.NoParameters):
    return jsonify(items=[_kind_json(k) for k in kinds.all_kinds(get_session())])


def _kind_json(k: Kind) -> dict:
    return {"code": k.code, "label": k.label, "short_label": k.short_label, "mode": k.mode,
            "mode_label": MODE_LABELS[k.mode], "age_band": k.age_band, "radius_m": k.radius_m,
            "is_housing": k.is_housing, "description": k.description, "if_none": k.if_none}


@operation(bp, "get", "/landlords", query=m.NoParameters, answers={200: m.LandlordList},
           summary="Bailleurs connus (pour le filtre landlord)")
def list_landlords(query: m.NoParameters):
    rows = get_session().scalars(select(Landlord).order_by(Landlord.name))
    return jsonify(items=[{"code": r.code, "name": r.name, "siren": r.siren} for r in rows])


@operation(bp, "get", "/vocabularies", query=m.NoParameters, answers={200: m.Vocabularies},
           summary="Valeurs autorisées et libellés")
def vocabularies(query: m.NoParameters):
    return jsonify(age_bands=AGE_BAND_LABELS, statuses=STATUS_LABELS, housing_types=HOUSING_TYPE_LABELS,
                   modes=MODE_LABELS)


@operation(bp, "get", "/partners", query=m.PartnersQuery, answers={200: m.PartnersPage},
           summary="Annuaire des partenaires (paginé)",
           problems={400: "Filtre invalide", 404: "Territoire inconnu"})
def list_partners(query: m.PartnersQuery):
    result = directory.search(get_session(), kind=query.kind, status=query.status, q=query.q,
                              territory=query.territory, page=query.page, per_page=query.per_page)
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


@operation(bp, "get", "/partners/<int:partner_id>", path=m.PartnerPath, query=m.PartnerQuery,
           answers={200: m.PartnerDetail}, summary="Fiche d'un partenaire, avec sa zone de couverture en GeoJSON",
           problems={400: "Tolérance de simplification hors limites (0 à 0,1 degré)", 404: "Partenaire inconnu"})
def get_partner(partner_id: int, query: m.PartnerQuery):
    session = get_session()
    detail = directory.partner_detail(session, partner_id, tolerance=query.simplify)
    return jsonify({**detail, "url": url_for("api.get_partner", partner_id=partner_id),
                    "dataset": get_meta(session, "dataset") or "production"})


@operation(bp, "get", "/territories", query=m.TerritoriesQuery, answers={200: m.TerritoryMatches},
           summary="Territoires par nom ou par code, pour choisir un territoire (meilleurs d'abord)",
           problems={400: "Saisie invalide"})
def search_territories(query: m.TerritoriesQuery):
    """Territories by name or code, for pickers: ?q=Seine-Saint-Denis | 93 | Paris 13e | Bondy."""
    from app import territory_search

    return jsonify(results=territory_search.search(get_session(), query.q, limit=query.limit))


@operation(bp, "get", "/territories/<path:typed_code>", path=m.TerritoryPath, query=m.TerritoryQuery,
           answers={200: m.Territory},
           summary="Un territoire du référentiel (commune, arrondissement, IRIS, département, région, EPCI)",
           problems={400: "Code invalide ou ambigu (un code sans type est refusé)",
                     404: "Territoire absent du référentiel"})
def get_territory(typed_code: str, query: m.TerritoryQuery):
    session = get_session()
    typed = territories.parse_code(typed_code, field="typed_code")
    out = territories.describe(session, typed)
    if query.with_geometry:
        geom = territories.geometry(session, typed)
        # Simplify unions of many communes so a région stays a reasonable download.
        tolerance = 0.0 if typed.is_unit else 0.0005
        out["geometry"] = shapely.geometry.mapping(geom.simplify(tolerance, preserve_topology=True) if tolerance else geom)
    return jsonify(out)


@operation(bp, "get", "/status", query=m.NoParameters, answers={200: m.Status},
           summary="État du service et de la base")
def status(query: m.NoParameters):
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


@operation(bp, "get", "/ping", query=m.NoParameters, answers={200: m.Ping},
           summary="Réponse minimale (sans base), pour la supervision")
def ping(query: m.NoParameters):
    """Trivial endpoint (no database): the benchmark's baseline."""
    return jsonify(status="ok")


@operation(bp, "get", "/openapi.json", query=m.NoParameters, answers={200: m.OpenApiDocument},
           summary="Ce document (OpenAPI 3.1), produit des modèles de l'API")
def openapi(query: m.NoParameters):
    return jsonify(openapi_document())
