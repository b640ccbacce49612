"""Psychiatric sector sheets: sector → communes / IRIS / polygons, CMPs linked by FINESS number."""

import json

import pytest
from shapely.geometry import shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Partner
from app.partners import cards
from bench.synthetic_finess import Establishment
from importers import communes, finess, sectors
from importers.base import ImportRejected
from tests.conftest import shared
from tests.helpers import answer, import_file, kind, refs
from tests.points import BONDY_SUD, MONTREUIL
from tests.test_finess import write as write_finess

PAVILLONS = (2.5050, 48.9070)  # Les Pavillons-sous-Bois (93057)


def session_of(conn):
    return Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)


def write_sheet(path, header, rows):
    path.write_text("\n".join([";".join(header)] + [";".join(r) for r in rows]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def with_cmps(demo_conn, tmp_path):
    cmps = [Establishment("930000011", "156", "CMP ADULTES BONDY", "93010", "93140", "Bondy", telephone="0148000001"),
            Establishment("930000029", "156", "CMP ADULTES LES PAVILLONS", "93057", "93320", "Les Pavillons-sous-Bois")]
    import_file(demo_conn, finess, write_finess(tmp_path / "finess.csv", cmps,
                                                {"930000011": (2.4830, 48.8960), "930000029": PAVILLONS}))
    return demo_conn


HEADER = ["secteur", "nom", "etablissement", "code_insee", "territoires", "cmp_finess", "comment_saisir", "telephone"]


def test_one_row_per_commune_sheet_with_cmps_linked_by_finess(with_cmps, tmp_path):
    conn = with_cmps
    path = write_sheet(tmp_path / "secteurs.csv", HEADER, [
        ["93G20", "Secteur 93G20", "EPS Ville-Évrard", "93010", "", "930000011", "Par le CMP.", "01 00 00 00 20"],
        ["93G20", "", "", "93057", "", "930000029", "", ""],
        ["93I05", "", "", "", "commune:93048", "", "", ""],
    ])
    report = import_file(conn, sectors, path)
    assert (report.rows_read, report.created) == (3, 2)
    with session_of(conn) as session:
        for point in (BONDY_SUD, PAVILLONS):
            assert "secteur:93G20" in refs(kind(answer(session, point), "secteur_psy_adulte"))
        assert "secteur:93G20" not in refs(kind(answer(session, MONTREUIL), "secteur_psy_adulte"))
        child = kind(answer(session, MONTREUIL, age="enfant"), "secteur_psy_infanto")
        assert "secteur:93I05" in refs(child)
        g20 = session.scalar(select(Partner).where(Partner.ref == "secteur:93G20"))
        assert (g20.kind_code, g20.age_band, g20.source, g20.source_row) == ("secteur_psy_adulte", "adulte", "sectors", 2)
        assert [(s.name, s.role, s.finess, s.phone) for s in g20.sites] == [
            ("CMP ADULTES BONDY", "cmp", "930000011", "01 48 00 00 01"),
            ("CMP ADULTES LES PAVILLONS", "cmp", "930000029", "01 00 00 00 00")]
        assert g20.description == "Établissement de rattachement : EPS Ville-Évrard."
        assert [(c.label, c.phone) for c in g20.contacts] == [("Secrétariat du secteur 93G20", "01 00 00 00 20")]
        i05 = session.scalar(select(Partner).where(Partner.ref == "secteur:93I05"))
        assert (i05.name, i05.age_band) == ("Secteur de psychiatrie infanto-juvénile 93I05", "enfant")
    again = import_file(conn, sectors, path)
    assert not again.changed


def test_sectors_made_of_iris(demo_conn, tmp_path):
    import_file(demo_conn, communes, shared("iris-2022-dep93.geojson"), level="iris")
    iris = {f["properties"]["CODE_IRIS"]: shape(f["geometry"])
            for f in json.loads(shared("iris-2022-dep93.geojson").read_text())["features"]
            if f["properties"]["INSEE_COM"] == "93010"}
    codes = sorted(iris)
    mine, other = codes[:3], codes[3:]
    path = write_sheet(tmp_path / "s.csv", ["secteur", "code_iris"], [["93G30", c] for c in mine])
    report = import_file(demo_conn, sectors, path)
    assert report.created == 1
    with session_of(demo_conn) as session:
        for code in mine:
            p = iris[code].representative_point()
            assert "secteur:93G30" in refs(kind(answer(session, (p.x, p.y)), "secteur_psy_adulte")), code
        for code in other[:5]:
            p = iris[code].representative_point()
            assert "secteur:93G30" not in refs(kind(answer(session, (p.x, p.y)), "secteur_psy_adulte")), code


def test_sector_polygons_keyed_by_sector_code(demo_conn, tmp_path):
    poly = tmp_path / "p.geojson"
    poly.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"secteur": "93G40", "libelle": "Bondy sud"},
         "geometry": {"type": "Polygon", "coordinates": [[[2.47, 48.885], [2.50, 48.885], [2.50, 48.90],
                                                          [2.47, 48.90], [2.47, 48.885]]]}}]}))
    path = write_sheet(tmp_path / "s.csv", ["secteur", "nom"], [["93G40", "Secteur 93G40"]])
    report = import_file(demo_conn, sectors, path, polygons=poly)
    assert report.created == 1
    with session_of(demo_conn) as session:
        entry = [e for e in kind(answer(session, BONDY_SUD), "secteur_psy_adulte")["partners"]
                 if e["partner"]["ref"] == "secteur:93G40"]
        assert entry and entry[0]["matched_part"]["label"] == "zone délimitée : Bondy sud"


