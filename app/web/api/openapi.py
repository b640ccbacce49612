"""The OpenAPI 3.1 description of API v1 (served at /api/v1/openapi.json, rendered at /api/docs),
produced from the operations' declarations (app/web/api/contract.py) and their models
(app/web/api/models.py): parameters from the query and path models, the body and every answer as
`#/components/schemas/{model}` from pydantic's JSON Schema, the examples from the models, and the
answers every operation shares (400, 503; 413 and 429 on the batch) added by `_service_answers`.

The allowed values come with the models: `housing`, `age`, statuses from app/vocabulary.py, the
kinds from the catalogue every database is loaded with (geodata/kinds.csv), the problem codes from
app/errors.py. tests/test_openapi.py checks the document is valid and made from the models;
tests/test_contract.py holds real answers to the models; tests/test_schemathesis.py holds the
application to the document.
"""

from __future__ import annotations

import copy
import functools

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from app.web.api import models as m

REF = "#/components/schemas/{model}"


def _problem(description: str) -> dict:
    return {"description": description, "content": {"application/problem+json": {
        "schema": {"$ref": REF.format(model="Problem")}}}}


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
    """A fresh copy each call (callers may change it)."""
    return copy.deepcopy(_document())


def _answer_models(answer) -> tuple[type[BaseModel], ...]:
    return answer if isinstance(answer, tuple) else (answer,)


@functools.lru_cache(maxsize=1)
def _document() -> dict:
    from app.web.api.contract import OPERATIONS

    models = {m.Problem}
    for op in OPERATIONS:
        models |= {model for answer in op.answers.values() for model in _answer_models(answer)}
        if op.body is not None:
            models.add(op.body)
    _, top = models_json_schema([(model, "validation") for model in sorted(models, key=lambda x: x.__name__)],
                                ref_template=REF)
    schemas = top["$defs"]
    paths: dict = {}
    for op in OPERATIONS:
        paths.setdefault(op.openapi_path, {})[op.method.lower()] = _operation(op)
    _service_answers(paths)
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
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _operation(op) -> dict:
    out: dict = {"operationId": op.endpoint, "summary": op.summary}
    if op.description:
        out["description"] = op.description
    parameters = [*(_parameters(op.path, "path") if op.path else []), *_parameters(op.query, "query")]
    if parameters:
        out["parameters"] = parameters
    if op.body is not None:
        out["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": REF.format(model=op.body.__name__)}, "example": _example(op.body)}}}
    responses = {str(status): _answer(answer) for status, answer in op.answers.items()}
    responses.update({str(status): _problem(description) for status, description in op.problems.items()})
    out["responses"] = responses
    return out


def _answer(answer) -> dict:
    models = _answer_models(answer)
    refs = [{"$ref": REF.format(model=model.__name__)} for model in models]
    content = {"schema": refs[0] if len(refs) == 1 else {"anyOf": refs}, "example": _example(models[0])}
    return {"description": " Ou : ".join(_summary(model) for model in models), "content": {"application/json": content}}


def _summary(model: type[BaseModel]) -> str:
    """The answer said in a sentence: its model's docstring's first paragraph (French)."""
    return " ".join((model.__doc__ or "Réponse.").strip().split("\n\n")[0].split())


def _example(model: type[BaseModel]):
    examples = (model.model_config.get("json_schema_extra") or {}).get("examples") or [None]
    return examples[0]


def _parameters(model: type[BaseModel], where: str) -> list[dict]:
    """One parameter per field of a request model, its schema from pydantic's (an optional field's
    null left out: a query parameter is absent, not null)."""
    schema = model.model_json_schema(ref_template=REF)
    required = set(schema.get("required", []))
    out = []
    own = list(model.__dict__.get("__annotations__", {}))  # a model's own fields before those it inherits (lon, lat first)
    properties = schema.get("properties", {})
    for name in sorted(properties, key=lambda n: (n not in own, own.index(n) if n in own else 0)):
        prop = properties[name]
        prop = _without_null(prop)
        description = prop.pop("description", "")
        examples = prop.pop("examples", None)
        prop.pop("title", None)
        parameter = {"name": name, "in": where, "required": where == "path" or name in required, "schema": prop,
                     "description": description}
        if prop.get("type") == "array":  # kinds=clsm,dac
            parameter.update(style="form", explode=False)
        if examples:
            parameter["example"] = examples[0]
        out.append(parameter)
    return out


def _without_null(prop: dict) -> dict:
    prop = dict(prop)
    if prop.get("default", ...) is None:
        del prop["default"]
    branches = prop.get("anyOf")
    if branches and any(b.get("type") == "null" for b in branches):
        kept = [b for b in branches if b.get("type") != "null"]
        del prop["anyOf"]
        if len(kept) == 1:
            prop = {**kept[0], **prop}
        else:
            prop["anyOf"] = kept
    return prop
