"""Why no plan exists, in the user's terms (``fleetopt explain``, and ``solve`` when infeasible).

Two kinds of cause, diagnosed separately:

* **Per workload** - no deployment (accelerator x TP x quantization x model in
  an allowed region) can serve it at all.  Every combination the workload's
  filters allow is classified by the first thing that rules it out: the
  quality target (hardware-independent), then the performance model's reason
  (format unsupported, weights or KV cache do not fit, context too long, TPOT
  or TTFT unreachable even at the lightest load).  The *nearest miss* is the
  deployment that needs the smallest uniform relaxation of the latency
  targets: it minimises max(TTFT at lightest load / TTFT target, TPOT at
  lightest load / TPOT target).  Any target at or above the reported figure
  lets that deployment serve a trickle; a practical plan needs some headroom.
  It is taken among the deployments that reach the quality target (a routed
  mean too: a mix reaches it only with one of them); where none does, the
  quality change and the latency change that its best deployment needs are
  proposed together, and what else rules out the deployments below a
  per-request target is counted beside them.
  A workload whose quality target is a routed mean (``quality.mode: mean``) may
  have deployments that meet its SLOs and still no plan: when even the best of
  them is below the target, no mix reaches the mean; that is said per workload
  too, with the target to lower it to.
* **Fleet-wide** - every workload has candidates but power caps, availability,
  budgets, spot share or a routed-mean quality target conflict with the
  demand.  An elastic solve (:mod:`solver.mip.elastic`) per constraint family
  finds the smallest relaxation of that family alone ("needs 340 kW more in
  ireland"; a limit given per period is relaxed period by period, each change naming
  its period and the list entry to edit, e.g. ``fleet.power_caps[0].max_kw_by_period[5]``),
  and the demand family gives the alternative "serve N req/s less
  of W" (multi-period: each period's peak, and the growth list that gives it);
  a cut of every workload's whole demand is said to be no way out, naming the
  limit that is.  Each alternative is a sufficient change on its own.  An elastic solve
  that stops without any relaxation (its time limit, or the explanation's
  total time spent) leaves its family *undecided*, said as such: "does not
  help" is only said when the solver proved it.  When no family is enough
  alone, every family is relaxed together (slacks weighted by their rows'
  size): either those joint changes, or the proof that the fleet's limits are
  not the cause (the workloads' filters and the offers are).  Workloads with
  N+1 redundancy: a solve without their spares says whether dropping it is a
  way out.

Everything is recomputed from the problem with the same coefficient builder
and performance model that ``solve`` uses, so the explanation describes the
model that was actually infeasible.
"""

from __future__ import annotations

import logging
import math
import re
import shlex
import time
from decimal import Decimal
from dataclasses import asdict, dataclass, field, replace
from typing import Optional

import numpy as np

from solver.catalog import SHIPPED_LAYER
from solver.catalog.schema import ACQUISITIONS
from solver.coefficients import (MAX_REPLICAS_TO_SERVE, MIN_CAPACITY_RPS, Coefficients, build_coefficients,
                                 build_offers, least_capacity_rps, quality_of, quant_for_model, quant_runs_on)
from solver.mip.elastic import NO_ROWS, RELAXABLE, ElasticResult, Slack, families_in, relax
from solver.mip.formulation import build_model
from solver.mip.model import LinearModel
from solver.mip.status import INFEASIBLE, OPTIMAL
from solver.perf.arch import (R_NO_KV_ROOM, R_QUANT_NOT_FOR_MODEL, R_QUANT_UNSUPPORTED, R_TP_HEADS, R_TP_TOO_LARGE,
                              R_WEIGHTS_DONT_FIT, REASONS)
from solver.report import against_target_texts, digits_text, latency_meets, number_text

log = logging.getLogger(__name__)

#: relaxations of these families are offered as alternatives, in this order
FLEET_FAMILIES = ("caps.power", "caps.availability", "caps.budget", "caps.capex", "caps.capex_period",
                  "caps.spot_share", "quality.mean")

QUALITY_BELOW = "quality below the target"
#: deployments pairing schemes with a family none of them lists, one reason per family naming the schemes
#: (QA s21: "quantization not supported on this accelerator family" left the user to find which)
QUANT_UNSUPPORTED = "quantization not supported on accelerator family {family} ({quants})"
_QUANT_UNSUPPORTED_RE = re.compile(r"quantization not supported on accelerator family (\S+) \((.+)\)$")
FILTERED_TP = "tensor parallel degree does not fit any allowed offer"
TOO_LITTLE_CAPACITY = (f"capacity per replica below {MIN_CAPACITY_RPS:g} req/s or below its largest demand / "
                       f"{MAX_REPLICAS_TO_SERVE:,.0f} (counted as none)")


@dataclass
class Deployment:
    """An accelerator x TP x quantization x model with its best (lightest-load) figures."""

    accelerator: str
    tensor_parallel: int
    quantization: str
    model: str
    ttft_ms: Optional[float] = None
    tpot_ms: Optional[float] = None
    quality: Optional[float] = None

    @property
    def name(self) -> str:
        return f"{self.accelerator} x{self.tensor_parallel} {self.quantization} {self.model}"


@dataclass
class WorkloadDiagnosis:
    workload: str
    servable: bool
    combinations: int                     # deployments the workload's filters allow
    feasible: int                         # of which can serve it
    reasons: dict = field(default_factory=dict)    # reason text -> count (the first that rules each out)
    #: of the deployments below a per-request quality target, what else rules them out -> count
    besides_quality: dict = field(default_factory=dict)
    filters: list = field(default_factory=list)    # notes on pins that exclude everything
    ttft_target_ms: float = 0.0
    tpot_target_ms: float = 0.0
    quality_target: Optional[float] = None
    best_ttft: Optional[Deployment] = None
    best_tpot: Optional[Deployment] = None
    nearest: Optional[Deployment] = None
    #: the quality the best TTFT/TPOT and the nearest miss reach: they are taken among the deployments
    #: at or above it (the target, or the best any reaches); None without a quality target
    latency_among_quality: Optional[float] = None
    best_quality: Optional[Deployment] = None
    #: mean-quality mode: the best deployment that can serve it, when even that one is below the
    #: target (then no routing mix reaches the mean, whatever the fleet limits)
    best_serving_quality: Optional[Deployment] = None
    relaxations: list = field(default_factory=list)   # sentences "set X to Y"
    #: for programs, beside each sentence of ``relaxations`` (same order): the figures it sets, each
    #: {"field", "from", "to", "bound"} ('workloads.chat.slo.ttft_ms', 10, 19.7, 'at least'); [] for a
    #: sentence without one (QA s27: the JSON carried the sentences only)
    relaxation_figures: list = field(default_factory=list)
    #: the `fleetopt perf` command that prints the model's figures for the nearest miss
    perf_command: str = ""
    #: what a replica of the nearest miss serves as the latency targets it misses rise
    capacity_as_targets_rise: str = ""


@dataclass
class FleetRelaxation:
    """One sufficient change: relax ``family`` by the listed amounts."""

    family: str
    what: str
    restores: bool
    changes: list = field(default_factory=list)       # sentences with numbers
    #: the changes as numbers, for programs: per relaxed row (or label) its family, label, the
    #: solver's exact amount (the sentences round it to a sufficient figure) and unit, the row's
    #: limit, and (multi-period) the period and slice it is in
    amounts: list = field(default_factory=list)
    #: the solver proved the change the smallest (False: it stopped at its time limit with a
    #: sufficient change that may not be the smallest, or see ``why_not_smallest``)
    proven_smallest: bool = True
    #: why a sufficient change is not proven the smallest, where not the time limit
    why_not_smallest: str = ""
    #: why the elastic solve gave no answer either way (no relaxation found and none ruled out:
    #: its time limit, no time left, a solver failure); empty when it decided
    undecided: str = ""
    #: why a family that gives a plan only by giving up everything is no way out (demand: not one
    #: request can be served within the limits), and what is; ``restores`` is then False
    no_way_out: str = ""
    #: other changes of the same family, each enough alone (hardware availability: each other
    #: availability entry raised on its own), as ``amounts`` lists; their sentences follow ``changes``
    alternatives: list = field(default_factory=list)


@dataclass
class Explanation:
    problem: str
    scenario: Optional[str]
    has_plan: Optional[bool]
    workloads: list = field(default_factory=list)
    fleet: list = field(default_factory=list)
    note: str = ""
    #: other ways out the elastic solves do not cover (N+1 redundancy dropped)
    other: list = field(default_factory=list)
    #: False when the solver stopped before deciding whether a plan exists
    decided: bool = True

    #: servable workloads listed one by one up to this many (a summary line beyond: 100 at rung L)
    LISTED = 5

    def to_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        head = f"{self.problem}" + (f" [scenario {self.scenario}]" if self.scenario else "")
        lines = []
        if self.has_plan:
            lines.append(f"{head}: a plan exists; nothing to explain.")
        elif not self.decided:
            lines.append(f"No plan was found for {head}, and none was ruled out:")
        else:
            lines.append(f"Why no plan exists for {head}:")
        bad = [d for d in self.workloads if not d.servable]
        plain = [d for d in self.workloads if d.servable and d.best_serving_quality is None]
        if len(plain) > self.LISTED:
            d = plain[0]
            lines.append(f"  {len(plain)} workloads have deployments that can serve them (e.g. {d.workload}: "
                         f"{d.feasible} of {d.combinations})")
        for d in self.workloads:
            if d.servable:
                if len(plain) > self.LISTED and d.best_serving_quality is None:
                    continue
                lines.append(f"  {d.workload}: {d.feasible} of {d.combinations} deployments can serve it")
                if d.best_serving_quality is not None:
                    b = d.best_serving_quality
                    lines.append(f"    but none reaches its mean quality target {d.quality_target:g}: the best "
                                 f"of them is {_score(b.quality)} ({b.name})")
                    for r in d.relaxations:
                        lines.append(f"    relax: {r}")
                continue
            lines.append(f"  {d.workload}: NO deployment can serve it ({d.combinations} allowed by its filters)")
            for note in d.filters:
                lines.append(f"    filter: {note}")
            if d.reasons:
                why = "; ".join(f"{n} {r}" for r, n in sorted(d.reasons.items(), key=lambda t: (-t[1], t[0])))
                lines.append(f"    why: {why}")
            if d.besides_quality:
                why = "; ".join(f"{n} {r}" for r, n in sorted(d.besides_quality.items(), key=lambda t: (-t[1], t[0])))
                lines.append(f"    besides quality: {why}")
            if QUALITY_BELOW in d.reasons and d.best_quality is not None:
                lines.append(f"    best quality: {_score(d.best_quality.quality)} ({d.best_quality.quantization} "
                             f"{d.best_quality.model}); target {d.quality_target:g}")
            # (QA s22: 'best TPOT 5.46 ms' read as the best of all, while one below the quality target met 5 ms)
            among = ("" if d.latency_among_quality is None else
                     f" among deployments reaching quality {_score(d.latency_among_quality)}"
                     + ("" if d.quality_target is None or d.latency_among_quality >= d.quality_target - 1e-9
                        else " (the best any allowed one reaches)"))
            if d.best_ttft is not None:
                best, target = _ms_pair(d.best_ttft.ttft_ms, d.ttft_target_ms)
                lines.append(f"    best TTFT{among}: {best} on {d.best_ttft.name}; target {target}")
            if d.best_tpot is not None:
                best, target = _ms_pair(d.best_tpot.tpot_ms, d.tpot_target_ms)
                lines.append(f"    best TPOT{among}: {best} on {d.best_tpot.name}; target {target}")
            if d.nearest is not None:
                lines.append(f"    nearest miss: {d.nearest.name} (TTFT {_ms_up(d.nearest.ttft_ms)}, "
                             f"TPOT {_ms_up(d.nearest.tpot_ms)} at the lightest load)")
            if d.perf_command:
                lines.append(f"    its figures: {d.perf_command}")
            for r in d.relaxations:
                lines.append(f"    relax: {r}")
            if d.capacity_as_targets_rise:
                lines.append(f"    capacity: {d.capacity_as_targets_rise}")
        if any(f.restores or f.undecided for f in self.fleet):
            # the elastic solves leave out the workloads nothing serves (their demand rows are freed):
            # the figures are not enough once those are served too (QA: 8.74 kW asked, 9.75 needed)
            left = ", ".join(d.workload for d in bad)
            it, be = ("it", "is") if len(bad) == 1 else ("them", "are")
            lines.append("  fleet constraints" + (
                f", for the workloads that can be served now (each change alone is enough for them; {left} "
                f"{be} left out: serving {it} too may need more, depending on the targets chosen for {it}; "
                f"explain again once {it} {be} servable):" if bad else " (each change alone is enough):"))
        listed = 0
        for f in self.fleet:
            if f.restores:
                for c in f.changes:
                    # each change after the first is an alternative to it, said as one: "or ..." (QA s27:
                    # a quality change listed after two availability ones read as a third step)
                    if not listed:
                        c = c[3:] if c.startswith("or ") else c
                    elif not c.startswith("or "):
                        c = "or " + c
                    lines.append(f"    - {c}")
                    listed += 1
                if not f.proven_smallest:
                    lines.append("      (enough, but not proven the smallest: " + (
                        f.why_not_smallest or "the solver stopped at its time limit; a longer --time-limit "
                                              "or another --backend may find less") + ")")
            elif f.undecided:
                lines.append(f"    - relaxing {f.what} alone: undecided ({f.undecided}); run `fleetopt "
                             "explain` with a longer --time-limit")
        useless = [f.what for f in self.fleet if not f.restores and not f.undecided and not f.no_way_out]
        if useless:
            lines.append(f"  relaxing {' or '.join(useless)} alone does not help")
        for f in self.fleet:
            if f.no_way_out:
                lines.append(f"  {f.no_way_out}")
        for o in self.other:
            lines.append(f"  {o}")
        if self.note:
            lines.append(f"  {self.note}")
        return "\n".join(lines) + "\n"


