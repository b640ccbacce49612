"""The demo dataset is illustrative, fictitious and covers every kind and hard case."""

import json

from shapely import wkb
from shapely.geometry import Point
from sqlalchemy import select, text

from app.demo import DEMO_DIR
from app.models import Kind

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
