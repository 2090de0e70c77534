"""Atomic file publication: write to a temporary name in the target directory, then rename.

A crash or a bad input never leaves a half-written file under the final name, and an existing
file is replaced only once its successor is complete.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import tempfile
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import IO, Any, Literal

from replication.errors import UserError

# Write failures that are the disk's, not the data's: reported naming the output, never the input.
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class OutputWriteError(UserError, OSError):
    """An output could not be written (full disk, read-only folder). The message names the output."""

    def __str__(self) -> str:  # the message, not OSError's "[Errno N] ..." layout
        return str(self.args[0]) if self.args else ""


def write_error(target: str | os.PathLike, exc: OSError, doing: str = "writing") -> OutputWriteError:
    """A message for a failed write that names the *output* (an OSError may name the source of a copy)."""
    if exc.errno in _FULL:
        why = "no space left on device"
    elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        why = f"cannot write there ({exc.strerror or exc})"
    else:
        why = exc.strerror or str(exc)
    err = OutputWriteError(f"{target}: {why} while {doing}; nothing was published under that name")
    err.errno = exc.errno
    err.filename = str(target)
    return err


def _is_write_failure(exc: BaseException, tmp: Path) -> bool:
    """Whether an OSError inside a writer's block is the output's (full/read-only disk, or about the
    temporary output itself), not an input that could not be read."""
    if not isinstance(exc, OSError) or isinstance(exc, (FileNotFoundError, OutputWriteError)):
        return False
    if exc.errno in (*_FULL, errno.EROFS):
        return True
    names = [str(n) for n in (exc.filename, exc.filename2) if n]
    return not names or any(n == str(tmp) or n.startswith(str(tmp) + os.sep) for n in names)


@contextlib.contextmanager
def writing(target: str | os.PathLike) -> Iterator[None]:
    """Within the block, a full disk or a read-only folder is an :class:`OutputWriteError` naming
    ``target`` (a copy's own OSError names its source, a stream write names nothing)."""
    try:
        yield
    except OutputWriteError:
        raise
    except OSError as exc:
        if exc.errno in (*_FULL, errno.EROFS):
            raise write_error(target, exc) from None
        raise


def resolve_write_target(target: str | os.PathLike) -> Path:
    """The file a write to ``target`` must replace: a symlink is written *through* (its final target is
    replaced atomically and the link stays); a broken link or a link to a folder is refused."""
    target = Path(target)
    if not target.is_symlink():
        return target
    real = Path(os.path.realpath(target))
    if real.is_dir():
        raise UserError(f"{target}: is a symbolic link to the folder {real}, expected a file")
    if not real.parent.is_dir():
        raise UserError(f"{target}: is a broken symbolic link (to {os.readlink(target)}); refusing to write through it")
    return real


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` if the block succeeds.

    ``suffix`` defaults to the target's suffix so writers that pick a format from the extension
    (OpenCV, safetensors tools) still work. A symlinked ``target`` is written through
    (:func:`resolve_write_target`): the file it points to is replaced, the link is kept. A full disk
    or a read-only folder is an :class:`OutputWriteError` naming ``target``.
    """
    shown = Path(target)
    target = resolve_write_target(shown)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{target.name}.tmp.", suffix=target.suffix if suffix is None else suffix, dir=target.parent
        )
    except OSError as exc:
        raise write_error(shown, exc) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600 files; published files get the usual umask-derived mode.
        os.chmod(tmp_path, 0o666 & ~_current_umask())
        os.replace(tmp_path, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        if _is_write_failure(exc, tmp_path):
            raise write_error(shown, exc) from None  # type: ignore[arg-type]  # an OSError, checked above
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(target: str | os.PathLike, mode: str = "wb", **kwargs) -> Iterator[IO[Any]]:
    """Open a temporary file for writing; it replaces ``target`` only when the block succeeds."""
    with atomic_path(target) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())


def write_text_atomic(target: str | os.PathLike, text: str) -> None:
    """``text`` as UTF-8; a file name that is not valid UTF-8 inside ``text`` is an error naming it."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = text[max(exc.start - 40, 0) : exc.end + 10]
        raise UserError(
            f"{target}: cannot write text holding a name that is not valid UTF-8 ({bad!a}); rename that file"
        ) from None
    with atomic_open(target, "wb") as fh:
        fh.write(data)


@contextlib.contextmanager
def atomic_dir(
    target: str | os.PathLike, *, mode: Literal["replace", "names", "files"] = "replace", keep: Collection[str] = ()
) -> Iterator[Path]:
    """Yield a temporary directory beside ``target``; it is published under ``target`` only on success.

    Nothing is ever left under the final name by a failed or interrupted run (Ctrl-C, SIGTERM, full
    disk): the temporary folder is removed and an existing ``target`` stays as it was.

    * ``target`` missing: the folder is renamed into place (atomic), whatever ``mode``.
    * ``"replace"``: the old folder is moved aside, the new one renamed into place, then the old one
      removed (for folders that are wholly the caller's, e.g. an extracted archive).
    * ``"names"``: each top-level entry of the new folder replaces the entry of that name as a whole
      (so no stale file of an earlier run survives inside it); other entries of ``target`` are kept.
    * ``"files"``: every file of the new folder replaces the file of the same relative name in
      ``target`` (a symlinked file is written through); nothing else in ``target`` is touched.
    Names in ``keep`` (e.g. an ownership marker) are not published into an existing ``target``.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_partials(target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    except OSError as exc:
        raise write_error(target, exc) from None
    os.chmod(tmp, 0o777 & ~_current_umask())  # mkdtemp creates 0700 directories
    try:
        yield tmp
        if mode != "replace" and (target.exists() or target.is_symlink()):
            (_merge_into if mode == "files" else _replace_names)(tmp, target, keep)
            shutil.rmtree(tmp, ignore_errors=True)
            return
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OutputWriteError) or _is_write_failure(exc, tmp):
            assert isinstance(exc, OSError)
            inner = str(exc.filename or "")
            if inner.startswith(str(tmp) + os.sep):  # the file inside the partial folder, by its final name
                inner = inner[len(str(tmp)) + 1 :]
            raise write_error(target, exc, f"writing {inner}" if inner else "writing") from None
        raise
    old = None
    if target.exists() or target.is_symlink():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        os.rmdir(old)
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink()


def _replace_names(src: Path, dest: Path, keep: Collection[str] = ()) -> None:
    """Move each top-level entry of ``src`` onto ``dest/<name>``, replacing what had that name."""
    for entry in sorted(src.iterdir()):
        if entry.name in keep:
            continue
        goal = dest / entry.name
        old = None
        if goal.exists() or goal.is_symlink():
            old = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", suffix=".old", dir=dest))
            os.rmdir(old)
            os.replace(goal, old)
        os.replace(entry, goal)
        if old is not None:
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink()


def _merge_into(src: Path, dest: Path, keep: Collection[str] = ()) -> None:
    """Move every file under ``src`` onto the same relative name under ``dest`` (checked first)."""
    moves = []
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if path.is_dir() or rel.parts[0] in keep:
            continue
        goal = dest / rel
        for parent in reversed(rel.parents[:-1]):
            if (dest / parent).exists() and not (dest / parent).is_dir():
                raise UserError(f"{dest / parent}: is a file, but the output needs a folder there")
        if goal.is_dir() and not goal.is_symlink():
            raise UserError(f"{goal}: is a folder, but the output needs a file there")
        moves.append((path, goal))
    for path, goal in moves:
        goal.parent.mkdir(parents=True, exist_ok=True)
        if goal.is_symlink():
            with atomic_path(goal) as tmp:  # written through: the link stays
                shutil.copyfile(path, tmp)
        else:
            os.replace(path, goal)


def _remove_stale_partials(target: Path) -> None:
    """Remove ``.<name>.*.partial`` folders that a killed earlier run of this writer left behind.

    Only this function's own naming for this very target matches, so nothing else is touched.
    """
    prefix = f".{target.name}."
    for entry in target.parent.iterdir():
        stale = entry.name.startswith(prefix) and entry.name.endswith(".partial")
        if stale and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