def _ms(x: Optional[float]) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x / 1000:.3g} s" if x >= 1000 else f"{x:.3g} ms"


def _ms_up(x: Optional[float]) -> str:
    """:func:`_ms` of ``x`` rounded up to the three digits it prints: a latency offered as a target must
    not read below what is needed (QA s27: '19.8 ms' for 19.80048, where a target of 19.8 has no plan)."""
    return _ms(x if x is None or not math.isfinite(x) else _round_up(x))


def _ms_pair(x: Optional[float], target: Optional[float]) -> tuple[str, str]:
    """A latency and its target as :func:`_ms` writes them, with the digits that tell them apart where
    they would read the wrong way round (QA s25: 'best TPOT: 36 ms; target 36 ms' for 35.95683940817
    against 35.95683940765)."""
    if x is None or target is None or not (math.isfinite(x) and math.isfinite(target)) or \
            (x >= 1000) != (target >= 1000):
        return _ms(x), _ms(target)
    scale, unit = (1000.0, "s") if x >= 1000 else (1.0, "ms")
    meets = latency_meets(x, target)
    # a latency that misses its target is offered as the target to raise it to: rounded up, as the relax
    # line rounds it (QA s27: 'best TTFT 19.8 ms' for 19.80048, where 19.8 ms is infeasible and relax said 19.9)
    best, limit = against_target_texts(x / scale if meets else _round_up(x) / scale, target / scale, meets,
                                       fmt=".3g")
    return f"{best} {unit}", f"{limit} {unit}"


def _round_up(x: float, sig: int = 3, down: bool = False) -> float:
    """Round up to ``sig`` significant digits (a relaxation must not fall short); ``down``: round
    down instead (a reduced demand must not exceed what can be served).  In decimal, so that a huge
    finite figure (a TTFT target of 1.8e308 ms, QA s27: OverflowError, exit 1) or a tiny one (10**e
    of 0) rounds too; one that rounds up past the largest float is kept as it is."""
    if x <= 0 or not math.isfinite(x):
        return x
    e = math.floor(math.log10(x)) - sig + 1
    mantissa = Decimal(x).scaleb(-e)
    whole = math.floor(mantissa + _SLACK) if down else math.ceil(mantissa - _SLACK)
    out = float(Decimal(whole).scaleb(e))
    return out if math.isfinite(out) else x


#: what :func:`_round_up` lets a figure pass a rounding step by (float noise: 1.2300000000001 is 1.23)
_SLACK = Decimal("1e-9")


def _fmt(x: float) -> str:
    return _plain(_round_up(x))


def _plain(x: float, sig: int = 6) -> str:
    """A number as a YAML value can take it: up to ``sig`` significant digits, never '5.23e+07' (YAML
    1.1 reads that as text).  From 1e16 up, where every digit would be written out, '1.8e+308': the
    dot makes it a YAML float."""
    text = f"{x:.{sig}g}"
    if "e+" not in text:
        return text
    if abs(x) < 1e16:
        return f"{x:.0f}"
    mantissa, exponent = text.split("e")
    return f"{mantissa if '.' in mantissa else mantissa + '.0'}e{exponent}"


def _raised(rhs: float, amt: float) -> tuple[str, str]:
    """(the increase rounded up, the limit it gives): one sum, so the two figures agree.  Four
    significant digits: three put a budget 9 USD/month above the smallest that works (QA: 2,919 ->
    4,389 where 4,380 is enough)."""
    more, _, new = _from_to(rhs, amt)
    return more, new


def _from_to(rhs: float, amt: float) -> tuple[str, str, str]:
    """(the increase rounded up, the limit as it is, the limit it gives), as :func:`_raised`, the two limits
    with the digits that tell them apart (QA s25: 'from 1175.01 to 1175.01' for 1,175.007 -> 1,175.008)."""
    up = _round_up(amt, sig=4)
    sig = next((n for n in range(6, 13) if _plain(rhs + up, n) != _plain(rhs, n)), 12)
    return _plain(up), _plain(rhs, sig), _plain(rhs + up, sig)


def perf_command(w, dep: Deployment, catalog) -> str:
    """The `fleetopt perf` command that prints the model's figures for ``dep`` serving workload ``w``
    (a problem Workload): every token statistic, the SLOs and their percentile as flags, and the
    catalog overlays, so that it reproduces what the solver saw rather than perf's defaults."""
    def num(x: float) -> str:
        return f"{x:.15g}"

    parts = ["fleetopt perf", f"--accelerator {dep.accelerator}", f"--model {dep.model}",
             f"--quantization {dep.quantization}", f"--tp {dep.tensor_parallel}"]
    for side, t in (("input", w.input_tokens), ("output", w.output_tokens)):
        parts.append(f"--{side}-tokens {num(t.mean)}")
        if t.p90 is not None:
            parts.append(f"--{side}-p90 {num(t.p90)}")
        if t.max is not None:
            parts.append(f"--{side}-max {num(t.max)}")
        parts.append(f"--{side}-distribution {t.distribution}")
        if t.distribution == "lognormal":
            parts.append(f"--{side}-cv {num(t.cv)}")
    parts += [f"--ttft-ms {num(w.slo.ttft_ms)}", f"--tpot-ms {num(w.slo.tpot_ms)}",
              f"--percentile {num(w.slo.percentile)}"]
    parts += [f"--catalog {shlex.quote(layer)}" for layer in catalog.layers if layer != SHIPPED_LAYER]
    return " ".join(parts)


def nearest_perf_commands(problem, catalog, k: Optional[Coefficients] = None, perf=None) -> dict:
    """Workload id -> :func:`perf_command` for its nearest miss, for each workload no deployment can
    serve (those with a deployment that fits memory and quality: the others have no nearest)."""
    return {d.workload: d.perf_command for d in diagnose_workloads(problem, catalog, k, perf=perf)
            if not d.servable and d.perf_command}


# ------------------------------------------------------------------------ per workload

def lightest_load_latency_ms(catalog, candidates, workloads) -> tuple[np.ndarray, np.ndarray]:
    """(TTFT, TPOT) in ms of every (candidate, workload) at the lightest load (batch -> 0).

    These are the figures the performance model compares with the targets
    to decide "TTFT/TPOT unreachable", so a target at or above them makes
    the pair feasible (given memory fits).
    """
    from solver.perf.model import lightest_load_ms  # the model's own feasibility test

    return lightest_load_ms(catalog, candidates, workloads)


def _region_opening(problem, catalog, region: str) -> str:
    """The fewest fleet filter changes that give ``region``, which fleet.regions leaves out, an offer
    that can host a replica, with what the catalog offers there (QA s22: 'add iowa to fleet.regions'
    where the catalog offers L4s in Iowa by purchase only and the fleet rents on demand)."""
    from solver.problem.checks import _hosts, _offers

    f = problem.fleet

    def hosting(**fleet) -> list:
        """The offers in ``region`` that can host a replica, some fleet filters replaced."""
        return [o for o in _offers(problem, catalog, **fleet)
                if o.region == region and _hosts(o, catalog, f.tensor_parallel)]

    regions = [*f.regions, region]
    add = f"add {region} to fleet.regions"
    if hosting(regions=regions):
        return add
    # the modes and providers each of the catalog's offers there (of the allowed accelerators) needs;
    # without the provider first: the providers filter leaves purchases and fleet.offers in
    there = hosting(regions=[region], providers=None, acquisition=list(ACQUISITIONS))
    needs = set()
    for o in there:
        modes = (o.acquisition,) if o.acquisition not in f.acquisition else ()
        needs |= {(modes, ()), (modes, (o.provider,) if f.providers and o.provider not in f.providers else ())}
    works = [n for n in sorted(needs, key=lambda n: (len(n[0]) + len(n[1]), n))
             if hosting(regions=regions, acquisition=[*f.acquisition, *n[0]],
                        providers=[*f.providers, *n[1]] if f.providers else None)]
    fewest = [n for n in works if len(n[0]) + len(n[1]) == len(works[0][0]) + len(works[0][1])][:3]
    if fewest:
        offered = there
        opts = [" and ".join([*(f"{m} to fleet.acquisition" for m in modes),
                              *(f"{pv} to fleet.providers" for pv in provs)]) for modes, provs in fewest]
        changes = f"{add} and " + (opts[0] if len(opts) == 1 else f"either {' or '.join(opts)}")
    else:
        offered = hosting(regions=[region], accelerators=None, providers=None, acquisition=list(ACQUISITIONS))
        if not offered:
            return (f"the catalog has no offer in {region} that can host a replica: adding it to fleet.regions "
                    "needs a price for it under fleet.offers too")
        changes = (f"{add} and allow one of the catalog's offers there with fleet.accelerators, fleet.acquisition "
                   "and fleet.providers")
    # what is offered there, by mode: the accelerators, and the providers that rent them; modes offering
    # the same written once
    by_mode: dict[str, dict[str, set]] = {}
    for o in offered:
        by_mode.setdefault(o.acquisition, {}).setdefault(o.accelerator, set()).update(
            {o.provider} if o.acquisition != "purchase" and o.provider else set())
    same: dict[str, list[str]] = {}
    for mode in (m for m in ACQUISITIONS if m in by_mode):
        accs, provs = sorted(by_mode[mode]), sorted(set().union(*by_mode[mode].values()))
        same.setdefault(f"for {', '.join(accs[:6])}{', ...' if len(accs) > 6 else ''}"
                        + (f" from {', '.join(provs)}" if provs else ""), []).append(mode)
    said = ["/".join(ms) + " " + what for what, ms in same.items()]
    return f"{changes} ({region} offers {'; '.join(said)})"


def _holds_replica(o, tp: int) -> bool:
    """Whether offer ``o``'s unit (or its owned devices) can hold a replica of ``tp`` devices."""
    return (o.max_units or 0) >= tp if o.existing else o.devices_per_unit % tp == 0


def _replica_devices(o, tp: int) -> int:
    """The devices offer ``o`` must procure to hold one replica of ``tp`` devices: whole units."""
    return math.ceil(tp / o.devices_per_unit) * o.devices_per_unit


