"""Read the parts of a plan JSON (``fleetopt solve --json``) that the simulator needs.

Written against the JSON itself rather than ``solver.plan`` so that a plan from
another version, or written by hand, can be simulated: only ``deployments[]``
(id, accelerator, model, quantization, tensor_parallel, replicas) and
``routing[]`` (workload, deployment, requests_per_s) are required.  Every
problem is reported with its JSON path and a hint.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from solver.errors import InputError, InputIssue, IssueCollector, unknown_id_hint
from solver.yamlio import load_json_file


@dataclass(frozen=True)
class SimDeployment:
    id: str
    accelerator: str
    model: str
    quantization: str
    tensor_parallel: int
    replicas: int
    region: Optional[str] = None
    acquisition: Optional[str] = None
    spare_replicas: int = 0          # n+1 spares included in ``replicas``


@dataclass(frozen=True)
class SimRoute:
    workload: str
    deployment: str
    requests_per_s: float
    predicted_ttft_ms: Optional[float] = None
    predicted_tpot_ms: Optional[float] = None
    capacity_rps: Optional[float] = None      # per replica, as the MIP assumed


@dataclass
class SimPlan:
    deployments: list[SimDeployment]
    routing: list[SimRoute]
    file: str
    raw: dict = field(default_factory=dict)
    scenario: Optional[str] = None
    period_label: Optional[str] = None  # which period/slice of a multi-period plan

    def deployment(self, dep_id: str) -> SimDeployment:
        return next(d for d in self.deployments if d.id == dep_id)

    def routed_rps(self) -> dict[str, float]:
        """Requests/s the plan routes per workload (over all its deployments)."""
        out: dict[str, float] = {}
        for r in self.routing:
            out[r.workload] = out.get(r.workload, 0.0) + r.requests_per_s
        return out


#: relative difference of routed and demanded req/s above which a plan does not carry the demand
#: (the MIP's routes sum to the demand within its tolerances, ~1e-9 relative)
DEMAND_REL_TOL = 1e-3


def demand_mismatches(plan: SimPlan, demand_rps: dict[str, float]) -> list[dict]:
    """Workloads whose routed req/s differ from ``demand_rps`` by more than :data:`DEMAND_REL_TOL`:
    the simulation shows the plan's traffic, so a plan carrying part of the demand (or another
    problem's, or scenario's) would otherwise pass."""
    routed = plan.routed_rps()
    out = []
    for w, want in demand_rps.items():
        got = routed.get(w, 0.0)
        if abs(got - want) > DEMAND_REL_TOL * max(abs(want), 1e-9):
            out.append({"workload": w, "routed_rps": got, "demand_rps": want})
    return out


def _num(v: Any) -> Optional[float]:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _first_num(d: dict, *keys: str) -> Optional[float]:
    for k in keys:
        if k in d:
            v = _num(d[k])
            if v is not None:
                return v
    return None


def read_plan(path: str | Path, workload_ids: Sequence[str], *, period: Optional[int] = None,
              slice_: Optional[int] = None) -> SimPlan:
    """Load and check a plan JSON file (one period and slice of a multi-period plan)."""
    p = Path(path)
    file = str(p)
    if not p.exists():
        raise InputError(InputIssue("file not found", file=file,
                                    hint="write a plan with `fleetopt solve PROBLEM --json PLAN.json`"))
    data = load_json_file(p, hint="name the JSON written by `fleetopt solve --json`")
    data, label = select_period(data, period, slice_, file=file)
    plan = parse_plan(data, workload_ids, file=file)
    plan.period_label = label
    return plan


def parse_plan(data: Any, workload_ids: Sequence[str], file: str = "<plan>") -> SimPlan:
    """Check a plan document; collect every issue before raising."""
    col = IssueCollector(file=file)
    if not isinstance(data, dict):
        raise InputError(InputIssue("a plan must be a JSON object with deployments and routing",
                                    file=file, hint="name the JSON written by `fleetopt solve --json`"))
    if isinstance(data.get("plan"), dict) and "deployments" not in data:
        data = data["plan"]
    deps_raw = data.get("deployments")
    routes_raw = data.get("routing")
    if not isinstance(deps_raw, list):
        col.add("missing list `deployments`", path="deployments",
                hint="the plan has no fleet; was the problem infeasible? see `fleetopt solve` output")
        deps_raw = []
    if not isinstance(routes_raw, list):
        col.add("missing list `routing`", path="routing",
                hint="name the JSON written by `fleetopt solve --json`")
        routes_raw = []
    deps: list[SimDeployment] = []
    for i, d in enumerate(deps_raw):
        where = f"deployments[{i}]"
        if not isinstance(d, dict):
            col.add("must be an object", path=where)
            continue
        bad = False
        for key in ("id", "accelerator", "model", "quantization"):
            if not isinstance(d.get(key), str) or not d.get(key):
                col.add(f"missing or not a string: {key}", path=f"{where}.{key}",
                        hint=f"add \"{key}\": \"...\"")
                bad = True
        tp = d.get("tensor_parallel", 1)
        if isinstance(tp, bool) or not isinstance(tp, int) or tp < 1:
            col.add(f"tensor_parallel must be a whole number >= 1 (got {tp!r})",
                    path=f"{where}.tensor_parallel")
            bad = True
        reps = d.get("replicas")
        if isinstance(reps, float) and reps.is_integer():
            reps = int(reps)
        if isinstance(reps, bool) or not isinstance(reps, int) or reps < 0:
            col.add(f"replicas must be a whole number >= 0 (got {reps!r})", path=f"{where}.replicas")
            bad = True
        spare = d.get("spare_replicas", 0)
        if isinstance(spare, float) and spare.is_integer():
            spare = int(spare)
        if isinstance(spare, bool) or not isinstance(spare, int) or spare < 0 or (
                isinstance(reps, int) and not isinstance(reps, bool) and 0 <= reps < spare):
            col.add(f"spare_replicas must be a whole number between 0 and replicas (got {spare!r})",
                    path=f"{where}.spare_replicas")
            bad = True
        if not bad:
            deps.append(SimDeployment(id=d["id"], accelerator=d["accelerator"], model=d["model"],
                                      quantization=d["quantization"], tensor_parallel=tp,
                                      replicas=reps, region=d.get("region"),
                                      acquisition=d.get("acquisition"), spare_replicas=spare))
    ids = [d.id for d in deps]
    # ids of the deployments refused above too: their routes need no "unknown deployment" besides
    named = {d.get("id") for d in deps_raw if isinstance(d, dict) and isinstance(d.get("id"), str)}
    if len(set(ids)) != len(ids):
        col.add("deployment ids are not unique", path="deployments",
                hint="each deployment needs its own id")
    routes: list[SimRoute] = []
    for i, r in enumerate(routes_raw):
        where = f"routing[{i}]"
        if not isinstance(r, dict):
            col.add("must be an object", path=where)
            continue
        w, dep = r.get("workload"), r.get("deployment")
        rate = _num(r.get("requests_per_s"))
        ok = True
        if w not in workload_ids:
            col.add(f"unknown workload {w!r}", path=f"{where}.workload",
                    hint=unknown_id_hint(str(w), workload_ids, "workloads",
                                         then="(was the plan solved for this problem file and scenario?)"))
            ok = False
        if dep not in ids:
            if dep not in named:
                col.add(f"unknown deployment {dep!r}", path=f"{where}.deployment",
                        hint="routing must name a deployment id of this plan")
            ok = False
        if rate is None or rate < 0:
            col.add(f"requests_per_s must be a number >= 0 (got {r.get('requests_per_s')!r})",
                    path=f"{where}.requests_per_s")
            ok = False
        if ok:
            pred = r.get("predicted") if isinstance(r.get("predicted"), dict) else r
            routes.append(SimRoute(workload=w, deployment=dep, requests_per_s=rate,
                                   predicted_ttft_ms=_first_num(pred, "ttft_ms", "predicted_ttft_ms"),
                                   predicted_tpot_ms=_first_num(pred, "tpot_ms", "predicted_tpot_ms"),
                                   capacity_rps=_first_num(r, "capacity_rps")))
    first: dict[tuple, int] = {}
    for i, r in enumerate(routes_raw):
        if isinstance(r, dict) and all(isinstance(r.get(k), str) for k in ("workload", "deployment")):
            key = (r["workload"], r["deployment"])
            if key in first:   # its traffic would be simulated twice
                col.add(f"routing[{first[key]}] and routing[{i}] both route {key[0]!r} to deployment "
                        f"{key[1]!r}", path=f"routing[{i}]",
                        hint="give each (workload, deployment) one row, its requests_per_s the sum")
            first.setdefault(key, i)
    for r in routes:
        if r.requests_per_s > 0 and next(d for d in deps if d.id == r.deployment).replicas == 0:
            col.add(f"deployment {r.deployment!r} has 0 replicas but receives "
                    f"{r.requests_per_s:g} req/s of {r.workload!r}", path="routing",
                    hint="the plan is inconsistent; re-solve")
    if isinstance(deps_raw, list) and not deps_raw and not col.issues:
        col.add(f"the plan has no deployments (status: {data.get('status', 'unknown')})",
                path="deployments", hint="simulate a plan that `fleetopt solve` found feasible")
    col.raise_if_any()
    scen = data.get("scenario")
    return SimPlan(deployments=deps, routing=routes, file=file, raw=data,
                   scenario=scen if isinstance(scen, str) else None)


_DEPLOYMENT_ID = re.compile(
    r"^(?P<model>[^:@/]+):(?P<quantization>[^:@/]+):tp(?P<tp>\d+)@(?P<accelerator>[^@/]+)"
    r"@(?P<region>[^/@]+)/(?P<acquisition>[^/]+)/")


def select_period(data: Any, period: Optional[int] = None, slice_: Optional[int] = None,
                  file: str = "<plan>") -> tuple[Any, Optional[str]]:
    """A single-period view of a multi-period plan: one (period, slice) of its timeline.

    Multi-period plans keep their fleet per period and demand slice under
    ``periods.timeline[t].slices[s]`` (deployment ids and routed rates); the
    top-level ``deployments``/``routing`` are empty.  This returns a plan dict
    with the chosen slice's deployments (fields parsed from the deployment id)
    and routing, and a label saying which slice it is.  By default the busiest
    slice (largest total routed req/s) is chosen: the one that stresses the fleet.
    Single-period plans are returned unchanged (label None).
    """
    if not isinstance(data, dict):
        return data, None
    periods = data.get("periods")
    timeline = periods.get("timeline") if isinstance(periods, dict) else None
    if not isinstance(timeline, list) or not timeline or data.get("deployments"):
        if period is not None or slice_ is not None:
            raise InputError(InputIssue("--period/--slice given but the plan has a single period",
                                        file=file, hint="drop --period and --slice"))
        return data, None
    choices = []
    for t, entry in enumerate(timeline):
        slices = entry.get("slices") if isinstance(entry, dict) else None
        for s, sl in enumerate(slices if isinstance(slices, list) else []):
            if not isinstance(sl, dict):
                continue
            total = sum(_num(r.get("requests_per_s")) or 0.0 for r in sl.get("routing") or []
                        if isinstance(r, dict))
            choices.append((t, s, total, sl))
    if not choices:
        raise InputError(InputIssue("the plan's periods have no slices to simulate", file=file,
                                    path="periods.timeline"))
    if period is not None or slice_ is not None:
        picked = [c for c in choices if (period is None or c[0] == period)
                  and (slice_ is None or c[1] == slice_)]
        if not picked:
            asked = " / ".join(f"{what} {n}" for what, n in (("period", period), ("slice", slice_))
                               if n is not None)
            raise InputError(InputIssue(
                f"no {asked} in the plan", file=file, path="periods.timeline",
                hint=f"periods 0..{max(c[0] for c in choices)}, slices 0..{max(c[1] for c in choices)}"))
        choices = picked
    t, s, total, sl = max(choices, key=lambda c: (c[2], -c[0], -c[1]))
    deployments = []
    for d in sl.get("deployments") or []:
        if not isinstance(d, dict) or not isinstance(d.get("id"), str):
            continue
        m = _DEPLOYMENT_ID.match(d["id"])
        if m is None:
            raise InputError(InputIssue(f"cannot read deployment id {d['id']!r}", file=file,
                                        path=f"periods.timeline[{t}].slices[{s}].deployments"))
        deployments.append({"id": d["id"], "model": m["model"], "quantization": m["quantization"],
                            "tensor_parallel": int(m["tp"]), "accelerator": m["accelerator"],
                            "region": m["region"], "acquisition": m["acquisition"],
                            "replicas": d.get("replicas", 0),
                            "spare_replicas": d.get("spare_replicas", 0)})
    routing = [dict(r) for r in sl.get("routing") or [] if isinstance(r, dict)]
    by_wl: dict[str, float] = {}
    for r in routing:
        by_wl[r.get("workload")] = by_wl.get(r.get("workload"), 0.0) + (_num(r.get("requests_per_s")) or 0.0)
    for r in routing:
        tot = by_wl.get(r.get("workload")) or 0.0
        r.setdefault("share", (_num(r.get("requests_per_s")) or 0.0) / tot if tot > 0 else 0.0)
    flat = {k: v for k, v in data.items() if k not in ("deployments", "routing", "periods")}
    row = timeline[t] if isinstance(timeline[t], dict) else {}
    demand = {w: v[s] for w, v in (row.get("demand_rps") or {}).items() if isinstance(v, list) and s < len(v)}
    # which period and slice, and its demand: a workload with none there has nothing to miss
    flat.update(deployments=deployments, routing=routing, period=t, slice=s, demand_rps=demand)
    return flat, f"period {t}, slice {s} ({total:.4g} req/s routed)"
