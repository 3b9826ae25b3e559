"""Human-readable plans: console text, Markdown and CSV (no plotting here).

All three read the plan's dict form (what ``--json`` writes), so a report can
be regenerated from a saved plan without solving again.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any, Optional, Sequence

from solver.coefficients import COST_PARTS, RESERVED_TERM_HOURS
from solver.mip.stop import STOPPED_NOTE
from solver.periods import reservation_schedule
from solver.plan import REPORT_KEYS, plan_dict
from solver.problem.schema import HOURS_PER_MONTH
from solver.yamlio import atomic_write_text

PART_LABELS = {
    "rental_on_demand": "rental, on-demand", "rental_spot": "rental, spot",
    "rental_reserved_1y": "rental, reserved 1y", "rental_reserved_3y": "rental, reserved 3y",
    "purchase_amortisation": "purchase (amortised)", "maintenance": "maintenance",
    "hosting": "hosting", "energy": "energy", "carbon": "carbon price",
    # multi-period plans (QA s20: 'change_penalty' printed as is; QA s22: 'resale - decommissioning' was
    # neither the figure nor its sign)
    "retirement": "retirement (fees - resale now + horizon-end value given up)", "moves": "moves",
    "change_penalty": "change penalty",
}

#: what the latency columns are (QA s22: 'TPOT ms 60' beside a replica at 78% of its capacity)
LATENCY_NOTE = ("TTFT and TPOT at capacity: predicted (or measured) at each workload's slo.percentile (99 unless "
                "the problem sets it), with the replica serving its capacity (the req/s per replica column), the "
                "most load the plan may put on it; at a lighter load they are the same or lower")


def usd_text(x: Optional[float]) -> str:
    """Money as people write it: '$57,641', '-$39,730', '$4.68', '$0' (cents below $100 only;
    below half a cent, significant digits: '$1.4746e-08', never a '$0.00' that is not zero)."""
    if x is None:
        return "-"
    sign, x = ("-" if x < 0 else ""), abs(x)
    if x == 0:
        return "$0"
    if x < 0.005:
        return f"{sign}${x:.5g}"
    return sign + (f"${x:,.0f}" if x >= 100 else f"${x:,.2f}")


def money_text(x: Optional[float], currency: str = "USD") -> str:
    """:func:`usd_text` for USD; other currencies after the figure ('1,234 EUR')."""
    text = usd_text(x)
    return text if currency == "USD" or x is None else f"{text.replace('$', '')} {currency}"


def number_text(x: Optional[float], fmt: str = ".3g") -> str:
    """``x`` in ``fmt``; a significant-digits format switches to whole numbers with thousands
    separators from 1,000 on (never '3.96e+04' in a report), and None is '-'."""
    if x is None:
        return "-"
    text = format(x, fmt)
    if fmt.endswith("g") and math.isfinite(x) and (abs(x) >= 1000 or "e+" in text):
        return f"{x:,.0f}"       # also 999.7 at 3 digits ('1e+03')
    return text


def digits_text(x: float, sig: int) -> str:
    """``x`` to at most ``sig`` significant digits, never in exponent form from 1 on, without trailing
    zeros ('35.9568394', '5,000.25')."""
    if not math.isfinite(x) or x == 0 or abs(x) < 1:
        return format(x, f".{sig}g")
    decimals = max(0, sig - (math.floor(math.log10(abs(x))) + 1))
    text = f"{x:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def against_target_texts(value: Optional[float], target: Optional[float], meets: bool,
                         higher_is_better: bool = False, fmt: str = ".4g") -> tuple[str, str]:
    """(value, target) as text, with the digits that keep each on the side of the other the figures
    are: a TPOT of 35.9568394 ms meeting its target of 35.9568394081667 ms read '35.96 (35.9568)' at the
    usual digits (four, and six for the target), as if it missed it (QA s25).  ``meets``: whether the
    value meets the target, by the caller's rule and tolerance; texts that read equal count as meeting."""
    v_txt, t_txt = number_text(value, fmt), number_text(target, "g")
    if value is None or target is None or not (math.isfinite(value) and math.isfinite(target)):
        return v_txt, t_txt

    def reads_meeting(vt: str, tt: str) -> bool:
        v, t = float(vt.replace(",", "")), float(tt.replace(",", ""))
        return v == t or ((v > t) if higher_is_better else (v < t))

    for sig in range(5, 17):
        if reads_meeting(v_txt, t_txt) == meets:
            break
        v_txt, t_txt = digits_text(value, sig), digits_text(target, max(sig, 6))   # 'g': 6 digits
    return v_txt, t_txt


def latency_meets(value: float, target: float) -> bool:
    """A latency meets its target: at most the target, within a relative 1e-9 (the verifier's tolerance)."""
    return value <= target * (1 + 1e-9)


def quality_meets(value: float, target: float) -> bool:
    """A quality score meets its target: at least the target, within 1e-9."""
    return value >= target - 1e-9


def _kpi_texts(value: Optional[float], target: Optional[float], higher_is_better: bool = False) -> tuple[str, str]:
    """A KPI and its target as the tables print them (a latency; ``higher_is_better``: a quality), by
    :func:`against_target_texts`; '-' for a figure or target not given."""
    if not (_is_number(value) and _is_number(target)):
        return number_text(value, ".4g"), number_text(target, "g")
    meets = quality_meets(value, target) if higher_is_better else latency_meets(value, target)
    return against_target_texts(value, target, meets, higher_is_better)


def _count(x: Any) -> str:
    """A count with thousands separators ('5,882,351'); anything else as it is."""
    return f"{x:,}" if isinstance(x, int) and not isinstance(x, bool) else str(x)


def _at_percentile(kpi: dict) -> str:
    """', p99' for a KPI row that states its percentile (plans written before it: nothing)."""
    p = kpi.get("slo_percentile")
    return f", p{number_text(p, 'g')}" if _is_number(p) else ""


def _table(headers: Sequence[str], rows: list[Sequence[Any]], markdown: bool) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    if markdown:
        out = ["| " + " | ".join(cells[0]) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        out += ["| " + " | ".join(r) + " |" for r in cells[1:]]
        return "\n".join(out)
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join("  " + ln for ln in lines)


def serving_utilization(d: dict) -> Optional[float]:
    """A deployment's peak load per serving replica (spares excluded), the figure that
    ``fleet.max_utilization`` bounds; the plan's ``utilization`` divides by every replica (QA: an N+1
    pair at 55.7% on its serving replica showed 28%).  None where a figure is missing."""
    u, n, spare = d.get("utilization"), d.get("replicas"), d.get("spare_replicas") or 0
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (u, n, spare)):
        return None
    return u * n / (n - spare) if n > spare else u


def owned_text(p: dict) -> str:
    """' of N owned' for a procurement line of owned devices (the plan gives how many are owned), else ''."""
    n = p.get("owned_devices")
    return "" if n is None else f" of {number_text(n, 'g') if isinstance(n, (int, float)) else n} owned"


def _gap_text(gap) -> str:
    """The proven relative gap as a percentage ('0.01%', '99.5%'), or 'n/a'."""
    if gap is None:
        return "n/a"
    return f"{100 * gap:.3g}%"


def after_horizon_note(after: dict, months: float) -> str:
    """Why the horizon column is more than the months times the monthly column: reservations whose
    term outlasts the horizon are paid for whole (the commitment cannot be cancelled)."""
    parts = ", ".join(f"{usd_text(usd)} of {PART_LABELS.get(p, p)}" for p, usd in after.items())
    return (f"The horizon column includes {parts} that reservations pay after the {months:.3g} months "
            f"(a reservation is paid for its whole term); 'per month' is what each month of the horizon "
            f"pays, the figure fleet.budget.max_usd_per_month bounds.")


def _listed(x: Any) -> list:
    return x if isinstance(x, list) else []


