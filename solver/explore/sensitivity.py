"""What-ifs: which constraints bind, what relaxing each is worth, and price thresholds.

Marginal values (duals)
-----------------------
After the MIP is solved, the integer decisions are held fixed and the LP
that remains is solved with HiGHS (through ``highspy``), which returns row
duals.  Two ways of holding the integer decisions fixed are reported:

* ``fleet`` (as the issue asks): every integer variable (replicas y, units n,
  spares s) fixed to its solved value (lb = ub = value).  Only the routing x is
  free, so the duals say what the *same fleet* can do at the margin.  Rows that
  contain integer variables only (power, availability, capex caps) are then
  constant: their dual is 0 by construction, which is true but not useful.
* ``mix``: the *choices* are fixed (an offer, candidate or spare that the plan
  does not use stays at 0) but the counts of the used ones become continuous.
  This is the usual "fix the discrete structure, price the quantities" LP: its
  duals say what one more kW / device / USD is worth if the plan could grow or
  shrink the things it already uses by fractions.  Its optimum can be a little
  below the MIP's (no rounding), and the duals are rates, valid for small steps.
  The ``capacity.small_route`` rows (x_p / D_w <= y_c for demands under 1e-4 of a replica, a guard
  against solver tolerances that only means something for whole replicas) are left out: with
  counts continuous they would price a demand's req/s at a whole replica per D_w.

Both are marginal values with the integer structure held fixed; a large step
can change the structure (see the price thresholds and ``fleetopt pareto``).
The dual of row i is d objective / d rhs_i (USD over the horizon per unit of
rhs), checked against finite differences in the tests; it is turned into USD
per month (x 730 / H) and into the user's terms per family
(:data:`WORDING`).

Demand is the exception: more of D_w also moves the spot-share limit S D_w,
the route bounds x_p <= D_w and the guard and spare rows, which the dual of the
demand row alone holds fixed (so it can price a deployment that may not take
more, or a spot share above S).  Its value is therefore the one-sided difference
of the same fixed LP rebuilt with D_w times 1 -/+ :data:`DEMAND_STEP`
(:func:`demand_slopes`); the two sides differ at a kink, and the "up" LP is
infeasible when the fleet (or the mix) cannot serve more.

Whole steps
-----------
Power, availability and capex rows count units only; at the margin they are
worth 0 with the fleet fixed, and a fraction of a
device is not a plan.  :func:`discrete_steps` therefore re-solves the full MIP
with each binding row's limit raised by one unit's worth: first the largest unit
the row counts (the most one unit's room can save), then a bisection over its
smaller unit sizes for the smallest step that saves as much, which it reports.

Price thresholds
----------------
For each accelerator the plan buys or rents, the hourly price of every offer of that
accelerator it could buy or rent (rental, amortisation, maintenance, hosting; energy and
carbon stay) is multiplied by m > 1 and the full MIP re-solved; bisection on log m
finds the multiplier at which the plan stops buying or renting it, or at which no plan fits
the monthly budget or the capex cap any more (the limits a price enters).  For a purchase m
scales the all-in hourly rate (amortisation + maintenance + hosting together), and the
sentence says so and gives the purchase price per device at which the plan switches (QA s22 read
"x1.44 its price" as the purchase price, which breaks even at x1.56); the capex cap counts at m the
price with that all-in rate, maintenance being a fraction of the price and hosting held
(:func:`purchase_price_factor`).  Where every offer of the accelerator is a catalog purchase and
none is owned, the switch's price is that one.  Otherwise m also scales its rentals, and holds the
upkeep of owned devices, which a new catalog price moves (their maintenance is a fraction of it):
the purchase price is then bisected on its own (:func:`scale_purchase_price`, the model a catalog
with that price builds), over the prices whose all-in rate lies in the same range of m (QA s23:
$1,621 read off the rate for an A100 with 8 owned; re-solves at $1,550 bought none, at $870 did).
For the few cheapest accelerators it neither buys nor rents, m < 1 finds the discount at which one
enters.  Owned devices (``fleet.existing``) are left out on both sides: their purchase is sunk, so
m does not enter their cost (their upkeep stays as it is; the purchase price's own search moves
their maintenance with the price), and a plan that keeps
using them after it stopped buying more has switched (QA: "still used at x16" while the plan
stopped buying A100s below x2 and kept only owned ones).  A re-solve
that fails ends the bisection, reported as such.  The
accelerator's cost in the optimal plan is non-increasing in m (exchange
argument: with optima s1, s2 at m1 < m2, (m2 - m1)(C(s2) - C(s1)) <= 0), so the
bisection is sound up to the MIP gap; each bracket is reported with its width.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Optional, Sequence

import numpy as np

from solver.coefficients import COST_PARTS, Coefficients
from solver.errors import InputError, InputIssue
from solver.mip.backends import solve
from solver.mip.formulation import build_model
from solver.mip.model import LinearModel
from solver.mip.status import INFEASIBLE, OPTIMAL, TIME_LIMIT
from solver.report import usd_text

HOURS_PER_MONTH = 730.0
#: LP solvers that return duals, by name (only HiGHS so far: both backends bundle it)
LP_SOLVERS = ("highs",)
FIX_MODES = ("fleet", "mix")
#: relative change of a workload's demand in the re-solves that price it (see module docstring)
DEMAND_STEP = 1e-4
#: families reported, with (unit of one rhs unit, how to word a relaxation)
WORDING = {
    "caps.power": "kW",
    "caps.availability": "device",
    "caps.budget": "USD/month",
    "caps.capex": "USD",
    "demand.served": "req/s",
    "quality.mean": "quality point",
    "caps.spot_share": "percentage point",
}
#: hardware cost parts a price multiplier scales (energy/carbon are not the offer's price)
PRICE_PARTS = tuple(p for p in COST_PARTS if p not in ("energy", "carbon"))


@dataclass
class LPSolution:
    status: str                 # "optimal" or HiGHS' model status text
    objective: Optional[float]
    values: Optional[np.ndarray]
    row_duals: Optional[np.ndarray]   # d objective / d rhs per row


def solve_lp_duals(model: LinearModel, lp_solver: str = "highs") -> LPSolution:
    """Solve ``model`` as an LP (integrality dropped) and return primal values and row duals."""
    if lp_solver not in LP_SOLVERS:
        raise ValueError(f"LP solver {lp_solver!r} does not return duals here; use one of {LP_SOLVERS}")
    import highspy

    inf = highspy.kHighsInf
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    lp = highspy.HighsLp()
    lp.num_col_ = model.n_vars
    lp.num_row_ = model.n_rows
    lp.col_cost_ = np.asarray(model.obj, float)
    lp.offset_ = float(model.obj_const)
    lp.col_lower_ = np.asarray(model.lb, float)
    lp.col_upper_ = np.where(np.isfinite(model.ub), model.ub, inf).astype(float)
    lo = np.where(model.sense == "<", -inf, model.rhs).astype(float)
    hi = np.where(model.sense == ">", inf, model.rhs).astype(float)
    lp.row_lower_ = lo
    lp.row_upper_ = hi
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_ = model.n_vars
    lp.a_matrix_.num_row_ = model.n_rows
    lp.a_matrix_.start_ = np.asarray(model.indptr, np.int32)
    lp.a_matrix_.index_ = np.asarray(model.indices, np.int32)
    lp.a_matrix_.value_ = np.asarray(model.data, float)
    h.passModel(lp)
    h.run()
    st = h.getModelStatus()
    if st != highspy.HighsModelStatus.kOptimal:
        return LPSolution(h.modelStatusToString(st), None, None, None)
    sol = h.getSolution()
    x = np.array(sol.col_value, float)
    # HiGHS (minimisation): row_dual_i = d objective / d (active bound of row i)
    y = np.array(sol.row_dual, float)
    return LPSolution(OPTIMAL, float(model.obj @ x + model.obj_const), x, y)


def fixed_model(model: LinearModel, values: np.ndarray, mode: str = "fleet") -> LinearModel:
    """A copy of ``model`` with the integer decisions held fixed (see module docstring)."""
    if mode not in FIX_MODES:
        raise ValueError(f"fix mode {mode!r}; use one of {FIX_MODES}")
    lb, ub, rhs = model.lb.copy(), model.ub.copy(), model.rhs
    ints = np.flatnonzero(model.is_int)
    v = np.round(values[ints])
    if mode == "fleet":
        lb[ints] = v
        ub[ints] = v
    else:
        # replica bounds are the formulation's "enough for this demand" bound, not a limit
        y = model.blocks.get("y", np.zeros(0, np.int64))
        ub[y] = np.inf
        unused = ints[v == 0]
        ub[unused] = 0.0
        lb[ints] = 0.0
        # the small-route guard rows: '<' rows with no upper limit, inactive
        rhs = np.where(model.row_family == "capacity.small_route", np.inf, model.rhs)
    return replace(model, lb=lb, ub=ub, rhs=rhs, is_int=np.zeros(model.n_vars, bool))


@dataclass
class Marginal:
    """One binding row, its dual and what it means."""

    family: str
    label: str
    rhs: float
    unit: str
    usd_per_month_per_unit: Optional[float]       # d (USD/month) / d rhs, mode "fleet" (demand: going up)
    usd_per_month_per_unit_mix: Optional[float]   # same, mode "mix"
    text: str
    #: demand rows: {mode: [going down, going up]} per req/s from re-solves, None where infeasible
    usd_per_month_per_unit_sides: Optional[dict] = None
    #: demand rows: how many req/s more the fleet serves as it is, its slope's range (:func:`fleet_headroom`)
    headroom_rps: Optional[float] = None


def _label(name: str, family: str) -> str:
    inner = name[len(family):]
    return inner[1:inner.rindex("]")] if inner.startswith("[") and "]" in inner else inner


def binding_rows(model: LinearModel, values: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    """Rows of a reported family whose activity equals the rhs (within ``tol`` of its size)."""
    act = model.activity(values)
    fam = model.row_family.astype(str)
    tight = np.abs(act - model.rhs) <= tol * np.maximum(1.0, np.abs(model.rhs))
    return np.flatnonzero(tight & np.isin(fam, list(WORDING)))


def _where(family: str, label: str) -> str:
    """'virginia#0' -> 'in virginia (fleet.power_caps[0])'; 'h100@any#1' -> 'h100 ... anywhere'."""
    base, _, j = label.partition("#")
    field_name = {"caps.power": "power_caps", "caps.availability": "availability"}.get(family)
    ref = f" (fleet.{field_name}[{j}])" if field_name and j.isdigit() else ""
    if family == "caps.availability" and "@" in base:
        acc, _, region = base.partition("@")
        return f"{acc} device {'anywhere' if region == 'any' else 'in ' + region}{ref}"
    return f"in {base}{ref}" if family == "caps.power" else label


def _usd(x: float) -> str:
    return f"${abs(x):,.2f}"


def _signed_usd(x: float) -> str:
    """A saving with its sign: 'saves $5.00', or '-$83.33' for a plan dearer than the base."""
    return f"-${abs(x):,.2f}" if x < -0.005 else f"${abs(x):,.2f}"


def describe(family: str, label: str, per_unit: float, k: Coefficients) -> tuple[float, str, str]:
    """(USD/month per user unit, user unit, sentence) from d(USD/month)/d rhs of one row."""
    if family == "caps.power":
        return per_unit, "kW", (f"1 kW more power {_where(family, label)} saves {_usd(-per_unit)} "
                                "per month")
    if family == "caps.availability":
        return per_unit, "device", (f"one more {_where(family, label)} is worth "
                                    f"{_usd(-per_unit)} per month")
    if family == "caps.budget":
        if budget_trades_off(k):
            return per_unit, "USD/month", (
                f"each $1 more monthly budget saves {_usd(-per_unit)} per month of the horizon on the "
                "total: the budget counts a reservation longer than the horizon at its monthly rate, "
                "the total its whole term, so a larger budget can buy a dearer month for a cheaper total")
        # otherwise the budget row restates the objective, so at a cost-minimum it never trades off
        return per_unit, "USD/month", ("the monthly budget binds; a larger budget "
                                       f"saves {_usd(-per_unit)} per month (the budget bounds the "
                                       "cost being minimised, so it only decides feasibility)")
    if family == "caps.capex":
        return per_unit, "USD", f"each $1 more capex budget saves {_usd(-per_unit)} per month"
    w = k.workloads.index(label) if label in k.workloads else None
    d = float(k.demand_rps[w]) if w is not None else float("nan")
    if family == "quality.mean":
        # raising the target by delta shifts every coefficient by -delta: rhs + delta * D_w
        per_point = per_unit * d
        return per_point, "quality point", (f"raising {label}'s mean quality target by 0.01 costs "
                                            f"{_usd(per_point * 0.01)} per month")
    if family == "caps.spot_share":
        per_pp = per_unit * d / 100.0
        return per_pp, "percentage point", (f"1 percentage point more spot share for {label} saves "
                                            f"{_usd(-per_pp)} per month")
    return per_unit, "", f"{family}[{label}]: {per_unit:.4g} USD/month per unit"


def _user_rhs(family: str, label: str, rhs: float, k: Coefficients) -> float:
    """A row's limit in the unit its marginal is given in (QA s18: the spot share's was its row's
    req/s, 17.5 for 70% of 25 req/s, labelled 'percentage point'): the share in percent, the mean
    quality target in points; other rows are already in theirs."""
    w = k.workloads.index(label) if label in k.workloads else None
    if w is None:
        return rhs
    if family == "caps.spot_share" and k.demand_rps[w] > 0:
        return 100.0 * rhs / float(k.demand_rps[w])
    if family == "quality.mean":
        return float(k.quality_min[w])
    return rhs


def demand_slopes(k: Coefficients, values: np.ndarray, w: int, base: dict,
                  lp_solver: str = "highs") -> dict:
    """{mode: [going down, going up]}: one-sided d (USD over the horizon) / d (req/s) of D_w.

    ``base``: {mode: the fixed LP's objective}.  The model is rebuilt with D_w times
    1 -/+ DEMAND_STEP, so every coefficient that follows the demand moves with it, and fixed
    the same way; None where that LP is infeasible (or D_w would go below 0).
    """
    h = DEMAND_STEP * (k.demand_rps[w] or 1.0)
    out = {mode: [None, None] for mode in base}
    for side, step in enumerate((-h, h)):
        d = k.demand_rps.copy()
        d[w] += step
        if d[w] < 0:
            continue
        moved = build_model(replace(k, demand_rps=d))
        for mode, obj in base.items():
            lp = solve_lp_duals(fixed_model(moved, values, mode), lp_solver)
            if lp.objective is not None and obj is not None:
                out[mode][side] = (lp.objective - obj) / step + 0.0
    return out


#: LP solves :func:`fleet_headroom` spends on one workload, at most (doubling, then bisection)
HEADROOM_SOLVES = 16


def fleet_headroom(k: Coefficients, values: np.ndarray, w: int, lp_solver: str = "highs") -> Optional[float]:
    """How many req/s more of workload ``w`` the plan's fleet serves as it is (its counts fixed, the
    routing free): the range over which the fleet's demand slope holds (QA s26: '$14.37 per month at the
    margin' held for 0.024 req/s, where the next 1 req/s cost $733).  A feasible amount, within about 2%
    of the most (``HEADROOM_SOLVES`` LPs); None where not even the slope's step fits."""
    d0 = float(k.demand_rps[w])

    def fits(extra: float) -> bool:
        d = k.demand_rps.copy()
        d[w] = d0 + extra
        return solve_lp_duals(fixed_model(build_model(replace(k, demand_rps=d)), values, "fleet"),
                              lp_solver).objective is not None

    lo, hi, solves = DEMAND_STEP * (d0 or 1.0), None, 0
    if not fits(lo):
        return None
    while hi is None and solves < HEADROOM_SOLVES // 2:
        solves += 1
        if fits(lo * 4.0):
            lo *= 4.0
        else:
            hi = lo * 4.0
    while hi is not None and hi / lo > 1.02 and solves < HEADROOM_SOLVES:
        solves += 1
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def demand_text(label: str, sides: dict, headroom_rps: Optional[float] = None) -> str:
    """The sentence for a demand row from :func:`demand_slopes` in USD/month per req/s; ``headroom_rps``
    (:func:`fleet_headroom`) says how far the fleet's slope holds."""
    def slope(down, up):
        text = (f"each extra req/s of {label} {'costs' if up >= 0 else 'saves'} {_usd(up)} per month "
                "at the margin")
        if down is not None and not math.isclose(down, up, rel_tol=1e-4, abs_tol=0.01):
            text += f", one req/s less {'saves' if down >= 0 else 'costs'} {_usd(down)} (a kink)"
        return text
    (f_down, f_up), (m_down, m_up) = sides["fleet"], sides["mix"]
    if f_up is not None and (abs(f_up) > 1e-9 or m_up is None):
        room = ("" if headroom_rps is None else
                f" (this fleet serves about {headroom_rps:.3g} req/s more of {label} as it is; beyond that it "
                "needs more hardware: see the whole steps)")
        return slope(f_down, f_up) + room
    head = f"this fleet cannot serve more of {label}; " if f_up is None else ""
    if m_up is None:
        return head + "nor could it by scaling what it already uses (another limit binds)"
    return head + slope(m_down, m_up) + " (if the plan could scale what it already uses)"


