"""The annotated file: a workbook (openpyxl write-only, rows streamed) or CSV files, and an
optional GeoPackage of the points.

- "Logements": one row per input row — its line, identifier and groups, the address retained, the
  geocoding level and score, "à confirmer" and why, then per kind the covering partner(s) (name,
  phone, e-mail, the part that matched) and, for psychiatric sectors, the sector's CMP;
- "À vérifier": rows not found, ambiguous, empty or placed at the commune only, with their
  candidates, for the landlord to fix and send again;
- "Synthèse": per commune and per group, the dwellings per partner of each kind, the dwellings
  without one and, among those, where the kind was never inventoried; the dwellings per partner.

CSV: `FILE.csv` (Logements), `FILE-a-verifier.csv`, `FILE-synthese.csv`; `;`, UTF-8 with BOM,
decimal commas, and no cell a spreadsheet would run as a formula (= + - @ neutralised). Files are
written beside their final name and moved there at the end: an error leaves no partial output.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

from app.annotate.reading import Columns, SourceFile
from app.vocabulary import GEOCODING_LEVEL_LABELS

STATUS_LABELS = {"found": "trouvée", "ambiguous": "ambiguë", "not_found": "non trouvée", "empty": "vide",
                 "invalid": "illisible"}
KIND_STATE_LABELS = {"none": "aucune offre", "outside": "hors du territoire de la base",
                     "restricted": "réservé à d'autres bailleurs"}
SECTOR_KINDS = ("secteur_psy_adulte", "secteur_psy_infanto")
MAX_CANDIDATES = 5
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """A text a spreadsheet would take for a formula (= + - @, tab, carriage return first) gets a
    leading apostrophe: shown as text, never run. Numbers are left alone."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def french_number(value, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}".replace(".", ",")


def _km(metres) -> str:
    if metres is None:
        return ""
    return f"à {metres} m" if metres < 1000 else f"à {french_number(metres / 1000, 1)} km"


def _contact(card: dict, what: str) -> str:
    """The partner's first phone or e-mail: its functional contacts first, then its sites'."""
    for item in (card.get("contacts") or []) + (card.get("sites") or []):
        if item.get(what):
            return item[what]
    return ""


def _part(item: dict) -> str:
    part = item.get("matched_part")
    if part:
        return part["label"] if part["type"] != "territoire" else f"{part['level_label']} : {part['label']}"
    return _km(item.get("distance_m"))


def _cmp(answer: dict, kind_code: str) -> str:
    out = []
    for c in answer.get("competent_cmp") or []:
        if c["sector"]["kind"] != kind_code:
            continue
        site = c["site"]
        place = " ".join(v for v in (site.get("address"), site.get("postcode"), site.get("city")) if v)
        out.append(", ".join(v for v in (site.get("name"), place, site.get("phone")) if v))
    return " ; ".join(out)


def kind_cells(answer: dict | None, kind) -> list[str]:
    """Per kind: partner(s), phone(s), e-mail(s), part matched [, the sector's CMP]."""
    width = 5 if kind.code in SECTOR_KINDS else 4
    if answer is None:
        return [""] * width
    entry = next((e for e in answer["kinds"] if e["kind"] == kind.code), None)
    if entry is None:
        return [""] * width
    partners = entry.get("partners") or []
    if partners:
        names = []
        for item in partners:
            name = item["partner"]["name"]
            if item.get("restriction"):
                name += f" ({item['restriction']['message']})"
            names.append(name)
        cells = [" ; ".join(names), " ; ".join(_contact(i["partner"], "phone") for i in partners),
                 " ; ".join(_contact(i["partner"], "email") for i in partners), " ; ".join(_part(i) for i in partners)]
        confirm = entry.get("to_confirm")
        if confirm:
            others = ", ".join(a["partner"]["name"] for a in confirm["alternatives"])
            cells[0] += " (à confirmer" + (f" ; autre possible : {others}" if others else "") + ")"
    else:
        state = entry.get("message") or KIND_STATE_LABELS.get(entry["status"], entry["status"])
        confirm = entry.get("to_confirm")
        if confirm and confirm["alternatives"]:
            state += " (à confirmer ; possible : " + ", ".join(a["partner"]["name"] for a in confirm["alternatives"]) + ")"
        cells = [state, "", "", ""]
    if width == 5:
        cells.append(_cmp(answer, kind.code))
    return cells


def kind_headers(kind) -> list[str]:
    label = kind.short_label
    out = [f"{label} : structures", f"{label} : téléphone", f"{label} : courriel", f"{label} : partie couvrante"
           if kind.mode == "territorial" else f"{label} : distance"]
    if kind.code in SECTOR_KINDS:
        out.append(f"{label} : CMP du secteur")
    return out


