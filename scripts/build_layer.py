"""Build the Lambda layer asset into ``build/layer/python/`` (what ``make layer`` runs; needs PyPI).

1. Export the runtime dependencies, exactly as locked, from ``uv.lock``
   (``uv export --frozen --no-dev --no-emit-project --no-hashes``).
2. Install them for the Lambda platform, from wheels only, never building from source and without Docker:
   ``uv pip install --target build/layer/python --python-platform <arch>-manylinux_2_34
   --python-version 3.13 --only-binary :all: --no-deps`` -- the equivalent of ``pip install --platform
   manylinux_2_34_<arch> --only-binary=:all: --python-version 3.13 --implementation cp``, but with
   environment markers evaluated for the *target* interpreter and platform (pip evaluates them for the
   interpreter running it), and usable from this project's environment, which has no pip.
   ``manylinux_2_34`` (not 2014): the python3.12+ runtimes run on Amazon Linux 2023 (glibc 2.34), and some
   locked wheels (argon2-cffi-bindings 26) are only published for newer manylinux tags; uv accepts every
   tag up to 2.34. ``--no-deps``: the export already is the complete locked closure; nothing is resolved
   again.
3. Copy the ``wiresocket`` package from ``layers/shared/python`` (without ``local/``, the developer-only
   stack runner, and without bytecode caches).
4. Compile the whole layer to bytecode *with the runtime's interpreter* (``uv run --no-project --python
   3.13 -- python -m compileall --invalidation-mode unchecked-hash``; uv finds or fetches a 3.13). ``.pyc``
   files are specific to the minor version (magic number, ``cpython-313`` tag), so this project's 3.11 could
   not produce them; and ``/opt`` is read-only in Lambda, so a layer without them compiles every module from
   source at *every* cold start (the ``cold_start`` benchmark's ``no_bytecode`` figures). ``unchecked-hash``:
   the layer is immutable and zip archives do not keep modification times exactly, so the ``.pyc`` must be
   used without comparing it to its source. A file that does not compile (a stray test of some wheel) only
   gets a warning: it is compiled at import, as before. ``--no-bytecode`` skips the step.

The CDK app picks ``build/layer`` up automatically (``cdk/app.py``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Final

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
DEFAULT_OUT: Final = REPO_ROOT / "build" / "layer"
PACKAGE_SOURCE: Final = REPO_ROOT / "layers" / "shared" / "python" / "wiresocket"

PYTHON_VERSION: Final = "3.13"
"""Must equal the functions' runtime (``cdk.constructs.function.RUNTIME``); a test holds the two together."""

PLATFORMS: Final = {"arm64": "aarch64-manylinux_2_34", "x86_64": "x86_64-manylinux_2_34"}
"""Lambda architecture -> uv ``--python-platform`` (glibc 2.34: Amazon Linux 2023, the python3.13 OS)."""

DEFAULT_ARCH: Final = "arm64"
EXCLUDED_FROM_PACKAGE: Final = ("local", "__pycache__", "*.pyc")


def find_uv() -> str:
    """The project's pinned uv (``.tools/bin/uv``, installed by ``make``), else ``uv`` on ``PATH``."""
    pinned = REPO_ROOT / ".tools" / "bin" / "uv"
    if pinned.is_file() and os.access(pinned, os.X_OK):
        return str(pinned)
    found = shutil.which("uv")
    if found is None:
        raise SystemExit("uv not found: run `make install` first")
    return found


def export_command(uv: str) -> list[str]:
    """The command printing the locked runtime dependencies as a requirements file."""
    return [uv, "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes", "--format", "requirements-txt"]


def install_command(uv: str, requirements: Path, target: Path, arch: str) -> list[str]:
    """The command installing ``requirements`` into ``target`` as Lambda-platform wheels."""
    return [
        uv,
        "pip",
        "install",
        "--quiet",
        "--target",
        str(target),
        "--python-platform",
        PLATFORMS[arch],
        "--python-version",
        PYTHON_VERSION,
        "--only-binary",
        ":all:",
        "--no-deps",
        "--requirement",
        str(requirements),
    ]


def compile_command(uv: str, site: Path) -> list[str]:
    """The command compiling every module of ``site`` to bytecode with the runtime's Python version."""
    return [
        uv,
        "run",
        "--no-project",
        "--python",
        PYTHON_VERSION,
        "--",
        "python",
        "-m",
        "compileall",
        "-q",
        "-j",
        "0",
        "--invalidation-mode",
        "unchecked-hash",
        str(site),
    ]


def build(out: Path, arch: str, *, bytecode: bool = True) -> Path:
    """Build the layer into ``out`` (replacing it) and return ``out``."""
    uv = find_uv()
    site = out / "python"
    if out.exists():
        shutil.rmtree(out)
    site.mkdir(parents=True)
    # Fixed argument lists (no shell), built from constants and our own paths.
    exported = subprocess.run(  # noqa: S603
        export_command(uv), cwd=REPO_ROOT, check=True, capture_output=True, text=True
    )
    with tempfile.TemporaryDirectory() as scratch:
        requirements = Path(scratch) / "requirements.txt"
        requirements.write_text(exported.stdout, encoding="utf-8")
        subprocess.run(install_command(uv, requirements, site, arch), cwd=REPO_ROOT, check=True)  # noqa: S603
    shutil.rmtree(site / "bin", ignore_errors=True)  # console scripts of the wheels: useless in a layer
    shutil.copytree(PACKAGE_SOURCE, site / "wiresocket", ignore=shutil.ignore_patterns(*EXCLUDED_FROM_PACKAGE))
    if bytecode:
        compiled = subprocess.run(compile_command(uv, site), cwd=REPO_ROOT, check=False)  # noqa: S603
        if compiled.returncode != 0:
            print("warning: some files did not compile; they are compiled at import", file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--arch", choices=sorted(PLATFORMS), default=DEFAULT_ARCH)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--no-bytecode", action="store_true", help=f"do not compile with python{PYTHON_VERSION}")
    args = parser.parse_args(argv)
    out = build(args.out.resolve(), args.arch, bytecode=not args.no_bytecode)
    print(f"layer built in {out} for python{PYTHON_VERSION} {args.arch}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
