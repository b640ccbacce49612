"""The lookup: "Qui couvre ce point ?" — one module, no Flask.

For a WGS84 point, an optional date and filters (age band, landlord, housing type), it answers per
kind of partner:
- territorial kinds: the partners whose compiled coverage contains the point, each with the part
  that matched ("arrondissement:75113", "polygone personnalisé …"), or an explicit
  "aucune couverture" entry with what to do instead;
- proximity kinds: sites within a radius, nearest first.

Single points use one indexed statement (`point_sql`), coverage areas refined on cached shapes
(`_fetch_sql`); batches fetch the candidate shapes of the batch's extent once and join in memory
with shapely's STRtree (`_fetch_bulk`). Both feed the same `_select`, so both forms give identical
answers (tested).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import gc
import math
import weakref
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely import wkb
from sqlalchemy import case, func, select, text
from sqlalchemy.orm import Session

from app import db, inventory, spatial, territories
from app.kinds import PROXIMITY_SITES_SQL
from app.errors import InvalidInput, reject_nul
from app.geometry import check_lon_lat, degree_box, haversine_m, haversine_m_array
from app.models import Contact, CoveragePart, Kind, Landlord, Partner, PartnerLandlord, Site, TerritoryGroup
from app.territories import UnitAtPoint
from app.vocabulary import (
    AGE_BAND_LABELS,
    CUSTOM_POLYGON_LABEL,
    HOUSING_TYPE_LABELS,
    LEVEL_LABELS,
    STATUS_LABELS,
)

OUTSIDE_MESSAGE = "Adresse hors du territoire de la base : le référentiel chargé ne contient pas ce point."


@dataclass(frozen=True)
class Options:
    as_of: dt.date
    age: str | None = None
    landlord: str | None = None
    housing: str | None = None
    kinds: tuple[str, ...] | None = None
    radius_m: int | None = None
    proximity_limit: int = 5
    default_radius_m: int = 5000


def _short(value, limit: int = 60) -> str:
    """Echo user input in a message without letting it flood the message."""
    text_value = str(value)
    return text_value if len(text_value) <= limit else text_value[:limit] + "…"


def parse_options(session: Session, *, as_of=None, age=None, landlord=None, housing=None, kinds=None,
                  radius=None, today: dt.date | None = None, default_radius_m: int = 5000,
                  max_radius_m: int = 50000, proximity_limit: int = 5) -> Options:
    """Validate raw filter values (strings from a query string or a CLI) into Options."""
    reject_nul({"as_of": as_of, "age": age, "landlord": landlord, "housing": housing, "kinds": kinds,
                "radius": radius})
    if as_of in (None, ""):
        as_of_date = today or dt.date.today()
    elif isinstance(as_of, dt.date):
        as_of_date = as_of
    else:
        try:
            as_of_date = dt.date.fromisoformat(str(as_of).strip())
        except ValueError:
            raise InvalidInput(f"Date « {_short(as_of)} » invalide : format attendu AAAA-MM-JJ (ex. 2026-12-01).",
                               code="invalid-date", field="as_of") from None
    if age in ("", None):
        age = None
    elif age not in ("adulte", "enfant"):
        raise InvalidInput(f"Tranche d'âge « {_short(age)} » inconnue : adulte ou enfant.", code="invalid-age", field="age")
    if landlord in ("", None):
        landlord = None
    elif session.get(Landlord, str(landlord)) is None:
        raise InvalidInput(f"Bailleur « {_short(landlord)} » inconnu (liste : /api/v1/landlords).",
                           code="unknown-landlord", field="landlord")
    if housing in ("", None):
        housing = None
    elif housing not in HOUSING_TYPE_LABELS:
        raise InvalidInput(f"Type de logement « {_short(housing)} » inconnu ({', '.join(HOUSING_TYPE_LABELS)}).",
                           code="invalid-housing", field="housing")
    kind_codes = None
    if kinds not in (None, "", []):
        if isinstance(kinds, str):
            kinds = [k.strip() for k in kinds.split(",") if k.strip()]
        known = set(session.scalars(select(Kind.code)))
        unknown = [k for k in kinds if k not in known]
        if unknown:
            raise InvalidInput(f"Type(s) de partenaire inconnu(s) : {_short(', '.join(unknown))}.",
                               code="unknown-kind", field="kinds")
        kind_codes = tuple(dict.fromkeys(kinds))
    radius_m = None
    if radius not in (None, ""):
        try:
            value = float(radius)
        except (TypeError, ValueError):
            raise InvalidInput(f"Rayon « {_short(radius)} » invalide : un nombre de mètres est attendu.",
                               code="invalid-radius", field="radius") from None
        if not (math.isfinite(value) and 0 < value <= max_radius_m):
            raise InvalidInput(f"Rayon hors limites : entre 1 et {max_radius_m} mètres.",
                               code="invalid-radius", field="radius")
        radius_m = max(1, round(value))
    return Options(as_of=as_of_date, age=age, landlord=landlord, housing=housing, kinds=kind_codes,
                   radius_m=radius_m, proximity_limit=proximity_limit, default_radius_m=default_radius_m)


# ---------------------------------------------------------------------------------------------
# Partner facts needed to answer (loaded once per lookup or per batch)


@dataclass
class PartnerFacts:
    id: int
    ref: str
    kind: str
    name: str
    status: str
    valid_from: dt.date | None
    valid_to: dt.date | None
    age_band: str
    housing_types: list
    landlords: list
    includes: list  # [(code|None, label, part_id)] in the partner's order
    card: dict  # what the answer shows about the partner
    sites: list = field(default_factory=list)  # [(lon, lat, site_dict)]
    polygons: list = field(default_factory=list)  # [(part_id, label, prepared shapely geometry)]
    include_index: dict = field(default_factory=dict)  # typed code -> position among includes

    def __post_init__(self):
        self.include_index = {}
        for position, (code, _label, _part_id) in enumerate(self.includes):
            if code is not None:
                self.include_index.setdefault(code, position)


def availability(p: PartnerFacts, as_of: dt.date) -> str:
    """Effective state at a date. Dates win over the status field: a service "closed" with a
    valid_to was open until then, a "planned" one with a valid_from opens on that day."""
    if p.valid_to and as_of > p.valid_to:
        return "closed"
    if p.valid_from and as_of < p.valid_from:
        return "planned"
    if p.status == "closed":
        return "active" if p.valid_to else "closed"
    if p.status == "planned":
        return "active" if p.valid_from else "planned"
    return p.status  # active or suspended


def _load_partners(session: Session, ids: set[int], ref: Reference) -> dict[int, PartnerFacts]:
    """Facts for the given partners: from the reference cache, loading the missing ones."""
    missing = sorted(i for i in ids if i not in ref.partners)
    if missing:
        loaded = _query_partners(session, set(missing), ref.landlord_names)
        ref.partners.update(loaded)
    return {i: ref.partners[i] for i in ids if i in ref.partners}


_SITE_FIELDS = ("name", "role", "address", "postcode", "city", "code_insee", "phone", "email", "opening_hours",
                "accessibility", "finess", "capacity")
_CONTACT_FIELDS = ("label", "phone", "email", "url", "hours", "notes")


def _rows_by_partner(session: Session, chunks: list[list[int]], columns, order, *where) -> dict[int, list]:
    """Rows of a partner's child table (first column: partner_id), grouped by partner, in order."""
    grouped: dict[int, list] = {}
    for chunk in chunks:
        for row in session.execute(select(*columns).where(columns[0].in_(chunk), *where).order_by(*order)):
            grouped.setdefault(row[0], []).append(row)
    return grouped


