"""The lookup caches partner cards per engine; every committed write must be seen at once."""

from app.partners import kinds
from app.db import data_version, transaction, upgrade
from app.lookup import lookup, parse_options
from app.partners.registry import upsert_partner
from importers import data_france
from importers.base import run
from tests.conftest import make_engine
from tests.helpers import kind, names
from tests.points import BONDY_SUD

RECORD = {"ref": "t:clsm", "kind": "clsm", "name": "CLSM v1", "coverage": {"include": ["commune:93010"]}}


def test_committed_changes_are_seen_by_the_next_lookup(backend, databases):
    engine = make_engine(databases.new_url(backend))
    upgrade(engine)
    with transaction(engine) as session:
        kinds.load_catalogue(session)
    run(engine, data_france.NAME, data_france.read, data_france.load, None, departements="93")

    def clsm_names():
        with transaction(engine) as session:
            return names(kind(lookup(session, *BONDY_SUD, parse_options(session)), "clsm"))

    assert clsm_names() == []
    with transaction(engine) as session:
        upsert_partner(session, RECORD)
    assert clsm_names() == ["CLSM v1"]
    with transaction(engine) as session:
        before = data_version(session)
        upsert_partner(session, RECORD)  # unchanged: no write, version kept
    with transaction(engine) as session:
        assert data_version(session) == before
        upsert_partner(session, {**RECORD, "name": "CLSM v2"})
    assert clsm_names() == ["CLSM v2"]
    engine.dispose()
