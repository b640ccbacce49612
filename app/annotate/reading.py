"""A landlord's address file read: CSV (encoding and delimiter detected and reported) or XLSX
(openpyxl, read-only), its columns recognised by their header names, and only the columns chosen
kept — every other column (a tenant's name, a phone number…) is never read into a row.

Everything is checked before anything is processed: an unreadable file, an unknown delimiter, no
address column, an empty file or one over the row cap is refused with a French message. No cell
value is ever put in a message or a log line (a landlord's file holds personal data).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import unicodedata
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from app.errors import InvalidInput
from app.geocoding import normalize

DELIMITERS = (";", ",", "\t", "|")
DELIMITER_LABELS = {";": "point-virgule", ",": "virgule", "\t": "tabulation", "|": "barre verticale", None: "aucun (une colonne)"}
# The encodings people's tools write; anything else is refused rather than guessed.
USUAL_ENCODINGS = {"utf_8": "UTF-8", "utf_8_sig": "UTF-8", "cp1252": "Windows-1252", "latin_1": "ISO-8859-1",
                   "iso8859_15": "ISO-8859-15", "utf_16": "UTF-16", "utf_16_le": "UTF-16", "utf_16_be": "UTF-16",
                   "mac_roman": "Mac Roman", "cp850": "DOS (CP850)"}
PREVIEW_ROWS = 10
ROLES = ("address", "number", "street", "postcode", "city", "id")
ROLE_LABELS = {"address": "adresse", "number": "numéro", "street": "voie", "postcode": "code postal",
               "city": "commune", "id": "identifiant", "groups": "regroupement"}

# Header names (folded: lower case, no accents, spaces for punctuation) recognised for each role,
# best first.
_HEADERS = {
    "address": ("adresse", "adresse complete", "adresse postale", "adresse du logement", "adresse logement",
                "adresse du batiment", "adresse batiment", "adresse immeuble", "libelle adresse", "adresse 1",
                "adresse1", "adr", "address", "full address"),
    "number": ("numero", "numero de voie", "numero voie", "num voie", "n voie", "no voie", "n", "no", "num",
               "numero rue", "housenumber", "number"),
    "street": ("voie", "nom de voie", "nom voie", "libelle voie", "libelle de voie", "rue", "nom de rue",
               "type et nom de voie", "street"),
    "postcode": ("code postal", "cp", "codepostal", "code post", "postcode", "zip", "code postal commune"),
    "city": ("commune", "ville", "localite", "nom commune", "nom de commune", "libelle commune", "city"),
    "id": ("identifiant", "id", "reference", "ref", "code", "numero logement", "n logement", "code logement",
           "identifiant logement", "id logement", "reference logement", "code batiment", "ref logement",
           "identifiant batiment", "numero de lot", "lot"),
    "groups": ("agence", "programme", "batiment", "groupe", "residence", "ensemble immobilier", "site",
               "secteur agence", "antenne", "territoire", "direction territoriale", "patrimoine"),
}


def fold(text: str) -> str:
    """A header as words: the geocoder's folding (no case, no accents, "°" as a space), commas too."""
    return " ".join(normalize.fold(str(text)).replace(",", " ").split())


@dataclass(frozen=True)
class Columns:
    """Which header holds what; `groups` are kept for the summary. Every other column is ignored."""

    address: str | None = None
    number: str | None = None
    street: str | None = None
    postcode: str | None = None
    city: str | None = None
    id: str | None = None
    groups: tuple[str, ...] = ()

    def used(self) -> list[str]:
        return [c for c in (self.id, *self.groups, self.address, self.number, self.street, self.postcode,
                            self.city) if c]

    def describe(self) -> list[tuple[str, str]]:
        """(role label, header) pairs, for people to confirm."""
        out = [(ROLE_LABELS[r], getattr(self, r)) for r in ROLES if getattr(self, r)]
        return out + [(ROLE_LABELS["groups"], g) for g in self.groups]


def detect_columns(header: list[str]) -> Columns:
    """The columns recognised by their names: an address column, or split number/street/postcode/
    city columns; an identifier; grouping columns (agency, programme, building…)."""
    folded = {h: fold(h) for h in header if h}
    taken: set[str] = set()

    def find(role: str) -> str | None:
        for name in _HEADERS[role]:
            for h, f in folded.items():
                if f == name and h not in taken:
                    taken.add(h)
                    return h
        for name in _HEADERS[role]:  # "Adresse du bien", "Code postal (CP)": the name starts the header
            if len(name) < 4:
                continue
            for h, f in folded.items():
                if f.startswith(name + " ") and h not in taken:
                    taken.add(h)
                    return h
        return None

    found = {role: None for role in ROLES}
    for role in ("postcode", "city", "street", "address", "number", "id"):
        found[role] = find(role)
    if found["address"] and found["street"]:
        found["street"] = None  # one address column is enough; "Voie" beside it is a part of it
    groups = []
    for name in _HEADERS["groups"]:
        for h, f in folded.items():
            if h not in taken and (f == name or f.startswith(name + " ")):
                taken.add(h)
                groups.append(h)
    return Columns(**found, groups=tuple(groups))


