"""Turn simulated requests into SLO metrics and compare them with what the MIP assumed.

Per workload and per (workload, deployment): p50/p90/p99 and the SLO's own
percentile of TTFT and TPOT, goodput (requests/s that met *both* targets),
SLO attainment (the fraction that did; the SLO holds when attainment >=
percentile / 100), and per deployment the utilisation (busy fraction), mean
batch and peak KV use.

Comparison: the MIP sized the fleet with the performance model's latencies at
each (candidate, workload) capacity point, i.e. the worst latencies it believes
a replica shows at the load the plan gives it (TTFT and TPOT at the SLO
percentile).  A route is flagged ``optimistic`` when the simulated value at the
SLO percentile exceeds that prediction by more than 10 %, and ``slo_miss``
when attainment is below the SLO percentile.

Requests that were never served (too long for the KV cache or for the model's
context window, or on a deployment that cannot run) count as missing both targets and as infinite latency in the
percentiles.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

from solver.sim.fleet import FleetSimulation
from solver.sim.planfile import SimPlan

OPTIMISTIC_MARGIN = 0.10
PCTS = (50.0, 90.0, 99.0)


def weighted_percentile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    """Smallest x with at least q% of the weight at or below it (NaN entries are dropped)."""
    keep = ~np.isnan(x)
    x, w = x[keep], w[keep]
    if not len(x):
        return math.nan
    order = np.argsort(x, kind="stable")
    cw = np.cumsum(w[order])
    i = int(np.searchsorted(cw, q / 100.0 * cw[-1] * (1 - 1e-12), side="left"))
    return float(x[order][min(i, len(x) - 1)])


def _ms(v: float) -> Optional[float]:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else (
        math.inf if math.isinf(v) else round(v * 1000.0, 3))


def group_metrics(sim: FleetSimulation, mask: np.ndarray, slo) -> dict:
    """Metrics of the measured requests selected by ``mask`` against a workload's ``slo``."""
    m = mask & sim.measured
    w = sim.weight[m]
    ttft = np.where(np.isnan(sim.ttft_s[m]), np.inf, sim.ttft_s[m])
    served = np.isfinite(ttft)
    out = sim.output_tokens[m]
    tpot = np.where(served, sim.tpot_s[m], np.inf)
    tpot = np.where(served & (out <= 1), np.nan, tpot)
    ok_ttft = ttft <= slo.ttft_ms / 1000.0
    ok_tpot = np.isnan(tpot) | (tpot <= slo.tpot_ms / 1000.0)
    met = served & ok_ttft & ok_tpot
    total = float(w.sum())
    res = {
        "simulated_requests": int(m.sum()),
        "requests_per_s": total / sim.window_s,
        "goodput_rps": float(w[met].sum()) / sim.window_s,
        "attainment": float(w[met].sum()) / total if total > 0 else math.nan,
        "ttft_attainment": float(w[ok_ttft].sum()) / total if total > 0 else math.nan,
        "tpot_attainment": float(w[ok_tpot & served].sum()) / total if total > 0 else math.nan,
        "unserved": int((~served).sum()),
        "over_context": int(sim.over_context[m].sum()) if len(sim.over_context) == len(mask) else 0,
        "slo_percentile": slo.percentile,
        "target_ttft_ms": slo.ttft_ms,
        "target_tpot_ms": slo.tpot_ms,
    }
    for name, x in (("ttft", ttft), ("tpot", tpot)):
        for p in PCTS + (slo.percentile,):
            res[f"{name}_p{p:g}_ms"] = _ms(weighted_percentile(x, w, p)) if total > 0 else None
        fin = x[np.isfinite(x)]
        res[f"{name}_mean_ms"] = _ms(float(np.average(fin, weights=w[np.isfinite(x)]))) if len(fin) else None
    res["meets_slo"] = bool(total > 0 and res["attainment"] >= slo.percentile / 100.0 - 1e-12)
    res["by_output_tokens"] = _by_output_length(out, met, ok_ttft, ok_tpot & served, w)
    res.update(_windows(sim.arrival_s[m], met, w, slo.percentile, sim.window_s))
    return res


WINDOW_S = 60.0


