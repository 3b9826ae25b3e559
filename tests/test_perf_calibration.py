"""Calibration: interpretation of the measurement file, split, fit, hold-out error, CLI.

The hold-out thresholds are the issue's acceptance (median absolute error
<= 15% on throughput rows, <= 20% on latency rows) for the shipped parameters
on tests/data/calibration.csv (a copy of the project's reference file).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from solver.catalog import default_catalog
from solver.cli import main
from solver.perf import PerfParams, default_params, load_params
from solver.perf.calibration import (FITTED_KINDS, fit, file_sha256, interpret, nelder_mead, predict, read_rows,
                                     split_mask, validate_file)
from solver.perf.params import GroupParams, calibration_dir
from solver.errors import InputError

CSV = "tests/data/calibration.csv"


@pytest.fixture(scope="module")
def cat():
    return default_catalog()


@pytest.fixture(scope="module")
def cases(cat):
    return interpret(read_rows(CSV), cat, default_params())


def test_shipped_params_were_fitted_on_this_file():
    p = load_params(calibration_dir() / "perf_params.yaml")
    prov = dict(p.provenance)
    assert prov["data_sha256"] == file_sha256(CSV)
    for key in ("date", "method", "split", "fit_rows", "held_out_rows"):
        assert prov[key]
    fit_rows = set(prov["fit_rows"].split(","))
    held = set(prov["held_out_rows"].split(","))
    assert fit_rows and held and not (fit_rows & held)


def test_interpretation(cases, cat):
    cs, skipped = cases
    by_row = {c.row: c for c in cs}
    # row 31: TRT-LLM v1.0, Llama-3.3-70B FP8 on 2 x H100, TP2, 128/128, 6378 tok/s for the group = 3189 per GPU
    c = by_row[31]
    assert (c.candidate.accelerator, c.candidate.model, c.candidate.quantization, c.candidate.tensor_parallel) == \
        ("h100-sxm", "llama-3.1-70b", "fp8", 2)
    assert c.kind == "offline" and c.measured == 3189.0
    # MLPerf rows: no TP in the file -> TP2 for Llama-2-70B on H100-80GB, TP1 on H200 (data README)
    mlperf = [c for c in cs if c.source_id.startswith("MLPerf")]
    assert {c.candidate.tensor_parallel for c in mlperf if c.candidate.model == "llama-2-70b"
            and c.hardware == "h100-sxm"} == {2}
    assert {c.candidate.tensor_parallel for c in mlperf if c.hardware == "h200-sxm"} == {1}
    # server rows carry MLPerf's p99 limits
    srv = [c for c in mlperf if c.kind == "server"]
    assert srv and all(c.workload.ttft_ms == 2000 and c.workload.tpot_ms == 200 for c in srv)
    # GH200 rows are left out (no catalog entry) and 99/99.9 duplicates counted once
    gh = [s for s in skipped if "catalog accelerator" in s.why]
    assert len(gh) == 14
    assert any("duplicate" in s.why for s in skipped)
    assert len({c.dup_key for c in cs}) == len(cs)
    # batch-1 latency rows are in ms
    assert by_row[98].kind == "ttft1" and by_row[98].measured == 7


def test_static_rows_use_the_batch_they_state(cases, cat):
    """Each static-batching row says its batch ("static batch 768"): the prediction uses it."""
    from dataclasses import replace
    cs, _ = cases
    static = [c for c in cs if c.kind == "static"]
    assert len(static) == 27 and all(c.batch and c.batch >= 1 for c in static)
    # TensorRT-LLM 0.6.1 performance.md: Llama-2-7B FP8 on one H100, 128 in / 128 out, batch 768, 19,694 tok/s
    row = next(c for c in static if c.hardware == "h100-sxm" and c.candidate.model == "llama-2-7b"
               and c.workload.input_tokens == 128 and c.workload.output_tokens == 128 and c.measured == 19694)
    assert row.batch == 768
    stated, guessed = predict([row, replace(row, batch=None)], cat, default_params())
    assert stated != guessed
    assert abs(stated / row.measured - 1) < 0.15


def test_split_is_every_third_per_group(cases):
    cs, _ = cases
    mask = split_mask(cs)
    groups = {}
    for c, m in zip(cs, mask):
        groups.setdefault((c.source_id, c.hardware), []).append(m)
    for ms in groups.values():
        assert ms == [(k % 3) != 2 for k in range(len(ms))]


def test_hold_out_error_within_acceptance(cat):
    v = validate_file(CSV, cat, load_params(calibration_dir() / "perf_params.yaml"))
    assert v.fit_mask is not None
    err = v.err_pct
    meas = np.array([c.measured for c in v.cases])
    # recompute the summary independently of summary_rows
    for metric, limit in (("throughput", 15.0), ("ttft", 20.0)):
        sel = np.array([(not m) and s and c.metric == metric for c, m, s in zip(v.cases, v.fit_mask, v.scored)])
        assert sel.sum() >= 2
        assert np.median(np.abs(v.pred[sel] - meas[sel]) / meas[sel] * 100) <= limit
        row = next(r for r in v.summary() if r["part"] == "held-out" and r["metric"] == metric and r["by"] == "all")
        assert row["median_abs_err_pct"] == pytest.approx(float(np.median(err[sel])))


def test_nelder_mead_finds_minimum():
    f = lambda x: (x[0] - 1.5) ** 2 + 3 * (x[1] + 0.5) ** 2 + 0.5 * (x[0] - 1.5) * (x[1] + 0.5)
    x = nelder_mead(f, np.array([0.0, 0.0]), step=0.5, iters=2000, tol=1e-14)
    np.testing.assert_allclose(x, [1.5, -0.5], atol=1e-4)


def test_fit_recovers_known_parameters(cases, cat):
    """Synthetic measurements from known parameters: the fit must find them again."""
    cs, _ = cases
    sub = [c for c in cs if c.hardware == "h100-sxm" and c.kind in FITTED_KINDS][:24]
    # every fitted global strictly inside its bounds (BOUNDS), so the optimum is reachable
    truth = PerfParams().with_groups(
        [GroupParams(family="hopper", format="fp8", compute_efficiency=0.55, bandwidth_efficiency=0.72,
                     step_overhead_ms=3.0)], allreduce_latency_us=20.0, moe_compute_efficiency=0.6,
        step_overhead_per_seq_us=5.0, unoverlapped_fraction=0.5)
    synth = predict(sub, cat, truth)
    from dataclasses import replace
    sub = [replace(c, measured=float(m)) for c, m in zip(sub, synth)]
    got = fit(sub, cat, PerfParams(), rounds=3, ridge=0.0, prior_weight=0.0)
    pred = predict(sub, cat, got)
    assert np.max(np.abs(pred / synth - 1)) < 0.02
    g = got.group("hopper", "fp8")
    assert g.compute_efficiency == pytest.approx(0.55, rel=0.1)


def test_read_rows_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("model,value\nx,1\n")
    with pytest.raises(InputError) as e:
        read_rows(bad)
    assert "missing column" in e.value.format()
    with pytest.raises(InputError):
        read_rows(tmp_path / "nope.csv")


# --------------------------------------------------------------------------- CLI

def test_cli_validate(capsys):
    assert main(["perf", "validate", CSV]) == 0
    out = capsys.readouterr().out
    assert "held-out  throughput all" in out and "held-out  ttft       all" in out
    assert "hardware h100-sxm" in out and "source   MLPerf-Inference-v4.1" in out
    assert "not scored: 27 static-batching rows" in out


def test_cli_validate_json_foreign_file(tmp_path, capsys):
    lines = open(CSV).read().splitlines()
    body = [ln for ln in lines if not ln.startswith("#")]
    small = tmp_path / "mine.csv"
    small.write_text("\n".join(body[:12]) + "\n")
    assert main(["perf", "validate", str(small), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert len(d["rows"]) == 11 and all(r["split"] == "-" for r in d["rows"])
    assert {r["part"] for r in d["summary"]} == {"all"}


def test_cli_perf_text_and_json(capsys):
    args = ["perf", "--accelerator", "h100-sxm", "--model", "llama-3.1-8b", "--quantization", "fp8",
            "--input-tokens", "500", "--output-tokens", "250", "--ttft-ms", "1000", "--tpot-ms", "50"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "operating point" in out and "bound:" in out and "KV cache" in out
    assert main(args + ["--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    # lognormal answers by default: their TPOT percentile is a mixture's, found by bisection to ~1e-5
    assert d["feasible"] and d["tpot_ms"] <= 50 * (1 + 1e-5) and d["ttft_ms"] <= 1000
    # KV bytes per token at FP8 KV: 2 x 32 x 8 x 128 x 1
    assert d["kv_bytes_per_token_per_device"] == 65536
    assert d["output_tokens_per_s"] == pytest.approx(d["max_rps"] * 250)
    m = d["memory_per_device_gb"]
    assert m["weights"] + m["kv_cache"] + m["workspace_reserve"] == pytest.approx(m["total"])


def test_cli_perf_batch_and_infeasible(capsys):
    base = ["perf", "--accelerator", "h100-sxm", "--model", "llama-3.1-70b", "--input-tokens", "500",
            "--output-tokens", "250"]
    assert main(base + ["--json"]) == 3                     # BF16 70B on one H100: does not fit
    d = json.loads(capsys.readouterr().out)
    assert not d["feasible"] and "do not fit" in d["reason"]
    assert main(base + ["--tp", "2", "--batch", "2", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["batch"] == 2 and d["max_rps"] > 0


def test_cli_perf_bad_input(capsys):
    assert main(["perf", "--accelerator", "h100", "--model", "llama-3.1-8b", "--input-tokens", "10",
                 "--output-tokens", "10"]) == 2
    err = capsys.readouterr().err
    assert "h100-sxm" in err                                # did-you-mean
    assert main(["perf", "--accelerator", "h100-sxm", "--tp", "3", "--input-tokens", "-1"]) == 2
    err = capsys.readouterr().err
    assert "--model is required" in err and "--tp" in err and "--input-tokens must be at least 1 token" in err
    assert "Traceback" not in err


def test_cli_perf_with_measurement_table(tmp_path, capsys):
    f = tmp_path / "m.csv"
    f.write_text("accelerator,model,quantization,input_tokens,output_tokens,max_requests_per_s,tpot_ms\n"
                 "h100-sxm,llama-3.1-8b,fp8,500,250,42,31\n")
    args = ["perf", "--accelerator", "h100-sxm", "--model", "llama-3.1-8b", "--quantization", "fp8",
            "--input-tokens", "500", "--output-tokens", "250", "--tpot-ms", "50", "--json"]
    assert main(args + ["--measurements", str(f)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["measured"] and d["max_rps"] == 42 and d["tpot_ms"] == 31
    assert d["batch"] == pytest.approx(42 * 250 * 0.031)
    assert d["ttft_ms"] is None and d["tpot_mean_ms"] is None     # not measured: unknown, valid JSON
    f.write_text("accelerator,model,quantization,input_tokens,output_tokens,max_requests_per_s\n"
                 "h100-sxm,llama-3.1-8b,fp8,500,250,42\n")
    assert main(args[:-1] + ["--measurements", str(f)]) == 0
    out = capsys.readouterr().out
    assert "nan" not in out and "batch not measured" in out and "TTFT p99 not measured" in out


# --------------------------------------------------------------------------- physical fit

def test_shipped_params_within_physical_bounds():
    from solver.perf.calibration import BOUNDS
    p = load_params(calibration_dir() / "perf_params.yaml")
    for g in list(p.groups) + [p.default]:
        for key in ("compute_efficiency", "bandwidth_efficiency", "step_overhead_ms"):
            lo, hi = BOUNDS[key]
            assert lo <= getattr(g, key) <= hi, (g.family, g.format, key)
    for key in ("allreduce_latency_us", "moe_compute_efficiency", "step_overhead_per_seq_us", "unoverlapped_fraction",
                "moe_tile_padding_tokens"):
        lo, hi = BOUNDS[key]
        assert lo <= getattr(p.global_, key) <= hi, key
    assert "excluded_rows" in dict(p.provenance)


def test_reference_implementation_rows_excluded(cases):
    cs, skipped = cases
    ex = {s.row for s in skipped if "reference implementation" in s.why}
    # rows 252/253: NeuralMagic vLLM 8xL40S *reference* runs (118 and 74 tok/s/GPU against 430-465 for
    # TensorRT-LLM on the same GPU)
    assert ex == {252, 253}
    assert not any(c.row in ex for c in cs)


def _synthetic(cs, cat, truth, rows):
    from dataclasses import replace
    sub = [c for c in cs if c.row in rows]
    return [replace(c, measured=float(m)) for c, m in zip(sub, predict(sub, cat, truth))]


def _truth(ada_bw=0.85):
    return PerfParams().with_groups(
        [GroupParams(family="hopper", format="fp8", compute_efficiency=0.55, bandwidth_efficiency=0.85,
                     step_overhead_ms=2.0),
         GroupParams(family="ada", format="fp8", compute_efficiency=0.55, bandwidth_efficiency=ada_bw,
                     step_overhead_ms=2.0)],
        allreduce_latency_us=15.0, moe_compute_efficiency=0.6, step_overhead_per_seq_us=5.0,
        unoverlapped_fraction=0.5)


H100_ROWS = set(range(1, 11)) | set(range(31, 41))            # TRT-LLM v1.0 8B and 70B rows on H100
ADA_ROWS = {154, 256}                                          # MLPerf L40S offline (TensorRT)


def test_robust_loss_resists_one_outlier(cases, cat):
    """One row 5x too slow (like the vLLM reference run) barely moves a soft-L1 fit."""
    cs, _ = cases
    sub = _synthetic(cs, cat, _truth(), H100_ROWS)
    from dataclasses import replace
    bad = [replace(c, measured=c.measured / 5) if c.row == 5 else c for c in sub]
    got = fit(bad, cat, PerfParams(), rounds=2)
    pred = predict(sub, cat, got)
    clean = np.array([c.row != 5 for c in sub])
    err = np.abs(pred / np.array([c.measured for c in sub]) - 1)[clean]
    # with squared loss the outlier's log error ln 5 = 1.6 spread over 20 rows would shift them by ~8%
    assert np.median(err) < 0.03 and err.max() < 0.08


def test_sparse_group_shrinks_toward_global(cases, cat):
    """A group with two rows that disagree with the rest is pulled toward the global fit by shrinkage."""
    cs, _ = cases
    sub = _synthetic(cs, cat, _truth(ada_bw=0.6), H100_ROWS | ADA_ROWS)
    free = fit(sub, cat, PerfParams(), rounds=2, ridge=0.0)
    shrunk = fit(sub, cat, PerfParams(), rounds=2)
    gap = lambda p: abs(p.group("ada", "fp8").bandwidth_efficiency - p.default.bandwidth_efficiency)
    assert gap(shrunk) < gap(free)
    assert p_rows(shrunk) == (20, 2)


def p_rows(p):
    return p.group("hopper", "fp8").fit_rows, p.group("ada", "fp8").fit_rows


def test_generalises_to_hardware_the_fit_never_saw(cat):
    """The H200 columns of the TensorRT-LLM v1.0 tables (30 rows, none in the fit file): the
    shipped parameters predict them within the acceptance's 15% median, and no row is off by more
    than a quarter.  Recomputed from the predictions, not from the summary table."""
    v = validate_file("tests/data/heldout_trtllm_h200.csv", cat, load_params(calibration_dir() / "perf_params.yaml"))
    assert v.fit_mask is None                   # a foreign file: every row is a test row
    meas = np.array([c.measured for c in v.cases])
    assert len(meas) == 30 and all(v.scored)
    err = np.abs(v.pred - meas) / meas * 100
    assert np.median(err) <= 15.0
    assert err.max() <= 25.0


TP_CSV = "tests/data/interconnect_tp.csv"


def test_link_efficiency_fit_recovers_a_known_value(cat):
    """Synthetic measurements of the interconnect file's TP8 MI300X rows at link efficiency 0.33:
    the golden-section search finds 0.33 again."""
    from dataclasses import replace
    from solver.perf.calibration import fit_link_efficiency

    base = load_params(calibration_dir() / "perf_params.yaml")
    base = base.with_groups(base.groups, link_efficiency_by_interconnect={})
    cs, _ = interpret(read_rows(TP_CSV), cat, base)
    assert len(cs) == 8 and all(c.candidate.tensor_parallel == 8 and c.hardware == "mi300x" for c in cs)
    truth = base.with_groups(base.groups, link_efficiency_by_interconnect={"infinity-fabric": 0.33})
    synth = [replace(c, measured=float(m)) for c, m in zip(cs, predict(cs, cat, truth))]
    got = fit_link_efficiency(synth, cat, base)
    assert set(got) == {"infinity-fabric"}
    assert got["infinity-fabric"][0] == pytest.approx(0.33, abs=2e-3) and got["infinity-fabric"][1] == 8


def test_tp8_on_infinity_fabric_is_fitted_and_holds_on_rows_it_never_saw(cat):
    """QA (public rows outside the calibration): 8x MI300X TP8 with vLLM ran at 0.55-0.75x what the
    NVLink link efficiency predicted, on every row.  The shipped parameters carry the efficiency fitted
    on AMD's rows (reproduced here from the file); on Oracle's two rows, held out from every fit (an
    older vLLM), the error falls, and NVLink predictions do not move."""
    from solver.perf.calibration import fit_link_efficiency
    from solver.perf import PerfCandidate

    shipped = load_params(calibration_dir() / "perf_params.yaml")
    eff = shipped.global_.link_efficiency_by_interconnect["infinity-fabric"]
    before = shipped.with_groups(shipped.groups, link_efficiency_by_interconnect={})
    cs, _ = interpret(read_rows(TP_CSV), cat, before)
    assert fit_link_efficiency(cs, cat, before)["infinity-fabric"][0] == pytest.approx(eff, abs=1e-3)
    assert 0.05 < eff < before.global_.link_efficiency
    meas = np.array([c.measured for c in cs])
    err = lambda p, cc, m: np.abs(predict(cc, cat, p) / m - 1)      # noqa: E731
    assert np.median(err(before, cs, meas)) > 0.5 and np.median(err(shipped, cs, meas)) < 0.10
    held = validate_file("tests/data/heldout_mi300x_tp8.csv", cat, shipped)
    hm = np.array([c.measured for c in held.cases])
    assert len(hm) == 2
    assert np.max(err(shipped, held.cases, hm)) < np.min(err(before, held.cases, hm))
    # NVLink TP8 and a TP1 MI300X are untouched
    from solver.perf import evaluate, PerfWorkload
    wl = [PerfWorkload("w", 1000, 500, 1e12, 1e12)]
    for cand in (PerfCandidate("h100-sxm", "llama-3.1-405b", "fp8", 8), PerfCandidate("mi300x", "llama-3.1-70b", "fp8", 1)):
        a = evaluate(cat, [cand], wl, shipped).max_rps[0, 0]
        b = evaluate(cat, [cand], wl, before).max_rps[0, 0]
        assert a == pytest.approx(b, rel=1e-12)
    mi = PerfCandidate("mi300x", "llama-3.1-70b", "fp8", 8)
    assert evaluate(cat, [mi], wl, shipped).max_rps[0, 0] < 0.8 * evaluate(cat, [mi], wl, before).max_rps[0, 0]


def test_a_bad_interconnect_file_is_an_input_error_at_once(tmp_path, capsys):
    """Review: a folder, a number column holding text, UTF-16 text or an empty output length gave a
    traceback (exit 1), and the file was only opened after the ~30 s main fit.  Now exit 2 with the
    file and line, before any fitting (the main fit is not reached: the clock shows it)."""
    import time
    from solver.perf.calibration import main as cal_main

    text = open(TP_CSV, encoding="utf-8").read()
    bad_value = tmp_path / "bad_value.csv"
    bad_value.write_text(text.replace(",13212.5,", ",n/a,"), encoding="utf-8")
    no_out = tmp_path / "no_out.csv"
    no_out.write_text(text.replace(",128,2048,", ",128,,", 1), encoding="utf-8")
    utf16 = tmp_path / "utf16.csv"
    utf16.write_text(text, encoding="utf-16")
    folder = tmp_path / "folder"
    folder.mkdir()
    for path, says in ((folder, "not a file"), (utf16, "not UTF-8"), (bad_value, "data row 1"),
                       (no_out, "data row 1")):
        t0 = time.perf_counter()
        with pytest.raises(InputError) as err:
            interpret(read_rows(path), default_catalog(), default_params())
        assert says in err.value.format() and str(path) in err.value.format()
        rc = cal_main(["fit", CSV, "--out", str(tmp_path / "o" / "perf_params.yaml"), "--interconnect-data", str(path)]) \
            if path in (folder, utf16) else None
        if rc is not None:
            assert rc == 2 and time.perf_counter() - t0 < 10
            assert says in capsys.readouterr().err
    # the line of a bad row is the file's own (comments counted)
    with pytest.raises(InputError) as err:
        interpret(read_rows(bad_value), default_catalog(), default_params())
    first_data = next(i for i, ln in enumerate(text.splitlines(), start=1)
                      if ln and not ln.startswith("#") and not ln.startswith("source_id"))
    assert err.value.issues[0].line == first_data


def test_pcie_hopper_cards_are_a_calibration_group_of_their_own(cat):
    """QA (data audit): with H100 NVL and PCIe in the Hopper group, every one of their MLPerf v4.1 rows
    was over-predicted (+34% to +62%: 350-400 W cards against the SXM part's 700 W), so a plan could buy
    them with a third too much capacity.  They now form the group ``hopper-pcie``: the shipped fit has it,
    its rows' median error (recomputed here from the predictions) is within the acceptance's 15% where it
    was 39%, and the NVL rows held out from the fit are within 15% too."""
    shipped = load_params(calibration_dir() / "perf_params.yaml")
    for acc in ("h100-nvl", "h100-pcie"):
        assert cat.accelerator(acc).calibration_group == "hopper-pcie"
        assert shipped.group_of(cat.accelerator(acc), "fp8").family == "hopper-pcie"
    assert shipped.group_of(cat.accelerator("h100-sxm"), "fp8").family == "hopper"
    assert shipped.group("hopper-pcie", "fp8").fit_rows >= 4
    v = validate_file(CSV, cat, shipped)
    meas = np.array([c.measured for c in v.cases])
    pcie = np.array([c.hardware in ("h100-nvl", "h100-pcie") and s for c, s in zip(v.cases, v.scored)])
    signed = v.pred[pcie] / meas[pcie] - 1
    assert pcie.sum() >= 8 and np.median(np.abs(signed)) <= 0.15
    held = pcie & ~v.fit_mask
    # (two held-out rows, 27.9% median before; submitters of the same 4-card NVL server differ by 33%)
    assert held.sum() >= 2 and np.median(np.abs(v.pred[held] / meas[held] - 1)) <= 0.15
    # where a calibration file has no such group, the family's parameters apply (not the default)
    old = shipped.with_groups([g for g in shipped.groups if g.family != "hopper-pcie"])
    assert old.group_of(cat.accelerator("h100-nvl"), "fp8") == old.group("hopper", "fp8")


def test_validating_the_interconnect_file_says_its_errors_are_in_sample(cat, capsys):
    """QA: ``perf validate`` called the interconnect file's rows test rows, where the link efficiency
    was fitted on every one of them."""
    shipped = load_params(calibration_dir() / "perf_params.yaml")
    v = validate_file(TP_CSV, cat, shipped)
    assert v.fitted_as and v.fit_mask is not None and v.fit_mask.all()
    assert main(["perf", "validate", TP_CSV]) == 0
    out = capsys.readouterr().out
    assert "fitted on every row of this file: its errors are in-sample" in out
    assert "every row counts as a test row" not in out
    assert not any(r["part"] == "held-out" for r in v.summary())


@pytest.mark.parametrize("hardware, acc", [
    ("NVIDIA H200-NVL-141GB", "h200-nvl"), ("NVIDIA H200-SXM-141GB", "h200-sxm"), ("H200 SXM 141GB", "h200-sxm"),
    ("A100-SXM4-40GB", "a100-40gb"), ("A100 SXM 80GB", "a100-80gb"), ("NVIDIA A100-PCIe-80GB", None),
    ("NVIDIA L4", "l4"), ("NVIDIA L40S", "l40s"), ("NVIDIA L40", None), ("A10G", "a10g"), ("MI325X", "mi325x"),
    ("NVIDIA H100-NVL-94GB", "h100-nvl"), ("NVIDIA H100-PCIe-80GB", "h100-pcie"), ("NVIDIA GH200 Grace Hopper", None)])
def test_measurement_hardware_names_map_to_their_catalog_part(hardware, acc):
    """QA: `perf validate` read every H200 as the SXM part (an H200 NVL row scored 6.8% where the
    h200-nvl entry the planner uses is off by 19%) and every A100 as the 80 GB SXM one, and skipped
    L4, A10G and MI325X rows."""
    from solver.perf.calibration import accelerator_of
    assert accelerator_of(hardware) == acc
    # every hardware name of the reference file maps as it did (the fit does not move)
    rows = read_rows(CSV)
    assert {r["hardware"] for r in rows if accelerator_of(r["hardware"]) == "h200-nvl"} == set()


OSS_CSV = "catalogs/calibration/gpt_oss_trtllm.csv"


def test_tile_padding_fit_recovers_a_known_value(cat):
    """Synthetic measurements of the gpt-oss file's rows at 48 rows of padding per expert: the
    golden-section search of ``--moe-data`` finds 48 again (QA s22)."""
    from dataclasses import replace
    from solver.perf.calibration import fit_tile_padding

    base = load_params(calibration_dir() / "perf_params.yaml")
    cs, _ = interpret(read_rows(OSS_CSV), cat, base)
    truth = base.with_groups(base.groups, moe_tile_padding_tokens=48.0)
    synth = [replace(c, measured=float(m)) for c, m in zip(cs, predict(cs, cat, truth))]
    t0, n = fit_tile_padding(synth, cat, base)
    assert t0 == pytest.approx(48.0, abs=0.05) and n == 53


def test_validating_the_moe_file_splits_it_as_its_fit_did(cat):
    """The shipped tile padding was fitted on two thirds of the gpt-oss file: ``perf validate`` on it
    reports the other third as held out (rows 3, 6, 9, ... of each source and card: the provenance's list)."""
    shipped = load_params(calibration_dir() / "perf_params.yaml")
    v = validate_file(OSS_CSV, cat, shipped)
    assert v.fit_mask is not None and not v.fitted_as
    held = [c.row for c, m in zip(v.cases, v.fit_mask) if not m]
    prov = dict(shipped.provenance)["moe_data"]
    assert held[:4] == [3, 6, 9, 12] and ",".join(map(str, held)) in prov
    assert any(r["part"] == "held-out" for r in v.summary())


def test_constant_moe_efficiency_is_still_needed(cases, cat):
    """QA s22: the tile padding cannot stand in for the MoE efficiency.  Mixtral's MLPerf rows put
    hundreds of tokens on each of its 8 experts, where half a tile is a few per cent of the expert
    FLOPs: with the efficiency at 1 and the padding refitted on them (every other parameter held) the
    loss on those rows is more than twice the shipped fit's (the full refit of the report: Mixtral
    median error 1.2% -> 33%, the padding at 105 rows, beyond a 64-row tile)."""
    from solver.perf.calibration import fit_tile_padding, soft_l1

    cs, _ = cases
    sub = [c for c in cs if c.candidate.model == "mixtral-8x7b" and c.kind in FITTED_KINDS]
    meas = np.array([c.measured for c in sub])

    def loss(p):
        return soft_l1(np.log(predict(sub, cat, p) / meas))

    base = load_params(calibration_dir() / "perf_params.yaml")
    no_eff = base.with_groups(base.groups, moe_compute_efficiency=1.0)
    t0, n = fit_tile_padding(sub, cat, no_eff)
    assert n == len(sub) > 20
    assert loss(no_eff.with_groups(no_eff.groups, moe_tile_padding_tokens=t0)) > 2.0 * loss(base)


def test_fit_holds_the_parameters_it_is_given(cases, cat):
    """``fit(fixed=...)``: a model variant without a parameter (the MoE efficiency at 1) is fitted with
    it held, so that its loss can be compared with the free fit's."""
    cs, _ = cases
    sub = [c for c in cs if c.hardware == "h100-sxm" and c.kind in FITTED_KINDS][:6]
    got = fit(sub, cat, PerfParams(), rounds=1, fixed={"moe_compute_efficiency": 1.0, "moe_tile_padding_tokens": 7.0})
    assert got.global_.moe_compute_efficiency == 1.0 and got.global_.moe_tile_padding_tokens == 7.0
