"""The background job of the page "Annoter un fichier": an uploaded file annotated into a
workbook, its progress reported per chunk of rows, run by the application's job runner (app/jobs:
in-process child processes, or `maillage jobs worker` on Redis — on the same machine, as the file
stays in its private directory, app/annotate/uploads.py). Its parameters are the upload's token and
the choices made on the page — never an address. Never cached: a person's file is never shared."""

from __future__ import annotations

from app import jobs
from app.annotate import annotate, reading
from app.annotate.uploads import Uploads

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
WEB_CHUNK_ROWS = 250  # a smoother progress bar than the command line's chunks


@jobs.task(label="Annotation d'un fichier d'adresses")
def annotate_upload(ctx: jobs.Context, root: str, token: str, columns: dict, kinds: list | None = None,
                    landlord: str | None = None, as_of: str | None = None) -> jobs.FileResult:
    from app import geocoding
    from app.errors import InvalidInput
    from app.lookup import parse_options

    uploads = Uploads(root)
    found = uploads.state(token)
    path = uploads.source_path(token)
    if found is None or path is None:
        raise InvalidInput("Le fichier a été supprimé avant d'être annoté : le déposer de nouveau.", code="invalid-file")
    settings = ctx.settings
    source = reading.open_source(path, max_rows=settings.ANNOTATE_MAX_ROWS, name=found["name"])
    chosen = reading.check_columns(reading.Columns(**{**columns, "groups": tuple(columns.get("groups") or ())}),
                                   source.header)
    rows = source.row_count
    done = [0]

    def progress(n: int = 1, total: int | None = None) -> None:
        done[0] += n
        ctx.progress(done[0], rows, "Géocodage et recherche des partenaires")
        uploads.touch(token)  # a running job's upload is never swept

    ctx.progress(0, rows, "Lecture du fichier")
    out = ctx.output_path("annotation.xlsx")
    with ctx.session() as session:
        options = parse_options(session, as_of=as_of, landlord=landlord, kinds=kinds,
                                default_radius_m=settings.PROXIMITY_RADIUS_M, proximity_limit=settings.PROXIMITY_LIMIT)
        annotate(session, geocoding.from_settings(settings), source, chosen, options, out,
                 boundary_m=settings.BOUNDARY_DISTANCE_M, progress=progress, chunk=WEB_CHUNK_ROWS)
    return jobs.FileResult(out, XLSX, download_name(found["name"]))


def download_name(name: str) -> str:
    """annotation-<file stem>-<date>.xlsx, ASCII only (a header value)."""
    import datetime as dt
    import unicodedata

    stem = name.rsplit(".", 1)[0]
    plain = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in plain).strip("-")[:60] or "fichier"
    return f"annotation-{safe}-{dt.date.today().isoformat()}.xlsx"
