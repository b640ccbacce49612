"""The OpenAPI 3.1 description of API v1 (served at /api/v1/openapi.json, rendered at /api/docs).

tests/test_openapi.py checks that it is a valid document, that every API route is described
and that real responses match the schemas.
"""

from __future__ import annotations

from app.errors import ERRORS
from app.vocabulary import (AGE_BANDS, GEOCODING_LEVEL_LABELS, HOUSING_TYPES, INVENTORY_LABELS, KIND_ANSWER_STATUSES,
                            KIND_MODES, PERSON_AGES, STATUSES)

_COORD = {"type": "number"}


def _param(name, where, schema, description, required=False, example=None):
    p = {"name": name, "in": where, "required": required, "schema": schema, "description": description}
    if example is not None:
        p["example"] = example
    return p


LOOKUP_FILTERS = [
    _param("as_of", "query", {"type": "string", "format": "date"},
           "Date de validité (AAAA-MM-JJ) : structures ouvertes à cette date. Défaut : aujourd'hui.", example="2026-12-01"),
    _param("age", "query", {"type": "string", "enum": list(PERSON_AGES)},
           "Tranche d'âge de la personne : masque les structures et types réservés à l'autre tranche."),
    _param("landlord", "query", {"type": "string"},
           "Code du bailleur (voir /landlords) : les services réservés à d'autres bailleurs sont masqués ; "
           "sans ce filtre ils sont affichés avec leur restriction."),
    _param("housing", "query", {"type": "string", "enum": list(HOUSING_TYPES)},
           "Type de logement de la personne."),
    _param("kinds", "query", {"type": "string"}, "Types de partenaires, séparés par des virgules (voir /kinds).",
           example="clsm,secteur_psy_adulte"),
    _param("radius", "query", {"type": "integer", "minimum": 1, "maximum": 50000},
           "Rayon de recherche (mètres) des types « à proximité ». Défaut : celui du type."),
]

PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "code": {"type": "string", "enum": sorted(ERRORS)},
        "instance": {"type": "string"},
        "invalid_params": {"type": "array", "items": {"type": "object", "required": ["name", "reason"],
                           "properties": {"name": {"type": "string"}, "reason": {"type": "string"}}}},
    },
}

NULLABLE_STR = {"type": ["string", "null"]}

PARTNER_CARD = {
    "type": "object",
    "required": ["id", "ref", "name", "kind", "how_to_refer", "contacts", "sites", "status", "reserved_to"],
    "properties": {
        "id": {"type": "integer"}, "ref": {"type": "string"}, "name": {"type": "string"},
        "kind": {"type": "string"}, "description": {"type": "string"}, "how_to_refer": {"type": "string"},
        "website": NULLABLE_STR, "age_band": {"type": "string", "enum": list(AGE_BANDS)},
        "housing_types": {"type": "array", "items": {"type": "string"}}, "eligibility": {"type": "string"},
        "capacity": {"type": ["integer", "null"]}, "status": {"type": "string"},
        "valid_from": NULLABLE_STR, "valid_to": NULLABLE_STR, "finess": NULLABLE_STR, "siret": NULLABLE_STR,
        "contacts": {"type": "array", "items": {"type": "object"}},
        "sites": {"type": "array", "items": {"$ref": "#/components/schemas/Site"}},
        "reserved_to": {"type": "array", "items": {"type": "object", "properties": {
            "code": {"type": "string"}, "name": {"type": "string"}}}},
        "source": {"type": "string"}, "last_verified_at": NULLABLE_STR,
    },
}

SITE = {
    "type": "object",
    "required": ["name", "role", "lon", "lat"],
    "properties": {
        "name": {"type": "string"}, "role": {"type": "string"}, "address": {"type": "string"},
        "postcode": NULLABLE_STR, "city": NULLABLE_STR, "code_insee": NULLABLE_STR, "phone": NULLABLE_STR,
        "email": NULLABLE_STR, "opening_hours": NULLABLE_STR, "finess": NULLABLE_STR,
        "capacity": {"type": ["integer", "null"]}, "lon": {"type": ["number", "null"]},
        "lat": {"type": ["number", "null"]}, "distance_m": {"type": "integer"},
    },
}

