"""The HTML report in a real browser at a 1400 px wide window: no table, figure or widget is wider than the
page column (nothing clipped or scrolled sideways). Headless Chromium; skipped where it is not installed."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import torch

from replication.artifacts.metrics_table import SUMMARY_COLUMNS
from replication.imageio import write_image
from replication.params import load_params
from replication.report.curves import Curve
from replication.report.document import Document, Table, to_html
from replication.report.grids import Grid, grid_rows, render_grid
from replication.report.render import ReportInputs, build_report

ROOT = Path(__file__).resolve().parents[1]
WIDTH = 1400
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# Appended to the page: after load, list every block element that sticks out of the body's content box
# or scrolls sideways, and whether the page itself scrolls sideways; the result goes into the DOM that
# --dump-dom prints.
CHECK = """<script>
window.addEventListener('load', function () {
  var root = document.documentElement, body = document.body, style = getComputedStyle(body);
  var right = body.getBoundingClientRect().right - parseFloat(style.paddingRight) + 1;
  var bad = [];
  if (root.scrollWidth > root.clientWidth) bad.push('page scrolls: ' + root.scrollWidth + ' > ' + root.clientWidth);
  document.querySelectorAll('table, figure, img, details, .cmp, ul, p, h1, h2, h3').forEach(function (el) {
    var r = el.getBoundingClientRect();
    if (r.width === 0) return;
    if (r.right > right || el.scrollWidth > el.clientWidth + 1)
      bad.push(el.tagName.toLowerCase() + ' right ' + Math.round(r.right) + ' > ' + Math.round(right));
  });
  var out = document.createElement('pre');
  out.id = 'overflow-check';
  out.textContent = JSON.stringify(bad);
  body.appendChild(out);
});
</script>"""


def _browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no Chromium/Chrome installed (apt-get install chromium)")


def overflowing(page: str, tmp_path: Path) -> list[str]:
    """What sticks out of the page column of ``page`` at a ``WIDTH`` px window, per the browser."""
    path = tmp_path / "page.html"
    path.write_text(page.replace("</body>", CHECK + "</body>"), encoding="utf-8")
    proc = subprocess.run(
        [
            _browser(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--window-size={WIDTH},1000",
            "--virtual-time-budget=5000",
            "--dump-dom",
            path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    found = re.search(r'<pre id="overflow-check">(.*?)</pre>', proc.stdout, re.S)
    assert found, f"the browser printed no check result:\n{proc.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1)))


def _study_like_inputs(tmp_path: Path) -> ReportInputs:
    """A report of the study's shape: every variant x 3 seeds and both phases, the paper's Table 1 columns
    and ours, a grid of many panels and every training curve."""
    params = load_params(ROOT / "params.yaml", profile="study")
    p = params.active
    models = [*p.evaluate.baselines]
    models += [f"{v}-s{s}" for v in params.variants for s in p.seeds]
    models += [f"{v}-s{s}-net" for v in params.variants for s in p.seeds]
    rows = []
    for i, model in enumerate(models):
        source = "bicubic" if model == "bicubic" else "retrained-study"
        for dataset in p.evaluate.test_sets:
            for metric in ("niqe", "brisque"):
                rows.append(
                    (model, source, "study", dataset, "smallest 6 of 20", metric, True, 6, 0, 5 + i / 10, 1, 4, 6)
                )
        for metric in ("psnr", "ssim", "ringing"):
            rows.append((model, source, "study", "val-set14", "full", metric, False, 28, 0, 20 + i / 10, 1, 19, 21))
    summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    gen = torch.Generator().manual_seed(0)
    lr = write_image(tmp_path / "lr" / "a_rather_long_image_name_0001.png", torch.rand(1, 3, 24, 40, generator=gen))
    outs = {}
    for model in models[: 2 + len(params.variants)]:
        outs[model] = write_image(tmp_path / model / lr.name, torch.rand(1, 3, 96, 160, generator=gen)).parent
    grid = render_grid(grid_rows([lr], outs, 1), 96, "realsrset: ×4 zoomed crops")
    curves = [
        Curve(f"{v}-s{s}", phase, f"train/{name}", (0, 50, 100), (0.5, 0.4, 0.3))
        for v in params.variants
        for s in p.seeds
        for phase, names in (("net", ("l_g_pix", "lr")), ("gan", ("l_g_pix", "l_g_percep", "l_g_gan", "l_d_real")))
        for name in names
    ]
    return ReportInputs(
        params=params,
        summary=summary,
        curves=curves,
        grids=[Grid("realsrset", grid, grid)],
        unavailable={"dan": "official weights only on Google Drive / Baidu (no size or hash published)"},
        validation_dataset="val-set14",
    )


def test_report_fits_a_1400px_window(tmp_path):
    _browser()
    page = to_html(build_report(_study_like_inputs(tmp_path)))
    assert overflowing(page, tmp_path) == []


def test_the_check_sees_a_table_wider_than_the_page(tmp_path):
    _browser()
    doc = Document("wide")
    doc.add(Table(("a", "b"), (("x" * 400, "y"),)))  # one unbreakable word: the table must widen
    assert any(item.startswith("table") for item in overflowing(to_html(doc), tmp_path))
