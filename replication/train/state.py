"""Training checkpoints: everything needed to continue a run bit for bit, written atomically.

One checkpoint is a directory ``<ckpt_dir>/step_<8 digits>/`` holding

* ``shared.safetensors``: what every process has in common (generator, EMA, discriminator,
  optimisers, schedulers), written by rank 0;
* ``rank_<r>.safetensors``: what each process owns (its training-pair pool, its RNG states, its
  data-sampler position), one file per process;
* ``state.json``: step, config fingerprint, world size, the sha256 of every file above, and a
  checksum of itself. It is written last.

The non-tensor part of each ``.safetensors`` file (optimiser hyper-parameters, scheduler counters,
sampler position ...) is JSON in the file's metadata, with every tensor replaced by a reference to
its key, so one file holds one nested state. The directory is built under a temporary name and
renamed into place, so a kill at any moment leaves either a complete checkpoint or none; a
checkpoint damaged later (truncated copy, bit rot) fails its checksum and is skipped in favour of
the previous one.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import safetensors.torch
import torch

FORMAT = "replication-train-checkpoint/1"
MANIFEST = "state.json"
STATE_KEY = "replication.state"  # the one safetensors metadata key (canonical JSON: format + tree)
SHARED = "shared.safetensors"
STEP_DIR = re.compile(r"^step_(\d{8})$")


class CheckpointError(Exception):
    """A checkpoint is incomplete or damaged; the message says which file and why."""


# ---------------------------------------------------------------------------------------------
# Nested state <-> (JSON, flat tensor dict)


def _encode(obj: Any, key: str, tensors: dict[str, torch.Tensor], seen: set[int]) -> Any:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().to("cpu").contiguous()
        # safetensors refuses tensors that share storage; clone the (rare) aliases.
        ptr = t.untyped_storage().data_ptr() if t.numel() else None
        if ptr is not None and ptr in seen:
            t = t.clone()
        elif ptr is not None:
            seen.add(ptr)
        if key in tensors:  # a dotted dict key that repeats a nested path: keep both
            key = f"{key}#{len(tensors)}"
        tensors[key] = t
        return {"__tensor__": key}
    if isinstance(obj, collections.Counter):
        return {"__counter__": [[_encode(k, f"{key}.k{i}", tensors, seen), v] for i, (k, v) in enumerate(obj.items())]}
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _encode(v, f"{key}.{k}", tensors, seen) for k, v in obj.items()}
        # int keys (optimiser state) would turn into strings in JSON: keep them as pairs.
        return {"__items__": [[k, _encode(v, f"{key}.{i}", tensors, seen)] for i, (k, v) in enumerate(obj.items())]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, f"{key}.{i}", tensors, seen) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, f"{key}.{i}", tensors, seen) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"checkpoint state {key}: cannot store a value of type {type(obj).__name__}")


def _decode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__counter__" in obj:
            return collections.Counter({_decode(k, tensors): v for k, v in obj["__counter__"]})
        if "__items__" in obj:
            return {k: _decode(v, tensors) for k, v in obj["__items__"]}
        if "__tuple__" in obj:
            return tuple(_decode(v, tensors) for v in obj["__tuple__"])
        return {k: _decode(v, tensors) for k, v in obj.items()}
    return obj


def state_to_bytes(state: dict[str, Any]) -> bytes:
    """Serialise a nested state (dicts/lists/tuples of tensors and plain values) to safetensors bytes."""
    tensors: dict[str, torch.Tensor] = {}
    tree = _encode(state, "s", tensors, set())
    # One metadata key: safetensors writes its metadata map in per-process hash order, so two keys
    # would make equal states differ in bytes between runs. The tree keeps the state's own key order.
    header = json.dumps({"format": FORMAT, "tree": tree}, separators=(",", ":"))
    return safetensors.torch.save(tensors, metadata={STATE_KEY: header})


def state_from_bytes(data: bytes, name: str = "<bytes>") -> dict[str, Any]:
    """Inverse of :func:`state_to_bytes` (tensors come back on the CPU)."""
    try:
        tensors = safetensors.torch.load(data)
        header_len = int.from_bytes(data[:8], "little")
        metadata = json.loads(data[8 : 8 + header_len]).get("__metadata__", {})
        # Checkpoints written before the single-key header keep the tree under "tree".
        tree = json.loads(metadata[STATE_KEY])["tree"] if STATE_KEY in metadata else json.loads(metadata["tree"])
    except Exception as exc:
        raise CheckpointError(f"{name}: unreadable ({type(exc).__name__}: {exc})") from None
    return _decode(tree, tensors)


# ---------------------------------------------------------------------------------------------
# Checkpoint directories


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_bytes(path: Path, data: bytes) -> str:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return hashlib.sha256(data).hexdigest()


def step_dir(ckpt_dir: Path, step: int) -> Path:
    return Path(ckpt_dir) / f"step_{step:08d}"


def partial_dir(ckpt_dir: Path, step: int) -> Path:
    return Path(ckpt_dir) / f".step_{step:08d}.partial"


def rank_file(rank: int) -> str:
    return f"rank_{rank}.safetensors"


def begin_checkpoint(ckpt_dir: Path, step: int) -> Path:
    """(rank 0) Create the empty temporary directory that every rank writes its part into."""
    tmp = partial_dir(ckpt_dir, step)
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def write_rank_part(tmp: Path, rank: int, local_state: dict[str, Any]) -> None:
    """(every rank) Write this process's own state into the temporary checkpoint directory."""
    _write_bytes(tmp / rank_file(rank), state_to_bytes(local_state))


