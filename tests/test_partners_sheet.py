"""The partner sheet (CSV / XLSX exchange format): round trips, bad files, provenance, template."""

import csv
import io
import json

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.exchange import partner_sheet
from app.models import Landlord, Partner
from app.partners import cards, registry
from importers import partners_sheet
from importers.base import ImportRejected
from tests.helpers import answer, import_file, kind, refs
from tests.points import BONDY_SUD, MONTREUIL

RICH = {
    "ref": "test:equipe-mobile", "kind": "equipe_mobile_bailleur", "name": "Équipe mobile « Ensemble » ; test",
    "description": "Deux lignes\navec un retour", "how_to_refer": "Fiche de liaison ; appeler avant.",
    "eligibility": "Locataires en difficulté", "website": "https://example.org/em",
    "age_band": "adulte", "housing_types": ["parc_social", "logement_accompagne"],
    "reserved_landlords": ["test-bailleur"], "capacity": 12, "status": "planned",
    "valid_from": "2027-01-01", "valid_to": "2029-12-31", "siret": "12345678900011",
    "last_verified_at": "2026-11-01",
    "coverage": {"include": ["departement:93"], "exclude": ["commune:93048"],
                 "polygons": [
                     {"mode": "include", "label": "quartier", "geometry": {"type": "Polygon", "coordinates": [
                         [[2.44, 48.85], [2.45, 48.85], [2.45, 48.86], [2.44, 48.86], [2.44, 48.85]]]}},
                     {"mode": "exclude", "label": "zone hors", "geometry": {"type": "Polygon", "coordinates": [
                         [[2.47, 48.90], [2.475, 48.90], [2.475, 48.905], [2.47, 48.905], [2.47, 48.90]]]}}]},
    "sites": [
        {"name": "Antenne Bondy", "role": "antenne", "address": "1 rue Test", "postcode": "93140", "city": "Bondy",
         "code_insee": "93010", "lon": 2.4812345678, "lat": 48.9023456789, "phone": "01 00 00 00 01"},
        {"name": "Antenne Montreuil", "role": "antenne", "postcode": "93100", "lon": 2.44, "lat": 48.86,
         "capacity": 4},
    ],
    "contacts": [
        {"label": "Accueil", "phone": "01 00 00 00 02"},
        {"label": "Coordination", "email": "coord@example.org", "hours": "9h-17h"},
        {"label": "Site", "url": "https://example.org/contact", "notes": "formulaire"},
    ],
}


def session_of(conn):
    return Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)


def add_rich_partner(conn):
    with session_of(conn) as session:
        registry.upsert_landlord(session, "test-bailleur", "Bailleur de test", "123456789")
        registry.upsert_partner(session, RICH)
        session.commit()


def all_records(conn):
    with session_of(conn) as session:
        return partner_sheet.stored_records(session)


def delete_all_partners(conn, *, landlords: bool):
    with session_of(conn) as session:
        for partner in session.scalars(select(Partner)):
            session.delete(partner)
        session.flush()
        if landlords:
            session.execute(Landlord.__table__.delete())
        session.commit()


def export(conn, path, **options):
    with session_of(conn) as session:
        return partner_sheet.export(session, path, **options)


def partner_state(conn):
    return conn.execute(text("SELECT count(*), max(updated_at), sum(length(content_hash)) FROM partner")).one()


