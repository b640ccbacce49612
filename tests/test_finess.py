"""FINESS etalab stock files: the real sample, reprojection, upsert by FINESS number, closures."""

import datetime as dt
import gzip
import json

import pytest
from pyproj import Transformer
from shapely.geometry import Point, shape
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.models import Partner
from app.partners import cards, registry
from bench.synthetic_finess import Establishment, file_text, geoloc_line, structure_line
from importers import finess
from importers.base import ImportRejected
from tests.conftest import shared
from tests.helpers import answer, import_file, kind, refs

SAMPLE = "finess/finess-etalab-cs1100502-stock-20260512-sample15.csv"
TO_L93 = Transformer.from_crs(4326, 2154, always_xy=True)
# Test points in the demo's reference (Bondy, Montreuil) and the real CMP-like places they stand for
BONDY = (2.4823, 48.9024)
MONTREUIL = (2.4410, 48.8618)


def session_of(conn):
    return Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)


def cmp_(nofiness, name, code="93010", postcode="93140", city="Bondy", **kw):
    return Establishment(nofiness, "156", name, code, postcode, city, **kw)


def l93(point):
    return TO_L93.transform(*point)


def write(path, establishments, positions, *, date="2026-05-12", encoding="utf-8"):
    structures = [structure_line(e) for e in establishments]
    geolocs = [geoloc_line(n, *l93(p)) for n, p in positions.items()]
    path.write_bytes(file_text(structures, geolocs, date=date).encode(encoding))
    return path


def partner(session, nofiness):
    return session.scalar(select(Partner).where(Partner.ref == f"finess:{nofiness}"))


def test_the_real_sample_is_read_and_every_row_accounted_for(demo_conn):
    report = import_file(demo_conn, finess, shared(SAMPLE), departements="93")
    assert report.ok and report.rows_read == 14 and report.created == 0
    warnings = [str(w) for w in report.warnings]
    # 13 lines of categories the mapping does not follow, the CMPP (189) of Martinique out of scope
    assert any("13 établissements de catégories non suivies" in w and "355 Centre Hospitalier (C.H.) ×4" in w
               for w in warnings), warnings
    assert any("1 établissement suivi hors des départements demandés (93)" in w for w in warnings)


def test_an_establishment_without_position_or_commune_is_refused(demo_conn):
    with pytest.raises(ImportRejected) as info:
        import_file(demo_conn, finess, shared(SAMPLE))
    [problem] = info.value.report.rejected
    assert problem.line == 6 and problem.field == "coordxet/coordyet"
    assert "970210126 : ni géolocalisation utilisable ni commune 97207" in problem.message


@pytest.mark.parametrize("departement,commune,expected", [
    ("01", "451", "01451"), ("2A", "004", "2A004"), ("9A", "123", "97123"), ("9B", "207", "97207"),
    ("9D", "411", "97411"), ("9F", "606", "97606"), ("9J", "613", "98613"), ("9A", "12", None), ("XX", "001", None),
])
def test_insee_code_from_the_finess_fields(departement, commune, expected):
    assert finess.insee_code(departement, commune) == expected


def contours(codes):
    with gzip.open(shared("communes-france-2025.geojson.gz"), "rt", encoding="utf-8") as fh:
        data = json.load(fh)
    return {f["properties"]["code"]: shape(f["geometry"]) for f in data["features"]
            if f["properties"]["code"] in codes or f["properties"]["code"][:3] in codes}


