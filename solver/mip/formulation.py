r"""The fleet MIP, stated in full, and built once in backend-neutral form.

(Problems with ``objective.periods`` are planned over time by :mod:`solver.mip.periods`,
which states its own model and reuses the constraint functions below per period and slice.)

Sets
----
* W  workloads w.
* O  offers o: accelerator a(o), region r(o), acquisition k(o), unit size g(o)
  devices (instance, purchased server, or 1 for owned devices).
* C  candidates c = (model m, quantization q, tensor parallelism t_c, offer o(c)).
* P  allowed pairs p = (w(p), c(p)); a pair exists only if the performance model
  gives c a positive capacity for w within w's SLOs and w's filters allow it
  (models, quantizations, region pins, per-request quality).

Parameters
----------
D_w            peak demand, requests/s                     cap_p   requests/s one replica of c(p) serves of w(p) within SLO
u              max utilisation (headroom), 0 < u <= 1       Q_c     quality of (m, q): model score x retention
Qmin_w         quality target                               t_c     devices per replica
g_o            devices per unit of offer o                  M_o     owned devices (existing offers only)
rate_o^part    USD per device-hour of each cost part        H       horizon, hours
idle_a, tdp_a  device idle / nameplate power, W             idle_c  replica idle power, W
P_p            replica power at cap_p, W                    lf_w    mean/peak load of w's profile (1 if none)
e_o            USD per W over H (PUE x price x H / 1000; 0 when energy is not charged)
k_o            USD of carbon per W over H (PUE x gCO2/kWh x USD/t x H / 1e9)
PUE_r, S       region PUE; max spot share

Variables
---------
* y_c  in Z+   replicas of candidate c
* n_o  in Z+   units (instances / servers / owned devices) of offer o; n_o <= M_o for owned
* x_p  >= 0    requests/s of w(p) routed to c(p)
* s_c  in {0,1} spare replica of c (only for candidates that can serve an N+1 workload)

Constraints (family name in the model = function below with '.' for '_')
-----------------------------------------------------------------------
* demand.served[w]:          sum_{p: w(p)=w} x_p = D_w
* capacity.replica[c]:       sum_{p: c(p)=c} x_p / cap_p <= u (y_c - s_c)
* capacity.small_route[p]:   x_p / D_w(p) <= y_c(p) - s_c(p)   only where D_w(p) < SMALL_SHARE u cap_p
  (a demand that needs under 1e-4 of a replica: its capacity row alone would allow y_c = 0 within
  the solvers' feasibility tolerances, 1e-7 to 1e-6, and the plan would serve it with no replica)
* capacity.offer_units[o]:   sum_{c: o(c)=o} t_c y_c <= g_o n_o
  (replica sizes are powers of two dividing g_o, so this total always packs into n_o units)
* quality.mean[w]:           sum_p x_p (Q_c(p) - Qmin_w) >= 0      (mode "mean", the router)
  per-request targets are enforced by pruning pairs with Q_c < Qmin_w.
* caps.availability[k]:      sum_{o in k} g_o n_o <= max_devices_k (owned devices excluded)
* caps.power[k]:             sum_{o in k} PUE_r(o) g_o n_o tdp_a(o) / 1000 <= max_kw_k
  nameplate (TDP) of every procured device, the figure a facility provisions for;
  planned load would under-provision bursts.
* caps.budget:               (total cost - commitments after the horizon) / (H / 730) <= max_usd_per_month
* caps.capex:                sum_{o purchase} price_a(o) g_o n_o <= max_capex_usd
* caps.spot_share[w]:        sum_{p: w, k(o(c(p)))=spot} x_p <= S D_w
* redundancy.spare[p]:       x_p <= D_w(p) s_c(p)  for N+1 workloads
* redundancy.spare_within_replicas[c]:  s_c <= y_c
* cuts.replicas[w], cuts.units[w]: optional valid inequalities (see
  :func:`cuts_workload_cover`, ``build_model(k, cuts=True)``) that only tighten the LP relaxation.

Objective (USD over the horizon)
--------------------------------
min  sum_o sum_part rate_o^part g_o n_o max(H, term_o)                 (rental, amortisation, maintenance, hosting;
                                                                        term_o: reservation term, else 0)
   + sum_o (e_o + k_o) [ g_o n_o idle_a + sum_{c in o} y_c (idle_c - t_c idle_a)
                         + sum_{p: c(p) in o} lf_w x_p (P_p - idle_c) / cap_p ]   (energy, carbon)
The bracket is IT power in watts: every procured device idles, a replica adds
its own idle over that, and load adds power linearly between idle (no load)
and P_p (at capacity).  The load is the routed peak times lf_w, the mean of
the demand profile (the fleet is sized for the peak, energy follows the mean).
No tie-break term is added: plans are deterministic because the model and the
solvers are.
"""

