"""The orientation guide "Que faire face à… ?" (docs/orientation.md): the rules as data, checked;
a territory's own rows; the guide's answer at an address, on both backends."""

import csv

import pytest

from app import orientation
from app.errors import InvalidInput
from app.partners.registry import upsert_landlord, upsert_partner
from tests.helpers import answer
from tests.points import BONDY_NORD, PARIS_13


def _catalogue(tmp_path, rules_rows, signals_rows=None):
    signals = tmp_path / "signals.csv"
    rules = tmp_path / "rules.csv"
    with signals.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["code", "category", "label", "emergency", "advice"])
        writer.writerows(signals_rows or [["impayes", "administratif", "Impayés", "false", ""],
                                          ["volets_clos", "isolement", "Volets clos", "false", ""]])
    with rules.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["signal", "territoire", "rang", "type", "raison"])
        writer.writerows(rules_rows)
    return orientation.catalogue(signals, rules)


# ----------------------------------------------------------------------------- the shipped rules


def test_the_shipped_grid_has_the_dihal_ush_categories_and_the_two_emergencies():
    cat = orientation.catalogue()
    categories = {c for c, _label, _signals in cat.by_category()}
    assert categories == {"urgence", "comportement", "isolement", "insalubrite", "administratif"}
    codes = {s.code for s in cat.signals}
    assert {"boite_aux_lettres_pleine", "impayes", "danger_immediat", "propos_suicidaires", "amoncellement",
            "propos_incoherents", "absence_reponse_courriers"} <= codes
    assert {s.code for s in cat.signals if s.emergency} == {"danger_immediat", "propos_suicidaires"}
    # every sign leads somewhere, and every rule says why
    assert codes | {"accumulation"} == {r.signal for r in cat.rules}
    assert all(r.reason for r in cat.rules)


def test_rules_naming_an_unknown_kind_or_sign_are_refused_with_their_line(tmp_path):
    with pytest.raises(InvalidInput, match=r"ligne 2 : type « cellule_inconnue » absent de kinds.csv"):
        _catalogue(tmp_path, [["impayes", "", "1", "cellule_inconnue", "x"]])
    with pytest.raises(InvalidInput, match=r"ligne 2 : signe « chat_noir » inconnu"):
        _catalogue(tmp_path, [["chat_noir", "", "1", "ccas", "x"]])
    with pytest.raises(InvalidInput, match=r"ligne 2 : rang « premier »"):
        _catalogue(tmp_path, [["impayes", "", "premier", "ccas", "x"]])
    with pytest.raises(InvalidInput, match=r"ligne 2 : raison obligatoire"):
        _catalogue(tmp_path, [["impayes", "", "1", "ccas", ""]])
    with pytest.raises(InvalidInput, match="93"):
        _catalogue(tmp_path, [["impayes", "93", "1", "ccas", "x"]])  # a bare code is ambiguous


def test_a_territory_replaces_the_national_rows_for_a_sign_with_its_own(tmp_path):
    cat = _catalogue(tmp_path, [
        ["impayes", "", "1", "ccas", "national"],
        ["impayes", "", "2", "asll_fsl", "national"],
        ["impayes", "departement:93", "1", "service_social_departemental", "en Seine-Saint-Denis"],
        ["impayes", "commune:93010", "1", "ccapex", "à Bondy"],
        ["volets_clos", "departement:93", "1", "ccas", "93"],
    ])
    assert [r.reason for r in orientation.rules_for(cat, "impayes", {"commune:93010", "departement:93"})] == ["à Bondy"]
    assert [r.kind for r in orientation.rules_for(cat, "impayes", {"commune:93048", "departement:93"})] == [
        "service_social_departemental"]
    assert [r.kind for r in orientation.rules_for(cat, "impayes", {"arrondissement:75113", "departement:75"})] == [
        "ccas", "asll_fsl"]
    assert orientation.rules_for(cat, "volets_clos", {"departement:75"}) == []


def test_ticked_signs_are_checked_and_an_unknown_one_is_never_echoed():
    assert orientation.check_signals(["impayes", "boite_aux_lettres_pleine"]) == ["boite_aux_lettres_pleine", "impayes"]
    with pytest.raises(InvalidInput) as exc:
        orientation.check_signals(["impayes", "<script>M. Dupont</script>"])
    assert "Dupont" not in exc.value.message


# ----------------------------------------------------------------------------- the guide at an address


def _steps(result):
    return [s["kind"] for s in result["steps"]]


def test_a_full_letterbox_and_unpaid_rent_in_bondy_start_with_the_landlord_then_the_ccas(demo_session):
    upsert_landlord(demo_session, "habitat-exemple-93", "Habitat Exemple 93 (bailleur fictif)")
    upsert_partner(demo_session, {"ref": "test:cellule-he93", "kind": "cellule_sante_mentale_bailleur",
                                  "name": "Cellule santé mentale Habitat Exemple 93", "reserved_landlords": ["habitat-exemple-93"],
                                  "coverage": {"include": ["departement:93"]}})
    lookup_answer = answer(demo_session, BONDY_NORD)
    result = orientation.guide(lookup_answer, ["boite_aux_lettres_pleine", "impayes"])
    steps = _steps(result)
    # two categories (isolement + administratif): the accumulation rule adds the CLSM and the DAC
    assert result["accumulation"] is True
    assert steps[0] == "cellule_sante_mentale_bailleur"
    assert steps.index("ccas") < steps.index("asll_fsl") < steps.index("ccapex")
    assert {"clsm", "dac", "service_social_departemental"} <= set(steps)
    first = result["steps"][0]
    assert [r["signal"] for r in first["reasons"]] == ["boite_aux_lettres_pleine", "impayes", "accumulation"]
    assert first["found"] is True
    assert first["answer"]["partners"][0]["partner"]["name"] == "Cellule santé mentale Habitat Exemple 93"
    ccas = next(s for s in result["steps"] if s["kind"] == "ccas")
    assert ccas["answer"]["partners"][0]["partner"]["ref"] == "demo:ccas-bondy"
    assert [s["position"] for s in result["steps"]] == list(range(1, len(steps) + 1))
    assert result["emergency"] == []
    assert [n["number"] for n in result["emergency_numbers"]] == ["15", "3114", "115"]


def test_a_step_without_partner_at_the_address_says_what_to_do_instead(demo_session):
    result = orientation.guide(answer(demo_session, PARIS_13), ["impayes"])
    ccapex = next(s for s in result["steps"] if s["kind"] == "ccapex")
    assert ccapex["found"] is False
    assert ccapex["answer"]["if_none"].startswith("S'adresser à la DDETS")
    assert result["accumulation"] is False  # one category only


def test_suicidal_talk_puts_the_3114_advice_first_and_the_sector_before_anything_else(demo_session):
    result = orientation.guide(answer(demo_session, BONDY_NORD), ["propos_suicidaires", "volets_clos"])
    assert result["emergency"][0]["advice"].startswith("Appeler le 3114")
    assert result["steps"][0]["kind"] == "secteur_psy_adulte"
    assert result["steps"][0]["answer"]["partners"][0]["partner"]["ref"] == "demo:secteur-93g10"
    # an emergency plus one other category is not an accumulation of weak signals
    assert result["accumulation"] is False


def test_for_a_child_the_adult_kinds_the_lookup_leaves_out_are_not_steps(demo_session):
    result = orientation.guide(answer(demo_session, BONDY_NORD, age="enfant"), ["propos_incoherents"])
    assert "empp" not in _steps(result)  # adult-only kind, no partner serving children
