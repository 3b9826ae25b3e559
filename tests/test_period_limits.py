"""Limits that change over a multi-period plan: power caps, availability and capex per period.

One workload (chat, 20 req/s flat, no profile) on A100s that serve 10 req/s a replica (a
measurement; max_utilization 1, so 2 devices every period), three periods of one month (730 h),
energy not charged.  Offers: on-demand A100s in Virginia at $1/device-h (730 USD a device a period)
and in Texas at $1.5/device-h (1,095); a purchased A100 (catalog overlay below: 8,760 USD, 5-year
life, no upkeep, $0.3/h hosting, no lead time) costs 8,760 / 43,800 h = $0.2/h depreciation + $0.3/h
hosting = $0.5/h in service: 365 USD a period.  A100 nameplate 400 W x Virginia's PUE 1.5 = 0.6 kW a
device.  Every expected optimum below is derived by hand in its test from these figures.
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

OVERLAY = a100_overlay(lead_quarters=0, devices_per_server=1, life_years=5, maintenance_per_year=0.0,
                       hosting_usd_per_hour=0.3)

BASE = {
    "schema_version": 1, "name": "limits", "catalog": ["cat.yaml"],
    **copy.deepcopy(MEASURED_CHAT),
    "fleet": {"accelerators": ["a100-80gb"], "regions": ["virginia", "texas"], "acquisition": ["on_demand"],
              "tensor_parallel": [1], "max_utilization": 1.0, "catalog_offers": False,
              "offers": [{"accelerator": "a100-80gb", "region": "virginia", "usd_per_device_hour": 1.0},
                         {"accelerator": "a100-80gb", "region": "texas", "usd_per_device_hour": 1.5}]},
    "objective": {"include_energy": False, "periods": {"count": 3, "months": 1}},
}


def _load(tmp_path, doc: dict, name: str = "p"):
    return load_with_overlay(tmp_path, doc, OVERLAY, name)


def _solve_everywhere(tmp_path, doc: dict, expect: float) -> dict:
    return solve_on_every_stack(tmp_path, doc, expect, OVERLAY)


def _decomposed(tmp_path, doc: dict) -> DecompositionStats:
    return decomposed_stats(tmp_path, doc, OVERLAY)


def _doc(**fleet) -> dict:
    doc = copy.deepcopy(BASE)
    doc["fleet"].update(fleet)
    return doc


def _units(plan: dict, t: int) -> dict:
    """Period t's rented devices per region (the rows of the offers rented in its one slice)."""
    return {u["region"]: u["by_slice"][0] for u in plan["periods"]["timeline"][t]["units"] if u["kind"] == "elastic"}


# ---------------------------------------------------------------------------- power caps by period

def test_a_power_cap_per_period_binds_in_its_own_period(tmp_path):
    # Virginia's cap per period: 1.3, 0.7, 1.3 kW -> at most 2, 1, 2 devices (0.6 kW each).
    # Periods 0 and 2: both devices in Virginia, 2 x 730 = 1,460; period 1: one in Virginia and one in
    # Texas, 730 + 1,095 = 1,825.  Total 1,460 + 1,825 + 1,460 = 4,745 (one figure of 1.3 for the whole
    # horizon: 3 x 1,460 = 4,380; of 0.7: 3 x 1,825 = 5,475).
    doc = _doc(power_caps=[{"region": "virginia", "max_kw_by_period": [1.3, 0.7, 1.3]}])
    plan = _solve_everywhere(tmp_path, doc, 4745.0)
    assert [_units(plan, t) for t in range(3)] == [{"virginia": 2}, {"virginia": 1, "texas": 1}, {"virginia": 2}]
    assert [r["total_usd"] for r in plan["periods"]["timeline"]] == pytest.approx([1460.0, 1825.0, 1460.0])
    # the plan states the cap as the problem gives it, and the report prints each period's figure
    assert plan["periods"]["power_caps"] == [{"region": "virginia", "max_kw": None, "max_kw_by_period": [1.3, 0.7, 1.3],
                                             "applies_to": ["on_demand", "spot", "reserved_1y", "reserved_3y",
                                                            "purchase"]}]
    from solver.report import period_tables
    (power,) = [rows for title, _, rows, _ in period_tables(plan) if title.startswith("Nameplate")]
    assert [(r[0], r[2], r[3]) for r in power] == [("0", "1.2", "1.3"), ("1", "0.6", "0.7"), ("2", "1.2", "1.3")]
    for one, total in ((1.3, 4380.0), (0.7, 5475.0)):
        lp = _load(tmp_path, _doc(power_caps=[{"region": "virginia", "max_kw": one}]), "one")
        assert solve_problem(lp, backend="pulp", solver="cbc").plan.objective.total == pytest.approx(total)


