"""The one serialisation of a partner, in its four shapes:

- the card: what a lookup answer shows about a partner (app.lookup, the API's PartnerCard);
- the summary: a line of the directory;
- the detail: the partner page and `/api/v1/partners/{id}` (the card's facts, its coverage parts
  and compiled area, its provenance);
- the record: the format every source is read into and exports write (docs/partner-record.md), the
  inverse of app.partners.registry.normalise.

The card and the summary read their facts from anything with a partner's attribute names: a
stored `Partner`, or a row of a column query (the lookup reads partners that way: faster than the
ORM).
"""

from __future__ import annotations

import datetime as dt

from app.models import Partner
from app.partners import referral as referral_module
from app.vocabulary import AGE_BAND_LABELS, STATUS_LABELS

SITE_FIELDS = ("name", "role", "address", "postcode", "city", "code_insee", "phone", "email", "opening_hours",
               "accessibility", "finess", "capacity")
CONTACT_FIELDS = ("label", "phone", "email", "url", "hours", "notes")
# A record's fields held on the partner itself (besides ref and kind)
SCALARS = (
    "name", "description", "how_to_refer", "website", "age_band", "housing_types", "eligibility",
    "capacity", "status", "valid_from", "valid_to", "finess", "siret", "data_inclusion_id",
    "last_verified_at", "referral", "funders", "funding_end",
)


def _iso(value: dt.date | dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def site_card(values: dict, lon: float | None, lat: float | None) -> dict:
    """A site as cards and details show it: its fields, and its point to the decimetre."""
    site = dict(values)
    site["lon"], site["lat"] = (round(lon, 6), round(lat, 6)) if lon is not None else (None, None)
    return site


def reserved_to(codes: list[str], landlord_names: dict[str, str]) -> list[dict]:
    """The landlords a service is reserved to, with their names."""
    return [{"code": c, "name": landlord_names.get(c, c)} for c in codes]


def card(p, *, sites: list[dict], contacts: list[dict], reserved: list[dict]) -> dict:
    """What a lookup answer shows about a partner: how to reach it and refer to it, whom it serves."""
    return {
        "id": p.id, "ref": p.ref, "name": p.name, "kind": p.kind_code,
        "description": p.description, "how_to_refer": p.how_to_refer, "website": p.website,
        "age_band": p.age_band, "age_band_label": AGE_BAND_LABELS[p.age_band],
        "housing_types": list(p.housing_types or []), "eligibility": p.eligibility,
        "capacity": p.capacity, "status": p.status,
        "valid_from": _iso(p.valid_from), "valid_to": _iso(p.valid_to),
        "finess": p.finess, "siret": p.siret,
        "contacts": contacts,
        "reserved_to": reserved,
        "source": p.source, "last_verified_at": _iso(p.last_verified_at),
        "sites": sites,
        **_referral_facts(p),
    }


def _referral_facts(p) -> dict:
    """Structured referral and funding, as cards, details and the API show them."""
    return {"referral": referral_module.shown(p.referral), "funders": list(p.funders or []),
            "funding_end": _iso(p.funding_end)}


def summary(p: Partner) -> dict:
    """A partner as a line of the directory."""
    return {"id": p.id, "ref": p.ref, "name": p.name, "kind": p.kind_code, "kind_label": p.kind.label,
            "status": p.status, "status_label": STATUS_LABELS[p.status],
            "valid_from": _iso(p.valid_from), "valid_to": _iso(p.valid_to),
            "reserved_to": p.reserved_landlords}


def _sites_of(p: Partner) -> list[dict]:
    from geoalchemy2.shape import to_shape

    out = []
    for s in p.sites:
        point = to_shape(s.geom) if s.geom is not None else None
        out.append(site_card({name: getattr(s, name) for name in SITE_FIELDS},
                             point.x if point else None, point.y if point else None))
    return out


def detail(p: Partner, *, parts: list[dict], coverage: dict | None, landlord_names: dict[str, str],
           also_from: list[dict]) -> dict:
    """Everything about one stored partner (its page, the API): the summary, the card's facts with
    its identifiers, its coverage parts and compiled area (a GeoJSON feature), its provenance."""
    return {
        **summary(p),
        "description": p.description, "how_to_refer": p.how_to_refer, "website": p.website,
        "age_band": p.age_band, "housing_types": p.housing_types, "eligibility": p.eligibility,
        "capacity": p.capacity, "finess": p.finess, "siret": p.siret, "data_inclusion_id": p.data_inclusion_id,
        "reserved_to": reserved_to(p.reserved_landlords, landlord_names),
        "contacts": [{name: getattr(c, name) for name in CONTACT_FIELDS} for c in p.contacts],
        "sites": _sites_of(p),
        **_referral_facts(p),
        "coverage_parts": parts,
        "coverage": coverage,
        "provenance": {"source": p.source, "file": p.source_file, "row": p.source_row,
                       "imported_at": _iso(p.imported_at), "last_verified_at": _iso(p.last_verified_at),
                       # other sources' records of this structure, merged here (app/partners/matching.py)
                       "also_from": also_from},
    }


def record_of_clean(clean: dict) -> dict:
    """What `record_of` reads back from a partner written from this validated record (no coverage
    parts: the bulk insert's records), without loading it: the bulk insert's audit snapshot."""
    record = {"ref": clean["ref"], "kind": clean["kind"]}
    for name in SCALARS:
        value = clean.get(name)
        record[name] = value.isoformat() if isinstance(value, dt.date) else value
    record["housing_types"] = list(clean.get("housing_types") or [])
    record["referral"] = {**referral_module.EMPTY, **(clean.get("referral") or {})}
    record["funders"] = list(clean.get("funders") or [])
    record["reserved_landlords"] = list(clean.get("reserved_landlords") or [])
    record["sites"] = [{**{name: site.get(name) for name in SITE_FIELDS}, "lon": site.get("lon"), "lat": site.get("lat")}
                       for site in clean.get("sites") or []]
    record["contacts"] = [{name: c.get(name) for name in CONTACT_FIELDS} for c in clean.get("contacts") or []]
    record["coverage"] = {"include": [], "exclude": [], "polygons": []}
    return record


def record_of(partner: Partner) -> dict:
    """The record a stored partner was written from (the inverse of `normalise`): what exports
    write and what importers that enrich an existing partner start from."""
    from geoalchemy2.shape import to_shape
    from shapely.geometry import mapping

    record = {"ref": partner.ref, "kind": partner.kind_code}
    for name in SCALARS:
        value = getattr(partner, name)
        record[name] = value.isoformat() if isinstance(value, dt.date) else value
    record["housing_types"] = list(partner.housing_types or [])
    record["referral"] = {**referral_module.EMPTY, **(partner.referral or {})}
    record["funders"] = list(partner.funders or [])
    record["reserved_landlords"] = partner.reserved_landlords
    sites = []
    for site in partner.sites:
        out = {name: getattr(site, name) for name in SITE_FIELDS}
        if site.geom is not None:
            point = to_shape(site.geom)
            out["lon"], out["lat"] = point.x, point.y
        else:
            out["lon"] = out["lat"] = None
        sites.append(out)
    record["sites"] = sites
    record["contacts"] = [{name: getattr(c, name) for name in CONTACT_FIELDS} for c in partner.contacts]
    coverage_record: dict = {"include": [], "exclude": [], "polygons": []}
    for part in partner.parts:
        if part.code:
            coverage_record[part.mode].append(part.code)
        else:
            coverage_record["polygons"].append({"mode": part.mode, "label": part.label,
                                                "geometry": mapping(to_shape(part.geom))})
    record["coverage"] = coverage_record
    return record
