"""Command-line entry point: ``replication <command>`` or ``python -m replication <command>``.

Commands are listed explicitly below; each lives in its own module, which defines
``configure(parser)`` (adds arguments) and ``run(args) -> int`` (does the work). Modules are
imported only when their command runs, so ``--help`` stays fast and importing the package has no
side effects.

Exit status (scripts rely on it; the table is docs/cli.md, ``EXIT`` below): 0 success, 1 a runtime
failure (bad or missing file, full or read-only disk, failed download, some images failed, a metric
asked for is unavailable or undefined everywhere), 2 a usage error (unknown flag, invalid flag value,
unknown name given to a flag, refused output path), 130 interrupted (Ctrl-C or SIGTERM; partial
outputs are removed). With ``--json`` an error is also printed to stdout as one JSON object.

Every command also takes ``--verbose`` / ``--quiet`` (log level; ``--quiet`` also hides progress
bars) and ``--no-progress``. Messages go through :mod:`logging` to stderr.
"""

from __future__ import annotations

import argparse
import difflib
import errno
import importlib
import json
import logging
import re
import sys

from replication import __version__
from replication.errors import UsageError, UserError
from replication.outputs import sigterm_as_interrupt

log = logging.getLogger("replication")

# The exit statuses of docs/cli.md (tests/test_bad_inputs.py runs every command against them).
EXIT = {"ok": 0, "failure": 1, "usage": 2, "interrupted": 130}

# Commands that read or write images: they take --max-pixels (the pixel budget of replication.imageio).
IMAGE_COMMANDS = ("prepare", "synthesize", "upscale", "metrics", "evaluate", "evaluate-all")


class Parser(argparse.ArgumentParser):
    """argparse with the project's usage errors: unknown flags are named (with a suggestion) even when
    a required flag is missing too, and ``--json`` runs also get the error as one JSON object."""

    json_errors = False

    def error(self, message: str):  # never returns: exit 2
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        if Parser.json_errors:
            print_json_error(EXIT["usage"], message)
        raise SystemExit(EXIT["usage"])

    def check_flags(self, argv: list[str]) -> None:
        """Refuse a flag no (sub)parser knows, naming it, before argparse reports anything else."""
        known = _option_strings(self)
        for token in argv:
            if token == "--":
                break
            if not token.startswith("-") or token == "-" or re.fullmatch(r"-\.?\d.*", token):
                continue
            name = token.split("=", 1)[0]
            if name in known or (name.startswith("--") and any(k.startswith(name) for k in known)):
                continue
            if not name.startswith("--") and name[:2] in known:  # -vq: combined short flags
                continue
            close = difflib.get_close_matches(name, sorted(k for k in known if k.startswith("--")), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            self.error(f"unknown flag {name}{hint}")


def _option_strings(parser: argparse.ArgumentParser) -> set[str]:
    known = set(parser._option_string_actions)  # argparse has no public API for this
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                known |= _option_strings(child)
    return known


def print_json_error(code: int, message: str) -> None:
    """``--json``: stdout always carries one JSON object, also when the command fails."""
    print(json.dumps({"status": "error", "exit_status": code, "error": message}, indent=1, sort_keys=True))


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
    parser = Parser(
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
    if parser.prog.split()[-1] in IMAGE_COMMANDS and "--max-pixels" not in taken:
        from replication.argtypes import pixel_count

        group.add_argument(
            "--max-pixels",
            type=pixel_count,
            default=None,
            metavar="N",
            help="pixel budget of any one image read or written (default 50M; 12000x12000, 2G, 0 = no limit): "
            "a larger image is refused from its header before it is decoded",
        )


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
    # A file name that is not UTF-8 must not turn printing a path into a traceback.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    Parser.json_errors = "--json" in argv[: argv.index("--")] if "--" in argv else "--json" in argv
    # Import only the module of the command being run (the others may pull heavy dependencies).
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(load_subcommands=False)
    if command not in COMMANDS:
        parser.parse_args(argv)  # help, --version and usage errors exit here (0 or 2)
        parser.print_help()
        return EXIT["usage"]
    module = importlib.import_module(COMMANDS[command][0])
    sub_parser = Parser(prog=f"replication {command}", description=COMMANDS[command][1])
    module.configure(sub_parser)
    add_common_options(sub_parser)
    idx = argv.index(command)
    rest = argv[:idx] + argv[idx + 1 :]
    if not any(a in ("-h", "--help") for a in rest):
        sub_parser.check_flags(rest)
    args = sub_parser.parse_args(rest)  # --help: exit 0; usage error: exit 2
    args.no_progress = not progress_enabled(args)  # commands read this one attribute
    _configure_logging(args)
    code, message = _run(module, args)
    if message is not None:
        log.error(f"error: {message}")
        if getattr(args, "json", False):
            print_json_error(code, message)
    return code


def _run(module, args: argparse.Namespace) -> tuple[int, str | None]:
    """Run the command; (exit status, error message or None). Every failure is a message, no traceback."""
    try:
        if hasattr(args, "max_pixels"):  # every run sets it: a run in the same process starts from the default
            from replication.imageio import DEFAULT_MAX_PIXELS, set_max_pixels

            set_max_pixels(DEFAULT_MAX_PIXELS if args.max_pixels is None else args.max_pixels)
        with sigterm_as_interrupt():
            return int(module.run(args) or 0), None
    except KeyboardInterrupt:
        return EXIT["interrupted"], "interrupted (partial outputs removed)"
    except UsageError as exc:
        return EXIT["usage"], str(exc)
    except UserError as exc:
        return EXIT["failure"], str(exc)
    except OSError as exc:  # full disk, permission denied, vanished file: the environment, not a bug
        log.debug("details", exc_info=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            # a copy names its source first: the file being written is filename2
            where = exc.filename2 or exc.filename
            return EXIT["failure"], f"{where + ': ' if where else ''}no space left on device"
        where = f"{exc.filename}: " if exc.filename else ""
        return EXIT["failure"], f"{where}{exc.strerror or exc}"
    except RecursionError:
        return EXIT["failure"], "an input file is nested too deeply to be read (recursion limit)"
    except (UnicodeEncodeError, UnicodeDecodeError) as exc:  # a name or value that is not UTF-8, into a text file
        bad = ascii(exc.object[exc.start : exc.end])
        return EXIT["failure"], f"a file name or value is not valid UTF-8 ({bad}); rename the file or change the value"
    except MemoryError:
        return EXIT["failure"], "out of memory; use smaller images, --tile, or a lower --max-pixels"


if __name__ == "__main__":
    raise SystemExit(main())
