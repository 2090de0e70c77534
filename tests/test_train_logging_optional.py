"""Training without DVCLive installed (a bare GPU machine): logging is off, with one warning."""

from __future__ import annotations

import sys

import torch

from replication.train.logging import TrainLogger


def test_logger_without_dvclive_warns_and_does_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "dvclive", None)  # makes `from dvclive import Live` raise ImportError
    log = TrainLogger(tmp_path / "dvclive", enabled=True, resume_step=None, start_step=0, total_steps=3, desc="t")
    assert "dvclive is not installed" in capsys.readouterr().err
    log.params({"a": 1})
    log.step(1, {"l": 0.5})
    log.metrics(1, {"train/l": 0.5})
    log.image(1, torch.zeros(1, 3, 8, 8))
    log.message("hello")
    log.close()
    assert not (tmp_path / "dvclive").exists()
    assert "hello" in capsys.readouterr().err
