"""The lookup caches partner cards per engine; every committed write must be seen at once."""

from app.db import data_version, transaction, upgrade
from app.lookup import lookup, parse_options
from app.partners import kinds
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


def test_lru_keeps_the_most_recently_used_entries():
    from app.lookup.cache import LRU

    lru = LRU(2)
    lru.put("a", 1)
    lru.put("b", 2)
    assert lru.get("a") == 1  # now the most recent
    lru.put("c", 3)
    assert "b" not in lru and lru.get("a") == 1 and lru.get("c") == 3 and len(lru) == 2


def test_reference_caches_are_bounded_and_answers_stay_whole(demo_session, monkeypatch):
    """A long-running server meets every partner, coverage area and date: the per-engine cache
    keeps a bounded number of each (it used to keep every partner card and shape it ever read), and
    what a request asks for is always answered whole, whatever was evicted."""
    from sqlalchemy import select

    from app.lookup import cache
    from app.models import CoverageArea, Partner

    monkeypatch.setattr(cache, "MAX_PARTNERS", 5)
    monkeypatch.setattr(cache, "MAX_SHAPES", 3)
    monkeypatch.setattr(cache, "MAX_OPTIONS", 4)
    ref = cache.Reference.load(demo_session, data_version(demo_session))
    ids = set(demo_session.scalars(select(Partner.id)))
    facts = cache.load_partners(demo_session, ids, ref)
    assert set(facts) == ids and len(ref.partners) == 5
    areas = list(demo_session.scalars(select(CoverageArea.id)))
    shapes = cache.cached_shapes(demo_session, ref, CoverageArea, areas)
    assert set(shapes) == set(areas) and len(ref.shapes["coverage_area"]) == 3
    for day in range(1, 11):
        options = parse_options(demo_session, as_of=f"2026-12-{day:02d}")
        kinds, defaults = cache.defaults_for(ref, options)
        assert defaults.options == options and len(ref.defaults) <= 4