def xlsx_values(path):
    workbook = load_workbook(path, read_only=True)
    return {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in workbook.worksheets}


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_export_import_export_loses_nothing(demo_conn, tmp_path, suffix):
    add_rich_partner(demo_conn)
    before = all_records(demo_conn)
    first = tmp_path / f"a.{suffix}"
    result = export(demo_conn, first)
    assert result["partners"] == len(before)
    assert result["polygons"] == sum(len(r["coverage"]["polygons"]) for r in before) >= 2
    # the rich partner spreads over three rows (3 contacts, 2 sites)
    assert result["rows"] == len(before) + 2
    # a CSV carries no landlord list (the XLSX has a Bailleurs sheet): they stay for the CSV case
    delete_all_partners(demo_conn, landlords=suffix == "xlsx")
    report = import_file(demo_conn, partners_sheet, first, polygons=tmp_path / "a-polygones.geojson")
    assert report.ok and report.created == len(before) and report.rows_read == len(before) + 2
    assert all_records(demo_conn) == before
    second = tmp_path / f"b.{suffix}"
    export(demo_conn, second)
    if suffix == "csv":
        assert first.read_bytes() == second.read_bytes()
    else:
        assert xlsx_values(first) == xlsx_values(second)
        assert ["test-bailleur", "Bailleur de test", "123456789"] in xlsx_values(first)["Bailleurs"]
    assert (tmp_path / "a-polygones.geojson").read_text() == (tmp_path / "b-polygones.geojson").read_text()
    # and the re-imported partners answer lookups as before
    with session_of(demo_conn) as session:
        assert "test:equipe-mobile" in refs(kind(answer(session, BONDY_SUD, landlord="test-bailleur",
                                                         as_of="2027-06-01"), "equipe_mobile_bailleur"))


def test_reimport_changes_nothing_and_says_so(demo_conn, tmp_path):
    path = tmp_path / "p.csv"
    export(demo_conn, path)
    state = partner_state(demo_conn)
    report = import_file(demo_conn, partners_sheet, path, polygons=tmp_path / "p-polygones.geojson")
    assert report.ok and not report.changed and report.unchanged == state[0]
    assert "aucun changement" in report.summary()
    assert partner_state(demo_conn) == state


def write_csv(path, rows, *, delimiter=";", encoding="utf-8", header=None):
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(header or partner_sheet.COLUMN_NAMES)
    for row in rows:
        writer.writerow([row.get(c, "") for c in partner_sheet.COLUMN_NAMES] if isinstance(row, dict) else row)
    path.write_bytes(out.getvalue().encode(encoding))
    return path


CLSM = {"identifiant": "t:clsm", "type": "clsm", "nom": "CLSM test", "couverture": "commune:93010",
        "contact_libelle": "Coordination", "contact_courriel": "c@example.org"}


def test_rows_create_partners_with_provenance_and_continuation_sites(demo_conn, tmp_path):
    rows = [
        CLSM,
        {"identifiant": "t:cmp", "type": "cmp", "nom": "CMP test", "site_nom": "CMP A", "site_longitude": "2.48",
         "site_latitude": "48.90", "statut": "actif"},
        {"identifiant": "t:cmp", "site_nom": "CMP B", "site_longitude": "2.44", "site_latitude": "48.86",
         "contact_libelle": "Secrétariat", "contact_telephone": "01 00 00 00 00"},
    ]
    path = write_csv(tmp_path / "feuille.csv", rows)
    report = import_file(demo_conn, partners_sheet, path)
    assert (report.created, report.rows_read) == (2, 3)
    with session_of(demo_conn) as session:
        cmp_ = session.scalar(select(Partner).where(Partner.ref == "t:cmp"))
        assert [s.name for s in cmp_.sites] == ["CMP A", "CMP B"]
        assert [c.label for c in cmp_.contacts] == ["Secrétariat"]
        assert (cmp_.source, cmp_.source_file, cmp_.source_row) == ("partners-sheet", "feuille.csv", 3)
        assert "t:clsm" in refs(kind(answer(session, BONDY_SUD), "clsm"))
        assert "t:clsm" not in refs(kind(answer(session, MONTREUIL), "clsm"))


