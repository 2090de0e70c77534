"""Training logs: DVCLive metrics/params/sample images plus a tqdm progress bar (rank 0 only).

DVCLive runs inside ``dvc repro`` stages, so it must not write ``dvc.yaml`` or experiment refs
(``dvcyaml=None, save_dvc_exp=False``; docs/dvc.md §5). On resume it is re-aligned with the
checkpoint (docs/dvc.md §6): rows and sample images logged after the checkpoint's step, by the run that
was interrupted, are dropped, so a resumed curve equals an uninterrupted one.

DVCLive is optional at run time: where it is not installed (a bare GPU machine, say) training runs
with metric/param/image logging off, after one warning, and the progress bar stays.
"""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from replication.imageio import write_image

SAMPLES = "samples"


def _trim_tsv(path: Path, last_step: int) -> None:
    """Keep the header and the rows whose ``step`` column is <= ``last_step``."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    if not rows or "step" not in rows[0]:
        return
    col = rows[0].index("step")
    kept = [rows[0]] + [r for r in rows[1:] if len(r) > col and r[col].isdigit() and int(r[col]) <= last_step]
    if len(kept) != len(rows):
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh, delimiter="\t", lineterminator="\n").writerows(kept)
        os.replace(tmp, path)


def align_with_checkpoint(live_dir: Path, step: int) -> None:
    """Drop what an interrupted run logged after checkpoint ``step`` (metric rows, sample images)."""
    plots = Path(live_dir) / "plots"
    for tsv in (plots / "metrics").rglob("*.tsv") if (plots / "metrics").is_dir() else []:
        _trim_tsv(tsv, step)
    samples = plots / "images" / SAMPLES
    if samples.is_dir():
        for png in samples.glob("*.png"):
            if png.stem.isdigit() and int(png.stem) > step:
                png.unlink()


def sample_grid(lq: torch.Tensor, sr: torch.Tensor, gt: torch.Tensor, max_rows: int = 4) -> torch.Tensor:
    """Rows of [LQ (nearest-upsampled) | SR | GT]: inputs (N,3,h,w), (N,3,H,W), (N,3,H,W) -> (1,3,R*H,3*W)."""
    n = min(max_rows, lq.shape[0])
    size = gt.shape[-2:]
    up = F.interpolate(lq[:n].float(), size=size, mode="nearest")
    rows = [torch.cat([up[i], sr[i].float().clamp(0, 1), gt[i].float()], dim=-1) for i in range(n)]
    return torch.cat(rows, dim=-2).unsqueeze(0).cpu()


class TrainLogger:
    """DVCLive + tqdm. On ranks other than 0 every method is a no-op."""

    def __init__(
        self,
        live_dir: Path,
        *,
        enabled: bool,
        resume_step: int | None,
        start_step: int,
        total_steps: int,
        desc: str,
    ) -> None:
        self.enabled = enabled
        self.live = None
        self.bar = None
        if not enabled:
            return
        from tqdm import tqdm

        try:
            from dvclive import Live
        except ImportError:
            Live = None  # type: ignore[misc,assignment]  # optional at run time (see the module docstring)
            print(
                "warning: dvclive is not installed: training metrics, params and sample images are not logged",
                file=sys.stderr,
            )
        if Live is not None:
            live_dir = Path(live_dir)
            if resume_step is not None:
                align_with_checkpoint(live_dir, resume_step)
            self.live = Live(
                str(live_dir), resume=resume_step is not None, dvcyaml=None, save_dvc_exp=False, report=None
            )
            self.images_dir = Path(self.live.plots_dir) / "images" / SAMPLES
        interactive = sys.stderr.isatty()
        self.bar = tqdm(
            total=total_steps,
            initial=start_step,
            desc=desc,
            unit="it",
            dynamic_ncols=True,
            mininterval=1.0 if interactive else 30.0,  # keep non-interactive logs (dvc repro) short
            file=sys.stderr,
        )

    def params(self, values: dict[str, Any]) -> None:
        if self.live is not None:
            self.live.log_params(values)

    def step(self, step: int, postfix: dict[str, float]) -> None:
        """Advance the bar to ``step`` (1-based count of finished steps)."""
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in postfix.items()}, refresh=False)

    def metrics(self, step: int, values: dict[str, float]) -> None:
        if self.live is None:
            return
        self.live.step = step
        for name, value in values.items():
            self.live.log_metric(name, value)
        self.live.make_summary()

    def image(self, step: int, grid: torch.Tensor) -> None:
        if self.live is None:
            return
        write_image(self.images_dir / f"{step}.png", grid)

    def message(self, text: str) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.live is not None:
            self.live.end()
            self.live = None
