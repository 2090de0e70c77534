"""pyiqa (IQA-PyTorch) metrics, offline.

pyiqa downloads missing parameter files at construction time from HuggingFace into
``torch.hub.get_dir()/pyiqa`` (fixed when pyiqa is imported). Offline that hangs or fails, so:

1. :func:`stage_metric_files` looks up every file a metric needs (registry ``files``) in local
   folders (``--weights-dir``, the mirror's ``metrics/``) and symlinks it into a private torch home
   (``<cache>/torch/hub/...``) that this module controls; files already there count too;
2. a metric with a missing file or a missing Python module is reported as unavailable, with the
   file name, *before* pyiqa is imported or the metric constructed;
3. construction runs inside :func:`offline_pyiqa`, which points pyiqa's cache and ``TORCH_HOME`` at
   the private torch home, sets ``HF_HUB_OFFLINE`` and replaces the download function with one that
   raises, so an unexpected download is an error naming the URL instead of a network access.

pyiqa's licence is PolyForm-Noncommercial-1.0.0 (non-commercial use only).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from replication.errors import UserError
from replication.evaluate.registry import MetricSpec, RequiredFile

CACHE_ENV = "REPLICATION_CACHE"
_HUB_SUBDIR = {"pyiqa": "pyiqa", "clip": "clip", "torchvision": "checkpoints"}


def cache_dir() -> Path:
    """``$REPLICATION_CACHE`` or ``~/.cache/replication``: derived files only, safe to delete."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "replication"


def default_torch_home() -> Path:
    return cache_dir() / "torch"


@dataclass(frozen=True)
class Availability:
    """Whether a metric can run here; ``reason`` is ``"unavailable: needs ..."`` when it cannot."""

    name: str
    ok: bool
    reason: str = ""


def _hf_cached(repo: str, filename: str) -> Path | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = try_to_load_from_cache(repo_id=repo, filename=filename)
    return Path(found) if isinstance(found, str) else None


def _find(name: str, search_dirs: Sequence[Path]) -> Path | None:
    for folder in search_dirs:
        candidate = Path(folder) / name
        if candidate.is_file():
            return candidate
    return None


def _link(target: Path, source: Path) -> None:
    """Atomically make ``target`` a symlink to ``source`` (replacing a dangling or stale link)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(source.resolve())
    os.replace(tmp, target)


def stage_metric_files(spec: MetricSpec, search_dirs: Sequence[Path], torch_home: Path) -> list[str]:
    """Stage the files of a pyiqa metric into ``torch_home``; return descriptions of the missing ones."""
    missing: list[str] = []
    for req in spec.files:
        if req.where == "hf":
            if _hf_cached(req.repo, req.name) is None:
                missing.append(f"{req.repo}/{req.name} in the HuggingFace cache")
            continue
        if req.where == "mirror":
            continue  # read directly from the mirror by our own code
        target = torch_home / "hub" / _HUB_SUBDIR[req.where] / req.name
        if target.is_file():  # present (a real file, or a symlink that still resolves)
            continue
        source = _find(req.name, search_dirs)
        if source is None:
            missing.append(_describe(req))
            continue
        _link(target, source)
    return missing


def _describe(req: RequiredFile) -> str:
    where = {"pyiqa": "pyiqa weights", "clip": "CLIP backbone", "torchvision": "torchvision weights"}.get(req.where, "")
    return f"{req.name} ({where})" if where else req.name


def check_pyiqa_metric(spec: MetricSpec, search_dirs: Sequence[Path], torch_home: Path) -> Availability:
    """Stage files and check modules; never imports pyiqa or touches the network."""
    if importlib.util.find_spec("pyiqa") is None:
        return Availability(spec.name, False, "unavailable: needs pyiqa (pip install -e '.[metrics]')")
    missing = stage_metric_files(spec, search_dirs, torch_home)
    for module in spec.modules:
        if importlib.util.find_spec(module) is None:
            hint = " (setuptools<81)" if module == "pkg_resources" else ""
            missing.append(f"Python module {module}{hint}")
    if missing:
        return Availability(spec.name, False, "unavailable: needs " + ", ".join(missing))
    return Availability(spec.name, True)


def _refuse_download(url: str, dst: str, *args, **kwargs) -> None:
    raise UserError(
        f"pyiqa tried to download {url} to {dst}; this project runs metrics offline: put the file in a "
        f"--weights-dir or the mirror's metrics/ folder"
    )


@contextlib.contextmanager
def offline_pyiqa(torch_home: Path) -> Iterator[None]:
    """Point pyiqa / torch.hub / HuggingFace at local caches and forbid downloads (restored after)."""
    from pyiqa.utils import download_util

    saved_env = {k: os.environ.get(k) for k in ("TORCH_HOME", "HF_HUB_OFFLINE")}
    saved = (download_util.DEFAULT_CACHE_DIR, download_util.download_url_to_file, torch.hub.download_url_to_file)
    hf_constants: Any = None
    with contextlib.suppress(ImportError):
        import huggingface_hub.constants as hf_constants
    hf_saved = getattr(hf_constants, "HF_HUB_OFFLINE", None)
    try:
        os.environ["TORCH_HOME"] = str(torch_home)
        os.environ["HF_HUB_OFFLINE"] = "1"
        if hf_constants is not None:
            hf_constants.HF_HUB_OFFLINE = True
        download_util.DEFAULT_CACHE_DIR = str(torch_home / "hub" / "pyiqa")
        download_util.download_url_to_file = _refuse_download
        torch.hub.download_url_to_file = _refuse_download
        yield
    finally:
        download_util.DEFAULT_CACHE_DIR, download_util.download_url_to_file, torch.hub.download_url_to_file = saved
        if hf_constants is not None:
            hf_constants.HF_HUB_OFFLINE = hf_saved
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class PyiqaScorer:
    """A constructed pyiqa metric: ``scorer(sr, ref=None) -> float`` on (1, 3, H, W) RGB in [0, 1]."""

    def __init__(self, spec: MetricSpec, torch_home: Path, device: str = "cpu") -> None:
        self.spec = spec
        with offline_pyiqa(torch_home):
            import pyiqa

            self.metric = pyiqa.create_metric(spec.pyiqa_name, device=device, **spec.pyiqa_options)
        self.device = device

    @torch.no_grad()
    def __call__(self, sr: torch.Tensor, ref: torch.Tensor | None = None) -> float:
        sr = sr.to(self.device, torch.float32).clamp(0, 1)
        if self.spec.kind == "fr":
            if ref is None:
                raise UserError(f"{self.spec.name} needs a reference image")
            score = self.metric(sr, ref.to(self.device, torch.float32).clamp(0, 1))
        else:
            score = self.metric(sr)
        return float(torch.as_tensor(score).reshape(-1)[0])
