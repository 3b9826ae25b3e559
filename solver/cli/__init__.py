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
import os
import sys
from typing import Optional, Sequence

import solver
from solver.errors import EXIT_BAD_INPUT, EXIT_INTERNAL, FleetoptError, InputError, InputIssue

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
    from solver.yamlio import standard_stream
    seen: dict[str, str] = {}
    for option, flag in flags.items():
        value = getattr(args, option, None)
        if value is None:
            continue
        fd = standard_stream(value)
        key = f"<fd {fd}>" if fd else str(Path(value).resolve())
        if key in seen:
            raise InputError(InputIssue(f"the same path as {seen[key]} ({value!r})", path=flag,
                                        hint="give each output its own file"))
        seen[key] = flag


def check_outputs(args, flags: dict[str, str], *, folders: Optional[dict] = None) -> None:
    """Refuse, before any work, every output the command could not or must not write: two options
    naming one path (:func:`distinct_outputs`) and each path :func:`solver.yamlio.check_output_path`
    refuses (a file the command read, a folder, a place that cannot be written).  ``flags`` as for
    :func:`distinct_outputs`; ``folders``: the args attribute of each option that names a folder ->
    the file names written in it.  Call it once the inputs are read (they are then protected) and
    before the solve, simulation or measurement, so that a long run never ends in exit 2."""
    from pathlib import Path

    from solver.yamlio import check_output_path
    issues = InputIssues()          # every refused output in one report (QA s18: one per run)
    issues.check(distinct_outputs, args, flags)
    # a file option naming a table a folder option writes (or removes as stale): the plan was
    # replaced by costs.csv, or written and then deleted as an old change.csv (QA s21)
    tables: dict = {}
    for option, names in (folders or {}).items():
        value = getattr(args, option, None)
        if value:
            for name in names:
                tables[str((Path(value) / name).resolve())] = f"{flags[option]}'s {name}"
    for option, flag in flags.items():
        value = getattr(args, option, None)
        if value and option not in (folders or {}) and str(Path(value).resolve()) in tables:
            issues.extend([InputIssue(f"the same path as {tables[str(Path(value).resolve())]} ({value!r}): "
                                      f"that table would replace it, or remove it as a stale table",
                                      path=flag, hint="give each output its own file, outside that folder "
                                                      "or under another name")])
    for option in flags:
        value = getattr(args, option, None)
        if not value:
            continue
        folder = option in (folders or {})
        if folder and str(value) == "-":
            # (QA s26: `--csv -` made a folder named '-', where --json - and --markdown - write to stdout)
            issues.extend([InputIssue(message=f"{flags[option]} names a folder to write several tables in: "
                                              "'-' (standard output) takes one document", path=flags[option],
                                      hint="name a folder (it is created if missing); --json - or --markdown - "
                                           "print the plan")])
            continue
        if folder and Path(value).exists() and not Path(value).is_dir():
            # once, not once per table the folder would hold (QA s20: nine errors, four of them
            # about tables a single-period plan never writes)
            issues.extend([InputIssue(message=f"{flags[option]} names the folder to write tables in, and "
                                              f"{Path(value).name} is a file, not a folder", file=str(value),
                                      hint="name a folder (it is created if missing)")])
            continue
        if folder:
            from solver.yamlio import folder_problem
            problem = folder_problem(Path(value).resolve())
            if problem:
                # once for the folder, not once per table it would hold (QA s27: eleven 'cannot write
                # here' lines for an unwritable --csv folder, period tables of a one-period plan among them)
                issues.extend([InputIssue(message=f"{flags[option]}: cannot write in this folder: {problem}",
                                          file=str(value), hint="check the path and permissions, or choose "
                                                                "another folder")])
                continue
        for path in ([Path(value) / name for name in folders[option]] if folder else [value]):
            issues.check(check_output_path, path)
    issues.raise_if_any()


def console_stream(*outputs):
    """Where a command's console text goes: stderr when one of its ``outputs`` is standard output
    (``--json -``), so that stdout holds that output alone (``| jq``); else stdout."""
    from solver.yamlio import standard_stream
    return sys.stderr if any(out and standard_stream(out) == 1 for out in outputs) else sys.stdout


class Once(argparse.Action):
    """An option that may be given once (``--scenario``): argparse would silently keep the last."""

    def __call__(self, parser, namespace, values, option_string=None):
        if getattr(namespace, self.dest, None) is not None:
            raise argparse.ArgumentError(self, f"given more than once ({getattr(namespace, self.dest)!r}, "
                                               f"then {values!r}): give it once")
        setattr(namespace, self.dest, values)


