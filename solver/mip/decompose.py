r"""Large multi-period plans: a bound from one model per period, a plan from a restricted master.

The multi-period MIP (:mod:`solver.mip.periods`) of a large instance (benchmark
rung XL: 8 quarters of rung L, ~2 M variables) is beyond any solver handed the
whole model.  Its periods are linked only by the hardware timeline (purchases
accumulate after a lead time, reservations run a term); relax those links and
it falls apart into one single-period model per period, each of the size the
column-generation solve of :mod:`solver.mip.reduced` handles.

Period relaxation P_t (applies when every period is one slice - ``within_period:
peak`` or flat profiles - with no owned devices, moves or previous plan, and
purchased hardware outlives the horizon):

    P_t = the single-period model (:func:`solver.mip.formulation.build_model`) with
          demand D[., t], horizon h (one period), every hardware cost paid per unit
          *in service in t* (reserved units at alpha_o times their hourly rate;
          purchased units at amortisation + upkeep), purchases unavailable before
          their lead time, all costs x disc_t, the power and availability limits at
          period t's figure where they are given per period, and the capex caps (the
          horizon's, and the per-period ones) dropped.  Where prices change per period
          (pi_o(tau) = (1 + r)^tau, :mod:`solver.mip.periods`), P_t charges each hourly
          part but hosting at the multiplier m_o(t) (:func:`period_prices`): a rental's
          pi_o(t); a unit reserved or bought, the cheapest price it may have been
          obtained at - min pi_o(tau) over the starts t - L_o < tau <= t of a
          reservation in service in t, over the orders tau <= t - lead_o of a server
          in service in t; and electricity at epsilon(t).

    alpha_o = min over starts tau < T of  cost of one reservation started in tau (at pi_o(tau))
              / (rate g h sum of disc_t over the periods t it serves within the horizon)

Any multi-period plan, restricted to period t, is feasible for P_t: the
per-(period, slice) rows of the two models are the same functions of the same
coefficients (period t's limits included), the per-period budget row is the same
accrual at the hourly rate, where each unit's coefficient in P_t is at most the
multi-period row's (a unit in service in t was reserved or ordered at some admissible
tau, whose pi_o(tau) >= m_o(t); rentals and energy at t's own prices), and units in
service are units in service.  Its cost splits into
per-period shares that are at least P_t's objective: a reservation started in
tau costs its whole term, at least alpha_o disc_t rate g h for each period t it
serves within the horizon (a 3-year term in an 8-quarter horizon: alpha 1.5, as
it serves 8 quarters at most and pays 12; with changing prices alpha_o is the least
such ratio over every start, each at its own price); a purchase ordered in tau costs
amortisation (and, where its price changes, maintenance) pi_o(tau) g h disc_t for each
period t in service (straight-line, life >= horizon), at least m_o(t) of it as
tau <= t - lead_o; the rest is per period already (rentals and energy at period t's
price).  Hence

    OPT >= sum_t OPT(P_t) >= sum_t LB_t,

with LB_t the proven bound of each P_t (:func:`solver.mip.reduced.solve_reduced`).  The P_t share
their columns and differ in demand by a few percent: each starts from the plan of the nearest finished
period with the same offers (fitted to its demand) and its column generation from the nearest finished
period's last master (2-6 rounds instead of ~30 on XL).

Plan: the P_t plans stitched into a multi-period solution (purchased units
n[o,t] = max_{tau <= t} of P_tau's, ordered ``lead`` periods earlier;
reservations cover each period's need greedily, from the first uncovered
period, for their whole term; rentals, replicas and routes as in P_t), then the
multi-period MIP restricted to the deployments any P_t uses (model, format, TP,
accelerator, region) on every offer, every period, started from the best plan so
far: it decides again what to buy when, reserve or rent.  Models small enough for HiGHS whole
(``WHOLE_MODEL_MAX_VARS``) then get the whole model with the time left, whose
dual bound raises the bound.  Larger ones first get a neighbourhood search over the
timeline (:func:`timeline_search`: one region's or one accelerator's offers decided
again in every period, the rest of the plan fixed, one small MIP at a time), then
a second pass over the periods with the largest absolute gap (started from their
plans, all of it on the proof), as the bound is what limits the gap there.  The reported gap (plan - bound) / plan is a proof for the
full model.

Where the relaxation does not apply (owned devices, a previous plan, several slices per period)
and the model is larger than HiGHS takes whole, :func:`solve_restricted` gives a plan without a
bound: the multi-period MIP on the deployments of single-period plans at each workload's peak
demand (one per set of periods with the same offers), on every offer of them, the owned devices
and the decisions a previous plan fixed.  What the relaxation gives away (buying for a later peak, a
reservation's unused quarters) is part of that gap: where it is large, the
status is ``time_limit`` although the periods finished early.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Optional

import numpy as np

from solver.coefficients import Coefficients
from solver.mip.formulation import build_model
from solver.mip import stop
from solver.mip.highspy_backend import run_mip
from solver.mip.model import LinearModel
from solver.mip.periods import PeriodVars, slice_coefficients
from solver.mip.reduced import ReducedStats, candidate_columns, round_up, solve_reduced, submodel
from solver.mip.status import ERROR, INFEASIBLE, OPTIMAL, TIME_LIMIT, SolveResult
from solver.periods import PeriodSpec
from solver.progress import money

log = logging.getLogger(__name__)

NAME, SOLVER = "highspy", "reduced"

#: up to this many variables the last phase hands HiGHS the whole multi-period model (started from
#: the best plan; its dual bound then counts); larger models get the restricted master only, as
#: HiGHS overruns its time limit in presolve on models of rung L's size (benchmarks/scale/RESULTS.md)
WHOLE_MODEL_MAX_VARS = 100_000

#: share of a period's time its first-plan search gets when no finished neighbour seeds it
UNSEEDED_INCUMBENT_SHARE = 0.5
#: ... and when a neighbour's plan seeds it (and for the peak-demand heuristic): the share the XL and
#: M-8Q figures were measured with (the single-period default is reduced.INCUMBENT_SHARE)
SEEDED_INCUMBENT_SHARE = 0.25


def not_decomposable(k: Coefficients, spec: PeriodSpec, previous: Optional[dict] = None) -> Optional[str]:
    """Why the period relaxation does not apply (module docstring), or None when it does."""
    kind = spec.kind(k)
    if spec.n_slices != 1:
        return f"{spec.n_slices} slices per period (the relaxation needs one: within_period: peak)"
    if previous is not None:
        return "re-optimisation from a previous plan"
    if np.any(kind == "existing") or spec.moves:
        return "owned devices"
    horizon_h = spec.n_periods * spec.period_hours
    short = [k.offers[o].key for o in np.flatnonzero(kind == "purchase") if spec.life_hours[o] < horizon_h]
    if short:
        return f"purchases whose useful life ends within the horizon ({', '.join(short[:3])})"
    return None


def period_prices(k: Coefficients, spec: PeriodSpec, t: int) -> np.ndarray:
    """(O + 1,) the multipliers of the prices P_t charges (module docstring): each offer's - a rental
    at period t's, a reserved or purchased unit in service in t at the cheapest of the periods it may
    have been reserved (t - L < tau <= t) or ordered (tau <= t - lead) in, an owned one at 1 - and,
    last, electricity's in t."""
    pf = spec.prices()
    kind = spec.kind(k)
    out = pf[:, t].copy()
    for o in np.flatnonzero(kind == "reserved"):
        out[o] = pf[o, max(0, t - int(spec.term_periods[o]) + 1):t + 1].min()
    for o in np.flatnonzero(kind == "purchase"):
        out[o] = pf[o, :max(0, t - int(spec.lead_periods[o])) + 1].min()
    return np.append(out, spec.energy_prices()[t])


