"""Gap analysis outputs: CSV, XLSX workbook, GeoJSON and GeoPackage layers, and an HTML report
with maps and charts that prints well (and its PDF). Everything is built from one GapMatrix;
nothing is written unless the whole analysis succeeded."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely

from app import french
from app.gaps import (GROUPING_LABELS, METHOD, GapMatrix, KindResult, group_summaries, kind_summary, places_by_group,
                      share_label, shares_list, state)
from app.gaps.demand import shown as demand_shown
from app.maps import DISPLAY_TOLERANCE, rounded
from app.vocabulary import INVENTORY_LABELS

FORMATS = ("csv", "xlsx", "geojson", "gpkg", "html", "pdf")
STATE_LABELS = {"ecart": "aucune offre", "couvert": "couvert", "partage": "partagée entre plusieurs partenaires",
                "chevauchement": "plusieurs partenaires", "non_inventorie": "non inventorié"}
CREDIT = "Données de référence IGN, INSEE, BAN, FINESS — Licence Ouverte 2.0"
MODE_LABELS = {"territorial": "zone de compétence", "proximity": "proximité (distance au site)"}
METHOD_LABELS = {"couverture": "Couverture", "partenaires": "Partenaires d'une commune", "distance": "Distance",
                 "places": "Places", "dac": "Population d'un DAC", "inventaire": "Inventaire",
                 "demande": "Demandes non couvertes"}
LEVEL_NAMES = {"commune": "commune", "epci": "EPCI", "departement": "département", "ept": "EPT"}
# GeoPackage layers (docs/gaps.md)
LAYERS = ("communes", "zones_partenaires", "sites")


@dataclass
class Column:
    """A column as a person reads it: its French header and how its values are written (`text`,
    `int`, `decimal` (one decimal), `percent` (a share 0–1), `km` (metres shown in km), `date`)."""

    header: str
    kind: str = "text"


@dataclass
class ExportContext:
    """What the outputs read from the database beside the matrix: the sources, the names of the
    départements and EPCI of the units, the kinds' short labels, and for the GeoPackage the
    partners' zones and the sites of the territory."""

    sources: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)  # typed code -> name
    short_labels: dict[str, str] = field(default_factory=dict)  # kind code -> short label
    zones: list[dict] = field(default_factory=list)  # Partenaire, Type, geometry
    sites: list[dict] = field(default_factory=list)  # Site, Partenaire, Type, …, geometry

    def short(self, kind: KindResult) -> str:
        return self.short_labels.get(kind.code) or kind.label

    def name(self, level: str, code: str | None) -> str | None:
        return self.names.get(f"{level}:{code}") if code else None


def context(session, matrix: GapMatrix, formats=FORMATS) -> ExportContext:
    """The ExportContext of a matrix (in the session that computed it)."""
    from sqlalchemy import select

    from app import gaps, territories
    from app.models import Kind

    codes = sorted({f"{level}:{getattr(u, level)}" for u in matrix.units for level in ("departement", "epci", "ept")
                    if getattr(u, level)})
    ctx = ExportContext(gaps.sources(session), territories.unit_names(session, codes) if codes else {},
                        dict(session.execute(select(Kind.code, Kind.short_label)).all()))
    if "gpkg" in formats:
        ctx.zones, ctx.sites = _layers(session, matrix, ctx)
    return ctx


