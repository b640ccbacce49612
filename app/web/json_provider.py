"""JSON responses encoded with orjson.

A lookup answer is 10–25 KB of JSON (partner cards, contacts, sites): the standard library's
encoder took a sizeable share of the request (docs/PERFORMANCE.md). orjson writes UTF-8 directly
(accents unescaped, as before), dates as ISO 8601, and keeps the keys' order.
"""

from __future__ import annotations

import decimal
from typing import Any

import orjson
from flask.json.provider import JSONProvider

_OPTIONS = orjson.OPT_NON_STR_KEYS  # partner cards keyed by id in the batch answer


def _default(value: Any):
    if isinstance(value, decimal.Decimal):
        return str(value)  # as Flask's default provider: no precision lost
    if hasattr(value, "__html__"):
        return str(value.__html__())
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


class OrjsonProvider(JSONProvider):
    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return self.dumps_bytes(obj).decode()

    def dumps_bytes(self, obj: Any) -> bytes:
        options = _OPTIONS | (orjson.OPT_INDENT_2 if self._app.debug else 0)
        return orjson.dumps(obj, default=_default, option=options)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s)

    def response(self, *args: Any, **kwargs: Any):
        obj = self._prepare_response_obj(args, kwargs)
        return self._app.response_class(self.dumps_bytes(obj), mimetype="application/json")
