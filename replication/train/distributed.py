"""Process-group plumbing for ``torchrun``: one process per device, DistributedDataParallel.

A plain ``python -m replication train`` is a world of size 1 and never touches
``torch.distributed``. Under ``torchrun`` (``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` set) each process
joins the group (NCCL on CUDA, gloo on CPU), trains on its own data shard with its own seed
(``seed + rank``) and its own training-pair pool, and rank 0 alone logs and publishes files.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def setup(device: str) -> DistInfo:
    """Join the process group if launched by ``torchrun``; pick this process's device.

    ``device`` is ``cpu`` or ``cuda``; under ``torchrun`` with CUDA each process takes
    ``cuda:<LOCAL_RANK>``.
    """
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if not launched_by_torchrun() or int(os.environ["WORLD_SIZE"]) == 1:
        dev = torch.device("cuda", torch.cuda.current_device()) if device == "cuda" else torch.device("cpu")
        return DistInfo(rank=0, world_size=1, local_rank=0, device=dev)
    rank = int(os.environ["RANK"])
    world = int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if device == "cuda":
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
        backend = "nccl"
    else:
        dev = torch.device("cpu")
        backend = "gloo"
    if not dist.is_initialized():
        kwargs: dict[str, Any] = {"backend": backend, "timeout": datetime.timedelta(minutes=30)}
        if backend == "nccl":
            kwargs["device_id"] = dev
        dist.init_process_group(**kwargs)
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank, device=dev)


def teardown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        if info.device.type == "cuda":
            dist.barrier(device_ids=[info.device.index])
        else:
            dist.barrier()


def broadcast_object(info: DistInfo, obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (a small picklable value: a path, a decision)."""
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_gather_object(info: DistInfo, obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (``[obj]`` for a single process)."""
    if not info.enabled:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def all_true(info: DistInfo, flag: bool) -> bool:
    """True on every rank iff ``flag`` is true on every rank (e.g. "my losses are finite")."""
    if not info.enabled:
        return flag
    t = torch.tensor([0 if flag else 1], dtype=torch.int32, device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return int(t.item()) == 0


def wrap_ddp(model: torch.nn.Module, info: DistInfo) -> torch.nn.Module:
    """Wrap ``model`` in DistributedDataParallel when running several processes; else return it."""
    if not info.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [info.device.index] if info.device.type == "cuda" else None
    # broadcast_buffers keeps spectral-norm vectors and BatchNorm statistics identical across ranks.
    return DistributedDataParallel(model, device_ids=device_ids, broadcast_buffers=True)


@contextlib.contextmanager
def no_sync(model: torch.nn.Module) -> Iterator[None]:
    """Accumulate gradients locally (no all-reduce) for a DDP model; a no-op otherwise."""
    # Looked up by name, not by type: a torch.compile wrapper forwards no_sync to the DDP module inside.
    no_sync_of = getattr(model, "no_sync", None)
    if callable(no_sync_of):
        with no_sync_of():
            yield
    else:
        yield
