"""Web pages through Flask's client, both backends: coverage card, fiche (PDF), directory, partner
pages, planners' coverage map, security headers. Browser journeys are in test_browser.py."""

import html
import io
import json
import re

import pytest
import shapely.geometry
from pypdf import PdfReader

from app.config import PROJECT_ROOT
from tests.points import BONDY_NORD, BONDY_SUD, LYON, MONTREUIL, PARIS_13


def get(client, url, status=200):
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code, response.data[:500])
    text = response.data.decode() if response.mimetype.startswith(("text/", "application/json")) else None
    return response, text


def map_frame(client, url, timeout=120):
    """The coverage map's frame once its drawing job is done: asked again, as the waiting frame
    does (app/static/jobs.js), while it shows the job's progress."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        response, html = get(client, url)
        if 'data-reload-when-done="oui"' not in html:
            return response, html
        assert time.monotonic() < deadline, f"map of {url} still drawing after {timeout} s"
        time.sleep(0.2)


def test_home_has_the_search_form_map_and_no_inline_script(client):
    response, page = get(client, "/")
    assert '<input id="adresse" name="adresse"' in page and 'role="combobox"' in page
    assert 'id="ma-position"' in page and 'id="carte"' in page
    assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", page)
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp and "https://" not in csp


def test_coverage_card_by_point_says_who_why_and_how(client):
    _, page = get(client, "/couverture?lon={}&lat={}&date=2026-12-01".format(*BONDY_NORD))
    assert "Qui contacter pour cette adresse ?" in page
    assert "CLSM de Bondy (démo)" in page and "Pourquoi :</strong> Commune Bondy" in page
    # the sub-commune case: the north of Bondy is a drawn polygon of sector 93G10
    assert "Secteur de psychiatrie adulte 93G10" in page and "zone délimitée : Bondy nord" in page
    assert "Comment saisir :" in page and 'href="tel:0100000001"' in page
    assert "Aucun SAVS connu pour cette adresse — inventaire inconnu pour ce territoire." in page and "Que faire :" in page
    data = re.search(r'<script type="application/json" id="carte-donnees">(.*?)</script>', page, re.S).group(1)
    features = json.loads(data)["features"]
    roles = {f["properties"]["role"] for f in features}
    assert {"adresse", "zone"} <= roles


def test_age_filter_and_date_change_the_card(client):
    _, adult = get(client, "/couverture?lon={}&lat={}".format(*BONDY_SUD))
    _, child = get(client, "/couverture?lon={}&lat={}&age=enfant".format(*BONDY_SUD))
    assert "Secteur de psychiatrie adulte 93G11" in adult
    assert "Secteur de psychiatrie adulte 93G11" not in child and "93I04" in child
    _, before = get(client, "/couverture?lon={}&lat={}&date=2025-06-01".format(*MONTREUIL))
    _, after = get(client, "/couverture?lon={}&lat={}&date=2026-06-01".format(*MONTREUIL))
    # before its opening the intercommunal CLSM is announced, not offered
    assert "CLSM intercommunal Est Ensemble (démo)</a>" not in before and "Ouverture prévue le 01/01/2026" in before
    assert "CLSM intercommunal Est Ensemble (démo)</a>" in after


def test_outside_the_reference_and_bad_input_are_said_plainly(client):
    _, page = get(client, "/couverture?lon={}&lat={}".format(*LYON))
    assert "hors du territoire de la base" in page
    _, page = get(client, "/couverture?lon=2.4&lat=48.9&date=31/12/2026", status=400)
    assert "format attendu AAAA-MM-JJ" in page
    _, page = get(client, "/couverture?lon=abc&lat=48.9", status=400)
    assert "Coordonnées illisibles" in page
    _, page = get(client, "/couverture", status=400)
    assert "Saisir une adresse" in page


def test_the_retained_address_says_how_closely_it_was_found(client):
    # this app has no address file loaded: the commune is all the geocoder finds, and the page says so
    _, page = get(client, "/couverture?adresse=12+avenue+Jean+Jaur%C3%A8s+Bondy")
    assert "Adresse retenue :</strong> 93140 Bondy" in page and "(seule la commune est trouvée)" in page
    assert "précision :" not in page


def test_unknown_address_offers_no_guess(client):
    _, page = get(client, "/couverture?adresse=zzzz+qqqq+wwww")
    assert "Adresse non trouvée" in page or "introuvable" in page.lower()
    assert 'id="carte-donnees"' not in page


def test_hostile_strings_are_escaped(client):
    _, page = get(client, "/couverture?adresse=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    _, page = get(client, "/annuaire?q=%3Cimg+src%3Dx+onerror%3Dalert(1)%3E")
    assert "<img src=x" not in page


def test_cards_about_an_address_are_never_cached(client):
    response, _ = get(client, "/couverture?lon={}&lat={}".format(*BONDY_NORD))
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_fiche_prints_on_one_page_and_holds_no_personal_field(client):
    _, page = get(client, "/fiche?lon={}&lat={}".format(*BONDY_NORD))
    assert "Fiche d'orientation" in page and "aucune donnée sur la personne" in page
    assert "<input" not in page and "<textarea" not in page
    response, _ = get(client, "/fiche.pdf?lon={}&lat={}&age=adulte".format(*BONDY_NORD))
    assert response.mimetype == "application/pdf" and response.headers["Cache-Control"] == "no-store"
    reader = PdfReader(io.BytesIO(response.data))
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    assert "CLSM de Bondy" in text and "Aucune structure connue ici (inventaire inconnu) :" in text
    assert "SAVS" in text.split("inventaire inconnu) :")[1]
    assert text.count("Base de démonstration") == 1  # the banner, once


@pytest.mark.parametrize("point", [BONDY_SUD, PARIS_13, MONTREUIL])
def test_fiche_fits_one_page_elsewhere_too(client, point):
    response, _ = get(client, "/fiche.pdf?lon={}&lat={}".format(*point))
    assert len(PdfReader(io.BytesIO(response.data)).pages) == 1


def test_directory_filters_and_partner_page(client):
    _, page = get(client, "/annuaire?type=cmp&territoire=commune:93010")
    assert "CMP adultes Bondy sud (démo)" in page and "CLSM de Bondy" not in page
    match = re.search(r'href="/partenaires/(\d+)">CMP adultes Bondy sud', page)
    _, partner = get(client, f"/partenaires/{match.group(1)}")
    assert "Provenance" in partner and "dernière vérification : 15/10/2026" in partner
    # where the record comes from, in plain words: no importer's name, the file and its line
    assert re.search(r"Source : fichier de partenaires « partners\.json », ligne \d+ —\s+importé le \d\d/\d\d/\d{4}",
                     partner)
    assert "partners-json" not in partner
    _, page = get(client, "/annuaire?type=clsm&territoire=commune:93048")
    est_ensemble = re.search(r'href="/partenaires/(\d+)">CLSM intercommunal Est Ensemble', page).group(1)
    assert "depuis le 01/01/2026" in get(client, f"/partenaires/{est_ensemble}")[1]  # opened 2026-01-01 (demo file)
    report = re.search(r'href="([^"]+)">Signaler une erreur', partner).group(1)
    assert report == f"/partenaires/{match.group(1)}/signaler"  # a stored report (tests/test_editing.py)
    assert "aucune donnée sur une personne" in partner
    _, bad = get(client, "/annuaire?territoire=Atlantide", status=400)
    assert "Territoire « Atlantide » introuvable" in bad
    get(client, "/partenaires/999999", status=404)


def test_partner_page_map_shows_its_zone(client):
    _, page = get(client, "/annuaire?q=Secteur+de+psychiatrie+adulte+93G10")
    pid = re.search(r'href="/partenaires/(\d+)"', page).group(1)
    _, partner = get(client, f"/partenaires/{pid}")
    data = json.loads(re.search(r'id="carte-donnees">(.*?)</script>', partner, re.S).group(1))
    assert data["features"][0]["properties"]["role"] == "zone"
    assert "polygone : Bondy nord" in partner


def demo_clsm_counts():
    """Independent of app.maps: CLSM per commune of the 93 read from the demo file, in service on
    2026-12-01 (closed Bobigny and planned Vincennes aside)."""
    from app.config import PROJECT_ROOT

    data = json.loads((PROJECT_ROOT / "geodata" / "demo" / "partners.json").read_text())
    counts = {}
    for p in data["partners"]:
        if p["kind"] != "clsm" or p.get("status") in ("closed", "planned"):
            continue
        for code in p["coverage"]["include"]:
            if code.startswith("commune:93"):
                counts[code] = counts.get(code, 0) + 1
    return counts


def test_planners_coverage_map_by_hand(client):
    _, page = get(client, "/carte?type=clsm&territoire=departement:93&date=2026-12-01")
    response, _ = get(client, "/carte/couverture.geojson?type=clsm&territoire=departement:93&date=2026-12-01")
    features = json.loads(response.data)["features"]
    status = {f["properties"]["code"]: f["properties"]["statut"] for f in features}
    expected = demo_clsm_counts()
    assert status["commune:93010"] == "one" and expected["commune:93010"] == 1
    assert status["commune:93048"] == "several" and expected["commune:93048"] == 2  # Montreuil and Est Ensemble
    assert status["commune:93008"] == "none"  # Bobigny's CLSM closed in 2025
    assert {code for code, s in status.items() if s != "none"} == set(expected)
    population = sum(f["properties"]["population"] or 0 for f in features)
    assert f"{len(features)} communes, " + f"{population:,} habitants".replace(",", "\u202f") in page
    assert "attachment" in response.headers["Content-Disposition"]


def test_coverage_map_frame_is_folium_without_cdn_and_with_a_nonce(client):
    response, html = map_frame(client, "/carte/couverture.html?type=clsm&territoire=departement:93")
    assert "L.geoJson" in html or "L.geoJSON" in html  # folium's GeoJson layer
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/static/") for s in sources), sources
    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", html)
    assert inline and all(f'nonce="{nonce}"' in attrs for attrs in inline)
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in response.headers["Content-Security-Policy"]


def test_a_large_coverage_map_is_drawn_by_a_job_whose_progress_the_frame_shows(demo_url, tmp_path):
    """The frame does not draw a map in the request: with no time to wait, it answers the job's
    progress at once (a page that reloads itself), then the same address gives the finished map,
    drawn once per data version, each response with its own nonce."""
    from app.web import create_app

    app = create_app({"DATABASE_URL": demo_url, "JOBS_DIR": str(tmp_path / "jobs"), "MAP_FRAME_WAIT_S": 0,
                      "RATE_LIMIT_HEAVY": ""})
    try:
        client = app.test_client()
        url = "/carte/couverture.html?type=dac&territoire=departement:93&date=2026-06-01"
        response, waiting = get(client, url)
        assert 'data-reload-when-done="oui"' in waiting and "<progress" in waiting
        assert "Carte de couverture en préparation" in waiting and 'lang="fr"' in waiting
        assert response.headers["Cache-Control"] == "no-store" and response.headers["X-Frame-Options"] == "SAMEORIGIN"
        state_url = re.search(r'data-state-url="([^"]+)"', waiting).group(1)
        response, html = map_frame(client, url)
        assert "L.geoJson" in html or "L.geoJSON" in html
        assert get(client, state_url)[0].get_json()["status"] == "done"
        jobs_made = {p.name for p in (tmp_path / "jobs").iterdir() if p.name != "cache"}
        again, html_again = get(client, url)  # cached: the same job's map, at once, nothing drawn again
        assert 'data-reload-when-done' not in html_again and ("L.geoJson" in html_again or "L.geoJSON" in html_again)
        assert {p.name for p in (tmp_path / "jobs").iterdir() if p.name != "cache"} == jobs_made and len(jobs_made) == 1
        nonces = [re.search(r"'nonce-([^']+)'", r.headers["Content-Security-Policy"]).group(1) for r in (response, again)]
        assert nonces[0] != nonces[1] and f'nonce="{nonces[1]}"' in html_again and "__maillage_nonce__" not in html_again
        assert get(client, url.replace("type=dac", "type=inconnu"), status=400)[1].startswith("Type de partenaire inconnu")
    finally:
        app.extensions["maillage"].jobs.shutdown()
        app.extensions["maillage"].engine.dispose()


@pytest.mark.parametrize("query,message", [
    ("type=clsm&territoire=Atlantide", "Territoire « Atlantide » introuvable"),
    ("type=inconnu&territoire=departement:93", "Type de partenaire inconnu"),
])
def test_coverage_map_bad_choices(client, query, message):
    _, page = get(client, f"/carte?{query}", status=400)
    assert message in page


def test_department_coverage_map_page_weighs_under_2_mb(client):
    total = len(map_frame(client, "/carte/couverture.html?type=secteur_psy_adulte&territoire=departement:93")[0].data)
    for url in ("/carte?type=secteur_psy_adulte&territoire=departement:93",
                "/static/vendor/leaflet-1.9.3/leaflet.js", "/static/vendor/leaflet-1.9.3/leaflet.css",
                "/static/maillage.css", "/static/map-frame.css"):
        total += len(get(client, url)[0].data)
    assert total < 2_000_000, total


def test_json_post_is_the_only_post_and_forms_cannot_forge_it(client):
    response = client.post("/api/v1/lookup/batch", data={"points": "[[2.48, 48.9]]"})
    assert response.status_code == 400
    for url in ("/", "/annuaire", "/carte"):
        page = client.get(url).data.decode()
        assert 'method="post"' not in page.lower()


def follow_job(client, response, timeout=120):
    """A 303 to a job's page: wait for the job through its JSON state, then download its result."""
    import time

    assert response.status_code == 303 and "/travaux/" in response.headers["Location"], response.status_code
    page = response.headers["Location"]
    assert "<progress" in client.get(page).get_data(as_text=True)
    deadline = time.monotonic() + timeout
    while (job := client.get(page + ".json").get_json())["finished"] is False and time.monotonic() < deadline:
        time.sleep(0.1)
    assert job["status"] == "done", job
    return client.get(job["result_url"])


