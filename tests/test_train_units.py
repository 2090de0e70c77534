"""Training building blocks: checkpoint format, losses, EMA, sampler, DVCLive alignment."""

from __future__ import annotations

import collections
import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from replication.train import state
from replication.train.ema import EMA
from replication.train.logging import align_with_checkpoint
from replication.train.losses import PerceptualLoss, gan_loss, l1_loss
from replication.train.sampler import EpochSampler


def _tiny_optimizer_state():
    net = nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.99))
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[2, 5], gamma=0.5)
    for _ in range(3):
        opt.zero_grad()
        net(torch.ones(1, 3)).sum().backward()
        opt.step()
        sched.step()
    return net, opt, sched


def test_nested_state_roundtrip_keeps_types_and_bits():
    _net, opt, sched = _tiny_optimizer_state()
    gen = torch.Generator().manual_seed(5)
    rng_state = gen.get_state()
    original = {
        "opt": opt.state_dict(),  # int keys, tuples (betas), tensors
        "sched": sched.state_dict(),  # a Counter of milestones
        "rng": rng_state,
        "none": None,
        "floats": [0.1, 1e-300, float("inf")],
        "bf16": torch.randn(4, generator=gen).to(torch.bfloat16),
    }
    back = state.state_from_bytes(state.state_to_bytes(original))
    assert isinstance(back["sched"]["milestones"], collections.Counter)
    assert back["sched"]["milestones"] == sched.state_dict()["milestones"]
    assert back["opt"]["param_groups"][0]["betas"] == (0.9, 0.99)
    assert set(back["opt"]["state"]) == {0, 1}
    assert torch.equal(back["opt"]["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
    assert torch.equal(back["rng"], rng_state)
    assert back["none"] is None and back["floats"][1] == 1e-300 and math.isinf(back["floats"][2])
    assert back["bf16"].dtype == torch.bfloat16 and torch.equal(back["bf16"], original["bf16"])
    # the restored optimiser and scheduler continue identically
    _net2, opt2, sched2 = _tiny_optimizer_state()
    opt2.load_state_dict(back["opt"])
    sched2.load_state_dict(back["sched"])
    assert sched2.get_last_lr() == sched.get_last_lr()


def test_unsupported_value_is_named():
    with pytest.raises(TypeError, match=r"s\.bad"):
        state.state_to_bytes({"bad": object()})


def _write_ckpt(ckpt_dir: Path, step: int, value: float, world: int = 1, fp: str = "fp") -> Path:
    state.begin_checkpoint(ckpt_dir, step)
    tmp = state.partial_dir(ckpt_dir, step)
    for rank in range(world):
        state.write_rank_part(tmp, rank, {"pool": torch.full((2, 2), value + rank), "pos": step})
    return state.finish_checkpoint(ckpt_dir, step, world, fp, {"g": torch.full((3,), value)}, {"sections": {}})


def test_checkpoint_roundtrip_and_per_rank_parts(tmp_path):
    path = _write_ckpt(tmp_path, 4, 1.5, world=2)
    assert path.name == "step_00000004"
    assert not any(p.name.endswith(".partial") for p in tmp_path.iterdir())
    for rank in (0, 1):
        loaded = state.load_checkpoint(path, rank)
        assert loaded.step == 4 and loaded.world_size == 2 and loaded.fingerprint == "fp"
        assert torch.equal(loaded.shared["g"], torch.full((3,), 1.5))
        assert torch.equal(loaded.local["pool"], torch.full((2, 2), 1.5 + rank))
    with pytest.raises(state.CheckpointError, match="rank 2"):
        state.load_checkpoint(path, 2)


@pytest.mark.parametrize("damage", ["truncate_rank", "flip_shared", "edit_manifest", "delete_manifest"])
def test_damaged_checkpoint_is_detected_and_skipped(tmp_path, damage):
    _write_ckpt(tmp_path, 2, 1.0)
    newest = _write_ckpt(tmp_path, 4, 2.0)
    if damage == "truncate_rank":
        f = newest / state.rank_file(0)
        f.write_bytes(f.read_bytes()[:-7])
    elif damage == "flip_shared":
        f = newest / state.SHARED
        data = bytearray(f.read_bytes())
        data[-1] ^= 0x01
        f.write_bytes(bytes(data))
    elif damage == "edit_manifest":
        f = newest / state.MANIFEST
        manifest = json.loads(f.read_text())
        manifest["step"] = 5
        f.write_text(json.dumps(manifest))
    else:
        (newest / state.MANIFEST).unlink()
    with pytest.raises(state.CheckpointError):
        state.verify(newest)
    warnings: list[str] = []
    found = state.latest_valid(tmp_path, warnings.append)
    assert found is not None and found[0].name == "step_00000002"
    assert len(warnings) == 1 and "step_00000004" in warnings[0]
    # never prune while the newest checkpoint is damaged: the older one is the only valid one
    assert state.prune(tmp_path, 1, warnings.append) == []
    assert (tmp_path / "step_00000002").is_dir()


def test_prune_keeps_newest_k(tmp_path):
    for step in (1, 2, 3, 4):
        _write_ckpt(tmp_path, step, float(step))
    deleted = state.prune(tmp_path, 2, lambda m: None)
    assert sorted(p.name for p in deleted) == ["step_00000001", "step_00000002"]
    assert [s for s, _ in state.list_checkpoints(tmp_path)] == [3, 4]


def test_partial_and_move_aside(tmp_path):
    ckpt = tmp_path / "checkpoints"
    _write_ckpt(ckpt, 1, 1.0)
    state.begin_checkpoint(ckpt, 2)  # a run killed while writing step 2
    assert state.latest_valid(ckpt, lambda m: None)[0].name == "step_00000001"
    state.remove_partials(ckpt)
    assert [p.name for p in ckpt.iterdir()] == ["step_00000001"]
    aside = state.move_aside(ckpt, "abc")
    assert aside.name == "checkpoints.stale-abc" and not ckpt.exists()
    _write_ckpt(ckpt, 1, 1.0)
    assert state.move_aside(ckpt, "abc").name == "checkpoints.stale-abc-1"


def test_gan_loss_is_bce_with_logits():
    logits = torch.zeros(2, 1, 4, 4)
    assert gan_loss(logits, True).item() == pytest.approx(math.log(2))
    strong = torch.full((2, 1), 20.0)
    assert gan_loss(strong, True).item() < 1e-6
    assert gan_loss(strong, False).item() == pytest.approx(20.0, rel=1e-4)


def test_l1_loss_is_mean_absolute_error():
    a, b = torch.zeros(1, 3, 2, 2), torch.full((1, 3, 2, 2), 0.25)
    assert l1_loss(a, b).item() == pytest.approx(0.25)


def test_perceptual_loss_untrained_is_deterministic_and_only_pred_gets_gradients():
    layers = {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0, "conv4_4": 1.0, "conv5_4": 1.0}
    a = PerceptualLoss(layers, pretrained=False, seed=3)
    b = PerceptualLoss(layers, pretrained=False, seed=3)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb) and not pa.requires_grad
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32, generator=gen)
    y = torch.rand(2, 3, 32, 32, generator=gen, requires_grad=True)
    assert a(x, x).item() == 0.0
    pred = x.clone().requires_grad_(True)
    loss = a(pred, y)
    assert loss.item() > 0
    loss.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert y.grad is None


