"""Benchmark: sweeps (1 vs N worker processes, Ray, cached rerun) and Pareto fronts.

    .venv/bin/python benchmarks/bench_sweep.py [--problem problems/chat-assistant.yaml]
        [--samples 25] [--workers 2] [--ray] [--json FILE]

The sweep is ``--samples`` lognormal demand draws (median = the problem's
demand, sigma 0.4) x 2 TTFT targets of the problem's first workload, plus one
invalid demand (an error row).  Each executor starts from an empty cache in a
temporary directory; the rerun reads everything back.  Fronts: 8 points per
``--versus``, each point verified.  Wall-clock seconds on this machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from solver.explore.pareto import VERSUS, pareto_front  # noqa: E402
from solver.explore.sweep import Param, ray_available, run_sweep  # noqa: E402
from solver.problem.load import load_problem  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problem", default=str(ROOT / "problems" / "chat-assistant.yaml"))
    ap.add_argument("--samples", type=int, default=25)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--ray", action="store_true", help="also time the Ray executor (local instance)")
    ap.add_argument("--points", type=int, default=8)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    loaded = load_problem(args.problem)
    w = loaded.problem.workloads[0]
    base = f"workloads.{w.id}"
    params = [Param(f"{base}.demand.requests_per_s", dist="lognormal",
                    args=(w.demand.requests_per_s, 0.4)),
              Param(f"{base}.slo.ttft_ms", values=(w.slo.ttft_ms, w.slo.ttft_ms / 2))]
    out: dict = {"problem": loaded.problem.name, "sweep": [], "fronts": []}
    executors = [("in-process", 1, False), (f"{args.workers} processes", args.workers, False)]
    if args.ray and ray_available():
        executors.append(("ray", args.workers, True))
    for label, workers, ray in executors:
        with tempfile.TemporaryDirectory() as cache:
            t0 = time.perf_counter()
            res = run_sweep(loaded, params, samples=args.samples, seed=1, cache_dir=cache,
                            workers=workers, use_ray=ray)
            cold = time.perf_counter() - t0
            bad = run_sweep(loaded, [Param(params[0].path, values=(-1,))], cache_dir=cache, workers=1)
            t0 = time.perf_counter()
            again = run_sweep(loaded, params, samples=args.samples, seed=1, cache_dir=cache,
                              workers=workers, use_ray=ray)
            warm = time.perf_counter() - t0
        row = {"executor": label, "scenarios": len(res.rows), "seconds": round(cold, 2),
               "per_scenario_s": round(cold / len(res.rows), 3), "rerun_s": round(warm, 3),
               "rerun_cached": again.n_cached, "error_row": bad.rows[0]["status"],
               "statuses": sorted({r["status"] for r in res.rows})}
        out["sweep"].append(row)
        print(f"sweep {label:<12} {row['scenarios']} scenarios in {cold:6.2f} s "
              f"({row['per_scenario_s']:.3f} s each); rerun {warm:.3f} s, {again.n_cached} cached; "
              f"error row: {row['error_row']}")
    for versus in VERSUS:
        t0 = time.perf_counter()
        f = pareto_front(loaded, versus, points=args.points)
        dt = time.perf_counter() - t0
        row = {"versus": versus, "points": len(f.points), "solves": f.solves, "seconds": round(dt, 2),
               "monotone": f.monotone, "all_verified": all(p.verified is not False for p in f.points),
               "usd_per_month": [p.usd_per_month for p in f.points]}
        out["fronts"].append(row)
        print(f"front {versus:<8} {row['points']} points, {f.solves} solves, {dt:5.2f} s, "
              f"monotone {f.monotone}, verified {row['all_verified']}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
