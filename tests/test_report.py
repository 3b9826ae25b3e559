"""Plots (solver.viz), the HTML report (solver.html_report) and `fleetopt report`.

The hand-made plan below has numbers chosen so that every figure, statistic and
table value can be worked out by hand (the arithmetic is written next to each
check).  A real plan solved from problems/chat-assistant.yaml (about 1 s) checks
the end-to-end path, and headless Chromium checks that the page really renders
offline.  Set FLEETOPT_NO_BROWSER=1 to skip only the browser test.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import yaml
from matplotlib.colors import to_rgb

from solver import viz
from solver.cli import main
from solver.html_report import build_report, render_html
from period_fixtures import a100_chat, a100_overlay

ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TABLE_IDS = ("summary", "costs", "procurement", "deployments", "routing", "kpis")


def _dep(i, acc, region, acq, replicas, util, existing=False, tp=1):
    return {"id": f"m{i}:fp8:tp{tp}@{acc}@{region}/{acq}", "accelerator": acc, "model": f"m{i}",
            "quantization": "fp8", "tensor_parallel": tp, "region": region, "acquisition": acq,
            "provider": "aws", "instance": "p5", "existing": existing, "replicas": replicas,
            "spare_replicas": 0, "accelerators": replicas * tp, "quality": 80.0,
            "utilization": util, "power_w": 1500.0, "energy_kwh": 2000.0, "co2_kg": 700.0,
            "usd": 3000.0}


def hand_plan() -> dict:
    """A plan whose numbers are easy to check by hand."""
    d1 = _dep(1, "h100-sxm", "virginia", "on_demand", replicas=2, util=0.8, tp=8)
    d2 = _dep(2, "a10g", "ireland", "purchase", replicas=4, util=0.5, existing=True)
    return {
        "status": "optimal", "problem": "hand", "scenario": None,
        "objective": {"total": 10000.0, "currency": "USD", "horizon_hours": 1460.0,
                      "usd_per_month": 5000.0,
                      "breakdown": {"rental_on_demand": 6000.0, "rental_spot": 0.0,
                                    "energy": 3000.0, "carbon": 1000.0}},
        "procurement": [
            {"accelerator": "h100-sxm", "region": "virginia", "acquisition": "on_demand",
             "provider": "aws", "instance": "p5", "existing": False, "units": 1,
             "devices_per_unit": 8, "devices": 8, "usd": 3000.0, "capex_usd": 0.0},
            {"accelerator": "h100-sxm", "region": "virginia", "acquisition": "on_demand",
             "provider": "gcp", "instance": "a3", "existing": False, "units": 1,
             "devices_per_unit": 8, "devices": 8, "usd": 3000.0, "capex_usd": 0.0},
            {"accelerator": "a10g", "region": "ireland", "acquisition": "purchase",
             "provider": "owned", "instance": "existing", "existing": True, "units": 4,
             "devices_per_unit": 1, "devices": 4, "usd": 0.0, "capex_usd": 0.0}],
        "deployments": [d1, d2],
        "routing": [
            {"workload": "chat", "deployment": d1["id"], "requests_per_s": 10.0, "share": 2 / 3,
             "capacity_rps": 6.25, "ttft_ms": 300.0, "tpot_ms": 40.0},
            {"workload": "chat", "deployment": d2["id"], "requests_per_s": 5.0, "share": 1 / 3,
             "capacity_rps": 2.5, "ttft_ms": 500.0, "tpot_ms": 60.0},
            {"workload": "batch", "deployment": d2["id"], "requests_per_s": 20.0, "share": 1.0,
             "capacity_rps": 10.0, "ttft_ms": 900.0, "tpot_ms": 70.0}],
        "kpis": [
            {"workload": "batch", "requests_per_s": 20.0, "usd": 6000.0,
             "usd_per_million_output_tokens": 1.0, "ttft_ms": 900.0, "ttft_target_ms": 5000.0,
             "tpot_ms": 70.0, "tpot_target_ms": 100.0, "quality": 80.0, "quality_min_routed": 80.0,
             "quality_target": None, "quality_mode": None, "energy_kwh": 1000.0, "co2_kg": 300.0},
            {"workload": "chat", "requests_per_s": 15.0, "usd": 4000.0,
             "usd_per_million_output_tokens": 2.0, "ttft_ms": 500.0, "ttft_target_ms": 400.0,
             "tpot_ms": 60.0, "tpot_target_ms": 60.0, "quality": 80.0, "quality_min_routed": 80.0,
             "quality_target": 75.0, "quality_mode": "mean", "energy_kwh": 3000.0, "co2_kg": 1100.0}],
        "totals": {"devices": 20, "replicas": 6, "it_power_w": 3000.0, "energy_kwh": 4000.0,
                   "co2_kg": 1400.0, "capex_usd": 0.0, "nameplate_kw_facility": 12.0},
        "solver": {"backend": "pulp", "name": "cbc", "status_detail": "", "gap": None,
                   "best_bound": None, "seconds": 0.5, "time_limit_s": 60.0, "mip_gap": 1e-6,
                   "variables": 10, "constraints": 5},
        "versions": {"fleetopt": "0.1.0", "catalog": "test"}, "message": "", "baseline": None,
        "format": 1,
    }


class Page(HTMLParser):
    """Collects tags, attributes, table ids and text of an HTML page."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def of(self, tag):
        return [a for t, a in self.tags if t == tag]

    @property
    def table_ids(self):
        return {a.get("id") for a in self.of("table")}


def _stats(plan, ceiling=None):
    return {r["name"]: r for r in viz.statistics(plan, ceiling)}


# ---------------------------------------------------------------- statistics
def test_statistics_rounds_derived_values_and_checks_max_utilization():
    """QA s21: a plan's 0.8 read 0.8000000000000002 (0.8 x 3 replicas / 3 serving), and
    max_utilization="0.8" raised "Unknown format code 'g'" from a format string.  By hand: 3
    replicas at 0.8 and 4 at 0.5: max 0.8, mean (2.4 + 2.0) / 7 = 0.628571428571 (12 digits)."""
    p = hand_plan()
    p["deployments"][0].update(replicas=3, accelerators=24)
    s = _stats(p, 0.8)
    assert s["utilisation, max"]["value"] == 0.8
    assert s["utilisation, mean"]["value"] == 0.628571428571
    assert s["total cost"]["value"] == 10000.0
    with pytest.raises(TypeError, match=r"max_utilization must be a number.*got '0\.8' \(str\)"):
        viz.statistics(p, "0.8")
    with pytest.raises(TypeError, match="max_utilization"):
        viz.statistics(p, True)
    with pytest.raises(ValueError, match=r"max_utilization is a fraction in \(0, 1\].*got 80"):
        viz.statistics(p, 80)


def test_statistics_by_hand():
    s = _stats(hand_plan(), 0.85)
    assert s["total cost"]["value"] == 10000.0 and s["total cost"]["unit"] == "USD"
    # 1460 h = 2 months of 730 h -> 10000 / 2
    assert s["cost per month"]["value"] == pytest.approx(5000.0)
    # QA: with reservations paid after the horizon, the per-month figure is the plan's monthly bill
    # (6,000 of the 10,000 after it: 4,000 over 2 months), not the total averaged (5,000)
    p = hand_plan()
    p["objective"] = dict(p["objective"], usd_per_month=2000.0, after_horizon_usd={"rental_reserved_3y": 6000.0})
    s2 = _stats(p, 0.85)
    assert s2["cost per month"]["value"] == pytest.approx(2000.0)
    assert "6,000 reservations pay after it" in s2["total cost"]["note"]
    assert s["devices"]["value"] == 20
    assert s["replicas"]["value"] == 6 and s["deployments"]["value"] == 2
    assert s["demand"]["value"] == pytest.approx(35.0)  # 20 + 15 requests/s
    # replica-weighted: (2 x 0.8 + 4 x 0.5) / 6 = 3.6 / 6
    assert s["utilisation, mean"]["value"] == pytest.approx(0.6)
    assert s["utilisation, max"]["value"] == pytest.approx(0.8)
    assert "0.85" in s["utilisation, max"]["note"]
    # tokens: 6000 / 1.0 x 1e6 = 6e9 and 4000 / 2.0 x 1e6 = 2e9 -> 10000 USD / 8e9 tok x 1e6
    assert s["cost per million output tokens"]["value"] == pytest.approx(1.25)
    assert s["energy"]["unit"] == "kWh" and s["energy"]["value"] == 4000.0
    assert "MIP gap" not in s  # gap is None in the plan: not listed


RESERVED_PAST_HORIZON = """\
schema_version: 1
name: reserved-past-horizon
workloads:
  - {id: a, demand: {requests_per_s: 40}, input_tokens: {mean: 1000}, output_tokens: {mean: 300},
     slo: {ttft_ms: 1000, tpot_ms: 50}, models: [llama-3.1-8b], regions: [virginia]}
  - {id: b, demand: {requests_per_s: 10}, input_tokens: {mean: 2000}, output_tokens: {mean: 100},
     slo: {ttft_ms: 1000, tpot_ms: 50}, models: [llama-3.1-8b], regions: [texas]}
fleet:
  regions: [virginia, texas]
  acquisition: [on_demand, reserved_1y]
  accelerators: [h100-sxm]
  catalog_offers: false
  offers:
    - {accelerator: h100-sxm, region: virginia, acquisition: on_demand, usd_per_device_hour: 4.0}
    - {accelerator: h100-sxm, region: texas, acquisition: reserved_1y, usd_per_device_hour: 1.0}
objective: {horizon_months: 6}
solver: {backend: highspy, time_limit_s: 20}
"""


def test_fleet_cost_per_token_counts_a_reservation_past_the_horizon_as_each_workload_does(tmp_path):
    """QA s17: the fleet's cost per million output tokens rebuilt each workload's tokens as its usd
    (a 1-year reservation's whole term) / its cost per token (the 6-month horizon's part), so the
    reserved workload's tokens counted twice: 0.198413 instead of 0.192308.

    By hand (H = 6 x 730 = 4,380 h, no energy price): a, 40 req/s x 300 tokens on the plan's
    on-demand H100s in Virginia at $4/h; b, 10 req/s x 100 tokens on one reserved H100 in Texas at
    $1/h, $4,380 of its $8,760 term within the horizon.  Tokens: a 40 x 3600 x 4380 x 300 = 189,216 M,
    b 15,768 M.  Fleet: (devices_a x 4 x 4380 + 4,380) / 204,984 M."""
    problem, out = tmp_path / "p.yaml", tmp_path / "p.json"
    problem.write_text(RESERVED_PAST_HORIZON)
    assert main(["solve", str(problem), "--json", str(out), "--quiet"]) == 0
    plan = json.loads(out.read_text())
    kpi = {k["workload"]: k for k in plan["kpis"]}
    assert kpi["a"]["output_tokens_millions"] == pytest.approx(189_216.0)
    assert kpi["b"]["output_tokens_millions"] == pytest.approx(15_768.0)
    devices = {(p["region"], p["acquisition"]): p["devices"] for p in plan["procurement"]}
    assert devices[("texas", "reserved_1y")] == 1
    usd_h = devices[("virginia", "on_demand")] * 4.0 * 4380 + 1.0 * 4380
    fleet = _stats(plan)["cost per million output tokens"]
    assert fleet["value"] == pytest.approx(usd_h / 204_984.0, rel=1e-9)
    assert main(["verify", str(problem), str(out)]) == 0
    # a plan of an earlier version (no tokens in its KPIs) with a reservation past the horizon: the
    # figure cannot be rebuilt, so it is left out rather than wrong
    for k in plan["kpis"]:
        del k["output_tokens_millions"]
    assert "cost per million output tokens" not in _stats(plan)
    # a tampered token count is caught by the verifier
    plan = json.loads(out.read_text())
    plan["kpis"][0]["output_tokens_millions"] *= 2
    out.write_text(json.dumps(plan))
    assert main(["verify", str(problem), str(out)]) != 0


