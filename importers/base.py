"""What every importer shares: the report, the three verbs and the all-or-nothing run.

An importer module exposes `read(path, **options) -> Batch` (pure: parses and validates, touches
no database unless it needs the reference to validate against) and `load(session, batch, report)`
(idempotent upsert inside the caller's transaction). `run()` below chains them: if any row is
rejected nothing is written; `dry_run` rolls the transaction back after a full load so the
report shows exactly what would change.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from sqlalchemy.engine import Connection, Engine

from app.db import session_factory
from app.errors import MaillageError


@dataclass
class RowProblem:
    line: int | None
    field: str | None
    message: str
    file: str | None = None  # set when one import reads several files

    def __str__(self) -> str:
        where = f"ligne {self.line}" if self.line is not None else "fichier"
        if self.file:
            where = f"{self.file} {where}"
        return f"{where}{' · ' + self.field if self.field else ''} : {self.message}"


@dataclass
class Report:
    source: str
    file: str | None = None
    dry_run: bool = False
    rows_read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    closed: int = 0  # marked closed, never deleted (FINESS establishments gone from a newer file)
    merged: int = 0  # records of a structure already loaded from another source, merged into it
    recompiled: int = 0
    rejected: list[RowProblem] = field(default_factory=list)
    warnings: list[RowProblem] = field(default_factory=list)
    # reference units whose name changed (typed code, old, new): said one by one, a rename is
    # what a person looking for the old name needs to know
    renamed: list[dict] = field(default_factory=list)
    # contours that changed beyond app.geometry's thresholds against the stored ones: refused
    # unless `accept_changes`, then applied and still listed
    contour_changes: list[dict] = field(default_factory=list)
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))

    def reject(self, line: int | None, field_name: str | None, message: str, file: str | None = None) -> None:
        self.rejected.append(RowProblem(line, field_name, message, file))

    def warn(self, line: int | None, field_name: str | None, message: str) -> None:
        self.warnings.append(RowProblem(line, field_name, message))

    def rename(self, code: str, old: str, new: str) -> None:
        self.renamed.append({"code": code, "old": old, "new": new})

    def count(self, action: str) -> None:
        setattr(self, action, getattr(self, action) + 1)

    @property
    def ok(self) -> bool:
        return not self.rejected

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted or self.closed or self.merged)

    def summary(self) -> str:
        files = ", ".join(Path(f).name for f in self.file.split(", ")) if self.file else ""
        name = f"{self.source}" + (f" ({files})" if files else "")
        if not self.ok:
            return (f"Import {name} refusé : {len(self.rejected)} problème(s) sur {self.rows_read} "
                    "ligne(s) lue(s). Rien n'a été modifié.")
        verb = "simulé (--dry-run, rien n'est écrit)" if self.dry_run else "terminé"
        if not self.changed:
            return f"Import {name} {verb} : {self.rows_read} ligne(s), aucun changement (déjà à jour)."
        return (f"Import {name} {verb} : {self.rows_read} ligne(s) — {self.created} créé(s), "
                f"{self.updated} mis à jour, {self.unchanged} inchangé(s)"
                + (f", {self.merged} rattaché(s) à un partenaire existant" if self.merged else "")
                + (f", {self.deleted} supprimé(s)" if self.deleted else "")
                + (f", {self.closed} fermé(s) (absents du fichier)" if self.closed else "")
                + (f", {len(self.renamed)} renommé(s)" if self.renamed else "")
                + (f", {self.recompiled} zone(s) de couverture recompilée(s)" if self.recompiled else "") + ".")

    def as_dict(self) -> dict:
        return {
            "source": self.source, "file": self.file, "dry_run": self.dry_run, "ok": self.ok,
            "rows_read": self.rows_read, "created": self.created, "updated": self.updated,
            "unchanged": self.unchanged, "deleted": self.deleted, "closed": self.closed, "merged": self.merged,
            "recompiled": self.recompiled,
            "rejected": [vars(p) for p in self.rejected], "warnings": [vars(p) for p in self.warnings],
            "renamed": self.renamed, "contour_changes": self.contour_changes,
        }


_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$")
# Paris, the most populous commune, has 2.1 million inhabitants: more is a wrong column or unit.
MAX_POPULATION = 3_000_000


def population_value(raw) -> int | None:
    """An inhabitants count from a file's cell (text, or a number pandas read): None when empty;
    ValueError with the reason, in French, when it cannot be one."""
    if raw is None or (isinstance(raw, float) and raw != raw) or (isinstance(raw, str) and not raw.strip()):
        return None  # pandas turns a JSON null in a numeric column into NaN: no population
    text = str(raw).strip()
    if isinstance(raw, str) and not _NUMBER.match(text):
        raise ValueError(f"entier attendu (reçu « {text[:30]} »)")
    number = float(raw)
    if not math.isfinite(number) or number != int(number):
        raise ValueError(f"entier attendu (reçu « {text[:30]} »)")
    if number < 0:
        raise ValueError(f"population négative ({int(number)})")
    if number > MAX_POPULATION:
        raise ValueError(f"population aberrante : {_thousands(int(number))} habitants (au plus "
                         f"{_thousands(MAX_POPULATION)} pour une commune, Paris en a 2,1 millions)")
    return int(number)


def _thousands(n: int) -> str:
    return f"{n:,}".replace(",", " ")


def read_bytes(path: Path, *, what: str = "fichier texte CSV") -> bytes:
    """A text file's bytes, gunzipped when compressed; empty and binary files are refused."""
    import gzip

    from app.errors import InvalidInput

    if not path.exists():
        raise InvalidInput(f"Fichier introuvable : {path}")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise InvalidInput(f"{path.name} : archive gzip illisible ({exc}).") from exc
    if not raw.strip():
        raise InvalidInput(f"Fichier {path.name} vide.")
    if b"\x00" in raw[:4096]:
        raise InvalidInput(f"{path.name} n'est pas un {what} (octets binaires).")
    return raw


