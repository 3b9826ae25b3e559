"""The large-instance solver (column generation + reduced-cost fixing, solver/mip/reduced.py).

Its plan must be a plan of the full model, its bound must be below the true optimum (found
here by an independent exact solve), and the pieces of its proof - the Lagrangian bound and
the lifted duals - must be what they claim on problems small enough to check by hand.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from solver.coefficients import build_coefficients
from solver.mip.backends import solve
from solver.mip.formulation import build_model
from solver.mip.model import ModelBuilder
from solver.mip.pipeline import solve_problem
from solver.mip.highspy_backend import highs_from_model, run_mip
from solver.mip.reduced import (_clip_duals, at_pi, candidate_columns, convexity_bound, demand_rows,
                                lagrangian_bound, lift_homogeneous_rows, round_up, solve_reduced, submodel)
from solver.mip.warmstart import start_from_plan
from solver.problem.load import load_problem, validate_document

ROOT = Path(__file__).parents[1]
ALL = sorted((ROOT / "problems").glob("*.yaml"))
SINGLE = [p for p in ALL
          if not ((yaml.safe_load(p.read_text()) or {}).get("objective") or {}).get("periods")]
sys.path.insert(0, str(ROOT / "benchmarks" / "scale"))
from generate import generate  # noqa: E402


def _model(lp):
    k = build_coefficients(lp.problem, lp.catalog)
    return k, build_model(k)


def _exact_and_reduced(m, exact_backend, exact_solver, gap):
    """(exact optimum, highspy/reduced result), both at ``gap``; both must be optimal."""
    exact = solve(m, exact_backend, exact_solver, time_limit_s=120, mip_gap=gap)
    assert exact.status == "optimal"
    r = solve(m, "highspy", "reduced", time_limit_s=120, mip_gap=gap)
    assert r.status == "optimal", r.message
    _bracket(m, exact, r)
    return exact, r


def _bracket(m, exact, r):
    tol = 1e-6 * abs(exact.objective) + 1e-6
    assert r.best_bound <= exact.objective + tol
    assert r.objective >= exact.objective - tol
    assert m.violations(r.values, tol=1e-6) == []
    assert r.objective == pytest.approx(m.objective_value(r.values), rel=1e-9)


@pytest.mark.parametrize("path", SINGLE, ids=lambda p: p.stem)
def test_reduced_matches_the_exact_optimum_on_the_examples(path):
    _, m = _model(load_problem(path))
    exact, r = _exact_and_reduced(m, "pulp", "highs", 1e-7)
    assert r.objective == pytest.approx(exact.objective, rel=1e-6)


def test_reduced_on_a_generated_instance_fixes_candidates_and_keeps_the_optimum(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text(yaml.safe_dump(generate("M"), sort_keys=False))
    k, m = _model(load_problem(f))
    exact, r = _exact_and_reduced(m, "highspy", "highs", 1e-6)
    assert r.gap <= 1e-6 + 1e-12
    # the fixing did remove candidates (the point of the method), reported in the message
    kept = int(r.message.split("kept ")[1].split(" of ")[0])
    assert 0 < kept < k.n_c
    # proving a given plan (the decomposition's second pass: no incumbent search): from a
    # feasible but dearer plan it still reaches the optimum, with a valid bound
    worse = r.values.copy()
    worse[m.blocks["n"]] += 1          # one more unit of every offer
    assert m.violations(worse, tol=1e-6) == []
    p = solve_reduced(m, time_limit_s=120, mip_gap=1e-6, start=worse, prove_only=True)
    assert p.status == "optimal", p.message
    assert "incumbent from the warm start" in p.message
    _bracket(m, exact, p)
    assert p.objective == pytest.approx(exact.objective, rel=1e-5)
    # at a loose gap (1%) the bound must stay below the optimum too: HiGHS stops within the gap of
    # its cutoff, so neither the cutoff nor the survivors' plan bounds the optimum by itself (QA s17
    # mutants: fixing at the incumbent's cost, the survivors' plan as their bound; both reported
    # bound = plan, 0.03-0.27% above this optimum, and passed)
    for start, prove in ((None, False), (worse, True)):
        q = solve_reduced(m, time_limit_s=120, mip_gap=0.01, start=start, prove_only=prove)
        _bracket(m, exact, q)
        assert q.status != "optimal" or q.gap <= 0.01 + 1e-12


def test_proving_a_nearly_optimal_plan_keeps_every_candidate_a_cheaper_plan_needs(tmp_path):
    """Reduced-cost fixing from a start just above the optimum (the optimum with one of its offers
    banned: a second-best plan) removes the most; it must keep what the optimum uses (QA s17 mutant:
    an offer's reduced cost counted twice returned the start, 0.03% above the optimum, as optimal at
    a gap of 1e-6 with a bound above the optimum, and passed)."""
    from dataclasses import replace
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(generate("S", seed=1), sort_keys=False))
    k, m = _model(load_problem(f))
    exact = solve(m, "highspy", "highs", time_limit_s=120, mip_gap=1e-9)
    assert exact.status == "optimal"
    n = m.blocks["n"]
    tried = 0
    # the optimum with one of its offers banned, then also one of that plan's (the optimum may use a
    # single offer: since 2026-12-07's 16-bit embeddings it does here)
    bans = [[o] for o in np.flatnonzero(np.round(exact.values[n]) > 0)[:4]]
    for ban in bans:
        if tried >= 4:
            break
        ub = m.ub.copy()
        ub[n[ban]] = 0
        alt = solve(replace(m, ub=ub), "highspy", "highs", time_limit_s=60, mip_gap=1e-9)
        if alt.status != "optimal":
            continue
        if len(ban) == 1:
            bans += [ban + [o2] for o2 in np.flatnonzero(np.round(alt.values[n]) > 0)[:2]]
        start = alt.values.copy()
        start[m.is_int] = np.round(start[m.is_int])
        assert alt.objective > exact.objective * (1 + 1e-6)      # dearer than the optimum, if only a little
        p = solve_reduced(m, time_limit_s=60, mip_gap=1e-6, start=start, prove_only=True)
        _bracket(m, exact, p)
        assert p.objective <= exact.objective * (1 + 2e-6)
        tried += 1
    assert tried >= 2


def _tiny_lp():
    """min 3a + 2b + 4c  s.t.  a + b + c = 10 (demand),  b - 6 d <= 0 (capacity, rhs 0),
    a, b, c >= 0, 0 <= d <= 1 with cost 5 on d.  Optimum by hand: c is dearest; b costs 2 + 5/6
    per unit up to 6 (< 3), so b = 6, d = 1, a = 4: 12 + 12 + 5 = 29."""
    b = ModelBuilder()
    v = b.add_vars("v", ["a", "b", "c", "d"], 0.0, [np.inf, np.inf, np.inf, 1.0], integer=False)
    b.add_rows("demand", [0, 0, 0], v[:3], [1.0, 1.0, 1.0], "=", [10.0], ["w"])
    b.add_rows("cap", [0, 0], [v[1], v[3]], [1.0, -6.0], "<", [0.0], ["c"])
    b.add_objective("cost", v, [3.0, 2.0, 4.0, 5.0])
    return b.build()


def test_lagrangian_bound_is_below_the_lp_optimum_for_any_valid_dual_and_tight_at_the_optimal_one():
    m = _tiny_lp()
    row_of_nnz = np.repeat(np.arange(m.n_rows), np.diff(m.indptr))

    def L(pi):
        atpi = np.bincount(m.indices, weights=m.data * pi[row_of_nnz], minlength=m.n_vars)
        return lagrangian_bound(m, pi, atpi, ub=np.array([10.0, 10.0, 10.0, 1.0]))[0]

    rng = np.random.default_rng(0)
    for _ in range(200):
        pi = np.array([rng.uniform(-10, 10), -rng.uniform(0, 10)])   # '=' free, '<=' non-positive
        assert L(pi) <= 29.0 + 1e-9
    # optimal duals by hand: demand price 3 (a is marginal), capacity dual -1 (b saves 1 per unit)
    assert L(np.array([3.0, -1.0])) == pytest.approx(29.0)


def test_lifting_keeps_the_bound_and_raises_the_replica_reduced_cost():
    m = _tiny_lp()
    row_of_nnz = np.repeat(np.arange(m.n_rows), np.diff(m.indptr))
    pi = np.array([3.0, -1.0])
    # with d at its upper bound its reduced cost is 5 - 6 = -1 < 0: lifting must not move the row
    out = lift_homogeneous_rows(m, pi, np.array([1]), row_of_nnz)
    assert out[1] == -1.0
    # an instance where the row can move: cost of d = 10, and a non-optimal but valid dual
    m.obj[3] = 10.0
    pi = np.array([2.0, -0.5])              # rc_b = 2 - 2 + 0.5 = 0.5, rc_d = 10 - 3 = 7
    atpi = np.bincount(m.indices, weights=m.data * pi[row_of_nnz], minlength=m.n_vars)
    L0, rc0 = lagrangian_bound(m, pi, atpi, ub=np.array([10.0, 10.0, 10.0, 1.0]))
    up = lift_homogeneous_rows(m, pi, np.array([1]), row_of_nnz)
    atpi = np.bincount(m.indices, weights=m.data * up[row_of_nnz], minlength=m.n_vars)
    L1, rc1 = lagrangian_bound(m, up, atpi, ub=np.array([10.0, 10.0, 10.0, 1.0]))
    # the capacity dual rises from -0.5 until b's reduced cost reaches 0, which is at 0 here
    assert up[1] == pytest.approx(0.0)
    assert rc1[1] == pytest.approx(0.0) and rc1[3] == pytest.approx(10.0)   # d gains 6 x 0.5
    assert L1 == pytest.approx(L0)


def _tiny_with_demand_rows(extra_column_in_demand: bool = False):
    """_tiny_lp with its demand row named as the fleet model names it (and a, b, c its routing
    columns); optionally a slack column in the demand row, as an elastic model has."""
    b = ModelBuilder()
    v = b.add_vars("v", ["a", "b", "c", "d"], 0.0, [np.inf, np.inf, np.inf, 1.0], integer=False)
    cols, vals = list(v[:3]), [1.0, 1.0, 1.0]
    if extra_column_in_demand:
        slack = b.add_vars("slack", ["slack"], 0.0, np.inf, integer=False)
        cols, vals = cols + [slack[0]], vals + [1.0]
    b.add_rows("demand.served", [0] * len(cols), cols, vals, "=", [10.0], ["w"])
    b.add_rows("cap", [0, 0], [v[1], v[3]], [1.0, -6.0], "<", [0.0], ["c"])
    b.add_objective("cost", v, [3.0, 2.0, 4.0, 5.0])
    return b.build(), v[:3]


def test_convexity_bound_keeps_the_demand_rows_valid_and_never_below_the_box_bound():
    m, x = _tiny_with_demand_rows()
    row_of_nnz = m.row_of_nnz()
    dr = demand_rows(m, x, row_of_nnz)
    assert dr is not None and list(dr.demand) == [10.0]
    ub = np.array([10.0, 10.0, 10.0, 1.0])

    def both(pi):
        L, rc = lagrangian_bound(m, pi, at_pi(m, pi, row_of_nnz), ub)
        return L, convexity_bound(L, pi, rc, ub, x, dr)

    # by hand at pi = 0: the box bound is 0 (every cost >= 0); with the demand row kept the 10
    # req/s go to the cheapest column, b at 2: 20 (the LP optimum is 29)
    assert both(np.zeros(2)) == (pytest.approx(0.0), pytest.approx(20.0))
    # at the optimal duals (3, -1) both are the LP optimum
    assert both(np.array([3.0, -1.0]))[1] == pytest.approx(29.0)
    rng = np.random.default_rng(1)
    for _ in range(200):
        pi = np.array([rng.uniform(-10, 10), -rng.uniform(0, 10)])
        L, Lc = both(pi)
        assert L - 1e-9 <= Lc <= 29.0 + 1e-9
    # a slack column in the demand row (elastic models) breaks the shape: no convexity bound
    m2, x2 = _tiny_with_demand_rows(extra_column_in_demand=True)
    assert demand_rows(m2, x2, m2.row_of_nnz()) is None


def test_convexity_bound_is_below_the_optimum_of_a_fleet_model_for_perturbed_duals(tmp_path):
    """On a generated S instance: duals of its LP relaxation, perturbed at random (signs kept
    valid), give bounds that are never above the optimum an exact solve finds."""
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(generate("S", seed=13), sort_keys=False))
    k, m = _model(load_problem(f))
    exact = solve(m, "highspy", "highs", time_limit_s=120, mip_gap=1e-9)
    assert exact.status == "optimal"
    h = highs_from_model(m, relax=True, time_limit_s=60, mip_gap=0.0, threads=None)
    h.run()
    pi0 = np.asarray(h.getSolution().row_dual, float)
    x = m.blocks["x"]
    row_of_nnz = m.row_of_nnz()
    dr = demand_rows(m, x, row_of_nnz)
    assert dr is not None
    ub = np.where(np.isfinite(m.ub), m.ub, 1e6)
    rng = np.random.default_rng(2)
    seen_better = 0
    for scale in (0.0, 0.05, 0.3, 1.0):
        for _ in range(10):
            # perturbed past zero too (a dual of the wrong sign, as an LP solver's tolerance leaves
            # them): the solver's own clipping must make it valid (QA s17: a mutant clipping '<='
            # rows to >= 0 passed when the test clipped the duals itself)
            noise = rng.standard_normal((2, len(pi0)))
            pi = _clip_duals(m, pi0 * (1 + scale * noise[0]) + scale * noise[1])
            assert (pi[m.sense == "<"] <= 0).all() and (pi[m.sense == ">"] >= 0).all()   # the signs L needs
            L, rc = lagrangian_bound(m, pi, at_pi(m, pi, row_of_nnz), ub)
            Lc = convexity_bound(L, pi, rc, ub, x, dr)
            assert Lc >= L - 1e-6 * abs(L) - 1e-6
            assert Lc <= exact.objective * (1 + 1e-9) + 1e-6
            seen_better += Lc > L + 1e-6 * abs(exact.objective)
    assert seen_better > 0     # it does help away from the optimal duals


@pytest.mark.parametrize("seed", [1, 5, 7, 10, 14, 15])
def test_at_a_loose_gap_the_bound_stays_below_the_optimum_and_optimal_means_within_the_gap(tmp_path, seed):
    """QA s17 (mutation testing): the proof's bound counted a plan HiGHS called optimal within the
    gap as a bound of its own cost, fixing doubled an offer's reduced cost, and the early stop took
    twice the gap: at the default 0.5% on the test instances nothing noticed.  At 3% and 8% (where
    HiGHS stops early and the fixing threshold is low) on generated S instances: the reported bound
    is below the optimum an exact solve finds, the plan above it, and a plan called optimal is within
    the gap asked for."""
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(generate("S", seed=seed), sort_keys=False))
    k, m = _model(load_problem(f))
    exact = solve(m, "highspy", "highs", time_limit_s=120, mip_gap=1e-9)
    assert exact.status == "optimal"
    tol = 1e-7 * abs(exact.objective)
    for gap in (0.03, 0.08):
        r = solve_reduced(m, time_limit_s=60, mip_gap=gap)
        assert r.values is not None and m.violations(r.values, tol=1e-6) == []
        assert r.best_bound <= exact.objective + tol, (gap, r.best_bound, exact.objective)
        assert r.objective >= exact.objective - tol
        if r.status == "optimal":
            assert (r.objective - r.best_bound) / r.objective <= gap + 1e-9


def test_warm_start_from_the_plan_itself_is_feasible_and_costs_the_plan(tmp_path):
    path = ROOT / "problems" / "chat-assistant.yaml"
    lp = load_problem(path)
    s = solve_problem(lp)
    plan = json.loads(s.plan.to_json())
    ws = start_from_plan(s.coefficients, s.model, plan)
    assert ws.feasible and not ws.unmatched and ws.matched_deployments == len(plan["deployments"])
    assert s.model.objective_value(ws.values) == pytest.approx(plan["objective"]["total"], rel=1e-6)
    # more demand: routes scale, replicas grow, the start stays feasible
    raw = yaml.safe_load(path.read_text())
    for w in raw["workloads"]:
        w["demand"]["requests_per_s"] = float(w["demand"]["requests_per_s"]) * 1.4
    lp2 = validate_document(raw, None, path, base_dir=path.parent)
    s2 = solve_problem(lp2, backend="highspy", warm_start=plan)
    assert s2.plan.status == "optimal"
    ws2 = start_from_plan(s2.coefficients, s2.model, plan)
    assert ws2.feasible
    assert s2.model.objective_value(ws2.values) >= s2.plan.objective.total - 1e-6
    assert "warm start from" in s2.plan.solver.status_detail


def _lp_optimum(m):
    h = highs_from_model(m, relax=True, time_limit_s=60, mip_gap=1e-9, threads=1)
    h.run()
    return np.asarray(h.getSolution().col_value, float)


@pytest.mark.parametrize("name", ["chat-assistant", "code-assistant-router", "batch-summarization"])
def test_rounding_the_lp_up_gives_a_plan_between_the_optimum_and_its_rounding_allowance(name):
    path = ROOT / "problems" / f"{name}.yaml"
    k, m = _model(load_problem(path))
    lp = _lp_optimum(m)
    v = round_up(m, lp)
    exact = solve(m, "pulp", "highs", time_limit_s=120, mip_gap=1e-9)
    assert v is not None and m.violations(v, tol=1e-6) == []
    assert m.objective_value(v) >= exact.objective - 1e-6 * abs(exact.objective)
    # routing untouched; at most one replica more than the LP per candidate it uses (two with a
    # rounded-up spare), and at most one unit more than the LP per offer
    assert np.allclose(v[m.blocks["x"]], lp[m.blocks["x"]])
    y, n = m.blocks["y"], m.blocks["n"]
    assert np.all(v[y] <= np.ceil(lp[y] - 1e-9) + 1 + 1e-9)
    # units: the fewest that hold the replicas, by hand
    devices = np.zeros(k.n_o)
    np.add.at(devices, k.cand_offer(), k.cand_tp() * v[y])
    assert np.allclose(v[n], np.maximum(np.ceil(devices / k.offer_array("devices_per_unit") - 1e-9),
                                        m.lb[n]))


def test_a_plan_fitted_to_more_demand_serves_it_with_the_same_shares(tmp_path):
    path = ROOT / "problems" / "chat-assistant.yaml"
    k, m = _model(load_problem(path))
    base = solve(m, "highspy", "highs", time_limit_s=60, mip_gap=1e-9)
    raw = yaml.safe_load(path.read_text())
    for w in raw["workloads"]:
        w["demand"]["requests_per_s"] = float(w["demand"]["requests_per_s"]) * 1.3
    k2, m2 = _model(validate_document(raw, None, path, base_dir=path.parent))
    assert m2.n_vars == m.n_vars
    v = round_up(m2, base.values, demand_fit=True)
    assert v is not None and m2.violations(v, tol=1e-6) == []
    x = m.blocks["x"]
    assert np.allclose(v[x], base.values[x] * 1.3)
    # replicas by hand: ceil(routed load / (u cap)) plus the spare where the plan had one
    load = np.zeros(k2.n_c)
    np.add.at(load, k2.pair_c, v[x] / (k2.max_utilization * k2.pair_cap_rps))
    spare = np.zeros(k2.n_c)
    has = m2.blocks["s_of_c"] >= 0
    spare[has] = v[m2.blocks["s_of_c"][has]]
    assert np.allclose(v[m2.blocks["y"]], np.ceil(load - 1e-9) + spare)
    assert m2.objective_value(v) >= solve(m2, "highspy", "highs", time_limit_s=60,
                                          mip_gap=1e-9).objective - 1e-6


def test_a_submodel_drops_the_rows_it_empties_but_keeps_one_that_zero_breaks(tmp_path):
    path = ROOT / "problems" / "code-assistant-router.yaml"
    k, m = _model(load_problem(path))
    exact = solve(m, "highspy", "highs", time_limit_s=60, mip_gap=1e-9)
    used = exact.values[m.blocks["y"]] > 0.5
    cols = candidate_columns(m, used, m.blocks["pair_c"], m.blocks["cand_offer"])
    sub = submodel(m, cols)
    assert sub.n_rows < m.n_rows and np.all(np.diff(sub.indptr) > 0)
    # the optimum restricted to the candidates the optimum uses is the optimum
    v, _, status = run_mip(sub, 60, 1e-9, 1)
    assert status == "Optimal" and sub.objective_value(v) == pytest.approx(exact.objective, rel=1e-7)
    # without any candidate of a workload its demand row is empty and broken: kept, infeasible
    w0 = m.blocks["pair_w"] == 0
    unused = np.ones(k.n_c, bool)
    unused[m.blocks["pair_c"][w0]] = False
    sub2 = submodel(m, candidate_columns(m, unused, m.blocks["pair_c"], m.blocks["cand_offer"]))
    assert "demand.served" in set(sub2.row_family[np.diff(sub2.indptr) == 0])
    assert run_mip(sub2, 60, 1e-9, 1)[2] == "Infeasible"


def test_an_infeasible_lp_is_reported_without_the_phases_that_did_not_run():
    """Demand above every candidate's reach (a capped offer): infeasible, and the message names
    the cause, not an 'incumbent nan' or an artificial-cost 'LP bound 1e+18'."""
    lp = load_problem(SINGLE[0])
    k, m = _model(lp)
    n = m.blocks["n"]
    m.ub[n] = 0.0                                   # no unit of any offer: nothing can serve
    r = solve(m, "highspy", "reduced", time_limit_s=30, mip_gap=1e-4)
    assert r.status == "infeasible"
    assert "cannot be served within the constraints" in r.message
    for junk in ("nan", "e+1", "reduced MIP  in", "kept 0 of"):
        assert junk not in r.message, r.message


def _budget_model(share: float):
    """chat-assistant with a monthly budget of ``share`` x its optimum's monthly cost."""
    from dataclasses import replace
    k, m = _model(load_problem(ROOT / "problems" / "chat-assistant.yaml"))
    opt = solve(m, "highspy", "highs", time_limit_s=60, mip_gap=1e-9)
    assert opt.status == "optimal"
    return build_model(replace(k, max_usd_per_month=share * opt.objective * 730.0 / k.hours))


