"""``fleetopt simulate PROBLEM PLAN.json`` and ``fleetopt trace generate PROBLEM``.

``simulate`` runs a discrete-event simulation of every deployment of a plan
under the load the plan routes to it (Poisson arrivals, or a trace CSV with
``--trace``) and reports SLO attainment, latency percentiles, goodput and
utilisation, compared with what the MIP assumed.  ``trace generate`` writes a
synthetic trace (``arrival_s,workload,input_tokens,output_tokens``) of the
problem's workloads at their peak rates: the format to replay your own logs in.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys

from solver.cli import Once, check_outputs, console_stream, option_rules
from solver.errors import EXIT_INFEASIBLE, EXIT_SOLVER_ERROR, EXIT_VIOLATIONS, InputError, InputIssue


def _positive(v: str) -> float:
    try:
        x = float(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {v!r}") from None
    if not math.isfinite(x) or x <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds (got {v})")
    return x


def _nonneg(v: str) -> float:
    try:
        x = float(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {v!r}") from None
    if not math.isfinite(x) or x < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 (got {v})")
    return x


def _count(v: str) -> int:
    try:
        x = int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {v!r}") from None
    if x < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {v})")
    return x


def _seed(v: str) -> int:
    try:
        x = int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {v!r}") from None
    if x < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 (got {v})")
    return x


def _chunk(v: str):
    if v.strip().lower() in ("whole", "none", "off"):
        return "whole"
    return _count(v)


def register(sub) -> None:
    p = sub.add_parser("simulate", help="simulate a plan under realistic traffic; measure SLO attainment",
                       description=__doc__.replace("``", "`"), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("problem", metavar="PROBLEM.yaml")
    p.add_argument("plan", metavar="PLAN.json", nargs="?", default=None,
                   help="written by `fleetopt solve --json` (not needed with --tighten)")
    p.add_argument("--scenario", action=Once, default=None,
                   help="problem scenario (default: the scenario the plan was solved for)")
    p.add_argument("--catalog", action="append", default=[], metavar="FILE",
                   help="catalog overlay file (repeatable)")
    p.add_argument("--duration", type=_positive, default=None, metavar="S",
                   help="simulated seconds of Poisson traffic (default 600; with --trace the trace's own "
                        "span is simulated)")
    p.add_argument("--warmup", type=_nonneg, default=None, metavar="S",
                   help="seconds excluded from the metrics while the fleet fills "
                        "(default 10%% of the duration, at most 60)")
    p.add_argument("--seed", type=_seed, default=0, metavar="N", help="random seed (default 0)")
    p.add_argument("--max-replicas", type=_count, default=16, metavar="N",
                   help="replicas simulated per deployment; the rest are statistically "
                        "identical (default 16); with --trace, the trace requests sent to the "
                        "others are left out")
    p.add_argument("--prefill-chunk", type=_chunk, default=None, metavar="TOKENS",
                   help="prompt tokens prefilled per iteration (chunked prefill; default "
                        "8192), or 'whole' to prefill each prompt in one iteration")
    p.add_argument("--without-spares", action="store_true",
                   help="take each deployment's spare (n+1) replicas out, as if one had failed")
    p.add_argument("--kv-reserve", choices=("actual", "max"), default="actual",
                   help="KV cache reserved per request at admission: its actual input + output "
                        "tokens (default; no preemption), or input + the workload's max output "
                        "(TensorRT-LLM's no-evict policy)")
    p.add_argument("--trace", default=None, metavar="CSV",
                   help="replay this trace (arrival_s,workload,input_tokens,output_tokens) "
                        "instead of Poisson traffic")
    p.add_argument("--json", dest="json_out", default=None, metavar="FILE",
                   help="also write the full results as JSON ('-': on stdout, the console text "
                        "then on stderr)")
    p.add_argument("--period", type=int, default=None, metavar="N",
                   help="multi-period plans: simulate this period (default: the busiest period/slice)")
    p.add_argument("--slice", dest="slice_", type=int, default=None, metavar="S",
                   help="multi-period plans: simulate this demand slice of the period")
    p.add_argument("--tighten", action="store_true",
                   help="solve, simulate, and re-solve with tighter planning targets for the "
                        "workloads that miss their SLO, until all meet it in simulation")
    p.add_argument("--step", type=float, default=0.85, metavar="F",
                   help="with --tighten: factor applied to a missed target per round (default 0.85)")
    p.add_argument("--max-rounds", type=_count, default=6, metavar="N",
                   help="with --tighten: most solve/simulate rounds (default 6)")
    p.add_argument("--plan-out", default=None, metavar="FILE",
                   help="with --tighten: write the final plan JSON here")
    option_rules(p, needs=[("--step", "--tighten"), ("--max-rounds", "--tighten"), ("--plan-out", "--tighten")])
    p.add_argument("--check", action="store_true",
                   help=f"exit with code {EXIT_VIOLATIONS} when a workload misses its SLO, or when the "
                        "plan routes other req/s than the problem's demand")
    p.set_defaults(func=run_simulate)

    t = sub.add_parser("trace", help="synthetic request traces (the format `simulate --trace` replays)")
    tsub = t.add_subparsers(dest="trace_command", metavar="ACTION")
    g = tsub.add_parser("generate", help="write a Poisson trace of a problem's workloads at peak rate")
    g.add_argument("problem", metavar="PROBLEM.yaml")
    g.add_argument("-o", "--output", required=True, metavar="CSV",
                   help="the trace file ('-': on stdout, the console text then on stderr)")
    g.add_argument("--scenario", action=Once, default=None,
                   help="apply this named scenario of the problem file")
    g.add_argument("--catalog", action="append", default=[], metavar="FILE", help="catalog overlay (repeatable)")
    g.add_argument("--duration", type=_positive, default=600.0, metavar="S",
                   help="seconds of traffic (default 600)")
    g.add_argument("--seed", type=_seed, default=0, metavar="N", help="random seed (default 0)")
    g.add_argument("--period", type=int, default=None, metavar="N",
                   help="multi-period problems: that period's peak rates, growth and start applied "
                        "(default: the busiest period)")
    g.set_defaults(func=run_trace_generate)
    t.set_defaults(func=lambda args: (t.print_help(), 2)[1])


#: simulated seconds of Poisson traffic when --duration is not given
DEFAULT_DURATION_S = 600.0


def run_simulate(args) -> int:
    from solver.problem.load import load_problem
    from solver.sim.fleet import DEFAULT_PREFILL_CHUNK, SimOptions, build_engines, simulate_plan
    from solver.sim.planfile import demand_mismatches, read_plan
    from solver.sim.report import format_text, predictions, summarize
    from solver.sim.traffic import read_trace

    from solver.cli import distinct_outputs
    distinct_outputs(args, {"json_out": "--json", "plan_out": "--plan-out"})
    if args.duration is not None and getattr(args, "trace", None) is not None:
        # (QA s26: --duration 100 with a trace of 600 s simulated all 600 s without a word)
        raise InputError(InputIssue("--duration is the length of Poisson traffic; with --trace the trace's "
                                    "own arrivals are simulated, up to its last", path="--duration",
                                    hint="drop --duration, or cut the trace to the span to simulate"))
    if args.duration is None:
        args.duration = DEFAULT_DURATION_S
    if args.tighten:
        return run_tighten(args)
    console = console_stream(args.json_out)   # `--json -`: the JSON alone on stdout
    if args.plan is None:
        raise InputError(InputIssue("no plan given", hint="usage: fleetopt simulate PROBLEM.yaml PLAN.json "
                                    "(or --tighten to solve and simulate in a loop)"))
    # The plan names its scenario; read it first so that the problem matches by default.
    # (A file only: a FIFO read here would be empty when read_plan reads it; a plan that cannot be
    # read is said by read_plan, after the problem.)
    from pathlib import Path

    from solver.yamlio import load_json_file
    scenario = args.scenario
    if scenario is None and Path(args.plan).is_file():
        try:
            scen = load_json_file(args.plan, hint="").get("scenario")
            scenario = scen if isinstance(scen, str) else None
        except (InputError, AttributeError):
            scenario = None
    try:
        lp = load_problem(args.problem, scenario=scenario, catalog_overlays=args.catalog)
    except InputError as exc:
        if args.scenario is not None or scenario is None:
            raise
        raise InputError([_from_plan(i, args.plan, scenario) for i in exc.issues]) from None
    workloads = list(lp.problem.workloads)
    wl_ids = [w.id for w in workloads]
    plan = read_plan(args.plan, wl_ids, period=args.period, slice_=args.slice_)
    if plan.period_label:
        print(f"multi-period plan: simulating {plan.period_label}", file=console)
    if plan.scenario != lp.scenario and args.scenario is not None:
        solved_for = f"scenario {plan.scenario!r}" if plan.scenario else "no scenario"
        print(f"warning: the plan was solved for {solved_for}, simulating with {lp.scenario!r}", file=console)
    made_for = plan.raw.get("problem")
    if isinstance(made_for, str) and made_for != lp.problem.name:
        print(f"warning: the plan was made for problem {made_for!r}, simulating it for {lp.problem.name!r}",
              file=console)
    from solver.cli.verify_cmd import provenance_notes
    for note in provenance_notes(plan.raw, lp, lp.scenario, "this simulation uses"):
        print(f"warning: {note} (the sizes and latencies the plan predicts are for what it was made from)",
              file=console)
    if lp.problem.measurements:     # (QA s20: an imported Mélange plan read "all SLOs met" on the model's figures)
        print(f"note: the problem gives {len(lp.problem.measurements)} measured capacities (measurements:); "
              "the plan was sized on them, but the simulator steps every replica with the performance "
              "model's times, not the measurements: the result checks the model's view of the plan",
              file=console)
    mismatch = demand_mismatches(plan, _demand_simulated(lp, plan))
    unknown = [d for d in plan.deployments if d.accelerator not in lp.catalog.accelerators
               or d.model not in lp.catalog.models or d.quantization not in lp.catalog.quantization]
    if unknown:
        raise InputError([InputIssue(
            f"deployment {d.id!r} names an accelerator, model or quantization missing from the catalog",
            file=plan.file, path="deployments",
            hint="pass the same --catalog overlays that were used to solve") for d in unknown])
    warm = args.warmup
    if args.trace is None and warm is not None and warm >= args.duration:
        raise InputError(InputIssue(f"--warmup {warm:g} s is not shorter than --duration {args.duration:g} s",
                                    hint="shorten the warm-up or lengthen the simulation"))
    trace = read_trace(args.trace, wl_ids) if args.trace else None
    if trace is not None and len(trace) and trace.arrival_s.min() > 0:
        print(f"trace {args.trace}: times counted from its first arrival (at {trace.arrival_s.min():,.6g} s)",
              file=console)
        trace = trace.from_first_arrival()
    if trace is not None:
        horizon = float(trace.arrival_s.max())
        if warm is None:
            warm = min(60.0, 0.1 * horizon)
        if horizon == 0:
            raise InputError(InputIssue(f"the trace's {len(trace)} request(s) all arrive at one time: "
                                        "there is no time span to measure rates over", file=args.trace,
                                        hint="replay a trace whose arrivals are spread over time"))
        if warm >= horizon:
            raise InputError(InputIssue(f"the trace spans {horizon:g} s, not more than the "
                                        f"{warm:g} s warm-up", file=args.trace,
                                        hint="pass a smaller --warmup (e.g. 0)"))
    if trace is not None:
        for line in _trace_beyond_problem(trace, workloads):
            print(f"warning: trace {args.trace}: {line}", file=console)
    check_outputs(args, {"json_out": "--json"})
    chunk = DEFAULT_PREFILL_CHUNK if args.prefill_chunk is None else (
        None if args.prefill_chunk == "whole" else args.prefill_chunk)
    opts = SimOptions(duration_s=args.duration if trace is None else float(trace.arrival_s.max()),
                      warmup_s=warm, seed=args.seed, max_replicas=args.max_replicas,
                      prefill_chunk_tokens=chunk, without_spares=args.without_spares,
                      kv_reserve=args.kv_reserve)
    engines = build_engines(lp.catalog, plan)
    sim = simulate_plan(workloads, plan, engines, opts, trace=trace)
    summary = summarize(sim, workloads, plan, predictions(lp.catalog, plan, workloads))
    summary["problem"] = lp.name
    summary["plan"] = str(args.plan)
    summary["demand_mismatch"] = mismatch
    if trace is not None:
        summary["trace"] = str(args.trace)
    print(format_text(summary, title=f"simulation of {args.plan} for {lp.name}"), file=console)
    if args.json_out:
        _write(args.json_out, json.dumps(_jsonable(summary), indent=2) + "\n")
    if args.check and mismatch:
        # named here: the report's warning went to stdout, which a batch job may not show (QA)
        print("--check: the plan routes other req/s than the demand: " + ", ".join(
            f"{m['workload']} {m['routed_rps']:.4g} req/s routed of {m['demand_rps']:.4g}" for m in mismatch),
            file=sys.stderr)
    if args.check and (not summary["all_slos_met"] or mismatch):
        return EXIT_VIOLATIONS
    return 0


def _trace_beyond_problem(trace, workloads) -> list[str]:
    """Where a trace's token counts leave what the problem told the solver (QA: a trace of 0-token
    prompts and 300k-token prompts replayed against a plan sized for 600 tokens said nothing): the
    plan was not sized for those requests, so a miss there is the problem's, not the plan's."""
    lines = []
    for i, w in enumerate(workloads):
        sel = trace.workload == i
        if not sel.any():
            continue
        for name, stats, got in (("input_tokens", w.input_tokens, trace.input_tokens[sel]),
                                 ("output_tokens", w.output_tokens, trace.output_tokens[sel])):
            cap = getattr(stats, "max", None)
            if cap is not None and (got > cap).any():
                lines.append(f"{int((got > cap).sum()):,} of {w.id}'s {int(sel.sum()):,} requests have more "
                             f"{name} than the problem's {name}.max ({cap:,.0f}; up to {int(got.max()):,}): "
                             "the plan was not sized for them")
            mean = float(got.mean())
            if sel.sum() >= 30 and not 0.5 * stats.mean <= mean <= 2.0 * stats.mean:
                lines.append(f"{w.id}'s mean {name} in the trace is {mean:,.1f}, the problem's "
                             f"{stats.mean:,.6g}: the plan was sized for the problem's; update the workload "
                             "to the trace's figures and solve again to size for them")
        if (trace.input_tokens[sel] == 0).any():
            lines.append(f"{int((trace.input_tokens[sel] == 0).sum()):,} of {w.id}'s requests have no prompt "
                         "tokens (a server needs at least one)")
    return lines


def _from_plan(issue: InputIssue, plan_file: str, scenario: str) -> InputIssue:
    """An error about the scenario the plan names: the user passed no --scenario, so say that the
    name came from the plan file and how to simulate under another."""
    if issue.path != "scenarios":
        return issue
    names = (issue.hint if issue.hint and "drop --scenario" not in issue.hint
             else "this file has no scenarios.")
    return dataclasses.replace(
        issue, message=f"{issue.message}, the scenario the plan file {plan_file} was solved for "
                       "(no --scenario given)",
        hint=f"{names} Or set \"scenario\": null in the plan file to simulate the problem as written.")


def _demand_simulated(lp, plan) -> dict[str, float]:
    """Req/s per workload the plan should route: a multi-period plan's own demand of the period and
    slice simulated (none stated: nothing to compare), else the problem's (scenario's) peak demand."""
    if plan.period_label:
        return dict(plan.raw.get("demand_rps") or {})
    if lp.problem.objective.periods is not None:   # a single-period plan of a multi-period problem
        return {}
    return {w.id: float(w.demand.requests_per_s) for w in lp.problem.workloads}


def run_tighten(args) -> int:
    """``--tighten``: the solve -> simulate -> tighten loop of :mod:`solver.sim.tighten`."""
    from solver.problem.load import load_problem
    from solver.sim.fleet import DEFAULT_PREFILL_CHUNK, SimOptions
    from solver.sim.report import format_text
    from solver.sim.tighten import tighten_until_met

    if args.trace:
        raise InputError(InputIssue("--tighten simulates Poisson traffic; it cannot replay --trace",
                                    hint="drop --trace, or simulate a plan with --trace"))
    if args.plan is not None:   # QA: it was ignored without a word
        raise InputError(InputIssue(f"--tighten solves the problem itself; it does not take a plan ({args.plan})",
                                    hint="drop the plan argument, or simulate that plan without --tighten"))
    if not 0 < args.step < 1:
        raise InputError(InputIssue(f"--step must be between 0 and 1 (got {args.step:g})",
                                    hint="e.g. --step 0.85"))
    if args.warmup is not None and args.warmup >= args.duration:
        raise InputError(InputIssue(f"--warmup {args.warmup:g} s is not shorter than --duration "
                                    f"{args.duration:g} s", hint="shorten the warm-up"))
    lp = load_problem(args.problem, scenario=args.scenario, catalog_overlays=args.catalog)
    per = lp.problem.objective.periods
    if (args.period is not None or args.slice_ is not None) and per is None:
        raise InputError(InputIssue("--period/--slice pick a period of a multi-period plan, and this problem "
                                    "has one period (no objective.periods)", hint="drop --period and --slice"))
    if args.period is not None and not 0 <= args.period < per.count:
        raise InputError(InputIssue(f"no period {args.period}: the problem has periods 0..{per.count - 1}",
                                    path="--period", hint=f"pass a period from 0 to {per.count - 1}"))
    if args.slice_ is not None:     # before any solve (review: refused after the first one, as a plan's)
        from solver.periods import slice_count
        n = slice_count(lp.problem)
        if not 0 <= args.slice_ < n:
            raise InputError(InputIssue(f"no slice {args.slice_}: the problem's periods have slices 0..{n - 1}",
                                        path="--slice", hint=f"pass a slice from 0 to {n - 1}"))
    check_outputs(args, {"json_out": "--json", "plan_out": "--plan-out"})
    console = console_stream(args.json_out, args.plan_out)
    chunk = DEFAULT_PREFILL_CHUNK if args.prefill_chunk is None else (
        None if args.prefill_chunk == "whole" else args.prefill_chunk)
    opts = SimOptions(duration_s=args.duration, warmup_s=args.warmup, seed=args.seed,
                      max_replicas=args.max_replicas, prefill_chunk_tokens=chunk,
                      without_spares=args.without_spares, kv_reserve=args.kv_reserve)

    def log(r):
        f = ", ".join(f"{w} ttft x{v['ttft']:.3g} tpot x{v['tpot']:.3g}" for w, v in r.factors.items())
        att = ", ".join(f"{w} {100 * a:.2f}%" for w, a in r.attainment.items())
        cost = f"${r.total_usd:,.0f}" if r.total_usd is not None else "-"
        print(f"round: planning targets {f}: {r.status}, {cost}; attainment {att}"
              + (" -> all met" if r.met else ""), file=console, flush=True)

    res = tighten_until_met(lp, opts, step=args.step, max_rounds=args.max_rounds,
                            catalog_overlays=args.catalog, log=log, period=args.period, slice_=args.slice_)
    if res.plan_json is None:
        # no round had a plan: the problem as written has none (QA s27: 'the SLOs were not all met ...
        # within the rounds allowed (1 rounds)', exit 0, no --json written, for an infeasible problem)
        status = res.rounds[0].status if res.rounds else "error"
        if status == "infeasible":
            from solver.explain import explain
            print("error: infeasible: the problem as written has no plan, so there is nothing to simulate "
                  "or tighten", file=sys.stderr)
            limit = lp.problem.solver.time_limit_s
            print(explain(lp, status="infeasible", time_limit_s=min(limit, 60.0), total_s=limit).text(),
                  end="", file=sys.stderr)
            return EXIT_INFEASIBLE
        print(f"error: the problem as written got no plan (status {status}): nothing to simulate; "
              "`fleetopt solve` says why", file=sys.stderr)
        return EXIT_SOLVER_ERROR
    if res.verification is not None:
        print(file=console)
        print(format_text(res.verification, title=f"final plan re-simulated with seed {args.seed + 1}"),
              file=console)
    if res.plan_json is not None and args.plan_out:
        _write(args.plan_out, res.plan_json)
        print(f"wrote the final plan to {args.plan_out} (its KPI targets are the tightened planning targets)",
              file=console)
    if args.json_out and res.verification is not None:
        out = dict(res.verification)
        out["tighten_rounds"] = [{"factors": r.factors, "status": r.status, "total_usd": r.total_usd,
                                  "attainment": r.attainment, "met": r.met} for r in res.rounds]
        _write(args.json_out, json.dumps(_jsonable(out), indent=2) + "\n")
    ok = res.met and res.verification is not None and res.verification["all_slos_met"]
    if not ok:
        print("the SLOs were not all met in simulation within the rounds allowed"
              + ("" if res.met else f" ({len(res.rounds)} rounds)"), file=console)
    return EXIT_VIOLATIONS if (args.check and not ok) else 0


def _write(path, text: str) -> None:
    """Atomic write; an unwritable path is the user's to fix, not an internal error."""
    from solver.yamlio import atomic_write_text

    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise InputError(InputIssue(f"cannot write: {exc.strerror or exc}", file=str(path),
                                    hint="check the directory exists and is writable")) from None


