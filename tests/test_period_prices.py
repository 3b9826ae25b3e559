"""Prices that change over a multi-period plan: objective.periods.price_change_per_period.

One workload (chat, 20 req/s flat, no profile) on A100s that serve 10 req/s a replica (a
measurement; max_utilization 1, so 2 devices every period), in Virginia only.  A decision made in
period t pays the price x (1 + change)^t.  Every expected optimum below is derived by hand in its
test from the figures written there (per device; the two devices decide alike, nothing couples them).
"""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from solver.errors import InputError
from solver.mip.decompose import DecompositionStats
from solver.mip.pipeline import solve_problem
from solver.problem.load import load_problem
from solver.verify import verify_plan

from period_fixtures import MEASURED_CHAT, a100_overlay, decomposed_stats, load_with_overlay, solve_on_every_stack

#: a purchased A100 at 8,760 USD over a 1-year life: 1 $/h depreciation, 10 % a year maintenance
#: (8,760 x 0.1 / 8,760 h = 0.1 $/h, a share of the price), 0.2 $/h hosting, no lead time
#: (the overlay also prices Texas, which these problems do not use)
OVERLAY = a100_overlay(lead_quarters=0, devices_per_server=1, life_years=1, maintenance_per_year=0.1,
                       hosting_usd_per_hour=0.2)

BASE = {
    "schema_version": 1, "name": "prices", "catalog": ["cat.yaml"],
    **copy.deepcopy(MEASURED_CHAT),
    "fleet": {"accelerators": ["a100-80gb"], "regions": ["virginia"], "acquisition": ["on_demand"],
              "tensor_parallel": [1], "max_utilization": 1.0, "catalog_offers": False,
              "offers": [{"accelerator": "a100-80gb", "region": "virginia", "usd_per_device_hour": 1.0}]},
    "objective": {"include_energy": False, "periods": {"count": 3, "months": 1}},
}


def _load(tmp_path, doc: dict, name: str = "p"):
    return load_with_overlay(tmp_path, doc, OVERLAY, name)


def _solve_everywhere(tmp_path, doc: dict, expect: float) -> dict:
    return solve_on_every_stack(tmp_path, doc, expect, OVERLAY)


def _decomposed(tmp_path, doc: dict) -> DecompositionStats:
    return decomposed_stats(tmp_path, doc, OVERLAY)


def _buy_doc(change: float) -> dict:
    """Buy (purchase, catalog overlay) or rent (1.52 $/device-h on demand) over 3 one-month periods
    (730 h), the purchase price changing by ``change`` a period."""
    doc = copy.deepcopy(BASE)
    doc["fleet"].update(acquisition=["purchase", "on_demand"], catalog_offers=True)
    doc["fleet"]["offers"][0]["usd_per_device_hour"] = 1.52
    doc["objective"]["periods"]["price_change_per_period"] = {"purchase": change}
    return doc


def _buys(plan: dict) -> list:
    return [sum(u.get("buy", 0) for u in r["units"] if u["kind"] == "purchase") for r in plan["periods"]["timeline"]]


# ------------------------------------------------------------------ (a) a falling purchase price

