"""``fleetopt explain PROBLEM.yaml``: why no plan exists, and the smallest change that gives one.

Exit codes: 0 when a plan exists (nothing to explain), 3 (infeasible) when
the explanation was printed, 2 for bad input, 5 when the solver failed.
"""

from __future__ import annotations

import json

from solver.cli import InputIssues, Once, add_verbose, check_outputs, console_stream
from solver.errors import EXIT_INFEASIBLE, EXIT_OK, EXIT_SOLVER_ERROR
from solver.mip.backends import BACKENDS
from solver.yamlio import atomic_write_text


def register(sub) -> None:
    p = sub.add_parser("explain", help="explain why a problem has no plan and what to relax")
    p.add_argument("problem", metavar="PROBLEM.yaml")
    p.add_argument("--scenario", action=Once, default=None,
                   help="apply this named scenario of the problem file")
    p.add_argument("--catalog", action="append", default=[], metavar="FILE",
                   help="catalog overlay file (repeatable)")
    p.add_argument("--backend", choices=sorted(BACKENDS), default=None)
    p.add_argument("--solver", default=None)
    p.add_argument("--time-limit", type=float, default=None, metavar="S",
                   help="seconds per elastic solve (default: the problem's, at most 60)")
    p.add_argument("--json", default=None, metavar="FILE",
                   help="write the explanation as JSON ('-': on stdout, the console text then on stderr)")
    add_verbose(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from solver.explain import explain
    from solver.problem.load import load_problem

    from solver.mip.options import SolveOptions

    # every input error in one report: the problem's, the flags' and the output's (QA s18)
    issues = InputIssues()
    issues.extend(SolveOptions(args.backend, time_limit_s=args.time_limit).issues())
    # a quality target above every allowed model is bad input to `solve` (exit 2, with the fix);
    # explain takes it as the infeasibility it is and diagnoses it with the rest (QA s18, D1)
    loaded = issues.check(load_problem, args.problem, scenario=args.scenario, catalog_overlays=args.catalog,
                          unreachable_quality=False)
    backend = args.backend or (loaded.problem.solver.backend if loaded is not None else None)
    if backend in BACKENDS:
        issues.extend(SolveOptions(backend, args.solver).issues())
    issues.check(check_outputs, args, {"json": "--json"})
    issues.raise_if_any()
    ex = explain(loaded, backend=backend, solver=args.solver, time_limit_s=args.time_limit)
    # `--json -`: the JSON alone on stdout (`| jq`), the explanation on stderr, as `solve` does
    print(ex.text(), end="", file=console_stream(args.json))
    if args.json:
        atomic_write_text(args.json, json.dumps(ex.to_dict(), indent=2) + "\n")
    if ex.has_plan:
        return EXIT_OK
    if ex.has_plan is None or ex.note.startswith("the solver stopped"):
        return EXIT_SOLVER_ERROR
    return EXIT_INFEASIBLE
