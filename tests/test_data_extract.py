"""Safe extraction: malicious zip/tar members are refused, nothing lands outside, no partial folder."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from replication.data.extract import UnsafeArchiveError, extract_archive
from replication.errors import UserError


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w") -> Path:
    with tarfile.open(path, mode) as tf:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
    return path


def _file(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _link(name: str, target: str, kind: bytes) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def _special(name: str, kind: bytes) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    return info, None


def _zip(path: Path, members: list[tuple[str, bytes, int | None]]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data, mode in members:
            info = zipfile.ZipInfo(name)
            if mode is not None:
                info.external_attr = mode << 16
            zf.writestr(info, data)
    return path


def _snapshot(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


# Each case starts with a harmless member, so a half-done extraction would leave something behind.
TAR_CASES = {
    "dotdot": [_file("ok/a.txt"), _file("../evil.txt")],
    "nested-dotdot": [_file("ok/a.txt"), _file("ok/../../evil.txt")],
    "absolute": [_file("ok/a.txt"), _file("/tmp/evil-abs.txt")],
    "symlink-escape": [_file("ok/a.txt"), _link("ok/link", "../../outside", tarfile.SYMTYPE)],
    "symlink-absolute": [_file("ok/a.txt"), _link("ok/link", "/etc", tarfile.SYMTYPE)],
    "hardlink-escape": [_file("ok/a.txt"), _link("ok/hard", "../outside/secret.txt", tarfile.LNKTYPE)],
    "hardlink-absolute": [_file("ok/a.txt"), _link("ok/hard", "/etc/passwd", tarfile.LNKTYPE)],
    "char-device": [_file("ok/a.txt"), _special("ok/dev", tarfile.CHRTYPE)],
    "block-device": [_file("ok/a.txt"), _special("ok/blk", tarfile.BLKTYPE)],
    "fifo": [_file("ok/a.txt"), _special("ok/fifo", tarfile.FIFOTYPE)],
}


@pytest.mark.parametrize("case", sorted(TAR_CASES))
@pytest.mark.parametrize("compression", ["", "gz"])
def test_malicious_tar_is_refused(tmp_path, case, compression):
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("secret")
    suffix = ".tar" + (f".{compression}" if compression else "")
    archive = _tar(tmp_path / f"bad{suffix}", TAR_CASES[case], "w:" + compression if compression else "w")
    before = _snapshot(tmp_path)
    with pytest.raises(UnsafeArchiveError):
        extract_archive(archive, work / "target")
    assert _snapshot(tmp_path) == before  # nothing written anywhere: no target, no temp folder, no escapee
    assert not Path("/tmp/evil-abs.txt").exists()


def test_symlink_then_write_through_it_is_refused(tmp_path):
    # A link that points inside is allowed, but it must not become a way out later.
    archive = _tar(
        tmp_path / "a.tar",
        [
            _link("inner", "sub", tarfile.SYMTYPE),
            _file("sub/ok.txt"),
            _link("sub/up", "..", tarfile.SYMTYPE),  # resolves to the root: still inside
        ],
    )
    out = extract_archive(archive, tmp_path / "t")
    assert (out / "inner" / "ok.txt").read_bytes() == b"x"
    escape = _tar(tmp_path / "b.tar", [_link("l", "../outside", tarfile.SYMTYPE)])
    with pytest.raises(UnsafeArchiveError, match="outside"):
        extract_archive(escape, tmp_path / "t2")


ZIP_CASES = {
    "dotdot": [("ok/a.txt", b"x", None), ("../evil.txt", b"x", None)],
    "absolute": [("ok/a.txt", b"x", None), ("/tmp/evil-abs.txt", b"x", None)],
    "windows-drive": [("ok/a.txt", b"x", None), ("C:/evil.txt", b"x", None)],
    "backslash-dotdot": [("ok/a.txt", b"x", None), ("ok\\..\\..\\evil.txt", b"x", None)],
    "symlink-escape": [("ok/a.txt", b"x", None), ("ok/link", b"../../outside", stat.S_IFLNK | 0o777)],
    "symlink-absolute": [("ok/a.txt", b"x", None), ("ok/link", b"/etc", stat.S_IFLNK | 0o777)],
    "char-device": [("ok/a.txt", b"x", None), ("ok/dev", b"", stat.S_IFCHR | 0o644)],
    "fifo": [("ok/a.txt", b"x", None), ("ok/fifo", b"", stat.S_IFIFO | 0o644)],
}


@pytest.mark.parametrize("case", sorted(ZIP_CASES))
def test_malicious_zip_is_refused(tmp_path, case):
    work = tmp_path / "work"
    work.mkdir()
    archive = _zip(tmp_path / "bad.zip", ZIP_CASES[case])
    before = _snapshot(tmp_path)
    with pytest.raises(UnsafeArchiveError):
        extract_archive(archive, work / "target")
    assert _snapshot(tmp_path) == before
    assert not Path("/tmp/evil-abs.txt").exists()


def test_failed_extraction_keeps_the_previous_target(tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    (target / "old.txt").write_text("old")
    archive = _tar(tmp_path / "bad.tar", TAR_CASES["dotdot"])
    with pytest.raises(UnsafeArchiveError):
        extract_archive(archive, target)
    assert _snapshot(target) == {"old.txt"}


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_good_tar_is_extracted(tmp_path, mode):
    archive = _tar(
        tmp_path / "good.tar",
        [
            _file("Set/a.png", b"aaa"),
            _file("Set/sub/b.png", b"bbb"),
            _link("Set/c.png", "a.png", tarfile.SYMTYPE),
            _link("Set/d.png", "Set/sub/b.png", tarfile.LNKTYPE),
        ],
        mode,
    )
    target = tmp_path / "target"
    target.mkdir()
    (target / "stale.txt").write_text("replaced")
    out = extract_archive(archive, target)
    assert out == target
    assert (target / "Set/a.png").read_bytes() == b"aaa"
    assert (target / "Set/sub/b.png").read_bytes() == b"bbb"
    assert (target / "Set/c.png").is_symlink() and (target / "Set/c.png").read_bytes() == b"aaa"
    assert (target / "Set/d.png").read_bytes() == b"bbb"
    assert not (target / "stale.txt").exists()  # the target is replaced as a whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.tar", "target"]


def test_good_zip_is_extracted(tmp_path):
    archive = _zip(
        tmp_path / "good.zip",
        [
            ("Set/", b"", stat.S_IFDIR | 0o755),
            ("Set/a.png", b"aaa", None),
            ("Set/sub/b.png", b"bbb", stat.S_IFREG | 0o644),
            ("Set/link.png", b"a.png", stat.S_IFLNK | 0o777),
        ],
    )
    out = extract_archive(archive, tmp_path / "target")
    assert (out / "Set/a.png").read_bytes() == b"aaa"
    assert (out / "Set/sub/b.png").read_bytes() == b"bbb"
    assert (out / "Set/link.png").read_bytes() == b"aaa"


def test_not_an_archive_and_corrupt_archive(tmp_path):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not an archive at all" * 100)
    with pytest.raises(UserError, match="not a zip or tar"):
        extract_archive(junk, tmp_path / "t")
    good = _tar(tmp_path / "g.tar.gz", [_file("a.txt", b"y" * 100_000)], "w:gz")
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(good.read_bytes()[:-200])
    with pytest.raises(UserError):
        extract_archive(cut, tmp_path / "t")
    assert not (tmp_path / "t").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.tar.gz", "g.tar.gz", "junk.zip"]


def test_duplicate_member_last_one_wins(tmp_path):
    archive = _tar(tmp_path / "dup.tar", [_file("a.txt", b"first"), _file("a.txt", b"second")])
    assert (extract_archive(archive, tmp_path / "t") / "a.txt").read_bytes() == b"second"
