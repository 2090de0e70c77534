"""Which arithmetic a training run uses: the phase's ``precision`` key, or ``--amp`` when given.

``bf16_if_native`` (the study) means bf16 autocast where the hardware computes bf16 natively (CPUs
with AVX512-BF16 or AMX-BF16, CUDA devices that support it), fp32 elsewhere: emulated bf16 would be
slower than fp32. The choice is recorded in the model's metadata (``amp``) and in the checkpoint
fingerprint, since it changes the trajectory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch

NATIVE_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """True when /proc/cpuinfo lists a bf16 instruction set (False where it cannot be read)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return False
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[-1].split())
    return any(f in flags for f in NATIVE_CPU_FLAGS)


def resolve_amp(requested: str | None, precision: str, device: str) -> Literal["none", "bf16"]:
    """'none' or 'bf16': ``requested`` (--amp) wins; else the phase's ``precision``."""
    if requested is not None:
        if requested not in ("none", "bf16"):
            raise ValueError(f"--amp {requested!r}: expected none or bf16")
        return "bf16" if requested == "bf16" else "none"
    if precision == "fp32":
        return "none"
    if precision == "bf16":
        return "bf16"
    native = torch.cuda.is_bf16_supported() if device == "cuda" else cpu_has_native_bf16()
    return "bf16" if native else "none"
