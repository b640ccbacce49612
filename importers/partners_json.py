"""Partners as JSON records (the registry's native record format; the demo is authored in it).

File: {"landlords": [{"code", "name", "siren"?}], "partners": [record, …]} where a record is
documented in docs/partner-record.md. A coverage polygon is either inline GeoJSON
(`{"geometry": {...}}`) or a reference to a feature of the `--polygons` GeoJSON file by its
`id` property (`{"feature": "bondy-nord"}`).

`maillage import partners-json FILE [--polygons FILE.geojson] [--dry-run]`
"""

from __future__ import annotations

import json
from pathlib import Path

from app.errors import InvalidInput
from app.partners import registry
from importers.base import POLYGONS, PROBABLE, PartnerBatch, Report, upsert_records

NAME = "partners-json"
DESCRIPTION = "Partenaires au format d'enregistrement JSON de Maillage (le format de la démo)"
FILES = "one"
OPTIONS = (POLYGONS, PROBABLE)


def _read_json(path: Path, what: str):
    if not path.exists():
        raise InvalidInput(f"Fichier introuvable : {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path.name} n'est pas en UTF-8 ({exc.reason}).") from exc
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{what} {path.name} : JSON invalide ligne {exc.lineno}, colonne {exc.colno} ({exc.msg}).") from exc


def read_polygons(path: Path | None) -> dict[str, dict]:
    if path is None:
        return {}
    data = _read_json(path, "Polygones")
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise InvalidInput(f"{path.name} : FeatureCollection GeoJSON attendue.")
    crs = (data.get("crs") or {}).get("properties", {}).get("name", "")
    if crs and not crs.endswith(("4326", "CRS84")):
        raise InvalidInput(f"{path.name} : système de coordonnées {crs} ; GeoJSON en WGS84 attendu (RFC 7946).")
    out = {}
    for i, feature in enumerate(data.get("features") or [], start=1):
        fid = str((feature.get("properties") or {}).get("id") or feature.get("id") or "")
        if not fid:
            raise InvalidInput(f"{path.name} : l'entité n° {i} n'a pas de propriété « id ».")
        if fid in out:
            raise InvalidInput(f"{path.name} : identifiant de polygone « {fid} » en double.")
        out[fid] = feature
    return out


def read(path, *, report: Report, session, polygons: str | Path | None = None, **_) -> PartnerBatch:
    if path is None:
        raise InvalidInput("Fichier JSON manquant.")
    path = Path(path)
    data = _read_json(path, "Partenaires")
    if not isinstance(data, dict) or not isinstance(data.get("partners"), list):
        raise InvalidInput(f"{path.name} : objet avec une liste « partners » attendu.")
    features = read_polygons(Path(polygons) if polygons else None)
    landlords = data.get("landlords") or []
    for i, landlord in enumerate(landlords, start=1):
        if not isinstance(landlord, dict) or not landlord.get("code") or not landlord.get("name"):
            report.reject(i, "landlords", "bailleur sans code ou sans nom")
    # Landlords of this file count as known while validating its partners.
    codes = []
    for landlord in landlords:
        if isinstance(landlord, dict) and landlord.get("code") and landlord.get("name"):
            try:
                codes.append(registry.check_landlord_code(landlord["code"]))
            except InvalidInput as exc:
                report.reject(None, "landlords", exc.message)
    rows, seen, cache = [], {}, registry.validation_cache(session, landlords=codes)
    for number, record in enumerate(data["partners"], start=1):
        report.rows_read += 1
        if isinstance(record, dict):
            record = _resolve_features(record, features, report, number)
        clean, errors = registry.normalise(session, record, cache)
        for field_name, message in errors.errors:
            report.reject(number, field_name, f"{clean.get('ref') or '(sans ref)'} : {message}")
        ref = clean.get("ref")
        if ref in seen:
            report.reject(number, "ref", f"{ref} en double (déjà au partenaire n° {seen[ref]})")
        elif ref:
            seen[ref] = number
        rows.append((number, record))
    return PartnerBatch(rows, file=path.name, landlords=landlords)


def _resolve_features(record: dict, features: dict, report: Report, number: int) -> dict:
    coverage = record.get("coverage")
    if not isinstance(coverage, dict) or not coverage.get("polygons"):
        return record
    resolved = []
    for poly in coverage["polygons"]:
        if isinstance(poly, dict) and "feature" in poly:
            feature = features.get(str(poly["feature"]))
            if feature is None:
                report.reject(number, "coverage.polygons",
                              f"polygone « {poly['feature']} » introuvable (fichier --polygons manquant ou incomplet)")
                continue
            poly = {"mode": poly.get("mode", "include"),
                    "label": poly.get("label") or (feature.get("properties") or {}).get("label"),
                    "geometry": feature.get("geometry")}
        resolved.append(poly)
    return {**record, "coverage": {**coverage, "polygons": resolved}}


def load(session, batch: PartnerBatch, *, report: Report, progress=None, probable: str | None = None, **_) -> None:
    for landlord in batch.landlords:
        registry.upsert_landlord(session, landlord["code"], landlord["name"], landlord.get("siren"))
    upsert_records(session, batch.rows, source=NAME, source_file=batch.file, report=report, progress=progress,
                   probable=probable)