def period_model(k: Coefficients, spec: PeriodSpec, t: int) -> LinearModel:
    """P_t of the module docstring: a relaxation of period t's share of the multi-period MIP."""
    kt = slice_coefficients(k, spec, t, 0)
    price = period_prices(k, spec, t)
    # every hourly part at the period's price but hosting (a rate per device-hour, not a price share)
    kt = replace(kt, hours=spec.period_hours, max_capex_usd=None,
                 offers=[replace(o, min_billed_hours=0.0, electricity_usd_per_kwh=o.electricity_usd_per_kwh * price[-1],
                                 usd_per_device_hour=tuple((part, rate * (1.0 if part == "hosting" else price[i]))
                                                           for part, rate in o.usd_per_device_hour))
                         for i, o in enumerate(kt.offers)])
    m = build_model(kt)
    kind = spec.kind(k)
    late = np.flatnonzero((kind == "purchase") & (spec.lead_periods > t))
    m.ub[m.blocks["n"][late]] = 0.0
    f = float(spec.discount[t])
    m.obj = m.obj * f
    m.obj_parts = {p: vec * f for p, vec in m.obj_parts.items()}
    m.obj_const *= f
    # a reserved unit in service costs at least its term's share (after the budget row was built
    # from the hourly rate at the cheapest start's price: the budget accrues at least that in the
    # multi-period model too)
    n_col = m.blocks["n"]
    for o in np.flatnonzero(kind == "reserved"):
        extra = reservation_share(spec, o) / price[o] - 1.0
        for part, vec in m.obj_parts.items():
            if part.startswith("rental_reserved") and vec[n_col[o]]:
                m.obj[n_col[o]] += extra * vec[n_col[o]]
                vec[n_col[o]] *= 1.0 + extra
    return m


def reservation_ratio(spec: PeriodSpec, o: int, tau: int) -> float:
    """What a reservation of offer o started in period tau costs (its whole term, at tau's price) over
    its base hourly rate for the periods it serves within the horizon (at least tau's price multiplier:
    a term pays at least those periods)."""
    T, h, disc = spec.n_periods, spec.period_hours, spec.discount
    pay = spec.pay_hours(o)
    L = int(spec.term_periods[o])
    return float(spec.prices()[o, tau]) * max(
        1.0, float((disc[tau:tau + len(pay)] @ pay) / (h * disc[tau:min(tau + L, T)].sum())))


def reservation_share(spec: PeriodSpec, o: int) -> float:
    """alpha_o of the module docstring: the least :func:`reservation_ratio` over every start in the
    horizon (a relaxation must not know when a unit in service was reserved)."""
    return min(reservation_ratio(spec, o, tau) for tau in range(spec.n_periods))


def priced_from_start(spec: PeriodSpec, k: Coefficients, m: LinearModel, t: int) -> LinearModel:
    """P_t (:func:`period_model`) with a reserved unit at the ratio of a term started in t instead of
    alpha_o: a heuristic price for plans built period by period (a term started in the last quarters
    serves only those; QA: a rolling plan reserved 3-year terms in quarters 10-11 of 12 at alpha = 1,
    3.3-4.1 M a quarter once stitched), never for a bound."""
    obj = m.obj.copy()
    n_col = m.blocks["n"]
    for o in np.flatnonzero(spec.kind(k) == "reserved"):
        f = reservation_ratio(spec, o, t) / reservation_share(spec, o) - 1.0
        for part, vec in m.obj_parts.items():
            if part.startswith("rental_reserved") and f:
                obj[n_col[o]] += f * vec[n_col[o]]
    return replace(m, obj=obj)


def same_offers(spec: PeriodSpec, u: int, t: int) -> bool:
    """Whether periods u and t have the same offers (purchases arrive after their lead time)."""
    return bool(np.array_equal(spec.lead_periods > u, spec.lead_periods > t))


def monotone_bounds(spec: PeriodSpec, models: list, bounds: list, prices: Optional[list] = None) -> list:
    """Period bounds raised by monotonicity in demand.

    Where period u has the same offers as t, no more demand of any workload, no tighter power or
    availability limit (limits given per period) and no dearer price (prices that change per period),
    and every cost coefficient is non-negative,
    OPT(P_t) / disc_t >= OPT(P_u) / disc_u: a plan of P_t with each
    workload's routes scaled down to u's demand, and replicas and units cut to what that needs
    (never more than before, so within P_u's bounds), is a plan of P_u that costs no more
    undiscounted (the rows are the same functions of demand, the budget row's coefficients no larger;
    caps only see fewer units).
    Hence LB_t >= LB_u disc_t / disc_u.  This gives a bound to a period whose own solve ran
    out of time before its LP converged (its bound is then L(0), often 0).

    ``prices``: each P_t's price multipliers (:func:`period_prices`); where prices change and they are
    not given, no bound is lent.
    """
    D = spec.demand_rps[:, :, 0]
    out = list(bounds)
    for t in range(len(models)):
        if np.any(models[t].obj < 0) or models[t].obj_const < 0:
            continue
        for u in range(len(models)):
            if (u != t and same_offers(spec, u, t) and np.all(D[:, u] <= D[:, t]) and looser_limits(spec, u, t)
                    and no_dearer(spec, prices, u, t)):
                out[t] = max(out[t], bounds[u] * float(spec.discount[t] / spec.discount[u]))
    return out