def test_gaps_page_with_downloads(client, tmp_path):
    _, page = get(client, "/ecarts")
    assert "Analyse des écarts" in page and 'name="types" value="clsm"' in page
    query = "territoire=departement:93&types=clsm&types=residence_accueil&date=2026-12-01&comparer=2025-03-01"
    _, page = get(client, f"/ecarts?{query}")
    assert "Seine-Saint-Denis — situation au 01/12/2026" in page
    assert "CLSM de Bobigny (démo)" in page and "fermeture ou fin de financement" in page
    for fmt, kind in (("csv", "text/csv"), ("xlsx", "spreadsheetml"), ("geojson", "geo+json"), ("pdf", "pdf"),
                      ("gpkg", "geopackage"), ("html", "text/html")):
        assert f'href="/ecarts/export.{fmt}?{query.replace("&", "&amp;")}"' in page
        response = client.get(f"/ecarts/export.{fmt}?{query}")
        if fmt in ("xlsx", "pdf", "gpkg"):  # a background job: its page, then the file
            response = follow_job(client, response)
        assert response.status_code == 200 and kind in response.mimetype, fmt
        # named by territory and date: two analyses downloaded side by side never overwrite each other
        assert response.headers["Content-Disposition"] == f'attachment; filename="ecarts-departement-93-2026-12-01.{fmt}"'
        (tmp_path / f"export.{fmt}").write_bytes(response.data)
    # reopened as a planner would: French headers and names beside codes, layers, the report's text
    import datetime as dt

    from openpyxl import load_workbook

    from app.exchange.gis_files import layers

    wb = load_workbook(tmp_path / "export.xlsx")
    assert wb.sheetnames[:4] == ["Résumé", "Communes", "Par type", "Logement accompagné"]
    assert wb.sheetnames[-3:] == ["Évolution", "Évolution par commune", "Méthode"]
    communes = wb["Communes"]
    assert [c.value for c in communes[1]][:2] == ["Code commune", "Commune"] and communes.freeze_panes == "C2"
    assert {(r[0], r[1]) for r in communes.iter_rows(min_row=2, max_col=2, values_only=True)} >= {("93010", "Bondy")}
    changed = [r for r in wb["Évolution"].iter_rows(min_row=3, values_only=True) if r[0] == "CLSM de Bobigny (démo)"]
    assert changed == [("CLSM de Bobigny (démo)", "Conseil local de santé mentale (CLSM)", "En fonctionnement", "Fermé",
                        "fermeture ou fin de financement", dt.datetime(2025, 6, 30))]
    assert list(layers(tmp_path / "export.gpkg")) == ["communes", "zones_partenaires", "sites"]
    pdf_text = " ".join(p.extract_text() for p in PdfReader(tmp_path / "export.pdf").pages)
    assert "Évolution du 01/03/2025 au 01/12/2026" in pdf_text and "30/06/2025" in pdf_text
    csv_text = client.get(f"/ecarts/export.csv?{query}").data.decode("utf-8-sig")
    assert csv_text.count("\n") == 40 and "\n93010;Bondy;" in csv_text
    assert csv_text.startswith("Code commune;Commune;Population;Code département;Département;Code EPCI;EPCI;")
    again = client.get(f"/ecarts/export.gpkg?{query}")  # same request, same data: the job already done
    assert again.status_code == 303 and client.get(again.headers["Location"] + ".json").get_json()["status"] == "done"


