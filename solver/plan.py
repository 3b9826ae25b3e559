"""A solved fleet as frozen data: what to procure, deploy and route, and what it costs.

The plan is the contract between the optimiser, the reports and the verifier.
Its JSON form (schema: ``solver/schemas/plan.schema.json``) is deterministic:
lists are sorted by their keys and floats are rounded to
:data:`SIG_DIGITS` significant digits, so two runs of the same problem give
byte-identical files.

Cost attribution for KPIs: a deployment carries its share of its offer's cost
(by devices) plus its own energy and carbon; a workload carries each
deployment's cost in proportion to the load it puts on it (sum of x / cap).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import numpy as np

import solver
from solver.coefficients import COST_PARTS, Coefficients, energy_charged
from solver.errors import InputError, InputIssue
from solver.mip.formulation import power_terms_w
from solver.mip.model import LinearModel
from solver.mip.status import SolveResult

SIG_DIGITS = 9
PLAN_FORMAT = 1


def rnd(x: Optional[float], sig: int = SIG_DIGITS) -> Optional[float]:
    """Round to ``sig`` significant digits (None and non-finite pass through as None)."""
    if x is None:
        return None
    x = float(x)
    if not math.isfinite(x):
        return None
    if x == 0:
        return 0.0
    return float(f"{x:.{sig}g}")


@dataclass(frozen=True)
class Procurement:
    accelerator: str
    region: str
    acquisition: str
    provider: str
    instance: str
    existing: bool
    units: int
    devices_per_unit: int
    devices: int
    usd: float                # cost of these units over the horizon, energy excluded
    capex_usd: float
    #: owned hardware: the devices owned at this offer (those not in service are switched off)
    owned_devices: Optional[int] = None
    #: where the price comes from: a catalog source key (`fleetopt catalog show ID`) or the text of a
    #: problem's own offer (QA: a negotiated price's source reached no plan)
    source: Optional[str] = None
    #: the catalog price's confidence (high, medium, low); None for a problem's own offer and owned
    #: devices, and in plans written before it
    price_confidence: Optional[str] = None


@dataclass(frozen=True)
class Deployment:
    id: str
    accelerator: str
    model: str
    quantization: str
    tensor_parallel: int
    region: str
    acquisition: str
    provider: str
    instance: str
    existing: bool
    replicas: int
    spare_replicas: int
    accelerators: int
    quality: float
    utilization: float        # planned load / (replicas x capacity), peak
    power_w: float            # IT power at planned (mean) load, all replicas
    energy_kwh: float         # facility energy over the horizon
    co2_kg: float
    usd: float                # attributed cost over the horizon (see module docstring)


@dataclass(frozen=True)
class PerformanceSource:
    """Where the capacities of one (accelerator, model, quantization, TP) the plan deploys come from.

    Why: an accelerator of a family without calibration data is sized with the performance model's
    default efficiencies, and a plan built on it said so nowhere (QA s21: a whole plan on a user's
    own accelerator).  ``source``: "fitted" (the calibration group fitted to this family and
    format), "fallback" (another group stands in: ``calibration_group`` says which), "default" (no
    group: the global default efficiencies) or "measured" (every workload routed to it has a
    capacity from the problem's ``measurements``; ``measured_workloads`` lists those that do).
    """

    accelerator: str
    family: str
    model: str
    quantization: str
    tensor_parallel: int
    source: str
    calibration_group: str           # "family/format" as `fleetopt perf` prints it; "*/*": the default
    fit_rows: int
    compute_efficiency: float
    bandwidth_efficiency: float
    measured_workloads: tuple = ()
    #: the accelerator's figures the model reads that the catalog marks low confidence
    low_confidence: tuple = ()
    deployments: tuple = ()          # the plan's deployment ids it covers


@dataclass(frozen=True)
class Route:
    workload: str
    deployment: str
    requests_per_s: float
    share: float
    capacity_rps: float       # per replica, within SLO
    ttft_ms: Optional[float]  # predicted at capacity; None where a measured capacity gave none
    tpot_ms: Optional[float]


@dataclass(frozen=True)
class WorkloadKpi:
    workload: str
    requests_per_s: float
    usd: float
    usd_per_million_output_tokens: Optional[float]
    ttft_ms: Optional[float]
    ttft_target_ms: float
    tpot_ms: Optional[float]
    tpot_target_ms: float
    quality: Optional[float]          # routed mean
    quality_min_routed: Optional[float]
    quality_target: Optional[float]
    quality_mode: Optional[str]
    energy_kwh: float
    co2_kg: float
    #: output tokens served over the horizon, millions (plans written before it: None)
    output_tokens_millions: Optional[float] = None
    #: the percentile of requests at which ttft_ms / tpot_ms and their targets hold (the workload's
    #: slo.percentile; plans written before it: None)
    slo_percentile: Optional[float] = None


@dataclass(frozen=True)
class Objective:
    """What the plan costs, in ``currency`` over ``horizon_hours`` (None when there is no plan).

    For a multi-period plan ``total`` is the optimised objective: discounted per period,
    reservations over their whole term, retirements' resale credit included, so it is not the sum
    of the periods' accrued costs (``periods.timeline[t].total_usd``).
    """

    total: Optional[float]
    breakdown: dict
    currency: str
    horizon_hours: float
    #: what a month of the horizon pays: the total less ``after_horizon_usd``, per 730 h (the figure
    #: ``fleet.budget.max_usd_per_month`` bounds)
    usd_per_month: Optional[float]
    #: {cost part: USD} of the total that commitments pay after the horizon (a 3-year reservation in
    #: a 12-month plan: its last 24 months); single-period plans only, absent when nothing is
    after_horizon_usd: Optional[dict] = None
    #: whose electricity the energy part charges (:func:`energy_charged`): 'all', 'owned_and_bought'
    #: (objective.energy_on_rented false: a rental's price includes its energy) or 'none'
    #: (objective.include_energy false); the kWh and CO2 figures count every device either way.
    #: Absent from plans written before it
    energy_charged: Optional[str] = None


@dataclass(frozen=True)
class SolverInfo:
    backend: str
    name: str
    status_detail: str
    gap: Optional[float]
    best_bound: Optional[float]
    seconds: float
    time_limit_s: float
    mip_gap: float
    variables: int
    constraints: int


@dataclass(frozen=True)
class Plan:
    status: str
    problem: str
    scenario: Optional[str]
    objective: Objective
    procurement: tuple = ()
    deployments: tuple = ()
    routing: tuple = ()
    kpis: tuple = ()
    totals: dict = field(default_factory=dict)
    solver: Optional[SolverInfo] = None
    versions: dict = field(default_factory=dict)
    message: str = ""
    baseline: Optional[dict] = None
    format: int = PLAN_FORMAT
    #: multi-period plans only (see :mod:`solver.periods_plan`); absent from single-period JSON
    periods: Optional[dict] = None
    #: :class:`PerformanceSource` of what the plan deploys, sorted; absent from JSON when empty (no
    #: plan, a stand-in performance model, plans written before it)
    performance: tuple = ()

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict:
        d = asdict(self)
        if d.get("periods") is None:
            d.pop("periods", None)
        if not d.get("performance"):
            d.pop("performance", None)
        for p in d["procurement"]:
            if p.get("price_confidence") is None:
                p.pop("price_confidence", None)
        for key in ("after_horizon_usd", "energy_charged"):
            if d["objective"].get(key) is None:
                d["objective"].pop(key, None)
        for kpi in d["kpis"]:       # a plan of an earlier version read back: written as it was, without it
            for key in ("output_tokens_millions", "slo_percentile"):
                if kpi.get(key) is None:
                    kpi.pop(key, None)
        return _round_tree(d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, d: dict) -> "Plan":
        obj = Objective(**d["objective"])
        sol = SolverInfo(**d["solver"]) if d.get("solver") else None
        return cls(status=d["status"], problem=d["problem"], scenario=d.get("scenario"),
                   objective=obj,
                   procurement=tuple(Procurement(**p) for p in d.get("procurement", [])),
                   deployments=tuple(Deployment(**p) for p in d.get("deployments", [])),
                   routing=tuple(Route(**r) for r in d.get("routing", [])),
                   kpis=tuple(WorkloadKpi(**k) for k in d.get("kpis", [])),
                   totals=dict(d.get("totals", {})), solver=sol,
                   versions=dict(d.get("versions", {})), message=d.get("message", ""),
                   baseline=d.get("baseline"), format=d.get("format", PLAN_FORMAT),
                   periods=d.get("periods"),
                   performance=tuple(PerformanceSource(**{k: tuple(v) if isinstance(v, list) else v
                                                          for k, v in r.items()})
                                     for r in d.get("performance", [])))


#: a plan dict's top-level keys that the text reports (console, Markdown, CSV) read
REPORT_KEYS = ("status", "problem", "objective", "procurement", "deployments", "routing", "kpis")


def _numbered(plan: dict) -> dict:
    """The plan with ``periods.timeline[t].period`` and each ``slices[s].slice`` filled in by position
    where left out (the schema makes them optional; the readers name rows by them: QA s23 review, a plan
    without them crashed `report` with KeyError 'period'); the plan itself when nothing is missing."""
    pp = plan.get("periods")
    timeline = pp.get("timeline") if isinstance(pp, dict) else None
    if not isinstance(timeline, list):
        return plan
    rows = [_numbered_row(t, r) for t, r in enumerate(timeline)]
    return plan if rows == timeline else {**plan, "periods": {**pp, "timeline": rows}}


def _numbered_row(t: int, row: Any) -> Any:
    """Timeline row ``t`` with its ``period`` and its slices' numbers (a copy where one was missing)."""
    if not isinstance(row, dict):
        return row
    out = row if "period" in row else {"period": t, **row}
    slices = row.get("slices")
    if isinstance(slices, list) and any(isinstance(sl, dict) and "slice" not in sl for sl in slices):
        out = {**out, "slices": [{"slice": s, **sl} if isinstance(sl, dict) and "slice" not in sl else sl
                                 for s, sl in enumerate(slices)]}
    return out


def plan_dict(plan: Any, who: str = "this function", need: tuple = (), numbered: bool = True) -> dict:
    """``plan`` as its JSON dict: every reader (reports, plots, verify, warm starts) takes the Plan
    that solve_problem returns as well as the dict that ``--json`` writes.

    A dict that has none of a plan's keys (``{}``), or lacks one of ``need``, is refused with an
    :class:`InputError` that says a plan dict is expected (readers that tolerate missing fields,
    such as the HTML page, need nothing).  ``numbered``: periods and slices left unnumbered get their
    position (:func:`_numbered`; not for re-optimisation, which refuses such a timeline)."""
    if isinstance(getattr(plan, "plan", None), Plan):   # the Solved around it
        plan = plan.plan
    if isinstance(plan, Plan):
        return plan.to_dict()
    if isinstance(plan, dict):
        missing = [k for k in need if k not in plan]
        if not any(k in plan for k in REPORT_KEYS):
            missing = [k for k in REPORT_KEYS[:4] if k not in plan]
        if missing:
            raise InputError(InputIssue(
                f"{who} needs a plan dict, and this dict has no {', '.join(repr(k) for k in missing)}"
                + (" (it is empty)" if not plan else ""),
                hint="pass solve_problem(...).plan, plan.to_dict(), or load_plan_json(PATH) for a plan "
                     "`fleetopt solve --json` wrote"))
        return _numbered(plan) if numbered else plan
    raise TypeError(f"{who} needs a plan: a Plan (solve_problem(...).plan) or its JSON dict "
                    f"(plan.to_dict(), or load_plan_json(PATH) for a saved one); got {type(plan).__name__}")


class PlanJson(dict):
    """A plan dict that :func:`load_plan_json` read: ``file`` names the file in errors about it."""

    def __init__(self, d: dict, file: str):
        super().__init__(d)
        self.file = file


#: the earlier plans a solve reads, as messages name them: the CLI flag, then the Python keyword
PLAN_ARGUMENTS = {"previous": "--existing PLAN.json (previous= in Python)",
                  "warm_start": "--warm-start PLAN.json (warm_start= in Python)"}


def plan_source(plan: dict, role: str) -> str:
    """The file an earlier plan was read from, else the argument (:data:`PLAN_ARGUMENTS`) that passed it."""
    return getattr(plan, "file", None) or PLAN_ARGUMENTS[role]


_DEPLOYMENTS = [{"id": str}]
_ROUTES = [{"workload": str, "deployment": str, "requests_per_s": float}]
#: what the readers of an earlier plan take from it: str a string, float a number, (float, None) a
#: number or null, {...} an object with these keys ("?": may be left out), [x] a list of x.  Counts
#: (buy, devices, replicas, ...) are checked as the verifier does (:func:`solver.verify.check_structure`,
#: which reads the items of ``procurement`` and ``deployments`` as objects).
READ_FIELDS = {
    "warm_start": {"procurement?": [{}], "deployments": _DEPLOYMENTS, "routing": _ROUTES},
    "previous": {"procurement?": [{}], "deployments?": [{}],
                 "objective": {"total": (float, None), "breakdown?": {"change_penalty?": float}},
                 "periods": {"months": float, "period_hours": float, "discount_rate_per_period?": float,
                             "timeline": [{"units": [{"offer": str}],
                                           "moves?": [{"from": str, "to": str, "devices": float, "usd": float}],
                                           "slices": [{"deployments": _DEPLOYMENTS, "routing": _ROUTES}],
                                           "total_usd": float}]}},
}


def field_issues(node: Any, spec: Any, path: str = "") -> list[tuple[str, str]]:
    """(path, what is wrong) for every field of ``node`` that does not have the shape of ``spec``
    (:data:`READ_FIELDS`)."""
    if isinstance(spec, dict):
        if not isinstance(node, dict):
            return [(path, f"{_shown(node)} is not an object")]
        out = []
        for key, sub in spec.items():
            name = key.rstrip("?")
            here = f"{path}.{name}" if path else name
            if name in node:
                out += field_issues(node[name], sub, here)
            elif not key.endswith("?"):
                out.append((here, "missing"))
        return out
    if isinstance(spec, list):
        if not isinstance(node, list):
            return [(path, f"{_shown(node)} is not a list")]
        return [issue for i, item in enumerate(node) for issue in field_issues(item, spec[0], f"{path}[{i}]")]
    if spec is str:
        return [] if isinstance(node, str) else [(path, f"{_shown(node)} is not a string")]
    if node is None and isinstance(spec, tuple) and None in spec:
        return []
    number = not isinstance(node, bool) and (isinstance(node, int) or isinstance(node, float) and math.isfinite(node))
    return [] if number else [(path, f"{_shown(node)} is not a number")]


def _shown(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= 40 else text[:37] + "..."


def check_earlier_plan(plan: dict, role: str) -> None:
    """Refuse, before the solve, an earlier plan that ``role`` ("previous": re-optimisation,
    "warm_start") cannot use: another plan format, a plan of the other kind (single- or
    multi-period), a field its reader takes missing or malformed; each named by its path."""
    file = plan_source(plan, role)
    fix = "pass the plan as `fleetopt solve --json` wrote it (schema: solver/schemas/plan.schema.json)"
    fmt = plan.get("format", PLAN_FORMAT)
    if fmt != PLAN_FORMAT:
        raise InputError(InputIssue(f"plan format {fmt!r}: this fleetopt ({solver.__version__}) reads format "
                                    f"{PLAN_FORMAT}", file=file, path="format",
                                    hint="solve the problem again with this version for a plan it reads"))
    periods = plan.get("periods")
    if role == "warm_start" and periods is not None:
        count = periods.get("count") if isinstance(periods, dict) else None
        raise InputError(InputIssue(
            f"a multi-period plan{f' ({count} periods)' if count else ''}: --warm-start (warm_start= in Python) "
            "takes a single-period plan", file=file, path="periods",
            hint=f"re-optimise a multi-period problem from it with {PLAN_ARGUMENTS['previous']}"))
    if role == "previous":
        if plan.get("status") not in ("optimal", "time_limit"):
            raise InputError(InputIssue(
                f"the plan has status {plan.get('status')!r}: it holds no decisions to keep", file=file,
                path="status", hint="re-optimise from the last plan that was solved (status optimal or time_limit)"))
        if periods is None:
            raise InputError(InputIssue(
                "a single-period plan (no `periods` section): --existing (previous= in Python) takes a "
                "multi-period plan", file=file, path="periods",
                hint="pass a plan `fleetopt solve --json` wrote for a multi-period problem; a single-period "
                     f"solve starts from this one with {PLAN_ARGUMENTS['warm_start']}"))
    issues = [InputIssue(what, file=file, path=path, hint=fix) for path, what in field_issues(plan, READ_FIELDS[role])]
    if not issues:
        from solver.verify import VerifyReport, check_structure
        rep = VerifyReport()
        check_structure(rep, plan)
        issues = [InputIssue(v.message, file=file, path=v.where, hint=fix) for v in rep.violations]
    if issues:
        raise InputError(issues)


def _round_tree(x: Any) -> Any:
    if isinstance(x, float):
        return rnd(x)
    if isinstance(x, dict):
        return {k: _round_tree(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_round_tree(v) for v in x]
    return x


def deployment_id(k: Coefficients, c: int) -> str:
    cand = k.candidates[c]
    return f"{cand.model}:{cand.quantization}:tp{cand.tensor_parallel}@{k.offers[cand.offer].key}"


def deployment_model(deployment: str) -> str:
    """The model id a :func:`deployment_id` begins with (model ids hold no ':')."""
    return deployment.partition(":")[0]


def deployment_candidate(deployment: str) -> tuple[str, str, str, int]:
    """(accelerator, model, quantization, tensor parallel) of a :func:`deployment_id`
    ('model:quant:tpN@accelerator@region/...'; ids hold no ':' or '@')."""
    head, _, offer = deployment.partition("@")
    model, quant, tp = head.split(":")
    return offer.partition("@")[0], model, quant, int(tp.removeprefix("tp"))


def plan_routes(plan: dict) -> list[dict]:
    """Every route of a plan dict, a multi-period plan's in every period and slice."""
    routes = list(plan.get("routing") or [])
    for row in (plan.get("periods") or {}).get("timeline") or []:
        for sl in row.get("slices") or []:
            routes += sl.get("routing") or []
    return routes


def plan_deployment_ids(plan: dict) -> list[str]:
    """The ids of every deployment of a plan dict (a multi-period plan's in any slice), sorted."""
    ids = {d["id"] for d in plan.get("deployments") or []}
    for row in (plan.get("periods") or {}).get("timeline") or []:
        for sl in row.get("slices") or []:
            ids.update(d["id"] for d in sl.get("deployments") or [])
    return sorted(ids)


def _known(latency_ms: np.ndarray) -> Optional[float]:
    """The largest latency (ms) of some routes; None when there are none or one is unknown (a
    measured capacity that came without latencies): a worst case that leaves one out is none."""
    if not len(latency_ms) or not np.all(np.isfinite(latency_ms)):
        return None
    return float(latency_ms.max())


def drop_route_noise(x: np.ndarray, replicas: np.ndarray, demand_rps: np.ndarray) -> np.ndarray:
    """Routes with 0 replicas behind them set to 0 where they are solver tolerance, not traffic.

    A MIP solver satisfies ``x_p <= u cap_p y_c`` to its feasibility tolerance, so a plan
    can route ~1e-9 req/s to a deployment without replicas, which no reader of the plan
    could make sense of (and ``verify`` rightly rejects).  Only amounts within the
    verifier's tolerance (1e-6 of the demand, relative as there) are dropped: anything
    larger stays, for ``verify`` to report.
    """
    noise = (replicas < 0.5) & (x <= 1e-6 * demand_rps)
    return np.where(noise, 0.0, x)


def build_plan(problem, k: Coefficients, model: LinearModel, res: SolveResult, *,
               scenario: Optional[str] = None, time_limit_s: float = 0.0, mip_gap: float = 0.0,
               message: str = "") -> Plan:
    """Turn solver values into a :class:`Plan` (an empty plan when there is none)."""
    sinfo = SolverInfo(backend=res.backend, name=res.solver, status_detail=res.message,
                       gap=res.gap, best_bound=res.best_bound if res.has_plan else None, seconds=res.seconds,
                       time_limit_s=time_limit_s, mip_gap=mip_gap, variables=model.n_vars,
                       constraints=model.n_rows)
    versions = {"fleetopt": solver.__version__, "catalog": k.catalog_version}
    if getattr(k, "calibration", ""):
        versions["calibration"] = k.calibration
    if hasattr(problem, "fingerprint"):      # a Problem (tests pass light stand-ins)
        versions["problem"] = problem.fingerprint()
    if not res.has_plan:
        return Plan(status=res.status, problem=problem.name, scenario=scenario,
                    objective=Objective(None, {}, problem.objective.currency, k.hours, None),
                    solver=sinfo, versions=versions, message=message or res.message)
    v = res.values
    B = model.blocks
    y = v[B["y"]]
    n = v[B["n"]]
    x = drop_route_noise(v[B["x"]], np.round(y)[k.pair_c], k.demand_rps[k.pair_w])
    s_of_c = B["s_of_c"]
    s = np.where(s_of_c >= 0, v[np.maximum(s_of_c, 0)], 0.0) if k.n_c else np.zeros(0)
    off = k.cand_offer()
    tp = k.cand_tp()
    g = k.offer_array("devices_per_unit")

    breakdown = {p: float(model.obj_parts[p] @ v) if p in model.obj_parts else 0.0
                 for p in COST_PARTS}
    total = float(sum(breakdown.values()))
    months = k.hours / 730.0
    after = {p: float(vec @ n) for p, vec in k.after_horizon_usd_per_unit().items()}
    after = {p: usd for p, usd in after.items() if usd > 0} or None

    # IT power (W) per term, then per offer / candidate / pair
    cols, watts, offer_of = power_terms_w(k, _VarsView(B))
    term_w = watts * v[cols]
    kwh_per_w = k.kwh_per_w()
    co2_kg_per_w = k.offer_array("pue") * k.offer_array("carbon_g_per_kwh") * k.hours / 1e6
    e_usd = k.energy_usd_per_w()
    c_usd = k.carbon_usd_per_w()
    nO, nC, nP = k.n_o, k.n_c, k.n_p
    # split terms: first nO (units idle), next nC (replica idle), then nP (load)
    w_units = term_w[:nO]
    w_rep = term_w[nO:nO + nC]
    w_load = term_w[nO + nC:]

    # Offer cost (energy excluded) and per-device share
    offer_usd = np.zeros(nO)
    for p in COST_PARTS:
        if p in ("energy", "carbon"):
            continue
        offer_usd += k.offer_part_rate(p) * g * n * k.billed_hours()
    # the same within the horizon (a reservation's term after it left out): the cost per token's
    offer_usd_h = offer_usd - sum(k.after_horizon_usd_per_unit().values(), np.zeros(nO)) * n
    used_dev = np.zeros(nO)
    np.add.at(used_dev, off, tp * y)
    # Offer-level idle of slack devices goes with the replicas too (by devices)
    dev_share = np.where(used_dev[off] > 0, tp * y / np.maximum(used_dev[off], 1e-12), 0.0)

    load_frac = x / k.pair_cap_rps  # replica-equivalents of load
    cand_load = np.zeros(nC)
    np.add.at(cand_load, k.pair_c, load_frac)
    cand_w = w_rep + dev_share * w_units[off]
    np.add.at(cand_w, k.pair_c[:nP], w_load)
    cand_energy_usd = cand_w * (e_usd[off] + c_usd[off])
    cand_usd = dev_share * offer_usd[off] + cand_energy_usd
    cand_usd_h = dev_share * offer_usd_h[off] + cand_energy_usd
    cand_kwh = cand_w * kwh_per_w[off]
    cand_co2 = cand_w * co2_kg_per_w[off]

    deployments = []
    for c in np.flatnonzero(y > 0.5):
        cand = k.candidates[c]
        o = k.offers[cand.offer]
        deployments.append(Deployment(
            id=deployment_id(k, c), accelerator=o.accelerator, model=cand.model,
            quantization=cand.quantization, tensor_parallel=cand.tensor_parallel,
            region=o.region, acquisition=o.acquisition, provider=o.provider, instance=o.instance,
            existing=o.existing, replicas=int(round(y[c])), spare_replicas=int(round(s[c])),
            accelerators=int(round(y[c] * tp[c])), quality=cand.quality,
            utilization=float(cand_load[c] / y[c]), power_w=float(cand_w[c]),
            energy_kwh=float(cand_kwh[c]), co2_kg=float(cand_co2[c]), usd=float(cand_usd[c])))
    deployments.sort(key=lambda d: d.id)

    procurement = []
    capex = k.offer_array("capex_usd_per_device")
    for o_i in np.flatnonzero(n > 0.5):
        o = k.offers[o_i]
        units = int(round(n[o_i]))
        procurement.append(Procurement(
            accelerator=o.accelerator, region=o.region, acquisition=o.acquisition,
            provider=o.provider, instance=o.instance, existing=o.existing, units=units,
            devices_per_unit=o.devices_per_unit, devices=units * o.devices_per_unit,
            usd=float(offer_usd[o_i]), capex_usd=float(capex[o_i] * units * o.devices_per_unit),
            owned_devices=o.max_units if o.existing else None, source=o.source or None))
    procurement.sort(key=lambda p: (p.accelerator, p.region, p.acquisition, p.provider, p.instance,
                                    p.existing))

    routing = []
    wl_by_id = {w.id: w for w in problem.workloads}
    w_usd = np.zeros(k.n_w)
    w_usd_h = np.zeros(k.n_w)
    w_kwh = np.zeros(k.n_w)
    w_co2 = np.zeros(k.n_w)
    for p in np.flatnonzero(x > 1e-9):
        wi, c = int(k.pair_w[p]), int(k.pair_c[p])
        frac = load_frac[p] / cand_load[c] if cand_load[c] > 0 else 0.0
        w_usd[wi] += frac * cand_usd[c]
        w_usd_h[wi] += frac * cand_usd_h[c]
        w_kwh[wi] += frac * cand_kwh[c]
        w_co2[wi] += frac * cand_co2[c]
        routing.append(Route(workload=k.workloads[wi], deployment=deployment_id(k, c),
                             requests_per_s=float(x[p]), share=float(x[p] / k.demand_rps[wi]),
                             capacity_rps=float(k.pair_cap_rps[p]), ttft_ms=_known(k.pair_ttft_ms[[p]]),
                             tpot_ms=_known(k.pair_tpot_ms[[p]])))
    routing.sort(key=lambda r: (r.workload, r.deployment))

    kpis = []
    qual = k.cand_quality()
    for wi, wid in enumerate(k.workloads):
        w = wl_by_id[wid]
        sel = np.flatnonzero((k.pair_w == wi) & (x > 1e-9))
        tokens = (k.demand_rps[wi] * k.energy_load_factor[wi] * 3600.0 * k.hours
                  * w.output_tokens.mean)
        kpis.append(WorkloadKpi(
            workload=wid, requests_per_s=float(k.demand_rps[wi]), usd=float(w_usd[wi]),
            usd_per_million_output_tokens=float(w_usd_h[wi] / tokens * 1e6) if tokens > 0 else None,
            ttft_ms=_known(k.pair_ttft_ms[sel]),
            ttft_target_ms=w.slo.ttft_ms,
            tpot_ms=_known(k.pair_tpot_ms[sel]),
            tpot_target_ms=w.slo.tpot_ms,
            quality=float(x[sel] @ qual[k.pair_c[sel]] / x[sel].sum()) if len(sel) else None,
            quality_min_routed=float(np.min(qual[k.pair_c[sel]])) if len(sel) else None,
            quality_target=w.quality.min_score if w.quality else None,
            quality_mode=w.quality.mode if w.quality else None,
            energy_kwh=float(w_kwh[wi]), co2_kg=float(w_co2[wi]),
            output_tokens_millions=float(tokens / 1e6), slo_percentile=float(w.slo.percentile)))

    totals = {
        "devices": int(sum(p.devices for p in procurement)),
        "replicas": int(sum(d.replicas for d in deployments)),
        "it_power_w": float(term_w.sum()),
        "energy_kwh": float(sum(d.energy_kwh for d in deployments)
                            + float((w_units * kwh_per_w * (used_dev == 0)).sum())),
        "co2_kg": float(sum(d.co2_kg for d in deployments)
                        + float((w_units * co2_kg_per_w * (used_dev == 0)).sum())),
        "capex_usd": float(sum(p.capex_usd for p in procurement)),
        # owned devices the plan leaves switched off (QA: an idle one was mentioned nowhere)
        "idle_owned_devices": int(sum((o.max_units or 0) - round(n[i]) * o.devices_per_unit
                                      for i, o in enumerate(k.offers) if o.existing)),
        "nameplate_kw_facility": float(np.sum(n * g * k.offer_array("tdp_w")
                                              * k.offer_array("pue")) / 1000.0),
    }
    return Plan(status=res.status, problem=problem.name, scenario=scenario,
                objective=Objective(total, breakdown, problem.objective.currency, k.hours,
                                    (total - sum((after or {}).values())) / months, after,
                                    energy_charged(problem.objective)),
                procurement=tuple(procurement), deployments=tuple(deployments),
                routing=tuple(routing), kpis=tuple(kpis), totals=totals, solver=sinfo,
                versions=versions, message=message)


class _VarsView:
    """Adapter exposing the model's variable blocks like formulation.Vars."""

    def __init__(self, blocks: dict):
        self.y, self.n, self.x = blocks["y"], blocks["n"], blocks["x"]
        self.s = blocks.get("s", np.zeros(0, np.int64))
        self.s_of_c = blocks["s_of_c"]


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number (a plan holds null for a figure it does not know)")


def load_plan_json(path) -> dict:
    """Read a plan JSON file; InputError on unreadable or malformed files (read as
    :func:`solver.yamlio.load_json_file` reads them: a folder, a FIFO, a byte-order mark)."""
    from pathlib import Path

    from solver.yamlio import load_json_file
    p = Path(path)
    d = load_json_file(p, hint="pass a file written by `fleetopt solve --json`",
                       invalid="not a readable plan JSON", parse_constant=_no_constant)
    if not isinstance(d, dict) or "status" not in d or "deployments" not in d:
        raise InputError(InputIssue("not a fleetopt plan (no `status` / `deployments`)", file=str(p),
                                    hint="pass a file written by `fleetopt solve --json`"))
    return PlanJson(d, str(p))
