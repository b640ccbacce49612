"""Partner records: validation, idempotent upsert, coverage compiled from parts."""

import datetime as dt

import pytest
from geoalchemy2.shape import to_shape
from sqlalchemy import func, select

from app.models import CoverageArea, Partner
from app.partners.registry import InvalidRecord, upsert_partner
from tests.helpers import answer, kind, refs
from tests.points import BONDY_SUD, MONTREUIL

RECORD = {
    "ref": "test:clsm-x", "kind": "clsm", "name": "CLSM de test",
    "how_to_refer": "Écrire à la coordination.",
    "coverage": {"include": ["commune:93010", "commune:93048"]},
    "contacts": [{"label": "Coordination", "email": "coordination@example.org"}],
    "sites": [{"name": "Mairie", "lon": 2.48, "lat": 48.90, "code_insee": "93010"}],
}


def test_upsert_creates_then_changes_nothing_when_rerun(demo_session):
    first = upsert_partner(demo_session, RECORD)
    assert first.action == "created"
    stamp = first.partner.updated_at
    second = upsert_partner(demo_session, RECORD)
    assert second.action == "unchanged"
    assert second.partner.id == first.partner.id and second.partner.updated_at == stamp
    assert demo_session.scalar(select(func.count()).where(Partner.ref == "test:clsm-x")) == 1


def test_update_recompiles_the_coverage(demo_session):
    upsert_partner(demo_session, RECORD)
    assert "test:clsm-x" in refs(kind(answer(demo_session, MONTREUIL), "clsm"))
    changed = {**RECORD, "coverage": {"include": ["commune:93010"]}}
    assert upsert_partner(demo_session, changed).action == "updated"
    assert "test:clsm-x" not in refs(kind(answer(demo_session, MONTREUIL), "clsm"))
    assert "test:clsm-x" in refs(kind(answer(demo_session, BONDY_SUD), "clsm"))


def test_group_codes_are_unions_of_communes(demo_session):
    result = upsert_partner(demo_session, {**RECORD, "coverage": {"include": ["departement:93"],
                                                                  "exclude": ["commune:93048"]}})
    area = demo_session.scalar(select(CoverageArea).where(CoverageArea.partner_id == result.partner.id))
    shape = to_shape(area.geom)
    assert shape.geom_type == "MultiPolygon" and shape.is_valid
    assert "test:clsm-x" in refs(kind(answer(demo_session, BONDY_SUD), "clsm"))
    assert "test:clsm-x" not in refs(kind(answer(demo_session, MONTREUIL), "clsm"))
    assert 200 < area.area_km2 < 260  # Seine-Saint-Denis is 236 km², minus Montreuil's 9 km²


BOWTIE = {"type": "Polygon", "coordinates": [[[2.47, 48.89], [2.49, 48.91], [2.49, 48.89], [2.47, 48.91], [2.47, 48.89]]]}


def test_self_intersecting_polygon_is_repaired(demo_session):
    record = {**RECORD, "ref": "test:bowtie", "coverage": {"polygons": [{"label": "noeud papillon", "geometry": BOWTIE}]}}
    result = upsert_partner(demo_session, record)
    area = demo_session.scalar(select(CoverageArea).where(CoverageArea.partner_id == result.partner.id))
    shape = to_shape(area.geom)
    assert shape.is_valid and len(shape.geoms) == 2


@pytest.mark.parametrize("change,field,fragment", [
    ({"kind": "licorne"}, "kind", "inconnu"),
    ({"name": ""}, "name", "obligatoire"),
    ({"ref": "a b"}, "ref", "identifiant invalide"),
    ({"coverage": {"include": ["93"]}}, "coverage.include", "ambigu"),
    ({"coverage": {"include": ["commune:99999"]}}, "coverage.include", "absent du référentiel"),
    ({"coverage": {}}, "coverage", "au moins une partie"),
    ({"coverage": {"exclude": ["commune:93010"]}}, "coverage", "aucune partie incluse"),
    ({"coverage": {"polygons": [{"geometry": {"type": "LineString", "coordinates": [[2.4, 48.9], [2.5, 48.9]]}}]}},
     "coverage.polygons[0]", "n'est pas une surface"),
    ({"coverage": {"polygons": [{"geometry": {"type": "Polygon", "coordinates": [[[652000, 6862000], [653000, 6862000], [653000, 6863000], [652000, 6862000]]]}}]}},
     "coverage.polygons[0]", "Lambert-93"),
    ({"valid_from": "2026-02-30"}, "valid_from", "date invalide"),
    ({"valid_from": "2027-01-01", "valid_to": "2026-01-01"}, "valid_to", "antérieure"),
    ({"status": "ouvert"}, "status", "ouvert"),
    ({"reserved_landlords": ["inconnu"]}, "reserved_landlords", "bailleur inconnu"),
    ({"housing_types": ["chateau"]}, "housing_types", "chateau"),
    ({"finess": "12345"}, "finess", "FINESS invalide"),
    ({"website": "javascript:alert(1)"}, "website", "adresse web invalide"),
    ({"contacts": [{"label": "Accueil"}]}, "contacts[0]", "téléphone, un courriel"),
    ({"sites": [{"name": "X", "lon": 2.4}]}, "sites[0].lon/lat", "vont ensemble"),
    ({"sites": [{"name": "X", "lon": 2.4, "lat": 95}]}, "sites[0].lon/lat", "hors limites"),
    ({"description": "a\x00b"}, "description", "caractère nul"),
])
def test_invalid_records_are_refused_with_every_problem_and_write_nothing(demo_session, change, field, fragment):
    before = demo_session.scalar(select(func.count()).select_from(Partner))
    with pytest.raises(InvalidRecord) as info:
        upsert_partner(demo_session, {**RECORD, **change})
    fields = [f for f, _ in info.value.errors]
    assert field in fields, info.value.errors
    assert any(fragment in m for f, m in info.value.errors if f == field), info.value.errors
    assert demo_session.scalar(select(func.count()).select_from(Partner)) == before


def test_all_problems_of_a_record_are_reported_at_once(demo_session):
    with pytest.raises(InvalidRecord) as info:
        upsert_partner(demo_session, {"ref": "test:bad", "kind": "clsm", "valid_from": "x",
                                      "coverage": {"include": ["53", "commune:99999"]}})
    fields = {f for f, _ in info.value.errors}
    assert {"name", "valid_from", "coverage.include"} <= fields


def test_proximity_partner_needs_a_located_site(demo_session):
    with pytest.raises(InvalidRecord) as info:
        upsert_partner(demo_session, {"ref": "test:ra", "kind": "residence_accueil", "name": "RA"})
    assert any(f == "sites" for f, _ in info.value.errors)


def test_provenance_is_recorded(demo_session):
    result = upsert_partner(demo_session, RECORD, source="partners-sheet", source_file="ars.csv", source_row=12)
    p = result.partner
    assert (p.source, p.source_file, p.source_row) == ("partners-sheet", "ars.csv", 12)
    assert p.imported_at.date() <= dt.date.today()
