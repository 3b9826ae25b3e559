"""The ``fleetopt`` command line.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``; this module only dispatches and turns errors into
messages and exit codes (see README, "Exit codes").  Input errors never show a
traceback; an unexpected crash prints one line and asks for ``--debug``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from typing import Optional, Sequence

import solver
from solver.errors import EXIT_BAD_INPUT, EXIT_INTERNAL, FleetoptError, InputError

#: Sub-command modules, in the order ``fleetopt --help`` lists them.
COMMAND_MODULES = ("validate", "catalog_cmd", "perf_cmd", "solve_cmd", "verify_cmd",
                   "import_cmd", "explain_cmd", "pareto_cmd", "sweep_cmd", "report_cmd",
                   "simulate_cmd", "calibrate_cmd", "whatif_cmd", "robust_cmd")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fleetopt",
        description="Design LLM inference fleets: which hardware, quantization, model, "
                    "how many replicas, where - at the lowest total cost within SLOs.")
    parser.add_argument("--version", action="version", version=f"fleetopt {solver.__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        if importlib.util.find_spec(f"solver.cli.{name}") is None:
            continue
        module = importlib.import_module(f"solver.cli.{name}")
        module.register(sub)
    return parser


def distinct_outputs(args, flags: dict[str, str]) -> None:
    """Refuse two output options naming one path: only the last one written would be left.
    ``flags``: the args attribute of each output option -> its flag."""
    from pathlib import Path

    from solver.errors import InputError, InputIssue
    seen: dict[str, str] = {}
    for option, flag in flags.items():
        value = getattr(args, option, None)
        if value is None:
            continue
        key = str(Path(value).resolve())
        if key in seen:
            raise InputError(InputIssue(f"the same path as {seen[key]} ({value!r})", path=flag,
                                        hint="give each output its own file"))
        seen[key] = flag


def add_verbose(p: argparse.ArgumentParser) -> None:
    """``-v`` / ``--verbose`` on a long-running sub-command: progress lines on stderr
    (:mod:`solver.progress`); ``-vv`` adds each column-generation round."""
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="print each solver phase as it ends, with its figures, on stderr (-vv: more)")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: bad usage -> 2, --help -> 0
        return int(exc.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    from solver.progress import shown
    from solver.yamlio import guarding_inputs
    try:
        # every file the command reads is safe from its outputs (yamlio.guarding_inputs)
        with shown(getattr(args, "verbose", 0)), guarding_inputs():
            return int(args.func(args) or 0)
    except InputError as exc:
        print(exc.format(), file=sys.stderr)
        return exc.exit_code
    except FleetoptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # noqa: BLE001 - last resort: never a bare traceback
        if getattr(args, "debug", False):
            raise
        print(f"internal error: {type(exc).__name__}: {exc}\n"
              "    this is a bug in fleetopt; rerun with --debug for the traceback and report it",
              file=sys.stderr)
        return EXIT_INTERNAL
