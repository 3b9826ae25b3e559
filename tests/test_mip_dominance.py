"""Dominance pruning shrinks the MIP but never changes its optimum."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.coefficients import build_coefficients, prune_dominated
from solver.mip import build_model, solve
from test_mip_support import coeffs, offer


def _opt(k):
    r = solve(build_model(k), "pulp", "cbc", time_limit_s=30, mip_gap=1e-9)
    return r.status, r.objective


def test_hand_case_drops_only_the_dominated_candidate():
    # Same offer: c0 serves 5 req/s at quality 80, c1 serves 4 at quality 70 -> c1 dominated.
    # c2 serves 3 but at quality 90: not dominated when quality matters (mean target) ...
    cands = [(0, 1, 80.0), (0, 1, 70.0), (0, 1, 90.0)]
    pairs = [(0, 0, 5.0), (0, 1, 4.0), (0, 2, 3.0)]
    k = coeffs([offer()], cands, pairs, [10.0], quality_min=[85.0], mean_mode=[True])
    p = prune_dominated(k)
    assert [c.quality for c in p.candidates] == [80.0, 90.0]
    assert p.pruned["dominated"] == 1
    assert _opt(p) == pytest.approx(_opt(k))
    # ... and is dominated by c0 when there is no quality target at all.
    k2 = coeffs([offer()], cands, pairs, [10.0])
    assert [c.quality for c in prune_dominated(k2).candidates] == [80.0]


def test_identical_candidates_keep_exactly_one():
    k = coeffs([offer()], [(0, 1, 80.0)] * 3, [(0, c, 5.0) for c in range(3)], [10.0])
    p = prune_dominated(k)
    assert p.n_c == 1 and p.candidates[0].model == "m0"


@st.composite
def instance(draw):
    offers = [offer(f"a{i}", g=draw(st.sampled_from([1, 2, 4])),
                    usd_per_device_hour=draw(st.integers(1, 6)), idle_w=50.0, elec=0.3,
                    energy_charged=True) for i in range(draw(st.integers(1, 2)))]
    W = draw(st.integers(1, 2))
    cands, pairs, idle = [], [], []
    for c in range(draw(st.integers(3, 7))):
        o = draw(st.integers(0, len(offers) - 1))
        g = offers[o].devices_per_unit
        t = draw(st.sampled_from([t for t in (1, 2, 4) if g % t == 0]))
        cands.append((o, t, float(draw(st.integers(70, 90)))))
        idle.append(50.0 * t + draw(st.sampled_from([0.0, 20.0])))
        for w in range(W):
            if draw(st.booleans()):
                pairs.append((w, c, float(draw(st.integers(1, 6))), idle[-1] + draw(st.integers(0, 300))))
    for w in range(W):
        if not any(p[0] == w for p in pairs):
            pairs.append((w, 0, 2.0, idle[0] + 100.0))
    mean = draw(st.booleans())
    kw = dict(quality_min=[float(draw(st.integers(70, 80)))] * W, mean_mode=[True] * W) if mean else {}
    return coeffs(offers, cands, pairs, [float(draw(st.integers(1, 12))) for _ in range(W)],
                  u=draw(st.sampled_from([1.0, 0.8])), hours=10.0, idle_c=idle,
                  n_plus_1=[draw(st.booleans())] * W, **kw)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instance())
def test_pruning_keeps_the_optimum(k):
    p = prune_dominated(k)
    a, b = _opt(k), _opt(p)
    assert a[0] == b[0]
    if a[0] == "optimal":
        assert b[1] == pytest.approx(a[1], rel=1e-7, abs=1e-7)


def test_pruning_keeps_the_optimum_on_an_example_problem():
    from pathlib import Path

    from solver.problem.load import load_problem

    lp = load_problem(Path(__file__).parents[1] / "problems" / "code-assistant-router.yaml")
    full = build_coefficients(lp.problem, lp.catalog, dominance=False)
    small = prune_dominated(full)
    assert small.n_c < full.n_c
    assert _opt(small) == pytest.approx(_opt(full))


def _problem(extra_fleet: str = "", horizon: str = "horizon_months: 12"):
    from solver.problem.load import load_problem_text

    return load_problem_text(f"""
