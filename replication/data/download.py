"""Registry data sets: fetch every file of a set (through :mod:`replication.fetcher`), verify,
extract, and record what was installed in ``<root>/<name>/.complete.json``.

"Already present" is decided by checksums, never by sizes: the marker records each file's sha256,
and a re-run re-hashes the files against it (hashing is cheap next to a download, and a file whose
bytes changed but whose size did not is then caught and fetched again). Two processes installing the
same set take turns (a lock beside the set's folder).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from replication.data import registry
from replication.data.extract import extract_archive
from replication.errors import UserError
from replication.fetcher import (
    ChecksumError,
    DownloadError,
    Expected,
    ManualDownloadRequired,
    RetryPolicy,
    Sources,
    fetch_file,
    fetch_verified,
    file_digests,
    file_lock,
)
from replication.fsutil import atomic_dir, write_text_atomic, writing

_log = logging.getLogger("replication.download")


def _info(message: str) -> None:
    _log.info(message)


def mirror_relpath(dataset: str, path: str) -> str:
    """Where a registry file of ``dataset`` lies in the mirror (MANIFEST layout)."""
    return f"datasets/{dataset}/{path}"


def _read_marker(folder: Path) -> dict:
    try:
        data = json.loads((folder / registry.MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _marker_ok(folder: Path, ds: registry.Dataset, extract: bool) -> bool:
    """Every file is there with the recorded size AND sha256 (the published one where known)."""
    data = _read_marker(folder)
    files = data.get("files", {}) if isinstance(data.get("files"), dict) else {}
    for f in ds.files:
        rec = files.get(f.path)
        path = folder / f.path
        if not isinstance(rec, dict) or not path.is_file() or path.stat().st_size != rec.get("bytes"):
            return False
        if f.sha256 and rec.get("sha256") != f.sha256.lower():
            return False
        if file_digests(path)["sha256"] != rec.get("sha256"):
            return False  # same size, different bytes: fetch again
    return not (extract and any(f.extract for f in ds.files) and not data.get("extracted"))


def _images_present(root: Path, name: str) -> bool:
    try:
        return bool(registry.image_files(root, name))
    except UserError:
        return False


def download_dataset(
    name: str,
    root: str | os.PathLike = "data/raw",
    mirror: str | os.PathLike | None = None,
    extract: bool = True,
    force: bool = False,
    progress: bool = True,
    *,
    session=None,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] = _info,
) -> Path:
    """Fetch, verify and (optionally) extract registry set ``name`` into ``<root>/<name>/``.

    A view (``realsr-v3-canon``) fetches its parent. Returns the set's folder. A folder whose
    ``.complete.json`` marker matches the registry is skipped unless ``force``.
    """
    ds = registry.get(name)
    if ds.parent:
        log(f"{name}: a view of {ds.parent}")
        return download_dataset(
            ds.parent, root, mirror, extract, force, progress, session=session, sleep=sleep, log=log
        )
    root = Path(root)
    folder = root / ds.name
    mirror_path = Path(mirror) if mirror else None

    if not ds.files:
        return _folder_set(ds, root, mirror_path, log)
    with file_lock(folder, name):  # a second process waits, then finds the set present
        if not force and _already_installed(ds, root, folder, extract, log):
            return folder
        policy = RetryPolicy(sleep=sleep)
        records = _fetch_files(
            ds, folder, mirror_path, policy, progress=progress, force=force, session=session, log=log
        )
        extracted = _extract_archives(ds, folder, log) if extract else False
        marker = {"dataset": ds.name, "files": records, "extracted": extracted}
        write_text_atomic(folder / registry.MARKER, json.dumps(marker, indent=1, sort_keys=True) + "\n")
    return folder


def _already_installed(
    ds: registry.Dataset, root: Path, folder: Path, extract: bool, log: Callable[[str], None]
) -> bool:
    """The marker's files are all there with their checksums, or the images were unpacked by hand."""
    if _marker_ok(folder, ds, extract):
        log(f"{ds.name}: already present and verified in {folder}")
        return True
    archives_missing = all(not (folder / f.path).exists() for f in ds.files if f.extract)
    if (
        all(f.extract for f in ds.files)
        and archives_missing
        and not (folder / registry.MARKER).exists()
        and _images_present(root, ds.name)
    ):
        log(
            f"{ds.name}: using the images already unpacked by hand in {registry.image_dir(root, ds.name)} "
            "(not verified)"
        )
        return True
    return False


