"""Answers a front-line worker can trust (docs/eligibility.md), on both backends: a partner's own
age band over its kind's default, the tenant's own landlord, "never surveyed" apart from "no
service", the competent CMP, and no false "à confirmer" alternatives from neighbouring areas."""

import datetime as dt
import re

import pytest

from app.lookup import lookup_many, parse_options
from app.partners import inventory
from app.partners.registry import upsert_landlord, upsert_partner
from tests.helpers import answer, kind, refs
from tests.points import BONDY_NORD, BONDY_SUD, MONTREUIL, PARIS_8, PARIS_13, VINCENNES

NANTERRE = (2.2065, 48.8924)
TODAY = dt.date(2026, 11, 28)


def _partner(session, ref, kind_code, include, **fields):
    return upsert_partner(session, {"ref": ref, "kind": kind_code, "name": fields.pop("name", ref),
                                    "coverage": {"include": include}, **fields}).partner


def _batch(session, point, **filters):
    options = parse_options(session, today=TODAY, **filters)
    return lookup_many(session, [point], options)["results"][0]


# ----------------------------------------------------------------------------- 1. age bands


def test_a_partner_serving_all_ages_is_listed_for_a_child_although_its_kind_is_for_adults(demo_session):
    # The EMPP kind's catalogue band is "adulte"; this team's own public is everyone.
    _partner(demo_session, "test:empp-tous", "empp", ["commune:93010"], name="EMPP tous publics", age_band="tous")
    child = answer(demo_session, BONDY_SUD, age="enfant")
    empp = kind(child, "empp")
    assert refs(empp) == ["test:empp-tous"]
    assert empp["status"] == "covered"
    assert empp["filtered_out"] == 1  # the demo's adult-only EMPP Est 93, left out and counted
    assert kind(_batch(demo_session, BONDY_SUD, age="enfant"), "empp") == empp


def test_a_kind_is_answered_for_an_age_wherever_one_of_its_partners_could_serve_it(demo_session):
    # Before any EMPP serves children, the kind is left out for a child; once one does (in
    # Montreuil), a child in Bondy is told plainly that none covers the address.
    assert "empp" not in [k["kind"] for k in answer(demo_session, BONDY_SUD, age="enfant")["kinds"]]
    _partner(demo_session, "test:empp-enfants", "empp", ["commune:93048"], age_band="enfant")
    empp = kind(answer(demo_session, BONDY_SUD, age="enfant"), "empp")
    assert empp["status"] == "none" and empp["partners"] == [] and empp["filtered_out"] == 1
    assert refs(kind(answer(demo_session, MONTREUIL, age="enfant"), "empp")) == ["test:empp-enfants"]


def test_an_adult_band_partner_of_an_all_ages_kind_is_left_out_for_a_child(demo_session):
    _partner(demo_session, "test:clsm-adultes", "clsm", ["commune:93010"], age_band="adulte")
    clsm = kind(answer(demo_session, BONDY_SUD, age="enfant"), "clsm")
    assert refs(clsm) == ["demo:clsm-bondy"] and clsm["filtered_out"] == 1


def test_the_card_and_the_fiche_list_the_all_ages_team_for_a_child(demo_app, client):
    from app import db

    engine = demo_app.extensions["maillage"].engine
    with db.transaction(engine) as session:
        _partner(session, "test:empp-card", "empp", ["commune:93010"], name="EMPP Passerelle tous âges",
                 age_band="tous")
    try:
        query = {"lon": BONDY_SUD[0], "lat": BONDY_SUD[1], "age": "enfant"}
        assert "EMPP Passerelle tous âges" in client.get("/couverture", query_string=query).get_data(as_text=True)
        assert "EMPP Passerelle tous âges" in client.get("/fiche", query_string=query).get_data(as_text=True)
    finally:
        with db.transaction(engine) as session:
            from sqlalchemy import delete

            from app.models import Partner
            session.execute(delete(Partner).where(Partner.ref == "test:empp-card"))


# ----------------------------------------------------------------------------- 2. the tenant's landlord


def test_the_tenants_own_landlord_team_is_covered_and_said_to_be_hers(demo_session):
    team = kind(answer(demo_session, BONDY_SUD, landlord="habitat-exemple-93"), "equipe_mobile_bailleur")
    assert team["status"] == "covered"
    assert refs(team) == ["demo:emb-habitat-exemple-93"]
    restriction = team["partners"][0]["restriction"]
    assert restriction["applies"] is True
    assert restriction["message"] == ("Réservé aux locataires de Habitat Exemple 93 (bailleur fictif) — "
                                      "c'est le bailleur indiqué.")
    assert team["if_none"] is None  # no "solliciter le CLSM": the team is hers
    assert kind(_batch(demo_session, BONDY_SUD, landlord="habitat-exemple-93"), "equipe_mobile_bailleur") == team


