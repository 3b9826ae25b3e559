"""Re-optimisation (`solve --existing`) reads the earlier plan's per-period lists by position: a
timeline or slice list that is not one entry per period (slice) in order is bad input.

QA s23: a plan with its period-0 entry deleted was accepted (exit 0) and the server bought in
period 0 was bought again; swapped or missing entries moved or dropped executed decisions.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from solver.errors import InputError
from test_periods import CHAIN_OVERLAY, CHAIN_PROBLEM

FIX = ("fix: pass the plan file `fleetopt solve --json` wrote, unedited: it lists periods 0..count-1 "
       "(periods.timeline) and each period's slices in order, one entry each")


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> Path:
    """CHAIN_PROBLEM (6 quarters, one slice) and its plan q0.json in one folder."""
    from solver.cli import main
    d = tmp_path_factory.mktemp("chain")
    (d / "cat.yaml").write_text(CHAIN_OVERLAY)
    (d / "p.yaml").write_text(CHAIN_PROBLEM)
    assert main(["solve", str(d / "p.yaml"), "--json", str(d / "q0.json"), "--quiet"]) == 0
    return d


def _reoptimise(d: Path, capsys, edit, problem: str = CHAIN_PROBLEM) -> tuple[int, str]:
    """Re-optimise ``problem`` from q0.json changed by ``edit``, periods 0-1 carried out: (exit code, stderr)."""
    from solver.cli import main
    plan = json.loads((d / "q0.json").read_text())
    edit(plan["periods"])
    (d / "old.json").write_text(json.dumps(plan))
    (d / "new.yaml").write_text(problem)
    capsys.readouterr()
    code = main(["solve", str(d / "new.yaml"), "--existing", str(d / "old.json"), "--executed-through", "1",
                 "--quiet"])
    return code, capsys.readouterr().err


def _swap(rows: list, i: int, j: int) -> None:
    rows[i], rows[j] = rows[j], rows[i]


@pytest.mark.parametrize("edit, shown", [
    # period 0 left out: 5 entries for 6 periods, each holding the period after its place
    (lambda pp: pp["timeline"].pop(0),
     ["periods.count: is 6 and periods.timeline has 5 periods",
      "periods.timeline[0].period: is 1, expected 0: the timeline must list periods 0..5 in order; out of place "
      "too: periods.timeline[1].period, periods.timeline[2].period, periods.timeline[3].period and 1 more"]),
    (lambda pp: _swap(pp["timeline"], 0, 1),
     ["periods.timeline[0].period: is 1, expected 0: the timeline must list periods 0..5 in order; out of place "
      "too: periods.timeline[1].period\n"]),
    (lambda pp: pp.update(timeline=pp["timeline"][:2]), ["periods.count: is 6 and periods.timeline has 2 periods"]),
    (lambda pp: pp["timeline"][3]["slices"][0].update(slice=1),
     ["periods.timeline[3].slices[0].slice: is 1, expected 0: each period must list its slices 0, 1, ... in "
      "order\n"]),
])
def test_a_timeline_not_listing_its_periods_in_order_is_bad_input(chain, capsys, edit, shown):
    code, err = _reoptimise(chain, capsys, edit)
    assert code == 2, err
    assert f"{len(shown)} input error{'s' if len(shown) > 1 else ''}:" in err, err
    for text in shown:
        assert f"{chain / 'old.json'}: {text}" in err, err
    assert FIX in err


def test_every_problem_of_the_earlier_plan_is_named_at_once(chain, capsys):
    """A plan of 1-month periods with period 2 left out: the count, the entries after it and the
    period length, in one error."""
    def edit(pp):
        del pp["timeline"][2]
        pp["months"], pp["period_hours"] = 1, 730
    code, err = _reoptimise(chain, capsys, edit)
    assert code == 2 and "3 input errors:" in err, err
    assert "periods.count: is 6 and periods.timeline has 5 periods" in err
    assert ("periods.timeline[2].period: is 3, expected 2: the timeline must list periods 0..5 in order; out of "
            "place too: periods.timeline[3].period, periods.timeline[4].period\n") in err
    assert "periods.months: the plan's periods are 1 month(s) (730 h) long" in err


def test_a_timeline_without_period_numbers_is_refused(chain, capsys):
    """The plan schema makes `period` optional, but without it a reordered timeline cannot be told from
    the plan fleetopt wrote (QA s23 review: periods 0 and 1 swapped, numbers removed: exit 0, the
    carried-out purchase moved to period 1).  Every missing number is named, periods' and slices'."""
    def strip(pp):
        for row in pp["timeline"]:
            row.pop("period")
        pp["timeline"][2]["slices"][0].pop("slice")
    code, err = _reoptimise(chain, capsys, strip)
    assert code == 2, err
    assert "periods.timeline[0].period: is missing" in err
    assert "missing too: periods.timeline[1].period, periods.timeline[2].period, periods.timeline[3].period and" in err
    assert "periods.timeline[2].slices[0].slice: is missing" in err


def test_the_python_api_refuses_it_too(chain):
    from solver.mip.pipeline import solve_problem
    from solver.problem.load import load_problem
    plan = json.loads((chain / "q0.json").read_text())
    _swap(plan["periods"]["timeline"], 4, 5)
    with pytest.raises(InputError) as info:
        solve_problem(load_problem(chain / "p.yaml"), previous=plan, executed_through=1)
    assert [(i.file, i.path) for i in info.value.issues] == [("--existing PLAN.json (previous= in Python)",
                                                              "periods.timeline[4].period")]
