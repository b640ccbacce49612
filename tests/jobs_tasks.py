"""Job tasks for tests/test_jobs.py (importable top-level functions, as app.jobs requires)."""

import time

from app import jobs
from app.errors import InvalidInput


@jobs.task(label="Compter")
def count(ctx, n: int, pause: float = 0.0):
    path = ctx.output_path("compte.csv")
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            out.write(f"{i}\n")
            ctx.progress(i + 1, n, f"Ligne {i + 1}")
            time.sleep(pause)
    return jobs.FileResult(path, "text/csv", "compte-final.csv")


@jobs.task(label="Partenaires comptés", cached=True)
def partners(ctx, kind: str):
    from sqlalchemy import func, select

    from app.models import Partner

    with ctx.session() as session:
        total = session.scalar(select(func.count()).select_from(Partner).where(Partner.kind_code == kind))
    return {"kind": kind, "partners": total, "job": ctx.job_id}


@jobs.task(label="Refusé")
def refused(ctx):
    ctx.progress(0, 1, "Lecture")
    raise InvalidInput("Le fichier ne contient aucune adresse.")


@jobs.task(label="Panne")
def crashes(ctx, secret: str):
    raise RuntimeError(f"boom near {secret}")


@jobs.task(label="Attendre")
def wait(ctx, seconds: float):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ctx.progress(0, 1, "Attente")
        time.sleep(0.05)
    return {"waited": seconds}


def not_a_task(ctx):
    return {}


@jobs.task(label="Priorité")
def niceness(ctx):
    import os

    return {"nice": os.nice(0)}
