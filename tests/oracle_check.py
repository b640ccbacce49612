"""Runs scenarios through the real lookup and compares its answers with the oracle's.

Loads a scenario's records with app.partners.registry.upsert_partner in a savepoint (rolled back after),
asks `lookup`, `lookup_many` and `lookup_many(compact=True)` for every point and request, and
names the rule of docs/eligibility.md behind each difference, with what reproduces it.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func, select

from tests.oracle import FILTERS, Expected, KindExpected, Partner, Reference, Request, expected, state_at
from tests.oracle_scenarios import Scenario, ScenarioPoint

FORMS = ("lookup", "lookup_many", "compact")
NOT_RESERVED = "restriction: null"
ABSENT = "<no applies key>"


@dataclass
class GotKind:
    status: str
    partners: list[int]
    upcoming: set[int] | None = None  # None: the form does not carry it (compact)
    unavailable: set[int] | None = None
    filtered_out: int | None = None
    restriction: dict[int, object] | None = None
    distance: dict[int, object] | None = None


def got_full(answer: dict) -> tuple[list[str], dict[str, GotKind]]:
    kinds = {}
    for k in answer["kinds"]:
        restriction, distance = {}, {}
        for e in k["partners"]:
            pid, r = e["partner"]["id"], e.get("restriction")
            restriction[pid] = NOT_RESERVED if r is None else r.get("applies", ABSENT)
            distance[pid] = e.get("distance_m")
        kinds[k["kind"]] = GotKind(
            status=k["status"], partners=[e["partner"]["id"] for e in k["partners"]],
            upcoming={e["partner"]["id"] for e in k["upcoming"]},
            unavailable={e["partner"]["id"] for e in k["unavailable"]},
            filtered_out=k["filtered_out"], restriction=restriction,
            distance=distance if k["mode"] == "proximity" else None)
    return [k["kind"] for k in answer["kinds"]], kinds


def got_compact(result: dict) -> tuple[list[str], dict[str, GotKind]]:
    kinds = {code: GotKind(status=k["status"], partners=[e["id"] for e in k["partners"]])
             for code, k in result["kinds"].items()}
    return list(result["kinds"]), kinds


@dataclass
class Mismatch:
    rule: str
    kind: str | None
    detail: str


def _real_place(pid: int, got: GotKind) -> str:
    if pid in got.partners:
        return "partners"
    if got.upcoming is not None and pid in got.upcoming:
        return "upcoming"
    if got.unavailable is not None and pid in got.unavailable:
        return "unavailable"
    return "absent"


def _oracle_place(placement: str, got: GotKind) -> str:
    if placement in ("upcoming", "unavailable") and got.upcoming is None:
        return "absent"  # the compact form lists `partners` only
    return placement if placement in ("partners", "upcoming", "unavailable") else "absent"


def _placement_rule(p: Partner, kind, oracle: str, real: str, req: Request, got: GotKind,
                    distance: float | None = None, radius: float | None = None) -> str:
    """The rule of the page most likely behind one partner placed differently."""
    if oracle == "not_candidate":
        return "candidacy (area)" if kind.mode == "territorial" else "candidacy (distance)"
    if oracle in FILTERS:
        if oracle == "age" and p.age_band != kind.age_band:
            return "age: the partner's own band"
        return f"filter: {oracle}"
    if oracle == "closed":
        return "state at date"
    if oracle == "beyond_limit":
        return "proximity limit"
    if real == "absent":
        if kind.mode == "proximity" and distance is not None and distance > 0.99 * radius:
            return "candidacy (distance)"
        if req.age is not None and p.age_band != kind.age_band and kind.age_band not in (req.age, "tous"):
            return "age: the partner's own band"
        if req.landlord is not None and p.landlords:
            return "landlord: the tenant's own landlord"
        if kind.mode == "proximity" and oracle == "partners" and len(got.partners) >= req.proximity_limit:
            return "proximity limit"
        if state_at(p, req.as_of) != p.status:
            return "state at date"
        return "candidacy (area)" if kind.mode == "territorial" else "candidacy (distance)"
    return "state at date"


def _describe(p: Partner) -> str:
    facts = [p.ref, repr(p.name), f"#{p.id}", f"age_band={p.age_band}", p.status]
    if p.valid_from or p.valid_to:
        facts.append(f"valid {p.valid_from or '…'}→{p.valid_to or '…'}")
    if p.housing_types:
        facts.append("housing=" + "|".join(sorted(p.housing_types)))
    if p.landlords:
        facts.append("reserved=" + "|".join(sorted(p.landlords)))
    if p.include or p.exclude or p.polygons:
        facts.append(f"include={list(p.include)} exclude={list(p.exclude)} polygons={[m for m, _ in p.polygons]}")
    return " ".join(str(f) for f in facts)


def compare_kind(exp: KindExpected, got: GotKind, ref: Reference, partners: dict[int, Partner],
                 req: Request) -> list[Mismatch]:
    kind = ref.kind[exp.kind]
    out = []
    ids = lambda xs: [partners[i].ref if i in partners else f"#{i}" for i in xs]  # noqa: E731
    placed_wrong = False
    for pid in sorted(set(exp.placement) | set(got.partners) | (got.upcoming or set()) | (got.unavailable or set())):
        p = partners.get(pid)
        if p is None:
            out.append(Mismatch("unknown partner", exp.kind, f"#{pid} is not a partner of this scenario"))
            continue
        oracle = exp.placement.get(pid, "not_candidate")
        real = _real_place(pid, got)
        if _oracle_place(oracle, got) != real:
            placed_wrong = True
            extra = f", {exp.distance[pid]:.2f} m from its nearest site" if pid in exp.distance else ""
            rule = _placement_rule(p, kind, oracle, real, req, got, exp.distance.get(pid), exp.radius_m)
            out.append(Mismatch(rule, exp.kind, f"{_describe(p)}: oracle {oracle}{extra}, lookup {real}"))
    if not placed_wrong and exp.partners != got.partners:
        rule = ("proximity order" if kind.mode == "proximity"
                else "order with a landlord" if req.landlord else "order")
        out.append(Mismatch(rule, exp.kind, f"partners: oracle {ids(exp.partners)}, lookup {ids(got.partners)}"))
    if exp.status != got.status:
        statuses = {exp.status, got.status}
        rule = ("status: outside" if "outside" in statuses
                else "status: with a landlord" if req.landlord and statuses <= {"covered", "restricted"}
                else "status")
        out.append(Mismatch(rule, exp.kind, f"status: oracle {exp.status}, lookup {got.status}"
                            f" (partners: oracle {ids(exp.partners)}, lookup {ids(got.partners)})"))
    if got.filtered_out is not None and exp.filtered_out != got.filtered_out:
        why = Counter(v for v in exp.placement.values() if v in FILTERS)
        out.append(Mismatch("filtered_out", exp.kind,
                            f"filtered_out: oracle {exp.filtered_out} ({dict(why)}), lookup {got.filtered_out}"))
    if got.restriction is not None:
        for pid in set(exp.partners) & set(got.partners):
            want = exp.applies.get(pid, NOT_RESERVED)
            have = got.restriction[pid]
            if want != have:
                out.append(Mismatch("restriction.applies", exp.kind,
                                    f"{partners[pid].ref}: oracle {_show(want)}, lookup {_show(have)}"))
    if got.distance is not None:
        for pid in set(exp.partners) & set(got.partners):
            have = got.distance.get(pid)
            if have is None or abs(have - exp.distance[pid]) > 1:
                out.append(Mismatch("distance_m", exp.kind,
                                    f"{partners[pid].ref}: oracle {exp.distance[pid]:.2f} m, lookup {have}"))
    return out


def _show(value) -> str:
    return "null" if value is None else json.dumps(value) if isinstance(value, bool) else str(value)


def compare(exp: Expected, order: list[str], got: dict[str, GotKind], ref: Reference,
            partners: dict[int, Partner], req: Request) -> list[Mismatch]:
    out = []
    want = [k.kind for k in exp.kinds]
    presence_rule = "kind answered for an age" if req.age else "kinds selection"
    for code in want:
        if code not in got:
            out.append(Mismatch(presence_rule, code, "oracle answers this kind, the lookup leaves it out"))
    for code in order:
        if code not in want:
            out.append(Mismatch(presence_rule, code, "the lookup answers this kind, the oracle leaves it out"))
    common = [c for c in order if c in want]
    if common != [c for c in want if c in got]:
        out.append(Mismatch("kinds order", None, f"oracle {want}, lookup {order}"))
    for k in exp.kinds:
        if k.kind in got:
            out.extend(compare_kind(k, got[k.kind], ref, partners, req))
    return out


# ---------------------------------------------------------------------------------------------
# Running scenarios


@dataclass
class Failure:
    backend: str
    scenario: Scenario
    request: Request
    point: ScenarioPoint
    form: str
    mismatches: list[Mismatch]

    def message(self) -> str:
        s, p = self.scenario, self.point
        lines = [f"{s.name} backend={self.backend} form={self.form}",
                 f"  request {json.dumps(self.request.describe(), ensure_ascii=False)}",
                 f"  point ({p.lon}, {p.lat}) — {p.how}"]
        lines += [f"  [{m.rule}] {m.kind or ''}: {m.detail}" for m in self.mismatches]
        if s.label is None:
            lines.append(f"  rerun: .venv/bin/python bench/oracle_bench.py --seed {s.seed} --first {s.index} "
                         f"--count 1 --backends {self.backend} --show")
        return "\n".join(lines)


@dataclass
class Outcome:
    scenarios: int = 0
    points: int = 0  # scenario × request × point compared (settled by the page)
    unsettled: int = 0
    kinds: int = 0  # kind answers compared, over every form
    failures: list[Failure] = field(default_factory=list)
    by_rule: Counter = field(default_factory=Counter)  # rule -> kind answers (form × point × kind) showing it
    by_form: Counter = field(default_factory=Counter)  # (rule, form) -> the same, per form
    unsettled_why: list[str] = field(default_factory=list)
    exercised: Counter = field(default_factory=Counter)  # what the oracle's answers held: rules reached

    def add(self, other: Outcome) -> None:
        self.scenarios += other.scenarios
        self.points += other.points
        self.unsettled += other.unsettled
        self.kinds += other.kinds
        self.failures += other.failures
        self.by_rule.update(other.by_rule)
        self.by_form.update(other.by_form)
        self.unsettled_why += other.unsettled_why
        self.exercised.update(other.exercised)

    def report(self, limit: int = 1) -> str:
        """Counts by rule, then up to `limit` failures showing each rule (full reproductions)."""
        lines = [f"{self.scenarios} scenarios, {self.points} scenario×request×point compared "
                 f"({self.unsettled} unsettled skipped), {self.kinds} kind answers; "
                 f"{sum(self.by_rule.values())} wrong"]
        lines += [f"  {n:7d}  {rule} (" + ", ".join(f"{form} {self.by_form[rule, form]}" for form in FORMS) + ")"
                  for rule, n in self.by_rule.most_common()]
        lines.append("rules reached (kind answers of the oracle, once per point and request): " + ", ".join(
            f"{what} {n}" for what, n in sorted(self.exercised.items())))
        shown = Counter()
        for f in self.failures:
            rules = {m.rule for m in f.mismatches}
            if all(shown[r] >= limit for r in rules):
                continue
            shown.update(rules)
            lines.append(f.message())
        return "\n".join(lines)


def exercise(counter: Counter, exp: Expected, ref: Reference, partners: dict[int, Partner], req: Request,
             point: ScenarioPoint) -> None:
    answered = {k.kind for k in exp.kinds}
    if req.age:
        counter["kind left out for the age"] += sum(
            1 for k in ref.kinds if k.code not in answered and (req.kinds is None or k.code in req.kinds))
    for k in exp.kinds:
        counter[f"{k.mode} {k.status}"] += 1
        if not exp.inside and k.status in ("covered", "restricted"):
            counter["covered outside the reference"] += 1
        for pid, placed in k.placement.items():
            if placed != "not_candidate":
                counter[f"placed {placed}"] += 1
            if req.age and placed == "partners" and partners[pid].age_band != ref.kind[k.kind].age_band:
                counter["listed by its own age band"] += 1
        if req.landlord and any(partners[i].landlords for i in k.partners):
            counter["reserved partner listed with a landlord"] += 1
        for pid, d in k.distance.items():
            if abs(d - k.radius_m) < 30:
                counter[f"site 0-30 m {'inside' if d <= k.radius_m else 'outside'} the radius"] += 1
        for pid, placed in k.placement.items():
            p = partners[pid]
            if p.valid_from == req.as_of or p.valid_to == req.as_of:
                counter["as_of on a valid_from or valid_to"] += 1
            if placed == "not_candidate" and k.mode == "territorial" and (p.exclude or any(
                    m == "exclude" for m, _ in p.polygons)) and _in_included(p, ref, point):
                counter["point in an included part but excluded"] += 1
    for label, _d, inside in exp.edges:
        what = "an area" if label.startswith("the area") else "a unit"
        counter[f"point 0.5-6 m {'inside' if inside else 'outside'} {what}'s boundary"] += 1


def _in_included(p: Partner, ref: Reference, point: ScenarioPoint) -> bool:
    from shapely.geometry import Point

    pt = Point(point.lon, point.lat)
    return any(ref.part(c).covers(pt) for c in p.include) or any(
        g.covers(pt) for m, g in p.polygons if m == "include")


def options_for(session, req: Request):
    from app.lookup import parse_options

    return parse_options(session, as_of=req.as_of, age=req.age, landlord=req.landlord, housing=req.housing,
                         kinds=list(req.kinds) if req.kinds else None, radius=req.radius,
                         proximity_limit=req.proximity_limit, default_radius_m=req.default_radius_m)


def load_scenario(session, ref: Reference, scenario: Scenario) -> dict[int, Partner]:
    """Upserts the scenario's records (in the caller's transaction) and returns the oracle's view of
    them, by the ids the registry gave."""
    from app.models import Partner as PartnerRow
    from app.partners.registry import upsert_partner

    partners = {}
    for record in scenario.records:
        pid = upsert_partner(session, record).partner.id
        partners[pid] = Partner.from_record(pid, record, ref, scenario.areas.get(record["ref"]))
    session.flush()
    stored = session.scalar(select(func.count()).select_from(PartnerRow))
    # the age rule looks at the whole registry: it must hold this scenario's partners only
    assert stored == len(partners), f"{scenario.name}: the registry holds {stored} partners, expected {len(partners)}"
    return partners


def run_scenario(session, ref: Reference, scenario: Scenario, backend: str, forms=FORMS) -> Outcome:
    """Loads the scenario in a savepoint, compares every request × point, rolls back."""
    savepoint = session.begin_nested()
    try:
        return compare_loaded(session, ref, scenario, load_scenario(session, ref, scenario), backend, forms)
    finally:
        savepoint.rollback()


def compare_loaded(session, ref: Reference, scenario: Scenario, partners: dict[int, Partner], backend: str,
                   forms=FORMS) -> Outcome:
    from app.lookup import lookup, lookup_many

    outcome = Outcome(scenarios=1)
    listed = list(partners.values())
    coords = [(p.lon, p.lat) for p in scenario.points]
    for req in scenario.requests:
        options = options_for(session, req)
        full = lookup_many(session, coords, options)["results"] if "lookup_many" in forms else None
        compact = lookup_many(session, coords, options, compact=True)["results"] if "compact" in forms else None
        for i, point in enumerate(scenario.points):
            exp = expected(ref, listed, req, point.lon, point.lat)
            if exp.unsettled:
                outcome.unsettled += 1
                outcome.unsettled_why.append(exp.unsettled)
                continue
            outcome.points += 1
            exercise(outcome.exercised, exp, ref, partners, req, point)
            for form in forms:
                if form == "lookup":
                    order, got = got_full(lookup(session, point.lon, point.lat, options))
                elif form == "lookup_many":
                    order, got = got_full(full[i])
                else:
                    order, got = got_compact(compact[i])
                outcome.kinds += len(exp.kinds)
                mismatches = compare(exp, order, got, ref, partners, req)
                if mismatches:
                    outcome.failures.append(Failure(backend, scenario, req, point, form, mismatches))
                    # counted once per kind answer showing the rule
                    rules = [rule for rule, _ in {(m.rule, m.kind) for m in mismatches}]
                    outcome.by_rule.update(rules)
                    outcome.by_form.update((rule, form) for rule in rules)
    return outcome
