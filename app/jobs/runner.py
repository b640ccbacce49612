"""Running jobs: `execute` (what a worker does with one job, whichever backend) and the two
runners, in-process (a pool of child processes) and RQ on Redis.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from app.errors import MaillageError
from app.jobs import (DONE, FAILED, INTERNAL_FAILURE, INTERRUPTED, RUNNING, Context, FileResult, JobInfo,
                      JobsBusy, StoredResult, cache_key, resolve)
from app.jobs.store import FileStore, RedisStore, open_store

log = logging.getLogger("maillage.jobs")
PROGRESS_EVERY_S = 0.25  # progress is saved at most this often (and always at the end of a step)

_engines: dict[str, object] = {}
_engines_lock = threading.Lock()


def engine_for(settings):
    """One engine per database URL in a worker process."""
    from app import db

    with _engines_lock:
        engine = _engines.get(settings.DATABASE_URL)
        if engine is None:
            engine = _engines[settings.DATABASE_URL] = db.engine_from_settings(settings)
        return engine


def execute_queued(job_id: str) -> None:
    """What an RQ worker runs: the job's settings are the worker's own (its environment), so
    nothing but the job id travels in the queue (RQ logs a job's arguments)."""
    from app.config import load_settings

    settings = load_settings()
    store = RedisStore(settings.REDIS_URL, settings.REDIS_PREFIX, settings.JOBS_RESULT_TTL_S)
    execute(job_id, settings.as_flask_config(), store.config())


def execute(job_id: str, settings: dict, store_config: dict) -> None:
    """Runs one job to its end in this process and records its state; never raises."""
    from app import privacy
    from app.config import Settings

    privacy.install()
    store = open_store(store_config)
    info = store.get(job_id)
    params = store.params(job_id)
    if info is None or params is None:  # deleted before it started
        return
    task_path = info.task
    info.status, info.started_at, info.owner = RUNNING, time.time(), _owner()
    store.save(info)
    last = [0.0]

    def report(done: int, total: int, step: str) -> None:
        info.done, info.total, info.step = max(0, done), max(0, total), step[:200]
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_S or done >= total:
            last[0] = now
            store.save(info)

    ctx = Context(job_id, Settings(**settings), store.workdir(job_id), report)
    try:
        result = resolve(task_path)(ctx, **params)
        if isinstance(result, FileResult):
            path = Path(result.path)
            info.result_kind, info.filename, info.mimetype = "file", path.name, result.mimetype
            info.download_name, info.size = result.filename, path.stat().st_size
            info.status, info.done = DONE, max(info.done, info.total)
            store.finish(info, file=path)
        else:
            info.result_kind, info.status, info.done = "json", DONE, max(info.done, info.total)
            store.finish(info, data=result if isinstance(result, dict) else {"result": result})
    except MaillageError as exc:
        info.status, info.error = FAILED, exc.message
        store.finish(info)
    except Exception as exc:  # noqa: BLE001 - a job's failure is recorded, never propagated
        # The task, the exception's type and where it happened, never its message nor the
        # parameters: either may hold what a person typed or uploaded (an address, a point).
        log.error("job %s failed (task %s): %s\n%s", job_id, task_path, type(exc).__name__,
                  "".join(traceback.format_tb(exc.__traceback__)).rstrip())
        info.status, info.error = FAILED, INTERNAL_FAILURE
        store.finish(info)
    finally:
        if info.cache_key and info.status == FAILED:
            store.forget(info.cache_key)
        store.drop_params(job_id)


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(owner: str | None) -> bool:
    """Whether the process that owns a job (same host) still runs; other hosts are trusted."""
    if not owner:
        return True
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError):
        return False
    except PermissionError:
        return True
    return True


