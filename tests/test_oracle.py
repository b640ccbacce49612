"""The lookup against an independent implementation of docs/eligibility.md (tests/oracle.py).

Seeded random scenarios (tests/oracle_scenarios.py) and hand-written cases pinning the page's main
rules, compared on `lookup`, `lookup_many` and its compact form, both backends. A failure prints
the seed, scenario, request, point and the differing kind, and the command that reruns it alone
(bench/oracle_bench.py, which also runs thousands of scenarios).
"""

from __future__ import annotations

import datetime as dt
import math

import pytest
from shapely.geometry import mapping
from sqlalchemy.orm import Session

from tests.conftest import _rolled_back, make_engine
from tests.oracle import Partner, Reference, Request, expected, state_at
from tests.oracle_check import Outcome, compare_loaded, exercise, load_scenario, run_scenario
from tests.oracle_scenarios import Generator, Scenario, ScenarioPoint, build_database, destination, star_polygon
from tests.points import BONDY_NORD, BONDY_SUD, LYON, MONTREUIL

SEEDS = range(10)
SCENARIOS_PER_SEED = 6
AS_OF = dt.date(2026, 11, 28)


@pytest.fixture(scope="session")
def oracle_engine(backend, databases):
    """Communes of 75 and 93, IRIS of Bondy and Montreuil, landlords; no partner."""
    engine = make_engine(databases.new_url(backend))
    build_database(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def oracle_ref(oracle_engine) -> Reference:
    with Session(oracle_engine) as session:
        return Reference.load(session)


@pytest.fixture
def oracle_session(oracle_engine):
    for conn in _rolled_back(oracle_engine):
        with Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False) as session:
            yield session


# ---------------------------------------------------------------------------------------------
# Random scenarios


@pytest.mark.parametrize("seed", SEEDS)
def test_lookup_agrees_with_the_oracle_on_random_scenarios(oracle_session, oracle_ref, backend, seed):
    generator = Generator(oracle_ref)
    outcome = Outcome()
    for index in range(SCENARIOS_PER_SEED):
        outcome.add(run_scenario(oracle_session, oracle_ref, generator.scenario(seed, index), backend))
    assert outcome.points > 100
    if outcome.by_rule:
        pytest.fail(outcome.report(), pytrace=False)


