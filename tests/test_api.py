"""The Python API as a notebook calls it (load_problem, solve_problem, explain, the Pareto and sweep
functions): the same refusals as the CLI flags, raised before any solve."""

from __future__ import annotations

import logging

from pathlib import Path

import pytest

from solver.errors import InputError
from solver.explain import explain
from solver.explore.common import SolveOptions
from solver.explore.pareto import pareto_front
from solver.explore.sweep import parse_set, run_sweep
from solver.mip.pipeline import solve_problem
from solver.problem.load import load_problem

PROBLEMS = Path(__file__).resolve().parents[1] / "problems"


@pytest.fixture(scope="module")
def chat():
    return load_problem(PROBLEMS / "chat-assistant.yaml")


# mip_gap=5 (meant as "5 %") came back "optimal" at 437,984 USD, 7.6x the optimum of 57,641;
# the others failed deep inside (KeyError, ValueError in a log line) or came back as status "error"
BAD_OPTIONS = [
    (dict(mip_gap=5), "mip_gap (--gap) must be in [0, 1), got 5"),
    (dict(mip_gap=-1), "mip_gap (--gap) must be in [0, 1), got -1"),
    (dict(mip_gap="1e-4"), "mip_gap (--gap) must be a number, got str '1e-4'"),
    (dict(time_limit_s=0), "time_limit_s (--time-limit) must be a finite number of seconds > 0, got 0"),
    (dict(time_limit_s=-1), "time_limit_s (--time-limit) must be a finite number of seconds > 0, got -1"),
    (dict(time_limit_s=float("inf")), "time_limit_s (--time-limit) must be a finite number of seconds > 0, got inf"),
    (dict(time_limit_s="10"), "time_limit_s (--time-limit) must be a number, got str '10'"),
    (dict(threads=-3), "threads (--threads) must be >= 1, got -3"),
    (dict(threads=2.5), "threads (--threads) must be an integer, got float 2.5"),
    (dict(backend="gurobi"), "backend (--backend): unknown backend 'gurobi'"),
    # the problem's backend is pulp: a solver of another backend is refused against it
    (dict(solver="reduced"), "solver (--solver): backend pulp has no solver 'reduced'"),
]


@pytest.mark.parametrize("kw, message", BAD_OPTIONS, ids=[str(kw) for kw, _ in BAD_OPTIONS])
def test_solve_problem_refuses_the_options_the_cli_refuses(chat, kw, message):
    with pytest.raises(InputError) as exc:
        solve_problem(chat, **kw)
    assert message in str(exc.value)


def test_an_unknown_backend_lists_the_backends_and_the_closest(chat):
    with pytest.raises(InputError) as exc:
        solve_problem(chat, backend="highs")
    # 'highs' is a solver; the backend that offers it under that name is highspy
    assert "fix: did you mean 'highspy'? use one of highspy, ortools, pulp" in str(exc.value)


def test_every_entry_point_refuses_with_the_same_check(chat):
    """Pareto fronts, sweeps and explain share solve_problem's check and its message."""
    with pytest.raises(InputError, match=r"mip_gap \(--gap\) must be in \[0, 1\), got 5"):
        pareto_front(chat, "ttft", points=2, options=SolveOptions(mip_gap=5))
    with pytest.raises(InputError, match=r"mip_gap \(--gap\) must be in \[0, 1\), got 5"):
        run_sweep(chat, [parse_set("workloads.chat.demand.requests_per_s=10")], workers=1,
                  cache_dir=None, options=SolveOptions(mip_gap=5))
    with pytest.raises(InputError, match=r"time_limit_s \(--time-limit\) must be a finite number of seconds > 0, got 0"):
        explain(chat, time_limit_s=0)
    with pytest.raises(InputError, match="unknown backend 'gurobi'"):
        explain(chat, backend="gurobi")


# ------------------------------------------------------------ what the functions accept

@pytest.fixture(scope="module")
def solved(chat):
    return solve_problem(chat)


def test_entry_points_given_a_path_or_a_bare_problem_say_to_call_load_problem(chat):
    path = str(PROBLEMS / "chat-assistant.yaml")
    calls = {"solve_problem": lambda x: solve_problem(x), "explain": lambda x: explain(x),
             "pareto_front": lambda x: pareto_front(x, "ttft", points=2),
             "run_sweep": lambda x: run_sweep(x, [parse_set("workloads.chat.demand.requests_per_s=10")],
                                              workers=1, cache_dir=None)}
    for name, call in calls.items():
        with pytest.raises(TypeError, match=rf"{name} needs a LoadedProblem, got str: call load_problem\("):
            call(path)
        with pytest.raises(TypeError, match=r"got Problem: pass what load_problem\(\) returned, not its "):
            call(chat.problem)


