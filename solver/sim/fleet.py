"""Simulate a whole plan: every deployment under the traffic the plan routes to it.

Traffic split (documented choice): the load balancer sends each request of a
workload to one of the deployments serving it with probability equal to the
plan's routing share, and within a deployment to a replica chosen uniformly
at random.  Random splitting of a Poisson stream gives independent Poisson
streams, so each replica of deployment ``d`` sees, for every workload ``w``,
Poisson arrivals at ``requests_per_s(w, d) / replicas(d)``: the same
per-replica load the MIP's linear capacity constraint assumes.  (Round-robin
would smooth arrivals and look better than reality with a random balancer.)
Spare replicas (n+1 redundancy) are counted as serving, i.e. the balancer uses
every replica the plan buys; ``without_spares`` instead takes each deployment's
spares out (a failed replica: the others absorb its traffic), which checks
that the redundancy the plan pays for really covers a failure.

Replicas of one deployment are statistically identical, so at most
``max_replicas`` of them are simulated (independent seeds) and each simulated
request stands for ``replicas / simulated`` real ones in fleet-wide figures.

Measurement: requests arriving in ``[warmup_s, duration_s)`` are measured
(the fleet starts empty); every request is run to completion (drain).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import numpy as np

from solver.sim.core import simulate_replica
from solver.sim.engine import EngineLike, StepTable, expert_reads, prefill_marginal_ms, prefill_shape
from solver.sim.planfile import SimDeployment, SimPlan
from solver.sim.traffic import Trace, check_request_count, poisson_arrivals, sample_tokens


#: Prompt tokens per iteration: vLLM V1's default token budget for an OpenAI server on
#: large GPUs (max_num_batched_tokens 8192); here decode tokens are not counted against it.
#: Smaller budgets add a decode step's time per chunk and cut prefill throughput on long
#: prompts (2048 overloads the RAG example); whole prompts give nearly the same results.
DEFAULT_PREFILL_CHUNK = 8192


@dataclass(frozen=True)
class SimOptions:
    duration_s: float = 600.0
    warmup_s: Optional[float] = None     # default: 10% of the duration, at most 60 s
    seed: int = 0
    max_replicas: int = 16               # replicas simulated per deployment
    prefill_chunk_tokens: Optional[int] = DEFAULT_PREFILL_CHUNK  # None: whole prompts
    without_spares: bool = False         # simulate with each deployment's spare replicas down
    kv_reserve: str = "actual"           # KV reserved per request: "actual" input + output
                                         # (an oracle) or "max": input + the workload's max output

    @property
    def warmup(self) -> float:
        if self.warmup_s is not None:
            return float(self.warmup_s)
        return min(60.0, 0.1 * self.duration_s)


@dataclass
class DeploymentRun:
    """What happened on the simulated replicas of one deployment."""

    deployment: SimDeployment
    simulated_replicas: int
    weight: float                        # real requests per simulated request
    status: str                          # "ok" or why it could not run
    kv_capacity_tokens: float = 0.0
    max_batch: int = 0
    busy_s: float = 0.0
    end_s: float = 0.0
    batch_seconds: float = 0.0
    peak_kv_fraction: float = 0.0
    decode_steps: int = 0
    max_context_tokens: Optional[float] = None   # the model's context window (None: not known)

    @property
    def utilisation(self) -> float:
        return self.busy_s / self.end_s if self.end_s > 0 else 0.0

    @property
    def mean_batch(self) -> float:
        return self.batch_seconds / self.busy_s if self.busy_s > 0 else 0.0


@dataclass
class FleetSimulation:
    """Per-request columns over every simulated replica, plus per-deployment runs."""

    workload_ids: list[str]
    deployments: list[DeploymentRun]
    dep_index: np.ndarray        # deployment of each request (index into deployments)
    workload: np.ndarray         # workload index
    arrival_s: np.ndarray
    ttft_s: np.ndarray           # NaN: rejected / never served
    tpot_s: np.ndarray           # NaN: one output token (TPOT undefined) or not served
    output_tokens: np.ndarray
    input_tokens: np.ndarray
    weight: np.ndarray           # real requests per simulated request
    measured: np.ndarray         # bool: arrived inside the measurement window
    window_s: float
    wall_s: float
    options: SimOptions
    unrouted: dict[str, int] = field(default_factory=dict)  # trace requests of unrouted workloads
    trace_not_simulated: int = 0  # trace requests sent to replicas beyond max_replicas (left out)
    #: bool per request: refused, longer than its deployment's model context window (input + output)
    over_context: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))

    @property
    def n_requests(self) -> int:
        return len(self.arrival_s)


def build_engines(catalog, plan: SimPlan) -> dict[str, EngineLike]:
    """Engine specs of every deployment from the performance model."""
    from solver.perf import PerfCandidate, engine_spec

    out = {}
    for d in plan.deployments:
        out[d.id] = engine_spec(catalog, PerfCandidate(d.accelerator, d.model, d.quantization,
                                                       d.tensor_parallel))
    return out


def _engine_problem(engine) -> Optional[str]:
    if getattr(engine, "fits", True) is False:
        return f"does not fit: {getattr(engine, 'reason', 'engine cannot run')}"
    if not engine.kv_capacity_tokens or engine.kv_capacity_tokens <= 0 or engine.max_batch < 1:
        return "no KV-cache room for even one sequence"
    return None


def simulate_plan(workloads: Sequence, plan: SimPlan, engines: Mapping[str, EngineLike],
                  options: SimOptions = SimOptions(), trace: Optional[Trace] = None) -> FleetSimulation:
    """Run every deployment of ``plan``; ``workloads`` are the problem's Workload objects."""
    t_wall = time.perf_counter()
    wl_ids = [w.id for w in workloads]
    wl_by_id = {w.id: w for w in workloads}
    warm = options.warmup
    if trace is not None:
        horizon = float(trace.arrival_s.max()) if len(trace) else 0.0
        window = max(horizon - warm, 0.0)
        assign_dep, assign_rep, unrouted = _assign_trace(trace, plan, wl_ids, options)
    else:
        horizon = float(options.duration_s)
        window = max(horizon - warm, 0.0)
        assign_dep = assign_rep = None
        unrouted = {}
    if window <= 0:
        raise ValueError("the measurement window is empty: the duration must exceed the warm-up")

    if options.kv_reserve not in ("actual", "max"):
        raise ValueError("kv_reserve must be 'actual' or 'max'")
    if trace is None:   # a trace bounds its own size; Poisson requests are drawn per simulated replica
        deps = {d.id: d for d in plan.deployments}
        per_s = sum(r.requests_per_s * simulated_replicas(deps[r.deployment], options)
                    / max(serving_replicas(deps[r.deployment], options), 1) for r in plan.routing)
        check_request_count(per_s, horizon, hint=", or lower --max-replicas")
    max_out = np.array([int(w.output_tokens.max) if getattr(w.output_tokens, "max", None) else 0
                        for w in workloads], dtype=np.int64)
    cols: dict[str, list] = {k: [] for k in ("dep", "wl", "arr", "ttft", "tpot", "out", "inp", "w", "long")}
    runs: list[DeploymentRun] = []
    not_simulated = 0
    for di, dep in enumerate(plan.deployments):
        routes = [r for r in plan.routing if r.deployment == dep.id and r.requests_per_s > 0]
        n_rep = serving_replicas(dep, options)
        n_sim = simulated_replicas(dep, options)
        run = DeploymentRun(deployment=dep, simulated_replicas=n_sim,
                            weight=n_rep / n_sim if n_sim else 0.0, status="ok")
        runs.append(run)
        if trace is not None:   # the trace's requests on the replicas not simulated are left out
            not_simulated += int(np.count_nonzero((assign_dep == di) & (assign_rep >= n_sim)))
        if n_sim == 0 or (not routes and trace is None):
            run.status = "idle (no traffic routed)" if n_sim else "no replicas"
            continue
        engine = engines[dep.id]
        problem = _engine_problem(engine)
        table = None
        if problem is None:
            run.kv_capacity_tokens = float(engine.kv_capacity_tokens)
            run.max_batch = int(engine.max_batch)
            table = StepTable(engine, run.max_batch, run.kv_capacity_tokens)
            shape = prefill_shape(engine)
            ctx = getattr(getattr(engine, "terms", None), "max_context", None)
            run.max_context_tokens = float(ctx) if ctx else None
        else:
            run.status = problem
        for r in range(n_sim):
            if trace is None:
                rng = np.random.default_rng([options.seed, di, r])
                parts = []
                for route in routes:
                    w = wl_by_id[route.workload]
                    t = poisson_arrivals(route.requests_per_s / n_rep, horizon, rng)
                    parts.append((t, np.full(len(t), wl_ids.index(w.id), np.int64),
                                  sample_tokens(w.input_tokens, len(t), rng),
                                  sample_tokens(w.output_tokens, len(t), rng)))
                arr, wl, inp, out = (np.concatenate([p[i] for p in parts]) for i in range(4))
                order = np.argsort(arr, kind="stable")
                arr, wl, inp, out = arr[order], wl[order], inp[order], out[order]
            else:
                sel = np.flatnonzero((assign_dep == di) & (assign_rep == r))
                arr, wl = trace.arrival_s[sel], trace.workload[sel]
                inp, out = trace.input_tokens[sel], trace.output_tokens[sel]
            n = len(arr)
            # a server refuses a request longer than its model's context window (vLLM: max_model_len);
            # it is never served, as one too long for the KV cache (QA: a trace's 300k-token prompts
            # on a 32k model were queued and served, blocking everything behind them)
            long = ((inp + out > run.max_context_tokens) if run.max_context_tokens is not None
                    else np.zeros(n, bool))
            if table is not None and n:
                pre_s = np.asarray(engine.prefill_ms(inp), float) / 1000.0
                marg_s = prefill_marginal_ms(engine, inp) / 1000.0
                held = inp + (np.maximum(out, max_out[wl]) if options.kv_reserve == "max" else out)
                # in cache tokens: a sliding-window layer holds at most its window (the perf model's
                # memory rule; before, every layer held the whole context and gpt-oss batches filled
                # the cache about twice as early)
                cache = getattr(engine, "kv_cache_tokens", None)
                reserve = np.asarray(cache(held), np.int64) if callable(cache) else held
                if long.any():
                    reserve = np.where(long, np.int64(run.kv_capacity_tokens) + 1, reserve)
                res = simulate_replica(arr, inp, out, pre_s, table, run.kv_capacity_tokens,
                                       run.max_batch, prefill_marginal_s=marg_s,
                                       prefill_chunk_tokens=options.prefill_chunk_tokens,
                                       prefill_shape=shape, kv_reserve_tokens=reserve,
                                       **expert_reads(engine))
                first, fin = res.first_token_s, res.finish_s
                run.busy_s += res.busy_s
                run.end_s += max(res.end_s, horizon)
                run.batch_seconds += res.batch_seconds
                run.peak_kv_fraction = max(run.peak_kv_fraction,
                                           res.peak_kv_tokens / run.kv_capacity_tokens)
                run.decode_steps += res.decode_steps
            else:
                first = fin = np.full(n, np.nan)
                run.end_s += horizon
            ttft = first - arr
            with np.errstate(invalid="ignore", divide="ignore"):
                tpot = np.where(out > 1, (fin - first) / np.maximum(out - 1, 1), np.nan)
            cols["dep"].append(np.full(n, di, np.int64))
            cols["wl"].append(wl)
            cols["arr"].append(arr)
            cols["ttft"].append(ttft)
            cols["tpot"].append(tpot)
            cols["out"].append(out)
            cols["inp"].append(inp)
            cols["w"].append(np.full(n, run.weight))
            cols["long"].append(long)

    def cat(k, dtype=float):
        return np.concatenate(cols[k]).astype(dtype) if cols[k] else np.empty(0, dtype)

    arr = cat("arr")
    return FleetSimulation(
        workload_ids=wl_ids, deployments=runs, dep_index=cat("dep", np.int64),
        workload=cat("wl", np.int64), arrival_s=arr, ttft_s=cat("ttft"), tpot_s=cat("tpot"),
        output_tokens=cat("out", np.int64), input_tokens=cat("inp", np.int64), weight=cat("w"),
        over_context=cat("long", bool), measured=(arr >= warm) & (arr < horizon if trace is None else arr <= horizon),
        window_s=window, wall_s=time.perf_counter() - t_wall, options=options, unrouted=unrouted,
        trace_not_simulated=not_simulated)


