"""Planning over time: the horizon, the demand of every (period, slice), and per-offer timing.

A problem with ``objective.periods`` is planned over T periods (e.g. 8 quarters of
3 months).  Within a period, demand follows a daily profile cut into slices
(``workloads[].demand.profile``: fractions of the peak, one value per slice of equal
length, e.g. 24 hourly values).  With ``periods.within_period: peak`` a period is
instead one slice at each workload's daily peak, energy at the profile's mean
load (the single-period model's treatment: no autoscaling within the day).  Slices whose fractions are equal for *every*
workload are merged into one slice with the sum of their weights: the model is
the same (capacity, routing and energy are per slice and the merged slices are
identical), only smaller.  A flat 24-hour profile is one slice; a profile with 5
distinct hourly values is 5 slices.

Demand of workload w in period t, slice s:
    D[w, t, s] = requests_per_s_w x growth_w[t] x profile_w[s]        (0 before start_period)
growth_w[t] is the listed multiplier, or (1 + rate)^(t - start_period) for a compound
rate, or 1.

Per-offer timing, from the catalog and the problem (see :mod:`solver.mip.periods`):
* purchase lead time, periods: ceil(lead_time_quarters x 3 / months) (catalog
  ``purchase.lead_time_quarters``): a server ordered in period t serves from t + lead.
* reservation: a contract of ``term`` hours covers L = max(1, floor(term / h)) whole
  periods of h hours (1 year = 4 quarters; units are fixed across a period, so a
  contract that ends within a period cannot serve it).  It is paid by the hour for
  its whole term, used or not: with 5-month periods a 1-year contract serves 2
  periods and pays its last 2 months in the third.  A term shorter than a period is
  renewed back to back until the period is covered: ceil(h / term) contracts, the
  hours past the period paid in the next one (``reservation_pay_hours``).
* useful life, hours (catalog ``purchase.useful_life_years``): depreciation stops
  after it.
* resale value of an existing device retired at the start of period t:
  resale_fraction x price x max(0, 1 - (age + t x months / 12) / life), at the
  devices' own age (owned devices of one accelerator that differ in age are one
  offer per age: :func:`solver.coefficients.existing_groups`).  Owned devices are taken to have cost
  the catalog price: their resale value (a book value of what was paid) does not follow
  ``price_change_per_period``.

Prices that change (``objective.periods.price_change_per_period``): a decision made in period t
pays the price x (1 + r)^t, r the change per period of its mode (``PeriodSpec.price_factor``, (O, T):
rentals serving t, a reservation started in t, a server ordered in t; 1 for owned devices) and
electricity used in t its price x (1 + r_electricity)^t (``PeriodSpec.energy_factor``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Optional

import numpy as np

from solver.coefficients import HOURS_PER_YEAR, RESERVED_TERM_HOURS, Coefficients, existing_groups
from solver.errors import InputError, InputIssue
from solver.problem.schema import HOURS_PER_MONTH

ELASTIC_MODES = ("on_demand", "spot")


@dataclass
class PeriodSpec:
    """Horizon and per-offer timing numbers for the multi-period model (units in names)."""

    n_periods: int
    period_hours: float
    slice_weight: np.ndarray            # (S,) fraction of a period's hours, sums to 1
    slice_members: list                 # (S,) list of original profile indices merged into the slice
    demand_rps: np.ndarray              # (W, T, S)
    discount: np.ndarray                # (T + extra,) (1 + d)^-t, long enough for reservation terms
    lead_periods: np.ndarray            # (O,) purchase lead time, periods (0 for other offers)
    term_periods: np.ndarray            # (O,) periods one reservation serves (0 for other offers)
    life_hours: np.ndarray              # (O,) useful life of purchased hardware (inf otherwise)
    capex_usd_per_device: np.ndarray    # (O,) purchase price (new purchases only)
    resale_usd_per_device: np.ndarray   # (O, T + 1) value of an existing device retired at t (t = T: end)
    retire_usd_per_device: float = 0.0
    change_penalty_usd_per_device: float = 0.0
    #: (from offer, to offer) pairs of existing offers owned devices may move between
    moves: list = field(default_factory=list)
    move_usd_per_device: float = 0.0
    months: float = 3.0
    discount_rate: float = 0.0
    #: (W,) mean/peak load charged for energy when a period is one peak-sized slice
    #: (``within_period: peak``); None: each slice's actual load
    energy_load_factor: Optional[np.ndarray] = None
    #: (O, J) hours a reservation pays in the j-th period from its start (zeros for other offers);
    #: None: a whole period for each period it serves
    term_pay_hours: Optional[np.ndarray] = None
    #: fleet.power_caps index -> (T,) kW limit of each period, for the caps given per period
    #: (``max_kw_by_period``); the others hold their single figure (``Coefficients.power_caps``)
    power_kw_by_period: dict = field(default_factory=dict)
    #: fleet.availability index -> (T,) device limit of each period (``max_devices_by_period``)
    availability_by_period: dict = field(default_factory=dict)
    #: (T,) most USD of purchases ordered in each period (``fleet.budget.max_capex_usd_by_period``); None: no such cap
    capex_usd_by_period: Optional[np.ndarray] = None
    #: (O, T) multiplier of offer o's prices for a decision made in period t, (1 + r)^t with r the change
    #: per period of its mode (``price_change_per_period``; 1 for owned devices); None: prices stay
    price_factor: Optional[np.ndarray] = None
    #: (T,) multiplier of the electricity price in period t; None: it stays
    energy_factor: Optional[np.ndarray] = None
    #: ``price_change_per_period`` as given, the non-zero changes only ({price: change per period})
    price_change: dict = field(default_factory=dict)

    def pay_hours(self, o: int) -> np.ndarray:
        """Hours reservation offer o pays in each period from its start (module docstring)."""
        if self.term_pay_hours is None:
            return np.full(int(self.term_periods[o]), self.period_hours)
        row = self.term_pay_hours[o]
        return row[:len(np.trim_zeros(row, "b"))]

    @property
    def n_slices(self) -> int:
        return len(self.slice_weight)

    def prices(self) -> np.ndarray:
        """(O, T) :attr:`price_factor`, ones where prices stay."""
        if self.price_factor is None:
            return np.ones((len(self.lead_periods), self.n_periods))
        return self.price_factor

    def energy_prices(self) -> np.ndarray:
        """(T,) :attr:`energy_factor`, ones where the electricity price stays."""
        return np.ones(self.n_periods) if self.energy_factor is None else self.energy_factor

    def kind(self, k: Coefficients) -> np.ndarray:
        """Per offer: 'elastic' (on-demand, spot), 'reserved', 'purchase' (new) or 'existing'."""
        out = []
        for o in k.offers:
            if o.existing:
                out.append("existing")
            elif o.acquisition in ELASTIC_MODES:
                out.append("elastic")
            elif o.acquisition in RESERVED_TERM_HOURS:
                out.append("reserved")
            else:
                out.append("purchase")
        return np.array(out, dtype=object)


def with_move_targets(problem, catalog):
    """Problem whose owned accelerators also appear (as placeholder devices) in every other allowed
    region they can be installed in, when moves are allowed; and the real owned count per
    (accelerator, region, age group) (:func:`solver.coefficients.existing_groups`).
    :func:`owned_offers` then sets the placeholders' count to 0.

    Moved devices need an offer (and candidates, from the performance model) at their
    destination; placeholders give them one without changing what is owned.  A moved device keeps
    its age, so each age group gets its own placeholders.
    """
    per = problem.objective.periods
    groups = existing_groups(problem)
    owned = {key: n for key, (n, _) in groups.items()}
    if per is None or per.move_usd_per_device is None or not owned:
        return problem, owned
    from solver.problem.schema import ExistingDevices
    regions = problem.fleet.regions or sorted(catalog.regions)
    ages = {(a, g): age for (a, _, g), (_, age) in groups.items()}
    # a placeholder as large as everything of its group that could move there, so that candidates of
    # every tensor-parallel degree those devices can form exist at the destination (review: 1 device
    # allowed TP 1 only, so a 70B model rented in Virginia beside 12 idle owned A100s in Germany)
    movable: dict[tuple, int] = {}
    for (a, _, g), n in owned.items():
        movable[(a, g)] = movable.get((a, g), 0) + n
    extra = []
    for (a, g), age in sorted(ages.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        pur = catalog.accelerators[a].purchase
        allowed = (pur.regions if pur is not None and pur.regions else regions)
        for r in regions:
            if r in allowed and (a, r, g) not in owned:
                extra.append(ExistingDevices(accelerator=a, region=r, devices=movable[(a, g)], age_years=age))
    fleet = problem.fleet.model_copy(update={"existing": list(problem.fleet.existing) + extra})
    return problem.model_copy(update={"fleet": fleet}), owned


def owned_offers(k: Coefficients, owned: dict) -> Coefficients:
    """``k`` with every existing offer's unit count set to the real owned count (0 for placeholders)."""
    offers = [replace(o, max_units=owned.get((o.accelerator, o.region, o.age_group), 0)) if o.existing else o
              for o in k.offers]
    return replace(k, offers=offers)


