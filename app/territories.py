"""Typed territory codes and the territory reference (communes, arrondissements, IRIS, groups).

A code that crosses a boundary (API, file, database) is always typed: `commune:93010`,
`arrondissement:75113`, `iris:930100101`, `departement:93`, `region:11`, `epci:200054781`, `ept:200057875` (établissement public territorial
of the Métropole du Grand Paris).
A bare `53` is ambiguous (région Bretagne or département Mayenne) and is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from shapely import wkb
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app import dialects
from app.errors import TerritoryCodeError, UnknownTerritory
from app.geometry import union
from app.models import Territory, TerritoryGroup
from app.vocabulary import LEVEL_LABELS

_COMMUNE = r"(?:\d{5}|2[AB]\d{3})"
PATTERNS = {
    "commune": re.compile(rf"^{_COMMUNE}$"),
    # Paris 75101–75120, Marseille 13201–13216, Lyon 69381–69389.
    "arrondissement": re.compile(r"^(?:751(?:0[1-9]|1\d|20)|132(?:0[1-9]|1[0-6])|6938[1-9])$"),
    "iris": re.compile(rf"^{_COMMUNE}\d{{4}}$"),
    "departement": re.compile(r"^(?:0[1-9]|1\d|2[1-9AB]|[3-8]\d|9[0-5]|97[1-6])$"),
    "region": re.compile(r"^\d{2}$"),
    "epci": re.compile(r"^\d{9}$"),
    "ept": re.compile(r"^\d{9}$"),
}
EXAMPLES = {
    "commune": "commune:93010",
    "arrondissement": "arrondissement:75113",
    "iris": "iris:930100101",
    "departement": "departement:93",
    "region": "region:11",
    "epci": "epci:200057875",
    "ept": "ept:200057875",
}
ALIASES = {
    "commune": "commune", "com": "commune",
    "arrondissement": "arrondissement", "arm": "arrondissement",
    "iris": "iris",
    "departement": "departement", "département": "departement", "dep": "departement",
    "dept": "departement",
    "region": "region", "région": "region", "reg": "region",
    "epci": "epci",
    "ept": "ept",
}
UNIT_LEVELS = ("commune", "arrondissement", "iris")
GROUP_COLUMNS = {"departement": Territory.departement, "region": Territory.region, "epci": Territory.epci,
                 "ept": Territory.ept}
GROUP_LEVELS = tuple(GROUP_COLUMNS)


@dataclass(frozen=True, order=True)
class TypedCode:
    level: str
    code: str

    def __str__(self) -> str:
        return f"{self.level}:{self.code}"

    @property
    def is_unit(self) -> bool:
        return self.level in UNIT_LEVELS


def parse_code(raw: str, *, field: str | None = None) -> TypedCode:
    """Parse a typed code; refuse bare or malformed codes with a message saying what to write."""
    if not isinstance(raw, str):
        raise TerritoryCodeError("Code de territoire manquant.", field=field)
    value = raw.strip()
    if not value:
        raise TerritoryCodeError("Code de territoire vide.", field=field)
    if len(value) > 60:
        raise TerritoryCodeError("Code de territoire trop long.", field=field)
    if ":" not in value:
        raise TerritoryCodeError(_bare_code_message(value), code="ambiguous-territory-code", field=field)
    prefix, _, code = value.partition(":")
    level = ALIASES.get(prefix.strip().lower())
    if level is None:
        raise TerritoryCodeError(
            f"Type de territoire inconnu « {prefix} » dans « {value} ». Types acceptés : "
            + ", ".join(EXAMPLES.values()) + ".",
            field=field,
        )
    code = code.strip().upper()
    if not PATTERNS[level].match(code):
        raise TerritoryCodeError(
            f"« {code} » n'est pas un code {LEVEL_LABELS[level].lower()} valide "
            f"(exemple : {EXAMPLES[level]}).",
            field=field,
        )
    return TypedCode(level, code)


def _bare_code_message(value: str) -> str:
    candidates = [level for level, pattern in PATTERNS.items() if pattern.match(value.upper())]
    shown = " ou ".join(f"{level}:{value.upper()}" for level in candidates)
    if candidates:
        return f"Code « {value} » sans type, donc ambigu : écrire {shown}."
    return (f"Code « {value} » sans type et non reconnu : écrire un code typé comme "
            + ", ".join(EXAMPLES.values()) + ".")


def parse_codes(raw: str, *, field: str | None = None) -> list[TypedCode]:
    """Parse a `|`-separated list of typed codes (the exchange format's separator)."""
    codes = [parse_code(part, field=field) for part in raw.split("|") if part.strip()]
    if not codes:
        raise TerritoryCodeError("Liste de codes de territoire vide.", field=field)
    return codes


# ---------------------------------------------------------------------------------------------
# Reference look-ups


def _unit(session: Session, typed: TypedCode) -> Territory | None:
    return session.scalar(
        select(Territory).where(Territory.level == typed.level, Territory.code == typed.code)
    )


def group_name(session: Session, typed: TypedCode) -> str | None:
    return session.scalar(
        select(TerritoryGroup.name).where(
            TerritoryGroup.level == typed.level, TerritoryGroup.code == typed.code
        )
    )


def _not_found(session: Session, typed: TypedCode) -> UnknownTerritory:
    return UnknownTerritory(
        f"Territoire {typed} absent du référentiel chargé.{absent_hint(session, typed)}",
        extra={"territory": str(typed), "successors": [s["code"] for s in successors(typed)]},
    )


def absent_hint(session: Session, typed: TypedCode) -> str:
    """What to write instead of a code absent from the reference: a misplaced level, or the
    successor of a commune that merged away (geodata/commune-successors.csv)."""
    if typed.level == "commune" and PATTERNS["arrondissement"].match(typed.code):
        return f" C'est un code d'arrondissement municipal : écrire arrondissement:{typed.code}."
    if typed.level == "arrondissement" and _unit(session, TypedCode("commune", typed.code)):
        return f" C'est une commune : écrire commune:{typed.code}."
    found = successors(typed)
    if not found:
        return ""
    proposals = " ou ".join(s["code"] for s in found)
    first = found[0]
    if typed.level == "iris":
        return (f" Sa commune {first['old_name']} a disparu ({first['event']} du {first['date']}) : "
                f"utiliser les IRIS en vigueur de {proposals} ({first['name']}), ou {proposals} entière.")
    from app import french

    proposed = french.agree(len(found), "code successeur proposé", "codes successeurs proposés")
    return (f" {first['old_name']} : {first['event']} le {french.date(first['date'])} ; {proposed} : "
            f"{proposals} ({', '.join(s['name'] for s in found)}).")


def successors(typed: TypedCode) -> list[dict]:
    """Known successor communes of a commune code (or of an IRIS's commune) that no longer exists."""
    if typed.level not in ("commune", "iris"):
        return []
    return _successor_table().get(typed.code[:5], [])


@lru_cache(maxsize=1)
def _successor_table() -> dict[str, list[dict]]:
    import csv

    from app.config import PROJECT_ROOT

    table: dict[str, list[dict]] = {}
    with (PROJECT_ROOT / "geodata" / "commune-successors.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            table.setdefault(row["code_ancien"], []).append({
                "code": f"commune:{row['code_successeur']}", "name": row["nom_successeur"],
                "old_name": row["nom_ancien"], "date": row["date_effet"], "event": row["evenement"],
            })
    return table


