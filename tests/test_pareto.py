"""Pareto fronts: monotone, every point a plan the verifier accepts, end points checked by
a second method (a plain solve, a looser problem, the verifier's own CO2 arithmetic)."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from solver.cli import main
from solver.errors import InputError
from solver.explore.common import SolveOptions
from solver.explore.pareto import (BISECT_STEPS, ParetoFront, ParetoPoint, _bisect, check_monotone,
                                   pareto_front, target_text, with_row)
from solver.mip.model import ModelBuilder
from solver.problem.load import load_problem, validate_document

ROOT = Path(__file__).resolve().parents[1]
CHAT = ROOT / "problems" / "chat-assistant.yaml"
ROUTER = ROOT / "problems" / "code-assistant-router.yaml"
#: violation kinds that are constraints (cost/kpi lines differ by design across problems)
CONSTRAINT_KINDS = {"demand", "capacity", "slo", "quality", "filter", "units", "availability",
                    "power", "spot_share", "redundancy", "budget", "offer", "existing", "routing"}


@pytest.fixture(scope="module")
def chat():
    return load_problem(CHAT)


@pytest.fixture(scope="module")
def ttft_front(chat):
    return pareto_front(chat, "ttft", points=5)


def _problem_with(chat, targets: dict, key: str):
    doc = copy.deepcopy(chat.raw)
    doc.pop("scenarios")
    for w in doc["workloads"]:
        w["slo"][key] = targets[w["id"]]
    return validate_document(doc, None, chat.file, check_scenarios=False)


def test_ttft_front_on_shipped_problem_is_monotone_and_verified(chat, ttft_front):
    from solver.mip.pipeline import solve_problem
    f = ttft_front
    assert len(f.points) == 5 and f.monotone and not check_monotone(f.points)
    assert all(p.status == "optimal" and p.verified for p in f.points)
    xs = [p.x for p in f.points]
    assert xs[0] == chat.problem.workloads[0].slo.ttft_ms       # starts at the problem as written
    assert all(b < a for a, b in zip(xs, xs[1:]))                 # then tightens
    costs = [p.total_usd for p in f.points]
    assert all(b >= a for a, b in zip(costs, costs[1:]))          # gap 1e-6: exact order
    # second method: the first point is the plain solve of the problem
    assert costs[0] == pytest.approx(solve_problem(chat).plan.objective.total, rel=1e-9)
    # the JSON holds a full plan per point
    d = json.loads(json.dumps(f.to_dict()))
    assert [p["plan"]["objective"]["total"] for p in d["points"]] == pytest.approx(costs)


def test_tighter_plan_is_feasible_for_the_looser_target(chat, ttft_front):
    """Why the front is monotone: each tighter plan also satisfies every looser problem."""
    from solver.verify import verify_plan
    pts = ttft_front.points
    for loose, tight in zip(pts, pts[1:]):
        problem = _problem_with(chat, loose.targets, "ttft_ms")
        rep = verify_plan(problem.problem, problem.catalog, tight.plan)
        bad = [v.format() for v in rep.violations if v.kind in CONSTRAINT_KINDS]
        assert not bad, bad


def test_tightest_point_is_at_the_feasibility_edge(chat, ttft_front):
    """Tightening the last point's targets by 2**-BISECT_STEPS of the range more is infeasible."""
    from solver.explore.pareto import MIN_FACTOR
    from solver.mip.pipeline import solve_problem
    last = ttft_front.points[-1]
    step = (1 - MIN_FACTOR) * 2.0 ** -BISECT_STEPS
    factor = last.targets["chat"] / chat.problem.workloads[0].slo.ttft_ms
    beyond = {"chat": chat.problem.workloads[0].slo.ttft_ms * (factor - 1.01 * step)}
    plan = solve_problem(_problem_with(chat, beyond, "ttft_ms")).plan
    assert plan.status == "infeasible"