def test_gaps_downloads_of_a_territory_typed_by_name(client):
    """The page reads « Seine-Saint-Denis » as departement:93: so do its downloads, the background
    ones too, each named by the typed code and the date."""
    query = "territoire=Seine-Saint-Denis&types=clsm&date=2026-12-01"
    assert "Seine-Saint-Denis — situation au 01/12/2026" in get(client, f"/ecarts?{query}")[1]
    for fmt in ("csv", "xlsx"):
        response = client.get(f"/ecarts/export.{fmt}?{query}")
        if fmt == "xlsx":
            response = follow_job(client, response)
        assert response.status_code == 200, fmt
        assert response.headers["Content-Disposition"] == f'attachment; filename="ecarts-departement-93-2026-12-01.{fmt}"'
    refused = client.get("/ecarts/export.xlsx?territoire=Atlantide&types=clsm")
    assert refused.status_code == 400 and "Territoire « Atlantide » introuvable" in refused.get_data(as_text=True)


@pytest.mark.parametrize("query,message", [
    ("territoire=Atlantide", "Territoire « Atlantide » introuvable"),
    ("territoire=departement:01", "absent du référentiel"),
    ("territoire=departement:93&types=inconnu", "Type inconnu : inconnu"),
    ("territoire=departement:93&date=2026-01-01&comparer=2026-06-01", "doit précéder"),
])
def test_gaps_page_bad_choices(client, query, message):
    _, page = get(client, f"/ecarts?{query}", status=400)
    assert message in page
    assert client.get(f"/ecarts/export.csv?{query}").status_code == 400


