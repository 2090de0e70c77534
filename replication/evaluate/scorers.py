"""Turn metric names into ready-to-call scorers, or into an "unavailable: needs ..." reason.

A scorer is called as ``scorer(sr, ref)`` with (1, 3, H, W) float32 RGB tensors in [0, 1] (``ref``
is None for no-reference metrics) and returns a float. Border cropping is part of the scorer:
no-reference metrics crop ``nr_crop_border`` px, full-reference metrics ``fr_crop_border`` px.
"""

from __future__ import annotations

import functools
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from replication.errors import UserError
from replication.evaluate.fullref import psnr_y, ssim_y
from replication.evaluate.niqe import (
    PACKAGED_PARAMS,
    PARAMS_FILE,
    PARAMS_FILE_MAT,
    NiqeInputError,
    PristineModel,
    load_pristine_model,
    niqe,
)
from replication.evaluate.pyiqa_metrics import (
    PyiqaScorer,
    check_pyiqa_metric,
    default_torch_home,
)
from replication.evaluate.registry import Builder, MetricSpec, get_metric
from replication.evaluate.residual import edge_width_y, noise_sigma_y
from replication.evaluate.ringing import ringing_y


@dataclass(frozen=True)
class MetricResources:
    """Where metric files come from and the cropping convention."""

    mirror: Path | None = None  # offline mirror (files in <mirror>/metrics/)
    weights_dirs: tuple[Path, ...] = ()  # extra folders holding metric weight files
    torch_home: Path = field(default_factory=default_torch_home)  # private torch home for pyiqa
    nr_crop_border: int = 0
    fr_crop_border: int = 4
    device: str = "cpu"

    @property
    def search_dirs(self) -> list[Path]:
        dirs = list(self.weights_dirs)
        if self.mirror is not None:
            dirs.append(Path(self.mirror) / "metrics")
        return dirs


@dataclass
class Scorer:
    spec: MetricSpec
    fn: Callable[[torch.Tensor, torch.Tensor | None], float]

    def __call__(self, sr: torch.Tensor, ref: torch.Tensor | None = None) -> float:
        if self.spec.kind == "fr" and ref is None:
            raise UserError(f"metric {self.spec.name} needs a reference image (--reference DIR)")
        return self.fn(sr, ref)


def _need(ref: torch.Tensor | None) -> torch.Tensor:
    assert ref is not None  # Scorer.__call__ rejects a missing reference for full-reference metrics
    return ref


def _crop(x: torch.Tensor, border: int) -> torch.Tensor:
    return x[..., border:-border, border:-border] if border else x


def _niqe_score(sr: torch.Tensor, ref: torch.Tensor | None, *, model: PristineModel, crop: int) -> float:
    return niqe(sr, model, crop_border=crop)


def _niqe_scorer(spec: MetricSpec, res: MetricResources) -> Scorer | str:
    for folder in res.search_dirs:
        for name in (PARAMS_FILE, PARAMS_FILE_MAT):
            if (folder / name).is_file():
                model = load_pristine_model(folder / name)
                return Scorer(spec, functools.partial(_niqe_score, model=model, crop=res.nr_crop_border))
    if PACKAGED_PARAMS.is_file():
        model = load_pristine_model(PACKAGED_PARAMS)
        return Scorer(spec, functools.partial(_niqe_score, model=model, crop=res.nr_crop_border))
    return f"unavailable: needs {PARAMS_FILE} (or {PARAMS_FILE_MAT}) in the mirror's metrics/ or a --weights-dir"


def _psnr_scorer(spec: MetricSpec, res: MetricResources) -> Scorer | str:
    return Scorer(spec, lambda sr, ref: psnr_y(sr, _need(ref), res.fr_crop_border))


def _ssim_scorer(spec: MetricSpec, res: MetricResources) -> Scorer | str:
    return Scorer(spec, lambda sr, ref: ssim_y(sr, _need(ref), res.fr_crop_border))


def _ringing_scorer(spec: MetricSpec, res: MetricResources) -> Scorer | str:
    return Scorer(spec, lambda sr, ref: ringing_y(sr, _need(ref), res.fr_crop_border))


def _noise_scorer(spec: MetricSpec, res: MetricResources) -> Scorer | str:
    return Scorer(spec, lambda sr, ref: noise_sigma_y(sr, res.nr_crop_border))


def _edge_width_scorer(spec: MetricSpec, res: MetricResources) -> Scorer | str:
    return Scorer(spec, lambda sr, ref: edge_width_y(sr, res.nr_crop_border))


def _pyiqa_scorer(spec: MetricSpec, res: MetricResources) -> Scorer | str:
    status = check_pyiqa_metric(spec, res.search_dirs, res.torch_home)
    if not status.ok:
        return status.reason
    metric = PyiqaScorer(spec, res.torch_home, res.device)
    border = res.fr_crop_border if spec.kind == "fr" else res.nr_crop_border
    return Scorer(spec, lambda sr, ref: metric(_crop(sr, border), None if ref is None else _crop(ref, border)))


# One builder per registry ``builder`` name: a scorer, or the reason the metric cannot run here.
BUILDERS: dict[Builder, Callable[[MetricSpec, MetricResources], Scorer | str]] = {
    "niqe": _niqe_scorer,
    "psnr": _psnr_scorer,
    "ssim": _ssim_scorer,
    "ringing": _ringing_scorer,
    "noise_sigma": _noise_scorer,
    "edge_width": _edge_width_scorer,
    "pyiqa": _pyiqa_scorer,
}


def _build(spec: MetricSpec, res: MetricResources) -> Scorer | str:
    return BUILDERS[spec.builder](spec, res)


def build_scorers(names: Sequence[str], res: MetricResources) -> tuple[dict[str, Scorer], dict[str, str]]:
    """``(available scorers, {name: "unavailable: needs ..."})`` for the requested metric names."""
    scorers: dict[str, Scorer] = {}
    unavailable: dict[str, str] = {}
    for name in names:
        built = _build(get_metric(name), res)
        if isinstance(built, str):
            unavailable[name] = built
        else:
            scorers[name] = built
    return scorers, unavailable


def _warn(message: str) -> None:
    warnings.warn(message, stacklevel=3)


def score_image(
    scorers: dict[str, Scorer],
    sr: torch.Tensor,
    ref: torch.Tensor | None,
    image_name: str,
    on_undefined: Callable[[str], None] = _warn,
    seconds: dict[str, float] | None = None,
) -> dict[str, float]:
    """Every scorer on one image. An image too small for NIQE gives NaN and a message
    (``on_undefined``), not a crash. ``seconds`` (if given) accumulates the time per metric."""
    values: dict[str, float] = {}
    for name, scorer in scorers.items():
        start = time.perf_counter()
        try:
            values[name] = float(scorer(sr, ref))
        except NiqeInputError as exc:
            on_undefined(f"{image_name}: {name} not defined: {exc}")
            values[name] = math.nan
        except UserError as exc:
            raise UserError(f"{image_name}: {name}: {exc}") from None
        if seconds is not None:
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start
    return values