def _fixed2(x: Any) -> str:
    return number_text(x, ".2f") if isinstance(x, (int, float)) and not isinstance(x, bool) else "-"


def _cand_text(r: dict) -> str:
    return f"{r.get('model')} {r.get('quantization')} TP{r.get('tensor_parallel')}"


def plan_notes(plan: dict) -> list[str]:
    """Caveats of a plan's figures, one paragraph each: deployments sized with the performance model's
    uncalibrated default efficiencies (QA s21: a plan built wholly on a user's accelerator of a family
    without calibration said so nowhere), and catalog prices marked low confidence that it pays.
    Reads the plan dict defensively (the HTML page takes hand-edited plans)."""
    def items(key: str) -> list[dict]:
        rows = plan.get(key)
        return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []

    records = items("performance")
    by_acc: dict[str, list[dict]] = {}
    for r in records:
        if r.get("source") == "default":
            by_acc.setdefault(str(r.get("accelerator")), []).append(r)
    notes = []
    for acc, rs in by_acc.items():
        r0 = rs[0]
        low = sorted({str(f) for r in rs for f in _listed(r.get("low_confidence"))})
        measured = sorted({str(w) for r in rs for w in _listed(r.get("measured_workloads"))})
        notes.append(
            f"{acc} (family {r0.get('family')}) has no calibration fitted to its family: "
            f"{', '.join(_cand_text(r) for r in rs)} on it {'is' if len(rs) == 1 else 'are'} sized with the "
            f"performance model's default efficiencies (compute {_fixed2(r0.get('compute_efficiency'))}, "
            f"bandwidth {_fixed2(r0.get('bandwidth_efficiency'))}, {r0.get('fit_rows')} fitted rows), "
            "not figures measured on this hardware"
            + (f" (the problem's measurements give its capacity for {', '.join(measured)} only)" if measured else "")
            + (f"; the catalog marks its {', '.join(low)} low confidence" if low else "")
            + f". Its capacities, and so the choice of {acc}, may be off: measure them and give them under "
              "`measurements` in the problem (or fit its family: solver/perf/README.md); `fleetopt perf` "
              "shows the model's figures.")
    low_prices = [p for p in items("procurement") if p.get("price_confidence") == "low"]
    if low_prices:
        notes.append("The catalog marks these prices the plan pays low confidence: "
                     + "; ".join(f"{p.get('accelerator')} {p.get('acquisition')} in {p.get('region')} "
                                 f"({p.get('provider')} {p.get('instance')}, source {p.get('source')})"
                                 for p in low_prices)
                     + ". Confirm them (a quote under fleet.offers) before committing to the plan.")
    notes += _tiny_capacity_notes(items("deployments"), items("routing"))
    return notes


#: a deployment is called out when it runs at least this many replicas, each serving below
#: TINY_CAPACITY_RPS (QA s25: 5,882,351 L4s for 5 req/s, each replica at 1e-06 req/s, without a word)
MANY_REPLICAS, TINY_CAPACITY_RPS = 1000, 0.01


def _tiny_capacity_notes(deployments: list[dict], routes: list[dict]) -> list[str]:
    """One note per deployment whose replicas are many and each serves almost nothing: its latency
    targets sit at the edge of what it reaches, where a slightly looser target multiplies capacity."""
    replicas = {str(d.get("id")): d.get("replicas") for d in deployments}      # ids as text: hand-edited plans
    notes = []
    for r in routes:
        n, cap = replicas.get(str(r.get("deployment"))), r.get("capacity_rps")
        if not (_is_number(n) and _is_number(cap) and n >= MANY_REPLICAS and 0 < cap < TINY_CAPACITY_RPS):
            continue
        notes.append(
            f"{r.get('deployment')} runs {n:,.0f} replicas, each serving {number_text(cap, '.3g')} req/s of "
            f"{r.get('workload')} at its latency targets (TTFT {number_text(r.get('ttft_ms'), '.4g')} ms, TPOT "
            f"{number_text(r.get('tpot_ms'), '.4g')} ms at capacity): targets at the edge of what a replica "
            "reaches leave it almost no capacity. Check the workload's slo: `fleetopt perf` with its figures and "
            "a slightly looser --ttft-ms / --tpot-ms shows how fast the capacity per replica grows.")
    return notes