@dataclass
class Sensitivity:
    objective_usd: float
    hours: float
    lp_objective_fleet: Optional[float]
    lp_objective_mix: Optional[float]
    marginals: list[Marginal] = field(default_factory=list)
    steps: list = field(default_factory=list)
    thresholds: list = field(default_factory=list)
    note: str = ("marginal values with the integer decisions held fixed: 'fleet' = every unit and "
                 "replica count fixed (only routing moves); 'mix' = the choice of offers and "
                 "deployments fixed, their counts continuous; valid for small changes")
    #: the analysed plan's solve status and proven gap, where the caller knows them (``fleetopt whatif``
    #: sets both): the figures are those of that plan, which is not the optimum unless "optimal"
    status: Optional[str] = None
    gap: Optional[float] = None

    def to_dict(self) -> dict:
        return asdict(self)


def plan_values(values, who: str) -> np.ndarray:
    """``values`` of a solve that has a plan (a SolveResult given whole is read too); else a
    ValueError that says there is none (QA: "'NoneType' object is not subscriptable", deep inside)."""
    status = None
    if hasattr(values, "status") and hasattr(values, "values"):     # solved.result itself
        status = values.status
        values = values.values if values.has_plan else None
    if values is None:
        said = (f"the solve's status is {status!r}" if status else
                "values is None: the solve found none; solved.plan.status says why")
        raise ValueError(f"{who}: there is no plan to analyse ({said}); analyse a solve whose "
                         "plan.status is 'optimal' or 'time_limit' (solved.result.has_plan)")
    return values