def _obtainable(f, catalog, offers) -> tuple[dict, dict]:
    """({(accelerator, tp): regions where some offer can hold one replica within every availability
    entry and power cap that counts it}, {(accelerator, tp): the limit that rules out the others}).

    A limit given per period is taken at its largest figure, as the coefficients take it: a deployment
    that fits in some period is not ruled out here.  This is what one replica needs at least; the
    demand may need more (the fleet-wide relaxations say how much)."""
    ok: dict[tuple, set] = {}
    blocked: dict[tuple, str] = {}
    for o in offers:
        acc = catalog.accelerators[o.accelerator]
        for t in f.tensor_parallel:
            if t > acc.devices_per_node or not _holds_replica(o, t):
                continue
            dev = _replica_devices(o, t)
            why = None
            if not o.existing:
                for j, av in enumerate(f.availability):
                    cap = max(av.max_devices_by_period or [av.max_devices or 0])
                    if (av.accelerator == o.accelerator and (av.region is None or av.region == o.region)
                            and (not av.acquisition or o.acquisition in av.acquisition) and dev > cap):
                        why = (f"fleet.availability[{j}]", f"allows {cap:g} {o.accelerator} "
                               f"device{'' if cap == 1 else 's'}{f' in {av.region}' if av.region else ''}, one "
                               f"x{t} replica needs {dev}")
                        break
            if why is None:
                mode = "purchase" if o.existing else o.acquisition
                kw = o.pue * dev * o.tdp_w / 1000.0
                for j, pc in enumerate(f.power_caps):
                    cap = max(pc.max_kw_by_period or [pc.max_kw or 0.0])
                    if pc.region == o.region and mode in pc.applies_to and kw > cap * (1 + 1e-9):
                        why = (f"fleet.power_caps[{j}]", f"allows {_plain(cap)} kW in {o.region}, one "
                               f"{o.accelerator} x{t} replica needs {_plain(_round_up(kw))} kW")
                        break
            if why is None:
                ok.setdefault((o.accelerator, t), set()).add(o.region)
            else:
                blocked.setdefault((o.accelerator, t), why)
    return ok, blocked


def diagnose_workloads(problem, catalog, k: Optional[Coefficients] = None, perf=None) -> list[WorkloadDiagnosis]:
    """Classify every deployment each workload's filters allow; nearest misses of the unservable."""
    if perf is None:
        import solver.perf as perf  # noqa: PLW0621
    from solver.perf.arch import R_CONTEXT_TOO_LONG, R_MEASURED_ZERO, R_OK, R_TPOT_TOO_TIGHT, R_TTFT_TOO_TIGHT

    from solver.problem.checks import _offers, _where_offered, no_offer_text

    f = problem.fleet
    offers = build_offers(problem, catalog)
    wls = problem.workloads
    served = set(k.pair_w.tolist()) if k is not None else None
    # (accelerator, tp) pairs an offer can host, per region
    host: dict[tuple, set] = {}
    for o in offers:
        acc = catalog.accelerators[o.accelerator]
        for t in f.tensor_parallel:
            if t > acc.devices_per_node:
                continue
            if _holds_replica(o, t):
                host.setdefault((o.accelerator, t), set()).add(o.region)
    accs_tp = sorted(host)
    # the regions where the fleet's limits let an offer hold one replica, and what blocks the others
    # (QA s27: a b200 deployment that availability allows no device of was the nearest miss)
    obtainable, blocked = _obtainable(f, catalog, offers)
    # (whether some offer could host a degree above the largest allowed one it hosts, the most
    # devices any allowed offer lets a replica span): explain suggests more TP only where it helps
    from solver.problem.checks import max_replica_devices
    spans = [(max_replica_devices(o, catalog), max((t for (a, t), rs in host.items()
                                                if a == o.accelerator and o.region in rs), default=0))
             for o in offers]
    more_tp = (any(cap > used for cap, used in spans), max((cap for cap, _ in spans), default=0))
    models = sorted({m for w in wls for m in (w.models or catalog.models)})
    quants = sorted({q for w in wls for q in (w.quantizations or catalog.quantization)})
    keys = [(a, m, q, t) for (a, t) in accs_tp for m in models for q in quants]
    pc = [perf.PerfCandidate(a, m, q, t) for (a, m, q, t) in keys]
    pw = [perf.PerfWorkload.from_workload(w) for w in wls]
    if pc:
        cap = perf.evaluate(catalog, pc, pw)
        if problem.measurements:
            cap = perf.apply_measurements(cap, pc, pw, problem.measurements)
        reason = np.asarray(cap.reason)
        max_rps = np.asarray(cap.max_rps)
        ttft_lo, tpot_lo = lightest_load_latency_ms(catalog, pc, pw)
    else:
        reason = max_rps = ttft_lo = tpot_lo = np.zeros((0, len(wls)))
    qual = {(m, q): quality_of(catalog.models[m], catalog.quantization[q], catalog.quantization)
            for m in models for q in quants}
    per = problem.objective.periods
    least_rps = least_capacity_rps(wls, per.count if per is not None else 0)

    def serving(wi: int, ks: list) -> tuple[list, np.ndarray]:
        """(indices of the deployments ``ks`` ((accelerator, model, format, TP) each) that serve
        workload ``wi`` within its SLOs, measurements applied; each one's capacity, req/s)."""
        cands = [perf.PerfCandidate(a, m, q, t) for (a, m, q, t) in ks]
        got = perf.evaluate(catalog, cands, [pw[wi]])
        if problem.measurements:
            got = perf.apply_measurements(got, cands, [pw[wi]], problem.measurements)
        rps = np.asarray(got.max_rps)[:, 0]
        return list(np.flatnonzero((np.asarray(got.reason)[:, 0] == R_OK) & (rps >= least_rps[wi]))), rps

    def serving_models(wi: int, w, w_models, w_quants, target: float) -> set:
        """The models of ``w_models`` that some allowed offer serves ``w`` with in a format of
        ``w_quants`` reaching ``target``, within its SLOs (QA s22: qwen2.5-72b, which meets no SLO
        there, was proposed as the stronger model)."""
        regions = set(w.regions) if w.regions else None
        ks = [(a, m, q, t) for (a, t) in accs_tp for m in sorted(w_models) for q in sorted(w_quants)
              if (regions is None or host[(a, t)] & regions)
              and quant_runs_on(catalog.quantization[q], catalog.accelerators[a])
              and quant_for_model(catalog.quantization[q], m)
              and quality_of(catalog.models[m], catalog.quantization[q], catalog.quantization) >= target - 1e-9]
        if not ks:
            return set()
        ok, _ = serving(wi, ks)
        return {ks[i][1] for i in ok}

    def stronger(wi: int, w, target: Optional[float]) -> str:
        """'a stronger model (...)' naming models that serve ``w`` within its SLOs at ``target``, and
        'or a higher-precision format' where a format its quantizations filter leaves out does."""
        allowed = set(w.models or catalog.models)
        if target is None:
            return "a stronger model"
        reach = catalog.models_reaching(target, benchmark=catalog.models[min(allowed)].quality_benchmark
                                        if w.models else "MMLU", exclude=w.models or (), limit=len(catalog.models))
        serve = serving_models(wi, w, set(reach), set(w.quantizations or catalog.quantization), target)
        text = _stronger(w, catalog, target, [m for m in reach if m in serve][:3])
        other = set(catalog.quantization) - set(w.quantizations or catalog.quantization)
        if other and serving_models(wi, w, allowed, other, target):
            text += f" or a higher-precision format (workloads.{w.id}.quantizations)"
        return text

    def wider_tp(wi: int, w, target: Optional[float]) -> str:
        """'or allow tensor parallelism N' where a degree fleet.tensor_parallel leaves out (one an allowed
        offer can host) gives a deployment of the workload's models and formats, reaching ``target``, that
        serves it within its SLOs as they are (QA s27: eight-quarter-growth with tensor_parallel [1] was
        told only to raise its TTFT target from 400 to 538 ms, a plan of $537 M, where TP 2 is feasible
        at $1.56 M).  Empty when none does."""
        regions = set(w.regions) if w.regions else None
        extra: dict[tuple, set] = {}          # (accelerator, degree) -> regions, for degrees left out
        for o in offers:
            if regions is not None and o.region not in regions:
                continue
            span = max_replica_devices(o, catalog)
            t = 1
            while t <= span:
                if t not in f.tensor_parallel and _holds_replica(o, t):
                    extra.setdefault((o.accelerator, t), set()).add(o.region)
                t *= 2
        ks = [(a, m, q, t) for (a, t) in sorted(extra) for m in sorted(set(w.models or catalog.models))
              for q in sorted(set(w.quantizations or catalog.quantization))
              if quant_runs_on(catalog.quantization[q], catalog.accelerators[a]) and quant_for_model(
                  catalog.quantization[q], m)
              and (target is None or quality_of(catalog.models[m], catalog.quantization[q],
                                                catalog.quantization) >= target - 1e-9)]
        if not ks:
            return ""
        ok, rps = serving(wi, ks)
        if not ok:
            return ""
        degrees = sorted({ks[i][3] for i in ok})
        best = max(ok, key=lambda i: (rps[i] / ks[i][3], ks[i]))      # most req/s per device
        a, m, q, t = ks[best]
        return (f"workloads.{w.id}: or allow tensor parallelism {' or '.join(map(str, degrees))} "
                f"(fleet.tensor_parallel, now {sorted(f.tensor_parallel)}): {len(ok)} deployment"
                f"{'' if len(ok) == 1 else 's'} then meet the SLOs as they are (e.g. "
                f"{Deployment(a, t, q, m).name}, {rps[best]:.3g} req/s a replica)")

    out = []
    for wi, w in enumerate(wls):
        d = WorkloadDiagnosis(w.id, servable=True, combinations=0, feasible=0,
                              ttft_target_ms=w.slo.ttft_ms, tpot_target_ms=w.slo.tpot_ms,
                              quality_target=w.quality.min_score if w.quality else None)
        regions = set(w.regions) if w.regions else None
        w_models = set(w.models or catalog.models)
        w_quants = set(w.quantizations or catalog.quantization)
        per_request = w.quality is not None and w.quality.mode == "per_request"
        if not offers:
            d.relaxations.append(
                f"the fleet has no offer at all: {no_offer_text(f)}; widen fleet.accelerators, "
                "fleet.regions or fleet.acquisition, or add a price under fleet.offers "
                "(`fleetopt catalog show ACCELERATOR` lists where each is offered)")
        elif regions is not None and not any(regions & rs for rs in host.values()):
            where = sorted({o.region for o in offers})
            # (QA s18: a Python list, and not the plain cause when fleet.regions leaves them out)
            left_out = sorted(r for r in regions if f.regions and r not in f.regions)
            d.filters.append(f"no allowed offer in its regions ({', '.join(sorted(regions))})"
                             + (f": fleet.regions leaves out {', '.join(left_out)}" if left_out else "")
                             + " (offers exist in: "
                             + (', '.join(where) if where else 'none - check fleet.accelerators/regions/acquisition')
                             + ")")
            # which filter, and what the catalog offers there, in validate's words (QA s22: 'its
            # models/quantizations/regions filters' for a workload with a regions filter only)
            there = [r for r in sorted(regions) if r not in left_out]
            offered = _offers(problem, catalog, regions=there, accelerators=None, providers=None,
                              acquisition=list(ACQUISITIONS)) if there else []
            d.relaxations.append(
                f"workloads.{w.id}: its regions filter ({', '.join(sorted(regions))}) leaves no deployment"
                + "".join(f"; {_region_opening(problem, catalog, r)}" for r in left_out)
                + (f"; the catalog offers there ({_where_offered(offered, 'region', '')}): allow one of them "
                   "(fleet.accelerators, fleet.acquisition, fleet.providers)" if offered else "")
                + (f", or add a region with an allowed offer ({', '.join(where)}) to workloads.{w.id}.regions"
                   if where else ""))
        best_q = None
        best_serving = None     # (quality, key index) of the best deployment that can serve it
        fit = []      # (ratio, ttft, tpot, key index, quality, serves): all that fit memory and format
        measured_zero = set()       # deployments a measurement of 0 req/s rules out
        unobtainable = []     # as ``fit``: those the fleet's availability or power caps leave no replica of
        for ci, (a, m, q, t) in enumerate(keys):
            if m not in w_models or q not in w_quants:
                continue
            if regions is not None and not (host[(a, t)] & regions):
                continue
            d.combinations += 1
            qv = qual[(m, q)]
            r = int(reason[ci, wi])
            # a measurement of a pair the catalog's scheme does not run (or is not offered for) does not
            # make it a candidate: the solve drops it as this says (QA s22: an import's bf16 rows on a T4
            # left 'cannot serve it: ' with no reason)
            if not quant_runs_on(catalog.quantization[q], catalog.accelerators[a]):
                r = R_QUANT_UNSUPPORTED
            elif not quant_for_model(catalog.quantization[q], m):
                r = R_QUANT_NOT_FOR_MODEL
            fits = r in (R_OK, R_TPOT_TOO_TIGHT, R_TTFT_TOO_TIGHT)
            if r == R_MEASURED_ZERO:
                measured_zero.add((a, t, q, m))
            gets = obtainable.get((a, t), set())
            obtain = bool(gets and (regions is None or gets & regions))
            # the best quality among deployments the fleet's limits let a replica of (QA s27: 'lower
            # quality.min_score to X' named a quality only a deployment they rule out reaches)
            if fits and obtain and (best_q is None or (qv, ) > (best_q[0], )):
                best_q = (qv, ci)
            serves = r == R_OK and max_rps[ci, wi] >= least_rps[wi]
            if fits:
                tt, tp = float(ttft_lo[ci, wi]), float(tpot_lo[ci, wi])
                if math.isfinite(tt) and math.isfinite(tp):
                    row = (max(tt / w.slo.ttft_ms, tp / w.slo.tpot_ms), tt, tp, ci, qv, serves)
                    (fit if obtain else unobtainable).append(row)
            # (family, scheme): merged into one reason per family after the loop (_merge_unsupported)
            text = None if serves else (
                (catalog.accelerators[a].family, q) if r == R_QUANT_UNSUPPORTED
                else perf.REASONS.get(r, "cannot serve") if r != R_OK
                else "no capacity within the SLO" if max_rps[ci, wi] <= 0
                else TOO_LITTLE_CAPACITY)
            if per_request and qv < w.quality.min_score - 1e-9:
                d.reasons[QUALITY_BELOW] = d.reasons.get(QUALITY_BELOW, 0) + 1
                if text is not None:     # what else rules it out (QA: the TPOT it also misses went unsaid)
                    d.besides_quality[text] = d.besides_quality.get(text, 0) + 1
                continue
            if text is not None:
                d.reasons[text] = d.reasons.get(text, 0) + 1
                continue
            d.feasible += 1
            if best_serving is None or qv > best_serving[0]:
                best_serving = (qv, ci)
        d.reasons, d.besides_quality = _merge_unsupported(d.reasons), _merge_unsupported(d.besides_quality)
        d.servable = (wi in served) if served is not None else d.feasible > 0
        if best_q is not None:
            a, m, q, t = keys[best_q[1]]
            d.best_quality = Deployment(a, t, q, m, quality=best_q[0])
        if not d.servable:
            longest_window = max((catalog.models[m].max_context_tokens for m in w_models if m in catalog.models),
                                 default=0)
            # QA s18: advised whenever some model's window was short (llama-2's 4,096 tokens), with a
            # 'lower slo.percentile to 98.9' that changed nothing: only when no allowed window fits
            if (REASONS[R_CONTEXT_TOO_LONG] in d.reasons
                    and sum(perf.PerfWorkload.from_workload(w).percentile_request()) > longest_window):
                d.relaxations.append(_context_advice(w, d.reasons[REASONS[R_CONTEXT_TOO_LONG]], perf,
                                                     longest_window))
            _nearest(d, w, keys, fit, best_q, more_tp, stronger(wi, w, d.quality_target),
                     _measured_zero(problem.measurements, w, measured_zero, d.combinations),
                     lambda below: _left_out(d, w, keys, unobtainable, blocked, below))
            if more_tp[0] and (d.nearest is not None or any(REASONS[r] in d.reasons for r in MEMORY_REASONS)):
                tp_text = wider_tp(wi, w, d.quality_target)
                if tp_text:
                    d.relaxations.append(tp_text)
            if d.nearest is not None:
                d.perf_command = perf_command(w, d.nearest, catalog)
                if not problem.measurements:
                    d.capacity_as_targets_rise = _capacity_ladder(perf, catalog, w, d.nearest, f.max_utilization)
        elif (d.quality_target is not None and not per_request and best_serving is not None
              and best_serving[0] < d.quality_target - 1e-9):
            a, m, q, t = keys[best_serving[1]]
            d.best_serving_quality = Deployment(a, t, q, m, quality=best_serving[0])
            d.relaxations.append(_lower_quality(w.id, d.quality_target, best_serving[0])
                                 + f", or allow {stronger(wi, w, d.quality_target)}")
        d.relaxation_figures = [_relaxation_figures(w.id, r) for r in d.relaxations]
        out.append(d)
    return out


