"""Benchmark: (candidate x workload) capacity evaluations per second on one core.

Run pinned to one core with single-threaded BLAS:

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 taskset -c 0 .venv/bin/python benchmarks/bench_perf.py

Candidates are every (accelerator, model, quantization, TP in 1/2/4/8) of the
shipped catalog (infeasible ones included: the MIP asks for them too);
workloads are random request shapes and SLOs (fixed seed).  Prints the best of
``--repeat`` timings of one ``evaluate`` call, in pairs per second: cold (the
per-candidate terms recomputed) and warm (memoised on the catalog object, as in
sweeps that call ``evaluate`` repeatedly); wall time and, for a shared machine,
the process's CPU time.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from solver.catalog import default_catalog  # noqa: E402
from solver.perf import PerfCandidate, PerfWorkload, evaluate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workloads", type=int, default=400)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    cat = default_catalog()
    cands = [PerfCandidate(a, m, q, tp) for a in cat.accelerators for m in cat.models
             for q in cat.quantization for tp in (1, 2, 4, 8)]
    rng = np.random.default_rng(0)
    wls = [PerfWorkload(f"w{i}", float(rng.integers(50, 8000)), float(rng.integers(20, 2000)),
                        float(rng.choice([200, 500, 1000, 2000, 5000])), float(rng.choice([20, 40, 80, 150])),
                        99.0, input_cv=float(rng.uniform(0, 1)))
           for i in range(args.workloads)]
    evaluate(cat, cands[:10], wls[:10])  # warm-up (imports, parameter file)
    cold = warm = cold_cpu = warm_cpu = float("inf")
    for _ in range(args.repeat):
        cat.__dict__.pop("_perf_terms_cache", None)       # cold: per-candidate terms recomputed
        t0, c0 = time.perf_counter(), time.process_time()
        cap = evaluate(cat, cands, wls)
        cold, cold_cpu = min(cold, time.perf_counter() - t0), min(cold_cpu, time.process_time() - c0)
        t0, c0 = time.perf_counter(), time.process_time()
        evaluate(cat, cands, wls)                          # warm: terms memoised on the catalog
        warm, warm_cpu = min(warm, time.perf_counter() - t0), min(warm_cpu, time.process_time() - c0)
    pairs = len(cands) * len(wls)
    feasible = float((cap.max_rps > 0).mean())
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    print(f"candidates {len(cands)} x workloads {len(wls)} = {pairs:,} pairs; feasible {feasible:.1%}")
    print(f"cores allowed: {len(affinity) if affinity else '?'}; best of {args.repeat}: "
          f"cold {cold:.3f} s, warm {warm:.3f} s")
    print(f"evaluations per second: {pairs / cold:,.0f} (cold), {pairs / warm:,.0f} (warm, terms memoised)")
    # CPU time of this process: what one core delivers when other work shares it (wall time above)
    print(f"evaluations per CPU-second: {pairs / cold_cpu:,.0f} (cold), {pairs / warm_cpu:,.0f} (warm)")


if __name__ == "__main__":
    main()
