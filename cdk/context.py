"""The deployment context: which license regions to deploy and which one is primary (SPEC §9).

Values come from ``cdk.json`` (``context``) or the command line (``cdk synth -c regions=a,b``); the CLI
passes ``-c`` values as strings, ``cdk.json`` as JSON, so both forms are accepted here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from wiresocket.names import LICENSE_REGIONS, aws_region_of

CONTEXT_REGIONS: Final = "regions"
CONTEXT_PRIMARY_REGION: Final = "primaryRegion"
CONTEXT_ISSUER_BASE: Final = "issuerBase"
CONTEXT_ACCOUNT: Final = "account"
CONTEXT_MASTER_KEY_ARNS: Final = "masterKeyArns"

DEFAULT_REGION: Final = "aws-eu-west-1"


class ContextError(ValueError):
    """A context value is missing, malformed or names an unknown license region."""


@dataclass(frozen=True)
class DeploymentContext:
    """What to deploy where: every license region, the primary one, and an optional public issuer URL."""

    regions: tuple[str, ...]
    primary_region: str
    issuer_base: str | None = None
    master_key_arns: tuple[str, ...] = ()
    """The two master-key slots' ARNs (the global stack's ``MasterKeySlotArns`` output): when given, every
    non-primary regional stack holds replicas of both. Empty: no replicas (the first deploy)."""

    def __post_init__(self) -> None:
        if not self.regions:
            raise ContextError(f"context '{CONTEXT_REGIONS}' must name at least one license region")
        unknown = [r for r in self.regions if r not in LICENSE_REGIONS]
        if unknown:
            raise ContextError(f"unknown license region(s) {unknown}; expected some of {list(LICENSE_REGIONS)}")
        if len(set(self.regions)) != len(self.regions):
            raise ContextError(f"context '{CONTEXT_REGIONS}' lists a region twice: {list(self.regions)}")
        if self.primary_region not in self.regions:
            raise ContextError(
                f"primary region {self.primary_region!r} is not one of the deployed regions {list(self.regions)}"
            )
        if self.issuer_base is not None and not self.issuer_base.startswith("https://"):
            raise ContextError(f"context '{CONTEXT_ISSUER_BASE}' must be an https:// URL")
        if self.master_key_arns:
            pattern = re.compile(
                rf"^arn:aws(-[a-z]+)*:kms:{re.escape(self.primary_aws_region)}:\d{{12}}:key/mrk-[0-9a-f]{{32}}$"
            )
            if len(self.master_key_arns) != 2 or len(set(self.master_key_arns)) != 2:
                raise ContextError(f"context '{CONTEXT_MASTER_KEY_ARNS}' must name the two master-key slots")
            if not all(pattern.match(arn) for arn in self.master_key_arns):
                raise ContextError(
                    f"context '{CONTEXT_MASTER_KEY_ARNS}' must be multi-Region key ARNs of the primary region"
                )

    @property
    def primary_aws_region(self) -> str:
        """The AWS region name (``eu-west-1``) of the primary license region."""
        return aws_region_of(self.primary_region)

    @classmethod
    def from_values(
        cls,
        regions: object = None,
        primary_region: object = None,
        issuer_base: object = None,
        master_key_arns: object = None,
    ) -> DeploymentContext:
        """Build the context from raw context values; the primary region defaults to the first region."""
        parsed = _region_list(DEFAULT_REGION if regions is None else regions)
        if not parsed:
            raise ContextError(f"context '{CONTEXT_REGIONS}' must name at least one license region")
        primary = parsed[0] if primary_region is None else primary_region
        if not isinstance(primary, str):
            raise ContextError(f"context '{CONTEXT_PRIMARY_REGION}' must be a string")
        if issuer_base is not None and not isinstance(issuer_base, str):
            raise ContextError(f"context '{CONTEXT_ISSUER_BASE}' must be a string")
        arns = () if master_key_arns is None else _string_list(master_key_arns, CONTEXT_MASTER_KEY_ARNS)
        return cls(
            regions=parsed,
            primary_region=primary.strip(),
            issuer_base=issuer_base or None,
            master_key_arns=arns,
        )


def _region_list(value: object) -> tuple[str, ...]:
    return _string_list(value, CONTEXT_REGIONS)


def _string_list(value: object, name: str) -> tuple[str, ...]:
    if isinstance(value, str):
        items: Sequence[object] = value.split(",")
    elif isinstance(value, list | tuple):
        items = value
    else:
        raise ContextError(f"context '{name}' must be a list or a comma-separated string")
    if not all(isinstance(item, str) for item in items):
        raise ContextError(f"context '{name}' must contain only strings")
    return tuple(str(item).strip() for item in items if str(item).strip())
