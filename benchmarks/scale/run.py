"""Run the scale ladder: per rung and backend, model size, build time, solve time, gap, peak memory.

    .venv/bin/python benchmarks/scale/run.py [--rungs S M L] [--backends pulp/cbc ortools/highs]
        [--budget-s 60] [--gap 0.005] [--seed 7] [--markdown FILE] [--json FILE]

Every (rung, backend) runs in a fresh process so that its peak memory is that run's
own.  ``peak_rss_mb`` is the larger of two ``ru_maxrss`` figures of that process:
its own (``RUSAGE_SELF``: Python, the model, and every solver that runs in-process:
HiGHS, SCIP, OR-Tools) and that of the largest subprocess it waited for
(``RUSAGE_CHILDREN``: the CBC binary that pulp runs, which ``RUSAGE_SELF`` never
sees).  It is a maximum, not a sum: while CBC runs the Python process is alive too,
so the machine's true peak can be up to the sum of the two (both are in the
``--json`` rows, ``peak_rss_self_mb`` and ``peak_rss_children_mb``).  Rows measured
before this (up to 2026-12-07, commit ``10a2e20``) report ``RUSAGE_SELF`` only, so
their pulp/cbc figures leave CBC out.  Times are wall-clock seconds:

* ``coef_s``   problem -> coefficient arrays (performance model, filters, dominance pruning)
* ``model_s``  coefficients -> backend-neutral LinearModel
* ``solve_s``  ``solver.mip.backends.solve``: translation to the backend's API + the solver
* ``total_s``  load + coef + model + solve

* ``wall_s``   the runner's own clock around the whole child process (interpreter
  start and imports included); the only time a killed run has

The solver's time limit is the budget minus the time already spent on
loading and building, so ``total_s`` stays within ``--budget-s`` plus whatever
the solver overruns its own limit by (translation, which its clock does not see;
some HiGHS versions keep going in presolve).  The gap is the solver's proven
relative gap |objective - bound| / |objective|.

The runner stops a child that has not finished after 3 x budget + 120 s (a hard
wall against a solver that ignores its limit).  Row statuses:

* ``optimal``, ``time_limit``, ``infeasible``: the solver's (``solver.mip.status``)
* ``no_plan``: the solver stopped at its time limit without any plan (the backends
  report this as ``error`` with "time limit (...) reached before any feasible plan";
  the row keeps that text in ``message``)
* ``error``: any other solver failure; ``message`` says what
* ``killed``: stopped by the runner's wall; ``wall_s`` is when, nothing else was measured
* ``crashed``: the child died without a result; ``message`` has the end of its output

A backend name that ``solver.mip.backends`` does not know is refused before
anything runs (exit status 2).

``highspy/reduced`` is :mod:`solver.mip.reduced` (column generation for the LP
bound, reduced-cost fixing, HiGHS on the survivors; its gap is proven for the
full model); ``highspy/highs`` passes the whole MIP to HiGHS as arrays.

Rungs with quarters (S-8Q, M-8Q, M+-8Q, XL) use the multi-period model, as ``fleetopt
solve`` does (``highspy/reduced`` decomposes it by period,
:mod:`solver.mip.decompose`).  XL is the 8-quarter L plan under 10 demand
scenarios, each solved as its own plan (a scenario sweep) with budget / 10;
times are summed, the reported gap is the worst scenario's and ``--json``
keeps every scenario's row.  ``--scenarios`` picks some of them (each then
still gets budget / 10).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

BACKENDS = ["pulp/cbc", "pulp/highs", "ortools/scip", "ortools/highs", "highspy/highs", "highspy/reduced"]


def run_one(problem_file: str, backend: str, budget_s: float, gap: float, scenario=None,
            threads=None) -> dict:
    """Load, build and solve once in this process; return the measurements."""
    from solver.coefficients import build_coefficients
    from solver.mip.backends import solve
    from solver.mip.formulation import build_model
    from solver.problem.load import load_problem

    t0 = time.perf_counter()
    lp = load_problem(problem_file, scenario=scenario)
    t1 = time.perf_counter()
    be, name = backend.split("/")
    if lp.problem.objective.periods is None:
        k = build_coefficients(lp.problem, lp.catalog)
        t2 = time.perf_counter()
        model = build_model(k)
        t3 = time.perf_counter()
        left = max(1.0, budget_s - (t3 - t0))
        res = solve(model, be, name, time_limit_s=left, mip_gap=gap, threads=threads)
    else:       # the multi-period model, as `fleetopt solve` builds and solves it
        from solver.mip.periods import build_period_model
        from solver.periods import build_period_spec
        from solver.periods_plan import period_coefficients, solve_period_model

        k = period_coefficients(lp)
        spec = build_period_spec(lp.problem, lp.catalog, k)
        t2 = time.perf_counter()
        model, v = build_period_model(k, spec)
        t3 = time.perf_counter()
        left = max(1.0, budget_s - (t3 - t0))
        res = solve_period_model(k, spec, model, v, backend=be, solver_name=name, time_limit_s=left,
                                 mip_gap=gap, threads=threads)
    t4 = time.perf_counter()
    # ru_maxrss is in KiB on Linux; RUSAGE_CHILDREN covers the CBC binary pulp runs (a subprocess)
    self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    children_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    status = res.status
    if status == "error" and res.message.startswith("time limit ("):
        status = "no_plan"      # solver.mip.backends.solve's wording for "stopped without any plan"
    return {"backend": backend, "scenario": scenario, "status": status,
            "objective": res.objective, "best_bound": res.best_bound, "gap": res.gap,
            "vars": model.n_vars, "ints": int(model.is_int.sum()), "rows": model.n_rows,
            "nnz": int(len(model.data)), "candidates": k.n_c, "pairs": k.n_p, "offers": k.n_o,
            "load_s": t1 - t0, "coef_s": t2 - t1, "model_s": t3 - t2, "solve_s": t4 - t3,
            "total_s": t4 - t0, "time_limit_s": left, "peak_rss_mb": max(self_mb, children_mb),
            "peak_rss_self_mb": self_mb, "peak_rss_children_mb": children_mb,
            "message": res.message[:2000]}


def _child(args) -> int:
    out = run_one(args.one, args.backend, args.budget_s, args.gap, args.scenario, args.threads)
    print("RESULT " + json.dumps(out))
    return 0


def _spawn(problem_file: Path, backend: str, budget_s: float, gap: float, scenario=None,
           threads=None) -> dict:
    cmd = [sys.executable, __file__, "--one", str(problem_file), "--backend", backend,
           "--budget-s", str(budget_s), "--gap", str(gap)]
    if scenario:
        cmd += ["--scenario", scenario]
    if threads:
        cmd += ["--threads", str(threads)]
    # a hard wall: the solver's limit plus generous room for translation and reading results
    wall = budget_s * 3 + 120
    t0 = time.perf_counter()
    # its own session, so that the wall stops the solver's subprocesses (pulp's CBC) with it
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=wall)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {"backend": backend, "scenario": scenario, "status": "killed",
                "wall_s": time.perf_counter() - t0,
                "message": f"killed by the runner's wall at {wall:g} s (3 x budget + 120 s): no result"}
    wall_s = time.perf_counter() - t0
    r = subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            out = json.loads(line[7:])
            out["wall_s"] = wall_s
            return out
    return {"backend": backend, "scenario": scenario, "status": "crashed", "wall_s": wall_s,
            "message": f"exit status {r.returncode}: " + (r.stderr or r.stdout)[-300:]}


def _fmt(x, f="{:.3g}"):
    return "-" if x is None else f.format(x)


def markdown(rows: list[dict], command: str) -> str:
    out = ["| rung | backend | vars | ints | rows | nnz | coef s | model s | solve s | total s | wall s "
           "| build share | status | gap | peak RSS MB |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    notes = []
    for r in rows:
        share = None
        if r.get("coef_s") is not None and r.get("model_s") is not None and r.get("total_s"):
            share = (r["coef_s"] + r["model_s"]) / r["total_s"]
        out.append(f"| {r['rung']} | {r['backend']} | {r.get('vars', '-')} | {r.get('ints', '-')} | "
                   f"{r.get('rows', '-')} | {r.get('nnz', '-')} | {_fmt(r.get('coef_s'))} | "
                   f"{_fmt(r.get('model_s'))} | {_fmt(r.get('solve_s'))} | {_fmt(r.get('total_s'))} | "
                   f"{_fmt(r.get('wall_s'))} | {_fmt(share, '{:.0%}')} | {r['status']} | "
                   f"{_fmt(r.get('gap'), '{:.2%}')} | {_fmt(r.get('peak_rss_mb'), '{:.0f}')} |")
        if r["status"] not in ("optimal", "time_limit") and r.get("message"):
            notes.append(f"* {r['rung']} {r['backend']}: {r['status']}: {r['message'][:300]}")
    legend = ("\nPeak RSS: the larger of the run's own process and its largest solver subprocess "
              "(pulp's CBC); wall s: the runner's clock around the child process.\n")
    return (f"Command: `{command}`\n\n" + "\n".join(out) + "\n" + legend
            + ("\n" + "\n".join(notes) + "\n" if notes else ""))


def check_backends(names: list[str]) -> list[str]:
    """The names that are not BACKEND/SOLVER pairs solver.mip.backends offers."""
    from solver.mip.backends import BACKENDS as KNOWN

    return [n for n in names if n.count("/") != 1 or n.split("/")[1] not in KNOWN.get(n.split("/")[0], ())]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rungs", nargs="+", default=["S", "M", "L"])
    ap.add_argument("--backends", nargs="+", default=BACKENDS)
    ap.add_argument("--budget-s", type=float, default=None,
                    help="seconds per run (default: 60 for S/M/L, 600 for XL)")
    ap.add_argument("--gap", type=float, default=None, help="target gap (default 0.005, XL 0.01)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--scenarios", nargs="+", default=None, help="XL: only these scenarios (e.g. demand-4)")
    ap.add_argument("--seed", type=int, default=7,
                    help="instance seed (generate.py's; the figures in RESULTS.md use 7)")
    ap.add_argument("--markdown", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--backend", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--scenario", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        return _child(args)
    bad = check_backends(args.backends)
    if bad:
        from solver.mip.backends import BACKENDS as KNOWN

        ap.error(f"unknown backend(s) {', '.join(bad)}; use BACKEND/SOLVER, one of "
                 + ", ".join(f"{b}/{s}" for b, ss in KNOWN.items() for s in ss))
    from generate import generate

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for rung in args.rungs:
            doc = generate(rung, seed=args.seed)
            f = Path(tmp) / f"scale-{rung}.yaml"
            f.write_text(yaml.safe_dump(doc, sort_keys=False))
            xl = rung == "XL"
            budget = args.budget_s or (600.0 if xl else 60.0)
            gap = args.gap if args.gap is not None else (0.01 if xl else 0.005)
            for be in args.backends:
                if not xl:
                    r = _spawn(f, be, budget, gap, threads=args.threads)
                else:
                    names = [s["name"] for s in doc["scenarios"]]
                    parts = [_spawn(f, be, budget / len(names), gap, sc, args.threads)
                             for sc in names if not args.scenarios or sc in args.scenarios]
                    r = dict(parts[0])
                    for key in ("load_s", "coef_s", "model_s", "solve_s", "total_s", "wall_s"):
                        vals = [p.get(key) for p in parts]
                        r[key] = sum(vals) if all(v is not None for v in vals) else None
                    gaps = [p.get("gap") for p in parts]
                    r["gap"] = max(g for g in gaps) if all(g is not None for g in gaps) else None
                    for key in ("peak_rss_mb", "peak_rss_self_mb", "peak_rss_children_mb"):
                        r[key] = max((p[key] for p in parts if p.get(key) is not None), default=None)
                    sts = sorted({p["status"] for p in parts})
                    r["status"] = "+".join(f"{sum(p['status'] == st for p in parts)} {st}" for st in sts)
                    r["scenarios"] = [{key: p.get(key) for key in ("scenario", "status", "gap", "objective",
                                                                  "total_s", "wall_s", "message")}
                                       for p in parts]
                r["rung"] = rung
                rows.append(r)
                print(json.dumps({k: r.get(k) for k in ("rung", "backend", "vars", "ints", "rows", "coef_s",
                                                        "model_s", "solve_s", "total_s", "wall_s", "status",
                                                        "gap", "peak_rss_mb", "peak_rss_self_mb",
                                                        "peak_rss_children_mb")}), flush=True)
    command = "python benchmarks/scale/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    md = markdown(rows, command)
    print(md)
    if args.markdown:
        Path(args.markdown).write_text(md)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