def test_output_tokens_count_a_daily_profile_at_its_mean(tmp_path):
    """The tokens of a workload with a daily profile are served at the profile's mean, as its energy
    is (review: a mutant that left the load factor out of both the plan and the verifier passed).
    By hand: 20 req/s peak, profile [1, 0.5] (mean 0.75 of the peak), 300 output tokens, one month
    (730 h): 20 x 0.75 x 3600 x 730 x 300 = 11,826 M tokens (the flat workload b: 10 x 3600 x 730 x 100)."""
    text = RESERVED_PAST_HORIZON.replace("{requests_per_s: 40}", "{requests_per_s: 20, profile: [1, 0.5]}")
    text = text.replace("horizon_months: 6", "horizon_months: 1")
    problem, out = tmp_path / "p.yaml", tmp_path / "p.json"
    problem.write_text(text)
    assert main(["solve", str(problem), "--json", str(out), "--quiet"]) == 0
    kpi = {k["workload"]: k for k in json.loads(out.read_text())["kpis"]}
    assert kpi["a"]["output_tokens_millions"] == pytest.approx(20 * 0.75 * 3600 * 730 * 300 / 1e6)
    assert kpi["b"]["output_tokens_millions"] == pytest.approx(10 * 3600 * 730 * 100 / 1e6)


def test_a_plan_of_an_earlier_version_read_and_written_again_keeps_its_verdict(tmp_path):
    """A plan without output_tokens_millions (an earlier version) passes verify; read with
    Plan.from_dict and written again it must not gain `null` figures verify then flags (review)."""
    from solver.plan import Plan
    problem, out = tmp_path / "p.yaml", tmp_path / "p.json"
    problem.write_text(RESERVED_PAST_HORIZON)
    assert main(["solve", str(problem), "--json", str(out), "--quiet"]) == 0
    plan = json.loads(out.read_text())
    for k in plan["kpis"]:
        del k["output_tokens_millions"]
    again = json.loads(Plan.from_dict(plan).to_json())
    assert all("output_tokens_millions" not in k for k in again["kpis"])
    out.write_text(json.dumps(again))
    assert main(["verify", str(problem), str(out)]) == 0


def test_statistics_devices_from_procurement_when_totals_missing():
    plan = hand_plan()
    del plan["totals"]
    assert _stats(plan)["devices"]["value"] == 8 + 8 + 4
    assert "energy" not in _stats(plan)


# ---------------------------------------------------------------- figures
def _bars(ax):
    return [p for p in ax.patches if p.get_width() > 0 and p.get_height() > 0]


def test_cost_breakdown_figure_draws_each_nonzero_part():
    fig = viz.cost_breakdown_figure(hand_plan())
    ax = fig.axes[0]
    bars = sorted(_bars(ax), key=lambda b: -b.get_y())  # top to bottom
    # zero rental_spot is left out; order of COST_PARTS: on-demand, energy, carbon
    assert [b.get_width() for b in bars] == [6000.0, 3000.0, 1000.0]
    top_down = sorted(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels())),
                      reverse=True)
    assert [name for _, name in top_down] == ["rental, on-demand", "energy", "carbon price"]
    assert "USD" in ax.get_xlabel()
    assert "$10,000" in ax.get_title() and "1,460 h" in ax.get_title()
    labels = {t.get_text() for t in ax.texts}
    assert {"$6,000", "$3,000", "$1,000"} <= labels


def test_fleet_composition_sums_devices_by_accelerator_region_acquisition():
    fig = viz.fleet_composition_figure(hand_plan())
    ax = fig.axes[0]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == ["a10g\nireland", "h100-sxm\nvirginia"]
    height_at = {}
    for b in _bars(ax):
        x = round(b.get_x() + b.get_width() / 2)
        height_at[x] = height_at.get(x, 0) + b.get_height()
    # a10g: 4 existing; h100: two on-demand offers of 8 devices each
    assert height_at == {0: 4.0, 1: 16.0}
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["existing", "on_demand"]
    assert "devices" in ax.get_ylabel()
    assert "20 devices" in ax.get_title()


def test_utilisation_figure_marks_the_ceiling_and_overloads():
    plan = hand_plan()
    plan["deployments"].append(_dep(3, "l4", "virginia", "spot", replicas=1, util=0.9))
    fig = viz.utilisation_figure(plan, max_utilization=0.85)
    ax = fig.axes[0]
    bars = sorted(_bars(ax), key=lambda b: -b.get_y())
    assert [b.get_width() for b in bars] == pytest.approx([80.0, 50.0, 90.0])
    over = [to_rgb(b.get_facecolor()) for b in bars]
    assert over[0] == over[1] != over[2]  # only 90% > 85% is flagged
    lines = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert len(lines) == 1 and list(lines[0].get_xdata()) == [85.0, 85.0]
    assert "%" in ax.get_xlabel()
    # without a ceiling: no line and no flag
    ax2 = viz.utilisation_figure(plan).axes[0]
    assert not [ln for ln in ax2.get_lines() if ln.get_linestyle() == "--"]
    assert len({to_rgb(b.get_facecolor()) for b in _bars(ax2)}) == 1


def test_ceiling_tolerance_is_the_solver_tolerance():
    assert not viz.over_ceiling(0.800000028, 0.8)  # solver noise, as in real plans
    assert viz.over_ceiling(0.8001, 0.8)


def test_routing_figure_stacks_requests_per_workload():
    ax = viz.routing_figure(hand_plan()).axes[0]
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    totals = {}
    for b in _bars(ax):
        y = round(b.get_y() + b.get_height() / 2)
        totals[y] = totals.get(y, 0) + b.get_width()
    by_name = {ticks[i]: totals[int(round(t))] for i, t in enumerate(ax.get_yticks())}
    assert by_name == {"chat": pytest.approx(15.0), "batch": pytest.approx(20.0)}  # 10+5, 20
    assert len(_bars(ax)) == 3
    assert "requests/s" in ax.get_xlabel()
    assert len(ax.get_legend().get_texts()) == 2  # two deployments


def _overlaps(boxes) -> list:
    boxes = sorted(boxes, key=lambda b: b.y0)
    return [(a, b) for a, b in zip(boxes, boxes[1:]) if b.y0 < a.y1 - 0.5]


def test_many_bars_get_a_taller_figure_whose_labels_do_not_overlap():
    """QA: 48 workloads in the fixed 4.8-inch routing figure: names and 'N req/s' labels overlapped.
    The figure grows with its rows; no two workload names (nor two totals) share a pixel row, and
    the legend stays below the axes and the x label.  Utilisation bars grow the same way."""
    plan = hand_plan()
    deps = [_dep(i, "h100-sxm", "virginia", "on_demand", replicas=1, util=0.7) for i in range(12)]
    plan["deployments"] = deps
    plan["routing"] = [{"workload": f"workload-{w:02d}", "deployment": deps[w % 12]["id"], "requests_per_s": 1.0 + w}
                       for w in range(48)]
    fig = viz.routing_figure(plan)
    assert fig.get_size_inches()[1] >= 48 * viz.ROW_IN
    r = fig.canvas.get_renderer()
    fig.canvas.draw()
    ax = fig.axes[0]
    names = [t.get_window_extent(r) for t in ax.get_yticklabels()]
    totals = [t.get_window_extent(r) for t in ax.texts]
    assert len(names) == len(totals) == 48
    assert _overlaps(names) == [] and _overlaps(totals) == []
    legend = ax.get_legend().get_window_extent(r)
    assert legend.y1 <= ax.xaxis.label.get_window_extent(r).y0 + 0.5
    assert legend.y0 >= 0                                   # inside the figure
    ufig = viz.utilisation_figure(plan, max_utilization=0.8)
    ufig.canvas.draw()
    ur = ufig.canvas.get_renderer()
    assert _overlaps([t.get_window_extent(ur) for t in ufig.axes[0].get_yticklabels()]) == []
    # a small plan keeps the standard size
    assert tuple(viz.routing_figure(hand_plan()).get_size_inches()) == viz.FIG_SIZE_IN


def test_dollar_signs_in_names_stay_literal():
    plan = hand_plan()
    plan["routing"][0]["workload"] = "a$b$c"
    fig = viz.routing_figure(plan)
    viz.png_bytes(fig)  # mathtext would fail or garble; plain text renders
    assert "a$b$c" in [t.get_text() for t in fig.axes[0].get_yticklabels()]


def _png_chunks(data: bytes) -> list[bytes]:
    assert data[:8] == PNG_SIGNATURE
    out, i = [], 8
    while i < len(data):
        (n,) = struct.unpack(">I", data[i:i + 4])
        out.append(data[i + 4:i + 8])
        i += 12 + n
    return out


def test_pngs_are_deterministic_and_carry_no_metadata():
    a = viz.figure_pngs(hand_plan(), 0.85)
    b = viz.figure_pngs(hand_plan(), 0.85)
    assert list(a) == list(viz.FIGURES) and a == b
    for data in a.values():
        chunks = _png_chunks(data)
        assert not {b"tEXt", b"iTXt", b"zTXt", b"tIME"} & set(chunks)
    import matplotlib.image as mpimg
    import io
    img = mpimg.imread(io.BytesIO(a["cost_breakdown"]))
    w, h = viz.FIG_SIZE_IN
    assert img.shape[:2] == (round(h * viz.FIG_DPI), round(w * viz.FIG_DPI))


def test_figures_without_data_are_left_out():
    plan = hand_plan()
    plan["objective"]["breakdown"] = {}
    plan["routing"] = []
    assert set(viz.figures(plan)) == {"fleet_composition", "utilisation"}
    del plan["procurement"]  # composition falls back to deployments' devices
    ax = viz.fleet_composition_figure(plan).axes[0]
    assert sorted(b.get_height() for b in _bars(ax)) == [4.0, 16.0]  # 4 x tp1, 2 x tp8


# ---------------------------------------------------------------- HTML
def _check_self_contained(text: str) -> Page:
    page = Page(text)
    assert text.startswith("<!DOCTYPE html>")
    assert not page.of("script") and not page.of("link") and not page.of("iframe")
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            if name in ("src", "href", "action", "data", "poster"):
                assert value.startswith("data:"), (tag, name, value[:60])
    assert "http://" not in text and "https://" not in text and "url(" not in text
    csp = [a for a in page.of("meta") if a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0]["content"]
    return page


def _images(page: Page) -> list[bytes]:
    out = []
    for a in page.of("img"):
        prefix = "data:image/png;base64,"
        assert a["src"].startswith(prefix) and a.get("alt")
        data = base64.b64decode(a["src"][len(prefix):], validate=True)
        assert data[:8] == PNG_SIGNATURE
        out.append(data)
    return out


def test_html_has_tables_and_embedded_images():
    plan = hand_plan()
    text, pngs = build_report(plan, max_utilization=0.85)
    page = _check_self_contained(text)
    assert set(TABLE_IDS) <= page.table_ids
    assert _images(page) == [pngs[k] for k in viz.FIGURES]
    body = " ".join(page.text)
    assert "$10,000" in body and "$5,000" in body  # total and per month (2 months)
    assert "60.0%" in body  # share of on-demand rental: 6000 / 10000
    # chat misses its TTFT target (500 > 400 ms): one 'miss' cell; tpot 60 <= 60 is ok
    tds = [a.get("class", "") for a in page.of("td")]
    assert sum("miss" in c for c in tds) == 1
    assert text == render_html(plan, pngs, max_utilization=0.85)  # deterministic