def test_quality_front_raises_the_floor(chat):
    f = pareto_front(chat, "quality", points=4)
    assert f.monotone and all(p.verified for p in f.points)
    for p in f.points:
        assert p.x >= chat.problem.workloads[0].quality.min_score
        # per-request mode: every route's model meets the level (from the plan's own deployments)
        qual = min(d["quality"] for d in p.plan["deployments"])
        assert qual >= p.x - 1e-9


def test_carbon_front_caps_are_met_by_the_verifiers_arithmetic(chat):
    from solver.verify import verify_plan
    f = pareto_front(chat, "carbon", points=4)
    assert f.monotone and all(p.status == "optimal" and p.verified for p in f.points)
    caps = [p.targets["co2_cap_kg"] for p in f.points]
    assert all(b < a for a, b in zip(caps, caps[1:]))
    for p in f.points:
        co2 = verify_plan(chat.problem, chat.catalog, p.plan).recomputed["co2_kg"]
        assert co2 <= p.targets["co2_cap_kg"] * (1 + 1e-6)
        assert co2 == pytest.approx(p.co2_kg, rel=1e-6)
    # the first point is the cheapest plan; the last has the lowest CO2 of all points
    assert f.points[-1].co2_kg <= min(p.co2_kg for p in f.points) + 1e-6


def test_carbon_lowest_co2_agrees_across_solver_stacks(chat):
    """The min-CO2 end point from two independent solver stacks (CBC via pulp, HiGHS via OR-Tools)."""
    a = pareto_front(chat, "carbon", points=2, verify=False)
    b = pareto_front(chat, "carbon", points=2, verify=False,
                     options=SolveOptions(backend="ortools", solver="highs"))
    assert a.points[-1].co2_kg == pytest.approx(b.points[-1].co2_kg, rel=1e-4)
    assert a.points[-1].total_usd == pytest.approx(b.points[-1].total_usd, rel=1e-4)


def test_carbon_front_of_a_single_choice_problem_is_one_point():
    """One model, format, accelerator and TP: the cheapest fleet is also the lowest-CO2 one."""
    from solver.problem.load import load_problem_text
    txt = CHAT.read_text().split("scenarios:")[0]
    txt = txt.replace("  - id: chat\n", "  - id: chat\n    models: [llama-3.1-8b]\n    quantizations: [fp8]\n")
    txt = (txt.replace("  regions: [virginia]\n", "  regions: [virginia]\n  accelerators: [h100-sxm]\n")
           .replace("tensor_parallel: [1, 2, 4, 8]", "tensor_parallel: [1]")
           .replace("acquisition: [on_demand, reserved_1y]", "acquisition: [on_demand]"))
    f = pareto_front(load_problem_text(txt), "carbon", points=4)
    assert len(f.points) == 1 and f.points[0].verified and "front is one point" in f.note


def test_multi_workload_front_uses_factors():
    f = pareto_front(load_problem(ROUTER), "tpot", points=3)
    assert f.x_label.startswith("TPOT targets, x")
    assert f.points[0].x == 1.0 and f.monotone and all(p.verified for p in f.points)
    # every workload's target is scaled by the same factor
    base = {w.id: w.slo.tpot_ms for w in load_problem(ROUTER).problem.workloads}
    for p in f.points:
        assert {w: t / base[w] for w, t in p.targets.items()} == pytest.approx(
            {w: p.x for w in base})


# ---------------------------------------------------------------------- pieces
def test_bisect_finds_the_edge():
    for edge in (0.0, 0.3, 0.77, 0.999):
        t = _bisect(lambda x: x <= edge)
        assert t <= edge and edge - t <= 2.0 ** -BISECT_STEPS
    assert _bisect(lambda x: True) == 1.0


def test_check_monotone_tolerates_the_gap_only():
    def pt(i, cost, gap):
        return ParetoPoint(i, 0.0, 0.0, {}, "optimal", cost, None, None, None, "", True,
                           plan={"solver": {"mip_gap": gap}})
    assert not check_monotone([pt(0, 100.0, 1e-3), pt(1, 99.95, 1e-3)])
    assert check_monotone([pt(0, 100.0, 1e-6), pt(1, 99.95, 1e-6)])