def test_lambert93_and_overseas_projections_land_in_their_communes(demo_conn, tmp_path):
    # Real FINESS geolocations of three of the sample's hospitals (public etalab data), each in
    # its own projection, with a mapping that follows their categories.
    mapping = tmp_path / "mapping.csv"
    mapping.write_text("categetab,kind,role\n355,etablissement_psy,principal\n101,etablissement_psy,principal\n",
                       encoding="utf-8")
    lines = shared(SAMPLE).read_text(encoding="utf-8").splitlines()
    lines += [
        "geolocalisation;010000024;870262.2;6571540.8;1,ATLASANTE,96,BAN,EPSG:2154 RGF93 / Lambert-93 (Métropole);2026-05-04",
        "geolocalisation;970300026;353672.8;544349.1;1,ATLASANTE,96,BAN,EPSG:2972 RGFG95/UTM Zone 22N (Guyane);2026-05-04",
        # Saint-Denis (Réunion)'s town hall, projected with pyproj: the CHU site stands near it
        "geolocalisation;970400024;338807.6;7690477.7;1,ATLASANTE,96,BAN,EPSG:2975 RGR92/UTM Zone 40S (Réunion);2026-05-04",
        # no projection named: the département's default (Guadeloupe → RGAF09 / UTM 20N)
        "geolocalisation;970100400;;;;2026-05-04",
    ]
    path = tmp_path / "finess.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ImportRejected) as info:
        import_file(demo_conn, finess, path, mapping=mapping)
    # Saint-Martin's (970100400: empty coordinates) and Wallis's (980600027: no geolocation line)
    # hospitals cannot be placed: their communes are not in the demo reference either
    assert [(p.line, p.message[:9]) for p in info.value.report.rejected] == [(4, "970100400"), (13, "980600027")]
    assert any("970100400 : coordonnées illisibles" in str(w) for w in info.value.report.warnings)
    lines = [line for line in lines if "970100400" not in line and "980600027" not in line]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = import_file(demo_conn, finess, path, mapping=mapping)
    assert report.created == 3
    shapes = contours({"01451", "97302", "974"})
    with session_of(demo_conn) as session:
        for nofiness, commune in (("010000024", "01451"), ("970300026", "97302"), ("970400024", "97411")):
            site = cards.record_of(partner(session, nofiness))["sites"][0]
            assert site["code_insee"] == commune
            assert shapes[commune].buffer(0.002).contains(Point(site["lon"], site["lat"])), (nofiness, site)


CMP_A = cmp_("930000011", "CMP ADULTES BONDY NORD", telephone="0148000001", siret="12345678900011")
CMP_B = cmp_("930000029", "CMP ENFANTS MONTREUIL", code="93048", postcode="93100", city="Montreuil")
MAISON = Establishment("930000037", "258", "RESIDENCE ACCUEIL LES GLYCINES", "93010", "93140", "Bondy")
PHARMACIE = Establishment("930000045", "620", "PHARMACIE DU CENTRE", "93010", "93140", "Bondy")
POSITIONS = {"930000011": BONDY, "930000029": MONTREUIL, "930000037": (2.4790, 48.8990), "930000045": BONDY}


def test_upsert_by_finess_number_keeps_what_people_added_closes_and_reopens(demo_conn, tmp_path):
    v1 = write(tmp_path / "v1.csv", [CMP_A, CMP_B, MAISON, PHARMACIE], POSITIONS, date="2026-01-10")
    report = import_file(demo_conn, finess, v1)
    assert (report.created, report.rows_read) == (3, 4)
    with session_of(demo_conn) as session:
        a = partner(session, "930000011")
        assert (a.kind_code, a.name, a.finess, a.siret, a.status) == ("cmp", "CMP ADULTES BONDY NORD", "930000011",
                                                                      "12345678900011", "active")
        assert (a.source, a.source_file, a.source_row) == ("finess", "v1.csv", 2)
        assert a.sites[0].phone == "01 48 00 00 01" and a.sites[0].postcode == "93140" and a.sites[0].city == "BONDY"
        assert partner(session, "930000037").kind_code == "residence_accueil"  # recognised by its name
        assert partner(session, "930000045") is None  # a pharmacy is not followed
        # someone adds how to refer and a contact to the CMP
        record = cards.record_of(a)
        record["how_to_refer"] = "Premier rendez-vous infirmier, sans ordonnance."
        record["contacts"] = [{"label": "Secrétariat", "phone": "01 48 00 00 09"}]
        registry.upsert_partner(session, record)
        session.commit()
        assert "finess:930000011" in refs(kind(answer(session, BONDY), "cmp"))
    # a newer file: the CMP changed its phone, Montreuil's CMP is gone
    moved = cmp_("930000011", "CMP ADULTES BONDY NORD", telephone="0148000002", siret="12345678900011")
    v2 = write(tmp_path / "v2.csv", [moved, MAISON, PHARMACIE], POSITIONS, date="2026-05-12")
    report = import_file(demo_conn, finess, v2)
    assert (report.updated, report.unchanged, report.closed, report.created) == (1, 1, 1, 0)
    assert "1 fermé (absents du fichier)" in report.summary()
    with session_of(demo_conn) as session:
        a = partner(session, "930000011")
        assert a.sites[0].phone == "01 48 00 00 02"
        assert a.how_to_refer == "Premier rendez-vous infirmier, sans ordonnance."
        assert [c.label for c in a.contacts] == ["Secrétariat"]
        b = partner(session, "930000029")
        assert (b.status, b.valid_to) == ("closed", dt.date(2026, 5, 12))  # closed, not deleted
        assert "finess:930000029" not in refs(kind(answer(session, MONTREUIL), "cmp"))
    again = import_file(demo_conn, finess, v2)
    assert not again.changed and "aucun changement" in again.summary()
    # it reappears in a later file: reopened
    v3 = write(tmp_path / "v3.csv", [moved, CMP_B, MAISON], POSITIONS, date="2026-09-01")
    report = import_file(demo_conn, finess, v3)
    assert report.updated == 1 and report.closed == 0
    with session_of(demo_conn) as session:
        b = partner(session, "930000029")
        assert (b.status, b.valid_to) == ("active", None)
        assert "finess:930000029" in refs(kind(answer(session, MONTREUIL), "cmp"))