def test_coverage_map_shows_a_commune_split_between_two_sectors(client):
    """Bondy: 93G10 is a polygon (Bondy nord), 93G11 the commune minus that polygon. Both are
    listed with their share of Bondy's area (computed here from the demo polygon and Bondy's
    contour); the status is "shared", not an overlap; a neighbour lists neither."""
    polygon = shapely.geometry.shape(json.loads((PROJECT_ROOT / "geodata" / "demo" / "polygons.geojson").read_text())
                                     ["features"][0]["geometry"])
    _, body = get(client, "/api/v1/territories/commune:93010?geometry=1")
    bondy = shapely.geometry.shape(json.loads(body)["geometry"])
    north = polygon.intersection(bondy).area / bondy.area
    query = "type=secteur_psy_adulte&territoire=departement:93&date=2026-12-01"
    response, _ = get(client, f"/carte/couverture.geojson?{query}")
    features = {f["properties"]["code"]: f["properties"] for f in json.loads(response.data)["features"]}
    props = features["commune:93010"]
    parts = {p["partenaire"][:35]: p["part"] for p in props["partenaires"]}
    assert set(parts) == {"Secteur de psychiatrie adulte 93G10", "Secteur de psychiatrie adulte 93G11"}
    assert parts["Secteur de psychiatrie adulte 93G10"] == pytest.approx(north, abs=0.002)
    assert sum(parts.values()) == pytest.approx(1, abs=0.002) and props["part_couverte"] == pytest.approx(1, abs=0.002)
    assert props["statut"] == "shared" and props["statut_libelle"] == "Partagée entre 2 partenaires"
    assert f"93G10 — Bondy nord (démo) ({round(north * 100)} %)" in props["partenaires_libelle"]
    for code in ("commune:93053", "commune:93008"):  # Noisy-le-Sec, Bobigny: the polygon touches them
        assert features[code]["partenaires"] == [] and features[code]["statut"] == "none"
    assert [p["partenaire"][:35] for p in features["commune:93057"]["partenaires"]] == [
        "Secteur de psychiatrie adulte 93G11"]  # Les Pavillons-sous-Bois
    _, page = get(client, f"/carte?{query}")
    row = re.search(r"<tr><td>Bondy</td>.*?</tr>", page).group(0)
    assert "Partagée entre 2 partenaires" in row and f"({round(north * 100)} %)" in row
    assert f"({round((1 - north) * 100)} %)" in row
    assert "Partagée entre plusieurs partenaires : 1 commune," in page
    _, frame = map_frame(client, f"/carte/couverture.html?{query}")
    tooltip = re.search(r"let fields = \[([^\]]*)\]", frame).group(1)  # folium escapes non-ASCII in its data
    assert '"partenaires_libelle"' in tooltip and r'"statut_libelle": "Partag\u00e9e entre 2 partenaires"' in frame


