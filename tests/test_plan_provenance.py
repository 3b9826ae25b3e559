"""Where a plan's capacities and prices come from (QA s21, F4): each (accelerator, model,
quantization, TP) a plan deploys records its calibration group (fitted, a fallback, the uncalibrated
default) or the problem's measurements, and the reports say so when a chosen deployment rests on the
default efficiencies or on a price the catalog marks low confidence.

The expected groups and efficiencies are read from the shipped calibration file with plain YAML (not
through the performance model) and from the catalog's fp8 and bf16 rows: H100 (family hopper) has a
fitted hopper/fp8 group (74 rows) and no hopper/bf16 group, so bf16 falls back to hopper/*; a family
no group names gets the file's default.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml

from solver.html_report import render_html
from solver.mip.pipeline import solve_problem
from solver.plan import Plan
from solver.problem.load import load_problem
from solver.report import console_text, markdown_text
from solver.verify import verify_plan

ROOT = Path(__file__).resolve().parents[1]
CALIBRATION = yaml.safe_load((ROOT / "catalogs" / "calibration" / "perf_params.yaml").read_text())

#: a user's accelerator of a family no calibration group names; memory and price marked low
ACME = textwrap.dedent("""\
    schema_version: 1
    sources:
      my-quote: {title: a quote of my own, verification: retrieved}
    accelerators:
      - id: acme-x1
        name: ACME X1
        vendor: acme
        family: acme
        memory_gb: {value: 128, source: my-quote, confidence: low}
        mem_bw_gbps: {value: 4000, source: my-quote}
        peak_tflops:
          bf16: {value: 800, source: my-quote, confidence: low}
        tdp_w: {value: 600, source: my-quote}
        idle_w: {value: 90, source: my-quote}
        interconnect:
          kind: pcie
          bandwidth_gbps: {value: 64, source: my-quote}
        devices_per_node: 8
        offers:
          - provider: acmecloud
            instance: x1.8x
            region: virginia
            devices_per_instance: 8
            on_demand_usd_per_device_hour: {value: 2.0, source: my-quote, confidence: low}
    quantization:
      - id: bf16
        supported_families: [hopper, blackwell, ampere, ada, cdna3, cdna4, gaudi, tpu, neuron, acme]
    """)


def problem_text(accelerator: str, quant: str, extra: str = "") -> str:
    return textwrap.dedent(f"""\
        schema_version: 1
        name: provenance
        catalog: [acme.yaml]
        workloads:
          - id: chat
            demand: {{requests_per_s: 2}}
            input_tokens: {{mean: 500}}
            output_tokens: {{mean: 200}}
            slo: {{ttft_ms: 2000, tpot_ms: 80, percentile: 95}}
            models: [llama-3.1-8b]
            quantizations: [{quant}]
        fleet:
          regions: [virginia]
          accelerators: [{accelerator}]
          acquisition: [on_demand]
          tensor_parallel: [1]
        objective:
          horizon_months: 1
        """) + extra


def solve(tmp_path, accelerator: str, quant: str, extra: str = "", providers: str = ""):
    (tmp_path / "acme.yaml").write_text(ACME)
    f = tmp_path / "p.yaml"
    text = problem_text(accelerator, quant, extra)
    pin = "  acquisition: [on_demand]\n"
    f.write_text(text.replace(pin, f"{pin}  providers: [{providers}]\n") if providers else text)
    loaded = load_problem(f)
    plan = solve_problem(loaded, time_limit_s=30).plan
    assert plan.status == "optimal", plan.message
    return loaded, plan


@pytest.fixture(scope="module")
def acme(tmp_path_factory):
    return solve(tmp_path_factory.mktemp("acme"), "acme-x1", "bf16")


def test_a_plan_on_an_uncalibrated_family_records_the_default_efficiencies(acme):
    _, plan = acme
    (rec,) = plan.to_dict()["performance"]
    default = CALIBRATION["default"]
    assert {k: rec[k] for k in ("accelerator", "family", "model", "quantization", "tensor_parallel", "source",
                                "calibration_group", "fit_rows")} == {
        "accelerator": "acme-x1", "family": "acme", "model": "llama-3.1-8b", "quantization": "bf16",
        "tensor_parallel": 1, "source": "default", "calibration_group": "*/*", "fit_rows": 0}
    assert rec["compute_efficiency"] == pytest.approx(default["compute_efficiency"], rel=1e-8)
    assert rec["bandwidth_efficiency"] == pytest.approx(default["bandwidth_efficiency"], rel=1e-8)
    # memory_gb and peak_tflops.bf16 are marked low in the overlay, mem_bw_gbps is not; TP 1 reads no link
    assert rec["low_confidence"] == ["memory_gb", "peak_tflops.bf16"]
    assert rec["measured_workloads"] == []
    assert rec["deployments"] == ["llama-3.1-8b:bf16:tp1@acme-x1@virginia/on_demand/acmecloud:x1.8x"]
    (proc,) = plan.to_dict()["procurement"]
    assert proc["source"] == "my-quote" and proc["price_confidence"] == "low"


def test_the_reports_say_the_choice_rests_on_uncalibrated_defaults_and_a_low_confidence_price(acme):
    _, plan = acme
    d = plan.to_dict()
    text = console_text(d)
    notes = text.split("\nNotes\n", 1)[1]
    # the shipped calibration's default group, to two decimals (read from its YAML, not the model)
    comp, bw = CALIBRATION["default"]["compute_efficiency"], CALIBRATION["default"]["bandwidth_efficiency"]
    assert ("acme-x1 (family acme) has no calibration fitted to its family: llama-3.1-8b bf16 TP1 on it is sized "
            f"with the performance model's default efficiencies (compute {comp:.2f}, bandwidth {bw:.2f}, "
            "0 fitted rows)") in notes
    assert "the catalog marks its memory_gb, peak_tflops.bf16 low confidence" in notes
    assert "acme-x1 on_demand in virginia (acmecloud x1.8x, source my-quote)" in notes
    md = markdown_text(d)
    assert "## Notes" in md and "has no calibration fitted to its family" in md
    assert "| hardware cost (no energy) | price source |" in md and "| my-quote (low confidence) |" in md
    assert "price source" not in text          # the console table stays as it was
    html = render_html(d)
    assert "<h2>Notes</h2>" in html and "has no calibration fitted to its family" in html


def test_the_new_fields_round_trip_deterministically_and_verify(acme):
    loaded, plan = acme
    d = plan.to_dict()
    assert Plan.from_dict(json.loads(plan.to_json())).to_json() == plan.to_json()
    assert verify_plan(loaded, loaded.catalog, d).ok


@pytest.mark.parametrize("quant, source, group, rows", [("fp8", "fitted", "hopper/fp8", 74),
                                                         ("bf16", "fallback", "hopper/*", 0)])
def test_h100_fp8_is_fitted_and_bf16_falls_back_to_the_family_group(tmp_path, quant, source, group, rows):
    _, plan = solve(tmp_path, "h100-sxm", quant, providers="aws")     # AWS's H100 on-demand price: high
    d = plan.to_dict()
    assert {(r["source"], r["calibration_group"], r["fit_rows"]) for r in d["performance"]} == {(source, group, rows)}
    fitted = next(g for g in CALIBRATION["groups"] if (g["family"], g["format"]) == tuple(group.split("/")))
    assert d["performance"][0]["compute_efficiency"] == pytest.approx(fitted["compute_efficiency"], rel=1e-8)
    assert [p.get("price_confidence") for p in d["procurement"]] == ["high"]
    assert "\nNotes\n" not in console_text(d)      # calibrated figures and a high-confidence price: nothing to say


def test_measured_capacities_are_recorded_as_measured_and_need_no_note(tmp_path):
    extra = textwrap.dedent("""\
        measurements:
          - {accelerator: acme-x1, model: llama-3.1-8b, quantization: bf16, workload: chat, max_requests_per_s: 3}
        """)
    _, plan = solve(tmp_path, "acme-x1", "bf16", extra)
    (rec,) = plan.to_dict()["performance"]
    assert (rec["source"], rec["measured_workloads"], rec["calibration_group"]) == ("measured", ["chat"], "*/*")
    notes = console_text(plan.to_dict()).split("\nNotes\n", 1)[1]
    assert "default efficiencies" not in notes and "source my-quote" in notes   # the price is still low


def test_a_multi_period_plan_records_the_deployments_of_its_slices():
    """problems/eight-quarter-growth.yaml: llama-3.1-70b on h100-sxm or a100-80gb, fp8 or bf16, TP 1 or 2.
    Whatever it deploys, each record covers the slices' deployment ids of its (accelerator, model,
    quantization, TP), and an H100 in fp8 reads the fitted hopper/fp8 group."""
    loaded = load_problem(ROOT / "problems" / "eight-quarter-growth.yaml")
    d = solve_problem(loaded, time_limit_s=60).plan.to_dict()
    ids = {dep["id"] for row in d["periods"]["timeline"] for sl in row["slices"] for dep in sl["deployments"]}
    recs = d["performance"]
    assert sorted(x for r in recs for x in r["deployments"]) == sorted(ids)
    for r in recs:
        assert all(x.startswith(f"{r['model']}:{r['quantization']}:tp{r['tensor_parallel']}@{r['accelerator']}@")
                   for x in r["deployments"])
        if (r["accelerator"], r["quantization"]) == ("h100-sxm", "fp8"):
            assert (r["source"], r["calibration_group"], r["fit_rows"]) == ("fitted", "hopper/fp8", 74)
    assert verify_plan(loaded, loaded.catalog, d).ok