def pooled_owned_keys(plan: dict, offer_keys: list) -> dict[str, list]:
    """The owned offers of a multi-period plan that pool devices of different ages under one key
    (``<accelerator>@<region>/existing/owned:existing``: plans made before such devices were one offer
    per age), each with this problem's offers of its accelerator and region, one per age."""
    tl = plan["periods"]["timeline"]
    used = {u["offer"] for r in tl for u in r["units"]} | {m[e] for r in tl for m in r.get("moves", [])
                                                           for e in ("from", "to")}
    new = {key: [o for o in offer_keys if o.startswith(f"{key}-")] for key in sorted(used)
           if key.endswith("/owned:existing")}
    return {key: ages for key, ages in new.items() if ages}


def pooled_owned_text(pooled: dict) -> str:
    """What :func:`pooled_owned_keys` found, in words."""
    return ("the plan holds owned devices of different ages under one offer, which this fleetopt plans as one "
            "offer per age (the plan was made by an earlier version): "
            + "; ".join(f"{key} is now {', '.join(ages)}" for key, ages in pooled.items()))


def stated_caps(fleet) -> dict:
    """The capex, power and availability caps a multi-period plan states beside its per-period capex
    and kW (the reports print the figures against them; the verifier checks them against the problem).
    A limit given per period is stated as its list (``..._by_period``), only where the problem gives one:
    plans of problems without such limits stay as they were."""
    out: dict = {"max_capex_usd": fleet.budget.max_capex_usd if fleet.budget else None}
    if fleet.budget is not None and fleet.budget.max_capex_usd_by_period is not None:
        out["max_capex_usd_by_period"] = list(fleet.budget.max_capex_usd_by_period)
    out["power_caps"] = [{"region": pc.region, "max_kw": pc.max_kw, "applies_to": list(pc.applies_to)}
                         | ({"max_kw_by_period": list(pc.max_kw_by_period)} if pc.max_kw_by_period is not None
                            else {}) for pc in fleet.power_caps]
    if any(av.max_devices_by_period is not None for av in fleet.availability):
        out["availability"] = [{"accelerator": av.accelerator, "region": av.region,
                                "acquisition": list(av.acquisition) if av.acquisition else None,
                                "max_devices": av.max_devices, "max_devices_by_period": av.max_devices_by_period}
                               for av in fleet.availability]
    return out


