"""Geocoding: BAN import, the offline geocoder on real Bondy addresses, the commune fallback, the
lookup by address with its "à confirmer" flags, the API and the CLI — on both backends."""

from __future__ import annotations

import csv
import gzip

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text

from app.cli import main
from app.db import transaction
from app.errors import InvalidInput
from app.geocoding import Geocoder, GeocoderSettings
from app.models import Address
from importers import ban
from importers.base import ImportRejected, run
from tests.conftest import make_engine, shared

BONDY_BAN = "ban-adresses-93010-bondy.csv"
BOUNDARY_LAT = 48.9035  # the demo's "Bondy nord" polygon: the part of Bondy north of this latitude


def ban_rows():
    with shared(BONDY_BAN).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter=";"))


@pytest.fixture(scope="session")
def geo_engine(geo_url):
    engine = make_engine(geo_url)
    yield engine
    engine.dispose()


@pytest.fixture
def geo_session(geo_engine):
    with transaction(geo_engine) as session:
        yield session


@pytest.fixture(scope="session")
def geo_app(geo_url):
    from app.web import create_app

    application = create_app({"DATABASE_URL": geo_url})
    yield application
    application.extensions["maillage"].engine.dispose()


GEOCODER = Geocoder(GeocoderSettings())


def best(session, q, **kw):
    result = GEOCODER.search(session, q, **kw)
    return result, result.best


# --------------------------------------------------------------------------------------------- import


def count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(Address)).scalar()


def test_ban_import_is_idempotent_and_a_file_replaces_its_communes(empty_engine, tmp_path):
    rows = ban_rows()
    report = run(empty_engine, "ban", ban.read, ban.load, [shared(BONDY_BAN)])
    assert (report.created, report.updated, report.deleted) == (8413, 0, 0)
    with empty_engine.connect() as conn:
        version = conn.execute(text("SELECT value FROM meta WHERE key = 'address_version'")).scalar()
    again = run(empty_engine, "ban", ban.read, ban.load, [shared(BONDY_BAN)])
    assert (again.created, again.updated, again.unchanged, again.changed) == (0, 0, 8413, False)
    assert "aucun changement" in again.summary()
    with empty_engine.connect() as conn:
        assert conn.execute(text("SELECT value FROM meta WHERE key = 'address_version'")).scalar() == version

    # A newer file: one address gone, one moved, gzipped like the official downloads.
    moved_id = rows[1]["id"]
    rows[1]["lat"] = str(float(rows[1]["lat"]) + 0.0001)
    gone_id = rows.pop(0)["id"]
    newer = tmp_path / "adresses-93010.csv.gz"
    with gzip.open(newer, "wt", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=";")
        writer.writeheader()
        writer.writerows(rows)
    report = run(empty_engine, "ban", ban.read, ban.load, [newer])
    assert (report.created, report.updated, report.deleted) == (0, 1, 1)
    assert "1 supprimé" in report.summary()
    with empty_engine.connect() as conn:
        ids = set(conn.execute(select(Address.id)).scalars())
        lat = conn.execute(select(Address.lat).where(Address.id == moved_id)).scalar()
    assert gone_id not in ids and len(ids) == 8412
    assert lat == pytest.approx(float(rows[0]["lat"]), abs=1e-7)
    with transaction(empty_engine) as session:  # leave the shared empty database empty
        session.execute(text("DELETE FROM address"))


def _write(path, content: bytes):
    path.write_bytes(content)
    return path


HEADER = "id;id_fantoir;numero;rep;nom_voie;code_postal;code_insee;nom_commune;lon;lat\n"
GOOD = "93010_x_00001;;1;;Rue de l'Égalité;93140;93010;Bondy;2.47;48.89\n"


