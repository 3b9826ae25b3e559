"""Acceptance on the shipped example problems: both backends reach the same optimum and
the verifier, which uses no solver, finds no violation in either plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from solver.mip.pipeline import solve_problem
from solver.problem.load import load_problem
from solver.verify import verify_plan

ALL = sorted((Path(__file__).parents[1] / "problems").glob("*.yaml"))
# Multi-period problems (objective.periods) solve a different, larger model owned by
# solver/periods_plan.py; tests/test_periods.py covers them.  Here: the single-period MIP.
PROBLEMS = [p for p in ALL
            if not ((yaml.safe_load(p.read_text()) or {}).get("objective") or {}).get("periods")]


@pytest.mark.parametrize("path", PROBLEMS, ids=lambda p: p.stem)
def test_backends_agree_and_plans_verify(path):
    lp = load_problem(path)
    plans = {}
    for backend in ("pulp", "ortools"):
        s = solve_problem(lp, backend=backend, time_limit_s=120)
        assert s.plan.status == "optimal", (backend, s.plan.message)
        d = json.loads(s.plan.to_json())
        rep = verify_plan(lp.problem, lp.catalog, d)
        assert rep.ok, [v.format() for v in rep.violations]
        assert rep.recomputed["total_usd"] == pytest.approx(d["objective"]["total"], rel=1e-6)
        plans[backend] = d
    a, b = (plans[k]["objective"]["total"] for k in ("pulp", "ortools"))
    gap = max(lp.problem.solver.mip_gap, 1e-6)
    assert abs(a - b) <= gap * max(abs(a), abs(b)) + 1e-6
