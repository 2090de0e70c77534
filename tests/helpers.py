"""Small helpers shared by test modules (imported as ``from helpers import ...``)."""

from __future__ import annotations

import os
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
    """The offline mirror: ``$REPLICATION_MIRROR`` if set, else ``mirror:`` of params.yaml."""
    env = os.environ.get("REPLICATION_MIRROR")
    if env:
        return Path(env)
    return (ROOT / yaml.safe_load((ROOT / "params.yaml").read_text())["mirror"]).resolve()
