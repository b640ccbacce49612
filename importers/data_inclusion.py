"""data·inclusion dumps: structures and services in the official schema (v1), for the kinds
data·inclusion carries (CMP, MDPH, CCAS, SIAO — see geodata/data-inclusion-kinds.csv, column
`import`).

Input: the structures file (JSON array, .json or .json.gz, as data·inclusion publishes it or as
`maillage export data-inclusion` writes it) and optionally the services file (`--services`),
whose zone_eligibilite gives territorial kinds their coverage (a structure without one covers
its commune or its département, by kind). Every object is validated with the schema's models; a
structure whose réseaux porteurs map to no kind is counted, not loaded.

`maillage import data-inclusion STRUCTURES.json [--services SERVICES.json] [--departements 93] [--dry-run]`
"""

from __future__ import annotations

import json
from pathlib import Path

from app import territories
from app.errors import InvalidInput
from app.french import agree, plural
from app.exchange import data_inclusion
from app.exchange.text_files import read_bytes
from app.partners import referral as referral_module
from app.partners import registry
from importers.base import DEPARTEMENTS, PROBABLE, Option, PartnerBatch, Report, upsert_records

NAME = "data-inclusion"
DESCRIPTION = "Structures et services data·inclusion (schéma officiel v1) : CMP, MDPH, CCAS, SIAO"
FILES = "one"
OPTIONS = (Option("services", "fichier JSON des services (zones d'éligibilité).", kind="path"), DEPARTEMENTS, PROBABLE)


def _load_json(path: Path, what: str) -> list:
    raw = read_bytes(path, what="fichier JSON")
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path.name} n'est pas en UTF-8.") from exc
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{what} {path.name} : JSON invalide ligne {exc.lineno}, colonne {exc.colno} ({exc.msg}).") from exc
    if not isinstance(data, list):
        raise InvalidInput(f"{path.name} : liste JSON d'objets {what.lower()} attendue.")
    return data


def _validate(model, obj, number: int, label: str, report: Report):
    from pydantic import ValidationError

    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(x) for x in err["loc"]) or "(objet)"
            report.reject(number, f"{label} · {where}", f"{(obj or {}).get('id', '(sans id)') if isinstance(obj, dict) else '(non objet)'} : {err['msg']}")
        return None


def zone_codes(zone: list[str]) -> list[str]:
    """zone_eligibilite (COG codes) → typed codes. "france" and country codes are not areas a
    local registry can hold: they are left out."""
    out = []
    for code in zone or []:
        code = code.strip().upper()
        if territories.PATTERNS["arrondissement"].match(code):
            out.append(f"arrondissement:{code}")
        elif territories.PATTERNS["commune"].match(code) and not code.startswith("99"):
            out.append(f"commune:{code}")
        elif territories.PATTERNS["departement"].match(code):
            out.append(f"departement:{code}")
        elif territories.PATTERNS["epci"].match(code):
            out.append(f"epci:{code}")
    return out


