"""Preparation on real mirror photos: multi-scale + sub-image counts and sizes, shards, SubImageStore."""

from __future__ import annotations

import math
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import require_mirror
from PIL import Image

from replication.cli import main
from replication.data.config import DataConfig
from replication.data.prepare import crop_positions, prepare_subimages
from replication.data.subimages import SubImageStore
from replication.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
# food.png is RGBA 512x321, woman.png RGB 426x636: small, and one exercises alpha dropping.
NAMES = ["food.png", "woman.png"]


def _mirror_set() -> Path:
    return require_mirror(*(f"datasets/sample-hr-cc0/{n}" for n in NAMES)) / "datasets" / "sample-hr-cc0"


def _cfg(**kw) -> DataConfig:
    base = {
        "train_sets": ("sample-hr-cc0",),
        "multiscale_sets": ("sample-hr-cc0",),
        "multiscale_factors": (0.5,),
        "multiscale_shortest_edge": 100,
        "crop_size": 128,
        "crop_step": 96,
        "thresh_size": 20,
        "shard_size": 25,
    }
    base.update(kw)
    return DataConfig(**base)


def _starts(length: int, crop: int, step: int, thresh: int) -> list[tuple[int, int]]:
    """The recipe written out independently: a while loop instead of range()."""
    if length < crop:
        return [(0, length)]
    out, pos = [], 0
    while pos + crop <= length:
        out.append((pos, crop))
        pos += step
    last_end = out[-1][0] + crop
    if length - last_end > thresh:
        out.append((length - crop, crop))
    return out


def _expected(cfg: DataConfig, folder: Path) -> list[tuple[str, tuple[int, int, int], np.ndarray]]:
    """(member, shape, pixels) of every sub-image, in order, computed without the package."""
    out = []
    for name in NAMES:
        img = Image.open(folder / name)
        img.load()
        rgb = img.convert("RGB")  # drops alpha of food.png
        w, h = rgb.size
        variants = [("", rgb)]
        for i, f in enumerate(cfg.multiscale_factors):
            variants.append((f"T{i}", rgb.resize((int(w * f), int(h * f)), Image.LANCZOS)))
        e = cfg.multiscale_shortest_edge
        size = (e, int(e * h / w)) if w < h else (int(e * w / h), e)
        variants.append((f"T{len(cfg.multiscale_factors)}", rgb.resize(size, Image.LANCZOS)))
        for suffix, v in variants:
            arr = np.asarray(v)
            k = 0
            for y, ch in _starts(arr.shape[0], cfg.crop_size, cfg.crop_step, cfg.thresh_size):
                for x, cw in _starts(arr.shape[1], cfg.crop_size, cfg.crop_step, cfg.thresh_size):
                    k += 1
                    member = f"sample-hr-cc0/{Path(name).stem}{suffix}_s{k:03d}.png"
                    out.append((member, (ch, cw, 3), arr[y : y + ch, x : x + cw]))
    return out


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    folder = _mirror_set()
    cfg = _cfg()
    out = tmp_path_factory.mktemp("prep") / "train"
    summary = prepare_subimages(
        {"sample-hr-cc0": [folder / n for n in NAMES]}, {"sample-hr-cc0": folder}, cfg, out, workers=1, progress=False
    )
    return folder, cfg, out, summary


def test_crop_positions_follow_the_recipe():
    assert crop_positions(512, 128, 96, 20) == [(0, 128), (96, 128), (192, 128), (288, 128), (384, 128)]
    assert crop_positions(321, 128, 96, 20) == [(0, 128), (96, 128), (192, 128)]  # border of 1 px <= 20: dropped
    assert crop_positions(350, 128, 96, 20) == [(0, 128), (96, 128), (192, 128), (222, 128)]  # 30 > 20: kept
    assert crop_positions(350, 128, 96, 30) == [(0, 128), (96, 128), (192, 128)]  # strictly greater
    assert crop_positions(100, 128, 96, 0) == [(0, 100)]  # smaller than a crop: kept whole
    assert crop_positions(1356, 400, 200, 0)[-1] == (956, 400)  # a DIV2K height: last crop flush with the edge