def test_a_falling_purchase_price_makes_ordering_later_pay(tmp_path):
    # A device bought in period tau costs, each period in service, (1 + 0.1) x p^tau $/h (depreciation
    # and maintenance at its order's price p^tau = (1 + r)^tau) + 0.2 hosting; rented, 1.52 $/h.
    # Buy in 0: 3 x 1.3 x 730 = 2,847.  Rent in 0, buy in 1: 730 x (1.52 + 2 x (1.1 p + 0.2)) =
    # 730 x (1.92 + 2.2 p).  Break-even: 1.92 + 2.2 p = 3.9, p = 0.9: r = -10 %.
    # r = -20 %: 730 x (1.92 + 1.76) = 2,686.4 (buy in 2: 730 x (3.04 + 0.704 + 0.2) = 2,879.12; rent
    # all: 730 x 4.56 = 3,328.8): rent in 0, buy in 1; two devices 5,372.8.
    plan = _solve_everywhere(tmp_path, _buy_doc(-0.2), 5372.8)
    assert _buys(plan) == [0, 2, 0]
    timeline = plan["periods"]["timeline"]
    # the period's capex at its price: 2 x 8,760 x 0.8; the accrued costs: 2 x 1.52 x 730 = 2,219.2,
    # then 2 x 730 x (1.1 x 0.8 + 0.2) = 1,576.8 a period
    assert [r["capex_usd"] for r in timeline] == pytest.approx([0.0, 14016.0, 0.0])
    assert [r["total_usd"] for r in timeline] == pytest.approx([2219.2, 1576.8, 1576.8])
    assert timeline[1]["cost_usd"] == pytest.approx({"purchase_amortisation": 1168.0, "maintenance": 116.8,
                                                      "hosting": 292.0})
    assert plan["periods"]["price_change_per_period"] == {"purchase": -0.2}
    # either side of the break-even: -9 %: 730 x (1.92 + 2.002) = 2,863.06 > 2,847, bought in 0 (two
    # devices 5,694); -11 %: 730 x (1.92 + 1.958) = 2,830.94 < 2,847, bought in 1 (5,661.88)
    for change, when, total in ((-0.09, [2, 0, 0], 5694.0), (-0.11, [0, 2, 0], 5661.88)):
        res = solve_problem(_load(tmp_path, _buy_doc(change), "edge"), backend="pulp", solver="cbc", mip_gap=1e-9)
        assert res.plan.objective.total == pytest.approx(total, rel=1e-9), change
        assert _buys(json.loads(res.plan.to_json())) == when, change


def test_the_decomposition_charges_a_purchase_its_cheapest_order_price(tmp_path):
    # Period t's relaxation charges a device in service in t at the cheapest price it may have been
    # ordered at (tau <= t, falling: 0.8^t): own 730 x (1.1 x 0.8^t + 0.2) < rent 1,109.6 a device:
    # 2 x 949 = 1,898; 2 x 788.4 = 1,576.8; 2 x 659.92 = 1,319.84.  No period lends its bound to a
    # later one (it charged dearer prices: 1,898 there would put the bound above the optimum 5,372.8).
    st = _decomposed(tmp_path, _buy_doc(-0.2))
    assert st.period_bounds == pytest.approx([1898.0, 1576.8, 1319.84])
    assert sum(st.period_bounds) <= 5372.8


def test_a_rising_purchase_price_is_charged_at_the_earliest_order_in_the_relaxation(tmp_path):
    # +20 % a period: a device bought in 0 (2,847) beats one bought later (rent in 0, buy in 1:
    # 730 x (1.92 + 2.2 x 1.2) = 3,328.8) and renting (3,328.8): both bought in 0, 5,694.  Period t's
    # relaxation charges a device in service at the cheapest order price, period 0's (not t's, 1.2^t,
    # which would make each later period's bound 2 x 1,109.6 = 2,219.2, 6,336.4 in all, above the
    # optimum): 2 x 949 = 1,898 every period, 5,694 = the optimum
    _solve_everywhere(tmp_path, _buy_doc(0.2), 5694.0)
    st = _decomposed(tmp_path, _buy_doc(0.2))
    assert st.period_bounds == pytest.approx([1898.0, 1898.0, 1898.0])


def test_the_budget_rows_see_the_changed_prices(tmp_path):
    # No demand in period 0 (start_period 1); at most 1,577 USD a month.  Two devices bought in period 1
    # accrue 2 x 730 x (1.1 x 0.8 + 0.2) = 1,576.8 a month (at the catalog price, 1,898: over the budget),
    # and are the optimum (buy in 2, renting in 1: 1,109.6 + 659.92 a device, more than 2 x 788.4):
    # 2 x 1,576.8 = 3,153.6
    doc = _buy_doc(-0.2)
    doc["workloads"][0]["demand"]["start_period"] = 1
    doc["fleet"]["budget"] = {"max_usd_per_month": 1577}
    plan = _solve_everywhere(tmp_path, doc, 3153.6)
    assert _buys(plan) == [0, 2, 0]
    assert [r["total_usd"] for r in plan["periods"]["timeline"]] == pytest.approx([0.0, 1576.8, 1576.8])


