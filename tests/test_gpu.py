"""The CUDA path: synthesis on CUDA equals the CPU's, both training phases run in fp32 and bf16, and a
resumed run is bit-identical to an uninterrupted one when deterministic algorithms are on.

Every test here is marked ``gpu`` and skips without a CUDA device. No file from outside the
repository is needed (the training data are seeded synthetic images), so these run on a bare GPU
machine: ``benchmarks/gpu_check.sh`` runs them with ``pytest -m gpu``.
"""

from __future__ import annotations

import os

# cuBLAS reads this when its first handle is made: it must be set before any CUDA work.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

from pathlib import Path

import pytest
import torch
import yaml
from helpers import degradation_cfg

from replication.degrade import second_order as second_order_module
from replication.degrade.filters import filter2d
from replication.degrade.jpeg import diff_jpeg
from replication.degrade.noise import gaussian_noise, poisson_noise
from replication.degrade.resize import imresize_matlab, interpolate
from replication.degrade.second_order import second_order
from replication.degrade.usm import usm_sharp
from replication.params import Profile
from replication.report.config import expected_pipeline_lists
from replication.strict import from_dict, to_dict
from replication.train import distributed, state
from replication.train.config import VariantConfig
from replication.train.loop import RunOptions, build_trainer, gan_step, net_step, next_gt_batch, preflight, train

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
]


def natural_like(batch: int, size: int, seed: int) -> torch.Tensor:
    """(batch, 3, size, size) in [0, 1]: smooth colour fields with hard edges and fine texture."""
    gen = torch.Generator().manual_seed(seed)
    smooth = torch.nn.functional.interpolate(
        torch.rand(batch, 3, 6, 6, generator=gen), size=(size, size), mode="bicubic"
    )
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    edges = (torch.sin(xx * 0.21 + yy * 0.07) > 0).float()[None, None] * 0.3
    texture = torch.rand(batch, 1, size, size, generator=gen) * 0.08
    return (0.6 * smooth + edges + texture).clamp(0, 1)


