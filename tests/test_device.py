"""--device auto / $REPLICATION_DEVICE resolution, and the provenance record of training sessions."""

from __future__ import annotations

import json

import pytest
import torch

from replication.device import ENV, describe, resolve_device
from replication.errors import UserError
from replication.train import distributed
from replication.train.loop import PROVENANCE, RunOptions, record_session


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)


def test_auto_is_cuda_when_available_else_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device(None) == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device(None) == torch.device("cuda")
    assert resolve_device(" AUTO ") == torch.device("cuda")


def test_environment_variable_chooses_unless_the_flag_is_given(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv(ENV, "cpu")
    assert resolve_device(None) == torch.device("cpu")
    monkeypatch.setenv(ENV, "")  # empty = unset
    assert resolve_device(None) == torch.device("cuda")
    monkeypatch.setenv(ENV, "cuda")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cpu") == torch.device("cpu")  # the command line wins
    assert resolve_device(None) == torch.device("cuda")


def test_bad_values_are_user_errors_naming_their_origin(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match=r"--device 'tpu': expected auto, cpu, cuda or cuda:N"):
        resolve_device("tpu")
    monkeypatch.setenv(ENV, "gpu0")
    with pytest.raises(UserError, match=rf"\${ENV} 'gpu0'"):
        resolve_device(None)
    with pytest.raises(UserError, match="no CUDA device is available"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(UserError, match="has 2 CUDA device"):
        resolve_device("cuda:5")
    with pytest.raises(UserError, match="choose GPUs with torchrun"):
        resolve_device("cuda:1", allow_index=False)


def test_training_sessions_are_appended_to_the_provenance_file(tmp_path):
    info = distributed.DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
    opts = RunOptions(
        params_path=tmp_path / "p.yaml",
        profile=None,
        variant="full",
        phase="net",
        data=tmp_path,
        out=tmp_path,
        init="scratch",
        models_dir=tmp_path,
        vgg_weights=tmp_path / "v.pth",
        amp="bf16",
    )
    record_session(tmp_path, 0, info, opts)
    record_session(tmp_path, 4, info, opts)
    sessions = json.loads((tmp_path / PROVENANCE).read_text())["sessions"]
    assert [s["start_step"] for s in sessions] == [0, 4]
    assert sessions[0]["device"] == "cpu" and sessions[0]["amp"] == "bf16" and "torch" in sessions[0]
    (tmp_path / PROVENANCE).write_text("{damaged")
    record_session(tmp_path, 6, info, opts)
    assert [s["start_step"] for s in json.loads((tmp_path / PROVENANCE).read_text())["sessions"]] == [6]


def test_describe_cpu():
    d = describe(torch.device("cpu"))
    assert d["device"] == "cpu" and d["threads"] >= 1


def test_synthesis_runs_with_one_cpu_thread_and_restores_the_setting():
    from replication.degrade.pipeline import synthesis_threads

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with synthesis_threads("cpu"):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with synthesis_threads("cuda"):  # accelerators: the CPU setting is left alone
            assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError), synthesis_threads("cpu"):
            raise RuntimeError("boom")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