def test_random_scenarios_reach_every_rule(oracle_ref):
    """The generator is worth something only if its scenarios reach the page's rules (the oracle
    alone, partners numbered by hand: no database write)."""
    generator = Generator(oracle_ref)
    reached = Outcome().exercised
    for index in range(len(SEEDS) * SCENARIOS_PER_SEED):
        scenario = generator.scenario(SEEDS[index % len(SEEDS)], index // len(SEEDS))
        partners = {i: Partner.from_record(i, r, oracle_ref, scenario.areas.get(r["ref"]))
                    for i, r in enumerate(scenario.records, start=1)}
        for req in scenario.requests:
            for point in scenario.points:
                exp = expected(oracle_ref, list(partners.values()), req, point.lon, point.lat)
                if not exp.unsettled:
                    exercise(reached, exp, oracle_ref, partners, req, point)
    for rule in ("placed partners", "placed upcoming", "placed unavailable", "placed closed", "placed age",
                 "placed housing", "placed landlord", "placed beyond_limit", "kind left out for the age",
                 "listed by its own age band", "reserved partner listed with a landlord",
                 "territorial covered", "territorial restricted", "territorial outside", "territorial none",
                 "proximity found", "proximity none", "point in an included part but excluded",
                 "as_of on a valid_from or valid_to", "site 0-30 m inside the radius", "site 0-30 m outside the radius",
                 "point 0.5-6 m inside an area's boundary", "point 0.5-6 m outside an area's boundary",
                 "point 0.5-6 m inside a unit's boundary", "point 0.5-6 m outside a unit's boundary"):
        assert reached[rule] >= 5, f"{rule}: reached {reached[rule]} times ({dict(reached)})"


def test_state_at_a_date_follows_the_table():
    def state(status, valid_from=None, valid_to=None, as_of=AS_OF):
        p = Partner(0, "t", "clsm", "T", "tous", status=status, valid_from=valid_from, valid_to=valid_to)
        return state_at(p, as_of)

    day = dt.timedelta(days=1)
    assert state("active", valid_to=AS_OF - day) == "closed"
    assert state("active", valid_to=AS_OF) == "active"  # the last day still counts
    assert state("active", valid_from=AS_OF + day) == "planned"
    assert state("closed", valid_to=AS_OF) == "active"  # it was open until then
    assert state("closed") == "closed"
    assert state("planned", valid_from=AS_OF) == "active"  # it opened that day
    assert state("planned") == "planned"
    assert state("suspended", valid_from=AS_OF - day) == "suspended"


# ---------------------------------------------------------------------------------------------
# Hand-written cases: the oracle pinned to the page, then compared with the lookup like the rest


def _bondy(**fields) -> dict:
    record = {"kind": "clsm", "name": "Structure", "coverage": {"include": ["commune:93010"]}}
    record.update(fields)
    return record


class Case:
    """Records loaded in the test's transaction, the oracle's answers and the comparison."""

    def __init__(self, session, ref: Reference, backend: str, label: str, records: list[dict], points, requests):
        for i, record in enumerate(records):
            record.setdefault("ref", f"case:{i}")
        self.ref = ref
        self.requests = [Request(as_of=AS_OF, **r) for r in requests]
        self.points = [ScenarioPoint(lon, lat, f"{label} point {i}") for i, (lon, lat) in enumerate(points)]
        self.scenario = Scenario(0, 0, records, self.requests, self.points, label=label)
        self.partners = load_scenario(session, ref, self.scenario)
        self.ids = {p.ref: p.id for p in self.partners.values()}
        self.outcome = compare_loaded(session, ref, self.scenario, self.partners, backend)

    def expect(self, request: int = 0, point: int = 0):
        req, pt = self.requests[request], self.points[point]
        exp = expected(self.ref, list(self.partners.values()), req, pt.lon, pt.lat)
        assert exp.unsettled is None
        return exp

    def refs(self, ids) -> list[str]:
        by_id = {v: k for k, v in self.ids.items()}
        return [by_id[i] for i in ids]

    def agrees(self) -> None:
        if self.outcome.failures:
            pytest.fail(self.outcome.report(limit=5), pytrace=False)


def test_empp_for_every_age_is_answered_and_listed_for_a_child(oracle_session, oracle_ref, backend):
    case = Case(oracle_session, oracle_ref, backend, "empp-tous-enfant",
                [_bondy(kind="empp", name="EMPP Bondy", age_band="tous")], [BONDY_NORD],
                [{"age": "enfant"}, {"age": "adulte"}])
    for request in (0, 1):
        empp = case.expect(request).kind("empp")
        assert empp is not None and empp.status == "covered"
        assert case.refs(empp.partners) == ["case:0"]
    case.agrees()


def test_a_kind_is_left_out_for_an_age_only_when_nothing_of_it_serves_that_age(oracle_session, oracle_ref, backend):
    case = Case(oracle_session, oracle_ref, backend, "kind-for-age", [
        _bondy(kind="samsah", name="SAMSAH adultes"),  # the kind's band: adulte
        # a SAVS for children in Paris: the (adult) kind is answered for a child everywhere, even at Bondy
        _bondy(kind="savs", name="SAVS enfants", age_band="enfant",
               coverage={"include": ["commune:75056"]}),
    ], [BONDY_NORD], [{"age": "enfant"}, {"age": "adulte"}])
    child, adult = case.expect(0), case.expect(1)
    assert child.kind("samsah") is None  # adulte kind, no partner for children
    assert child.kind("savs").status == "none" and child.kind("savs").partners == []
    assert child.kind("secteur_psy_infanto") is not None and child.kind("secteur_psy_adulte") is None
    assert adult.kind("secteur_psy_infanto") is None
    assert case.refs(adult.kind("samsah").partners) == ["case:0"]
    assert adult.kind("savs").filtered_out == 0  # not at the point: not a candidate
    assert adult.kind("clsm") is not None and child.kind("clsm") is not None
    case.agrees()


def test_an_adult_kind_partner_for_children_only_is_filtered_for_an_adult(oracle_session, oracle_ref, backend):
    case = Case(oracle_session, oracle_ref, backend, "enfant-of-adult-kind",
                [_bondy(kind="samsah", name="SAMSAH jeunes", age_band="enfant")], [BONDY_NORD],
                [{"age": "adulte"}, {"age": "enfant"}, {}])
    adult, child, anyone = (case.expect(i).kind("samsah") for i in range(3))
    assert adult.partners == [] and adult.filtered_out == 1 and adult.status == "none"
    assert case.refs(child.partners) == ["case:0"] and child.status == "covered"
    assert case.refs(anyone.partners) == ["case:0"]
    case.agrees()


def test_a_partner_reserved_to_the_tenants_landlord_covers_and_applies(oracle_session, oracle_ref, backend):
    case = Case(oracle_session, oracle_ref, backend, "reserved",
                [_bondy(kind="equipe_mobile_bailleur", name="Équipe A",
                        reserved_landlords=["bailleur-a"])], [BONDY_NORD],
                [{"landlord": "bailleur-a"}, {}, {"landlord": "bailleur-b"}])
    mine, unknown, other = (case.expect(i).kind("equipe_mobile_bailleur") for i in range(3))
    assert mine.status == "covered" and mine.applies == {case.ids["case:0"]: True}
    assert unknown.status == "restricted" and unknown.applies == {case.ids["case:0"]: None}
    assert other.status == "none" and other.partners == [] and other.filtered_out == 1
    case.agrees()


def test_with_a_landlord_its_reserved_partners_come_first(oracle_session, oracle_ref, backend):
    case = Case(oracle_session, oracle_ref, backend, "order-landlord", [
        _bondy(name="Alpha"),
        _bondy(name="Zèbre", reserved_landlords=["bailleur-a"]),
        _bondy(name="Alpha", reserved_landlords=["bailleur-a", "bailleur-b"]),
        _bondy(name="Équipe"),  # after "Zèbre" in plain string order
        _bondy(name="Zèbre"),
    ], [BONDY_NORD], [{"landlord": "bailleur-a"}, {}])
    with_landlord, without = case.expect(0).kind("clsm"), case.expect(1).kind("clsm")
    assert case.refs(with_landlord.partners) == ["case:2", "case:1", "case:0", "case:4", "case:3"]
    assert case.refs(without.partners) == ["case:0", "case:4", "case:3", "case:2", "case:1"]
    assert with_landlord.status == without.status == "covered"
    assert with_landlord.applies == {case.ids["case:1"]: True, case.ids["case:2"]: True}
    assert without.applies == {case.ids["case:1"]: None, case.ids["case:2"]: None}
    case.agrees()


def test_dates_win_over_the_status(oracle_session, oracle_ref, backend):
    day = dt.timedelta(days=1)
    case = Case(oracle_session, oracle_ref, backend, "dates", [
        _bondy(name="Fermé hier", status="active", valid_to=(AS_OF - day).isoformat()),
        _bondy(name="Dernier jour", status="closed", valid_to=AS_OF.isoformat()),
        _bondy(name="Ouvre ce jour", status="planned", valid_from=AS_OF.isoformat()),
        _bondy(name="Ouvre demain", status="active", valid_from=(AS_OF + day).isoformat()),
        _bondy(name="Fermé", status="closed"),
        _bondy(name="Suspendu", status="suspended"),
        _bondy(name="Enfants", status="closed", age_band="enfant"),  # closed: not counted
    ], [BONDY_NORD], [{"age": "adulte"}])
    clsm = case.expect().kind("clsm")
    assert case.refs(clsm.partners) == ["case:1", "case:2"]
    assert case.refs(clsm.upcoming) == ["case:3"] and case.refs(clsm.unavailable) == ["case:5"]
    assert clsm.filtered_out == 0
    case.agrees()


def test_excluded_codes_and_polygons_are_cut_out_of_the_area(oracle_session, oracle_ref, backend):
    import random

    hole = star_polygon(random.Random(1), *MONTREUIL, 300, concave=False)
    outside_hole = destination(*MONTREUIL, 900, 0)
    case = Case(oracle_session, oracle_ref, backend, "exclusions", [
        _bondy(kind="dac", name="DAC 93", coverage={
            "include": ["departement:93"], "exclude": ["commune:93010"],
            "polygons": [{"mode": "exclude", "label": "trou", "geometry": mapping(hole)}]}),
    ], [BONDY_SUD, MONTREUIL, outside_hole], [{}])
    assert case.expect(point=0).kind("dac").status == "none"
    assert case.expect(point=1).kind("dac").status == "none"
    assert case.refs(case.expect(point=2).kind("dac").partners) == ["case:0"]
    case.agrees()


def test_proximity_lists_the_nearest_within_the_radius(oracle_session, oracle_ref, backend):
    lon, lat = BONDY_NORD
    radius = oracle_ref.kind["gem"].radius_m
    records = [{"kind": "gem", "name": f"GEM {i}", "sites": [
        dict(zip(("lon", "lat"), destination(lon, lat, 100 * (7 - i), i)), name="Local")]} for i in range(7)]
    records.append({"kind": "gem", "name": "GEM fermé pour travaux", "status": "suspended",
                    "sites": [dict(zip(("lon", "lat"), destination(lon, lat, 50, 0)), name="Local")]})
    records.append({"kind": "gem", "name": "GEM au bord", "sites": [
        dict(zip(("lon", "lat"), destination(lon, lat, radius + 10, math.pi / 3)), name="Local")]})
    case = Case(oracle_session, oracle_ref, backend, "proximity", records, [BONDY_NORD], [{}])
    gem = case.expect().kind("gem")
    assert case.refs(gem.partners) == ["case:6", "case:5", "case:4", "case:3", "case:2"]  # nearest 5 of 7
    assert case.refs(gem.unavailable) == ["case:7"] and gem.status == "found"
    assert gem.placement[case.ids["case:8"]] == "not_candidate"
    case.agrees()


def test_outside_the_reference(oracle_session, oracle_ref, backend):
    case = Case(oracle_session, oracle_ref, backend, "outside",
                [{"kind": "cmp", "name": "CMP Bondy", "sites": [{"name": "CMP", "lon": BONDY_NORD[0],
                                                                 "lat": BONDY_NORD[1]}]}], [LYON], [{}])
    answer = case.expect()
    assert not answer.inside
    assert answer.kind("clsm").status == "outside" and answer.kind("cmp").status == "none"
    case.agrees()


@pytest.mark.parametrize("kind", ["cmp", "etablissement_psy"])  # 5 km; 15 km, the widest radius
def test_a_site_just_inside_the_radius_due_east_is_found(oracle_session, oracle_ref, backend, kind):
    """Within the radius by haversine, whatever the direction: due east, the last 0.11 % of the
    radius is where a lon/lat search box built with 111,320 m per degree falls short (the single
    lookup for every kind, a batch of points there for the widest radius). One point per batch:
    the batch's box spans all its points."""
    site = BONDY_NORD
    radius = oracle_ref.kind[kind].radius_m
    wanted = {(radius - 3, 90): ["case:0"], (radius - 3, 270): ["case:0"], (radius - 3, 0): ["case:0"],
              (radius + 3, 90): []}
    failures = Outcome()
    for (distance, bearing), refs in wanted.items():
        savepoint = oracle_session.begin_nested()
        case = Case(oracle_session, oracle_ref, backend, f"radius-{kind}-{distance}m-bearing-{bearing}",
                    [{"kind": kind, "name": "Site", "sites": [{"name": "Site", "lon": site[0], "lat": site[1]}]}],
                    [destination(*site, distance, math.radians(bearing))], [{}])
        assert case.refs(case.expect().kind(kind).partners) == refs
        failures.add(case.outcome)
        savepoint.rollback()
    if failures.failures:
        pytest.fail(failures.report(limit=5), pytrace=False)