def _query_partners(session: Session, ids: set[int], landlord_names: dict[str, str]) -> dict[int, PartnerFacts]:
    """Partner facts read with plain column queries, one per table (not ORM objects: a lookup
    meeting 20 partners not yet cached took 13 ms through the ORM, ~3 ms this way)."""
    if not ids:
        return {}
    ordered = sorted(ids)
    chunks = [ordered[i:i + 900] for i in range(0, len(ordered), 900)]  # SQLite's variable limit
    sites = _rows_by_partner(session, chunks, (
        Site.partner_id, *(getattr(Site, f) for f in _SITE_FIELDS), func.ST_X(Site.geom), func.ST_Y(Site.geom),
    ), (Site.partner_id, Site.position, Site.id))
    contacts = _rows_by_partner(session, chunks, (Contact.partner_id, *(getattr(Contact, f) for f in _CONTACT_FIELDS)),
                                (Contact.partner_id, Contact.position, Contact.id))
    landlord_rows = _rows_by_partner(session, chunks, (PartnerLandlord.partner_id, PartnerLandlord.landlord_code),
                                     (PartnerLandlord.partner_id, PartnerLandlord.landlord_code))
    parts = _included_parts(session, chunks)
    out: dict[int, PartnerFacts] = {}
    columns = (Partner.id, Partner.ref, Partner.name, Partner.kind_code, Partner.description, Partner.how_to_refer,
               Partner.website, Partner.age_band, Partner.housing_types, Partner.eligibility, Partner.capacity,
               Partner.status, Partner.valid_from, Partner.valid_to, Partner.finess, Partner.siret, Partner.source,
               Partner.last_verified_at)
    for chunk in chunks:
        for (pid, ref, name, kind, description, how_to_refer, website, age_band, housing_types, eligibility,
             capacity, status, valid_from, valid_to, finess, siret, source, last_verified_at) in session.execute(
                select(*columns).where(Partner.id.in_(chunk))):
            site_dicts = []
            for row in sites.get(pid, ()):
                site = dict(zip(_SITE_FIELDS, row[1:-2]))
                x, y = row[-2], row[-1]
                site["lon"], site["lat"] = (round(x, 6), round(y, 6)) if x is not None else (None, None)
                site_dicts.append(site)
            landlords = [row[1] for row in landlord_rows.get(pid, ())]
            housing = list(housing_types or [])
            card = {
                "id": pid, "ref": ref, "name": name, "kind": kind,
                "description": description, "how_to_refer": how_to_refer, "website": website,
                "age_band": age_band, "age_band_label": AGE_BAND_LABELS[age_band],
                "housing_types": housing, "eligibility": eligibility,
                "capacity": capacity, "status": status,
                "valid_from": valid_from.isoformat() if valid_from else None,
                "valid_to": valid_to.isoformat() if valid_to else None,
                "finess": finess, "siret": siret,
                "contacts": [dict(zip(_CONTACT_FIELDS, row[1:])) for row in contacts.get(pid, ())],
                "reserved_to": [{"code": c, "name": landlord_names.get(c, c)} for c in landlords],
                "source": source, "last_verified_at": last_verified_at.isoformat() if last_verified_at else None,
                "sites": site_dicts,
            }
            includes, polygons = parts.get(pid, ([], []))
            out[pid] = PartnerFacts(
                id=pid, ref=ref, kind=kind, name=name, status=status, valid_from=valid_from, valid_to=valid_to,
                age_band=age_band, housing_types=list(housing), landlords=landlords, includes=includes, card=card,
                sites=[(site["lon"], site["lat"], site) for site in site_dicts if site["lon"] is not None],
                polygons=polygons,
            )
    return out