def stated_prices(rates: dict) -> dict:
    """The price changes a multi-period plan states beside its timeline (the reports print them; the
    verifier checks them against the problem): only where the problem gives some, so that plans of
    problems without any stay as they were."""
    return {"price_change_per_period": dict(rates)} if rates else {}


def price_changes(per) -> dict:
    """{price: change per period} of ``objective.periods`` (``per``): the non-zero ones."""
    return per.price_change_per_period.rates() if per.price_change_per_period is not None else {}


def merge_slices(profiles: np.ndarray) -> tuple[np.ndarray, np.ndarray, list]:
    """(W, N) fractions -> (W, S) distinct columns, (S,) weights (share of N), members of each."""
    n = profiles.shape[1]
    seen: dict[tuple, int] = {}
    cols, members = [], []
    for j in range(n):
        key = tuple(np.round(profiles[:, j], 12))
        if key not in seen:
            seen[key] = len(cols)
            cols.append(profiles[:, j])
            members.append([])
        members[seen[key]].append(j)
    weights = np.array([len(m) / n for m in members], float)
    return np.array(cols, float).T.reshape(profiles.shape[0], len(cols)), weights, members


def growth_factors(w, T: int) -> np.ndarray:
    """(T,) demand multiplier of workload ``w`` per period (0 before its start)."""
    g = np.zeros(T)
    for t in range(T):
        if t < w.demand.start_period:
            continue
        if w.demand.growth is not None:
            g[t] = w.demand.growth[t]
        elif w.demand.growth_rate_per_period is not None:
            g[t] = (1.0 + w.demand.growth_rate_per_period) ** (t - w.demand.start_period)
        else:
            g[t] = 1.0
    return g


