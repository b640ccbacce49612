"""An independent implementation of docs/eligibility.md, to check the real lookup against.

Written from the page, not from app/lookup/: it reads only the territory contours and the kind
catalogue from the database and takes every partner fact from the records the caller generated.
Geometry with shapely (a coverage area is the union of its included parts minus its excluded
parts), distances by haversine. Plain and slow on purpose: it must be easy to check by eye.

Readings of the page where it is silent (report them, the page's owner may settle them):
- `upcoming` and `unavailable` have no stated order: compared as sets of ids.
- the proximity limit is stated for `partners` only (row 7): `upcoming` and `unavailable` of a
  proximity kind list every candidate in the radius.
- "a site within the radius" includes a site exactly at the radius (distance <= radius).
- a proximity kind's status is `found` or `none` even outside the reference (the page lists no
  `outside` for proximity kinds).
- a point less than half a metre from the boundary of any partner's area or any reference unit
  is not settled by the page: `expected` marks it unsettled and the comparison skips it.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import shapely
from geoalchemy2.shape import to_shape
from shapely.geometry import Point, shape
from shapely.ops import unary_union
from sqlalchemy import select

EARTH_RADIUS_M = 6_371_008.8
UNIT_LEVELS = ("commune", "arrondissement", "iris")
GROUP_LEVELS = ("departement", "region", "epci")
UNSETTLED_M = 0.5  # docs/eligibility.md: closer than this to a boundary is not settled


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def metres_lower_bound(degrees: float, lat: float) -> float:
    """A planar distance in degrees near `lat`, as metres, never over-estimated (a degree of
    longitude is shorter than one of latitude)."""
    return math.radians(degrees) * EARTH_RADIUS_M * math.cos(math.radians(lat))


# ---------------------------------------------------------------------------------------------
# What the oracle reads from the database: contours and the kind catalogue, nothing else


@dataclass
class Unit:
    level: str
    code: str
    departement: str | None
    region: str | None
    epci: str | None
    geom: object


@dataclass(frozen=True)
class KindRow:
    code: str
    mode: str
    age_band: str
    sort_order: int
    radius_m: int | None


class Reference:
    def __init__(self, units: list[Unit], kinds: list[KindRow]):
        self.units = units
        self.by_code = {f"{u.level}:{u.code}": u for u in units}
        for u in units:
            shapely.prepare(u.geom)
        self.tree = shapely.STRtree([u.geom for u in units])
        self.kinds = sorted(kinds, key=lambda k: (k.sort_order, k.code))
        self.kind = {k.code: k for k in self.kinds}
        self._groups: dict[str, object] = {}

    @classmethod
    def load(cls, session) -> Reference:
        from app.models import Kind, Territory

        units = [Unit(level, code, dep, reg, epci, to_shape(geom)) for level, code, dep, reg, epci, geom in
                 session.execute(select(Territory.level, Territory.code, Territory.departement, Territory.region,
                                        Territory.epci, Territory.geom))]
        kinds = [KindRow(*row) for row in session.execute(
            select(Kind.code, Kind.mode, Kind.age_band, Kind.sort_order, Kind.radius_m))]
        return cls(units, kinds)

    def part(self, typed: str):
        """The shape of a typed territory code: a unit's contour, or for a département, région or
        EPCI the union of its communes (level 'commune' only)."""
        level, code = typed.split(":", 1)
        if level in UNIT_LEVELS:
            return self.by_code[typed].geom
        if typed not in self._groups:
            members = [u.geom for u in self.units if u.level == "commune" and getattr(u, level) == code]
            assert members, f"{typed}: no commune in the reference"
            self._groups[typed] = unary_union(members)
        return self._groups[typed]

    def units_near(self, pt: Point, degrees: float = 0.0) -> list[Unit]:
        probe = shapely.box(pt.x - degrees, pt.y - degrees, pt.x + degrees, pt.y + degrees) if degrees else pt
        return [self.units[i] for i in self.tree.query(probe)]


# ---------------------------------------------------------------------------------------------
# Partner facts and the request


@dataclass
class Partner:
    id: int
    ref: str
    kind: str
    name: str
    age_band: str  # its own band, already defaulted from the kind when the record gave none
    housing_types: frozenset = frozenset()
    landlords: frozenset = frozenset()
    status: str = "active"
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    include: tuple = ()  # typed codes
    exclude: tuple = ()
    polygons: tuple = ()  # (mode, shapely geometry)
    sites: tuple = ()  # (lon, lat)
    area: object = None

    @classmethod
    def from_record(cls, pid: int, record: dict, ref: Reference, area=None) -> Partner:
        kind = ref.kind[record["kind"]]
        cov = record.get("coverage") or {}
        p = cls(
            id=pid, ref=record["ref"], kind=kind.code, name=record["name"],
            age_band=record.get("age_band") or kind.age_band,
            housing_types=frozenset(record.get("housing_types") or ()),
            landlords=frozenset(record.get("reserved_landlords") or ()),
            status=record.get("status") or "active",
            valid_from=_date(record.get("valid_from")), valid_to=_date(record.get("valid_to")),
            include=tuple(cov.get("include") or ()), exclude=tuple(cov.get("exclude") or ()),
            polygons=tuple((poly.get("mode", "include"), shape(poly["geometry"]))
                           for poly in cov.get("polygons") or ()),
            sites=tuple((s["lon"], s["lat"]) for s in record.get("sites") or () if s.get("lon") is not None),
        )
        if kind.mode == "territorial":
            p.area = area if area is not None else coverage_area(p, ref)
        return p


def _date(value) -> dt.date | None:
    if value in (None, ""):
        return None
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def coverage_area(p: Partner, ref: Reference):
    """Union of the included parts minus the excluded parts."""
    inc = [ref.part(c) for c in p.include] + [g for mode, g in p.polygons if mode == "include"]
    exc = [ref.part(c) for c in p.exclude] + [g for mode, g in p.polygons if mode == "exclude"]
    area = unary_union(inc)
    if exc:
        area = area.difference(unary_union(exc))
    shapely.prepare(area)
    return area


@dataclass(frozen=True)
class Request:
    as_of: dt.date
    age: str | None = None
    landlord: str | None = None
    housing: str | None = None
    kinds: tuple | None = None
    radius: int | None = None
    proximity_limit: int = 5
    default_radius_m: int = 5000

    def describe(self) -> dict:
        out = {"as_of": self.as_of.isoformat()}
        for name in ("age", "landlord", "housing", "kinds", "radius"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.proximity_limit != 5:
            out["proximity_limit"] = self.proximity_limit
        return out


def state_at(p: Partner, as_of: dt.date) -> str:
    """The page's "state at a date" table, first row that holds."""
    if p.valid_to is not None and as_of > p.valid_to:
        return "closed"
    if p.valid_from is not None and as_of < p.valid_from:
        return "planned"
    if p.status == "closed":
        return "active" if p.valid_to is not None else "closed"
    if p.status == "planned":
        return "active" if p.valid_from is not None else "planned"
    return p.status


