"""Progress lines for long solves (``fleetopt solve --verbose``).

A large solve runs for minutes in phases (coefficients, model, LP bound,
incumbent, fixing, the MIP on what is left; per period for multi-period
problems).  A batch job's log, or a user at a terminal, should see each phase
end with its figures, not a silent minute.  Modules log through the standard
:mod:`logging` tree under ``solver`` (``logging.getLogger(__name__)``), at INFO
for phase ends and DEBUG for finer steps (each column-generation round); the
library itself attaches no output (a ``NullHandler``), so nothing is printed
unless a caller asks: the CLI with :func:`shown`, a notebook with
``logging.basicConfig(level=logging.INFO)``.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from typing import Iterator, Optional, TextIO

ROOT = "solver"
logging.getLogger(ROOT).addHandler(logging.NullHandler())


class _Elapsed(logging.Formatter):
    """``[  12.3s] message``: seconds since the lines were switched on."""

    def __init__(self, t0: float):
        super().__init__()
        self.t0 = t0

    def format(self, record: logging.LogRecord) -> str:
        return f"[{record.created - self.t0:7.1f}s] {record.getMessage()}"


@contextlib.contextmanager
def shown(verbosity: int, stream: Optional[TextIO] = None) -> Iterator[None]:
    """Within the block, print progress lines to ``stream`` (stderr): INFO at ``verbosity`` 1,
    also DEBUG at 2 or more; at 0 only warnings (``warning: ...``: something the user asked for
    was not done, e.g. a warm start that matched nothing).  The handler is removed afterwards."""
    logger = logging.getLogger(ROOT)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    old_level, old_propagate = logger.level, logger.propagate
    if verbosity <= 0:
        # only a handler for warnings: the logger's level and other handlers stay as the caller set them
        handler.setFormatter(logging.Formatter("warning: %(message)s"))
        handler.setLevel(logging.WARNING)
        logger.addHandler(handler)
        try:
            yield
        finally:
            logger.removeHandler(handler)
        return
    handler.setFormatter(_Elapsed(time.time()))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbosity >= 2 else logging.INFO)
    logger.propagate = False         # not twice where the caller has a root handler
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.propagate = old_propagate


def money(x: Optional[float]) -> str:
    """A cost for a progress line: ``1,234,567``, ``4.68``, ``1.4746e-08`` below a cent (or ``-``
    when there is none)."""
    if x is None or x != x or abs(x) >= 1e15:
        return "-"
    if abs(x) >= 100 or x == 0:
        return f"{x:,.0f}"
    return f"{x:,.2f}" if abs(x) >= 0.01 else f"{x:.5g}"


def starting(backend: str, solver: str, time_limit_s: float, mip_gap: float, note: str = "") -> str:
    """The line that starts a solve: which solver, under which limits."""
    return f"solving with {backend}/{solver}: time limit {time_limit_s:g}s, gap {mip_gap:g}{note}"


def solved(res) -> str:
    """The line that ends a solve: status, plan and bound costs, solver seconds."""
    return (f"{res.status}: plan {money(res.objective)}, bound {money(res.best_bound)}, "
            f"{res.seconds:.1f}s in the solver")
