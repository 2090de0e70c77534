"""Which training runs a profile needs, and what they and their results are called.

The paper's protocol: one Real-ESRNet per distinct *recipe* (degradation x sharpened GT, with the
profile's generator), not per variant. Variants that share a recipe and differ only in the
discriminator (``vgg_disc``, ``unet_no_sn``) start their GAN phase from the Real-ESRNet of the first
variant (in ``params.yaml`` order) with that recipe, so no two stages train the same recipe. Every
run is repeated for each seed of ``profiles.<p>.seeds``, except the GAN runs of the variants in
``profiles.<p>.single_seed_variants``, trained at the first seed only (a Real-ESRNet is trained at
every seed that one of the variants using it needs).

Names (flat, one directory level, so ``runs/<name>/<phase>`` and ``results/<model>/<dataset>`` keep
their layout)::

    run        <variant>-s<seed>          runs/<run>/net (recipe owners only), runs/<run>/gan
    model      <variant>-s<seed>          Real-ESRGAN (GAN phase): results/<model>/<dataset>
               <variant>-s<seed>-net      Real-ESRNet: results/<model>/<dataset>

Variant names never contain '-', so :func:`parse_model` is unambiguous. This is the layout the
pipeline's stages share (params.yaml's ``pipeline:`` lists, the report), so it lives with the other
artifact formats and reads a variant only through its :meth:`recipe` (no import of the trainer's config).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

__all__ = [
    "GanRun",
    "ModelName",
    "NetRun",
    "gan_runs",
    "model_name",
    "net_owner",
    "net_runs",
    "parse_model",
    "retrained_models",
    "run_name",
    "trained_model_notes",
    "variant_seeds",
]

MODEL_RE = re.compile(r"^(?P<variant>[A-Za-z0-9_]+)-s(?P<seed>\d+)(?P<net>-net)?$")


class Variant(Protocol):
    """What naming needs of a variant (``replication.train.config.VariantConfig``)."""

    def recipe(self) -> tuple[str, bool]: ...


@dataclass(frozen=True)
class NetRun:
    """One Real-ESRNet training (``pipeline.net_runs`` value)."""

    variant: str  # the recipe's owner
    seed: int


@dataclass(frozen=True)
class GanRun:
    """One Real-ESRGAN training (``pipeline.gan_runs`` value), initialised from ``runs/<net>-s<seed>/net``."""

    variant: str
    net: str  # the variant whose Real-ESRNet this run starts from
    seed: int


def run_name(variant: str, seed: int) -> str:
    return f"{variant}-s{seed}"


def net_owner(variants: Mapping[str, Variant]) -> dict[str, str]:
    """variant -> the variant whose Real-ESRNet it uses (the first one with the same recipe)."""
    first: dict[tuple, str] = {}
    out = {}
    for name, v in variants.items():
        out[name] = first.setdefault(v.recipe(), name)
    return out


def variant_seeds(variant: str, seeds: Iterable[int], single_seed: Iterable[str] = ()) -> tuple[int, ...]:
    """The seeds ``variant``'s GAN run is trained at: all of ``seeds``, or the first one alone for a
    variant of ``single_seed`` (``profiles.<p>.single_seed_variants``)."""
    seeds = tuple(seeds)
    return seeds[:1] if variant in set(single_seed) else seeds


def net_runs(
    variants: Mapping[str, Variant], seeds: Iterable[int], single_seed: Iterable[str] = ()
) -> dict[str, NetRun]:
    """Real-ESRNet runs: one per recipe owner and seed that some variant of the recipe is trained at."""
    seeds, single_seed = tuple(seeds), tuple(single_seed)
    owner = net_owner(variants)
    owners = sorted(set(owner.values()), key=list(variants).index)
    needed = {(owner[v], s) for v in variants for s in variant_seeds(v, seeds, single_seed)}
    return {run_name(o, s): NetRun(o, s) for o in owners for s in seeds if (o, s) in needed}


def gan_runs(
    variants: Mapping[str, Variant], seeds: Iterable[int], single_seed: Iterable[str] = ()
) -> dict[str, GanRun]:
    owner = net_owner(variants)
    return {run_name(v, s): GanRun(v, owner[v], s) for v in variants for s in variant_seeds(v, seeds, single_seed)}


@dataclass(frozen=True)
class ModelName:
    variant: str
    seed: int
    phase: str  # "net" | "gan"


def model_name(variant: str, seed: int, phase: str) -> str:
    return run_name(variant, seed) + ("-net" if phase == "net" else "")


def parse_model(name: str) -> ModelName | None:
    """``full-s0-net`` -> ModelName('full', 0, 'net'); None for a name that is not a retrained model."""
    m = MODEL_RE.match(name)
    if m is None:
        return None
    return ModelName(m["variant"], int(m["seed"]), "net" if m["net"] else "gan")


def retrained_models(variants: Mapping[str, Variant], seeds, single_seed: Iterable[str] = ()) -> list[str]:
    """Every retrained model name, Real-ESRNet then Real-ESRGAN per variant, in params order."""
    out = []
    seeds, single_seed = tuple(seeds), tuple(single_seed)
    nets = net_runs(variants, seeds, single_seed)
    for v in variants:
        for s in seeds:
            if run_name(v, s) in nets:
                out.append(model_name(v, s, "net"))
            if s in variant_seeds(v, seeds, single_seed):
                out.append(model_name(v, s, "gan"))
    return out


def trained_model_notes(runs_dir: str | Path) -> dict[str, dict]:
    """model name -> what its training recorded that the report must print: ``paper_scale_deviations``
    (list) and ``perceptual_vgg`` ("imagenet" | "untrained" | "n/a"), read from
    ``<runs>/<run>/{net,gan}/model.json``. Missing or unreadable sidecars are skipped."""
    out: dict[str, dict] = {}
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return out
    for sidecar in sorted(runs_dir.glob("*/*/model.json")):
        run, phase = sidecar.parent.parent.name, sidecar.parent.name
        parsed = parse_model(run)
        if phase not in ("net", "gan") or parsed is None:
            continue
        try:
            extra = json.loads(sidecar.read_text(encoding="utf-8")).get("extra", {})
        except (OSError, ValueError):
            continue
        out[model_name(parsed.variant, parsed.seed, phase)] = {
            "paper_scale_deviations": list(extra.get("paper_scale_deviations", [])),
            "perceptual_vgg": extra.get("perceptual_vgg", "unknown"),
        }
    return out
