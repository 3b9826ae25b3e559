"""Problem -> coefficients -> model -> solver -> Plan, and the homogeneous baseline.

This is what ``fleetopt solve`` runs; other commands (sweeps, Pareto fronts)
call :func:`solve_problem` too, so the whole chain lives in one place.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace
from typing import Optional, Sequence

import numpy as np

from solver.coefficients import Coefficients, build_coefficients, restrict_accelerators
from solver.errors import InputError, InputIssue
from solver.mip.backends import BACKENDS, cleaned, solve
from solver.mip.formulation import build_model
from solver.mip.model import LinearModel
from solver.mip.options import SolveOptions
from solver.mip.status import ERROR, INFEASIBLE, OPTIMAL, TIME_LIMIT, SolveResult
from solver.plan import (PLAN_ARGUMENTS, PerformanceSource, Plan, build_plan, check_earlier_plan,
                         deployment_candidate, deployment_model, plan_deployment_ids, plan_dict, plan_routes,
                         plan_source)
from solver.problem.load import require_loaded
from solver.progress import money, solved, starting

log = logging.getLogger(__name__)


@dataclass
class Solved:
    """A solve's plan, with the coefficients, model and raw solver result it came from."""

    plan: Plan
    coefficients: Coefficients
    model: LinearModel
    result: SolveResult


#: the order in which the coefficient builder drops a (deployment, workload) pair, and how the
#: count of each is worded (QA: "14 quality per request" beside explain's "35 quality below the
#: target" read as a contradiction; explain counts every reason among the pairs the filters allow)
FILTER_ORDER = ("model_filter", "quantization_filter", "region_filter", "quality_per_request", "no_capacity")
FILTER_WORDS = {"model_filter": "by its model list", "quantization_filter": "by its quantization list",
                "region_filter": "by its region list",
                "quality_per_request": "below its per-request quality target",
                "no_capacity": "no capacity within its SLOs (weights, context or latency)"}


def unservable_message(k: Coefficients) -> Optional[str]:
    """Why some workload has no candidate at all (so the MIP is infeasible), or None."""
    served = set(k.pair_w.tolist())
    missing = [w for i, w in enumerate(k.workloads) if i not in served]
    if not missing:
        return None
    parts = []
    for w in missing:
        counts = k.pruned_by_workload.get(w, {})
        order = sorted(counts, key=lambda r: FILTER_ORDER.index(r) if r in FILTER_ORDER else len(FILTER_ORDER))
        why = ", ".join(f"{counts[r]} {FILTER_WORDS.get(r, r.replace('_', ' '))}" for r in order if counts[r])
        parts.append(f"{w}: {why or 'no candidate at all'}")
    cmds = [f"{w}: `{k.perf_commands[w]}`" for w in missing if w in k.perf_commands]
    see = ("; the model's figures for each one's nearest deployment (the TTFT and TPOT it reaches at the "
           "lightest load): " + "; ".join(cmds)) if cmds else "; `fleetopt perf` shows why a deployment cannot serve"
    return (f"no allowed deployment can serve workload(s) {', '.join(missing)} within their SLOs "
            f"and filters ({len(k.offers)} offers considered; combinations dropped per workload, each "
            f"counted once, at the first test it fails, in this order - {'; '.join(parts)}; `fleetopt "
            f"explain` breaks down why the ones its filters allow cannot serve it). Relax the SLO, quality target or filters, or allow more "
            f"accelerators/regions{see}.")


#: blocks lowered after a solve, in this order (spares before the replicas they sit on, replicas
#: before the units they fill): single-period and multi-period names
IDLE_BLOCKS = ("s", "y", "n", "SP", "Y", "NE")
#: the closing advice on an infeasible model; `solve` replaces it by what `explain` found
RELAX_ONE_AT_A_TIME = "try relaxing one at a time with --scenario"


def drop_idle(model: LinearModel, res: SolveResult) -> SolveResult:
    """``res`` without replicas, spares and rented units that no row needs and nothing prices
    (:meth:`LinearModel.lowered`): equal optima then give equal plans on every backend."""
    if res.values is None:
        return res
    cols = [model.blocks[b].ravel() for b in IDLE_BLOCKS if b in model.blocks]
    cols = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    values = model.lowered(res.values, cols[cols >= 0])
    return replace(res, values=values, objective=model.objective_value(values))