def test_perceptual_loss_imagenet_without_file_fails_clearly():
    from replication.errors import UserError

    with pytest.raises(UserError, match="vgg19_imagenet"):
        PerceptualLoss({"conv1_2": 1.0}, pretrained=True, weights_path=None)


def test_ema_update_rule():
    net = nn.Linear(2, 1)
    with torch.no_grad():
        net.weight.fill_(1.0)
        net.bias.fill_(0.0)
    ema = EMA(net, decay=0.9)
    with torch.no_grad():
        net.weight.fill_(3.0)
        net.bias.fill_(1.0)
    ema.update(net)
    assert torch.allclose(ema.model.weight, torch.full((1, 2), 0.9 * 1.0 + 0.1 * 3.0))
    assert torch.allclose(ema.model.bias, torch.full((1,), 0.1))
    assert not any(p.requires_grad for p in ema.model.parameters())
    with pytest.raises(ValueError):
        EMA(net, decay=1.0)


def test_sampler_shards_resumes_and_reshuffles():
    a = EpochSampler(10, seed=1, rank=0, world_size=2)
    b = EpochSampler(10, seed=1, rank=1, world_size=2)
    epoch_a, epoch_b = a.take(5), b.take(5)
    assert sorted(epoch_a + epoch_b) == list(range(10))  # disjoint shards covering every item
    next_a = a.take(5)
    assert sorted(next_a) != sorted(epoch_a) or next_a != epoch_a  # a new permutation per epoch
    c = EpochSampler(10, seed=1, rank=0, world_size=2)
    c.take(3)
    saved = c.state_dict()
    expected = c.take(9)
    d = EpochSampler(10, seed=1, rank=0, world_size=2)
    d.load_state_dict(saved)
    assert d.take(9) == expected
    with pytest.raises(ValueError, match="11"):
        EpochSampler(11, seed=1).load_state_dict(saved)


