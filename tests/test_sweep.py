"""Sweeps: parsing, scenario expansion, error rows, the cache, process pool and Ray.

The acceptance test sweeps 50 scenarios of the shipped chat-assistant problem
(demand x TTFT target, one demand value invalid), checks every solved row by
properties that do not trust the sweep (verifier, a direct solve of a hand-
edited document, monotonicity in demand and in the target), then reruns and
checks that nothing is solved again.
"""

from __future__ import annotations

import copy
import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from solver.cli import main
from solver.errors import InputError
from solver.explore import sweep as sweep_mod
from solver.explore.cache import ResultCache, canonical_json, scenario_key
from solver.explore.common import SolveOptions
from solver.explore.sweep import (Param, expand, parse_set, ray_available, run_sweep, write_table)
from solver.problem.load import load_problem

ROOT = Path(__file__).resolve().parents[1]
CHAT = ROOT / "problems" / "chat-assistant.yaml"
DEMAND = "workloads.chat.demand.requests_per_s"
TTFT = "workloads.chat.slo.ttft_ms"


@pytest.fixture(scope="module")
def chat():
    return load_problem(CHAT)


# ---------------------------------------------------------------------- parsing
def test_parse_grid_values_are_yaml_scalars_and_lists():
    p = parse_set("workloads.chat.demand.requests_per_s=10, 20.5,40")
    assert p.path == DEMAND and p.values == (10, 20.5, 40) and not p.random
    q = parse_set("fleet.accelerators=[l4,a10g],[h100-sxm]")
    assert q.values == (["l4", "a10g"], ["h100-sxm"])
    r = parse_set("objective.include_energy=true,false")
    assert r.values == (True, False)


def test_parse_distributions():
    assert parse_set(f"{DEMAND}=uniform(10,20)") == Param(DEMAND, dist="uniform", args=(10.0, 20.0))
    assert parse_set(f"{DEMAND}=lognormal(40, 0.3)").args == (40.0, 0.3)


@pytest.mark.parametrize("text,fragment", [
    ("no-equals", "expected PATH=VALUES"),
    (f"{DEMAND}=", "no value"),
    (f"{DEMAND}=uniform(5,5)", "a < b"),
    (f"{DEMAND}=normal(5,-1)", "sd >= 0"),
    (f"{DEMAND}=lognormal(0,1)", "median > 0"),
    (f"{DEMAND}=uniform(1)", "two finite numbers"),
    (f"{DEMAND}=gamma(1,2)", "unknown distribution"),
    ("scenarios.0.name=x", "cannot change `scenarios`"),
    (f"{DEMAND}=1,,2", "empty value"),
])
def test_parse_errors_are_input_errors(text, fragment):
    with pytest.raises(InputError) as ei:
        parse_set(text)
    assert fragment in ei.value.format()


