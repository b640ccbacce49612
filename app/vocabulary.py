"""Controlled vocabularies and their French labels (shown to users, accepted in files/API)."""

AGE_BAND_LABELS = {"adulte": "Adultes", "enfant": "Enfants et adolescents", "tous": "Tous âges"}

STATUS_LABELS = {
    "planned": "En projet",
    "active": "En fonctionnement",
    "suspended": "Suspendu",
    "closed": "Fermé",
}

HOUSING_TYPE_LABELS = {
    "parc_social": "Logement social",
    "parc_prive": "Parc privé",
    "hebergement": "Hébergement (CHRS, hôtel, urgence)",
    "logement_accompagne": "Logement accompagné (résidence accueil, pension de famille)",
    "sans_logement": "Personnes sans logement",
}

MODE_LABELS = {"territorial": "Compétence territoriale", "proximity": "À proximité"}

LEVEL_LABELS = {
    "commune": "Commune",
    "arrondissement": "Arrondissement municipal",
    "iris": "IRIS",
    "departement": "Département",
    "region": "Région",
    "epci": "EPCI",
}

CUSTOM_POLYGON_LABEL = "polygone personnalisé"

# Precision of a geocoding match (app.geocoding).
GEOCODING_LEVEL_LABELS = {"housenumber": "numéro", "street": "voie", "municipality": "commune"}
