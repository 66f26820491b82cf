"""The shared Lambda layer: the ``wiresocket`` package plus its runtime dependencies, at ``/opt/python``."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from aws_cdk import aws_lambda
from constructs import Construct

ASSET_EXCLUDES: Final = ("**/__pycache__", "**/*.pyc", "python/wiresocket/local")
"""Never shipped: bytecode caches, and the local stack runner (it is for developer machines only)."""


class SharedLayer(Construct):
    """A layer version built from ``asset_path``, a directory whose ``python/`` holds importable packages.

    For a deployment, ``asset_path`` is ``build/layer`` as produced by ``scripts/build_layer.py`` (the
    ``wiresocket`` package and every runtime dependency, as manylinux wheels for ``architecture``). The
    infrastructure tests pass ``layers/shared`` instead: it has the same ``python/wiresocket`` layout, needs
    no network to build, and synthesizes to the same resources.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        asset_path: Path,
        runtime: aws_lambda.Runtime,
        architecture: aws_lambda.Architecture,
    ) -> None:
        super().__init__(scope, construct_id)
        if not (asset_path / "python" / "wiresocket").is_dir():
            raise FileNotFoundError(f"layer asset {asset_path} has no python/wiresocket package")
        self.layer = aws_lambda.LayerVersion(
            self,
            "Layer",
            code=aws_lambda.Code.from_asset(str(asset_path), exclude=list(ASSET_EXCLUDES)),
            compatible_runtimes=[runtime],
            compatible_architectures=[architecture],
            description="wiresocket shared package and its runtime dependencies",
        )
