"""Territory administrators set the inventory status of their territories on the web, both
backends: within their scope (their territories and what they hold) only, audited kind by kind,
bad input refused in French with nothing changed."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from app.models import AuditEntry, Inventory
from app.partners import inventory
from tests.accounts_helpers import accounts_app, accounts_url, logged_in  # noqa: F401

pytestmark = pytest.mark.db


def _text(response) -> str:
    return response.get_data(as_text=True).replace("&#39;", "'")


def _rows(app, code):
    with app.extensions["maillage"].sessions() as session:
        return {r.kind_code: (r.status, r.note) for r in session.scalars(select(Inventory).where(Inventory.code == code))}


def _audit(app):
    with app.extensions["maillage"].sessions() as session:
        return session.scalar(select(func.count()).select_from(AuditEntry))


def _last_audit(app) -> AuditEntry:
    with app.extensions["maillage"].sessions() as session:
        return session.scalar(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1))


def test_a_territory_administrator_sets_the_status_of_a_commune_of_their_territory(accounts_app):
    client = logged_in(accounts_app, "terr93")
    assert "États d'inventaire de mes territoires" in _text(client.get("/espace"))
    assert client.get("/inventaire").status_code == 200
    note = f"recensement CLSM {uuid.uuid4().hex[:6]}"
    response = client.post("/inventaire", data={"territoire": "Bondy", "kinds": ["clsm", "empp"],
                                                "status": "inventorie", "note": note})
    assert response.status_code == 303 and response.headers["Location"] == "/inventaire"
    rows = _rows(accounts_app, "commune:93010")
    assert rows["clsm"] == rows["empp"] == ("inventorie", note)
    entry = _last_audit(accounts_app)
    assert entry.action == "inventory" and entry.actor == "Terr93" and entry.target == "inventaire commune:93010"
    assert entry.diff["inventaire : Conseil local de santé mentale (CLSM)"][1] == f"inventorié ({note})"
    assert entry.reason == note
    page = _text(client.get("/inventaire"))
    assert "2 états d'inventaire enregistrés pour Bondy." in page
    assert "<td>Bondy</td><td>Conseil local de santé mentale (CLSM)</td><td>inventorié</td>" in page

    # the same again changes nothing, and says so
    before = _audit(accounts_app)
    client.post("/inventaire", data={"territoire": "Bondy", "kinds": ["clsm"], "status": "inventorie", "note": note})
    assert _audit(accounts_app) == before
    assert "Aucun changement pour Bondy." in client.get("/inventaire").get_data(as_text=True)

    # the gap analysis reads it
    with accounts_app.extensions["maillage"].sessions() as session:
        assert inventory.records(session)["commune:93010"]["clsm"]["status"] == "inventorie"


def test_a_territory_administrator_may_not_touch_another_territory(accounts_app):
    before, nanterre = _audit(accounts_app), _rows(accounts_app, "commune:92050")
    for name, territory in (("terr93", "Nanterre"), ("terr93", "Hauts-de-Seine"), ("terr92", "Bondy"),
                            ("terr93", "Île-de-France")):
        response = logged_in(accounts_app, name).post("/inventaire", data={
            "territoire": territory, "kinds": ["clsm"], "status": "non_inventorie"})
        assert response.status_code == 403, (name, territory)
    for name in ("ref1", "ref5"):
        assert logged_in(accounts_app, name).get("/inventaire").status_code == 403
        assert logged_in(accounts_app, name).post("/inventaire", data={
            "territoire": "Bondy", "kinds": ["clsm"], "status": "non_inventorie"}).status_code == 403
    anonymous = logged_in(accounts_app, None).post("/inventaire", data={"territoire": "Bondy", "kinds": ["clsm"],
                                                                        "status": "inventorie"})
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/connexion")
    assert _audit(accounts_app) == before and _rows(accounts_app, "commune:92050") == nanterre


def test_the_page_lists_only_the_territories_in_scope(accounts_app):
    admin = logged_in(accounts_app, "admin")
    assert admin.post("/inventaire", data={"territoire": "departement:92", "kinds": ["savs"], "status": "inventorie",
                                           "note": "liste des SAVS 92"}).status_code == 303
    response = admin.post("/inventaire", data={"territoire": "Montreuil", "kinds": ["savs"],
                                               "status": "non_inventorie"})
    assert response.status_code == 303, _text(response)
    assert "liste des SAVS 92" in admin.get("/inventaire").get_data(as_text=True)
    page93 = logged_in(accounts_app, "terr93").get("/inventaire").get_data(as_text=True)
    assert "liste des SAVS 92" not in page93 and "<td>Montreuil</td>" in page93
    assert "<td>Montreuil</td>" not in logged_in(accounts_app, "terr92").get("/inventaire").get_data(as_text=True)


@pytest.mark.parametrize("data, message", [
    ({"territoire": "Atlantide", "kinds": ["clsm"], "status": "inventorie"}, "Territoire « Atlantide » introuvable"),
    ({"territoire": "", "kinds": ["clsm"], "status": "inventorie"}, "Indiquez le territoire"),
    ({"territoire": "commune:99999", "kinds": ["clsm"], "status": "inventorie"}, "absent du référentiel chargé"),
    ({"territoire": "Bondy", "kinds": [], "status": "inventorie"}, "Cochez au moins un type"),
    ({"territoire": "Bondy", "kinds": ["licorne"], "status": "inventorie"}, "Type inconnu : licorne"),
    ({"territoire": "Bondy", "kinds": ["clsm"], "status": "peut-être"}, "État « peut-être » inconnu"),
])
def test_bad_input_is_refused_in_french_and_changes_nothing(accounts_app, data, message):
    before, bondy = _audit(accounts_app), _rows(accounts_app, "commune:93010")
    response = logged_in(accounts_app, "terr93").post("/inventaire", data=data)
    assert response.status_code == 400
    assert message in _text(response)
    assert _audit(accounts_app) == before and _rows(accounts_app, "commune:93010") == bondy


def test_the_command_line_is_audited_too(accounts_url):
    from click.testing import CliRunner

    from app.cli import main

    result = CliRunner().invoke(main, ["--database-url", accounts_url, "inventory", "set", "commune:93048", "gem",
                                       "inventorie", "--note", "GEM de Montreuil"])
    assert result.exit_code == 0, result.output
    from app import db
    from tests.conftest import make_engine

    engine = make_engine(accounts_url)
    with db.transaction(engine) as session:
        entry = session.scalar(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1))
        assert (entry.action, entry.actor, entry.target) == ("inventory", "ligne de commande", "inventaire commune:93048")
    engine.dispose()
