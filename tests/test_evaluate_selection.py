"""Image subsets of a real test set: the smallest N (default, the smoke profile) or a seeded random
sample (evaluate.selection: random, the study)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from replication.errors import UserError
from replication.evaluate.runner import select_images
from replication.params import load_params


def _folder(tmp_path, n=10, name="set"):
    d = tmp_path / name
    d.mkdir()
    for i in range(n):
        Image.fromarray(np.zeros((8 + i, 8, 3), np.uint8)).save(d / f"im{i:02d}.png")  # im00 smallest
    return d


def test_smallest_is_unchanged(tmp_path):
    images, subset = select_images(_folder(tmp_path), 3)
    assert [p.name for p in images] == ["im00.png", "im01.png", "im02.png"] and subset == "smallest 3 of 10"
    assert select_images(_folder(tmp_path, name="b"), 0)[1] == "full"


def test_random_is_seeded_reproducible_and_path_independent(tmp_path):
    d = _folder(tmp_path)
    a, label = select_images(d, 4, "random", 0)
    assert label == "random 4 of 10 (seed 0)" and len(a) == 4 and a == sorted(a)
    moved = shutil.copytree(d, tmp_path / "elsewhere")
    assert [p.name for p in select_images(moved, 4, "random", 0)[0]] == [p.name for p in a]
    draws = {tuple(p.name for p in select_images(d, 4, "random", s)[0]) for s in range(20)}
    assert len(draws) > 10  # different seeds, different samples
    counts = {f"im{i:02d}.png": 0 for i in range(10)}
    for s in range(400):
        for p in select_images(d, 3, "random", s)[0]:
            counts[p.name] += 1
    assert min(counts.values()) > 60  # every image is drawn (expected 120 each): not biased to small ones
    with pytest.raises(UserError, match="unknown image selection"):
        select_images(d, 3, "largest")


def test_profiles_selection():
    params = load_params("params.yaml")
    assert params.profiles["smoke"].evaluate.selection == "smallest"  # the CI metrics keep their images
    assert params.profiles["study"].evaluate.selection == "random"
