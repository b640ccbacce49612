"""The guide through the web (docs/orientation.md): the page, the card's block, the emergency
numbers on the card and the fiche, and the ticked signs leaving no trace."""

import html as html_module
import logging
import threading

import requests
from werkzeug.serving import make_server

from app.web import create_app
from tests.points import BONDY_NORD
from tests.test_privacy import row_counts

WHERE = f"lon={BONDY_NORD[0]}&lat={BONDY_NORD[1]}"
SIGNS = {"signe": ["boite_aux_lettres_pleine", "impayes"]}


def test_the_card_and_the_fiche_always_show_the_emergency_numbers_and_the_card_offers_the_guide(client):
    for url in (f"/couverture?{WHERE}", f"/fiche?{WHERE}", "/couverture?adresse="):
        html = client.get(url).get_data(as_text=True)
        for number in ('href="tel:15"', 'href="tel:112"', 'href="tel:3114"', 'href="tel:115"'):
            assert number in html, (url, number)
    card = client.get(f"/couverture?{WHERE}").get_data(as_text=True)
    assert "Que faire face à… ?" in card
    assert 'method="post" action="/que-faire?lon=' in card
    assert 'value="boite_aux_lettres_pleine"' in card


def test_the_guide_lists_whom_to_call_first_and_why(client):
    page = client.get(f"/que-faire?{WHERE}")
    assert page.status_code == 200
    assert "Boîte aux lettres pleine" in page.get_data(as_text=True)
    r = client.post(f"/que-faire?{WHERE}", data={**SIGNS})
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "no-store"
    html = html_module.unescape(r.get_data(as_text=True))
    assert "Qui mobiliser, dans l'ordre" in html
    steps = html.split('<li class="guide-step')[1:]
    assert "Cellule interne santé mentale du bailleur" in steps[0]
    assert "Vérifier d'abord avec la cellule interne" in steps[0]
    ccas = next(s for s in steps if "Centre communal d'action sociale" in s)
    assert "CCAS de Bondy" in ccas and "Le CCAS peut connaître la personne" in ccas
    assert "Plusieurs signes de natures différentes" in html
    # the ticks are kept on the page that answers (and only there)
    assert 'value="impayes" checked' in html


def test_a_guide_request_without_sign_or_with_an_unknown_one_is_refused_plainly(client):
    r = client.post(f"/que-faire?{WHERE}", data={})
    assert r.status_code == 400 and "Cocher au moins un signe observé." in r.get_data(as_text=True)
    r = client.post(f"/que-faire?{WHERE}", data={"signe": ["impayes", "Mme Martin"]})
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert "1 signe non reconnu" in html and "Martin" not in html


def test_the_guide_sets_no_cookie_and_needs_none(client):
    # a read: exempt from the editing forms' CSRF token, which would set a session cookie on the card
    for response in (client.get(f"/couverture?{WHERE}"), client.post(f"/que-faire?{WHERE}", data=SIGNS)):
        assert response.status_code == 200 and "Set-Cookie" not in response.headers


def test_the_guide_answers_without_address_by_asking_for_one(client):
    r = client.get("/que-faire")
    assert r.status_code == 400 and 'name="adresse"' in r.get_data(as_text=True)


def test_ticked_signs_leave_no_trace_in_the_database_or_the_logs(demo_url, caplog):
    app = create_app({"DATABASE_URL": demo_url})
    engine = app.extensions["maillage"].engine
    before = row_counts(engine)
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with caplog.at_level(logging.DEBUG):
            base = f"http://127.0.0.1:{server.port}"
            r = requests.post(f"{base}/que-faire?{WHERE}", timeout=60,
                              data={"signe": ["propos_suicidaires", "amoncellement", "impayes"]})
            assert r.status_code == 200 and "3114" in r.text
            assert "propos_suicidaires" not in r.url  # the signs are in no URL
    finally:
        server.shutdown()
    after = row_counts(engine)
    engine.dispose()
    assert after == before
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "/que-faire?lon=***&lat=***" in logged  # the request was logged, address redacted
    for trace in ("propos_suicidaires", "amoncellement", "impayes", "suicid", "Amoncellement"):
        assert trace not in logged