def test_a_budget_below_the_lp_optimum_is_proven_infeasible_in_the_feasibility_phase():
    """QA: artificials priced x1000 again and again against a budget no plan meets (up to 1e15,
    each master LP slower: a 48-workload explanation ran out of its 60 s before deciding).  Now
    after two raises the feasibility phase proves it at once, and no bound priced with artificial
    costs is reported."""
    m = _budget_model(0.2)
    assert solve(m, "highspy", "highs", time_limit_s=60, mip_gap=1e-9).status == "infeasible"
    r = solve(m, "highspy", "reduced", time_limit_s=30, mip_gap=1e-4)
    assert r.status == "infeasible" and "LP relaxation infeasible" in r.message, r.message
    assert "LP bound" not in r.message
    rounds = int(r.message.split("column generation ")[1].split(" rounds")[0])
    # converge, two raises, feasibility phase, converge: 5 rounds on the chat-assistant of before
    # 2026-12-07, 6 since its optimum has two deployments (a pricing round more); raising to 1e15 took 7
    # raises alone
    assert rounds <= 6


def test_artificials_priced_too_low_go_through_the_feasibility_phase_to_the_optimum(monkeypatch):
    """Review: the path from the costed phase into the feasibility phase (artificials cheaper than
    serving).  Columns priced in during that phase must enter at zero cost: at their real cost the LP
    kept the demand on the artificials and called a feasible model infeasible.  With the artificial
    price cut to 1e-3 x the dearest column every model goes that way; the optimum must be HiGHS's."""
    from solver.mip import reduced
    from solver.problem.load import load_problem_text
    doc = yaml.safe_load((ROOT / "problems" / "chat-assistant.yaml").read_text())
    doc.pop("scenarios", None)
    # the review's case: two model sizes and a mean quality target between them (the 8B alone misses
    # it), so the feasibility phase must price in 70B columns the costed phase had not added
    doc["workloads"][0]["models"] = ["llama-3.1-8b", "llama-3.1-70b"]
    doc["workloads"][0]["quality"] = {"min_score": 80, "mode": "mean"}
    doc["objective"]["energy_on_rented"] = True      # routing columns then have a cost (energy)
    for lp in (load_problem_text(yaml.safe_dump(doc)), load_problem(ROOT / "problems" / "batch-summarization.yaml")):
        k, m = _model(lp)
        exact = solve(m, "highspy", "highs", time_limit_s=120, mip_gap=1e-6)
        monkeypatch.setattr(reduced, "ARTIFICIAL_FACTOR", 1e-3)
        r = solve(m, "highspy", "reduced", time_limit_s=120, mip_gap=1e-6)
        monkeypatch.undo()
        assert r.status == "optimal", (lp.problem.name, r.message)
        _bracket(m, exact, r)
    # an infeasible result names no LP bound (one priced with artificials is of no use there)
    m = _budget_model(0.2)
    monkeypatch.setattr(reduced, "ARTIFICIAL_FACTOR", 1e-3)
    r = solve(m, "highspy", "reduced", time_limit_s=30, mip_gap=1e-4)
    assert r.status == "infeasible" and "LP bound" not in r.message, r.message


