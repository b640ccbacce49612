"""A coverage change before it is saved: the old and new areas, and the communes gained and lost
(a commune counts when its representative point is inside the area)."""

from __future__ import annotations

from shapely.geometry import shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import territories
from app.dialects.expressions import box_meets
from app.errors import MaillageError
from app.geometry import as_multipolygon, to_geojson, union
from app.models import Territory


def record_shape(session: Session, record: dict, cache: dict | None = None):
    """The area a record's coverage parts describe (None without an included part)."""
    cache = {} if cache is None else cache
    cov = record.get("coverage") or {}
    includes, excludes = [], []
    for mode, bucket in (("include", includes), ("exclude", excludes)):
        for code in cov.get(mode) or []:
            try:
                bucket.append(territories.geometry(session, territories.parse_code(code), cache))
            except MaillageError:
                continue
    for poly in cov.get("polygons") or []:
        (includes if poly.get("mode", "include") == "include" else excludes).append(shape(poly["geometry"]))
    if not includes:
        return None
    result = union(includes)
    if excludes:
        result = result.difference(union(excludes))
    return None if result.is_empty else as_multipolygon(result, what="zone de couverture")


def communes_in(session: Session, geom) -> dict[str, str]:
    """Communes (or Paris, Lyon, Marseille arrondissements) whose representative point is in `geom`."""
    if geom is None:
        return {}
    from geoalchemy2.shape import to_shape

    rows = session.execute(select(Territory.level, Territory.code, Territory.name, Territory.geom)
                           .where(Territory.level.in_(("commune", "arrondissement")),
                                  box_meets(Territory.geom, *geom.bounds))).all()
    out = {}
    for level, code, name, g in rows:
        if geom.contains(to_shape(g).representative_point()):
            out[f"{level}:{code}"] = name
    return out


def coverage_preview(session: Session, old_record: dict, new_record: dict) -> dict:
    """{old, new: GeoJSON geometries; gained, lost: [{code, name}]} for a page to draw and list."""
    cache: dict = {}
    old, new = record_shape(session, old_record, cache), record_shape(session, new_record, cache)
    before, after = communes_in(session, old), communes_in(session, new)
    listed = lambda codes, names: [{"code": c, "name": names[c]} for c in sorted(codes, key=lambda c: names[c])]  # noqa: E731
    return {"old": to_geojson(old), "new": to_geojson(new),
            "gained": listed(set(after) - set(before), after), "lost": listed(set(before) - set(after), before)}
