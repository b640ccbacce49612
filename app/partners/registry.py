"""The partner registry: validate a partner record and upsert it on its natural key (`ref`).

Every source (demo files, partner sheets, FINESS, data·inclusion) ends up as the same plain dict
(`PartnerInput`, documented in docs/partner-record.md) handed to `upsert_partner`. Validation
returns *all* problems of a record with the field they concern, in French, so an importer can
report them per row; nothing is written for an invalid record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field

from geoalchemy2.shape import from_shape
from shapely.geometry import Point, box
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app import territories
from app.errors import InvalidInput, MaillageError
from app.geometry import as_multipolygon, check_lon_lat, from_geojson
from app.partners import cards, coverage, referral
from app.partners.cards import SCALARS
from app.models import (
    AuditEntry,
    Contact,
    CoveragePart,
    Kind,
    Landlord,
    Partner,
    PartnerAlias,
    PartnerLandlord,
    Site,
    _now,
)
from app.vocabulary import AGE_BANDS, HOUSING_TYPE_LABELS, STATUSES

REF_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,119}$")
FINESS_RE = re.compile(r"^(?:\d{2}|2[AB])\d{7}$")
SIRET_RE = re.compile(r"^\d{14}$")
POSTCODE_RE = re.compile(r"^\d{5}$")
EMAIL_RE = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
URL_RE = re.compile(r"^https?://[^\s<>\"]+$")


@dataclass
class RecordErrors:
    errors: list[tuple[str, str]] = field(default_factory=list)

    def add(self, field_name: str, message: str) -> None:
        self.errors.append((field_name, message))

    def __bool__(self) -> bool:
        return bool(self.errors)


class InvalidRecord(InvalidInput):
    code = "invalid-record"

    def __init__(self, ref: str | None, errors: list[tuple[str, str]]):
        summary = "; ".join(f"{f} : {m}" for f, m in errors)
        super().__init__(f"Partenaire {ref or '(sans ref)'} invalide — {summary}")
        self.errors = errors


def _text(value, errors: RecordErrors, name: str, *, required=False, max_len=5000) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors.add(name, "obligatoire")
        return None
    if not isinstance(value, str):
        value = str(value)
    value = value.strip()
    if "\x00" in value:
        errors.add(name, "caractère nul interdit")
        return None
    if len(value) > max_len:
        errors.add(name, f"trop long ({len(value)} caractères, maximum {max_len})")
        return None
    return value


def _date(value, errors: RecordErrors, name: str) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        errors.add(name, f"date invalide « {value} » (format attendu AAAA-MM-JJ)")
        return None


def _int(value, errors: RecordErrors, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        errors.add(name, f"nombre entier attendu (reçu « {value} »)")
        return None
    if number < 0 or number > 1_000_000:
        errors.add(name, f"valeur hors limites ({number})")
        return None
    return number


def _pattern(value, errors, name, regex, what) -> str | None:
    text_value = _text(value, errors, name, max_len=500)
    if text_value is not None and not regex.match(text_value):
        errors.add(name, f"{what} invalide « {text_value} »")
        return None
    return text_value


def normalise(session: Session, data: dict, cache: dict | None = None) -> tuple[dict, RecordErrors]:
    """Check a partner record; return the clean record and every problem found. `cache` (a dict
    kept across the records of one import) saves the reference look-ups."""
    errors = RecordErrors()
    if not isinstance(data, dict):
        errors.add("(enregistrement)", "objet attendu")
        return {}, errors
    clean: dict = {}
    ref = _text(data.get("ref"), errors, "ref", required=True, max_len=120)
    if ref is not None and not REF_RE.match(ref):
        errors.add("ref", f"identifiant invalide « {ref} » (lettres, chiffres, _ . : - uniquement)")
    clean["ref"] = ref
    kind_code = _text(data.get("kind"), errors, "kind", required=True, max_len=40)
    kind = _kind(session, kind_code, cache) if kind_code else None
    if kind_code and kind is None:
        errors.add("kind", f"type de partenaire inconnu « {kind_code} »")
    clean["kind"] = kind_code
    clean["name"] = _text(data.get("name"), errors, "name", required=True, max_len=300)
    clean["description"] = _text(data.get("description"), errors, "description") or ""
    clean["how_to_refer"] = _text(data.get("how_to_refer"), errors, "how_to_refer") or ""
    clean["website"] = _pattern(data.get("website"), errors, "website", URL_RE, "adresse web")
    clean["eligibility"] = _text(data.get("eligibility"), errors, "eligibility") or ""
    age = data.get("age_band") or (kind.age_band if kind else "tous")
    if age not in AGE_BANDS:
        errors.add("age_band", f"« {age} » (valeurs : {', '.join(AGE_BANDS)})")
    clean["age_band"] = age
    housing = data.get("housing_types") or []
    if isinstance(housing, str):
        housing = [h.strip() for h in housing.split("|") if h.strip()]
    for h in housing:
        if h not in HOUSING_TYPE_LABELS:
            errors.add("housing_types", f"« {h} » (valeurs : {', '.join(HOUSING_TYPE_LABELS)})")
    clean["housing_types"] = sorted(set(housing))
    clean["capacity"] = _int(data.get("capacity"), errors, "capacity")
    status = data.get("status") or "active"
    if status not in STATUSES:
        errors.add("status", f"« {status} » (valeurs : {', '.join(STATUSES)})")
    clean["status"] = status
    clean["valid_from"] = _date(data.get("valid_from"), errors, "valid_from")
    clean["valid_to"] = _date(data.get("valid_to"), errors, "valid_to")
    if clean["valid_from"] and clean["valid_to"] and clean["valid_to"] < clean["valid_from"]:
        errors.add("valid_to", "antérieure à valid_from")
    clean["finess"] = _pattern(data.get("finess"), errors, "finess", FINESS_RE, "numéro FINESS")
    clean["siret"] = _pattern(data.get("siret"), errors, "siret", SIRET_RE, "SIRET")
    clean["data_inclusion_id"] = _text(data.get("data_inclusion_id"), errors, "data_inclusion_id", max_len=120)
    clean["last_verified_at"] = _date(data.get("last_verified_at"), errors, "last_verified_at")
    clean["referral"] = referral.normalise(data.get("referral"), errors)
    clean["funders"] = referral.funders(data.get("funders"), errors)
    clean["funding_end"] = _date(data.get("funding_end"), errors, "funding_end")

    landlords = data.get("reserved_landlords") or []
    if isinstance(landlords, str):
        landlords = [x.strip() for x in landlords.split("|") if x.strip()]
    if cache is not None:
        if "landlords" not in cache:
            cache["landlords"] = set(session.scalars(select(Landlord.code)))
        known = cache["landlords"]
    else:
        known = set(session.scalars(select(Landlord.code).where(Landlord.code.in_(landlords)))) if landlords else set()
    for code in landlords:
        if code not in known:
            errors.add("reserved_landlords", f"bailleur inconnu « {code} »")
    clean["reserved_landlords"] = sorted(set(landlords))

    clean["sites"] = [_site(s, errors, f"sites[{i}]") for i, s in enumerate(data.get("sites") or [])]
    clean["contacts"] = [_contact(c, errors, f"contacts[{i}]") for i, c in enumerate(data.get("contacts") or [])]
    clean["coverage"] = _coverage(session, data.get("coverage"), kind, errors, cache)
    if kind is not None and kind.mode == "proximity" and not any(s.get("lon") is not None for s in clean["sites"]):
        errors.add("sites", f"un partenaire « {kind.short_label} » est trouvé par proximité : au moins un site géolocalisé est requis")
    return clean, errors


def _site(data: dict, errors: RecordErrors, prefix: str) -> dict:
    if not isinstance(data, dict):
        errors.add(prefix, "objet attendu")
        return {}
    site = {
        "name": _text(data.get("name"), errors, f"{prefix}.name", required=True, max_len=300),
        "role": _text(data.get("role"), errors, f"{prefix}.role", max_len=40) or "principal",
        "address": _text(data.get("address"), errors, f"{prefix}.address", max_len=300) or "",
        "postcode": _pattern(data.get("postcode"), errors, f"{prefix}.postcode", POSTCODE_RE, "code postal"),
        "city": _text(data.get("city"), errors, f"{prefix}.city", max_len=200),
        "code_insee": _pattern(data.get("code_insee"), errors, f"{prefix}.code_insee",
                               territories.PATTERNS["commune"], "code INSEE"),
        "phone": _text(data.get("phone"), errors, f"{prefix}.phone", max_len=40),
        "email": _pattern(data.get("email"), errors, f"{prefix}.email", EMAIL_RE, "courriel"),
        "opening_hours": _text(data.get("opening_hours"), errors, f"{prefix}.opening_hours"),
        "accessibility": _text(data.get("accessibility"), errors, f"{prefix}.accessibility"),
        "finess": _pattern(data.get("finess"), errors, f"{prefix}.finess", FINESS_RE, "numéro FINESS"),
        "capacity": _int(data.get("capacity"), errors, f"{prefix}.capacity"),
        "lon": None,
        "lat": None,
    }
    lon, lat = data.get("lon"), data.get("lat")
    if (lon in (None, "")) != (lat in (None, "")):
        errors.add(f"{prefix}.lon/lat", "longitude et latitude vont ensemble")
    elif lon not in (None, ""):
        try:
            site["lon"], site["lat"] = check_lon_lat(lon, lat)
        except MaillageError as exc:
            errors.add(f"{prefix}.lon/lat", exc.message)
    return site


def _contact(data: dict, errors: RecordErrors, prefix: str) -> dict:
    if not isinstance(data, dict):
        errors.add(prefix, "objet attendu")
        return {}
    contact = {
        "label": _text(data.get("label"), errors, f"{prefix}.label", required=True, max_len=200),
        "phone": _text(data.get("phone"), errors, f"{prefix}.phone", max_len=40),
        "email": _pattern(data.get("email"), errors, f"{prefix}.email", EMAIL_RE, "courriel"),
        "url": _pattern(data.get("url"), errors, f"{prefix}.url", URL_RE, "adresse web"),
        "hours": _text(data.get("hours"), errors, f"{prefix}.hours"),
        "notes": _text(data.get("notes"), errors, f"{prefix}.notes"),
    }
    if not (contact["phone"] or contact["email"] or contact["url"]):
        errors.add(prefix, "un contact doit avoir un téléphone, un courriel ou une adresse web")
    return contact


def _kind(session: Session, code: str, cache: dict | None) -> Kind | None:
    # The session's identity map holds objects weakly: without a strong reference every record
    # would query its kind again (20,000 queries for a FINESS file of 20,000 followed rows).
    if cache is None:
        return session.get(Kind, code)
    kinds = cache.setdefault("kinds", {})
    if code not in kinds:
        kinds[code] = session.get(Kind, code)
    return kinds[code]


def _reference_extent(session: Session, cache: dict | None) -> tuple | None:
    """The reference's bounding box, once per import."""
    if cache is not None and "extent" in cache:
        return cache["extent"]
    extent = territories.reference_extent(session)
    if cache is not None:
        cache["extent"] = extent
    return extent


