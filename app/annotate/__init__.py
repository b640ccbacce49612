"""A landlord's housing stock annotated with its partners, from an address file.

`annotate` reads the rows of a checked file (app.annotate.reading), geocodes each address with the
project's geocoder (the same `Geocoder.search` a single lookup uses; identical addresses are
geocoded once), then answers the rows in chunks with the batch lookup (`app.lookup.lookup_many`,
one query per table per chunk, the "à confirmer" flags included), so that each row gets exactly the
answer `maillage lookup "ADDRESS"` gives. Rows are written as they are answered
(app.annotate.writing): memory stays flat whatever the file's length.

Nothing here logs or keeps an address: rows live for one chunk; only counts per commune, group and
partner outlive it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from app.annotate.reading import Columns, SourceFile
from app.errors import InvalidInput, MaillageError
from app.geocoding import Geocoder
from app.lookup import Options, lookup_many
from app.lookup.address import uncertainty_for
from app.lookup.cache import defaults_for, reference

CHUNK_ROWS = 2000
GEOCODE_CACHE = 20_000  # distinct addresses remembered (a building's dwellings share one)
OUTPUT_FORMATS = (".xlsx", ".csv")


@dataclass
class Row:
    """One input row and what it became. `answer` is the lookup answer (None unless found)."""

    line: int
    ident: str
    groups: tuple[str, ...]
    address: str
    status: str  # found | ambiguous | not_found | empty | invalid
    message: str | None = None
    best: object = None  # app.geocoding.base.Candidate
    candidates: list = field(default_factory=list)
    answer: dict | None = None

    @property
    def to_confirm(self) -> list[str]:
        """Why this row's answer needs checking (empty: sure)."""
        reasons = []
        if self.best is not None and self.best.doubt:
            reasons.append(self.best.doubt)
        if self.best is not None and self.best.note and self.best.level != "housenumber":
            reasons.append(self.best.note)
        confidence = (self.answer or {}).get("confidence") or {}
        if confidence.get("status") == "to_confirm":
            reasons.append(confidence["message"])
        return reasons

    @property
    def needs_fixing(self) -> bool:
        """Sent to the "À vérifier" sheet: not found, ambiguous, empty, or placed at the commune only."""
        return self.status != "found" or self.best.level == "municipality"


def address_text(cells: dict, columns: Columns) -> str:
    """The address as one line: the address column, or the split columns joined, with the postal
    code and the commune when they are columns of their own."""
    parts = [cells.get("number", ""), cells.get("address") or cells.get("street", ""),
             cells.get("postcode", ""), cells.get("city", "")]
    return " ".join(p.strip() for p in parts if p and p.strip())


def kinds_for(session: Session, options: Options) -> list:
    """The kinds the file is annotated with: those asked, else every territorial kind."""
    kinds, _ = defaults_for(reference(session), options)
    if options.kinds:
        return kinds
    return [k for k in kinds if k.mode == "territorial"]


def check_output(path: Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise InvalidInput(f"Fichier de sortie « {Path(path).name} » : extension .xlsx ou .csv attendue.",
                           code="invalid-input", field="out")
    return suffix


def rows(session: Session, geocoder: Geocoder, source: SourceFile, columns: Columns, options: Options, *,
         boundary_m: int = 50, progress=None, chunk: int = CHUNK_ROWS):
    """The rows of the file, each geocoded and answered, in the file's order."""
    cache: OrderedDict = OrderedDict()
    regions: dict = {}  # uncertainty regions of communes (a query each), per INSEE code
    batch: list[Row] = []
    for line, cells in source.rows(columns):
        batch.append(_geocoded(session, geocoder, line, cells, columns, cache))
        if len(batch) >= chunk:
            yield from _answered(session, batch, options, boundary_m, regions)
            if progress:
                progress(len(batch))
            batch = []
    if batch:
        yield from _answered(session, batch, options, boundary_m, regions)
        if progress:
            progress(len(batch))


def _geocoded(session, geocoder: Geocoder, line: int, cells: dict, columns: Columns, cache: OrderedDict) -> Row:
    address = address_text(cells, columns)
    row = Row(line, cells.get("id", ""), cells["groups"], address, "empty")
    if not address:
        row.message = "Adresse vide."
        return row
    result = cache.get(address)
    if result is None:
        try:
            result = geocoder.search(session, address, limit=5)
        except MaillageError as exc:  # too long, control characters: this row only
            row.status, row.message = "invalid", exc.message
            return row
        cache[address] = result
        if len(cache) > GEOCODE_CACHE:
            cache.popitem(last=False)
    else:
        cache.move_to_end(address)
    row.status, row.message, row.candidates, row.best = result.status, result.message, result.candidates, result.best
    return row


def _answered(session, batch: list[Row], options: Options, boundary_m: int, regions: dict):
    found = [r for r in batch if r.best is not None]
    keys: dict = {}
    points, uncertainties = [], []
    for r in found:
        b = r.best
        key = (b.lon, b.lat, b.level, b.label)
        if key not in keys:
            keys[key] = len(points)
            points.append((b.lon, b.lat))
            if b.level == "municipality" and b.code_insee:
                region_key = (b.code_insee, b.lon, b.lat)
                if region_key not in regions:
                    regions[region_key] = uncertainty_for(session, b, boundary_m)
                uncertainties.append(regions[region_key])
            else:
                uncertainties.append(uncertainty_for(session, b, boundary_m))
    if points:
        answers = lookup_many(session, points, options, uncertainties=uncertainties)["results"]
        for r in found:
            b = r.best
            r.answer = answers[keys[(b.lon, b.lat, b.level, b.label)]]
    yield from batch


def annotate(session: Session, geocoder: Geocoder, source: SourceFile, columns: Columns, options: Options,
             out: Path, *, gpkg: Path | None = None, boundary_m: int = 50, progress=None,
             chunk: int = CHUNK_ROWS) -> dict:
    """Annotate the file into `out` (.xlsx or .csv; with `gpkg`, also a GeoPackage of the points).
    All or nothing: on any error no output file is left. Returns the counts."""
    from app.annotate import writing

    suffix = check_output(out)
    kinds = kinds_for(session, options)
    if progress:
        progress(0, total=source.row_count)
    writer = writing.Writer(Path(out), suffix, kinds, source, columns, options, gpkg=gpkg)
    try:
        for row in rows(session, geocoder, source, columns, options, boundary_m=boundary_m, progress=progress,
                        chunk=chunk):
            writer.add(row)
        return writer.close()
    except BaseException:
        writer.abort()
        raise
