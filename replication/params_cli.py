"""``replication params``: validate params.yaml (every profile) and show the active profile."""

from __future__ import annotations

import argparse
import json

from replication.params import load_params
from replication.strict import to_dict


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", default="params.yaml", help="parameter file (default: params.yaml)")
    parser.add_argument("--profile", help="override the file's active profile")
    parser.add_argument("--json", action="store_true", help="print the active profile as JSON")


def run(args: argparse.Namespace) -> int:
    params = load_params(args.params, args.profile)
    if args.json:
        print(json.dumps(to_dict(params.active), indent=2))
    else:
        mirror = params.mirror_dir()
        print(f"{args.params}: valid ({len(params.profiles)} profiles, {len(params.variants)} variants)")
        print(f"active profile: {params.profile} - {params.active.description}")
        print(f"mirror: {mirror if mirror else '(none)'}{'' if not mirror or mirror.is_dir() else ' (missing)'}")
    return 0
