"""The audit: every write to a partner or an account is a row saying who, when, what (a field-level
diff, coverage parts included) and why, with the partner's record after the write so any earlier
version can be restored. Written by the web edits, proposals and their decisions, reverts,
verifications, reports, account changes and imports (app/partners/registry.py)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Account, AuditEntry, Partner

# How fields are named in a diff people read.
FIELD_LABELS = {
    "kind": "type", "name": "nom", "description": "description", "how_to_refer": "comment saisir",
    "website": "site web", "age_band": "âge", "housing_types": "types de logement", "eligibility": "public",
    "capacity": "capacité", "status": "statut", "valid_from": "début", "valid_to": "fin", "finess": "FINESS",
    "siret": "SIRET", "data_inclusion_id": "identifiant data·inclusion", "last_verified_at": "vérifié le",
    "reserved_landlords": "bailleurs réservataires", "sites": "lieux", "contacts": "contacts",
    "coverage.include": "zone : territoires inclus", "coverage.exclude": "zone : territoires exclus",
    "coverage.polygons": "zone : polygones",
}


def flatten(record: dict | None) -> dict:
    """A record as the fields a diff compares: the coverage split into its three kinds of parts."""
    if not record:
        return {}
    flat = {k: v for k, v in record.items() if k not in ("coverage", "ref")}
    cov = record.get("coverage") or {}
    flat["coverage.include"] = sorted(cov.get("include") or [])
    flat["coverage.exclude"] = sorted(cov.get("exclude") or [])
    flat["coverage.polygons"] = [{"mode": p.get("mode"), "label": p.get("label"), "geometry": p.get("geometry")}
                                 for p in cov.get("polygons") or []]
    return flat


def diff(before: dict | None, after: dict | None) -> dict:
    """field → [before, after], for the fields that differ."""
    old, new = flatten(before), flatten(after)
    empty = (None, "", [], {})  # a blank form field and a stored empty text are the same
    return {k: [old.get(k), new.get(k)] for k in sorted(set(old) | set(new))
            if old.get(k) != new.get(k) and not (old.get(k) in empty and new.get(k) in empty)}


def record(session: Session, *, action: str, actor: Account | None = None, actor_label: str | None = None,
           partner: Partner | None = None, target: str | None = None, diff: dict | None = None,
           snapshot: dict | None = None, reason: str = "") -> AuditEntry:
    entry = AuditEntry(account_id=actor.id if actor is not None else None,
                       actor=actor_label or (actor.name if actor is not None else "système"),
                       action=action, partner_id=partner.id if partner is not None else None,
                       partner_ref=partner.ref if partner is not None else None, target=target,
                       diff=diff or {}, snapshot=snapshot, reason=reason or "")
    session.add(entry)
    session.flush()
    return entry


def history(session: Session, partner_id: int) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.partner_id == partner_id)
                                .order_by(AuditEntry.id.desc())))


def entries(session: Session, *, limit: int = 200) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)))


def person_edits_since(session: Session, partner_id: int, since) -> dict[str, AuditEntry]:
    """The fields a person (an account) changed on a partner after `since` (None: ever), with the last
    such change: an import must not overwrite them silently."""
    query = select(AuditEntry).where(AuditEntry.partner_id == partner_id,
                                     AuditEntry.action.in_(("edit", "validation", "revert")))
    if since is not None:
        query = query.where(AuditEntry.at > since)
    fields: dict[str, AuditEntry] = {}
    for entry in session.scalars(query.order_by(AuditEntry.id)):
        for name in entry.diff or {}:
            fields[name] = entry
    return fields


def from_clean(clean: dict) -> dict:
    """A validated record (app.partners.registry.normalise) in the form of a stored one
    (cards.record_of): dates as ISO text, polygons as GeoJSON, so the two compare field by field."""
    import datetime as dt

    from shapely import wkt
    from shapely.geometry import mapping

    out = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in clean.items()}
    cov = clean.get("coverage") or {}
    out["coverage"] = {"include": list(cov.get("include") or []), "exclude": list(cov.get("exclude") or []),
                       "polygons": [{"mode": p["mode"], "label": p.get("label"), "geometry": mapping(wkt.loads(p["wkt"]))}
                                    for p in cov.get("polygons") or []]}
    return out
