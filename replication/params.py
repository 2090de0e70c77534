"""``params.yaml``: every experiment value, loaded strictly into frozen typed dataclasses.

Layout::

    profile: smoke            # the active profile (switch: replication params --switch paper)
    mirror: ../shared/mirror  # offline mirror directory ("" for none); REPLICATION_MIRROR overrides
    variants: {...}           # training variants / ablations, shared by every profile
    profiles:
      smoke: {...}            # end to end on 2 CPU cores in minutes
      study: {...}            # the ablation study on 2 CPU cores (about 2 hours)
      paper: {...}            # the paper's recipe (GPUs)

:func:`load_params` reads the whole file, for the commands that use it as a whole (the report,
``replication params``): every profile is validated, not only the active one, so a typo in ``paper``
is caught on a laptop. DVC stages read ``profiles.${profile}.<section>`` so only the active profile's
values are stage dependencies; a stage that reads a few sections loads only those through
:mod:`replication.paramfile` (training: :mod:`replication.train.settings`), so its code deps hold no
other part's config. The rules that tie parts together (a dataset, metric, baseline or weights name
exists) are :mod:`replication.params_check`, run by ``replication params --check``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from replication.archs.config import NetworkConfig
from replication.data.config import DataConfig
from replication.degrade.config import DegradationConfig, check_gt_size, check_scale
from replication.evaluate.config import EvalConfig, ValidationConfig
from replication.paramfile import DEFAULT_PARAMS, MIRROR_ENV, fingerprint, mirror_dir, read_params
from replication.report.config import (
    PipelineLists,
    ReportConfig,
    expected_pipeline_lists,
)
from replication.strict import ParamsError, from_dict, to_dict
from replication.train.config import LaunchConfig, PhaseConfig, VariantConfig, check_phase, check_seeds

__all__ = ["DEFAULT_PARAMS", "MIRROR_ENV", "Params", "Profile", "fingerprint", "load_params"]


@dataclass(frozen=True)
class Profile:
    description: str
    real_scale: bool  # False: toy sizes; results must be labelled as not comparable to the paper
    scale: int  # super-resolution factor
    seed: int  # one-off draws: degradation previews, the GAN phase's discriminator and untrained VGG19
    seeds: tuple[int, ...]  # training replicates: every run is trained once per seed (dvc.yaml fans out)
    data: DataConfig
    degradation: DegradationConfig
    network: NetworkConfig
    launch: LaunchConfig  # training processes per node and nodes (python -m replication.train.launch)
    train_net: PhaseConfig
    train_gan: PhaseConfig
    evaluate: EvalConfig
    validation: ValidationConfig  # the fixed-seed synthetic validation set (PSNR/SSIM)
    report: ReportConfig
    # Variants trained at the first seed only (e.g. the study's Table-1 retrains, which no claim
    # compares): their GAN runs, and a Real-ESRNet no other variant needs at the other seeds.
    single_seed_variants: tuple[str, ...] = ()

    def validate(self) -> None:
        check_seeds(self.seeds)
        if len(set(self.single_seed_variants)) != len(self.single_seed_variants):
            raise ValueError(f"single_seed_variants: a variant is listed twice: {list(self.single_seed_variants)}")
        if self.validation.dataset in self.data.train_sets:
            raise ValueError(f"validation.dataset {self.validation.dataset!r} is a training set (data.train_sets)")
        check_scale(self.scale)
        check_gt_size(self.validation.gt_size, self.degradation.gt_crop, self.scale, "validation.gt_size")
        check_phase("train_net", self.train_net, self.degradation, self.scale)
        check_phase("train_gan", self.train_gan, self.degradation, self.scale)


@dataclass(frozen=True)
class Params:
    profile: str
    mirror: str
    variants: dict[str, VariantConfig]
    profiles: dict[str, Profile]
    source: str = "params.yaml"  # the file this was read from (not a key of the file)
    # The active profile's lists, repeated for dvc.yaml's foreach/matrix. Required by load_params
    # (checked after the profiles, so a broken profile is reported first).
    pipeline: PipelineLists | None = None
    # Models the user brings (name -> model file, relative to the project): dvc.yaml's eval_external
    # evaluates each on every set of the active profile, and the report shows it as "NAME (external)".
    # Top level, not in a profile: the evaluation stages depend on profiles.<p>.evaluate as a whole,
    # so a list there would rerun every evaluation whenever a model is added.
    external_models: dict[str, str] = dataclasses.field(default_factory=dict)

    def validate(self) -> None:
        if self.profile not in self.profiles:
            raise ValueError(f"profile: unknown profile {self.profile!r} (known: {', '.join(self.profiles)})")
        # Rules that tie a variant to a profile: checked for every pair, so a bad combination fails at load,
        # not in the middle of a pipeline run.
        for pname, profile in self.profiles.items():
            unknown = [v for v in profile.single_seed_variants if v not in self.variants]
            if unknown:
                raise ValueError(
                    f"profiles.{pname}.single_seed_variants: unknown variant(s) {', '.join(map(repr, unknown))} "
                    f"(known: {', '.join(self.variants)})"
                )
        for vname, variant in self.variants.items():
            for pname, profile in self.profiles.items():
                try:
                    variant.check_profile(profile.train_gan.gt_size)
                except ValueError as exc:
                    raise ValueError(f"variants.{vname} with profiles.{pname}: {exc}") from None

    @property
    def active(self) -> Profile:
        return self.profiles[self.profile]

    def mirror_dir(self) -> Path | None:
        """The offline mirror: ``$REPLICATION_MIRROR`` if set, else ``mirror`` relative to params.yaml."""
        return mirror_dir(self.mirror, self.source)

    def variant(self, name: str) -> VariantConfig:
        if name not in self.variants:
            raise ParamsError(f"variants.{name}: unknown variant (known: {', '.join(self.variants)})")
        return self.variants[name]


def load_params(path: str | os.PathLike = DEFAULT_PARAMS, profile: str | None = None) -> Params:
    """Read and validate the whole of ``path`` (every profile); ``profile`` overrides the file's active one.

    For the commands that read the file as a whole (the report, ``replication params``). A stage that
    reads a few sections loads only those (e.g. :mod:`replication.train.settings`), and the rules that
    tie parts together (registry names) are :mod:`replication.params_check`.
    """
    path = Path(path)
    data = read_params(path, profile).data
    try:
        params = from_dict(Params, {**data, "source": str(path)})
    except ParamsError as exc:
        raise ParamsError(f"{path}: {exc}") from None
    if profile is None:  # with an explicit profile override, dvc.yaml's lists are not in play
        _check_pipeline_lists(params, path)
    return params


def _check_pipeline_lists(params: Params, path: Path) -> None:
    """``pipeline:`` must repeat the active profile's lists exactly (see PipelineLists)."""
    want = expected_pipeline_lists(params.active, params.variants, params.profile)
    if params.pipeline == want:
        return
    keys = [f.name for f in dataclasses.fields(want)]
    wrong = [k for k in keys if params.pipeline is None or getattr(params.pipeline, k) != getattr(want, k)]
    block = yaml.safe_dump({"pipeline": to_dict(want)}, sort_keys=False, default_flow_style=None, width=200)
    what = "missing key" if params.pipeline is None else f"{', '.join(wrong)} differ from profile {params.profile!r}"
    raise ParamsError(
        f"{path}: pipeline: {what}. dvc.yaml iterates over these lists (DVC cannot read profiles.${{profile}} "
        f"in foreach); for profile {params.profile!r} run `replication params --switch {params.profile}` or "
        f"write:\n{block}"
    )