def check_columns(columns: Columns, header: list[str]) -> Columns:
    """Refuse a choice that cannot work: no address, an unknown header, both kinds of address."""
    known = set(header)
    for role, name in [(r, getattr(columns, r)) for r in ROLES] + [("groups", g) for g in columns.groups]:
        if name and name not in known:
            raise InvalidInput(f"Colonne « {_short(name)} » ({ROLE_LABELS[role]}) absente du fichier. "
                               f"Colonnes du fichier : {_list(header)}.", code="missing-column")
    if not columns.address and not columns.street:
        raise InvalidInput("Aucune colonne d'adresse : indiquer la colonne de l'adresse (ou celles du numéro, de la "
                           f"voie, du code postal et de la commune). Colonnes du fichier : {_list(header)}.",
                           code="missing-column")
    if columns.address and columns.street:
        raise InvalidInput("Indiquer soit une colonne d'adresse, soit des colonnes séparées (numéro, voie…), pas les deux.",
                           code="missing-column")
    used = columns.used()
    twice = sorted({c for c in used if used.count(c) > 1})
    if twice:
        raise InvalidInput(f"Colonne « {_short(twice[0])} » choisie pour deux rôles.", code="missing-column")
    return columns


@dataclass
class SourceFile:
    """A file checked and ready: its header, how it was read, and its data rows counted."""

    path: Path
    name: str
    format: str  # csv | xlsx
    header: list[str]
    row_count: int
    encoding: str | None = None  # label, CSV only
    delimiter: str | None = None  # CSV only
    sheet: str | None = None  # XLSX only
    notes: list[str] = field(default_factory=list)
    _text: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        if self.format == "csv":
            return (f"CSV, encodage {self.encoding}, séparateur {DELIMITER_LABELS[self.delimiter]}, "
                    f"{self.row_count} {'ligne' if self.row_count < 2 else 'lignes'} de données")
        return f"classeur XLSX, feuille « {self.sheet} », {self.row_count} {'ligne' if self.row_count < 2 else 'lignes'} de données"

    def rows(self, columns: Columns):
        """(line, {role: text}) for every data row, only the chosen columns read. Line: the line a
        person sees in their spreadsheet."""
        index = {h: i for i, h in enumerate(self.header)}
        wanted = [(r, index[getattr(columns, r)]) for r in ROLES if getattr(columns, r)]
        groups = [index[g] for g in columns.groups]
        for line, values in self._raw_rows():
            n = len(values)
            cells = {role: (values[i] if i < n else "") for role, i in wanted}
            if columns.postcode:
                cells["postcode"] = _postcode(cells["postcode"])
            cells["groups"] = tuple(values[i] if i < n else "" for i in groups)
            yield line, cells

    def preview(self, limit: int = PREVIEW_ROWS) -> list[list[str]]:
        """The first rows, every column (shown to the person who sent the file, never stored)."""
        out = []
        for _line, values in self._raw_rows():
            out.append(values + [""] * (len(self.header) - len(values)))
            if len(out) >= limit:
                break
        return out

    def _raw_rows(self):
        if self.format == "csv":
            yield from _csv_data(self._text, self.delimiter)
        else:
            yield from _xlsx_data(self.path, self.sheet)


