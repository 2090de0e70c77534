"""``replication weights``: list the official weights, fetch one, or import ncnn / .pth files.

replication weights list
replication weights fetch NAME --out models/official/NAME.safetensors [--params params.yaml] [--source auto|pth|ncnn]
replication weights import-ncnn --param P --bin B --arch rrdbnet|srvgg [--scale 4] [--num-block N] ... --out F.safetensors
replication weights import-pth --pth P --arch rrdbnet|srvgg|dan|cdc|... [--key K] [hyperparameters] --out F.safetensors
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from replication.argtypes import positive_int


def _add_hyper_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scale", type=positive_int, help="output scale (default: from the file)")
    p.add_argument("--num-block", type=positive_int, help="RRDBNet blocks (default: from the file)")
    p.add_argument("--num-feat", type=positive_int, help="feature channels (default: from the file)")
    p.add_argument("--num-grow-ch", type=positive_int, help="RRDBNet growth channels (default: from the file)")
    p.add_argument("--num-conv", type=positive_int, help="SRVGGNetCompact body convs (default: from the file)")


def _check_out(args: argparse.Namespace, inputs: list[tuple[str, str]], registry_name: str | None = None) -> None:
    """--out and its .json sidecar: never replace a file that is not ours (or an input).

    ``weights fetch NAME`` may redo its own earlier output (the sidecar records the registry name);
    a ``.pth`` target (VGG19) is verified by checksum and a mismatching file is moved aside, not lost.
    """
    from replication.outputs import check_output

    out = Path(args.out)
    ours = registry_name is not None and (out.suffix == ".pth" or _fetched_as(out, registry_name))
    targets = [out] + ([out.with_suffix(".json")] if out.suffix == ".safetensors" else [])
    for target in targets:
        check_output(
            target, command="weights", flag="--out", kind="file", inputs=inputs, overwrite=args.overwrite or ours
        )


def _fetched_as(out: Path, name: str) -> bool:
    try:
        side = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
        return out.is_file() and side.get("extra", {}).get("registry_name") == name
    except (OSError, ValueError, AttributeError):
        return False


def configure(parser: argparse.ArgumentParser) -> None:
    from replication.archs.registry import NCNN_ARCHS, TABLE  # architecture names: the one table

    sub = parser.add_subparsers(dest="action", metavar="<action>", required=True)
    p = sub.add_parser("list", help="the weights registry with availability")
    p.add_argument("--params", default="params.yaml", help="parameter file naming the mirror (default: params.yaml)")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("fetch", help="obtain a registry model (mirror / ncnn / download) and convert it")
    p.add_argument("name", help="registry name (see `replication weights list`)")
    p.add_argument("--out", required=True, help="output .safetensors (VGG19: .pth)")
    p.add_argument("--params", default="params.yaml", help="parameter file naming the mirror (default: params.yaml)")
    p.add_argument(
        "--source",
        choices=("auto", "pth", "ncnn"),
        default="auto",
        help="auto: exact .pth if at hand, else mirror ncnn copy, else download (default)",
    )
    p.add_argument(
        "--manual",
        help="folder with files fetched by hand, in the mirror layout (weights/<file>); the pipeline uses data/manual",
    )
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")

    p = sub.add_parser("import-ncnn", help="convert an ncnn .param/.bin pair")
    p.add_argument("--param", required=True, help="ncnn .param (text)")
    p.add_argument("--bin", required=True, help="ncnn .bin")
    p.add_argument("--arch", required=True, choices=NCNN_ARCHS)
    _add_hyper_flags(p)
    p.add_argument("--out", required=True, help="output .safetensors")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")

    p = sub.add_parser("import-pth", help="convert a PyTorch .pth checkpoint (weights_only loading)")
    p.add_argument("--pth", required=True)
    p.add_argument(
        "--arch", default="auto", choices=("auto", *TABLE), help="architecture (default: detected from the key names)"
    )
    p.add_argument("--key", help="wrapper key (default: params_ema, then params, else a flat dict)")
    _add_hyper_flags(p)
    p.add_argument("--out", required=True, help="output .safetensors")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")


def _given(args: argparse.Namespace) -> dict[str, Any]:
    given = dict(
        scale=args.scale,
        num_block=args.num_block,
        num_feat=args.num_feat,
        num_grow_ch=args.num_grow_ch,
        num_conv=args.num_conv,
    )
    from replication.archs.registry import hyperparameter_names

    allowed = set(hyperparameter_names(args.arch)) if args.arch != "auto" else set()
    from replication.errors import UsageError

    bad = [k for k, v in given.items() if v is not None and k not in allowed]
    if bad:  # flags that do not go together: a usage error (exit 2)
        if args.arch == "auto":
            raise UsageError(f"--{bad[0].replace('_', '-')} needs an explicit --arch")
        raise UsageError(f"--{bad[0].replace('_', '-')} does not apply to --arch {args.arch}")
    return {k: v for k, v in given.items() if v is not None}


def _mirror(params_path: str) -> Path | None:
    import os

    from replication.paramfile import MIRROR_ENV, read_params

    if not Path(params_path).is_file() and os.environ.get(MIRROR_ENV):
        return Path(os.environ[MIRROR_ENV])
    return read_params(params_path).mirror_dir()


def _optional_mirror() -> Path | None:
    """The mirror for reference checks of an import, when one is configured (never an error)."""
    from replication.errors import UserError

    try:
        return _mirror("params.yaml")
    except UserError:
        return None


def _describe_sidecar(path: Path) -> str:
    from replication.archs.checkpoint import read_sidecar

    info = read_sidecar(path)
    rounded = " (fp16-rounded weights)" if info["fp16_rounded"] else ""
    return (
        f"{path}: {info['arch']} {json.dumps(info['hyperparameters'])}, {info['num_parameters']:,} params, "
        f"from {info['source']} sha256 {info['source_sha256']}{rounded}"
    )


def _list(args: argparse.Namespace) -> int:
    from replication.archs.weights_registry import ENTRIES

    mirror = _mirror(args.params)
    rows: list[dict[str, Any]] = []
    for e in ENTRIES:
        in_mirror = []
        if mirror is not None and e.ncnn and (mirror / e.ncnn.bin).is_file():
            in_mirror.append("ncnn")
        if mirror is not None and e.pth and (mirror / e.pth.mirror_relpath).is_file():
            in_mirror.append("pth")
        if e.manual_path and Path(e.manual_path).is_file():  # placed by hand (relative to the project root)
            in_mirror.append("manual")
        rows.append(
            dict(
                name=e.name,
                arch=e.arch,
                availability=e.availability,
                in_mirror=in_mirror,
                sha256=(e.pth.sha256 if e.pth else None),
                urls=list(e.pth.urls) if e.pth else [],
                num_parameters=e.num_parameters,
                role=e.role,
                note=e.reason,
            )
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"mirror: {mirror if mirror else '(none)'}")
    print(f"{'name':28} {'arch':8} {'availability':12} {'mirror':9} {'pth sha256':12} note")
    for r in rows:
        sha = (r["sha256"] or "unknown")[:10]
        print(
            f"{r['name']:28} {r['arch']:8} {r['availability']:12} {'+'.join(r['in_mirror']) or '-':9} {sha:12} {r['note']}"
        )
    return 0


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        return _list(args)
    if args.action == "fetch":
        from replication.archs.fetch import fetch_weights

        inputs = [("--params", args.params), ("mirror", _mirror(args.params)), ("--manual", args.manual)]
        _check_out(args, inputs, registry_name=args.name)
        from replication.fsutil import writing

        with writing(args.out):  # a full disk names --out, not the mirror file being copied
            path = fetch_weights(
                args.name,
                args.out,
                mirror=_mirror(args.params),
                source=args.source,
                progress=not args.no_progress,
                manual=args.manual,
            )
        print(_describe_sidecar(path) if path.suffix == ".safetensors" else f"{path}: verified")
        return 0
    if args.action == "import-ncnn":
        from replication.archs.ncnn_import import import_ncnn

        _check_out(args, [("--param", args.param), ("--bin", args.bin)])
        path = import_ncnn(args.param, args.bin, args.arch, args.out, **_given(args))
        print(_describe_sidecar(path))
        return 0
    if args.action == "import-pth":
        from replication.archs.pth_import import import_pth

        _check_out(args, [("--pth", args.pth)])
        path = import_pth(args.pth, args.out, args.arch, key=args.key, mirror=_optional_mirror(), **_given(args))
        print(_describe_sidecar(path))
        return 0
    print(f"unknown action {args.action}", file=sys.stderr)
    return 2