def _included_parts(session: Session, chunks: list[list[int]]) -> dict[int, tuple[list, list]]:
    """Per partner: its included parts [(code | None, label, part_id)] in its own order, and its custom
    polygons [(part_id, label, prepared shape)], prepared because they are tested many times."""
    out: dict[int, tuple[list, list]] = {}
    rows = _rows_by_partner(session, chunks, (
        CoveragePart.partner_id, CoveragePart.code, CoveragePart.label, CoveragePart.id,
        case((CoveragePart.code.is_(None), CoveragePart.geom.ST_AsBinary())),
    ), (CoveragePart.partner_id, CoveragePart.position, CoveragePart.id), CoveragePart.mode == "include")
    for partner_id, partner_rows in rows.items():
        includes, polygons = out.setdefault(partner_id, ([], []))
        for _, code, label, part_id, geom in partner_rows:
            includes.append((code, label, part_id))
            if code is None and geom is not None:
                shape = wkb.loads(bytes(geom))
                shapely.prepare(shape)
                polygons.append((part_id, label, shape))
    return out


@dataclass(frozen=True)
class KindInfo:
    code: str
    label: str
    short_label: str
    mode: str
    age_band: str
    radius_m: int | None
    if_none: str
    feminine: bool
    is_housing: bool

    def __hash__(self) -> int:  # a cache key on every lookup: the code is enough (equality checks all)
        return hash(self.code)


@dataclass
class Reference:
    """What every lookup needs and rarely changes: kinds, landlord names, the dataset flag, partner
    facts and territory names. Cached per engine and keyed by the data version (app.db), which
    changes with every committed write."""

    version: str | None
    kinds: list[KindInfo]
    landlord_names: dict[str, str]
    dataset: str | None
    partners: dict[int, PartnerFacts] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    shapes: dict[str, dict] = field(default_factory=dict)  # table -> row id -> prepared geometry
    defaults: dict = field(default_factory=dict)  # Options -> (kinds, _Defaults)
    # Per kind, the age bands its partners serve (any status, anywhere): a kind is answered for an
    # age when its catalogue band or one of its partners' bands serves it (docs/eligibility.md).
    kind_ages: dict[str, frozenset] = field(default_factory=dict)
    # Inventory records: typed territory code -> kind -> Inventoried (app/inventory.py)
    inventory: dict[str, dict] = field(default_factory=dict)
    inventory_at: dict = field(default_factory=dict)  # units key -> kind -> inventory entry

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
            if len(self.inventory_at) > 20000:
                self.inventory_at.clear()
            found = self.inventory_at[key] = inventory.at_units(
                self.inventory, codes if codes is not None else territories.codes_at_point(units), self.names)
        return found


_REFERENCES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


_UNSET = object()


def _reference(session: Session, version=_UNSET) -> Reference:
    if version is _UNSET:
        version = db.data_version(session)
    return db.cached_for_version(_REFERENCES, session, version, lambda: Reference.load(session, version))


