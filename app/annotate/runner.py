"""A minimal in-process runner for the annotation job, used only while the application has no job
runner of its own (app/jobs, issue 13): one worker thread, the same interface as app/jobs'
runners (submit, status, result, delete) and the same task signature (a context with progress,
settings, a read session and an output path), so that the page switches to app/jobs by changing
one function (`app.web.annotate._jobs`).

A job's state lives in memory (this process); its files in the upload's own directory, deleted with
it. Nothing is logged of a job but its failure's exception type.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from app.errors import MaillageError

log = logging.getLogger("maillage.annotate")
INTERNAL_FAILURE = "L'annotation a échoué à cause d'une erreur interne (elle a été journalisée). Réessayer plus tard."


@dataclass
class Info:
    id: str
    status: str = "queued"  # queued | running | done | failed
    done: int = 0
    total: int = 0
    step: str = ""
    error: str | None = None
    download_name: str | None = None
    path: Path | None = None

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")

    @property
    def percent(self) -> int:
        if self.status == "done":
            return 100
        return int(100 * self.done / self.total) if self.total else 0


@dataclass
class Result:
    info: Info

    def read(self) -> bytes:
        return self.info.path.read_bytes()


@dataclass
class Output:
    """What the task returns: its file and the name it is downloaded as."""

    path: Path
    mimetype: str
    filename: str


class Context:
    def __init__(self, info: Info, settings, engine, workdir: Path):
        self.info, self.settings, self._engine, self.workdir = info, settings, engine, workdir

    def progress(self, done: int, total: int, step: str = "") -> None:
        self.info.done, self.info.total, self.info.step = int(done), int(total), step

    def output_path(self, name: str) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        return self.workdir / Path(name).name

    def session(self):
        from app import db

        return db.read_session_factory(self._engine)()


class LocalJobs:
    """One worker thread; at most MAX_QUEUED jobs wait or run."""

    MAX_QUEUED = 10

    def __init__(self, settings, engine):
        self.settings, self.engine = settings, engine
        self._jobs: dict[str, Info] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="maillage-annotate")

    def submit(self, fn, params: dict) -> Info:
        with self._lock:
            if sum(1 for i in self._jobs.values() if not i.finished) >= self.MAX_QUEUED:
                raise MaillageError("Trop d'annotations en cours : réessayer dans quelques minutes.",
                                    code="invalid-input")
            info = Info(uuid.uuid4().hex)
            self._jobs[info.id] = info
        workdir = Path(params["root"]) / params["token"] / "resultat"
        self._pool.submit(self._run, fn, info, params, workdir)
        return info

    def _run(self, fn, info: Info, params: dict, workdir: Path) -> None:
        info.status = "running"
        try:
            out = fn(Context(info, self.settings, self.engine, workdir), **params)
            info.path, info.download_name = Path(out.path), out.filename
            info.status = "done"
        except MaillageError as exc:
            info.status, info.error = "failed", exc.message
        except Exception as exc:  # noqa: BLE001 — recorded, never propagated; its message may hold data
            log.error("annotation %s failed: %s\n%s", info.id, type(exc).__name__,
                      "".join(traceback.format_tb(exc.__traceback__)).rstrip())
            info.status, info.error = "failed", INTERNAL_FAILURE

    def status(self, job_id: str) -> Info | None:
        return self._jobs.get(job_id)

    def result(self, job_id: str) -> Result | None:
        info = self._jobs.get(job_id)
        if info is None or info.status != "done" or info.path is None or not info.path.exists():
            return None
        return Result(info)

    def delete(self, job_id: str) -> None:
        info = self._jobs.pop(job_id, None)
        if info is not None and info.path is not None:
            info.path.unlink(missing_ok=True)

    def wait_idle(self, timeout: float = 60) -> None:
        """Tests: wait until no job runs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(not i.finished for i in self._jobs.values()):
            time.sleep(0.05)