def check_periods(problem, file: Optional[str] = None) -> None:
    """Cross-field checks that the schema cannot make alone; InputError listing all of them."""
    per = problem.objective.periods
    issues = []
    if per is None:
        for i, w in enumerate(problem.workloads):
            if w.demand.growth is not None or w.demand.growth_rate_per_period is not None or w.demand.start_period:
                issues.append(InputIssue(
                    "growth / start_period need a multi-period horizon", file=file,
                    path=f"workloads[{i}].demand", hint="add objective.periods (e.g. count: 8, months: 3)"))
        if problem.objective.periods is None and issues:
            raise InputError(issues)
        return
    T = per.count
    lengths = {len(w.demand.profile) for w in problem.workloads if w.demand.profile}
    for i, w in enumerate(problem.workloads):
        d = w.demand
        if d.growth is not None and len(d.growth) != T:
            issues.append(InputIssue(
                f"growth lists {len(d.growth)} multipliers for {T} periods", file=file,
                path=f"workloads[{i}].demand.growth", hint=f"give exactly {T} values (one per period)"))
        if d.start_period >= T:
            issues.append(InputIssue(
                f"start_period {d.start_period} is not within the {T} periods", file=file,
                path=f"workloads[{i}].demand.start_period", hint=f"use 0..{T - 1}"))
    f = problem.fleet
    listed = [(f"fleet.power_caps[{j}].max_kw_by_period", c.max_kw_by_period) for j, c in enumerate(f.power_caps)]
    listed += [(f"fleet.availability[{j}].max_devices_by_period", a.max_devices_by_period)
               for j, a in enumerate(f.availability)]
    listed.append(("fleet.budget.max_capex_usd_by_period", f.budget.max_capex_usd_by_period if f.budget else None))
    for path, values in listed:
        if values is not None and len(values) != T:
            issues.append(InputIssue(f"{len(values)} values for {T} periods", file=file, path=path,
                                     hint=f"give exactly {T} values (one per period)"))
    if len(lengths) > 1:
        issues.append(InputIssue(
            f"daily profiles have different numbers of slices ({sorted(lengths)})", file=file,
            path="workloads[].demand.profile",
            hint="give every profile the same slices (e.g. 24 hourly values each)"))
    if issues:
        raise InputError(issues)


def reservation_schedule(term_h: float, period_h: float) -> tuple[int, list]:
    """(periods one reservation serves, hours paid in each period from its start).

    Whole periods only (module docstring): 12 months in 5-month periods serve 2
    periods and pay 5, 5, 2 months; 12 months in 18-month periods take two contracts
    back to back, paying 18 then 6 months.
    """
    serves = max(1, math.floor(term_h / period_h + 1e-9))
    contracts = max(1, math.ceil(serves * period_h / term_h - 1e-9))
    paid = contracts * term_h
    hours, j = [], 0
    while paid - j * period_h > 1e-6 * period_h:
        hours.append(min(period_h, paid - j * period_h))
        j += 1
    return serves, hours


def profile_fractions(workloads) -> np.ndarray:
    """(W, N) daily profiles as fractions of each workload's peak (flat: 1)."""
    n_prof = max([len(w.demand.profile) for w in workloads if w.demand.profile] or [1])
    prof = np.ones((len(workloads), n_prof))
    for i, w in enumerate(workloads):
        p = w.demand.profile
        if p:
            prof[i] = np.asarray(p, float) / max(p)   # fractions of the peak (requests_per_s), top 1
    return prof


def slice_count(problem) -> int:
    """Demand slices per period of a multi-period problem (what build_period_spec will make)."""
    if problem.objective.periods.within_period == "peak":
        return 1
    return len(merge_slices(profile_fractions(list(problem.workloads)))[1])


