"""Close the loop: tighten the latency targets the MIP plans with until simulation meets the real ones.

The MIP sizes replicas with the performance model's latencies, which check
TPOT as a mean and TTFT with a queueing approximation.  Where the simulated
plan misses a workload's SLO at its percentile, this loop re-solves with that
workload's *planning* target (TTFT, TPOT or both, whichever missed) scaled
down by ``step``, simulates the new plan against the *original* targets, and
repeats until every workload meets its SLO or ``max_rounds`` is reached.  The
final plan is then re-simulated with a different seed (``seed + 1``) so that
the result is not tuned to one random sample.

This is an empirical safety margin on top of the analytic model, reported as
factors per workload, not a fix of the model itself.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field, replace
from typing import Optional, Sequence

from solver.sim.fleet import SimOptions, build_engines, simulate_plan
from solver.sim.planfile import parse_plan, select_period
from solver.sim.report import summarize


@dataclass
class TightenRound:
    factors: dict            # workload -> {"ttft": f, "tpot": f}
    status: str
    total_usd: Optional[float]
    attainment: dict         # workload -> fraction
    met: bool


@dataclass
class TightenResult:
    rounds: list[TightenRound] = field(default_factory=list)
    plan_json: Optional[str] = None     # the last plan that met every SLO (or the last one solved)
    met: bool = False
    verification: Optional[dict] = None  # summary of the final plan under seed + 1


def plan_cost(doc: dict) -> Optional[float]:
    """Objective total of a plan JSON (``total`` or the older ``total_usd``)."""
    obj = doc.get("objective") or {}
    for key in ("total", "total_usd"):
        v = obj.get(key)
        if isinstance(v, (int, float)):
            return float(v)
    return None


def _planning_problem(loaded, factors: dict, catalog_overlays: Optional[Sequence[str]] = None):
    """``loaded`` with its workloads' planning targets scaled by ``factors``, validated with
    ``catalog_overlays`` (default: the overlays ``loaded`` was loaded with).

    From :func:`solver.explore.common.base_document`, as fronts and sweeps are: ``loaded.raw``
    while it is the problem, else the problem itself (one edited in memory).  It was rebuilt from
    ``loaded.raw`` without the caller's overlays (QA: a problem loaded with a price overlay was
    planned on the shipped catalog and simulated on the overlay's)."""
    from solver.explore.common import base_document, caller_overlays, validate_edited

    doc = base_document(loaded)          # scenarios already applied, and left out
    for w in doc.get("workloads", []):
        f = factors.get(w.get("id"))
        if f:
            w["slo"]["ttft_ms"] = float(w["slo"]["ttft_ms"]) * f["ttft"]
            w["slo"]["tpot_ms"] = float(w["slo"]["tpot_ms"]) * f["tpot"]
    return validate_edited(doc, loaded.file, overlays=caller_overlays(loaded, catalog_overlays))


def tighten_until_met(loaded, options: SimOptions = SimOptions(), *, step: float = 0.85,
                      max_rounds: int = 6, catalog_overlays: Optional[Sequence[str]] = None, log=None,
                      period: Optional[int] = None, slice_: Optional[int] = None) -> TightenResult:
    """Solve, simulate, tighten the missed targets by ``step``, repeat (see module docstring).

    ``catalog_overlays``: the catalog overlay files to plan and simulate with; by default those
    ``loaded`` was loaded with (``load_problem(..., catalog_overlays=...)``).
    A multi-period plan is judged on one (period, slice): ``period`` / ``slice_`` where given, else
    its busiest slice (:func:`solver.sim.planfile.select_period`)."""
    from solver.explore.common import base_document, caller_overlays, validate_edited
    from solver.mip.pipeline import solve_problem

    if not 0 < step < 1:
        raise ValueError("step must be between 0 and 1")
    overlays = caller_overlays(loaded, catalog_overlays)
    if overlays != tuple(getattr(loaded, "overlays", ())):
        # other overlays than loaded's: simulate on the catalog the plans are made with
        loaded = replace(validate_edited(base_document(loaded), loaded.file, overlays=overlays),
                         scenario=loaded.scenario)
    wls = list(loaded.problem.workloads)
    ids = [w.id for w in wls]
    factors = {w: {"ttft": 1.0, "tpot": 1.0} for w in ids}
    res = TightenResult()
    for _ in range(max_rounds):
        lp = _planning_problem(loaded, factors, overlays)
        solved = solve_problem(lp)
        doc = select_period(json.loads(solved.plan.to_json()), period, slice_)[0]
        if not doc.get("deployments"):
            res.rounds.append(TightenRound(copy.deepcopy(factors), solved.plan.status, None, {}, False))
            break
        plan = parse_plan(doc, ids)  # a multi-period plan is judged on its busiest slice
        sim = simulate_plan(wls, plan, build_engines(loaded.catalog, plan), options)
        summ = summarize(sim, wls, plan)
        att = {k: v["attainment"] for k, v in summ["workloads"].items()}
        rnd = TightenRound(copy.deepcopy(factors), solved.plan.status, plan_cost(doc), att,
                           summ["all_slos_met"])
        res.rounds.append(rnd)
        res.plan_json = solved.plan.to_json()
        if log:
            log(rnd)
        if rnd.met:
            res.met = True
            break
        for wid, g in summ["workloads"].items():
            need = g["slo_percentile"] / 100.0
            if g["meets_slo"]:
                continue
            if g["ttft_attainment"] < need:
                factors[wid]["ttft"] *= step
            if g["tpot_attainment"] < need:
                factors[wid]["tpot"] *= step
            if g["ttft_attainment"] >= need and g["tpot_attainment"] >= need:
                factors[wid]["ttft"] *= step   # each alone is met, jointly not: tighten both
                factors[wid]["tpot"] *= step
    if res.plan_json is not None:
        doc = json.loads(res.plan_json)
        plan = parse_plan(select_period(doc, period, slice_)[0], ids)  # the same slice as the rounds
        check = SimOptions(duration_s=options.duration_s, warmup_s=options.warmup_s,
                           seed=options.seed + 1, max_replicas=options.max_replicas,
                           prefill_chunk_tokens=options.prefill_chunk_tokens,
                           without_spares=options.without_spares,
                           kv_reserve=options.kv_reserve)
        sim = simulate_plan(wls, plan, build_engines(loaded.catalog, plan), check)
        res.verification = summarize(sim, wls, plan)
    return res
