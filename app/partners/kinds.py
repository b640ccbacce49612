"""The partner-kind catalogue: geodata/kinds.csv loaded into the `kind` table."""

from __future__ import annotations

import csv
import functools
from pathlib import Path

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from app.config import PROJECT_ROOT
from app.errors import InvalidInput
from app.models import Kind, Partner, Site
from app.vocabulary import AGE_BANDS, KIND_MODES, KIND_THEME_LABELS, KIND_THEMES, OTHER_THEME


CATALOGUE = PROJECT_ROOT / "geodata" / "kinds.csv"
_BOOL = {"true": True, "false": False, "1": True, "0": False, "oui": True, "non": False}


def read_catalogue(path: Path = CATALOGUE) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8", newline="") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            try:
                if row["mode"] not in KIND_MODES:
                    raise ValueError(f"mode {row['mode']!r} (attendu {', '.join(KIND_MODES)})")
                if row["age_band"] not in AGE_BANDS:
                    raise ValueError(f"age_band {row['age_band']!r}")
                theme = (row.get("theme") or "").strip() or OTHER_THEME
                if theme not in KIND_THEMES:
                    raise ValueError(f"theme {theme!r} (attendu {', '.join(KIND_THEMES)})")
                priority = (row.get("priority") or "").strip()
                if priority and int(priority) <= 0:
                    raise ValueError(f"priority {priority!r} (rang, > 0 ou vide)")
                if row["radius_m"] and int(row["radius_m"]) <= 0:
                    raise ValueError(f"radius_m {row['radius_m']!r} (mètres, > 0 ou vide)")
                rows.append({
                    "code": row["code"].strip(),
                    "label": row["label"].strip(),
                    "short_label": row["short_label"].strip(),
                    "mode": row["mode"],
                    "age_band": row["age_band"],
                    "sort_order": int(row["sort_order"]),
                    "radius_m": int(row["radius_m"]) if row["radius_m"] else None,
                    "feminine": _BOOL[row["feminine"].lower()],
                    "is_housing": _BOOL[row["is_housing"].lower()],
                    "description": row["description"].strip(),
                    "if_none": row["if_none"].strip(),
                    "theme": theme,
                    "priority": int(priority) if priority else None,
                })
            except (KeyError, ValueError) as exc:
                raise InvalidInput(f"{path.name}, ligne {line} : valeur invalide {exc}") from exc
    return rows


# Columns of the catalogue that only say how the card presents a kind: read from the file at run time
# (card_layout), not stored.
PRESENTATION = ("theme", "priority")


@functools.lru_cache(maxsize=4)
def _presentation(path: Path) -> dict[str, tuple[str, int | None]]:
    return {row["code"]: (row["theme"], row["priority"]) for row in read_catalogue(path)}


def card_layout(kind_codes, path: Path = CATALOGUE) -> dict:
    """How the coverage card presents its kinds (geodata/kinds.csv, columns `theme` and `priority`):
    `priority`, the codes to contact first, by their rank (then the given order); `themes`, the others folded
    by theme in the card's order of themes, each {"code", "label", "kinds"}. A kind the file does not
    know (or gives no theme) falls in the last theme, "Autres partenaires"."""
    known = _presentation(path)
    priority, by_theme = [], {}
    for position, code in enumerate(kind_codes):
        theme, rank = known.get(code, (OTHER_THEME, None))
        if rank is not None:
            priority.append((rank, position, code))
        else:
            by_theme.setdefault(theme, []).append(code)
    themes = [{"code": t, "label": KIND_THEME_LABELS[t], "kinds": by_theme[t]} for t in KIND_THEMES if t in by_theme]
    return {"priority": [code for _, _, code in sorted(priority)], "themes": themes}


def load_catalogue(session: Session, path: Path = CATALOGUE) -> int:
    """Upsert the catalogue; returns the number of kinds created or changed."""
    changed = 0
    existing = {k.code: k for k in session.scalars(select(Kind))}
    for row in read_catalogue(path):
        row = {key: value for key, value in row.items() if key not in PRESENTATION}
        kind = existing.get(row["code"])
        if kind is None:
            session.add(Kind(**row))
            changed += 1
            continue
        for key, value in row.items():
            if getattr(kind, key) != value:
                setattr(kind, key, value)
                changed += 1
    session.flush()
    return changed


def all_kinds(session: Session) -> list[Kind]:
    return list(session.scalars(select(Kind).order_by(Kind.sort_order, Kind.code)))


def unknown_codes(session: Session, codes) -> list[str]:
    """The codes that name no kind of the catalogue, in their order (each caller says it its way)."""
    known = set(session.scalars(select(Kind.code)))
    return [code for code in codes if code not in known]


def get_kind(session: Session, code: str) -> Kind:
    kind = session.get(Kind, code)
    if kind is None:
        known = ", ".join(k.code for k in all_kinds(session))
        raise InvalidInput(f"Type de partenaire inconnu « {code} ». Types connus : {known}.",
                           code="unknown-kind", field="kind")
    return kind


def proximity_sites(*columns) -> Select:
    """`columns` of the sites of proximity kinds (housing, CMP, GEM…), each joined to its partner
    and the partner's kind; callers add where the sites are (app.dialects.box_meets on Site.geom)."""
    return (select(*columns).select_from(Site).join(Partner, Partner.id == Site.partner_id)
            .join(Kind, Kind.code == Partner.kind_code).where(Kind.mode == "proximity"))
