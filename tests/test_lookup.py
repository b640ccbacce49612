"""The lookup on the demo data, on both backends: sub-commune sectors, Paris arrondissements,
dates, landlord restrictions, overlaps, filters, points outside the reference, batch form."""

import datetime as dt

import pytest

from app.errors import InvalidInput
from app.lookup import lookup, lookup_many, parse_options
from tests.helpers import answer, kind, refs
from tests.points import (
    BOBIGNY, BONDY_NORD, BONDY_SUD, LYON, MONTREUIL, PARIS_8, PARIS_13, SAINT_DENIS, VINCENNES,
)


def test_bondy_is_split_between_two_adult_sectors_by_a_custom_polygon(demo_session):
    north = kind(answer(demo_session, BONDY_NORD), "secteur_psy_adulte")
    south = kind(answer(demo_session, BONDY_SUD), "secteur_psy_adulte")
    assert refs(north) == ["demo:secteur-93g10"]
    assert north["partners"][0]["matched_part"]["type"] == "polygone"
    assert north["partners"][0]["matched_part"]["label"].startswith("zone délimitée : Bondy nord")
    # 93G11 = commune:93010 + commune:93057 minus the northern polygon (an exclusion)
    assert refs(south) == ["demo:secteur-93g11"]
    assert south["partners"][0]["matched_part"] == {
        "type": "territoire", "code": "commune:93010", "level": "commune", "level_label": "Commune", "label": "Bondy",
    }


def test_adult_and_child_sectors_on_the_same_place(demo_session):
    result = answer(demo_session, BONDY_SUD)
    assert refs(kind(result, "secteur_psy_adulte")) == ["demo:secteur-93g11"]
    assert refs(kind(result, "secteur_psy_infanto")) == ["demo:secteur-93i04"]


def test_sector_lists_its_cmp_site_nearest_first(demo_session):
    sector = kind(answer(demo_session, BONDY_SUD), "secteur_psy_adulte")["partners"][0]
    assert [s["role"] for s in sector["sites"]] == ["cmp"]
    assert sector["sites"][0]["finess"] == "930990102"
    assert sector["sites"][0]["distance_m"] < 50  # the test point is the CMP's own location


def test_paris_sector_defined_on_an_arrondissement(demo_session):
    result = answer(demo_session, PARIS_13)
    units = {u["code"] for u in result["territory"]["units"]}
    assert units == {"arrondissement:75113", "commune:75056"}  # Paris and its arrondissement overlap
    sector = kind(result, "secteur_psy_adulte")
    assert refs(sector) == ["demo:secteur-75g21"]
    assert sector["partners"][0]["matched_part"]["code"] == "arrondissement:75113"
    assert kind(result, "mdph")["partners"][0]["matched_part"]["code"] == "departement:75"


def test_commune_75056_also_works_as_a_coverage_part(demo_session):
    from app.partners.registry import upsert_partner

    upsert_partner(demo_session, {
        "ref": "test:ccas-paris", "kind": "samsah", "name": "SAMSAH parisien",
        "coverage": {"include": ["commune:75056"]},
    })
    entry = kind(answer(demo_session, PARIS_13), "samsah")
    assert refs(entry) == ["test:ccas-paris"]
    assert entry["partners"][0]["matched_part"]["code"] == "commune:75056"


def test_no_coverage_is_explicit_with_what_to_do(demo_session):
    result = answer(demo_session, PARIS_8)
    clsm = kind(result, "clsm")
    assert clsm["status"] == "none"
    assert clsm["partners"] == []
    assert clsm["message"].startswith("Aucun CLSM ne couvre cette adresse (territoire inventorié le ")
    assert "DAC" in clsm["if_none"]
    assert kind(result, "empp")["message"] == "Aucune EMPP connue pour cette adresse — inventaire inconnu pour ce territoire."


def test_closed_service_is_gone_today_but_found_in_the_past(demo_session):
    assert kind(answer(demo_session, BOBIGNY), "clsm")["status"] == "none"
    past = kind(answer(demo_session, BOBIGNY, as_of="2024-03-01"), "clsm")
    assert refs(past) == ["demo:clsm-bobigny"]


