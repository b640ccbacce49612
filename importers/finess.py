"""FINESS: the national register of health and social establishments (etalab stock file).

File layout (docs: ../shared/data/finess/FINESS-LAYOUT.md): `;`-separated, no header; line 1 is
metadata `finess;etalab;<version>;<AAAA-MM-JJ>`; `structureet` lines (32 fields) describe
establishments; the "avec géolocalisation" file (cs1100507) adds `geolocalisation` lines
`geolocalisation;nofinesset;coordxet;coordyet;sourcecoordet;datemaj` with projected coordinates:
Lambert-93 in metropolitan France, local UTM projections overseas, named in `sourcecoordet`
(`…,EPSG:2154 RGF93 / Lambert-93 (Métropole)`). UTF-8 today, ISO-8859-1 in older vintages.

Only the categories mapped to a kind in geodata/finess-categories.csv are loaded (CMP, CATTP,
CHS, maisons relais…); the others are counted in the report. Establishments are upserted by
FINESS number (`finess:<nofinesset>`), keeping what people added (how to refer, contacts, extra
sites); one that disappears from a newer file is marked closed (valid_to = the file's date),
never deleted; one that reappears is reopened.

`maillage import finess FILE [--departements 75,92,93,94] [--mapping FILE.csv] [--dry-run]`
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import dialects, territories
from app.config import PROJECT_ROOT
from app.errors import InvalidInput
from app.french import agree, plural
from app.exchange.text_files import read_bytes
from app.models import Kind, Partner, Territory
from app.partners import cards, registry
from app.vocabulary import AGE_BANDS
from importers.base import DEPARTEMENTS, PROBABLE, Batch, Option, Report

NAME = "finess"
DESCRIPTION = "Établissements FINESS (fichier stock etalab, avec géolocalisation Lambert-93 / UTM)"
FILES = "one"
OPTIONS = (DEPARTEMENTS, Option("mapping", "table catégories → types (défaut : geodata/finess-categories.csv).",
                                kind="path"), PROBABLE)
MAPPING = PROJECT_ROOT / "geodata" / "finess-categories.csv"
REF_PREFIX = "finess:"

STRUCTURE_FIELDS = (
    "section", "nofinesset", "nofinessej", "rs", "rslongue", "complrs", "compldistrib", "numvoie", "typvoie",
    "voie", "compvoie", "lieuditbp", "commune", "departement", "libdepartement", "ligneacheminement",
    "telephone", "telecopie", "categetab", "libcategetab", "categagretab", "libcategagretab", "siret",
    "codeape", "codemft", "libmft", "codesph", "libsph", "dateouv", "dateautor", "datemaj", "numuai",
)
GEO_FIELDS = ("section", "nofinesset", "coordxet", "coordyet", "sourcecoordet", "datemaj")

# Projection by département when `sourcecoordet` names none (seen in real files: the EPSG code
# or "WGS84/UTM zone 21N" for Saint-Pierre-et-Miquelon).
DEFAULT_EPSG = {"971": 5490, "972": 5490, "977": 5490, "978": 5490, "973": 2972, "974": 2975, "975": 32621,
                "976": 4471}
METROPOLE_EPSG = 2154
# Where a département's establishments can be (lon/lat boxes): a point outside is a projection
# or data error, and the commune's position is used instead (with a warning).
AREAS = {
    "metropole": (-5.6, 41.2, 9.7, 51.2),
    "971": (-61.9, 15.8, -61.0, 16.6), "972": (-61.3, 14.3, -60.7, 14.9), "973": (-54.7, 2.0, -51.5, 6.0),
    "974": (55.1, -21.5, 55.9, -20.8), "975": (-56.6, 46.7, -56.0, 47.2), "976": (44.9, -13.1, 45.4, -12.5),
    "977": (-63.0, 17.8, -62.7, 18.0), "978": (-63.2, 18.0, -62.9, 18.2),
}
# FINESS département field → first two digits of the INSEE code: overseas départements are
# "9A" (971) … "9F" (976), the commune field then carrying the third digit ("123" → 97123);
# "9J" is Wallis-et-Futuna (986xx).
OVERSEAS_PREFIX = {"9A": "97", "9B": "97", "9C": "97", "9D": "97", "9E": "97", "9F": "97", "9G": "97",
                   "9H": "97", "9J": "98", "9K": "98", "9L": "98"}
FINESS_RE = re.compile(r"^(?:\d{2}|2[AB])\d{7}$")
POSTCODE_CITY = re.compile(r"^(\d{5})\s+(.+?)(?:\s+CEDEX(?:\s+\d+)?)?$")


# --------------------------------------------------------------------------------------------- mapping


@dataclass(frozen=True)
class Rule:
    line: int
    categetab: str
    kind: str
    age_band: str | None
    patterns: tuple[str, ...]
    role: str
    label: str

    def matches(self, categetab: str, name: str) -> bool:
        if categetab != self.categetab:
            return False
        if not self.patterns:
            return True
        folded = _fold(name)
        return any(p in folded for p in self.patterns)


def _fold(text: str) -> str:
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFD", text.upper()) if not unicodedata.combining(c))


def read_mapping(session: Session, path: Path = MAPPING) -> list[Rule]:
    """Rules in file order; the first that matches an establishment wins. Kinds must exist and be
    proximity kinds: FINESS gives a place, not an area of competence."""
    if not path.exists():
        raise InvalidInput(f"Table de correspondance FINESS introuvable : {path}")
    rules = []
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"categetab", "kind"} - set(reader.fieldnames or [])
        if missing:
            raise InvalidInput(f"{path.name} : {agree(len(missing), 'colonne manquante', 'colonnes manquantes')} "
                               f"{', '.join(sorted(missing))}.")
        for line, row in enumerate(reader, start=2):
            kind = session.get(Kind, (row.get("kind") or "").strip())
            if kind is None:
                raise InvalidInput(f"{path.name} ligne {line} : type de partenaire inconnu « {row.get('kind')} ».")
            if kind.mode != "proximity":
                raise InvalidInput(f"{path.name} ligne {line} : « {kind.code} » a une zone de compétence ; "
                                   "FINESS ne donne qu'un lieu (types de proximité seulement).")
            age = (row.get("age_band") or "").strip() or None
            if age is not None and age not in AGE_BANDS:
                raise InvalidInput(f"{path.name} ligne {line} : age_band « {age} » (adulte, enfant ou tous).")
            patterns = tuple(_fold(p.strip()) for p in (row.get("nom_contient") or "").split("|") if p.strip())
            rules.append(Rule(line, row["categetab"].strip(), kind.code, age, patterns,
                              (row.get("role") or "").strip() or "principal", (row.get("libelle") or "").strip()))
    if not rules:
        raise InvalidInput(f"{path.name} : aucune catégorie.")
    return rules


def match(rules: list[Rule], categetab: str, name: str) -> Rule | None:
    for rule in rules:
        if rule.matches(categetab, name):
            return rule
    return None


# --------------------------------------------------------------------------------------------- parsing


def decode(path: Path, report: Report) -> str:
    raw = read_bytes(path, what="fichier texte FINESS")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Older vintages are ISO-8859-1: every byte decodes, so say which encoding was used.
        report.warn(None, "encodage", "fichier en ISO-8859-1 (millésime ancien) : lu comme tel")
        return raw.decode("iso-8859-1")


def insee_code(departement: str, commune: str) -> str | None:
    dep, com = departement.strip().upper(), commune.strip()
    if not re.match(r"^\d{3}$", com):
        return None
    if dep in OVERSEAS_PREFIX:
        return OVERSEAS_PREFIX[dep] + com
    if re.match(r"^(?:\d{2}|2[AB])$", dep):
        return dep + com
    return None


def crs_of(sourcecoordet: str, departement: str) -> int | None:
    found = re.search(r"EPSG[:\s]*(\d{4,5})", sourcecoordet or "")
    if found:
        return int(found.group(1))
    utm = re.search(r"WGS ?84\s*/\s*UTM\s+zone\s+(\d{1,2})\s*([NS])", sourcecoordet or "", re.I)
    if utm:
        return (32600 if utm.group(2).upper() == "N" else 32700) + int(utm.group(1))
    if "LAMBERT" in (sourcecoordet or "").upper() and "93" in sourcecoordet:
        return METROPOLE_EPSG
    if departement.startswith("97"):
        return DEFAULT_EPSG.get(departement)
    if departement.startswith("98"):
        return None
    return METROPOLE_EPSG


def area_of(departement: str) -> tuple[float, float, float, float] | None:
    if departement.startswith(("97", "98")):
        return AREAS.get(departement)
    return AREAS["metropole"]


def _phone(raw: str) -> str | None:
    digits = re.sub(r"\D", "", raw or "")
    if len(digits) == 10:
        return " ".join(digits[i:i + 2] for i in range(0, 10, 2))
    return (raw or "").strip() or None


def _date(raw: str) -> str | None:
    return (raw or "").strip() or None


@dataclass
class Establishment:
    line: int
    fields: dict[str, str]
    raw: str
    code_insee: str | None = None
    departement: str | None = None
    rule: Rule | None = None
    geo: dict | None = None
    lon: float | None = None
    lat: float | None = None
    position_note: str | None = None
    record: dict = field(default_factory=dict)
    source_hash: str = ""


def parse(text: str, name: str, report: Report) -> tuple[str, dict[str, Establishment], dict[str, dict]]:
    """(file date, establishments by FINESS number, geolocations by FINESS number)."""
    lines = text.splitlines()
    first = lines[0].split(";") if lines else []
    if len(first) < 4 or first[0].strip().lower() != "finess" or first[1].strip().lower() != "etalab":
        raise InvalidInput(f"{name} : la première ligne doit être « finess;etalab;<version>;<date> » "
                           f"(lu : « {lines[0][:60] if lines else ''} ») — est-ce le fichier stock FINESS d'etalab ?")
    try:
        file_date = dt.date.fromisoformat(first[3].strip()).isoformat()
    except ValueError as exc:
        raise InvalidInput(f"{name} ligne 1 : date d'extraction illisible « {first[3]} »") from exc
    establishments: dict[str, Establishment] = {}
    geos: dict[str, dict] = {}
    other: dict[str, int] = {}
    reader = csv.reader(lines[1:], delimiter=";")
    for number, values in enumerate(reader, start=2):
        if not values or not any(v.strip() for v in values):
            continue
        section = values[0].strip()
        if section == "structureet":
            report.rows_read += 1
            if len(values) < len(STRUCTURE_FIELDS) - 1:
                truncated = " — dernière ligne : fichier tronqué ?" if number == len(lines) else ""
                report.reject(number, None, f"ligne structureet de {len(values)} champs au lieu de {len(STRUCTURE_FIELDS)}{truncated}")
                continue
            fields = dict(zip(STRUCTURE_FIELDS, (v.strip() for v in values)))
            nofiness = fields["nofinesset"]
            if not FINESS_RE.match(nofiness):
                report.reject(number, "nofinesset", f"numéro FINESS invalide « {nofiness} »")
                continue
            if nofiness in establishments:
                report.reject(number, "nofinesset", f"{nofiness} en double (déjà ligne {establishments[nofiness].line})")
                continue
            establishments[nofiness] = Establishment(number, fields, ";".join(values))
        elif section == "geolocalisation":
            if len(values) < 4:
                report.reject(number, None, f"ligne geolocalisation de {len(values)} champs au lieu de {len(GEO_FIELDS)}")
                continue
            geo = dict(zip(GEO_FIELDS, (v.strip() for v in values)))
            geo["line"] = number
            if geo["nofinesset"] in geos:
                report.reject(number, "nofinesset", f"géolocalisation de {geo['nofinesset']} en double (déjà ligne {geos[geo['nofinesset']]['line']})")
                continue
            geos[geo["nofinesset"]] = geo
        else:
            other[section] = other.get(section, 0) + 1
    for section, count in sorted(other.items()):
        report.warn(None, "section", f"{plural(count, 'ligne', 'lignes')} de section « {section[:40]} » "
                                     f"{agree(count, 'ignorée', 'ignorées')} (seules structureet et geolocalisation sont lues)")
    if not establishments and report.ok:
        raise InvalidInput(f"{name} : aucune ligne structureet.")
    return file_date, establishments, geos


# --------------------------------------------------------------------------------------------- read


@dataclass
class FinessBatch(Batch):
    """The followed establishments of the file, located and validated: (establishment, clean
    record) each; what the file says about the others (its date, the scope, every FINESS number
    in it) decides in `load` which stored establishments it closes."""

    rows: list[tuple[Establishment, dict]]
    date: str = ""
    scope: list[str] | None = None
    kinds: set[str] = field(default_factory=set)
    in_file: set[str] = field(default_factory=set)


def read(path, *, report: Report, session: Session, departements: str | None = None,
         mapping: str | Path | None = None, **_) -> FinessBatch:
    if path is None:
        raise InvalidInput("Fichier FINESS manquant.")
    path = Path(path)
    rules = read_mapping(session, Path(mapping) if mapping else MAPPING)
    scope = _scope(departements)
    file_date, establishments, geos = parse(decode(path, report), path.name, report)
    for nofiness in geos.keys() - establishments.keys():
        report.warn(geos[nofiness]["line"], "nofinesset", f"géolocalisation de {nofiness} sans ligne structureet : ignorée")
    skipped: dict[str, int] = {}
    out_of_scope = 0
    kept: list[Establishment] = []
    for est in establishments.values():
        f = est.fields
        est.rule = match(rules, f["categetab"], f["rslongue"] or f["rs"])
        if est.rule is None:
            key = f"{f['categetab']} {f['libcategetab']}".strip()
            skipped[key] = skipped.get(key, 0) + 1
            continue
        est.code_insee = insee_code(f["departement"], f["commune"])
        if est.code_insee is None:
            report.reject(est.line, "departement/commune", f"{f['nofinesset']} : code commune illisible "
                          f"(département « {f['departement']} », commune « {f['commune']} »)")
            continue
        est.departement = territories.departement_of(est.code_insee)
        if scope and est.departement not in scope:
            out_of_scope += 1
            continue
        est.geo = geos.get(f["nofinesset"])
        kept.append(est)
    _locate(session, kept, report)
    cache: dict = {}
    rows = []
    for est in kept:
        if est.lon is None:
            continue  # rejected by _locate
        est.record = build_record(est, file_date)
        est.source_hash = hashlib.sha256(
            "\x1f".join([est.raw, repr((est.lon, est.lat)), est.rule.kind, est.rule.age_band or "", est.rule.role]).encode()
        ).hexdigest()
        clean, errors = registry.normalise(session, est.record, cache)
        for field_name, message in errors.errors:
            report.reject(est.line, _field(field_name), f"{est.fields['nofinesset']} : {message}")
        rows.append((est, clean))
    if skipped:
        detail = ", ".join(f"{k} ×{v}" for k, v in sorted(skipped.items(), key=lambda kv: -kv[1])[:12])
        total = sum(skipped.values())
        report.warn(None, "categetab", f"{plural(total, 'établissement', 'établissements')} de catégories non suivies "
                    f"(geodata/finess-categories.csv) {agree(total, 'non importé', 'non importés')} : {detail}"
                    + (" …" if len(skipped) > 12 else ""))
    if out_of_scope:
        report.warn(None, "departement", f"{plural(out_of_scope, 'établissement suivi', 'établissements suivis')} "
                    f"hors des départements demandés ({', '.join(sorted(scope))}) "
                    f"{agree(out_of_scope, 'non importé', 'non importés')}")
    return FinessBatch(rows, file=path.name, date=file_date, scope=sorted(scope) if scope else None,
                       kinds={r.kind for r in rules}, in_file={f"{REF_PREFIX}{n}" for n in establishments})


def _scope(departements: str | None) -> set[str] | None:
    if not departements:
        return None
    codes = {d.strip().upper() for d in departements.split(",") if d.strip()}
    bad = [c for c in codes if not territories.PATTERNS["departement"].match(c)]
    if bad:
        raise InvalidInput(f"{agree(len(bad), 'Département invalide', 'Départements invalides')} : "
                           f"{', '.join(sorted(bad))} (ex. 75,92,93,94).")
    return codes


def _finess_site_communes(session: Session) -> dict[str, str]:
    """ref → INSEE code of the FINESS site, for every FINESS partner (one query)."""
    from app.models import Site

    return dict(session.execute(
        select(Partner.ref, Site.code_insee).join(Site, Site.partner_id == Partner.id)
        .where(Partner.ref.like(f"{REF_PREFIX}%"), Site.finess == Partner.finess)).all())


def _field(field_name: str) -> str:
    return {"sites[0].lon/lat": "coordxet/coordyet", "siret": "siret", "valid_from": "dateouv",
            "last_verified_at": "datemaj", "sites[0].postcode": "ligneacheminement",
            "sites[0].code_insee": "departement/commune", "name": "rslongue"}.get(field_name, field_name)


def _locate(session: Session, establishments: list[Establishment], report: Report) -> None:
    """WGS84 position of each establishment: its geolocalisation line reprojected (vectorised per
    projection), else the commune's position in the reference (with a warning), else rejected."""
    import numpy as np
    from pyproj import Transformer

    by_epsg: dict[int, list[tuple[Establishment, float, float]]] = {}
    for est in establishments:
        geo = est.geo
        if geo is None:
            continue
        try:
            x, y = float(geo["coordxet"].replace(",", ".")), float(geo["coordyet"].replace(",", "."))
        except ValueError:
            report.warn(geo["line"], "coordxet/coordyet", f"{est.fields['nofinesset']} : coordonnées illisibles "
                        f"« {geo['coordxet']} ; {geo['coordyet']} »")
            continue
        epsg = crs_of(geo.get("sourcecoordet", ""), est.departement)
        if epsg is None:
            report.warn(geo["line"], "sourcecoordet", f"{est.fields['nofinesset']} : projection inconnue pour le "
                        f"département {est.departement}")
            continue
        by_epsg.setdefault(epsg, []).append((est, x, y))
    for epsg, items in by_epsg.items():
        try:
            transformer = Transformer.from_crs(epsg, 4326, always_xy=True)
        except Exception:  # pyproj raises CRSError for codes it does not know
            for est, _, _ in items:
                report.warn(est.geo["line"], "sourcecoordet", f"{est.fields['nofinesset']} : projection EPSG:{epsg} inconnue")
            continue
        lons, lats = transformer.transform(np.array([i[1] for i in items]), np.array([i[2] for i in items]))
        for (est, _, _), lon, lat in zip(items, lons, lats):
            box = area_of(est.departement)
            if box and np.isfinite(lon) and np.isfinite(lat) and box[0] <= lon <= box[2] and box[1] <= lat <= box[3]:
                est.lon, est.lat = round(float(lon), 6), round(float(lat), 6)
            else:
                report.warn(est.geo["line"], "coordxet/coordyet",
                            f"{est.fields['nofinesset']} : coordonnées hors du département {est.departement} "
                            f"(EPSG:{epsg} → {float(lon):.4f}, {float(lat):.4f}) : position de la commune utilisée")
    missing = [est for est in establishments if est.lon is None]
    if not missing:
        return
    points = _commune_points(session, {est.code_insee for est in missing})
    for est in missing:
        point = points.get(est.code_insee)
        if point is None:
            report.reject(est.line, "coordxet/coordyet",
                          f"{est.fields['nofinesset']} : ni géolocalisation utilisable ni commune {est.code_insee} dans le "
                          "référentiel chargé (fichier avec géolocalisation etalab-cs1100507, ou --departements)")
            continue
        est.lon, est.lat = point
        est.position_note = "commune"
        if est.geo is None:
            report.warn(est.line, "geolocalisation", f"{est.fields['nofinesset']} sans géolocalisation : "
                        f"position approchée au centre de la commune {est.code_insee}")


