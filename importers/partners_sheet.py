"""Import of the partner sheet (app/exchange/partner_sheet.py, docs/partner-sheet.md): its records
validated against the registry, then upserted; the landlords of its `Bailleurs` sheet with them.

`maillage import partners-sheet FILE.csv|FILE.xlsx [--polygons FILE] [--dry-run]`
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from app import dialects
from app.errors import InvalidInput
from app.exchange import partner_sheet
from app.models import CoveragePart, Partner
from app.partners import registry
from importers.base import POLYGONS, PROBABLE, PartnerBatch, Report, upsert_records

NAME = "partners-sheet"
DESCRIPTION = "Feuille de partenaires (CSV ou XLSX, format d'échange documenté dans docs/partner-sheet.md)"
FILES = "one"
OPTIONS = (POLYGONS, PROBABLE)


def read(path, *, report: Report, session, polygons: str | Path | None = None, **_) -> PartnerBatch:
    if path is None:
        raise InvalidInput("Feuille de partenaires manquante.")
    path = Path(path)
    records, landlords = partner_sheet.read_sheet(path, report, polygons=Path(polygons) if polygons else None)
    had_polygons = _warn_polygons_dropped(session, records, polygons, report)
    # Landlords of this workbook count as known while validating its partners.
    cache = registry.validation_cache(session, landlords=[landlord["code"] for landlord in landlords])
    for item in records:
        clean, errors = registry.normalise(session, item.record, cache)
        for field_name, message in errors.errors:
            line, column = partner_sheet.locate(item, field_name)
            if field_name == "coverage" and not polygons and item.record["ref"] in had_polygons:
                message += " (ses polygones : fournir --polygons)"
            report.reject(line, column, f"{clean.get('ref') or item.record.get('ref')} : {message}")
    return PartnerBatch([(item.line, item.record) for item in records], file=path.name, landlords=landlords)


def _warn_polygons_dropped(session, records: list[partner_sheet.SheetRecord], polygons, report: Report) -> set[str]:
    """An import replaces each partner: say so when that removes polygons it has today. Returns
    the identifiants concerned."""
    no_polygons = {item.record["ref"]: item for item in records if not item.record["coverage"]["polygons"]}
    refs, found = sorted(no_polygons), set()
    for chunk in dialects.chunked(refs):
        for ref in session.scalars(
            select(Partner.ref).join(CoveragePart).where(Partner.ref.in_(chunk), CoveragePart.code.is_(None)).distinct()
        ):
            found.add(ref)
            hint = "" if polygons else " (fichier --polygons non fourni)"
            report.warn(no_polygons[ref].line, "polygones",
                        f"{ref} a aujourd'hui des polygones personnalisés que cet import supprime{hint}")
    return found


def load(session, batch: PartnerBatch, *, report: Report, progress=None, probable: str | None = None, **_) -> None:
    for landlord in batch.landlords:
        registry.upsert_landlord(session, landlord["code"], landlord["name"], landlord["siren"])
    upsert_records(session, batch.rows, source=NAME, source_file=batch.file, report=report, progress=progress,
                   probable=probable)
