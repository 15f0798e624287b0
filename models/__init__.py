"""The model manifest and the registry that locates and verifies every model."""

from models.registry import (
    Assembly,
    ModelFile,
    ModelRegistry,
    ModelRow,
    ModelSpec,
    VerifiedModel,
    load_manifest,
    parse_manifest,
)

__all__ = [
    "Assembly",
    "ModelFile",
    "ModelRegistry",
    "ModelRow",
    "ModelSpec",
    "VerifiedModel",
    "load_manifest",
    "parse_manifest",
]
