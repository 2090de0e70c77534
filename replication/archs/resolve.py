"""A model named by a file or by a weights-registry name (``upscale -n realesrgan_x4plus``, the Python
API): a registry name is fetched once, mirror first (``weights fetch``), into a cache folder and reused.

The cache folder is ``$REPLICATION_CACHE/weights`` (default ``~/.cache/replication/weights``; the
metrics keep their derived files beside it); ``upscale --cache-dir`` overrides it. Pipeline stages never use
this: they name their model files, which DVC tracks.
"""

from __future__ import annotations

import os
from pathlib import Path

from replication.archs.loading import missing_model
from replication.errors import UserError

CACHE_ENV = "REPLICATION_CACHE"


def cache_dir() -> Path:
    """Where models named by registry name are kept: ``<cache>/weights``, the cache being
    ``$REPLICATION_CACHE`` or ``~/.cache/replication`` (the root the metric files use too)."""
    env = os.environ.get(CACHE_ENV)
    return (Path(env).expanduser() if env else Path.home() / ".cache" / "replication") / "weights"


def check_spec(spec: str | os.PathLike) -> bool:
    """True for an existing file, False for a generator's registry name; else the missing-model error."""
    from replication.archs.weights_registry import REGISTRY

    if Path(spec).is_file():
        return True
    entry = REGISTRY.get(str(spec))
    if entry is None or not entry.is_generator:
        raise missing_model(spec)
    return False


def resolve_model(
    spec: str | os.PathLike, *, mirror: Path | None = None, cache: Path | None = None, progress: bool = True
) -> Path:
    """The model file ``spec`` names: an existing file, else a registry name fetched into ``cache``
    (default :func:`cache_dir`; ``mirror`` default :func:`default_mirror`) and reused from there."""
    if check_spec(spec):
        return Path(spec)
    name = str(spec)
    from replication.archs.checkpoint import read_sidecar
    from replication.archs.fetch import fetch_weights

    target = (cache or cache_dir()) / f"{name}.safetensors"
    if target.is_file():
        try:
            if read_sidecar(target).get("extra", {}).get("registry_name") == name:
                return target
        except UserError:
            pass  # a damaged cache entry is fetched again below
    target.parent.mkdir(parents=True, exist_ok=True)
    return fetch_weights(name, target, mirror=mirror if mirror is not None else default_mirror(), progress=progress)


def default_mirror(params: str | os.PathLike = "params.yaml") -> Path | None:
    """The offline mirror for fetching by registry name: ``$REPLICATION_MIRROR``, else ``mirror:`` of
    ``params`` when that file exists and loads, else none (the registry URLs are tried)."""
    from replication.params import MIRROR_ENV, load_params

    if os.environ.get(MIRROR_ENV):
        return Path(os.environ[MIRROR_ENV])
    if not Path(params).is_file():
        return None
    try:
        return load_params(params).mirror_dir()
    except UserError:
        return None