def looser_limits(spec: PeriodSpec, u: int, t: int) -> bool:
    """Whether every power and availability limit given per period is at least as large in u as in t
    (a plan of t cut down to u's demand then keeps u's limits)."""
    return all(lim[u] >= lim[t] for lim in (*spec.power_kw_by_period.values(),
                                             *spec.availability_by_period.values()))


def no_dearer(spec: PeriodSpec, prices: Optional[list], u: int, t: int) -> bool:
    """Whether P_u charges no price above P_t's (``prices``: :func:`period_prices` per period; a reserved
    unit's objective share alpha_o is the same in every period, its budget row at the period's price)."""
    if not spec.price_change:
        return True
    return prices is not None and bool(np.all(prices[u] <= prices[t]))


def fitted(to: LinearModel, frm: LinearModel, values: np.ndarray) -> Optional[np.ndarray]:
    """A plan of period model ``frm`` fitted to the demand of ``to`` (routes scaled, replicas and
    units re-sized: :func:`solver.mip.reduced.round_up`), or None if it breaks a row of ``to``."""
    if to.n_vars != frm.n_vars or any(len(to.blocks[b]) != len(frm.blocks[b]) for b in ("y", "n", "x")):
        return None
    return round_up(to, values, demand_fit=True)


def stitch(k: Coefficients, spec: PeriodSpec, model: LinearModel, v: PeriodVars,
           period_models: list, period_values: list) -> np.ndarray:
    """A full multi-period solution from one solution per period (module docstring)."""
    T = spec.n_periods
    kind = spec.kind(k)
    full = np.zeros(model.n_vars)
    need = np.zeros((T, k.n_o))
    for t, (m, val) in enumerate(zip(period_models, period_values)):
        y, n, x, s_of_c = (m.blocks[b] for b in ("y", "n", "x", "s_of_c"))
        full[v.Y[t, 0]] = np.round(val[y])
        full[v.X[t, 0]] = val[x]
        both = (s_of_c >= 0) & (v.SP[t, 0] >= 0)
        full[v.SP[t, 0][both]] = np.round(val[s_of_c[both]])
        need[t] = np.round(val[n])
        el = kind == "elastic"
        full[v.NE[t, 0, el]] = need[t, el]
    for o in np.flatnonzero(kind == "purchase"):
        have = np.maximum.accumulate(need[:, o])
        lead = int(spec.lead_periods[o])
        full[v.NF[:, o]] = have
        prev = 0.0
        for t in range(T):
            if have[t] > prev:
                full[v.B[t - lead, o]] = have[t] - prev    # have[t] > 0 only from t = lead on
            prev = have[t]
    for o in np.flatnonzero(kind == "reserved"):
        term = int(spec.term_periods[o])
        active = np.zeros(T)
        for t in range(T):
            short = need[t, o] - active[t]
            if short > 0:
                full[v.Z[t, o]] = short
                active[t:t + term] += short
        full[v.NF[:, o]] = active
    return full


def rolling_plans(k: Coefficients, spec: PeriodSpec, period_models: list, used_c: np.ndarray,
                  time_limit_s: float, mip_gap: float, threads: Optional[int],
                  backward: bool = False, own: Optional[list] = None) -> Optional[list]:
    """Per-period plans on the candidates ``used_c`` that never sell what was bought.

    Forward (t = 0, 1, ...): P_t with purchased units at least those in service before and
    reserved units at least those still under an earlier term.  Backward (t = T-1, T-2, ...):
    P_t with purchased units at most those of period t + 1 (earlier periods use part of the
    later fleet, rent the rest) - the better of the two when demand grows, as forward plans
    buy the cheapest increment each period and pile up small servers.  Stitched
    (:func:`stitch`) they give a plan without the duplicate purchases of independent
    per-period plans that chose different hardware.  None if a period finds no plan.

    Each P_t prices a reservation as one started in t (:func:`priced_from_start`).  Each period's MIP
    starts from the previous rolled period's plan fitted to it, else from ``own[t]`` (the period's own
    plan) where either keeps within the rolled bounds, so a period short of time keeps a plan.
    """
    t0 = time.perf_counter()
    T = spec.n_periods
    kind = spec.kind(k)
    pur = kind == "purchase"
    res = kind == "reserved"
    have = np.zeros(k.n_o)                 # forward: purchased so far; backward: the later fleet
    active = np.zeros((T + int(spec.term_periods.max(initial=0)) + 1, k.n_o))
    out: list = [None] * T
    order = range(T - 1, -1, -1) if backward else range(T)
    for i, t in enumerate(order):
        m = priced_from_start(spec, k, period_models[t], t)
        cols = candidate_columns(m, used_c.copy(), m.blocks["pair_c"], m.blocks["cand_offer"])
        sub = submodel(m, cols)
        pos = np.full(m.n_vars, -1, np.int64)
        pos[cols] = np.arange(len(cols))
        n_sub = pos[m.blocks["n"]]
        if backward:
            if i > 0:
                cap = pur & (n_sub >= 0)
                sub.ub[n_sub[cap]] = np.minimum(sub.ub[n_sub[cap]], have[cap])
        else:
            floor = np.where(pur, have, np.where(res, active[t], 0.0))
            need = floor > 0
            if np.any(need & (n_sub < 0)):
                return None
            sub.lb[n_sub[need]] = np.maximum(sub.lb[n_sub[need]], floor[need])
        if np.any(sub.lb > sub.ub):
            return None
        left = time_limit_s - (time.perf_counter() - t0)
        # the previous period's rolled plan fitted to this one as a start: a plan HiGHS keeps however
        # short its time (XL, s22: with 0.5 s a rolling period, demand-5's rolling plans cost 3.59 M and
        # 6.66 M against a stitched 1.72 M)
        # (else the period's own plan, where it keeps within the rolled bounds: always in the first)
        start = None
        outside = np.ones(m.n_vars, bool)
        outside[cols] = False
        tries = ([fitted(m, period_models[order[i - 1]], out[order[i - 1]])] if i > 0 else []) + \
            ([own[t]] if own is not None else [])
        for cand in tries:
            if cand is not None and not np.any(np.abs(cand[outside]) > 1e-9) \
                    and np.all(cand[cols] >= sub.lb - 1e-9) and np.all(cand[cols] <= sub.ub + 1e-9):
                start = cand[cols]
                break
        val, _, _ = run_mip(sub, max(left / (T - i), 0.5), mip_gap, threads, start=start)
        if val is None:
            return None
        full = np.zeros(m.n_vars)
        full[cols] = val
        n_t = np.round(full[m.blocks["n"]])
        if backward:
            have = np.where(pur, n_t, 0.0)
        else:
            have = np.where(pur, np.maximum(have, n_t), have)
            new = np.where(res, np.maximum(n_t - active[t], 0.0), 0.0)
            for o in np.flatnonzero(new > 0):
                active[t:t + int(spec.term_periods[o]), o] += new[o]
        out[t] = full
    return out


