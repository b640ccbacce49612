"""Text files as sources send them: plain or gzipped, UTF-8 (with or without a byte-order mark);
an empty, binary or differently encoded file is refused with what it looks like."""

from __future__ import annotations

from pathlib import Path


def read_bytes(path: Path, *, what: str = "fichier texte CSV") -> bytes:
    """A text file's bytes, gunzipped when compressed; empty and binary files are refused."""
    import gzip

    from app.errors import InvalidInput

    if not path.exists():
        raise InvalidInput(f"Fichier introuvable : {path}")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise InvalidInput(f"{path.name} : archive gzip illisible ({exc}).") from exc
    if not raw.strip():
        raise InvalidInput(f"Fichier {path.name} vide.")
    if b"\x00" in raw[:4096]:
        raise InvalidInput(f"{path.name} n'est pas un {what} (octets binaires).")
    return raw


def read_text(path: Path, *, hint: str = "réenregistrer le fichier en UTF-8") -> str:
    """A CSV file's text: plain or gzipped, UTF-8 (with or without BOM); empty, binary or
    differently encoded files are refused with the line of the first bad byte."""
    from app.errors import InvalidInput

    raw = read_bytes(path)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InvalidInput(f"{path.name} n'est pas en UTF-8 (octet invalide ligne {line}) : {hint}.") from exc