# ---------------------------------------------------------------------------------------------
# Fetching candidates


@dataclass
class Candidates:
    units: list[UnitAtPoint]
    covering: set[int]  # partner ids whose coverage contains the point
    nearby: list[tuple[int, float]]  # (partner_id, distance in metres) of proximity sites in range


def _max_radius(kinds: list[KindInfo], options: Options) -> int:
    radii = [options.radius_m or k.radius_m or options.default_radius_m for k in kinds if k.mode == "proximity"]
    return max(radii, default=0)


def _shapes(session: Session, ref: Reference, table: str, ids: list[int]) -> dict[int, object]:
    """Prepared shapes of `table` rows, from the reference cache or loaded in one query."""
    cache = ref.shapes.setdefault(table, {})
    missing = [i for i in ids if i not in cache]
    if missing:
        for row_id, geom in session.execute(
            text(f"SELECT id, ST_AsBinary(geom) FROM {table} WHERE id IN ({', '.join(map(str, missing))})")
        ):
            shape = wkb.loads(bytes(geom)) if geom is not None else None
            if shape is not None:
                shapely.prepare(shape)
            cache[row_id] = shape
    return cache


_POINT_SQL: dict[tuple[str, bool], str] = {}

# Sites of proximity kinds near the point: the index finds those in the widest kind's box
# (:minx, :miny, :maxx, :maxy); each kind's own box (its radius, or the request's :radius, or
# :default_radius; :kx/:ky metres per degree) leaves out the rows it could not use.
_SITES_FROM = (
    PROXIMITY_SITES_SQL
    + " AND ABS(ST_X(s.geom) - :lon) * :kx <= COALESCE(:radius, k.radius_m, :default_radius)"
    " AND ABS(ST_Y(s.geom) - :lat) * :ky <= COALESCE(:radius, k.radius_m, :default_radius)"
)


def point_sql(backend: spatial.Backend, with_sites: bool) -> str:
    """The single lookup's one round trip: the data version, the territories that contain the point
    (:lon, :lat) — small polygons, tested exactly in SQL after the index —, the coverage areas whose
    bounding box contains it (large unions, tested in memory on cached shapes), and, with
    `with_sites`, the sites of proximity kinds around it (`_SITES_FROM`). Each goes through its
    table's spatial index. Columns: tag, id, partner_id, x, y, then the territory fields (the
    version in `code`)."""
    key = (backend.name, with_sites)
    sql = _POINT_SQL.get(key)
    if sql is None:
        sql = (
            "SELECT 'v', CAST(NULL AS INTEGER), CAST(NULL AS INTEGER), CAST(NULL AS DOUBLE PRECISION), "
            "CAST(NULL AS DOUBLE PRECISION), NULL, m.value, NULL, NULL, NULL, NULL, NULL "
            "FROM meta m WHERE m.key = 'data_version' "
            "UNION ALL "
            "SELECT 't', t.id, NULL, NULL, NULL, t.level, t.code, t.name, t.parent_code, t.departement, "
            f"t.region, t.epci FROM territory t WHERE {backend.point_box_filter('territory', 't')} "
            f"AND {backend.intersects_point('t')} "
            "UNION ALL "
            "SELECT 'c', ca.id, ca.partner_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL "
            f"FROM coverage_area ca WHERE {backend.point_box_filter('coverage_area', 'ca')}"
        )
        if with_sites:
            sql += (" UNION ALL SELECT 's', NULL, s.partner_id, ST_X(s.geom), ST_Y(s.geom), NULL, NULL, NULL, "
                    "NULL, NULL, NULL, NULL " + _SITES_FROM.format(box=backend.box_filter("site", "s")))
        _POINT_SQL[key] = sql
    return sql


def _site_params(lon: float, lat: float, widest: int, options: Options) -> dict:
    minx, miny, maxx, maxy = degree_box(lon, lat, widest)
    return {"minx": minx, "miny": miny, "maxx": maxx, "maxy": maxy, "radius": options.radius_m,
            "default_radius": options.default_radius_m, "kx": widest / (maxx - lon), "ky": widest / (maxy - lat)}


def _sites_near(session: Session, lon: float, lat: float, widest: int, options: Options) -> list:
    """(partner_id, x, y) of the proximity sites around the point (apart from `point_sql`)."""
    backend = spatial.backend_for(session)
    sql = "SELECT s.partner_id, ST_X(s.geom), ST_Y(s.geom) " + _SITES_FROM.format(box=backend.box_filter("site", "s"))
    return spatial.fetch_all(session, sql, {"lon": lon, "lat": lat, **_site_params(lon, lat, widest, options)})


