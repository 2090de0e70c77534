"""The paper's Table 1 (NIQE, lower is better) as data, with where each number comes from.

Values were read digit by digit from an image copy of Table 1 of Wang et al., "Real-ESRGAN: Training
Real-World Blind Super-Resolution with Pure Synthetic Data", ICCVW 2021 (arXiv:2107.10833 v2);
see ``docs/reference-notes.md`` §9. Five of the columns are confirmed independently by another
paper's README that copies them. The paper states neither the NIQE implementation nor the subset of
ImageNet val it used.

Methods and test sets are mapped to our registry names so the report can put our measurement next
to each paper value. Where the mapping is uncertain the ``note`` says so.
"""

from __future__ import annotations

from dataclasses import dataclass

SOURCE = (
    "Wang, Xie, Dong, Shan. Real-ESRGAN. ICCVW 2021, Table 1 (NIQE, x4; lower is better). "
    "Read from an image copy of the table (hep1998630/Real-ESRGAN-aws@7b3d930, assets/benchmark_table.png); "
    "Bicubic/ESRGAN/DAN/RealSR/BSRGAN columns confirmed by bjzzhou/STPSR's README."
)
METRIC = "niqe"


@dataclass(frozen=True)
class PaperMethod:
    label: str  # column title in the paper
    models: tuple[str, ...]  # our model names that stand for it (weights-registry, variant or "bicubic")
    note: str  # how sure the mapping is


@dataclass(frozen=True)
class PaperTestSet:
    label: str  # row title in the paper
    dataset: str  # our dataset registry name
    note: str


METHODS: tuple[PaperMethod, ...] = (
    PaperMethod("Bicubic", ("bicubic",), "MATLAB-style bicubic x4 of the LR input (presumed)"),
    PaperMethod("ESRGAN", ("esrgan_df2kost",), "which ESRGAN weights the paper used is not stated"),
    PaperMethod("DAN", ("dan",), ""),
    PaperMethod(
        "RealSR",
        ("realsr_df2k", "realsr_df2k_jpeg", "realsr_dped"),
        "the paper does not say which RealSR model; every released one we have is shown",
    ),
    PaperMethod("CDC", ("cdc",), ""),
    PaperMethod("BSRGAN", ("bsrgan",), ""),
    PaperMethod(
        "Real-ESRGAN",
        ("real_esrgan",),
        "no weights of the non-sharpened model are released and its recipe is unpublished: our retrained "
        "`real_esrgan` variant (LQ and targets from the plain GT) is our reading of it",
    ),
    PaperMethod(
        "Real-ESRGAN+",
        ("realesrgan_x4plus", "full"),
        "RealESRGAN_x4plus (trained on USM-sharpened GT), as released; our retrained `full` variant follows "
        "the same sharpened-GT recipe",
    ),
)

TEST_SETS: tuple[PaperTestSet, ...] = (
    PaperTestSet("RealSR-Canon", "realsr-v3-canon", "RealSR V3 Canon x4 test LR"),
    PaperTestSet("RealSR-Nikon", "realsr-v3-nikon", "RealSR V3 Nikon x4 test LR"),
    PaperTestSet("DRealSR", "drealsr", "DRealSR x4 test LR"),
    PaperTestSet("DPED-iphone", "dped-iphone", "which DPED split was used is not stated"),
    PaperTestSet("OST300", "ost300", ""),
    PaperTestSet("ImageNet val", "imagenet-val", "the subset of ImageNet val used is not stated"),
    PaperTestSet("ADE20K val", "ade20k-val", ""),
)

# NIQE[test set label][method label], exactly as printed.
VALUES: dict[str, dict[str, float]] = {
    "RealSR-Canon": {
        "Bicubic": 6.1269,
        "ESRGAN": 6.7715,
        "DAN": 6.5282,
        "RealSR": 6.8692,
        "CDC": 6.1488,
        "BSRGAN": 5.7489,
        "Real-ESRGAN": 4.5899,
        "Real-ESRGAN+": 4.5314,
    },
    "RealSR-Nikon": {
        "Bicubic": 6.3607,
        "ESRGAN": 6.7480,
        "DAN": 6.6063,
        "RealSR": 6.7390,
        "CDC": 6.3265,
        "BSRGAN": 5.9920,
        "Real-ESRGAN": 5.0753,
        "Real-ESRGAN+": 5.0247,
    },
    "DRealSR": {
        "Bicubic": 6.5766,
        "ESRGAN": 8.6335,
        "DAN": 7.0720,
        "RealSR": 7.7213,
        "CDC": 6.6359,
        "BSRGAN": 6.1362,
        "Real-ESRGAN": 4.9796,
        "Real-ESRGAN+": 4.8458,
    },
    "DPED-iphone": {
        "Bicubic": 6.0121,
        "ESRGAN": 5.7363,
        "DAN": 6.1414,
        "RealSR": 5.5855,
        "CDC": 6.2738,
        "BSRGAN": 5.9906,
        "Real-ESRGAN": 5.4352,
        "Real-ESRGAN+": 5.2631,
    },
    "OST300": {
        "Bicubic": 4.4440,
        "ESRGAN": 3.5245,
        "DAN": 5.0232,
        "RealSR": 4.5715,
        "CDC": 4.7441,
        "BSRGAN": 4.1662,
        "Real-ESRGAN": 2.8659,
        "Real-ESRGAN+": 2.8191,
    },
    "ImageNet val": {
        "Bicubic": 7.4985,
        "ESRGAN": 3.6474,
        "DAN": 6.0932,
        "RealSR": 3.8303,
        "CDC": 7.0441,
        "BSRGAN": 4.3528,
        "Real-ESRGAN": 4.8580,
        "Real-ESRGAN+": 4.6448,
    },
    "ADE20K val": {
        "Bicubic": 7.5239,
        "ESRGAN": 3.6905,
        "DAN": 6.3839,
        "RealSR": 3.4102,
        "CDC": 6.9219,
        "BSRGAN": 3.9434,
        "Real-ESRGAN": 3.7886,
        "Real-ESRGAN+": 3.5778,
    },
}


def paper_value(dataset: str, method_label: str) -> float | None:
    """The paper's NIQE for our dataset name and a paper method label, or None if not in Table 1."""
    for test_set in TEST_SETS:
        if test_set.dataset == dataset:
            return VALUES[test_set.label].get(method_label)
    return None


def method_of(model: str) -> PaperMethod | None:
    """The paper column our ``model`` stands for, if any."""
    for method in METHODS:
        if model in method.models:
            return method
    return None


def paper_models() -> tuple[str, ...]:
    """Every model name the paper's table needs, in column order."""
    return tuple(m for method in METHODS for m in method.models)
