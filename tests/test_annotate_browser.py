"""The journey "Annoter un fichier" in Debian's Chromium (Playwright), on both database backends:
upload, preview and columns, the progress bar moved by the page's script, the download, and
nothing left on the server afterwards."""

from __future__ import annotations

import threading

import openpyxl
import pytest
from playwright.sync_api import expect
from waitress.server import create_server

from tests.test_annotate import TENANT, landlord_file
from tests.test_browser import browser  # noqa: F401 — Debian's Chromium

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def annotate_server(geo_url, tmp_path_factory):
    from app.web import create_app

    uploads = tmp_path_factory.mktemp("uploads")
    app = create_app({"DATABASE_URL": geo_url, "ANNOTATE_DIR": str(uploads),
                      "JOBS_DIR": str(tmp_path_factory.mktemp("jobs")), "COOKIE_SECURE": False})
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}", uploads
    server.close()
    app.extensions["maillage"].engine.dispose()


def test_annotate_a_file_in_the_browser(browser, annotate_server, tmp_path, artifacts, backend):  # noqa: F811
    url, uploads = annotate_server
    source = landlord_file(tmp_path / "patrimoine.csv", 400)
    page = browser.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    percents = []
    page.on("response", lambda r: percents.append(r.json()["percent"]) if r.url.endswith("/etat") else None)
    page.goto(url + "/")
    page.get_by_role("link", name="Annoter un fichier").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Annoter un fichier d'adresses")
    expect(page.locator("aside.annotate-privacy")).to_contain_text("supprimés dès le")
    page.set_input_files("input[name=fichier]", str(source))
    page.get_by_label("Conseil local de santé mentale (CLSM)").check()
    page.get_by_label("Secteur de psychiatrie générale (adultes)").check()
    page.get_by_role("button", name="Lire le fichier").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Vérifier les colonnes")
    expect(page.locator(".lead")).to_contain_text("Windows-1252")
    expect(page.locator(".lead")).to_contain_text("403 lignes de données")
    expect(page.locator("select[name=street]")).to_have_value("Voie")
    expect(page.locator("th.ignored", has_text="Nom du locataire")).to_be_visible()
    page.get_by_label("Bâtiment", exact=True).uncheck()  # one grouping column fewer than recognised
    page.screenshot(path=artifacts / f"annoter-apercu-{backend}.png", full_page=True)
    page.get_by_role("button", name="Annoter le fichier").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Annotation de patrimoine.csv")
    button = page.get_by_role("button", name="Télécharger le classeur (.xlsx)")
    expect(button).to_be_visible(timeout=120_000)
    expect(page.get_by_role("status")).to_have_text("Terminé : 403 lignes annotées.")
    assert page.locator("progress").evaluate("p => p.value") == 100
    assert percents and percents == sorted(percents) and percents[-1] == 100
    page.screenshot(path=artifacts / f"annoter-termine-{backend}.png", full_page=True)
    with page.expect_download() as download:
        button.click()
    path = tmp_path / "resultat.xlsx"
    download.value.save_as(path)
    assert download.value.suggested_filename.startswith("annotation-patrimoine-")
    wb = openpyxl.load_workbook(path, read_only=True)
    header = next(wb["Logements"].iter_rows(values_only=True))
    assert "CLSM : structures" in header and "Agence" in header and "Bâtiment" not in header
    assert sum(1 for _ in wb["Logements"].iter_rows()) == 404
    wb.close()
    assert TENANT.encode() not in path.read_bytes()
    assert list(uploads.iterdir()) == []  # the upload and its results are gone
    assert not errors, errors
    page.reload()  # the job page now: a 404 that says why
    expect(page.locator("main")).to_contain_text("n'existe plus")
    page.close()
