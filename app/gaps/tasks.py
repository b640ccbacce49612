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
