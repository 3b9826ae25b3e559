r"""Exact solve for large instances: column generation, reduced-cost fixing, MIP on what is left.

At hyperscale (benchmarks/scale rung L: ~220k variables, 25k rows) every
backend spends the whole minute in the root LP of the full MIP, although the
LP optimum routes demand through a handful of the thousands of candidates.
This solve keeps the *proof* of the full MIP while never handing the full
model to a solver:

1. **Column generation for the LP relaxation.**  The master LP holds every
   row, every replica / unit / spare column, and per workload only a few
   routing columns x_p (its cheapest pairs by cost per request).  Demand rows get artificial columns at a high cost so
   the master is always feasible; artificials left at convergence (or no cost on what serves demand, as in an
   elastic model) start a feasibility phase (minimise the unserved demand alone: still some at convergence
   proves the LP infeasible), then the real costs with the artificials closed.  After each master solve the reduced cost
   rc = c - A^T pi of **every** column of the full model is one sparse product
   (numpy, no solver); the most negative routing columns per workload enter,
   warm-started in HiGHS, until none is negative.
2. **A valid bound at every iteration.**  For any dual vector pi with the
   right signs (pi <= 0 on <= rows, pi >= 0 on >= rows)

       c^T v  >=  L(pi) = sum_i pi_i rhs_i + sum_j min(rc_j lb_j, rc_j ub_j)

   for every v in the box, so L(pi) bounds the LP relaxation and therefore
   every plan (Lagrangian / Farley bound).  At convergence it equals the LP
   optimum.  Before convergence a routing column's box term (its most negative
   reduced cost times the whole demand, for every column) makes L(pi) weak,
   often below zero; keeping the demand rows in the relaxation instead
   (:func:`convexity_bound`: each workload's demand routed once, at its
   cheapest reduced cost) gives a bound never below L(pi), which is what a
   column generation stopped for time reports.
3. **Lifted duals.**  LP solvers return an arbitrary point of a degenerate
   dual face.  For the replica-capacity and offer-unit rows (right-hand side 0)
   the dual is raised toward 0 as far as every reduced cost in the row stays
   >= 0 (:func:`lift_homogeneous_rows`): L(pi) does not move, and the reduced
   costs of replicas and units - what fixing feeds on - become as large as
   they can.
4. **An incumbent** within a share of the time limit: a MIP restricted to the
   candidates the LP uses and each workload's two cheapest (HiGHS, a second or
   two), then the neighbourhood search of step 6 on those and the
   ``incumbent_candidates`` cheapest to activate, started from its plan; the LP
   rounded up and a feasible warm start compete.
5. **Reduced-cost fixing.**  Every plan v satisfies
   c^T v >= L(pi) + sum_j [rc_j v_j - min(rc_j lb_j, rc_j ub_j)], each term >= 0.
   A plan that uses candidate c has y_c >= 1 and n_o(c) >= 1 (integers), so
   it costs at least L + rc_y(c) + rc_n(o(c)).  Where that exceeds
   ``UB (1 - mip_gap)`` (UB: the incumbent), no plan using c can improve the
   incumbent by more than the target gap, and c with all its routing columns
   is removed.  The same holds for whole offers (L + rc_n(o)).
6. **A neighbourhood search on the survivors** (before the proof): the MIP with every unit and
   replica held at the incumbent's values except those of one group of offers (the cheaper half by
   unit price, the dearer half, each region, each pair of regions, each accelerator; with two
   regions also what the LP or the incumbent uses, alone and with each region), groups in turn,
   within ``LNS_SHARE`` of the time left; skipped when the first-plan search's own converged.
   The proof's cutoff is the incumbent's cost less the gap, so a cheaper incumbent prunes more: on
   an L instance the proof took 48 s from a plan 0.5% above the optimum and 22 s from the optimum.
   An improvement reruns the fixing with the cheaper incumbent.
7. **The exact MIP on the survivors** (HiGHS, warm-started with the
   incumbent, cutoff ``UB_0 (1 - mip_gap)``: only cheaper plans are searched).
   Its dual bound LB_r covers the plans that use only surviving candidates; every other plan costs more than ``UB_0 (1 - mip_gap)``, so

       proven bound = max(L, min(LB_r, UB_0 (1 - mip_gap)))

   and the reported gap is (plan - bound) / plan, a proof for the full model.

When the incumbent is so far from the bound that fixing keeps most
candidates (a short time limit, or an LP bound far below the optimum), step 6
first runs on a bounded candidate set as a heuristic; with time left, fixing
runs again with the better incumbent and step 6 searches what survives,
however large (its bound counts); otherwise the bound reported is the LP's.

The status is ``optimal`` when that gap is within ``mip_gap``, ``time_limit``
when a plan exists but the proof does not reach the gap, ``infeasible`` when
the LP relaxation (artificials priced out) is infeasible.  Works on any
:class:`~solver.mip.model.LinearModel` with ``y``/``n``/``x`` blocks and the
pair -> candidate -> offer maps; nothing here knows the problem's meaning.
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Optional

import numpy as np

from solver.mip import stop
from solver.mip.highspy_backend import highs_threads, run_mip
from solver.mip.model import LinearModel
from solver.mip.status import ERROR, INFEASIBLE, OPTIMAL, TIME_LIMIT, SolveResult
from solver.progress import money

log = logging.getLogger(__name__)

NAME, SOLVER = "highspy", "reduced"

#: share of the time left (after the LP) the first-plan search may take; it ends sooner when its
#: neighbourhood search converges (:func:`_neighbourhood_search`).  Chosen when that search was a
#: MIP on the wide candidate set (rung L, 2-core VM, 60 s, 2026-12-07: at 0.25 that MIP was cut
#: with a plan 1-4% above the optimum, at 0.5 it finished on some seeds); the neighbourhood search
#: that replaced it (twenty-fourth session) ends on its own at L on seeds 7 and 15 (first plan in
#: 16.7 and 20.3 s) and uses the whole share (~28 s) on seeds 11, 12 and 14
INCUMBENT_SHARE = 0.5
#: share of the time left that the neighbourhood search before the proof may take
LNS_SHARE = 0.15
#: the neighbourhood search runs only with at least this many seconds left
LNS_MIN_S = 8.0

#: fewest routing columns a column-generation round adds while that many price out
MIN_ADD_PER_ROUND = 1000

#: cost of an artificial unit of unserved demand, as a multiple of the dearest per-request column
#: (artificials left in the LP optimum send column generation to its feasibility phase)
ARTIFICIAL_FACTOR = 100.0


@dataclass
class ReducedStats:
    """What each phase did (reported in the result message and by the scale benchmark)."""

    cg_rounds: int = 0
    cg_columns: int = 0
    cg_seconds: float = 0.0
    lp_bound: float = float("nan")
    lp_converged: bool = False
    #: HiGHS proved the master LP (artificial columns on every demand row) infeasible
    master_infeasible: bool = False
    incumbent: float = float("nan")
    incumbent_seconds: float = 0.0
    candidates: int = 0
    candidates_kept: int = 0
    offers_kept: int = 0
    reduced_vars: int = 0
    reduced_seconds: float = 0.0
    reduced_status: str = ""
    #: per candidate: whether the LP relaxation uses it (or it is one of a workload's two cheapest, or
    #: the warm start's): the small set of the first-plan search, for heuristics that want the LP's
    #: support besides the plan (None until the LP is solved)
    lp_candidates: Optional[np.ndarray] = None
    #: per routing column (``blocks["x"]`` order): whether it was in the column-generation master at
    #: the end - a start for the column generation of a model with the same columns and nearby demand
    #: (a neighbouring period), which then converges in a few rounds instead of ~30
    cg_master: Optional[np.ndarray] = None

    notes: list = field(default_factory=list)
    #: prefix of this solve's progress lines (e.g. "period 3: " in a decomposition)
    label: str = ""

    def summary(self) -> str:
        """The phases that ran, with their figures (a phase that did not run is left out)."""
        parts = [f"column generation {self.cg_rounds} rounds, {self.cg_columns} routing columns"
                 + (f", LP bound {self.lp_bound:.6g}{'' if self.lp_converged else ' (not converged)'}"
                    if np.isfinite(self.lp_bound) and abs(self.lp_bound) < 1e15 else "")
                 + f" in {self.cg_seconds:.1f}s"]
        if np.isfinite(self.incumbent):
            parts.append(f"incumbent {self.incumbent:.6g} in {self.incumbent_seconds:.1f}s")
        if self.candidates_kept:
            parts.append(f"reduced-cost fixing kept {self.candidates_kept} of {self.candidates} candidates "
                         f"({self.offers_kept} offers, {self.reduced_vars} variables)")
        if self.reduced_status:
            parts.append(f"reduced MIP {self.reduced_status} in {self.reduced_seconds:.1f}s")
        return "; ".join(parts + self.notes)


class _Csc:
    """Column-wise copy of the model's matrix, for slicing columns into a master."""

    def __init__(self, model: LinearModel):
        rows = model.row_of_nnz()
        order = np.argsort(model.indices, kind="stable")
        self.row = rows[order]
        self.val = np.asarray(model.data, float)[order]
        counts = np.bincount(model.indices, minlength=model.n_vars)
        self.ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.row_of_nnz = rows          # CSR order, for A^T pi

    def slice(self, cols: np.ndarray):
        """(starts, row indices, values) of ``cols`` in column-major order."""
        lens = self.ptr[cols + 1] - self.ptr[cols]
        starts = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
        # positions ptr[c] .. ptr[c+1]-1 of every column, in one vectorised expression
        idx = np.arange(int(lens.sum())) - np.repeat(starts, lens) + np.repeat(self.ptr[cols], lens)
        return starts.astype(np.int32), self.row[idx].astype(np.int32), self.val[idx], int(lens.sum())