#: models up to this many variables get their continuous values re-solved by one LP solver
#: (:func:`settle_continuous`); the LP of rung L (~210k variables) takes ~1-2 s, XL's would not pay
SETTLE_MAX_VARS = 300_000


def settle_continuous(model: LinearModel, res: SolveResult, time_limit_s: float = 20.0) -> SolveResult:
    """``res`` with its continuous values (routing, spares' loads) re-solved by HiGHS's LP with
    every integer decision fixed at the solver's.

    Why: each backend returns the continuous part of its plan at its own tolerances and from its
    own vertex of a degenerate routing LP, so the same fleet came back with 0.900000008 against
    a 0.9 cap on one backend and another workload's chargeback 25 % off on another (routes of
    nearly equal cost).  One deterministic LP solver, given the same integers, gives the same
    values; its optimum is no dearer than the plan it starts from.  Kept only when the LP
    solves to optimality within its tolerance of that plan's cost.
    """
    if res.values is None or model.n_vars > SETTLE_MAX_VARS or not model.is_int.any():
        return res
    from solver.mip.backends import quiet_stdout
    from solver.mip.highspy_backend import highs_from_model

    ints = model.is_int
    fixed_at = np.round(res.values[ints])
    lb, ub = model.lb.copy(), model.ub.copy()
    lb[ints] = ub[ints] = fixed_at
    h = highs_from_model(replace(model, lb=lb, ub=ub), relax=True, time_limit_s=time_limit_s, mip_gap=0.0,
                         threads=1)
    with quiet_stdout():
        h.run()
    if h.modelStatusToString(h.getModelStatus()) != "Optimal":
        return res
    values = np.clip(np.asarray(h.getSolution().col_value, float), lb, ub)
    values[ints] = fixed_at
    before, after = model.objective_value(res.values), model.objective_value(values)
    if after > before + 1e-7 * max(1.0, abs(before)) or model.violations(values):
        return res
    return replace(res, values=values, objective=after)


def tidy(model: LinearModel, res: SolveResult) -> SolveResult:
    """A solve's values as the plan is built from them: idle integers lowered, the continuous part
    settled by one LP solver, and what that leaves idle lowered again."""
    return drop_idle(model, settle_continuous(model, drop_idle(model, res)))


def contradicted(res: SolveResult) -> bool:
    """Whether ``res`` holds a plan cheaper than its own proven bound (beyond rounding): the bound,
    and any optimality claimed with it, is then wrong."""
    return (res.has_plan and res.best_bound is not None and res.objective is not None
            and res.objective < res.best_bound - 1e-6 * max(1e-3, abs(res.best_bound)))


def outside_gap(res: SolveResult, mip_gap: float) -> Optional[float]:
    """The gap ``res``'s own plan and bound prove when the solver calls it optimal although that gap
    exceeds ``mip_gap`` (a solver also stops on an *absolute* gap, 1e-6 for HiGHS: QA s21, plans of
    1.5e-8 USD 'optimal' with bounds 0 or 9% below), else None."""
    if res.status != OPTIMAL or not res.has_plan or res.best_bound is None or res.objective is None:
        return None
    slack = res.objective - res.best_bound
    if slack <= (mip_gap * 1.01 + 1e-9) * abs(res.objective) + 1e-12:
        return None
    return slack / max(abs(res.objective), 1e-12)


