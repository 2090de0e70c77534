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
    assert code == 1 and "permission denied" in err


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
    assert code == 1 and "no space left on device" in err.lower() and "000000.png" in err and str(ws / "pairs") in err
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
        return argv, lambda: sorted(p.name for p in (ws / "out").glob("*.png")) == ["a_out.png", "b_out.png"]
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
    argv = fmt([*SYN, "--out-dir", "{ws}/pairs", "--gt-size", "256", "--pad-small"], ws)
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


# --------------------------------------------------------------------------- 7. issue 23: files, numbers, budgets
# Every case compares the whole workspace tree (names, bytes, symlink targets) before and after.


def tree(root: Path) -> dict[str, tuple]:
    """Every entry under ``root``: ('link', target) | ('dir',) | ('file', bytes), by relative path."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                out[rel] = ("dir",)
            else:
                out[rel] = ("file", path.read_bytes())
    return out


def assert_tree_kept(before: dict[str, tuple], root: Path, *, changed: tuple[str, ...] = ()) -> None:
    """Nothing of ``before`` vanished or changed (except the ``changed`` paths); new entries may appear."""
    after = tree(root)
    lost = [rel for rel, entry in before.items() if rel not in changed and after.get(rel) != entry]
    assert not lost, f"lost or changed: {lost}"


def assert_tree_same(before: dict[str, tuple], root: Path) -> None:
    """A refused command leaves the workspace exactly as it was: nothing lost, nothing added."""
    after = tree(root)
    assert after.keys() == before.keys(), sorted(set(after) ^ set(before))
    assert_tree_kept(before, root)


def _params_with(tmp_path: Path, old: str, new: str) -> Path:
    text = PARAMS.read_text()
    assert old in text
    path = tmp_path / "p.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize("suffix", ["/../../notes", "a/b", "..", "../x", "x/..", "_..", "\t"])
def test_file_name_flags_cannot_hold_paths(suffix, ws, capsys):
    (ws / "out").mkdir()
    (ws / "notes.png").write_bytes(b"user file")
    before = tree(ws)
    code, _, err = cli(fmt([*UPS, "--input", "{ws}/photos", "--output", "{ws}/out/x", "--suffix", suffix], ws), capsys)
    assert code == 2 and "--suffix" in err, err
    assert_tree_same(before, ws)


def test_name_guards_keep_paths_inside_the_output(tmp_path):
    from replication.errors import UsageError
    from replication.outputs import inside, name_part

    assert name_part("_x4", "--suffix") == "_x4"
    assert inside(tmp_path, "a_x4.png", "--suffix") == tmp_path / "a_x4.png"
    for bad in ("../a.png", "a/b.png", "..", ""):
        with pytest.raises(UsageError, match="--suffix"):
            inside(tmp_path, bad, "--suffix")


def _user_dir(ws: Path) -> Path:
    user = ws / "userdir"
    (user / "gt").mkdir(parents=True)
    (user / "notes.txt").write_text("mine\n")
    (user / "gt" / "holiday.png").write_bytes(b"my photo")
    (user / "sub").mkdir()
    (user / "sub" / "x.bin").write_bytes(b"\x00\x01")
    return user


OVERWRITE_RUNS = {
    "synthesize": [*SYN, "--out-dir", "{ws}/userdir", "--gt-size", "32"],
    "upscale": [*UPS, "--input", "{ws}/photos", "--output", "{ws}/userdir"],
    "evaluate": [*EVAL, "--input", "{ws}/photos", "--out-images", "{ws}/userdir", "--out-metrics", "{ws}/m.csv"],
}


@pytest.mark.parametrize("command", sorted(OVERWRITE_RUNS))
def test_overwrite_replaces_only_the_commands_own_names(command, ws, capsys, monkeypatch):
    monkeypatch.setenv("REPLICATION_MIRROR", str(ws / "no-mirror"))
    user = _user_dir(ws)
    (user / "a.png").write_bytes(b"an older a.png")  # a name upscale/evaluate write: replaced with consent
    before = tree(ws)
    code, _, err = cli(fmt(OVERWRITE_RUNS[command], ws), capsys)
    assert code == 2 and "--overwrite" in err  # without consent: refused, nothing touched
    assert_tree_same(before, ws)
    code, _, err = cli(fmt([*OVERWRITE_RUNS[command], "--overwrite"], ws), capsys)
    assert code == 0, err
    replaced = ("userdir/a.png",) if command != "synthesize" else ()
    assert_tree_kept(before, ws, changed=replaced)
    assert not (user / ".replication-output").exists()  # still not ours: the next run needs consent again
    assert not list(ws.glob(".userdir.*"))


def test_own_folder_is_replaced_whole_so_no_stale_pairs_remain(ws, capsys):
    argv = fmt([*SYN, "--out-dir", "{ws}/pairs", "--gt-size", "32"], ws)
    assert cli([*argv[:-6], "--count", "3", *argv[-4:]], capsys)[0] == 0
    assert len(list((ws / "pairs" / "lq").glob("*.png"))) == 3
    assert cli([*argv[:-6], "--count", "1", *argv[-4:]], capsys)[0] == 0
    assert sorted(p.name for p in (ws / "pairs" / "lq").iterdir()) == ["000000.png"]


def test_writing_through_a_symlinked_params_file_keeps_the_link(tmp_path, capsys):
    real = tmp_path / "real" / "params.yaml"
    real.parent.mkdir()
    real.write_text(PARAMS.read_text())
    link = tmp_path / "params.yaml"
    link.symlink_to(real)
    before = tree(tmp_path)
    code, _, err = cli(["params", "--params", link, "--switch", "study"], capsys)
    assert code == 0, err
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert "\nprofile: study" in "\n" + real.read_text()
    assert_tree_kept(before, tmp_path, changed=("real/params.yaml",))
    assert not [p for p in tmp_path.rglob("*") if ".tmp." in p.name]


def test_symlinked_output_file_is_written_through_and_broken_link_refused(ws, capsys):
    target = ws / "mine" / "keep.png"
    link = ws / "link.png"
    link.symlink_to(target)
    before = tree(ws)
    code, _, err = cli(fmt([*UPS, "--input", "{ws}/photos/a.png", "--output", str(link), "--overwrite"], ws), capsys)
    assert code == 0, err
    assert link.is_symlink() and read_image(target).size == (400, 400)
    assert_tree_kept(before, ws, changed=("mine/keep.png",))
    broken = ws / "broken.png"
    broken.symlink_to(ws / "nowhere" / "x.png")
    before = tree(ws)
    code, _, err = cli(fmt([*UPS, "--input", "{ws}/photos/a.png", "--output", str(broken), "--overwrite"], ws), capsys)
    assert code in (1, 2) and "broken.png" in err
    assert_tree_same(before, ws)


NON_FINITE_PARAMS = {
    "lr-nan": ("lr: 0.0002", "lr: .nan", "lr"),
    "lr-inf": ("lr: 0.0002", "lr: .inf", "lr"),
    "lr-minus-inf": ("lr: 0.0002", "lr: -.inf", "lr"),
}


@pytest.mark.parametrize("case", sorted(NON_FINITE_PARAMS))
def test_params_floats_must_be_finite(case, tmp_path, capsys):
    old, new, key = NON_FINITE_PARAMS[case]
    path = _params_with(tmp_path, old, new)
    before = tree(tmp_path)
    code, _, err = cli(["params", "--params", path], capsys)
    assert code == 1 and f".{key}: expected a finite number" in err and str(path) in err, err
    assert_tree_same(before, tmp_path)


def test_nan_in_a_float_list_is_refused_naming_the_item():
    from replication.strict import ParamsError, convert

    with pytest.raises(ParamsError, match=r"sigma\[0\]: expected a finite number"):
        convert(tuple[float, float], [float("nan"), 3.0], "x.sigma")
    assert convert(tuple[float, float], [1, 3.0], "x.sigma") == (1.0, 3.0)


def _bad_weights(ws: Path, value: float) -> Path:
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    good = ws / "models" / "tiny.safetensors"
    with safe_open(str(good), "pt") as fh:
        meta = fh.metadata()
    state = {k: v.clone().fill_(value) for k, v in load_file(str(good)).items()}
    bad = ws / "models" / f"bad{value}.safetensors"
    save_file(state, str(bad), metadata=meta)
    return bad


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_at_load_and_import(value, ws, capsys, monkeypatch):
    import torch

    monkeypatch.setenv("REPLICATION_MIRROR", str(ws / "no-mirror"))
    bad = _bad_weights(ws, value)
    before = tree(ws)
    code, _, err = cli(
        fmt(["upscale", "--model", str(bad), "--input", "{ws}/photos", "--output", "{ws}/o"], ws), capsys
    )
    assert code == 1 and bad.name in err and "NaN or infinite" in err
    argv = ["evaluate", "--params", PARAMS, "--model", bad, "--source", "official", "--name", "b", "--dataset", "d"]
    argv += ["--metrics", "niqe", "--input", ws / "photos", "--out-images", ws / "sr", "--out-metrics", ws / "m.csv"]
    code, _, err = cli(argv, capsys)
    assert code == 1 and bad.name in err, err
    pth = ws / "bad.pth"
    from safetensors.torch import load_file

    torch.save(load_file(str(bad)), pth)
    before = tree(ws)
    code, _, err = cli(
        ["weights", "import-pth", "--pth", pth, "--arch", "srvgg", "--out", ws / "imp.safetensors"], capsys
    )
    assert code == 1 and "bad.pth" in err and "NaN or infinite" in err
    assert_tree_same(before, ws)


def test_non_finite_network_output_is_an_error_naming_the_model(ws):
    import torch

    from replication.archs.checkpoint import load_model
    from replication.archs.infer import upscale_tensor

    net = load_model(ws / "models" / "tiny.safetensors")
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(3e38)  # finite weights whose output overflows to inf
    with pytest.raises(UserError, match=r"tiny\.safetensors: the network output holds"):
        upscale_tensor(net, torch.rand(1, 3, 8, 8))


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims ``width`` x ``height`` but holds almost no data (a decompression bomb's
    shape): the budget must refuse it from the header, without decoding."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)))
    return path


def test_pixel_budget_refuses_huge_inputs_and_outputs_before_work(ws, capsys, monkeypatch):
    monkeypatch.setenv("REPLICATION_MIRROR", str(ws / "no-mirror"))
    _png_header_only(ws / "photos" / "huge.png", 12000, 12000)
    before = tree(ws)
    for argv in (
        [*UPS, "--input", "{ws}/photos/huge.png", "--output", "{ws}/o.png"],
        [*UPS, "--input", "{ws}/photos/a.png", "--output", "{ws}/o.png", "--outscale", "1e6"],
        [*UPS, "--input", "{ws}/photos/a.png", "--output", "{ws}/o.png", "--max-pixels", "10000"],
    ):
        code, _, err = cli(fmt(argv, ws), capsys)
        assert code == 1 and "--max-pixels" in err and "megapixels" in err, err
        assert "a.png" in err or "huge.png" in err
    assert_tree_same(before, ws)
    # folders: the good images are done, the huge one is reported with its size
    code, _, err = cli(fmt([*MET, "--input", "{ws}/photos", "--output", "{ws}/s.csv"], ws), capsys)
    assert code == 1 and "huge.png: 12000x12000" in err
    assert {r["image"] for r in csv.DictReader((ws / "s.csv").open())} == {"a.png", "b.png"}
    # the flag raises the budget (the header-only file then fails as truncated, not as too large)
    code, _, err = cli(
        fmt([*UPS, "--input", "{ws}/photos/a.png", "--output", "{ws}/ok.png", "--max-pixels", "1M"], ws), capsys
    )
    assert code == 0, err
    assert_tree_kept(before, ws)


def test_pixel_count_flag_values():
    import argparse

    from replication.argtypes import pixel_count

    assert pixel_count("50M") == 50_000_000 and pixel_count("12000x12000") == 144_000_000
    assert pixel_count("0") == 0 and pixel_count("1.5k") == 1500
    for bad in ("-1", "lots", "nan", "inf"):
        with pytest.raises(argparse.ArgumentTypeError):
            pixel_count(bad)


def _interrupt_on(monkeypatch, module, name: str, at: int, exc: BaseException) -> None:
    real = getattr(module, name)
    calls = {"n": 0}

    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == at:
            raise exc
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)


FOLDER_OUTPUTS = {
    "upscale": ([*UPS, "--input", "{ws}/photos", "--output", "{ws}/out"], "out"),
    "evaluate": ([*EVAL, "--input", "{ws}/photos", "--out-images", "{ws}/out", "--out-metrics", "{ws}/m.csv"], "out"),
    "synthesize": ([*SYN, "--out-dir", "{ws}/out", "--gt-size", "32", "--count", "4"], "out"),
}


@pytest.mark.parametrize("command", sorted(FOLDER_OUTPUTS))
def test_interrupted_folder_run_leaves_no_partial_output(command, ws, capsys, monkeypatch):
    import replication.imageio as imageio

    monkeypatch.setenv("REPLICATION_MIRROR", str(ws / "no-mirror"))
    for i in range(3):
        _png(ws / "photos" / f"c{i}.png", 64, 64, 30 + i)
    argv, out = FOLDER_OUTPUTS[command]
    if command == "evaluate":
        import replication.evaluate.stage as stage

        _interrupt_on(monkeypatch, stage, "write_image", 2, KeyboardInterrupt())
    else:
        _interrupt_on(monkeypatch, imageio, "write_image", 2, KeyboardInterrupt())
        if command == "synthesize":
            import replication.degrade.synthesize as synth

            _interrupt_on(monkeypatch, synth, "write_image", 3, KeyboardInterrupt())
    before = tree(ws)
    code, _, err = cli(fmt(argv, ws), capsys)
    assert code == 130 and "interrupted" in err
    assert not (ws / out).exists() and not list(ws.glob(f".{out}.*"))
    assert_tree_same(before, ws)


class _FullDiskBuffer:
    """What cv2.imencode returns, except that writing it fails as on a full disk."""

    def tofile(self, path):
        import errno

        raise OSError(errno.ENOSPC, "No space left on device", str(path))


@pytest.mark.parametrize("command", sorted(FOLDER_OUTPUTS))
def test_full_disk_mid_folder_names_the_output_and_leaves_nothing(command, ws, capsys, monkeypatch):
    import replication.imageio as imageio

    monkeypatch.setenv("REPLICATION_MIRROR", str(ws / "no-mirror"))
    real = imageio.cv2.imencode
    calls = {"n": 0}

    def imencode(*args, **kwargs):
        calls["n"] += 1
        return (True, _FullDiskBuffer()) if calls["n"] >= 2 else real(*args, **kwargs)

    monkeypatch.setattr(imageio.cv2, "imencode", imencode)
    argv, out = FOLDER_OUTPUTS[command]
    before = tree(ws)
    code, _, err = cli(fmt(argv, ws), capsys)
    assert code == 1 and "no space left on device" in err.lower()
    assert str(ws / out) in err, err
    assert not (ws / out).exists() and not list(ws.glob(f".{out}.*"))
    assert_tree_same(before, ws)


def test_full_disk_during_the_safetensors_write_is_a_clear_error(ws, capsys, monkeypatch):
    import safetensors.torch
    import torch
    from safetensors.torch import load_file

    pth = ws / "ok.pth"
    torch.save(load_file(str(ws / "models" / "tiny.safetensors")), pth)

    def full(*args, **kwargs):
        raise RuntimeError(
            'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on device" })'
        )

    monkeypatch.setattr(safetensors.torch, "save_file", full)
    out = ws / "models" / "imported.safetensors"
    before = tree(ws)
    code, _, err = cli(["weights", "import-pth", "--pth", pth, "--arch", "srvgg", "--out", out], capsys)
    assert code == 1 and str(out) in err and "no space left on device" in err
    assert_tree_same(before, ws)


def test_full_disk_in_a_copy_names_the_file_being_written(capsys):
    import errno
    import types

    from replication.cli import _run

    def run(args):
        raise OSError(errno.ENOSPC, "No space left on device", "/mirror/src.png", None, "/out/dst.png")

    code, message = _run(types.SimpleNamespace(run=run), types.SimpleNamespace())
    assert code == 1 and message == "/out/dst.png: no space left on device"


def _exif_png(path: Path, orientation: int) -> Path:
    from PIL import Image as PILImage

    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :20] = 255  # left half white
    im = PILImage.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = orientation
    im.save(path, exif=exif)
    return path


def test_exif_orientation_is_applied_on_read(tmp_path):
    for suffix in (".png", ".jpg"):
        img = read_image(_exif_png(tmp_path / f"rot{suffix}", 6))  # 6: rotate 90 degrees clockwise
        assert img.size == (40, 20)
        top = img.rgb[0, :, :10].mean().item()
        assert top > 0.9  # the white left half is now on top


def test_multi_frame_images_are_refused(ws, capsys):
    from PIL import Image as PILImage

    frames = [PILImage.new("RGB", (32, 32), (40 * i, 0, 0)) for i in range(3)]
    frames[0].save(ws / "photos" / "anim.png", save_all=True, append_images=frames[1:])
    frames[0].save(ws / "anim.gif", save_all=True, append_images=frames[1:])
    for path in (ws / "photos" / "anim.png", ws / "anim.gif"):
        with pytest.raises(ImageReadError, match=r"3 frames"):
            read_image(path)
    before = tree(ws)
    code, _, err = cli(fmt([*UPS, "--input", "{ws}/photos", "--output", "{ws}/out"], ws), capsys)
    assert code == 1 and "anim.png: holds 3 frames" in err
    assert sorted(p.name for p in (ws / "out").glob("*.png")) == ["a_out.png", "b_out.png"]
    assert_tree_kept(before, ws)


def test_synthesize_refuses_gt_smaller_than_gt_size_unless_padding_is_asked(ws, capsys):
    before = tree(ws)
    argv = fmt([*SYN, "--out-dir", "{ws}/pairs", "--gt-size", "256"], ws)  # the GT images are 150 px
    code, _, err = cli(argv, capsys)
    assert code == 1 and "--gt-size 256" in err and "0.png (150x150)" in err and "--pad-small" in err
    assert_tree_same(before, ws)
    code, _, err = cli([*argv, "--pad-small"], capsys)
    assert code == 0, err
    assert json.loads((ws / "pairs" / "synthesis.json").read_text())["pad_small"] is True
    assert_tree_kept(before, ws)


def test_evaluate_finishes_the_good_images_when_one_fails_later(ws, capsys, monkeypatch):
    monkeypatch.setenv("REPLICATION_MIRROR", str(ws / "no-mirror"))
    _png(ws / "ref" / "a.png", 800, 800, 5)  # the x4 size; no reference for b.png
    _png_header_only(ws / "photos" / "c.png", 9000, 9000)
    before = tree(ws)
    argv = [*EVAL[:-1], "psnr", "--input", "{ws}/photos", "--out-images", "{ws}/sr", "--out-metrics", "{ws}/m.csv"]
    code, _, err = cli(fmt([*argv, "--reference", "{ws}/ref"], ws), capsys)
    assert code == 1, err
    assert "b.png: no reference image" in err and "c.png: 9000x9000" in err and "2 of 3" in err
    assert {r["image"] for r in csv.DictReader((ws / "m.csv").open())} == {"a.png"}
    assert_tree_kept(before, ws)


def test_non_utf8_file_name_is_reported_not_a_traceback(ws, capsys, monkeypatch):
    monkeypatch.setenv("REPLICATION_MIRROR", str(ws / "no-mirror"))
    odd = ws / "photos" / os.fsdecode(b"caf\xe9.png")
    try:
        shutil.copy(ws / "photos" / "a.png", odd)
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system refuses names that are not UTF-8")
    before = tree(ws)
    code, _, err = cli(fmt([*MET, "--input", "{ws}/photos", "--output", "{ws}/s.csv"], ws), capsys)
    assert code == 1 and "not valid UTF-8" in err and "caf" in err
    assert {r["image"] for r in csv.DictReader((ws / "s.csv").open(encoding="utf-8"))} == {"a.png", "b.png"}
    assert_tree_kept(before, ws)


TRACEBACK_CASES = {
    "empty-pth": (
        ["weights", "import-pth", "--pth", "{ws}/empty.pth", "--arch", "srvgg", "--out", "{ws}/o.safetensors"],
        1,
        "empty.pth",
    ),
    "seed-beyond-64-bits": ([*SYN, "--out-dir", "{ws}/o", "--seed", str(2**64)], 2, "--seed"),
    "negative-seed": ([*SYN, "--out-dir", "{ws}/o", "--seed", "-1"], 2, "--seed"),
    "deep-yaml": (["params", "--params", "{ws}/deep.yaml"], 1, "deep.yaml"),
    "deep-yaml-mapping": (["params", "--params", "{ws}/deepmap.yaml"], 1, "deepmap.yaml"),
}


@pytest.mark.parametrize("case", sorted(TRACEBACK_CASES))
def test_former_tracebacks_are_clear_errors(case, ws, capsys):
    (ws / "empty.pth").write_bytes(b"")
    (ws / "deep.yaml").write_text("a: " + "[" * 100_000 + "]" * 100_000 + "\n")
    (ws / "deepmap.yaml").write_text("a: " + "{b: " * 20_000 + "1" + "}" * 20_000 + "\n")
    argv, expected, mention = TRACEBACK_CASES[case]
    before = tree(ws)
    code, _, err = cli(fmt(argv, ws), capsys)
    assert code == expected and mention in err, err
    assert_tree_same(before, ws)


# --- the exit-status table of docs/cli.md, run against every command


def _documented_statuses() -> dict[int, str]:
    text = (ROOT / "docs" / "cli.md").read_text()
    rows = [
        line.split("|") for line in text.splitlines() if line.startswith("| ") and line.split("|")[1].strip().isdigit()
    ]
    return {int(r[1]): r[2] for r in rows}


EVAL_ALL = ["evaluate-all", "--model", "bicubic", "--name", "x", "--source", "bicubic", "--out", "{ws}/ea"]

# command -> (a usage error and the name it must mention, a runtime error and the name it must mention)
EXIT_MATRIX = {
    "params": (
        ["params", "--params", "{params}", "--profile", "nope"],
        "--profile",
        ["params", "--params", "{ws}/no.yaml"],
        "no.yaml",
    ),
    "datasets": (["datasets", "nope"], "nope", None, None),
    "claims": (
        ["claims", "--params", "{params}", "--results", "{ws}/res", "--out", "{ws}/c.csv", "--bogus"],
        "--bogus",
        ["claims", "--params", "{params}", "--results", "{ws}/nores", "--out", "{ws}/c.csv"],
        "nores",
    ),  # reads no file: it has no runtime failure
    "download": (
        ["download", "nope", "--root", "{ws}/dl"],
        "nope",
        ["download", "realsrset", "--root", "{ws}/dl", "--mirror", "{ws}/nomirror"],
        "nomirror",
    ),
    "prepare": (
        ["prepare", "--params", "{params}", "--raw", "{ws}/raw", "--out", "{ws}/p", "--workers", "0"],
        "--workers",
        ["prepare", "--params", "{params}", "--raw", "{ws}/noraw", "--out", "{ws}/p"],
        "noraw",
    ),
    "synthesize": (
        [*SYN, "--out-dir", "{ws}/o", "--variant", "nope"],
        "--variant",
        [*SYN[:4], "{ws}/nogt", "--out-dir", "{ws}/o", "--count", "1"],
        "nogt",
    ),
    "weights": (
        ["weights", "fetch", "nope", "--out", "{ws}/o.safetensors"],
        "nope",
        ["weights", "import-pth", "--pth", "{ws}/no.pth", "--out", "{ws}/o.safetensors"],
        "no.pth",
    ),
    "upscale": (
        [*UPS, "--inptu", "{ws}/photos", "--output", "{ws}/o"],
        "--inptu",
        ["upscale", "--model", "{ws}/no.safetensors", "--input", "{ws}/photos", "--output", "{ws}/o"],
        "no.safetensors",
    ),
    "train": (
        [
            "train",
            "--params",
            "{params}",
            "--variant",
            "nope",
            "--phase",
            "net",
            "--data",
            "{ws}/raw",
            "--out",
            "{ws}/run",
        ],
        "--variant",
        [
            "train",
            "--params",
            "{params}",
            "--variant",
            "full",
            "--phase",
            "net",
            "--data",
            "{ws}/nodata",
            "--out",
            "{ws}/run",
        ],
        "nodata",
    ),
    "metrics": (
        [*MET, "--input", "{ws}/photos", "--output", "{ws}/m.csv", "--metrics", "nope"],
        "nope",
        [*MET, "--input", "{ws}/nope", "--output", "{ws}/m.csv"],
        "nope",
    ),
    "evaluate": (
        [*EVAL, "--input", "{ws}/photos", "--out-images", "{ws}/sr", "--out-metrics", "{ws}/m.csv", "--threads", "0"],
        "--threads",
        [*EVAL, "--input", "{ws}/nope", "--out-images", "{ws}/sr", "--out-metrics", "{ws}/m.csv"],
        "nope",
    ),
    "evaluate-all": (
        [*EVAL_ALL, "--params", "{params}", "--profile", "nope"],
        "--profile",
        [*EVAL_ALL, "--params", "{ws}/no.yaml"],
        "no.yaml",
    ),
    "report": (
        ["report", "--params", "{params}", "--results", "{ws}/raw", "--out", "{ws}/rep", "--no-such-flag"],
        "--no-such-flag",
        ["report", "--params", "{params}", "--results", "{ws}/nores", "--out", "{ws}/rep"],
        "nores",
    ),
    "check-metrics": (
        ["check-metrics", "--expected", "{ws}/e.json", "--results", "{ws}/raw", "--tolerance", "-1"],
        "--tolerance",
        ["check-metrics", "--expected", "{ws}/no.json", "--results", "{ws}/file.txt"],
        "file.txt",
    ),
}


def test_exit_matrix_covers_every_command():
    from replication.cli import COMMANDS, EXIT

    assert set(EXIT_MATRIX) == set(COMMANDS)
    assert _documented_statuses().keys() == set(EXIT.values())


@pytest.mark.parametrize("command", sorted(EXIT_MATRIX))
def test_every_command_follows_the_exit_status_table(command, ws, capsys, monkeypatch):
    from replication.cli import EXIT

    monkeypatch.setenv("REPLICATION_MIRROR", str(ws / "no-mirror"))
    table = _documented_statuses()
    usage, usage_name, runtime, runtime_name = EXIT_MATRIX[command]
    before = tree(ws)
    code, _, err = cli(fmt(usage, ws), capsys)
    assert code == EXIT["usage"] and "usage error" in table[code] and usage_name in err, err
    if runtime is not None:
        code, _, err = cli(fmt(runtime, ws), capsys)
        assert code == EXIT["failure"] and "runtime failure" in table[code] and runtime_name in err, err
    assert_tree_same(before, ws)


JSON_ERRORS = {
    "check-metrics-bad-flag": [
        "check-metrics",
        "--json",
        "--expected",
        "{ws}/e.json",
        "--results",
        "{ws}",
        "--tolerance",
        "-1",
    ],
    "check-metrics-missing": ["check-metrics", "--json", "--expected", "{ws}/no.json", "--results", "{ws}/file.txt"],
    "params-missing": ["params", "--json", "--params", "{ws}/no.yaml"],
    "datasets-unknown": ["datasets", "--json", "nope"],
    "weights-list-bad-params": ["weights", "list", "--json", "--params", "{ws}/file.txt"],
}


@pytest.mark.parametrize("case", sorted(JSON_ERRORS))
def test_json_always_prints_one_object(case, ws, capsys):
    code, out, _ = cli(fmt(JSON_ERRORS[case], ws), capsys)
    report = json.loads(out)  # exactly one JSON document on stdout
    assert code in (1, 2) and report["status"] == "error" and report["exit_status"] == code and report["error"]


def test_unknown_flag_is_named_even_when_a_required_flag_is_missing(ws, capsys):
    code, _, err = cli(
        fmt(["upscale", "--modle", "{ws}/models/tiny.safetensors", "--input", "x", "--output", "y"], ws), capsys
    )
    assert code == 2 and "unknown flag --modle" in err and "did you mean --model" in err
    code, _, err = cli(["weights", "import-pth", "--pht", "x.pth", "--out", "o.safetensors"], capsys)
    assert code == 2 and "--pht" in err


def test_explicitly_requested_metric_undefined_everywhere_fails(ws, capsys, monkeypatch):
    monkeypatch.setenv("REPLICATION_MIRROR", str(ws / "no-mirror"))
    (ws / "tiny").mkdir()
    for i in range(2):
        _png(ws / "tiny" / f"{i}.png", 64, 64, i)  # smaller than two NIQE blocks of 96 px
    code, _, err = cli(fmt([*MET, "--input", "{ws}/tiny", "--output", "{ws}/s.csv"], ws), capsys)
    assert code == 1 and "niqe" in err and "undefined for every image" in err
    assert (ws / "s.csv").is_file()  # the table is still written, with its NaN rows
    for i in range(2):
        _png(ws / "tinier" / f"{i}.png", 16, 16, i)  # its x4 output is still too small for NIQE
    argv = [*EVAL, "--input", "{ws}/tinier", "--out-images", "{ws}/sr", "--out-metrics", "{ws}/m.csv"]
    code, _, err = cli(fmt(argv, ws), capsys)
    assert code == 1 and "undefined for every image" in err
    code, _, err = cli(fmt([a for a in argv if a not in ("--metrics", "niqe")] + ["--overwrite"], ws), capsys)
    assert "undefined for every image" not in err  # the profile's default metrics only warn


def test_interrupted_evaluate_all_leaves_no_new_output_folder(ws, capsys, monkeypatch):
    import replication.evaluate.stage as stage

    monkeypatch.setenv("REPLICATION_MIRROR", str(ws / "no-mirror"))
    assert cli(fmt([*SYN, "--out-dir", "{ws}/val", "--gt-size", "32"], ws), capsys)[0] == 0
    _interrupt_on(monkeypatch, stage, "write_image", 2, KeyboardInterrupt())
    before = tree(ws)
    argv = ["evaluate-all", "--params", PARAMS, "--model", "bicubic", "--name", "b", "--source", "bicubic"]
    code, _, err = cli([*argv, "--val", ws / "val", "--out", ws / "ea"], capsys)
    assert code == 130 and "interrupted" in err
    assert_tree_same(before, ws)


SIZE_LIMITS = {
    "count-beyond-limit": ([*SYN, "--out-dir", "{ws}/o", "--count", "99999999999"], 2, "--count"),
    "batch-over-budget": (
        [*SYN, "--out-dir", "{ws}/o", "--count", "100000", "--batch-size", "100000"],
        1,
        "--max-pixels",
    ),
    "gt-size-over-budget": (
        [*SYN, "--out-dir", "{ws}/o", "--gt-size", "40000", "--scale", "4", "--pad-small"],
        1,
        "--max-pixels",
    ),
}


@pytest.mark.parametrize("case", sorted(SIZE_LIMITS))
def test_sizes_that_would_exhaust_memory_are_refused_up_front(case, ws, capsys):
    argv, expected, mention = SIZE_LIMITS[case]
    before = tree(ws)
    code, _, err = cli(fmt(argv, ws), capsys)
    assert code == expected and mention in err, err
    assert_tree_same(before, ws)


def test_expected_metrics_with_infinite_tolerance_or_nan_mean_is_refused(ws, capsys, monkeypatch):
    monkeypatch.setenv("REPLICATION_MIRROR", str(ws / "no-mirror"))
    argv = fmt([*EVAL, "--input", "{ws}/photos", "--out-images", "{ws}/sr", "--out-metrics", "{ws}/m.csv"], ws)
    assert cli(argv, capsys)[0] == 0
    expected = ws / "expected.json"
    assert cli(["check-metrics", "--expected", expected, "--results", ws / "m.csv", "--write"], capsys)[0] == 0
    good = json.loads(expected.read_text())
    for change in ("tolerance", "mean"):
        data = json.loads(json.dumps(good))
        if change == "tolerance":
            data["tolerance"]["abs"] = math.inf
        else:
            data["entries"][0]["mean"] = math.nan
        expected.write_text(json.dumps(data))  # Python writes Infinity / NaN, which JSON parsers accept
        before = tree(ws)
        code, out, _ = cli(["check-metrics", "--expected", expected, "--results", ws / "m.csv", "--json"], capsys)
        assert code == 1 and "expected.json" in json.loads(out)["error"]
        assert_tree_same(before, ws)


def test_params_json_prints_json_for_every_action(tmp_path, capsys):
    path = tmp_path / "params.yaml"
    path.write_text(PARAMS.read_text())
    code, out, _ = cli(["params", "--params", path, "--get", "validation.count", "--json"], capsys)
    assert code == 0 and isinstance(json.loads(out), int)
    code, out, _ = cli(["params", "--params", path, "--switch", "study", "--json"], capsys)
    assert code == 0 and json.loads(out)["profile"] == "study"
    code, out, err = cli(["params", "--params", path, "--get", "no.such.key", "--json"], capsys)
    assert code == 2 and json.loads(out)["exit_status"] == 2 and "--get" in err


def test_deeply_nested_sidecar_json_is_reported_not_a_traceback(ws, capsys):
    bare = _strip_embedded(ws / "models" / "tiny.safetensors")
    bare.with_suffix(".json").write_text("[" * 100_000 + "]" * 100_000)
    before = tree(ws)
    code, _, err = cli(
        fmt(["upscale", "--model", str(bare), "--input", "{ws}/photos/a.png", "--output", "{ws}/o.png"], ws), capsys
    )
    assert code == 1 and "bare.json" in err
    assert_tree_same(before, ws)


def test_full_disk_while_copying_from_the_mirror_names_the_output(tmp_path, capsys, monkeypatch):
    import errno

    import replication.fetcher as fetcher

    source = mirror_dir() / "datasets" / "set5"
    if not source.is_dir():
        pytest.skip("offline mirror not available")
    mirror = tmp_path / "mirror"
    shutil.copytree(source, mirror / "datasets" / "set5")

    def full(src, dst, *args, **kwargs):
        err = OSError(errno.ENOSPC, "No space left on device")
        err.filename, err.filename2 = str(src), str(dst)  # as shutil.copyfile reports it: the source first
        raise err

    monkeypatch.setattr(fetcher.shutil, "copyfile", full)
    before = tree(tmp_path)
    code, _, err = cli(["download", "set5", "--root", tmp_path / "raw", "--mirror", mirror, "--no-progress"], capsys)
    assert code == 1 and "no space left on device" in err and str(tmp_path / "raw") in err, err
    assert str(mirror) not in err.split("error:")[-1]
    assert_tree_kept(before, tmp_path)


def test_rerun_into_own_folder_keeps_files_a_user_added(ws, capsys):
    argv = fmt([*SYN, "--out-dir", "{ws}/pairs", "--gt-size", "32"], ws)
    assert cli(argv, capsys)[0] == 0
    (ws / "pairs" / "my-notes.txt").write_text("about these pairs\n")
    before = tree(ws)
    assert cli(argv, capsys)[0] == 0
    ours = ("pairs/synthesis.json", "pairs/gt", "pairs/lq")
    assert_tree_kept(before, ws, changed=tuple(r for r in before if r.startswith(ours)))
    assert (ws / "pairs" / "my-notes.txt").read_text() == "about these pairs\n"
