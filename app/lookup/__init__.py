"""The lookup: "Qui couvre ce point ?" — one package, no Flask.

For a WGS84 point, an optional date and filters (age band, landlord, housing type), it answers per
kind of partner:
- territorial kinds: the partners whose compiled coverage contains the point, each with the part
  that matched ("arrondissement:75113", "zone délimitée …"), or an explicit
  "aucune couverture" entry with what to do instead;
- proximity kinds: sites within a radius, nearest first.

Single points use one indexed statement (`candidates.point_statement`), coverage areas refined on cached
shapes (`candidates.at_point`); batches fetch the candidate shapes of the batch's extent once and
join in memory with shapely's STRtree (`candidates.for_points`). Both feed the same
`rules.select_kinds`, so both forms give identical answers (tested).

The package, by job: options.py (the filters), facts.py (the read model), cache.py (reference data
per engine and data version), candidates.py (the queries), rules.py (selection), answer.py
(rendering), uncertainty.py ("à confirmer"), address.py (geocode, then answer).
"""

from __future__ import annotations

import contextlib
import gc
import numbers

import numpy as np
from sqlalchemy.orm import Session

from app import territories
from app.errors import InvalidInput
from app.geometry import check_lon_lat
from app.lookup.answer import assemble, assemble_compact
from app.lookup.cache import defaults_for, load_partners, names_for, reference
from app.lookup.candidates import at_point, for_points
from app.lookup.options import Options, parse_options
from app.lookup.uncertainty import Uncertainty, flag_uncertain, flag_uncertain_many

__all__ = ["Options", "Uncertainty", "lookup", "lookup_many", "parse_options"]


def lookup(session: Session, lon, lat, options: Options, uncertainty: Uncertainty | None = None) -> dict:
    """Answer for one point (index-assisted SQL on either backend)."""
    lon, lat = check_lon_lat(lon, lat)
    ref, kinds, defaults, cand = at_point(session, lon, lat, options)
    ids = cand.covering | {pid for pid, _ in cand.nearby}
    partners = load_partners(session, ids, ref)
    names_for(session, [cand.units], ref)
    answer = assemble(lon, lat, cand, kinds, partners, ref, options, defaults)
    if uncertainty is not None:
        flag_uncertain(session, ref, kinds, cand, options, answer, uncertainty)
    return answer


def lookup_many(session: Session, points, options: Options, *, compact: bool = False,
                uncertainties: list[Uncertainty | None] | None = None) -> dict:
    """Answer for many points at once. `points`: iterable of (lon, lat).

    Full form: {"results": [answer, …]} with the same answers `lookup` gives — with
    `uncertainties` (one per point, or None), the same as `lookup(…, uncertainty=…)` (an address
    file's rows: app/annotate).
    Compact form (for large batches and exports): each result lists partner ids per kind with the
    matched part, and partner cards are given once in "partners".
    """
    coords = []
    for i, pt in enumerate(points):
        if (isinstance(pt, (str, bytes, dict)) or not hasattr(pt, "__len__") or len(pt) != 2
                or not all(isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) for v in pt)):
            # JSON true is not 1 and "2.48" is not a number: a point is two JSON numbers
            raise InvalidInput(f"Point n° {i + 1} : paire [lon, lat] de deux nombres attendue.",
                               code="invalid-coordinates", field=f"points[{i}]")
        lon, lat = pt
        try:
            coords.append(check_lon_lat(lon, lat, field=f"points[{i}]"))
        except InvalidInput as exc:
            exc.message = f"Point n° {i + 1} : {exc.message}"
            raise
    if not coords:
        return {"results": [], "partners": {}} if compact else {"results": []}
    array = np.array(coords, dtype=float)
    ref = reference(session)
    kinds, defaults = defaults_for(ref, options)
    with _gc_paused():
        cands = for_points(session, array, kinds, options)
        ids = set()
        for c in cands:
            ids |= c.covering
            ids |= {pid for pid, _ in c.nearby}
        partners = load_partners(session, ids, ref)
        names_for(session, [c.units for c in cands], ref)
        out = _answer_all(coords, cands, kinds, defaults, partners, ref, options, compact)
        if uncertainties is not None and not compact:
            flag_uncertain_many(session, ref, kinds, cands, options, out["results"], uncertainties)
        return out


@contextlib.contextmanager
def _gc_paused():
    """A batch builds millions of small dicts and lists, all kept until the answer is sent and
    none in a reference cycle (freed by reference counting). The cyclic collector, triggered by
    those allocations, kept re-scanning them and the caches: 40 % of a 100,000-point batch.
    Paused while a batch is answered (process-wide, so only that long; cycles made meanwhile are
    collected once it is back on)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _answer_all(coords, cands, kinds, defaults, partners, ref, options, compact) -> dict:
    results = []
    cards: dict[int, dict] = {}
    codes_by_units: dict[tuple, dict] = {}  # many points share a commune: derive its codes once
    for (lon, lat), cand in zip(coords, cands):
        if compact:
            key = tuple(map(id, cand.units))
            codes = codes_by_units.get(key)
            if codes is None:
                codes = codes_by_units[key] = territories.codes_at_point(cand.units)
            results.append(assemble_compact(lon, lat, cand, kinds, partners, codes, options, cards, defaults,
                                             ref.inventory_for(cand.units, codes)))
        else:
            results.append(assemble(lon, lat, cand, kinds, partners, ref, options, defaults))
    if compact:
        return {"results": results, "partners": cards}
    return {"results": results}