def test_without_a_landlord_a_reserved_team_stays_visible_but_flagged(demo_session):
    team = kind(answer(demo_session, BONDY_SUD), "equipe_mobile_bailleur")
    assert team["status"] == "restricted"
    restriction = team["partners"][0]["restriction"]
    assert restriction["applies"] is None
    assert "ne s'applique que si le locataire est logé par ce bailleur" in restriction["message"]


def test_with_a_landlord_its_own_services_come_first(demo_session):
    _partner(demo_session, "test:aaa-open-team", "equipe_mobile_bailleur", ["commune:93010"], name="AAA équipe ouverte")
    own = kind(answer(demo_session, BONDY_SUD, landlord="habitat-exemple-93"), "equipe_mobile_bailleur")
    assert refs(own) == ["demo:emb-habitat-exemple-93", "test:aaa-open-team"]
    assert [p["restriction"] and p["restriction"]["applies"] for p in own["partners"]] == [True, None]
    anyone = kind(answer(demo_session, BONDY_SUD), "equipe_mobile_bailleur")
    assert refs(anyone) == ["test:aaa-open-team", "demo:emb-habitat-exemple-93"] and anyone["status"] == "covered"


def test_a_service_reserved_to_two_landlords_names_the_one_given(demo_session):
    upsert_landlord(demo_session, "autre-bailleur", "Autre Bailleur")
    _partner(demo_session, "test:shared-team", "equipe_mobile_bailleur", ["commune:93048"],
             reserved_landlords=["habitat-exemple-93", "autre-bailleur"])
    team = kind(answer(demo_session, MONTREUIL, landlord="autre-bailleur"), "equipe_mobile_bailleur")
    assert team["status"] == "covered"
    assert team["partners"][0]["restriction"]["message"] == "Réservé aux locataires de Autre Bailleur — c'est le bailleur indiqué."
    anyone = kind(answer(demo_session, MONTREUIL), "equipe_mobile_bailleur")
    assert "l'un de ces bailleurs" in anyone["partners"][0]["restriction"]["message"]


def test_the_card_tells_the_tenants_landlord_that_the_team_is_hers(client):
    query = {"lon": BONDY_SUD[0], "lat": BONDY_SUD[1]}
    html = client.get("/couverture", query_string={**query, "bailleur": "habitat-exemple-93"}).get_data(as_text=True)
    section = _section(html, "equipe_mobile_bailleur")
    assert "c&#39;est le bailleur indiqué" in section
    assert "Seulement des services réservés" not in section and "Solliciter le CLSM" not in section
    section = _section(client.get("/couverture", query_string=query).get_data(as_text=True), "equipe_mobile_bailleur")
    assert "ne s&#39;applique que si le locataire" in section


def _section(html: str, kind_code: str) -> str:
    match = re.search(rf'<section class="kind[^"]*" aria-labelledby="kind-{kind_code}">(.*?)</section>', html, re.S)
    assert match, f"no section for {kind_code}"
    return match.group(1)


# ----------------------------------------------------------------------------- 3. inventory


def test_no_service_in_a_surveyed_territory_is_a_real_gap_with_its_date(demo_session):
    clsm = kind(answer(demo_session, PARIS_8), "clsm")  # the demo marks Paris surveyed for CLSM
    assert clsm["status"] == "none"
    assert clsm["inventory"]["status"] == "inventorie" and clsm["inventory"]["territory"] == "departement:75"
    date = dt.date.fromisoformat(clsm["inventory"]["date"]).strftime("%d/%m/%Y")
    assert clsm["message"] == f"Aucun CLSM ne couvre cette adresse (territoire inventorié le {date})."


def test_a_territory_never_surveyed_for_a_kind_is_not_shown_as_no_service(demo_session):
    empp = kind(answer(demo_session, NANTERRE), "empp")  # Hauts-de-Seine: not surveyed for EMPP
    assert empp["status"] == "none" and empp["inventory"]["status"] == "non_inventorie"
    assert empp["message"] == "Aucune EMPP recensée — ce territoire n'a pas été inventorié pour ce type."
    savs = kind(answer(demo_session, VINCENNES), "savs")  # nothing recorded for the Val-de-Marne
    assert savs["inventory"]["status"] == "inconnu"
    assert savs["message"] == "Aucun SAVS connu pour cette adresse — inventaire inconnu pour ce territoire."