def in_blocks(model: LinearModel, v: PeriodVars) -> np.ndarray:
    """Per column of the multi-period model: whether it is one of the plan's blocks (replicas, routes,
    spares, units, purchases, reservations, retirements, moves); the others are auxiliary (deviations)."""
    listed = np.zeros(model.n_vars, bool)
    for M in (v.Y, v.X, v.SP, v.NF, v.NE, v.B, v.Z, v.R, v.MV):
        listed[M[M >= 0]] = True
    return listed


def lifted(model: LinearModel, cols: np.ndarray, v_sub: np.ndarray) -> np.ndarray:
    """A submodel's solution on ``cols`` as a full-length one (integers rounded)."""
    out = np.zeros(model.n_vars)
    out[cols] = v_sub
    out[model.is_int] = np.round(out[model.is_int])
    return out


def offer_columns(k: Coefficients, v: PeriodVars, offers: np.ndarray, cands: np.ndarray,
                  routes: bool = True) -> np.ndarray:
    """Columns of the multi-period model, every period and slice, of the offers ``offers`` (units,
    purchases, reservations, retirements) and the candidates ``cands`` (replicas, spares and, with
    ``routes``, their routes): what restricting a model to, or freeing, some hardware touches."""
    cols = [v.Y[:, :, cands].ravel(), v.SP[:, :, cands].ravel()]
    if routes:
        cols.append(v.X[:, :, cands[k.pair_c]].ravel())
    for M in (v.NF[:, offers], v.NE[:, :, offers], v.B[:, offers], v.Z[:, offers], v.R[:, offers]):
        cols.append(M.ravel())
    cols = np.concatenate(cols).astype(np.int64)
    return cols[cols >= 0]


def reserved_before_purchases(k: Coefficients, spec: PeriodSpec, v: PeriodVars, values: np.ndarray) -> list:
    """The (accelerator, region) pairs where the plan starts a reservation in a period before any
    purchase arrives (while some purchase arrives later in the horizon)."""
    kind = spec.kind(k)
    pur, res = kind == "purchase", np.flatnonzero(kind == "reserved")
    if not pur.any() or not len(res):
        return []
    first = min(int(spec.lead_periods[pur].min()), spec.n_periods)
    pairs = set()
    for o in res:
        z = v.Z[:first, o]
        if np.any(values[z[z >= 0]] > 0.5):
            pairs.add((k.offers[o].accelerator, k.offers[o].region))
    return sorted(pairs)


def redecide_pairs(k: Coefficients, spec: PeriodSpec, model: LinearModel, v: PeriodVars, values: np.ndarray,
                   pairs: list, wanted_c: np.ndarray, time_limit_s: float, mip_gap: float,
                   threads: Optional[int]) -> Optional[np.ndarray]:
    """``values`` with every decision on the offers of the (accelerator, region) ``pairs`` decided
    again - units, purchases, reservations, rentals, and the replicas and routes of the candidates
    ``wanted_c`` there, in every period - and every other column fixed at its value; None where
    HiGHS finds nothing (QA: a 12-quarter plan's 3-year terms started before purchases arrive,
    re-decided this way by hand, went from 2,419,011 to 1,463,885 USD)."""
    cand_offer = k.cand_offer()
    free_o = np.array([(o.accelerator, o.region) in set(pairs) for o in k.offers], bool)
    free_c = wanted_c & free_o[cand_offer]
    free = offer_columns(k, v, free_o, free_c)
    listed = in_blocks(model, v)
    fixed = np.flatnonzero(listed & (np.abs(values) > 1e-9))
    cols = np.unique(np.concatenate([free, fixed, np.flatnonzero(~listed)]))
    sub = submodel(model, cols)
    is_free = np.zeros(model.n_vars, bool)
    is_free[free] = True
    is_free[~listed] = True
    pin = ~is_free[cols]
    sub.lb[pin] = sub.ub[pin] = values[cols][pin]
    v_sub, _, _ = run_mip(sub, time_limit_s, mip_gap, threads, start=values[cols])
    return None if v_sub is None else lifted(model, cols, v_sub)


def neighbourhoods(k: Coefficients, model: LinearModel, v: PeriodVars, values: np.ndarray,
                   wanted_c: np.ndarray) -> list:
    """Offer masks for :func:`timeline_search`, dearest first: each region's offers (demand moves
    between accelerators there), then each accelerator's (demand moves between regions); only
    offers of the candidates ``wanted_c``, and only neighbourhoods the plan spends something on."""
    cand_offer = k.cand_offer()
    on = np.zeros(k.n_o, bool)
    on[cand_offer[wanted_c]] = True
    spend = np.zeros(k.n_o)
    for M in (v.NF, v.NE, v.B, v.Z, v.R):      # what the plan pays per offer, every period
        per_o = M.reshape(-1, k.n_o)
        ok = per_o >= 0
        cost = np.where(ok, model.obj[np.maximum(per_o, 0)] * values[np.maximum(per_o, 0)], 0.0)
        spend += cost.sum(axis=0)
    y = v.Y.reshape(-1, k.n_c)
    np.add.at(spend, cand_offer, (model.obj[y] * values[y]).sum(axis=0))
    region = np.array([o.region for o in k.offers])
    acc = np.array([o.accelerator for o in k.offers])
    masks = [on & (region == r) for r in sorted(set(region[on]))]
    masks += [on & (acc == a) for a in sorted(set(acc[on]))]
    masks = [m for m in masks if spend[m].sum() > 0]
    # a region with one accelerator (or an accelerator in one region) is the same neighbourhood twice
    masks = [m for i, m in enumerate(masks) if not any(np.array_equal(m, e) for e in masks[:i])]
    order = sorted(range(len(masks)), key=lambda i: (-spend[masks[i]].sum(), i))
    return [masks[i] for i in order]


