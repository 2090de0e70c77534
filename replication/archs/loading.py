"""Open a super-resolution generator from whatever a user has: one entry point for ``upscale``,
``evaluate``, ``evaluate-all`` and the Python API.

Accepted, decided by the file's content (not its name, so a ``.pth`` saved as ``.safetensors`` still
loads):

* our ``.safetensors`` with its description (``weights fetch``, ``weights import-*``, ``train``);
* a PyTorch checkpoint (``.pth``/``.pt``/``.ckpt``) or a foreign ``.safetensors`` whose key names are
  those of a row of the architecture table (RRDBNet in BasicSR or either ESRGAN naming,
  SRVGGNetCompact, DAN, CDC); the architecture and its sizes come from the key names and shapes.
  PyTorch files are read with ``torch.load(weights_only=True)`` only: a pickle that would run code is
  refused;
* any other architecture that spandrel (MIT, optional: the ``spandrel`` extra) recognises, from the
  same tensors (spandrel never opens the file itself);

A weights-registry name (``realesrgan_x4plus``) is turned into a file by
:func:`replication.archs.resolve.resolve_model` (``upscale`` and the Python API; pipeline stages
name files).

Anything else is an error that names the file and the command that handles it (an ncnn
``.param``/``.bin`` pair: ``weights import-ncnn``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import cast

import torch
from torch import nn

from replication.errors import UserError

SPANDREL_EXTRA = "pip install 'replication[spandrel]'"
PTH_SUFFIXES = (".pth", ".pt", ".ckpt")


def _sniff(path: Path) -> str:
    """``safetensors``, ``torch`` (zip or legacy pickle), ``ncnn-param`` or ``unknown``."""
    with open(path, "rb") as fh:
        head = fh.read(16)
    # safetensors first: its 8-byte header length can itself begin with 0x80 (a header of 0x..80 bytes),
    # the first byte of a legacy pickle. A pickle's or zip's first 8 bytes read as a length are far
    # above 2**28, and byte 8 of a legacy torch file is inside its magic number, never "{".
    if len(head) >= 9 and int.from_bytes(head[:8], "little") < (1 << 28) and head[8:9] == b"{":
        return "safetensors"
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":
        return "torch"
    if head.startswith(b"7767517"):
        return "ncnn-param"
    return "unknown"


def _ncnn_hint(path: Path) -> str:
    param = path.with_suffix(".param")
    binary = path.with_suffix(".bin")
    return (
        f"{path}: an ncnn model, which runs only after conversion: `replication weights import-ncnn --param "
        f"{param} --bin {binary} --arch rrdbnet|srvgg --out {path.with_suffix('.safetensors').name}`"
    )


def missing_model(spec: str | os.PathLike) -> UserError:
    """The error for a model file that does not exist, naming how to get official weights."""
    from replication.archs.weights_registry import REGISTRY

    path = Path(spec)
    name = path.stem if path.stem in REGISTRY else "NAME"
    suggestion = path if path.suffix == ".safetensors" else Path("models/official") / f"{path.stem}.safetensors"
    return UserError(
        f"{spec}: model file not found (official weights: `replication weights fetch {name} --out {suggestion}`; "
        f"`replication upscale` also takes a registry name such as realesrgan_x4plus)"
    )


def load_generator(path: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """A generator in eval mode on ``device`` with ``scale``, ``arch_name``, ``hyperparameters`` and
    ``checkpoint_info`` (our sidecar, or the same facts for a file without one)."""
    from replication.archs.checkpoint import load_model

    path = Path(path)
    if not path.is_file():
        raise missing_model(path)
    kind = _sniff(path)
    if kind == "ncnn-param" or (path.suffix == ".bin" and path.with_suffix(".param").is_file()):
        raise UserError(_ncnn_hint(path))
    if kind == "safetensors" and _has_description(path):
        net = load_model(path, device="cpu")
    elif kind in ("safetensors", "torch"):
        net = _from_tensors(path, kind)
    else:
        raise UserError(
            f"{path}: not a model file this tool reads (our .safetensors, a PyTorch {'/'.join(PTH_SUFFIXES)} "
            "checkpoint, a foreign .safetensors, or a weights-registry name)"
        )
    if getattr(net, "scale", None) is None:
        raise UserError(f"{path}: {getattr(net, 'arch_name', type(net).__name__)} is not a super-resolution generator")
    return net.to(device).eval()


def _has_description(path: Path) -> bool:
    from replication.archs.checkpoint import SIDECAR_KEY, sidecar_path

    if sidecar_path(path).is_file():
        return True
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            return SIDECAR_KEY in (fh.metadata() or {})
    except Exception:  # a corrupt header: let load_model report it with the file's name
        return True


def _from_tensors(path: Path, kind: str) -> nn.Module:
    """A checkpoint without our description: the architecture table by key names, else spandrel."""
    from replication.archs.checkpoint import load_pth_with_key
    from replication.archs.pth_import import state_to_model
    from replication.archs.registry import matching_archs, spec
    from replication.fsutil import sha256_file

    used_key = None
    if kind == "torch":
        state, used_key = load_pth_with_key(path)
    else:
        from safetensors.torch import load_file

        state = load_file(str(path), device="cpu")
    found = matching_archs(state)
    if len(found) > 1:
        raise UserError(f"{path}: the key names match several architectures ({', '.join(found)})")
    if found and not spec(found[0]).generator:
        raise UserError(f"{path}: a {spec(found[0]).title} checkpoint, not a super-resolution generator")
    if found:
        net, facts = state_to_model(state, found[0], str(path))
    else:
        net, facts = spandrel_model(state, str(path)), {}
    hyper = cast(dict, net.hyperparameters)  # every table row and SpandrelGenerator carry a dict
    net.checkpoint_info = {  # type: ignore[assignment]  # a plain attribute, as load_model sets it
        "arch": net.arch_name,
        "hyperparameters": dict(hyper),
        "source": f"file:{path.name}",
        "source_sha256": sha256_file(path),
        "fp16_rounded": False,
        "extra": {"pth_key": used_key, **facts},
    }
    return net


class SpandrelGenerator(nn.Module):
    """A spandrel-loaded super-resolution network with the attributes our inference reads."""

    def __init__(self, descriptor) -> None:
        super().__init__()
        self.net = descriptor.model
        self.scale = int(descriptor.scale)
        self.arch_name = f"spandrel:{descriptor.architecture.id}"
        self.hyperparameters = dict(getattr(descriptor, "hyperparameters", {}))
        self.input_multiple = int(getattr(descriptor.size_requirements, "multiple_of", 1) or 1)
        # spandrel's INTERNAL tiling: the network needs the whole image (our tiling would change it)
        self.whole_image_only = str(getattr(descriptor, "tiling", "")).lower().endswith("internal")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def spandrel_model(state: dict[str, torch.Tensor], source: str) -> nn.Module:
    """Hand tensors (already read safely) to spandrel; a clear error when it is absent or declines."""
    sample = ", ".join(sorted(state)[:4])
    try:
        import spandrel  # type: ignore[import-untyped, import-not-found, unused-ignore]  # optional extra
    except ImportError:
        raise UserError(
            f"{source}: the key names ({sample}, ...) match none of our architectures (RRDBNet, SRVGGNetCompact, "
            f"DAN, CDC); other architectures load through spandrel, which is not installed: {SPANDREL_EXTRA}"
        ) from None
    try:
        descriptor = spandrel.ModelLoader().load_from_state_dict(state)
    except Exception as exc:  # spandrel raises its own types (UnsupportedModelError, shape errors)
        raise UserError(f"{source}: neither our architectures nor spandrel recognise it ({exc})") from None
    if not isinstance(descriptor, spandrel.ImageModelDescriptor) or descriptor.purpose not in ("SR", "Restoration"):
        raise UserError(f"{source}: spandrel reads it as a {getattr(descriptor, 'purpose', '?')} model, not SR")
    if descriptor.input_channels != 3 or descriptor.output_channels != 3:
        raise UserError(
            f"{source}: {descriptor.input_channels} input / {descriptor.output_channels} output channels; "
            "only RGB networks are supported"
        )
    return SpandrelGenerator(descriptor).eval()
