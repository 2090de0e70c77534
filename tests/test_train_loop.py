"""The training loop end to end on tiny networks and real (mirror) photos, CPU.

Covers: every variant x phase runs; losses decrease on a fixed batch; a stopped and resumed run is
bit-identical to an uninterrupted one (weights, EMA, optimisers, pool, RNG, logs), also after a
damaged newest checkpoint; fingerprint mismatch; non-finite loss; up-front errors; 2-process DDP.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from helpers import mirror_dir, require_mirror

from replication.errors import UserError
from replication.params import Profile
from replication.report.config import expected_pipeline_lists
from replication.strict import from_dict, to_dict
from replication.train import state
from replication.train.config import VariantConfig
from replication.train.loop import (
    RunOptions,
    TrainingDiverged,
    build_trainer,
    gan_step,
    net_step,
    next_gt_batch,
    preflight,
    train,
)

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = [
    "full",
    "real_esrgan",
    "first_order",
    "no_sinc",
    "vgg_disc",
    "unet_no_sn",
    "esrgan_bicubic",
    "bsrgan_degradation",
]


def _mirror() -> Path:
    return require_mirror("datasets/sample-hr-cc0")


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: on a shared 2-core machine two OpenMP threads spin-wait on each other and
    run several times slower; results do not depend on it (bit-exactness is checked within a run)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory) -> Path:
    """A prepared training folder from two real CC0 photos (sub-images of 128 px)."""
    from replication.data.config import DataConfig
    from replication.data.prepare import prepare_subimages

    src = _mirror() / "datasets" / "sample-hr-cc0"
    out = tmp_path_factory.mktemp("train_data") / "prepared"
    cfg = DataConfig(
        train_sets=("t",),
        multiscale_sets=(),
        multiscale_factors=(0.5,),
        multiscale_shortest_edge=0,
        crop_size=128,
        crop_step=160,
        thresh_size=0,
        shard_size=100,
    )
    prepare_subimages({"t": [src / "woman.png", src / "food.png"]}, {"t": src}, cfg, out, workers=1, progress=False)
    return out


def tiny_params(tmp_path: Path, gan_gt_size: int = 32, profile: dict | None = None, **phase_overrides) -> Path:
    """The committed smoke profile, shrunk further: 8-channel nets, batch 2, GT patch 32, 6 iterations.
    ``profile``: top-level profile keys to override (real_scale, seeds, network)."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["profile"] = "smoke"
    raw["mirror"] = str(mirror_dir())
    smoke = raw["profiles"]["smoke"]
    smoke["network"].update(num_feat=8, num_conv=2, disc_num_feat=8, net_init="scratch")
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
        smoke[phase].update(phase_overrides)
    smoke["train_gan"]["gt_size"] = gan_gt_size
    smoke.update(profile or {})
    # params.yaml's `pipeline:` block must repeat the active profile's lists (checked on load)
    variants = {k: from_dict(VariantConfig, v) for k, v in raw["variants"].items()}
    raw["pipeline"] = to_dict(expected_pipeline_lists(from_dict(Profile, smoke), variants))
    path = tmp_path / f"params_{gan_gt_size}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def options(params: Path, data: Path, out: Path, phase: str = "net", variant: str = "full", **kw) -> RunOptions:
    return RunOptions(
        params_path=params,
        profile=None,
        variant=variant,
        phase=phase,
        data=data,
        out=out,
        init=kw.pop("init", "scratch"),
        models_dir=out / "models",
        vgg_weights=out / "no-vgg.pth",
        **kw,
    )


