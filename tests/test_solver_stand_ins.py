"""Solvers that misbehave (QA s27), each played by a stand-in CBC executable or a patched call.

* a CBC that writes "Optimal" with every variable at 0: the plan breaks the demand row and is
  refused (status error), and ``solver.fallback`` then gives the optimum;
* a CBC that hangs: killed after its time limit plus a grace period, the fallback tried;
* a CBC whose solution file is not CBC's: a clear error, not an IndexError;
* a multi-period problem whose first solver fails: its fallback is tried (it was ignored);
* CBC with several threads runs its repeatable parallel search (100 + N);
* OR-Tools given a time limit beyond its int64 milliseconds still solves.

The optimum the fallbacks must reach is the one the unchanged solvers reach on the same problem
(pulp/cbc, highspy/reduced: 57,924.62 on chat-assistant, README).
"""

from __future__ import annotations

import stat
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from solver.mip import backends, stop
from solver.mip.model import ModelBuilder
from solver.mip.pipeline import solve_problem
from solver.problem.load import load_problem, load_problem_text

ROOT = Path(__file__).resolve().parents[1]
CHAT = ROOT / "problems" / "chat-assistant.yaml"
QUARTERS = ROOT / "problems" / "eight-quarter-growth.yaml"
OPTIMUM = 57924.62