def marginal_values(k: Coefficients, model: LinearModel, values: np.ndarray, *,
                    lp_solver: str = "highs") -> Sensitivity:
    """Binding rows of the solved MIP and their duals in both fix modes, in user terms."""
    values = plan_values(values, "marginal_values")
    per_month = HOURS_PER_MONTH / k.hours
    fleet = solve_lp_duals(fixed_model(model, values, "fleet"), lp_solver)
    mix = solve_lp_duals(fixed_model(model, values, "mix"), lp_solver)
    out = Sensitivity(model.objective_value(values), k.hours, fleet.objective, mix.objective)
    fam = model.row_family.astype(str)
    rows = set(binding_rows(model, values).tolist())
    if mix.row_duals is not None:      # rows that bind once the counts may scale
        rows |= set(np.flatnonzero((np.abs(mix.row_duals) > 1e-9) & np.isin(fam, list(WORDING))).tolist())
    for i in sorted(rows):
        f = str(fam[i])
        label = _label(model.row_names[i], f)
        if f == "demand.served":
            sides = demand_slopes(k, values, k.workloads.index(label),
                                  {"fleet": fleet.objective, "mix": mix.objective}, lp_solver)
            sides = {mode: [None if v is None else float(v * per_month) for v in vs]
                     for mode, vs in sides.items()}
            room = (fleet_headroom(k, values, k.workloads.index(label), lp_solver)
                    if sides["fleet"][1] is not None else None)
            out.marginals.append(Marginal(f, label, float(model.rhs[i]), "req/s", sides["fleet"][1],
                                          sides["mix"][1], demand_text(label, sides, room), sides, room))
            continue
        d_fleet = float(fleet.row_duals[i]) * per_month if fleet.row_duals is not None else float("nan")
        d_mix = float(mix.row_duals[i]) * per_month if mix.row_duals is not None else None
        d_fleet += 0.0              # no "-0" in reports
        d_mix = None if d_mix is None else d_mix + 0.0
        user_fleet, unit, text = describe(f, label, d_fleet, k)
        user_mix = None
        if d_mix is not None:
            user_mix, _, text_mix = describe(f, label, d_mix, k)
            if abs(d_fleet) < 1e-9 and abs(d_mix) > 1e-9:
                text = text_mix + " (if the plan could scale what it already uses)"
        out.marginals.append(Marginal(f, label, _user_rhs(f, label, float(model.rhs[i]), k), unit, user_fleet,
                                      user_mix, text))
    return out


