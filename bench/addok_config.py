# addok configuration of the BAN production service (addok-fr + addok-france), for the benchmarks;
# REDIS_PORT is replaced by the private Redis server's port.
REDIS = {"host": "127.0.0.1", "port": REDIS_PORT, "indexes": {"db": 0}, "documents": {"db": 1}}
import addok_fr
from pathlib import Path
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