def test_the_decomposition_sizes_each_period_with_its_own_power_cap(tmp_path):
    # Each period's relaxation is its own optimum when it sees its own cap: 1,460, 1,825, 1,460; the
    # stitched plan (period plans put together) is then feasible and optimal, 4,745.  With the largest
    # figure in every period the middle period's relaxation would be 1,460 and its plan break the cap.
    st = _decomposed(tmp_path, _doc(power_caps=[{"region": "virginia", "max_kw_by_period": [1.3, 0.7, 1.3]}]))
    assert st.period_objectives == pytest.approx([1460.0, 1825.0, 1460.0])
    assert st.period_bounds == pytest.approx([1460.0, 1825.0, 1460.0])
    assert st.stitched == pytest.approx(4745.0)


def test_a_period_under_a_tighter_cap_does_not_lend_its_bound_to_another(tmp_path):
    # Two periods of the same demand, Virginia's cap 0 kW then 1.3 kW: period 0 rents both devices
    # in Texas, 2 x 1,095 = 2,190; period 1 both in Virginia, 1,460.  Total 3,650.  A period with no
    # more demand is not dearer only under limits at least as loose (decompose.monotone_bounds):
    # period 1's bound stays 1,460, not period 0's 2,190 (which would put the bound above the plan).
    doc = _doc(power_caps=[{"region": "virginia", "max_kw_by_period": [0.0, 1.3]}])
    doc["objective"]["periods"]["count"] = 2
    st = _decomposed(tmp_path, doc)
    assert st.period_bounds == pytest.approx([2190.0, 1460.0])
    _solve_everywhere(tmp_path, doc, 3650.0)


# ------------------------------------------------------------------------ availability by period

def test_availability_per_period_binds_in_its_own_period(tmp_path):
    # At most 1, 2, 0 Virginia A100s in periods 0, 1, 2: period 0 one in Virginia and one in Texas,
    # 730 + 1,095 = 1,825; period 1 both in Virginia, 1,460; period 2 both in Texas, 2,190.  Total 5,475.
    doc = _doc(availability=[{"accelerator": "a100-80gb", "region": "virginia", "max_devices_by_period": [1, 2, 0]}])
    plan = _solve_everywhere(tmp_path, doc, 5475.0)
    assert [_units(plan, t) for t in range(3)] == [{"virginia": 1, "texas": 1}, {"virginia": 2}, {"texas": 2}]
    assert plan["periods"]["availability"] == [{"accelerator": "a100-80gb", "region": "virginia", "acquisition": None,
                                                "max_devices": None, "max_devices_by_period": [1, 2, 0]}]
    from solver.report import period_tables
    (rows,) = [rows for title, _, rows, _ in period_tables(plan) if "availability" in title]
    assert [(r[0], r[2], r[3]) for r in rows] == [("0", "1", "1"), ("1", "2", "2"), ("2", "0", "0")]
    st = _decomposed(tmp_path, doc)
    assert st.period_bounds == pytest.approx([1825.0, 1460.0, 2190.0])


# ------------------------------------------------------------------------------ capex by period

def _capex_doc(**budget) -> dict:
    """Virginia only: buy A100s (365 USD a period in service, 8,760 USD each) or rent them (730; the
    catalog's offers, which bring the purchase, rent A100s there at $2.79/device-h or more)."""
    doc = _doc(regions=["virginia"], acquisition=["purchase", "on_demand"], budget=budget, catalog_offers=True)
    doc["fleet"]["offers"] = doc["fleet"]["offers"][:1]
    return doc


