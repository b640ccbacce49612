"""The local geocoder on several communes: a small synthetic Seine-Saint-Denis made at test time by
../shared/tools/make_synthetic_ban.py (Bondy's streets copied into Aubervilliers, Aulnay-sous-Bois
and Bagnolet, common street names kept everywhere) plus the real Bondy file — homonyms, postal
codes that disagree with the commune, addresses outside the reference, Paris arrondissements, an
index that is ready when the import ends. On both backends."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest

from app import db
from importers import demo
from app.geocoding import Geocoder, GeocoderSettings, local
from importers import ban
from importers.base import run
from tests.conftest import SHARED_DATA, make_engine, shared

GEOCODER = Geocoder(GeocoderSettings())


@pytest.fixture(scope="session")
def synthetic_ban(tmp_path_factory):
    out = tmp_path_factory.mktemp("ban") / "ban-93-3-communes.csv"
    subprocess.run([sys.executable, str(SHARED_DATA.parent / "tools" / "make_synthetic_ban.py"), "--out", str(out),
                    "--max-communes", "3", "--seed", "3"], check=True, capture_output=True)
    return out


@pytest.fixture(scope="session")
def rows(synthetic_ban):
    out = []
    for path in (synthetic_ban, shared("ban-adresses-93010-bondy.csv")):
        with path.open(encoding="utf-8", newline="") as fh:
            out += list(csv.DictReader(fh, delimiter=";"))
    return out


@pytest.fixture(scope="session")
def scale_engine(backend, databases, synthetic_ban):
    url = databases.new_url(backend)
    engine = make_engine(url)
    demo.build(engine, log=lambda _m: None)  # communes of 75, 92, 93, 94
    report = run(engine, "ban", ban.read, ban.load, [synthetic_ban, shared("ban-adresses-93010-bondy.csv")])
    assert report.created > 40_000
    yield engine
    engine.dispose()


@pytest.fixture
def session(scale_engine):
    with db.read_session_factory(scale_engine)() as s:
        yield s


def test_a_street_in_several_communes_without_a_commune_lists_every_one(session, rows):
    """"N avenue de la République": no commune written, the same street in several communes —
    ambiguous, and every commune holding that address is a candidate (none left out at 5)."""
    street = "Avenue de la République"
    by_number: dict[str, set] = {}
    for r in rows:
        if r["nom_voie"] == street and not r["rep"]:
            by_number.setdefault(r["numero"], set()).add(r["code_insee"])
    number, expected = max(by_number.items(), key=lambda kv: (len(kv[1]), kv[0]))
    assert len(expected) >= 4
    result = GEOCODER.search(session, f"{number} {street}", limit=3)
    assert result.status == "ambiguous" and result.best is None
    listed = {c.code_insee for c in result.candidates if c.street == street and c.housenumber == number}
    assert listed == expected
    assert f"dans {len(expected)} communes" in result.message
    # With the commune, one answer.
    result = GEOCODER.search(session, f"{number} {street} Bagnolet")
    assert result.status == "found" and result.best.code_insee == "93006"


def test_a_postal_code_of_another_commune_is_not_a_sure_answer(session, rows):
    """"… 93600 Bagnolet" (93600 is Aulnay-sous-Bois's): the address in Bagnolet, the commune
    written in full, "à confirmer"; Aulnay's is offered too — never a confident wrong commune."""
    both = {}
    for r in rows:
        if r["code_insee"] in ("93006", "93005") and not r["rep"]:
            both.setdefault((r["nom_voie"], r["numero"]), {})[r["code_insee"]] = r
    (street, number), by_code = next((k, v) for k, v in sorted(both.items()) if len(v) == 2)
    result = GEOCODER.search(session, f"{number} {street} 93600 Bagnolet")
    assert result.status == "found", (result.status, [(c.label, c.score) for c in result.candidates])
    assert result.best.id == by_code["93006"]["id"]
    assert "à confirmer" in result.message.lower() and "93600" in result.message
    assert "à confirmer" in result.best.as_dict()["note"]
    assert by_code["93005"]["id"] in {c.id for c in result.candidates}


@pytest.mark.parametrize("query, what", [
    ("10 rue de la République 69002 Lyon", "code postal 69002"),
    ("10 rue de la République Lyon", "Lyon, Rhône"),
    ("Lyon", "Lyon, Rhône"),
    ("5 avenue Jean Jaurès 13001", "code postal 13001"),
])
def test_an_address_outside_the_reference_says_so_without_suggestions(session, query, what):
    result = GEOCODER.search(session, query)
    assert result.status == "not_found" and result.candidates == []
    assert result.message.startswith("Adresse hors du territoire couvert par cette base (")
    assert what in result.message and "75, 92, 93 et 94" in result.message
    assert result.warnings[0]["code"] == "out-of-territory"


@pytest.mark.parametrize("query", ["5 rue de Verdun Bondy", "1 allée Marguerite Duras", "12 avenue de Verdun"])
def test_street_names_that_are_communes_elsewhere_stay_streets(session, query):
    result = GEOCODER.search(session, query)
    assert result.status in ("found", "ambiguous") and result.candidates[0].level != "municipality", \
        (query, result.message)


@pytest.mark.parametrize("query", ["Paris 13e", "Paris 13", "paris 13eme", "75013", "20 avenue d'Italie Paris 13e",
                                   "20 avenue d'Italie 75013 Paris"])
def test_paris_arrondissements_are_found_however_written(session, query):
    result = GEOCODER.search(session, query)
    assert result.best is not None, (query, result.message)
    assert (result.best.code_insee, result.best.level) == ("75113", "municipality")


def test_the_index_is_ready_when_the_import_ends(scale_engine, tmp_path):
    """An import committed by this process is visible to the next search, with no wait for a
    version check; the index is rebuilt once, not per search."""
    path = tmp_path / "new.csv"
    header = "id;numero;rep;nom_voie;code_postal;code_insee;nom_commune;lon;lat\n"
    path.write_text(header + "93048_zz99_00007;7;;Rue Toute Neuve;93100;93048;Montreuil;2.44;48.86\n",
                    encoding="utf-8")
    with db.read_session_factory(scale_engine)() as s:
        before = local.street_index(s)
        assert GEOCODER.search(s, "7 rue toute neuve montreuil").best.level == "municipality"
    run(scale_engine, "ban", ban.read, ban.load, [path])  # Montreuil had no address: nothing else changes
    try:
        with db.read_session_factory(scale_engine)() as s:
            found = GEOCODER.search(s, "7 rue toute neuve montreuil").best
            assert found is not None and found.id == "93048_zz99_00007"
            assert local.street_index(s) is local.street_index(s) is not before
    finally:
        from sqlalchemy import text

        with db.transaction(scale_engine) as s:
            s.execute(text("DELETE FROM address WHERE id = '93048_zz99_00007'"))
