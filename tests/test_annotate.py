"""Annotating an address file (app/annotate, `maillage annotate`): reading CSV and XLSX as landlords
send them, refusing bad files with nothing written, per-row answers equal to single lookups, the
workbook's sheets, CSV safe against formula injection, privacy — on both backends."""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import random
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from app import db, geocoding
from app.annotate import annotate, reading, rows
from app.annotate.writing import safe_cell
from app.cli import main
from app.config import load_settings
from app.errors import InvalidInput
from app.lookup import parse_options
from app.lookup.address import lookup_address
from tests.conftest import make_engine, shared

TENANT = "Dupont-Locataire Jeanne"
TODAY = dt.date(2026, 11, 28)


def ban_sample(n: int, seed: int = 3) -> list[dict]:
    with shared("ban-adresses-93010-bondy.csv").open(encoding="utf-8", newline="") as fh:
        all_rows = list(csv.DictReader(fh, delimiter=";"))
    return random.Random(seed).sample(all_rows, n)


def write_csv(path: Path, header: list[str], data: list[list], *, encoding="utf-8", delimiter=";") -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(data)
    return path


def landlord_file(path: Path, n: int = 60, *, encoding="cp1252") -> Path:
    """Split columns, a tenant's name, an agency, a building; then the rows a landlord gets wrong."""
    data = []
    for i, r in enumerate(ban_sample(n)):
        data.append([f"L{i:04d}", TENANT, "Agence Nord" if i % 2 else "Agence Sud", f"Bât {i % 3}",
                     r["numero"] + r["rep"], r["nom_voie"], r["code_postal"], r["nom_commune"]])
    data.append(["L9001", TENANT, "Agence Sud", "Bât 0", "", "", "", ""])  # empty address
    data.append(["L9002", TENANT, "Agence Sud", "Bât 0", "3", "rue de la République", "", ""])  # ambiguous
    data.append(["L9003", TENANT, "Agence Sud", "Bât 0", "12", "impasse des Songes Creux", "93140", "Bondy"])
    return write_csv(path, ["Réf. logement", "Nom du locataire", "Agence", "Bâtiment", "N°", "Voie", "Code postal",
                            "Ville"], data, encoding=encoding)


@pytest.fixture(scope="module")
def geo(geo_url):
    engine = make_engine(geo_url)
    settings = load_settings({"DATABASE_URL": geo_url})
    yield engine, geocoding.from_settings(settings), geo_url
    engine.dispose()


def _sheet(path: Path, name: str) -> list[list]:
    wb = openpyxl.load_workbook(path, read_only=True)
    out = [list(r) for r in wb[name].iter_rows(values_only=True)]
    wb.close()
    return out


def _dicts(table: list[list]) -> list[dict]:
    width = len(table[0])
    return [dict(zip(table[0], r + [None] * (width - len(r)))) for r in table[1:]]


# --------------------------------------------------------------------------------------------- reading


def test_columns_are_recognised_by_their_names():
    cols = reading.detect_columns(["Réf. logement", "Nom du locataire", "Agence", "N°", "Voie", "CP", "Ville", "Tél"])
    assert (cols.number, cols.street, cols.postcode, cols.city, cols.id) == ("N°", "Voie", "CP", "Ville", "Réf. logement")
    assert cols.groups == ("Agence",)
    assert "Nom du locataire" not in cols.used() and "Tél" not in cols.used()
    one = reading.detect_columns(["Identifiant", "Adresse complète", "Programme"])
    assert (one.address, one.id, one.groups, one.street) == ("Adresse complète", "Identifiant", ("Programme",), None)


@pytest.mark.parametrize("encoding,label", [("utf-8-sig", "UTF-8"), ("utf-8", "UTF-8"), ("cp1252", "Windows-1252"),
                                            ("utf-16", "UTF-16")])
