"""The LP-guided large-instance solve: its bound is below, and its plan at or above, the exact
optimum, and the plan satisfies every row of the full model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from solver.coefficients import build_coefficients
from solver.mip.backends import solve
from solver.mip.formulation import build_model
from solver.mip.lpguided import restrict, solve_lp_guided
from solver.problem.load import load_problem

PROBLEMS = sorted((Path(__file__).parents[1] / "problems").glob("*.yaml"))


@pytest.mark.parametrize("path", PROBLEMS, ids=lambda p: p.stem)
def test_bound_and_plan_bracket_the_exact_optimum(path):
    lp = load_problem(path)
    k = build_coefficients(lp.problem, lp.catalog)
    m = build_model(k)
    exact = solve(m, "pulp", "highs", time_limit_s=60, mip_gap=1e-7)
    assert exact.status == "optimal"
    r = solve_lp_guided(m, k.pair_w, k.pair_c, time_limit_s=30, mip_gap=1e-7)
    assert r.status in ("optimal", "time_limit"), r.message
    tol = 1e-6 * abs(exact.objective) + 1e-6
    assert r.best_bound <= exact.objective + tol
    assert r.objective >= exact.objective - tol
    v = np.where(m.is_int, np.round(r.values), r.values)
    assert m.violations(np.clip(v, m.lb, m.ub)) == []
    # the reported gap is what it claims: plan vs the LP bound
    assert r.gap == pytest.approx((r.objective - r.best_bound) / r.objective, abs=1e-9)


def test_restrict_fixes_other_candidates_and_their_routing():
    lp = load_problem(PROBLEMS[0])
    k = build_coefficients(lp.problem, lp.catalog)
    m = build_model(k)
    rm = restrict(m, k.pair_c, np.array([0]))
    y, x = m.blocks["y"], m.blocks["x"]
    assert rm.ub[y[0]] == m.ub[y[0]] and np.all(rm.ub[y[1:]] == 0)
    assert np.all(rm.ub[x[k.pair_c != 0]] == 0) and np.all(rm.ub[x[k.pair_c == 0]] == m.ub[x[k.pair_c == 0]])
