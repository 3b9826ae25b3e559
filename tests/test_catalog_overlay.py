"""A user's own catalog overlay: the checks that catch its likely mistakes.

Each test writes an overlay in tmp_path, as a user bringing their own figures would, and checks that
the message names the file, the field, what is wrong and how to fix it.  Parameter counts in the
expectations are worked out by hand from the config.json integers (see each test).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from solver.catalog import Catalog
from solver.cli import main
from solver.errors import InputError


def write(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return str(p)


def load_errors(*overlays: str) -> list:
    with pytest.raises(InputError) as info:
        Catalog.load(list(overlays))
    return info.value.issues


SOURCES = """\
    schema_version: 1
    sources:
      mine: {title: my own assumption, verification: planning assumption}
      card: {title: the model card, verification: retrieved}
      quote: {title: a blog quoting the card, verification: retrieved (secondary)}
"""

# Gemma-2-9B (google/gemma-2-9b config.json): tied embeddings 256000 x 3584 = 917,504,000; per layer
# attention q and o 3584 x 16 x 256 = 14,680,064 each, k and v 3584 x 8 x 256 = 7,340,032 each:
# 44,040,192, FFN 3 x 3584 x 14336 = 154,140,672, 42 layers x 198,180,864 = 8,323,596,288; norms
# (2 x 42 + 1) x 3584 = 304,640.  Total 9,241,404,928 = 9.241 B (the model card: 9.24 B).
GEMMA = SOURCES + """\
    models:
      - id: gemma-2-9b
        name: Gemma 2 9B
        arch: dense
        tier: small
        num_layers: 42
        hidden_size: 3584
        num_attention_heads: 16
        num_kv_heads: 8
        head_dim: 256
        intermediate_size: 14336
        vocab_size: 256000
        tie_word_embeddings: true
        max_context_tokens: 8192
        total_params_b: {value: %s, source: card}
        active_params_b: {value: %s, source: card}
        quality: {value: %s, source: card}
        source: card
"""

# Qwen3-30B-A3B (config.json): 48 layers x 128 experts x 3 x 2048 x 768 = 28,991,029,248 routed;
# with the stated total 30.53, every token reads 30.53 - 28.991 = 1.539 B, plus 8 of 128 experts:
# 28.991 x 8 / 128 = 1.812 B, so active = 3.351 B (the model card: 3.3 B).
QWEN3 = SOURCES + """\
    models:
      - id: qwen3-30b-a3b
        name: Qwen3 30B A3B
        arch: moe
        tier: medium
        num_layers: 48
        hidden_size: 2048
        num_attention_heads: 32
        num_kv_heads: 4
        head_dim: 128
        intermediate_size: 6144
        vocab_size: 151936
        max_context_tokens: 40960
        moe: {num_experts: 128, experts_per_token: 8, expert_intermediate_size: 768}
        total_params_b: {value: 30.53, source: card}
        active_params_b: {value: %s, source: card}
        quality: {value: 81.4, source: card}
        source: card
"""

TRN = SOURCES + """\
    accelerators:
      - id: %s
        name: %s
        vendor: %s
        family: %s
        memory_gb: {value: 103.08, source: mine}
        mem_bw_gbps: {value: 2900, source: mine}
        peak_tflops:
          bf16: {value: 667, source: %s}
          %s
        tdp_w: {value: 472, source: mine, confidence: low}
        idle_w: {value: 70.8, source: mine, confidence: low}
        interconnect:
          kind: neuronlink
          bandwidth_gbps: {value: 640, source: mine, confidence: low}
        devices_per_node: 16
        offers:
          - provider: aws
            instance: trn2.48xlarge
            region: virginia
            devices_per_instance: 16
            on_demand_usd_per_device_hour: {value: 2.5, source: mine}