@pytest.mark.parametrize("content, expected", [
    (HEADER.replace(";", ",") + GOOD.replace(";", ","), "séparateur « , » détecté"),
    ((HEADER + GOOD).encode("latin-1"), "n'est pas en UTF-8 (octet invalide ligne 2)"),
    ("id;numero;nom_voie;code_insee;lon;lat\n93010_x;1;Rue X;93010;2.4;48.9\n", "colonnes manquantes rep, code_postal, nom_commune"),
    (HEADER + GOOD + "93010_x_00002;;abc;;Rue X;93140;93010;Bondy;2.47;48.89\n", "ligne 3 · numero : numéro invalide « abc »"),
    (HEADER + GOOD + "93010_x_00003;;2;;Rue X;93140;93010;Bondy;662524.1;6866064.08\n", "ligne 3 · lon/lat : coordonnées hors limites"),
    (HEADER + GOOD + GOOD, "ligne 3 · id : identifiant 93010_x_00001 en double"),
    (HEADER + GOOD + "93010_x_00004;;3;;Rue X;93140;9301;Bondy;2.47;48.89\n", "ligne 3 · code_insee : code INSEE invalide « 9301 »"),
    (b"\x89PNG\r\n\x1a\n\x00\x00binary", "octets binaires"),
    ("", "vide"),
], ids=["comma", "latin1", "columns", "numero", "lambert", "duplicate", "insee", "binary", "empty"])
def test_broken_ban_files_are_refused_whole(empty_engine, tmp_path, content, expected):
    path = _write(tmp_path / "adresses.csv", content if isinstance(content, bytes) else content.encode("utf-8"))
    with pytest.raises(ImportRejected) as exc:
        run(empty_engine, "ban", ban.read, ban.load, [path])
    problems = "\n".join(str(p) for p in exc.value.report.rejected)
    assert expected in problems
    assert count(empty_engine) == 0  # the good line was not loaded either


def test_cli_imports_several_ban_files_in_one_transaction(empty_url, tmp_path):
    good = _write(tmp_path / "a.csv", (HEADER + GOOD).encode())
    bad = _write(tmp_path / "b.csv", (HEADER + "93010_y;;x;;Rue;93140;93010;Bondy;2.4;48.9\n").encode())
    result = CliRunner().invoke(main, ["--database-url", empty_url, "import", "ban", str(good), str(bad)])
    assert result.exit_code == 1
    assert "b.csv ligne 2 · numero" in result.output
    assert count(make_engine(empty_url)) == 0
    result = CliRunner().invoke(main, ["--database-url", empty_url, "import", "populations", str(good), str(bad)])
    assert result.exit_code != 0 and "un seul FICHIER" in result.output


# --------------------------------------------------------------------------------------------- geocoder


@pytest.mark.parametrize("query, ban_id", [
    ("12 av J. Jaurès Bondy", "93010_4740_00012"),  # wrong street type, initial, accent
    ("Appt 12 bât B 5 rue de l'Égalité 93140", "93010_3121_00005"),  # flat noise, postcode only
    ("5 RUE DE L EGALITE BONDY", "93010_3121_00005"),  # case, no apostrophe
    ("Résidence Les Lilas, 5 r. de l'Égalité 93140 Bondy CEDEX", "93010_3121_00005"),
    ("2e étage 5 rue de legalite 93140", "93010_3121_00005"),  # glued article
    ("5 rue de l'egalitee bondi", "93010_3121_00005"),  # typos in street and commune
    ("1 allee marguerite duras", "93010_i7xf1o_00001"),
])
def test_noisy_addresses_find_the_right_ban_address(geo_session, query, ban_id):
    result, found = best(geo_session, query)
    assert result.status == "found", (result.status, [c.label for c in result.candidates])
    assert found.id == ban_id and found.level == "housenumber"
    assert 0.5 <= found.score <= 1


def test_repetition_index_is_kept_or_reported(geo_session):
    rows = [r for r in ban_rows() if r["rep"] == "bis"]
    row = rows[0]
    _, found = best(geo_session, f"{row['numero']} bis {row['nom_voie']} Bondy")
    assert found.id == row["id"] and found.housenumber == f"{row['numero']} bis"
    _, found = best(geo_session, f"{row['numero']}ter {row['nom_voie']} Bondy")
    assert found.level == "housenumber" and "introuvable" in found.note  # the number, not a made-up "ter"


def test_unknown_number_falls_back_to_the_street_and_says_so(geo_session):
    result, found = best(geo_session, "999 rue de l'Égalité Bondy")
    assert found.level == "street" and found.street == "Rue de l’Egalité"
    assert "999" in found.note and found.extent  # the street's addresses, for the coverage flags


def test_ambiguous_input_returns_candidates_instead_of_guessing(geo_session):
    result = GEOCODER.search(geo_session, "république bondy")
    assert result.status == "ambiguous" and result.best is None
    labels = [c.label for c in result.candidates]
    assert sum("République" in label for label in labels) >= 2


