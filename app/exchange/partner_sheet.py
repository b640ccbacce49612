"""The partner sheet: the exchange format (CSV or XLSX) territories keep their partners in.

One row per partner; a partner with several sites or contacts continues on the next rows, which
repeat its `identifiant` and fill only `site_*` / `contact_*` columns. Coverage is written as
typed codes (`commune:93010|epci:200057875`), custom polygons come from a GeoJSON / GeoPackage
file keyed by `identifiant`. Documented in docs/partner-sheet.md. Read here into partner records
(importers/partners_sheet.py validates and loads them), written here by `maillage export partners`
and the blank template (also served at /modeles/partenaires.xlsx), so export → import → export is
identical.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from app.errors import InvalidInput
from app.exchange import tables as sheet
from app.exchange.tables import ProblemLog
from app.models import Landlord, Partner
from app.partners import cards, registry
from app.vocabulary import AGE_BANDS, STATUS_SHEET_WORDS, STATUSES

SHEET = "Partenaires"
LANDLORD_SHEET = "Bailleurs"
HELP_SHEET = "Aide"


@dataclass(frozen=True)
class Column:
    name: str
    field: str  # record field; "site.x" / "contact.x" for site and contact columns
    help: str
    example: str = ""


COLUMNS = [
    Column("identifiant", "ref", "Identifiant stable du partenaire, choisi par le territoire (lettres, chiffres, _ . : -). "
           "Obligatoire sur chaque ligne ; les lignes de suite d'un partenaire le répètent.", "ars-idf:clsm-bondy"),
    Column("type", "kind", "Code du type de partenaire (voir la liste ci-dessous).", "clsm"),
    Column("nom", "name", "Nom du partenaire.", "CLSM de Bondy"),
    Column("description", "description", "Description courte.", ""),
    Column("comment_saisir", "how_to_refer", "Comment saisir ou orienter : qui peut saisir, quoi envoyer, délais.",
           "Fiche de saisine à envoyer à la coordination."),
    Column("eligibilite", "eligibility", "Conditions d'accès, public précis.", ""),
    Column("site_web", "website", "Adresse web (http:// ou https://).", "https://www.ville-bondy.fr"),
    Column("public_age", "age_band", "adulte, enfant ou tous (vide : celui du type).", "tous"),
    Column("types_logement", "housing_types", "Types de logement servis, séparés par | (vide : tous).", "parc_social"),
    Column("bailleurs_reserves", "reserved_landlords", "Codes des bailleurs auxquels le service est réservé, séparés par |.", ""),
    Column("capacite", "capacity", "Nombre de places (logement accompagné).", ""),
    Column("statut", "status", "actif, prevu, suspendu ou ferme (vide : actif).", "actif"),
    Column("date_debut", "valid_from", "Date d'ouverture AAAA-MM-JJ.", "2019-01-01"),
    Column("date_fin", "valid_to", "Date de fin AAAA-MM-JJ (fin de financement, fermeture).", ""),
    Column("finess", "finess", "Numéro FINESS (9 caractères).", ""),
    Column("siret", "siret", "Numéro SIRET (14 chiffres).", ""),
    Column("id_data_inclusion", "data_inclusion_id", "Identifiant data·inclusion.", ""),
    Column("derniere_verification", "last_verified_at", "Date de dernière vérification AAAA-MM-JJ.", "2026-09-01"),
    Column("peut_orienter", "referral.referrers", "Qui peut orienter, séparés par | : bailleur, travailleur_social, "
           "medecin, professionnel, personne (la personne elle-même), entourage.", "bailleur|travailleur_social"),
    Column("modes_saisine", "referral.channels", "Comment saisir, séparés par | : telephone, courriel, formulaire "
           "(formulaire en ligne : lien obligatoire), se_presenter, fiche_liaison.", "courriel|fiche_liaison"),
    Column("formulaire_en_ligne", "referral.form_url", "Lien du formulaire de saisine en ligne (http:// ou https://).", ""),
    Column("fiche_liaison", "referral.liaison_url", "Lien de la fiche de liaison du partenaire (document à imprimer), "
           "s'il en a une.", ""),
    Column("champs_fiche_liaison", "referral.liaison_fields", "Rubriques que demande le partenaire, séparées par | "
           "(vide : fiche de liaison générique).", ""),
    Column("pieces_a_fournir", "referral.documents", "Documents à joindre à la demande.", "Certificat médical"),
    Column("accord_personne", "referral.consent", "oui si l'accord de la personne est requis avant d'orienter, non sinon.",
           "oui"),
    Column("delai_habituel", "referral.delay", "Délai habituel de réponse ou de prise en charge.", "15 jours"),
    Column("financeurs", "funders", "Financeurs, séparés par | : fnavdl, ars, departement, bailleur, mecenat, etat, "
           "commune.", "ars|departement"),
    Column("fin_financement", "funding_end", "Date de fin du financement actuel AAAA-MM-JJ.", ""),
    Column("couverture", "coverage.include", "Zone couverte : codes typés séparés par | "
           "(commune:93010, arrondissement:75113, iris:930100101, epci:200054781, ept:200057875, departement:93, region:11). "
           "Obligatoire pour les types à zone de compétence, sauf polygone fourni.", "commune:93010"),
    Column("exclusions", "coverage.exclude", "Parties exclues de la zone : codes typés séparés par |.", ""),
    Column("site_nom", "site.name", "Nom du lieu d'accueil.", "Mairie de Bondy"),
    Column("site_role", "site.role", "principal, cmp, cattp, antenne, residence… (vide : principal).", "principal"),
    Column("site_adresse", "site.address", "Numéro et voie.", "Esplanade Claude Fuzier"),
    Column("site_code_postal", "site.postcode", "Code postal (5 chiffres).", "93140"),
    Column("site_commune", "site.city", "Commune.", "Bondy"),
    Column("site_code_insee", "site.code_insee", "Code INSEE de la commune du site.", "93010"),
    Column("site_longitude", "site.lon", "Longitude WGS84 en degrés décimaux (point).", "2.4823"),
    Column("site_latitude", "site.lat", "Latitude WGS84 en degrés décimaux (point).", "48.9024"),
    Column("site_telephone", "site.phone", "Téléphone du site.", "01 48 50 53 00"),
    Column("site_courriel", "site.email", "Courriel du site.", ""),
    Column("site_horaires", "site.opening_hours", "Horaires d'ouverture.", "Lu-Ve 9h-17h"),
    Column("site_accessibilite", "site.accessibility", "Accessibilité.", ""),
    Column("site_finess", "site.finess", "Numéro FINESS du site (un CMP d'un secteur, par exemple).", ""),
    Column("site_capacite", "site.capacity", "Places sur ce site.", ""),
    Column("contact_libelle", "contact.label", "Contact fonctionnel (un service, un rôle, jamais une personne privée).",
           "Coordination du CLSM"),
    Column("contact_telephone", "contact.phone", "Téléphone du contact.", "01 48 50 53 00"),
    Column("contact_courriel", "contact.email", "Courriel du contact (boîte partagée).", "clsm@ville-bondy.fr"),
    Column("contact_web", "contact.url", "Adresse web du contact.", ""),
    Column("contact_horaires", "contact.hours", "Horaires de joignabilité.", ""),
    Column("contact_notes", "contact.notes", "Précisions.", ""),
]
COLUMN_NAMES = [c.name for c in COLUMNS]
REQUIRED = ["identifiant", "type", "nom"]
BY_FIELD = {c.field: c.name for c in COLUMNS}
PARTNER_COLUMNS = [c for c in COLUMNS if not c.field.startswith(("site.", "contact."))]
SITE_COLUMNS = [c for c in COLUMNS if c.field.startswith("site.")]
CONTACT_COLUMNS = [c for c in COLUMNS if c.field.startswith("contact.")]
LIST_FIELDS = {"housing_types", "reserved_landlords", "coverage.include", "coverage.exclude", "referral.referrers",
               "referral.channels", "referral.liaison_fields", "funders"}
CONSENT_OUT = {True: "oui", False: "non"}
ZERO_PADDED = {"site_code_postal": 5, "site_code_insee": 5, "finess": 9, "site_finess": 9, "siret": 14}
STATUS_OUT = STATUS_SHEET_WORDS
# the sheet's words, with or without accents, and the stored values themselves
STATUS_IN = {**{s: s for s in STATUSES}, **{w: s for s, w in STATUS_OUT.items()}, "prévu": "planned", "fermé": "closed"}
LANDLORD_COLUMNS = ["code", "nom", "siren"]
# "identifian": a shapefile truncates field names to 10 characters
POLYGON_KEYS = ("identifiant", "identifian", "ref", "id")


# --------------------------------------------------------------------------------------------- read


@dataclass
class SheetRecord:
    line: int
    record: dict
    site_lines: list[int]
    contact_lines: list[int]


def read_sheet(path: Path, report: ProblemLog, *,
               polygons: Path | None = None) -> tuple[list[SheetRecord], list[dict]]:
    """The sheet's partners as records, each with the lines its sites and contacts came from, and
    the landlords of its `Bailleurs` sheet (XLSX); the custom polygons of the `polygons` file are
    attached to their partners. Every row that cannot be read is reported with its line."""
    is_xlsx = path.suffix.lower() == ".xlsx"
    sheet_name = None
    landlords: list[dict] = []
    if is_xlsx and path.exists():
        names = _sheet_names(path)
        sheet_name = SHEET if SHEET in names else None
        if LANDLORD_SHEET in names:
            landlords = _read_landlords(path, report)
    table = sheet.read_table(path, columns=COLUMN_NAMES, required=REQUIRED, sheet=sheet_name, zero_padded=ZERO_PADDED)
    for line, column, message in table.problems:
        report.rows_read += 1
        report.reject(line, column, message)
    for line, column, message in table.repaired:
        report.warn(line, column, message)
    records = group_rows(table.rows, report)
    if polygons:
        _attach_polygons(polygons, records, report)
    return records, landlords


def _sheet_names(path: Path) -> list[str]:
    try:
        return sheet.xlsx_sheet_names(path)
    except Exception as exc:  # openpyxl raises zip, XML and key errors for damaged files
        raise InvalidInput(f"{path.name} n'est pas un classeur XLSX lisible ({exc.__class__.__name__}) : "
                           "fichier tronqué ou d'un autre format ?") from exc


def _read_landlords(path: Path, report: ProblemLog) -> list[dict]:
    table = sheet.read_table(path, columns=LANDLORD_COLUMNS, required=["code", "nom"], sheet=LANDLORD_SHEET,
                             zero_padded={"siren": 9})
    out = []
    for line, cells in table.rows:
        if not re.match(r"^[a-z0-9][a-z0-9-]{0,59}$", cells["code"]):
            report.reject(line, f"{LANDLORD_SHEET} · code", f"code de bailleur invalide « {cells['code']} » (minuscules, chiffres et tirets)")
            continue
        siren = cells.get("siren") or None
        if siren and not re.match(r"^\d{9}$", siren):
            report.reject(line, f"{LANDLORD_SHEET} · siren", f"SIREN invalide « {siren} »")
            continue
        out.append({"code": cells["code"], "name": cells["nom"], "siren": siren})
    for line, column, message in table.problems:
        report.reject(line, f"{LANDLORD_SHEET}", message)
    return out


def group_rows(rows: list[tuple[int, dict[str, str]]], report: ProblemLog) -> list[SheetRecord]:
    """Rows → records: a row naming the previous row's partner with no partner column filled
    continues it (another site and/or contact); any other repeat of an identifiant is a duplicate."""
    records: list[SheetRecord] = []
    seen: dict[str, int] = {}
    for line, cells in rows:
        report.rows_read += 1
        ref = cells["identifiant"]
        if not ref:
            report.reject(line, "identifiant", "identifiant obligatoire sur chaque ligne")
            continue
        partner_values = {c.field: cells.get(c.name, "") for c in PARTNER_COLUMNS}
        site = {c.field[5:]: cells.get(c.name, "") for c in SITE_COLUMNS}
        contact = {c.field[8:]: cells.get(c.name, "") for c in CONTACT_COLUMNS}
        has_partner = any(v for k, v in partner_values.items() if k != "ref")
        current = records[-1] if records else None
        if current is not None and current.record["ref"] == ref and not has_partner:
            if not any(site.values()) and not any(contact.values()):
                report.reject(line, None, f"{ref} : ligne de suite sans site ni contact")
        elif ref in seen:
            report.reject(line, "identifiant", f"{ref} en double (déjà ligne {seen[ref]}) ; une ligne de suite ne "
                          "remplit que les colonnes site_* et contact_*, juste sous son partenaire")
            continue
        else:
            seen[ref] = line
            current = SheetRecord(line, _partner_record(partner_values), [], [])
            records.append(current)
        if any(site.values()):
            current.record["sites"].append(site)
            current.site_lines.append(line)
        if any(contact.values()):
            current.record["contacts"].append(contact)
            current.contact_lines.append(line)
    return records


def _partner_record(values: dict[str, str]) -> dict:
    record: dict = {"sites": [], "contacts": [], "coverage": {"include": [], "exclude": [], "polygons": []},
                    "referral": {}}
    for field_name, value in values.items():
        if field_name in LIST_FIELDS:
            value = [v.strip() for v in value.split("|") if v.strip()]
        elif field_name == "status":
            value = STATUS_IN.get(value.lower(), value) if value else None
        else:
            value = value or None
        if field_name.startswith("coverage."):
            record["coverage"][field_name[9:]] = value
        elif field_name.startswith("referral."):
            record["referral"][field_name[9:]] = value
        else:
            record[field_name] = value
    return record


def locate(item: SheetRecord, field_name: str) -> tuple[int, str]:
    """The line and column a validation error of a record refers to."""
    match = re.match(r"^(sites|contacts)\[(\d+)\](?:\.(.+))?$", field_name)
    if match:
        kind, index, sub = match.group(1), int(match.group(2)), match.group(3) or ""
        lines = item.site_lines if kind == "sites" else item.contact_lines
        line = lines[index] if index < len(lines) else item.line
        prefix = "site" if kind == "sites" else "contact"
        if sub == "lon/lat":
            return line, f"{prefix}_longitude/{prefix}_latitude"
        return line, BY_FIELD.get(f"{prefix}.{sub}", f"{prefix}_*")
    if field_name == "sites":
        return item.line, "site_longitude/site_latitude"
    if field_name.startswith("coverage.polygons"):
        return item.line, "polygones (--polygons)"
    if field_name == "coverage":
        return item.line, "couverture"
    return item.line, BY_FIELD.get(field_name, field_name)


def _attach_polygons(path: Path, records: list[SheetRecord], report: ProblemLog) -> None:
    by_key = sheet.read_polygons(path, key_columns=POLYGON_KEYS, report=report)
    refs = {item.record["ref"]: item for item in records}
    for key, polys in by_key.items():
        item = refs.get(key)
        if item is None:
            for poly in polys:
                report.reject(poly.number, f"{path.name} · identifiant",
                              f"polygone n° {poly.number} : identifiant « {key} » absent de la feuille")
            continue
        item.record["coverage"]["polygons"] = [{"mode": p.mode, "label": p.label, "geometry": p.geometry} for p in polys]


# --------------------------------------------------------------------------------------------- write


def partner_rows(record: dict) -> list[list[str]]:
    """A record as sheet rows: the partner with its first site and contact, then one continuation
    row per further site / contact."""
    first = []
    for column in PARTNER_COLUMNS:
        first.append(_cell(record, column.field))
    count = max(1, len(record["sites"]), len(record["contacts"]))
    rows = []
    for i in range(count):
        row = first if i == 0 else [record["ref"]] + [""] * (len(PARTNER_COLUMNS) - 1)
        site = record["sites"][i] if i < len(record["sites"]) else {}
        contact = record["contacts"][i] if i < len(record["contacts"]) else {}
        row = row + [_format(site.get(c.field[5:])) for c in SITE_COLUMNS]
        row = row + [_format(contact.get(c.field[8:])) for c in CONTACT_COLUMNS]
        rows.append(row)
    return rows


def _cell(record: dict, field_name: str) -> str:
    if field_name.startswith("coverage."):
        return "|".join(record["coverage"][field_name[9:]])
    if field_name.startswith("referral."):
        value = (record.get("referral") or {}).get(field_name[9:])
        return CONSENT_OUT.get(value, "") if field_name == "referral.consent" else _format(value)
    value = record.get(field_name)
    if field_name == "status":
        return STATUS_OUT.get(value, value or "")
    return _format(value)


def _format(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "|".join(value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def polygon_features(record: dict) -> list[dict]:
    mode_out = {"include": "inclure", "exclude": "exclure"}
    return [{"type": "Feature", "properties": {"identifiant": record["ref"], "mode": mode_out[p["mode"]],
                                               "libelle": p["label"]}, "geometry": p["geometry"]}
            for p in record["coverage"]["polygons"]]


def stored_records(session, *, kinds: list[str] | None = None) -> list[dict]:
    query = select(Partner).options(*registry.STORED_OPTIONS).order_by(Partner.ref)
    if kinds:
        query = query.where(Partner.kind_code.in_(kinds))
    return [cards.record_of(p) for p in session.scalars(query)]


def export(session, path: Path, *, polygons_path: Path | None = None, kinds: list[str] | None = None) -> dict:
    """Write the partners as a sheet (CSV or XLSX by extension) and, when any has custom polygons,
    the GeoJSON file that goes with it. Returns counts and the files written."""
    path = Path(path)
    records = stored_records(session, kinds=kinds)
    rows = [row for record in records for row in partner_rows(record)]
    features = [f for record in records for f in polygon_features(record)]
    used = sorted({code for record in records for code in record["reserved_landlords"]})
    landlords = [[ll.code, ll.name, ll.siren or ""] for ll in session.scalars(
        select(Landlord).where(Landlord.code.in_(used)).order_by(Landlord.code))] if used else []
    if path.suffix.lower() == ".xlsx":
        write_xlsx(path, rows, landlords)
    elif path.suffix.lower() == ".csv":
        path.write_bytes(csv_bytes(rows))
    else:
        raise InvalidInput(f"{path.name} : extension .csv ou .xlsx attendue.")
    written = [path]
    if features:
        polygons_path = Path(polygons_path) if polygons_path else path.with_name(path.stem + "-polygones.geojson")
        sheet.write_polygons(polygons_path, features)
        written.append(polygons_path)
    return {"partners": len(records), "rows": len(rows), "polygons": len(features), "files": written,
            "landlords_in_csv": bool(landlords) and path.suffix.lower() == ".csv"}


def csv_bytes(rows: list[list[str]]) -> bytes:
    """`;`-separated UTF-8 with a byte-order mark: what a French spreadsheet opens correctly."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(COLUMN_NAMES)
    writer.writerows(rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def write_xlsx(path, rows: list[list[str]], landlords: list[list[str]], *, kinds: list[tuple[str, str]] | None = None) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.worksheet.datavalidation import DataValidation

    workbook = Workbook()
    ws = workbook.active
    ws.title = SHEET
    ws.append(COLUMN_NAMES)
    for row in rows:
        ws.append(row)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "B2"
    for index, column in enumerate(COLUMNS, start=1):
        letter = ws.cell(row=1, column=index).column_letter
        ws.column_dimensions[letter].width = max(12, min(40, len(column.name) + 4))
        # Text format keeps leading zeros (postal codes, INSEE codes, FINESS) when people type.
        for cell in ws[letter][1:]:
            cell.number_format = "@"
    if kinds is not None:
        _add_validations(ws, kinds, DataValidation)
    if landlords:
        ll = workbook.create_sheet(LANDLORD_SHEET)
        ll.append(LANDLORD_COLUMNS)
        for row in landlords:
            ll.append(row)
    help_sheet = workbook.create_sheet(HELP_SHEET)
    help_sheet.append(["colonne", "obligatoire", "contenu", "exemple"])
    for column in COLUMNS:
        help_sheet.append([column.name, "oui" if column.name in REQUIRED else "", column.help, column.example])
    if kinds:
        help_sheet.append([])
        help_sheet.append(["type", "", "libellé"])
        for code, label in kinds:
            help_sheet.append([code, "", label])
    help_sheet.column_dimensions["C"].width = 90
    workbook.save(path)


def _add_validations(ws, kinds, DataValidation) -> None:
    choices = {
        "type": [code for code, _ in kinds],
        "statut": list(STATUS_OUT.values()),
        "public_age": list(AGE_BANDS),
    }
    for name, values in choices.items():
        letter = ws.cell(row=1, column=COLUMN_NAMES.index(name) + 1).column_letter
        validation = DataValidation(type="list", formula1='"' + ",".join(values) + '"', allow_blank=True,
                                    error=f"Valeur non reconnue pour « {name} »", errorTitle="Maillage")
        validation.add(f"{letter}2:{letter}5000")
        ws.add_data_validation(validation)


def template(path: Path, session=None) -> None:
    """A blank sheet (header only): XLSX with drop-down lists and a help sheet, or CSV."""
    path = Path(path)
    path.write_bytes(template_bytes(path.suffix.lower().lstrip("."), session))


def template_bytes(fmt: str, session=None) -> bytes:
    if fmt == "csv":
        return csv_bytes([])
    if fmt != "xlsx":
        raise InvalidInput(f"format de modèle « {fmt} » inconnu (csv ou xlsx)")
    kinds = []
    if session is not None:
        from app.partners.kinds import all_kinds

        kinds = [(k.code, k.label) for k in all_kinds(session)]
    out = io.BytesIO()
    write_xlsx(out, [], [], kinds=kinds)
    return out.getvalue()
