"""Every metric the project can compute, in one table: direction, backend and the files it needs.

``backend``:
* ``ours``: implemented in this package (NIQE with the paper protocol, PSNR, SSIM);
* ``pyiqa``: IQA-PyTorch (pip extra ``metrics``; licence PolyForm-Noncommercial-1.0.0, i.e. for
  non-commercial use only), run offline: the parameter/weight files listed in ``files`` are looked
  up locally and staged into a private torch-hub cache before the metric is built; a metric whose
  files are missing is reported as ``unavailable: needs <file>`` and never scored.

``lower_better`` is the metric's direction (NIQE, BRISQUE, IL-NIQE, PIQE, PI, LPIPS: lower is better;
MUSIQ, MANIQA, CLIP-IQA, TOPIQ, NRQM, PSNR, SSIM: higher is better; ringing: lower is better).

File locations (``RequiredFile.where``), relative to the torch home used for pyiqa:
* ``pyiqa``: ``hub/pyiqa/<name>`` (pyiqa's own download cache);
* ``clip``: ``hub/clip/<name>`` (OpenAI CLIP backbones, checked by sha256 by the clip loader);
* ``torchvision``: ``hub/checkpoints/<name>`` (torchvision ImageNet weights);
* ``hf``: a HuggingFace-hub cache entry ``<repo>/<name>`` (read from ``$HF_HOME``, offline);
* ``mirror``: the project's offline mirror, ``<mirror>/metrics/<name>`` (our own NIQE).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from replication.errors import UserError
from replication.names import METRIC_NAMES, MetricName

Kind = Literal["nr", "fr"]
Backend = Literal["ours", "pyiqa"]
# How a metric's scorer is built (replication.evaluate.scorers.BUILDERS has one function per name).
Builder = Literal["niqe", "psnr", "ssim", "ringing", "pyiqa"]
Where = Literal["pyiqa", "clip", "torchvision", "hf", "mirror"]


@dataclass(frozen=True)
class RequiredFile:
    name: str  # file name, exactly as the consumer looks it up
    where: Where
    repo: str = ""  # HuggingFace repo id, for where="hf"
    note: str = ""


@dataclass(frozen=True)
class MetricSpec:
    name: MetricName
    kind: Kind  # nr: no reference; fr: needs the ground truth
    lower_better: bool
    backend: Backend
    description: str
    pyiqa_name: str = ""
    pyiqa_options: dict[str, Any] = field(default_factory=dict)
    files: tuple[RequiredFile, ...] = ()
    modules: tuple[str, ...] = ()  # Python modules that must import (an environment requirement)
    y_channel: bool = False  # computed on BT.601 Y (ours) / pyiqa's own colour handling otherwise
    builder: Builder = "pyiqa"
    unit: str = "score"  # what a value is measured in, for table headers


_PYIQA_DIR: Where = "pyiqa"

METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec(
            "niqe",
            "nr",
            True,
            "ours",
            "NIQE, paper protocol: BT.601 Y, rounded, 96x96 blocks, LIVE pristine model (ours)",
            files=(RequiredFile("niqe_pris_params.npz", "mirror", note="or the LIVE niqe_modelparameters.mat"),),
            y_channel=True,
            builder="niqe",
        ),
        MetricSpec(
            "brisque",
            "nr",
            True,
            "pyiqa",
            "BRISQUE (LIVE libsvm model), pyiqa",
            pyiqa_name="brisque",
            files=(RequiredFile("brisque_svm_weights.pth", _PYIQA_DIR),),
        ),
        MetricSpec(
            "ilniqe",
            "nr",
            True,
            "pyiqa",
            "IL-NIQE (official templateModel), pyiqa; ~9 s per image on CPU",
            pyiqa_name="ilniqe",
            files=(RequiredFile("ILNIQE_templateModel.mat", _PYIQA_DIR),),
        ),
        MetricSpec("piqe", "nr", True, "pyiqa", "PIQE (no parameters), pyiqa", pyiqa_name="piqe"),
        MetricSpec(
            "musiq",
            "nr",
            False,
            "pyiqa",
            "MUSIQ trained on KonIQ-10k, pyiqa",
            pyiqa_name="musiq",
            files=(RequiredFile("musiq_koniq_ckpt-e95806b9.pth", _PYIQA_DIR),),
        ),
        MetricSpec(
            "maniqa",
            "nr",
            False,
            "pyiqa",
            "MANIQA trained on KonIQ-10k, pyiqa; ~1 min per image on CPU",
            pyiqa_name="maniqa",
            files=(
                RequiredFile("ckpt_koniq10k.pt", _PYIQA_DIR),
                # timm builds the ViT with pretrained=True before the checkpoint overwrites it.
                RequiredFile(
                    "model.safetensors",
                    "hf",
                    repo="timm/vit_base_patch8_224.augreg2_in21k_ft_in1k",
                    note="ViT-B/8 backbone in the HuggingFace cache",
                ),
            ),
        ),
        MetricSpec(
            "clipiqa",
            "nr",
            False,
            "pyiqa",
            "CLIP-IQA (RN50, hand-made prompts), pyiqa",
            pyiqa_name="clipiqa",
            files=(RequiredFile("RN50.pt", "clip", note="OpenAI CLIP ResNet-50 (JIT archive)"),),
            # openai-clip imports pkg_resources, which setuptools >= 81 no longer ships.
            modules=("pkg_resources",),
        ),
        MetricSpec(
            "topiq_nr",
            "nr",
            False,
            "pyiqa",
            "TOPIQ-NR (CFANet, ResNet-50) trained on KonIQ-10k, pyiqa",
            pyiqa_name="topiq_nr",
            # The checkpoint holds the backbone too: do not fetch timm's ImageNet ResNet-50.
            pyiqa_options={"backbone_pretrain": False},
            files=(RequiredFile("cfanet_nr_koniq_res50-9a73138b.pth", _PYIQA_DIR),),
        ),
        MetricSpec(
            "nrqm",
            "nr",
            False,
            "pyiqa",
            "NRQM (Ma et al.), pyiqa; minutes per 2K image on CPU",
            pyiqa_name="nrqm",
            files=(RequiredFile("NRQM_model.mat", _PYIQA_DIR),),
        ),
        MetricSpec(
            "pi",
            "nr",
            True,
            "pyiqa",
            "Perceptual Index = (10 - NRQM + NIQE) / 2 (PIRM: Y, crop 4), pyiqa",
            pyiqa_name="pi",
            files=(RequiredFile("NRQM_model.mat", _PYIQA_DIR), RequiredFile("niqe_modelparameters.mat", _PYIQA_DIR)),
        ),
        MetricSpec(
            "psnr",
            "fr",
            False,
            "ours",
            "PSNR on BT.601 Y, border crop (ours)",
            y_channel=True,
            builder="psnr",
            unit="dB",
        ),
        MetricSpec(
            "ssim",
            "fr",
            False,
            "ours",
            "SSIM on BT.601 Y (11x11 Gaussian, sigma 1.5), border crop (ours)",
            y_channel=True,
            builder="ssim",
            unit="0-1",
        ),
        MetricSpec(
            "ringing",
            "fr",
            True,
            "ours",
            "ringing/overshoot beyond the GT's local range next to strong GT edges, BT.601 Y (ours)",
            y_channel=True,
            builder="ringing",
            unit="% edge contrast",
        ),
        MetricSpec(
            "lpips",
            "fr",
            True,
            "pyiqa",
            "LPIPS v0.1 (AlexNet), pyiqa",
            pyiqa_name="lpips",
            files=(
                RequiredFile("LPIPS_v0.1_alex-df73285e.pth", _PYIQA_DIR),
                RequiredFile("alexnet-owt-7be5be79.pth", "torchvision", note="torchvision AlexNet IMAGENET1K_V1"),
            ),
        ),
    )
}


# The registry and the closed set of names agree (a new metric is one row here plus its name in names.py).
if tuple(METRICS) != METRIC_NAMES:
    raise RuntimeError(f"evaluate.registry.METRICS {tuple(METRICS)} and names.METRIC_NAMES {METRIC_NAMES} differ")


def get_metric(name: str) -> MetricSpec:
    """The spec of ``name``; a ``UserError`` lists the known names otherwise."""
    try:
        return METRICS[name]
    except KeyError:
        raise UserError(f"unknown metric {name!r} (known: {', '.join(METRICS)})") from None


def parse_metric_list(text: str) -> list[str]:
    """``"niqe,brisque"`` -> ``["niqe", "brisque"]``, validated, duplicates removed, order kept."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise UserError("--metrics: give at least one metric name")
    for n in names:
        get_metric(n)
    return list(dict.fromkeys(names))
