"""Map data for the web pages: what the coverage card shows around an address, and the coverage
map planners read (units covered / shared / covered more than once / not covered, each with its
partners' shares), as GeoJSON, and the latter rendered with folium. No Flask here.

Geometries sent to a browser are simplified (`DISPLAY_TOLERANCE`, about 30 m at French
latitudes): a département's coverage map stays well under 2 MB.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import shapely
from geoalchemy2.shape import to_shape
from markupsafe import escape
from shapely import wkb
from shapely.geometry import mapping
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import dialects, gaps, jobs, territories
from app.errors import InvalidInput
from app.models import CoverageArea, Kind, Territory

DISPLAY_TOLERANCE = 0.0003  # degrees
COORD_DECIMALS = 5  # ~1 m: enough for a screen, a third of the bytes of full precision

STATUS_LABELS = {
    "none": "Non couvert (territoire inventorié)",
    "unknown": "Non couvert — inventaire inconnu",
    "not_surveyed": "Non recensé — territoire non inventorié pour ce type",
    "partial": "Partiellement couvert",
    "one": "Couvert",
    "shared": "Partagée entre plusieurs partenaires",
    "several": "Couvert plusieurs fois",
}
STATUS_COLOURS = {"none": "#c9191e", "unknown": "#e8a4a6", "not_surveyed": "#b7b7b7", "partial": "#f2a900", "one": "#18753c", "shared": "#68a532", "several": "#000091"}


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
    status: str  # none | unknown | not_surveyed | partial | one | shared | several
    partners: list[tuple[str, float]]  # every partner covering a real part of the unit, with its share
    share: float  # share of the unit's area the partners cover together
    geometry: object
    inventory: str = "inconnu"  # inventorie | non_inventorie | inconnu (app/partners/inventory.py)

    @property
    def status_label(self) -> str:
        if self.status == "shared":
            return f"Partagée entre {len(self.partners)} partenaires"
        return STATUS_LABELS[self.status]

    @property
    def partners_label(self) -> str:
        return gaps.share_label(self.partners) or "—"


# the gap analysis' states (app.gaps.classify), with "ecart" split by whether any partner
# covers a real part of the unit
MAP_STATUS = {"couvert": "one", "partage": "shared", "chevauchement": "several"}


def check_coverage_request(session: Session, kind_code: str, territory: str, age: str | None = None):
    """The cheap checks of a coverage map's choices, made before its drawing is queued: a known
    territorial kind, a typed territory code, an age band → (typed territory, age)."""
    kind = session.get(Kind, kind_code)
    if kind is None:
        raise InvalidInput(f"Type de partenaire inconnu « {kind_code} ».", code="unknown-kind", field="kind")
    if kind.mode != "territorial":
        raise InvalidInput(f"« {kind.short_label} » est trouvé par proximité : il n'a pas de zone de compétence "
                           "à cartographier.", code="not-territorial", field="kind")
    return _mappable(territory), gaps.parse_age(age)


# A coverage map is drawn commune by commune, in the request for its table: a département, an EPT, an
# EPCI or a commune. A région or the whole reference is the gap analysis' (a job, one point a commune).
TOO_LARGE = ("Une carte de couverture se dessine pour un département, un EPT, un EPCI ou une commune. Pour une "
             "région ou la France entière, utiliser l'analyse des écarts : elle est calculée à part et montre "
             "chaque commune sans ce type.")


def _mappable(territory: str):
    """The typed territory of a coverage map, refused when it is a région or `france`."""
    from app.gaps.tasks import is_large

    if is_large(territory):
        raise InvalidInput(TOO_LARGE, code="territory-too-large", field="territory")
    return territories.parse_code(territory, field="territory")


def coverage_units(session: Session, kind_code: str, territory: str, as_of: dt.date | None = None,
                   age: str | None = None) -> list[UnitCoverage]:
    """Each commune (arrondissement in Paris, Lyon, Marseille) of the territory with every partner
    of a territorial kind covering a real part of it at a date, each with its share of the unit's
    area. The status follows the gap analysis (`gaps.classify`): covered when a partner's area
    holds the unit's representative point — by one partner, shared between several that split it,
    or several on the same ground (overlap) —, else "partiellement couvert" when a partner still
    covers a real part of it, else not covered — a real gap where the unit was inventoried for the
    kind, "non recensé" where it never was, "inventaire inconnu" otherwise. With `age`, only the
    partners whose own public serves that age count (docs/eligibility.md)."""
    typed, age = check_coverage_request(session, kind_code, territory, age)
    as_of = as_of or dt.date.today()
    units = gaps.display_units(session, typed)
    if not units:
        raise InvalidInput(f"Aucune commune dans {typed}.", code="unknown-territory", field="territory")
    areas = gaps.coverage_areas(session, kind_code, shapely.total_bounds([u.shape for u in units]), as_of, age)
    surveyed = gaps.unit_inventory(session, units, [kind_code]).get(kind_code, ["inconnu"] * len(units))
    out = []
    for unit, shares, survey in zip(units, gaps.area_shares(units, areas), surveyed):
        state = gaps.classify(shares)
        status = MAP_STATUS.get(state) or ("partial" if shares.partners else UNCOVERED[survey])
        out.append(UnitCoverage(unit.code, unit.name, unit.population, status, shares.partners,
                                round(shares.covered, 3), unit.shape, survey))
    return out


# a unit nobody covers, by its inventory status
UNCOVERED = {"inventorie": "none", "non_inventorie": "not_surveyed", "inconnu": "unknown"}


def summary(units: list[UnitCoverage]) -> dict:
    population = sum(u.population or 0 for u in units)
    by_status = {s: [u for u in units if u.status == s] for s in STATUS_LABELS}
    return {
        "units": len(units),
        "population": population,
        "by_status": {s: {"label": STATUS_LABELS[s], "units": len(v), "population": sum(u.population or 0 for u in v)}
                      for s, v in by_status.items()},
        "covered_population_share": round(sum(u.population or 0 for u in units if u.status in ("one", "shared", "several"))
                                          / population, 3) if population else None,
    }


def units_geojson(units: list[UnitCoverage], *, tolerance: float = DISPLAY_TOLERANCE) -> dict:
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature",
         "geometry": rounded(u.geometry.simplify(tolerance, preserve_topology=True)),
         "properties": {"code": u.code, "nom": u.name, "population": u.population, "statut": u.status,
                        "statut_libelle": u.status_label, "inventaire": u.inventory,
                        "partenaires": gaps.shares_list(u.partners),
                        "partenaires_libelle": u.partners_label, "part_couverte": u.share}}
        for u in units]}


def folium_map(geojson: dict, *, static_url, tile_url: str = "", tile_attribution: str = "", nonce: str = "",
               title: str = "Carte de couverture") -> str:
    """A standalone HTML map of the units (folium), with Leaflet served by the app (no CDN) and
    every inline script and style carrying the page's CSP nonce; a document in French with its
    title, one main landmark and heading, and zoom left to the person (folium blocks it)."""
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
        tooltip=folium.GeoJsonTooltip(fields=["nom", "population", "statut_libelle", "partenaires_libelle"],
                                      aliases=["Commune", "Population", "Couverture", "Partenaires et part de la surface"],
                                      localize=True, sticky=True),
    ).add_to(fmap)
    fmap.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
    html = fmap.get_root().render()
    html = html.replace("<html>", '<html lang="fr">', 1).replace(
        "<head>", f"<head>\n<title>{escape(title)}</title>", 1)
    html = re.sub(r",\s*maximum-scale=1\.0,\s*user-scalable=no", "", html, count=1)
    html = html.replace("<body>", f'<body>\n<main>\n<h1 class="visually-hidden">{escape(title)}</h1>', 1).replace(
        "</body>", "</main>\n</body>", 1)
    if nonce:
        html = re.sub(r"<(script|style)(?![^>]*\bsrc=)(?=[\s>])", rf'<\1 nonce="{nonce}"', html)
    return html


def communes_geojson(session: Session, bbox: tuple[float, float, float, float], limit: int = 1500) -> dict:
    """Simplified commune outlines meeting a box (spatial index on both backends)."""
    rows = session.execute(
        select(Territory.code, Territory.name, func.ST_AsBinary(Territory.geom))
        .where(Territory.level.in_(("commune", "arrondissement")), dialects.box_meets(Territory.geom, *bbox))
        .limit(int(limit))).all()
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": code, "nom": name},
         "geometry": rounded(wkb.loads(bytes(geom)).simplify(DISPLAY_TOLERANCE * 2, preserve_topology=True))}
        for code, name, geom in rows]}


# The nonce of the page serving a stored map: each response has its own (app/web/pages.py puts it in).
NONCE_PLACEHOLDER = "__maillage_nonce__"


@jobs.task(label="Carte de couverture", cached=True)
def coverage_map_task(ctx: jobs.Context, *, kind: str, territory: str, date: str | None = None,
                      age: str | None = None, static_prefix: str = "/static/", tile_url: str = "",
                      tile_attribution: str = "") -> jobs.FileResult:
    """The folium document of the coverage map of `kind` over `territory` (a typed code), as a job:
    a département or a région is seconds of CPU, apart from the server's threads and cached per
    data version. Its scripts carry NONCE_PLACEHOLDER, replaced by each response's nonce."""
    ctx.progress(0, 3, "Calcul de la couverture des communes")
    with ctx.session() as session:
        units = coverage_units(session, kind, territory, dt.date.fromisoformat(date) if date else None, age=age)
    ctx.progress(1, 3, "Simplification des contours")
    geojson = units_geojson(units)
    ctx.progress(2, 3, "Dessin de la carte")
    html = folium_map(geojson, static_url=lambda name: static_prefix + name, tile_url=tile_url,
                      tile_attribution=tile_attribution, nonce=NONCE_PLACEHOLDER)
    path = ctx.output_path("couverture.html")
    path.write_text(html, encoding="utf-8")
    ctx.progress(3, 3, "Terminé")
    return jobs.FileResult(path, "text/html", "couverture.html")


