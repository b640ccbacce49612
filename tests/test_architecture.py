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