def checked(model: LinearModel, res: SolveResult, *, time_left_s: float, threads: Optional[int] = None,
            mip_gap: float = 1e-4) -> SolveResult:
    """:func:`tidy`, then a plan cheaper than the solver's own bound caught.

    Why: HiGHS 1.12's MIP presolve sometimes returns a point as "Optimal" that is not (QA: a
    three-period problem, 317,436 USD "optimal" with bound 317,436, where 53,540.64 is feasible and
    every other solver's optimum; HiGHS alone on the MPS file agrees with presolve on, not off).  Idle
    replicas dropped took the plan to 248,970, below the bound: the proof is false.  A HiGHS whole-model
    solve is then run again without presolve, from the tidied plan, in the time left; whatever the
    outcome, a bound a plan contradicts is dropped and no optimality is claimed on it.
    """
    t = tidy(model, res)
    if not contradicted(t):
        wide = outside_gap(t, mip_gap)
        if wide is not None:
            why = ("OR-Tools' HiGHS wrapper ignores the gap asked for and HiGHS stops at its default of 1e-4; "
                   "--backend highspy --solver highs takes the gap" if (t.backend, t.solver) == ("ortools", "highs")
                   else "its tolerances are absolute")
            note = (f"the solver called the plan optimal, but its bound is {wide:.4%} below it, above the "
                    f"gap of {mip_gap:g} asked for ({why})")
            log.warning("%s", note)
            return replace(t, status=TIME_LIMIT, message=f"{t.message}; {note}")
        return t
    note = (f"the solver's bound {t.best_bound:,.2f} is above a plan it returned ({t.objective:,.2f} once idle "
            "replicas were dropped): its proof is wrong (a solver fault)")
    log.warning("%s", note)
    whole_highs = t.backend == "highspy" and (t.solver == "highs" or "went to HiGHS whole" in t.message)
    if whole_highs and time_left_s >= 1.0:
        from solver.mip.highspy_backend import solve_highspy
        again = tidy(model, cleaned(model, solve_highspy(model, "highs", time_left_s, mip_gap, threads,
                                                         start=t.values, presolve=False)))
        log.info("solved again without presolve: %s", solved(again))
        if again.has_plan and not contradicted(again) and again.objective <= t.objective + 1e-9:
            again.message = f"{note}; solved again with HiGHS's presolve off: {again.message}"
            again.seconds += t.seconds
            return again
    status = TIME_LIMIT if t.status == OPTIMAL else t.status
    return replace(t, status=status, best_bound=None,
                   message=f"{t.message}; {note}: no gap is claimed; try another solver (e.g. --backend pulp "
                           "--solver cbc)")


def with_fallback(run, backend: str, solver: Optional[str], fallback: Sequence[str] = ()) -> SolveResult:
    """``run(backend, solver)``, then on an *error* each ``fallback`` ("name" or "backend:name") in turn.

    The result of a solver that stood in says which failed before it (a warning too): each gets
    the whole time limit, so a batch job's solve took up to (1 + fallbacks) x its limit, and its
    ``seconds`` showed only the last solver's (QA s27).  Where every one fails, the message lists
    them all.  Used by single- and multi-period solves alike (QA s27: multi-period problems ignored
    ``solver.fallback``)."""
    res = run(backend, solver)
    tried = [res]
    for fb in fallback:
        if res.status != ERROR:
            break
        be, _, name = fb.rpartition(":")
        log.warning("%s/%s failed (%s); trying %s", res.backend, res.solver, res.message, fb)
        res = run(be or backend, name)
        tried.append(res)
    if len(tried) > 1:
        failed = "; ".join(f"{r.backend}/{r.solver} failed after {r.seconds:.1f}s ({r.message})" for r in tried[:-1])
        if res.status == ERROR:
            res.message = f"every solver failed: {failed}; {res.backend}/{res.solver} ({res.message})"
        else:
            res.message = f"{res.message}; stood in for: {failed}" if res.message else f"stood in for: {failed}"
            res.seconds += sum(r.seconds for r in tried[:-1])
    return res