@pytest.mark.parametrize("share", [0.2, 0.5])
def test_an_elastic_budget_relaxation_agrees_with_a_second_solver(share):
    """An elastic model prices only its slacks (nothing that serves demand costs): column
    generation starts in the feasibility phase, then minimises the slack with the artificials
    closed; the least budget increase must be CBC's and HiGHS's (whole model)."""
    from solver.mip.elastic import relax
    m = _budget_model(share)
    got = {}
    for backend, solver in (("highspy", "reduced"), ("pulp", "cbc"), ("highspy", "highs")):
        e = relax(m, ["caps.budget"], backend=backend, solver=solver, time_limit_s=60)
        assert e.status == "optimal" and len(e.slacks) == 1, (backend, solver, e.message)
        got[solver] = e.slacks[0].amount
    assert got["reduced"] > 0
    assert got["reduced"] == pytest.approx(got["cbc"], rel=1e-6) == pytest.approx(got["highs"], rel=1e-6)


def test_column_generation_time_limit_allows_for_highs_cumulative_run_clock(monkeypatch):
    """HiGHS (before 2.0) compares time_limit with its run clock summed over every run() of the
    object, and highspy 1.12 cannot zero it; the column generation re-runs one object dozens of
    times, so a limit of "seconds left" ends the LP early (XL periods stopped at half their
    budget).  Here the clock is made to read 1000 s already spent: every limit handed to HiGHS
    must still leave the solve its remaining time on top of that."""
    import highspy

    real = highspy.Highs
    short = []

    class OldClock(real):
        """A Highs whose earlier runs (if any) took 1000 s in all."""
        runs = 0

        def getRunTime(self):
            return super().getRunTime() + (1000.0 if self.runs else 0.0)

        def run(self):
            limit = self.getOptionValue("time_limit")
            limit = limit[-1] if isinstance(limit, tuple) else limit     # (status, value) in some versions
            if self.runs and limit < self.getRunTime() + 1.0:
                short.append(limit)
            self.runs += 1
            return super().run()

    monkeypatch.setattr(highspy, "Highs", OldClock)
    _, m = _model(load_problem(ROOT / "problems" / "chat-assistant.yaml"))
    r = solve_reduced(m, time_limit_s=60, mip_gap=1e-6)
    assert r.status == "optimal"
    assert "column generation" in r.message and short == []


