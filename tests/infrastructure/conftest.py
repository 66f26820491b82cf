"""Fixtures of the infrastructure suite: the real CDK app, synthesized once per test run.

The app is built exactly as ``cdk/app.py`` builds it, with ``cdk.json``'s context (feature flags included) and
three license regions (``TEST_REGIONS``: one global stack in the primary region eu-west-1, three regional
stacks), except for two things that keep the suite offline and its failures precise:

- the layer asset is ``layers/shared`` (``build/layer`` needs PyPI; the resources are the same), and
- cdk-nag is not registered as a synth plugin (it would abort the synth on the first finding and error
  every test); ``test_security_checks.py`` runs the same AwsSolutions pack over the same tree instead.

The entry point itself (``cdk/app.py`` with cdk-nag registered, as the CDK CLI runs it) is synthesized in a
subprocess that starts with the suite's first test and runs alongside it; the test that checks its outcome
is moved to the end of the run, so the suite waits for it only once everything else is done.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from aws_cdk import App, CfnElement
from aws_cdk.assertions import Template
from constructs import IConstruct

from cdk.app import REPO_ROOT, SOURCE_LAYER, build_app, cdk_json_context
from cdk.stacks.global_stack import GlobalStack
from cdk.stacks.regional_stack import RegionalStack

TEST_REGIONS = ("aws-eu-west-1", "aws-us-east-1", "aws-ap-south-1")
"""The deployment the suite synthesizes: the first region is the primary one."""

TEST_MASTER_KEY_ARNS = (
    "arn:aws:kms:eu-west-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef",
    "arn:aws:kms:eu-west-1:111122223333:key/mrk-fedcba9876543210fedcba9876543210",
)
"""The second deploy's ``masterKeyArns`` context: the regional stacks then replicate both master-key slots."""


@dataclass(frozen=True)
class RegionalTemplate:
    """One regional stack and its synthesized template."""

    license_region: str
    stack: RegionalStack
    template: Template
    template_json: dict[str, Any]
    template_path: Path

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """Logical id -> resource, for every resource of ``resource_type``."""
        return {
            logical_id: resource
            for logical_id, resource in self.template_json["Resources"].items()
            if resource["Type"] == resource_type
        }

    def logical_id(self, construct: IConstruct | None) -> str:
        """The logical id of an L1 construct in this stack's template."""
        return self.stack.get_logical_id(cast(CfnElement, construct))


@dataclass(frozen=True)
class SynthesizedApp:
    """The synthesized app, its global stack, and that stack's template (as assertions and as JSON)."""

    app: App
    stack: GlobalStack
    template: Template
    template_json: dict[str, Any]
    template_path: Path
    regional: dict[str, RegionalTemplate]
    """License region -> its regional stack's template."""
    outdir: Path

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """Logical id -> resource, for every resource of ``resource_type``."""
        return {
            logical_id: resource
            for logical_id, resource in self.template_json["Resources"].items()
            if resource["Type"] == resource_type
        }

    def logical_id(self, construct: IConstruct | None) -> str:
        """The logical id of an L1 construct (``function.node.default_child``, ...) in the template."""
        return self.stack.get_logical_id(cast(CfnElement, construct))


def synthesize(outdir: Path) -> SynthesizedApp:
    """Build and synthesize the app into ``outdir`` (offline layer asset, nag run separately)."""
    context = {
        **cdk_json_context(),
        "regions": ",".join(TEST_REGIONS),
        "masterKeyArns": ",".join(TEST_MASTER_KEY_ARNS),
    }
    context.pop("primaryRegion", None)
    built = build_app(context=context, outdir=str(outdir), layer_asset_path=SOURCE_LAYER, nag=False)
    built.app.synth()
    template_path = outdir / built.global_stack.template_file
    template_json: dict[str, Any] = json.loads(template_path.read_text(encoding="utf-8"))
    regional: dict[str, RegionalTemplate] = {}
    for region, stack in built.regional_stacks.items():
        path = outdir / stack.template_file
        document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        regional[region] = RegionalTemplate(region, stack, Template.from_json(document), document, path)
    return SynthesizedApp(
        app=built.app,
        stack=built.global_stack,
        template=Template.from_json(template_json),
        template_json=template_json,
        template_path=template_path,
        regional=regional,
        outdir=outdir,
    )


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    """The app, synthesized once for the whole run (every test only reads it; a synth costs seconds)."""
    return synthesize(tmp_path_factory.mktemp("cdk.out"))


class EntrypointSynth:
    """``cdk/app.py`` run as the CDK CLI runs it (``cdk.json`` context, cdk-nag registered), in a subprocess."""

    def __init__(self, outdir: Path) -> None:
        self.outdir = outdir
        environment = {**os.environ, "CDK_OUTDIR": str(outdir), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
        # Output goes to files, not pipes: nobody reads a pipe while the synth runs, and a full one would block it.
        self._output = (outdir.parent / f"{outdir.name}.log").open("w+", encoding="utf-8")
        self._process = subprocess.Popen(
            [sys.executable, str(REPO_ROOT / "cdk" / "app.py")],
            cwd=REPO_ROOT,
            env=environment,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def result(self, timeout: float) -> tuple[int, str]:
        """Wait for the synth; its exit status and its output."""
        returncode = self._process.wait(timeout=timeout)
        self._output.seek(0)
        return returncode, self._output.read()

    def stop(self) -> None:
        """End the subprocess if it is still running (its test was not selected, or failed early)."""
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._output.close()


@pytest.fixture(scope="session")
def entrypoint_synth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EntrypointSynth]:
    """The entry point's synth, started once; ``result()`` waits for it."""
    synth = EntrypointSynth(tmp_path_factory.mktemp("cdk.out.entrypoint"))
    yield synth
    synth.stop()


def _uses_entrypoint_synth(item: pytest.Item) -> bool:
    return "entrypoint_synth" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the tests that wait for the entry point's synth last (stable order otherwise)."""
    items.sort(key=_uses_entrypoint_synth)


@pytest.fixture(scope="session", autouse=True)
def _start_entrypoint_synth_early(request: pytest.FixtureRequest) -> None:
    """Start the entry point's synth with the suite's first test, if any selected test will wait for it."""
    if any(_uses_entrypoint_synth(item) for item in request.session.items):
        request.getfixturevalue("entrypoint_synth")