def _known_codes(session: Session, parsed: list, cache: dict | None) -> set[str]:
    """Which typed codes exist, remembered across the records of one import (a sheet of 5,000
    partners names the same départements again and again)."""
    if cache is None:
        return territories.existing(session, parsed)
    seen = cache.setdefault("codes", {})
    missing = [t for t in parsed if str(t) not in seen]
    if missing:
        found = territories.existing(session, missing)
        for typed in missing:
            seen[str(typed)] = str(typed) in found
    return {str(t) for t in parsed if seen[str(t)]}


def _coverage(session: Session, data, kind: Kind | None, errors: RecordErrors, cache: dict | None = None) -> dict:
    out = {"include": [], "exclude": [], "polygons": []}
    if data in (None, {}, ""):
        if kind is not None and kind.mode == "territorial":
            errors.add("coverage", f"un partenaire « {kind.short_label} » a une zone de compétence : au moins une partie est requise")
        return out
    if not isinstance(data, dict):
        errors.add("coverage", "objet attendu (include, exclude, polygons)")
        return out
    for mode in ("include", "exclude"):
        raw = data.get(mode) or []
        if isinstance(raw, str):
            raw = [c for c in raw.split("|") if c.strip()]
        parsed = []
        for raw_code in raw:
            try:
                parsed.append(territories.parse_code(raw_code))
            except MaillageError as exc:
                errors.add(f"coverage.{mode}", exc.message)
        known = _known_codes(session, parsed, cache)
        for typed in parsed:
            if str(typed) not in known:
                errors.add(f"coverage.{mode}", f"territoire {typed} absent du référentiel chargé."
                           + territories.absent_hint(session, typed))
            elif str(typed) not in out[mode]:
                out[mode].append(str(typed))
    for i, poly in enumerate(data.get("polygons") or []):
        name = f"coverage.polygons[{i}]"
        if not isinstance(poly, dict) or "geometry" not in poly:
            errors.add(name, "objet avec « geometry » (GeoJSON) attendu")
            continue
        mode = poly.get("mode", "include")
        if mode not in ("include", "exclude"):
            errors.add(name, f"mode « {mode} » (include ou exclude)")
            continue
        try:
            geom = from_geojson(poly["geometry"], what="polygone")
        except MaillageError as exc:
            errors.add(name, exc.message)
            continue
        extent = _reference_extent(session, cache)
        if extent is not None and not geom.intersects(box(*extent)):
            minx, miny, maxx, maxy = geom.bounds
            errors.add(name, f"polygone hors du territoire de la base (emprise {minx:.3f}, {miny:.3f}, {maxx:.3f}, "
                       f"{maxy:.3f}) : coordonnées dans un autre système que celui déclaré ?")
            continue
        out["polygons"].append({"mode": mode, "label": _text(poly.get("label"), errors, f"{name}.label", max_len=300),
                                "wkt": geom.wkt})
    if kind is not None and kind.mode == "territorial" and not out["include"] and not any(
        p["mode"] == "include" for p in out["polygons"]
    ):
        errors.add("coverage", "aucune partie incluse")
    return out


