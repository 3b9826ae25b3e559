"""``fleetopt sweep PROBLEM.yaml --set PATH=VALUES ...``: one results row per scenario.

Grid: ``--set PATH=V1,V2`` (several --set: cartesian product).  Random:
``--set PATH=uniform(a,b)|normal(mean,sd)|lognormal(median,sigma) --samples N
--seed S``.  Failures are rows (status + error), never a crash.  Results are
cached under ``--cache`` (default ``.fleetopt-cache/``, left out with a warning
where it cannot be written) so a rerun only solves new scenarios.  Local worker
processes by default (SIGTERM stops them too, exit 143); ``--ray`` (or
RAY_ADDRESS set, which a note on stderr says) runs one Ray task per scenario.

Every scenario gets a row and the table is written whatever the rows say.  Exit
code 0 when every row is an answer (optimal, time_limit or infeasible: "no plan"
is a finding); 2 when a row's variant is not valid input (``invalid``: a value
of --set the problem rejects) or the sweep itself is (bad --set, unknown path);
5 when a solve failed (``error``) and 1 when one crashed, so that a batch job
notices rows that need a look.  The worst one decides (1 before 5 before 2).
A results file that changed while the sweep ran (another sweep writing it) is
not overwritten: the table goes beside it (``NAME.PID.csv``), with exit 2.

Stopped by Ctrl-C (exit 130) or SIGTERM (exit 143) before every scenario has its row,
the sweep writes no table and says on stderr how many rows were done, how many are
cached, and that running the command again resumes from the cache.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from solver.cli import Once, option_rules
from solver.mip.backends import BACKENDS


def register(sub) -> None:
    p = sub.add_parser("sweep", help="solve many variants of a problem (grid or random draws); "
                                     "one results row each, cached")
    p.add_argument("problem", metavar="PROBLEM.yaml")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="PATH=VALUES",
                   help="PATH=V1,V2,... (grid) or PATH=uniform(a,b) | normal(mean,sd) | "
                        "lognormal(median,sigma) (random); repeatable. Paths are dotted, list "
                        "entries by id: workloads.chat.demand.requests_per_s")
    p.add_argument("--samples", type=int, default=None, metavar="N",
                   help="random draws (per grid point) for distribution values")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--scenario", action=Once, default=None,
                   help="apply this named scenario of the file first")
    p.add_argument("--catalog", action="append", default=[], metavar="FILE",
                   help="catalog overlay file (repeatable)")
    p.add_argument("--out", default="sweep-results.csv", metavar="FILE",
                   help="results table, .csv (default sweep-results.csv) or .parquet (needs pyarrow)")
    p.add_argument("--cache", default=None, metavar="DIR",
                   help="result cache directory (default .fleetopt-cache/)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="parallel processes (default: the CPU cores available)")
    p.add_argument("--ray", action="store_true",
                   help="run on Ray (RAY_ADDRESS, else a local instance); needs fleetopt[ray]")
    p.add_argument("--no-ray", action="store_true", help="local processes even if RAY_ADDRESS is set")
    option_rules(p, excludes=[("--ray", "--no-ray"), ("--cache", "--no-cache")])
    p.add_argument("--backend", choices=sorted(BACKENDS), default=None)
    p.add_argument("--solver", default=None)
    p.add_argument("--time-limit", type=float, default=None, metavar="S", help="seconds per solve")
    p.add_argument("--gap", type=float, default=None, metavar="G", help="relative MIP gap")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--quiet", action="store_true", help="no progress bar, only the summary")
    p.set_defaults(func=run)


def run(args) -> int:
    from solver.errors import EXIT_BAD_INPUT, InputError, InputIssue
    from solver.explore.cache import DEFAULT_CACHE_DIR, check_cache_dir
    from solver.explore.common import SolveOptions
    from solver.explore.sweep import (SweepCounts, check_output, count_issues, parse_set, run_sweep,
                                      sigterm_exits, solve_abandoned, write_table)
    from solver.cli import InputIssues, check_outputs
    from solver.problem.load import load_problem

    # every bad flag and the problem file's errors in one report, as `solve` gives them (QA s27: one
    # per run); run_sweep checks the options again against the problem's backend
    issues = InputIssues()
    if not args.sets:
        issues.extend([InputIssue("nothing to sweep: give at least one --set PATH=VALUES", path="--set",
                                  hint="e.g. --set workloads.chat.demand.requests_per_s=20,40,80")])
    params = [issues.check(parse_set, s) for s in args.sets]
    issues.check(check_output, args.out)
    opts = SolveOptions(args.backend, args.solver, args.time_limit, args.gap, args.threads)
    issues.extend(opts.issues())
    issues.extend(count_issues(samples=args.samples, seed=args.seed, workers=args.workers))
    loaded = issues.check(load_problem, args.problem, scenario=args.scenario, catalog_overlays=args.catalog)
    issues.raise_if_any()
    check_outputs(args, {"out": "--out"})
    before = file_stamp(args.out)
    use_ray = (args.ray or bool(os.environ.get("RAY_ADDRESS"))) and not args.no_ray
    if use_ray and not args.ray:      # documented, but easy to inherit from a shell or a cron job
        print(f"note: running on Ray because RAY_ADDRESS is set ({os.environ['RAY_ADDRESS']}); "
              "--no-ray runs local processes", file=sys.stderr)
    cache_dir = None if args.no_cache else (args.cache or DEFAULT_CACHE_DIR)
    if cache_dir and not args.cache:
        try:
            check_cache_dir(cache_dir)
        except InputError as exc:
            print(f"warning: {exc.issues[0].message}; going on without it (--cache DIR keeps one elsewhere)",
                  file=sys.stderr)
            cache_dir = None
    counts = SweepCounts()
    try:
        # SIGTERM as SystemExit(143) for the whole run (not only while a pool or Ray waits), so
        # that it is reported as Ctrl-C is (QA: exit 143 and not a word)
        with sigterm_exits():
            res = run_sweep(loaded, params, samples=args.samples, seed=args.seed, options=opts,
                            overlays=args.catalog, workers=args.workers, cache_dir=cache_dir,
                            use_ray=use_ray, progress=(not args.quiet) and sys.stderr.isatty(),
                            counts=counts)
    except KeyboardInterrupt:
        return interrupted(counts.interrupted_text(args.out, "Ctrl-C"), 130, solve_abandoned())
    except SystemExit as exc:
        if exc.code != 143:
            raise
        return interrupted(counts.interrupted_text(args.out, "SIGTERM"), 143, solve_abandoned())
    out = args.out
    moved = file_stamp(out) != before
    if moved:
        out = str(Path(out).with_name(f"{Path(out).stem}.{os.getpid()}{Path(out).suffix}"))
        print(f"error: {args.out} changed while this sweep ran (another sweep writing it?): not "
              f"overwritten; this sweep's table is {out}", file=sys.stderr)
    fmt = write_table(res, out)
    print(res.summary_text(), end="")
    rows = f"{len(res.rows)} row{'' if len(res.rows) == 1 else 's'}"
    print(f"wrote {out} ({fmt}, {rows})"      # not a cache the sweep dropped
          + (f"; cache {res.cache}" if res.cache else ""))
    code = exit_code(res.rows)
    return (code or EXIT_BAD_INPUT) if moved else code


def interrupted(text: str, code: int, solve_running: bool) -> int:
    """Say what an interrupted sweep leaves behind and return its exit code; with an in-process
    solve still running, end the process here (``os._exit``: an interpreter exit would abort inside
    HiGHS, see :func:`solver.explore.sweep.solve_abandoned`)."""
    print(text, file=sys.stderr)
    if solve_running:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def file_stamp(path) -> tuple | None:
    """What changes when a file is written (atomically or in place); None while there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def exit_code(rows) -> int:
    """The module docstring's rule: answers exit 0, the worst failure decides otherwise."""
    from solver.errors import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OK, EXIT_SOLVER_ERROR
    from solver.explore.sweep import CRASHED, INVALID

    statuses = {r["status"] for r in rows}
    for status, code in ((CRASHED, EXIT_INTERNAL), ("error", EXIT_SOLVER_ERROR), ("unbounded", EXIT_SOLVER_ERROR),
                         (INVALID, EXIT_BAD_INPUT)):
        if status in statuses:
            print(f"note: {sum(r['status'] == status for r in rows)} row(s) {status}: see their `error` "
                  "column", file=sys.stderr)
            return code
    return EXIT_OK