def read(path, *, report: Report, session, services: str | Path | None = None, departements: str | None = None,
         **_) -> PartnerBatch:
    from data_inclusion.schema.v1 import Service, Structure

    if path is None:
        raise InvalidInput("Fichier des structures data·inclusion manquant.")
    path = Path(path)
    scope = {d.strip().upper() for d in departements.split(",") if d.strip()} if departements else None
    structures = _load_json(path, "Structures")
    by_structure: dict[str, list] = {}
    if services:
        for number, obj in enumerate(_load_json(Path(services), "Services"), start=1):
            service = _validate(Service, obj, number, "services", report)
            if service is not None:
                by_structure.setdefault(service.structure_id, []).append(service)
    skipped: dict[str, int] = {}
    out_of_scope = 0
    records, seen, cache = [], {}, {}
    for number, obj in enumerate(structures, start=1):
        report.rows_read += 1
        structure = _validate(Structure, obj, number, "structures", report)
        if structure is None:
            continue
        kind_map = data_inclusion.kind_for_reseaux([r.value for r in structure.reseaux_porteurs or []])
        if kind_map is None:
            key = ", ".join(sorted(r.value for r in structure.reseaux_porteurs or [])) or "sans réseau porteur"
            skipped[key] = skipped.get(key, 0) + 1
            continue
        if scope and (not structure.code_insee or territories.departement_of(structure.code_insee) not in scope):
            out_of_scope += 1
            continue
        if structure.id in seen:
            report.reject(number, "structures · id", f"{structure.id} en double (déjà objet n° {seen[structure.id]})")
            continue
        seen[structure.id] = number
        record = _record(structure, by_structure.get(structure.id, []), kind_map)
        clean, errors = registry.normalise(session, record, cache)
        for field_name, message in errors.errors:
            report.reject(number, f"structures · {field_name}", f"{structure.id} : {message}")
        records.append((number, record))
    unknown = sorted(set(by_structure) - {s.get("id") for s in structures if isinstance(s, dict)})
    if unknown:
        ignored = sum(len(by_structure[u]) for u in unknown)
        report.warn(None, "services · structure_id", f"{plural(ignored, 'service', 'services')} de structures absentes "
                    f"du fichier des structures {agree(ignored, 'ignoré', 'ignorés')} (ex. {unknown[0]})")
    if skipped:
        total = sum(skipped.values())
        report.warn(None, "reseaux_porteurs", f"{plural(total, 'structure', 'structures')} de réseaux non suivis "
                    f"(geodata/data-inclusion-kinds.csv) {agree(total, 'non importée', 'non importées')} : "
                    + ", ".join(f"{k} ×{v}" for k, v in sorted(skipped.items(), key=lambda kv: -kv[1])[:10]))
    if out_of_scope:
        report.warn(None, "code_insee", f"{plural(out_of_scope, 'structure', 'structures')} hors des départements "
                    f"demandés {agree(out_of_scope, 'non importée', 'non importées')}")
    return PartnerBatch(records, file=path.name)


def _record(structure, services: list, kind_map) -> dict:
    first = services[0] if services else None
    # the age band Maillage's own export writes into conditions_acces (app/exchange/data_inclusion.py)
    age_band, eligibility = data_inclusion.age_from_conditions(first.conditions_acces if first else None)
    zone = [code for s in services for code in zone_codes(s.zone_eligibilite or [])]
    if not zone and kind_map.default_zone and structure.code_insee:
        zone = [f"commune:{structure.code_insee}" if kind_map.default_zone == "commune"
                else f"departement:{territories.departement_of(structure.code_insee)}"]
    site = None
    if structure.longitude is not None and structure.latitude is not None:
        site = {"name": structure.nom, "address": structure.adresse or "", "postcode": structure.code_postal,
                "city": structure.commune, "code_insee": structure.code_insee, "phone": structure.telephone,
                "lon": structure.longitude, "lat": structure.latitude}
    referral, how_to_refer = referral_module.from_data_inclusion(
        first.mobilisable_par, first.modes_mobilisation, first.lien_mobilisation,
        first.mobilisation_precisions) if first else (None, "")
    contact = None
    if structure.telephone or structure.courriel or structure.site_web:
        contact = {"label": "Accueil", "phone": structure.telephone, "email": structure.courriel,
                   "url": str(structure.site_web) if structure.site_web else None}
    return {
        "ref": f"data-inclusion:{structure.id}"[:120], "kind": kind_map.kind, "name": structure.nom,
        "description": structure.description or "", "website": str(structure.site_web) if structure.site_web else None,
        "siret": structure.siret, "data_inclusion_id": structure.id, "last_verified_at": structure.date_maj,
        "how_to_refer": how_to_refer, "referral": referral,
        "eligibility": eligibility,
        "sites": [site] if site else [], "contacts": [contact] if contact else [],
        "coverage": {"include": sorted(set(zone))} if zone else {},
        **({"age_band": age_band} if age_band else {}),
    }


def load(session, batch: PartnerBatch, *, report: Report, progress=None, probable: str | None = None, **_) -> None:
    upsert_records(session, batch.rows, source=NAME, source_file=batch.file, report=report, progress=progress,
                   probable=probable)