def _jsonable(x):
    """Infinite latencies become null in JSON (strict JSON has no Infinity)."""
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _period_rates(problem, period, console):
    """Peak rate of each workload in ``period`` of a multi-period problem (None: single-period)."""
    import numpy as np

    from solver.periods import growth_factors

    per = problem.objective.periods
    if per is None:
        if period is not None:
            raise InputError(InputIssue("--period is for multi-period problems", path="--period",
                                        hint="leave it out: this problem has no objective.periods"))
        return None
    grow = np.array([growth_factors(w, per.count) for w in problem.workloads])     # (W, T)
    peak = np.array([w.demand.requests_per_s for w in problem.workloads])
    if period is None:
        period = int(np.argmax(peak @ grow))
        print(f"multi-period problem: period {period}, the busiest (--period N for another)", file=console)
    elif not 0 <= period < per.count:
        raise InputError(InputIssue(f"--period {period} is outside 0..{per.count - 1}", path="--period"))
    return {w.id: float(peak[i] * grow[i, period]) for i, w in enumerate(problem.workloads)}


def run_trace_generate(args) -> int:
    from solver.problem.load import load_problem
    from solver.sim.traffic import generate_trace, write_trace

    lp = load_problem(args.problem, scenario=args.scenario, catalog_overlays=args.catalog)
    console = console_stream(args.output)
    rates = _period_rates(lp.problem, args.period, console)
    check_outputs(args, {"output": "--output"})
    tr = generate_trace(lp.problem.workloads, args.duration, args.seed, rates_per_s=rates)
    try:
        write_trace(args.output, tr)
    except OSError as exc:
        raise InputError(InputIssue(f"cannot write: {exc.strerror or exc}", file=args.output,
                                    hint="check the directory exists and is writable")) from None
    print(f"wrote {len(tr)} requests over {args.duration:g} s ({len(tr) / args.duration:.2f} req/s) "
          f"to {args.output}", file=console)
    return 0
