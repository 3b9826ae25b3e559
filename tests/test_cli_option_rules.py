"""Options that contradict each other or modify an option not given, limits on how much work one
command line asks for, and every such error in one report (QA s18: seven pairs of options were
accepted with one of them silently ignored; `robust --demand-scenarios` and `pareto --points` had
no upper limit; flag and output errors came one per run)."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from pathlib import Path

import pytest

from solver.cli import broken_option_rules, main, option_rules
from solver.explore.robust import MAX_SCENARIOS, Approach, RobustReport

ROOT = Path(__file__).parents[1]
CHAT = str(ROOT / "problems" / "chat-assistant.yaml")


def _run(argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("argv, flags", [
    (["sweep", CHAT, "--set", "x=1", "--ray", "--no-ray"], [("--ray", "--no-ray")]),
    (["sweep", CHAT, "--set", "x=1", "--cache", "{tmp}/c", "--no-cache"], [("--cache", "--no-cache")]),
    (["pareto", CHAT, "--versus", "ttft", "--no-plot", "--png", "{tmp}/x.png"], [("--png", "--no-plot")]),
    (["robust", CHAT, "--include-base", "--multipliers", "1,2"], [("--include-base", "--scenarios")]),
    (["robust", CHAT, "--multipliers", "1,2", "--demand-cv", "0.5", "--seed", "3"],
     [("--demand-cv", "--multipliers"), ("--seed", "--multipliers")]),
    (["report", "{tmp}/plan.json", "--html", "{tmp}/r.html", "--catalog", CHAT], [("--catalog", "--problem")]),
    (["simulate", CHAT, "{tmp}/plan.json", "--step", "0.5", "--max-rounds", "3", "--plan-out", "{tmp}/p.json"],
     [("--step", "--tighten"), ("--max-rounds", "--tighten"), ("--plan-out", "--tighten")]),
    (["whatif", CHAT, "--no-thresholds", "--steps", "4", "--max-factor", "4", "--unused", "0"],
     [("--steps", "--no-thresholds"), ("--max-factor", "--no-thresholds"), ("--unused", "--no-thresholds")]),
])
def test_an_option_ignored_by_another_is_refused_with_every_broken_rule_at_once(tmp_path, argv, flags):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, out, err = _run(argv)
    assert code == 2, err
    assert f"{len(flags)} input error" in err
    for a, b in flags:
        assert f"{a}: {a} " in err and b in err
        assert (f"give {a} or {b}, not both" in err) or (f"add {b}, or leave {a} out" in err)
    assert "Traceback" not in err and out == ""
    assert list(tmp_path.iterdir()) == []           # the command did not run: nothing written


def test_an_option_at_its_default_or_with_what_it_modifies_is_accepted():
    p = argparse.ArgumentParser()
    p.add_argument("--tighten", action="store_true")
    p.add_argument("--step", type=float, default=0.85)
    p.add_argument("--unused", type=int, default=2)
    p.add_argument("--no-thresholds", action="store_true")
    p.add_argument("--catalog", action="append", default=[])
    p.add_argument("--problem", default=None)
    option_rules(p, needs=[("--step", "--tighten"), ("--catalog", "--problem")],
                 excludes=[("--unused", "--no-thresholds")])
    ok = [[], ["--step", "0.85"], ["--tighten", "--step", "0.5"], ["--no-thresholds"],
          ["--catalog", "c.yaml", "--problem", "p.yaml"], ["--unused", "2", "--no-thresholds"]]
    for argv in ok:
        assert broken_option_rules(p.parse_args(argv)) == [], argv
    # 0 is a value given (not "absent"): --unused 0 with --no-thresholds contradicts it
    bad = broken_option_rules(p.parse_args(["--unused", "0", "--no-thresholds", "--catalog", "c"]))
    assert [i.path for i in bad] == ["--unused", "--catalog"]


def test_a_rule_naming_a_flag_the_command_lacks_fails_when_the_parser_is_built():
    p = argparse.ArgumentParser()
    p.add_argument("--tighten", action="store_true")
    with pytest.raises(KeyError):
        option_rules(p, needs=[("--stpe", "--tighten")])


def test_whatif_reports_every_bad_option_at_once_each_with_a_fix(tmp_path):
    code, _, err = _run(["whatif", CHAT, "--steps", "0", "--max-factor", "inf", "--unused", "-1",
                         "--lp-solver", "nope"])
    assert code == 2 and "4 input errors" in err
    for flag in ("--steps", "--max-factor", "--unused", "--lp-solver"):
        assert f"\n{flag}: " in err
    assert err.count("fix: ") == 4


def test_every_refused_output_is_reported_at_once(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code, out, err = _run(["solve", CHAT, "--json", str(blocker / "p.json"), "--markdown", CHAT,
                           "--save-lp", str(tmp_path)])
    assert code == 2 and "3 input errors" in err, err
    assert "is a file, not a folder" in err and "overwrite an input file" in err and "is a directory" in err
    assert out == ""


@pytest.mark.parametrize("argv, flag", [
    (["robust", CHAT, "--demand-scenarios", str(MAX_SCENARIOS + 1)], "--demand-scenarios"),
    (["robust", CHAT, "--multipliers", ",".join(["1"] * (MAX_SCENARIOS + 1))], "--multipliers"),
    (["pareto", CHAT, "--versus", "ttft", "--points", "101", "--no-plot"], "points (--points)"),
])
def test_how_much_work_one_command_asks_for_is_bounded(tmp_path, argv, flag):
    code, _, err = _run(argv + ["--json", str(tmp_path / "x.json")])
    assert code == 2 and f"{flag}: " in err and "at most" in err and "fix: " in err
    assert not (tmp_path / "x.json").exists()


def test_robust_at_the_limit_still_runs(tmp_path):
    """The limit is not off by one: MAX_SCENARIOS multipliers are taken (a tiny time limit: the
    point is that the scenarios are accepted, not the plan)."""
    code, _, err = _run(["robust", CHAT, "--multipliers", ",".join(["1"] * MAX_SCENARIOS), "--time-limit", "1",
                         "--json", str(tmp_path / "r.json")])
    assert code != 2, err


def _report(vss: float, tol: float) -> str:
    a = [Approach(name, "optimal", first_stage_usd=0.0, expected_usd=1e12) for name in ("stochastic", "mean")]
    return RobustReport([], 100.0, 730.0, a, vss, "", vss_tolerance_usd=tol).table_text()


def test_a_negative_value_of_the_stochastic_solution_within_the_solves_gap_is_called_none():
    """QA s18: `robust --multipliers 1,1e9` printed a VSS of -447,558.91 USD on totals of ~1e12
    (the solves' relative gap, not a mean plan better than the stochastic optimum)."""
    text = _report(-447_558.91, 26_000_000.0)
    assert "value of the stochastic solution: none found" in text and "$-447,558.91" in text
    assert "within what the solves' relative gap allows" in text
    beyond = _report(-447_558.91, 100.0)
    assert "none found" not in beyond and "this is a solver error" in beyond
    assert "none found" not in _report(50.0, 100.0) and "solver error" not in _report(50.0, 100.0)


def test_the_vss_tolerance_is_the_gap_times_both_totals(tmp_path):
    out = tmp_path / "r.json"
    code, text, err = _run(["robust", CHAT, "--multipliers", "0.8,1.2", "--gap", "0.01", "--json", str(out)])
    assert code == 0, err
    d = json.loads(out.read_text())
    by = {a["name"]: a for a in d["approaches"]}
    assert d["vss_tolerance_usd"] == pytest.approx(
        0.01 * (abs(by["mean"]["expected_usd"]) + abs(by["stochastic"]["expected_usd"])), rel=1e-12)


def _nan_problem(tmp_path) -> Path:
    f = tmp_path / "p.yaml"
    f.write_text(Path(CHAT).read_text().replace("requests_per_s: 40", "requests_per_s: .nan", 1))
    return f


def test_solve_reports_the_problem_the_flags_the_plans_and_the_outputs_at_once(tmp_path):
    """QA s18: a problem error hid the flags' and outputs' errors, one per run."""
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code, out, err = _run(["solve", str(_nan_problem(tmp_path)), "--time-limit", "-5", "--gap", "2",
                           "--existing", str(tmp_path / "missing.json"), "--json", str(blocker / "p.json")])
    assert code == 2 and "5 input errors" in err, err
    for text in ("must be a finite number", "--time-limit", "--gap", "missing.json", "is a file, not a folder"):
        assert text in err
    assert out == "" and not (blocker.parent / "p.json").exists()


def test_explain_reports_the_problem_the_flags_and_the_output_at_once(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code, out, err = _run(["explain", str(_nan_problem(tmp_path)), "--time-limit", "-5",
                           "--json", str(blocker / "e.json")])
    assert code == 2 and "3 input errors" in err, err
    assert "must be a finite number" in err and "--time-limit" in err and "is a file, not a folder" in err


def test_solve_options_list_every_refused_option():
    from solver.errors import InputError
    from solver.mip.options import SolveOptions
    with pytest.raises(InputError) as exc:
        SolveOptions("pulp", "cbcx", "60", float("nan"), 0).check()
    paths = [i.message.split(" ")[0] for i in exc.value.issues]
    assert paths == ["solver", "time_limit_s", "mip_gap", "threads"]
    assert SolveOptions("pulp", "cbc", 60, 0.01, 2).issues() == []