def test_a_reimport_keeps_what_a_person_edited_after_the_files_date_and_says_so(demo_conn, tmp_path):
    """FINESS's own fields (name, status…) follow the file, except where a person edited them after
    the file's date: then the partner keeps the person's value and the report says so, line by line."""
    from app import accounts, editing
    from app.models import AuditEntry, Inventory
    from app.partners import inventory

    import_file(demo_conn, finess, write(tmp_path / "v1.csv", [CMP_A, CMP_B, MAISON], POSITIONS, date="2026-01-10"))
    with session_of(demo_conn) as session:
        person = accounts.create_account(session, email="camille@example.org", name="Camille", role="admin",
                                         actor_label="tests")
        a, b, maison = (partner(session, n) for n in ("930000011", "930000029", "930000037"))
        for who, field, value in ((a, "name", "CMP adultes de Bondy (secteur nord)"), (b, "status", "suspended"),
                                  (maison, "name", "Résidence accueil Les Glycines")):
            record = cards.record_of(who)
            record[field] = value
            entry = editing.write(session, who, record, actor=person, action="edit")
            if who is maison:  # this edit is older than the next file: the file wins there
                entry.at = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
        # and the CMPs of the 93 are not all known yet, says the territory's administrator on the web
        inventory.set_status(session, "departement:93", ["cmp"], "non_inventorie", source="saisie web",
                             note="recensement en cours", actor=person)
        session.commit()
    renamed = cmp_("930000011", "CMP BONDY NORD ADULTES", telephone="0148000002", siret="12345678900011")
    maison_v2 = Establishment("930000037", "258", "RESIDENCE ACCUEIL GLYCINES", "93010", "93140", "Bondy")
    report = import_file(demo_conn, finess, write(tmp_path / "v2.csv", [renamed, maison_v2], POSITIONS,
                                                  date="2026-05-12"))
    assert report.ok and (report.updated, report.closed) == (2, 1)
    warnings = [(w.line, w.field, w.message) for w in report.warnings]
    assert (2, "name", "« nom » modifié par Camille le " + dt.date.today().strftime("%d/%m/%Y")
            + ", après la date du fichier : valeur de la fiche conservée, celle du fichier ignorée") in warnings
    assert any(line is None and field == "status" and "« statut » modifié par Camille" in message
               for line, field, message in warnings), warnings
    with session_of(demo_conn) as session:
        a, b, maison = (partner(session, n) for n in ("930000011", "930000029", "930000037"))
        assert a.name == "CMP adultes de Bondy (secteur nord)"  # the person's, kept
        assert a.sites[0].phone == "01 48 00 00 02"  # the rest of the file applies
        assert b.status == "suspended" and b.valid_to == dt.date(2026, 5, 12)  # kept; its end date from the file
        assert maison.name == "RESIDENCE ACCUEIL GLYCINES"  # edited before the file's date: the file wins
        statuses = {(r.code, r.kind_code): r.status for r in session.scalars(select(Inventory))}
        assert statuses[("departement:93", "cmp")] == "non_inventorie"  # the person's, kept
        assert statuses[("departement:93", "residence_accueil")] == "inventorie"
    assert any(field == "inventaire" and "departement:93 pour « cmp » fixé à la main" in message
               for _line, field, message in warnings), warnings
    with session_of(demo_conn) as session:
        last = session.scalar(select(AuditEntry).where(AuditEntry.partner_id == a.id).order_by(AuditEntry.id.desc()))
        assert last.action == "import" and "name" not in last.diff and last.diff