def _commune_points(session: Session, codes: set[str]) -> dict[str, tuple[float, float]]:
    from shapely import wkb

    out = {}
    for chunk in dialects.chunked(sorted(codes)):
        for code, geom in session.execute(
            select(Territory.code, Territory.geom.ST_AsBinary()).where(
                Territory.level.in_(("commune", "arrondissement")), Territory.code.in_(chunk))
        ):
            point = wkb.loads(bytes(geom)).representative_point()
            out[code] = (round(point.x, 6), round(point.y, 6))
    return out


def build_record(est: Establishment, file_date: str) -> dict:
    f, rule = est.fields, est.rule
    address = " ".join(p for p in (f["numvoie"] + (f["compvoie"] if len(f["compvoie"]) <= 3 else ""),
                                   f["typvoie"], f["voie"]) if p)
    extra = ", ".join(p for p in (f["compvoie"] if len(f["compvoie"]) > 3 else "", f["lieuditbp"]) if p)
    if extra:
        address = f"{address}, {extra}" if address else extra
    postcode = city = None
    match_pc = POSTCODE_CITY.match(f["ligneacheminement"])
    if match_pc:
        postcode, city = match_pc.group(1), match_pc.group(2).strip()
    site = {"name": f["rs"] or f["rslongue"], "role": rule.role, "address": address[:300], "postcode": postcode,
            "city": city, "code_insee": est.code_insee, "phone": _phone(f["telephone"]), "finess": f["nofinesset"],
            "lon": est.lon, "lat": est.lat}
    record = {
        "ref": f"{REF_PREFIX}{f['nofinesset']}", "kind": rule.kind, "name": (f["rslongue"] or f["rs"])[:300],
        "description": f"{f['libcategetab']} (FINESS {f['nofinesset']})" + (
            " — position approchée (centre de la commune)" if est.position_note == "commune" else ""),
        "finess": f["nofinesset"], "siret": f["siret"] or None, "status": "active",
        "valid_from": _date(f["dateouv"]), "last_verified_at": _date(f["datemaj"]),
        "sites": [site], "contacts": [], "coverage": {},
    }
    if rule.age_band:
        record["age_band"] = rule.age_band
    return record


