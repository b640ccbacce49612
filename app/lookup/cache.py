"""What every lookup needs and rarely changes, cached per engine and keyed by the data version
(app/db.py): kinds, landlord names, partner facts, territory names, prepared coverage shapes,
inventory records and per-options defaults."""

from __future__ import annotations

import weakref
from collections import OrderedDict
from dataclasses import dataclass, field

import shapely
from shapely import wkb
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import db, dialects, territories
from app.lookup.facts import KindInfo, PartnerFacts, query_partners
from app.lookup.options import Options
from app.lookup.rules import Defaults
from app.models import Kind, Landlord, Partner, TerritoryGroup
from app.partners import inventory
from app.territories import UnitAtPoint


class LRU:
    """A mapping that keeps its `maxsize` most recently used entries. The read-side caches of a
    Reference fill with what requests meet (a date or a radius per request, the units of each point,
    the partners and coverage shapes near it): bounded, a long-running process keeps the ones in use."""

    def __init__(self, maxsize: int):
        self.maxsize = maxsize
        self._items: OrderedDict = OrderedDict()

    def get(self, key, default=None):
        try:
            value = self._items[key]
        except KeyError:
            return default
        self._items.move_to_end(key)
        return value

    def put(self, key, value) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        if len(self._items) > self.maxsize:
            self._items.popitem(last=False)

    def __contains__(self, key) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)


# Bounds of the per-Reference caches, well above what the nationwide benchmark holds (2,506 partners,
# 1,706 coverage areas, docs/PERFORMANCE.md), so a steady state never evicts there.
MAX_PARTNERS = 20_000  # partner facts with their cards (~2 KB each)
MAX_SHAPES = 4_096  # prepared coverage areas per table (a union of communes can weigh a megabyte)
MAX_OPTIONS = 256  # per-options defaults: a date or a radius per request
MAX_UNITS = 20_000  # inventory entries per set of units at a point


@dataclass
class Reference:
    """What every lookup needs and rarely changes: kinds, landlord names, the dataset flag, partner
    facts and territory names. Cached per engine and keyed by the data version (app.db), which
    changes with every committed write."""

    version: str | None
    kinds: list[KindInfo]
    landlord_names: dict[str, str]
    dataset: str | None
    partners: LRU = field(default_factory=lambda: LRU(MAX_PARTNERS))  # id -> PartnerFacts
    # typed code -> name: the reference's names (its units and groups), bounded by the reference itself
    names: dict[str, str] = field(default_factory=dict)
    shapes: dict[str, LRU] = field(default_factory=dict)  # table -> row id -> prepared geometry
    defaults: LRU = field(default_factory=lambda: LRU(MAX_OPTIONS))  # Options -> (kinds, Defaults)
    # Per kind, the age bands its partners serve (any status, anywhere): a kind is answered for an
    # age when its catalogue band or one of its partners' bands serves it (docs/eligibility.md).
    kind_ages: dict[str, frozenset] = field(default_factory=dict)
    # Inventory records: typed territory code -> kind -> Inventoried (app/partners/inventory.py)
    inventory: dict[str, dict] = field(default_factory=dict)
    inventory_at: LRU = field(default_factory=lambda: LRU(MAX_UNITS))  # units key -> kind -> inventory entry

    @classmethod
    def load(cls, session: Session, version: str | None) -> Reference:
        kinds = [
            KindInfo(k.code, k.label, k.short_label, k.mode, k.age_band, k.radius_m, k.if_none, k.feminine,
                     k.is_housing)
            for k in session.scalars(select(Kind).order_by(Kind.sort_order, Kind.code))
        ]
        ref = cls(version, kinds, dict(session.execute(select(Landlord.code, Landlord.name)).all()),
                  db.get_meta(session, "dataset"))
        # Département, région and EPCI names: a few hundred rows, needed by almost every answer.
        ref.names.update({f"{level}:{code}": name for level, code, name in session.execute(
            select(TerritoryGroup.level, TerritoryGroup.code, TerritoryGroup.name))})
        ages: dict[str, set] = {}
        for kind_code, age_band in session.execute(select(Partner.kind_code, Partner.age_band).distinct()):
            ages.setdefault(kind_code, set()).add(age_band)
        ref.kind_ages = {code: frozenset(bands) for code, bands in ages.items()}
        ref.inventory = inventory.records(session)
        return ref

    def serves_age(self, kind: KindInfo, age: str | None) -> bool:
        """Whether anything of this kind could serve this age (else the kind is left out)."""
        if age is None or kind.age_band in (age, "tous"):
            return True
        return bool(self.kind_ages.get(kind.code, frozenset()) & {age, "tous"})

    def inventory_for(self, units: list[UnitAtPoint], codes: dict | None = None) -> dict:
        """Per kind code, the inventory entry at a point (most specific record), cached per units."""
        key = tuple((u.level, u.code) for u in units)
        found = self.inventory_at.get(key)
        if found is None:
            if codes is None:
                codes = territories.codes_at_point(units)
            found = inventory.at_units(self.inventory, codes, self.names)
            self.inventory_at.put(key, found)
        return found

