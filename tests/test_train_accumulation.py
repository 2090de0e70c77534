"""Gradient accumulation, the read-ahead GT reader and the launcher (replication.train.launch).

* 1 process x accumulation 2 trains the same weights (to float tolerance) as 2 processes (gloo) x
  accumulation 1: micro-batch k has the same data, degradation draws and pool in both layouts;
* a run with accumulation resumes bit for bit;
* the reader gives the same batches in the same order whatever its worker count, and checkpoints the
  state as consumed, not as read ahead;
* the paper-scale guard accepts every split of 48;
* ``dvc repro`` runs a training stage with 2 gloo processes through the launcher, no hand step.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from test_train_loop import _free_port, checkpoint_tensors, options, store_dir, tiny_params  # noqa: F401

from replication.errors import UserError
from replication.train import state
from replication.train.config import LaunchConfig
from replication.train.loop import train

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _torchrun(params: Path, data: Path, out: Path, phase: str, steps: int, cwd: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={_free_port()}",
        "--master_addr=127.0.0.1", "-m", "replication", "train", "--params", str(params), "--variant", "full",
        "--phase", phase, "--init", "scratch", "--data", str(data), "--out", str(out), "--max-steps", str(steps),
        "--threads", "1",
    ]  # fmt: skip
    proc = subprocess.run(cmd, check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.parametrize("phase", ["net", "gan"])
def test_accumulation_trains_what_processes_train(tmp_path, store_dir, phase):  # noqa: F811
    steps = 3
    for sub in ("a", "b", "c"):
        (tmp_path / sub).mkdir()
    ddp, acc = tmp_path / "ddp", tmp_path / "acc"
    _torchrun(tiny_params(tmp_path / "a", accumulation=1), store_dir, ddp, phase, steps, tmp_path)
    train(options(tiny_params(tmp_path / "b", accumulation=2), store_dir, acc, phase=phase, max_steps=steps))

    name = f"step_{steps:08d}"
    a = state.load_checkpoint(ddp / "checkpoints" / name, 0)
    b = state.load_checkpoint(acc / "checkpoints" / name, 0)
    assert state.verify(ddp / "checkpoints" / name)["world_size"] == 2
    # micro-batch k: process k's own streams there, stream k here (the same sub-images and draws)
    for k in range(2):
        ddp_local = state.load_checkpoint(ddp / "checkpoints" / name, k).local
        stream = b.local["streams"][k]
        assert ddp_local["sampler"] == stream["sampler"]
        for key in ("data", "degradation"):
            assert torch.equal(ddp_local["rng"][key], stream["rng"][key]), key
        for key in ("lq", "gt"):
            torch.testing.assert_close(ddp_local["pool"][key], stream["pool"][key], rtol=1e-5, atol=1e-6)
    flat_a, flat_b = checkpoint_tensors(ddp / "checkpoints" / name), checkpoint_tensors(acc / "checkpoints" / name)
    shared = sorted(k for k in flat_a if k.startswith("shared."))
    assert shared == sorted(k for k in flat_b if k.startswith("shared."))
    assert any(".d." in f".{k}." for k in shared) == (phase == "gan")
    for key in shared:
        ta, tb = flat_a[key], flat_b[key]
        if ta.is_floating_point():
            torch.testing.assert_close(ta, tb, rtol=1e-4, atol=2e-6, msg=key)
        else:
            assert torch.equal(ta, tb), key
    # and the weights did move, so the comparison says something
    init = tmp_path / "init"
    train(options(tiny_params(tmp_path / "c", accumulation=2), store_dir, init, phase=phase, max_steps=1))
    flat_1 = checkpoint_tensors(init / "checkpoints" / "step_00000001")
    moved = sum(not torch.equal(flat_1[k], flat_b[k]) for k in shared if k.startswith("shared.g."))
    assert moved > 0
    assert a.shared.keys() == b.shared.keys()


def test_resume_with_accumulation_is_bit_identical(tmp_path, store_dir):  # noqa: F811
    params = tiny_params(tmp_path, accumulation=2)
    full, parted = tmp_path / "full", tmp_path / "parted"
    assert train(options(params, store_dir, full, phase="gan", read_workers=2)) == full / "model.safetensors"
    assert train(options(params, store_dir, parted, phase="gan", max_steps=3, read_workers=0)) is None
    assert train(options(params, store_dir, parted, phase="gan")) == parted / "model.safetensors"
    a = checkpoint_tensors(full / "checkpoints" / "step_00000006")
    b = checkpoint_tensors(parted / "checkpoints" / "step_00000006")
    assert a.keys() == b.keys() and any(k.startswith("local.streams.1.pool") for k in a)
    assert not [k for k in a if not torch.equal(a[k], b[k])]
    assert (full / "model.safetensors").read_bytes() == (parted / "model.safetensors").read_bytes()
    from replication.archs.checkpoint import read_sidecar

    extra = read_sidecar(full / "model.safetensors")["extra"]
    assert extra["accumulation"] == 2 and extra["total_batch"] == 4


def test_reader_gives_the_same_batches_whatever_the_worker_count(store_dir):  # noqa: F811
    from replication.data.subimages import SubImageStore
    from replication.train.reader import GTReader, decode_pool
    from replication.train.sampler import EpochSampler

    store = SubImageStore(store_dir)
    batches = len(store) // 3 + 2  # crosses an epoch boundary of the sampler

    def read(workers: int, skip: int = 0, resume=None) -> tuple[list[torch.Tensor], list]:
        pool = decode_pool(workers)
        reader = GTReader(
            store, EpochSampler(len(store), 7), torch.Generator().manual_seed(3), 3, 48, True, decode_pool=pool
        )
        if resume is not None:
            reader.load_state(*resume)
        out, states = [], []
        try:
            for _ in range(batches - skip):
                out.append(reader.next())
                states.append(reader.state())
        finally:
            reader.close()
            if pool is not None:
                pool.shutdown()
        return out, states

    inline, inline_states = read(0)
    assert inline[0].shape == (3, 3, 48, 48)
    for workers in (1, 3):
        got, states = read(workers)
        assert all(torch.equal(x, y) for x, y in zip(inline, got, strict=True)), workers
        # the state the loop checkpoints is the consumed one, not the read-ahead one
        for (s1, g1), (s2, g2) in zip(inline_states, states, strict=True):
            assert s1 == s2 and torch.equal(g1, g2)
    # continuing from a consumed state gives the rest of the sequence
    rest, _ = read(2, skip=2, resume=inline_states[1])
    assert all(torch.equal(x, y) for x, y in zip(inline[2:], rest, strict=True))


def test_paper_scale_guard_accepts_every_split_of_48():
    from replication.train.guard import paper_scale_deviations

    for world, batch, acc in ((1, 12, 4), (2, 12, 2), (4, 12, 1), (8, 6, 1), (1, 6, 8)):
        assert (
            paper_scale_deviations(real_scale=True, world_size=world, batch_size=batch, amp="none", accumulation=acc)
            == []
        ), (world, batch, acc)
    (dev,) = paper_scale_deviations(real_scale=True, world_size=1, batch_size=12, amp="none", accumulation=2)
    assert dev.startswith("total batch 24 (1 process(es) x batch_size 12 x accumulation 2)")


def test_launch_command():
    from replication.train import launch

    args = ["--params", "p.yaml", "--variant", "full"]
    assert launch.command(LaunchConfig(1, 1), args, {}, python="py") == ["py", "-m", "replication", "train", *args]
    two = launch.command(LaunchConfig(2, 1), args, {}, python="py")
    assert two == ["py", "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone", "-m", "replication",
                   "train", *args]  # fmt: skip
    env = {launch.NODE_RANK_ENV: "1", launch.MASTER_ENV: "node0.example:29500"}
    multi = launch.command(LaunchConfig(4, 2), args, env, python="py")
    assert multi[3:8] == ["--nproc_per_node=4", "--nnodes=2", "--node_rank=1", "--master_addr=node0.example",
                          "--master_port=29500"]  # fmt: skip
    with pytest.raises(UserError, match="REPLICATION_NODE_RANK"):
        launch.command(LaunchConfig(4, 2), args, {launch.MASTER_ENV: "h:1"})
    with pytest.raises(UserError, match="REPLICATION_MASTER"):
        launch.command(LaunchConfig(4, 2), args, {launch.NODE_RANK_ENV: "0"})
    with pytest.raises(UserError, match="replication train"):
        launch.train_args(["replication", "evaluate"])
    assert launch.train_args(["--", "replication", "train", "--x"]) == ["--x"]


def test_launcher_bad_input(tmp_path, capsys):
    from replication.train import launch

    assert launch.main(["replication", "evaluate"]) == 2  # usage error: not a training command
    assert launch.main(["replication", "train", "--params", str(tmp_path / "missing.yaml")]) == 1
    assert "missing.yaml" in capsys.readouterr().err
    if torch.cuda.device_count() < 2:  # more processes than GPUs: said before torchrun starts them
        with pytest.raises(UserError, match=r"profiles.paper.launch.nproc_per_node is 2 .*accumulation"):
            launch._check_gpus(LaunchConfig(2, 1), "cuda", "profiles.paper.launch")


def test_dvc_repro_trains_a_stage_with_two_processes(tmp_path, store_dir):  # noqa: F811
    """The smoke training stage of the real dvc.yaml, under `dvc repro`, with launch.nproc_per_node 2 (gloo)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(ROOT / "dvc.yaml", repo / "dvc.yaml")
    shutil.copytree(ROOT / "replication", repo / "replication", ignore=shutil.ignore_patterns("__pycache__"))
    params = tiny_params(
        tmp_path, iters=2, ckpt_every=2, sample_every=2, profile={"launch": {"nproc_per_node": 2, "nnodes": 1}}
    )
    shutil.copy(params, repo / "params.yaml")
    (repo / "data" / "prepared").mkdir(parents=True)
    shutil.copytree(store_dir, repo / "data" / "prepared" / "train")
    (repo / "models" / "pretrained").mkdir(parents=True)
    (repo / "models" / "pretrained" / "names.txt").write_text("\n")
    # `python` in the stage command is this interpreter; the copied package comes first on its path
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python").symlink_to(sys.executable)
    env = {
        **os.environ,
        "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(repo),
        "OMP_NUM_THREADS": "1",
        "DVC_NO_ANALYTICS": "1",
        "DVC_STUDIO_OFFLINE": "1",
    }

    def dvc(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "dvc", *args], cwd=repo, env=env, capture_output=True, text=True, timeout=600
        )

    assert dvc("init", "--no-scm", "-q").returncode == 0
    proc = dvc("repro", "-s", "train_net@full-s0")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "torch.distributed.run --nproc_per_node=2 --standalone" in proc.stdout + proc.stderr
    run = repo / "runs" / "full-s0" / "net"
    assert state.verify(run / "checkpoints" / "step_00000002")["world_size"] == 2
    from replication.archs.checkpoint import read_sidecar

    extra = read_sidecar(run / "model.safetensors")["extra"]
    assert extra["world_size"] == 2 and extra["total_batch"] == 4
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert "train_net@full-s0" in lock["stages"]
    status = dvc("status", "train_net@full-s0")
    assert status.returncode == 0 and "up to date" in status.stdout, status.stdout


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_defaults_channels_last_and_pinned_read_ahead(tmp_path, store_dir):  # noqa: F811
    from replication.archs.checkpoint import read_sidecar
    from replication.train import distributed
    from replication.train.loop import build_trainer, preflight

    params = tiny_params(tmp_path, accumulation=2, iters=2)
    opts = options(params, store_dir, tmp_path / "probe", device="cuda", read_workers=2)
    t = build_trainer(preflight(opts), opts, distributed.setup("cuda"))
    try:
        assert t.channels_last and all(s.reader.next().is_pinned() for s in t.streams)
    finally:
        t.close()
    model = train(options(params, store_dir, tmp_path / "run", device="cuda"))
    extra = read_sidecar(model)["extra"]
    assert extra["channels_last"] is True and extra["accumulation"] == 2