def test_with_row_adds_one_row_and_keeps_the_model():
    b = ModelBuilder()
    idx = b.add_vars("x", ["a", "b", "c"], 0.0, 10.0, integer=False)
    b.add_rows("r", [0, 0], idx[:2], [1.0, 2.0], "<", [5.0], ["r0"])
    m = b.build()
    m2 = with_row(m, np.array([2, 0]), np.array([3.0, 1.0]), ">", 4.0, "cap[x]")
    assert m.n_rows == 1 and m2.n_rows == 2
    v = np.array([1.0, 1.0, 1.0])
    assert list(m2.activity(v)) == [3.0, 4.0]
    assert m2.row_names[-1] == "cap[x]" and m2.sense[-1] == ">"
    assert m2.violations(np.array([1.0, 1.0, 0.0])) == ["cap[x]: 1 > 4"]


def test_bad_inputs(chat):
    with pytest.raises(InputError, match=r"points \(--points\): .* at least 2 points, got 1"):
        pareto_front(chat, "ttft", points=1)
    with pytest.raises(InputError, match=r"points \(--points\): .* at least 2 points, got '3'"):
        pareto_front(chat, "ttft", points="3")          # a TypeError from a comparison before
    with pytest.raises(InputError, match=r"versus \(--versus\): unknown 'latency'"):
        pareto_front(chat, "latency")
    doc = copy.deepcopy(chat.raw)
    doc.pop("scenarios")
    doc["workloads"][0]["slo"]["ttft_ms"] = 0.5   # nothing can answer within half a millisecond
    bad = validate_document(doc, None, chat.file, check_scenarios=False)
    with pytest.raises(InputError, match="as written has no plan") as info:
        pareto_front(bad, "tpot", points=3)
    assert info.value.exit_code == 3    # infeasible, not bad input


def test_cli_infeasible_base_exits_3_and_carbon_front_is_single_period(tmp_path, capsys):
    doc = yaml.safe_load(CHAT.read_text())
    doc["workloads"][0]["slo"]["ttft_ms"] = 0.5
    doc.pop("scenarios", None)
    f = tmp_path / "chat-infeasible.yaml"
    f.write_text(yaml.safe_dump(doc))
    assert main(["pareto", str(f), "--versus", "carbon", "--points", "2", "--out-dir", str(tmp_path)]) == 3
    assert main(["pareto", str(f), "--versus", "tpot", "--points", "2", "--out-dir", str(tmp_path)]) == 3
    assert "no plan to start from" in capsys.readouterr().err
    eight = CHAT.parent / "eight-quarter-growth.yaml"
    assert main(["pareto", str(eight), "--versus", "carbon", "--points", "2", "--out-dir", str(tmp_path)]) == 2
    assert "single-period problems only" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.json"))


