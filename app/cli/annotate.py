"""`maillage annotate`: an address file annotated with its partners (app/annotate)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from app.cli import render
from app.errors import MaillageError
from app.vocabulary import PERSON_AGES


@click.command("annotate")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Fichier produit : .xlsx (classeur) ou .csv (avec FICHIER-a-verifier.csv et FICHIER-synthese.csv).")
@click.option("--kinds", help="Types de partenaires séparés par des virgules (défaut : tous les types territoriaux).")
@click.option("--landlord", help="Code du bailleur (les services qui lui sont réservés s'appliquent).")
@click.option("--as-of", help="Date des réponses AAAA-MM-JJ (défaut : aujourd'hui).")
@click.option("--age", type=click.Choice(PERSON_AGES), help="Public : seules les structures qui le servent.")
@click.option("--address-column", help="Colonne de l'adresse (ou de la ligne « numéro et voie »).")
@click.option("--number-column", help="Colonne du numéro (adresse en colonnes séparées).")
@click.option("--street-column", help="Colonne de la voie.")
@click.option("--postcode-column", help="Colonne du code postal.")
@click.option("--city-column", help="Colonne de la commune.")
@click.option("--id-column", help="Colonne de l'identifiant du logement ou du bâtiment.")
@click.option("--group-column", "group_columns", multiple=True,
              help="Colonne de regroupement (agence, programme, bâtiment…) ; répétable.")
@click.option("--gpkg", type=click.Path(dir_okay=False, path_type=Path), help="GeoPackage des points, pour QGIS.")
@click.option("--max-rows", type=click.IntRange(1), help="Nombre maximal de lignes (défaut : MAILLAGE_ANNOTATE_MAX_ROWS).")
@click.option("--yes", "-y", is_flag=True, help="Ne pas demander de confirmer les colonnes reconnues.")
@click.pass_context
def annotate(ctx, file, out, kinds, landlord, as_of, age, address_column, number_column, street_column,
             postcode_column, city_column, id_column, group_columns, gpkg, max_rows, yes):
    """Annote FICHIER (CSV ou XLSX d'adresses) avec les partenaires qui couvrent chaque adresse.

    Les colonnes sont reconnues par leur nom (à confirmer) ou données par les options ; toute autre
    colonne est ignorée et jamais recopiée."""
    from app import annotate as annotate_module, db, geocoding
    from app.annotate import reading
    from app.cli import _fail, _require_schema
    from app.lookup import parse_options

    engine = _require_schema(ctx)
    settings = ctx.obj["settings"]
    try:
        annotate_module.check_output(out)
        source = reading.open_source(file, max_rows=max_rows or settings.ANNOTATE_MAX_ROWS)
        detected = reading.detect_columns(source.header)
        given = {"address": address_column, "number": number_column, "street": street_column,
                 "postcode": postcode_column, "city": city_column}
        explicit = any(given.values())
        columns = reading.Columns(
            **(given if explicit else {r: getattr(detected, r) for r in given}),
            id=id_column or (None if explicit else detected.id),
            groups=tuple(group_columns) if group_columns else (() if explicit else detected.groups))
        click.echo(f"{source.name} : {source.describe()}.", err=True)
        if not explicit:
            shown = "; ".join(f"{role} = « {name} »" for role, name in columns.describe()) or "aucune"
            click.echo(f"Colonnes reconnues : {shown}.", err=True)
        reading.check_columns(columns, source.header)
        ignored = len(source.header) - len(columns.used())
        if ignored:
            click.echo(_n(ignored, "autre colonne ignorée, jamais recopiée", "autres colonnes ignorées, jamais recopiées")
                       + ".", err=True)
        if not explicit and not yes and sys.stdin.isatty():
            click.confirm("Utiliser ces colonnes ?", default=True, abort=True, err=True)
        geocoder = geocoding.from_settings(settings)
        with db.read_session_factory(engine)() as session:
            options = parse_options(session, as_of=as_of, age=age, landlord=landlord, kinds=kinds,
                                    default_radius_m=settings.PROXIMITY_RADIUS_M,
                                    proximity_limit=settings.PROXIMITY_LIMIT)
            progress = render.Progress("Annotation", source.row_count)
            try:
                result = annotate_module.annotate(session, geocoder, source, columns, options, out, gpkg=gpkg,
                                                  boundary_m=settings.BOUNDARY_DISTANCE_M, progress=progress)
            finally:
                progress.close()
    except (MaillageError, ValueError) as exc:
        _fail(exc)
    click.echo(summary_line(result))
    click.echo("Écrit : " + ", ".join(str(f) for f in result["files"]))


def _n(n: int, one: str, many: str) -> str:
    return f"{n} {one if n < 2 else many}"


def summary_line(result: dict) -> str:
    """One line of counts, with real plurals ("1 ambiguë", "2 ambiguës")."""
    return (f"{_n(result['rows'], 'ligne', 'lignes')} : "
            f"{_n(result['found'], 'adresse trouvée', 'adresses trouvées')} dont {result['to_confirm']} à confirmer, "
            f"{_n(result['ambiguous'], 'ambiguë', 'ambiguës')}, {_n(result['not_found'], 'non trouvée', 'non trouvées')}, "
            f"{result['empty']} sans adresse lisible.")