def serving_replicas(dep: SimDeployment, options: SimOptions) -> int:
    """Replicas that take traffic: all of them, or all but the spares with ``without_spares``."""
    if options.without_spares and dep.spare_replicas:
        return max(dep.replicas - dep.spare_replicas, 1 if dep.replicas else 0)
    return dep.replicas


def simulated_replicas(dep: SimDeployment, options: SimOptions) -> int:
    """Replicas of ``dep`` simulated: its serving ones, at most ``max_replicas``."""
    return min(serving_replicas(dep, options), max(1, options.max_replicas))


def _assign_trace(trace: Trace, plan: SimPlan, wl_ids: list[str], options: SimOptions):
    """Deployment (by routing share) and replica (uniform) of every trace request."""
    rng = np.random.default_rng([options.seed, 7919])
    n = len(trace)
    dep = np.full(n, -1, np.int64)
    rep = np.zeros(n, np.int64)
    dep_pos = {d.id: i for i, d in enumerate(plan.deployments)}
    unrouted: dict[str, int] = {}
    for k, w in enumerate(trace.workload_ids):
        sel = np.flatnonzero(trace.workload == k)
        if not len(sel):
            continue
        routes = [r for r in plan.routing if r.workload == w and r.requests_per_s > 0]
        if not routes:
            unrouted[w] = int(len(sel))
            continue
        rates = np.array([r.requests_per_s for r in routes])
        choice = rng.choice(len(routes), size=len(sel), p=rates / rates.sum())
        for j, r in enumerate(routes):
            s = sel[choice == j]
            di = dep_pos[r.deployment]
            dep[s] = di
            rep[s] = rng.integers(0, serving_replicas(plan.deployments[di], options), len(s))
    return dep, rep, unrouted