def open_source(path: Path, *, max_rows: int, name: str | None = None) -> SourceFile:
    """Check a CSV or XLSX address file and count its rows; refuse it with a French message."""
    path = Path(path)
    name = name or path.name
    if not path.exists():
        raise InvalidInput(f"Fichier introuvable : {name}.", code="invalid-file")
    head = path.read_bytes()[:8] if path.stat().st_size else b""
    suffix = path.suffix.lower()
    if suffix == ".xls" or head.startswith(b"\xd0\xcf\x11\xe0"):
        raise InvalidInput(f"{name} : format .xls (Excel 97-2003) non pris en charge ; l'enregistrer en .xlsx ou en CSV.",
                           code="invalid-file")
    if suffix in (".xlsx", ".xlsm") or head.startswith(b"PK\x03\x04"):
        source = _open_xlsx(path, name)
    elif suffix in (".csv", ".txt", ".tsv", ""):
        source = _open_csv(path, name)
    else:
        raise InvalidInput(f"{name} : extension « {_short(suffix)} » inconnue ; fichier .csv ou .xlsx attendu.",
                           code="invalid-file")
    if source.row_count == 0:
        raise InvalidInput(f"{name} : aucune ligne de données sous l'en-tête.", code="invalid-file")
    if source.row_count > max_rows:
        raise InvalidInput(f"{name} : {source.row_count} lignes, c'est plus que le maximum de {max_rows} lignes par "
                           "fichier ; découper le fichier (par agence, par exemple). Rien n'a été traité.",
                           code="too-many-rows")
    return source


# --------------------------------------------------------------------------------------------- CSV


def decode(raw: bytes, name: str) -> tuple[str, str]:
    """The text and its encoding's label: UTF-8 first (with or without BOM), UTF-16 by its BOM,
    else what charset-normalizer finds among the usual encodings; anything else is refused."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16"), "UTF-16"
        except UnicodeDecodeError:
            raise InvalidInput(f"{name} : fichier UTF-16 endommagé ; l'enregistrer en « CSV UTF-8 ».",
                               code="invalid-file") from None
    if b"\x00" in raw[:65536]:
        raise InvalidInput(f"{name} n'est pas un fichier texte CSV (octets binaires) : fichier .csv ou .xlsx attendu.",
                           code="invalid-file")
    try:
        return raw.decode("utf-8-sig"), "UTF-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(raw[:2_000_000], cp_isolation=[e for e in USUAL_ENCODINGS if not e.startswith("utf")]).best()
    label = USUAL_ENCODINGS.get(best.encoding) if best is not None else None
    if label is None:
        raise InvalidInput(f"{name} : encodage des caractères non reconnu ; l'enregistrer en « CSV UTF-8 » depuis le "
                           "tableur.", code="invalid-file")
    try:
        text = raw.decode(best.encoding)
    except UnicodeDecodeError:
        raise InvalidInput(f"{name} : encodage des caractères non reconnu ; l'enregistrer en « CSV UTF-8 » depuis le "
                           "tableur.", code="invalid-file") from None
    if any(unicodedata.category(c) == "Cc" and c not in "\t\r\n" for c in text[:200_000]):
        raise InvalidInput(f"{name} : caractères de contrôle dans le texte (encodage {label} ?) ; l'enregistrer en "
                           "« CSV UTF-8 ».", code="invalid-file")
    return text, label


def sniff_delimiter(text: str, name: str) -> str | None:
    """The delimiter that cuts the header and the first rows into the same number of fields (≥ 2),
    the most fields on a tie; None for a one-column file (a header without any delimiter)."""
    sample = text[:200_000]
    best, best_key = None, (0.0, 0)
    for d in DELIMITERS:
        rows = []
        try:
            for r in csv.reader(io.StringIO(sample, newline=""), delimiter=d):
                if any(c.strip() for c in r):
                    rows.append(r)
                if len(rows) > 200:
                    break
        except csv.Error:
            continue
        if len(rows) > 2 and len(sample) < len(text):
            rows = rows[:-1]  # the sample may cut the last row
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        same = sum(1 for r in rows[1:] if len(r) == width or (len(r) > width and not any(c.strip() for c in r[width:])))
        key = ((same / (len(rows) - 1)) if len(rows) > 1 else 1.0, width)
        if key > best_key:
            best, best_key = d, key
    if best is not None and best_key[0] >= 0.9:
        return best
    if best is None and not any(d in text.split("\n", 1)[0] for d in DELIMITERS):
        return None
    raise InvalidInput(f"{name} : séparateur de colonnes non reconnu (les lignes n'ont pas le même nombre de "
                       "colonnes avec « ; », « , », la tabulation ou « | ») ; enregistrer le fichier en CSV avec "
                       "des points-virgules, ou en .xlsx.", code="invalid-file")


def _open_csv(path: Path, name: str) -> SourceFile:
    raw = path.read_bytes()
    if not raw.strip():
        raise InvalidInput(f"Fichier {name} vide.", code="invalid-file")
    text, encoding = decode(raw, name)
    del raw
    if not text.strip():
        raise InvalidInput(f"Fichier {name} vide.", code="invalid-file")
    delimiter = sniff_delimiter(text, name)
    rows = _csv_data(text, delimiter, with_header=True)
    try:
        _line, header = next(rows)
    except StopIteration:
        raise InvalidInput(f"Fichier {name} vide.", code="invalid-file") from None
    header = _header(header, name)
    count = 0
    for line, values in rows:
        if len(values) > len(header) and any(v for v in values[len(header):]):
            raise InvalidInput(f"{name}, ligne {line} : {len(values)} valeurs pour {len(header)} colonnes (séparateur "
                               "dans une valeur sans guillemets ?) ; rien n'a été traité.", code="invalid-file")
        count += 1
    return SourceFile(path, name, "csv", header, count, encoding=encoding, delimiter=delimiter, _text=text)


def _csv_data(text: str, delimiter: str | None, *, with_header: bool = False):
    """(line, values) of the non-blank rows (the header first when asked), values stripped."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter or "\x1f", strict=False)
    first = True
    line = 1
    try:
        for values in reader:
            start = line
            line = reader.line_num + 1
            if not any(v.strip() for v in values):
                continue
            if first:
                first = False
                if not with_header:
                    continue
            yield start, [v.strip() for v in values]
    except csv.Error:
        raise InvalidInput(f"Ligne {line} illisible (guillemets non fermés ?) ; rien n'a été traité.",
                           code="invalid-file") from None