def close_8bit(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """(mean |a - b|, fraction of values that differ by more than 1.5 grey levels)."""
    diff = (a.float().cpu() - b.float().cpu()).abs()
    return float(diff.mean()), float((diff > 1.5 / 255).float().mean())


# ---------------------------------------------------------------------------------------------
# Synthesis


def test_building_blocks_on_cuda_equal_cpu():
    img = natural_like(3, 96, seed=1)
    cuda = img.cuda()
    cfg = degradation_cfg("paper")
    torch.testing.assert_close(usm_sharp(cuda, cfg.usm).cpu(), usm_sharp(img, cfg.usm), atol=1e-4, rtol=0)
    kernels = torch.rand(3, 21, 21, generator=torch.Generator().manual_seed(2))
    kernels /= kernels.sum(dim=(1, 2), keepdim=True)
    torch.testing.assert_close(filter2d(cuda, kernels.cuda()).cpu(), filter2d(img, kernels), atol=1e-4, rtol=0)
    for mode in ("area", "bilinear", "bicubic"):
        got = interpolate(cuda, mode, size=(37, 53)).cpu()
        torch.testing.assert_close(got, interpolate(img, mode, size=(37, 53)), atol=1e-4, rtol=0)
    torch.testing.assert_close(imresize_matlab(cuda, 0.25).cpu(), imresize_matlab(img, 0.25), atol=1e-4, rtol=0)
    quality = torch.tensor([30.0, 55.5, 90.0])
    # JPEG rounds DCT coefficients: a float difference can flip one, changing a block. Nearly all agree.
    mean, off = close_8bit(diff_jpeg(cuda, quality), diff_jpeg(img, quality))
    assert mean < 5e-4 and off < 5e-3, (mean, off)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_second_order_synthesis_on_cuda_equals_cpu(monkeypatch, seed):
    """The whole high-order model with the same draws on both devices. Noise fields are drawn on the
    device that uses them (different generators), so noise is switched off here and checked below."""
    monkeypatch.setattr(second_order_module, "add_noise", lambda img, *_: img)
    cfg = degradation_cfg("paper")
    gt = natural_like(4, 128, seed=10 + seed)
    gt_usm = usm_sharp(gt, cfg.usm)
    unused = torch.Generator()
    lq_cpu, rec_cpu = second_order(gt_usm, cfg, 4, torch.Generator().manual_seed(seed), unused)
    lq_gpu, rec_gpu = second_order(gt_usm.cuda(), cfg, 4, torch.Generator().manual_seed(seed), unused)
    assert lq_gpu.device.type == "cuda" and lq_gpu.shape == lq_cpu.shape == (4, 3, 32, 32)
    assert rec_cpu["final_order"] == rec_gpu["final_order"] and rec_cpu["resize1"] == rec_gpu["resize1"]
    mean, off = close_8bit(lq_gpu, lq_cpu)
    assert mean < 1e-3 and off < 0.01, (mean, off)


def test_noise_on_cuda_has_the_cpu_statistics():
    img = torch.full((4, 3, 128, 128), 0.5)
    sigma = torch.tensor([5.0, 10.0, 20.0, 30.0])
    gray = torch.tensor([False, True, False, True])
    stds = {}
    for dev in ("cpu", "cuda"):
        gen = torch.Generator(device=dev).manual_seed(0)
        noisy = gaussian_noise(img.to(dev), sigma, gray, gen)
        stds[dev] = ((noisy - 0.5) * 255).flatten(1).std(dim=1).cpu()
    torch.testing.assert_close(stds["cuda"], sigma, rtol=0.05, atol=0)
    torch.testing.assert_close(stds["cuda"], stds["cpu"], rtol=0.05, atol=0)
    scale = torch.tensor([0.5, 1.0, 2.0, 3.0])
    for dev in ("cpu", "cuda"):
        gen = torch.Generator(device=dev).manual_seed(0)
        noisy = poisson_noise(natural_like(4, 128, 3).to(dev), scale, gray, gen)
        stds[dev] = (noisy - natural_like(4, 128, 3).to(dev)).flatten(1).std(dim=1).cpu()
    torch.testing.assert_close(stds["cuda"], stds["cpu"], rtol=0.1, atol=0)


# ---------------------------------------------------------------------------------------------
# Training


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory) -> Path:
    """A prepared training folder of seeded synthetic images (sub-images of 128 px)."""
    from replication.data.config import DataConfig
    from replication.data.prepare import prepare_subimages
    from replication.imageio import write_image

    src = tmp_path_factory.mktemp("gpu_images")
    files = []
    for i in range(3):
        path = src / f"img{i}.png"
        write_image(path, natural_like(1, 256, seed=100 + i))
        files.append(path)
    cfg = DataConfig(
        train_sets=("t",),
        multiscale_sets=(),
        multiscale_factors=(0.5,),
        multiscale_shortest_edge=0,
        crop_size=128,
        crop_step=128,
        thresh_size=0,
        shard_size=100,
    )
    out = tmp_path_factory.mktemp("gpu_train") / "prepared"
    prepare_subimages({"t": files}, {"t": src}, cfg, out, workers=1, progress=False)
    return out