# --------------------------------------------------------------------------------------------- load

# What FINESS owns in a partner; everything else (how to refer, contacts, other sites, landlords,
# public served) belongs to the people who enrich the record and survives a re-import.
FINESS_OWNED = ("kind", "name", "finess", "siret", "status", "valid_from", "valid_to", "last_verified_at")


def load(session: Session, batch: FinessBatch, *, report: Report, progress=None, probable: str | None = None,
         **_) -> None:
    from app.partners import matching
    from importers.base import keep_person_edits, match_before_create

    # what is stored: an establishment whose source line did not change is skipped outright
    existing = {ref: (pid, shash, status) for ref, pid, shash, status in session.execute(
        select(Partner.ref, Partner.id, Partner.source_hash, Partner.status).where(Partner.ref.like(f"{REF_PREFIX}%")))}
    closing = sorted(ref for ref, (pid, shash, status) in existing.items()
                     if ref not in batch.in_file and status != "closed")
    if batch.scope:
        places = _finess_site_communes(session)
        closing = [ref for ref in closing
                   if places.get(ref) and territories.departement_of(places[ref]) in batch.scope]
    if progress:
        progress(0, total=len(batch.rows) + len(closing))
    new, changed = [], []
    cache: dict = {}
    index = None
    for est, clean in batch.rows:
        current = existing.get(est.record["ref"])
        if current is not None and current[1] == est.source_hash:
            report.count("unchanged")
            if progress:
                progress(1)
        elif current is not None:
            changed.append(est)
        else:
            # an establishment already loaded from another source (the demo, a partner sheet,
            # data·inclusion) is merged there; establishments of this file never match each other
            # (distinct FINESS numbers), so the index is not extended as they are inserted
            index = index or matching.Index.load(session)
            if match_before_create(session, index, est.line, clean, report, probable=probable, source=NAME,
                                   source_file=batch.file, check_cache=cache):
                if progress:
                    progress(1)
                continue
            new.append(registry.NewPartner(clean, NAME, batch.file, est.line, est.source_hash))
    registry.insert_new(session, new, progress=progress)
    report.created += len(new)
    for start in range(0, len(changed), 500):
        chunk = changed[start:start + 500]
        stored = registry.load_stored(session, [est.record["ref"] for est in chunk])
        for est in chunk:
            partner = stored[est.record["ref"]]
            merged = merge(cards.record_of(partner), est.record)
            # a field a person edited after the file's date keeps the person's value, and says so
            merged = keep_person_edits(session, partner, merged, est.line, report, since=_source_date(batch),
                                       check_cache=cache)
            result = registry.upsert_partner(session, merged, source=NAME, source_file=batch.file,
                                             source_row=est.line, source_hash=est.source_hash, check_cache=cache,
                                             stored=partner)
            report.count(result.action)
            if progress:
                progress(1)
    _mark_inventoried(session, batch, report)
    for start in range(0, len(closing), 500):
        stored = registry.load_stored(session, closing[start:start + 500])
        for partner in stored.values():
            record = cards.record_of(partner)
            record.update(status="closed", valid_to=record.get("valid_to") or batch.date)
            record = keep_person_edits(session, partner, record, None, report, since=_source_date(batch),
                                       check_cache=cache)
            registry.upsert_partner(session, record, source=NAME, source_file=batch.file, source_row=None,
                                    source_hash=None, check_cache=cache, stored=partner)
            report.count("closed")
            if progress:
                progress(1)