def decide(p: Partner, req: Request) -> str:
    """Rows 1-7 of "Request × partner": the first matching row decides. Returns closed, age,
    housing, landlord (the three filters), upcoming, unavailable or partners."""
    state = state_at(p, req.as_of)
    if state == "closed":
        return "closed"
    if req.age is not None and p.age_band not in (req.age, "tous"):
        return "age"
    if req.housing is not None and p.housing_types and req.housing not in p.housing_types:
        return "housing"
    if req.landlord is not None and p.landlords and req.landlord not in p.landlords:
        return "landlord"
    if state == "planned":
        return "upcoming"
    if state == "suspended":
        return "unavailable"
    assert state == "active", state
    return "partners"


FILTERS = ("age", "housing", "landlord")


def kind_answered(kind: KindRow, partners: list[Partner], req: Request) -> bool:
    """With an age, a kind is left out only when nothing of it could serve that age: neither its
    catalogue band nor any partner of it in the registry (any status, anywhere)."""
    if req.kinds is not None and kind.code not in req.kinds:
        return False
    if req.age is None or kind.age_band in (req.age, "tous"):
        return True
    return any(p.kind == kind.code and p.age_band in (req.age, "tous") for p in partners)


# ---------------------------------------------------------------------------------------------
# The expected answer