def checkpoint_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a checkpoint (shared + rank 0), flattened by key."""
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


@pytest.mark.parametrize("phase", ["net", "gan"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_and_phase_trains(tmp_path, store_dir, variant, phase):
    gan_gt = 32  # the VGG-style D takes any power-of-two size >= 16 (official layouts: 128, 256)
    params = tiny_params(tmp_path, gan_gt_size=gan_gt)
    out = tmp_path / "run"
    result = train(options(params, store_dir, out, phase=phase, variant=variant, max_steps=2))
    assert result is None  # stopped early: no model published yet
    loaded = state.load_checkpoint(out / "checkpoints" / "step_00000002", 0)
    assert loaded.step == 2
    assert ("d" in loaded.shared) == (phase == "gan")
    metrics = (out / "dvclive" / "metrics.json").read_text()
    assert "l_g_pix" in metrics and ("l_d_real" in metrics) == (phase == "gan")
    if phase == "gan":
        sn_keys = [k for k in loaded.shared["d"] if k.endswith("weight_orig")]
        expected_sn = variant not in ("vgg_disc", "unet_no_sn")
        assert bool(sn_keys) == expected_sn
        assert any(k.startswith("linear1") for k in loaded.shared["d"]) == (variant == "vgg_disc")


@pytest.mark.parametrize("phase", ["net", "gan"])
def test_losses_decrease_on_a_fixed_batch(tmp_path, store_dir, phase):
    """Overfit check: degradation and pool frozen (one synthesised batch reused), loss must fall."""
    from replication.train import distributed

    params = tiny_params(tmp_path, lr=2e-3)
    opts = options(params, store_dir, tmp_path / "run", phase=phase)
    t = build_trainer(preflight(opts), opts, distributed.setup("cpu"))
    gt = next_gt_batch(t)  # two real sub-images
    if phase == "net":
        fixed = t.synth.net_pair(gt)
        t.synth.net_pair = lambda _gt: fixed
        step = net_step
    else:
        fixed = t.synth.gan_triplet(gt)
        t.synth.gan_triplet = lambda _gt: fixed
        step = gan_step
    history = [step(t, gt) for _ in range(30)]
    assert all(torch.isfinite(v).all() for h in history for v in h.values())
    keys = ["l_g_pix"] if phase == "net" else ["l_g_pix", "l_g_percep"]
    for key in keys:
        first = sum(h[key].item() for h in history[:5]) / 5
        last = sum(h[key].item() for h in history[-5:]) / 5
        assert last < 0.6 * first, (key, first, last)


@pytest.mark.parametrize("phase", ["net", "gan"])
def test_resume_is_bit_identical(tmp_path, store_dir, phase):
    params = tiny_params(tmp_path)
    init = "scratch"
    full = tmp_path / "uninterrupted"
    assert train(options(params, store_dir, full, phase=phase, init=init)) == full / "model.safetensors"

    parted = tmp_path / "interrupted"
    assert train(options(params, store_dir, parted, phase=phase, init=init, max_steps=3)) is None
    # a kill while writing step 4's checkpoint, and a later-damaged step-3 checkpoint: resume must skip
    # both and continue from step 2, still matching the uninterrupted run exactly.
    state.begin_checkpoint(parted / "checkpoints", 4)
    damaged = parted / "checkpoints" / "step_00000003" / state.rank_file(0)
    damaged.write_bytes(damaged.read_bytes()[:100])
    assert train(options(params, store_dir, parted, phase=phase, init=init)) == parted / "model.safetensors"

    a = checkpoint_tensors(full / "checkpoints" / "step_00000006")
    b = checkpoint_tensors(parted / "checkpoints" / "step_00000006")
    assert a.keys() == b.keys()
    assert any(k.startswith("local.pool") for k in a) and any(k.startswith("local.rng") for k in a)
    differing = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differing, differing
    from safetensors.torch import load_file

    ma, mb = load_file(str(full / "model.safetensors")), load_file(str(parted / "model.safetensors"))
    assert all(torch.equal(ma[k], mb[k]) for k in ma)
    # the DVCLive curves line up too (rows logged after the used checkpoint were dropped)
    for tsv in (full / "dvclive" / "plots" / "metrics" / "train").glob("*.tsv"):
        other = parted / "dvclive" / "plots" / "metrics" / "train" / tsv.name
        assert tsv.read_text() == other.read_text(), tsv.name
    # keep_checkpoints: 2
    assert [s for s, _ in state.list_checkpoints(full / "checkpoints")] == [4, 6]


def test_fingerprint_mismatch_restart_or_fail(tmp_path, store_dir, capsys):
    out = tmp_path / "run"
    train(options(tiny_params(tmp_path), store_dir, out, max_steps=2))
    changed = tiny_params(tmp_path, lr=1e-3)
    with pytest.raises(UserError, match="train_net"):
        train(options(changed, store_dir, out, max_steps=4, on_mismatch="fail"))
    assert [s for s, _ in state.list_checkpoints(out / "checkpoints")] == [2]
    capsys.readouterr()
    train(options(changed, store_dir, out, max_steps=1, on_mismatch="restart"))
    err = capsys.readouterr().err
    assert "moved the old checkpoints" in err
    stale = list(tmp_path.glob("run/checkpoints.stale-*"))
    assert len(stale) == 1 and (stale[0] / "step_00000002").is_dir()
    assert [s for s, _ in state.list_checkpoints(out / "checkpoints")] == [1]
    # bookkeeping keys (iters, log/ckpt frequency) do not invalidate checkpoints
    longer = tiny_params(tmp_path, lr=1e-3, iters=8, log_every=2)
    train(options(longer, store_dir, out, max_steps=2, on_mismatch="fail"))
    assert [s for s, _ in state.list_checkpoints(out / "checkpoints")] == [1, 2]


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, store_dir, monkeypatch):
    params = tiny_params(tmp_path)
    out = tmp_path / "run"
    train(options(params, store_dir, out, max_steps=2))
    from replication.train import loop

    monkeypatch.setattr(loop, "l1_loss", lambda a, b: (a - b).abs().mean() * float("nan"))
    with pytest.raises(TrainingDiverged, match=r"step 3 .*l_g_pix"):
        train(options(params, store_dir, out))
    assert [s for s, _ in state.list_checkpoints(out / "checkpoints")] == [2]
    state.verify(out / "checkpoints" / "step_00000002")
    assert not (out / "model.safetensors").exists()


def test_bad_inputs_fail_before_any_work(tmp_path, store_dir):
    params = tiny_params(tmp_path)
    out = tmp_path / "never"
    cases = [
        ({"variant": "nope"}, "--variant nope: unknown variant"),
        ({"data": tmp_path / "missing"}, "not a directory"),
        ({"init": str(tmp_path / "g.safetensors")}, "file not found"),
        ({"phase": "gan", "init": None}, "needs --init"),
        ({"init": "not_a_registry_name"}, "initial weights 'not_a_registry_name' not found"),
        ({"init": "esrgan_df2kost"}, "replication weights fetch esrgan_df2kost"),
    ]
    for change, message in cases:
        base = dataclasses.asdict(options(params, store_dir, out))
        base.update(change)
        with pytest.raises(UserError, match=message):
            train(RunOptions(**base))
    imagenet = tiny_params(tmp_path, vgg_weights="imagenet")
    with pytest.raises(UserError, match="vgg19_imagenet"):
        train(options(imagenet, store_dir, out, phase="gan"))
    odd_patch = tiny_params(tmp_path, gan_gt_size=48)  # the VGG-style D needs a power-of-two input side
    with pytest.raises(UserError, match="power-of-two size >= 16"):
        train(options(odd_patch, store_dir, out, phase="gan", variant="vgg_disc"))
    assert not out.exists()


def test_paper_scale_guard_refuses_or_records_the_deviation(tmp_path, store_dir):
    """real_scale: a total batch other than 48 (here 1 process x 2) or bf16 is refused unless allowed,
    and an allowed deviation is written into the model's metadata."""
    from replication.archs.checkpoint import read_sidecar
    from replication.train.guard import paper_scale_deviations

    params = tiny_params(tmp_path, profile={"real_scale": True}, iters=2)
    out = tmp_path / "run"
    with pytest.raises(UserError, match=r"total batch 2 \(1 process\(es\) x batch_size 2\).*--allow-deviation"):
        train(options(params, store_dir, out))
    assert not (out / "checkpoints").exists()
    with pytest.raises(UserError, match="precision bf16"):
        train(options(params, store_dir, out, amp="bf16"))
    model = train(options(params, store_dir, out, allow_deviation=True))
    extra = read_sidecar(model)["extra"]
    assert extra["paper_scale_deviations"] == [
        "total batch 2 (1 process(es) x batch_size 2), not the paper's 48 (12 per GPU x 4 GPUs)"
    ]
    assert extra["paper_scale_deviations"][0] in extra["deviations"] and extra["total_batch"] == 2
    assert paper_scale_deviations(real_scale=True, world_size=4, batch_size=12, amp="none") == []
    assert paper_scale_deviations(real_scale=False, world_size=1, batch_size=2, amp="bf16") == []
    # not at paper scale: nothing to refuse, nothing recorded under paper_scale_deviations
    small = train(options(tiny_params(tmp_path, iters=2), store_dir, tmp_path / "small", amp="bf16"))
    assert read_sidecar(small)["extra"]["paper_scale_deviations"] == []