def _layers(session, matrix: GapMatrix, ctx: ExportContext) -> tuple[list[dict], list[dict]]:
    """The zones of the partners listed for the units (each territorial kind) and the sites in
    service at the date lying in the territory (every kind analysed)."""
    from sqlalchemy import select

    from app import dialects, gaps
    from app.models import Partner, Site

    bounds = shapely.total_bounds([u.shape for u in matrix.units])
    zones = []
    for kind in matrix.kinds:
        if kind.counts is None:
            continue
        listed = {name for shares in kind.shares for name, _ in shares.partners}
        holding = {}
        for names in kind.partners:
            for name in names:
                holding[name] = holding.get(name, 0) + 1
        for name, area, _ in gaps.coverage_areas(session, kind.code, bounds, matrix.as_of, matrix.age):
            if name in listed:
                zones.append({"Partenaire": name, "Type": kind.label, "Sigle du type": ctx.short(kind),
                              "Communes comptées": holding.get(name, 0), "geometry": area})
    labels = {k.code: k for k in matrix.kinds}
    rows = list(gaps.active_rows(session, (
        select(Partner.name.label("partner"), Partner.kind_code, Partner.status, Partner.valid_from, Partner.valid_to,
               Partner.capacity, Site.name, Site.address, Site.postcode, Site.city, Site.phone, Site.opening_hours,
               Site.capacity.label("site_capacity"), Site.geom.ST_AsBinary().label("geom"))
        .select_from(Site).join(Partner, Partner.id == Site.partner_id)
        .where(Partner.kind_code.in_(list(labels)), Site.geom.is_not(None), dialects.box_meets(Site.geom, *bounds),
               *gaps.age_filter(matrix.age))
        .order_by(Partner.kind_code, Partner.name, Site.position)), matrix.as_of))
    sites = []
    if rows:
        tree = shapely.STRtree([u.shape for u in matrix.units])
        points = shapely.from_wkb([bytes(r.geom) for r in rows])
        for row, point in zip(rows, points):
            hits = tree.query(point, predicate="within")
            if len(hits) == 0:
                continue
            unit = matrix.units[int(hits[0])]
            kind = labels[row.kind_code]
            sites.append({"Site": row.name, "Partenaire": row.partner, "Type": kind.label,
                          "Sigle du type": ctx.short(kind), "Adresse": row.address or None,
                          "Code postal": row.postcode, "Ville": row.city, "Code commune": _bare(unit.code),
                          "Commune": unit.name, "Téléphone": row.phone, "Horaires": row.opening_hours,
                          "Places": row.site_capacity if row.site_capacity is not None else row.capacity,
                          "geometry": point})
    return zones, sites


def _bare(typed: str) -> str:
    """93010 from commune:93010 (the code a spreadsheet or a GIS joins on)."""
    return typed.split(":", 1)[1]


def state_label(kind: KindResult, index: int) -> str:
    key = state(kind, index)
    if key == "partage":
        return f"partagée entre {len(kind.shares[index].partners)} partenaires"
    return STATE_LABELS[key]


def partners_label(kind: KindResult, index: int) -> str:
    """Every partner covering a real part of the unit, with its share of the unit's area."""
    return share_label(kind.shares[index].partners)


def _iris(matrix: GapMatrix) -> bool:
    return any(u.code.startswith("iris:") for u in matrix.units)


def unit_table(matrix: GapMatrix, ctx: ExportContext | None = None) -> tuple[list[Column], list[list]]:
    """One row per unit: its code beside its name, its département and EPCI (code and name), and per
    kind its figures. Values are raw (numbers, shares 0–1, metres); `Column.kind` says how to
    write them."""
    ctx = ctx or ExportContext()
    iris = _iris(matrix)
    columns = [Column("Code IRIS" if iris else "Code commune"), Column("IRIS" if iris else "Commune"),
               Column("Population", "int"), Column("Code département"), Column("Département"),
               Column("Code EPCI"), Column("EPCI")]
    ept = any(u.ept for u in matrix.units)  # the établissements publics territoriaux of the Grand Paris
    if ept:
        columns += [Column("Code EPT"), Column("EPT")]
    for kind in matrix.kinds:
        short = ctx.short(kind)
        if kind.counts is not None:
            columns += [Column(f"{short} : nombre de partenaires", "int"), Column(f"{short} : état"),
                        Column(f"{short} : partenaires et part de la surface"), Column(f"{short} : inventaire")]
            if kind.demand is not None:
                columns.append(Column(f"{short} : demandes non couvertes (52 semaines)", "int"))
        else:
            columns += [Column(f"{short} : distance au site le plus proche (km)", "km"),
                        Column(f"{short} : site le plus proche")]
            if kind.places is not None:
                columns += [Column(f"{short} : places", "int"), Column(f"{short} : places pour 100 000 hab.", "decimal")]
    rows = []
    for i, unit in enumerate(matrix.units):
        row = [_bare(unit.code), unit.name, unit.population, unit.departement, ctx.name("departement", unit.departement),
               unit.epci, ctx.name("epci", unit.epci)]
        if ept:
            row += [unit.ept, ctx.name("ept", unit.ept)]
        for kind in matrix.kinds:
            if kind.counts is not None:
                row += [int(kind.counts[i]), state_label(kind, i), partners_label(kind, i) or None,
                        INVENTORY_LABELS[kind.inventory[i]]]
                if kind.demand is not None:
                    row.append(demand_shown(kind.demand[i]))
            else:
                d = kind.distance_m[i]
                row += [None if np.isnan(d) else int(d), kind.nearest[i] or None]
                if kind.places is not None:
                    places = float(kind.places[i])
                    rate = round(places / unit.population * 100_000, 1) if unit.population else None
                    row += [int(places), rate]
        rows.append(row)
    return columns, rows


