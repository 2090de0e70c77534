"""Bad inputs and faults, tried as a new user would: every case ends in a clear message (no traceback),
the documented exit status (2 usage error, 1 runtime failure, 130 interrupted) and no lost file.

Each CLI case snapshots every file of its workspace first and checks afterwards that all of them
are still there, byte for byte (new files may appear; none may change or vanish).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import mirror_dir

from replication.archs.checkpoint import save_model
from replication.archs.registry import build_arch
from replication.cli import main
from replication.errors import UserError
from replication.imageio import ImageReadError, read_image

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params.yaml"

pytestmark = pytest.mark.usefixtures("one_thread")


# --------------------------------------------------------------------------- helpers


def cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """Run the CLI in-process; returns (exit status, stdout, stderr) and checks for tracebacks."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse: --help, --version, usage errors
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err, out + err
    return code, out, err


def snapshot(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def assert_kept(before: dict[Path, bytes]) -> None:
    lost = [str(p) for p, data in before.items() if not p.is_file() or p.read_bytes() != data]
    assert not lost, f"files lost or changed: {lost}"


def _png(path: Path, h: int, w: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(max(h // 8, 1), max(w // 8, 1), 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR))
    return path


BAD_IMAGES = {
    "empty": lambda: b"",
    "truncated": lambda: cv2.imencode(".png", np.full((64, 64, 3), 7, np.uint8))[1].tobytes()[:60],
    "text": lambda: b"this is not an image\n",
}


@pytest.fixture()
def ws(tmp_path) -> Path:
    """A user's workspace: photos, GT images, an unrelated folder and file, a tiny model."""
    for i, name in enumerate(("a.png", "b.png")):
        _png(tmp_path / "photos" / name, 200, 200, i)
    for i in range(3):
        _png(tmp_path / "gt" / f"{i}.png", 150, 150, 10 + i)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("my notes\n")
    _png(tmp_path / "mine" / "keep.png", 20, 20, 99)
    (tmp_path / "file.txt").write_text("a file\n")
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "readme.txt").write_text("raw data\n")
    net = build_arch("srvgg", num_feat=4, num_conv=1, scale=2)
    save_model(tmp_path / "models" / "tiny.safetensors", net, source="test", source_sha256=None, fp16_rounded=False)
    return tmp_path


def fmt(argv: list[str], ws: Path) -> list[str]:
    return [a.format(ws=ws, params=PARAMS) for a in argv]


# --------------------------------------------------------------------------- 1. output safety

SYN = ["synthesize", "--params", "{params}", "--gt-dir", "{ws}/gt", "--count", "2"]
UPS = ["upscale", "--model", "{ws}/models/tiny.safetensors"]
MET = ["metrics", "--params", "{ws}/none.yaml", "--metrics", "niqe"]
EVAL = ["evaluate", "--params", "{params}", "--model", "bicubic", "--source", "bicubic", "--name", "b"]
EVAL += ["--dataset", "d", "--metrics", "niqe"]

REFUSED_OUTPUTS = {
    # synthesize --out-dir / prepare --out replaced whatever was there
    "synthesize-unrelated-folder": ([*SYN, "--out-dir", "{ws}/mine"], "{ws}/mine"),
    "synthesize-a-file": ([*SYN, "--out-dir", "{ws}/file.txt"], "file.txt"),
    "synthesize-gt-folder-itself": ([*SYN, "--out-dir", "{ws}/gt"], "--gt-dir"),
    "synthesize-parent-of-gt": ([*SYN, "--out-dir", "{ws}"], "--gt-dir"),
    "synthesize-inside-gt": ([*SYN, "--out-dir", "{ws}/gt/pairs"], "--gt-dir"),
    "synthesize-a-gt-image": ([*SYN, "--out-dir", "{ws}/gt/0.png"], "--gt-dir"),
    "synthesize-preview-onto-a-gt-image": ([*SYN, "--preview", "{ws}/gt/0.png"], "--gt-dir"),
    "synthesize-preview-existing-file": ([*SYN, "--preview", "{ws}/mine/keep.png"], "keep.png"),
    "prepare-unrelated-folder": (["prepare", "--raw", "{ws}/raw", "--out", "{ws}/mine"], "{ws}/mine"),
    "prepare-a-file": (["prepare", "--raw", "{ws}/raw", "--out", "{ws}/file.txt"], "file.txt"),
    "prepare-raw-itself": (["prepare", "--raw", "{ws}/raw", "--out", "{ws}/raw"], "--raw"),
    "prepare-parent-of-raw": (["prepare", "--raw", "{ws}/raw", "--out", "{ws}"], "--raw"),
    # upscale --input photos --output photos overwrote the inputs
    "upscale-folder-onto-itself": ([*UPS, "--input", "{ws}/photos", "--output", "{ws}/photos"], "--input"),
    "upscale-file-onto-itself": ([*UPS, "--input", "{ws}/photos/a.png", "--output", "{ws}/photos/a.png"], "--input"),
    "upscale-folder-into-itself": ([*UPS, "--input", "{ws}/photos", "--output", "{ws}/photos/x4"], "--input"),
    "upscale-foreign-folder": ([*UPS, "--input", "{ws}/photos", "--output", "{ws}/mine"], "{ws}/mine"),
    "upscale-existing-file": ([*UPS, "--input", "{ws}/photos/a.png", "--output", "{ws}/mine/keep.png"], "keep.png"),
    "upscale-output-is-a-folder-for-a-folder-input": (
        [*UPS, "--input", "{ws}/photos", "--output", "{ws}/file.txt"],
        "file.txt",
    ),
    "metrics-csv-onto-an-input-image": ([*MET, "--input", "{ws}/photos", "--output", "{ws}/photos/a.png"], "--input"),
    "metrics-csv-onto-the-input-folder": ([*MET, "--input", "{ws}/photos", "--output", "{ws}/photos"], "--input"),
    "metrics-existing-file": ([*MET, "--input", "{ws}/photos", "--output", "{ws}/file.txt"], "file.txt"),
    "evaluate-images-onto-input": (
        [*EVAL, "--input", "{ws}/photos", "--out-images", "{ws}/photos", "--out-metrics", "{ws}/m.csv"],
        "--input",
    ),
    "evaluate-foreign-image-folder": (
        [*EVAL, "--input", "{ws}/photos", "--out-images", "{ws}/mine", "--out-metrics", "{ws}/m.csv"],
        "{ws}/mine",
    ),
    "evaluate-existing-csv": (
        [*EVAL, "--input", "{ws}/photos", "--out-images", "{ws}/sr", "--out-metrics", "{ws}/file.txt"],
        "file.txt",
    ),
    "report-foreign-report-md": (
        ["report", "--params", "{params}", "--results", "{ws}/raw", "--out", "{ws}/mine2"],
        "report.md",
    ),
    "report-foreign-claims-csv": (
        ["report", "--params", "{params}", "--results", "{ws}/raw", "--out", "{ws}/mine3"],
        "claims.csv",
    ),
    "report-out-contains-results": (
        ["report", "--params", "{params}", "--results", "{ws}/raw", "--out", "{ws}"],
        "--results",
    ),
    "weights-import-onto-its-input": (
        [
            *("weights", "import-pth", "--pth", "{ws}/models/tiny.safetensors"),
            *("--arch", "srvgg", "--out", "{ws}/models/tiny.safetensors"),
        ],
        "--pth",
    ),
    "weights-existing-file": (
        ["weights", "import-pth", "--pth", "{ws}/file.txt", "--arch", "srvgg", "--out", "{ws}/models/tiny.safetensors"],
        "tiny.safetensors",
    ),
    "train-run-folder-inside-the-data": (
        [
            *("train", "--params", "{params}", "--variant", "full", "--phase", "net"),
            *("--data", "{ws}/raw", "--out", "{ws}/raw/run"),
        ],
        "--data",
    ),
    "download-root-inside-the-mirror": (
        ["download", "realsrset", "--root", "{ws}/raw/datasets", "--mirror", "{ws}/raw"],
        "--mirror",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED_OUTPUTS))
def test_unsafe_output_is_refused_and_nothing_is_lost(case, ws, capsys):
    argv, mention = REFUSED_OUTPUTS[case]
    if case == "report-foreign-report-md":
        (ws / "mine2").mkdir()
        (ws / "mine2" / "report.md").write_text("my own report\n")
    if case == "report-foreign-claims-csv":
        (ws / "mine3").mkdir()
        (ws / "mine3" / "claims.csv").write_text("my own table\n")
    before = snapshot(ws)
    code, _, err = cli(fmt(argv, ws), capsys)
    assert code == 2, err
    assert mention.format(ws=ws) in err, err
    assert_kept(before)


def test_overwrite_is_explicit_consent_and_inputs_stay_protected(ws, capsys):
    argv = fmt([*UPS, "--input", "{ws}/photos/a.png", "--output", "{ws}/mine/keep.png", "--overwrite"], ws)
    assert cli(argv, capsys)[0] == 0
    assert read_image(ws / "mine" / "keep.png").size == (400, 400)
    before = snapshot(ws)
    argv = fmt([*UPS, "--input", "{ws}/photos", "--output", "{ws}/photos", "--overwrite"], ws)
    code, _, err = cli(argv, capsys)
    assert code == 2 and "--input" in err
    assert_kept(before)


def test_rerun_into_our_own_output_is_allowed(ws, capsys):
    out = ws / "pairs"
    argv = fmt([*SYN, "--out-dir", str(out), "--gt-size", "32"], ws)
    assert cli(argv, capsys)[0] == 0
    assert (out / ".replication-output").is_file()
    assert cli(argv, capsys)[0] == 0  # a previous output of the same command: replaced
    # ...but not an output of another command
    code, _, err = cli(fmt([*UPS, "--input", "{ws}/photos", "--output", str(out)], ws), capsys)
    assert code == 2 and "replication upscale" in err


def test_weights_fetch_can_redo_its_own_output(tmp_path, capsys, monkeypatch):
    mirror = mirror_dir()
    if not (mirror / "weights" / "ncnn").is_dir():
        pytest.skip("offline mirror with weights not available")
    monkeypatch.setenv("REPLICATION_MIRROR", str(mirror))
    out = tmp_path / "m" / "realesr_animevideov3.safetensors"
    argv = ["weights", "fetch", "realesr_animevideov3", "--out", out, "--params", tmp_path / "none.yaml", "-q"]
    assert cli(argv, capsys)[0] == 0
    assert cli(argv, capsys)[0] == 0  # its own earlier output (the sidecar names the registry entry)
    other = ["weights", "fetch", "realesrgan_x4plus", "--out", out, "--params", tmp_path / "none.yaml", "-q"]
    before = snapshot(tmp_path)
    code, _, err = cli(other, capsys)
    assert code == 2 and "file exists" in err
    assert_kept(before)


def test_out_dir_dot_is_refused(ws, capsys, monkeypatch):
    monkeypatch.chdir(ws)
    before = snapshot(ws)
    code, _, err = cli(fmt([*SYN, "--gt-dir", "gt", "--out-dir", "."], ws), capsys)
    assert code == 2 and "--out-dir ." in err
    assert_kept(before)


def test_output_under_a_file_is_a_clear_error(ws, capsys):
    before = snapshot(ws)
    code, _, err = cli(fmt([*UPS, "--input", "{ws}/photos/a.png", "--output", "{ws}/file.txt/x.png"], ws), capsys)
    assert code == 2 and "file.txt" in err and "not a folder" in err
    assert_kept(before)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output_folder_is_a_clear_error(ws, capsys):
    locked = ws / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, _, err = cli(fmt([*UPS, "--input", "{ws}/photos/a.png", "--output", str(locked / "x.png")], ws), capsys)
    finally:
        locked.chmod(0o700)
    assert code == 2 and "permission denied" in err


def test_stale_partial_folder_of_the_same_output_is_removed(ws, capsys):
    stale = ws / ".pairs.abc123.partial"
    (stale / "gt").mkdir(parents=True)
    (stale / "gt" / "000000.png").write_bytes(b"half")
    unrelated = ws / ".other.abc.partial"
    unrelated.mkdir()
    assert cli(fmt([*SYN, "--out-dir", "{ws}/pairs", "--gt-size", "32"], ws), capsys)[0] == 0
    assert not stale.exists() and unrelated.is_dir()


def test_full_disk_is_a_clear_error_and_keeps_the_previous_output(ws, capsys, monkeypatch):
    import contextlib
    import errno

    import replication.imageio as imageio

    argv = fmt([*SYN, "--out-dir", "{ws}/pairs", "--gt-size", "32"], ws)
    assert cli(argv, capsys)[0] == 0
    before = snapshot(ws)

    @contextlib.contextmanager
    def full(path, suffix=None):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))
        yield

    monkeypatch.setattr(imageio, "atomic_path", full)
    code, _, err = cli(argv, capsys)
    assert code == 1 and "No space left on device" in err and "000000.png" in err
    assert_kept(before)
    assert not list(ws.glob(".pairs.*.partial"))


def test_sigterm_is_handled_like_ctrl_c(ws):
    for i in range(3, 12):
        _png(ws / "gt" / f"{i}.png", 150, 150, i)
    out = ws / "pairs"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "replication", "synthesize", "--params", str(PARAMS), "--gt-dir", str(ws / "gt")]
    cmd += ["--out-dir", str(out), "--count", "5000", "--gt-size", "32", "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not any(ws.glob(".pairs.*.partial/gt/*.png")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not out.exists() and not list(ws.glob(".pairs.*"))


# --------------------------------------------------------------------------- 2. silently wrong results


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_download_fast_path_catches_changed_bytes_of_the_same_size(tmp_path, capsys):
    source = mirror_dir() / "datasets" / "realsrset"
    if not source.is_dir():
        pytest.skip("offline mirror not available")
    mirror = tmp_path / "mirror"
    shutil.copytree(source, mirror / "datasets" / "realsrset")
    root = tmp_path / "raw"
    argv = ["download", "realsrset", "--root", root, "--mirror", mirror, "--no-progress"]
    assert cli(argv, capsys)[0] == 0
    victim = root / "realsrset" / "dog.png"
    good = victim.read_bytes()
    changed = bytearray(good)
    changed[100] ^= 0xFF
    victim.write_bytes(bytes(changed))  # same size, different bytes
    os.utime(victim, ns=(victim.stat().st_atime_ns, victim.stat().st_mtime_ns))
    before = snapshot(tmp_path)
    code, _, err = cli(argv, capsys)
    assert code == 0
    assert "already present" not in err and "dog.png does not match" in err
    assert victim.read_bytes() == good
    # the changed bytes were moved aside, not deleted
    kept = [p for p in victim.parent.iterdir() if p.name.startswith("dog.png.bad-")]
    assert len(kept) == 1 and kept[0].read_bytes() == bytes(changed)
    before.pop(victim)
    before.pop(root / "realsrset" / ".complete.json")  # the command's own record, rewritten
    assert_kept(before)
    code, _, err = cli(argv, capsys)
    assert code == 0 and "already present and verified" in err


def test_two_fetches_of_one_file_take_turns(tmp_path):
    from replication.fetcher import fetch_file, file_lock

    data = os.urandom(4096)
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "x.bin").write_bytes(data)
    dest = tmp_path / "out" / "x.bin"
    done = threading.Event()

    def fetch():
        fetch_file(dest, [], sha256=_sha(data), mirror=tmp_path / "mirror", mirror_relpaths=["x.bin"], progress=False)
        done.set()

    with file_lock(dest, "x.bin"):
        worker = threading.Thread(target=fetch)
        worker.start()
        time.sleep(0.5)
        assert not done.is_set() and not dest.exists()  # waits for the holder
    worker.join(timeout=30)
    assert done.is_set() and dest.read_bytes() == data
    assert not (dest.parent / ".x.bin.lock").exists()


DUPLICATE_PARAMS = {
    "top-level": "profile: smoke\nprofile: paper\n",
    "nested": "a:\n  b: 1\n  c: 2\n  b: 3\n",
}


@pytest.mark.parametrize("case", sorted(DUPLICATE_PARAMS))
def test_duplicate_yaml_key_names_key_and_both_lines(case, tmp_path, capsys):
    path = tmp_path / "params.yaml"
    path.write_text(DUPLICATE_PARAMS[case])
    before = snapshot(tmp_path)
    code, _, err = cli(["params", "--params", path], capsys)
    assert code == 1
    key, lines = ("profile", "1 and 2") if case == "top-level" else ("b", "2 and 4")
    assert f"duplicate key {key!r} at lines {lines}" in err and str(path) in err
    assert_kept(before)


PARAMS_PROBLEMS = {
    "binary": lambda p: p.write_bytes(bytes(range(200, 256)) * 4),
    "a-folder": lambda p: p.mkdir(),
    "missing": lambda p: None,
    "not-a-mapping": lambda p: p.write_text("- a\n- b\n"),
    "bad-yaml": lambda p: p.write_text("a: [1, 2\n"),
}


@pytest.mark.parametrize("case", sorted(PARAMS_PROBLEMS))
def test_unusable_params_file_is_a_clear_error(case, tmp_path, capsys):
    path = tmp_path / "params.yaml"
    PARAMS_PROBLEMS[case](path)
    before = snapshot(tmp_path)
    code, _, err = cli(["params", "--params", path], capsys)
    assert code == 1 and str(path) in err
    assert_kept(before)


def test_duplicate_key_in_the_real_params_file_is_caught(tmp_path, capsys):
    text = PARAMS.read_text()
    path = tmp_path / "params.yaml"
    path.write_text(text.replace("profile: smoke\n", "profile: smoke\nprofile: mini\n", 1))
    code, _, err = cli(["params", "--params", path], capsys)
    assert code == 1 and "duplicate key 'profile'" in err


def test_requested_metric_that_is_unavailable_fails(ws, capsys, monkeypatch):
    monkeypatch.setenv("REPLICATION_MIRROR", str(ws / "no-mirror"))
    monkeypatch.setenv("TORCH_HOME", str(ws / "torch"))
    code, out, err = cli(
        fmt([*MET, "--metrics", "niqe,musiq", "--input", "{ws}/photos", "--output", "{ws}/s.csv"], ws), capsys
    )
    assert code == 1
    assert "musiq: unavailable: needs" in out and "unavailable: musiq" in err
    rows = list(csv.DictReader((ws / "s.csv").open()))  # tidy rows: one per (image, metric)
    assert rows and {r["metric"] for r in rows} == {"niqe"}


# --------------------------------------------------------------------------- 3. unreadable images


@pytest.mark.parametrize("kind", sorted(BAD_IMAGES))
def test_unreadable_image_is_a_user_error_naming_the_file(kind, tmp_path):
    path = tmp_path / f"bad-{kind}.png"
    path.write_bytes(BAD_IMAGES[kind]())
    with pytest.raises(ImageReadError, match=f"bad-{kind}.png"):
        read_image(path)
    assert issubclass(ImageReadError, UserError)
    with pytest.raises(UserError, match=r"missing\.png"):
        read_image(tmp_path / "missing.png")


def _folder_run(command: str, ws: Path) -> tuple[list[str], callable]:
    """argv of a folder command over ws/photos and a check that the good images were done."""
    if command == "upscale":
        argv = [*UPS, "--input", "{ws}/photos", "--output", "{ws}/out"]
        return argv, lambda: sorted(p.name for p in (ws / "out").glob("*.png")) == ["a.png", "b.png"]
    if command == "metrics":
        argv = [*MET, "--input", "{ws}/photos", "--output", "{ws}/s.csv"]
        return (
            argv,
            lambda: sorted({r["image"] for r in csv.DictReader((ws / "s.csv").open())}) == ["a.png", "b.png"],
        )
    if command == "evaluate":
        argv = [*EVAL, "--input", "{ws}/photos", "--out-images", "{ws}/sr", "--out-metrics", "{ws}/m.csv"]
        return argv, lambda: sorted(p.name for p in (ws / "sr").glob("*.png")) == ["a.png", "b.png"]
    argv = [*SYN, "--gt-dir", "{ws}/photos", "--out-dir", "{ws}/pairs", "--count", "4", "--gt-size", "32"]
    return argv, lambda: len(list((ws / "pairs" / "lq").glob("*.png"))) == 4


@pytest.mark.parametrize("kind", sorted(BAD_IMAGES))
@pytest.mark.parametrize("command", ["upscale", "metrics", "evaluate", "synthesize"])
def test_folder_run_reports_a_bad_image_and_finishes_the_others(command, kind, ws, capsys, monkeypatch):
    monkeypatch.setenv("REPLICATION_MIRROR", str(ws / "no-mirror"))
    bad = ws / "photos" / "c-broken.png"
    bad.write_bytes(BAD_IMAGES[kind]())
    argv, good_done = _folder_run(command, ws)
    before = snapshot(ws)
    code, _, err = cli(fmt(argv, ws), capsys)
    assert code == 1, err
    assert str(bad) in err and ("failed" in err or "could not" in err)
    assert good_done()
    assert_kept(before)


def test_empty_input_folder_is_a_clear_error(ws, capsys):
    (ws / "empty").mkdir()
    for argv in (
        [*UPS, "--input", "{ws}/empty", "--output", "{ws}/o"],
        [*MET, "--input", "{ws}/empty", "--output", "{ws}/o.csv"],
        [*SYN, "--gt-dir", "{ws}/empty", "--out-dir", "{ws}/o"],
        [*SYN, "--gt-dir", "{ws}/nowhere", "--out-dir", "{ws}/o"],
    ):
        code, _, err = cli(fmt(argv, ws), capsys)
        assert code == 1 and ("empty" in err or "nowhere" in err), err


# --------------------------------------------------------------------------- 4. numbers, flags, files up front

USAGE_ERRORS = {
    "gt-size-0": ([*SYN, "--out-dir", "{ws}/o", "--gt-size", "0"], "--gt-size"),
    "gt-size-negative": ([*SYN, "--out-dir", "{ws}/o", "--gt-size", "-8"], "--gt-size"),
    "gt-size-not-a-number": ([*SYN, "--out-dir", "{ws}/o", "--gt-size", "big"], "--gt-size"),
    "count-0": ([*SYN, "--out-dir", "{ws}/o", "--count", "0"], "--count"),
    "batch-size-0": ([*SYN, "--out-dir", "{ws}/o", "--batch-size", "0"], "--batch-size"),
    "scale-0": ([*SYN, "--out-dir", "{ws}/o", "--scale", "0"], "--scale"),
    "scale-3-indivisible-gt": ([*SYN, "--out-dir", "{ws}/o", "--scale", "3", "--gt-size", "64"], "--scale 3"),
    "scale-3-indivisible-default-gt": ([*SYN, "--out-dir", "{ws}/o", "--scale", "3"], "train_gan.gt_size"),
    "synthesize-unknown-device": ([*SYN, "--out-dir", "{ws}/o", "--device", "gpu7"], "--device"),
    "synthesize-unknown-variant": ([*SYN, "--out-dir", "{ws}/o", "--variant", "third_order"], "--variant"),
    "upscale-unknown-device": ([*UPS, "--input", "{ws}/photos", "--output", "{ws}/o", "--device", "tpu"], "--device"),
    "upscale-negative-tile": ([*UPS, "--input", "{ws}/photos", "--output", "{ws}/o", "--tile", "-1"], "--tile"),
    "upscale-outscale-0": ([*UPS, "--input", "{ws}/photos", "--output", "{ws}/o", "--outscale", "0"], "--outscale"),
    "upscale-outscale-nan": ([*UPS, "--input", "{ws}/photos", "--output", "{ws}/o", "--outscale", "nan"], "--outscale"),
    "upscale-unknown-extension": ([*UPS, "--input", "{ws}/photos/a.png", "--output", "{ws}/o.xyz"], "--output"),
    "upscale-no-extension": ([*UPS, "--input", "{ws}/photos/a.png", "--output", "{ws}/o"], "--output"),
    "metrics-negative-crop": (
        [*MET, "--input", "{ws}/photos", "--output", "{ws}/o.csv", "--crop-border", "-1"],
        "--crop-border",
    ),
    "metrics-negative-max-images": (
        [*MET, "--input", "{ws}/photos", "--output", "{ws}/o.csv", "--max-images", "-3"],
        "--max-images",
    ),
    "prepare-workers-0": (["prepare", "--raw", "{ws}/raw", "--out", "{ws}/o", "--workers", "0"], "--workers"),
    "weights-scale-0": (
        [
            "weights",
            "import-pth",
            "--pth",
            "{ws}/x.pth",
            "--arch",
            "srvgg",
            "--scale",
            "0",
            "--out",
            "{ws}/o.safetensors",
        ],
        "--scale",
    ),
    "unknown-flag": ([*MET, "--input", "{ws}/photos", "--output", "{ws}/o.csv", "--inptu", "x"], "--inptu"),
}


@pytest.mark.parametrize("case", sorted(USAGE_ERRORS))
def test_bad_number_or_flag_is_a_usage_error_naming_the_flag(case, ws, capsys):
    argv, flag = USAGE_ERRORS[case]
    before = snapshot(ws)
    code, _, err = cli(fmt(argv, ws), capsys)
    assert code == 2, err
    assert flag in err, err
    assert_kept(before)
    assert not (ws / "o").exists()


def _strip_embedded(model: Path) -> Path:
    from safetensors.torch import load_file, save_file

    bare = model.with_name("bare.safetensors")
    save_file(load_file(str(model)), str(bare))
    return bare


SIDECARS = {
    "broken-json": "{not json",
    "incomplete": '{"arch": "srvgg"}',
    "not-an-object": "[1, 2]",
    "empty": "",
}


@pytest.mark.parametrize("case", sorted(SIDECARS))
def test_broken_sidecar_falls_back_to_embedded_metadata(case, ws, capsys):
    model = ws / "models" / "tiny.safetensors"
    model.with_suffix(".json").write_text(SIDECARS[case])
    code, _, err = cli(fmt([*UPS, "--input", "{ws}/photos/a.png", "--output", "{ws}/o.png"], ws), capsys)
    assert code == 0 and "tiny.json" in err and "embedded" in err
    # without embedded metadata the broken sidecar is a clear error naming it
    bare = _strip_embedded(model)
    bare.with_suffix(".json").write_text(SIDECARS[case])
    code, _, err = cli(
        fmt(["upscale", "--model", str(bare), "--input", "{ws}/photos/a.png", "--output", "{ws}/p.png"], ws), capsys
    )
    assert code == 1 and "bare.json" in err


def test_missing_model_and_corrupt_model_are_clear_errors(ws, capsys):
    code, _, err = cli(
        fmt(["upscale", "--model", "{ws}/nope.safetensors", "--input", "{ws}/photos", "--output", "{ws}/o"], ws), capsys
    )
    assert code == 1 and "nope.safetensors" in err
    (ws / "junk.safetensors").write_bytes(b"\x00" * 64)
    code, _, err = cli(
        fmt(["upscale", "--model", "{ws}/junk.safetensors", "--input", "{ws}/photos", "--output", "{ws}/o"], ws), capsys
    )
    assert code == 1 and "junk.safetensors" in err


def test_mismatched_ncnn_pair_is_named_as_such(tmp_path, capsys):
    folder = mirror_dir() / "weights" / "ncnn" / "realesrgan"
    if not folder.is_dir():
        pytest.skip("offline mirror with ncnn weights not available")
    argv = ["weights", "import-ncnn", "--param", folder / "realesrgan-x4plus.param"]
    argv += ["--bin", folder / "realesrgan-x4plus-anime.bin", "--arch", "rrdbnet", "--out", tmp_path / "x.safetensors"]
    code, _, err = cli(argv, capsys)
    assert code == 1
    assert "does not match realesrgan-x4plus.param" in err and "codebook" not in err
    assert not (tmp_path / "x.safetensors").exists()


def test_missing_params_file_says_what_to_do(ws, capsys):
    code, _, err = cli(fmt([*SYN, "--params", "{ws}/nope.yaml", "--out-dir", "{ws}/o"], ws), capsys)
    assert code == 1 and "nope.yaml" in err and "--params" in err


# --------------------------------------------------------------------------- 5. standalone tools


def test_synthesize_with_explicit_flags_works_under_the_default_profile(ws, capsys):
    _png(ws / "hr" / "x.png", 300, 320, 5)
    argv = ["synthesize", "--params", PARAMS, "--gt-dir", ws / "hr", "--out-dir", ws / "P", "--count", "1"]
    argv += ["--seed", "1", "--variant", "second_order", "--scale", "4", "--gt-size", "256"]
    code, _, err = cli(argv, capsys)
    assert code == 0, err
    assert "paper's crop" in err
    assert read_image(ws / "P" / "gt" / "000000.png").size == (256, 256)
    assert read_image(ws / "P" / "lq" / "000000.png").size == (64, 64)
    meta = json.loads((ws / "P" / "synthesis.json").read_text())
    assert meta["gt_size"] == 256 and meta["gt_crop"] == 400


def test_metrics_runs_outside_the_project_with_packaged_niqe(ws):
    from replication.evaluate.niqe import load_pristine_model, niqe

    work = ws / "elsewhere"
    work.mkdir()
    _png(work / "imgs" / "x.png", 256, 256, 3)
    env = {k: v for k, v in os.environ.items() if k != "REPLICATION_MIRROR"}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "replication", "metrics", "--input", "imgs", "--output", "s.csv", "--metrics", "niqe"]
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (row,) = list(csv.DictReader((work / "s.csv").open()))  # tidy: one row per (image, metric)
    assert row["image"] == "x.png" and row["metric"] == "niqe"
    value = float(row["value"])
    assert math.isfinite(value)
    official = mirror_dir() / "metrics" / "niqe_modelparameters.mat"
    if official.is_file():  # the packaged numbers are the LIVE release's: same score
        expected = niqe(read_image(work / "imgs" / "x.png").rgb, load_pristine_model(official))
        assert value == expected


def test_packaged_niqe_parameters_are_small_and_have_a_licence_note():
    from replication.evaluate.niqe import PACKAGED_PARAMS

    assert PACKAGED_PARAMS.stat().st_size < 16_000
    assert "LIVE" in (PACKAGED_PARAMS.parent / "NIQE_PARAMS_NOTICE.txt").read_text()
    assert '"data/*.npz"' in (ROOT / "pyproject.toml").read_text()


# --------------------------------------------------------------------------- 6. CLI conventions


def test_version_and_exit_statuses(capsys):
    from replication import __version__

    code, out, _ = cli(["--version"], capsys)
    assert code == 0 and __version__ in out
    code, _, err = cli(["params", "--no-such-flag"], capsys)
    assert code == 2 and "--no-such-flag" in err
    code, _, err = cli(["params", "--params", "/nonexistent/params.yaml"], capsys)
    assert code == 1 and "/nonexistent/params.yaml" in err


def test_one_progress_switch_and_log_levels(ws, capsys):
    argv = fmt([*SYN, "--out-dir", "{ws}/pairs", "--gt-size", "256"], ws)
    for flag in ("--quiet", "--no-progress", "-q"):
        code, _, err = cli([*argv, flag], capsys)
        assert code == 0 and "pair/s" not in err
    code, _, err = cli([*argv, "--quiet"], capsys)
    assert "paper's crop" not in err  # info messages hidden
    code, _, err = cli([*argv, "--verbose", "--no-progress"], capsys)
    assert code == 0 and "paper's crop" in err
    # the old names keep working where dvc.yaml uses them
    for command in (
        ["prepare", "--help"],
        ["download", "--help"],
        ["upscale", "--help"],
        ["weights", "fetch", "--help"],
    ):
        code, out, _ = cli(command, capsys)
        assert code == 0 and "--no-progress" in out and "--quiet" in out


def test_check_metrics_json(ws, capsys, monkeypatch):
    monkeypatch.setenv("REPLICATION_MIRROR", str(ws / "no-mirror"))
    argv = fmt([*EVAL, "--input", "{ws}/photos", "--out-images", "{ws}/sr", "--out-metrics", "{ws}/m.csv"], ws)
    assert cli(argv, capsys)[0] == 0
    expected = ws / "expected.json"
    assert cli(["check-metrics", "--expected", expected, "--results", ws / "m.csv", "--write"], capsys)[0] == 0
    code, out, _ = cli(["check-metrics", "--expected", expected, "--results", ws / "m.csv", "--json"], capsys)
    report = json.loads(out)
    assert code == 0 and report["status"] == "ok" and report["rows"] == []
    data = json.loads(expected.read_text())
    data["entries"][0]["mean"] += 100.0
    expected.write_text(json.dumps(data))
    code, out, _ = cli(["check-metrics", "--expected", expected, "--results", ws / "m.csv", "--json"], capsys)
    report = json.loads(out)
    assert code == 1 and report["status"] == "failed" and report["rows"][0]["status"] != "ok"
