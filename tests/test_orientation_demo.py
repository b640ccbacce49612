"""The demo tells the field's own stories (fictitious contacts): a mobile team shared by a group of
landlords over Paris 13/18/19/20, a landlord–association–CPT team in the south of the Yvelines (its
communes loaded, not the whole département), Montreuil's supported-housing count with a planned résidence
accueil, funders and ends of funding in the gap analysis."""

import datetime as dt
import re

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


RAMBOUILLET = (1.8353, 48.6440)
ABLIS = (1.8367, 48.5170)
VERSAILLES = (2.1301, 48.8049)  # Yvelines, outside Rambouillet Territoires: not loaded


def test_a_landlord_association_cpt_team_covers_the_south_yvelines_communes_loaded_for_it(demo_session):
    from app.models import Territory

    team, cpt = "demo:emp-passerelle-sud-yvelines", "demo:cpt-78-sud"
    members = demo_session.query(Territory).filter_by(level="commune", epci="200073344").count()
    assert members >= 30 and demo_session.query(Territory).filter_by(level="commune", departement="78").count() == members
    for point in (RAMBOUILLET, ABLIS):
        found = answer(demo_session, point, landlord="yvelines-habitat-exemple")
        entry = kind(found, "equipe_mobile_bailleur")
        assert refs(entry) == [team] and entry["status"] == "covered"
        card = entry["partners"][0]["partner"]
        assert card["referral"]["referrers"] == ["bailleur"] and card["referral"]["consent"] is True
        assert card["funding_end"] == "2027-06-30"
        assert refs(kind(found, "cpt")) == [cpt]
        # an inventoried territory: a real gap is said as such, not "inventaire inconnu"
        assert kind(found, "equipe_mobile_bailleur")["inventory"]["status"] == "inventorie"
    # reserved to the member landlords: another landlord's tenant is not offered it
    other = kind(answer(demo_session, RAMBOUILLET, landlord="habitat-exemple-93"), "equipe_mobile_bailleur")
    assert team not in refs(other)
    # the rest of the Yvelines is outside the demo's reference
    assert answer(demo_session, VERSAILLES)["territory"]["status"] == "outside"


def test_an_address_outside_says_the_reference_holds_only_part_of_the_yvelines(demo_session):
    from app import geocoding
    from app.config import load_settings

    result = geocoding.from_settings(load_settings({}, environ={})).search(demo_session, "10 rue de la Paroisse Versailles")
    assert result.status == "not_found"
    assert "la base couvre les départements 75, 92, 93 et 94, et " in result.message
    assert re.search(r"et \d\d communes du 78\)", result.message), result.message


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
    [funding] = [p for p in written if p.name.endswith("-financements.csv")]
    text = funding.read_text(encoding="utf-8-sig")
    assert text.startswith("Partenaire;Type;Financeurs;Fin du financement;Fin dans l'année")
    assert "AVDL santé mentale Val-de-Marne (démo);AVDL santé mentale;FNAVDL;31/12/2026;oui" in text