REFERENCES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

_UNSET = object()


def reference(session: Session, version=_UNSET) -> Reference:
    if version is _UNSET:
        version = db.data_version(session)
    return db.cached_for_version(REFERENCES, session, version, lambda: Reference.load(session, version))


def load_partners(session: Session, ids: set[int], ref: Reference) -> dict[int, PartnerFacts]:
    """Facts for the given partners: from the reference cache, loading the missing ones."""
    found, missing = {}, []
    for i in ids:
        facts = ref.partners.get(i)
        if facts is None:
            missing.append(i)
        else:
            found[i] = facts
    if missing:
        loaded = query_partners(session, set(missing), ref.landlord_names)
        for i, facts in loaded.items():
            ref.partners.put(i, facts)
        found.update(loaded)
    return found


def cached_shapes(session: Session, ref: Reference, model, ids: list[int]) -> dict[int, object]:
    """Prepared shapes of a geometry table's rows (a model with `id` and `geom`), from the reference
    cache or loaded in one query per PARAMETER_LIMIT rows. Rows without a geometry map to None."""
    cache = ref.shapes.get(model.__tablename__)
    if cache is None:
        cache = ref.shapes[model.__tablename__] = LRU(MAX_SHAPES)
    found, missing = {}, []
    for i in ids:
        if i in cache:
            found[i] = cache.get(i)
        else:
            missing.append(i)
    for chunk in dialects.chunked(missing):
        for row_id, geom in session.execute(select(model.id, func.ST_AsBinary(model.geom)).where(model.id.in_(chunk))):
            shape = wkb.loads(bytes(geom)) if geom is not None else None
            if shape is not None:
                shapely.prepare(shape)
            cache.put(row_id, shape)
            found[row_id] = shape
    return found


def defaults_for(ref: Reference, options: Options) -> tuple[list[KindInfo], Defaults]:
    """The kinds asked for and their defaults, kept with the reference data per set of options."""
    found = ref.defaults.get(options)
    if found is None:
        kinds = _kinds(ref, options)
        found = (kinds, Defaults(kinds, options, ref.serves_age))
        ref.defaults.put(options, found)
    return found


def _kinds(ref: Reference, options: Options) -> list[KindInfo]:
    if options.kinds:
        return [k for k in ref.kinds if k.code in options.kinds]
    return ref.kinds


def names_for(session: Session, units_lists: list[list[UnitAtPoint]], ref: Reference) -> dict[str, str]:
    wanted: set[str] = set()
    for units in units_lists:
        for unit in units:
            ref.names.setdefault(f"{unit.level}:{unit.code}", unit.name)
        wanted.update(territories.codes_at_point(units))
    missing = sorted(c for c in wanted if c not in ref.names)
    if missing:
        found = territories.unit_names(session, missing)
        ref.names.update({c: found.get(c, c) for c in missing})
    return ref.names