def test_seed_selects_the_run(tmp_path, store_dir):
    from replication.archs.checkpoint import read_sidecar

    params = tiny_params(tmp_path, profile={"seeds": [0, 3]}, iters=2)
    a = train(options(params, store_dir, tmp_path / "a", seed=3))
    b = train(options(params, store_dir, tmp_path / "b", seed=0))
    assert read_sidecar(a)["extra"]["seed"] == 3
    from safetensors.torch import load_file

    wa, wb = load_file(str(a)), load_file(str(b))
    assert any(not torch.equal(wa[k], wb[k]) for k in wa)  # another seed, another run
    with pytest.raises(UserError, match=r"--seed must be a non-negative integer, got -1"):
        train(options(params, store_dir, tmp_path / "c", seed=-1))


def test_srvgg_output_is_a_recognisable_image_after_a_few_steps(tmp_path, store_dir):
    """The compact generator adds its output to the nearest-upsampled input, so even a briefly trained
    model reproduces the input's content instead of a near-black image (RRDBNet's failure at smoke size)."""
    import torch.nn.functional as F

    from replication.archs.checkpoint import load_model
    from replication.imageio import read_image

    model_path = train(options(tiny_params(tmp_path, iters=4), store_dir, tmp_path / "run"))
    model = load_model(model_path)
    assert model.arch_name == "srvgg"
    lr = read_image(_mirror() / "datasets" / "realsrset" / "Lincoln.png").rgb[..., :64, :64]
    with torch.no_grad():
        sr = model(lr)
    reference = F.interpolate(lr, scale_factor=4, mode="bicubic", align_corners=False).clamp(0, 1)
    assert sr.shape == reference.shape
    assert abs(sr.mean().item() - reference.mean().item()) < 0.1  # same brightness, not black
    corr = torch.corrcoef(torch.stack([sr.flatten(), reference.flatten()]))[0, 1].item()
    assert corr > 0.8, corr  # same content


