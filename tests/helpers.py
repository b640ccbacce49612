import datetime as dt

from app.lookup import lookup, parse_options


def answer(session, point, **filters):
    options = parse_options(session, today=dt.date(2026, 11, 28), **filters)
    return lookup(session, point[0], point[1], options)


def kind(result: dict, code: str) -> dict:
    matches = [k for k in result["kinds"] if k["kind"] == code]
    assert len(matches) == 1, f"kind {code} not in answer ({[k['kind'] for k in result['kinds']]})"
    return matches[0]


def names(entry: dict) -> list[str]:
    return [e["partner"]["name"] for e in entry["partners"]]


def refs(entry: dict, key: str = "partners") -> list[str]:
    return [e["partner"]["ref"] for e in entry[key]]


def import_file(conn, module, path, **options):
    from importers.base import run

    return run(conn, module.NAME, module.read, module.load, path, **options)


# The demo's reference: the communes and arrondissements of 75, 92, 93, 94 and of Rambouillet
# Territoires (importers/demo.py), counted by the tests that import over it.
DEMO_UNITS = 20 + 36 + 40 + 47 + 36


def demo_units(conn) -> int:
    from sqlalchemy import text

    return conn.execute(text("SELECT count(*) FROM territory WHERE level IN ('commune', 'arrondissement')")).scalar()
