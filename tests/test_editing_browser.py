"""The editing journeys in Debian's Chromium (Playwright), both backends, CSRF on, a real SMTP
server (aiosmtpd): invitation → password → edit contacts → propose a new coverage → the territory
administrator sees the preview and validates → the public card answers with the new coverage;
history → revert; report an error → it appears in the queue. Screenshots in tests/artifacts/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.web import create_app
from tests.accounts_helpers import PASSWORD, accounts_url, smtp  # noqa: F401
from tests.test_browser import browser, served, watched_page  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.db]

LIVRY = (2.5330, 48.9200)


@pytest.fixture(scope="module")
def live(accounts_url, smtp):
    _inbox, port = smtp
    yield from served(create_app({"DATABASE_URL": accounts_url, "COOKIE_SECURE": False, "SMTP_HOST": "127.0.0.1",
                                  "SMTP_PORT": port}))


def login(page, live, email, password=PASSWORD):
    page.goto(live + "/connexion")
    page.get_by_label("Adresse électronique").fill(email)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mon espace")


def logout(page):
    page.get_by_role("button", name="Se déconnecter").click()
    expect(page.get_by_role("link", name="Connexion")).to_be_visible()


def test_invitation_edit_propose_validate_card(browser, live, smtp, artifacts, backend):  # noqa: F811
    inbox, _port = smtp
    page = watched_page(browser)
    login(page, live, "admin@example.org")
    page.get_by_role("link", name="Comptes et invitations").click()
    page.get_by_label("Nom", exact=True).fill("Camille Référente")
    page.get_by_label("Adresse électronique professionnelle").fill("camille@example.org")
    page.get_by_label("Rôle").select_option("referent")
    page.get_by_label("Partenaires (référent) : numéros des fiches").fill("1")
    page.get_by_role("button", name="Envoyer l'invitation").click()
    expect(page.get_by_role("status")).to_contain_text("Invitation envoyée à camille@example.org")
    logout(page)

    link = inbox.last_link("/invitation")
    page.goto(live + link)
    page.get_by_label("Mot de passe (12 caractères au moins)").fill("mon mot de passe à moi")
    page.get_by_label("Le même, une seconde fois").fill("mon mot de passe à moi")
    page.get_by_role("button", name="Enregistrer le mot de passe").click()
    expect(page.get_by_role("status")).to_contain_text("vous êtes connecté")

    page.get_by_role("link", name="Modifier la fiche n° 1").click()
    page.get_by_label("Téléphone (contact 1)").fill("01 48 00 12 34")
    page.get_by_label("Chercher un territoire").press_sequentially("Livry", delay=40)
    page.get_by_role("button", name=re.compile("Ajouter Livry-Gargan")).click()
    expect(page.get_by_label(re.compile("^Territoires couverts"))).to_have_value(re.compile("Livry-Gargan \\(commune:93046\\)"))
    page.get_by_role("button", name="Aperçu de la zone").click()
    expect(page.locator("ul.gained")).to_contain_text("Livry-Gargan")
    expect(page.locator(".preview-map .leaflet-interactive").first).to_be_visible()
    page.screenshot(path=artifacts / f"editing-preview-{backend}.png", full_page=True)
    page.get_by_role("button", name="Enregistrer et proposer").click()
    expect(page.get_by_role("status")).to_contain_text("proposés à l'administrateur du territoire")
    expect(page.locator("ul.contacts")).to_contain_text("01 48 00 12 34")  # applied at once
    logout(page)

    login(page, live, "terr93@example.org")
    page.get_by_role("link", name="File de modération").click()
    proposal = page.locator("section.proposal").first
    expect(proposal).to_contain_text("Camille Référente")
    expect(proposal.locator("ul.gained")).to_contain_text("Livry-Gargan")
    expect(proposal.locator(".leaflet-interactive").first).to_be_visible()
    page.screenshot(path=artifacts / f"editing-moderation-{backend}.png", full_page=True)
    proposal.get_by_label("Raison (obligatoire pour un refus)").fill("Validé avec le CLSM")
    proposal.get_by_role("button", name="Valider").click()
    expect(page.get_by_role("status")).to_contain_text("Proposition validée")
    logout(page)

    page.goto(f"{live}/couverture?lon={LIVRY[0]}&lat={LIVRY[1]}")
    expect(page.locator("section.kind:has(#kind-clsm)")).to_contain_text("CLSM de Bondy")
    assert page.errors == []
    page.close()


def test_history_and_revert(browser, live, artifacts, backend):  # noqa: F811
    page = watched_page(browser)
    login(page, live, "admin@example.org")
    page.goto(live + "/partenaires/6/modifier")
    page.get_by_label("Qui peut orienter, quoi envoyer, quels délais").fill("Première version saisie.")
    page.get_by_role("button", name="Enregistrer", exact=True).click()
    page.goto(live + "/partenaires/6/modifier")
    page.get_by_label("Qui peut orienter, quoi envoyer, quels délais").fill("Seconde version, erronée.")
    page.get_by_role("button", name="Enregistrer", exact=True).click()
    page.get_by_role("link", name="Historique").click()
    versions = page.locator("ol.history > li")
    expect(versions.first).to_contain_text("Seconde version, erronée.")
    versions.nth(1).get_by_role("button", name="Revenir à cette version").click()
    expect(page.get_by_role("status")).to_contain_text("Version restaurée")
    expect(versions.first).to_contain_text("retour à une version")
    page.screenshot(path=artifacts / f"editing-history-{backend}.png", full_page=True)
    page.goto(live + "/partenaires/6")
    expect(page.get_by_text("Première version saisie.")).to_be_visible()
    assert page.errors == []
    page.close()


def test_report_an_error_then_it_is_in_the_queue(browser, live, artifacts, backend):  # noqa: F811
    page = watched_page(browser)
    page.goto(live + "/partenaires/2")
    page.get_by_role("link", name="Signaler une erreur").click()
    expect(page.locator(".warning")).to_contain_text("Ne rien écrire sur une personne")
    page.get_by_label("Ce qui est inexact").fill("Le CLSM a déménagé rue de Paris.")
    page.get_by_role("button", name="Envoyer le signalement").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Merci")
    login(page, live, "terr93@example.org")
    page.get_by_role("link", name="File de modération").click()
    report = page.locator("section.report", has_text="Le CLSM a déménagé rue de Paris.")
    expect(report).to_be_visible()
    page.screenshot(path=artifacts / f"editing-report-{backend}.png", full_page=True)
    report.get_by_role("button", name="Traité").click()
    expect(page.locator("section.report", has_text="Le CLSM a déménagé rue de Paris.")).to_have_count(0)
    assert page.errors == []
    page.close()


def test_draw_a_polygon_on_the_map_preview_and_save_it(browser, live, accounts_url, artifacts, backend):  # noqa: F811
    """The coverage editor's map (Leaflet.draw, vendored): a polygon drawn vertex by vertex, seen in
    the preview with the communes it adds, then saved as a polygon part of the partner's zone."""
    from sqlalchemy import select

    from app.models import CoveragePart

    page = watched_page(browser)
    login(page, live, "admin@example.org")
    page.goto(live + "/partenaires/1/modifier")
    draw_map = page.locator(".draw-map")
    draw_map.scroll_into_view_if_needed()
    expect(draw_map.locator(".leaflet-interactive").first).to_be_visible()  # the current zone, in grey
    page.get_by_role("link", name="Dessiner un polygone").click()
    box = draw_map.bounding_box()
    corners = [(0.62, 0.25), (0.95, 0.30), (0.90, 0.80), (0.60, 0.75), (0.62, 0.25)]  # east of Bondy, closed
    for fx, fy in corners:
        page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
        page.wait_for_timeout(250)
    expect(page.locator(".draw-status")).to_contain_text("Polygone dessiné")
    assert page.get_by_label("Nom du polygone").input_value() == "polygone dessiné"
    page.get_by_label("Nom du polygone").fill("secteur est dessiné")
    page.get_by_role("button", name="Aperçu de la zone").click()
    expect(page.locator("ul.gained li").first).to_be_visible()
    expect(page.locator(".draw-status")).to_contain_text("gardé pour l'enregistrement")
    page.screenshot(path=artifacts / f"editing-draw-{backend}.png", full_page=True)
    page.get_by_role("button", name="Enregistrer", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Modifications enregistrées")
    assert not [e for e in page.errors if "Content Security Policy" in e or "Error" in e], page.errors
    page.close()
    app = create_app({"DATABASE_URL": accounts_url})
    with app.extensions["maillage"].sessions() as session:
        labels = [p.label for p in session.scalars(select(CoveragePart).where(CoveragePart.partner_id == 1,
                                                                              CoveragePart.geom.is_not(None)))]
    app.extensions["maillage"].engine.dispose()
    assert labels == ["secteur est dessiné"]