def test_commune_outlines_for_the_home_maps_view_and_not_for_half_of_france(client):
    """The home map of the demo (Paris and its three départements, and Rambouillet Territoires) opens
    at zoom 8: its background outlines come for that view; a view of half of France is refused."""
    view = "0.5713,48.3489,3.6420,49.0990"  # what Chromium asked for the demo's home map
    body = client.get(f"/carte/communes.geojson?bbox={view}").get_json()
    names = {f["properties"]["nom"] for f in body["features"]}
    assert {"Bondy", "Rambouillet", "Montreuil"} <= names and len(names) > 150
    response = client.get("/carte/communes.geojson?bbox=-2,44,5,50")
    assert response.status_code == 400 and "trop grande" in response.get_data(as_text=True)


# --------------------------------------------------------------------------------------------- /ecarts on screen, /carte for proximity kinds


def map_data(page) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="carte-donnees">(.*?)</script>', page, re.S).group(1))


def test_gaps_page_lists_the_communes_without_each_kind_with_a_map_and_links(client):
    query = "territoire=Est+Ensemble&types=clsm&types=residence_accueil&date=2026-12-01"
    _, page = get(client, f"/ecarts?{query}")
    assert "Territoire retenu : Est Ensemble (ept:200057875)" in page
    assert "Est Ensemble — situation au 01/12/2026" in page and "9 communes, " in page
    # CLSM: Bondy, Montreuil and Pantin are covered (demo file); the six others are listed by name and code
    clsm = re.search(r'<details class="gap-kind" id="sans-clsm".*?</details>', page, re.S).group(0)
    assert "6 communes sans offre" in clsm
    for name, code in (("Bagnolet", "93006"), ("Bobigny", "93008"), ("Les Lilas", "93045"), ("Romainville", "93063")):
        assert f"<li>{name} <span class=\"hint\">({code}, " in clsm
    assert "Bondy" not in clsm and "Montreuil" not in clsm
    assert 'href="/carte?type=clsm&amp;territoire=ept:200057875&amp;date=2026-12-01"' in clsm
    ra = re.search(r'<details class="gap-kind" id="sans-residence_accueil".*?</details>', page, re.S).group(0)
    assert "sans site à moins de 10,0 km" in ra or "aucune commune sans site à portée" in ra
    assert 'href="/carte?type=residence_accueil&amp;territoire=ept:200057875' in ra
    # the map: one outline a commune, coloured by how many of the two kinds it lacks
    features = {f["properties"]["name"].split(" (")[0]: f for f in map_data(page)["features"]}
    assert len(features) == 9 and features["Bondy"]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert features["Bondy"]["properties"]["fill"] == "#18753c"  # its CLSM and its résidence accueil
    assert "1 type manquant — Conseil local de santé mentale (CLSM)" in features["Bagnolet"]["properties"]["name"]
    assert "commune(s)" not in page