def member_communes(session: Session, typed: TypedCode) -> list[Territory]:
    """Communes (level 'commune') making up a département, région, EPCI or EPT."""
    column = GROUP_COLUMNS[typed.level]
    return list(
        session.scalars(
            select(Territory)
            .where(Territory.level == "commune", column == typed.code)
            .order_by(Territory.code)
        )
    )


def geometry(session: Session, typed: TypedCode, cache: dict | None = None) -> BaseGeometry:
    """The shape of a typed code: a unit's contour, or the union of a group's communes."""
    key = str(typed)
    if cache is not None and key in cache:
        return cache[key]
    if typed.is_unit:
        where = "level = :level AND code = :code"
        params = {"level": typed.level, "code": typed.code}
    else:
        where = f"level = 'commune' AND {typed.level} = :code"
        params = {"code": typed.code}
    rows = session.execute(
        text(f"SELECT ST_AsBinary(geom) FROM territory WHERE {where}"), params
    ).scalars().all()
    if not rows:
        raise _not_found(session, typed)
    geom = union([wkb.loads(bytes(r)) for r in rows])
    if cache is not None:
        cache[key] = geom
    return geom


def preload_geometries(session: Session, codes: list[TypedCode], cache: dict) -> None:
    """Fill `cache` with the shapes of unit codes in one query per level (compiling a sector of
    40 communes would otherwise cost 40 round trips). Unknown codes are left for `geometry` to
    report."""
    by_level: dict[str, set[str]] = {}
    for typed in codes:
        if typed.is_unit and str(typed) not in cache:
            by_level.setdefault(typed.level, set()).add(typed.code)
    for level, wanted in by_level.items():
        for chunk in dialects.chunked(sorted(wanted)):
            for code, geom in session.execute(
                select(Territory.code, Territory.geom.ST_AsBinary()).where(
                    Territory.level == level, Territory.code.in_(chunk))
            ):
                cache[f"{level}:{code}"] = wkb.loads(bytes(geom))


