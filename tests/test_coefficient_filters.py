"""Which (candidate, workload) pairs the coefficient builder keeps, and why it drops the others.

The pair filters run in a fixed order (the workload's models, its quantizations, its regions, its
per-request quality target, then capacity within its SLOs) and each dropped pair is counted once,
under the first filter it fails: `fleetopt explain` and the solve summary print these counts.

The fixture has 8 raw candidates, counted by hand: two one-device H100 offers (Texas, Virginia) x
TP 1 x the two models any workload allows (llama-3.1-8b, qwen2.5-7b) x the two quantizations any
workload allows (bf16, fp8; both run on Hopper).
"""

from __future__ import annotations

from solver.coefficients import build_coefficients
from solver.problem.load import load_problem_text

PROBLEM = """
schema_version: 1
name: filters
workloads:
  - id: open                  # every filter passes: 8 pairs
    demand: {requests_per_s: 5}
    input_tokens: {mean: 500}
    output_tokens: {mean: 100}
    slo: {ttft_ms: 2000, tpot_ms: 100}
    models: [llama-3.1-8b, qwen2.5-7b]
    quantizations: [bf16, fp8]
  - id: pinned                # qwen x4 (model), llama bf16 x2 (quantization), llama fp8 Virginia x1 (region)
    demand: {requests_per_s: 5}
    input_tokens: {mean: 500}
    output_tokens: {mean: 100}
    slo: {ttft_ms: 2000, tpot_ms: 100}
    models: [llama-3.1-8b]
    quantizations: [fp8]
    regions: [texas]
  - id: picky                 # qwen x4 (model), llama fp8 x2 (per-request quality: 73 x 0.995 = 72.6 < 72.8)
    demand: {requests_per_s: 5}
    input_tokens: {mean: 500}
    output_tokens: {mean: 100}
    slo: {ttft_ms: 2000, tpot_ms: 100}
    models: [llama-3.1-8b]
    quantizations: [bf16, fp8]
    quality: {min_score: 72.8, mode: per_request}
  - id: hasty                 # qwen x4 (model), llama fp8 x2 (quantization), llama bf16 x2 (no capacity: 1 ms TPOT)
    demand: {requests_per_s: 5}
    input_tokens: {mean: 500}
    output_tokens: {mean: 100}
    slo: {ttft_ms: 2000, tpot_ms: 1}
    models: [llama-3.1-8b]
    quantizations: [bf16]
fleet:
  regions: [texas, virginia]
  accelerators: [h100-sxm]
  tensor_parallel: [1]
  catalog_offers: false
  offers:
    - {accelerator: h100-sxm, region: texas, usd_per_device_hour: 2.0}
    - {accelerator: h100-sxm, region: virginia, usd_per_device_hour: 3.0}
objective: {horizon_months: 1}
"""


def _coefficients():
    lp = load_problem_text(PROBLEM)
    return build_coefficients(lp.problem, lp.catalog, dominance=False)


def test_each_dropped_pair_is_counted_under_the_first_filter_it_fails():
    k = _coefficients()
    by_wl = k.pruned_by_workload
    assert by_wl["open"] == {"model_filter": 0, "quantization_filter": 0, "region_filter": 0,
                             "quality_per_request": 0, "no_capacity": 0}
    assert by_wl["pinned"] == {"model_filter": 4, "quantization_filter": 2, "region_filter": 1,
                               "quality_per_request": 0, "no_capacity": 0}
    assert by_wl["picky"] == {"model_filter": 4, "quantization_filter": 0, "region_filter": 0,
                              "quality_per_request": 2, "no_capacity": 0}
    assert by_wl["hasty"] == {"model_filter": 4, "quantization_filter": 2, "region_filter": 0,
                              "quality_per_request": 0, "no_capacity": 2}
    totals = {r: k.pruned[r] for r in ("model_filter", "quantization_filter", "region_filter",
                                       "quality_per_request", "no_capacity")}
    assert totals == {"model_filter": 12, "quantization_filter": 4, "region_filter": 1,
                      "quality_per_request": 2, "no_capacity": 2}


def test_the_pairs_kept_are_those_every_filter_passes_in_candidate_order():
    k = _coefficients()
    pairs = [(k.workloads[w], k.candidates[c].model, k.candidates[c].quantization,
              k.offers[k.candidates[c].offer].region) for w, c in zip(k.pair_w, k.pair_c)]
    assert len(pairs) == 11                      # 8 of "open", 1 of "pinned", 2 of "picky"
    assert [p for p in pairs if p[0] == "pinned"] == [("pinned", "llama-3.1-8b", "fp8", "texas")]
    assert sorted(p for p in pairs if p[0] == "picky") == [("picky", "llama-3.1-8b", "bf16", r)
                                                           for r in ("texas", "virginia")]
    assert sorted(p[1:] for p in pairs if p[0] == "open") == sorted(
        (m, q, r) for m in ("llama-3.1-8b", "qwen2.5-7b") for q in ("bf16", "fp8")
        for r in ("texas", "virginia"))
    # pairs grouped by candidate, candidates in order, workloads in problem order within one
    keys = list(zip(k.pair_c, k.pair_w))
    assert keys == sorted(keys)
    # every candidate kept serves some workload, and its arrays line up with its pairs
    assert set(k.pair_c) == set(range(k.n_c))
    assert len(k.cand_idle_w) == k.n_c
    assert (k.pair_cap_rps > 0).all()
