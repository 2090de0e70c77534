"""Which torch device a command runs on.

Every command's ``--device`` defaults to ``auto``: CUDA when a CUDA device is available, else the
CPU. Without ``--device`` on the command line, the environment variable ``REPLICATION_DEVICE``
(auto, cpu, cuda or cuda:N) chooses, so that a whole ``dvc repro`` can be pinned to one device
without editing dvc.yaml. The device used is recorded in each run's provenance (see
:func:`describe`), never inside files that other stages hash: results must not depend on where
they were computed, beyond floating-point rounding.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
from typing import TYPE_CHECKING

from replication.errors import UserError

if TYPE_CHECKING:  # torch is imported where it is used: command-line --help stays fast
    import torch

ENV = "REPLICATION_DEVICE"


def add_device_argument(parser: argparse.ArgumentParser, what: str, allow_index: bool = True) -> None:
    """``--device`` with the shared default (None = ``$REPLICATION_DEVICE`` or auto)."""
    forms = "auto, cpu, cuda or cuda:N" if allow_index else "auto, cpu or cuda"
    parser.add_argument(
        "--device",
        default=None,
        type=device_form,  # a typo is a usage error (exit 2) naming --device, before any work
        help=f"device for {what}: {forms} (default: ${ENV} if set, else auto = CUDA when available, else CPU)",
    )


def device_form(text: str) -> str:
    """argparse type: the spelling of a device (whether it exists is checked by resolve_device)."""
    name = text.strip().lower()
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", name):
        raise argparse.ArgumentTypeError(f"unknown device {text!r} (expected auto, cpu, cuda or cuda:N)")
    return name


def resolve_device(name: str | None, allow_index: bool = True) -> torch.device:
    """``--device`` value (None: not given) -> a usable torch.device, or a UserError naming the value."""
    import torch

    origin = "--device"
    if name is None:
        name = os.environ.get(ENV, "").strip() or "auto"
        origin = f"${ENV}" if os.environ.get(ENV, "").strip() else "--device"
    name = name.strip().lower()
    if name == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda") or (device.index is not None and not allow_index):
        forms = "auto, cpu, cuda or cuda:N" if allow_index else "auto, cpu or cuda (choose GPUs with torchrun)"
        raise UserError(f"{origin} {name!r}: expected {forms}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"{origin} {name}: no CUDA device is available on this machine (use auto or cpu)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserError(f"{origin} {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device


def describe(device: torch.device) -> dict:
    """What ran the computation, for provenance files (never for hashed artifacts)."""
    import torch

    out: dict[str, object] = {"device": str(device), "torch": torch.__version__, "machine": platform.machine()}
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        out.update(device_name=torch.cuda.get_device_name(index), cuda=torch.version.cuda)
    else:
        out.update(device_name=platform.processor() or platform.machine(), threads=torch.get_num_threads())
    return out


__all__ = ["ENV", "add_device_argument", "describe", "resolve_device"]
