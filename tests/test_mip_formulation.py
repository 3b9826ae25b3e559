"""Hand-checked small fleets: each test writes out the arithmetic of its optimum.

Every case is solved by every solver of both backends; all must reach the hand
value.  Coefficients are made by hand (no catalog, no performance model).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from solver.mip import build_model, solve
from test_mip_support import coeffs, offer

SOLVERS = [("pulp", "cbc"), ("pulp", "highs"), ("ortools", "scip"), ("ortools", "cbc"),
           ("ortools", "highs")]


def _solve_all(k, expect, **kw):
    m = build_model(k)
    out = []
    for backend, name in SOLVERS:
        r = solve(m, backend, name, time_limit_s=20, mip_gap=1e-9, **kw)
        assert r.status == "optimal", (backend, name, r.message)
        assert r.objective == pytest.approx(expect, rel=1e-7), (backend, name)
        assert m.violations(r.values) == [], (backend, name)
        out.append(r)
    return m, out[0]


def test_mixing_two_types_beats_either_alone():
    # demand 10 req/s, u = 0.8; type A $2/h serves 3 req/s, type B $3/h serves 5 req/s.
    # A alone: 10 / (0.8*3) = 4.17 -> 5 replicas = $10.  B alone: 10 / 4 = 2.5 -> 3 = $9.
    # 2 B (8 req/s usable) + 1 A (2.4 usable) = 10.4 >= 10 for $6 + $2 = $8  (best: 1 B + 3 A = $9).
    k = coeffs([offer("a", usd_per_device_hour=2.0), offer("b", usd_per_device_hour=3.0)],
               [(0, 1, 70.0), (1, 1, 70.0)], [(0, 0, 3.0), (0, 1, 5.0)], [10.0], u=0.8)
    m, r = _solve_all(k, 8.0)
    y = r.values[m.blocks["y"]]
    assert list(y) == [1, 2]


def test_replicas_pack_into_eight_device_units():
    # Offer X: 8-device instances at $1/device-h ($8 per instance); candidate tp=4 serves 10 req/s.
    # Offer Y: 1-device instances at $1.5; candidate tp=1 serves 2.2 req/s.  Demand 25, u = 1.
    # 3 tp4 replicas = 12 devices -> 2 instances = $16;  12 small = $18;
    # 2 tp4 (20 req/s, one instance, $8) + 3 small (6.6 >= 5, $4.5) = $12.5 (optimum).
    k = coeffs([offer("x", g=8, usd_per_device_hour=1.0), offer("y", usd_per_device_hour=1.5)],
               [(0, 4, 70.0), (1, 1, 70.0)], [(0, 0, 10.0), (0, 1, 2.2)], [25.0])
    m, r = _solve_all(k, 12.5)
    assert list(r.values[m.blocks["y"]]) == [2, 3]
    assert list(r.values[m.blocks["n"]]) == [1, 3]


def test_router_mean_quality_mixes_small_and_large():
    # Target mean 80 over demand 10.  Small: Q 70, 10 req/s, $1.  Large: Q 90, 2 req/s, $4.
    # Mean >= 80 needs x_L >= x_S, so x_L >= 5 -> 3 large ($12) + 1 small ($1) = $13;
    # large only: 5 replicas = $20.
    k = coeffs([offer("s", usd_per_device_hour=1.0), offer("l", usd_per_device_hour=4.0)],
               [(0, 1, 70.0), (1, 1, 90.0)], [(0, 0, 10.0), (0, 1, 2.0)], [10.0],
               quality_min=[80.0], mean_mode=[True])
    m, r = _solve_all(k, 13.0)
    x = r.values[m.blocks["x"]]
    assert (x @ np.array([70.0, 90.0])) / 10.0 >= 80.0 - 1e-6


def test_n_plus_one_adds_a_spare_replica():
    # 10 req/s, 5 per replica, $1 each: 2 replicas; with N+1 one more = $3.
    base = dict(offers=[offer(usd_per_device_hour=1.0)], cands=[(0, 1, 70.0)],
                pairs=[(0, 0, 5.0)], demand=[10.0])
    _solve_all(coeffs(**base), 2.0)
    m, r = _solve_all(coeffs(**base, n_plus_1=[True]), 3.0)
    assert r.values[m.blocks["s"]][0] == 1


def test_spot_share_limits_cheap_spot():
    # Spot $1 and on-demand $3, both 5 req/s per replica, demand 10.
    # No cap: 2 spot = $2.  At most 50% on spot: 1 spot + 1 on-demand = $4.
    offers = [offer("a", mode="spot", usd_per_device_hour=1.0),
              offer("a", mode="on_demand", usd_per_device_hour=3.0)]
    args = ([(0, 1, 70.0), (1, 1, 70.0)], [(0, 0, 5.0), (0, 1, 5.0)], [10.0])
    _solve_all(coeffs(offers, *args, spot_share=1.0), 2.0)
    _solve_all(coeffs(offers, *args, spot_share=0.5), 4.0)


def test_power_cap_is_nameplate_times_pue():
    # Owned devices cost $1/h, rental $5/h; both serve 5 req/s; demand 20.
    # Nameplate 1000 W x PUE 1.5 = 1.5 kW per owned device; cap 3 kW -> at most 2 owned.
    # 2 owned (10 req/s, $2) + 2 rented (10 req/s, $10) = $12.  Without the cap: 4 owned = $4.
    offers = [offer("o", mode="purchase", usd_per_device_hour=1.0, tdp_w=1000.0, pue=1.5),
              offer("r", usd_per_device_hour=5.0)]
    args = ([(0, 1, 70.0), (1, 1, 70.0)], [(0, 0, 5.0), (0, 1, 5.0)], [20.0])
    _solve_all(coeffs(offers, *args), 4.0)
    _solve_all(coeffs(offers, *args, power_caps=[("r#0", np.array([0]), 3.0)]), 12.0)
    # 2.9 kW admits only one device: 1 owned ($1) + 3 rented ($15)
    _solve_all(coeffs(offers, *args, power_caps=[("r#0", np.array([0]), 2.9)]), 16.0)


def test_availability_and_existing_devices():
    # Existing devices: 2 owned, upkeep $0.5/h each; rental $1/h; 4 devices needed (demand 20,
    # 5 per device): 2 existing ($1) + 2 rented ($2) = $3.  Availability of rentals capped at 1
    # device makes it infeasible.
    offers = [offer("a", mode="purchase", existing=True, max_units=2,
                    parts=(("maintenance", 0.5),)), offer("a", usd_per_device_hour=1.0)]
    args = ([(0, 1, 70.0), (1, 1, 70.0)], [(0, 0, 5.0), (0, 1, 5.0)], [20.0])
    _solve_all(coeffs(offers, *args), 3.0)
    m = build_model(coeffs(offers, *args, availability=[("a@any", np.array([1]), 1.0)]))
    for backend, name in SOLVERS:
        assert solve(m, backend, name, time_limit_s=10).status == "infeasible"


def test_budget_and_capex_caps():
    # 2 devices at $3/h over 730 h = $4380 = $4380/month.  Budget 4000/month -> infeasible;
    # capex: purchase $1000/device, cap $1500 -> only 1 device -> infeasible.
    offers = [offer(usd_per_device_hour=3.0)]
    args = ([(0, 1, 70.0)], [(0, 0, 5.0)], [10.0])
    _solve_all(coeffs(offers, *args, hours=730.0, max_usd_per_month=4380.0), 4380.0)
    m = build_model(coeffs(offers, *args, hours=730.0, max_usd_per_month=4000.0))
    assert solve(m, "pulp", "cbc").status == "infeasible"
    assert solve(m, "ortools", "scip").status == "infeasible"
    buy = [offer(mode="purchase", usd_per_device_hour=1.0, capex=1000.0)]
    _solve_all(coeffs(buy, *args, max_capex_usd=2000.0), 2.0)
    m = build_model(coeffs(buy, *args, max_capex_usd=1500.0))
    assert solve(m, "pulp", "highs").status == "infeasible"


def test_energy_and_carbon_arithmetic():
    # One owned device: idle 100 W; replica idle 100 W, 400 W at its capacity of 10 req/s.
    # Demand 5 -> load 0.5 -> IT power 100 + 0.5 x (400 - 100) = 250 W?  No: the device idle
    # (100 W) plus the replica's idle above device idle (100 - 1 x 100 = 0) plus load
    # 0.5 x 300 = 150 W  -> 250 W.  Over 1000 h at PUE 1.2: 250 x 1.2 x 1000 / 1000 = 300 kWh.
    # Energy at $0.1/kWh = $30.  Carbon 500 g/kWh = 150 kg = 0.15 t at $100/t = $15.
    # Hardware: $2/h x 1000 h = $2000.  Total $2045.
    o = offer(mode="purchase", usd_per_device_hour=2.0, idle_w=100.0, pue=1.2, elec=0.1,
              carbon=500.0, energy_charged=True)
    k = coeffs([o], [(0, 1, 70.0)], [(0, 0, 10.0, 400.0)], [5.0], hours=1000.0,
               idle_c=[100.0], carbon_usd_per_tonne=100.0)
    m, r = _solve_all(k, 2045.0)
    assert m.obj_parts["energy"] @ r.values == pytest.approx(30.0)
    assert m.obj_parts["carbon"] @ r.values == pytest.approx(15.0)
    # Rented hardware: energy not charged (price includes it), carbon still priced.
    o2 = offer(usd_per_device_hour=2.0, idle_w=100.0, pue=1.2, elec=0.1, carbon=500.0)
    k2 = coeffs([o2], [(0, 1, 70.0)], [(0, 0, 10.0, 400.0)], [5.0], hours=1000.0,
                idle_c=[100.0], carbon_usd_per_tonne=100.0)
    _solve_all(k2, 2015.0)


def test_profile_load_factor_scales_energy_not_capacity():
    # Same as above with a profile whose mean is half the peak: load power 150 W -> 75 W,
    # IT 175 W -> 210 kWh -> $21 energy; still one replica.
    o = offer(mode="purchase", usd_per_device_hour=2.0, idle_w=100.0, pue=1.2, elec=0.1,
              energy_charged=True)
    k = coeffs([o], [(0, 1, 70.0)], [(0, 0, 10.0, 400.0)], [5.0], hours=1000.0,
               idle_c=[100.0], load_factor=[0.5])
    _solve_all(k, 2021.0)


def test_infeasible_when_demand_exceeds_every_cap():
    # Existing devices only (2), each 5 req/s: demand 20 cannot be met.
    k = coeffs([offer(mode="purchase", existing=True, max_units=2, parts=(("maintenance", 1.0),))],
               [(0, 1, 70.0)], [(0, 0, 5.0)], [20.0])
    m = build_model(k)
    for backend, name in SOLVERS:
        r = solve(m, backend, name, time_limit_s=10)
        assert r.status == "infeasible" and r.values is None, (backend, name, r.message)


def test_unknown_backend_or_solver_is_an_error_status():
    k = coeffs([offer()], [(0, 1, 70.0)], [(0, 0, 5.0)], [5.0])
    m = build_model(k)
    assert solve(m, "gurobi").status == "error"
    r = solve(m, "pulp", "scip")
    assert r.status == "error" and "cbc" in r.message


def test_lp_text_round_trips_through_highs(tmp_path):
    import highspy

    k = coeffs([offer("x", g=8, usd_per_device_hour=1.0), offer("y", usd_per_device_hour=1.5)],
               [(0, 4, 70.0), (1, 1, 70.0)], [(0, 0, 10.0), (0, 1, 2.2)], [25.0])
    m = build_model(k)
    f = tmp_path / "m.lp"
    f.write_text(m.to_lp_text())
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    assert h.readModel(str(f)) == highspy.HighsStatus.kOk
    h.run()
    assert h.getInfo().objective_function_value == pytest.approx(12.5)


def test_model_builder_sums_duplicates_and_computes_activity():
    from solver.mip.model import ModelBuilder

    b = ModelBuilder()
    v = b.add_vars("v", ["a", "b"], 0, 10, integer=False)
    b.add_rows("r", [0, 0, 0, 1], [v[0], v[0], v[1], v[1]], [1.0, 2.0, 1.0, -1.0], ["<", ">"],
               [5.0, -3.0], ["p", "q"])
    m = b.build()
    assert list(m.indptr) == [0, 2, 3]
    assert list(m.data) == [3.0, 1.0, -1.0]
    assert list(m.activity(np.array([1.0, 2.0]))) == [5.0, -2.0]
    assert m.violations(np.array([1.0, 2.0])) == []
    assert len(m.violations(np.array([1.0, 4.0]))) == 2   # r[p]: 7 > 5 and r[q]: -4 < -3


def test_fallback_solver_is_used_when_the_first_errors():
    from solver.mip.pipeline import solve_coefficients

    from solver.problem.schema import Workload

    class P:  # the pipeline needs only the problem's name, objective currency and workloads
        name = "fb"

        class objective:
            currency = "USD"

        workloads = [Workload.model_validate(dict(
            id="w0", demand={"requests_per_s": 5}, input_tokens={"mean": 100},
            output_tokens={"mean": 10}, slo={"ttft_ms": 100, "tpot_ms": 10}))]

    k = coeffs([offer(usd_per_device_hour=2.0)], [(0, 1, 70.0)], [(0, 0, 5.0)], [5.0])
    bad = solve_coefficients(P, k, backend="pulp", solver="nosuch", time_limit_s=5, mip_gap=0)
    assert bad.result.status == "error"
    ok = solve_coefficients(P, k, backend="pulp", solver="nosuch", time_limit_s=5, mip_gap=0,
                            fallback=["ortools:scip"])
    assert ok.result.status == "optimal" and ok.result.backend == "ortools"
    assert ok.result.objective == pytest.approx(2.0)


def test_plan_kpis_by_hand():
    """Energy case above, turned into a plan: every KPI recomputed by hand."""
    from solver.mip.pipeline import solve_coefficients
    from solver.problem.schema import Workload

    class P:
        name = "kpi"

        class objective:
            currency = "USD"

        workloads = [Workload.model_validate(dict(
            id="w0", demand={"requests_per_s": 5}, input_tokens={"mean": 100},
            output_tokens={"mean": 10}, slo={"ttft_ms": 200, "tpot_ms": 30}))]

    o = offer(mode="purchase", usd_per_device_hour=2.0, idle_w=100.0, pue=1.2, elec=0.1,
              carbon=500.0, energy_charged=True)
    k = coeffs([o], [(0, 1, 70.0)], [(0, 0, 10.0, 400.0)], [5.0], hours=1000.0,
               idle_c=[100.0], carbon_usd_per_tonne=100.0)
    plan = solve_coefficients(P, k, backend="pulp", solver="cbc", time_limit_s=10, mip_gap=0).plan
    d = plan.to_dict()
    assert d["objective"]["total"] == pytest.approx(2045.0)
    assert d["objective"]["usd_per_month"] == pytest.approx(2045.0 * 730 / 1000)
    assert d["objective"]["breakdown"]["purchase_amortisation"] == pytest.approx(2000.0)
    (dep,) = d["deployments"]
    assert dep["utilization"] == pytest.approx(0.5)          # 5 req/s of 10 per replica
    assert dep["power_w"] == pytest.approx(250.0)
    assert dep["energy_kwh"] == pytest.approx(300.0)
    assert dep["co2_kg"] == pytest.approx(150.0)
    (kpi,) = d["kpis"]
    # 5 req/s x 3600 s x 1000 h x 10 tokens = 1.8e8 output tokens; $2045 / 180 M tokens
    assert kpi["usd_per_million_output_tokens"] == pytest.approx(2045.0 / 180.0)
    assert kpi["ttft_ms"] == 100.0 and kpi["tpot_ms"] == 20.0
    assert d["totals"]["energy_kwh"] == pytest.approx(300.0)
    assert d["routing"][0]["share"] == 1.0


def test_raw_statuses_are_normalised():
    import pulp
    from ortools.linear_solver import pywraplp

    from solver.mip.backends import ortools_status, pulp_status

    assert pulp_status(pulp.LpStatusOptimal, pulp.LpSolutionOptimal) == "optimal"
    assert pulp_status(pulp.LpStatusOptimal, pulp.LpSolutionIntegerFeasible) == "time_limit"
    assert pulp_status(pulp.LpStatusInfeasible, pulp.LpSolutionInfeasible) == "infeasible"
    assert pulp_status(pulp.LpStatusUnbounded, pulp.LpSolutionUnbounded) == "unbounded"
    assert pulp_status(pulp.LpStatusNotSolved, pulp.LpSolutionNoSolutionFound) == "error"
    assert ortools_status(pywraplp.Solver.OPTIMAL) == "optimal"
    assert ortools_status(pywraplp.Solver.FEASIBLE) == "time_limit"
    assert ortools_status(pywraplp.Solver.INFEASIBLE) == "infeasible"
    assert ortools_status(pywraplp.Solver.NOT_SOLVED) == "error"
    assert ortools_status(pywraplp.Solver.ABNORMAL) == "error"


def test_every_constraint_family_is_built_when_its_data_exists():
    offers = [offer("a", mode="spot", usd_per_device_hour=1.0),
              offer("b", mode="purchase", usd_per_device_hour=2.0, capex=100.0)]
    k = coeffs(offers, [(0, 1, 70.0), (1, 1, 90.0)], [(0, 0, 5.0), (0, 1, 5.0)], [10.0],
               spot_share=0.5, n_plus_1=[True], quality_min=[80.0], mean_mode=[True],
               availability=[("a", np.array([0]), 10.0)], power_caps=[("r", np.array([1]), 100.0)],
               max_usd_per_month=1e6, max_capex_usd=1e6)
    m = build_model(k, cuts=True)
    assert set(m.row_family) == {
        "demand.served", "capacity.replica", "capacity.offer_units", "quality.mean",
        "caps.availability", "caps.power", "caps.spot_share", "redundancy.spare",
        "redundancy.spare_within_replicas", "caps.budget", "caps.capex", "cuts.replicas",
        "cuts.units"}
    # 1 spot + 2 purchased spares... by hand: 50% spot -> x_spot <= 5 (1 spot replica + spare),
    # mean quality 80 -> x_b >= 5; N+1: each used deployment needs one spare.
    # spot: 2 replicas ($2), purchase: 2 replicas ($4) -> $6
    _solve_all(k, 6.0)


def test_cp_sat_is_refused_rather_than_rounded():
    k = coeffs([offer()], [(0, 1, 70.0)], [(0, 0, 3.0)], [10.0], u=0.8)
    r = solve(build_model(k), "ortools", "cp-sat")
    assert r.status == "error" and "round" in r.message


def test_reservation_is_billed_for_its_whole_term():
    # 1 device needed.  On-demand $3/h, reserved 3y $1/h.  Horizon 1 year (8760 h):
    # on-demand 3 x 8760 = $26,280; reserved 3y pays 3 years: 1 x 26,280 = $26,280 (tie);
    # at $0.9/h reserved wins: 0.9 x 26,280 = $23,652.  Over 3 years: reserved 0.9 x 26,280.
    def k(res_price, hours):
        return coeffs([offer("a", usd_per_device_hour=3.0),
                       dataclasses.replace(offer("a", mode="reserved_3y", usd_per_device_hour=res_price),
                                           min_billed_hours=26280.0)],
                      [(0, 1, 70.0), (1, 1, 70.0)], [(0, 0, 5.0), (0, 1, 5.0)], [5.0], hours=hours)
    _solve_all(k(0.9, 8760.0), 0.9 * 26280)
    _solve_all(k(1.5, 8760.0), 3.0 * 8760)        # reserved 1.5 x 26,280 = 39,420 > 26,280
    _solve_all(k(1.5, 26280.0), 1.5 * 26280)       # over the full term it pays off


def test_drop_idle_takes_a_replica_no_row_needs():
    """An 8-device server at $8/h holds the one tp4 replica 10 req/s need (20 req/s each); a second
    tp4 replica is free (its server is paid, no energy charged), so a solver may return it: solver
    values with y = (1, 1) and all load on candidate 0 lose candidate 1's replica, cost unchanged."""
    from solver.mip.pipeline import drop_idle
    from solver.mip.status import SolveResult
    k = coeffs([offer("x", g=8, usd_per_device_hour=1.0)], [(0, 4, 70.0), (0, 4, 70.0)],
               [(0, 0, 20.0), (0, 1, 20.0)], [10.0])
    m = build_model(k)
    v = np.zeros(m.n_vars)
    v[m.blocks["y"]] = [1, 1]
    v[m.blocks["n"]] = [1]
    v[m.blocks["x"]] = [10.0, 0.0]
    assert m.violations(v) == []
    t = drop_idle(m, SolveResult("optimal", "b", "s", 0.0, values=v, objective=8.0))
    assert list(t.values[m.blocks["y"]]) == [1, 0] and list(t.values[m.blocks["n"]]) == [1]
    assert t.objective == pytest.approx(8.0) and m.violations(t.values) == []