#: a per-workload field a relaxation sentence sets: 'slo.ttft_ms from 10 to at least 19.7'
_WORKLOAD_FIGURE = re.compile(r"(?P<field>slo\.\w+|quality\.min_score) from (?P<old>[\d.,]+) to (?:(?P<bound>at "
                              r"(?:least|most)) )?(?P<new>\d[\d,]*(?:\.\d+)?)")


def _relaxation_figures(wid: str, sentence: str) -> list:
    """The figures a per-workload relaxation sentence sets, as :attr:`WorkloadDiagnosis.relaxation_figures`."""
    return [{"field": f"workloads.{wid}.{m['field']}", "from": float(m["old"].replace(",", "")),
             "to": float(m["new"].replace(",", "")), "bound": m["bound"] or "exactly"}
            for m in _WORKLOAD_FIGURE.finditer(sentence)]


def _left_out(d: WorkloadDiagnosis, w, keys, unobtainable: list, blocked: dict, below: float = math.inf) -> str:
    """What the fleet's limits leave out of the nearest miss: the deployments that fit but of which
    availability or a power cap allows not one replica, by the limit, where one of them reaches the
    quality target (QA s27: 'raise slo.ttft_ms to at least 13.3' named a b200 deployment that
    availability allows no device of; 13.3-19.5 ms stayed infeasible).  ``below``: the relaxation ratio
    (as ``fit``'s) of the nearest miss the limits allow; only those nearer count.  Empty when none is."""
    target = d.quality_target
    near = sorted((c for c in unobtainable if not c[5] and (target is None or c[4] >= target - 1e-9)
                   and c[0] < below - 1e-12), key=lambda c: (c[0], keys[c[3]]))
    if not near:
        return ""
    by_limit: dict[str, str] = {}         # each limit said once, as it rules out the nearest it leaves out
    for c in near:
        limit, text = blocked.get((keys[c[3]][0], keys[c[3]][3]), ("", ""))
        if limit:
            by_limit.setdefault(limit, f"{limit} {text}")
    why = list(by_limit.values())
    a, m, q, t = keys[near[0][3]]
    return (f"workloads.{w.id}: or raise the fleet limit that leaves out {len(near)} deployment"
            f"{'' if len(near) == 1 else 's'} nearer the targets (the nearest: {Deployment(a, t, q, m).name}, TTFT "
            f"{_ms_up(near[0][1])}, TPOT {_ms_up(near[0][2])} at the lightest load): " + "; ".join(why[:3])
            + (f"; and {len(why) - 3} more" if len(why) > 3 else "")
            + " (with it raised, a smaller latency change may do: explain again then)")


def _measured_zero(measurements, w, deployments: set, allowed: int) -> str:
    """What to change where measurements of 0 req/s rule out ``deployments`` ((accelerator, TP,
    quantization, model)) of ``w``: each measurement named (QA s22: 'no allowed deployment can serve
    it: 1 measured: cannot serve' restated the cause); empty when none does."""
    named = [f"measurements[{j}] ({m.accelerator} x{m.tensor_parallel} {m.quantization} {m.model})"
             for j, m in enumerate(measurements) if m.max_requests_per_s <= 0 and m.workload in (None, w.id)
             and (m.accelerator, m.tensor_parallel, m.quantization, m.model) in deployments]
    if not named:
        return ""
    n = len(deployments)
    which = (("its only allowed deployment is" if n == 1 else f"its {n} allowed deployments are all") if n == allowed
             else f"{n} of its {allowed} allowed deployments are")
    return (f"workloads.{w.id}: {which}"
            + f" measured at 0 req/s: {'; '.join(named)}; if the replica can serve it, remove the measurement or "
            f"correct its max_requests_per_s; otherwise allow other deployments (workloads.{w.id}.models or "
            ".quantizations, fleet.accelerators, fleet.tensor_parallel)")


def _merge_unsupported(counts: dict) -> dict:
    """``counts`` with its (family, scheme) keys (deployments a scheme's supported_families leaves out)
    merged into one :data:`QUANT_UNSUPPORTED` reason per family, naming its schemes."""
    out, by_family = {}, {}
    for key, n in counts.items():
        if isinstance(key, tuple):
            by_family.setdefault(key[0], {})[key[1]] = n
        else:
            out[key] = n
    for family, schemes in by_family.items():
        out[QUANT_UNSUPPORTED.format(family=family, quants=", ".join(sorted(schemes)))] = sum(schemes.values())
    return out


def _context_advice(w, n: int, perf, longest_window: int) -> str:
    """What to change when the request at the SLO percentile is longer than the models' windows (more
    devices or smaller formats cannot help there)."""
    pw = perf.PerfWorkload.from_workload(w)
    i_q, o_q = pw.percentile_request()
    stated = w.input_tokens.max is not None and w.output_tokens.max is not None
    text = (f"workloads.{w.id}: its p{w.slo.percentile:g} request ({i_q:,.0f} input + {o_q:,.0f} output tokens) "
            f"is longer than the context window of {n} allowed deployment(s) (the longest window of its "
            f"models: {longest_window:,} tokens); allow a model with a longer window, "
            + ("shorten the longest requests (input_tokens.max, output_tokens.max)" if stated else
               "state the longest request (input_tokens.max, output_tokens.max) or shorter ones"))
    pct = _fitting_percentile(pw, longest_window)
    if pct is None:
        return text + f", or lower slo.percentile (even its p1 request is longer than {longest_window:,} tokens)"
    # the requests above the percentile still come, and do not fit the window at all: said with the
    # share they are (QA s27: 'lower slo.percentile from 90 to at most 1.4' read as a way out)
    longer = round(100 - pct, 1)
    return text + (f", or lower slo.percentile from {w.slo.percentile:g} to at most {pct:g} (its request there "
                   f"fits; then about {longer:g}% of its requests are longer than {longest_window:,} tokens and "
                   "no allowed model can serve them at all: allowing a model with a longer window is the "
                   "way out where they must be served)")


def _fitting_percentile(pw, window: int) -> Optional[float]:
    """The highest percentile (1 <= p, rounded down to 0.1) whose request fits ``window`` tokens, as the
    performance model tests it (QA: 'lower slo.percentile' gave no figure), or None if not even p1."""
    from dataclasses import replace

    def fits(p: float) -> bool:
        return sum(replace(pw, percentile=p).percentile_request()) <= window

    if not fits(1.0):
        return None
    lo, hi = 1.0, pw.percentile          # fits(lo), not fits(hi)
    while hi - lo > 1e-3:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return max(1.0, math.floor(lo * 10 + 1e-9) / 10)


#: candidate failures that more devices per replica, bigger accelerators or smaller formats can fix
MEMORY_REASONS = (R_WEIGHTS_DONT_FIT, R_NO_KV_ROOM, R_TP_TOO_LARGE, R_TP_HEADS)


#: latency targets, as multiples of the smallest that any deployment meets, at which the nearest
#: miss's capacity is shown: at the threshold itself a replica serves almost nothing
LADDER = (1.0, 1.25, 1.5, 2.0)