def build_period_spec(problem, catalog, k: Coefficients, file: Optional[str] = None) -> PeriodSpec:
    """Demand per (workload, period, slice) and per-offer timing for ``k``'s offers."""
    check_periods(problem, file)
    per = problem.objective.periods
    T = per.count
    period_h = per.months * HOURS_PER_MONTH
    wls = {w.id: w for w in problem.workloads}
    prof = profile_fractions([wls[wid] for wid in k.workloads])
    n_prof = prof.shape[1]
    load_factor = None
    if per.within_period == "peak":
        # one slice at the profile's peak; energy at its mean load (as the single-period model)
        top = prof.max(axis=1)
        frac, weight, members = top[:, None], np.ones(1), [list(range(n_prof))]
        load_factor = np.where(top > 0, prof.mean(axis=1) / np.where(top > 0, top, 1.0), 1.0)
    else:
        frac, weight, members = merge_slices(prof)
    grow = np.array([growth_factors(wls[wid], T) for wid in k.workloads]).reshape(len(k.workloads), T)
    peak = np.array([wls[wid].demand.requests_per_s for wid in k.workloads])
    demand = peak[:, None, None] * grow[:, :, None] * frac[:, None, :]

    O = k.n_o
    lead = np.zeros(O, np.int64)
    term = np.zeros(O, np.int64)
    pay: dict = {}
    life = np.full(O, math.inf)
    capex = np.zeros(O)
    resale = np.zeros((O, T + 1))
    for oi, o in enumerate(k.offers):
        acc = catalog.accelerators[o.accelerator]
        pur = acc.purchase
        if o.acquisition in RESERVED_TERM_HOURS and not o.existing:
            term[oi], pay[oi] = reservation_schedule(RESERVED_TERM_HOURS[o.acquisition], period_h)
        elif o.acquisition == "purchase" and not o.existing:
            capex[oi] = o.capex_usd_per_device
            if pur is not None and o.instance == "server":
                lead[oi] = math.ceil(pur.lead_time_quarters.value * 3.0 / per.months - 1e-9)
                life[oi] = pur.useful_life_years.value * HOURS_PER_YEAR
        elif o.existing and pur is not None:
            life_y = pur.useful_life_years.value
            for t in range(T + 1):
                left = max(0.0, 1.0 - (o.age_years + t * per.months / 12.0) / life_y)
                resale[oi, t] = per.resale_fraction * pur.usd_per_device.value * left
    moves = []
    if per.move_usd_per_device is not None:
        ex = [i for i, o in enumerate(k.offers) if o.existing]
        owned_groups = {(k.offers[i].accelerator, k.offers[i].age_group) for i in ex
                        if (k.offers[i].max_units or 0) > 0}
        # a device moves to another region and keeps its age (so its age group); from a region where
        # its group owned none too (moved there earlier: the stock rows keep the count)
        moves = [(i, j) for i in ex for j in ex if i != j and k.offers[i].accelerator == k.offers[j].accelerator
                 and k.offers[i].age_group == k.offers[j].age_group
                 and (k.offers[i].accelerator, k.offers[i].age_group) in owned_groups]
    width = max([len(x) for x in pay.values()] + [0])
    pay_hours = np.zeros((O, width))
    for oi, hours in pay.items():
        pay_hours[oi, :len(hours)] = hours
    longest = T + width
    disc = (1.0 + per.discount_rate_per_period) ** -np.arange(longest + 1, dtype=float)
    rates = price_changes(per)
    steps = np.arange(T, dtype=float)
    price_factor = np.array([(1.0 + (0.0 if o.existing else rates.get(o.acquisition, 0.0))) ** steps
                             for o in k.offers]).reshape(O, T)
    f = problem.fleet
    capex_by_period = (np.array(f.budget.max_capex_usd_by_period, float)
                       if f.budget is not None and f.budget.max_capex_usd_by_period is not None else None)
    return PeriodSpec(n_periods=T, period_hours=period_h, slice_weight=weight, slice_members=members,
                      demand_rps=demand, discount=disc, lead_periods=lead, term_periods=term,
                      term_pay_hours=pay_hours,
                      life_hours=life, capex_usd_per_device=capex, resale_usd_per_device=resale,
                      retire_usd_per_device=per.retire_usd_per_device,
                      change_penalty_usd_per_device=per.change_penalty_usd_per_device,
                      months=per.months, discount_rate=per.discount_rate_per_period,
                      moves=moves, move_usd_per_device=per.move_usd_per_device or 0.0,
                      energy_load_factor=load_factor,
                      power_kw_by_period={j: np.array(pc.max_kw_by_period, float) for j, pc in enumerate(f.power_caps)
                                          if pc.max_kw_by_period is not None},
                      availability_by_period={j: np.array(av.max_devices_by_period, float)
                                              for j, av in enumerate(f.availability)
                                              if av.max_devices_by_period is not None},
                      capex_usd_by_period=capex_by_period,
                      price_factor=price_factor if rates else None,
                      energy_factor=(1.0 + rates.get("electricity", 0.0)) ** steps if rates else None,
                      price_change=rates)