def _sections(plan: dict, markdown: bool) -> list[tuple[str, str]]:
    obj = plan["objective"]
    sol = plan.get("solver") or {}
    secs: list[tuple[str, str]] = []
    months = obj["horizon_hours"] / 730.0
    gap = sol.get("gap")
    if sol.get("name") == "-":         # found infeasible before any solver ran (QA: read "pulp/-")
        head = (f"status {plan['status']} (found before the solve: no {sol.get('backend')} solver ran; "
                f"{sol.get('variables')} variables, {sol.get('constraints')} constraints)")
    else:
        head = (f"status {plan['status']} ({sol.get('backend')}/{sol.get('name')}, "
                f"{number_text(sol.get('seconds'), '.2f')} s, gap {_gap_text(gap)}, "
                f"{sol.get('variables')} variables, {sol.get('constraints')} constraints)")
    if plan["status"] not in ("optimal", "time_limit"):
        return [("Result", head + "\n" + (plan.get("message") or ""))]
    if plan["status"] == "time_limit":
        why = "by the user (Ctrl-C)" if STOPPED_NOTE in (sol.get("status_detail") or "") else "by the time limit"
        head += f"\nstopped {why}: the plan is feasible but may not be optimal"
    after = obj.get("after_horizon_usd") or {}
    cost_rows = [[PART_LABELS.get(p, p), usd_text(obj["breakdown"].get(p, 0.0)),
                  usd_text(((obj["breakdown"].get(p, 0.0) or 0.0) - after.get(p, 0.0)) / months)]
                 for p in COST_PARTS if obj["breakdown"].get(p)]
    cost_rows.append(["total", usd_text(obj["total"]), usd_text(obj["usd_per_month"])])
    secs.append(("Result", head))
    notes = plan_notes(plan)
    if plan.get("periods"):
        return secs + _period_sections(plan, markdown) + ([("Notes", "\n\n".join(notes))] if notes else [])
    secs.append((f"Cost over {obj['horizon_hours']:,.0f} h ({months:.3g} months, {obj['currency']})",
                 _table(["part", "horizon", "per month"], cost_rows, markdown)
                 + (f"\n{after_horizon_note(after, months)}" if after else "")))
    # the price's source in Markdown only (the console table is wide enough already)
    secs.append(("Procurement", _table(
        ["accelerator", "region", "acquisition", "provider", "instance", "units", "devices",
         "hardware cost (no energy)"] + (["price source"] if markdown else []),
        [[p["accelerator"], p["region"], "existing" if p["existing"] else p["acquisition"],
          p["provider"], p["instance"], p["units"],
          f"{p['devices']}{owned_text(p)}",
          usd_text(p["usd"])] + ([price_source_text(p)] if markdown else [])
         for p in plan["procurement"]], markdown)
        # (QA s20: a one-period plan bought L4 servers with a quarter's lead time, serving all year)
        + ("\npurchases serve from the start of the horizon: a single-period plan does not model delivery "
           "lead times (objective.periods does, with each offer's lead_time_quarters)"
           if any(p["acquisition"] == "purchase" and not p["existing"] for p in plan["procurement"]) else "")))
    secs.append(("Deployments", _table(
        ["model", "quant", "TP", "accelerator", "region", "acquisition", "instance", "replicas",
         "spare", "devices", "quality", "util (serving)", "IT power kW (mean load)", "cost"],
        [[d["model"], d["quantization"], d["tensor_parallel"], d["accelerator"], d["region"],
          "existing" if d["existing"] else d["acquisition"], d["instance"], d["replicas"],
          d["spare_replicas"],
          d["accelerators"], number_text(d["quality"], ".4g"), number_text(serving_utilization(d), ".0%"),
          number_text(d["power_w"] / 1000.0, ".3g"), usd_text(d["usd"])] for d in plan["deployments"]],
        markdown) + ("\n\n" + POWER_NOTE if plan["deployments"] else "")))
    short = {d["id"]: f"{d['model']}/{d['quantization']}/tp{d['tensor_parallel']} on "
                      f"{d['accelerator']}@{d['region']} ({'existing' if d['existing'] else d['acquisition']}, "
                      f"{d['instance']})" for d in plan["deployments"]}
    secs.append(("Routing", _table(
        ["workload", "deployment", "req/s", "share", "cap/replica req/s", "TTFT ms at capacity",
         "TPOT ms at capacity"],
        [[r["workload"], short.get(r["deployment"], r["deployment"]), number_text(r["requests_per_s"], ".4g"),
          f"{r['share']:.0%}", number_text(r["capacity_rps"], ".4g"), number_text(r["ttft_ms"], ".4g"),
          number_text(r["tpot_ms"], ".4g")] for r in plan["routing"]], markdown)
        + f"\n\n{LATENCY_NOTE}"))
    # with reservations paid past the horizon, the cost per token counts the horizon's cost only
    # (the HTML report's KPI table says the same; QA s20)
    per_token = "$/M output tok (within horizon)" if obj.get("after_horizon_usd") else "$/M output tok"
    secs.append(("Workload KPIs", _table(
        ["workload", "req/s", per_token, "TTFT ms at capacity (target, percentile)",
         "TPOT ms at capacity (target, percentile)", "quality (target)", "facility energy kWh", "CO2 kg"],
        [[k["workload"], number_text(k["requests_per_s"], ".4g"),
          number_text(k["usd_per_million_output_tokens"], ".4g"),
          "{} ({}{})".format(*_kpi_texts(k["ttft_ms"], k["ttft_target_ms"]), _at_percentile(k)),
          "{} ({}{})".format(*_kpi_texts(k["tpot_ms"], k["tpot_target_ms"]), _at_percentile(k)),
          "{} ({}".format(*_kpi_texts(k["quality"], k["quality_target"], higher_is_better=True))
          + (f", {k['quality_mode']})" if k["quality_mode"] else ")"),
          number_text(k["energy_kwh"], ",.0f"), number_text(k["co2_kg"], ",.0f")] for k in plan["kpis"]], markdown)))
    t = plan.get("totals", {})
    secs.append(("Totals", (
        f"{_count(t.get('devices'))} devices, {_count(t.get('replicas'))} replicas, IT power "
        f"{number_text((t.get('it_power_w') or 0) / 1000, '.3g')} kW (mean load), nameplate facility "
        f"{number_text(t.get('nameplate_kw_facility'), '.3g')} kW, "
        f"facility energy {number_text(t.get('energy_kwh'), ',.0f')} kWh{uncharged_energy_text(plan)}, "
        f"CO2 {number_text((t.get('co2_kg') or 0) / 1000, '.3g')} t, capex {usd_text(t.get('capex_usd'))}"
        + (f"; {t['idle_owned_devices']} owned device(s) idle (switched off: no upkeep, no energy)"
           if t.get("idle_owned_devices") else ""))))
    b = plan.get("baseline")
    if b:
        rows = [[r["accelerator"], r["status"], usd_text(r["total_usd"])] for r in b["per_accelerator"]]
        text = _table(["accelerator only", "status", "cost"], rows, markdown)
        if b.get("best_total_usd") is not None:
            text += (f"\n\nbest single type: {b['best_accelerator']} at {usd_text(b['best_total_usd'])}; "
                     f"heterogeneous plan saves {number_text(b.get('saving_percent'), '.3g')}%")
        else:
            text += "\n\nno single accelerator type can serve the problem alone"
        secs.append(("Homogeneous baseline", text))
    if notes:
        secs.append(("Notes", "\n\n".join(notes)))
    return secs


def price_source_text(p: dict) -> str:
    """A procurement line's price source for a table cell: 'my-quote (low confidence)', '-' without one;
    '|' escaped (a problem's own offer gives free text)."""
    src = p.get("source")
    if not src:
        return "-"
    return str(src).replace("|", "\\|") + (" (low confidence)" if p.get("price_confidence") == "low" else "")


# (QA s22: it said 'reserved units at their hourly rate', and a period with no reserved unit accrued the
# last months of a 1-year term)
ACCRUED_NOTE = ("accrued: rentals, reservations for the hours they pay in the period (a term that ends within a "
                "period pays its last hours there, the units no longer serving), owned units at depreciation + "
                "upkeep while in service, energy; one-off decisions (retirements, moves) are not in it: they are "
                "in the objective, as are reservations' whole terms and the discounting, so the periods do not "
                "add up to the total")


IDLE_NOTE = (". owned idle: owned devices (after retirements and moves) not in service, switched off: no upkeep, "
             "no energy")


def capex_cap_text(pp: dict) -> str:
    """Whether the plan's capex is capped, and at what ('' for plans that do not say)."""
    if "max_capex_usd" not in pp:
        return ""
    cap = pp["max_capex_usd"]
    by = pp.get("max_capex_usd_by_period")
    per = (f"; per period {' / '.join(usd_text(x) for x in by)} (fleet.budget.max_capex_usd_by_period)"
           if isinstance(by, list) else "")
    if cap is None and per:
        return per[2:]
    return ("no capex cap" if cap is None else f"capex cap {usd_text(cap)}") + " (fleet.budget.max_capex_usd)" + per


def price_change_text(pp: dict) -> str:
    """The price changes a multi-period plan states, in words ('' for a plan without any)."""
    pc = pp.get("price_change_per_period")
    if not isinstance(pc, dict) or not pc:
        return ""
    each = ", ".join(f"{name} {100 * r:+.3g}%" for name, r in pc.items() if isinstance(r, (int, float)))
    return (f"prices change per period (objective.periods.price_change_per_period, compound): {each}; a decision "
            "made in period t pays the price x (1 + change)^t - rentals serving t, a reservation started in t for its "
            "whole term, a server ordered in t (capex, depreciation and maintenance), electricity used in t; owned "
            "devices stay at catalog price")


def _period_figure(cap: dict, key: str, period) -> Optional[float]:
    """A cap's limit in ``period``: its ``<key>_by_period`` entry where the plan states one, else its
    single figure (None where neither is a number)."""
    by = cap.get(f"{key}_by_period")
    x = by[period] if isinstance(by, list) and isinstance(period, int) and 0 <= period < len(by) else cap.get(key)
    return x if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def cap_share_text(value: float, limit: float) -> str:
    """``value`` over its cap ``limit`` as a whole percentage, but never on the wrong side of the cap: a
    share that would round to 100% while under (or over) the cap has one decimal, rounded away from 100%
    (QA s23: 9.98 kW of a 10 kW power cap read 'peak share 100%'; now 99.8%)."""
    share = 100.0 * value / limit
    text = f"{value / limit:.0%}"
    if text != "100%" or math.isclose(share, 100.0, rel_tol=1e-9):
        return text
    if share < 100.0:
        return f"{min(math.floor(share * 10 + 1e-6) / 10, 99.9):.1f}%"
    return f"{max(math.ceil(share * 10 - 1e-6) / 10, 100.1):.1f}%"


def _devices_cell(units: Any, devices_per_unit: float, more: Sequence[str] = ()) -> str:
    """A count of units for a table cell, with its devices where a unit has several and ``more`` after
    them: '1 (8 devices)', '1/0 (8/0 devices)', '2 (to month 12)' (QA s23: 'buy 1' of an 8-device
    server beside 8 owned devices)."""
    counts = units if isinstance(units, list) else [units]
    extra = list(more)
    if devices_per_unit > 1 and all(_is_number(x) for x in counts) and any(counts):
        extra.insert(0, f"{'/'.join(_count_text(x * devices_per_unit) for x in counts)} devices")
    return "/".join(_count_text(x) for x in counts) + (f" ({'; '.join(extra)})" if extra else "")