# ---------------------------------------------------------------------- CLI
def test_cli_writes_json_and_png(tmp_path, capsys):
    rc = main(["pareto", str(CHAT), "--versus", "quality", "--points", "3", "--out-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "monotone: yes" in out
    js = json.loads((tmp_path / "chat-assistant.pareto-quality.json").read_text())
    assert js["kind"] == "pareto" and len(js["points"]) == 3
    assert all(p["plan"]["status"] == "optimal" for p in js["points"])
    png = (tmp_path / "chat-assistant.pareto-quality.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_png_is_deterministic(ttft_front, tmp_path):
    ttft_front.write_png(tmp_path / "a.png")
    ttft_front.write_png(tmp_path / "b.png")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_cli_bad_points_exit_2(capsys):
    assert main(["pareto", str(CHAT), "--versus", "ttft", "--points", "1"]) == 2
    assert "at least 2 points" in capsys.readouterr().err


def test_the_quality_front_starts_from_the_problem_as_written(tmp_path):
    """QA: point 0 gave the workload without a quality target the lowest set target (70), forcing it
    onto the 8B model: $10 where the problem as written costs $8 (w1: 5 req/s on 8B at 1 req/s per
    $1/h L4 = $5; w2: 5 req/s on 3B at 2 req/s = 3 L4s = $3)."""
    from solver.mip.pipeline import solve_problem
    f = tmp_path / "q.yaml"
    f.write_text(QUALITY_MIX)
    lp = load_problem(f)
    assert solve_problem(lp).plan.objective.total == pytest.approx(8.0)
    front = pareto_front(lp, "quality", points=3)
    assert front.points[0].total_usd == pytest.approx(8.0)
    assert front.points[0].targets["w2"] is None
    assert all(p.total_usd == pytest.approx(10.0) for p in front.points[1:])   # w2 on 8B too: 5 + 5


QUALITY_MIX = """schema_version: 1
name: q
workloads:
  - id: w1
    demand: {requests_per_s: 5}
    input_tokens: {mean: 1000}
    output_tokens: {mean: 200}
    slo: {ttft_ms: 1000, tpot_ms: 50}
    quality: {min_score: 70}
    models: [llama-3.2-3b, llama-3.1-8b]
    quantizations: [bf16]
  - id: w2
    demand: {requests_per_s: 5}
    input_tokens: {mean: 500}
    output_tokens: {mean: 100}
    slo: {ttft_ms: 1000, tpot_ms: 50}
    models: [llama-3.2-3b, llama-3.1-8b]
    quantizations: [bf16]
fleet:
  accelerators: [l4]
  regions: [virginia]
  acquisition: [on_demand]
  tensor_parallel: [1]
  max_utilization: 1.0
  catalog_offers: false
  offers:
    - {accelerator: l4, region: virginia, usd_per_device_hour: 1.0}
objective:
  horizon_hours: 1
measurements:
  - {accelerator: l4, model: llama-3.1-8b, workload: w1, max_requests_per_s: 1.0}
  - {accelerator: l4, model: llama-3.1-8b, workload: w2, max_requests_per_s: 1.0}
  - {accelerator: l4, model: llama-3.2-3b, workload: w1, max_requests_per_s: 2.0}
  - {accelerator: l4, model: llama-3.2-3b, workload: w2, max_requests_per_s: 2.0}
"""


# ---------------------------------------------------------------------- plots
def _front(versus: str, xs, costs, co2_kg=None) -> ParetoFront:
    """A front built by hand (no solve): x, cost per month and CO2 per point."""
    co2_kg = co2_kg or [None] * len(xs)
    pts = [ParetoPoint(i, x, i / max(len(xs) - 1, 1), {}, "optimal", c, c, e, 1, "1x l4", True)
           for i, (x, c, e) in enumerate(zip(xs, costs, co2_kg))]
    return ParetoFront(problem="p", file="p.yaml", versus=versus, x_label="x", tighter="lower",
                       points=pts, monotone=True, monotone_issues=[], seconds=0.0, solves=len(pts))


def test_write_png_leaves_the_notebooks_matplotlib_backend_alone(tmp_path):
    """QA: write_png called matplotlib.use("Agg") and plotted through pyplot, so a notebook's inline
    backend became Agg and every later plt.show() showed nothing.  Run where the backend is another
    one (svg, as a notebook's is inline), it must stay that, with pyplot never imported."""
    import subprocess
    import sys
    code = ("import sys, matplotlib; from test_pareto import _front; "
            "_front('ttft', [100.0, 50.0], [1.0, 2.0]).write_png(sys.argv[1]); "
            "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)")
    env = {**__import__("os").environ, "MPLBACKEND": "svg",
           "PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}"}
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "f.png")], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["svg", "False"]
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _drawn_at(fig, x: float) -> float:
    """The cost the front's line shows at ``x`` (linear along the drawn path, steps included)."""
    v = fig.axes[0].lines[0].get_path().vertices
    for (x0, y0), (x1, y1) in zip(v, v[1:]):
        if x0 != x1 and min(x0, x1) < x < max(x0, x1):
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    raise AssertionError(f"nothing drawn at {x}")


def test_the_png_draws_steps_each_target_costing_what_the_tighter_point_does():
    """QA: straight lines between points suggested that a target between two points costs in between.
    A target between two points is met by the tighter point's plan (it meets every looser target)
    and not by the looser one's (in general), so the front reads the tighter point's cost there.

    TTFT (tighter: lower): points 100 ms $1, 50 ms $2, 10 ms $5: 75 ms reads $2, 30 ms $5
    (straight lines: $1.50 and $3.50).  Quality (tighter: higher): 70 $1, 80 $3, 90 $4: 75 reads
    $3, 85 reads $4."""
    ttft = _front("ttft", [100.0, 50.0, 10.0], [1.0, 2.0, 5.0]).figure()
    assert [_drawn_at(ttft, 75.0), _drawn_at(ttft, 30.0)] == [2.0, 5.0]
    quality = _front("quality", [70.0, 80.0, 90.0], [1.0, 3.0, 4.0]).figure()
    assert [_drawn_at(quality, 75.0), _drawn_at(quality, 85.0)] == [3.0, 4.0]


def test_the_carbon_png_puts_each_plan_at_its_own_co2():
    """QA's front: caps 2.0, 1.9, 1.8, 1.5 t; the plans emit 1.944, 1.844, 1.44, 1.44 t at $4,803,
    $5,103, $5,500, $5,500.  Drawn at the plans' CO2: a 1.9 t cap reads $5,103 (the 1.844 t plan
    meets it, the 1.944 t one does not; straight lines between the caps read $4,953), and 1.6 t
    reads $5,500."""
    f = _front("carbon", [2.0, 1.9, 1.8, 1.5], [4803.0, 5103.0, 5500.0, 5500.0],
               co2_kg=[1944.0, 1844.0, 1440.0, 1440.0])
    fig = f.figure()
    # the two 1.44 t plans at one cost are one plan: drawn once (QA s21)
    assert list(fig.axes[0].lines[0].get_xdata()) == pytest.approx([1.944, 1.844, 1.44])
    assert fig.axes[0].get_xlabel().startswith("CO2 of the plan, tonnes")
    assert [_drawn_at(fig, 1.9), _drawn_at(fig, 1.6)] == pytest.approx([5103.0, 5500.0])


# ---------------------------------------------------------------------- weakly dominated points
def test_weakly_dominated_points_are_flagged_kept_in_the_json_and_left_off_the_table_and_plot():
    """QA: `pareto t2.yaml --versus ttft` gave x1, x0.5038 and x0.2538 all at $113,015 with the same
    fleet: the two looser ones cost no less than x0.2538 and are looser, so they are weakly
    dominated by it.  Points (factor, $/month): 1 $100, 0.5 $100, 0.25 $100, 0.125 $150, 0.0625
    $400: on the front 0.25, 0.125, 0.0625; 1 and 0.5 dominated by #2 (the 0.25 point)."""
    f = _front("ttft", [1.0, 0.5, 0.25, 0.125, 0.0625], [100.0, 100.0, 100.0, 150.0, 400.0])
    assert [p.on_front for p in f.points] == [False, False, True, True, True]
    assert [p.dominated_by for p in f.points] == [2, 2, None, None, None]
    d = json.loads(json.dumps(f.to_dict()))
    assert len(d["points"]) == 5                           # nothing computed is lost
    assert [p["dominated_by"] for p in d["points"]] == [2, 2, None, None, None]
    text = f.table_text()
    assert "(3 of 5 points," in text
    rows = [ln.split()[0] for ln in text.splitlines()[3:6]]
    assert rows == ["2", "3", "4"]
    assert ("2 points left out as weakly dominated (another point has a tighter or equal target at no more "
            "cost, within the MIP gap): #0 (x1, 100 USD/month) by #2 (x0.25, 100 USD/month), #1 (x0.5, 100 "
            "USD/month) by #2 (x0.25, 100 USD/month)") in text
    assert list(f.figure().axes[0].lines[0].get_xdata()) == [0.25, 0.125, 0.0625]


def test_dominance_follows_the_direction_of_the_target_and_the_gap():
    """Quality tightens upwards (QA t3: 70 and 73.2 both at $75,355, so 70 is dominated).  Costs
    within the MIP gap count as equal: with gaps of 1e-3, $100.05 at 80 is within $0.10 of $100, so
    80 dominates 73.2 and 70 too, and is the tightest point that does.  90 at $300 is on the front,
    and a point without a plan is on none."""
    f = _front("quality", [70.0, 73.2, 80.0, 90.0], [100.0, 100.0, 100.05, 300.0])
    for p in f.points:
        p.plan = {"solver": {"mip_gap": 1e-3}}
    f.points.append(ParetoPoint(4, 95.0, 1.0, {}, "infeasible", None, None, None, None, "-", None))
    f = replace(f)                           # marked again on construction
    assert [p.on_front for p in f.points] == [False, False, True, True, None]
    assert [p.dominated_by for p in f.points] == [2, 2, None, None, None]
    # an exact tie on both axes (the carbon front's one plan under two caps) is one point of the
    # front: the first kept, the other naming it (QA s21: five front points for two plans)
    g = _front("carbon", [2.0, 1.5], [5.0, 5.0], co2_kg=[1440.0, 1440.0])
    assert [(p.on_front, p.dominated_by) for p in g.points] == [(True, None), (False, 0)]


def test_dominance_within_the_gap_does_not_chain_beyond_it():
    """QA (s20): TTFT points at 1000/800/600/400 ms, each 0.6% dearer than the looser one, gap 1%:
    every point fell to the tightest, which costs 1.8% more than the loosest (beyond the gap), and
    the note named dominating points that were not shown.  A point is dominated only by a point on
    the front within the gap of itself."""
    from solver.explore.pareto import ParetoFront, ParetoPoint

    def pt(i, x, cost):
        return ParetoPoint(index=i, x=x, knob=0.0, targets={}, status="optimal", total_usd=cost,
                           usd_per_month=cost / 12, co2_kg=1.0, devices=1, mix="m", verified=True,
                           plan={"solver": {"mip_gap": 0.01}})
    pts = [pt(i, x, 100000 * 1.006 ** i) for i, x in enumerate([1000, 800, 600, 400])]
    f = ParetoFront(problem="p", file="p.yaml", versus="ttft", x_label="TTFT target, ms", tighter="lower",
                    points=pts, monotone=True, monotone_issues=[], seconds=0, solves=4)
    assert [(p.on_front, p.dominated_by) for p in f.points] == [(False, 1), (True, None), (False, 3), (True, None)]
    shown = {p.index for p in f.front_points}
    for p in f.points:
        if p.dominated_by is not None:
            q = f.points[p.dominated_by]
            assert q.index in shown and q.total_usd <= p.total_usd * 1.01


# ---------------------------------------------------------------------- QA s21
def test_the_carbon_range_starts_at_the_cheapest_plans_own_co2_and_one_plan_is_one_point(chat):
    """QA s21: the note read "CO2 range: 3.072 t (cheapest plan)" (the solver's raw values, before
    the plan was tidied) while that plan, point 0, emits 2.98 t; and the lowest-CO2 plan, found at
    two caps, was two points of the front.  The cheapest plan's CO2 is the verifier's arithmetic;
    the range and point 0's cap start there.  Points: 0 the cheapest plan, 1 and 2 one plan (1x
    b200 at both caps): the front is points 0 and 1, point 2 names point 1."""
    from solver.verify import verify_plan
    f = pareto_front(chat, "carbon", points=3)
    co2_t = verify_plan(chat.problem, chat.catalog, f.points[0].plan).recomputed["co2_kg"] / 1000.0
    assert f.points[0].x == pytest.approx(co2_t, rel=1e-6)
    assert f.note.startswith(f"CO2 range: {co2_t:.4g} t (cheapest plan)")
    assert [(p.on_front, p.dominated_by) for p in f.points] == [(True, None), (True, None), (False, 1)]
    assert f.points[1].mix == f.points[2].mix
    text = f.table_text()
    assert "(2 of 3 points," in text and f"#2 (cap {target_text(f.points[2].x, 'lower')} t CO2) gave the plan of #1 again" in text


def test_versus_is_read_in_any_case_and_a_typo_gets_a_suggestion(chat):
    """QA s21: "TTFT" was refused, and "ttfft" got no "did you mean" (a backend typo gets one)."""
    assert pareto_front(chat, "CARBON", points=2, verify=False).versus == "carbon"
    with pytest.raises(InputError, match=r"unknown 'ttfft'[\s\S]*did you mean 'ttft'\? use one of ttft, tpot"):
        pareto_front(chat, "ttfft")
    with pytest.raises(InputError, match=r"unknown 3[\s\S]*use one of ttft, tpot, quality, carbon"):
        pareto_front(chat, 3)


def test_a_log_latency_axis_has_plain_labels_that_do_not_overlap():
    """QA s21: TTFT targets from 13.7 to 424 ms were labelled 2x10^1, 3x10^1, 4x10^1, ... on the
    minor ticks, overlapping.  Labels at 1, 2 and 5 per decade: 20, 50, 100, 200 within the data,
    and 10 or 500 where the axis' margins reach them."""
    fig = _front("ttft", [423.9, 76.16, 32.28, 13.68], [4827.0, 5103.0, 10205.0, 1797202.0]).figure()
    fig.canvas.draw()
    ax = fig.axes[0]
    x0, x1 = ax.get_xlim()
    shown = [t for t in ax.xaxis.get_majorticklabels() + ax.xaxis.get_minorticklabels()
             if t.get_text() and x0 <= t.get_position()[0] <= x1]
    labels = {float(t.get_text()) for t in shown}
    assert {20.0, 50.0, 100.0, 200.0} <= labels <= {10.0, 20.0, 50.0, 100.0, 200.0, 500.0}
    boxes = sorted((t.get_window_extent() for t in shown), key=lambda b: b.x0)
    assert all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:]))


