"""Degrader variants: contract, reproducibility, batch- vs sample-level draws, sanity of outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import degradation_cfg, mirror_dir
from scipy import stats

from replication.degrade.config import DegradationConfig
from replication.degrade.kernels import PULSE, SINC
from replication.degrade.pipeline import VARIANTS, Degrader, without_sinc
from replication.degrade.resize import ResizeDraw, imresize_matlab
from replication.degrade.usm import usm_sharp
from replication.errors import UserError
from replication.imageio import quantize_8bit, read_image

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def cfg() -> DegradationConfig:
    return degradation_cfg("smoke")


@pytest.fixture(scope="module")
def gt() -> torch.Tensor:
    """(3, 3, 128, 128) natural-image crops (Set5 HR), or smooth random images without the mirror."""
    folder = mirror_dir() / "datasets" / "set5" / "HR"
    if folder.is_dir():
        crops = [read_image(folder / f"{n}.png").rgb[0, :, 60:188, 60:188] for n in ("baby", "bird", "woman")]
        return torch.stack(crops).contiguous()
    small = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    return torch.nn.functional.interpolate(small, size=(128, 128), mode="bicubic").clamp(0, 1)


def _run(cfg, variant, gt, seed, scale=4):
    return Degrader(cfg, variant, scale, "cpu")(gt, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_contract(cfg, gt, variant):
    out = _run(cfg, variant, gt, seed=0)
    assert out.lq.shape == (3, 3, 32, 32) and out.lq.dtype == torch.float32
    assert float(out.lq.min()) >= 0 and float(out.lq.max()) <= 1
    torch.testing.assert_close(out.lq * 255, (out.lq * 255).round(), atol=1e-4, rtol=0)  # 8-bit values
    assert torch.equal(out.gt, gt)
    assert torch.equal(out.gt_usm, usm_sharp(gt, cfg.usm))
    # Degradations roughly keep each image's colour balance (catches channel or range mix-ups).
    mean_gap = (out.lq.mean(dim=(2, 3)) - gt.mean(dim=(2, 3))).abs()
    assert float(mean_gap.max()) < 0.08


@pytest.mark.parametrize("variant", VARIANTS)
def test_same_seed_same_pairs(cfg, gt, variant):
    a = _run(cfg, variant, gt, seed=7).lq
    b = _run(cfg, variant, gt, seed=7).lq
    c = _run(cfg, variant, gt, seed=8).lq
    assert torch.equal(a, b)
    if variant == "bicubic":
        assert torch.equal(a, c)  # deterministic by definition
    else:
        assert not torch.equal(a, c)


def test_bicubic_is_matlab_imresize_of_the_sharpened_gt(cfg, gt):
    out = _run(cfg, "bicubic", gt, seed=0, scale=2)
    assert out.lq.shape[-2:] == (64, 64)
    torch.testing.assert_close(out.lq, quantize_8bit(imresize_matlab(usm_sharp(gt, cfg.usm), 0.5)))


def test_second_order_scopes_match_the_reference(cfg, gt):
    rec = _run(cfg, "second_order", gt, seed=3).record
    # Per batch: one resize draw per stage, one noise family, one final order and mode.
    assert isinstance(rec["resize1"], ResizeDraw) and isinstance(rec["resize2"], ResizeDraw)
    assert rec["noise1"].family in ("gaussian", "poisson") and isinstance(rec["second_blur"], bool)
    assert rec["final_order"] in ("resize_first", "jpeg_first") and rec["final_mode"] in cfg.final_resize_modes
    # Per sample: kernels, noise levels, gray flags, JPEG qualities.
    for key in ("kernel1", "kernel2", "final_sinc"):
        assert rec[key].kernels.shape == (3, 21, 21)
    assert not torch.equal(rec["kernel1"].kernels[0], rec["kernel1"].kernels[1])
    for key in ("noise1", "noise2"):
        assert rec[key].level.shape == (3,) and len(set(rec[key].level.tolist())) == 3
        assert rec[key].gray.shape == (3,)
    for key in ("jpeg1", "jpeg2"):
        q = rec[key]
        assert q.shape == (3,) and len(set(q.tolist())) == 3
        assert float(q.min()) >= cfg.jpeg1[0] and float(q.max()) <= cfg.jpeg1[1]


def test_batch_level_switches_occur_at_their_rates(cfg):
    """80 small batches: second-blur switch (p 0.8) and final order (p 0.5) are per-batch coins."""
    degrader = Degrader(cfg, "second_order", 4, "cpu")
    g = torch.Generator().manual_seed(4)
    gt = torch.rand(2, 3, 96, 96, generator=g)
    recs = [degrader(gt, g).record for _ in range(80)]
    blur2 = sum(r["second_blur"] for r in recs)
    resize_first = sum(r["final_order"] == "resize_first" for r in recs)
    assert stats.binomtest(blur2, 80, cfg.second_blur_prob).pvalue > 1e-3
    assert stats.binomtest(resize_first, 80, cfg.final_resize_first_prob).pvalue > 1e-3
    families = {r["noise1"].family for r in recs}
    assert families == {"gaussian", "poisson"}


def test_no_sinc_never_uses_sinc(cfg):
    base = degradation_cfg("paper")
    assert base.blur1.sinc_prob > 0 and base.final_sinc_prob > 0
    stripped = without_sinc(base)
    assert (stripped.blur1.sinc_prob, stripped.blur2.sinc_prob, stripped.final_sinc_prob) == (0.0, 0.0, 0.0)
    degrader = Degrader(cfg, "no_sinc", 4, "cpu")
    g = torch.Generator().manual_seed(5)
    gt = torch.rand(16, 3, 96, 96, generator=g)
    rec = degrader(gt, g).record
    assert not bool((rec["kernel1"].kind == SINC).any()) and not bool((rec["kernel2"].kind == SINC).any())
    assert bool((rec["final_sinc"].kind == PULSE).all())


def test_first_order_has_one_stage(cfg, gt):
    rec = _run(cfg, "first_order", gt, seed=1).record
    assert {"kernel1", "resize1", "noise1", "jpeg1", "final_sinc"} <= set(rec)
    assert not {"kernel2", "resize2", "noise2", "jpeg2", "second_blur"} & set(rec)


def test_bsrgan_order_is_a_shuffle_with_down1_before_down2(cfg, gt):
    orders = set()
    for seed in range(6):
        order = _run(cfg, "bsrgan", gt, seed=seed).record["order"]
        assert sorted(order) == sorted(["blur", "blur", "down1", "down2", "noise", "jpeg"])
        assert order.index("down1") < order.index("down2")
        orders.add(tuple(order))
    assert len(orders) > 1


def test_bad_inputs_are_rejected(cfg, gt):
    with pytest.raises(UserError, match="unknown degradation variant 'third_order'"):
        Degrader(cfg, "third_order", 4, "cpu")
    degrader = Degrader(cfg, "second_order", 4, "cpu")
    with pytest.raises(ValueError, match="not divisible by scale 4"):
        degrader(torch.rand(1, 3, 130, 130), torch.Generator())
    with pytest.raises(ValueError, match="too small"):
        degrader(torch.rand(1, 3, 16, 16), torch.Generator())
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        degrader(torch.rand(3, 128, 128), torch.Generator())


@pytest.mark.gpu
def test_cuda_matches_itself_and_cpu_statistics(cfg, gt):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    deg = Degrader(cfg, "second_order", 4, "cuda")
    a = deg(gt, torch.Generator().manual_seed(0)).lq
    b = deg(gt, torch.Generator().manual_seed(0)).lq
    assert a.device.type == "cuda" and torch.equal(a, b)
    bicubic_gpu = Degrader(cfg, "bicubic", 4, "cuda")(gt, torch.Generator()).lq.cpu()
    bicubic_cpu = Degrader(cfg, "bicubic", 4, "cpu")(gt, torch.Generator()).lq
    assert float((bicubic_gpu - bicubic_cpu).abs().max()) <= 1 / 255 + 1e-6
