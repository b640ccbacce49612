"""The gardienne's journey in a real browser (Debian's Chromium through Playwright): in Bondy she
ticks « boîte aux lettres pleine » and « impayés », reads whom to call first, and prints the blank
fiche de liaison of that partner. Screenshots in tests/artifacts/."""

import pytest
from playwright.sync_api import expect

from tests.test_browser import browser, live_url, watched_page  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


def test_a_gardienne_in_bondy_ticks_two_signs_reads_whom_to_call_first_and_prints_the_fiche_de_liaison(
        browser, live_url, artifacts, backend):  # noqa: F811
    page = watched_page(browser)
    page.goto(live_url + "/")
    box = page.get_by_role("combobox", name="Adresse du logement")
    box.fill("3 rue Jean Jaurès 93140 Bondy")
    page.get_by_role("button", name="Qui contacter ?").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Qui contacter pour cette adresse ?")
    expect(page.locator(".emergency")).to_contain_text("3114")
    page.get_by_text("Décrire ce qui est observé").click()
    page.get_by_label("Boîte aux lettres pleine").check()
    page.get_by_label("Impayés de loyer ou de charges").check()
    page.screenshot(path=artifacts / f"journey-guide-signs-{backend}.png", full_page=True)
    page.get_by_role("button", name="Qui mobiliser, dans quel ordre ?").click()
    expect(page.get_by_role("heading", name="Qui mobiliser, dans l'ordre")).to_be_visible()
    assert "impayes" not in page.url and "boite" not in page.url  # the signs are in no URL, no history
    first = page.locator(".guide-step").first
    expect(first.get_by_role("heading", level=3)).to_have_text("Cellule interne santé mentale du bailleur")
    expect(first).to_contain_text("Cellule santé mentale Habitat Exemple 93 (démo)")
    expect(first).to_contain_text("Vérifier d'abord avec la cellule interne")
    expect(first).to_contain_text("Qui peut orienter")
    expect(page.locator(".guide-step", has_text="CCAS de Bondy")).to_contain_text("Le CCAS peut connaître la personne")
    expect(page.locator(".emergency")).to_contain_text("115")
    page.screenshot(path=artifacts / f"journey-guide-answer-{backend}.png", full_page=True)
    first.get_by_role("link", name="Fiche de liaison à imprimer").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Fiche de liaison — Cellule santé mentale Habitat Exemple 93 (démo)")
    expect(page.locator(".liaison-table")).to_contain_text("Ce qui est observé, depuis quand")
    assert page.locator("input, textarea, select").count() == 0  # nothing to fill on screen: by hand only
    page.emulate_media(media="print")
    assert page.locator(".site-header").is_hidden() and page.locator("#imprimer").is_hidden()
    page.screenshot(path=artifacts / f"journey-fiche-liaison-print-{backend}.png", full_page=True)
    assert page.pdf(format="A4")[:4] == b"%PDF"
    assert page.errors == []
    page.close()