def test_capex_per_period_caps_what_is_ordered_in_each_period(tmp_path):
    # Buying beats renting (365 < 730 a period).  At most 8,760 USD ordered a period = one device a
    # period: period 0 buys 1 and rents 1, 365 + 730 = 1,095; period 1 buys the second, 2 x 365 = 730;
    # period 2, 730.  Total 2,555 (no cap: both bought at once, 3 x 730 = 2,190).
    doc = _capex_doc(max_capex_usd_by_period=[8760, 8760, 8760])
    plan = _solve_everywhere(tmp_path, doc, 2555.0)
    assert [u.get("buy", 0) for r in plan["periods"]["timeline"] for u in r["units"] if u["kind"] == "purchase"] \
        == [1, 1, 0]
    assert [r["capex_usd"] for r in plan["periods"]["timeline"]] == pytest.approx([8760.0, 8760.0, 0.0])
    assert plan["periods"]["max_capex_usd_by_period"] == [8760, 8760, 8760]
    from solver.report import capex_cap_text
    assert capex_cap_text(plan["periods"]) == ("per period $8,760 / $8,760 / $8,760 "
                                               "(fleet.budget.max_capex_usd_by_period)")
    # the horizon's cap still applies beside it: 8,760 in all buys one device, rented beside it
    # every period: 3 x (365 + 730) = 3,285
    _solve_everywhere(tmp_path, _capex_doc(max_capex_usd=8760, max_capex_usd_by_period=[8760, 8760, 8760]),
                      3285.0)


def test_the_decomposition_drops_capex_per_period_from_its_bound_and_keeps_it_in_its_plan(tmp_path):
    # Each period's relaxation buys both devices (2 x 365 = 730 a period, capex dropped: a valid
    # bound), so the stitched plan (2 bought in period 0) breaks period 0's 8,760 and is refused;
    # the plan that comes out keeps it: 2,555 as above.
    st = _decomposed(tmp_path, _capex_doc(max_capex_usd_by_period=[8760, 8760, 8760]))
    assert st.period_bounds == pytest.approx([730.0, 730.0, 730.0])
    # (its cost, 2,190 = 3 x 730, is not reported: a plan that breaks a row has none to compare)
    assert st.stitched != st.stitched
    assert any("stitched plan breaks a multi-period row" in n for n in st.notes)


# ----------------------------------------------------------------------------------- verify

def _violations(tmp_path, doc: dict, plan: dict) -> list:
    lp = _load(tmp_path, doc, "verify")
    return [(v.kind, v.where, v.message, v.amount) for v in verify_plan(lp.problem, lp.catalog, plan).violations]


def test_verify_flags_a_plan_over_a_power_cap_of_its_period(tmp_path):
    doc = _doc(power_caps=[{"region": "virginia", "max_kw_by_period": [1.3, 0.7, 1.3]}])
    plan = json.loads(solve_problem(_load(tmp_path, doc), backend="pulp", solver="cbc").plan.to_json())
    bad = copy.deepcopy(plan)
    (va,) = [u for u in bad["periods"]["timeline"][1]["units"] if u["region"] == "virginia"]
    va["by_slice"] = [2]          # a second Virginia device in period 1: 2 x 0.6 = 1.2 kW > 0.7
    bad["periods"]["timeline"][1]["nameplate_kw"] = [[1.2]]       # (as the plan would state it)
    power = [v for v in _violations(tmp_path, doc, bad) if v[0] == "power"]
    assert power == [("power", "fleet.power_caps[0].max_kw_by_period[1] virginia period 1 slice 0",
                      "nameplate 1.2 kW > 0.7 kW in period 1", pytest.approx(0.5))]
    # the caps the plan states are the problem's
    bad = copy.deepcopy(plan)
    bad["periods"]["power_caps"][0]["max_kw_by_period"][1] = 1.3
    assert [v[1] for v in _violations(tmp_path, doc, bad)] == ["periods.power_caps"]