@pytest.mark.parametrize("delimiter", [";", ",", "\t", "|"])
def test_csv_encoding_and_delimiter_are_detected_and_reported(tmp_path, encoding, label, delimiter):
    path = write_csv(tmp_path / "f.csv", ["Identifiant", "Adresse", "Commune"],
                     [["A1", "12 rue de l'Église", "Bondy"], ["A2", "3 allée Évariste Galois, bât B", "Bondy"],
                      ["A3", "5 avenue Gallieni", "Bondy"]], encoding=encoding, delimiter=delimiter)
    source = reading.open_source(path, max_rows=10)
    assert source.encoding in (label, "ISO-8859-1", "ISO-8859-15") if encoding == "cp1252" else source.encoding == label
    assert source.delimiter == delimiter and source.row_count == 3
    cols = reading.detect_columns(source.header)
    got = [cells for _line, cells in source.rows(cols)]
    assert got[0]["address"] == "12 rue de l'Église" and got[1]["address"] == "3 allée Évariste Galois, bât B"
    assert "point-virgule" in source.describe() if delimiter == ";" else True


def test_a_one_column_file_and_an_xlsx_with_numbers(tmp_path):
    path = tmp_path / "une.csv"
    path.write_text("adresse\n12 rue de la Paix, 93140 Bondy\n3 rue Roger Salengro Bondy\n", encoding="utf-8")
    source = reading.open_source(path, max_rows=10)
    assert source.delimiter is None and source.row_count == 2
    assert [c["address"] for _l, c in source.rows(reading.detect_columns(source.header))][0] == "12 rue de la Paix, 93140 Bondy"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Patrimoine"
    ws.append(["Code", "Numéro", "Rue", "Code postal", "Commune", "Locataire"])
    ws.append([1042, 12, "rue de la Paix", 93140, "Bondy", TENANT])
    ws.append([None, None, None, None, None, None])
    ws.append([1043, 7, "rue Pasteur", 1400, "Châtillon", TENANT])
    wb.save(tmp_path / "p.xlsx")
    source = reading.open_source(tmp_path / "p.xlsx", max_rows=10)
    assert (source.format, source.sheet, source.row_count) == ("xlsx", "Patrimoine", 2)
    got = list(source.rows(reading.detect_columns(source.header)))
    assert got[0] == (2, {"id": "1042", "number": "12", "street": "rue de la Paix", "postcode": "93140", "city": "Bondy",
                          "groups": ()})
    assert got[1][0] == 4 and got[1][1]["postcode"] == "01400"  # the zero a spreadsheet dropped
    assert all(TENANT not in str(cells) for _l, cells in got)