# ---------------------------------------------------------------------- expansion
def test_grid_is_the_cartesian_product_in_order():
    a = expand([Param("a", values=(1, 2, 3)), Param("b", values=("x", "y"))])
    assert a == [{"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 2, "b": "x"}, {"a": 2, "b": "y"},
                 {"a": 3, "b": "x"}, {"a": 3, "b": "y"}]


def test_random_draws_are_seeded_and_follow_the_distribution():
    p = [Param("d", dist="lognormal", args=(40.0, 0.3))]
    one = [s["d"] for s in expand(p, samples=4000, seed=7)]
    assert one == [s["d"] for s in expand(p, samples=4000, seed=7)]
    assert one != [s["d"] for s in expand(p, samples=4000, seed=8)]
    # lognormal(median, sigma): log of the draws is normal(log 40, 0.3)
    logs = np.log(one)
    assert abs(np.median(one) / 40.0 - 1) < 0.03
    assert abs(np.std(logs) - 0.3) < 0.02
    u = [s["u"] for s in expand([Param("u", dist="uniform", args=(2.0, 3.0))], samples=500, seed=1)]
    assert 2.0 <= min(u) and max(u) < 3.0


def test_grid_times_samples():
    a = expand([Param("g", values=(1, 2)), Param("r", dist="normal", args=(0.0, 1.0))],
               samples=3, seed=0)
    assert [s["g"] for s in a] == [1, 1, 1, 2, 2, 2]
    assert len({s["r"] for s in a}) == 6


@pytest.mark.parametrize("params,samples,fragment", [
    ([Param("r", dist="normal", args=(0.0, 1.0))], None, "random values need samples (--samples N)"),
    ([Param("g", values=(1,))], 5, "samples (--samples) is for random"),
    ([Param("g", values=(1,)), Param("g", values=(2,))], None, "--set g and --set g name the same field"),
    ([Param("r", dist="normal", args=(0.0, 1.0))], 0, "samples (--samples) must be at least 1, got 0"),
    ([Param("g", values=({"x": 1},)), Param("g.x", values=(2,))], None, "--set g and --set g.x name"),
])
def test_expand_usage_errors(params, samples, fragment):
    with pytest.raises(InputError) as ei:
        expand(params, samples=samples)
    assert fragment in ei.value.format()


@pytest.mark.parametrize("seed", [-1, 1.5, "7", True, None])
def test_bad_seed_is_bad_input(seed):
    """QA: --seed -1 exited 1 with numpy's "expected non-negative integer"."""
    with pytest.raises(InputError) as ei:
        expand([Param("r", dist="normal", args=(0.0, 1.0))], samples=2, seed=seed)
    assert "seed (--seed) must be an integer >= 0" in ei.value.format()


def test_bad_seed_on_the_command_line_exits_2(capsys, tmp_path):
    assert main(["sweep", str(CHAT), "--set", f"{DEMAND}=uniform(10,50)", "--samples", "2",
                 "--seed", "-1", "--no-cache", "--quiet", "--out", str(tmp_path / "b.csv")]) == 2
    assert "--seed) must be an integer >= 0, got -1" in capsys.readouterr().err
    assert not (tmp_path / "b.csv").exists()


def test_too_many_scenarios_are_refused_before_expanding():
    """QA: 10^6 scenarios ran for minutes and gigabytes before the first solve, without a word."""
    grid = [Param(f"p{i}", values=tuple(range(100))) for i in range(3)]
    with pytest.raises(InputError) as ei:
        expand(grid)
    assert "the sweep has 1,000,000 scenarios (100 x 100 x 100), more than the limit of 100,000" \
        in ei.value.format()
    # counted, not drawn: 10^12 samples would need 8 TB of draws
    with pytest.raises(InputError) as ei:
        expand([Param("r", dist="normal", args=(0.0, 1.0))], samples=10 ** 12)
    assert "1,000,000,000,000 scenarios (1000000000000 samples)" in ei.value.format()
    assert len(expand(grid[:2] + [Param("q", values=(1, 2))])) == 20_000


def test_solver_of_another_backend_is_refused_up_front(chat, tmp_path, capsys):
    """QA: --solver scip on a pulp problem solved nothing and wrote (and cached) an `invalid` row
    per scenario; `solve` refuses it before solving."""
    assert chat.problem.solver.backend == "pulp"
    with pytest.raises(InputError) as ei:
        run_sweep(chat, [parse_set(f"{DEMAND}=20")], options=SolveOptions(solver="scip"),
                  cache_dir=None, workers=1)
    assert "solver (--solver): backend pulp has no solver 'scip'" in ei.value.format()
    assert main(["sweep", str(CHAT), "--set", f"{DEMAND}=20", "--solver", "scip", "--no-cache",
                 "--quiet", "--out", str(tmp_path / "s.csv")]) == 2
    assert "backend pulp has no solver 'scip'" in capsys.readouterr().err
    assert not (tmp_path / "s.csv").exists()


def test_unknown_path_fails_before_solving(chat, tmp_path):
    with pytest.raises(InputError) as ei:
        run_sweep(chat, [parse_set("workloads.chatt.slo.ttft_ms=1")], cache_dir=None, workers=1)
    assert "did you mean 'chat'" in ei.value.format()


ENT = ROOT / "problems" / "enterprise-multi-region.yaml"


@pytest.mark.parametrize("problem,sets", [
    (CHAT, [f"{DEMAND}=20", "workloads.0.demand.requests_per_s=80"]),           # by id and by index
    (CHAT, ["workloads.chat.demand={requests_per_s: 80}", f"{DEMAND}=20"]),      # a section and its field
    (CHAT, ["workloads=[{id: other}]", f"{DEMAND}=20"]),                         # a list and its entry
    (ENT, ["fleet.existing=[],[{accelerator: h100-sxm, region: virginia, devices: 4}]",
           "fleet.existing.0.devices=2"]),
    (ENT, ["fleet.power_caps=[]", "fleet.power_caps.ireland.max_kw=5"]),
])
def test_overlapping_sets_are_refused_naming_both(problem, sets, capsys):
    """QA: the first two were accepted and the row showed values the solve did not use (the last
    flag won); the others crashed with a KeyError (exit 1)."""
    loaded = load_problem(problem)
    for order in (sets, sets[::-1]):
        with pytest.raises(InputError) as ei:
            run_sweep(loaded, [parse_set(s) for s in order], cache_dir=None, workers=1)
        text = ei.value.format()
        a, b = (s.partition("=")[0] for s in order)
        assert f"--set {a} and --set {b} name the same field" in text
    assert main(["sweep", str(problem), *[f"--set={s}" for s in sets], "--no-cache", "--quiet",
                 "--out", str(ROOT / "never-written.csv")]) == 2
    assert "name the same field" in capsys.readouterr().err
    assert not (ROOT / "never-written.csv").exists()


def test_paths_resolve_on_the_problem_so_the_flag_order_does_not_matter(chat):
    """Renaming an entry by index and setting a field by its old id: both name entry 0 (this used to
    fail with a KeyError, or not, depending on the order of the flags)."""
    sets = ["workloads.0.id=renamed", f"{TTFT}=700"]
    rows = [run_sweep(chat, [parse_set(s) for s in order], cache_dir=None, workers=1).rows[0]
            for order in (sets, sets[::-1])]
    assert rows[0]["key"] == rows[1]["key"]


def test_scenario_overrides_that_overlap_are_refused():
    from solver.problem.load import load_problem_text
    text = CHAT.read_text() + """
  - name: clash
    set:
      workloads.chat.slo.ttft_ms: 500
      workloads.0.slo.ttft_ms: 900
"""
    with pytest.raises(InputError) as ei:
        load_problem_text(text, file=str(CHAT), scenario="clash")
    assert ("overrides 'workloads.chat.slo.ttft_ms' and 'workloads.0.slo.ttft_ms' set the same field"
            in ei.value.format())


def test_scenario_overrides_resolve_on_the_file_as_written_in_any_order():
    """QA: {workloads.chat.id: chat2, workloads.chat.slo.ttft_ms: 700} was refused ('no entry chat'), the
    same two in the other order accepted; {fleet.power_caps: [], fleet.power_caps.virginia.max_kw: 5}
    was refused as 'no entry virginia', reversed as a clash.  Paths now resolve on the document as
    written (as a sweep's --set paths do), so order changes nothing."""
    from solver.problem.load import load_problem_text
    for first, second in ((("workloads.chat.id", "chat2"), ("workloads.chat.slo.ttft_ms", 700)),
                          (("workloads.chat.slo.ttft_ms", 700), ("workloads.chat.id", "chat2"))):
        text = CHAT.read_text() + f"""
  - name: rename
    set:
      {first[0]}: {first[1]}
      {second[0]}: {second[1]}
"""
        w = load_problem_text(text, file=str(CHAT), scenario="rename").problem.workloads[0]
        assert (w.id, w.slo.ttft_ms) == ("chat2", 700)
    # a list emptied, or grown, then an entry of it set: the clash is named (before: an index error,
    # then 'out of range'); a renamed entry keeps its old id in the other paths, and the message says so
    for sets, says in (({"fleet.regions": "[]", "fleet.regions.0": "texas"},
                        "overrides 'fleet.regions' and 'fleet.regions.0' set the same field"),
                       ({"fleet.regions": "[virginia, texas]", "fleet.regions.1": "ohio"},
                        "overrides 'fleet.regions' and 'fleet.regions.1' set the same field"),
                       ({"workloads.chat.id": "chat2", "workloads.chat2.slo.ttft_ms": "700"},
                        "an entry another override renames keeps its old id here")):
        text = CHAT.read_text() + "\n  - name: bad\n    set:\n" + "".join(f"      {k}: {v}\n" for k, v in sets.items())
        with pytest.raises(InputError) as ei:
            load_problem_text(text, file=str(CHAT), scenario="bad")
        assert says in ei.value.format()


# ---------------------------------------------------------------------- cache key
def test_cache_key_depends_on_what_decides_the_result():
    doc = {"a": 1.0, "b": [1, 2]}
    k = scenario_key(doc, catalog_version="v1", overlays={}, options={"gap": None})
    assert k == scenario_key(json.loads(json.dumps(doc)), catalog_version="v1", overlays={},
                             options={"gap": None})
    assert k != scenario_key({"a": 2.0, "b": [1, 2]}, catalog_version="v1", overlays={},
                             options={"gap": None})
    assert k != scenario_key(doc, catalog_version="v2", overlays={}, options={"gap": None})
    assert k != scenario_key(doc, catalog_version="v1", overlays={"x": "h"}, options={"gap": None})
    assert k != scenario_key(doc, catalog_version="v1", overlays={}, options={"gap": 1e-3})
    # key order does not matter; NaN is spelled out instead of breaking JSON
    assert canonical_json({"b": 1, "a": 2}) == canonical_json({"a": 2, "b": 1})
    assert "nan" in canonical_json({"x": float("nan")})


@pytest.fixture
def other_calibration(tmp_path, monkeypatch):
    """$FLEETOPT_CALIBRATION_DIR naming a copy of the shipped calibration with max_batch 8."""
    from solver.perf.params import reset_default_params
    text = (ROOT / "catalogs" / "calibration" / "perf_params.yaml").read_text()
    assert "max_batch: 2048" in text
    calib = tmp_path / "calib"
    calib.mkdir()
    (calib / "perf_params.yaml").write_text(text.replace("max_batch: 2048", "max_batch: 8"))

    def use():
        monkeypatch.setenv("FLEETOPT_CALIBRATION_DIR", str(calib))
        reset_default_params()
    yield use
    monkeypatch.delenv("FLEETOPT_CALIBRATION_DIR", raising=False)
    reset_default_params()


def test_cache_key_depends_on_calibration_content_and_solver_versions(other_calibration, tmp_path,
                                                                      monkeypatch):
    """QA: a refit or $FLEETOPT_CALIBRATION_DIR changed results 9x while the cache served the old
    rows; a solver library upgrade did not change the key either."""
    from solver.explore import cache as cache_mod
    from solver.perf.params import reset_default_params
    key = lambda: scenario_key({"a": 1}, catalog_version="v1", overlays={}, options={})  # noqa: E731
    k0 = key()
    other_calibration()
    k1 = key()
    assert k1 != k0
    # the content decides, not the path: the same bytes elsewhere give the shipped key
    same = tmp_path / "same"
    same.mkdir()
    (same / "perf_params.yaml").write_bytes(
        (ROOT / "catalogs" / "calibration" / "perf_params.yaml").read_bytes())
    monkeypatch.setenv("FLEETOPT_CALIBRATION_DIR", str(same))
    reset_default_params()
    assert key() == k0
    monkeypatch.setattr(cache_mod, "solver_versions", lambda: {"highspy": "0.0.1"})
    assert key() != k0


def test_sweep_solves_again_under_another_calibration(chat, other_calibration, tmp_path):
    p = [parse_set(f"{DEMAND}=20")]
    first = run_sweep(chat, p, cache_dir=str(tmp_path / "c"), workers=1)
    other_calibration()
    second = run_sweep(chat, p, cache_dir=str(tmp_path / "c"), workers=1)
    assert second.n_cached == 0 and second.n_solved == 1
    assert second.rows[0]["total_usd"] > 2 * first.rows[0]["total_usd"]


def test_corrupt_cache_record_is_a_miss(tmp_path):
    c = ResultCache(tmp_path)
    key = "ab" + "0" * 62
    c.put(key, {"row": {"status": "optimal"}})
    assert c.get(key)["row"] == {"status": "optimal"}
    c.path(key).write_text("{not json")
    assert c.get(key) is None


# ---------------------------------------------------------------------- acceptance
def _direct_total(chat, demand, ttft):
    """Solve a hand-edited copy of the document without the sweep machinery."""
    from solver.mip.pipeline import solve_problem
    from solver.problem.load import validate_document
    doc = copy.deepcopy(chat.raw)
    doc.pop("scenarios")
    doc["workloads"][0]["demand"]["requests_per_s"] = demand
    doc["workloads"][0]["slo"]["ttft_ms"] = ttft
    loaded = validate_document(doc, None, str(CHAT), check_scenarios=False)
    return loaded, solve_problem(loaded).plan


def test_sweep_50_scenarios_error_row_and_cached_rerun(chat, tmp_path, monkeypatch):
    from solver.problem.load import validate_document
    from solver.verify import verify_plan
    demands = [-5, 5, 10, 20, 30, 40, 60, 80, 100, 120]     # -5: deliberately broken
    ttfts = [400, 600, 800, 1000, 1500]
    params = [parse_set(f"{DEMAND}=" + ",".join(map(str, demands))),
              parse_set(f"{TTFT}=" + ",".join(map(str, ttfts)))]
    cache = tmp_path / "cache"
    res = run_sweep(chat, params, cache_dir=str(cache), workers=2, keep_plans=True)
    # the 5 variants with demand -5 are not valid input: rows, but nothing to solve
    assert len(res.rows) == 50 and res.n_cached == 0 and res.n_solved == 45
    assert res.executor == "2 processes"
    rows = {(r[DEMAND], r[TTFT]): r for r in res.rows}
    # the broken scenario is a row with its reason, not a crash
    for t in ttfts:
        bad = rows[(-5, t)]
        assert bad["status"] == "invalid" and bad["total_usd"] is None
        assert "requests_per_s" in bad["error"] and "at least 1e-05" in bad["error"]
    valid = [r for r in res.rows if r[DEMAND] > 0]
    assert {r["status"] for r in valid} <= {"optimal", "infeasible"}
    ok = [r for r in valid if r["status"] == "optimal"]
    assert len(ok) >= 40          # today all 45 are; a few extreme corners may become infeasible
    # every plan passes the independent verifier, and its cost parts add up
    for r in ok:
        plan = res.plans[r["scenario"]]
        doc = copy.deepcopy(chat.raw)
        doc.pop("scenarios")
        doc["workloads"][0]["demand"]["requests_per_s"] = r[DEMAND]
        doc["workloads"][0]["slo"]["ttft_ms"] = r[TTFT]
        loaded = validate_document(doc, None, str(CHAT), check_scenarios=False)
        rep = verify_plan(loaded.problem, loaded.catalog, plan)
        assert rep.ok, [v.format() for v in rep.violations]
        assert rep.recomputed["total_usd"] == pytest.approx(r["total_usd"], rel=1e-6)
        parts = sum(r[c] for c in r if c.startswith("cost_"))
        assert parts == pytest.approx(r["total_usd"], rel=1e-6)
        assert r["devices"] == sum(r[c] for c in r if c.startswith("devices_") and r[c])
    # a second method: two scenarios solved directly from hand-edited documents
    for d, t in [(40, 1000), (120, 400)]:
        _, plan = _direct_total(chat, d, t)
        assert plan.objective.total == pytest.approx(rows[(d, t)]["total_usd"], rel=1e-6)
    # optimal cost is monotone: more demand never costs less, a looser TTFT never costs more
    gap = chat.problem.solver.mip_gap
    # (infeasible counts as +infinity: it may only appear after, never before, a plan)
    inf = float("inf")
    cost = {k: (r["total_usd"] if r["status"] == "optimal" else inf) for k, r in rows.items()}
    for t in ttfts:
        costs = [cost[(d, t)] for d in demands[1:]]
        assert all(b >= a * (1 - gap) - 1e-6 for a, b in zip(costs, costs[1:])), (t, costs)
    for d in demands[1:]:
        costs = [cost[(d, t)] for t in ttfts]
        assert all(b <= a * (1 + gap) + 1e-6 for a, b in zip(costs, costs[1:])), (d, costs)
    # the table
    out = tmp_path / "results.csv"
    assert write_table(res, out) == "csv"
    with out.open() as f:
        table = list(csv.DictReader(f))
    assert len(table) == 50
    assert sum(1 for r in table if r["status"] == "invalid") == 5
    assert {DEMAND, TTFT, "status", "total_usd", "error", "devices", "solve_s"} <= set(table[0])

    # rerun: every scenario (the error rows too) comes from the cache; nothing is solved
    def no_solve(task):  # pragma: no cover - must not run
        raise AssertionError("a cached scenario was solved again")
    monkeypatch.setattr(sweep_mod, "run_scenario", no_solve)
    again = run_sweep(chat, params, cache_dir=str(cache), workers=2)
    assert again.n_cached == 50 and again.n_solved == 0 and again.executor == "cached"
    strip = lambda rs: [{k: v for k, v in r.items() if k != "solve_s"} for r in rs]  # noqa: E731
    assert strip(again.rows) == strip(res.rows)


def test_editing_a_catalog_overlay_invalidates_the_cache(tmp_path):
    (tmp_path / "ov.yaml").write_text("schema_version: 1\ncatalog_version: ov-a\n")
    text = CHAT.read_text().replace("schema_version: 1\n", "schema_version: 1\ncatalog: [ov.yaml]\n", 1)
    (tmp_path / "p.yaml").write_text(text)
    p = [parse_set(f"{DEMAND}=10")]
    cache = str(tmp_path / "cache")
    assert run_sweep(load_problem(tmp_path / "p.yaml"), p, cache_dir=cache, workers=1).n_solved == 1
    assert run_sweep(load_problem(tmp_path / "p.yaml"), p, cache_dir=cache, workers=1).n_cached == 1
    (tmp_path / "ov.yaml").write_text("schema_version: 1\ncatalog_version: ov-a\n# edited\n")
    assert run_sweep(load_problem(tmp_path / "p.yaml"), p, cache_dir=cache, workers=1).n_solved == 1


def test_crash_is_a_row_and_is_not_cached(chat, tmp_path, monkeypatch):
    import solver.mip.pipeline as pipeline

    def boom(*a, **k):
        raise RuntimeError("simulated bug")
    monkeypatch.setattr(pipeline, "solve_problem", boom)
    res = run_sweep(chat, [parse_set(f"{DEMAND}=33")], cache_dir=str(tmp_path), workers=1)
    (row,) = res.rows
    assert row["status"] == "crashed" and "simulated bug" in row["error"]
    assert not list(tmp_path.rglob("*.json"))


def _worker_dies(task):  # module level: the process pool pickles it by name
    import os
    os._exit(3)


@pytest.mark.skipif(sys.platform != "linux", reason="relies on fork inheriting the patch")
def test_dead_worker_gives_crashed_rows(chat, tmp_path, monkeypatch):
    monkeypatch.setattr(sweep_mod, "run_scenario", _worker_dies)
    res = run_sweep(chat, [parse_set(f"{DEMAND}=11,12")], cache_dir=str(tmp_path), workers=2)
    assert [r["status"] for r in res.rows] == ["crashed", "crashed"]
    assert all("BrokenProcessPool" in r["error"] for r in res.rows)
    assert not list(tmp_path.rglob("*.json"))


def test_a_pool_that_breaks_before_every_task_is_sent_gives_crashed_rows(chat, tmp_path, monkeypatch):
    """The race behind a flaky run of the test above: both workers died before the second submit,
    which raised BrokenProcessPool outside the handling (an internal error instead of rows).  Forced
    here: the second submit raises as a broken pool's does."""
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool
    monkeypatch.setattr(sweep_mod, "run_scenario", _worker_dies)
    real = ProcessPoolExecutor.submit
    calls = []

    def submit(self, fn, *args, **kwargs):
        calls.append(fn)
        if len(calls) > 1:
            raise BrokenProcessPool("A process in the process pool was terminated abruptly")
        return real(self, fn, *args, **kwargs)

    monkeypatch.setattr(ProcessPoolExecutor, "submit", submit)
    res = run_sweep(chat, [parse_set(f"{DEMAND}=11,12,13")], cache_dir=str(tmp_path), workers=2)
    assert [r["status"] for r in res.rows] == ["crashed"] * 3
    assert all("BrokenProcessPool" in r["error"] for r in res.rows)


def test_solver_options_are_part_of_the_key(chat, tmp_path):
    p = [parse_set(f"{DEMAND}=25")]
    a = run_sweep(chat, p, cache_dir=str(tmp_path), workers=1)
    b = run_sweep(chat, p, cache_dir=str(tmp_path), workers=1,
                  options=SolveOptions(backend="ortools", solver="highs"))
    assert a.n_solved == 1 and b.n_solved == 1 and a.rows[0]["key"] != b.rows[0]["key"]
    # two independent solver stacks agree on the optimum
    assert b.rows[0]["total_usd"] == pytest.approx(a.rows[0]["total_usd"], rel=1e-5)


def test_parquet(chat, tmp_path):
    pa = pytest.importorskip("pyarrow", reason="pyarrow not installed")
    import pyarrow.parquet as pq
    res = run_sweep(chat, [parse_set(f"{DEMAND}=20,-1")], cache_dir=None, workers=1)
    write_table(res, tmp_path / "r.parquet")
    t = pq.read_table(tmp_path / "r.parquet").to_pylist()
    assert [r["status"] for r in t] == ["optimal", "invalid"]
    assert t[0]["total_usd"] == pytest.approx(res.rows[0]["total_usd"])
    assert pa is not None


def test_parquet_without_pyarrow_is_an_input_error(tmp_path, monkeypatch):
    import builtins
    real = builtins.__import__

    def fake(name, *a, **k):
        if name.startswith("pyarrow"):
            raise ImportError("no pyarrow")
        return real(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(InputError) as ei:
        sweep_mod.check_output(tmp_path / "x.parquet")
    assert "pip install pyarrow" in ei.value.format()


def test_progress_bar_text_and_silence(monkeypatch):
    import builtins
    import io
    real = builtins.__import__
    monkeypatch.setattr(builtins, "__import__", lambda name, *a, **k: (
        (_ for _ in ()).throw(ImportError(name)) if name == "tqdm" else real(name, *a, **k)))
    buf = io.StringIO()
    bar = sweep_mod.Progress(3, True, stream=buf)
    bar.update(cached=True)
    bar.update()
    bar.update()
    bar.close()
    last = buf.getvalue().rstrip("\n").split("\r")[-1]
    assert last.startswith("[" + "#" * 30 + "] 3/3 (1 cached)")
    quiet = io.StringIO()
    bar = sweep_mod.Progress(3, False, stream=quiet)
    bar.update()
    bar.close()
    assert quiet.getvalue() == ""


# ---------------------------------------------------------------------- CLI
def test_cli_sweep_and_rerun(tmp_path, capsys):
    out = tmp_path / "r.csv"
    args = ["sweep", str(CHAT), "--set", f"{DEMAND}=lognormal(40,0.4)", "--samples", "4",
            "--seed", "3", "--out", str(out), "--cache", str(tmp_path / "c"), "--workers", "1",
            "--quiet"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert "4 scenarios: 0 cached, 4 solved" in first
    assert main(args) == 0
    assert "4 scenarios: 4 cached, 0 solved" in capsys.readouterr().out
    with out.open() as f:
        assert len(list(csv.DictReader(f))) == 4


def test_cli_sweep_exit_code_flags_rows_that_are_not_answers(tmp_path, capsys):
    """Every variant gets its row; an invalid one makes the exit code 2 for a batch job to see."""
    out = tmp_path / "r.csv"
    base = ["sweep", str(CHAT), "--out", str(out), "--no-cache", "--workers", "1", "--quiet"]
    assert main(base + ["--set", f"{DEMAND}=abc,40"]) == 2
    assert "1 row(s) invalid" in capsys.readouterr().err
    with out.open() as f:
        assert sorted(r["status"] for r in csv.DictReader(f)) == ["invalid", "optimal"]
    # an infeasible variant is an answer ("no plan at 0.5 ms"), not a failure
    assert main(base + ["--set", f"{TTFT}=0.5,1000"]) == 0
    with out.open() as f:
        assert sorted(r["status"] for r in csv.DictReader(f)) == ["infeasible", "optimal"]


def test_cli_sweep_applies_the_named_scenario_first(tmp_path, capsys):
    from solver.mip.pipeline import solve_problem
    out = tmp_path / "r.csv"
    assert main(["sweep", str(CHAT), "--scenario", "double-demand", "--set", f"{TTFT}=1000",
                 "--out", str(out), "--no-cache", "--workers", "1", "--quiet"]) == 0
    with out.open() as f:
        (row,) = list(csv.DictReader(f))
    direct = solve_problem(load_problem(CHAT, scenario="double-demand")).plan.objective.total
    assert float(row["total_usd"]) == pytest.approx(direct, rel=1e-9)


@pytest.mark.parametrize("extra,fragment", [
    ([], "nothing to sweep"),
    (["--set", "workloads.nope.slo.ttft_ms=1"], "does not resolve"),
    (["--set", f"{DEMAND}=1", "--out", "x.txt"], "unknown results format"),
    (["--set", f"{DEMAND}=1", "--out", "-"], "is not a file name ending .csv or .parquet"),   # QA: '(none)'
    (["--set", "workloads.chat.slo.ttft=1"], "did you mean 'ttft_ms'"),   # would add a key
    (["--set", "fleet.acelerators=[l4]"], "did you mean 'accelerators'"),
])
def test_cli_usage_errors_exit_2(tmp_path, capsys, extra, fragment):
    assert main(["sweep", str(CHAT), "--no-cache", *extra]) == 2
    assert fragment in capsys.readouterr().err


# ---------------------------------------------------------------------- Ray
@pytest.mark.skipif(not ray_available(), reason="ray not installed")
def test_ray_path_matches_local(chat, tmp_path):
    p = [parse_set(f"{DEMAND}=15,45,-2")]
    local = run_sweep(chat, p, cache_dir=None, workers=1)
    remote = run_sweep(chat, p, cache_dir=None, workers=2, use_ray=True)
    assert remote.executor == "ray"
    assert [r["status"] for r in remote.rows] == ["optimal", "optimal", "invalid"]
    for a, b in zip(local.rows, remote.rows):
        assert a["total_usd"] == b["total_usd"] and a["key"] == b["key"]


def test_ray_missing_is_a_clear_error(chat, monkeypatch):
    import builtins
    from solver.errors import FleetoptError
    real = builtins.__import__

    def fake(name, *a, **k):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("no ray")
        return real(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(FleetoptError) as ei:
        run_sweep(chat, [parse_set(f"{DEMAND}=15")], cache_dir=None, use_ray=True)
    assert "pip install 'fleetopt[ray]'" in str(ei.value)


# ---------------------------------------------------------------------- QA: the environment
def test_table_columns_are_fixed_first_and_accelerators_last_sorted():
    """QA: `devices_<accelerator>` columns sat in the middle, so the columns after them moved between
    runs that used other accelerators."""
    from solver.explore.sweep import SUMMARY_COLUMNS, table_columns
    cols = table_columns([{"devices_l4": 1}, {"devices_b200": 2, "devices_h100-sxm": 1}], [DEMAND])
    assert cols == ["scenario", DEMAND, *SUMMARY_COLUMNS, "devices_b200", "devices_h100-sxm", "devices_l4"]


def test_a_cache_that_cannot_be_written_is_refused_or_left_out(tmp_path, capsys, monkeypatch):
    """QA: an unwritable cache raised PermissionError after the first solve (exit 1, every row lost).
    --cache DIR is checked before solving (exit 2); the default one, where it cannot be written, and
    a cache write that fails later are warnings: the sweep goes on without it."""
    (tmp_path / "afile").write_text("")
    base = ["sweep", str(CHAT), "--set", f"{DEMAND}=20,40", "--workers", "1", "--quiet"]
    assert main(base + ["--out", str(tmp_path / "a.csv"), "--cache", str(tmp_path / "afile" / "c")]) == 2
    assert "cannot write the result cache" in capsys.readouterr().err and not (tmp_path / "a.csv").exists()
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".fleetopt-cache").write_text("")       # the default cache folder's place is taken
    assert main(base + ["--out", "b.csv"]) == 0
    assert "warning: cannot write the result cache" in capsys.readouterr().err

    def refused(self, key, record):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(ResultCache, "put", refused)
    assert main(base + ["--out", "c.csv", "--cache", "c"]) == 0
    assert "going on without it" in capsys.readouterr().err
    with open("c.csv") as f:
        assert [r["status"] for r in csv.DictReader(f)] == ["optimal", "optimal"]


def test_a_results_file_another_sweep_wrote_meanwhile_is_not_overwritten(tmp_path, capsys, monkeypatch):
    """QA: two sweeps into one results file overwrote each other silently."""
    import os
    out = tmp_path / "r.csv"
    real = sweep_mod.run_sweep

    def with_another_sweep(*a, **k):
        res = real(*a, **k)
        out.write_text("the other sweep's table\n")
        return res
    monkeypatch.setattr(sweep_mod, "run_sweep", with_another_sweep)
    assert main(["sweep", str(CHAT), "--set", f"{DEMAND}=40", "--no-cache", "--out", str(out), "--quiet"]) == 2
    assert "changed while this sweep ran" in capsys.readouterr().err
    assert out.read_text() == "the other sweep's table\n"
    with open(tmp_path / f"r.{os.getpid()}.csv") as f:
        assert [r["status"] for r in csv.DictReader(f)] == ["optimal"]


@pytest.mark.skipif(sys.platform != "linux", reason="fork and /proc")
def test_sigterm_stops_the_workers(tmp_path):
    """QA: SIGTERM to a sweep's parent left its workers orphaned, hung forever holding the caller's
    pipes (`fleetopt sweep ... --workers 2 & kill -TERM $!`): they are stopped, exit 143."""
    import os
    import signal
    import subprocess
    import time
    script = tmp_path / "slow.py"
    script.write_text(
        "import os, sys, time\n"
        "from solver.explore import sweep\n"
        "def slow(task):\n"
        "    open(os.path.join(sys.argv[1], f'{os.getpid()}.pid'), 'w').close()\n"
        "    time.sleep(120)\n"
        "sweep.run_scenario = slow\n"
        "from solver.cli import main\n"
        "sys.exit(main(sys.argv[2:]))\n")
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path), "sweep", str(CHAT), "--set",
                             f"{DEMAND}=20,40,60", "--workers", "2", "--no-cache", "--out",
                             str(tmp_path / "r.csv"), "--quiet"],
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    workers: list = []
    try:
        deadline = time.monotonic() + 60
        while len(workers) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
            workers = [int(p.stem) for p in tmp_path.glob("*.pid")]
        assert len(workers) == 2
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)      # the workers held its pipes: this waited forever
        assert proc.returncode == 143
        time.sleep(0.5)
        for pid in workers:
            stat = Path(f"/proc/{pid}/stat")
            assert not stat.exists() or stat.read_text().split()[2] == "Z", pid
    finally:
        proc.kill()
        for pid in workers:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        proc.communicate()