def test_every_plan_reader_takes_the_plan_solve_problem_returns(chat, solved, tmp_path):
    """The Plan and its dict give the same output (the dict is what `fleetopt solve --json` writes)."""
    from solver import viz
    from solver.html_report import build_report
    from solver.report import console_text, markdown_text, write_csv_dir
    from solver.verify import verify_plan

    plan, d = solved.plan, solved.plan.to_dict()
    assert console_text(plan) == console_text(d)
    assert markdown_text(plan) == markdown_text(d)
    assert viz.statistics(plan) == viz.statistics(d)
    assert viz.figure_pngs(plan) == viz.figure_pngs(d)
    assert build_report(plan) == build_report(d)
    assert console_text(solved) == console_text(d)          # the Solved around it too
    for name, p in (("obj", plan), ("dict", d)):
        write_csv_dir(p, tmp_path / name)
    assert {f.name: f.read_text() for f in (tmp_path / "obj").iterdir()} == \
           {f.name: f.read_text() for f in (tmp_path / "dict").iterdir()}
    # verify_plan: a Plan, and the LoadedProblem in place of its Problem
    ref = verify_plan(chat.problem, chat.catalog, d)
    assert ref.ok and ref.checks > 0
    for args in ((chat.problem, chat.catalog, plan), (chat, chat.catalog, d)):
        rep = verify_plan(*args)
        assert rep.ok and rep.checks == ref.checks
    with pytest.raises(TypeError, match=r"verify_plan needs a plan: .*load_plan_json\(PATH\).*got str"):
        verify_plan(chat.problem, chat.catalog, plan.to_json())


def test_warm_start_and_previous_take_a_plan(chat, solved, caplog):
    warm = solve_problem(chat, warm_start=solved.plan).plan
    assert warm.objective.total == solved.plan.objective.total
    # the earlier plan's deployments are this problem's, so the start matches them (a Plan raised
    # AttributeError before)
    n = len(solved.plan.deployments)
    assert n >= 1 and f"warm start from {n} deployment(s) of the earlier plan" in warm.solver.status_detail
    # a plan of another problem's name is warned about, as --existing's is (QA: not a word)
    other = dict(solved.plan.to_dict(), problem="some-other-problem")
    with caplog.at_level(logging.WARNING, logger="solver"):
        solve_problem(chat, warm_start=other)
    assert "the warm-start plan was made for problem 'some-other-problem', this one is 'chat-assistant'" \
        in caplog.text
    growth = load_problem(PROBLEMS / "eight-quarter-growth.yaml")
    first = solve_problem(growth).plan
    again = solve_problem(growth, previous=first).plan
    # re-optimising from its own plan keeps every decision: nothing changes, nothing costs more
    assert again.status == "optimal"
    assert again.objective.total == pytest.approx(first.objective.total, rel=1e-6)


def test_one_catalog_overlay_may_be_passed_as_a_path(tmp_path):
    overlay = tmp_path / "negotiated.yaml"
    overlay.write_text("schema_version: 1\naccelerators:\n  - id: h100-pcie\n    notes: negotiated\n")
    for given in (str(overlay), overlay, [overlay]):
        loaded = load_problem(PROBLEMS / "chat-assistant.yaml", catalog_overlays=given)
        assert loaded.catalog.accelerators["h100-pcie"].notes == "negotiated"


def test_a_warm_start_for_a_multi_period_problem_is_refused_as_on_the_cli(solved, tmp_path):
    """The multi-period model takes no start: solve_problem ignored it silently; the CLI refused it."""
    from solver.cli import main

    growth = PROBLEMS / "eight-quarter-growth.yaml"
    with pytest.raises(InputError, match=r"--warm-start \(warm_start= in Python\) is for single-period") as info:
        solve_problem(load_problem(growth), warm_start=solved.plan)
    # the CLI shows this text too: the flag first, the Python keyword second
    assert info.value.issues[0].hint.endswith("with --existing PLAN.json (previous= in Python)")
    plan = tmp_path / "chat.json"
    plan.write_text(solved.plan.to_json())
    assert main(["solve", str(growth), "--warm-start", str(plan), "--quiet"]) == 2


# ------------------------------------------------------------ messages name both spellings

