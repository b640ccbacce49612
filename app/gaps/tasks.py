"""The gap analysis's heavy outputs as background jobs (app.jobs): the workbook, the GeoPackage and
the PDF report, computed apart from the requests, with progress, cached per data version."""

from __future__ import annotations

import datetime as dt

from app import jobs

# Outputs made by a job (seconds of CPU on a département); the others are answered at once.
JOB_FORMATS = ("xlsx", "gpkg", "pdf")
MIMETYPES = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
             "gpkg": "application/geopackage+sqlite3", "pdf": "application/pdf"}


@jobs.task(label="Export de l'analyse des écarts", cached=True)
def export(ctx: jobs.Context, *, territory: str, fmt: str, types: list[str] | None = None, date: str,
           compare: str | None = None, level: str = "commune", age: str | None = None) -> jobs.FileResult:
    """One output of the gap analysis of `territory` at `date` (ISO), compared with `compare`."""
    from app import gaps
    from app.errors import InvalidInput
    from app.gaps import exports

    if fmt not in JOB_FORMATS:
        raise InvalidInput(f"Format « {fmt} » inconnu.", field="fmt")
    steps = 3 if compare else 2
    as_of = dt.date.fromisoformat(date)
    with ctx.session() as session:
        ctx.progress(0, steps, "Calcul de la couverture")
        matrix = gaps.compute(session, territory, types or None, as_of, level=level, age=age)
        comparison = None
        if compare:
            ctx.progress(1, steps, "Comparaison avec la date antérieure")
            earlier = gaps.compute(session, territory, types or None, dt.date.fromisoformat(compare), level=level,
                                   age=age)
            comparison = gaps.compare(session, earlier, matrix)
        ctx.progress(steps - 1, steps, "Écriture du fichier")
        context = exports.context(session, matrix, [fmt])
    [path] = exports.write(matrix, ctx.workdir, [fmt], context=context, comparison=comparison)
    ctx.progress(steps, steps, "Terminé")
    code = territory.replace(":", "-").replace("|", "_")[:60]
    return jobs.FileResult(path, MIMETYPES[fmt], f"ecarts-{code}-{as_of.isoformat()}.{path.suffix.lstrip('.')}")


# Territories analysed apart from the request on /ecarts: the whole reference and the régions (up
# to some 5,000 communes, tens of seconds); a département or an EPT is answered at once.
LARGE_LEVELS = ("region",)


def is_large(territory: str) -> bool:
    """Whether /ecarts hands the territory (a typed code, a `|` list or `france`) to a job; a
    malformed code is not large: the page itself says what is wrong with it."""
    from app import territories
    from app.errors import MaillageError

    value = (territory or "").strip()
    if value.lower() == "france":
        return True
    try:
        return any(typed.level in LARGE_LEVELS for typed in territories.parse_codes(value))
    except MaillageError:
        return False


@jobs.task(label="Analyse des écarts", cached=True)
def page(ctx: jobs.Context, *, territory: str, types: list[str] | None = None, date: str, level: str = "commune",
         age: str | None = None) -> dict:
    """What the /ecarts page shows for a large territory (app.gaps.screen.view), as JSON."""
    import json

    from app import gaps
    from app.gaps import screen

    kinds_count = len(types or []) or None
    with ctx.session() as session:
        total = (kinds_count or len(gaps.parse_kinds(session, None))) + 2
        ctx.progress(0, total, "Lecture des communes du territoire")

        done = [1]

        def step(_n: int = 1) -> None:  # compute() calls it once a kind
            ctx.progress(done[0], total, "Calcul de la couverture, type par type")
            done[0] += 1

        matrix = gaps.compute(session, territory, types or None, dt.date.fromisoformat(date), progress=step,
                              level=level, age=age)
    ctx.progress(total - 1, total, "Mise en forme du résultat")
    data = json.loads(json.dumps(screen.view(matrix), default=str))
    ctx.progress(total, total, "Terminé")
    return data
