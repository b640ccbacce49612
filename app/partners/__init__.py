"""Partners: the kind catalogue, the registry (validation, upsert, matching across sources), the
one serialisation of a partner (card, summary, detail, record), availability at a date, compiled
coverage areas, inventory status and the directory."""
