"""The API contract declared once (app/web/api/models.py, app/web/api/contract.py): real answers of
every operation hold to their models on both backends, with nothing the models do not declare; the
OpenAPI document is the models' (parameters, bodies, answers, examples, allowed values)."""

import json

import pytest
from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema

from app.web.api import models as m
from app.web.api.contract import OPERATIONS
from app.web.api.openapi import REF, openapi_document
from app.vocabulary import HOUSING_TYPES, PERSON_AGES, STATUSES
from tests.points import BONDY_NORD, LYON, PARIS_13

# One or more real requests per operation, each with the status it answers.
REQUESTS = [
    ("lookup_point", "get", f"/api/v1/lookup?lon={PARIS_13[0]}&lat={PARIS_13[1]}&as_of=2026-12-01", None),
    ("lookup_point", "get", f"/api/v1/lookup?lon={BONDY_NORD[0]}&lat={BONDY_NORD[1]}&landlord=logis-demo&age=adulte"
                            "&housing=parc_social", None),
    ("lookup_point", "get", f"/api/v1/lookup?lon={LYON[0]}&lat={LYON[1]}", None),
    ("lookup_point", "get", "/api/v1/lookup?address=Bondy&kinds=clsm,secteur_psy_adulte,cmp", None),
    ("lookup_point", "get", "/api/v1/lookup?address=zzzz%20qqqq", None),
    ("geocode", "get", "/api/v1/geocode?q=Bondy&autocomplete=0", None),
    ("lookup_batch", "post", "/api/v1/lookup/batch",
     {"points": [list(BONDY_NORD), list(PARIS_13), list(LYON)], "as_of": "2026-12-01"}),
    ("list_kinds", "get", "/api/v1/kinds", None),
    ("list_landlords", "get", "/api/v1/landlords", None),
    ("vocabularies", "get", "/api/v1/vocabularies", None),
    ("list_partners", "get", "/api/v1/partners?kind=clsm&per_page=3&page=2", None),
    ("list_partners", "get", "/api/v1/partners?status=closed", None),
    ("get_partner", "get", "/api/v1/partners/1?simplify=0.001", None),
    ("get_partner", "get", "/api/v1/partners/2", None),
    ("search_territories", "get", "/api/v1/territories?q=Paris%2013e", None),
    ("get_territory", "get", "/api/v1/territories/commune:93010", None),
    ("get_territory", "get", "/api/v1/territories/arrondissement:75113?geometry=1", None),
    ("get_territory", "get", "/api/v1/territories/departement:93", None),
    ("status", "get", "/api/v1/status", None),
    ("ping", "get", "/api/v1/ping", None),
    ("openapi", "get", "/api/v1/openapi.json", None),
]

BY_ENDPOINT = {op.endpoint: op for op in OPERATIONS}


def answer_adapter(answer) -> TypeAdapter:
    models = answer if isinstance(answer, tuple) else (answer,)
    union = models[0]
    for model in models[1:]:
        union = union | model
    return TypeAdapter(union)


def undeclared(value, where="") -> list[str]:
    """Fields of a validated answer that no model declares (extra="allow" keeps them aside)."""
    if isinstance(value, BaseModel):
        found = [f"{where}.{key}" for key in (value.model_extra or {})]
        for name in type(value).model_fields:
            found += undeclared(getattr(value, name), f"{where}.{name}")
        return found
    if isinstance(value, (list, tuple)):
        return [f for item in value for f in undeclared(item, f"{where}[]")]
    if isinstance(value, dict):
        return [f for key, item in value.items() for f in undeclared(item, f"{where}.{key}")]
    return []


def test_every_operation_is_exercised():
    assert {endpoint for endpoint, *_ in REQUESTS} == set(BY_ENDPOINT)


@pytest.mark.parametrize("endpoint,method,url,body", REQUESTS, ids=[r[2][:70] for r in REQUESTS])
def test_real_answers_hold_to_their_models(client, endpoint, method, url, body):
    response = client.post(url, json=body) if method == "post" else client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    answer = answer_adapter(BY_ENDPOINT[endpoint].answers[200]).validate_python(response.get_json())
    assert undeclared(answer) == []


def test_an_address_answer_is_the_address_model_and_a_point_answer_the_point_model(client):
    by_address = answer_adapter(BY_ENDPOINT["lookup_point"].answers[200]).validate_python(
        client.get("/api/v1/lookup?address=Bondy").get_json())
    by_point = answer_adapter(BY_ENDPOINT["lookup_point"].answers[200]).validate_python(
        client.get(f"/api/v1/lookup?lon={BONDY_NORD[0]}&lat={BONDY_NORD[1]}").get_json())
    assert isinstance(by_address, m.AddressLookupAnswer) and isinstance(by_point, m.LookupAnswer)
    assert by_address.lookup.confidence is not None and by_point.confidence is None


@pytest.mark.parametrize("method,url,body,status", [
    ("get", "/api/v1/lookup?lon=2.4&lat=abc", None, 400),
    ("get", "/api/v1/partners/999999", None, 404),
    ("post", "/api/v1/lookup/batch", {"points": [[True, True]]}, 400),
    ("get", "/api/v1/kinds?x=1", None, 400),
    ("delete", "/api/v1/kinds", None, 405),
])
def test_problems_hold_to_the_problem_model(client, method, url, body, status):
    response = client.open(url, method=method.upper(), json=body)
    assert response.status_code == status and response.mimetype == "application/problem+json"
    problem = m.Problem.model_validate(response.get_json())
    assert undeclared(problem) == []