@pytest.mark.parametrize("case,expected", [
    ("latin1", "n'est pas en UTF-8 (octet invalide ligne 2)"),
    ("pipe_delimiter", "colonnes obligatoires manquantes : identifiant, type, nom"),
    ("missing_column", "colonne obligatoire manquante : nom"),
    ("extra_column", "colonne inconnue « nom_partenaire » (vouliez-vous dire « nom » ?)"),
    ("duplicate_column", "colonne « nom » en double"),
    ("empty", "vide"),
    ("header_only", "aucune ligne de données"),
    ("unclosed_quote", "CSV mal formé"),
    ("xls", "format .xls"),
    ("broken_xlsx", "n'est pas un classeur XLSX lisible"),
])
def test_unreadable_sheets_are_refused_and_change_nothing(demo_conn, tmp_path, case, expected):
    path = tmp_path / "p.csv"
    names = list(partner_sheet.COLUMN_NAMES)
    if case == "latin1":
        write_csv(path, [{**CLSM, "nom": "CLSM Épinay"}], encoding="latin-1")
    elif case == "pipe_delimiter":
        write_csv(path, [CLSM], delimiter="|")
    elif case == "missing_column":
        write_csv(path, [[CLSM.get(c, "") for c in names if c != "nom"]], header=[c for c in names if c != "nom"])
    elif case == "extra_column":
        write_csv(path, [[CLSM.get(c, "") for c in names] + ["x"]], header=names + ["nom_partenaire"])
    elif case == "duplicate_column":
        write_csv(path, [[CLSM.get(c, "") for c in names] + ["x"]], header=names + ["nom"])
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "header_only":
        write_csv(path, [])
    elif case == "unclosed_quote":
        write_csv(path, [CLSM])
        path.write_bytes(path.read_bytes() + b't:x;clsm;"CLSM sans fin\n')
    elif case == "xls":
        path = tmp_path / "p.xls"
        path.write_bytes(b"\xd0\xcf\x11\xe0" + b"\0" * 100)
    elif case == "broken_xlsx":
        partner_sheet.write_xlsx(tmp_path / "ok.xlsx", [[CLSM.get(c, "") for c in names]], [])
        path = tmp_path / "p.xlsx"
        path.write_bytes((tmp_path / "ok.xlsx").read_bytes()[:900])
    state = partner_state(demo_conn)
    with pytest.raises(ImportRejected) as info:
        import_file(demo_conn, partners_sheet, path)
    assert any(expected in str(p) for p in info.value.report.rejected), info.value.report.rejected
    assert "Rien n'a été modifié" in info.value.report.summary()
    assert partner_state(demo_conn) == state


@pytest.mark.parametrize("row,line_column,message", [
    ({**CLSM, "type": "clsn"}, "ligne 2 · type", "type de partenaire inconnu « clsn »"),
    ({**CLSM, "couverture": "93010"}, "ligne 2 · couverture", "Code « 93010 » sans type, donc ambigu : écrire commune:93010"),
    ({**CLSM, "couverture": "commune:99999"}, "ligne 2 · couverture", "commune:99999 absent du référentiel"),
    ({**CLSM, "couverture": ""}, "ligne 2 · couverture", "aucune partie incluse"),
    ({**CLSM, "statut": "ouvert"}, "ligne 2 · statut", "« ouvert »"),
    ({**CLSM, "date_debut": "01/02/2026"}, "ligne 2 · date_debut", "date invalide « 01/02/2026 »"),
    ({**CLSM, "contact_courriel": "pas-un-courriel"}, "ligne 2 · contact_courriel", "courriel invalide"),
    ({**CLSM, "site_nom": "Lieu", "site_longitude": "652000", "site_latitude": "6862000"},
     "ligne 2 · site_longitude/site_latitude", "Lambert-93"),
    ({**CLSM, "bailleurs_reserves": "inconnu"}, "ligne 2 · bailleurs_reserves", "bailleur inconnu « inconnu »"),
])
def test_bad_rows_are_reported_with_line_and_column(demo_conn, tmp_path, row, line_column, message):
    path = write_csv(tmp_path / "p.csv", [row, {**CLSM, "identifiant": "t:ok"}])
    state = partner_state(demo_conn)
    with pytest.raises(ImportRejected) as info:
        import_file(demo_conn, partners_sheet, path)
    problems = [str(p) for p in info.value.report.rejected]
    assert any(p.startswith(line_column) and message in p for p in problems), problems
    assert partner_state(demo_conn) == state