def at_pi(model: LinearModel, pi: np.ndarray, row_of_nnz: np.ndarray) -> np.ndarray:
    """A^T pi for every column of ``model`` (``row_of_nnz``: row of each CSR nonzero)."""
    return np.bincount(model.indices, weights=model.data * pi[row_of_nnz], minlength=model.n_vars)


def _row_bounds(model: LinearModel, inf: float):
    lo = np.where(model.sense == "<", -inf, model.rhs)
    hi = np.where(model.sense == ">", inf, model.rhs)
    return lo, hi


def lagrangian_bound(model: LinearModel, pi: np.ndarray, atpi: np.ndarray,
                     ub: Optional[np.ndarray] = None,
                     lb: Optional[np.ndarray] = None) -> tuple[float, np.ndarray]:
    """(L(pi), reduced costs) for a dual vector ``pi`` (signs clipped to be valid).

    ``atpi`` is A^T pi for the *clipped* pi; ``ub`` replaces infinite upper bounds where a
    finite implied one is known.  Returns -inf when a negative reduced cost meets an
    infinite bound.
    """
    rc = model.obj - atpi
    upper = model.ub if ub is None else ub
    lower = model.lb if lb is None else lb
    lo_term = rc * lower
    with np.errstate(invalid="ignore"):
        hi_term = np.where(rc < 0, rc * upper, 0.0)
    hi_term = np.where(np.isnan(hi_term), 0.0, hi_term)
    col_term = np.where(rc >= 0, lo_term, hi_term)
    return float(pi @ model.rhs + col_term.sum() + model.obj_const), rc


@dataclass(frozen=True)
class DemandRows:
    """The demand rows ``sum_{p in w} x_p = D_w`` as convexity rows: each routing column x_p in
    exactly one of them with coefficient 1, bounds 0 <= x_p and D_w <= ub_p (built by
    :func:`demand_rows`, which returns None where a model breaks that shape)."""

    rows: np.ndarray            # model row of each demand row
    demand: np.ndarray          # its right-hand side D_w
    row_of_x: np.ndarray        # position (in ``rows``) of each routing column's demand row


def demand_rows(model: LinearModel, x: np.ndarray, row_of_nnz: np.ndarray) -> Optional[DemandRows]:
    """The model's demand rows if they have the shape :class:`DemandRows` needs, else None
    (e.g. an elastic model, whose slack columns also enter them)."""
    rows = np.flatnonzero(model.row_family == "demand.served")
    if len(rows) == 0 or np.any(model.sense[rows] != "="):
        return None
    pos = np.full(model.n_rows, -1, np.int64)
    pos[rows] = np.arange(len(rows))
    nz = pos[row_of_nnz] >= 0
    cols, vals, where = model.indices[nz], model.data[nz], pos[row_of_nnz[nz]]
    is_x = np.zeros(model.n_vars, bool)
    is_x[x] = True
    row_of_x = np.full(model.n_vars, -1, np.int64)
    row_of_x[cols] = where
    count = np.bincount(cols, minlength=model.n_vars)
    D = model.rhs[rows]
    if (not np.all(is_x[cols]) or not np.all(vals == 1.0) or np.any(count[x] != 1)
            or np.any(model.lb[x] != 0.0) or np.any(model.ub[x] < D[row_of_x[x]] * (1 - 1e-12))
            or np.any(D < 0)):
        return None
    return DemandRows(rows, D, row_of_x[x])


def convexity_bound(box_bound: float, pi: np.ndarray, rc: np.ndarray, ub: np.ndarray, x: np.ndarray,
                    dr: DemandRows) -> float:
    """A Lagrangian bound that keeps the demand rows out of the relaxation.

    Dualising every row but the demand rows leaves, per workload, min sum_p rc'_p x_p over
    {x >= 0, sum_p x_p = D_w}, i.e. D_w min_p rc'_p, where rc'_p = rc_p + pi_w is the reduced
    cost without the demand row's dual; every other column is at the end of its box as in
    :func:`lagrangian_bound`.  For the same pi this is never below L(pi) (the subproblem has
    fewer solutions) and equals it when pi_w = min_p rc'_p (as at an LP optimum), so it only
    helps where the duals are not yet optimal: a column generation stopped for time, whose
    box bound L(pi) can be far below zero.  Reduced-cost fixing stays valid on it: replicas
    and units enter no demand row, so their terms are the same box terms.

    Computed from ``box_bound`` = L(pi) (:func:`lagrangian_bound`, same ``pi``, ``rc`` and
    ``ub``): take out the routing columns' box terms (rc_p ub_p where rc_p < 0, as lb_p = 0)
    and the demand rows' pi_w D_w, put in sum_w D_w min_p rc'_p.
    """
    rcx = rc[x]
    rcx_own = rcx + pi[dr.rows][dr.row_of_x]
    best = np.full(len(dr.rows), np.inf)
    np.minimum.at(best, dr.row_of_x, rcx_own)
    best = np.where(np.isfinite(best), best, 0.0)    # a demand row with no column: D_w = 0 or infeasible
    x_box = float(np.sum(np.where(rcx < 0, rcx * ub[x], 0.0)))
    return float(box_bound - x_box - pi[dr.rows] @ dr.demand + dr.demand @ best)


