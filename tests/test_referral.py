"""Structured referral and funding (app/partners/referral.py): checked, stored, shown on the card,
and identical through the partner sheet (CSV, XLSX), the JSON record and data·inclusion."""

import json

import pytest
from data_inclusion.schema.v1 import Service, Structure
from sqlalchemy import select

from app.exchange import data_inclusion
from app.models import Partner
from app.partners import cards, referral, registry
from importers import data_inclusion as di_import
from importers import partners_json, partners_sheet
from importers.base import ImportRejected
from tests.helpers import answer, import_file, kind
from tests.points import BONDY_NORD
from tests.accounts_helpers import accounts_app, accounts_url  # noqa: F401 (fixtures)
from tests.test_partners_sheet import delete_all_partners, export, session_of

REFERRAL = {
    "referrers": ["travailleur_social", "bailleur", "personne"],
    "channels": ["formulaire", "telephone", "fiche_liaison"],
    "form_url": "https://exemple.org/saisine-avdl",
    "liaison_url": "https://exemple.org/fiche-liaison-avdl.pdf",
    "documents": "Dernier avis d'échéance ; courrier d'orientation du bailleur",
    "consent": True,
    "delay": "3 semaines",
    "liaison_fields": ["Situation du logement", "Accord de la personne"],
}
RECORD = {"ref": "test:avdl-93", "kind": "avdl_sante_mentale", "name": "AVDL santé mentale 93 (test)",
          "how_to_refer": "Orientation après évaluation par le travailleur social.",
          "coverage": {"include": ["departement:93"]}, "referral": REFERRAL,
          "funders": ["fnavdl", "bailleur"], "funding_end": "2027-06-30",
          "contacts": [{"label": "Accueil AVDL (fictif)", "phone": "01 00 00 00 99"}]}


def _stored(conn, ref="test:avdl-93"):
    with session_of(conn) as session:
        partner = session.scalar(select(Partner).where(Partner.ref == ref).options(*registry.STORED_OPTIONS))
        return cards.record_of(partner)


def _add(conn, record=RECORD):
    with session_of(conn) as session:
        registry.upsert_partner(session, record)
        session.commit()


def test_the_referral_is_stored_in_the_vocabulary_order_and_shown_on_the_card(demo_session):
    registry.upsert_partner(demo_session, RECORD)
    card = kind(answer(demo_session, BONDY_NORD), "avdl_sante_mentale")["partners"][0]["partner"]
    assert card["referral"]["referrers"] == ["bailleur", "travailleur_social", "personne"]
    assert card["referral"]["channel_labels"] == ["Téléphone", "Formulaire en ligne", "Fiche de liaison"]
    assert card["referral"]["consent"] is True and card["referral"]["delay"] == "3 semaines"
    assert card["funders"] == ["fnavdl", "bailleur"] and card["funding_end"] == "2027-06-30"


@pytest.mark.parametrize(("referral", "field", "message"), [
    ({"referrers": ["voisin"]}, "referral.referrers", "« voisin » (valeurs : bailleur, travailleur_social"),
    ({"channels": ["pigeon"]}, "referral.channels", "« pigeon »"),
    ({"channels": ["formulaire"]}, "referral.form_url", "le mode « formulaire en ligne » demande le lien"),
    ({"form_url": "exemple.org"}, "referral.form_url", "adresse web invalide « exemple.org »"),
    ({"consent": "peut-être"}, "referral.consent", "« peut-être » (oui ou non)"),
    ({"delai": "2 jours"}, "referral", "champ inconnu : delai"),
])
def test_a_bad_referral_is_refused_with_its_field_and_nothing_is_written(demo_session, referral, field, message):
    with pytest.raises(registry.InvalidRecord) as info:
        registry.upsert_partner(demo_session, {**RECORD, "referral": referral})
    assert any(f == field and message in m for f, m in info.value.errors), info.value.errors
    assert demo_session.scalar(select(Partner).where(Partner.ref == RECORD["ref"])) is None


def test_bad_funders_and_funding_end_are_refused(demo_session):
    with pytest.raises(registry.InvalidRecord) as info:
        registry.upsert_partner(demo_session, {**RECORD, "funders": ["loto"], "funding_end": "30/06/2027"})
    fields = dict(info.value.errors)
    assert "« loto »" in fields["funders"] and "AAAA-MM-JJ" in fields["funding_end"]


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_the_sheet_carries_the_referral_and_funding_both_ways(demo_conn, tmp_path, suffix):
    _add(demo_conn)
    before = _stored(demo_conn)
    path = tmp_path / f"p.{suffix}"
    export(demo_conn, path, kinds=["avdl_sante_mentale"])
    if suffix == "csv":
        text = path.read_text(encoding="utf-8-sig")
        assert "bailleur|travailleur_social|personne" in text and "fnavdl|bailleur" in text and ";oui;" in text
    delete_all_partners(demo_conn, landlords=False)
    report = import_file(demo_conn, partners_sheet, path)
    assert report.ok and report.created == 2  # with the demo's AVDL of the Val-de-Marne
    assert _stored(demo_conn) == before
    again = tmp_path / f"q.{suffix}"
    export(demo_conn, again, kinds=["avdl_sante_mentale"])
    if suffix == "csv":
        assert again.read_bytes() == path.read_bytes()


