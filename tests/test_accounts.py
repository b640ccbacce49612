"""Staff accounts: argon2id passwords, invitations and resets by e-mail (a real SMTP server,
aiosmtpd, started here), single-use and expiring links, throttled logins, session expiry and
cookies, CSRF, deactivation and deletion with a pseudonymised audit, the CLI. Both backends."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from app import accounts, db
from app.models import Account, AccountToken, AuditEntry
from tests.accounts_helpers import PASSWORD, account_named, accounts_app, accounts_url, logged_in, smtp  # noqa: F401
from tests.conftest import make_engine

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def mail_app(accounts_url, smtp):
    from app.web import create_app

    _inbox, port = smtp
    application = create_app({"DATABASE_URL": accounts_url, "COOKIE_SECURE": False, "SMTP_HOST": "127.0.0.1",
                              "SMTP_PORT": port, "PUBLIC_URL": "http://maillage.test",
                              "flask": {"TESTING": True, "WTF_CSRF_ENABLED": False}})
    yield application
    application.extensions["maillage"].engine.dispose()


def _engine(app):
    return app.extensions["maillage"].engine


def test_passwords_are_argon2id_and_never_stored_in_clear(accounts_app):
    admin = account_named(accounts_app, "admin")
    assert admin.password_hash.startswith("$argon2id$") and PASSWORD not in admin.password_hash


def test_invitation_by_email_sets_the_password_once(mail_app, smtp):
    inbox, _port = smtp
    admin = logged_in(mail_app, "admin")
    response = admin.post("/comptes/inviter", data={"name": "Camille Invitée", "email": "camille@example.org",
                                                    "role": "referent", "partners": "2"})
    assert response.status_code == 303
    assert inbox.messages[-1][0] == ["camille@example.org"]
    path = inbox.last_link("/invitation")
    anonymous = mail_app.test_client()
    assert "Camille Invitée" in anonymous.get(path).get_data(as_text=True)
    short = anonymous.post(path, data={"password": "court", "confirm": "court"})
    assert short.status_code == 400 and "12 caractères" in short.get_data(as_text=True)
    done = anonymous.post(path, data={"password": "un mot de passe long", "confirm": "un mot de passe long"})
    assert done.status_code == 302
    again = mail_app.test_client().post(path, data={"password": "un autre mot de passe", "confirm": "un autre mot de passe"})
    assert again.status_code == 410 and "une fois" in again.get_data(as_text=True)
    login = mail_app.test_client().post("/connexion", data={"email": "camille@example.org", "password": "un mot de passe long"})
    assert login.status_code == 302


def test_an_expired_link_is_refused(mail_app):
    with db.transaction(_engine(mail_app)) as session:
        account = session.scalar(select(Account).where(Account.email == "ref5@example.org"))
        token = accounts.issue_token(session, account, "reset", dt.timedelta(hours=2))
        session.execute(AccountToken.__table__.update().where(AccountToken.account_id == account.id)
                        .values(expires_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)))
    response = mail_app.test_client().post(f"/reinitialisation/{token}",
                                           data={"password": "nouveau mot de passe", "confirm": "nouveau mot de passe"})
    assert response.status_code == 410 and "expiré" in response.get_data(as_text=True)
    with db.transaction(_engine(mail_app)) as session:
        assert accounts.authenticate(session, "ref5@example.org", PASSWORD, client="t-expired") is not None


def test_reset_answers_the_same_whether_or_not_the_address_has_an_account(mail_app, smtp):
    inbox, _port = smtp
    before = len(inbox.messages)
    known = mail_app.test_client().post("/mot-de-passe-oublie", data={"email": "ref1@example.org"})
    unknown = mail_app.test_client().post("/mot-de-passe-oublie", data={"email": "personne@example.org"})
    assert known.status_code == unknown.status_code == 200
    assert known.get_data(as_text=True) == unknown.get_data(as_text=True)
    assert len(inbox.messages) == before + 1 and inbox.messages[-1][0] == ["ref1@example.org"]
    path = inbox.last_link("/reinitialisation")
    client = mail_app.test_client()
    assert client.post(path, data={"password": PASSWORD, "confirm": PASSWORD}).status_code == 302
    assert mail_app.test_client().post(path, data={"password": PASSWORD, "confirm": PASSWORD}).status_code == 410


def test_logins_are_throttled_per_address(accounts_app):
    client = accounts_app.test_client()
    for _ in range(accounts.THROTTLE_MAX):
        assert client.post("/connexion", data={"email": "terr92@example.org", "password": "faux"}).status_code == 401
    blocked = client.post("/connexion", data={"email": "terr92@example.org", "password": PASSWORD})
    assert blocked.status_code == 429 and "Trop de tentatives" in blocked.get_data(as_text=True)
    with db.transaction(_engine(accounts_app)) as session:  # a quarter of an hour later, it opens again
        session.execute(AccountToken.__table__.delete().where(False))
        from app.models import LoginAttempt
        session.execute(LoginAttempt.__table__.update().values(at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=16)))
    assert client.post("/connexion", data={"email": "terr92@example.org", "password": PASSWORD}).status_code == 302


def test_a_wrong_password_and_an_unknown_address_get_the_same_answer(accounts_app):
    wrong = accounts_app.test_client().post("/connexion", data={"email": "admin@example.org", "password": "faux"})
    unknown = accounts_app.test_client().post("/connexion", data={"email": "nobody@example.org", "password": "faux"})
    assert wrong.status_code == unknown.status_code == 401
    without_token = lambda r: re.sub(r'name="csrf_token" value="[^"]+"', "", r.get_data(as_text=True))  # noqa: E731
    assert without_token(wrong) == without_token(unknown)


def test_sessions_expire_and_end_with_a_deactivation(accounts_app):
    client = logged_in(accounts_app, "ref5")
    assert client.get("/espace").status_code == 200
    with client.session_transaction() as s:
        s["started"] = time.time() - accounts_app.extensions["maillage"].settings.SESSION_HOURS * 3600 - 1
    assert client.get("/espace").headers["Location"].startswith("/connexion")
    client = logged_in(accounts_app, "ref5")
    admin = logged_in(accounts_app, "admin")
    ref5 = account_named(accounts_app, "ref5")
    assert admin.post(f"/comptes/{ref5.id}/desactiver", data={"active": "0"}).status_code == 303
    assert client.get("/espace").status_code == 302
    assert accounts_app.test_client().post("/connexion", data={"email": "ref5@example.org", "password": PASSWORD}).status_code == 401
    assert admin.post(f"/comptes/{ref5.id}/desactiver", data={"active": "1"}).status_code == 303


def test_logout_ends_the_session(accounts_app):
    client = logged_in(accounts_app, "terr93")
    response = client.post("/deconnexion")
    assert response.status_code == 302
    home = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Vous êtes déconnecté." in home  # said where the person lands, not on some later page
    assert "Vous êtes déconnecté." not in client.get("/").get_data(as_text=True)  # once
    assert client.get("/espace").status_code == 302


def test_session_cookie_is_secure_httponly_samesite(accounts_url):
    from app.web import create_app

    application = create_app({"DATABASE_URL": accounts_url, "flask": {"WTF_CSRF_ENABLED": False}})
    response = application.test_client().post("/connexion", data={"email": "admin@example.org", "password": PASSWORD},
                                              base_url="https://localhost")
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    application.extensions["maillage"].engine.dispose()


def test_every_form_needs_its_csrf_token(accounts_url):
    """With CSRF on (the default), a POST without the token changes nothing and says why."""
    from app.web import create_app

    application = create_app({"DATABASE_URL": accounts_url, "COOKIE_SECURE": False})
    client = application.test_client()
    page = client.get("/connexion").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    refused = client.post("/connexion", data={"email": "admin@example.org", "password": PASSWORD})
    assert refused.status_code == 400
    accepted = client.post("/connexion", data={"email": "admin@example.org", "password": PASSWORD, "csrf_token": token})
    assert accepted.status_code == 302
    from app.web import POST_READS

    posts = [r for r in application.url_map.iter_rules() if "POST" in r.methods and not r.rule.startswith("/api/")
             and r.endpoint not in POST_READS]
    assert len(posts) >= 10
    for rule in posts:
        url = re.sub(r"<(?:int:)?(\w+)>", lambda m: "1" if "int" in m.group(0) else "x", rule.rule)
        assert client.post(url, data={}).status_code == 400, rule.rule
    application.extensions["maillage"].engine.dispose()


def test_deleting_an_account_keeps_its_history_under_a_pseudonym(accounts_app):
    from app import editing
    from app.models import Partner

    with db.transaction(_engine(accounts_app)) as session:
        leaving = accounts.create_account(session, email="depart@example.org", name="Dominique Départ",
                                          role="referent", partner_ids=[3], actor_label="tests")
        partner = session.get(Partner, 3)
        record = __import__("app.partners.cards", fromlist=["record_of"]).record_of(partner)
        record["how_to_refer"] = "Appeler l'accueil le matin."
        editing.change(session, partner, record, actor=leaving)
        leaving_id = leaving.id
    admin = logged_in(accounts_app, "admin")
    assert admin.post(f"/comptes/{leaving_id}/supprimer").status_code == 303
    with db.transaction(_engine(accounts_app)) as session:
        assert session.get(Account, leaving_id) is None
        rows = session.scalars(select(AuditEntry).where(AuditEntry.partner_id == 3, AuditEntry.action == "edit")).all()
        assert rows and all(r.actor == f"compte supprimé n° {leaving_id}" and r.account_id is None for r in rows)
        text = " ".join(str(r.diff) + r.actor for r in session.scalars(select(AuditEntry)))
        assert "Dominique" not in text and "depart@example.org" not in text


def test_cli_creates_the_first_administrator_and_lists_deactivates_deletes(accounts_url, smtp):
    from app.cli import main

    inbox, port = smtp
    runner = CliRunner()
    env = {"DATABASE_URL": accounts_url, "MAILLAGE_SMTP_HOST": "127.0.0.1", "MAILLAGE_SMTP_PORT": str(port)}
    result = runner.invoke(main, ["accounts", "create-admin", "chef@example.org", "--name", "Claude Chef"], env=env)
    assert result.exit_code == 0, result.output
    assert "Invitation envoyée" in result.output and inbox.messages[-1][0] == ["chef@example.org"]
    result = runner.invoke(main, ["accounts", "invite", "sans@example.org", "--name", "Sans Courriel", "--role",
                                  "territoire", "--territory", "departement:93"],
                           env={"DATABASE_URL": accounts_url})
    assert result.exit_code == 0 and "/invitation/" in result.output, result.output
    bad = runner.invoke(main, ["accounts", "invite", "x@example.org", "--name", "X", "--role", "territoire"],
                        env={"DATABASE_URL": accounts_url})
    assert bad.exit_code != 0 and "au moins un territoire" in bad.output
    listed = runner.invoke(main, ["accounts", "list"], env={"DATABASE_URL": accounts_url})
    assert "Claude Chef\tchef@example.org\tadministrateur\tinstance\tinvitation en attente" in listed.output
    assert runner.invoke(main, ["accounts", "deactivate", "sans@example.org"], env={"DATABASE_URL": accounts_url}).exit_code == 0
    listed = runner.invoke(main, ["accounts", "list"], env={"DATABASE_URL": accounts_url})
    assert "Sans Courriel\tsans@example.org\tadministrateur de territoire\tdepartement:93\tdésactivé" in listed.output
    deleted = runner.invoke(main, ["accounts", "delete", "sans@example.org"], env={"DATABASE_URL": accounts_url})
    assert deleted.exit_code == 0 and "compte supprimé n°" in deleted.output
    assert "sans@example.org" not in runner.invoke(main, ["accounts", "list"], env={"DATABASE_URL": accounts_url}).output


def test_login_returns_to_a_page_of_this_site_only(accounts_app):
    for target, expected in (("/partenaires/1/modifier", "/partenaires/1/modifier"), ("//evil.example", "/espace"),
                             ("/\\evil.example", "/espace"), ("https://evil.example/", "/espace")):
        response = accounts_app.test_client().post("/connexion", data={"email": "admin@example.org",
                                                                       "password": PASSWORD, "next": target})
        assert response.headers["Location"] == expected, target
    anonymous = accounts_app.test_client().get("/partenaires/1/modifier")
    assert anonymous.headers["Location"] == "/connexion?next=/partenaires/1/modifier"