def _stand_in(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@pytest.fixture
def fake_cbc(monkeypatch, tmp_path):
    """Point pulp's bundled CBC at a stand-in script (its body given to the returned function)."""
    import pulp
    import pulp.apis.coin_api as coin

    def use(body: str) -> None:
        path = _stand_in(tmp_path, "cbc", body)
        monkeypatch.setattr(pulp.PULP_CBC_CMD, "pulp_cbc_path", path)
        monkeypatch.setattr(coin.PULP_CBC_CMD, "pulp_cbc_path", path)
    return use


LIAR = """\
# writes 'Optimal' with every variable at 0 into the file after -solution
for a in "$@"; do prev=$last; last=$a; if [ "$prev" = "-solution" ]; then
  printf 'Optimal - objective value 0.00000000\\n' > "$a"; fi; done
exit 0
"""


def _with_fallback(path: Path, fallback: list, quarters: int = 0) -> str:
    """The problem's text with ``solver.fallback`` set (and, with ``quarters``, its first quarters
    of the workload that grows every quarter alone)."""
    doc = yaml.safe_load(path.read_text())
    doc["solver"]["fallback"] = fallback
    if quarters:
        doc["objective"]["periods"]["count"] = quarters
        doc["workloads"] = [w for w in doc["workloads"] if "growth" not in w["demand"]]
        doc.pop("scenarios", None)            # (per-period lists of eight)
    return yaml.safe_dump(doc, sort_keys=False)


def test_a_plan_that_breaks_the_model_is_refused_and_the_fallback_solves(fake_cbc):
    fake_cbc(LIAR)
    loaded = load_problem(CHAT)
    alone = solve_problem(loaded, backend="pulp", solver="cbc", time_limit_s=10)
    assert alone.plan.status == "error"
    assert "breaks 1 row(s)" in alone.result.message and "demand.served[chat]" in alone.result.message
    helped = solve_problem(load_problem_text(_with_fallback(CHAT, ["highspy:reduced"])), backend="pulp",
                           solver="cbc", time_limit_s=10)
    assert helped.plan.status == "optimal"
    assert helped.plan.objective.total == pytest.approx(OPTIMUM, abs=0.01)
    assert "stood in for: pulp/cbc failed" in helped.result.message


def test_a_hung_cbc_is_killed_after_its_limit_and_the_fallback_runs(fake_cbc, monkeypatch):
    fake_cbc("exec sleep 60\n")       # exec: the stand-in is the process pulp waits for
    monkeypatch.setattr(backends, "CBC_GRACE_S", 0.5)
    loaded = load_problem_text(_with_fallback(CHAT, ["highspy:reduced"]))
    t0 = time.perf_counter()
    s = solve_problem(loaded, backend="pulp", solver="cbc", time_limit_s=3)
    took = time.perf_counter() - t0
    assert took < 25                         # 3 x 1.25 + 0.5 s, then the fallback's solve (< 1 s)
    assert s.plan.status == "optimal"
    assert s.plan.objective.total == pytest.approx(OPTIMUM, abs=0.01)
    assert "CBC did not stop at its time limit of 3 s and was killed after 4 s" in s.result.message
    assert "reached before any feasible plan" not in s.result.message


def test_an_unreadable_solution_file_is_a_clear_error(fake_cbc):
    fake_cbc("""\
for a in "$@"; do prev=$last; last=$a; if [ "$prev" = "-solution" ]; then printf 'garbage\\n' > "$a"; fi; done
exit 0
""")
    s = solve_problem(load_problem(CHAT), backend="pulp", solver="cbc", time_limit_s=10)
    assert s.plan.status == "error"
    assert s.result.message.startswith("CBC's solution file could not be read")


def test_a_crashing_cbc_names_its_signal_or_status(fake_cbc):
    fake_cbc("exit 139\n")
    s = solve_problem(load_problem(CHAT), backend="pulp", solver="cbc", time_limit_s=10)
    assert s.plan.status == "error"
    assert "CBC ended with exit status 139 and, run again with preprocessing on, with exit status 139" \
        in s.result.message
    assert backends.exit_text(-11) == "signal SIGSEGV"


def test_a_multi_period_problem_tries_its_fallback(fake_cbc):
    """The first two quarters of eight-quarter-growth's chat workload; the reference is the real CBC's optimum of the
    same text (before the stand-in), which highspy/reduced must reach in its place."""
    text = _with_fallback(QUARTERS, ["highspy:reduced"], quarters=2)
    ref = solve_problem(load_problem_text(text), backend="pulp", solver="cbc", time_limit_s=30, mip_gap=1e-6)
    assert ref.plan.status == "optimal"
    fake_cbc(LIAR)
    s = solve_problem(load_problem_text(text), backend="pulp", solver="cbc", time_limit_s=30, mip_gap=1e-6)
    assert s.plan.status == "optimal", s.result.message
    assert s.plan.objective.total == pytest.approx(ref.plan.objective.total, rel=1e-6)
    assert "stood in for: pulp/cbc failed" in s.result.message


def test_broken_rows_are_measured_against_the_rows_own_size():
    """A row of terms of 5e8 (a demand of 1e9 req/s) short by 100 is solver noise (1e-7 of it); a
    demand of 40 routed nowhere is not."""
    b = ModelBuilder()
    x = b.add_vars("x", ["x0", "x1"], 0.0, np.inf, integer=False)
    b.add_rows("demand.served", [0, 0, 1, 1], [x[0], x[1], x[0], x[1]], [1.0, 1.0, 1.0, -1.0], ["=", ">"],
               [1e9, 0.0], ["big", "diff"])
    m = b.build()
    assert backends.broken_rows(m, np.array([5e8, 5e8 - 100])) == []
    bad = backends.broken_rows(m, np.array([0.0, 0.0]))
    assert len(bad) == 1 and bad[0].startswith("demand.served[big]")
    assert backends.broken_rows(m, np.array([4e8, 6e8])) == ["demand.served[diff]: -2e+08 > 0"]


def test_cbc_threads_run_its_repeatable_search():
    assert backends.cbc_threads(None) is None
    assert backends.cbc_threads(1) == 1
    assert backends.cbc_threads(2) == 102
    assert backends.cbc_threads(8) == 108


def test_cbc_gets_the_repeatable_thread_count(monkeypatch):
    import pulp
    seen = []
    real = pulp.PULP_CBC_CMD

    def spy(*a, **kw):
        seen.append(kw.get("threads"))
        return real(*a, **kw)
    monkeypatch.setattr(pulp, "PULP_CBC_CMD", spy)
    s = solve_problem(load_problem(CHAT), backend="pulp", solver="cbc", time_limit_s=30, threads=2)
    assert s.plan.status == "optimal" and seen and set(seen) == {102}


@pytest.mark.parametrize("limit", [1e16, 1e308])
def test_ortools_takes_a_limit_beyond_its_milliseconds(limit):
    s = solve_problem(load_problem(CHAT), backend="ortools", solver="scip", time_limit_s=limit)
    assert s.plan.status == "optimal"
    assert s.plan.objective.total == pytest.approx(OPTIMUM, abs=0.01)


def test_process_deadline_kills_a_process_and_says_so():
    import subprocess
    with stop.process_deadline(0.3):
        p = stop.TrackedPopen(["sleep", "30"])
        t0 = time.perf_counter()
        p.wait()
        assert time.perf_counter() - t0 < 5
    assert stop.overran() and p.returncode is not None and p.returncode < 0
    with stop.process_deadline(10):
        q = stop.TrackedPopen(["true"])
        q.wait()
    assert not stop.overran() and q.returncode == 0
    r = subprocess.Popen(["true"])          # outside a deadline: a plain wait
    assert r.wait() == 0