def test_commune_fallback_postcode_insee_code_and_name(geo_session):
    for q in ("93140", "93010", "Bondy", "93140 BONDY"):
        result, found = best(geo_session, q)
        assert found.level == "municipality" and found.code_insee == "93010", q
    # A street we do not know in a commune we know: the commune, said to be approximate.
    result, found = best(geo_session, "10 rue de Rivoli 75001 Paris")
    assert found.level == "municipality" and found.code_insee == "75101"
    assert "position approchée à la commune" in result.message


@pytest.mark.parametrize("query", ["zzzz qqq", "99999 rue imaginaire", "'; DROP TABLE address; --", "<script>alert(1)</script>"])
def test_unknown_addresses_are_not_found(geo_session, query):
    result = GEOCODER.search(geo_session, query)
    assert result.status == "not_found" and result.best is None
    assert result.message.startswith("Adresse non trouvée")
    assert geo_session.execute(select(func.count()).select_from(Address)).scalar() == 8413


@pytest.mark.parametrize("query, code", [("", "empty-address"), ("   ", "empty-address"),
                                         ("x" * 201, "address-too-long"), ("5 rue\x00 X", "invalid-address"),
                                         ("\x01\x02\x03", "invalid-address")])
def test_unusable_input_is_refused_with_a_reason(geo_session, query, code):
    with pytest.raises(InvalidInput) as exc:
        GEOCODER.search(geo_session, query)
    assert exc.value.code == code


def test_autocomplete_completes_the_last_word(geo_session):
    result = GEOCODER.search(geo_session, "5 rue de l'Ega", autocomplete=True)
    assert result.candidates[0].id == "93010_3121_00005"
    # Without autocomplete "ega" is a word of its own, too far from "egalite" to be trusted alone.
    strict = GEOCODER.search(geo_session, "5 rue de l'Ega", autocomplete=False)
    assert strict.best is None or strict.best.id != "93010_3121_00005"


# --------------------------------------------------------------------------------------------- lookup by address


def _metres_from_boundary(lat: float) -> float:
    return abs(lat - BOUNDARY_LAT) * 111_000


def _address(predicate):
    for row in ban_rows():
        if not row["rep"] and predicate(float(row["lat"])):
            return row
    raise AssertionError("no such address in the BAN file")


def _sector(answer):
    return next(k for k in answer["kinds"] if k["kind"] == "secteur_psy_adulte")


def test_address_far_from_any_boundary_is_sure(geo_app):
    row = _address(lambda lat: lat > BOUNDARY_LAT + 0.004)
    r = geo_app.test_client().get("/api/v1/lookup", query_string={"address": f"{row['numero']} {row['nom_voie']} 93140 Bondy"})
    body = r.get_json()
    assert r.status_code == 200 and body["geocoding"]["status"] == "found"
    assert body["geocoding"]["best"]["id"] == row["id"]
    sector = _sector(body["lookup"])
    assert [p["partner"]["ref"] for p in sector["partners"]] == ["demo:secteur-93g10"]
    assert sector["to_confirm"] is None and body["lookup"]["confidence"]["status"] == "sure"


def test_address_near_a_sector_boundary_is_flagged_with_the_alternative(geo_app):
    row = _address(lambda lat: _metres_from_boundary(lat) < 20)
    r = geo_app.test_client().get("/api/v1/lookup", query_string={"address": f"{row['numero']} {row['nom_voie']} Bondy"})
    body = r.get_json()
    assert body["geocoding"]["best"]["id"] == row["id"]
    sector = _sector(body["lookup"])
    flag = sector["to_confirm"]
    assert flag["reason"] == "near-boundary" and flag["message"].startswith("À confirmer")
    at_point = {p["partner"]["ref"] for p in sector["partners"]}
    alternatives = {a["partner"]["ref"] for a in flag["alternatives"]}
    assert at_point | alternatives == {"demo:secteur-93g10", "demo:secteur-93g11"} and not at_point & alternatives
    # Kinds that do not change there are not flagged (the CLSM covers all of Bondy).
    clsm = next(k for k in body["lookup"]["kinds"] if k["kind"] == "clsm")
    assert clsm["to_confirm"] is None
    assert body["lookup"]["confidence"]["status"] == "to_confirm"


