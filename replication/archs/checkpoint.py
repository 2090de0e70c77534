"""Model checkpoints: safetensors weights + a JSON sidecar that says how to rebuild the network.

``save_model`` writes ``NAME.safetensors`` and ``NAME.json`` (architecture, hyperparameters, where
the weights came from, the sha256 of that source, whether they were rounded to fp16, git revision,
creation time). The same JSON is embedded in the safetensors header, so the weights file alone is
self-describing and a sidecar that does not belong to it is detected. Both files are published
atomically. ``.pth`` files are read with ``torch.load(weights_only=True)`` only: a pickle that
tries to run code is refused, never executed.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from replication.errors import UserError
from replication.fsutil import atomic_path, write_text_atomic

SIDECAR_KEY = "replication"  # safetensors metadata key holding the sidecar JSON
FORMAT_VERSION = 1
# Wrapper keys of official checkpoints, in order of preference (BasicSR: EMA weights first).
WRAPPER_KEYS = ("params_ema", "params", "state_dict")


def sidecar_path(path: str | os.PathLike) -> Path:
    return Path(path).with_suffix(".json")


def git_revision() -> str | None:
    """Commit of the source tree this package runs from (``+dirty`` if modified); None outside git."""
    repo = Path(__file__).resolve().parents[2]
    try:
        rev = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{rev}+dirty" if dirty else rev


def save_model(
    path: str | os.PathLike,
    net: nn.Module,
    *,
    source: str,
    source_sha256: str | None,
    fp16_rounded: bool,
    extra: dict | None = None,
) -> Path:
    """Write ``net``'s state dict (float tensors as float32) to ``path`` (.safetensors) + sidecar.

    ``net`` must carry ``arch_name`` and ``hyperparameters`` (every registry architecture does).
    """
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix != ".safetensors":
        raise UserError(f"{path}: model files must end in .safetensors")
    arch = getattr(net, "arch_name", None)
    hyper = getattr(net, "hyperparameters", None)
    if arch is None or hyper is None:
        raise TypeError(f"{type(net).__name__} has no arch_name / hyperparameters; build it with build_arch")
    tensors = {}
    for key, value in net.state_dict().items():
        value = value.detach().to("cpu")
        if value.is_floating_point():
            value = value.float()
        tensors[key] = value.contiguous().clone()
    sidecar = {
        "format": FORMAT_VERSION,
        "arch": arch,
        "hyperparameters": dict(hyper),
        "source": source,
        "source_sha256": source_sha256,
        "fp16_rounded": bool(fp16_rounded),
        "num_parameters": int(sum(p.numel() for p in net.parameters())),
        "git_revision": git_revision(),
        "extra": extra or {},
    }
    text = json.dumps(sidecar, indent=2, sort_keys=True)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={SIDECAR_KEY: text})
    write_text_atomic(sidecar_path(path), text + "\n")
    return path


def read_sidecar(path: str | os.PathLike) -> dict:
    """The description embedded in a model file (falls back to the ``.json`` sidecar)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: model file not found")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise UserError(f"{path}: not a readable safetensors file ({exc})") from None
    embedded = json.loads(meta[SIDECAR_KEY]) if SIDECAR_KEY in meta else None
    side = sidecar_path(path)
    on_disk = json.loads(side.read_text(encoding="utf-8")) if side.is_file() else None
    if embedded is None and on_disk is None:
        raise UserError(f"{path}: no architecture description (neither embedded metadata nor {side.name})")
    if embedded is not None and on_disk is not None:
        for key in ("arch", "hyperparameters", "source_sha256", "git_revision"):
            if embedded.get(key) != on_disk.get(key):
                raise UserError(f"{side}: sidecar does not belong to {path.name} ({key} differs)")
    info = embedded if embedded is not None else on_disk
    assert info is not None  # both missing raised above
    return info


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the architecture named in the sidecar and load the weights strictly; eval mode.

    The returned module has ``checkpoint_info`` (the sidecar dict).
    """
    from safetensors.torch import load_file

    from replication.archs.registry import build_arch

    path = Path(path)
    info = read_sidecar(path)
    net = build_arch(info["arch"], **info["hyperparameters"])
    state = load_file(str(path), device="cpu")
    load_strict(net, state, str(path))
    net.checkpoint_info = info  # type: ignore[assignment]  # a plain attribute, not a submodule
    return net.to(device).eval()


def load_strict(net: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """``load_state_dict(strict=True)`` with an error that names the file and the first problems."""
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or wrong:
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", wrong)):
            if items:
                more = f" (+{len(items) - 3} more)" if len(items) > 3 else ""
                parts.append(f"{label}: {', '.join(items[:3])}{more}")
        raise UserError(f"{source}: weights do not fit {type(net).__name__}{net_hyper(net)}: " + "; ".join(parts))
    net.load_state_dict(dict(state), strict=True)


def net_hyper(net: nn.Module) -> str:
    hyper = getattr(net, "hyperparameters", None)
    return f"({', '.join(f'{k}={v}' for k, v in hyper.items())})" if hyper else ""


def load_pth_state_dict(path: str | os.PathLike, key: str | None = None) -> dict[str, torch.Tensor]:
    """Tensors of a ``.pth`` checkpoint, unwrapped (``params_ema`` preferred, then ``params``).

    Uses ``torch.load(weights_only=True)``: files that need arbitrary unpickling are refused.
    """
    state, _ = load_pth_with_key(path, key)
    return state


def load_pth_with_key(path: str | os.PathLike, key: str | None = None) -> tuple[dict[str, torch.Tensor], str | None]:
    """As :func:`load_pth_state_dict`, also returning the wrapper key used (None: a flat dict)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: checkpoint file not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UserError(
            f"{path}: refused to load: the file holds pickled objects other than tensors and plain "
            f"containers (torch.load weights_only=True). Details: {str(exc).splitlines()[0]}"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot read as a PyTorch checkpoint: {str(exc).splitlines()[0]}") from None
    return unwrap_state_dict(obj, key=key, source=str(path))


def unwrap_state_dict(
    obj: Any, key: str | None = None, source: str = "<object>"
) -> tuple[dict[str, torch.Tensor], str | None]:
    """Pick the weights out of a loaded checkpoint and strip DataParallel ``module.`` prefixes."""
    if not isinstance(obj, Mapping):
        raise UserError(f"{source}: expected a dict of tensors, got {type(obj).__name__}")
    used = None
    if key is not None:
        if key not in obj:
            raise UserError(f"{source}: no key {key!r} (top-level keys: {', '.join(map(str, list(obj)[:8]))})")
        obj, used = obj[key], key
    else:
        for candidate in WRAPPER_KEYS:
            if candidate in obj and isinstance(obj[candidate], Mapping):
                obj, used = obj[candidate], candidate
                break
    state = {}
    for name, value in obj.items():
        if not isinstance(value, torch.Tensor):
            raise UserError(f"{source}: entry {name!r} is a {type(value).__name__}, not a tensor")
        state[name.removeprefix("module.")] = value
    if not state:
        raise UserError(f"{source}: no tensors found")
    return state, used


def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` or ``.pth`` file (the latter via :func:`load_pth_state_dict`)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        if not path.is_file():
            raise UserError(f"{path}: file not found")
        return load_file(str(path), device="cpu")
    return load_pth_state_dict(path)