def test_neighbourhood_search_improves_a_dear_plan_without_leaving_the_feasible_set(tmp_path):
    """From a feasible plan with one unit too many of every offer, freeing one group of offers at a
    time (cheaper half, dearer half, each region) finds a cheaper feasible plan, never below the
    exact optimum (HiGHS on the whole model, the independent check)."""
    import time
    from solver.mip.reduced import ReducedStats, _Run, _neighbourhood_search
    f = tmp_path / "m.yaml"
    f.write_text(yaml.safe_dump(generate("M"), sort_keys=False))
    _, m = _model(load_problem(f))
    exact = solve(m, "highspy", "highs", time_limit_s=120, mip_gap=1e-6)
    assert exact.status == "optimal"
    worse = exact.values.copy()
    worse[m.blocks["n"]] = np.round(worse[m.blocks["n"]]) + 1
    assert m.violations(worse, tol=1e-6) == []
    assert len(np.unique(m.blocks["offer_group"])) > 1           # M has two regions: region groups exist
    run = _Run(m, ReducedStats(), time.perf_counter(), 60.0, 1e-4, None)
    better = _neighbourhood_search(run, np.arange(m.n_vars), np.ones(len(m.blocks["n"]), bool), worse, 30.0)
    assert better is not None
    assert m.violations(better, tol=1e-6) == []
    assert m.objective_value(better) < m.objective_value(worse) - 1.0
    assert m.objective_value(better) >= exact.objective * (1 - 1e-6) - 1e-6


