"""Fixtures of the infrastructure suite: the real CDK app, synthesized once per test module.

The app is built exactly as ``cdk/app.py`` builds it, with ``cdk.json``'s context (feature flags included),
except for two things that keep the suite offline and its failures precise:

- the layer asset is ``layers/shared`` (``build/layer`` needs PyPI; the resources are the same), and
- cdk-nag is not registered as a synth plugin (it would abort the synth on the first finding and error
  every test); ``test_security_checks.py`` runs the same AwsSolutions pack over the same tree instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from aws_cdk import App, CfnElement
from aws_cdk.assertions import Template
from constructs import IConstruct

from cdk.app import SOURCE_LAYER, build_app, cdk_json_context
from cdk.stacks.global_stack import GlobalStack


@dataclass(frozen=True)
class SynthesizedApp:
    """The synthesized app, its global stack, and that stack's template (as assertions and as JSON)."""

    app: App
    stack: GlobalStack
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
        """The logical id of an L1 construct (``function.node.default_child``, ...) in the template."""
        return self.stack.get_logical_id(cast(CfnElement, construct))


def synthesize(outdir: Path) -> SynthesizedApp:
    """Build and synthesize the app into ``outdir`` (offline layer asset, nag run separately)."""
    built = build_app(context=cdk_json_context(), outdir=str(outdir), layer_asset_path=SOURCE_LAYER, nag=False)
    built.app.synth()
    template_path = outdir / built.global_stack.template_file
    template_json: dict[str, Any] = json.loads(template_path.read_text(encoding="utf-8"))
    return SynthesizedApp(
        app=built.app,
        stack=built.global_stack,
        template=Template.from_json(template_json),
        template_json=template_json,
        template_path=template_path,
    )


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    """The app, synthesized once for the whole test module."""
    return synthesize(tmp_path_factory.mktemp("cdk.out"))
