"""CDK entry point: ``cdk synth`` / ``cdk deploy`` run this file (see ``cdk.json``).

Context (``cdk.json`` or ``-c``): ``regions`` (license regions, list or comma-separated; default
``aws-eu-west-1``), ``primaryRegion`` (default: the first region), optionally ``account`` (default:
``CDK_DEFAULT_ACCOUNT``, else left unresolved: the template works in any account) and ``issuerBase`` (the
public https URL of the control plane; default: the REST API's own URL in the global stack; the regional
stacks need it given, see docs/deploy.md) and ``masterKeyArns`` (the two master-key slots' ARNs, the global
stack's ``MasterKeySlotArns`` output: the regional stacks then replicate both slots).

One global stack (``WireSocketGlobal``, primary region) and one regional stack per deployed license region
(``WireSocketRegion-<aws region>``). The global stack depends on every regional stack: its directory replicas
are encrypted with the regional keys, which must exist first. Nothing crosses regions by reference (CDK
forbids it): resources of other regions are named (``cdk/constructs/regional_access.py``).

The Lambda layer asset is ``build/layer`` (run ``make layer`` first, which needs PyPI). Without it the app
falls back to ``layers/shared``, i.e. the ``wiresocket`` package *without* its third-party dependencies:
fine for synth and tests, not for a deployment, so a warning is printed.

Every synth runs the cdk-nag AwsSolutions checks; an unacknowledged finding fails the synth. ``main`` also
refuses to synthesize while a control-plane route targets a function the global stack does not deploy.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

_CDK_DIR = Path(__file__).resolve().parent
REPO_ROOT = _CDK_DIR.parent
# Run as a script, this directory would be sys.path[0], and our `cdk/constructs/` package would shadow the
# `constructs` library. Import everything through the repository root instead (`cdk.constructs...`).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _CDK_DIR]
for _path in (REPO_ROOT, REPO_ROOT / "layers" / "shared" / "python"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import aws_cdk  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402

from cdk.context import (  # noqa: E402
    CONTEXT_ACCOUNT,
    CONTEXT_ISSUER_BASE,
    CONTEXT_MASTER_KEY_ARNS,
    CONTEXT_PRIMARY_REGION,
    CONTEXT_REGIONS,
    DeploymentContext,
)
from cdk.stacks.global_stack import GlobalStack, GlobalStackProps  # noqa: E402
from cdk.stacks.regional_stack import RegionalStack, RegionalStackProps, regional_stack_name  # noqa: E402

GLOBAL_STACK_NAME = "WireSocketGlobal"
BUILT_LAYER = REPO_ROOT / "build" / "layer"
SOURCE_LAYER = REPO_ROOT / "layers" / "shared"
FUNCTIONS_ROOT = REPO_ROOT / "functions"
CDK_JSON = REPO_ROOT / "cdk.json"


class BuiltApp(NamedTuple):
    """The app and its stacks, for ``main`` and for the infrastructure tests."""

    app: aws_cdk.App
    global_stack: GlobalStack
    regional_stacks: dict[str, RegionalStack]
    """License region -> its regional stack."""


def cdk_json_context(path: Path = CDK_JSON) -> dict[str, Any]:
    """The ``context`` block of ``cdk.json`` (feature flags and deployment defaults)."""
    document = json.loads(path.read_text(encoding="utf-8"))
    context = document.get("context", {})
    if not isinstance(context, dict):
        raise TypeError(f"{path}: 'context' must be an object")
    return context


def default_layer_asset() -> Path:
    """``build/layer`` if it was built, else ``layers/shared`` (with a warning: no third-party packages)."""
    if (BUILT_LAYER / "python" / "wiresocket").is_dir():
        return BUILT_LAYER
    print(
        f"warning: {BUILT_LAYER} not found (run `make layer`); using {SOURCE_LAYER} as the layer asset, "
        "which lacks the runtime dependencies. Do not deploy this synth.",
        file=sys.stderr,
    )
    return SOURCE_LAYER


def build_app(
    *,
    context: Mapping[str, Any] | None = None,
    outdir: str | None = None,
    layer_asset_path: Path | None = None,
    nag: bool = True,
) -> BuiltApp:
    """Build the app; ``context`` is the base the CLI's context (``-c``, ``cdk.json``) overrides."""
    app = aws_cdk.App(context=dict(context or {}), outdir=outdir)
    deployment = DeploymentContext.from_values(
        regions=app.node.try_get_context(CONTEXT_REGIONS),
        primary_region=app.node.try_get_context(CONTEXT_PRIMARY_REGION),
        issuer_base=app.node.try_get_context(CONTEXT_ISSUER_BASE),
        master_key_arns=app.node.try_get_context(CONTEXT_MASTER_KEY_ARNS),
    )
    account = app.node.try_get_context(CONTEXT_ACCOUNT) or os.environ.get("CDK_DEFAULT_ACCOUNT") or None
    if account is not None and not (isinstance(account, str) and account.isdigit() and len(account) == 12):
        raise ValueError(f"context '{CONTEXT_ACCOUNT}' must be a 12-digit AWS account id")
    layer = layer_asset_path or default_layer_asset()
    global_stack = GlobalStack(
        app,
        GLOBAL_STACK_NAME,
        props=GlobalStackProps(
            context=deployment, layer_asset_path=layer, functions_root=FUNCTIONS_ROOT, account=account
        ),
    )
    regional_stacks = {
        region: RegionalStack(
            app,
            regional_stack_name(region),
            props=RegionalStackProps(
                context=deployment,
                license_region=region,
                layer_asset_path=layer,
                functions_root=FUNCTIONS_ROOT,
                account=account,
            ),
        )
        for region in deployment.regions
    }
    for regional_stack in regional_stacks.values():
        global_stack.add_stack_dependency(regional_stack, "directory replicas are encrypted with the regional keys")
    aws_cdk.Tags.of(app).add("project", "wiresocket")
    if nag:
        aws_cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return BuiltApp(app=app, global_stack=global_stack, regional_stacks=regional_stacks)


def deployment_errors(built: BuiltApp) -> list[str]:
    """Why the app must not be synthesized for a deployment (empty when it may be)."""
    return [
        f"route {route.method} {route.resource} targets function {route.function!r}, which the global stack "
        "does not deploy: add the function (and its grants) to cdk/stacks/global_stack.py"
        for route in built.global_stack.control_api.unrouted
    ]


def main() -> int:
    """Synthesize with ``cdk.json``'s context as the base (so a bare ``python cdk/app.py`` behaves the same).

    Refuses (exit status 1) while ``deployment_errors`` reports anything. With the cdk-nag plugin
    registered, any unacknowledged finding raises in ``synth``, so the synth, and ``cdk deploy``, stop.
    """
    built = build_app(context=cdk_json_context())
    if built.app.node.try_get_context(CONTEXT_ISSUER_BASE) is None:
        print(
            "warning: context 'issuerBase' is not set: the regional ws_connect functions refuse every token until "
            "it is. Deploy, then redeploy with -c issuerBase=<the global stack's ControlPlaneUrl output> "
            "(docs/deploy.md).",
            file=sys.stderr,
        )
    errors = deployment_errors(built)
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    if errors:
        return 1
    built.app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
