"""A WireSocket Lambda function: thin handler code, the shared layer, and exactly its settings' variables.

The environment is derived from the function's settings model (``wiresocket.config.FUNCTION_SETTINGS``):
every variable the model declares is set, nothing else is. Values come from ``resource_values`` (names and
ARNs of deployed resources) or, failing that, from the model's own default; a variable with neither fails
the synth instead of the first cold start.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations, aws_iam, aws_lambda, aws_logs
from constructs import Construct

from wiresocket.config import FUNCTION_SETTINGS

RUNTIME: Final = aws_lambda.Runtime.PYTHON_3_13
"""One runtime for every function and the layer; ``scripts/build_layer.py`` builds for the same version."""

RUNTIME_PIN_REASON: Final = (
    "Runtime pinned on purpose to python3.13, a Lambda runtime in standard support: the layer's native "
    "wheels (cryptography, argon2-cffi-bindings) are built by scripts/build_layer.py for exactly this "
    "CPython version, so the function and layer runtimes are upgraded together in one reviewed change "
    "(the RUNTIME constant), never implicitly."
)

ARCHITECTURE: Final = aws_lambda.Architecture.ARM_64
HANDLER: Final = "handler.handler"
CODE_EXCLUDES: Final = ("**/__pycache__", "**/*.pyc", "tests")


def settings_environment(function_name: str, resource_values: Mapping[str, str]) -> dict[str, str]:
    """The environment of ``function_name``: each variable of its settings model, mapped to its value."""
    try:
        model = FUNCTION_SETTINGS[function_name]
    except KeyError:
        raise KeyError(f"function {function_name!r} has no settings model in wiresocket.config") from None
    environment: dict[str, str] = {}
    for field in dataclasses.fields(model):
        variable: str = field.metadata["env"]
        if variable in resource_values:
            environment[variable] = resource_values[variable]
        elif field.default is not dataclasses.MISSING:
            environment[variable] = str(field.default)
        else:
            raise KeyError(f"{function_name}: no value for required variable {variable}")
    return environment


class ServiceFunction(Construct):
    """One function from ``functions/<name>/`` with its own role, log group and settings environment.

    The role starts empty apart from writing to the function's own log group; every other permission is
    granted explicitly by the construct that owns the resource.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        functions_root: Path,
        layer: aws_lambda.ILayerVersion,
        resource_values: Mapping[str, str],
        memory_size: int = 256,
        timeout: Duration | None = None,
        log_retention: aws_logs.RetentionDays = aws_logs.RetentionDays.THREE_MONTHS,
        settings_name: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.name = name
        self.settings_name = settings_name or name
        """The ``FUNCTION_SETTINGS`` entry whose variables the function gets (its own name unless it has none
        yet, e.g. ``ws_message`` runs on ``ws_connect``'s model until it has a settings model of its own)."""
        code_path = functions_root / name
        if not code_path.is_dir():
            raise FileNotFoundError(f"function code directory {code_path} does not exist")
        self.environment = settings_environment(self.settings_name, resource_values)
        self.log_group = aws_logs.LogGroup(self, "Logs", retention=log_retention, removal_policy=RemovalPolicy.RETAIN)
        self.role = aws_iam.Role(
            self,
            "Role",
            assumed_by=aws_iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"WireSocket {name} function",
        )
        self.log_group.grant_write(self.role)
        self.function = aws_lambda.Function(
            self,
            "Function",
            description=f"WireSocket {name}",
            code=aws_lambda.Code.from_asset(str(code_path), exclude=list(CODE_EXCLUDES)),
            handler=HANDLER,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            layers=[layer],
            environment=self.environment,
            role=self.role,
            log_group=self.log_group,
            memory_size=memory_size,
            timeout=timeout or Duration.seconds(10),
        )
        Validations.of(self.function).acknowledge(Acknowledgment(id="AwsSolutions-L1", reason=RUNTIME_PIN_REASON))

    def set_variable(self, variable: str, value: str) -> None:
        """Set one of the settings model's variables to a value known only after the function exists."""
        if variable not in self.environment:
            raise KeyError(f"{self.name}: {variable} is not a variable of its settings model")
        self.environment[variable] = value
        self.function.add_environment(variable, value)