# ---------------------------------------------------------------------- QA s22
def test_printed_targets_reproduce_their_points(chat, ttft_front):
    """QA s22: the table printed the TTFT front's edge point 13.6826 ms as 13.68, and a re-solve at
    13.68 cost 3.4% more than the point.  Targets are printed at 6 significant digits rounded towards
    the looser side: a re-solve at the printed value admits the point's plan, so it costs no more."""
    from solver.mip.pipeline import solve_problem
    text = ttft_front.table_text()
    rows = {int(ln.split()[0]): ln.split()[1] for ln in text.splitlines()[3:] if ln.split() and ln.split()[0].isdigit()}
    last = ttft_front.points[-1]
    printed = float(rows[last.index].replace(",", ""))
    assert last.x <= printed <= last.x * (1 + 1e-5)
    plan = solve_problem(_problem_with(chat, {"chat": printed}, "ttft_ms")).plan
    assert plan.objective.total <= last.total_usd * (1 + plan.solver.mip_gap)      # chat-assistant: 1e-6
    assert "TTFT target, ms: 6 significant digits, rounded up (looser)" in text


def test_targets_are_rounded_towards_the_looser_side_by_hand():
    """The QA's TTFT targets (lower is tighter) at 6 significant digits, rounded up: 13.682617187... ->
    13.6827 (not 13.6826 or 13.68), 57.206597... -> 57.2066, 239.179007... -> 239.18, 1000 -> 1,000;
    min_score (higher is tighter) 73.2416 7 -> 73.2416 (down)."""
    f = _front("ttft", [1000.0, 239.17900717497466, 57.20659747320656, 13.682617187499968], [1.0, 2.0, 3.0, 4.0])
    xs = [ln.split()[1] for ln in f.table_text().splitlines()[3:7]]
    assert xs == ["1,000", "239.18", "57.2066", "13.6827"]
    q = replace(_front("quality", [70.0, 73.24167], [1.0, 2.0]), tighter="higher")
    assert [ln.split()[1] for ln in q.table_text().splitlines()[3:5]] == ["70", "73.2416"]


