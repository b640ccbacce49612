"""Shared by the accounts, authorisation and editing tests: a demo database of their own (these
tests commit writes, so they never touch the session's shared demo), its accounts and a logged-in
test client."""

from __future__ import annotations

import re
import time

import pytest
from aiosmtpd.controller import Controller

from app import accounts, db
from app.models import Account
from importers import demo
from tests.conftest import make_engine

PASSWORD = "correct horse battery"
# name → (role, territories, partners): partner 1 is the CLSM de Bondy (93), 5 the CLSM de Nanterre (92)
PEOPLE = {
    "admin": ("admin", [], []),
    "terr93": ("territoire", ["departement:93"], []),
    "terr92": ("territoire", ["departement:92"], []),
    "ref1": ("referent", [], [1]),
    "ref5": ("referent", [], [5]),
}


def build_accounts_db(databases, backend) -> str:
    url = databases.new_url(backend)
    engine = make_engine(url)
    demo.build(engine, log=lambda _m: None)
    with db.transaction(engine) as session:
        for name, (role, codes, partners) in PEOPLE.items():
            account = accounts.create_account(session, email=f"{name}@example.org", name=name.capitalize(),
                                              role=role, territory_codes=codes, partner_ids=partners,
                                              actor_label="tests")
            account.password_hash = accounts.hash_password(PASSWORD)
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def accounts_url(databases, backend):
    return build_accounts_db(databases, backend)


@pytest.fixture(scope="module")
def accounts_app(accounts_url):
    from app.web import create_app

    application = create_app({"DATABASE_URL": accounts_url, "COOKIE_SECURE": False,
                              "flask": {"TESTING": True, "WTF_CSRF_ENABLED": False}})
    yield application
    application.extensions["maillage"].engine.dispose()


def account_named(app, name: str) -> Account:
    from sqlalchemy import select

    with app.extensions["maillage"].sessions() as session:
        return session.scalar(select(Account).where(Account.email == f"{name}@example.org"))


def logged_in(app, name: str | None):
    """A test client with the session of this account (None: anonymous)."""
    client = app.test_client()
    if name is not None:
        account = account_named(app, name)
        with client.session_transaction() as s:
            s.update(account_id=account.id, epoch=account.session_epoch, started=time.time())
    return client


class Inbox:
    """What the test SMTP server received: (recipients, the decoded text body) per message."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        import email
        from email import policy

        body = email.message_from_bytes(envelope.content, policy=policy.default).get_body().get_content()
        self.messages.append((envelope.rcpt_tos, body))
        return "250 OK"

    def last_link(self, path: str) -> str:
        return re.search(rf"https?://\S+({path}/\S+)", self.messages[-1][1]).group(1)


@pytest.fixture(scope="module")
def smtp():
    import socket

    with socket.socket() as probe:  # a free port (the controller checks it can connect to the one it gets)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()
