"""Pre-solve checks (solver.problem.checks): a valid problem with a dead end only the solve used to
find is an error (no plan can exist: `validate` exits 3), a setting that does nothing is a warning
(`validate` exits 0); `solve` prints the same text."""

from __future__ import annotations

import textwrap

from solver.cli import main
from solver.problem.checks import presolve_checks
from solver.problem.load import load_problem_text

SMALL = textwrap.dedent("""\
    schema_version: 1
    name: small
    workloads:
      - id: support
        demand: {requests_per_s: 6}
        input_tokens: {mean: 800}
        output_tokens: {mean: 200}
        slo: {ttft_ms: 1500, tpot_ms: 60}
        models: [llama-3.1-8b]
    fleet:
      regions: [ohio]
      accelerators: [l4, a10g, l40s]
      acquisition: [on_demand]
      tensor_parallel: [1, 2]
    """)

NO_OFFER = ("the fleet has no offer at all: no on_demand price for l4, a10g, l40s in ohio "
            "(error: no plan can exist)")


def findings(text: str):
    return presolve_checks(load_problem_text(text, file="p.yaml"))


def test_no_offer_in_the_allowed_regions_is_an_error_validate_and_solve_both_print(tmp_path, capsys):
    """QA: `validate` said ok; only `solve` found that no on_demand l4/a10g/l40s is sold in ohio."""
    f = tmp_path / "p.yaml"
    f.write_text(SMALL)
    assert main(["validate", str(f)]) == 3
    out, err = capsys.readouterr()
    assert out.startswith("infeasible: ") and "ok:" not in out
    assert f"p.yaml:10: fleet: {NO_OFFER}" in err
    assert "l4: on_demand in " in err and "virginia" in err and "add one of those regions" in err
    assert main(["solve", str(f), "--quiet"]) == 3
    assert f"p.yaml:10: fleet: {NO_OFFER}" in capsys.readouterr().err


def test_a_region_no_offer_serves_is_a_warning_and_validate_still_exits_0(tmp_path, capsys):
    f = tmp_path / "p.yaml"
    f.write_text(SMALL.replace("regions: [ohio]", "regions: [virginia, ohio]"))
    assert main(["validate", str(f)]) == 0
    out, err = capsys.readouterr()
    assert "ok: " in out and "1 warning(s)" in out
    assert ("p.yaml:11: fleet.regions[1]: no allowed offer is in region 'ohio' (on_demand for l4, a10g, l40s): "
            "it adds nothing to the plan (warning: a plan can still exist)") in err
    assert "fix: ohio: on_demand/spot/reserved_1y/reserved_3y for " in err


def test_a_workload_whose_regions_have_no_offer_is_an_error():
    found = findings(SMALL.replace("regions: [ohio]", "regions: [virginia]")
                     .replace("models: [llama-3.1-8b]", "models: [llama-3.1-8b]\n    regions: [iowa]"))
    (e,) = found.errors
    assert e.path == "workloads[0].regions"
    assert "must be served in iowa, and fleet.regions leaves out iowa (error: no plan can exist)" in e.message
    assert "allowed offers are in virginia" in e.hint


def test_tensor_parallel_degrees_no_unit_can_host():
    found = findings(SMALL.replace("regions: [ohio]", "regions: [virginia]").replace("[1, 2]", "[16]"))
    (e,) = found.errors
    assert e.path == "fleet.tensor_parallel" and "none can host" not in e.message
    assert "can host a tensor-parallel degree in [16]" in e.message
    assert "add 1" in e.hint


def test_filtered_out_entries_and_provider_typos_are_warnings():
    text = SMALL.replace("regions: [ohio]", "regions: [virginia]") + (
        "  providers: [aws, AWS]\n"
        "  existing: [{accelerator: a100-80gb, region: virginia, devices: 4}]\n"
        "  offers: [{accelerator: l4, region: iowa, usd_per_device_hour: 0.5}]\n"
        "  power_caps: [{region: oregon, max_kw: 10}]\n")
    found = findings(text)
    assert not found.errors
    by_path = {w.path: w for w in found.warnings}
    assert set(by_path) == {"fleet.providers[1]", "fleet.existing[0]", "fleet.offers[0]", "fleet.power_caps[0]"}
    assert by_path["fleet.providers[1]"].hint.startswith("did you mean 'aws'?")
    assert "fleet.accelerators leaves out a100-80gb" in by_path["fleet.existing[0]"].message
    assert "fleet.regions leaves out iowa" in by_path["fleet.offers[0]"].message
    assert all(w.message.endswith("(warning: a plan can still exist)") for w in found.warnings)