def lift_homogeneous_rows(model: LinearModel, pi: np.ndarray, rows: np.ndarray,
                          row_of_nnz: np.ndarray) -> np.ndarray:
    """Raise the duals of ``<= 0`` rows toward 0 as far as their columns' reduced costs stay >= 0.

    For a row ``sum_j a_ij v_j <= 0`` (dual pi_i <= 0) whose columns appear in no other row of
    ``rows``, rc_j = base_j - a_ij pi_i.  Raising pi_i lowers rc_j where a_ij > 0 and raises it
    where a_ij < 0; the largest pi_i with every rc_j >= 0 is min(0, min_{a_ij > 0} base_j / a_ij)
    (a row with a column whose rc_j is already negative, at its upper bound, keeps its dual).
    The rows' right-hand sides are 0 and no reduced cost turns negative, so the Lagrangian bound
    is unchanged, while the reduced costs of replicas (capacity rows: a = -u) and units (offer
    rows: a = -g) grow as much as they can: that is what reduced-cost fixing feeds on.  LP solvers
    return an arbitrary point of a degenerate dual face; this picks the useful one.
    """
    if len(rows) == 0:
        return pi
    pi = pi.copy()
    sel = np.isin(row_of_nnz, rows)
    i, j, a = row_of_nnz[sel], model.indices[sel], model.data[sel]
    rc = model.obj - at_pi(model, pi, row_of_nnz)
    base = rc[j] + a * pi[i]
    pos = a > 0
    # a column already below zero (at its upper bound) would lose more: it pins the row's dual
    lim = np.where(rc[j[pos]] >= 0.0, base[pos] / a[pos], pi[i[pos]])
    limit = np.full(model.n_rows, np.inf)
    np.minimum.at(limit, i[pos], lim)
    new = np.minimum(0.0, limit[rows])
    pi[rows] = np.maximum(pi[rows], new)     # never lower a dual (keeps the old point if better)
    return pi


def _clip_duals(model: LinearModel, pi: np.ndarray) -> np.ndarray:
    pi = np.asarray(pi, float).copy()
    pi[model.sense == "<"] = np.minimum(pi[model.sense == "<"], 0.0)
    pi[model.sense == ">"] = np.maximum(pi[model.sense == ">"], 0.0)
    return pi


def submodel(model: LinearModel, cols: np.ndarray) -> LinearModel:
    """The model on the columns ``cols`` only (others fixed to zero and dropped)."""
    keep = np.zeros(model.n_vars, bool)
    keep[cols] = True
    new_index = np.full(model.n_vars, -1, np.int64)
    new_index[cols] = np.arange(len(cols))
    nz = keep[model.indices]
    rows = model.row_of_nnz()[nz]
    count = np.bincount(rows, minlength=model.n_rows)
    # rows left empty are dropped when zero satisfies them (HiGHS's presolve is slow on hundreds
    # of thousands of them); one that zero breaks stays, to keep the submodel infeasible
    zero_ok = np.where(model.sense == "<", model.rhs >= 0,
                       np.where(model.sense == ">", model.rhs <= 0, model.rhs == 0))
    kept = np.flatnonzero((count > 0) | ~zero_ok)
    indptr = np.concatenate([[0], np.cumsum(count[kept])])
    return replace(model, var_names=[model.var_names[j] for j in cols], lb=model.lb[cols],
                   ub=model.ub[cols], is_int=model.is_int[cols], indptr=indptr,
                   indices=new_index[model.indices[nz]], data=model.data[nz], obj=model.obj[cols],
                   sense=model.sense[kept], rhs=model.rhs[kept],
                   row_names=[model.row_names[i] for i in kept], row_family=model.row_family[kept],
                   obj_parts={k: v[cols] for k, v in model.obj_parts.items()}, blocks={})


def candidate_columns(model: LinearModel, keep_c: np.ndarray, pair_c: np.ndarray, cand_offer: np.ndarray,
                keep_o: Optional[np.ndarray] = None) -> np.ndarray:
    """Sorted columns of the candidates ``keep_c`` (replicas, spares, routing), their offers' units,
    and every column outside those blocks (e.g. an elastic model's slacks)."""
    y, n, x = model.blocks["y"], model.blocks["n"], model.blocks["x"]
    other = np.ones(model.n_vars, bool)
    if keep_o is None:
        keep_o = np.zeros(len(n), bool)
    keep_o = keep_o.copy()
    keep_o[cand_offer[keep_c]] = True
    keep_c = keep_c & keep_o[cand_offer]
    cols = [y[keep_c], n[keep_o], x[keep_c[pair_c]]]
    other[y] = other[n] = other[x] = False
    s_of_c = model.blocks.get("s_of_c")
    if s_of_c is not None:
        sc = s_of_c[keep_c]
        cols.append(sc[sc >= 0])
        other[s_of_c[s_of_c >= 0]] = False
    cols.append(np.flatnonzero(other))
    return np.sort(np.concatenate(cols))


def _feasible_start(model: LinearModel, start: Optional[np.ndarray]) -> Optional[np.ndarray]:
    """``start`` rounded and clipped, if it satisfies every row and bound; else None."""
    if start is None or len(start) != model.n_vars:
        return None
    v = np.clip(np.where(model.is_int, np.round(start), start), model.lb, model.ub)
    return v if not model.violations(v, tol=1e-6) else None


def _raise_to_rows(model: LinearModel, v: np.ndarray, family: str, cols: np.ndarray,
                   row_of_nnz: np.ndarray) -> None:
    """In place: each column of ``cols`` (integer) set to the least value that satisfies the one
    ``<=`` row of ``family`` where it has a negative coefficient, the row's other columns as in ``v``."""
    v[cols] = model.lb[cols]
    rows = np.flatnonzero(model.row_family == family)
    if len(rows) == 0 or len(cols) == 0:
        return
    in_rows = np.zeros(model.n_rows, bool)
    in_rows[rows] = True
    is_col = np.zeros(model.n_vars, bool)
    is_col[cols] = True
    nz = in_rows[row_of_nnz]
    i, j, a = row_of_nnz[nz], model.indices[nz], model.data[nz]
    mine = is_col[j] & (a < 0)
    rest = np.bincount(i[~mine], weights=a[~mine] * v[j[~mine]], minlength=model.n_rows)
    # a_mine * v_mine + rest <= rhs  <=>  v_mine >= (rest - rhs) / -a_mine
    need = (rest[i[mine]] - model.rhs[i[mine]]) / -a[mine]
    v[j[mine]] = np.maximum(np.ceil(need - 1e-9), v[j[mine]])


def round_up(model: LinearModel, v: np.ndarray, demand_fit: bool = False) -> Optional[np.ndarray]:
    """A plan of the fleet MIP ``model`` from the routing of ``v``, or None if it breaks a row.

    ``v`` is an LP solution, or (``demand_fit``) a plan of the same model for other demand,
    whose routes are then scaled to this model's demand, each workload's shares kept
    (:func:`resize`).  From an LP optimum this costs at most a replica per candidate and a unit
    per offer more; caps (power, devices, budget) may break, hence the check.  The incumbent
    MIP gets it as a feasible start, which HiGHS may not find of its own in a short time on a
    large model.
    """
    v = resize(model, v, demand_fit)
    return v if not model.violations(v, tol=1e-6) else None


