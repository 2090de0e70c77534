"""Parameters of the report (``profiles.<p>.report``), and the lists ``dvc.yaml`` fans out over
(``pipeline:``, derived from the active profile). The synthetic validation set's section lives with the
evaluation (:class:`replication.evaluate.config.ValidationConfig`).
"""

from __future__ import annotations

from dataclasses import dataclass

from replication.artifacts.runs import GanRun, NetRun, gan_runs, net_runs


@dataclass(frozen=True)
class ReportConfig:
    grid_images: int  # test images shown in the qualitative grids (per test set)
    grid_crop: int  # side of the zoomed crop, in output (SR) pixels
    # Confidence intervals use evaluate.bootstrap_samples and evaluate.seed (one source of truth).

    def validate(self) -> None:
        if self.grid_images < 0 or self.grid_crop <= 0:
            raise ValueError("report.grid_images must be >= 0 and report.grid_crop positive")


@dataclass(frozen=True)
class PipelineLists:
    """The lists ``dvc.yaml`` fans out over, for the ACTIVE profile (top-level key ``pipeline``).

    DVC cannot iterate over ``${profiles.${profile}.…}`` (no nested interpolation in ``foreach`` /
    ``matrix`` / ``vars``), so these lists are repeated at a fixed key. They are derived data: loading
    ``params.yaml`` fails, naming the values to write, when they differ from the active profile
    (:func:`expected_pipeline_lists`).
    """

    train_sets: tuple[str, ...]  # = data.train_sets
    heldout_set: str  # = validation.dataset
    test_sets: tuple[str, ...]  # = evaluate.test_sets
    baselines: tuple[str, ...]  # = evaluate.baselines without "bicubic" (bicubic always has its own stages)
    pretrained: tuple[str, ...]  # weights the trainer needs: network.net_init (unless scratch), vgg19_imagenet
    val_variants: tuple[str, ...] = ()  # = validation.extra_variants (extra synthetic validation sets)
    # Training fan-out (replication.artifacts.runs): variant x seed, one Real-ESRNet per recipe.
    seeds: tuple[int, ...] = ()  # = seeds
    net_runs: dict[str, NetRun] | None = None  # run name -> Real-ESRNet run
    gan_runs: dict[str, GanRun] | None = None  # run name -> Real-ESRGAN run (and its Real-ESRNet)
    report_dir: str = "reports"  # = report_dir(profile name): where the report stage writes


# The profile that CI and a fresh clone run (params.yaml's `profile:` as committed).
DEFAULT_PROFILE = "smoke"


def report_dir(profile_name: str) -> str:
    """Where the ``report`` stage writes for a profile: the default profile at ``reports/``, every
    other one at ``reports/<name>/``. A study's report is committed to git; keeping it out of the
    default profile's directory means a CI run of the default profile can never overwrite it."""
    return "reports" if profile_name == DEFAULT_PROFILE else f"reports/{profile_name}"


def expected_pipeline_lists(profile, variants: dict, name: str = DEFAULT_PROFILE) -> PipelineLists:
    """What ``pipeline:`` must hold for ``profile`` (a :class:`replication.params.Profile`, named
    ``name`` in ``params.yaml``) and ``variants`` (``params.variants``)."""
    return PipelineLists(
        report_dir=report_dir(name),
        seeds=tuple(profile.seeds),
        net_runs=net_runs(variants, profile.seeds, profile.single_seed_variants),
        gan_runs=gan_runs(variants, profile.seeds, profile.single_seed_variants),
        train_sets=tuple(profile.data.train_sets),
        heldout_set=profile.validation.dataset,
        test_sets=tuple(profile.evaluate.test_sets),
        baselines=tuple(b for b in profile.evaluate.baselines if b != "bicubic"),
        val_variants=tuple(profile.validation.extra_variants),
        pretrained=tuple(
            ([profile.network.net_init] if profile.network.net_init != "scratch" else [])
            + (
                ["vgg19_imagenet"]
                if "imagenet" in (profile.train_net.vgg_weights, profile.train_gan.vgg_weights)
                else []
            )
        ),
    )
