"""Uploaded address files, kept only for their job: one private directory per upload (mode 0700,
an unguessable token as its name) holding the file, a small state file (its name, the columns
chosen, the job's id) and, once annotated, the results. Deleted after the download, on request, or
RETENTION seconds after the last change, whichever comes first; nothing about them is logged.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
import time
from pathlib import Path

SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm")


class Uploads:
    """The uploads of one directory (MAILLAGE_ANNOTATE_DIR, else <temp>/maillage-annotate)."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root else Path(tempfile.gettempdir()) / "maillage-annotate"
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)

    def directory(self, token: str) -> Path | None:
        if not token or len(token) != 32 or not all(c in "0123456789abcdef" for c in token):
            return None  # only our own tokens reach the file system
        path = self.root / token
        return path if path.is_dir() else None

    def save(self, stream, filename: str, *, max_bytes: int) -> tuple[str, Path]:
        """Store an upload under a new token; returns (token, path of the file). Refuses a file
        larger than max_bytes (nothing kept)."""
        from app.errors import InvalidInput

        suffix = Path(filename or "").suffix.lower()
        if suffix not in SUFFIXES:
            raise InvalidInput("Fichier .csv ou .xlsx attendu.", code="invalid-file", field="fichier")
        token = secrets.token_hex(16)
        directory = self.root / token
        directory.mkdir(mode=0o700)
        path = directory / f"source{suffix}"
        size = 0
        try:
            with path.open("wb") as out:
                while True:
                    block = stream.read(1 << 20)
                    if not block:
                        break
                    size += len(block)
                    if size > max_bytes:
                        raise InvalidInput(f"Fichier trop volumineux : {max_bytes // 2**20} Mo au plus.",
                                           code="file-too-large", field="fichier")
                    out.write(block)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        self.write_state(token, {"name": Path(filename).name[:200], "created": time.time()})
        return token, path

    def source_path(self, token: str) -> Path | None:
        directory = self.directory(token)
        if directory is None:
            return None
        return next((p for p in directory.iterdir() if p.stem == "source"), None)

    def state(self, token: str) -> dict | None:
        directory = self.directory(token)
        if directory is None:
            return None
        try:
            return json.loads((directory / "state.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None

    def write_state(self, token: str, data: dict) -> None:
        directory = self.root / token
        part = directory / "state.json.part"
        part.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        os.replace(part, directory / "state.json")

    def touch(self, token: str) -> None:
        """Mark the upload as in use (a running job): the sweep counts from its last use."""
        directory = self.directory(token)
        if directory is not None:
            os.utime(directory)

    def delete(self, token: str) -> None:
        directory = self.directory(token)
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

    def sweep(self, retention_s: int, *, now: float | None = None, on_delete=None) -> int:
        """Delete the uploads untouched for more than retention_s seconds (calling on_delete with
        each one's state first: its job's result goes with it); returns how many."""
        now = time.time() if now is None else now
        removed = 0
        for directory in list(self.root.iterdir()):
            try:
                last = max(p.stat().st_mtime for p in [directory, *directory.iterdir()])
            except (FileNotFoundError, ValueError, NotADirectoryError):
                continue
            if now - last > retention_s:
                found = self.state(directory.name)
                if on_delete is not None and found is not None:
                    on_delete(found)
                shutil.rmtree(directory, ignore_errors=True)
                removed += 1
        return removed
