"""Small demands: solvers accept row violations of ~1e-7 as feasible, so a demand that needs a tiny
share of a replica was 'served' with no replica at all (an empty plan labelled optimal, 4 backends).

The instance: 0.001 req/s of 20-token prompts and 2-token answers, which a 1B model serves at a few
thousand req/s per replica (the route needs ~1e-7 of one).  Whatever the backend, the plan must hold a
replica, verify, and cost the same on every backend (a second solver as the independent check)."""

from __future__ import annotations

import copy

import pytest

from solver.errors import InputError
from solver.mip.pipeline import solve_problem
from solver.plan import plan_dict
from solver.problem.load import load_problem_text
from solver.verify import verify_plan

TEXT = """
schema_version: 1
name: tiny
workloads:
  - id: ping
    demand: {requests_per_s: 0.001}
    input_tokens: {mean: 20, distribution: fixed}
    output_tokens: {mean: 2, distribution: fixed}
    slo: {ttft_ms: 1000, tpot_ms: 50, percentile: 99}
fleet:
  regions: [virginia]
  acquisition: [on_demand, reserved_1y]
  max_utilization: 0.8
objective: {horizon_months: 12}
"""

BACKENDS = [("highspy", "reduced"), ("highspy", "highs"), ("pulp", "cbc"), ("ortools", "scip")]


@pytest.fixture(scope="module")
def loaded():
    return load_problem_text(TEXT)


@pytest.fixture(scope="module")
def plans(loaded):
    return {b: plan_dict(solve_problem(loaded, backend=b[0], solver=b[1], time_limit_s=30).plan, "plan")
            for b in BACKENDS}


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: "/".join(b))
def test_a_small_demand_gets_a_replica(loaded, plans, backend):
    plan = plans[backend]
    assert plan["status"] == "optimal"
    assert sum(d["replicas"] for d in plan["deployments"]) >= 1
    assert sum(r["requests_per_s"] for r in plan["routing"]) == pytest.approx(0.001, rel=1e-6)
    rep = verify_plan(loaded.problem, loaded.catalog, plan)
    assert rep.ok, [v.message for v in rep.violations]


def test_backends_agree_on_the_cost(plans):
    totals = {b: p["objective"]["total"] for b, p in plans.items()}
    assert max(totals.values()) == pytest.approx(min(totals.values()), rel=1e-6), totals
    assert min(totals.values()) > 0


def test_verify_flags_a_small_demand_left_unserved(loaded, plans):
    plan = dict(plans[BACKENDS[0]])
    plan["routing"] = []
    rep = verify_plan(loaded.problem, loaded.catalog, plan)
    assert any(v.kind == "demand" for v in rep.violations)


def test_demand_below_the_floor_is_bad_input():
    """1e-6 req/s: HiGHS drops the demand row within its tolerance (an empty plan, 'optimal')."""
    with pytest.raises(InputError) as e:
        load_problem_text(TEXT.replace("requests_per_s: 0.001", "requests_per_s: 1.0e-6"))
    assert "requests_per_s" in str(e.value) and "1e-05" in str(e.value)


@pytest.mark.parametrize("growth", ["growth: [1, 0.000001, 0]", "growth_rate_per_period: -0.999"])
def test_a_period_with_a_tiny_demand_is_bad_input_however_growth_is_given(growth):
    text = TEXT.replace("demand: {requests_per_s: 0.001}", "demand: {requests_per_s: 1, " + growth + "}")
    text = text.replace("objective: {horizon_months: 12}", "objective: {periods: {count: 3, months: 4}}")
    with pytest.raises(InputError) as e:
        load_problem_text(text)
    assert "get a demand below 1e-05 req/s" in str(e.value)


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: "/".join(b))
def test_the_smallest_demand_allowed_is_served(backend):
    """1e-05 req/s (the floor) on the same high-capacity replica: every backend holds a replica."""
    loaded = load_problem_text(TEXT.replace("requests_per_s: 0.001", "requests_per_s: 1.0e-5"))
    plan = plan_dict(solve_problem(loaded, backend=backend[0], solver=backend[1], time_limit_s=30).plan, "plan")
    assert sum(d["replicas"] for d in plan["deployments"]) >= 1
    assert verify_plan(loaded.problem, loaded.catalog, plan).ok


def test_verify_flags_routes_to_a_deployment_without_replicas(loaded, plans):
    """A tiny load on zero replicas is still a load no replica carries (the relative tolerance of
    the capacity check must not let it through)."""
    plan = copy.deepcopy(plans[BACKENDS[0]])
    for d in plan["deployments"]:
        d["replicas"] = 0
    for r in plan["routing"]:
        r["requests_per_s"] *= 0.1          # a load of ~1e-7 replica: within an absolute tolerance
    rep = verify_plan(loaded.problem, loaded.catalog, plan)
    assert any(v.kind == "capacity" for v in rep.violations), [v.message for v in rep.violations]