def summaries(matrix: GapMatrix) -> list[dict]:
    return [kind_summary(matrix, kind) for kind in matrix.kinds]


# The summary of a kind (gaps.kind_summary) as columns: its key, header and how it is written.
SUMMARY_COLUMNS = (
    ("label", "Type", "text"),
    ("mode", "Mode de calcul", "text"),
    ("communes_couvertes", "Communes couvertes", "int"),
    ("part_communes_couvertes", "Part des communes couvertes", "percent"),
    ("communes_sans_offre", "Communes sans offre", "int"),
    ("communes_partagees", "Communes partagées entre plusieurs partenaires", "int"),
    ("communes_chevauchement", "Communes avec plusieurs partenaires (chevauchement)", "int"),
    ("communes_non_inventoriees", "Communes non inventoriées", "int"),
    ("population_couverte", "Population couverte", "int"),
    ("part_population_couverte", "Part de la population couverte", "percent"),
    ("distance_mediane_m", "Distance médiane au site le plus proche (km)", "km"),
    ("distance_max_m", "Distance maximale au site le plus proche (km)", "km"),
    ("distance_moyenne_ponderee_m", "Distance moyenne au site le plus proche, pondérée par la population (km)", "km"),
    ("places", "Places", "int"),
    ("places_pour_100k", "Places pour 100 000 hab.", "decimal"),
)


def summary_table(items: list[dict], columns: list[Column] | None = None) -> tuple[list[Column], list[list]]:
    """The kinds' summaries with French headers; a column only when some kind has a value in it
    (or the `columns` of an earlier call, to line up several tables)."""
    if columns is None:
        used = [(key, header, kind) for key, header, kind in SUMMARY_COLUMNS if any(key in item for item in items)]
    else:
        headers = {c.header for c in columns}
        used = [(key, header, kind) for key, header, kind in SUMMARY_COLUMNS if header in headers]
    rows = [[MODE_LABELS.get(item[key], item[key]) if key == "mode" else item.get(key) for key, _, _ in used]
            for item in items]
    return [Column(header, kind) for _, header, kind in used], rows


def funding_table(funding: list[dict]) -> tuple[list[Column], list[list]]:
    columns = [Column("Partenaire"), Column("Type"), Column("Financeurs"), Column("Fin du financement", "date"),
               Column("Fin dans l'année")]
    return columns, [[f["partenaire"], f["type"], f["financeurs"] or None, _as_date(f["fin_financement"]),
                      "oui" if f["fin_dans_l_annee"] else "non"] for f in funding]


def evolution_tables(comparison) -> tuple[tuple[list[Column], list[list]], tuple[list[Column], list[list]]]:
    from app.vocabulary import STATUS_LABELS

    a, b = french.date(comparison.date_a), french.date(comparison.date_b)
    partners = ([Column("Partenaire"), Column("Type"), Column(f"État au {a}"), Column(f"État au {b}"),
                 Column("Changement"), Column("Date du changement", "date")],
                [[p["name"], p["kind"], STATUS_LABELS.get(p["state_a"], p["state_a"]),
                  STATUS_LABELS.get(p["state_b"], p["state_b"]), p["change"], _as_date(p["date"])]
                 for p in comparison.partners])
    units = ([Column("Code commune"), Column("Commune"), Column("Type"), Column(f"Partenaires au {a}", "int"),
              Column(f"Partenaires au {b}", "int")],
             [[_bare(u["code"]), u["name"], u["kind"], u["count_a"], u["count_b"]] for u in comparison.units])
    return partners, units


def _as_date(value):
    if not value:
        return None
    return dt.date.fromisoformat(value[:10]) if isinstance(value, str) else value


