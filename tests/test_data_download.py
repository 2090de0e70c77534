"""Downloader against a real HTTP server on 127.0.0.1: resume, retries, checksums, mirror, datasets."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import random
import re
import socket
import threading
from pathlib import Path

import pytest
from helpers import mirror_dir

from replication.cli import main
from replication.data import download as dl
from replication.data import registry
from replication.data.download import (
    ChecksumError,
    DownloadError,
    ManualDownloadRequired,
    fetch_file,
)

ROOT = Path(__file__).resolve().parents[1]

# sha256 of the 20 RealSRSet files as published in cszn/BSRGAN@5ce1a9c, typed in independently.
REALSRSET_SHA256 = {
    "Lincoln.png": "d8b65322521f9f056b2ded1067c5c717769f8dd12a4e83f7889460ff0b4dc120",
    "building.png": "4608b6966e590d5c83ba2cc735668b6dffccfaa4149d3d0992fa7852b8865da4",
    "butterfly.png": "cd7245ebb9409e65d97fafb88406c4663b6dec8b890a68b9129ae21f4759e46d",
    "butterfly2.png": "1b5cf1c74780529bb2dea7c058556e361d5bc286b4279e90cd5d55168192918d",
    "chip.png": "afdb0ab3af6137349ca444576d313daf6be06acbdaf71234d5085cfeaa9ffd36",
    "comic1.png": "d0373511f95c3ff8424b8ac85b15cc8fe7705fa9b68a99146a36b73483e9d142",
    "comic2.png": "17e3e006008264428a5e361f109e7279cac54cb4261cf0af6d409f12ead33b66",
    "comic3.png": "c5d6c569f7593e676cc22340997416a2ead4580cb44e3d1d45a548040abd18f7",
    "computer.png": "485852363bceb017f800752b6da1ff4d3d99e9e3ad038dcf876dcb1096cc5c5e",
    "dog.png": "c9316a410b5b4a95d2dc020817fb3c37d4fb61a0ea61f9242dd59dc532346238",
    "dped_crop00061.png": "8c1bd53d364f32e698355e199d44d6aca596ab6f7144349d588f72d5a235172c",
    "foreman.png": "154609036564b33f3f56e249215e8ef637bb71b255a3aa1ddd947e7e45cda443",
    "frog.png": "36adda1ff6c39824e480eb92583ca3e2ceea29d9cb206cca880781a102611b11",
    "oldphoto2.png": "f4cdc62b00ebc03304f2ad70fbb121c620181247d9bcb64c372ef339333a06af",
    "oldphoto3.png": "24cf6a7db0591f87a9e4cdd0892fde9c403e911791614e04630b99db4305d0e8",
    "oldphoto6.png": "883d4adb035cc597ca84094b83b7da533ba2b2b3bc8e1e57e9162e3b289c04d5",
    "painting.png": "176cdaac9eaaebbefabbd16a97e167e72814239a87220e9a6317e4ef6db1d1df",
    "pattern.png": "ac706e527ca7a4209467b92a4a88167a38d7d90ca2bf8ae339706879700803bd",
    "ppt3.png": "4f9bd5caf9bfb8e5b759737d1e0d2ff92484abefb25b9f8de9f8aa77fe547033",
    "tiger.png": "c37cc11eedfde77740c149ef0a1a1babfcef4ac4e3f902684ff9b648339c5990",
}


class FileServer:
    """A tiny HTTP file server with scripted misbehaviour, recording every request."""

    def __init__(self, files: dict[str, bytes]):
        self.files = dict(files)
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.fail_next: dict[str, int] = {}  # path -> how many 500 answers to give first
        self.drop_next: dict[str, tuple[int, int]] = {}  # path -> (bytes to send, how many times)
        self.ignore_range: set[str] = set()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                path = self.path
                server.requests.append((path, dict(self.headers)))
                if path not in server.files:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if server.fail_next.get(path, 0) > 0:
                    server.fail_next[path] -= 1
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = server.files[path]
                start = 0
                match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
                if match and path not in server.ignore_range:
                    start = int(match.group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                cut, times = server.drop_next.get(path, (0, 0))
                if times > 0:
                    server.drop_next[path] = (cut, times - 1)
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)  # the client sees a truncated body
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _blob(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def server():
    srv = FileServer({"/a.bin": _blob(300_000, 1), "/b.bin": _blob(50_000, 2)})
    yield srv
    srv.close()


@pytest.fixture
def waits():
    return []


def _fetch(dest, urls, waits, **kw):
    kw.setdefault("progress", False)
    return fetch_file(dest, urls, sleep=waits.append, **kw)


def _only_dest(folder: Path, name: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_resume_after_connection_drop(server, tmp_path, waits):
    data = server.files["/a.bin"]
    server.drop_next["/a.bin"] = (100_000, 1)
    dest = tmp_path / "a.bin"
    _fetch(dest, [server.url("/a.bin")], waits, sha256=_sha(data), size=len(data))
    assert dest.read_bytes() == data
    assert len(server.requests) == 2
    assert "Range" not in server.requests[0][1]
    assert server.requests[1][1]["Range"] == "bytes=100000-"  # continued, not restarted
    assert len(waits) == 1
    assert _only_dest(tmp_path, "a.bin") == ["a.bin"]  # no .part left behind


def test_partial_file_restarts_when_server_ignores_range(server, tmp_path, waits):
    data = server.files["/a.bin"]
    server.ignore_range.add("/a.bin")
    dest = tmp_path / "a.bin"
    (tmp_path / "a.bin.part").write_bytes(data[:1234])  # left by an interrupted earlier run
    _fetch(dest, [server.url("/a.bin")], waits, sha256=_sha(data))
    assert server.requests[0][1]["Range"] == "bytes=1234-"
    assert dest.read_bytes() == data  # the 200 body replaced the part instead of being appended


def test_partial_file_resumes_across_runs(server, tmp_path, waits):
    data = server.files["/a.bin"]
    dest = tmp_path / "a.bin"
    (tmp_path / "a.bin.part").write_bytes(data[:5000])
    _fetch(dest, [server.url("/a.bin")], waits, sha256=_sha(data))
    assert server.requests[0][1]["Range"] == "bytes=5000-"
    assert dest.read_bytes() == data


def test_retries_after_server_errors_with_backoff(server, tmp_path, waits):
    data = server.files["/b.bin"]
    server.fail_next["/b.bin"] = 3
    dest = tmp_path / "b.bin"
    _fetch(dest, [server.url("/b.bin")], waits, sha256=_sha(data), backoff=0.5)
    assert dest.read_bytes() == data
    assert len(server.requests) == 4
    assert waits == [0.5, 1.0, 2.0]  # exponential


def test_retries_are_bounded_and_error_says_how_to_provide(server, tmp_path, waits):
    server.fail_next["/b.bin"] = 100
    dest = tmp_path / "b.bin"
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    with pytest.raises(DownloadError) as exc:
        _fetch(
            dest,
            [server.url("/b.bin")],
            waits,
            sha256="0" * 64,
            retries=3,
            mirror=mirror,
            mirror_relpaths=["datasets/x/b.bin"],
        )
    msg = str(exc.value)
    assert len(server.requests) == 4 and len(waits) == 3
    assert server.url("/b.bin") in msg and "HTTP 500" in msg
    assert str(mirror / "datasets/x/b.bin") in msg and str(dest) in msg
    assert not dest.exists()


def test_unreachable_host_error_names_file_url_and_places(tmp_path, waits):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/c.bin"
    dest = tmp_path / "c.bin"
    with pytest.raises(DownloadError) as exc:
        _fetch(dest, [url], waits, sha256="1" * 64, retries=1)
    msg = str(exc.value)
    assert "c.bin" in msg and url in msg and str(dest) in msg and "mirror" in msg
    assert not dest.exists()


def test_checksum_mismatch_moves_file_aside_and_publishes_nothing(server, tmp_path, waits):
    data = server.files["/b.bin"]
    wrong = "ab" * 32
    dest = tmp_path / "b.bin"
    with pytest.raises(ChecksumError) as exc:
        _fetch(dest, [server.url("/b.bin")], waits, sha256=wrong)
    msg = str(exc.value)
    actual = _sha(data)
    assert wrong in msg and actual in msg and "b.bin" in msg
    assert not dest.exists()
    bad = tmp_path / f"b.bin.bad-{actual[:8]}"
    assert bad.read_bytes() == data
    assert _only_dest(tmp_path, "b.bin") == [bad.name]


def test_size_mismatch_names_both_hashes(server, tmp_path, waits):
    data = server.files["/b.bin"]
    wrong = "cd" * 32
    with pytest.raises(ChecksumError) as exc:
        _fetch(tmp_path / "b.bin", [server.url("/b.bin")], waits, sha256=wrong, size=len(data) + 1)
    msg = str(exc.value)
    assert wrong in msg and _sha(data) in msg and str(len(data) + 1) in msg
    assert not (tmp_path / "b.bin").exists()


def test_mirror_hit_makes_no_request(server, tmp_path, waits):
    data = server.files["/a.bin"]
    mirror = tmp_path / "mirror"
    (mirror / "datasets/x").mkdir(parents=True)
    (mirror / "datasets/x/a.bin").write_bytes(data)
    dest = tmp_path / "out" / "a.bin"
    _fetch(dest, [server.url("/a.bin")], waits, sha256=_sha(data), mirror=mirror, mirror_relpaths=["datasets/x/a.bin"])
    assert dest.read_bytes() == data
    assert server.requests == []


def test_mirror_file_found_by_name_in_manifest(server, tmp_path, waits):
    data = server.files["/a.bin"]
    mirror = tmp_path / "mirror"
    (mirror / "elsewhere").mkdir(parents=True)
    (mirror / "elsewhere/a.bin").write_bytes(data)
    (mirror / "MANIFEST.json").write_text(json.dumps([{"path": "elsewhere/a.bin", "sha256": _sha(data)}]))
    dest = tmp_path / "out" / "a.bin"
    _fetch(dest, [server.url("/a.bin")], waits, sha256=_sha(data), mirror=mirror, mirror_relpaths=["datasets/x/a.bin"])
    assert dest.read_bytes() == data
    assert server.requests == []


def test_mirror_miss_falls_back_to_url(server, tmp_path, waits):
    data = server.files["/b.bin"]
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    dest = tmp_path / "b.bin"
    _fetch(dest, [server.url("/b.bin")], waits, sha256=_sha(data), mirror=mirror, mirror_relpaths=["datasets/x/b.bin"])
    assert dest.read_bytes() == data
    assert len(server.requests) == 1


def test_tampered_mirror_file_is_rejected_and_not_used(server, tmp_path, waits):
    data = server.files["/b.bin"]
    mirror = tmp_path / "mirror"
    (mirror / "datasets/x").mkdir(parents=True)
    tampered = bytearray(data)
    tampered[100] ^= 0xFF
    (mirror / "datasets/x/b.bin").write_bytes(bytes(tampered))
    dest = tmp_path / "out" / "b.bin"
    with pytest.raises(ChecksumError) as exc:
        _fetch(
            dest, [server.url("/b.bin")], waits, sha256=_sha(data), mirror=mirror, mirror_relpaths=["datasets/x/b.bin"]
        )
    msg = str(exc.value)
    assert "tampered" in msg and _sha(data) in msg and _sha(bytes(tampered)) in msg
    assert str(mirror / "datasets/x/b.bin") in msg
    assert not dest.exists() and not (tmp_path / "out" / "b.bin.part").exists()
    assert (mirror / "datasets/x/b.bin").read_bytes() == bytes(tampered)  # the mirror is left alone


def test_verified_file_is_skipped_and_bad_one_replaced(server, tmp_path, waits):
    data = server.files["/b.bin"]
    dest = tmp_path / "b.bin"
    dest.write_bytes(data)
    _fetch(dest, [server.url("/b.bin")], waits, sha256=_sha(data))
    assert server.requests == []
    dest.write_bytes(b"stale")
    _fetch(dest, [server.url("/b.bin")], waits, sha256=_sha(data))
    assert dest.read_bytes() == data and len(server.requests) == 1
    assert (tmp_path / f"b.bin.bad-{_sha(b'stale')[:8]}").read_bytes() == b"stale"  # kept, not lost


def test_md5_and_sha1_are_checked(server, tmp_path, waits):
    data = server.files["/b.bin"]
    dest = tmp_path / "b.bin"
    _fetch(dest, [server.url("/b.bin")], waits, md5=hashlib.md5(data).hexdigest(), sha1=hashlib.sha1(data).hexdigest())
    assert dest.read_bytes() == data
    dest.unlink()
    with pytest.raises(ChecksumError, match="sha1"):
        _fetch(dest, [server.url("/b.bin")], waits, sha1="0" * 40)


def test_manual_file_error_says_where_to_put_it(tmp_path):
    with pytest.raises(ManualDownloadRequired) as exc:
        dl.download_dataset(
            "realsr-v3", tmp_path / "raw", mirror=tmp_path / "mirror", progress=False, log=lambda m: None
        )
    msg = str(exc.value)
    assert "drive.google.com" in msg
    assert str(tmp_path / "raw" / "realsr-v3" / "RealSR(V3).tar.gz") in msg
    assert str(tmp_path / "mirror" / "datasets" / "realsr-v3" / "RealSR(V3).tar.gz") in msg


def test_archive_dataset_is_downloaded_extracted_and_then_skipped(server, tmp_path, monkeypatch):
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("Pack/img1.png", b"one")
        zf.writestr("Pack/sub/img2.png", b"two")
    server.files["/pack.zip"] = buf.getvalue()
    entry = registry.Dataset(
        name="toy",
        title="toy",
        kind="auto",
        license="test",
        files=(registry.RemoteFile("pack.zip", (server.url("/pack.zip"),), sha256=_sha(buf.getvalue()), extract=True),),
        image_dirs=("extracted/Pack",),
    )
    monkeypatch.setattr(registry, "datasets", lambda: {"toy": entry})
    root = tmp_path / "raw"
    folder = dl.download_dataset("toy", root, progress=False, sleep=lambda s: None, log=lambda m: None)
    assert (folder / "extracted/Pack/sub/img2.png").read_bytes() == b"two"
    assert [p.name for p in registry.image_files(root, "toy")] == ["img1.png", "img2.png"]
    marker = json.loads((folder / registry.MARKER).read_text())
    assert marker["extracted"] and marker["files"]["pack.zip"]["sha256"] == _sha(buf.getvalue())
    dl.download_dataset("toy", root, progress=False, log=lambda m: None)
    assert len(server.requests) == 1  # second call: marker matches, nothing fetched


def test_cli_download_realsrset_from_mirror(tmp_path, monkeypatch, capsys):
    mirror = mirror_dir()
    import requests

    def no_network(*args, **kwargs):
        raise AssertionError("the mirror should have been used")

    monkeypatch.setattr(requests.Session, "request", no_network)
    root = tmp_path / "raw"
    assert main(["download", "realsrset", "--root", str(root), "--mirror", str(mirror), "--quiet"]) == 0
    files = sorted(p for p in (root / "realsrset").iterdir() if not p.name.startswith("."))
    assert [p.name for p in files] == sorted(REALSRSET_SHA256)
    for p in files:
        assert _sha(p.read_bytes()) == REALSRSET_SHA256[p.name], p.name
    assert sum(p.stat().st_size for p in files) == 1_931_351  # the published total size
    # a second run is a no-op, and --force re-verifies (still from the mirror)
    assert main(["download", "realsrset", "--root", str(root), "--mirror", str(mirror), "--no-progress"]) == 0
    assert "already present" in capsys.readouterr().err
    assert main(["download", "realsrset", "--root", str(root), "--mirror", str(mirror), "--quiet", "--force"]) == 0


def test_registry_realsrset_matches_appendix_a():
    ds = registry.get("realsrset")
    assert {f.path: f.sha256 for f in ds.files} == REALSRSET_SHA256
    assert ds.image_count == 20 and ds.total_bytes == 1_931_351


def test_registry_small_sets_match_mirror_manifest():
    mirror = mirror_dir()
    manifest = {e["path"]: e for e in json.loads((mirror / "MANIFEST.json").read_text())}
    small = [
        d for d in registry.datasets().values() if d.files and d.files[0].bytes is not None and not d.files[0].extract
    ]
    assert {d.name for d in small} == {
        "realsrset",
        "realesrgan-inputs",
        "realset-extra",
        "sample-hr-cc0",
        "ost300-hr-samples",
        "urban100-subset",
        "set5",
        "set14",
    }
    for d in small:
        for f in d.files:
            e = manifest[dl.mirror_relpath(d.name, f.path)]
            assert (f.sha256, f.bytes, f.urls[0]) == (e["sha256"], e["bytes"], e["url"])


def test_registry_names_match_contracts():
    text = (ROOT / "docs" / "CONTRACTS.md").read_text()
    section = text.split("Datasets (`replication/data/registry.py`):")[1].split("Downloaded sets")[0]
    names = set(re.findall(r"`([a-z0-9-]+)`", section))
    assert names == set(registry.datasets())
    for d in registry.datasets().values():
        assert d.kind in ("auto", "manual")
        assert d.parent is None or d.parent in registry.datasets()
        if d.kind == "manual" and not d.parent:
            assert d.manual, d.name  # says how to get it by hand
        for f in d.files:
            assert f.urls or d.kind == "manual", (d.name, f.path)


def test_unknown_dataset_is_a_clear_error(capsys):
    assert main(["download", "div2k", "--root", "/nonexistent", "--mirror", ""]) == 2  # unknown name: usage
    err = capsys.readouterr().err
    assert "unknown dataset 'div2k'" in err and "div2k-train-hr" in err


def test_datasets_command_lists_registry(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    for name in registry.datasets():
        assert name in out
    assert "manual" in out and "3.5 GB" in out


def test_mirror_precedence(tmp_path, monkeypatch):
    from replication.data.download_cli import resolve_mirror

    params = tmp_path / "params.yaml"
    params.write_text((ROOT / "params.yaml").read_text().replace("mirror: ../shared/mirror", "mirror: from_params"))
    monkeypatch.delenv("REPLICATION_MIRROR", raising=False)
    assert resolve_mirror(None, str(params)) == tmp_path / "from_params"
    monkeypatch.setenv("REPLICATION_MIRROR", str(tmp_path / "from_env"))
    assert resolve_mirror(None, str(params)) == tmp_path / "from_env"
    assert resolve_mirror(str(tmp_path / "flag"), str(params)) == tmp_path / "flag"
    assert resolve_mirror("", str(params)) is None
    assert os.environ["REPLICATION_MIRROR"] == str(tmp_path / "from_env")


def test_image_folders_and_counts_of_small_sets():
    # The mirror's datasets/ folder has the same layout as a download root, so no copy is needed.
    root = mirror_dir() / "datasets"
    for name in [
        "realsrset",
        "realesrgan-inputs",
        "realset-extra",
        "sample-hr-cc0",
        "ost300-hr-samples",
        "urban100-subset",
        "set5",
        "set14",
    ]:
        files = registry.image_files(root, name)
        assert len(files) == registry.get(name).image_count, name
    assert all(p.parent.name == "HR" for p in registry.image_files(root, "set14"))
