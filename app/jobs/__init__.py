"""Background jobs: heavy work (exports, whole-France analyses, maps, annotated files) run apart
from the requests, with bounded concurrency, progress, a result to download and an expiry.

The interface (docs/jobs.md):

    from app import jobs

    @jobs.task(label="Export des écarts", cached=True)
    def export_gaps(ctx: jobs.Context, territory: str, fmt: str) -> jobs.FileResult:
        ctx.progress(0, 2, "Calcul des écarts")
        with ctx.session() as session:
            ...
        path = ctx.output_path("ecarts.gpkg")
        ...
        return jobs.FileResult(path, "application/geopackage+sqlite3", "ecarts.gpkg")

    runner = jobs.from_settings(settings, engine)   # once per process (the web's State holds one)
    info = runner.submit(export_gaps, {"territory": "departement:93", "fmt": "gpkg"})
    runner.status(info.id)   # JobInfo: queued / running / done / failed, done/total/label, error (French)
    runner.result(info.id)   # StoredResult: a file (path or bytes) or JSON

A task is an importable top-level function taking a Context and JSON-able keyword parameters; it
returns a FileResult (a file it wrote under ctx.output_path) or a JSON-able dict. A MaillageError it
raises fails the job with its French message; any other exception fails it with a generic French
message (the traceback goes to the log, never to the user). `cached=True`: a job of the same task,
parameters and data version (app.db.data_version) still kept is reused instead of computing again.

Two backends, the same interface: in-process (default) — a pool of JOBS_WORKERS child processes,
state and results in files under JOBS_DIR, so several server processes of one machine share them —
and RQ on Redis when REDIS_URL is set (`maillage jobs worker` runs the workers; state and results in
Redis under REDIS_PREFIX, with a time to live). Results expire JOBS_RESULT_TTL_S seconds after the
job ends. No Flask here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from app.errors import MaillageError

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
STATUS_LABELS = {QUEUED: "En attente", RUNNING: "En cours", DONE: "Terminé", FAILED: "Échec"}
INTERNAL_FAILURE = ("Le travail a échoué à cause d'une erreur interne (elle a été journalisée). "
                    "Réessayer plus tard ; si cela se reproduit, signaler l'incident.")
INTERRUPTED = "Le travail a été interrompu (redémarrage du service). Le relancer."


class JobsBusy(MaillageError):
    """Too many jobs queued or running: come back later (HTTP 503)."""

    code = "jobs-busy"


@dataclass(frozen=True)
class TaskSpec:
    path: str  # "module:function"
    label: str  # French, shown on the job page
    cached: bool


def task(*, label: str, cached: bool = False) -> Callable:
    """Declares a top-level function as a job task (its French label, whether its results are
    cached per data version)."""

    def decorate(fn):
        fn.job_task = TaskSpec(f"{fn.__module__}:{fn.__qualname__}", label, cached)
        return fn

    return decorate


def resolve(path: str) -> Callable:
    """The task function at "module:function" (it must be declared with @task)."""
    module, _, name = path.partition(":")
    fn = getattr(importlib.import_module(module), name)
    if not hasattr(fn, "job_task"):
        raise TypeError(f"{path} is not a job task (decorate it with app.jobs.task)")
    return fn


@dataclass(frozen=True)
class FileResult:
    """A file the task wrote (under ctx.output_path), with its media type and download name."""

    path: Path
    mimetype: str
    filename: str


@dataclass
class JobInfo:
    id: str
    task: str
    label: str
    status: str = QUEUED
    done: int = 0
    total: int = 0
    step: str = ""  # French: what the task is doing now
    error: str | None = None  # French, for people; never a traceback
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    expires_at: float | None = None
    result_kind: str | None = None  # "file" or "json"
    filename: str | None = None  # the result file's name in the job's directory
    download_name: str | None = None  # the name it is downloaded as
    mimetype: str | None = None
    size: int | None = None
    cache_key: str | None = None
    owner: str | None = None  # in-process backend: "host:pid" of the process running it

    @property
    def finished(self) -> bool:
        return self.status in (DONE, FAILED)

    @property
    def percent(self) -> int:
        if self.status == DONE:
            return 100
        return int(100 * self.done / self.total) if self.total else 0

    def as_dict(self) -> dict:
        """The public view (JSON of the job page): no owner, no cache key."""
        out = {k: v for k, v in asdict(self).items() if k not in ("owner", "cache_key")}
        out.update(status_label=STATUS_LABELS[self.status], percent=self.percent, finished=self.finished)
        for key in ("created_at", "started_at", "finished_at", "expires_at"):
            out[key] = _iso(out[key])
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "JobInfo":
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


def _iso(ts: float | None) -> str | None:
    return None if ts is None else dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


@dataclass
class StoredResult:
    info: JobInfo
    path: Path | None = None  # in-process backend: the file
    content: bytes | None = None  # Redis backend: the bytes
    data: dict | None = None  # a JSON result

    def read(self) -> bytes:
        return self.content if self.content is not None else self.path.read_bytes()


@dataclass
class Context:
    """What a running task gets: its settings, a database, where to write, how to report progress."""

    job_id: str
    settings: object  # app.config.Settings
    workdir: Path
    report: Callable[[int, int, str], None] = field(repr=False)

    def progress(self, done: int, total: int, step: str = "") -> None:
        """Reports progress: `done` of `total` units, and what is being done (French)."""
        self.report(int(done), int(total), step)

    def output_path(self, name: str) -> Path:
        """Where the task writes its result file (or scratch files)."""
        path = self.workdir / Path(name).name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def engine(self):
        from app.jobs.runner import engine_for

        return engine_for(self.settings)

    def session(self):
        """A read session on the database (a context manager)."""
        from app import db

        return db.read_session_factory(self.engine())()


def cache_key(spec: TaskSpec, params: dict, version: str | None) -> str:
    canonical = json.dumps([spec.path, params, version], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def from_settings(settings, engine=None):
    """The job runner of these settings: RQ on Redis when REDIS_URL is set, else in-process.
    `engine` (the app's) reads the data version of cached tasks."""
    from app.jobs import runner

    if settings.REDIS_URL:
        return runner.RedisJobs(settings, engine)
    return runner.InProcessJobs(settings, engine)
