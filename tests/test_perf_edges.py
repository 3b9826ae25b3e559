"""Edge cases of `fleetopt perf` found by QA: the no-target batch against the memory cap, power at a
near-zero load, fractional token counts."""

from __future__ import annotations

import json

import pytest

from solver.cli import main

SMALL_CARD = """
schema_version: 1
sources:
  qa: {title: "QA hypothetical"}
accelerators:
  - id: small-hbm
    name: Small HBM card
    vendor: qa
    family: ampere
    memory_gb: {value: 18.3, source: qa}
    mem_bw_gbps: {value: 900, source: qa}
    peak_tflops:
      bf16: {value: 120, source: qa}
    tdp_w: {value: 250, source: qa}
    idle_w: {value: 30, source: qa}
    interconnect: {kind: pcie, bandwidth_gbps: {value: 16, source: qa}}
    devices_per_node: 8
"""


def test_no_target_batch_is_whole_reservations(tmp_path, capsys):
    # 18.3 GB x 0.9 usable - 16.06 GB of BF16 weights (8.03 B params) leaves 0.41 GB of KV cache; at
    # 2 x 32 layers x 8 KV heads x 128 x 2 B = 131,072 B/token that is 3,128 tokens, and a fixed
    # 1000 + 300 token request reserves 1,300 of them: 2 requests fit (2.4 by division).  QA: the
    # operating point was batch 2.4, and `--batch 2.4` was refused as above the memory limit.
    f = tmp_path / "card.yaml"
    f.write_text(SMALL_CARD)
    base = ["perf", "--catalog", str(f), "--accelerator", "small-hbm", "--model", "llama-3.1-8b",
            "--input-tokens", "1000", "--output-tokens", "300", "--input-distribution", "fixed",
            "--output-distribution", "fixed", "--json"]
    assert main(base) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["kv_capacity_tokens"] == 3128
    assert d["max_batch_memory"] == 2 and d["batch"] == 2
    assert main(base + ["--batch", str(d["batch"])]) == 0       # the printed point is one perf accepts
    b = json.loads(capsys.readouterr().out)
    assert b["feasible"] and b["max_rps"] == pytest.approx(d["max_rps"], rel=1e-12)