def finish_checkpoint(
    ckpt_dir: Path, step: int, world_size: int, fingerprint: str, shared_state: dict[str, Any], info: dict[str, Any]
) -> Path:
    """(rank 0, after every rank wrote its part) Write the shared part and the manifest, then publish.

    ``info`` is free-form JSON (which config sections went into the fingerprint, for messages).
    Returns the published directory.
    """
    tmp = partial_dir(ckpt_dir, step)
    files = {SHARED: _write_bytes(tmp / SHARED, state_to_bytes(shared_state))}
    for rank in range(world_size):
        path = tmp / rank_file(rank)
        if not path.is_file():
            raise CheckpointError(f"{path}: rank {rank} did not write its part of the checkpoint")
        files[rank_file(rank)] = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest = {
        "format": FORMAT,
        "step": step,
        "world_size": world_size,
        "fingerprint": fingerprint,
        "files": files,
        "info": info,
        # No wall-clock time, host or path: equal training runs give byte-identical checkpoints.
    }
    manifest["checksum"] = hashlib.sha256(_canonical(manifest)).hexdigest()
    _write_bytes(tmp / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())
    _fsync_dir(tmp)
    final = step_dir(ckpt_dir, step)
    if final.exists():  # a re-run that reaches the same step: replace only once the new one is complete
        old = Path(ckpt_dir) / f".step_{step:08d}.old"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
    _fsync_dir(Path(ckpt_dir))
    return final


