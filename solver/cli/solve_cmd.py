"""``fleetopt solve PROBLEM.yaml``: optimise the fleet, print and write the plan."""

from __future__ import annotations

import contextlib
import re
import sys
from pathlib import Path

from solver.cli import Once, add_verbose, check_outputs, console_stream
from solver.errors import InputError, InputIssue
from solver.mip.backends import BACKENDS
from solver.mip.stop import on_interrupt
from solver.mip.status import EXIT_CODE
from solver.yamlio import atomic_write_text


def register(sub) -> None:
    p = sub.add_parser("solve", help="find the cheapest fleet that meets every SLO and constraint")
    p.add_argument("problem", metavar="PROBLEM.yaml")
    p.add_argument("--scenario", action=Once, default=None,
                   help="apply this named scenario of the problem file")
    p.add_argument("--catalog", action="append", default=[], metavar="FILE",
                   help="catalog overlay file (repeatable)")
    p.add_argument("--backend", choices=sorted(BACKENDS), default=None,
                   help="solver stack (default: the problem's solver.backend, else highspy)")
    p.add_argument("--solver", default=None,
                   help="highspy: reduced|highs; pulp: cbc|highs; ortools: scip|cbc|highs "
                        "(default: the problem's solver, else the first listed)")
    p.add_argument("--time-limit", type=float, default=None, metavar="S",
                   help="seconds (default: the problem's solver.time_limit_s)")
    p.add_argument("--gap", type=float, default=None, metavar="G",
                   help="relative MIP gap, e.g. 1e-4 (default: the problem's solver.mip_gap)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="solver threads (default: the problem's solver.threads, else the solver's own)")
    p.add_argument("--json", default=None, metavar="FILE",
                   help="write the plan as JSON ('-': on stdout, the console text then on stderr)")
    p.add_argument("--markdown", default=None, metavar="FILE", help="write the plan as Markdown")
    p.add_argument("--csv", default=None, metavar="DIR", help="write plan tables as CSV files")
    p.add_argument("--save-lp", default=None, metavar="FILE", help="write the model (CPLEX LP format)")
    p.add_argument("--baseline", choices=["homogeneous"], default=None,
                   help="also solve with one accelerator type at a time and report the saving")
    p.add_argument("--existing", default=None, metavar="PLAN.json",
                   help="re-optimise a multi-period problem from this earlier plan of the same horizon "
                        "(same period 0; raise objective.periods.count to look further ahead): its "
                        "executed decisions are kept, the report lists what changed and what it costs")
    p.add_argument("--executed-through", type=int, default=None, metavar="PERIOD",
                   help="with --existing: the earlier plan's periods 0..PERIOD have been carried out and "
                        "their buy/reserve/retire/move decisions are kept (default 0)")
    p.add_argument("--warm-start", default=None, metavar="PLAN.json",
                   help="start the solver from an earlier plan of a single-period problem (matched by "
                        "deployment id, routes scaled to the new demand); it speeds the search, and where several "
                        "plans cost the same it may return another of them")
    p.add_argument("--quiet", action="store_true", help="print only the status line")
    p.add_argument("--no-timing", action="store_true",
                   help="write 0 for the solve time and '-s' for the phase times in "
                        "solver.status_detail, the run-dependent fields: two runs that end the same "
                        "way then give byte-identical files")
    add_verbose(p)
    p.set_defaults(func=run)


def _check_options(args, problem) -> tuple[str, str | None]:
    from solver.mip.options import SolveOptions
    backend = args.backend or problem.solver.backend
    solver = args.solver or (problem.solver.solver if backend == problem.solver.backend else None)
    SolveOptions(backend, solver, args.time_limit, args.gap, args.threads).check()
    if args.baseline and (problem.objective.periods is not None or args.existing):
        raise InputError(InputIssue("--baseline is for single-period problems", path="--baseline",
                                    hint="leave it out for a multi-period problem"))
    return backend, solver


def _load_checked(args):
    """(problem, backend, solver, previous plan, warm start): every input read, the options checked
    against the problem and every output path checked, in one report of every input error - the
    problem file's, the flags', the plans' and the outputs' (QA s18: a problem error hid bad flags
    and outputs until it was fixed, one per run)."""
    from solver.cli import InputIssues
    from solver.mip.options import SolveOptions
    from solver.plan import load_plan_json
    from solver.problem.load import load_problem
    from solver.report import CSV_TABLES

    issues = InputIssues()
    loaded = issues.check(load_problem, args.problem, scenario=args.scenario, catalog_overlays=args.catalog)
    picked = None
    if loaded is not None:
        picked = issues.check(_check_options, args, loaded.problem)
    else:       # the flags on their own (their backend and solver are checked with the problem's)
        issues.extend(SolveOptions(args.backend, args.solver if args.backend else None, args.time_limit,
                                   args.gap, args.threads).issues())
    previous = issues.check(load_plan_json, args.existing) if args.existing else None
    # (solve_problem refuses a warm start for a multi-period problem)
    warm = issues.check(load_plan_json, args.warm_start) if args.warm_start else None
    # outputs over a file read so far (the problem, its overlays, the plans: main() guards every
    # input) are refused now, not after a solve of up to the time limit
    issues.check(check_outputs, args, {"json": "--json", "markdown": "--markdown", "save_lp": "--save-lp",
                                       "csv": "--csv"}, folders={"csv": CSV_TABLES})
    issues.raise_if_any()
    return (loaded, *picked, previous, warm)


def run(args) -> int:
    from dataclasses import replace

    from solver.mip.formulation import build_model  # noqa: F401 - import errors surface early
    from solver.mip.pipeline import homogeneous_baseline, solve_problem
    from solver.report import console_text, markdown_text, write_csv_dir

    from solver.catalog import warnings_text
    from solver.cli.validate import presolve_findings, problem_catalog_warnings

    loaded, backend, solver, previous, warm = _load_checked(args)
    # the text `fleetopt validate` prints: the overlays' likely mistakes (an id collision ...), a dead
    # end (the solve then reports infeasible) or a setting that does nothing
    print(warnings_text(problem_catalog_warnings(loaded)), end="", file=sys.stderr)
    print(presolve_findings(loaded).format(), end="", file=sys.stderr)
    # Ctrl-C stops a highspy search and keeps its best plan (solver.mip.stop); CBC and SCIP run
    # as they always have
    with on_interrupt() if backend == "highspy" else contextlib.nullcontext():
        solved = solve_problem(loaded, backend=backend, solver=solver, time_limit_s=args.time_limit,
                               mip_gap=args.gap, threads=args.threads, previous=previous,
                               executed_through=args.executed_through, warm_start=warm)
    plan = solved.plan
    if args.save_lp:
        atomic_write_text(args.save_lp, solved.model.to_lp_text())
    if args.baseline == "homogeneous" and plan.status in ("optimal", "time_limit"):
        base = homogeneous_baseline(loaded, plan.objective.total, backend=backend, solver=solver,
                                    time_limit_s=args.time_limit, mip_gap=args.gap)
        plan = replace(plan, baseline=base)
    if args.no_timing and plan.solver is not None:
        # '2.0s' -> '-s': the phases' wall times vary from run to run, their results do not
        plan = replace(plan, solver=replace(plan.solver, seconds=0.0,
                                            status_detail=re.sub(r"\b\d+(?:\.\d+)?s\b", "-s",
                                                                 plan.solver.status_detail)))
    ex = None
    if plan.status == "infeasible":  # the same text as `fleetopt explain`, printed below
        from solver.explain import explain
        # the explanation's elastic solves share one more time limit between them (each at most
        # 60 s), so a batch job's solve ends within about twice its limit however many caps it has
        limit_s = args.time_limit if args.time_limit is not None else loaded.problem.solver.time_limit_s
        ex = explain(loaded, backend=backend, solver=solver, k=solved.coefficients, model=solved.model,
                     status=plan.status, time_limit_s=min(limit_s, 60.0), total_s=limit_s)
        # (QA s22: the solver's closing advice said 'one at a time' where no single limit was enough)
        from solver.mip.pipeline import RELAX_ONE_AT_A_TIME
        hint = _relax_hint(ex)
        plan = replace(plan, message=plan.message.replace(RELAX_ONE_AT_A_TIME, hint),
                       solver=plan.solver and replace(
                           plan.solver, status_detail=plan.solver.status_detail.replace(RELAX_ONE_AT_A_TIME, hint)))
    d = plan.to_dict()
    if args.json:
        atomic_write_text(args.json, plan.to_json())
    if args.markdown:
        atomic_write_text(args.markdown, markdown_text(d))
    if args.csv:
        write_csv_dir(d, Path(args.csv))
    # an output on stdout (`--json -`) is all stdout holds: the console text goes to stderr
    console = console_stream(args.json, args.markdown, args.save_lp)
    if args.quiet:
        total = d["objective"]["total"]
        print(f"{plan.status}" + (f" {total:.2f} {d['objective']['currency']}" if total is not None else ""),
              file=console)
    else:
        print(console_text(d), end="", file=console)
        # a caveat of the plan itself, with the report (stderr stays silent unless something is wrong)
        from solver.mip.pipeline import reasoning_score_warnings
        for line in reasoning_score_warnings(loaded, plan):
            print(f"\nnote: {line}", file=console)
    if plan.status == "infeasible" and not args.verbose:
        # the explanation below says why in the user's terms; the solver's own account (phases,
        # statuses) is in the JSON's solver.status_detail and printed with -v
        print("error: infeasible: no plan meets every constraint", file=sys.stderr)
    elif plan.status not in ("optimal", "time_limit"):
        print(f"error: {plan.message}" if plan.status == "error" else f"error: {plan.status}: {plan.message}",
              file=sys.stderr)
    if ex is not None:
        print(ex.text(), end="", file=sys.stderr)
        if args.existing:
            # (QA s22: a capex relaxation in period 0 was the executed order of the earlier plan, unsaid)
            k_ = 0 if args.executed_through is None else args.executed_through
            print(f"note: periods 0..{k_} keep the decisions {args.existing} carried out (--existing, "
                  f"--executed-through {k_}): what they ordered, reserved, retired or moved counts against "
                  "the limits above and cannot change; a relaxation named in those periods pays for them",
                  file=sys.stderr)
    return EXIT_CODE[plan.status]


def _relax_hint(ex) -> str:
    """The advice that agrees with the explanation ``ex``: which limit alone is enough, or that none is."""
    alone = [f.what for f in ex.fleet if f.restores and f.changes and f.family != "demand.served"]
    if alone:
        return f"relaxing {' or '.join(alone)} alone is enough (`fleetopt explain` says how much)"
    if ex.note.startswith("no single fleet limit is enough alone"):
        return "no single limit is enough alone: relax several together (`fleetopt explain` says which and how much)"
    return "`fleetopt explain` says what to change"