def test_ray_that_cannot_start_is_an_environment_error(tmp_path, capsys, monkeypatch):
    """QA: RAY_ADDRESS set with Ray not importable exited 1, and with Ray but not ray[client] gave
    "internal error: ValueError": both are exit 2, with what to install."""
    import builtins
    import types
    args = ["sweep", str(CHAT), "--set", f"{DEMAND}=20,40", "--no-cache", "--out", str(tmp_path / "r.csv")]
    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    fake = types.SimpleNamespace(is_initialized=lambda: False)

    def no_client(**kw):
        raise ValueError("Ray Client requires pip package `ray[client]`")
    fake.init = no_client
    monkeypatch.setitem(sys.modules, "ray", fake)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Ray did not start at ray://head:10001: Ray Client requires pip package `ray[client]`" in err
    assert "internal error" not in err
    real = builtins.__import__
    monkeypatch.setattr(builtins, "__import__", lambda name, *a, **k: (
        (_ for _ in ()).throw(ImportError(name)) if name == "ray" else real(name, *a, **k)))
    assert main(args) == 2
    assert "pip install 'fleetopt[ray]'" in capsys.readouterr().err


@pytest.mark.skipif(not ray_available(), reason="ray not installed")
def test_unreachable_ray_address_is_exit_2_not_a_hang(tmp_path, capsys, monkeypatch):
    """QA: RAY_ADDRESS=127.0.0.1:1 retried for > 400 s; a RAY_ADDRESS left in the environment
    turns Ray on without --ray, which is documented, and now said on stderr."""
    import time
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")
    t0 = time.monotonic()
    assert main(["sweep", str(CHAT), "--set", f"{DEMAND}=20", "--no-cache", "--quiet",
                 "--out", str(tmp_path / "r.csv")]) == 2
    assert time.monotonic() - t0 < 60
    err = capsys.readouterr().err
    assert "note: running on Ray because RAY_ADDRESS is set (127.0.0.1:1); --no-ray" in err
    assert "Ray did not start at 127.0.0.1:1: cannot connect within 10 s" in err
    assert not (tmp_path / "r.csv").exists()


