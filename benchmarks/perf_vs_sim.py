"""Cross-check: the performance model's max requests/s point against the discrete-event simulator.

For each case, the model's largest rate within the targets is simulated on one replica (Poisson
arrivals, at least 60,000 requests, the first 10 % of the horizon dropped; lognormal input/output
lengths with the stated CVs, as the model assumes; the simulator's default prompt-chunk budget, 8192
tokens, which is also the model's) and the simulator's TTFT and per-request TPOT at the percentile,
the mean TPOT and the SLO attainment (both targets met) are printed next to the targets.  Run:

    .venv/bin/python benchmarks/perf_vs_sim.py [--load 1.0] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from solver.catalog import default_catalog  # noqa: E402
from solver.perf import PerfCandidate, PerfWorkload, default_params, engine_spec, evaluate  # noqa: E402
from solver.perf.model import operating_point  # noqa: E402
from solver.sim.core import simulate_replica  # noqa: E402
from solver.sim.engine import StepTable, expert_reads, prefill_marginal_ms, prefill_shape  # noqa: E402
from solver.sim.fleet import DEFAULT_PREFILL_CHUNK  # noqa: E402
from solver.sim.traffic import sample_tokens  # noqa: E402

CASES = [  # accelerator, model, quantization, TP, input, output, TTFT ms, TPOT ms, input CV, output CV, percentile
    ("h200-sxm", "llama-2-70b", "fp8", 1, 300, 290, 450, 40, 0.5, 1.0, 99),      # MLPerf interactive
    ("h100-sxm", "llama-2-70b", "fp8", 2, 300, 290, 450, 40, 0.5, 1.0, 99),
    ("h200-sxm", "llama-2-70b", "fp8", 1, 300, 290, 2000, 200, 0.5, 1.0, 99),    # MLPerf server
    ("l40s", "llama-3.1-8b", "fp8", 1, 1000, 300, 1000, 50, 0.0, 0.0, 99),
    ("h100-sxm", "llama-3.1-8b", "fp8", 1, 1000, 300, 1000, 50, 0.0, 0.0, 99),
    ("a100-80gb", "llama-3.1-8b", "bf16", 1, 1000, 300, 1000, 50, 0.0, 0.0, 99),
    ("h100-sxm", "llama-3.2-3b", "fp8", 1, 1500, 32, 300, 20, 0.5, 0.6, 99),     # code completion
    ("h100-sxm", "llama-3.1-70b", "fp8", 2, 3000, 250, 4000, 80, 0.6, 0.5, 99),  # summaries
    ("h100-sxm", "gpt-oss-20b", "fp8", 1, 16000, 400, 3000, 60, 0.4, 0.5, 90),   # long-context RAG
    ("h100-sxm", "llama-3.1-8b", "fp8", 1, 2000, 400, 1500, 40, 0.8, 0.7, 95),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--load", type=float, default=1.0, help="fraction of the model's max rate simulated")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default=None, help="only the cases whose name contains this text (e.g. gpt-oss)")
    args = ap.parse_args()
    cat, params = default_catalog(), default_params()
    print(f"{'case':62s} {'req/s':>7s} {'TTFT q':>8s} {'target':>7s} {'TPOT q':>8s} {'mean':>6s} "
          f"{'model':>6s} {'target':>7s} {'attain':>7s} {'pct':>4s}")
    for acc, mdl, q, tp, I, O, ttft, tpot, icv, ocv, pct in CASES:
        name = f"{acc} {mdl} {q} TP{tp} {I}/{O} (cv {icv}/{ocv})"
        if args.only and args.only not in name:
            continue
        cand = PerfCandidate(acc, mdl, q, tp)
        wl = PerfWorkload("w", I, O, ttft, tpot, pct, input_cv=icv, output_cv=ocv)
        cap = evaluate(cat, [cand], [wl], params)
        lam = float(cap.max_rps[0, 0]) * args.load
        if not lam > 0:
            print(f"{acc} {mdl}: infeasible ({cap.reason_text(0, 0)})")
            continue
        op = operating_point(cat, cand, wl, float(cap.batch[0, 0]), params)
        eng = engine_spec(cat, cand, params)
        rng = np.random.default_rng(args.seed)
        horizon = max(1200.0, 60_000 / lam)
        arr = np.sort(rng.uniform(0, horizon, rng.poisson(lam * horizon)))
        it = SimpleNamespace(mean=I, cv=icv, max=None, distribution="lognormal")
        ot = SimpleNamespace(mean=O, cv=ocv, max=None, distribution="lognormal")
        inp, out = sample_tokens(it, len(arr), rng), sample_tokens(ot, len(arr), rng)
        res = simulate_replica(arr, inp, out, np.asarray(eng.prefill_ms(inp)) / 1e3,
                               StepTable(eng, eng.max_batch, eng.kv_capacity_tokens), eng.kv_capacity_tokens,
                               eng.max_batch, prefill_marginal_s=prefill_marginal_ms(eng, inp) / 1e3,
                               prefill_chunk_tokens=DEFAULT_PREFILL_CHUNK, prefill_shape=prefill_shape(eng),
                               kv_reserve_tokens=eng.kv_cache_tokens(inp + out), **expert_reads(eng))
        keep = arr > 0.1 * horizon
        t_first = (res.first_token_s - arr)[keep]
        o = out[keep]
        per_req = ((res.finish_s - res.first_token_s) / np.maximum(out - 1, 1))[keep]
        multi = o > 1
        met = (t_first <= ttft / 1e3) & (~multi | (per_req <= tpot / 1e3))
        print(f"{name:62s} {lam:7.2f} {np.nanpercentile(t_first, pct) * 1e3:7.0f}ms {ttft:6g}ms "
              f"{np.nanpercentile(per_req[multi], pct) * 1e3:7.1f}ms {np.nanmean(per_req[multi]) * 1e3:6.1f} "
              f"{op['tpot_mean_ms']:6.1f} {tpot:6g}ms {100 * met.mean():6.2f}% p{pct}")


if __name__ == "__main__":
    main()