@dataclass
class KindExpected:
    kind: str
    mode: str
    status: str
    partners: list[int]
    upcoming: set[int]
    unavailable: set[int]
    filtered_out: int
    applies: dict[int, object]  # listed partner id -> restriction.applies (True / None), absent if not reserved
    placement: dict[int, str] = field(default_factory=dict)  # every partner of the kind -> why
    distance: dict[int, float] = field(default_factory=dict)
    radius_m: float | None = None


@dataclass
class Expected:
    kinds: list[KindExpected]
    inside: bool
    edges: list[tuple[str, float, bool]]  # boundaries within a few metres (see _edges)

    @property
    def unsettled(self) -> str | None:
        """Why the page does not settle this point, or None."""
        for label, d, _inside in self.edges:
            if d < UNSETTLED_M:
                return f"{d:.2f} m from the boundary of {label}"
        return None

    def kind(self, code: str) -> KindExpected | None:
        return next((k for k in self.kinds if k.kind == code), None)


def _edges(pt: Point, partners: list[Partner], ref: Reference, within_m: float = 6.0) -> list[tuple[str, float, bool]]:
    """Boundaries of reference units and partner areas within `within_m` of the point: (what,
    metres (a lower bound), whether the point is inside)."""
    lat, out = pt.y, []
    shapes = [(f"{u.level}:{u.code}", u.geom) for u in ref.units_near(pt, 0.001)]
    shapes += [(f"the area of {p.ref}", p.area) for p in partners if p.area is not None]
    for label, geom in shapes:
        d = metres_lower_bound(geom.boundary.distance(pt), lat)
        if d < within_m:
            out.append((label, d, geom.covers(pt)))
    return out


def _territorial_order(p: Partner, req: Request):
    if req.landlord is not None:
        group = 0 if req.landlord in p.landlords else 1
    else:
        group = 1 if p.landlords else 0
    return (group, p.name, p.id)


def expected(ref: Reference, partners: list[Partner], req: Request, lon: float, lat: float) -> Expected:
    pt = Point(lon, lat)
    inside = any(u.geom.covers(pt) for u in ref.units_near(pt))
    out = []
    for kind in ref.kinds:
        if not kind_answered(kind, partners, req):
            continue
        mine = [p for p in partners if p.kind == kind.code]
        placement, distance, cands = {}, {}, []
        if kind.mode == "territorial":
            for p in mine:
                if p.area.covers(pt):
                    cands.append(p)
                else:
                    placement[p.id] = "not_candidate"
        else:
            radius = req.radius if req.radius is not None else (kind.radius_m or req.default_radius_m)
            for p in mine:
                d = min(haversine_m(lon, lat, slon, slat) for slon, slat in p.sites)
                distance[p.id] = d
                if d <= radius:
                    cands.append(p)
                else:
                    placement[p.id] = "not_candidate"
        decided = {p.id: decide(p, req) for p in cands}
        placement.update(decided)
        listed = [p for p in cands if decided[p.id] == "partners"]
        if kind.mode == "territorial":
            listed.sort(key=lambda p: _territorial_order(p, req))
        else:
            listed.sort(key=lambda p: (distance[p.id], p.name, p.id))
            for p in listed[req.proximity_limit:]:
                placement[p.id] = "beyond_limit"
            listed = listed[:req.proximity_limit]
        if kind.mode == "territorial":
            if any(not p.landlords or req.landlord in p.landlords for p in listed):
                status = "covered"
            elif listed:
                status = "restricted"
            elif not inside:
                status = "outside"
            else:
                status = "none"
        else:
            status = "found" if listed else "none"
        out.append(KindExpected(
            kind=kind.code, mode=kind.mode, status=status, partners=[p.id for p in listed],
            upcoming={p.id for p in cands if decided[p.id] == "upcoming"},
            unavailable={p.id for p in cands if decided[p.id] == "unavailable"},
            filtered_out=sum(1 for p in cands if decided[p.id] in FILTERS),
            applies={p.id: (True if req.landlord is not None else None) for p in listed if p.landlords},
            placement=placement, distance=distance, radius_m=radius if kind.mode == "proximity" else None,
        ))
    return Expected(out, inside, _edges(pt, partners, ref))