def test_a_capex_cap_counts_each_order_at_its_price(tmp_path):
    # At most 14,016 USD ordered in the horizon: two devices at period 1's price (2 x 8,760 x 0.8 =
    # 14,016), the optimum of the first test, stay (5,372.8).  At 14,015 they do not: one bought in 1
    # (7,008; 2,686.4) and one in 2 (8,760 x 0.64 = 5,606.4; rented in 0 and 1, 2 x 1,109.6, then
    # 730 x (1.1 x 0.64 + 0.2) = 659.92: 2,879.12) cost 12,614.4 and 5,565.52 (both in 2: 5,758.24;
    # one in 0 and one in 2: 14,366.4 of capex; one bought in 1, the other rented: 2,686.4 + 3 x
    # 1,109.6 = 6,015.2)
    doc = _buy_doc(-0.2)
    doc["fleet"]["budget"] = {"max_capex_usd": 14016}
    _solve_everywhere(tmp_path, doc, 5372.8)
    doc["fleet"]["budget"] = {"max_capex_usd": 14015}
    plan = _solve_everywhere(tmp_path, doc, 5565.52)
    assert _buys(plan) == [0, 1, 1]


# ------------------------------------------------------------- (b) a rising on-demand price

def _reserve_doc(change: float) -> dict:
    """Rent on demand (1 $/device-h) or reserve for a year (0.7 $/device-h) over 2 periods of 4
    months (2,920 h), the on-demand price changing by ``change`` a period."""
    doc = copy.deepcopy(BASE)
    doc["fleet"]["acquisition"] = ["on_demand", "reserved_1y"]
    doc["fleet"]["offers"].append({"accelerator": "a100-80gb", "region": "virginia", "acquisition": "reserved_1y",
                                   "usd_per_device_hour": 0.7})
    doc["objective"]["periods"].update(count=2, months=4, price_change_per_period={"on_demand": change})
    return doc


def test_a_rising_on_demand_price_makes_a_reservation_pay(tmp_path):
    # A 1-year term covers 3 periods of 4 months and pays them all (2 serve within the horizon): a
    # device reserved in period 0 costs 0.7 x 3 x 2,920 = 6,132; rented, 2,920 x (1 + q) with q the
    # on-demand multiplier of period 1 (reserved in 1 costs more than either: 2,920 + 6,132).
    # Unchanged (q = 1): rent, 5,840 a device, 11,680 for two; +20 %: rent 6,424 > 6,132: reserve,
    # 12,264 for two.
    plan = _solve_everywhere(tmp_path, _reserve_doc(0.0), 11680.0)
    assert "price_change_per_period" not in plan["periods"]          # no change given: none stated
    plan = _solve_everywhere(tmp_path, _reserve_doc(0.2), 12264.0)
    assert [sum(u.get("reserve", 0) for u in r["units"] if u["kind"] == "reserved")
            for r in plan["periods"]["timeline"]] == [2, 0]
    # each period pays the term's hours in it, 2 x 0.7 x 2,920 = 4,088, the third after the horizon
    assert [r["total_usd"] for r in plan["periods"]["timeline"]] == pytest.approx([4088.0, 4088.0])
    # -20 %: rent, 2 x 2,920 x (1 + 0.8) = 10,512, period 1's rentals at its price: 2 x 2,920 x 0.8 = 4,672
    plan = _solve_everywhere(tmp_path, _reserve_doc(-0.2), 10512.0)
    assert [r["total_usd"] for r in plan["periods"]["timeline"]] == pytest.approx([5840.0, 4672.0])


