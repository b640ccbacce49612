"""Domain errors and the one error registry.

Each error carries a stable machine code and a French message for people. `ERRORS` says, for
every code, the HTTP status and the French title of its problem details (RFC 9457): the API builds
its responses from it, the OpenAPI document publishes its codes, the API docs page lists them, and
tests/test_architecture.py checks that every code raised anywhere is registered and that nothing
registered is never raised. The CLI prints the message; importers collect them per row. No Flask
here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorCode:
    status: int  # HTTP status of the problem details
    title: str  # French, short: the problem's `title`


ERRORS: dict[str, ErrorCode] = {
    # a request's or a file's input
    "invalid-input": ErrorCode(400, "Paramètre invalide"),
    "invalid-body": ErrorCode(400, "Corps de requête invalide"),
    "invalid-coordinates": ErrorCode(400, "Coordonnées invalides"),
    "invalid-geometry": ErrorCode(400, "Géométrie invalide"),
    "invalid-date": ErrorCode(400, "Date invalide"),
    "invalid-age": ErrorCode(400, "Tranche d'âge invalide"),
    "invalid-level": ErrorCode(400, "Niveau d'analyse invalide"),
    "invalid-housing": ErrorCode(400, "Type de logement invalide"),
    "invalid-radius": ErrorCode(400, "Rayon invalide"),
    "invalid-pagination": ErrorCode(400, "Pagination invalide"),
    "invalid-status": ErrorCode(400, "Statut invalide"),
    "too-many-points": ErrorCode(400, "Trop de points"),
    "invalid-territory-code": ErrorCode(400, "Code de territoire invalide"),
    "ambiguous-territory-code": ErrorCode(400, "Code de territoire ambigu"),
    "unknown-kind": ErrorCode(400, "Type de partenaire inconnu"),
    "not-territorial": ErrorCode(400, "Type sans zone de compétence"),
    "not-proximity": ErrorCode(400, "Type sans sites à proximité"),
    "territory-too-large": ErrorCode(400, "Territoire trop grand pour une carte"),
    "unknown-landlord": ErrorCode(400, "Bailleur inconnu"),
    # addresses (app.geocoding)
    "empty-address": ErrorCode(400, "Adresse vide"),
    "address-too-long": ErrorCode(400, "Adresse trop longue"),
    "invalid-address": ErrorCode(400, "Adresse illisible"),
    # what the loaded data cannot answer
    "unknown-territory": ErrorCode(404, "Territoire inconnu"),
    "no-iris": ErrorCode(400, "Aucun IRIS chargé"),
    "no-population": ErrorCode(400, "Populations non chargées"),
    "not-found": ErrorCode(404, "Ressource introuvable"),
    # imports and exports
    "invalid-record": ErrorCode(400, "Partenaire invalide"),
    "import-rejected": ErrorCode(422, "Import refusé"),
    "invalid-export": ErrorCode(400, "Export refusé"),
    # the service's own limits
    "jobs-busy": ErrorCode(503, "Service occupé"),
    "database-unavailable": ErrorCode(503, "Base de données indisponible"),
    "rate-limited": ErrorCode(429, "Trop de requêtes"),
    # address files to annotate (app.annotate)
    "invalid-file": ErrorCode(400, "Fichier illisible"),
    "missing-column": ErrorCode(400, "Colonne manquante"),
    "too-many-rows": ErrorCode(400, "Fichier trop long"),
    "file-too-large": ErrorCode(413, "Fichier trop volumineux"),
    # HTTP itself
    "payload-too-large": ErrorCode(413, "Requête trop volumineuse"),
    "method-not-allowed": ErrorCode(405, "Méthode non autorisée"),
    "internal-error": ErrorCode(500, "Erreur interne"),
}


class MaillageError(Exception):
    code = "invalid-input"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None,
                 extra: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.field = field
        self.extra = extra or {}

    @property
    def status(self) -> int:
        """The HTTP status of this error's code (ERRORS)."""
        return ERRORS[self.code].status


class InvalidInput(MaillageError):
    code = "invalid-input"


class NotFound(MaillageError):
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
