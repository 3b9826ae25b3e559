"""Fuzz the command line (hypothesis): mutated problem files and catalog overlays through
``validate``, ``solve`` and ``explain``.

Whatever the input - huge, tiny, zero, NaN or infinite numbers, empty lists, duplicate
and unicode ids, conflicting scenario overrides, files that are not YAML, missing
files - the CLI must:

* exit with a documented code (0 ok, 2 bad input, 3 infeasible, 4 time limit, 5 solver error),
* never print a traceback or "internal error",
* leave no partial output: the --json file is either absent or complete, valid JSON
  (and no temporary file is left beside it),
* never change an input file (hashed before and after).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import math
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.cli import main
from solver.errors import EXIT_BAD_INPUT, EXIT_INFEASIBLE, EXIT_OK, EXIT_SOLVER_ERROR, EXIT_TIME_LIMIT

DOCUMENTED = {EXIT_OK, EXIT_BAD_INPUT, EXIT_INFEASIBLE, EXIT_TIME_LIMIT, EXIT_SOLVER_ERROR}

PROBLEM = {
    "schema_version": 1,
    "name": "fuzz",
    "workloads": [
        {"id": "chat", "demand": {"requests_per_s": 4, "profile": [0.5, 1.0]},
         "input_tokens": {"mean": 800, "p90": 1600}, "output_tokens": {"mean": 200},
         "slo": {"ttft_ms": 1000, "tpot_ms": 60, "percentile": 95},
         "quality": {"min_score": 60}, "models": ["llama-3.1-8b"], "quantizations": ["bf16", "fp8"]},
        {"id": "batch", "demand": {"requests_per_s": 1},
         "input_tokens": {"mean": 2000}, "output_tokens": {"mean": 300},
         "slo": {"ttft_ms": 20000, "tpot_ms": 150}, "models": ["llama-3.1-8b"]},
    ],
    "fleet": {"regions": ["virginia"], "accelerators": ["h100-sxm", "l4", "lab-npu"],
              "acquisition": ["on_demand", "purchase"], "tensor_parallel": [1, 2],
              "availability": [{"accelerator": "l4", "max_devices": 64}],
              "power_caps": [{"region": "virginia", "max_kw": 500}],
              "budget": {"max_usd_per_month": 100000}},
    "objective": {"horizon_months": 1},
    "solver": {"time_limit_s": 5},
    "scenarios": [{"name": "fast", "set": {"workloads.chat.slo.ttft_ms": 500}}],
}

OVERLAY = {
    "schema_version": 1,
    "sources": {"lab": {"title": "Lab measurements", "verification": "retrieved"}},
    "accelerators": [
        {"id": "lab-npu", "name": "Lab NPU", "vendor": "lab", "family": "hopper",
         "memory_gb": {"value": 64, "source": "lab"}, "mem_bw_gbps": {"value": 2000, "source": "lab"},
         "peak_tflops": {"bf16": {"value": 500, "source": "lab"}},
         "tdp_w": {"value": 300, "source": "lab"}, "idle_w": {"value": 40, "source": "lab"},
         "interconnect": {"kind": "pcie", "bandwidth_gbps": {"value": 32, "source": "lab"}},
         "devices_per_node": 4,
         "offers": [{"provider": "lab", "instance": "box", "region": "virginia", "devices_per_instance": 4,
                     "on_demand_usd_per_device_hour": {"value": 1.5, "source": "lab"}}]},
        {"id": "l4", "offers": [{"provider": "colo", "instance": "rack", "region": "virginia",
                                 "devices_per_instance": 4,
                                 "on_demand_usd_per_device_hour": {"value": 0.41, "source": "lab"}}]},
    ],
}

NUMBERS = [0, -0.0, -1, 1e-300, 5e-324, 1e300, 1.7976931348623157e308, float("nan"), float("inf"),
           float("-inf"), 10**30, -(10**30), 2**63, 0.5, 3]
ODD_TEXT = ["", " ", "ünïcødé-ïd", "日本語", "a" * 300, "chat", "h100-sxm", "1e400", ".nan", "null", "- x",
            "{", "\x00", "\u202e", "../../etc"]


def _paths(node, prefix=()):
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, prefix + (i,))
    return out


def _get(doc, path):
    for p in path:
        doc = doc[p]
    return doc


def _mutate(data, doc) -> None:
    """One structured mutation of ``doc`` in place."""
    paths = [p for p in _paths(doc) if p]
    path = data.draw(st.sampled_from(paths), label="path")
    parent, key = _get(doc, path[:-1]), path[-1]
    node = parent[key]
    op = data.draw(st.sampled_from(["number", "text", "empty", "duplicate", "delete", "unicode_id",
                                    "type"]), label="op")
    if op == "number":
        parent[key] = data.draw(st.sampled_from(NUMBERS) | st.floats(allow_nan=True, allow_infinity=True)
                                | st.integers(-(10**20), 10**20))
    elif op == "text":
        parent[key] = data.draw(st.sampled_from(ODD_TEXT) | st.text(max_size=8))
    elif op == "empty":
        parent[key] = [] if not isinstance(node, dict) else {}
    elif op == "duplicate" and isinstance(parent, list):
        parent.append(copy.deepcopy(node))
    elif op == "delete":
        del parent[key]
    elif op == "unicode_id" and isinstance(node, dict) and "id" in node:
        node["id"] = data.draw(st.sampled_from(["ćhät", "チャット", "chat ", "Chat", "chat", "x" * 200]))
    elif op == "type":
        parent[key] = data.draw(st.sampled_from([None, True, [1, 2], {"a": 1}, "3", 3.5]))


def _dump(doc) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


def _digest(paths) -> dict:
    return {str(p): hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths if Path(p).is_file()}


def _run(argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def _check(argv, inputs, outdir: Path, json_out: Path | None) -> int:
    before = _digest(inputs)
    code, out, err = _run(argv)
    assert code in DOCUMENTED, (code, argv, err[-2000:])
    assert "Traceback" not in err and "internal error" not in err, err[-2000:]
    assert "Traceback" not in out
    assert _digest(inputs) == before, "an input file changed"
    if json_out is not None and json_out.exists():
        doc = json.loads(json_out.read_text())        # complete and valid, or absent
        assert isinstance(doc, dict) and doc
    leftovers = [p.name for p in outdir.iterdir() if p.name.startswith(".") or p.suffix == ".tmp"]
    assert not leftovers, leftovers
    return code


def _fresh(tmp_path_factory):
    d = tmp_path_factory.mktemp("fz")
    out = d / "out"
    out.mkdir()
    return d, out


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_cli_on_mutated_problems(tmp_path_factory, data):
    d, out = _fresh(tmp_path_factory)
    doc = copy.deepcopy(PROBLEM)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        try:
            _mutate(data, doc)
        except (KeyError, IndexError, TypeError):
            pass
    prob, ov = d / "p.yaml", d / "ov.yaml"
    prob.write_text(_dump(doc), encoding="utf-8")
    ov.write_text(_dump(OVERLAY), encoding="utf-8")
    cmd = data.draw(st.sampled_from(["validate", "solve", "explain"]), label="command")
    jo = out / "plan.json"
    argv = [cmd, str(prob), "--catalog", str(ov)]
    if cmd == "solve":
        argv += ["--time-limit", "5", "--json", str(jo)]
    elif cmd == "explain":
        argv += ["--time-limit", "5", "--json", str(jo)]
    if cmd != "validate" and data.draw(st.booleans(), label="scenario"):
        argv += ["--scenario", "fast"]
    _check(argv, [prob, ov], out, jo)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_cli_on_mutated_overlays(tmp_path_factory, data):
    d, out = _fresh(tmp_path_factory)
    doc = copy.deepcopy(OVERLAY)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        try:
            _mutate(data, doc)
        except (KeyError, IndexError, TypeError):
            pass
    prob, ov = d / "p.yaml", d / "ov.yaml"
    prob.write_text(_dump(PROBLEM), encoding="utf-8")
    ov.write_text(_dump(doc), encoding="utf-8")
    cmd = data.draw(st.sampled_from(["validate", "solve"]), label="command")
    jo = out / "plan.json"
    argv = [cmd, str(prob), "--catalog", str(ov)] + (["--time-limit", "5", "--json", str(jo)]
                                                     if cmd == "solve" else [])
    _check(argv, [prob, ov], out, jo)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_conflicting_scenario_overrides(tmp_path_factory, data):
    """Overrides that address missing paths, clash with each other, or change types."""
    d, out = _fresh(tmp_path_factory)
    doc = copy.deepcopy(PROBLEM)
    keys = st.sampled_from(["workloads.chat.slo.ttft_ms", "workloads.nope.slo.ttft_ms", "fleet.regions",
                            "fleet.power_caps.virginia.max_kw", "fleet.power_caps.mars.max_kw",
                            "workloads.chat", "workloads", "fleet.budget.max_usd_per_month",
                            "solver.time_limit_s", "workloads.chat.slo", "name", "scenarios",
                            "workloads.batch.demand.requests_per_s", "fleet.tensor_parallel"])
    values = st.sampled_from(NUMBERS + ODD_TEXT + [None, [], {}, ["virginia", "virginia"], [3], True])
    sets = data.draw(st.dictionaries(keys, values, min_size=1, max_size=4), label="set")
    doc["scenarios"] = [{"name": "s", "set": sets}]
    if data.draw(st.booleans(), label="twice"):
        doc["scenarios"].append({"name": "s", "set": {"workloads.chat.slo.ttft_ms": 1}})
    prob = d / "p.yaml"
    prob.write_text(_dump(doc), encoding="utf-8")
    jo = out / "plan.json"
    cmd = data.draw(st.sampled_from(["validate", "solve"]), label="command")
    argv = [cmd, str(prob), "--scenario", "s"] if cmd == "solve" else [cmd, str(prob)]
    if cmd == "solve":
        argv += ["--time-limit", "5", "--json", str(jo)]
    _check(argv, [prob], out, jo)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(blob=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(lambda s: s.encode("utf-8", "replace")),
                      st.sampled_from([b"[1, 2, 3]", b"{\"a\": 1}", b"\t- bad\n\tindent", b"key: [unclosed",
                                       b"\xff\xfe\x00h\x00i", b"---\n...\n---\n", b"&a [*a]", b"!!python/object:os.system []",
                                       b"a: &x 1\nb: *y"])),
       cmd=st.sampled_from(["validate", "solve", "explain"]), which=st.sampled_from(["problem", "overlay"]))
def test_files_that_are_not_yaml(tmp_path_factory, blob, cmd, which):
    d, out = _fresh(tmp_path_factory)
    prob, ov = d / "p.yaml", d / "ov.yaml"
    prob.write_bytes(blob if which == "problem" else _dump(PROBLEM).encode())
    ov.write_bytes(blob if which == "overlay" else _dump(OVERLAY).encode())
    jo = out / "plan.json"
    argv = [cmd, str(prob), "--catalog", str(ov)] + (["--json", str(jo)] if cmd != "validate" else [])
    code = _check(argv, [prob, ov], out, jo)
    assert code in (EXIT_OK, EXIT_BAD_INPUT)


def test_missing_files_and_directories(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    prob = tmp_path / "p.yaml"
    prob.write_text(_dump(PROBLEM))
    ov = tmp_path / "ov.yaml"
    ov.write_text(_dump(OVERLAY))
    for argv in (["validate", str(tmp_path / "nope.yaml")],
                 ["solve", str(tmp_path / "nope.yaml")],
                 ["explain", str(tmp_path / "nope.yaml")],
                 ["solve", str(prob), "--catalog", str(tmp_path / "missing.yaml")],
                 ["solve", str(tmp_path)],                                   # a directory
                 ["solve", str(prob), "--catalog", str(ov), "--json", str(out)],   # a directory as output
                 ["solve", str(prob), "--scenario", "nope"]):
        code = _check(argv, [prob, ov], out, None)
        assert code == EXIT_BAD_INPUT, argv
    # an output folder that does not exist yet is created (documented in yamlio.atomic_write_bytes)
    nested = tmp_path / "no" / "dir" / "p.json"
    assert _check(["solve", str(prob), "--catalog", str(ov), "--json", str(nested)], [prob, ov], out, nested) == 0


def test_outputs_never_overwrite_inputs(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    prob = tmp_path / "p.yaml"
    prob.write_text(_dump(PROBLEM))
    ov = tmp_path / "ov.yaml"
    ov.write_text(_dump(OVERLAY))
    for flag in ("--json", "--markdown", "--save-lp"):
        for target in (prob, ov):
            code = _check(["solve", str(prob), "--catalog", str(ov), flag, str(target)], [prob, ov], out, None)
            assert code == EXIT_BAD_INPUT
    code = _check(["explain", str(prob), "--catalog", str(ov), "--json", str(prob)], [prob, ov], out, None)
    assert code == EXIT_BAD_INPUT


def test_outputs_never_overwrite_each_other_or_a_plan_read(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    prob, ov = tmp_path / "p.yaml", tmp_path / "ov.yaml"
    prob.write_text(_dump(PROBLEM))
    ov.write_text(_dump(OVERLAY))
    same = out / "same.out"
    assert _check(["solve", str(prob), "--catalog", str(ov), "--json", str(same), "--markdown", str(same)],
                  [prob, ov], out, None) == EXIT_BAD_INPUT
    assert not same.exists()
    plan = out / "plan.json"
    assert _check(["solve", str(prob), "--catalog", str(ov), "--json", str(plan)], [prob, ov], out, plan) == EXIT_OK
    assert _check(["solve", str(prob), "--catalog", str(ov), "--warm-start", str(plan), "--json", str(plan)],
                  [prob, ov, plan], out, None) == EXIT_BAD_INPUT


def test_outputs_write_through_links_and_into_pipes(tmp_path):
    """A symbolic link keeps pointing at its target, which gets the plan; a pipe or a device is written
    into, never replaced by a file (``--markdown /dev/stdout``)."""
    import os
    import threading
    out = tmp_path / "out"
    out.mkdir()
    prob, ov = tmp_path / "p.yaml", tmp_path / "ov.yaml"
    prob.write_text(_dump(PROBLEM))
    ov.write_text(_dump(OVERLAY))
    real, link = tmp_path / "real.json", out / "link.json"
    real.write_text("old")
    link.symlink_to(real)
    assert _check(["solve", str(prob), "--catalog", str(ov), "--json", str(link)], [prob, ov], out, None) == EXIT_OK
    assert link.is_symlink() and json.loads(real.read_text())["status"] == "optimal"
    if not hasattr(os, "mkfifo"):
        return
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    got = []
    reader = threading.Thread(target=lambda: got.append(pipe.read_bytes()))
    reader.start()
    assert _check(["solve", str(prob), "--catalog", str(ov), "--markdown", str(pipe)], [prob, ov], out, None) == EXIT_OK
    reader.join(30)
    assert pipe.is_fifo() and b"## Deployments" in got[0]


def test_baseline_problem_solves():
    """The fuzz base is a real, solvable problem (so mutations start from a meaningful input)."""
    import tempfile

    with tempfile.TemporaryDirectory() as t:
        prob, ov = Path(t) / "p.yaml", Path(t) / "ov.yaml"
        prob.write_text(_dump(PROBLEM))
        ov.write_text(_dump(OVERLAY))
        code, out, err = _run(["solve", str(prob), "--catalog", str(ov), "--json", str(Path(t) / "x.json")])
        assert code == EXIT_OK, err
        d = json.loads((Path(t) / "x.json").read_text())
        assert math.isclose(sum(r["requests_per_s"] for r in d["routing"]), 5.0)


def _numeric_paths(doc) -> list:
    return [p for p in _paths(doc) if p and isinstance(_get(doc, p), (int, float))
            and not isinstance(_get(doc, p), bool)]


NUMERIC_LEAVES = [p for p in _numeric_paths(PROBLEM) if p[0] != "schema_version"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_extreme_but_valid_numbers_reach_the_solver(tmp_path_factory, data):
    """Positive numbers far from the usual range reach the solver and explain, or are bad input
    where a field has a range (token counts 1 .. 1e8, demand up to 1e9 req/s, horizon up to 100
    years, percentile below 100)."""
    d, out = _fresh(tmp_path_factory)
    doc = copy.deepcopy(PROBLEM)
    chosen = data.draw(st.lists(st.sampled_from(NUMERIC_LEAVES), min_size=1, max_size=3, unique=True),
                       label="fields")
    for path in chosen:
        parent = _get(doc, path[:-1])
        parent[path[-1]] = data.draw(st.sampled_from([1e-9, 1e-4, 0.999, 1e4, 1e6, 1e9, 1e12, 1e15]),
                                     label=str(path))
    prob, ov = d / "p.yaml", d / "ov.yaml"
    prob.write_text(_dump(doc), encoding="utf-8")
    ov.write_text(_dump(OVERLAY), encoding="utf-8")
    jo = out / "plan.json"
    cmd = data.draw(st.sampled_from(["solve", "explain"]), label="command")
    _check([cmd, str(prob), "--catalog", str(ov), "--time-limit", "5", "--json", str(jo)], [prob, ov], out, jo)


EXTREMES = [1e-300, 5e-324, 1e300, 1.7976931348623157e308]


@pytest.mark.filterwarnings("error::RuntimeWarning")     # no overflow warning on stderr either
@pytest.mark.parametrize("which", ["problem", "overlay"])
def test_every_number_at_an_extreme_through_solve(tmp_path_factory, which):
    """Not drawn at random: every numeric field of the problem and of the catalog overlay, one at
    a time, at 1e-300, 5e-324, 1e300 and the largest float, through ``solve``.  Such sweeps found
    token counts, percentiles, horizons and catalog figures that passed "> 0" and then crashed
    the performance model or overflowed the model's coefficients."""
    base = PROBLEM if which == "problem" else OVERLAY
    for path in _numeric_paths(base):
        for value in EXTREMES:
            d, out = _fresh(tmp_path_factory)
            doc = copy.deepcopy(base)
            _get(doc, path[:-1])[path[-1]] = value
            prob, ov = d / "p.yaml", d / "ov.yaml"
            prob.write_text(_dump(doc if which == "problem" else PROBLEM), encoding="utf-8")
            ov.write_text(_dump(doc if which == "overlay" else OVERLAY), encoding="utf-8")
            jo = out / "plan.json"
            _check(["solve", str(prob), "--catalog", str(ov), "--time-limit", "5", "--json", str(jo)],
                   [prob, ov], out, jo)