def test_sigterm_during_a_ray_sweep_exits_143_and_stops_ray(chat, monkeypatch):
    """QA: with --ray, SIGTERM gave exit 134 (Ray's handlers: a stack dump and abort) where the
    README says 143.  A stand-in for Ray that installs its own SIGTERM handler in init, as Ray does,
    and receives SIGTERM while the sweep waits."""
    import os
    import signal
    import time
    import types
    calls = []

    def init(**kw):
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(signum))    # what ray.init does
        calls.append("init")

    def wait(pending, num_returns=1):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)
        return [], pending

    fake = types.SimpleNamespace(is_initialized=lambda: False, init=init, wait=wait,
                                 shutdown=lambda: calls.append("shutdown"),
                                 remote=lambda **kw: lambda f: types.SimpleNamespace(remote=lambda t: object()))
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    try:
        with pytest.raises(SystemExit) as ei:
            run_sweep(chat, [parse_set(f"{DEMAND}=20")], cache_dir=None, use_ray=True)
    finally:
        handler = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    assert ei.value.code == 143
    assert calls == ["init", "shutdown"]
    assert handler is signal.SIG_DFL          # the caller's handling is back


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_pool_workers_exit_when_the_sweep_is_killed(tmp_path):
    """QA: after SIGKILL of the sweep, its pool workers stayed blocked on the task pipe for ever."""
    import os
    import signal
    import subprocess
    import time

    def ppid_state(pid):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None, "gone"
        fields = stat.rpartition(")")[2].split()
        return int(fields[1]), fields[0]

    script = tmp_path / "kill_me.py"
    script.write_text(
        "import os, sys, time\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from solver.explore import sweep\n"
        "def slow(task):\n"
        "    time.sleep(600)\n"
        "sweep.run_scenario = slow\n"
        "print(os.getpid(), flush=True)\n"
        "sweep._run_pool([{'key': 1}, {'key': 2}], 2, lambda t, r: None)\n")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    parent = int(proc.stdout.readline())
    deadline = time.monotonic() + 30
    workers = []
    while len(workers) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
        workers = [int(d) for d in os.listdir("/proc") if d.isdigit() and ppid_state(d)[0] == parent]
    assert len(workers) == 2
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(ppid_state(w)[1] not in ("gone", "Z") for w in workers):
        time.sleep(0.2)
    alive = [w for w in workers if ppid_state(w)[1] not in ("gone", "Z")]
    for w in alive:
        os.kill(w, signal.SIGKILL)
    assert not alive


