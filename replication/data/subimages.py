"""The prepared sub-images format (``replication prepare`` output): its writer and its reader.

Layout: ``shards/NNNNNN.tar`` (PNG members ``<set>/<stem><Tk>_sNNN.png``, fixed tar metadata),
``meta_info.txt`` (one line per member: ``shards/000000.tar/<member> (h,w,c)``) and ``index.tsv``
(the byte offset and size of each line's member). :class:`ShardWriter` writes them.

``SubImageStore(root)`` reads ``root/meta_info.txt`` and the member byte offsets (from
``index.tsv``, or by scanning the tar headers once when it is absent), then serves ``read(i)`` with
one positioned read (``os.pread``) from a file descriptor kept open per process. ``pread`` has no shared file position, and descriptors
are reopened when the process id changes, so a store created before ``fork`` (DataLoader workers)
or pickled to a spawned worker is safe to use there.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING, Self

from replication.errors import UserError

if TYPE_CHECKING:  # torch is loaded by read() only: the writer runs in light preparation workers
    import torch

SHARD_DIR = "shards"
META_INFO = "meta_info.txt"
INDEX = "index.tsv"
INDEX_HEADER = "# byte offset and size of each meta_info.txt line's member inside its shard\n"
_LINE = re.compile(r"^(?P<path>.+?\.tar)/(?P<member>.+) \((?P<h>\d+),(?P<w>\d+),(?P<c>\d+)\)$")


class ShardWriter:
    """Appends PNG members to ``<root>/shards/NNNNNN.tar``, ``shard_size`` per file, with fixed metadata,
    then writes ``meta_info.txt`` and ``index.tsv`` (:meth:`write_lists`)."""

    def __init__(self, root: Path, shard_size: int):
        self.root = root
        self.folder = root / SHARD_DIR
        self.folder.mkdir()
        self.shard_size = shard_size
        self.count = 0
        self.tar: tarfile.TarFile | None = None
        self.shard_name = ""
        self.meta: list[str] = []
        self.index: list[str] = []  # "<data offset>\t<size>" per member, in meta order

    def add(self, name: str, data: bytes, shape: tuple[int, int, int]) -> None:
        if self.count % self.shard_size == 0:
            self.close()
            self.shard_name = f"{self.count // self.shard_size:06d}.tar"
            # Held open across add() calls (closed by close()), hence no context manager.
            self.tar = tarfile.open(self.folder / self.shard_name, "w", format=tarfile.PAX_FORMAT)  # noqa: SIM115
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mtime = 0
        info.mode = 0o644
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        assert self.tar is not None
        self.tar.addfile(info, io.BytesIO(data))
        # The member's data ends the archive so far (padded to 512-byte blocks): its offset lets
        # SubImageStore start without scanning every tar header.
        self.index.append(f"{self.tar.offset - -(-len(data) // 512) * 512}\t{len(data)}")
        self.meta.append(f"{SHARD_DIR}/{self.shard_name}/{name} ({shape[0]},{shape[1]},{shape[2]})")
        self.count += 1

    def close(self) -> None:
        if self.tar is not None:
            self.tar.close()
            self.tar = None

    def write_lists(self) -> None:
        """``meta_info.txt`` (one line per member) and ``index.tsv`` (its data offset and size)."""
        (self.root / META_INFO).write_text("\n".join(self.meta) + "\n", encoding="utf-8")
        (self.root / INDEX).write_text(INDEX_HEADER + "\n".join(self.index) + "\n", encoding="utf-8")


class SubImageStore:
    """The sub-images of a prepared folder, addressed by index ``0 .. len-1`` (meta_info order)."""

    def __init__(self, root: str | os.PathLike, use_index: bool = True):
        """``use_index``: take member offsets from ``index.tsv`` when present (else scan the tars)."""
        self.root = Path(root)
        meta = self.root / META_INFO
        if not meta.is_file():
            raise UserError(f"{meta}: not found; run `replication prepare` first")
        shard_index: dict[str, int] = {}
        self._shards: list[Path] = []
        wanted: list[tuple[int, str]] = []
        self.names: list[str] = []  # "<shard path>/<member>", as in meta_info.txt
        self.shapes: list[tuple[int, int, int]] = []  # (h, w, c)
        for lineno, line in enumerate(meta.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            m = _LINE.match(line)
            if not m:
                raise UserError(f"{meta}:{lineno}: expected '<shard>.tar/<member> (h,w,c)', got {line!r}")
            shard = m["path"]
            if shard not in shard_index:
                shard_index[shard] = len(self._shards)
                self._shards.append(self.root / shard)
            wanted.append((shard_index[shard], m["member"]))
            self.names.append(f"{shard}/{m['member']}")
            self.shapes.append((int(m["h"]), int(m["w"]), int(m["c"])))
        self._where: list[tuple[int, int, int]] = []  # (shard, data offset, size)
        indexed = self._read_index(len(wanted)) if use_index else None
        if indexed is not None:
            for path in self._shards:
                if not path.is_file():
                    raise UserError(f"{path}: shard missing")
            self._where = [(shard, off, size) for (shard, _), (off, size) in zip(wanted, indexed, strict=True)]
        else:
            offsets = [self._scan(p) for p in self._shards]
            for (shard, member), name in zip(wanted, self.names, strict=True):
                try:
                    offset, size = offsets[shard][member]
                except KeyError:
                    raise UserError(
                        f"{meta}: {name} is listed but {self._shards[shard]} has no member {member!r}"
                    ) from None
                self._where.append((shard, offset, size))
        self._pid = os.getpid()
        self._fds: dict[int, int] = {}

    def _read_index(self, count: int) -> list[tuple[int, int]] | None:
        """(offset, size) per meta line from ``index.tsv``; None if absent or not matching meta_info."""
        path = self.root / INDEX
        if not path.is_file():
            return None
        rows = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line or line.startswith("#"):
                continue
            off, _, size = line.partition("\t")
            if not (off.isdigit() and size.isdigit()):
                raise UserError(f"{path}: malformed line {line!r}")
            rows.append((int(off), int(size)))
        return rows if len(rows) == count else None

    @staticmethod
    def _scan(shard: Path) -> dict[str, tuple[int, int]]:
        if not shard.is_file():
            raise UserError(f"{shard}: shard missing")
        try:
            with tarfile.open(shard, "r:") as tf:
                return {m.name: (m.offset_data, m.size) for m in tf if m.isfile()}
        except tarfile.TarError as exc:
            raise UserError(f"{shard}: unreadable shard: {exc}") from None

    def __len__(self) -> int:
        return len(self._where)

    def _fd(self, shard: int) -> int:
        pid = os.getpid()
        if pid != self._pid:  # forked: the inherited descriptors belong to the parent
            self._close_fds()
            self._pid = pid
        fd = self._fds.get(shard)
        if fd is None:
            fd = os.open(self._shards[shard], os.O_RDONLY)
            self._fds[shard] = fd
        return fd

    def read_bytes(self, i: int) -> bytes:
        """The PNG file of sub-image ``i``."""
        shard, offset, size = self._where[i]
        data = os.pread(self._fd(shard), size, offset)
        if len(data) != size:
            raise UserError(f"{self._shards[shard]}: truncated shard (member {self.names[i]})")
        return data

    def read(self, i: int) -> torch.Tensor:
        """Sub-image ``i`` as a float32 RGB tensor (3, H, W) in [0, 1]."""
        from replication.imageio import ImageReadError, decode_image

        try:
            image = decode_image(self.read_bytes(i), source=self.names[i])
        except ImageReadError:
            raise UserError(f"{self.root}: cannot decode {self.names[i]}") from None
        rgb = image.rgb[0]
        if tuple(rgb.shape[1:]) != self.shapes[i][:2]:
            raise UserError(
                f"{self.root}: {self.names[i]} is {tuple(rgb.shape[1:])}, meta_info says {self.shapes[i][:2]}"
            )
        return rgb

    def close(self) -> None:
        if not hasattr(self, "_fds"):  # __init__ failed before opening anything
            return
        if os.getpid() == self._pid:
            self._close_fds()
        self._fds = {}

    def _close_fds(self) -> None:
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = {}

    def __del__(self) -> None:
        self.close()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_fds"] = {}  # descriptors do not travel to spawned workers; reopened there
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._pid = os.getpid()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["SubImageStore"]