def test_the_decomposition_charges_a_rental_its_periods_price(tmp_path):
    # Period 0 rents (1 x 2,920 = 2,920 a device, below the reserved share alpha = 1.5 x 0.7 x 2,920 =
    # 3,066: 3 periods paid for 2 served), period 1 reserves (3,066 < 1.2 x 2,920 = 3,504): bounds
    # 5,840 and 6,132, which add up to at most the optimum 12,264
    st = _decomposed(tmp_path, _reserve_doc(0.2))
    assert st.period_bounds == pytest.approx([5840.0, 6132.0])


def test_a_falling_reservation_rate_lowers_the_reserved_share_of_the_relaxation(tmp_path):
    # 1-year rates -60 % a period, on demand unchanged: reserved in 1, a term costs 0.4 x 0.7 x 3 x 2,920 =
    # 2,452.8 (in 0: 6,132); renting in 0 and reserving in 1, 2,920 + 2,452.8 = 5,372.8 a device, beats
    # renting both periods (5,840): 10,745.6 for two.  The relaxation's share alpha is the least term
    # cost over the hourly rate of the periods it serves, each start at its price: min(1 x 3 / 2,
    # 0.4 x 3 / 1) = 1.2, a reserved unit 1.2 x 0.7 x 2,920 = 2,452.8 a period (< 2,920 rented): bounds
    # 4,905.6 each (at the catalog rate's 1.5: 5,840 each, above the optimum in all)
    doc = _reserve_doc(0.0)
    doc["objective"]["periods"]["price_change_per_period"] = {"reserved_1y": -0.6}
    plan = _solve_everywhere(tmp_path, doc, 10745.6)
    assert [sum(u.get("reserve", 0) for u in r["units"] if u["kind"] == "reserved")
            for r in plan["periods"]["timeline"]] == [0, 2]
    st = _decomposed(tmp_path, doc)
    assert st.period_bounds == pytest.approx([4905.6, 4905.6])


def test_a_reserved_unit_in_the_relaxations_budget_row_is_at_its_cheapest_start(tmp_path):
    # 1-year rates +50 % a period, at most 1,100 USD a month (4-month periods).  Renting both devices
    # accrues 2 x 730 = 1,460 a month, one reserved in 0 and one rented 511 + 730 = 1,241, two reserved
    # in 0 2 x 0.7 x 730 = 1,022 (reserved in 1: 1.05 x 730 = 766.5 each): two reserved in 0, 12,264,
    # though renting (11,680) would be cheaper.  Period 1's relaxation must let a unit in service there
    # accrue at the rate of a term started in 0 (at 1.5 x 0.7 its two units would break the budget, and
    # no plan would be found); each period's bound is 2 x 1.5 x 0.7 x 2,920 = 6,132 (alpha 1.5).
    doc = _reserve_doc(0.0)
    doc["objective"]["periods"]["price_change_per_period"] = {"reserved_1y": 0.5}
    doc["fleet"]["budget"] = {"max_usd_per_month": 1100}
    _solve_everywhere(tmp_path, doc, 12264.0)
    st = _decomposed(tmp_path, doc)
    assert st.period_bounds == pytest.approx([6132.0, 6132.0])


# ---------------------------------------------------------------------- (c) electricity

def test_a_changing_electricity_price_changes_the_energy_part(tmp_path):
    # Energy of rented devices charged: each replica at 10 req/s draws its measured 300 W, 2 devices
    # x 300 W x PUE 1.5 = 0.9 kW, 657 kWh a month at 0.1 $/kWh: 65.7 USD a period.  Rentals
    # 3 x 2 x 730 = 4,380.  Electricity +10 % a period: 65.7 x (1 + 1.1 + 1.21) = 217.467 (197.1
    # unchanged); carbon at no price.
    doc = copy.deepcopy(BASE)
    doc["objective"].update(include_energy=True, energy_on_rented=True)
    doc["objective"]["periods"]["price_change_per_period"] = {"electricity": 0.1}
    plan = _solve_everywhere(tmp_path, doc, 4380.0 + 217.467)
    assert plan["objective"]["breakdown"]["energy"] == pytest.approx(217.467)
    assert [r["cost_usd"]["energy"] for r in plan["periods"]["timeline"]] == pytest.approx([65.7, 72.27, 79.497])
    # the energy the plan states is the same kWh: only its price changed
    assert plan["totals"]["energy_kwh"] == pytest.approx(3 * 657.0)
    from solver.report import console_text
    assert ("prices change per period (objective.periods.price_change_per_period, compound): electricity +10%"
            in " ".join(console_text(plan).split()))


