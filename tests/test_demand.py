"""Optional unmet-demand counts: per commune, week and kind — never an address or a point."""

import datetime as dt

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app import gaps
from app.db import data_version
from app.gaps import exports as gap_exports
from app.models import UnmetDemand
from app.web import create_app
from tests.points import BONDY_NORD, BONDY_SUD, LYON


@pytest.fixture
def counting_app(demo_url):
    app = create_app({"DATABASE_URL": demo_url, "DEMAND_COUNTS": True})
    engine = app.extensions["maillage"].engine
    try:
        yield app
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM unmet_demand"))
        engine.dispose()


def rows(app):
    with Session(app.extensions["maillage"].engine) as session:
        return sorted((r.code, r.week, r.kind_code, r.count) for r in session.scalars(select(UnmetDemand)))


def test_uncovered_lookups_are_counted_per_commune_week_and_kind(counting_app):
    client = counting_app.test_client()
    week = "{}-W{:02d}".format(*dt.date.today().isocalendar()[:2])
    assert client.get("/api/v1/lookup?lon={}&lat={}".format(*BONDY_NORD)).status_code == 200
    assert client.get("/couverture?lon={}&lat={}".format(*BONDY_NORD)).status_code == 200
    counted = rows(counting_app)
    assert ("commune:93010", week, "savs", 2) in counted  # nobody offers a SAVS in Bondy (demo)
    assert all(code == "commune:93010" and count == 2 for code, _, _, count in counted)
    assert "clsm" not in {kind for _, _, kind, _ in counted}  # Bondy has a CLSM
    # outside the reference, or about another date: nothing is counted
    client.get("/api/v1/lookup?lon={}&lat={}".format(*LYON))
    client.get("/api/v1/lookup?lon={}&lat={}&as_of=2025-01-01".format(*BONDY_NORD))
    assert rows(counting_app) == counted
    # the table holds codes and counts only
    columns = set(UnmetDemand.__table__.columns.keys())
    assert columns == {"id", "code", "week", "kind_code", "count"}


def test_counting_leaves_the_data_version_so_read_caches_stay(counting_app):
    """A count written after every uncovered lookup must not invalidate the partner cards, shapes
    and geocoding indexes that every process caches per data version."""
    engine = counting_app.extensions["maillage"].engine
    with Session(engine) as session:
        before = data_version(session)
    assert counting_app.test_client().get("/api/v1/lookup?lon={}&lat={}".format(*BONDY_NORD)).status_code == 200
    assert rows(counting_app), "the lookup was counted"
    with Session(engine) as session:
        assert data_version(session) == before


def test_gap_exports_show_small_counts_as_less_than_five(counting_app):
    client = counting_app.test_client()
    for _ in range(6):
        client.get("/api/v1/lookup?lon={}&lat={}".format(*BONDY_NORD))
    client.get("/api/v1/lookup?lon={}&lat={}".format(*BONDY_SUD))  # Bondy too, once more
    with Session(counting_app.extensions["maillage"].engine) as session:
        matrix = gaps.compute(session, "departement:93", "savs,clsm", dt.date.today())
        columns, table = gap_exports.unit_table(matrix, gap_exports.context(session, matrix, []))
    header = [c.header for c in columns]
    bondy = dict(zip(header, next(r for r in table if r[0] == "93010")))
    assert bondy["SAVS : demandes non couvertes (52 semaines)"] == 7
    montreuil = dict(zip(header, next(r for r in table if r[0] == "93048")))
    assert montreuil["SAVS : demandes non couvertes (52 semaines)"] == 0
    assert "CLSM : demandes non couvertes (52 semaines)" not in header or \
        bondy["CLSM : demandes non couvertes (52 semaines)"] == 0


def test_small_counts_are_hidden():
    from app.gaps.demand import shown

    assert (shown(0), shown(1), shown(4), shown(5), shown(12)) == (0, "< 5", "< 5", 5, 12)