def test_a_clean_problem_has_no_findings():
    assert not findings(SMALL.replace("regions: [ohio]", "regions: [virginia]"))


def test_owned_devices_that_may_move_count_as_offers_where_they_may_go():
    """QA review: 8 owned A100s in Virginia, a workload pinned to Texas, moves allowed at $500 a
    device: solve moves one and finds a plan; the checks called it impossible (no offer in Texas)."""
    text = textwrap.dedent("""\
        schema_version: 1
        name: move
        workloads:
          - id: chat
            regions: [texas]
            demand: {requests_per_s: 2}
            input_tokens: {mean: 1000}
            output_tokens: {mean: 200}
            slo: {ttft_ms: 2000, tpot_ms: 80}
            models: [llama-3.1-8b]
        fleet:
          accelerators: [a100-80gb]
          regions: [virginia, texas]
          providers: [aws]
          acquisition: [on_demand]
          tensor_parallel: [1]
          existing:
            - {accelerator: a100-80gb, region: virginia, devices: 8, age_years: 1}
        objective:
          include_energy: false
          periods: {count: 2, months: 3, move_usd_per_device: 500}
        """)
    found = findings(text)
    assert not found.errors and not any("texas" in w.message for w in found.warnings)
    # without moves the same problem is the dead end the checks report
    assert findings(text.replace(", move_usd_per_device: 500", "")).errors


def test_an_accelerator_no_allowed_offer_has_is_a_warning_with_where_it_is_offered():
    """California rents H100s and A100s on demand, not L4s (the old code-assistant-router example)."""
    found = findings(SMALL.replace("regions: [ohio]", "regions: [california]")
                     .replace("accelerators: [l4, a10g, l40s]", "accelerators: [h100-sxm, l4]"))
    (w,) = found.warnings
    assert w.path == "fleet.accelerators[1]"
    assert w.message == ("no allowed offer of accelerator 'l4' (on_demand in california): it adds nothing "
                         "to the plan (warning: a plan can still exist)")
    assert w.hint.startswith("l4: on_demand/spot/reserved_1y/reserved_3y in ")
    assert w.hint.endswith("allow one of those regions or modes, or drop it")


def test_a_workload_measurement_taken_under_looser_targets_is_named():
    """Review: with the workload's TTFT target at 990 ms, a rate measured under 1,000 ms was silently
    set aside and the (more optimistic) model used: the plan got cheaper, $5,103 -> $4,803 a month."""
    text = SMALL.replace("regions: [ohio]", "regions: [virginia]") + (
        "measurements:\n"
        "  - {accelerator: l4, model: llama-3.1-8b, workload: support, max_requests_per_s: 1,\n"
        "     ttft_slo_ms: 2000, tpot_slo_ms: 60}\n"
        "  - {accelerator: a10g, model: llama-3.1-8b, workload: support, max_requests_per_s: 1,\n"
        "     ttft_slo_ms: 1500}\n")
    found = findings(text)
    assert not found.errors and [w.path for w in found.warnings] == ["measurements[0]"]
    w = found.warnings[0]
    assert "not used for support" in w.message and "ttft target 1500 ms < 2000 ms" in w.message
    assert "performance model's figure is used" in w.message