schema_version: 1
name: offers
workloads:
  - id: w
    demand: {{requests_per_s: 5}}
    input_tokens: {{mean: 500}}
    output_tokens: {{mean: 100}}
    slo: {{ttft_ms: 1000, tpot_ms: 50}}
fleet:
  accelerators: [l4]
  regions: [virginia]
  catalog_offers: false
  acquisition: [on_demand, reserved_1y, reserved_3y, spot]
  offers:
    - {{accelerator: l4, region: virginia, acquisition: on_demand, usd_per_device_hour: 1.0}}
    - {{accelerator: l4, region: virginia, acquisition: reserved_1y, usd_per_device_hour: 0.7}}
    - {{accelerator: l4, region: virginia, acquisition: reserved_3y, usd_per_device_hour: 0.5}}
    - {{accelerator: l4, region: virginia, acquisition: spot, usd_per_device_hour: 0.3}}
{extra_fleet}
objective: {{{horizon}}}
""", file="offers.yaml")


def test_offer_dominance_by_hand():
    from solver.coefficients import build_offers, prune_dominated_offers

    # 12 months (8760 h): on-demand 8760, 1y 0.7 x 8760 = 6132, 3y 0.5 x 26280 = 13140
    # -> only the 1-year reservation survives among the three; spot is never comparable.
    lp = _problem()
    kept, dropped = prune_dominated_offers(build_offers(lp.problem, lp.catalog), lp.problem)
    assert sorted(o.acquisition for o in kept) == ["reserved_1y", "spot"] and dropped == 2
    # 36 months: 3y wins (0.5 x 26280 < 0.7 x 26280 < 1.0 x 26280)
    lp = _problem(horizon="horizon_months: 36")
    kept, _ = prune_dominated_offers(build_offers(lp.problem, lp.catalog), lp.problem)
    assert sorted(o.acquisition for o in kept) == ["reserved_3y", "spot"]
    # an availability cap on reservations only: on-demand is freer, so it is kept
    lp = _problem("  availability: [{accelerator: l4, max_devices: 1, acquisition: [reserved_1y, reserved_3y]}]")
    kept, _ = prune_dominated_offers(build_offers(lp.problem, lp.catalog), lp.problem)
    assert sorted(o.acquisition for o in kept) == ["on_demand", "reserved_1y", "spot"]
    # a monthly budget counts a reservation at its rate (0.5 and 0.7 of on-demand a month): the 3-year
    # reservation, dearer over its term, is cheaper a month than the 1-year one, so it is kept too
    # (review: pruning it made a problem 'infeasible' that a 3-year plan within budget serves)
    lp = _problem("  budget: {max_usd_per_month: 1e6}")
    kept, _ = prune_dominated_offers(build_offers(lp.problem, lp.catalog), lp.problem)
    assert sorted(o.acquisition for o in kept) == ["reserved_1y", "reserved_3y", "spot"]


@pytest.mark.parametrize("name", ["chat-assistant", "rag-long-context"])
def test_all_pruning_keeps_the_optimum_on_example_problems(name):
    from pathlib import Path

    from solver.problem.load import load_problem

    lp = load_problem(Path(__file__).parents[1] / "problems" / f"{name}.yaml")
    full = build_coefficients(lp.problem, lp.catalog, dominance=False)
    small = build_coefficients(lp.problem, lp.catalog)
    assert small.n_o <= full.n_o and small.n_c < full.n_c
    a = solve(build_model(full), "pulp", "cbc", time_limit_s=60, mip_gap=1e-9)
    b = solve(build_model(small), "pulp", "cbc", time_limit_s=60, mip_gap=1e-9)
    assert a.status == b.status == "optimal"
    assert b.objective == pytest.approx(a.objective, rel=1e-7)
