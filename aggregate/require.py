"""Fail a workflow job clearly when the entry point it calls has not been written yet.

    python -m aggregate.require MODULE [MODULE ...]

Exit 0 when every module can be imported; otherwise print "not built yet: ..." and exit 3,
so a target whose pieces are missing fails instead of producing an empty table.
"""
from __future__ import annotations

import sys

from aggregate.spec import entry_points, missing_entry_points


def describe(module: str) -> str:
    known = entry_points()
    if module in known:
        return known[module]
    if module.startswith("studies."):
        return f"the study {module.split('.', 1)[1]}"
    return "a workflow entry point"


def main(argv: list[str] | None = None) -> int:
    modules = sys.argv[1:] if argv is None else argv
    if not modules:
        print("usage: python -m aggregate.require MODULE [MODULE ...]", file=sys.stderr)
        return 2
    missing = missing_entry_points(modules)
    for name in missing:
        print(f"not built yet: {name} ({describe(name)}) is missing, so this target cannot be made "
              "in this checkout", file=sys.stderr)
    return 3 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