def tiny_params(tmp_path: Path) -> Path:
    """The smoke profile shrunk: 8-channel nets, batch 2, GT patch 32, 6 iterations, checkpoints every 2."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["profile"] = "smoke"
    raw["mirror"] = ""
    smoke = raw["profiles"]["smoke"]
    smoke["network"] = dict(arch="rrdbnet", num_feat=8, num_block=1, num_grow_ch=4, disc_num_feat=8, net_init="scratch")
    smoke["degradation"]["pool_size"] = 4
    for phase in ("train_net", "train_gan"):
        smoke[phase].update(
            iters=6,
            batch_size=2,
            gt_size=32,
            ckpt_every=2,
            keep_checkpoints=2,
            log_every=1,
            sample_every=3,
            vgg_weights="untrained",
        )
    variants = {k: from_dict(VariantConfig, v) for k, v in raw["variants"].items()}
    raw["pipeline"] = to_dict(expected_pipeline_lists(from_dict(Profile, smoke), variants))
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def options(params: Path, data: Path, out: Path, **kw) -> RunOptions:
    return RunOptions(
        params_path=params,
        profile=None,
        variant=kw.pop("variant", "full"),
        phase=kw.pop("phase", "net"),
        data=data,
        out=out,
        init="scratch",
        models_dir=out / "models",
        vgg_weights=out / "no-vgg.pth",
        device="cuda",
        **kw,
    )


@pytest.mark.parametrize("phase", ["net", "gan"])
def test_both_phases_train_on_cuda_in_fp32_and_bf16(tmp_path, store_dir, phase):
    """A few steps per precision from the same start; bf16 autocast stays close to fp32 on step 1."""
    params = tiny_params(tmp_path)
    step = net_step if phase == "net" else gan_step
    first: dict[str, float] = {}
    for amp, channels_last in (("none", False), ("bf16", False), ("bf16", True)):
        run = tmp_path / f"run_{amp}_{channels_last}"
        opts = options(params, store_dir, run, phase=phase, amp=amp, channels_last=channels_last)
        t = build_trainer(preflight(opts), opts, distributed.setup("cuda"))
        assert next(t.g.parameters()).device.type == "cuda"
        before = [p.detach().clone() for p in t.g.parameters()]
        for i in range(3):
            losses = step(t, next_gt_batch(t))
            assert all(bool(torch.isfinite(v).all()) for v in losses.values()), (amp, i, losses)
            if i == 0:
                first[f"{amp}{'_cl' if channels_last else ''}"] = losses["l_g_pix"].item()
        assert any(not torch.equal(a, b) for a, b in zip(before, t.g.parameters(), strict=True)), "weights did not move"
    # Same weights, same synthesised batch (same seeds, same device): only the arithmetic differs.
    for key in ("bf16", "bf16_cl"):
        assert abs(first[key] - first["none"]) <= 0.03 * first["none"], first


@pytest.fixture()
def deterministic():
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(before)


def flat_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    loaded = state.load_checkpoint(path, 0)
    flat: dict[str, torch.Tensor] = {}

    def walk(obj, key):
        if isinstance(obj, torch.Tensor):
            flat[key] = obj
        elif isinstance(obj, dict):
            for k, v in obj.items():
                walk(v, f"{key}.{k}")
        elif isinstance(obj, (list, tuple)):
            for i, v in enumerate(obj):
                walk(v, f"{key}.{i}")

    walk(loaded.shared, "shared")
    walk(loaded.local, "local")
    return flat


# The U-Net discriminator up-samples bilinearly, whose CUDA backward has no deterministic kernel
# (PyTorch raises under deterministic algorithms); the GAN phase is checked with the VGG-style D.
@pytest.mark.parametrize(("phase", "variant"), [("net", "full"), ("gan", "vgg_disc")])
def test_resume_on_cuda_is_bit_identical(tmp_path, store_dir, deterministic, phase, variant):
    params = tiny_params(tmp_path)
    full = tmp_path / "uninterrupted"
    assert train(options(params, store_dir, full, phase=phase, variant=variant)) == full / "model.safetensors"
    parted = tmp_path / "interrupted"
    assert train(options(params, store_dir, parted, phase=phase, variant=variant, max_steps=3)) is None
    assert train(options(params, store_dir, parted, phase=phase, variant=variant)) == parted / "model.safetensors"

    a = flat_checkpoint(full / "checkpoints" / "step_00000006")
    b = flat_checkpoint(parted / "checkpoints" / "step_00000006")
    assert a.keys() == b.keys()
    assert any(k.startswith("local.rng.cuda_default") for k in a)  # the CUDA generator state is saved
    differing = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differing, differing
    from safetensors.torch import load_file

    ma, mb = load_file(str(full / "model.safetensors")), load_file(str(parted / "model.safetensors"))
    assert ma.keys() == mb.keys() and all(torch.equal(ma[k], mb[k]) for k in ma)


def test_cuda_training_is_repeatable_under_deterministic_algorithms(tmp_path, store_dir, deterministic):
    """Two identical runs give identical weights (what makes the resume check above meaningful)."""
    params = tiny_params(tmp_path)
    digests = []
    for name in ("a", "b"):
        opts = options(params, store_dir, tmp_path / name, phase="net")
        t = build_trainer(preflight(opts), opts, distributed.setup("cuda"))
        for _ in range(3):
            net_step(t, next_gt_batch(t))
        digests.append([p.detach().cpu() for p in t.g.parameters()])
    assert all(torch.equal(x, y) for x, y in zip(*digests, strict=True))