def test_first_plan_search_solves_the_lp_support_first_then_searches_neighbourhoods_from_it(tmp_path,
                                                                                          monkeypatch):
    """The first-plan search: the MIP on the LP's candidates (a second or two), then the
    neighbourhood search on the wide candidate set started from its plan, each step with most
    units and replicas held.  A MIP over the wide set with every integer free (~25-33 s at rung L,
    cut short it kept a plan 3-4% above the optimum) runs only when there is no plan at all.
    The LP's candidates are also kept for the restricted heuristic (``ReducedStats.lp_candidates``)."""
    import solver.mip.reduced as reduced
    from solver.mip.reduced import ReducedStats
    f = tmp_path / "m.yaml"
    f.write_text(yaml.safe_dump(generate("M"), sort_keys=False))
    k, m = _model(load_problem(f))
    calls = []
    real = reduced.run_mip

    def spy(sub, time_limit_s, mip_gap, threads, start=None, **kw):
        out = real(sub, time_limit_s, mip_gap, threads, start=start, **kw)
        free = int(np.sum(sub.is_int & (sub.lb < sub.ub)))
        calls.append((int(sub.is_int.sum()), free, None if start is None else sub.objective_value(start),
                      None if out[0] is None else sub.objective_value(out[0])))
        return out

    monkeypatch.setattr(reduced, "run_mip", spy)
    st = ReducedStats()
    r = solve_reduced(m, time_limit_s=120, mip_gap=1e-6, stats=st)
    assert r.status == "optimal"
    (small_ints, small_free, _, small_obj), (step_ints, step_free, step_start, step_obj) = calls[:2]
    assert small_free == small_ints                       # the small MIP: every integer free
    assert small_ints < step_ints                         # the step works on the wide set ...
    assert 0 < step_free < step_ints                      # ... with most integers held
    assert step_start == pytest.approx(small_obj, rel=1e-9)       # started from the small MIP's plan
    assert step_obj <= small_obj + 1e-6
    # the LP's candidates: those of the small MIP, a strict subset of all
    assert st.lp_candidates is not None and 0 < st.lp_candidates.sum() < k.n_c