"""


def trn(tmp_path, name="trn.yaml", id="trn2x", dev_name="Trainium2", vendor="aws", family="neuron",
        bf16_source="quote", extra_peak=""):
    return write(tmp_path, name, TRN % (id, dev_name, vendor, family, bf16_source, extra_peak))


def test_the_shipped_catalog_raises_no_warning_and_states_every_confidence():
    cat = Catalog.load()
    assert cat.warnings == []
    assert cat.derived_confidence == {}


# --------------------------------------------------------------------------- F2: quality as a fraction

def test_a_quality_written_as_a_fraction_is_refused_like_min_score(tmp_path):
    ov = write(tmp_path, "frac.yaml", GEMMA % (9.24, 9.24, 0.713))
    (issue,) = load_errors(ov)
    assert (issue.file, issue.path, issue.line) == (ov, "models[0].quality", 22)
    assert "quality is in points of the 0-100 scale" in issue.message and "0.713 reads as 0.713 of 100" in issue.message
    assert issue.hint == "for 71.3 % write 71.3"
    Catalog.load([write(tmp_path, "points.yaml", GEMMA % (9.24, 9.24, 71.3))])


def test_a_problem_on_a_fractional_quality_is_told_to_fix_the_catalog(tmp_path, capsys):
    """QA s21: min_score 75 was refused with 'lower min_score to at most 0.814', and min_score 0.8
    then with 'write 80': the fix was the catalog's score all along."""
    write(tmp_path, "frac.yaml", GEMMA % (9.24, 9.24, 0.713))
    problem = write(tmp_path, "p.yaml", """\
        schema_version: 1
        name: frac
        catalog: [frac.yaml]
        workloads:
          - id: chat
            demand: {requests_per_s: 5}
            input_tokens: {mean: 1000}
            output_tokens: {mean: 300}
            slo: {ttft_ms: 1000, tpot_ms: 50, percentile: 99}
            quality: {min_score: 70}
            models: [gemma-2-9b]
        fleet:
          regions: [virginia]
          accelerators: [h100-sxm]
        """)
    assert main(["validate", problem]) == 2
    err = capsys.readouterr().err
    assert "models[0].quality" in err and "write 71.3" in err
    assert "lower min_score" not in err


# --------------------------------------------------------------------------- F3: parameter counts

def test_a_total_ten_times_the_architecture_is_refused_with_the_figure_to_write(tmp_path):
    ov = write(tmp_path, "g.yaml", GEMMA % (92.4, 92.4, 71.3))
    (issue,) = load_errors(ov)
    assert (issue.file, issue.path, issue.line) == (ov, "models[0].total_params_b", 20)
    assert "total_params_b 92.4 is 10x the 9.241 B parameters the architecture fields give" in issue.message
    assert "looks 10x too large" in issue.hint and "write 9.24" in issue.hint
    Catalog.load([write(tmp_path, "ok.yaml", GEMMA % (9.24, 9.24, 71.3))])


def test_a_total_somewhat_off_the_architecture_loads_with_a_warning(tmp_path):
    # 10.6 / 9.241 = 1.147: beyond the 10% tolerance, within the factor of 2 (a vision encoder can do it)
    ov = write(tmp_path, "g.yaml", GEMMA % (10.6, 10.6, 71.3))
    (w,) = Catalog.load([ov]).warnings
    assert (w.file, w.path, w.line) == (ov, "models[0].total_params_b", 20)
    assert "total_params_b 10.6 is 1.15x the 9.241 B" in w.message
    assert "vision encoder" in w.hint
    # within 10%: no warning (the shipped counts are within 1.5%)
    assert Catalog.load([write(tmp_path, "near.yaml", GEMMA % (9.7, 9.7, 71.3))]).warnings == []


def test_a_dense_models_active_count_below_its_total_is_refused(tmp_path):
    (issue,) = load_errors(write(tmp_path, "g.yaml", GEMMA % (9.24, 8.0, 71.3)))
    assert issue.path == "models[0].active_params_b"
    assert "active_params_b 8 is below the 9.24 B parameters every token passes through" in issue.message
    assert "write active_params_b: 9.24" in issue.hint


@pytest.mark.parametrize("active", [0.05, 0.335, 0.2])
def test_an_moe_active_count_below_the_non_expert_weights_is_refused(tmp_path, active):
    """QA s21: 0.05 B active made perf.arch's per-token compute 2 (active - embeddings) negative."""
    (issue,) = load_errors(write(tmp_path, "q.yaml", QWEN3 % active))
    assert issue.path == "models[0].active_params_b"
    assert (f"active_params_b {active:g} is below the 1.539 B parameters every token passes through "
            "(total_params_b 30.53 - routed experts 28.99 B") in issue.message
    assert "1.539 + 8/128 x 28.99 = 3.351 B" in issue.hint