def solve_coefficients(problem, k: Coefficients, *, backend: str, solver: Optional[str],
                       time_limit_s: float, mip_gap: float, threads: Optional[int] = None,
                       scenario: Optional[str] = None, fallback: Sequence[str] = (),
                       warm_start: Optional[dict] = None) -> Solved:
    """Build and solve; on a solver *error* try each ``fallback`` ("name" or "backend:name").

    ``warm_start``: an earlier plan's JSON dict, turned into a starting solution
    (:mod:`solver.mip.warmstart`).
    """
    t0 = time.perf_counter()
    model = build_model(k)
    log.info("model: %d variables (%d integer), %d rows, %d nonzeros in %.1fs", model.n_vars,
             int(model.is_int.sum()), model.n_rows, len(model.data), time.perf_counter() - t0)
    msg = unservable_message(k)
    start, start_note = None, ""
    if warm_start is not None and msg is None:
        from solver.mip.warmstart import start_from_plan
        ws = start_from_plan(k, model, warm_start)
        start, start_note = (ws.values if ws.matched_deployments else None), ws.summary()
        if not ws.matched_deployments:
            log.warning("the warm-start plan has no deployment of this problem (%d of its deployments "
                        "are not among this problem's candidates): solving without a start",
                        len(ws.unmatched))
    if msg is not None:
        res = SolveResult(INFEASIBLE, backend, solver or "-", 0.0, message=msg)
    else:
        log.info(starting(backend, solver or BACKENDS[backend][0], time_limit_s, mip_gap,
                          ", from the warm start" if start is not None else ""))
        res = with_fallback(lambda be, name: solve(model, be, name, time_limit_s=time_limit_s,
                                                   mip_gap=mip_gap, threads=threads, start=start),
                            backend, solver, fallback)
        if start_note:
            res.message = f"{res.message}; {start_note}" if res.message else start_note
        if res.status == INFEASIBLE:
            res.message += ("; the constraints conflict (availability, power, budget, spot share, "
                            "mean quality or redundancy); " + RELAX_ONE_AT_A_TIME)
    log.info(solved(res))
    logged = res.objective
    res = checked(model, res, time_left_s=time_limit_s - (time.perf_counter() - t0), threads=threads,
                  mip_gap=mip_gap)
    plan = build_plan(problem, k, model, res, scenario=scenario, time_limit_s=time_limit_s,
                      mip_gap=mip_gap)
    _log_cleaned_cost(plan, logged)
    return Solved(plan, k, model, res)


def _log_cleaned_cost(plan: Plan, logged: Optional[float]) -> None:
    """The plan's cost after its clean-up, where it differs from the solver's figure logged before it
    (QA s26: '-v' ended on 'time_limit: plan 141,936,703' for a plan written at 19,533,136: a plan
    stopped early carries replicas that serve nothing, which the clean-up drops)."""
    total = getattr(plan.objective, "total", None) if plan.objective is not None else None
    if total is None or logged is None or not math.isfinite(logged):
        return
    if abs(total - logged) > 1e-6 * max(1.0, abs(logged)):
        log.info("the plan written costs %s after its clean-up (idle replicas dropped, routing solved again; "
                 "the line above is the solver's own figure)", money(total))


def revalidated(loaded):
    """``loaded``, its problem validated again as :func:`~solver.problem.load.validate_document`
    validates a document (schema, then the catalog ids), with the issues it would raise.

    Why: pydantic's ``model_copy(update=...)`` skips validation, so a problem edited in memory
    reached the solver unchecked (QA s21: a demand of -10 gave an LP error, "fifty" a TypeError, an
    unknown accelerator a bare KeyError).  The problem's dump is validated against the catalog
    already loaded (not read again): 0.3-0.7 ms on problems/*.yaml, where the whole
    validate_document takes 22-30 ms.  A quality target above every allowed model is left to the
    solve (infeasible), as ``fleetopt explain`` loads it.
    """
    from pydantic import ValidationError

    from solver.errors import IssueCollector
    from solver.problem.load import _check_ids
    from solver.problem.schema import Problem
    from solver.validation import pydantic_issues

    p = loaded.problem
    if not isinstance(p, Problem):       # tests' light stand-ins
        return loaded
    doc = p.model_dump(by_alias=True, exclude_unset=True, warnings=False)
    collector = IssueCollector(file=loaded.file)
    q = None
    try:
        q = Problem.model_validate(doc)
    except ValidationError as exc:
        collector.extend(pydantic_issues(exc, Problem, None, file=loaded.file))
    _check_ids(doc, loaded.catalog, None, loaded.file, collector, unreachable_quality=False)
    collector.raise_if_any()
    return loaded if q == p else replace(loaded, problem=q)


