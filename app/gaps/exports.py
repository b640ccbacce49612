"""Gap analysis outputs: CSV, XLSX workbook, GeoJSON and GeoPackage layers, and an HTML report
with maps and charts that prints well (and its PDF). Everything is built from one GapMatrix;
nothing is written unless the whole analysis succeeded."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path

import numpy as np
import shapely

from app.gaps import (GROUPING_LABELS, METHOD, GapMatrix, KindResult, group_summaries, kind_summary, places_by_group,
                      share_label, shares_list, state)
from app.gaps.demand import shown as demand_shown
from app.maps import DISPLAY_TOLERANCE, rounded
from app.vocabulary import INVENTORY_LABELS

FORMATS = ("csv", "xlsx", "geojson", "gpkg", "html", "pdf")
STATE_LABELS = {"ecart": "aucune offre", "couvert": "couvert", "partage": "partagée entre plusieurs partenaires",
                "chevauchement": "plusieurs partenaires", "non_inventorie": "non inventorié"}
CREDIT = "Données de référence IGN, INSEE, BAN, FINESS — Licence Ouverte 2.0"


def state_label(kind: KindResult, index: int) -> str:
    key = state(kind, index)
    if key == "partage":
        return f"partagée entre {len(kind.shares[index].partners)} partenaires"
    return STATE_LABELS[key]


def partners_label(kind: KindResult, index: int) -> str:
    """Every partner covering a real part of the unit, with its share of the unit's area."""
    return share_label(kind.shares[index].partners)


