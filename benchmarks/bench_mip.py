"""Benchmark: the MIP on every shipped example problem (and its scenarios).

    .venv/bin/python benchmarks/bench_mip.py [--scenarios] [--no-dominance] [--time-limit S]
        [--repeat N] [--markdown FILE]
    .venv/bin/python benchmarks/bench_mip.py --stress N [--time-limit S]

For each problem: model size after pruning, plan cost, the homogeneous
baseline (best single accelerator type) and the saving, solve time per
backend/solver (best of ``--repeat``) for ``pulp/cbc``, ``pulp/highs``,
``ortools/scip`` and ``highspy/reduced`` (not ``ortools/highs``: OR-Tools 9.15's
HiGHS wrapper reports the plan's objective as its bound and ignores the gap
and thread settings; nor ``highspy/highs`` and ``ortools/cbc``, the same
solvers as two of these), agreement of their
objectives, and whether the solver-free verifier accepts *each* backend's
plan (``solver.mip.pipeline.solve_problem`` once per backend, then
``solver.verify.verify_plan``; the verify column says "ok (4)" when all four
pass, else which fail).  Plan cost, status and the baseline are pulp/cbc's.
Times are wall-clock seconds of ``solver.mip.solve`` (translation + solve;
for multi-period problems the whole pipeline), single thread where the
solver allows it; coefficient building is timed separately.

``--time-limit``: every solve's limit in seconds (default: each problem's own
``solver.time_limit_s``; with ``--stress``, 120 s).  Objectives agree to the
problems' ``mip_gap`` only: ``highspy/reduced`` stops once its proof reaches
the gap, so its plan may differ from the others by up to that much.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from solver.coefficients import build_coefficients  # noqa: E402
from solver.mip import build_model, solve  # noqa: E402
from solver.mip.pipeline import homogeneous_baseline, solve_problem  # noqa: E402
from solver.problem.load import load_problem  # noqa: E402
from solver.verify import verify_plan  # noqa: E402

SOLVERS = [("pulp", "cbc"), ("pulp", "highs"), ("ortools", "scip"), ("highspy", "reduced")]


def bench(path: Path, scenario, repeat: int, dominance: bool, baseline: bool,
          time_limit_s: float | None = None) -> dict:
    lp = load_problem(path, scenario=scenario)
    p = lp.problem
    limit = p.solver.time_limit_s if time_limit_s is None else time_limit_s
    row = {"problem": path.stem + (f" [{scenario}]" if scenario else ""), "times": {},
           "objectives": {}}
    if p.objective.periods is None:
        t0 = time.perf_counter()
        k = build_coefficients(p, lp.catalog, dominance=dominance)
        row["coef_s"] = time.perf_counter() - t0
        model = build_model(k)
        row.update(vars=model.n_vars, ints=int(model.is_int.sum()), rows=model.n_rows)
    for backend, name in SOLVERS:
        best = None
        for _ in range(repeat):
            if p.objective.periods is None:
                r = solve(model, backend, name, time_limit_s=limit, mip_gap=p.solver.mip_gap, threads=1)
                sec, status, obj = r.seconds, r.status, r.objective
            else:   # multi-period: the whole pipeline (its own model)
                sp = solve_problem(lp, backend=backend, solver=name, time_limit_s=limit, threads=1)
                sec, status, obj = sp.plan.solver.seconds, sp.plan.status, sp.plan.objective.total
                row.update(vars=sp.plan.solver.variables, ints="?", rows=sp.plan.solver.constraints)
            best = sec if best is None else min(best, sec)
        row["times"][f"{backend}/{name}"] = best
        row["objectives"][f"{backend}/{name}"] = obj if status == "optimal" else status
    # every backend's plan through the pipeline and the verifier
    verdicts, s = {}, None
    for backend, name in SOLVERS:
        sp = solve_problem(lp, backend=backend, solver=name, time_limit_s=limit, threads=1)
        if (backend, name) == SOLVERS[0]:
            s = sp
        if sp.plan.status in ("optimal", "time_limit"):
            rep = verify_plan(p, lp.catalog, json.loads(sp.plan.to_json()))
            verdicts[f"{backend}/{name}"] = "ok" if rep.ok else f"{len(rep.violations)} violations"
        else:
            verdicts[f"{backend}/{name}"] = f"no plan ({sp.plan.status})"
    bad = {k: v for k, v in verdicts.items() if v != "ok"}
    row["verify"] = f"ok ({len(verdicts)})" if not bad else "; ".join(f"{k}: {v}" for k, v in bad.items())
    row["status"] = s.plan.status
    row["cost"] = s.plan.objective.total
    if s.plan.status in ("optimal", "time_limit"):
        if baseline:
            b = homogeneous_baseline(lp, s.plan.objective.total, backend="pulp", solver="cbc")
            row["baseline"] = b["best_total_usd"]
            row["baseline_acc"] = b["best_accelerator"]
            row["saving"] = b["saving_percent"]
    objs = [v for v in row["objectives"].values() if isinstance(v, float)]
    row["max_rel_diff"] = (max(objs) - min(objs)) / max(abs(max(objs)), 1e-9) if objs else None
    return row


def fmt(rows: list[dict]) -> str:
    head = ("| problem | vars (int) / rows | status | plan cost USD | best single type | baseline USD | "
            "saving % | " + " | ".join(f"{b}/{s} s" for b, s in SOLVERS) + " | backends rel. diff | verify |")
    out = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        times = " | ".join(f"{r['times'][f'{b}/{s}']:.2f}" for b, s in SOLVERS)
        cost = f"{r['cost']:,.0f}" if r.get("cost") is not None else "-"
        base = f"{r['baseline']:,.0f}" if r.get("baseline") is not None else "-"
        sav = f"{r['saving']:.1f}" if r.get("saving") is not None else "-"
        diff = f"{r['max_rel_diff']:.1e}" if r.get("max_rel_diff") is not None else "-"
        out.append(f"| {r['problem']} | {r['vars']} ({r['ints']}) / {r['rows']} | {r['status']} | {cost} | "
                   f"{r.get('baseline_acc') or '-'} | {base} | {sav} | {times} | {diff} | {r.get('verify', '-')} |")
    return "\n".join(out)


def stress(n: int, time_limit_s: float) -> None:
    """A synthetic full-catalog problem: n random workloads, every accelerator, region and mode."""
    import numpy as np

    from solver.problem.load import load_problem_text

    rng = np.random.default_rng(1)
    wl = "".join(
        f"  - id: w{i}\n"
        f"    demand: {{requests_per_s: {int(rng.integers(1, 60))}}}\n"
        f"    input_tokens: {{mean: {int(rng.integers(100, 8000))}}}\n"
        f"    output_tokens: {{mean: {int(rng.integers(20, 1000))}}}\n"
        f"    slo: {{ttft_ms: {int(rng.choice([500, 1000, 3000, 20000]))}, "
        f"tpot_ms: {int(rng.choice([25, 50, 100, 200]))}}}\n"
        f"    quality: {{min_score: {int(rng.integers(60, 86))}, "
        f"mode: {rng.choice(['per_request', 'mean'])}}}\n" for i in range(n))
    text = (f"schema_version: 1\nname: stress-{n}\nworkloads:\n{wl}fleet:\n"
            "  acquisition: [on_demand, spot, reserved_1y, reserved_3y, purchase]\n"
            "  max_spot_share: 0.3\nobjective: {horizon_months: 12, carbon_usd_per_tonne: 50}\n")
    lp = load_problem_text(text, file=f"stress-{n}.yaml")
    t = time.perf_counter()
    k = build_coefficients(lp.problem, lp.catalog)
    tc = time.perf_counter() - t
    m = build_model(k)
    print(f"stress n={n}: coefficients {tc:.2f} s, {m.n_vars} vars ({int(m.is_int.sum())} integer), "
          f"{m.n_rows} rows, {k.n_c} candidates, {k.n_o} offers")
    for backend, name in SOLVERS:
        r = solve(m, backend, name, time_limit_s=time_limit_s, mip_gap=1e-4)
        gap = f"{r.gap:.2%}" if r.gap is not None else "n/a"
        print(f"  {backend}/{name}: {r.status} {r.objective} in {r.seconds:.1f} s, gap {gap}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenarios", action="store_true", help="also every scenario of every problem")
    ap.add_argument("--no-dominance", action="store_true", help="solve without dominance pruning")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--markdown", default=None)
    ap.add_argument("--stress", type=int, default=0, metavar="N",
                    help="instead: a synthetic full-catalog problem with N workloads")
    ap.add_argument("--time-limit", type=float, default=None,
                    help="seconds per solve (default: each problem's own limit; --stress: 120)")
    args = ap.parse_args()
    if args.stress:
        stress(args.stress, 120.0 if args.time_limit is None else args.time_limit)
        return
    rows = []
    for path in sorted((ROOT / "problems").glob("*.yaml")):
        scen = [None]
        if args.scenarios:
            scen += [s.name for s in load_problem(path).problem.scenarios]
        for sc in scen:
            rows.append(bench(path, sc, args.repeat, not args.no_dominance, not args.no_baseline,
                              args.time_limit))
            print(fmt(rows[-1:]).splitlines()[-1], flush=True)
    text = fmt(rows)
    print()
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")


if __name__ == "__main__":
    main()