def performance_sources(loaded, plan: Plan, perf=None) -> tuple[PerformanceSource, ...]:
    """Where the capacities of each (accelerator, model, quantization, TP) that ``plan`` deploys
    come from: the calibration group the performance model reads for it (the one `fleetopt perf`
    prints: :meth:`~solver.perf.params.PerfParams.group_of` at the candidate's compute format), and
    the workloads whose capacity on it the problem's measurements give (their own matching rule,
    :func:`~solver.perf.apply_measurements`).  Empty with a stand-in ``perf`` (tests)."""
    if perf is not None and getattr(perf, "__name__", "") != "solver.perf":
        return ()
    import solver.perf as perf_model
    from solver.perf.measurements import BOUND_MEASURED
    from solver.perf.params import calibration_families

    d = plan.to_dict()
    by_cand: dict[tuple, list[str]] = {}
    for dep in plan_deployment_ids(d):
        by_cand.setdefault(deployment_candidate(dep), []).append(dep)
    if not by_cand:
        return ()
    cat, p = loaded.catalog, loaded.problem
    keys = sorted(by_cand)
    cands = [perf_model.PerfCandidate(*k) for k in keys]
    wls = [perf_model.PerfWorkload.from_workload(w) for w in p.workloads]
    zeros = np.zeros((len(cands), len(wls)))
    stub = perf_model.Capacity(max_rps=zeros, ttft_ms=zeros, tpot_ms=zeros, batch=zeros, power_w=zeros,
                          idle_power_w=np.zeros(len(cands)), reason=zeros.astype(np.int64),
                          bound=zeros.astype(np.int64))
    measured = perf_model.apply_measurements(stub, cands, wls, p.measurements).bound == BOUND_MEASURED
    routed: dict[str, set] = {}          # deployment id -> workloads it serves
    for r in plan_routes(d):
        if r.get("requests_per_s", 0) > 0:
            routed.setdefault(r["deployment"], set()).add(r["workload"])
    params = perf_model.default_params()
    out = []
    for i, (a, m, q, t) in enumerate(keys):
        acc = cat.accelerators[a]
        fmt = perf_model.engine_spec(cat, cands[i], params).terms.peak_format
        grp = params.group_of(acc, fmt or "*")
        served = sorted(set().union(*(routed.get(dep, set()) for dep in by_cand[keys[i]])))
        meas = tuple(w.id for j, w in enumerate(p.workloads) if measured[i, j] and w.id in served)
        if served and len(meas) == len(served):
            source = "measured"
        elif grp is params.default or grp.family == "*":
            source = "default"
        elif grp.fit_rows > 0 and grp.format == fmt and grp.family == calibration_families(acc)[0]:
            source = "fitted"
        else:
            source = "fallback"
        figures = [("memory_gb", acc.memory_gb), ("mem_bw_gbps", acc.mem_bw_gbps)]
        if fmt:
            figures.append((f"peak_tflops.{fmt}", acc.peak_tflops[fmt]))
        if t > 1:
            figures.append(("interconnect.bandwidth_gbps", acc.interconnect.bandwidth_gbps))
        out.append(PerformanceSource(
            accelerator=a, family=acc.family, model=m, quantization=q, tensor_parallel=t, source=source,
            calibration_group=f"{grp.family}/{grp.format}", fit_rows=grp.fit_rows,
            compute_efficiency=grp.compute_efficiency, bandwidth_efficiency=grp.bandwidth_efficiency,
            measured_workloads=meas, low_confidence=tuple(n for n, f in figures if f.confidence == "low"),
            deployments=tuple(by_cand[keys[i]])))
    return tuple(out)


def price_confidence(catalog, proc) -> Optional[str]:
    """The confidence of the catalog price a procurement line pays (None: a problem's own offer,
    owned devices)."""
    acc = catalog.accelerators.get(proc.accelerator)
    if acc is None or proc.existing:
        return None
    if proc.acquisition == "purchase":
        return acc.purchase.usd_per_device.confidence if acc.purchase is not None and proc.provider == "owned" \
            else None
    for off in acc.offers:
        if (off.region, off.provider, off.instance, off.devices_per_instance) == (
                proc.region, proc.provider, proc.instance, proc.devices_per_unit):
            price = off.price(proc.acquisition)
            return price.confidence if price is not None else None
    return None


def with_provenance(loaded, solved: Solved, perf=None) -> Solved:
    """``solved`` with its plan's :class:`PerformanceSource` records and its procurement's price
    confidence (what the reports' notes read)."""
    plan = solved.plan
    proc = tuple(replace(x, price_confidence=price_confidence(loaded.catalog, x)) for x in plan.procurement)
    return replace(solved, plan=replace(plan, procurement=proc,
                                        performance=performance_sources(loaded, plan, perf)))