# --------------------------------------------------------------------------------------------- proximity kinds

REACH_COLOURS = {"reach": "#68a532", "beyond": "#e5e5e5"}
REACH_LABELS = {"reach": "À portée d'un site", "beyond": "Hors de portée"}


@dataclass
class ProximityMap:
    kind: Kind
    units: list[dict]  # code, name, population, distance_m, nearest, reach (bool)
    sites: list[dict]  # name, partner, lon, lat
    features: dict  # GeoJSON: the communes coloured by reach, then the sites with their radius

    @property
    def summary(self) -> dict:
        reach = [u for u in self.units if u["reach"]]
        population = sum(u["population"] or 0 for u in self.units)
        covered = sum(u["population"] or 0 for u in reach)
        return {"units": len(self.units), "population": population, "reach": len(reach),
                "reach_population": covered, "beyond": len(self.units) - len(reach),
                "beyond_population": population - covered, "sites": len(self.sites),
                "reach_share": covered / population if population else None}


def proximity_map(session: Session, kind_code: str, territory: str, as_of: dt.date | None = None,
                  age: str | None = None) -> ProximityMap:
    """For a proximity kind (CMP, résidences accueil, pensions de famille, GEM…): its sites in
    service at the date around the territory, each with the kind's radius, and each commune
    (arrondissement) of the territory with the distance from its representative point to the
    nearest site (the gap analysis' rule, app.gaps) — within reach when at most the radius."""
    import numpy as np

    from app.models import Partner, Site

    kind = session.get(Kind, kind_code)
    if kind is None:
        raise InvalidInput(f"Type de partenaire inconnu « {kind_code} ».", code="unknown-kind", field="kind")
    if kind.mode != "proximity":
        raise InvalidInput(f"« {kind.short_label} » a une zone de compétence : utiliser la carte de couverture.",
                           code="not-proximity", field="kind")
    typed = _mappable(territory)
    as_of = as_of or dt.date.today()
    age = gaps.parse_age(age)
    units = gaps.display_units(session, typed)
    if not units:
        raise InvalidInput(f"Aucune commune dans {typed}.", code="unknown-territory", field="territory")
    xs = np.array([u.x for u in units])
    ys = np.array([u.y for u in units])
    result = gaps.KindResult(kind.code, kind.label, kind.mode, kind.is_housing, radius_m=kind.radius_m)
    gaps.proximity(session, kind.code, as_of, units, xs, ys, result, age)
    radius = kind.radius_m or 0
    # sites whose circle can reach the territory: its box grown by the radius (degrees, generously)
    minx, miny, maxx, maxy = shapely.total_bounds([u.shape for u in units])
    grow_y = radius / 111_000
    grow_x = grow_y / max(0.2, float(np.cos(np.radians((miny + maxy) / 2))))
    rows = gaps.active_rows(session, (
        select(Partner.id, Partner.name.label("partner"), Partner.status, Partner.valid_from, Partner.valid_to,
               Site.name, func.ST_X(Site.geom).label("x"), func.ST_Y(Site.geom).label("y"))
        .select_from(Site).join(Partner, Partner.id == Site.partner_id)
        .where(Partner.kind_code == kind.code, Site.geom.is_not(None),
               dialects.box_meets(Site.geom, minx - grow_x, miny - grow_y, maxx + grow_x, maxy + grow_y),
               *gaps.age_filter(age))
        .order_by(Partner.name, Site.position)), as_of)
    sites = [{"name": r.name or r.partner, "partner": r.partner, "lon": round(float(r.x), 6), "lat": round(float(r.y), 6)}
             for r in rows]
    out = []
    for i, unit in enumerate(units):
        d = result.distance_m[i]
        known = not np.isnan(d)
        out.append({"code": unit.code, "name": unit.name, "population": unit.population,
                    "distance_m": int(d) if known else None, "nearest": result.nearest[i] or None,
                    "reach": bool(known and radius and d <= radius)})
    features = [{"type": "Feature",
                 "geometry": rounded(shapely.simplify(unit.shape, DISPLAY_TOLERANCE, preserve_topology=True)),
                 "properties": {"role": "commune", "fill": REACH_COLOURS["reach" if u["reach"] else "beyond"],
                                "name": f"{u['name']} : " + (REACH_LABELS["reach" if u["reach"] else "beyond"].lower()
                                                             + (f", site le plus proche à {_km(u['distance_m'])}"
                                                                if u["distance_m"] is not None else ", aucun site"))}}
                for unit, u in zip(units, out)]
    features += [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [s["lon"], s["lat"]]},
                  "properties": {"role": "logement" if kind.is_housing else "site", "name": s["name"],
                                 "partner": s["partner"], "kind": kind.short_label, "radius_m": radius or None}}
                 for s in sites]
    return ProximityMap(kind, out, sites, {"type": "FeatureCollection", "features": features})


def _km(metres: int) -> str:
    from app import french

    return f"{french.number(metres / 1000, 1)} km"
