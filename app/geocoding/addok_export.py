"""BAN addresses as addok documents, for a self-hosted addok (MAILLAGE_GEOCODERS=ban-api).

`maillage export addok FILE.ndjson[.gz]` writes the addresses imported with `maillage import ban`
in the layout of the BAN's own addok exports: one `street` document per street of a commune with
its house numbers (position and BAN id each), one `municipality` document per commune. addok then
indexes them (`addok batch`, `addok ngrams`: docs/addok.md), so both geocoders answer from the same
BAN file.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session


def _median(values: list[float]) -> float:
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def documents(rows):
    """addok documents from BAN rows (dicts with the BAN CSV's id, numero, rep, nom_voie,
    code_postal, code_insee, nom_commune, lon, lat; numero None or "99999" for no number),
    grouped by commune: rows must come commune by commune."""
    streets: dict[str, dict] = {}
    town: dict | None = None

    def flush():
        for doc in streets.values():
            lons, lats = doc.pop("_lon"), doc.pop("_lat")
            doc["lon"], doc["lat"] = _median(lons), _median(lats)
            yield doc
        if town is not None:
            lons, lats = town.pop("_lon"), town.pop("_lat")
            town["lon"], town["lat"] = _median(lons), _median(lats)
            yield town

    for row in rows:
        code = row["code_insee"]
        if town is None or town["citycode"] != code:
            yield from flush()
            streets = {}
            town = {"id": code, "type": "municipality", "name": row["nom_commune"], "postcode": row["code_postal"],
                    "citycode": code, "city": row["nom_commune"], "importance": 1.0, "_lon": [], "_lat": []}
        doc = streets.get(row["nom_voie"])
        if doc is None:
            doc = streets[row["nom_voie"]] = {
                "id": f"{code}_v{len(streets) + 1:05d}", "type": "street", "name": row["nom_voie"],
                "postcode": row["code_postal"], "citycode": code, "city": row["nom_commune"], "importance": 0.5,
                "housenumbers": {}, "_lon": [], "_lat": []}
        lon, lat = float(row["lon"]), float(row["lat"])
        doc["_lon"].append(lon)
        doc["_lat"].append(lat)
        town["_lon"].append(lon)
        town["_lat"].append(lat)
        numero = row["numero"]
        if numero not in (None, "", "99999"):
            number = f"{numero}{' ' + row['rep'] if row['rep'] else ''}"
            doc["housenumbers"][number] = {"lon": lon, "lat": lat, "id": row["id"]}
    yield from flush()


def export(session: Session, path: Path) -> int:
    """Write every stored address as addok documents (gzipped when the name ends in .gz); returns
    the number of documents."""
    result = session.execute(text(
        "SELECT id, numero, rep, nom_voie, code_postal, code_insee, nom_commune, lon, lat FROM address "
        "ORDER BY code_insee, nom_voie, numero, rep").execution_options(yield_per=20000))
    keys = ("id", "numero", "rep", "nom_voie", "code_postal", "code_insee", "nom_commune", "lon", "lat")
    opener = gzip.open if path.suffix == ".gz" else open
    count = 0
    with opener(path, "wt", encoding="utf-8") as out:
        for doc in documents(dict(zip(keys, row)) for row in result):
            out.write(json.dumps(doc, ensure_ascii=False) + "\n")
            count += 1
    return count