def _count_text(x: Any) -> str:
    """A device or unit count as people write it: '8', '1,000,000', '2.5' (QA s23 review: '1e+06 devices')."""
    if not _is_number(x):
        return str(x)
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.4g}"


def _availability_rows(caps: list, r: dict, n_sl: int) -> list[list[str]]:
    """Devices procured per availability cap and slice in timeline row ``r`` (owned devices left out,
    as the limit leaves them out), against the period's limit."""
    rows = []
    for cap in caps:
        dev = []
        for s in range(n_sl):
            dev.append(sum((_unit_count(u, "by_slice", s) if u.get("kind") == "elastic"
                            else _unit_count(u, "in_service")) * _unit_count(u, "devices_per_unit") for u in r["units"]
                           if u.get("kind") != "existing" and u.get("accelerator") == cap.get("accelerator")
                           and cap.get("region") in (None, u.get("region"))
                           and (not cap.get("acquisition") or u.get("acquisition") in cap["acquisition"])))
        lim = _period_figure(cap, "max_devices", r.get("period"))
        rows.append([str(r["period"]), f"{cap.get('accelerator')} in {cap.get('region') or 'any region'}"
                     + (f" ({', '.join(cap['acquisition'])})" if cap.get("acquisition") else ""),
                     "/".join(number_text(x) for x in dev), number_text(lim, "g"),
                     cap_share_text(max(dev), lim) if dev and lim else "-"])
    return rows


def _unit_count(u: dict, field: str, s: Optional[int] = None) -> float:
    """A unit row's count (``by_slice`` at slice ``s``), 0 where the row lacks it or it is no number."""
    x = u.get(field)
    if s is not None:
        x = x[s] if isinstance(x, list) and s < len(x) else None
    return x if isinstance(x, (int, float)) and not isinstance(x, bool) else 0


def _rows(x: Any) -> list[dict]:
    return [r for r in x if isinstance(r, dict)] if isinstance(x, list) else []


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _reservations_started(pp: dict):
    """(period, unit row index, unit row, term hours, units reserved) of every reservation a multi-period
    plan starts, in timeline order; nothing where the plan states no period length."""
    period_h = pp.get("period_hours")
    if not _is_number(period_h) or period_h <= 0:
        return
    for t, row in enumerate(_rows(pp.get("timeline"))):
        for i, u in enumerate(_rows(row.get("units"))):
            term_h, n = RESERVED_TERM_HOURS.get(str(u.get("acquisition"))), _unit_count(u, "reserve")
            if term_h is not None and n > 0 and u.get("kind") == "reserved":
                yield t, i, u, term_h, n


def reservation_tails(pp: dict) -> dict[int, list[str]]:
    """Per period, the reservations it pays for without their serving: a term that ends within a period
    is paid for whole, its last hours there (1 year in 5-month periods serves 2 and pays 1,460 h in the
    third; QA s22: such a period showed 0 reserved and $823 of reservations in its accrued cost)."""
    timeline = _rows(pp.get("timeline"))
    out: dict[int, list[str]] = {}
    for t, _, u, term_h, n in _reservations_started(pp):
        serves, paid_h = reservation_schedule(term_h, pp["period_hours"])
        for j in range(serves, min(len(paid_h), len(timeline) - t)):
            part = f"rental_{u['acquisition']}"
            cost = timeline[t + j].get("cost_usd")
            usd = cost.get(part) if isinstance(cost, dict) else None
            out.setdefault(t + j, []).append(
                f"period {t + j} pays {number_text(paid_h[j], ',.0f')} h of {n:g} {u['acquisition']} unit(s) "
                f"({u.get('offer')}) reserved in period {t}, whose term ends within the period: they no longer "
                "serve" + (f" (the period's {PART_LABELS[part]}: {usd_text(usd)})" if _is_number(usd) else ""))
    return out


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def slice_hours(pp: dict) -> list[str]:
    """Per slice of ``pp`` (a plan's ``periods``), the part of the day it stands for: '00:00-08:00,
    16:00-24:00', from the daily profile's points it merges (``slices[].profile_index``; N points, each
    24 h / N); 'the whole day' for a single slice; '' for every slice where the plan's slices do not
    cover the profile's points once each (a hand-edited plan).  QA s23: the reports listed 'slice 0/1'
    and their weights, not which hours each is."""
    members = [s.get("profile_index") for s in _rows(pp.get("slices"))]
    if len(members) == 1:
        return ["the whole day"]
    points = [i for m in members if isinstance(m, list) for i in m]
    n = len(points)
    if (not all(isinstance(m, list) for m in members)
            or not all(isinstance(i, int) and not isinstance(i, bool) for i in points)
            or sorted(points) != list(range(n))):
        return [""] * len(members)
    out = []
    for m in members:
        runs: list[list[int]] = []          # consecutive profile points as [first, last]
        for i in sorted(m):
            if runs and i == runs[-1][1] + 1:
                runs[-1][1] = i
            else:
                runs.append([i, i])
        if 1440 % n == 0:
            step_min = 1440 // n
            out.append(", ".join(f"{_clock(a * step_min)}-{_clock((b + 1) * step_min)}" for a, b in runs))
        else:
            out.append("profile points " + ", ".join(f"{a}-{b}" if b > a else f"{a}" for a, b in runs) + f" of {n}")
    return out


def slices_text(pp: dict) -> str:
    """The daily slices of a plan of several, named by their hours and weights, in the order of every
    'per slice' figure (a/b/...); '' for one slice."""
    hours = slice_hours(pp)
    slices = _rows(pp.get("slices"))
    if len(slices) < 2:
        return ""
    each = "; ".join(f"slice {s.get('slice', i)}: {h or 'hours not stated'}"
                     + (f" (weight {s['weight']:.3g})" if _is_number(s.get("weight")) else "")
                     for i, (s, h) in enumerate(zip(slices, hours)))
    return (f"daily slices (the hours of the workloads' demand.profile that each stands for; figures per slice, "
            f"a/b, are in this order): {each}")


def reservation_ends(pp: dict) -> dict[tuple[int, int], tuple[float, float]]:
    """(period, unit row index) of each reservation started -> (month its term ends, counted from the
    start of period 0; hours it pays after the horizon).  A term is paid whole: 1 year reserved in
    period 1 of three 5-month periods ends at month 17 and pays its last 1,460 h after the 15 months
    (QA s23: the timeline showed when reservations start, not when they end)."""
    n_periods, period_h = len(_rows(pp.get("timeline"))), pp.get("period_hours")
    out: dict = {}
    for t, i, _, term_h, _ in _reservations_started(pp):
        paid_h = reservation_schedule(term_h, period_h)[1]
        out[(t, i)] = ((t * period_h + sum(paid_h)) / HOURS_PER_MONTH, float(sum(paid_h[n_periods - t:])))
    return out


def _term_end_text(pp: dict, end_month: float, after_h: float) -> str:
    """'to month 12, in period 2', 'to month 12, end of period 3', 'to month 17, past the horizon'."""
    text = f"to month {number_text(end_month)}"
    if after_h > 0:
        return text + ", past the horizon"
    k = end_month * HOURS_PER_MONTH / pp["period_hours"]      # periods from the start of period 0
    whole = round(k)
    if math.isclose(k, whole, abs_tol=1e-9):
        return f"{text}, end of period {whole - 1}"
    return f"{text}, in period {math.floor(k)}"


def _price_factor(pp: dict, acquisition: str, period: int) -> float:
    """(1 + r)^t of a plan's price change per period for ``acquisition`` (1 where it states none)."""
    changes = pp.get("price_change_per_period") if isinstance(pp.get("price_change_per_period"), dict) else {}
    rate = changes.get(acquisition, 0.0)
    return (1.0 + rate) ** period if _is_number(rate) else 1.0