def resize(model: LinearModel, v: np.ndarray, demand_fit: bool = False) -> np.ndarray:
    """``v`` with spares rounded up, the fewest replicas every candidate's capacity row allows
    and the fewest units every offer's replicas need (routes scaled to this model's demand first
    with ``demand_fit``); caps are not checked."""
    v = np.where(model.is_int, np.ceil(v - 1e-9), v)
    row_of_nnz = model.row_of_nnz()
    if demand_fit:      # (before clipping: routes above this model's demand would lose their share)
        rows = np.flatnonzero(model.row_family == "demand.served")
        nz = np.isin(row_of_nnz, rows)
        i, j = row_of_nnz[nz], model.indices[nz]
        routed = np.bincount(i, weights=model.data[nz] * v[j], minlength=model.n_rows)
        ratio = np.where(routed > 0, model.rhs / np.where(routed > 0, routed, 1.0), 0.0)
        v[j] = v[j] * ratio[i]
    v = np.clip(v, model.lb, model.ub)
    _raise_to_rows(model, v, "capacity.replica", model.blocks["y"], row_of_nnz)
    _raise_to_rows(model, v, "capacity.offer_units", model.blocks["n"], row_of_nnz)
    return v


def solve_reduced(model: LinearModel, *, time_limit_s: float = 60.0, mip_gap: float = 5e-3,
                  threads: Optional[int] = None, start: Optional[np.ndarray] = None,
                  init_per_workload: int = 4, add_per_workload: int = 30,
                  incumbent_share: float = INCUMBENT_SHARE, incumbent_candidates: int = 150,
                  max_kept_share: float = 0.6, prove_only: bool = False,
                  routing_start: Optional[np.ndarray] = None,
                  stats: Optional[ReducedStats] = None) -> SolveResult:
    """Column generation + reduced-cost fixing + exact MIP on the survivors (module docstring).

    ``model.blocks`` must hold ``pair_w``, ``pair_c`` (workload and candidate of each routing
    column) and ``cand_offer`` (offer of each candidate), as :func:`solver.mip.formulation.build_model`
    stores them.  ``start`` (a full solution, e.g. from a previous plan) is used as an incumbent
    when it is feasible.  ``prove_only`` (with a feasible ``start``): no incumbent search, the
    time goes to the proof (fixing with the start as incumbent, the MIP on what survives).
    ``routing_start`` (per routing column, e.g. another period's ``ReducedStats.cg_master``): put these
    in the first master besides each workload's cheapest; it changes only how fast the LP converges.
    """
    scale = model.objective_scale()       # tiny costs: the tolerances are absolute (LinearModel)
    if scale == 1.0:
        return _solve_reduced(model.scaled(1.0), time_limit_s, mip_gap, threads, start, init_per_workload,
                              add_per_workload, incumbent_share, incumbent_candidates, max_kept_share,
                              prove_only, routing_start, stats)
    st = stats if stats is not None else ReducedStats()
    from solver.mip.backends import SCALED_NOTE, unscale
    log.info("%s" + SCALED_NOTE, st.label, scale)
    res = _solve_reduced(model.scaled(scale), time_limit_s, mip_gap, threads, start, init_per_workload,
                         add_per_workload, incumbent_share, incumbent_candidates, max_kept_share,
                         prove_only, routing_start, st)
    st.lp_bound /= scale
    st.incumbent /= scale
    unscale(res, scale)
    if res.values is not None:
        res.objective = model.objective_value(res.values)
    return res


def _solve_reduced(model: LinearModel, time_limit_s: float, mip_gap: float, threads: Optional[int],
                   start: Optional[np.ndarray], init_per_workload: int, add_per_workload: int,
                   incumbent_share: float, incumbent_candidates: int, max_kept_share: float,
                   prove_only: bool, routing_start: Optional[np.ndarray],
                   stats: Optional[ReducedStats]) -> SolveResult:
    run = _Run(model, stats if stats is not None else ReducedStats(), time.perf_counter(),
               time_limit_s, mip_gap, threads)
    st = run.st
    if importlib.util.find_spec("highspy") is None:
        return SolveResult(ERROR, NAME, SOLVER, 0.0, message="highspy is not installed")
    st.candidates = len(run.y)
    ub_fin = _implied_upper_bounds(model)
    # the bound at pi = 0: the objective's minimum over the box (with the demand rows kept: every
    # workload routed at its cheapest per-request cost), a floor for the reported bound when
    # column generation stops early
    floor0 = run.bound(np.zeros(model.n_rows), ub_fin)[0]
    # each workload's routing columns by cost per request (replica cost spread over the demand)
    per_req = model.obj[run.x] + model.obj[run.y][run.pair_c] / np.maximum(model.ub[run.x], 1e-9)
    chosen = np.zeros(len(run.x), bool)
    chosen[_cheapest_per_workload(per_req, run.pair_w, init_per_workload)] = True
    if routing_start is not None and len(routing_start) == len(run.x):
        chosen |= np.asarray(routing_start, bool)

    lp = _column_generation(run, ub_fin, chosen, per_req, add_per_workload)
    run.say("LP bound %s%s after %d rounds of column generation (%d of %d routing columns) in %.1fs",
            money(st.lp_bound), "" if st.lp_converged else " (not converged)", st.cg_rounds,
            st.cg_columns, len(run.x), st.cg_seconds)
    if lp is None and st.master_infeasible:
        # The master has an artificial column on every demand row, and every other row holds with
        # no routing (x = 0 meets capacity, quality-mean, spot-share and cost rows; x never relieves
        # them): columns left out of the master cannot help, so the whole LP is infeasible - a
        # limit no fleet meets whatever it serves (e.g. units fixed by bounds dearer than a budget;
        # QA s22: robust's fixed first stage was reported 'error', exit 5)
        st.lp_bound = float("nan")
        return run.result(INFEASIBLE, message="LP relaxation infeasible: the constraints cannot all hold even "
                                              "with no demand served (caps, budget, fixed units); " + st.summary())
    if lp is None:
        return run.result(ERROR, message="the LP relaxation could not be solved: " + st.summary())
    if st.lp_converged and lp.unserved_rps > 1e-6:
        st.lp_bound = float("nan")      # of no use for an infeasible LP (and priced with artificials)
        return run.result(INFEASIBLE, message=f"LP relaxation infeasible: even with fractional units at "
                                              f"least {lp.unserved_rps:.4g} req/s of demand cannot be served "
                                              f"within the constraints (caps, budget, quality); "
                                              + st.summary())

    run.lp_units = lp.values[run.n]

    # ---- duals lifted so that reduced costs are as large as they can be (bound unchanged);
    # act_c: a plan using candidate c costs at least bound + act_c
    pi = lp.pi
    for family in ("capacity.replica", "capacity.offer_units"):
        pi = lift_homogeneous_rows(model, pi, np.flatnonzero(model.row_family == family), run.row_of_nnz)
    lifted, rc = run.bound(pi, ub_fin)
    bound = lifted - 1e-9 * abs(lifted)         # the same dual as the reduced costs (~= the LP bound)
    rc_pos = np.maximum(rc, 0.0)
    rc_n = rc_pos[run.n]
    act_c = rc_pos[run.y] + rc_n[run.cand_offer]

    # ---- incumbent
    useful_c = lp.values[run.y] > 1e-7
    useful_c[run.pair_c[_cheapest_per_workload(per_req, run.pair_w, 2)]] = True
    warm = _feasible_start(model, start)
    if warm is not None:
        useful_c |= warm[run.y] > 0.5
    elif start is not None:
        st.notes.append("warm start ignored: it breaks a constraint of this model")
    small_c = useful_c.copy()
    st.lp_candidates = small_c
    useful_c[np.argsort(act_c, kind="stable")[:incumbent_candidates]] = True
    t_inc = time.perf_counter()
    best = warm
    if not (prove_only and warm is not None):
        best = _incumbent(run, lp, warm, small_c, useful_c, incumbent_share)
    if warm is not None and best is warm:
        st.notes.append("incumbent from the warm start")
    st.incumbent_seconds = time.perf_counter() - t_inc
    if best is None:
        return _whole_mip(run, bound, floor0)
    st.incumbent = model.objective_value(best)
    run.say("incumbent %s, %.2f%% above the LP bound, in %.1fs", money(st.incumbent),
            100.0 * (st.incumbent - bound) / max(abs(st.incumbent), 1e-9), st.incumbent_seconds)
    if (st.incumbent - bound) / max(abs(st.incumbent), 1e-9) <= mip_gap:
        st.candidates_kept = int(useful_c.sum())
        return run.result(OPTIMAL, values=best, objective=st.incumbent, best_bound=bound,
                          message=st.summary())

    # ---- reduced-cost fixing on the full model, then the MIP on the survivors
    heuristic_first = max(max_kept_share * len(run.y), 3 * incumbent_candidates)
    if prove_only and warm is not None:
        heuristic_first = np.inf
    best, plan_obj, final_bound = _fix_and_search(run, best, bound, rc_n, act_c, useful_c,
                                                  heuristic_first, 3 * incumbent_candidates,
                                                  search=not (prove_only and warm is not None))
    # the best bound column generation saw is valid too (the lifted duals may give less where
    # it stopped before converging)
    final_bound = max(final_bound, floor0, st.lp_bound if np.isfinite(st.lp_bound) else floor0)
    gap = (plan_obj - final_bound) / max(abs(plan_obj), 1e-9)
    return run.result(OPTIMAL if gap <= mip_gap + 1e-12 else TIME_LIMIT, values=best, objective=plan_obj,
                      best_bound=final_bound, message=st.summary())