from __future__ import annotations

import math

import numpy as np

from solver.coefficients import COST_PARTS, Coefficients
from solver.mip.model import LinearModel, ModelBuilder


class Vars:
    """Index arrays of the variable blocks."""

    def __init__(self, y: np.ndarray, n: np.ndarray, x: np.ndarray, s: np.ndarray,
                 s_of_c: np.ndarray):
        self.y, self.n, self.x, self.s = y, n, x, s
        self.s_of_c = s_of_c     # (C,) index of s_c or -1


def add_variables(b: ModelBuilder, k: Coefficients) -> Vars:
    """y, n, x, s with their bounds (y bounded by what serving all routable demand needs)."""
    need = np.zeros(k.n_c)
    np.add.at(need, k.pair_c, k.demand_rps[k.pair_w] / (k.max_utilization * k.pair_cap_rps))
    y_ub = np.ceil(need + 1e-9) + 1.0
    y = b.add_vars("y", [f"y[{c}]" for c in range(k.n_c)], 0.0, y_ub, integer=True)
    n_ub = np.array([o.max_units if o.existing else math.inf for o in k.offers], float)
    n = b.add_vars("n", [f"n[{o}]" for o in range(k.n_o)], 0.0, n_ub, integer=True)
    x = b.add_vars("x", [f"x[{k.workloads[w]},{c}]" for w, c in zip(k.pair_w, k.pair_c)],
                   0.0, k.demand_rps[k.pair_w], integer=False)
    spare = np.zeros(k.n_c, bool)
    spare[k.pair_c[k.n_plus_1[k.pair_w]]] = True
    sc = np.flatnonzero(spare)
    s = b.add_vars("s", [f"s[{c}]" for c in sc], 0.0, 1.0, integer=True)
    s_of_c = np.full(k.n_c, -1, np.int64)
    s_of_c[sc] = s
    return Vars(y, n, x, s, s_of_c)


def demand_served(b: ModelBuilder, k: Coefficients, v: Vars) -> None:
    """sum_{p: w(p)=w} x_p = D_w  for every workload."""
    b.add_rows("demand.served", k.pair_w, v.x, np.ones(k.n_p), "=", k.demand_rps, k.workloads)


def capacity_replica(b: ModelBuilder, k: Coefficients, v: Vars) -> None:
    """sum_p x_p / cap_p - u y_c + u s_c <= 0  for every candidate."""
    u = k.max_utilization
    rows = [k.pair_c, np.arange(k.n_c)]
    cols = [v.x, v.y]
    vals = [1.0 / k.pair_cap_rps, np.full(k.n_c, -u)]
    has = np.flatnonzero(v.s_of_c >= 0)
    rows.append(has)
    cols.append(v.s_of_c[has])
    vals.append(np.full(len(has), u))
    b.add_rows("capacity.replica", np.concatenate(rows), np.concatenate(cols),
               np.concatenate(vals), "<", np.zeros(k.n_c), [str(c) for c in range(k.n_c)])


#: a route whose whole demand is less than this share of a replica's usable capacity gets its own link row
SMALL_SHARE = 1e-4