def read_manifest(path: Path) -> dict[str, Any]:
    """The verified manifest of checkpoint directory ``path`` (self-checksum and file hashes)."""
    path = Path(path)
    mpath = path / MANIFEST
    try:
        manifest = json.loads(mpath.read_bytes())
    except FileNotFoundError:
        raise CheckpointError(f"{mpath}: missing") from None
    except (ValueError, OSError) as exc:
        raise CheckpointError(f"{mpath}: unreadable ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"{mpath}: not a {FORMAT} manifest")
    claimed = manifest.pop("checksum", None)
    if claimed != hashlib.sha256(_canonical(manifest)).hexdigest():
        raise CheckpointError(f"{mpath}: checksum mismatch (the manifest was modified or damaged)")
    manifest["checksum"] = claimed
    return manifest


def _read_verified(path: Path, expected_sha: str) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected_sha:
        raise CheckpointError(f"{path}: sha256 mismatch (truncated or damaged: {len(data)} bytes)")
    return data


def verify(path: Path) -> dict[str, Any]:
    """Check every file of checkpoint ``path``; returns its manifest or raises :class:`CheckpointError`."""
    manifest = read_manifest(path)
    for name, sha in manifest["files"].items():
        _read_verified(Path(path) / name, sha)
    return manifest


@dataclass(frozen=True)
class Loaded:
    path: Path
    step: int
    fingerprint: str
    world_size: int
    info: dict[str, Any]
    shared: dict[str, Any]
    local: dict[str, Any]


def load_checkpoint(path: Path, rank: int) -> Loaded:
    """Load the shared part and ``rank``'s own part of checkpoint ``path`` (verifying both)."""
    path = Path(path)
    manifest = read_manifest(path)
    name = rank_file(rank)
    if name not in manifest["files"]:
        raise CheckpointError(f"{path}: has no part for rank {rank} (written by {manifest['world_size']} processes)")
    shared = state_from_bytes(_read_verified(path / SHARED, manifest["files"][SHARED]), str(path / SHARED))
    local = state_from_bytes(_read_verified(path / name, manifest["files"][name]), str(path / name))
    return Loaded(
        path, manifest["step"], manifest["fingerprint"], manifest["world_size"], manifest["info"], shared, local
    )


def list_checkpoints(ckpt_dir: Path) -> list[tuple[int, Path]]:
    """Published checkpoint directories, oldest first (not yet verified)."""
    ckpt_dir = Path(ckpt_dir)
    if not ckpt_dir.is_dir():
        return []
    found = []
    for entry in ckpt_dir.iterdir():
        m = STEP_DIR.match(entry.name)
        if m and entry.is_dir():
            found.append((int(m.group(1)), entry))
    return sorted(found)


def latest_valid(ckpt_dir: Path, warn: Callable[[str], None]) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint that passes :func:`verify`; damaged ones are reported through ``warn``."""
    for _step, path in reversed(list_checkpoints(ckpt_dir)):
        try:
            return path, verify(path)
        except CheckpointError as exc:
            warn(f"skipping damaged checkpoint: {exc}; falling back to the previous one")
    return None


def prune(ckpt_dir: Path, keep: int, warn: Callable[[str], None]) -> list[Path]:
    """Delete all but the ``keep`` newest checkpoints, but only once the newest one verifies.

    Damaged checkpoints older than the newest valid one are deleted too (they can never be used).
    Returns the deleted directories.
    """
    keep = max(1, keep)
    found = list_checkpoints(ckpt_dir)
    if not found:
        return []
    try:
        verify(found[-1][1])
    except CheckpointError as exc:
        warn(f"not pruning old checkpoints: the newest one does not verify ({exc})")
        return []
    deleted = []
    for _step, path in found[:-keep]:
        shutil.rmtree(path, ignore_errors=True)
        deleted.append(path)
    return deleted


def remove_partials(ckpt_dir: Path) -> None:
    """Delete temporary directories left by a run killed while writing a checkpoint."""
    ckpt_dir = Path(ckpt_dir)
    if ckpt_dir.is_dir():
        for entry in ckpt_dir.iterdir():
            if entry.name.startswith(".step_") and entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)


def move_aside(ckpt_dir: Path, tag: str) -> Path:
    """Rename ``ckpt_dir`` to a fresh ``<name>.stale-<tag>[-n]`` sibling (nothing is deleted)."""
    ckpt_dir = Path(ckpt_dir)
    n = 0
    while True:
        target = ckpt_dir.with_name(f"{ckpt_dir.name}.stale-{tag}" + (f"-{n}" if n else ""))
        if not target.exists():
            break
        n += 1
    os.replace(ckpt_dir, target)
    return target
