"""`fleetopt perf` with a problem workload's figures gives the capacity the solver uses (QA: perf had no
output-length flags and its input cv defaulted to 0 while a problem's token counts default to lognormal
cv 0.5, so L4 / llama-3.1-8b / fp8 printed 1.81 req/s against the plan's 1.749)."""

from __future__ import annotations

import json

import pytest

from solver.cli import main
from solver.coefficients import build_coefficients
from solver.problem.load import load_problem_text

PROBLEM = """
schema_version: 1
name: parity
workloads:
  - id: w
    demand: {{requests_per_s: 6}}
    input_tokens: {inp}
    output_tokens: {out}
    slo: {slo}
    models: [llama-3.1-8b]
    quantizations: [fp8]
fleet:
  regions: [virginia]
  accelerators: [l4]
  acquisition: [on_demand]
  tensor_parallel: [1]
objective: {{horizon_months: 1}}
"""

PERF = ["perf", "--accelerator", "l4", "--model", "llama-3.1-8b", "--quantization", "fp8", "--json"]

CASES = [
    # the problem says nothing about the spread: lognormal cv 0.5 both ways, p99, no p90s
    ("{mean: 800}", "{mean: 200}", "{ttft_ms: 1500, tpot_ms: 60}",
     ["--input-tokens", "800", "--output-tokens", "200", "--ttft-ms", "1500", "--tpot-ms", "60"]),
    # every field given
    ("{mean: 1000, p90: 2500, distribution: lognormal, cv: 0.8}",
     "{mean: 250, p90: 600, distribution: exponential}", "{ttft_ms: 2000, tpot_ms: 70, percentile: 95}",
     ["--input-tokens", "1000", "--input-p90", "2500", "--input-cv", "0.8", "--output-tokens", "250",
      "--output-p90", "600", "--output-distribution", "exponential", "--ttft-ms", "2000", "--tpot-ms", "70",
      "--percentile", "95"]),
    ("{mean: 600, distribution: fixed}", "{mean: 150, cv: 1.2}", "{ttft_ms: 1200, tpot_ms: 65}",
     ["--input-tokens", "600", "--input-distribution", "fixed", "--output-tokens", "150", "--output-cv", "1.2",
      "--ttft-ms", "1200", "--tpot-ms", "65"]),
]


@pytest.mark.parametrize("inp,out,slo,flags", CASES)
def test_perf_prints_the_solvers_pair_capacity(inp, out, slo, flags, capsys):
    loaded = load_problem_text(PROBLEM.format(inp=inp, out=out, slo=slo))
    k = build_coefficients(loaded.problem, loaded.catalog)
    assert len(k.pair_cap_rps) == 1 and k.pair_cap_rps[0] > 0
    assert main(PERF + flags) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["max_rps"] == pytest.approx(float(k.pair_cap_rps[0]), rel=1e-12)
    assert d["ttft_ms"] == pytest.approx(float(k.pair_ttft_ms[0]), rel=1e-12)
    assert d["power_w"] == pytest.approx(float(k.pair_power_w[0]), rel=1e-12)


def test_perf_refuses_a_cv_that_contradicts_the_distribution(capsys):
    base = PERF + ["--input-tokens", "800", "--output-tokens", "200"]
    assert main(base + ["--output-distribution", "fixed", "--output-cv", "0.5"]) == 2
    err = capsys.readouterr().err
    assert "--output-cv 0.5 contradicts --output-distribution fixed" in err
    assert main(base + ["--input-distribution", "exponential", "--input-cv", "1"]) == 0   # its own cv: fine
    capsys.readouterr()
    assert main(base + ["--input-cv", "11", "--output-p90", "50"]) == 2
    err = capsys.readouterr().err
    assert "--input-cv must be between 0 and 10" in err and "--output-p90 50 is implausibly below" in err


INFEASIBLE = """
schema_version: 1
name: unservable
workloads:
  - id: chat
    demand: {requests_per_s: 5}
    input_tokens: {mean: 1000, p90: 2500, max: 8000}
    output_tokens: {mean: 250, p90: 600, max: 2048}
    slo: {ttft_ms: 800, tpot_ms: 60, percentile: 99}
    models: [llama-3.1-8b, qwen2.5-7b]
    quantizations: [fp8, bf16]
fleet:
  regions: [virginia]
  accelerators: [a10g]
  acquisition: [on_demand]
  tensor_parallel: [1]
objective: {horizon_months: 1}
"""


def test_infeasible_message_names_the_perf_command_that_reproduces_the_solvers_figure(capsys):
    # QA: the message said "`fleetopt perf` shows why a deployment cannot serve", and perf with the
    # workload's figures and its defaults printed 0.285 req/s (input cv 0, no answer spread)
    import re
    import shlex

    from solver.explain import diagnose_workloads
    from solver.mip.pipeline import solve_problem

    loaded = load_problem_text(INFEASIBLE)
    plan = solve_problem(loaded).plan
    assert plan.status == "infeasible"
    m = re.search(r"chat: `(fleetopt perf [^`]*)`", plan.message)
    assert m, plan.message
    argv = shlex.split(m.group(1))[1:]
    assert main(argv + ["--json"]) == 3
    d = json.loads(capsys.readouterr().out)
    near = diagnose_workloads(loaded.problem, loaded.catalog)[0].nearest
    assert d["candidate"] == {"accelerator": near.accelerator, "model": near.model,
                              "quantization": near.quantization, "tensor_parallel": near.tensor_parallel}
    assert "TTFT target is below the TTFT at the lightest load" in d["reason"]
    assert d["lightest_load"]["ttft_ms"] == pytest.approx(near.ttft_ms, rel=1e-12)
    assert d["lightest_load"]["tpot_ms"] == pytest.approx(near.tpot_ms, rel=1e-12)
    # the binding prompt: lognormal cv 0.5 has sigma^2 = ln 1.25, so its p99 is
    # 1000 exp(0.47238 x 2.32635 - 0.11157) = 2,684 tokens (hand calculation), above the 800 ms target
    # (1,000 ms until the input embedding's FLOPs left the prefill, 2026-12-07: a 7% shorter prefill)
    assert d["lightest_load"]["percentile_input_tokens"] == pytest.approx(2684, abs=1)
    assert d["lightest_load"]["percentile_prefill_ms"] > 800 > d["prefill_ms_batch1"]
    assert main(argv) == 3
    assert "a p99 prompt has 2,684 tokens" in capsys.readouterr().out