def reserved_rates(pp: dict) -> dict[str, float]:
    """{acquisition: USD per device-hour at catalog price} of the reservations of a plan, worked out from
    the periods' accrued reservation cost over the device-hours they pay within the horizon (each at its
    start period's price change); only where one offer holds every reservation of that acquisition (with
    more, the accrued cost does not say which pays what)."""
    timeline = _rows(pp.get("timeline"))
    period_h = pp.get("period_hours")
    if not _is_number(period_h) or period_h <= 0:
        return {}
    offers: dict[str, set] = {}
    device_h: dict[str, float] = {}
    for t, row in enumerate(timeline):
        for u in _rows(row.get("units")):
            acq = str(u.get("acquisition"))
            term_h, n = RESERVED_TERM_HOURS.get(acq), _unit_count(u, "reserve")
            if u.get("kind") != "reserved" or term_h is None:
                continue
            offers.setdefault(acq, set()).add(str(u.get("offer")))
            factor = _price_factor(pp, acq, t)
            paid_h = reservation_schedule(term_h, period_h)[1][:len(timeline) - t]
            device_h[acq] = device_h.get(acq, 0.0) + sum(paid_h) * n * _unit_count(u, "devices_per_unit") * factor
    out = {}
    for acq, hours in device_h.items():
        accrued = [r["cost_usd"].get(f"rental_{acq}") for r in timeline if isinstance(r.get("cost_usd"), dict)]
        usd = sum(x for x in accrued if _is_number(x))
        if len(offers[acq]) == 1 and hours > 0 and usd > 0:
            out[acq] = usd / hours
    return out


def after_horizon_reservations(pp: dict) -> list[str]:
    """What reservations pay after a multi-period plan's horizon, one sentence each ([] without any): the
    objective counts it (discounted), no period's accrued cost does."""
    timeline = _rows(pp.get("timeline"))
    ends = reservation_ends(pp)
    rates = reserved_rates(pp)
    out = []
    for (t, i), (end_month, after_h) in ends.items():
        if not after_h > 0:
            continue
        u = _rows(timeline[t].get("units"))[i]
        n, acq = _unit_count(u, "reserve"), str(u.get("acquisition"))
        devices = n * _unit_count(u, "devices_per_unit")
        hours = number_text(after_h, ',.0f')
        text = (f"{n:g} {acq} unit(s) of {u.get('offer')} reserved in period {t} pay the last {hours} h of their "
                f"term after the horizon (it ends at month {number_text(end_month)})")
        if acq in rates:
            factor = _price_factor(pp, acq, t)
            text += (f": {usd_text(after_h * devices * rates[acq] * factor)} ({hours} h x {devices:g} device(s) x "
                     f"{usd_text(rates[acq] * factor)} a device-hour)")
        out.append(text)
    return out


#: what a deployment's power figure is (QA s25: a 4-device deployment on a bought 8-GPU server drew the
#: idle power of all 8 without a word)
POWER_NOTE = ("IT power kW: the deployment's devices at the plan's mean load, without PUE, with the idle draw of "
              "every device of the units it occupies (a bought server idles its unused devices too); the "
              "power caps count nameplate x PUE")


def rented_energy_note(plan: dict) -> str:
    """Where a multi-period plan pays for energy and rents devices, that its energy cost may be for part
    of the facility kWh only: a rented device's electricity is charged only with
    objective.energy_on_rented ('' otherwise).  QA s23: 7,311 kWh 'every device in service or rented'
    beside an energy cost of $234 for the owned devices' share.  The plan states neither the setting nor
    the owned devices' kWh, so the note says which setting charges what."""
    obj = plan.get("objective") if isinstance(plan.get("objective"), dict) else {}
    energy_usd = (obj.get("breakdown") if isinstance(obj.get("breakdown"), dict) else {}).get("energy")
    pp = plan.get("periods") if isinstance(plan.get("periods"), dict) else {}
    rented = any(u.get("kind") == "elastic" and any(_is_number(n) and n > 0 for n in _listed(u.get("by_slice")))
                 or u.get("kind") == "reserved" and _unit_count(u, "in_service") > 0
                 for r in _rows(pp.get("timeline")) for u in _rows(r.get("units")))
    if obj.get("energy_charged", "owned_and_bought") != "owned_and_bought":
        return ""       # QA s25: said of a plan that charges every device's energy (energy_on_rented: true)
    return ("The energy cost charges owned devices' electricity, and rented devices' only with "
            "objective.energy_on_rented: true (default false: a rental's price includes its energy), so it may pay "
            "for part of the facility kWh only" if rented and _is_number(energy_usd) and energy_usd else "")


def uncharged_energy_text(plan: dict) -> str:
    """For a single-period plan's totals: which of the facility kWh the energy cost leaves out, '' where it
    charges them all or the plan does not say (QA s25: 123 kWh of rentals beside no energy cost, with
    carbon charged on them)."""
    obj = plan.get("objective") if isinstance(plan.get("objective"), dict) else {}
    scope = obj.get("energy_charged")
    carbon = (obj.get("breakdown") if isinstance(obj.get("breakdown"), dict) else {}).get("carbon")
    on_carbon = "; the carbon price is charged on every kWh" if _is_number(carbon) and carbon else ""
    if scope == "none":
        return f" (no energy cost: objective.include_energy false{on_carbon})"
    rented = any(not d.get("existing") and d.get("acquisition") != "purchase" for d in _rows(plan.get("deployments")))
    if scope == "owned_and_bought" and rented:
        return (" (rented devices' kWh are not in the energy cost: objective.energy_on_rented false, a rental's "
                f"price includes its electricity{on_carbon})")
    return ""


def retirement_note(plan: dict) -> str:
    """What the objective's retirement part is and the retirements that add up to it, '' without one
    (QA s22: labelled 'resale - decommissioning', its -$10,055 was neither)."""
    obj = plan.get("objective") if isinstance(plan.get("objective"), dict) else {}
    total = (obj.get("breakdown") if isinstance(obj.get("breakdown"), dict) else {}).get("retirement")
    if not _is_number(total) or total == 0:
        return ""
    pp = plan.get("periods") if isinstance(plan.get("periods"), dict) else {}
    parts = []
    for t, row in enumerate(_rows(pp.get("timeline"))):
        for u in _rows(row.get("units")):
            n = _unit_count(u, "retire") * (_unit_count(u, "devices_per_unit") or 1)
            if n > 0 and _is_number(u.get("retire_usd")):
                parts.append(f"period {t}, {n:g} device(s) of {u.get('offer')}: {usd_text(u['retire_usd'])}")
    return ("retirement: what retiring owned devices changes, discounted to period 0: the decommissioning fees "
            "(objective.periods.retire_usd_per_device) less the resale value now, plus the resale value at the "
            "horizon's end that a kept device still has and a retired one gives up (objective.periods."
            "resale_fraction); negative: a gain"
            + (f". It is the sum of the retirements' figures (the plan's retire_usd): {'; '.join(parts)}"
               if parts else ""))