class Summary:
    """Counts per commune and per group value: dwellings, located, to confirm; per kind the
    dwellings per partner, without any, and among those never inventoried."""

    def __init__(self, kinds, group_names: tuple[str, ...]):
        self.kinds = kinds
        self.group_names = group_names
        self.cells: dict[tuple[str, str], dict] = {}
        self.totals = Counter()

    def _cell(self, dimension: str, value: str) -> dict:
        key = (dimension, value)
        cell = self.cells.get(key)
        if cell is None:
            cell = self.cells[key] = {"rows": 0, "located": 0, "to_confirm": 0,
                                      "partners": defaultdict(Counter), "missing": Counter(),
                                      "not_inventoried": Counter()}
        return cell

    def add(self, row, to_confirm: bool) -> None:
        self.totals["rows"] += 1
        self.totals[row.status] += 1
        if to_confirm:
            self.totals["to_confirm"] += 1
        commune = "(non localisé)"
        if row.answer is not None:
            units = row.answer["territory"]["units"]
            commune = next((f"{u['name']} ({u['code'].split(':', 1)[1]})" for u in units
                            if u["level"] in ("arrondissement", "commune")), "(hors référentiel)")
        keys = [("Ensemble", "Tous les logements"), ("Commune", commune)]
        keys += [(name, value or "(vide)") for name, value in zip(self.group_names, row.groups)]
        entries = {e["kind"]: e for e in row.answer["kinds"]} if row.answer is not None else {}
        for dimension, value in keys:
            cell = self._cell(dimension, value)
            cell["rows"] += 1
            if row.answer is None:
                continue
            cell["located"] += 1
            cell["to_confirm"] += to_confirm
            for kind in self.kinds:
                entry = entries.get(kind.code)
                if entry is None:
                    continue
                if entry.get("partners"):
                    for item in entry["partners"]:
                        cell["partners"][kind.code][item["partner"]["name"]] += 1
                else:
                    cell["missing"][kind.code] += 1
                    if (entry.get("inventory") or {}).get("status") != "inventorie":
                        cell["not_inventoried"][kind.code] += 1

    def header(self) -> list[str]:
        out = ["Regroupement", "Valeur", "Logements", "Localisés", "À confirmer"]
        for kind in self.kinds:
            out += [f"{kind.short_label} : logements par structure", f"{kind.short_label} : sans structure",
                    f"{kind.short_label} : dont jamais inventorié"]
        return out

    def table(self) -> list[list]:
        order = {"Ensemble": 0, "Commune": 1, **{g: 2 + i for i, g in enumerate(self.group_names)}}
        out = []
        for (dimension, value) in sorted(self.cells, key=lambda k: (order[k[0]], k[1])):
            cell = self.cells[(dimension, value)]
            line = [dimension, value, cell["rows"], cell["located"], cell["to_confirm"]]
            for kind in self.kinds:
                counts = cell["partners"].get(kind.code) or {}
                line += [" ; ".join(f"{name} ({n})" for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))),
                         cell["missing"][kind.code], cell["not_inventoried"][kind.code]]
            out.append(line)
        return out

    def by_partner(self) -> list[list]:
        cell = self.cells.get(("Ensemble", "Tous les logements"))
        out = []
        if cell is None:
            return out
        for kind in self.kinds:
            for name, n in sorted((cell["partners"].get(kind.code) or {}).items(), key=lambda kv: (-kv[1], kv[0])):
                out.append([kind.label, name, n])
            if cell["missing"][kind.code]:
                out.append([kind.label, "(aucune structure)", cell["missing"][kind.code]])
        return out

    def counts(self) -> dict:
        return {"rows": self.totals["rows"], "found": self.totals["found"], "to_confirm": self.totals["to_confirm"],
                "ambiguous": self.totals["ambiguous"], "not_found": self.totals["not_found"],
                "empty": self.totals["empty"] + self.totals["invalid"]}


