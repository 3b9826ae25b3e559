"""LP-guided solve for large instances: LP bound + MIP restricted to the LP's candidates.

At the scale rungs (benchmarks/scale, rung L: ~217k variables, 24k rows) the
full MIP does not find a single plan within 60 s on two cores with any
backend: most of the time goes into the root LP, whose optimum uses a handful
of the thousands of candidates (14 of 3,133 at rung L).  This solve exploits
that:

1. Solve the LP relaxation (HiGHS, passed as arrays: no per-coefficient
   Python loop).  Its optimum is a valid lower bound on every plan.
2. Keep the candidates whose replica count is positive in the LP (plus, per
   workload, its ``keep_per_workload`` cheapest pairs by cost per request, so
   the restricted problem stays feasible when rounding needs other shapes),
   fix every other candidate and its routing to zero, and solve that much
   smaller MIP exactly (HiGHS) in the remaining time.
3. Report the restricted plan with ``best_bound`` = the LP bound, so the gap
   is an honest, proven gap of the plan against the full problem.

This is a heuristic for the plan and exact for the bound; the status is
``optimal`` only when that proven gap is within ``mip_gap``, else
``time_limit`` (a feasible plan, optimality not proven).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Optional

import numpy as np

from solver.mip.model import LinearModel
from solver.mip.status import ERROR, INFEASIBLE, OPTIMAL, TIME_LIMIT, SolveResult


def _highs(model: LinearModel, *, relax: bool, time_limit_s: float, mip_gap: float,
           threads: Optional[int]):
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
    if not relax:
        lp.integrality_ = [highspy.HighsVarType.kInteger if b else highspy.HighsVarType.kContinuous
                           for b in model.is_int]
    h.passModel(lp)
    h.setOptionValue("time_limit", float(max(time_limit_s, 0.5)))
    h.setOptionValue("mip_rel_gap", float(mip_gap))
    if threads:
        h.setOptionValue("threads", int(threads))
    return h


def restrict(model: LinearModel, pair_c: np.ndarray, keep_c: np.ndarray) -> LinearModel:
    """``model`` with every candidate outside ``keep_c`` (and its routing and spare) fixed to 0."""
    ub = model.ub.copy()
    y, x = model.blocks["y"], model.blocks["x"]
    drop = np.ones(len(y), bool)
    drop[keep_c] = False
    ub[y[drop]] = 0.0
    ub[x[drop[pair_c]]] = 0.0
    s_of_c = model.blocks.get("s_of_c")
    if s_of_c is not None:
        sc = s_of_c[drop]
        ub[sc[sc >= 0]] = 0.0
    return replace(model, ub=ub)


def solve_lp_guided(model: LinearModel, pair_w: np.ndarray, pair_c: np.ndarray, *,
                    time_limit_s: float = 60.0, mip_gap: float = 5e-3, threads: Optional[int] = None,
                    keep_per_workload: int = 2, lp_method: str = "ipm") -> SolveResult:
    """LP bound, then the MIP restricted to the LP's support (see module docstring)."""
    t0 = time.perf_counter()
    try:
        import highspy  # noqa: F401
    except ImportError:
        return SolveResult(ERROR, "lpguided", "highs", 0.0, message="highspy is not installed")
    h = _highs(model, relax=True, time_limit_s=time_limit_s, mip_gap=mip_gap, threads=threads)
    h.setOptionValue("solver", lp_method)
    h.run()
    st = h.modelStatusToString(h.getModelStatus())
    if st == "Infeasible":
        return SolveResult(INFEASIBLE, "lpguided", "highs", time.perf_counter() - t0,
                           message="LP relaxation infeasible")
    if st != "Optimal":
        return SolveResult(ERROR, "lpguided", "highs", time.perf_counter() - t0,
                           message=f"LP relaxation: {st}")
    bound = float(h.getInfo().objective_function_value)
    xlp = np.asarray(h.getSolution().col_value, float)
    y, x = model.blocks["y"], model.blocks["x"]
    keep = set(np.flatnonzero(xlp[y] > 1e-6).tolist())
    # per workload, its cheapest pairs by objective per request (routing cost + replica cost share)
    if keep_per_workload > 0 and len(pair_w):
        per_req = model.obj[x] + model.obj[y][pair_c] / np.maximum(model.ub[x], 1e-9)
        order = np.lexsort((per_req, pair_w))
        wsorted = pair_w[order]
        first = np.searchsorted(wsorted, wsorted, side="left")
        rank = np.arange(len(order)) - first
        keep |= set(pair_c[order[rank < keep_per_workload]].tolist())
    keep_c = np.array(sorted(keep), np.int64)
    left = time_limit_s - (time.perf_counter() - t0)
    if left <= 0.5:
        return SolveResult(ERROR, "lpguided", "highs", time.perf_counter() - t0, best_bound=bound,
                           message="time limit reached in the LP relaxation")
    rm = restrict(model, pair_c, keep_c)
    h2 = _highs(rm, relax=False, time_limit_s=left, mip_gap=mip_gap, threads=threads)
    h2.run()
    st2 = h2.modelStatusToString(h2.getModelStatus())
    info = h2.getInfo()
    secs = time.perf_counter() - t0
    if info.primal_solution_status != 2:      # kSolutionStatusFeasible
        return SolveResult(ERROR, "lpguided", "highs", secs, best_bound=bound,
                           message=f"restricted MIP ({len(keep_c)} candidates): {st2}, no plan")
    v = np.asarray(h2.getSolution().col_value, float)
    obj = model.objective_value(np.where(model.is_int, np.round(v), v))
    gap = abs(obj - bound) / max(abs(obj), 1e-9)
    status = OPTIMAL if gap <= mip_gap else TIME_LIMIT
    return SolveResult(status, "lpguided", "highs", secs, values=v, objective=obj, best_bound=bound,
                       message=f"LP bound {bound:.6g}; restricted MIP over {len(keep_c)} of {len(y)} "
                               f"candidates: {st2}")
