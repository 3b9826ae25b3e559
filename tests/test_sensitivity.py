"""Marginal values (duals with integer decisions fixed) and price thresholds.

Checked three ways: a hand-solved fleet, finite differences of the fixed-integer
LP on shipped problems (the LP value is convex in each rhs, so every dual must
lie between the left and right difference quotients), and price thresholds on
fleets whose switch price is computable by hand.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from solver.cli import main
from solver.explore.sensitivity import (DEMAND_STEP, HOURS_PER_MONTH, discrete_steps, fixed_model,
                                        marginal_values, price_thresholds, solve_lp_duals)
from solver.mip import build_model, solve
from solver.mip.pipeline import solve_problem
from solver.problem.load import load_problem
from test_mip_support import coeffs, offer

ROOT = Path(__file__).parents[1]
H = 730.0   # one month, so USD over the horizon = USD per month


def _power_fleet(demand=4.5, a_rps=2.0, cap_kw=3.0):
    """a: $4/h, 2 req/s per device; b: $1/h, 1 req/s, 1 kW each under a 3 kW cap; 4.5 req/s.

    Hand solution: b is cheaper per req/s ($1 vs $2), so use the 3 b the cap allows and
    1 a for the remaining 1.5 req/s: $7/h (3 a: $12/h, 2 a + 1 b: $9/h).
    Mix-fixed LP (counts continuous): b = 3 (cap), a = 1.5/2: $6/h; one more kW buys one
    more b (1 req/s) which replaces 1/2 a: saves 2 - 1 = $1 per hour = $730/month.
    Extra demand goes to a: $2/h per req/s = $1460/month.
    Fleet-fixed LP (3 b + 1 a = 5 req/s of capacity for 4.5): extra demand is free, the cap
    row has only fixed unit counts: both duals 0.
    """
    return coeffs([offer("a", usd_per_device_hour=4.0), offer("b", usd_per_device_hour=1.0, tdp_w=1000.0)],
                  [(0, 1, 1.0), (1, 1, 1.0)], [(0, 0, a_rps), (0, 1, 1.0)], [demand], hours=H,
                  power_caps=[("site", np.array([1]), cap_kw)])


def test_hand_solved_power_and_demand_duals():
    k = _power_fleet()
    m = build_model(k)
    res = solve(m)
    assert res.objective == pytest.approx(7.0 * H)
    s = marginal_values(k, m, res.values)
    by = {m.family: m for m in s.marginals}
    assert s.lp_objective_fleet == pytest.approx(7.0 * H)
    assert s.lp_objective_mix == pytest.approx(6.0 * H)
    p = by["caps.power"]
    assert p.usd_per_month_per_unit == pytest.approx(0.0, abs=1e-9)
    assert p.usd_per_month_per_unit_mix == pytest.approx(-1.0 * HOURS_PER_MONTH)
    assert "1 kW more power in site saves $730.00 per month" in p.text
    d = by["demand.served"]
    assert d.usd_per_month_per_unit == pytest.approx(0.0, abs=1e-9)
    assert d.usd_per_month_per_unit_mix == pytest.approx(2.0 * HOURS_PER_MONTH)


@pytest.mark.parametrize("backend,solver", [("pulp", "cbc"), ("ortools", "scip")])
def test_whole_step_of_a_power_cap(backend, solver):
    """+1 kW (one b device) re-solved as a MIP, against the hand solution (a: 1.5 req/s here).

    4.4 req/s: cap 3 -> 3 b + 1 a = $7 (4.5 req/s; 2 b + 2 a: $10, 3 a: $12); cap 4 -> 4 b
    serve only 4, so 3 b + 1 a stays: the step saves nothing although the marginal (mix)
    value is positive - integrality.
    4.0 req/s: cap 3 -> 3 b + 1 a = $7; cap 4 -> 4 b = $4: saves $3/h = $2190/month.
    A 3.5 kW cap with 4.0 req/s: 3 b leave 0.5 kW, less than a device: tight without equality;
    +1 kW -> 4.5 kW -> 4 b: the same $3/h saving.
    """
    for demand, cap, saving in ((4.4, 3.0, 0.0), (4.0, 3.0, 3.0 * HOURS_PER_MONTH),
                                (4.0, 3.5, 3.0 * HOURS_PER_MONTH)):
        k = _power_fleet(demand, a_rps=1.5, cap_kw=cap)
        m = build_model(k)
        res = solve(m, backend, solver)
        assert res.objective == pytest.approx(7.0 * H)
        (st,) = discrete_steps(k, m, res.values, backend=backend, solver=solver)
        assert (st.family, st.label, st.step, st.unit) == ("caps.power", "site", 1.0, "kW")
        assert st.saving_usd_per_month == pytest.approx(saving, abs=1e-6)


def test_whole_step_of_a_capex_cap_names_the_field_and_writes_money():
    """QA (explain 8): '+2.2e+05 USD of caps.capex'.  a: bought, $220,000 a device ($1/h amortised),
    2 req/s; b: rented at $4/h, 1 req/s; 4 req/s under a $220,000 capex cap: 1 a + 2 b = $9/h.  One
    more device's capex (+$220,000) buys a second a: 2 a = $2/h, saving $7/h = $5,110/month."""
    k = coeffs([offer("a", mode="purchase", capex=220000.0), offer("b", usd_per_device_hour=4.0)],
               [(0, 1, 1.0), (1, 1, 1.0)], [(0, 0, 2.0), (0, 1, 1.0)], [4.0], hours=H, max_capex_usd=220000.0)
    m = build_model(k)
    res = solve(m)
    assert res.objective == pytest.approx(9.0 * H)
    (st,) = discrete_steps(k, m, res.values)
    assert (st.family, st.step, st.unit) == ("caps.capex", 220000.0, "USD")
    assert st.saving_usd_per_month == pytest.approx(7.0 * HOURS_PER_MONTH)
    assert st.text.startswith("+$220,000 of fleet.budget.max_capex_usd (one more unit's worth) saves "
                              "$5,110.00 per month"), st.text


def test_fixed_model_modes():
    k = _power_fleet()
    m = build_model(k)
    v = solve(m).values
    f = fixed_model(m, v, "fleet")
    ints = np.flatnonzero(m.is_int)
    assert np.all(f.lb[ints] == v[ints]) and np.all(f.ub[ints] == v[ints]) and not f.is_int.any()
    g = fixed_model(m, v, "mix")
    assert np.all(g.ub[ints][v[ints] == 0] == 0) and np.all(g.lb[ints] == 0)


