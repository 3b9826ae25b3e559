"""Many solves of one problem: Pareto fronts (:mod:`.pareto`) and sweeps (:mod:`.sweep`).

Architects rarely want one answer; they want to see what a tighter latency
target, a better model or a demand surprise costs.  Everything here re-solves
the problem through :func:`solver.mip.pipeline.solve_problem` (or, for the
carbon front, the same model with one extra row), so every point or row is a
full plan that :mod:`solver.verify` can check.
"""

from solver.explore.common import SolveOptions

__all__ = ["SolveOptions"]
