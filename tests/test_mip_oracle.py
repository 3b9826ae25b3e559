"""Brute-force oracle: on tiny random fleets, enumerate every replica vector and compare.

For a fixed replica vector y the cost is known in closed form (units
n_o = ceil(sum t_c y_c / g_o), unit prices, idle energy), and whether the
demand can be routed is a small LP that has an exact greedy solution:

* one workload with a routed-mean quality target and optionally N+1 (a used
  candidate keeps one replica spare): fill the highest-quality candidates
  first (fractional knapsack); feasible iff total capacity covers the demand
  and the best achievable mean reaches the target;
* two workloads without quality: give workload 1 the candidates with the
  largest comparative advantage cap_1c / cap_2c first (exchange argument),
  then check what is left covers workload 2.

The MIP (both backends) must find exactly the brute-force optimum.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.mip import build_model, solve
from test_mip_support import coeffs, offer

BACKENDS = [("pulp", "cbc"), ("ortools", "scip")]
#: HiGHS called directly, and the large-instance method (column generation + reduced-cost fixing)
DIRECT = [("highspy", "highs"), ("highspy", "reduced")]


def _cost(k, y):
    n = np.zeros(k.n_o)
    for c, cand in enumerate(k.candidates):
        n[cand.offer] += cand.tensor_parallel * y[c]
    g = k.offer_array("devices_per_unit")
    units = np.ceil(n / g - 1e-12)
    price = np.array([o.hourly_usd_per_device for o in k.offers])
    e = k.energy_usd_per_w()
    idle_dev = k.offer_array("idle_w")
    cost = float(np.sum(units * g * (price * k.hours + idle_dev * e)))
    for c, cand in enumerate(k.candidates):
        cost += y[c] * (k.cand_idle_w[c] - cand.tensor_parallel * idle_dev[cand.offer]) * e[cand.offer]
    return cost


def _feasible_one_workload(k, y):
    D = k.demand_rps[0]
    # N+1: a candidate that serves the workload keeps one replica spare, so it offers
    # y - 1 replicas (using it with y = 1 adds nothing, and not using it costs nothing).
    usable = [max(y[c] - 1, 0) if k.n_plus_1[0] else y[c] for c in range(k.n_c)]
    caps = [(k.candidates[c].quality, k.pair_cap_rps[p] * k.max_utilization * usable[c])
            for p, c in enumerate(k.pair_c)]
    if sum(cap for _, cap in caps) < D - 1e-9:
        return False
    if np.isnan(k.quality_min[0]):
        return True
    left, score = D, 0.0
    for q, cap in sorted(caps, reverse=True):
        take = min(cap, left)
        score += take * q
        left -= take
    return score >= D * k.quality_min[0] - 1e-7


def _feasible_two_workloads(k, y):
    D1, D2 = k.demand_rps
    cap = np.zeros((2, k.n_c))
    for p in range(k.n_p):
        cap[k.pair_w[p], k.pair_c[p]] = k.pair_cap_rps[p]
    U = k.max_utilization * np.asarray(y, float)   # replica-equivalents per candidate
    order = sorted(range(k.n_c), key=lambda c: -(cap[0, c] / cap[1, c] if cap[1, c] > 0 else math.inf))
    need = D1
    rest = U.copy()
    for c in order:
        if need <= 1e-12 or cap[0, c] <= 0:
            continue
        a = min(rest[c], need / cap[0, c])
        rest[c] -= a
        need -= a * cap[0, c]
    if need > 1e-9:
        return False
    return float(cap[1] @ rest) >= D2 - 1e-9


def _brute_force(k, feasible):
    ranges = []
    for c in range(k.n_c):
        sel = k.pair_c == c
        need = np.sum(k.demand_rps[k.pair_w[sel]] / (k.max_utilization * k.pair_cap_rps[sel]))
        spare = int(np.any(k.n_plus_1[k.pair_w[sel]]))
        ranges.append(range(int(math.ceil(need - 1e-12)) + spare + 1))
    best = math.inf
    for y in itertools.product(*ranges):
        if feasible(k, y):
            best = min(best, _cost(k, y))
    return best


@st.composite
def instance(draw, two_workloads: bool):
    n_off = draw(st.integers(1, 3))
    offers = []
    for i in range(n_off):
        g = draw(st.sampled_from([1, 2, 4]))
        offers.append(offer(f"a{i}", g=g, usd_per_device_hour=draw(st.integers(1, 9)) / 2,
                            idle_w=draw(st.sampled_from([0.0, 50.0])), elec=0.2, pue=1.25,
                            energy_charged=draw(st.booleans())))
    n_c = draw(st.integers(2, 3))
    cands, idle = [], []
    for _ in range(n_c):
        o = draw(st.integers(0, n_off - 1))
        g = offers[o].devices_per_unit
        t = draw(st.sampled_from([t for t in (1, 2, 4) if g % t == 0]))
        cands.append((o, t, float(draw(st.integers(60, 95)))))
        idle.append(t * offers[o].idle_w + draw(st.sampled_from([0.0, 30.0])))
    W = 2 if two_workloads else 1
    demand = [float(draw(st.integers(1, 9))) for _ in range(W)]
    pairs = []
    for w in range(W):
        for c in range(n_c):
            if draw(st.integers(0, 4)) > 0:
                pairs.append((w, c, float(draw(st.integers(1, 8)))))
    for w in range(W):   # every workload servable by at least one candidate
        if not any(p[0] == w for p in pairs):
            pairs.append((w, 0, float(draw(st.integers(1, 8)))))
    u = draw(st.sampled_from([1.0, 0.8]))
    kw = {}
    if not two_workloads and draw(st.booleans()):
        best_q = max(cands[p[1]][2] for p in pairs)
        kw = dict(quality_min=[float(draw(st.integers(60, int(best_q))))], mean_mode=[True])
    if not two_workloads:
        kw["n_plus_1"] = [draw(st.booleans())]
    return coeffs(offers, cands, pairs, demand, u=u, hours=10.0, idle_c=idle, **kw)


def _check(k, feasible):
    expect = _brute_force(k, feasible)
    # with and without the optional cover cuts: valid inequalities must not move the optimum
    runs = list(zip(BACKENDS + BACKENDS, (False, False, True, True))) + [(d, False) for d in DIRECT]
    for (backend, name), cuts in runs:
        m = build_model(k, cuts=cuts)
        r = solve(m, backend, name, time_limit_s=20, mip_gap=1e-9)
        if math.isinf(expect):
            assert r.status == "infeasible", (backend, r.status, r.message)
        else:
            assert r.status == "optimal", (backend, r.message)
            assert r.objective == pytest.approx(expect, rel=1e-6, abs=1e-6), (backend, name)
            assert m.violations(r.values, tol=1e-6) == []


@settings(max_examples=35, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instance(two_workloads=False))
def test_mip_matches_brute_force_one_workload_router_quality_and_n_plus_1(k):
    _check(k, _feasible_one_workload)


@settings(max_examples=35, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instance(two_workloads=True))
def test_mip_matches_brute_force_two_workloads_sharing_replicas(k):
    _check(k, _feasible_two_workloads)