def test_planned_service_is_announced_then_covers_from_its_start_date(demo_session):
    today = kind(answer(demo_session, VINCENNES), "clsm")
    assert today["status"] == "none"
    assert refs(today, "upcoming") == ["demo:clsm-vincennes"]
    assert today["upcoming"][0]["message"] == "Ouverture prévue le 01/01/2027."
    later = kind(answer(demo_session, VINCENNES, as_of="2027-01-01"), "clsm")
    assert refs(later) == ["demo:clsm-vincennes"]
    assert later["upcoming"] == []


def test_experimental_funding_ends_at_valid_to(demo_session):
    assert "demo:empp-montreuil-vincennes" in refs(kind(answer(demo_session, MONTREUIL, as_of="2027-12-31"), "empp"))
    assert refs(kind(answer(demo_session, MONTREUIL, as_of="2028-01-01"), "empp")) == ["demo:empp-93-est"]


def test_suspended_service_is_shown_apart(demo_session):
    savs = kind(answer(demo_session, MONTREUIL), "savs")
    assert savs["status"] == "none"
    assert refs(savs, "unavailable") == ["demo:savs-montreuil"]
    assert "suspendue" in savs["unavailable"][0]["message"]


def test_overlap_lists_every_covering_partner_in_a_stable_order(demo_session):
    clsm = kind(answer(demo_session, MONTREUIL), "clsm")
    assert refs(clsm) == ["demo:clsm-montreuil", "demo:clsm-est-ensemble"]  # by name
    assert "chevauchement" in clsm["message"]


def test_landlord_restricted_team_without_filter_is_shown_with_its_restriction(demo_session):
    team = kind(answer(demo_session, BONDY_SUD), "equipe_mobile_bailleur")
    assert team["status"] == "restricted"
    assert refs(team) == ["demo:emb-habitat-exemple-93"]
    assert team["partners"][0]["restriction"]["message"] == (
        "Réservé aux locataires de Habitat Exemple 93 (bailleur fictif) : ne s'applique que si le locataire est "
        "logé par ce bailleur."
    )


def test_landlord_filter_keeps_own_team_and_hides_others(demo_session):
    own = kind(answer(demo_session, BONDY_SUD, landlord="habitat-exemple-93"), "equipe_mobile_bailleur")
    assert refs(own) == ["demo:emb-habitat-exemple-93"]
    other = kind(answer(demo_session, BONDY_SUD, landlord="logis-demo"), "equipe_mobile_bailleur")
    assert other["status"] == "none" and other["filtered_out"] == 1


def test_exclusion_by_code(demo_session):
    # The Habitat Exemple 93 team covers departement:93 except commune:93066 (Saint-Denis).
    assert kind(answer(demo_session, SAINT_DENIS), "equipe_mobile_bailleur")["status"] == "none"


def test_age_filter_hides_kinds_and_partners_of_the_other_age_band(demo_session):
    child = answer(demo_session, BONDY_SUD, age="enfant")
    codes = [k["kind"] for k in child["kinds"]]
    assert "secteur_psy_adulte" not in codes and "secteur_psy_infanto" in codes
    assert "demo:cmp-bondy-sud" not in refs(kind(child, "cmp"))
    assert refs(kind(child, "cmp")) == ["demo:cmp-infanto-bondy"]
    adult = answer(demo_session, BONDY_SUD, age="adulte")
    assert "secteur_psy_infanto" not in [k["kind"] for k in adult["kinds"]]


def test_housing_filter(demo_session):
    team = kind(answer(demo_session, BONDY_SUD, housing="parc_prive"), "equipe_mobile_bailleur")
    assert team["partners"] == [] and team["filtered_out"] == 1
    empp = kind(answer(demo_session, BONDY_SUD, housing="parc_prive"), "empp")
    assert refs(empp) == ["demo:empp-93-est"]


def test_proximity_kinds_are_within_radius_nearest_first(demo_session):
    result = answer(demo_session, BONDY_SUD)
    housing = kind(result, "pension_de_famille")
    distances = [e["distance_m"] for e in housing["partners"]]
    assert distances == sorted(distances) and all(d <= 10000 for d in distances)
    assert refs(housing)[0] == "demo:pf-bondy"
    small = kind(answer(demo_session, BONDY_SUD, radius=1000), "pension_de_famille")
    assert refs(small) == ["demo:pf-bondy"]
    assert small["message"] is None
    none = kind(answer(demo_session, BONDY_SUD, radius=100), "pension_de_famille")
    assert none["status"] == "none" and none["message"] == (
        "Aucune Pension de famille connue à moins de 0,1 km — inventaire inconnu pour ce territoire.")