class _ReaderMayLeave:
    """``sys.stdout`` and ``sys.stderr`` while a command runs.  When the reader of a pipe goes away
    (``fleetopt verify ... | head -1``), the rest of the output is dropped instead of a
    BrokenPipeError ending the command: it finishes, and its exit code still says how it went."""

    def __init__(self, stream):
        self._stream, self._gone = stream, False

    def write(self, data):
        if not self._gone:
            try:
                return self._stream.write(data)
            except BrokenPipeError:
                self._leave()
        return len(data)

    def flush(self):
        if not self._gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._leave()

    @property
    def buffer(self):
        return _ReaderMayLeave(self._stream.buffer)

    def _leave(self):
        self._gone = True
        try:  # what is still buffered, and C-level writes, go nowhere: no error at exit either
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass

    def __getattr__(self, name):
        return getattr(self._stream, name)


def option_rules(p: argparse.ArgumentParser, *, excludes: Sequence[tuple] = (),
                 needs: Sequence[tuple] = ()) -> None:
    """Declare which options of sub-command ``p`` contradict each other (``excludes``: pairs of
    flags) and which only modify another (``needs``: (flag, the flag it modifies)).  :func:`main`
    refuses a command line that breaks any of them, every broken rule in one report, before the
    command runs: argparse alone would take ``--ray --no-ray`` or ``--step`` without ``--tighten``
    and silently ignore one of them (QA s18).  An option counts as given when its value differs
    from its default."""
    def dest(flag: str) -> tuple:
        action = p._option_string_actions[flag]      # (KeyError: a rule naming a flag p lacks is a bug)
        return flag, action.dest, action.default
    rules = [("excludes", dest(a), dest(b)) for a, b in excludes]
    rules += [("needs", dest(a), dest(b)) for a, b in needs]
    p.set_defaults(_option_rules=rules)


def broken_option_rules(args) -> list:
    """The issues of the rules :func:`option_rules` declared for the command ``args`` came from."""
    from solver.errors import InputIssue

    def given(d) -> bool:
        _, name, default = d
        value = getattr(args, name, default)
        return not (value is None or value is False or value == [] or value == default)

    issues = []
    for kind, a, b in getattr(args, "_option_rules", []):
        if kind == "excludes" and given(a) and given(b):
            issues.append(InputIssue(f"{a[0]} and {b[0]} contradict each other", path=a[0],
                                     hint=f"give {a[0]} or {b[0]}, not both"))
        elif kind == "needs" and given(a) and not given(b):
            issues.append(InputIssue(f"{a[0]} has no effect without {b[0]}", path=a[0],
                                     hint=f"add {b[0]}, or leave {a[0]} out"))
    return issues


class InputIssues:
    """The input errors of several independent checks of one command, reported together: each
    :meth:`check` runs a step that may raise :class:`InputError` and keeps its issues (returning
    None), :meth:`raise_if_any` raises them as one error at the end."""

    def __init__(self):
        self.issues: list = []

    def extend(self, issues) -> None:
        self.issues.extend(i for i in issues if i not in self.issues)

    def check(self, step, *args, **kwargs):
        try:
            return step(*args, **kwargs)
        except InputError as exc:
            self.extend(exc.issues)
            return None

    def raise_if_any(self) -> None:
        if self.issues:
            raise InputError(self.issues)


def add_verbose(p: argparse.ArgumentParser) -> None:
    """``-v`` / ``--verbose`` on a long-running sub-command: progress lines on stderr
    (:mod:`solver.progress`); ``-vv`` adds each column-generation round."""
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="print each solver phase as it ends, with its figures, on stderr (-vv: more)")


def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        # (QA s18: Ctrl-C while the command modules load, the first ~0.9 s, printed a traceback)
        parser = build_parser()
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: bad usage -> 2, --help -> 0
        return int(exc.code or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    from solver.progress import shown
    from solver.yamlio import guarding_inputs
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _ReaderMayLeave(stdout), _ReaderMayLeave(stderr)
    try:
        # every file the command reads is safe from its outputs (yamlio.guarding_inputs)
        broken = broken_option_rules(args)
        if broken:
            raise InputError(broken)
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
        from solver.mip import stop
        if stop.abandoned():
            # a solver thread still runs in C++ (OR-Tools' HiGHS or CBC cannot be stopped): leave now,
            # not through the interpreter's shutdown, which would unload the solver under it
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)
        return 130
    except Exception as exc:  # noqa: BLE001 - last resort: never a bare traceback
        if getattr(args, "debug", False):
            raise
        # --debug is the main parser's: it goes before the command name
        print(f"internal error: {type(exc).__name__}: {exc}\n"
              f"    this is a bug in fleetopt; rerun as `fleetopt --debug {args.command} ...` for the "
              "traceback and report it", file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = stdout, stderr
