"""addok configuration for a self-hosted BAN geocoder behind Maillage (MAILLAGE_GEOCODERS=ban-api).

The BAN production configuration (addok-fr + addok-france: extract_address, clean_query,
phonemicize, the French synonyms), with Redis taken from the environment so that addok gets its
own Redis database (never another service's):

    ADDOK_REDIS_HOST (127.0.0.1), ADDOK_REDIS_PORT (6379), ADDOK_REDIS_DB (indexes; documents in
    the next database; default 4)

Use: ADDOK_CONFIG_MODULE=addok/maillage_addok.py .venv-addok/bin/addok batch FILE.ndjson, then
`addok ngrams`, then serve `addok.http.wsgi:application` (docs/addok.md). Queries are never logged.
"""

import os
from pathlib import Path

import addok_fr

_DB = int(os.environ.get("ADDOK_REDIS_DB", "4"))
REDIS = {
    "host": os.environ.get("ADDOK_REDIS_HOST", "127.0.0.1"),
    "port": int(os.environ.get("ADDOK_REDIS_PORT", "6379")),
    "indexes": {"db": _DB},
    "documents": {"db": _DB + 1},
}
SYNONYMS_PATHS = [str(Path(addok_fr.__file__).parent / "resources" / "synonyms.txt")]
EXTRA_FIELDS = [{"key": "citycode"}]
FILTERS = ["type", "citycode", "postcode"]
QUERY_PROCESSORS_PYPATHS = [
    "addok.helpers.text.check_query_length",
    "addok_france.extract_address",
    "addok_france.clean_query",
    "addok_france.remove_leading_zeros",
]
SEARCH_RESULT_PROCESSORS_PYPATHS = [
    "addok.helpers.results.match_housenumber",
    "addok_france.make_labels",
    "addok.helpers.results.score_by_importance",
    "addok.helpers.results.score_by_autocomplete_distance",
    "addok.helpers.results.score_by_str_distance",
    "addok.helpers.results.score_by_geo_distance",
    "addok.helpers.results.adjust_scores",
]
PROCESSORS_PYPATHS = [
    "addok.helpers.text.tokenize",
    "addok.helpers.text.normalize",
    "addok_france.glue_ordinal",
    "addok_france.fold_ordinal",
    "addok_france.flag_housenumber",
    "addok.helpers.text.synonymize",
    "addok_fr.phonemicize",
]
# Privacy: a looked-up address is never written anywhere (addok's defaults, stated).
LOG_QUERIES = False
LOG_NOT_FOUND = False
