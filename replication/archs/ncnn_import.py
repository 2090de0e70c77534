"""Import an ncnn model (``.param`` + ``.bin``) as one of our model files.

The ncnn graph reader and the per-architecture key maps live in :mod:`replication.archs.ncnn` (the
architecture table, :mod:`replication.archs.registry`, names them); this module puts them together
with the table and the model file, as :mod:`replication.archs.pth_import` does for ``.pth`` files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from replication.archs.checkpoint import load_strict, save_model
from replication.archs.ncnn import NcnnModel, read_ncnn
from replication.archs.registry import NCNN_ARCHS, TABLE, build_arch
from replication.errors import UserError
from replication.fsutil import sha256_file


def ncnn_to_model(
    param_path: str | os.PathLike, bin_path: str | os.PathLike, arch: str, **given: object
) -> tuple[torch.nn.Module, NcnnModel]:
    """Build architecture ``arch`` holding the ncnn file's weights (float32; fp16-rounded if tagged fp16).

    ``given`` hyperparameters (None = infer) must agree with what the graph implies.
    """
    if arch not in NCNN_ARCHS:
        raise UserError(f"ncnn import supports {', '.join(NCNN_ARCHS)}, not {arch!r}")
    model = read_ncnn(param_path, bin_path)
    importer = TABLE[arch].ncnn
    assert importer is not None  # NCNN_ARCHS lists only rows with an ncnn importer
    state, hyper = importer(model, given)
    net = build_arch(arch, **hyper)
    load_strict(net, state, str(param_path))
    return net.eval(), model


def import_ncnn(
    param_path: str | os.PathLike,
    bin_path: str | os.PathLike,
    arch: str,
    out: str | os.PathLike,
    *,
    extra: dict | None = None,
    **given: Any,
) -> Path:
    """Convert an ncnn model to ``out`` (.safetensors + sidecar, ``fp16_rounded`` recorded)."""
    net, model = ncnn_to_model(param_path, bin_path, arch, **given)
    info = {"ncnn_param": Path(param_path).name, "ncnn_param_sha256": sha256_file(param_path), **(extra or {})}
    return save_model(
        out,
        net,
        source=f"ncnn:{Path(bin_path).name}",
        source_sha256=sha256_file(bin_path),
        fp16_rounded=model.fp16_rounded,
        extra=info,
    )
