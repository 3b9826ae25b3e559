"""Elastic (phase-1) solves: how much must a constraint family give for a plan to exist?

When the fleet MIP is infeasible although every workload has some candidate,
the conflict is between fleet-level limits (power, availability, budget,
capex, spot share, mean quality) and the demand to serve.  This module takes
a built :class:`~solver.mip.model.LinearModel`, adds one non-negative slack
column to every row of the chosen constraint families, and minimises the
weighted slack ("phase 1" of the simplex method, here on the MIP itself, so
integrality of units is respected).  The non-zero slacks are the smallest
relaxation; :mod:`solver.explain` turns each one into the user's terms (kW per
region, devices per accelerator, USD per month, req/s per workload).

Row families are the names the formulation gives (``caps.power[ireland#0]``);
the part in brackets is the row's label, which the formulation builds from
the problem's own ids.  The transformation is generic: any family may be
relaxed, the unit table only affects the wording.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional, Sequence

import numpy as np

from solver.mip.backends import solve
from solver.mip.model import LinearModel
from solver.mip.status import INFEASIBLE, OPTIMAL, TIME_LIMIT

#: families that may be relaxed, with the unit of one unit of slack and a short name
RELAXABLE: dict[str, tuple[str, str]] = {
    "caps.power": ("kW", "site power"),
    "caps.availability": ("devices", "hardware availability"),
    "caps.budget": ("USD/month", "monthly budget"),
    "caps.capex": ("USD", "capex budget"),
    "caps.capex_period": ("USD", "capex budget of a period"),
    "caps.spot_share": ("share", "spot share"),
    "quality.mean": ("req/s x points", "mean quality target"),
    "demand.served": ("req/s", "demand"),
}


#: families whose rows differ per period/slice (demand-like): one slack per row, not per label.
#: The monthly budget is one figure, but each period's row gets its own slack: a single slack
#: shared by every period leaves HiGHS a degenerate "minimise one variable" search that on an
#: infeasible 4-quarter instance found 2.8 M USD/month in 60 s where per-period slacks found at
#: most 66 k; the largest per-period slack is then a sufficient change (not proven the smallest)
PER_ROW = frozenset({"demand.served", "quality.mean", "caps.budget"})

#: families whose right-hand side is a fleet-wide factor times the row's demand (S x D_w): one
#: change of the factor moves every row, so the family is relaxed as that one factor (a slack with
#: coefficient -D_w in each row, QA: per-workload req/s slacks proposed 0.928 where 0.52 works), and
#: a demand slack (demand left unserved) lowers these rows' rhs with it (QA: a cut to 1.11 req/s
#: kept the spot allowance of 3 req/s and was infeasible).  The other rows that name D_w need no
#: such link: quality.mean has no D_w, and redundancy.spare (x <= D s) and capacity.small_route
#: (x / D <= y - s) only say "x > 0 needs s = 1 / a replica", the same for any demand >= x.
DEMAND_SCALED = {"caps.spot_share": "max_spot_share"}

#: families whose per-period rows (one per slice of the day) share one slack per label and period,
#: scaled by each row's rhs: the demand is changed by a growth multiplier, which moves every slice
#: of a period together (QA s22: slices cut separately gave a growth of 2.05 where 2.1 works).  The
#: slack is in the unit of the period's largest row (req/s at its peak), each row's coefficient its
#: rhs / that largest rhs.
PERIOD_SCALED = frozenset({"demand.served"})

#: status of an elastic "solve" that had nothing to relax
NO_ROWS = "no_rows"


@dataclass(frozen=True)
class Slack:
    """One row that needs relaxing: family, the row's label, amount in the family's unit."""

    family: str
    label: str
    amount: float
    rhs: float
    unit: str
    #: the demand (req/s) of the row's workload in the row's period and slice, where the model has
    #: that row: what per-demand families (mean quality, spot share) divide by
    demand_rps: Optional[float] = None
    #: rows of this label (periods, slices) that needed slack; the amount is the largest of them
    rows: int = 1
    #: (period, slice) of the row with that amount, in a multi-period model; None otherwise
    period_slice: Optional[tuple[int, int]] = None
    #: every period with a row of this label that needed slack (multi-period models), ascending
    periods: tuple = ()

    @property
    def size(self) -> float:
        """What makes one row's slack larger than another's: per unit of demand where known."""
        per_demand = self.family in ("quality.mean", "caps.spot_share") and self.demand_rps
        return self.amount / self.demand_rps if per_demand else self.amount


@dataclass
class ElasticResult:
    """Outcome of one phase-1 solve over ``families``."""

    families: tuple[str, ...]
    status: str                    # solve status of the phase-1 model
    slacks: list[Slack] = field(default_factory=list)
    message: str = ""
    #: with one slack (one limit relaxed everywhere, weight 1): the solver's proven lower bound on
    #: it, so a change not proven the smallest still says how much is surely needed
    at_least: Optional[float] = None

    @property
    def restores_feasibility(self) -> bool:
        return self.status in (OPTIMAL, TIME_LIMIT)

    @property
    def decided(self) -> bool:
        """A relaxation found, none needed, or proven that none helps (not: stopped with nothing)."""
        return self.restores_feasibility or self.status in (INFEASIBLE, NO_ROWS)


def _label(row_name: str, family: str) -> str:
    """'caps.power[ireland#0]' -> 'ireland#0'; a per-slice copy 'caps.power[ireland#0]@3.1' too."""
    inner = row_name[len(family):]
    if inner.startswith("[") and "]" in inner:
        return inner[1:inner.rindex("]")]
    return inner


def _period_slice(row_name: str) -> Optional[tuple[int, int]]:
    """'demand.served[chat]@3.0' -> (3, 0): the suffix the multi-period model gives its rows."""
    at = row_name.rfind("@")
    if at < 0 or "]" in row_name[at:]:
        return None
    t, _, s = row_name[at + 1:].partition(".")
    return (int(t), int(s)) if t.isdigit() and s.isdigit() else None


def add_slack(model: LinearModel, rows: np.ndarray, weights: np.ndarray,
              groups: Optional[np.ndarray] = None,
              coefs: Optional[np.ndarray] = None) -> tuple[LinearModel, np.ndarray]:
    """A copy of ``model`` with slack columns on ``rows`` and objective = weighted slack.

    One slack per row, or one per group when ``groups`` (group index of each
    row, 0..G-1) is given: rows of one group share a slack, e.g. the copies of
    one power cap in every period and slice of a multi-period model, which one
    change of the cap relaxes together.  ``weights`` has one entry per slack.
    Sign of the slack coefficient: ``<`` rows get -1 (the limit grows), ``>``
    and ``=`` rows get +1 (the requirement shrinks: for ``demand.served`` the
    slack is demand left unserved).  ``coefs`` overrides them entry by entry;
    a row may then appear more than once, in different groups (a demand
    slack that also lowers a spot-share row).  Returns the new model and the
    column index of each slack.
    """
    rows = np.asarray(rows, np.int64)
    groups = np.arange(len(rows)) if groups is None else np.asarray(groups, np.int64)
    m = int(groups.max()) + 1 if len(groups) else 0
    n0 = model.n_vars
    cols = np.arange(n0, n0 + m)
    coef = np.where(model.sense[rows] == "<", -1.0, 1.0) if coefs is None else np.asarray(coefs, float)
    # COO of the old matrix plus the new terms, then back to CSR sorted by (row, col)
    r_old = model.row_of_nnz()
    r = np.concatenate([r_old, rows])
    c = np.concatenate([model.indices, cols[groups]])
    v = np.concatenate([model.data, coef])
    order = np.lexsort((c, r))
    r, c, v = r[order], c[order], v[order]
    indptr = np.zeros(model.n_rows + 1, np.int64)
    np.add.at(indptr, r + 1, 1)
    indptr = np.cumsum(indptr)
    obj = np.concatenate([np.zeros(n0), np.asarray(weights, float)])
    blocks = dict(model.blocks)
    blocks["slack"] = cols
    first = np.zeros(m, np.int64)
    first[groups[::-1]] = rows[::-1]          # first row of each group names its slack
    new = replace(model, var_names=list(model.var_names) + [f"slack[{model.row_names[i]}]" for i in first],
                  lb=np.concatenate([model.lb, np.zeros(m)]),
                  ub=np.concatenate([model.ub, np.full(m, np.inf)]),
                  is_int=np.concatenate([model.is_int, np.zeros(m, bool)]),
                  indptr=indptr, indices=c, data=v, obj=obj, obj_const=0.0,
                  obj_parts={"slack": obj}, blocks=blocks)
    return new, cols


def relax(model: LinearModel, families: Sequence[str], *, backend: str = "pulp",
          solver: Optional[str] = None, time_limit_s: float = 30.0,
          free_rows: Sequence[int] = (), relative: bool = False) -> ElasticResult:
    """Minimise the slack needed on ``families`` (each slack weighted 1, or 1/max(|rhs|, 1)).

    ``free_rows`` are rows dropped before solving (their rhs set so that they
    hold trivially), e.g. the demand rows of workloads that no candidate can
    serve, which are explained separately.  ``relative`` weights slacks by the
    size of their row, so families in different units can be relaxed together.
    """
    fam = model.row_family.astype(str)
    names = model.row_names
    rows = np.flatnonzero(np.isin(fam, list(families)))
    rhs = model.rhs.copy()
    # cover cuts (cuts.*: ">= so many replicas/units for the full demand") are valid for the model,
    # not for its relaxation: with demand slack they would still ask for the full demand's fleet,
    # and "relaxing demand does not help" would be a false proof.  0 <= sum of non-negatives holds.
    cuts = np.flatnonzero(np.char.startswith(fam, "cuts.") & (model.sense == ">"))
    rhs[cuts] = 0.0
    if len(free_rows):
        free = np.asarray(free_rows, np.int64)
        # a free row has no columns (that is why it is freed); 0 = 0 holds
        rhs[free] = 0.0
        rows = np.setdiff1d(rows, free)
    base = replace(model, rhs=rhs)
    if len(rows) == 0:
        return ElasticResult(tuple(families), NO_ROWS, message="no such rows in this model")
    demand_row = {names[i]: i for i in np.flatnonzero(fam == "demand.served")}

    def demand_of(i: int) -> Optional[int]:
        """The demand row of row i's workload, period and slice ('caps.spot_share[w]@3.0' -> 'demand.served[w]@3.0')."""
        return demand_row.get("demand.served" + names[i][len(fam[i]):])

    # rows with the same family and label (copies per period/slice) share one slack - one change
    # of a limit relaxes every copy; demand-like rows differ per period, so each keeps its own;
    # demand-scaled rows share the one factor, whose slack counts D_w in each row
    coefs = np.where(model.sense[rows] == "<", -1.0, 1.0)
    keys = []
    scaled_rows = np.zeros(len(rows), bool)
    for n, i in enumerate(rows):
        f = fam[i]
        ps = _period_slice(names[i])
        if f in DEMAND_SCALED:
            keys.append((f, DEMAND_SCALED[f]))
            d = demand_of(i)
            coefs[n] = -float(model.rhs[d]) if d is not None else 0.0
        elif f in PERIOD_SCALED and ps is not None:
            keys.append((f, _label(names[i], f), -1 - ps[0]))      # (negative: never a row index)
            scaled_rows[n] = True
        else:
            keys.append((f, _label(names[i], f)) + ((int(i),) if f in PER_ROW else ()))
    uniq = sorted(set(keys))
    index = {kk: g for g, kk in enumerate(uniq)}
    groups = np.array([index[kk] for kk in keys], np.int64)
    size = np.zeros(len(uniq))
    np.maximum.at(size, groups, np.abs(base.rhs[rows]))
    # a period's slices change together: each row's share of the period's largest demand
    coefs[scaled_rows] *= np.abs(base.rhs[rows][scaled_rows]) / np.maximum(size[groups[scaled_rows]], 1e-12)
    size[[g for g, kk in enumerate(uniq) if kk[0] in DEMAND_SCALED]] = 1.0     # a share, not req/s
    w = 1.0 / np.maximum(size, 1.0) if relative else np.ones(len(uniq))
    # demand left unserved lowers the rows that scale with that demand: S (D - slack)
    link_r, link_g, link_c = [], [], []
    if "demand.served" in families:
        scaled = {names[j]: j for j in np.flatnonzero(np.isin(fam, list(DEMAND_SCALED)))}
        for n, i in enumerate(rows):
            if fam[i] != "demand.served" or model.rhs[i] <= 0:
                continue
            for f in DEMAND_SCALED:
                j = scaled.get(f + names[i][len("demand.served"):])
                if j is not None:
                    link_r.append(j)
                    link_g.append(groups[n])
                    # per unit of the demand slack: the row's unserved demand is coefs[n] x it
                    link_c.append(float(model.rhs[j]) / float(model.rhs[i]) * coefs[n])
    em, cols = add_slack(base, np.concatenate([rows, np.asarray(link_r, np.int64)]), w,
                         np.concatenate([groups, np.asarray(link_g, np.int64)]),
                         np.concatenate([coefs, link_c]))
    res = solve(em, backend, solver, time_limit_s=time_limit_s, mip_gap=1e-6)
    out = ElasticResult(tuple(families), res.status, message=res.message)
    if len(uniq) == 1 and not relative:
        # proven optimal: the slack itself; stopped early: the solver's bound, where it gives one
        low = res.objective if res.status == OPTIMAL else res.best_bound
        if low is not None and np.isfinite(low):
            out.at_least = max(float(low), 0.0)
    if not res.has_plan:
        return out
    vals = res.values[cols]
    # a slack below 1e-6 of its limit is solver noise where a larger one restores the plan; where none is
    # larger, the small ones are the cause (QA s25: a budget short by $0.001 of $1,175.007 a month was
    # called "not a cause", and the explanation asked for more time)
    scale = np.maximum(1.0, np.asarray(size, float))
    noise = 1e-6 if np.any(vals > 1e-6 * scale) else 1e-9
    shared = [g for g in range(len(uniq)) if uniq[g][0] not in PER_ROW and vals[g] > noise * scale[g]]
    # (at most as long as phase 1 took, within what is left of the limit, 1 s at least: it only names
    # the copy, the figure is phase 1's; review: a phase 1 that used the limit got it again)
    v = _least_over(em, rows, groups, coefs, cols, vals, shared, backend, solver,
                    max(1.0, min(time_limit_s - res.seconds, res.seconds)), res) \
        if any(len({_period_slice(names[i]) for i in rows[groups == g]}) > 1 for g in shared) else None
    # what each row needs in its slack's unit, in the plan found: the copy of a shared limit that
    # needs the most is the one that binds (QA: period 0 was named, period 3 needed the 3.8 kW)
    act = base.activity((res.values if v is None else v)[:base.n_vars])
    over = np.where(base.sense[rows] == "<", act[rows] - base.rhs[rows], base.rhs[rows] - act[rows])
    need = np.where(coefs != 0, over / np.where(coefs != 0, np.abs(coefs), 1.0), -np.inf)
    best: dict[tuple, Slack] = {}
    for g, (key, val) in enumerate(zip(uniq, vals)):
        if val <= noise * scale[g]:
            continue
        f, label = key[0], key[1]
        # one slack per period of a period-scaled family: each is reported (the peak row names it)
        per_period = (key[2],) if scaled_rows[groups == g].any() else ()
        mine = np.flatnonzero(groups == g)
        top = mine[int(np.argmax(need[mine]))]
        i = int(rows[top])
        d_row = demand_of(i)
        d_rps = float(base.rhs[d_row]) if d_row is not None and f not in DEMAND_SCALED else None
        limit = float(size[g])
        if f in DEMAND_SCALED:
            # the factor itself (S = rhs / D_w), from a row with demand
            limit = next((float(base.rhs[rows[n]]) / -coefs[n] for n in [top, *mine] if coefs[n] < 0), 0.0)
        # per-row slacks of one label (periods/slices): report the largest, with its row's rhs
        # how many periods/slices are over it (the spot share has a row per workload in each: review,
        # '3 periods/slices' in a 2-period plan)
        over_ps = {_period_slice(names[rows[n]]) for n in mine if need[n] > noise * scale[g]}
        sl = Slack(f, label, float(val), limit, RELAXABLE.get(f, ("", f))[0], d_rps,
                   rows=1 if f in PER_ROW else max(1, len(over_ps)),
                   period_slice=_period_slice(names[i]),
                   periods=tuple(sorted({ps[0] for ps in over_ps if ps is not None})))
        old = best.get((f, label) + per_period)
        best[(f, label) + per_period] = sl if old is None else replace(
            max(old, sl, key=lambda x: x.size), rows=old.rows + 1,
            periods=tuple(sorted(set(old.periods) | set(sl.periods))))
    out.slacks.extend(best.values())
    out.slacks.sort(key=lambda s: (s.family, s.label))
    return out


