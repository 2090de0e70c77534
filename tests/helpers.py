"""Small helpers shared by test modules (imported as ``from helpers import ...``)."""

from __future__ import annotations

from pathlib import Path

import yaml

from replication.degrade.config import DegradationConfig
from replication.strict import from_dict

ROOT = Path(__file__).resolve().parents[1]


def degradation_cfg(profile: str = "paper") -> DegradationConfig:
    """The committed ``degradation:`` section of one profile."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    return from_dict(DegradationConfig, raw["profiles"][profile]["degradation"], f"profiles.{profile}.degradation")


def mirror_dir() -> Path:
    """The offline mirror, found as the package finds it (``$REPLICATION_MIRROR``, else ``mirror:`` of
    params.yaml): the one place tests look it up."""
    from replication.params import load_params

    mirror = load_params(ROOT / "params.yaml").mirror_dir()
    if mirror is None:
        raise RuntimeError("params.yaml has no mirror and $REPLICATION_MIRROR is not set")
    return mirror


def require_mirror(*needed: str) -> Path:
    """The mirror root; skips the calling test unless every relative path in ``needed`` exists in it."""
    import pytest

    try:
        mirror = mirror_dir()
    except RuntimeError:
        pytest.skip("no offline mirror configured")
    missing = [n for n in needed if not (mirror / n).exists()]
    if missing:
        pytest.skip(f"offline mirror lacks {', '.join(missing)}")
    return mirror
