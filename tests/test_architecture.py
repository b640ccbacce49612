"""The layout holds: the domain imports no shell (docs/ARCHITECTURE.md)."""

import subprocess
import sys

from app.config import PROJECT_ROOT

SHELLS = ("app/web", "app/cli", "app/migrations")


def domain_modules() -> list[str]:
    """Every module of the domain: app/ without its shells (the web, the command line) and the
    Alembic scripts, found on disk so that a new module is checked without being listed here."""
    out = []
    for path in sorted((PROJECT_ROOT / "app").rglob("*.py")):
        relative = path.relative_to(PROJECT_ROOT).as_posix()
        if relative.startswith(SHELLS):
            continue
        out.append(relative.removesuffix(".py").removesuffix("/__init__").replace("/", "."))
    return out


def test_importing_the_domain_loads_neither_flask_nor_click_nor_the_importers():
    """Every CLI command, importer and benchmark imports the domain: it must not drag the web
    framework (Flask, Werkzeug), the command-line toolkit (click) or the importers, which sit
    above it, into the process."""
    modules = domain_modules()
    assert "app.lookup" in modules and "app.geocoding.local" in modules
    shells = ("flask", "werkzeug", "click", "importers")
    code = (f"import sys\nfor name in {modules!r}:\n    __import__(name)\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {shells!r}))")
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", result.stdout


def raised_codes() -> dict[str, list[str]]:
    """Every error code the code base can raise or answer, with where: `code="…"` in a call
    (InvalidInput(…, code="unknown-kind")), `code = "…"` in an error class, the code given to
    app.web.errors.problem or declared by an API model's Refusal (app/web/api/models.py, with the
    (code, message) pairs of its by_type), and the HTTP errors' codes."""
    import ast

    from app.web.errors import HTTP_CODES

    found: dict[str, list[str]] = {code: ["app/web/errors.py HTTP_CODES"] for code in HTTP_CODES.values()}
    for path in sorted([*(PROJECT_ROOT / "app").rglob("*.py"), *(PROJECT_ROOT / "importers").rglob("*.py")]):
        where = path.relative_to(PROJECT_ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            values = []
            if isinstance(node, ast.Call):
                values += [k.value for k in node.keywords if k.arg == "code"]
                name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
                if name in ("problem", "Refusal") and node.args:
                    values.append(node.args[0])
                if name == "Refusal":
                    values += [pair.elts[0] for k in node.keywords if k.arg == "by_type" and isinstance(k.value, ast.Dict)
                               for pair in k.value.values if isinstance(pair, ast.Tuple)]
            elif isinstance(node, ast.ClassDef):
                values += [stmt.value for stmt in node.body if isinstance(stmt, ast.Assign)
                           and any(isinstance(t, ast.Name) and t.id == "code" for t in stmt.targets)]
            for value in values:
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    found.setdefault(value.value, []).append(f"{where}:{value.lineno}")
    return found


def test_every_error_code_raised_is_registered_and_every_registered_code_is_raised():
    """One registry (app.errors.ERRORS: code → HTTP status, French title) for every problem the
    API answers: a code raised without a title gave "Erreur" and a code outside the published
    schema; a registered code nothing raises is a dead entry in the API docs."""
    from app.errors import ERRORS

    raised = raised_codes()
    assert "invalid-coordinates" in raised and "import-rejected" in raised and "empty-address" in raised
    unregistered = {code: where for code, where in raised.items() if code not in ERRORS}
    assert not unregistered, unregistered
    assert not set(ERRORS) - set(raised), sorted(set(ERRORS) - set(raised))


def test_the_published_problem_codes_are_the_registry():
    from app.errors import ERRORS
    from app.web.api.openapi import openapi_document

    problem = openapi_document()["components"]["schemas"]["Problem"]
    assert problem["properties"]["code"]["enum"] == sorted(ERRORS)


def architecture_tree() -> dict[str, str]:
    """docs/ARCHITECTURE.md's layout: path → what it owns, from the first code block after
    "## Layout" (two spaces of indent per level, folders ending with "/")."""
    text = (PROJECT_ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    entries, parents = {}, []
    for line in block.splitlines():
        if not line.strip():
            continue
        depth = (len(line) - len(line.lstrip(" "))) // 2
        name, _, says = line.strip().partition(" ")
        parents[depth:] = [name]
        entries["".join(parents)] = says.strip()
    return entries


def test_the_architecture_page_lists_every_module_and_only_modules_that_exist():
    entries = architecture_tree()
    assert "app/lookup/candidates.py" in entries and "importers/base.py" in entries
    missing = [path for path in entries if not (PROJECT_ROOT / path).exists()]
    assert not missing, f"listed in docs/ARCHITECTURE.md but absent: {missing}"
    unsaid = [path for path, says in entries.items() if not says]
    assert not unsaid, f"listed without saying what it owns: {unsaid}"
    modules = [path.relative_to(PROJECT_ROOT).as_posix()
               for folder in ("app", "importers") for path in sorted((PROJECT_ROOT / folder).rglob("*.py"))]
    unlisted = [m for m in modules if m not in entries and not m.startswith("app/migrations/versions/")]
    assert not unlisted, f"modules docs/ARCHITECTURE.md does not list: {unlisted}"