def _source_date(batch: FinessBatch) -> dt.datetime | None:
    """The file's own date (its extraction day, from its first line) as the start of that day in UTC:
    a person's edit made that day or later is newer than the file."""
    try:
        day = dt.date.fromisoformat(batch.date)
    except (TypeError, ValueError):
        return None
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)


def _mark_inventoried(session: Session, batch: FinessBatch, report: Report) -> None:
    """FINESS is exhaustive for the categories it follows: the kinds they map to are inventoried
    in the départements imported (all the reference's when no --departements was given), except
    where a person set that status after the file's date (kept, and reported)."""
    from app.partners import inventory
    from app.models import Inventory, Territory

    query = select(Territory.departement).where(Territory.level == "commune",
                                                Territory.departement.is_not(None)).distinct()
    if batch.scope:
        query = query.where(Territory.departement.in_(batch.scope))
    kinds = sorted(batch.kinds)
    since = _source_date(batch)
    for dep in sorted(session.scalars(query)):
        code = f"departement:{dep}"
        by_person = {row.kind_code: row for row in session.scalars(select(Inventory).where(
            Inventory.code == code, Inventory.kind_code.in_(kinds), Inventory.source.in_(inventory.PERSON_SOURCES)))
            if since is None or _aware(row.updated_at) >= since}
        for kind, row in sorted(by_person.items()):
            report.warn(None, "inventaire", f"état d'inventaire de {code} pour « {kind} » fixé à la main le "
                        f"{row.updated_at.strftime('%d/%m/%Y')}, après la date du fichier : conservé")
        wanted = [k for k in kinds if k not in by_person]
        if wanted:
            inventory.set_status(session, code, wanted, "inventorie", source=f"FINESS {batch.date} ({batch.file})")


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def merge(stored: dict, finess: dict) -> dict:
    """The stored record with FINESS's fields and FINESS site replaced; a reappearing establishment
    is reopened (status active, no end date)."""
    merged = dict(stored)
    for name in FINESS_OWNED:
        merged[name] = finess.get(name)
    if "age_band" in finess:
        merged["age_band"] = finess["age_band"]
    if not stored.get("description"):
        merged["description"] = finess["description"]
    site = finess["sites"][0]
    sites = list(stored.get("sites") or [])
    index = next((i for i, s in enumerate(sites) if s.get("finess") == site["finess"]), None)
    if index is None:
        sites.insert(0, site)
    else:
        kept = {k: v for k, v in sites[index].items() if v not in (None, "") and k in ("email", "opening_hours",
                                                                                       "accessibility", "capacity")}
        sites[index] = {**site, **kept}
    merged["sites"] = sites
    return merged