def write(matrix: GapMatrix, out: Path, formats=FORMATS, *, context: ExportContext | None = None, progress=None,
          static_dir: Path | None = None, comparison=None) -> list[Path]:
    """Every output asked for, each named by territory and date (`download_name`):
    ecarts-departement-93-2026-12-01.xlsx, ….csv (the communes) and ….-types.csv beside it."""
    ctx = context or ExportContext()
    out.mkdir(parents=True, exist_ok=True)
    stem = download_name(matrix, "")[:-1]
    written = []
    columns, rows = unit_table(matrix, ctx)
    for fmt in formats:
        if fmt == "csv":
            written += [_csv(out / f"{stem}.csv", columns, rows),
                        _csv(out / f"{stem}-types.csv", *summary_table(summaries(matrix)))]
            if matrix.funding:
                written.append(_csv(out / f"{stem}-financements.csv", *funding_table(matrix.funding)))
            if comparison is not None:
                partners, units = evolution_tables(comparison)
                written += [_csv(out / f"{stem}-evolution-partenaires.csv", *partners),
                            _csv(out / f"{stem}-evolution-communes.csv", *units)]
        elif fmt == "xlsx":
            written.append(_xlsx(out / f"{stem}.xlsx", matrix, columns, rows, ctx, comparison))
        elif fmt == "geojson":
            path = out / f"{stem}.geojson"
            path.write_text(json.dumps(geojson(matrix, columns, rows, ctx), ensure_ascii=False), encoding="utf-8")
            written.append(path)
        elif fmt == "gpkg":
            written.append(_gpkg(out / f"{stem}.gpkg", matrix, columns, rows, ctx))
        elif fmt == "html":
            path = out / f"{stem}.html"
            path.write_text(report_html(matrix, ctx, comparison=comparison), encoding="utf-8")
            written.append(path)
        elif fmt == "pdf":
            written.append(_pdf(out / f"{stem}.pdf", report_html(matrix, ctx, for_pdf=True, comparison=comparison),
                                static_dir))
        if progress:
            progress(1)
    return written


def csv_value(value, kind: str = "text") -> str:
    """A value as a French spreadsheet reads it back as a number or a date: a decimal comma and no
    thousands separator (12345 ; 2,5), a percentage 45,3 %, a date 16/10/2026; "" for none."""
    if value is None:
        return ""
    if isinstance(value, str) and kind != "date":
        return value
    if kind == "int":
        return str(int(value))
    if kind == "decimal":
        return f"{float(value):.1f}".replace(".", ",")
    if kind == "percent":
        return f"{float(value) * 100:.1f}".replace(".", ",") + " %"
    if kind == "km":
        return f"{float(value) / 1000:.1f}".replace(".", ",")
    if kind == "date":
        return french.date(value)
    return str(value)


