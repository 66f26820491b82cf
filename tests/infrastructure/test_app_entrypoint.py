"""``cdk/app.py`` as the CDK CLI runs it, and the layer build script that feeds it."""

from __future__ import annotations

import json
from pathlib import Path

from cdk.app import GLOBAL_STACK_NAME
from cdk.constructs.function import ARCHITECTURE, RUNTIME
from cdk.stacks.regional_stack import regional_stack_name
from scripts import build_layer
from tests.infrastructure.conftest import EntrypointSynth


def test_layer_build_targets_the_functions_runtime_and_architecture() -> None:
    assert f"python{build_layer.PYTHON_VERSION}" == RUNTIME.name
    assert ARCHITECTURE.name == build_layer.DEFAULT_ARCH
    assert build_layer.PLATFORMS[build_layer.DEFAULT_ARCH].startswith("aarch64-manylinux")


def test_layer_build_installs_only_locked_wheels_for_the_lambda_platform(tmp_path: Path) -> None:
    # No network here: only the commands are checked, not run.
    export = build_layer.export_command("uv")
    install = build_layer.install_command("uv", tmp_path / "requirements.txt", tmp_path / "python", "arm64")

    assert {"--frozen", "--no-dev", "--no-emit-project", "--no-hashes"} <= set(export)
    assert install[install.index("--only-binary") + 1] == ":all:"
    assert install[install.index("--python-version") + 1] == build_layer.PYTHON_VERSION
    assert "--no-deps" in install  # the export already is the whole locked closure


def test_cdk_app_synthesizes_with_cdk_nag_registered(entrypoint_synth: EntrypointSynth) -> None:
    # Given the entry point the CDK CLI runs (cdk.json "app"), with cdk-nag registered as a synth plugin
    # When it synthesizes from the repository root (started in the background when the suite began)
    returncode, output = entrypoint_synth.result(timeout=180)

    # Then no validation finding or error annotation stopped it, and the global stack and the regional stack of
    # cdk.json's one region were written
    assert returncode == 0, output
    report = json.loads((entrypoint_synth.outdir / "validation-report.json").read_text(encoding="utf-8"))
    assert report["pluginReports"] == [] or all(r["conclusion"] == "success" for r in report["pluginReports"])
    assert (entrypoint_synth.outdir / f"{GLOBAL_STACK_NAME}.template.json").is_file()
    assert (entrypoint_synth.outdir / f"{regional_stack_name('aws-eu-west-1')}.template.json").is_file()
