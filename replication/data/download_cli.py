"""``replication download NAME...``: fetch registry sets (mirror first), verify, extract."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from replication.errors import UserError
from replication.outputs import check_output
from replication.paramfile import DEFAULT_PARAMS, MIRROR_ENV, read_params


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="+", metavar="NAME", help="dataset names (see `replication datasets`)")
    parser.add_argument("--root", default="data/raw", help="where sets are stored (default: data/raw)")
    parser.add_argument(
        "--params", default=None, help="parameter file giving `mirror:` (default: params.yaml if it exists)"
    )
    parser.add_argument(
        "--mirror", default=None, help="offline mirror folder; wins over $REPLICATION_MIRROR and params ('' for none)"
    )
    parser.add_argument("--no-extract", action="store_true", help="keep archives packed")
    parser.add_argument("--force", action="store_true", help="fetch again even if already present and verified")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def resolve_mirror(mirror_flag: str | None, params_path: str | None) -> Path | None:
    """--mirror wins, then $REPLICATION_MIRROR, then the params file's ``mirror:``."""
    if mirror_flag is not None:
        return Path(mirror_flag).expanduser().resolve() if mirror_flag else None
    if params_path is not None or DEFAULT_PARAMS.is_file():
        mirror = read_params(params_path or DEFAULT_PARAMS).mirror_dir()
        return mirror.resolve() if mirror is not None else None
    env = os.environ.get(MIRROR_ENV)
    return Path(env).expanduser().resolve() if env else None


def run(args: argparse.Namespace) -> int:
    from replication.data import registry
    from replication.data.download import download_dataset

    for name in args.names:
        registry.get(name)  # fail on a typo before downloading anything
    mirror = resolve_mirror(args.mirror, args.params)
    if mirror is not None and not mirror.is_dir():
        raise UserError(f"mirror folder {mirror} does not exist")
    for name in args.names:
        # A set folder may hold files put there by hand (they are used, never deleted), so only the
        # path rules apply here: not inside the mirror, a writable folder.
        target = Path(args.root) / registry.get(registry.get(name).parent or name).name
        check_output(target, command="download", flag="--root", kind="dir", inputs=[("--mirror", mirror)], names=())
    for name in args.names:
        folder = download_dataset(
            name, args.root, mirror, extract=not args.no_extract, force=args.force, progress=not args.no_progress
        )
        print(f"{name}: {folder}")
    return 0
