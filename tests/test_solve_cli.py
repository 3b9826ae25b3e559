"""`fleetopt solve` and `fleetopt verify` end to end through solver.cli.main."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from solver.cli import main

PROBLEM = """
schema_version: 1
name: cli-fixture
workloads:
  - id: chat
    demand: {requests_per_s: 12}
    input_tokens: {mean: 800, p90: 1600}
    output_tokens: {mean: 200, p90: 400}
    slo: {ttft_ms: 1000, tpot_ms: 50}
    quality: {min_score: 70}
fleet:
  regions: [virginia]
  accelerators: [h100-sxm, a100-80gb, l4]
  acquisition: [on_demand]
objective: {horizon_months: 1}
scenarios:
  - name: impossible-latency
    set:
      workloads.chat.slo.ttft_ms: 0.5
  - name: no-power
    set:
      fleet.power_caps: [{region: virginia, max_kw: 0.1}]
"""


@pytest.fixture()
def problem(tmp_path) -> Path:
    p = tmp_path / "fixture.yaml"
    p.write_text(PROBLEM)
    return p


def test_solve_writes_schema_valid_deterministic_outputs(problem, tmp_path, capsys):
    jsonschema = pytest.importorskip("jsonschema")
    out1, out2 = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["solve", str(problem), "--json", str(out1), "--markdown", str(tmp_path / "p.md"),
                 "--csv", str(tmp_path / "csv"), "--save-lp", str(tmp_path / "m.lp"), "--no-timing"]) == 0
    text = capsys.readouterr().out
    for heading in ("Procurement", "Deployments", "Routing", "Workload KPIs", "Cost over"):
        assert heading in text
    assert main(["solve", str(problem), "--json", str(out2), "--quiet", "--no-timing"]) == 0
    # byte-identical with the run-dependent fields (solve and phase times) written as constants; comparing
    # with only `seconds` zeroed failed now and then on a loaded machine: the phase times in
    # status_detail ('... in 0.0s' / 'in 0.1s') differ between runs
    assert out1.read_bytes() == out2.read_bytes()
    a = json.loads(out1.read_text())
    schema = json.loads((Path(__file__).parents[1] / "solver/schemas/plan.schema.json").read_text())
    jsonschema.validate(a, schema)
    assert a["status"] == "optimal" and a["objective"]["currency"] == "USD"
    assert sum(r["requests_per_s"] for r in a["routing"]) == pytest.approx(12.0)
    assert sorted(p.name for p in (tmp_path / "csv").iterdir()) == [
        "costs.csv", "deployments.csv", "kpis.csv", "procurement.csv", "routing.csv"]
    assert (tmp_path / "m.lp").read_text().startswith("\\ fleetopt model")
    assert "## Deployments" in (tmp_path / "p.md").read_text()
    assert not list(Path.cwd().glob("*.mps")) and not list(Path.cwd().glob("*.sol"))


@pytest.mark.parametrize("backend,solver", [("pulp", "cbc"), ("pulp", "highs"), ("ortools", "scip"),
                                            ("highspy", "reduced"), ("highspy", "highs")])
def test_every_backend_writes_a_plan_the_schema_accepts(problem, tmp_path, backend, solver):
    jsonschema = pytest.importorskip("jsonschema")
    out = tmp_path / "p.json"
    assert main(["solve", str(problem), "--backend", backend, "--solver", solver, "--json", str(out),
                 "--quiet"]) == 0
    plan = json.loads(out.read_text())
    jsonschema.validate(plan, json.loads((Path(__file__).parents[1] / "solver/schemas/plan.schema.json").read_text()))
    assert (plan["solver"]["backend"], plan["solver"]["name"]) == (backend, solver)


def test_backends_agree_and_verify_accepts(problem, tmp_path, capsys):
    pj, oj = tmp_path / "pulp.json", tmp_path / "ortools.json"
    assert main(["solve", str(problem), "--backend", "pulp", "--json", str(pj), "--quiet"]) == 0
    assert main(["solve", str(problem), "--backend", "ortools", "--json", str(oj), "--quiet"]) == 0
    a = json.loads(pj.read_text())["objective"]["total"]
    b = json.loads(oj.read_text())["objective"]["total"]
    assert a == pytest.approx(b, rel=1e-6)
    assert main(["verify", str(problem), str(pj)]) == 0
    assert "no violation" in capsys.readouterr().out


def test_verify_exits_6_on_tampered_plan(problem, tmp_path, capsys):
    pj = tmp_path / "p.json"
    assert main(["solve", str(problem), "--json", str(pj), "--quiet"]) == 0
    d = json.loads(pj.read_text())
    d["routing"][0]["requests_per_s"] += 5
    pj.write_text(json.dumps(d))
    assert main(["verify", str(problem), str(pj)]) == 6
    assert "[demand]" in capsys.readouterr().out


def test_infeasible_exits_3_with_status_in_json(problem, tmp_path, capsys):
    for scen in ("impossible-latency", "no-power"):
        pj = tmp_path / f"{scen}.json"
        rc = main(["solve", str(problem), "--scenario", scen, "--json", str(pj)])
        assert rc == 3, scen
        err = capsys.readouterr().err
        assert "infeasible" in err and "Traceback" not in err
        assert json.loads(pj.read_text())["status"] == "infeasible"


def test_bad_options_and_overwriting_input_exit_2(problem, tmp_path, capsys):
    assert main(["solve", str(problem), "--solver", "gurobi"]) == 2
    assert "no solver" in capsys.readouterr().err
    # it reached CBC, which failed with a garbled PulpSolverError (exit 5)
    assert main(["solve", str(problem), "--threads", "-3"]) == 2
    assert "threads (--threads) must be >= 1, got -3" in capsys.readouterr().err
    assert main(["solve", str(problem), "--json", str(problem)]) == 2
    assert "overwrite an input" in capsys.readouterr().err
    assert problem.read_text() == PROBLEM
    assert main(["verify", str(problem), str(tmp_path / "missing.json")]) == 2


def test_homogeneous_baseline_is_never_cheaper(problem, tmp_path):
    pj = tmp_path / "p.json"
    assert main(["solve", str(problem), "--baseline", "homogeneous", "--json", str(pj), "--quiet"]) == 0
    d = json.loads(pj.read_text())
    b = d["baseline"]
    assert sorted(r["accelerator"] for r in b["per_accelerator"]) == ["a100-80gb", "h100-sxm", "l4"]
    costs = [r["total_usd"] for r in b["per_accelerator"] if r["total_usd"] is not None]
    assert b["best_total_usd"] == min(costs)
    assert b["best_total_usd"] >= d["objective"]["total"] * (1 - 1e-9)
    expect = (b["best_total_usd"] - d["objective"]["total"]) / b["best_total_usd"] * 100
    assert b["saving_percent"] == pytest.approx(expect, abs=1e-6)


def test_verify_names_a_missing_field_and_rejects_a_file_that_is_not_json(problem, tmp_path, capsys):
    """A plan missing a field its schema requires is a plan that fails verification (exit 6, the
    field named); a file that is not JSON at all is bad input (exit 2)."""
    pj = tmp_path / "p.json"
    assert main(["solve", str(problem), "--json", str(pj), "--quiet"]) == 0
    d = json.loads(pj.read_text())
    del d["deployments"][0]["replicas"]
    pj.write_text(json.dumps(d))
    assert main(["verify", str(problem), str(pj)]) == 6
    out, err = capsys.readouterr()
    assert "deployments[0]: no `replicas`" in out and "Traceback" not in out + err
    pj.write_text("{not json")
    assert main(["verify", str(problem), str(pj)]) == 2


def _commands_in(text: str) -> list[list[str]]:
    """Every `fleetopt ...` command an error text tells the user to run, as argv."""
    import re
    return [m.split()[1:] for m in re.findall(r"`(fleetopt [^`]+)`", text)]


def test_hints_name_only_commands_that_exist(problem, tmp_path, capsys):
    """A fix that says "run `fleetopt ...`" must name a command line the CLI accepts (an unknown
    scenario once pointed to `fleetopt catalog list scenarios`, which is no catalog kind)."""
    from solver.cli import build_parser

    bad_fleet = tmp_path / "bad.yaml"
    bad_fleet.write_text(PROBLEM.replace("[h100-sxm, a100-80gb, l4]", "[h100, a100-80gb, l4]")
                         .replace("regions: [virginia]", "regions: [virgina]"))
    cases = [(["solve", str(problem), "--scenario", "impossible-latncy"], "did you mean 'impossible-latency'?"),
             (["solve", str(problem), "--scenario", "nothing-like-it"], "known scenarios: impossible-latency, no-power"),
             (["solve", str(bad_fleet)], "did you mean 'h100-sxm'"),
             (["catalog", "show", "h100"], "did you mean"),
             (["catalog", "list", "scenarios"], "unknown catalog kind")]
    parser = build_parser()
    for argv, expected in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert expected in err, err
        for cmd in _commands_in(err):
            if cmd[:2] == ["catalog", "list"] and len(cmd) > 2:
                assert cmd[2] in ("accelerators", "models", "quantization", "regions"), err
            assert parser.parse_args(cmd).func is not None, cmd


def test_a_warm_start_that_matches_nothing_is_a_warning(tmp_path, capsys):
    """The start only speeds the search, but a plan of another problem starts nothing: say so."""
    root = Path(__file__).resolve().parents[1] / "problems"
    chat = tmp_path / "chat.json"
    assert main(["solve", str(root / "chat-assistant.yaml"), "--json", str(chat), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["solve", str(root / "code-assistant-router.yaml"), "--warm-start", str(chat), "--quiet"]) == 0
    err = capsys.readouterr().err
    # first that the plan is another problem's (its name), then that it starts nothing
    assert err.startswith(f"warning: {chat}: the warm-start plan was made for problem 'chat-assistant', "
                          "this one is 'code-assistant-router'")
    assert "\nwarning: the warm-start plan has no deployment of this problem" in err
    assert main(["solve", str(root / "chat-assistant.yaml"), "--warm-start", str(chat), "--quiet"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_quiet_stdout_hides_solver_prints_and_restores_stdout_after_overlapping_solves(capfd):
    """HiGHS prints debug lines to the C-level stdout (they broke --quiet): solves silence it, also when
    periods solve in threads at once; the real stdout comes back only after the last one."""
    import os
    import threading

    from solver.mip.backends import quiet_stdout
    inside = threading.Event()
    release = threading.Event()

    def other_solve():
        with quiet_stdout():
            inside.set()
            release.wait(10)
            os.write(1, b"from the other thread\n")

    t = threading.Thread(target=other_solve)
    with quiet_stdout():
        t.start()
        inside.wait(10)
        os.write(1, b"hidden\n")
    os.write(1, b"still hidden: the other solve runs\n")
    release.set()
    t.join(10)
    os.write(1, b"shown\n")
    assert capfd.readouterr().out == "shown\n"


TWO_TENANTS = """schema_version: 1
name: two-tenants
workloads:
  - id: chat
    demand: {requests_per_s: 20}
    input_tokens: {mean: 1200, p90: 3000, max: 8000}
    output_tokens: {mean: 300, p90: 700, max: 2048}
    slo: {ttft_ms: 1000, tpot_ms: 50, percentile: 99}
    quality: {min_score: 72}
    models: [llama-3.1-8b, qwen2.5-7b]
  - id: complete
    demand: {requests_per_s: 60}
    input_tokens: {mean: 1500, p90: 3000, max: 4096}
    output_tokens: {mean: 40, p90: 80, max: 128}
    slo: {ttft_ms: 300, tpot_ms: 25, percentile: 99}
    quality: {min_score: 60}
    models: [llama-3.2-3b, llama-3.1-8b]
