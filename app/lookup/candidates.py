"""The candidates query: which territories, coverage areas and proximity sites meet a point (one
indexed round trip, `point_statement`, refined on cached shapes) or many points (one indexed box query
per table, then an in-memory STRtree join)."""

from __future__ import annotations

import numpy as np
import shapely
from sqlalchemy import Float, Integer, String, bindparam, cast, func, literal_column, null, select, union_all
from sqlalchemy.orm import Session

from app import db, dialects
from app.geometry import degree_box, haversine_m, haversine_m_array
from app.lookup.cache import REFERENCES, Reference, cached_shapes, defaults_for, reference
from app.lookup.facts import Candidates, KindInfo
from app.lookup.options import Options
from app.lookup.rules import Defaults, max_radius
from app.models import CoverageArea, Kind, Meta, Site, Territory
from app.partners.kinds import proximity_sites
from app.territories import UnitAtPoint


# The parameters of the single lookup's statements: they run on the driver's cursor with a dict
# of these (dialects.fetch_all).
LON, LAT = bindparam("lon", type_=Float), bindparam("lat", type_=Float)
MINX, MINY, MAXX, MAXY = (bindparam(n, type_=Float) for n in ("minx", "miny", "maxx", "maxy"))
KX, KY = bindparam("kx", type_=Float), bindparam("ky", type_=Float)
RADIUS = bindparam("radius", type_=Integer)
DEFAULT_RADIUS = bindparam("default_radius", type_=Integer)

# Sites of proximity kinds near the point: the index finds those in the widest kind's box
# (MINX…MAXY); each kind's own box (its radius, or the request's RADIUS, or DEFAULT_RADIUS; KX/KY
# metres per degree) leaves out the rows it could not use.
_KIND_RADIUS = func.coalesce(RADIUS, Kind.radius_m, DEFAULT_RADIUS)
_SITES_NEAR = (dialects.box_meets(Site.geom, MINX, MINY, MAXX, MAXY),
               func.abs(func.ST_X(Site.geom) - LON) * KX <= _KIND_RADIUS,
               func.abs(func.ST_Y(Site.geom) - LAT) * KY <= _KIND_RADIUS)

# The columns of the single lookup's one statement: four kinds of rows told apart by `tag`, each
# filling its own columns (`_row`).
POINT_COLUMNS = ("tag", "version", "id", "partner_id", "x", "y",
                 "level", "code", "name", "parent_code", "departement", "region", "epci", "ept")
_AT = {name: position for position, name in enumerate(POINT_COLUMNS)}
_UNIT = slice(_AT["level"], _AT["ept"] + 1)  # UnitAtPoint's fields, in its order
# typed NULLs: PostgreSQL resolves each UNION column's type from the first row kind
_NULLS = {"id": Integer, "partner_id": Integer, "x": Float, "y": Float}


def _row(tag: str, **columns) -> list:
    return [literal_column(f"'{tag}'").label("tag"),
            *((columns[name] if name in columns else cast(null(), _NULLS.get(name, String))).label(name)
              for name in POINT_COLUMNS[1:])]


def _point_statement(with_sites: bool):
    """The single lookup's one round trip: the data version, the territories that contain the point
    (LON, LAT) — small polygons, tested exactly in SQL after the index —, the coverage areas whose
    bounding box contains it (large unions, tested in memory on cached shapes), and, with
    `with_sites`, the sites of proximity kinds around it (`_SITES_NEAR`). Each goes through its
    table's spatial index."""
    t = Territory
    parts = [
        select(*_row("v", version=Meta.value)).where(Meta.key == db.DATA_VERSION_KEY),
        select(*_row("t", id=t.id, level=t.level, code=t.code, name=t.name, parent_code=t.parent_code,
                     departement=t.departement, region=t.region, epci=t.epci, ept=t.ept))
        .where(dialects.box_holds_point(t.geom, LON, LAT), dialects.meets_point(t.geom, LON, LAT)),
        select(*_row("c", id=CoverageArea.id, partner_id=CoverageArea.partner_id))
        .where(dialects.box_holds_point(CoverageArea.geom, LON, LAT)),
    ]
    if with_sites:
        parts.append(proximity_sites(*_row("s", partner_id=Site.partner_id, x=func.ST_X(Site.geom),
                                           y=func.ST_Y(Site.geom))).where(*_SITES_NEAR))
    return union_all(*parts)


_POINT = {with_sites: _point_statement(with_sites) for with_sites in (False, True)}
_SITES = proximity_sites(Site.partner_id, func.ST_X(Site.geom), func.ST_Y(Site.geom)).where(*_SITES_NEAR)


def point_statement(with_sites: bool):
    """The single lookup's statement (`_point_statement`), built once."""
    return _POINT[with_sites]


def _site_params(lon: float, lat: float, widest: int, options: Options) -> dict:
    minx, miny, maxx, maxy = degree_box(lon, lat, widest)
    return {"minx": minx, "miny": miny, "maxx": maxx, "maxy": maxy, "radius": options.radius_m,
            "default_radius": options.default_radius_m, "kx": widest / (maxx - lon), "ky": widest / (maxy - lat)}


def _sites_near(session: Session, lon: float, lat: float, widest: int, options: Options) -> list:
    """(partner_id, x, y) of the proximity sites around the point (apart from the point statement)."""
    return dialects.fetch_all(session, _SITES, {"lon": lon, "lat": lat, **_site_params(lon, lat, widest, options)})