def test_a_measurement_whose_weights_do_not_fit_its_devices_is_named():
    """QA: `import melange --model llama-2-70b` measured a 70B model on one 24 GB A10G; the plan showed
    that deployment with no word.  By hand: 70.55e9 parameters x 2 bytes (bf16) on 1 device = 141 GB > the
    A10G's 24 GB; the second row, 8 L4s, holds 17.6 GB a device <= 24 GB and fits."""
    text = SMALL.replace("regions: [ohio]", "regions: [virginia]") + (
        "measurements:\n"
        "  - {accelerator: a10g, model: llama-3.1-70b, workload: support, max_requests_per_s: 1}\n"
        "  - {accelerator: l4, model: llama-3.1-70b, tensor_parallel: 8, workload: support, max_requests_per_s: 1}\n")
    found = findings(text)
    assert [w.path for w in found.warnings] == ["measurements[0]"]
    assert "weights alone take" in found.warnings[0].message and "24 GB" in found.warnings[0].message


def test_an_accelerator_family_no_scheme_runs_on_is_named(tmp_path):
    """QA: an overlay's accelerator with `family: Hopper` (a typo) made every candidate infeasible:
    validate said ok and explain advised more memory."""
    from solver.explain import explain
    from solver.problem.load import load_problem
    ov = tmp_path / "ov.yaml"
    ov.write_text(textwrap.dedent("""\
        schema_version: 1
        accelerators:
          - id: l4
            family: Hopper
        """))
    f = tmp_path / "p.yaml"
    f.write_text(SMALL.replace("regions: [ohio]", "regions: [virginia]").replace("[l4, a10g, l40s]", "[l4]"))
    lp = load_problem(f, catalog_overlays=[str(ov)])
    found = presolve_checks(lp)
    w = [x for x in found.warnings if "runs no quantization" in x.message]
    assert len(w) == 1 and "l4 (family 'Hopper')" in w[0].message and "did you mean family 'hopper'" in w[0].hint
    text = explain(lp).text()
    assert "pair a quantization with an accelerator family it does not run on" in text
    assert "bigger accelerators" not in text


def test_a_calibration_group_without_parameters_is_named(tmp_path):
    """Review: an overlay's `calibration_group: hoper-pcie` (a typo) fell back to the family's
    efficiencies (49% more compute than the PCIe cards' group) without a word."""
    from solver.problem.load import load_problem
    f = tmp_path / "p.yaml"
    f.write_text(SMALL.replace("regions: [ohio]", "regions: [virginia]").replace("[l4, a10g, l40s]", "[h100-pcie]"))
    assert not [x for x in presolve_checks(load_problem(f)).warnings if "calibration_group" in x.message]
    ov = tmp_path / "ov.yaml"
    ov.write_text("schema_version: 1\naccelerators:\n  - id: h100-pcie\n    calibration_group: hoper-pcie\n")
    w = [x for x in presolve_checks(load_problem(f, catalog_overlays=[str(ov)])).warnings
         if "calibration_group" in x.message]
    assert len(w) == 1 and "'hoper-pcie' has no parameters in the calibration in effect" in w[0].message
    assert "did you mean 'hopper-pcie'?" in w[0].hint


def test_a_tensor_parallel_degree_no_allowed_offer_hosts_is_a_warning(tmp_path, capsys):
    """QA s18: TP 16 and 32 on accelerators whose nodes hold 8 were dropped in silence (validate said
    ok with no warning) while explain advised "allow larger tensor parallelism"."""
    text = (SMALL.replace("regions: [ohio]", "regions: [virginia]")
            .replace("accelerators: [l4, a10g, l40s]", "accelerators: [h100-sxm]")
            .replace("tensor_parallel: [1, 2]", "tensor_parallel: [1, 2, 16]"))
    found = findings(text)
    (w,) = found.warnings
    assert w.path == "fleet.tensor_parallel[2]"
    assert w.message.startswith("tensor-parallel degree 16 fits no allowed offer")
    assert "the largest the allowed offers hold is 8 device(s)" in w.message
    assert w.hint == "drop 16, or allow accelerators with larger nodes (fleet.accelerators)"
    # degrees some offer hosts draw no warning
    assert not findings(text.replace("[1, 2, 16]", "[1, 2, 8]")).warnings


