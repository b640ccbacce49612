"""Pages in a real browser: Debian's Chromium driven by Playwright (never a downloaded browser).

Screenshots of each journey go to tests/artifacts/ for a reviewer to look at.
"""

import os
import re
import threading

import pytest
from playwright.sync_api import expect, sync_playwright
from waitress.server import create_server

from app.config import PROJECT_ROOT
from app.web import create_app

CHROMIUM = os.environ.get("MAILLAGE_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.browser


def served(app, port: int = 0):
    """Serve a Flask app with waitress on a free port (or this one): yields its base URL, then stops."""
    server = create_server(app, host="127.0.0.1", port=port, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    # the address index is built on the first search: build it before the journeys time their pages
    app.test_client().get("/api/v1/geocode?q=12+avenue+jean+jaures+bondy&autocomplete=1")
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()
    app.extensions["maillage"].engine.dispose()


@pytest.fixture(scope="module")
def live_url(geo_url):
    """The app served by waitress on the demo with Bondy's BAN addresses (autocomplete)."""
    yield from served(create_app({"DATABASE_URL": geo_url}))


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        raise FileNotFoundError(f"{CHROMIUM} missing: `bash dev.sh test` installs Debian's chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def test_home_shows_the_demo_banner(browser, live_url, artifacts, backend):
    page = browser.new_page()
    page.goto(live_url + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Qui couvre cette adresse ?")
    expect(page.get_by_role("complementary", name="Base de démonstration")).to_contain_text("structures, zones et contacts fictifs")
    page.screenshot(path=artifacts / f"home-{backend}.png", full_page=True)
    page.close()


def test_keyboard_reaches_the_skip_link_first(browser, live_url):
    page = browser.new_page()
    page.goto(live_url + "/")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused == "Aller au contenu"
    page.close()


def test_api_docs_page_on_a_phone(browser, live_url, artifacts, backend):
    page = browser.new_page(viewport={"width": 360, "height": 740})
    page.goto(live_url + "/api/docs")
    expect(page.locator("#get--lookup")).to_contain_text("Qui couvre ce point ?")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"page is {overflow}px wider than a 360px phone"
    page.screenshot(path=artifacts / f"api-docs-360px-{backend}.png", full_page=False)
    page.close()


def test_api_json_in_the_browser_has_no_console_errors(browser, live_url):
    page = browser.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    response = page.goto(live_url + "/api/v1/lookup?lon=2.4850&lat=48.9100")
    assert response.status == 200 and response.headers["content-type"].startswith("application/json")
    response = page.goto(live_url + "/api/v1/lookup?lon=2.4850&lat=91")
    assert response.status == 400 and response.headers["content-type"] == "application/problem+json"
    assert errors == [] or all("400" in e for e in errors)
    page.close()


# --------------------------------------------------------------------------------------------- journeys


def kind_region(page, code):
    return page.locator(f"section.kind:has(#kind-{code})")


def watched_page(browser, **options):
    """A page that records console errors and CSP violations: a journey must end with none."""
    page = browser.new_page(**options)
    page.errors = []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    return page


def test_type_an_address_with_typos_and_pick_a_suggestion(browser, live_url, artifacts, backend):
    page = watched_page(browser)
    page.goto(live_url + "/")
    box = page.get_by_role("combobox", name="Adresse du logement")
    box.click()
    box.press_sequentially("12 av jean jaurés bondi", delay=30)
    options = page.locator("#suggestions").get_by_role("option")
    # the first search of a run may wait for the address index to be built (a shared, busy machine)
    expect(options.first).to_be_visible(timeout=20000)
    expect(options.first).to_contain_text("Jean Jaur")
    page.screenshot(path=artifacts / f"journey-autocomplete-{backend}.png")
    options.first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Qui contacter pour cette adresse ?")
    expect(page.locator(".geocoding")).to_contain_text("Adresse retenue")
    expect(kind_region(page, "clsm")).to_contain_text("CLSM de Bondy")
    expect(page.locator(".leaflet-interactive").first).to_be_visible()  # the map drew the point and zones
    page.screenshot(path=artifacts / f"journey-card-{backend}.png", full_page=True)
    assert page.errors == []
    page.close()


def test_keyboard_only_search(browser, live_url, backend, artifacts):
    page = watched_page(browser)
    page.goto(live_url + "/")
    page.keyboard.press("Tab")  # skip link
    page.keyboard.press("Tab")  # brand
    for _ in range(15):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "adresse":
            break
    assert page.evaluate("document.activeElement.id") == "adresse"
    page.keyboard.type("3 rue de la pointe bondy", delay=20)
    expect(page.locator("#suggestions").get_by_role("option").first).to_be_visible(timeout=20000)
    page.keyboard.press("ArrowDown")
    expect(page.locator("#adresse")).to_have_attribute("aria-activedescendant", "suggestion-0")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Qui contacter pour cette adresse ?")
    # the focus ring is visible on a focused link
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    assert page.errors == []
    page.close()


def test_sub_commune_and_no_coverage_cases_and_the_age_filter(browser, live_url, artifacts, backend):
    page = watched_page(browser)
    page.goto(live_url + "/couverture?lon=2.4850&lat=48.9100")
    sector = kind_region(page, "secteur_psy_adulte")
    expect(sector).to_contain_text("93G10")
    expect(sector).to_contain_text("zone délimitée : Bondy nord")
    expect(kind_region(page, "savs")).to_contain_text("Aucun SAVS connu pour cette adresse — inventaire inconnu pour ce territoire.")
    page.get_by_role("radio", name="Enfant ou adolescent").check()
    page.get_by_role("button", name="Qui contacter ?").click()
    expect(page).to_have_url(re.compile(r"age=enfant"))
    expect(kind_region(page, "secteur_psy_infanto")).to_contain_text("93I04")
    expect(kind_region(page, "secteur_psy_adulte")).to_have_count(0)  # an adult-only kind is left out
    page.screenshot(path=artifacts / f"journey-age-filter-{backend}.png", full_page=True)
    assert page.errors == []
    page.close()


def test_print_the_fiche(browser, live_url, artifacts, backend):
    page = watched_page(browser)
    page.goto(live_url + "/couverture?lon=2.4830&lat=48.8960")
    page.get_by_role("link", name="Fiche d'orientation à imprimer").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Fiche d'orientation")
    page.emulate_media(media="print")
    assert page.locator(".site-header").is_hidden() and page.locator("#imprimer").is_hidden()
    page.screenshot(path=artifacts / f"journey-fiche-print-{backend}.png", full_page=True)
    pdf = page.pdf(format="A4")
    assert pdf[:4] == b"%PDF"
    with page.expect_download() as download:
        page.emulate_media(media="screen")
        page.get_by_role("link", name="Télécharger en PDF").click()
    assert re.fullmatch(r"fiche-orientation-\d{4}-\d{2}-\d{2}\.pdf", download.value.suggested_filename)
    assert page.errors == []
    page.close()


def test_browse_the_directory_to_a_partner_page(browser, live_url, artifacts, backend):
    page = watched_page(browser)
    page.goto(live_url + "/annuaire")
    page.get_by_label("Type").select_option("secteur_psy_adulte")
    page.get_by_role("button", name="Filtrer").click()
    page.get_by_role("link", name=re.compile("93G11")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("93G11")
    expect(page.get_by_text("Provenance")).to_be_visible()
    expect(page.get_by_role("link", name="Signaler une erreur")).to_have_attribute("href", re.compile(r"/partenaires/\d+/signaler$"))
    expect(page.locator(".leaflet-interactive").first).to_be_visible()
    page.screenshot(path=artifacts / f"journey-partner-{backend}.png", full_page=True)
    assert page.errors == []
    page.close()


def test_a_coverage_map_still_drawing_shows_its_progress_then_itself(browser, geo_url, tmp_path, artifacts, backend):
    """With no time given to the map's job in the request, the frame shows the drawing's progress,
    then the map replaces it by itself (app/static/jobs.js reloads the frame)."""
    server = served(create_app({"DATABASE_URL": geo_url, "JOBS_DIR": str(tmp_path / "jobs"), "MAP_FRAME_WAIT_S": 0}))
    url = next(server)
    try:
        page = watched_page(browser)
        page.goto(url + "/carte?type=secteur_psy_adulte&territoire=Seine-Saint-Denis&date=2026-03-01")
        frame = page.frame_locator("iframe.coverage-frame")
        expect(frame.get_by_role("heading", name="Carte de couverture en préparation")).to_be_visible()
        expect(frame.locator(".leaflet-interactive").first).to_be_visible(timeout=60_000)
        page.screenshot(path=artifacts / f"journey-coverage-map-drawn-by-a-job-{backend}.png", full_page=True)
        assert page.errors == []
        page.close()
    finally:
        next(server, None)


def test_open_a_coverage_map(browser, live_url, artifacts, backend):
    page = watched_page(browser)
    page.goto(live_url + "/carte")
    page.get_by_label("Type de partenaire").select_option("clsm")
    page.get_by_label(re.compile("^Territoire")).fill("departement:93")
    page.get_by_role("button", name="Afficher").click()
    expect(page.locator(".legend-list")).to_contain_text("Couvert plusieurs fois : 1 commune, ")
    frame = page.frame_locator("iframe.coverage-frame")
    # drawn by a job: at once when the machine is idle, after its progress frame when it is busy
    expect(frame.locator(".leaflet-interactive").first).to_be_visible(timeout=60_000)
    frame.locator(".leaflet-interactive").nth(5).hover()
    expect(frame.locator(".leaflet-tooltip")).to_contain_text("Population")
    page.screenshot(path=artifacts / f"journey-coverage-map-{backend}.png", full_page=True)
    assert page.errors == []
    page.close()


def test_click_on_the_home_map_to_choose_a_point(browser, live_url):
    page = watched_page(browser)
    page.goto(live_url + "/")
    expect(page.locator("#carte .leaflet-interactive").first).to_be_visible()  # commune outlines
    page.locator("#carte").click(position={"x": 200, "y": 150})
    expect(page).to_have_url(re.compile(r"/couverture\?lon=[-0-9.]+&lat=[-0-9.]+"))
    assert page.errors == []
    page.close()


def test_coverage_card_on_a_360px_phone(browser, live_url, artifacts, backend):
    page = watched_page(browser, viewport={"width": 360, "height": 740})
    page.goto(live_url + "/couverture?adresse=3+rue+de+la+pointe+bondy")
    expect(page.locator("#kind-clsm")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"page is {overflow}px wider than a 360px phone"
    page.screenshot(path=artifacts / f"journey-card-360px-{backend}.png", full_page=True)
    assert page.errors == []
    page.close()


def test_use_my_position(browser, live_url):
    context = browser.new_context(geolocation={"longitude": 2.4830, "latitude": 48.8960}, permissions=["geolocation"])
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(live_url + "/")
    page.get_by_role("button", name="Utiliser ma position").click()
    expect(page).to_have_url(re.compile(r"/couverture\?lon=2\.483000&lat=48\.896000"))
    expect(kind_region(page, "secteur_psy_adulte")).to_contain_text("93G11")
    assert errors == []
    context.close()


def test_gap_analysis_page_and_download(browser, live_url, artifacts, backend):
    page = watched_page(browser)
    page.goto(live_url + "/ecarts")
    page.get_by_label(re.compile("^Territoire")).fill("departement:93")
    page.get_by_label("Conseil local de santé mentale (CLSM)").check()
    page.get_by_label("Résidence accueil").check()
    page.get_by_role("button", name="Analyser").click()
    expect(page.get_by_role("heading", level=2, name=re.compile("Seine-Saint-Denis"))).to_be_visible()
    expect(page.locator("table").first).to_contain_text("Conseil local de santé mentale (CLSM)")
    # the workbook is a background job: its page shows the progress, then the link to the file
    page.get_by_role("link", name="XLSX").click()
    expect(page).to_have_url(re.compile(r"/travaux/[^/]+$"))
    result = page.get_by_role("link", name="Télécharger le résultat")
    expect(result).to_be_visible(timeout=60_000)
    with page.expect_download() as download:
        result.click()
    assert re.fullmatch(r"ecarts-departement-93-\d{4}-\d{2}-\d{2}\.xlsx", download.value.suggested_filename)
    page.screenshot(path=artifacts / f"journey-gaps-{backend}.png", full_page=True)
    assert page.errors == []
    page.close()


def test_planners_journey_by_ept_from_the_gaps_to_the_proximity_map(browser, live_url, artifacts, backend):
    """A planner types "Est Ensemble", groups by EPT, reads the communes lacking a CLSM on the
    screen and the map of the territory, then opens the CMP's map: sites, their radius, the
    communes within reach."""
    page = watched_page(browser)
    page.goto(live_url + "/ecarts")
    page.get_by_label(re.compile("^Territoire")).fill("Est Ensemble")
    page.get_by_label("Conseil local de santé mentale (CLSM)").check()
    page.get_by_label("Centre médico-psychologique (CMP)").check()
    page.get_by_label("Unités et regroupement").select_option("ept")
    page.get_by_role("button", name="Analyser").click()
    expect(page.get_by_role("heading", level=2, name=re.compile("Est Ensemble"))).to_be_visible()
    expect(page.get_by_text("Territoire retenu : Est Ensemble (ept:200057875)")).to_be_visible()
    expect(page.locator("#sans-clsm")).to_contain_text("6 communes sans offre")
    expect(page.locator("#sans-clsm")).to_contain_text("Bagnolet")
    expect(page.locator("#carte path.leaflet-interactive")).to_have_count(9)
    page.screenshot(path=artifacts / f"journey-gaps-ept-{backend}.png", full_page=True)
    page.locator("#sans-cmp summary").click()
    page.locator("#sans-cmp").get_by_role("link", name=re.compile("Voir la carte de couverture")).click()
    expect(page).to_have_url(re.compile(r"/carte\?type=cmp&territoire=ept(:|%3A)200057875"))
    expect(page.get_by_text(re.compile(r"Centre médico-psychologique \(CMP\) : \d+ sites? autour du territoire, "
                                       r"rayon de 5,0 km"))).to_be_visible()
    # the communes, then each site as a circle of its radius and a marker
    circles = page.locator("#carte path[stroke-dasharray]")
    expect(circles.first).to_be_attached()
    assert circles.count() >= 2  # the CMP of Bondy nord and sud at least
    expect(page.locator("#carte path.leaflet-interactive")).to_have_count(9 + circles.count())
    page.screenshot(path=artifacts / f"journey-proximity-map-{backend}.png", full_page=True)
    assert page.errors == []
    page.close()


@pytest.mark.parametrize("width", ["1280px", "360px"])
def test_a_region_s_gap_analysis_goes_through_its_job_page(browser, live_url, artifacts, backend, width):
    """Île-de-France is analysed apart from the request: the job's page shows the progress, then
    « Voir le résultat » opens the same page as a département's, which passes axe-core."""
    page = watched_page(browser, viewport=WIDTHS[width], bypass_csp=True)
    page.goto(live_url + "/ecarts")
    page.get_by_label(re.compile("^Territoire")).fill("Île-de-France")
    page.get_by_label("Conseil local de santé mentale (CLSM)").check()
    page.get_by_label("Groupe d'entraide mutuelle (GEM)").check()
    page.get_by_role("button", name="Analyser").click()
    expect(page).to_have_url(re.compile(r"/travaux/[^/]+$"))
    result = page.get_by_role("link", name="Voir le résultat")
    expect(result).to_be_visible(timeout=60_000)
    result.click()
    expect(page).to_have_url(re.compile(r"/ecarts/resultat/[^/]+$"))
    expect(page.get_by_role("heading", level=2, name=re.compile("Île-de-France"))).to_be_visible()
    expect(page.locator("#sans-gem")).to_contain_text("communes sans site à moins de 5,0 km")
    expect(page.locator("#carte path.leaflet-interactive").first).to_be_attached()
    assert_accessible_and_fits(page, "the result", width)
    page.screenshot(path=artifacts / f"journey-gaps-region-{width}-{backend}.png", full_page=True)
    assert page.errors == []
    page.close()


def test_the_api_explorer_runs_offline(browser, live_url, artifacts, backend):
    """Swagger UI, served by the app: every operation listed from the published document, allowed
    values shown, an operation tried — with no request leaving the app and no CSP violation."""
    page = watched_page(browser)
    outside = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((live_url, "data:")) else None)
    page.goto(live_url + "/api/docs")
    expect(page.locator("#swagger-ui .opblock").first).to_be_visible(timeout=20000)
    assert page.locator("#swagger-ui .opblock").count() == 13
    page.locator("#swagger-ui .opblock-summary-path", has_text="/lookup/batch").first.click()
    page.locator("#swagger-ui .opblock-summary-path[data-path='/lookup']").first.click()
    expect(page.locator("#swagger-ui option", has_text="enfant").first).to_be_attached()  # the age values
    page.locator("#swagger-ui button.try-out__btn").first.click()
    page.screenshot(path=artifacts / f"api-explorer-{backend}.png", full_page=False)
    assert outside == []
    assert page.errors == [], page.errors


# --------------------------------------------------------------------------------------------- accessibility

AXE = PROJECT_ROOT / "tests" / "vendor" / "axe-core" / "axe.min.js"
WIDTHS = {"1280px": {"width": 1280, "height": 900}, "360px": {"width": 360, "height": 740}}
# Every page a person reaches, with the states that change its structure (an answer, a map, a table).
PAGES = {
    "home": "/",
    "card": "/couverture?adresse=12+avenue+jean+jaures+bondy",
    "card-point": "/couverture?lon=2.4850&lat=48.9100&age=enfant",
    "card-unknown": "/couverture?adresse=zzzz+introuvable",
    "fiche": "/fiche?adresse=12+avenue+jean+jaures+bondy",
    "directory": "/annuaire?type=cmp",
    "partner": None,  # the first partner of the directory
    "coverage-map": "/carte?type=clsm&territoire=departement%3A93",
    "gaps": "/ecarts?territoire=departement%3A93&types=clsm&types=residence_accueil",
    "gaps-ept": "/ecarts?territoire=Est+Ensemble&types=clsm&types=cmp&types=residence_accueil&niveau=ept",
    "coverage-map-proximity": "/carte?type=cmp&territoire=departement%3A93",
    "api-docs": "/api/docs",
    "not-found": "/nulle-part",
}


def axe_violations(page) -> list[str]:
    """axe-core (vendored from npm, tests/vendor/axe-core) run on the page and on each of its frames
    (the planners' map is a folium document in a frame)."""
    found = []
    for frame in page.frames:
        if frame.url in ("", "about:blank"):
            continue
        frame.add_script_tag(path=str(AXE))
        results = frame.evaluate("axe.run(document, {resultTypes: ['violations'], iframes: false})")
        where = "" if frame == page.main_frame else f"[frame {frame.url.split('?')[0]}] "
        found += [f"{where}{v['id']} ({v['impact']}): {v['help']} — " + "; ".join(str(n["target"]) for n in v["nodes"][:5])
                  for v in results["violations"]]
    return found


def assert_accessible_and_fits(page, name: str, width: str) -> None:
    """Once the page has settled: no axe-core violation, and no sideways scrolling at that width."""
    page.wait_for_load_state("networkidle")
    violations = axe_violations(page)
    assert violations == [], "\n".join(violations)
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{name} is {overflow}px wider than the {width} screen"


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_passes_axe_core_and_fits_the_screen(browser, live_url, artifacts, backend, name, width):
    page = watched_page(browser, viewport=WIDTHS[width], bypass_csp=True)  # to inject axe-core
    url = PAGES[name]
    if url is None:
        page.goto(live_url + "/annuaire?type=clsm")
        url = page.locator("table.directory a").first.get_attribute("href")
    response = page.goto(live_url + url)
    assert response.status in (200, 400, 404)
    assert_accessible_and_fits(page, name, width)
    page.screenshot(path=artifacts / f"axe-{name}-{width}-{backend}.png", full_page=True)
    assert [e for e in page.errors if "404" not in e] == []
    page.close()
