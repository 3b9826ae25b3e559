r"""The multi-period fleet MIP: procurement over a horizon of periods with daily slices.

Used when a problem has ``objective.periods``; the single-period model
(:mod:`solver.mip.formulation`) is untouched otherwise.  Every (period t, slice s)
holds a copy of the single-period serving model (demand, replica capacity, units,
mean quality, availability, power, spot share, redundancy, cover cuts: the same
functions, same row families, row names suffixed ``@t.s``) for the demand
D[w,t,s] of :mod:`solver.periods`; what links the copies is the hardware.
(With ``within_period: peak`` each period is one slice at the daily peak; such
models decompose by period for large instances: :mod:`solver.mip.decompose`.)

Sets and parameters (beyond the single-period ones)
---------------------------------------------------
T periods of h = months x 730 hours; slices s with weight omega_s (share of a
period's hours, sum 1); disc_t = (1 + d)^-t.  Prices that change
(``objective.periods.price_change_per_period``): pi_o(t) = (1 + r_mode(o))^t, the multiplier of the
price of a decision on offer o made in period t, r_mode the change per period of o's acquisition
mode (on_demand, spot, reserved_1y, reserved_3y, purchase; pi_o = 1 for owned devices, whose
cost is sunk), and epsilon(t) = (1 + r_electricity)^t that of electricity used in t (1 where no
change is given).  Offers split by kind:
E elastic (on-demand, spot): units may differ per slice (autoscaling);
R reserved (1y/3y): a commitment serves L_o = max(1, floor(term / h)) periods and pays
  pay_o[j] hours in the j-th period from its start (:func:`solver.periods.reservation_schedule`);
P purchase (new servers): lead time lead_o periods, useful life life_o hours;
X existing (owned) devices: M_o owned at the start.

Variables
---------
* n[o,t]    in Z+  units in service, o in R u P u X (fixed across the slices of t)
* n[o,t,s]  in Z+  units rented in slice s, o in E
* b[o,t]    in Z+  servers ordered in t, o in P (only t <= T-1-lead_o: later ones never serve)
* z[o,t]    in Z+  reservations starting in t, o in R
* r[o,t]    in Z+  owned devices retired at the start of t, o in X (only where retiring can pay)
* mv[o,o',t] in Z+ owned devices moved at the start of t from region of o to that of o'
                   (same accelerator; only with periods.move_usd_per_device; destinations
                   without owned devices are placeholder offers with M = 0)
* y[c,t,s], x[p,t,s], s[c,t,s]  replicas, routed requests/s, spare (as single-period)
* dp, dm >= 0      deviation from a previous plan's decision (re-optimisation only)

Constraints (family = function name with '.' for '_')
-----------------------------------------------------
* stock.purchase[o,t]:  n[o,t] - sum_{tau <= t - lead_o} b[o,tau] = 0
* stock.reserved[o,t]:  n[o,t] - sum_{t-L_o < tau <= t} z[o,tau] = 0
  (a reservation bought in t is paid for its whole term, used or not, even past the horizon)
* stock.existing[o,t]:  n[o,t] + sum_{tau <= t} (r[o,tau] + sum_o' mv[o,o',tau] - sum_o' mv[o',o,tau]) <= M_o
* per (t,s), with n[o] read as n[o,t] (R, P, X) or n[o,t,s] (E) and D_w as D[w,t,s]:
  demand.served, capacity.replica, capacity.offer_units, quality.mean,
  caps.availability, caps.power (nameplate: every slice sees the fixed units and
  that slice's rentals), caps.spot_share (a cap per slice: spot may vanish at any
  hour), redundancy.spare, redundancy.spare_within_replicas, cuts.replicas,
  cuts.units (see :mod:`solver.mip.formulation`).
  A limit given per period has period t's figure in the rows of t:
  caps.availability[k@t]:  sum_{o in k} g_o n[o,t(,s)] <= max_devices_by_period_k[t]
  caps.power[k@t]:         sum_{o in k} PUE g_o tdp n[o,t(,s)] / 1000 <= max_kw_by_period_k[t]
  (a label of its own per period: each period's figure is a field of its own to relax).
* caps.budget[t]:  accrual cost of period t / months <= max_usd_per_month, where
  accrual = rentals of t (at pi(t)) + what reservations pay in t (each at its start period's
  pi) + owned units in t x (amortisation + maintenance + hosting) x h (a server's amortisation
  and maintenance at its order period's pi) + energy (at epsilon(t)) and carbon of t.
* caps.capex:  sum_{o in P, t} price_o pi_o(t) g_o b[o,t] <= max_capex_usd.
* caps.capex_period[t]:  sum_{o in P} price_o pi_o(t) g_o b[o,t] <= max_capex_usd_by_period[t]
  (what is ordered in t, at its price then, whenever it arrives).
* change.buy / change.reserve / change.retire[o,t] / change.move[o->o',t]:
  v[o,t] - dp[o,t] + dm[o,t] = previous[o,t]  (re-optimisation, periods the previous plan
  covers); the decisions of the executed periods (period 0, or 0..K with
  ``--executed-through K``) are fixed to the previous plan's.

Objective (USD, discounted)
---------------------------
min  sum_{o in E,t,s} rate_o pi_o(t) g_o h omega_s disc_t n[o,t,s]
   + sum_{o in R,t}   rate_o pi_o(t) g_o (sum_j disc_{t+j} pay_o[j]) z[o,t]
   + sum_{o in P,t}   amort_o pi_o(t) g_o (sum_{t'=t+lead_o}^{T-1} disc_t' min(h, max(0, life_o - (t'-t-lead_o) h))) b[o,t]
   + sum_{o in P,t}   maint_o pi_o(t) g_o h (sum_{t'=t+lead_o}^{T-1} disc_t') b[o,t]   (only where pi_o != 1)
   + sum_{o in R u P u X,t} (other hourly parts: maintenance, hosting) g_o h disc_t n[o,t]
   + sum_{t,s} h omega_s disc_t (epsilon(t) e_o + k_o) [IT power of slice (t,s) as in the single-period
                                             model, with the actual slice load: lf = 1]
   + sum_{o in X,t} (disc_t (retire_usd - resale_o(t)) + disc_T resale_o(T)) r[o,t]
   + sum_{moves,t} disc_t move_usd mv[o,o',t]
   + penalty g_o (dp + dm)
Purchases are depreciated straight-line over their useful life from the period
they arrive; value left at the horizon's end is not charged (the next plan owns
it).  Retiring an owned device earns its resale value now instead of at the
horizon's end (its value at T), minus the decommissioning cost; owned devices not
in service cost nothing (sunk capital, no upkeep, no power), as in the
single-period model.

With a purchase price that changes, a server's maintenance (the catalog's
``maintenance_fraction_per_year`` of its price) follows the price it was ordered at, so it is
paid on the order, for every period the server serves within the horizon, as its depreciation
is (hosting, a rate per device-hour, stays; without a change it is paid per unit in service,
the same sum).  Owned devices, their upkeep and their resale value stay at the catalog price
whatever the changes: what was paid is sunk, and the resale is a book value of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Optional

import numpy as np

from solver.coefficients import COST_PARTS, Coefficients
from solver.errors import InputError, InputIssue
from solver.mip import formulation as F
from solver.mip.model import LinearModel, ModelBuilder
from solver.periods import PeriodSpec

PERIOD_COST_PARTS = COST_PARTS + ("retirement", "moves", "change_penalty")


@dataclass
class PeriodVars:
    Y: np.ndarray       # (T, S, C) replica columns
    X: np.ndarray       # (T, S, P) route columns
    SP: np.ndarray      # (T, S, C) spare columns or -1
    NF: np.ndarray      # (T, O) fixed-unit columns or -1
    NE: np.ndarray      # (T, S, O) elastic-unit columns or -1
    B: np.ndarray       # (T, O) purchase-order columns or -1
    Z: np.ndarray       # (T, O) reservation columns or -1
    R: np.ndarray       # (T, O) retirement columns or -1
    MV: np.ndarray      # (T, len(spec.moves)) move columns

    def n_view(self, t: int, s: int) -> np.ndarray:
        return np.where(self.NF[t] >= 0, self.NF[t], self.NE[t, s])


def slice_coefficients(k: Coefficients, spec: PeriodSpec, t: int, s: int) -> Coefficients:
    """``k`` with the demand of (t, s); N+1 only where the workload has demand; actual load
    (the profile's mean/peak when periods are sized for the peak); the power and availability
    limits given per period at period t's figure, labelled ``...@t`` (one limit per period)."""
    d = spec.demand_rps[:, t, s]
    lf = spec.energy_load_factor if spec.energy_load_factor is not None else np.ones(k.n_w)
    power = [(f"{lab}@{t}", idx, float(spec.power_kw_by_period[j][t])) if j in spec.power_kw_by_period
             else (lab, idx, kw) for j, (lab, idx, kw) in enumerate(k.power_caps)]
    avail = [(f"{lab}@{t}", idx, float(spec.availability_by_period[j][t])) if j in spec.availability_by_period
             else (lab, idx, n) for j, (lab, idx, n) in enumerate(k.availability)]
    return replace(k, demand_rps=d, n_plus_1=k.n_plus_1 & (d > 0), energy_load_factor=lf,
                   power_caps=power, availability=avail)


def _cols(n: int) -> np.ndarray:
    return np.full(n, -1, np.int64)


def add_period_variables(b: ModelBuilder, k: Coefficients, spec: PeriodSpec,
                         previous: Optional["Previous"] = None) -> PeriodVars:
    T, S, O, C, P = spec.n_periods, spec.n_slices, k.n_o, k.n_c, k.n_p
    kind = spec.kind(k)
    NF = np.full((T, O), -1, np.int64)
    NE = np.full((T, S, O), -1, np.int64)
    B, Z, R = (np.full((T, O), -1, np.int64) for _ in range(3))
    owned = np.array([o.max_units or 0 for o in k.offers], float)
    if spec.moves:   # devices moved in may serve anywhere their accelerator is owned
        by_acc: dict = {}
        by_group: dict = {}
        for o, off in enumerate(k.offers):
            if off.existing:
                by_acc[off.accelerator] = by_acc.get(off.accelerator, 0) + owned[o]
                by_group[off.accelerator, off.age_group] = by_group.get((off.accelerator, off.age_group), 0) + owned[o]
        cap_units = np.array([by_acc[off.accelerator] if off.existing else 0 for off in k.offers], float)
        # devices moved in can be retired or moved on there too (QA: a device moved to a region where
        # its age group owned none stayed idle to the horizon, its resale lost, in an 'optimal' plan)
        group = np.array([by_group[off.accelerator, off.age_group] if off.existing else 0 for off in k.offers],
                         float)
    else:
        cap_units = group = owned
    fixed = np.flatnonzero(kind != "elastic")
    el = np.flatnonzero(kind == "elastic")
    for t in range(T):
        if len(fixed):
            ub = np.where(kind[fixed] == "existing", cap_units[fixed], math.inf)
            NF[t, fixed] = b.add_vars(f"n@{t}", [f"n[{o}]@{t}" for o in fixed], 0.0, ub, integer=True)
        for s in range(S):
            if len(el):
                NE[t, s, el] = b.add_vars(f"n@{t}.{s}", [f"n[{o}]@{t}.{s}" for o in el], 0.0,
                                          math.inf, integer=True)
    for o in np.flatnonzero(kind == "purchase"):
        ts = [t for t in range(T) if t + spec.lead_periods[o] <= T - 1]
        if ts:
            B[ts, o] = b.add_vars(f"b[{o}]", [f"b[{o}]@{t}" for t in ts], 0.0, math.inf, integer=True)
    for o in np.flatnonzero(kind == "reserved"):
        Z[:, o] = b.add_vars(f"z[{o}]", [f"z[{o}]@{t}" for t in range(T)], 0.0, math.inf, integer=True)
    for o in np.flatnonzero(kind == "existing"):
        gain = _retire_coef(spec, o)
        # where retiring pays; and wherever the previous plan retired (executed retirements have
        # been carried out whatever they are worth now, later ones are priced as changes)
        ts = [t for t in range(T) if gain[t] < -1e-9
              or (previous or {}).get(("retire", k.offers[o].key, t), 0) > 0]
        if ts and group[o] > 0:
            R[ts, o] = b.add_vars(f"r[{o}]", [f"r[{o}]@{t}" for t in ts], 0.0, group[o], integer=True)
    MV = np.full((T, len(spec.moves)), -1, np.int64)
    for i, (o1, o2) in enumerate(spec.moves):
        MV[:, i] = b.add_vars(f"mv[{o1},{o2}]", [f"mv[{o1}->{o2}]@{t}" for t in range(T)], 0.0, group[o1],
                              integer=True)
    Y = np.zeros((T, S, C), np.int64)
    X = np.zeros((T, S, P), np.int64)
    SP = np.full((T, S, C), -1, np.int64)
    spare = np.zeros(C, bool)
    spare[k.pair_c[k.n_plus_1[k.pair_w]]] = True
    sc = np.flatnonzero(spare)
    for t in range(T):
        for s in range(S):
            d = spec.demand_rps[:, t, s]
            need = np.zeros(C)
            np.add.at(need, k.pair_c, d[k.pair_w] / (k.max_utilization * k.pair_cap_rps))
            y_ub = np.where(need > 0, np.ceil(need + 1e-9) + 1.0, 0.0)
            Y[t, s] = b.add_vars(f"y@{t}.{s}", [f"y[{c}]@{t}.{s}" for c in range(C)], 0.0, y_ub,
                                 integer=True)
            X[t, s] = b.add_vars(f"x@{t}.{s}", [f"x[{k.workloads[w]},{c}]@{t}.{s}"
                                                for w, c in zip(k.pair_w, k.pair_c)],
                                 0.0, d[k.pair_w], integer=False)
            if len(sc):
                SP[t, s, sc] = b.add_vars(f"s@{t}.{s}", [f"s[{c}]@{t}.{s}" for c in sc], 0.0, 1.0,
                                          integer=True)
    return PeriodVars(Y, X, SP, NF, NE, B, Z, R, MV)


def _retire_coef(spec: PeriodSpec, o: int) -> np.ndarray:
    """(T,) objective coefficient of retiring one device of existing offer o at t."""
    T = spec.n_periods
    disc = spec.discount
    val = spec.resale_usd_per_device[o]
    return np.array([disc[t] * (spec.retire_usd_per_device - val[t]) + disc[T] * val[T]
                     for t in range(T)])


def _rename_rows(b: ModelBuilder, start: int, suffix: str) -> None:
    """Suffix the names of rows added since ``start`` (per-slice copies of single-period rows)."""
    names = b._row_names  # noqa: SLF001 - the builder is ours; names are only labels
    for i in range(start, len(names)):
        names[i] = names[i] + suffix


def slice_rows(b: ModelBuilder, k: Coefficients, spec: PeriodSpec, v: PeriodVars) -> None:
    """Every single-period serving constraint, once per (period, slice)."""
    for t in range(spec.n_periods):
        for s in range(spec.n_slices):
            kt = slice_coefficients(k, spec, t, s)
            vt = F.Vars(v.Y[t, s], v.n_view(t, s), v.X[t, s], v.SP[t, s][v.SP[t, s] >= 0],
                        v.SP[t, s])
            start = b.n_rows
            F.demand_served(b, kt, vt)
            F.capacity_replica(b, kt, vt)
            F.capacity_small_route(b, kt, vt)
            F.capacity_offer_units(b, kt, vt)
            F.quality_mean(b, kt, vt)
            F.caps_availability(b, kt, vt)
            F.caps_power(b, kt, vt)
            F.caps_spot_share(b, kt, vt)
            F.redundancy_spare(b, kt, vt)
            F.cuts_workload_cover(b, kt, vt)
            _rename_rows(b, start, f"@{t}.{s}")


def stock_purchase(b: ModelBuilder, k: Coefficients, spec: PeriodSpec, v: PeriodVars) -> None:
    """n[o,t] - sum_{tau <= t - lead} b[o,tau] = 0."""
    for o in np.flatnonzero(spec.kind(k) == "purchase"):
        for t in range(spec.n_periods):
            arrived = [v.B[tau, o] for tau in range(t - int(spec.lead_periods[o]) + 1) if v.B[tau, o] >= 0]
            b.add_rows("stock.purchase", np.zeros(1 + len(arrived)), [v.NF[t, o]] + arrived,
                       [1.0] + [-1.0] * len(arrived), "=", [0.0], [f"{k.offers[o].key}@{t}"])


def stock_reserved(b: ModelBuilder, k: Coefficients, spec: PeriodSpec, v: PeriodVars) -> None:
    """n[o,t] - sum_{t-L < tau <= t} z[o,tau] = 0."""
    for o in np.flatnonzero(spec.kind(k) == "reserved"):
        L = int(spec.term_periods[o])
        for t in range(spec.n_periods):
            act = [v.Z[tau, o] for tau in range(max(0, t - L + 1), t + 1)]
            b.add_rows("stock.reserved", np.zeros(1 + len(act)), [v.NF[t, o]] + act,
                       [1.0] + [-1.0] * len(act), "=", [0.0], [f"{k.offers[o].key}@{t}"])


def stock_existing(b: ModelBuilder, k: Coefficients, spec: PeriodSpec, v: PeriodVars) -> None:
    """n[o,t] + sum_{tau <= t} (r[o,tau] + moved out[o,tau] - moved in[o,tau]) <= M_o."""
    for o in np.flatnonzero(spec.kind(k) == "existing"):
        out = [i for i, (o1, _) in enumerate(spec.moves) if o1 == o]
        inn = [i for i, (_, o2) in enumerate(spec.moves) if o2 == o]
        for t in range(spec.n_periods):
            cols = [v.NF[t, o]] + [v.R[tau, o] for tau in range(t + 1) if v.R[tau, o] >= 0]
            vals = [1.0] * len(cols)
            for tau in range(t + 1):
                cols += [v.MV[tau, i] for i in out] + [v.MV[tau, i] for i in inn]
                vals += [1.0] * len(out) + [-1.0] * len(inn)
            b.add_rows("stock.existing", np.zeros(len(cols)), cols, vals, "<",
                       [float(k.offers[o].max_units or 0)], [f"{k.offers[o].key}@{t}"])


def _hourly_parts(k: Coefficients, spec: PeriodSpec, o: int, kind: str) -> tuple[list, list]:
    """(parts paid per unit in service per hour, parts paid on the decision) of offer o.  A server's
    maintenance (a fraction of its price) is paid on the order where its purchase price changes over
    the periods: each order at its own period's price."""
    rates = dict(k.offers[o].usd_per_device_hour)
    priced = np.any(spec.prices()[o] != 1.0)
    on_decision = {"reserved": [p for p in rates if p.startswith("rental_reserved")],
                   "purchase": [p for p in rates if p == "purchase_amortisation" or (p == "maintenance" and priced)]
                   }.get(kind, [])
    return [p for p in rates if p not in on_decision], on_decision


def _service_hours(spec: PeriodSpec, o: int, part: str, ordered: int, t: int) -> float:
    """Hours in period t that a server of offer o ordered in ``ordered`` pays ``part`` for: its
    depreciation stops when its useful life ends, its maintenance goes on while in service."""
    h, lead = spec.period_hours, int(spec.lead_periods[o])
    if t < ordered + lead:
        return 0.0
    if part != "purchase_amortisation":
        return h
    return min(h, max(0.0, spec.life_hours[o] - (t - ordered - lead) * h))


def objective(b: ModelBuilder, k: Coefficients, spec: PeriodSpec, v: PeriodVars) -> None:
    """The discounted objective of the module docstring, by named part."""
    T, S, h = spec.n_periods, spec.n_slices, spec.period_hours
    disc, w = spec.discount, spec.slice_weight
    kind = spec.kind(k)
    pf, ef = spec.prices(), spec.energy_prices()
    for o, off in enumerate(k.offers):
        g = off.devices_per_unit
        rates = dict(off.usd_per_device_hour)
        per_unit, on_decision = _hourly_parts(k, spec, o, kind[o])
        for part in per_unit:
            if kind[o] == "elastic":      # a rental at the price of the period it serves
                cols = v.NE[:, :, o].ravel()
                vals = (rates[part] * g * h * (disc[:T] * pf[o])[:, None] * w[None, :]).ravel()
            else:
                cols, vals = v.NF[:, o], rates[part] * g * h * disc[:T]
            b.add_objective(part, cols, vals)
        for part in on_decision:
            if kind[o] == "reserved":     # the whole term at the rate of its start period
                pay = spec.pay_hours(o)
                vals = np.array([disc[t:t + len(pay)] @ pay * pf[o, t] for t in range(T)]) * rates[part] * g
                b.add_objective(part, v.Z[:, o], vals)
            else:                         # an order at the price of its period
                ts = np.flatnonzero(v.B[:, o] >= 0)
                vals = [rates[part] * g * pf[o, t] * sum(disc[t2] * _service_hours(spec, o, part, t, t2)
                                                         for t2 in range(t, T)) for t in ts]
                if len(ts):
                    b.add_objective(part, v.B[ts, o], vals)
        if kind[o] == "existing":
            ts = np.flatnonzero(v.R[:, o] >= 0)
            if len(ts):
                b.add_objective("retirement", v.R[ts, o], _retire_coef(spec, o)[ts])
    if spec.moves:
        b.add_objective("moves", v.MV.ravel(),
                        np.repeat(disc[:T] * spec.move_usd_per_device, len(spec.moves)))
    e_h = k.energy_usd_per_w() / k.hours if k.hours > 0 else np.zeros(k.n_o)
    c_h = k.carbon_usd_per_w() / k.hours if k.hours > 0 else np.zeros(k.n_o)
    for t in range(T):
        for s in range(S):
            cols, watts, off = power_terms_ts(k, spec, v, t, s)
            f = h * w[s] * disc[t]
            if np.any(e_h):
                b.add_objective("energy", cols, watts * e_h[off] * f * ef[t])
            if np.any(c_h):
                b.add_objective("carbon", cols, watts * c_h[off] * f)


def power_terms_ts(k: Coefficients, spec: PeriodSpec, v: PeriodVars, t: int, s: int):
    """(columns, watts, offer) of the IT power of slice (t, s) (actual load, lf = 1)."""
    kt = slice_coefficients(k, spec, t, s)
    return F.power_terms_w(kt, F.Vars(v.Y[t, s], v.n_view(t, s), v.X[t, s], np.zeros(0, np.int64),
                                      v.SP[t, s]))


def accrual_terms(k: Coefficients, spec: PeriodSpec, v: PeriodVars, t: int) -> dict:
    """Undiscounted cost of period t by part as {part: (cols, vals)}: what the period pays.

    Reservations are charged the hours they pay in t (a whole period while they serve,
    the rest of a term that ends within a period in that period) and owned servers for
    the period they are in service (their hourly rate incl. amortisation), not on the
    decision: this is the per-period view used by budgets and reports.  A server's depreciation stops when
    its useful life ends (as in the objective); its upkeep goes on while in service.
    """
    S, h, w = spec.n_slices, spec.period_hours, spec.slice_weight
    kind = spec.kind(k)
    pf = spec.prices()
    out: dict = {}

    def add(part, cols, vals):
        c0, v0 = out.get(part, (np.zeros(0, np.int64), np.zeros(0)))
        out[part] = (np.concatenate([c0, np.asarray(cols, np.int64)]),
                     np.concatenate([v0, np.asarray(vals, float)]))

    for o, off in enumerate(k.offers):
        g = off.devices_per_unit
        on_decision = _hourly_parts(k, spec, o, kind[o])[1]
        for part, rate in off.usd_per_device_hour:
            if kind[o] == "elastic":
                add(part, v.NE[t, :, o], rate * g * h * w * pf[o, t])
            elif kind[o] == "reserved" and part in on_decision:
                # what the contracts started in t - j pay in t (the last may pay past what it serves),
                # each at its start period's rate
                pay = spec.pay_hours(o)
                taus = [t - j for j in range(len(pay)) if t - j >= 0]
                add(part, v.Z[taus, o], [rate * g * pay[t - tau] * pf[o, tau] for tau in taus])
            elif kind[o] == "purchase" and part in on_decision:
                # depreciated (or maintained) hours in t of each order placed in tau (in service from
                # tau + lead), at tau's price
                taus = [tau for tau in range(t - int(spec.lead_periods[o]) + 1) if v.B[tau, o] >= 0]
                add(part, v.B[taus, o], [rate * g * pf[o, tau] * _service_hours(spec, o, part, tau, t)
                                         for tau in taus])
            else:
                add(part, [v.NF[t, o]], [rate * g * h])
    e_h = k.energy_usd_per_w() / k.hours if k.hours > 0 else np.zeros(k.n_o)
    c_h = k.carbon_usd_per_w() / k.hours if k.hours > 0 else np.zeros(k.n_o)
    ef = spec.energy_prices()[t]
    for s in range(S):
        cols, watts, off = power_terms_ts(k, spec, v, t, s)
        add("energy", cols, watts * e_h[off] * h * w[s] * ef)
        add("carbon", cols, watts * c_h[off] * h * w[s])
    return out


def caps_budget(b: ModelBuilder, k: Coefficients, spec: PeriodSpec, v: PeriodVars) -> None:
    """accrual(t) / months <= max_usd_per_month for every period."""
    if k.max_usd_per_month is None:
        return
    for t in range(spec.n_periods):
        terms = accrual_terms(k, spec, v, t)
        cols = np.concatenate([c for c, _ in terms.values()])
        vals = np.concatenate([x for _, x in terms.values()]) / spec.months
        keep = vals != 0
        start = b.n_rows
        b.add_rows("caps.budget", np.zeros(int(keep.sum())), cols[keep], vals[keep], "<",
                   [k.max_usd_per_month], ["usd_per_month"])
        # 'caps.budget[usd_per_month]@t': copies of one limit, as the per-slice rows are named,
        # so that an elastic solve relaxes the one budget figure the user can change
        _rename_rows(b, start, f"@{t}")


def caps_capex(b: ModelBuilder, k: Coefficients, spec: PeriodSpec, v: PeriodVars) -> None:
    """sum price[o,t] g b[o,t] <= max_capex_usd (each order at its period's price)."""
    if k.max_capex_usd is None:
        return
    pf = spec.prices()
    cols, vals = [], []
    for o, off in enumerate(k.offers):
        ts = np.flatnonzero(v.B[:, o] >= 0)
        if spec.capex_usd_per_device[o] > 0 and len(ts):
            cols += list(v.B[ts, o])
            vals += list(spec.capex_usd_per_device[o] * off.devices_per_unit * pf[o, ts])
    if cols:
        b.add_rows("caps.capex", np.zeros(len(cols)), cols, vals, "<", [k.max_capex_usd], ["usd"])


def caps_capex_period(b: ModelBuilder, k: Coefficients, spec: PeriodSpec, v: PeriodVars) -> None:
    """sum_o price[o,t] g b[o,t] <= max_capex_usd_by_period[t], one row per period (label: the period)."""
    if spec.capex_usd_by_period is None:
        return
    pf = spec.prices()
    for t in range(spec.n_periods):
        buy = [o for o in range(k.n_o) if v.B[t, o] >= 0 and spec.capex_usd_per_device[o] > 0]
        if buy:
            b.add_rows("caps.capex_period", np.zeros(len(buy)), v.B[t, buy],
                       [spec.capex_usd_per_device[o] * k.offers[o].devices_per_unit * pf[o, t] for o in buy], "<",
                       [float(spec.capex_usd_by_period[t])], [str(t)])


@dataclass(frozen=True)
class Previous:
    """What re-optimisation keeps from an earlier plan of the same horizon (same period 0).

    ``decisions``: {(decision, offer key, t): units}; ``n_periods``: periods that plan covers (a
    new problem may look further ahead: its later periods have no earlier decision to keep);
    ``executed``: leading periods whose decisions have been carried out, fixed in the new model.
    """

    decisions: dict
    n_periods: int
    executed: int = 1
    #: the plan's file (or the argument that passed it), for errors
    source: Optional[str] = None

    def get(self, key: tuple, default: float = 0.0) -> float:
        return self.decisions.get(key, default)


#: decision kinds that re-optimisation compares with the previous plan
DECISIONS = (("buy", "B"), ("reserve", "Z"), ("retire", "R"))


def change_rows(b: ModelBuilder, k: Coefficients, spec: PeriodSpec, v: PeriodVars,
                previous: Previous) -> None:
    """Price deviations from ``previous`` in the periods after the executed ones (those are fixed
    in :func:`build_period_model`) that the previous plan covers.

    v[o,t] - dp + dm = previous[o,t] with penalty x devices on dp + dm (only if penalty > 0).
    """
    pen = spec.change_penalty_usd_per_device
    later = range(previous.executed, min(spec.n_periods, previous.n_periods)) if pen > 0 else range(0)
    for dec, attr in DECISIONS:
        M = getattr(v, attr)
        for o, off in enumerate(k.offers):
            for t in later:
                col = M[t, o]
                old = float(previous.get((dec, off.key, t), 0.0))
                if col < 0:
                    if old:
                        # the old decision cannot be kept here (a purchase whose lead time now ends
                        # past the horizon): the change is certain, and priced like any other
                        one = b.add_vars(f"d[{dec},{o},{t}]", [f"unavoidable[{dec},{o}]@{t}"], 1.0, 1.0,
                                         integer=False)
                        b.add_objective("change_penalty", one, [pen * off.devices_per_unit * abs(old)])
                    continue
                dp, dm = b.add_vars(f"d[{dec},{o},{t}]", [f"dp[{dec},{o}]@{t}", f"dm[{dec},{o}]@{t}"],
                                    0.0, math.inf, integer=False)
                b.add_rows(f"change.{dec}", np.zeros(3), [col, dp, dm], [1.0, -1.0, 1.0], "=", [old],
                           [f"{off.key}@{t}"])
                b.add_objective("change_penalty", [dp, dm], [pen * off.devices_per_unit] * 2)
    for i, (o1, o2) in enumerate(spec.moves):
        key = f"{k.offers[o1].key}->{k.offers[o2].key}"
        for t in later:
            dp, dm = b.add_vars(f"d[move,{i},{t}]", [f"dp[move,{i}]@{t}", f"dm[move,{i}]@{t}"], 0.0,
                                math.inf, integer=False)
            b.add_rows("change.move", np.zeros(3), [v.MV[t, i], dp, dm], [1.0, -1.0, 1.0], "=",
                       [float(previous.get(("move", key, t), 0.0))], [f"{key}@{t}"])
            b.add_objective("change_penalty", [dp, dm], [pen, pen])


def build_period_model(k: Coefficients, spec: PeriodSpec, previous: Optional[Previous] = None
                       ) -> tuple[LinearModel, PeriodVars]:
    """The whole multi-period MIP (module docstring)."""
    b = ModelBuilder()
    v = add_period_variables(b, k, spec, previous)
    slice_rows(b, k, spec, v)
    stock_purchase(b, k, spec, v)
    stock_reserved(b, k, spec, v)
    stock_existing(b, k, spec, v)
    if previous is not None:
        change_rows(b, k, spec, v, previous)
    objective(b, k, spec, v)
    caps_budget(b, k, spec, v)
    caps_capex(b, k, spec, v)
    caps_capex_period(b, k, spec, v)
    model = b.build()
    if previous is not None:
        lost = []
        for t in range(previous.executed):
            for i, (o1, o2) in enumerate(spec.moves):
                val = float(previous.get(("move", f"{k.offers[o1].key}->{k.offers[o2].key}", t), 0.0))
                model.lb[v.MV[t, i]] = model.ub[v.MV[t, i]] = val
            for dec, attr in DECISIONS:
                M = getattr(v, attr)
                for o, off in enumerate(k.offers):
                    col = M[t, o]
                    val = float(previous.get((dec, off.key, t), 0.0))
                    if col >= 0:
                        model.lb[col] = model.ub[col] = val
                    elif val:
                        lost.append(f"{dec} {val:g} x {off.key} in period {t}")
        if lost:
            # executed decisions this model cannot express (a purchase whose lead time now ends past
            # the horizon): dropping them silently would plan as if they had not happened
            raise InputError(InputIssue(
                f"the previous plan's executed decisions cannot be kept in this problem: {', '.join(lost)}",
                file=previous.source, path="periods.timeline",
                hint="keep the previous plan's horizon and lead times when re-optimising"))
    model.blocks.update({"Y": v.Y, "X": v.X, "SP": v.SP, "NF": v.NF, "NE": v.NE, "B": v.B,
                         "Z": v.Z, "R": v.R, "MV": v.MV})
    return model, v