def test_verify_flags_a_plan_over_the_availability_of_its_period(tmp_path):
    doc = _doc(availability=[{"accelerator": "a100-80gb", "region": "virginia", "max_devices_by_period": [1, 2, 0]}])
    plan = json.loads(solve_problem(_load(tmp_path, doc), backend="pulp", solver="cbc").plan.to_json())
    (va,) = [u for u in plan["periods"]["timeline"][0]["units"] if u["region"] == "virginia"]
    va["by_slice"] = [2]          # 2 Virginia devices in period 0, where 1 may be had
    avail = [v for v in _violations(tmp_path, doc, plan) if v[0] == "availability"]
    assert avail == [("availability", "fleet.availability[0].max_devices_by_period[0] a100-80gb@virginia period 0 "
                      "slice 0", "2 devices procured, at most 1 in period 0", 1.0)]


def test_verify_flags_a_plan_over_the_capex_of_its_period(tmp_path):
    doc = _capex_doc(max_capex_usd_by_period=[8760, 8760, 8760])
    plan = json.loads(solve_problem(_load(tmp_path, doc), backend="pulp", solver="cbc").plan.to_json())
    (row,) = [u for u in plan["periods"]["timeline"][1]["units"] if u["kind"] == "purchase"]
    row["buy"] = 2                # two servers ordered in period 1: 17,520 USD > 8,760
    capex = [v for v in _violations(tmp_path, doc, plan) if v[1].startswith("fleet.budget")]
    assert capex == [("capex", "fleet.budget.max_capex_usd_by_period[1] period 1",
                      "servers ordered in period 1 cost 17520.00 USD at catalog price > 8760", pytest.approx(8760.0))]


# ------------------------------------------------------------------------------ input errors

def _issues(tmp_path, doc: dict, name: str = "p") -> tuple[dict, str]:
    """{path: (line, message + fix)} of the input errors loading ``doc`` raises, and its YAML text."""
    with pytest.raises(InputError) as e:
        _load(tmp_path, doc, name)
    text = (tmp_path / f"{name}.yaml").read_text()
    return {i.path: (i.line, f"{i.message} | {i.hint}") for i in e.value.issues}, text


def _line(text: str, needle: str, after: str = "") -> int:
    """The 1-based line of the first ``needle`` at or after the line holding ``after``."""
    lines = text.splitlines()
    start = next(i for i, x in enumerate(lines) if after in x) if after else 0
    return next(i for i, x in enumerate(lines[start:], start + 1) if needle in x)


def test_every_per_period_limit_error_is_its_own_at_its_line(tmp_path):
    """QA s22: the four came as one error at line 1 (the message of one had a '; ' inside, so the
    problem's validator could not be split by field); each is its own error at its field's line."""
    doc = _doc(power_caps=[{"region": "virginia", "max_kw_by_period": [1, 2]},          # 2 values, 3 periods
                           {"region": "texas"}],                                        # no figure at all
               availability=[{"accelerator": "a100-80gb", "max_devices": 2, "max_devices_by_period": [1, 2, 3]}],
               budget={"max_capex_usd_by_period": [1, 2, 3, 4]})
    got, text = _issues(tmp_path, doc)
    assert got == {
        "fleet.power_caps[0].max_kw_by_period": (
            _line(text, "max_kw_by_period:", "power_caps:"),
            "2 values for 3 periods (objective.periods.count) | give exactly 3, one per period"),
        "fleet.power_caps[1]": (
            _line(text, "region: texas", "power_caps:"),
            "no limit given | give max_kw (one figure for the horizon) or max_kw_by_period (one per period)"),
        "fleet.availability[0]": (
            _line(text, "accelerator: a100-80gb", "availability:"),
            "both max_devices and max_devices_by_period are given | keep one: max_devices for one figure in every "
            "period, max_devices_by_period for one per period (a scenario that switches to the list sets "
            "fleet.availability.0.max_devices: null; one that switches to one figure sets "
            "fleet.availability.0.max_devices_by_period: null)"),
        "fleet.budget.max_capex_usd_by_period": (
            _line(text, "max_capex_usd_by_period:"),
            "4 values for 3 periods (objective.periods.count) | give exactly 3, one per period"),
    }
    # a single-period problem: every list is refused, with the figure to give instead
    single = _doc(power_caps=[{"region": "virginia", "max_kw_by_period": [1.3]}],
                  availability=[{"accelerator": "a100-80gb", "max_devices_by_period": [1, 2]}])
    del single["objective"]["periods"]
    single["objective"]["horizon_months"] = 1
    got, text = _issues(tmp_path, single, "single")
    assert got == {
        "fleet.power_caps[0].max_kw_by_period": (
            _line(text, "max_kw_by_period:"),
            "a figure per period needs a multi-period plan | add objective.periods (e.g. periods: {count: 1, "
            "months: 3}), or for a single period give max_kw instead"),
        "fleet.availability[0].max_devices_by_period": (
            _line(text, "max_devices_by_period:"),
            "a figure per period needs a multi-period plan | add objective.periods (e.g. periods: {count: 2, "
            "months: 3}), or for a single period give max_devices instead"),
    }