def _quotients(model, i, h):
    """(left, right) difference quotients of the LP value in rhs_i (None where infeasible)."""
    out = []
    base = solve_lp_duals(model).objective
    for step in (-h, h):
        rhs = model.rhs.copy()
        rhs[i] += step
        o = solve_lp_duals(replace(model, rhs=rhs)).objective
        out.append(None if o is None else (o - base) / step)
    return out


@pytest.mark.parametrize("name", ["enterprise-multi-region", "code-assistant-router",
                                  "batch-summarization"])
@pytest.mark.parametrize("mode", ["fleet", "mix"])
def test_duals_match_finite_differences(name, mode):
    s = solve_problem(load_problem(ROOT / "problems" / f"{name}.yaml"))
    fm = fixed_model(s.model, s.result.values, mode)
    lp = solve_lp_duals(fm)
    assert lp.objective is not None
    fam = fm.row_family.astype(str)
    rows = np.flatnonzero(np.isin(fam, ["demand.served", "caps.power", "caps.availability",
                                        "caps.spot_share", "quality.mean", "caps.budget"]))
    checked = 0
    for i in rows:
        h = 1e-4 * max(1.0, abs(fm.rhs[i]))
        left, right = _quotients(fm, i, h)
        y = lp.row_duals[i]
        # quotient noise: objective accurate to ~1e-9 relative, divided by the step
        tol = 1e-5 * max(1.0, abs(y)) + 1e-9 * abs(lp.objective) / h
        if left is not None:
            assert left <= y + tol, (fm.row_names[i], left, y, right)
        if right is not None:
            assert y <= right + tol, (fm.row_names[i], left, y, right)
        checked += 1
    assert checked >= 2
    # demand is priced by re-solves that move every demand-dependent limit with it (QA F4): going
    # up they only loosen (S D_w, x_p <= D_w, x_p <= D_w s_c, x_p / D_w <= y_c), going down they
    # only tighten, so each side is at most the quotient of the demand row's rhs alone
    per_month = HOURS_PER_MONTH / s.coefficients.hours
    sens = marginal_values(s.coefficients, s.model, s.result.values)
    demands = [mg for mg in sens.marginals if mg.family == "demand.served"]
    assert len(demands) == len(s.coefficients.workloads)
    for mg in demands:
        i = fm.row_names.index(f"demand.served[{mg.label}]")
        left, right = _quotients(fm, i, DEMAND_STEP * fm.rhs[i])
        down, up = mg.usd_per_month_per_unit_sides[mode]
        got = mg.usd_per_month_per_unit if mode == "fleet" else mg.usd_per_month_per_unit_mix
        assert got == up
        tol = 1e-5 * max(1.0, abs(left * per_month))
        assert down <= left * per_month + tol, (mg.label, down, left * per_month)
        if right is not None:
            assert up is not None and up <= right * per_month + tol, (mg.label, up, right * per_month)


def _threshold_fleet():
    """a: $2/h, 3 req/s; b: $1/h, 1 req/s; 6 req/s.

    Plans: 2 a = 4m_a, 1 a + 3 b = 2m_a + 3m_b, 6 b = 6m_b (m: price multipliers).
    a leaves when 6 < min(4m, 2m + 3), i.e. above m_a = 1.5.
    b enters when min(2 + 3m, 6m) < 4, i.e. below m_b = 2/3 (6 b alone).
    """
    return coeffs([offer("a", usd_per_device_hour=2.0), offer("b", usd_per_device_hour=1.0)],
                  [(0, 1, 1.0), (1, 1, 1.0)], [(0, 0, 3.0), (0, 1, 1.0)], [6.0], hours=H)


@pytest.mark.parametrize("backend,solver", [("pulp", "cbc"), ("ortools", "scip")])
def test_price_thresholds_by_hand(backend, solver):
    k = _threshold_fleet()
    m = build_model(k)
    res = solve(m, backend, solver)
    assert res.objective == pytest.approx(4.0 * H)
    th = {t.accelerator: t for t in price_thresholds(k, m, res.values, backend=backend,
                                                     solver=solver, steps=8)}
    width = 16.0 ** (1 / 2 ** 8) * (1 + 1e-9)
    a, b = th["a"], th["b"]
    assert a.used and not b.used
    assert a.multiplier_lo <= 1.5 <= a.multiplier_hi and a.multiplier_hi / a.multiplier_lo <= width
    assert b.multiplier_lo <= 2 / 3 <= b.multiplier_hi and b.multiplier_hi / b.multiplier_lo <= width
    assert a.solves == 9 and b.solves == 9
    assert "stops buying or renting it above x1.5" in a.text and "~$3.0" in a.text
    # the bracket's geometric midpoint is sqrt(hi / lo) - 1 from either end: said with two digits,
    # rounded up (QA s26: '+-0.5%' for 0.54%)
    rel = math.sqrt(a.multiplier_hi / a.multiplier_lo) - 1
    assert f"+-{math.ceil(rel * 1e4) / 100:.2f}%" in a.text and rel > 0


def test_owned_devices_are_not_what_a_price_threshold_is_about():
    """QA (explain 6, p6w): 'a100-80gb: still used at x16' although at x2 the plan stopped buying A100s
    and kept only the owned ones.  _threshold_fleet plus one owned a (free, 3 req/s) and one owned c
    (free, 1 req/s), 7 req/s: owned a + owned c + 3 req/s more, from 1 new a (2m) or 3 b (3).  The plan
    stops buying a above x1.5 and keeps using the owned a at any price; that is the threshold.  c is
    owned only: nothing to buy, no threshold, and it is not searched as an unused accelerator."""
    base = _threshold_fleet()
    k = coeffs(base.offers + [offer("a", mode="purchase", existing=True, max_units=1, parts=()),
                              offer("c", mode="purchase", existing=True, max_units=1, parts=())],
               [(0, 1, 1.0), (1, 1, 1.0), (2, 1, 1.0), (3, 1, 1.0)],
               [(0, 0, 3.0), (0, 1, 1.0), (0, 2, 3.0), (0, 3, 1.0)], [7.0], hours=H)
    m = build_model(k)
    res = solve(m)
    assert res.objective == pytest.approx(2.0 * H)
    th = {t.accelerator: t for t in price_thresholds(k, m, res.values, steps=8, unused=3)}
    assert set(th) == {"a", "b"}
    a = th["a"]
    width = 16.0 ** (1 / 2 ** 8) * (1 + 1e-9)
    assert a.used and a.outcome == "switch", a.text
    assert a.multiplier_lo <= 1.5 <= a.multiplier_hi and a.multiplier_hi / a.multiplier_lo <= width
    assert "stops buying or renting it above x1.5" in a.text and "(~$3.0" in a.text     # the new a's price
    (c,) = price_thresholds(k, m, res.values, accelerators=["c"], steps=8)
    assert c.solves == 0 and not c.used and "only owned devices" in c.text


