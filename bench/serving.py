"""The application served as in production (`maillage serve`, waitress) for the HTTP benchmarks."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def served(database_url: str, port: int, threads: int = 4):
    """Yields (API base URL, a requests session, the server process) once /api/v1/ping answers."""
    env = {**os.environ, "DATABASE_URL": database_url}
    server = subprocess.Popen([str(ROOT / ".venv" / "bin" / "maillage"), "serve", "--port", str(port),
                               "--threads", str(threads)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}/api/v1"
    http = requests.Session()
    try:
        for _ in range(200):
            try:
                if http.get(base + "/ping", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        else:
            raise RuntimeError(server.stderr.read().decode())
        yield base, http, server
    finally:
        server.terminate()
        server.wait(timeout=30)