# --------------------------------------------------------------------------------------------- XLSX


_BROKEN_XLSX = "classeur illisible (fichier endommagé, protégé par mot de passe, ou pas au format .xlsx) ; " \
               "l'ouvrir dans le tableur et l'enregistrer de nouveau en .xlsx, ou en CSV."


def _workbook(path: Path, name: str):
    import openpyxl

    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 — zip, XML or openpyxl errors: all mean the file cannot be read
        raise InvalidInput(f"{name} : {_BROKEN_XLSX}", code="invalid-file") from None


def _open_xlsx(path: Path, name: str) -> SourceFile:
    wb = _workbook(path, name)
    try:
        sheet, header, count = None, None, 0
        for ws in wb.worksheets:
            rows = _sheet_rows(ws)
            try:
                for _line, values in rows:
                    if header is None:
                        header = values
                    else:
                        count += 1
            except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError):
                raise InvalidInput(f"{name} : {_BROKEN_XLSX}", code="invalid-file") from None
            if header is not None:
                sheet = ws.title
                break
    except InvalidInput:
        raise
    except Exception:  # noqa: BLE001 — a broken sheet inside a valid zip
        raise InvalidInput(f"{name} : {_BROKEN_XLSX}", code="invalid-file") from None
    finally:
        wb.close()
    if header is None:
        raise InvalidInput(f"Classeur {name} vide (aucune feuille ne contient de données).", code="invalid-file")
    header = _header(header, name)
    return SourceFile(path, name, "xlsx", header, count, sheet=sheet)


def _sheet_rows(ws):
    for row in ws.iter_rows(values_only=False):
        values = [_cell_text(c.value) for c in row]
        while values and values[-1] == "":
            values.pop()
        if values:
            yield row[0].row, values


def _xlsx_data(path: Path, sheet: str):
    wb = _workbook(path, path.name)
    try:
        rows = _sheet_rows(wb[sheet])
        next(rows, None)  # the header
        yield from rows
    finally:
        wb.close()


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.strftime("%d/%m/%Y") if value.time() == dt.time() else value.strftime("%d/%m/%Y %H:%M")
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    return str(value).strip()


# --------------------------------------------------------------------------------------------- helpers


def _header(values: list[str], name: str) -> list[str]:
    header = [v.strip().lstrip("\ufeff") for v in values]
    if not any(header):
        raise InvalidInput(f"{name} : en-tête vide (la première ligne doit nommer les colonnes).", code="invalid-file")
    seen: dict[str, int] = {}
    out = []
    for i, h in enumerate(header):
        h = h or f"Colonne {i + 1}"
        if h in seen:  # two columns of one name: told apart, the person chooses
            seen[h] += 1
            h = f"{h} ({seen[h]})"
        else:
            seen[h] = 1
        out.append(h)
    return out


def _postcode(value: str) -> str:
    """A postal code a spreadsheet turned into a number (1400 → 01400)."""
    value = value.strip()
    return value.zfill(5) if value.isdigit() and len(value) == 4 else value


def _short(value, limit: int = 40) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _list(header: list[str]) -> str:
    shown = ", ".join(f"« {_short(h)} »" for h in header[:20])
    from app.french import plural

    return shown + (f" et {plural(len(header) - 20, 'autre', 'autres')}" if len(header) > 20 else "")


def with_columns(columns: Columns, **changes) -> Columns:
    return replace(columns, **changes)
