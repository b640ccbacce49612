"""Territories by name (the pickers of the coverage map, the gap analysis, the directory and the
coverage editor), on the demo's reference, both backends."""

import pytest

from app import territory_search
from app.errors import InvalidInput


def codes(session, query, limit=5):
    return [c["code"] for c in territory_search.search(session, query, limit=limit)]


@pytest.mark.parametrize("query, first", [
    ("Seine-Saint-Denis", "departement:93"),
    ("seine st denis", "departement:93"),
    ("Bondy", "commune:93010"),
    ("bondi", "commune:93010"),
    ("Paris 13e", "arrondissement:75113"),
    ("Paris 13", "arrondissement:75113"),
    ("paris 13eme arrondissement", "arrondissement:75113"),
    ("Les Lilas", "commune:93045"),
    ("lilas", "commune:93045"),
    ("93140", "commune:93010"),
    ("93010", "commune:93010"),
    ("departement:94", "departement:94"),
    ("Île-de-France", "region:11"),
])
def test_a_territory_is_found_by_its_name_or_code(demo_session, query, first):
    assert codes(demo_session, query)[0] == first


def test_a_bare_number_lists_the_departement_then_the_region(demo_session):
    found = territory_search.search(demo_session, "93")
    assert [c["code"] for c in found][:1] == ["departement:93"]
    resolved = territory_search.resolve(demo_session, "93")
    assert resolved.code == "departement:93"
    assert resolved.note.startswith("Territoire retenu : Seine-Saint-Denis (departement:93)")


def test_resolve_keeps_typed_codes_and_refuses_what_it_cannot_settle(demo_session):
    assert territory_search.resolve(demo_session, "commune:93010|commune:93048").code == "commune:93010|commune:93048"
    assert territory_search.resolve(demo_session, "Bondy").code == "commune:93010"
    with pytest.raises(InvalidInput, match="introuvable"):
        territory_search.resolve(demo_session, "Trifouilly-les-Oies")
    with pytest.raises(InvalidInput, match="trop long"):
        territory_search.search(demo_session, "x" * 500)


def test_the_api_answers_pickers(client):
    body = client.get("/api/v1/territories", query_string={"q": "Paris 13e"}).get_json()
    assert body["results"][0]["code"] == "arrondissement:75113"
    assert "arrondissement" in body["results"][0]["label"].lower()
    assert client.get("/api/v1/territories", query_string={"q": "a\x00b"}).status_code == 400
    assert client.get("/api/v1/territories", query_string={"q": "Bondy", "x": "1"}).status_code == 400


def test_an_ept_is_found_by_its_name_and_its_typed_code(demo_session):
    """Est Ensemble, an établissement public territorial of the Grand Paris (loaded by the demo from
    the shared commune table), beside its typed code."""
    found = territory_search.search(demo_session, "Est Ensemble")
    assert found[0]["code"] == "ept:200057875" and found[0]["level_label"] == "Établissement public territorial"
    assert found[0]["label"] == "Est Ensemble — établissement public territorial, Grand Paris"
    resolved = territory_search.resolve(demo_session, "est ensemble")
    assert resolved.code == "ept:200057875" and resolved.note == "Territoire retenu : Est Ensemble (ept:200057875)."
    assert codes(demo_session, "Plaine Commune")[0] == "ept:200057867"
    assert codes(demo_session, "ept:200058097")[0] == "ept:200058097"  # Paris Terres d'Envol
    assert codes(demo_session, "200057875")[0] == "ept:200057875"


def test_the_api_and_the_pages_take_an_ept(client):
    body = client.get("/api/v1/territories", query_string={"q": "Est Ensemble"}).get_json()
    assert body["results"][0]["code"] == "ept:200057875"
    described = client.get("/api/v1/territories/ept:200057875").get_json()
    assert described["name"] == "Est Ensemble" and len(described["communes"]) == 9
    assert "commune:93010" in described["communes"]
    page = client.get("/annuaire", query_string={"territoire": "Est Ensemble", "type": "clsm"}).get_data(as_text=True)
    assert "Territoire retenu : Est Ensemble (ept:200057875)" in page and "CLSM de Bondy (démo)" in page
    page = client.get("/carte", query_string={"territoire": "Est Ensemble", "type": "clsm"}).get_data(as_text=True)
    assert "9 communes" in page
