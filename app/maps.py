"""Map data for the web pages: what the coverage card shows around an address, and the coverage
map planners read (units covered / not covered / covered more than once), as GeoJSON, and the
latter rendered with folium. No Flask here.

Geometries sent to a browser are simplified (`DISPLAY_TOLERANCE`, about 30 m at French
latitudes): a département's coverage map stays well under 2 MB.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import shapely
from geoalchemy2.shape import to_shape
from shapely import wkb
from shapely.geometry import mapping
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app import spatial, territories
from app.errors import InvalidInput
from app.models import CoverageArea, Kind

DISPLAY_TOLERANCE = 0.0003  # degrees
COORD_DECIMALS = 5  # ~1 m: enough for a screen, a third of the bytes of full precision

STATUS_LABELS = {
    "none": "Non couvert",
    "partial": "Partiellement couvert",
    "one": "Couvert",
    "several": "Couvert plusieurs fois",
}
STATUS_COLOURS = {"none": "#c9191e", "partial": "#f2a900", "one": "#18753c", "several": "#000091"}


def rounded(geom) -> dict:
    """GeoJSON geometry rounded to COORD_DECIMALS."""
    return mapping(shapely.set_precision(geom, 10 ** -COORD_DECIMALS))


def card_features(session: Session, answer: dict) -> dict:
    """The point, the coverage areas of the partners that cover it and the sites of nearby
    proximity partners (housing first), as one GeoJSON FeatureCollection."""
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [answer["point"]["lon"],
                                                                                  answer["point"]["lat"]]},
                 "properties": {"role": "adresse", "name": "Adresse recherchée"}}]
    ids, labels = [], {}
    for kind in answer["kinds"]:
        for entry in kind["partners"]:
            partner = entry["partner"]
            if kind["mode"] == "territorial":
                ids.append(partner["id"])
                labels[partner["id"]] = (kind["short_label"], partner["name"])
            else:
                for site in entry.get("sites") or partner["sites"][:1]:
                    if site.get("lon") is None:
                        continue
                    features.append({"type": "Feature",
                                     "geometry": {"type": "Point", "coordinates": [site["lon"], site["lat"]]},
                                     "properties": {"role": "logement" if kind["is_housing"] else "site",
                                                    "name": site["name"], "kind": kind["short_label"],
                                                    "partner": partner["name"]}})
    if ids:
        for pid, geom in session.execute(select(CoverageArea.partner_id, CoverageArea.geom).where(
                CoverageArea.partner_id.in_(ids), CoverageArea.geom.is_not(None))):
            shape = to_shape(geom).simplify(DISPLAY_TOLERANCE, preserve_topology=True)
            kind_label, name = labels[pid]
            features.append({"type": "Feature", "geometry": rounded(shape),
                             "properties": {"role": "zone", "kind": kind_label, "name": name}})
    # zones under points, drawn first
    features.sort(key=lambda f: 0 if f["properties"]["role"] == "zone" else 1)
    return {"type": "FeatureCollection", "features": features}


# --------------------------------------------------------------------------------------------- planners


@dataclass
class UnitCoverage:
    code: str  # typed
    name: str
    population: int | None
    status: str  # none | partial | one | several
    partners: list[str]
    share: float  # covered share of the unit's area, by the best-covering partner
    geometry: object


def coverage_units(session: Session, kind_code: str, territory: str, as_of: dt.date | None = None) -> list[UnitCoverage]:
    """Each commune (arrondissement in Paris, Lyon, Marseille) of the territory with the partners of
    a territorial kind covering it at a date — the gap analysis' rule: a partner covers a unit when
    its area holds the unit's representative point — and, for units nobody covers that way, the
    partners whose area still overlaps 5 % or more of them ("partiellement couvert")."""
    from app import gaps

    kind = session.get(Kind, kind_code)
    if kind is None:
        raise InvalidInput(f"Type de partenaire inconnu « {kind_code} ».", code="unknown-kind", field="kind")
    if kind.mode != "territorial":
        raise InvalidInput(f"« {kind.short_label} » est trouvé par proximité : il n'a pas de zone de compétence "
                           "à cartographier.", code="not-territorial", field="kind")
    typed = territories.parse_code(territory, field="territory")
    as_of = as_of or dt.date.today()
    units = gaps.display_units(session, typed)
    if not units:
        raise InvalidInput(f"Aucune commune dans {typed}.", code="unknown-territory", field="territory")
    bounds = shapely.total_bounds([u.shape for u in units])
    areas = gaps.active_areas(session, kind_code, bounds, as_of)
    for _, shape in areas:
        shapely.prepare(shape)
    tree = shapely.STRtree([a[1] for a in areas]) if areas else None
    out = []
    for unit in units:
        covering, partial, best = [], [], 0.0
        if tree is not None:
            point = shapely.Point(unit.x, unit.y)
            for index in tree.query(unit.shape, predicate="intersects"):
                pname, shape = areas[index]
                if shape.contains(point):
                    covering.append(pname)
                    best = 1.0
                    continue
                share = shape.intersection(unit.shape).area / unit.shape.area if unit.shape.area else 0.0
                best = max(best, share)
                if share >= 0.05:
                    partial.append(pname)
        status = "several" if len(covering) > 1 else "one" if covering else "partial" if partial else "none"
        out.append(UnitCoverage(unit.code, unit.name, unit.population, status, sorted(covering or partial),
                                round(best, 3), unit.shape))
    return out


def summary(units: list[UnitCoverage]) -> dict:
    population = sum(u.population or 0 for u in units)
    by_status = {s: [u for u in units if u.status == s] for s in STATUS_LABELS}
    return {
        "units": len(units),
        "population": population,
        "by_status": {s: {"label": STATUS_LABELS[s], "units": len(v), "population": sum(u.population or 0 for u in v)}
                      for s, v in by_status.items()},
        "covered_population_share": round(sum(u.population or 0 for u in units if u.status in ("one", "several"))
                                          / population, 3) if population else None,
    }


def units_geojson(units: list[UnitCoverage], *, tolerance: float = DISPLAY_TOLERANCE) -> dict:
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature",
         "geometry": rounded(u.geometry.simplify(tolerance, preserve_topology=True)),
         "properties": {"code": u.code, "nom": u.name, "population": u.population, "statut": u.status,
                        "statut_libelle": STATUS_LABELS[u.status], "partenaires": ", ".join(u.partners) or "—",
                        "part_couverte": u.share}}
        for u in units]}


def folium_map(geojson: dict, *, static_url, tile_url: str = "", tile_attribution: str = "", nonce: str = "") -> str:
    """A standalone HTML map of the units (folium), with Leaflet served by the app (no CDN) and
    every inline script and style carrying the page's CSP nonce."""
    import folium

    bounds = shapely.total_bounds([shapely.geometry.shape(f["geometry"]) for f in geojson["features"]])
    fmap = folium.Map(tiles=None, control_scale=True)
    fmap.default_js = [("leaflet", static_url("vendor/leaflet-1.9.3/leaflet.js"))]
    fmap.default_css = [("leaflet_css", static_url("vendor/leaflet-1.9.3/leaflet.css")),
                        ("maillage_map_css", static_url("map-frame.css"))]
    if tile_url:
        folium.TileLayer(tiles=tile_url, attr=tile_attribution or "fond de carte", name="Fond de carte").add_to(fmap)
    folium.GeoJson(
        geojson, name="Couverture",
        style_function=lambda f: {"fillColor": STATUS_COLOURS[f["properties"]["statut"]], "color": "#333",
                                  "weight": 0.6, "fillOpacity": 0.55},
        highlight_function=lambda f: {"weight": 2.5, "color": "#000"},
        tooltip=folium.GeoJsonTooltip(fields=["nom", "population", "statut_libelle", "partenaires"],
                                      aliases=["Commune", "Population", "Couverture", "Partenaire(s)"],
                                      localize=True, sticky=True),
    ).add_to(fmap)
    fmap.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
    html = fmap.get_root().render()
    if nonce:
        html = re.sub(r"<(script|style)(?![^>]*\bsrc=)(?=[\s>])", rf'<\1 nonce="{nonce}"', html)
    return html


def communes_geojson(session: Session, bbox: tuple[float, float, float, float], limit: int = 1500) -> dict:
    """Simplified commune outlines meeting a box (spatial index on both backends)."""
    backend = spatial.backend_for(session)
    rows = session.execute(text(
        "SELECT t.code, t.name, ST_AsBinary(t.geom) FROM territory t WHERE t.level IN ('commune', 'arrondissement') "
        f"AND {backend.box_filter('territory', 't')} LIMIT {int(limit)}"),
        dict(zip(("minx", "miny", "maxx", "maxy"), bbox))).all()
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": code, "nom": name},
         "geometry": rounded(wkb.loads(bytes(geom)).simplify(DISPLAY_TOLERANCE * 2, preserve_topology=True))}
        for code, name, geom in rows]}