# ----------------------------------------------------------------------------- discrete steps

#: integer-only limits: their LP duals with the fleet fixed are 0, so a full re-solve prices one step
#: (the budget only where it can trade off, :func:`budget_trades_off`: elsewhere it bounds the cost
#: being minimised, so raising it never saves)
STEP_FAMILIES = ("caps.power", "caps.availability", "caps.capex")


def budget_trades_off(k: Coefficients) -> bool:
    """Whether the monthly budget can trade against the total: it counts a reservation longer than
    the horizon at its monthly rate and the objective its whole term (QA: raising a binding budget
    from 7,000 to 7,300 saved 26,280, and whatif said it never saves)."""
    return k.max_usd_per_month is not None and bool(k.after_horizon_usd_per_unit())


@dataclass
class Step:
    """The full MIP re-solved with one binding limit relaxed by whole units' worth."""

    family: str
    label: str
    rhs: float
    step: float                 # in the row's unit (kW, devices, USD, USD/month)
    unit: str
    saving_usd_per_month: Optional[float]
    status: str
    text: str
    #: [[step, USD/month saved or None], ...] of every re-solve made, smallest step first: the
    #: largest unit's step, then a bisection down the row's unit sizes (see :func:`discrete_steps`)
    tried: list = field(default_factory=list)


def unit_sizes(vals: np.ndarray) -> list[float]:
    """The distinct sizes of the units a limit row counts (its |coefficients|), ascending; sizes
    within 1e-9 relative of each other are one (float noise in kW per unit)."""
    sizes: list[float] = []
    for v in sorted(float(abs(x)) for x in vals if abs(x) > 0):
        if not sizes or v > sizes[-1] * (1 + 1e-9):
            sizes.append(v)
    return sizes


def _step_what(f: str, label: str, step: float) -> str:
    if f == "caps.availability":
        return f"{step:+.4g} x {_where(f, label)}"
    if f == "caps.power":
        return f"{step:+.4g} kW {_where(f, label)}"
    if f == "caps.budget":
        return f"+{usd_text(step)} a month of fleet.budget.max_usd_per_month"
    # the user's field and money as the reports write it (QA: '+2.2e+05 USD of caps.capex')
    return f"+{usd_text(step)} of fleet.budget.max_capex_usd"


def _step_short(f: str, step: float) -> str:
    """A step alone, for the comparisons after the row's sentence: '+8 devices', '+1.5 kW'."""
    if f == "caps.availability":
        return f"{step:+.4g} device{'s' if step != 1 else ''}"
    if f == "caps.power":
        return f"{step:+.4g} kW"
    return f"+{usd_text(step)}{' a month' if f == 'caps.budget' else ''}"


