"""Editing in the browser through the Flask client, both backends: a referent's contact change
applies at once and their coverage change becomes a proposal; the territory administrator sees it
with its preview (communes gained and lost) and validates it; the lookup then answers with the new
coverage; history and revert; error reports routed to the queue; imports keep what people edited."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app import db
from app.lookup import lookup, parse_options
from app.models import Account, AuditEntry, ErrorReport, Partner, Proposal
from tests.accounts_helpers import accounts_app, accounts_url, logged_in, smtp  # noqa: F401

pytestmark = pytest.mark.db

BONDY = (2.4850, 48.9100)  # a point in Bondy (93010)
LIVRY = (2.5330, 48.9200)  # a point in Livry-Gargan (93046), outside the CLSM de Bondy's zone


def _form(page: str) -> list[tuple[str, str]]:
    """The fields of the partner form as a browser sends them back (checkboxes only when checked)."""
    import html

    pairs = []
    for tag in re.findall(r"<input\b[^>]*>", page):
        attrs = dict(re.findall(r'(\w+)="([^"]*)"', tag))
        if "name" not in attrs or attrs.get("type") == "file":
            continue
        if attrs.get("type") == "checkbox" and " checked" not in tag:
            continue
        pairs.append((attrs["name"], html.unescape(attrs.get("value", ""))))
    for name, value in re.findall(r'<textarea[^>]* name="([^"]+)"[^>]*>(.*?)</textarea>', page, re.S):
        pairs.append((name, html.unescape(value)))
    for name, body in re.findall(r'<select[^>]* name="([^"]+)"[^>]*>(.*?)</select>', page, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', body) or re.search(r'<option value="([^"]*)"', body)
        pairs.append((name, chosen.group(1)))
    return pairs


def _names(app, point):
    with app.extensions["maillage"].sessions() as session:
        answer = lookup(session, *point, parse_options(session))
    return {p["partner"]["name"] for k in answer["kinds"] if k["kind"] == "clsm" for p in k["partners"]}


def _post(client, url, pairs, **changes):
    from werkzeug.datastructures import MultiDict

    data = MultiDict([(k, v) for k, v in pairs if k not in changes])
    for k, v in changes.items():
        data[k] = v
    return client.post(url, data=data)


def test_referent_edits_and_proposes_territory_admin_previews_and_validates(accounts_app):
    referent = logged_in(accounts_app, "ref1")
    page = referent.get("/partenaires/1/modifier").get_data(as_text=True)
    assert "Bondy (commune:93010)" in page and "seront <strong>proposés</strong>" in page
    pairs = _form(page)
    response = _post(referent, "/partenaires/1/modifier", pairs, **{
        "contact-0-phone": "01 48 00 00 99", "include": "Bondy (commune:93010)\nLivry-Gargan",
        "reason": "extension à Livry-Gargan", "action": "save"})
    assert response.status_code == 303
    with accounts_app.extensions["maillage"].sessions() as session:
        partner = session.get(Partner, 1)
        assert partner.contacts[0].phone == "01 48 00 00 99"  # applied at once
        assert [p.code for p in partner.parts] == ["commune:93010"]  # the coverage waits
        proposal = session.scalar(select(Proposal).where(Proposal.partner_id == 1, Proposal.state == "ouverte"))
        assert proposal.territories == ["departement:93"]
        assert proposal.diff["coverage.include"] == [["commune:93010"], ["commune:93010", "commune:93046"]]
    assert "CLSM de Bondy (démo)" not in _names(accounts_app, LIVRY)

    mine = referent.get("/moderation").get_data(as_text=True)
    assert f"n° {proposal.id}" in mine and "en attente" in mine
    assert logged_in(accounts_app, "terr92").get("/moderation").get_data(as_text=True).count("proposition n°") == 0
    assert logged_in(accounts_app, "terr92").post(f"/propositions/{proposal.id}/decision",
                                                  data={"decision": "valider"}).status_code == 403
    admin93 = logged_in(accounts_app, "terr93")
    queue = admin93.get("/moderation").get_data(as_text=True)
    assert f"proposition n° {proposal.id}" in queue
    gained = re.search(r'<ul class="gained">(.*?)</ul>', queue, re.S).group(1)
    assert "Livry-Gargan" in gained and "Communes perdues (0)" in queue
    assert admin93.post(f"/propositions/{proposal.id}/decision", data={"decision": "valider",
                                                                        "reason": "vu avec l'ARS"}).status_code == 303
    assert "CLSM de Bondy (démo)" in _names(accounts_app, LIVRY)
    assert "proposition n°" not in admin93.get("/moderation").get_data(as_text=True)
    assert "validée" in referent.get("/moderation").get_data(as_text=True)
    with accounts_app.extensions["maillage"].sessions() as session:
        actions = [e.action for e in session.scalars(select(AuditEntry).where(AuditEntry.partner_id == 1)
                                                     .order_by(AuditEntry.id))]
        assert actions[-3:] == ["edit", "proposal", "validation"]


def test_a_rejection_needs_a_reason_and_changes_nothing(accounts_app):
    referent = logged_in(accounts_app, "ref1")
    pairs = _form(referent.get("/partenaires/1/modifier").get_data(as_text=True))
    _post(referent, "/partenaires/1/modifier", pairs, status="suspended", action="save")
    with accounts_app.extensions["maillage"].sessions() as session:
        proposal = session.scalar(select(Proposal).where(Proposal.partner_id == 1, Proposal.state == "ouverte"))
    admin93 = logged_in(accounts_app, "terr93")
    admin93.post(f"/propositions/{proposal.id}/decision", data={"decision": "rejeter", "reason": ""})
    assert "Indiquez la raison du refus" in admin93.get("/moderation").get_data(as_text=True)
    admin93.post(f"/propositions/{proposal.id}/decision", data={"decision": "rejeter", "reason": "toujours ouvert"})
    with accounts_app.extensions["maillage"].sessions() as session:
        assert session.get(Partner, 1).status == "active"
        assert session.get(Proposal, proposal.id).state == "rejetée"
    assert "toujours ouvert" in referent.get("/moderation").get_data(as_text=True)


def test_a_refused_form_changes_nothing_and_says_why(accounts_app):
    admin = logged_in(accounts_app, "admin")
    pairs = _form(admin.get("/partenaires/2/modifier").get_data(as_text=True))
    response = _post(admin, "/partenaires/2/modifier", pairs, **{"contact-0-email": "pas-une-adresse",
                                                                  "name": "Nouveau nom", "action": "save"})
    text = response.get_data(as_text=True)
    assert response.status_code == 400 and "Rien n'a été enregistré" in text and "contacts[0]" in text
    assert 'value="Nouveau nom"' in text  # the person's input is kept
    ambiguous = _post(admin, "/partenaires/2/modifier", pairs, include="Territoire inexistant", action="save")
    assert ambiguous.status_code == 400 and "introuvable" in ambiguous.get_data(as_text=True)
    with accounts_app.extensions["maillage"].sessions() as session:
        assert session.get(Partner, 2).name == "CLSM de Montreuil (démo)"  # nothing written


def test_history_and_revert(accounts_app):
    admin = logged_in(accounts_app, "admin")
    pairs = _form(admin.get("/partenaires/6/modifier").get_data(as_text=True))
    with accounts_app.extensions["maillage"].sessions() as session:
        original = session.get(Partner, 6).how_to_refer
    _post(admin, "/partenaires/6/modifier", pairs, how_to_refer="Version 2", action="save")
    _post(admin, "/partenaires/6/modifier", pairs, how_to_refer="Version 3", action="save")
    history = admin.get("/partenaires/6/historique").get_data(as_text=True)
    assert "Version 2" in history and "Version 3" in history and "comment saisir" in history
    with accounts_app.extensions["maillage"].sessions() as session:
        first = session.scalar(select(AuditEntry).where(AuditEntry.partner_id == 6, AuditEntry.action == "edit")
                               .order_by(AuditEntry.id))
    assert logged_in(accounts_app, "ref1").post(f"/partenaires/6/historique/{first.id}/restaurer").status_code == 403
    assert admin.post(f"/partenaires/6/historique/{first.id}/restaurer").status_code == 303
    with accounts_app.extensions["maillage"].sessions() as session:
        assert session.get(Partner, 6).how_to_refer == "Version 2"
        last = session.scalar(select(AuditEntry).where(AuditEntry.partner_id == 6).order_by(AuditEntry.id.desc()))
        assert last.action == "revert" and last.diff["how_to_refer"] == ["Version 3", "Version 2"]
    assert original != "Version 2"


def test_an_error_report_is_stored_and_routed(accounts_app):
    anonymous = accounts_app.test_client()
    form = anonymous.get("/partenaires/1/signaler").get_data(as_text=True)
    assert "Ne rien écrire sur une personne" in form and 'type="email"' not in form
    assert anonymous.post("/partenaires/1/signaler", data={"text": "  "}).status_code == 400
    assert anonymous.post("/partenaires/1/signaler", data={"text": "Le téléphone ne répond plus."}).status_code == 200
    for name in ("terr93", "ref1", "admin"):
        assert "Le téléphone ne répond plus." in logged_in(accounts_app, name).get("/moderation").get_data(as_text=True)
    for name in ("terr92", "ref5"):
        assert "Le téléphone ne répond plus." not in logged_in(accounts_app, name).get("/moderation").get_data(as_text=True)
    with accounts_app.extensions["maillage"].sessions() as session:
        report = session.scalar(select(ErrorReport).order_by(ErrorReport.id.desc()))
    assert logged_in(accounts_app, "ref5").post(f"/signalements/{report.id}", data={"state": "traité"}).status_code == 403
    assert logged_in(accounts_app, "ref1").post(f"/signalements/{report.id}", data={"state": "traité"}).status_code == 303
    with accounts_app.extensions["maillage"].sessions() as session:
        assert session.get(ErrorReport, report.id).state == "traité"


def test_verification_and_freshness(accounts_app):
    import datetime as dt

    from app.editing.freshness import freshness

    assert freshness(dt.date(2025, 10, 2), "clsm", dt.date(2026, 12, 2)) == {
        "text": "vérifié il y a 14 mois", "stale": True, "date": dt.date(2025, 10, 2)}
    assert freshness(dt.date(2026, 11, 30), "clsm", dt.date(2026, 12, 2))["text"] == "vérifié il y a 2 jours"
    assert freshness(None, "clsm")["text"] == "jamais vérifié"
    referent = logged_in(accounts_app, "ref1")
    assert referent.post("/partenaires/1/confirmer").status_code == 303
    assert referent.post("/partenaires/5/confirmer").status_code == 403
    with accounts_app.extensions["maillage"].sessions() as session:
        assert session.get(Partner, 1).last_verified_at == dt.date.today()
        assert session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.partner_id == 1, AuditEntry.action == "verification")) == 1


def test_freshness_on_the_card_the_fiche_the_directory_and_the_stale_filter(accounts_app):
    import datetime as dt

    from app import db

    old = dt.date.today() - dt.timedelta(days=800)  # 26 months: past the CCAS's 24 (geodata/kind_freshness.csv)
    with db.transaction(accounts_app.extensions["maillage"].engine) as session:
        session.get(Partner, 34).last_verified_at = old  # the CCAS de Bondy
        session.get(Partner, 35).last_verified_at = dt.date.today()  # the CCAS de Montreuil
    client = accounts_app.test_client()
    card = client.get(f"/couverture?lon={BONDY[0]}&lat={BONDY[1]}").get_data(as_text=True)
    ccas = card[card.index('id="kind-ccas"'):]
    assert "Vérifié il y a 2 ans — à vérifier" in ccas[:4000], re.findall(r"freshness[^<]*<", ccas)
    fiche = client.get(f"/fiche?lon={BONDY[0]}&lat={BONDY[1]}").get_data(as_text=True)
    assert "Vérifié il y a 2 ans — à vérifier" in fiche
    listing = client.get("/annuaire?type=ccas").get_data(as_text=True)
    assert "Vérifié aujourd&#39;hui" in listing or "Vérifié aujourd'hui" in listing
    stale = client.get("/annuaire?type=ccas&territoire=departement:93&a_verifier=1").get_data(as_text=True)
    assert "CCAS de Bondy" in stale and "CCAS de Montreuil" not in stale


def test_an_import_keeps_what_a_person_edited_after_the_file_and_says_so(accounts_app, tmp_path):
    import json
    import os

    from app import db
    from importers import partners_json
    from importers.base import run

    admin = logged_in(accounts_app, "admin")
    pairs = _form(admin.get("/partenaires/7/modifier").get_data(as_text=True))
    with accounts_app.extensions["maillage"].sessions() as session:
        record = cards_record(session, 7)
    record["how_to_refer"] = "Texte du fichier, plus ancien."
    record["eligibility"] = "Nouveau public, du fichier."
    path = tmp_path / "partners.json"
    path.write_text(json.dumps({"partners": [record]}), encoding="utf-8")
    os.utime(path, (time_before(), time_before()))  # the file was written before the person's edit
    _post(admin, "/partenaires/7/modifier", pairs, how_to_refer="Texte saisi par une personne.", action="save")
    engine = accounts_app.extensions["maillage"].engine
    report = run(engine, partners_json.NAME, partners_json.read, partners_json.load, path)
    assert report.updated == 1
    warnings = [w.message for w in report.warnings]
    assert any("comment saisir" in w and "Admin" in w and "conservée" in w for w in warnings), warnings
    with db.transaction(engine) as session:
        partner = session.get(Partner, 7)
        assert partner.how_to_refer == "Texte saisi par une personne."  # kept
        assert partner.eligibility == "Nouveau public, du fichier."  # the rest of the file applies
        last = session.scalar(select(AuditEntry).where(AuditEntry.partner_id == 7).order_by(AuditEntry.id.desc()))
        assert last.action == "import" and last.actor.startswith("import : fichier de partenaires « partners.json », ligne ")
        assert set(last.diff) == {"eligibility"}


def cards_record(session, partner_id):
    from app.partners import cards

    return cards.record_of(session.get(Partner, partner_id))


def time_before():
    import time

    return time.time() - 3600


def test_a_geojson_polygon_is_uploaded_previewed_and_saved(accounts_app):
    import io
    import json

    from werkzeug.datastructures import FileStorage, MultiDict

    admin = logged_in(accounts_app, "admin")
    pairs = _form(admin.get("/partenaires/2/modifier").get_data(as_text=True))
    square = {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [[
        [2.520, 48.905], [2.545, 48.905], [2.545, 48.925], [2.520, 48.925], [2.520, 48.905]]]}}

    def send(action, payload=json.dumps(square)):
        data = MultiDict([(k, v) for k, v in pairs if k not in ("action", "polygon_label")])
        data.add("action", action)
        data.add("polygon_label", "Quartier de la gare")
        data.add("polygon_file", FileStorage(io.BytesIO(payload.encode()), filename="zone.geojson"))
        return admin.post("/partenaires/2/modifier", data=data, content_type="multipart/form-data")

    bad = send("preview", '{"type": "Point", "coordinates": [2.5, 48.9]}')
    assert bad.status_code == 400 and "polygone (Polygon ou MultiPolygon)" in bad.get_data(as_text=True)
    preview = send("preview").get_data(as_text=True)
    assert "Livry-Gargan" in re.search(r'<ul class="gained">(.*?)</ul>', preview, re.S).group(1)
    assert 'name="polygon_geojson"' in preview  # carried to the save
    assert send("save").status_code == 303
    with accounts_app.extensions["maillage"].sessions() as session:
        parts = session.get(Partner, 2).parts
        assert [(p.mode, p.label) for p in parts if p.code is None] == [("include", "Quartier de la gare")]
    assert "CLSM de Montreuil (démo)" in _names(accounts_app, LIVRY)


def test_a_saved_polygon_left_out_before_a_preview_stays_left_out_at_the_save(accounts_app):
    """The "Garder" boxes name the saved polygons by their index: after a preview with a new polygon
    and a saved one unticked, the form still offers the saved ones (as ticked by the person), no box
    for the new one, and the save keeps exactly what was chosen."""
    import io
    import json

    from werkzeug.datastructures import FileStorage, MultiDict

    admin = logged_in(accounts_app, "admin")

    def square(x):
        return json.dumps({"type": "Polygon", "coordinates": [[[x, 48.90], [x + 0.01, 48.90], [x + 0.01, 48.91],
                                                              [x, 48.91], [x, 48.90]]]})

    def send(page, action, label, payload=None, untick=()):
        data = MultiDict([(k, v) for k, v in _form(page) if k not in ("action", "polygon_label")
                          and k not in {f"polygon-{i}-keep" for i in untick}])
        data.add("action", action)
        data.add("polygon_label", label)
        if payload:
            data.add("polygon_file", FileStorage(io.BytesIO(payload.encode()), filename="zone.geojson"))
        return admin.post("/partenaires/3/modifier", data=data, content_type="multipart/form-data")

    page = admin.get("/partenaires/3/modifier").get_data(as_text=True)
    assert send(page, "save", "Îlot A", square(2.50)).status_code == 303
    page = admin.get("/partenaires/3/modifier").get_data(as_text=True)
    stored = re.findall(r'name="polygon-(\d+)-keep" value="1" checked> Garder la zone délimitée « ([^»]+) »', page)
    a = next(i for i, label in stored if label.strip() == "Îlot A")
    preview = send(page, "preview", "Îlot B", square(2.52), untick=(a,)).get_data(as_text=True)
    assert re.search(rf'name="polygon-{a}-keep" value="1" > Garder la zone délimitée « Îlot A »', preview)
    assert "« Îlot B »" not in re.sub(r'name="polygon_label"[^>]*>', "", preview.split("Zone de compétence", 1)[1]
                                      .split('id="polygon_file"', 1)[0])
    assert send(preview, "save", "Îlot B").status_code == 303  # the new polygon rides in polygon_geojson
    with accounts_app.extensions["maillage"].sessions() as session:
        labels = [p.label for p in session.get(Partner, 3).parts if p.code is None]
    assert "Îlot B" in labels and "Îlot A" not in labels


def test_reminders_are_emailed_to_referents_and_territory_administrators(accounts_url, smtp):
    import datetime as dt

    from click.testing import CliRunner

    from app import db
    from app.cli import main
    from tests.conftest import make_engine

    inbox, port = smtp
    engine = make_engine(accounts_url)
    with db.transaction(engine) as session:
        session.get(Partner, 1).last_verified_at = dt.date.today() - dt.timedelta(days=400)  # CLSM de Bondy, 12 months
        session.get(Partner, 5).last_verified_at = dt.date.today()
    engine.dispose()
    before = len(inbox.messages)
    env = {"DATABASE_URL": accounts_url, "MAILLAGE_SMTP_HOST": "127.0.0.1", "MAILLAGE_SMTP_PORT": str(port)}
    result = CliRunner().invoke(main, ["reminders", "send"], env=env)
    assert result.exit_code == 0, result.output
    sent = {to[0]: body for to, body in inbox.messages[before:]}
    assert "- CLSM de Bondy (démo) (vérifié il y a 13 mois)" in sent["ref1@example.org"]
    assert "ref5@example.org" not in sent  # nothing to verify, nothing sent
    assert "CLSM de Bondy" in sent["terr93@example.org"]
    assert "admin@example.org" not in sent
    refused = CliRunner().invoke(main, ["reminders", "send"], env={"DATABASE_URL": accounts_url})
    assert refused.exit_code != 0 and "MAILLAGE_SMTP_HOST" in refused.output


def test_a_partner_created_in_bulk_by_an_import_is_reverted_from_its_history_page(accounts_app, tmp_path):
    """FINESS inserts new establishments in bulk; the history page offers their imported version."""
    from pyproj import Transformer

    from bench.synthetic_finess import Establishment, file_text, geoloc_line, structure_line
    from importers import finess
    from importers.base import run

    x, y = Transformer.from_crs(4326, 2154, always_xy=True).transform(2.4823, 48.9024)
    cmp_ = Establishment("930000508", "156", "CMP ADULTES BONDY SUD", "93010", "93140", "Bondy")
    path = tmp_path / "finess.csv"
    path.write_text(file_text([structure_line(cmp_)], [geoloc_line("930000508", x, y)]), encoding="utf-8")
    engine = accounts_app.extensions["maillage"].engine
    report = run(engine, finess.NAME, finess.read, finess.load, path, departements="93")
    assert report.created == 1, report.summary()
    with accounts_app.extensions["maillage"].sessions() as session:
        partner_id = session.scalar(select(Partner.id).where(Partner.ref == "finess:930000508"))
        imported = session.scalar(select(AuditEntry).where(AuditEntry.partner_id == partner_id))
    admin = logged_in(accounts_app, "terr93")
    pairs = _form(admin.get(f"/partenaires/{partner_id}/modifier").get_data(as_text=True))
    assert _post(admin, f"/partenaires/{partner_id}/modifier", pairs, name="Nom saisi par erreur",
                 action="save").status_code == 303
    history = admin.get(f"/partenaires/{partner_id}/historique").get_data(as_text=True)
    assert "import : répertoire FINESS « finess.csv », ligne 2" in history and "CMP ADULTES BONDY SUD" in history
    assert f"/partenaires/{partner_id}/historique/{imported.id}/restaurer" in history  # "Revenir à cette version"
    assert admin.post(f"/partenaires/{partner_id}/historique/{imported.id}/restaurer").status_code == 303
    with accounts_app.extensions["maillage"].sessions() as session:
        assert session.get(Partner, partner_id).name == "CMP ADULTES BONDY SUD"
        last = session.scalar(select(AuditEntry).where(AuditEntry.partner_id == partner_id)
                              .order_by(AuditEntry.id.desc()))
        assert last.action == "revert" and last.actor == "Terr93"
        assert last.diff["name"] == ["Nom saisi par erreur", "CMP ADULTES BONDY SUD"]


def test_proposal_diffs_show_names_not_codes(accounts_app):
    """The queue and the history show a commune's name, a kind's label, a status's words."""
    referent = logged_in(accounts_app, "ref1")
    pairs = _form(referent.get("/partenaires/1/modifier").get_data(as_text=True))
    assert _post(referent, "/partenaires/1/modifier", pairs, **{
        "include": "Bondy (commune:93010)\nVillemomble", "kind": "dac", "status": "suspended",
        "valid_to": "2027-06-30", "action": "save"}).status_code == 303
    with accounts_app.extensions["maillage"].sessions() as session:
        proposal = session.scalar(select(Proposal).where(Proposal.partner_id == 1, Proposal.state == "ouverte")
                                  .order_by(Proposal.id.desc()))
        assert proposal.diff["kind"] == ["clsm", "dac"] and "commune:93077" in proposal.diff["coverage.include"][1]
    queue = logged_in(accounts_app, "terr93").get("/moderation").get_data(as_text=True)
    section = re.search(rf'<section class="proposal" id="proposition-{proposal.id}".*?</table>', queue, re.S).group(0)
    rows = dict(re.findall(r'<th scope="row">([^<]+)</th><td>[^<]*</td><td>([^<]*)</td>', section))
    assert rows["zone : territoires inclus"] == "Bondy ; Villemomble"
    assert rows["type"] == "Dispositif d&#39;appui à la coordination (DAC)"
    assert rows["statut"] == "Suspendu" and rows["fin"] == "30/06/2027"
    assert "commune:93077" not in section and ">dac<" not in section and ">suspended<" not in section
    assert logged_in(accounts_app, "terr93").post(f"/propositions/{proposal.id}/decision", data={
        "decision": "rejeter", "reason": "pas de changement de type"}).status_code == 303
    history = logged_in(accounts_app, "terr93").get("/partenaires/1/historique").get_data(as_text=True)
    assert "<td>Bondy ; Villemomble</td>" in history and "commune:93077" not in history