def test_shared_messages_name_the_python_option_and_the_cli_flag(chat, solved, monkeypatch):
    """The same functions serve the CLI and Python: a message naming '--workers' alone left a
    notebook user looking for a flag they never passed."""
    growth = load_problem(PROBLEMS / "eight-quarter-growth.yaml")
    with pytest.raises(InputError, match=r"--existing PLAN.json \(previous= in Python\): periods: a single-period "
                                         r"plan \(no `periods` section\): --existing \(previous= in Python\) takes"):
        solve_problem(growth, previous=solved.plan)       # a single-period plan
    with pytest.raises(InputError, match=r"workers \(--workers\) must be >= 1, got 0"):
        run_sweep(chat, [parse_set("workloads.chat.demand.requests_per_s=10")], workers=0, cache_dir=None)
    # a solver stopped by its time limit with no plan: the advice names time_limit_s too
    from solver.mip import backends
    from solver.mip.status import ERROR, SolveResult
    monkeypatch.setattr(backends, "_solve_pulp",
                        lambda *a: SolveResult(ERROR, "pulp", "cbc", 0.0, message="pulp status Not Solved"))
    plan = solve_problem(chat, backend="pulp", solver="cbc", time_limit_s=1e-9).plan
    assert plan.status == "error"
    assert "raise time_limit_s (--time-limit), or for a large model use backend='highspy', " \
           "solver='reduced' (--backend highspy --solver reduced)" in plan.message


def test_api_leftovers_take_a_plan_refuse_an_empty_dict_and_check_sweep_params_early(chat):
    """QA: homogeneous_baseline(lp, plan) raised TypeError (it wanted the total); console_text({})
    raised KeyError; parse_set took any path until run_sweep ran; run_sweep(lp, Param) raised
    "'Param' object is not iterable" and run_sweep(lp, ['PATH=1']) "'str' has no attribute 'random'"."""
    from solver.explore.sweep import Param
    from solver.mip.pipeline import homogeneous_baseline
    from solver.problem.load import load_problem_text
    from solver.report import console_text

    one = load_problem_text(
        "schema_version: 1\nname: one\nworkloads:\n  - id: chat\n    demand: {requests_per_s: 2}\n"
        "    input_tokens: {mean: 500}\n    output_tokens: {mean: 100}\n    slo: {ttft_ms: 2000, tpot_ms: 80}\n"
        "    models: [llama-3.1-8b]\nfleet: {regions: [virginia], accelerators: [l4]}\n", file="one.yaml")
    solved = solve_problem(one)
    total = solved.plan.objective.total
    by_total = homogeneous_baseline(one, total)
    for plan in (solved, solved.plan, solved.plan.to_dict()):
        assert homogeneous_baseline(one, plan) == by_total
    assert by_total["saving_percent"] == pytest.approx(0.0, abs=1e-6)

    with pytest.raises(InputError, match=r"console_text needs a plan dict, and this dict has no 'status'.*empty"):
        console_text({})

    with pytest.raises(InputError, match=r"(?s)workloads.chat.demand has no field 'requests_per_sec'.*"
                                         r"did you mean 'requests_per_s'"):
        parse_set("workloads.chat.demand.requests_per_sec=1,2")
    assert parse_set("workloads.chatt.demand.requests_per_s=1,2")      # entries: only with the problem
    with pytest.raises(InputError, match=r"(?s)'workloads.chatt.demand.requests_per_s' does not resolve.*did you mean 'chat'"):
        parse_set("workloads.chatt.demand.requests_per_s=1,2", chat)

    one_param = parse_set("workloads.chat.demand.requests_per_s=1")
    rows = run_sweep(one, one_param, workers=1, cache_dir=None).rows
    assert [r["status"] for r in rows] == ["optimal"]
    assert isinstance(one_param, Param)
    for text in ("workloads.chat.demand.requests_per_s=1", ["workloads.chat.demand.requests_per_s=1"]):
        with pytest.raises(TypeError, match=r"run_sweep needs Param objects, got the text .*pass parse_set\("):
            run_sweep(one, text, workers=1, cache_dir=None)


# ------------------------------------------------------------ fronts and sweeps of the loaded problem

#: 10 req/s, one L4 serves 1 req/s (measured), one hour, on-demand only
ONE_L4 = """schema_version: 1
name: one-l4
workloads:
  - id: w
    demand: {requests_per_s: 10}
    input_tokens: {mean: 500, distribution: fixed}
    output_tokens: {mean: 100, distribution: fixed}
    slo: {ttft_ms: 5000, tpot_ms: 200}
    models: [llama-3.1-8b]
    quantizations: [bf16]
fleet:
  accelerators: [l4]
  regions: [virginia]
  acquisition: [on_demand]
  tensor_parallel: [1]
  max_utilization: 1.0
objective:
  horizon_hours: 1
measurements:
  - {accelerator: l4, model: llama-3.1-8b, workload: w, max_requests_per_s: 1.0}
"""

