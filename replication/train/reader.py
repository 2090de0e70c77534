"""The GT batches of one micro-batch stream, read ahead of the training step.

A GT batch is ``batch_size`` sub-images chosen by the stream's :class:`EpochSampler`, each flipped and
cropped by ``prepare_gt`` with the stream's data generator, stacked into (B, 3, gt_crop, gt_crop).
Reading one (a PNG decode per image, on the CPU) took as long as half a GPU step, so with
``workers > 0`` the reader assembles the next ``depth`` batches in the background while the current
step runs:

* one assembler thread per stream owns the sampler and the generator and builds batch after batch
  in order (the draws of batch k+1 follow those of batch k, exactly as when read in line);
* the PNG decodes of a batch are spread over a thread pool shared by the streams (OpenCV and NumPy
  release the GIL), each decode a pure function of the image index;
* on CUDA the batch is stacked into pinned memory, so the step's copy to the GPU is ``non_blocking``.

Whatever ``workers`` is (0 = read in line, the old behaviour), the batches and their order are the
same bytes. Checkpoints store the state *as consumed* by the training loop (the sampler position and
generator state after the last batch the loop took), not the read-ahead state, so a checkpoint does
not depend on ``workers`` either.
"""

from __future__ import annotations

import collections
from concurrent.futures import Future, ThreadPoolExecutor

import torch

from replication.data.subimages import SubImageStore
from replication.degrade.crop import prepare_gt
from replication.train.sampler import EpochSampler

Consumed = tuple[dict[str, int], torch.Tensor]  # (sampler state, data generator state) after a batch


class GTReader:
    def __init__(
        self,
        store: SubImageStore,
        sampler: EpochSampler,
        generator: torch.Generator,
        batch_size: int,
        gt_crop: int,
        hflip: bool,
        *,
        decode_pool: ThreadPoolExecutor | None = None,
        depth: int = 2,
        pin_memory: bool = False,
    ) -> None:
        """``decode_pool``: the threads that decode PNGs (None: read in line, no background work)."""
        self.store = store
        self.sampler = sampler
        self.generator = generator
        self.batch_size = batch_size
        self.gt_crop = gt_crop
        self.hflip = hflip
        self.decode_pool = decode_pool
        self.depth = max(1, depth)
        self.pin_memory = pin_memory
        self._assembler: ThreadPoolExecutor | None = None
        self._ahead: collections.deque[Future[tuple[torch.Tensor, Consumed]]] = collections.deque()
        self._consumed: Consumed | None = None  # None: nothing read ahead; the live objects are the state

    # -- state (as consumed by the loop)

    def state(self) -> Consumed:
        """(sampler state, data generator state) after the last batch :meth:`next` returned."""
        if self._consumed is not None:
            return self._consumed
        return self.sampler.state_dict(), self.generator.get_state()

    def load_state(self, sampler_state: dict[str, int], generator_state: torch.Tensor) -> None:
        """Continue from a checkpoint; only before the first :meth:`next` (nothing is read ahead yet)."""
        if self._ahead or self._assembler is not None:
            raise RuntimeError("GTReader.load_state after reading started")
        self.sampler.load_state_dict(sampler_state)
        self.generator.set_state(generator_state)

    # -- reading

    def _read(self, i: int) -> torch.Tensor:
        return self.store.read(i)

    def _assemble(self) -> tuple[torch.Tensor, Consumed]:
        """The next batch from the sampler and generator (in the assembler thread, or in line)."""
        indices = self.sampler.take(self.batch_size)
        if self.decode_pool is None:
            images = [self._read(i) for i in indices]
        else:
            futures = [self.decode_pool.submit(self._read, i) for i in indices]
            images = [f.result() for f in futures]
        crops = [prepare_gt(img, self.gt_crop, self.hflip, self.generator) for img in images]
        shape = (len(crops), *crops[0].shape)
        out = torch.empty(shape, dtype=crops[0].dtype, pin_memory=self.pin_memory)
        torch.stack(crops, out=out)
        return out, (self.sampler.state_dict(), self.generator.get_state())

    def next(self) -> torch.Tensor:
        """The next GT batch (B, 3, gt_crop, gt_crop) on the CPU (pinned when asked)."""
        if self.decode_pool is None:
            batch, _ = self._assemble()
            return batch
        if self._assembler is None:
            self._assembler = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gt-assembler")
        while len(self._ahead) < self.depth:
            self._ahead.append(self._assembler.submit(self._assemble))
        batch, self._consumed = self._ahead.popleft().result()
        self._ahead.append(self._assembler.submit(self._assemble))  # keep `depth` batches on the way
        return batch

    def close(self) -> None:
        """Stop reading ahead (batches being assembled are finished and dropped)."""
        for fut in self._ahead:
            fut.cancel()
        if self._assembler is not None:
            self._assembler.shutdown(wait=True, cancel_futures=True)
        self._ahead.clear()


def decode_pool(workers: int) -> ThreadPoolExecutor | None:
    """The shared PNG-decoding threads of one process (None for ``workers == 0``: read in line)."""
    if workers < 0:
        raise ValueError(f"read workers must be >= 0, got {workers}")
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gt-decode") if workers else None


__all__ = ["GTReader", "decode_pool"]
