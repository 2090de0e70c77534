"""The rules that tie ``params.yaml`` to the parts' registries: ``replication params --check``.

Each part loads and validates its own sections (types, ranges, rules within a profile). What no single
part can check alone lives here: every dataset name (``data.train_sets``, ``validation.dataset``,
``evaluate.test_sets``) is in the dataset registry, every metric name (``evaluate.metrics``,
``validation.metrics``) in the metric registry, every baseline (``evaluate.baselines``) is ``bicubic``
or a weights-registry name, and ``network.net_init`` names weights of the profile's architecture and
sizes; the names of ``external_models`` are free (not bicubic, a weights-registry or a retrained run
name) and their files lie inside the project. Checked for every profile, with the key path in the error.

Run by ``replication params`` (plain, ``--check`` and ``--switch``), by CI before ``dvc repro`` and by
the tests. No stage imports it: a training stage must not depend on the registries (a new metric or
weights entry would otherwise re-train every model), so the rules are checked once, up front.
"""

from __future__ import annotations

from replication.archs.config import NetworkConfig
from replication.archs.weights_registry import REGISTRY as WEIGHTS
from replication.data.registry import datasets
from replication.evaluate.external import check_external_models
from replication.evaluate.settings import check_metric_names
from replication.params import Params, Profile
from replication.strict import ParamsError


def check_params(params: Params) -> None:
    """Raise :class:`ParamsError` naming the file and key path of the first name no registry knows."""
    try:  # a model the user brings must not take a name the report already gives another model
        check_external_models(params.external_models, params.variants)
    except ValueError as exc:
        raise ParamsError(f"{params.source}: {exc}") from None
    for name, profile in params.profiles.items():
        try:
            check_profile(profile)
        except ValueError as exc:
            raise ParamsError(f"{params.source}: profiles.{name}.{exc}") from None


def check_profile(profile: Profile) -> None:
    """The registry rules of one profile; the error starts with the key path below the profile."""
    known_sets = datasets()
    names = [
        *((f"data.train_sets[{i}]", n) for i, n in enumerate(profile.data.train_sets)),
        ("validation.dataset", profile.validation.dataset),
        *((f"evaluate.test_sets[{i}]", n) for i, n in enumerate(profile.evaluate.test_sets)),
    ]
    for key, name in names:
        if name not in known_sets:
            raise ValueError(f"{key}: unknown dataset {name!r} (see `replication datasets`)")
    check_metric_names("evaluate.metrics", profile.evaluate.metrics)
    check_metric_names("validation.metrics", profile.validation.metrics)
    for i, baseline in enumerate(profile.evaluate.baselines):
        if baseline != "bicubic" and baseline not in WEIGHTS:
            raise ValueError(
                f"evaluate.baselines[{i}]: {baseline!r} is neither 'bicubic' nor a weights-registry name "
                "(see `replication weights list`)"
            )
    check_net_init(profile.network)


def check_net_init(network: NetworkConfig) -> None:
    """``network.net_init``: 'scratch', or weights of the network's architecture with the same sizes."""
    if network.net_init == "scratch":
        return
    entry = WEIGHTS.get(network.net_init)
    if entry is None or entry.arch != network.arch:
        known = ", ".join(n for n, e in WEIGHTS.items() if e.arch == network.arch)
        raise ValueError(
            f"network.net_init: {network.net_init!r} is neither 'scratch' nor {network.arch} weights ({known})"
        )
    for name, value in network.generator_hyperparameters().items():
        if name in entry.hyperparameters and entry.hyperparameters[name] != value:
            raise ValueError(
                f"network.net_init: {network.net_init} has {name}={entry.hyperparameters[name]}, "
                f"but network.{name} is {value}"
            )