def test_an_moe_active_count_is_checked_against_what_the_total_implies(tmp_path):
    assert Catalog.load([write(tmp_path, "ok.yaml", QWEN3 % 3.35)]).warnings == []
    # 5 / 3.351 = 1.49: a warning; 20 / 3.351 = 5.97: an error
    (w,) = Catalog.load([write(tmp_path, "w.yaml", QWEN3 % 5)]).warnings
    assert w.path == "models[0].active_params_b" and "active_params_b 5 is 1.49x the 3.351 B" in w.message
    (issue,) = load_errors(write(tmp_path, "e.yaml", QWEN3 % 20))
    assert issue.path == "models[0].active_params_b" and "active_params_b 20 is 5.97x the 3.351 B" in issue.message


# --------------------------------------------------------------------------- F5: id collisions

def test_an_overlay_giving_a_shipped_id_another_device_warns_what_it_keeps(tmp_path):
    """QA s21: an `l4` of family neuron from aws merged into the NVIDIA L4 and kept its FP8 peak,
    weight-only formats and purchase terms."""
    ov = trn(tmp_path, id="l4", dev_name="T")
    cat = Catalog.load([ov])
    (w,) = cat.warnings
    assert (w.file, w.path, w.line) == (ov, "accelerators[0].id", 7)
    assert ("'l4' is the id of the shipped catalog's accelerator 'NVIDIA L4 24GB', but this entry gives another "
            "family ('neuron' for 'ada') and vendor ('aws' for 'nvidia') and name ('T' for 'NVIDIA L4 24GB')"
            in w.message)
    assert "merged into that entry field by field" in w.message
    for kept in ("peak_tflops.fp16", "peak_tflops.fp8", "weight_only_formats", "purchase"):
        assert kept in w.message, kept
    assert "give it an id of its own" in w.hint and "keep its family and vendor and name" in w.hint
    # what it warns about did happen: the shipped FP8 peak is in the merged entry
    assert cat.accelerators["l4"].peak_tflops["fp8"].source == "nvidia-l4"


def test_an_overlay_changing_a_shipped_entrys_figures_only_does_not_warn(tmp_path):
    ov = write(tmp_path, "price.yaml", """\
        schema_version: 1
        accelerators:
          - id: l4
            tdp_w: {value: 75, source: "our measurement"}
        """)
    assert Catalog.load([ov]).warnings == []


# --------------------------------------------------------------------------- F8: typos

def test_a_mistyped_source_key_gets_did_you_mean(tmp_path):
    ov = write(tmp_path, "s.yaml", """\
        schema_version: 1
        sources:
          my-assumption: {title: my assumption, verification: planning assumption}
        accelerators:
          - id: l4
            tdp_w: {value: 75, source: my-asumption}
        """)
    (issue,) = load_errors(ov)
    assert issue.path == "accelerators[0].tdp_w.source" and "'my-asumption' is not in any `sources:`" in issue.message
    assert issue.hint.startswith("did you mean 'my-assumption'? Else add it to `sources:`")


def test_a_missing_overlay_file_gets_the_one_beside_it(tmp_path, capsys):
    write(tmp_path, "quant-overlay.yaml", "schema_version: 1\n")
    (issue,) = load_errors(str(tmp_path / "quant-overlay.yml"))
    assert issue.message == "catalog overlay file not found"
    assert issue.hint.startswith(f"did you mean {str(tmp_path / 'quant-overlay.yaml')!r}? Check the path")
    assert main(["catalog", "list", "--catalog", str(tmp_path / "quant-overlay.yml")]) == 2
    assert "quant-overlay.yaml'?" in capsys.readouterr().err


def test_validating_an_overlay_alone_warns_of_a_family_typo(tmp_path, capsys):
    ov = trn(tmp_path, family="nueron")
    assert main(["validate", ov]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"ok: {ov} (catalog overlay; merged catalog has") and "1 warning(s)" in out
    assert (f"{ov}:10: accelerators[0].family: family 'nueron' is in no quantization scheme's supported_families, "
            "so no model can run on 'trn2x'") in err
    assert "fix: did you mean 'neuron'? For a new family, add 'nueron'" in err