def test_street_level_match_on_a_street_crossing_the_boundary_is_flagged(geo_app):
    by_street = {}
    for row in ban_rows():
        by_street.setdefault(row["nom_voie"], []).append(float(row["lat"]))
    street = next(name for name, lats in sorted(by_street.items())
                  if min(lats) < BOUNDARY_LAT - 0.002 and max(lats) > BOUNDARY_LAT + 0.002)
    body = geo_app.test_client().get("/api/v1/lookup", query_string={"address": f"{street} 93140 Bondy"}).get_json()
    assert body["geocoding"]["best"]["level"] == "street"
    flag = _sector(body["lookup"])["to_confirm"]
    assert flag["reason"] == "approximate-match" and "voie seulement" in flag["message"]


def test_commune_level_match_flags_what_varies_in_the_commune(geo_app):
    body = geo_app.test_client().get("/api/v1/lookup", query_string={"address": "93140"}).get_json()
    assert body["geocoding"]["best"]["level"] == "municipality"
    assert _sector(body["lookup"])["to_confirm"]["reason"] == "approximate-match"
    clsm = next(k for k in body["lookup"]["kinds"] if k["kind"] == "clsm")
    assert clsm["to_confirm"] is None  # the CLSM covers the whole commune


def test_ambiguous_or_unknown_address_gives_candidates_and_no_answer(geo_app):
    client = geo_app.test_client()
    body = client.get("/api/v1/lookup", query_string={"address": "république bondy"}).get_json()
    assert body["geocoding"]["status"] == "ambiguous" and body["lookup"] is None
    assert len(body["geocoding"]["candidates"]) >= 2
    body = client.get("/api/v1/lookup", query_string={"address": "zzzz qqq"}).get_json()
    assert body["geocoding"]["status"] == "not_found" and body["lookup"] is None


def test_lookup_address_and_coordinates_are_exclusive(geo_app):
    r = geo_app.test_client().get("/api/v1/lookup?address=Bondy&lon=2.4&lat=48.9")
    assert r.status_code == 400 and "pas les deux" in r.get_json()["detail"]


def test_geocode_endpoint_for_autocomplete(geo_app):
    client = geo_app.test_client()
    r = client.get("/api/v1/geocode", query_string={"q": "5 rue de l'Ega", "limit": 3})
    body = r.get_json()
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    assert body["candidates"][0]["label"] == "5 Rue de l’Egalité 93140 Bondy"
    assert body["candidates"][0]["level"] == "housenumber" and len(body["candidates"]) <= 3
    for params, code in [({"q": ""}, "empty-address"), ({"q": "x" * 300}, "address-too-long"),
                         ({"q": "Bondy", "limit": "0"}, "invalid-pagination"),
                         ({"q": "Bondy", "autocomplete": "yes"}, "invalid-input"),
                         ({"q": "Bondy", "foo": "1"}, "invalid-input")]:
        r = client.get("/api/v1/geocode", query_string=params)
        assert r.status_code == 400 and r.get_json()["code"] == code, params


def test_cli_lookup_and_geocode_by_address(geo_url):
    runner = CliRunner()
    result = runner.invoke(main, ["--database-url", geo_url, "lookup", "Appt 12 bât B 5 rue de l'Égalité 93140"])
    assert result.exit_code == 0, result.output
    assert "Adresse retenue : 5 Rue de l’Egalité 93140 Bondy (trouvée au numéro près, ressemblance " in result.output
    assert "Secteur de psychiatrie adulte" in result.output
    result = runner.invoke(main, ["--database-url", geo_url, "lookup", "république bondy"])
    assert result.exit_code == 3 and "ambiguë" in result.output
    result = runner.invoke(main, ["--database-url", geo_url, "geocode", "40 rue roger salengro bondi"])
    assert "Rue Roger Salengro 93140 Bondy" in result.output.splitlines()[0]
    result = runner.invoke(main, ["--database-url", geo_url, "lookup", "x", "--lon", "2.4", "--lat", "48.9"])
    assert result.exit_code == 2


# --------------------------------------------------------------------------------------------- privacy