def _capacity_ladder(perf, catalog, w, dep: Deployment, max_utilization: float = 1.0) -> str:
    """What a replica of the nearest miss serves as the targets it misses rise above the smallest it
    meets (QA: the smallest TPOT target, applied, gave 15,169 L4s for 7 req/s), and what the plan lets
    it carry at the fleet's utilisation cap, the figure to set against the demand (QA s27: '45.3 req/s
    ... (the workload's demand: 40 req/s)' where a replica carries 36.2 at max_utilization 0.8).
    Rounded down: a capacity must not read above what the replica has."""
    tt = w.slo.ttft_ms if dep.ttft_ms <= w.slo.ttft_ms else None
    tp = w.slo.tpot_ms if dep.tpot_ms <= w.slo.tpot_ms else None
    if tt is not None and tp is not None:
        # both met at the lightest load, with too little capacity there: the target nearer its latency
        # is the one to raise (QA s25: 'serves 1e-06 req/s at  ms', no target named)
        tt, tp = (None, tp) if dep.ttft_ms / w.slo.ttft_ms >= dep.tpot_ms / w.slo.tpot_ms else (tt, None)
    pws = [perf.PerfWorkload.from_tokens(w.id, w.input_tokens, w.output_tokens,
                                         tt or _round_target(dep.ttft_ms * f), tp or _round_target(dep.tpot_ms * f),
                                         w.slo.percentile) for f in LADDER]
    cand = perf.PerfCandidate(dep.accelerator, dep.model, dep.quantization, dep.tensor_parallel)
    rps = np.asarray(perf.evaluate(catalog, [cand], pws).max_rps)[0]
    names = [n for n, x in (("TTFT", tt), ("TPOT", tp)) if x is None]

    def targets(p) -> str:
        return "/".join([_fmt(p.ttft_ms)] * (tt is None) + [_fmt(p.tpot_ms)] * (tp is None)) + " ms"
    def rate(r: float) -> str:
        return f"under {MIN_CAPACITY_RPS:g}" if r < MIN_CAPACITY_RPS else _plain(_round_up(r, down=True))

    steps = ", ".join(f"{rate(r)} req/s at {targets(p)}" for r, p in zip(rps, pws))
    carried = ("" if max_utilization >= 1 else
               f"; at fleet.max_utilization {max_utilization:g} the plan loads it with at most "
               + ", ".join(rate(r * max_utilization) for r in rps) + " req/s respectively")
    return (f"a replica of {dep.name} serves {steps} ({' and '.join(names)} target{carried}; the workload's "
            f"demand: {w.demand.requests_per_s:g} req/s): at the smallest target it serves almost nothing")


def _round_target(x: float) -> float:
    """A latency target as :func:`_fmt` prints it (rounded up), so the figure shown is the one evaluated."""
    return float(_fmt(x))


def _score_down(x: float) -> float:
    """A quality score rounded down to hundredths: the one figure explain prints for a score a
    deployment reaches or a target may be lowered to (QA: 85.82 in one line and 85.828 in another
    for the same change).  Down: a target pasted from it is never above what is reached."""
    return math.floor(x * 100 + 1e-9) / 100


def _score(x: float) -> str:
    """:func:`_score_down` as text ('85.48', '86')."""
    return f"{round(_score_down(x), 2):g}"


def _lower_quality(workload: str, target: float, reached: float) -> str:
    """'workloads.W: lower quality.min_score from T to at most F', F = ``reached`` rounded down to
    hundredths (a target at or below what the best deployment reaches)."""
    return f"workloads.{workload}: lower quality.min_score from {target:g} to at most {_score(reached)}"

def _stronger(w, catalog, target: Optional[float], reach: list) -> str:
    """"a stronger model", naming ``reach``: up to three catalog models the workload does not allow
    that reach ``target`` and serve it within its SLOs, for the quality relaxations."""
    allowed = set(w.models or ())
    if target is None:
        return "a stronger model"
    if not reach:
        return (f"a stronger model (no catalog model{' outside its list' if allowed else ''} scores {target:g} "
                "and serves it within its SLOs on the allowed offers: a catalog overlay can add one)")
    if not allowed:         # every catalog model is allowed already (review: nothing to add)
        return "a stronger model"
    return ("a stronger model (" + ", ".join(f"{m} scores {catalog.models[m].quality.value:g}" for m in reach)
            + f" at its best format: add it to workloads.{w.id}.models)")


def _nearest(d: WorkloadDiagnosis, w, keys, fit, best_q, more_tp: tuple = (True, 0),
             stronger: str = "a stronger model", measured_zero: str = "",
             left_out=lambda below: "") -> None:
    """Fill the nearest misses and the relaxation sentences of an unservable workload.

    ``fit``: (ratio, TTFT, TPOT, key index, quality, serves) of every deployment that fits memory
    and format and that the fleet's availability and power caps allow a replica of; ``left_out(ratio)``
    (:func:`_left_out`) says those the limits leave out that are nearer than ``ratio``.  The nearest
    miss is taken among those that reach the quality target, per request or as a routed mean alike (a mix reaches a mean only with one at or above it; QA: an 8B model
    at 70.8 was named for a mean target of 80).  Where none reaches it, the quality target must
    come down to the best one's, and if that one also misses the SLOs both changes are said
    together (QA: 'lower min_score' alone left TPOT 7 ms that no such deployment meets)."""
    target = d.quality_target
    pool = [c for c in fit if target is None or c[4] >= target - 1e-9]
    together = False
    if not pool and fit:
        top = max(c[4] for c in fit)
        pool = [c for c in fit if c[4] >= top - 1e-9]
        together = not any(c[5] for c in pool)
        if not together:
            pool = []             # the quality change alone is enough: one of them meets the SLOs
    miss = [c for c in pool if not c[5]]
    if miss:
        def dep(c):
            """A row of ``fit`` as a Deployment, with its quality (QA s27: null in the JSON)."""
            a, m, q, t = keys[c[3]]
            return Deployment(a, t, q, m, ttft_ms=c[1], tpot_ms=c[2], quality=c[4])
        # ties broken by the deployment's name so that the text is deterministic
        near = min(miss, key=lambda x: (x[0], keys[x[3]]))
        r, tt, tp = near[:3]
        d.nearest = dep(near)
        if target is not None:
            d.latency_among_quality = max(c[4] for c in pool) if together else target
        d.best_ttft = dep(min(miss, key=lambda x: (x[1], keys[x[3]])))
        d.best_tpot = dep(min(miss, key=lambda x: (x[2], keys[x[3]])))
        parts = []
        if tt > w.slo.ttft_ms:
            parts.append(f"slo.ttft_ms from {w.slo.ttft_ms:g} to at least {_fmt(tt)}")
        if tp > w.slo.tpot_ms:
            parts.append(f"slo.tpot_ms from {w.slo.tpot_ms:g} to at least {_fmt(tp)}")
        if not parts and not together:
            # QA s25: both targets met at the lightest load, where a replica serves under the capacity the
            # plan counts: no relaxation was said at all
            key, was, lat = (("ttft_ms", w.slo.ttft_ms, tt) if tt / w.slo.ttft_ms >= tp / w.slo.tpot_ms else
                             ("tpot_ms", w.slo.tpot_ms, tp))
            d.relaxations.append(f"workloads.{w.id}: raise slo.{key} above {was:g} ({d.nearest.name} meets it only "
                                 f"at the lightest load, {_fmt(lat)} ms, where a replica serves too little to "
                                 "count: " + TOO_LITTLE_CAPACITY.replace(" (counted as none)", "")
                                 + "; the capacity line shows what larger targets give)")
        if parts:
            # at exactly these figures a replica serves nothing (review: "then it can serve it" read as
            # a plan, while 0 req/s at both): they are where serving starts
            slo = ("raise " + " and ".join(parts) + f" ({d.nearest.name}'s latencies at the lightest load: "
                   "above them it starts to serve; leave headroom for load)")
            nearer = [c for c in fit if not c[5] and c[0] < r - 1e-12 and c not in pool]
            if together:
                d.relaxations.append(_lower_quality(w.id, target, miss[0][4]).replace(": lower", ": all of these "
                                     "together: lower", 1) + f" (what {d.nearest.quantization} {d.nearest.model} "
                                     f"reaches) and {slo}")
            else:
                mean = w.quality is not None and w.quality.mode == "mean"
                d.relaxations.append(f"workloads.{w.id}: {slo}" + (
                    f"; deployments below its quality target {target:g} need less, but do not reach it"
                    + (" (a routed mix reaches a mean target only with one that does)" if mean else "")
                    if nearer else ""))
    limited = left_out(r if miss else math.inf)
    if limited:
        d.relaxations.append(limited)
    if target is not None and best_q is not None and best_q[0] < target - 1e-9 and not together:
        d.relaxations.append(_lower_quality(w.id, target, best_q[0])
                             + f" ({d.best_quality.quantization} {d.best_quality.model} reaches "
                             f"{_score(best_q[0])}), or allow {stronger}")
    if together:
        # the other way out: the best quality that the SLOs as they are allow
        ok = [c for c in fit if c[5]]
        if ok:
            c = max(ok, key=lambda x: (x[4], keys[x[3]]))
            a, m, q, t = keys[c[3]]
            d.relaxations.append(_lower_quality(w.id, target, c[4]).replace(": lower", ": or, keeping the SLOs "
                                                                              "as they are, lower", 1)
                                 + f" ({Deployment(a, t, q, m).name} meets them)")
    if not miss and not d.relaxations:
        if d.combinations == 0:
            d.relaxations.append(f"workloads.{w.id}: its models/quantizations/regions filters leave no "
                                 "deployment; widen them or the fleet's accelerators/regions/acquisition")
        else:
            unsupported = {m.groups(): n for m, n in ((_QUANT_UNSUPPORTED_RE.match(r), n) for r, n in d.reasons.items())
                           if m}
            if unsupported:
                # QA: an accelerator family no scheme lists was told to fix its memory
                pairs = sorted(unsupported)
                d.relaxations.append(
                    f"workloads.{w.id}: {sum(unsupported.values())} deployment(s) pair a quantization with an "
                    f"accelerator family it does not run on ({'; '.join(f'{qs} on {fam}' for fam, qs in pairs)}); "
                    "allow another quantization, or list the family under the scheme's supported_families with a "
                    f"catalog overlay (`fleetopt catalog show {pairs[0][1].split(', ')[0]}`)")
            if any(REASONS[r] in d.reasons for r in MEMORY_REASONS):
                d.relaxations.append(f"workloads.{w.id}: no allowed deployment fits the model and one request "
                                     "in memory; allow " + ("larger tensor parallelism, " if more_tp[0] else "")
                                     + "bigger accelerators, smaller formats or shorter requests"
                                     + ("" if more_tp[0] else f" (a replica spans at most {more_tp[1]} device(s) "
                                        "of the allowed offers: their nodes and units are no larger)"))
            if measured_zero:
                d.relaxations.append(measured_zero)
            if not d.relaxations:
                d.relaxations.append(f"workloads.{w.id}: no allowed deployment can serve it: "
                                     + "; ".join(f"{n} {why}" for why, n in sorted(d.reasons.items())))


# ------------------------------------------------------------------------ fleet level

