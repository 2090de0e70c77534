"""The names and files of the models a user brings (``--source external``, ``external_models`` in
params.yaml): a name must be a plain folder name no other model of the report has, a file a path inside
the project. Used by the evaluation (``--name``) and by ``replication params --check``; not a config
module, since it reads the weights registry."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import PurePosixPath

from replication.archs.weights_registry import REGISTRY

# A results folder, a DVC stage key and a report label: letters, digits, '_', '.', '-'.
_EXTERNAL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def check_external_name(name: str, variants: Iterable[str]) -> None:
    """An external model's name must be a plain folder name that no other model of the report has:
    not ``bicubic``, a weights-registry name, or a retrained run name (``<variant>[-s<seed>][-net]``)."""
    if not _EXTERNAL_NAME.fullmatch(name):
        raise ValueError(f"external model name {name!r}: use letters, digits, '_', '.', '-' (a folder name)")
    taken = "bicubic" if name == "bicubic" else "a weights-registry model" if name in REGISTRY else None
    stem = re.sub(r"(-s\d+)?(-net)?$", "", name)
    if taken is None and stem in set(variants):
        taken = f"a retrained run of variant {stem!r}"
    if taken is not None:
        raise ValueError(f"external model name {name!r} is {taken}'s name; pick another")


def check_external_models(models: dict[str, str], variants: Iterable[str]) -> None:
    """``external_models`` (name -> model file): names as :func:`check_external_name`, files relative to
    the project (dvc.lock records them, so it holds on any machine) and never outside it."""
    for name, path in models.items():
        check_external_name(name, variants)
        parts = PurePosixPath(path).parts
        if not path or PurePosixPath(path).is_absolute() or ".." in parts or "\\" in path:
            raise ValueError(f"external_models.{name}: {path!r} must be a path inside the project, relative to it")