def period_tables(plan: dict) -> list[tuple[str, list[str], list[list[str]], str]]:
    """A multi-period plan's timeline as (title, headers, rows of text, note) tables: devices,
    accrued cost and capex per period, the hardware decisions and moves, the nameplate power against
    each power cap, the deployments per period and slice (the text, Markdown and HTML reports format
    the same rows)."""
    pp = plan["periods"]
    caps = pp.get("power_caps") or []
    per_period, units, power, avail, deps = [], [], [], [], []
    ends = reservation_ends(pp)
    slice_names = slice_hours(pp)
    # demand: one row per workload, one column per period (a column of "w 12.3; ..." text grew to
    # ~700 characters at 48 workloads, QA), the per-period table shows the sum of the peaks
    workloads = list(dict.fromkeys(w for r in pp["timeline"] for w in r["demand_rps"]))
    demand = [[w] + [number_text(max(r["demand_rps"][w])) if w in r["demand_rps"] else "-"
                     for r in pp["timeline"]] for w in workloads]
    for t, r in enumerate(pp["timeline"]):
        peaks = [max(v) for v in r["demand_rps"].values() if max(v) > 0]
        dem = number_text(sum(peaks)) if peaks else "-"
        # a row's fields read with defaults: a hand-edited plan whose kind and counts disagree or are
        # missing (QA: kind 'elastic' on a purchase row without by_slice; no kind; a short by_slice) is
        # verify's to flag, not a crash here
        n_sl = len(pp["slices"])
        owned = sum(_unit_count(u, "in_service") * _unit_count(u, "devices_per_unit") for u in r["units"]
                    if u.get("kind") in ("purchase", "existing"))
        res = sum(_unit_count(u, "in_service") * _unit_count(u, "devices_per_unit") for u in r["units"]
                  if u.get("kind") == "reserved")
        rented = [sum(_unit_count(u, "by_slice", s) * _unit_count(u, "devices_per_unit") for u in r["units"]
                      if u.get("kind") == "elastic")
                  for s in range(n_sl)]
        per_period.append([str(r["period"]), dem or "-", str(owned), str(r.get("idle_owned_devices", "-")), str(res),
                           "/".join(str(x) for x in rented), usd_text(r["total_usd"]), usd_text(r.get("capex_usd")),
                           number_text(r.get("energy_kwh"), ".4g"), number_text(r.get("co2_kg"), ".4g")])
        for i, u in enumerate(r["units"]):
            dpu = _unit_count(u, "devices_per_unit")
            end = ends.get((t, i))
            units.append([str(r["period"]), str(u.get("offer", "-")), str(u.get("kind", "-")),
                          _devices_cell(u.get("buy", ""), dpu),
                          _devices_cell(u.get("reserve", ""), dpu, [] if end is None else [_term_end_text(pp, *end)]),
                          _devices_cell(u.get("retire", ""), dpu), "",
                          _devices_cell(u.get("in_service", ""), dpu), str(u.get("owned", "")),
                          _devices_cell(u["by_slice"], dpu) if isinstance(u.get("by_slice"), list) else ""])
        units += [[str(r["period"]), f"{m['from']} -> {m['to']}", "move", "", "", "", str(m["devices"]), "", "", ""]
                  for m in r.get("moves", [])]
        for cap, kw in zip(caps, r.get("nameplate_kw", [])):
            lim = _period_figure(cap, "max_kw", r.get("period"))
            power.append([str(r["period"]), f"{cap['region']} ({', '.join(cap['applies_to'])})",
                          "/".join(number_text(x) for x in kw), number_text(lim, "g"),
                          cap_share_text(max(kw), lim) if kw and lim else "-"])
        avail += _availability_rows(pp.get("availability") or [], r, n_sl)
        for sl in r["slices"]:
            k = sl["slice"]
            hours = slice_names[k] if len(slice_names) > 1 and isinstance(k, int) and 0 <= k < len(slice_names) else ""
            for d in sl["deployments"]:
                rps = sum(x["requests_per_s"] for x in sl["routing"] if x["deployment"] == d["id"])
                deps.append([str(r["period"]), f"{sl['slice']} ({hours})" if hours else str(sl["slice"]), d["id"],
                             str(d["replicas"]), str(d["spare_replicas"]), number_text(rps, ".4g")])
    cap = capex_cap_text(pp)
    prices = price_change_text(pp)
    at = ("at the period's price" if "purchase" in (pp.get("price_change_per_period") or {}) else
          "at catalog price")
    capex = f". capex: the servers ordered in the period, {at} (paid when ordered); {cap}" if cap else ""
    tails = [x for _, xs in sorted(reservation_tails(pp).items()) for x in xs]
    slices = slices_text(pp)
    timeline_notes = []
    if any(_unit_count(u, "devices_per_unit") > 1 for r in pp["timeline"] for u in _rows(r.get("units"))):
        timeline_notes.append("a unit of several devices (a server, a multi-GPU instance) also shows its devices, "
                              "e.g. '1 (8 devices)'")
    if ends:
        horizon_h = len(pp["timeline"]) * pp["period_hours"]
        timeline_notes.append("reserve: 'to month M' is when the reservations' term ends, in months from the start "
                              f"of period 0 (the horizon ends at month {number_text(horizon_h / HOURS_PER_MONTH)}); "
                              "a term is paid whole, the hours past the horizon too (in the objective, discounted; in "
                              "no period's accrued cost)")
        timeline_notes += after_horizon_reservations(pp)
    tables = [("Per period (devices; cost accrued in the period, undiscounted)",
               ["period", "peak req/s (sum)", "owned in service", "owned idle", "reserved", "rented per slice",
                "accrued cost", "capex", "facility energy kWh", "CO2 kg"],
               per_period, (f"{slices}. " if slices else "") + ACCRUED_NOTE + "".join(f". {x}" for x in tails)
               + capex + IDLE_NOTE + (f". {prices}" if prices else "")),
              ("Peak demand per workload and period (req/s)",
               ["workload"] + [str(r["period"]) for r in pp["timeline"]], demand,
               "peak req/s (sum): the sum of these peaks (each workload at its own busiest slice)"),
              ("Hardware timeline (units; moved, owned: owned devices)",
               ["period", "offer", "kind", "buy", "reserve", "retire", "moved", "in service", "owned",
                "rented per slice"], units, ". ".join(timeline_notes))]
    if power:
        tables.append(("Nameplate facility power against fleet.power_caps (kW)",
                       ["period", "cap (region, applies to)", "kW per slice", "max kW", "peak share"], power,
                       "kW: units x devices per unit x TDP x PUE / 1000 over the cap's region's units whose "
                       "acquisition it applies to, those in service in every slice, rentals per slice; peak "
                       "share: the largest slice's kW over the cap; max kW: the period's own figure where the "
                       "cap is given per period (max_kw_by_period)"))
    if avail:
        tables.append(("Devices procured against fleet.availability (limits per period)",
                       ["period", "limit (accelerator, region, modes)", "devices per slice", "max devices",
                        "peak share"], avail,
                       "devices: units x devices per unit of the accelerator obtained (rented, reserved or bought; "
                       "owned devices are not counted), in service in every slice, rentals per slice; max devices: "
                       "the period's own figure where the limit is given per period (max_devices_by_period)"))
    return tables + [("Deployments per period and slice", ["period", "slice", "deployment", "replicas", "spare",
                                                           "req/s"], deps, "")]


CHANGE_TITLE = "Change from the previous plan"
DECISION_CHANGE_NOTE = ("objective change: what the decision commits in the objective, discounted to period 0 "
                        "(buy, reserve: the units' cost over the periods they serve, upkeep and idle power "
                        "included; retire: the fee less the resale, and the value at the horizon it gives up; move: the "
                        "fee), new plan less previous; the change penalty is on top; rentals: see the accrued "
                        "cost per period")


def added_periods_text(plan: dict, first: int) -> str:
    """What the periods a re-optimised plan adds (from ``first`` on) decide: they are in no change
    list, which compares the periods both plans have (QA s21: a 12-period re-plan of an 8-period
    plan reserved 24 H100s in period 8 under 'no decision changed'; QA s23: 'they rentals in 2
    period(s)', 'period 5 ... are')."""
    counts: dict = {}
    rent_periods = 0
    for row in plan["periods"]["timeline"][first:]:
        for u in row["units"]:
            for dec in ("buy", "reserve", "retire"):
                if u.get(dec):
                    counts[dec] = counts.get(dec, 0) + u[dec]
        rent_periods += any(any(u.get("by_slice") or []) for u in row["units"])
    last = len(plan["periods"]["timeline"]) - 1
    one = first == last
    which = f"period {first}, new in this plan, is" if one else f"periods {first}-{last}, new in this plan, are"
    made = [f"{dec} {n} unit{'' if n == 1 else 's'}" for dec, n in counts.items()]
    if rent_periods:
        made.append("rentals" if one else "rentals in all of them" if rent_periods == last - first + 1
                    else f"rentals in {rent_periods} of them")
    return (f"; {which} not in the change list below"
            + (f" (decided there: {', '.join(made)}; see the period tables)" if made else " (no decision there)"))