def test_threshold_outside_range_is_reported():
    # b cannot serve at all beyond its availability: a is needed at any price
    k = replace(_threshold_fleet(), availability=[("b-max", np.array([1]), 2)])
    m = build_model(k)
    res = solve(m)
    (a,) = price_thresholds(k, m, res.values, accelerators=["a"], steps=8)
    assert a.multiplier_lo is None and a.solves == 1 and "still bought or rented at x16" in a.text


def test_whatif_cli(tmp_path, capsys):
    out = tmp_path / "w.json"
    rc = main(["whatif", str(ROOT / "problems" / "chat-assistant.yaml"), "--steps", "3",
               "--unused", "1", "--json", str(out)])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "Marginal values" in text and "Price thresholds" in text
    doc = json.loads(out.read_text())
    assert doc["objective_usd"] > 0 and doc["thresholds"]
    assert all(t["solves"] <= 4 for t in doc["thresholds"])


def test_whatif_cli_bad_input(capsys):
    rc = main(["whatif", str(ROOT / "problems" / "chat-assistant.yaml"), "--lp-solver", "cbc"])
    assert rc == 2
    assert "--lp-solver" in capsys.readouterr().err


def test_whatif_cli_tight_power_caps(tmp_path, capsys):
    """Caps of 4 and 3 kW on purchases: both tight (no 8-device server fits), each priced by a
    whole-server re-solve; the Irish one is worth something (the plan had to rent instead)."""
    text = (ROOT / "problems" / "enterprise-multi-region.yaml").read_text()
    text = text.replace("max_kw: 60, applies_to", "max_kw: 4, applies_to")
    text = text.replace("max_kw: 25, applies_to", "max_kw: 3, applies_to")
    f = tmp_path / "tight.yaml"
    f.write_text(text)
    out = tmp_path / "w.json"
    rc = main(["whatif", str(f), "--no-thresholds", "--json", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "kW in ireland (fleet.power_caps[1])" in printed
    steps = {s["label"]: s for s in json.loads(out.read_text())["steps"]}
    assert set(steps) == {"virginia#0", "ireland#1"}
    for s in steps.values():
        assert s["status"] == "optimal" and s["saving_usd_per_month"] >= -1e-6


def test_whatif_rejects_multi_period(capsys):
    rc = main(["whatif", str(ROOT / "problems" / "eight-quarter-growth.yaml")])
    assert rc == 2
    assert "single-period" in capsys.readouterr().err


def test_budget_equal_to_the_cost_is_worth_nothing():
    """The budget row restates the minimised cost: a budget of exactly the optimum ($7/h =
    $5110/month) binds but a larger one cannot lower the cost - dual 0, no step re-solve."""
    k = replace(_power_fleet(), max_usd_per_month=7.0 * HOURS_PER_MONTH)
    m = build_model(k)
    res = solve(m)
    assert res.objective == pytest.approx(7.0 * H)
    by = {g.family: g for g in marginal_values(k, m, res.values).marginals}
    b = by["caps.budget"]
    assert b.usd_per_month_per_unit == pytest.approx(0.0, abs=1e-9)
    assert b.usd_per_month_per_unit_mix == pytest.approx(0.0, abs=1e-9)
    assert [s.family for s in discrete_steps(k, m, res.values)] == ["caps.power"]


def test_a_budget_that_counts_reservations_by_the_month_trades_off_against_the_total():
    """QA: with reservations longer than the horizon the budget (their monthly rate) and the total
    (their whole term) differ, so a binding budget has a price: whatif said 'it only decides
    feasibility' and never re-solved it.  One month (H = 730 h), 5 req/s at 1 a device; a 1-year
    reservation at $3/h (26,280 over its term, 2,190 a month), a 3-year one at $2/h (52,560, 1,460).
    A budget of 5 x 1,460 + 2 x 730 = 8,760 a month allows two swaps from 3-year to 1-year: each
    saves 26,280 for 730 more a month, i.e. 36 USD per $1 of budget; one step of the largest monthly
    coefficient (2,190) allows 3 more swaps: 78,840 saved."""
    y1 = replace(offer("a", mode="reserved_1y", usd_per_device_hour=3.0), min_billed_hours=12 * H)
    y3 = replace(offer("a", mode="reserved_3y", usd_per_device_hour=2.0, instance="j"), min_billed_hours=36 * H)
    k = coeffs([y1, y3], [(0, 1, 1.0), (1, 1, 1.0)], [(0, 0, 1.0), (0, 1, 1.0)], [5.0], hours=H,
               max_usd_per_month=8760.0)
    m = build_model(k)
    res = solve(m)
    assert res.objective == pytest.approx(2 * 26280 + 3 * 52560)
    (b,) = [g for g in marginal_values(k, m, res.values).marginals if g.family == "caps.budget"]
    assert b.usd_per_month_per_unit_mix == pytest.approx(-36.0) and "dearer month" in b.text
    (st,) = discrete_steps(k, m, res.values)
    assert st.family == "caps.budget" and st.step == pytest.approx(2190.0)
    assert st.saving_usd_per_month == pytest.approx(3 * 26280.0)


# ------------------------------------------------------------------------ QA F1: no plan, failed re-solves

def test_threshold_where_a_higher_price_breaks_the_budget():
    """QA F1 (wi3): the price rise breaks a monthly budget before any switch.

    _threshold_fleet with a budget of $4.2/h: with a's price x m the plans cost 2 a = 4m,
    1 a + 3 b = 2m + 3, 6 b = 6.  4m <= 4.2 up to m = 1.05; 2m + 3 <= 4.2 needs m <= 0.6 and
    6 > 4.2, so from x1.05 on no plan fits: infeasible above x1.05, not 'still used at x16'.
    b (unused) is unaffected: a lower price cannot break the budget; it enters below x2/3.
    """
    k = replace(_threshold_fleet(), max_usd_per_month=4.2 * HOURS_PER_MONTH)
    m = build_model(k)
    res = solve(m)
    assert res.objective == pytest.approx(4.0 * H)
    th = {t.accelerator: t for t in price_thresholds(k, m, res.values, steps=8)}
    width = 16.0 ** (1 / 2 ** 8) * (1 + 1e-9)
    a, b = th["a"], th["b"]
    assert a.outcome == "infeasible" and a.solves == 9
    assert a.multiplier_lo <= 1.05 <= a.multiplier_hi and a.multiplier_hi / a.multiplier_lo <= width
    assert "no plan fits" in a.text and "x1.05" in a.text and "still used" not in a.text
    assert b.outcome == "switch" and b.multiplier_lo <= 2 / 3 <= b.multiplier_hi


def test_a_reservation_longer_than_the_horizon_raises_the_budget_by_its_monthly_rate():
    """Review: the budget row counts the horizon's months of a reservation (caps_budget), but a price
    rise was added there at its whole-term amount.  One month, 2 req/s on a 3-year reservation of a
    (1 req/s a device, $1/h): 2 devices; the budget of $3/h a month (2 x $1 x m <= 3) breaks above
    x1.5.  Charging the rise over the whole 36-month term put it at x1 + 0.5/36 = x1.014."""
    a = replace(offer("a", mode="reserved_3y", usd_per_device_hour=1.0), min_billed_hours=36 * H)
    k = coeffs([a], [(0, 1, 1.0)], [(0, 0, 1.0)], [2.0], hours=H, max_usd_per_month=3.0 * HOURS_PER_MONTH)
    m = build_model(k)
    res = solve(m)
    assert res.objective == pytest.approx(2.0 * 36 * H)           # the whole term is in the total
    (th,) = price_thresholds(k, m, res.values, steps=8)
    width = 16.0 ** (1 / 2 ** 8) * (1 + 1e-9)
    assert th.outcome == "infeasible" and th.multiplier_lo <= 1.5 <= th.multiplier_hi, th.text
    assert th.multiplier_hi / th.multiplier_lo <= width


def test_a_failed_bisection_step_is_not_a_bracket(monkeypatch):
    """A re-solve that fails at a mid-point ends the bisection as 'failed': the bracket it had then
    (x1 .. x4 for a: the third solve is the second mid-point, x16 -> x4 -> x2) is not a threshold found."""
    import solver.explore.sensitivity as S
    from solver.mip.status import ERROR, SolveResult
    k = _threshold_fleet()
    m = build_model(k)
    res = solve(m)
    calls = []

    def flaky(model, *a, **kw):
        calls.append(1)
        return (SolveResult(ERROR, "pulp", "cbc", 0.0, message="crashed") if len(calls) == 3
                else solve(model, *a, **kw))
    monkeypatch.setattr(S, "solve", flaky)
    (a,) = price_thresholds(k, m, res.values, accelerators=["a"], steps=8)
    assert a.outcome == "failed" and a.solves == 3
    assert (a.multiplier_lo, a.multiplier_hi) == pytest.approx((1.0, 4.0))
    assert "failed (error)" in a.text and "stops buying" not in a.text


WI3 = """\
schema_version: 1
name: wi3
workloads:
  - id: w
    demand: {requests_per_s: 10}
    input_tokens: {mean: 1000}
    output_tokens: {mean: 200}
    slo: {ttft_ms: 1000, tpot_ms: 50}
    models: [llama-3.1-8b]
    quantizations: [bf16]
fleet:
  accelerators: [l4, a10g]
  regions: [virginia]
  acquisition: [on_demand]
  tensor_parallel: [1]
  max_utilization: 1.0
  catalog_offers: false
  budget: {max_usd_per_month: 6300}
  availability:
    - {accelerator: a10g, max_devices: 3}
  offers:
    - {accelerator: l4, region: virginia, usd_per_device_hour: 1.0}
    - {accelerator: a10g, region: virginia, usd_per_device_hour: 1.5}
objective:
  horizon_hours: 1
measurements:
  - {accelerator: l4, model: llama-3.1-8b, workload: w, max_requests_per_s: 1.0, power_w: 100}
  - {accelerator: a10g, model: llama-3.1-8b, workload: w, max_requests_per_s: 2.0, power_w: 400}
"""


def test_whatif_cli_price_rise_breaks_the_budget(tmp_path, capsys):
    """QA F1, wi3.yaml: 3 a10g (the availability) + 4 l4 = $8.50/h = $6,205/month under a $6,300
    budget, $95/month = $0.130137/h to spare.  Other plans: 2 a10g + 6 l4 = $9/h, 10 l4 = $10/h.
    a10g at x m: 4.5m + 4 <= 8.630137 up to m = 1.02892 (2 a10g + 6 l4 needs m <= 0.5845);
    l4 at x m: 4.5 + 4m <= 8.630137 up to m = 1.03253 (3 + 6m: m <= 0.938; 10m: 0.863).
    `fleetopt solve` with a10g at $1.55 (x1.033) is infeasible (QA)."""
    f = tmp_path / "wi3.yaml"
    f.write_text(WI3)
    out = tmp_path / "w.json"
    assert main(["whatif", str(f), "--no-steps", "--unused", "0", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "still bought or rented at x16" not in printed
    th = {t["accelerator"]: t for t in json.loads(out.read_text())["thresholds"]}
    for acc, m_star in (("a10g", (1.5 + 0.130137 / 3) / 1.5), ("l4", 1 + 0.130137 / 4)):
        t = th[acc]
        assert t["outcome"] == "infeasible", t
        assert t["multiplier_lo"] <= m_star <= t["multiplier_hi"], t
        assert "fleet.budget.max_usd_per_month" in t["text"]


# ----------------------------------------------------------------------------- QA F4: the value of demand

def _demand(s, label="w0"):
    (d,) = [g for g in s.marginals if g.family == "demand.served" and g.label == label]
    return d


def test_demand_value_moves_the_spot_share_limit_with_the_demand():
    """QA F4a (wi5): on-demand $1/h, spot $0.5/h, 1 req/s per device, 10 req/s, at most 50% spot.

    Plan 5 + 5 = $7.5/h.  Half of each extra req/s may go to spot: 0.5 x (1 + 0.5) = $0.75/h =
    $547.50/month on both sides (the demand row's dual, $730, holds the 0.5 x 10 spot limit fixed).
    Full re-solves agree: 12 req/s -> 6 + 6 = $9/h, 14 -> $10.5/h: $0.75/h per req/s.
    The fleet (10 devices, 10 req/s) cannot serve more as it is.
    The spot-share value is unchanged: 1 pp = 0.1 req/s moved to spot saves 0.1 x 0.5 x 730 = $36.50.
    """
    k = coeffs([offer("l4", usd_per_device_hour=1.0), offer("l4", mode="spot", usd_per_device_hour=0.5)],
               [(0, 1, 1.0), (1, 1, 1.0)], [(0, 0, 1.0), (0, 1, 1.0)], [10.0], hours=H, spot_share=0.5)
    m = build_model(k)
    res = solve(m)
    assert res.objective == pytest.approx(7.5 * H)
    for demand, usd_h in ((12.0, 9.0), (14.0, 10.5)):
        more = replace(k, demand_rps=np.array([demand]))
        assert solve(build_model(more)).objective == pytest.approx(usd_h * H)
    s = marginal_values(k, m, res.values)
    d = _demand(s)
    assert d.usd_per_month_per_unit_mix == pytest.approx(547.5, rel=1e-6)
    assert d.usd_per_month_per_unit_sides["mix"] == _approx([547.5, 547.5])
    assert d.usd_per_month_per_unit is None
    assert d.usd_per_month_per_unit_sides["fleet"] == _approx([0.0, None])
    assert "cannot serve more of w0" in d.text and "$547.50" in d.text and "kink" not in d.text
    (sp,) = [g for g in s.marginals if g.family == "caps.spot_share"]
    assert sp.usd_per_month_per_unit_mix == pytest.approx(-36.5, rel=1e-6)
    # its limit in its unit: 50 percentage points (QA s18: the row's 5 req/s, labelled a percentage)
    assert sp.unit == "percentage point" and sp.rhs == pytest.approx(50.0)


def _bounded_route_fleet(demand, a10g_max=None, other_rps=0.0):
    """l4: $1/h, 1 req/s; a10g: $1.5/h, 2 req/s; energy 100 W per req/s on both at $0.1/kWh
    (= $0.01/h per req/s); ``a10g_max``: an availability limit on a10g devices; ``other_rps``:
    a second workload only l4 serves."""
    e = dict(energy_charged=True, elec=0.1, idle_w=0.0)
    kw = {} if a10g_max is None else {"availability": [("a10g@any#0", np.array([1]), a10g_max)]}
    return coeffs([offer("l4", usd_per_device_hour=1.0, **e), offer("a10g", usd_per_device_hour=1.5, **e)],
                  [(0, 1, 1.0), (1, 1, 1.0)], [(0, 0, 1.0, 100.0), (0, 1, 2.0, 200.0), (1, 0, 1.0, 100.0)],
                  [demand, other_rps], hours=H, **kw)


@pytest.mark.parametrize("demand,a10g_max,other_rps,usd_h,fleet,mix", [
    # QA F4b/c (p1_d9, wi6): 9 req/s -> 4 a10g + 1 l4 ($7 + 9 x $0.01 energy), exactly full.  With
    # counts continuous all 9 req/s go to a10g (x_a10g = D, its bound): each req/s more is a10g's
    # $0.75 + $0.01 = $0.76/h = $554.80/month both ways (the row dual alone, $737.30, prices l4).
    # Full re-solves: 11 req/s -> 5 a10g + 1 l4, 13 -> 6 a10g + 1 l4: $1.5/h per 2 req/s + energy.
    # The fleet fixed runs at full capacity: it cannot serve more (not 'costs $7.30').
    (9.0, None, 0.0, 7.09, [7.3, None], [554.8, 554.8]),
    # 8.5 req/s on the same 4 a10g + 1 l4: 0.5 req/s spare, so with the fleet fixed a req/s more or
    # less is energy only: $0.01/h = $7.30/month.
    (8.5, None, 0.0, 7.085, [7.3, 7.3], [554.8, 554.8]),
    # at most 4 a10g, 8 req/s, and 1 req/s of a second workload on 1 l4: $6 + $1 + 9 x $0.01, full.
    # Counts continuous: a req/s less saves a10g's $0.76/h ($554.80), a req/s more needs l4:
    # $1.01/h ($737.30): a kink.  Full re-solve: 9 + 1 req/s -> 4 a10g + 2 l4 = $8.10/h, $1.01 more.
    (8.0, 4, 1.0, 7.09, [7.3, None], [554.8, 737.3]),
    # the same without the second workload: 4 a10g only; l4 is not in the plan, so even with counts
    # continuous nothing can take a req/s more (a10g is at its availability; the full re-solve adds
    # an l4: 4 a10g + 1 l4 = $7.09/h).
    (8.0, 4, 0.0, 6.08, [7.3, None], [554.8, None]),
])
def test_demand_value_moves_the_route_bounds_with_the_demand(demand, a10g_max, other_rps, usd_h, fleet, mix):
    k = _bounded_route_fleet(demand, a10g_max, other_rps)
    m = build_model(k)
    res = solve(m)
    assert res.objective == pytest.approx(usd_h * H)
    if a10g_max:
        more = _bounded_route_fleet(demand + 1, a10g_max, other_rps)
        assert solve(build_model(more)).objective == pytest.approx((usd_h + 1.01) * H)
    else:
        for extra in (2.0, 4.0):
            more = _bounded_route_fleet(demand + extra)
            assert solve(build_model(more)).objective == pytest.approx((usd_h + 0.76 * extra) * H)
    d = _demand(marginal_values(k, m, res.values))
    assert [d.usd_per_month_per_unit, d.usd_per_month_per_unit_mix] == _approx([fleet[1], mix[1]])
    sides = d.usd_per_month_per_unit_sides
    assert sides["fleet"] == _approx(fleet) and sides["mix"] == _approx(mix)
    if fleet[1] is not None:
        # 4 a10g at 2 req/s + 1 l4 at 1 req/s (the capacities above) serve 9 req/s: 0.5 more than 8.5
        assert 0.5 / 1.021 <= d.headroom_rps <= 0.5 * (1 + 1e-6)
        assert d.text == ("each extra req/s of w0 costs $7.30 per month at the margin (this fleet serves about "
                          f"{d.headroom_rps:.3g} req/s more of w0 as it is; beyond that it needs more hardware: "
                          "see the whole steps)")
    elif mix[1] is None:
        assert d.text == ("this fleet cannot serve more of w0; nor could it by scaling what it already "
                          "uses (another limit binds)")
    else:
        assert d.text.startswith(f"this fleet cannot serve more of w0; each extra req/s of w0 costs "
                                 f"${mix[1]:,.2f} per month at the margin")
        assert ("a kink" in d.text) == (mix[0] != mix[1])
        if mix[0] != mix[1]:
            assert f"one req/s less saves ${mix[0]:,.2f} (a kink)" in d.text


def _approx(values):
    """pytest.approx for a list that may hold None (an infeasible side)."""
    return [v if v is None else pytest.approx(v, rel=1e-6) for v in values]


def test_a_solve_without_a_plan_is_refused_with_words():
    """QA: marginal_values (and price_thresholds, discrete_steps) after a solve with no plan raised
    "TypeError: 'NoneType' object is not subscriptable".  The fleet of _power_fleet with at most
    one unit of each offer serves 2 + 1 = 3 req/s of the 4.5 asked: infeasible, no values."""
    from solver.mip.status import SolveResult
    k = _power_fleet()
    m = build_model(k)
    ub = m.ub.copy()
    ub[m.blocks["n"]] = 1.0
    m = replace(m, ub=ub)
    res = solve(m)
    assert res.status == "infeasible" and res.values is None
    for f in (marginal_values, price_thresholds, discrete_steps):
        with pytest.raises(ValueError, match=rf"^{f.__name__}: there is no plan to analyse \(values is None: "
                                             r"the solve found none; solved.plan.status says why\)"):
            f(k, m, res.values)
        with pytest.raises(ValueError, match=rf"^{f.__name__}: there is no plan to analyse "
                                             r"\(the solve's status is 'infeasible'\)"):
            f(k, m, res)
    # a result with a plan may be given whole too: the same as its values
    k0 = _power_fleet()
    m0 = build_model(k0)
    ok = solve(m0)
    assert isinstance(ok, SolveResult)
    assert marginal_values(k0, m0, ok).to_dict() == marginal_values(k0, m0, ok.values).to_dict()


def test_whatif_on_a_plan_stopped_at_its_time_limit_says_so_and_exits_4(monkeypatch, tmp_path, capsys):
    """QA ops #4: whatif on a base plan that stopped at its time limit (11x the optimum) printed
    'plan: time_limit, ...' and marginal values as if they were the optimum's, with no gap, exit 0.
    The base solve is made to stop with the optimum as incumbent and a quarter of it as bound:
    gap 1 - 1/4 = 75%.  Like solve: exit 4, the gap printed and in the JSON, the figures said to be
    those of an unproven plan."""
    from solver.mip import pipeline
    real = pipeline.solve

    def stopped(model, *a, **kw):
        r = real(model, *a, **kw)
        return replace(r, status="time_limit", best_bound=r.objective / 4)
    monkeypatch.setattr(pipeline, "solve", stopped)
    out = tmp_path / "w.json"
    rc = main(["whatif", str(ROOT / "problems" / "chat-assistant.yaml"), "--no-steps", "--no-thresholds",
               "--json", str(out)])
    cap = capsys.readouterr()
    assert rc == 4, cap.err
    assert "plan: time_limit (not proven optimal: gap 75%)" in cap.out
    assert "it is not proven optimal" in cap.err and "raise --time-limit" in cap.err
    d = json.loads(out.read_text())
    assert d["status"] == "time_limit" and d["gap"] == pytest.approx(0.75)
    assert d["note"].startswith("of a plan not proven optimal (time limit, gap 75%)")


def test_a_capex_cap_moves_the_price_threshold():
    """QA s18: the price search scaled the objective and the monthly budget, not the capex cap, so
    the H100 server was said to stay until x3.13 its price where the cap stops it at x1.136.
    _threshold_fleet with a bought ($2/h, $100 of capex a device) and a capex cap of $120: 2 a
    (capex 200) do not fit, so the plan is 1 a + 3 b (2m + 3).  a leaves where 100m > 120 (x1.2),
    before the cost crossover 2m + 3 > 6 (x1.5) that an unscaled cap would report."""
    base = _threshold_fleet()
    k = replace(base, offers=[offer("a", mode="purchase", usd_per_device_hour=2.0, capex=100.0),
                              base.offers[1]], max_capex_usd=120.0)
    m = build_model(k)
    res = solve(m)
    assert res.objective == pytest.approx(5.0 * H)
    (a,) = price_thresholds(k, m, res.values, accelerators=["a"], steps=8)
    width = 16.0 ** (1 / 2 ** 8) * (1 + 1e-9)
    assert a.used and a.outcome == "switch", a.text
    assert a.multiplier_lo <= 1.2 <= a.multiplier_hi and a.multiplier_hi / a.multiplier_lo <= width


def _bought_fleet(demand: float, **kw):
    """a bought: $8,760 a device over 5 years with 10% a year maintenance ($0.20 + $0.10 an hour) and
    $0.10/h hosting, all-in $0.40/h; b on demand at $0.60/h; 1 req/s each."""
    parts = (("purchase_amortisation", 0.2), ("maintenance", 0.1), ("hosting", 0.1))
    return coeffs([offer("a", mode="purchase", parts=parts, capex=8760.0), offer("b", usd_per_device_hour=0.6)],
                  [(0, 1, 1.0), (1, 1, 1.0)], [(0, 0, 1.0), (0, 1, 1.0)], [demand], hours=H, **kw)


def test_a_purchase_threshold_says_what_it_scales_and_gives_the_purchase_price():
    """QA s22: 'l40s ... above x1.44 its price' was the all-in hourly rate (amortisation + maintenance +
    hosting); a user raising purchase.usd_per_device found the break-even at x1.56.  By hand: a leaves
    where 0.4 m > 0.6, x1.5; the purchase price P with that rate: P x 0.3 / 8,760 + 0.1 = 0.6, P = 14,600
    (x1.667, not x1.5)."""
    k = _bought_fleet(6.0)
    m = build_model(k)
    res = solve(m)
    assert res.objective == pytest.approx(6 * 0.4 * H)
    (a,) = price_thresholds(k, m, res.values, accelerators=["a"], steps=8)
    assert a.multiplier_lo <= 1.5 <= a.multiplier_hi
    assert "stops buying or renting it above x1.5 its all-in hourly rate (amortisation + maintenance + hosting: " \
           "~$0.6" in a.text
    (key,) = a.purchase_usd_per_device
    assert a.purchase_usd_per_device[key] == pytest.approx(14_600, rel=0.01)
    lo, hi = (float(x.replace(",", "")) for x in
              re.search(r"now \$8,760 \(between \$([\d,]+) and \$([\d,]+)\)", a.text).groups())
    assert lo <= 14_600 <= hi and hi / lo < 1.02
    assert "as a purchase price (purchase.usd_per_device; maintenance a fraction of it, hosting held)" in a.text


def test_a_capex_cap_counts_the_purchase_price_of_the_all_in_rate():
    """The capex cap at multiplier m counts the purchase price with that all-in rate (hosting held), so
    the threshold and its purchase price agree.  One req/s, cap $12,000: a leaves where its price P(m) =
    8,760 (0.4 m - 0.1) / 0.3 > 12,000, m > (12,000 x 0.3 / 8,760 + 0.1) / 0.4 = 1.2774 (P = $12,000),
    before the cost crossover x1.5; a cap scaled by m alone would say 12,000 / 8,760 = x1.370."""
    k = _bought_fleet(1.0, max_capex_usd=12_000.0)
    m = build_model(k)
    res = solve(m)
    assert res.objective == pytest.approx(0.4 * H)
    (a,) = price_thresholds(k, m, res.values, accelerators=["a"], steps=8)
    assert a.outcome == "switch", a.text
    assert a.multiplier_lo <= (12_000 * 0.3 / 8_760 + 0.1) / 0.4 <= a.multiplier_hi
    assert a.purchase_usd_per_device["a@r/purchase/p:i"] == pytest.approx(12_000, rel=0.01)


# ------------------------------------------------------------------------ whole steps: which size

def _sized_fleet(one_usd, cap_devices, demand):
    """h sold as 1-device units (``one_usd`` a device-hour) and as 4-device units ($1 a device-hour,
    $4 a unit), both under one availability limit on h devices; c: $3/h a device, unlimited.
    Every device serves 1 req/s."""
    offers = [offer("h", usd_per_device_hour=one_usd, instance="one"),
              offer("h", g=4, usd_per_device_hour=1.0, instance="four"),
              offer("c", usd_per_device_hour=3.0)]
    return coeffs(offers, [(0, 1, 1.0), (1, 1, 1.0), (2, 1, 1.0)], [(0, 0, 1.0), (0, 1, 1.0), (0, 2, 1.0)],
                  [demand], hours=H, availability=[("h@any#0", np.array([0, 1]), cap_devices)])


def test_whole_step_is_the_smallest_unit_that_saves_as_much():
    """QA: '+8 x h100-sxm device anywhere ... saves $509.11 (integer effects: a smaller step may save
    nothing)' where +1 device saved the same (a 1-device offer existed).  h at $1 a device either
    way, at most 2 devices, 3 req/s: 2 one-device h + 1 c = $5/h (a 4-device unit does not fit).
    +1 device (cap 3): 3 one-device h = $3/h, saving $2/h = $1,460/month; +4 (room for a 4-device
    unit) saves the same, no more: the step reported is +1."""
    k = _sized_fleet(1.0, 2, 3.0)
    m = build_model(k)
    res = solve(m)
    assert res.objective == pytest.approx(5.0 * H)
    (st,) = discrete_steps(k, m, res.values)
    assert (st.family, st.step, st.unit) == ("caps.availability", 1.0, "devices")
    assert st.saving_usd_per_month == pytest.approx(2.0 * HOURS_PER_MONTH)
    assert [s for s, _ in st.tried] == [1.0, 4.0]
    assert [v for _, v in st.tried] == pytest.approx([1460.0, 1460.0])
    assert st.text == ("+1 x h device anywhere (fleet.availability[0]) (room for one more of the smallest "
                       "unit it counts) saves $1,460.00 per month after a full re-solve; +4 devices (room "
                       "for its largest unit) saves no more")
    assert "smaller step may save nothing" not in st.text


def test_whole_step_larger_than_the_smallest_unit_says_what_the_smaller_saves():
    """The 1-device h at $4 a device (dearer than c's $3), at most 4 devices, 6 req/s: one 4-device
    unit ($4) + 2 c ($6) = $10/h.  +1 device buys nothing cheaper (a 1-device h at $4 replaces a c
    at $3): saves $0; +4 devices: two 4-device units serve 8 req/s for $8/h, saving $2/h =
    $1,460/month.  The step is +4, and the text says +1 saves $0."""
    k = _sized_fleet(4.0, 4, 6.0)
    m = build_model(k)
    res = solve(m)
    assert res.objective == pytest.approx(10.0 * H)
    (st,) = discrete_steps(k, m, res.values)
    assert st.step == 4.0 and st.saving_usd_per_month == pytest.approx(1460.0)
    assert [v for _, v in st.tried] == pytest.approx([0.0, 1460.0], abs=1e-6)
    assert st.text.endswith("(room for one more of the largest unit it counts) saves $1,460.00 per month "
                            "after a full re-solve; +1 device saves $0.00"), st.text


def test_a_saving_within_the_base_plans_gap_is_no_saving():
    """QA (s20): a base plan proven only within 20% was 2.4% above the optimum, and whatif said the
    smallest step 'saves $709.78' - the base plan's own gap.  Given the base's gap, a saving below it
    and the re-solves' gaps is no saving.  Here: the same sized fleet as above, the base plan the
    optimum ($5/h); told its gap is 0.5, the $1,460/month (40%) saving is within it."""
    k = _sized_fleet(1.0, 2, 3.0)
    m = build_model(k)
    res = solve(m)
    (st,) = discrete_steps(k, m, res.values, base_gap=0.5)
    assert st.step == 4.0 and st.saving_usd_per_month == pytest.approx(1460.0)
    assert "saves nothing beyond the plans' gaps ($1,460.00 per month after a full re-solve)" in st.text
    (st,) = discrete_steps(k, m, res.values, base_gap=0.1)
    assert st.step == 1.0 and "saves $1,460.00 per month" in st.text


def test_a_step_resting_on_a_time_limited_re_solve_says_it_is_not_proven(monkeypatch):
    """QA (s20): a re-solve stopped at its time limit was compared as if optimal: 'the plan does not
    change (nor does any smaller step)' with a dearer plan shown as a saving (abs), no smaller step
    tried.  The largest step's re-solve is made to stop at its limit with a plan $0.1/h dearer."""
    import solver.explore.sensitivity as sens
    from solver.mip.status import TIME_LIMIT
    k = _sized_fleet(1.0, 2, 3.0)
    m = build_model(k)
    res = solve(m)
    real = sens.solve

    def stopped(model, *a, **kw):
        r = real(model, *a, **kw)
        return replace(r, status=TIME_LIMIT, objective=res.objective + 0.1 * H)
    monkeypatch.setattr(sens, "solve", stopped)
    (st,) = discrete_steps(k, m, res.values)
    assert st.status == "time_limit" and [s for s, _ in st.tried] == [4.0]
    assert "-$" in st.text and "stopped at its time limit: not proven" in st.text
    assert "nor would a smaller step" not in st.text


def test_a_purchase_price_threshold_moves_the_owned_devices_upkeep_with_the_price():
    """QA s23: whatif said an A100 is bought below ~$1,621 a device, read off the all-in rate's threshold
    with the 8 owned A100s' maintenance held at today's price; re-solves with the catalog price at $1,550
    bought none (the owned devices' maintenance is a fraction of the same price).

    a: one owned device ($0.10/h maintenance + $0.10/h hosting) and new ones at $8,760 (5 years, 10% a
    year: $0.20 + $0.10 + $0.10 hosting = $0.40/h); b rented at $0.15/h, at most one device; 1 req/s each,
    2 req/s.  Base: owned a + b = $0.35/h, no new a.
    All-in rate x m, owned held: a new a replaces the owned one where 0.4 m < 0.2, m = 0.5 (read as a
    price: (0.2 - 0.1) / 0.3 x 8,760 = $2,920).  At a catalog price x f the owned a costs 0.1 f + 0.1, never
    more than a new one (0.3 f + 0.1); a new a replaces b where 0.3 f + 0.1 < 0.15: f = 1/6, $1,460."""
    parts = (("purchase_amortisation", 0.2), ("maintenance", 0.1), ("hosting", 0.1))
    k = coeffs([offer("a", mode="purchase", parts=parts, capex=8760.0),
                offer("a", mode="purchase", parts=parts[1:], existing=True, max_units=1, instance="existing"),
                offer("b", usd_per_device_hour=0.15)],
               [(0, 1, 1.0), (1, 1, 1.0), (2, 1, 1.0)], [(0, 0, 1.0), (0, 1, 1.0), (0, 2, 1.0)], [2.0], hours=H,
               availability=[("b@any#0", np.array([2]), 1)])
    m = build_model(k)
    res = solve(m)
    assert res.objective == pytest.approx(0.35 * H)
    (a,) = price_thresholds(k, m, res.values, accelerators=["a"], steps=8)
    assert not a.used and a.outcome == "switch", a.text
    assert a.multiplier_lo <= 0.5 <= a.multiplier_hi
    assert a.purchase_usd_per_device == {"a@r/purchase/p:i": pytest.approx(1_460, rel=0.03)}
    lo, hi = (float(x.replace(",", "")) for x in
              re.search(r"now \$8,760 \(between \$([\d,]+) and \$([\d,]+)\)", a.text).groups())
    assert lo <= 1_460 <= hi
    assert "the owned device's maintenance moves with it" in a.text


def test_the_enterprise_a100_purchase_threshold_brackets_the_re_solves():
    """QA s23's case: enterprise-multi-region owns 8 A100s; re-solves with a catalog overlay setting
    a100-80gb purchase.usd_per_device buy new A100s at $800 and $870, none at $920, $1,000 or $1,550
    (the figure read off the all-in rate was $1,621)."""
    lp = load_problem(ROOT / "problems" / "enterprise-multi-region.yaml")
    s = solve_problem(lp)
    (a,) = price_thresholds(s.coefficients, s.model, s.result.values, accelerators=["a100-80gb"],
                            time_limit_s=30)
    assert not a.used and a.outcome == "switch", a.text
    lo, hi = (float(x.replace(",", "")) for x in
              re.search(r"now \$12,500 \(between \$([\d,]+) and \$([\d,]+)\)", a.text).groups())
    assert 870 <= lo <= hi <= 920, a.text
    (price,) = set(a.purchase_usd_per_device.values())      # one catalog price, every region's offer
    assert price == pytest.approx((lo * hi) ** 0.5, rel=0.01)
    assert "the 8 owned devices' maintenance moves with it" in a.text


TINY_BOUGHT = """schema_version: 1
name: tinyb
workloads:
  - id: chat
    demand: {requests_per_s: 6}
    input_tokens: {mean: 500, p90: 900, distribution: lognormal, cv: 0.5}
    output_tokens: {mean: 200, p90: 400, distribution: lognormal, cv: 0.5}
    slo: {ttft_ms: 1500, tpot_ms: 80, percentile: 99}
    models: [llama-3.1-8b]
    quantizations: [bf16]
fleet:
  accelerators: [l4, a10g, l40s]
  regions: [virginia]
  providers: [aws]
  acquisition: [on_demand, purchase]
  tensor_parallel: [1]
  max_utilization: 0.8
  budget: {max_capex_usd: 20000}
objective: {horizon_months: 1, carbon_usd_per_tonne: 0}
"""


def test_the_demand_slope_says_how_far_the_fleet_serves_more(tmp_path):
    """QA s26: 'each extra req/s of chat costs $14.37 per month at the margin' (the energy of routing onto
    the bought L4s) held for 0.024 req/s: the fleet of 4 A10Gs and 5 L4s serves 6.024 req/s at the 0.8
    load ceiling, and 1 req/s more cost $733/month by re-solve.  The sentence now gives that room: by
    hand, the plan's replicas x their capacity per replica (the routing table) x 0.8 - 6 req/s."""
    from solver.explore.sensitivity import marginal_values
    (tmp_path / "b.yaml").write_text(TINY_BOUGHT)
    lp = load_problem(tmp_path / "b.yaml")
    solved = solve_problem(lp, backend="highspy", mip_gap=1e-6)
    plan = solved.plan.to_dict()
    cap = {r["deployment"]: r["capacity_rps"] for r in plan["routing"]}
    room = sum(d["replicas"] * cap[d["id"]] for d in plan["deployments"]) * 0.8 - 6.0
    assert 0 < room < 0.1
    sens = marginal_values(solved.coefficients, solved.model, solved.result.values)
    m = next(x for x in sens.marginals if x.family == "demand.served")
    assert room / 1.021 <= m.headroom_rps <= room * (1 + 1e-6)
    assert f"(this fleet serves about {m.headroom_rps:.3g} req/s more of chat as it is; beyond that it needs " \
           "more hardware: see the whole steps)" in m.text
