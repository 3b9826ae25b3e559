"""``fleetopt robust PROBLEM.yaml``: one owned fleet for several demand scenarios.

Two-stage stochastic program (see :mod:`solver.explore.robust`): purchased
and reserved units are chosen once; on-demand/spot units, the owned devices in
service, replicas and routing per scenario; compared with planning for the mean and for the max
demand (under the problem as written where named scenarios differ in more than demand, so that the
order they are listed in does not matter).  Scenarios come from the problem's named ``scenarios``
(``--scenarios all`` or a comma list, optionally ``--include-base``), from
``--multipliers`` on the base demand, or are drawn (``--demand-scenarios N
--demand-cv CV --seed S``, lognormal multipliers with mean 1; the default is 5
draws with CV 0.3, seed 0).

Exit codes (README "Exit codes"): 0 when every plan is proven optimal (a mean or max plan that
cannot serve every scenario is a finding, not a failure); 4 when the stochastic plan exists but
it, or the mean or max plan, stopped at its time limit (a mean/max plan is only as proven as its
first stage); 3 when the stochastic plan is infeasible; 5 when a plan's solve failed or its time
limit came before any plan (status ``error``: the stochastic plan, or the mean or max plan beside
a stochastic one).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from solver.cli import add_verbose, check_outputs, console_stream, option_rules
from solver.errors import (EXIT_INFEASIBLE, EXIT_OK, EXIT_SOLVER_ERROR, EXIT_TIME_LIMIT, InputError,
                           InputIssue)
from solver.mip.backends import BACKENDS


#: each list flag's example (QA s27: --probabilities nan,1 was shown the multipliers' one)
_EXAMPLES = {"--multipliers": "e.g. --multipliers 0.7,1,1.4",
             "--probabilities": "e.g. --probabilities 0.25,0.5,0.25 (one per scenario, summing to 1)"}


def _floats(text: str, flag: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InputError(InputIssue(f"{flag} takes comma-separated numbers, got {text!r}", path=flag,
                                    hint=_EXAMPLES[flag])) from None
    if not all(math.isfinite(v) for v in values):     # (QA s18: a NaN probability was a 'coefficient overflow')
        raise InputError(InputIssue(f"{flag} takes finite numbers, got {text!r}", path=flag, hint=_EXAMPLES[flag]))
    return values


def flag_issues(args) -> list:
    """Every bad flag on its own, before the problem is read: the solver options, the lists, the
    draws' count, CV and seed, the percentile, the probabilities against the number of multipliers
    or draws (README: every input error at once; QA s27 saw them one per run)."""
    from solver.cli import InputIssues
    from solver.explore.common import SolveOptions
    from solver.explore.robust import check_scenario_count, draw_issues, keep_percentile, probability_issues

    issues = InputIssues()
    issues.extend(SolveOptions(args.backend, args.solver, args.time_limit, args.gap).issues())
    if sum(x is not None for x in (args.scenarios, args.multipliers, args.demand_scenarios)) > 1:
        issues.extend([InputIssue("use one of --scenarios, --multipliers, --demand-scenarios", path="--scenarios")])
    probs = issues.check(_floats, args.probabilities, "--probabilities") if args.probabilities else None
    count = None
    if args.multipliers is not None:
        mult = issues.check(_floats, args.multipliers, "--multipliers")
        count = None if mult is None else len(mult)
    elif args.scenarios is None:
        n = 5 if args.demand_scenarios is None else args.demand_scenarios
        issues.extend(draw_issues(n, args.demand_cv, args.seed))
        issues.check(check_scenario_count, n, "--demand-scenarios")
        count = n if n >= 1 else None
    issues.check(keep_percentile, [], args.percentile)
    if probs is not None and count is not None:
        issues.extend(probability_issues(probs, count))
    return issues.issues


def register(sub) -> None:
    p = sub.add_parser("robust", help="one owned fleet for several demand scenarios (two-stage "
                                      "stochastic program), compared with planning for the mean/max")
    p.add_argument("problem", metavar="PROBLEM.yaml")
    p.add_argument("--scenarios", default=None, metavar="NAMES",
                   help="the problem's named scenarios to plan for: 'all' or a comma list")
    p.add_argument("--include-base", action="store_true",
                   help="with --scenarios: the problem without any scenario is one more scenario")
    p.add_argument("--multipliers", default=None, metavar="LIST",
                   help="demand multipliers, one scenario each, e.g. 0.7,1,1.4")
    p.add_argument("--probabilities", default=None, metavar="LIST",
                   help="scenario probabilities (default: equal)")
    p.add_argument("--demand-scenarios", type=int, default=None, metavar="N",
                   help="draw N lognormal demand multipliers (default 5)")
    p.add_argument("--demand-cv", type=float, default=0.3, metavar="CV",
                   help="coefficient of variation of the drawn multipliers (default 0.3)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the drawn multipliers (default 0)")
    p.add_argument("--percentile", type=float, default=100.0, metavar="P",
                   help="plan for the P%% of scenarios with the lowest total demand (default 100: all)")
    p.add_argument("--catalog", action="append", default=[], metavar="FILE",
                   help="catalog overlay file (repeatable)")
    p.add_argument("--backend", choices=sorted(BACKENDS), default=None)
    p.add_argument("--solver", default=None)
    p.add_argument("--time-limit", type=float, default=None, metavar="S", help="seconds per solve")
    p.add_argument("--gap", type=float, default=None, metavar="G", help="relative MIP gap")
    p.add_argument("--json", default=None, metavar="FILE",
                   help="write the comparison as JSON ('-': on stdout, the console text then on stderr)")
    add_verbose(p)
    # (the drawn multipliers' options mean nothing with scenarios given another way)
    option_rules(p, needs=[("--include-base", "--scenarios")],
                 excludes=[(a, b) for a in ("--demand-cv", "--seed") for b in ("--scenarios", "--multipliers")])
    p.set_defaults(func=run)


def build_scenarios(args, loaded):
    """DemandScenario list from the flags (see module docstring)."""
    from solver.explore.robust import (DemandScenario, check_scenario_count, draw_multipliers,
                                       probability_issues, scenarios_from_multipliers, two_stage_coefficients)
    from solver.problem.load import load_problem

    chosen = [x is not None for x in (args.scenarios, args.multipliers, args.demand_scenarios)]
    if sum(chosen) > 1:
        raise InputError(InputIssue("use one of --scenarios, --multipliers, --demand-scenarios",
                                    path="--scenarios"))
    probs = _floats(args.probabilities, "--probabilities") if args.probabilities else None
    if args.scenarios is not None:
        known = [s.name for s in loaded.problem.scenarios]
        names = known if args.scenarios == "all" else [n.strip() for n in args.scenarios.split(",") if n.strip()]
        for n in names:
            if n not in known:
                from solver.errors import did_you_mean
                close = did_you_mean(n, known)
                raise InputError(InputIssue(f"unknown scenario {n!r}", path="--scenarios",
                                            hint=f"did you mean {' or '.join(close)}?" if close else
                                            f"the problem defines: {', '.join(known) or 'none'}"))
        out = []
        if args.include_base:   # named apart from a scenario called "base" (review: their costs merged)
            out.append(("base" if "base" not in known else "(problem as written)", loaded))
        check_scenario_count(len(names) + bool(args.include_base), "--scenarios")
        out += [(n, load_problem(args.problem, scenario=n, catalog_overlays=args.catalog)) for n in names]
        if not out:
            raise InputError(InputIssue("no scenarios to plan for", path="--scenarios",
                                        hint=(f"name some of the problem's ({', '.join(known)}) or 'all'" if known
                                              else "the problem defines none; use --multipliers")))
        bad = probability_issues(probs, len(out))
        if bad:
            raise InputError(bad)
        p = probs or [1.0 / len(out)] * len(out)
        return [DemandScenario(n, pi, two_stage_coefficients(lp)) for (n, lp), pi in zip(out, p)]
    k = two_stage_coefficients(loaded)
    if args.multipliers is not None:
        mult = _floats(args.multipliers, "--multipliers")
    else:
        n = 5 if args.demand_scenarios is None else args.demand_scenarios
        if n < 1:
            raise InputError(InputIssue(f"--demand-scenarios must be at least 1 (got {n})",
                                        path="--demand-scenarios", hint="e.g. --demand-scenarios 5"))
        check_scenario_count(n, "--demand-scenarios")
        mult = draw_multipliers(n, args.demand_cv, args.seed).tolist()
    return scenarios_from_multipliers(k, mult, probs, drawn=args.multipliers is None)


def run(args) -> int:
    from solver.explore.common import SolveOptions
    from solver.explore.robust import robust_plan, two_stage_coefficients
    from solver.problem.load import load_problem
    from solver.yamlio import atomic_write_text

    from solver.cli import InputIssues

    issues = InputIssues()          # the flags' errors and the problem file's, in one report
    issues.extend(flag_issues(args))
    loaded = issues.check(load_problem, args.problem, catalog_overlays=args.catalog)
    issues.raise_if_any()
    opts = SolveOptions(args.backend, args.solver, args.time_limit, args.gap)
    if loaded.problem.objective.periods is not None:
        raise InputError(InputIssue("robust handles single-period problems only", path="objective.periods",
                                    file=loaded.file,
                                    hint="remove objective.periods; for a multi-period plan, one plan per "
                                         "demand outlook: `fleetopt sweep PROBLEM --set "
                                         "workloads.ID.demand.growth_rate_per_period=0.05,0.15,0.25` (its rows "
                                         "compare capex and devices bought), or `fleetopt solve --scenario NAME` "
                                         "per named scenario"))
    check_outputs(args, {"json": "--json"})
    so = loaded.problem.solver
    opts.check(default_backend=so.backend)        # a --solver of another backend than the problem's
    scen = build_scenarios(args, loaded)
    # named scenarios that differ in more than demand: the mean/max plans use the problem as written
    base = None if args.scenarios is None else two_stage_coefficients(loaded)
    backend = opts.backend or so.backend
    solver = opts.solver or (so.solver if backend == so.backend else None)
    rep = robust_plan(scen, percentile=args.percentile, backend=backend, solver=solver,
                      time_limit_s=opts.time_limit_s or so.time_limit_s,
                      mip_gap=opts.mip_gap if opts.mip_gap is not None else so.mip_gap, base=base)
    # `--json -`: the JSON alone on stdout (`| jq`), the report on stderr, as `solve` does
    console = console_stream(args.json)
    for s in rep.scenarios:
        given = (f" (given {s['probability']:.3g})"
                 if s["kept"] and abs(s["planned_probability"] - s["probability"]) > 1e-12 else "")
        print(f"scenario {s['name']}: p={s['planned_probability' if s['kept'] else 'probability']:.3g}{given}, "
              f"{s['total_rps']:,.4g} req/s" + ("" if s["kept"] else "  (above the percentile: not planned for)"),
              file=console)
    print(rep.note, file=console)
    print(rep.table_text(), end="", file=console)
    for a in rep.approaches:
        if a.message and a.status not in ("optimal",):
            print(f"note: {a.name}: {a.message}", file=sys.stderr)
    if all(a.status == "infeasible" for a in rep.approaches):
        print(f"no plan under any approach: `fleetopt explain {args.problem}` says why and what to relax",
              file=sys.stderr)
    failed = [a.name for a in rep.approaches if a.status not in ("optimal", "time_limit", "infeasible")]
    if failed and not all("--time-limit" in a.message for a in rep.approaches if a.name in failed):
        from solver.errors import RAISE_TIME_LIMIT
        print(f"error: no {' / '.join(failed)} plan: {RAISE_TIME_LIMIT}", file=sys.stderr)
    if args.json:
        atomic_write_text(Path(args.json), json.dumps(rep.to_dict(), indent=1, default=float) + "\n")
        print(f"wrote {args.json}", file=console)
    return exit_code(rep)


def exit_code(rep) -> int:
    """The command's exit code for a :class:`~solver.explore.robust.RobustReport` (module docstring)."""
    from solver.mip.status import INFEASIBLE, OPTIMAL, TIME_LIMIT
    stochastic, comparisons = rep.approaches[0], rep.approaches[1:]
    if stochastic.expected_usd is None:
        return EXIT_INFEASIBLE if stochastic.status == INFEASIBLE else EXIT_SOLVER_ERROR
    # a mean/max plan that cannot serve every scenario is a result; one without a plan is not
    if any(a.status not in (OPTIMAL, TIME_LIMIT, INFEASIBLE) for a in comparisons):
        return EXIT_SOLVER_ERROR
    if stochastic.status != OPTIMAL or any(a.status == TIME_LIMIT for a in comparisons):
        return EXIT_TIME_LIMIT
    return EXIT_OK
