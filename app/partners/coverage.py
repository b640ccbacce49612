"""Coverage areas: compile a partner's typed parts into one stored, indexed MultiPolygon.

coverage = union(included codes and polygons) − union(excluded codes and polygons)

The parts are the truth; the geometry is derived. It is recompiled whenever a partner's parts
change (registry.upsert_partner) and whenever reference geometry changes (territory importers
call `recompile_for_units`). Compilation is done with shapely, identically for both backends.
"""

from __future__ import annotations

from collections.abc import Iterable

from geoalchemy2.shape import from_shape, to_shape
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app import territories
from app.errors import MaillageError
from app.geometry import area_km2, as_multipolygon, union
from app.models import CoverageArea, CoveragePart, Kind, Partner, _now


def compile_geometry(session: Session, partner: Partner, cache: dict | None = None):
    """Return (MultiPolygon | None, problems) for a partner's current parts."""
    includes, excludes, problems = [], [], []
    if cache is None:
        cache = {}
    typed_codes = []
    for part in partner.parts:
        if part.code:
            try:
                typed_codes.append(territories.parse_code(part.code))
            except MaillageError:
                pass  # reported below, part by part
    territories.preload_geometries(session, typed_codes, cache)
    for part in partner.parts:
        try:
            if part.code:
                geom = territories.geometry(session, territories.parse_code(part.code), cache)
            else:
                geom = to_shape(part.geom)
        except MaillageError as exc:
            problems.append({"part": part.code or part.label or "polygone", "message": exc.message})
            continue
        (includes if part.mode == "include" else excludes).append(geom)
    if not includes:
        return None, problems + [{"part": None, "message": "aucune partie incluse utilisable"}]
    result = union(includes)
    if excludes:
        result = result.difference(union(excludes))
    if result.is_empty:
        return None, problems + [{"part": None, "message": "zone vide après exclusions"}]
    return as_multipolygon(result, what="zone de couverture"), problems


def compile_partner(session: Session, partner: Partner, cache: dict | None = None) -> CoverageArea | None:
    """(Re)compile and store one partner's coverage; proximity kinds have none."""
    kind = partner.kind or session.get(Kind, partner.kind_code)
    if kind.mode != "territorial":
        if partner.area is not None:
            session.delete(partner.area)
            partner.area = None
        return None
    geom, problems = compile_geometry(session, partner, cache)
    area = partner.area
    if area is None:
        area = CoverageArea(partner=partner)
        session.add(area)
    area.geom = from_shape(geom, srid=4326) if geom is not None else None
    area.area_km2 = round(area_km2(geom), 3) if geom is not None else None
    area.problems = problems
    area.compiled_at = _now()
    session.flush()
    return area


def affected_codes(units: Iterable) -> set[str]:
    """Typed codes whose shape depends on the given territory units (rows or UnitAtPoint).
    Départements, régions, EPCI and EPT are unions of communes only: an IRIS or an arrondissement
    changes its own code's shape and nothing else."""
    codes: set[str] = set()
    for unit in units:
        codes.add(f"{unit.level}:{unit.code}")
        if unit.level != "commune":
            continue
        for level in ("departement", "region", "epci", "ept"):
            value = getattr(unit, level, None)
            if value:
                codes.add(f"{level}:{value}")
    return codes


def recompile_for_codes(session: Session, codes: set[str], progress=None) -> int:
    """Recompile every partner with a part naming one of `codes`; returns how many."""
    if not codes:
        return 0
    ids: set[int] = set()
    code_list = sorted(codes)
    for start in range(0, len(code_list), 500):
        chunk = code_list[start:start + 500]
        ids.update(session.scalars(select(CoveragePart.partner_id).where(CoveragePart.code.in_(chunk))))
    return recompile(session, ids, progress=progress)


def recompile(session: Session, partner_ids: Iterable[int] | None = None, progress=None) -> int:
    query = select(Partner).options(selectinload(Partner.parts), selectinload(Partner.area))
    if partner_ids is not None:
        ids = sorted(set(partner_ids))
        if not ids:
            return 0
        query = query.where(Partner.id.in_(ids))
    cache: dict = {}
    count = 0
    for partner in session.scalars(query.order_by(Partner.id)):
        compile_partner(session, partner, cache)
        count += 1
        if progress is not None:
            progress(1)
    return count