def timeline_search(k: Coefficients, model: LinearModel, v: PeriodVars, values: np.ndarray,
                    cols: np.ndarray, wanted_c: np.ndarray, time_limit_s: float, mip_gap: float,
                    threads: Optional[int], accept) -> int:
    """A neighbourhood search over the multi-period plan ``values``: one region's (or accelerator's)
    offers at a time decided again in every period - units, purchases, reservations, rentals and the
    replicas on them - with routes free and every other integer column of ``cols`` (the restricted
    master's columns) fixed; ``accept(candidate)`` keeps a cheaper plan and returns the best plan so
    far.  Passes over the neighbourhoods until one pass improves nothing or the time is spent.
    Returns how many neighbourhoods improved the plan.

    Why: the restricted master hands HiGHS every integer decision at once; on the 48-workload
    8-quarter QA problem its 10 s improved the best plan from 1.69 M to 1.49 M in one run and not
    at all in another (20 s).  A small MIP with one neighbourhood free is solved in a second or two,
    and improvements add up."""
    t0 = time.perf_counter()
    cand_offer = k.cand_offer()
    listed = in_blocks(model, v)
    x_cols = np.zeros(model.n_vars, bool)
    x_cols[v.X[v.X >= 0]] = True
    improved = 0
    best = values
    while True:
        better = False
        masks = neighbourhoods(k, model, v, best, wanted_c)
        for i, free_o in enumerate(masks):
            left = time_limit_s - (time.perf_counter() - t0)
            if left <= 0.5 or stop.requested():
                return improved
            free_c = wanted_c & free_o[cand_offer]
            is_free = np.zeros(model.n_vars, bool)
            is_free[offer_columns(k, v, free_o, free_c, routes=False)] = True
            is_free |= x_cols | ~listed
            sub_cols = np.unique(np.concatenate([cols, np.flatnonzero(listed & (np.abs(best) > 1e-9))]))
            sub = submodel(model, sub_cols)
            pin = ~is_free[sub_cols]
            sub.lb[pin] = sub.ub[pin] = best[sub_cols][pin]
            # twice an even share (the dearest neighbourhoods come first and gain most), at least
            # the ~2 s HiGHS needs to improve a region's plan (1 s often found nothing at 48 workloads)
            budget = min(max(2.0 * left / (len(masks) - i), 2.0), left)
            v_sub, _, _ = run_mip(sub, budget, mip_gap, threads, start=best[sub_cols])
            if v_sub is None:
                continue
            cand = lifted(model, sub_cols, v_sub)
            before = model.objective_value(best)
            best = accept(cand)
            log.debug("timeline search: neighbourhood %d of %d (%d offers) in %.1fs: %s -> %s", i + 1,
                      len(masks), int(free_o.sum()), budget, money(before), money(model.objective_value(best)))
            if model.objective_value(best) < before * (1 - 1e-6) - 1e-6:
                improved += 1
                better = True
        if not better:
            return improved


def same_deployments(k: Coefficients, used_c: np.ndarray) -> np.ndarray:
    """``used_c`` widened to the same deployments (model, format, TP, accelerator, region) on every
    offer: a timeline decides how to obtain what a period plan uses (rent it
    before a purchase arrives, reserve it for a shorter term, buy it later).  QA: a 48-workload
    eight-quarter plan reserved 3-year terms for one quarter's need (its period plan's cheapest
    hourly rate), and the restricted master, given only that offer, could not rent it instead."""
    off = k.offers
    key = [(c.model, c.quantization, c.tensor_parallel, off[c.offer].accelerator, off[c.offer].region)
           for c in k.candidates]
    wanted = {key[c] for c in np.flatnonzero(used_c)}
    return np.array([kk in wanted for kk in key], bool)


def restricted_columns(k: Coefficients, spec: PeriodSpec, model: LinearModel, v: PeriodVars,
                       used_c: np.ndarray) -> np.ndarray:
    """Columns of the multi-period MIP over the candidates ``used_c`` (and their offers), every slice,
    plus what a plan must be able to touch whatever it serves with (none of it in a decomposable model,
    whose restricted master this also is): the owned devices' offers and their candidates
    (kept, moved or retired), the offers of decisions fixed by a previous plan, and every column
    outside the known blocks (deviation variables)."""
    kind = spec.kind(k)
    cand_offer = k.cand_offer()
    keep_o = np.zeros(k.n_o, bool)
    keep_o[cand_offer[used_c]] = True
    keep_o |= kind == "existing"
    for M in (v.B, v.Z, v.R, v.NF):          # decisions a previous plan fixed (lower bounds > 0)
        fixed = (M >= 0) & (model.lb[np.maximum(M, 0)] > 0)
        keep_o |= fixed.any(axis=0)
    keep_c = used_c | (kind[cand_offer] == "existing")
    keep_c &= keep_o[cand_offer]
    cols = [offer_columns(k, v, keep_o, keep_c)]
    if len(spec.moves):
        ok = np.array([keep_o[a] and keep_o[b] for a, b in spec.moves], bool)
        mv = v.MV[:, ok]
        cols.append(mv[mv >= 0].ravel())
    cols.append(np.flatnonzero(~in_blocks(model, v)))
    return np.unique(np.concatenate(cols).astype(np.int64))


