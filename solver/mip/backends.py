"""Solver backends: translate a :class:`LinearModel` to pulp or OR-Tools and solve it.

Two independent stacks read the same arrays, so agreement between them is a
real check of each.  Solvers are chosen by name here and nowhere else:

=========  ==========================================================
backend    solvers (first is the default)
=========  ==========================================================
pulp       ``cbc`` (PULP_CBC_CMD, bundled), ``highs`` (pulp.HiGHS via highspy)
ortools    ``scip``, ``cbc``, ``highs`` (pywraplp)
highspy    ``reduced`` (column generation + reduced-cost fixing, for large
           instances; :mod:`solver.mip.reduced`), ``highs`` (the whole MIP,
           passed as arrays); :mod:`solver.mip.highspy_backend`
=========  ==========================================================

Every solver takes an optional warm start (a full solution vector, e.g. from a
previous plan): CBC through pulp's ``warmStart``, OR-Tools through ``SetHint``,
HiGHS through ``setSolution``.  pulp's HiGHS interface has none, and OR-Tools'
HiGHS wrapper crashed the process on an infeasible hint (measured, OR-Tools 9.15),
so neither gets one.

CP-SAT is deliberately not offered: through pywraplp it silently rounds the
model's fractional coefficients (1 / capacity, prices) and then reports a
worse plan as "optimal" (measured: 24,836 vs 22,948 USD on
enterprise-multi-region).  A faithful CP-SAT backend needs an explicit
integer scaling with an error bound; until then a request for it is an error.

CBC run by pulp writes temporary files; they go to a private temporary
directory that is removed afterwards, never to the working directory.  When
SIGTERM or Ctrl-C ends fleetopt meanwhile, CBC is killed and the directory
removed too (:func:`solver.mip.stop.solver_scratch`) where the solve runs in
the main thread; a pulp/CBC solve in another thread can leave both behind.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import signal
import sys
import threading
import time
from typing import Callable, Optional

import numpy as np

from solver.mip import stop
from solver.mip.model import LinearModel
from solver.mip.status import ERROR, INFEASIBLE, OPTIMAL, TIME_LIMIT, UNBOUNDED, SolveResult
from solver.progress import solved, starting

log = logging.getLogger(__name__)

BACKENDS: dict[str, tuple[str, ...]] = {
    "pulp": ("cbc", "highs"),
    "ortools": ("scip", "cbc", "highs"),
    "highspy": ("reduced", "highs"),
}


def default_solver(backend: str) -> str:
    return BACKENDS[backend][0]


def solve(model: LinearModel, backend: str = "pulp", solver: Optional[str] = None, *,
          time_limit_s: float = 60.0, mip_gap: float = 1e-4, threads: Optional[int] = None,
          msg: bool = False, start: Optional[np.ndarray] = None) -> SolveResult:
    """Solve ``model`` with the named backend and solver; never raises for solver failures.

    ``start``: a full solution vector to start from (a hint; solvers may ignore it).
    """
    if backend not in BACKENDS:
        return SolveResult(ERROR, backend, solver or "?", 0.0,
                           message=f"unknown backend {backend!r}; use one of {sorted(BACKENDS)}")
    solver = (solver or default_solver(backend)).lower()
    if solver in ("cp-sat", "cpsat", "cp_sat"):
        return SolveResult(ERROR, backend, solver, 0.0,
                           message="cp-sat is not offered: it would round the model's fractional "
                                   "coefficients and report a worse plan as optimal; use scip, cbc or highs")
    if solver not in BACKENDS[backend]:
        return SolveResult(ERROR, backend, solver, 0.0,
                           message=f"backend {backend} has no solver {solver!r}; "
                                   f"use one of {', '.join(BACKENDS[backend])}")
    if start is not None and len(start) != model.n_vars:
        start = None
    if model.n_vars == 0:
        # nothing to decide (no candidate deployment): the empty plan satisfies every row or none
        # does; solvers disagree on such a model (QA: HiGHS 'Empty' and a numpy broadcasting error
        # in the reduced solver, where CBC and SCIP said infeasible)
        empty = np.zeros(0)
        broken = model.violations(empty)
        if broken:
            return SolveResult(INFEASIBLE, backend, solver, 0.0,
                               message=f"the model has no variables (no candidate deployment) and {len(broken)} "
                                       f"row(s) need one: {broken[0]}")
        return SolveResult(OPTIMAL, backend, solver, 0.0, values=empty, objective=model.objective_value(empty),
                           best_bound=model.objective_value(empty), message="the model has no variables")
    fn: Callable = {"pulp": _solve_pulp, "ortools": _solve_ortools, "highspy": _solve_highspy}[backend]
    scale = model.objective_scale()
    if scale != 1.0:
        log.info(SCALED_NOTE, scale)
    t0 = time.perf_counter()
    try:
        res = fn(model.scaled(scale), solver, time_limit_s, mip_gap, threads, msg, start)
    except Exception as exc:  # noqa: BLE001 - a crashing solver is a status, not a traceback
        return SolveResult(ERROR, backend, solver, time.perf_counter() - t0,
                           message=f"{type(exc).__name__}: {exc}")
    res.seconds = time.perf_counter() - t0
    if scale != 1.0:
        unscale(res, scale)
    if res.status == ERROR and res.seconds >= 0.9 * time_limit_s and not (backend == "pulp" and stop.overran()):
        tip = ("" if (backend, solver) == ("highspy", "reduced") else
               ", or for a large model use backend='highspy', solver='reduced' (--backend highspy "
               "--solver reduced)")
        if (backend, solver) == ("ortools", "highs"):
            # (QA s27: on a generated M instance HiGHS itself had a plan after 2 s; the wrapper gave
            # MPSOLVER_UNKNOWN_STATUS and no solution at every limit up to 9 s)
            tip = ("; OR-Tools' HiGHS wrapper returns no plan when its time limit stops it, whatever HiGHS "
                   "found: --backend highspy --solver highs (or reduced) returns the best plan found")
        res.message = (f"time limit ({time_limit_s:g} s) reached before any feasible plan was found "
                       f"[{res.message}]; raise time_limit_s (--time-limit){tip}")
    return refused_if_broken(model, cleaned(model, res))


#: a solver's plan that breaks a row by more than this share of the row's size is refused
BROKEN_ROW_TOL = 1e-5


def broken_rows(model: LinearModel, v: np.ndarray, tol: float = BROKEN_ROW_TOL) -> list[str]:
    """Rows ``v`` breaks by more than ``tol`` of the row's size: max(1, |rhs|, sum_j |a_ij v_j|).

    Why the row's own size: a demand of 1e9 req/s routed over replicas of 10 req/s makes rows
    whose terms are 1e8 with a right-hand side of 0; the solvers' tolerances (1e-7 to 1e-6 after
    their own scaling) are relative to such terms, not to 1.  Solver noise stays far below 1e-5 of
    it; a plan that routes nothing where 40 req/s are due breaks its row by the whole of it."""
    if model.n_rows == 0:
        return []
    rows = model.row_of_nnz()
    act = np.bincount(rows, weights=model.data * v[model.indices], minlength=model.n_rows)
    size = np.bincount(rows, weights=np.abs(model.data * v[model.indices]), minlength=model.n_rows)
    scale = np.maximum(np.maximum(1.0, np.abs(model.rhs)), size)
    with np.errstate(over="ignore", invalid="ignore"):
        slack = np.where(model.sense == "<", act - model.rhs,
                         np.where(model.sense == ">", model.rhs - act, np.abs(act - model.rhs)))
        bad = np.flatnonzero(slack > tol * scale)
    return [f"{model.row_names[i]}: {act[i]:.6g} {model.sense[i]} {model.rhs[i]:.6g}" for i in bad]


def refused_if_broken(model: LinearModel, res: SolveResult) -> SolveResult:
    """``res``, or an ``error`` in its place when the plan it holds breaks rows of ``model``.

    Why: a solver's word is not proof.  A CBC that wrote "Optimal" with every variable at 0 was
    taken as an optimal plan of $0 serving none of the demand (QA s27, a stand-in CBC); a solver
    fault of that kind is an error, so that the next solver of ``solver.fallback`` is tried and no
    such plan is ever written.  (The routing LP of the clean-up and the verifier check the plan
    again later; this check is the one that decides whether the solver's answer is used at all.)"""
    if not res.has_plan:
        return res
    bad = broken_rows(model, res.values)
    if not bad:
        return res
    said = res.status
    return SolveResult(ERROR, res.backend, res.solver, res.seconds,
                       message=(f"{res.backend}/{res.solver} returned a plan it called {said} that breaks "
                                f"{len(bad)} row(s) of the model (e.g. {bad[0]}): a solver fault, the plan "
                                f"is not used [{res.message}]; try another solver (solver.fallback, or "
                                "--backend/--solver)"))


#: the progress line that says the solver's own figures are scaled (QA s21: 'LP bound 30.29 ...
#: plan 30.60' before 'optimal: plan 3.06e-06')
SCALED_NOTE = ("every cost is below 1 USD: the objective goes to the solver multiplied by %g (its tolerances are "
               "absolute); the solver's own progress figures until its result line are in those units")


def unscale(res: SolveResult, scale: float) -> None:
    """Bring ``res``'s bound back to the model's units after a solve of ``model.scaled(scale)``
    (its objective comes back in :func:`cleaned`), and say so in its message."""
    if res.best_bound is not None:
        res.best_bound /= scale
    note = f"objective multiplied by {scale:g} for the solver, whose tolerances are absolute"
    res.message = f"{res.message}; {note}" if res.message else note


def cleaned(model: LinearModel, res: SolveResult) -> SolveResult:
    """``res`` with integers rounded, every value within its bounds and solver noise below 1e-9
    zeroed, its objective recomputed from those values (every backend's result goes through it)."""
    if res.values is not None:
        v = np.asarray(res.values, float)
        v = np.where(model.is_int, np.round(v), v)
        v = np.clip(v, model.lb, model.ub)
        # tiny negative noise on continuous variables
        v[np.abs(v) < 1e-9] = 0.0
        res.values = v
        res.objective = model.objective_value(v)
    return res


# ---------------------------------------------------------------------------- pulp


def solve_logged(label: str, model: LinearModel, backend: str, solver: Optional[str] = None, *,
                 time_limit_s: float = 60.0, mip_gap: float = 1e-4, **kw) -> SolveResult:
    """:func:`solve` with the progress lines a ``-v`` run prints: what ``label`` solves, then how it ended."""
    log.info("%s: %s", label, starting(backend, solver or default_solver(backend), time_limit_s, mip_gap))
    res = solve(model, backend, solver, time_limit_s=time_limit_s, mip_gap=mip_gap, **kw)
    log.info("%s: %s", label, solved(res))
    return res

def _solve_highspy(model: LinearModel, solver: str, time_limit_s: float, mip_gap: float,
                   threads: Optional[int], msg: bool, start: Optional[np.ndarray]) -> SolveResult:
    from solver.mip.highspy_backend import solve_highspy

    return solve_highspy(model, solver, time_limit_s, mip_gap, threads, msg, start=start)


#: CBC is killed this long after its time limit (plus a quarter of the limit): pulp waits for it
#: with no timeout, and CBC stops by its own clock, which a hung process never reads
CBC_GRACE_S = 10.0


def cbc_deadline_s(time_limit_s: float) -> float:
    """Seconds after which a CBC process is killed (:func:`solver.mip.stop.process_deadline`)."""
    return min(time_limit_s, 1e9) * 1.25 + CBC_GRACE_S


def cbc_overran(time_limit_s: float) -> str:
    return (f"CBC did not stop at its time limit of {time_limit_s:g} s and was killed after "
            f"{cbc_deadline_s(time_limit_s):.0f} s, with no plan")


def exit_text(code: Optional[int]) -> str:
    """'exit status 3' or 'signal SIGSEGV' for a process's return code."""
    if code is None:
        return "an unknown status"
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit status {code}"


def stopped_by_user(status: str, raw: str) -> tuple[str, str]:
    """A solve the user stopped (Ctrl-C): its plan so far as ``time_limit``, marked as stopped; without
    a plan, the interrupt goes on (exit 130, nothing written), as a Ctrl-C fleetopt saw itself."""
    if status not in (OPTIMAL, TIME_LIMIT):
        raise KeyboardInterrupt
    return TIME_LIMIT, stop.STOPPED_NOTE + "; " + raw


def cbc_threads(threads: Optional[int]) -> Optional[int]:
    """CBC's ``threads`` value for N solver threads: 100 + N, CBC's repeatable parallel search.

    With plain N > 1 CBC's threads race, and on a tie between optima two runs of one command
    returned different plans (QA s27: eight-quarter-growth at ``--threads 2``, the same cost, other
    replicas and energy figures).  CBC's own help: "If 100+n then n threads and search is
    repeatable (maybe be somewhat slower)".  One thread (or the default) is passed as given."""
    return 100 + int(threads) if threads and int(threads) > 1 else threads


def _solve_pulp(model: LinearModel, solver: str, time_limit_s: float, mip_gap: float,
                threads: Optional[int], msg: bool, start: Optional[np.ndarray] = None) -> SolveResult:
    import pulp

    prob = pulp.LpProblem("fleetopt", pulp.LpMinimize)
    make = getattr(prob, "add_variable", None) or pulp.LpVariable  # pulp >= 3.3 prefers add_variable
    xs = [make(f"v{j}", lowBound=float(model.lb[j]),
               upBound=None if not math.isfinite(model.ub[j]) else float(model.ub[j]),
               cat=pulp.LpInteger if model.is_int[j] else pulp.LpContinuous)
          for j in range(model.n_vars)]
    nz = np.flatnonzero(model.obj)
    prob += pulp.LpAffineExpression([(xs[j], float(model.obj[j])) for j in nz]) + model.obj_const
    for i in range(model.n_rows):
        cols, vals = model.row(i)
        expr = pulp.LpAffineExpression([(xs[j], float(c)) for j, c in zip(cols, vals)])
        s, r = model.sense[i], float(model.rhs[i])
        con = expr <= r if s == "<" else (expr >= r if s == ">" else expr == r)
        prob += con, f"r{i}"
    if start is not None:
        for xv, val in zip(xs, start):
            xv.setInitialValue(float(val))


    stop.track_pulp_processes()
    best_bound = None
    # CBC, a process of its own, is killed and the folder removed also when SIGTERM or Ctrl-C
    # ends this one in the main thread (they were left behind: CBC running to its time limit).
    # HiGHS runs in this process: no folder, and no SIGTERM handler, which Python could only run
    # after HiGHS returns (review: SIGTERM then waited for the whole solve)
    crashed = ""
    scratch = (stop.solver_scratch("fleetopt-pulp-") if solver == "cbc"
               else contextlib.nullcontext(None))
    with scratch as tmp:
        log_path = os.path.join(tmp, "solver.log") if tmp else ""
        if solver == "cbc":
            # CBC's integer preprocessing (CglPreProcess) cut off the optimum of a re-optimised
            # eight-quarter plan and reported 778,705 "optimal" where 776,339 is feasible (HiGHS,
            # SCIP and CBC without it agree): it is off; see tests/test_periods.py
            cmd = pulp.PULP_CBC_CMD(msg=msg, timeLimit=time_limit_s, gapRel=mip_gap,
                                    threads=cbc_threads(threads), logPath=log_path, keepFiles=False,
                                    warmStart=start is not None, options=["preprocess off"])
            cmd.tmpDir = tmp
        else:
            if not pulp.HiGHS().available():
                return SolveResult(ERROR, "pulp", solver, 0.0, message="highspy is not installed")
            from solver.mip.highspy_backend import highs_threads
            cmd = pulp.HiGHS(msg=msg, timeLimit=time_limit_s, gapRel=mip_gap, threads=highs_threads(threads))
        if not cmd.available():
            return SolveResult(ERROR, "pulp", solver, 0.0, message=f"pulp solver {solver} not available")
        t_start = time.perf_counter()
        stop.forget_exit_code()
        with quiet_stdout(solver == "highs" and not msg), stop.process_deadline(cbc_deadline_s(time_limit_s)):
            try:
                prob.solve(cmd)
            except pulp.PulpSolverError:
                if solver != "cbc":
                    raise
                if stop.last_exit_code() == -signal.SIGINT:
                    raise KeyboardInterrupt from None    # Ctrl-C before CBC set its own handler
                if stop.overran():
                    return SolveResult(ERROR, "pulp", solver, 0.0, message=cbc_overran(time_limit_s))
                # CBC 2.10.3 (PuLP's) can die of a segmentation fault, writing no solution file, with
                # preprocessing off when it finds the model infeasible early (QA: an infeasible budget
                # came out as 'error', exit 5, without its explanation); once more with it on, in
                # the time left
                first = stop.last_exit_code()
                left = max(time_limit_s - (time.perf_counter() - t_start), 1.0)
                cmd = pulp.PULP_CBC_CMD(msg=msg, timeLimit=left, gapRel=mip_gap, threads=cbc_threads(threads),
                                        logPath=log_path, keepFiles=False, warmStart=start is not None)
                cmd.tmpDir = tmp
                stop.forget_exit_code()
                try:
                    prob.solve(cmd)
                except pulp.PulpSolverError:
                    if stop.last_exit_code() == -signal.SIGINT:
                        raise KeyboardInterrupt from None
                    why = (cbc_overran(time_limit_s) if stop.overran() else
                           f"CBC ended with {exit_text(first)} and, run again with preprocessing on, with "
                           f"{exit_text(stop.last_exit_code())}, writing no solution")
                    return SolveResult(ERROR, "pulp", solver, 0.0,
                                       message=f"{why}; try another solver (solver.fallback, or --backend/--solver)")
                crashed = "CBC crashed with preprocessing off; solved again with it on: "
            except (IndexError, ValueError, KeyError) as exc:
                if solver != "cbc":
                    raise
                # pulp reads CBC's solution file by position (QA s27: a CBC that printed something
                # else came out as 'IndexError: list index out of range')
                return SolveResult(ERROR, "pulp", solver, 0.0,
                                   message=f"CBC's solution file could not be read ({type(exc).__name__}: {exc}); "
                                           "try another solver (solver.fallback, or --backend/--solver)")
        sol = prob.sol_status
        user_stop = False
        if solver == "cbc" and os.path.exists(log_path):
            log_text = open(log_path, encoding="utf-8", errors="replace").read()
            best_bound = _cbc_bound(log_text)
            # CBC stops its search on SIGINT itself ('Result - User ctrl-c'), also where fleetopt
            # ignores SIGINT (a job started with '&' from a script) and so never sees it (QA: that
            # came out as 'error: pulp status Not Solved', exit 5, or as stopped by the time limit)
            user_stop = "User ctrl-c" in log_text
        elif solver == "highs":
            try:
                info = prob.solverModel.getInfo()
                bb = float(info.mip_dual_bound)
                best_bound = bb if math.isfinite(bb) else None
            except Exception:  # noqa: BLE001 - bound is informative only
                best_bound = None

    raw = crashed + f"pulp status {pulp.LpStatus.get(prob.status, prob.status)}, solution {sol}"
    if sol == pulp.LpSolutionIntegerFeasible:
        # pulp reports 'Optimal' for any run that wrote a solution (QA s20: beside status time_limit)
        raw = crashed + ("stopped before proving optimality, with a plan (pulp: status "
                         f"{pulp.LpStatus.get(prob.status, prob.status)}, solution "
                         f"'{pulp.LpSolution.get(sol, sol)}')")
    status = pulp_status(prob.status, sol)
    if user_stop:
        status, raw = stopped_by_user(status, raw)
    values = None
    if status in (OPTIMAL, TIME_LIMIT):
        values = np.array([x.varValue if x.varValue is not None else 0.0 for x in xs], float)
    if status == OPTIMAL and best_bound is not None and values is not None:
        # a bound too coarse to add to CBC's own 'optimal' (within gapRel): none, as when CBC prints none
        obj = float(model.obj @ values + model.obj_const)
        if obj - best_bound > mip_gap * max(abs(obj), 1e-9) + 1e-12:
            best_bound = None
    return SolveResult(status, "pulp", solver, 0.0, values=values, best_bound=best_bound, message=raw)


def pulp_status(status: int, sol_status: int) -> str:
    """Normalise pulp's (status, sol_status) pair."""
    import pulp

    if sol_status == pulp.LpSolutionOptimal:
        return OPTIMAL
    if sol_status == pulp.LpSolutionIntegerFeasible:   # stopped (time limit) with a plan
        return TIME_LIMIT
    if sol_status == pulp.LpSolutionInfeasible or status == pulp.LpStatusInfeasible:
        return INFEASIBLE
    if sol_status == pulp.LpSolutionUnbounded or status == pulp.LpStatusUnbounded:
        return UNBOUNDED
    return ERROR


def ortools_status(code: int) -> str:
    """Normalise a pywraplp result code."""
    from ortools.linear_solver import pywraplp

    return {pywraplp.Solver.OPTIMAL: OPTIMAL, pywraplp.Solver.FEASIBLE: TIME_LIMIT,
            pywraplp.Solver.INFEASIBLE: INFEASIBLE,
            pywraplp.Solver.UNBOUNDED: UNBOUNDED}.get(code, ERROR)


def _cbc_bound(log: str) -> Optional[float]:
    """Best bound from a CBC log ('Lower bound:' line of the result block), lowered by half a unit
    of its last printed digit: CBC prints it with 3 decimals (QA s20: 'Lower bound: 0.003' for a
    bound of 0.0030494 on a plan of 0.00307, which read as 2.3% from a plan within its 1% gap, and
    0.031 above a plan of 0.0308, which read as a wrong proof).  Still a valid lower bound."""
    m = re.findall(r"Lower bound:\s+([-+0-9.eE]+)", log)
    if not m:
        return None
    text = m[-1]
    try:
        value = float(text)
    except ValueError:
        return None
    mantissa, _, exp = text.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    half_unit = 0.5 * 10.0 ** (-decimals + (int(exp) if exp.lstrip("+-").isdigit() else 0))
    return value - half_unit


# ---------------------------------------------------------------------------- OR-Tools

_ORTOOLS_IDS = {"scip": "SCIP", "cbc": "CBC", "highs": "HIGHS"}


#: C-level stdout silenced by this many solves at once (decomposed periods solve in threads)
_QUIET = {"depth": 0, "saved": -1, "devnull": -1}
_QUIET_LOCK = threading.Lock()


@contextlib.contextmanager
def quiet_stdout(active: bool = True):
    """Silence C-level stdout while a solver runs: HiGHS 1.12 prints debug lines ('HighsMipSolverData::
    transformNewIntegerFeasibleSolution ...') and OR-Tools a banner even with output off, which would
    corrupt `--quiet` output or a plan piped to stdout.  Reference-counted, so that solves running in
    threads at once restore the real stdout only when the last one ends."""
    if not active:
        yield
        return
    with _QUIET_LOCK:
        if _QUIET["depth"] == 0:
            try:
                sys.stdout.flush()
                saved = os.dup(1)
            except (OSError, ValueError):  # no real stdout (e.g. captured): nothing to silence
                saved = -1
            if saved >= 0:
                _QUIET["saved"], _QUIET["devnull"] = saved, os.open(os.devnull, os.O_WRONLY)
                os.dup2(_QUIET["devnull"], 1)
        _QUIET["depth"] += 1
    try:
        yield
    finally:
        with _QUIET_LOCK:
            _QUIET["depth"] -= 1
            if _QUIET["depth"] == 0 and _QUIET["saved"] >= 0:
                os.dup2(_QUIET["saved"], 1)
                os.close(_QUIET["saved"])
                os.close(_QUIET["devnull"])
                _QUIET["saved"] = _QUIET["devnull"] = -1


#: a time limit beyond this many seconds goes to OR-Tools as this (about 31 years: no limit)
ORTOOLS_MAX_LIMIT_S = 1e9
#: HiGHS's default mip_rel_gap, what OR-Tools' HiGHS wrapper solves to whatever gap is asked
HIGHS_DEFAULT_GAP = 1e-4


def _solve_ortools(model: LinearModel, solver: str, time_limit_s: float, mip_gap: float,
                   threads: Optional[int], msg: bool, start: Optional[np.ndarray] = None) -> SolveResult:
    with quiet_stdout(solver == "highs" and not msg):
        return _solve_ortools_inner(model, solver, time_limit_s, mip_gap, threads, msg, start)


def _solve_ortools_inner(model: LinearModel, solver: str, time_limit_s: float, mip_gap: float,
                         threads: Optional[int], msg: bool, start: Optional[np.ndarray]) -> SolveResult:
    from ortools.linear_solver import pywraplp

    s = pywraplp.Solver.CreateSolver(_ORTOOLS_IDS[solver])
    if s is None:
        return SolveResult(ERROR, "ortools", solver, 0.0,
                           message=f"OR-Tools was built without {solver}")
    if msg:
        s.EnableOutput()
    else:
        s.SuppressOutput()
    inf = s.infinity()
    xs = []
    for j in range(model.n_vars):
        ub = float(model.ub[j]) if math.isfinite(model.ub[j]) else inf
        lb = float(model.lb[j])
        xs.append(s.IntVar(lb, ub, f"v{j}") if model.is_int[j] else s.NumVar(lb, ub, f"v{j}"))
    for i in range(model.n_rows):
        cols, vals = model.row(i)
        r = float(model.rhs[i])
        lo, hi = {"<": (-inf, r), ">": (r, inf), "=": (r, r)}[model.sense[i]]
        ct = s.RowConstraint(lo, hi, f"r{i}")
        for j, c in zip(cols, vals):
            ct.SetCoefficient(xs[j], float(c))
    obj = s.Objective()
    for j in np.flatnonzero(model.obj):
        obj.SetCoefficient(xs[j], float(model.obj[j]))
    obj.SetOffset(float(model.obj_const))
    obj.SetMinimization()
    if start is not None and solver != "highs":
        # OR-Tools 9.15's HiGHS wrapper crashes (SIGSEGV) on some hints: no hint there
        s.SetHint(xs, [float(v) for v in start])
    # (OR-Tools takes whole milliseconds in an int64: 1e16 s overflowed it, QA s27; a limit beyond
    # ORTOOLS_MAX_LIMIT_S is no limit; below a second it is raised to one, as SCIP needs for its setup)
    s.SetTimeLimit(int(min(max(1.0, time_limit_s), ORTOOLS_MAX_LIMIT_S) * 1000))
    if threads:
        s.SetNumThreads(int(threads))
    if solver == "scip":
        # SCIP catches SIGINT itself and then returns as if at its time limit, unmarked (QA s27): leave
        # Ctrl-C to fleetopt, which asks SCIP to stop through InterruptSolve and marks the plan
        s.SetSolverSpecificParametersAsString("misc/catchctrlc = FALSE\n")
    params = pywraplp.MPSolverParameters()
    params.SetDoubleParam(pywraplp.MPSolverParameters.RELATIVE_MIP_GAP, float(mip_gap))
    code, user_stop = stop.run_interruptible(lambda: s.Solve(params), s.InterruptSolve)
    names = {pywraplp.Solver.OPTIMAL: "OPTIMAL", pywraplp.Solver.FEASIBLE: "FEASIBLE",
             pywraplp.Solver.INFEASIBLE: "INFEASIBLE", pywraplp.Solver.UNBOUNDED: "UNBOUNDED",
             pywraplp.Solver.ABNORMAL: "ABNORMAL", pywraplp.Solver.NOT_SOLVED: "NOT_SOLVED"}
    raw = f"ortools {solver} result {names.get(code, code)}"
    status = ortools_status(code)
    if user_stop:
        status, raw = stopped_by_user(status, raw)
    values = None
    best_bound = None
    if status in (OPTIMAL, TIME_LIMIT):
        values = np.array([x.solution_value() for x in xs], float)
        try:
            bb = float(obj.BestBound())
            best_bound = bb if math.isfinite(bb) else None
        except Exception:  # noqa: BLE001
            best_bound = None
        if solver == "highs" and best_bound is not None:
            # OR-Tools 9.15's HiGHS wrapper reports the plan's own cost as its bound and ignores the
            # gap and thread settings (QA s27: 'gap 0.00%' at --gap 0.2): HiGHS stops at its default
            # relative gap 1e-4 (or absolute 1e-6), so that is the bound it proved
            obj_value = float(model.obj @ values + model.obj_const)
            best_bound = min(best_bound, obj_value - max(HIGHS_DEFAULT_GAP * abs(obj_value), 1e-6))
            raw += ("; OR-Tools' HiGHS reports no bound of its own: the bound is that of HiGHS's default "
                    f"gap ({HIGHS_DEFAULT_GAP:g})")
    return SolveResult(status, "ortools", solver, 0.0, values=values, best_bound=best_bound,
                       message=raw)
