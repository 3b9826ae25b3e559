"""A workload whose allowed quantizations run on none of the allowed accelerators' families is a dead
end `fleetopt validate` proves before the solve (exit 3, with the fix), and explain names the scheme
and the family (QA s21, F6: fp8 only on trainium2, family neuron, which no fp8 scheme lists:
validate exited 0 and the solve ended infeasible).

By hand, from catalogs/quantization.yaml: bf16 and fp16 list neuron, fp8 does not (hopper, ada,
blackwell, cdna3, cdna4, gaudi, ampere, turing), nor do int8, int4, fp4 and mxfp4.
"""

from __future__ import annotations

import textwrap

from solver.cli import main
from solver.explain import explain
from solver.problem.load import load_problem

TRN2 = textwrap.dedent("""\
    schema_version: 1
    sources:
      mine: {title: my own figures, verification: planning assumption}
    accelerators:
      - id: trainium2
        name: AWS Trainium2
        vendor: aws
        family: neuron
        memory_gb: {value: 96, source: mine}
        mem_bw_gbps: {value: 2900, source: mine}
        peak_tflops:
          bf16: {value: 667, source: mine}
          fp16: {value: 667, source: mine}
          fp8: {value: 1299, source: mine}
        tdp_w: {value: 472, source: mine}
        idle_w: {value: 70, source: mine}
        interconnect:
          kind: neuronlink
          bandwidth_gbps: {value: 640, source: mine}
        devices_per_node: 16
        offers:
          - provider: aws
            instance: trn2.48xlarge
            region: virginia
            devices_per_instance: 16
            on_demand_usd_per_device_hour: {value: 2.5, source: mine}
    """)


def write(tmp_path, quantizations: str, accelerators: str = "[trainium2]"):
    (tmp_path / "trn2.yaml").write_text(TRN2)
    f = tmp_path / "p.yaml"
    f.write_text(textwrap.dedent(f"""\
        schema_version: 1
        name: neuron
        catalog: [trn2.yaml]
        workloads:
          - id: chat
            demand: {{requests_per_s: 5}}
            input_tokens: {{mean: 800}}
            output_tokens: {{mean: 200}}
            slo: {{ttft_ms: 2000, tpot_ms: 60}}
            models: [llama-3.1-8b]
            quantizations: {quantizations}
        fleet:
          regions: [virginia]
          accelerators: {accelerators}
          acquisition: [on_demand]
          tensor_parallel: [1, 2]
        """))
    return f


def test_quantizations_no_allowed_family_runs_are_a_dead_end_validate_proves(tmp_path, capsys):
    f = write(tmp_path, "[fp8]")
    assert main(["validate", str(f)]) == 3
    err = capsys.readouterr().err
    assert ("p.yaml:11: workloads[0].quantizations: workload 'chat' allows only fp8, and it runs on none of the "
            "allowed accelerators (trainium2 (family neuron)): fp8 runs on hopper, ada, blackwell, cdna3, cdna4, "
            "gaudi, ampere, turing (error: no plan can exist)") in err
    assert ("fix: allow one of bf16 (neuron), fp16 (neuron) in workloads[0].quantizations, allow an accelerator of "
            "a family fp8 runs on in fleet.accelerators, or, if the serving software runs fp8 on neuron, add the "
            "family to the scheme's supported_families with a catalog overlay (`fleetopt catalog show fp8`)") in err


def test_the_dead_end_fix_says_where_each_scheme_runs(tmp_path, capsys):
    """QA s21: 'allow bf16 or ... mxfp4 (they run on ada and ampere and hopper)': mxfp4 does not run on ada."""
    f = tmp_path / "p.yaml"
    f.write_text("""schema_version: 1
name: dead
workloads:
  - id: chat
    demand: {requests_per_s: 1}
    input_tokens: {mean: 500}
    output_tokens: {mean: 100}
    slo: {ttft_ms: 2000, tpot_ms: 100}
    models: [gpt-oss-20b]
    quantizations: [mxfp4-w4a8]
fleet:
  regions: [virginia]
  accelerators: [l40s, h100-sxm]
""")
    assert main(["validate", str(f)]) == 3
    err = capsys.readouterr().err
    assert "mxfp4 (hopper)" in err and "fp8 (ada, hopper)" in err and "they run on" not in err


