"""Command-line entry point: ``replication <command>`` or ``python -m replication <command>``.

Commands are listed explicitly below; each lives in its own module, which defines
``configure(parser)`` (adds arguments) and ``run(args) -> int`` (does the work). Modules are
imported only when their command runs, so ``--help`` stays fast and importing the package has no
side effects.

Exit status (scripts rely on it): 0 success, 1 a runtime failure (bad or missing file, failed
download, some images failed, a metric asked for is unavailable), 2 a usage error (unknown flag,
invalid flag value), 130 interrupted (Ctrl-C or SIGTERM; partial outputs are removed).

Every command also takes ``--verbose`` / ``--quiet`` (log level; ``--quiet`` also hides progress
bars) and ``--no-progress``. Messages go through :mod:`logging` to stderr.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from replication import __version__
from replication.errors import UsageError, UserError
from replication.outputs import sigterm_as_interrupt

log = logging.getLogger("replication")

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
    "evaluate-all": ("replication.evaluate.suite_cli", "run a model on every test and validation set of the profile"),
    "report": ("replication.report.cli", "render the comparison report (Markdown + HTML)"),
    "claims": ("replication.report.claims_cli", "verdict table of the paper's claims from per-image metrics (+ logs)"),
    "check-metrics": ("replication.report.regression_cli", "compare metrics with the committed expected values"),
}


def build_parser(load_subcommands: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="replication",
        description="Reproducible replication of Real-ESRGAN (Wang et al., ICCVW 2021).",
    )
    parser.add_argument("--version", action="version", version=f"replication {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module_name)
        if load_subcommands:
            importlib.import_module(module_name).configure(p)
            add_common_options(p)
    return parser


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """--verbose/--quiet/--no-progress on every command (a command's own definition is kept).

    ``prepare`` and ``download`` used ``--quiet`` and ``upscale``/``weights`` ``--no-progress`` for
    the progress bar: both names now hide it everywhere, so dvc.yaml's calls keep working.
    """
    children = [
        choice
        for action in parser._actions  # argparse has no public API to walk sub-commands
        if isinstance(action, argparse._SubParsersAction)
        for choice in action.choices.values()
    ]
    if children:  # `weights fetch ...`: the options belong to the leaf parsers
        for child in children:
            add_common_options(child)
        return
    taken = parser._option_string_actions
    group = parser.add_argument_group("output")
    if "--verbose" not in taken:
        group.add_argument("-v", "--verbose", action="store_true", help="debug messages")
    if "--quiet" not in taken:
        group.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only; no progress bars")
    if "--no-progress" not in taken:
        group.add_argument("--no-progress", action="store_true", help="no progress bars")


def _configure_logging(args: argparse.Namespace) -> None:
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


def progress_enabled(args: argparse.Namespace) -> bool:
    """The one progress switch: off with --no-progress or --quiet."""
    return not (getattr(args, "no_progress", False) or getattr(args, "quiet", False))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Import only the module of the command being run (the others may pull heavy dependencies).
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(load_subcommands=False)
    if command not in COMMANDS:
        parser.parse_args(argv)  # help, --version and usage errors exit here (0 or 2)
        parser.print_help()
        return 2
    module = importlib.import_module(COMMANDS[command][0])
    sub_parser = argparse.ArgumentParser(prog=f"replication {command}", description=COMMANDS[command][1])
    module.configure(sub_parser)
    add_common_options(sub_parser)
    idx = argv.index(command)
    args = sub_parser.parse_args(argv[:idx] + argv[idx + 1 :])  # --help: exit 0; usage error: exit 2
    args.no_progress = not progress_enabled(args)  # commands read this one attribute
    _configure_logging(args)
    try:
        with sigterm_as_interrupt():
            return int(module.run(args) or 0)
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
    except UsageError as exc:
        log.error(f"error: {exc}")
        return 2
    except UserError as exc:
        log.error(f"error: {exc}")
        return 1
    except OSError as exc:  # full disk, permission denied, vanished file: the environment, not a bug
        log.debug("details", exc_info=True)
        where = f"{exc.filename}: " if exc.filename else ""
        log.error(f"error: {where}{exc.strerror or exc}")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