def capacity_small_route(b: ModelBuilder, k: Coefficients, v: Vars) -> None:
    """x_p / D_w(p) - y_c(p) + s_c(p) <= 0  for pairs whose demand is under SMALL_SHARE of u cap_p.

    Valid (x_p <= D_w), and scaled so that routing a demand with no replica breaks the row by 1, not
    by D_w / cap_p (~1e-7 for 0.001 req/s on a replica of a few thousand req/s, which every solver
    accepts as feasible)."""
    d = k.demand_rps[k.pair_w] if k.n_p else np.zeros(0)
    small = np.flatnonzero((d > 0) & (d < SMALL_SHARE * k.max_utilization * k.pair_cap_rps))
    if len(small) == 0:
        return
    c = k.pair_c[small]
    rows = [np.arange(len(small))] * 2
    cols = [v.x[small], v.y[c]]
    vals = [1.0 / d[small], np.full(len(small), -1.0)]
    has = v.s_of_c[c] >= 0
    rows.append(np.flatnonzero(has))
    cols.append(v.s_of_c[c[has]])
    vals.append(np.ones(int(has.sum())))
    b.add_rows("capacity.small_route", np.concatenate(rows), np.concatenate(cols), np.concatenate(vals), "<",
               np.zeros(len(small)), [str(p) for p in small])


def capacity_offer_units(b: ModelBuilder, k: Coefficients, v: Vars) -> None:
    """sum_{c in o} t_c y_c - g_o n_o <= 0  for every offer."""
    off = k.cand_offer()
    g = k.offer_array("devices_per_unit")
    b.add_rows("capacity.offer_units", np.concatenate([off, np.arange(k.n_o)]),
               np.concatenate([v.y, v.n]), np.concatenate([k.cand_tp(), -g]), "<",
               np.zeros(k.n_o), [o.key for o in k.offers])


def quality_mean(b: ModelBuilder, k: Coefficients, v: Vars) -> None:
    """sum_p x_p (Q_c(p) - Qmin_w) >= 0  for workloads whose target is a routed mean."""
    ws = np.flatnonzero(k.quality_mean_mode & ~np.isnan(k.quality_min))
    if len(ws) == 0:
        return
    local = np.full(k.n_w, -1)
    local[ws] = np.arange(len(ws))
    sel = local[k.pair_w] >= 0
    q = k.cand_quality()[k.pair_c[sel]] - k.quality_min[k.pair_w[sel]]
    b.add_rows("quality.mean", local[k.pair_w[sel]], v.x[sel], q, ">", np.zeros(len(ws)),
               [k.workloads[w] for w in ws])


def caps_availability(b: ModelBuilder, k: Coefficients, v: Vars) -> None:
    """sum_{o in cap} g_o n_o <= max_devices  per availability entry."""
    g = k.offer_array("devices_per_unit")
    rows, cols, vals, rhs, names = [], [], [], [], []
    for i, (label, idx, max_dev) in enumerate(k.availability):
        rows.append(np.full(len(idx), i))
        cols.append(v.n[idx])
        vals.append(g[idx])
        rhs.append(max_dev)
        names.append(label)
    if names:
        b.add_rows("caps.availability", np.concatenate(rows), np.concatenate(cols),
                   np.concatenate(vals), "<", rhs, names)


def caps_power(b: ModelBuilder, k: Coefficients, v: Vars) -> None:
    """sum_{o in cap} PUE_r g_o tdp_a n_o / 1000 <= max_kw  per power cap (nameplate)."""
    kw = k.offer_array("pue") * k.offer_array("devices_per_unit") * k.offer_array("tdp_w") / 1000.0
    rows, cols, vals, rhs, names = [], [], [], [], []
    for i, (label, idx, max_kw) in enumerate(k.power_caps):
        rows.append(np.full(len(idx), i))
        cols.append(v.n[idx])
        vals.append(kw[idx])
        rhs.append(max_kw)
        names.append(label)
    if names:
        b.add_rows("caps.power", np.concatenate(rows), np.concatenate(cols),
                   np.concatenate(vals), "<", rhs, names)


def caps_spot_share(b: ModelBuilder, k: Coefficients, v: Vars) -> None:
    """sum_{p: w, spot} x_p <= S D_w  for workloads that can use spot (only if S < 1)."""
    if k.max_spot_share >= 1.0:
        return
    spot_o = np.array([o.acquisition == "spot" for o in k.offers], bool)
    sel = spot_o[k.cand_offer()[k.pair_c]] if k.n_p else np.zeros(0, bool)
    ws = np.unique(k.pair_w[sel])
    if len(ws) == 0:
        return
    local = np.full(k.n_w, -1)
    local[ws] = np.arange(len(ws))
    b.add_rows("caps.spot_share", local[k.pair_w[sel]], v.x[sel], np.ones(int(sel.sum())), "<",
               k.max_spot_share * k.demand_rps[ws], [k.workloads[w] for w in ws])


