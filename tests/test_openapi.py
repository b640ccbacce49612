"""The OpenAPI document is valid and describes every API route."""

import re

from openapi_spec_validator import validate

from app.web.api.openapi import openapi_document


def test_document_is_valid_openapi_3_1():
    validate(openapi_document())


def test_every_api_route_is_documented_and_nothing_else(demo_app):
    documented = {(path, method.upper()) for path, ops in openapi_document()["paths"].items() for method in ops}
    routes = set()
    for rule in demo_app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((path, method))
    assert routes == documented


def test_docs_page_lists_endpoints_and_problem_codes(client):
    page = client.get("/api/docs").get_data(as_text=True)
    assert "/api/v1/lookup" in page and "/api/v1/territories/{typed_code}" in page
    assert 'id="probleme-ambiguous-territory-code"' in page
    assert "Base de démonstration" in page
    # the allowed values, without JavaScript too: housing, age, kinds
    assert "<code>parc_social</code>" in page and "<code>enfant</code>" in page and "<code>cellule_sante_mentale_bailleur</code>" in page
    assert "Ex. : <code>clsm,secteur_psy_adulte</code>" in page
