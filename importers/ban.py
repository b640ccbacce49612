"""BAN addresses (Base Adresse Nationale, official CSV format) for the offline geocoder.

`maillage import ban FILE [FILE…]` — the per-commune or per-département files of
adresse.data.gouv.fr (`adresses-93.csv.gz`, `;`-separated, UTF-8), plain or gzipped.

A file is the complete list of addresses of the communes it contains: importing it adds new
addresses, updates changed ones and deletes the addresses of those communes that it no longer lists.
Communes absent from the file are left alone. Several files form one all-or-nothing import.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import math
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, insert, select

from app import dialects
from app.db import set_meta
from app.errors import InvalidInput
from app.french import agree, plural
from app.exchange.text_files import read_text
from app.geocoding.local import ADDRESS_VERSION_KEY
from app.models import Address
from importers.base import Batch, Report


@dataclass
class AddressBatch(Batch):
    """Compact address rows (tuples, strings shared between rows: the 93 held 833 MB as dicts,
    257 MB this way), the last field an index into `sources` (the file each row came from)."""

    rows: list[tuple]
    sources: list[str] = field(default_factory=list)

NAME = "ban"
DESCRIPTION = "Adresses de la Base Adresse Nationale (CSV officiel « ; », UTF-8, .csv ou .csv.gz) pour le géocodeur local"

FILES = "many"
OPTIONS = ()
REQUIRED = ("id", "numero", "rep", "nom_voie", "code_postal", "code_insee", "nom_commune", "lon", "lat")
CODE_INSEE = re.compile(r"^(?:\d{5}|2[AB]\d{3})$")
POSTCODE = re.compile(r"^\d{5}$")
NO_NUMBER = 99999  # BAN's numero for a lieu-dit without a house number
FIELDS = ("code_insee", "numero", "rep", "nom_voie", "code_postal", "nom_commune", "lon", "lat")  # = row[CODE:LAT + 1]


def _check_header(name: str, header_line: str) -> None:
    if ";" not in header_line:
        for sep, label in ((",", "« , »"), ("\t", "tabulation"), ("|", "« | »")):
            if sep in header_line:
                raise InvalidInput(
                    f"{name} : séparateur {label} détecté ; le format BAN officiel sépare les colonnes par « ; »."
                )
        raise InvalidInput(f"{name} : pas d'en-tête CSV BAN (colonnes séparées par « ; ») en première ligne.")
    columns = [c.strip() for c in header_line.split(";")]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise InvalidInput(f"{name} : {agree(len(missing), 'colonne manquante', 'colonnes manquantes')} {', '.join(missing)} "
                           f"(colonnes attendues : {', '.join(REQUIRED)}).")


def _float(value: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError
    return number


def _lines(file: Path):
    """The file's lines, decoded as they are read (a département file is hundreds of MB once
    decompressed: never held whole); empty, binary and non-UTF-8 files are refused with the line of
    the first bad byte, like `importers.base.read_text`."""
    with file.open("rb") as fh:
        magic = fh.read(2)
    opener = gzip.open if magic == b"\x1f\x8b" else open
    try:
        with opener(file, "rb") as fh:
            head = fh.read(4096)
            if b"\x00" in head:
                raise InvalidInput(f"{file.name} n'est pas un fichier texte CSV (octets binaires).")
            if not head.strip():
                raise InvalidInput(f"Fichier {file.name} vide.")
            fh.seek(0)
            number = 0
            for number, raw in enumerate(fh, start=1):
                try:
                    yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError as exc:
                    raise InvalidInput(f"{file.name} n'est pas en UTF-8 (octet invalide ligne {number}) : les "
                                       "fichiers BAN officiels sont en UTF-8 ; convertir le fichier "
                                       "(ex. iconv -f latin1 -t utf-8).") from exc
    except (OSError, EOFError) as exc:
        raise InvalidInput(f"{file.name} : archive gzip illisible ({exc}).") from exc


# A parsed row, as a tuple (a dict per address costs ~1 KB: 400 MB for a département).
ID, CODE, NUMERO, REP, NOM_VOIE, CODE_POSTAL, NOM_COMMUNE, LON, LAT = range(9)


def read(path, *, report: Report, session=None, **_) -> AddressBatch:
    paths = [Path(p) for p in (path if isinstance(path, (list, tuple)) else [path]) if p is not None]
    if not paths:
        raise InvalidInput("Fichier BAN manquant.")
    rows: list[tuple] = []
    sources: list[str] = []
    seen: dict[str, int] = {}  # id -> line * 1024 + file number
    shared: dict[str, str] = {}  # one string object for the many rows sharing a value
    for file_number, file in enumerate(paths):
        if not file.exists():
            raise InvalidInput(f"Fichier introuvable : {file}")
        lines = _lines(file)
        header_line = next(lines, "").rstrip("\r\n")
        _check_header(file.name, header_line)
        in_file = file.name if len(paths) > 1 else None
        sources.append(f"BAN {file.name}"[:200])
        reader = csv.DictReader(itertools.chain([header_line + "\n"], lines), delimiter=";")

        def reject(line, field_name, message, _file=in_file):
            report.reject(line, field_name, message, file=_file)

        for row in reader:
            line = reader.line_num
            report.rows_read += 1
            if None in row:
                reject(line, None, f"{plural(len(row[None]), 'valeur', 'valeurs')} en trop "
                                   "(séparateur « ; » dans une valeur ?)")
                continue
            if any(row[c] is None for c in REQUIRED):
                reject(line, None, "ligne incomplète (colonnes manquantes)")
                continue
            value = {c: row[c].strip() for c in REQUIRED}
            ban_id = value["id"]
            if not ban_id or len(ban_id) > 64:
                reject(line, "id", "identifiant BAN vide ou trop long")
                continue
            if ban_id in seen:
                other = seen[ban_id]
                reject(line, "id", f"identifiant {ban_id[:64]} en double (déjà {paths[other % 1024].name} "
                                   f"ligne {other // 1024})")
                continue
            seen[ban_id] = line * 1024 + file_number
            code = value["code_insee"].upper()
            if not CODE_INSEE.match(code):
                reject(line, "code_insee", f"code INSEE invalide « {code[:20]} »")
                continue
            try:
                numero = int(value["numero"])
                if not 0 <= numero <= NO_NUMBER:
                    raise ValueError
            except ValueError:
                reject(line, "numero", f"numéro invalide « {value['numero'][:20]} » (entier attendu)")
                continue
            if not value["nom_voie"]:
                reject(line, "nom_voie", "nom de voie vide")
                continue
            if value["code_postal"] and not POSTCODE.match(value["code_postal"]):
                reject(line, "code_postal", f"code postal invalide « {value['code_postal'][:20]} »")
                continue
            try:
                lon, lat = _float(value["lon"]), _float(value["lat"])
            except ValueError:
                reject(line, "lon/lat", f"coordonnées invalides « {value['lon'][:20]} ; {value['lat'][:20]} »")
                continue
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                reject(line, "lon/lat", f"coordonnées hors limites (lon={lon}, lat={lat}) : degrés WGS84 attendus")
                continue
            if len(value["rep"]) > 16 or len(value["nom_voie"]) > 200 or len(value["nom_commune"]) > 200:
                reject(line, None, "valeur trop longue (rep ≤ 16, nom_voie et nom_commune ≤ 200 caractères)")
                continue
            rep = value["rep"].lower() or None
            rows.append((
                ban_id, shared.setdefault(code, code), None if numero == NO_NUMBER else numero,
                rep and shared.setdefault(rep, rep), shared.setdefault(value["nom_voie"], value["nom_voie"]),
                shared.setdefault(value["code_postal"], value["code_postal"]) or None,
                shared.setdefault(value["nom_commune"], value["nom_commune"]), round(lon, 7), round(lat, 7),
                file_number,
            ))
    if not rows and report.ok:
        report.reject(None, None, "aucune adresse dans le fichier")
    return AddressBatch(rows, sources=sources)


def load(session, batch: AddressBatch, *, report: Report, progress=None, **_) -> None:
    communes = sorted({r[CODE] for r in batch.rows})
    wanted = set(communes)
    existing: dict[str, tuple] = {}
    columns = [Address.id] + [getattr(Address, f) for f in FIELDS]
    for chunk in dialects.chunked(communes):
        for row in session.execute(select(*columns).where(Address.code_insee.in_(chunk))):
            existing[row[0]] = tuple(row[1:])
    in_file = {r[ID] for r in batch.rows}
    # An id may have moved from a commune that is not in this file.
    elsewhere = [i for i in in_file if i not in existing]
    for chunk in dialects.chunked(elsewhere):
        for row in session.execute(select(*columns).where(Address.id.in_(chunk))):
            existing[row[0]] = tuple(row[1:])
    to_insert, to_replace = [], []
    if progress:
        progress(0, total=len(batch.rows))
    for row in batch.rows:
        old = existing.get(row[ID])
        if old is None:
            report.count("created")
            to_insert.append(row)
        elif _same(old, row[CODE:LAT + 1]):
            report.count("unchanged")
        else:
            report.count("updated")
            to_replace.append(row[ID])
            to_insert.append(row)
        if progress:
            progress(1)
    gone = [i for i, old in existing.items() if i not in in_file and old[0] in wanted]
    del existing, in_file
    for chunk in dialects.chunked(to_replace + gone):
        session.execute(delete(Address).where(Address.id.in_(chunk)))
    report.deleted += len(gone)
    sources = batch.sources
    for chunk in dialects.chunked(to_insert, 2000):
        session.execute(insert(Address), [
            {"id": r[ID], "code_insee": r[CODE], "numero": r[NUMERO], "rep": r[REP], "nom_voie": r[NOM_VOIE],
             "code_postal": r[CODE_POSTAL], "nom_commune": r[NOM_COMMUNE], "lon": r[LON], "lat": r[LAT],
             "source": sources[r[-1]], "geom": f"SRID=4326;POINT({r[LON]} {r[LAT]})"} for r in chunk
        ])
    if report.created or report.updated or report.deleted:
        # The offline geocoder's in-memory index is keyed on this token.
        set_meta(session, ADDRESS_VERSION_KEY, uuid.uuid4().hex)
    session.flush()


def _same(old: tuple, new: tuple) -> bool:
    return all(
        (abs(a - b) < 1e-7 if isinstance(a, float) and isinstance(b, float) else a == b)
        for a, b in zip(old, new)
    )