# ---------------------------------------------------------------------------------- verify

def _violations(lp, plan: dict) -> list:
    return [(v.kind, v.where) for v in verify_plan(lp.problem, lp.catalog, plan).violations]


def test_verify_recomputes_the_costs_at_the_changed_prices(tmp_path):
    lp = _load(tmp_path, _buy_doc(-0.2))
    plan = json.loads(solve_problem(lp, backend="pulp", solver="cbc", mip_gap=1e-9).plan.to_json())
    assert _violations(lp, plan) == []
    # a period's depreciation at the catalog price (1,460 instead of 1,168), with its sum
    bad = copy.deepcopy(plan)
    row = bad["periods"]["timeline"][2]
    row["cost_usd"]["purchase_amortisation"] = 1460.0
    row["total_usd"] += 292.0
    assert _violations(lp, bad) == [("cost", "periods.timeline[2].cost_usd.purchase_amortisation"),
                                    ("cost", "periods.timeline[2].total_usd")]
    # the period's capex at the catalog price
    bad = copy.deepcopy(plan)
    bad["periods"]["timeline"][1]["capex_usd"] = 17520.0
    assert ("capex", "periods.timeline[1].capex_usd") in _violations(lp, bad)
    # the price change the plan states is the problem's
    bad = copy.deepcopy(plan)
    bad["periods"]["price_change_per_period"] = {"purchase": -0.1}
    assert _violations(lp, bad) == [("periods", "periods.price_change_per_period")]
    # the same plan against the problem without the change: its costs are not at that problem's prices
    same = _load(tmp_path, _buy_doc(0.0), "unchanged")
    found = _violations(same, plan)
    assert ("periods", "periods.price_change_per_period") in found
    assert ("cost", "objective.total") in found


def test_verify_names_the_capex_per_period_at_the_periods_price(tmp_path):
    # at most 14,016 USD a period: period 1's two devices (2 x 8,760 x 0.8) fit; three would cost 21,024
    doc = _buy_doc(-0.2)
    doc["fleet"]["budget"] = {"max_capex_usd_by_period": [14016, 14016, 14016]}
    lp = _load(tmp_path, doc)
    plan = json.loads(solve_problem(lp, backend="pulp", solver="cbc", mip_gap=1e-9).plan.to_json())
    assert _violations(lp, plan) == []
    (row,) = [u for u in plan["periods"]["timeline"][1]["units"] if u["kind"] == "purchase"]
    row["buy"] = 3
    msgs = [v.message for v in verify_plan(lp.problem, lp.catalog, plan).violations if v.kind == "capex"]
    assert ("servers ordered in period 1 cost 21024.00 USD at period 1's price (the catalog's x 0.8, "
            "objective.periods.price_change_per_period.purchase) > 14016") in msgs


# ------------------------------------------------------------------------------ input errors

