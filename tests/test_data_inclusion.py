"""data·inclusion: export validated by the official schema package, import of a dump."""

import datetime as dt
import json

import pytest
from data_inclusion.schema.v1 import Service, Structure
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.exchange import data_inclusion
from app.models import Partner
from app.partners import cards, registry
from importers import data_inclusion as di_import
from importers.base import ImportRejected
from tests.helpers import answer, import_file, kind, refs
from tests.points import BONDY_SUD, MONTREUIL, PARIS_13

TODAY = dt.date(2026, 11, 28)


def session_of(conn):
    return Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)


def exported(conn):
    with session_of(conn) as session:
        return data_inclusion.export(session, today=TODAY)


def test_export_is_valid_against_the_official_schema(demo_conn):
    structures, services, notes = exported(demo_conn)
    with session_of(demo_conn) as session:
        in_service = [p for p in session.scalars(select(Partner)) if data_inclusion.availability(p, TODAY) == "active"]
    assert len(structures) == len(services) == len(in_service) > 20
    for obj in structures:
        Structure.model_validate(obj, context={"ignore_warnings": False})
    for obj in services:
        Service.model_validate(obj, context={"ignore_warnings": False})
    by_id = {s["id"]: s for s in services}
    # typed codes become COG codes; a département stays a département
    assert by_id["maillage--demo:ccas-bondy--service"]["zone_eligibilite"] == ["93010"]
    assert by_id["maillage--demo:mdph-93--service"]["zone_eligibilite"] == ["93"]
    # kinds carry their réseau porteur and thématiques where the schema has them
    cmp_structure = next(s for s in structures if s["id"] == "maillage--demo:cmp-bondy-sud")
    assert cmp_structure["reseaux_porteurs"] == ["cmp"]
    assert "sante--sante-mentale" in by_id["maillage--demo:clsm-bondy--service"]["thematiques"]
    # a sector drawn as a polygon inside Bondy is expressed by the commune it lies in, and says so
    assert by_id["maillage--demo:secteur-93g10--service"]["zone_eligibilite"] == ["93010"]
    assert any(n.startswith("demo:secteur-93g10 : zone avec exclusions ou polygones") for n in notes)


def test_closed_and_planned_partners_are_not_exported(demo_conn):
    with session_of(demo_conn) as session:
        record = cards.record_of(session.scalar(select(Partner).where(Partner.ref == "demo:ccas-bondy")))
        registry.upsert_partner(session, {**record, "status": "closed"})
        registry.upsert_partner(session, {**record, "ref": "test:futur", "status": "planned", "valid_from": "2027-03-01"})
        session.commit()
    ids = {s["id"] for s in exported(demo_conn)[0]}
    assert "maillage--demo:ccas-bondy" not in ids and "maillage--test:futur" not in ids


def test_export_refuses_objects_the_schema_refuses(demo_conn):
    with session_of(demo_conn) as session:
        record = cards.record_of(session.scalar(select(Partner).where(Partner.ref == "demo:ccas-bondy")))
        record["contacts"] = [{"label": "Accueil", "email": "accueil@exemple..org"}]  # refused by EmailStr
        registry.upsert_partner(session, record)
        session.commit()
        with pytest.raises(data_inclusion.ExportError) as info:
            data_inclusion.export(session, today=TODAY)
    assert any(p.startswith("demo:ccas-bondy (structure) · courriel") for p in info.value.problems)


def write_dump(tmp_path, structures, services):
    (tmp_path / "structures.json").write_text(json.dumps(structures), encoding="utf-8")
    (tmp_path / "services.json").write_text(json.dumps(services), encoding="utf-8")
    return tmp_path / "structures.json", tmp_path / "services.json"


def test_import_of_a_dump_brings_back_the_kinds_it_carries(demo_conn, tmp_path):
    structures, services, _ = exported(demo_conn)
    s_path, v_path = write_dump(tmp_path, structures, services)
    with session_of(demo_conn) as session:
        for partner in session.scalars(select(Partner)):
            session.delete(partner)
        session.commit()
    report = import_file(demo_conn, di_import, s_path, services=v_path)
    carried = [s for s in structures if s["reseaux_porteurs"]]
    assert report.created == len(carried) and report.created >= 5
    assert any(" non importée" in str(w) and ": sans réseau porteur" in str(w) for w in report.warnings)
    with session_of(demo_conn) as session:
        assert "data-inclusion:maillage--demo:ccas-bondy" in refs(kind(answer(session, BONDY_SUD), "ccas"))
        assert "data-inclusion:maillage--demo:ccas-bondy" not in refs(kind(answer(session, MONTREUIL), "ccas"))
        assert "data-inclusion:maillage--demo:casvp-13" in refs(kind(answer(session, PARIS_13), "ccas"))
        mdph = session.scalar(select(Partner).where(Partner.ref == "data-inclusion:maillage--demo:mdph-93"))
        assert [p.code for p in mdph.parts] == ["departement:93"]
        assert mdph.data_inclusion_id == "maillage--demo:mdph-93" and mdph.source == "data-inclusion"
        cmp_ = session.scalar(select(Partner).where(Partner.ref == "data-inclusion:maillage--demo:cmp-bondy-sud"))
        assert cmp_.kind_code == "cmp" and cmp_.sites[0].geom is not None
    assert not import_file(demo_conn, di_import, s_path, services=v_path).changed


