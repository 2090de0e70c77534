"""Which training sub-image each process reads next: a resumable, rank-sharded epoch sampler.

Every epoch draws a fresh permutation of all sub-images from a generator seeded by
``(seed, epoch)`` only, so all ranks agree on it without communicating; rank ``r`` of ``w`` takes
positions ``r, r + w, r + 2w, ...`` (the last ``n % w`` items of a permutation are skipped so every
rank sees the same number). The state is two integers (epoch, position), stored in checkpoints, so a
resumed run reads exactly the images an uninterrupted run would.
"""

from __future__ import annotations

import hashlib

import torch


def derive_seed(*parts: object) -> int:
    """A stable 63-bit seed from ``parts`` (Python's ``hash`` of strings changes per process)."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


class EpochSampler:
    def __init__(self, num_items: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        if num_items < world_size or num_items <= 0:
            raise ValueError(f"{num_items} training items cannot be shared by {world_size} processes")
        self.num_items = num_items
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.per_rank = num_items // world_size
        self.epoch = 0
        self.position = 0
        self._order: list[int] | None = None

    def _epoch_order(self) -> list[int]:
        gen = torch.Generator().manual_seed(derive_seed("sampler", self.seed, self.epoch))
        perm = torch.randperm(self.num_items, generator=gen)
        return perm[self.rank : self.per_rank * self.world_size : self.world_size].tolist()

    def next_index(self) -> int:
        if self.position >= self.per_rank:
            self.epoch += 1
            self.position = 0
            self._order = None
        if self._order is None:
            self._order = self._epoch_order()
        index = self._order[self.position]
        self.position += 1
        return index

    def take(self, count: int) -> list[int]:
        return [self.next_index() for _ in range(count)]

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position, "num_items": self.num_items}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state["num_items"] != self.num_items:
            raise ValueError(
                f"the checkpoint's sampler covered {state['num_items']} training items, the data now has {self.num_items}"
            )
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])
        self._order = None