class _Run:
    """What every phase of one :func:`solve_reduced` needs: the model, its structure maps, the
    clock and the statistics."""

    def __init__(self, model: LinearModel, st: ReducedStats, t0: float, time_limit_s: float,
                 mip_gap: float, threads: Optional[int]):
        self.model, self.st, self.t0 = model, st, t0
        self.time_limit_s, self.mip_gap, self.threads = time_limit_s, mip_gap, threads
        self.pair_w, self.pair_c = model.blocks["pair_w"], model.blocks["pair_c"]
        self.cand_offer = model.blocks["cand_offer"]
        self.y, self.n, self.x = model.blocks["y"], model.blocks["n"], model.blocks["x"]
        self.csc = _Csc(model)
        self.row_of_nnz = self.csc.row_of_nnz
        self.demand = demand_rows(model, self.x, self.row_of_nnz)
        #: the last neighbourhood search ended with as many steps in a row as it has groups, none
        #: saving a tenth of the target gap
        self.lns_converged = False
        #: units of each offer in the LP relaxation's solution (set once it is solved)
        self.lp_units: Optional[np.ndarray] = None

    def bound(self, pi: np.ndarray, ub_fin: np.ndarray) -> tuple[float, np.ndarray]:
        """(bound, reduced costs) for duals ``pi``: the larger of :func:`lagrangian_bound` and,
        where the demand rows allow it, :func:`convexity_bound`."""
        lb, rc = lagrangian_bound(self.model, pi, at_pi(self.model, pi, self.row_of_nnz), ub_fin)
        if self.demand is not None:
            lb = max(lb, convexity_bound(lb, pi, rc, ub_fin, self.x, self.demand))
        return lb, rc

    def left(self) -> float:
        return self.time_limit_s - (time.perf_counter() - self.t0)

    def say(self, fmt: str, *args, level: Optional[int] = None) -> None:
        """A progress line (:mod:`solver.progress`), prefixed with the stats' label; INFO by default,
        DEBUG for a labelled solve (one of many, e.g. a period: its caller reports its end)."""
        if level is None:
            level = logging.DEBUG if self.st.label else logging.INFO
        log.log(level, "%s" + fmt, self.st.label, *args)

    def result(self, status: str, **kw) -> SolveResult:
        if stop.requested() and "message" in kw:
            kw["message"] = stop.STOPPED_NOTE + "; " + kw["message"]
        return SolveResult(status, NAME, SOLVER, time.perf_counter() - self.t0, **kw)

    def as_plan(self, cols: np.ndarray, v_sub: np.ndarray) -> np.ndarray:
        """A full-length solution from a submodel's values on ``cols`` (integers rounded)."""
        v = np.zeros(self.model.n_vars)
        v[cols] = v_sub
        v[self.model.is_int] = np.round(v[self.model.is_int])
        return v


def _implied_upper_bounds(model: LinearModel) -> np.ndarray:
    """Upper bounds with the infinite ones of units replaced by what the replicas can need
    (from the offer-units rows t_c y_c - g_o n_o <= 0), the rest by 1e12: the bound formula
    needs finite boxes (units of rented offers are unbounded)."""
    ub_fin = model.ub.copy()
    for i in np.flatnonzero(model.row_family == "capacity.offer_units"):
        cols, vals = model.row(i)
        gy = vals[vals > 0]
        gn = -vals[vals < 0]
        if len(gn) == 1:
            need = float(np.sum(gy * model.ub[cols[vals > 0]]))
            j = cols[vals < 0][0]
            ub_fin[j] = min(ub_fin[j], np.ceil(need / gn[0] - 1e-9))
    return np.where(np.isfinite(ub_fin), ub_fin, 1e12)


