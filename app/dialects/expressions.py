"""The spatial predicates the queries are written with, the same on both backends; each backend
compiles them its own way (app/dialects/spatialite.py, app/dialects/postgis.py), as GeoAlchemy2
compiles its functions per dialect.

Index use differs: PostGIS's planner uses the GiST index by itself for `&&`; SpatiaLite never does
unless the query joins the R*Tree virtual table `idx_<table>_<column>` explicitly, so there the
box predicates compile to a sub-select of that table (checked by tests/test_importers.py).
"""

from __future__ import annotations

from sqlalchemy import Boolean
from sqlalchemy.sql.functions import FunctionElement

SRID = 4326


class _Predicate(FunctionElement):
    """A boolean SQL expression the backends compile themselves. Used in WHERE as it is: it never
    gets SQLAlchemy's `= 1` for booleans on SQLite."""

    type = Boolean()
    inherit_cache = True
    _is_implicitly_boolean = True


class box_meets(_Predicate):
    """box_meets(geom, minx, miny, maxx, maxy): the row's bounding box meets the WGS84 box,
    through the spatial index only. Callers refine with the exact geometry."""

    name = "box_meets"
    inherit_cache = True


class box_holds_point(_Predicate):
    """box_holds_point(geom, lon, lat): the row's bounding box contains the WGS84 point, through
    the spatial index only (app.lookup refines in SQL with meets_point for territories, in memory
    on cached shapes for coverage areas)."""

    name = "box_holds_point"
    inherit_cache = True


class meets_point(_Predicate):
    """meets_point(geom, lon, lat): the row's geometry meets the WGS84 point, boundary included —
    exact, to be combined with box_holds_point for the index."""

    name = "meets_point"
    inherit_cache = True


def table_of(column) -> tuple[object, str]:
    """(the table or alias a geometry column belongs to, the table's own name)."""
    table = column.table
    return table, getattr(table, "element", table).name