def _windows(arr, met, w, percentile, window_s) -> dict:
    """Share of fixed time windows (60 s, or a tenth of the run if shorter) in which the
    SLO held, i.e. at least ``percentile`` % of the requests arriving in it met both targets."""
    if not len(arr):
        return {"window_s": None, "windows": 0, "windows_slo_met": None}
    width = min(WINDOW_S, window_s / 10.0)
    # numbered by occupied window: a bin per window would be 1e10 bins for a trace spanning 1e12 s
    k = np.unique(np.floor((arr - arr.min()) / width), return_inverse=True)[1].ravel()
    tot = np.bincount(k, weights=w)
    good = np.bincount(k, weights=np.where(met, w, 0.0), minlength=len(tot))
    has = tot > 0
    ok = good[has] >= (percentile / 100.0 - 1e-12) * tot[has]
    return {"window_s": width, "windows": int(has.sum()), "windows_slo_met": float(ok.mean())}


def _by_output_length(out, met, ok_ttft, ok_tpot, w) -> list[dict]:
    """Attainment by output-length quartile: a short answer's TPOT averages over few steps,
    so one prefill stall weighs on it heavily; this shows where misses concentrate."""
    if len(out) < 8:
        return []
    edges = np.unique(np.percentile(out, [0, 25, 50, 75, 100], method="inverted_cdf"))
    rows = []
    lo = 0
    for hi in edges[1:] if len(edges) > 1 else edges:
        sel = (out > lo) & (out <= hi)
        tw = float(w[sel].sum())
        if tw > 0:
            rows.append({"output_tokens_max": int(hi), "share": tw / float(w.sum()),
                         "attainment": float(w[sel & met].sum()) / tw,
                         "ttft_attainment": float(w[sel & ok_ttft].sum()) / tw,
                         "tpot_attainment": float(w[sel & ok_tpot].sum()) / tw})
        lo = hi
    return rows


def predictions(catalog, plan: SimPlan, workloads: Sequence) -> dict:
    """(workload, deployment) -> what the MIP assumed: latencies at capacity and capacity."""
    out: dict[tuple, dict] = {}
    need = []
    for r in plan.routing:
        if r.predicted_ttft_ms is not None or r.predicted_tpot_ms is not None:
            out[(r.workload, r.deployment)] = {"ttft_ms": r.predicted_ttft_ms,
                                               "tpot_ms": r.predicted_tpot_ms,
                                               "max_rps_per_replica": r.capacity_rps,
                                               "source": "plan (perf model at capacity)"}
        else:
            need.append(r)
    if need and catalog is not None:
        try:
            from solver.perf import PerfCandidate, PerfWorkload, evaluate
        except ImportError:  # pragma: no cover - perf model missing
            return out
        wl = {w.id: w for w in workloads}
        deps = {d.id: d for d in plan.deployments}
        cands = sorted({(deps[r.deployment].accelerator, deps[r.deployment].model,
                         deps[r.deployment].quantization, deps[r.deployment].tensor_parallel)
                        for r in need})
        wids = sorted({r.workload for r in need})
        cap = evaluate(catalog, [PerfCandidate(*c) for c in cands],
                       [PerfWorkload.from_workload(wl[w]) for w in wids])
        for r in need:
            d = deps[r.deployment]
            i = cands.index((d.accelerator, d.model, d.quantization, d.tensor_parallel))
            j = wids.index(r.workload)
            f = lambda a: None if not math.isfinite(float(a[i, j])) else float(a[i, j])  # noqa: E731
            out[(r.workload, r.deployment)] = {
                "ttft_ms": f(cap.ttft_ms), "tpot_ms": f(cap.tpot_ms),
                "max_rps_per_replica": f(cap.max_rps), "source": "perf model at capacity"}
    return out


