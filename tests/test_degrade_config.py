"""The ``degradation:`` section: every profile loads; bad values are errors that name the key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from replication.degrade.config import DegradationConfig
from replication.strict import ParamsError, from_dict

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def _load(section: dict, profile: str = "paper") -> DegradationConfig:
    return from_dict(DegradationConfig, section, f"profiles.{profile}.degradation")


def test_every_profile_loads_and_paper_holds_the_reference_values(raw):
    cfgs = {p: _load(raw["profiles"][p]["degradation"], p) for p in ("smoke", "study", "study-gpu", "paper")}
    paper = cfgs["paper"]
    assert paper.gt_crop == 400 and paper.pool_size == 180
    assert paper.blur1.kernel_probs == (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
    assert paper.blur1.sigma == (0.2, 3.0) and paper.blur2.sigma == (0.2, 1.5)
    assert (paper.blur1.sinc_prob, paper.blur2.sinc_prob, paper.final_sinc_prob) == (0.1, 0.1, 0.8)
    assert paper.resize1.probs == (0.2, 0.7, 0.1) and paper.resize2.range == (0.3, 1.2)
    assert paper.noise1.gaussian_sigma == (1.0, 30.0) and paper.noise2.poisson_scale == (0.05, 2.5)
    assert paper.second_blur_prob == 0.8 and paper.jpeg1 == paper.jpeg2 == (30.0, 95.0)
    assert (paper.usm.kernel_size, paper.usm.weight, paper.usm.threshold) == (51, 0.5, 10.0)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["blur1"].update(kernel_probs=[0.5, 0.5, 0.5, 0, 0, 0]), r"blur1: kernel_probs must .* sum to 1"),
        (
            lambda d: d["blur2"].update(kernel_types=["iso", "aniso", "box", "a", "b", "c"]),
            r"blur2: kernel_types: unknown type 'box'",
        ),
        (lambda d: d["blur1"].update(kernel_sizes=[7, 8]), r"blur1: kernel_sizes must hold odd"),
        (lambda d: d["resize1"].update(range=[1.5, 0.15]), r"resize1: range must"),
        (lambda d: d["resize2"].update(modes=["area", "lanczos"]), r"resize2: modes: unknown mode 'lanczos'"),
        (lambda d: d["noise1"].update(gray_prob=1.4), r"noise1: gray_prob must be a probability"),
        (lambda d: d.update(jpeg2=[30.0, 100.0]), r"jpeg2 must not go above 99"),
        (lambda d: d.update(gt_crop=64), r"gt_crop 64 is too small"),
        (lambda d: d["bsrgan"].update(noise_color_prob=0.7), r"noise_color_prob \+ noise_gray_prob"),
        (lambda d: d["noise2"].pop("gray_field_shared"), r"noise2\.gray_field_shared: missing key"),
    ],
)
def test_bad_values_name_the_key(raw, edit, message):
    section = copy.deepcopy(raw["profiles"]["paper"]["degradation"])
    edit(section)
    with pytest.raises(ParamsError, match=message):
        _load(section)
