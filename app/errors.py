"""Domain errors. Each carries a stable machine code and a French message for people.

The API turns them into RFC 9457 problem details; the CLI prints the message; importers collect
them per row. No Flask here.
"""

from __future__ import annotations


class MaillageError(Exception):
    status = 400
    code = "invalid-input"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None,
                 status: int | None = None, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.field = field
        self.extra = extra or {}


class InvalidInput(MaillageError):
    status = 400
    code = "invalid-input"


class NotFound(MaillageError):
    status = 404
    code = "not-found"


class TerritoryCodeError(InvalidInput):
    code = "invalid-territory-code"


class UnknownTerritory(NotFound):
    code = "unknown-territory"


class GeometryError(InvalidInput):
    code = "invalid-geometry"


def reject_nul(values: dict) -> None:
    """NUL bytes cannot be stored or compared in PostgreSQL text: refuse them up front."""
    for name, value in values.items():
        if isinstance(value, str) and "\x00" in value:
            raise InvalidInput(f"Caractère nul interdit dans « {name} ».", field=name)