def test_an_administrator_added_later_sees_the_older_proposals_and_reports_of_their_territory(accounts_app):
    """Routing is read when the queue is: a territory administrator invited after a proposal or a
    report was made sees it, and may decide it, if its partner meets their territory."""
    from app import accounts, editing
    from app.partners import cards

    engine = accounts_app.extensions["maillage"].engine
    with db.transaction(engine) as session:
        ref1 = session.scalar(select(Account).where(Account.email == "ref1@example.org"))
        record = cards.record_of(session.get(Partner, 1))
        record["valid_to"] = "2032-01-31"
        proposal_id = editing.propose(session, session.get(Partner, 1), record, actor=ref1).id
        report_id = editing.report_error(session, session.get(Partner, 1), "Le CLSM a déménagé.").id
    with db.transaction(engine) as session:
        assert session.get(Proposal, proposal_id).territories == ["departement:93"]  # whom it went to then
        accounts.create_account(session, email="bondy@example.org", name="Admin Bondy", role="territoire",
                                territory_codes=["commune:93010"], actor_label="tests")
        accounts.create_account(session, email="paris@example.org", name="Admin Paris", role="territoire",
                                territory_codes=["departement:75"], actor_label="tests")
    newcomer = logged_in(accounts_app, "bondy")
    queue = newcomer.get("/moderation").get_data(as_text=True)
    assert f"proposition n° {proposal_id}" in queue and f'id="signalement-{report_id}"' in queue
    other = logged_in(accounts_app, "paris").get("/moderation").get_data(as_text=True)
    assert f"proposition n° {proposal_id}" not in other and f'id="signalement-{report_id}"' not in other
    assert logged_in(accounts_app, "paris").post(f"/propositions/{proposal_id}/decision", data={
        "decision": "rejeter", "reason": "hors de mon territoire"}).status_code == 403
    assert newcomer.post(f"/propositions/{proposal_id}/decision", data={
        "decision": "rejeter", "reason": "date de fin à confirmer"}).status_code == 303
    assert newcomer.post(f"/signalements/{report_id}", data={"state": "traité"}).status_code == 303
    with db.transaction(engine) as session:
        assert session.get(Proposal, proposal_id).state == "rejetée"
        assert session.get(Proposal, proposal_id).decided_by == "Admin Bondy"
        assert session.get(ErrorReport, report_id).state == "traité"