def test_gaps_page_groups_every_indicator_by_ept(client):
    _, page = get(client, "/ecarts?territoire=departement:93&types=clsm&niveau=ept&date=2026-12-01")
    assert '<option value="ept" selected>' in page and "<h3>Par établissement public territorial</h3>" in page
    groups = re.findall(r'<details class="gap-group"><summary>(.*?)</summary>', page)
    assert [html.unescape(g).split(" (")[0] for g in groups] == ["Est Ensemble", "Grand Paris Grand Est",
                                                                "Paris Terres d'Envol", "Plaine Commune"]
    assert groups[0].startswith("Est Ensemble (ept:200057875) — 9 communes, ")
    est = re.search(r"Synthèse par type : Est Ensemble.*?</table>", page, re.S).group(0)
    assert re.search(r"Conseil local de santé mentale \(CLSM\)</th>\s*<td>6</td>", est)
    _, bad = get(client, "/ecarts?territoire=departement:93&niveau=canton", status=400)
    assert "Niveau « canton » inconnu" in bad


def test_a_region_is_analysed_by_a_job_then_shown(client):
    query = "territoire=region:11&types=clsm&types=cmp&date=2026-12-01"
    response = client.get(f"/ecarts?{query}")
    assert response.status_code == 303 and "/travaux/" in response.headers["Location"]
    page_url = response.headers["Location"]
    import time

    deadline = time.monotonic() + 120
    while (job := client.get(page_url + ".json").get_json())["finished"] is False and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job["status"] == "done" and job["result_label"] == "Voir le résultat"
    assert job["result_url"].startswith("/ecarts/resultat/")
    _, page = get(client, job["result_url"])
    assert "Île-de-France — situation au 01/12/2026" in page
    assert '<details class="gap-kind" id="sans-clsm"' in page and '<details class="gap-kind" id="sans-cmp"' in page
    assert len(map_data(page)["features"]) > 100  # every commune and arrondissement of 75, 92, 93, 94
    # the same request on the same data: the job already done, not a second computation
    again = client.get(f"/ecarts?{query}")
    assert again.headers["Location"] == page_url
    assert client.get("/ecarts/resultat/inconnu").status_code == 404
    _, refused = get(client, f"/ecarts?{query}&comparer=2025-03-01", status=400)
    assert "la comparaison de deux dates se lit dans le classeur" in refused