def test_duplicates_truncation_and_continuation_errors_point_at_their_lines(demo_conn, tmp_path):
    path = write_csv(tmp_path / "p.csv", [
        CLSM,
        {"identifiant": "t:clsm", "site_nom": "Lieu", "site_code_postal": "931"},
        {**CLSM, "nom": "Autre nom"},
        {"identifiant": "", "type": "clsm", "nom": "sans identifiant"},
    ])
    path.write_bytes(path.read_bytes() + b"t:tronque;clsm;CLSM coup")
    with pytest.raises(ImportRejected) as info:
        import_file(demo_conn, partners_sheet, path)
    problems = [str(p) for p in info.value.report.rejected]
    assert "ligne 3 · site_code_postal : t:clsm : code postal invalide « 931 »" in problems
    assert any(p.startswith("ligne 4 · identifiant : t:clsm en double (déjà ligne 2)") for p in problems)
    assert "ligne 5 · identifiant : identifiant obligatoire sur chaque ligne" in problems
    assert any(p.startswith(f"ligne 6 : 3 valeurs pour {len(partner_sheet.COLUMNS)} colonnes — dernière ligne incomplète") for p in problems)


def test_xlsx_numbers_get_their_leading_zeros_back(demo_conn, tmp_path):
    workbook = Workbook()
    ws = workbook.active
    ws.title = "Partenaires"
    ws.append(["identifiant", "type", "nom", "site_nom", "site_code_postal", "site_longitude", "site_latitude",
               "date_debut"])
    import datetime as dt
    ws.append(["t:gem", "gem", "GEM de l'Ain", "GEM", 1000, 5.22, 46.2, dt.datetime(2024, 5, 1)])
    workbook.save(tmp_path / "p.xlsx")
    report = import_file(demo_conn, partners_sheet, tmp_path / "p.xlsx")
    assert report.created == 1
    assert [str(w) for w in report.warnings] == [
        "ligne 2 · site_code_postal : « 1000 » lu comme un nombre : zéros initiaux rétablis (01000)"]
    with session_of(demo_conn) as session:
        gem = session.scalar(select(Partner).where(Partner.ref == "t:gem"))
        assert gem.sites[0].postcode == "01000" and gem.valid_from.isoformat() == "2024-05-01"


def polygon_file(path, features, crs=None):
    data = {"type": "FeatureCollection", "features": features}
    if crs:
        data["crs"] = {"type": "name", "properties": {"name": crs}}
    path.write_text(json.dumps(data))
    return path


def square(lon, lat, size=0.01):
    return {"type": "Polygon", "coordinates": [[[lon, lat], [lon + size, lat], [lon + size, lat + size],
                                                [lon, lat + size], [lon, lat]]]}


@pytest.mark.parametrize("features,crs,expected", [
    ([{"type": "Feature", "properties": {"identifiant": "t:inconnu"}, "geometry": square(2.45, 48.88)}], None,
     "identifiant « t:inconnu » absent de la feuille"),
    ([{"type": "Feature", "properties": {"identifiant": "t:clsm"},
       "geometry": {"type": "LineString", "coordinates": [[2.45, 48.88], [2.46, 48.89]]}}], None, "n'est pas une surface"),
    ([{"type": "Feature", "properties": {"identifiant": "t:clsm", "mode": "enlever"}, "geometry": square(2.45, 48.88)}],
     None, "mode « enlever »"),
    ([{"type": "Feature", "properties": {"identifiant": "t:clsm"}, "geometry": square(2.45, 48.88)}],
     "urn:ogc:def:crs:EPSG::2154", "polygone hors du territoire de la base"),
    ([{"type": "Feature", "properties": {"identifiant": "t:clsm"}, "geometry": square(652000, 6862000, 100)}], None,
     "hors des limites WGS84"),
])
def test_bad_polygon_files_are_reported(demo_conn, tmp_path, features, crs, expected):
    sheet_path = write_csv(tmp_path / "p.csv", [CLSM])
    poly = polygon_file(tmp_path / "poly.geojson", features, crs)
    state = partner_state(demo_conn)
    with pytest.raises(ImportRejected) as info:
        import_file(demo_conn, partners_sheet, sheet_path, polygons=poly)
    assert any(expected in str(p) for p in info.value.report.rejected), info.value.report.rejected
    assert partner_state(demo_conn) == state