def existing(session: Session, codes: list[TypedCode]) -> set[str]:
    """Which of the typed codes exist in the reference (one query per level)."""
    found: set[str] = set()
    by_level: dict[str, set[str]] = {}
    for typed in codes:
        by_level.setdefault(typed.level, set()).add(typed.code)
    for level, wanted in by_level.items():
        for chunk in dialects.chunked(sorted(wanted)):
            if level in UNIT_LEVELS:
                query = select(Territory.code).where(Territory.level == level, Territory.code.in_(chunk))
            else:
                column = GROUP_COLUMNS[level]
                query = select(column).where(Territory.level == "commune", column.in_(chunk)).distinct()
            found.update(f"{level}:{code}" for code in session.scalars(query))
    return found


def describe(session: Session, typed: TypedCode) -> dict:
    """Name, population and membership of a typed code, for the API and the CLI."""
    if typed.is_unit:
        unit = _unit(session, typed)
        if unit is None:
            raise _not_found(session, typed)
        out = {
            "code": str(typed),
            "level": typed.level,
            "level_label": LEVEL_LABELS[typed.level],
            "name": unit.name,
            "population": unit.population,
            "population_source": unit.population_source,
            "parent": f"commune:{unit.parent_code}" if unit.parent_code and typed.level == "arrondissement"
            else unit.parent_code,
            "departement": f"departement:{unit.departement}" if unit.departement else None,
            "region": f"region:{unit.region}" if unit.region else None,
            "epci": f"epci:{unit.epci}" if unit.epci else None,
            "ept": f"ept:{unit.ept}" if unit.ept else None,
            "source": unit.source,
        }
        if typed.level == "commune":
            out["arrondissements"] = [
                f"arrondissement:{c}" for c in session.scalars(
                    select(Territory.code).where(
                        Territory.level == "arrondissement", Territory.parent_code == typed.code
                    ).order_by(Territory.code)
                )
            ]
        return out
    members = member_communes(session, typed)
    if not members:
        raise _not_found(session, typed)
    populations = [m.population for m in members]
    return {
        "code": str(typed),
        "level": typed.level,
        "level_label": LEVEL_LABELS[typed.level],
        "name": group_name(session, typed) or str(typed),
        "population": sum(p for p in populations if p is not None),
        "population_complete": all(p is not None for p in populations),
        "communes": [f"commune:{m.code}" for m in members],
    }


@dataclass(frozen=True)
class UnitAtPoint:
    level: str
    code: str
    name: str
    parent_code: str | None
    departement: str | None
    region: str | None
    epci: str | None
    ept: str | None = None


def codes_at_point(units: list[UnitAtPoint]) -> dict[str, UnitAtPoint | None]:
    """Every typed code that contains the point, mapped to the unit that brought it."""
    codes: dict[str, UnitAtPoint | None] = {}
    for unit in units:
        codes[f"{unit.level}:{unit.code}"] = unit
        if unit.level == "arrondissement" and unit.parent_code:
            codes.setdefault(f"commune:{unit.parent_code}", unit)
        for level in GROUP_LEVELS:
            value = getattr(unit, level)
            if value:
                codes.setdefault(f"{level}:{value}", unit)
    return codes


def unit_names(session: Session, typed_codes: list[str]) -> dict[str, str]:
    """Display names for typed codes (units and groups), in one query per table."""
    names: dict[str, str] = {}
    parsed = [TypedCode(*c.split(":", 1)) for c in typed_codes]
    units = [p for p in parsed if p.is_unit]
    groups = [p for p in parsed if not p.is_unit]
    if units:
        # level first: the (level, code) unique index serves this query
        for level, code, name in session.execute(
            select(Territory.level, Territory.code, Territory.name).where(
                Territory.level.in_({u.level for u in units}), Territory.code.in_({u.code for u in units})
            )
        ):
            names[f"{level}:{code}"] = name
    if groups:
        for level, code, name in session.execute(
            select(TerritoryGroup.level, TerritoryGroup.code, TerritoryGroup.name).where(
                TerritoryGroup.code.in_({g.code for g in groups})
            )
        ):
            names[f"{level}:{code}"] = name
    return names