def _describe(s, k: Coefficients, problem) -> str:
    """One slack in the user's terms."""
    lab = s.label
    amt = s.amount
    if s.family == "caps.power":
        region, _, j = lab.rpartition("#")
        # 'virginia#0@5': the cap given per period, its figure of period 5 (solver.mip.periods)
        j, _, t = j.partition("@")
        more, old, new = _from_to(s.rhs, amt)
        if t:
            return (f"fleet.power_caps[{j}].max_kw_by_period[{t}]: needs {more} kW more in {region} in period {t}"
                    f" (from {old} to {new})")
        return (f"needs {more} kW more in {region}{_binds(s, problem)}: fleet.power_caps[{j}].max_kw from "
                f"{old} to {new}")
    if s.family == "caps.availability":
        acc_reg, _, j = lab.rpartition("#")
        j, _, t = j.partition("@")
        acc, _, reg = acc_reg.partition("@")
        where = "any region" if reg == "any" else reg
        n_more = math.ceil(amt - 1e-6)
        if t:
            return (f"fleet.availability[{j}].max_devices_by_period[{t}]: needs {n_more} more {acc} "
                    f"device{'' if n_more == 1 else 's'} in {where} in period {t} (from {s.rhs:g} to "
                    f"{s.rhs + n_more:g})")
        return (f"needs {n_more} more {acc} device{'' if n_more == 1 else 's'} in {where}: "
                f"fleet.availability[{j}].max_devices from {s.rhs:g} to {s.rhs + math.ceil(amt - 1e-6):g}")
    if s.family == "caps.budget":
        more, old, new = _from_to(s.rhs, amt)
        return (f"needs {more} USD/month more budget: fleet.budget.max_usd_per_month from "
                f"{old} to {new}")
    if s.family == "caps.capex":
        more, old, new = _from_to(s.rhs, amt)
        return f"needs {more} USD more capex: fleet.budget.max_capex_usd from {old} to {new}"
    if s.family == "caps.capex_period":
        # label: the period (caps.capex_period[5])
        more, old, new = _from_to(s.rhs, amt)
        return (f"fleet.budget.max_capex_usd_by_period[{lab}]: needs {more} USD more capex in period {lab} "
                f"(from {old} to {new})")
    if s.family == "caps.spot_share":
        # one fleet-wide share, relaxed as one figure (elastic.DEMAND_SCALED); at most 1
        new = min(1.0, k.max_spot_share + _round_up(amt))
        # a spot-only fleet: the other way out is another mode for the rest, as `validate` says (QA s27)
        spot_only = k.n_o > 0 and all(o.acquisition == "spot" and not o.existing for o in k.offers)
        return (f"needs a larger spot share{_binds(s, problem)}: fleet.max_spot_share from {k.max_spot_share:g} "
                f"to {_plain(new)}" + ("; or keep the share and add on_demand, reserved_1y or purchase to "
                                       "fleet.acquisition (or owned devices under fleet.existing) for the rest "
                                       "of the demand" if spot_only else ""))
    if s.family == "quality.mean":
        wi = k.workloads.index(lab)
        pts = amt / (s.demand_rps or float(k.demand_rps[wi]))
        # one figure: the new target rounded down to hundredths as everywhere else, the points the
        # difference to it (QA: 'by 0.266 points (to 85.484)' beside 'to at most 85.48')
        new = _score_down(k.quality_min[wi] - pts)
        by = round(k.quality_min[wi] - new, 9)
        return (f"{lab}: lower quality.min_score by {by:g} point{'' if by == 1 else 's'} (from "
                f"{k.quality_min[wi]:g} to {_score(new)})")
    if s.family == "demand.served":
        # single-period: the row is the workload's demand (multi-period cuts: _period_cuts)
        if amt >= s.rhs * (1 - 1e-6):
            # the whole demand: no plan serves any of it (the other workloads' can be)
            return (f"serve none of {lab} (all {number_text(s.rhs)} req/s): remove it from the problem (a demand "
                    "of 0 is not valid input; a trickle still needs whole replicas)")
        # the demand that can be served, rounded down; the reduction is exactly what it takes off the
        # demand, so that the two figures add up (QA s27: '1,160 req/s less ... from 1500 to 347')
        target = _round_up(s.rhs - amt, down=True)
        return (f"serve {digits_text(s.rhs - target, 6)} req/s less of {lab} (demand.requests_per_s "
                f"from {s.rhs:g} to {_plain(target)})")
    return f"{s.family}[{lab}]: relax by {amt:g} {s.unit}"


def _period_cuts(w, cuts: list, n_periods: int) -> tuple[str, bool]:
    """A multi-period demand cut of workload ``w`` (a problem Workload) in the user's terms, per
    period: each period's peak (requests_per_s x its growth multiplier) lowered so that every slice
    of it is at most what the elastic solve served there, and the growth list that says so, to
    paste (QA: one '26.8982 req/s less where it needs most; 13 periods/slices need less' could not
    be acted on).  ``cuts``: its per-row slacks (one per period and slice).  Returns the text and
    whether the workload is cut in every period it has demand in."""
    from solver.periods import growth_factors
    from solver.problem.schema import MIN_RPS

    rps = w.demand.requests_per_s
    grow = growth_factors(w, n_periods)
    keep: dict[int, float] = {}       # period -> the fraction of its demand every slice keeps
    for c in cuts:
        if c.period_slice is None:
            continue
        t = c.period_slice[0]
        keep[t] = min(keep.get(t, 1.0), max(0.0, (c.rhs - c.amount) / c.rhs) if c.rhs > 0 else 1.0)
    new = [_round_up(g, 6, down=True) for g in grow]
    parts = []
    for t in sorted(keep):
        peak = rps * grow[t]
        # rounded down: a period's new peak must not exceed what was served (its growth too)
        to = _round_up(peak * keep[t], down=True)
        g = _round_up(to / rps, 6, down=True) if to >= MIN_RPS else 0.0
        new[t] = g if rps * g >= MIN_RPS else 0.0
        parts.append(f"period {t} " + (f"at most {number_text(to)}" if new[t] else "none")
                     + f" (from {number_text(peak, '.4g')})")
    every = all(new[t] == 0 for t in range(n_periods) if grow[t] > 0)
    if every:
        return (f"serve none of {w.id} in any period: remove it from the problem (a trickle still needs "
                "whole replicas)"), True
    compound = w.demand.growth is None
    return (f"{w.id} at its peak, in req/s: {', '.join(parts)}: workloads.{w.id}.demand.growth: "
            f"[{', '.join(_plain(g) for g in new)}]"
            + (" (in place of " + ("growth_rate_per_period" if w.demand.growth_rate_per_period is not None
                                   else "the flat demand") + ")" if compound else "")), False


def _demand_change(res: ElasticResult, model: LinearModel, free: list, k: Coefficients, problem,
                   causes: list) -> tuple[str, bool]:
    """The demand relaxation as one change (several cuts are made together), and whether it is one.
    Where it is the whole demand of every workload it is no way out: the sentence says so and names
    what is (QA: 'serve none of' each workload, 'remove it from the problem', read as removing every
    workload)."""
    fam = model.row_family.astype(str)
    freed = set(free)
    rows = [i for i in np.flatnonzero(fam == "demand.served") if i not in freed and model.rhs[i] > 1e-9]
    # the share of each (workload, period)'s demand cut (a period's slices are cut together)
    cut = {(s.label, s.period_slice and s.period_slice[0]): s.amount / s.rhs if s.rhs > 0 else 1.0
           for s in res.slacks}
    key = [(_unlabel(model.row_names[i]), (_row_period_slice(model.row_names[i]) or (None,))[0]) for i in rows]
    if rows and all(cut.get(kk, 0.0) >= 1 - 1e-6 for kk in key):
        cause = (f"the cause is the {' or the '.join(causes)}: relax it as above" if causes else
                 "the fleet's limits together or the offers the problem allows are the cause (below)")
        # a spot-only fleet: the spot share is of the demand, so it shrinks with it (QA s22: 'a trickle
        # needs whole replicas' was said for it)
        spot_only = k.n_o > 0 and all(o.acquisition == "spot" and not o.existing for o in k.offers)
        why = (f"only spot offers are allowed, and spot may serve at most fleet.max_spot_share "
               f"({k.max_spot_share:g}) of the demand, however little is served" if spot_only and k.max_spot_share < 1
               else "even a trickle needs whole replicas")
        return ("serving less is no way out: within the limits as they are, no plan serves any of the demand "
                f"at all ({why}); {cause}"), False
    texts = []
    if problem.objective.periods is None:
        texts = [_describe(s, k, problem) for s in res.slacks]
    else:
        wls = {w.id: w for w in problem.workloads}
        for lab in sorted({s.label for s in res.slacks}):
            texts.append(_period_cuts(wls[lab], [s for s in res.slacks if s.label == lab],
                                      problem.objective.periods.count)[0])
    # several cuts are one change: each alone is not enough (QA: read as alternatives)
    return "or serve less: " + (texts[0] if len(texts) < 2 else "all of these together: " + "; ".join(texts)), True


def _unlabel(row_name: str) -> str:
    """'demand.served[chat]@3.0' (or '...[chat@3.0]@3.0') -> 'chat'."""
    inner = row_name[row_name.index("[") + 1:row_name.rindex("]")]
    at = inner.rfind("@")
    return inner[:at] if at >= 0 and _row_period_slice(inner) is not None else inner


def _row_period_slice(name: str) -> Optional[tuple[int, int]]:
    """'...@3.0' -> (3, 0); None without that suffix."""
    at = name.rfind("@")
    t, _, sl = name[at + 1:].partition(".") if at >= 0 else ("", "", "")
    return (int(t), int(sl)) if t.isdigit() and sl.isdigit() else None


def _binds(s: Slack, problem=None) -> str:
    """' in period 3, hours 10:00-14:00': the copy of a limit shared by every period/slice that needs
    the change (QA: a cap too small for period 3's peak named no period), its slice said as the hours
    of the daily profile it stands for (``problem``; QA s22: 'slice 2' meant nothing to the user)."""
    if s.period_slice is None:
        return ""
    t, sl = s.period_slice
    return (f" in period {t}{_slice_hours(problem, sl) if problem is not None else f', slice {sl}'}"
            + (f" (the most of the {s.rows} periods/slices over it)" if s.rows > 1 else ""))


def _slice_hours(problem, sl: int) -> str:
    """', hours 10:00-14:00 (17% of the day)': slice ``sl`` as the points of the daily profile it
    merges (periods.merge_slices), as the plan's ``profile_index``; '' where a period is one slice."""
    from solver.periods import merge_slices, profile_fractions

    if problem.objective.periods.within_period == "peak":
        return " (at the daily peak)"
    _, weight, members = merge_slices(profile_fractions(list(problem.workloads)))
    if len(members) < 2:
        return ""
    n = round(len(members[sl]) / weight[sl])
    runs = []             # consecutive profile points as [first, last]
    for i in members[sl]:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    if n == 24:
        where = "hours " + ", ".join(f"{a:02d}:00-{b + 1:02d}:00" for a, b in runs)
    else:
        where = (f"profile point{'s' if len(members[sl]) > 1 else ''} "
                 + ", ".join(f"{a}-{b}" if b > a else f"{a}" for a, b in runs) + f" of {n}")
    return f", {where} ({weight[sl]:.0%} of the day)"


def _verdict(fr: FleetRelaxation, res: ElasticResult) -> str:
    """One family's outcome in a few words, for the progress line."""
    if fr.undecided:
        return "undecided"
    if not fr.restores:
        return "does not help alone"
    if not res.slacks:
        return "not a cause"
    return "a relaxation found" + ("" if fr.proven_smallest else " (not proven the smallest)")