def csv_bytes(columns: list[Column], rows) -> bytes:
    """`;`-separated UTF-8 with a byte-order mark, as a French spreadsheet opens it."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, delimiter=";")
    writer.writerow([c.header for c in columns])
    writer.writerows([csv_value(v, c.kind) for v, c in zip(row, columns)] for row in rows)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def _csv(path: Path, columns, rows) -> Path:
    path.write_bytes(csv_bytes(columns, rows))
    return path


def geojson(matrix: GapMatrix, columns, rows, ctx: ExportContext | None = None,
            tolerance: float = DISPLAY_TOLERANCE) -> dict:
    """The table's rows as features (the same French names; numbers stay numbers, distances in
    km), plus per territorial kind `<sigle> : parts`: the partners covering a real part of the
    unit as a list of {partenaire, part} (a GeoPackage column cannot hold a list: there the
    « partenaires et part de la surface » text says the same)."""
    ctx = ctx or ExportContext()
    features = []
    territorial = [k for k in matrix.kinds if k.counts is not None]
    for i, (unit, row) in enumerate(zip(matrix.units, rows)):
        geom = rounded(unit.shape.simplify(tolerance, preserve_topology=True))
        properties = _properties(columns, row)
        for kind in territorial:
            properties[f"{ctx.short(kind)} : parts"] = shares_list(kind.shares[i].partners)
        features.append({"type": "Feature", "geometry": geom, "properties": properties})
    return {"type": "FeatureCollection", "features": features}


def _properties(columns: list[Column], row: list) -> dict:
    """A row as GIS attributes: numbers stay numbers, distances in km (one decimal)."""
    return {c.header: (round(v / 1000, 1) if c.kind == "km" and isinstance(v, (int, float)) else v)
            for c, v in zip(columns, row)}


def _gpkg(path: Path, matrix: GapMatrix, columns, rows, ctx: ExportContext) -> Path:
    """Three layers: `communes` (the table), `zones_partenaires` (the compiled zone of each partner
    listed for a commune) and `sites` (the sites in service in the territory); an empty layer is
    left out."""
    import geopandas as gpd

    from app.exchange.gis_files import write_gpkg

    communes = gpd.GeoDataFrame([_properties(columns, row) for row in rows], geometry=[u.shape for u in matrix.units],
                                crs=4326)
    write_gpkg(communes, path, layer="communes")
    for layer, items in (("zones_partenaires", ctx.zones), ("sites", ctx.sites)):
        if items:
            gdf = gpd.GeoDataFrame([{k: v for k, v in item.items() if k != "geometry"} for item in items],
                                   geometry=[item["geometry"] for item in items], crs=4326)
            write_gpkg(gdf, path, layer=layer, append=True)
    return path


# XLSX number formats (a French Excel or LibreOffice shows 12 345 ; 2,5 ; 45,3 % ; 16/10/2026)
XLSX_FORMATS = {"int": "#,##0", "decimal": "#,##0.0", "percent": "0.0 %", "km": "#,##0.0", "date": "dd/mm/yyyy"}
MAX_WIDTH, MIN_WIDTH = 60, 8


def _table(ws, columns: list[Column], rows, *, freeze: str | None = "A", title: str | None = None) -> None:
    """A table on a sheet: a bold, wrapped header row; values as numbers and dates with French
    formats; columns as wide as their content (up to MAX_WIDTH); an autofilter; the header (and
    the columns before `freeze`'s letter) frozen."""
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    if title:
        ws.append([title])
        ws.cell(ws.max_row, 1).font = Font(bold=True, size=13)
    ws.append([c.header for c in columns])
    first = ws.max_row
    for cell in ws[first]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for row in rows:
        ws.append([_xlsx_value(v, c.kind) for v, c in zip(row, columns)])
    last = ws.max_row
    for j, column in enumerate(columns, start=1):
        letter = get_column_letter(j)
        fmt = XLSX_FORMATS.get(column.kind)
        longest = 0
        for (cell,) in ws.iter_rows(min_row=first + 1, max_row=last, min_col=j, max_col=j):
            if fmt and isinstance(cell.value, (int, float, dt.date)):
                cell.number_format = fmt
            longest = max(longest, _shown_length(cell.value, column.kind))
        header_words = max((len(w) for w in column.header.split()), default=0)
        width = min(MAX_WIDTH, max(MIN_WIDTH, longest + 2, header_words + 2, min(len(column.header), 24) + 2))
        ws.column_dimensions[letter].width = width
    ws.auto_filter.ref = f"A{first}:{get_column_letter(len(columns))}{max(last, first)}"
    if freeze:
        ws.freeze_panes = f"{freeze}{first + 1}"


def _xlsx_value(value, kind: str):
    if kind == "km" and isinstance(value, (int, float)):
        return round(value / 1000, 1)
    if kind == "date" and isinstance(value, str):
        return _as_date(value)
    return value


def _shown_length(value, kind: str) -> int:
    if value is None:
        return 0
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if kind == "percent":
            return len(french.percent(value))
        return len(french.number(value, 1 if kind in ("decimal", "km") else 0))
    if isinstance(value, dt.date):
        return 10
    return len(str(value))


def _xlsx(path: Path, matrix: GapMatrix, columns, rows, ctx: ExportContext, comparison=None) -> Path:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "Résumé"
    ws.append([f"Analyse des écarts — {matrix.territory_name}"])
    ws["A1"].font = Font(bold=True, size=13)
    facts = [("Territoire (code)", matrix.territory, None), ("Situation au", matrix.as_of, "date"),
             ("IRIS" if _iris(matrix) else "Communes", len(matrix.units), "int"),
             ("Population", matrix.population, "int")]
    for label, value, kind in facts:
        ws.append([label, value])
        if kind:
            ws.cell(ws.max_row, 2).number_format = XLSX_FORMATS[kind]
    ws.append([])
    _table(ws, *summary_table(summaries(matrix)), freeze="B")
    units = wb.create_sheet("Communes" if not _iris(matrix) else "IRIS")
    _table(units, columns, rows, freeze="C")
    if matrix.group_level:
        # every indicator per EPT, EPCI or département (the page's « Unités et regroupement »)
        groups = group_summaries(matrix)
        g_columns, _ = summary_table([item for g in groups for item in g["items"]])
        g_rows = [[_bare(g["code"]) if g["code"] else None, g["name"], g["units"], g["population"]] + row
                  for g in groups for row in summary_table(g["items"], g_columns)[1]]
        _table(wb.create_sheet(f"Par {GROUPING_LABELS[matrix.group_level]}"[:31]),
               [Column("Code"), Column("Nom"), Column("Communes", "int"), Column("Population", "int")] + g_columns,
               g_rows, freeze="C")
    per_kind = wb.create_sheet("Par type")
    per_columns = [Column("Type"), Column(columns[0].header), Column(columns[1].header), Column("Population", "int"),
                   Column("État"), Column("Partenaires et part de la surface")]
    per_rows = [[kind.label, _bare(unit.code), unit.name, unit.population, state_label(kind, i),
                 partners_label(kind, i) or None]
                for kind in matrix.kinds if kind.counts is not None for i, unit in enumerate(matrix.units)]
    _table(per_kind, per_columns, per_rows, freeze="A")
    housing = [k for k in matrix.kinds if k.places is not None]
    if housing:
        hs = wb.create_sheet("Logement accompagné")
        h_columns = [Column("Type"), Column("Niveau"), Column("Code"), Column("Nom"), Column("Places", "int"),
                     Column("Population", "int"), Column("Places pour 100 000 hab.", "decimal")]
        h_rows = []
        for kind in housing:
            for i, unit in enumerate(matrix.units):
                pop = unit.population or 0
                h_rows.append([kind.label, "commune", _bare(unit.code), unit.name, int(kind.places[i]), pop,
                               round(kind.places[i] / pop * 100_000, 1) if pop else None])
            for level in ("ept", "epci", "departement"):
                for g in places_by_group(matrix, kind, level):
                    code = _bare(g["code"])
                    h_rows.append([kind.label, LEVEL_NAMES[level], code, ctx.name(level, code), g["places"],
                                   g["population"], g["places_pour_100k"]])
        _table(hs, h_columns, h_rows)
    if matrix.dac:
        _table(wb.create_sheet("DAC"), [Column("DAC"), Column("Population couverte", "int"),
                                         Column("Communes couvertes", "int")],
               [[d["name"], d["population"], d["communes"]] for d in matrix.dac])
    if matrix.funding:
        _table(wb.create_sheet("Financements"), *funding_table(matrix.funding))
    if comparison is not None:
        evo = wb.create_sheet("Évolution")
        partners, changed = evolution_tables(comparison)
        _table(evo, *partners, title=f"Entre le {french.date(comparison.date_a)} et le {french.date(comparison.date_b)}"
                                       " : partenaires qui changent d'état")
        evo2 = wb.create_sheet("Évolution par commune")
        _table(evo2, *changed, title="Communes dont le nombre de partenaires change")
    method = wb.create_sheet("Méthode")
    m_rows = [[METHOD_LABELS.get(key, key), text] for key, text in METHOD.items()]
    m_rows.append(["Générée le", french.date(matrix.generated_at) + matrix.generated_at.strftime(" à %H:%M (UTC)")])
    m_rows += [["Source", line] for line in ctx.sources]
    m_rows += [["Note", note] for note in matrix.notes]
    m_rows.append(["Crédit", CREDIT])
    _table(method, [Column("Élément"), Column("Définition")], m_rows, freeze=None)
    method.column_dimensions["B"].width = 110
    from openpyxl.styles import Alignment

    for (cell,) in method.iter_rows(min_row=2, min_col=2, max_col=2):
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    wb.save(path)
    return path


# --------------------------------------------------------------------------------------------- report

COLOURS = {"ecart": "#c9191e", "couvert": "#18753c", "partage": "#68a532", "chevauchement": "#000091",
           "non_inventorie": "#b7b7b7"}


def svg_map(matrix: GapMatrix, kind: KindResult, width: int = 340, height: int = 300, colour_of=None) -> str:
    """A small static map (SVG) of the units coloured by state, for the printed report, each unit
    named at its representative point (on a white label) when there are few enough to read."""
    minx, miny, maxx, maxy = shapely.total_bounds([u.shape for u in matrix.units])
    k = math.cos(math.radians((miny + maxy) / 2))
    span_x, span_y = (maxx - minx) * k or 1e-9, (maxy - miny) or 1e-9
    scale = min(width / span_x, height / span_y)

    def xy(x, y):
        return (x - minx) * k * scale, (maxy - y) * scale

    def project(coords):
        return " ".join("{:.1f},{:.1f}".format(*xy(x, y)) for x, y in coords)

    paths = []
    for i, unit in enumerate(matrix.units):
        geom = unit.shape.simplify(0.002 / max(scale / 2000, 1), preserve_topology=True)
        polys = geom.geoms if hasattr(geom, "geoms") else [geom]
        d = " ".join(f"M{project(p.exterior.coords)}Z" for p in polys if not p.is_empty)
        colour = colour_of(i, unit) if colour_of else COLOURS[state(kind, i)]
        title = f"{unit.name} : {state_label(kind, i)}"
        paths.append(f'<path d="{d}" fill="{colour}" stroke="#fff" stroke-width="0.4"><title>{_esc(title)}</title></path>')
    labels = _map_labels(matrix, xy, span_x * scale, span_y * scale, _label_size(matrix, k * scale))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {span_x * scale:.0f} {span_y * scale:.0f}" '
            f'width="{width}" role="img" aria-label="Carte : {_esc(kind.label)}">' + "".join(paths) + "".join(labels)
            + "</svg>")


