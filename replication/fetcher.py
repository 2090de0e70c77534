"""Verified, resumable, mirror-first download of one file (the dataset installer and the weights
registry both use it).

:func:`fetch_file` is the one primitive:

0. the whole operation holds an exclusive lock (``fcntl.flock`` on ``.<dest name>.lock`` beside
   ``dest``), so two processes fetching the same file do not write the same ``.part``;
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

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from replication.errors import UserError

CHUNK = 1 << 16
DEFAULT_RETRIES = 5  # attempts after the first one, per URL
DEFAULT_BACKOFF_S = 1.0  # first wait; doubles each retry (1, 2, 4, 8, 16 s)
DEFAULT_TIMEOUT_S = 60.0  # connect/read timeout of one request

log = logging.getLogger("replication.download")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one URL: ``retries`` attempts after the first (a attempt that made progress
    resets the count), waits of ``backoff_s`` doubling each time, ``timeout_s`` per request.
    ``sleep`` is injectable so tests do not wait."""

    retries: int = DEFAULT_RETRIES
    backoff_s: float = DEFAULT_BACKOFF_S
    timeout_s: float = DEFAULT_TIMEOUT_S
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def wait(self, failures: int) -> None:
        self.sleep(self.backoff_s * 2 ** (failures - 1))


@dataclass(frozen=True)
class Sources:
    """Where a file may come from: the offline mirror (paths inside it), then ``urls``.
    ``manual_hint`` says how to get it by hand when no source works."""

    urls: tuple[str, ...] = ()
    mirror: Path | None = None
    mirror_relpaths: tuple[str, ...] = ()
    manual_hint: str | None = None


class Fetched(NamedTuple):
    path: Path
    digests: dict[str, str]  # always includes sha256
    source: str  # 'present', 'mirror' or the URL


@contextlib.contextmanager
def file_lock(target: Path, what: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``.<target name>.lock`` beside ``target``.

    The lock file is removed on release. A waiter that wakes up on a removed (or replaced) lock
    file retries on the current one, so exactly one process holds the lock of a path at a time.
    """
    lock_path = target.with_name(f".{target.name}.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not waited:
                log.info(f"{what}: another process is fetching it; waiting for it to finish")
                waited = True
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            same = os.stat(lock_path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed this lock file while we waited: lock the current one
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock_path)
        os.close(fd)


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


def _body_plan(resp, have: int, expected: Expected) -> tuple[str, int, int | None] | None:
    """How to write a response body: (file mode, bytes already there, total size if known), or None
    when a 206 answers a range other than the one asked for (the caller restarts from zero)."""
    if resp.status_code == 206 and have:
        match = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
        if not match or int(match.group(1)) != have:
            return None
        total = None if match.group(3) == "*" else int(match.group(3))
        return "ab", have, expected.size if total is None else total
    # 200: the whole body (a server that ignores Range restarts the file).
    length = resp.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    return "wb", 0, expected.size if total is None else total


def _stream(session, url: str, part: Path, expected: Expected, progress: bool, policy: RetryPolicy) -> None:
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
            with session.get(url, headers=headers, stream=True, timeout=policy.timeout_s, allow_redirects=True) as resp:
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
                plan = _body_plan(resp, have, expected)
                if plan is None:
                    part.unlink()  # an unexpected range: restart from zero
                    continue
                mode, start, total = plan
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
            if failures > policy.retries:
                raise DownloadError(f"{url}: giving up after {failures} failed attempts (last: {exc})") from None
            policy.wait(failures)


def _how_to_provide(dest: Path, sources: Sources, expected: Expected) -> str:
    urls, mirror, relpaths = sources.urls, sources.mirror, sources.mirror_relpaths
    rel = relpaths[0] if relpaths else dest.name
    in_mirror = (
        f"the mirror at {mirror / rel}"
        if mirror is not None
        else f"an offline mirror at <mirror>/{rel} (mirror: params.yaml `mirror:`, $REPLICATION_MIRROR or --mirror DIR)"
    )
    if urls:
        return f"put it in {in_mirror}, or download {urls[0]} by hand to {dest} ({expected.describe()})"
    return f"save it as {dest} (or put it in {in_mirror}) and run the command again ({expected.describe()})"


def fetch_verified(
    dest: Path,
    sources: Sources,
    expected: Expected,
    *,
    policy: RetryPolicy = RetryPolicy(),
    progress: bool = True,
    force: bool = False,
    session=None,
) -> Fetched:
    """:func:`fetch_file`'s work, under the file's lock; also says which source was used."""
    dest = Path(dest)
    with file_lock(dest, dest.name):
        return _fetch_locked(dest, sources, expected, policy, progress, force, session)


def _fetch_locked(
    dest: Path, sources: Sources, expected: Expected, policy: RetryPolicy, progress: bool, force: bool, session
) -> Fetched:
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if dest.exists() and not force:
        problem, digests = _mismatch(dest, expected)
        if problem is None:
            return Fetched(dest, digests, "present")
        bad = _move_aside(dest, digests, dest)
        log.warning(f"warning: {dest} does not match ({problem}); moved to {bad.name} and fetching again")

    mirror = sources.mirror
    if mirror is not None and Path(mirror).is_dir():
        copied = _from_mirror(Path(mirror), dest, part, expected, sources.mirror_relpaths)
        if copied is not None:
            os.replace(part, dest)
            return Fetched(dest, copied, "mirror")

    if not sources.urls:
        hint = f"{sources.manual_hint}. " if sources.manual_hint else ""
        raise ManualDownloadRequired(
            f"{dest.name} must be downloaded by hand: {hint}Then " + _how_to_provide(dest, sources, expected)
        )

    if session is None:
        import requests

        session = requests.Session()
    errors = []
    for url in sources.urls:
        try:
            _stream(session, url, part, expected, progress, policy)
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
        return Fetched(dest, digests, url)
    hint = f" ({sources.manual_hint})" if sources.manual_hint else ""
    raise DownloadError(
        f"cannot download {dest.name}: {'; '.join(errors)}{hint}. To provide it offline, "
        + _how_to_provide(dest, sources, expected)
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
    ``backoff``, ``timeout`` and ``sleep`` make the :class:`RetryPolicy`. Raises :class:`ChecksumError`,
    :class:`DownloadError` or :class:`ManualDownloadRequired` (all :class:`UserError`).
    """
    sources = Sources(tuple(urls), Path(mirror) if mirror else None, tuple(mirror_relpaths), manual_hint)
    policy = RetryPolicy(retries=retries, backoff_s=backoff, timeout_s=timeout, sleep=sleep)
    expected = Expected(sha256=sha256, md5=md5, sha1=sha1, size=size)
    return fetch_verified(
        Path(dest), sources, expected, policy=policy, progress=progress, force=force, session=session
    ).path


__all__ = [
    "ChecksumError",
    "DownloadError",
    "Expected",
    "Fetched",
    "ManualDownloadRequired",
    "RetryPolicy",
    "Sources",
    "fetch_file",
    "fetch_verified",
    "file_digests",
    "file_lock",
]
