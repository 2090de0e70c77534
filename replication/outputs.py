"""Output safety: one check every writing command runs before it touches its output path.

Rules (a command never deletes or replaces what it did not create):

* an output that is an input, lies inside an input, or contains an input is always refused;
* an existing non-empty output folder is reused or replaced only when it holds our marker file
  naming the same command (so it is a previous output of that command), or with ``--overwrite``;
* an existing output file is replaced only with ``--overwrite`` (a file cannot carry a marker),
  unless the caller says it lies in a folder the command owns;
* a folder where a file is expected (and the reverse) is refused;
* ``--overwrite`` (the one rule, every command): it replaces only the names the command itself
  writes; it never deletes anything else in an existing folder (:func:`output_dir`);
* a flag that becomes part of a file name (``upscale --suffix``) is a plain name part: no path
  separator, no ``..``, and the final path must lie inside the output folder (:func:`name_part`).

DVC deletes a stage's outputs before it runs the command again, so the pipeline always starts from
a missing output and never needs ``--overwrite``. The marker holds only the command name, so it is
byte-identical between runs (it is part of DVC's directory hashes).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from collections.abc import Iterable, Iterator
from pathlib import Path

from replication.errors import UsageError, UserError

MARKER = ".replication-output"


def marker_text(command: str) -> str:
    return f"written by `replication {command}`; the command may replace this folder\n"


def write_marker(folder: str | os.PathLike, command: str) -> None:
    """Mark ``folder`` as an output of ``command`` (call it on the folder before publishing)."""
    (Path(folder) / MARKER).write_text(marker_text(command), encoding="utf-8")


def is_our_output(folder: Path, command: str) -> bool:
    try:
        return (folder / MARKER).read_text(encoding="utf-8") == marker_text(command)
    except (OSError, UnicodeDecodeError):
        return False


def _resolved(path: str | os.PathLike) -> Path:
    # resolve() follows symlinks, so a link to an input is caught as that input.
    return Path(os.path.abspath(Path(path).expanduser())).resolve()


def _relation(out: Path, inp: Path) -> str | None:
    if out == inp:
        return "is"
    if inp in out.parents:
        return "is inside"
    if out in inp.parents:
        return "contains"
    return None


def check_output(
    path: str | os.PathLike,
    *,
    command: str,
    flag: str,
    kind: str = "dir",
    inputs: Iterable[tuple[str, str | os.PathLike | None]] = (),
    overwrite: bool = False,
    names: Iterable[str] | None = None,
) -> Path:
    """Refuse an unsafe output path with a :class:`UsageError` naming ``flag`` and the path.

    ``kind`` is ``"dir"`` (a folder the command fills or replaces) or ``"file"``. ``inputs`` are
    ``(flag, path)`` pairs of what the command reads (None entries are skipped). ``names``: for a
    folder the command shares with other files (``report --out``), only these entries of it count
    as conflicts. Returns ``path``.
    """
    if kind not in ("dir", "file"):
        raise ValueError(f"kind must be 'dir' or 'file', got {kind!r}")
    path = Path(path)
    if str(path).strip() == "":
        raise UsageError(f"{flag}: empty path")
    out = _resolved(path)
    for in_flag, inp in inputs:
        if inp is None:
            continue
        relation = _relation(out, _resolved(inp))
        if relation:
            raise UsageError(
                f"{flag} {path} {relation} the input {in_flag} {inp}: refusing to write there "
                f"(it would destroy the input); choose another output path"
            )
    if out == Path(out.anchor) or out == Path.home().resolve():
        raise UsageError(f"{flag} {path}: refusing to write into the filesystem root or the home folder")
    _check_parent_writable(path, flag)
    if not (path.exists() or path.is_symlink()):
        return path
    hint = "choose another path, or pass --overwrite to replace it"
    if kind == "dir":
        if not path.is_dir():
            raise UsageError(f"{flag} {path}: exists and is not a folder; {hint}")
        if overwrite or is_our_output(path, command):
            return path
        taken = [n for n in names if (path / n).exists()] if names is not None else list(path.iterdir())
        if not taken:
            return path
        if names is not None:
            raise UsageError(
                f"{flag} {path}: {', '.join(map(str, taken))} already exist(s) there and the folder is not an "
                f"earlier output of `replication {command}` (no {MARKER} file); {hint}"
            )
        raise UsageError(
            f"{flag} {path}: folder exists, is not empty and is not an earlier output of `replication {command}` "
            f"(no {MARKER} file); {hint}"
        )
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a folder, expected a file path")
    if not overwrite:
        raise UsageError(f"{flag} {path}: file exists; {hint}")
    return path


def _check_parent_writable(path: Path, flag: str) -> None:
    """The nearest existing ancestor must be a writable folder (else the write fails half-way)."""
    probe = Path(os.path.abspath(path)).parent
    while not probe.exists():
        if probe.is_symlink():
            raise UsageError(f"{flag} {path}: {probe} is a broken link")
        probe = probe.parent
    if not probe.is_dir():
        raise UsageError(f"{flag} {path}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        # the environment, not the command line: exit status 1 like any failed write
        raise UserError(f"{flag} {path}: cannot write into {probe} (permission denied or read-only)")


def name_part(value: str, flag: str) -> str:
    """Check a flag value that becomes part of an output file name (a suffix, an extension).

    It must be a plain name fragment: no path separator, no ``..``, no NUL or control character, so
    the file it forms lies directly in the output folder. A :class:`UsageError` names the flag."""
    bad = None
    if "/" in value or os.sep in value or (os.altsep and os.altsep in value):
        bad = "contains a path separator"
    elif ".." in value:
        bad = "contains '..'"
    elif any(ord(c) < 32 or c == "\x7f" for c in value):
        bad = "contains a control character"
    if bad:
        raise UsageError(f"{flag} {value!r}: {bad}; it is part of a file name, not a path")
    return value


def inside(folder: str | os.PathLike, name: str, flag: str) -> Path:
    """``folder / name``, refused (naming ``flag``) unless it lies directly inside ``folder``."""
    path = Path(folder) / name
    if Path(name).name != name or name in ("", ".", "..") or _resolved(path).parent != _resolved(folder):
        raise UsageError(f"{flag}: the output name {name!r} would not lie inside {folder}")
    return path


@contextlib.contextmanager
def output_dir(path: str | os.PathLike, command: str, *, accumulate: bool = False) -> Iterator[Path]:
    """Build a folder output under a hidden ``.<name>.*.partial`` name and publish it by the one rule.

    Checked before with :func:`check_output`. A missing ``path`` is renamed into place. In an earlier
    output of ``command`` (marker), each top-level name the command writes is replaced as a whole
    (other entries stay), unless ``accumulate`` (``upscale``, ``evaluate --out-images``, ``report``:
    folders that collect results) where, as in a folder that is not ours (``--overwrite``), only the
    files written now replace files of the same name and nothing else is touched; the marker is not
    added to a folder that is not ours (an empty folder counts as ours).
    Ctrl-C, SIGTERM, a full disk or a failure leave no partial output under ``path`` (the partial
    folder is removed)."""
    from replication.fsutil import atomic_dir

    path = Path(path)
    empty = path.is_dir() and not any(path.iterdir())
    ours = is_our_output(path, command) or empty
    # Our own folder: each name we write (gt/, lq/, shards/, ...) is replaced whole, so nothing stale of
    # an earlier run survives, and anything else a user put there stays. A folder that is not ours
    # (--overwrite) or one that collects results: file by file. Symlinked folders are written through.
    whole_names = ours and not accumulate
    with atomic_dir(path, mode="names" if whole_names else "files", keep=() if ours else (MARKER,)) as tmp:
        write_marker(tmp, command)
        yield tmp


def check_evaluate_outputs(args) -> None:
    """``replication evaluate``: the SR folder, the metrics CSV and its ``.meta.json``."""
    inputs = [("--input", args.input), ("--reference", args.reference), ("--model", args.model)]
    inputs = [(f, p) for f, p in inputs if p is not None and str(p) != "bicubic"]
    common = {"command": "evaluate", "inputs": inputs, "overwrite": args.overwrite}
    check_output(args.out_images, flag="--out-images", kind="dir", **common)
    meta = Path(args.out_metrics).with_name(Path(args.out_metrics).stem + ".meta.json")
    for path in (args.out_metrics, meta):
        check_output(path, flag="--out-metrics", kind="file", **common)
    for path in (args.out_metrics, meta):
        inside = _resolved(args.out_images) in _resolved(path).parents
        if inside:
            raise UsageError(f"--out-metrics {args.out_metrics} lies inside --out-images {args.out_images}")


REPORT_FILES = (
    "report.md",
    "report.html",
    "summary.csv",
    "metrics.json",
    "headline.json",
    "curves.tsv",
    "claims.csv",
    "tidy.csv.gz",
    "static",
)


def check_report_output(args) -> None:
    """``replication report --out``: a folder shared with other files; only the report's own names count."""
    inputs = [("--results", args.results), ("--runs", args.runs), ("--test-root", args.test_root)]
    inputs += [("--val-lq", args.val_lq), ("--params", args.params), ("--claims", args.claims)]
    inputs += [("--previews", p) for p in args.previews]
    check_output(
        args.out,
        command="report",
        flag="--out",
        kind="dir",
        inputs=inputs,
        overwrite=args.overwrite,
        names=REPORT_FILES,
    )


@contextlib.contextmanager
def filled_in_place(path: str | os.PathLike, command: str) -> Iterator[Path]:
    """A folder that sub-steps fill in place, each publishing its own part atomically (``evaluate-all``:
    one evaluation per set). Created and marked here; if the run fails or is interrupted and the folder
    did not exist before, it is removed again, so no partial output stays under its name. A folder that
    is not ours (``--overwrite``) is not marked."""
    path = Path(path)
    created = not (path.exists() or path.is_symlink())
    path.mkdir(parents=True, exist_ok=True)
    if created or is_our_output(path, command) or not any(path.iterdir()):
        write_marker(path, command)
    try:
        yield path
    except BaseException:
        if created:
            shutil.rmtree(path, ignore_errors=True)
        raise


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt, so cleanup runs as for Ctrl-C."""

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signal handling alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