def test_price_change_errors_come_in_one_report(tmp_path):
    doc = copy.deepcopy(BASE)
    doc["objective"]["periods"]["price_change_per_period"] = {"purchse": -0.05, "spot": -1, "electricity": 11}
    doc["fleet"]["max_utilization"] = 2
    with pytest.raises(InputError) as e:
        _load(tmp_path, doc)
    text = str(e.value)
    assert "4 input errors" in text
    for part in ("objective.periods.price_change_per_period.purchse: unknown field",
                 "did you mean 'purchase'?",
                 "objective.periods.price_change_per_period.spot: Input should be greater than -1",
                 "objective.periods.price_change_per_period.electricity: Input should be less than or equal to 10",
                 "fleet.max_utilization"):
        assert part in text, part
    # one period: no later period for a price to change in
    one = copy.deepcopy(BASE)
    one["objective"]["periods"].update(count=1, price_change_per_period={"purchase": -0.05})
    with pytest.raises(InputError) as e:
        _load(tmp_path, one, "one")
    text = str(e.value)
    assert "objective.periods: price_change_per_period is set, and count is 1" in text
    assert "fix: remove price_change_per_period, or plan over several periods" in text
    # a single-period problem, the change beside periods: it belongs under objective.periods
    single = copy.deepcopy(BASE)
    single["objective"] = {"horizon_months": 1, "price_change_per_period": {"purchase": -0.05}}
    with pytest.raises(InputError) as e:
        _load(tmp_path, single, "single")
    text = str(e.value)
    assert "price_change_per_period is not a field of objective" in text
    assert "move it under objective.periods" in text


def test_a_scenario_sets_a_price_change(tmp_path):
    # the first test's -20 % set by a scenario: 5,372.8, against 5,694 without it (bought in 0)
    doc = _buy_doc(0.0)
    del doc["objective"]["periods"]["price_change_per_period"]
    doc["scenarios"] = [{"name": "falling", "set": {"objective.periods.price_change_per_period": {"purchase": -0.2}}}]
    (tmp_path / "cat.yaml").write_text(OVERLAY)
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(doc))
    for scenario, total in (("falling", 5372.8), (None, 5694.0)):
        lp = load_problem(tmp_path / "s.yaml", scenario=scenario)
        assert solve_problem(lp, backend="pulp", solver="cbc", mip_gap=1e-9).plan.objective.total \
            == pytest.approx(total, rel=1e-9), scenario


def test_a_price_change_compounding_beyond_what_solvers_weigh_is_refused(tmp_path):
    """QA s22: on_demand +1000% a period over 20 periods put 11^19 = 6.1e19 USD per device-hour in the
    model: HiGHS read it as infinite ('error'), the reduced solver stopped 'time_limit' after 0.5 s, CBC
    called 40 periods infeasible.  A change compounding beyond x1e9 (or below x1e-9) over the horizon is
    an input error that says the range per period; within it, 10 over 8 periods (11^7 = 1.9e7) solves."""
    doc = copy.deepcopy(BASE)
    doc["objective"]["periods"] = {"count": 20, "months": 0.1, "price_change_per_period": {"on_demand": 10}}
    with pytest.raises(InputError) as e:
        _load(tmp_path, doc, "far")
    assert "compounds to on_demand x6.12e+19 by the last of 20 periods" in str(e.value)
    doc["objective"]["periods"]["count"] = 8
    res = solve_problem(_load(tmp_path, doc, "near"), backend="highspy", solver="highs", mip_gap=1e-9)
    assert res.plan.status == "optimal"


def test_the_price_change_a_refusal_suggests_is_accepted(tmp_path):
    """QA s26: purchase -0.9 a period over 10 periods compounds to 0.1^9 = 1e-9, the bound itself, which
    floating point makes 9.99999999999998e-10; it was refused, and the fix line suggested 'at least -0.9',
    the figure just refused.  Within a rounding of the bounds it is accepted; -0.95 is still refused (0.05^9
    = 2e-12), with a suggestion that is accepted too."""
    doc = copy.deepcopy(BASE)
    doc["objective"]["periods"] = {"count": 10, "months": 3, "price_change_per_period": {"purchase": -0.95}}
    with pytest.raises(InputError) as e:
        _load(tmp_path, doc, "far")
    assert "at least -0.9 per period over 10 periods" in str(e.value)
    doc["objective"]["periods"]["price_change_per_period"]["purchase"] = -0.9
    _load(tmp_path, doc, "edge")