class _Jobs:
    """What both runners share: submission with the cache and the queue bound, status, result."""

    store: FileStore | RedisStore

    def __init__(self, settings, engine=None):
        self.settings = settings
        self.engine = engine
        self.max_queued = settings.JOBS_MAX_QUEUED

    # -- the interface ------------------------------------------------------------------------

    def submit(self, fn, params: dict, *, version: str | None = None) -> JobInfo:
        """Queues `fn(ctx, **params)` (a @task function) and returns its JobInfo. A cached task
        with the same parameters at the same data version gives the job already holding it.
        Raises JobsBusy when JOBS_MAX_QUEUED jobs wait or run."""
        spec = fn.job_task
        self.store.sweep()
        key = None
        if spec.cached:
            key = cache_key(spec, params, version if version is not None else self._data_version())
            existing = self.store.cached(key)
            info = self.status(existing) if existing else None
            if info is not None and info.status != FAILED and (info.status != DONE or self.result(info.id)):
                return info
        if len(self._active()) >= self.max_queued:
            raise JobsBusy("Trop de travaux en cours : réessayer dans quelques minutes.",
                           extra={"retry_after": 30})
        info = JobInfo(id=uuid.uuid4().hex, task=spec.path, label=spec.label, created_at=time.time(), cache_key=key,
                       owner=self._owner_at_submit())
        self.store.save(info)
        self.store.put_params(info.id, params)
        if key:
            self.store.remember(key, info.id)
        self._enqueue(info)
        return info

    def status(self, job_id: str) -> JobInfo | None:
        """The job's state, or None when unknown or expired (its result is then deleted)."""
        info = self.store.get(job_id) if job_id else None
        if info is not None and info.expires_at is not None and info.expires_at <= time.time():
            self.store.delete(job_id)
            return None
        if info is not None and not info.finished and not _alive(info.owner):
            info.status, info.error = FAILED, INTERRUPTED
            self.store.finish(info)
            if info.cache_key:
                self.store.forget(info.cache_key)
        return info

    def result(self, job_id: str) -> StoredResult | None:
        info = self.status(job_id)
        if info is None or info.status != DONE:
            return None
        return self.store.result(info)

    def delete(self, job_id: str) -> None:
        info = self.store.get(job_id)
        if info and info.cache_key:
            self.store.forget(info.cache_key)
        self.store.delete(job_id)

    # -- backend specifics --------------------------------------------------------------------

    def _active(self) -> list[JobInfo]:
        return [info for info in map(self.status, [i.id for i in self.store.active()]) if info and not info.finished]

    def _data_version(self) -> str | None:
        if self.engine is None:
            return None
        from app import db

        with db.read_session_factory(self.engine)() as session:
            return db.data_version(session)

    def _owner_at_submit(self) -> str | None:
        return None

    def _settings_dict(self) -> dict:
        return self.settings.as_flask_config()

    def _enqueue(self, info: JobInfo) -> None:
        raise NotImplementedError


def _lower_priority(increment: int) -> None:
    """A job's child process yields the CPU to the server's threads (the front line's lookups):
    on a small machine a job then takes only what the requests leave idle."""
    if increment > 0:
        os.nice(increment)


class InProcessJobs(_Jobs):
    """A pool of JOBS_WORKERS child processes (spawned: nothing of the server's state is shared,
    and a task's CPU does not hold the server's threads), state and results in files."""

    backend = "in-process"

    def __init__(self, settings, engine=None):
        super().__init__(settings, engine)
        self.store = FileStore(Path(settings.JOBS_DIR), settings.JOBS_RESULT_TTL_S)
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _owner_at_submit(self) -> str:
        return _owner()  # the pool dies with this process: its queued jobs then are interrupted

    def _enqueue(self, info: JobInfo) -> None:
        import multiprocessing

        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(max_workers=max(1, self.settings.JOBS_WORKERS),
                                                 mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_lower_priority, initargs=(self.settings.JOBS_NICE,))
            pool = self._pool
        try:
            future = pool.submit(execute, info.id, self._settings_dict(), self.store.config())
        except RuntimeError:  # a broken pool: start a new one
            with self._lock:
                self._pool = None
            return self._enqueue(info)
        future.add_done_callback(lambda f, job_id=info.id: self._after(job_id, f))

    def _after(self, job_id: str, future) -> None:
        """A child that died (killed, out of memory) leaves its job running: fail it."""
        if future.exception() is None:
            return
        info = self.store.get(job_id)
        if info is not None and not info.finished:
            log.error("job %s: worker process lost (%s)", job_id, type(future.exception()).__name__)
            info.status, info.error = FAILED, INTERNAL_FAILURE
            self.store.finish(info)
            if info.cache_key:
                self.store.forget(info.cache_key)
        with self._lock:
            if self._pool is not None and getattr(self._pool, "_broken", False):
                self._pool = None

    def shutdown(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


class RedisJobs(_Jobs):
    """RQ on Redis: jobs wait in the queue `{REDIS_PREFIX}jobs`, `maillage jobs worker` processes
    run them (as many at once as workers are started, with the settings of their own environment:
    the same DATABASE_URL and MAILLAGE_REDIS_* as the server's), state and results in Redis."""

    backend = "redis"

    def __init__(self, settings, engine=None):
        super().__init__(settings, engine)
        self.store = RedisStore(settings.REDIS_URL, settings.REDIS_PREFIX, settings.JOBS_RESULT_TTL_S)

    def queue(self):
        from rq import Queue

        return Queue(f"{self.settings.REDIS_PREFIX}jobs", connection=self.store.redis)

    def _enqueue(self, info: JobInfo) -> None:
        self.queue().enqueue(execute_queued, info.id, description=f"maillage job {info.id} ({info.task})",
                             job_id=f"{self.settings.REDIS_PREFIX.strip(':').replace(':', '-')}-{info.id}",
                             job_timeout=self.settings.JOBS_TIMEOUT_S, result_ttl=60, failure_ttl=3600)

    def shutdown(self) -> None:
        self.store.redis.close()


def work(settings, *, burst: bool = False) -> None:
    """Runs an RQ worker on the jobs queue of these settings (`maillage jobs worker`)."""
    from rq import SimpleWorker, Worker

    runner = RedisJobs(settings)
    worker_class = SimpleWorker if burst else Worker
    worker_class([runner.queue()], connection=runner.store.redis).work(burst=burst, with_scheduler=False)