def test_the_most_specific_inventory_record_wins(demo_session):
    inventory.set_status(demo_session, "commune:93010", ["savs"], "inventorie", note="recensement de Bondy")
    inventory.set_status(demo_session, "departement:93", ["savs"], "non_inventorie")
    assert kind(answer(demo_session, BONDY_SUD), "savs")["inventory"]["territory"] == "commune:93010"
    montreuil = kind(answer(demo_session, MONTREUIL), "savs")
    assert refs(montreuil, "unavailable") == ["demo:savs-montreuil"]  # suspended there
    assert montreuil["inventory"]["status"] == "non_inventorie"
    bobigny = kind(answer(demo_session, (2.4429, 48.9083)), "savs")
    assert bobigny["inventory"]["status"] == "non_inventorie"


def test_batch_answers_carry_the_inventory(demo_session):
    options = parse_options(demo_session, today=TODAY)
    full = lookup_many(demo_session, [NANTERRE, PARIS_8], options)["results"]
    assert kind(full[0], "empp")["inventory"]["status"] == "non_inventorie"
    compact = lookup_many(demo_session, [NANTERRE, PARIS_8], options, compact=True)["results"]
    assert compact[0]["kinds"]["empp"] == {"status": "none", "partners": [], "inventory": "non_inventorie"}
    assert compact[1]["kinds"]["clsm"]["inventory"] == "inventorie"


def test_the_card_and_the_fiche_say_never_surveyed(client):
    query = {"lon": NANTERRE[0], "lat": NANTERRE[1]}
    card = client.get("/couverture", query_string=query).get_data(as_text=True)
    assert "Aucune EMPP recensée — ce territoire n&#39;a pas été inventorié pour ce type." in card
    fiche = client.get("/fiche", query_string=query).get_data(as_text=True)
    assert re.search(r"<th scope=\"row\">EMPP</th><td colspan=\"3\">Non recensé : ce territoire n'a pas été "
                     r"inventorié pour ce type\.", fiche)
    # many kinds never surveyed here: one line lists them (the fiche keeps to one page)
    assert re.search(r"<th scope=\"row\">Autres types</th><td colspan=\"3\">Aucune structure connue ici \(inventaire "
                     r"inconnu\) : [^<]*SAVS", fiche)


# ----------------------------------------------------------------------------- 5. competent CMP


def test_the_competent_cmp_is_the_sectors_not_the_nearest(demo_session):
    # BONDY_NORD is in sector 93G10, whose CMP is "CMP adultes Bondy nord"; a point of Bondy-sud is in
    # 93G11 whatever CMP is nearest.
    south_near_north = (2.4860, 48.9032)  # 33 m south of the sector boundary, nearer the north CMP
    result = answer(demo_session, south_near_north)
    assert [p["partner"]["ref"] for p in kind(result, "secteur_psy_adulte")["partners"]] == ["demo:secteur-93g11"]
    competent = result["competent_cmp"]
    assert [(c["age_band"], c["site"]["finess"]) for c in competent] == [("adulte", "930990102"),
                                                                        ("enfant", "930990105")]
    assert competent[0]["label"] == "CMP du secteur de psychiatrie adulte"
    cmp_kind = kind(result, "cmp")
    marked = [(p["partner"]["ref"], p["in_sector"]) for p in cmp_kind["partners"]]
    assert marked[:2] == [("demo:cmp-bondy-sud", "adulte"), ("demo:cmp-infanto-bondy", "enfant")]
    assert ("demo:cmp-bondy-nord", None) in marked[2:]
    distances = {p["partner"]["ref"]: p["distance_m"] for p in cmp_kind["partners"]}
    assert distances["demo:cmp-bondy-nord"] < distances["demo:cmp-bondy-sud"]  # the nearest is not the one


def test_an_adult_request_names_the_adult_sectors_cmp_only(demo_session):
    competent = answer(demo_session, BONDY_NORD, age="adulte")["competent_cmp"]
    assert [(c["age_band"], c["sector"]["ref"]) for c in competent] == [("adulte", "demo:secteur-93g10")]


def test_the_fiche_names_the_competent_cmp_of_each_sector_labelled(client):
    html = client.get("/fiche", query_string={"lon": 2.4860, "lat": 48.9032}).get_data(as_text=True)
    assert re.search(r'<th scope="row"[^>]*>CMP du secteur adulte</th>\s*<td><strong>CMP adultes Bondy sud', html)
    assert re.search(r'<th scope="row"[^>]*>CMP du secteur enfants</th>\s*<td><strong>CMP enfants et adolescents Bondy', html)
    assert re.search(r'<th scope="row"[^>]*>Autres CMP \(hors secteur\)</th>\s*<td colspan="3">CMP adultes Bondy nord', html)
    card = client.get("/couverture", query_string={"lon": 2.4860, "lat": 48.9032}).get_data(as_text=True)
    section = _section(card, "cmp")
    others = re.search(r"<summary>\d+ autres? CMP proches? \(hors secteur\)</summary>", section).start()
    assert section.index("CMP adultes Bondy sud") < others < section.index("CMP adultes Bondy nord")