def test_summary_does_not_name_a_cache_the_sweep_dropped(tmp_path, capsys, monkeypatch):
    """QA: a cache that could not be written mid-run was dropped with a warning, and the last line
    still said "; cache DIR"."""
    def full(self, key, record):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(ResultCache, "put", full)
    assert main(["sweep", str(CHAT), "--set", f"{DEMAND}=20", "--cache", str(tmp_path / "c"),
                 "--workers", "1", "--quiet", "--out", str(tmp_path / "s.csv")]) == 0
    out, err = capsys.readouterr()
    assert "cannot write the result cache" in err and "going on without it" in err
    last = out.splitlines()[-1]
    assert last.startswith(f"wrote {tmp_path / 's.csv'} (csv,") and "cache" not in last


def test_interrupted_text_says_rows_done_cache_and_how_to_resume():
    """What a stopped sweep says: 10 scenarios, 3 read from the cache and 4 solved (3 of them
    written to the cache: one was an error row, never cached) -> 7 done, 6 cached."""
    counts = sweep_mod.SweepCounts(total=10, done=7, from_cache=3, stored=3, cache="c")
    assert counts.interrupted_text("r.csv", "SIGTERM") == (
        "interrupted (SIGTERM): 7 of 10 scenarios done (3 read from the cache, 4 solved, 3 of them cached); "
        "r.csv was not written (the table is written once every scenario has its row); run the same command "
        "again to resume: the 6 scenarios cached in c are read back, not solved again")
    none = sweep_mod.SweepCounts(total=4, done=1)
    assert none.interrupted_text("r.csv", "Ctrl-C") == (
        "interrupted (Ctrl-C): 1 of 4 scenarios done (1 solved); r.csv was not written (the table is written "
        "once every scenario has its row); no cache was used, so running the command again solves every "
        "scenario")


