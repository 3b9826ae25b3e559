"""Normalised solve status and result, shared by every backend.

Raw solver codes never leave a backend: each maps its own codes to one of
:data:`STATUSES` and says in ``message`` what the solver reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from solver.errors import EXIT_INFEASIBLE, EXIT_OK, EXIT_SOLVER_ERROR, EXIT_TIME_LIMIT

OPTIMAL = "optimal"          # proven optimal (within the requested relative gap)
TIME_LIMIT = "time_limit"    # a feasible plan, stopped by the time limit before proof
INFEASIBLE = "infeasible"    # no plan satisfies every constraint
UNBOUNDED = "unbounded"      # cannot happen with non-negative costs; kept for completeness
ERROR = "error"              # solver missing, crashed, or stopped without any plan

STATUSES = (OPTIMAL, TIME_LIMIT, INFEASIBLE, UNBOUNDED, ERROR)

EXIT_CODE = {OPTIMAL: EXIT_OK, TIME_LIMIT: EXIT_TIME_LIMIT, INFEASIBLE: EXIT_INFEASIBLE,
             UNBOUNDED: EXIT_SOLVER_ERROR, ERROR: EXIT_SOLVER_ERROR}


@dataclass
class SolveResult:
    """What a backend returns: a status, and values when a plan was found."""

    status: str
    backend: str
    solver: str
    seconds: float
    values: Optional[np.ndarray] = None
    objective: Optional[float] = None
    best_bound: Optional[float] = None
    message: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:  # pragma: no cover - programming error
            raise ValueError(f"unknown status {self.status!r}")

    @property
    def has_plan(self) -> bool:
        return self.values is not None and self.status in (OPTIMAL, TIME_LIMIT)

    @property
    def gap(self) -> Optional[float]:
        """Proven relative gap |obj - bound| / max(|obj|, 1e-9), when the solver gave a bound."""
        if self.objective is None or self.best_bound is None:
            return None
        return abs(self.objective - self.best_bound) / max(abs(self.objective), 1e-9)