def test_the_sheet_names_the_column_of_a_bad_value(demo_conn, tmp_path):
    _add(demo_conn)
    path = tmp_path / "p.csv"
    export(demo_conn, path, kinds=["avdl_sante_mentale"])
    path.write_text(path.read_text(encoding="utf-8-sig").replace(";oui;", ";peut-être;"), encoding="utf-8")
    with pytest.raises(ImportRejected) as info:
        import_file(demo_conn, partners_sheet, path)
    assert any("accord_personne" in str(p) and "oui ou non" in str(p) for p in info.value.report.rejected)


def test_the_json_record_carries_the_referral_and_funding(demo_conn, tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"partners": [RECORD]}), encoding="utf-8")
    assert import_file(demo_conn, partners_json, path).created == 1
    stored = _stored(demo_conn)
    assert stored["referral"] == {**REFERRAL, "referrers": ["bailleur", "travailleur_social", "personne"],
                                  "channels": ["telephone", "formulaire", "fiche_liaison"]}
    assert stored["funders"] == ["fnavdl", "bailleur"] and stored["funding_end"] == "2027-06-30"
    # the stored record is a valid record: re-imported, nothing changes
    path.write_text(json.dumps({"partners": [stored]}), encoding="utf-8")
    assert import_file(demo_conn, partners_json, path).unchanged == 1


def test_data_inclusion_gets_its_enumerations_and_gives_the_referral_back(demo_conn):
    _add(demo_conn)
    before = _stored(demo_conn)
    with session_of(demo_conn) as session:
        structures, services, _ = data_inclusion.export(session)
    service = next(s for s in services if s["id"] == "maillage--test:avdl-93--service")
    assert service["mobilisable_par"] == ["professionnels", "usagers"]
    assert service["modes_mobilisation"] == ["telephoner", "utiliser-lien-mobilisation"]
    assert service["lien_mobilisation"] == "https://exemple.org/saisine-avdl"
    assert "Accord de la personne requis." in service["mobilisation_precisions"]
    structure = next(s for s in structures if s["id"] == service["structure_id"])
    record = di_import._record(Structure.model_validate(structure), [Service.model_validate(service)],
                               data_inclusion.mapping()["avdl_sante_mentale"])
    assert record["how_to_refer"] == before["how_to_refer"]
    expected = {**before["referral"], "liaison_fields": []}  # data·inclusion has no place for the fiche's fields
    assert record["referral"] == expected


def test_a_data_inclusion_service_of_another_source_maps_onto_the_referral():
    shown, rest = referral.from_data_inclusion(["usagers", "professionnels"], ["se-presenter",
                                                             "utiliser-lien-mobilisation"], None, "Sans rendez-vous.")
    assert shown["referrers"] == ["professionnel", "personne"]
    assert shown["channels"] == ["se_presenter"]  # a link mode without its link is dropped
    assert rest == "Sans rendez-vous."



# ----------------------------------------------------------------------------- the editing form


def test_the_partner_form_edits_the_referral_and_funding(accounts_app):  # noqa: F811
    from tests.accounts_helpers import logged_in
    from tests.test_editing import _form, _post

    admin = logged_in(accounts_app, "admin")
    page = admin.get("/partenaires/3/modifier").get_data(as_text=True)
    assert "Qui peut orienter" in page and "Financeurs" in page
    pairs = [(k, v) for k, v in _form(page) if k not in ("referral_referrers", "referral_channels", "funders")]
    pairs += [("referral_referrers", "bailleur"), ("referral_referrers", "personne"), ("referral_channels", "formulaire"),
              ("funders", "ars")]
    refused = _post(admin, "/partenaires/3/modifier", pairs, action="save")
    assert refused.status_code == 400 and "demande le lien du formulaire" in refused.get_data(as_text=True)
    saved = _post(admin, "/partenaires/3/modifier", pairs, action="save", referral_consent="oui",
                  referral_form_url="https://example.org/saisine", referral_delay="8 jours", funding_end="2027-03-31")
    assert saved.status_code in (200, 302, 303), saved.get_data(as_text=True)[:500]
    with accounts_app.extensions["maillage"].sessions() as session:
        partner = session.get(Partner, 3)
        assert partner.referral["referrers"] == ["bailleur", "personne"]
        assert partner.referral["channels"] == ["formulaire"] and partner.referral["consent"] is True
        assert partner.referral["form_url"] == "https://example.org/saisine" and partner.referral["delay"] == "8 jours"
        assert partner.funders == ["ars"] and partner.funding_end.isoformat() == "2027-03-31"