def discrete_steps(k: Coefficients, model: LinearModel, values: np.ndarray, *, backend: str = "pulp",
                   solver: Optional[str] = None, time_limit_s: float = 60.0,
                   mip_gap: float = 1e-6, base_gap: float = 0.0) -> list[Step]:
    """For each tight power/availability/capex row: the smallest whole step that saves what room
    for one more of its largest unit saves, from full re-solves.

    ``base_gap``: the relative gap the base plan (``values``) is proven within.  A saving within
    the base plan's gap plus the re-solves' is no saving (QA s20: a base plan solved at gap 0.2 was
    2.4% above the optimum, and every step "saved" that difference).  Only re-solves that end
    optimal prove anything: a step whose comparison rests on one stopped by the time limit says so.

    Tight: the row's slack is less than its largest coefficient (one more of the biggest
    unit it counts would not fit), which an integer plan can have without equality.

    The candidate steps are the row's unit sizes (its distinct coefficients: the kW, devices or
    capex of one unit of each offer it counts).  The largest is re-solved first: room for one more
    of any unit, the most a one-unit step can save.  The saving is non-decreasing in the step
    (more room never costs more), so a bisection over the smaller sizes finds the smallest that
    saves as much within the MIP gap (QA: +8 devices was reported where a 1-device offer saved the
    same with +1).  1 + about log2(sizes) MIP solves per tight row.
    """
    values = plan_values(values, "discrete_steps")
    per_month = HOURS_PER_MONTH / k.hours
    base = model.objective_value(values)
    fam = model.row_family.astype(str)
    units = {"caps.power": "kW", "caps.availability": "devices", "caps.capex": "USD", "caps.budget": "USD/month"}
    act = model.activity(values)
    # savings closer than this are the same (the re-solves are optimal to within the MIP gap, the
    # base plan within its own)
    tol_usd_per_month = max(1e-6, (2 * mip_gap + max(0.0, base_gap)) * abs(base) * per_month)
    out = []
    families = STEP_FAMILIES + (("caps.budget",) if budget_trades_off(k) else ())
    for i in np.flatnonzero(np.isin(fam, families)):
        f = str(fam[i])
        label = _label(model.row_names[i], f)
        _, vals = model.row(i)
        sizes = unit_sizes(vals)
        if not sizes:
            continue
        slack = float(model.rhs[i] - act[i])
        # tight: the biggest unit the row counts no longer fits (binding in the integer sense)
        if slack >= sizes[-1] - 1e-9:
            continue
        tried: dict[int, tuple[str, Optional[float]]] = {}

        def saving_at(j: int) -> tuple[str, Optional[float]]:
            if j not in tried:
                rhs = model.rhs.copy()
                rhs[i] += sizes[j]
                res = solve(replace(model, rhs=rhs), backend, solver, time_limit_s=time_limit_s,
                            mip_gap=mip_gap)
                ok = res.status in (OPTIMAL, TIME_LIMIT)
                tried[j] = (res.status, (base - res.objective) * per_month + 0.0 if ok else None)
            return tried[j]

        top = len(sizes) - 1
        status, best = saving_at(top)
        j = top
        # the bisection needs proven figures: "a larger step never costs more" holds between optima
        if status == OPTIMAL and best is not None and best > tol_usd_per_month:
            lo = 0          # invariant: sizes[j] saves `best` (proven); the sizes below lo are not shown to
            while lo < j:
                mid = (lo + j) // 2
                st, s = saving_at(mid)
                if st == OPTIMAL and s is not None and s >= best - tol_usd_per_month:
                    j = mid
                else:
                    lo = mid + 1
        status, saving = tried[j]
        step = sizes[j]
        what = _step_what(f, label, step)
        record = [[sizes[t], tried[t][1]] for t in sorted(tried)]
        if saving is None:
            out.append(Step(f, label, float(model.rhs[i]), step, units[f], None, status,
                            f"{what}: re-solve {status}", record))
            continue
        text = (_step_text(f, sizes, j, tried, saving, tol_usd_per_month) if status == OPTIMAL else
                f"({'one more unit' if len(sizes) == 1 else 'room for one more of the largest unit it counts'}"
                f"'s worth) gives a plan {_signed_usd(saving)} per month against this one, from a re-solve "
                f"stopped at its time limit: not proven (raise --time-limit)")
        out.append(Step(f, label, float(model.rhs[i]), step, units[f], saving, status,
                        f"{what} {text}", record))
    return out


def _step_text(f: str, sizes: list, j: int, tried: dict, saving: float,
               tol_usd_per_month: float) -> str:
    """What a step saves and how it was chosen: which unit it makes room for, what the largest
    unit's room saves when that is more than the step, and what the next smaller size saves."""
    if len(sizes) == 1:
        why = "one more unit's worth"
    elif j == 0:
        why = "room for one more of the smallest unit it counts"
    elif j == len(sizes) - 1:
        why = "room for one more of the largest unit it counts"
    else:
        why = "room for one more of a unit it counts"
    if saving <= tol_usd_per_month:
        smaller = "; nor would a smaller step" if len(sizes) > 1 else ""
        return (f"({why}) saves nothing beyond the plans' gaps ({_signed_usd(saving)} per month after a full "
                f"re-solve){smaller}")
    notes = []
    if j < len(sizes) - 1:
        notes.append(f"{_step_short(f, sizes[-1])} (room for its largest unit) saves no more")
    if j > 0:
        status, below = tried[j - 1]
        notes.append(f"{_step_short(f, sizes[j - 1])} "
                     + (f"was not priced (re-solve {status})" if below is None else
                        f"saves {_usd(below)}" + ("" if status == OPTIMAL else
                                                   f" (re-solve {status}: not proven)")))
    tail = f"; {'; '.join(notes)}" if notes else ""
    return f"({why}) saves {_usd(saving)} per month after a full re-solve{tail}"


# ----------------------------------------------------------------------------- price thresholds