# ---------------------------------------------------------------------- QA s23
def test_devices_have_thousands_separators_as_the_cost_columns_do():
    """QA s23: the table printed 91872 devices next to costs written 1,234,567."""
    f = _front("ttft", [1000.0, 500.0], [1_234_567.0, 2_000_000.0])
    f.points[0].devices, f.points[1].devices = 91_872, None
    rows = [ln.split() for ln in f.table_text().splitlines()[3:5]]
    assert rows[0][3:6] == ["1,234,567", "1,234,567", "-"] and rows[0][6] == "91,872"
    assert rows[1][6] == "-"


def test_a_quality_front_without_a_target_starts_at_the_lowest_score_allowed(tmp_path):
    """QA s26: with no min_score the front started at the catalog's lowest score (llama-2-7b, 45.3), and
    its first points were copies of the problem as written.  It starts at the lowest score an allowed
    model reaches in an allowed format: here llama-3.1-8b at int4 (its score x int4's retention)."""
    from solver.catalog import default_catalog
    from solver.coefficients import quality_of
    doc = yaml.safe_load(CHAT.read_text())
    for w in doc["workloads"]:
        w.pop("quality", None)
        w["models"], w["quantizations"] = ["llama-3.1-8b"], ["bf16", "int4"]
    (tmp_path / "q.yaml").write_text(yaml.safe_dump(doc))
    cat = default_catalog()
    lowest = quality_of(cat.models["llama-3.1-8b"], cat.quantization["int4"], cat.quantization)
    front = pareto_front(load_problem(tmp_path / "q.yaml"), "quality", points=2)
    assert front.points[0].x == pytest.approx(lowest, rel=1e-12)
    assert lowest > 60 > cat.models["llama-2-7b"].quality.value