KIND_ANSWER = {
    "type": "object",
    "required": ["kind", "label", "mode", "status", "message", "partners", "upcoming", "unavailable", "inventory"],
    "properties": {
        "kind": {"type": "string"}, "label": {"type": "string"}, "short_label": {"type": "string"},
        "mode": {"type": "string", "enum": list(KIND_MODES)},
        "status": {"type": "string", "enum": list(KIND_ANSWER_STATUSES),
                   "description": "covered : au moins une structure compétente ; restricted : seulement des "
                                  "services réservés à certains bailleurs ; none : aucune couverture ; outside : "
                                  "point hors du référentiel ; found : structures à proximité trouvées."},
        "message": NULLABLE_STR, "if_none": NULLABLE_STR, "radius_m": {"type": ["integer", "null"]},
        "partners": {"type": "array", "items": {"type": "object", "required": ["partner"], "properties": {
            "partner": {"$ref": "#/components/schemas/PartnerCard"},
            "matched_part": {"type": "object", "description": "La partie de la zone qui contient le point.",
                             "properties": {"type": {"type": "string", "enum": ["territoire", "polygone", "zone"]},
                                            "code": NULLABLE_STR, "label": {"type": "string"}}},
            "distance_m": {"type": "integer"},
            "restriction": {"type": ["object", "null"], "description": "Service réservé aux locataires de certains "
                            "bailleurs (null : ouvert à tous).", "required": ["reserved_to", "applies", "message"],
                            "properties": {
                                "reserved_to": {"type": "array", "items": {"type": "object"}},
                                "applies": {"type": ["boolean", "null"], "description": "true : réservé au bailleur "
                                            "indiqué dans la demande ; null : bailleur non indiqué, ne s'applique "
                                            "que si le locataire est logé par l'un de ces bailleurs."},
                                "message": {"type": "string"}}},
            "in_sector": {"type": ["string", "null"], "enum": [*PERSON_AGES, None],
                          "description": "Type cmp : ce CMP est celui du secteur de psychiatrie (adulte ou enfants) "
                                         "qui couvre l'adresse ; null : autre CMP proche, hors secteur."},
            "sites": {"type": "array", "items": {"$ref": "#/components/schemas/Site"}},
        }}},
        "upcoming": {"type": "array", "items": {"type": "object"}},
        "unavailable": {"type": "array", "items": {"type": "object"}},
        "filtered_out": {"type": "integer", "description": "Structures présentes ici mais écartées par les filtres "
                                                           "(âge, logement, bailleur)."},
        "inventory": {"type": "object", "required": ["status"], "description": "Ce territoire a-t-il été inventorié "
                      "pour ce type ? Distingue « aucune structure » (inventorie) de « jamais recensé » "
                      "(non_inventorie) et de « inventaire inconnu » (inconnu).", "properties": {
                          "status": {"type": "string", "enum": list(INVENTORY_LABELS)},
                          "label": {"type": "string"}, "territory": NULLABLE_STR, "territory_name": NULLABLE_STR,
                          "date": NULLABLE_STR, "source": NULLABLE_STR}},
        "to_confirm": {"type": ["object", "null"], "description": "Recherche par adresse seulement : la réponse "
                       "pourrait être différente à l'adresse réelle (position approchée ou limite proche).",
                       "required": ["reason", "message", "alternatives"], "properties": {
                           "reason": {"type": "string", "enum": ["approximate-match", "near-boundary"]},
                           "message": {"type": "string"},
                           "alternatives": {"type": "array", "items": {"type": "object", "required": ["partner"],
                                            "properties": {"partner": {"$ref": "#/components/schemas/PartnerCard"}}}},
                           "may_not_cover": {"type": "array", "items": {"type": "integer"}}}},
    },
}

GEO_CANDIDATE = {
    "type": "object",
    "required": ["label", "level", "score", "lon", "lat", "code_insee"],
    "properties": {
        "label": {"type": "string"},
        "level": {"type": "string", "enum": list(GEOCODING_LEVEL_LABELS)},
        "level_label": {"type": "string"},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "lon": _COORD, "lat": _COORD, "code_insee": NULLABLE_STR, "postcode": NULLABLE_STR, "city": NULLABLE_STR,
        "street": NULLABLE_STR, "housenumber": NULLABLE_STR, "id": NULLABLE_STR,
        "source": {"type": "string", "enum": ["local", "ban-api", "communes"]}, "note": NULLABLE_STR,
    },
}