def redundancy_spare(b: ModelBuilder, k: Coefficients, v: Vars) -> None:
    """x_p - D_w s_c <= 0 for pairs of N+1 workloads;  s_c - y_c <= 0."""
    sel = np.flatnonzero(k.n_plus_1[k.pair_w])
    if len(sel):
        m = len(sel)
        b.add_rows("redundancy.spare", np.concatenate([np.arange(m), np.arange(m)]),
                   np.concatenate([v.x[sel], v.s_of_c[k.pair_c[sel]]]),
                   np.concatenate([np.ones(m), -k.demand_rps[k.pair_w[sel]]]), "<", np.zeros(m),
                   [f"{k.workloads[k.pair_w[p]]},{k.pair_c[p]}" for p in sel])
    has = np.flatnonzero(v.s_of_c >= 0)
    if len(has):
        m = len(has)
        b.add_rows("redundancy.spare_within_replicas", np.concatenate([np.arange(m), np.arange(m)]),
                   np.concatenate([v.s_of_c[has], v.y[has]]),
                   np.concatenate([np.ones(m), -np.ones(m)]), "<", np.zeros(m),
                   [str(c) for c in has])


def cuts_workload_cover(b: ModelBuilder, k: Coefficients, v: Vars) -> None:
    """Valid inequalities that tighten the LP bound; no integer solution is cut off.

    cuts.replicas[w]: sum_{c serves w} y_c >= ceil(D_w / (u max_c cap_wc)) (+1 for N+1):
      even alone on its best candidate the workload needs that many replicas.
    cuts.units[w]:    sum_{o serves w} n_o >= ceil(ceil(D_w / (u max_c cap_wc / t_c)) / max_o g_o):
      the devices it needs at the best rate per device, packed into the largest units.
    Without them the LP relaxation buys fractions of a replica, and its bound on small
    workloads is loose; with them the solvers prove optimality much sooner.
    """
    if k.n_p == 0:
        return
    u = k.max_utilization
    tp = k.cand_tp()
    off = k.cand_offer()
    g = k.offer_array("devices_per_unit")
    rows_r, rows_c, rhs_r, names = [], [], [], []
    rows_u, cols_u, rhs_u = [], [], []
    for w in range(k.n_w):
        sel = np.flatnonzero(k.pair_w == w)
        if len(sel) == 0:
            continue
        D = k.demand_rps[w]
        cands = k.pair_c[sel]
        best = np.max(k.pair_cap_rps[sel])
        need = math.ceil(D / (u * best) - 1e-9) + (1 if k.n_plus_1[w] else 0)
        per_dev = np.max(k.pair_cap_rps[sel] / tp[cands])
        devices = math.ceil(D / (u * per_dev) - 1e-9)
        offers = np.unique(off[cands])
        units = math.ceil(devices / np.max(g[offers]) - 1e-9)
        i = len(names)
        rows_r.append(np.full(len(cands), i))
        rows_c.append(v.y[cands])
        rhs_r.append(float(need))
        rows_u.append(np.full(len(offers), i))
        cols_u.append(v.n[offers])
        rhs_u.append(float(units))
        names.append(k.workloads[w])
    if names:
        b.add_rows("cuts.replicas", np.concatenate(rows_r), np.concatenate(rows_c),
                   np.ones(sum(len(r) for r in rows_r)), ">", rhs_r, names)
        b.add_rows("cuts.units", np.concatenate(rows_u), np.concatenate(cols_u),
                   np.ones(sum(len(r) for r in rows_u)), ">", rhs_u, names)