def summarize(sim: FleetSimulation, workloads: Sequence, plan: SimPlan,
              predicted: Optional[dict] = None) -> dict:
    """JSON-ready summary: per workload, per route, per deployment, comparison, speed."""
    predicted = predicted or {}
    wl = {w.id: w for w in workloads}
    per_workload = {}
    for k, wid in enumerate(sim.workload_ids):
        mask = sim.workload == k
        if not (mask & sim.measured).any():   # nothing measured: no attainment to judge
            continue
        per_workload[wid] = group_metrics(sim, mask, wl[wid].slo)
    routes, unmeasured_routes = [], []
    for r in plan.routing:
        if r.requests_per_s <= 0:
            continue
        di = next(i for i, d in enumerate(plan.deployments) if d.id == r.deployment)
        k = sim.workload_ids.index(r.workload)
        mask = (sim.workload == k) & (sim.dep_index == di)
        if not (mask & sim.measured).any():
            # (QA s26: a route of 0.0005 req/s drew no request and left both route tables unsaid)
            unmeasured_routes.append({"workload": r.workload, "deployment": r.deployment,
                                      "planned_rps": r.requests_per_s})
            continue
        slo = wl[r.workload].slo
        g = group_metrics(sim, mask, slo)
        dep = plan.deployments[di]
        from solver.sim.fleet import serving_replicas
        row = {"workload": r.workload, "deployment": r.deployment,
               "planned_rps": r.requests_per_s,
               "planned_rps_per_replica": r.requests_per_s / max(serving_replicas(dep, sim.options), 1),
               **g}
        pred = predicted.get((r.workload, r.deployment))
        flags = []
        if pred:
            row["predicted"] = pred
            p = slo.percentile
            for name in ("ttft", "tpot"):
                pv = pred.get(f"{name}_ms")
                sv = g.get(f"{name}_p{p:g}_ms")
                if pv and sv is not None:
                    row[f"{name}_sim_over_predicted"] = sv / pv if math.isfinite(sv) else math.inf
                    if sv > pv * (1 + OPTIMISTIC_MARGIN):
                        flags.append(f"optimistic_{name}")
            cap = pred.get("max_rps_per_replica")
            if cap:
                row["planned_load_fraction"] = row["planned_rps_per_replica"] / cap
        if not g["meets_slo"]:
            flags.append("slo_miss")
        row["flags"] = flags
        routes.append(row)
    deps = []
    for run in sim.deployments:
        d = run.deployment
        deps.append({"deployment": d.id, "accelerator": d.accelerator, "model": d.model,
                     "quantization": d.quantization, "tensor_parallel": d.tensor_parallel,
                     "replicas": d.replicas, "spare_replicas": d.spare_replicas,
                     "simulated_replicas": run.simulated_replicas,
                     "status": run.status, "utilisation": run.utilisation,
                     "mean_batch": run.mean_batch, "max_batch": run.max_batch,
                     "kv_capacity_tokens": run.kv_capacity_tokens,
                     "peak_kv_fraction": run.peak_kv_fraction})
    n = sim.n_requests
    # workloads with demand in what is simulated (a multi-period plan's period and slice may have none);
    # unrouted is the plan's word, not the run's: a routed workload may draw no request in a short run
    # or have no rows in a trace, which leaves its SLO unmeasured, not missed
    demand = plan.raw.get("demand_rps") or {}
    expected = [w for w in sim.workload_ids if demand.get(w, 1.0) > 0]
    routed = {r.workload for r in plan.routing if r.requests_per_s > 0}
    unrouted = [w for w in expected if w not in routed]
    return {
        "period": plan.raw.get("period"), "slice": plan.raw.get("slice"),
        "options": {"duration_s": sim.options.duration_s, "warmup_s": sim.options.warmup,
                    "seed": sim.options.seed, "max_replicas": sim.options.max_replicas,
                    "prefill_chunk_tokens": sim.options.prefill_chunk_tokens,
                    "without_spares": sim.options.without_spares,
                    "kv_reserve": sim.options.kv_reserve,
                    "measurement_window_s": sim.window_s},
        "workloads": per_workload,
        "routes": routes,
        "deployments": deps,
        "unrouted_trace_requests": sim.unrouted,
        "trace_requests_not_simulated": sim.trace_not_simulated,
        "unrouted_workloads": unrouted,
        "unmeasured_workloads": [w for w in sim.workload_ids if w in routed and w not in per_workload],
        "unmeasured_routes": unmeasured_routes,
        # nothing measured is no evidence: not 'met' (review: --check passed a run of no requests)
        "all_slos_met": not unrouted and bool(per_workload) and all(v["meets_slo"] for v in per_workload.values()),
        "speed": {"simulated_requests": n, "wall_s": sim.wall_s,
                  "requests_per_s": n / sim.wall_s if sim.wall_s > 0 else math.nan},
    }


