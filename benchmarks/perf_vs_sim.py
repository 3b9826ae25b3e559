"""Cross-check: the performance model's max requests/s point against the discrete-event simulator.

For each case, the model's largest rate within the targets is simulated (Poisson arrivals for
1,200 s, first 120 s dropped; gamma input/output lengths with the stated CVs; the simulator's
prompt-chunk budget set to the model's choice) and the simulator's p99 TTFT and p99 per-request
TPOT are printed next to the targets.  Run:

    .venv/bin/python benchmarks/perf_vs_sim.py
"""

from __future__ import annotations

import numpy as np

from solver.catalog import default_catalog
from solver.perf import PerfCandidate, PerfWorkload, default_params, engine_spec, evaluate
from solver.perf.model import operating_point
from solver.sim.core import simulate_replica
from solver.sim.engine import StepTable, prefill_marginal_ms, prefill_shape

CASES = [  # accelerator, model, quantization, TP, input, output, TTFT ms, TPOT ms, input CV, output CV
    ("h200-sxm", "llama-2-70b", "fp8", 1, 300, 290, 450, 40, 0.5, 1.0),
    ("h100-sxm", "llama-2-70b", "fp8", 2, 300, 290, 450, 40, 0.5, 1.0),
    ("h200-sxm", "llama-2-70b", "fp8", 1, 300, 290, 2000, 200, 0.5, 1.0),
    ("l40s", "llama-3.1-8b", "fp8", 1, 1000, 300, 1000, 50, 0.0, 0.0),
    ("h100-sxm", "llama-3.1-8b", "fp8", 1, 1000, 300, 1000, 50, 0.0, 0.0),
    ("a100-80gb", "llama-3.1-8b", "bf16", 1, 1000, 300, 1000, 50, 0.0, 0.0),
]
HORIZON_S = 1200.0
WARMUP_S = 120.0


def _lengths(rng, mean, cv, n):
    if cv == 0:
        return np.full(n, float(mean))
    k = 1.0 / cv ** 2
    return np.maximum(2.0, np.round(rng.gamma(k, mean / k, n)))


def main() -> None:
    cat, params = default_catalog(), default_params()
    rng = np.random.default_rng(0)
    print(f"{'case':58s} {'req/s':>7s} {'TTFT p99':>9s} {'target':>7s} {'TPOT p99':>9s} {'mean':>6s} {'target':>7s}")
    for acc, mdl, q, tp, I, O, ttft, tpot, icv, ocv in CASES:
        cand = PerfCandidate(acc, mdl, q, tp)
        wl = PerfWorkload("w", I, O, ttft, tpot, input_cv=icv, output_cv=ocv)
        cap = evaluate(cat, [cand], [wl], params)
        lam = float(cap.max_rps[0, 0])
        op = operating_point(cat, cand, wl, float(cap.batch[0, 0]), params)
        eng = engine_spec(cat, cand, params)
        n = int(lam * HORIZON_S)
        arr = np.sort(rng.uniform(0, HORIZON_S, n))
        inp = np.maximum(1.0, np.round(_lengths(rng, I, icv, n)))
        out = _lengths(rng, O, ocv, n)
        res = simulate_replica(arr, inp, out, np.asarray(eng.prefill_ms(inp)) / 1e3,
                               StepTable(eng, eng.max_batch, eng.kv_capacity_tokens), eng.kv_capacity_tokens,
                               eng.max_batch, prefill_marginal_s=prefill_marginal_ms(eng, inp) / 1e3,
                               prefill_chunk_tokens=int(round(op["prefill_chunk_tokens"])),
                               prefill_shape=prefill_shape(eng))
        keep = arr > WARMUP_S
        t_first = (res.first_token_s - arr)[keep]
        per_req = ((res.finish_s - res.first_token_s) / np.maximum(out - 1, 1))[keep & (out > 1)]
        name = f"{acc} {mdl} {q} TP{tp} {I}/{O} (cv {icv}/{ocv})"
        print(f"{name:58s} {lam:7.2f} {np.nanpercentile(t_first, 99) * 1e3:8.0f}ms {ttft:6g}ms "
              f"{np.nanpercentile(per_req, 99) * 1e3:8.1f}ms {np.nanmean(per_req) * 1e3:5.1f} {tpot:6g}ms")


if __name__ == "__main__":
    main()
