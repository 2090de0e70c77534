"""What one training phase reads of ``params.yaml``, and nothing more.

``replication train --variant V --phase P --seed S`` loads ``variants.V`` and, of the active profile,
``scale``, ``real_scale``, ``degradation``, ``network``, ``train_<P>`` and, in the GAN phase, ``seed``
(the discriminator's and untrained VGG19's draws): exactly the params its ``dvc.yaml`` stage lists. It
does not read the seeds list (the run's seed is in its command), the evaluation, validation, report or
data sections, nor any registry, so a new metric, test set, weights entry or seed leaves every trained
model's stage unchanged. Whether ``network.net_init`` names weights of the right architecture is a
cross-part rule: ``replication params --check`` (:mod:`replication.params_check`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from replication.archs.config import NetworkConfig
from replication.degrade.config import DegradationConfig, check_scale
from replication.errors import UsageError
from replication.names import Phase
from replication.paramfile import ParamsFile, read_params
from replication.strict import ParamsError
from replication.train.config import PhaseConfig, VariantConfig, check_phase, check_seeds


@dataclass(frozen=True)
class TrainProfile:
    """The active profile's sections one training phase reads."""

    real_scale: bool
    scale: int
    degradation: DegradationConfig
    network: NetworkConfig
    phase: PhaseConfig  # train_net or train_gan, whichever the run trains
    gan_seed: int | None  # profiles.<p>.seed, read by the GAN phase only (None in the Real-ESRNet phase)

    @property
    def seed(self) -> int:
        """The profile's one-off seed: the GAN phase's discriminator and untrained-VGG19 draws."""
        if self.gan_seed is None:
            raise RuntimeError("profiles.<p>.seed is loaded for the GAN phase only")
        return self.gan_seed


@dataclass(frozen=True)
class TrainParams:
    source: str
    profile: str  # the active profile's name
    variant: VariantConfig
    active: TrainProfile
    seed: int  # this run's seed


def load_train_params(
    path: str | os.PathLike, profile: str | None, variant: str, phase: Phase, seed: int | None
) -> TrainParams:
    """Load and check the sections of one phase's run; ``seed`` None: the first of the profile's seeds."""
    pf = read_params(path, profile)
    variants = pf.data.get("variants")
    if isinstance(variants, dict) and variant not in variants:  # a flag value, not the file: a usage error
        raise UsageError(f"--variant {variant}: unknown variant (known: {', '.join(map(str, variants))})")
    section = f"train_{phase}"
    active = TrainProfile(
        real_scale=pf.section(bool, "real_scale"),
        scale=pf.section(int, "scale"),
        degradation=pf.section(DegradationConfig, "degradation"),
        network=pf.section(NetworkConfig, "network"),
        phase=pf.section(PhaseConfig, section),
        gan_seed=pf.section(int, "seed") if phase == "gan" else None,
    )
    config = pf.variant(VariantConfig, variant)
    _check(pf, lambda: check_scale(active.scale))
    _check(pf, lambda: check_phase(section, active.phase, active.degradation, active.scale))
    if phase == "gan":
        try:
            config.check_profile(active.phase.gt_size)
        except ValueError as exc:
            raise ParamsError(f"{pf.source}: variants.{variant} with profiles.{pf.profile}: {exc}") from None
    if seed is None:  # no --seed (a run by hand): the profile's first seed, the only time the list is read
        seeds = pf.section(tuple[int, ...], "seeds")
        _check(pf, lambda: check_seeds(seeds))
        seed = seeds[0]
    elif seed < 0:
        raise UsageError(f"--seed must be a non-negative integer, got {seed}")
    return TrainParams(source=pf.source, profile=pf.profile, variant=config, active=active, seed=seed)


def _check(pf: ParamsFile, rule) -> None:
    """Run a cross-field rule of the active profile; its error names the profile as the loader's do."""
    try:
        rule()
    except ValueError as exc:
        raise ParamsError(f"{pf.source}: profiles.{pf.profile}: {exc}") from None
