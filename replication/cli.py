"""Command-line entry point: ``replication <command>`` or ``python -m replication <command>``.

Commands are listed explicitly below; each lives in its own module, which defines
``configure(parser)`` (adds arguments) and ``run(args) -> int`` (does the work). Modules are
imported only when their command runs, so ``--help`` stays fast and importing the package has no
side effects.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from replication.errors import UserError

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "params": ("replication.params_cli", "validate params.yaml and print the active profile"),
    "datasets": ("replication.data.datasets_cli", "list the dataset registry"),
    "download": ("replication.data.download_cli", "download datasets (mirror first), verify, extract"),
    "prepare": ("replication.data.prepare_cli", "multi-scale + sub-image preparation of training data"),
    "synthesize": ("replication.degrade.cli", "synthesize LQ/GT training pairs with a degradation variant"),
    "weights": ("replication.archs.weights_cli", "official weights: list, fetch, import-ncnn, import-pth"),
    "upscale": ("replication.archs.upscale_cli", "super-resolve an image or a folder with a model"),
    "train": ("replication.train.cli", "train Real-ESRNet / Real-ESRGAN (and ablation variants)"),
    "metrics": ("replication.evaluate.metrics_cli", "no-reference / full-reference metrics of a folder"),
    "evaluate": ("replication.evaluate.evaluate_cli", "run a model on a test set and compute its metrics"),
    "report": ("replication.report.cli", "render the comparison report (Markdown + HTML)"),
    "check-metrics": ("replication.report.regression_cli", "compare metrics with the committed expected values"),
}


def build_parser(load_subcommands: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="replication",
        description="Reproducible replication of Real-ESRGAN (Wang et al., ICCVW 2021).",
    )
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module_name)
        if load_subcommands:
            importlib.import_module(module_name).configure(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Import only the module of the command being run (the others may pull heavy dependencies).
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(load_subcommands=False)
    if command not in COMMANDS:
        args = parser.parse_args(argv)  # prints help / usage errors
        parser.print_help()
        return 2
    module = importlib.import_module(COMMANDS[command][0])
    sub_parser = argparse.ArgumentParser(prog=f"replication {command}", description=COMMANDS[command][1])
    module.configure(sub_parser)
    idx = argv.index(command)
    args = sub_parser.parse_args(argv[:idx] + argv[idx + 1 :])
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
