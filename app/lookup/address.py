"""Lookup by address: geocode, then answer for the position, flagging what the position's
precision cannot settle.

- match at the house number: answers are flagged when a coverage boundary passes within
  BOUNDARY_DISTANCE_M of the point (the BAN point may sit on the wrong side of it);
- match at the street: the whole street (its BAN addresses, widened by that distance) may be the
  address, so every territorial answer that changes along the street is flagged;
- match at the commune: the whole commune.

No Flask here; a looked-up address is neither stored nor logged.
"""

from __future__ import annotations

import shapely
from shapely import wkb
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.geocoding import Geocoder
from app.geocoding.base import Candidate
from app.geometry import buffer_m
from app.lookup import Options, Uncertainty, lookup

STREET_WITHOUT_EXTENT_M = 300  # a remote geocoder's street match: how far the address may be


def uncertainty_for(session: Session, candidate: Candidate, boundary_m: int) -> Uncertainty:
    if candidate.level == "housenumber":
        region = buffer_m(shapely.Point(candidate.lon, candidate.lat), boundary_m)
        return Uncertainty(region, "near-boundary",
                           f"l'adresse est à moins de {boundary_m} m d'une limite de secteur ou de zone ; "
                           "vérifier auprès des structures")
    if candidate.level == "street":
        if candidate.extent:
            region = buffer_m(shapely.MultiPoint(candidate.extent), boundary_m)
        else:
            region = buffer_m(shapely.Point(candidate.lon, candidate.lat), STREET_WITHOUT_EXTENT_M)
        return Uncertainty(region, "approximate-match",
                           "adresse trouvée à la voie seulement (numéro inconnu) : la couverture change le long de "
                           "cette voie ; préciser le numéro")
    region, scope = None, "local"
    if candidate.code_insee:
        row = session.execute(text(
            "SELECT ST_AsBinary(geom) FROM territory WHERE code = :code AND level IN ('commune', 'arrondissement') "
            "ORDER BY level"), {"code": candidate.code_insee}).first()
        if row:
            region, scope = wkb.loads(bytes(row[0])), "commune"
    if region is None:
        region = buffer_m(shapely.Point(candidate.lon, candidate.lat), 2000)
    return Uncertainty(region, "approximate-match",
                       "adresse trouvée à la commune seulement : la couverture varie dans la commune ; "
                       "préciser la voie et le numéro", scope)


def lookup_address(session: Session, geocoder: Geocoder, address, options: Options, *, boundary_m: int = 50) -> dict:
    """{"geocoding": …, "lookup": answer or None}. No answer unless the address is found: an
    ambiguous or unknown address returns its candidates for the person to choose."""
    result = geocoder.search(session, address, limit=5)
    out = {"geocoding": result.as_dict(), "lookup": None}
    best = result.best
    if best is not None:
        uncertainty = uncertainty_for(session, best, boundary_m)
        out["lookup"] = lookup(session, best.lon, best.lat, options, uncertainty=uncertainty)
    return out