def test_html_escapes_every_text_from_the_plan():
    plan = hand_plan()
    evil = '<script>alert("x")</script>&<img src=x onerror=alert(1)>'
    plan["problem"] = evil
    plan["routing"][0]["workload"] = evil
    plan["kpis"][0]["workload"] = evil
    plan["deployments"][0]["model"] = evil
    plan["message"] = evil
    text = render_html(plan, {})
    page = _check_self_contained(text)
    assert not page.of("script") and not page.of("img")
    assert html_unescaped_count(page, evil) >= 4


def html_unescaped_count(page: Page, s: str) -> int:
    return sum(s in t for t in page.text)


def test_infeasible_plan_reports_the_message_only():
    plan = {"status": "infeasible", "problem": "p", "scenario": "s",
            "objective": {"total": None, "breakdown": {}, "currency": "USD",
                          "horizon_hours": 730.0, "usd_per_month": None},
            "procurement": [], "deployments": [], "routing": [], "kpis": [],
            "message": "workload chat: no candidate meets TTFT 1 ms"}
    text, pngs = build_report(plan)
    page = _check_self_contained(text)
    assert pngs == {} and not page.of("img") and not page.table_ids
    assert "no candidate meets TTFT 1 ms" in text and "scenario s" in text


BAD_VALUES = ("DELETE", None, "junk", {"a": 1}, [1, 2], -1, float("nan"), True)


def _mutations(plan: dict, bad_values=BAD_VALUES):
    """(description, mutated plan) for every field of every section, set to each bad value."""
    for key in list(plan):
        for bad in bad_values:
            p = copy.deepcopy(plan)
            if bad == "DELETE":
                del p[key]
            else:
                p[key] = bad
            yield f"{key}={bad!r}", p
        value = plan[key]
        rows = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
        fields = sorted({f for r in rows for f in r})
        for f in fields:
            for bad in bad_values:
                p = copy.deepcopy(plan)
                for r in (p[key] if isinstance(p[key], list) else [p[key]]):
                    if bad == "DELETE":
                        r.pop(f, None)
                    else:
                        r[f] = bad
                yield f"{key}.{f}={bad!r}", p


def test_bad_or_missing_fields_never_crash_the_page():
    n = 0
    for what, p in _mutations(hand_plan()):
        try:
            text = render_html(p, {}, max_utilization=0.85)
            viz.statistics(p, 0.85)
        except Exception as exc:  # noqa: BLE001 - name the mutation that broke it
            pytest.fail(f"{what}: {type(exc).__name__}: {exc}")
        Page(text)
        n += 1
    assert n > 300


VIZ_FIELDS = {"objective": ("total", "horizon_hours", "currency", "breakdown"),
              "procurement": ("accelerator", "region", "acquisition", "existing", "devices"),
              "deployments": ("id", "model", "tensor_parallel", "accelerator", "existing",
                              "utilization", "replicas", "accelerators"),
              "routing": ("workload", "deployment", "requests_per_s")}


def test_bad_or_missing_fields_never_crash_the_figures():
    builders = {"objective": [viz.cost_breakdown_figure],
                "procurement": [viz.fleet_composition_figure],
                "deployments": [viz.fleet_composition_figure, viz.utilisation_figure,
                                viz.routing_figure],
                "routing": [viz.routing_figure]}
    for what, p in _mutations(hand_plan(), ("DELETE", None, "junk", {"a": 1}, -1, float("nan"))):
        section, _, rest = what.partition(".")
        field = rest.split("=")[0]
        if section not in VIZ_FIELDS or (field and field not in VIZ_FIELDS[section]):
            continue
        if section == "deployments":
            p.pop("procurement", None)  # make composition read the deployments
        for build in builders[section]:
            try:
                build(p)  # tight_layout inside lays out (renders) all text
            except Exception as exc:  # noqa: BLE001
                pytest.fail(f"{build.__name__} with {what}: {type(exc).__name__}: {exc}")


# ---------------------------------------------------------------- CLI, real plan
@pytest.fixture(scope="module")
def real_plan(tmp_path_factory) -> Path:
    """A plan solved from the shipped chat-assistant problem (about 1 s)."""
    out = tmp_path_factory.mktemp("plan") / "chat.plan.json"
    assert main(["solve", str(ROOT / "problems/chat-assistant.yaml"), "--json", str(out),
                 "--quiet"]) == 0
    return out


def test_report_cli_on_a_solved_plan(real_plan, tmp_path, capsys):
    problem = ROOT / "problems/chat-assistant.yaml"
    html_out, png_dir = tmp_path / "r.html", tmp_path / "png"
    before = real_plan.read_bytes()
    assert main(["report", str(real_plan), "--html", str(html_out), "--png-dir", str(png_dir),
                 "--problem", str(problem)]) == 0
    out = capsys.readouterr().out
    assert real_plan.read_bytes() == before
    plan = json.loads(before)
    page = _check_self_contained(html_out.read_text(encoding="utf-8"))
    assert set(TABLE_IDS) <= page.table_ids
    files = sorted(p.name for p in png_dir.iterdir())
    assert files == sorted(f"{k}.png" for k in viz.FIGURES)
    assert _images(page) == [(png_dir / f"{k}.png").read_bytes() for k in viz.FIGURES]
    # the ceiling comes from the problem file, read here independently
    ceiling = yaml.safe_load(problem.read_text())["fleet"]["max_utilization"]
    ax = viz.utilisation_figure(plan, ceiling).axes[0]
    dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert list(dashed[0].get_xdata()) == [ceiling * 100] * 2
    widths = sorted(b.get_width() for b in _bars(ax))
    assert widths == pytest.approx(sorted(d["utilization"] * 100 for d in plan["deployments"]))
    # cost bars are the plan's non-zero parts, and they add up to its total
    bars = [b.get_width() for b in _bars(viz.cost_breakdown_figure(plan).axes[0])]
    assert sorted(bars) == sorted(v for v in plan["objective"]["breakdown"].values() if v)
    assert sum(bars) == pytest.approx(plan["objective"]["total"], rel=1e-6)
    assert "wrote" in out and "total cost" in out


