"""Same input, same plan: byte-identical JSON across runs, and the same decisions across
backends wherever the optimum is unique.

Two separate processes with different hash seeds solve every shipped example (set
and dict iteration order must not leak into the plan); every scenario is solved twice
in-process.  Across backends the procurement must match exactly; deployments may
differ only when both plans cost the same and both verify (then the optimum is
demonstrably not unique, and either plan is a correct answer).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from solver.mip.pipeline import solve_problem
from solver.problem.load import load_problem
from solver.verify import verify_plan

ROOT = Path(__file__).parents[1]
PROBLEMS = sorted((ROOT / "problems").glob("*.yaml"))


def _multi_period(p: Path) -> bool:
    return bool(((yaml.safe_load(p.read_text()) or {}).get("objective") or {}).get("periods"))


#: single-period examples: solved many times below; multi-period ones (a much larger model,
#: ~7 CPU-s per solve) get the two-process byte-identity check only, to keep the suite fast
SINGLE = [p for p in PROBLEMS if not _multi_period(p)]


def _start(path: Path, out: Path, seed: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONHASHSEED=seed)
    return subprocess.Popen([sys.executable, "-m", "solver", "solve", str(path), "--json", str(out),
                             "--no-timing", "--quiet"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)


@pytest.mark.parametrize("path", PROBLEMS, ids=lambda p: p.stem)
def test_two_processes_write_identical_bytes(path, tmp_path):
    procs = [_start(path, tmp_path / f"{n}.json", seed) for n, seed in (("a", "1"), ("b", "2"))]
    for p in procs:                       # both at once: they share nothing but the inputs
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    a, b = (tmp_path / "a.json").read_bytes(), (tmp_path / "b.json").read_bytes()
    assert a == b
    d = json.loads(a)
    assert d["status"] == "optimal" and d["solver"]["seconds"] == 0


def _scenarios():
    for p in SINGLE:
        for s in yaml.safe_load(p.read_text()).get("scenarios", []):
            yield p, s["name"]


def _plan_json(lp, **kw) -> str:
    plan = solve_problem(lp, **kw).plan
    return replace(plan, solver=replace(plan.solver, seconds=0.0)).to_json()


@pytest.mark.parametrize("path,scenario", list(_scenarios()), ids=lambda x: getattr(x, "stem", x))
def test_scenarios_twice_in_process(path, scenario):
    lp = load_problem(path, scenario=scenario)
    first = _plan_json(lp)
    assert first == _plan_json(load_problem(path, scenario=scenario))


def _decisions(d: dict) -> tuple:
    proc = [(p["accelerator"], p["region"], p["acquisition"], p["provider"], p["instance"], p["units"])
            for p in d["procurement"]]
    dep = [(x["id"], x["replicas"], x["spare_replicas"]) for x in d["deployments"]]
    return proc, dep


@pytest.mark.parametrize("path", SINGLE, ids=lambda p: p.stem)
def test_backends_same_decisions_where_unique(path):
    lp = load_problem(path)
    plans = {}
    for backend, name in (("pulp", "cbc"), ("pulp", "highs"), ("ortools", "scip"), ("ortools", "highs"),
                          ("highspy", "reduced")):
        plans[(backend, name)] = json.loads(_plan_json(lp, backend=backend, solver=name))
    ref = plans[("pulp", "cbc")]
    tol = max(lp.problem.solver.mip_gap, 1e-6)
    for key, d in plans.items():
        if key == ("ortools", "highs") and lp.problem.solver.mip_gap < 1e-4:
            # OR-Tools' HiGHS wrapper ignores the gap asked for: HiGHS proves its default 1e-4, no finer
            assert d["status"] == "time_limit" and d["solver"]["gap"] <= 1.0001e-4, key
        else:
            assert d["status"] == "optimal", key
        a, b = ref["objective"]["total"], d["objective"]["total"]
        assert abs(a - b) <= tol * max(abs(a), abs(b)) + 1e-6, key
        pa, da = _decisions(ref)
        pb, db = _decisions(d)
        if (pa, da) != (pb, db):
            # a different decision at the same cost: the optimum is not unique; both must be valid
            for plan in (ref, d):
                rep = verify_plan(lp.problem, lp.catalog, plan)
                assert rep.ok, (key, [v.format() for v in rep.violations])
        else:
            # the same decisions: the same plan to the byte, routing and every figure included (QA: the
            # backends' own tolerances and LP vertices moved a workload's chargeback by 25 %)
            # (and the status: OR-Tools' HiGHS proves 1e-4 where the problems ask for 1e-6, above)
            strip = lambda plan: {k: v for k, v in plan.items() if k not in ("solver", "status")}  # noqa: E731
            assert json.dumps(strip(d), sort_keys=True) == json.dumps(strip(ref), sort_keys=True), key