def power_terms_w(k: Coefficients, v: Vars) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(columns, watts per unit, offer of the term) of the IT-power expression."""
    g = k.offer_array("devices_per_unit")
    idle_dev = k.offer_array("idle_w")
    off = k.cand_offer()
    idle_c = k.cand_idle_w
    load_w = np.maximum(k.pair_power_w - idle_c[k.pair_c], 0.0)
    cols = np.concatenate([v.n, v.y, v.x])
    watts = np.concatenate([g * idle_dev, idle_c - k.cand_tp() * idle_dev[off],
                            k.energy_load_factor[k.pair_w] * load_w / k.pair_cap_rps])
    offer_of = np.concatenate([np.arange(k.n_o), off, off[k.pair_c]])
    return cols, watts, offer_of


def objective(b: ModelBuilder, k: Coefficients, v: Vars) -> None:
    """Every cost part over the horizon (see module docstring)."""
    g = k.offer_array("devices_per_unit")
    billed = k.billed_hours()
    for part in COST_PARTS:
        if part in ("energy", "carbon"):
            continue
        rate = k.offer_part_rate(part)
        if np.any(rate):
            b.add_objective(part, v.n, rate * g * billed)
    cols, watts, off = power_terms_w(k, v)
    e = k.energy_usd_per_w()
    c = k.carbon_usd_per_w()
    if np.any(e):
        b.add_objective("energy", cols, watts * e[off])
    if np.any(c):
        b.add_objective("carbon", cols, watts * c[off])


def caps_budget(b: ModelBuilder, k: Coefficients, v: Vars) -> None:
    """(total cost - commitments after the horizon) x 730 / H <= max_usd_per_month
    (call after :func:`objective`): what each month of the horizon pays; a 3-year reservation in a
    12-month plan counts its monthly rate, as the multi-period budget rows count it."""
    if k.max_usd_per_month is None:
        return
    total = np.zeros(b.n_vars)
    for vec in b.obj_parts.values():
        total[:len(vec)] += vec
    for vec in k.after_horizon_usd_per_unit().values():
        total[v.n] -= vec
    cols = np.flatnonzero(total)
    b.add_rows("caps.budget", np.zeros(len(cols)), cols, total[cols] * 730.0 / k.hours, "<",
               [k.max_usd_per_month], ["usd_per_month"])


def caps_capex(b: ModelBuilder, k: Coefficients, v: Vars) -> None:
    """sum_o capex_per_device g_o n_o <= max_capex_usd."""
    if k.max_capex_usd is None:
        return
    capex = k.offer_array("capex_usd_per_device") * k.offer_array("devices_per_unit")
    cols = np.flatnonzero(capex)
    b.add_rows("caps.capex", np.zeros(len(cols)), v.n[cols], capex[cols], "<",
               [k.max_capex_usd], ["usd"])


def build_model(k: Coefficients, *, cuts: bool = False) -> LinearModel:
    """The whole MIP for ``k`` as a :class:`LinearModel`.

    ``cuts`` adds :func:`cuts_workload_cover`.  Off by default: on the shipped problems they
    change nothing measurable, and they hard-code the demand, so a model whose demand rows
    are relaxed (``fleetopt explain``'s elastic solves) must not carry them.
    """
    b = ModelBuilder()
    v = add_variables(b, k)
    demand_served(b, k, v)
    capacity_replica(b, k, v)
    capacity_small_route(b, k, v)
    capacity_offer_units(b, k, v)
    quality_mean(b, k, v)
    caps_availability(b, k, v)
    caps_power(b, k, v)
    caps_spot_share(b, k, v)
    redundancy_spare(b, k, v)
    if cuts:
        cuts_workload_cover(b, k, v)
    objective(b, k, v)
    caps_budget(b, k, v)      # after objective: it bounds the objective's own expression
    caps_capex(b, k, v)
    model = b.build()
    model.blocks["s_of_c"] = v.s_of_c
    # structure maps for solvers that exploit it (solver.mip.reduced)
    model.blocks["pair_w"] = np.asarray(k.pair_w, np.int64)
    model.blocks["pair_c"] = np.asarray(k.pair_c, np.int64)
    model.blocks["cand_offer"] = np.asarray(k.cand_offer(), np.int64)
    # offers grouped by region: the neighbourhoods of the reduced solve's improvement steps
    regions = sorted({o.region for o in k.offers})
    model.blocks["offer_group"] = np.array([regions.index(o.region) for o in k.offers], np.int64)
    # and by accelerator (across regions and acquisitions): neighbourhoods that move a server
    accelerators = sorted({o.accelerator for o in k.offers})
    model.blocks["offer_kind"] = np.array([accelerators.index(o.accelerator) for o in k.offers], np.int64)
    return model