GEOCODE_RESULT = {
    "type": "object",
    "required": ["status", "best", "candidates", "warnings"],
    "properties": {
        "status": {"type": "string", "enum": ["found", "ambiguous", "not_found"],
                   "description": "found : meilleure correspondance dans best ; ambiguous : plusieurs "
                                  "correspondances proches, à choisir ; not_found : adresse non trouvée, "
                                  "candidates contient des suggestions."},
        "message": NULLABLE_STR, "backend": NULLABLE_STR,
        "best": {"oneOf": [{"$ref": "#/components/schemas/GeocodeCandidate"}, {"type": "null"}]},
        "candidates": {"type": "array", "items": {"$ref": "#/components/schemas/GeocodeCandidate"}},
        "warnings": {"type": "array", "items": {"type": "object", "required": ["code", "message"]}},
    },
}

LOOKUP_ANSWER = {
    "type": "object",
    "required": ["point", "as_of", "territory", "kinds", "competent_cmp", "warnings", "dataset"],
    "properties": {
        "point": {"type": "object", "properties": {"lon": _COORD, "lat": _COORD}},
        "as_of": {"type": "string", "format": "date"},
        "filters": {"type": "object"},
        "territory": {"type": "object", "required": ["status", "units"], "properties": {
            "status": {"type": "string", "enum": ["inside", "outside"]},
            "units": {"type": "array", "items": {"type": "object"}}}},
        "kinds": {"type": "array", "items": {"$ref": "#/components/schemas/KindAnswer"}},
        "competent_cmp": {"type": "array", "description": "Le ou les CMP du secteur de psychiatrie qui couvre "
                          "l'adresse (adulte, puis enfants) : c'est là que s'adresser, pas au CMP le plus proche.",
                          "items": {"type": "object", "required": ["age_band", "label", "sector", "site"],
                                    "properties": {
                                        "age_band": {"type": "string", "enum": list(PERSON_AGES)},
                                        "label": {"type": "string"}, "short_label": {"type": "string"},
                                        "sector": {"type": "object"},
                                        "site": {"$ref": "#/components/schemas/Site"}}}},
        "warnings": {"type": "array", "items": {"type": "object", "required": ["code", "message"]}},
        "dataset": {"type": "string", "enum": ["demo", "production"]},
        "confidence": {"type": "object", "description": "Recherche par adresse seulement.",
                       "properties": {"status": {"type": "string", "enum": ["sure", "to_confirm"]},
                                      "reason": NULLABLE_STR, "message": NULLABLE_STR,
                                      "kinds_to_confirm": {"type": "integer"}}},
    },
}


