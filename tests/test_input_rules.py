"""Hostile input answers 4xx with a French message, never 500, on the API and the pages alike
(issue 13's reproductions), on both backends."""

import pytest

from tests.test_api import problem

BIG_IDS = ("2147483648", "9223372036854775807", "9223372036854775808", "99999999999999999999999")


@pytest.mark.parametrize("partner_id", BIG_IDS)
def test_partner_ids_out_of_range_are_not_found(client, partner_id):
    problem(client.get(f"/api/v1/partners/{partner_id}"), 404, "not-found")
    page = client.get(f"/partenaires/{partner_id}")
    assert page.status_code == 404 and "Aucun partenaire" in page.get_data(as_text=True)


@pytest.mark.parametrize("options,code", [
    ({"housing": {"x": 1}}, "invalid-housing"),
    ({"housing": ["diffus"]}, "invalid-housing"),
    ({"age": ["adulte"]}, "invalid-age"),
    ({"age": True}, "invalid-age"),
    ({"landlord": {"code": "logis-demo"}}, "unknown-landlord"),
    ({"kinds": {"clsm": 1}}, "unknown-kind"),
    ({"kinds": [1, 2]}, "unknown-kind"),
    ({"kinds": ["clsm\x00"]}, "invalid-input"),
    ({"radius": True}, "invalid-radius"),
    ({"radius": [500]}, "invalid-radius"),
    ({"as_of": 20261201}, "invalid-date"),
    ({"as_of": "0001-01-01"}, "invalid-date"),
])
def test_batch_options_of_the_wrong_type_are_refused(client, options, code):
    body = problem(client.post("/api/v1/lookup/batch", json={"points": [[2.48, 48.91]], **options}), 400, code)
    assert body["invalid_params"][0]["name"] == next(iter(options))


@pytest.mark.parametrize("point", [[True, True], [False, 48.9], ["2.48", "48.91"], [2.48, None], [[2.48], [48.91]],
                                   [2.48, 48.91, 0], {"lon": 2.48, "lat": 48.91}, "2.48,48.91"])
def test_a_batch_point_is_two_json_numbers(client, point):
    body = problem(client.post("/api/v1/lookup/batch", json={"points": [[2.48, 48.91], point]}), 400,
                   "invalid-coordinates")
    assert body["invalid_params"][0]["name"] == "points[1]" and "Point n° 2" in body["detail"]


def test_integers_are_coordinates(client):
    assert client.post("/api/v1/lookup/batch", json={"points": [[2, 49]]}).status_code == 200


@pytest.mark.parametrize("query", ["as_of=0001-01-01", "as_of=9999-12-31", "as_of=1899-12-31"])
def test_absurd_dates_are_refused_by_the_api(client, query):
    body = problem(client.get(f"/api/v1/lookup?lon=2.48&lat=48.91&{query}"), 400, "invalid-date")
    assert "hors des limites" in body["detail"] and "01/01/1900" in body["detail"]


@pytest.mark.parametrize("query", [
    "territoire=departement:93&date=0001-01-01",
    "territoire=departement:93&comparer=0001-01-01",
    "territoire=departement:93&date=9999-12-31",
    "territoire=departement:93&date=2026-12-01&comparer=0001-01-02",
])
def test_absurd_dates_are_refused_by_the_gap_pages(client, query):
    page = client.get(f"/ecarts?{query}")
    assert page.status_code == 400 and "hors des limites" in page.get_data(as_text=True)
    export = client.get(f"/ecarts/export.csv?{query}")
    assert export.status_code == 400 and "hors des limites" in export.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/carte?type=secteur_psy_adulte&territoire=commune:93010&date=0001-01-01",
                                  "/carte/couverture.geojson?type=secteur_psy_adulte&territoire=commune:93010&date=0001-01-01"])
def test_absurd_dates_are_refused_by_the_map(client, path):
    assert client.get(path).status_code == 400


@pytest.mark.parametrize("path", [
    "/carte?type=%00&territoire=commune:93010",
    "/carte?type=secteur_psy_adulte&territoire=commune:93010%00",
    "/carte/couverture.geojson?type=%00&territoire=commune:93010",
    "/carte/couverture.html?type=%00&territoire=commune:93010",
    "/annuaire?q=%00",
    "/annuaire?type=cmp&type=%00",
    "/couverture?adresse=12%00rue",
    "/ecarts?territoire=departement:93%00",
    "/carte?%00=1",
])
def test_nul_in_a_page_parameter_is_a_400_page(client, path):
    page = client.get(path)
    assert page.status_code == 400, page.get_data(as_text=True)[:300]
    assert "Caractère nul interdit" in page.get_data(as_text=True)


def test_nul_in_an_api_parameter_is_still_a_problem(client):
    problem(client.get("/api/v1/partners?q=%00"), 400, "invalid-input")


def test_an_oversize_body_is_refused_before_it_is_parsed(client):
    garbage = b"x" * (3 * 1024 * 1024)  # not JSON: a 413, not a parse error, so it was not parsed
    body = problem(client.post("/api/v1/lookup/batch", data=garbage, content_type="application/json"), 413,
                   "payload-too-large")
    assert "au plus 2 Mo" in body["detail"]
    points = b'{"points": [' + b",".join([b"[2.4812345678,48.9112345678]"] * 120_000) + b"]}"
    problem(client.post("/api/v1/lookup/batch", data=points, content_type="application/json"), 413,
            "payload-too-large")


def test_the_body_limit_is_configurable_and_holds_without_content_length(demo_url):
    import io

    from app.web import create_app, state

    app = create_app({"DATABASE_URL": demo_url, "MAX_CONTENT_LENGTH": 200})
    client = app.test_client()
    small = b'{"points": [[2.48, 48.91]]}'
    assert client.post("/api/v1/lookup/batch", data=small, content_type="application/json").status_code == 200
    large = b'{"points": [' + b",".join([b"[2.48,48.91]"] * 40) + b"]}"
    problem(client.post("/api/v1/lookup/batch", data=large, content_type="application/json"), 413,
            "payload-too-large")
    streamed = client.post("/api/v1/lookup/batch", input_stream=io.BytesIO(large), content_type="application/json",
                           headers={"Transfer-Encoding": "chunked"}, environ_overrides={"wsgi.input_terminated": True})
    problem(streamed, 413, "payload-too-large")
    state(app).engine.dispose()
