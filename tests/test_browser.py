"""Pages in a real browser: Debian's Chromium driven by Playwright (never a downloaded browser).

Screenshots of each journey go to tests/artifacts/ for a reviewer to look at.
"""

import os
import threading

import pytest
from playwright.sync_api import expect, sync_playwright
from waitress.server import create_server

from app import create_app

CHROMIUM = os.environ.get("MAILLAGE_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live_url(demo_url):
    app = create_app({"DATABASE_URL": demo_url})
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()
    app.extensions["maillage"].engine.dispose()


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
    expect(page.get_by_role("note")).to_contain_text("Base de démonstration")
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
