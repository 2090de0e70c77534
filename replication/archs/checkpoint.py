"""Model checkpoints: safetensors weights + a JSON sidecar that says how to rebuild the network.

``save_model`` writes ``NAME.safetensors`` and ``NAME.json`` (architecture, hyperparameters, where
the weights came from, the sha256 of that source, whether they were rounded to fp16). The same JSON
is embedded in the safetensors header (under one key, with sorted keys, so equal weights give equal
bytes), so the weights file alone is self-describing and a sidecar that does not belong to it is
detected. No git revision, time, host or absolute path is written: model files are DVC outputs that
evaluation stages depend on, and provenance of the code is what ``dvc.lock`` records. Both files are published
atomically. ``.pth`` files are read with ``torch.load(weights_only=True)`` only: a pickle that
tries to run code is refused, never executed.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from replication.archs.registry import build_arch
from replication.errors import UserError
from replication.fsutil import atomic_path, write_text_atomic

SIDECAR_KEY = "replication"  # safetensors metadata key holding the sidecar JSON
FORMAT_VERSION = 1
# Wrapper keys of official checkpoints, in order of preference (BasicSR: EMA weights first).
WRAPPER_KEYS = ("params_ema", "params", "state_dict")


def check_finite_weights(state: Mapping[str, torch.Tensor], source: str) -> None:
    """Refuse weights holding NaN or infinite values, naming the file and the first tensors (a network
    with them would turn every image into garbage, or into NaN that clamping hides)."""
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        more = f" (+{len(bad) - 3} more)" if len(bad) > 3 else ""
        raise UserError(f"{source}: weights hold NaN or infinite values in {', '.join(bad[:3])}{more}; refusing them")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type name when the message is empty."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def sidecar_path(path: str | os.PathLike) -> Path:
    return Path(path).with_suffix(".json")


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
    check_finite_weights(tensors, f"{path} ({source})")
    sidecar = {
        "format": FORMAT_VERSION,
        "arch": arch,
        "hyperparameters": dict(hyper),
        "source": source,
        "source_sha256": source_sha256,
        "fp16_rounded": bool(fp16_rounded),
        "num_parameters": int(sum(p.numel() for p in net.parameters())),
        "extra": extra or {},
    }
    text = json.dumps(sidecar, indent=2, sort_keys=True)
    with atomic_path(path) as tmp:
        try:
            save_file(tensors, str(tmp), metadata={SIDECAR_KEY: text})
        except OSError:
            raise
        except Exception as exc:  # safetensors reports I/O failures as its own error type
            if "No space left" in str(exc) or "StorageFull" in str(exc):
                raise OSError(errno.ENOSPC, "No space left on device", str(tmp)) from None
            raise UserError(f"{path}: cannot write the safetensors file: {first_line(exc)}") from None
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
    side = sidecar_path(path)
    embedded, embedded_problem = _description(meta.get(SIDECAR_KEY), f"{path} (embedded metadata)")
    on_disk, side_problem = _description(_read_text(side), str(side)) if side.is_file() else (None, None)
    if embedded is None and on_disk is None:
        problems = "; ".join(p for p in (embedded_problem, side_problem) if p)
        raise UserError(
            f"{path}: no usable architecture description"
            + (f" ({problems})" if problems else f" (neither embedded metadata nor {side.name})")
        )
    if side_problem and embedded is not None:
        # The weights carry their own description: a damaged sidecar costs nothing but a warning.
        logging.getLogger("replication").warning(
            f"warning: {side_problem}; using the description embedded in {path.name}"
        )
    if embedded is not None and on_disk is not None:
        for key in ("arch", "hyperparameters", "source_sha256"):
            if embedded.get(key) != on_disk.get(key):
                raise UserError(f"{side}: sidecar does not belong to {path.name} ({key} differs)")
    info = embedded if embedded is not None else on_disk
    assert info is not None  # both missing raised above
    return info


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _description(text: str | None, where: str) -> tuple[dict | None, str | None]:
    """Parse a model description; (None, why) when it is missing, broken or incomplete."""
    if text is None:
        return None, None if "embedded" in where else f"{where}: unreadable"
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return None, f"{where}: broken JSON ({first_line(exc)})"
    if not isinstance(data, dict):
        return None, f"{where}: expected a JSON object"
    if not isinstance(data.get("arch"), str) or not isinstance(data.get("hyperparameters"), dict):
        return None, f"{where}: incomplete (needs 'arch' and 'hyperparameters')"
    return data, None


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the architecture named in the sidecar and load the weights strictly; eval mode.

    The returned module has ``checkpoint_info`` (the sidecar dict).
    """
    from safetensors.torch import load_file

    path = Path(path)
    info = read_sidecar(path)
    try:
        net = build_arch(info["arch"], **info["hyperparameters"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{path}: its description does not build a network ({exc})") from None
    try:
        state = load_file(str(path), device="cpu")
    except Exception as exc:  # safetensors raises its own error types for damaged files
        raise UserError(f"{path}: cannot read the weights ({first_line(exc)})") from None
    check_finite_weights(state, str(path))
    load_strict(net, state, str(path))
    net.checkpoint_info = info  # type: ignore[assignment]  # a plain attribute, not a submodule
    net.source_path = str(path)  # type: ignore[assignment]  # named by errors about its output
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
        # A file object, not the path: torch.load reads any path ending in .safetensors as safetensors,
        # and a .pth that a user saved under that name must still load as what it is.
        with open(path, "rb") as fh:
            obj = torch.load(fh, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UserError(
            f"{path}: refused to load: the file holds pickled objects other than tensors and plain "
            f"containers (torch.load weights_only=True). Details: {first_line(exc)}"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, IndexError, KeyError) as exc:
        empty = " (the file is empty, 0 bytes)" if path.stat().st_size == 0 else ""
        raise UserError(f"{path}: cannot read as a PyTorch checkpoint{empty}: {first_line(exc)}") from None
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
        try:
            state = load_file(str(path), device="cpu")
        except Exception as exc:  # safetensors raises its own error types for damaged files
            raise UserError(f"{path}: cannot read the weights ({first_line(exc)})") from None
    else:
        state = load_pth_state_dict(path)
    check_finite_weights(state, str(path))
    return state