def test_planned_housing_is_upcoming_not_found(demo_session):
    ra = kind(answer(demo_session, MONTREUIL), "residence_accueil")
    assert "demo:ra-montreuil" not in refs(ra)
    assert "demo:ra-montreuil" in refs(ra, "upcoming")


def test_point_outside_the_reference_says_so(demo_session):
    result = answer(demo_session, LYON)
    assert result["territory"]["status"] == "outside"
    assert result["warnings"][0]["code"] == "outside-reference"
    for entry in result["kinds"]:
        if entry["mode"] == "territorial":
            assert entry["status"] == "outside"
            assert "hors du territoire de la base" in entry["message"]


def test_demo_answers_are_flagged(demo_session):
    result = answer(demo_session, BONDY_SUD)
    assert result["dataset"] == "demo"
    assert any(w["code"] == "demo-data" for w in result["warnings"])


def test_answer_is_deterministic(demo_session):
    assert answer(demo_session, MONTREUIL) == answer(demo_session, MONTREUIL)


@pytest.mark.parametrize("filters,field", [
    ({"as_of": "2026-13-01"}, "as_of"),
    ({"as_of": "hier"}, "as_of"),
    ({"age": "senior"}, "age"),
    ({"landlord": "inconnu"}, "landlord"),
    ({"housing": "chateau"}, "housing"),
    ({"kinds": "clsm,licorne"}, "kinds"),
    ({"radius": "-5"}, "radius"),
    ({"radius": "1e9"}, "radius"),
])
def test_bad_filters_are_refused_with_the_field(demo_session, filters, field):
    with pytest.raises(InvalidInput) as info:
        parse_options(demo_session, **filters)
    assert info.value.field == field


@pytest.mark.parametrize("lon,lat", [(float("nan"), 48.9), (2.4, float("inf")), (200, 48), (2.4, -91), ("abc", 1)])
def test_absurd_coordinates_are_refused(demo_session, lon, lat):
    with pytest.raises(InvalidInput) as info:
        lookup(demo_session, lon, lat, parse_options(demo_session))
    assert info.value.code == "invalid-coordinates"


def test_batch_gives_the_same_answers_as_single_lookups(demo_session):
    points = [BONDY_NORD, BONDY_SUD, PARIS_13, MONTREUIL, BOBIGNY, VINCENNES, SAINT_DENIS, LYON, PARIS_8]
    for filters in ({}, {"as_of": "2027-02-01", "age": "adulte"}, {"landlord": "habitat-exemple-93"},
                    {"radius": "12000"}, {"radius": "300"}, {"kinds": "cmp,pension_de_famille,clsm"}):
        options = parse_options(demo_session, today=dt.date(2026, 11, 28), **filters)
        batch = lookup_many(demo_session, points, options)["results"]
        single = [lookup(demo_session, lon, lat, options) for lon, lat in points]
        assert batch == single


def test_batch_compact_form(demo_session):
    options = parse_options(demo_session)
    result = lookup_many(demo_session, [BONDY_NORD, PARIS_13], options, compact=True)
    first = result["results"][0]
    sector = first["kinds"]["secteur_psy_adulte"]["partners"][0]
    assert result["partners"][sector["id"]]["ref"] == "demo:secteur-93g10"
    assert sector["matched_part"].startswith("zone délimitée")
    assert result["results"][1]["kinds"]["clsm"]["partners"][0]["matched_part"] == "arrondissement:75113"
    assert result["results"][1]["territory"]["units"] == ["arrondissement:75113", "commune:75056"]


def test_batch_refuses_a_bad_point_naming_it(demo_session):
    with pytest.raises(InvalidInput) as info:
        lookup_many(demo_session, [BONDY_SUD, (2.0, float("nan"))], parse_options(demo_session))
    assert info.value.message.startswith("Point n° 2")