def test_dvclive_alignment_drops_rows_and_images_after_the_checkpoint(tmp_path):
    metrics = tmp_path / "plots" / "metrics" / "train"
    metrics.mkdir(parents=True)
    (metrics / "l_g_pix.tsv").write_text("step\tl_g_pix\n1\t0.5\n2\t0.4\n3\t0.3\n4\t0.2\n")
    images = tmp_path / "plots" / "images" / "samples"
    images.mkdir(parents=True)
    for step in (2, 4):
        (images / f"{step}.png").write_bytes(b"x")
    align_with_checkpoint(tmp_path, 2)
    assert (metrics / "l_g_pix.tsv").read_text() == "step\tl_g_pix\n1\t0.5\n2\t0.4\n"
    assert [p.name for p in images.iterdir()] == ["2.png"]


@pytest.mark.parametrize("sharpened", [True, False])
def test_lq_and_targets_come_from_the_recipes_gt(sharpened):
    """sharpened_gt: the LQ is degraded from USM(gt) and the targets are USM(gt); otherwise the plain gt
    is degraded and is the target (the reference Real-ESRNet with gt_usm: False). The bicubic variant
    makes the LQ a deterministic function of its source, so the source can be checked exactly."""
    from replication.degrade.resize import imresize_matlab
    from replication.degrade.second_order import quantize_8bit
    from replication.degrade.usm import usm_sharp
    from replication.params import load_params
    from replication.train.synthesis import Synthesizer

    cfg = load_params(Path(__file__).resolve().parents[1] / "params.yaml").active.degradation
    cfg = dataclasses.replace(cfg, pool_size=2)
    gt = torch.rand(2, 3, 128, 128, generator=torch.Generator().manual_seed(0))
    source = usm_sharp(gt, cfg.usm) if sharpened else gt
    for phase in ("net", "gan"):
        synth = Synthesizer(cfg, "bicubic", 4, 128, torch.device("cpu"), seed=1, pool_seed=2, sharpened_gt=sharpened)
        if phase == "net":
            lq, target = synth.net_pair(gt)
        else:
            lq, plain, target = synth.gan_triplet(gt)
            torch.testing.assert_close(plain.sort(0).values, gt.sort(0).values)  # the pool may reorder
        # the pool hands the two pairs back in its own order: match each LQ to its source image
        order = [
            int((lq[i] - quantize_8bit(imresize_matlab(source, 0.25))).abs().flatten(1).sum(1).argmin())
            for i in range(2)
        ]
        torch.testing.assert_close(lq, quantize_8bit(imresize_matlab(source, 0.25))[order])
        want = usm_sharp(gt[order], cfg.usm) if sharpened else gt[order]
        torch.testing.assert_close(target, want, atol=1e-5, rtol=0)


def test_precision_follows_the_phase_unless_amp_is_given():
    from replication.train.precision import cpu_has_native_bf16, resolve_amp

    assert cpu_has_native_bf16("flags\t\t: fpu sse avx2 avx512f avx512_bf16\n")
    assert cpu_has_native_bf16("flags : fpu amx_bf16 amx_tile\n")
    assert not cpu_has_native_bf16("flags : fpu sse avx2 avx512f\nbugs : avx512_bf16\n")
    assert resolve_amp(None, "fp32", "cpu") == "none" and resolve_amp(None, "bf16", "cpu") == "bf16"
    assert resolve_amp("none", "bf16", "cpu") == "none" and resolve_amp("bf16", "fp32", "cpu") == "bf16"
    assert resolve_amp(None, "bf16_if_native", "cpu") == ("bf16" if cpu_has_native_bf16() else "none")