def reference_extent(session: Session) -> tuple[float, float, float, float] | None:
    """Bounding box (minx, miny, maxx, maxy) of the loaded reference; None when it is empty."""
    return dialects.extent(session, Territory.geom)


def reference_summary(session: Session) -> dict:
    rows = session.execute(select(Territory.level, func.count()).group_by(Territory.level)).all()
    return {level: count for level, count in rows}


# ---------------------------------------------------------------------------------------------
# Writing the reference (used by the territory importers)

UNIT_FIELDS = ("name", "parent_code", "departement", "region", "epci", "population", "population_source")
# Compared and written only when the importer provides them (a contour file knows no postal codes).
OPTIONAL_UNIT_FIELDS = ("postcodes",)


def upsert_units(session: Session, units: list[dict], *, source: str, report, progress=None,
                 on_reshape=None) -> set[str]:
    """Idempotent upsert of reference units; returns typed codes whose shape or membership changed.

    Each unit dict has level, code, name, geom (shapely MultiPolygon) and optional parent_code,
    departement, region, epci, population, population_source. `on_reshape(unit, stored_geom)` is
    called for each stored unit whose contour changes.
    """
    import shapely
    from geoalchemy2.shape import from_shape
    from sqlalchemy import insert, update

    from app.models import _now

    levels = sorted({u["level"] for u in units})
    existing: dict[tuple[str, str], tuple] = {}
    for row in session.execute(
        text(
            "SELECT id, level, code, name, parent_code, departement, region, epci, population, "
            "population_source, postcodes, ST_AsBinary(geom) FROM territory WHERE level IN ("
            + ",".join(f"'{lvl}'" for lvl in levels) + ")"
        )
    ):
        existing[(row[1], row[2])] = row
    to_insert, changed_codes = [], set()
    now = _now()
    for unit in units:
        key = (unit["level"], unit["code"])
        geom_wkb = shapely.to_wkb(unit["geom"])
        old = existing.get(key)
        values = {f: unit.get(f) for f in UNIT_FIELDS}
        values.update({f: unit[f] for f in OPTIONAL_UNIT_FIELDS if f in unit})
        if old is None:
            to_insert.append({"level": unit["level"], "code": unit["code"], **values,
                              "geom": from_shape(unit["geom"], srid=4326), "source": source,
                              "updated_at": now})
            report.count("created")
            changed_codes.add(f"{unit['level']}:{unit['code']}")
        else:
            old_values = dict(zip(UNIT_FIELDS + OPTIONAL_UNIT_FIELDS, old[3:11]))
            old_values = {f: old_values[f] for f in values}
            stored_geom = wkb.loads(bytes(old[11]))
            same_geom = shapely.to_wkb(stored_geom) == geom_wkb
            if not same_geom and on_reshape is not None:
                on_reshape(unit, stored_geom)
            if same_geom and old_values == values:
                report.count("unchanged")
            else:
                if old_values["name"] != values["name"]:
                    report.rename(f"{unit['level']}:{unit['code']}", old_values["name"], values["name"])
                session.execute(
                    update(Territory).where(Territory.id == old[0]).values(
                        **values, source=source, updated_at=now,
                        **({} if same_geom else {"geom": from_shape(unit["geom"], srid=4326)}),
                    )
                )
                report.count("updated")
                changed_codes.add(f"{unit['level']}:{unit['code']}")
                # membership moves affect both the old and the new groups
                for level in ("departement", "region", "epci"):  # EPT membership: importers/ept.py
                    if old_values[level]:
                        changed_codes.add(f"{level}:{old_values[level]}")
        if progress:
            progress(1)
    for start in range(0, len(to_insert), 1000):
        session.execute(insert(Territory), to_insert[start:start + 1000])
    session.flush()
    return changed_codes


def upsert_groups(session: Session, groups: list[tuple[str, str, str]]) -> None:
    """(level, code, name) for départements, régions, EPCI and EPT."""
    existing = {(g.level, g.code): g for g in session.scalars(select(TerritoryGroup))}
    for level, code, name in groups:
        group = existing.get((level, code))
        if group is None:
            group = TerritoryGroup(level=level, code=code, name=name)
            session.add(group)
            existing[(level, code)] = group
        elif group.name != name:
            group.name = name
    session.flush()


def departement_of(commune_code: str) -> str:
    """INSEE département code from a commune code (overseas codes are three characters)."""
    return commune_code[:3] if commune_code.startswith("97") else commune_code[:2]