def test_the_default_tensor_parallel_list_draws_no_warning_a_written_one_does():
    """QA s22: a problem without fleet.tensor_parallel (default [1, 2, 4, 8]) on L4 and L40S, whose
    on-demand units in virginia hold 4 devices at most, was warned 'degree 8 fits no allowed offer ...
    fix: drop 8' at the line of `fleet:`, for a list the user never wrote.  Written, the same list warns."""
    base = (SMALL.replace("regions: [ohio]", "regions: [virginia]")
            .replace("accelerators: [l4, a10g, l40s]", "accelerators: [l4, l40s]"))
    default = base.replace("  tensor_parallel: [1, 2]\n", "")
    assert "tensor_parallel" not in default
    assert not [w for w in findings(default).warnings if w.path.startswith("fleet.tensor_parallel")]
    written = [w for w in findings(base.replace("[1, 2]", "[1, 2, 4, 8]")).warnings
               if w.path.startswith("fleet.tensor_parallel")]
    assert [w.path for w in written] == ["fleet.tensor_parallel[3]"]
    assert written[0].message.startswith("tensor-parallel degree 8 fits no allowed offer")


def test_requests_longer_than_every_allowed_context_window_are_a_warning():
    """QA s22: input_tokens.max 200,000 beside llama-3.1-8b's 131,072-token window was accepted in
    silence.  The p95 request the plan sizes instead, by hand (lognormal, cv 0.5: sigma^2 = ln 1.25 =
    0.22314, sigma = 0.47238; z95 = 1.64485): 400 x exp(0.47238 x 1.64485 - 0.11157) = 400 x 1.94532 =
    778 input tokens, 150 x 1.94532 = 292 output tokens."""
    text = (SMALL.replace("regions: [ohio]", "regions: [virginia]")
            .replace("input_tokens: {mean: 800}", "input_tokens: {mean: 400, max: 200000}")
            .replace("output_tokens: {mean: 200}", "output_tokens: {mean: 150}")
            .replace("tpot_ms: 60}", "tpot_ms: 60, percentile: 95}"))
    (w,) = [x for x in findings(text).warnings if x.path.startswith("workloads")]
    assert w.path == "workloads[0].input_tokens.max" and w.line == 6
    assert ("support's requests reach 200,000 tokens (input_tokens.max), more than the context window of every "
            "allowed model (llama-3.1-8b 131,072 tokens)") in w.message
    assert "cannot run" in w.message and "sized for the p95 request (778 input + 292 output tokens)" in w.message
    assert w.hint.startswith("lower input_tokens.max to the longest request")
    # both maxima count (100,000 + 40,000 = 140,000 > 131,072); a window that holds them: no warning
    both = text.replace("max: 200000", "max: 100000").replace("{mean: 150}", "{mean: 150, max: 40000}")
    (w,) = [x for x in findings(both).warnings if x.path.startswith("workloads")]
    assert "reach 100,000 + 40,000 tokens (input_tokens.max + output_tokens.max)" in w.message
    assert not [x for x in findings(text.replace("max: 200000", "max: 131000")).warnings
                if x.path.startswith("workloads")]


def test_a_quality_target_above_every_allowed_model_is_told_what_the_allowed_formats_reach(tmp_path, capsys):
    """QA s22: min_score 87 with llama-3.1-70b (catalog 86) in fp8 or int4 was told 'lower min_score to
    at most 86'; at 86 there is still no plan: fp8 keeps 0.995 of a 70B model's score (int4 0.994), so
    the best reached is 86 x 0.995 = 85.57 (explain's figure, rounded down to hundredths)."""
    f = tmp_path / "p.yaml"
    f.write_text(SMALL.replace("regions: [ohio]", "regions: [virginia]")
                 .replace("models: [llama-3.1-8b]", "models: [llama-3.1-8b, llama-3.1-70b]\n"
                          "    quantizations: [fp8, int4]\n    quality: {min_score: 87, mode: mean}"))
    assert main(["validate", str(f)]) == 2
    err = capsys.readouterr().err
    assert "quality target 87 is above the best allowed model (llama-3.1-70b: 86.0 MMLU)" in err
    assert "fix: lower min_score to at most 85.57 (what llama-3.1-70b reaches in fp8" in err


