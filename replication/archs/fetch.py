"""``weights fetch``: obtain a registry model and convert it to our checkpoint format.

Source order with ``source='auto'``: the exact official ``.pth`` if it is already at hand (earlier
download or the offline mirror), else the mirror's official ncnn copy (fp16-rounded), else a
``.pth`` download from the registry URLs. Everything is checksum-verified before use.
``manual`` entries (browser-only hosts) are imported from where the user put the file by hand:
``<manual>/weights/<filename>`` (the pipeline passes ``data/manual``), else the mirror's ``weights/``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Literal

from replication.archs.checkpoint import read_sidecar
from replication.archs.ncnn_import import import_ncnn
from replication.archs.pth_import import import_pth
from replication.archs.weights_registry import WeightsEntry, get
from replication.errors import UserError
from replication.fetcher import ManualDownloadRequired, fetch_file
from replication.fsutil import sha256_file

Source = Literal["auto", "pth", "ncnn"]


def _fetch_pth(entry: WeightsEntry, dest: Path, mirror: Path | None, offline_only: bool, progress: bool) -> Path:

    pth = entry.pth
    assert pth is not None  # callers only fetch entries with a .pth source
    urls = () if offline_only else pth.urls
    return fetch_file(
        dest,
        urls,
        sha256=pth.sha256,
        size=pth.size,
        mirror=mirror,
        mirror_relpaths=[pth.mirror_relpath],
        progress=progress,
        manual_hint=pth.manual_hint or None,
    )


def _ncnn_paths(entry: WeightsEntry, mirror: Path | None) -> tuple[Path, Path] | None:
    """The mirror's ncnn files of ``entry`` after checking their sha256, or None when absent."""
    if entry.ncnn is None or mirror is None:
        return None
    param, binary = mirror / entry.ncnn.param, mirror / entry.ncnn.bin
    if not (param.is_file() and binary.is_file()):
        return None
    for path, want in ((param, entry.ncnn.param_sha256), (binary, entry.ncnn.bin_sha256)):
        got = sha256_file(path)
        if got != want:
            raise UserError(f"mirror file {path} is corrupt or tampered: sha256 {got}, expected {want}; not used")
    return param, binary


def fetch_weights(
    name: str,
    out: str | os.PathLike,
    *,
    mirror: str | os.PathLike | None,
    source: Source = "auto",
    progress: bool = True,
    manual: str | os.PathLike | None = None,
) -> Path:
    """Make ``out`` (.safetensors + sidecar; ``.pth`` for the VGG19 extractor) hold registry model ``name``.

    A downloaded ``.pth`` is kept beside ``out`` under its official file name (re-runs skip it).
    """

    entry = get(name)
    out = Path(out)
    mirror = Path(mirror) if mirror else None
    if entry.availability == "unavailable":
        hint = f" By hand: {entry.pth.manual_hint}." if entry.pth and entry.pth.manual_hint else ""
        raise UserError(f"{name}: {entry.reason}.{hint}")
    if entry.availability == "manual":
        return _import_manual(entry, out, mirror, Path(manual) if manual else None)
    if entry.arch == "vgg19":
        return _fetch_vgg(entry, out, mirror, progress)
    if not entry.is_generator:
        raise UserError(f"{name}: architecture {entry.arch!r} cannot be fetched")
    if out.suffix != ".safetensors":
        raise UserError(f"{out}: --out must be a .safetensors file")
    extra = {"registry_name": name, "title": entry.title}
    pth_dest = out.parent / entry.pth.filename if entry.pth else None

    def from_pth(offline_only: bool) -> Path:

        assert entry.pth is not None and pth_dest is not None  # only called for entries with a .pth source
        pth = _fetch_pth(entry, pth_dest, mirror, offline_only, progress)
        verified = entry.pth.sha256 is not None
        return import_pth(
            pth,
            out,
            entry.arch,
            extra={**extra, "sha256_verified": verified, "urls": list(entry.pth.urls)},
            **entry.hyperparameters,
        )

    if source in ("auto", "pth") and entry.pth is not None:
        try:
            return from_pth(offline_only=(source == "auto"))
        except ManualDownloadRequired:
            if source == "pth":
                raise
    if source in ("auto", "ncnn"):
        paths = _ncnn_paths(entry, mirror)
        if paths is not None:
            return import_ncnn(
                paths[0],
                paths[1],
                entry.arch,
                out,
                extra={**extra, "ncnn_origin": entry.ncnn.origin if entry.ncnn else None},
                **entry.hyperparameters,
            )
        if source == "ncnn":
            where = f"{mirror}/{entry.ncnn.bin}" if entry.ncnn and mirror else "(no ncnn copy known)"
            raise UserError(f"{name}: ncnn files not found: {where}")
    if entry.pth is not None and entry.pth.urls:
        return from_pth(offline_only=False)
    raise UserError(f"{name}: no source reachable ({entry.reason})")


def _import_manual(entry: WeightsEntry, out: Path, mirror: Path | None, manual: Path | None) -> Path:
    """Import a hand-placed official ``.pth``; a clear 'not available' naming the path when it is absent."""

    if out.suffix != ".safetensors":
        raise UserError(f"{out}: --out must be a .safetensors file")
    assert entry.pth is not None  # manual entries describe their official .pth
    places = [root / entry.pth.mirror_relpath for root in (manual, mirror) if root is not None]
    found = next((p for p in places if p.is_file()), None)
    if found is None:
        where = " or ".join(str(p) for p in places) or f"<manual dir>/{entry.pth.mirror_relpath}"
        raise ManualDownloadRequired(
            f"{entry.name}: not available here: put the official {entry.pth.filename} at {where} "
            f"(download by hand: {entry.pth.manual_hint})"
        )
    extra = {"registry_name": entry.name, "title": entry.title, "sha256_verified": False}
    path = import_pth(found, out, entry.arch, extra=extra, mirror=mirror, **entry.hyperparameters)
    if read_sidecar(path)["extra"].get("pca_matches_mirror") is False:
        print(f"warning: {found}: its PCA basis differs from the official one in the mirror", file=sys.stderr)
    return path


def _fetch_vgg(entry: WeightsEntry, out: Path, mirror: Path | None, progress: bool) -> Path:

    if out.suffix != ".pth":
        raise UserError(f"{out}: the VGG19 extractor weights are kept as torchvision's .pth; use --out FILE.pth")
    assert entry.pth is not None  # the VGG19 entry is a .pth download
    path = fetch_file(
        out,
        entry.pth.urls,
        sha256=entry.pth.sha256,
        size=entry.pth.size,
        mirror=mirror,
        mirror_relpaths=[entry.pth.mirror_relpath],
        progress=progress,
    )
    prefix = entry.pth.sha256_prefix
    got = sha256_file(path)
    if prefix and not got.startswith(prefix):
        bad = path.with_name(path.name + f".bad-{got[:8]}")
        os.replace(path, bad)
        raise UserError(f"{path.name}: sha256 {got} does not start with the published prefix {prefix}; moved to {bad}")
    return path
