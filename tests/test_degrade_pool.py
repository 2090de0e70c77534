"""Training-pair pool: fill phase, swap of B samples per call, checkpoint round trip."""

from __future__ import annotations

import pytest
import torch

from replication.degrade.pool import TrainingPairPool


def _batch(start: int, b: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Pairs tagged with their id: LQ (b, 3, 2, 2) and GT (b, 3, 8, 8) filled with the id."""
    ids = torch.arange(start, start + b, dtype=torch.float32)
    return ids.view(-1, 1, 1, 1).expand(b, 3, 2, 2).clone(), ids.view(-1, 1, 1, 1).expand(b, 3, 8, 8).clone()


def _ids(x: torch.Tensor) -> list[int]:
    return [int(v) for v in x[:, 0, 0, 0]]


def test_pool_fills_then_swaps_batch_size_samples():
    pool = TrainingPairPool(12, seed=0)
    for step in range(3):  # 12 / 4 = 3 filling calls return their input unchanged
        lq, gt = _batch(4 * step)
        out_lq, out_gt = pool(lq, gt)
        assert torch.equal(out_lq, lq) and torch.equal(out_gt, gt)
    assert pool.filled == 12
    held = set(range(12))
    seen_old = 0
    for step in range(3, 40):
        lq, gt = _batch(4 * step)
        out_lq, out_gt = pool(lq, gt)
        out = _ids(out_lq)
        assert out == _ids(out_gt)  # LQ and GT stay paired
        assert len(out) == 4 and set(out) <= held  # returned pairs come from the pool
        held = (held - set(out)) | set(_ids(lq))
        assert len(held) == 12
        seen_old += sum(i < 4 * (step - 3) for i in out)
    assert seen_old > 0  # pairs can stay in the pool for several calls (mixing across batches)
    assert torch.equal(torch.tensor(sorted(_ids(pool.state_dict()["lq"]))), torch.tensor(sorted(held)))


def test_state_dict_round_trip_continues_bit_for_bit():
    a = TrainingPairPool(8, seed=3)
    for step in range(5):
        a(*_batch(4 * step))
    state = a.state_dict()
    b = TrainingPairPool(8, seed=99)
    b.load_state_dict(state)
    for step in range(5, 12):
        out_a = a(*_batch(4 * step))
        out_b = b(*_batch(4 * step))
        assert torch.equal(out_a[0], out_b[0]) and torch.equal(out_a[1], out_b[1])


def test_pool_rejects_bad_batches_and_checkpoints():
    pool = TrainingPairPool(10)
    with pytest.raises(ValueError, match="divisible"):
        pool(*_batch(0, b=4))
    pool = TrainingPairPool(8)
    pool(*_batch(0))
    with pytest.raises(ValueError, match="pool holds"):
        pool(torch.zeros(4, 3, 3, 3), torch.zeros(4, 3, 12, 12))
    with pytest.raises(ValueError, match="size"):
        TrainingPairPool(16).load_state_dict(pool.state_dict())


def test_size_zero_passes_through():
    pool = TrainingPairPool(0)
    lq, gt = _batch(0)
    assert pool(lq, gt)[0] is lq