MAX_NAMED_UNITS = 80  # above, the map's units are too small to be named: the tables name them


def _label_size(matrix: GapMatrix, px_per_degree: float) -> float | None:
    """The font size of the units' names on a map: from the median unit's width, between 3.5 and
    5.5 (the map's own units); None when the map has too many units to name."""
    if len(matrix.units) > MAX_NAMED_UNITS:
        return None
    widths = shapely.bounds(np.asarray([u.shape for u in matrix.units], dtype=object))
    median = float(np.median(widths[:, 2] - widths[:, 0])) * px_per_degree
    return max(3.5, min(5.5, median / 8))


def _map_labels(matrix: GapMatrix, xy, width: float, height: float, font: float | None) -> list[str]:
    """Each unit's name on a white label at its representative point, kept whole inside the map,
    the most populated placed first and the others moved up or down a line to clear them."""
    if not font:
        return []
    placed, out = [], []
    order = sorted(range(len(matrix.units)), key=lambda i: -(matrix.units[i].population or 0))
    for i in order:
        unit = matrix.units[i]
        name = _map_name(unit.name)
        w, h = len(name) * font * 0.56 + font * 0.4, font * 1.15
        x, y = xy(unit.x, unit.y)
        x = min(max(x, w / 2), width - w / 2)
        box = None
        for shift in (0, 1, -1, 2, -2):
            top = min(max(y - h / 2 + shift * h, 0), height - h)
            candidate = (x - w / 2, top, x + w / 2, top + h)
            if box is None:
                box = candidate
            if not any(candidate[0] < o[2] and o[0] < candidate[2] and candidate[1] < o[3] and o[1] < candidate[3]
                       for o in placed):
                box = candidate
                break
        placed.append(box)
        out.append(f'<rect x="{box[0]:.1f}" y="{box[1]:.1f}" width="{w:.1f}" height="{h:.1f}" fill="#fff" '
                   f'fill-opacity="0.8" rx="{font * 0.2:.1f}"/><text x="{x:.1f}" y="{box[1] + h * 0.78:.1f}" '
                   f'font-size="{font:.1f}" text-anchor="middle" fill="#1e1e1e">{_esc(name)}</text>')
    return out


