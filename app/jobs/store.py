"""Where jobs keep their state and results: files under JOBS_DIR (in-process backend) or keys
under REDIS_PREFIX in Redis (RQ backend). Both stores have the same methods; the runner and the
task's context only use those.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from app.jobs import JobInfo, StoredResult

ACTIVE_TTL_S = 24 * 3600  # a job's state while it waits or runs (Redis): long enough for any job


class FileStore:
    """JOBS_DIR/<id>/job.json (the state), JOBS_DIR/<id>/work/ (the task's files, its result among
    them), JOBS_DIR/cache/<key> (the id of the job holding a cached result). Writes are atomic
    (a temporary file renamed), so any process of the machine reads a whole state."""

    def __init__(self, root: Path, ttl_s: int):
        self.root = Path(root)
        self.ttl_s = ttl_s
        self._swept = 0.0

    def config(self) -> dict:
        return {"kind": "file", "root": str(self.root), "ttl_s": self.ttl_s}

    def _dir(self, job_id: str) -> Path:
        if not job_id.isalnum():  # ids are uuid hex: nothing else may reach the file system
            raise KeyError(job_id)
        return self.root / job_id

    def workdir(self, job_id: str) -> Path:
        path = self._dir(job_id) / "work"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def save(self, info: JobInfo) -> None:
        directory = self._dir(info.id)
        directory.mkdir(parents=True, exist_ok=True)
        _atomic_write(directory / "job.json", json.dumps(info.__dict__).encode())

    def put_params(self, job_id: str, params: dict) -> None:
        _atomic_write(self._dir(job_id) / "params.json", json.dumps(params, ensure_ascii=False).encode())

    def params(self, job_id: str) -> dict | None:
        try:
            return json.loads((self._dir(job_id) / "params.json").read_bytes())
        except (KeyError, FileNotFoundError):
            return None

    def drop_params(self, job_id: str) -> None:
        (self._dir(job_id) / "params.json").unlink(missing_ok=True)

    def get(self, job_id: str) -> JobInfo | None:
        try:
            return JobInfo.from_dict(json.loads((self._dir(job_id) / "job.json").read_bytes()))
        except (KeyError, FileNotFoundError, ValueError):
            return None

    def finish(self, info: JobInfo, *, file: Path | None = None, data: dict | None = None) -> None:
        """Marks the job ended (done or failed) and keeps its result until it expires."""
        info.finished_at = time.time()
        info.expires_at = info.finished_at + self.ttl_s
        if data is not None:
            _atomic_write(self._dir(info.id) / "result.json", json.dumps(data, ensure_ascii=False).encode())
        self.save(info)

    def result(self, info: JobInfo) -> StoredResult | None:
        directory = self._dir(info.id)
        if info.result_kind == "json":
            try:
                return StoredResult(info, data=json.loads((directory / "result.json").read_bytes()))
            except FileNotFoundError:
                return None
        path = directory / "work" / (info.filename or "")
        return StoredResult(info, path=path) if info.filename and path.is_file() else None

    def delete(self, job_id: str) -> None:
        shutil.rmtree(self._dir(job_id), ignore_errors=True)

    def cached(self, key: str) -> str | None:
        try:
            return (self.root / "cache" / key).read_text()
        except FileNotFoundError:
            return None

    def remember(self, key: str, job_id: str) -> None:
        (self.root / "cache").mkdir(parents=True, exist_ok=True)
        _atomic_write(self.root / "cache" / key, job_id.encode())

    def forget(self, key: str) -> None:
        (self.root / "cache" / key).unlink(missing_ok=True)

    def active(self) -> list[JobInfo]:
        return [info for info in self._all() if not info.finished]

    def _all(self) -> list[JobInfo]:
        if not self.root.is_dir():
            return []
        out = []
        for child in self.root.iterdir():
            if child.name != "cache" and child.is_dir():
                info = self.get(child.name)
                if info is not None:
                    out.append(info)
        return out

    def sweep(self, *, force: bool = False) -> int:
        """Deletes the jobs whose results expired (at most every 10 s unless forced); returns how many."""
        now = time.time()
        if not force and now - self._swept < 10:
            return 0
        self._swept = now
        removed = 0
        for info in self._all():
            if info.expires_at is not None and info.expires_at <= now:
                self.delete(info.id)
                removed += 1
        cache = self.root / "cache"
        if cache.is_dir():
            for entry in cache.iterdir():
                job_id = entry.read_text() if entry.is_file() else ""
                if not (self.root / job_id / "job.json").is_file():
                    entry.unlink(missing_ok=True)
        return removed


class RedisStore:
    """{prefix}job:<id> (the state, JSON), {prefix}params:<id> (the task's parameters, until it
    ends), {prefix}result:<id> (the result's bytes or JSON),
    {prefix}cache:<key> (the id of the job holding a cached result), {prefix}active (ids of jobs
    waiting or running). Ended jobs and their results expire by Redis's own time to live."""

    def __init__(self, url: str, prefix: str, ttl_s: int, scratch: Path | None = None):
        import redis

        self.url, self.prefix, self.ttl_s = url, prefix, ttl_s
        self.redis = redis.Redis.from_url(url)
        self.scratch = Path(scratch) if scratch else Path(tempfile.gettempdir())

    def config(self) -> dict:
        return {"kind": "redis", "url": self.url, "prefix": self.prefix, "ttl_s": self.ttl_s,
                "scratch": str(self.scratch)}

    def workdir(self, job_id: str) -> Path:
        path = self.scratch / f"maillage-job-{job_id}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def save(self, info: JobInfo) -> None:
        ttl = ACTIVE_TTL_S if not info.finished else max(1, int((info.expires_at or time.time()) - time.time()))
        pipe = self.redis.pipeline()
        pipe.set(f"{self.prefix}job:{info.id}", json.dumps(info.__dict__), ex=ttl)
        if info.finished:
            pipe.srem(f"{self.prefix}active", info.id)
        else:
            pipe.sadd(f"{self.prefix}active", info.id)
        pipe.execute()

    def put_params(self, job_id: str, params: dict) -> None:
        self.redis.set(f"{self.prefix}params:{job_id}", json.dumps(params, ensure_ascii=False), ex=ACTIVE_TTL_S)

    def params(self, job_id: str) -> dict | None:
        raw = self.redis.get(f"{self.prefix}params:{job_id}")
        return json.loads(raw) if raw else None

    def drop_params(self, job_id: str) -> None:
        self.redis.delete(f"{self.prefix}params:{job_id}")

    def get(self, job_id: str) -> JobInfo | None:
        raw = self.redis.get(f"{self.prefix}job:{job_id}")
        return JobInfo.from_dict(json.loads(raw)) if raw else None

    def finish(self, info: JobInfo, *, file: Path | None = None, data: dict | None = None) -> None:
        info.finished_at = time.time()
        info.expires_at = info.finished_at + self.ttl_s
        if file is not None:
            self.redis.set(f"{self.prefix}result:{info.id}", file.read_bytes(), ex=self.ttl_s)
        elif data is not None:
            self.redis.set(f"{self.prefix}result:{info.id}", json.dumps(data, ensure_ascii=False), ex=self.ttl_s)
        self.save(info)
        shutil.rmtree(self.scratch / f"maillage-job-{info.id}", ignore_errors=True)

    def result(self, info: JobInfo) -> StoredResult | None:
        raw = self.redis.get(f"{self.prefix}result:{info.id}")
        if raw is None:
            return None
        if info.result_kind == "json":
            return StoredResult(info, data=json.loads(raw))
        return StoredResult(info, content=raw)

    def delete(self, job_id: str) -> None:
        self.redis.delete(f"{self.prefix}job:{job_id}", f"{self.prefix}result:{job_id}", f"{self.prefix}params:{job_id}")
        self.redis.srem(f"{self.prefix}active", job_id)

    def cached(self, key: str) -> str | None:
        raw = self.redis.get(f"{self.prefix}cache:{key}")
        return raw.decode() if raw else None

    def remember(self, key: str, job_id: str) -> None:
        self.redis.set(f"{self.prefix}cache:{key}", job_id, ex=ACTIVE_TTL_S)

    def forget(self, key: str) -> None:
        self.redis.delete(f"{self.prefix}cache:{key}")

    def active(self) -> list[JobInfo]:
        out = []
        for raw in self.redis.smembers(f"{self.prefix}active"):
            job_id = raw.decode()
            info = self.get(job_id)
            if info is None or info.finished:
                self.redis.srem(f"{self.prefix}active", job_id)
            else:
                out.append(info)
        return out

    def sweep(self, *, force: bool = False) -> int:
        return 0  # Redis expires ended jobs and results itself


def open_store(config: dict):
    if config["kind"] == "redis":
        return RedisStore(config["url"], config["prefix"], config["ttl_s"], config.get("scratch"))
    return FileStore(Path(config["root"]), config["ttl_s"])


def _atomic_write(path: Path, content: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
