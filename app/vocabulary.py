"""Controlled vocabularies: the values stored, accepted in files and the API, and their French
labels. Each vocabulary is written once, as its labels; the tuples of values are derived from them.
The models, the registry's checks, the sheets, the API (`/api/v1/vocabularies`), the OpenAPI
document and the command line's choices all read them here."""

# A partner's or a kind's public (docs/eligibility.md): a partner's own band wins over its kind's.
AGE_BAND_LABELS = {"adulte": "Adultes", "enfant": "Enfants et adolescents", "tous": "Tous âges"}
AGE_BANDS = tuple(AGE_BAND_LABELS)
ALL_AGES = "tous"
# A person's age in a request (lookup, gap analysis, coverage map): "tous" is nobody's age.
PERSON_AGES = tuple(band for band in AGE_BANDS if band != ALL_AGES)
# The public a gap analysis is about, in running text ("Public : adultes").
AGE_PUBLIC_LABELS = {"adulte": "adultes", "enfant": "enfants et adolescents"}

# A partner's life cycle (`valid_from` / `valid_to` win over it: app/partners/availability.py).
STATUS_LABELS = {
    "planned": "En projet",
    "active": "En fonctionnement",
    "suspended": "Suspendu",
    "closed": "Fermé",
}
STATUSES = tuple(STATUS_LABELS)
# The same statuses as the partner sheet writes them (docs/partner-sheet.md).
STATUS_SHEET_WORDS = {"active": "actif", "planned": "prevu", "suspended": "suspendu", "closed": "ferme"}

HOUSING_TYPE_LABELS = {
    "parc_social": "Logement social",
    "parc_prive": "Parc privé",
    "hebergement": "Hébergement (CHRS, hôtel, urgence)",
    "logement_accompagne": "Logement accompagné (résidence accueil, pension de famille)",
    "sans_logement": "Personnes sans logement",
}
HOUSING_TYPES = tuple(HOUSING_TYPE_LABELS)

# The themes the coverage card folds the kinds into (geodata/kinds.csv, column `theme`), in the card's
# order; a kind without a theme falls in the last one.
KIND_THEME_LABELS = {
    "soins": "Soins",
    "coordination": "Coordination et situations complexes",
    "accompagnement": "Logement accompagné et accompagnement",
    "droits": "Droits et aides",
    "familles": "Familles et entraide",
    "autres": "Autres partenaires",
}
KIND_THEMES = tuple(KIND_THEME_LABELS)
OTHER_THEME = "autres"

# How a kind is found: a coverage area, or the distance to its sites.
MODE_LABELS = {"territorial": "Compétence territoriale", "proximity": "À proximité"}
KIND_MODES = tuple(MODE_LABELS)

LEVEL_LABELS = {
    "commune": "Commune",
    "arrondissement": "Arrondissement municipal",
    "iris": "IRIS",
    "departement": "Département",
    "region": "Région",
    "epci": "EPCI",
    "ept": "Établissement public territorial",
}
# Reference units have a contour; groups are unions of communes.
TERRITORY_LEVELS = ("commune", "arrondissement", "iris")
GROUP_LEVELS = ("departement", "region", "epci", "ept")

# A coverage part adds to the area or is cut out of it.
PART_MODES = ("include", "exclude")
CUSTOM_POLYGON_LABEL = "zone délimitée"
# Where a partner's record comes from (Partner.source: an importer's name, or "manuel"), as a
# person reads it on the partner's page.
SOURCE_LABELS = {
    "partners-json": "fichier de partenaires",
    "partners-sheet": "tableau de partenaires",
    "finess": "répertoire FINESS",
    "data-inclusion": "données data·inclusion",
    "sectors": "fichier des secteurs de psychiatrie",
    "manuel": "saisie dans Maillage",
}

# Whether a territory was surveyed for a kind (app/partners/inventory.py): stored values, and "inconnu"
# where nothing is recorded.
INVENTORY_LABELS = {"inventorie": "inventorié", "non_inventorie": "non inventorié", "inconnu": "inventaire inconnu"}
INVENTORY_STATUSES = ("inventorie", "non_inventorie")
INVENTORY_UNKNOWN = "inconnu"

# A kind's status in a lookup answer (docs/eligibility.md).
KIND_ANSWER_STATUSES = ("none", "outside", "restricted", "covered", "found")

# Precision of a geocoding match (app.geocoding).
GEOCODING_LEVEL_LABELS = {"housenumber": "numéro", "street": "voie", "municipality": "commune"}
# How closely an address was found, as the pages say it: "(trouvée au numéro près)".
GEOCODING_PRECISION_LABELS = {"housenumber": "trouvée au numéro près", "street": "trouvée à la rue près, sans le numéro",
                              "municipality": "seule la commune est trouvée"}

# Structured referral (app/partners/referral.py): who may refer to a partner, and how. Finer than
# data·inclusion's `mobilisable_par` (usagers, professionnels) and `modes_mobilisation`, onto which
# they map.
REFERRER_LABELS = {
    "bailleur": "Le bailleur (gardien, CESF, gestion locative)",
    "travailleur_social": "Un travailleur social",
    "medecin": "Un médecin (traitant ou psychiatre)",
    "professionnel": "Tout professionnel",
    "personne": "La personne elle-même",
    "entourage": "L'entourage (famille, proches)",
}
CHANNEL_LABELS = {
    "telephone": "Téléphone",
    "courriel": "Courriel",
    "formulaire": "Formulaire en ligne",
    "se_presenter": "Se présenter sur place",
    "fiche_liaison": "Fiche de liaison",
}
# Who funds a partner (shown on its page and in the gap analysis, with the end of its funding).
FUNDER_LABELS = {
    "fnavdl": "FNAVDL",
    "ars": "ARS",
    "departement": "Département",
    "bailleur": "Bailleur social",
    "mecenat": "Mécénat",
    "etat": "État (DDETS)",
    "commune": "Commune",
}
# Staff accounts' roles (app/accounts/roles.py) and the states of what they moderate.
ROLE_LABELS = {"admin": "administrateur", "territoire": "administrateur de territoire",
               "referent": "référent de structure"}
ROLES = tuple(ROLE_LABELS)
PROPOSAL_STATE_LABELS = {"ouverte": "en attente", "validée": "validée", "rejetée": "rejetée"}
REPORT_STATE_LABELS = {"ouvert": "ouvert", "traité": "traité", "rejeté": "rejeté"}
