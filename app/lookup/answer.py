"""Rendering an answer: each kind's entry with its partners' cards, why each matches, how to
reach them, the inventory status and the competent CMP; and the compact form of batches."""

from __future__ import annotations

import datetime as dt
import functools

import shapely

from app import territories
from app.geometry import haversine_m
from app.lookup.cache import Reference
from app.lookup.facts import Candidates, KindInfo, PartnerFacts
from app.lookup.options import Options
from app.lookup.rules import OUTSIDE_MESSAGE, Defaults, applies, kind_answer, select_kinds
from app.partners import inventory
from app.vocabulary import (CUSTOM_POLYGON_LABEL, INVENTORY_LABELS, KIND_ANSWER_STATUSES, LEVEL_LABELS,
                            STATUS_LABELS)


def _matched_part(p: PartnerFacts, codes: dict, names: dict, lon: float, lat: float) -> dict:
    """The first of the partner's included parts (in its own order) that contains the point."""
    positions = [p.include_index[c] for c in codes if c in p.include_index]
    if positions:
        code = p.includes[min(positions)][0]
        level = code.split(":", 1)[0]
        return {"type": "territoire", "code": code, "level": level, "level_label": LEVEL_LABELS[level],
                "label": names.get(code, code)}
    for part_id, label, shape in p.polygons:
        if shapely.intersects_xy(shape, lon, lat):
            return {"type": "polygone", "code": None, "level": None, "level_label": CUSTOM_POLYGON_LABEL,
                    "label": f"{CUSTOM_POLYGON_LABEL} : {label}" if label else CUSTOM_POLYGON_LABEL}
    # On a boundary the compiled area and the units can disagree by a hair.
    return {"type": "zone", "code": None, "level": None, "level_label": "zone de couverture",
            "label": "zone de couverture (limite du territoire)"}


def restriction(p: PartnerFacts, options: Options) -> dict | None:
    if not p.landlords:
        return None
    names = ", ".join(r["name"] for r in p.card["reserved_to"])
    if options.landlord:
        own = next((r["name"] for r in p.card["reserved_to"] if r["code"] == options.landlord), names)
        return {"reserved_to": p.card["reserved_to"], "applies": True,
                "message": f"Réservé aux locataires de {own} — c'est le bailleur indiqué."}
    return {"reserved_to": p.card["reserved_to"], "applies": None,
            "message": f"Réservé aux locataires de {names} : ne s'applique que si le locataire est logé par "
                       + ("ce bailleur." if len(p.card["reserved_to"]) == 1 else "l'un de ces bailleurs.")}


def _state_entry(p: PartnerFacts, state: str, distance: float | None) -> dict:
    entry = {"partner": p.card, "state": state, "state_label": STATUS_LABELS.get(state, state)}
    if state == "planned" and p.valid_from:
        entry["message"] = f"Ouverture prévue le {p.valid_from.strftime('%d/%m/%Y')}."
    elif state == "planned":
        entry["message"] = "En projet, date d'ouverture non connue."
    elif state == "suspended":
        entry["message"] = "Activité suspendue : ne prend pas de nouvelles demandes."
    if distance is not None:
        entry["distance_m"] = round(distance)
    return entry


def _nearest_sites(p: PartnerFacts, lon: float, lat: float) -> list[dict]:
    out = []
    for slon, slat, site in p.sites:
        out.append({**site, "distance_m": round(haversine_m(lon, lat, slon, slat))})
    out.sort(key=lambda s: (s["distance_m"], s["name"]))
    return out