def _three_region_model(same_accelerator: bool = True):
    """One workload (1 req/s) that a replica on any of three offers serves, one offer per region;
    a unit costs 10, 6 and 8 (regions 0, 1, 2).  Optimum by hand: one unit of offer 1, cost 6.

    Variables y_0..2 (replicas), n_0..2 (units), x_0..2 (routes); rows: x_0 + x_1 + x_2 = 1,
    x_c - y_c <= 0, y_c - n_c <= 0."""
    b = ModelBuilder()
    y = b.add_vars("y", [f"y{i}" for i in range(3)], 0.0, 2.0, integer=True)
    n = b.add_vars("n", [f"n{i}" for i in range(3)], 0.0, 2.0, integer=True)
    x = b.add_vars("x", [f"x{i}" for i in range(3)], 0.0, 1.0, integer=False)
    b.add_rows("demand.served", [0, 0, 0], x, [1.0] * 3, "=", [1.0], ["w"])
    b.add_rows("capacity.replica", [0, 0, 1, 1, 2, 2], [x[0], y[0], x[1], y[1], x[2], y[2]],
               [1.0, -1.0] * 3, "<", [0.0] * 3, ["c0", "c1", "c2"])
    b.add_rows("capacity.offer_units", [0, 0, 1, 1, 2, 2], [y[0], n[0], y[1], n[1], y[2], n[2]],
               [1.0, -1.0] * 3, "<", [0.0] * 3, ["o0", "o1", "o2"])
    b.add_objective("units", n, [10.0, 6.0, 8.0])
    m = b.build()
    m.blocks.update(pair_w=np.zeros(3, np.int64), pair_c=np.arange(3), cand_offer=np.arange(3),
                    s_of_c=np.full(3, -1, np.int64), offer_group=np.arange(3),
                    offer_kind=np.zeros(3, np.int64) if same_accelerator else np.arange(3))
    start = np.zeros(m.n_vars)
    start[[y[0], n[0], x[0]]] = 1.0          # served in region 0, the dearest
    return m, start


