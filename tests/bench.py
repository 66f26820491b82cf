"""``python -m tests.bench`` (``make bench``): run every ``tests/bench_*.py`` and print one JSON line per result.

Each benchmark module defines ``benchmarks() -> Iterable[dict]`` yielding results shaped
``{"name", "unit", "value", "baseline", "ratio", "target"}`` (SPEC §10): ``baseline`` is measured in the same
run, ``ratio = value / baseline``; informational results carry ``null`` baseline, ratio and target.
Progress and diagnostics go to stderr, so stdout holds only the JSON lines.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any


def main(argv: list[str] | None = None) -> int:
    """Run the selected (default: all) benchmark modules; exit 1 if one failed to run."""
    selected = set(argv if argv is not None else sys.argv[1:])
    failed = False
    for path in sorted(Path(__file__).parent.glob("bench_*.py")):
        if selected and path.stem not in selected and path.stem.removeprefix("bench_") not in selected:
            continue
        module = importlib.import_module(f"tests.{path.stem}")
        print(f"# running {path.stem}", file=sys.stderr, flush=True)
        try:
            for result in module.benchmarks():
                print(json.dumps(_checked(result)), flush=True)
        except Exception as exc:  # one broken benchmark must not hide the others
            print(f"# {path.stem} failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            failed = True
    return 1 if failed else 0


def _checked(result: dict[str, Any]) -> dict[str, Any]:
    keys = ("name", "unit", "value", "baseline", "ratio", "target")
    missing = [k for k in keys if k not in result]
    if missing:
        raise ValueError(f"benchmark result {result.get('name')!r} lacks {missing}")
    return {k: result[k] for k in keys} | {k: v for k, v in result.items() if k not in keys}


if __name__ == "__main__":
    raise SystemExit(main())
