"""Solver options a caller passes over the problem's own ``solver`` section, checked in one place.

:func:`solver.mip.pipeline.solve_problem`, :func:`solver.explain.explain`, Pareto fronts,
sweeps and every CLI command check them here, so a Python call is refused exactly where its
CLI flag is (a ``mip_gap=5`` meant as "5 %" used to come back "optimal" at 7.6x the optimum).
Messages name both spellings, ``mip_gap (--gap)``: the same check serves both callers.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass
from typing import Optional

from solver.errors import InputError, InputIssue, did_you_mean
from solver.mip.backends import BACKENDS

#: the Python keyword and the CLI flag of each option, as the messages name them
NAMES = {"backend": "backend (--backend)", "solver": "solver (--solver)",
         "time_limit_s": "time_limit_s (--time-limit)", "mip_gap": "mip_gap (--gap)",
         "threads": "threads (--threads)"}


def _one_of(word: str, choices) -> str:
    close = did_you_mean(word, choices)
    head = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    return f"{head}use one of {', '.join(choices)}"


def _number(value, name: str, *, integer: bool = False) -> None:
    """A string or bool here would fail deep in a solver or a log line, far from the call."""
    ok = isinstance(value, numbers.Integral if integer else numbers.Real) and not isinstance(value, bool)
    if not ok:
        raise InputError(InputIssue(f"{NAMES[name]} must be {'an integer' if integer else 'a number'}, "
                                    f"got {type(value).__name__} {value!r}",
                                    hint="pass a number, e.g. 60 not '60'"))


@dataclass(frozen=True)
class SolveOptions:
    """Solver options that override the problem's own ``solver`` section (None: keep it)."""

    backend: Optional[str] = None
    solver: Optional[str] = None
    time_limit_s: Optional[float] = None
    mip_gap: Optional[float] = None
    threads: Optional[int] = None

    def kwargs(self) -> dict:
        return asdict(self)

    def check(self, default_backend: Optional[str] = None) -> "SolveOptions":
        """Raise :class:`InputError` for options the backends cannot honour, every one at once.

        ``default_backend``: the problem's backend, which a ``solver`` must belong to when no
        ``backend`` is given (the problem's own solver name is checked by its schema).
        """
        issues = self.issues(default_backend)
        if issues:
            raise InputError(issues)
        return self

    def issues(self, default_backend: Optional[str] = None) -> list:
        """What :meth:`check` refuses, as a list (QA s18: one option error per run)."""
        out: list = []

        def number(value, name: str, integer: bool = False) -> bool:
            try:
                _number(value, name, integer=integer)
                return True
            except InputError as exc:
                out.extend(exc.issues)
                return False

        known = self.backend is None or self.backend in BACKENDS
        if not known:
            out.append(InputIssue(f"{NAMES['backend']}: unknown backend {self.backend!r}",
                                  hint=_one_of(str(self.backend), sorted(BACKENDS))))
        backend = self.backend or default_backend
        if self.solver is not None:
            if not isinstance(self.solver, str):
                out.append(InputIssue(f"{NAMES['solver']} must be a solver name, got {self.solver!r}",
                                      hint="e.g. 'highs'"))
            elif known and backend is not None and self.solver.lower() not in BACKENDS[backend]:
                out.append(InputIssue(f"{NAMES['solver']}: backend {backend} has no solver {self.solver!r}",
                                      hint=_one_of(self.solver, BACKENDS[backend])))
        # (QA s18: an infinite limit passed here and crashed OR-Tools, which takes whole milliseconds;
        # the problem file's own limit must be finite too)
        if (self.time_limit_s is not None and number(self.time_limit_s, "time_limit_s")
                and not 0 < self.time_limit_s < math.inf):
            out.append(InputIssue(f"{NAMES['time_limit_s']} must be a finite number of seconds > 0, "
                                  f"got {self.time_limit_s!r}", hint="e.g. 60"))
        if self.mip_gap is not None and number(self.mip_gap, "mip_gap") and not 0 <= self.mip_gap < 1:
            out.append(InputIssue(f"{NAMES['mip_gap']} must be in [0, 1), got {self.mip_gap!r}",
                                  hint="it is a fraction of the cost: 0.05 for 5 %, e.g. 1e-4"))
        if self.threads is not None and number(self.threads, "threads", integer=True) and self.threads < 1:
            out.append(InputIssue(f"{NAMES['threads']} must be >= 1, got {self.threads!r}",
                                  hint="leave it out for the solver's own default"))
        return out
