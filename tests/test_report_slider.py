"""The before/after comparison slider: data collection, self-contained HTML, and a headless-browser run."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from replication.imageio import write_image
from replication.report.document import Document, Heading, RawHtml, to_html, to_markdown
from replication.report.slider import collect, default_pair, slider_html, slider_models

VARIANTS = ("full", "first_order")


def _results(tmp_path: Path) -> tuple[list[Path], Path]:
    """A checkerboard LR image and four models' x4 outputs of it (one model lacks image b)."""
    y, x = torch.meshgrid(torch.arange(32), torch.arange(40), indexing="ij")
    lr = ((x // 8 + y // 8) % 2).float().expand(1, 3, 32, 40) * 0.6 + 0.2
    lrs = [write_image(tmp_path / "lr" / f"{n}.png", lr) for n in ("a", "b")]
    res = tmp_path / "results"
    outputs = {
        "bicubic": F.interpolate(lr, scale_factor=4, mode="bicubic").clamp(0, 1),
        "full-s1": F.interpolate(lr, scale_factor=4, mode="nearest") * 0.5,
        "full-s0": F.interpolate(lr, scale_factor=4, mode="nearest"),
        "first_order-s0-net": 1 - F.interpolate(lr, scale_factor=4, mode="nearest"),
        "realesrgan_x4plus": F.interpolate(lr, scale_factor=4, mode="bilinear"),
    }
    for model, img in outputs.items():
        for lr_path in lrs:
            if model == "realesrgan_x4plus" and lr_path.stem == "b":
                continue
            write_image(res / model / "realsrset" / "images" / lr_path.name, img)
    return lrs, res


def test_models_are_ordered_with_one_seed_per_run(tmp_path):
    _, res = _results(tmp_path)
    dirs = slider_models(res, "realsrset", VARIANTS, ("realesrgan_x4plus",))
    assert list(dirs) == ["bicubic", "realesrgan_x4plus", "full-s0", "first_order-s0-net"]
    assert slider_models(tmp_path / "missing", "realsrset", VARIANTS, ()) == {}
    assert default_pair(list(dirs)) == ("bicubic", "realesrgan_x4plus")
    assert default_pair(["full-s0", "no_sinc-s0"]) == ("full-s0", "no_sinc-s0")


def test_html_is_self_contained_and_deterministic(tmp_path):
    lrs, res = _results(tmp_path)
    dirs = slider_models(res, "realsrset", VARIANTS, ("realesrgan_x4plus",))
    images = collect("realsrset", lrs, dirs, crop=64, max_images=5)
    assert [im.label for im in images] == ["realsrset/a.png", "realsrset/b.png"]
    assert [m for m, _ in images[1].crops] == ["bicubic", "full-s0", "first_order-s0-net"]  # b: no baseline
    page = slider_html(images)
    assert page == slider_html(collect("realsrset", lrs, dirs, crop=64, max_images=5))
    assert not re.search(r'(src|href)="(?!data:)', page) and "http" not in page
    data = json.loads(re.search(r'id="cmp-data">(.*?)</script>', page).group(1).replace("<\\/", "</"))
    assert data["left"] == "bicubic" and len(data["images"]) == 2
    assert all(uri.startswith("data:image/png;base64,") for _, uri in data["images"][0]["models"])
    md, _ = to_markdown(Document("t", [RawHtml(page, "see report.html")]), "static")
    assert "see report.html" in md and "<script" not in md


def _chromium() -> str | None:
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


@pytest.mark.skipif(_chromium() is None, reason="no chromium (apt-get install chromium) for the headless check")
@pytest.mark.slow
def test_slider_runs_in_a_headless_browser(tmp_path):
    lrs, res = _results(tmp_path)
    dirs = slider_models(res, "realsrset", VARIANTS, ("realesrgan_x4plus",))
    images = collect("realsrset", lrs, dirs, crop=64, max_images=5)
    page = tmp_path / "report.html"
    page.write_text(to_html(Document("slider", [Heading("Compare"), RawHtml(slider_html(images), "")])))

    def dom(fragment: str = "") -> str:
        cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri() + fragment]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout

    default = dom()
    # The script filled the menus and set both images and the wipe position.
    assert default.count('<option value="bicubic">') == 2  # left and right menus
    assert re.search(r'id="cmp-a"[^>]*src="data:image/png;base64,', default)
    assert "inset(0px 50% 0px 0px)" in default
    assert '<span id="cmp-name-a">← bicubic</span>' in default
    # A link to a view: image b, first_order vs full, wiped at 30 %.
    linked = dom("#cmp=1,first_order-s0-net,full-s0,30")
    assert "inset(0px 70% 0px 0px)" in linked
    assert '<span id="cmp-name-a">← first_order-s0-net</span>' in linked
    assert '<span id="cmp-name-b">full-s0 →</span>' in linked
    assert linked.count('<option value="realesrgan_x4plus">') == 0  # image b has no baseline output