def test_polygons_from_a_geopackage_in_lambert93(demo_conn, tmp_path):
    import geopandas as gpd
    from shapely.geometry import box

    from app.exchange.gis_files import write_gpkg

    # Bondy's south, in Lambert-93: an exclusion carved out of the commune
    gdf = gpd.GeoDataFrame({"identifiant": ["t:clsm"], "mode": ["exclure"], "libelle": ["Bondy sud"]},
                           geometry=[box(2.45, 48.88, 2.52, 48.90)], crs=4326).to_crs(2154)
    write_gpkg(gdf, tmp_path / "poly.gpkg", layer="zones")
    report = import_file(demo_conn, partners_sheet, write_csv(tmp_path / "p.csv", [CLSM]), polygons=tmp_path / "poly.gpkg")
    assert report.created == 1
    with session_of(demo_conn) as session:
        assert "t:clsm" not in refs(kind(answer(session, BONDY_SUD), "clsm"))
        record = cards.record_of(session.scalar(select(Partner).where(Partner.ref == "t:clsm")))
        assert [(p["mode"], p["label"]) for p in record["coverage"]["polygons"]] == [("exclude", "Bondy sud")]


def test_reimport_without_the_polygon_file_says_what_it_would_lose(demo_conn, tmp_path):
    add_rich_partner(demo_conn)
    path = tmp_path / "p.csv"
    export(demo_conn, path)
    with pytest.raises(ImportRejected) as info:
        import_file(demo_conn, partners_sheet, path)
    report = info.value.report
    # a sector made of a polygon only cannot be loaded without it…
    assert any(p.field == "couverture" and "demo:secteur-93g10 : aucune partie incluse (ses polygones : fournir --polygons)"
               in p.message for p in report.rejected), report.rejected
    # …and a partner that would merely lose its polygons is warned about
    assert any("test:equipe-mobile a aujourd'hui des polygones personnalisés que cet import supprime" in str(w)
               for w in report.warnings)


def test_merged_commune_gets_its_successor_proposed(demo_conn, tmp_path):
    demo_conn.execute(text("DELETE FROM territory WHERE level = 'commune' AND code = '93059'"))
    path = write_csv(tmp_path / "p.csv", [{**CLSM, "couverture": "commune:93059|commune:93010"}])
    with pytest.raises(ImportRejected) as info:
        import_file(demo_conn, partners_sheet, path)
    [problem] = info.value.report.rejected
    assert problem.line == 2 and problem.field == "couverture"
    assert "commune:93059 absent du référentiel" in problem.message
    assert "Pierrefitte-sur-Seine : fusion le 01/01/2025 ; code successeur proposé : commune:93066 (Saint-Denis)" in problem.message


def test_dry_run_reports_and_writes_nothing(demo_conn, tmp_path):
    state = partner_state(demo_conn)
    report = import_file(demo_conn, partners_sheet, write_csv(tmp_path / "p.csv", [CLSM]), dry_run=True)
    assert report.created == 1 and "simulé (--dry-run" in report.summary()
    assert partner_state(demo_conn) == state


def test_blank_template(demo_conn, tmp_path):
    with session_of(demo_conn) as session:
        partner_sheet.template(tmp_path / "modele.xlsx", session)
        partner_sheet.template(tmp_path / "modele.csv", session)
    values = xlsx_values(tmp_path / "modele.xlsx")
    assert values["Partenaires"] == [partner_sheet.COLUMN_NAMES]
    assert [r[0] for r in values["Aide"][1:len(partner_sheet.COLUMNS) + 1]] == partner_sheet.COLUMN_NAMES
    assert ["clsm", None, "Conseil local de santé mentale (CLSM)"] in [r[:3] for r in values["Aide"]]
    workbook = load_workbook(tmp_path / "modele.xlsx")
    formulas = [v.formula1 for v in workbook["Partenaires"].data_validations.dataValidation]
    assert any("clsm" in f and "secteur_psy_adulte" in f for f in formulas)
    assert (tmp_path / "modele.csv").read_bytes() == "\ufeff".encode() + (";".join(partner_sheet.COLUMN_NAMES) + "\r\n").encode()
    with pytest.raises(ImportRejected) as info:
        import_file(demo_conn, partners_sheet, tmp_path / "modele.xlsx")
    assert "aucune ligne de données" in info.value.report.rejected[0].message


