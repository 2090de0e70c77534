"""What an evaluation reads of ``params.yaml``, and nothing more: of the active profile ``scale``,
``evaluate`` and ``validation`` (the sections its ``dvc.yaml`` stages list), the profiles' names (a
``retrained-<profile>`` source must name one), the variants' names (an external model's name must
not be a retrained run's) and the mirror (metric weight files). Neither the
training nor the report sections are loaded, so their code and values are not evaluation deps."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from replication.evaluate.config import EvalConfig, ValidationConfig
from replication.evaluate.registry import METRICS
from replication.paramfile import mirror_dir, read_params
from replication.strict import ParamsError


@dataclass(frozen=True)
class EvalProfile:
    scale: int
    evaluate: EvalConfig
    validation: ValidationConfig


@dataclass(frozen=True)
class EvalParams:
    source: str
    profile: str  # the active profile's name
    profiles: tuple[str, ...]  # every profile's name
    # every variant's name: an external model's --name must not be a retrained run's (evaluate.external);
    # names only, so a variant's values are no evaluation dependency
    variants: tuple[str, ...]
    mirror: str
    active: EvalProfile

    def mirror_dir(self) -> Path | None:
        return mirror_dir(self.mirror, self.source)


def load_eval_params(path: str | os.PathLike, profile: str | None = None) -> EvalParams:
    pf = read_params(path, profile)
    active = EvalProfile(
        scale=pf.section(int, "scale"),
        evaluate=pf.section(EvalConfig, "evaluate"),
        validation=pf.section(ValidationConfig, "validation"),
    )
    try:  # the names evaluation looks up in its own registry, checked before any work (params --check too)
        check_metric_names("evaluate.metrics", active.evaluate.metrics)
        check_metric_names("validation.metrics", active.validation.metrics)
    except ValueError as exc:
        raise ParamsError(f"{pf.source}: profiles.{pf.profile}.{exc}") from None
    names = tuple(map(str, pf.data["profiles"]))
    variants = tuple(map(str, pf.data.get("variants") or ()))
    return EvalParams(
        source=pf.source, profile=pf.profile, profiles=names, variants=variants, mirror=pf.mirror, active=active
    )


def check_metric_names(key: str, names: tuple[str, ...]) -> None:
    """Every name is in the metric registry; the error starts with ``key[i]``."""
    for i, name in enumerate(names):
        if name not in METRICS:
            raise ValueError(f"{key}[{i}]: unknown metric {name!r} (known: {', '.join(METRICS)})")
