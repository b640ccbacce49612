"""The candidates query: which territories, coverage areas and proximity sites meet a point (one
indexed round trip, `point_sql`, refined on cached shapes) or many points (one indexed box query
per table, then an in-memory STRtree join)."""

from __future__ import annotations

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from app import db, spatial
from app.geometry import degree_box, haversine_m, haversine_m_array
from app.kinds import PROXIMITY_SITES_SQL
from app.lookup.cache import REFERENCES, Reference, cached_shapes, defaults_for, reference
from app.lookup.facts import Candidates, KindInfo
from app.lookup.options import Options
from app.lookup.rules import Defaults, max_radius
from app.territories import UnitAtPoint


_POINT_SQL: dict[tuple[str, bool], str] = {}

# Sites of proximity kinds near the point: the index finds those in the widest kind's box
# (:minx, :miny, :maxx, :maxy); each kind's own box (its radius, or the request's :radius, or
# :default_radius; :kx/:ky metres per degree) leaves out the rows it could not use.
_SITES_FROM = (
    PROXIMITY_SITES_SQL
    + " AND ABS(ST_X(s.geom) - :lon) * :kx <= COALESCE(:radius, k.radius_m, :default_radius)"
    " AND ABS(ST_Y(s.geom) - :lat) * :ky <= COALESCE(:radius, k.radius_m, :default_radius)"
)


def point_sql(backend: spatial.Backend, with_sites: bool) -> str:
    """The single lookup's one round trip: the data version, the territories that contain the point
    (:lon, :lat) — small polygons, tested exactly in SQL after the index —, the coverage areas whose
    bounding box contains it (large unions, tested in memory on cached shapes), and, with
    `with_sites`, the sites of proximity kinds around it (`_SITES_FROM`). Each goes through its
    table's spatial index. Columns: tag, id, partner_id, x, y, then the territory fields (the
    version in `code`)."""
    key = (backend.name, with_sites)
    sql = _POINT_SQL.get(key)
    if sql is None:
        sql = (
            "SELECT 'v', CAST(NULL AS INTEGER), CAST(NULL AS INTEGER), CAST(NULL AS DOUBLE PRECISION), "
            "CAST(NULL AS DOUBLE PRECISION), NULL, m.value, NULL, NULL, NULL, NULL, NULL "
            "FROM meta m WHERE m.key = 'data_version' "
            "UNION ALL "
            "SELECT 't', t.id, NULL, NULL, NULL, t.level, t.code, t.name, t.parent_code, t.departement, "
            f"t.region, t.epci FROM territory t WHERE {backend.point_box_filter('territory', 't')} "
            f"AND {backend.intersects_point('t')} "
            "UNION ALL "
            "SELECT 'c', ca.id, ca.partner_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL "
            f"FROM coverage_area ca WHERE {backend.point_box_filter('coverage_area', 'ca')}"
        )
        if with_sites:
            sql += (" UNION ALL SELECT 's', NULL, s.partner_id, ST_X(s.geom), ST_Y(s.geom), NULL, NULL, NULL, "
                    "NULL, NULL, NULL, NULL " + _SITES_FROM.format(box=backend.box_filter("site", "s")))
        _POINT_SQL[key] = sql
    return sql


def _site_params(lon: float, lat: float, widest: int, options: Options) -> dict:
    minx, miny, maxx, maxy = degree_box(lon, lat, widest)
    return {"minx": minx, "miny": miny, "maxx": maxx, "maxy": maxy, "radius": options.radius_m,
            "default_radius": options.default_radius_m, "kx": widest / (maxx - lon), "ky": widest / (maxy - lat)}


def _sites_near(session: Session, lon: float, lat: float, widest: int, options: Options) -> list:
    """(partner_id, x, y) of the proximity sites around the point (apart from `point_sql`)."""
    backend = spatial.backend_for(session)
    sql = "SELECT s.partner_id, ST_X(s.geom), ST_Y(s.geom) " + _SITES_FROM.format(box=backend.box_filter("site", "s"))
    return spatial.fetch_all(session, sql, {"lon": lon, "lat": lat, **_site_params(lon, lat, widest, options)})