def test_the_document_is_produced_from_the_models():
    document = openapi_document()
    models = {m.Problem, *(model for op in OPERATIONS for answer in op.answers.values()
                           for model in (answer if isinstance(answer, tuple) else (answer,))),
              *(op.body for op in OPERATIONS if op.body)}
    _, top = models_json_schema([(model, "validation") for model in models], ref_template=REF)
    assert document["components"]["schemas"] == top["$defs"]
    for op in OPERATIONS:
        published = document["paths"][op.openapi_path][op.method.lower()]
        answer = op.answers[200]
        names = [model.__name__ for model in (answer if isinstance(answer, tuple) else (answer,))]
        schema = published["responses"]["200"]["content"]["application/json"]["schema"]
        refs = [s["$ref"] for s in schema.get("anyOf", [schema])]
        assert refs == [f"#/components/schemas/{name}" for name in names], op.endpoint
        declared = [*(op.path.model_fields if op.path else []), *op.query.model_fields]
        assert sorted(p["name"] for p in published.get("parameters", [])) == sorted(declared), op.endpoint
        if op.body is not None:
            assert published["requestBody"]["content"]["application/json"]["schema"] == {
                "$ref": f"#/components/schemas/{op.body.__name__}"}


def test_every_operation_has_examples_that_hold_to_its_models():
    document = openapi_document()
    for op in OPERATIONS:
        published = document["paths"][op.openapi_path][op.method.lower()]
        for parameter in published.get("parameters", []):
            assert "example" in parameter, (op.endpoint, parameter["name"])
        assert "Réponse." not in published["responses"]["200"]["description"], op.endpoint  # said by its model
        example = published["responses"]["200"]["content"]["application/json"]["example"]
        assert example, op.endpoint
        answer_adapter(op.answers[200]).validate_python(example)
        if op.body is not None:
            op.body.model_validate(published["requestBody"]["content"]["application/json"]["example"],
                                   context={"max_points": 10})
    problem = document["components"]["schemas"]["Problem"]["examples"][0]
    m.Problem.model_validate(problem)


def test_the_document_shows_the_allowed_values(demo_engine):
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from app.models import Kind

    document = openapi_document()
    lookup = {p["name"]: p["schema"] for p in document["paths"]["/lookup"]["get"]["parameters"]}
    assert lookup["housing"]["enum"] == list(HOUSING_TYPES)
    assert lookup["age"]["enum"] == list(PERSON_AGES)
    with Session(demo_engine) as session:
        codes = set(session.scalars(select(Kind.code)))
    assert set(lookup["kinds"]["items"]["enum"]) == codes  # the catalogue the database was loaded with
    partners = {p["name"]: p["schema"] for p in document["paths"]["/partners"]["get"]["parameters"]}
    assert partners["status"]["enum"] == list(STATUSES) and set(partners["kind"]["enum"]) == codes
    batch = document["components"]["schemas"]["BatchBody"]["properties"]
    assert set(next(b for b in batch["kinds"]["anyOf"] if b["type"] == "array")["items"]["enum"]) == codes
    assert "null" not in json.dumps([p["schema"] for p in document["paths"]["/lookup"]["get"]["parameters"]])


@pytest.mark.parametrize("points", [[[True, True]], [["2.48", "48.91"]], [[2.48, "48.91"]], [[None, 48.91]]])
def test_strict_types_in_the_body_come_from_the_model(points):
    from app.errors import InvalidInput
    from app.web.api.contract import validate

    with pytest.raises(InvalidInput) as refused:
        validate(m.BatchBody, {"points": points})
    assert refused.value.code == "invalid-coordinates" and refused.value.field == "points[0]"
    assert validate(m.BatchBody, {"points": [[2, 48.91]]}).points == [[2.0, 48.91]]


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.endpoint)
def test_every_operation_refuses_an_unknown_parameter(client, op):
    from tests.test_api import problem

    url = "/api/v1" + op.openapi_path.format(partner_id=1, typed_code="commune:93010") + "?inconnu=1"
    response = client.open(url, method=op.method, json={"points": [[2.48, 48.91]]} if op.body else None)
    body = problem(response, 400, "invalid-input")
    assert body["invalid_params"][0]["name"] == "inconnu" and body["detail"] == "Paramètre inconnu : inconnu."


@pytest.mark.parametrize("query", ["lon=2.48&lon=2.49&lat=48.91", "lon=2.48&lat=48.91&kinds=clsm&kinds=dac"])
def test_a_parameter_given_twice_is_refused_not_reduced_to_one_value(client, query):
    from tests.test_api import problem

    body = problem(client.get(f"/api/v1/lookup?{query}"), 400, "invalid-input")
    name = "lon" if query.count("lon=") > 1 else "kinds"
    assert body["invalid_params"][0]["name"] == name and "donné plusieurs fois" in body["detail"]
    assert client.get("/api/v1/lookup?lon=2.48&lat=48.91&kinds=clsm,dac").status_code == 200


def test_an_unknown_field_of_the_batch_body_is_refused(client):
    from tests.test_api import problem

    body = problem(client.post("/api/v1/lookup/batch", json={"points": [[2.48, 48.91]], "point": [2.48, 48.91]}),
                   400, "invalid-input")
    assert body["invalid_params"][0]["name"] == "point" and "inconnu" in body["detail"]