@pytest.mark.skipif(sys.platform != "linux", reason="fork and signals")
@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_says_what_the_sweep_leaves_and_a_rerun_resumes(tmp_path, workers, capsys):
    """QA: a sweep ended by SIGTERM exited 143 with no output at all (Ctrl-C said 'interrupted').
    Demands 10 and 20 solve; 40 and 60 hang (a stand-in that sleeps): SIGTERM once they hang says 2
    of 4 done and cached, writes no table, exits 143 at once (in-process too: the wait is not held
    by the scenario under way); the rerun reads the 2 back and solves the other 2."""
    import os
    import signal
    import subprocess
    import time
    script = tmp_path / "hang.py"
    script.write_text(
        "import os, sys, time\n"
        "from solver.explore import sweep\n"
        "real = sweep.run_scenario\n"
        "def hang(task):\n"
        "    if task['doc']['workloads'][0]['demand']['requests_per_s'] > 30:\n"
        "        open(os.path.join(sys.argv[1], f'{os.getpid()}-{time.monotonic()}.hang'), 'w').close()\n"
        "        time.sleep(120)\n"
        "    return real(task)\n"
        "sweep.run_scenario = hang\n"
        "from solver.cli import main\n"
        "sys.exit(main(sys.argv[2:]))\n")
    args = ["sweep", str(CHAT), "--set", f"{DEMAND}=10,20,40,60", "--workers", workers, "--cache",
            str(tmp_path / "c"), "--out", str(tmp_path / "r.csv"), "--quiet"]
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path), *args],
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120

        def cached() -> int:        # the rows the sweep has taken in (written to the cache as they come)
            return sum(1 for f in (tmp_path / "c").rglob("*.json")) if (tmp_path / "c").exists() else 0
        # both solvable scenarios taken in, not only run (with 2 workers both can hang while the
        # sweep has yet to take the second result in: a race seen once in the suite)
        while ((len(list(tmp_path.glob("*.hang"))) < int(workers) or cached() < 2)
               and time.monotonic() < deadline):
            time.sleep(0.1)
        assert list(tmp_path.glob("*.hang")) and cached() >= 2
        time.sleep(0.3)             # the row's bookkeeping after its cache write
        proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        out, err = proc.communicate(timeout=60)
        assert time.monotonic() - t0 < 10
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    assert out == ""
    assert err.startswith("interrupted (SIGTERM): 2 of 4 scenarios done (2 solved and cached); "
                          f"{tmp_path / 'r.csv'} was not written"), err
    assert f"run the same command again to resume: the 2 scenarios cached in {tmp_path / 'c'}" in err
    assert not (tmp_path / "r.csv").exists()
    assert main(args) == 0
    assert capsys.readouterr().out.startswith("4 scenarios: 2 cached, 2 solved")
    with open(tmp_path / "r.csv") as f:
        assert [r["status"] for r in csv.DictReader(f)] == ["optimal"] * 4