def test_a_new_family_is_told_how_to_give_it_quantization_schemes(tmp_path):
    ov = trn(tmp_path, family="acme")
    (w,) = Catalog.load([ov]).warnings
    assert w.path == "accelerators[0].family" and "did you mean" not in w.hint   # not 'ampere'
    assert "add 'acme' to the supported_families" in w.hint
    schemes = write(tmp_path, "q.yaml", """\
        schema_version: 1
        quantization:
          - id: bf16
            supported_families: [hopper, blackwell, ampere, ada, cdna3, cdna4, gaudi, tpu, neuron, acme]
        """)
    assert Catalog.load([ov, schemes]).warnings == []
    # the schemes overlay alone names a family no accelerator has
    (w,) = Catalog.load([schemes]).warnings
    assert w.path == "quantization[0].supported_families[9]" and "no accelerator of the catalog has family 'acme'" \
        in w.message and "load it before this one" in w.hint


def test_a_mistyped_family_in_a_schemes_supported_families_warns(tmp_path):
    ov = write(tmp_path, "q.yaml", """\
        schema_version: 1
        quantization:
          - id: int8
            supported_families: [ampere, ada, hopper, blackwell, turing, tpu, nueron]
        """)
    (w,) = Catalog.load([ov]).warnings
    assert (w.file, w.path) == (ov, "quantization[0].supported_families[6]")
    assert w.hint.startswith("did you mean 'neuron'?")


def test_a_peak_no_scheme_of_its_format_runs_on_the_family_warns(tmp_path):
    ov = trn(tmp_path, extra_peak="fp8: {value: 1299, source: quote}")
    (w,) = Catalog.load([ov]).warnings
    assert (w.file, w.path) == (ov, "accelerators[0].peak_tflops.fp8")
    assert "no quantization scheme computing in fp8 lists family 'neuron' (the fp8 schemes: fp8, mxfp4-w4a8)" in w.message
    assert "add 'neuron' to the supported_families of fp8" in w.hint and "else leave the peak out" in w.hint
    # the shipped inferentia2 lists FP8 (cFP8) and INT8 peaks that no scheme runs on neuron: datasheet
    # figures, not an overlay's, so no warning (the shipped catalog has none: first test)
    inf2 = Catalog.load().accelerators["inferentia2"]
    assert {"fp8", "int8"} <= set(inf2.peak_tflops) and inf2.family == "neuron"


# --------------------------------------------------------------------------- F7: confidence

