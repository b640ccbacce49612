"""The application served as in production (`maillage serve`, waitress) for the HTTP benchmarks."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def served(database_url: str, port: int, threads: int = 4):
    """Yields (API base URL, a requests session, the server process) once /api/v1/ping answers."""
    env = {**os.environ, "DATABASE_URL": database_url}
    # a file, not a pipe: under load the server logs (waitress's queue warnings) and a pipe nobody
    # reads fills up and stops it
    log = tempfile.TemporaryFile()
    server = subprocess.Popen([str(ROOT / ".venv" / "bin" / "maillage"), "serve", "--port", str(port),
                               "--threads", str(threads)], env=env, stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}/api/v1"
    http = requests.Session()
    try:
        deadline = time.monotonic() + 300  # the geocoder's indexes are built before it listens
        while True:
            try:
                if http.get(base + "/ping", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
            if server.poll() is not None or time.monotonic() > deadline:
                server.terminate()
                server.wait(timeout=30)
                log.seek(0)
                raise RuntimeError(log.read().decode(errors="replace"))
        yield base, http, server
    finally:
        server.terminate()
        server.wait(timeout=30)
