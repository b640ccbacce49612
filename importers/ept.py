"""Membership of the établissements publics territoriaux (EPT) of the Métropole du Grand Paris.

In Île-de-France planners work by EPT (Est Ensemble, Plaine Commune, Paris Terres d'Envol…), a
level between the commune and the Métropole, which is the EPCI of every commune of 92, 93, 94
(and Paris). Two layouts are read:

- INSEE's official composition file of the EPT ("Composition communale des établissements publics
  territoriaux", published beside the EPCI tables), XLSX or CSV: columns `CODGEO`, `EPT`, `LIBEPT`
  (`LIBGEO`, `DEP`, `REG` are ignored); in the XLSX the header sits under a few lines of title, on the
  sheet `Composition_communale` when there is one;
- a commune table carrying `code_insee`, `ept_siren`, `ept_nom` (as communes-france-2026.csv), where a
  commune outside any EPT has both cells empty.

Only communes already in the reference are updated; in every département the file speaks of, a
loaded commune it does not place in an EPT has none. Partners whose coverage names an EPT whose
membership moved are recompiled.

`maillage import ept FILE`
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from sqlalchemy import select, update

from app import territories
from app.french import date as french_date, plural
from app.errors import InvalidInput
from app.models import Territory
from app.partners import coverage
from importers.base import Report, UnitBatch

NAME = "ept"
DESCRIPTION = ("Établissements publics territoriaux du Grand Paris (fichier INSEE CODGEO, EPT, LIBEPT, "
               "ou CSV code_insee, ept_siren, ept_nom)")
FILES = "one"
OPTIONS = ()

# (code, siren, name) column names of each accepted layout
LAYOUTS = (("CODGEO", "EPT", "LIBEPT"), ("code_insee", "ept_siren", "ept_nom"))
SHEET = "Composition_communale"
MAX_TITLE_LINES = 20  # INSEE's workbooks put a few lines of title above the header


def _header_index(rows: list[list[str]]) -> tuple[int, tuple[str, str, str]]:
    for index, row in enumerate(rows[:MAX_TITLE_LINES]):
        cells = [c.strip() for c in row]
        for layout in LAYOUTS:
            if all(col in cells for col in layout):
                return index, layout
    raise InvalidInput("Colonnes introuvables : attendu le fichier INSEE des EPT (CODGEO, EPT, LIBEPT) ou un CSV "
                       "code_insee, ept_siren, ept_nom.")


def _rows(path: Path) -> list[list[str]]:
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        import zipfile

        from openpyxl import load_workbook

        from app.exchange.tables import _cell_text

        try:
            workbook = load_workbook(path, read_only=True, data_only=True)
        except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
            raise InvalidInput(f"{path.name} n'est pas un classeur XLSX lisible : fichier tronqué ou d'un autre "
                               "format ?") from exc
        try:
            sheet = workbook[SHEET] if SHEET in workbook.sheetnames else workbook.worksheets[0]
            return [[_cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        finally:
            workbook.close()
    if suffix not in (".csv", ".txt"):
        raise InvalidInput(f"{path.name} : extension inconnue ; fichier .csv ou .xlsx attendu.")
    from app.exchange.text_files import read_text

    text = read_text(path)
    first = text.split("\n", 1)[0]
    delimiter = max((";", ",", "\t"), key=first.count)
    try:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise InvalidInput(f"{path.name} : CSV mal formé ({exc}).") from exc


def read(path, *, report: Report, session=None, **_) -> UnitBatch:
    if path is None:
        raise InvalidInput("Fichier des EPT manquant.")
    path = Path(path)
    if not path.exists():
        raise InvalidInput(f"Fichier introuvable : {path}")
    rows = _rows(path)
    start, layout = _header_index(rows)
    header = [c.strip() for c in rows[start]]
    at = [header.index(col) for col in layout]
    units, groups, seen = [], set(), {}
    for line, values in enumerate(rows[start + 1:], start=start + 2):
        if not any(v.strip() for v in values):
            continue
        code, siren, name = ((values[i].strip() if i < len(values) else "") for i in at)
        report.rows_read += 1
        code = code.upper()
        if not territories.PATTERNS["commune"].match(code):
            report.reject(line, layout[0], f"code commune invalide « {code[:20]} »")
            continue
        if code in seen:
            report.reject(line, layout[0], f"commune:{code} en double (ligne {seen[code]})")
            continue
        seen[code] = line
        if siren and not territories.PATTERNS["ept"].match(siren):
            report.reject(line, layout[1], f"SIREN d'EPT invalide « {siren[:20]} » (9 chiffres attendus)")
            continue
        if siren and not name:
            report.reject(line, layout[2], f"nom de l'EPT {siren} vide")
            continue
        units.append({"line": line, "code": code, "ept": siren or None,
                      "departement": territories.departement_of(code)})
        if siren:
            groups.add(("ept", siren, name))
    names: dict[str, str] = {}
    for _level, siren, name in sorted(groups):
        if names.setdefault(siren, name) != name:
            report.reject(None, layout[2], f"EPT {siren} nommé « {names[siren]} » et « {name} »")
    if not units and report.ok:
        report.reject(None, layout[0], "aucune commune dans le fichier")
    return UnitBatch(units, groups=sorted(groups), source=path.name)


def load(session, batch: UnitBatch, *, report: Report, progress=None, **_) -> None:
    territories.upsert_groups(session, batch.groups)
    in_file = {row["code"]: row for row in batch.rows}
    departements = {row["departement"] for row in batch.rows}
    affected: set[str] = set()
    for unit in session.scalars(select(Territory).where(Territory.level == "commune",
                                                        Territory.departement.in_(sorted(departements)))):
        row = in_file.get(unit.code)
        if row is None:
            # a commune merged away since the reference was loaded (Pierrefitte-sur-Seine into
            # Saint-Denis, 2025) belongs to its successor's EPT
            found = [s for s in territories.successors(territories.TypedCode("commune", unit.code))
                     if s["code"].split(":")[1] in in_file]
            if found:
                row = in_file[found[0]["code"].split(":")[1]]
                if row["ept"]:
                    report.warn(None, None, f"commune:{unit.code} ({unit.name}) absente du fichier ({found[0]['event']} "
                                            f"le {french_date(found[0]['date'])} dans {found[0]['code']}, "
                                            f"{found[0]['name']}) : rattachée à l'EPT de {found[0]['name']}")
        ept = row["ept"] if row else None
        if unit.ept == ept:
            report.count("unchanged")
        else:
            for value in (unit.ept, ept):
                if value:
                    affected.add(f"ept:{value}")
            session.execute(update(Territory).where(Territory.id == unit.id).values(ept=ept))
            report.count("updated")
        if progress:
            progress(1)
    loaded = set(session.scalars(select(Territory.code).where(Territory.level == "commune",
                                                              Territory.code.in_(sorted(in_file)))))
    absent = [row for code, row in sorted(in_file.items()) if code not in loaded and row["ept"]]
    if absent:
        report.warn(None, None, f"{plural(len(absent), 'commune', 'communes')} d'un EPT hors du référentiel chargé, "
                                "ignorées : " + ", ".join(f"commune:{r['code']}" for r in absent[:10])
                                + (" …" if len(absent) > 10 else ""))
    session.flush()
    report.recompiled = coverage.recompile_for_codes(session, affected)
