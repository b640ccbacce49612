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


def test_dev_sh_computes_its_lock_digest_for_demo_and_test():
    """`bash dev.sh demo` once stopped silently under set -e: the digest for a non-test install ended
    with a false `[ … ]`. CI only runs `dev.sh test`, so the demo path is checked here."""
    import subprocess

    demo = subprocess.run(["bash", "dev.sh", "lock-digest"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    test = subprocess.run(["bash", "dev.sh", "lock-digest", "test"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert demo.returncode == 0 and test.returncode == 0, demo.stderr + test.stderr
    assert "pysqlite3==" in demo.stdout and "pytest==" not in demo.stdout
    assert "pytest==" in test.stdout


def test_module_paths_and_names_the_docs_give_exist():
    """README.md and docs/ name modules (`app/lookup/`, `app.partners.registry.upsert_partner`):
    after a module moves, every such name must still lead somewhere."""
    import importlib
    import re

    texts = {"README.md": README, **{f"docs/{p.name}": p.read_text(encoding="utf-8")
                                     for p in (PROJECT_ROOT / "docs").rglob("*.md")}}
    wrong = []
    for where, text in texts.items():
        for path in re.findall(r"`((?:app|importers)/[\w/.-]*)`", text):
            if not (PROJECT_ROOT / path).exists():
                wrong.append(f"{where}: {path}")
        for dotted in re.findall(r"`((?:app|importers)(?:\.\w+)+)`", text):
            parts = dotted.split(".")
            for cut in range(len(parts), 0, -1):
                try:
                    target = importlib.import_module(".".join(parts[:cut]))
                except ImportError:
                    continue
                for attribute in parts[cut:]:
                    target = getattr(target, attribute, None)
                if target is None:
                    wrong.append(f"{where}: {dotted}")
                break
            else:
                wrong.append(f"{where}: {dotted}")
    assert not wrong, wrong