def test_neighbourhoods_move_a_server_between_regions():
    """A plan that serves from the dearest region: freeing one region, or the cheaper or dearer
    half by unit price, cannot move its server to the cheapest region (the destination's units
    are held at 0, or the source's at 1); a pair of regions can.  The optimum (6) is by hand."""
    import time
    from solver.mip.reduced import ReducedStats, _Run, _neighbourhood_search
    m, start = _three_region_model()
    assert m.violations(start, tol=1e-9) == [] and m.objective_value(start) == 10.0
    run = _Run(m, ReducedStats(), time.perf_counter(), 60.0, 1e-6, None)
    better = _neighbourhood_search(run, np.arange(m.n_vars), np.ones(3, bool), start, 30.0)
    assert better is not None and m.violations(better, tol=1e-9) == []
    assert m.objective_value(better) == pytest.approx(6.0)
    assert run.lns_converged                 # a whole pass with no saving ended it


def test_neighbourhoods_are_regions_pairs_and_accelerators_without_repeats():
    """The groups in order (halves by unit price, regions, pairs of regions, accelerators), none
    twice and none holding every offer; offers of one accelerator in several regions form a group
    of their own (a server can move between them), and the fleet model records each offer's
    accelerator for it."""
    from solver.mip.reduced import _neighbourhoods
    m, _ = _three_region_model()
    groups = [sorted(g.tolist()) for g in _neighbourhoods(m, m.blocks["n"], np.arange(3))]
    # halves [1] | [2, 0], regions [0], [2] (the [1] again), pairs {0,1}, {1,2} ({0,2} again);
    # the accelerator group holds every offer: left out
    assert groups == [[1], [0, 2], [0], [2], [0, 1], [1, 2]]
    m, _ = _three_region_model(same_accelerator=False)
    m.blocks["offer_kind"] = np.array([0, 1, 0])        # offers 0 and 2: one accelerator
    groups = [sorted(g.tolist()) for g in _neighbourhoods(m, m.blocks["n"], np.arange(3))]
    assert groups.count([0, 2]) == 1                    # the dearer half is that group too: once
    m.blocks["offer_group"] = np.zeros(3, np.int64)     # one region: no region groups, no pairs
    groups = [sorted(g.tolist()) for g in _neighbourhoods(m, m.blocks["n"], np.arange(3))]
    assert groups == [[1], [0, 2]]
    lp = load_problem(ROOT / "problems" / "enterprise-multi-region.yaml")
    k, fleet = _model(lp)
    kind = fleet.blocks["offer_kind"]
    acc = [o.accelerator for o in k.offers]
    assert len(set(acc)) > 1
    for i in range(k.n_o):
        for j in range(k.n_o):
            assert (kind[i] == kind[j]) == (acc[i] == acc[j])


