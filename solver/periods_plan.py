"""Multi-period plans: solve, turn solver values into the plan's ``periods`` section, diff two plans.

The ``periods`` section of a plan (JSON) holds, per period: demand per slice,
the hardware timeline (servers bought, reservations started, owned devices
retired, units in service or rented per slice, devices owned per owned offer and
those left idle), deployments and routing per
slice, and the period's accrued cost by part (undiscounted: rentals, reserved
units at their hourly rate and owned units at depreciation + upkeep while in
service, energy; one-off decisions - retirements, moves - are not in it: each
unit row carries what its decision commits in the objective, e.g. ``retire_usd``; ``buy_usd``
and ``reserve_usd`` include the upkeep and idle power of the periods the units serve), the capex of
the servers ordered in the period (``capex_usd``, at the period's price - the catalog's, changed by
``price_change_per_period``, stated beside the timeline where given: what ``fleet.budget.max_capex_usd``
caps) and the nameplate facility kW per ``fleet.power_caps`` cap and slice (``nameplate_kw``), with
the caps themselves (``max_capex_usd``, ``power_caps``; limits given per period as their lists:
``max_capex_usd_by_period``, ``power_caps[].max_kw_by_period``, ``availability``) beside the timeline.  The plan's
``objective`` is the optimised total (discounted; reservations over their whole
term; purchases depreciated while in service within the horizon).

Re-optimisation (``fleetopt solve --existing OLD.json [--executed-through K]``): the
new problem keeps the old plan's period 0 (it may look further ahead: more
periods); the buy, reserve, retire and move decisions of the executed periods
(0, or 0..K) are fixed to the old plan's, later decisions pay the change penalty
for every device they differ by within the old horizon, and the new plan's
``periods.change`` lists what changed with the cost of each.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import replace
from typing import Optional, Sequence

import numpy as np

import solver
from solver.coefficients import build_coefficients, energy_charged, prune_dominated
from solver.errors import InputError, InputIssue
from solver.mip.backends import BACKENDS, refused_if_broken, solve
from solver.mip.periods import (DECISIONS, PERIOD_COST_PARTS, Previous, accrual_terms, build_period_model,
                                power_terms_ts)
from solver.mip.status import INFEASIBLE
from solver.periods import (build_period_spec, owned_offers, pooled_owned_keys, pooled_owned_text, stated_caps,
                            stated_prices, with_move_targets)
from solver.plan import Objective, Plan, SolverInfo, deployment_id, drop_route_noise, plan_source
from solver.problem.schema import HOURS_PER_MONTH
from solver.progress import solved, starting

log = logging.getLogger(__name__)


def previous_decisions(plan: dict, executed_through: int = 0) -> Previous:
    """The decisions of a multi-period plan JSON dict (checked: :func:`solver.plan.check_earlier_plan`
    and :func:`timeline_issues`: its timeline's entries are periods 0..count-1 in order), its periods
    0..``executed_through`` executed."""
    timeline = plan["periods"]["timeline"]
    out = {}
    for t, row in enumerate(timeline):
        for u in row["units"]:
            for dec, _ in DECISIONS:
                if u.get(dec):
                    out[(dec, u["offer"], t)] = float(u[dec])
        for mv in row.get("moves", []):
            out[("move", f"{mv['from']}->{mv['to']}", t)] = float(mv["devices"])
    return Previous(out, n_periods=len(timeline), executed=executed_through + 1,
                    source=plan_source(plan, "previous"))


#: how to fix an earlier plan whose timeline is not one entry per period in order
TIMELINE_FIX = ("pass the plan file `fleetopt solve --json` wrote, unedited: it lists periods 0..count-1 "
                "(periods.timeline) and each period's slices in order, one entry each")


def _out_of_place(rows: list, field: str) -> list[int]:
    """Positions of the entries of ``rows`` whose ``field``, where given, is not their position."""
    return [i for i, row in enumerate(rows) if field in row and row[field] != i]


def _also(where: list[str], what: str = "out of place too") -> str:
    """'; out of place too: A, B, C and 2 more' naming the places after the first one, or ''."""
    if not where:
        return ""
    more = f" and {len(where) - 3} more" if len(where) > 3 else ""
    return f"; {what}: {', '.join(where[:3])}{more}"


def timeline_issues(previous: dict, file: Optional[str]) -> list[InputIssue]:
    """What makes an earlier plan's per-period lists unreadable by position: re-optimisation takes
    ``periods.timeline[t]`` as period t and ``slices[s]`` as slice s, so an entry left out, repeated or
    swapped would keep executed decisions in the wrong period or drop them (QA s23: a timeline
    without its period 0 was accepted and the server it bought was bought again).  ``period`` and
    ``slice`` must be there although the schema makes them optional: without them a reordered
    timeline reads as another plan (QA s23 review: two periods swapped and their numbers removed moved
    the carried-out purchase to period 1, exit 0); their types and ``count``'s are the schema's
    (:func:`solver.plan.check_earlier_plan`)."""
    pp = previous["periods"]
    timeline = pp["timeline"]
    count = int(pp["count"])
    issues = []
    if count != len(timeline):
        # (verify's wording, less the problem's count)
        issues.append(InputIssue(f"is {count} and periods.timeline has {len(timeline)} periods", file=file,
                                 path="periods.count", hint=TIMELINE_FIX))
    missing = [t for t, row in enumerate(timeline) if "period" not in row]
    if missing:
        issues.append(InputIssue(
            "is missing: re-optimisation reads each period's decisions by its number"
            + _also([f"periods.timeline[{i}].period" for i in missing[1:]], "missing too"), file=file,
            path=f"periods.timeline[{missing[0]}].period", hint=TIMELINE_FIX))
    gone = [(t, s) for t, row in enumerate(timeline) for s, sl in enumerate(row["slices"]) if "slice" not in sl]
    if gone:
        t, s = gone[0]
        issues.append(InputIssue(
            "is missing: re-optimisation reads each slice's decisions by its number"
            + _also([f"periods.timeline[{a}].slices[{b}].slice" for a, b in gone[1:]], "missing too"),
            file=file, path=f"periods.timeline[{t}].slices[{s}].slice", hint=TIMELINE_FIX))
    bad = _out_of_place(timeline, "period")
    if bad:
        t = bad[0]
        issues.append(InputIssue(
            f"is {timeline[t]['period']:g}, expected {t}: the timeline must list periods 0..{count - 1} in "
            f"order{_also([f'periods.timeline[{i}].period' for i in bad[1:]])}", file=file,
            path=f"periods.timeline[{t}].period", hint=TIMELINE_FIX))
    bad = [(t, s) for t, row in enumerate(timeline) for s in _out_of_place(row["slices"], "slice")]
    if bad:
        t, s = bad[0]
        issues.append(InputIssue(
            f"is {timeline[t]['slices'][s]['slice']:g}, expected {s}: each period must list its slices "
            f"0, 1, ... in order{_also([f'periods.timeline[{a}].slices[{b}].slice' for a, b in bad[1:]])}",
            file=file, path=f"periods.timeline[{t}].slices[{s}].slice", hint=TIMELINE_FIX))
    return issues


def check_previous_periods(previous: dict, loaded) -> None:
    """Refuse an earlier plan whose timeline is not one entry per period in order
    (:func:`timeline_issues`), or made with periods of another length or another discount rate than
    this problem's: its decisions would be kept as if made for these periods; warn when it was made
    for a problem of another name."""
    per = loaded.problem.objective.periods
    pp = previous["periods"]
    file = plan_source(previous, "previous")
    if previous.get("problem") not in (None, loaded.problem.name):
        log.warning("%s: the plan was made for problem %r, this one is %r: its executed decisions are kept "
                    "as if made for this one", file, previous.get("problem"), loaded.problem.name)
    stated = pp.get("price_change_per_period") or {}
    rates = per.price_change_per_period.rates() if per.price_change_per_period is not None else {}
    if not (stated.keys() == rates.keys()
            and all(math.isclose(float(stated[k]), rates[k], rel_tol=1e-9) for k in rates)):
        # (QA s22: an order placed under purchase -20% was re-costed at -5% without a word; a new price
        # forecast for the periods ahead is the point of re-optimising, so a warning, not a refusal)
        log.warning("%s: the plan was made with price changes per period %s, this problem has %s: the decisions "
                    "of the executed periods are kept and costed at this problem's prices (the earlier plan "
                    "says what they cost then)", file, stated or "none", rates or "none")
    hours = per.months * HOURS_PER_MONTH
    issues = []
    if not (math.isclose(pp["months"], per.months, rel_tol=1e-6)
            and math.isclose(pp["period_hours"], hours, rel_tol=1e-6)):
        issues.append(InputIssue(f"the plan's periods are {pp['months']:g} month(s) ({pp['period_hours']:g} h) long, "
                                 f"this problem's {per.months:g} month(s) ({hours:g} h; objective.periods.months)",
                                 file=file, path="periods.months"))
    rate = pp.get("discount_rate_per_period")
    if rate is not None and not math.isclose(rate, per.discount_rate_per_period, rel_tol=1e-6, abs_tol=1e-12):
        issues.append(InputIssue(f"the plan discounts {rate:g} per period, this problem "
                                 f"{per.discount_rate_per_period:g} (objective.periods.discount_rate_per_period)",
                                 file=file, path="periods.discount_rate_per_period"))
    if issues:
        made = f"months: {pp['months']:g}" + (f", discount_rate_per_period: {rate:g}" if rate is not None else "")
        issues = [replace(i, hint=f"re-optimise with the objective.periods the plan was made with ({made}), "
                                  "or solve afresh without --existing") for i in issues]
    issues = timeline_issues(previous, file) + issues
    if issues:
        raise InputError(issues)


def check_executed_fits_fleet(prev: Previous, k, spec, file: Optional[str]) -> None:
    """Refuse executed retirements and moves of more owned devices than ``fleet.existing`` lists (the
    model would only find them infeasible, blaming power, spot share or demand)."""
    key = [o.key for o in k.offers]
    gone: dict[int, float] = {}      # owned offer -> devices retired or moved out, less moved in, so far
    issues = {}
    for t in range(prev.executed):
        for o, off in enumerate(k.offers):
            if off.existing:
                gone[o] = gone.get(o, 0.0) + prev.get(("retire", off.key, t))
        for a, b in spec.moves:
            n = prev.get(("move", f"{key[a]}->{key[b]}", t))
            gone[a], gone[b] = gone.get(a, 0.0) + n, gone.get(b, 0.0) - n
        for o, n in gone.items():
            owned = k.offers[o].max_units or 0
            if n > owned + 1e-9 and o not in issues:
                issues[o] = InputIssue(
                    f"the previous plan ({prev.source}) retires or moves away {n:g} devices of {key[o]} by "
                    f"period {t}, and this problem owns {owned} there", file=file, path="fleet.existing",
                    hint="list under fleet.existing every device the previous plan started from (devices it "
                         "retired or moved stay listed: the plan records what happened to them), or re-optimise "
                         "the plan made for this fleet")
    if issues:
        raise InputError(list(issues.values()))


def period_coefficients(loaded, *, perf=None):
    """Coefficients of a multi-period problem (owned devices and move targets as offers)."""
    # offer dominance compares costs over one horizon; with elastic rentals per slice and
    # commitments per period it no longer holds, so only candidate dominance is applied
    padded, owned = with_move_targets(loaded.problem, loaded.catalog)
    return owned_offers(prune_dominated(build_coefficients(padded, loaded.catalog, perf=perf, dominance=False)),
                        owned)


def solve_period_model(k, spec, model, v, *, backend: str, solver_name: Optional[str], time_limit_s: float,
                       mip_gap: float, threads: Optional[int] = None, previous: Optional[dict] = None,
                       whole_model_max_vars: Optional[int] = None):
    """Solve the built multi-period model: ``highspy``'s ``reduced`` solver decomposes it by period
    where the relaxation applies (:mod:`solver.mip.decompose`); where it does not and the model is
    larger than HiGHS takes whole (``whole_model_max_vars``), a plan without a bound from the
    restricted heuristic (:func:`solver.mip.decompose.solve_restricted`); otherwise the whole MIP."""
    from solver.mip.decompose import WHOLE_MODEL_MAX_VARS
    if whole_model_max_vars is None:
        whole_model_max_vars = WHOLE_MODEL_MAX_VARS
    if backend == "highspy" and solver_name in (None, "reduced"):
        from solver.mip.decompose import not_decomposable, solve_decomposed
        why = not_decomposable(k, spec, previous)
        if why is None:
            return refused_if_broken(model, solve_decomposed(k, spec, model, v, time_limit_s=time_limit_s,
                                                             mip_gap=mip_gap, threads=threads))
        t0 = time.perf_counter()
        if model.n_vars > whole_model_max_vars:
            from solver.mip.decompose import solve_restricted
            res = solve_restricted(k, spec, model, v, why, time_limit_s=time_limit_s, mip_gap=mip_gap,
                                   threads=threads)
            if res is not None:
                return refused_if_broken(model, res)
        left = max(time_limit_s - (time.perf_counter() - t0), 1.0)
        res = solve(model, backend, solver_name, time_limit_s=left, mip_gap=mip_gap, threads=threads)
        res.message = f"whole model (no period decomposition: {why}); {res.message}"
        return res
    return solve(model, backend, solver_name, time_limit_s=time_limit_s, mip_gap=mip_gap, threads=threads)


def solve_periods(loaded, *, backend: str, solver_name: Optional[str], time_limit_s: float,
                  mip_gap: float, threads: Optional[int] = None, perf=None,
                  previous: Optional[dict] = None, executed_through: int = 0, fallback: Sequence[str] = ()):
    """Build and solve the multi-period model; returns a pipeline ``Solved``.

    ``previous``: an earlier plan's JSON dict of the same horizon (same period 0), whose periods
    0..``executed_through`` have been carried out: their decisions are kept, later ones re-decided.
    """
    from solver.mip.pipeline import Solved, checked, unservable_message
    p = loaded.problem
    if p.objective.periods is None:
        raise InputError(InputIssue("re-optimisation needs a multi-period problem", file=loaded.file,
                                    path="objective.periods",
                                    hint="add objective.periods (e.g. count: 8, months: 3)"))
    if previous is not None:
        check_previous_periods(previous, loaded)
    t0 = time.perf_counter()
    k = period_coefficients(loaded, perf=perf)
    spec = build_period_spec(p, loaded.catalog, k, file=loaded.file)
    log.info("coefficients in %.1fs: periods %d, workloads %d, offers %d, candidates %d",
             time.perf_counter() - t0, spec.n_periods, k.n_w, k.n_o, k.n_c)
    prev = previous_decisions(previous, executed_through) if previous is not None else None
    if prev is not None:
        if prev.executed > min(prev.n_periods, spec.n_periods):
            raise InputError(InputIssue(
                f"--executed-through {executed_through}: the previous plan has {prev.n_periods} periods "
                f"(0..{prev.n_periods - 1}) and this problem {spec.n_periods}", path="--executed-through",
                hint="name a period both horizons hold; to plan further ahead, raise "
                     "objective.periods.count and keep period 0 where the previous plan had it"))
        pooled = pooled_owned_keys(previous, [o.key for o in k.offers])
        if pooled:
            raise InputError(InputIssue(
                f"{pooled_owned_text(pooled)}: its decisions on them cannot be kept", file=prev.source,
                path="periods.timeline",
                hint="solve again without --existing (fleet.existing listing the devices owned now), or give "
                     "each decision, move and device in service of the pooled offer in the plan the offer of "
                     "the devices' age"))
        keys = {o.key for o in k.offers}
        keys |= {f"{k.offers[a].key}->{k.offers[b].key}" for a, b in spec.moves}
        gone = sorted((t, dec, key) for (dec, key, t) in prev.decisions if key not in keys and t >= prev.executed)
        if gone:
            log.warning("%s: the previous plan's decisions on offers this problem does not have are dropped (not "
                        "kept, no change penalty): %s", prev.source,
                        ", ".join(f"period {t} {dec} {prev.get((dec, key, t)):g} on {key}" for t, dec, key in gone))
        missing = sorted({key for (_, key, t) in prev.decisions if key not in keys and t < prev.executed})
        if missing:
            raise InputError(InputIssue(
                f"the previous plan's executed decisions use offers this problem does not allow: "
                f"{', '.join(missing)}", file=prev.source, path="periods.timeline",
                hint="re-optimise with the same fleet filters and owned devices as the previous plan "
                     "(devices it sold stay in fleet.existing: the plan records their sale)"))
        check_executed_fits_fleet(prev, k, spec, loaded.file)
    t0 = time.perf_counter()
    model, v = build_period_model(k, spec, prev)
    log.info("multi-period model: %d variables (%d integer), %d rows in %.1fs", model.n_vars,
             int(model.is_int.sum()), model.n_rows, time.perf_counter() - t0)
    msg = unservable_message(k)
    if msg is not None:
        from solver.mip.status import SolveResult
        res = SolveResult(INFEASIBLE, backend, solver_name or "-", 0.0, message=msg)
    else:
        log.info(starting(backend, solver_name or BACKENDS[backend][0], time_limit_s, mip_gap))
        from solver.mip.pipeline import with_fallback
        res = with_fallback(lambda be, name: solve_period_model(
            k, spec, model, v, backend=be, solver_name=name, time_limit_s=time_limit_s, mip_gap=mip_gap,
            threads=threads, previous=prev), backend, solver_name, fallback)
        log.info(solved(res))
        if res.status == INFEASIBLE:
            res.message += ("; the constraints conflict in some period (power, availability, budget, "
                            "spot share, lead times or fixed period-0 decisions)")
    res = checked(model, res, time_left_s=time_limit_s - (time.perf_counter() - t0), threads=threads,
                  mip_gap=mip_gap)
    plan = build_period_plan(p, k, spec, model, v, res, scenario=loaded.scenario,
                             time_limit_s=time_limit_s, mip_gap=mip_gap)
    if previous is not None and plan.periods is not None:
        plan = keep_incumbent_on_ties(loaded, previous, plan, perf=perf)
        plan = replace(plan, periods={**plan.periods, "change": plan_change(previous, plan.to_dict(),
                                                                             executed=prev.executed)})
    return Solved(plan, k, model, res)


def keep_incumbent_on_ties(loaded, previous: dict, plan: Plan, *, perf=None) -> Plan:
    """Prefer last quarter's plan when it is still feasible and no dearer.

    Equal-cost optima are common (routes between identical replicas, ties
    between equivalent offers); a re-optimisation that flips between them
    would report changes that buy nothing.  If the previous plan passes the
    verifier against the current inputs and costs no more than the new
    optimum (within 1e-9 relative), it is kept as the answer, with this
    solve's solver information.
    """
    from solver.verify import verify_plan

    if plan.status != "optimal" or previous.get("status") not in ("optimal", "time_limit"):
        return plan
    old_total = (previous.get("objective") or {}).get("total")
    new_total = plan.objective.total
    if old_total is None or new_total is None or old_total > new_total + 1e-9 * max(1.0, abs(new_total)):
        return plan
    try:
        if not verify_plan(loaded.problem, loaded.catalog, previous, perf=perf).ok:
            return plan
        kept = Plan.from_dict(previous)
    except (KeyError, TypeError, ValueError):
        return plan
    return replace(kept, solver=plan.solver, versions=plan.versions, scenario=plan.scenario,
                   message=plan.message)


def build_period_plan(problem, k, spec, model, v, res, *, scenario=None, time_limit_s=0.0,
                      mip_gap=0.0) -> Plan:
    sinfo = SolverInfo(backend=res.backend, name=res.solver, status_detail=res.message,
                       gap=res.gap, best_bound=res.best_bound if res.has_plan else None, seconds=res.seconds,
                       time_limit_s=time_limit_s, mip_gap=mip_gap, variables=model.n_vars,
                       constraints=model.n_rows)
    versions = {"fleetopt": solver.__version__, "catalog": k.catalog_version}
    if getattr(k, "calibration", ""):
        versions["calibration"] = k.calibration
    if hasattr(problem, "fingerprint"):      # a Problem (tests pass light stand-ins)
        versions["problem"] = problem.fingerprint()
    hours = spec.n_periods * spec.period_hours
    if not res.has_plan:
        return Plan(status=res.status, problem=problem.name, scenario=scenario,
                    objective=Objective(None, {}, problem.objective.currency, hours, None),
                    solver=sinfo, versions=versions, message=res.message)
    x = res.values
    val = lambda col: float(x[col]) if col >= 0 else 0.0  # noqa: E731
    vals = lambda cols: np.where(cols >= 0, x[np.maximum(cols, 0)], 0.0)  # noqa: E731
    kind = spec.kind(k)
    breakdown = {p: float(model.obj_parts[p] @ x) for p in PERIOD_COST_PARTS if p in model.obj_parts}
    total = float(sum(breakdown.values()))
    timeline = []
    kw_per_unit = k.offer_array("pue") * k.offer_array("devices_per_unit") * k.offer_array("tdp_w") / 1000.0

    def _upkeep(dec: str, o: int, t: int) -> float:
        """Per-unit costs in service (upkeep, idle power) of the periods a unit bought or reserved
        in t serves within the horizon: part of what that decision commits."""
        if dec == "buy":
            served = range(t + int(spec.lead_periods[o]), spec.n_periods)
        elif dec == "reserve":
            served = range(t, min(t + int(spec.term_periods[o]), spec.n_periods))
        else:
            return 0.0
        return float(sum(model.obj[v.NF[t2, o]] for t2 in served))

    owned = np.array([float(off.max_units or 0) for off in k.offers])   # owned devices per offer, so far
    prices = spec.prices()
    for t in range(spec.n_periods):
        units = []
        capex = 0.0
        idle = 0.0
        moved = [int(round(val(v.MV[t, i]))) for i in range(len(spec.moves))]
        for (o1, o2), n in zip(spec.moves, moved):
            owned[o1] -= n
            owned[o2] += n
        for o, off in enumerate(k.offers):
            row = {"offer": off.key, "accelerator": off.accelerator, "region": off.region,
                   "acquisition": off.acquisition, "kind": str(kind[o]),
                   "devices_per_unit": off.devices_per_unit}
            if kind[o] == "elastic":
                row["by_slice"] = [int(round(val(c))) for c in v.NE[t, :, o]]
                if not any(row["by_slice"]):
                    continue
            else:
                row["in_service"] = int(round(val(v.NF[t, o])))
                for dec, attr in DECISIONS:
                    col = getattr(v, attr)[t, o]
                    n = int(round(val(col)))
                    if n:
                        row[dec] = n
                        # what the decision commits in the objective (discounted; negative: a gain)
                        row[f"{dec}_usd"] = float(n * (model.obj[col] + _upkeep(dec, o, t)))
                if kind[o] == "existing":     # owned less retired, plus moved in less moved out, so far
                    owned[o] -= row.get("retire", 0)
                    row["owned"] = int(owned[o])
                    idle += owned[o] - row["in_service"] * off.devices_per_unit
                if not (row["in_service"] or row.get("owned") or any(d in row for d, _ in DECISIONS)):
                    continue
                capex += row.get("buy", 0) * off.devices_per_unit * spec.capex_usd_per_device[o] * prices[o, t]
            units.append(row)
        slices = []
        for s in range(spec.n_slices):
            deps = []
            for c in range(k.n_c):
                yv = int(round(val(v.Y[t, s, c])))
                if yv:
                    deps.append({"id": deployment_id(k, c), "replicas": yv,
                                 "spare_replicas": int(round(val(v.SP[t, s, c])))})
            routes = []
            x_ts = drop_route_noise(vals(v.X[t, s]), np.round(vals(v.Y[t, s]))[k.pair_c],
                                    spec.demand_rps[:, t, s][k.pair_w])
            for p_ in range(k.n_p):
                r = x_ts[p_]
                if r > 1e-9:
                    routes.append({"workload": k.workloads[k.pair_w[p_]],
                                   "deployment": deployment_id(k, int(k.pair_c[p_])),
                                   "requests_per_s": r})
            slices.append({"slice": s, "deployments": sorted(deps, key=lambda d: d["id"]),
                           "routing": sorted(routes, key=lambda r: (r["workload"], r["deployment"]))})
        moves = [{"from": k.offers[o1].key, "to": k.offers[o2].key, "devices": n,
                  "usd": float(n * spec.move_usd_per_device)} for (o1, o2), n in zip(spec.moves, moved) if n]
        # nameplate facility kW per power cap and slice: the fixed units in every slice, rentals per slice
        n_ts = [np.round(vals(v.n_view(t, s))) for s in range(spec.n_slices)]
        kw = [[float(kw_per_unit[idx] @ n[idx]) for n in n_ts] for _, idx, _ in k.power_caps]
        terms = accrual_terms(k, spec, v, t)
        cost = {p: float(np.sum(vals * x[cols])) for p, (cols, vals) in terms.items()}
        cost = {p: c for p, c in cost.items() if c}
        timeline.append({
            "period": t,
            "demand_rps": {w: [float(d) for d in spec.demand_rps[i, t]] for i, w in enumerate(k.workloads)},
            "units": units, "moves": moves, "slices": slices, "cost_usd": cost,
            "total_usd": float(sum(cost.values())), "capex_usd": float(capex), "nameplate_kw": kw,
            "idle_owned_devices": int(idle),
        })
    periods = {
        "count": spec.n_periods, "months": spec.months, "period_hours": spec.period_hours,
        "discount_rate_per_period": spec.discount_rate,
        "slices": [{"slice": s, "weight": float(spec.slice_weight[s]),
                    "profile_index": [int(i) for i in spec.slice_members[s]]}
                   for s in range(spec.n_slices)],
        **stated_caps(problem.fleet), **stated_prices(spec.price_change), "timeline": timeline, "change": None,
    }
    kwh_t, co2_t = period_energy(k, spec, v, x)
    for row, kwh, co2 in zip(timeline, kwh_t, co2_t):   # QA s25: per period, not only the horizon's
        row["energy_kwh"], row["co2_kg"] = kwh, co2
    totals = {"periods": spec.n_periods, "capex_usd": float(sum(r["capex_usd"] for r in timeline)),
              "accrued_usd": float(sum(r["total_usd"] for r in timeline)),
              "energy_kwh": float(sum(kwh_t)), "co2_kg": float(sum(co2_t)),
              "idle_owned_device_periods": sum(r["idle_owned_devices"] for r in timeline)}
    return Plan(status=res.status, problem=problem.name, scenario=scenario,
                objective=Objective(total, breakdown, problem.objective.currency, hours,
                                    total / (hours / 730.0), energy_charged=energy_charged(problem.objective)),
                totals=totals, solver=sinfo, versions=versions, message="", periods=periods)


def period_energy(k, spec, v, x: np.ndarray) -> tuple[list[float], list[float]]:
    """Facility kWh and kg CO2e of each period (every slice's IT power x PUE, whoever pays it)."""
    pue, carbon = k.offer_array("pue"), k.offer_array("carbon_g_per_kwh")
    kwh, co2 = [0.0] * spec.n_periods, [0.0] * spec.n_periods
    for t in range(spec.n_periods):
        for s in range(spec.n_slices):
            cols, watts, off = power_terms_ts(k, spec, v, t, s)
            facility_kwh = watts * x[cols] * spec.period_hours * spec.slice_weight[s] * pue[off] / 1000.0
            kwh[t] += float(facility_kwh.sum())
            co2[t] += float(facility_kwh @ carbon[off]) / 1000.0
    return kwh, co2


def route_class(deployment: str) -> str:
    """A deployment id without its instance: model, quantization, TP, accelerator, region, acquisition
    and provider.  Deployments of one class (owned devices of different ages, above all) serve alike,
    and once their units are in service a replica costs the same on either, so equal-cost optima put
    it on either: a re-solve with the same decisions can swap traffic between them, which changes
    nothing.  (Not made deterministic instead: the replicas are MIP integers, and the re-solve's
    model differs from the first one's by the change-penalty rows.)"""
    return deployment.rpartition(":")[0] or deployment


def _by_route_class(routes: dict) -> dict:
    out: dict = {}
    for (w, dep), rps in routes.items():
        out[(w, route_class(dep))] = out.get((w, route_class(dep)), 0.0) + rps
    return out


def _differ(a: dict, b: dict, key) -> bool:
    return abs(a.get(key, 0.0) - b.get(key, 0.0)) > 1e-6 * max(1.0, abs(a.get(key, 0.0)))


def plan_change(old: dict, new: dict, executed: int = 1) -> dict:
    """What re-optimisation changed: decisions (buy / reserve / retire / move, each with the change
    in what it commits in the objective, discounted to period 0), rentals, routing, cost.

    ``executed``: the leading periods carried out (their decisions kept); a cost change there is
    their rentals, routing and energy re-planned at the new problem's demand, which the reports say
    (QA: a re-solve at a lower demand reported a period-0 "saving" on rentals already paid).

    A route change is listed only where the traffic of its :func:`route_class` changed too:
    traffic moved between equivalent deployments is counted in ``routing_swaps_not_listed`` (QA: a
    re-solve with nothing changed reported routes swapped between two owned A100 age groups)."""
    a, b = old["periods"]["timeline"], new["periods"]["timeline"]
    disc_a, disc_b = (1.0 / (1.0 + (p["periods"].get("discount_rate_per_period") or 0.0)) for p in (old, new))
    decisions = []
    rentals = []
    routes = []
    swaps = 0       # route changes between equivalent deployments, not listed
    cost = []
    for t in range(min(len(a), len(b))):
        ua = {u["offer"]: u for u in a[t]["units"]}
        ub = {u["offer"]: u for u in b[t]["units"]}
        for key in sorted(set(ua) | set(ub)):
            x, y = ua.get(key, {}), ub.get(key, {})
            for dec, _ in DECISIONS:
                if x.get(dec, 0) != y.get(dec, 0):
                    decisions.append({"period": t, "offer": key, "decision": dec,
                                      "old_units": x.get(dec, 0), "new_units": y.get(dec, 0),
                                      "change_usd": y.get(f"{dec}_usd", 0.0) - x.get(f"{dec}_usd", 0.0)})
            if x.get("by_slice") != y.get("by_slice") and (x.get("by_slice") or y.get("by_slice")):
                rentals.append({"period": t, "offer": key, "old_by_slice": x.get("by_slice"),
                                "new_by_slice": y.get("by_slice")})
        ma = {(m["from"], m["to"]): m["devices"] for m in a[t].get("moves", [])}
        mb = {(m["from"], m["to"]): m["devices"] for m in b[t].get("moves", [])}
        for key in sorted(set(ma) | set(mb)):
            if ma.get(key, 0) != mb.get(key, 0):
                # a move's usd is its fee; the objective counts it discounted, as the other decisions'
                # {dec}_usd are (QA: dropped moves showed -$500 beside discounted retirements)
                ua_ = {(m["from"], m["to"]): m["usd"] * disc_a ** t for m in a[t].get("moves", [])}
                ub_ = {(m["from"], m["to"]): m["usd"] * disc_b ** t for m in b[t].get("moves", [])}
                decisions.append({"period": t, "offer": f"{key[0]}->{key[1]}", "decision": "move",
                                  "old_units": ma.get(key, 0), "new_units": mb.get(key, 0),
                                  "change_usd": ub_.get(key, 0.0) - ua_.get(key, 0.0)})
        for s in range(min(len(a[t]["slices"]), len(b[t]["slices"]))):
            ra = {(r["workload"], r["deployment"]): r["requests_per_s"] for r in a[t]["slices"][s]["routing"]}
            rb = {(r["workload"], r["deployment"]): r["requests_per_s"] for r in b[t]["slices"][s]["routing"]}
            ca, cb = _by_route_class(ra), _by_route_class(rb)
            for key in sorted(set(ra) | set(rb)):
                if _differ(ra, rb, key):
                    if not _differ(ca, cb, (key[0], route_class(key[1]))):
                        swaps += 1
                        continue
                    routes.append({"period": t, "slice": s, "workload": key[0], "deployment": key[1],
                                   "old_rps": ra.get(key, 0.0), "new_rps": rb.get(key, 0.0)})
        d = b[t]["total_usd"] - a[t]["total_usd"]
        if abs(d) > 1e-6 * max(1.0, abs(a[t]["total_usd"])):
            cost.append({"period": t, "old_usd": a[t]["total_usd"], "new_usd": b[t]["total_usd"],
                         "change_usd": d})
    # the old plan's own change penalty (it re-optimised an older one) is no cost of its fleet
    old_pen = (old["objective"].get("breakdown") or {}).get("change_penalty", 0.0) or 0.0
    old_total = (old["objective"]["total"] or 0.0) - old_pen
    new_total = new["objective"]["total"] or 0.0
    pen = (new["objective"].get("breakdown") or {}).get("change_penalty", 0.0)
    return {"decisions": decisions, "rentals": rentals, "routing": routes, "routing_swaps_not_listed": swaps,
            "period_cost": cost,
            "old_total_usd": old_total, "new_total_usd": new_total,
            "change_usd": new_total - old_total, "change_penalty_usd": pen, "old_change_penalty_usd": old_pen,
            # horizons of different length: the totals differ by the periods one plan has alone
            "old_periods": len(a), "new_periods": len(b), "executed_periods": executed}