def test_a_structure_without_zone_covers_its_commune_or_departement_by_kind(demo_conn, tmp_path):
    base = {"source": "test", "date_maj": "2026-01-01", "code_insee": "93048", "telephone": "01 00 00 00 00"}
    s_path, _ = write_dump(tmp_path, [
        {**base, "id": "test--ccas", "nom": "CCAS de Montreuil", "reseaux_porteurs": ["ccas-cias"]},
        {**base, "id": "test--siao", "nom": "SIAO 93", "reseaux_porteurs": ["siao"]},
    ], [])
    report = import_file(demo_conn, di_import, s_path)
    assert report.created == 2
    with session_of(demo_conn) as session:
        parts = {p.ref: [x.code for x in p.parts] for p in session.scalars(
            select(Partner).where(Partner.ref.like("data-inclusion:test--%")))}
    assert parts == {"data-inclusion:test--ccas": ["commune:93048"], "data-inclusion:test--siao": ["departement:93"]}


@pytest.mark.parametrize("structures,expected", [
    ("{not json", "JSON invalide ligne 1"),
    ({"id": "x"}, "liste JSON d'objets structures attendue"),
    ([{"source": "t", "id": "t--1", "nom": "CMP", "date_maj": "2031-01-01", "reseaux_porteurs": ["cmp"]}],
     "ligne 1 · structures · date_maj : t--1 : Value error, La date de dernière modification ne peut pas être dans le futur."),
    ([{"source": "t", "id": "t--1", "nom": "CMP x", "date_maj": "2026-01-01", "reseaux_porteurs": ["cmp"]}],
     "ligne 1 · structures · sites : t--1 : un partenaire « CMP » est trouvé par proximité"),
    ([{"source": "t", "id": "t--1", "nom": "CCAS x", "date_maj": "2026-01-01", "reseaux_porteurs": ["ccas-cias"],
       "code_insee": "99999"}],
     "ligne 1 · structures · coverage.include : t--1 : territoire commune:99999 absent du référentiel"),
])
def test_bad_dumps_are_refused(demo_conn, tmp_path, structures, expected):
    path = tmp_path / "structures.json"
    path.write_text(structures if isinstance(structures, str) else json.dumps(structures), encoding="utf-8")
    with pytest.raises(ImportRejected) as info:
        import_file(demo_conn, di_import, path)
    problems = [str(p) for p in info.value.report.rejected]
    assert any(expected in p for p in problems), problems


def test_export_follows_the_partners_own_age_band_and_reads_it_back(demo_conn, tmp_path):
    """The partner's age band wins over its kind's default (docs/eligibility.md) in the export too:
    an all-ages EMPP is for everyone, a children's EMPP for young people, an adult CLSM says so."""
    with session_of(demo_conn) as session:
        for ref, kind_code, band in (("test:empp-tous", "empp", "tous"), ("test:empp-jeunes", "empp", "enfant"),
                                     ("test:clsm-adultes", "clsm", "adulte")):
            registry.upsert_partner(session, {"ref": ref, "kind": kind_code, "name": f"Partenaire {ref}",
                                              "age_band": band, "eligibility": "Sur orientation.",
                                              "coverage": {"include": ["commune:93010"]}})
        session.commit()
    structures, services, _ = exported(demo_conn)
    by_id = {s["id"]: s for s in services}
    assert by_id["maillage--test:empp-tous--service"]["publics"] == ["tous-publics"]
    assert by_id["maillage--test:empp-tous--service"]["conditions_acces"] == "Sur orientation."
    assert by_id["maillage--test:empp-jeunes--service"]["publics"] == ["jeunes"]
    assert by_id["maillage--test:empp-jeunes--service"]["conditions_acces"].startswith("Public : enfants et adolescents.")
    assert by_id["maillage--test:clsm-adultes--service"]["conditions_acces"] == (
        "Public : adultes (18 ans et plus). Sur orientation.")
    # the sentence is read back as the age band, not kept as text
    service = by_id["maillage--test:clsm-adultes--service"]
    structure = next(s for s in structures if s["id"] == service["structure_id"])
    record = di_import._record(Structure.model_validate(structure), [Service.model_validate(service)],
                               data_inclusion.mapping()["ccas"])
    assert record["age_band"] == "adulte" and record["eligibility"] == "Sur orientation."