def at_point(session: Session, lon: float, lat: float,
             options: Options) -> tuple[Reference, list[KindInfo], Defaults, Candidates]:
    """One indexed round trip on the database; exact point-in-polygon tests of coverage areas in
    memory on the same stored geometries, prepared once and cached with the reference data.

    The sites' search box depends on the kinds' radii, known from the reference data this process
    already holds; on its first lookup, or if the kinds changed, the sites are fetched apart."""
    known = REFERENCES.get(db.engine_of(session))
    known_defaults = defaults_for(known, options) if known is not None else None
    guess = known_defaults[1].radius if known_defaults else 0
    params = {"lon": lon, "lat": lat}
    if guess:
        params.update(_site_params(lon, lat, guess, options))
    version, unit_rows, area_rows, site_rows = None, [], [], []
    at = _AT
    for row in dialects.fetch_all(session, _POINT[bool(guess)], params):
        tag = row[0]
        if tag == "t":
            unit_rows.append(UnitAtPoint(*row[_UNIT]))
        elif tag == "c":
            area_rows.append((row[at["id"]], row[at["partner_id"]]))
        elif tag == "s":
            site_rows.append((row[at["partner_id"]], row[at["x"]], row[at["y"]]))
        else:
            version = row[at["version"]]
    ref = reference(session, version)
    kinds, defaults = known_defaults if ref is known else defaults_for(ref, options)
    radius = defaults.radius
    if radius != guess:
        site_rows = _sites_near(session, lon, lat, radius, options) if radius else []
    units = sorted(unit_rows, key=lambda u: (u.level, u.code))
    covering: set[int] = set()
    if area_rows:
        shapes = cached_shapes(session, ref, CoverageArea, [i for i, _ in area_rows])
        inside = shapely.intersects_xy(np.array([shapes.get(i) for i, _ in area_rows], dtype=object), lon, lat)
        covering = {pid for (_, pid), hit in zip(area_rows, inside.tolist()) if hit}
    # a handful of sites: plain floats beat numpy's per-call overhead
    nearby = [(pid, haversine_m(lon, lat, x, y)) for pid, x, y in site_rows]
    return ref, kinds, defaults, Candidates(units, covering, nearby)


def for_points(session: Session, points: np.ndarray, kinds: list[KindInfo], options: Options) -> list[Candidates]:
    """Candidates for many points: one indexed box query per table, then an in-memory STRtree join."""
    minx, miny = points.min(axis=0)
    maxx, maxy = points.max(axis=0)
    box = (float(minx), float(miny), float(maxx), float(maxy))
    geoms = shapely.points(points)

    t = Territory
    unit_rows = session.execute(
        select(t.level, t.code, t.name, t.parent_code, t.departement, t.region, t.epci, t.ept, func.ST_AsBinary(t.geom))
        .where(dialects.box_meets(t.geom, *box)).order_by(t.level, t.code)
    ).all()
    unit_objs = [UnitAtPoint(*row[:8]) for row in unit_rows]
    per_point_units: list[list[UnitAtPoint]] = [[] for _ in range(len(points))]
    if unit_rows:
        tree = shapely.STRtree(shapely.from_wkb([bytes(r[8]) for r in unit_rows]))
        pi, ui = tree.query(geoms, predicate="intersects")
        for p_idx, u_idx in sorted(zip(pi.tolist(), ui.tolist()), key=lambda x: (x[0], x[1])):
            per_point_units[p_idx].append(unit_objs[u_idx])

    area_rows = session.execute(
        select(CoverageArea.partner_id, func.ST_AsBinary(CoverageArea.geom))
        .where(CoverageArea.geom.is_not(None), dialects.box_meets(CoverageArea.geom, *box))
    ).all()
    per_point_cover: list[set[int]] = [set() for _ in range(len(points))]
    if area_rows:
        tree = shapely.STRtree(shapely.from_wkb([bytes(r[1]) for r in area_rows]))
        pi, ai = tree.query(geoms, predicate="intersects")
        for p_idx, a_idx in zip(pi.tolist(), ai.tolist()):
            per_point_cover[p_idx].add(area_rows[a_idx][0])

    per_point_near: list[list[tuple[int, float]]] = [[] for _ in range(len(points))]
    radius = max_radius(kinds, options)
    if radius:
        bx0 = degree_box(box[0], box[1], radius)
        bx1 = degree_box(box[2], box[3], radius)
        site_rows = session.execute(
            proximity_sites(Site.partner_id, func.ST_X(Site.geom), func.ST_Y(Site.geom), _KIND_RADIUS)
            .where(dialects.box_meets(Site.geom, MINX, MINY, MAXX, MAXY)),
            {"minx": bx0[0], "miny": bx0[1], "maxx": bx1[2], "maxy": bx1[3], "radius": options.radius_m,
             "default_radius": options.default_radius_m},
        ).all()
        if site_rows:
            site_xy = np.array([(r[1], r[2]) for r in site_rows])
            tree = shapely.STRtree(shapely.points(site_xy))
            # dwithin in degrees with the widest longitude span, refined by haversine
            dlat = radius / 111_132.0
            dlon = max(degree_box(0, float(max(abs(miny), abs(maxy))), radius)[2], dlat)
            pi, si = tree.query(geoms, predicate="dwithin", distance=dlon)
            distances = haversine_m_array(points[pi, 0], points[pi, 1], site_xy[si, 0], site_xy[si, 1])
            # each site within its own kind's radius only: the rest could never be answered
            keep = distances <= np.array([r[3] for r in site_rows], dtype=float)[si]
            site_partner = [r[0] for r in site_rows]
            for p_idx, s_idx, d in zip(pi[keep].tolist(), si[keep].tolist(), distances[keep].tolist()):
                per_point_near[p_idx].append((site_partner[s_idx], d))
    return [Candidates(per_point_units[i], per_point_cover[i], per_point_near[i])
            for i in range(len(points))]