def test_no_command_writes_over_a_file_it_read(tmp_path):
    """Every command's outputs are refused over any file it read: the catalog overlay a problem names
    itself, an overlay given with --catalog, a plan, a trace (QA found whatif, trace, simulate,
    robust, pareto and report writing over them)."""
    out = tmp_path / "out"
    out.mkdir()
    prob, ov = tmp_path / "p.yaml", tmp_path / "ov.yaml"
    ov.write_text(_dump(OVERLAY))
    prob.write_text(_dump({**PROBLEM, "catalog": ["ov.yaml"]}))
    plan, trace = out / "plan.json", out / "trace.csv"
    assert _check(["solve", str(prob), "--json", str(plan)], [prob, ov], out, plan) == EXIT_OK
    assert _check(["trace", "generate", str(prob), "-o", str(trace), "--duration", "5"], [prob, ov], out, None) == EXIT_OK
    for argv in (["whatif", str(prob), "--json", str(ov)],
                 ["trace", "generate", str(prob), "-o", str(ov)],
                 ["simulate", str(prob), str(plan), "--duration", "5", "--json", str(ov)],
                 ["simulate", str(prob), str(plan), "--duration", "5", "--json", str(plan)],
                 ["simulate", str(prob), str(plan), "--trace", str(trace), "--json", str(trace)],
                 ["robust", str(prob), "--multipliers", "1,2", "--json", str(ov)],
                 ["pareto", str(prob), "--versus", "ttft", "--points", "2", "--json", str(ov), "--no-plot"],
                 ["pareto", str(prob), "--versus", "ttft", "--points", "2", "--json", str(out / "x"),
                  "--png", str(out / "x")],
                 ["simulate", str(prob), str(plan), "--plan-out", str(out / "y.json")]):
        assert _check(argv, [prob, ov, plan, trace], out, None) == EXIT_BAD_INPUT, argv
    assert not (out / "x").exists() and not (out / "y.json").exists()
