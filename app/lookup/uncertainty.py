"""Uncertainty: when the position is not known exactly (a street, a commune, a point near a
boundary), the territorial answers that could differ at the real address are flagged "à confirmer"
with the alternatives."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import dialects
from app.french import plural
from app.lookup.answer import restriction
from app.lookup.cache import Reference, cached_shapes, load_partners
from app.lookup.facts import Candidates, KindInfo
from app.lookup.options import Options
from app.lookup.rules import Defaults, select_kinds
from app.models import CoverageArea


@dataclass(frozen=True)
class Uncertainty:
    """Where the true position may lie when it is not known exactly (a whole street, a commune, or
    a short distance around the point), and why. Territorial answers that could differ somewhere
    in `region` are flagged "à confirmer" with the alternatives."""

    region: object  # shapely geometry, WGS84
    code: str  # approximate-match | near-boundary
    message: str
    # "commune": the region is a commune's contour, whose neighbours' areas share its outline (and
    # overlap it by the slivers of simplified contours); "local": a disc or a street, small.
    scope: str = "local"

# A partner's area counts in an uncertainty region when it covers more than this of it
# (docs/eligibility.md): a share of a commune, or a few square metres of a disc or a street.
COMMUNE_SHARE_TOLERANCE = 0.005

LOCAL_TOLERANCE_M2 = 1.0


def _tolerance_deg2(uncertainty: Uncertainty) -> float:
    region = uncertainty.region
    lat = region.centroid.y
    m2_per_deg2 = 111_320.0 * math.cos(math.radians(lat)) * 110_574.0
    floor = LOCAL_TOLERANCE_M2 / m2_per_deg2
    if uncertainty.scope == "commune":
        return max(COMMUNE_SHARE_TOLERANCE * region.area, floor)
    return floor


def flag_uncertain(session: Session, ref: Reference, kinds: list[KindInfo], cand: Candidates, options: Options,
                   answer: dict, uncertainty: Uncertainty) -> None:
    """Compare the answer at the point with the partners whose coverage meets the uncertainty
    region: a partner that covers part of the region but not the point is an alternative; a
    partner that covers the point but not the whole region may not cover the real address."""
    minx, miny, maxx, maxy = uncertainty.region.bounds
    rows = session.execute(select(CoverageArea.id, CoverageArea.partner_id).where(
        dialects.box_meets(CoverageArea.geom, minx, miny, maxx, maxy))).all()
    shapes = cached_shapes(session, ref, CoverageArea, [i for i, _ in rows])
    _flag(session, ref, kinds, cand, options, answer, uncertainty, [(shapes.get(i), pid) for i, pid in rows])


def flag_uncertain_many(session: Session, ref: Reference, kinds: list[KindInfo], cands: list[Candidates],
                        options: Options, answers: list[dict], uncertainties: list) -> None:
    """flag_uncertain for many answers at once (None: no uncertainty): the coverage areas meeting
    any region are read in one query and joined with an STRtree on their envelopes — the areas each
    region meets are then tested exactly as one flag_uncertain does, so the flags are the same."""
    present = [(i, u) for i, u in enumerate(uncertainties) if u is not None]
    if not present:
        return
    bounds = np.array([u.region.bounds for _, u in present])
    box = (float(bounds[:, 0].min()), float(bounds[:, 1].min()), float(bounds[:, 2].max()), float(bounds[:, 3].max()))
    rows = session.execute(select(CoverageArea.id, CoverageArea.partner_id).where(
        dialects.box_meets(CoverageArea.geom, *box))).all()
    shapes = cached_shapes(session, ref, CoverageArea, [i for i, _ in rows])
    items = [(shapes.get(i), pid) for i, pid in rows if shapes.get(i) is not None]
    tree = shapely.STRtree([shape for shape, _ in items]) if items else None
    for i, uncertainty in present:
        hits = tree.query(uncertainty.region).tolist() if tree is not None else []
        _flag(session, ref, kinds, cands[i], options, answers[i], uncertainty, [items[h] for h in sorted(hits)])


def _overlap(shape, region) -> float:
    """The area of shape ∩ region: clipped to the region's box first (fast on a large union); the
    clip may leave an invalid ring (GEOS "TopologyException: Ring edge missing" on a synthetic
    sector union near Bondy), then the exact intersection of the whole shape is computed."""
    try:
        return shapely.clip_by_rect(shape, *region.bounds).intersection(region).area
    except shapely.errors.GEOSException:
        return shape.intersection(region).area


def _flag(session: Session, ref: Reference, kinds: list[KindInfo], cand: Candidates, options: Options,
          answer: dict, uncertainty: Uncertainty, areas: list) -> None:
    """The flags, given the (shape, partner id) of the coverage areas whose box meets the region."""
    region = uncertainty.region
    shapely.prepare(region)
    tolerance = _tolerance_deg2(uncertainty)
    touching, partial = set(), set()
    for shape, partner_id in areas:
        if shape is None or not shape.intersects(region):
            continue
        if shape.covers(region):
            touching.add(partner_id)
            continue
        overlap = _overlap(shape, region)
        if overlap > tolerance:  # more than a shared outline or a sliver
            touching.add(partner_id)
            if region.area - overlap > tolerance:
                partial.add(partner_id)
    territorial = [k for k in kinds if k.mode == "territorial"]
    partners = load_partners(session, touching, ref)
    in_region = {sel.kind.code: sel for sel in select_kinds(Candidates(cand.units, touching, []), territorial, partners,
                                                        options, Defaults(territorial, options, ref.serves_age))}
    flagged = 0
    for entry in answer["kinds"]:
        sel = in_region.get(entry["kind"])
        entry["to_confirm"] = None
        if entry["mode"] != "territorial" or sel is None:
            continue
        at_point = {p["partner"]["id"] for p in entry["partners"]}
        alternatives = [p for p, _ in sel.entries if p.id not in at_point]
        may_stop = sorted(pid for pid in at_point if pid in partial)
        if alternatives or may_stop:
            flagged += 1
            entry["to_confirm"] = {
                "reason": uncertainty.code,
                "message": f"À confirmer : {uncertainty.message}",
                "alternatives": [{"partner": p.card, "restriction": restriction(p, options)} for p in alternatives],
                "may_not_cover": may_stop,
            }
    answer["confidence"] = {"status": "to_confirm" if flagged else "sure", "reason": uncertainty.code if flagged else None,
                            "message": uncertainty.message if flagged else None, "kinds_to_confirm": flagged}
    if flagged:
        answer["warnings"].append({"code": uncertainty.code,
                                   "message": f"{plural(flagged, 'réponse', 'réponses')} à confirmer : "
                                              f"{uncertainty.message}"})
