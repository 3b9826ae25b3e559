"""`fleetopt calibrate`: peak fractions measured on the local CPU (NumPy backend, small sizes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from solver.cli import main
from solver.perf import load_params
from solver.perf.params import default_params

CPU_ACC = """schema_version: 1
accelerators:
  - id: cpu-test
    name: test CPU
    vendor: none
    family: cpu
    memory_gb: {value: 16, source: test fixture}
    mem_bw_gbps: {value: 20, source: test fixture}
    peak_tflops:
      fp32: {value: 0.5, source: test fixture}
    tdp_w: {value: 65, source: test fixture}
    idle_w: {value: 10, source: test fixture}
    interconnect: {kind: pcie, bandwidth_gbps: {value: 16, source: test fixture}}
    devices_per_node: 1
"""


def test_calibrate_numpy_writes_overlay(tmp_path, capsys):
    cat = tmp_path / "cpu.yaml"
    cat.write_text(CPU_ACC)
    out = tmp_path / "local.yaml"
    rc = main(["calibrate", "--accelerator", "cpu-test", "--catalog", str(cat), "--backend", "numpy",
               "--size", "96", "--copy-mb", "4", "--repeats", "2", "--out", str(out), "--json"])
    assert rc == 0
    r = json.loads(capsys.readouterr().out)
    assert r["gemm_tflops"]["fp32"] > 0 and r["copy_gbps"] > 0
    p = load_params(out)
    g = p.group("cpu", "fp32")
    # fractions = measured / catalog peak (0.5 TFLOPS, 20 GB/s), capped at 1
    assert g.compute_efficiency == pytest.approx(min(r["gemm_tflops"]["fp32"] / 0.5, 1.0))
    assert g.bandwidth_efficiency == pytest.approx(min(r["copy_gbps"] / 20, 1.0))
    prov = dict(p.provenance)
    assert prov["overlay_accelerator"] == "cpu-test" and prov["overlay_device"].startswith("CPU")
    assert prov["overlay_date"][:4].isdigit()
    # the shipped groups are kept: Hopper FP8 is unchanged
    base = load_params("catalogs/calibration/perf_params.yaml")
    assert p.group("hopper", "fp8") == base.group("hopper", "fp8")


def test_calibrate_bad_input(tmp_path, capsys):
    cat = tmp_path / "cpu.yaml"
    cat.write_text(CPU_ACC)
    assert main(["calibrate", "--accelerator", "cpu-test", "--catalog", str(cat), "--formats", "fp8",
                 "--backend", "numpy", "--out", str(tmp_path / "x.yaml")]) == 2
    assert "no catalog peak for fp8" in capsys.readouterr().err
    assert main(["calibrate", "--accelerator", "cpu-tst", "--catalog", str(cat), "--backend", "numpy",
                 "--size", "0"]) == 2
    err = capsys.readouterr().err
    assert "--size" in err


def test_calibrate_with_nothing_to_measure_writes_nothing(tmp_path, capsys):
    """An H100's formats (bf16, fp16, fp8, int8) on the NumPy backend (fp32 only): bad input, no overlay
    that only looks like a calibration (it was written, with exit 1 'internal error')."""
    out = tmp_path / "x.yaml"
    assert main(["calibrate", "--accelerator", "h100-sxm", "--backend", "numpy", "--size", "64",
                 "--copy-mb", "1", "--out", str(out)]) == 2
    assert "no number format of 'h100-sxm' could be measured" in capsys.readouterr().err
    assert not out.exists()


GPU_RUN = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu" / "results" / "2026-12-06-h100-sxm"


def test_shipped_hopper_efficiencies_within_measured_h100_ceilings():
    """The fitted serving efficiencies of Hopper stay below what its kernels reach on a real H100.

    The efficiencies are fitted to end-to-end serving rows (TensorRT-LLM, MLPerf); the ceilings were
    measured independently on an H100 SXM (benchmarks/gpu/RESULTS.md): a fit that put the decode
    step's reads above the device's memory copy, or prefill above its best GEMMs, would be unphysical.
    """
    kernels = json.loads((GPU_RUN / "kernels-h100-sxm.json").read_text())
    cal = json.loads((GPU_RUN / "calibrate-h100-sxm.json").read_text())
    shipped = default_params()
    bw_ceiling = max(cal["bandwidth_fraction"], max(r["weight_bw_fraction"] for r in kernels["decode_layer"]))
    for fmt in ("bf16", "fp8"):
        g = shipped.group("hopper", fmt)
        gemm_ceiling = max([cal["peak_fraction"][fmt]]
                           + [r["compute_fraction"] for r in kernels["prefill_gemm"] if r["format"] == fmt])
        assert g.compute_efficiency <= gemm_ceiling, (fmt, g.compute_efficiency, gemm_ceiling)
        assert g.bandwidth_efficiency <= bw_ceiling, (fmt, g.bandwidth_efficiency, bw_ceiling)
    # the overlay `fleetopt calibrate` wrote on that machine is a valid calibration file
    overlay = load_params(GPU_RUN / "calibrate-h100-sxm.yaml")
    assert overlay.group("hopper", "bf16").compute_efficiency == pytest.approx(cal["peak_fraction"]["bf16"])
    assert overlay.group("hopper", "fp8").bandwidth_efficiency == pytest.approx(cal["bandwidth_fraction"])


def test_a_measurement_goes_to_the_group_the_accelerator_reads():
    """Review: the overlay replaced the family's groups, so an H100 PCIe's measurement went into
    ``hopper`` (which the SXM parts read) and not into ``hopper-pcie`` (which the PCIe card reads)."""
    from solver.catalog import default_catalog
    from solver.perf.microbench import Measured, overlay_params

    cat, base = default_catalog(), default_params()
    pcie, sxm = cat.accelerator("h100-pcie"), cat.accelerator("h100-sxm")
    m = Measured(backend="torch", device_name="fake", gemm_tflops={"fp8": 0.9 * pcie.peak_tflops["fp8"].value},
                 copy_gbps=0.95 * pcie.mem_bw_gbps.value)
    p, _ = overlay_params(base, pcie, m)
    got = p.group_of(pcie, "fp8")
    assert got.family == "hopper-pcie" and got.compute_efficiency == pytest.approx(0.9)
    assert got.bandwidth_efficiency == pytest.approx(0.95)
    assert p.group_of(sxm, "fp8") == base.group_of(sxm, "fp8")          # the SXM part untouched