def _map_name(name: str) -> str:
    """Paris 13e Arrondissement -> Paris 13e (the map's label; the tables keep the full name)."""
    return re.sub(r"\s+Arrondissement$", "", name)


def wrap(text: str, width: int) -> list[str]:
    """A label cut into lines of at most `width` characters between words, never inside one (a
    word longer than a line keeps its own line)."""
    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False) or [""]


def svg_bars(items: list[tuple[str, float | None]], width: int = 520) -> str:
    """Horizontal bars: share of population covered per kind (0–100 %); each label whole, wrapped
    over as many lines as it needs."""
    bar_h, gap, label_w, line_h, chars = 18, 6, 210, 13, 34
    rows, y = [], 0
    for label, share in items:
        lines = wrap(label, chars)
        row_h = max(bar_h, len(lines) * line_h + 4)
        value = 0 if share is None else share
        w = (width - label_w - 60) * value
        top = y + (row_h - bar_h) / 2
        text = "".join(f'<tspan x="0" y="{y + 13 + n * line_h}">{_esc(line)}</tspan>' for n, line in enumerate(lines))
        rows.append(f'<text font-size="11">{text}</text>'
                    f'<rect x="{label_w}" y="{top:.1f}" width="{w:.1f}" height="{bar_h}" fill="#000091"/>'
                    f'<text x="{label_w + w + 4:.1f}" y="{top + 13:.1f}" font-size="11">'
                    f'{"—" if share is None else french.percent(share, 0)}</text>')
        y += row_h + gap
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {y}" width="{width}" role="img" '
            f'aria-label="Part de la population couverte par type">' + "".join(rows) + "</svg>")


