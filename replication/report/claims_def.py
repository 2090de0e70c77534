"""The claims definition (``claims.yaml`` beside ``params.yaml``): which lines of evidence test each
paper claim, which one is primary, and the thresholds of the not-measurable rules. Loaded strictly
(:mod:`replication.strict`); docs/claims.md explains every field. Claims are data: adding an ablation
is an edit of the file, not of the code."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from replication.names import DegradationVariant
from replication.strict import ParamsError, from_dict, load_yaml

Level = Literal["net", "gan"]
Data = Literal["real", "synthetic", "training"]
Statistic = Literal["paired", "spread", "instability"]
Direction = Literal["reference_better", "variant_better"]


@dataclass(frozen=True)
class LineDef:
    variant: str
    level: Level
    metric: str  # metric registry name; for statistic "instability", a logged GAN-phase curve
    data: Data
    degradation: DegradationVariant | None = None  # synthetic data: the held-out set's degradation (None: each)
    statistic: Statistic = "paired"
    direction: Direction = "reference_better"
    primary: bool = False

    def validate(self) -> None:
        if (self.statistic == "instability") != (self.data == "training"):
            raise ValueError("statistic instability goes with data training (and only with it)")
        if self.degradation is not None and self.data != "synthetic":
            raise ValueError(f"degradation {self.degradation!r} is only for data: synthetic")
        if self.statistic == "instability" and self.level != "gan":
            raise ValueError("the instability statistic reads the GAN phase's logs: level must be gan")
        if self.statistic != "instability":
            from replication.evaluate.registry import METRICS

            if self.metric not in METRICS:
                raise ValueError(f"metric: unknown metric {self.metric!r} (known: {', '.join(METRICS)})")


@dataclass(frozen=True)
class ClaimDef:
    id: str
    text: str  # the paper's claim, in words
    lines: tuple[LineDef, ...]
    neutral_sets_only: bool = False  # sets degraded by either compared variant's process are in-distribution
    needs_discriminator: bool = False  # GAN lines need both discriminators to have learned

    def validate(self) -> None:
        if not self.lines:
            raise ValueError(f"claim {self.id!r} has no lines")
        primaries = sum(line.primary for line in self.lines)
        if primaries != 1:
            raise ValueError(f"claim {self.id!r}: exactly one line must be primary, got {primaries}")


@dataclass(frozen=True)
class Rules:
    alpha: float
    final_min_seeds: int
    disc_min_logit_gap: float
    disc_window: float
    instability_min_points: int
    undertrained_metric: str
    undertrained_margin: float

    def validate(self) -> None:
        if not 0.0 < self.alpha < 0.5:
            raise ValueError(f"rules.alpha must be in (0, 0.5), got {self.alpha}")
        if self.final_min_seeds < 2:
            raise ValueError(f"rules.final_min_seeds must be >= 2, got {self.final_min_seeds}")
        if not 0.0 < self.disc_window <= 1.0:
            raise ValueError(f"rules.disc_window must be in (0, 1], got {self.disc_window}")
        if self.instability_min_points < 2:
            raise ValueError(f"rules.instability_min_points must be >= 2, got {self.instability_min_points}")


@dataclass(frozen=True)
class ClaimsDef:
    reference: str
    rules: Rules
    claims: tuple[ClaimDef, ...]

    def validate(self) -> None:
        ids = [c.id for c in self.claims]
        if len(set(ids)) != len(ids):
            raise ValueError(f"claim ids repeat: {ids}")
        for c in self.claims:
            if any(line.variant == self.reference for line in c.lines):
                raise ValueError(f"claim {c.id!r} compares the reference {self.reference!r} with itself")

    def check_variants(self, variants: set[str], source: str) -> None:
        """Every variant named exists in params.yaml's ``variants`` (cross-file rule)."""
        for name in [self.reference, *(line.variant for c in self.claims for line in c.lines)]:
            if name not in variants:
                raise ParamsError(
                    f"{source}: variant {name!r} is not in params.yaml variants ({', '.join(sorted(variants))})"
                )


def load_claims(path: str | os.PathLike) -> ClaimsDef:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError(f"{path}: claims definition not found (pass --claims FILE)") from None
    except UnicodeDecodeError:
        raise ParamsError(f"{path}: not a UTF-8 text file") from None
    try:
        return from_dict(ClaimsDef, load_yaml(text, str(path)))
    except ParamsError as exc:
        raise ParamsError(f"{path}: {exc}") from None