def _all_text(engine) -> str:
    """Every text value of every table, to prove an address was not written anywhere."""
    from sqlalchemy import inspect

    chunks = []
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            if table.startswith(("idx_", "spatial", "geometry_columns", "sql", "virts", "views", "vector",
                                 "data_licenses", "KNN", "ElementaryGeometries", "SE_", "rl2", "wms", "topo",
                                 "network", "raster", "spatialite", "iso_", "SpatialIndex")):
                continue
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                chunks.extend(str(v) for v in row if isinstance(v, str))
    return "\n".join(chunks)


def test_looked_up_addresses_are_neither_stored_nor_logged(geo_app, geo_engine, caplog):
    import logging
    import threading

    import requests
    from werkzeug.serving import make_server

    secret = "17 rue imaginaire des Témoins Zq 93140 Bondy"
    server = make_server("127.0.0.1", 0, geo_app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with caplog.at_level(logging.DEBUG):
            for path in ("/api/v1/lookup", "/api/v1/geocode"):
                key = "address" if path.endswith("lookup") else "q"
                r = requests.get(f"http://127.0.0.1:{server.port}{path}", params={key: secret}, timeout=30)
                assert r.status_code == 200
    finally:
        server.shutdown()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "/api/v1/lookup?address=***" in logged and "/api/v1/geocode?q=***" in logged
    assert "imaginaire" not in logged and "Zq" not in logged
    assert "imaginaire" not in _all_text(geo_engine)


# --------------------------------------------------------------------------------------------- named commune


@pytest.mark.parametrize("query", ["Les Lilas", "lilas", "LILAS", "5 rue de Paris Les Lilas", "5 rue de Paris, Lilas"])
def test_the_commune_les_lilas_is_found_with_or_without_its_article(geo_session, query):
    result, found = best(geo_session, query)
    assert result.status == "found", (query, result.status, [c.label for c in result.candidates])
    assert (found.code_insee, found.level, found.city) == ("93045", "municipality", "Les Lilas")


@pytest.mark.parametrize("query", ["5 rue des Lilas Les Lilas", "5 rue des Lilas 93260", "12 rue de la République Les Lilas",
                                   "5 rue de l'Égalité, Les Lilas", "5 rue de l'Égalité 93260 Les Lilas"])
def test_a_street_missing_from_the_named_commune_is_not_answered_elsewhere(geo_session, query):
    """Bondy has an "Allée des Lilas" and a "Rue de l'Égalité", Les Lilas is named: the answer is
    Les Lilas at commune level, "à confirmer"; Bondy's streets are only suggestions."""
    result, found = best(geo_session, query)
    assert found is not None and (found.code_insee, found.level) == ("93045", "municipality"), \
        (query, [(c.label, c.score) for c in result.candidates])
    assert "à confirmer" in result.message
    elsewhere = [c for c in result.candidates if c.code_insee == "93010"]
    assert all(c.elsewhere and "pas dans la commune indiquée" in c.note for c in elsewhere)


def test_a_commune_name_ending_a_street_name_does_not_hide_the_street(geo_engine, tmp_path):
    """With the whole of France loaded, "1 allée Marguerite Duras" ends with a commune's name
    (Duras, Lot-et-Garonne): no commune is written there, Bondy's street is the answer."""
    import json

    from shapely.geometry import box, mapping
    from sqlalchemy.orm import Session

    from importers import communes

    path = tmp_path / "duras.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"code": "47086", "nom": "Duras"},
        "geometry": mapping(box(0.15, 44.66, 0.2, 44.7))}]}), encoding="utf-8")
    with geo_engine.connect() as conn, conn.begin() as outer:
        run(conn, communes.NAME, communes.read, communes.load, path)
        with Session(bind=conn, join_transaction_mode="create_savepoint") as session:
            result, found = best(session, "1 allee marguerite duras")
        outer.rollback()
    assert found is not None and found.id == "93010_i7xf1o_00001", [(c.label, c.score) for c in result.candidates]


def test_lookup_by_address_in_a_named_commune_stays_there(geo_app):
    body = geo_app.test_client().get("/api/v1/lookup", query_string={"address": "5 rue des Lilas Les Lilas"}).get_json()
    assert body["geocoding"]["best"]["code_insee"] == "93045"
    assert [u["code"] for u in body["lookup"]["territory"]["units"]] == ["commune:93045"]
    assert all(c["code_insee"] != "93010" or "pas dans la commune indiquée" in c["note"]
               for c in body["geocoding"]["candidates"])