# ---------------------------------------------------------------------- QA s27
def test_a_front_with_points_stopped_at_their_time_limit_says_so_and_exits_4(tmp_path, monkeypatch, capsys):
    """QA s27: every point 'time_limit' (one a fleet of 232 B200 at 230x the optimum's cost) was printed
    as a front with no gap, 'monotone: yes', exit 0; whatif and robust exit 4 on such plans."""
    import solver.explore.pareto as pareto_mod
    front = _front("ttft", [1000.0, 100.0], [5000.0, 9000.0])
    front.points[1].status, front.points[1].gap = "time_limit", 0.0331
    assert [p.index for p in front.unproven] == [1]
    text = front.table_text()
    assert "gap" in text.splitlines()[1] and "3.31%" in text
    assert "1 point stopped at the time limit (#1)" in text
    assert front.to_dict()["points"][1]["gap"] == 0.0331
    monkeypatch.setattr(pareto_mod, "pareto_front", lambda *a, **kw: front)
    problem = Path(__file__).resolve().parents[1] / "problems" / "chat-assistant.yaml"
    rc = main(["pareto", str(problem), "--versus", "ttft", "--json", str(tmp_path / "f.json"), "--no-plot"])
    assert rc == 4, capsys.readouterr().err
    front.points[1].status = "optimal"
    assert main(["pareto", str(problem), "--versus", "ttft", "--json", str(tmp_path / "g.json"),
                 "--no-plot"]) == 0
    assert "gap" not in front.table_text().splitlines()[1]
