"""Pictures of a plan: cost breakdown, fleet composition, utilisation, routing.

Everything here reads the plan's dict form (what ``fleetopt solve --json``
writes), so pictures can be made from a saved plan without solving again.
Plans may be partial (an infeasible run, a hand-edited or older file): every
field is read defensively and a picture whose data is missing is simply not
made (its function returns None) instead of crashing the report.

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas
directly, never through ``pyplot``: no global state, no GUI, nothing shown.
They show as a notebook cell's result all the same (:class:`PlotFigure`).
PNG output is deterministic (fixed size and dpi, no software/time metadata),
so the same plan gives byte-identical images.
"""

from __future__ import annotations

import functools
import io
import math
import numbers
from typing import Any, Iterable, Optional

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import offset_copy

from solver.plan import plan_dict, rnd
from solver.report import PART_LABELS, money_text, number_text, serving_utilization

#: Size and resolution of every figure (inches, dots per inch): 960 x 480 px.
FIG_SIZE_IN = (9.6, 4.8)
FIG_DPI = 100

#: Cost parts in the order the optimiser reports them, with readable labels.

#: Colour-blind-safe palette (Okabe-Ito), assigned in sorted order for stable colours.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#000000", "#999999", "#882255", "#44AA99", "#117733")

HOURS_PER_MONTH = 730.0


# ---------------------------------------------------------------- defensive readers
def num(x: Any) -> Optional[float]:
    """A finite float, or None for anything else (missing, text, NaN, bool)."""
    if isinstance(x, bool) or x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError, OverflowError):
        return None
    return v if math.isfinite(v) else None


def as_dict(x: Any) -> dict:
    return x if isinstance(x, dict) else {}


def as_list(x: Any) -> list:
    """The dict elements of a list (anything else is dropped)."""
    return [e for e in x if isinstance(e, dict)] if isinstance(x, list) else []


def text(x: Any, default: str = "?") -> str:
    return default if x is None else str(x)


def acquisition_label(row: dict) -> str:
    """'existing' for devices already owned, else the acquisition mode."""
    return "existing" if row.get("existing") is True else text(row.get("acquisition"))


def over_ceiling(utilization: float, ceiling: float) -> bool:
    """Above the ceiling by more than the solver's feasibility tolerance (1e-6 relative)."""
    return utilization > ceiling * (1.0 + 1e-6)


def deployment_label(d: dict) -> str:
    """Short, readable name of a deployment: model/quant/tpN on accelerator@region (acquisition)."""
    return (f"{text(d.get('model'))}/{text(d.get('quantization'))}/tp{text(d.get('tensor_parallel'))}"
            f" on {text(d.get('accelerator'))}@{text(d.get('region'))} ({acquisition_label(d)})")


def deployment_labels(plan: dict) -> dict[str, str]:
    """Deployment id -> short label; ids whose short label repeats keep a #n suffix."""
    deps = as_list(plan.get("deployments"))
    labels: dict[str, str] = {}
    seen: dict[str, int] = {}
    for d in deps:
        did = text(d.get("id"), "")
        lab = deployment_label(d)
        seen[lab] = seen.get(lab, 0) + 1
        if seen[lab] > 1:
            lab = f"{lab} #{seen[lab]}"
        if did:
            labels[did] = lab
    return labels


# ---------------------------------------------------------------- statistics
def fleet_usd_per_million_tokens(kpis: list, after_horizon: bool = False) -> Optional[float]:
    """The fleet's cost within the horizon per million output tokens: the workloads' figures weighted
    by their tokens (sum of usd_per_M x tokens_M / sum of tokens_M), each counted as its own is.

    A plan written before ``output_tokens_millions`` existed: a workload's tokens are its ``usd`` /
    its cost per token, which holds unless a reservation runs past the horizon (``after_horizon``:
    then ``usd`` holds the whole term, the cost per token only the horizon's part, and the figure
    cannot be rebuilt: None)."""
    pairs = [(num(k.get("usd_per_million_output_tokens")), num(k.get("output_tokens_millions"))) for k in kpis]
    if not pairs or any(p is None for p, _ in pairs):
        return None
    if all(t is not None for _, t in pairs):
        tokens = sum(t for _, t in pairs)
        return sum(p * t for p, t in pairs) / tokens if tokens > 0 else None
    usd = [num(k.get("usd")) for k in kpis]
    if after_horizon or any(t is not None for _, t in pairs) or None in usd or not all(p for p, _ in pairs):
        return None
    tokens = sum(u / p * 1e6 for u, (p, _) in zip(usd, pairs))
    return sum(usd) / tokens * 1e6 if tokens > 0 else None


