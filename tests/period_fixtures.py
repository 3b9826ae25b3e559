"""Shared catalog text of the multi-period tests written from the QA's procurement problems.

One purchasable A100 in round figures (8,760 USD, i.e. 1 USD an hour for a year; a life of 5 years;
10 % a year upkeep; 0.1 USD/h hosting) and two regions of different energy price and PUE, so that
costs per period can be derived by hand.  Also the helpers the per-period limit and price tests share:
solve one problem on every stack and check each plan, and run the decomposition alone.
"""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from solver.mip.decompose import DecompositionStats, not_decomposable, solve_decomposed
from solver.mip.periods import build_period_model
from solver.mip.pipeline import solve_problem
from solver.periods import build_period_spec
from solver.periods_plan import period_coefficients
from solver.problem.load import load_problem
from solver.verify import verify_plan

#: one chat workload at 20 req/s of fixed lengths and an A100 measured at 10 req/s a replica (300 W): the
#: small problems whose optima the per-period limit and price tests derive by hand (deep-copy before use)
MEASURED_CHAT = {
    "workloads": [{
        "id": "chat", "demand": {"requests_per_s": 20},
        "input_tokens": {"mean": 500, "p90": 500, "max": 500, "distribution": "fixed"},
        "output_tokens": {"mean": 100, "p90": 100, "max": 100, "distribution": "fixed"},
        "slo": {"ttft_ms": 5000, "tpot_ms": 200, "percentile": 99},
        "models": ["llama-3.1-8b"], "quantizations": ["bf16"]}],
    "measurements": [{"accelerator": "a100-80gb", "model": "llama-3.1-8b", "quantization": "bf16",
                      "tensor_parallel": 1, "workload": "chat", "max_requests_per_s": 10, "power_w": 300}],
}

#: (backend, solver, within_period): the whole MIP on two stacks, and the decomposition by period
STACKS = [("pulp", "cbc", "slices"), ("highspy", "highs", "slices"), ("highspy", "reduced", "peak")]


def load_with_overlay(tmp_path, doc: dict, overlay: str, name: str = "p"):
    """``doc`` written beside the catalog overlay ``cat.yaml`` (text ``overlay``) and loaded."""
    (tmp_path / "cat.yaml").write_text(overlay)
    (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_problem(tmp_path / f"{name}.yaml")


def solve_on_every_stack(tmp_path, doc: dict, expect: float, overlay: str) -> dict:
    """Solve ``doc`` on every stack of STACKS: each the optimum ``expect``, each plan verified.
    Returns the pulp/cbc plan (a dict, as `solve --json` writes it)."""
    plans = {}
    for backend, name, within in STACKS:
        d = copy.deepcopy(doc)
        d["objective"]["periods"]["within_period"] = within
        lp = load_with_overlay(tmp_path, d, overlay, f"{backend}-{name}")
        res = solve_problem(lp, backend=backend, solver=name, mip_gap=1e-9, time_limit_s=60)
        plan = json.loads(res.plan.to_json())
        assert plan["status"] == "optimal", (backend, name, plan.get("message"))
        assert plan["objective"]["total"] == pytest.approx(expect, rel=1e-9), (backend, name)
        rep = verify_plan(lp.problem, lp.catalog, plan)
        assert rep.ok, (backend, name, [(v.kind, v.where, v.message) for v in rep.violations])
        plans[name] = plan
    return plans["cbc"]


def decomposed_stats(tmp_path, doc: dict, overlay: str) -> DecompositionStats:
    """The decomposition by period (within_period: peak) run on ``doc``, for its per-period figures."""
    d = copy.deepcopy(doc)
    d["objective"]["periods"]["within_period"] = "peak"
    lp = load_with_overlay(tmp_path, d, overlay, "decomposed")
    k = period_coefficients(lp)
    spec = build_period_spec(lp.problem, lp.catalog, k)
    assert not_decomposable(k, spec) is None
    model, v = build_period_model(k, spec)
    st = DecompositionStats()
    res = solve_decomposed(k, spec, model, v, time_limit_s=30, mip_gap=1e-9, threads=1, stats=st)
    assert res.status == "optimal", res.message
    return st

A100_OVERLAY = """schema_version: 1
accelerators:
- id: a100-80gb
  purchase: {{usd_per_device: {{value: 8760, source: test}}, devices_per_server: {per_server},
             useful_life_years: {{value: {life}, source: test}}, maintenance_fraction_per_year: {{value: {upkeep}, source: test}},
             hosting_usd_per_device_hour: {{value: {hosting}, source: test}}, lead_time_quarters: {lead}}}
regions:
- id: virginia
  electricity_usd_per_kwh: {{value: 0.1, source: test}}
  pue: {{value: 1.5, source: test}}
- id: texas
  electricity_usd_per_kwh: {{value: 0.08, source: test}}
  pue: {{value: 1.25, source: test}}
sources: {{test: {{title: test figures}}}}
"""


def a100_overlay(lead_quarters: int = 1, devices_per_server: int = 2, life_years: float = 5,
                 maintenance_per_year: float = 0.1, hosting_usd_per_hour: float = 0.1) -> str:
    """The overlay text with the purchase terms given (the defaults: the QA's procurement problems)."""
    return A100_OVERLAY.format(lead=lead_quarters, per_server=devices_per_server, life=life_years,
                               upkeep=maintenance_per_year, hosting=hosting_usd_per_hour)


#: one chat workload in Virginia served by 8B on A100s measured at 10 req/s and 300 W a replica
#: (``demand``: its YAML flow mapping), as the QA's procurement problems have it
A100_CHAT = """workloads:
  - id: chat
    demand: {demand}
    input_tokens: {{mean: 500, p90: 500, max: 500, distribution: fixed}}
    output_tokens: {{mean: 100, p90: 100, max: 100, distribution: fixed}}
    slo: {{ttft_ms: 5000, tpot_ms: 200, percentile: 99}}
    models: [llama-3.1-8b]
    regions: [virginia]
    quantizations: [bf16]
measurements:
  - {{accelerator: a100-80gb, model: llama-3.1-8b, quantization: bf16, tensor_parallel: 1, workload: chat,
     max_requests_per_s: 10, power_w: 300}}
"""

#: the growing, daily-profiled demand of those problems' four quarters
QUARTERS_DEMAND = ("{requests_per_s: 40, growth: [1, 1.25, 1.5, 2], profile: [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, "
                   "0.5, 0.5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5]}")


def a100_chat(demand: str = QUARTERS_DEMAND) -> str:
    """The workloads and measurements sections with ``demand``."""
    return A100_CHAT.format(demand=demand)
