"""Reading the spreadsheets territories keep (CSV or XLSX) and the polygon files that go with them.

Shared by the partner sheet and the psychiatric-sector sheet. A table is a header row plus data
rows, each kept with the line number a person sees in their spreadsheet (CSV: the physical line
where the row starts; XLSX: the sheet's row number), so every problem can be reported there.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from app.errors import InvalidInput, MaillageError
from app.french import agree

class ProblemLog(Protocol):
    """Where readers say what they could not read or had to repair, line by line (an import's
    report, importers.base.Report)."""

    rows_read: int

    def reject(self, line: int | None, field_name: str | None, message: str) -> None: ...

    def warn(self, line: int | None, field_name: str | None, message: str) -> None: ...


DELIMITERS = (";", ",", "\t")
SPREADSHEET_SUFFIXES = (".csv", ".txt", ".gz", ".xlsx")


@dataclass
class Table:
    name: str  # file name (and sheet) for messages
    columns: list[str]
    rows: list[tuple[int, dict[str, str]]]  # (line, {column: text}) — blank rows skipped
    repaired: list[tuple[int, str, str]] = field(default_factory=list)  # (line, column, what was done)
    problems: list[tuple[int, str | None, str]] = field(default_factory=list)  # rows that cannot be read


def read_table(path: Path, *, columns: list[str], required: list[str], sheet: str | None = None,
               zero_padded: dict[str, int] | None = None) -> Table:
    """Read a CSV (`;`, `,` or tab; UTF-8; .gz allowed) or XLSX sheet whose header names are
    exactly among `columns`. Missing required, unknown and duplicated columns are refused with
    the list of what is expected; cells come back as stripped text ('' when empty).

    `zero_padded` names code columns a spreadsheet may have turned into numbers (postal code
    1400 → 01400): the leading zeros are restored and the repair is reported."""
    if not path.exists():
        raise InvalidInput(f"Fichier introuvable : {path}")
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix.lower() == ".gz" else path.suffix.lower()
    if suffix == ".xls":
        raise InvalidInput(f"{path.name} : format .xls (Excel 97) non pris en charge ; enregistrer en .xlsx ou en CSV.")
    if suffix in (".xlsx", ".xlsm"):
        header, rows = _xlsx_rows(path, sheet)
        name = f"{path.name} (feuille {sheet})" if sheet else path.name
    elif suffix in (".csv", ".txt", ".csv.gz", ".txt.gz", ".gz"):
        header, rows = _csv_rows(path, columns)
        name = path.name
    else:
        raise InvalidInput(f"{path.name} : extension inconnue ; fichier .csv ou .xlsx attendu.")
    _check_header(name, header, columns, required)
    table = Table(name, header, [])
    last_line = rows[-1][0] if rows else None
    for line, values in rows:
        if not any(v.strip() for v in values):
            continue
        if len(values) > len(header) and any(v.strip() for v in values[len(header):]):
            table.problems.append((line, None, f"{len(values)} valeurs pour {len(header)} colonnes "
                                   "(séparateur dans une valeur sans guillemets ?)"))
            continue
        if len(values) < len(header) and suffix != ".xlsx":
            truncated = " — dernière ligne incomplète : fichier tronqué ?" if line == last_line else ""
            table.problems.append((line, None, f"{len(values)} valeurs pour {len(header)} colonnes{truncated}"))
            continue
        cells = {col: (values[i].strip() if i < len(values) else "") for i, col in enumerate(header)}
        for col, width in (zero_padded or {}).items():
            value = cells.get(col, "")
            # only one lost zero is plausible (départements 01–09): "931" stays an error
            if value.isdigit() and len(value) == width - 1:
                cells[col] = value.zfill(width)
                table.repaired.append((line, col, f"« {value} » lu comme un nombre : zéros initiaux rétablis ({cells[col]})"))
        table.rows.append((line, cells))
    if not table.rows and not table.problems:
        raise InvalidInput(f"{name} : aucune ligne de données sous l'en-tête.")
    return table


def _check_header(name: str, header: list[str], columns: list[str], required: list[str]) -> None:
    from rapidfuzz import process

    if not any(header):
        raise InvalidInput(f"{name} : en-tête vide (la première ligne doit nommer les colonnes).")
    seen, problems = set(), []
    for col in header:
        if col in seen:
            problems.append(f"colonne « {col} » en double")
        seen.add(col)
    unknown = [c for c in header if c not in columns]
    for col in unknown:
        guess = process.extractOne(col, columns, score_cutoff=75)
        problems.append(f"colonne inconnue « {col} »" + (f" (vouliez-vous dire « {guess[0]} » ?)" if guess else ""))
    missing = [c for c in required if c not in seen]
    if missing:
        problems.append(agree(len(missing), "colonne obligatoire manquante", "colonnes obligatoires manquantes")
                        + " : " + ", ".join(missing))
    if problems:
        raise InvalidInput(f"{name} : " + " ; ".join(problems) + ". Colonnes attendues : " + ", ".join(columns) + ".")


def _csv_rows(path: Path, columns: list[str]) -> tuple[list[str], list[tuple[int, list[str]]]]:
    from app.exchange.text_files import read_text

    text = read_text(path, hint="l'enregistrer en « CSV UTF-8 » depuis le tableur")
    first = text.split("\n", 1)[0]
    # The delimiter that splits the header into the most known column names (a French Excel
    # writes ';', other tools ','): guessing from the header alone is robust to commas in text.
    delimiter = max(DELIMITERS, key=lambda d: (sum(c.strip() in columns for c in first.split(d)), first.count(d)))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        header = [c.strip() for c in next(reader)]
        start = reader.line_num + 1
        for values in reader:
            rows.append((start, values))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InvalidInput(f"{path.name} ligne {start} : CSV mal formé ({exc}) — guillemet non fermé ou fichier tronqué ?") from exc
    if len(header) == 1 and any(d in header[0] for d in DELIMITERS if d != delimiter):
        raise InvalidInput(f"{path.name} : séparateur de colonnes non reconnu (attendu « ; », « , » ou tabulation).")
    return header, rows


def _xlsx_rows(path: Path, sheet: str | None) -> tuple[list[str], list[tuple[int, list[str]]]]:
    import zipfile

    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise InvalidInput(f"{path.name} n'est pas un classeur XLSX lisible ({exc.__class__.__name__}) : fichier tronqué ou d'un autre format ?") from exc
    try:
        if sheet is not None and sheet not in workbook.sheetnames:
            raise InvalidInput(f"{path.name} : feuille « {sheet} » absente (feuilles : {', '.join(workbook.sheetnames)}).")
        ws = workbook[sheet] if sheet else workbook.worksheets[0]
        rows = []
        header: list[str] | None = None
        for line, row in enumerate(ws.iter_rows(min_row=1, values_only=True), start=1):
            values = [_cell_text(v) for v in row]
            while values and values[-1] == "":
                values.pop()
            if header is None:
                if not values:
                    continue
                header = [v.strip() for v in values]
                continue
            rows.append((line, values))
    finally:
        workbook.close()
    if header is None:
        raise InvalidInput(f"{path.name} : feuille vide.")
    return header, rows


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def xlsx_sheet_names(path: Path) -> list[str]:
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True)
    try:
        return list(workbook.sheetnames)
    finally:
        workbook.close()


# ---------------------------------------------------------------------------------------------
# Polygon files keyed by an identifier (GeoJSON or GeoPackage)


@dataclass
class KeyedPolygon:
    number: int  # feature number in the file (1-based), for messages
    key: str
    mode: str  # include | exclude
    label: str | None
    geometry: dict  # GeoJSON, WGS84


MODES = {"include": "include", "inclure": "include", "inclus": "include", "": "include",
         "exclude": "exclude", "exclure": "exclude", "exclus": "exclude"}


def read_polygons(path: Path, *, key_columns: tuple[str, ...], report: ProblemLog,
                  layer: str | None = None) -> dict[str, list[KeyedPolygon]]:
    """Features of a GeoJSON or GeoPackage file grouped by identifier (`key_columns`, first
    found). Reprojected to WGS84; a file without a CRS is refused (GeoJSON is WGS84 by
    definition). Each bad feature is reported with its number."""
    from shapely.geometry import mapping

    from app.geometry import as_multipolygon
    from app.exchange.gis_files import read_file

    if not path.exists():
        raise InvalidInput(f"Fichier de polygones introuvable : {path}")
    gdf = read_file(path, layer=layer)
    if gdf.empty:
        raise InvalidInput(f"Fichier de polygones {path.name} vide.")
    if gdf.crs is None:
        raise InvalidInput(f"{path.name} ne déclare pas de système de coordonnées (attendu : WGS84 ou Lambert-93 déclaré).")
    if gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(4326)
    lower = {c.lower(): c for c in gdf.columns}
    key_col = next((lower[k] for k in key_columns if k in lower), None)
    if key_col is None:
        raise InvalidInput(f"{path.name} : propriété d'identifiant absente (attendu : {', '.join(key_columns)}).")
    mode_col, label_col = lower.get("mode"), lower.get("libelle") or lower.get("label")
    out: dict[str, list[KeyedPolygon]] = {}
    for number, row in enumerate(gdf.itertuples(index=False), start=1):
        record = row._asdict()
        key = str(record.get(key_col) or "").strip()
        if not key or key == "nan":
            report.reject(number, f"{path.name} · {key_col}", f"polygone n° {number} sans identifiant")
            continue
        raw_mode = str(record.get(mode_col) or "").strip().lower() if mode_col else ""
        mode = MODES.get(raw_mode)
        if mode is None:
            report.reject(number, f"{path.name} · mode", f"polygone n° {number} ({key}) : mode « {raw_mode} » (inclure ou exclure)")
            continue
        try:
            geom = as_multipolygon(record["geometry"], what=f"polygone n° {number} ({key})")
        except MaillageError as exc:
            report.reject(number, f"{path.name} · geometry", exc.message)
            continue
        if record["geometry"] is not None and not record["geometry"].is_valid:
            report.warn(number, f"{path.name} · geometry", f"polygone n° {number} ({key}) invalide, réparé")
        label = str(record.get(label_col) or "").strip() if label_col else ""
        out.setdefault(key, []).append(KeyedPolygon(number, key, mode, label if label and label != "nan" else None,
                                                    mapping(geom)))
    return out


def write_polygons(path: Path, features: list[dict]) -> None:
    """GeoJSON FeatureCollection (RFC 7946, WGS84), written with the json module: pyogrio's
    bundled GDAL must not write in a process that has SpatiaLite loaded (see
    docs/decisions/0001-one-sqlite-one-proj.md)."""
    import json

    collection = {"type": "FeatureCollection", "features": features}
    path.write_text(json.dumps(collection, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