#: the most route changes the reports list (the JSON has them all)
ROUTES_SHOWN = 20


def route_change_rows(routing: list[dict]) -> list[list[str]]:
    """The :data:`ROUTES_SHOWN` largest route changes (by req/s moved), in period, slice, workload
    and deployment order: README calls ``periods.change`` a list of the routes whose traffic
    changed, and the reports gave only their number (QA s23)."""
    largest = sorted(routing, key=lambda r: (-abs(r["new_rps"] - r["old_rps"]), r["period"], r["slice"],
                                             r["workload"], r["deployment"]))[:ROUTES_SHOWN]
    return [[str(r["period"]), str(r["slice"]), r["workload"], r["deployment"], number_text(r["old_rps"], ".4g"),
             number_text(r["new_rps"], ".4g"),
             ("+" if r["new_rps"] > r["old_rps"] else "") + number_text(r["new_rps"] - r["old_rps"], ".4g")]
            for r in sorted(largest, key=lambda r: (r["period"], r["slice"], r["workload"], r["deployment"]))]


def change_tables(plan: dict) -> Optional[tuple[str, list[tuple[str, list[str], list[list[str]], str]]]]:
    """A re-optimised plan's ``periods.change`` as (summary line, tables as :func:`period_tables`
    gives them), or None: the text, Markdown and HTML reports format the same figures.  A table
    without rows comes with its note only (e.g. 'no ... decision changed')."""
    ch = (plan.get("periods") or {}).get("change")
    if ch is None:
        return None
    # the previous plan's own change penalty (it re-optimised an older one) is left out of its figure
    # (QA s20: 'previous plan $736,290' beside its report's $742,790, unexplained)
    old_pen = ch.get("old_change_penalty_usd") or 0.0
    head = (f"previous plan {usd_text(ch['old_total_usd'])}"
            + (f" (its total less the {usd_text(old_pen)} change penalty it paid)" if old_pen else "")
            + f", new plan {usd_text(ch['new_total_usd'])} "
            f"(change {usd_text(ch['change_usd'])}, of which change penalty {usd_text(ch['change_penalty_usd'])})")
    n_old, n_new = ch.get("old_periods"), ch.get("new_periods")
    if n_old is not None and n_old != n_new:
        common = min(n_old, n_new)
        # the table lists only periods whose cost changed (QA s18: 'compare the period costs below'
        # with no table under it, every common period costing the same)
        changed = any(c["period"] < common for c in ch["period_cost"])
        head += (f"; the new plan covers {n_new} periods and the previous {n_old}, so the totals also "
                 f"differ by the periods {'added' if n_new > n_old else 'left out'} ("
                 + (f"compare the period costs below, 0-{common - 1})" if changed else
                    f"periods 0-{common - 1} cost the same in both)"))
        if n_new > n_old and len(plan["periods"].get("timeline") or []) > common:
            head += added_periods_text(plan, common)
    executed = ch.get("executed_periods")
    if executed:
        # said whether or not their cost changed (QA s23: with period 0's cost unchanged, nothing said
        # it was carried out); the cost table lists changed periods only, as the decision list does
        which, its = (f"periods 0-{executed - 1} were", "their") if executed > 1 else ("period 0 was", "its")
        head += (f"; {which} carried out: the new plan keeps {its} buy, reserve, retire and move decisions and "
                 f"re-plans {its} rentals, routing and energy at this problem's demand, "
                 + ("so a cost change there (period costs below) is a re-pricing, not money saved or spent"
                    if any(c["period"] < executed for c in ch["period_cost"]) else
                    f"which leaves {its} cost as it was"))
    rows = [[str(d["period"]), d["offer"], d["decision"], str(d["old_units"]), str(d["new_units"]),
             usd_text(d.get("change_usd"))] for d in ch["decisions"]]
    costed = {c["period"] for c in ch["period_cost"]}     # periods whose accrued cost changed
    rows += [[str(r["period"]), r["offer"], "rent", "/".join(map(str, r["old_by_slice"] or [])),
              "/".join(map(str, r["new_by_slice"] or [])),
              # (QA s20: 'see period cost' for a period the cost table leaves out, its cost unchanged)
              "see period cost" if r["period"] in costed else "period cost unchanged"] for r in ch["rentals"]]
    tables = [("Decisions changed", ["period", "offer", "change", "old", "new", "objective change"], rows,
               DECISION_CHANGE_NOTE if rows else "no buy, reserve, retire, move or rental decision changed")]
    if ch["period_cost"]:
        tables.append(("Accrued cost per period", ["period", "old cost", "new cost", "change"],
                       [[str(c["period"]) + (" (carried out)" if executed and c["period"] < executed else ""),
                         usd_text(c["old_usd"]), usd_text(c["new_usd"]), usd_text(c["change_usd"])]
                        for c in ch["period_cost"]], ""))
    swaps = ch.get("routing_swaps_not_listed") or 0
    n_routes = len(ch["routing"])
    tables.append(("Routing", ["period", "slice", "workload", "deployment", "old req/s", "new req/s", "change"],
                   route_change_rows(ch["routing"]), f"{n_routes} route(s) changed" + (
        f"; listed: the {ROUTES_SHOWN} that moved the most req/s, {n_routes - ROUTES_SHOWN} more in "
        "periods.change.routing of the plan JSON" if n_routes > ROUTES_SHOWN else "") + (
        f"; not counted: {swaps} that only moved traffic between deployments differing in the instance alone "
        "(the same model on the same accelerator, region, acquisition and provider, e.g. owned devices of "
        "different ages)" if swaps else "")))
    return head, tables


def _period_sections(plan: dict, markdown: bool) -> list[tuple[str, str]]:
    """Multi-period plans: cost, hardware timeline, deployments per slice, re-optimisation changes."""
    pp = plan["periods"]
    obj = plan["objective"]
    secs = []
    n_sl = len(pp["slices"])
    rows = [[PART_LABELS.get(p, p), usd_text(v)] for p, v in obj["breakdown"].items() if v]
    rows.append(["total (discounted, reservations over their term)", usd_text(obj["total"])])
    tot = plan.get("totals") or {}
    rented_note = rented_energy_note(plan)
    lines = [f"energy {tot['energy_kwh']:,.0f} kWh, CO2 {tot['co2_kg'] / 1000:,.3g} t over the horizon "
             "(facility, every device in service or rented)" + (f". {rented_note}" if rented_note else "")
             ] if "energy_kwh" in tot and "co2_kg" in tot else []
    if "capex_usd" in tot:       # its cap: in the note under the per-period table (the HTML page has that one)
        at = ("each at its period's price" if "purchase" in (pp.get("price_change_per_period") or {}) else
              "at catalog price")
        lines.append(f"capex {usd_text(tot['capex_usd'])} over the horizon (servers ordered, {at})")
    if tot.get("idle_owned_device_periods"):
        lines.append(f"owned devices idle: {tot['idle_owned_device_periods']:g} device-periods (switched off: no "
                     "upkeep, no energy)")
    retired = retirement_note(plan)
    secs.append((f"Objective over {pp['count']} period{'s' if pp['count'] != 1 else ''} of {pp['months']:g} months "
                 + (f"({n_sl} daily slice: the whole day)" if n_sl == 1
                    else f"({n_sl} daily slices, their hours under the per-period table)"),
                 _table(["part", "USD"], rows, markdown)
                 + "".join(f"\n\n{x}" for x in ([retired] if retired else []) + lines)))
    for title, headers, rows, note in period_tables(plan):
        secs.append((title, _table(headers, rows, markdown) + (f"\n\n{note}" if note else "")))
    change = change_tables(plan)
    if change is not None:
        head, tables = change
        text = head + "".join((f"\n\n{_table(h, rows, markdown)}" if rows else "") + (f"\n\n{note}" if note else "")
                              for _, h, rows, note in tables)
        secs.append((CHANGE_TITLE, text))
    return secs


