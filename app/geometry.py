"""Shapely helpers shared by importers, coverage compilation and the API (backend-neutral)."""

from __future__ import annotations

import math

import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry

from app.errors import GeometryError

WGS84_BOUNDS = (-180.0, -90.0, 180.0, 90.0)


def check_lon_lat(lon: float, lat: float, *, field: str = "lon/lat") -> tuple[float, float]:
    """Reject NaN, infinities and out-of-range coordinates with a message a person understands."""
    try:
        lon, lat = float(lon), float(lat)
    except (TypeError, ValueError) as exc:
        raise GeometryError("Les coordonnées doivent être des nombres décimaux (ex. lon=2.48, lat=48.90).",
                            code="invalid-coordinates", field=field) from exc
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise GeometryError("Coordonnées non finies (NaN ou infini).", code="invalid-coordinates", field=field)
    if not (-180 <= lon <= 180) or not (-90 <= lat <= 90):
        hint = ""
        if abs(lon) > 1000 or abs(lat) > 1000:
            hint = " Ces valeurs ressemblent à des coordonnées projetées (Lambert-93 ?) : fournir des degrés WGS84."
        raise GeometryError(
            f"Coordonnées hors limites : lon doit être entre -180 et 180, lat entre -90 et 90 "
            f"(reçu lon={lon}, lat={lat}).{hint}",
            code="invalid-coordinates", field=field,
        )
    return lon, lat


def as_multipolygon(geom: BaseGeometry | None, *, what: str = "géométrie") -> MultiPolygon:
    """Repair (make_valid) and keep the polygonal part; reject what cannot be an area."""
    if geom is None or geom.is_empty:
        raise GeometryError(f"{what} vide")
    if geom.has_z:
        geom = shapely.force_2d(geom)
    minx, miny, maxx, maxy = geom.bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise GeometryError(
            f"{what} hors des limites WGS84 (emprise {minx:.0f}, {miny:.0f}, {maxx:.0f}, {maxy:.0f}) : "
            "le fichier est-il en Lambert-93 sans système de coordonnées déclaré ?"
        )
    if not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        repaired = shapely.make_valid(geom)
        polygons = _polygons(repaired)
        if not polygons:
            raise GeometryError(f"{what} invalide et irréparable ({reason})")
        geom = MultiPolygon(polygons)
    polygons = _polygons(geom)
    if not polygons:
        raise GeometryError(f"{what} n'est pas une surface (type {geom.geom_type})")
    result = MultiPolygon(polygons)
    if result.area == 0:
        raise GeometryError(f"{what} de surface nulle")
    return result


def _polygons(geom: BaseGeometry) -> list[Polygon]:
    if isinstance(geom, Polygon):
        return [geom] if not geom.is_empty else []
    if isinstance(geom, MultiPolygon):
        return [p for p in geom.geoms if not p.is_empty]
    if hasattr(geom, "geoms"):
        out: list[Polygon] = []
        for part in geom.geoms:
            out.extend(_polygons(part))
        return out
    return []


def union(geoms: list[BaseGeometry]) -> BaseGeometry:
    if not geoms:
        return MultiPolygon()
    if len(geoms) == 1:
        return geoms[0]
    return shapely.union_all(geoms)


def from_geojson(obj: dict, *, what: str = "géométrie") -> MultiPolygon:
    try:
        geom = shape(obj)
    except Exception as exc:  # shapely raises several types for malformed GeoJSON
        raise GeometryError(f"{what} : GeoJSON illisible ({exc})") from exc
    return as_multipolygon(geom, what=what)


def to_geojson(geom: BaseGeometry | None) -> dict | None:
    return None if geom is None else mapping(geom)


def area_km2(geom: BaseGeometry) -> float:
    """Area on the ellipsoid (pyproj.Geod), so it is right at any latitude."""
    from pyproj import Geod

    if geom.is_empty:
        return 0.0
    area, _ = Geod(ellps="WGS84").geometry_area_perimeter(geom)
    return abs(area) / 1e6


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    r = 6371008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dphi = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def haversine_m_array(lon1, lat1, lon2, lat2):
    """Vectorised haversine (numpy arrays in, metres out); same formula as haversine_m."""
    import numpy as np

    r = 6371008.8
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * r * np.arcsin(np.sqrt(a))


def degree_box(lon: float, lat: float, radius_m: float) -> tuple[float, float, float, float]:
    """A lon/lat box that contains the circle of radius_m around the point."""
    dlat = radius_m / 111_132.0
    dlon = radius_m / (111_320.0 * max(math.cos(math.radians(lat)), 0.01))
    return lon - dlon, lat - dlat, lon + dlon, lat + dlat


def buffer_m(geom: BaseGeometry, distance_m: float) -> BaseGeometry:
    """Buffer a WGS84 geometry by metres: a local equirectangular projection around the geometry's
    centroid (the same scale factors as degree_box), accurate for distances of a few kilometres."""
    center = geom.centroid
    kx = 111_320.0 * max(math.cos(math.radians(center.y)), 0.01)
    ky = 111_132.0
    local = shapely.transform(geom, lambda xy: (xy - [center.x, center.y]) * [kx, ky])
    return shapely.transform(local.buffer(distance_m, quad_segs=8), lambda xy: xy / [kx, ky] + [center.x, center.y])
