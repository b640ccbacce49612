"""Background jobs (app/jobs, docs/jobs.md) on both runners: in-process (child processes, state in
files) and RQ on Redis (a real `maillage jobs worker` process on the Redis of 127.0.0.1:6379, under
a key prefix of its own, deleted at the end)."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest

from app import jobs
from app.config import PROJECT_ROOT, load_settings
from app.errors import MaillageError
from tests import jobs_tasks

MODES = ("in-process", "redis")
REDIS_URL = os.environ.get("MAILLAGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """The machine's Redis; where none answers (a fresh CI machine), a redis-server of our own."""
    if _answers(REDIS_URL):
        yield REDIS_URL
        return
    assert shutil.which("redis-server"), "redis-server absent : lancer `bash dev.sh test` (paquet redis-server)"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tmp = tmp_path_factory.mktemp("redis")
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp),
                               "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        if _answers(url):
            break
        time.sleep(0.05)
    yield url
    server.terminate()
    server.wait(10)


def _cleanup_redis(url: str, prefix: str) -> None:
    import redis

    r = redis.Redis.from_url(url)
    tag = prefix.strip(":").replace(":", "-")
    for pattern in (f"{prefix}*", f"*{tag}*"):
        keys = list(r.scan_iter(pattern, count=500))
        if keys:
            r.delete(*keys)
    r.close()


class Runner:
    """A job runner of one mode, with the worker process the Redis mode needs."""

    def __init__(self, mode, tmp_path, redis_url, database_url, **settings):
        self.mode, self.prefix, self.redis_url = mode, f"maillage-test-{uuid.uuid4().hex[:8]}:", redis_url
        values = {"DATABASE_URL": database_url, "JOBS_DIR": str(tmp_path / "jobs"), **settings}
        if mode == "redis":
            values.update(REDIS_URL=redis_url, REDIS_PREFIX=self.prefix)
        self.settings = load_settings(values, environ={})
        self.worker = None
        if mode == "redis":
            env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "DATABASE_URL": database_url,
                   "MAILLAGE_REDIS_URL": redis_url, "MAILLAGE_REDIS_PREFIX": self.prefix,
                   "MAILLAGE_JOBS_RESULT_TTL_S": str(self.settings.JOBS_RESULT_TTL_S)}
            self.log = tmp_path / "worker.log"
            self.worker = subprocess.Popen([sys.executable, "-c", "from app.cli import main; main()", "jobs", "worker"], cwd=PROJECT_ROOT,
                                           env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT,
                                           start_new_session=True)

    def jobs(self, engine=None):
        if self.worker is not None:
            time.sleep(0.2)
            assert self.worker.poll() is None, self.log.read_text()
        return jobs.from_settings(self.settings, engine)

    def close(self):
        if self.worker is not None:
            os.killpg(self.worker.pid, signal.SIGTERM)
            self.worker.wait(20)
            _cleanup_redis(self.redis_url, self.prefix)


@pytest.fixture(params=MODES)
def make_runner(request, tmp_path, redis_url):
    made = []

    def make(database_url="sqlite:///" + str(tmp_path / "unused.sqlite"), **settings):
        runner = Runner(request.param, tmp_path, redis_url, database_url, **settings)
        made.append(runner)
        return runner

    yield make
    for runner in made:
        runner.close()