def _esc(text) -> str:
    from markupsafe import escape

    return str(escape(text))


def report_html(matrix: GapMatrix, ctx: ExportContext | None = None, *, for_pdf: bool = False,
                comparison=None) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape
    from markupsafe import Markup

    from app.config import PROJECT_ROOT

    ctx = ctx or ExportContext()
    env = Environment(loader=FileSystemLoader(PROJECT_ROOT / "templates"), autoescape=select_autoescape(["html"]))
    env.filters.update(number=french.number, percent=french.percent, date=french.date, plural=french.plural)
    items = summaries(matrix)
    territorial = [k for k in matrix.kinds if k.counts is not None]
    maps = [(k, Markup(svg_map(matrix, k))) for k in territorial]
    bars = Markup(svg_bars([(s["label"], s.get("part_population_couverte")) for s in items
                            if s["mode"] == "territorial"])) if territorial else None
    housing = []
    for k in matrix.kinds:
        if k.places is None:
            continue
        groups = [dict(g, level=level, name=ctx.name(level, _bare(g["code"])) or _bare(g["code"]))
                  for level in ("departement", "ept", "epci") for g in places_by_group(matrix, k, level)]
        housing.append((k, groups))
    css = (PROJECT_ROOT / "app" / "static" / "report.css").read_text(encoding="utf-8")
    return env.get_template("gaps/report.html").render(
        m=matrix, items=items, maps=maps, bars=bars, housing=housing, method=METHOD, method_labels=METHOD_LABELS,
        sources=ctx.sources, colours=COLOURS, state_labels=STATE_LABELS, credit=CREDIT, css=Markup(css),
        for_pdf=for_pdf, comparison=comparison, delta_maps=_delta_maps(matrix, comparison, Markup),
        level_names=LEVEL_NAMES, iris=_iris(matrix))


def _delta_maps(matrix: GapMatrix, comparison, Markup) -> list:
    """One small map per kind whose coverage changed: communes gaining (green) or losing (red)."""
    if comparison is None or not comparison.units:
        return []
    out = []
    for kind in matrix.kinds:
        if kind.counts is None:
            continue
        changes = {u["code"]: u["count_b"] - u["count_a"] for u in comparison.units if u["kind"] == kind.label}
        if changes:
            colour = {c: ("#18753c" if d > 0 else "#c9191e") for c, d in changes.items()}
            out.append((kind, Markup(svg_map(matrix, kind, colour_of=lambda i, u: colour.get(u.code, "#e5e5e5")))))
    return out


def _pdf(path: Path, html: str, static_dir: Path | None) -> Path:
    import logging

    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    for name in ("weasyprint", "weasyprint.progress", "fontTools"):
        logging.getLogger(name).setLevel(logging.WARNING)
    path.write_bytes(HTML(string=html, url_fetcher=URLFetcher(allowed_protocols=set())).write_pdf())
    return path


def download_name(matrix: GapMatrix, fmt: str) -> str:
    """What an output is called: its territory and date, ecarts-departement-93-2026-12-02.xlsx
    (several territories joined by "_"), so files from two analyses never overwrite each other."""
    territory = re.sub(r"[^0-9A-Za-z_-]+", "-", matrix.territory.replace("|", "_").replace(":", "-")).strip("-")
    return f"ecarts-{territory[:80] or 'territoire'}-{matrix.as_of.isoformat()}.{fmt}"


MIMETYPES = {"csv": "text/csv; charset=utf-8", "geojson": "application/geo+json", "html": "text/html; charset=utf-8",
             "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
             "gpkg": "application/geopackage+sqlite3", "pdf": "application/pdf"}


def report_bytes(matrix: GapMatrix, fmt: str, context: ExportContext | None = None) -> tuple[bytes, str, str]:
    """One output in memory (the web page's download buttons): (content, mimetype, file name); the
    CSV is the communes' table."""
    ctx = context or ExportContext()
    if fmt == "csv":
        content = csv_bytes(*unit_table(matrix, ctx))
    elif fmt == "geojson":
        content = json.dumps(geojson(matrix, *unit_table(matrix, ctx), ctx), ensure_ascii=False).encode("utf-8")
    elif fmt == "html":
        content = report_html(matrix, ctx).encode("utf-8")
    else:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="maillage-gaps-") as tmp:
            [path] = write(matrix, Path(tmp), [fmt], context=ctx)
            content = path.read_bytes()
    return content, MIMETYPES[fmt], download_name(matrix, fmt)
