"""The README stays true: every CLI command, setting and importer is named in it."""

import click

from app.cli import main
from app.config import ENV_NAMES, PROJECT_ROOT
from importers import IMPORTERS

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")


def commands(group: click.Group, prefix="maillage"):
    for name, command in group.commands.items():
        yield f"{prefix} {name}"
        if isinstance(command, click.Group):
            yield from commands(command, f"{prefix} {name}")


def test_every_cli_command_is_documented():
    missing = [c for c in commands(main) if f"`{c}" not in README]
    assert not missing, missing


def test_every_setting_is_documented():
    missing = [env for env in ENV_NAMES.values() if f"`{env}`" not in README]
    assert not missing, missing


def test_every_importer_is_documented():
    missing = [name for name in IMPORTERS if f"`{name}`" not in README]
    assert not missing, missing


def test_readme_starts_with_the_two_commands():
    head = README[:1500]
    assert "bash dev.sh demo" in head and "bash dev.sh test" in head
    assert (PROJECT_ROOT / ".ci" / "run").read_text().strip().endswith("exec bash dev.sh test")