def test_a_field_error_in_a_limit_hides_none_of_the_per_period_errors(tmp_path):
    """QA s22 (p14.yaml): a negative period limit was the only error shown; the entry's two figures,
    the availability list of 2 values and the capex list of 4 for 3 periods were hidden behind it."""
    doc = _doc(power_caps=[{"region": "virginia", "max_kw": 5, "max_kw_by_period": [0, -9, 1]}],
               availability=[{"accelerator": "a100-80gb", "max_devices_by_period": [1, 2]}],
               budget={"max_capex_usd_by_period": [1, 2, 3, 4]})
    got, text = _issues(tmp_path, doc)
    assert sorted(got) == ["fleet.availability[0].max_devices_by_period", "fleet.budget.max_capex_usd_by_period",
                           "fleet.power_caps[0]", "fleet.power_caps[0].max_kw_by_period"]
    assert got["fleet.power_caps[0].max_kw_by_period"] == (
        _line(text, "max_kw_by_period:"),
        "every period's limit must be at least 0 (got -9 for period 1) | give one figure per period, 0 for none")
    assert got["fleet.power_caps[0]"][1].startswith("both max_kw and max_kw_by_period are given")
    assert got["fleet.availability[0].max_devices_by_period"] == (
        _line(text, "max_devices_by_period:"),
        "2 values for 3 periods (objective.periods.count) | give exactly 3, one per period")
    assert got["fleet.budget.max_capex_usd_by_period"][0] == _line(text, "max_capex_usd_by_period:")


def test_a_scenario_sets_a_limit_per_period(tmp_path):
    # the scenario swaps the single figure for a list (the single one set to null): 4,745 as in the
    # first test; one with a list of the wrong length is an error that names the scenario
    doc = _doc(power_caps=[{"region": "virginia", "max_kw": 1.3}])
    doc["scenarios"] = [{"name": "ramp", "set": {"fleet.power_caps.0.max_kw": None,
                                                 "fleet.power_caps.0.max_kw_by_period": [1.3, 0.7, 1.3]}}]
    (tmp_path / "cat.yaml").write_text(OVERLAY)
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(doc))
    lp = load_problem(tmp_path / "s.yaml", scenario="ramp")
    assert solve_problem(lp, backend="pulp", solver="cbc").plan.objective.total == pytest.approx(4745.0)
    doc["scenarios"][0]["set"]["fleet.power_caps.0.max_kw_by_period"] = [1.3, 0.7]
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(InputError, match=r"max_kw_by_period: 2 values for 3 periods.*\(with scenario 'ramp'\)"):
        load_problem(tmp_path / "s.yaml")


# ----------------------------------------------------------------------------------- explain

