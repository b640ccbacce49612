"""The authorisation matrix and the audit walk, both generated from the app's URL map: every route
that accepts POST (outside the API) must be listed here, so a new write route cannot escape them.

- every role (and anonymous) × every write action, including a partner of another territory and a
  referent of another partner: allowed, 403, or (anonymous) a redirect to the login page;
- every write route, done by someone allowed, leaves an audit row;
- no GET of the accounts and editing pages writes anything.

Targets: partner 1 is the CLSM de Bondy (Seine-Saint-Denis): terr93 and ref1 are in scope, terr92
(Hauts-de-Seine) and ref5 (referent of the CLSM de Nanterre) are not."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import func, select

from app import accounts, editing
from app.models import Account, AuditEntry, Partner
from app.partners import cards
from tests.accounts_helpers import accounts_url, logged_in, smtp  # noqa: F401

pytestmark = pytest.mark.db

ROLES = (None, "admin", "terr93", "terr92", "ref1", "ref5")


def _write(app, fn):
    from app import db

    with db.transaction(app.extensions["maillage"].engine) as session:
        return fn(session)


def _edit_target(app):
    return {"partner_id": 1}, {"how_to_refer": f"Appeler le matin ({uuid.uuid4().hex[:6]})."}


def _revert_target(app):
    def make(session):
        partner = session.get(Partner, 1)
        admin = session.scalar(select(Account).where(Account.email == "admin@example.org"))
        for text in ("A", "B"):
            record = cards.record_of(partner)
            record["eligibility"] = f"{text} {uuid.uuid4().hex[:6]}"
            entry = editing.write(session, partner, record, actor=admin, action="edit")
            if text == "A":
                first = entry.id
        return {"partner_id": 1, "entry_id": first}, {}
    return _write(app, make)


def _proposal_target(app):
    def make(session):
        ref1 = session.scalar(select(Account).where(Account.email == "ref1@example.org"))
        partner = session.get(Partner, 1)
        record = cards.record_of(partner)
        record["valid_to"] = "2031-12-31"
        return {"proposal_id": editing.propose(session, partner, record, actor=ref1).id}, {
            "decision": "rejeter", "reason": "pas de fermeture prévue"}
    return _write(app, make)


def _report_target(app):
    return _write(app, lambda s: ({"report_id": editing.report_error(s, s.get(Partner, 1), "Le numéro a changé.").id},
                                  {"state": "traité"}))


def _account_target(app):
    def make(session):
        victim = accounts.create_account(session, email=f"v{uuid.uuid4().hex[:8]}@example.org", name="Victime",
                                         role="referent", partner_ids=[1], actor_label="tests")
        return {"account_id": victim.id}, {"active": "0"}
    return _write(app, make)


def _invite_target(app):
    return {}, {"name": "Nouvelle Référente", "email": f"n{uuid.uuid4().hex[:8]}@example.org", "role": "referent",
                "partners": "1"}


# endpoint → (who may, what to post)
WRITE_ACTIONS = {
    "editing.edit": ({"admin", "terr93", "ref1"}, _edit_target),
    "editing.verify": ({"admin", "terr93", "ref1"}, lambda app: ({"partner_id": 1}, {})),
    "editing.revert": ({"admin", "terr93"}, _revert_target),
    "editing.decide": ({"admin", "terr93"}, _proposal_target),
    "editing.handle_report": ({"admin", "terr93", "ref1"}, _report_target),
    "accounts.invite": ({"admin", "terr93"}, _invite_target),
    # Bondy: in terr93's territory, not terr92's
    "editing.set_inventory": ({"admin", "terr93"}, lambda app: ({}, {
        "territoire": "Bondy", "kinds": "clsm", "status": "inventorie", "note": f"recensé ({uuid.uuid4().hex[:6]})"})),
    "accounts.deactivate": ({"admin", "terr93"}, _account_target),
    "accounts.delete": ({"admin", "terr93"}, _account_target),
}
# open without an account, each for its reason; the audit walk says which of them write an audit row
PUBLIC_WRITES = {"accounts.login", "accounts.logout", "sso.start", "accounts.forgot", "accounts.invitation", "accounts.reset",
                 "editing.report", "annotate.upload", "annotate.start", "annotate.download", "annotate.remove"}


@pytest.fixture(scope="module")
def matrix_app(accounts_url, smtp):
    from app.web import create_app

    _inbox, port = smtp
    application = create_app({"DATABASE_URL": accounts_url, "COOKIE_SECURE": False, "SMTP_HOST": "127.0.0.1",
                              "SMTP_PORT": port, "flask": {"TESTING": True, "WTF_CSRF_ENABLED": False}})
    yield application
    application.extensions["maillage"].engine.dispose()


def write_endpoints(app) -> dict[str, str]:
    """Every POST route outside the API, but the declared reads (app.web.POST_READS)."""
    from app.web import POST_READS

    return {rule.endpoint: rule.rule for rule in app.url_map.iter_rules()
            if "POST" in rule.methods and not rule.rule.startswith("/api/") and rule.endpoint not in POST_READS}


def test_a_post_read_writes_nothing(matrix_app):
    from app.web import POST_READS

    before = _audit_rows(matrix_app)
    with matrix_app.extensions["maillage"].sessions() as session:
        partners = session.scalar(select(func.max(Partner.updated_at)))
    for endpoint in POST_READS:
        url = _url(matrix_app, endpoint, {}) + "?lon=2.485&lat=48.91"
        assert logged_in(matrix_app, None).post(url, data={"signe": ["impayes"]}).status_code in (200, 400)
    with matrix_app.extensions["maillage"].sessions() as session:
        assert session.scalar(select(func.max(Partner.updated_at))) == partners
    assert _audit_rows(matrix_app) == before


def test_every_write_route_is_in_the_matrix(matrix_app):
    endpoints = write_endpoints(matrix_app)
    assert set(endpoints) == set(WRITE_ACTIONS) | PUBLIC_WRITES, set(endpoints) ^ (set(WRITE_ACTIONS) | PUBLIC_WRITES)
    for endpoint in endpoints:  # the views say which are open: a new one is closed unless marked
        assert getattr(matrix_app.view_functions[endpoint], "public_write", False) == (endpoint in PUBLIC_WRITES), endpoint


def _url(app, endpoint, values):
    with app.test_request_context():
        from flask import url_for

        return url_for(endpoint, **values)


def test_authorisation_matrix(matrix_app):
    wrong = []
    for endpoint in sorted(write_endpoints(matrix_app)):
        if endpoint in PUBLIC_WRITES:
            continue
        allowed, target = WRITE_ACTIONS[endpoint]
        for role in ROLES:
            values, data = target(matrix_app)
            response = logged_in(matrix_app, role).post(_url(matrix_app, endpoint, values), data=data)
            location = response.headers.get("Location", "")
            if role is None:
                ok = response.status_code == 302 and location.startswith("/connexion")
            elif role in allowed:
                ok = response.status_code in (200, 302, 303) and not location.startswith("/connexion")
            else:
                ok = response.status_code == 403
            if not ok:
                wrong.append(f"{endpoint} as {role}: {response.status_code} {location}")
    assert not wrong, wrong


def _audit_rows(app) -> int:
    with app.extensions["maillage"].sessions() as session:
        return session.scalar(select(func.count()).select_from(AuditEntry))


def _token(app, purpose):
    def make(session):
        account = accounts.create_account(session, email=f"t{uuid.uuid4().hex[:8]}@example.org", name="Jeton",
                                          role="referent", partner_ids=[1], actor_label="tests")
        import datetime as dt

        return {"token": accounts.issue_token(session, account, purpose, dt.timedelta(hours=1))}, {
            "password": "un mot de passe solide", "confirm": "un mot de passe solide"}
    return _write(app, make)


# public writes that change no partner and no account, so leave no audit row, and why
NOT_AUDITED = {"accounts.login": "a session, and failed attempts counted for throttling",
               "accounts.logout": "ends a session",
               "sso.start": "sends the browser to ProConnect; coming back opens a session (tests/test_sso.py)",
               "accounts.forgot": "issues a reset token; the reset is audited",
               # "Annoter un fichier": a temporary file of the browser that sent it, deleted after its job; it
               # touches neither the registry nor an account, and nothing about it is kept or logged
               "annotate.upload": "a temporary upload", "annotate.start": "a job on that upload",
               "annotate.download": "the result, then both deleted", "annotate.remove": "deletes both"}
PUBLIC_TARGETS = {"accounts.invitation": lambda app: _token(app, "invitation"),
                  "accounts.reset": lambda app: _token(app, "reset"),
                  "editing.report": lambda app: ({"partner_id": 1}, {"text": "L'adresse a changé."})}


def test_every_write_route_leaves_an_audit_row(matrix_app):
    missing = []
    for endpoint in sorted(write_endpoints(matrix_app)):
        if endpoint in NOT_AUDITED:
            continue
        if endpoint in PUBLIC_TARGETS:
            role, (values, data) = None, PUBLIC_TARGETS[endpoint](matrix_app)
        else:
            role, (values, data) = "admin", WRITE_ACTIONS[endpoint][1](matrix_app)
        before = _audit_rows(matrix_app)
        response = logged_in(matrix_app, role).post(_url(matrix_app, endpoint, values), data=data)
        assert response.status_code in (200, 302, 303), (endpoint, response.status_code)
        if _audit_rows(matrix_app) <= before:
            missing.append(endpoint)
    assert not missing, missing


def test_no_get_changes_anything(matrix_app):
    before = _audit_rows(matrix_app)
    for rule in matrix_app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] not in ("accounts", "editing") or "GET" not in rule.methods:
            continue
        url = re.sub(r"<(?:int:)?(\w+)>", lambda m: "1" if "int:" in m.group(0) else "jeton", rule.rule)
        for role in ROLES:
            assert logged_in(matrix_app, role).get(url).status_code in (200, 302, 403, 404, 410), (url, role)
    assert _audit_rows(matrix_app) == before
