"""Safe extraction of zip and tar (plain, gz, bz2, xz) archives.

Downloaded archives are untrusted input. Every member is checked *before* anything is written for
it, and the whole archive is unpacked into a temporary sibling of the target that replaces the
target only when every member succeeded (:func:`replication.fsutil.atomic_dir`), so a bad archive
leaves neither files outside the target nor a half-extracted folder.

Refused: absolute paths (``/x``, ``C:\\x``, ``\\\\host\\x``), ``..`` components, NUL bytes,
symbolic and hard links whose target lies outside the extraction folder, device files and FIFOs,
and writes through a previously extracted symlink that leads outside.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path

from replication.errors import UserError
from replication.fsutil import atomic_dir


class UnsafeArchiveError(UserError):
    """An archive member would write outside the extraction folder, or is a special file."""


def _member_path(archive: Path, name: str) -> str:
    """Validate member ``name`` and return it as a normalised relative POSIX path ('' for the root)."""
    if "\x00" in name:
        raise UnsafeArchiveError(f"{archive}: member {name!r} contains a NUL byte")
    unified = name.replace("\\", "/")
    if unified.startswith("/") or (len(unified) >= 2 and unified[1] == ":"):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path")
    parts = [p for p in unified.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"{archive}: member {name!r} contains '..'")
    return "/".join(parts)


def _inside(rel: str) -> bool:
    """Does the normalised relative POSIX path ``rel`` stay inside the root?"""
    norm = posixpath.normpath(rel) if rel else "."
    return not (norm == ".." or norm.startswith(("../", "/")))


def _link_target_inside(archive: Path, name: str, link_rel: str, target: str) -> str:
    """Check a symlink ``link_rel -> target``; return the target resolved relative to the root."""
    if not target or "\x00" in target:
        raise UnsafeArchiveError(f"{archive}: link {name!r} has an empty or invalid target")
    unified = target.replace("\\", "/")
    if unified.startswith("/") or (len(unified) >= 2 and unified[1] == ":"):
        raise UnsafeArchiveError(f"{archive}: symlink {name!r} -> {target!r} points to an absolute path")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(link_rel), unified))
    if not _inside(resolved):
        raise UnsafeArchiveError(f"{archive}: symlink {name!r} -> {target!r} points outside the extraction folder")
    return resolved


def _safe_dest(archive: Path, root: Path, rel: str, name: str) -> Path:
    """``root/rel`` after checking that its existing parent folders do not lead outside ``root``."""
    dest = root / rel
    real_root = os.path.realpath(root)
    real_parent = os.path.realpath(dest.parent)
    if os.path.commonpath([real_root, real_parent]) != real_root:
        raise UnsafeArchiveError(
            f"{archive}: member {name!r} would be written outside the extraction folder (through a link)"
        )
    if dest.is_symlink():
        raise UnsafeArchiveError(f"{archive}: member {name!r} would overwrite a symlink")
    return dest


def _replace_duplicate(dest: Path) -> None:
    """A later member of the same name wins (tar semantics); only our own regular files are removed."""
    if dest.is_file() and not dest.is_symlink():
        dest.unlink()


def _extract_zip(archive: Path, root: Path) -> int:
    count = 0
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        # Check every name first: a zip's directory is cheap to read, so refuse before writing anything.
        checked = []
        for info in infos:
            rel = _member_path(archive, info.filename)
            mode = info.external_attr >> 16
            kind = stat.S_IFMT(mode) if mode else 0
            if kind and kind not in (stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK):
                raise UnsafeArchiveError(f"{archive}: member {info.filename!r} is a device file, FIFO or socket")
            checked.append((info, rel, kind))
        for info, rel, kind in checked:
            if not rel:
                continue
            if kind == stat.S_IFLNK:
                target = zf.read(info).decode("utf-8", "surrogateescape")
                _link_target_inside(archive, info.filename, rel, target)
                dest = _safe_dest(archive, root, rel, info.filename)
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(target, dest)
            elif info.is_dir() or kind == stat.S_IFDIR:
                dest = _safe_dest(archive, root, rel, info.filename)
                dest.mkdir(parents=True, exist_ok=True)
            else:
                dest = _safe_dest(archive, root, rel, info.filename)
                dest.parent.mkdir(parents=True, exist_ok=True)
                _safe_dest(archive, root, rel, info.filename)  # re-check after creating parents
                _replace_duplicate(dest)
                with zf.open(info) as src, open(dest, "xb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
            count += 1
    return count


def _extract_tar(archive: Path, root: Path) -> int:
    count = 0
    # Stream members one by one (``r:*`` detects gz/bz2/xz): a multi-GB .tar.gz is read only once.
    with tarfile.open(archive, "r:*") as tf:
        for member in tf:
            rel = _member_path(archive, member.name)
            if member.isdev():  # character/block devices and FIFOs
                raise UnsafeArchiveError(f"{archive}: member {member.name!r} is a device file or FIFO")
            if not rel:
                continue
            dest = _safe_dest(archive, root, rel, member.name)
            if member.issym():
                _link_target_inside(archive, member.name, rel, member.linkname)
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(member.linkname, dest)
            elif member.islnk():
                # Hard-link names are relative to the archive root, not to the link's folder.
                target_rel = _member_path(archive, member.linkname)
                if not target_rel or not _inside(target_rel):
                    raise UnsafeArchiveError(
                        f"{archive}: hard link {member.name!r} -> {member.linkname!r} points outside"
                    )
                source = _safe_dest(archive, root, target_rel, member.name)
                real_root = os.path.realpath(root)
                if not source.exists() or os.path.commonpath([real_root, os.path.realpath(source)]) != real_root:
                    raise UnsafeArchiveError(
                        f"{archive}: hard link {member.name!r} -> {member.linkname!r} does not point to an extracted file"
                    )
                dest.parent.mkdir(parents=True, exist_ok=True)
                _replace_duplicate(dest)
                os.link(source, dest)
            elif member.isdir():
                dest.mkdir(parents=True, exist_ok=True)
            elif member.isfile():
                dest.parent.mkdir(parents=True, exist_ok=True)
                _safe_dest(archive, root, rel, member.name)
                _replace_duplicate(dest)
                src = tf.extractfile(member)
                assert src is not None
                with src, open(dest, "xb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
                # Keep the owner's read/write bits only (no setuid, no world-writable files).
                os.chmod(dest, 0o644 | (member.mode & 0o100))
            else:
                raise UnsafeArchiveError(f"{archive}: member {member.name!r} has an unsupported type {member.type!r}")
            count += 1
    return count


def archive_kind(path: str | os.PathLike) -> str:
    """``zip`` or ``tar`` from the file's content (not its name); UserError otherwise."""
    path = Path(path)
    if zipfile.is_zipfile(path):
        return "zip"
    try:
        if tarfile.is_tarfile(path):
            return "tar"
    except (OSError, tarfile.TarError):
        pass
    raise UserError(f"{path}: not a zip or tar archive")


def extract_archive(archive: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Unpack ``archive`` into folder ``target`` atomically; returns ``target``.

    ``target`` is replaced only on success (an existing one survives a failed extraction).
    Raises :class:`UnsafeArchiveError` for a dangerous member and :class:`UserError` for a corrupt
    archive.
    """
    archive = Path(archive)
    target = Path(target)
    kind = archive_kind(archive)
    try:
        with atomic_dir(target) as tmp:
            os.chmod(tmp, 0o755)  # mkdtemp makes it 0700; the published folder should be readable
            if kind == "zip":
                _extract_zip(archive, tmp)
            else:
                _extract_tar(archive, tmp)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise UserError(f"{archive}: corrupt archive: {exc}") from None
    return target


__all__ = ["UnsafeArchiveError", "archive_kind", "extract_archive"]
