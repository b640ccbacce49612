"""The gap analysis as the /ecarts page shows it: one JSON-able view of a GapMatrix (the summaries,
the same per EPT, EPCI or département, for each kind the communes lacking it with their names, and
a map of the territory's communes coloured by how many of the analysed kinds they lack). The page
renders it at once for a small territory, or from a background job's result for a large one
(`app/gaps/tasks.py`), so both read the same."""

from __future__ import annotations

import shapely

from app import french
from app.gaps import GROUPING_LABELS, GapMatrix, group_summaries, kind_summary, units_without
from app.maps import DISPLAY_TOLERANCE, rounded

# Above this many units the map shows each commune's point instead of its outline (a région's
# outlines would weigh megabytes in the page); above POINT_LIMIT, one point a département (France:
# 35,000 points would weigh 5 MB and slow a phone down).
OUTLINE_LIMIT = 1500
POINT_LIMIT = 6000
# Communes listed on screen for one kind at most: beyond, the page says how many more and points to
# the workbook (France lacks a kind in thousands of communes; 18 lists of them would weigh megabytes).
LIST_LIMIT = 300
NAMED_KINDS = 3  # a commune's tooltip names the kinds it lacks up to this many, else counts them
# How many analysed kinds a commune lacks → colour and legend (colour-blind safe ramp, darkest worst).
BUCKETS = ((0, 0, "#18753c", "aucun type manquant"), (1, 1, "#f2a900", "1 type manquant"),
           (2, 3, "#e4794a", "2 ou 3 types manquants"), (4, 10_000, "#a4001d", "4 types manquants ou plus"))


def bucket(missing: int) -> tuple[str, str]:
    for low, high, colour, label in BUCKETS:
        if low <= missing <= high:
            return colour, label
    return BUCKETS[-1][2], BUCKETS[-1][3]


def single_code(territory: str) -> str | None:
    """The territory as one typed code (what /carte takes), or None for a list or `france`."""
    return territory if ":" in territory and "|" not in territory else None


def view(matrix: GapMatrix) -> dict:
    """Everything the page shows, as plain data (dates as ISO strings)."""
    lacking: list[list[str]] = [[] for _ in matrix.units]
    index = {u.code: i for i, u in enumerate(matrix.units)}
    kinds = []
    for kind in matrix.kinds:
        without = units_without(matrix, kind)
        for unit in without:
            lacking[index[unit.code]].append(kind.label)
        population = sum(u.population or 0 for u in without)
        kinds.append({
            "code": kind.code, "label": kind.label, "mode": kind.mode, "radius_m": kind.radius_m,
            "summary": kind_summary(matrix, kind),
            "without": [{"code": u.code, "name": u.name, "population": u.population} for u in without[:LIST_LIMIT]],
            "without_count": len(without), "without_more": max(0, len(without) - LIST_LIMIT),
            "without_population": population,
        })
    many = len(matrix.units) > OUTLINE_LIMIT
    features = (_departement_points(matrix, lacking) if len(matrix.units) > POINT_LIMIT
                else _unit_features(matrix, lacking, points=many))
    return {
        "territory": matrix.territory, "territory_name": matrix.territory_name, "as_of": matrix.as_of.isoformat(),
        "single_code": single_code(matrix.territory), "units": len(matrix.units), "population": matrix.population,
        "level": matrix.group_level, "level_label": GROUPING_LABELS.get(matrix.group_level or ""),
        "items": [k["summary"] for k in kinds], "kinds": kinds,
        "groups": group_summaries(matrix), "dac": matrix.dac, "notes": matrix.notes, "funding": matrix.funding,
        "map": {"type": "FeatureCollection", "features": features}, "map_points": many,
        "map_departements": len(matrix.units) > POINT_LIMIT,
        "legend": [{"colour": c, "label": label} for _, _, c, label in BUCKETS],
    }


def _unit_features(matrix: GapMatrix, lacking: list[list[str]], *, points: bool) -> list[dict]:
    """One feature a unit (its outline, or its point), coloured by how many kinds it lacks."""
    features = []
    for unit, missing in zip(matrix.units, lacking):
        colour, label = bucket(len(missing))
        geometry = ({"type": "Point", "coordinates": [round(unit.x, 5), round(unit.y, 5)]} if points
                    else rounded(shapely.simplify(unit.shape, DISPLAY_TOLERANCE, preserve_topology=True)))
        # the kinds named when they are few (a commune lacking 15 kinds would weigh a kilobyte)
        text = f"{unit.name} ({unit.code.split(':', 1)[1]}) : " + (
            label + (" — " + ", ".join(missing) if len(missing) <= NAMED_KINDS else "") if missing
            else "aucun type manquant")
        features.append({"type": "Feature", "geometry": geometry,
                         "properties": {"role": "commune", "fill": colour, "name": text}})
    return features


def _departement_points(matrix: GapMatrix, lacking: list[list[str]]) -> list[dict]:
    """One point a département (the mean of its communes' points), coloured by the number of kinds
    its communes lack on average."""
    by_dep: dict[str, list[int]] = {}
    for i, unit in enumerate(matrix.units):
        by_dep.setdefault(unit.departement or "?", []).append(i)
    features = []
    for dep, indices in sorted(by_dep.items()):
        mean = sum(len(lacking[i]) for i in indices) / len(indices)
        colour, _ = bucket(round(mean))
        x = sum(matrix.units[i].x for i in indices) / len(indices)
        y = sum(matrix.units[i].y for i in indices) / len(indices)
        text = (f"Département {dep} : {units_label(len(indices))}, en moyenne "
                f"{french.number(mean, 1)} type{'s' if mean >= 2 else ''} manquant{'s' if mean >= 2 else ''} par commune")
        features.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(x, 5), round(y, 5)]},
                         "properties": {"role": "commune", "fill": colour, "name": text}})
    return features


def units_label(count: int, iris: bool = False) -> str:
    return french.plural(count, "IRIS", "IRIS") if iris else french.plural(count, "commune", "communes")