def _xlsx_bytes() -> bytes:
    wb = openpyxl.Workbook()
    wb.active.append(["Adresse"])
    wb.active.append(["12 rue de la Paix Bondy"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


BAD_FILES = [
    ("empty.csv", b"", "vide"),
    ("blank.csv", b"\n\n  \n", "vide"),
    ("header-only.csv", b"Adresse;Commune\n", "aucune ligne de données"),
    ("binary.csv", b"Adresse;Commune\n\x00\x01\x02\x03\xff\xfe" * 20, "pas un fichier texte"),
    ("delimiters.csv", b"Adresse;Commune,Code\n12 rue;Bondy;x;y\n3,rue,de,la,Paix\nz|w\n", "séparateur de colonnes non reconnu"),
    ("extra.csv", ("Adresse;Commune\n" + "12 rue de la Paix;Bondy\n" * 20 + "5 rue X;Bondy;Jean Dupont;06\n").encode(),
     "ligne 22 : 4 valeurs"),
    ("broken.xlsx", _xlsx_bytes()[:700], "classeur illisible"),
    ("text.xlsx", b"Adresse\n12 rue de la Paix\n", "classeur illisible"),
    ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "format .xls"),
    ("plan.pdf", b"%PDF-1.4", "extension"),
]


@pytest.mark.parametrize("name,content,message", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_files_are_refused_with_a_french_message(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InvalidInput) as exc:
        reading.open_source(path, max_rows=10)
    assert message in exc.value.message
    assert exc.value.code in ("invalid-file",)


def test_wrong_encoding_is_refused(tmp_path):
    # EBCDIC is no encoding a landlord's tool writes: refused, not read as mojibake
    path = tmp_path / "ebcdic.csv"
    path.write_bytes("Adresse;Commune\n12 rue de l'Église;Bondy\n".encode("cp500"))
    with pytest.raises(InvalidInput) as exc:
        reading.open_source(path, max_rows=10)
    assert "encodage" in exc.value.message or "séparateur" in exc.value.message or "contrôle" in exc.value.message


def test_over_the_cap_and_no_address_column(tmp_path):
    path = write_csv(tmp_path / "f.csv", ["Adresse"], [[f"{i} rue de la Paix Bondy"] for i in range(1, 12)])
    with pytest.raises(InvalidInput) as exc:
        reading.open_source(path, max_rows=10)
    assert exc.value.code == "too-many-rows" and "11 lignes" in exc.value.message and "Rien n'a été traité" in exc.value.message
    assert reading.open_source(path, max_rows=11).row_count == 11
    path = write_csv(tmp_path / "g.csv", ["Locataire", "Téléphone"], [[TENANT, "0600000000"]])
    source = reading.open_source(path, max_rows=10)
    with pytest.raises(InvalidInput) as exc:
        reading.check_columns(reading.detect_columns(source.header), source.header)
    assert exc.value.code == "missing-column" and "Aucune colonne d'adresse" in exc.value.message
    assert TENANT not in exc.value.message


def test_formula_cells_are_neutralised():
    for value in ("=HYPERLINK(\"http://x\")", "+33 1 00", "-2+3", "@SUM(A1)", "\t=1"):
        assert safe_cell(value).startswith("'")
    assert safe_cell("12 rue de la Paix") == "12 rue de la Paix" and safe_cell(12) == 12


# --------------------------------------------------------------------------------------------- database


@pytest.mark.db
def test_every_row_gets_the_answer_of_a_single_lookup(geo, tmp_path):
    engine, geocoder, _url = geo
    source = reading.open_source(landlord_file(tmp_path / "stock.csv", 80), max_rows=1000)
    columns = reading.detect_columns(source.header)
    with db.read_session_factory(engine)() as session:
        options = parse_options(session, today=TODAY)
        seen = 0
        for row in rows(session, geocoder, source, columns, options, chunk=25):
            if row.status in ("empty", "invalid"):
                assert row.answer is None
                continue
            single = lookup_address(session, geocoder, row.address, options)
            assert single["geocoding"]["status"] == row.status
            assert row.answer == single["lookup"], row.line
            seen += 1
    assert seen == 82


@pytest.mark.db
def test_the_workbook_rows_check_sheet_and_summary(geo, tmp_path):
    engine, geocoder, _url = geo
    source = reading.open_source(landlord_file(tmp_path / "stock.csv", 40), max_rows=1000)
    columns = reading.detect_columns(source.header)
    out = tmp_path / "annote.xlsx"
    with db.read_session_factory(engine)() as session:
        options = parse_options(session, today=TODAY, kinds="clsm,secteur_psy_adulte,cmp")
        result = annotate(session, geocoder, source, columns, options, out, gpkg=tmp_path / "points.gpkg")
    assert result["rows"] == 43 and result["empty"] == 1 and result["ambiguous"] == 1
    wb = openpyxl.load_workbook(out, read_only=True)
    assert wb.sheetnames == ["Synthèse", "Logements", "À vérifier"]
    wb.close()
    main_rows = _dicts(_sheet(out, "Logements"))
    assert len(main_rows) == 43
    first = main_rows[0]
    assert first["Ligne"] == 2 and first["Identifiant"] == "L0000" and first["Agence"] == "Agence Sud"
    assert first["Résultat"] in ("trouvée", "à confirmer") and first["Précision"] == "numéro" and first["Score"] == 1
    assert first["CLSM : structures"] == "CLSM de Bondy (démo)" and first["CLSM : téléphone"]
    assert first["CLSM : partie couvrante"] == "Commune : Bondy"
    assert first["Secteur adulte : structures"].startswith("Secteur de psychiatrie adulte 93G1")
    assert first["Secteur adulte : CMP du secteur"]
    assert first["CMP : distance"].startswith("à ")
    north = [r for r in main_rows if r["Latitude"] and r["Latitude"] > 48.9035 + 0.001]
    assert north and all("93G10" in r["Secteur adulte : structures"] for r in north)
    near = [r for r in main_rows if r["Latitude"] and abs(r["Latitude"] - 48.9035) < 0.0002]
    assert all(r["À confirmer"].startswith("oui") for r in near)
    # nothing of the tenant's column anywhere in the workbook
    with zipfile.ZipFile(out) as z:
        assert not any(TENANT.encode() in z.read(n) for n in z.namelist())
    check = _dicts(_sheet(out, "À vérifier"))
    by_id = {r["Identifiant"]: r for r in check}
    assert set(by_id) >= {"L9001", "L9002", "L9003"}
    assert by_id["L9001"]["Problème"] == "Adresse vide."
    assert "ambiguë" in by_id["L9002"]["Problème"] and "République" in by_id["L9002"]["Proposition 1"]
    assert by_id["L9002"]["Proposition 2"] and by_id["L9002"]["Score 1"] > 0
    assert by_id["L9003"]["Précision 1"] == "commune"
    summary = _sheet(out, "Synthèse")
    flat = [r for r in summary if r and r[0] is not None]
    assert ["Lignes", 43] == flat[7][:2]
    header_at = next(i for i, r in enumerate(summary) if r and r[0] == "Regroupement")
    table = _dicts(summary[header_at:])
    total = next(r for r in table if r["Regroupement"] == "Ensemble")
    assert total["Logements"] == 43 and total["Localisés"] == 41
    communes = [r for r in table if r["Regroupement"] == "Commune"]
    assert sum(r["Logements"] for r in communes) == 43
    assert next(r for r in communes if r["Valeur"] == "(non localisé)")["Logements"] == 2
    bondy = next(r for r in communes if r["Valeur"] == "Bondy (93010)")
    in_bondy = sum(1 for r in main_rows if r["Commune"] == "Bondy")
    assert bondy["Logements"] == in_bondy >= 35
    assert bondy["CLSM : logements par structure"] == f"CLSM de Bondy (démo) ({in_bondy})"
    assert bondy["CLSM : sans structure"] == 0
    outside = [r for r in communes if r["Valeur"] not in ("Bondy (93010)", "(non localisé)")]
    assert all(r["CLSM : sans structure"] == r["Localisés"] for r in outside)  # the demo has Bondy's CLSM only
    agencies = [r for r in table if r["Regroupement"] == "Agence"]
    assert sorted(r["Valeur"] for r in agencies) == ["Agence Nord", "Agence Sud"]
    assert sum(r["Logements"] for r in agencies) == 43
    buildings = [r for r in table if r["Regroupement"] == "Bâtiment"]
    assert len(buildings) == 3
    per_partner = {(r[0], r[1]): r[2] for r in summary if r and len(r) > 2 and r[0] and str(r[0]).startswith("Conseil")}
    assert per_partner[("Conseil local de santé mentale (CLSM)", "CLSM de Bondy (démo)")] == in_bondy
    # the GeoPackage of the points, for QGIS
    from app.exchange.gis_files import read_file

    points = read_file(tmp_path / "points.gpkg")
    assert len(points) == 41 and points.crs.to_epsg() == 4326 and "Identifiant" in points.columns


@pytest.mark.db
def test_cli_annotates_to_csv_without_formulas_and_refuses_bad_input(geo, tmp_path):
    _engine, _geocoder, url = geo
    sample = ban_sample(5)
    path = write_csv(tmp_path / "f.csv", ["Identifiant", "Adresse", "Locataire"],
                     [["=HYPERLINK(\"http://evil\")", f"{r['numero']} {r['nom_voie']} {r['code_postal']} Bondy", TENANT]
                      for r in sample] + [["-1", "+33 rue", TENANT]])
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(main, ["--database-url", url, "annotate", str(path), "--out", str(out), "--kinds",
                                       "clsm,dac", "--as-of", "2026-11-28", "--yes"])
    assert result.exit_code == 0, result.output
    assert "6 lignes : 5 adresses trouvées" in result.output
    text = out.read_text(encoding="utf-8-sig")
    assert TENANT not in text
    table = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert table[0][:3] == ["Ligne", "Identifiant", "Adresse du fichier"]
    assert table[1][1] == "'=HYPERLINK(\"http://evil\")" and table[6][1] == "'-1" and table[6][2] == "'+33 rue"
    assert all(not cell.startswith(("=", "+", "-", "@")) for line in table for cell in line)
    assert dict(zip(table[0], table[1]))["Score"] == "1,00"  # a French decimal comma
    check = (tmp_path / "out-a-verifier.csv").read_text(encoding="utf-8-sig")
    assert "'+33 rue" in check and TENANT not in check
    assert (tmp_path / "out-synthese.csv").exists()
    # bad input: a clear message, exit 1, nothing written
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"Adresse;Commune\n\x00\x00\x00")
    for args, message in (([str(bad), "--out", str(tmp_path / "x.xlsx")], "pas un fichier texte"),
                          ([str(path), "--out", str(tmp_path / "x.xlsx"), "--max-rows", "3"], "6 lignes"),
                          ([str(path), "--out", str(tmp_path / "x.xlsx"), "--address-column", "Nom"], "absente"),
                          ([str(path), "--out", str(tmp_path / "x.pdf")], "extension .xlsx ou .csv"),
                          ([str(path), "--out", str(tmp_path / "x.xlsx"), "--kinds", "zzz"], "inconnu")):
        result = CliRunner().invoke(main, ["--database-url", url, "annotate", *args, "--yes"])
        assert result.exit_code == 1 and message in result.output, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "f.csv", "out-a-verifier.csv", "out-synthese.csv",
                                                          "out.csv"]