def test_a_multi_period_plans_row_has_its_capex_and_devices_bought():
    """QA (s20): a sweep over growth rates gave multi-period rows with no capex or device columns
    (they came from the procurement table, which such plans do not have)."""
    from solver.explore.common import plan_summary
    plan = {"status": "optimal", "objective": {"total": 1.0, "breakdown": {}},
            "periods": {"timeline": [
                {"capex_usd": 660000.0, "units": [
                    {"offer": "h100-sxm@virginia/purchase/x", "accelerator": "h100-sxm", "devices_per_unit": 8,
                     "buy": 3},
                    {"offer": "a100-80gb@virginia/on_demand/y", "accelerator": "a100-80gb", "devices_per_unit": 1}]},
                {"capex_usd": 220000.0, "units": [
                    {"offer": "h100-sxm@virginia/purchase/x", "accelerator": "h100-sxm", "devices_per_unit": 8,
                     "buy": 1}]}]}}
    row = plan_summary(plan)
    assert row["capex_usd"] == 880000.0
    assert row["devices_bought_h100-sxm"] == 32 and "devices_bought_a100-80gb" not in row
    assert "capex_usd" not in plan_summary({"status": "optimal", "objective": {"total": 1.0}})


def test_a_multi_period_sweep_table_has_the_capex_and_devices_bought_columns(tmp_path):
    """QA (s20): plan_summary gave capex_usd, but the table kept only devices_* beyond its leading
    columns, so the CSV had no capex (the robust hint and README promise it)."""
    from solver.explore.sweep import table_columns
    rows = [{"scenario": 0, "capex_usd": 880000.0, "devices_bought_h100-sxm": 32},
            {"scenario": 1, "capex_usd": 660000.0, "devices_bought_h100-sxm": 24, "devices_bought_l4": 2}]
    cols = table_columns(rows, ["workloads.chat.demand.growth_rate_per_period"])
    assert cols[-3:] == ["capex_usd", "devices_bought_h100-sxm", "devices_bought_l4"]
    assert "capex_usd" not in table_columns([{"scenario": 0, "devices_h100-sxm": 8}], [])