def _fetch_sql(session: Session, lon: float, lat: float,
               options: Options) -> tuple[Reference, list[KindInfo], _Defaults, Candidates]:
    """One indexed round trip on the database; exact point-in-polygon tests of coverage areas in
    memory on the same stored geometries, prepared once and cached with the reference data.

    The sites' search box depends on the kinds' radii, known from the reference data this process
    already holds; on its first lookup, or if the kinds changed, the sites are fetched apart."""
    backend = spatial.backend_for(session)
    known = _REFERENCES.get(db.engine_of(session))
    known_defaults = _defaults(known, options) if known is not None else None
    guess = known_defaults[1].radius if known_defaults else 0
    params = {"lon": lon, "lat": lat}
    if guess:
        params.update(_site_params(lon, lat, guess, options))
    version, unit_rows, area_rows, site_rows = None, [], [], []
    for row in spatial.fetch_all(session, point_sql(backend, bool(guess)), params):
        tag = row[0]
        if tag == "t":
            unit_rows.append(UnitAtPoint(*row[5:]))
        elif tag == "c":
            area_rows.append((row[1], row[2]))
        elif tag == "s":
            site_rows.append((row[2], row[3], row[4]))
        else:
            version = row[6]
    ref = _reference(session, version)
    kinds, defaults = known_defaults if ref is known else _defaults(ref, options)
    radius = defaults.radius
    if radius != guess:
        site_rows = _sites_near(session, lon, lat, radius, options) if radius else []
    units = sorted(unit_rows, key=lambda u: (u.level, u.code))
    covering: set[int] = set()
    if area_rows:
        shapes = _shapes(session, ref, "coverage_area", [i for i, _ in area_rows])
        inside = shapely.intersects_xy(np.array([shapes.get(i) for i, _ in area_rows], dtype=object), lon, lat)
        covering = {pid for (_, pid), hit in zip(area_rows, inside.tolist()) if hit}
    # a handful of sites: plain floats beat numpy's per-call overhead
    nearby = [(pid, haversine_m(lon, lat, x, y)) for pid, x, y in site_rows]
    return ref, kinds, defaults, Candidates(units, covering, nearby)


# ---------------------------------------------------------------------------------------------
# Assembling the answer


def _kind_none_message(kind: KindInfo) -> str:
    article = "Aucune" if kind.feminine else "Aucun"
    return f"{article} {kind.short_label} ne couvre cette adresse."


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


def _passes_filters(p: PartnerFacts, options: Options) -> str | None:
    """None if the partner fits the filters, else the reason it is left out. The partner's own age
    band counts, never its kind's default (docs/eligibility.md)."""
    if options.age and p.age_band not in (options.age, "tous"):
        return "age"
    if options.housing and p.housing_types and options.housing not in p.housing_types:
        return "housing"
    if options.landlord and p.landlords and options.landlord not in p.landlords:
        return "landlord"
    return None


def _applies(p: PartnerFacts, options: Options) -> bool | None:
    """Whether a listed partner applies to the tenant: True when open to all or reserved to the
    landlord given, None (unknown) when reserved and no landlord was given."""
    if not p.landlords or options.landlord:
        return True  # a landlord given: _passes_filters has left out the partners reserved to others
    return None


def _order_group(p: PartnerFacts, options: Options) -> int:
    """With a landlord, its own services first; without, the services open to all first."""
    if options.landlord:
        return 0 if p.landlords else 1
    return 1 if p.landlords else 0


def _restriction(p: PartnerFacts, options: Options) -> dict | None:
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
    """What most kinds answer at most points: nothing here (kept in _Defaults, never modified)."""
    radius = None if kind.mode == "territorial" else options.radius_m or kind.radius_m or options.default_radius_m
    if kind.mode == "territorial":
        status, message = ("none", _kind_none_message(kind)) if inside else ("outside", OUTSIDE_MESSAGE)
    else:
        article = "Aucune" if kind.feminine else "Aucun"
        status, message = "none", f"{article} {kind.short_label} à moins de {radius / 1000:g} km."
    return KindSelection(kind, status, message, radius, (), (), (), 0,
                         empty_answer=_kind_answer(kind, status, message, radius))


class _Defaults:
    """Per kinds list and options: each kind's position, and its empty selection inside and
    outside the reference (None where nothing of the kind could serve the requested age). Built
    once per set of options and kept with the reference data."""

    def __init__(self, kinds: list[KindInfo], options: Options, ref: Reference):
        self.kinds, self.options = kinds, options
        self.position = {k.code: i for i, k in enumerate(kinds)}
        self.radius = _max_radius(kinds, options)  # the widest proximity search
        self.answered = [ref.serves_age(k, options.age) for k in kinds]
        self._empty: dict[bool, list] = {}

    def empty(self, inside: bool) -> list:
        found = self._empty.get(inside)
        if found is None:
            found = self._empty[inside] = [
                _empty_selection(k, inside, self.options) if answered else None
                for k, answered in zip(self.kinds, self.answered)]
        return found