#: significant digits of the values :func:`statistics` returns
STAT_DIGITS = 12


def statistics(plan: dict, max_utilization: Optional[float] = None) -> list[dict]:
    """Headline numbers of a plan as rows {"name", "value", "unit", "note"}.

    Only numbers the plan supports are listed.  Derived ones:

    * cost per month = total / (horizon hours / 730);
    * a multi-period plan's total is the objective: discounted, reservations over their whole
      term, retirements' resale credit included (the text report and the HTML say so too), not
      the sum of the periods' accrued costs;
    * utilisation per serving replica (spares excluded: the share ``fleet.max_utilization`` bounds),
      mean weighted by serving replicas;
    * fleet $ per million output tokens: :func:`fleet_usd_per_million_tokens` (cost within the
      horizon, as each workload's figure).

    ``max_utilization`` (the problem's ``fleet.max_utilization``, or None) only labels the
    maximum's row.  Values are rounded to :data:`STAT_DIGITS` significant digits: float noise
    goes (QA s21: 0.8000000000000002 for a plan's 0.8), nothing the plan's 9 digits carry does.
    """
    plan = plan_dict(plan, "statistics")
    if max_utilization is not None:
        # checked here, not deep in a format string (QA s21: "0.8" raised "Unknown format code 'g'")
        if isinstance(max_utilization, bool) or not isinstance(max_utilization, numbers.Real):
            raise TypeError(f"statistics: max_utilization must be a number, the problem's "
                            f"fleet.max_utilization (e.g. 0.85), or None; got {max_utilization!r} "
                            f"({type(max_utilization).__name__})")
        if not 0 < max_utilization <= 1:
            raise ValueError(f"statistics: max_utilization is a fraction in (0, 1] (0.85 for 85 %), "
                             f"got {max_utilization!r}")
    obj = as_dict(plan.get("objective"))
    deps = as_list(plan.get("deployments"))
    procs = as_list(plan.get("procurement"))
    kpis = as_list(plan.get("kpis"))
    totals = as_dict(plan.get("totals"))
    sol = as_dict(plan.get("solver"))
    cur = text(obj.get("currency"), "USD")
    rows: list[dict] = []

    def add(name: str, value: Any, unit: str, note: str = "") -> None:
        if isinstance(value, float):
            value = rnd(value, STAT_DIGITS)
        if value is not None:
            rows.append({"name": name, "value": value, "unit": unit, "note": note})

    total = num(obj.get("total"))
    hours = num(obj.get("horizon_hours"))
    after = sum((num(v) or 0.0) for v in as_dict(obj.get("after_horizon_usd")).values())
    if as_dict(plan.get("periods")).get("timeline"):
        credit = (num(as_dict(obj.get("breakdown")).get("retirement")) or 0.0) < 0
        add("total cost", total, cur, "discounted over the planning horizon, reservations over their term"
            + ("; includes the resale credit of retired devices" if credit else ""))
        per_month_note = "the discounted total, 730 h per month"
    else:
        add("total cost", total, cur, "over the planning horizon"
            + (f", of which {after:,.0f} reservations pay after it" if after > 0 else ""))
        per_month_note = "what a month of the horizon pays, 730 h per month"
    add("horizon", hours, "h")
    per_month = num(obj.get("usd_per_month"))
    if per_month is None and total is not None and hours:
        per_month = total / (hours / HOURS_PER_MONTH)      # plans written before usd_per_month existed
    if per_month is not None:
        add("cost per month", per_month, f"{cur}/month", per_month_note)
    devices = num(totals.get("devices"))
    if devices is None and procs:
        vals = [num(p.get("devices")) for p in procs]
        devices = sum(vals) if None not in vals else None
    add("devices", devices, "devices", "procured or existing")
    reps = [(num(d.get("replicas")), num(d.get("utilization"))) for d in deps]
    n_rep = [r for r, _ in reps if r is not None]
    # per serving replica (spares excluded), the share max_utilization bounds
    serving = [(r - (num(d.get("spare_replicas")) or 0.0), serving_utilization(d)) for d, (r, _) in zip(deps, reps)
               if r is not None]
    add("deployments", len(deps) if deps else None, "deployments")
    add("replicas", sum(n_rep) if n_rep else None, "replicas")
    demand = [num(k.get("requests_per_s")) for k in kpis]
    if kpis and None not in demand:
        add("demand", sum(demand), "requests/s", f"{len(kpis)} workload{'' if len(kpis) == 1 else 's'}")
    both = [(r, u) for r, u in serving if r > 0 and u is not None]
    if both and sum(r for r, _ in both) > 0:
        add("utilisation, mean", sum(r * u for r, u in both) / sum(r for r, _ in both), "fraction",
            "serving-replica-weighted (spares excluded), at planned peak load")
        add("utilisation, max", max(u for _, u in both), "fraction",
            "" if max_utilization is None else f"ceiling {max_utilization:g}")
    per_tok = fleet_usd_per_million_tokens(kpis, after_horizon=after > 0)
    if per_tok is not None:
        add("cost per million output tokens", per_tok, f"{cur}/M tokens",
            "all workloads, cost within the horizon")
    add("energy", num(totals.get("energy_kwh")), "kWh", "facility, over the horizon")
    co2 = num(totals.get("co2_kg"))
    add("CO2", co2, "kg")
    add("capex", num(totals.get("capex_usd")), cur, "purchases counted against the budget")
    add("solver time", num(sol.get("seconds")), "s",
        "/".join(text(sol.get(k), "") for k in ("backend", "name") if sol.get(k)))
    add("MIP gap", num(sol.get("gap")), "fraction")
    return rows