def _rescaled(k: Coefficients, model: LinearModel, factors: dict, capex_factor: dict) -> LinearModel:
    """``model`` with offer o's cost part p times ``factors[o][p]`` in the objective and in the budget
    row (which restates the objective per month of the horizon: a reservation longer than the horizon
    adds only the horizon's share there), and its capex times ``capex_factor[o]`` in the capex cap."""
    n = model.blocks["n"]
    extra = np.zeros(model.n_vars)
    parts = {part: vec.copy() for part, vec in model.obj_parts.items()}
    for o, by_part in factors.items():
        for part, f in by_part.items():
            if part in parts:
                extra[n[o]] += parts[part][n[o]] * (f - 1.0)
                parts[part][n[o]] *= f
    data = model.data.copy()
    monthly = extra.copy()      # the budget counts the horizon's hours of a longer commitment
    monthly[n] *= k.hours / k.billed_hours()
    for r in np.flatnonzero(model.row_family.astype(str) == "caps.budget"):
        a, b = model.indptr[r], model.indptr[r + 1]
        data[a:b] += monthly[model.indices[a:b]] * HOURS_PER_MONTH / k.hours
    scale = np.ones(model.n_vars)
    for o, f in capex_factor.items():
        scale[n[o]] = f
    for r in np.flatnonzero(model.row_family.astype(str) == "caps.capex"):
        a, b = model.indptr[r], model.indptr[r + 1]
        data[a:b] *= scale[model.indices[a:b]]
    return replace(model, obj=model.obj + extra, obj_parts=parts, data=data)


def scale_accelerator_price(k: Coefficients, model: LinearModel, accelerator: str,
                            multiplier: float) -> LinearModel:
    """``model`` with the hardware price of every offer of ``accelerator`` the plan could buy or
    rent times ``multiplier`` (owned devices keep their costs), in the objective, the budget row
    and the capex cap.

    The capex cap counts the purchase price too (QA s18: a binding $250k cap left out, the H100
    server was said to stay until x3.13 its price, where it stops at 250,000 / 220,000 = x1.136):
    the price that gives the scaled all-in rate, hosting held.
    """
    factors, capex = {}, {}
    for o, info in enumerate(k.offers):
        if info.accelerator == accelerator and not info.existing:
            factors[o] = dict.fromkeys(PRICE_PARTS, multiplier)
            f = purchase_price_factor(info, multiplier)
            capex[o] = multiplier if f is None else max(0.0, f)
    return _rescaled(k, model, factors, capex)


def scale_purchase_price(k: Coefficients, model: LinearModel, accelerator: str,
                         factor: float) -> LinearModel:
    """``model`` as a catalog with ``accelerator``'s purchase.usd_per_device times ``factor`` builds it:
    new purchases' amortisation, maintenance and capex, and owned devices' maintenance (a fraction of
    the same price) scale; hosting, rentals, hourly-priced offers and energy are held.

    QA s23: the purchase price read off the all-in rate's threshold ($1,621 for an A100) held the 8
    owned A100s' upkeep at today's price, so a new device there was cheaper to run than an owned one;
    a re-solve at $1,550 bought none (re-solves: it starts buying between $870 and $920).
    """
    factors, capex = {}, {}
    for o, info in enumerate(k.offers):
        if info.accelerator != accelerator:
            continue
        if info.existing:
            factors[o] = {"maintenance": factor}
        elif info.capex_usd_per_device > 0:
            factors[o] = dict.fromkeys(PURCHASE_PRICE_PARTS, factor)
            capex[o] = factor
    return _rescaled(k, model, factors, capex)


def devices_by_accelerator(k: Coefficients, model: LinearModel, values: np.ndarray) -> dict:
    """Devices the plan buys or rents per accelerator; owned ones (``fleet.existing``) are not
    counted: what a price threshold is about is new procurement."""
    n = values[model.blocks["n"]]
    out: dict[str, float] = {}
    for o, units in zip(k.offers, n):
        if units > 0.5 and not o.existing:
            out[o.accelerator] = out.get(o.accelerator, 0.0) + units * o.devices_per_unit
    return out


#: what a price bisection found: the plan switches (stops or starts using the accelerator), no plan
#: fits the budget from some multiplier on, no change within the range, or a re-solve failed
OUTCOMES = ("switch", "infeasible", "none_in_range", "failed")


@dataclass
class Threshold:
    accelerator: str
    used: bool                       # bought or rented by the plan (owned devices do not count)
    multiplier_lo: Optional[float]   # bracket on the multiplier where the outcome starts
    multiplier_hi: Optional[float]
    usd_per_device_hour: dict        # offer key -> hardware price at the bracket midpoint
    solves: int
    text: str
    outcome: str = "switch"          # one of OUTCOMES
    #: catalog purchase offers: key -> the purchase price per device at which the plan switches, at the
    #: bracket midpoint: with that all-in rate (:func:`purchase_price_factor`; None where no price gets
    #: there), or, where the accelerator is also owned or rented, from its own search (:func:`_purchase_search`)
    purchase_usd_per_device: dict = field(default_factory=dict)


def _hw_price(o) -> float:
    return float(sum(v for p, v in o.usd_per_device_hour if p in PRICE_PARTS))


#: the hourly cost parts proportional to a purchased device's price
PURCHASE_PRICE_PARTS = ("purchase_amortisation", "maintenance")
#: how a price sentence names each part the multiplier scales
PART_WORDS = {"purchase_amortisation": "amortisation", "maintenance": "maintenance", "hosting": "hosting"}


def purchase_price_factor(o, multiplier: float) -> Optional[float]:
    """The factor on a purchased device's price (purchase.usd_per_device) that makes its all-in hourly
    rate ``multiplier`` times what it is, maintenance a fraction of the price and hosting held; None
    for an offer without a purchase price (rentals, owned devices, offers priced by the hour).

    QA s22: the threshold was read as a factor on the purchase price, which breaks even further out
    (x1.56 where the all-in rate's was x1.44) because hosting does not grow with it.
    """
    a = sum(v for p, v in o.usd_per_device_hour if p in PURCHASE_PRICE_PARTS)
    if o.capex_usd_per_device <= 0 or a <= 0:
        return None
    return (multiplier * _hw_price(o) - (_hw_price(o) - a)) / a


