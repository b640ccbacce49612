"""data·inclusion interoperability: partners as structures and services of the official schema
(`data-inclusion-schema`, v1), and the kind ↔ réseau / thématique table both directions use.

Export: one structure (the organisation and its first site) and one service (what it offers:
thématiques, public, zone d'éligibilité, how to mobilise it) per partner in service today. Every
object is validated with the schema's own pydantic models before anything is written.

zone_eligibilite is a list of COG codes (commune, département, EPCI): a partner's typed codes map
onto it directly; a région becomes its départements; an IRIS widens to its commune; a coverage
with exclusions or drawn polygons becomes the communes whose representative point lies inside
the compiled area, or when there are none (a zone inside one town) the communes it lies in (the
schema cannot say "this commune except that street").
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import dialects
from app.config import PROJECT_ROOT
from app.errors import InvalidInput
from app.french import agree, plural
from app.models import Kind, Partner, Territory
from app.partners import cards, registry
from app.partners import referral as referral_module
from app.partners.availability import availability

MAPPING = PROJECT_ROOT / "geodata" / "data-inclusion-kinds.csv"
SOURCE = "maillage"


@dataclass(frozen=True)
class KindMapping:
    kind: str
    reseaux_porteurs: tuple[str, ...]
    thematiques: tuple[str, ...]
    publics: tuple[str, ...]
    importable: bool
    default_zone: str | None  # for an imported structure without zone: its "commune" or "departement"


@lru_cache(maxsize=4)
def mapping(path: Path = MAPPING) -> dict[str, KindMapping]:
    """kind → its réseaux porteurs / thématiques / publics; values are checked against the schema."""
    from data_inclusion.schema.v1 import Public, ReseauPorteur, Thematique

    known = {"reseaux_porteurs": {r.value for r in ReseauPorteur}, "thematiques": {t.value for t in Thematique},
             "publics": {p.value for p in Public}}
    out = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            values = {}
            for name in known:
                items = tuple(v.strip() for v in (row.get(name) or "").split("|") if v.strip())
                unknown = [v for v in items if v not in known[name]]
                if unknown:
                    raise InvalidInput(f"{path.name} ligne {line} : "
                                       f"{agree(len(unknown), 'valeur inconnue', 'valeurs inconnues')} du schéma "
                                       f"data·inclusion dans {name} : {', '.join(unknown)}")
                values[name] = items
            out[row["kind"]] = KindMapping(row["kind"], values["reseaux_porteurs"], values["thematiques"],
                                           values["publics"], (row.get("import") or "").strip() == "oui",
                                           (row.get("zone_par_defaut") or "").strip() or None)
    return out


def kind_for_reseaux(reseaux: list[str]) -> KindMapping | None:
    """The Maillage kind a data·inclusion structure belongs to, from its réseaux porteurs."""
    for m in mapping().values():
        if m.importable and set(m.reseaux_porteurs) & set(reseaux):
            return m
    return None


# --------------------------------------------------------------------------------------------- export


class ExportError(InvalidInput):
    code = "invalid-export"

    def __init__(self, problems: list[str]):
        super().__init__("Export data·inclusion refusé, objets non conformes au schéma : " + " ; ".join(problems[:20]))
        self.problems = problems


def export(session: Session, *, today: dt.date | None = None) -> tuple[list[dict], list[dict], list[str]]:
    """(structures, services, notes) for every partner in service today, validated. Raises
    ExportError listing every object the schema refuses (nothing is returned half-valid)."""
    from pydantic import ValidationError

    from data_inclusion.schema.v1 import Service, Structure

    today = today or dt.date.today()
    kinds = {k.code: k for k in session.scalars(select(Kind))}
    table = mapping()
    structures, services, problems, notes = [], [], [], []
    partners = session.scalars(select(Partner).options(*registry.STORED_OPTIONS).order_by(Partner.ref))
    for partner in partners:
        if availability(partner, today) != "active":
            continue
        record = cards.record_of(partner)
        kind_map = table.get(partner.kind_code)
        structure, service, note = _objects(session, partner, record, kinds[partner.kind_code], kind_map, today)
        if note:
            notes.append(note)
        for model, obj, what in ((Structure, structure, "structure"), (Service, service, "service")):
            try:
                validated = model.model_validate(obj)
            except ValidationError as exc:
                for err in exc.errors():
                    problems.append(f"{partner.ref} ({what}) · {'.'.join(str(x) for x in err['loc'])} : {err['msg']}")
                continue
            (structures if what == "structure" else services).append(_dump(validated))
    if problems:
        raise ExportError(problems)
    return structures, services, notes


def _dump(model) -> dict:
    out = model.model_dump(mode="json")
    for key, value in out.items():
        if isinstance(value, list):
            out[key] = sorted(value)  # schema sets: a stable order for stable files
    return out


def _objects(session: Session, partner: Partner, record: dict, kind: Kind, kind_map: KindMapping | None,
             today: dt.date) -> tuple[dict, dict, str | None]:
    sid = f"{SOURCE}--{partner.ref}"
    site = next((s for s in record["sites"] if s.get("lon") is not None), record["sites"][0] if record["sites"] else {})
    contact = record["contacts"][0] if record["contacts"] else {}
    phone = contact.get("phone") or site.get("phone")
    email = contact.get("email") or site.get("email")
    updated = partner.last_verified_at or partner.updated_at.date()
    date_maj = min(updated, today).isoformat()
    name = _name(partner.name)
    place = {
        "commune": site.get("city"), "code_postal": site.get("postcode"), "code_insee": site.get("code_insee"),
        "adresse": site.get("address") or None, "longitude": site.get("lon"), "latitude": site.get("lat"),
        "telephone": phone, "courriel": email,
    }
    structure = {
        "source": SOURCE, "id": sid, "nom": name, "date_maj": date_maj,
        "description": partner.description if len(partner.description or "") >= 5 else None,
        "siret": partner.siret, "site_web": partner.website,
        "horaires_accueil": None,
        "reseaux_porteurs": list(kind_map.reseaux_porteurs) if kind_map and kind_map.reseaux_porteurs else None,
        **place,
    }
    zone, note = zone_eligibilite(session, partner)
    referral = referral_module.to_data_inclusion(partner.referral, partner.how_to_refer)
    # without structured referral, the contacts say which channels work
    modes = referral["modes_mobilisation"] or [m for m, ok in (("telephoner", phone), ("envoyer-un-courriel", email)) if ok]
    service = {
        "source": SOURCE, "structure_id": sid, "id": f"{sid}--service", "nom": _name(f"{kind.short_label} — {partner.name}"),
        "description": (partner.description if len(partner.description or "") >= 5 else kind.description),
        "date_maj": date_maj,
        "thematiques": list(kind_map.thematiques) if kind_map and kind_map.thematiques else None,
        "publics": _publics(kind_map, kind, partner),
        "conditions_acces": _conditions(partner, kind),
        "mobilisation_precisions": referral["mobilisation_precisions"],
        "modes_mobilisation": modes or None,
        "mobilisable_par": referral["mobilisable_par"] or (["professionnels"] if partner.how_to_refer else None),
        "lien_mobilisation": referral["lien_mobilisation"],
        "modes_accueil": ["en-presentiel"] if any(s.get("lon") is not None for s in record["sites"]) else None,
        "zone_eligibilite": zone,
        **place,
    }
    return structure, service, note


def _publics(kind_map: KindMapping | None, kind: Kind, partner: Partner) -> list[str] | None:
    """The kind's publics, corrected by the partner's own age band, which wins over its kind's
    (docs/eligibility.md): an all-ages partner of a children's kind serves everyone, a children's
    partner of another kind serves young people. data·inclusion has no "adultes" public: an adult
    band is said in conditions_acces."""
    publics = list(kind_map.publics) if kind_map and kind_map.publics else []
    if partner.age_band == kind.age_band:
        return publics or None
    if partner.age_band == "enfant":
        publics = [p for p in publics if p != "tous-publics"] + ["jeunes"]
    elif kind.age_band == "enfant":  # an adult or all-ages partner of a children's kind
        publics = [p for p in publics if p not in ("jeunes", "familles")] or ["tous-publics"]
    return sorted(set(publics)) or None


# The age band in conditions_acces, in words the import reads back (importers/data_inclusion.py).
AGE_CONDITIONS = {"adulte": "Public : adultes (18 ans et plus).", "enfant": "Public : enfants et adolescents."}


def _conditions(partner: Partner, kind: Kind) -> str | None:
    parts = [AGE_CONDITIONS[partner.age_band]] if partner.age_band in AGE_CONDITIONS else []
    if partner.eligibility:
        parts.append(partner.eligibility)
    return " ".join(parts) or None


def age_from_conditions(text: str | None) -> tuple[str | None, str]:
    """(age band, the rest) of an exported conditions_acces."""
    for band, sentence in AGE_CONDITIONS.items():
        if text and text.startswith(sentence):
            return band, text[len(sentence):].strip()
    return None, text or ""


def _name(value: str) -> str:
    name = value.strip().rstrip(".")[:150].strip()
    return name if len(name) >= 3 else f"{name} (partenaire)"


def zone_eligibilite(session: Session, partner: Partner) -> tuple[list[str] | None, str | None]:
    includes = [p.code for p in partner.parts if p.code and p.mode == "include"]
    exact = all(p.code and p.mode == "include" for p in partner.parts)
    if not partner.parts:
        return None, None
    if exact:
        codes: list[str] = []
        note = None
        for typed in includes:
            level, code = typed.split(":", 1)
            if level == "region":
                codes.extend(sorted(set(session.scalars(
                    select(Territory.departement).where(Territory.level == "commune", Territory.region == code)))))
            elif level == "iris":
                codes.append(code[:5])
                note = f"{partner.ref} : IRIS élargis à leur commune (zone_eligibilite ne descend pas sous la commune)"
            else:
                codes.append(code)
        return sorted(set(codes)), note
    communes = communes_in_area(session, partner)
    note = (f"{partner.ref} : zone avec exclusions ou polygones exprimée par {plural(len(communes), 'commune', 'communes')} "
            "(celles dont le point représentatif est dans la zone, à défaut celles où elle se trouve)")
    return (communes or None), note


def communes_in_area(session: Session, partner: Partner) -> list[str]:
    from geoalchemy2.shape import to_shape
    from shapely import prepared, wkb

    if partner.area is None or partner.area.geom is None:
        return []
    area = to_shape(partner.area.geom)
    minx, miny, maxx, maxy = area.bounds
    fast = prepared.prep(area)
    inside, touching = [], []
    for code, geom in session.execute(select(Territory.code, func.ST_AsBinary(Territory.geom)).where(
            Territory.level == "commune", dialects.box_meets(Territory.geom, minx, miny, maxx, maxy))):
        shape = wkb.loads(bytes(geom))
        if fast.contains(shape.representative_point()):
            inside.append(code)
        elif fast.intersects(shape) and shape.intersection(area).area > 0.01 * area.area:
            touching.append(code)
    # A zone smaller than any commune (a sector drawn inside one town) holds no commune's point:
    # then the communes it lies in.
    return sorted(inside or touching)