def test_a_price_change_that_does_nothing_is_a_warning(tmp_path):
    """QA s22: a spot change with spot not allowed, or electricity with no energy charged, was accepted
    and stated in the plan as if it applied."""
    from solver.problem.checks import presolve_checks
    doc = copy.deepcopy(BASE)
    doc["objective"]["periods"]["price_change_per_period"] = {"spot": -0.5, "on_demand": 0.05, "electricity": 0.1}
    found = presolve_checks(_load(tmp_path, doc))
    assert sorted(w.path for w in found.warnings) == ["objective.periods.price_change_per_period.electricity",
                                                      "objective.periods.price_change_per_period.spot"]
    assert all("this price change does nothing" in w.message for w in found.warnings)


def test_re_optimising_under_other_price_changes_says_so(tmp_path, capsys):
    """QA s22: an order placed under purchase -20% was re-costed at -5% on re-optimisation without a word.
    A new price forecast is what re-optimising is for, so it is said, not refused."""
    from solver.cli import main
    doc = copy.deepcopy(BASE)
    doc["objective"]["periods"]["price_change_per_period"] = {"on_demand": 0.05}
    first = _load(tmp_path, doc, "first").file
    plan = tmp_path / "first.json"
    assert main(["solve", str(first), "--json", str(plan), "--quiet"]) == 0
    doc["objective"]["periods"]["price_change_per_period"] = {"on_demand": 0.10}
    again = _load(tmp_path, doc, "again").file
    assert main(["solve", str(again), "--existing", str(plan), "--executed-through", "0"]) == 0
    err = capsys.readouterr().err
    assert "the plan was made with price changes per period {'on_demand': 0.05}, this problem has " \
           "{'on_demand': 0.1}" in err
    assert main(["solve", str(first), "--existing", str(plan), "--executed-through", "0"]) == 0
    assert "price changes per period" not in capsys.readouterr().err


def test_the_csv_tables_give_each_periods_capex_and_price_factors(tmp_path):
    """QA s22: no --csv table had a period's capex (period_units' buy_usd is the discounted commitment).
    period_totals.csv has each period's accrued total and capex, and each changed price's factor: by
    hand (1 - 0.2)^t, and capex = 8,760 USD x that factor x the servers ordered in t."""
    import csv

    from solver.cli import main
    p = _load(tmp_path, _buy_doc(-0.2), "csv").file
    out, plan_file = tmp_path / "tables", tmp_path / "plan.json"
    assert main(["solve", str(p), "--csv", str(out), "--json", str(plan_file), "--quiet"]) == 0
    plan = json.loads(plan_file.read_text())
    rows = list(csv.DictReader((out / "period_totals.csv").open()))
    assert [r["period"] for r in rows] == ["0", "1", "2"]
    buys = _buys(plan)
    assert sum(buys) > 0
    for t, r in enumerate(rows):
        assert float(r["purchase_price_factor"]) == pytest.approx(0.8 ** t)
        assert float(r["capex_usd"]) == pytest.approx(8760.0 * 0.8 ** t * buys[t])
        assert float(r["accrued_usd"]) == pytest.approx(plan["periods"]["timeline"][t]["total_usd"])


def test_the_range_a_compound_price_change_error_quotes_is_accepted(tmp_path):
    """QA s22: the fix for a change compounding beyond x1e9 over 20 periods said 'at most 1.98', itself
    refused (2.98^19 = 1.02e9; the bound is 1e9^(1/19) - 1 = 1.976): the quoted bounds are rounded inward,
    and pasted they load."""
    import re
    doc = copy.deepcopy(BASE)
    doc["objective"]["periods"] = {"count": 20, "months": 0.1, "price_change_per_period": {"on_demand": 10}}
    with pytest.raises(InputError) as e:
        _load(tmp_path, doc, "far")
    hi, lo = re.search(r"at most ([\d.]+) and at least (-[\d.]+) per period over 20 periods", str(e.value)).groups()
    assert float(hi) == 1.97 and float(lo) == -0.664
    for value in (hi, lo):
        doc["objective"]["periods"]["price_change_per_period"] = {"on_demand": float(value)}
        _load(tmp_path, doc, "edge")