# ---------------------------------------------------------------- figures
def _plain_text(build):
    """Build a figure with literal text: a '$' in a name or price never starts math mode."""
    @functools.wraps(build)
    def wrapped(*args, **kwargs):
        with matplotlib.rc_context({"text.parse_math": False}):
            return build(*args, **kwargs)
    return wrapped


class PlotFigure(Figure):
    """A Figure that shows itself as a Jupyter cell's result.

    IPython shows a plain Figure only once pyplot's inline backend has registered a printer for
    it (``%matplotlib inline``, or importing pyplot in the kernel); ours never touch pyplot, so a
    fresh kernel printed ``<Figure size 960x480 with 1 Axes>``.  ``_repr_png_`` is what IPython
    falls back to; where the inline printer is registered, it is used instead (shown once).
    """

    def _repr_png_(self) -> bytes:
        return png_bytes(self)


#: Inches per bar row (horizontal bars) or column (vertical bars), per legend line, and the
#: largest figure side: a figure grows with its bars so that labels never overlap (QA: 48 workloads'
#: names and "N req/s" labels overlapped in the fixed 4.8-inch routing figure)
ROW_IN, COLUMN_IN, LEGEND_LINE_IN, MAX_SIDE_IN = 0.3, 0.9, 0.2, 60.0


def _figure(rows: int = 0, columns: int = 0, legend_lines: int = 0) -> Figure:
    """A figure of :data:`FIG_SIZE_IN`, taller for many bar rows (and legend lines below the axes),
    wider for many bar columns."""
    w, h = FIG_SIZE_IN
    w = min(max(w, 1.0 + COLUMN_IN * columns), MAX_SIDE_IN)
    h = min(max(h, 1.4 + ROW_IN * rows + LEGEND_LINE_IN * legend_lines), MAX_SIDE_IN)
    fig = PlotFigure(figsize=(w, h), dpi=FIG_DPI)
    FigureCanvasAgg(fig)
    return fig


def _legend_below(ax, **kw) -> None:
    """The legend under the x axis label, a fixed distance below the axes (a fraction of the axes'
    height would leave a gap that grows with the figure)."""
    below = offset_copy(ax.transAxes, fig=ax.figure, y=-0.55, units="inches")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), bbox_transform=below, frameon=False, **kw)


def _colours(keys: Iterable[str]) -> dict[str, str]:
    return {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(sorted(set(keys)))}