def solve_restricted(k: Coefficients, spec: PeriodSpec, model: LinearModel, v: PeriodVars, why: str, *,
                     time_limit_s: float, mip_gap: float, threads: Optional[int] = None,
                     select_share: float = 0.3) -> Optional[SolveResult]:
    """A plan, without a bound, for a multi-period model too large for HiGHS whole where the period
    relaxation does not apply (owned devices, a previous plan, several slices per period).

    The candidates come from one single-period solve at every workload's peak demand over the
    horizon (:func:`solver.mip.reduced.solve_reduced`, a share of the time): its plan's and its LP
    relaxation's (``ReducedStats.lp_candidates``); the multi-period MIP
    restricted to them, to the owned devices and to the offers a previous plan fixed, goes to HiGHS
    with the rest.  Its plan satisfies every row of the whole model (checked); its cost has no
    proven bound, so the status is ``time_limit`` with no gap.  None where no plan came out (the
    caller then tries the whole model).  QA: a 48-workload eight-quarter plan with owned hardware,
    and every ``--existing`` re-optimisation at that size, went to HiGHS whole and had no plan
    after 147 s of a 60 s limit.
    """
    t0 = time.perf_counter()

    def left() -> float:
        return time_limit_s - (time.perf_counter() - t0)

    # one single-period plan per set of periods with the same offers (before and after purchases
    # arrive), at each workload's peak demand over those periods
    kind = spec.kind(k)
    groups: dict = {}
    for t in range(spec.n_periods):
        groups.setdefault(tuple(spec.lead_periods > t), []).append(t)
    used = np.zeros(k.n_c, bool)
    select_end = time.perf_counter() + left() * select_share
    for i, periods in enumerate(groups.values()):
        peak = spec.demand_rps[:, periods, :].max(axis=(1, 2))
        kp = replace(k, demand_rps=peak, n_plus_1=k.n_plus_1 & (peak > 0), hours=spec.period_hours,
                     max_capex_usd=None, offers=[replace(o, min_billed_hours=0.0) for o in k.offers])
        mp = build_model(kp)
        late = np.flatnonzero((kind == "purchase") & (spec.lead_periods > periods[0]))
        mp.ub[mp.blocks["n"][late]] = 0.0
        budget = max((select_end - time.perf_counter()) / (len(groups) - i), 1.0)
        rs = ReducedStats(label=f"peak demand of periods {periods[0]}-{periods[-1]}: ")
        r = solve_reduced(mp, time_limit_s=budget, mip_gap=max(mip_gap, 0.01), threads=threads,
                          incumbent_share=SEEDED_INCUMBENT_SHARE, stats=rs)
        if not r.has_plan:
            log.info("restricted heuristic: no single-period plan at the peak demand of periods %d-%d (%s)",
                     periods[0], periods[-1], r.message)
            return None
        used |= r.values[mp.blocks["y"]] > 0.5
        # and the LP's candidates: a peak plan is one of several of (nearly) the same cost, and the
        # deployments of one alone may not serve the other periods well (the shipped eight-quarter
        # example: a tie of 4 candidates instead of 10, and 678,541 instead of the optimum 624,904)
        if rs.lp_candidates is not None:
            used |= rs.lp_candidates
    used = same_deployments(k, used)
    cols = restricted_columns(k, spec, model, v, used)
    sub = submodel(model, cols)
    log.info("restricted heuristic: %d candidates from %d peak-demand plan(s); multi-period MIP on "
             "%d of %d variables", int(used.sum()), len(groups), len(cols), model.n_vars)
    v_sub, _, text = run_mip(sub, max(left(), 1.0), mip_gap, threads)
    if v_sub is None:
        log.info("restricted heuristic: %s, no plan", text)
        return None
    plan = lifted(model, cols, v_sub)
    if model.violations(plan, tol=1e-6):
        log.info("restricted heuristic: its plan breaks a row of the whole model")
        return None
    obj = model.objective_value(plan)
    return SolveResult(TIME_LIMIT, NAME, SOLVER, time.perf_counter() - t0, values=plan, objective=obj,
                       best_bound=None,
                       message=(f"restricted heuristic (no period decomposition: {why}; the whole model, "
                                f"{model.n_vars:,} variables, is beyond HiGHS in the time): "
                                f"{int(used.sum())} candidates from plans and LP relaxations at every workload's peak demand, "
                                f"multi-period MIP on {len(cols):,} variables: {text}; no proven bound"))


@dataclass
class DecompositionStats:
    """What each phase found (reported in the result message and by the scale benchmark)."""

    period_bounds: list = field(default_factory=list)
    period_objectives: list = field(default_factory=list)
    period_seconds: list = field(default_factory=list)
    period_status: list = field(default_factory=list)
    stitched: float = float("nan")
    rolling: list = field(default_factory=list)     # backward, forward
    rolling_seconds: float = 0.0
    master_candidates: int = 0
    master_vars: int = 0
    master_status: str = ""
    master_seconds: float = 0.0
    search_improved: int = 0        # neighbourhoods of the timeline search that improved the plan
    search_seconds: float = 0.0
    search_ran: bool = False
    notes: list = field(default_factory=list)

    def summary(self) -> str:
        def cost(x: float) -> str:      # NaN: a plan that breaks a row of the whole model (no cost to compare)
            return "breaks a row" if math.isnan(x) else f"{x:.6g}"
        per = ", ".join(f"{lb:.6g}/{ob:.6g} {st} {s:.1f}s" for lb, ob, st, s in
                        zip(self.period_bounds, self.period_objectives, self.period_status,
                            self.period_seconds))
        return ((stop.STOPPED_NOTE + "; " if stop.requested() else "")
                + f"period relaxation (bound/plan per period: {per}); stitched plan {cost(self.stitched)}; "
                f"rolling plans {', '.join(cost(x) for x in self.rolling)} in {self.rolling_seconds:.1f}s; "
                + (f"timeline search improved {self.search_improved} neighbourhoods in {self.search_seconds:.1f}s; "
                   if self.search_ran else "")
                + f"master on {self.master_candidates} candidates ({self.master_vars} variables) "
                f"{self.master_status} in {self.master_seconds:.1f}s"
                + ("; " + "; ".join(self.notes) if self.notes else ""))


def prove_periods(models: list, values: list, st: DecompositionStats, left, workers: int,
                   mip_gap: float, bound: float, reserve_s: float) -> float:
    """Second pass on the periods whose gap exceeds mip_gap / 2, worst (absolute gap) first:
    each starts from its plan and spends its time on the proof (``prove_only``).  Updates the
    period bounds in ``st`` and returns the new sum."""
    gaps = np.array(st.period_objectives) - np.array(st.period_bounds)
    todo = [int(t) for t in np.argsort(-gaps, kind="stable")
            if gaps[t] > mip_gap / 2 * st.period_objectives[t]][:workers]
    if not todo or left() - reserve_s < 5.0 or stop.requested():
        return bound
    budget = left() - reserve_s

    def again(t: int):
        return solve_reduced(models[t], time_limit_s=budget, mip_gap=mip_gap / 2, threads=1,
                             start=values[t], prove_only=True,
                             stats=ReducedStats(label=f"period {t} proof: "))

    with ThreadPoolExecutor(max_workers=len(todo)) as pool:
        results = list(pool.map(again, todo))
    for t, r in zip(todo, results):
        if r.best_bound is not None and r.best_bound > st.period_bounds[t]:
            bound += r.best_bound - st.period_bounds[t]
            st.period_bounds[t] = float(r.best_bound)
        if r.has_plan and r.objective < st.period_objectives[t]:
            st.period_objectives[t] = float(r.objective)
        st.notes.append(f"period {t} proved again: {r.status}, bound {st.period_bounds[t]:.6g}")
        log.info("period %d proved again: %s, bound %s", t, r.status, money(st.period_bounds[t]))
    return bound


