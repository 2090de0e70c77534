"""The ``evaluate`` stage: run a model (or the Bicubic baseline) on a test set, save the SR images and
write the tidy metrics table with a provenance file beside it.

``replication evaluate`` (:mod:`replication.evaluate.evaluate_cli`) is the argparse adapter; this module
takes loaded params and an :class:`EvalRequest`. Scoring an image folder is shared with
``replication metrics`` (:func:`replication.evaluate.runner.score_folder`), so both write the same rows.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from replication.archs.infer import model_scale, upscale_image
from replication.archs.loading import load_generator
from replication.artifacts.metrics_table import TidyRow, write_tidy_csv
from replication.batch import BatchFailures
from replication.errors import UsageError, UserError
from replication.evaluate.bicubic import bicubic_upscale
from replication.evaluate.external import check_external_name
from replication.evaluate.registry import parse_metric_list
from replication.evaluate.runner import ImageScores, score_folder, select_images, tidy_rows, utf8_name
from replication.evaluate.scorers import MetricResources, Scorer, build_scorers
from replication.evaluate.settings import EvalParams
from replication.fsutil import sha256_file, write_text_atomic
from replication.imageio import Image, read_image, write_image
from replication.names import EXTERNAL_SOURCE, FIXED_SOURCES, RETRAINED_PREFIX
from replication.outputs import output_dir
from replication.paramfile import fingerprint

Upscaler = Callable[[Image], Image]


@dataclass(frozen=True)
class EvalRequest:
    """One evaluation: which model, under which names, on which images, written where."""

    model: str  # "bicubic" or a model file (replication.archs.loading: ours, official .pth, spandrel)
    name: str  # the `model` column
    source: str  # the `source` column: official | official-fp16-rounded | retrained-<profile> | bicubic | external
    dataset: str  # the `dataset` column
    input: Path
    out_images: Path
    out_metrics: Path
    metrics: str | None = None  # comma-separated names; None: evaluate.metrics
    max_images: int | None = None  # None: evaluate.max_images
    reference: Path | None = None
    tile: int | None = None  # None: evaluate.tile
    weights_dirs: tuple[Path, ...] = ()
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))  # the network's; metrics: CPU
    progress: bool = True


@dataclass(frozen=True)
class EvalOutcome:
    images: list[Path]
    subset: str
    scores: list[ImageScores]
    unavailable: dict[str, str]
    upscale_seconds: dict[str, float]
    metric_seconds: dict[str, float]
    failures: BatchFailures  # unreadable inputs, reported and skipped


def check_source(source: str, model: str, profiles: list[str], name: str = "", variants: Iterable[str] = ()) -> None:
    """``--source`` is a known one and goes with ``--model``; an ``external`` model's ``--name`` is one
    that no other model of the report has (:func:`replication.evaluate.external.check_external_name`)."""
    match = re.fullmatch(re.escape(RETRAINED_PREFIX) + r"(.+)", source)
    if source not in FIXED_SOURCES and not match:
        raise UsageError(f"--source {source!r}: expected one of {', '.join(FIXED_SOURCES)} or retrained-<profile>")
    if match and match.group(1) not in profiles:
        raise UsageError(f"--source {source!r}: unknown profile {match.group(1)!r} (known: {', '.join(profiles)})")
    if (model == "bicubic") != (source == "bicubic"):
        raise UsageError("--model bicubic goes with --source bicubic (and only with it)")
    if source == EXTERNAL_SOURCE:
        try:
            check_external_name(name, variants)
        except ValueError as exc:
            raise UsageError(f"--name: {exc}") from None


def make_upscaler(model: str, scale: int, tile: int, device: torch.device | str = "cpu") -> tuple[Upscaler, dict]:
    """The function image -> SR image, and a description of the model for the provenance file."""
    if model == "bicubic":

        def bicubic(image: Image) -> Image:
            alpha = bicubic_upscale(image.alpha, scale) if image.alpha is not None else None
            return Image(rgb=bicubic_upscale(image.rgb, scale), alpha=alpha, bit_depth=image.bit_depth, gray=image.gray)

        return bicubic, {"kind": "bicubic", "kernel": "MATLAB imresize bicubic (a=-0.5)", "scale": scale}
    path = Path(model)
    net = load_generator(path, device=device)
    if model_scale(net) != scale:  # every model of a report answers the same ×scale question
        raise UserError(f"--model {model}: a ×{model_scale(net)} model, but the profile's scale is {scale}")
    info = {
        "kind": "network",
        "file": str(model),
        "sha256": sha256_file(path),
        "scale": model_scale(net),
        "checkpoint": getattr(net, "checkpoint_info", None),
    }

    def network(image: Image) -> Image:
        with torch.inference_mode():
            # Alpha only needs to be carried to the output file: resize it instead of a second pass.
            return upscale_image(net, image, tile=tile, alpha_mode="bilinear")

    return network, info


class EvalTools:
    """The loaded model and the built metric scorers, kept for the next evaluation in this process.

    ``replication evaluate-all`` scores one model on several sets: loading the network, the NIQE
    model and the pyiqa networks once instead of once per set is what makes one stage per model
    cheaper than one per (model, set). The results are the same bytes either way."""

    def __init__(self) -> None:
        self._upscalers: dict[tuple, tuple[Upscaler, dict]] = {}
        self._scorers: dict[tuple, tuple[dict[str, Scorer], dict[str, str]]] = {}

    def upscaler(self, model: str, scale: int, tile: int, device: torch.device | str) -> tuple[Upscaler, dict]:
        key = (model, scale, tile, str(device))
        if key not in self._upscalers:
            self._upscalers[key] = make_upscaler(model, scale, tile, device)
        return self._upscalers[key]

    def scorers(self, names: list[str], resources: MetricResources) -> tuple[dict[str, Scorer], dict[str, str]]:
        key = (tuple(names), resources)
        if key not in self._scorers:
            self._scorers[key] = build_scorers(names, resources)
        return self._scorers[key]


def meta_path(out_metrics: Path) -> Path:
    """The provenance file beside a metrics CSV: ``<stem>.meta.json``."""
    return out_metrics.with_name(out_metrics.stem + ".meta.json")


def _check_inputs(images: list[Path], req: EvalRequest, tile: int) -> None:
    if tile < 0:
        raise UserError(f"--tile must be >= 0, got {tile}")
    stems = [p.stem for p in images]
    dup = sorted({s for s in stems if stems.count(s) > 1})
    if dup:
        raise UserError(f"{req.input}: several images share the name {dup[0]!r}; their outputs would collide")
    if req.reference is not None and not req.reference.is_dir():
        raise UserError(f"{req.reference}: reference folder not found")


def _upscale_all(
    images: list[Path], upscale: Upscaler, req: EvalRequest, failures: BatchFailures
) -> tuple[list[Path], list[Path], dict[str, float]]:
    """Write every SR image as ``<out_images>/<stem>.png``; an input that fails (unreadable, over the pixel
    budget, a non-finite network output) is reported and skipped. The folder is built under a hidden
    partial name and published when every image is done (nothing stays there after Ctrl-C).
    Returns the inputs done, the files written and the seconds per image."""
    done, written, seconds = [], [], {}
    bar = tqdm(images, desc=f"{req.name} on {req.dataset}", unit="img", file=sys.stderr, disable=not req.progress)
    with output_dir(req.out_images, "evaluate", accumulate=True) as tmp:
        for path in bar:
            try:
                utf8_name(path)
                lq = read_image(path)
                start = time.perf_counter()
                sr = upscale(lq)
                seconds[path.name] = time.perf_counter() - start
                write_image(tmp / f"{path.stem}.png", sr.rgb, alpha=sr.alpha, bit_depth=sr.bit_depth, gray=sr.gray)
            except (UserError, ValueError, OSError, RuntimeError) as exc:
                failures.add(exc, path)
                continue
            done.append(path)
            written.append(req.out_images / f"{path.stem}.png")
    return done, written, seconds


def evaluate(params: EvalParams, req: EvalRequest, tools: EvalTools | None = None) -> EvalOutcome:
    """Upscale, save, read back and score (the metrics are those of the saved files); write CSV + meta.
    ``tools``: the model and scorers of earlier evaluations in this process, reused (default: new ones)."""
    tools = EvalTools() if tools is None else tools
    cfg = params.active.evaluate
    check_source(req.source, req.model, list(params.profiles), req.name, params.variants)
    names = parse_metric_list(req.metrics) if req.metrics else list(cfg.metrics)
    tile = cfg.tile if req.tile is None else req.tile
    n_images = cfg.max_images if req.max_images is None else req.max_images
    images, subset = select_images(req.input, n_images, cfg.selection, cfg.selection_seed)
    _check_inputs(images, req, tile)
    resources = MetricResources(
        mirror=params.mirror_dir(),
        weights_dirs=req.weights_dirs,
        nr_crop_border=cfg.nr_crop_border,
        fr_crop_border=cfg.fr_crop_border,
    )
    scorers, unavailable = tools.scorers(names, resources)
    needs_ref = [n for n, s in scorers.items() if s.spec.kind == "fr"]
    if needs_ref and req.reference is None:
        raise UserError(f"metric(s) {', '.join(needs_ref)} need --reference DIR")
    upscale, model_info = tools.upscaler(req.model, params.active.scale, tile, req.device)
    failures = BatchFailures("evaluate")
    done, written, upscale_seconds = _upscale_all(images, upscale, req, failures)
    metric_seconds: dict[str, float] = {}
    # Scored under the input's name: the SR file is <stem>.png whatever the input's format.
    scores = score_folder(
        written,
        scorers,
        req.reference,
        seconds=metric_seconds,
        names=[p.name for p in done],
        failures=failures,
        progress=req.progress,
    )
    rows: list[TidyRow] = tidy_rows(scores, req.name, req.source, params.profile, req.dataset, subset)
    write_tidy_csv(rows, req.out_metrics)
    meta = {
        "model": req.name,
        "source": req.source,
        "profile": params.profile,
        "dataset": req.dataset,
        "subset": subset,
        "input": str(req.input),
        "out_images": str(req.out_images),
        "images": [p.name for p in images],
        "model_info": model_info,
        "tile": tile,
        "metrics": list(scorers),
        "unavailable": unavailable,
        "crop_border": {"no_reference": cfg.nr_crop_border, "full_reference": cfg.fr_crop_border},
        "evaluate_fingerprint": fingerprint(cfg),
        # Timings, thread counts and the machine are printed, not stored: this folder is a DVC output
        # the report depends on, and must be byte-identical between two runs of the same evaluation.
    }
    write_text_atomic(meta_path(req.out_metrics), json.dumps(meta, indent=1, default=str) + "\n")
    return EvalOutcome(images, subset, scores, unavailable, upscale_seconds, metric_seconds, failures)
