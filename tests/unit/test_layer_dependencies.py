"""What the Lambda functions can import is what the layer ships: the runtime dependencies of pyproject.toml and
their locked closure (``uv export --no-dev``, as scripts/build_layer.py builds the layer). A function module that
imported a development-only package (PyJWT, moto, requests…) would pass every test here and fail in Lambda."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

from scripts import build_layer

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "layers" / "shared" / "python" / "wiresocket"
NOT_IN_LAMBDA = ("local", "client", "cli.py")  # the local stack and the operator CLI: never loaded by a handler


def _imported_top_levels(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return names


def _lambda_sources() -> list[Path]:
    sources = [p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] not in NOT_IN_LAMBDA]
    return sources + sorted((REPO / "functions").glob("*/handler.py"))


def _layer_distributions() -> set[str]:
    uv = REPO / ".tools" / "bin" / "uv"
    exported = subprocess.run(
        build_layer.export_command(str(uv)), capture_output=True, text=True, check=True, cwd=REPO
    ).stdout
    found = re.findall(r"^([A-Za-z0-9_.\-]+)==", exported, flags=re.MULTILINE)
    return {re.sub(r"[-_.]+", "-", name).lower() for name in found}


def test_every_third_party_import_of_the_functions_is_shipped_in_the_layer() -> None:
    # Given every module a function can load, and the distributions the layer is built from
    shipped = _layer_distributions()
    providers = importlib.metadata.packages_distributions()
    missing: dict[str, list[str]] = {}
    for source in _lambda_sources():
        for name in _imported_top_levels(source):
            if name in sys.stdlib_module_names or name in {"wiresocket", "__future__"}:
                continue
            distributions = {re.sub(r"[-_.]+", "-", d).lower() for d in providers.get(name, [name])}
            if not distributions & shipped:
                missing.setdefault(name, []).append(str(source.relative_to(REPO)))
    # Then each comes with the layer (mypy_boto3_* only appears under TYPE_CHECKING)
    assert {k: v for k, v in missing.items() if not k.startswith("mypy_boto3_")} == {}
    assert "pyjwt" not in shipped  # development only since no function signs or verifies with it