@pytest.mark.parametrize("fleet, period, change", [
    # Virginia only, 2 devices every period: period 1's 0.7 kW holds one (needs 1.2: 0.5 more)
    ({"power_caps": [{"region": "virginia", "max_kw_by_period": [1.3, 0.7, 1.3]}]}, 1,
     "fleet.power_caps[0].max_kw_by_period[1]: needs 0.5 kW more in virginia in period 1 (from 0.7 to 1.2)"),
    # ... period 1 may have 1 of the 2 devices
    ({"availability": [{"accelerator": "a100-80gb", "region": "virginia", "max_devices_by_period": [2, 1, 2]}]}, 1,
     "fleet.availability[0].max_devices_by_period[1]: needs 1 more a100-80gb device in virginia in period 1 "
     "(from 1 to 2)"),
    # purchases only: period 0 must order both devices (2 x 8,760), its cap is 8,760
    ({"acquisition": ["purchase"], "catalog_offers": True, "budget": {"max_capex_usd_by_period": [8760, 0, 0]}}, 0,
     "fleet.budget.max_capex_usd_by_period[0]: needs 8760 USD more capex in period 0 (from 8760 to 17520)"),
])
def test_explain_names_the_period_and_the_field_of_a_limit_given_per_period(tmp_path, fleet, period, change):
    from solver.explain import explain
    doc = _doc(regions=["virginia"], **fleet)
    doc["fleet"]["offers"] = doc["fleet"]["offers"][:1]
    lp = _load(tmp_path, doc)
    ex = explain(lp, backend="pulp", solver="cbc", time_limit_s=30)
    assert ex.has_plan is False
    (fr,) = [f for f in ex.fleet if f.restores and f.family.startswith("caps.")]
    assert fr.changes == [change]
    # the amounts for programs carry the period too (the capex row's label is its period)
    assert [a["period"] for a in fr.amounts] == [period]


def test_a_plan_that_breaks_a_row_gives_no_cost_in_the_solver_detail():
    """QA s22: the decomposition's detail said 'rolling plans 25842, 21462' where the 21,462 plan broke the
    capex rows (below the proven optimum, 25,842, found by brute force and three backends alike): a plan
    that breaks a row of the whole model is listed as such, with no cost."""
    import re
    from pathlib import Path

    from solver.mip.pipeline import solve_problem as solve_
    from solver.problem.load import load_problem as load_
    plan = solve_(load_(Path(__file__).parent / "data" / "period_limits" / "p2.yaml")).plan
    assert plan.status == "optimal" and abs(plan.objective.total - 25842.0) < 0.5
    detail = plan.solver.status_detail
    assert "rolling plans breaks a row, breaks a row" in detail
    listed = re.search(r"rolling plans ([^;]*) in", detail)[1]
    assert not any(float(x) < 25842 - 0.5 for x in re.findall(r"\d+(?:\.\d+)?", listed))


def test_an_infeasible_re_optimisation_says_the_executed_decisions_count(tmp_path, capsys):
    """QA s22: under --existing, explain asked for 8,760 USD more capex in period 0 without saying that
    it is the server the earlier plan ordered there (executed, kept).  solve now says so."""
    from pathlib import Path

    from solver.cli import main
    data = Path(__file__).parent / "data" / "period_limits"
    for name in ("p2.yaml", "cat.yaml"):
        (tmp_path / name).write_text((data / name).read_text())
    plan = tmp_path / "p2.json"
    assert main(["solve", str(tmp_path / "p2.yaml"), "--backend", "pulp", "--solver", "cbc", "--json", str(plan),
                 "--quiet"]) == 0
    first = json.loads(plan.read_text())
    assert first["periods"]["timeline"][0]["capex_usd"] > 0        # it orders in period 0
    text = (tmp_path / "p2.yaml").read_text().replace("    - 8760\n    - 8760\n    - 0\n", "    - 0\n    - 17520\n    - 8760\n")
    (tmp_path / "p2x.yaml").write_text(text)
    assert "max_capex_usd_by_period:\n    - 0\n" in text
    assert main(["solve", str(tmp_path / "p2x.yaml"), "--existing", str(plan), "--executed-through", "0",
                 "--time-limit", "20"]) == 3
    err = capsys.readouterr().err
    assert "max_capex_usd_by_period[0]" in err
    assert "note: periods 0..0 keep the decisions" in err and "cannot change" in err