def _f(v, nd=1) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    return f"{v:.{nd}f}"


def format_text(summary: dict, title: str = "") -> str:
    """Human-readable report."""
    lines = []
    o = summary["options"]
    if title:
        lines.append(title)
    chunk = o.get("prefill_chunk_tokens")
    lines.append(f"simulated {o['duration_s']:g} s of traffic (first {o['warmup_s']:g} s warm-up, "
                 f"seed {o['seed']}, prefill "
                 + (f"chunks of {chunk} tokens" if chunk else "whole prompts")
                 + (", spare replicas down" if o.get("without_spares") else "")
                 + (", KV reserved for the longest answer" if o.get("kv_reserve") == "max" else "")
                 + "); "
                 f"{summary['speed']['simulated_requests']} requests in "
                 f"{summary['speed']['wall_s']:.2f} s wall "
                 f"({summary['speed']['requests_per_s']:,.0f} req/s)")
    lines.append("")
    lines.append("Workloads (all deployments)")
    hdr = (f"  {'workload':<18}{'req/s':>8}{'goodput':>9}{'attain':>8}  {'SLO':>5}"
           f"{'TTFT p50/p90/p99 ms':>24}{'TPOT p50/p90/p99 ms':>22}  ok")
    lines.append(hdr)
    for wid, g in summary["workloads"].items():
        ttft = "/".join(_f(g[f"ttft_p{p:g}_ms"], 0) for p in PCTS)
        tpot = "/".join(_f(g[f"tpot_p{p:g}_ms"], 1) for p in PCTS)
        lines.append(f"  {wid:<18}{g['requests_per_s']:>8.2f}{g['goodput_rps']:>9.2f}"
                     f"{100 * g['attainment']:>7.2f}%  p{g['slo_percentile']:<4g}"
                     f"{ttft:>24}{tpot:>22}  {'yes' if g['meets_slo'] else 'NO'}")
        lines.append(f"  {'':<18}targets: TTFT {g['target_ttft_ms']:g} ms, TPOT {g['target_tpot_ms']:g} ms; "
                     f"met TTFT {100 * g['ttft_attainment']:.2f}%, TPOT {100 * g['tpot_attainment']:.2f}%"
                     + (f"; {g['unserved']} never served" if g["unserved"] else "")
                     + (f" ({g['over_context']} longer than the model's context window)"
                        if g.get("over_context") else "")
                     + (f"; SLO held in {100 * g['windows_slo_met']:.0f}% of {g['windows']} "
                        f"windows of {g['window_s']:.3g} s" if g.get("windows") else ""))
        if not g["meets_slo"] and g.get("by_output_tokens"):
            lines.append(f"  {'':<18}attainment by output length: " + ", ".join(
                f"<={b['output_tokens_max']} tok {100 * b['attainment']:.1f}%"
                for b in g["by_output_tokens"]))
    lines.append("")
    lines.append("Routes (workload on deployment)")
    rw = max([len(r["workload"] + " -> " + r["deployment"]) for r in summary["routes"]] + [43]) + 1
    dw = max([len(d["deployment"]) for d in summary["deployments"]] + [35]) + 1
    lines.append(f"  {'workload -> deployment':<{rw}}{'req/s':>8}{'goodput':>9}{'attain':>8}"
                 f"{'TTFT p50/p90/p99 ms':>22}{'TPOT p50/p90/p99 ms':>22}")
    for r in summary["routes"]:
        ttft = "/".join(_f(r[f"ttft_p{q:g}_ms"], 0) for q in PCTS)
        tpot = "/".join(_f(r[f"tpot_p{q:g}_ms"], 1) for q in PCTS)
        lines.append(
            f"  {r['workload'] + ' -> ' + r['deployment']:<{rw}}{r['requests_per_s']:>8.2f}"
            f"{r['goodput_rps']:>9.2f}{100 * r['attainment']:>7.2f}%{ttft:>22}{tpot:>22}")
    lines.append("")
    lines.append("Routes: simulated at the SLO percentile vs the MIP's assumption (perf model at capacity)")
    lines.append(f"  {'workload -> deployment':<{rw}}{'rps/rep':>8}{'load':>6}"
                 f"{'TTFT sim/pred ms':>18}{'TPOT sim/pred ms':>18}  flags")
    for r in summary["routes"]:
        p = r["slo_percentile"]
        pred = r.get("predicted") or {}
        load = r.get("planned_load_fraction")
        lines.append(
            f"  {r['workload'] + ' -> ' + r['deployment']:<{rw}}{r['planned_rps_per_replica']:>8.2f}"
            f"{_f(load, 2) if load is not None else '-':>6}"
            f"{_f(r[f'ttft_p{p:g}_ms'], 0) + '/' + _f(pred.get('ttft_ms'), 0):>18}"
            f"{_f(r[f'tpot_p{p:g}_ms'], 1) + '/' + _f(pred.get('tpot_ms'), 1):>18}  "
            + (",".join(r["flags"]) or "-"))
    lines.append("")
    lines.append("Deployments")
    lines.append(f"  {'deployment':<{dw}}{'replicas':>9}{'sim':>5}{'util':>7}{'batch':>8}{'max':>6}{'KV peak':>9}  status")
    for d in summary["deployments"]:
        lines.append(f"  {d['deployment']:<{dw}}{d['replicas']:>9}{d['simulated_replicas']:>5}"
                     f"{100 * d['utilisation']:>6.1f}%{d['mean_batch']:>8.1f}{d['max_batch']:>6}"
                     f"{100 * d['peak_kv_fraction']:>8.1f}%  {d['status']}")
    if summary.get("unrouted_trace_requests"):
        lines.append("")
        lines.append("trace requests of workloads the plan does not route (dropped): "
                     + ", ".join(f"{k}: {v}" for k, v in summary["unrouted_trace_requests"].items()))
    if summary.get("trace_requests_not_simulated"):
        left = summary["trace_requests_not_simulated"]
        n = summary["speed"]["simulated_requests"]
        total = n + left + sum((summary.get("unrouted_trace_requests") or {}).values())
        lines.append("")
        lines.append(f"note: {n} of the trace's {total} requests simulated: --max-replicas "
                     f"{o['max_replicas']} simulates that many replicas of a deployment, and the {left} "
                     "requests routed to its other replicas are left out (each simulated request "
                     "stands for replicas / simulated ones: rates rescaled)")
    if summary.get("unrouted_workloads"):
        lines.append("")
        lines.append("workloads the plan serves no traffic of (counted as missed): "
                     + ", ".join(summary["unrouted_workloads"]))
    if summary.get("demand_mismatch"):
        lines.append("")
        lines.append("warning: the plan routes other req/s than the demand (the simulation shows the "
                     "plan's traffic, not the demand): " + ", ".join(
                         f"{m['workload']} {m['routed_rps']:.4g} req/s routed of {m['demand_rps']:.4g}"
                         for m in summary["demand_mismatch"]))
    quiet = [r for r in summary.get("unmeasured_routes") or [] if r["workload"] not in
             (summary.get("unmeasured_workloads") or [])]
    if quiet:
        lines.append("")
        lines.append("routes with no request in this run (not measured, not in the tables above): " + ", ".join(
            f"{r['workload']} -> {r['deployment']} ({r['planned_rps']:.3g} req/s planned)" for r in quiet)
            + " (none drawn at that rate in this --duration, or none in the trace)")
    unmeasured = summary.get("unmeasured_workloads") or []
    if unmeasured:
        lines.append("")
        lines.append("no requests in this run (not measured): " + ", ".join(unmeasured)
                     + " (none in the trace, or none drawn at its rate in this --duration)")
    lines.append("")
    lines.append("no SLO measured: no requests in this run (simulate longer: --duration, or a trace "
                 "with requests after the warm-up)" if not summary["workloads"] and not summary.get("unrouted_workloads")
                 else ("all SLOs met in simulation" + (" (of the workloads measured)" if unmeasured else ""))
                 if summary["all_slos_met"]
                 else "SLO MISSED in simulation for: "
                 + ", ".join([k for k, v in summary["workloads"].items() if not v["meets_slo"]]
                             + list(summary.get("unrouted_workloads") or [])))
    return "\n".join(lines)
