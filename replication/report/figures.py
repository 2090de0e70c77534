"""Matplotlib without pyplot: figures are plain ``Figure`` objects rendered to PNG bytes.

Using ``Figure`` + the Agg canvas directly keeps no global figure registry and needs no display, so
rendering in a DVC stage, a test or a notebook has no side effects on matplotlib's global state.
"""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def to_png(fig: Figure) -> bytes:
    """Encode a figure as PNG. The metadata is fixed so the same figure gives the same bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()
