"""``fleetopt whatif PROBLEM.yaml``: binding constraints, what relaxing each is worth, price thresholds.

Solves the problem, then (see :mod:`solver.explore.sensitivity`) prints every
binding limit with its marginal value in USD per month (duals of the LP with
the integer decisions held fixed, two ways; demand by re-solving that LP with it
moved both ways), and for each accelerator the plan buys or rents (and the cheapest
ones it does not) the hourly price at which it would stop (start) buying or renting it (for a
purchase the all-in rate, amortisation + maintenance + hosting, and the purchase price per
device at which a re-solve switches, owned devices' maintenance moving with it), owned devices
aside, or no plan fits the budget.
Exit code 0; 4 when the plan analysed stopped at its time limit (not proven optimal: its gap is
printed and in the JSON, and every figure is that plan's); or the solve's own code when no plan
was found: 3 infeasible, 5 a solver error or the time limit before any plan.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from solver.cli import InputIssues, Once, add_verbose, check_outputs, console_stream, option_rules
from solver.errors import EXIT_OK, EXIT_TIME_LIMIT, InputIssue
from solver.mip.backends import BACKENDS


def register(sub) -> None:
    p = sub.add_parser("whatif", help="binding constraints, marginal values (duals, integer decisions "
                                      "fixed) and the price at which the plan changes accelerator")
    p.add_argument("problem", metavar="PROBLEM.yaml")
    p.add_argument("--scenario", action=Once, default=None,
                   help="apply this named scenario first")
    p.add_argument("--catalog", action="append", default=[], metavar="FILE",
                   help="catalog overlay file (repeatable)")
    p.add_argument("--backend", choices=sorted(BACKENDS), default=None)
    p.add_argument("--solver", default=None)
    p.add_argument("--lp-solver", default="highs", help="LP solver that returns duals (highs)")
    p.add_argument("--time-limit", type=float, default=None, metavar="S", help="seconds per solve")
    p.add_argument("--gap", type=float, default=None, metavar="G", help="relative MIP gap")
    p.add_argument("--no-thresholds", action="store_true", help="skip the price bisections")
    p.add_argument("--no-steps", action="store_true",
                   help="skip re-solving with each tight power/availability/capex limit "
                        "relaxed by one unit's worth")
    p.add_argument("--steps", type=int, default=8, help="bisection steps per search: the hourly rate, and the purchase price where the accelerator is also owned or rented (default 8)")
    p.add_argument("--max-factor", type=float, default=16.0,
                   help="search hourly prices (a purchase's all-in rate, and the purchase prices with "
                        "such a rate) from 1/F to F times the current one (default 16)")
    p.add_argument("--unused", type=int, default=2,
                   help="also find the entry discount of this many cheapest accelerators the plan neither buys nor rents")
    option_rules(p, excludes=[(a, "--no-thresholds") for a in ("--steps", "--max-factor", "--unused")])
    p.add_argument("--json", default=None, metavar="FILE",
                   help="write everything as JSON ('-': on stdout, the console text then on stderr)")
    add_verbose(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from solver.explore.common import SolveOptions
    from solver.explore.sensitivity import (LP_SOLVERS, discrete_steps, marginal_values, max_factor_issues,
                                            price_thresholds)
    from solver.mip.pipeline import solve_problem
    from solver.problem.load import load_problem
    from solver.yamlio import atomic_write_text

    bad = []        # every bad option in one report
    if args.lp_solver not in LP_SOLVERS:
        bad.append(InputIssue(f"LP solver {args.lp_solver!r} does not return duals here",
                              path="--lp-solver", hint=f"use one of {', '.join(LP_SOLVERS)}"))
    if args.steps < 1 or args.steps > 30:
        bad.append(InputIssue(f"--steps must be in 1..30, got {args.steps}", path="--steps",
                              hint="e.g. --steps 8 (each step is one re-solve per accelerator)"))
    bad += max_factor_issues(args.max_factor)
    if args.unused < 0:
        bad.append(InputIssue(f"--unused must be >= 0, got {args.unused}", path="--unused",
                              hint="e.g. --unused 2, or 0 for none"))
    opts = SolveOptions(args.backend, args.solver, args.time_limit, args.gap)
    bad += opts.issues()       # (QA s27: --time-limit 0 beside a bad --steps was left out)
    # the flags' errors, the problem file's and the output's in one report (QA s27: the file's came in a
    # second run)
    issues = InputIssues()
    issues.extend(bad)
    loaded = issues.check(load_problem, args.problem, scenario=args.scenario, catalog_overlays=args.catalog)
    if loaded is not None and loaded.problem.objective.periods is not None:
        issues.extend([InputIssue("whatif handles single-period problems only", path="objective.periods",
                                  file=loaded.file, hint="remove objective.periods (or use fleetopt pareto/sweep)")])
    issues.check(check_outputs, args, {"json": "--json"})
    issues.raise_if_any()
    s = solve_problem(loaded, backend=opts.backend, solver=opts.solver, time_limit_s=opts.time_limit_s,
                      mip_gap=opts.mip_gap)
    res = s.result
    if not res.has_plan:
        # README "Exit codes": 3 infeasible; 5 a solver error, or the time limit before any plan
        from solver.errors import EXIT_INFEASIBLE, EXIT_SOLVER_ERROR, RAISE_TIME_LIMIT
        infeasible = res.status == "infeasible"
        hint = "" if infeasible or "--time-limit" in res.message else f"; {RAISE_TIME_LIMIT}"
        print(f"status: {res.status} ({res.message}){hint}; nothing to analyse", file=sys.stderr)
        return EXIT_INFEASIBLE if infeasible else EXIT_SOLVER_ERROR
    # `--json -`: the JSON alone on stdout (`| jq`), the report on stderr, as `solve` does
    console = console_stream(args.json)
    k, model = s.coefficients, s.model
    sens = marginal_values(k, model, res.values, lp_solver=args.lp_solver)
    per_month = 730.0 / k.hours
    # per month: what a month of the horizon pays, as the plan and the budget count it (a reservation
    # longer than the horizon at its rate; review: the whole term averaged read as over the budget)
    n = res.values[model.blocks["n"]]
    after = sum(float(vec @ n) for vec in k.after_horizon_usd_per_unit().values())
    # a plan stopped at its time limit is not proven optimal (QA ops #4: exit 0, no gap, its marginal
    # values read as the optimum's): say so, with its gap, and exit 4 as solve does
    sens.status, sens.gap = res.status, s.plan.solver.gap
    proven = res.status == "optimal"
    gap_text = "unknown (no bound given)" if sens.gap is None else f"{100 * sens.gap:.3g}%"
    if not proven:
        sens.note = (f"of a plan not proven optimal (time limit, gap {gap_text}), not of the optimum; "
                     + sens.note)
    print(f"plan: {res.status}" + ("" if proven else f" (not proven optimal: gap {gap_text})")
          + f", ${(sens.objective_usd - after) * per_month:,.2f} per month "
          f"(${sens.objective_usd:,.2f} over {k.hours:g} h"
          + (f", of which ${after:,.2f} reservations pay after it" if after > 0 else "") + ")",
          file=console)
    if not proven:
        print(f"warning: the base plan stopped at the time limit with a gap of {gap_text}: it is not proven "
              "optimal, and the marginal values, steps and price thresholds below are those of this plan, "
              "not of the optimum; raise --time-limit (exit 4, as for `fleetopt solve`)", file=sys.stderr)
    print("Marginal values (" + sens.note + "):", file=console)
    if not sens.marginals:
        print("  no reported limit binds (demand, power, availability, budget, capex, quality, spot)",
              file=console)
    for m in sens.marginals:
        # whole dollars from 1,000 up (',.4g' wrote 12,570 as 1.257e+04), 4 digits below
        fleet, mix = ("-" if v is None else f"{v:,.0f}" if abs(v) >= 1e3 else f"{v:,.4g}"
                      for v in (m.usd_per_month_per_unit, m.usd_per_month_per_unit_mix))
        print(f"  {m.family}[{m.label}]  per {m.unit}: fleet fixed {fleet}, mix fixed {mix} USD/month",
              file=console)
        print(f"      {m.text}", file=console)
    tl = opts.time_limit_s or loaded.problem.solver.time_limit_s
    gap = opts.mip_gap if opts.mip_gap is not None else 1e-6
    if not args.no_steps:
        # the base plan's own gap: its proven one, else the gap it was solved to (CBC gives no bound)
        base_gap = s.plan.solver.gap if s.plan.solver.gap is not None else (
            opts.mip_gap if opts.mip_gap is not None else loaded.problem.solver.mip_gap)
        steps = discrete_steps(k, model, res.values, backend=res.backend, solver=res.solver,
                               time_limit_s=tl, mip_gap=gap, base_gap=base_gap)
        sens.steps = [st.__dict__ for st in steps]
        if steps:
            print("Tight limits relaxed by whole units (full MIP re-solves; the smallest of the limit's unit "
                  "sizes that saves as much as room for its largest):", file=console)
        for st in steps:
            print(f"  {st.text}", file=console)
    if not args.no_thresholds:
        be = res.backend
        ths = price_thresholds(k, model, res.values, backend=be, solver=res.solver, steps=args.steps,
                               max_factor=args.max_factor, unused=args.unused,
                               time_limit_s=tl, mip_gap=gap)
        sens.thresholds = [t.__dict__ for t in ths]
        print(f"Price thresholds (full re-solves, {args.steps} bisection steps on a multiplier of each "
              "accelerator's hourly price: rent, or for a purchase amortisation + maintenance + hosting "
              "together; a purchase price searched on its own where the accelerator is also owned or "
              "rented):", file=console)
        for t in ths:
            print(f"  {t.text}  [{t.solves} solves]", file=console)
    if args.json:
        atomic_write_text(Path(args.json), json.dumps(sens.to_dict(), indent=1, default=float) + "\n")
        print(f"wrote {args.json}", file=console)
    return EXIT_OK if proven else EXIT_TIME_LIMIT
