"""The ringing/overshoot measure on edges with and without synthetic ringing."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from replication.degrade.filters import filter2d
from replication.degrade.kernels import gaussian_family_kernels, sinc_kernels
from replication.errors import UserError
from replication.evaluate.bicubic import bicubic_upscale
from replication.evaluate.matlab_resize import imresize
from replication.evaluate.ringing import ringing_y
from replication.evaluate.scorers import MetricResources, build_scorers


def _edges(n: int = 96) -> torch.Tensor:
    """A vertical step (0.2 | 0.8) with a mid-grey bar crossing it: straight edges, two contrasts."""
    y, x = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    img = torch.where(x < n // 2, 0.2, 0.8).double()
    img = torch.where((y > 20) & (y < 40) & (x > 10) & (x < 80), 0.5, img)
    return img.expand(1, 3, n, n).clone()


def _sinc(img: torch.Tensor, omega: float, size: int = 21) -> torch.Tensor:
    return filter2d(img, sinc_kernels(torch.tensor([omega]), torch.tensor([size]), size)[0])


def _gauss(img: torch.Tensor, sigma: float, size: int = 21) -> torch.Tensor:
    s = torch.tensor([sigma], dtype=torch.float64)
    k = gaussian_family_kernels(
        torch.tensor([0]), s, s, torch.tensor([0.0]), torch.tensor([1.0]), torch.tensor([size]), size
    )[0]
    return filter2d(img, k)


def test_the_ground_truth_itself_has_no_ringing():
    gt = _edges()
    assert ringing_y(gt, gt) == 0.0


def test_a_blur_is_not_ringing_but_a_sinc_filtered_edge_is():
    gt = _edges()
    mild_blur = ringing_y(_gauss(gt, 1.0), gt)
    strong_blur = ringing_y(_gauss(gt, 2.0), gt)
    sinc = ringing_y(_sinc(gt, math.pi / 2), gt)
    assert mild_blur < 0.01  # % of the edge contrast
    assert strong_blur < 0.5
    assert sinc > 2.0 and sinc > 5 * strong_blur


def test_monotonic_in_the_ringing_amplitude():
    # Blend a blurred edge with a sinc-filtered one: more sinc component, more ringing.
    gt = _edges()
    blur, sinc = _gauss(gt, 1.5), _sinc(gt, math.pi / 3)
    values = [ringing_y(blur + a * (sinc - blur), gt) for a in (0.25, 0.5, 1.0, 1.5, 2.0)]
    assert all(b > a for a, b in itertools.pairwise(values)), values


def test_monotonic_in_the_cutoff():
    # A lower sinc cut-off puts the Gibbs lobes further from the edge and makes them larger in the band.
    gt = _edges()
    values = [ringing_y(_sinc(gt, w), gt) for w in (math.pi / 2, math.pi / 3, math.pi / 5)]
    assert all(b > a for a, b in itertools.pairwise(values)), values


def test_ringing_in_the_low_resolution_input_survives_upscaling():
    # The claim's setting: a x4 output of an LR image that was sinc filtered vs one that was not.
    gt = _edges(128).float()
    lr = imresize(gt, 0.25, antialias=True)
    clean = bicubic_upscale(lr, 4)
    ringed = bicubic_upscale(_sinc(lr.double(), math.pi / 3, size=11).float().clamp(0, 1), 4)
    assert ringing_y(ringed, gt) > ringing_y(clean, gt) + 1.0


def test_an_image_without_strong_edges_is_undefined_and_bad_pairs_are_refused():
    flat = torch.full((1, 3, 48, 48), 0.5)
    assert math.isnan(ringing_y(flat, flat))
    with pytest.raises(UserError, match="sizes differ"):
        ringing_y(flat, torch.zeros(1, 3, 40, 48))
    with pytest.raises(UserError, match="leaves no pixels"):
        ringing_y(flat, flat, crop_border=24)


def test_registered_as_a_full_reference_metric():
    scorers, unavailable = build_scorers(["ringing"], MetricResources(fr_crop_border=4))
    assert not unavailable and scorers["ringing"].spec.kind == "fr" and scorers["ringing"].spec.lower_better
    gt = _edges()
    assert scorers["ringing"](_sinc(gt, math.pi / 3).float(), gt.float()) > 2.0
    with pytest.raises(UserError, match="reference"):
        scorers["ringing"](gt.float(), None)


def test_real_photos_ring_more_with_a_lower_sinc_cutoff():
    from helpers import mirror_dir

    from replication.imageio import read_image

    hr_dir = mirror_dir() / "datasets" / "set14" / "HR"
    files = sorted(hr_dir.glob("*.png"))[:3] if hr_dir.is_dir() else []
    if not files:
        pytest.skip(f"{hr_dir}: Set14 HR images not in the offline mirror")
    for path in files:
        gt = read_image(path).rgb
        h, w = gt.shape[-2:]
        gt = gt[..., : h // 4 * 4, : w // 4 * 4]
        lr = imresize(gt, 0.25, antialias=True).clamp(0, 1)
        ringed = [lr] + [_sinc(lr.double(), c, size=11).float().clamp(0, 1) for c in (math.pi / 2, math.pi / 3)]
        values = [ringing_y(bicubic_upscale(x, 4), gt, crop_border=4) for x in ringed]
        assert all(b > a for a, b in itertools.pairwise(values)), (path.name, values)