@_plain_text
def cost_breakdown_figure(plan: dict) -> Optional[Figure]:
    """Horizontal bars: each non-zero cost part over the horizon, labelled with its value."""
    plan = plan_dict(plan, "cost_breakdown_figure")
    obj = as_dict(plan.get("objective"))
    bd = as_dict(obj.get("breakdown"))
    order = list(PART_LABELS) + sorted(k for k in bd if k not in PART_LABELS)
    parts = [(p, num(bd.get(p))) for p in order if p in bd]
    parts = [(p, v) for p, v in parts if v]
    if not parts:
        return None
    cur = text(obj.get("currency"), "USD")
    hours = num(obj.get("horizon_hours"))
    fig = _figure()
    ax = fig.add_subplot()
    labels = [PART_LABELS.get(p, p) for p, _ in parts]
    values = [v for _, v in parts]
    ypos = list(range(len(parts)))[::-1]  # first part on top
    bars = ax.barh(ypos, values, color=PALETTE[0])
    ax.set_yticks(ypos, labels)
    ax.bar_label(bars, labels=[money_text(v, cur) for v in values], padding=3)
    ax.set_xlabel(f"cost over the horizon ({cur})")
    total = num(obj.get("total"))
    title = "Cost breakdown"
    if total is not None:
        title += f": total {money_text(total, cur)}"
    if hours:
        title += f" over {hours:,.0f} h"
    ax.set_title(title)
    ax.margins(x=0.18)
    ax.xaxis.set_major_formatter(lambda x, _pos: f"{x:,.0f}")
    fig.tight_layout()
    return fig


def composition_rows(plan: dict) -> list[dict]:
    """Devices by (accelerator, region, acquisition), summed; from procurement, else deployments."""
    src = as_list(plan.get("procurement"))
    key = "devices"
    if not src:
        src, key = as_list(plan.get("deployments")), "accelerators"
    agg: dict[tuple, float] = {}
    for r in src:
        n = num(r.get(key))
        if n is None or n <= 0:
            continue
        k = (text(r.get("accelerator")), text(r.get("region")), acquisition_label(r))
        agg[k] = agg.get(k, 0.0) + n
    return [{"accelerator": a, "region": g, "acquisition": q, "devices": n}
            for (a, g, q), n in sorted(agg.items())]


@_plain_text
def fleet_composition_figure(plan: dict) -> Optional[Figure]:
    """Stacked bars: devices per accelerator@region, stacked by acquisition."""
    plan = plan_dict(plan, "fleet_composition_figure")
    rows = composition_rows(plan)
    if not rows:
        return None
    groups = sorted({(r["accelerator"], r["region"]) for r in rows})
    acqs = sorted({r["acquisition"] for r in rows})
    col = _colours(acqs)
    fig = _figure(columns=len(groups))
    ax = fig.add_subplot()
    x = list(range(len(groups)))
    bottom = [0.0] * len(groups)
    for q in acqs:
        h = [sum(r["devices"] for r in rows if (r["accelerator"], r["region"]) == g
                 and r["acquisition"] == q) for g in groups]
        ax.bar(x, h, bottom=bottom, color=col[q], label=q, width=0.6)
        bottom = [b + v for b, v in zip(bottom, h)]
    for xi, top in zip(x, bottom):
        ax.annotate(f"{top:g}", (xi, top), ha="center", va="bottom", xytext=(0, 2),
                    textcoords="offset points")
    ax.set_xticks(x, [f"{a}\n{g}" for a, g in groups])
    ax.set_ylabel("devices (accelerators)")
    ax.set_title(f"Fleet composition: {sum(bottom):g} devices")
    ax.legend(title="acquisition", loc="upper right", fontsize="small")
    ax.margins(y=0.15)
    fig.tight_layout()
    return fig


@_plain_text
def utilisation_figure(plan: dict, max_utilization: Optional[float] = None) -> Optional[Figure]:
    """Bars: planned peak utilisation per deployment (%), with the ceiling as a dashed line."""
    plan = plan_dict(plan, "utilisation_figure")
    deps = as_list(plan.get("deployments"))
    labels = deployment_labels(plan)
    rows = []
    for d in deps:
        u = serving_utilization(d)
        if u is None:
            continue
        lab = labels.get(text(d.get("id"), ""), deployment_label(d))
        n, spare = num(d.get("replicas")), num(d.get("spare_replicas")) or 0.0
        rows.append((lab, u * 100.0, None if n is None else n - spare, spare))
    if not rows:
        return None
    ceiling = num(max_utilization)
    fig = _figure(rows=len(rows), legend_lines=2 if ceiling is not None else 0)
    ax = fig.add_subplot()
    ypos = list(range(len(rows)))[::-1]
    over = [ceiling is not None and over_ceiling(u / 100.0, ceiling) for _, u, _, _ in rows]
    bars = ax.barh(ypos, [u for _, u, _, _ in rows],
                   color=[PALETTE[5] if o else PALETTE[2] for o in over])
    ax.bar_label(bars, labels=[f"{u:.0f}%" + (f" x{r:g}" if r is not None else "")
                               + (f" +{sp:g} spare" if sp else "") for _, u, r, sp in rows], padding=3)
    ax.set_yticks(ypos, [lab for lab, _, _, _ in rows], fontsize="small")
    if ceiling is not None:
        ax.axvline(ceiling * 100.0, color="black", linestyle="--", linewidth=1,
                   label=f"ceiling {ceiling * 100:.0f}% (fleet.max_utilization)")
        _legend_below(ax, fontsize="small")
    ax.set_xlim(0, max([110.0] + [u * 1.1 for _, u, _, _ in rows]))
    ax.set_xlabel("planned peak utilisation per serving replica (%)")
    ax.set_title("Utilisation per deployment (label: utilisation x serving replicas)")
    fig.tight_layout()
    return fig