def explain_fleet(problem, k: Coefficients, model: LinearModel, *, backend: str = "pulp",
                  solver: Optional[str] = None, time_limit_s: float = 30.0,
                  total_s: Optional[float] = None) -> list[FleetRelaxation]:
    """Elastic solves: each fleet family alone, then the demand as the alternative.

    Each solve gets ``time_limit_s``; ``total_s`` (if given) caps them all together, so a
    caller with a deadline (``solve`` explaining its own infeasibility) is not kept waiting
    one full limit per family: each family gets an equal share of what is left (what a quick
    one leaves goes to the next), and one whose share is under a second is undecided.
    """
    t0 = time.perf_counter()
    # demand rows without any routing column belong to workloads nothing can serve (explained
    # per workload); they are dropped so that the fleet-level question can still be answered
    free = _free_demand_rows(model)
    present = families_in(model)
    out = []
    families = [f for f in FLEET_FAMILIES if f in present] + ["demand.served"]
    for i, fam in enumerate(families):
        tl = time_limit_s
        if total_s is not None:
            tl = min(tl, (total_s - (time.perf_counter() - t0)) / (len(families) - i))
            if tl < 1.0:
                out.append(FleetRelaxation(fam, RELAXABLE[fam][1], False,
                                           undecided=f"no time left of the {total_s:g} s for explaining"))
                continue
        log.info("explaining: how far must %s give alone? (up to %.3gs)", RELAXABLE[fam][1], tl)
        # a multi-period demand cut: one per period (elastic.PERIOD_SCALED), said per period
        per_row = fam == "demand.served" and problem.objective.periods is not None
        res: ElasticResult = relax(model, [fam], backend=backend, solver=solver, time_limit_s=tl, free_rows=free)
        if per_row:
            # (a cut is at most the row's demand: the solver's tolerance may leave it a hair above)
            res.slacks = [replace(s, label=_unlabel(f"{s.family}[{s.label}]"), amount=min(s.amount, s.rhs))
                          for s in res.slacks]
        # one budget figure for every period, relaxed per period: the largest period's slack is
        # enough, the smallest such figure only when no other period needed any (elastic.PER_ROW)
        shared = fam == "caps.budget" and any(s.rows > 1 for s in res.slacks)
        fr = FleetRelaxation(fam, RELAXABLE[fam][1], res.restores_feasibility,
                             proven_smallest=res.status == OPTIMAL and not shared)
        if shared and res.status == OPTIMAL:
            fr.why_not_smallest = ("several periods need more; the least total over the periods was "
                                   "found, and this is the most any one period needs")
        if not res.decided:
            fr.undecided = f"no relaxation found within {tl:.3g} s"
        elif res.restores_feasibility and not fr.proven_smallest and res.at_least is not None and res.slacks:
            # a time-limited elastic solve can stop at a change far above the need: say what is
            # surely needed (the solver's bound), so the figure can be read for what it is
            low = _round_up(res.at_least, down=True)
            fr.why_not_smallest = (f"at least {_plain(low)} {RELAXABLE[fam][0]} is needed; the solver stopped "
                                   "at its time limit before narrowing it")
        if fam == "caps.budget" and res.restores_feasibility and res.slacks and not fr.proven_smallest:
            _budget_from_cheapest_plan(model, res, fr, backend=backend, solver=solver, time_limit_s=tl)
        log.info("explaining %s: %s", fr.what, _verdict(fr, res))
        if res.restores_feasibility:
            if not res.slacks:       # feasible without relaxing: this family is not the cause
                continue
            texts = [] if fam == "demand.served" else [_describe(s, k, problem) for s in res.slacks]
            fr.amounts = [{"family": s.family, "label": s.label, "amount": s.amount, "unit": s.unit,
                           "limit": s.rhs, "period": s.period_slice[0] if s.period_slice else
                           int(s.label) if s.family == "caps.capex_period" else None,
                           "slice": s.period_slice[1] if s.period_slice else None,
                           "periods": list(s.periods)} for s in res.slacks]
            if fam == "demand.served":
                text, way_out = _demand_change(res, model, free, k, problem,
                                               [f.what for f in out if f.restores and f.changes])
                if not way_out:
                    fr.restores, fr.amounts, fr.no_way_out = False, [], text
                else:
                    fr.changes.append(text)
            else:
                fr.changes.append(" and ".join(texts) if len(texts) < 2 else
                                  "all of: " + "; ".join(texts))
            if fam in ("caps.availability", "caps.power"):
                left = None if total_s is None else (total_s - (time.perf_counter() - t0)) / (len(families) - i)
                _other_entries(model, res, fr, k, problem, backend=backend, solver=solver,
                               time_limit_s=tl if left is None else min(tl, left), free=free)
        elif res.status == NO_ROWS:
            continue
        out.append(fr)
    return out


#: at most this many availability entries (or power caps) are tried alone for an alternative (one
#: elastic MIP each)
MAX_AVAILABILITY_ALTERNATIVES = 8


def _availability_entry(label: str) -> str:
    """The list entry of an availability or power-cap row label ('l4@any#0@3' -> '0', 'ireland#1' ->
    '1'): every period's copy is one entry."""
    return label.rpartition("#")[2].partition("@")[0]


def _other_entries(model: LinearModel, res: ElasticResult, fr: FleetRelaxation, k: Coefficients, problem,
                   *, backend: str, solver: Optional[str], time_limit_s: float, free) -> None:
    """Each availability entry (or power cap: ``fr.family``) the elastic solve left alone, raised alone:
    the elastic solve gives one least total (devices, kW), and where two entries could each give it
    names one of them (QA s25: one more A10G, where one more of the cheaper L4s restores the plan too;
    QA s27: 1.496 kW more in ireland, where 3.5-4 kW more in germany does too).  The entries are tried
    in the order of the problem, within ``time_limit_s`` together; one that restores is listed as an
    'or' change."""
    family = fr.family
    fam = model.row_family.astype(str)
    names = model.row_names
    rows = np.flatnonzero(fam == family)
    entry = np.array([_availability_entry(names[i][len(family) + 1:-1]) for i in rows])
    used = {_availability_entry(sl.label) for sl in res.slacks}
    others = [e for e in dict.fromkeys(entry.tolist()) if e not in used][:MAX_AVAILABILITY_ALTERNATIVES]
    t0 = time.perf_counter()
    for n, e in enumerate(others):
        tl = (time_limit_s - (time.perf_counter() - t0)) / (len(others) - n)
        if tl < 0.5:
            break
        held = fam.copy()
        held[rows[entry != e]] = f"{family}.held"       # not relaxed: a row like any other
        alt = relax(replace(model, row_family=held), [family], backend=backend, solver=solver,
                    time_limit_s=tl, free_rows=free)
        if alt.restores_feasibility and alt.slacks:
            fr.changes.append("or " + " and ".join(_describe(sl, k, problem) for sl in alt.slacks)
                              + ("" if alt.status == OPTIMAL else " (enough, but not proven the smallest: the "
                                 "solver stopped at its time limit)"))
            fr.alternatives.append([{"family": sl.family, "label": sl.label, "amount": sl.amount, "unit": sl.unit,
                                     "limit": sl.rhs} for sl in alt.slacks])


def _budget_from_cheapest_plan(model: LinearModel, res: ElasticResult, fr: FleetRelaxation, *, backend: str,
                               solver: Optional[str], time_limit_s: float) -> None:
    """A monthly budget the cheapest plan without one fits: enough, and where it is below the elastic
    solve's figure (which minimises the total over the periods, or stopped at its time limit), that
    figure is replaced (QA s18: eight quarters at a 20 s limit were told 69,610 USD/month where the
    cheapest plan's dearest quarter needs 59,591)."""
    from solver.mip.backends import solve

    rows = np.flatnonzero(model.row_family.astype(str) == "caps.budget")
    # the budget rows without their coefficients (0 <= rhs holds): no backend takes an infinite rhs
    row_of_nnz = model.row_of_nnz()
    keep = ~np.isin(row_of_nnz, rows)
    count = np.bincount(row_of_nnz[keep], minlength=model.n_rows)
    rhs = model.rhs.copy()
    rhs[rows] = np.maximum(rhs[rows], 0.0)
    free = replace(model, indptr=np.concatenate([[0], np.cumsum(count)]), indices=model.indices[keep],
                   data=model.data[keep], rhs=rhs)
    plan = solve(free, backend, solver, time_limit_s=time_limit_s, mip_gap=1e-4)
    if plan.values is None:
        return
    need = float(np.max(model.activity(plan.values)[rows] - model.rhs[rows]))
    top = max(res.slacks, key=lambda sl: sl.amount)
    if 0 < need < top.amount * (1 - 1e-9):
        res.slacks = [replace(top, amount=need)]
        which = "the cheapest plan" if plan.status == OPTIMAL else "the cheapest plan found in the time limit"
        fr.why_not_smallest = (f"{which} without a budget needs this much in its dearest month; a plan "
                               "that spends more evenly may fit less")


def explain_lead_time(loaded, k: Coefficients, fleet: list) -> Optional[str]:
    """A multi-period cause no row's slack names: purchases arrive after their lead time, so the
    periods before that have only owned devices and rentals.  When the demand relaxation cuts
    demand in such a period, say so, and which rentals are missing there."""
    from solver.periods import build_period_spec

    p = loaded.problem
    spec = build_period_spec(p, loaded.catalog, k, file=loaded.file)
    kind = spec.kind(k)
    buys = np.flatnonzero(kind == "purchase")
    if not len(buys):
        return None
    first = int(spec.lead_periods[buys].min())
    # every period a demand cut reaches, not only its largest (QA s18: the cut of period 7 hid that
    # period 0, before any purchase arrives, could not be served at all)
    cut = sorted({t for f in fleet if f.family == "demand.served" and f.restores for a in f.amounts
                  for t in (a.get("periods") or ([a["period"]] if a.get("period") is not None else []))
                  if t < first})
    rented = {(k.offers[o].accelerator, k.offers[o].region) for o in range(k.n_o)
              if kind[o] in ("elastic", "reserved")}
    bought = sorted({(k.offers[o].accelerator, k.offers[o].region) for o in buys})
    missing = [f"{a} in {r}" for a, r in bought if (a, r) not in rented]
    # the lead time explains a cut only where what will be bought cannot be rented meanwhile (else
    # the limit is elsewhere: a budget, a power cap, as the relaxations above say)
    if not cut or not missing:
        return None
    owned = sorted({(k.offers[o].accelerator, k.offers[o].region) for o in range(k.n_o)
                    if kind[o] == "existing" and (k.offers[o].max_units or 0) > 0})
    have = [f"owned {a} in {r}" for a, r in owned] + [f"rented {a} in {r}" for a, r in sorted(rented)]
    if len(have) > 4:
        have = [f"{len(owned)} owned and {len(rented)} rented accelerator/region pairs"]
    if len(missing) > 4:
        missing = missing[:4] + [f"{len(missing) - 4} more"]
    when = ", ".join(str(t) for t in cut)
    allow = _filtered_rentals(p, loaded.catalog, [(a, r) for a, r in bought if (a, r) not in rented])
    return (f"period{'s' if len(cut) > 1 else ''} {when}: no purchase has arrived yet (lead time "
            f"{first} period{'s' if first > 1 else ''}), so "
            + (f"only {' and '.join(have)} can serve" if have else "nothing can serve there")
            + (f"; no rental is offered for {', '.join(missing)}" if missing else "")
            + (f": the catalog rents them there, but the problem's filters leave them out: {allow}" if allow else
               ": add rental offers there (a --catalog overlay with on-demand or reserved prices)")
            + ", or start the horizon when the first servers arrive")


RENTALS = ("on_demand", "reserved_1y", "reserved_3y", "spot")


def _filtered_rentals(problem, catalog, pairs) -> str:
    """The filter changes that let the catalog's own rentals of ``pairs`` (accelerator, region) in
    (QA: 'add rental offers' was said where fleet.acquisition and fleet.providers left them out);
    empty when the catalog rents none of them.  Per pair, the offer needing the fewest changes."""
    f = problem.fleet
    offers = {(a, r): [(off.provider, m) for off in (catalog.accelerators[a].offers if a in catalog.accelerators
                                                     else ()) for m in RENTALS
                       if off.region == r and off.price(m) is not None] for a, r in pairs}
    # a provider that rents several of the pairs is named before one that rents only one
    cover = {pv: sum(any(q == pv for q, _ in o) for o in offers.values()) for o in offers.values() for pv, _ in o}
    modes, provs = set(), set()
    for options in offers.values():
        needs = [(({("acquisition", m)} if m not in f.acquisition else set())
                  | ({("providers", pv)} if f.providers and pv not in f.providers else set()), pv, m)
                 for pv, m in options]
        if needs:
            need = min(needs, key=lambda n: (len(n[0]), -cover[n[1]], RENTALS.index(n[2]), n[1]))[0]
            modes |= {v for k, v in need if k == "acquisition"}
            provs |= {v for k, v in need if k == "providers"}
    todo = [f"add {', '.join(m for m in RENTALS if m in modes)} to fleet.acquisition"] if modes else []
    if provs:
        todo.append(f"add {', '.join(sorted(provs))} to fleet.providers (or remove that filter)")
    if any(offers.values()) and not f.catalog_offers:
        todo.append("set fleet.catalog_offers: true")
    return " and ".join(todo)


