"""Single sign-on through ProConnect, against a real OpenID Connect provider the tests start
(oidc-provider on Node, tests/oidc/), both backends: the authorization code flow with PKCE, state
and nonce; only invited accounts, by their verified e-mail; logout at the provider too."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from app.models import Account
from app.web import create_app
from tests.accounts_helpers import accounts_url, logged_in  # noqa: F401
from tests.oidc_helpers import Provider, free_port, sign_in_at_provider, sign_out_at_provider

pytestmark = pytest.mark.db

APP = "http://localhost"  # the Flask test client's host


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    running = Provider(tmp_path_factory.mktemp("oidc"), APP)
    yield running
    running.stop()


def make_app(url, provider, **settings):
    return create_app({"DATABASE_URL": url, "COOKIE_SECURE": False, "PUBLIC_URL": APP, **provider.settings(**settings),
                       "flask": {"TESTING": True, "WTF_CSRF_ENABLED": False}})


@pytest.fixture(scope="module")
def sso_app(accounts_url, provider):
    application = make_app(accounts_url, provider)
    yield application
    application.extensions["maillage"].engine.dispose()


def start(client, next_page="/espace"):
    """The login page's ProConnect button: the redirect to the provider's authorization endpoint."""
    response = client.post("/connexion/proconnect", data={"next": next_page})
    assert response.status_code == 302, response.status_code
    return response.headers["Location"]


def back_to_app(client, url):
    parts = urlsplit(url)
    return client.get(f"{parts.path}?{parts.query}")


def account(app, email):
    with app.extensions["maillage"].sessions() as session:
        return session.scalar(select(Account).where(Account.email == email))


def test_full_login_flow_with_pkce_state_and_nonce(sso_app, provider):
    client, browser = sso_app.test_client(), requests.Session()
    assert "S'identifier avec ProConnect" in client.get("/connexion").get_data(as_text=True)
    authorize = start(client, "/partenaires/1")
    assert authorize.startswith(provider.issuer + "/auth?")
    asked = parse_qs(urlsplit(authorize).query)
    assert asked["response_type"] == ["code"] and asked["client_id"] == ["maillage-test"]
    assert asked["code_challenge_method"] == ["S256"] and len(asked["code_challenge"][0]) >= 43
    assert asked["state"][0] and asked["nonce"][0] and asked["state"] != asked["nonce"]
    assert set(asked["scope"][0].split()) == {"openid", "email", "given_name", "usual_name"}
    assert asked["redirect_uri"] == [APP + "/connexion/proconnect/retour"]

    callback = sign_in_at_provider(browser, authorize, "ref1", APP)
    assert parse_qs(urlsplit(callback).query)["state"] == asked["state"]
    before = account(sso_app, "ref1@example.org").last_login_at
    response = back_to_app(client, callback)
    assert response.status_code == 302 and response.headers["Location"] == "/partenaires/1"
    page = client.get("/espace").get_data(as_text=True)
    assert "Mon espace" in page and "Ref1" in page  # the invited account, found by its e-mail (any case)
    assert account(sso_app, "ref1@example.org").last_login_at != before
    with client.session_transaction() as s:
        assert s["account_id"] == account(sso_app, "ref1@example.org").id and s["sso_id_token"].count(".") == 2

    # the same answer sent again is refused: the state served once
    again = back_to_app(client, callback)
    assert again.status_code == 400 and "n&#39;a pas abouti" in again.get_data(as_text=True)


def test_a_forged_state_is_refused(sso_app, provider):
    client = sso_app.test_client()
    callback = sign_in_at_provider(requests.Session(), start(client), "ref1", APP)
    forged = callback.replace("state=", "state=x")
    response = back_to_app(client, forged)
    assert response.status_code == 400
    assert "La connexion avec ProConnect n&#39;a pas abouti" in response.get_data(as_text=True)
    assert client.get("/espace").status_code == 302  # not signed in


def _tamper(client, key, value):
    with client.session_transaction() as s:
        name = next(k for k in s if k.startswith("_state_proconnect_"))
        s[name] = {**s[name], "data": {**s[name]["data"], key: value}}


def test_the_nonce_and_the_pkce_verifier_are_checked(sso_app, provider):
    """The ID token must carry the nonce this browser was given, and the provider gives a token only
    for the verifier of the challenge it saw."""
    for key in ("nonce", "code_verifier"):
        client = sso_app.test_client()
        callback = sign_in_at_provider(requests.Session(), start(client), "ref1", APP)
        _tamper(client, key, "a" * 48)
        response = back_to_app(client, callback)
        assert response.status_code == 400, key
        assert client.get("/espace").status_code == 302, key


def test_an_unknown_email_is_refused_in_french(sso_app, provider):
    client = sso_app.test_client()
    callback = sign_in_at_provider(requests.Session(), start(client), "inconnu", APP)
    response = back_to_app(client, callback)
    text = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "Aucun compte Maillage n&#39;est ouvert pour l&#39;adresse « personne@example.org »" in text
    assert "demandez-en une à l&#39;administrateur de votre territoire" in text
    assert client.get("/espace").status_code == 302
    assert account(sso_app, "personne@example.org") is None  # nothing created


def test_an_unverified_email_is_refused(sso_app, provider):
    for login in ("non-verifie", "sans-verification"):
        client = sso_app.test_client()
        response = back_to_app(client, sign_in_at_provider(requests.Session(), start(client), login, APP))
        assert response.status_code == 403, login
        assert "ProConnect ne garantit pas l&#39;adresse « terr93@example.org »" in response.get_data(as_text=True)
        assert client.get("/espace").status_code == 302


def test_a_provider_that_vouches_for_its_emails_needs_no_claim(accounts_url, provider):
    app = make_app(accounts_url, provider, PROCONNECT_EMAILS_VERIFIED=True)
    client = app.test_client()
    response = back_to_app(client, sign_in_at_provider(requests.Session(), start(client), "sans-verification", APP))
    assert response.status_code == 302 and client.get("/espace").status_code == 200
    # an explicit email_verified: false is refused all the same
    client = app.test_client()
    response = back_to_app(client, sign_in_at_provider(requests.Session(), start(client), "non-verifie", APP))
    assert response.status_code == 403
    app.extensions["maillage"].engine.dispose()


def test_a_deactivated_account_is_refused(sso_app, provider):
    from app import accounts, db

    engine = sso_app.extensions["maillage"].engine
    with db.transaction(engine) as session:
        accounts.set_active(session, session.scalar(select(Account).where(Account.email == "ref1@example.org")),
                            False, actor_label="tests")
    try:
        client = sso_app.test_client()
        response = back_to_app(client, sign_in_at_provider(requests.Session(), start(client), "ref1", APP))
        assert response.status_code == 403 and "désactivé" in response.get_data(as_text=True)
    finally:
        with db.transaction(engine) as session:
            accounts.set_active(session, session.scalar(select(Account).where(Account.email == "ref1@example.org")),
                                True, actor_label="tests")


def test_logout_ends_the_provider_session_too(sso_app, provider):
    client, browser = sso_app.test_client(), requests.Session()
    back_to_app(client, sign_in_at_provider(browser, start(client), "ref1", APP))
    assert client.get("/espace").status_code == 200
    with client.session_transaction() as s:
        id_token = s["sso_id_token"]

    response = client.post("/deconnexion")
    assert response.status_code == 302
    end_session = response.headers["Location"]
    assert end_session.startswith(provider.issuer + "/session/end?")
    asked = parse_qs(urlsplit(end_session).query)
    assert asked["id_token_hint"] == [id_token] and asked["state"][0]
    assert asked["post_logout_redirect_uri"] == [APP + "/deconnexion/proconnect"]
    assert client.get("/espace").status_code == 302  # Maillage's session ended at once

    back = sign_out_at_provider(browser, end_session, APP)
    response = back_to_app(client, back)
    assert response.status_code == 200
    assert "Vous êtes déconnecté de Maillage et de ProConnect." in response.get_data(as_text=True)
    # the provider forgot the person: a new sign-in shows its login page again
    page = browser.get(start(client))
    assert page.status_code == 200 and 'name="login"' in page.text


def test_a_password_session_logs_out_locally(sso_app):
    client = logged_in(sso_app, "admin")
    response = client.post("/deconnexion")
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_a_provider_that_does_not_answer(accounts_url):
    app = create_app({"DATABASE_URL": accounts_url, "COOKIE_SECURE": False,
                      "PROCONNECT_ISSUER": f"http://127.0.0.1:{free_port()}", "PROCONNECT_CLIENT_ID": "x",
                      "PROCONNECT_TIMEOUT_S": 2.0, "flask": {"TESTING": True, "WTF_CSRF_ENABLED": False}})
    response = app.test_client().post("/connexion/proconnect")
    assert response.status_code == 503 and "ProConnect ne répond pas" in response.get_data(as_text=True)
    app.extensions["maillage"].engine.dispose()


def test_without_settings_there_is_no_single_sign_on(accounts_url):
    app = create_app({"DATABASE_URL": accounts_url, "COOKIE_SECURE": False,
                      "flask": {"TESTING": True, "WTF_CSRF_ENABLED": False}})
    client = app.test_client()
    assert "ProConnect" not in client.get("/connexion").get_data(as_text=True)
    assert client.post("/connexion/proconnect").status_code == 404
    assert client.get("/connexion/proconnect/retour?code=x&state=y").status_code == 404
    assert "form-action 'self';" in client.get("/connexion").headers["Content-Security-Policy"]
    app.extensions["maillage"].engine.dispose()


def test_the_provider_may_be_a_form_target(sso_app, provider):
    csp = sso_app.test_client().get("/connexion").headers["Content-Security-Policy"]
    assert f"form-action 'self' {provider.issuer};" in csp


def test_the_button_needs_its_csrf_token(accounts_url, provider):
    app = create_app({"DATABASE_URL": accounts_url, "COOKIE_SECURE": False, **provider.settings(),
                      "flask": {"TESTING": True}})
    assert app.test_client().post("/connexion/proconnect").status_code == 400
    app.extensions["maillage"].engine.dispose()