@pytest.mark.parametrize("rows,expected", [
    ([["93X10", "93010", ""]], "ligne 2 · secteur : code de secteur invalide « 93X10 »"),
    ([["93P01", "93010", ""]], "ligne 2 · secteur : 93P01 : secteur de psychiatrie en milieu pénitentiaire"),
    ([["93G10", "93010", "enfant"]], "ligne 2 · public : 93G10 : public « enfant » alors que la lettre G"),
    ([["93G10", "93010", ""], ["93G10", "99999", ""]], "ligne 3 · territoires : 93G10 : territoire commune:99999 absent"),
])
def test_bad_sector_rows(demo_conn, tmp_path, rows, expected):
    path = write_sheet(tmp_path / "s.csv", ["secteur", "code_insee", "public"], rows)
    with pytest.raises(ImportRejected) as info:
        import_file(demo_conn, sectors, path)
    problems = [str(p) for p in info.value.report.rejected]
    assert any(p.startswith(expected) for p in problems), problems


def test_conflicting_rows_and_unknown_cmp_are_refused(demo_conn, tmp_path):
    path = write_sheet(tmp_path / "s.csv", ["secteur", "nom", "code_insee", "cmp_finess"], [
        ["93G10", "Secteur A", "93010", "930009999"],
        ["93G10", "Secteur B", "93057", ""],
    ])
    before = demo_conn.execute(select(Partner.id)).all()
    with pytest.raises(ImportRejected) as info:
        import_file(demo_conn, sectors, path)
    problems = [str(p) for p in info.value.report.rejected]
    assert "ligne 3 · nom : 93G10 : « Secteur B » diffère de la ligne 2 (« Secteur A »)" in problems
    assert any(p.startswith("ligne 2 · cmp_finess : 93G10 : CMP FINESS 930009999 absent de la base") for p in problems)
    assert demo_conn.execute(select(Partner.id)).all() == before


def test_a_sheet_without_any_territory_column_is_refused(demo_conn, tmp_path):
    path = write_sheet(tmp_path / "s.csv", ["secteur", "nom"], [["93G10", "Secteur"]])
    with pytest.raises(ImportRejected) as info:
        import_file(demo_conn, sectors, path)
    assert "aucune colonne de territoire" in info.value.report.rejected[0].message


def test_sector_record_survives_a_partner_sheet_round_trip(with_cmps, tmp_path):
    from app.exchange import partner_sheet
    from importers import partners_sheet

    path = write_sheet(tmp_path / "secteurs.csv", HEADER, [
        ["93G20", "Secteur 93G20", "", "93010", "", "930000011|930000029", "", ""]])
    import_file(with_cmps, sectors, path)
    with session_of(with_cmps) as session:
        before = cards.record_of(session.scalar(select(Partner).where(Partner.ref == "secteur:93G20")))
        partner_sheet.export(session, tmp_path / "all.csv")
    report = import_file(with_cmps, partners_sheet, tmp_path / "all.csv", polygons=tmp_path / "all-polygones.geojson")
    assert not report.changed
    with session_of(with_cmps) as session:
        assert cards.record_of(session.scalar(select(Partner).where(Partner.ref == "secteur:93G20"))) == before