def _defaults(ref: Reference, options: Options) -> tuple[list[KindInfo], _Defaults]:
    """The kinds asked for and their defaults, kept with the reference data per set of options."""
    found = ref.defaults.get(options)
    if found is None:
        kinds = _kinds(ref, options)
        if len(ref.defaults) > 256:  # a date or a radius per request: keep it bounded
            ref.defaults.clear()
        found = ref.defaults[options] = (kinds, _Defaults(kinds, options, ref))
    return found


def _select(cand: Candidates, kinds: list[KindInfo], partners: dict[int, PartnerFacts], options: Options,
            defaults: _Defaults) -> list[KindSelection]:
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
            if _passes_filters(p, options):
                filtered_out += 1
            elif state == "planned":
                upcoming.append((p, state, distance))
            elif state == "suspended":
                unavailable.append((p, state, distance))
            else:
                entries.append((p, distance))
        if kind.mode == "territorial":
            entries.sort(key=lambda e: (_order_group(e[0], options), e[0].name, e[0].id))
            if any(_applies(p, options) is not None for p, _ in entries):
                status = "covered"
                message = None if len(entries) == 1 else f"{len(entries)} structures couvrent cette adresse (chevauchement)."
            elif entries:  # only services reserved to landlords, and the tenant's landlord not given
                status, message = "restricted", "Seulement des services réservés aux locataires de certains bailleurs."
            elif not inside:
                status, message = "outside", OUTSIDE_MESSAGE
            else:
                status, message = "none", _kind_none_message(kind)
        else:
            entries = entries[: options.proximity_limit]
            article = "Aucune" if kind.feminine else "Aucun"
            status = "found" if entries else "none"
            message = None if entries else f"{article} {kind.short_label} à moins de {radius / 1000:g} km."
        selections[position] = KindSelection(kind, status, message, radius, entries, upcoming, unavailable, filtered_out)
    return [sel for sel in selections if sel is not None]