@pytest.mark.parametrize("swept,flag", [("solver.time_limit_s=0.5,20", ["--time-limit", "20"]),
                                        ("solver.backend=highspy,pulp", ["--backend", "pulp"]),
                                        ("solver.mip_gap=0.01,0.1", ["--gap", "0.05"])])
def test_a_swept_solver_field_a_flag_also_sets_is_refused(tmp_path, capsys, swept, flag):
    """QA s26: `--set solver.time_limit_s=0.5,20 --time-limit 20` solved the 0.5 row with 20 s, and
    `--set solver.backend=highspy,pulp --backend pulp` solved the highspy row with CBC; each row listed
    the swept value.  Refused before solving (exit 2), naming the flag."""
    assert main(["sweep", str(CHAT), "--set", swept, *flag, "--no-cache", "--quiet",
                 "--out", str(tmp_path / "s.csv")]) == 2
    err = capsys.readouterr().err
    assert f"--set {swept.split('=')[0]} sweeps what {flag[0]} sets for every row" in err
    assert f"fix: drop {flag[0]}" in err and not (tmp_path / "s.csv").exists()


def test_interrupted_text_with_nothing_cached_yet_and_one_row():
    """QA s26: 'the 0 scenarios cached in mc are read back'; and 'wrote bad.csv (csv, 1 rows)'."""
    counts = sweep_mod.SweepCounts(total=4, done=1, cache="mc")
    assert counts.interrupted_text("r.csv", "Ctrl-C").endswith(
        "; nothing was cached in mc yet, so running the command again solves every scenario")
    one = sweep_mod.SweepCounts(total=4, done=1, stored=1, cache="mc")
    assert one.interrupted_text("r.csv", "Ctrl-C").endswith("the 1 scenario cached in mc is read back, not solved again")


def test_one_row_is_one_row(tmp_path, capsys):
    assert main(["sweep", str(CHAT), "--set", f"{DEMAND}=20", "--no-cache", "--quiet",
                 "--out", str(tmp_path / "s.csv")]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith("(csv, 1 row)")


@pytest.mark.skipif(sys.platform != "linux", reason="/proc")
def test_a_cache_folder_that_cannot_be_made_is_refused_before_solving(tmp_path, capsys):
    """QA s26: `--cache /proc/xx` passed the permission check (as root), warned and went on: exit 0 where
    the README promises exit 2 before solving.  The folder is made, and a file written in it, up front."""
    assert main(["sweep", str(CHAT), "--set", f"{DEMAND}=20", "--cache", "/proc/fleetopt-cache",
                 "--quiet", "--out", str(tmp_path / "s.csv")]) == 2
    assert "cannot write the result cache" in capsys.readouterr().err
    assert not (tmp_path / "s.csv").exists()