def test_with_two_regions_the_first_plan_search_moves_servers_across_regions_and_accelerators(tmp_path):
    """Rung M, seed 11 (two regions): the first plan must reach the optimum's mix (L4 and L40S in
    one region, one more MI300X in the other), a move no half, region or accelerator holds; the
    groups of each region with the offers the LP or the incumbent uses do (without them the first
    plan stayed 3% above the optimum, 262,413 against 254,747).  The optimum is HiGHS's on the
    whole model, the independent check."""
    from solver.mip.reduced import ReducedStats, _neighbourhoods
    f = tmp_path / "m.yaml"
    f.write_text(yaml.safe_dump(generate("M", seed=11), sort_keys=False))
    _, m = _model(load_problem(f))
    grp = m.blocks["offer_group"]
    assert len(np.unique(grp)) == 2
    offers = np.arange(len(m.blocks["n"]))
    guided = np.zeros(len(offers), bool)
    guided[[0, len(offers) - 1]] = True
    groups = [sorted(g.tolist()) for g in _neighbourhoods(m, m.blocks["n"], offers, guided)]
    assert groups[0] == sorted(offers[guided].tolist())
    for g in (0, 1):
        assert sorted(offers[guided | (grp == g)].tolist()) in groups
    exact = solve(m, "highspy", "highs", time_limit_s=120, mip_gap=1e-6)
    assert exact.status == "optimal"
    st = ReducedStats()
    r = solve_reduced(m, time_limit_s=120, mip_gap=5e-3, stats=st)
    assert r.status == "optimal"
    assert st.incumbent <= exact.objective * (1 + 5e-3)