class Writer:
    """Streams rows into the output; `close` writes the summary and moves the files into place,
    `abort` removes everything written."""

    def __init__(self, out: Path, suffix: str, kinds, source: SourceFile, columns: Columns, options, *,
                 gpkg: Path | None = None):
        self.out, self.suffix, self.kinds, self.source, self.columns = out, suffix, kinds, source, columns
        self.options = options
        self.gpkg = gpkg
        self.summary = Summary(kinds, columns.groups)
        self.tmpdir = Path(tempfile.mkdtemp(prefix=".maillage-annotate-", dir=out.parent if out.parent.exists() else None))
        head = ["Ligne"] + (["Identifiant"] if columns.id else []) + list(columns.groups)
        self.main_header = head + ["Adresse du fichier", "Adresse retenue", "Résultat", "Précision", "Score",
                                   "À confirmer", "Commune", "Code INSEE"]
        for kind in kinds:
            self.main_header += kind_headers(kind)
        self.main_header += ["Longitude", "Latitude"]
        self.check_header = head + ["Adresse du fichier", "Problème"]
        for i in range(1, MAX_CANDIDATES + 1):
            self.check_header += [f"Proposition {i}", f"Précision {i}", f"Score {i}"]
        self.points = None
        self._bold = None
        if gpkg is not None:
            self.points = (self.tmpdir / "points.geojson").open("w", encoding="utf-8")
            self.points.write('{"type": "FeatureCollection", "features": [\n')
            self.first_point = True
        if suffix == ".xlsx":
            from openpyxl import Workbook

            self.wb = Workbook(write_only=True)
            self.ws_summary = self.wb.create_sheet("Synthèse")
            self.ws_main = self.wb.create_sheet("Logements")
            self.ws_check = self.wb.create_sheet("À vérifier")
            self._append(self.ws_main, self.main_header, header=True)
            self._append(self.ws_check, self.check_header, header=True)
            self.ws_main.freeze_panes = "B2"
        else:
            self.files = {name: (self.tmpdir / f"{name}.csv").open("w", encoding="utf-8-sig", newline="")
                          for name in ("main", "check", "summary")}
            self.csv = {name: csv.writer(fh, delimiter=";") for name, fh in self.files.items()}
            self.csv["main"].writerow([safe_cell(h) for h in self.main_header])
            self.csv["check"].writerow([safe_cell(h) for h in self.check_header])

    # ----------------------------------------------------------------------------------- rows

    def _append(self, ws, values, *, header: bool = False, formats: dict | None = None) -> None:
        """One row: plain values (an empty text is no cell at all); a cell object only where it
        needs a style, a number format, or to stay text although it starts with "="."""
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font

        cells = []
        for i, value in enumerate(values):
            if value == "":
                value = None
            if header or (formats and i in formats and value is not None) or \
                    (isinstance(value, str) and value.startswith("=")):
                cell = WriteOnlyCell(ws, value=value)
                if isinstance(value, str) and value.startswith("="):
                    cell.data_type = "s"  # text, never a formula
                if header:
                    cell.font = self._bold or Font(bold=True)
                elif formats and i in formats:
                    cell.number_format = formats[i]
                cells.append(cell)
            else:
                cells.append(value)
        ws.append(cells)

    def row_cells(self, row) -> tuple[list, list]:
        """The row's "Logements" cells (values as the workbook holds them) and its leading cells
        (line, identifier, groups)."""
        reasons = row.to_confirm
        head = [row.line] + ([row.ident] if self.columns.id else []) + list(row.groups)
        best = row.best
        answer = row.answer
        commune = ""
        if answer is not None:
            units = answer["territory"]["units"]
            commune = next((u["name"] for u in units if u["level"] in ("arrondissement", "commune")), "")
        main = head + [row.address, best.label if best else "",
                       ("à confirmer" if reasons else STATUS_LABELS["found"]) if row.status == "found"
                       else STATUS_LABELS[row.status],
                       GEOCODING_LEVEL_LABELS[best.level] if best else "",
                       round(best.score, 2) if best else None,
                       "oui : " + " ; ".join(reasons) if reasons else ("non" if best else ""),
                       commune, best.code_insee if best and best.code_insee else ""]
        for kind in self.kinds:
            main += kind_cells(answer, kind)
        main += [round(best.lon, 6) if best else None, round(best.lat, 6) if best else None]
        return main, head

    def add(self, row) -> None:
        self.summary.add(row, bool(row.to_confirm))
        main, head = self.row_cells(row)
        best = row.best
        score_at = len(head) + 4
        if self.suffix == ".xlsx":
            self._append(self.ws_main, main, formats={score_at: "0.00"})
        else:
            cells = list(main)
            cells[score_at] = french_number(cells[score_at])
            cells[-2:] = [french_number(v, 6) for v in cells[-2:]]
            self.csv["main"].writerow([safe_cell(v) for v in cells])
        if row.needs_fixing:
            check = head + [row.address, row.message or ("Position approchée à la commune : préciser la voie et le numéro."
                                                         if best is not None else "")]
            for c in row.candidates[:MAX_CANDIDATES]:
                check += [c.label, GEOCODING_LEVEL_LABELS[c.level], round(c.score, 2)]
            if self.suffix == ".xlsx":
                self._append(self.ws_check, check, formats={len(head) + 4 + 3 * i: "0.00" for i in range(MAX_CANDIDATES)})
            else:
                for i in range(MAX_CANDIDATES):
                    at = len(head) + 4 + 3 * i
                    if at < len(check):
                        check[at] = french_number(check[at])
                self.csv["check"].writerow([safe_cell(v) for v in check])
        if self.points is not None and best is not None:
            props = {h: v for h, v in zip(self.main_header, main) if h not in ("Longitude", "Latitude")}
            feature = {"type": "Feature", "properties": props,
                       "geometry": {"type": "Point", "coordinates": [best.lon, best.lat]}}
            self.points.write(("" if self.first_point else ",\n") + json.dumps(feature, ensure_ascii=False))
            self.first_point = False

    # ----------------------------------------------------------------------------------- end

    def _summary_rows(self) -> list[list]:
        counts = self.summary.counts()
        kinds = ", ".join(k.short_label for k in self.kinds)
        intro = [
            ["Annotation du fichier", self.source.name],
            ["Lu comme", self.source.describe()],
            ["Colonnes utilisées", " ; ".join(f"{role} : {name}" for role, name in self.columns.describe())],
            ["Date des réponses", self.options.as_of.strftime("%d/%m/%Y")],
            ["Bailleur", self.options.landlord or "non précisé"],
            ["Types de partenaires", kinds],
            ["Produit le", dt.datetime.now().strftime("%d/%m/%Y %H:%M")],
            ["Lignes", counts["rows"]],
            ["Adresses trouvées", counts["found"]],
            ["dont à confirmer", counts["to_confirm"]],
            ["Adresses ambiguës", counts["ambiguous"]],
            ["Adresses non trouvées", counts["not_found"]],
            ["Lignes sans adresse lisible", counts["empty"]],
            [],
        ]
        return intro

    def close(self) -> dict:
        intro = self._summary_rows()
        final: list[Path] = []
        if self.suffix == ".xlsx":
            for line in intro:
                self._append(self.ws_summary, line)
            self._append(self.ws_summary, ["Logements par structure"], header=True)
            self._append(self.ws_summary, ["Type", "Structure", "Logements"], header=True)
            for line in self.summary.by_partner():
                self._append(self.ws_summary, line)
            self._append(self.ws_summary, [])
            self._append(self.ws_summary, ["Par commune et par regroupement"], header=True)
            self._append(self.ws_summary, self.summary.header(), header=True)
            for line in self.summary.table():
                self._append(self.ws_summary, line)
            part = self.tmpdir / "out.xlsx"
            self.wb.save(part)
            moves = [(part, self.out)]
        else:
            writer = self.csv["summary"]
            for line in intro:
                writer.writerow([safe_cell(v) for v in line])
            writer.writerow(["Logements par structure"])
            writer.writerow(["Type", "Structure", "Logements"])
            for line in self.summary.by_partner():
                writer.writerow([safe_cell(v) for v in line])
            writer.writerow([])
            writer.writerow(["Par commune et par regroupement"])
            writer.writerow(self.summary.header())
            for line in self.summary.table():
                writer.writerow([safe_cell(v) for v in line])
            for fh in self.files.values():
                fh.close()
            stem = self.out.with_suffix("")
            moves = [(self.tmpdir / "main.csv", self.out),
                     (self.tmpdir / "check.csv", Path(f"{stem}-a-verifier.csv")),
                     (self.tmpdir / "summary.csv", Path(f"{stem}-synthese.csv"))]
        if self.points is not None:
            from app.exchange.gis_files import geojson_to_gpkg

            self.points.write("\n]}\n")
            self.points.close()
            part = self.tmpdir / "points.gpkg"
            geojson_to_gpkg(self.tmpdir / "points.geojson", part, layer="logements")
            moves.append((part, self.gpkg))
        for src, dst in moves:
            os.replace(src, dst)
            final.append(dst)
        self._cleanup()
        return {**self.summary.counts(), "files": final}

    def abort(self) -> None:
        if self.suffix == ".xlsx":
            for ws in self.wb.worksheets:  # openpyxl's temporary files of the rows written so far
                try:
                    if not ws.closed:
                        ws.close()
                    if ws._writer is not None:
                        ws._writer.cleanup()
                except (OSError, ValueError):
                    pass
        else:
            for fh in self.files.values():
                fh.close()
        if self.points is not None and not self.points.closed:
            self.points.close()
        self._cleanup()

    def _cleanup(self) -> None:
        import shutil

        shutil.rmtree(self.tmpdir, ignore_errors=True)