def test_counts_names_and_sizes_match_the_recipe(prepared):
    folder, cfg, out, summary = prepared
    expected = _expected(cfg, folder)
    meta = (out / "meta_info.txt").read_text().splitlines()
    assert summary.sub_images == len(expected) == len(meta)
    assert summary.source_images == 2
    shards = sorted((out / "shards").iterdir())
    assert [p.name for p in shards] == [f"{i:06d}.tar" for i in range(math.ceil(len(expected) / cfg.shard_size))]
    members = []
    for i, shard in enumerate(shards):
        with tarfile.open(shard) as tf:
            names = tf.getnames()
        assert len(names) == (cfg.shard_size if i < len(shards) - 1 else len(expected) - cfg.shard_size * i)
        members += [f"shards/{shard.name}/{n}" for n in names]
    want = [f"{m} ({s[0]},{s[1]},{s[2]})" for (m, s, _) in expected]
    assert [line.split("/", 2)[2] for line in meta] == list(want)  # member + shape, in order
    assert [line.split(" ")[0] for line in meta] == members
    # the recipe's special cases occur in this data: a kept border and an axis smaller than a crop
    shapes = {s for _, s, _ in expected}
    assert (100, 128, 3) in shapes or (128, 100, 3) in shapes


def test_store_round_trip_is_lossless(prepared):
    folder, cfg, out, _ = prepared
    expected = _expected(cfg, folder)
    store = SubImageStore(out)
    assert len(store) == len(expected)
    assert [n.split("/", 2)[2] for n in store.names] == [m for m, _, _ in expected]
    for i in [0, 7, len(expected) // 2, len(expected) - 1]:
        img = store.read(i)
        assert img.dtype == torch.float32 and img.shape == (3, *expected[i][1][:2])
        want = torch.from_numpy(expected[i][2].astype(np.float32) / 255).permute(2, 0, 1)
        assert torch.equal(img, want), store.names[i]


def test_offset_index_matches_the_tar_headers(prepared):
    _, _, out, _ = prepared
    fast, scanned = SubImageStore(out), SubImageStore(out, use_index=False)
    assert (out / "index.tsv").is_file()
    assert fast._where == scanned._where
    assert fast.read_bytes(len(fast) - 1) == scanned.read_bytes(len(fast) - 1)


class _AsDataset(torch.utils.data.Dataset):
    def __init__(self, store):
        self.store = store

    def __len__(self):
        return len(self.store)

    def __getitem__(self, i):
        return self.store.read(i)


def test_store_works_in_forked_and_spawned_workers(prepared):
    _, _, out, _ = prepared
    store = SubImageStore(out)
    local = [store.read(i) for i in range(len(store))]  # opens descriptors before the fork
    loader = torch.utils.data.DataLoader(
        _AsDataset(store), batch_size=None, num_workers=2, multiprocessing_context="fork"
    )
    remote = list(loader)
    assert len(remote) == len(local)
    assert all(torch.equal(a, b) for a, b in zip(remote, local, strict=True))
    clone = pickle.loads(pickle.dumps(store))  # what a spawned worker receives
    assert torch.equal(clone.read(3), store.read(3))


def test_output_is_deterministic_across_worker_counts(tmp_path):
    folder = _mirror_set()
    cfg = _cfg(multiscale_sets=(), crop_size=160, crop_step=160, shard_size=7)
    images = {"sample-hr-cc0": [folder / n for n in NAMES]}
    a = prepare_subimages(images, {"sample-hr-cc0": folder}, cfg, tmp_path / "a", workers=1, progress=False)
    b = prepare_subimages(images, {"sample-hr-cc0": folder}, cfg, tmp_path / "b", workers=2, progress=False)
    assert a.sub_images == b.sub_images > cfg.shard_size
    for rel in ["meta_info.txt", *[f"shards/{p.name}" for p in (tmp_path / "a/shards").iterdir()]]:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_bad_image_leaves_previous_output_intact(tmp_path):
    folder = _mirror_set()
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.png").write_bytes((folder / "food.png").read_bytes())
    (src / "b.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "meta_info.txt").write_text("previous\n")
    with pytest.raises(UserError, match=r"b\.png"):
        prepare_subimages(
            {"s": [src / "a.png", src / "b.png"]},
            {"s": src},
            _cfg(train_sets=("s",), multiscale_sets=()),
            out,
            workers=1,
            progress=False,
        )
    assert (out / "meta_info.txt").read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"]  # no partial folder left


def test_cli_prepare_from_downloaded_set(tmp_path, capsys):
    mirror = _mirror_set().parents[1]
    raw = tmp_path / "raw"
    assert main(["download", "ost300-hr-samples", "--root", str(raw), "--mirror", str(mirror), "--quiet"]) == 0
    text = (ROOT / "params.yaml").read_text()
    smoke_data = text.split("  smoke:")[1].split("    degradation:")[0]
    new_data = smoke_data
    for old, new in [
        ("train_sets: [sample-hr-cc0]", "train_sets: [ost300-hr-samples]"),
        ("multiscale_sets: [sample-hr-cc0]", "multiscale_sets: []"),
        ("crop_size: 400", "crop_size: 256"),
        ("crop_step: 200", "crop_step: 256"),
        ("shard_size: 1000", "shard_size: 5"),
    ]:
        assert old in new_data
        new_data = new_data.replace(old, new)
    params = tmp_path / "params.yaml"
    params.write_text(text.replace(smoke_data, new_data, 1))
    out = tmp_path / "prepared"
    assert (
        main(
            [
                "prepare",
                "--params",
                str(params),
                "--profile",
                "smoke",
                "--raw",
                str(raw),
                "--out",
                str(out),
                "--workers",
                "1",
                "--quiet",
            ]
        )
        == 0
    )
    # OST_013 640x480, OST_159 984x736, OST_215 720x536; crop 256 step 256 thresh 0 -> per axis 1 + ceil((L-256)/256)
    want = sum(
        (1 + math.ceil((w - 256) / 256)) * (1 + math.ceil((h - 256) / 256))
        for w, h in [(640, 480), (984, 736), (720, 536)]
    )
    assert len(SubImageStore(out)) == want
    assert f"{want} sub-images from 3 images" in capsys.readouterr().out


def test_missing_training_set_is_a_clear_error(tmp_path, capsys):
    assert (
        main(
            [
                "prepare",
                "--params",
                str(ROOT / "params.yaml"),
                "--raw",
                str(tmp_path / "raw"),
                "--out",
                str(tmp_path / "o"),
                "--quiet",
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "sample-hr-cc0" in err and "replication download" in err


def test_load_rgb8_drops_alpha_and_reduces_16_bit(tmp_path):
    import cv2

    from replication.imageio import load_rgb8

    rng = np.random.default_rng(0)
    gray16 = rng.integers(0, 65536, (5, 7), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "g16.png"), gray16)
    got = np.asarray(load_rgb8(tmp_path / "g16.png"))
    assert got.shape == (5, 7, 3) and np.array_equal(got[:, :, 1], (gray16 >> 8).astype(np.uint8))
    rgba = rng.integers(0, 256, (4, 6, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    assert np.array_equal(np.asarray(load_rgb8(tmp_path / "a.png")), rgba[:, :, :3])  # not composited
    la = rng.integers(0, 256, (3, 3, 2), dtype=np.uint8)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    assert np.array_equal(np.asarray(load_rgb8(tmp_path / "la.png")), np.repeat(la[:, :, :1], 3, axis=2))


def test_data_config_rejects_unknown_or_bad_values():
    from replication.strict import ParamsError, from_dict, to_dict

    good = to_dict(_cfg())
    assert from_dict(DataConfig, good, "data") == _cfg()
    # registry names are checked by `replication params --check` (tests/test_params_check.py), not here
    from_dict(DataConfig, {**good, "train_sets": ["nope"], "multiscale_sets": []}, "data")
    with pytest.raises(ParamsError, match="thresh_size"):
        from_dict(DataConfig, {**good, "thresh_size": -1}, "data")