def _ok(schema_ref_or_schema, description="OK"):
    schema = {"$ref": schema_ref_or_schema} if isinstance(schema_ref_or_schema, str) else schema_ref_or_schema
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _problem(description):
    return {"description": description,
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


RETRY_AFTER = {"Retry-After": {"description": "Secondes à attendre avant de réessayer.",
                               "schema": {"type": "integer"}}}


def _with_retry_after(response: dict) -> dict:
    return {**response, "headers": RETRY_AFTER}


def _service_answers(paths: dict) -> dict:
    """What any operation may answer besides its own: 400 for a NUL or unknown parameter, 503
    while the database is unreachable (not /ping nor this document, which do not use it), and
    for the batch 413 (body over MAX_CONTENT_LENGTH) and 429 (points over the client's limit)."""
    for path, operations in paths.items():
        for operation in operations.values():
            responses = operation["responses"]
            responses.setdefault("400", _problem("Paramètre invalide (caractère nul, paramètre inconnu…)"))
            if path not in ("/ping", "/openapi.json"):
                responses["503"] = _with_retry_after(_problem("Base de données momentanément indisponible"))
    batch = paths["/lookup/batch"]["post"]["responses"]
    batch["413"] = _problem("Corps de requête trop volumineux (MAILLAGE_MAX_CONTENT_LENGTH)")
    batch["429"] = _with_retry_after(_problem("Trop de points demandés par ce client (limite par minute)"))
    return paths


def openapi_document() -> dict:
    document = _document()
    _service_answers(document["paths"])
    return document


def _document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Maillage — API v1",
            "version": "1.0.0",
            "description": (
                "Qui couvre cette adresse ? Partenaires santé mentale et logement (CLSM, DAC, secteurs de "
                "psychiatrie, équipes mobiles, logement accompagné…). Les coordonnées recherchées ne sont ni "
                "enregistrées ni journalisées. Données : IGN, INSEE, BAN, FINESS — Licence Ouverte 2.0."
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "paths": {
            "/lookup": {"get": {
                "summary": "Qui couvre ce point ?",
                "description": "Pour chaque type de partenaire : les structures compétentes (avec la partie de zone "
                               "qui correspond), ou une entrée « aucune couverture » ; pour les types à proximité, "
                               "les sites les plus proches dans le rayon.",
                "parameters": [
                    _param("lon", "query", {"type": "number", "minimum": -180, "maximum": 180},
                           "Longitude WGS84 (avec lat, ou bien address).", False, 2.4850),
                    _param("lat", "query", {"type": "number", "minimum": -90, "maximum": 90},
                           "Latitude WGS84.", False, 48.9100),
                    _param("address", "query", {"type": "string", "maxLength": 200},
                           "Adresse à géocoder (au lieu de lon/lat). La réponse contient alors le géocodage et, si "
                           "l'adresse est trouvée, la réponse de couverture avec les points « à confirmer ». "
                           "L'adresse n'est ni conservée ni journalisée.", False, "12 av J. Jaurès Bondy"),
                    *LOOKUP_FILTERS,
                ],
                "responses": {"200": _ok({"oneOf": [
                    {"$ref": "#/components/schemas/LookupAnswer"},
                    {"type": "object", "required": ["geocoding", "lookup"], "properties": {
                        "geocoding": {"$ref": "#/components/schemas/GeocodeResult"},
                        "lookup": {"oneOf": [{"$ref": "#/components/schemas/LookupAnswer"}, {"type": "null"}]}}},
                ]}),
                              "400": _problem("Paramètre invalide (coordonnées, adresse, date, filtre inconnu…)")},
            }},
            "/geocode": {"get": {
                "summary": "Géocodage et autocomplétion d'adresse",
                "description": "Candidats classés (libellé, précision numéro/voie/commune, score 0–1, lon/lat, code "
                               "INSEE) ; adresse ambiguë : plusieurs candidats sans choix ; non trouvée : suggestions. "
                               "Assez rapide pour être appelé à chaque frappe. Rien n'est conservé ni journalisé.",
                "parameters": [
                    _param("q", "query", {"type": "string", "minLength": 1, "maxLength": 200}, "Adresse saisie.",
                           True, "5 rue de l'Égalité 93140"),
                    _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 20}, "Nombre de candidats."),
                    _param("autocomplete", "query", {"type": "integer", "enum": [0, 1]},
                           "1 (défaut) : le dernier mot peut être incomplet."),
                ],
                "responses": {"200": _ok("#/components/schemas/GeocodeResult"),
                              "400": _problem("Adresse vide, trop longue ou illisible")},
            }},
            "/lookup/batch": {"post": {
                "summary": "Plusieurs points en un appel (forme compacte)",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["points"],
                    "properties": {"points": {"type": "array", "items": {"type": "array", "items": _COORD,
                                                                          "minItems": 2, "maxItems": 2}},
                                   "as_of": {"type": "string", "format": "date"}, "age": {"type": "string"},
                                   "landlord": {"type": "string"}, "housing": {"type": "string"},
                                   "kinds": {"type": "array", "items": {"type": "string"}},
                                   "radius": {"type": "integer"}}}}}},
                "responses": {"200": _ok({"type": "object", "required": ["results", "partners"], "properties": {
                    "results": {"type": "array", "items": {"type": "object"}},
                    "partners": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/PartnerCard"}}}}),
                    "400": _problem("Corps invalide ou trop de points")},
            }},
            "/partners": {"get": {
                "summary": "Annuaire des partenaires (paginé)",
                "parameters": [
                    _param("kind", "query", {"type": "string"}, "Type de partenaire.", example="clsm"),
                    _param("territory", "query", {"type": "string"},
                           "Code typé : partenaires dont la zone recoupe ce territoire, ou ayant un site dedans.",
                           example="commune:93010"),
                    _param("q", "query", {"type": "string", "maxLength": 200}, "Texte recherché (nom, description, "
                                                                              "ref, FINESS)."),
                    _param("status", "query", {"type": "string", "enum": list(STATUSES)},
                           "Statut."),
                    _param("page", "query", {"type": "integer", "minimum": 1}, "Page (à partir de 1)."),
                    _param("per_page", "query", {"type": "integer", "minimum": 1, "maximum": 200}, "Taille de page."),
                ],
                "responses": {"200": _ok({"type": "object", "required": ["items", "page", "total"], "properties": {
                    "items": {"type": "array", "items": {"type": "object"}}, "page": {"type": "integer"},
                    "per_page": {"type": "integer"}, "total": {"type": "integer"}, "pages": {"type": "integer"},
                    "next": NULLABLE_STR, "prev": NULLABLE_STR}}),
                    "400": _problem("Filtre invalide"), "404": _problem("Territoire inconnu")},
            }},
            "/partners/{partner_id}": {"get": {
                "summary": "Fiche d'un partenaire, avec sa zone de couverture en GeoJSON",
                "parameters": [
                    _param("partner_id", "path", {"type": "integer"}, "Identifiant.", True),
                    _param("simplify", "query", {"type": "number", "minimum": 0, "maximum": 0.1},
                           "Tolérance de simplification de la zone (degrés), pour l'affichage."),
                ],
                "responses": {"200": _ok({"type": "object", "required": ["id", "name", "coverage", "coverage_parts",
                                                                         "provenance"]}),
                              "400": _problem("Tolérance de simplification hors limites (0 à 0,1 degré)"),
                              "404": _problem("Partenaire inconnu")},
            }},
            "/territories": {"get": {
                "summary": "Territoires par nom ou par code, pour choisir un territoire (meilleurs d'abord)",
                "parameters": [
                    _param("q", "query", {"type": "string", "maxLength": 120}, "Ce que la personne a saisi : "
                           "Seine-Saint-Denis, 93, Est Ensemble, Paris 13e, Bondy, 93140.", True, "Paris 13e"),
                    _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 50}, "Nombre de réponses."),
                ],
                "responses": {"200": _ok({"type": "object", "required": ["results"], "properties": {
                    "results": {"type": "array", "items": {"type": "object", "required": ["code", "level", "name"],
                                                           "properties": {"code": {"type": "string"},
                                                                          "level": {"type": "string"},
                                                                          "name": {"type": "string"},
                                                                          "label": {"type": "string"}}}}}}),
                              "400": _problem("Saisie invalide")},
            }},
            "/territories/{typed_code}": {"get": {
                "summary": "Un territoire du référentiel (commune, arrondissement, IRIS, département, région, EPCI)",
                "parameters": [
                    _param("typed_code", "path", {"type": "string"}, "Code typé, ex. commune:93010, departement:93.",
                           True, "arrondissement:75113"),
                    _param("geometry", "query", {"type": "string", "enum": ["1", "true"]}, "Inclure le contour."),
                ],
                "responses": {"200": _ok({"type": "object", "required": ["code", "level", "name"]}),
                              "400": _problem("Code invalide ou ambigu (un code sans type est refusé)"),
                              "404": _problem("Territoire absent du référentiel")},
            }},
            "/kinds": {"get": {"summary": "Types de partenaires (catalogue)",
                               "responses": {"200": _ok({"type": "object", "properties": {"items": {"type": "array"}}})}}},
            "/landlords": {"get": {"summary": "Bailleurs connus (pour le filtre landlord)",
                                   "responses": {"200": _ok({"type": "object", "properties": {"items": {"type": "array"}}})}}},
            "/vocabularies": {"get": {"summary": "Valeurs autorisées et libellés",
                                      "responses": {"200": _ok({"type": "object"})}}},
            "/status": {"get": {"summary": "État du service et de la base",
                                "responses": {"200": _ok({"type": "object", "required": ["status", "backend", "dataset"]})}}},
            "/ping": {"get": {"summary": "Réponse minimale (sans base), pour la supervision",
                              "responses": {"200": _ok({"type": "object"})}}},
            "/openapi.json": {"get": {"summary": "Ce document", "responses": {"200": _ok({"type": "object"})}}},
        },
        "components": {"schemas": {"Problem": PROBLEM, "PartnerCard": PARTNER_CARD, "Site": SITE,
                                   "KindAnswer": KIND_ANSWER, "LookupAnswer": LOOKUP_ANSWER,
                                   "GeocodeCandidate": GEO_CANDIDATE, "GeocodeResult": GEOCODE_RESULT}},
    }
