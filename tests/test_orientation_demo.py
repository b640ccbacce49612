"""The demo tells the field's own stories (fictitious contacts): a mobile team shared by a group of
landlords over Paris 13/18/19/20, Montreuil's supported-housing count with a planned résidence
accueil, funders and ends of funding in the gap analysis."""

import datetime as dt

from app import gaps
from tests.helpers import answer, kind, refs
from tests.points import PARIS_8, PARIS_13

PARIS_19 = (2.3826, 48.8871)
TODAY = dt.date(2026, 11, 28)


def test_a_landlords_group_shares_a_mobile_team_over_four_paris_arrondissements(demo_session):
    team = "demo:emb-groupement-paris-nord-est"
    for point in (PARIS_13, PARIS_19):
        entry = kind(answer(demo_session, point, landlord="habitat-solidaire-paris"), "equipe_mobile_bailleur")
        assert refs(entry) == [team] and entry["status"] == "covered"
        card = entry["partners"][0]["partner"]
        assert card["referral"]["channels"] == ["telephone", "fiche_liaison"]
        assert card["funders"] == ["ars", "bailleur"]  # the vocabulary's order
    # not in the 8th, and not for a tenant of a landlord outside the group
    assert team not in refs(kind(answer(demo_session, PARIS_8, landlord="habitat-solidaire-paris"), "equipe_mobile_bailleur"))
    assert team not in refs(kind(answer(demo_session, PARIS_13, landlord="habitat-exemple-93"), "equipe_mobile_bailleur"))


def test_montreuil_has_about_twenty_places_for_110000_inhabitants_until_its_residence_accueil_opens(demo_session):
    kinds = "residence_accueil,pension_de_famille"
    now = gaps.compute(demo_session, "commune:93048", kinds, TODAY)
    population = now.units[0].population
    assert 100_000 < population < 120_000
    places = {k.code: int(k.places.sum()) for k in now.kinds}
    assert places == {"residence_accueil": 0, "pension_de_famille": 20}
    later = gaps.compute(demo_session, "commune:93048", kinds, dt.date(2027, 6, 1))
    assert {k.code: int(k.places.sum()) for k in later.kinds} == {"residence_accueil": 25, "pension_de_famille": 20}
    changes = gaps.compare(demo_session, now, later).partners
    assert any(c["name"].startswith("Résidence accueil des Murs-à-Pêches") for c in changes), changes


def test_the_gap_analysis_lists_funders_and_flags_funding_ending_within_a_year(demo_session, tmp_path):
    from app.gaps import exports

    matrix = gaps.compute(demo_session, "departement:94", None, TODAY)
    by_name = {f["partenaire"]: f for f in matrix.funding}
    avdl = by_name["AVDL santé mentale Val-de-Marne (démo)"]
    assert avdl["financeurs"] == "FNAVDL" and avdl["fin_financement"] == "2026-12-31" and avdl["fin_dans_l_annee"]
    assert matrix.funding[0] is avdl  # the end soonest first
    assert not by_name["Communauté psychiatrique de territoire du Val-de-Marne (démo)"]["fin_dans_l_annee"]
    # partners outside the territory are not listed
    assert "Cellule santé mentale Habitat Exemple 93 (démo)" not in by_name
    written = exports.write(matrix, tmp_path, formats=("csv",))
    assert tmp_path / "financements.csv" in written
    assert "FNAVDL" in (tmp_path / "financements.csv").read_text(encoding="utf-8-sig")