def test_report_without_matplotlib_is_a_clear_error(real_plan, tmp_path, capsys, monkeypatch):
    """QA: an install without matplotlib (then an optional extra) made every `fleetopt report` an
    internal error; it is a dependency now, and an install that lacks it gets exit 2 and the fix."""
    import sys
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    for mod in ("solver.viz", "solver.html_report"):
        monkeypatch.delitem(sys.modules, mod, raising=False)
    assert main(["report", str(real_plan), "--html", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "needs matplotlib" in err and "pip install" in err and not (tmp_path / "r.html").exists()


def test_report_cli_refuses_bad_input(real_plan, tmp_path, capsys):
    before = real_plan.read_bytes()
    # overwriting the input plan
    assert main(["report", str(real_plan), "--html", str(real_plan)]) == 2
    assert real_plan.read_bytes() == before
    assert "overwrite an input" in capsys.readouterr().err
    # missing plan file
    assert main(["report", str(tmp_path / "nope.json"), "--html", str(tmp_path / "x.html")]) == 2
    assert "file not found" in capsys.readouterr().err
    # not JSON / not a plan / wrong shape
    for body, msg in (("{not json", "not a readable plan JSON"), ('{"a": 1}', "not a fleetopt plan"),
                      ('{"status": "optimal", "deployments": 5}', "`deployments` must be a list")):
        bad = tmp_path / "bad.json"
        bad.write_text(body)
        assert main(["report", str(bad), "--html", str(tmp_path / "x.html")]) == 2
        err = capsys.readouterr().err
        assert msg in err and "Traceback" not in err
    # a problem that is not the plan's
    assert main(["report", str(real_plan), "--html", str(tmp_path / "x.html"), "--problem",
                 str(ROOT / "problems/rag-long-context.yaml")]) == 2
    assert "solved from problem 'chat-assistant'" in capsys.readouterr().err
    # nothing asked for
    assert main(["report", str(real_plan)]) == 2
    assert "--html" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()


# ---------------------------------------------------------------- headless Chromium
CHROMIUM = "/usr/bin/chromium"


def _chromium() -> str:
    if os.environ.get("FLEETOPT_NO_BROWSER") == "1":
        pytest.skip("FLEETOPT_NO_BROWSER=1: browser rendering check skipped")
    path = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    if not path:
        pytest.fail("headless Chromium is needed to check the HTML report renders: run "
                    "scripts/install_chromium.sh (apt-get install -y chromium), or set "
                    "FLEETOPT_NO_BROWSER=1 to skip this check")
    return path


def _run_chromium(exe: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={profile}", *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "HOME": str(profile)})
    assert res.returncode == 0, f"chromium failed ({res.returncode}): {res.stderr[-2000:]}"
    return res


def test_report_renders_in_headless_chromium(real_plan, tmp_path):
    exe = _chromium()
    html_out = tmp_path / "report.html"
    assert main(["report", str(real_plan), "--html", str(html_out), "--problem",
                 str(ROOT / "problems/chat-assistant.yaml")]) == 0
    url = html_out.resolve().as_uri()
    dom = _run_chromium(exe, tmp_path / "profile", "--dump-dom", url).stdout
    page = Page(dom)
    assert set(TABLE_IDS) <= page.table_ids
    imgs = page.of("img")
    assert len(imgs) == len(viz.FIGURES)
    assert all(a["src"].startswith("data:image/png;base64,") for a in imgs)
    shot = tmp_path / "shot.png"
    _run_chromium(exe, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1200,2000", url)
    import matplotlib.image as mpimg
    img = mpimg.imread(shot)[..., :3]
    assert img.shape[:2] == (2000, 1200)
    assert len(np.unique((img * 255).round().reshape(-1, 3), axis=0)) > 50  # not blank
    # the plots' blue (the CSS has no such colour) shows the PNGs were decoded and drawn
    blue = np.array(to_rgb(viz.PALETTE[0]))
    assert int((np.abs(img - blue).max(axis=-1) < 0.03).sum()) > 5000


def test_result_line_says_who_stopped_the_search_and_the_gap_in_percent():
    from solver.mip.stop import STOPPED_NOTE
    from solver.report import console_text
    plan = hand_plan()
    plan["status"] = "time_limit"
    plan["solver"] = {**plan["solver"], "gap": 0.995, "status_detail": "HiGHS: time limit"}
    text = console_text(plan)
    assert "gap 99.5%" in text and "stopped by the time limit" in text
    plan["solver"]["status_detail"] = STOPPED_NOTE + "; HiGHS: interrupted"
    assert "stopped by the user (Ctrl-C)" in console_text(plan)


def test_negative_money_has_its_sign_before_the_currency():
    from solver.report import usd_text as _usd
    assert (_usd(-39730.4), _usd(-5.5), _usd(1234.0), _usd(0.0)) == ("-$39,730", "-$5.50", "$1,234", "$0")


def test_big_numbers_read_as_numbers_not_exponents():
    """40,000 req/s, 1,110 t of CO2: the report prints '39,640', never '3.964e+04' (QA finding)."""
    from solver.html_report import fmt_money, fmt_num
    from solver.report import number_text
    assert (number_text(39640.2, ".4g"), number_text(1110.4), number_text(12.345, ".4g"), number_text(None)) == \
        ("39,640", "1,110", "12.35", "-")
    assert (number_text(999.7), number_text(-999.8)) == ("1,000", "-1,000")
    assert (fmt_num(40000.0, "g"), fmt_money(-39730.4)) == ("40,000", "-$39,730")


def test_the_html_of_a_multi_period_plan_shows_its_timeline():
    """eight-quarter-growth's fleet lives in periods.timeline: the page shows it per period (it showed
    the costs alone), and says the total is discounted."""
    from solver.html_report import render_html
    from solver.mip.pipeline import solve_problem
    from solver.problem.load import load_problem
    plan = solve_problem(load_problem(Path(__file__).resolve().parents[1] / "problems/eight-quarter-growth.yaml")).plan
    from solver.report import usd_text
    d = json.loads(plan.to_json())
    page = _check_self_contained(render_html(d))
    text = " | ".join(page.text)
    assert "Per period (devices; cost accrued" in text and "Hardware timeline" in text and ", discounted" in text
    assert "discounted over the planning horizon" in text      # the summary table's note, too
    for row in d["periods"]["timeline"]:
        assert html_unescaped_count(page, usd_text(row["total_usd"])) >= 1


def test_plot_labels_read_as_the_tables():
    """The cost plot's negative part and the routing plot's totals are written as the tables write them."""
    from solver.report import money_text, number_text
    assert (money_text(-39730.2), money_text(1234.0, "EUR"), number_text(30000.0), number_text(12.5)) == \
        ("-$39,730", "1,234 EUR", "30,000", "12.5")


def test_statistics_call_a_multi_period_total_discounted():
    """A multi-period total is the objective (discounted, resale credit in it), not what the periods
    accrue: the summary said 'total cost ... over the planning horizon' as for one period."""
    plan = {"status": "optimal", "problem": "hand-periods", "periods": {"timeline": [{}, {}]},
            "objective": {"total": 900.0, "currency": "USD", "horizon_hours": 1460.0,
                          "breakdown": {"rental_on_demand": 1000.0, "retirement": -100.0}}}
    rows = {r["name"]: r for r in viz.statistics(plan)}
    assert rows["total cost"]["note"] == ("discounted over the planning horizon, reservations over their "
                                          "term; includes the resale credit of retired devices")
    assert rows["cost per month"]["value"] == pytest.approx(900.0 / 2)     # 1460 h = 2 x 730 h
    assert rows["cost per month"]["note"] == "the discounted total, 730 h per month"
    plan["objective"]["breakdown"]["retirement"] = 0.0     # nothing retired: no credit to mention
    assert "resale" not in {r["name"]: r for r in viz.statistics(plan)}["total cost"]["note"]
    one = hand_plan()                                       # one period: no discounting
    assert {r["name"]: r for r in viz.statistics(one)}["total cost"]["note"] == "over the planning horizon"


def test_utilisation_counts_serving_replicas_only():
    """QA: an N+1 deployment (4 replicas, 1 spare) whose serving replicas run at 75% showed 56% (load
    over every replica), below a 0.8 ceiling it is close to.  The plan's own figure stays load /
    replicas; reports and the figure show load / (replicas - spares), the share max_utilization bounds."""
    plan = hand_plan()
    plan["deployments"][1].update(replicas=4, spare_replicas=1, utilization=0.56)   # 2.24 replicas of load
    from solver.report import console_text, serving_utilization
    assert serving_utilization(plan["deployments"][1]) == pytest.approx(0.56 * 4 / 3)
    row = next(ln for ln in console_text(plan).splitlines() if "ireland" in ln and "m2" in ln)
    assert " 75% " in row and " 56% " not in row
    ax = viz.utilisation_figure(plan, max_utilization=0.7).axes[0]
    assert sorted(round(b.get_width(), 6) for b in _bars(ax)) == pytest.approx([74.666667, 80.0])
    html, _ = build_report(plan, max_utilization=0.7)
    assert "75%" in html and "56%" not in html
    # statistics: per serving replica too (review: the summary still said 0.5 x 2 + 0.56 x 4 over 6)
    s = _stats(plan, 0.7)
    assert s["utilisation, max"]["value"] == pytest.approx(0.8)
    assert s["utilisation, mean"]["value"] == pytest.approx((2 * 0.8 + 0.56 * 4) / (2 + 3))
    assert any(t.get_text() == "75% x3 +1 spare" for t in ax.texts)


# ---------------------------------------------------------------- re-optimised multi-period plans
#: QA's procurement problem (/tmp/qa_proc/p4.yaml, cat.yaml): round figures, 2 owned A100s in Virginia
#: (2 years old) and 2 in Texas (4 years old), demand in Virginia; the plan moves the Texas ones there
REOPT_PROBLEM = """schema_version: 1
name: qa-p4
catalog: [cat.yaml]
""" + a100_chat() + """fleet:
  accelerators: [a100-80gb]
  regions: [virginia, texas]
  providers: [custom]     # the offers below only (a warning: no catalog offer is from 'custom')
  acquisition: [purchase, on_demand, reserved_1y]
  tensor_parallel: [1]
  max_utilization: 1.0
  offers:
    - {accelerator: a100-80gb, region: virginia, acquisition: on_demand, usd_per_device_hour: 6.0}
    - {accelerator: a100-80gb, region: texas, acquisition: on_demand, usd_per_device_hour: 6.0}
    - {accelerator: a100-80gb, region: virginia, acquisition: reserved_1y, usd_per_device_hour: 0.8}
  existing:
    - {accelerator: a100-80gb, region: virginia, devices: 2, age_years: 2}
    - {accelerator: a100-80gb, region: texas, devices: 2, age_years: 4}
  power_caps:
    - {region: virginia, max_kw: 6.0}
    - {region: texas, max_kw: 2.6, applies_to: [purchase]}
  budget:
    max_usd_per_month: 9000
    max_capex_usd: 17520
objective:
  include_energy: true
  periods:
    count: 4
    months: 3
    discount_rate_per_period: 0.02
    resale_fraction: 0.5
    retire_usd_per_device: 100
    move_usd_per_device: 500
    change_penalty_usd_per_device: 300
"""


@pytest.fixture(scope="module")
def reoptimised(tmp_path_factory) -> dict:
    """Plans of QA's procurement problem: q0 (solved afresh), flat (re-optimised after quarter 0 with
    the demand flattened: a buy, two retirements and two moves change), q1 (re-optimised after quarter 1
    at the original forecast), q2 (q1 re-optimised after quarter 2, nothing changed).  About 2 s."""
    d = tmp_path_factory.mktemp("reopt")
    (d / "cat.yaml").write_text(a100_overlay())
    (d / "p.yaml").write_text(REOPT_PROBLEM)
    (d / "flat.yaml").write_text(REOPT_PROBLEM.replace("[1, 1.25, 1.5, 2]", "[1, 1, 1, 1]"))
    (d / "up.yaml").write_text(REOPT_PROBLEM.replace("[1, 1.25, 1.5, 2]", "[1, 1.25, 2, 2.5]")
                               .replace("usd_per_device_hour: 6.0", "usd_per_device_hour: 4.0"))
    runs = {"q0": ["p.yaml"], "flat": ["flat.yaml", "--existing", "q0.json", "--executed-through", "0"],
            "q1": ["up.yaml", "--existing", "q0.json", "--executed-through", "1"],
            "q2": ["up.yaml", "--existing", "q1.json", "--executed-through", "2"]}
    for name, args in runs.items():
        args = [str(d / a) if a.endswith((".yaml", ".json")) else a for a in args]
        assert main(["solve", *args, "--json", str(d / f"{name}.json"), "--quiet"]) == 0, name
    return {name: json.loads((d / f"{name}.json").read_text()) for name in runs}


def test_the_html_of_a_reoptimised_plan_shows_the_change_from_the_previous_plan(reoptimised):
    """QA (procurement 4): the text and Markdown reports of a re-optimised plan had 'Change from the
    previous plan', the HTML page had none of it.  It has the same figures now, as the plan JSON gives them."""
    from solver.report import markdown_text, usd_text
    for name in ("flat", "q1"):
        plan = reoptimised[name]
        ch = plan["periods"]["change"]
        assert ch["decisions"] and ch["period_cost"], name
        assert name != "flat" or [d["decision"] for d in ch["decisions"]] == ["retire", "move", "buy", "move"]
        page = _check_self_contained(render_html(plan))
        text = " | ".join(page.text)
        assert "Change from the previous plan" in text and "Change from the previous plan" in markdown_text(plan)
        assert (f"previous plan {usd_text(ch['old_total_usd'])}, new plan {usd_text(ch['new_total_usd'])} "
                f"(change {usd_text(ch['change_usd'])}, of which change penalty "
                f"{usd_text(ch['change_penalty_usd'])})") in text
        cells = [a.get("id") for a in page.of("table")]
        assert "change-0" in cells and "change-1" in cells
        for dec in ch["decisions"]:
            assert f"{dec['offer']} | {dec['decision']} | {dec['old_units']} | {dec['new_units']} | " \
                   f"{usd_text(dec['change_usd'])}" in text, dec
        for c in ch["period_cost"]:
            assert (f"{c['period']} | {usd_text(c['old_usd'])} | {usd_text(c['new_usd'])} | "
                    f"{usd_text(c['change_usd'])}") in text, c
        assert f"{len(ch['routing'])} route(s) changed" in text
    # a plan solved afresh has no such section; a broken one leaves it out
    assert "Change from the previous plan" not in render_html(reoptimised["q0"])
    broken = copy.deepcopy(reoptimised["flat"])
    del broken["periods"]["change"]["decisions"]
    assert "Change from the previous plan" not in render_html(broken)


def test_a_changed_move_counts_as_the_objective_counts_it(reoptimised):
    """QA (procurement 5): dropped moves showed their fee, -$500, beside discounted retirements and buys.
    The objective counts a move in period t at 500 / 1.02^t (2 % a period), so the two moves the flat
    forecast drops (periods 1 and 2) change it by -$490.20 and -$480.58, as the reports say."""
    from solver.report import console_text
    plan = reoptimised["flat"]
    moves = [d for d in plan["periods"]["change"]["decisions"] if d["decision"] == "move"]
    assert [(d["period"], d["old_units"], d["new_units"]) for d in moves] == [(1, 1, 0), (2, 1, 0)]
    assert [d["change_usd"] for d in moves] == pytest.approx([-500 / 1.02, -500 / 1.02 ** 2])
    text = console_text(plan)
    assert "move    1    0    -$490\n" in text and "move    1    0    -$481\n" in text
    assert "objective change: what the decision commits in the objective, discounted to period 0" in text


def _with_routing(plan: dict, period: int, routes: dict) -> dict:
    """``plan`` with slice 0 of ``period`` routed as {deployment: req/s} (workload chat)."""
    out = copy.deepcopy(plan)
    out["periods"]["timeline"][period]["slices"][0]["routing"] = [
        {"workload": "chat", "deployment": d, "requests_per_s": r} for d, r in routes.items()]
    return out


def test_an_unchanged_reoptimisation_reports_no_route_change(reoptimised):
    """QA (procurement 6): re-optimising q1 after quarter 2 with nothing changed kept every decision and
    cost, and still reported '2 route(s) changed': a replica and its traffic swapped between the 2- and
    4-year-old owned A100s in Virginia (an equal-cost optimum).  Swaps between deployments that differ
    in the instance alone are not route changes; the report says how many it left out."""
    from solver.periods_plan import plan_change, route_class
    from solver.report import console_text
    ch = reoptimised["q2"]["periods"]["change"]
    assert ch["decisions"] == [] and ch["rentals"] == [] and ch["period_cost"] == [] and ch["change_usd"] == 0.0
    assert ch["routing"] == []
    dep = "llama-3.1-8b:bf16:tp1@a100-80gb@virginia/"
    two, four, reserved = (dep + x for x in ("existing/owned:existing-2y", "existing/owned:existing-4y",
                                             "reserved_1y/custom:custom-2"))
    assert route_class(two) == route_class(four) != route_class(dep + "purchase/owned:server")
    # by hand: 5 req/s from the 2-year-old devices to the 4-year-old ones is no route change; to the
    # reserved ones it is (two routes)
    q1 = reoptimised["q1"]
    old = _with_routing(q1, 1, {two: 5.0, reserved: 20.0})
    same = plan_change(old, _with_routing(q1, 1, {four: 5.0, reserved: 20.0}))
    moved = plan_change(old, _with_routing(q1, 1, {reserved: 25.0}))
    assert (len(same["routing"]), same["routing_swaps_not_listed"]) == (0, 2)
    assert (len(moved["routing"]), moved["routing_swaps_not_listed"]) == (2, 0)
    assert "2 route(s) changed\n" in console_text({**q1, "periods": {**q1["periods"], "change": moved}})
    assert ("0 route(s) changed; not counted: 2 that only moved traffic between deployments differing in the "
            "instance alone") in console_text({**q1, "periods": {**q1["periods"], "change": same}})


def test_report_prints_a_small_gap_with_its_digits(tmp_path, capsys):
    """QA (large problems): a proven gap of 0.0083% was printed 'MIP gap: 0.0%'."""
    import json as _json
    from solver.cli import main
    from solver.cli.report_cmd import _percent
    assert (_percent(0.000083), _percent(0.768), _percent(0.0)) == ("0.0083%", "76.8%", "0.0%")
    plan = tmp_path / "p.json"
    assert main(["solve", str(ROOT / "problems/chat-assistant.yaml"), "--json", str(plan), "--quiet"]) == 0
    d = _json.loads(plan.read_text())
    d["solver"]["gap"] = 0.000083
    plan.write_text(_json.dumps(d))
    capsys.readouterr()
    assert main(["report", str(plan), "--html", str(tmp_path / "r.html")]) == 0
    assert "0.0083%" in capsys.readouterr().out


def _change_plan(period_cost):
    return {"periods": {"change": {"old_total_usd": 100.0, "new_total_usd": 130.0, "change_usd": 30.0,
                                   "change_penalty_usd": 0.0, "old_periods": 8, "new_periods": 10,
                                   "decisions": [], "rentals": [], "routing": [],
                                   "period_cost": period_cost}}}


def test_a_longer_horizon_points_at_period_costs_only_where_some_changed():
    """QA s18: 'compare the period costs below, 0-7' with no table below (every common period cost
    the same, and the table lists changed periods only)."""
    from solver.report import change_tables
    head, tables = change_tables(_change_plan([]))
    assert "(periods 0-7 cost the same in both)" in head and "compare" not in head
    assert not any(t[0] == "Accrued cost per period" for t in tables)
    head, tables = change_tables(_change_plan([{"period": 3, "old_usd": 10.0, "new_usd": 12.0,
                                                "change_usd": 2.0}]))
    assert "(compare the period costs below, 0-7)" in head
    assert any(t[0] == "Accrued cost per period" for t in tables)


def test_periods_a_longer_horizon_adds_say_what_they_decide():
    """QA s21: a 12-period re-plan of an 8-period plan reserved 3 units in period 8 and rented in
    periods 8-11 under 'no ... decision changed': the change list compares common periods only."""
    from solver.report import change_tables
    plan = _change_plan([])
    unit = {"offer": "o", "buy": 0, "reserve": 0, "retire": 0, "by_slice": [0]}
    plan["periods"]["timeline"] = ([{"units": [dict(unit)]} for _ in range(8)]
                                   + [{"units": [dict(unit, reserve=3)]}, {"units": [dict(unit, by_slice=[2])]}])
    head, _ = change_tables(plan)
    assert "periods 8-9, new in this plan, are not in the change list below (decided there: reserve 3 units, " \
           "rentals in 1 of them; see the period tables)" in head
    plan["periods"]["timeline"][9]["units"][0]["by_slice"] = [0]
    plan["periods"]["timeline"][8]["units"][0]["reserve"] = 0
    assert "periods 8-9, new in this plan, are not in the change list below (no decision there)" \
        in change_tables(plan)[0]


def _kpi_table(text: str) -> tuple[list, list, str]:
    """(headers, rows of cell texts, the section's note) of the page's KPI table."""
    import html
    import re
    sec = text[text.index("<h2>Workload KPIs"):]
    sec = sec[:sec.index("</section>")]
    headers = [html.unescape(h) for h in re.findall(r"<th>(.*?)</th>", sec)]
    rows = [[html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", tr)]
            for tr in re.findall(r"<tr>(.*?)</tr>", sec.split("<tbody>")[1])]
    return headers, rows, html.unescape(re.search(r'<p class="note">(.*?)</p>', sec).group(1))


def test_kpi_costs_say_their_basis_when_reservations_outlast_the_horizon():
    """QA (t12: 9-month horizon, 1-year reservations): the KPI cost (whole commitment, 109,712) sat
    beside a cost per M output tokens that counts the horizon only (0.2899 per M of 283,824 M tokens,
    where 109,712 / 283,824 = 0.387), with no note.  Hand plan: 2 months, $6,000 of reservations paid
    after the horizon; batch $6,000 whole, $1.00/M x 2,000 M tokens = $2,000 within the horizon; chat
    $4,000 whole, $2.00/M x 1,000 M = $2,000 within.  ($6,000 + $4,000 - $6,000 = $4,000 = the two
    within-horizon costs.)  Without anything after the horizon the table is as before."""
    plan = hand_plan()
    headers, rows, note = _kpi_table(render_html(plan, {}))
    assert headers[2:4] == ["cost", "USD per M output tokens"]
    assert "within the horizon" not in note
    plan["objective"]["after_horizon_usd"] = {"rental_reserved_1y": 6000.0}
    plan["kpis"][0]["output_tokens_millions"] = 2000.0
    plan["kpis"][1]["output_tokens_millions"] = 1000.0
    headers, rows, note = _kpi_table(render_html(plan, {}))
    assert headers[2:5] == ["cost (whole commitment)", "cost within the horizon",
                            "USD per M output tokens (within the horizon)"]
    assert [r[:5] for r in rows] == [["batch", "20", "$6,000", "$2,000", "1"],
                                     ["chat", "15", "$4,000", "$2,000", "2"]]
    assert "$6,000 of which (over all workloads) is paid after the 2-month horizon" in note
    # a plan of an earlier version without token counts: the within-horizon cost is unknown
    del plan["kpis"][0]["output_tokens_millions"]
    assert _kpi_table(render_html(plan, {}))[1][0][3] == "\u2013"


def test_html_gap_reads_as_the_console_writes_it():
    """QA: the HTML summary printed 'MIP gap 0.0%' where the console printed '0.0001%' (a gap of
    1e-6 is 0.0001%)."""
    from solver.report import console_text
    plan = hand_plan()
    plan["solver"]["gap"] = 1e-6
    text = render_html(plan, {})
    assert 'MIP gap</td><td class="n">0.0001%</td>' in text
    assert "gap 0.0001%" in text and "gap 0.0001%" in console_text(plan)
    assert "0.0%" not in text.split("MIP gap")[1][:40]


def test_console_kpi_table_says_its_cost_per_token_is_within_the_horizon_when_reservations_outlast_it():
    """QA (s20): the HTML KPI table put the whole commitment beside a cost per token of the horizon
    alone; the console and markdown tables (cost per token only) say which basis they use."""
    from solver.report import console_text, markdown_text
    plan = hand_plan()
    for text in (console_text(plan), markdown_text(plan)):
        assert "$/M output tok" in text and "(within horizon)" not in text
    plan["objective"] = dict(plan["objective"], after_horizon_usd={"rental_reserved_1y": 6000.0})
    for text in (console_text(plan), markdown_text(plan)):
        assert "$/M output tok (within horizon)" in text


def test_change_summary_says_the_previous_plans_own_penalty_is_left_out_and_rentals_point_right():
    """QA (s20): 'previous plan $736,290' where that plan's own report said $742,790 (its $6,500
    change penalty left out, unsaid); a rental row said 'see period cost' for a period the cost
    table leaves out because its cost did not change."""
    from solver.report import change_tables
    ch = {"decisions": [], "routing": [], "routing_swaps_not_listed": 0,
          "rentals": [{"period": 1, "offer": "o", "old_by_slice": [1], "new_by_slice": [2]},
                      {"period": 2, "offer": "o", "old_by_slice": [1], "new_by_slice": [3]}],
          "period_cost": [{"period": 2, "old_usd": 10.0, "new_usd": 12.0, "change_usd": 2.0}],
          "old_total_usd": 736290.0, "new_total_usd": 916912.0, "change_usd": 180622.0,
          "change_penalty_usd": 6000.0, "old_change_penalty_usd": 6500.0,
          "old_periods": 6, "new_periods": 6, "executed_periods": 2}
    head, tables = change_tables({"periods": {"change": ch}})
    assert head.startswith("previous plan $736,290 (its total less the $6,500 change penalty it paid), "
                           "new plan $916,912")
    rows = tables[0][2]
    assert [r[-1] for r in rows] == ["period cost unchanged", "see period cost"]
    del ch["old_change_penalty_usd"]                  # plans written before the field: as before
    assert change_tables({"periods": {"change": ch}})[0].startswith("previous plan $736,290, new plan")


def test_a_single_period_plan_that_buys_says_lead_times_are_not_modelled():
    """QA (s20): a one-period plan bought servers whose catalog lead time is a quarter, serving
    from the first hour, and said nothing; owned devices are no purchase."""
    from solver.report import console_text
    plan = hand_plan()                       # its purchase row is owned devices (existing)
    assert "lead times" not in console_text(plan)
    plan["procurement"] = [dict(plan["procurement"][-1], existing=False)] + plan["procurement"]
    assert "purchases serve from the start of the horizon" in console_text(plan)


def noted_plan() -> dict:
    """The hand plan with m1 on a family without calibration and one low-confidence price (QA s21, F4)."""
    plan = hand_plan()
    plan["performance"] = [
        {"accelerator": "h100-sxm", "family": "acme", "model": "m1", "quantization": "fp8", "tensor_parallel": 8,
         "source": "default", "calibration_group": "*/*", "fit_rows": 0, "compute_efficiency": 0.475,
         "bandwidth_efficiency": 0.805, "measured_workloads": [], "low_confidence": ["mem_bw_gbps"],
         "deployments": [plan["deployments"][0]["id"]]},
        {"accelerator": "a10g", "family": "ampere", "model": "m2", "quantization": "fp8", "tensor_parallel": 1,
         "source": "fitted", "calibration_group": "ampere/fp8", "fit_rows": 3, "compute_efficiency": 0.5,
         "bandwidth_efficiency": 0.8, "measured_workloads": [], "low_confidence": [],
         "deployments": [plan["deployments"][1]["id"]]}]
    plan["procurement"][1].update(source="quote|2025", price_confidence="low")
    return plan


def test_notes_name_the_uncalibrated_deployment_and_the_low_confidence_price():
    from solver.report import console_text, markdown_text
    plan = noted_plan()
    text = console_text(plan)
    # 0.475 -> 0.47 (round half to even of the binary 0.47499...), 0.805 -> 0.81 (0.80500...01); only m1 is noted
    assert ("h100-sxm (family acme) has no calibration fitted to its family: m1 fp8 TP8 on it is sized with the "
            "performance model's default efficiencies (compute 0.47, bandwidth 0.81, 0 fitted rows)") in text
    assert "m2" not in text.split("\nNotes\n")[1]
    assert "the catalog marks its mem_bw_gbps low confidence" in text
    assert "h100-sxm on_demand in virginia (gcp a3, source quote|2025)" in text
    md = markdown_text(plan)
    # the price source column: '-' where the plan gives none, the '|' of a free-text source escaped
    assert "| $3,000 | - |" in md and "| $3,000 | quote\\|2025 (low confidence) |" in md
    html = render_html(plan, {})
    assert "<h2>Notes</h2>" in html and "m1 fp8 TP8 on it" in html


def test_notes_of_a_hand_edited_plan_never_crash_the_reports():
    from solver.report import console_text, markdown_text
    base = noted_plan()
    for bad in (5, "x", [5], [{"source": "default", "low_confidence": 3, "measured_workloads": "w"}], [{}],
                [{"source": "default", "compute_efficiency": "x", "bandwidth_efficiency": True}]):
        plan = copy.deepcopy(base)
        plan["performance"] = bad
        Page(render_html(plan, {}))
        console_text(plan)
        markdown_text(plan)


# ---------------------------------------------------------------- QA s22: labels a reader can reconcile
def _period_row(t: int, units: list, cost: dict) -> dict:
    return {"period": t, "demand_rps": {"faq": [3.0]}, "units": units, "moves": [],
            "slices": [{"slice": 0, "deployments": [], "routing": []}], "cost_usd": cost,
            "total_usd": sum(cost.values()), "capex_usd": 0.0, "nameplate_kw": [], "idle_owned_devices": 0}


def hand_periods_plan(period_h: float, timeline: list, breakdown: dict) -> dict:
    """A multi-period plan of ``timeline`` rows (:func:`_period_row`), periods of ``period_h`` hours."""
    plan = hand_plan()
    plan.update(procurement=[], deployments=[], routing=[], kpis=[],
                totals={"energy_kwh": 0.0, "co2_kg": 0.0, "capex_usd": 0.0})
    total = sum(breakdown.values())
    hours = period_h * len(timeline)
    plan["objective"] = {"total": total, "currency": "USD", "horizon_hours": hours,
                         "usd_per_month": total / (hours / 730.0), "breakdown": breakdown}
    plan["periods"] = {"count": len(timeline), "months": period_h / 730.0, "period_hours": period_h,
                       "discount_rate_per_period": 0.02, "slices": [{"slice": 0, "weight": 1.0, "profile_index": [0]}],
                       "max_capex_usd": None, "power_caps": [], "timeline": timeline, "change": None}
    return plan


def test_the_retirement_part_says_what_it_is_and_the_retirements_add_up_to_it():
    """QA s22 (p7: 4 quarters, 2% a quarter, resale_fraction 0.5, $200 a device to retire): the part
    read 'retirement (resale - decommissioning)' at -$10,055, which is fees - resale now + the value at
    the horizon's end given up, discounted.  By hand, d_t = 1.02^-t: 8 A100s retired in period 0 at a
    resale of $3,750 now and $2,500 at the end: 1,600 - 30,000 + 20,000 d_4 = -28,400 + 18,476.9 =
    -$9,923; 2 L40S in period 3 at $2,843.75 now, $2,625 at the end: (400 - 5,687.5) d_3 + 5,250 d_4 =
    -4,982.5 + 4,850.2 = -$132; together -$10,055."""
    from solver.report import markdown_text
    d = [1.02 ** -t for t in range(5)]
    r0 = 8 * (200 - 3750) * d[0] + 8 * 2500 * d[4]
    r3 = 2 * (200 - 2843.75) * d[3] + 2 * 2625 * d[4]
    unit = {"accelerator": "a100-80gb", "region": "germany", "acquisition": "purchase", "kind": "existing",
            "devices_per_unit": 1, "in_service": 0, "owned": 0}
    timeline = [_period_row(0, [dict(unit, offer="a100@germany/existing", retire=8, retire_usd=r0)], {}),
                _period_row(1, [], {}), _period_row(2, [], {}),
                _period_row(3, [dict(unit, offer="l40s@virginia/existing", accelerator="l40s", region="virginia",
                                     retire=2, retire_usd=r3)], {})]
    plan = hand_periods_plan(2190.0, timeline, {"hosting": 1864.0, "retirement": r0 + r3})
    md = markdown_text(plan)
    assert "| retirement (fees - resale now + horizon-end value given up) | -$10,055 |" in md
    note = ("the decommissioning fees (objective.periods.retire_usd_per_device) less the resale value now, plus "
            "the resale value at the horizon's end that a kept device still has and a retired one gives up")
    parts = ("period 0, 8 device(s) of a100@germany/existing: -$9,923; "
             "period 3, 2 device(s) of l40s@virginia/existing: -$132")
    assert note in md and parts in md
    page = render_html(plan, {})
    assert "retirement (fees - resale now + horizon-end value given up)" in page and parts in page
    # nothing retired: no note
    plan["objective"]["breakdown"]["retirement"] = 0.0
    assert "decommissioning fees" not in markdown_text(plan)


def _reserved_plan(period_h: float, n_periods: int, rate_usd_h: float, cost: list) -> dict:
    """One reserved_1y unit reserved in period 0 and in service in the periods ``in_service`` lists."""
    offer = {"offer": "l4@virginia/reserved_1y", "accelerator": "l4", "region": "virginia",
             "acquisition": "reserved_1y", "kind": "reserved", "devices_per_unit": 1}
    timeline = []
    for t in range(n_periods):
        units = [dict(offer, in_service=1, **({"reserve": 1} if t == 0 else {}))] if cost[t][1] else []
        timeline.append(_period_row(t, units, {"rental_reserved_1y": cost[t][0] * rate_usd_h}))
    return hand_periods_plan(period_h, timeline, {"rental_reserved_1y": 8760.0 * rate_usd_h})


def test_a_reservation_paid_after_it_stops_serving_is_named_in_the_period_table():
    """QA s22 (p8: 3 periods of 5 months = 3,650 h, one L4 reserved for 1 year = 8,760 h): a 1-year term
    serves floor(8,760 / 3,650) = 2 periods and pays its last 8,760 - 7,300 = 1,460 h in period 2, where
    the table showed 0 reserved and $3,760 accrued ($2,938 on-demand + 1,460 h x $0.5634 = $822.56,
    unexplained), under a note saying reserved units accrue at their hourly rate."""
    from solver.report import markdown_text
    plan = _reserved_plan(3650.0, 3, 0.5634, [(3650, True), (3650, True), (1460, False)])
    plan["periods"]["timeline"][2]["cost_usd"]["rental_on_demand"] = 2937.52
    md = markdown_text(plan)
    assert ("period 2 pays 1,460 h of 1 reserved_1y unit(s) (l4@virginia/reserved_1y) reserved in period 0, "
            "whose term ends within the period: they no longer serve (the period's rental, reserved 1y: $823)") in md
    assert "period 0 pays" not in md and "period 1 pays" not in md
    assert "reserved units at their hourly rate" not in md
    assert "reservations for the hours they pay in the period" in md
    assert "period 2 pays 1,460 h" in render_html(plan, {})
    # 18-month periods (13,140 h): two 1-year contracts back to back cover period 0 and pay
    # 2 x 8,760 - 13,140 = 4,380 h in period 1
    md = markdown_text(_reserved_plan(13140.0, 2, 0.5634, [(13140, True), (4380, False)]))
    assert "period 1 pays 4,380 h of 1 reserved_1y unit(s)" in md
    # 3-month periods (2,190 h): a year is 4 whole periods, nothing paid after it serves
    import re
    assert not re.search(r"period \d+ pays",
                         markdown_text(_reserved_plan(2190.0, 5, 0.5634, [(2190, True)] * 4 + [(0, False)])))


def test_hand_edited_reservations_and_retirements_never_crash_the_period_notes():
    """The notes read the timeline's unit rows as the period tables do: bad values are left out."""
    from solver.report import markdown_text
    base = _reserved_plan(3650.0, 3, 0.5634, [(3650, True), (3650, True), (1460, False)])
    base["periods"]["timeline"][1]["units"].append(
        {"offer": "o", "kind": "existing", "devices_per_unit": 1, "retire": 2, "retire_usd": -100.0})
    base["objective"]["breakdown"]["retirement"] = -100.0
    for where, field in ((0, "reserve"), (0, "acquisition"), (0, "kind"), (1, "retire"), (1, "retire_usd"),
                         (1, "devices_per_unit")):
        for bad in BAD_VALUES:
            plan = copy.deepcopy(base)
            row = plan["periods"]["timeline"][where]["units"][-1]
            if bad == "DELETE":
                row.pop(field, None)
            else:
                row[field] = bad
            markdown_text(plan)
            Page(render_html(plan, {}))
    for bad in BAD_VALUES[1:]:
        plan = copy.deepcopy(base)
        plan["periods"]["period_hours"] = bad
        markdown_text(plan)
        Page(render_html(plan, {}))


def test_latency_columns_say_they_are_at_capacity_and_the_percentile_and_energy_is_facility():
    """QA s22 (p1: percentile 95, one L4 at 78% of its capacity): 'TPOT ms 60' and the KPI '60 (60)'
    did not say they are the model's figures at the replica's capacity and the SLO percentile; the
    single-period energy (x PUE) did not say 'facility' as the multi-period report does."""
    from solver.report import console_text
    text = console_text(hand_plan())
    routing = text.split("\nRouting\n")[1].split("\nWorkload KPIs\n")[0]
    assert "TTFT ms at capacity" in routing.splitlines()[0] and "TPOT ms at capacity" in routing.splitlines()[0]
    assert "at each workload's slo.percentile (99 unless the problem sets it)" in routing
    assert "with the replica serving its capacity" in routing
    kpis = text.split("\nWorkload KPIs\n")[1].splitlines()[0]
    assert "TTFT ms at capacity (target, percentile)" in kpis and "facility energy kWh" in kpis
    assert "facility energy 4,000 kWh" in text.split("\nTotals\n")[1]
    page = render_html(hand_plan(), {})
    headers, _, _ = _kpi_table(page)
    assert headers[4:6] == ["TTFT ms at capacity (target, percentile)", "TPOT ms at capacity (target, percentile)"]
    assert "facility energy kWh" in headers
    routing_html = page[page.index("<h2>Routing"):]
    assert "<th>TTFT ms at capacity</th>" in routing_html and "slo.percentile" in routing_html


def test_each_workloads_latency_figures_name_its_percentile(tmp_path):
    """The KPI latencies hold at each workload's own slo.percentile: rag-long-context sets p90 (the
    file, read here), enterprise-multi-region p99 and p95; each row says which, in the plan JSON, the
    console/Markdown report, the CSV and the HTML report (it was only the note's 'slo.percentile')."""
    from solver.report import console_text
    for name in ("rag-long-context", "enterprise-multi-region"):
        problem = ROOT / "problems" / f"{name}.yaml"
        wanted = {w["id"]: float(w["slo"].get("percentile", 99)) for w in yaml.safe_load(problem.read_text())["workloads"]}
        out = tmp_path / f"{name}.json"
        assert main(["solve", str(problem), "--json", str(out), "--csv", str(tmp_path / name), "--quiet"]) == 0
        plan = json.loads(out.read_text())
        assert {k["workload"]: k["slo_percentile"] for k in plan["kpis"]} == wanted
        kpis = console_text(plan).split("\nWorkload KPIs\n")[1].split("\n\n")[0]
        page = render_html(plan, {})
        for k in plan["kpis"]:
            row = next(line for line in kpis.splitlines() if line.split()[0] == k["workload"])
            assert row.count(f", p{wanted[k['workload']]:g})") == 2, row
            assert f"({k['ttft_target_ms']:,g}, p{wanted[k['workload']]:g})" in page
        assert "slo_percentile" in (tmp_path / name / "kpis.csv").read_text().splitlines()[0]
    assert {90.0} == set(wanted_rag := {float(w["slo"]["percentile"]) for w in yaml.safe_load(
        (ROOT / "problems/rag-long-context.yaml").read_text())["workloads"]}), wanted_rag


def test_report_refuses_a_plan_whose_sections_have_the_wrong_type(reoptimised, tmp_path, capsys):
    """QA s22: a hand-edited plan whose periods.timeline was an object crashed `report` ('internal error
    ... a bug in fleetopt'); verify crashed likewise.  Both now name every field of the wrong type."""
    plan = json.loads(json.dumps(reoptimised["q0"]))
    plan["objective"]["total"] = "lots"
    plan["periods"]["timeline"] = [{"period": 0, "units": ["x"]}]     # (review: 'units' is also a count's name)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(plan))
    assert main(["report", str(bad), "--html", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err
    assert 'periods.timeline[0].units[0]: string "x", where the plan schema has object' in err
    assert 'objective.total: string "lots", where the plan schema has number' in err
    assert "Traceback" not in err and "internal error" not in err and not (tmp_path / "x.html").exists()
    # verify's structure check (which report runs) names both and stops before reading them
    from solver.verify import VerifyReport, check_structure
    rep = VerifyReport()
    check_structure(rep, plan)
    assert {v.where for v in rep.violations} >= {"periods.timeline[0].units[0]", "objective.total"}
    plan["periods"]["timeline"] = {"x": 1}
    rep = VerifyReport()
    check_structure(rep, plan)
    assert any(v.where == "periods.timeline" and "object" in v.message for v in rep.violations)


# ---------------------------------------------------------------- QA s23: multi-period reports that say what they count
def test_the_energy_line_says_the_energy_cost_may_leave_rented_devices_out():
    """QA s23 (p8, energy_on_rented left false): 'energy 7,311 kWh ... (facility, every device in service
    or rented)' beside an energy cost of $234, the owned devices' electricity only.  Where the plan rents
    and pays for energy, the text and HTML reports say rented devices' energy is charged only with
    objective.energy_on_rented; without a rental, or without an energy cost, they do not."""
    from solver.report import markdown_text
    rented = {"offer": "h100@virginia/on_demand", "accelerator": "h100-sxm", "region": "virginia",
              "acquisition": "on_demand", "kind": "elastic", "devices_per_unit": 1, "by_slice": [2]}
    owned = {"offer": "h100@virginia/purchase", "accelerator": "h100-sxm", "region": "virginia",
             "acquisition": "purchase", "kind": "purchase", "devices_per_unit": 1, "in_service": 1}
    note = ("The energy cost charges owned devices' electricity, and rented devices' only with "
            "objective.energy_on_rented: true (default false: a rental's price includes its energy)")
    plan = hand_periods_plan(1460.0, [_period_row(0, [rented], {"rental_on_demand": 100.0}),
                                      _period_row(1, [owned], {"energy": 234.0})],
                             {"rental_on_demand": 100.0, "energy": 234.0})
    plan["totals"].update(energy_kwh=7311.0, co2_kg=2050.0)
    md = markdown_text(plan)
    assert "energy 7,311 kWh, CO2 2.05 t over the horizon (facility, every device in service or rented). " + note in md
    assert "rented devices&#x27; only with objective.energy_on_rented: true" in render_html(plan, {})
    no_rental = copy.deepcopy(plan)
    no_rental["periods"]["timeline"][0]["units"] = [owned]
    no_energy_cost = copy.deepcopy(plan)
    no_energy_cost["objective"]["breakdown"]["energy"] = 0.0
    for other in (no_rental, no_energy_cost):
        assert "energy_on_rented" not in markdown_text(other) and "energy_on_rented" not in render_html(other, {})


def _sliced_plan(members: list, weights: list) -> dict:
    """A one-period plan whose slices merge the daily profile's points ``members`` (one deployment a slice)."""
    row = _period_row(0, [], {"hosting": 1.0})
    row["demand_rps"] = {"faq": [3.0] * len(members)}
    row["slices"] = [{"slice": s, "deployments": [{"id": "m1@l4", "replicas": 1, "spare_replicas": 0}],
                      "routing": [{"workload": "faq", "deployment": "m1@l4", "requests_per_s": 3.0}]}
                     for s in range(len(members))]
    plan = hand_periods_plan(2190.0, [row], {"hosting": 1.0})
    plan["periods"]["slices"] = [{"slice": s, "weight": w, "profile_index": m}
                                 for s, (m, w) in enumerate(zip(members, weights))]
    return plan


def test_each_slice_is_named_by_its_hours_of_the_day():
    """QA s23 (p6: chat at its peak for hours 0-7 of 24, half of it after): '2 daily slices, weights
    0.333, 0.667' and 'slice 0/1' in the tables said nothing of which hours each slice is.  24 hourly
    points: slice 0 is points 0-7, 00:00-08:00, 8/24 = 0.333 of the day; slice 1 08:00-24:00.  4 points of
    6 h each, slice 0 = points 0 and 3: 00:00-06:00 and 18:00-24:00.  7 points do not split the day in
    whole minutes (1,440 / 7): the points are named."""
    from solver.report import markdown_text
    plan = _sliced_plan([list(range(8)), list(range(8, 24))], [1 / 3, 2 / 3])
    md = markdown_text(plan)
    assert "(2 daily slices, their hours under the per-period table)" in md
    assert ("slice 0: 00:00-08:00 (weight 0.333); slice 1: 08:00-24:00 (weight 0.667)") in md
    assert "| 0 | 0 (00:00-08:00) | m1@l4 |" in md and "| 0 | 1 (08:00-24:00) | m1@l4 |" in md
    page = render_html(plan, {})
    assert "slice 0: 00:00-08:00 (weight 0.333)" in page and "<td class=\"n\">1 (08:00-24:00)</td>" in page
    from solver.report import slice_hours
    assert slice_hours({"slices": [{"profile_index": [0, 3]}, {"profile_index": [1, 2]}]}) == [
        "00:00-06:00, 18:00-24:00", "06:00-18:00"]
    assert slice_hours({"slices": [{"profile_index": [0, 1, 2]}, {"profile_index": [3, 4, 5, 6]}]}) == [
        "profile points 0-2 of 7", "profile points 3-6 of 7"]
    # one slice: the whole day; slices that do not cover the profile once each (hand-edited): no hours
    assert "(1 daily slice: the whole day)" in markdown_text(_sliced_plan([[0]], [1.0]))
    assert slice_hours({"slices": [{"profile_index": [0, 1]}, {"profile_index": [1, 2]}]}) == ["", ""]
    assert slice_hours({"slices": [{"profile_index": "x"}, {}]}) == ["", ""]


def test_a_unit_of_several_devices_shows_them_in_the_timeline():
    """QA s23 (p1): the timeline said 'buy 1' for a server of 8 H100s, the per-period table 8 owned
    devices.  By hand: 1 server bought = 8 devices, 2 in service = 16; a rented 8-GPU instance, 1 in
    slice 0 and none in slice 1 = 8/0 devices; a 1-device unit shows its count alone."""
    from solver.report import period_tables
    server = {"offer": "h100@virginia/purchase", "accelerator": "h100-sxm", "region": "virginia",
              "acquisition": "purchase", "kind": "purchase", "devices_per_unit": 8}
    timeline = [_period_row(0, [dict(server, buy=1, in_service=0),
                                {"offer": "a100@virginia/spot", "accelerator": "a100-80gb", "region": "virginia",
                                 "acquisition": "spot", "kind": "elastic", "devices_per_unit": 8, "by_slice": [1, 0]},
                                {"offer": "l4@virginia/on_demand", "accelerator": "l4", "region": "virginia",
                                 "acquisition": "on_demand", "kind": "elastic", "devices_per_unit": 1,
                                 "by_slice": [3, 2]}], {}),
                _period_row(1, [dict(server, buy=1, in_service=2)], {})]
    plan = hand_periods_plan(2190.0, timeline, {"hosting": 1.0})
    plan["periods"]["slices"] = [{"slice": 0, "weight": 0.5, "profile_index": [0]},
                                 {"slice": 1, "weight": 0.5, "profile_index": [1]}]
    (_, headers, rows, note), = [t for t in period_tables(plan) if t[0].startswith("Hardware timeline")]
    cells = [{h: c for h, c in zip(headers, row) if c} for row in rows]
    assert cells == [
        {"period": "0", "offer": "h100@virginia/purchase", "kind": "purchase", "buy": "1 (8 devices)",
         "in service": "0"},
        {"period": "0", "offer": "a100@virginia/spot", "kind": "elastic", "rented per slice": "1/0 (8/0 devices)"},
        {"period": "0", "offer": "l4@virginia/on_demand", "kind": "elastic", "rented per slice": "3/2"},
        {"period": "1", "offer": "h100@virginia/purchase", "kind": "purchase", "buy": "1 (8 devices)",
         "in service": "2 (16 devices)"}]
    assert "a unit of several devices (a server, a multi-GPU instance) also shows its devices" in note


def _reservations_plan(period_h: float, n_periods: int, reserved: dict, cost: list, offers=("l4@virginia/r1y",),
                       price_change: float = 0.0) -> dict:
    """reserved_1y units reserved {period: units} (offer by period in turn from ``offers``), the periods'
    accrued reservation cost ``cost``."""
    timeline = []
    for t in range(n_periods):
        units = [{"offer": offers[t % len(offers)], "accelerator": "l4", "region": "virginia",
                  "acquisition": "reserved_1y", "kind": "reserved", "devices_per_unit": 1, "in_service": 1,
                  "reserve": reserved[t]}] if t in reserved else []
        timeline.append(_period_row(t, units, {"rental_reserved_1y": cost[t]}))
    plan = hand_periods_plan(period_h, timeline, {"rental_reserved_1y": sum(cost)})
    if price_change:
        plan["periods"]["price_change_per_period"] = {"reserved_1y": price_change}
    return plan


def test_the_timeline_says_when_each_reservation_ends_and_what_it_pays_after_the_horizon():
    """QA s23 (p7: three 5-month periods, 3,650 h each; 1-year reservations, 8,760 h, at $4.816 an
    hour): the timeline showed the reservations' starts only.  By hand: 2 units reserved in period 0 end
    at month 12, within period 2 (months 10-15); 1 unit reserved in period 1 ends at month 5 + 12 = 17,
    2 months = 1,460 h past the 15-month horizon: 1,460 x $4.816 = $7,031.36.  The rate is the accrued
    reservation cost over the device-hours it pays: 2 x 3,650 x 4.816 = $35,156.80, 3 x 3,650 x 4.816 =
    $52,735.20, (3,650 + 2 x 1,460) x 4.816 = $31,641.12 over 2 x 8,760 + 2 x 3,650 = 24,820 h."""
    from solver.report import markdown_text, period_tables
    plan = _reservations_plan(3650.0, 3, {0: 2, 1: 1}, [35156.8, 52735.2, 31641.12])
    (_, headers, rows, note), = [t for t in period_tables(plan) if t[0].startswith("Hardware timeline")]
    assert [r[headers.index("reserve")] for r in rows] == ["2 (to month 12, in period 2)",
                                                          "1 (to month 17, past the horizon)"]
    assert "in months from the start of period 0 (the horizon ends at month 15)" in note
    after = ("1 reserved_1y unit(s) of l4@virginia/r1y reserved in period 1 pay the last 1,460 h of their term "
             "after the horizon (it ends at month 17): $7,031 (1,460 h x 1 device(s) x $4.82 a device-hour)")
    assert after in note and after in markdown_text(plan) and after in render_html(plan, {})
    # reservation rates 10% dearer a period: the one started in period 1 pays 4.816 x 1.1 = $5.2976 an hour,
    # 1,460 x 5.2976 = $7,734.50 after the horizon (accrued: 35,156.80; 35,156.80 + 3,650 x 5.2976 =
    # 54,493.04; 2 x 1,460 x 4.816 + 3,650 x 5.2976 = 33,398.96)
    dearer = _reservations_plan(3650.0, 3, {0: 2, 1: 1}, [35156.8, 54493.04, 33398.96], price_change=0.1)
    (_, _, _, note), = [t for t in period_tables(dearer) if t[0].startswith("Hardware timeline")]
    assert "after the horizon (it ends at month 17): $7,734 (1,460 h x 1 device(s) x $5.30 a device-hour)" in note
    # two offers share the reservation cost: which pays what is not in the plan, the hours are
    two = _reservations_plan(3650.0, 3, {0: 2, 1: 1}, [35156.8, 52735.2, 31641.12], offers=("a", "b"))
    (_, _, _, note), = [t for t in period_tables(two) if t[0].startswith("Hardware timeline")]
    assert "pay the last 1,460 h of their term after the horizon (it ends at month 17)" in note
    assert "device-hour" not in note
    # quarters (2,190 h): a year reserved in period 0 ends with period 3, nothing paid after the 5 quarters
    quarters = _reservations_plan(2190.0, 5, {0: 1}, [1.0] * 5)
    (_, headers, rows, note), = [t for t in period_tables(quarters) if t[0].startswith("Hardware timeline")]
    assert rows[0][headers.index("reserve")] == "1 (to month 12, end of period 3)" and "after the horizon" not in note


def test_a_share_under_its_cap_never_reads_100_percent():
    """QA s23 (p3): 9.98 kW against a 10 kW power cap read 'peak share 100%'.  Whole percentages where
    they keep the side of the cap (7.13 kW: 71%; 9.94 kW: 99%); one that would round to 100% has one
    decimal, rounded away from 100%: 9.98 kW 99.8%, 9.9999 kW (99.999%) 99.9%, 10.0001 kW 100.1%; at the
    cap 100%."""
    from solver.report import period_tables
    plan = hand_periods_plan(2190.0, [_period_row(0, [], {})], {"hosting": 1.0})
    plan["periods"]["timeline"][0]["nameplate_kw"] = [[9.98]]
    plan["periods"]["power_caps"] = [{"region": "virginia", "max_kw": 10.0, "applies_to": ["purchase"]}]
    (power,) = [rows for title, _, rows, _ in period_tables(plan) if title.startswith("Nameplate")]
    assert power == [["0", "virginia (purchase)", "9.98", "10", "99.8%"]]
    assert "<td class=\"n\">99.8%</td>" in render_html(plan, {})
    from solver.report import cap_share_text
    assert [cap_share_text(kw, 10.0) for kw in (9.98, 9.9999, 10.0, 10.0001, 0.0, 7.13, 9.94)] == [
        "99.8%", "99.9%", "100%", "100.1%", "0%", "71%", "99%"]


def test_the_largest_routing_total_keeps_its_label_inside_the_frame():
    """QA s23: "30 req/s" sat outside the plot frame; the axis ended at the largest bar, because a
    later deployment's empty segment there pinned the right limit.  Here batch (20 req/s, the largest)
    goes to the first deployment alone, so the second one has an empty segment at 20."""
    plan = hand_plan()
    plan["routing"][2]["deployment"] = plan["deployments"][0]["id"]
    fig = viz.routing_figure(plan)
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    ax = fig.axes[0]
    frame = ax.get_window_extent(r)
    labels = {t.get_text(): t.get_window_extent(r) for t in ax.texts}
    assert set(labels) == {"20 req/s", "15 req/s"}
    assert all(frame.x0 <= b.x0 and b.x1 <= frame.x1 for b in labels.values()), (labels, frame)


def test_a_plan_without_period_and_slice_numbers_reports_as_numbered_by_position(reoptimised):
    """The plan schema makes timeline[].period and slices[].slice optional (the position is the number);
    QA s23 review: `report` crashed on such a plan ('internal error: KeyError: period', then 'slice').
    Every reader takes them by position: the same console, Markdown and HTML text as the plan with them."""
    from solver.report import console_text, markdown_text
    plan = json.loads(json.dumps(reoptimised["flat"]))
    bare = json.loads(json.dumps(plan))
    for row in bare["periods"]["timeline"]:
        row.pop("period")
        for sl in row["slices"]:
            sl.pop("slice")
    assert console_text(bare) == console_text(plan)
    assert markdown_text(bare) == markdown_text(plan)
    assert render_html(bare, {}) == render_html(plan, {})
    assert "period" not in bare["periods"]["timeline"][0]      # the caller's dict is not changed


def test_large_unit_and_device_counts_are_written_in_full():
    """QA s23 review: 125,000 servers of 8 devices read '125000 (1e+06 devices)'.  By hand: 125,000 x 8 =
    1,000,000; 150,000 x 8 = 1,200,000 and 2 x 8 = 16; a unit of one device shows its count alone."""
    from solver.report import _devices_cell
    assert _devices_cell(125000, 8) == "125,000 (1,000,000 devices)"
    assert _devices_cell([150000, 2], 8) == "150,000/2 (1,200,000/16 devices)"
    assert _devices_cell(3, 1) == "3" and _devices_cell([1, 0], 8) == "1/0 (8/0 devices)"


ENERGY_SCOPE_PROBLEM = """\
schema_version: 1
name: energy-scope
workloads:
  - id: chat
    demand: {requests_per_s: 10}
    input_tokens: {mean: 500, distribution: fixed}
    output_tokens: {mean: 200, distribution: fixed}
    slo: {ttft_ms: 2000, tpot_ms: 100}
    models: [llama-3.1-8b]
    quantizations: [fp8]
fleet:
  accelerators: [l4]
  regions: [virginia]
  acquisition: [on_demand]
  tensor_parallel: [1]
objective:
  horizon_months: 1
  carbon_usd_per_tonne: 100
scenarios:
  - name: erent
    set: {objective.energy_on_rented: true}
  - name: noenergy
    set: {objective.include_energy: false}
"""


@pytest.mark.parametrize("scenario, scope, says", [
    (None, "owned_and_bought", " (rented devices' kWh are not in the energy cost: objective.energy_on_rented false, "
                               "a rental's price includes its electricity; the carbon price is charged on every kWh)"),
    ("erent", "all", ""),
    ("noenergy", "none", " (no energy cost: objective.include_energy false; the carbon price is charged on every kWh)")])
def test_the_totals_say_which_kwh_the_energy_cost_leaves_out(scenario, scope, says):
    """QA s25: a rented-only plan printed 'facility energy 123 kWh' beside a cost table without energy (the
    default energy_on_rented: false) and with carbon charged on those kWh, and nothing said so; the
    multi-period caveat on rented energy was printed where energy_on_rented: true charges it all."""
    from solver.mip.pipeline import solve_problem
    from solver.problem.load import load_problem_text
    from solver.report import console_text
    from solver.verify import verify_plan
    lp = load_problem_text(ENERGY_SCOPE_PROBLEM, scenario=scenario)
    d = json.loads(solve_problem(lp).plan.to_json())
    assert d["objective"]["energy_charged"] == scope
    assert (d["objective"]["breakdown"]["energy"] > 0) == (scope == "all")
    line = next(x for x in console_text(d).splitlines() if " devices, " in x and "facility energy" in x)
    assert line.split(" kWh", 1)[1].startswith(says + ", CO2 ")
    assert verify_plan(lp.problem, lp.catalog, d).ok
    bad = copy.deepcopy(d)
    bad["objective"]["energy_charged"] = "all" if scope != "all" else "none"
    assert [v.where for v in verify_plan(lp.problem, lp.catalog, bad).violations] == ["objective.energy_charged"]


def _edge_kpi_plan(tpot_ms: float, target_ms: float, quality: float = 80.0, quality_target=None) -> dict:
    plan = hand_plan()
    k = plan["kpis"][0]
    k.update(tpot_ms=tpot_ms, tpot_target_ms=target_ms, quality=quality, quality_target=quality_target,
             quality_mode="mean" if quality_target is not None else None, slo_percentile=99.0)
    return plan


def test_a_figure_and_its_target_read_on_the_side_of_each_other_they_are():
    """QA s25: a plan's TPOT at capacity of 35.9568394 ms, meeting its target of 35.9568394081667 ms,
    was printed '35.96 (35.9568, p99)', which reads as a miss.  Each figure keeps four digits, its
    target six, unless they would read the wrong way round: then both get the digits that tell them
    apart, or read equal (a figure meeting its target within the verifier's tolerance)."""
    from solver.report import console_text, markdown_text
    met = _edge_kpi_plan(35.9568394, 35.9568394081667)
    missed = _edge_kpi_plan(35.9568394081667, 35.95683, quality=73.0869, quality_target=73.087)
    for render in (console_text, markdown_text):
        assert "35.9568 (35.9568, p99)" in render(met)
        # 35.96 > 35.9568 (the target at six digits) reads as the miss it is: four digits kept;
        # a quality of 73.0869 against 73.087 would read '73.09 (73.087)', a pass: five digits
        assert "35.96 (35.9568, p99)" in render(missed)
        assert "73.087 (73.087, mean)" not in render(missed) and "73.0869 (73.087, mean)" in render(missed)
        assert "900 (5,000, p99)" in render(met)       # far apart: unchanged
    page = render_html(met, {})
    assert "35.9568 (35.9568, p99)" in page and "35.96 (35.9568" not in page


def test_a_fleet_of_many_replicas_serving_almost_nothing_is_called_out():
    """QA s25: 5,882,351 L4 replicas for 5 req/s, each serving 1e-06 req/s (a TPOT target at the edge of
    what the L4 reaches), were printed without a word, the device count without separators."""
    from solver.report import console_text, plan_notes
    plan = hand_plan()
    d = plan["deployments"][0]
    d["replicas"], plan["totals"]["devices"], plan["totals"]["replicas"] = 5_000_000, 40_000_000, 5_000_004
    plan["routing"][0]["capacity_rps"] = 2e-6
    notes = plan_notes(plan)
    assert len(notes) == 1 and notes[0].startswith(f"{d['id']} runs 5,000,000 replicas, each serving 2e-06 req/s of "
                                                   "chat at its latency targets (TTFT 300 ms, TPOT 40 ms")
    assert "40,000,000 devices, 5,000,004 replicas" in console_text(plan)
    plan["routing"][0]["capacity_rps"] = 0.5          # many replicas, each a fair share: no note
    assert plan_notes(plan) == []