def read_text(path: Path, *, hint: str = "réenregistrer le fichier en UTF-8") -> str:
    """A CSV file's text: plain or gzipped, UTF-8 (with or without BOM); empty, binary or
    differently encoded files are refused with the line of the first bad byte."""
    from app.errors import InvalidInput

    raw = read_bytes(path)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InvalidInput(f"{path.name} n'est pas en UTF-8 (octet invalide ligne {line}) : {hint}.") from exc


def upsert_records(session, rows: list[tuple[int, dict]], *, source: str, source_file: str, report: Report,
                   progress=None, probable: str | None = None) -> None:
    """Upsert partner records (line, record) with their provenance, counting each outcome; the
    stored partners are loaded 500 at a time rather than one query set per record. A record whose
    ref is new is first matched against the partners already stored (`match_before_create`)."""
    from app.partners import matching, registry

    if progress:
        progress(0, total=len(rows))
    compile_cache: dict = {}
    check_cache: dict = {}
    index = matching.Index.load(session)
    for start in range(0, len(rows), 500):
        chunk = rows[start:start + 500]
        stored = registry.load_stored(session, [record["ref"] for _, record in chunk])
        for line, record in chunk:
            partner = stored.get(record["ref"])
            if partner is None:
                clean, errors = registry.normalise(session, record, check_cache)
                handled = not errors and match_before_create(session, index, line, clean, report, probable=probable,
                                                             source=source, source_file=source_file,
                                                             check_cache=check_cache)
                if handled:
                    if progress:
                        progress(1)
                    continue
            result = registry.upsert_partner(session, record, source=source, source_file=source_file, source_row=line,
                                             compile_cache=compile_cache, check_cache=check_cache, stored=partner)
            report.count(result.action)
            if result.action == "created":
                index.add_partner(result.partner)
            if progress:
                progress(1)


PROBABLE_CHOICES = (None, "merge", "create")


def match_before_create(session, index, line: int | None, clean: dict, report: Report, *, probable: str | None,
                        source: str, source_file: str | None, check_cache: dict | None = None) -> bool:
    """Before creating a partner from `clean`: if it stands for a stored partner, merge it there
    (certain match, or a probable one with --merge-probable) or report the pair and create
    nothing (probable match, no decision); True when handled. With --create-probable a probable
    match is created as a distinct partner."""
    from app.partners import matching, registry
    from app.models import Partner

    if probable not in PROBABLE_CHOICES:
        raise ValueError(f"probable: {probable!r}")
    match = index.find(clean)
    if match is None or (not match.certain and probable == "create"):
        return False
    if not match.certain and probable != "merge":
        report.reject(line, None, matching.probable_message(clean, line, match))
        return True
    partner = session.get(Partner, match.candidate.id)
    action = registry.merge_into(session, partner, clean, matched_on=match.on, source=source, source_file=source_file,
                                 source_row=line, check_cache=check_cache)
    report.count(action)
    if action == "merged":
        report.warn(line, "rapprochement", matching.merged_message(clean, match))
    return True


class ImportRejected(MaillageError):
    code = "import-rejected"

    def __init__(self, report: Report):
        super().__init__(report.summary())
        self.report = report


@dataclass
class Batch:
    """What `read` returns: parsed rows plus anything `load` needs."""

    rows: list[Any]
    extra: dict = field(default_factory=dict)


def run(
    engine: Engine | Connection,
    source: str,
    read: Callable[..., Batch],
    load: Callable[..., None],
    path: str | Path | None,
    *,
    dry_run: bool = False,
    progress: Callable[[int, int | None], None] | None = None,
    **options,
) -> Report:
    if isinstance(path, (list, tuple)):
        label = ", ".join(str(p) for p in path) or None
    else:
        label = str(path) if path else None
    report = Report(source=source, file=label, dry_run=dry_run)
    Session = session_factory(engine)
    with Session() as session:
        try:
            batch = read(path, report=report, session=session, **options)
        except MaillageError as exc:
            report.reject(None, None, exc.message)
            raise ImportRejected(report) from exc
        session.rollback()  # read may have queried the reference: end that read transaction
        if not report.ok:
            raise ImportRejected(report)
        session.begin()
        try:
            load(session, batch, report=report, progress=progress, **options)
            if not report.ok:
                raise ImportRejected(report)
        except BaseException:
            session.rollback()
            raise
        if dry_run:
            session.rollback()
        else:
            session.commit()
    return report
