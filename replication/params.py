"""``params.yaml``: every experiment value, loaded strictly into frozen typed dataclasses.

Layout::

    profile: smoke            # the active profile (switch: replication params --switch paper)
    mirror: ../shared/mirror  # offline mirror directory ("" for none); REPLICATION_MIRROR overrides
    variants: {...}           # training variants / ablations, shared by every profile
    profiles:
      smoke: {...}            # end to end on 2 CPU cores in minutes
      study: {...}            # the ablation study on 2 CPU cores (about 2 hours)
      paper: {...}            # the paper's recipe (GPUs)

Every profile is validated on load, not only the active one, so a typo in ``paper`` is caught on a
laptop. DVC stages read ``profiles.${profile}.<section>`` so only the active profile's values are
stage dependencies.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from replication.archs.config import NetworkConfig
from replication.data.config import DataConfig
from replication.degrade.config import DegradationConfig, check_gt_size
from replication.errors import UsageError
from replication.evaluate.config import EvalConfig, check_external_models
from replication.report.config import (
    PipelineLists,
    ReportConfig,
    ValidationConfig,
    expected_pipeline_lists,
)
from replication.strict import ParamsError, from_dict, load_yaml, to_dict
from replication.train.config import LaunchConfig, PhaseConfig, VariantConfig

DEFAULT_PARAMS = Path("params.yaml")
MIRROR_ENV = "REPLICATION_MIRROR"


@dataclass(frozen=True)
class Profile:
    description: str
    real_scale: bool  # False: toy sizes; results must be labelled as not comparable to the paper
    scale: int  # super-resolution factor
    seed: int  # one-off draws outside training (degradation previews)
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

    def validate(self) -> None:
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise ValueError(f"seeds must be distinct non-negative integers (at least one), got {list(self.seeds)}")
        if self.validation.dataset in self.data.train_sets:
            raise ValueError(f"validation.dataset {self.validation.dataset!r} is a training set (data.train_sets)")
        if self.scale not in (1, 2, 4):
            raise ValueError(f"scale must be 1, 2 or 4, got {self.scale}")
        check_gt_size(self.validation.gt_size, self.degradation.gt_crop, self.scale, "validation.gt_size")
        for phase in ("train_net", "train_gan"):
            cfg: PhaseConfig = getattr(self, phase)
            check_gt_size(cfg.gt_size, self.degradation.gt_crop, self.scale, f"{phase}.gt_size")
            if self.degradation.pool_size % cfg.batch_size:
                raise ValueError(
                    f"degradation.pool_size {self.degradation.pool_size} must be divisible by "
                    f"{phase}.batch_size {cfg.batch_size}"
                )


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
        check_external_models(self.external_models, self.variants)
        # Rules that tie a variant to a profile: checked for every pair, so a bad combination fails at load,
        # not in the middle of a pipeline run.
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
        env = os.environ.get(MIRROR_ENV)
        raw = env if env is not None else self.mirror
        if not raw:
            return None
        path = Path(raw).expanduser()
        if not path.is_absolute() and env is None:
            path = Path(self.source).resolve().parent / path
        return path

    def variant(self, name: str) -> VariantConfig:
        if name not in self.variants:
            raise ParamsError(f"variants.{name}: unknown variant (known: {', '.join(self.variants)})")
        return self.variants[name]


def load_params(path: str | os.PathLike = DEFAULT_PARAMS, profile: str | None = None) -> Params:
    """Read and validate ``path``; ``profile`` overrides the file's active profile."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        hint = "run in the project folder or pass --params FILE"
        raise ParamsError(f"{path}: parameter file not found ({hint})") from None
    except UnicodeDecodeError:
        raise ParamsError(f"{path}: not a UTF-8 text file (is it really params.yaml?)") from None
    data = load_yaml(text, str(path))  # duplicate keys are an error, not "last one wins"
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping at the top level")
    if "source" in data:
        raise ParamsError(f"{path}: source: unknown key")
    if profile is not None:
        known = data.get("profiles")
        if isinstance(known, dict) and profile not in known:  # the flag's value, not the file: usage error
            raise UsageError(f"--profile {profile!r}: unknown profile of {path} (known: {', '.join(map(str, known))})")
        data = {**data, "profile": profile}
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


def fingerprint(*sections: object) -> str:
    """Stable sha256 of the given config sections (dataclasses or plain data)."""
    blob = json.dumps([to_dict(s) for s in sections], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()