def _fetch_files(
    ds: registry.Dataset,
    folder: Path,
    mirror: Path | None,
    policy: RetryPolicy,
    *,
    progress: bool,
    force: bool,
    session,
    log: Callable[[str], None],
) -> dict[str, dict]:
    """Fetch and verify every file of ``ds``; returns what the marker records for each."""
    recorded = _read_marker(folder).get("files")
    recorded = recorded if isinstance(recorded, dict) else {}
    records, origins = {}, set()
    for f in ds.files:
        # Without a published sha256, the one recorded at install time still catches changed bytes.
        rec = recorded.get(f.path)
        known_sha = f.sha256 or (rec.get("sha256") if isinstance(rec, dict) else None)
        sources = Sources(tuple(f.urls), mirror, (mirror_relpath(ds.name, f.path),), ds.manual or None)
        expected = Expected(sha256=known_sha, md5=f.md5, sha1=f.sha1, size=f.bytes)
        with writing(folder / f.path):  # a full disk names the file being written, not the mirror's copy
            path, digests, source = fetch_verified(
                folder / f.path, sources, expected, policy=policy, progress=progress, force=force, session=session
            )
        # Where the bytes came from (mirror, URL, already present) is logged, not recorded: the folder
        # is a DVC output, and equal files must give an equal marker on every machine.
        records[f.path] = {"sha256": digests["sha256"], "bytes": path.stat().st_size}
        origins.add("the mirror" if source == "mirror" else "existing files" if source == "present" else "the web")
    log(f"{ds.name}: {len(records)} file(s) verified in {folder} (from {', '.join(sorted(origins))})")
    return records


def _extract_archives(ds: registry.Dataset, folder: Path, log: Callable[[str], None]) -> bool:
    extracted = False
    for f in ds.files:
        if f.extract:
            log(f"{ds.name}: extracting {f.path}")
            extract_archive(folder / f.path, folder / registry.EXTRACT_DIR)
            extracted = True
    return extracted


def _folder_set(ds: registry.Dataset, root: Path, mirror: Path | None, log: Callable[[str], None]) -> Path:
    """A manual set without a published file: accept a filled folder, or copy the mirror's."""
    folder = root / ds.name
    if _images_present(root, ds.name):
        log(
            f"{ds.name}: using the images in {registry.image_dir(root, ds.name)} "
            "(provided by hand; no checksums published)"
        )
        return folder
    source = mirror / "datasets" / ds.name if mirror is not None else None
    if source is not None and source.is_dir() and not folder.exists():
        with atomic_dir(folder) as tmp:
            shutil.copytree(source, tmp, dirs_exist_ok=True)
        if _images_present(root, ds.name):
            log(f"{ds.name}: copied from the mirror {source}")
            return folder
    mirror_hint = f" (or into the mirror at {source})" if source is not None else ""
    raise ManualDownloadRequired(
        f"dataset {ds.name!r} must be downloaded by hand: {ds.manual}. "
        f"Expected layout in {folder}{mirror_hint}: {ds.layout}"
    )


__all__ = [
    "ChecksumError",
    "DownloadError",
    "Expected",
    "ManualDownloadRequired",
    "RetryPolicy",
    "download_dataset",
    "fetch_file",
    "fetch_verified",
    "file_digests",
    "mirror_relpath",
]