def test_a_figure_without_confidence_takes_its_sources_verification(tmp_path, capsys):
    """QA s21: figures citing a 'planning assumption' defaulted to high confidence."""
    ov = trn(tmp_path)
    cat = Catalog.load([ov])
    rows = {r["field"]: r for r in cat.figures("accelerators", "trn2x")}
    assert rows["memory_gb"]["confidence"] == "low"                       # mine: planning assumption
    assert rows["memory_gb"]["confidence_from"] == "planning assumption"
    assert rows["peak_tflops.bf16"]["confidence"] == "medium"             # quote: retrieved (secondary)
    assert rows["tdp_w"]["confidence"] == "low" and rows["tdp_w"]["confidence_from"] is None   # stated
    cat = Catalog.load([trn(tmp_path, "card.yaml", bf16_source="card")])
    row = next(r for r in cat.figures("accelerators", "trn2x") if r["field"] == "peak_tflops.bf16")
    assert (row["confidence"], row["confidence_from"]) == ("high", None)  # card: retrieved

    assert main(["catalog", "show", "trn2x", "--catalog", ov]) == 0
    out = capsys.readouterr().out
    line = next(li for li in out.splitlines() if li.startswith("memory_gb "))
    assert "low*" in line.split()
    assert "* = the file states no confidence: it is the one the source's verification allows" in out
    assert main(["catalog", "show", "trn2x", "--catalog", ov, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {f["field"]: f["confidence_from"] for f in doc["figures"]}["mem_bw_gbps"] == "planning assumption"


def test_a_high_confidence_on_a_planning_assumption_warns(tmp_path):
    ov = write(tmp_path, "c.yaml", SOURCES + """\
    accelerators:
      - id: l4
        tdp_w: {value: 75, source: mine, confidence: high}
    """)
    (w,) = Catalog.load([ov]).warnings
    assert (w.path, w.message) == ("accelerators[0].tdp_w.confidence",
                                   "confidence is 'high', but its source says 'planning assumption'")
    assert w.hint.startswith("write confidence: low")


def test_a_problem_naming_a_missing_overlay_gets_the_one_beside_it(tmp_path, capsys):
    write(tmp_path, "quant-overlay.yaml", "schema_version: 1\n")
    problem = tmp_path / "p.yaml"
    problem.write_text("schema_version: 1\nname: x\ncatalog: [quant-overlay.yml]\nworkloads:\n  - id: a\n"
                       "    demand: {requests_per_s: 1}\n    input_tokens: {mean: 100}\n"
                       "    output_tokens: {mean: 100}\n    slo: {ttft_ms: 1000, tpot_ms: 100}\n")
    assert main(["validate", str(problem)]) == 2
    err = capsys.readouterr().err
    assert "catalog[0]: catalog overlay file not found" in err
    assert f"did you mean {str(tmp_path / 'quant-overlay.yaml')!r}? Check the path; it is relative to the " \
           "problem file" in err


def test_solve_prints_the_overlays_warnings_and_validate_a_family_warning_once(tmp_path, capsys):
    """QA s21: `solve` printed none of the catalog's warnings (only validate and catalog did), and
    `validate` printed a family no scheme runs twice (the catalog's warning and the pre-solve check's)."""
    collide = trn(tmp_path, name="collide.yaml", id="l4", dev_name="T")
    acme = trn(tmp_path, name="acme.yaml", id="acme-x1", dev_name="ACME X1", vendor="acme", family="acme")
    problem = write(tmp_path, "p.yaml", f"""\
        schema_version: 1
        name: own
        catalog: [{collide}, {acme}]
        workloads:
          - id: chat
            demand: {{requests_per_s: 1}}
            input_tokens: {{mean: 500}}
            output_tokens: {{mean: 100}}
            slo: {{ttft_ms: 2000, tpot_ms: 100}}
        fleet:
          regions: [virginia]
          accelerators: [h100-sxm, acme-x1]
        """)
    main(["validate", problem])
    err = capsys.readouterr().err
    assert err.count("acme") and err.count("runs no quantization") == 1
    assert "is in no quantization scheme's supported_families" not in err
    assert "did you mean family" not in err            # 'acme' is no misspelt 'ampere'
    assert "'l4' is the id of the shipped catalog's accelerator" in err
    main(["solve", problem, "--time-limit", "20", "--json", str(tmp_path / "plan.json")])
    err = capsys.readouterr().err
    assert "1 catalog warning" in err and "'l4' is the id of the shipped catalog's accelerator" in err
    assert err.count("runs no quantization") == 1


# --------------------------------------------------------------------------- QA s25

@pytest.mark.parametrize("field, value, says", [
    ("bytes_per_weight", 4.25, "bytes_per_weight 4.25 is outside 0.5 to 0.8"),       # bits written as bytes
    ("bytes_per_weight", 0.25, "bytes_per_weight 0.25 is outside 0.5 to 0.8"),       # below 4 bits
    ("kv_bytes_per_element", 16, "kv_bytes_per_element 16 is outside 0.25 to 4")])
def test_a_schemes_bytes_must_fit_its_format(tmp_path, field, value, says):
    """QA s25: an int4 scheme at 4.25 bytes per weight validated, and was planned at 8.5x BF16's weight
    bytes.  An int4 weight is 0.5 bytes plus scales: 0.5156 (one 16-bit scale per 128) to 0.75 (a 16-bit
    scale and zero point per 16)."""
    ov = write(tmp_path, "q.yaml", SOURCES + f"""\
    quantization:
      - id: int4
        {field}: {{value: {value}, source: mine}}
    """)
    (issue,) = load_errors(ov)
    assert says in issue.message and issue.path == "quantization[0]"


def test_unit_slips_of_links_and_context_are_refused(tmp_path):
    """QA s25: NVLink's 900 GB/s written as 7,200 (Gb/s) and a 128K context written as 128 validated."""
    ov = write(tmp_path, "a.yaml", SOURCES + """\
    accelerators:
      - id: h100-sxm
        interconnect: {kind: nvlink, bandwidth_gbps: {value: 7200, source: mine}}
    models:
      - id: llama-3.1-8b
        max_context_tokens: 128
    """)
    msgs = sorted(i.message for i in load_errors(ov))
    assert len(msgs) == 2
    assert msgs[0].startswith("interconnect.bandwidth_gbps per mem_bw_gbps 2.") and "Gb/s is 8x" in msgs[0]
    assert msgs[1].startswith("max_context_tokens 128 is outside 512")


def test_a_typo_of_a_known_id_is_one_error_not_every_missing_field(tmp_path):
    """QA s25: 'h100-sxm5' (meant: h100-sxm) gave 13 'required field is missing' errors before the one
    that named the typo."""
    ov = write(tmp_path, "t.yaml", SOURCES + """\
    accelerators:
      - id: h100-sxm5
        purchase:
          usd_per_device: {value: 21000, source: mine}
    """)
    (issue,) = load_errors(ov)
    assert "'h100-sxm5' is no accelerators id of the catalog" in issue.message and "13 missing" in issue.message
    assert issue.hint.startswith("did you mean 'h100-sxm'?")


def test_reference_typos_are_reported_with_the_schema_errors(tmp_path):
    """QA s25: a region and a source typo surfaced only on a second run, after the field errors."""
    ov = write(tmp_path, "r.yaml", SOURCES + """\
    accelerators:
      - id: a100-80gb
        familly: ampere
        offers:
          - provider: aws
            instance: p4de.24xlarge
            region: virgina
            devices_per_instance: 8
            on_demand_usd_per_device_hour: {value: 3.0, source: cardd}
    """)
    msgs = {i.path: (i.message, i.hint) for i in load_errors(ov)}
    assert msgs["accelerators[0].familly"][0] == "unknown field"
    assert msgs["accelerators[0].offers[0].region"][0] == "unknown region 'virgina'"
    assert "did you mean 'virginia'" in msgs["accelerators[0].offers[0].region"][1]
    assert "did you mean 'card'" in msgs["accelerators[0].offers[0].on_demand_usd_per_device_hour.source"][1]


def test_a_model_outside_every_retention_band_is_warned_of(tmp_path):
    """QA s25: int4 bands replaced by one of 0-15 B; Llama-3.1-70B (70.55 B) was planned at the 8 B band's
    retention (86 x 0.96 = 82.56 instead of the shipped 70 B band's 86 x 0.994 = 85.48) without a word."""
    ov = write(tmp_path, "b.yaml", SOURCES + """\
    quantization:
      - id: int4
        retention:
          - {min_params_b: 0, max_params_b: 15, retention: {value: 0.96, source: mine}}
    """)
    said = [w.message for w in Catalog.load([ov]).warnings if "no retention band" in w.message]
    assert len(said) == 1 and "llama-3.1-70b (70.55 B)" in said[0] and "(bands 0-15 B)" in said[0]
    assert not any("no retention band" in w.message for w in Catalog.load([]).warnings)


def test_a_missing_overlay_file_qualifies_the_ids_it_may_define(tmp_path, capsys):
    """QA s25: with `catalog: [ov/mine.yml]` missing, the ids it defines were reported unknown, with
    'did you mean' a shipped id (gh200 -> gb200)."""
    prob = write(tmp_path, "p.yaml", """\
    schema_version: 1
    name: own-hw
    catalog: [mine.yml]
    workloads:
      - id: chat
        demand: {requests_per_s: 1}
        input_tokens: {mean: 500}
        output_tokens: {mean: 200}
        slo: {ttft_ms: 2000, tpot_ms: 100}
        models: [llama-3.1-8b]
    fleet:
      accelerators: [gh200]
    """)
    assert main(["validate", prob]) == 2
    err = capsys.readouterr().err
    assert "catalog overlay file not found" in err
    assert "unknown accelerator id 'gh200' (catalog overlay mine.yml, not found, may define it)" in err
    assert "fix: fix the path of mine.yml first; if it does not define this id: did you mean" in err
