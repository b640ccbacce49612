"""The API's operations declared once: `operation` registers a route together with its models
(app/web/api/models.py) — query parameters, path parameters, JSON body, answers by status — and
its summary. The same declaration

- validates the request before the view runs: pydantic's refusal becomes an InvalidInput with the
  field's stable code and French message (the field's `Refusal`), so the problem details are
  app/web/errors.py's as for any other refusal, never pydantic's own 422;
- produces the OpenAPI document (app/web/api/openapi.py walks `OPERATIONS`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from flask import Blueprint, request
from pydantic import BaseModel, ValidationError

from app.errors import InvalidInput
from app.web.api.models import DEFAULT_REFUSAL, Refusal


@dataclass
class Operation:
    method: str
    rule: str  # Flask's, e.g. /partners/<int:partner_id>
    endpoint: str
    summary: str
    description: str | None
    query: type[BaseModel]
    path: type[BaseModel] | None
    body: type[BaseModel] | None
    answers: dict[int, type[BaseModel] | tuple[type[BaseModel], ...]]
    problems: dict[int, str] = field(default_factory=dict)  # status → when (French)

    @property
    def openapi_path(self) -> str:
        return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", self.rule)


OPERATIONS: list[Operation] = []


def operation(bp: Blueprint, method: str, rule: str, *, summary: str, answers: dict, query: type[BaseModel],
              description: str | None = None, path: type[BaseModel] | None = None,
              body: type[BaseModel] | None = None, problems: dict[int, str] | None = None):
    """Register the view on `bp` for `method rule`, its request checked against the models: the
    view receives the validated `query` (and `body`) models as keyword arguments."""

    def register(view):
        op = Operation(method.upper(), rule, view.__name__, summary, description, query, path, body, answers,
                       problems or {})

        @functools.wraps(view)
        def checked(**path_values):
            if path is not None:
                validate(path, path_values)
            extra = {"query": validate(query, single_values())}
            if body is not None:
                from app.web import state

                extra["body"] = validate(body, json_body(), context={"max_points": state().settings.MAX_BATCH_POINTS})
            return view(**path_values, **extra)

        bp.add_url_rule(rule, endpoint=view.__name__, view_func=checked, methods=[op.method])
        OPERATIONS.append(op)
        return checked

    return register


def single_values() -> dict[str, str]:
    """The query string, each parameter once: a parameter given twice (`lon=1&lon=2`) is refused,
    never reduced to one of its values without saying so."""
    repeated = sorted(k for k in request.args if len(request.args.getlist(k)) > 1)
    if repeated:
        name = repeated[0][:40]
        raise InvalidInput(f"Paramètre « {name} » donné plusieurs fois : le donner une seule fois "
                           "(plusieurs types : les séparer par des virgules).", field=name)
    return request.args.to_dict()


def validate(model: type[BaseModel], data, *, context: dict | None = None) -> BaseModel:
    """`data` checked into `model`, or the InvalidInput a person reads (the first fault found)."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise refusal(model, exc) from None


def refusal(model: type[BaseModel], exc: ValidationError) -> InvalidInput:
    """pydantic's refusal as our problem: unknown parameters first, then the first faulty field,
    told by its `Refusal` (its code and French message)."""
    errors = exc.errors(include_url=False, include_context=True)
    unknown = [str(e["loc"][0])[:40] for e in errors if e["type"] == "extra_forbidden"]
    if unknown:
        from app.french import agree

        return InvalidInput(f"{agree(len(unknown), 'Paramètre inconnu', 'Paramètres inconnus')} : "
                            f"{', '.join(unknown[:5])}.", field=unknown[0])
    error = errors[0]
    loc = error["loc"]
    if not loc:  # the body itself is not an object
        told = getattr(model, "refusal", DEFAULT_REFUSAL)
        code, message = told.told(error["type"])
        return InvalidInput(message, code=code)
    name = str(loc[0])
    told, where, rank = field_refusal(model, name), name, None
    if len(loc) > 1 and isinstance(loc[1], int) and told.item is not None:
        told, where, rank = told.item, f"{name}[{loc[1]}]", loc[1] + 1
    code, message = told.told(error["type"])
    value = error.get("input")
    bounds = error.get("ctx") or {}
    values = {"name": name, "value": _short(value), "n": rank, **_bounds(model, name, value, bounds)}
    return InvalidInput(_fill(message, values), code=code, field=where)


def _fill(message: str, values: dict) -> str:
    """The message's {name}-like places filled (not str.format: a message may quote JSON)."""
    for key, value in values.items():
        message = message.replace("{" + key + "}", str(value))
    return message


def field_refusal(model: type[BaseModel], name: str) -> Refusal:
    info = model.model_fields.get(name)
    return next((m for m in (info.metadata if info else ()) if isinstance(m, Refusal)), DEFAULT_REFUSAL)


def _bounds(model: type[BaseModel], name: str, value, ctx: dict) -> dict:
    """{low}, {high} and {hint} for a message about a value out of its field's bounds."""
    info = model.model_fields.get(name)
    low = next((m.ge for m in (info.metadata if info else ()) if getattr(m, "ge", None) is not None), ctx.get("ge"))
    high = next((m.le for m in (info.metadata if info else ()) if getattr(m, "le", None) is not None), ctx.get("le"))
    from app.web.api.models import LAMBERT_HINT

    big = isinstance(value, (int, float, str)) and _magnitude(value) > 1000
    return {"low": low, "high": high, "hint": LAMBERT_HINT if big else ""}


def _magnitude(value) -> float:
    try:
        return abs(float(value))
    except (TypeError, ValueError):
        return 0.0


def _short(value, limit: int = 40) -> str:
    """What was sent, as sent: text as is, anything else as JSON (true, {"x": 1})."""
    import json

    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + "…"


def json_body():
    """The request's JSON body, or None when it is not JSON. Never more than MAX_CONTENT_LENGTH
    bytes are read: a body declared larger was refused before (app/web/__init__.py), and one sent
    without a length (chunked) is refused as soon as it passes the limit."""
    import orjson
    from werkzeug.exceptions import RequestEntityTooLarge

    from app.web import state

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