#: largest price multiplier searched (``--max-factor``): a price a million times today's (or a
#: millionth of it) is beyond any plan's turning point; far beyond, scaled prices overflow (QA s27:
#: 1e308 gave numpy warnings and a 'failed re-solve', exit 0)
MAX_FACTOR = 1e6


def max_factor_issues(max_factor) -> list[InputIssue]:
    """``--max-factor`` out of (1, :data:`MAX_FACTOR`]."""
    if isinstance(max_factor, (int, float)) and not isinstance(max_factor, bool) and 1 < max_factor <= MAX_FACTOR:
        return []
    shown = f"{max_factor:g}" if isinstance(max_factor, (int, float)) else repr(max_factor)
    return [InputIssue(f"--max-factor must be a number > 1 and at most {MAX_FACTOR:g}, got {shown}",
                       path="--max-factor", hint="e.g. --max-factor 16 (prices from 1/16 to 16 times today's)")]


def price_thresholds(k: Coefficients, model: LinearModel, values: np.ndarray, *,
                     backend: str = "pulp", solver: Optional[str] = None, steps: int = 8,
                     max_factor: float = 16.0, unused: int = 2, time_limit_s: float = 60.0,
                     mip_gap: float = 1e-6, accelerators: Optional[Sequence[str]] = None) -> list[Threshold]:
    """Bisection on each accelerator's price multiplier (see module docstring).

    At most ``steps + 1`` MIP solves per accelerator: used ones and the ``unused``
    unused accelerators with the lowest hardware price per device-hour.
    """
    bad = max_factor_issues(max_factor)
    if bad:
        raise InputError(bad)
    values = plan_values(values, "price_thresholds")
    used = devices_by_accelerator(k, model, values)
    if accelerators is None:
        idle = {}
        served = {k.candidates[c].offer for c in k.pair_c if not k.offers[k.candidates[c].offer].existing}
        for o in served:
            a = k.offers[o].accelerator
            if a not in used:
                idle[a] = min(idle.get(a, math.inf), _hw_price(k.offers[o]))
        accelerators = sorted(used) + sorted(idle, key=lambda a: (idle[a], a))[:unused]
    # the offer each sentence quotes: the one holding most of the plan's devices, else the cheapest
    n = values[model.blocks["n"]]
    devs = {}
    for o, (info, units) in enumerate(zip(k.offers, n)):
        if info.existing:
            continue
        devs.setdefault(info.accelerator, []).append((-units * info.devices_per_unit, _hw_price(info), o))
    out = []
    for a in accelerators:
        ref = k.offers[min(devs[a])[2]] if a in devs else None
        out.append(_bisect_accelerator(k, model, a, a in used, backend=backend, solver=solver,
                                       steps=steps, max_factor=max_factor,
                                       time_limit_s=time_limit_s, mip_gap=mip_gap, ref=ref))
    return out


@dataclass
class _Bracket:
    """What one bisection found: its outcome (one of :data:`OUTCOMES`), the multiplier bracket
    [lo, hi] where that starts, and for "failed" the multiplier and status of the re-solve that
    failed (lo, hi None when it was the first, at the far end of the range)."""

    outcome: str
    lo: Optional[float] = None
    hi: Optional[float] = None
    failed: Optional[tuple] = None


def _bisect(state, is_used: bool, max_factor: float, steps: int) -> _Bracket:
    """Bisection on log m, from 1 up to ``max_factor`` for a used accelerator (to where the plan no
    longer uses it, or no plan fits), from 1 down to 1 / ``max_factor`` for an unused one; ``state(m)``
    is 'used', 'unused' or the status of a re-solve without a plan."""
    # a higher price can break the budget (infeasible: a result); a lower one cannot
    known = ("used", "unused", INFEASIBLE) if is_used else ("used", "unused")
    lo, hi = (1.0, max_factor) if is_used else (1.0 / max_factor, 1.0)
    far_m = hi if is_used else lo
    far = state(far_m)
    if far == ("used" if is_used else "unused"):
        return _Bracket("none_in_range")
    if far not in known:
        return _Bracket("failed", failed=(far_m, far))
    at_hi = far if is_used else "unused"
    # invariant: used at lo; at hi unused, or (a price rise) no plan within the budget
    for _ in range(steps):
        mid = math.sqrt(lo * hi)
        u = state(mid)
        if u not in known:
            return _Bracket("failed", lo, hi, (mid, u))
        if u == "used":
            lo = mid
        else:
            hi, at_hi = mid, u
    return _Bracket("infeasible" if at_hi == INFEASIBLE else "switch", lo, hi)