#: the L4's only offer becomes one at $0.10 per device-hour (an overlay replaces a list whole)
CHEAP_L4 = """schema_version: 1
accelerators:
  - id: l4
    offers:
      - provider: aws
        instance: g6.xlarge
        region: virginia
        devices_per_instance: 1
        on_demand_usd_per_device_hour: {value: 0.10, source: "test: a negotiated price", confidence: high}
"""


@pytest.fixture()
def one_l4(tmp_path):
    problem, overlay = tmp_path / "one-l4.yaml", tmp_path / "cheap-l4.yaml"
    problem.write_text(ONE_L4)
    overlay.write_text(CHEAP_L4)
    return problem, overlay


def test_fronts_and_sweeps_use_the_overlays_the_problem_was_loaded_with(one_l4):
    """QA: pareto_front (ttft, quality) and run_sweep re-validated each variant without the overlays
    given to load_problem, so point 0 and the sweep row priced the shipped catalog.

    By hand: 10 req/s at 1 req/s per L4 = 10 L4s x $0.10/h x 1 h = $1.00; twice the demand $2.00.
    """
    problem, overlay = one_l4
    loaded = load_problem(problem, catalog_overlays=[overlay])
    assert solve_problem(loaded).plan.objective.total == pytest.approx(1.0)
    for versus in ("ttft", "quality", "carbon"):
        assert pareto_front(loaded, versus, points=2).points[0].total_usd == pytest.approx(1.0), versus
    rows = run_sweep(loaded, [parse_set("workloads.w.demand.requests_per_s=10,20")], workers=1,
                     cache_dir=None).rows
    assert [r["total_usd"] for r in rows] == pytest.approx([1.0, 2.0])
    # overlays given to the carbon front are used too (it ignored them): the same $1.00
    plain = load_problem(problem)
    assert pareto_front(plain, "carbon", points=2, overlays=[overlay]).points[0].total_usd == pytest.approx(1.0)
    assert loaded.overlays == (str(overlay),) and plain.overlays == ()


def test_fronts_and_sweeps_solve_a_problem_edited_in_memory(one_l4):
    """QA: a problem edited with model_copy + dataclasses.replace (as homogeneous_baseline does) was
    solved by solve_problem and the carbon front, while the ttft front and sweeps solved the file.

    By hand: 30 req/s at 1 req/s per L4 = 30 L4s x $0.10/h x 1 h = $3.00 (the file's 10 req/s: $1.00).
    """
    import dataclasses

    problem, overlay = one_l4
    loaded = load_problem(problem, catalog_overlays=[overlay])
    w = loaded.problem.workloads[0]
    edited = dataclasses.replace(loaded, problem=loaded.problem.model_copy(update={"workloads": [
        w.model_copy(update={"demand": w.demand.model_copy(update={"requests_per_s": 30.0})})]}))
    assert solve_problem(edited).plan.objective.total == pytest.approx(3.0)
    for versus in ("ttft", "carbon"):
        p0 = pareto_front(edited, versus, points=2).points[0]
        assert p0.total_usd == pytest.approx(3.0), versus
        assert p0.plan["kpis"][0]["requests_per_s"] == pytest.approx(30.0)
    rows = run_sweep(edited, [parse_set("fleet.max_utilization=1.0")], workers=1, cache_dir=None).rows
    assert rows[0]["total_usd"] == pytest.approx(3.0)
    # the problem decides, not `raw`: an edit of raw alone changes neither solve_problem nor a sweep
    loaded.raw["workloads"][0]["demand"]["requests_per_s"] = 50
    assert solve_problem(loaded).plan.objective.total == pytest.approx(1.0)
    rows = run_sweep(loaded, [parse_set("fleet.max_utilization=1.0")], workers=1, cache_dir=None).rows
    assert rows[0]["total_usd"] == pytest.approx(1.0)


def test_the_base_document_of_every_shipped_problem_round_trips():
    """A problem edited in memory is swept from ``problem.model_dump(exclude_unset=True)``: that
    document must validate back to the same problem, for every shipped problem and scenario."""
    from solver.explore.common import base_document, validate_edited

    for path in sorted(PROBLEMS.glob("*.yaml")):
        for scenario in [None, *(s.name for s in load_problem(path).problem.scenarios)]:
            loaded = load_problem(path, scenario=scenario)
            assert base_document(loaded) == {k: v for k, v in loaded.raw.items() if k != "scenarios"}
            doc = loaded.problem.model_dump(mode="json", exclude_unset=True)
            doc.pop("scenarios", None)
            again = validate_edited(doc, loaded.file).problem
            assert again == loaded.problem.model_copy(update={"scenarios": []}), (path.name, scenario)


