"""Robust plans: one owned fleet for a set of demand scenarios (two-stage stochastic program).

Model
-----
Scenarios s = 1..S with probabilities pi_s (summing to 1) each have their own
coefficients k_s (the problem's named scenarios, or the base problem with its
demand times a multiplier).  For each, :func:`solver.mip.formulation.build_model`
builds the usual single-scenario model M_s; the stochastic program stacks them:

* first stage (here-and-now, shared): N_f in Z+ for every *first-stage* offer
  f (purchase, reserved 1y/3y), matched across scenarios by the offer's key;
* second stage (per scenario): everything else of M_s - on-demand and spot
  units, the already-owned devices each scenario runs (at most those owned; idle
  ones are switched off, as in a single solve: QA, holding them in every scenario
  overstated one problem's cost by 17%), replicas, spares, routing;
* linking rows ``robust.first_stage[key@s]``: n_f^s - N_f = 0 - every scenario
  has exactly the bought/reserved fleet (it is paid for, draws idle power and
  counts against power caps whether used or not);
* objective: sum_s pi_s obj_s(v_s).  Because n_f^s = N_f in every scenario and
  sum pi_s = 1, the first-stage cost is counted exactly once, and the rest is
  the probability-weighted second-stage cost.

Every scenario keeps all its own rows (demand, caps, budget per scenario).

Percentile ("serve the cheapest p%")
------------------------------------
``percentile`` < 100 drops the scenarios with the largest total demand: the
ceil(p/100 x S) scenarios with the lowest total demand are kept, their
probabilities renormalised, and the plan is required to be feasible (and is
costed) on those only.  This is the simple, documented form of a chance
constraint: the dropped peaks are the ones the owner decides not to plan for
(they would be shed or handled outside the plan).  A binary scenario-selection
model would choose *which* scenarios to drop by cost; with demand-only
scenarios the largest ones are also the most expensive to serve, so both agree
whenever cost grows with demand.

Comparisons
-----------
* ``stochastic``: the stacked model above.
* ``mean``: solve the single model at the expected demand, keep its first
  stage, then re-solve every scenario's second stage with that first stage
  fixed (on-demand/spot pay for the rest) and take the expected cost.
* ``max``: the same with the element-wise largest demand.

The single-demand models of ``mean`` and ``max`` take everything but the demand
(SLOs, caps, offers, budget, prices) from the planned scenarios when these agree
on all of it (demand-multiplier scenarios always do).  Named scenarios that
differ in more than demand have no "mean" latency target or budget, so the
mean and max plans are then planned on ``base``, the problem as written
(without any scenario; the CLI passes it): what planning for the mean or the
peak of the problem as written commits to, re-costed in every scenario.  Either
way the plans do not depend on the order the scenarios are listed in (QA s22:
they took the first one listed, and swapping two scenarios moved the VSS from
$8,518.22 to $0.00); ``RobustReport.comparison_settings`` says which it was.

The difference mean - stochastic is the value of the stochastic solution
(VSS), on the totals both plans minimise (reservations' whole terms, also after
the horizon), which is >= 0 up to the MIP gap (the mean plan's first stage is one
feasible first stage of the stochastic program).  It splits into what a month of the horizon
pays (``vss_usd_per_month``, the basis of the monthly table) x months plus what reservations
longer than the horizon pay after it (``vss_after_horizon_usd``); the console gives both (QA s22:
the all-in total / months was printed as "per month of the horizon" beside a table whose plans
differed by another amount a month).

Status
------
A plan's status is the worst of the solves that made it: the mean and max
plans are ``time_limit`` when either their single-demand solve (the first
stage) or a scenario's solve with that first stage fixed stopped at its time
limit, even when the later solve is optimal (QA: a first stage left at a 99.96%
gap, 4,000+ reserved devices, was fixed and its second stage reported as
"optimal", 296x the optimum).  ``gap`` is the largest proven gap of those
solves, ``None`` where no solver gave a bound.  The VSS is only given when the
stochastic and the mean plans are both proven optimal; else ``vss_note`` says
why not.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Optional, Sequence

import numpy as np

from solver.coefficients import Coefficients
from solver.errors import InputError, InputIssue
from solver.mip.backends import solve_logged
from solver.mip.formulation import build_model
from solver.mip.model import LinearModel
from solver.mip.status import INFEASIBLE, OPTIMAL, STATUSES, TIME_LIMIT, SolveResult

FIRST_STAGE_ACQUISITIONS = ("purchase", "reserved_1y", "reserved_3y")
#: hardware cost parts (what a first-stage unit costs whether used or not)
HW_PARTS = ("rental_on_demand", "rental_spot", "rental_reserved_1y", "rental_reserved_3y",
            "purchase_amortisation", "maintenance", "hosting")


@dataclass
class DemandScenario:
    name: str
    probability: float
    k: Coefficients

    @property
    def total_rps(self) -> float:
        return float(np.sum(self.k.demand_rps))


def is_first_stage(o) -> bool:
    """Bought or reserved hardware (owned devices are per scenario: their cost is sunk)."""
    return not o.existing and o.acquisition in FIRST_STAGE_ACQUISITIONS


def multiplier_names(m: Sequence[float]) -> list[str]:
    """'x1.2' per multiplier, with as many digits as it takes to tell them apart (QA: 1.0004 and 1.0049
    were both 'x1', and their costs were merged); equal multipliers get '#2', '#3'..."""
    for digits in range(3, 13):
        names = [f"x{mi:.{digits}g}" for mi in m]
        if len(set(names)) == len(names):
            return names
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return out


#: largest --demand-cv: lognormal draws of CV 10 already run from about x0.001 to x10; beyond, the
#: draws fall below the smallest demand a solver can tell from none (QA s27: 1e23 was blamed on
#: --multipliers, inf drew NaN)
MAX_DEMAND_CV = 10.0


def draw_issues(n: Optional[int], cv, seed) -> list[InputIssue]:
    """What :func:`draw_multipliers` refuses, every one at once (QA s27: one per run; a negative seed
    was numpy's 'expected non-negative integer', exit 1)."""
    import numbers
    out = []
    if n is not None and (isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1):
        out.append(InputIssue(f"must be at least 1 (got {n!r})", path="--demand-scenarios",
                              hint="e.g. --demand-scenarios 5"))
    if isinstance(cv, bool) or not isinstance(cv, numbers.Real) or not 0 <= cv <= MAX_DEMAND_CV:
        out.append(InputIssue(f"must be a number in 0..{MAX_DEMAND_CV:g} (got {cv!r})", path="--demand-cv",
                              hint=f"e.g. --demand-cv 0.3 (a CV of {MAX_DEMAND_CV:g} already draws multipliers "
                                   "from about x0.001 to x10)"))
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        out.append(InputIssue(f"must be an integer >= 0 (got {seed!r})", path="--seed",
                              hint="e.g. --seed 1 (the same seed gives the same draws)"))
    return out


def draw_multipliers(n: int, cv: float, seed: int) -> np.ndarray:
    """n lognormal demand multipliers with mean 1 and coefficient of variation ``cv``."""
    issues = draw_issues(n, cv, seed)
    if issues:
        raise InputError(issues)
    sigma2 = math.log1p(cv * cv)
    rng = np.random.default_rng(seed)
    return np.exp(rng.normal(-sigma2 / 2.0, math.sqrt(sigma2), n))


def probability_issues(probabilities: Optional[Sequence[float]], n: int) -> list[InputIssue]:
    """What is wrong with ``probabilities`` for ``n`` scenarios: the count expected and given, a
    negative value, the sum when it is not 1 - each with how to fix it (QA s27: one line, no fix, no
    count, no sum)."""
    if probabilities is None:
        return []
    p = [float(x) for x in probabilities]
    hint = f"one per scenario, each >= 0, summing to 1: e.g. --probabilities {example_probabilities(n)}"
    if not all(math.isfinite(x) for x in p):
        return [InputIssue("takes finite numbers", path="--probabilities", hint=hint)]
    out = []
    total = math.fsum(p)
    if len(p) != n:
        out.append(InputIssue(f"{n} scenario{'' if n == 1 else 's'} need {n} probabilit{'y' if n == 1 else 'ies'}, "
                              f"got {len(p)} (summing to {total:.12g})", path="--probabilities",
                              hint=hint + ", or leave --probabilities out for equal ones"))
    elif abs(total - 1.0) > 1e-9:
        out.append(InputIssue(f"the {n} probabilities sum to {total:.12g}, not 1", path="--probabilities",
                              hint=hint))
    negative = [x for x in p if x < 0]
    if negative:
        out.append(InputIssue(f"{negative[0]:g} is negative", path="--probabilities", hint=hint))
    return out


def example_probabilities(n: int) -> str:
    """n probabilities in hundredths that sum to exactly 1 (0.33,0.33,0.34): a fix line to paste."""
    if n < 1 or n > 100:
        return "0.25,0.5,0.25"
    base = 100 // n
    return ",".join([f"{base / 100:g}"] * (n - 1) + [f"{(100 - base * (n - 1)) / 100:g}"])


def two_stage_coefficients(loaded) -> Coefficients:
    """Coefficients of ``loaded`` for a two-stage plan: without offer dominance.

    An offer that a cheaper one of the same hardware beats in a single plan (on-demand against a
    1-year reservation) is still the recourse a scenario above the shared first stage needs, since
    reservations and purchases are fixed across scenarios and rentals are not.  Candidates are
    pruned within each offer only.
    """
    from solver.coefficients import build_coefficients, prune_dominated
    from solver.problem.load import require_loaded

    loaded = require_loaded(loaded, "two_stage_coefficients")
    return prune_dominated(build_coefficients(loaded.problem, loaded.catalog, dominance=False))


def check_two_stage(k: Coefficients, who: str) -> None:
    """:class:`InputError` for coefficients built with offer dominance: the offers it dropped may be
    the recourse of a two-stage plan (QA: on-demand beaten by a reservation was gone, so the plan
    reserved for the peak and the mean plan came out infeasible)."""
    dropped = int((getattr(k, "pruned", None) or {}).get("offers_dominated", 0))
    if dropped > 0:
        raise InputError(InputIssue(
            f"{who}: these coefficients were built with offer dominance, which dropped {dropped} "
            "offer(s) that a scenario above the shared reservations may need (on-demand/spot rentals)",
            hint="build them with solver.explore.robust.two_stage_coefficients(loaded)"))


#: most scenarios one robust plan takes: the stochastic program holds a copy of the second stage per
#: scenario, and the mean and max plans re-solve each (QA s18: --demand-scenarios had no limit); for
#: more, a sweep (`fleetopt sweep`) solves them one at a time
MAX_SCENARIOS = 100


def check_scenario_count(n: int, path: str = "scenarios") -> None:
    """Refuse more than :data:`MAX_SCENARIOS` scenarios (before any is drawn or built)."""
    if n > MAX_SCENARIOS:
        raise InputError(InputIssue(f"{n:,} scenarios; a robust plan takes at most {MAX_SCENARIOS}", path=path,
                                    hint=f"plan for at most {MAX_SCENARIOS} (a few dozen describe a demand "
                                         "distribution well), or solve each with `fleetopt sweep`"))


def _three_digits(x: float, *, up: bool) -> float:
    """``x`` to three significant digits, rounded up or down: a bound that, pasted, still holds."""
    step = 10.0 ** (math.floor(math.log10(x)) - 2)
    return (math.ceil(x / step - 1e-9) if up else math.floor(x / step + 1e-9)) * step


def scenarios_from_multipliers(k: Coefficients, multipliers: Sequence[float],
                               probabilities: Optional[Sequence[float]] = None, *,
                               drawn: bool = False) -> list[DemandScenario]:
    """The base coefficients (from :func:`two_stage_coefficients`) with every workload's demand
    times each multiplier.  ``drawn``: the multipliers are :func:`draw_multipliers`' (an error about
    them names --demand-cv, the flag the user gave, not --multipliers)."""
    check_two_stage(k, "scenarios_from_multipliers")
    m = np.asarray(list(multipliers), float)
    check_scenario_count(len(m), "--demand-scenarios" if drawn else "--multipliers")
    if len(m) == 0 or not np.all(np.isfinite(m)) or np.any(m <= 0):
        raise InputError(InputIssue("demand multipliers must be positive numbers", path="--multipliers",
                                    hint="e.g. --multipliers 0.7,1,1.4"))
    # the bounds the schema holds every demand to: below the floor, a demand cannot be told from none
    # (QA s26: x1e-09 gave 6e-09 req/s, 'served' for $0 by a plan with no device); above the ceiling,
    # products of it overflow (QA s27: x1e308 blamed 'the model's demand.served' and the problem's prices)
    from solver.problem.schema import MAX_RPS, MIN_RPS
    scaled = [(float(mi), k.workloads[w], float(k.demand_rps[w]) * float(mi)) for mi in m for w in range(k.n_w)]
    low = [t for t in scaled if 0 < t[2] < MIN_RPS]
    high = [t for t in scaled if t[2] > MAX_RPS]
    issues = []
    flag, what = ("--demand-cv", "drawn demand multiplier") if drawn else ("--multipliers", "demand multiplier")
    if low:
        mi, wid, rps = min(low, key=lambda t: t[2])
        least = _three_digits(max(float(MIN_RPS / d) for d in k.demand_rps if d > 0), up=True)
        issues.append(InputIssue(
            f"{what} {mi:g} scales workload {wid}'s demand to {rps:.3g} req/s, below the "
            f"{MIN_RPS:g} req/s a solver can tell from no demand (every workload's demand must be at least that)",
            path=flag, hint="use a smaller --demand-cv (e.g. 0.3)" if drawn else
            f"use multipliers of at least {least:.3g}"))
    if high:
        mi, wid, rps = max(high, key=lambda t: t[2])
        most = _three_digits(min(float(MAX_RPS / d) for d in k.demand_rps if d > 0), up=False)
        issues.append(InputIssue(
            f"{what} {mi:g} scales workload {wid}'s demand to {rps:.3g} req/s, above the {MAX_RPS:g} req/s "
            "a problem may hold (beyond, a unit slip)", path=flag,
            hint="use a smaller --demand-cv (e.g. 0.3)" if drawn else f"use multipliers of at most {most:.3g}"))
    if issues:
        raise InputError(issues)
    p = np.full(len(m), 1.0 / len(m)) if probabilities is None else np.asarray(probabilities, float)
    bad = probability_issues(None if probabilities is None else list(p), len(m))
    if bad:
        raise InputError(bad)
    return [DemandScenario(name, float(pi), replace(k, demand_rps=k.demand_rps * mi))
            for name, mi, pi in zip(multiplier_names(m), m, p)]


@dataclass
class Stacked:
    model: LinearModel
    scenarios: list[DemandScenario]
    offsets: list[int]              # first column of each scenario's block
    models: list[LinearModel]
    first_keys: list[str]           # first-stage offer keys, one N column each
    first_cols: np.ndarray          # column of N per key


def first_stage_keys(scenarios: Sequence[DemandScenario]) -> list[str]:
    keys = [sorted(o.key for o in s.k.offers if is_first_stage(o)) for s in scenarios]
    if any(kk != keys[0] for kk in keys[1:]):
        raise InputError(InputIssue("the scenarios offer different purchased/reserved hardware; a shared "
                                    "first stage needs the same first-stage offers in every scenario",
                                    path="scenarios",
                                    hint="make the scenarios differ in demand (workloads.*.demand.requests_per_s) only"))
    return keys[0]


def stack(scenarios: Sequence[DemandScenario], fixed_first: Optional[dict] = None) -> Stacked:
    """One LinearModel: every scenario's model, weighted by pi_s, linked on the first stage."""
    models = [build_model(s.k) for s in scenarios]
    keys = first_stage_keys(scenarios)
    offsets, n0 = [], 0
    for m in models:
        offsets.append(n0)
        n0 += m.n_vars
    first_cols = np.arange(n0, n0 + len(keys))
    names, lb, ub, is_int, obj = [], [], [], [], []
    parts: dict[str, list] = {}
    rows_r, rows_c, rows_v, sense, rhs, rnames, fam = [], [], [], [], [], [], []
    r0 = 0
    key_pos = {kk: i for i, kk in enumerate(keys)}
    n_ub = np.full(len(keys), np.inf)
    link_r, link_c, link_v, link_names = [], [], [], []
    for sc, m, off in zip(scenarios, models, offsets):
        names += [f"{sc.name}:{v}" for v in m.var_names]
        lb.append(m.lb)
        ub.append(m.ub)
        is_int.append(m.is_int)
        obj.append(sc.probability * m.obj)
        r = m.row_of_nnz()
        rows_r.append(r + r0)
        rows_c.append(m.indices + off)
        rows_v.append(m.data)
        sense.append(m.sense)
        rhs.append(m.rhs)
        rnames += [f"{sc.name}:{n}" for n in m.row_names]
        fam.append(m.row_family)
        r0 += m.n_rows
        for o, info in enumerate(sc.k.offers):
            if not is_first_stage(info):
                continue
            j = key_pos[info.key]
            n_ub[j] = min(n_ub[j], m.ub[m.blocks["n"][o]])
            link_r += [len(link_names), len(link_names)]
            link_c += [off + int(m.blocks["n"][o]), int(first_cols[j])]
            link_v += [1.0, -1.0]
            link_names.append(f"robust.first_stage[{info.key}@{sc.name}]")
    for part in sorted({p for m in models for p in m.obj_parts}):
        parts[part] = [sc.probability * m.obj_parts.get(part, np.zeros(m.n_vars))
                       for sc, m in zip(scenarios, models)]
    N_lb, N_ub = np.zeros(len(keys)), n_ub
    if fixed_first is not None:
        N_lb = np.array([float(fixed_first.get(kk, 0.0)) for kk in keys])
        N_ub = N_lb.copy()
    names += [f"N[{kk}]" for kk in keys]
    lb.append(N_lb)
    ub.append(N_ub)
    is_int.append(np.ones(len(keys), bool))
    obj.append(np.zeros(len(keys)))
    m_link = len(link_names)
    rows_r.append(np.asarray(link_r, np.int64) + r0)
    rows_c.append(np.asarray(link_c, np.int64))
    rows_v.append(np.asarray(link_v, float))
    sense.append(np.full(m_link, "="))
    rhs.append(np.zeros(m_link))
    rnames += link_names
    fam.append(np.full(m_link, "robust.first_stage", dtype=object))
    n_rows = r0 + m_link
    r = np.concatenate(rows_r).astype(np.int64)
    c = np.concatenate(rows_c).astype(np.int64)
    v = np.concatenate(rows_v)
    order = np.lexsort((c, r))
    r, c, v = r[order], c[order], v[order]
    indptr = np.zeros(n_rows + 1, np.int64)
    np.add.at(indptr, r + 1, 1)
    indptr = np.cumsum(indptr)
    nk = len(keys)
    obj_parts = {p: np.concatenate(vs + [np.zeros(nk)]) for p, vs in parts.items()}
    model = LinearModel(var_names=names, lb=np.concatenate(lb), ub=np.concatenate(ub),
                        is_int=np.concatenate(is_int), indptr=indptr, indices=c, data=v,
                        sense=np.concatenate(sense).astype("<U1"), rhs=np.concatenate(rhs),
                        row_names=rnames, row_family=np.concatenate(fam).astype(object),
                        obj=np.concatenate(obj), obj_parts=obj_parts, blocks={"N": first_cols})
    return Stacked(model, list(scenarios), offsets, models, keys, first_cols)


@dataclass
class Approach:
    """One first-stage decision and what it costs across the scenarios."""

    name: str                       # stochastic | mean | max
    status: str
    first_stage_units: dict = field(default_factory=dict)       # offer key -> units
    first_stage_devices: dict = field(default_factory=dict)     # accelerator -> devices
    first_stage_usd: Optional[float] = None                     # hardware cost of the first stage (E over scenarios)
    expected_usd: Optional[float] = None                        # first stage + E[second stage]
    per_scenario_usd: dict = field(default_factory=dict)        # scenario -> total cost
    message: str = ""
    #: of the first stage's cost, what reservations longer than the horizon pay after it (in the
    #: totals; not in the per-month figures, which are what a month of the horizon pays)
    after_horizon_usd: float = 0.0
    #: the largest proven relative gap of the solves that made this plan (None: no bound given)
    gap: Optional[float] = None

    @property
    def proven(self) -> bool:
        return self.status == OPTIMAL


@dataclass
class RobustReport:
    scenarios: list                  # [{name, probability, total_rps, kept}]
    percentile: float
    hours: float
    approaches: list[Approach]
    vss_usd: Optional[float]         # mean - stochastic expected cost (both plans proven optimal)
    #: why there is no VSS (a plan not proven optimal, or without a plan); "" when it is given
    vss_note: str = ""
    #: how far below 0 the VSS may be from the solves' relative gap alone (mip_gap x both totals)
    vss_tolerance_usd: float = 0.0
    #: the VSS's part a month of the horizon pays (the table's basis, in USD per month) and the part
    #: reservations longer than the horizon pay after it (USD): vss_usd = that x months + this
    vss_usd_per_month: Optional[float] = None
    vss_after_horizon_usd: float = 0.0
    #: whose settings (all but demand) the mean and max plans are planned under: "" when the planned
    #: scenarios share them, else :data:`AS_WRITTEN`
    comparison_settings: str = ""
    note: str = ("first stage: purchased and reserved units (shared by every scenario); second stage: "
                 "on-demand/spot units, the owned devices in service, replicas and routing per scenario")

    def to_dict(self) -> dict:
        return asdict(self)

    def table_text(self) -> str:
        per_month = 730.0 / self.hours
        # what a month of the horizon pays: a reservation longer than the horizon at its monthly rate
        lines = [self.comparison_settings] if self.comparison_settings else []
        lines += ["costs in USD per month (what a month of the horizon pays)",
                  f"{'plan':<11} {'status':<10} {'gap':>8} {'first stage':>16} {'expected total':>16}  "
                  "first-stage devices"]
        for a in self.approaches:
            f = "-" if a.first_stage_usd is None else f"{(a.first_stage_usd - a.after_horizon_usd) * per_month:,.2f}"
            e = "-" if a.expected_usd is None else f"{(a.expected_usd - a.after_horizon_usd) * per_month:,.2f}"
            # the gap of a plan that stopped at its time limit ('?': no solver gave a bound)
            g = ("-" if a.status != TIME_LIMIT else "?" if a.gap is None else f"{a.gap:.2%}")
            dev = ", ".join(f"{n:g} {acc}" for acc, n in sorted(a.first_stage_devices.items())) or "none"
            lines.append(f"{a.name:<11} {a.status:<10} {g:>8} {f:>16} {e:>16}  {dev}")
        if self.vss_usd is not None and -self.vss_tolerance_usd <= self.vss_usd < 0:
            # (QA s18: --multipliers 1,1e9 printed a VSS of -447,558.91 USD on totals of 1.3e13: the
            # solves' gap, not a better mean plan)
            lines.append(f"value of the stochastic solution: none found (mean plan - stochastic: "
                         f"${self.vss_usd:,.2f}, within what the solves' relative gap allows, "
                         f"${self.vss_tolerance_usd:,.2f}): planning for the mean is as good, as far as "
                         "the solves prove")
        elif self.vss_usd is not None:
            # on the totals the plans were optimised for: reservations' whole terms (QA: printed 'per
            # month' beside a table without the terms after the horizon, where the sign could differ);
            # its monthly part on the table's basis (QA s22: 916.05 'per month' was the all-in total / 24
            # beside a table whose plans differed by 310.59 a month)
            text = (f"value of the stochastic solution (mean plan - stochastic): {_usd(self.vss_usd)} all-in "
                    "(reservations' whole terms, what the plans minimise)")
            if self.vss_usd_per_month is not None and abs(self.vss_after_horizon_usd) > 0.005:
                text += (f" = {_usd(self.vss_usd_per_month)} a month over the {self.hours / 730.0:g}-month horizon "
                         f"(as in the table above) + {_usd(self.vss_after_horizon_usd)} of reservations paid after it")
            elif self.vss_usd_per_month is not None:
                text += f", {_usd(self.vss_usd_per_month)} a month (as in the table above)"
            lines.append(text)
            if self.vss_usd < -self.vss_tolerance_usd:
                lines.append(f"  below 0 by more than the solves' gap allows (${self.vss_tolerance_usd:,.2f}): the "
                             "mean plan's first stage is one of the stochastic program's, so this is a solver "
                             "error; rerun with another --backend and report it")
            bill, later = self.vss_usd_per_month, self.vss_after_horizon_usd
            if bill is not None and abs(later) > 0.005 and (bill < 0) != (self.vss_usd < 0):
                lines.append(f"  in the monthly bill above the mean plan pays ${abs(bill):,.2f} a month "
                             f"{'less' if bill < 0 else 'more'}, and commits ${abs(later):,.2f} "
                             f"{'more' if later > 0 else 'less'} after the horizon")
        elif self.vss_note:
            lines.append(f"value of the stochastic solution: not given: {self.vss_note}")
        return "\n".join(lines) + "\n"


def keep_percentile(scenarios: Sequence[DemandScenario], percentile: float) -> list[bool]:
    """Which scenarios are planned for: the ceil(p% x S) with the lowest total demand."""
    if not 0 < percentile <= 100:
        raise InputError(InputIssue(f"percentile (--percentile) must be in (0, 100], got {percentile!r}",
                                    hint="e.g. 90"))
    n = len(scenarios)
    keep_n = max(1, math.ceil(percentile / 100.0 * n - 1e-9))
    order = sorted(range(n), key=lambda i: (scenarios[i].total_rps, i))
    kept = set(order[:keep_n])
    return [i in kept for i in range(n)]


def worst_status(*statuses: str) -> str:
    """The worst of the statuses of the solves that made one plan (optimal < time_limit <
    infeasible < unbounded < error)."""
    return max(statuses, key=STATUSES.index)


def _usd(x: float) -> str:
    return f"{'-' if x < 0 else ''}${abs(x):,.2f}"


def _gap_text(gap: Optional[float]) -> str:
    return "gap unknown (no bound given)" if gap is None else f"gap {gap:.2%}"


def _summarise(name: str, st: Stacked, res) -> Approach:
    if res.status not in (OPTIMAL, TIME_LIMIT):
        return Approach(name, res.status, message=res.message)
    v = res.values
    units = {kk: float(v[c]) for kk, c in zip(st.first_keys, st.first_cols)}
    devices: dict[str, float] = {}
    for info in st.scenarios[0].k.offers:
        if is_first_stage(info) and units[info.key] > 0:
            devices[info.accelerator] = devices.get(info.accelerator, 0.0) + units[info.key] * info.devices_per_unit
    # probability-weighted, as the objective counts it: scenarios may price the same offer differently,
    # and the first one listed is no better than another
    first_usd = after_usd = 0.0
    for sc, m in zip(st.scenarios, st.models):
        after = sc.k.after_horizon_usd_per_unit()
        for o, info in enumerate(sc.k.offers):
            if not is_first_stage(info):
                continue
            col = int(m.blocks["n"][o])
            u = units[info.key]
            first_usd += sc.probability * u * sum(float(m.obj_parts[p][col]) for p in HW_PARTS if p in m.obj_parts)
            after_usd += sc.probability * u * sum(float(vec[o]) for vec in after.values())
    per = {}
    for sc, m, off in zip(st.scenarios, st.models, st.offsets):
        per[sc.name] = float(m.obj @ v[off:off + m.n_vars] + m.obj_const)
    expected = float(sum(sc.probability * per[sc.name] for sc in st.scenarios))
    return Approach(name, res.status, {k: u for k, u in units.items() if u > 0}, devices,
                    first_usd, expected, per, res.message, after_usd, gap=res.gap)


def solve_stacked(st: Stacked, backend: str, solver: Optional[str], *, time_limit_s: float,
                  mip_gap: float) -> SolveResult:
    """Solve the stacked model; when its first stage is fixed (or empty) the scenarios decouple.

    With every N_f fixed (or no first-stage offer at all) the linking rows only pin
    n_f^s, so each scenario is solved alone with its n_f fixed, which is exact and far
    faster than one block-diagonal MIP; the values are assembled into the stacked vector.
    Otherwise the whole stacked MIP is solved.
    """
    m = st.model
    N = st.first_cols
    if len(N) and not np.all(m.lb[N] == m.ub[N]):
        return solve_logged(f"{len(st.scenarios)} scenarios stacked", m, backend, solver,
                            time_limit_s=time_limit_s, mip_gap=mip_gap)
    values = np.zeros(m.n_vars)
    values[N] = m.lb[N]
    fixed = dict(zip(st.first_keys, m.lb[N].tolist()))
    statuses, msgs, seconds = [], [], 0.0
    bound: Optional[float] = 0.0        # sum_s pi_s bound_s: a bound of the stacked objective
    for sc, sm, off in zip(st.scenarios, st.models, st.offsets):
        lb, ub = sm.lb.copy(), sm.ub.copy()
        for o, info in enumerate(sc.k.offers):
            if is_first_stage(info):
                j = sm.blocks["n"][o]
                lb[j] = ub[j] = fixed[info.key]
        r = solve_logged(f"scenario {sc.name}, first stage fixed", replace(sm, lb=lb, ub=ub), backend, solver,
                         time_limit_s=time_limit_s, mip_gap=mip_gap)
        seconds += r.seconds
        statuses.append(r.status)
        msgs.append(f"{sc.name}: {r.message}")
        if r.status not in (OPTIMAL, TIME_LIMIT):
            return SolveResult(r.status, r.backend, r.solver, seconds, message="; ".join(msgs))
        values[off:off + sm.n_vars] = r.values
        bound = None if bound is None or r.best_bound is None else bound + sc.probability * r.best_bound
    status = TIME_LIMIT if TIME_LIMIT in statuses else OPTIMAL
    return SolveResult(status, backend, solver or "-", seconds, values=values,
                       objective=m.objective_value(values), best_bound=bound, message="; ".join(msgs))


#: the settings the mean and max plans use when the planned scenarios differ in more than demand
AS_WRITTEN = ("the mean and max plans are planned under the problem as written, without any scenario, "
              "for everything but the demand (latency targets, caps, budget, offers, prices): the "
              "scenarios differ in more than demand")


def _differ_beyond_demand(kept: Sequence[DemandScenario]) -> bool:
    """Whether the planned scenarios' models differ in anything but the demand (their own SLOs, caps,
    budget or offers), i.e. whether they have no common settings to plan the mean/max demand under."""
    from dataclasses import fields

    def same(a, b) -> bool:
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            return np.shape(a) == np.shape(b) and bool(np.array_equal(a, b, equal_nan=np.asarray(a).dtype.kind == "f"))
        if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
            return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
        return a == b

    skip = {"demand_rps", "n_plus_1", "pruned", "pruned_by_workload", "perf_commands"}
    first = kept[0].k
    return any(not same(getattr(s.k, f.name), getattr(first, f.name))
               for s in kept[1:] for f in fields(first) if f.name not in skip)


def _comparison_settings(kept: Sequence[DemandScenario], base: Optional[Coefficients]) -> tuple[str, Coefficients]:
    """(note, coefficients) whose settings the mean and max plans use: the planned scenarios' when
    they agree on all but demand (note ""), else the problem as written (``base``), so that the
    plans do not depend on the scenarios' order (QA s22: they used the first one listed)."""
    workloads = kept[0].k.workloads
    if any(s.k.workloads != workloads for s in kept):
        raise InputError(InputIssue("scenarios have different workloads", path="scenarios"))
    if not _differ_beyond_demand(kept):
        return "", kept[0].k
    if base is None:
        raise InputError(InputIssue(
            "robust_plan: the scenarios differ in more than demand, so the mean and max plans need the "
            "settings to plan the mean/max demand under", path="base",
            hint="pass base=two_stage_coefficients(loaded) (the problem as written), or compare=False"))
    check_two_stage(base, "robust_plan: base")
    if base.workloads != workloads:
        raise InputError(InputIssue("the problem as written has other workloads than the scenarios",
                                    path="scenarios"))
    if first_stage_keys([DemandScenario("base", 1.0, base)]) != first_stage_keys(kept):
        raise InputError(InputIssue(
            "the scenarios differ in more than demand, so the mean and max plans are planned on the "
            "problem as written, but it offers other purchased/reserved hardware than the scenarios "
            "(which the plans could then not use)", path="scenarios",
            hint="offer the same accelerators, regions and fleet.acquisition in the problem as in its "
                 "scenarios, or make the scenarios differ in workloads.*.demand.requests_per_s only"))
    return AS_WRITTEN, base


def robust_plan(scenarios: Sequence[DemandScenario], *, percentile: float = 100.0,
                backend: str = "pulp", solver: Optional[str] = None, time_limit_s: float = 60.0,
                mip_gap: float = 1e-6, compare: bool = True,
                base: Optional[Coefficients] = None) -> RobustReport:
    """Solve the two-stage program and (``compare``) evaluate the mean and max plans on it.

    Each scenario's coefficients come from :func:`two_stage_coefficients` (others are refused).
    ``base``: the problem as written (its :func:`two_stage_coefficients`), whose settings the mean
    and max plans use when the planned scenarios differ in more than demand (module docstring);
    needed only then.
    """
    scenarios = list(scenarios)
    if not scenarios:
        raise InputError(InputIssue("no scenarios to plan for", path="scenarios",
                                    hint="pass at least one DemandScenario, e.g. from "
                                         "scenarios_from_multipliers(two_stage_coefficients(loaded), [0.7, 1, 1.4])"))
    check_scenario_count(len(scenarios))
    for s in scenarios:
        check_two_stage(s.k, f"robust_plan: scenario {s.name!r}")
    keep = keep_percentile(scenarios, percentile)
    kept = [s for s, kk in zip(scenarios, keep) if kk]
    total_p = sum(s.probability for s in kept)
    if total_p <= 0:
        raise InputError(InputIssue("the kept scenarios have probability 0", path="percentile (--percentile)"))
    kept = [replace(s, probability=s.probability / total_p) for s in kept]
    # before any solve: a base that cannot serve is refused at once
    settings, common = _comparison_settings(kept, base) if compare else ("", kept[0].k)
    st = stack(kept)
    res = solve_stacked(st, backend, solver, time_limit_s=time_limit_s, mip_gap=mip_gap)
    approaches = [_summarise("stochastic", st, res)]
    if res.status == TIME_LIMIT:
        approaches[0].message = (f"stopped at the time limit, {_gap_text(res.gap)}: not proven optimal; "
                                 f"raise --time-limit ({res.message})")
    if compare:
        demands = np.array([s.k.demand_rps for s in kept])
        probs = np.array([s.probability for s in kept])
        for name, d in (("mean", probs @ demands), ("max", demands.max(axis=0))):
            single = DemandScenario(name, 1.0, replace(common, demand_rps=d))
            one = stack([single])
            r1 = solve_logged(f"the {name} demand alone", one.model, backend, solver, time_limit_s=time_limit_s,
                              mip_gap=mip_gap)
            if r1.status not in (OPTIMAL, TIME_LIMIT):
                # QA: a budget that only one scenario sets made the mean plan 'infeasible' with
                # nothing saying whose budget it was
                whose = (" under the latency targets, caps, budget and offers of the problem as written "
                         "(the scenarios differ in more than demand)" if settings else "")
                approaches.append(Approach(name, r1.status, message=f"planning for the {name} "
                                           f"demand{whose}: {r1.message}"))
                continue
            first = {kk: float(r1.values[c]) for kk, c in zip(one.first_keys, one.first_cols)}
            ev = stack(kept, fixed_first=first)
            r2 = solve_stacked(ev, backend, solver, time_limit_s=time_limit_s, mip_gap=mip_gap)
            a = _summarise(name, ev, r2)
            if r2.status == INFEASIBLE:
                a.message = (f"the fleet bought for the {name} demand cannot serve every scenario "
                             "with on-demand/spot on top (a budget, a cap, availability, or no on-demand/spot "
                             "offer that can serve the rest)")
                a.first_stage_units = {kk: u for kk, u in first.items() if u > 0}
            # the plan is only as proven as its first stage (QA: a first stage at a 99.96% gap was
            # fixed, and the second stage's 'optimal' reported as the plan's)
            a.status = worst_status(r1.status, a.status)
            stages = [r1] + ([r2] if r2.has_plan else [])
            known = [r.gap for r in stages if r.gap is not None]
            # a stage stopped at its limit without a bound leaves the plan's gap unknown
            a.gap = (None if any(r.status == TIME_LIMIT and r.gap is None for r in stages)
                     else max(known) if known else None)
            stopped = []
            if r1.status == TIME_LIMIT:
                stopped.append(f"its first stage (planning for the {name} demand alone) stopped at the "
                               f"time limit, {_gap_text(r1.gap)}: the costs are those of that unproven "
                               "first stage")
            if r2.status == TIME_LIMIT:
                stopped.append(f"the scenarios' solves with its first stage fixed stopped at the time "
                               f"limit, {_gap_text(r2.gap)}")
            if stopped:
                a.message = ("not proven optimal: " + "; ".join(stopped) + "; raise --time-limit"
                             + (f". {a.message}" if r2.status not in (OPTIMAL, TIME_LIMIT) else ""))
            approaches.append(a)
    vss, vss_note, vss_tol, vss_month, vss_later = None, "", 0.0, None, 0.0
    by = {a.name: a for a in approaches}
    if "mean" in by:
        unproven = [a for a in (by["stochastic"], by["mean"]) if not a.proven]
        if not unproven:
            vss = by["mean"].expected_usd - by["stochastic"].expected_usd
            # each is proven within mip_gap of its own optimum (the mean plan's first stage is one
            # first stage of the stochastic program, so its optimum is at least the stochastic one)
            vss_tol = mip_gap * (abs(by["mean"].expected_usd) + abs(by["stochastic"].expected_usd))
            vss_later = by["mean"].after_horizon_usd - by["stochastic"].after_horizon_usd
            vss_month = (vss - vss_later) * 730.0 / kept[0].k.hours
        else:
            vss_note = "; ".join(
                f"the {a.name} plan " + (f"is not proven optimal (time limit, {_gap_text(a.gap)})"
                                          if a.status == TIME_LIMIT else f"has no cost (status {a.status})")
                for a in unproven)
    # the probability a kept scenario is planned with (renormalised over the kept ones; QA: printed
    # as given), next to the one given
    planned = {s.name: s.probability for s in kept}
    info = [{"name": s.name, "probability": s.probability, "planned_probability": planned.get(s.name, 0.0),
             "total_rps": s.total_rps, "kept": kk} for s, kk in zip(scenarios, keep)]
    return RobustReport(info, percentile, kept[0].k.hours, approaches, vss, vss_note, vss_tolerance_usd=vss_tol,
                        vss_usd_per_month=vss_month, vss_after_horizon_usd=vss_later, comparison_settings=settings)
