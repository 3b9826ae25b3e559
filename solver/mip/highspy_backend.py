"""The ``highspy`` backend: HiGHS called directly on the model's arrays.

pulp and OR-Tools build their models one coefficient at a time in Python,
which costs seconds at the scale rungs (0.6-0.8 M nonzeros).  Here the
:class:`~solver.mip.model.LinearModel`'s CSR arrays go to HiGHS in one call.

Solvers:

* ``reduced`` (default): :mod:`solver.mip.reduced` - column generation for the
  LP bound, reduced-cost fixing, then HiGHS on what is left; exact (its gap is
  proven for the full model) and built for large instances.  Models without
  the pair/candidate/offer maps fall back to ``highs``.  Multi-period problems
  that the period relaxation covers are decomposed by period instead
  (:mod:`solver.mip.decompose`, called from :mod:`solver.periods_plan`); other
  multi-period models go to ``highs`` whole.
* ``highs``: the full MIP in one HiGHS call.

Both accept a warm start (a full solution vector, e.g. from a previous plan).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Optional

import numpy as np

from solver.mip import stop
from solver.mip.model import LinearModel
from solver.mip.status import ERROR, INFEASIBLE, OPTIMAL, TIME_LIMIT, UNBOUNDED, SolveResult

SOLVERS = ("reduced", "highs")
#: HiGHS's model status text after a user interrupt
INTERRUPTED = "Interrupted by user"


#: the thread count of HiGHS's task scheduler in this process (None: no HiGHS run yet)
_SCHEDULER_THREADS: Optional[int] = None
_SCHEDULER_LOCK = threading.Lock()


def highs_threads(requested: Optional[int]) -> int:
    """The thread count every HiGHS run in this process must ask for.

    HiGHS sizes one task scheduler per process at its first run, and a later run that asks for
    another count fails at once (model status 'Not Set', highspy 1.12): the suite's order put a
    ``threads=2`` decomposition before the ``threads=1`` routing LP and period solves, and the plans
    lost their canonical routing; ``fleetopt solve --threads 2`` on a multi-period problem did the
    same.  The first request (or HiGHS's own default, half the cores rounded up) fixes the count;
    later requests get it."""
    global _SCHEDULER_THREADS
    with _SCHEDULER_LOCK:
        if _SCHEDULER_THREADS is None:
            _SCHEDULER_THREADS = int(requested) if requested else max(1, ((os.cpu_count() or 1) + 1) // 2)
        return _SCHEDULER_THREADS


def highs_from_model(model: LinearModel, *, relax: bool, time_limit_s: float, mip_gap: float,
                     threads: Optional[int]):
    """A quiet ``highspy.Highs`` holding ``model`` (integrality dropped when ``relax``)."""
    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_ = model.n_vars
    lp.num_row_ = model.n_rows
    lp.col_cost_ = np.asarray(model.obj, float)
    lp.col_lower_ = np.asarray(model.lb, float)
    lp.col_upper_ = np.where(np.isfinite(model.ub), model.ub, inf)
    lp.row_lower_ = np.where(model.sense == "<", -inf, model.rhs)
    lp.row_upper_ = np.where(model.sense == ">", inf, model.rhs)
    lp.offset_ = float(model.obj_const)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = np.asarray(model.indptr, np.int32)
    lp.a_matrix_.index_ = np.asarray(model.indices, np.int32)
    lp.a_matrix_.value_ = np.asarray(model.data, float)
    if not relax and model.is_int.any():
        lp.integrality_ = [highspy.HighsVarType.kInteger if b else highspy.HighsVarType.kContinuous
                           for b in model.is_int]
    h.passModel(lp)
    h.setOptionValue("time_limit", float(max(time_limit_s, 0.5)))
    h.setOptionValue("mip_rel_gap", float(mip_gap))
    h.setOptionValue("threads", highs_threads(threads))
    return h


def run_mip(model: LinearModel, time_limit_s: float, mip_gap: float, threads: Optional[int],
            start: Optional[np.ndarray] = None, cutoff: Optional[float] = None,
            presolve: bool = True) -> tuple[Optional[np.ndarray], float, str]:
    """(values or None, dual bound, HiGHS model status text) of the MIP ``model``.

    ``cutoff``: prune every node whose bound reaches it (HiGHS ``objective_bound``), i.e. search
    only for plans cheaper than ``cutoff``.  A finished search then proves that no such plan
    exists, so min(dual bound, cutoff) is a valid bound; "Infeasible" means none is cheaper.
    After Ctrl-C (:mod:`solver.mip.stop`) the search stops at its next node and returns its
    incumbent ("Interrupted by user"); once stopped, no new search starts.
    """
    import highspy

    if stop.requested():
        return None, float("nan"), INTERRUPTED
    scale = model.objective_scale()       # tiny costs: the tolerances are absolute (LinearModel)
    model = model.scaled(scale)
    if cutoff is not None:
        cutoff = cutoff * scale
    h = highs_from_model(model, relax=False, time_limit_s=time_limit_s, mip_gap=mip_gap, threads=threads)
    if stop.listening():
        h.cbMipInterrupt.subscribe(stop.interrupt_callback)
    if cutoff is not None:
        h.setOptionValue("objective_bound", float(cutoff))
    if not presolve:
        h.setOptionValue("presolve", "off")
    if start is not None:
        sol = highspy.HighsSolution()
        sol.col_value = [float(v) for v in start]
        sol.value_valid = True
        h.setSolution(sol)
    from solver.mip.backends import quiet_stdout
    with quiet_stdout():
        stop.run_listening(h.run)
    info = h.getInfo()
    status = h.modelStatusToString(h.getModelStatus())
    bound = float(info.mip_dual_bound) / scale
    if info.primal_solution_status != 2:          # kSolutionStatusFeasible
        return None, bound, status
    return np.asarray(h.getSolution().col_value, float), bound, status


def _normalise(status_text: str, has_plan: bool, gap: Optional[float], mip_gap: float) -> str:
    if status_text == "Infeasible":
        return INFEASIBLE
    if status_text in ("Unbounded", "Unbounded or infeasible") and not has_plan:
        return UNBOUNDED if status_text == "Unbounded" else INFEASIBLE
    if not has_plan:
        return ERROR
    if status_text == "Optimal" or (gap is not None and gap <= mip_gap + 1e-12):
        return OPTIMAL
    return TIME_LIMIT


def solve_highspy(model: LinearModel, solver: str, time_limit_s: float, mip_gap: float,
                  threads: Optional[int], msg: bool = False,
                  start: Optional[np.ndarray] = None, presolve: bool = True) -> SolveResult:
    """Solve with HiGHS directly; ``solver`` is one of :data:`SOLVERS` (``presolve``: whole-model
    solves only, see :func:`solver.mip.pipeline.checked`)."""
    try:
        import highspy  # noqa: F401
    except ImportError:
        return SolveResult(ERROR, "highspy", solver, 0.0, message="highspy is not installed")
    t0 = time.perf_counter()
    if solver == "reduced":
        if all(key in model.blocks for key in ("pair_w", "pair_c", "cand_offer")):
            from solver.mip.reduced import solve_reduced

            return solve_reduced(model, time_limit_s=time_limit_s, mip_gap=mip_gap, threads=threads,
                                 start=start)
        note = "(column generation needs the single-period fleet model; this model went to HiGHS whole) "
    else:
        note = ""
    values, bound, text = run_mip(model, time_limit_s, mip_gap, threads, start=start, presolve=presolve)
    if not presolve:
        note += "presolve off; "
    obj = model.objective_value(values) if values is not None else None
    gap = None
    if obj is not None and np.isfinite(bound):
        gap = abs(obj - bound) / max(abs(obj), 1e-9)
    status = _normalise(text, values is not None, gap, mip_gap)
    if text == INTERRUPTED:
        note += stop.STOPPED_NOTE + "; " if values is not None else "stopped by the user before a plan was found; "
    return SolveResult(status, "highspy", solver, time.perf_counter() - t0, values=values,
                       best_bound=bound if np.isfinite(bound) and values is not None else None,
                       message=note + f"HiGHS {text}")