def unit_table(matrix: GapMatrix) -> tuple[list[str], list[list]]:
    header = ["code", "nom", "population", "departement", "epci"]
    for kind in matrix.kinds:
        if kind.counts is not None:
            header += [f"{kind.code}_nombre", f"{kind.code}_etat", f"{kind.code}_partenaires", f"{kind.code}_inventaire"]
            if kind.demand is not None:
                header.append(f"{kind.code}_demandes_non_couvertes_52_sem")
        else:
            header += [f"{kind.code}_distance_m", f"{kind.code}_plus_proche"]
            if kind.places is not None:
                header += [f"{kind.code}_places", f"{kind.code}_places_pour_100k"]
    rows = []
    for i, unit in enumerate(matrix.units):
        row = [unit.code, unit.name, unit.population, unit.departement, unit.epci]
        for kind in matrix.kinds:
            if kind.counts is not None:
                row += [int(kind.counts[i]), state_label(kind, i), partners_label(kind, i),
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
    return header, rows


def summaries(matrix: GapMatrix) -> list[dict]:
    return [kind_summary(matrix, kind) for kind in matrix.kinds]


def write(matrix: GapMatrix, out: Path, formats=FORMATS, *, sources: list[str] | None = None, progress=None,
          static_dir: Path | None = None, comparison=None) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    header, rows = unit_table(matrix)
    for fmt in formats:
        if fmt == "csv":
            written += [_csv(out / "communes.csv", header, rows), _csv_dicts(out / "types.csv", summaries(matrix))]
            if matrix.funding:
                written.append(_csv_dicts(out / "financements.csv", matrix.funding))
            if comparison is not None:
                written += [_csv_dicts(out / "evolution-partenaires.csv", comparison.partners or [{"changement": "aucun"}]),
                            _csv_dicts(out / "evolution-communes.csv", comparison.units or [{"changement": "aucun"}])]
        elif fmt == "xlsx":
            written.append(_xlsx(out / "ecarts.xlsx", matrix, header, rows, sources or [], comparison))
        elif fmt == "geojson":
            path = out / "communes.geojson"
            path.write_text(json.dumps(geojson(matrix, header, rows), ensure_ascii=False), encoding="utf-8")
            written.append(path)
        elif fmt == "gpkg":
            written.append(_gpkg(out / "ecarts.gpkg", matrix, header, rows))
        elif fmt == "html":
            path = out / "rapport.html"
            path.write_text(report_html(matrix, sources or [], comparison=comparison), encoding="utf-8")
            written.append(path)
        elif fmt == "pdf":
            written.append(_pdf(out / "rapport.pdf", report_html(matrix, sources or [], for_pdf=True,
                                                                 comparison=comparison), static_dir))
        if progress:
            progress(1)
    return written


def csv_bytes(header, rows) -> bytes:
    """`;`-separated UTF-8 with a byte-order mark, as a French spreadsheet opens it."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, delimiter=";")
    writer.writerow(header)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def _csv(path: Path, header, rows) -> Path:
    path.write_bytes(csv_bytes(header, rows))
    return path


def _csv_dicts(path: Path, items: list[dict]) -> Path:
    keys = list(dict.fromkeys(k for item in items for k in item))
    return _csv(path, keys, [[item.get(k) for k in keys] for item in items])


def geojson(matrix: GapMatrix, header, rows, tolerance: float = DISPLAY_TOLERANCE) -> dict:
    """The table's rows as features, plus per territorial kind `<kind>_parts`: the partners
    covering a real part of the unit as a list of {partenaire, part} (a GeoPackage column cannot
    hold a list: there the `_partenaires` text says the same)."""
    features = []
    territorial = [k for k in matrix.kinds if k.counts is not None]
    for i, (unit, row) in enumerate(zip(matrix.units, rows)):
        geom = rounded(unit.shape.simplify(tolerance, preserve_topology=True))
        properties = dict(zip(header, row))
        for kind in territorial:
            properties[f"{kind.code}_parts"] = shares_list(kind.shares[i].partners)
        features.append({"type": "Feature", "geometry": geom, "properties": properties})
    return {"type": "FeatureCollection", "features": features}


def _gpkg(path: Path, matrix: GapMatrix, header, rows) -> Path:
    import geopandas as gpd

    from app.exchange.gis_files import write_gpkg

    gdf = gpd.GeoDataFrame([dict(zip(header, row)) for row in rows], geometry=[u.shape for u in matrix.units], crs=4326)
    write_gpkg(gdf, path, layer="communes")
    return path


def _xlsx(path: Path, matrix: GapMatrix, header, rows, sources: list[str], comparison=None) -> Path:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "Résumé"
    ws.append([f"Analyse des écarts — {matrix.territory_name} ({matrix.territory})"])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append(["Situation au", matrix.as_of.isoformat()])
    ws.append(["Communes", len(matrix.units)])
    ws.append(["Population", matrix.population])
    ws.append([])
    items = summaries(matrix)
    keys = list(dict.fromkeys(k for item in items for k in item))
    ws.append(keys)
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    for item in items:
        ws.append([item.get(k) for k in keys])
    units = wb.create_sheet("Communes")
    units.append(header)
    for cell in units[1]:
        cell.font = Font(bold=True)
    for row in rows:
        units.append(row)
    units.freeze_panes = "C2"
    if matrix.group_level:
        # every indicator per EPT, EPCI or département (the page's « Unités et regroupement »)
        groups = wb.create_sheet(f"Par {GROUPING_LABELS[matrix.group_level]}"[:31])
        groups.append(["code", "nom", "communes", "population"] + keys)
        for cell in groups[1]:
            cell.font = Font(bold=True)
        for group in group_summaries(matrix):
            for item in group["items"]:
                groups.append([group["code"], group["name"], group["units"], group["population"]]
                              + [item.get(k) for k in keys])
        groups.freeze_panes = "C2"
    per_kind = wb.create_sheet("Par type")
    per_kind.append(["type", "code", "nom", "population", "état", "partenaires"])
    for kind in matrix.kinds:
        if kind.counts is None:
            continue
        for i, unit in enumerate(matrix.units):
            per_kind.append([kind.label, unit.code, unit.name, unit.population, state_label(kind, i),
                             partners_label(kind, i)])
    housing = [k for k in matrix.kinds if k.places is not None]
    if housing:
        hs = wb.create_sheet("Logement accompagné")
        hs.append(["type", "niveau", "code", "places", "population", "places pour 100 000 hab."])
        for kind in housing:
            for i, unit in enumerate(matrix.units):
                pop = unit.population or 0
                hs.append([kind.label, "commune", unit.code, int(kind.places[i]), pop,
                           round(kind.places[i] / pop * 100_000, 1) if pop else None])
            for level in ("ept", "epci", "departement"):
                for g in places_by_group(matrix, kind, level):
                    hs.append([kind.label, level, g["code"], g["places"], g["population"], g["places_pour_100k"]])
    if matrix.dac:
        dac = wb.create_sheet("DAC")
        dac.append(["DAC", "population couverte", "communes", "fourchette 80 000–100 000"])
        for d in matrix.dac:
            dac.append([d["name"], d["population"], d["communes"], d["status"]])
    if matrix.funding:
        fs = wb.create_sheet("Financements")
        fs.append(["partenaire", "type", "financeurs", "fin du financement", "fin dans l'année"])
        for f in matrix.funding:
            fs.append([f["partenaire"], f["type"], f["financeurs"], f["fin_financement"] or None,
                       "oui" if f["fin_dans_l_annee"] else ""])
    if comparison is not None:
        evo = wb.create_sheet("Évolution")
        evo.append([f"Entre le {comparison.date_a.isoformat()} et le {comparison.date_b.isoformat()}"])
        evo.append(["partenaire", "type", f"état au {comparison.date_a}", f"état au {comparison.date_b}", "changement", "date"])
        for p in comparison.partners:
            evo.append([p["name"], p["kind"], p["state_a"], p["state_b"], p["change"], p["date"]])
        evo.append([])
        evo.append(["commune", "code", "type", f"partenaires au {comparison.date_a}", f"partenaires au {comparison.date_b}"])
        for u in comparison.units:
            evo.append([u["name"], u["code"], u["kind"], u["count_a"], u["count_b"]])
    method = wb.create_sheet("Méthode")
    method.append(["Élément", "Définition"])
    for key, text in METHOD.items():
        method.append([key, text])
    method.append([])
    method.append(["Générée le", matrix.generated_at.isoformat()])
    for line in sources:
        method.append(["Source", line])
    for note in matrix.notes:
        method.append(["Note", note])
    method.append(["Crédit", CREDIT])
    method.column_dimensions["B"].width = 110
    wb.save(path)
    return path


# --------------------------------------------------------------------------------------------- report

COLOURS = {"ecart": "#c9191e", "couvert": "#18753c", "partage": "#68a532", "chevauchement": "#000091",
           "non_inventorie": "#b7b7b7"}


def svg_map(matrix: GapMatrix, kind: KindResult, width: int = 340, height: int = 300, colour_of=None) -> str:
    """A small static map (SVG) of the units coloured by state, for the printed report."""
    minx, miny, maxx, maxy = shapely.total_bounds([u.shape for u in matrix.units])
    k = math.cos(math.radians((miny + maxy) / 2))
    span_x, span_y = (maxx - minx) * k or 1e-9, (maxy - miny) or 1e-9
    scale = min(width / span_x, height / span_y)

    def project(coords):
        return " ".join(f"{(x - minx) * k * scale:.1f},{(maxy - y) * scale:.1f}" for x, y in coords)

    paths = []
    for i, unit in enumerate(matrix.units):
        geom = unit.shape.simplify(0.002 / max(scale / 2000, 1), preserve_topology=True)
        polys = geom.geoms if hasattr(geom, "geoms") else [geom]
        d = " ".join(f"M{project(p.exterior.coords)}Z" for p in polys if not p.is_empty)
        colour = colour_of(i, unit) if colour_of else COLOURS[state(kind, i)]
        title = f"{unit.name} : {state_label(kind, i)}"
        paths.append(f'<path d="{d}" fill="{colour}" stroke="#fff" stroke-width="0.4"><title>{_esc(title)}</title></path>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {span_x * scale:.0f} {span_y * scale:.0f}" '
            f'width="{width}" role="img" aria-label="Carte : {_esc(kind.label)}">' + "".join(paths) + "</svg>")


def svg_bars(items: list[tuple[str, float | None]], width: int = 520) -> str:
    """Horizontal bars: share of population covered per kind (0–100 %)."""
    bar_h, gap, label_w = 18, 6, 210
    rows = []
    for i, (label, share) in enumerate(items):
        y = i * (bar_h + gap)
        value = 0 if share is None else share
        w = (width - label_w - 60) * value
        rows.append(f'<text x="0" y="{y + 13}" font-size="11">{_esc(label[:34])}</text>'
                    f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="#000091"/>'
                    f'<text x="{label_w + w + 4:.1f}" y="{y + 13}" font-size="11">'
                    f'{"—" if share is None else f"{share * 100:.0f} %"}</text>')
    height = len(items) * (bar_h + gap)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" role="img" '
            f'aria-label="Part de la population couverte par type">' + "".join(rows) + "</svg>")


def _esc(text) -> str:
    from markupsafe import escape

    return str(escape(text))


def report_html(matrix: GapMatrix, sources: list[str], *, for_pdf: bool = False, comparison=None) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    from app.config import PROJECT_ROOT

    env = Environment(loader=FileSystemLoader(PROJECT_ROOT / "templates"), autoescape=select_autoescape(["html"]))
    items = summaries(matrix)
    territorial = [k for k in matrix.kinds if k.counts is not None]
    from markupsafe import Markup

    maps = [(k, Markup(svg_map(matrix, k))) for k in territorial]
    bars = Markup(svg_bars([(s["label"], s.get("part_population_couverte")) for s in items
                            if s["mode"] == "territorial"])) if territorial else None
    housing = [(k, places_by_group(matrix, k, "departement"),
                places_by_group(matrix, k, "ept") + places_by_group(matrix, k, "epci"))
               for k in matrix.kinds if k.places is not None]
    css = (PROJECT_ROOT / "app" / "static" / "report.css").read_text(encoding="utf-8")
    return env.get_template("gaps/report.html").render(
        m=matrix, items=items, maps=maps, bars=bars, housing=housing, method=METHOD, sources=sources,
        colours=COLOURS, state_labels=STATE_LABELS, credit=CREDIT, css=Markup(css), for_pdf=for_pdf,
        comparison=comparison, delta_maps=_delta_maps(matrix, comparison, Markup))


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
    """What a downloaded output is called: its territory and date, ecarts-departement-93-2026-12-02.xlsx
    (several territories joined by "_"), so files from two analyses never overwrite each other."""
    territory = re.sub(r"[^0-9A-Za-z_-]+", "-", matrix.territory.replace("|", "_").replace(":", "-")).strip("-")
    return f"ecarts-{territory[:80] or 'territoire'}-{matrix.as_of.isoformat()}.{fmt}"


def report_bytes(matrix: GapMatrix, fmt: str, sources: list[str]) -> tuple[bytes, str, str]:
    """One output in memory (the web page's download buttons): (content, mimetype, file name)."""
    content, mimetype, _ = _report_bytes(matrix, fmt, sources)
    return content, mimetype, download_name(matrix, fmt)


def _report_bytes(matrix: GapMatrix, fmt: str, sources: list[str]) -> tuple[bytes, str, str]:
    header, rows = unit_table(matrix)
    if fmt == "csv":
        return csv_bytes(header, rows), "text/csv; charset=utf-8", "communes.csv"
    if fmt == "geojson":
        return (json.dumps(geojson(matrix, header, rows), ensure_ascii=False).encode("utf-8"),
                "application/geo+json", "communes.geojson")
    if fmt == "html":
        return report_html(matrix, sources).encode("utf-8"), "text/html; charset=utf-8", "rapport.html"
    import tempfile

    with tempfile.TemporaryDirectory(prefix="maillage-gaps-") as tmp:
        [path] = write(matrix, Path(tmp), [fmt], sources=sources)
        mimetypes = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                     "gpkg": "application/geopackage+sqlite3", "pdf": "application/pdf"}
        return path.read_bytes(), mimetypes[fmt], path.name
