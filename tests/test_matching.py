"""One structure, one card: records of a structure already loaded from another source are merged
(FINESS number, data·inclusion id, SIRET) or reported as probable duplicates (name and place),
whatever the order of the imports. Both backends, on the demo."""

import json

import pytest
from pyproj import Transformer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.config import PROJECT_ROOT
from app.models import Partner, PartnerAlias
from app.partners import cards, registry
from app.partners.matching import normalise_name
from bench.synthetic_finess import Establishment, file_text, geoloc_line, structure_line
from importers import data_inclusion as di_import
from importers import finess, partners_json
from importers.base import ImportRejected
from tests.helpers import import_file

SIRET = "73282932000074"  # valid Luhn key
TO_L93 = Transformer.from_crs(4326, 2154, always_xy=True)


def session_of(conn):
    return Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)


def partner(session, ref):
    return session.scalar(select(Partner).where(Partner.ref == ref))


def count(conn, kind, commune=None):
    with session_of(conn) as session:
        partners = session.scalars(select(Partner).where(Partner.kind_code == kind)).all()
        if commune is None:
            return len(partners)
        return sum(1 for p in partners if any(s.code_insee == commune for s in p.sites)
                   or any(part.code == f"commune:{commune}" for part in p.parts))


def dump(tmp_path, *structures):
    base = {"source": "dora", "date_maj": "2026-01-01"}
    path = tmp_path / "structures.json"
    path.write_text(json.dumps([{**base, **s} for s in structures]), encoding="utf-8")
    return path


def finess_file(tmp_path, *establishments, name="finess.csv"):
    geolocs = [geoloc_line(e.nofinesset, *TO_L93.transform(2.4823, 48.9090)) for e in establishments]
    path = tmp_path / name
    path.write_text(file_text([structure_line(e) for e in establishments], geolocs), encoding="utf-8")
    return path


def test_names_are_compared_without_case_accents_articles_or_punctuation():
    assert normalise_name("C.C.A.S. de l'Île-Saint-Denis") == "ccas ile saint denis"
    assert normalise_name("Centre communal d'action sociale de Bondy") == normalise_name("CCAS de BONDY")


def test_a_siret_match_merges_without_asking(demo_conn, tmp_path):
    with session_of(demo_conn) as session:
        record = cards.record_of(partner(session, "demo:ccas-bondy"))
        registry.upsert_partner(session, {**record, "siret": SIRET, "how_to_refer": "Accueil sans rendez-vous le matin."})
        session.commit()
    before = count(demo_conn, "ccas")
    path = dump(tmp_path, {"id": "dora--77", "nom": "Ville de Bondy — action sociale", "siret": SIRET,
                           "code_insee": "93010", "telephone": "01 48 50 00 00", "reseaux_porteurs": ["ccas-cias"]})
    report = import_file(demo_conn, di_import, path)
    assert (report.created, report.merged) == (0, 1)
    assert any("rattaché au partenaire existant demo:ccas-bondy" in str(w) and "même SIRET" in str(w)
               for w in report.warnings)
    assert count(demo_conn, "ccas") == before
    with session_of(demo_conn) as session:
        ccas = partner(session, "demo:ccas-bondy")
        # what people gave it stays; the new source's identifier is attached, and said
        assert ccas.name == "CCAS de Bondy (démo)" and ccas.how_to_refer == "Accueil sans rendez-vous le matin."
        assert ccas.data_inclusion_id == "dora--77" and ccas.source == "manuel"  # its own provenance
        [alias] = ccas.aliases
        assert (alias.ref, alias.source, alias.source_file, alias.source_row, alias.matched_on) == (
            "data-inclusion:dora--77", "data-inclusion", "structures.json", 1, "siret")
    assert not import_file(demo_conn, di_import, path).changed  # idempotent
    with session_of(demo_conn) as session:
        from app.partners.directory import partner_detail

        [also] = partner_detail(session, partner(session, "demo:ccas-bondy").id)["provenance"]["also_from"]
        assert also == {"ref": "data-inclusion:dora--77", "source": "data-inclusion", "file": "structures.json",
                        "row": 1, "matched_on": "même SIRET"}


def test_a_placeholder_siret_is_no_identifier(demo_conn, tmp_path):
    with session_of(demo_conn) as session:
        for ref in ("demo:ccas-bondy", "demo:ccas-montreuil"):
            registry.upsert_partner(session, {**cards.record_of(partner(session, ref)), "siret": "00000000000000"})
        session.commit()
    path = dump(tmp_path, {"id": "dora--78", "nom": "Centre social municipal", "siret": "00000000000000",
                           "code_insee": "93010", "reseaux_porteurs": ["ccas-cias"]})
    assert import_file(demo_conn, di_import, path).created == 1


