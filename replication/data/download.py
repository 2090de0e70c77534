"""Verified, resumable, mirror-first downloads of single files and of registry data sets.

:func:`fetch_file` is the one primitive (the weights registry uses it too):

1. an existing ``dest`` that matches its checksum is kept (a mismatching one is moved aside);
2. the offline mirror is consulted first: ``<mirror>/<relpath>`` for each given relpath, then any
   file of the same name listed in ``<mirror>/MANIFEST.json`` (with the same sha256 when known).
   A mirror file that fails its checksum is *tampered*: it is never used and the call fails;
3. otherwise each URL is streamed into ``<dest>.part`` with ``requests``: a partial file is resumed
   with an HTTP ``Range`` request (a server that answers 200 instead of 206 restarts it), and
   connection errors, early-closed bodies, 429 and 5xx answers are retried with bounded exponential
   backoff (``sleep`` is injectable for tests);
4. the complete ``.part`` is verified (sha256 / md5 / sha1 / size) and only then renamed onto
   ``dest``. A mismatch moves it to ``<dest>.bad-<sha256[:8]>`` and raises :class:`ChecksumError`
   naming the file and both hashes: nothing is published.

When no source works the error says which file is missing, its URL, and where to put it by hand.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from replication.data import registry
from replication.data.extract import extract_archive
from replication.errors import UserError
from replication.fsutil import atomic_dir, write_text_atomic

CHUNK = 1 << 16
DEFAULT_RETRIES = 5  # attempts after the first one, per URL
DEFAULT_BACKOFF_S = 1.0  # first wait; doubles each retry (1, 2, 4, 8, 16 s)
DEFAULT_TIMEOUT_S = 60.0  # connect/read timeout of one request


class DownloadError(UserError):
    """A file could not be obtained from the mirror or any URL."""


class ChecksumError(UserError):
    """A file does not match its published checksum (message names the file and both hashes)."""


class ManualDownloadRequired(UserError):
    """A file or data set must be fetched by hand (browser-only host); the message says where to put it."""


class _Transient(Exception):
    """A failure worth retrying (5xx, 429, connection closed early)."""


@dataclass(frozen=True)
class Expected:
    """What a file must match. Unknown values are None and are not checked."""

    sha256: str | None = None
    md5: str | None = None
    sha1: str | None = None
    size: int | None = None

    def digests(self) -> dict[str, str]:
        return {a: v.lower() for a, v in (("sha256", self.sha256), ("md5", self.md5), ("sha1", self.sha1)) if v}

    def describe(self) -> str:
        parts = [f"{a} {v}" for a, v in self.digests().items()]
        if self.size is not None:
            parts.append(f"{self.size} bytes")
        return ", ".join(parts) or "no published checksum"


def file_digests(path: str | os.PathLike, algorithms: Iterable[str] = ("sha256",)) -> dict[str, str]:
    """Hex digests of ``path`` for each algorithm, computed in one read."""
    hashers = {a: hashlib.new(a) for a in dict.fromkeys(algorithms)}
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            for h in hashers.values():
                h.update(block)
    return {a: h.hexdigest() for a, h in hashers.items()}


def _mismatch(path: Path, expected: Expected) -> tuple[str | None, dict[str, str]]:
    """Check ``path``; returns (problem or None, the digests computed, always including sha256)."""
    want = expected.digests()
    digests = file_digests(path, ["sha256", *want])
    size = path.stat().st_size
    if expected.size is not None and size != expected.size:
        return (
            f"{size} bytes with sha256 {digests['sha256']}, expected {expected.size} bytes ({expected.describe()})"
        ), digests
    for algo, value in want.items():
        if digests[algo] != value:
            return f"{algo} {digests[algo]}, expected {algo} {value}", digests
    return None, digests


def _move_aside(path: Path, digests: dict[str, str], dest: Path) -> Path:
    bad = dest.with_name(f"{dest.name}.bad-{digests['sha256'][:8]}")
    os.replace(path, bad)
    return bad


def _load_manifest(mirror: Path) -> list[dict]:
    manifest = mirror / "MANIFEST.json"
    if not manifest.is_file():
        return []
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{manifest}: cannot read the mirror manifest: {exc}") from None
    entries = data if isinstance(data, list) else data.get("files", [])
    return [e for e in entries if isinstance(e, dict) and isinstance(e.get("path"), str)]


def _mirror_candidates(
    mirror: Path, dest: Path, expected: Expected, relpaths: Sequence[str]
) -> list[tuple[Path, str | None]]:
    """(path, manifest sha256 or None) for each mirror file that could be ``dest``, best first."""
    manifest = _load_manifest(mirror)
    listed = {e["path"]: e.get("sha256") for e in manifest}
    out: dict[str, str | None] = {}
    for rel in relpaths:
        rel = rel.replace("\\", "/").lstrip("/")
        out.setdefault(rel, listed.get(rel))
    want = (expected.sha256 or "").lower()
    for entry in manifest:
        if Path(entry["path"]).name != dest.name:
            continue
        if want and (entry.get("sha256") or "").lower() != want:
            continue  # a different file that happens to share the name
        out.setdefault(entry["path"], entry.get("sha256"))
    return [(mirror / rel, sha) for rel, sha in out.items()]


def _from_mirror(
    mirror: Path, dest: Path, part: Path, expected: Expected, relpaths: Sequence[str]
) -> dict[str, str] | None:
    """Copy a verified mirror file to ``part``; returns its digests, or None when the mirror lacks it."""
    for candidate, listed_sha in _mirror_candidates(mirror, dest, expected, relpaths):
        if not candidate.is_file():
            continue
        check = expected
        if not expected.digests() and listed_sha:
            check = Expected(sha256=listed_sha, size=expected.size)  # at least catch a changed mirror file
        shutil.copyfile(candidate, part)
        problem, digests = _mismatch(part, check)
        if problem:
            part.unlink()
            raise ChecksumError(
                f"mirror file {candidate} is corrupt or tampered: {problem}; it was not used. "
                f"Replace it with the published file (or remove it to download from the URL)"
            )
        return digests
    return None


def _is_offline(exc: BaseException) -> bool:
    """No route to the host at all (DNS failure, network unreachable): retrying will not help."""
    text = str(exc)
    return any(
        s in text
        for s in (
            "Failed to resolve",
            "Name or service not known",
            "Temporary failure in name resolution",
            "Network is unreachable",
            "nodename nor servname",
        )
    )


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


def _stream(
    session,
    url: str,
    part: Path,
    expected: Expected,
    progress: bool,
    retries: int,
    backoff: float,
    sleep: Callable[[float], None],
    timeout: float,
) -> None:
    """Download ``url`` into ``part`` (resuming what is there). Raises DownloadError when it gives up."""
    import requests
    from tqdm import tqdm

    failures = 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        if expected.size is not None and have > expected.size:
            part.unlink()  # longer than the published file: cannot be a prefix of it
            have = 0
        if expected.size is not None and have == expected.size:
            return  # an earlier run finished the body; verification decides
        headers = {"Accept-Encoding": "identity"}  # byte offsets must refer to the raw file
        if have:
            headers["Range"] = f"bytes={have}-"
        received = 0
        try:
            with session.get(url, headers=headers, stream=True, timeout=timeout, allow_redirects=True) as resp:
                status = resp.status_code
                if status == 416 and have:
                    match = re.search(r"/(\d+)", resp.headers.get("Content-Range", ""))
                    if match and int(match.group(1)) == have:
                        return  # the part is already complete
                    part.unlink()  # the part does not fit this file: start over
                    continue
                if status == 429 or status >= 500:
                    raise _Transient(f"HTTP {status}")
                if status >= 400:
                    raise DownloadError(f"{url}: HTTP {status} {resp.reason}")
                total: int | None = None
                mode = "wb"
                start = 0
                if status == 206 and have:
                    match = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
                    if not match or int(match.group(1)) != have:
                        part.unlink()  # an unexpected range: restart from zero
                        continue
                    mode, start = "ab", have
                    total = None if match.group(3) == "*" else int(match.group(3))
                else:
                    # 200: the whole body (a server that ignores Range restarts the file).
                    length = resp.headers.get("Content-Length")
                    total = int(length) if length and length.isdigit() else None
                if total is None:
                    total = expected.size
                if hasattr(resp.raw, "enforce_content_length"):
                    # Keep the bytes of a body cut short (urllib3 would raise and drop its last
                    # buffer); the size check below then resumes from exactly what was written.
                    resp.raw.enforce_content_length = False
                with (
                    open(part, mode) as fh,
                    tqdm(
                        total=total,
                        initial=start,
                        unit="B",
                        unit_scale=True,
                        unit_divisor=1024,
                        desc=part.name[: -len(".part")],
                        disable=not progress,
                        file=sys.stderr,
                        leave=False,
                    ) as bar,
                ):
                    for chunk in resp.iter_content(CHUNK):
                        fh.write(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
                size_now = part.stat().st_size
                if total is not None and size_now < total:
                    raise _Transient(f"connection closed after {size_now} of {total} bytes")
                return
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
            _Transient,
        ) as exc:
            if _is_offline(exc):
                raise DownloadError(f"{url}: host unreachable ({exc.__class__.__name__}: {exc})") from None
            if received:
                failures = 0  # progress was made: a flaky link gets a fresh budget
            failures += 1
            if failures > retries:
                raise DownloadError(f"{url}: giving up after {failures} failed attempts (last: {exc})") from None
            sleep(backoff * 2 ** (failures - 1))


def _how_to_provide(
    dest: Path, urls: Sequence[str], expected: Expected, mirror: Path | None, relpaths: Sequence[str]
) -> str:
    rel = relpaths[0] if relpaths else dest.name
    in_mirror = (
        f"the mirror at {mirror / rel}"
        if mirror is not None
        else f"an offline mirror at <mirror>/{rel} (mirror: params.yaml `mirror:`, $REPLICATION_MIRROR or --mirror DIR)"
    )
    if urls:
        return f"put it in {in_mirror}, or download {urls[0]} by hand to {dest} ({expected.describe()})"
    return f"save it as {dest} (or put it in {in_mirror}) and run the command again ({expected.describe()})"


def _fetch(
    dest: Path,
    urls: Sequence[str],
    expected: Expected,
    mirror: Path | None,
    mirror_relpaths: Sequence[str],
    progress: bool,
    force: bool,
    manual_hint: str | None,
    session,
    retries: int,
    backoff: float,
    sleep: Callable[[float], None],
    timeout: float,
) -> tuple[Path, dict[str, str], str]:
    """fetch_file's work; also returns the digests and the source used ('present', 'mirror', URL)."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if dest.exists() and not force:
        problem, digests = _mismatch(dest, expected)
        if problem is None:
            return dest, digests, "present"
        bad = _move_aside(dest, digests, dest)
        print(f"warning: {dest} does not match ({problem}); moved to {bad.name} and fetching again", file=sys.stderr)

    if mirror is not None and Path(mirror).is_dir():
        copied = _from_mirror(Path(mirror), dest, part, expected, mirror_relpaths)
        if copied is not None:
            os.replace(part, dest)
            return dest, copied, "mirror"

    if not urls:
        hint = f"{manual_hint}. " if manual_hint else ""
        raise ManualDownloadRequired(
            f"{dest.name} must be downloaded by hand: {hint}Then "
            + _how_to_provide(dest, urls, expected, mirror, mirror_relpaths)
        )

    if session is None:
        import requests

        session = requests.Session()
    errors = []
    for url in urls:
        try:
            _stream(session, url, part, expected, progress, retries, backoff, sleep, timeout)
        except DownloadError as exc:
            errors.append(str(exc))
            continue
        problem, digests = _mismatch(part, expected)
        if problem:
            bad = _move_aside(part, digests, dest)
            raise ChecksumError(
                f"{dest.name} downloaded from {url} does not match: got {problem}. "
                f"Nothing was published; the download was moved to {bad}"
            )
        os.replace(part, dest)
        return dest, digests, url
    hint = f" ({manual_hint})" if manual_hint else ""
    raise DownloadError(
        f"cannot download {dest.name}: {'; '.join(errors)}{hint}. To provide it offline, "
        + _how_to_provide(dest, urls, expected, mirror, mirror_relpaths)
    )


