"""Selection rules (docs/eligibility.md): for each kind, which candidate partners are listed at a
point, which are upcoming, suspended or filtered out, and the kind's status. Shared by the single
and the batch lookups, so both give the same answers."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

from app.lookup.facts import Candidates, KindInfo, PartnerFacts
from app.lookup.options import Options
from app.partners.availability import availability


OUTSIDE_MESSAGE = "Adresse hors du territoire de la base : le référentiel chargé ne contient pas ce point."


def kind_none_message(kind: KindInfo) -> str:
    article = "Aucune" if kind.feminine else "Aucun"
    return f"{article} {kind.short_label} ne couvre cette adresse."


def passes_filters(p: PartnerFacts, options: Options) -> str | None:
    """None if the partner fits the filters, else the reason it is left out. The partner's own age
    band counts, never its kind's default (docs/eligibility.md)."""
    if options.age and p.age_band not in (options.age, "tous"):
        return "age"
    if options.housing and p.housing_types and options.housing not in p.housing_types:
        return "housing"
    if options.landlord and p.landlords and options.landlord not in p.landlords:
        return "landlord"
    return None


def applies(p: PartnerFacts, options: Options) -> bool | None:
    """Whether a listed partner applies to the tenant: True when open to all or reserved to the
    landlord given, None (unknown) when reserved and no landlord was given."""
    if not p.landlords or options.landlord:
        return True  # a landlord given: passes_filters has left out the partners reserved to others
    return None


def _order_group(p: PartnerFacts, options: Options) -> int:
    """With a landlord, its own services first; without, the services open to all first."""
    if options.landlord:
        return 0 if p.landlords else 1
    return 1 if p.landlords else 0


@dataclass
class KindSelection:
    """Which partners of one kind answer for a point, before rendering."""

    kind: KindInfo
    status: str
    message: str | None
    radius_m: int | None
    entries: list  # [(PartnerFacts, distance_m | None)] in answer order
    upcoming: list  # [(PartnerFacts, state, distance_m | None)]
    unavailable: list
    filtered_out: int
    empty_answer: dict | None = None  # for a kind with nothing here: its answer entry, built once


def _empty_selection(kind: KindInfo, inside: bool, options: Options) -> KindSelection:
    """What most kinds answer at most points: nothing here (kept in Defaults, never modified)."""
    radius = None if kind.mode == "territorial" else options.radius_m or kind.radius_m or options.default_radius_m
    if kind.mode == "territorial":
        status, message = ("none", kind_none_message(kind)) if inside else ("outside", OUTSIDE_MESSAGE)
    else:
        article = "Aucune" if kind.feminine else "Aucun"
        status, message = "none", f"{article} {kind.short_label} à moins de {radius / 1000:g} km."
    return KindSelection(kind, status, message, radius, (), (), (), 0,
                         empty_answer=kind_answer(kind, status, message, radius))


class Defaults:
    """Per kinds list and options: each kind's position, and its empty selection inside and
    outside the reference (None where nothing of the kind could serve the requested age). Built
    once per set of options and kept with the reference data."""

    def __init__(self, kinds: list[KindInfo], options: Options, serves_age: Callable[[KindInfo, str | None], bool]):
        self.kinds, self.options = kinds, options
        self.position = {k.code: i for i, k in enumerate(kinds)}
        self.radius = max_radius(kinds, options)  # the widest proximity search
        # serves_age: the reference's Reference.serves_age
        self.answered = [serves_age(k, options.age) for k in kinds]
        self._empty: dict[bool, list] = {}

    def empty(self, inside: bool) -> list:
        found = self._empty.get(inside)
        if found is None:
            found = self._empty[inside] = [
                _empty_selection(k, inside, self.options) if answered else None
                for k, answered in zip(self.kinds, self.answered)]
        return found


def select_kinds(cand: Candidates, kinds: list[KindInfo], partners: dict[int, PartnerFacts], options: Options,
                 defaults: Defaults) -> list[KindSelection]:
    inside = bool(cand.units)
    by_kind_cover: dict[str, list[PartnerFacts]] = {}
    for pid in cand.covering:
        p = partners.get(pid)
        if p is not None:
            by_kind_cover.setdefault(p.kind, []).append(p)
    nearest: dict[int, float] = {}
    for pid, d in cand.nearby:
        if d < nearest.get(pid, float("inf")):
            nearest[pid] = d
    by_kind_near: dict[str, list[tuple[float, PartnerFacts]]] = {}
    for pid, d in nearest.items():
        p = partners.get(pid)
        if p is not None:
            by_kind_near.setdefault(p.kind, []).append((d, p))

    selections = list(defaults.empty(inside))  # most kinds, most points: nothing here
    for code in by_kind_cover.keys() | by_kind_near.keys():
        position = defaults.position.get(code)
        if position is None or selections[position] is None:
            continue  # a kind not asked for, or one nothing of which serves the requested age
        kind = kinds[position]
        entries, upcoming, unavailable, filtered_out = [], [], [], 0
        if kind.mode == "territorial":
            radius = None
            candidates = [(None, p) for p in by_kind_cover.get(kind.code, [])]
        else:
            radius = options.radius_m or kind.radius_m or options.default_radius_m
            candidates = sorted((x for x in by_kind_near.get(kind.code, []) if x[0] <= radius),
                                key=lambda x: (x[0], x[1].name, x[1].id))
        for distance, p in candidates:
            state = availability(p, options.as_of)
            if state == "closed":
                continue
            if passes_filters(p, options):
                filtered_out += 1
            elif state == "planned":
                upcoming.append((p, state, distance))
            elif state == "suspended":
                unavailable.append((p, state, distance))
            else:
                entries.append((p, distance))
        if kind.mode == "territorial":
            entries.sort(key=lambda e: (_order_group(e[0], options), e[0].name, e[0].id))
            if any(applies(p, options) is not None for p, _ in entries):
                status = "covered"
                message = None if len(entries) == 1 else f"{len(entries)} structures couvrent cette adresse (chevauchement)."
            elif entries:  # only services reserved to landlords, and the tenant's landlord not given
                status, message = "restricted", "Seulement des services réservés aux locataires de certains bailleurs."
            elif not inside:
                status, message = "outside", OUTSIDE_MESSAGE
            else:
                status, message = "none", kind_none_message(kind)
        else:
            entries = entries[: options.proximity_limit]
            article = "Aucune" if kind.feminine else "Aucun"
            status = "found" if entries else "none"
            message = None if entries else f"{article} {kind.short_label} à moins de {radius / 1000:g} km."
        selections[position] = KindSelection(kind, status, message, radius, entries, upcoming, unavailable, filtered_out)
    return [sel for sel in selections if sel is not None]


@functools.lru_cache(maxsize=4096)
def kind_answer(kind: KindInfo, status: str, message: str | None, radius_m: int | None) -> dict:
    """A kind's entry in the answer with no partner in it (shared: copied before use). Its empty
    lists are never filled in place: answers with partners get their own."""
    return {
        "kind": kind.code, "label": kind.label, "short_label": kind.short_label, "mode": kind.mode,
        "is_housing": kind.is_housing, "radius_m": radius_m, "status": status, "message": message,
        "if_none": kind.if_none if status in ("none", "outside", "restricted") else None,
        "partners": [], "upcoming": [], "unavailable": [], "filtered_out": 0,
    }


def max_radius(kinds: list[KindInfo], options: Options) -> int:
    radii = [options.radius_m or k.radius_m or options.default_radius_m for k in kinds if k.mode == "proximity"]
    return max(radii, default=0)
