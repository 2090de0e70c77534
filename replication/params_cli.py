"""``replication params``: validate params.yaml (every profile, and the names it gives each registry:
:mod:`replication.params_check`) and show the active profile; ``--check`` validates only (CI), ``--get``
prints one value for dvc.yaml, ``--switch`` changes the active profile."""

from __future__ import annotations

import argparse
import json

from replication.errors import UsageError, UserError
from replication.fsutil import atomic_open
from replication.params import load_params
from replication.params_check import check_params
from replication.report.config import expected_pipeline_lists
from replication.strict import to_dict


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", default="params.yaml", help="parameter file (default: params.yaml)")
    parser.add_argument("--profile", help="override the file's active profile")
    parser.add_argument("--json", action="store_true", help="print the active profile as JSON")
    parser.add_argument(
        "--check",
        action="store_true",
        help="validate only (every profile, the pipeline: lists, and every dataset, metric, baseline and "
        "weights name against its registry); print one line, exit 1 on an error. CI runs it before dvc repro",
    )
    parser.add_argument(
        "--switch",
        metavar="PROFILE",
        help="make PROFILE the active profile: rewrite `profile:` and the `pipeline:` block of "
        "the parameter file in one step (comments kept, file replaced atomically)",
    )
    parser.add_argument(
        "--get",
        metavar="KEY",
        help="print one value for shell use in dvc.yaml: a key of the active profile "
        "(validation.count) or pipeline.<list>; lists print space-separated",
    )


def run(args: argparse.Namespace) -> int:
    if args.switch:
        try:
            switch_profile(args.params, args.switch)
        except UsageError as exc:  # the profile came from --switch here
            raise UsageError(str(exc).replace("--profile", "--switch", 1)) from None
        if args.json:  # --json: stdout is always one JSON object
            print(json.dumps({"status": "ok", "params": str(args.params), "profile": args.switch}))
        else:
            print(f"{args.params}: active profile is now {args.switch!r} (profile: and pipeline: rewritten)")
        return 0
    params = load_params(args.params, args.profile)
    if args.get:  # for dvc.yaml's commands: the file is loaded (and checked) as a whole, the registries are not
        value = _lookup(params, args.get)
        print(json.dumps(value) if args.json else _format(value))
        return 0
    check_params(params)
    if args.check:
        if args.json:  # --json: stdout is always one JSON object
            print(json.dumps({"status": "ok", "params": str(args.params), "check": "valid"}))
        else:
            print(
                f"{args.params}: valid ({len(params.profiles)} profiles, {len(params.variants)} variants, "
                "registry names known)"
            )
        return 0
    if args.json:
        print(json.dumps(to_dict(params.active), indent=2))
    else:
        mirror = params.mirror_dir()
        print(f"{args.params}: valid ({len(params.profiles)} profiles, {len(params.variants)} variants)")
        print(f"active profile: {params.profile} - {params.active.description}")
        print(f"mirror: {mirror if mirror else '(none)'}{'' if not mirror or mirror.is_dir() else ' (missing)'}")
    return 0


def _lookup(params, key: str):
    """``pipeline.X`` from the top level, anything else from the active profile (dotted path)."""
    # pipeline.* is derived from the active profile (so --profile works too), see PipelineLists
    data = (
        to_dict(expected_pipeline_lists(params.active, params.variants, params.profile))
        if key.startswith("pipeline.")
        else to_dict(params.active)
    )
    parts = key.split(".")[1:] if key.startswith("pipeline.") else key.split(".")
    where = "pipeline" if key.startswith("pipeline.") else f"profiles.{params.profile}"
    for part in parts:
        if not isinstance(data, dict) or part not in data:
            raise UsageError(f"--get {key}: no key {part!r} under {where}")
        data, where = data[part], f"{where}.{part}"
    return data


def _format(value) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(_format(v) for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def switch_profile(path: str, profile: str) -> None:
    """Set ``profile:`` and the derived ``pipeline:`` lists of ``path`` for ``profile``.

    ``dvc.yaml`` fans out over ``pipeline.*`` (DVC has no nested interpolation), so switching profile
    means changing both; doing it here keeps them consistent. The file is validated before and after.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    target = load_params(path, profile)  # validates every profile and the name
    check_params(target)  # and the registry names, before anything is written
    lists = to_dict(expected_pipeline_lists(target.active, target.variants, target.profile))
    yaml = YAML()  # round trip: comments and key order survive
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long flow lists
    with open(path, encoding="utf-8") as fh:
        doc = yaml.load(fh)
    doc["profile"] = profile
    pipeline = doc.get("pipeline")
    if pipeline is None:
        raise UserError(f"{path}: pipeline: missing key")
    for key, value in lists.items():
        if isinstance(value, list):
            value = _flow(CommentedSeq(value))
        elif isinstance(value, dict):  # run name -> {variant, seed, ...}: one flow mapping per line
            value = CommentedMap((name, _flow(CommentedMap(run))) for name, run in value.items())
        pipeline[key] = value
    with atomic_open(path, "w", encoding="utf-8") as fh:
        yaml.dump(doc, fh)
    load_params(path)  # the rewritten file must load with its lists consistent


def _flow(node):
    node.fa.set_flow_style()
    return node
