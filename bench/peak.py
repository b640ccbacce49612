"""Run `maillage ARGS…` in this process and write its peak memory (VmHWM, MB) to OUT.

ru_maxrss from wait4 is useless for a child of a big benchmark process: on Linux the child
inherits the parent's high-water mark at fork. VmHWM, read by the process itself after exec,
counts only its own memory.

    python bench/peak.py OUT.txt import finess FILE
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def peak_mb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return -1


def main() -> int:
    out, args = sys.argv[1], sys.argv[2:]
    from app.cli import main as cli

    code = 0
    try:
        cli.main(args=args, prog_name="maillage", standalone_mode=False)
    except SystemExit as exc:
        code = exc.code or 0
    except Exception as exc:  # click.ClickException and the like: print as the CLI would
        print(getattr(exc, "message", None) or exc, file=sys.stderr)
        code = 1
    finally:
        Path(out).write_text(str(peak_mb()))
    return code


if __name__ == "__main__":
    sys.exit(main())