@_plain_text
def routing_figure(plan: dict) -> Optional[Figure]:
    """Stacked horizontal bars: requests/s of each workload, split by deployment."""
    plan = plan_dict(plan, "routing_figure")
    routes = as_list(plan.get("routing"))
    labels = deployment_labels(plan)
    flows: dict[tuple[str, str], float] = {}
    for r in routes:
        v = num(r.get("requests_per_s"))
        if v is None or v <= 0:
            continue
        w = text(r.get("workload"))
        dep = text(r.get("deployment"))
        k = (w, labels.get(dep, dep))
        flows[k] = flows.get(k, 0.0) + v
    if not flows:
        return None
    workloads = sorted({w for w, _ in flows})
    deps = sorted({d for _, d in flows})
    col = _colours(deps)
    ncol = 2 if len(deps) > 3 else 1
    fig = _figure(rows=len(workloads), legend_lines=2 + -(-len(deps) // ncol))
    ax = fig.add_subplot()
    ypos = list(range(len(workloads)))[::-1]
    left = [0.0] * len(workloads)
    for d in deps:
        wv = [flows.get((w, d), 0.0) for w in workloads]
        ax.barh(ypos, wv, left=left, color=col[d], label=d, height=0.6)
        left = [a + b for a, b in zip(left, wv)]
    for y, tot in zip(ypos, left):
        ax.annotate(f"{number_text(tot)} req/s", (tot, y), va="center", xytext=(3, 0),
                    textcoords="offset points")
    ax.set_yticks(ypos, workloads)
    ax.set_xlabel("requests/s routed (planned peak)")
    ax.set_title("Routing: requests/s per workload, by deployment")
    # room for the "N req/s" labels: set, not ax.margins, which an empty segment of a later deployment at
    # the largest total pins to that total (QA s23: "30 req/s" outside the frame)
    ax.set_xlim(0, 1.15 * max(left))
    _legend_below(ax, title="deployment", fontsize="x-small", ncol=ncol)
    fig.tight_layout()
    return fig


#: Figure names (also the PNG file stems) and their builders.
FIGURES = ("cost_breakdown", "fleet_composition", "utilisation", "routing")
CAPTIONS = {
    "cost_breakdown": "Cost breakdown over the planning horizon",
    "fleet_composition": "Fleet composition: devices by accelerator, region and acquisition",
    "utilisation": "Planned peak utilisation per deployment against the ceiling",
    "routing": "Requests per second of each workload, split by deployment",
}


def figures(plan: dict, max_utilization: Optional[float] = None) -> dict[str, Figure]:
    """Every figure the plan has data for, by name (in :data:`FIGURES` order)."""
    plan = plan_dict(plan, "figures")
    made = {
        "cost_breakdown": cost_breakdown_figure(plan),
        "fleet_composition": fleet_composition_figure(plan),
        "utilisation": utilisation_figure(plan, max_utilization),
        "routing": routing_figure(plan),
    }
    return {k: f for k, f in made.items() if f is not None}


def png_bytes(fig: Figure) -> bytes:
    """PNG of a figure, byte-identical across runs (no software or time metadata)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=FIG_DPI, metadata={"Software": None})
    return buf.getvalue()


def figure_pngs(plan: dict, max_utilization: Optional[float] = None) -> dict[str, bytes]:
    """PNG bytes of every figure the plan has data for."""
    return {k: png_bytes(f) for k, f in figures(plan, max_utilization).items()}