def content_hash(clean: dict) -> str:
    payload = json.dumps(clean, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass
class UpsertResult:
    partner: Partner
    action: str  # 'created' | 'updated' | 'unchanged'


def upsert_partner(
    session: Session,
    data: dict,
    *,
    source: str = "manuel",
    source_file: str | None = None,
    source_row: int | None = None,
    source_hash: str | None = None,
    compile_cache: dict | None = None,
    check_cache: dict | None = None,
    stored: Partner | None = None,
    audited: bool = True,
    audit_label: str | None = None,
) -> UpsertResult:
    """Create or update one partner from a record; raise InvalidRecord listing every problem.
    `stored`: the partner with this ref, already loaded with its collections (`load_stored`),
    which saves the look-ups when a caller updates many. A change is audited (app/audit/) as an
    import of `source_file`, line `source_row`, unless `audited` is False (the caller audits it)."""
    clean, errors = normalise(session, data, check_cache)
    if errors:
        raise InvalidRecord(clean.get("ref"), errors.errors)
    digest = content_hash(clean)
    if stored is not None:
        current = stored
    else:
        current = session.execute(
            select(Partner.id, Partner.content_hash, Partner.source_hash).where(Partner.ref == clean["ref"])).first()
    if current is not None and current.content_hash == digest:
        partner = stored or session.get(Partner, current.id)
        if source_hash and current.source_hash != source_hash:
            partner.source_hash = source_hash  # same record from a reworded row: remember the row
        return UpsertResult(partner, "unchanged")
    partner = stored or session.scalar(select(Partner).where(Partner.ref == clean["ref"]).options(*STORED_OPTIONS))
    kind = _kind(session, clean["kind"], check_cache)
    action = "updated"
    before = cards.record_of(partner) if partner is not None and audited else None
    if partner is None:
        partner = Partner(ref=clean["ref"], kind=kind)
        session.add(partner)
        action = "created"
    partner.kind = kind
    for name in SCALARS:
        setattr(partner, name, clean[name])
    partner.source, partner.source_file, partner.source_row = source, source_file, source_row
    partner.source_hash = source_hash
    partner.imported_at = partner.updated_at = _now()
    partner.content_hash = digest
    partner.landlord_links = [PartnerLandlord(landlord_code=c) for c in clean["reserved_landlords"]]
    partner.sites = [_site_model(i, s) for i, s in enumerate(clean["sites"])]
    partner.contacts = [Contact(position=i, **c) for i, c in enumerate(clean["contacts"])]
    parts = []
    for mode in ("include", "exclude"):
        for code in clean["coverage"][mode]:
            parts.append(CoveragePart(mode=mode, code=code))
    for poly in clean["coverage"]["polygons"]:
        from shapely import wkt

        geom = as_multipolygon(wkt.loads(poly["wkt"]), what="polygone")
        parts.append(CoveragePart(mode=poly["mode"], label=poly["label"], geom=from_shape(geom, srid=4326)))
    for i, part in enumerate(parts):
        part.position = i
    partner.parts = parts
    session.flush()
    coverage.compile_partner(session, partner, cache=compile_cache)
    if audited:
        from app import audit

        after = cards.record_of(partner)
        audit.record(session, action="import", actor_label=audit_label or import_label(source, source_file, source_row),
                     partner=partner, diff=audit.diff(before, after), snapshot=after)
    return UpsertResult(partner, action)


def source_label(source: str, source_file: str | None = None, source_row: int | None = None) -> str:
    """Where a record comes from, in plain words: "fichier de partenaires « partners.json », ligne 12"."""
    import os

    from app.vocabulary import SOURCE_LABELS

    label = SOURCE_LABELS.get(source, source)
    if source_file:
        label += f" « {os.path.basename(source_file)} »"
    if source_row is not None:
        label += f", ligne {source_row}"
    return label


def import_label(source: str, source_file: str | None, source_row: int | None) -> str:
    """Who wrote, for the audit (read on the history page), when an import did: "import : répertoire
    FINESS « etalab.csv », ligne 12"."""
    return f"import : {source_label(source, source_file, source_row)}"


def merge_into(session: Session, partner: Partner, clean: dict, *, matched_on: str, source: str,
               source_file: str | None, source_row: int | None, check_cache: dict | None = None) -> str:
    """Merge another source's record of the same structure into a stored partner (app/partners/matching.py):
    the partner keeps what it has and its own provenance, takes what it lacks from the record, and
    the record's ref becomes its alias. 'merged' the first time, then 'updated' or 'unchanged'."""
    from app.partners import matching

    merged = matching.fill(cards.record_of(partner), clean)
    result = upsert_partner(session, merged, source=partner.source, source_file=partner.source_file,
                            source_row=partner.source_row, source_hash=partner.source_hash,
                            check_cache=check_cache, stored=partner,
                            audit_label=import_label(source, source_file, source_row))
    alias = session.scalar(select(PartnerAlias).where(PartnerAlias.ref == clean["ref"]))
    if alias is None:
        partner.aliases.append(PartnerAlias(ref=clean["ref"], source=source, source_file=source_file,
                                            source_row=source_row, matched_on=matched_on))
        session.flush()
        return "merged"
    return result.action


STORED_OPTIONS = (selectinload(Partner.sites), selectinload(Partner.contacts), selectinload(Partner.parts),
                  selectinload(Partner.landlord_links), selectinload(Partner.area))


def load_stored(session: Session, refs: list[str]) -> dict[str, Partner]:
    """Partners by ref with everything `cards.record_of` and `upsert_partner` read, in a few queries."""
    out: dict[str, Partner] = {}
    for start in range(0, len(refs), 500):
        chunk = refs[start:start + 500]
        for partner in session.scalars(select(Partner).where(Partner.ref.in_(chunk)).options(*STORED_OPTIONS)):
            out[partner.ref] = partner
    return out


@dataclass
class NewPartner:
    clean: dict  # from normalise(), without errors
    source: str
    source_file: str | None
    source_row: int | None
    source_hash: str | None = None


def insert_new(session: Session, items: list[NewPartner], *, chunk: int = 2000, progress=None) -> int:
    """Insert partners known to be absent (callers checked their refs), in bulk: a national
    FINESS file creates ~100,000 at once, which one ORM object at a time cannot do in minutes.
    Only for records without coverage parts (proximity kinds); anything else goes through
    `upsert_partner`, which compiles coverage."""
    from sqlalchemy import insert

    from app import audit

    now = _now()
    for start in range(0, len(items), chunk):
        part = items[start:start + chunk]
        if any(item.clean["coverage"]["include"] or item.clean["coverage"]["polygons"] for item in part):
            raise ValueError("insert_new: records with coverage parts go through upsert_partner")
        rows = []
        for item in part:
            row = {name: item.clean[name] for name in SCALARS}
            row.update(ref=item.clean["ref"], kind_code=item.clean["kind"], source=item.source,
                       source_file=item.source_file, source_row=item.source_row, source_hash=item.source_hash,
                       imported_at=now, updated_at=now, content_hash=content_hash(item.clean))
            rows.append(row)
        # executemany, then the ids by ref: with psycopg, INSERT … RETURNING of many rows goes through
        # one huge statement per page whose placeholders are re-parsed every time (3× slower)
        session.execute(insert(Partner), rows)
        id_of = dict(session.execute(select(Partner.ref, Partner.id).where(Partner.ref.in_([r["ref"] for r in rows]))).all())
        ids = [id_of[r["ref"]] for r in rows]
        sites, contacts, links = [], [], []
        for partner_id, item in zip(ids, part):
            for position, site in enumerate(item.clean["sites"]):
                values = {k: v for k, v in site.items() if k not in ("lon", "lat")}
                geom = from_shape(Point(site["lon"], site["lat"]), srid=4326) if site.get("lon") is not None else None
                sites.append({**values, "partner_id": partner_id, "position": position, "geom": geom})
            for position, contact in enumerate(item.clean["contacts"]):
                contacts.append({**contact, "partner_id": partner_id, "position": position})
            for code in item.clean["reserved_landlords"]:
                links.append({"partner_id": partner_id, "landlord_code": code})
        for model, values in ((Site, sites), (Contact, contacts), (PartnerLandlord, links)):
            if values:
                session.execute(insert(model), values)
        # the record as imported, as `cards.record_of` would read it: the history page can return to it
        entries = []
        for partner_id, item in zip(ids, part):
            snapshot = cards.record_of_clean(item.clean)
            entries.append({"at": now, "actor": import_label(item.source, item.source_file, item.source_row),
                            "action": "import", "partner_id": partner_id, "partner_ref": item.clean["ref"],
                            "diff": audit.diff(None, snapshot), "snapshot": snapshot, "reason": ""})
        session.execute(insert(AuditEntry), entries)
        if progress:
            progress(len(part))
    return len(items)


def _site_model(position: int, site: dict) -> Site:
    values = {k: v for k, v in site.items() if k not in ("lon", "lat")}
    model = Site(position=position, **values)
    if site.get("lon") is not None:
        model.geom = from_shape(Point(site["lon"], site["lat"]), srid=4326)
    return model


def check_landlord_code(code: str) -> str:
    if not re.match(r"^[a-z0-9][a-z0-9-]{0,59}$", code or ""):
        raise InvalidInput(f"code de bailleur invalide « {code} » (minuscules, chiffres et tirets)")
    return code


def validation_cache(session: Session, *, landlords=()) -> dict:
    """A cache for `normalise` across the records of one import that knows, besides the stored
    landlords, those the import brings: a file may define the landlords its partners are reserved
    to, and its partners are valid before anything is written."""
    return {"landlords": set(session.scalars(select(Landlord.code))) | set(landlords)}


def upsert_landlord(session: Session, code: str, name: str, siren: str | None = None) -> str:
    check_landlord_code(code)
    landlord = session.get(Landlord, code)
    if landlord is None:
        session.add(Landlord(code=code, name=name, siren=siren))
        session.flush()
        return "created"
    if (landlord.name, landlord.siren) == (name, siren):
        return "unchanged"
    landlord.name, landlord.siren = name, siren
    return "updated"