def _bisect_accelerator(k, model, a, is_used, *, backend, solver, steps, max_factor,
                        time_limit_s, mip_gap, ref=None) -> Threshold:
    solves = 0

    def state_of(scale):
        def state(m: float) -> str:
            nonlocal solves
            solves += 1
            res = solve(scale(k, model, a, m), backend, solver, time_limit_s=time_limit_s, mip_gap=mip_gap)
            if not res.has_plan:
                return res.status
            return "used" if devices_by_accelerator(k, model, res.values).get(a, 0.0) > 0 else "unused"
        return state

    offers = [o for o in k.offers if o.accelerator == a and not o.existing]
    if not offers:
        return Threshold(a, is_used, None, None, {}, solves,
                         f"{a}: only owned devices, no offer to buy or rent: no price threshold", "none_in_range")
    best = ref if ref is not None else min(offers, key=_hw_price)
    found = _bisect(state_of(scale_accelerator_price), is_used, max_factor, steps)
    where = f"{'x' if is_used else '/'}{max_factor:g} its price"
    if found.outcome == "none_in_range":
        return Threshold(a, is_used, None, None, {}, solves,
                         f"{a}: still {'bought or rented' if is_used else 'neither bought nor rented'} at "
                         f"{where}; no switch within the range searched", "none_in_range")
    if found.outcome == "failed":
        m, status = found.failed
        text = (f"{a}: the re-solve at {where} failed ({status}); no threshold found" if found.lo is None else
                f"{a}: the re-solve at x{m:.3g} its price failed ({status}); the bisection stopped with the "
                f"change somewhere between x{found.lo:.3g} and x{found.hi:.3g}")
        return Threshold(a, is_used, found.lo, found.hi, {}, solves, text, "failed")
    lo, hi = found.lo, found.hi
    mid = math.sqrt(lo * hi)
    prices = {o.key: round(_hw_price(o) * mid, 6) for o in offers}
    # the geometric midpoint is within sqrt(hi / lo) - 1 of either end, said with two digits, rounded up
    # (QA s26: '+-0.5%' for a bracket 1.09% wide, whose midpoint is 0.54% from its ends)
    rel = math.ceil((math.sqrt(hi / lo) - 1.0) * 1e4) / 1e4
    # what the multiplier scales (QA s22: 'x1.44 its price' of a purchase was read as the purchase price)
    parts = [PART_WORDS.get(p, "rent") for p, v in best.usd_per_device_hour if p in PRICE_PARTS and v]
    what = (f"all-in hourly rate ({' + '.join(parts)}: " if len(parts) > 1
            else f"hourly {parts[0] if parts else 'price'} (")
    owned = sum((o.max_units or 0) * o.devices_per_unit for o in k.offers if o.existing and o.accelerator == a)
    at = (f"x{mid:.3g} its {what}~${_hw_price(best) * mid:.4g}/device-hour for {best.key}, now "
          f"${_hw_price(best):.4g}; +-{rel:.2%}{'; owned devices at their present upkeep' if owned else ''})")
    purchase = {}
    hourly = any(purchase_price_factor(o, 1.0) is None for o in offers)     # rentals, hourly-priced offers
    if purchase_price_factor(best, mid) is not None:
        if owned or hourly:
            # the rate's multiplier also scaled the rentals and held the owned devices' upkeep, which a
            # new catalog price moves: the purchase price is searched on its own (scale_purchase_price)
            def at_price(k, model, a, m):
                """The catalog price with which a new device costs m times its all-in rate (hosting held)."""
                return scale_purchase_price(k, model, a, max(0.0, purchase_price_factor(best, m)))

            at += _purchase_search(best, offers, owned, hourly, is_used, found.outcome,
                                   _bisect(state_of(at_price), is_used, max_factor, steps),
                                   max_factor, purchase)
        else:
            at += _purchase_translation(best, offers, lo, hi, purchase)
    if found.outcome == INFEASIBLE:
        budget = ("the problem's limits" if k.max_usd_per_month is None
                  else f"fleet.budget.max_usd_per_month (${k.max_usd_per_month:,.2f})")
        text = f"{a}: no plan fits {budget} above {at}; up to there the plan keeps buying or renting it"
    elif is_used:
        text = f"{a}: the plan stops buying or renting it above {at}"
    else:
        text = f"{a}: the plan starts buying or renting it below {at}"
    return Threshold(a, is_used, lo, hi, prices, solves, text, found.outcome, purchase)


def _purchase_translation(best, offers, lo: float, hi: float, purchase: dict) -> str:
    """The purchase-price clause of a threshold where every offer is a catalog purchase and none is
    owned: the all-in rate at m is the price at :func:`purchase_price_factor`, which fills ``purchase``."""
    mid = math.sqrt(lo * hi)
    for o in offers:
        f = purchase_price_factor(o, mid)
        purchase[o.key] = round(f * o.capex_usd_per_device, 2) if f > 0 else None
    fmid = purchase_price_factor(best, mid)
    if fmid <= 0:
        hosting = _hw_price(best) - sum(v for p, v in best.usd_per_device_hour if p in PURCHASE_PRICE_PARTS)
        return f"; no purchase price gets there (hosting alone costs ${hosting:.4g}/device-hour)"
    p0 = best.capex_usd_per_device
    bracket = sorted(max(0.0, purchase_price_factor(best, m)) * p0 for m in (lo, hi))
    return (f"; as a purchase price (purchase.usd_per_device; maintenance a fraction of it, hosting held): "
            f"~${fmid * p0:,.0f} a device, now ${p0:,.0f} (between ${bracket[0]:,.0f} and ${bracket[1]:,.0f})")


def _purchase_search(best, offers, owned: float, hourly: bool, is_used: bool, outcome: str,
                     found: _Bracket, max_factor: float, purchase: dict) -> str:
    """The purchase-price clause of a threshold from its own bisection (``found``) on the all-in
    rate m of a new device, re-priced as purchase.usd_per_device (:func:`scale_purchase_price`) at
    the price with that rate; fills ``purchase`` with the price per catalog purchase offer.  Searching
    m rather than the price covers the same range as the rate's search, down to a price of $0."""
    moves = ("" if not owned else "; the owned device's maintenance moves with it" if owned == 1 else
             f"; the {owned:g} owned devices' maintenance moves with it")
    held = "hosting, rentals and hourly-priced offers held" if hourly else "hosting held"
    p0 = best.capex_usd_per_device

    def price(m: float) -> float:
        return max(0.0, purchase_price_factor(best, m)) * p0

    head = (f"; as a purchase price (purchase.usd_per_device; maintenance a fraction of it{moves}; {held}; "
            "re-solved on its own): ")
    if found.outcome == "none_in_range":
        return head + (f"still {'bought or rented' if is_used else 'neither bought nor rented'} at "
                       f"${price(max_factor if is_used else 1.0 / max_factor):,.0f} a device, now ${p0:,.0f}")
    if found.outcome == "failed":
        return head + f"the re-solve at ${price(found.failed[0]):,.0f} a device failed ({found.failed[1]}), now ${p0:,.0f}"
    mid = math.sqrt(found.lo * found.hi)
    for o in offers:
        if o.capex_usd_per_device > 0:
            purchase[o.key] = round(price(mid) / p0 * o.capex_usd_per_device, 2)
    # where the price search ends otherwise than the rate's (a switch against no plan within the budget)
    why = ("" if found.outcome == outcome else
           " (no plan fits the limits from there)" if found.outcome == INFEASIBLE else
           f" (where the plan {'stops' if is_used else 'starts'} buying or renting it)")
    return head + (f"~${price(mid):,.0f} a device{why}, now ${p0:,.0f} "
                   f"(between ${price(found.lo):,.0f} and ${price(found.hi):,.0f})")
