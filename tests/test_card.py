"""The coverage card a gardienne reads in thirty seconds (both backends, through Flask's client):
the kinds to contact first, the others folded by theme (geodata/kinds.csv), the age asked up front,
the landlord field that the browser remembers."""

import re

import pytest

from app.errors import InvalidInput
from app.partners.kinds import CATALOGUE, card_layout, read_catalogue
from tests.points import BONDY_SUD


def card(client, **query):
    response = client.get("/couverture", query_string={"lon": BONDY_SUD[0], "lat": BONDY_SUD[1], **query})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def block(page, css_class):
    """The card's block up to the next one (priority, map, themes)."""
    start = page.index(f'class="{css_class}"')
    ends = [page.find(f'class="{other}"', start + 1) for other in ("card-priority", "card-map", "card-themes")]
    return page[start:min([e for e in ends if e > start], default=len(page))]


def kind_ids(html):
    return re.findall(r'<h2 id="kind-([a-z_]+)"', html)


def test_the_card_opens_on_the_kinds_to_contact_first_then_folds_the_others_by_theme(client):
    page = card(client)
    priority = block(page, "card-priority")
    assert "À contacter en priorité" in priority
    # the sectors and their CMP, then the CLSM, the DAC and the mobile teams (column `priority`)
    assert kind_ids(priority) == ["secteur_psy_adulte", "secteur_psy_infanto", "cmp", "clsm", "dac", "empp",
                                  "equipe_mobile_bailleur"]
    assert page.index('class="card-priority"') < page.index('class="card-themes"')
    themes = re.findall(r'<details class="theme" id="theme-([a-z]+)">\s*<summary><span class="theme-label">([^<]+)<',
                        page)
    assert themes == [("soins", "Soins"), ("accompagnement", "Logement accompagné et accompagnement"),
                      ("droits", "Droits et aides"), ("familles", "Familles et entraide")]
    # folded, each saying what it holds and how many kinds have a structure here
    assert "<details class=\"theme\" id=\"theme-droits\" open" not in page
    assert re.search(r"MDPH, CCAS\s*— 2 types trouvés sur 2", page)
    # every kind of the answer is on the card, once
    all_ids = kind_ids(page)
    assert len(all_ids) == len(set(all_ids)) == 18


def test_the_cmp_first_are_the_sector_s_and_the_others_are_folded(client):
    priority = block(card(client), "card-priority")
    cmp = priority[priority.index('id="kind-cmp"'):priority.index('id="kind-clsm"')]
    assert cmp.index("CMP du secteur de psychiatrie adulte") < cmp.index('<details class="others">')
    assert re.search(r"<summary>\d+ autres? CMP proches? \(hors secteur\)</summary>", cmp)


def test_the_age_is_asked_up_front_and_a_child_s_card_leaves_adult_kinds_out(client):
    page = card(client)
    form = page[page.index('<form class="search'):page.index("</form>")]
    up_front = form[:form.index('<details class="filters"')]
    assert '<legend>La personne est</legend>' in up_front
    assert re.search(r'type="radio" name="age" value="adulte"', up_front)
    assert re.search(r'type="radio" name="age" value="enfant"', up_front)
    assert re.search(r'type="radio" name="age" value="" checked', up_front)
    child = card(client, age="enfant")
    assert re.search(r'type="radio" name="age" value="enfant" checked', child)
    assert kind_ids(block(child, "card-priority"))[:2] == ["secteur_psy_infanto", "cmp"]
    assert "secteur_psy_adulte" not in kind_ids(child)


def test_the_landlord_is_asked_up_front_and_remembered_by_the_browser_only(client):
    response = client.get("/couverture", query_string={"lon": BONDY_SUD[0], "lat": BONDY_SUD[1]})
    page = response.get_data(as_text=True)
    form = page[page.index('<form class="search'):page.index("</form>")]
    up_front = form[:form.index('<details class="filters"')]
    assert 'data-remember="maillage.bailleur"' in up_front and "Votre bailleur" in up_front
    assert "Set-Cookie" not in response.headers


def test_a_kind_the_file_gives_no_theme_falls_in_the_last_one_and_a_bad_theme_is_refused(tmp_path):
    codes = [row["code"] for row in read_catalogue(CATALOGUE)]
    layout = card_layout(codes + ["nouveau_type"])
    assert layout["themes"][-1] == {"code": "autres", "label": "Autres partenaires", "kinds": ["nouveau_type"]}
    assert sum(len(t["kinds"]) for t in layout["themes"]) + len(layout["priority"]) == len(codes) + 1
    text = CATALOGUE.read_text(encoding="utf-8").replace(",familles,", ",famille,", 1)
    path = tmp_path / "kinds.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInput) as err:
        read_catalogue(path)
    assert "theme 'famille'" in err.value.message