def console_text(plan: dict) -> str:
    """The plan as the text ``fleetopt solve`` prints: status, costs, fleet, routing, KPIs.

    ``plan``: a :class:`~solver.plan.Plan` or its JSON dict (a saved plan reads the same)."""
    plan = plan_dict(plan, "console_text", need=REPORT_KEYS)
    title = f"fleetopt plan: {plan['problem']}" + (f" [{plan['scenario']}]" if plan.get("scenario") else "")
    out = [title, "=" * len(title)]
    for name, body in _sections(plan, markdown=False):
        out += ["", name, body]
    return "\n".join(out) + "\n"


def markdown_text(plan: dict) -> str:
    """The same report as :func:`console_text` as a Markdown document (``fleetopt solve --markdown``).

    ``plan``: a :class:`~solver.plan.Plan` or its JSON dict."""
    plan = plan_dict(plan, "markdown_text", need=REPORT_KEYS)
    out = [f"# Fleet plan: {plan['problem']}" + (f" (scenario {plan['scenario']})" if plan.get("scenario") else "")]
    for name, body in _sections(plan, markdown=True):
        out += ["", f"## {name}", "", body]
    v = plan.get("versions", {})
    out += ["", f"_fleetopt {v.get('fleetopt')}, catalog {v.get('catalog')}_"]
    return "\n".join(out) + "\n"


def _csv(rows: list[dict], fields: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(fields), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    return buf.getvalue()


def _breakdown_rows(obj: dict) -> list[tuple[str, float]]:
    """(part, USD) of the objective's breakdown: the single-period parts always (0 when absent), then
    any other part it has (retirement, moves, change penalty), in the labels' order."""
    bd = obj.get("breakdown") or {}
    parts = list(COST_PARTS) + [p for p in PART_LABELS if p not in COST_PARTS and p in bd] \
        + sorted(p for p in bd if p not in PART_LABELS and p not in COST_PARTS)
    return [(p, bd.get(p, 0.0)) for p in parts]


def write_csv_dir(plan: dict, directory: str | Path, protect: tuple = ()) -> list[Path]:
    """The plan's tables as CSV files in ``directory`` (single-period: deployments, routing,
    procurement, kpis, costs; multi-period: costs and the period_* tables, change.csv when
    re-optimised).  Tables of :data:`CSV_TABLES` this plan does not have are removed.  Money in
    costs.csv and the units' buy/reserve/retire_usd is as the objective counts it (discounted to
    period 0); period_costs.csv and period_moves.csv's fee_usd are what the period pays, undiscounted."""
    plan = plan_dict(plan, "write_csv_dir", need=("objective",))
    d = Path(directory)
    files = {
        "deployments.csv": (plan.get("deployments", []), ["id", "accelerator", "model", "quantization",
                            "tensor_parallel", "region", "acquisition", "provider", "instance", "existing",
                            "replicas", "spare_replicas", "accelerators", "quality", "utilization",
                            "power_w", "energy_kwh", "co2_kg", "usd"]),
        "routing.csv": (plan.get("routing", []), ["workload", "deployment", "requests_per_s", "share",
                        "capacity_rps", "ttft_ms", "tpot_ms"]),
        "procurement.csv": (plan.get("procurement", []), ["accelerator", "region", "acquisition",
                            "provider", "instance", "existing", "units", "devices_per_unit", "devices",
                            "usd", "capex_usd"]),
        "kpis.csv": (plan.get("kpis", []), ["workload", "requests_per_s", "usd",
                     "usd_per_million_output_tokens", "ttft_ms", "ttft_target_ms", "tpot_ms",
                     "tpot_target_ms", "quality", "quality_min_routed", "quality_target", "quality_mode",
                     "energy_kwh", "co2_kg", "output_tokens_millions", "slo_percentile"]),
        # every part of the objective, the multi-period ones too (QA s20: retirement, moves and the
        # change penalty were left out and the rows did not add up to the total)
        "costs.csv": ([{"part": p, "usd": v} for p, v in _breakdown_rows(plan["objective"])]
                      + [{"part": "total", "usd": plan["objective"].get("total")}], ["part", "usd"]),
    }
    pp = plan.get("periods")
    if pp:
        # a multi-period plan has its tables per period; the single-period ones would be headers only
        for name in ("deployments.csv", "routing.csv", "procurement.csv", "kpis.csv"):
            files.pop(name)
        files["period_units.csv"] = (
            [{"period": r["period"], **{k: v for k, v in u.items() if k != "by_slice"},
              "by_slice": "/".join(map(str, u["by_slice"])) if "by_slice" in u else ""}
             for r in pp["timeline"] for u in r["units"]],
            ["period", "offer", "accelerator", "region", "acquisition", "kind", "devices_per_unit", "buy",
             "reserve", "retire", "in_service", "owned", "by_slice", "buy_usd", "reserve_usd", "retire_usd"])
        # owned devices moved between regions (QA s20: in no table; the source region's rows then
        # lacked them and the target's had owned devices from nowhere)
        # fee_usd: the fee paid in that period, undiscounted, where costs.csv and the units' *_usd
        # (what each decision commits in the objective) are discounted to period 0
        files["period_moves.csv"] = (
            [{"period": r["period"], "from": mv["from"], "to": mv["to"], "devices": mv["devices"],
              "fee_usd": mv["usd"]} for r in pp["timeline"] for mv in r.get("moves") or []],
            ["period", "from", "to", "devices", "fee_usd"])
        files["period_routing.csv"] = (
            [{"period": r["period"], "slice": sl["slice"], **x} for r in pp["timeline"] for sl in r["slices"]
             for x in sl["routing"]], ["period", "slice", "workload", "deployment", "requests_per_s"])
        files["period_costs.csv"] = (
            [{"period": r["period"], "part": p, "usd": v} for r in pp["timeline"] for p, v in r["cost_usd"].items()],
            ["period", "part", "usd"])
        # each period's accrued total and capex (undiscounted, as the report's per-period table) and, where
        # prices change per period, each price's multiplier in it (QA s22: no table had the capex, and a
        # buy_usd read as one was the discounted commitment)
        rates = pp.get("price_change_per_period") or {}
        files["period_totals.csv"] = (
            [{"period": r["period"], "accrued_usd": r.get("total_usd"), "capex_usd": r.get("capex_usd"),
              "energy_kwh": r.get("energy_kwh"), "co2_kg": r.get("co2_kg"),
              **{f"{name}_price_factor": (1.0 + float(rate)) ** int(r["period"]) for name, rate in rates.items()}}
             for r in pp["timeline"]],
            ["period", "accrued_usd", "capex_usd", "energy_kwh", "co2_kg", *(f"{name}_price_factor" for name in rates)])
        if pp.get("change"):
            files["change.csv"] = (pp["change"]["decisions"], ["period", "offer", "decision", "old_units",
                                                                "new_units", "change_usd"])
    written = []
    for name, (rows, fields) in files.items():
        atomic_write_text(d / name, _csv(rows, fields), protect=protect)
        written.append(d / name)
    # tables an earlier plan wrote here that this one has not: left, they would mix two plans
    protected = {Path(p).resolve() for p in protect}
    for name in CSV_TABLES:
        stale = d / name
        if name not in files and stale.is_file() and stale.resolve() not in protected:
            stale.unlink()
    return written


#: every table ``write_csv_dir`` can write
CSV_TABLES = ("deployments.csv", "routing.csv", "procurement.csv", "kpis.csv", "costs.csv", "period_units.csv",
              "period_totals.csv", "period_moves.csv", "period_routing.csv", "period_costs.csv", "change.csv")