@pytest.mark.parametrize("kind,radius,housing", [("cmp", 5000, False), ("residence_accueil", 10000, True),
                                                 ("pension_de_famille", 10000, True), ("gem", 5000, False)])
def test_coverage_map_of_a_proximity_kind_shows_sites_their_radius_and_the_communes_within_reach(
        client, kind, radius, housing):
    """Sites in service (planned ones aside) from the demo file, each with the kind's radius; a
    commune is within reach when its representative point is within the radius of a site
    (pyproj's geodesic here)."""
    from pyproj import Geod

    _, page = get(client, f"/carte?type={kind}&territoire=departement:93&date=2026-12-01")
    features = map_data(page)["features"]
    sites = [f for f in features if f["geometry"]["type"] == "Point"]
    communes = [f for f in features if f["geometry"]["type"] != "Point"]
    demo = json.loads((PROJECT_ROOT / "geodata" / "demo" / "partners.json").read_text())["partners"]
    active = [p for p in demo if p["kind"] == kind and p.get("status") != "planned"]
    shown = {tuple(s["geometry"]["coordinates"]) for s in sites}
    _, dep = get(client, "/api/v1/territories/departement:93?geometry=1")
    dep93 = shapely.geometry.shape(json.loads(dep)["geometry"])
    inside = {(p["sites"][0]["lon"], p["sites"][0]["lat"]) for p in active
              if dep93.contains(shapely.geometry.Point(p["sites"][0]["lon"], p["sites"][0]["lat"]))}
    assert inside and inside <= shown <= {(p["sites"][0]["lon"], p["sites"][0]["lat"]) for p in active}
    assert all(s["properties"]["role"] == ("logement" if housing else "site") for s in sites)
    assert {s["properties"]["radius_m"] for s in sites} == {radius}  # geodata/kinds.csv
    assert len(communes) == 39
    _, geojson = get(client, "/api/v1/territories/commune:93010?geometry=1")
    table = page[page.index("<caption>Détail par commune</caption>"):]
    rows = dict(re.findall(r"<tr><td>([^<]+)</td>.*?<td>(à portée|hors de portée)</td></tr>", table, re.S))
    assert len(rows) == 39
    geod = Geod(ellps="WGS84")
    in_reach = sum(1 for v in rows.values() if v == "à portée")
    assert f"À portée d'un site (son point représentatif à moins de {radius / 1000:.1f} km)".replace(".", ",") in page
    assert f"{in_reach} commune" in page
    # Bondy: the distance to its nearest site, by hand
    bondy = shapely.geometry.shape(json.loads(geojson)["geometry"]).representative_point()
    nearest = min(geod.inv(bondy.x, bondy.y, p["sites"][0]["lon"], p["sites"][0]["lat"])[2] for p in active)
    assert rows["Bondy"] == ("à portée" if nearest <= radius else "hors de portée")
    assert "commune(s)" not in page


@pytest.mark.parametrize("kind", ["clsm", "cmp"])
@pytest.mark.parametrize("territory", ["region:11", "Île-de-France", "france"])
def test_a_coverage_map_of_a_region_or_of_france_points_to_the_gap_analysis(client, kind, territory):
    """Nothing is drawn commune by commune in the request for a région or the whole reference: the
    page, its GeoJSON and its frame refuse it and say where that analysis is (a job)."""
    from urllib.parse import quote

    _, page = get(client, f"/carte?type={kind}&territoire={quote(territory)}", status=400)
    assert "Pour une région ou la France entière, utiliser l'analyse des écarts" in page.replace("&#39;", "'")
    if kind == "clsm":
        for url in ("/carte/couverture.geojson", "/carte/couverture.html"):
            response = client.get(f"{url}?type={kind}&territoire={quote(territory)}")
            assert response.status_code == 400 and "utiliser l'analyse des écarts" in response.get_data(as_text=True)
    get(client, f"/carte?type={kind}&territoire=departement:93")  # a département is drawn at once