def _cheapest_per_workload(key: np.ndarray, workload: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` smallest ``key`` of every workload, ordered by (workload, key)."""
    order = np.lexsort((key, workload))
    w = workload[order]
    return order[(np.arange(len(order)) - np.searchsorted(w, w, side="left")) < k]


@dataclass
class _Lp:
    """The column-generation master at its last solve."""

    pi: np.ndarray              # duals, clipped to the signs the bound formula needs
    values: np.ndarray          # full-length LP solution; routing columns never generated are 0
    unserved_rps: float         # demand left on the artificial columns


def _column_generation(run: _Run, ub_fin: np.ndarray, chosen: np.ndarray, per_req: np.ndarray,
                       add_per_workload: int) -> Optional[_Lp]:
    """Steps 1-2 of the module docstring: the LP relaxation by pricing routing columns.

    The master starts with every column but the routing ones (replicas, units, spares, and any
    column another module added, e.g. an elastic model's slacks), the routing columns
    ``chosen`` and one artificial column per demand row.  Updates ``run.st`` (rounds, columns,
    bound, convergence); None when the master LP could not be solved at all.
    """
    import highspy

    model, st, x, pair_w = run.model, run.st, run.x, run.pair_w
    inf = highspy.kHighsInf
    in_master = np.ones(model.n_vars, bool)
    in_master[x[~chosen]] = False
    master_cols = np.flatnonzero(in_master)
    demand_rows = np.flatnonzero(model.row_family == "demand.served")
    big = ARTIFICIAL_FACTOR * max(float(np.max(per_req)) if len(per_req) else 1.0, 1.0)

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", highs_threads(run.threads))
    lo, hi = _row_bounds(model, inf)
    lp = highspy.HighsLp()
    lp.num_row_ = model.n_rows
    lp.row_lower_ = lo
    lp.row_upper_ = hi
    lp.num_col_ = 0
    h.passModel(lp)

    feasibility = False         # the feasibility phase (below): every column at zero cost
    raises = 0                  # times the artificial price was raised x1000

    def add_columns(cols: np.ndarray) -> None:
        starts, rows, vals, nnz = run.csc.slice(cols)
        h.addCols(len(cols), np.zeros(len(cols)) if feasibility else model.obj[cols], model.lb[cols],
                  np.where(np.isfinite(model.ub[cols]), model.ub[cols], inf), nnz, starts, rows, vals)

    add_columns(master_cols)
    n_art = len(demand_rows)
    h.addCols(n_art, np.full(n_art, big), np.zeros(n_art), np.full(n_art, inf), n_art,
              np.arange(n_art, dtype=np.int32), demand_rows.astype(np.int32), np.ones(n_art))
    art_pos = np.arange(len(master_cols), len(master_cols) + n_art, dtype=np.int32)
    added: list = []            # routing columns added after the artificials, in HiGHS order
    bound = -np.inf
    pi = None
    scale = max(abs(float(np.max(np.abs(model.obj)))), 1.0)

    def costs(real: bool) -> None:
        """Every master column at its cost (real) or at zero (feasibility phase: the artificials
        alone cost, 1 each)."""
        pos = np.concatenate([np.arange(len(master_cols)), len(master_cols) + n_art +
                              np.arange(sum(len(a) for a in added))]).astype(np.int32)
        cols = np.concatenate([master_cols] + added).astype(np.int64)
        h.changeColsCost(len(pos), pos, model.obj[cols] if real else np.zeros(len(pos)))
        h.changeColsCost(n_art, art_pos, np.full(n_art, big if real else 1.0))

    # feasibility phase: minimise the unserved demand alone, then the real costs with the
    # artificials closed.  Used where no artificial price is known to be decisive: nothing that
    # serves demand costs anything (an elastic model, whose slacks alone cost), or artificials
    # left at convergence (QA: raised x1000 up to 1e14 against a budget no plan meets, each LP
    # slower, the 60 s limit ran out before infeasibility was proven: 'explain' took 6 minutes)
    # (per_req cannot tell: a routing column without an upper bound has a per-request cost of 0)
    serving = np.concatenate([x, run.y, model.blocks["n"]]).astype(np.int64)
    feasibility = not np.any(model.obj[serving] != 0.0)
    if feasibility:
        costs(real=False)
    while True:
        # HiGHS (before 2.0) checks time_limit against its run clock summed over every run()
        # of this object, and highspy 1.12 cannot zero it: the limit is that sum plus what is left
        h.setOptionValue("time_limit", float(h.getRunTime() + max(run.left(), 0.5)))
        stop.run_listening(h.run)     # a second Ctrl-C aborts at once even during a long master LP
        status = h.modelStatusToString(h.getModelStatus())
        st.cg_rounds += 1
        if status != "Optimal":
            st.notes.append(f"master LP: {status}")
            st.master_infeasible = status == "Infeasible"
            break
        sol = h.getSolution()
        pi = _clip_duals(model, np.asarray(sol.row_dual, float))
        lb_now, rc = run.bound(pi, ub_fin)
        if not feasibility:     # (valid in that phase too, but a figure of no use: left out)
            # a hair below, for floating-point error in the duals' products
            bound = max(bound, lb_now - 1e-9 * abs(lb_now))
        rcx = rc[x] - model.obj[x] if feasibility else rc[x]
        cand = (rcx < -1e-9 * (1.0 if feasibility else scale)) & ~in_master[x]
        if not cand.any():
            art = np.asarray(sol.col_value, float)[art_pos]
            if art.sum() > 1e-7 and not feasibility:
                # unserved demand at convergence: infeasible, or the artificial price is below
                # what serving really costs.  A higher price usually settles it (and keeps the LP
                # solution the incumbent search starts from as it was); after two raises the
                # feasibility phase tells which (each raise makes the master LP slower)
                if raises < 2:
                    raises += 1
                    big *= 1000.0
                    h.changeColsCost(n_art, art_pos, np.full(n_art, big))
                    continue
                feasibility = True
                costs(real=False)
                continue
            if feasibility and art.sum() <= 1e-7:
                # the master serves every demand: back to the real costs, artificials closed
                feasibility = False
                costs(real=True)
                h.changeColsBounds(n_art, art_pos, np.zeros(n_art), np.zeros(n_art))
                continue
            # converged; in the feasibility phase with demand unserved: the LP is infeasible
            st.lp_converged = True
            break
        run.say("column generation round %d: LP %s, bound %s, %d routing columns with negative reduced cost",
                st.cg_rounds, money(h.getInfo().objective_function_value), money(bound), int(cand.sum()),
                level=logging.DEBUG)
        if run.left() < 0.15 * run.time_limit_s:
            st.notes.append("column generation stopped for time")
            break
        if stop.requested():
            break
        # the most negative few per workload; when few workloads still price out, the most negative
        # up to MIN_ADD_PER_ROUND in all (XL's quarter 0: one workload's ~1,500 columns came in at 30 a
        # round, 25 rounds of a degenerate master whose LP value no longer moved)
        idx = np.flatnonzero(cand)
        pick = idx[_cheapest_per_workload(rcx[idx], pair_w[idx], add_per_workload)]
        if len(pick) < min(MIN_ADD_PER_ROUND, len(idx)):
            rest = np.setdiff1d(idx, pick, assume_unique=True)
            more = rest[np.argsort(rcx[rest], kind="stable")[:MIN_ADD_PER_ROUND - len(pick)]]
            pick = np.concatenate([pick, more])
        new = x[pick]
        in_master[new] = True
        add_columns(new)        # HiGHS keeps its basis: the next run is a warm start
        added.append(new)
    st.cg_seconds = time.perf_counter() - run.t0
    st.cg_columns = int(in_master[x].sum())
    st.cg_master = in_master[x].copy()
    st.lp_bound = bound
    if pi is None:
        return None
    sol_vals = np.asarray(h.getSolution().col_value, float)
    n_master = len(master_cols)
    values = np.zeros(model.n_vars)
    hcols = np.concatenate([master_cols] + added).astype(np.int64)
    values[hcols] = np.delete(sol_vals, np.arange(n_master, n_master + n_art))
    return _Lp(pi, values, float(np.sum(sol_vals[n_master:n_master + n_art])))


def _incumbent(run: _Run, lp: _Lp, warm: Optional[np.ndarray], small_c: np.ndarray,
               wide_c: np.ndarray, share: float) -> Optional[np.ndarray]:
    """Step 4: the cheapest of the warm start and the LP rounded up, improved within ``share`` of
    the time left: first a MIP restricted to the small candidate set (the LP's candidates and each
    workload's cheapest two, with all their routing columns: a second or two), then the
    neighbourhood search of step 6 on the wide set (those and the cheapest to activate), started
    from the best plan so far.  Only where there is no plan at all (no feasible warm start, no LP
    rounded up, nothing from the small MIP) does the MIP on the wide set run.

    Why the small MIP first: the LP spreads demand over several offers, so rounded up it buys a
    fractional unit of each (twice the optimum, XL quarter 0: 606,061 against ~300,000).  It
    finishes in 0.8-2 s with a plan 5-8% above the optimum (L: 421,988 in 1 s).
    Why a neighbourhood search and not the MIP on the wide set (~12k columns, 380 integers at L),
    which found the plan before: that MIP improves its plan only by branching, and needs 25-33 s
    on this VM to finish; cut at its share it kept a plan 3-4% above the optimum (L: 409,171 and
    413,262 at ~26 s).  The neighbourhood search, each step a MIP with most units held (0.1-5 s),
    reached the optimum (399,348) in 18 s on the same instance."""
    model, st = run.model, run.st
    # the LP optimum rounded up: a feasible start (HiGHS may find none of its own in a short
    # time on a large model), used unless the warm start is cheaper
    rounded = round_up(model, lp.values) if not lp.unserved_rps > 1e-6 else None
    if rounded is not None:
        st.notes.append(f"LP rounded up: {model.objective_value(rounded):.6g}")
    best = min((c for c in (warm, rounded) if c is not None), key=model.objective_value, default=None)
    end = time.perf_counter() + run.left() * share

    def restricted_mip(cands: np.ndarray, seconds: float) -> None:
        nonlocal best
        gen = candidate_columns(model, cands, run.pair_c, run.cand_offer)
        v_sub, _, status = run_mip(submodel(model, gen), max(seconds, 1.0), run.mip_gap, run.threads,
                                   start=best[gen] if best is not None else None)
        if v_sub is None:
            st.notes.append(f"restricted MIP on {int(cands.sum())} candidates: {status}")
            return
        cand = run.as_plan(gen, v_sub)
        if best is None or model.objective_value(cand) < model.objective_value(best):
            best = cand
        st.notes.append(f"restricted MIP on {int(cands.sum())} candidates: {status}, "
                        f"{model.objective_value(cand):.6g}")

    # (the small MIP may take half the share at most: the search is where the plan improves)
    restricted_mip(small_c, (end - time.perf_counter()) * 0.5)
    if np.array_equal(small_c, wide_c):
        return best
    if best is None:
        restricted_mip(wide_c, end - time.perf_counter())
        return best
    keep_c = wide_c | (best[run.y] > 0.5)
    keep_o = best[run.n] > 0.5
    keep_o[run.cand_offer[keep_c]] = True
    cols = candidate_columns(model, keep_c, run.pair_c, run.cand_offer, keep_o)
    better = _neighbourhood_search(run, cols, keep_o, best, end - time.perf_counter())
    return best if better is None else better


def _whole_mip(run: _Run, bound: float, floor0: float) -> SolveResult:
    """No incumbent, so nothing can be fixed: the full MIP with the time left."""
    model, st = run.model, run.st
    st.notes.append("no incumbent on the LP's candidates; full MIP")
    v_full, lb_full, text = run_mip(model, max(run.left(), 1.0), run.mip_gap, run.threads)
    st.reduced_status = text
    if v_full is None:
        return run.result(INFEASIBLE if text == "Infeasible" else ERROR, best_bound=bound,
                          message=f"HiGHS {text}: " + st.summary())
    v_full[model.is_int] = np.round(v_full[model.is_int])
    obj = model.objective_value(v_full)
    fb = max(bound, floor0, lb_full) if np.isfinite(lb_full) else max(bound, floor0)
    gap = (obj - fb) / max(abs(obj), 1e-9)
    return run.result(OPTIMAL if gap <= run.mip_gap + 1e-12 else TIME_LIMIT, values=v_full, objective=obj,
                      best_bound=fb, message=st.summary())


def _neighbourhoods(model: LinearModel, n_cols: np.ndarray, offers: np.ndarray,
                    guided: Optional[np.ndarray] = None) -> list:
    """The groups of ``offers`` whose units and replicas one neighbourhood-search step frees, in
    the order they are tried: the cheaper half by unit price, the dearer half, each region, each
    pair of regions (three to six regions), each accelerator across its regions and acquisitions.
    With one or two regions, where a pair of regions is every offer, the offers ``guided`` marks
    (per offer of the model: those the LP relaxation or the incumbent uses) come first, and with
    two regions each region with them after the regions.

    Why those: with two regions a move from one region to the other that also changes what the
    first region buys fits no half, region or accelerator (rung M, seed 11: the incumbent's MI300X
    servers in Texas and Virginia, 262,413, against the optimum's L4 and L40S in Texas and one more
    MI300X in Virginia, 254,747); Texas with the incumbent's offers holds it.  With more regions
    such groups are large and slow (rung L, seeds 7 and 14: 2.26% and 6.25% at 60 s against 0.50%
    and 2.51% without them), and the pairs of regions make the cross-region moves.

    Why pairs and accelerators: a plan's last percent is often a whole server moved from one
    region to another, or from one acquisition to another (rung L: an H100 server and an MI300X
    server trading regions, 401,865 -> 399,348); a single region or half cannot make that move.
    A group holding every offer (the whole MIP again) or repeating an earlier one is left out."""
    order = offers[np.argsort(model.obj[n_cols[offers]], kind="stable")]
    groups = [order[:len(order) // 2], order[len(order) // 2:]]
    grp = model.blocks.get("offer_group")
    regions = np.unique(grp[offers]) if grp is not None else np.zeros(0, np.int64)
    if len(regions) <= 2 and guided is not None:
        groups.insert(0, offers[guided[offers]])
    if len(regions) > 1:
        groups += [offers[grp[offers] == g] for g in regions]
        if len(regions) == 2 and guided is not None:
            groups += [offers[guided[offers] | (grp[offers] == g)] for g in regions]
        if 2 < len(regions) <= 6:
            groups += [offers[np.isin(grp[offers], pair)] for pair in itertools.combinations(regions, 2)]
    kind = model.blocks.get("offer_kind")
    if kind is not None:
        groups += [offers[kind[offers] == a] for a in np.unique(kind[offers])]
    out, seen = [], set()
    for g in groups:
        key = tuple(np.sort(g))
        if 0 < len(g) < len(offers) and key not in seen:
            seen.add(key)
            out.append(g)
    return out


def _neighbourhood_search(run: _Run, cols: np.ndarray, keep_o: np.ndarray, best: np.ndarray,
                          budget_s: float) -> Optional[np.ndarray]:
    """Step 6: a plan cheaper than ``best`` on the columns ``cols``, or None.

    Each step frees the units and replicas of one group of offers (:func:`_neighbourhoods`) and
    holds every other at ``best``'s values; routing stays free.  Such a MIP is small once
    presolved (0.1-5 s at L).  Groups are tried in turn until ``budget_s`` is spent or the search
    converges: as many steps in a row as there are groups, none saving a tenth of the target gap
    (a smaller saving is kept but does not restart the count; ``run.lns_converged`` records it)."""
    model, st = run.model, run.st
    t_end = time.perf_counter() + budget_s
    red = submodel(model, cols)
    guided = best[run.n] > 0.5
    if run.lp_units is not None:
        guided |= run.lp_units > 1e-6
    groups = _neighbourhoods(model, run.n, np.flatnonzero(keep_o), guided)
    # each integer column of the submodel and its offer (units: the offer; replicas and spares: theirs)
    in_red = np.zeros(model.n_vars, bool)
    in_red[cols] = True
    int_cols, int_offer = [], []
    s_of_c = model.blocks.get("s_of_c")
    for full, off in ((run.n, np.arange(len(run.n))), (run.y, run.cand_offer)):
        sel = in_red[full]
        int_cols.append(np.searchsorted(cols, full[sel]))
        int_offer.append(off[sel])
    if s_of_c is not None:
        has = (s_of_c >= 0) & in_red[np.maximum(s_of_c, 0)]
        int_cols.append(np.searchsorted(cols, s_of_c[has]))
        int_offer.append(run.cand_offer[has])
    int_cols, int_offer = np.concatenate(int_cols), np.concatenate(int_offer)
    start = best[cols]
    best_obj = model.objective_value(best)
    found, idle = None, 0
    while groups and idle < len(groups):
        for g in list(groups):
            left = t_end - time.perf_counter()
            if left < 0.5 or stop.requested():
                return found
            free = np.isin(int_offer, g)
            hold = int_cols[~free]
            sub_lb, sub_ub = red.lb.copy(), red.ub.copy()
            sub_lb[hold] = sub_ub[hold] = np.round(start[hold])
            v_sub, _, _ = run_mip(replace(red, lb=sub_lb, ub=sub_ub), left, run.mip_gap / 10.0, run.threads,
                                  start=start)
            cand = run.as_plan(cols, v_sub) if v_sub is not None else None
            if cand is not None and model.objective_value(cand) < best_obj * (1.0 - 1e-9) \
                    and not model.violations(cand, tol=1e-6):
                # a step that saves less than a tenth of the target gap is kept but does not
                # restart the pass: another pass over every group costs seconds (L: ~10 s)
                obj = model.objective_value(cand)
                idle = 0 if best_obj - obj > 0.1 * run.mip_gap * abs(best_obj) else idle + 1
                found, start, best_obj = cand, cand[cols], obj
                st.notes.append(f"neighbourhood search: {best_obj:.6g}")
                run.say("neighbourhood search: plan %s", money(best_obj))
            else:
                idle += 1
            if idle >= len(groups):
                break
    run.lns_converged = idle >= len(groups)
    return found


def _fix_and_search(run: _Run, best: np.ndarray, bound: float, rc_n: np.ndarray, act_c: np.ndarray,
                    useful_c: np.ndarray, heuristic_first: float, heuristic_size: int,
                    search: bool = True) -> tuple[np.ndarray, float, float]:
    """Steps 5-7: reduced-cost fixing, the neighbourhood search (``search``: not when only proving
    a given plan), then HiGHS on the survivors; (plan, its cost, bound).

    When fixing keeps more than ``heuristic_first`` candidates (the incumbent too far from the
    bound for fixing to bite), a first pass improves the incumbent on a bounded set (the
    ``heuristic_size`` cheapest to activate, the incumbent's and the LP's: a heuristic); with
    time left, a second pass fixes again with the better incumbent and searches what survives,
    whatever its size, with the cutoff (a proof).
    """
    model, st, y, n = run.model, run.st, run.y, run.n
    plan_obj = st.incumbent
    final_bound = bound

    def survivors(best, plan_obj):
        thr = plan_obj * (1.0 - run.mip_gap)
        keep_o = bound + rc_n <= thr
        keep_c = (bound + act_c <= thr) & keep_o[run.cand_offer]
        # never drop what the incumbent uses
        keep_c |= best[y] > 0.5
        keep_o |= best[n] > 0.5
        return thr, keep_c, keep_o

    searched = not search
    for attempt in range(2):
        thr, keep_c, keep_o = survivors(best, plan_obj)
        proof = True
        if attempt == 0 and keep_c.sum() > heuristic_first:
            proof = False
            keep_c = np.zeros(len(y), bool)
            keep_c[np.argsort(act_c, kind="stable")[:heuristic_size]] = True
            keep_c |= (best[y] > 0.5) | useful_c
            keep_o = np.zeros(len(n), bool)
            st.notes.append("fixing kept too much; a heuristic MIP on "
                            f"{int(keep_c.sum())} candidates first")
        # (not after a first-plan search that converged: the survivors are a larger set than its
        # wide one (L: 692 candidates against ~170), but after a converged search the search here
        # found nothing on L (4 s) or M seed 11, and the proof needs the time)
        if proof and not searched and not run.lns_converged and run.left() >= LNS_MIN_S \
                and not stop.requested():
            searched = True
            cols = candidate_columns(model, keep_c, run.pair_c, run.cand_offer, keep_o)
            better = _neighbourhood_search(run, cols, keep_o, best, LNS_SHARE * run.left())
            if better is not None:
                best, plan_obj = better, model.objective_value(better)
                thr, keep_c, keep_o = survivors(best, plan_obj)
        st.candidates_kept = int(keep_c.sum())
        st.offers_kept = int(keep_o.sum())
        cols = candidate_columns(model, keep_c, run.pair_c, run.cand_offer, keep_o)
        st.reduced_vars = len(cols)
        remaining = run.left()
        if stop.requested():
            break
        if remaining < 1.0:
            st.notes.append("no time left for the reduced MIP")
            run.say("no time left for the MIP on the %d candidates fixing keeps", st.candidates_kept)
            break
        run.say("%s %d of %d candidates (%d offers, %d variables), %.1fs left",
                "reduced-cost fixing keeps" if proof else "fixing keeps too many: a heuristic MIP first on",
                st.candidates_kept, st.candidates, st.offers_kept, st.reduced_vars, remaining)
        red = submodel(model, cols)
        t_red = time.perf_counter()
        v_red, lb_red, red_status = run_mip(red, remaining, run.mip_gap, run.threads, start=best[cols],
                                            cutoff=thr if proof else None)
        st.reduced_seconds += time.perf_counter() - t_red
        st.reduced_status = red_status
        red_obj = red.objective_value(v_red) if v_red is not None else np.inf
        run.say("reduced MIP: %s, plan %s, its bound %s", red_status,
                money(red_obj if v_red is not None else None), money(lb_red))
        if v_red is not None:
            cand_v = run.as_plan(cols, v_red)
            obj = model.objective_value(cand_v)
            if obj < plan_obj and not model.violations(cand_v, tol=1e-6):
                best, plan_obj = cand_v, obj
        if proof:
            if red_status == "Infeasible" or (red_status == "Optimal" and red_obj >= thr):
                lb_red = np.inf      # the search finished and found nothing cheaper than the cutoff
            elif red_status == "Optimal":
                lb_red = max(lb_red, red_obj * (1.0 - run.mip_gap)) if red_obj > 0 else lb_red
            # plans on the survivors: >= lb_red (and none below the cutoff thr if the search
            # finished); plans using a fixed candidate: > thr.  Hence min(lb_red, thr), and
            # never below the LP bound.
            if not np.isnan(lb_red):
                final_bound = max(bound, min(lb_red, thr))
            break
        if run.left() < max(5.0, 0.1 * run.time_limit_s):
            st.notes.append("no time for a proof pass: the bound is the LP's")
            break
    return best, plan_obj, final_bound