def assemble(lon: float, lat: float, cand: Candidates, kinds: list[KindInfo], partners: dict[int, PartnerFacts],
             ref: Reference, options: Options, defaults: Defaults) -> dict:
    names, dataset = ref.names, ref.dataset
    codes = territories.codes_at_point(cand.units)
    surveyed = ref.inventory_for(cand.units, codes)
    inside = bool(cand.units)
    warnings = []
    if not inside:
        warnings.append({"code": "outside-reference", "message": OUTSIDE_MESSAGE})
    if dataset == "demo":
        warnings.append({"code": "demo-data",
                         "message": "Base de démonstration : structures et contacts fictifs, ne pas utiliser pour orienter."})
    units_out = [
        {"code": f"{u.level}:{u.code}", "level": u.level, "level_label": LEVEL_LABELS[u.level], "name": u.name}
        for u in cand.units
    ]
    first = next((u for u in cand.units if u.level in ("commune", "arrondissement")), None)
    groups = {}
    if first:
        for level in ("departement", "region", "epci", "ept"):
            value = getattr(first, level)
            if value:
                code = f"{level}:{value}"
                groups[level] = {"code": code, "name": names.get(code, code)}
    answers = []
    sectors = []  # listed psychiatric sectors, for the competent CMP
    for sel in select_kinds(cand, kinds, partners, options, defaults):
        kind = sel.kind
        if sel.empty_answer is not None:
            entry = dict(sel.empty_answer)  # a copy: callers add keys
        else:
            if kind.mode == "territorial":
                partners_out = [{"partner": p.card, "matched_part": _matched_part(p, codes, names, lon, lat),
                                 "restriction": restriction(p, options), "sites": _nearest_sites(p, lon, lat)}
                                for p, _ in sel.entries]
            else:
                partners_out = [{"partner": p.card, "distance_m": round(d), "restriction": restriction(p, options),
                                 "sites": _nearest_sites(p, lon, lat)} for p, d in sel.entries]
            entry = {
                **kind_answer(kind, sel.status, sel.message, sel.radius_m),
                "partners": partners_out,
                "upcoming": [_state_entry(p, state, d) for p, state, d in sel.upcoming],
                "unavailable": [_state_entry(p, state, d) for p, state, d in sel.unavailable],
                "filtered_out": sel.filtered_out,
            }
            if kind.code in SECTOR_KINDS:
                sectors.extend((kind, item) for item in partners_out)
        found = surveyed.get(kind.code, inventory.UNKNOWN)
        entry["inventory"] = found
        if entry["status"] == "none":
            entry["message"] = _none_message(kind, found["status"], found["date"], sel.radius_m)
        answers.append(entry)
    competent = _competent_cmp(sectors)
    if competent:
        # "hors secteur" only when every sector kind that could serve the request was answered
        # (a `kinds` list may leave one out: then the CMPs not matched are left unmarked)
        answered = {a["kind"] for a in answers}
        complete = all(code in answered for code, band in SECTOR_KINDS.items() if options.age in (None, band))
        _mark_sector_cmp(answers, competent, complete)
    return {
        "point": {"lon": lon, "lat": lat},
        "as_of": options.as_of.isoformat(),
        "filters": {"age": options.age, "landlord": options.landlord, "housing": options.housing,
                    "kinds": list(options.kinds) if options.kinds else None, "radius_m": options.radius_m},
        "territory": {"status": "inside" if inside else "outside", "units": units_out, **groups},
        "kinds": answers,
        "competent_cmp": competent,
        "warnings": warnings,
        "dataset": dataset or "production",
    }


@functools.lru_cache(maxsize=4096)
def _none_message(kind: KindInfo, surveyed: str, date: str | None, radius_m: int | None) -> str:
    """What a kind with nothing here says: a real gap where the territory was inventoried for the
    kind, and plainly not a gap where it never was, or where nobody knows (docs/eligibility.md)."""
    article, e = ("Aucune", "e") if kind.feminine else ("Aucun", "")
    where = f"à moins de {_km(radius_m)}" if kind.mode == "proximity" else None
    if surveyed == "inventorie":
        when = f" (territoire inventorié le {dt.date.fromisoformat(date).strftime('%d/%m/%Y')})" if date else ""
        head = f"{article} {kind.short_label} {where}" if where else f"{article} {kind.short_label} ne couvre cette adresse"
        return head + when + "."
    if surveyed == "non_inventorie":
        return (f"{article} {kind.short_label} recensé{e}{' ' + where if where else ''} — ce territoire n'a pas été "
                "inventorié pour ce type.")
    return (f"{article} {kind.short_label} connu{e} {where or 'pour cette adresse'} — inventaire inconnu pour ce "
            "territoire.")


def _km(radius_m: int | None) -> str:
    return f"{radius_m / 1000:g} km".replace(".", ",") if radius_m else "proximité"

# Psychiatric sector kinds and the age band whose CMP they hold (docs/eligibility.md, "The competent CMP").
SECTOR_KINDS = {"secteur_psy_adulte": "adulte", "secteur_psy_infanto": "enfant"}