def solve_problem(loaded, *, backend: Optional[str] = None, solver: Optional[str] = None,
                  time_limit_s: Optional[float] = None, mip_gap: Optional[float] = None,
                  threads: Optional[int] = None, perf=None, previous: Optional[dict] = None,
                  executed_through: Optional[int] = None, warm_start: Optional[dict] = None) -> Solved:
    """Solve a :class:`~solver.problem.load.LoadedProblem` (what ``load_problem`` returns).

    Returns :class:`Solved`; ``.plan`` is the :class:`~solver.plan.Plan` (``.plan.to_dict()`` is
    what ``fleetopt solve --json`` writes).  Check ``plan.status``: "optimal", "time_limit" (a
    feasible plan, maybe not the cheapest; ``plan.solver.gap``); "infeasible" and "error" (no
    solver, a crash, or no plan within the time limit) come back as the status with the reason in
    ``plan.message``, not as exceptions.  Only bad input raises: :class:`~solver.errors.InputError`,
    also for a problem edited in memory (``model_copy(update=...)`` skips validation: it is validated
    again, :func:`revalidated`); a path or a bare Problem in place of ``loaded``: TypeError.
    ``plan.performance`` says where the capacities of what it deploys come from
    (:func:`performance_sources`).  Costs are in
    ``plan.objective.currency`` (USD) over ``plan.objective.horizon_hours`` (``usd_per_month`` per
    730 h); latencies in ms, power in W.

    The keyword options override the problem's ``solver`` section, checked as the CLI flags are
    (``mip_gap`` is a fraction: 0.05 for 5 %).  Problems with ``objective.periods`` go to the
    multi-period model (:mod:`solver.periods_plan`), whose total is discounted; ``previous`` (an
    earlier multi-period Plan or its dict, same period 0) re-optimises from it, its periods
    0..``executed_through`` carried out.  ``warm_start`` (an earlier
    single-period Plan or its dict; refused for a multi-period problem) only speeds the search.
    """
    loaded = revalidated(require_loaded(loaded, "solve_problem"))
    p = loaded.problem
    opts = p.solver
    if warm_start is not None:
        warm_start = plan_dict(warm_start, "warm_start")
    if previous is not None:
        previous = plan_dict(previous, "previous", numbered=False)
    SolveOptions(backend, solver, time_limit_s, mip_gap, threads).check(default_backend=opts.backend)
    if executed_through is not None and previous is None:
        raise InputError(InputIssue("--executed-through (executed_through= in Python) needs the earlier plan",
                                    path="executed_through",
                                    hint=f"pass {PLAN_ARGUMENTS['previous']}, the plan whose periods "
                                         "have been carried out"))
    executed_through = 0 if executed_through is None else executed_through
    if isinstance(executed_through, bool) or not isinstance(executed_through, (int, np.integer)) \
            or executed_through < 0:
        raise InputError(InputIssue(f"--executed-through (executed_through= in Python) must be a period >= 0, "
                                    f"got {executed_through!r}", path="executed_through",
                                    hint="0 is the first period: its decisions have been carried out"))
    if warm_start is not None and p.objective.periods is not None:
        # the multi-period model takes no start: a silently ignored one would look like it helped
        raise InputError(InputIssue("--warm-start (warm_start= in Python) is for single-period problems",
                                    file=loaded.file, path="objective.periods",
                                    hint=f"re-optimise a multi-period plan from it with {PLAN_ARGUMENTS['previous']}"))
    for plan, role in ((warm_start, "warm_start"), (previous, "previous")):
        if plan is not None:
            check_earlier_plan(plan, role)
    if warm_start is not None and warm_start.get("problem") not in (None, p.name):
        # (README: "a plan made for a problem of another name is only warned about"; QA: the warm
        # start said nothing, where --existing warns)
        log.warning("%s: the warm-start plan was made for problem %r, this one is %r: its deployments that "
                    "this problem also has are the start", plan_source(warm_start, "warm_start"),
                    warm_start.get("problem"), p.name)
    backend = backend or opts.backend
    solver = solver or (opts.solver if backend == opts.backend else None)
    if p.objective.periods is not None or previous is not None:
        from solver.periods_plan import solve_periods
        return with_provenance(loaded, solve_periods(
            loaded, backend=backend, solver_name=solver,
            time_limit_s=time_limit_s if time_limit_s is not None else opts.time_limit_s,
            mip_gap=mip_gap if mip_gap is not None else opts.mip_gap,
            threads=threads or opts.threads, perf=perf, previous=previous,
            executed_through=executed_through, fallback=opts.fallback), perf)
    t0 = time.perf_counter()
    k = build_coefficients(p, loaded.catalog, perf=perf)
    log.info("coefficients in %.1fs: workloads %d, offers %d, candidates %d, workload-candidate pairs %d",
             time.perf_counter() - t0, k.n_w, k.n_o, k.n_c, k.n_p)
    return with_provenance(loaded, solve_coefficients(
        p, k, backend=backend, solver=solver,
        time_limit_s=time_limit_s if time_limit_s is not None else opts.time_limit_s,
        mip_gap=mip_gap if mip_gap is not None else opts.mip_gap,
        threads=threads or opts.threads, scenario=loaded.scenario,
        fallback=opts.fallback, warm_start=warm_start), perf)