def test_verify_reports_a_nan_count_in_a_plan_dict(loaded, plans):
    """Plans passed as Python dicts skip the JSON reader's NaN refusal: a NaN count is a structure
    violation, not a crash (int(nan) raised ValueError)."""
    plan = copy.deepcopy(plans[BACKENDS[0]])
    plan["deployments"][0]["replicas"] = float("nan")
    rep = verify_plan(loaded.problem, loaded.catalog, plan)
    assert any(v.kind == "structure" and "replicas" in v.where for v in rep.violations)


def test_whatif_prices_a_small_demand_at_a_replica_share_not_a_whole_replica(loaded):
    """With counts continuous ('mix'), one more req/s costs the replica's monthly cost over what one
    replica serves (u x its capacity, from the performance model), not a whole replica per 0.001
    req/s (the guard row x / D <= y, which only means something for whole replicas)."""
    from solver.explore.sensitivity import marginal_values
    s = solve_problem(loaded, backend="highspy", solver="reduced")
    k, m, v = s.coefficients, s.model, s.result.values
    assert (m.row_family == "capacity.small_route").any()          # the guard is in the model
    sens = marginal_values(k, m, v)
    dem = next(x for x in sens.marginals if x.family == "demand.served")
    plan = plan_dict(s.plan, "plan")
    (d,) = [d for d in plan["deployments"] if d["replicas"] > 0]
    (route,) = plan["routing"]
    usd_month = plan["objective"]["usd_per_month"]
    expected = usd_month / (loaded.problem.fleet.max_utilization * route["capacity_rps"])
    assert dem.usd_per_month_per_unit_mix == pytest.approx(expected, rel=1e-3)


# ------------------------------------------------------- capacities too small for the solvers

TINY_CAPACITY = """
schema_version: 1
name: tiny-capacity
workloads:
  - id: chat
    demand: {requests_per_s: 60000}
    input_tokens: {mean: 200, distribution: fixed}
    output_tokens: {mean: 100, distribution: fixed}
    slo: {ttft_ms: 60000, tpot_ms: 1000, percentile: 99}
    models: [llama-3.1-8b]
    quantizations: [bf16]
fleet:
  accelerators: [a10g, a100-80gb]
  regions: [virginia]
  acquisition: [on_demand]
measurements:
  - {accelerator: a100-80gb, model: llama-3.1-8b, quantization: bf16, workload: chat,
     max_requests_per_s: 40.0}
  - {accelerator: a10g, model: llama-3.1-8b, quantization: bf16, workload: chat,
     max_requests_per_s: CAP}
objective: {horizon_months: 1}
"""


def test_a_capacity_needing_more_than_ten_million_replicas_counts_as_none():
    """QA (s20, an imported Mélange profile): one deployment whose replica serves 1e-9 of the
    demand's rate made HiGHS return a plan 57% too dear as optimal and SCIP one routing to
    replicas it never deployed.  Such a deployment now has no capacity for the workload: every
    backend gives the plan of the problem where it cannot serve at all (a measured 0), which is the
    optimum of both (serving by 3e10 A10G replicas is never cheaper), and the count says why."""
    from solver.coefficients import MAX_REPLICAS_TO_SERVE, build_coefficients
    loaded = load_problem_text(TINY_CAPACITY.replace("CAP", "2.0e-6"))     # 3e10 replicas
    k = build_coefficients(loaded.problem, loaded.catalog)
    assert {k.offers[k.candidates[i].offer].accelerator for i in k.pair_c} == {"a100-80gb"}
    assert k.pruned_by_workload["chat"]["no_capacity"] >= 1
    none = load_problem_text(TINY_CAPACITY.replace("CAP", "0"))
    want = plan_dict(solve_problem(none, backend="highspy", solver="highs", time_limit_s=30).plan, "plan")
    for backend, solver in BACKENDS:
        plan = plan_dict(solve_problem(loaded, backend=backend, solver=solver, time_limit_s=30).plan, "plan")
        assert plan["status"] == "optimal", (backend, solver)
        assert {d["accelerator"] for d in plan["deployments"]} == {"a100-80gb"}
        assert verify_plan(loaded.problem, loaded.catalog, plan).ok
        assert plan["objective"]["total"] == pytest.approx(want["objective"]["total"], rel=1e-6), (backend, solver)
    # within the limit, the deployment stays a candidate
    ok = load_problem_text(TINY_CAPACITY.replace("CAP", f"{2 * 60000 / MAX_REPLICAS_TO_SERVE:g}"))
    k = build_coefficients(ok.problem, ok.catalog)
    assert {k.offers[k.candidates[i].offer].accelerator for i in k.pair_c} == {"a100-80gb", "a10g"}


def test_a_measured_capacity_below_the_floor_is_refused():
    with pytest.raises(InputError) as e:
        load_problem_text(TINY_CAPACITY.replace("CAP", "1e-9"))
    text = str(e.value)
    assert "measurements[1].max_requests_per_s" in text and "write 0" in text
    load_problem_text(TINY_CAPACITY.replace("CAP", "0"))            # 0: cannot serve, as before