def _assemble(lon: float, lat: float, cand: Candidates, kinds: list[KindInfo], partners: dict[int, PartnerFacts],
              ref: Reference, options: Options, defaults: _Defaults) -> dict:
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
        for level in ("departement", "region", "epci"):
            value = getattr(first, level)
            if value:
                code = f"{level}:{value}"
                groups[level] = {"code": code, "name": names.get(code, code)}
    answers = []
    sectors = []  # listed psychiatric sectors, for the competent CMP
    for sel in _select(cand, kinds, partners, options, defaults):
        kind = sel.kind
        if sel.empty_answer is not None:
            entry = dict(sel.empty_answer)  # a copy: callers add keys
        else:
            if kind.mode == "territorial":
                partners_out = [{"partner": p.card, "matched_part": _matched_part(p, codes, names, lon, lat),
                                 "restriction": _restriction(p, options), "sites": _nearest_sites(p, lon, lat)}
                                for p, _ in sel.entries]
            else:
                partners_out = [{"partner": p.card, "distance_m": round(d), "restriction": _restriction(p, options),
                                 "sites": _nearest_sites(p, lon, lat)} for p, d in sel.entries]
            entry = {
                **_kind_answer(kind, sel.status, sel.message, sel.radius_m),
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
def _kind_answer(kind: KindInfo, status: str, message: str | None, radius_m: int | None) -> dict:
    """A kind's entry in the answer with no partner in it (shared: copied before use). Its empty
    lists are never filled in place: answers with partners get their own."""
    return {
        "kind": kind.code, "label": kind.label, "short_label": kind.short_label, "mode": kind.mode,
        "is_housing": kind.is_housing, "radius_m": radius_m, "status": status, "message": message,
        "if_none": kind.if_none if status in ("none", "outside", "restricted") else None,
        "partners": [], "upcoming": [], "unavailable": [], "filtered_out": 0,
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


def _assemble_compact(lon: float, lat: float, cand: Candidates, kinds: list[KindInfo],
                      partners: dict[int, PartnerFacts], codes: dict, options: Options,
                      cards: dict[int, dict], defaults: _Defaults, surveyed: dict) -> dict:
    """The compact answer: partner ids per kind with the matched part; cards collected once.
    A kind with nothing here says whether its territory was inventoried."""
    out_kinds = {}
    for sel in _select(cand, kinds, partners, options, defaults):
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
                item["applies"] = _applies(p, options)
            entries.append(item)
        out_kinds[sel.kind.code] = {"status": sel.status, "partners": entries}
    return {"point": {"lon": lon, "lat": lat},
            "territory": {"status": "inside" if cand.units else "outside",
                          "units": [f"{u.level}:{u.code}" for u in cand.units]},
            "kinds": out_kinds}


# Shared by every point of a batch that has nothing for a kind (read only).
_EMPTY_COMPACT = {
    (status, survey): {"status": status, "partners": [], **({"inventory": survey} if survey else {})}
    for status in ("none", "outside", "restricted", "covered", "found")
    for survey in (None, "inventorie", "non_inventorie", "inconnu")
}


def _kinds(ref: Reference, options: Options) -> list[KindInfo]:
    if options.kinds:
        return [k for k in ref.kinds if k.code in options.kinds]
    return ref.kinds


def _names_for(session: Session, units_lists: list[list[UnitAtPoint]], ref: Reference) -> dict[str, str]:
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


def lookup(session: Session, lon, lat, options: Options, uncertainty: Uncertainty | None = None) -> dict:
    """Answer for one point (index-assisted SQL on either backend)."""
    lon, lat = check_lon_lat(lon, lat)
    ref, kinds, defaults, cand = _fetch_sql(session, lon, lat, options)
    ids = cand.covering | {pid for pid, _ in cand.nearby}
    partners = _load_partners(session, ids, ref)
    _names_for(session, [cand.units], ref)
    answer = _assemble(lon, lat, cand, kinds, partners, ref, options, defaults)
    if uncertainty is not None:
        _flag_uncertain(session, ref, kinds, cand, options, answer, uncertainty)
    return answer


def _flag_uncertain(session: Session, ref: Reference, kinds: list[KindInfo], cand: Candidates, options: Options,
                    answer: dict, uncertainty: Uncertainty) -> None:
    """Compare the answer at the point with the partners whose coverage meets the uncertainty
    region: a partner that covers part of the region but not the point is an alternative; a
    partner that covers the point but not the whole region may not cover the real address."""
    backend = spatial.backend_for(session)
    region = uncertainty.region
    minx, miny, maxx, maxy = region.bounds
    rows = session.execute(
        text(f"SELECT ca.id, ca.partner_id FROM coverage_area ca WHERE {backend.box_filter('coverage_area', 'ca')}"),
        {"minx": minx, "miny": miny, "maxx": maxx, "maxy": maxy},
    ).all()
    shapes = _shapes(session, ref, "coverage_area", [i for i, _ in rows])
    shapely.prepare(region)
    tolerance = _tolerance_deg2(uncertainty)
    touching, partial = set(), set()
    for area_id, partner_id in rows:
        shape = shapes.get(area_id)
        if shape is None or not shape.intersects(region):
            continue
        if shape.covers(region):
            touching.add(partner_id)
            continue
        overlap = shapely.clip_by_rect(shape, minx, miny, maxx, maxy).intersection(region).area
        if overlap > tolerance:  # more than a shared outline or a sliver
            touching.add(partner_id)
            if region.area - overlap > tolerance:
                partial.add(partner_id)
    territorial = [k for k in kinds if k.mode == "territorial"]
    partners = _load_partners(session, touching, ref)
    in_region = {sel.kind.code: sel for sel in _select(Candidates(cand.units, touching, []), territorial, partners,
                                                        options, _Defaults(territorial, options, ref))}
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
                "alternatives": [{"partner": p.card, "restriction": _restriction(p, options)} for p in alternatives],
                "may_not_cover": may_stop,
            }
    answer["confidence"] = {"status": "to_confirm" if flagged else "sure", "reason": uncertainty.code if flagged else None,
                            "message": uncertainty.message if flagged else None, "kinds_to_confirm": flagged}
    if flagged:
        answer["warnings"].append({"code": uncertainty.code,
                                   "message": f"{flagged} réponse(s) à confirmer : {uncertainty.message}"})


# ---------------------------------------------------------------------------------------------
# Batch


def _fetch_bulk(session: Session, points: np.ndarray, kinds: list[KindInfo], options: Options) -> list[Candidates]:
    """Candidates for many points: one indexed box query per table, then an in-memory STRtree join."""
    backend = spatial.backend_for(session)
    minx, miny = points.min(axis=0)
    maxx, maxy = points.max(axis=0)
    box = {"minx": float(minx), "miny": float(miny), "maxx": float(maxx), "maxy": float(maxy)}
    geoms = shapely.points(points)

    unit_rows = session.execute(
        text("SELECT t.level, t.code, t.name, t.parent_code, t.departement, t.region, t.epci, ST_AsBinary(t.geom) "
             f"FROM territory t WHERE {backend.box_filter('territory', 't')} ORDER BY t.level, t.code"), box
    ).all()
    unit_objs = [UnitAtPoint(*row[:7]) for row in unit_rows]
    per_point_units: list[list[UnitAtPoint]] = [[] for _ in range(len(points))]
    if unit_rows:
        tree = shapely.STRtree(shapely.from_wkb([bytes(r[7]) for r in unit_rows]))
        pi, ui = tree.query(geoms, predicate="intersects")
        for p_idx, u_idx in sorted(zip(pi.tolist(), ui.tolist()), key=lambda x: (x[0], x[1])):
            per_point_units[p_idx].append(unit_objs[u_idx])

    area_rows = session.execute(
        text("SELECT ca.partner_id, ST_AsBinary(ca.geom) FROM coverage_area ca "
             f"WHERE ca.geom IS NOT NULL AND {backend.box_filter('coverage_area', 'ca')}"), box
    ).all()
    per_point_cover: list[set[int]] = [set() for _ in range(len(points))]
    if area_rows:
        tree = shapely.STRtree(shapely.from_wkb([bytes(r[1]) for r in area_rows]))
        pi, ai = tree.query(geoms, predicate="intersects")
        for p_idx, a_idx in zip(pi.tolist(), ai.tolist()):
            per_point_cover[p_idx].add(area_rows[a_idx][0])

    per_point_near: list[list[tuple[int, float]]] = [[] for _ in range(len(points))]
    radius = _max_radius(kinds, options)
    if radius:
        bx0 = degree_box(box["minx"], box["miny"], radius)
        bx1 = degree_box(box["maxx"], box["maxy"], radius)
        site_rows = session.execute(
            text("SELECT s.partner_id, ST_X(s.geom), ST_Y(s.geom), COALESCE(:radius, k.radius_m, :default_radius) "
                 + PROXIMITY_SITES_SQL.format(box=backend.box_filter("site", "s"))),
            {"minx": bx0[0], "miny": bx0[1], "maxx": bx1[2], "maxy": bx1[3], "radius": options.radius_m,
             "default_radius": options.default_radius_m},
        ).all()
        if site_rows:
            site_xy = np.array([(r[1], r[2]) for r in site_rows])
            tree = shapely.STRtree(shapely.points(site_xy))
            # dwithin in degrees with the widest longitude span, refined by haversine
            dlat = radius / 111_132.0
            dlon = max(degree_box(0, float(max(abs(miny), abs(maxy))), radius)[2], dlat)
            pi, si = tree.query(geoms, predicate="dwithin", distance=dlon)
            distances = haversine_m_array(points[pi, 0], points[pi, 1], site_xy[si, 0], site_xy[si, 1])
            # each site within its own kind's radius only: the rest could never be answered
            keep = distances <= np.array([r[3] for r in site_rows], dtype=float)[si]
            site_partner = [r[0] for r in site_rows]
            for p_idx, s_idx, d in zip(pi[keep].tolist(), si[keep].tolist(), distances[keep].tolist()):
                per_point_near[p_idx].append((site_partner[s_idx], d))
    return [Candidates(per_point_units[i], per_point_cover[i], per_point_near[i])
            for i in range(len(points))]


def lookup_many(session: Session, points, options: Options, *, compact: bool = False) -> dict:
    """Answer for many points at once. `points`: iterable of (lon, lat).

    Full form: {"results": [answer, …]} with the same answers `lookup` gives.
    Compact form (for large batches and exports): each result lists partner ids per kind with the
    matched part, and partner cards are given once in "partners".
    """
    coords = []
    for i, pt in enumerate(points):
        try:
            lon, lat = pt
        except (TypeError, ValueError):
            raise InvalidInput(f"Point n° {i + 1} : paire [lon, lat] attendue.", code="invalid-coordinates",
                               field=f"points[{i}]") from None
        try:
            coords.append(check_lon_lat(lon, lat, field=f"points[{i}]"))
        except InvalidInput as exc:
            exc.message = f"Point n° {i + 1} : {exc.message}"
            raise
    if not coords:
        return {"results": [], "partners": {}} if compact else {"results": []}
    array = np.array(coords, dtype=float)
    ref = _reference(session)
    kinds, defaults = _defaults(ref, options)
    with _gc_paused():
        cands = _fetch_bulk(session, array, kinds, options)
        ids = set()
        for c in cands:
            ids |= c.covering
            ids |= {pid for pid, _ in c.nearby}
        partners = _load_partners(session, ids, ref)
        _names_for(session, [c.units for c in cands], ref)
        return _answer_all(coords, cands, kinds, defaults, partners, ref, options, compact)


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
            results.append(_assemble_compact(lon, lat, cand, kinds, partners, codes, options, cards, defaults,
                                             ref.inventory_for(cand.units, codes)))
        else:
            results.append(_assemble(lon, lat, cand, kinds, partners, ref, options, defaults))
    if compact:
        return {"results": results, "partners": cards}
    return {"results": results}