_SECTOR_CMP_LABELS = {"adulte": ("CMP du secteur de psychiatrie adulte", "CMP du secteur adulte"),
                      "enfant": ("CMP du secteur de psychiatrie infanto-juvénile", "CMP du secteur enfants")}

SAME_PLACE_M = 30  # a CMP partner within this distance of a sector's CMP site is that site


def _competent_cmp(sectors: list) -> list[dict]:
    """The CMP sites of the sectors listed at the point, adult before child, nearest first."""
    out = []
    for kind, item in sectors:
        band = SECTOR_KINDS[kind.code]
        p = item["partner"]
        for site in item["sites"]:
            if site.get("role") == "cmp":
                label, short_label = _SECTOR_CMP_LABELS[band]
                out.append({"age_band": band, "label": label, "short_label": short_label,
                            "sector": {"id": p["id"], "ref": p["ref"], "name": p["name"], "kind": kind.code},
                            "site": site})
    return out


def _mark_sector_cmp(answers: list[dict], competent: list[dict], complete: bool) -> None:
    """In the CMP kind, mark the partners that are a competent sector's CMP (same FINESS number,
    or the same place) and put them first; the others are "hors secteur"."""
    entry = next((a for a in answers if a["kind"] == "cmp"), None)
    if entry is None or not entry["partners"]:
        return
    rank = {}
    for item in entry["partners"]:
        if complete:
            item["in_sector"] = None
        p = item["partner"]
        numbers = {p.get("finess")} | {s.get("finess") for s in p["sites"]}
        for position, c in enumerate(competent):
            site = c["site"]
            same = (site.get("finess") and site["finess"] in numbers) or (
                site.get("lon") is not None and any(
                    s.get("lon") is not None and haversine_m(s["lon"], s["lat"], site["lon"], site["lat"]) <= SAME_PLACE_M
                    for s in p["sites"]))
            if same:
                item["in_sector"] = c["age_band"]
                rank[id(item)] = position
                break
    # the sector's CMP in the order of competent_cmp (adult, then child), then the others by distance
    entry["partners"].sort(key=lambda item: rank.get(id(item), len(competent)))


def _matched_code(p: PartnerFacts, codes: dict, lon: float, lat: float) -> str:
    """The compact form of _matched_part: the typed code, or the polygon's label."""
    positions = [p.include_index[c] for c in codes if c in p.include_index]
    if positions:
        return p.includes[min(positions)][0]
    part = _matched_part(p, {}, {}, lon, lat)
    return part["label"]


def assemble_compact(lon: float, lat: float, cand: Candidates, kinds: list[KindInfo],
                      partners: dict[int, PartnerFacts], codes: dict, options: Options,
                      cards: dict[int, dict], defaults: Defaults, surveyed: dict) -> dict:
    """The compact answer: partner ids per kind with the matched part; cards collected once.
    A kind with nothing here says whether its territory was inventoried."""
    out_kinds = {}
    for sel in select_kinds(cand, kinds, partners, options, defaults):
        if not sel.entries:
            survey = surveyed.get(sel.kind.code, inventory.UNKNOWN)["status"] if sel.status == "none" else None
            out_kinds[sel.kind.code] = _EMPTY_COMPACT[sel.status, survey]
            continue
        entries = []
        for p, distance in sel.entries:
            cards.setdefault(p.id, p.card)
            item = {"id": p.id}
            if sel.kind.mode == "territorial":
                item["matched_part"] = _matched_code(p, codes, lon, lat)
            else:
                item["distance_m"] = round(distance)
            if p.landlords:
                item["restricted"] = True
                item["applies"] = applies(p, options)
            entries.append(item)
        out_kinds[sel.kind.code] = {"status": sel.status, "partners": entries}
    return {"point": {"lon": lon, "lat": lat},
            "territory": {"status": "inside" if cand.units else "outside",
                          "units": [f"{u.level}:{u.code}" for u in cand.units]},
            "kinds": out_kinds}

# Shared by every point of a batch that has nothing for a kind (read only).
_EMPTY_COMPACT = {
    (status, survey): {"status": status, "partners": [], **({"inventory": survey} if survey else {})}
    for status in KIND_ANSWER_STATUSES
    for survey in (None, *INVENTORY_LABELS)
}