def test_a_finess_number_match_merges_in_either_order(demo_conn, tmp_path):
    with session_of(demo_conn) as session:
        demo_cmp = partner(session, "demo:cmp-bondy-nord")
        assert demo_cmp.finess == "930990101"
        how = demo_cmp.how_to_refer
    cmp_file = finess_file(tmp_path, Establishment("930990101", "156", "CMP ADULTE BONDY", "93010", "93140", "Bondy",
                                                   siret=SIRET))
    # the demo first, then FINESS: merged into the demo's card
    report = import_file(demo_conn, finess, cmp_file)
    assert (report.created, report.merged) == (0, 1)
    with session_of(demo_conn) as session:
        assert partner(session, "finess:930990101") is None
        demo_cmp = partner(session, "demo:cmp-bondy-nord")
        assert (demo_cmp.name, demo_cmp.how_to_refer, demo_cmp.siret) == ("CMP adultes Bondy nord (démo)", how, SIRET)
        assert [(a.ref, a.matched_on) for a in demo_cmp.aliases] == [("finess:930990101", "finess")]
    assert not import_file(demo_conn, finess, cmp_file).changed
    # FINESS first, then the partner file: the partner file's record is merged into FINESS's card
    with session_of(demo_conn) as session:
        session.delete(partner(session, "demo:cmp-bondy-nord"))
        session.commit()
    assert import_file(demo_conn, finess, cmp_file).created == 1
    report = import_file(demo_conn, partners_json, PROJECT_ROOT / "geodata" / "demo" / "partners.json",
                         polygons=PROJECT_ROOT / "geodata" / "demo" / "polygons.geojson")
    assert (report.created, report.merged) == (0, 1)
    with session_of(demo_conn) as session:
        assert partner(session, "demo:cmp-bondy-nord") is None
        card = partner(session, "finess:930990101")
        assert card.how_to_refer == how  # filled from the demo record, which FINESS lacked
        assert session.scalar(select(func.count()).select_from(Partner).where(Partner.finess == "930990101")) == 1


@pytest.mark.parametrize("decision", [None, "merge", "create"])
def test_a_name_and_commune_match_is_reported_and_a_person_decides(demo_conn, tmp_path, decision):
    path = dump(tmp_path, {"id": "dora--79", "nom": "C.C.A.S. de Bondy", "code_insee": "93010",
                           "telephone": "01 48 50 00 01", "reseaux_porteurs": ["ccas-cias"]},
                {"id": "dora--80", "nom": "CCAS de Bondy", "code_insee": "93008", "reseaux_porteurs": ["ccas-cias"]})
    with session_of(demo_conn) as session:
        registry.upsert_partner(session, {**cards.record_of(partner(session, "demo:ccas-bondy")),
                                          "name": "CCAS de Bondy"})
        session.commit()
    before = count(demo_conn, "ccas")
    if decision is None:
        with pytest.raises(ImportRejected) as info:
            import_file(demo_conn, di_import, path)
        [problem] = [str(p) for p in info.value.report.rejected]
        assert problem.startswith("ligne 1 : doublon probable : « C.C.A.S. de Bondy » ligne 1 ↔ partenaire existant "
                                  "demo:ccas-bondy « CCAS de Bondy »")
        assert "--merge-probable" in problem and "--create-probable" in problem
        assert count(demo_conn, "ccas") == before  # all or nothing: not even the other commune's
        return
    report = import_file(demo_conn, di_import, path, probable=decision)
    # the same name in another commune (Bobigny) is another structure: created either way
    assert report.created == (1 if decision == "merge" else 2) and report.merged == (decision == "merge")
    assert count(demo_conn, "ccas", "93008") == 1
    assert count(demo_conn, "ccas", "93010") == (1 if decision == "merge" else 2)
    with session_of(demo_conn) as session:
        alias = session.scalar(select(PartnerAlias).where(PartnerAlias.ref == "data-inclusion:dora--79"))
        assert (alias is not None) == (decision == "merge")
        if alias:
            assert (alias.partner.ref, alias.matched_on) == ("demo:ccas-bondy", "nom")
    assert not import_file(demo_conn, di_import, path).changed  # decided once: the next run needs no option


def test_a_similar_name_of_the_same_kind_elsewhere_or_of_another_kind_is_created(demo_conn, tmp_path):
    demo = json.loads((PROJECT_ROOT / "geodata" / "demo" / "partners.json").read_text())
    tilleuls = next(p for p in demo["partners"] if p["ref"] == "demo:ra-bondy")
    montreuil = {**tilleuls, "ref": "test:ra-montreuil", "name": "Résidence accueil Les Tilleuls",
                 "sites": [{**tilleuls["sites"][0], "code_insee": "93048", "city": "Montreuil", "postcode": "93100",
                            "lon": 2.4410, "lat": 48.8618}]}
    other_kind = {**tilleuls, "ref": "test:pf-tilleuls", "kind": "pension_de_famille",
                  "name": "Pension de famille Les Tilleuls"}
    south = {**registry_record(demo_conn, "demo:cmp-bondy-nord"), "ref": "test:cmp-bondy-sud-2",
             "name": "CMP adultes Bondy est (démo)", "finess": None}  # "nord" and "est" tell them apart
    (tmp_path / "p.json").write_text(json.dumps({"partners": [montreuil, other_kind, south]}), encoding="utf-8")
    report = import_file(demo_conn, partners_json, tmp_path / "p.json")
    assert (report.created, report.merged) == (3, 0)


def registry_record(conn, ref):
    with session_of(conn) as session:
        record = cards.record_of(partner(session, ref))
    return json.loads(json.dumps(record, default=str))
