"""Pareto fronts of cost against a latency target, a quality target or CO2 (epsilon-constraint).

A front answers "what does a tighter target cost?".  Each point is a full
solve of the problem with one knob turned further, so each point is a plan
that :func:`solver.verify.verify_plan` checks against the problem it solved.

* ``ttft`` / ``tpot``: every workload's target is multiplied by a factor f in
  (0, 1].  A tighter target only removes deployments or lowers their capacity,
  so the feasible set shrinks and the optimal cost cannot fall as f falls.
* ``quality``: every workload's ``min_score`` is raised to at least a level L
  (workloads without a target get a per-request one).  Same argument.
* ``carbon``: solve for the lowest cost (E_max: that plan's CO2), then for the lowest CO2
  (E_min); then minimise cost subject to ``CO2 <= eps`` for eps from E_max down
  to E_min.  CO2 is the plan's own linear expression (IT power x PUE x grid
  intensity x hours), added as one extra row of the same model.

The tightest feasible knob is found by bisection on feasibility (monotone for
the same reason), then ``points`` knob values run from the problem as written
to that tightest value: latency factors geometrically (1, r, r^2, ..., f_min,
so the steep end near the feasibility edge gets points), quality levels and
CO2 caps evenly.

Each point is the least cost at its own target, but two targets can give the same plan (a
looser TTFT target met by the same fleet as a tighter one): the looser point is then weakly
dominated (no cheaper, and looser).  :func:`mark_dominated` flags such points (``on_front``,
``dominated_by``); the table and the plot show the front, the JSON every point computed.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Optional, Sequence

import numpy as np

from solver.errors import RAISE_TIME_LIMIT, InputError, InputIssue, NoStartingPlan, SolveFailed, did_you_mean
from solver.explore.common import (HAS_PLAN, SolveOptions, base_document, caller_overlays, fleet_mix,
                                   require_options, validate_edited)
from solver.problem.load import require_loaded
from solver.report import number_text

VERSUS = ("ttft", "tpot", "quality", "carbon")
#: bisection steps on the knob (precision 2**-12 of the range)
BISECT_STEPS = 12
#: the tightest latency factor tried (1/1000 of each target)
MIN_FACTOR = 1e-3
#: most points one front takes (each point is at least one solve; QA s18: no limit)
MAX_POINTS = 100
#: relative slack of a CO2 cap (0.1 g per tonne): keeps the end points solvable numerically
CAP_SLACK = 1e-7


#: significant digits of a target printed in the table (QA s22: at 4, a TTFT point's 13.6826 ms read
#: 13.68, and a re-solve at 13.68 cost 3.4% more)
TARGET_DIGITS = 6


def target_text(x: float, tighter: str) -> str:
    """A target at :data:`TARGET_DIGITS` significant digits, rounded towards the looser side (up where
    ``tighter`` is "lower"), so that a re-solve at the printed value admits the point's plan and costs
    no more than it."""
    if not math.isfinite(x) or x == 0:
        return f"{x:g}"
    exp = math.floor(math.log10(abs(x)))
    quantum = 10.0 ** (exp - TARGET_DIGITS + 1)
    steps = x / quantum
    if not math.isclose(steps, round(steps), rel_tol=1e-12, abs_tol=1e-9):
        steps = math.ceil(steps) if tighter == "lower" else math.floor(steps)
    text = f"{round(steps) * quantum:,.{max(0, TARGET_DIGITS - 1 - exp)}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@dataclass
class ParetoPoint:
    index: int
    x: float                 # the axis value (ms, factor, score or tonnes CO2)
    knob: float              # 0 = the problem as written, larger = tighter
    targets: dict            # what was set: workload -> target, or {"co2_cap_kg": ...}
    status: str
    total_usd: Optional[float]
    usd_per_month: Optional[float]
    co2_kg: Optional[float]
    devices: Optional[int]
    mix: str
    verified: Optional[bool]
    violations: list = field(default_factory=list)
    plan: dict = field(default_factory=dict, repr=False)
    #: not weakly dominated by another point of the front (None: the point has no plan)
    on_front: Optional[bool] = None
    #: the index of the point that dominates it (the tightest such, then the cheapest), if any
    dominated_by: Optional[int] = None
    #: the proven relative gap of the point's plan (None: no plan, or no bound)
    gap: Optional[float] = None


@dataclass
class ParetoFront:
    problem: str
    file: str
    versus: str
    x_label: str
    tighter: str             # "lower" or "higher": which way along x the target tightens
    points: list
    monotone: bool
    monotone_issues: list
    seconds: float
    solves: int
    note: str = ""
    scenario: Optional[str] = None   # the problem file's scenario applied before the front

    def __post_init__(self) -> None:
        mark_dominated(self.points, self.versus)

    @property
    def front_points(self) -> list:
        """The points on the front (with a plan, not weakly dominated), in order."""
        return [p for p in self.points if p.on_front]

    @property
    def unproven(self) -> list:
        """Points whose solve stopped at its time limit: their costs are plans, not proven optima."""
        return [p for p in self.points if p.status == "time_limit"]

    def to_dict(self) -> dict:
        return {"format": 1, "kind": "pareto", "objective": "cost", **asdict(self)}

    # ------------------------------------------------------------------ text
    def table_text(self) -> str:
        name = self.problem + (f" [{self.scenario}]" if self.scenario else "")
        dropped = [p for p in self.points if p.on_front is False]
        counts = (f"{len(self.points) - len(dropped)} of {len(self.points)} points" if dropped
                  else f"{len(self.points)} points")
        head = (f"Pareto front of cost vs {self.versus} for {name} "
                f"({counts}, {self.solves} solves, {self.seconds:.1f} s)\n")
        unproven = self.unproven
        cols = ["#", self.x_label, "status"] + (["gap"] if unproven else []) + [
            "total USD", "USD/month", "CO2 t", "devices", "fleet", "verified"]
        rows = []
        for p in self.points:
            if p.on_front is False:
                continue
            gap = ([] if not unproven else
                   ["-" if p.gap is None or p.status != "time_limit" else f"{p.gap:.2%}"])
            rows.append([str(p.index), target_text(p.x, self.tighter), p.status, *gap,
                         # significant digits, not whole dollars / 3 decimals (QA: totals of 7.5 and
                         # 8.5 both read 8, and every CO2 figure 0.001 t)
                         number_text(p.total_usd, ".4g"), number_text(p.usd_per_month, ".4g"),
                         number_text(None if p.co2_kg is None else p.co2_kg / 1000.0, ".3g"),
                         number_text(p.devices, ",.0f"), p.mix,
                         "-" if p.verified is None else ("yes" if p.verified else
                                                         f"NO ({len(p.violations)})")])
        widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c)
                  for i, c in enumerate(cols)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths)),
                 "  ".join("-" * w for w in widths)]
        lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in rows]
        tail = ("monotone: yes (a tighter target never costs less)" if self.monotone else
                "monotone: NO - " + "; ".join(self.monotone_issues))
        tail += (f"\n{self.x_label}: {TARGET_DIGITS} significant digits, rounded "
                 f"{'up' if self.tighter == 'lower' else 'down'} (looser), so a re-solve at one costs no "
                 "more than its point; the JSON has them exactly")
        note = f"\n{self.note}" if self.note else ""
        if unproven:
            # (QA s27: every point at its time limit, one a fleet 230x the optimum's cost, read as a front)
            note += (f"\n{len(unproven)} point{'s' if len(unproven) != 1 else ''} stopped at the time limit "
                     f"(#{', #'.join(str(p.index) for p in unproven)}): their costs are plans found, up to "
                     "their gap above the optimum, so the front and its monotony are not proven there; "
                     "raise --time-limit")
        if dropped:
            by = {p.index: p for p in self.points}
            what = "a plan with lower or equal CO2" if self._co2_axis() else "a tighter or equal target"
            note += (f"\n{len(dropped)} point{'s' if len(dropped) != 1 else ''} left out as weakly dominated "
                     f"(another point has {what} at no more cost, within the MIP gap): "
                     + ", ".join(self._dropped_text(p, by[p.dominated_by]) for p in dropped)
                     + "; the JSON keeps every point (on_front, dominated_by)")
        return head + "\n".join(lines) + "\n" + tail + note + "\n"

    def _co2_axis(self) -> bool:
        """Whether the front is drawn (and dominance judged) at each plan's own CO2."""
        return _co2_axis(self.points, self.versus)

    def _dropped_text(self, p, q) -> str:
        """Why point p is not on the front: q dominates it, or (carbon) q's plan came back at p's cap."""
        if (self._co2_axis() and math.isclose(p.co2_kg, q.co2_kg, rel_tol=1e-9, abs_tol=1e-9)
                and abs(p.total_usd - q.total_usd) <= _cost_tol(p, q)):
            return f"#{p.index} (cap {target_text(p.x, self.tighter)} t CO2) gave the plan of #{q.index} again"
        return f"#{p.index} ({self._axis_text(p)}) by #{q.index} ({self._axis_text(q)})"

    def _axis_text(self, p) -> str:
        """A point's place on the axis and its cost, for the sentence on dominated points."""
        if self._co2_axis():
            at = f"{number_text(p.co2_kg / 1000.0, '.4g')} t CO2"
        elif self.versus == "quality":
            at = f"min_score {target_text(p.x, self.tighter)}"
        elif self.versus == "carbon":
            at = f"cap {target_text(p.x, self.tighter)} t CO2"
        else:       # a latency: the factor on every target, or one workload's target in ms
            x = target_text(p.x, self.tighter)
            at = f"{x} ms" if "ms" in self.x_label else f"x{x}"
        return f"{at}, {number_text(p.usd_per_month, '.4g')} USD/month"

    # ------------------------------------------------------------------ plot
    def figure(self):
        """Cost against the target (carbon: the plan's CO2) as steps, one marker per point.

        A Figure of its own (no pyplot, so a notebook's backend is left alone; QA: pyplot +
        matplotlib.use("Agg") switched it, and every later plt.show() showed nothing).  Shows
        itself as a Jupyter cell's result."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        from solver.viz import PlotFigure
        fig = PlotFigure(figsize=(6.4, 4.0), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        # the front only (QA: three points of one fleet at one cost were drawn as a flat run)
        pts = self.front_points
        carbon = self._co2_axis()
        # carbon: the plan's own CO2, not its cap (QA: four plans at 1.44 t were drawn at caps of
        # 1.84-1.54 t, as if each 0.1 t cut cost money); the table has both
        xs = [p.co2_kg / 1000.0 if carbon else p.x for p in pts]
        ys = [p.usd_per_month for p in pts]
        # A step function, not straight lines (QA: a line suggested a cap between two points costs
        # in between): a target between two points costs what the tighter one does, whose plan
        # meets it.  The points run from loose to tight, so each segment takes the value of the
        # point after it: steps-pre, whichever way along x the target tightens.
        ax.plot(xs, ys, marker="o", drawstyle="steps-pre", color="#1f5fa8")
        for x, p in zip(xs, pts):   # up and to the right: the step rises straight up from the point
            ax.annotate(number_text(p.devices, ",.0f"), (x, p.usd_per_month), textcoords="offset points",
                        xytext=(3, 3), ha="left", va="bottom", fontsize=7, color="#555555")
        if self.versus in ("ttft", "tpot") and xs and min(xs) > 0:
            ax.set_xscale("log")   # the points are geometric in the target
            _plain_log_labels(ax.xaxis, max(xs) / min(xs))
        if ys and min(ys) > 0 and max(ys) / min(ys) > 20:
            ax.set_yscale("log")   # the tightest points can cost orders of magnitude more
        ax.set_xlabel(("CO2 of the plan, tonnes over the horizon" if carbon else self.x_label)
                      + f"  (tighter: {self.tighter})")
        ax.set_ylabel("cost, USD per month")
        dropped = sum(p.on_front is False for p in self.points)
        ax.set_title(f"{self.problem}: cost vs {self.versus} (labels: devices)"
                     + (f"\n{dropped} weakly dominated point{'s' if dropped != 1 else ''} not drawn"
                        if dropped else ""), fontsize=10)
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        return fig

    def write_png(self, path, *, protect: tuple = ()) -> None:
        """:meth:`figure` as a PNG (Agg, no timestamp: byte-identical across runs)."""
        import io

        from solver.yamlio import atomic_write_bytes
        buf = io.BytesIO()
        self.figure().savefig(buf, format="png", metadata={"Software": None})
        atomic_write_bytes(path, buf.getvalue(), protect=protect)


def _plain_log_labels(axis, span: float) -> None:
    """Plain numbers on a log axis, at 1, 2 and 5 per decade (every tick within one decade).

    Matplotlib's own labels a short log range's minor ticks as 2x10^1, 3x10^1, ..., which overlap
    (QA s21)."""
    from matplotlib.ticker import FuncFormatter

    keep = range(1, 10) if span <= 10 else (1, 2, 5)

    def label(v: float, _pos) -> str:
        if v <= 0:
            return ""
        mantissa = v / 10 ** math.floor(math.log10(v) + 1e-9)
        return f"{v:g}" if abs(mantissa - round(mantissa)) < 1e-6 and round(mantissa) in keep else ""

    axis.set_major_formatter(FuncFormatter(label))
    axis.set_minor_formatter(FuncFormatter(label))


# ---------------------------------------------------------------------- knobs
class _Knob:
    """Maps a knob t in [0, 1] (0 = problem as written, 1 = the extreme) to an edited document."""

    def __init__(self, versus: str, doc: dict, catalog):
        self.versus = versus
        self.doc = doc
        wls = doc["workloads"]
        if versus in ("ttft", "tpot"):
            key = f"{versus}_ms"
            self.base = {w["id"]: float(w["slo"][key]) for w in wls}
            self.key = key
            self.single = len(wls) == 1
        else:  # quality
            targets = {w["id"]: (w.get("quality") or {}).get("min_score") for w in wls}
            best = {}
            for w in wls:
                allowed = [m for m in (w.get("models") or catalog.models) if m in catalog.models]
                best[w["id"]] = max(catalog.models[m].quality.value for m in allowed)
            set_targets = [float(v) for v in targets.values() if v is not None]
            if set_targets:
                lo = min(set_targets)
            else:
                # the lowest score an allowed model reaches in an allowed format, not the catalog's lowest
                # (QA s26: a front from llama-2-7b's 45.3 spent half its points on copies of the problem
                # as written, whose models all score 70.8 or more)
                from solver.coefficients import quality_of
                lo = min(quality_of(catalog.models[m], catalog.quantization[q], catalog.quantization)
                         for w in wls for m in (w.get("models") or catalog.models) if m in catalog.models
                         for q in (w.get("quantizations") or catalog.quantization) if q in catalog.quantization)
            self.lo = float(lo)
            self.hi = float(min(best.values()))  # above this the problem is invalid for some workload
            self.base = targets
            if self.hi <= self.lo:
                self.hi = self.lo

    def factor(self, t: float) -> float:
        return 1.0 - t * (1.0 - MIN_FACTOR)

    def level(self, t: float) -> float:
        return self.lo + t * (self.hi - self.lo)

    def apply(self, t: float) -> tuple[dict, dict, float]:
        """(edited document, targets set, axis value) for knob ``t``."""
        doc = copy.deepcopy(self.doc)
        targets = {}
        if self.versus in ("ttft", "tpot"):
            f = self.factor(t)
            for w in doc["workloads"]:
                w["slo"][self.key] = self.base[w["id"]] * f
                targets[w["id"]] = w["slo"][self.key]
            x = next(iter(targets.values())) if self.single else f
        else:
            L = self.level(t)
            for w in doc["workloads"]:
                q = w.get("quality")
                if t == 0:      # the problem as written: a workload without a target keeps none (QA)
                    pass
                elif q is None:
                    w["quality"] = {"min_score": L}
                else:
                    q["min_score"] = max(float(q["min_score"]), L)
                targets[w["id"]] = (w.get("quality") or {}).get("min_score")
            x = L
        return doc, targets, x

    @property
    def x_label(self) -> str:
        if self.versus in ("ttft", "tpot"):
            name = self.versus.upper()
            return f"{name} target, ms" if self.single else f"{name} targets, x problem's"
        return "quality min_score"

    @property
    def tighter(self) -> str:
        return "higher" if self.versus == "quality" else "lower"


# ---------------------------------------------------------------------- solving
@dataclass
class _Result:
    loaded: object
    solved: object
    plan: dict

    @property
    def feasible(self) -> bool:
        return self.plan.get("status") in HAS_PLAN


def _solve_doc(doc: dict, file: str, overlays, opts: SolveOptions, *,
               base: bool = False) -> Optional[_Result]:
    """Solve an edited document; None when the edit makes the problem invalid (e.g. a quality
    target above every allowed model).  The ``base`` point (the problem as written) raises the
    InputError instead: its issues say what is wrong (QA: a missing overlay read "the problem is
    invalid")."""
    from solver.mip.pipeline import solve_problem
    try:
        loaded = validate_edited(doc, file, overlays=overlays)
    except InputError:
        if base:
            raise
        return None
    solved = solve_problem(loaded, **opts.kwargs())
    if solved.plan.status == "error" and not base:
        # a solver failure, or the time limit before any plan: exit 5 (was bad input, exit 2); the
        # base point's is raised by pareto_front as NoStartingPlan, also exit 5
        raise SolveFailed(f"{file}: a point of the front has no plan: the solver failed: {solved.plan.message}"
                          + ("" if "--time-limit" in solved.plan.message else f"; {RAISE_TIME_LIMIT}"))
    return _Result(loaded, solved, solved.plan.to_dict())


def _bisect(feasible: Callable[[float], bool]) -> float:
    """Largest t in [0, 1] with feasible(t), assuming feasible(0) and monotone feasibility."""
    if feasible(1.0):
        return 1.0
    lo, hi = 0.0, 1.0
    for _ in range(BISECT_STEPS):
        mid = (lo + hi) / 2.0
        if feasible(mid):
            lo = mid
        else:
            hi = mid
    return lo


def _verify(loaded, plan: dict) -> list[str]:
    from solver.verify import verify_plan
    rep = verify_plan(loaded.problem, loaded.catalog, plan)
    return [v.format() for v in rep.violations]


def _point(i: int, x: float, knob: float, targets: dict, plan: dict,
           violations: Optional[list]) -> ParetoPoint:
    has = plan.get("status") in HAS_PLAN
    obj = plan.get("objective") or {}
    tot = plan.get("totals") or {}
    return ParetoPoint(
        index=i, x=float(x), knob=float(knob), targets=targets, status=plan.get("status"),
        total_usd=obj.get("total") if has else None,
        usd_per_month=obj.get("usd_per_month") if has else None,
        co2_kg=tot.get("co2_kg") if has else None, devices=tot.get("devices") if has else None,
        mix=fleet_mix(plan) if has else "-",
        verified=None if violations is None else not violations,
        violations=list(violations or []), plan=plan,
        gap=(plan.get("solver") or {}).get("gap") if has else None)


def _cost_tol(a: ParetoPoint, b: ParetoPoint) -> float:
    """Costs of two points closer than this are equal: both solves are optimal within their gaps."""
    gap = max(float((a.plan.get("solver") or {}).get("mip_gap") or 0.0),
              float((b.plan.get("solver") or {}).get("mip_gap") or 0.0))
    return (gap + 1e-9) * max(abs(a.total_usd), abs(b.total_usd), 1.0)


def _co2_axis(points: Sequence[ParetoPoint], versus: str) -> bool:
    return versus == "carbon" and all(p.co2_kg is not None for p in points if p.total_usd is not None)


def mark_dominated(points: Sequence[ParetoPoint], versus: str) -> None:
    """Set each point's ``on_front`` and ``dominated_by``.

    Point q weakly dominates p when q is at least as tight on the axis drawn (the target; carbon:
    the plan's own CO2) and costs no more, within the MIP gap.  Equal on both counts is a duplicate
    (carbon: one plan found under several caps), reported once: the first in the order below keeps
    its place, the others name it (QA s21: five front points for two plans).
    "Within the gap" is not transitive (QA: four points each 0.6% dearer than the next, gap 1%,
    all fell to the tightest, 1.8% dearer than the loosest): points are taken from the tightest
    to the loosest and p is compared with the points already on the front only, so the point
    that dominates it is on the front and within the gap of p itself.  ``dominated_by`` names the
    tightest such point (the cheapest among equals).  Points without a plan are on no front (None).
    """
    co2 = _co2_axis(points, versus)
    sign = -1.0 if versus == "quality" else 1.0     # as "lower is tighter"

    def axis(p):
        return sign * (p.co2_kg if co2 else p.x)

    for p in points:
        p.on_front, p.dominated_by = None, None
    priced = [p for p in points if p.total_usd is not None]
    front: list = []
    for p in sorted(priced, key=lambda p: (axis(p), p.total_usd, p.index)):
        best = None
        for q in front:
            eps = 1e-9 * max(abs(axis(p)), abs(axis(q)))
            tol = _cost_tol(p, q)
            if axis(q) <= axis(p) + eps and q.total_usd <= p.total_usd + tol:
                if best is None or (axis(q), q.total_usd) < (axis(best), best.total_usd):
                    best = q
        p.on_front = best is None
        p.dominated_by = None if best is None else best.index
        if best is None:
            front.append(p)


def check_monotone(points: Sequence[ParetoPoint]) -> list[str]:
    """Pairs where a tighter point costs less than a looser one beyond the MIP gap."""
    issues = []
    last = None
    for p in points:
        if p.total_usd is None:
            continue
        if last is not None:
            if p.total_usd < last.total_usd - _cost_tol(last, p):
                issues.append(f"point {p.index} costs {p.total_usd:.6g} < point {last.index} "
                              f"{last.total_usd:.6g}")
        last = p
    return issues


def pareto_front(loaded, versus: str, *, points: int = 8, options: SolveOptions = SolveOptions(),
                 overlays: Optional[Sequence[str]] = None, verify: bool = True) -> ParetoFront:
    """The cost front of ``loaded`` against ``versus`` with ``points`` points, tightest last.

    ``overlays``: catalog overlay files to solve every point with; by default the ones ``loaded``
    was loaded with, so that point 0 is ``solve_problem(loaded)``.
    """
    loaded = require_loaded(loaded, "pareto_front")
    # any case, as solver names (QA s21: "TTFT" refused, "ttfft" without a suggestion)
    if not isinstance(versus, str) or versus.lower() not in VERSUS:
        close = did_you_mean(str(versus), VERSUS) if isinstance(versus, str) else []
        raise InputError(InputIssue(f"versus (--versus): unknown {versus!r}",
                                    hint=(f"did you mean {' or '.join(repr(c) for c in close)}? " if close else "")
                                    + f"use one of {', '.join(VERSUS)}"))
    versus = versus.lower()
    if isinstance(points, bool) or not isinstance(points, int) or points < 2:
        raise InputError(InputIssue(f"points (--points): a front needs a whole number of at least 2 "
                                    f"points, got {points!r}", hint="e.g. 8"))
    if points > MAX_POINTS:
        raise InputError(InputIssue(f"points (--points): {points:,} points, at most {MAX_POINTS} (each is "
                                    "one or more solves)", hint="e.g. 8; 20-30 draw a smooth front"))
    require_options(options, "pareto_front").check()
    t0 = time.perf_counter()
    overlays = caller_overlays(loaded, overlays)
    if versus == "carbon":
        if overlays != tuple(getattr(loaded, "overlays", ())):
            # other overlays than loaded's: its catalog is not the one asked for (QA: ignored)
            loaded = replace(validate_edited(base_document(loaded), loaded.file, overlays=overlays),
                             scenario=loaded.scenario)
        return _carbon_front(loaded, points, options, verify, t0)
    doc = base_document(loaded)
    knob = _Knob(versus, doc, loaded.catalog)
    memo: dict[float, Optional[_Result]] = {}
    solves = 0

    def run(t: float) -> Optional[_Result]:
        nonlocal solves
        if t not in memo:
            d, _, _ = knob.apply(t)
            memo[t] = _solve_doc(d, loaded.file, overlays, options, base=t == 0.0)
            solves += 1
        return memo[t]

    def feasible(t: float) -> bool:
        r = run(t)
        return r is not None and r.feasible

    if not feasible(0.0):
        r = memo[0.0]
        why = r.plan.get("message")
        infeasible = r.plan.get("status") == "infeasible"
        raise NoStartingPlan(InputIssue(f"the problem as written has no plan ({why}); a front starts "
                                        "from a solvable problem", file=loaded.file,
                                        hint="`fleetopt solve` it first, or `fleetopt explain` it" if infeasible
                                        else RAISE_TIME_LIMIT),
                             infeasible=infeasible)
    t_max = _bisect(feasible)
    if versus in ("ttft", "tpot"):
        # geometric factors (1, r, r^2, ... f_min): latency costs bite near the edge, where
        # evenly spaced targets would leave one point; the end points are exactly 0 and t_max
        f_min = knob.factor(t_max)
        ts = [0.0] + [(1.0 - f_min ** (i / (points - 1))) / (1.0 - MIN_FACTOR)
                      for i in range(1, points - 1)] + [t_max]
    else:
        ts = [float(t) for t in np.linspace(0.0, t_max, points)]
    pts = []
    for i, t in enumerate(ts):
        r = run(t)
        d, targets, x = knob.apply(t)
        if r is None:  # cannot happen below t_max; kept as an honest row if it does
            pts.append(ParetoPoint(i, x, t, targets, "invalid", None, None, None, None, "-", None))
            continue
        viol = _verify(r.loaded, r.plan) if verify and r.feasible else None
        pts.append(_point(i, x, t, targets, r.plan, viol))
    issues = check_monotone(pts)
    if versus in ("ttft", "tpot"):
        note = (f"tightest feasible: x{knob.factor(t_max):.4f} of the problem's {versus.upper()} "
                f"targets (bisection, {BISECT_STEPS} steps)")
        fixed = sorted({m.workload for m in loaded.problem.measurements
                        if m.workload is not None and getattr(m, f"{versus}_slo_ms") is None})
        if fixed:   # QA: such a rate held at a 1 ms TTFT, every point "verified"
            note += (f"; measured rates of {', '.join(fixed)} hold whatever the {versus.upper()} target "
                     f"(no {versus}_slo_ms): the front does not tighten them")
    else:
        note = f"tightest feasible quality level: {knob.level(t_max):.4g}"
    return ParetoFront(problem=loaded.problem.name, file=loaded.file, versus=versus,
                       x_label=knob.x_label, tighter=knob.tighter, points=pts,
                       monotone=not issues, monotone_issues=issues,
                       seconds=time.perf_counter() - t0, solves=solves, note=note,
                       scenario=loaded.scenario)


# ---------------------------------------------------------------------- carbon
def co2_vector(k, model) -> np.ndarray:
    """Per-variable kg CO2 over the horizon, so that CO2 = co2_vector @ values.

    Watts of each term (:func:`solver.mip.formulation.power_terms_w`) x PUE x
    grid intensity (g/kWh) x hours / 1e6, the same arithmetic as the plan's
    ``totals.co2_kg`` and the verifier's recomputation.
    """
    from types import SimpleNamespace

    from solver.mip.formulation import power_terms_w
    B = model.blocks
    v = SimpleNamespace(y=B["y"], n=B["n"], x=B["x"])
    cols, watts, off = power_terms_w(k, v)
    kg_per_w = k.offer_array("pue") * k.offer_array("carbon_g_per_kwh") * k.hours / 1e6
    vec = np.zeros(model.n_vars)
    np.add.at(vec, cols, watts * kg_per_w[off])
    return vec


def with_row(model, cols: np.ndarray, vals: np.ndarray, sense: str, rhs: float, name: str):
    """A copy of ``model`` with one more constraint row (the model itself is left unchanged)."""
    keep = vals != 0
    cols, vals = np.asarray(cols)[keep], np.asarray(vals, float)[keep]
    order = np.argsort(cols, kind="stable")
    return replace(
        model,
        indptr=np.concatenate([model.indptr, [model.indptr[-1] + len(cols)]]).astype(np.int64),
        indices=np.concatenate([model.indices, cols[order]]).astype(np.int64),
        data=np.concatenate([model.data, vals[order]]),
        sense=np.concatenate([model.sense, np.array([sense], dtype="<U1")]),
        rhs=np.concatenate([model.rhs, [float(rhs)]]),
        row_names=list(model.row_names) + [name],
        row_family=np.concatenate([model.row_family, np.array([name.split("[")[0]], dtype=object)]))


def _carbon_front(loaded, points: int, options: SolveOptions, verify: bool, t0: float) -> ParetoFront:
    from solver.coefficients import build_coefficients
    from solver.mip.backends import solve_logged
    from solver.mip.formulation import build_model
    from solver.mip.pipeline import unservable_message
    from solver.mip.pipeline import checked
    from solver.plan import build_plan

    p = loaded.problem
    if p.objective.periods is not None:
        raise InputError(InputIssue("--versus carbon handles single-period problems only", path="objective.periods",
                                    file=loaded.file,
                                    hint="use --versus ttft, tpot or quality, or `fleetopt sweep` over "
                                         "objective.carbon_usd_per_tonne"))
    so = p.solver
    backend = options.backend or so.backend
    name = options.solver or (so.solver if backend == so.backend else None)
    tl = options.time_limit_s if options.time_limit_s is not None else so.time_limit_s
    gap = options.mip_gap if options.mip_gap is not None else so.mip_gap
    threads = options.threads or so.threads
    k = build_coefficients(p, loaded.catalog)
    model = build_model(k)
    msg = unservable_message(k)
    if msg is not None:
        raise NoStartingPlan(InputIssue(f"the problem as written has no plan: {msg}", file=loaded.file,
                                        hint="`fleetopt explain` it"), infeasible=True)
    co2 = co2_vector(k, model)
    solves = 0

    def run(m):
        nonlocal solves
        solves += 1
        return solve_logged(f"carbon front, solve {solves}", m, backend, name, time_limit_s=tl, mip_gap=gap,
                            threads=threads)

    res_cost = run(model)
    if not res_cost.has_plan:
        infeasible = res_cost.status == "infeasible"
        raise NoStartingPlan(InputIssue(f"the problem as written has no plan ({res_cost.status}: "
                                        f"{res_cost.message})", file=loaded.file,
                                        hint="`fleetopt solve` it first" if infeasible else RAISE_TIME_LIMIT),
                             infeasible=infeasible)
    def plan_of(m, res) -> dict:
        return build_plan(p, k, m, checked(m, res, time_left_s=0.0, mip_gap=gap), scenario=loaded.scenario,
                          time_limit_s=tl, mip_gap=gap).to_dict()

    cheapest = plan_of(model, res_cost)
    # E_max is the CO2 of the plan reported as point 0, not of the solver's raw values: tidying them
    # into a plan (idle replicas dropped, routing re-solved) can lower it (QA s21: "3.072 t (cheapest
    # plan)" beside that plan's own 2.98 t)
    plan_co2 = (cheapest.get("totals") or {}).get("co2_kg") if cheapest.get("status") in HAS_PLAN else None
    e_max = float(co2 @ res_cost.values if plan_co2 is None else plan_co2)
    res_min = run(replace(model, obj=co2, obj_parts={"co2_kg": co2}, obj_const=0.0))
    if not res_min.has_plan:   # the cost solve's plan is one: a solver failure or the time limit (exit 5)
        raise SolveFailed(f"{loaded.file}: the lowest-CO2 solve failed ({res_min.status}: {res_min.message})"
                          + ("" if "--time-limit" in res_min.message else f"; {RAISE_TIME_LIMIT}"))
    e_min = min(float(co2 @ res_min.values), e_max)
    pts = []
    # within a part per million: the plan's CO2 is a sum of figures rounded to 9 digits, E_min the
    # solver's raw value
    flat = math.isclose(e_max, e_min, rel_tol=1e-6, abs_tol=1e-3)
    for i, eps in enumerate([e_max] if flat else np.linspace(e_max, e_min, points)):
        eps = float(eps)
        # Every cap is >= E_min, so a plan exists.  CBC's tolerances can still call a cap that
        # sits right at a solution infeasible: loosen it by a few parts per million, recorded.
        if i == 0:
            plan, cap = cheapest, eps * (1.0 + CAP_SLACK)
        else:
            for rel in (CAP_SLACK, 1e-6, 1e-5):
                cap = eps * (1.0 + rel)
                m = with_row(model, np.arange(model.n_vars), co2, "<", cap, "pareto.co2_cap[kg]")
                res = run(m)
                if res.status != "infeasible":
                    break
            plan = plan_of(m, res)
        viol = None
        if verify and plan.get("status") in HAS_PLAN:
            from solver.verify import verify_plan
            rep = verify_plan(p, loaded.catalog, plan)
            viol = [v.format() for v in rep.violations]
            got = rep.recomputed.get("co2_kg", 0.0)
            if got > cap * (1 + 1e-6) + 1e-3:
                viol.append(f"[co2_cap] plan: recomputed CO2 {got:.6g} kg exceeds the cap "
                            f"{cap:.6g} kg")
        pts.append(_point(i, eps / 1000.0, i / max(points - 1, 1), {"co2_cap_kg": cap}, plan, viol))
    issues = check_monotone(pts)
    note = (f"CO2 range: {e_max / 1000:.4g} t (cheapest plan) down to {e_min / 1000:.4g} t "
            "(lowest-CO2 plan), epsilon-constraint on the plan's CO2 expression")
    if flat:
        note += "; the cheapest plan already has the lowest CO2: the front is one point"
    return ParetoFront(problem=p.name, file=loaded.file, versus="carbon",
                       x_label="CO2 cap, tonnes over the horizon", tighter="lower", points=pts,
                       monotone=not issues, monotone_issues=issues,
                       seconds=time.perf_counter() - t0, solves=solves, note=note,
                       scenario=loaded.scenario)
