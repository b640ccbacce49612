"""The coverage card a gardienne reads in thirty seconds (both backends, through Flask's client):
the kinds to contact first, the others folded by theme (geodata/kinds.csv), the age asked up front,
the landlord field that the browser remembers."""

import html
import re

import pytest

from app.errors import InvalidInput
from app.partners.kinds import CATALOGUE, card_layout, read_catalogue
from app.vocabulary import KIND_THEMES
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
    # the sectors and their CMP, then the CLSM, the DAC and the mobile teams: the catalogue's column
    # `priority`, by rank
    catalogue = read_catalogue(CATALOGUE)
    answered = set(kind_ids(page))
    expected = [r["code"] for r in sorted(catalogue, key=lambda r: r["priority"] or 0)
                if r["priority"] and r["code"] in answered]
    assert kind_ids(priority) == expected
    assert expected[:3] == ["secteur_psy_adulte", "secteur_psy_infanto", "cmp"]
    assert {"clsm", "dac", "empp", "equipe_mobile_bailleur"} <= set(expected)
    assert page.index('class="card-priority"') < page.index('class="card-themes"')
    themes = re.findall(r'<details class="theme" id="theme-([a-z]+)">\s*<summary><span class="theme-label">([^<]+)<',
                        page)
    codes = [code for code, _ in themes]
    assert codes == [code for code in KIND_THEMES if code in codes]  # the card's order of themes
    assert {("soins", "Soins"), ("accompagnement", "Logement accompagné et accompagnement"),
            ("droits", "Droits et aides"), ("familles", "Familles et entraide")} <= set(themes)
    # folded, each saying what it holds and how many kinds have a structure here
    assert "<details class=\"theme\" id=\"theme-droits\" open" not in page
    droits = re.search(r'id="theme-droits">\s*<summary>.*?<span class="theme-count">(.*?)</span>', page, re.S).group(1)
    names, count = re.fullmatch(r"(.+?)\s*— ((?:aucun trouvé|1 type trouvé|\d+ types trouvés) sur \d+)", droits.strip(),
                                re.S).groups()
    assert {"MDPH", "CCAS"} <= set(names.split(", ")) and count.endswith(f"sur {len(names.split(', '))}")
    # every kind of the answer is on the card, once
    all_ids = kind_ids(page)
    assert len(all_ids) == len(set(all_ids)) == len(answered) >= 18


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


# ----------------------------------------------------------------------------- the fiche


def test_the_fiche_stands_alone_on_one_printed_page(client):
    import io

    from pypdf import PdfReader

    query = {"lon": BONDY_SUD[0], "lat": BONDY_SUD[1]}
    page = client.get("/fiche", query_string=query).get_data(as_text=True)
    # the full "Comment saisir", never cut
    assert "…" not in page and "voir Maillage" not in page and "autre(s)" not in page
    assert "Saisir la coordination du CLSM par courriel avec une fiche de liaison" in page
    # the sites' addresses and hours
    assert re.search(r"Mairie de Bondy — coordination CLSM, 1 place de l&#39;Hôtel de Ville \(fictif\), 93140 Bondy"
                     r" \(Lundi–vendredi 9h–17h\)", page)
    # the online card's address as text and as a QR code drawn here
    assert re.search(r'<span class="url">http://localhost/couverture\?lon=2\.483&amp;lat=48\.896</span>', page)
    assert '<svg role="img" aria-label="Code QR : la réponse en ligne"' in page
    # e-mail addresses never broken at a hyphen: each half kept whole, a break allowed after the @ only
    assert '<span class="email">secteur-93g11@</span><wbr><span class="email">example.org</span>' in page
    # the demo said once (the banner), not again by the answer's warning
    assert page.count("<strong>Base de démonstration</strong>") == 1 and "structures et contacts fictifs, ne pas" not in page
    response = client.get("/fiche.pdf", query_string=query)
    assert re.fullmatch(r'attachment; filename="fiche-orientation-\d{4}-\d{2}-\d{2}\.pdf"',
                        response.headers["Content-Disposition"])
    reader = PdfReader(io.BytesIO(response.data))
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    assert text.count("Base de démonstration") == 1
    assert "Réponse en ligne, tenue à jour" in text and "48,89600 N" in text
    assert "secteur-93g11@example.org" in re.sub(r"\s+", "", text)
    assert "Lundi–vendredi 9h–17h" in text
    # the structured referral beside "Comment saisir": on this crowded page at least what the free
    # text does not say, the online form's address and the consent asked
    assert "Accord de la personne requis" in re.sub(r"\s+", " ", text)
    assert "https://example.org/dac-93/demande" in re.sub(r"\s+", "", text)


def test_the_fiche_gives_each_partners_structured_referral_from_its_record(client, demo_session):
    from app.models import Partner
    from app.vocabulary import CHANNEL_LABELS, REFERRER_LABELS

    page = html.unescape(client.get("/fiche", query_string={"lon": BONDY_SUD[0], "lat": BONDY_SUD[1]}).get_data(as_text=True))
    rows = {re.sub(r"<[^>]+>", "", m.group(1)).split(" (démo)")[0]: re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", m.group(0)))
            for m in re.finditer(r"<tr>\s*(?:<th[^>]*>.*?</th>)?\s*<td><strong>(.*?)</strong>.*?</tr>", page, re.S)}
    checked = 0
    for ref in ("demo:clsm-bondy", "demo:dac-93", "demo:empp-93-est"):
        partner = demo_session.query(Partner).filter_by(ref=ref).one()
        referral = partner.referral
        row = rows[partner.name.split(" (démo)")[0]]
        assert "Orienté par : " + ", ".join(REFERRER_LABELS[r] for r in referral["referrers"]) in row, row
        assert "Par : " + ", ".join(CHANNEL_LABELS[c] for c in referral["channels"]) in row, row
        if referral.get("delay"):
            assert f"Délai habituel : {referral['delay']}." in row
        assert ("Accord de la personne requis avant d'orienter." in row) == bool(referral.get("consent"))
        checked += 1
    assert checked == 3


# ----------------------------------------------------------------------------- territories by name


@pytest.mark.parametrize("url", ["/carte?type=clsm&territoire={}", "/ecarts?territoire={}&types=clsm",
                                 "/annuaire?territoire={}"])
@pytest.mark.parametrize("typed,code", [("Seine-Saint-Denis", "departement:93"), ("93", "departement:93"),
                                        ("Bondy", "commune:93010"), ("departement:93", None)])
def test_planners_pages_take_a_territory_by_name_and_say_which_they_retained(client, url, typed, code):
    response = client.get(url.format(typed))
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page[-2000:]
    assert 'data-territories="/api/v1/territories"' in page
    if code:
        assert re.search(rf"Territoire retenu : [^<]+\({code}\)", page)
    else:  # a typed code is taken as given
        assert "Territoire retenu" not in page


def test_a_territory_name_that_means_nothing_is_refused_plainly(client):
    response = client.get("/carte?type=clsm&territoire=Atlantide")
    assert response.status_code == 400
    assert "Territoire « Atlantide » introuvable" in response.get_data(as_text=True)