def wait_for(runner, job_id, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = runner.status(job_id)
        if info is None or info.finished:
            return info
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {runner.status(job_id)} after {timeout} s")


def test_a_job_reports_progress_then_its_file_is_downloaded(make_runner):
    runner = make_runner().jobs()
    info = runner.submit(jobs_tasks.count, {"n": 20, "pause": 0.05})
    assert info.status == jobs.QUEUED and info.label == "Compter"
    seen = set()
    deadline = time.monotonic() + 60
    while not (current := runner.status(info.id)).finished and time.monotonic() < deadline:
        if current.status == jobs.RUNNING and 0 < current.done < 20:
            seen.add(current.done)
            assert current.total == 20 and current.step == f"Ligne {current.done}" or current.done != 0
        time.sleep(0.02)
    assert seen, "no intermediate progress was visible"
    assert current.status == jobs.DONE and current.percent == 100 and current.error is None
    result = runner.result(info.id)
    assert result.read() == "".join(f"{i}\n" for i in range(20)).encode()
    assert result.info.download_name == "compte-final.csv" and result.info.mimetype == "text/csv"
    assert current.as_dict()["status_label"] == "Terminé"


def test_in_process_jobs_yield_the_cpu_to_the_server(tmp_path):
    """The in-process workers run JOBS_NICE steps nicer than the server: a job takes only what the
    front line's requests leave idle."""
    import os

    settings = load_settings({"JOBS_DIR": str(tmp_path / "jobs"), "JOBS_NICE": 7}, environ={})
    runner = jobs.from_settings(settings)
    try:
        info = wait_for(runner, runner.submit(jobs_tasks.niceness, {}).id)
        assert info.status == jobs.DONE
        assert runner.result(info.id).data == {"nice": min(19, os.nice(0) + 7)}
    finally:
        runner.shutdown()


def test_a_refused_job_fails_with_its_french_message(make_runner):
    runner = make_runner().jobs()
    info = wait_for(runner, runner.submit(jobs_tasks.refused, {}).id)
    assert info.status == jobs.FAILED and info.error == "Le fichier ne contient aucune adresse."
    assert runner.result(info.id) is None


def test_a_crash_fails_with_a_generic_message_that_shows_nothing_of_the_input(make_runner):
    made = make_runner()
    runner = made.jobs()
    info = wait_for(runner, runner.submit(jobs_tasks.crashes, {"secret": "12 rue des Lilas 2.4812"}).id)
    assert info.status == jobs.FAILED
    assert info.error == jobs.INTERNAL_FAILURE and "Traceback" not in info.error
    if made.worker is not None:  # the worker's log names the failure, not what the task was given
        log = made.log.read_text()
        assert "RuntimeError" in log and "jobs_tasks.py" in log
        assert "Lilas" not in log and "2.4812" not in log


def test_cached_results_are_reused_until_the_data_version_changes(make_runner, demo_url, demo_engine):
    from app import db

    runner = make_runner(database_url=demo_url).jobs(demo_engine)
    first = wait_for(runner, runner.submit(jobs_tasks.partners, {"kind": "cmp"}).id)
    assert first.status == jobs.DONE
    assert runner.result(first.id).data["partners"] >= 1
    assert runner.submit(jobs_tasks.partners, {"kind": "cmp"}).id == first.id
    other = runner.submit(jobs_tasks.partners, {"kind": "clsm"})
    assert other.id != first.id
    with db.transaction(demo_engine) as session:  # what any committed import does to the version
        old = db.data_version(session)
        db.set_meta(session, db.DATA_VERSION_KEY, uuid.uuid4().hex)
    try:
        again = runner.submit(jobs_tasks.partners, {"kind": "cmp"})
        assert again.id != first.id
        assert wait_for(runner, again.id).status == jobs.DONE
    finally:
        with db.transaction(demo_engine) as session:
            db.set_meta(session, db.DATA_VERSION_KEY, old)


def test_results_are_deleted_after_their_delay(make_runner):
    runner = make_runner(JOBS_RESULT_TTL_S=1).jobs()
    info = wait_for(runner, runner.submit(jobs_tasks.count, {"n": 2}).id)
    assert info.status == jobs.DONE and runner.result(info.id) is not None
    time.sleep(1.3)
    assert runner.status(info.id) is None and runner.result(info.id) is None


def test_the_queue_is_bounded(make_runner):
    runner = make_runner(JOBS_MAX_QUEUED=1).jobs()
    first = runner.submit(jobs_tasks.wait, {"seconds": 1.5})
    with pytest.raises(jobs.JobsBusy) as refused:
        runner.submit(jobs_tasks.count, {"n": 1})
    assert refused.value.code == "jobs-busy" and "réessayer" in refused.value.message
    assert wait_for(runner, first.id).status == jobs.DONE
    assert wait_for(runner, runner.submit(jobs_tasks.count, {"n": 1}).id).status == jobs.DONE


def test_only_declared_tasks_run(make_runner):
    runner = make_runner().jobs()
    with pytest.raises(AttributeError):
        runner.submit(jobs_tasks.not_a_task, {})
    with pytest.raises(TypeError):
        jobs.resolve("tests.jobs_tasks:not_a_task")


def test_a_job_whose_process_died_is_failed_not_running_forever(tmp_path):
    settings = load_settings({"JOBS_DIR": str(tmp_path / "jobs")}, environ={})
    runner = jobs.from_settings(settings)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    info = jobs.JobInfo(id=uuid.uuid4().hex, task="tests.jobs_tasks:count", label="Compter", status=jobs.RUNNING,
                        created_at=time.time(), owner=f"{socket.gethostname()}:{dead.pid}")
    runner.store.save(info)
    now = runner.status(info.id)
    assert now.status == jobs.FAILED and now.error == jobs.INTERRUPTED


def test_the_job_page_shows_progress_and_gives_the_result(make_runner):
    from app.web import create_app, state

    made = make_runner()
    app = create_app(made.settings.as_flask_config())
    client = app.test_client()
    runner = state(app).jobs
    info = runner.submit(jobs_tasks.count, {"n": 10, "pause": 0.1})
    page = client.get(f"/travaux/{info.id}")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    assert "<progress" in html and 'http-equiv="refresh"' in html and "Compter" in html
    assert "jobs.js" in html
    body = client.get(f"/travaux/{info.id}.json").get_json()
    assert body["status"] in ("queued", "running") and body["result_url"] is None and body["percent"] < 100
    wait_for(runner, info.id)
    done = client.get(f"/travaux/{info.id}").get_data(as_text=True)
    assert 'http-equiv="refresh"' not in done and "Télécharger le résultat" in done and "Disponible jusqu" in done
    body = client.get(f"/travaux/{info.id}.json").get_json()
    assert body["status_label"] == "Terminé" and body["percent"] == 100
    download = client.get(body["result_url"])
    assert download.status_code == 200 and download.data.startswith(b"0\n1\n")
    assert 'filename="compte-final.csv"' in download.headers["Content-Disposition"]
    missing = client.get(f"/travaux/{uuid.uuid4().hex}")
    assert missing.status_code == 404 and "expiré" in missing.get_data(as_text=True)
    assert client.get("/travaux/..%2Fetc").status_code == 404
    state(app).engine.dispose()


def test_a_busy_queue_is_a_503_with_retry_after(make_runner):
    from app.web import create_app, state

    made = make_runner(JOBS_MAX_QUEUED=0)
    app = create_app(made.settings.as_flask_config())
    with app.test_request_context("/api/v1/ping"):
        from app.web.errors import problem

        assert problem("jobs-busy", "x").status_code == 503
    with pytest.raises(MaillageError):
        state(app).jobs.submit(jobs_tasks.count, {"n": 1})
    state(app).engine.dispose()