def test_a_daily_profile_with_rentals_in_a_single_period_plan_is_a_warning_with_the_slices_fix():
    """QA (s20): an architect gave a profile (lowest hour 17% of the peak) and expected on-demand
    rentals to follow the day; the one-period plan rents the peak fleet all year (the slices form of
    the same problem cost 44% less) and said nothing."""
    prof = "[0.2, 0.5, 1.0, 0.6]"
    text = SMALL.replace("demand: {requests_per_s: 6}", f"demand: {{requests_per_s: 6, profile: {prof}}}") \
        .replace("regions: [ohio]", "regions: [virginia]")
    w = [x for x in findings(text).warnings if "profile" in x.path]
    assert len(w) == 1 and "holds support's peak fleet all day" in w[0].message and "20% of the peak" in w[0].message
    assert "within_period: slices" in w[0].hint and "months: 12" in w[0].hint
    # purchases only, a flat-ish profile, or a multi-period plan: no warning
    assert not [x for x in findings(text.replace("acquisition: [on_demand]", "acquisition: [purchase]")).warnings
                if "profile" in x.path]
    flat = text.replace(prof, "[0.95, 1.0]")
    assert not [x for x in findings(flat).warnings if "profile" in x.path]
    periods = text + "objective: {periods: {count: 1, months: 12, within_period: slices}}\n"
    assert not [x for x in findings(periods).warnings if "profile" in x.path]


def test_a_measurement_of_a_scheme_its_accelerator_does_not_run_is_named():
    """QA s22: a Melange import wrote its T4 rates as bf16; the catalog's bf16 does not run on Turing
    (no BF16 tensor cores, t4's catalog note), so the T4 was dropped with its measurements and the plan
    cost 57% more, validate saying ok.  The catalog's fp16 runs there at the same 2 bytes a weight: the
    fix names it.  A scheme offered for gpt-oss only (mxfp4-w4a8's models list) is named likewise."""
    text = SMALL.replace("regions: [ohio]", "regions: [virginia]") + (
        "measurements:\n"
        "  - {accelerator: t4, model: llama-3.1-8b, quantization: bf16, workload: support, max_requests_per_s: 1}\n"
        "  - {accelerator: b200, model: llama-3.1-8b, quantization: mxfp4-w4a8, workload: support,\n"
        "     max_requests_per_s: 1}\n"
        "  - {accelerator: t4, model: llama-3.2-3b, quantization: fp16, max_requests_per_s: 1,\n"
        "     input_tokens: 800, output_tokens: 200}\n")
    found = findings(text)
    # (the 8B's 16.1 GB of weights would not fit the T4's 16 GB either: moot, the pair is no candidate)
    assert [w.path for w in found.warnings] == ["measurements[0]", "measurements[1]"]
    t4, b200 = found.warnings
    assert "bf16 does not run on the turing family" in t4.message and "not used" in t4.message
    assert t4.hint.startswith("if the replica ran fp16, set quantization to it")
    assert "gpt-oss-120b" in b200.message and "not used" in b200.message


def test_a_spot_only_fleet_under_a_spot_share_below_1_is_an_error(tmp_path, capsys):
    """QA s22 (newuser p17): acquisition [spot] with the default max_spot_share 0.5 can serve at most
    half of any demand: no plan can exist.  Owned devices, or a share of 1, leave a way."""
    spot = SMALL.replace("regions: [ohio]", "regions: [virginia]").replace("acquisition: [on_demand]",
                                                                          "acquisition: [spot]")
    f = tmp_path / "p.yaml"
    f.write_text(spot)
    assert main(["validate", str(f)]) == 3
    err = capsys.readouterr().err
    assert ("fleet.acquisition: every allowed offer is spot (fleet.acquisition: spot), and spot may serve at most "
            "fleet.max_spot_share (0.5) of each workload's demand") in err
    assert "set fleet.max_spot_share: 1" in err
    assert not findings(spot + "  max_spot_share: 1\n").errors
    owned = spot + "  existing:\n    - {accelerator: l4, region: virginia, devices: 2}\n"
    assert not findings(owned).errors