@pytest.mark.db
def test_no_address_is_logged_and_an_error_leaves_no_file(geo, tmp_path, caplog):
    engine, geocoder, _url = geo
    source = reading.open_source(landlord_file(tmp_path / "stock.csv", 20), max_rows=1000)
    columns = reading.detect_columns(source.header)
    out = tmp_path / "out.xlsx"
    caplog.set_level(logging.DEBUG)
    with db.read_session_factory(engine)() as session:
        options = parse_options(session, today=TODAY)
        annotate(session, geocoder, source, columns, options, out)

        def boom(n=1, total=None):
            if total is None:
                raise RuntimeError("interrupted")

        with pytest.raises(RuntimeError):
            annotate(session, geocoder, source, columns, options, tmp_path / "second.xlsx", progress=boom)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for _line, cells in source.rows(columns):
        if cells["street"]:
            assert cells["street"] not in logged
    assert TENANT not in logged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.xlsx", "stock.csv"]
    from openpyxl.worksheet._writer import ALL_TEMP_FILES

    assert not [p for p in ALL_TEMP_FILES if Path(p).exists()]  # no rows left in openpyxl's temporary files


# A sector union (bench/generate_partners.py) clipped near the Bondy / Noisy-le-Sec boundary, and
# Bondy's contour: clip_by_rect leaves a ring GEOS cannot intersect ("Ring edge missing"); the
# lookup by address crashed on every address placed at the commune there.
CLIPPED_SECTOR = "MULTIPOLYGON (((2.4509485108106484 48.87759338002073, 2.4517630276684743 48.878483601273125, 2.4649943931445684 48.87809338002073, 2.466727435071039 48.87759338002073, 2.4509485108106484 48.87759338002073)), ((2.438472707708249 48.897884348090614, 2.438472707708249 48.90590886768849, 2.4708460068881006 48.90590886768849, 2.4701399241630497 48.90501864643609, 2.462054089705436 48.905408867688486, 2.4616130441895665 48.90218954235621, 2.441765995975425 48.898482440458444, 2.438472707708249 48.897884348090614)))"
COMMUNE_REGION = "MULTIPOLYGON (((2.441765995975425 48.898482440458444, 2.4616130441895665 48.90218954235621, 2.462054089705436 48.905408867688486, 2.4701399241630497 48.90501864643609, 2.4691108179593533 48.89955554890253, 2.4746973944937043 48.898189774519146, 2.4713160455387024 48.88911713040093, 2.47660859172914 48.88872690914853, 2.4754324703534873 48.886288026321054, 2.470286939335006 48.886775802886554, 2.4649943931445684 48.87809338002073, 2.4517630276684743 48.878483601273125, 2.449410784917168 48.878678711899326, 2.4541152704197797 48.88433692005907, 2.4485286938854287 48.886775802886554, 2.443236147694991 48.882873590362586, 2.440442859427815 48.88462958599837, 2.444706299414557 48.88823913258304, 2.444412269070644 48.89077557072362, 2.438972707708249 48.893214453551096, 2.441765995975425 48.898482440458444)))"


def test_the_uncertainty_overlap_survives_an_invalid_clip():
    import shapely
    from shapely import wkt

    from app.lookup.uncertainty import _overlap

    shape, region = wkt.loads(CLIPPED_SECTOR), wkt.loads(COMMUNE_REGION)
    with pytest.raises(shapely.errors.GEOSException):
        shapely.clip_by_rect(shape, *region.bounds).intersection(region)
    assert _overlap(shape, region) == pytest.approx(shape.intersection(region).area)