def test_one_overlay_path_is_one_file_and_a_bad_one_says_why(one_l4, tmp_path):
    """QA: pareto_front/run_sweep iterated overlays='one.yaml' by characters (every row 'invalid',
    the front "the problem as written has no plan (the problem is invalid)"), and a missing overlay
    in a list read the same.  By hand: 10 L4s x $0.10/h x 1 h = $1.00 with the overlay."""
    from solver.errors import NoStartingPlan

    problem, overlay = one_l4
    plain = load_problem(problem)
    for given in (str(overlay), overlay):
        assert pareto_front(plain, "ttft", points=2, overlays=given).points[0].total_usd == pytest.approx(1.0)
        rows = run_sweep(plain, [parse_set("workloads.w.demand.requests_per_s=10")], overlays=given,
                         workers=1, cache_dir=None).rows
        assert rows[0]["total_usd"] == pytest.approx(1.0), rows[0]["error"]
    missing = tmp_path / "nope.yaml"
    for versus in ("ttft", "carbon"):
        with pytest.raises(InputError) as info:
            pareto_front(plain, versus, points=2, overlays=[missing])
        assert not isinstance(info.value, NoStartingPlan) and "(the problem is invalid)" not in str(info.value)
        assert str(missing) in str(info.value), versus
    with pytest.raises(TypeError, match=r"overlays must be a catalog overlay path or a list of them, got int"):
        pareto_front(plain, "ttft", points=2, overlays=3)


def test_options_that_are_not_solve_options_say_what_to_pass(chat):
    """QA: pareto_front(L, "ttft", options={"time_limit_s": 5}) raised AttributeError "'dict' object
    has no attribute 'check'"; run_sweep the same."""
    fix = r"needs options= as a SolveOptions .*got dict: pass options=SolveOptions\(\*\*\{'time_limit_s': 5\}\)"
    with pytest.raises(TypeError, match=r"^pareto_front " + fix):
        pareto_front(chat, "ttft", points=2, options={"time_limit_s": 5})
    with pytest.raises(TypeError, match=r"^run_sweep " + fix):
        run_sweep(chat, [parse_set("workloads.chat.demand.requests_per_s=10")], options={"time_limit_s": 5},
                  workers=1, cache_dir=None)
    with pytest.raises(TypeError, match=r"got int: pass e.g. options=SolveOptions\(time_limit_s=60\)"):
        pareto_front(chat, "carbon", points=2, options=5)


def test_verify_plan_and_load_problem_check_their_arguments(chat, solved):
    """QA s23: verify_plan(catalog, problem, plan) raised AttributeError deep in solver/verify.py, a
    demand edited in memory to the string "80" (model_copy skips validation) a TypeError there, and
    load_problem(123) pathlib's TypeError eight frames down.  verify_plan validates the problem again
    as solve_problem does: "40" is read as the 40 req/s it solved for, so the plan verifies."""
    import dataclasses

    from solver.verify import verify_plan

    plan = solved.plan
    with pytest.raises(TypeError, match=r"needs a Problem .* first and a Catalog second, got Catalog and Problem: "
                                        r"pass verify_plan\(loaded.problem, loaded.catalog, plan\)"):
        verify_plan(chat.catalog, chat.problem, plan)
    w = chat.problem.workloads[0]
    assert w.demand.requests_per_s == 40
    edited = chat.problem.model_copy(update={"workloads": [
        w.model_copy(update={"demand": w.demand.model_copy(update={"requests_per_s": "40"})})]})
    ref = verify_plan(chat.problem, chat.catalog, plan)
    rep = verify_plan(edited, chat.catalog, plan)
    assert ref.ok and rep.ok and rep.checks == ref.checks
    bad = chat.problem.model_copy(update={"workloads": [
        w.model_copy(update={"demand": w.demand.model_copy(update={"requests_per_s": "fifty"})})]})
    with pytest.raises(InputError, match=r"workloads\[0\]\.demand\.requests_per_s"):
        verify_plan(dataclasses.replace(chat, problem=bad), chat.catalog, plan)
    with pytest.raises(TypeError, match=r"load_problem needs the path of a problem file \(str or pathlib.Path\), "
                                        r"got int: pass e.g. load_problem\('problems/chat-assistant.yaml'\)"):
        load_problem(123)