fleet:
  regions: [oregon]
  accelerators: [h100-sxm, a100-80gb]
  acquisition: [on_demand, reserved_1y]
  tensor_parallel: [1]
  max_utilization: 0.8
objective:
  horizon_months: 12
"""


@pytest.mark.parametrize("backend, name", [("highspy", "highs"), ("ortools", "scip"), ("pulp", "cbc"),
                                           ("highspy", "reduced")])
def test_no_plan_lists_a_deployment_without_load(backend, name):
    """QA finding: one 8-GPU instance serves both tenants; replicas in it that carry nothing are free,
    and HiGHS returned 2 + 1 of them (0 % utilisation): the workloads' costs summed to $210,941 of
    $337,505 and differed by backend.  Every deployment now carries load and the costs add up.  The
    optimum is one reserved p5.48xlarge in Oregon: 8 x $4.816 (6.88 x 0.7) x 8,760 h = $337,505.28."""
    from solver.mip.pipeline import solve_problem
    from solver.problem.load import load_problem_text
    plan = solve_problem(load_problem_text(TWO_TENANTS), backend=backend, solver=name).plan
    assert plan.status == "optimal"
    assert plan.objective.total == pytest.approx(8 * 6.88 * 0.7 * 8760, rel=1e-6)
    assert all(d.utilization > 0 for d in plan.deployments)
    assert sum(w.usd for w in plan.kpis) == pytest.approx(plan.objective.total, rel=1e-9)


def test_an_infeasible_solve_says_so_in_user_terms_and_keeps_the_solver_account_for_v(capsys):
    """QA on generated instances: the first error line was the solver's account ('HiGHS Infeasible:
    column generation 8 rounds, ... restricted MIP: Infeasible; ...'); the explanation that follows
    says why in the user's terms, and -v (or the JSON's solver.status_detail) keeps the account."""
    path = str(Path(__file__).resolve().parents[1] / "problems" / "rag-long-context.yaml")
    assert main(["solve", path, "--scenario", "fp8-only"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: infeasible: no plan meets every constraint\nWhy no plan exists")
    assert main(["solve", path, "--scenario", "fp8-only", "-v"]) == 3
    assert "no allowed deployment can serve workload(s) rag-eu" in capsys.readouterr().err


@pytest.mark.parametrize("shipped,flags,fragment", [
    (None, ["--json", "{tmp}/afile/p.json"], "afile is a file, not a folder"),
    (None, ["--markdown", "{tmp}/afile/p.md"], "afile is a file, not a folder"),
    (None, ["--save-lp", "{tmp}/afile/m.lp"], "afile is a file, not a folder"),
    (None, ["--csv", "{tmp}/afile"], "afile is a file, not a folder"),
    (None, ["--json", "{tmp}/newdir/"], "names a folder, not a file"),
    (None, ["--scenario", "impossible-latency", "--scenario", "no-power"], "--scenario: given more than once"),
    ("eight-quarter-growth.yaml", ["--baseline", "homogeneous"], "--baseline is for single-period problems"),
    # QA s21: the plan was replaced by costs.csv, or written and then removed as a stale change.csv
    (None, ["--json", "{tmp}/t/costs.csv", "--csv", "{tmp}/t"], "--json: the same path as --csv's costs.csv"),
    (None, ["--json", "{tmp}/t/change.csv", "--csv", "{tmp}/t"], "--json: the same path as --csv's change.csv"),
    ("eight-quarter-growth.yaml", ["--markdown", "{tmp}/t/period_units.csv", "--csv", "{tmp}/t"],
     "--markdown: the same path as --csv's period_units.csv"),
])
def test_outputs_and_flags_are_refused_before_the_solve(problem, tmp_path, capsys, monkeypatch, shipped, flags,
                                                        fragment):
    """QA: an output that cannot be written (or --baseline on a multi-period problem) was found after
    the solve, whose result was then lost behind exit 2; a repeated --scenario silently kept the last."""
    import solver.mip.pipeline

    def no_solve(*a, **k):
        raise AssertionError("solved before checking the outputs")
    monkeypatch.setattr(solver.mip.pipeline, "solve_problem", no_solve)
    (tmp_path / "afile").write_text("kept")
    path = Path(__file__).resolve().parents[1] / "problems" / shipped if shipped else problem
    assert main(["solve", str(path), *[f.format(tmp=tmp_path) for f in flags]]) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err and "internal error" not in err
    assert (tmp_path / "afile").read_text() == "kept" and not (tmp_path / "newdir").exists()
    if flags[0] == "--csv":     # once, not once per table (QA s20: nine errors, some for tables never written)
        assert err.startswith("1 input error") and err.count("is a file, not a folder") == 1, err


@pytest.fixture(scope="module")
def solved(tmp_path_factory) -> tuple[Path, Path]:
    """The fixture problem and its plan, for the commands that read a plan."""
    d = tmp_path_factory.mktemp("solved")
    (d / "fixture.yaml").write_text(PROBLEM)
    assert main(["solve", str(d / "fixture.yaml"), "--json", str(d / "plan.json"), "--quiet"]) == 0
    return d / "fixture.yaml", d / "plan.json"


MELANGE = Path(__file__).resolve().parent / "data" / "peers" / "melange_example.json"


@pytest.mark.parametrize("argv,work", [
    (["explain", "{p}", "--json", "{bad}/x.json"], "solver.explain:explain"),
    (["whatif", "{p}", "--json", "{bad}/x.json"], "solver.mip.pipeline:solve_problem"),
    (["pareto", "{p}", "--versus", "ttft", "--points", "6", "--json", "{bad}/x.json"],
     "solver.explore.pareto:pareto_front"),
    (["pareto", "{p}", "--versus", "ttft", "--png", "{bad}/x.png"], "solver.explore.pareto:pareto_front"),
    (["pareto", "{p}", "--versus", "ttft", "--out-dir", "{bad}"], "solver.explore.pareto:pareto_front"),
    (["robust", "{p}", "--multipliers", "1,1.5", "--json", "{bad}/x.json"], "solver.explore.robust:robust_plan"),
    (["simulate", "{p}", "{plan}", "--json", "{bad}/x.json"], "solver.sim.fleet:simulate_plan"),
    (["simulate", "{p}", "--tighten", "--plan-out", "{bad}/x.json"], "solver.sim.tighten:tighten_until_met"),
    (["report", "{plan}", "--html", "{bad}/x.html"], "solver.html_report:build_report"),
    (["report", "{plan}", "--png-dir", "{bad}"], "solver.html_report:build_report"),
    (["trace", "generate", "{p}", "-o", "{bad}/t.csv"], "solver.sim.traffic:generate_trace"),
    (["import", "melange", str(MELANGE), "--output", "{bad}/p.yaml"], "solver.importers:import_melange"),
    (["calibrate", "--accelerator", "h100-sxm", "--out", "{bad}/c.yaml"], "solver.perf.microbench:measure"),
    (["sweep", "{p}", "--set", "workloads.chat.demand.requests_per_s=6,12", "--out", "{bad}/s.csv"],
     "solver.explore.sweep:run_sweep"),
])
def test_every_command_refuses_its_outputs_before_the_work(solved, tmp_path, capsys, monkeypatch, argv, work):
    """QA: `fleetopt pareto P.yaml --versus ttft --points 6 --json ro/x.json` (and explain, whatif,
    robust, simulate, report, trace generate, import) found an output it could not write only after
    its minutes of work, then exited 2 with the result lost.  Every command checks them first."""
    import importlib

    def no_work(*a, **k):
        raise AssertionError(f"{work} ran before the outputs were checked")
    module, name = work.split(":")
    monkeypatch.setattr(importlib.import_module(module), name, no_work)
    (tmp_path / "afile").write_text("kept")
    problem, plan = solved
    args = [a.format(p=problem, plan=plan, bad=tmp_path / "afile") for a in argv]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "afile is a file, not a folder" in err and "Traceback" not in err and "internal error" not in err
    assert (tmp_path / "afile").read_text() == "kept"


def test_json_dash_is_the_plan_on_stdout_and_the_console_text_on_stderr(problem, tmp_path, capsys, monkeypatch):
    """QA: `--json -` wrote a file named '-' and the status line followed the JSON on stdout."""
    monkeypatch.chdir(tmp_path)
    assert main(["solve", str(problem), "--json", "-", "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["status"] == "optimal"
    assert err.startswith("optimal ") and not (tmp_path / "-").exists()


def test_json_to_dev_stdout_appends_to_the_log_stdout_goes_to(problem, tmp_path):
    """QA: `--json /dev/stdout >> pipeline.log` replaced the log (/dev/stdout resolves to it, and the
    plan was renamed over it): it is written in place, after what the log held."""
    import subprocess
    import sys
    log = tmp_path / "pipeline.log"
    log.write_text("earlier lines\n")
    with log.open("ab") as fh:
        run = subprocess.run([sys.executable, "-m", "solver", "solve", str(problem), "--json", "/dev/stdout",
                              "--quiet"], stdout=fh, stderr=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parents[1])
    assert run.returncode == 0, run.stderr
    head, _, plan = log.read_text().partition("\n")
    assert head == "earlier lines" and json.loads(plan)["status"] == "optimal"
    assert run.stderr.startswith("optimal ")


class _ReaderGone:
    """A stdout whose reader went away (`fleetopt ... | head -1`)."""

    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self):
        raise BrokenPipeError(32, "Broken pipe")


def test_a_reader_that_leaves_keeps_the_exit_code(problem, tmp_path, capsys, monkeypatch):
    """QA: a broken pipe made main() return 0: `solve inf.yaml | head -1` gave 0 instead of 3, and
    `verify c.yaml tampered.json | head -1` 6 or 0 at random."""
    import sys
    pj = tmp_path / "p.json"
    assert main(["solve", str(problem), "--json", str(pj), "--quiet"]) == 0
    d = json.loads(pj.read_text())
    d["routing"][0]["requests_per_s"] += 5
    pj.write_text(json.dumps(d))
    monkeypatch.setattr(sys, "stdout", _ReaderGone())
    assert main(["solve", str(problem), "--scenario", "impossible-latency"]) == 3
    assert main(["verify", str(problem), str(pj)]) == 6
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("argv,code,report", [
    (["explain", "{p}", "--scenario", "no-power"], 3, "Why no plan exists for cli-fixture"),
    (["whatif", "{p}", "--no-thresholds", "--no-steps"], 0, "Marginal values"),
    (["robust", "{p}", "--multipliers", "0.8,1.2"], 0, "value of the stochastic solution"),
    (["pareto", "{p}", "--versus", "ttft", "--points", "2", "--no-plot", "--no-verify"], 0,
     "Pareto front of cost vs ttft"),
])
def test_json_dash_of_every_command_is_one_json_document_on_stdout(argv, code, report, problem, tmp_path,
                                                                    capsys, monkeypatch):
    """QA ops #2: explain, whatif, robust and pareto took `--json -` but printed their report (and
    'wrote -') on stdout around the JSON, so `| jq` failed.  Like solve: stdout holds the JSON alone,
    the report goes to stderr, no file named '-' is written."""
    monkeypatch.chdir(tmp_path)
    rc = main([a.format(p=problem) for a in argv] + ["--json", "-"])
    out, err = capsys.readouterr()
    assert rc == code, err
    assert isinstance(json.loads(out), dict)          # one JSON document, nothing around it
    assert report in err and not (tmp_path / "-").exists()


def _no_plan_in_time(monkeypatch, after: int = 0):
    """Every highspy solve after the first ``after`` runs to its time limit and ends without a plan,
    the way HiGHS leaves a large model given 0.01 s (QA ops #3: scale-M+ at --time-limit 0.01)."""
    import time

    from solver.mip import backends
    from solver.mip.status import SolveResult
    real, calls = backends._solve_highspy, []

    def fake(model, solver, time_limit_s, *a, **kw):
        calls.append(solver)
        if len(calls) <= after:
            return real(model, solver, time_limit_s, *a, **kw)
        time.sleep(time_limit_s)
        return SolveResult("error", "highspy", solver, 0.0, message="HiGHS Time limit reached")
    monkeypatch.setattr(backends, "_solve_highspy", fake)
    return calls


@pytest.mark.parametrize("argv,after", [
    (["solve", "{p}", "--quiet"], 0),                     # the documented behaviour, for reference
    (["whatif", "{p}", "--no-thresholds", "--no-steps"], 0),
    (["robust", "{p}", "--multipliers", "0.8,1.2"], 0),
    # the stochastic plan is found (its two scenarios), the mean demand's solve is stopped
    (["robust", "{p}", "--multipliers", "0.8,1.2"], 2),
    (["pareto", "{p}", "--versus", "ttft", "--points", "2", "--no-plot"], 0),
    # the problem as written is solved, a tighter point of the bisection is stopped
    (["pareto", "{p}", "--versus", "ttft", "--points", "2", "--no-plot"], 1),
])
def test_the_time_limit_before_any_plan_is_exit_5_for_every_command(argv, after, problem, tmp_path, capsys,
                                                                      monkeypatch):
    """QA ops #3: README exit 5 is 'solver missing or failed, or the time limit came before any plan
    was found'; whatif and robust exited 3 (infeasible), pareto 2 (bad input).  Each says to raise
    --time-limit."""
    monkeypatch.chdir(tmp_path)
    calls = _no_plan_in_time(monkeypatch, after)
    rc = main([a.format(p=problem) for a in argv] + ["--time-limit", "0.05"])
    err = capsys.readouterr().err
    assert len(calls) > after
    assert rc == 5, err
    assert "raise time_limit_s (--time-limit)" in err and "Traceback" not in err


@pytest.mark.parametrize("where", ["missing", "empty folder", "a file"])
def test_a_calibration_dir_without_perf_params_is_an_input_error(problem, tmp_path, capsys, monkeypatch,
                                                                  where):
    """QA ops #6: FLEETOPT_CALIBRATION_DIR naming a path that does not exist, a folder without
    perf_params.yaml or a file planned silently with the uncalibrated defaults (a 35% cheaper plan,
    exit 0); FLEETOPT_CATALOG_DIR already fails.  Exit 2 naming the variable, the path and the fix,
    nothing written; a sweep stops before its first row."""
    from solver.perf.params import reset_default_params
    target = {"missing": tmp_path / "no-such-dir", "empty folder": tmp_path / "empty",
              "a file": problem}[where]
    if where == "empty folder":
        target.mkdir()
    monkeypatch.setenv("FLEETOPT_CALIBRATION_DIR", str(target))
    reset_default_params()
    try:
        out = tmp_path / "p.json"
        assert main(["solve", str(problem), "--json", str(out), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert f"FLEETOPT_CALIBRATION_DIR={target} " in err
        assert "perf_params.yaml" in err and "unset it to use the shipped calibration" in err
        assert not out.exists()
        table = tmp_path / "r.csv"
        assert main(["sweep", str(problem), "--set", "workloads.chat.demand.requests_per_s=10,12",
                     "--no-cache", "--out", str(table), "--quiet"]) == 2
        assert "FLEETOPT_CALIBRATION_DIR" in capsys.readouterr().err
        assert not table.exists()
    finally:
        monkeypatch.delenv("FLEETOPT_CALIBRATION_DIR")
        reset_default_params()


def test_a_plan_on_a_model_scored_at_high_reasoning_effort_says_so(capsys, tmp_path):
    """QA (s20): gpt-oss won chat-assistant on its MMLU at high reasoning effort while the plan sized
    its answers at the workload's 300 tokens, without a word about the chain-of-thought tokens.
    `solve`'s report says so (sweeps and fronts, which solve many variants, do not repeat it).
    (Since the MoE tile padding of s22 the shipped optimum's H100 runs gpt-oss-20b or qwen2.5-7b at
    one cost: the workload here allows gpt-oss-20b only.)"""
    import dataclasses

    from solver.mip.pipeline import reasoning_score_warnings, solve_problem
    from solver.problem.load import load_problem
    root = Path(__file__).resolve().parents[1]
    text = (root / "problems" / "chat-assistant.yaml").read_text()
    anchor = "    quality: {min_score: 68, mode: per_request}\n"
    assert anchor in text
    problem = tmp_path / "chat-assistant.yaml"
    problem.write_text(text.replace(anchor, anchor + "    models: [gpt-oss-20b]\n"))
    loaded = load_problem(problem)
    assert loaded.catalog.models["gpt-oss-20b"].quality_reasoning_effort == "high"
    assert loaded.catalog.models["llama-3.1-8b"].quality_reasoning_effort is None
    plan = solve_problem(loaded).plan
    assert "gpt-oss-20b" in {d.model for d in plan.deployments}
    said = reasoning_score_warnings(loaded, plan)
    assert len(said) == 1 and said[0].startswith("gpt-oss-20b's quality score (85.3) was measured at high")
    assert "chat 300" in said[0]
    assert main(["solve", str(problem)]) == 0
    out, err = capsys.readouterr()
    assert "note: " + said[0] in out and err == ""
    w = loaded.problem.workloads[0].model_copy(update={"models": ["llama-3.1-8b", "qwen2.5-7b"]})
    only = dataclasses.replace(loaded, problem=loaded.problem.model_copy(update={"workloads": [w]}))
    assert reasoning_score_warnings(only, solve_problem(only).plan) == []


def test_csv_to_standard_output_is_refused(problem, tmp_path, capsys, monkeypatch):
    """QA s26: `solve --csv -` made a folder named '-', where --json - and --markdown - print."""
    monkeypatch.chdir(tmp_path)
    assert main(["solve", str(problem), "--csv", "-"]) == 2
    assert "--csv names a folder to write several tables in: '-' (standard output) takes one document" \
        in capsys.readouterr().err
    assert not (tmp_path / "-").exists()


def test_verbose_log_gives_the_cost_of_the_plan_written(caplog):
    """QA s26: `-v` ended on the solver's own figure ('time_limit: plan 141,936,703') for a plan written
    at 19,533,136 once its idle replicas were dropped: the plan's cost follows where they differ."""
    import logging
    from types import SimpleNamespace
    from solver.mip.pipeline import _log_cleaned_cost
    with caplog.at_level(logging.INFO, logger="solver.mip.pipeline"):
        _log_cleaned_cost(SimpleNamespace(objective=SimpleNamespace(total=19_533_135.6)), 141_936_703.0)
        _log_cleaned_cost(SimpleNamespace(objective=SimpleNamespace(total=100.0)), 100.0 + 1e-9)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["the plan written costs 19,533,136 after its clean-up (idle replicas dropped, routing "
                     "solved again; the line above is the solver's own figure)"]