def at_point(session: Session, lon: float, lat: float,
               options: Options) -> tuple[Reference, list[KindInfo], Defaults, Candidates]:
    """One indexed round trip on the database; exact point-in-polygon tests of coverage areas in
    memory on the same stored geometries, prepared once and cached with the reference data.

    The sites' search box depends on the kinds' radii, known from the reference data this process
    already holds; on its first lookup, or if the kinds changed, the sites are fetched apart."""
    backend = spatial.backend_for(session)
    known = REFERENCES.get(db.engine_of(session))
    known_defaults = defaults_for(known, options) if known is not None else None
    guess = known_defaults[1].radius if known_defaults else 0
    params = {"lon": lon, "lat": lat}
    if guess:
        params.update(_site_params(lon, lat, guess, options))
    version, unit_rows, area_rows, site_rows = None, [], [], []
    for row in spatial.fetch_all(session, point_sql(backend, bool(guess)), params):
        tag = row[0]
        if tag == "t":
            unit_rows.append(UnitAtPoint(*row[5:]))
        elif tag == "c":
            area_rows.append((row[1], row[2]))
        elif tag == "s":
            site_rows.append((row[2], row[3], row[4]))
        else:
            version = row[6]
    ref = reference(session, version)
    kinds, defaults = known_defaults if ref is known else defaults_for(ref, options)
    radius = defaults.radius
    if radius != guess:
        site_rows = _sites_near(session, lon, lat, radius, options) if radius else []
    units = sorted(unit_rows, key=lambda u: (u.level, u.code))
    covering: set[int] = set()
    if area_rows:
        shapes = cached_shapes(session, ref, "coverage_area", [i for i, _ in area_rows])
        inside = shapely.intersects_xy(np.array([shapes.get(i) for i, _ in area_rows], dtype=object), lon, lat)
        covering = {pid for (_, pid), hit in zip(area_rows, inside.tolist()) if hit}
    # a handful of sites: plain floats beat numpy's per-call overhead
    nearby = [(pid, haversine_m(lon, lat, x, y)) for pid, x, y in site_rows]
    return ref, kinds, defaults, Candidates(units, covering, nearby)


def for_points(session: Session, points: np.ndarray, kinds: list[KindInfo], options: Options) -> list[Candidates]:
    """Candidates for many points: one indexed box query per table, then an in-memory STRtree join."""
    backend = spatial.backend_for(session)
    minx, miny = points.min(axis=0)
    maxx, maxy = points.max(axis=0)
    box = {"minx": float(minx), "miny": float(miny), "maxx": float(maxx), "maxy": float(maxy)}
    geoms = shapely.points(points)

    unit_rows = session.execute(
        text("SELECT t.level, t.code, t.name, t.parent_code, t.departement, t.region, t.epci, ST_AsBinary(t.geom) "
             f"FROM territory t WHERE {backend.box_filter('territory', 't')} ORDER BY t.level, t.code"), box
    ).all()
    unit_objs = [UnitAtPoint(*row[:7]) for row in unit_rows]
    per_point_units: list[list[UnitAtPoint]] = [[] for _ in range(len(points))]
    if unit_rows:
        tree = shapely.STRtree(shapely.from_wkb([bytes(r[7]) for r in unit_rows]))
        pi, ui = tree.query(geoms, predicate="intersects")
        for p_idx, u_idx in sorted(zip(pi.tolist(), ui.tolist()), key=lambda x: (x[0], x[1])):
            per_point_units[p_idx].append(unit_objs[u_idx])

    area_rows = session.execute(
        text("SELECT ca.partner_id, ST_AsBinary(ca.geom) FROM coverage_area ca "
             f"WHERE ca.geom IS NOT NULL AND {backend.box_filter('coverage_area', 'ca')}"), box
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
        bx0 = degree_box(box["minx"], box["miny"], radius)
        bx1 = degree_box(box["maxx"], box["maxy"], radius)
        site_rows = session.execute(
            text("SELECT s.partner_id, ST_X(s.geom), ST_Y(s.geom), COALESCE(:radius, k.radius_m, :default_radius) "
                 + PROXIMITY_SITES_SQL.format(box=backend.box_filter("site", "s"))),
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