def test_cli_reports_user_errors(tmp_path, store_dir, capsys):
    from replication.cli import main

    rc = main(
        [
            "train",
            "--params",
            str(tiny_params(tmp_path)),
            "--variant",
            "full",
            "--phase",
            "net",
            "--data",
            str(tmp_path / "missing"),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert rc == 1 and "not a directory" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["gan"])
def test_ddp_two_processes_hold_identical_weights(tmp_path, store_dir, phase):
    params = tiny_params(tmp_path)
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        f"--master_port={_free_port()}",
        "--master_addr=127.0.0.1",
        "-m",
        "replication",
        "train",
        "--params",
        str(params),
        "--variant",
        "full",
        "--phase",
        phase,
        "--init",
        "scratch",
        "--data",
        str(store_dir),
        "--out",
        str(out),
        "--max-steps",
        "3",
    ]
    proc = subprocess.run(cmd, check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = out / "checkpoints" / "step_00000003"
    manifest = state.verify(ckpt)
    assert manifest["world_size"] == 2
    r0, r1 = state.load_checkpoint(ckpt, 0).local, state.load_checkpoint(ckpt, 1).local
    assert r0["weights_sha256"] == r1["weights_sha256"]  # DDP kept the replicas identical
    assert not torch.equal(r0["pool"]["gt"], r1["pool"]["gt"])  # but each rank synthesised its own data
    assert not torch.equal(r0["rng"]["degradation"], r1["rng"]["degradation"])