def reasoning_score_warnings(loaded, plan) -> list[str]:
    """One line per model of the plan whose quality score was measured at a reasoning effort
    (catalog ``quality_reasoning_effort``): its answers then carry chain-of-thought tokens, and the
    plan is sized for the workload's output_tokens as given (QA s20: gpt-oss won on its high-effort
    MMLU with the answer lengths of a chat model).  ``fleetopt solve`` prints them."""
    plan = plan_dict(plan, "plan")
    routed: dict[str, set] = {}         # model -> workloads it serves
    for r in plan_routes(plan):
        if r.get("requests_per_s", 0) > 0:
            routed.setdefault(deployment_model(str(r["deployment"])), set()).add(r["workload"])
    out = []
    wl = {w.id: w for w in loaded.problem.workloads}
    for m in sorted(routed):
        model = loaded.catalog.models.get(m)
        effort = getattr(model, "quality_reasoning_effort", None)
        if not effort:
            continue
        lengths = ", ".join(f"{w} {wl[w].output_tokens.mean:g}" for w in sorted(routed[m]) if w in wl)
        out.append(f"{m}'s quality score ({model.quality.value:g}) was measured at {effort} reasoning effort: "
                   "its answers then carry chain-of-thought tokens, and the plan is sized for the output "
                   f"lengths given (mean output tokens: {lengths}); if they do not count that reasoning, "
                   f"raise output_tokens or keep the workload off {m} (workloads.*.models)")
    return out


def homogeneous_baseline(loaded, best_total: Optional[float], *, backend: Optional[str] = None,
                         solver: Optional[str] = None, time_limit_s: Optional[float] = None,
                         mip_gap: Optional[float] = None, perf=None) -> dict:
    """Solve once per accelerator type (fleet restricted to it); report the best and the saving.

    ``best_total``: the heterogeneous plan's total, USD, to compute the saving against: a number,
    or the plan itself (a Plan, the Solved around it, or its JSON dict); None: no saving.
    """
    loaded = require_loaded(loaded, "homogeneous_baseline")
    if best_total is not None and not (isinstance(best_total, (int, float)) and not isinstance(best_total, bool)):
        best_total = plan_dict(best_total, "homogeneous_baseline")["objective"]["total"]
    p = loaded.problem
    accs = sorted(p.fleet.accelerators or loaded.catalog.accelerators)
    rows = []
    for a in accs:
        q = restrict_accelerators(p, [a])
        if p.objective.periods is None:
            k = build_coefficients(q, loaded.catalog, perf=perf)
            if not k.n_c:
                rows.append({"accelerator": a, "status": INFEASIBLE, "total_usd": None})
                continue
        # the same path as the plan itself (single- or multi-period)
        s = solve_problem(replace(loaded, problem=q), backend=backend, solver=solver,
                          time_limit_s=time_limit_s, mip_gap=mip_gap, perf=perf)
        rows.append({"accelerator": a, "status": s.plan.status,
                     "total_usd": s.plan.objective.total})
    feasible = [r for r in rows if r["total_usd"] is not None]
    best = min(feasible, key=lambda r: (r["total_usd"], r["accelerator"])) if feasible else None
    saving = None
    if best is not None and best_total is not None and best["total_usd"] > 0:
        saving = (best["total_usd"] - best_total) / best["total_usd"] * 100.0
    return {"kind": "homogeneous", "per_accelerator": rows,
            "best_accelerator": best["accelerator"] if best else None,
            "best_total_usd": best["total_usd"] if best else None,
            "saving_percent": saving}
