"""Errors a user can act on.

Every problem with user input is an :class:`InputIssue` (file, line, field path,
what is wrong, how to fix it).  Loaders collect *all* issues before raising one
:class:`InputError`, so a user fixes a file in one pass instead of one error at
a time.  The CLI prints them and exits with :data:`EXIT_BAD_INPUT`; it never
shows a traceback for input problems.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

# Documented exit codes (README "Exit codes").
EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_INFEASIBLE = 3
EXIT_TIME_LIMIT = 4
EXIT_SOLVER_ERROR = 5
EXIT_VIOLATIONS = 6


class FleetoptError(Exception):
    """Base class of every error fleetopt raises on purpose."""

    exit_code = EXIT_INTERNAL


@dataclass(frozen=True)
class InputIssue:
    """One thing wrong with one field of one input file."""

    message: str
    file: str | None = None
    line: int | None = None
    path: str = ""
    hint: str | None = None

    def format(self) -> str:
        # no file and no line: a command-line option or the like, which "<input>:" would show as a file
        where = self.file or ("<input>" if self.line is not None else "")
        if self.line is not None:
            where += f":{self.line}"
        head = f"{where}: " if where else ""
        if self.path:
            head += f"{self.path}: "
        text = head + self.message
        if self.hint:
            text += f"\n    fix: {self.hint}"
        return text


class InputError(FleetoptError):
    """One or more :class:`InputIssue` found while reading user input."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, issues: Sequence[InputIssue] | InputIssue):
        if isinstance(issues, InputIssue):
            issues = [issues]
        self.issues: list[InputIssue] = list(issues)
        super().__init__(self.format())

    def format(self) -> str:
        n = len(self.issues)
        lines = [f"{n} input error{'s' if n != 1 else ''}:"]
        lines += _folded(self.issues)
        return "\n".join(lines)


#: the same message and fix in more places than this is printed once, with the count and places
FOLD_OVER = 3


def _folded(issues: Sequence[InputIssue]) -> list[str]:
    """Each issue's text, in order; one message repeated at many places (an unknown id in every
    imported measurement) once, at its first place, with how many more and where."""
    groups: dict[tuple, list[InputIssue]] = {}
    for issue in issues:
        groups.setdefault((issue.file, issue.message, issue.hint), []).append(issue)
    out = []
    for group in groups.values():
        if len(group) <= FOLD_OVER:
            out += [issue.format() for issue in group]
            continue
        first, rest = group[0], group[1:]
        places = ", ".join(i.path or f"line {i.line}" for i in rest[:3]) + (", ..." if len(rest) > 3 else "")
        text = first.format()
        head, sep, fix = text.partition("\n")
        out.append(f"{head} (and {len(rest)} more places: {places}){sep}{fix}")
    return out


class NoStartingPlan(InputError):
    """A study that starts from the problem's own plan (a Pareto front) found none: the problem is
    infeasible (exit 3) or its solve failed (exit 5), which is not bad input (exit 2)."""

    def __init__(self, issue: InputIssue, infeasible: bool):
        self.exit_code = EXIT_INFEASIBLE if infeasible else EXIT_SOLVER_ERROR
        super().__init__(issue)

    def format(self) -> str:
        return "no plan to start from:\n" + "\n".join(issue.format() for issue in self.issues)


class SolverUnavailableError(FleetoptError):
    """The requested solver is not installed or crashed."""

    exit_code = EXIT_SOLVER_ERROR


class SolveFailed(FleetoptError):
    """A solve that a study needs (a point of a Pareto front) ended without a plan: the solver
    failed, or its time limit came before any plan (status ``error``, exit 5; not bad input)."""

    exit_code = EXIT_SOLVER_ERROR


#: what to do about a solve that ended in status ``error`` (its message may already say it)
RAISE_TIME_LIMIT = "if the solver stopped at its time limit, raise --time-limit; else try another --backend/--solver"


@dataclass
class IssueCollector:
    """Accumulates issues so that a loader can report all of them at once."""

    file: str | None = None
    issues: list[InputIssue] = field(default_factory=list)

    def add(self, message: str, *, path: str = "", line: int | None = None,
            hint: str | None = None, file: str | None = None) -> None:
        self.issues.append(InputIssue(message=message, file=file or self.file, line=line,
                                      path=path, hint=hint))

    def extend(self, issues: Iterable[InputIssue]) -> None:
        self.issues.extend(issues)

    def raise_if_any(self) -> None:
        if self.issues:
            raise InputError(self.issues)

    def __bool__(self) -> bool:  # pragma: no cover - convenience
        return bool(self.issues)


def did_you_mean(word: str, choices: Iterable[str], n: int = 3, cutoff: float = 0.5,
                 substrings: bool = True) -> list[str]:
    """Close matches of ``word`` among ``choices`` (case-insensitive).  ``cutoff`` 0.8 without
    ``substrings``: near spellings only, for short names where a looser match misleads (a new family
    'acme' was offered 'ampere')."""
    choices = [str(c) for c in choices if c is not None]
    lower = {c.lower(): c for c in choices}
    hits = difflib.get_close_matches(str(word).lower(), list(lower), n=n, cutoff=cutoff)
    # Substring matches help with ids such as "h100" -> "h100-sxm".
    for c in choices if substrings else ():
        if str(word).lower() in c.lower() and c.lower() not in hits and len(hits) < n:
            hits.append(c.lower())
    return [lower[h] for h in hits]


#: the kinds `fleetopt catalog list KIND` lists (a hint may point there only for these)
CATALOG_KINDS = ("accelerators", "models", "quantization", "regions")


def unknown_id_hint(word: str, choices: Iterable[str], what: str, then: Optional[str] = None) -> str:
    """A 'did you mean' hint ending with what to do: ``then``, by default the catalog listing
    for a catalog kind (nothing for other ids, e.g. a problem's scenarios)."""
    if then is None:
        then = f"Run `fleetopt catalog list {what}` to see every id." if what in CATALOG_KINDS else ""
    choices = sorted(set(choices))
    close = did_you_mean(word, choices)
    if close:
        head = f"did you mean {' or '.join(repr(c) for c in close)}?"
    else:
        head = f"known {what}: {', '.join(choices[:12])}{' ...' if len(choices) > 12 else ''}."
    return f"{head} {then}".rstrip()