def test_template_is_served(client):
    response = client.get("/modeles/partenaires.xlsx")
    assert response.status_code == 200 and response.data[:2] == b"PK"
    assert "attachment" in response.headers["Content-Disposition"]
    csv_response = client.get("/modeles/partenaires.csv")
    assert csv_response.data.decode("utf-8-sig").startswith("identifiant;type;nom;")
    assert client.get("/modeles/partenaires.ods").status_code == 404


def test_self_intersecting_polygon_is_repaired_with_a_warning(demo_conn, tmp_path):
    bowtie = {"type": "Polygon", "coordinates": [[[2.47, 48.89], [2.49, 48.91], [2.49, 48.89], [2.47, 48.91], [2.47, 48.89]]]}
    poly = polygon_file(tmp_path / "poly.geojson", [{"type": "Feature", "properties": {"identifiant": "t:clsm"},
                                                     "geometry": bowtie}])
    report = import_file(demo_conn, partners_sheet, write_csv(tmp_path / "p.csv", [CLSM]), polygons=poly)
    assert report.created == 1
    assert [str(w) for w in report.warnings] == ["ligne 1 · poly.geojson · geometry : polygone n° 1 (t:clsm) invalide, réparé"]


def test_polygon_file_without_crs_is_refused(demo_conn, tmp_path):
    import warnings

    import geopandas as gpd
    from shapely.geometry import box

    with warnings.catch_warnings():  # no CRS on purpose; "identifiant" truncated to "identifian"
        warnings.simplefilter("ignore")
        gpd.GeoDataFrame({"identifiant": ["t:clsm"]}, geometry=[box(2.45, 48.88, 2.52, 48.90)]).to_file(tmp_path / "poly.shp")
    with pytest.raises(ImportRejected) as info:
        import_file(demo_conn, partners_sheet, write_csv(tmp_path / "p.csv", [CLSM]), polygons=tmp_path / "poly.shp")
    assert "poly.shp ne déclare pas de système de coordonnées" in info.value.report.rejected[0].message


def test_home_page_links_to_the_templates(client):
    page = client.get("/").data.decode()
    assert 'href="/modeles/partenaires.xlsx"' in page and 'href="/modeles/partenaires.csv"' in page
    assert page.count("Transmettre vos partenaires") == 1 and "<title>Qui contacter ?" in page


def test_reading_a_workbook_with_its_landlords_writes_nothing(demo_conn, tmp_path):
    """`read` is pure: a partner reserved to a landlord of the workbook's `Bailleurs` sheet is
    valid before anything is written (read used to upsert the landlords in a savepoint it rolled
    back; importers.base.run now refuses a read that writes)."""
    from app.db import session_wrote
    from importers.base import Report

    add_rich_partner(demo_conn)
    export(demo_conn, tmp_path / "a.xlsx")
    delete_all_partners(demo_conn, landlords=True)
    with session_of(demo_conn) as session:
        report = Report(source=partners_sheet.NAME)
        batch = partners_sheet.read(tmp_path / "a.xlsx", report=report, session=session,
                                    polygons=tmp_path / "a-polygones.geojson")
        assert report.ok, [str(p) for p in report.rejected]
        assert not session_wrote(session)
        assert session.get(Landlord, "test-bailleur") is None
    assert "test-bailleur" in [landlord["code"] for landlord in batch.landlords]
    assert import_file(demo_conn, partners_sheet, tmp_path / "a.xlsx", polygons=tmp_path / "a-polygones.geojson").created