def _least_over(em: LinearModel, rows, groups, coefs, cols, vals, shared, backend, solver,
                time_limit_s, start) -> Optional[np.ndarray]:
    """A plan within the slacks found that asks the least of the shared limits' copies.

    Phase 1 minimises only the slack, so copies of a limit that do not bind may be filled up to it
    (a fleet bought in period 0 for period 3's peak); minimising the copies' total use with the
    slacks fixed leaves the one that needs the slack at the top.  None when that solve finds nothing.
    ``start``: the phase-1 result, a plan within those slacks.
    """
    obj = np.zeros(em.n_vars)
    for n, i in enumerate(rows):
        if groups[n] in shared and coefs[n] != 0:
            a, b = em.indptr[i], em.indptr[i + 1]
            keep = em.indices[a:b] < cols[0]            # the plan's columns, not the slacks
            sign = 1.0 if em.sense[i] == "<" else -1.0
            np.add.at(obj, em.indices[a:b][keep], sign * em.data[a:b][keep] / abs(coefs[n]))
    ub = em.ub.copy()
    ub[cols] = vals * (1 + 1e-9) + 1e-9
    res = solve(replace(em, obj=obj, obj_parts={"use": obj}, ub=ub), backend, solver,
                time_limit_s=time_limit_s, mip_gap=1e-4, start=start.values)
    return res.values if res.has_plan else None


def families_in(model: LinearModel) -> list[str]:
    """Relaxable families present in ``model``, in :data:`RELAXABLE` order."""
    present = set(model.row_family.astype(str).tolist())
    return [f for f in RELAXABLE if f in present]