def test_solve_prints_the_same_error_before_reporting_infeasible(tmp_path, capsys):
    f = write(tmp_path, "[fp8]")
    assert main(["solve", str(f)]) == 3
    assert "workload 'chat' allows only fp8, and it runs on none of the allowed accelerators" in capsys.readouterr().err


def test_one_allowed_scheme_the_family_runs_is_enough(tmp_path, capsys):
    assert main(["validate", str(write(tmp_path, "[fp8, bf16]"))]) == 0
    # and an accelerator of a family fp8 runs on beside trainium2 (h100-sxm: hopper)
    assert main(["validate", str(write(tmp_path, "[fp8]", "[trainium2, h100-sxm]"))]) == 0
    assert "allows only" not in capsys.readouterr().err


def test_explain_names_the_scheme_and_the_family(tmp_path):
    text = explain(load_problem(write(tmp_path, "[fp8]"))).text()
    # 1 accelerator x TP 1 and 2 x 1 model x 1 scheme = 2 deployments, both ruled out for the family
    assert "why: 2 quantization not supported on accelerator family neuron (fp8)" in text
    assert ("2 deployment(s) pair a quantization with an accelerator family it does not run on (fp8 on neuron); "
            "allow another quantization, or list the family under the scheme's supported_families with a "
            "catalog overlay (`fleetopt catalog show fp8`)") in text


def test_a_scheme_offered_for_other_models_only_is_a_dead_end_and_never_planned(tmp_path, capsys):
    """QA s21: mxfp4-w4a8 (sources: TensorRT-LLM's gpt-oss recipe) was offered for every model on
    Blackwell; a plan ran Llama-3.1-70B in it.  It now lists its models."""
    from solver.catalog import default_catalog
    from solver.mip.pipeline import solve_problem
    from solver.problem.load import load_problem
    assert default_catalog().quantization["mxfp4-w4a8"].models == ["gpt-oss-20b", "gpt-oss-120b"]
    text = """schema_version: 1
name: w4a8
workloads:
  - id: chat
    demand: {requests_per_s: 5}
    input_tokens: {mean: 1000}
    output_tokens: {mean: 300}
    slo: {ttft_ms: 2000, tpot_ms: 80}
    models: [MODELS]
    quantizations: [QUANTS]
fleet:
  regions: [virginia]
  accelerators: [b200]
  acquisition: [on_demand]
"""
    f = tmp_path / "p.yaml"
    f.write_text(text.replace("MODELS", "llama-3.1-70b").replace("QUANTS", "mxfp4-w4a8"))
    assert main(["validate", str(f)]) == 3
    err = capsys.readouterr().err
    assert ("workload 'chat': mxfp4-w4a8 runs on the allowed accelerators but is offered for other models only "
            "(mxfp4-w4a8: gpt-oss-20b, gpt-oss-120b), not for llama-3.1-70b") in err
    f.write_text(text.replace("MODELS", "llama-3.1-70b, gpt-oss-120b").replace("QUANTS", "mxfp4-w4a8, fp4"))
    plan = solve_problem(load_problem(f), time_limit_s=30).plan
    assert plan.status == "optimal"
    assert all(d.quantization != "mxfp4-w4a8" or d.model.startswith("gpt-oss") for d in plan.deployments)
    from solver.perf import PerfCandidate, PerfWorkload, evaluate
    from solver.perf.arch import R_QUANT_NOT_FOR_MODEL, REASONS
    cap = evaluate(default_catalog(), [PerfCandidate("b200", "llama-3.1-70b", "mxfp4-w4a8", 1)],
                   [PerfWorkload("w", 1000, 300, 2000, 80)])
    assert int(cap.reason[0, 0]) == R_QUANT_NOT_FOR_MODEL and cap.max_rps[0, 0] == 0
    assert "offered for other models only" in REASONS[R_QUANT_NOT_FOR_MODEL]
