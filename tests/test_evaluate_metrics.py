"""Metric registry, offline pyiqa staging, the unavailable path and full-reference metrics."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from helpers import require_mirror

from replication.errors import UserError
from replication.evaluate.fullref import psnr_y, ssim_y
from replication.evaluate.pyiqa_metrics import check_pyiqa_metric
from replication.evaluate.registry import METRICS, get_metric, parse_metric_list
from replication.evaluate.scorers import MetricResources, build_scorers
from replication.params import load_params

ROOT = Path(__file__).resolve().parents[1]

EXPECTED_LOWER_BETTER = {
    "niqe": True,
    "brisque": True,
    "ilniqe": True,
    "piqe": True,
    "pi": True,
    "lpips": True,
    "musiq": False,
    "maniqa": False,
    "clipiqa": False,
    "topiq_nr": False,
    "nrqm": False,
    "psnr": False,
    "ssim": False,
    "ringing": True,
    "noise_sigma": True,
    "edge_width": True,
}


@pytest.fixture(scope="module")
def mirror() -> Path:
    return require_mirror("metrics")


def test_registry_lists_every_contract_metric_with_its_direction():
    assert set(METRICS) == set(EXPECTED_LOWER_BETTER)
    for name, lower in EXPECTED_LOWER_BETTER.items():
        assert METRICS[name].lower_better is lower, name
    assert {n for n, s in METRICS.items() if s.kind == "fr"} == {"psnr", "ssim", "lpips", "ringing"}
    for spec in METRICS.values():
        assert spec.backend == "ours" or spec.pyiqa_name, spec.name


def test_metric_list_parsing():
    assert parse_metric_list("niqe, brisque,niqe") == ["niqe", "brisque"]
    with pytest.raises(UserError, match="unknown metric 'nqie'"):
        parse_metric_list("nqie")
    with pytest.raises(UserError, match="known:"):
        get_metric("fid")


def test_missing_weights_are_unavailable_with_the_file_name(tmp_path):
    res = MetricResources(mirror=tmp_path / "no-mirror", torch_home=tmp_path / "torch")
    scorers, unavailable = build_scorers(["musiq", "niqe", "psnr", "topiq_nr"], res)
    assert set(scorers) == {"psnr", "niqe"}  # NIQE's parameters ship with the package
    assert unavailable["musiq"].startswith("unavailable: needs musiq_koniq_ckpt-e95806b9.pth")
    assert unavailable["topiq_nr"].startswith("unavailable: needs cfanet_nr_koniq_res50-9a73138b.pth")
    assert not (tmp_path / "torch" / "hub" / "pyiqa" / "musiq_koniq_ckpt-e95806b9.pth").exists()


def test_present_weights_are_staged_into_the_private_torch_home(tmp_path):
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "musiq_koniq_ckpt-e95806b9.pth").write_bytes(b"placeholder, never loaded here")
    status = check_pyiqa_metric(get_metric("musiq"), [weights], tmp_path / "torch")
    assert status.ok, status.reason
    staged = tmp_path / "torch" / "hub" / "pyiqa" / "musiq_koniq_ckpt-e95806b9.pth"
    assert staged.is_symlink() and staged.resolve() == (weights / "musiq_koniq_ckpt-e95806b9.pth").resolve()
    # pi needs two files: one present is not enough, and the message names the missing one.
    status = check_pyiqa_metric(get_metric("pi"), [weights], tmp_path / "torch")
    assert not status.ok and "NRQM_model.mat" in status.reason


def test_pyiqa_metrics_run_offline_and_never_download(mirror, tmp_path):
    pytest.importorskip("pyiqa")
    res = MetricResources(mirror=mirror, torch_home=tmp_path / "torch")
    scorers, unavailable = build_scorers(["brisque", "piqe"], res)
    assert not unavailable, unavailable
    g = torch.Generator().manual_seed(0)
    img = torch.nn.functional.interpolate(torch.rand(1, 3, 24, 24, generator=g), size=(96, 96), mode="bilinear")
    values = [scorers["brisque"](img), scorers["brisque"](img), scorers["piqe"](img)]
    assert all(math.isfinite(v) for v in values) and values[0] == values[1]
    # The guard: a file pyiqa would fetch from the network is refused with the URL in the message.
    import pyiqa.utils.download_util as du

    from replication.evaluate.pyiqa_metrics import offline_pyiqa

    with offline_pyiqa(tmp_path / "torch"), pytest.raises(UserError, match="tried to download https://"):
        du.load_file_from_url("https://example.invalid/NRQM_model.mat")
    assert str(tmp_path / "torch" / "hub" / "pyiqa") != du.DEFAULT_CACHE_DIR  # restored


def _gray(value: float, h: int = 40, w: int = 40) -> torch.Tensor:
    return torch.full((1, 3, h, w), value, dtype=torch.float32)


def test_psnr_on_y_matches_the_closed_form():
    # Gray RGB g has Y = 16 + 219 g (BT.601 studio swing), so a difference d gives 219 d on Y.
    d = 0.1
    expected = 10 * math.log10(255.0**2 / (219.0 * d) ** 2)
    assert psnr_y(_gray(0.5), _gray(0.5 + d), crop_border=4) == pytest.approx(expected, abs=1e-4)
    assert psnr_y(_gray(0.3), _gray(0.3)) == math.inf
    with pytest.raises(UserError, match="sizes differ"):
        psnr_y(_gray(0.5), _gray(0.5, 40, 44))


def test_ssim_matches_scikit_image_gaussian_ssim():
    metrics = pytest.importorskip("skimage.metrics")
    g = torch.Generator().manual_seed(1)
    a = torch.rand(1, 3, 48, 40, generator=g)
    b = (a + 0.1 * torch.randn(1, 3, 48, 40, generator=g)).clamp(0, 1)
    ours = ssim_y(a, b, crop_border=0)
    ya = (16 + 65.481 * a[0, 0] + 128.553 * a[0, 1] + 24.966 * a[0, 2]).double().numpy()
    yb = (16 + 65.481 * b[0, 0] + 128.553 * b[0, 1] + 24.966 * b[0, 2]).double().numpy()
    ref = metrics.structural_similarity(
        ya, yb, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert ours == pytest.approx(ref, abs=1e-6)
    assert ssim_y(a, a) == pytest.approx(1.0)
    assert 0 < ours < 1


def test_params_reject_an_unknown_metric_name(tmp_path):
    from replication.strict import ParamsError

    text = (ROOT / "params.yaml").read_text()
    assert "metrics: [niqe, brisque]" in text
    bad = tmp_path / "params.yaml"
    bad.write_text(text.replace("metrics: [niqe, brisque]", "metrics: [niqe, brisqe]", 1))
    from replication.params_check import check_params

    params = load_params(bad)  # each part's own rules pass: metric names are a registry rule
    with pytest.raises(ParamsError, match=r"profiles\.smoke\.evaluate\.metrics\[1\]: unknown metric 'brisqe'"):
        check_params(params)