# ----------------------------------------------------------------------------- 6. false alternatives


@pytest.mark.parametrize("address, neighbours", [
    ("75013", {"demo:dac-94", "demo:mdph-94", "demo:unafam-93"}),
    ("93100", {"demo:mdph-75", "demo:siao-75", "demo:unafam-75"}),
])
def test_a_commune_level_match_lists_no_neighbour_that_only_shares_its_outline(client, address, neighbours):
    body = client.get("/api/v1/lookup", query_string={"address": address}).get_json()
    assert body["geocoding"]["best"]["level"] == "municipality"
    alternatives = {a["partner"]["ref"] for k in body["lookup"]["kinds"] if k.get("to_confirm")
                    for a in k["to_confirm"]["alternatives"]}
    assert not alternatives & neighbours


def test_a_commune_level_match_still_flags_a_real_split(client):
    body = client.get("/api/v1/lookup", query_string={"address": "93140"}).get_json()
    sector = kind(body["lookup"], "secteur_psy_adulte")
    alternatives = {a["partner"]["ref"] for a in sector["to_confirm"]["alternatives"]}
    at_point = set(refs(sector))
    assert at_point | alternatives == {"demo:secteur-93g10", "demo:secteur-93g11"}
    dac = kind(body["lookup"], "dac")
    assert dac["to_confirm"] is None  # the DAC 93 covers the whole of Bondy, its neighbours none of it


# ----------------------------------------------------------------------------- gaps and maps


def test_gap_analysis_for_a_public_counts_the_partners_own_band(demo_session):
    from app import gaps

    def covered(**kw):
        matrix = gaps.compute(demo_session, "commune:93010|commune:93048", ["empp"], TODAY, **kw)
        result = matrix.kinds[0]
        return {u.name: int(c) for u, c in zip(matrix.units, result.counts)}

    assert covered() == {"Bondy": 1, "Montreuil": 2}
    assert covered(age="enfant") == {"Bondy": 0, "Montreuil": 0}  # the demo's EMPP serve adults
    _partner(demo_session, "test:empp-tous", "empp", ["commune:93010"], age_band="tous")
    matrix = gaps.compute(demo_session, "commune:93010|commune:93048", ["empp"], TODAY, age="enfant")
    assert [int(c) for c in matrix.kinds[0].counts] == [1, 0]
    assert any("public propre" in note for note in matrix.notes)


def test_coverage_map_tells_a_gap_from_a_territory_never_surveyed(demo_session):
    from app import maps

    hauts_de_seine = maps.coverage_units(demo_session, "empp", "departement:92", TODAY)
    assert {u.status for u in hauts_de_seine} == {"not_surveyed"}  # nothing, and never surveyed
    assert hauts_de_seine[0].status_label == "Non recensé — territoire non inventorié pour ce type"
    paris = {u.name: u.status for u in maps.coverage_units(demo_session, "clsm", "departement:75", TODAY)}
    assert paris["Paris 13e Arrondissement"] == "one" and paris["Paris 8e Arrondissement"] == "none"
    val_de_marne = {u.status for u in maps.coverage_units(demo_session, "savs", "departement:94", TODAY)}
    assert val_de_marne == {"unknown"}
    children = {u.name: u.status for u in maps.coverage_units(demo_session, "empp", "commune:93010", TODAY,
                                                                  age="enfant")}
    assert children == {"Bondy": "none"}  # the 93 is surveyed for EMPP; none serves children


def test_coverage_map_page_and_geojson_carry_the_inventory(client):
    page = client.get("/carte", query_string={"type": "empp", "territoire": "departement:92"}).get_data(as_text=True)
    assert "Non recensé — territoire non inventorié pour ce type" in page
    body = client.get("/carte/couverture.geojson", query_string={"type": "empp", "territoire": "departement:92"})
    import json

    features = json.loads(body.get_data(as_text=True))["features"]
    assert {f["properties"]["inventaire"] for f in features} == {"non_inventorie"}
    assert {f["properties"]["statut"] for f in features} == {"not_surveyed"}
    bad = client.get("/carte", query_string={"type": "empp", "territoire": "departement:92", "age": "bébé"})
    assert bad.status_code == 400 and "Public « bébé » inconnu" in bad.get_data(as_text=True)