def test_partners_created_in_bulk_can_be_reverted_to_their_import(demo_conn, tmp_path):
    """A national file inserts its new establishments in bulk (registry.insert_new): each still gets
    an audit row with its field-level diff and the record as imported, so its history page offers
    "Revenir à cette version" there, like any other version."""
    from app import accounts, editing
    from app.models import AuditEntry

    import_file(demo_conn, finess, write(tmp_path / "v1.csv", [CMP_A, MAISON], POSITIONS, date="2026-01-10"))
    with session_of(demo_conn) as session:
        a = partner(session, "930000011")
        imported = session.scalar(select(AuditEntry).where(AuditEntry.partner_id == a.id))
        assert imported.action == "import" and imported.actor == "import : répertoire FINESS « v1.csv », ligne 2"
        assert imported.snapshot == cards.record_of(a)
        assert imported.diff["name"] == [None, "CMP ADULTES BONDY NORD"] and imported.diff["kind"] == [None, "cmp"]
        assert imported.diff["sites"][1][0]["phone"] == "01 48 00 00 01"
        admin = accounts.create_account(session, email="dominique@example.org", name="Dominique", role="admin",
                                        actor_label="tests")
        record = cards.record_of(a)
        record.update(name="Nom erroné", how_to_refer="Texte à retirer.")
        editing.write(session, a, record, actor=admin, action="edit")
        done = editing.revert(session, a, imported, actor=admin)
        assert done is not None and done.action == "revert" and set(done.diff) == {"name", "how_to_refer"}
        assert cards.record_of(a) == imported.snapshot
        session.commit()


def test_closures_stay_within_the_departements_asked_for(demo_conn, tmp_path):
    other = cmp_("750000019", "CMP PARIS 13", code="75113", postcode="75013", city="Paris")
    positions = {**POSITIONS, "750000019": (2.3650, 48.8270)}
    import_file(demo_conn, finess, write(tmp_path / "v1.csv", [CMP_A, other], positions))
    report = import_file(demo_conn, finess, write(tmp_path / "v2.csv", [CMP_A], positions), departements="93")
    assert report.closed == 0  # Paris was not part of this import
    report = import_file(demo_conn, finess, write(tmp_path / "v3.csv", [CMP_A], positions), departements="75")
    assert report.closed == 1


def test_older_iso_8859_1_files_are_read(demo_conn, tmp_path):
    e = cmp_("930000011", "CMP ÉPINAY-SOUS-SÉNART")
    report = import_file(demo_conn, finess, write(tmp_path / "old.csv", [e], POSITIONS, encoding="iso-8859-1"))
    assert report.created == 1
    assert any("ISO-8859-1" in str(w) for w in report.warnings)
    with session_of(demo_conn) as session:
        assert partner(session, "930000011").name == "CMP ÉPINAY-SOUS-SÉNART"


def test_a_missing_geolocation_falls_back_to_the_commune(demo_conn, tmp_path):
    positions = {"930000011": (-1.55, 47.21)}  # Nantes: not in Seine-Saint-Denis, but still in France
    path = write(tmp_path / "f.csv", [CMP_A, CMP_B], positions)
    report = import_file(demo_conn, finess, path)
    assert report.created == 2
    warnings = [str(w) for w in report.warnings]
    assert any("930000029 sans géolocalisation : position approchée au centre de la commune 93048" in w for w in warnings)
    with session_of(demo_conn) as session:
        b = partner(session, "930000029")
        assert "position approchée" in b.description
        assert "finess:930000029" in refs(kind(answer(session, MONTREUIL), "cmp"))
        a = partner(session, "930000011")
        # Nantes is in France, so a Lambert-93 position there is kept as given: only wrong projections
        # or absurd values are replaced
        assert round(cards.record_of(a)["sites"][0]["lon"], 2) == -1.55