def test_lowering_keeps_rows_that_need_the_replicas():
    """``lowered`` takes nothing a row needs: a >= row (a cover cut) and an N+1 spare keep theirs.
    Rows by hand: y0 + y1 >= 3 holds 2 + 1; x <= 2 y0 needs y0 >= 1.5; lowering y0 (first) may take
    nothing (the cover row is tight), y1 likewise: the values stay (2, 1)."""
    from solver.mip.model import ModelBuilder
    b = ModelBuilder()
    y = b.add_vars("y", ["y0", "y1"], 0.0, 10.0, integer=True)
    x = b.add_vars("x", ["x"], 0.0, 10.0, integer=False)
    b.add_rows("cover", np.zeros(2), y, [1.0, 1.0], ">", [3.0], ["c"])
    b.add_rows("cap", np.zeros(2), [x[0], y[0]], [1.0, -2.0], "<", [0.0], ["k"])
    m = b.build()
    assert list(m.lowered(np.array([2.0, 1.0, 3.0]), y)) == [2.0, 1.0, 3.0]
    # with the cover row loose (y1 = 4) y1 drops to 1 and y0 to 2 (x = 3 needs 1.5 -> 2)
    assert list(m.lowered(np.array([5.0, 4.0, 3.0]), y)) == [2.0, 1.0, 3.0]
