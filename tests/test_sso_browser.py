"""ProConnect single sign-on as a person does it, in Debian's Chromium (Playwright), both backends,
CSRF on, against the real OpenID Connect provider of tests/oidc/: the button, the provider's login
page, back in "Mon espace"; an address without an account refused in French; logout at both ends."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app.web import create_app
from tests.accounts_helpers import accounts_url  # noqa: F401
from tests.oidc_helpers import Provider, free_port
from tests.test_browser import browser, served, watched_page  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.db]


@pytest.fixture(scope="module")
def live(accounts_url, tmp_path_factory):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    provider = Provider(tmp_path_factory.mktemp("oidc"), url)
    try:
        yield from served(create_app({"DATABASE_URL": accounts_url, "COOKIE_SECURE": False, "PUBLIC_URL": url,
                                      **provider.settings()}), port)
    finally:
        provider.stop()


def sign_in_with_proconnect(page, live, login):
    page.goto(live + "/connexion")
    page.get_by_role("button", name="S'identifier avec ProConnect").click()
    page.get_by_placeholder("Enter any login").fill(login)  # the provider's own page
    page.get_by_placeholder("and password").fill("n'importe lequel")
    page.get_by_role("button", name="Sign-in").click()


def test_sign_in_and_out_with_proconnect(browser, live, artifacts, backend):  # noqa: F811
    page = watched_page(browser)
    sign_in_with_proconnect(page, live, "ref1")
    expect(page.get_by_role("heading", level=1)).to_have_text("Mon espace")
    expect(page.get_by_role("link", name="Modifier la fiche n° 1")).to_be_visible()
    page.screenshot(path=artifacts / f"sso-signed-in-{backend}.png", full_page=True)

    page.get_by_role("button", name="Se déconnecter").click()
    page.get_by_role("button", name="Yes, sign me out").click()  # the provider's logout page
    expect(page.get_by_role("main")).to_contain_text("Vous êtes déconnecté de Maillage et de ProConnect.")
    page.goto(live + "/espace")
    expect(page.get_by_role("heading", level=1)).to_have_text("Connexion")
    # no form of ours was blocked on its way to the provider (CSP form-action)
    assert not [e for e in page.errors if "Content Security Policy" in e], page.errors
    page.close()


def test_an_address_without_an_account_is_refused(browser, live, artifacts, backend):  # noqa: F811
    page = watched_page(browser)
    sign_in_with_proconnect(page, live, "inconnu")
    expect(page.get_by_role("heading", level=1)).to_have_text("Connexion avec ProConnect")
    expect(page.get_by_role("main")).to_contain_text(
        "Aucun compte Maillage n'est ouvert pour l'adresse « personne@example.org »")
    page.screenshot(path=artifacts / f"sso-refused-{backend}.png", full_page=True)
    page.goto(live + "/espace")
    expect(page.get_by_role("heading", level=1)).to_have_text("Connexion")
    page.close()