def explain(loaded, *, backend: Optional[str] = None, solver: Optional[str] = None,
            time_limit_s: Optional[float] = None, k: Optional[Coefficients] = None,
            model: Optional[LinearModel] = None, status: Optional[str] = None, perf=None,
            total_s: Optional[float] = None) -> Explanation:
    """Explain ``loaded`` (a LoadedProblem).  ``status`` is the solve status when already known.

    ``time_limit_s`` is each solve's limit (default: the problem's, at most 60 s); ``total_s``
    caps the elastic solves together (:func:`explain_fleet`).
    """
    from solver.mip.backends import solve
    from solver.mip.options import SolveOptions
    from solver.problem.load import require_loaded

    loaded = require_loaded(loaded, "explain")
    t0 = time.perf_counter()
    p = loaded.problem
    SolveOptions(backend, solver, time_limit_s).check(default_backend=p.solver.backend)
    backend = backend or p.solver.backend
    solver = solver or (p.solver.solver if backend == p.solver.backend else None)
    tl = time_limit_s if time_limit_s is not None else min(p.solver.time_limit_s, 60.0)
    if model is None and p.objective.periods is not None:
        from solver.periods_plan import period_coefficients

        k = period_coefficients(loaded, perf=perf)
    if k is None:
        k = build_coefficients(p, loaded.catalog, perf=perf)
    if model is None:
        model = _model_of(loaded, k)
    diag = diagnose_workloads(p, loaded.catalog, k, perf=perf)
    if loaded.scenario is not None:
        _workload_scenario_sets(loaded, diag)
    ex = Explanation(p.name, loaded.scenario, None, workloads=diag)
    all_served = all(d.servable for d in diag)
    if status is None and all_served:
        status = solve(model, backend, solver, time_limit_s=tl, mip_gap=p.solver.mip_gap).status
    if all_served and status != INFEASIBLE:
        ex.has_plan = status in ("optimal", "time_limit")
        if not ex.has_plan:
            ex.decided = False
            ex.note = (f"the solver stopped with status {status!r} before deciding; raise the time "
                       "limit or try another backend")
        return ex
    ex.has_plan = False

    def tl_left() -> float:
        """One more solve's limit, within ``total_s`` (at least a second)."""
        return tl if total_s is None else max(1.0, min(tl, total_s - (time.perf_counter() - t0)))
    ex.fleet = explain_fleet(p, k, model, backend=backend, solver=solver, time_limit_s=tl, total_s=total_s)
    lead = explain_lead_time(loaded, k, ex.fleet) if p.objective.periods is not None else None
    if all_served and lead is None and not any(f.restores and f.family != "demand.served" for f in ex.fleet):
        if any(f.undecided for f in ex.fleet):
            ex.note = ("no fleet limit was shown to be enough alone, and some were not decided in the "
                       "time given; run `fleetopt explain` with a longer --time-limit")
        else:
            ex.note = explain_joint(p, k, model, backend=backend, solver=solver, time_limit_s=tl_left())
    if lead is not None:
        ex.note = lead
    unservable = {d.workload for d in diag if not d.servable}
    if any(n1 and w not in unservable for w, n1 in zip(k.workloads, k.n_plus_1)):
        ex.other.append(explain_redundancy(loaded, k, backend=backend, solver=solver, time_limit_s=tl_left(),
                                           unservable=unservable))
    if loaded.scenario is not None:
        for fr in ex.fleet:
            fr.changes = [_scenario_sets(loaded, c) for c in fr.changes]
        ex.note = _scenario_sets(loaded, ex.note)
    return ex


def _workload_scenario_sets(loaded, diag: list) -> None:
    """Each workload relaxation's field ('workloads.chat: raise slo.ttft_ms from 80 to at least 97') that
    the scenario in effect sets named as the scenario's override too, as :func:`_scenario_sets` does for
    the fleet's (QA s22: under --scenario the per-workload advice named the file's field only)."""
    for d in diag:
        d.relaxations = [_scenario_sets(loaded, r) for r in d.relaxations]


#: a fleet field a change names, 'fleet.power_caps[1].max_kw from 1 to 2.496', a workload's demand, a
#: workload relaxation's field ('workloads.chat: raise slo.ttft_ms from 80 to at least 97 and slo.tpot_ms ...'),
#: a limit's period ('fleet.power_caps[0].max_kw_by_period[2]: needs ... (from 18 to 26.208)') or a
#: multi-period demand cut ('workloads.chat.demand.growth: [0, 2, 2.74166]')
_FIELD_CHANGE = re.compile(r"(?P<field>fleet(?:\.\w+|\[\d+\])+) from [^\s;,()]+ to (?P<new>[^\s;,()]+)"
                           r"|of (?P<wl>\S+) \(demand\.requests_per_s from [^\s;,()]+ to (?P<new2>[^\s;,()]+)\)"
                           r"|(?P<wfield>(?:slo\.\w+|quality\.min_score)) from [^\s;,()]+ to (?:at (?:least|most) )?"
                           r"(?P<new3>[^\s;,()]+)"
                           r"|(?P<pfield>fleet(?:\.\w+|\[\d+\])*_by_period\[\d+\]): [^()]*\(from [^\s;,()]+ to "
                           r"(?P<new4>[^\s;,()]+)\)"
                           r"|workloads\.(?P<gwl>\S+?)\.demand\.growth: (?P<glist>\[[^\]]*\])")
_WORKLOAD_PREFIX = re.compile(r"workloads\.(?P<id>[^\s:]+):")


def _scenario_sets(loaded, text: str) -> str:
    """``text`` with each field it changes that the scenario in effect sets named as the scenario's own
    override, with the value it sets there: the file's field holds another value (QA s22: 'fleet.power_caps[1]
    .max_kw from 1' where the file says 25 and scenario ireland-tiny sets 1)."""
    import copy

    from solver.problem.load import set_path

    scenarios = loaded.raw.get("scenarios") or []
    idx = next((i for i, sc in enumerate(scenarios) if isinstance(sc, dict) and sc.get("name") == loaded.scenario),
               None)
    if idx is None:
        return text
    targets = []            # (resolved path, the override's path, its value)
    for path, value in (scenarios[idx].get("set") or {}).items():
        try:
            targets.append((set_path(copy.deepcopy(loaded.raw), str(path), None), str(path), value))
        except KeyError:
            continue
    ids = [w.id for w in loaded.problem.workloads]

    owner = _WORKLOAD_PREFIX.match(text)      # a workload relaxation: its fields are that workload's

    def number(value) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    def named(m: re.Match) -> str:
        if m["field"] is not None or m["pfield"] is not None:
            field = tuple(int(x) if x.isdigit() else x for x in re.findall(r"\w+", m["field"] or m["pfield"]))
            new = m["new"] or m["new4"]
        elif m["wfield"] is not None:
            if owner is None or owner["id"] not in ids:
                return m[0]
            field = ("workloads", ids.index(owner["id"]), *m["wfield"].split("."))
            new = m["new3"].rstrip(".")
        elif m["gwl"] is not None:
            if m["gwl"] not in ids:
                return m[0]
            field, new = ("workloads", ids.index(m["gwl"]), "demand", "growth"), m["glist"]
        else:
            if m["wl"] not in ids:
                return m[0]
            field, new = ("workloads", ids.index(m["wl"]), "demand", "requests_per_s"), m["new2"]
        said = f"set by scenario {loaded.scenario}"
        hit = next((t for t in targets if field[:len(t[0])] == t[0]), None)
        if hit is None:
            # a whole list the text gives, of which the scenario sets entries ('...growth.2': 3), or the
            # growth rate a growth list replaces (QA s22: the list's texts named the file's field only)
            entries = [t for t in targets if t[0][:-1] == field and isinstance(t[0][-1], int) and number(t[2])]
            values = new.strip("[]").split(", ") if new.startswith("[") else []
            changes = [f'scenarios[{idx}].set."{path}" from {_plain(value)} to {values[target[-1]]}'
                       for target, path, value in entries if target[-1] < len(values)]
            if changes:
                return m[0] + f" ({said}: change {' and '.join(changes)})"
            rate = next((t for t in targets if t[0] == (*field[:-1], "growth_rate_per_period")), None)
            if m["gwl"] is not None and rate is not None:
                return m[0] + (f' ({said} in scenarios[{idx}].set."{rate[1]}": set it to null there and '
                               f'"{rate[1].rpartition(".")[0]}.growth" to {new})')
            return m[0]
        target, path, value = hit
        where = f'scenarios[{idx}].set."{path}"'
        if target == field and number(value):
            return m[0] + f" ({said}: change {where} from {_plain(value)} to {new})"
        if target == field and isinstance(value, list) and new.startswith("["):
            return m[0] + f" ({said}: change {where} to {new})"
        if target == field[:-1] and isinstance(field[-1], int) and isinstance(value, list) and field[-1] < len(value):
            # a list set whole: the whole list to paste, its period's entry changed
            pasted = [new if t == field[-1] else _plain(v) if number(v) else str(v) for t, v in enumerate(value)]
            return m[0] + f" ({said}: change {where} to [{', '.join(pasted)}])"
        # a section holding it (a whole list of caps)
        return m[0] + f" ({said} in {where}: change it there)"
    return _FIELD_CHANGE.sub(named, text)


def _model_of(loaded, k: Coefficients) -> LinearModel:
    """The MIP of ``k`` as solve builds it: the multi-period model where the problem has periods."""
    if loaded.problem.objective.periods is None:
        return build_model(k)
    from solver.mip.periods import build_period_model
    from solver.periods import build_period_spec
    return build_period_model(k, build_period_spec(loaded.problem, loaded.catalog, k, file=loaded.file))[0]


def _free_demand_rows(model: LinearModel) -> list:
    """Demand rows without any routing column: workloads nothing can serve (explained per workload),
    dropped so that the fleet-level question can still be answered."""
    dem_rows = np.flatnonzero(model.row_family.astype(str) == "demand.served")
    return [i for i in dem_rows if model.indptr[i + 1] == model.indptr[i]]


def explain_joint(problem, k: Coefficients, model: LinearModel, *, backend: str, solver: Optional[str],
                  time_limit_s: float) -> str:
    """No fleet limit is enough alone: relax them all together (each slack weighted by its row's size,
    so kW, USD and devices compare).  Either the changes that together are enough, or - when even
    that does not help - the fleet's limits are not the cause: what the workloads' own filters allow
    is (QA s18: 'relax several' was said where relaxing every limit together left no plan, and two
    limits at once got no figure)."""
    present = families_in(model)
    fams = [f for f in FLEET_FAMILIES if f in present]
    filters = ("the offers and deployments the problem allows (the workloads' regions, models, "
               "quantizations and SLOs; fleet.accelerators, fleet.regions, fleet.acquisition) cannot serve the "
               "demand; widen those, or reduce demand")
    if not fams:
        return "no fleet limit (power, availability, budget, capex, spot share) is in play: " + filters
    what = " and ".join(RELAXABLE[f][1] for f in fams)
    log.info("explaining: how far must %s give together? (up to %.3gs)", what, time_limit_s)
    res = relax(model, fams, backend=backend, solver=solver, time_limit_s=time_limit_s,
                free_rows=_free_demand_rows(model), relative=True)
    if res.restores_feasibility and res.slacks:
        return ("no single fleet limit is enough alone; together these are enough (the least change "
                "relative to each limit, not the smallest of each): "
                + "; ".join(_describe(s, k, problem) for s in res.slacks))
    if res.decided and not res.restores_feasibility:
        return f"relaxing {what} all together does not help either: " + filters
    return ("no single fleet limit is enough alone, and relaxing them together was not decided in the time "
            "given; run `fleetopt explain` with a longer --time-limit, or reduce demand")


def explain_redundancy(loaded, k: Coefficients, *, backend: str, solver: Optional[str],
                       time_limit_s: float, unservable: frozenset = frozenset()) -> str:
    """Whether the plan exists once the N+1 workloads keep no spare replica (QA s18: N+1 was never
    named, though dropping it was the way out).  The workloads no deployment serves (``unservable``)
    are left out, as the fleet's elastic solves leave them out: with their demand in, no plan exists
    whatever the spares (QA s27: 'dropping N+1 ... does not help' was said only because of them), and
    their own N+1 is not named."""
    from solver.mip.backends import solve

    p = loaded.problem
    names = [w for w, n1 in zip(k.workloads, k.n_plus_1) if n1 and w not in unservable]
    m1 = _model_of(loaded, replace(k, n_plus_1=np.zeros_like(k.n_plus_1)))
    free = _free_demand_rows(m1)
    if free:
        rhs = m1.rhs.copy()
        rhs[free] = 0.0             # a demand row without a routing column: nothing can serve it
        m1 = replace(m1, rhs=rhs)
    status = solve(m1, backend, solver, time_limit_s=time_limit_s, mip_gap=p.solver.mip_gap).status
    which = ", ".join(names)
    served = (f" for the workloads that can be served now ({', '.join(sorted(unservable))} left out)"
              if unservable else "")
    if status in ("optimal", "time_limit"):
        return (f"or drop N+1 redundancy (redundancy: none) on {which}: without their spare replicas a plan "
                f"exists{served}")
    if status == INFEASIBLE:
        return f"dropping N+1 redundancy on {which} alone does not help{served}"
    return f"dropping N+1 redundancy on {which}: undecided ({status}); run with a longer --time-limit"