def test_coordinates_in_the_wrong_projection_use_the_commune(demo_conn, tmp_path):
    path = write(tmp_path / "f.csv", [CMP_A], {})
    x, y = l93(BONDY)
    path.write_text(path.read_text() + geoloc_line("930000011", x, y, epsg=2975) + "\n", encoding="utf-8")
    report = import_file(demo_conn, finess, path)
    assert report.created == 1
    assert any("coordonnées hors du département 93 (EPSG:2975" in str(w) for w in report.warnings)


@pytest.mark.parametrize("content,expected", [
    ("", "vide"),
    ("structureet;930000011;930000010;CMP\n", "la première ligne doit être « finess;etalab;<version>;<date> »"),
    ("finess;etalab;111;12/05/2026\n", "date d'extraction illisible"),
    ("finess;etalab;111;2026-05-12\ngeolocalisation;930000011;1;2;x;2026-01-01\n", "aucune ligne structureet"),
])
def test_unreadable_finess_files(demo_conn, tmp_path, content, expected):
    path = tmp_path / "f.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ImportRejected) as info:
        import_file(demo_conn, finess, path)
    assert expected in info.value.report.rejected[0].message


def test_bad_rows_are_reported_with_their_line_and_nothing_is_written(demo_conn, tmp_path):
    bad_date = cmp_("930000052", "CMP DATE", dateouv="13/02/1979")
    bad_siret = cmp_("930000060", "CMP SIRET", siret="123")
    path = write(tmp_path / "f.csv", [CMP_A, CMP_A, bad_date, bad_siret], POSITIONS)
    text_ = path.read_text().replace("structureet;930000011;", "structureet;93000001X;", 1)
    text_ = text_.rstrip("\n").rsplit("\n", 1)[0] + "\nstructureet;930000078;93000007"  # truncated last line
    path.write_text(text_, encoding="utf-8")
    before = demo_conn.execute(text("SELECT count(*) FROM partner")).scalar()
    with pytest.raises(ImportRejected) as info:
        import_file(demo_conn, finess, path)
    problems = {(p.line, p.field): p.message for p in info.value.report.rejected}
    assert problems[(2, "nofinesset")] == "numéro FINESS invalide « 93000001X »"
    assert problems[(4, "dateouv")].startswith("930000052 : date invalide « 13/02/1979 »")
    assert problems[(5, "siret")] == "930000060 : SIRET invalide « 123 »"
    assert "fichier tronqué ?" in problems[(9, None)]
    assert demo_conn.execute(text("SELECT count(*) FROM partner")).scalar() == before


def test_duplicate_finess_numbers_are_refused(demo_conn, tmp_path):
    path = write(tmp_path / "f.csv", [CMP_A, CMP_A], POSITIONS)
    with pytest.raises(ImportRejected) as info:
        import_file(demo_conn, finess, path)
    assert [str(p) for p in info.value.report.rejected] == ["ligne 3 · nofinesset : 930000011 en double (déjà ligne 2)"]


def test_a_mapping_to_a_territorial_kind_is_refused(demo_conn, tmp_path):
    mapping = tmp_path / "m.csv"
    mapping.write_text("categetab,kind\n156,clsm\n", encoding="utf-8")
    with pytest.raises(ImportRejected) as info:
        import_file(demo_conn, finess, write(tmp_path / "f.csv", [CMP_A], POSITIONS), mapping=mapping)
    assert "« clsm » a une zone de compétence" in info.value.report.rejected[0].message


def test_finess_marks_its_kinds_inventoried_where_imported(demo_conn, tmp_path):
    from app.models import Inventory

    import_file(demo_conn, finess, write(tmp_path / "f.csv", [CMP_A], POSITIONS), departements="93")
    with session_of(demo_conn) as session:
        rows = {(r.code, r.kind_code, r.status) for r in session.scalars(select(Inventory))}
    assert ("departement:93", "cmp", "inventorie") in rows and ("departement:93", "pension_de_famille", "inventorie") in rows
    assert not any(code == "departement:75" and kind_code == "cmp" for code, kind_code, _ in rows)
