"""A plan as one self-contained HTML file: tables, embedded plots, inline CSS.

The file opens anywhere, offline: images are PNG ``data:`` URIs, styles are
inline, there are no scripts and no external URLs, and a Content-Security-Policy
forbids loading anything else.  Every piece of text from the plan is escaped
with :func:`html.escape` (workload or model names are user input).  Like
:mod:`solver.viz`, it reads the plan's dict form defensively: a part whose
data is missing is left out, never a crash.  Output is deterministic (no
timestamps), so the same plan gives the same file.
"""

from __future__ import annotations

import base64
import html
from typing import Any, Callable, Optional, Sequence

from solver import viz
from solver.plan import plan_dict
from solver.report import (CHANGE_TITLE, LATENCY_NOTE, _gap_text, after_horizon_note, against_target_texts,
                           change_tables, latency_meets, money_text, quality_meets,
                           number_text, owned_text, period_tables, plan_notes, rented_energy_note, retirement_note,
                           serving_utilization)
from solver.viz import as_dict, as_list, num, text

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em auto;
       max-width: 1100px; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f0f3f6; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td:first-child { white-space: nowrap; }
td.ok { background: #e3f4e8; }
td.miss { background: #fbe1e1; font-weight: bold; }
.status { display: inline-block; padding: 0.1em 0.6em; border-radius: 0.3em; font-weight: bold; }
.status.good { background: #e3f4e8; } .status.bad { background: #fbe1e1; }
.note { color: #555; font-size: 0.9em; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { color: #555; font-size: 0.9em; }
footer { margin-top: 2em; color: #777; font-size: 0.8em; }
"""

MISSING = "\u2013"  # en dash for a value the plan does not have
GOOD_STATUSES = ("optimal", "time_limit")


def esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


# ------------------------------------------------------------------ formatting
def fmt_money(x: Any, currency: str = "USD") -> str:
    """As the text report prints money ('-$39,730'), other currencies after the figure."""
    v = num(x)
    if v is None:
        return MISSING if x is None else str(x)
    return money_text(v, currency)


def fmt_num(x: Any, spec: str = ".4g") -> str:
    """As the text report prints numbers (thousands separators from 1,000 on, never '4e+04')."""
    v = num(x)
    if v is None:
        return MISSING if x is None else str(x)
    return number_text(v, spec)


def fmt_pct(x: Any, digits: int = 0) -> str:
    v = num(x)
    if v is None:
        return MISSING if x is None else str(x)
    return f"{v * 100:.{digits}f}%"


Cell = Any  # str, or (str, css class)


def table(table_id: str, headers: Sequence[str], rows: Sequence[Sequence[Cell]],
          numeric: Sequence[bool] = ()) -> str:
    """An HTML table; every cell text is escaped; (text, cls) cells get a class."""
    out = [f'<table id="{esc(table_id)}">', "<thead><tr>"]
    out += [f"<th>{esc(h)}</th>" for h in headers]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>")
        for i, cell in enumerate(row):
            cls = []
            if isinstance(cell, tuple):
                cell, extra = cell
                if extra:
                    cls.append(extra)
            if i < len(numeric) and numeric[i]:
                cls.append("n")
            attr = f' class="{esc(" ".join(cls))}"' if cls else ""
            out.append(f"<td{attr}>{esc(cell)}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _section(title: str, body: str, note: str = "") -> str:
    n = f'<p class="note">{esc(note)}</p>' if note else ""
    return f"<section><h2>{esc(title)}</h2>{n}{body}</section>"


def _check(value: Any, target: Any, ok: Callable[[float, float], bool], spec: str = ".4g",
           percentile: Any = None, higher_is_better: bool = False) -> Cell:
    """'value (target)' - 'value (target, p99)' with a percentile - coloured ok/miss when both are numbers."""
    v, t, p = num(value), num(target), num(percentile)
    v_txt, t_txt = fmt_num(value, spec), fmt_num(target, "g")
    if v is not None and t is not None:
        v_txt, t_txt = against_target_texts(v, t, ok(v, t), higher_is_better, spec)
    s = v_txt + (f" ({t_txt}" + (f", p{fmt_num(p, 'g')}" if p is not None else "") + ")"
                 if target is not None else "")
    if v is None or t is None:
        return s
    return (s, "ok" if ok(v, t) else "miss")


# ------------------------------------------------------------------ sections
def _summary(plan: dict, max_utilization: Optional[float]) -> str:
    rows = []
    for r in viz.statistics(plan, max_utilization):
        unit, value = r["unit"], r["value"]
        if r["name"] == "MIP gap":      # as the console writes it (QA: '0.0%' for 0.0001%)
            shown, unit = _gap_text(value), ""
        elif unit == "fraction":
            shown, unit = fmt_pct(value, 1), ""       # the value carries its % sign
        elif isinstance(value, float) and abs(value) >= 1000:
            shown = f"{value:,.0f}"
        elif isinstance(value, float):
            shown = f"{value:.4g}"
        else:
            shown = str(value)
        rows.append([r["name"], shown, unit, r["note"]])
    return table("summary", ["quantity", "value", "unit", "note"], rows, [False, True])


def _costs(plan: dict) -> str:
    obj = as_dict(plan.get("objective"))
    bd = as_dict(obj.get("breakdown"))
    cur = text(obj.get("currency"), "USD")
    hours = num(obj.get("horizon_hours"))
    months = hours / viz.HOURS_PER_MONTH if hours else None
    total = num(obj.get("total"))
    order = list(viz.PART_LABELS) + sorted(k for k in bd if k not in viz.PART_LABELS)
    after = {p: num(v) or 0.0 for p, v in as_dict(obj.get("after_horizon_usd")).items()}
    rows = []
    for p in order:
        if p not in bd or num(bd.get(p)) == 0:
            continue
        v = num(bd.get(p))
        rows.append([viz.PART_LABELS.get(p, p), fmt_money(bd.get(p), cur),
                     fmt_money((v - after.get(p, 0.0)) / months, cur) if v is not None and months else MISSING,
                     fmt_pct(v / total, 1) if v is not None and total else MISSING])
    per_month = num(obj.get("usd_per_month"))
    rows.append([("total", "total"), fmt_money(obj.get("total"), cur),
                 fmt_money(per_month, cur) if per_month is not None else MISSING,
                 "100.0%" if total else MISSING])
    head = f"Cost over {hours:,.0f} h ({months:.3g} months, {cur})" if hours else f"Cost ({cur})"
    if as_dict(plan.get("periods")).get("timeline"):
        head += ", discounted (reservations over their term)"
    rented = rented_energy_note(plan)
    note = " ".join(n for n in (after_horizon_note(after, months) if after and months else "",
                                retirement_note(plan), f"{rented} (the summary's energy row)." if rented else "") if n)
    return _section(head, table("costs", ["part", "horizon", "per month", "share"], rows,
                                [False, True, True, True]), note)


def _procurement(plan: dict, cur: str) -> str:
    procs = as_list(plan.get("procurement"))
    if not procs:
        return ""
    rows = [[text(p.get("accelerator")), text(p.get("region")), viz.acquisition_label(p),
             text(p.get("provider"), MISSING), text(p.get("instance"), MISSING),
             fmt_num(p.get("units"), "g"),
             fmt_num(p.get("devices"), "g") + owned_text(p),
             fmt_money(p.get("usd"), cur), fmt_money(p.get("capex_usd"), cur)] for p in procs]
    return _section("Procurement", table(
        "procurement", ["accelerator", "region", "acquisition", "provider", "instance", "units",
                        "devices", "cost", "capex"], rows,
        [False] * 5 + [True] * 4), "devices bought, rented or already owned; cost excludes energy")


def _deployments(plan: dict, cur: str, max_utilization: Optional[float]) -> str:
    deps = as_list(plan.get("deployments"))
    if not deps:
        return ""
    rows = []
    for d in deps:
        u = serving_utilization(d)
        ucell: Cell = fmt_pct(u)
        if u is not None and max_utilization is not None:
            ucell = (ucell, "miss" if viz.over_ceiling(u, max_utilization) else "ok")
        pw = num(d.get("power_w"))
        rows.append([text(d.get("model")), text(d.get("quantization")),
                     fmt_num(d.get("tensor_parallel"), "g"), text(d.get("accelerator")),
                     text(d.get("region")), viz.acquisition_label(d),
                     fmt_num(d.get("replicas"), "g"), fmt_num(d.get("spare_replicas"), "g"),
                     fmt_num(d.get("accelerators"), "g"), fmt_num(d.get("quality")), ucell,
                     fmt_num(pw / 1000.0, ".3g") if pw is not None else MISSING,
                     fmt_num(d.get("energy_kwh"), ",.0f"), fmt_money(d.get("usd"), cur)])
    note = "utilisation: planned peak load per serving replica (spares excluded)"
    if max_utilization is not None:
        note += f", ceiling {max_utilization:.0%} (fleet.max_utilization)"
    return _section("Deployments", table(
        "deployments", ["model", "quant", "TP", "accelerator", "region", "acquisition", "replicas",
                        "spare", "devices", "quality", "utilisation", "IT power kW", "facility energy kWh",
                        "cost"], rows, [False] * 6 + [True] * 8), note)


def _routing(plan: dict) -> str:
    routes = as_list(plan.get("routing"))
    if not routes:
        return ""
    labels = viz.deployment_labels(plan)
    rows = [[text(r.get("workload")), labels.get(text(r.get("deployment")), text(r.get("deployment"))),
             fmt_num(r.get("requests_per_s")), fmt_pct(r.get("share")),
             fmt_num(r.get("capacity_rps")), fmt_num(r.get("ttft_ms")), fmt_num(r.get("tpot_ms"))]
            for r in routes]
    return _section("Routing", table(
        "routing", ["workload", "deployment", "requests/s", "share", "capacity/replica req/s",
                    "TTFT ms at capacity", "TPOT ms at capacity"], rows, [False, False] + [True] * 5),
        LATENCY_NOTE)


def _kpis(plan: dict, cur: str) -> str:
    """Per workload.  With reservations that outlast the horizon the cost (whole commitments) and
    the cost per token (what the horizon pays, for the tokens it serves) have different bases: the
    headers say which, a column gives the cost within the horizon, and a note says why (QA: 109,712
    beside 0.2899 per M tokens of 283,824 M, where 109,712 / 283,824 = 0.387)."""
    kpis = as_list(plan.get("kpis"))
    if not kpis:
        return ""
    obj = as_dict(plan.get("objective"))
    after = sum(num(v) or 0.0 for v in as_dict(obj.get("after_horizon_usd")).values())
    hours = num(obj.get("horizon_hours"))
    rows = []
    for k in kpis:
        q = _check(k.get("quality"), k.get("quality_target"), quality_meets, higher_is_better=True)
        if k.get("quality_mode") and isinstance(q, tuple):
            q = (q[0] + f" {k['quality_mode']}", q[1])
        elif k.get("quality_mode"):
            q = f"{q} {k['quality_mode']}"
        per_m, tokens_m = num(k.get("usd_per_million_output_tokens")), num(k.get("output_tokens_millions"))
        within = ([fmt_money(per_m * tokens_m, cur) if per_m is not None and tokens_m is not None else MISSING]
                  if after > 0 else [])
        rows.append([text(k.get("workload")), fmt_num(k.get("requests_per_s")),
                     fmt_money(k.get("usd"), cur), *within, fmt_num(k.get("usd_per_million_output_tokens")),
                     _check(k.get("ttft_ms"), k.get("ttft_target_ms"), latency_meets,
                            percentile=k.get("slo_percentile")),
                     _check(k.get("tpot_ms"), k.get("tpot_target_ms"), latency_meets,
                            percentile=k.get("slo_percentile")),
                     q, fmt_num(k.get("energy_kwh"), ",.0f"), fmt_num(k.get("co2_kg"), ",.0f")])
    costs = ["cost", f"{cur} per M output tokens"]
    note = "green: meets its target; red: misses it"
    if after > 0:
        months = f" {hours / viz.HOURS_PER_MONTH:.3g}-month" if hours else ""
        costs = ["cost (whole commitment)", "cost within the horizon",
                 f"{cur} per M output tokens (within the horizon)"]
        note += (f". Cost counts each reservation for its whole term, {fmt_money(after, cur)} of which (over "
                 f"all workloads) is paid after the{months} horizon; the cost within the horizon and the cost "
                 "per million output tokens leave that out: the tokens are those served within the horizon")
    return _section("Workload KPIs", table(
        "kpis", ["workload", "requests/s", *costs, "TTFT ms at capacity (target, percentile)",
                 "TPOT ms at capacity (target, percentile)", "quality (target)", "facility energy kWh", "CO2 kg"], rows,
        [False] + [True] * (6 + len(costs))), note)


def _baseline(plan: dict, cur: str) -> str:
    b = as_dict(plan.get("baseline"))
    per = as_list(b.get("per_accelerator"))
    if not per:
        return ""
    rows = [[text(r.get("accelerator")), text(r.get("status")), fmt_money(r.get("total_usd"), cur)]
            for r in per]
    note = "no single accelerator type can serve the problem alone"
    if num(b.get("best_total_usd")) is not None:
        note = (f"best single type: {text(b.get('best_accelerator'))} at "
                f"{fmt_money(b.get('best_total_usd'), cur)}; the heterogeneous plan saves "
                f"{fmt_num(b.get('saving_percent'), '.3g')}%")
    return _section("Homogeneous baseline", table(
        "baseline", ["accelerator only", "status", "cost"], rows, [False, False, True]), note)


def _notes(plan: dict) -> str:
    """The caveats the text reports end with (:func:`solver.report.plan_notes`), '' without any."""
    notes = plan_notes(plan)
    return _section("Notes", "".join(f"<p>{esc(n)}</p>" for n in notes)) if notes else ""


def _periods(plan: dict) -> str:
    """A multi-period plan's timeline (its fleet is per period, not in the top-level tables)."""
    if not as_dict(plan.get("periods")).get("timeline"):
        return ""
    out = []
    for i, (title, headers, rows, note) in enumerate(period_tables(plan)):
        # (the demand table's columns are the periods: "0", "1", ...)
        numeric = [h.isdigit() or h in ("period", "slice", "owned in service", "owned idle", "owned", "reserved",
                                        "replicas", "spare", "req/s", "peak req/s (sum)", "accrued cost", "capex",
                                        "buy", "reserve", "retire", "moved", "in service", "max kW", "peak share")
                   for h in headers]
        out.append(_section(title, table(f"periods-{i}", headers, rows, numeric), note))
    return "\n".join(out + [_change(plan)])


def _change(plan: dict) -> str:
    """A re-optimised plan's change from the previous one: the text report's figures
    (:func:`solver.report.change_tables`), one section with a table per part; left out when the
    plan's ``periods.change`` is incomplete (never a crash)."""
    try:
        change = change_tables(plan)
    except (KeyError, TypeError, ValueError, AttributeError):
        return ""
    if change is None:
        return ""
    head, tables = change
    body = [f"<p>{esc(head)}</p>"]
    for i, (title, headers, rows, note) in enumerate(tables):
        if rows:
            # all figures but the decision table's offer and kind of change
            numeric = [h not in ("offer", "change") or "offer" not in headers for h in headers]
            body.append(f"<h3>{esc(title)}</h3>" + table(f"change-{i}", headers, rows, numeric))
        body.append(f'<p class="note">{esc(note)}</p>' if note else "")
    return f'<section id="change"><h2>{esc(CHANGE_TITLE)}</h2>{"".join(body)}</section>'


def _figures(pngs: dict[str, bytes]) -> str:
    if not pngs:
        return ""
    parts = []
    for name in viz.FIGURES:
        if name not in pngs:
            continue
        data = base64.b64encode(pngs[name]).decode("ascii")
        w, h = (int(round(s * viz.FIG_DPI)) for s in viz.FIG_SIZE_IN)
        cap = viz.CAPTIONS.get(name, name)
        parts.append(f'<figure id="fig-{esc(name)}"><img src="data:image/png;base64,{data}" '
                     f'alt="{esc(cap)}" width="{w}" height="{h}"><figcaption>{esc(cap)}'
                     f"</figcaption></figure>")
    return _section("Pictures", "".join(parts))


# ------------------------------------------------------------------ page
def render_html(plan: dict, pngs: Optional[dict[str, bytes]] = None, *,
                max_utilization: Optional[float] = None, source: str = "") -> str:
    """The report page for ``plan`` with the given PNG figures (by :data:`viz.FIGURES` name)."""
    plan = plan_dict(plan, "render_html")
    obj = as_dict(plan.get("objective"))
    cur = text(obj.get("currency"), "USD")
    sol = as_dict(plan.get("solver"))
    status = text(plan.get("status"), "unknown")
    title = f"Fleet plan: {text(plan.get('problem'), 'unnamed problem')}"
    if plan.get("scenario"):
        title += f" (scenario {text(plan.get('scenario'))})"
    solver_bits = [b for b in ("/".join(text(sol.get(k)) for k in ("backend", "name") if sol.get(k)),
                               f"{fmt_num(sol.get('seconds'), '.3g')} s" if num(sol.get("seconds"))
                               is not None else "",
                               f"gap {_gap_text(num(sol.get('gap')))}" if num(sol.get("gap"))
                               is not None else "") if b]
    head = [f"<h1>{esc(title)}</h1>",
            f'<p>status <span id="status" class="status {"good" if status in GOOD_STATUSES else "bad"}">'
            f"{esc(status)}</span>" + (f" ({esc(', '.join(solver_bits))})" if solver_bits else "")
            + "</p>"]
    if status == "time_limit":
        head.append('<p class="note">stopped by the time limit: the plan is feasible but may not be '
                    "optimal</p>")
    if plan.get("message"):
        head.append(f'<p class="note">{esc(plan.get("message"))}</p>')
    body = head
    has_plan = status in GOOD_STATUSES or bool(as_list(plan.get("deployments")))
    if has_plan:
        body += [_section("Summary", _summary(plan, max_utilization)), _costs(plan),
                 _figures(pngs or {}), _periods(plan), _procurement(plan, cur),
                 _deployments(plan, cur, max_utilization), _routing(plan), _kpis(plan, cur),
                 _baseline(plan, cur), _notes(plan)]
    else:
        body.append(_section("No plan", "<p>The solver returned no fleet; see the message above.</p>"))
    v = as_dict(plan.get("versions"))
    foot = "generated by fleetopt report"
    if v:
        foot += " \u00b7 " + ", ".join(f"{k} {v[k]}" for k in sorted(v))
    if source:
        foot += f" \u00b7 from {source}"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body>\n"
            + "\n".join(b for b in body if b)
            + f"\n<footer>{esc(foot)}</footer>\n</body></html>\n")


def build_report(plan: dict, *, max_utilization: Optional[float] = None,
                 source: str = "") -> tuple[str, dict[str, bytes]]:
    """Render the figures and the page: (HTML text, PNG bytes by figure name)."""
    plan = plan_dict(plan, "build_report")
    pngs = viz.figure_pngs(plan, max_utilization)
    return render_html(plan, pngs, max_utilization=max_utilization, source=source), pngs