def solve_decomposed(k: Coefficients, spec: PeriodSpec, model: LinearModel, v: PeriodVars, *,
                     time_limit_s: float, mip_gap: float, threads: Optional[int] = None,
                     period_share: float = 0.7, whole_model_max_vars: int = WHOLE_MODEL_MAX_VARS,
                     master_reserve_s: float = 10.0, search_share: float = 0.6,
                     stats: Optional[DecompositionStats] = None) -> SolveResult:
    """Per-period bounds and plans, stitched, improved by the restricted master (module docstring)."""
    t0 = time.perf_counter()
    st = stats if stats is not None else DecompositionStats()
    T = spec.n_periods

    def left() -> float:
        return time_limit_s - (time.perf_counter() - t0)

    models = [period_model(k, spec, t) for t in range(T)]
    # the periods are independent: solve them side by side (HiGHS releases the GIL), one
    # HiGHS thread each; a period starting gets its share of what is left of the period phase
    # (time a quick period does not use goes to the later ones)
    workers = max(1, min(T, threads or min(os.cpu_count() or 1, 2)))
    phase_end = time.perf_counter() + left() * period_share
    # no period gets less than half of an even share: a period starved of time has no LP bound
    floor_s = 0.5 * time_limit_s * period_share * workers / T
    started = [0]
    lock = threading.Lock()
    # a period whose offers differ from the one before (quarter 0 rents only; the first quarter a
    # purchase can arrive in) counts twice in the shares: no finished neighbour's plan seeds it, so its
    # own incumbent search is all it has (XL demand-0: quarter 0's plan was 584,647 after 10.4 s with
    # the other period on the second core, 294,213 alone)
    weight = np.array([2.0 if t == 0 or not same_offers(spec, t - 1, t) else 1.0 for t in range(T)])

    done: dict = {}         # period -> plan, for the periods finished so far
    masters: dict = {}      # period -> its column generation's last master (routing columns)

    hopeless = threading.Event()        # a period cannot be served: the others need not be solved

    def one(t: int):
        if hopeless.is_set():
            return None, 0.0
        with lock:
            waiting = T - started[0]
            started[0] += 1
            finished = sorted((u for u in done if same_offers(spec, u, t)), key=lambda u: (abs(u - t), u))
            near = min(masters, key=lambda u: (abs(u - t), u), default=None)
            routing = masters[near] if near is not None else None
        t1 = time.perf_counter()
        # (capped at the whole phase: two workers and weights 2 vs 1 could ask for 1.33 of it; review)
        share = min(1.0, min(workers, waiting) * weight[t] / weight[T - waiting:].sum())
        budget = max((phase_end - t1) * share, floor_s, 1.0)
        # the plan of the nearest finished period, fitted to this one's demand, as a first
        # incumbent: demand moves a few percent from one period to the next
        seed = next((fit for fit in (fitted(models[t], models[u], done[u]) for u in finished[:3])
                     if fit is not None), None)
        # a period no finished neighbour seeds searches for its first plan from scratch: half its time
        # goes to that search (XL on a slower VM: quarter 0's plan was the LP rounded up, twice its
        # optimum, in 5 of 10 scenarios with a quarter of 13.5 s; with half, 294,213 against 585,124)
        share = UNSEEDED_INCUMBENT_SHARE if seed is None else SEEDED_INCUMBENT_SHARE
        rs = ReducedStats(label=f"period {t}: ")
        # the nearest finished period's last master starts the column generation: the periods share
        # their columns and their demand differs by a few percent, so it converges in a few rounds
        r = solve_reduced(models[t], time_limit_s=budget, mip_gap=mip_gap / 2, threads=1,
                          start=seed, stats=rs, incumbent_share=share, routing_start=routing)
        if r.status == INFEASIBLE:
            hopeless.set()
        with lock:
            if rs.cg_master is not None:
                masters[t] = rs.cg_master
            if r.has_plan:
                done[t] = r.values
        log.info("period %d of %d: %s, plan %s, bound %s in %.1fs (budget %.1fs)", t, T, r.status,
                 money(r.objective), money(r.best_bound), time.perf_counter() - t1, budget)
        return r, time.perf_counter() - t1

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(one, range(T)))
    values = []
    bound = 0.0
    # (QA: an infeasible period was found in 0.1 s and reported after every other period, 38 s)
    stuck = next((t for t, (r, _) in enumerate(results) if r is not None and r.status == INFEASIBLE), None)
    if stuck is not None:
        return SolveResult(INFEASIBLE, NAME, SOLVER, time.perf_counter() - t0,
                           message=f"period {stuck} cannot be served on its own: {results[stuck][0].message}")
    for t, (r, secs) in enumerate(results):
        st.period_seconds.append(secs)
        st.period_status.append(r.status)
        if not r.has_plan or r.best_bound is None:
            return SolveResult(ERROR, NAME, SOLVER, time.perf_counter() - t0,
                               message=f"period {t}: no plan within its share of the time ({r.message})")
        st.period_bounds.append(float(r.best_bound))
        st.period_objectives.append(float(r.objective))
        values.append(r.values)
    # a period solved in a short time may have a dearer plan than another period's fitted to it
    for t in range(T):
        for u in range(T):
            if u == t or not same_offers(spec, u, t):
                continue
            fit = fitted(models[t], models[u], values[u])
            if fit is not None and models[t].objective_value(fit) < st.period_objectives[t] - 1e-9:
                values[t] = fit
                st.period_objectives[t] = models[t].objective_value(fit)
                st.notes.append(f"period {t} plan from period {u}'s")
    raised = monotone_bounds(spec, models, st.period_bounds, [period_prices(k, spec, t) for t in range(T)])
    for t in np.flatnonzero(np.array(raised) > np.array(st.period_bounds)):
        st.notes.append(f"period {t} bound {st.period_bounds[t]:.6g} -> {raised[t]:.6g} from a period "
                        "with less demand")
    st.period_bounds = raised
    bound = float(sum(raised))
    best, best_obj = None, np.inf

    def consider(cand: np.ndarray, label: str) -> float:
        """Keep ``cand`` if it satisfies every row of the full model and is the cheapest so far; its cost,
        NaN where it breaks a row (QA s22: 'rolling plans 25842, 21462' listed a plan below the optimum
        that broke the capex rows as if it were one)."""
        nonlocal best, best_obj
        obj = model.objective_value(cand)
        if model.violations(cand, tol=1e-6):
            note = (f"{label} breaks a multi-period row (e.g. a power cap with purchases kept for a later "
                    "period, or a capex cap: the horizon's or a period's)")
            if note not in st.notes:
                st.notes.append(note)
            return float("nan")
        if obj < best_obj:
            best, best_obj = cand, obj
        return obj

    st.stitched = consider(stitch(k, spec, model, v, models, values), "stitched plan")
    log.info("periods done: bounds sum to %s; stitched plan %s", money(bound), money(st.stitched))
    used = np.zeros(k.n_c, bool)
    for m, val in zip(models, values):
        used |= val[m.blocks["y"]] > 0.5
    t1 = time.perf_counter()
    for backward in (True, False):
        rolled = rolling_plans(k, spec, models, used, max(left() * 0.15, 1.0), mip_gap / 2, threads,
                               backward=backward, own=values)
        if rolled is None:
            st.notes.append(f"{'backward' if backward else 'forward'} rolling: some period found no plan")
            continue
        st.rolling.append(consider(stitch(k, spec, model, v, models, rolled),
                                   f"{'backward' if backward else 'forward'} rolling plan"))
        log.info("%s rolling plan: %s (best %s; bound %s)", "backward" if backward else "forward",
                 money(st.rolling[-1]), money(best_obj), money(bound))
    early = reserved_before_purchases(k, spec, v, best) if best is not None else []
    if early:
        # the (accelerator, region) pairs of those reservations decided again, every offer and
        # period, the rest of the plan fixed: renting until a purchase arrives, then owning, is
        # often cheaper than a term its period plan chose without seeing the purchases
        cand = redecide_pairs(k, spec, model, v, best, early, same_deployments(k, used),
                              max(left() * 0.3, 1.0), mip_gap, threads)
        if cand is not None:
            st.rolling.append(consider(cand, "plan with early reservations decided again"))
            log.info("reservations before purchases arrive decided again (%d accelerator/region pairs): %s "
                     "(best %s; bound %s)", len(early), money(st.rolling[-1]), money(best_obj), money(bound))
    st.rolling_seconds = time.perf_counter() - t1
    whole = model.n_vars <= whole_model_max_vars
    twins = same_deployments(k, used)
    restricted = restricted_columns(k, spec, model, v, twins)   # one slice, nothing owned here
    st.master_candidates = int(twins.sum())
    st.master_vars = len(restricted)
    if not whole and best is not None and left() > 2.0 and not stop.requested():
        # (where HiGHS takes the whole model, its search from the best plan does this job: on M-8Q
        # the timeline search's 20 s cost the whole model's search more than it found)
        t1 = time.perf_counter()
        before = best_obj

        def accept(cand: np.ndarray) -> np.ndarray:
            consider(cand, "timeline search plan")
            return best

        st.search_improved = timeline_search(k, model, v, best, restricted, twins, left() * search_share,
                                             mip_gap / 2, threads, accept)
        st.search_seconds = time.perf_counter() - t1
        st.search_ran = True
        log.info("timeline search: %d neighbourhoods improved the plan, %s -> %s in %.1fs (bound %s)",
                 st.search_improved, money(before), money(best_obj), st.search_seconds, money(bound))
    if not whole:
        # the restricted master rarely beats the rolling plan at this size; the time goes to the
        # periods whose own proof is weakest (largest absolute gap), started from their plans
        bound = prove_periods(models, values, st, left, workers, mip_gap, bound, reserve_s=master_reserve_s)
    # the masters: first the model on the candidates some period plan uses (small: HiGHS improves
    # the plan quickly), then, when HiGHS can take it, the whole model with the time left (its
    # dual bound is then a bound of the full model too)
    phases = [(restricted, 0.5 if whole else 1.0)] + ([(np.arange(model.n_vars), 1.0)] if whole else [])
    statuses = []
    proven_infeasible = False
    for cols, share in phases:
        if left() <= 1.0 or stop.requested() or (
                best is not None and (best_obj - bound) / max(abs(best_obj), 1e-9) <= mip_gap):
            break
        is_whole = len(cols) == model.n_vars
        sub = model if is_whole else submodel(model, cols)
        t1 = time.perf_counter()
        v_sub, lb_sub, text = run_mip(sub, max(left() * share, 1.0), mip_gap, threads,
                                      start=best[cols] if best is not None else None)
        st.master_seconds += time.perf_counter() - t1
        statuses.append(text + (" (whole model)" if is_whole else ""))
        log.info("%s: %s, plan %s",
                 "whole model" if is_whole else f"restricted master ({len(cols)} variables)",
                 text, money(sub.objective_value(v_sub) if v_sub is not None else None))
        if is_whole and np.isfinite(lb_sub):
            bound = max(bound, float(lb_sub))
        if v_sub is not None:
            consider(lifted(model, cols, v_sub), "master plan")
        if is_whole and v_sub is None and text == "Infeasible" and best is None:
            proven_infeasible = True        # (no cutoff here: no plan at all)
            break
    st.master_status = ", then ".join(statuses) or "not run"
    secs = time.perf_counter() - t0
    if proven_infeasible:
        # every period can be served on its own, not all together: what one buys or reserves carries
        # over (QA s19: reported as a solver error, exit 5, without the explanation; CBC and HiGHS on
        # the whole model said infeasible)
        return SolveResult(INFEASIBLE, NAME, SOLVER, secs,
                           message="no plan: each period can be served on its own, but HiGHS proves the whole "
                                   "multi-period model infeasible (what is bought or reserved in one period "
                                   "carries over into the next, e.g. under a budget): " + st.summary())
    if best is None:
        return SolveResult(ERROR, NAME, SOLVER, secs, best_bound=bound,
                           message="no multi-period plan found from the per-period plans: " + st.summary())
    if bound > best_obj * (1 + 1e-6) + 1e-6:
        # cannot happen if the relaxation is valid and the solvers are right: a proof that is
        # contradicted by a plan satisfying every row is no proof (QA: HiGHS 1.12's presolve called
        # a model 'Optimal' at 174.7 M that a 2.42 M point satisfies); the plan, without a gap
        st.notes.append(f"a bound of {bound:.6g} above a plan of {best_obj:.6g} that satisfies every row: "
                        "a solver error, no gap is claimed")
        return SolveResult(TIME_LIMIT, NAME, SOLVER, secs, values=best, objective=best_obj, best_bound=None,
                           message=st.summary())
    bound = min(bound, best_obj)
    gap = (best_obj - bound) / max(abs(best_obj), 1e-9)
    return SolveResult(OPTIMAL if gap <= mip_gap + 1e-12 else TIME_LIMIT, NAME, SOLVER, secs,
                       values=best, objective=best_obj, best_bound=bound, message=st.summary())