def fetch_file(
    dest: str | os.PathLike,
    urls: Sequence[str],
    sha256: str | None = None,
    md5: str | None = None,
    size: int | None = None,
    mirror: str | os.PathLike | None = None,
    mirror_relpaths: Sequence[str] = (),
    progress: bool = True,
    *,
    sha1: str | None = None,
    force: bool = False,
    manual_hint: str | None = None,
    session=None,
    retries: int = DEFAULT_RETRIES,
    backoff: float = DEFAULT_BACKOFF_S,
    sleep: Callable[[float], None] = time.sleep,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> Path:
    """Make ``dest`` a verified copy of the published file; returns ``dest``.

    ``urls`` are tried in order after the mirror (``mirror`` folder; ``mirror_relpaths`` are paths
    inside it, e.g. ``datasets/realsrset/Lincoln.png``). ``sha256``/``md5``/``sha1``/``size`` are
    checked when given. ``force`` fetches again even if ``dest`` is already valid (the old file is
    replaced only by a verified new one). ``manual_hint`` is shown when no source works (browser-only
    hosts: ``urls`` may then be empty). ``session`` is a ``requests.Session``; ``retries``,
    ``backoff`` and ``sleep`` bound the retry loop. Raises :class:`ChecksumError`,
    :class:`DownloadError` or :class:`ManualDownloadRequired` (all :class:`UserError`).
    """
    expected = Expected(sha256=sha256, md5=md5, sha1=sha1, size=size)
    path, _, _ = _fetch(
        Path(dest),
        list(urls),
        expected,
        Path(mirror) if mirror else None,
        list(mirror_relpaths),
        progress,
        force,
        manual_hint,
        session,
        retries,
        backoff,
        sleep,
        timeout,
    )
    return path


def mirror_relpath(dataset: str, path: str) -> str:
    """Where a registry file of ``dataset`` lies in the mirror (MANIFEST layout)."""
    return f"datasets/{dataset}/{path}"


def _marker_ok(folder: Path, ds: registry.Dataset, extract: bool) -> bool:
    marker = folder / registry.MARKER
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    files = data.get("files", {})
    for f in ds.files:
        rec = files.get(f.path)
        if not rec or not (folder / f.path).is_file() or (folder / f.path).stat().st_size != rec.get("bytes"):
            return False
        if f.sha256 and rec.get("sha256") != f.sha256.lower():
            return False
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
    log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr),
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

    if not force and _marker_ok(folder, ds, extract):
        log(f"{name}: already present and verified in {folder}")
        return folder
    archives_missing = all(not (folder / f.path).exists() for f in ds.files if f.extract)
    if (
        not force
        and all(f.extract for f in ds.files)
        and archives_missing
        and not (folder / registry.MARKER).exists()
        and _images_present(root, name)
    ):
        log(f"{name}: using the images already unpacked by hand in {registry.image_dir(root, name)} (not verified)")
        return folder

    records = {}
    for f in ds.files:
        path, digests, source = _fetch(
            folder / f.path,
            f.urls,
            Expected(sha256=f.sha256, md5=f.md5, sha1=f.sha1, size=f.bytes),
            mirror_path,
            [mirror_relpath(ds.name, f.path)],
            progress,
            force,
            ds.manual or None,
            session,
            DEFAULT_RETRIES,
            DEFAULT_BACKOFF_S,
            sleep,
            DEFAULT_TIMEOUT_S,
        )
        records[f.path] = {"sha256": digests["sha256"], "bytes": path.stat().st_size, "source": source}
    log(f"{name}: {len(records)} file(s) verified in {folder}")

    extracted = False
    if extract:
        for f in ds.files:
            if f.extract:
                log(f"{name}: extracting {f.path}")
                extract_archive(folder / f.path, folder / registry.EXTRACT_DIR)
                extracted = True
    marker = {"dataset": ds.name, "files": records, "extracted": extracted}
    write_text_atomic(folder / registry.MARKER, json.dumps(marker, indent=1, sort_keys=True) + "\n")
    return folder


def _folder_set(ds: registry.Dataset, root: Path, mirror: Path | None, log: Callable[[str], None]) -> Path:
    """A manual set without a published file: accept a filled folder, or copy the mirror's."""
    folder = root / ds.name
    if _images_present(root, ds.name):
        log(
            f"{ds.name}: using the images in {registry.image_dir(root, ds.name)} (provided by hand; no checksums published)"
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
        f"dataset {ds.name!r} must be downloaded by hand: {ds.manual}. Expected layout in {folder}{mirror_hint}: {ds.layout}"
    )


__all__ = [
    "ChecksumError",
    "DownloadError",
    "Expected",
    "ManualDownloadRequired",
    "download_dataset",
    "fetch_file",
    "file_digests",
    "mirror_relpath",
]
