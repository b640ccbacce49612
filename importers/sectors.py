"""Psychiatric sectors from the sheets ARS teams keep (CSV or XLSX).

No national file lists sector boundaries: an ARS or an établissement keeps a table of sector code
→ communes (or IRIS, or a drawn polygon). This importer reads such a table — one row per sector,
or one row per (sector, territory) as such tables often are — and links each sector to its CMP
sites by FINESS number (CMPs loaded by `maillage import finess`). The sector letter says the
public: `G` psychiatrie générale (adults), `I` infanto-juvénile (children and adolescents).

`maillage import sectors FILE.csv|FILE.xlsx [--polygons FILE] [--dry-run]`; format in
docs/sector-sheet.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import or_, select

from app import territories
from app.errors import InvalidInput
from app.exchange import tables as sheet
from app.models import Partner, Site
from app.partners import cards, registry
from importers.base import POLYGONS, PROBABLE, PartnerBatch, Report, upsert_records

NAME = "sectors"
DESCRIPTION = "Secteurs de psychiatrie (feuille secteur → communes / IRIS / polygones, CMP par FINESS)"
FILES = "one"
OPTIONS = (POLYGONS, PROBABLE)
SECTOR_RE = re.compile(r"^(?P<dep>\d{2}|2[AB]|97[1-6])(?P<letter>[GIP])(?P<number>\d{2,3})$")
KINDS = {"G": "secteur_psy_adulte", "I": "secteur_psy_infanto"}
PUBLIC = {"G": "adulte", "I": "enfant"}
LABELS = {"G": "Secteur de psychiatrie adulte", "I": "Secteur de psychiatrie infanto-juvénile"}


@dataclass(frozen=True)
class Column:
    name: str
    help: str
    example: str = ""
    partner_level: bool = True  # must agree between the rows of one sector


COLUMNS = [
    Column("secteur", "Code du secteur : département + G (adultes) ou I (enfants) + numéro.", "93G10", False),
    Column("nom", "Nom affiché (défaut : « Secteur de psychiatrie adulte 93G10 »).", "Secteur 93G10 — Bondy nord"),
    Column("public", "adulte ou enfant ; facultatif, doit correspondre à la lettre du code.", "adulte"),
    Column("etablissement", "Établissement de rattachement.", "EPS Ville-Évrard"),
    Column("territoires", "Codes typés séparés par | (commune:, arrondissement:, iris:, epci:, departement:).",
           "commune:93010", False),
    Column("code_insee", "Code INSEE d'une commune (sans préfixe : la colonne dit que c'est une commune).", "93057", False),
    Column("code_iris", "Code IRIS à 9 caractères (sans préfixe).", "930100101", False),
    Column("exclusions", "Codes typés exclus, séparés par |.", "iris:930100102", False),
    Column("cmp_finess", "Numéros FINESS des CMP du secteur, séparés par | (importés par maillage import finess).",
           "930000011", False),
    Column("comment_saisir", "Comment orienter vers le secteur.", "Par le CMP : premier rendez-vous infirmier."),
    Column("telephone", "Téléphone du secrétariat du secteur.", "01 00 00 00 15"),
    Column("courriel", "Courriel fonctionnel du secteur.", "secteur-93g10@example.org"),
    Column("site_web", "Adresse web.", ""),
    Column("date_debut", "Date de début AAAA-MM-JJ (nouvelle sectorisation).", ""),
    Column("date_fin", "Date de fin AAAA-MM-JJ.", ""),
    Column("derniere_verification", "Date de dernière vérification AAAA-MM-JJ.", "2026-10-01"),
]
COLUMN_NAMES = [c.name for c in COLUMNS]
PARTNER_LEVEL = [c.name for c in COLUMNS if c.partner_level]
FIELD_COLUMNS = {"name": "nom", "how_to_refer": "comment_saisir", "website": "site_web", "valid_from": "date_debut",
                 "valid_to": "date_fin", "last_verified_at": "derniere_verification", "coverage": "territoires",
                 "coverage.include": "territoires", "coverage.exclude": "exclusions", "age_band": "public"}


@dataclass
class SectorRows:
    code: str
    letter: str
    line: int
    values: dict[str, tuple[str, int]] = field(default_factory=dict)  # column → (value, line it came from)
    include: list[tuple[str, int]] = field(default_factory=list)  # (typed code, line)
    exclude: list[tuple[str, int]] = field(default_factory=list)
    cmp: list[tuple[str, int]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)


def read(path, *, report: Report, session, polygons: str | Path | None = None, **_) -> PartnerBatch:
    if path is None:
        raise InvalidInput("Feuille des secteurs manquante.")
    path = Path(path)
    table = sheet.read_table(path, columns=COLUMN_NAMES, required=["secteur"],
                             zero_padded={"code_insee": 5, "code_iris": 9, "cmp_finess": 9})
    for line, column, message in table.problems:
        report.rows_read += 1
        report.reject(line, column, message)
    if not ({"territoires", "code_insee", "code_iris"} & set(table.columns)) and not polygons:
        raise InvalidInput(f"{path.name} : aucune colonne de territoire (territoires, code_insee ou code_iris) "
                           "et pas de fichier --polygons : rien ne dit où s'étend chaque secteur.")
    sectors = _group(table.rows, report)
    polys = sheet.read_polygons(Path(polygons), key_columns=("secteur", "identifiant", "id"), report=report) if polygons else {}
    for key, items in polys.items():
        if key.upper() not in sectors:
            for poly in items:
                report.reject(poly.number, f"{Path(polygons).name} · secteur",
                              f"polygone n° {poly.number} : secteur « {key} » absent de la feuille")
    cmp_sites = _cmp_sites(session, sectors.values(), report)
    records, cache = [], {}
    for sector in sectors.values():
        record = _record(sector, polys.get(sector.code, []), cmp_sites)
        clean, errors = registry.normalise(session, record, cache)
        for field_name, message in errors.errors:
            line = _line_of(sector, field_name, message)
            report.reject(line, FIELD_COLUMNS.get(field_name, field_name), f"{sector.code} : {message}")
        records.append((sector.line, record))
    return PartnerBatch(records, file=path.name)


def _group(rows, report: Report) -> dict[str, SectorRows]:
    sectors: dict[str, SectorRows] = {}
    for line, cells in rows:
        report.rows_read += 1
        code = cells.get("secteur", "").strip().upper()
        match = SECTOR_RE.match(code)
        if not match:
            report.reject(line, "secteur", f"code de secteur invalide « {cells.get('secteur', '')} » (ex. 93G10, 75I05)")
            continue
        letter = match.group("letter")
        if letter == "P":
            report.reject(line, "secteur", f"{code} : secteur de psychiatrie en milieu pénitentiaire, non géré "
                          "(il ne couvre pas de lieu de résidence)")
            continue
        sector = sectors.get(code)
        if sector is None:
            sector = sectors[code] = SectorRows(code, letter, line)
        sector.lines.append(line)
        for column in PARTNER_LEVEL:
            value = cells.get(column, "")
            if not value:
                continue
            previous = sector.values.get(column)
            if previous and previous[0] != value:
                report.reject(line, column, f"{code} : « {value} » diffère de la ligne {previous[1]} (« {previous[0]} »)")
            elif not previous:
                sector.values[column] = (value, line)
        public = cells.get("public", "").strip().lower()
        if public and public != PUBLIC[letter]:
            report.reject(line, "public", f"{code} : public « {public} » alors que la lettre {letter} désigne "
                          f"un secteur {PUBLIC[letter]}")
        for raw in _split(cells.get("territoires", "")):
            sector.include.append((raw, line))
        if cells.get("code_insee"):
            prefix = "arrondissement" if territories.PATTERNS["arrondissement"].match(cells["code_insee"]) else "commune"
            sector.include.append((f"{prefix}:{cells['code_insee']}", line))
        if cells.get("code_iris"):
            sector.include.append((f"iris:{cells['code_iris']}", line))
        for raw in _split(cells.get("exclusions", "")):
            sector.exclude.append((raw, line))
        for number in _split(cells.get("cmp_finess", "")):
            if not registry.FINESS_RE.match(number):
                report.reject(line, "cmp_finess", f"{code} : numéro FINESS invalide « {number} »")
            else:
                sector.cmp.append((number, line))
    return sectors


def _split(value: str) -> list[str]:
    return [v.strip() for v in (value or "").split("|") if v.strip()]


def _cmp_sites(session, sectors, report: Report) -> dict[str, dict]:
    """The CMP sites named by FINESS number, as site records (copied from the stored partner)."""
    wanted = sorted({number for sector in sectors for number, _ in sector.cmp})
    found: dict[str, dict] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        rows = session.execute(
            select(Partner, Site).join(Site, Site.partner_id == Partner.id).where(
                or_(Site.finess.in_(chunk), Partner.finess.in_(chunk))).order_by(Site.position)
        ).all()
        for partner, site in rows:
            number = site.finess if site.finess in chunk else partner.finess
            if number in found or site.geom is None:
                continue
            record = cards.record_of(partner)
            site_record = next((s for s in record["sites"] if s.get("finess") == number), record["sites"][0])
            found[number] = {**site_record, "role": "cmp", "finess": number, "kind": partner.kind_code}
    for sector in sectors:
        for number, line in sector.cmp:
            if number not in found:
                report.reject(line, "cmp_finess", f"{sector.code} : CMP FINESS {number} absent de la base "
                              "(importer d'abord le fichier FINESS : maillage import finess)")
            elif found[number]["kind"] not in ("cmp", "cattp"):
                report.warn(line, "cmp_finess", f"{sector.code} : FINESS {number} est un « {found[number]['kind']} », "
                            "pas un CMP : rattaché quand même")
    return found


def _record(sector: SectorRows, polys, cmp_sites: dict[str, dict]) -> dict:
    value = {column: v for column, (v, _) in sector.values.items()}
    description = f"Établissement de rattachement : {value['etablissement']}." if value.get("etablissement") else ""
    contacts = []
    if value.get("telephone") or value.get("courriel"):
        contacts.append({"label": f"Secrétariat du secteur {sector.code}", "phone": value.get("telephone"),
                         "email": value.get("courriel")})
    sites = []
    for number, _ in sector.cmp:
        site = {k: v for k, v in cmp_sites.get(number, {}).items() if k != "kind"}
        if site and site not in sites:
            sites.append(site)
    return {
        "ref": f"secteur:{sector.code}", "kind": KINDS[sector.letter],
        "name": value.get("nom") or f"{LABELS[sector.letter]} {sector.code}",
        "age_band": PUBLIC[sector.letter], "description": description,
        "how_to_refer": value.get("comment_saisir"), "website": value.get("site_web"),
        "valid_from": value.get("date_debut"), "valid_to": value.get("date_fin"),
        "last_verified_at": value.get("derniere_verification"),
        "coverage": {"include": list(dict.fromkeys(code for code, _ in sector.include)),
                     "exclude": list(dict.fromkeys(code for code, _ in sector.exclude)),
                     "polygons": [{"mode": p.mode, "label": p.label or f"Secteur {sector.code}", "geometry": p.geometry}
                                  for p in polys]},
        "sites": sites, "contacts": contacts,
    }


def _line_of(sector: SectorRows, field_name: str, message: str) -> int:
    """The row a coverage error comes from, when the sector spans several rows."""
    pool = {"coverage.include": sector.include, "coverage.exclude": sector.exclude}.get(field_name, [])
    for raw, line in pool:
        if raw in message or raw.split(":")[-1].strip().upper() in message:
            return line
    return sector.line


def load(session, batch: PartnerBatch, *, report: Report, progress=None, probable: str | None = None, **_) -> None:
    upsert_records(session, batch.rows, source=NAME, source_file=batch.file, report=report, progress=progress,
                   probable=probable)
