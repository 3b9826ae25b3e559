"""Bad problem files: every class of error is reported with file, line and field,
all at once, with exit code 2 and no traceback."""

from __future__ import annotations

import glob
import textwrap
from pathlib import Path

import pytest

from solver.cli import main
from solver.errors import InputError
from solver.problem.load import load_problem, load_problem_text, set_path

ROOT = Path(__file__).resolve().parents[1]

GOOD = textwrap.dedent("""\
    schema_version: 1
    name: tiny
    workloads:
      - id: chat
        demand: {requests_per_s: 10}
        input_tokens: {mean: 1000}
        output_tokens: {mean: 200}
        slo: {ttft_ms: 1000, tpot_ms: 50, percentile: 99}
        quality: {min_score: 60}
        models: [llama-3.1-8b]
    fleet:
      regions: [virginia]
      accelerators: [h100-sxm, l4]
    scenarios:
      - name: fast
        set:
          workloads.chat.slo.ttft_ms: 500
    """)


def errors_of(text: str) -> list:
    with pytest.raises(InputError) as info:
        load_problem_text(text, file="p.yaml")
    return info.value.issues


def test_good_problem_loads():
    lp = load_problem_text(GOOD, file="p.yaml")
    assert lp.problem.workloads[0].slo.ttft_ms == 1000
    fast = load_problem_text(GOOD, file="p.yaml", scenario="fast")
    assert fast.problem.workloads[0].slo.ttft_ms == 500


def test_every_shipped_problem_validates(capsys):
    files = sorted(glob.glob(str(ROOT / "problems" / "*.yaml")))
    assert len(files) >= 5
    assert main(["validate", *files]) == 0
    out = capsys.readouterr().out
    assert out.count("ok:") == len(files)


def test_shipped_problems_open_with_the_question_they_answer():
    for f in sorted(glob.glob(str(ROOT / "problems" / "*.yaml"))):
        first = Path(f).read_text().splitlines()[0]
        assert first.startswith("# Question:"), f


def test_unknown_key_has_line_and_did_you_mean():
    bad = GOOD.replace("ttft_ms: 1000, tpot_ms", "ttft_s: 1000, tpot_ms")
    issues = errors_of(bad)
    unknown = [i for i in issues if "unknown field" in i.message]
    assert unknown and unknown[0].path == "workloads[0].slo.ttft_s"
    assert unknown[0].line == 8
    assert "ttft_ms" in unknown[0].hint
    # the now-missing ttft_ms is reported in the same run
    assert any(i.path == "workloads[0].slo.ttft_ms" and "missing" in i.message for i in issues)


def test_wrong_type_or_unit():
    issues = errors_of(GOOD.replace("requests_per_s: 10", "requests_per_s: 10 rps"))
    assert issues[0].path == "workloads[0].demand.requests_per_s"
    assert issues[0].line == 5
    assert "10 rps" in issues[0].message


def test_negative_rate_and_zero_tokens():
    bad = GOOD.replace("requests_per_s: 10", "requests_per_s: -3").replace("mean: 200", "mean: 0")
    paths = {i.path for i in errors_of(bad)}
    assert {"workloads[0].demand.requests_per_s", "workloads[0].output_tokens.mean"} <= paths


def test_a_profile_that_never_reaches_the_peak_is_bad_input():
    # [0.5, 0.8] under 10 req/s: the single-period model sized for 10 req/s and charged energy at
    # 0.65 / 0.8 of it, the multi-period one sized for 8 req/s (QA: 17 replicas against 14)
    bad = GOOD.replace("requests_per_s: 10}", "requests_per_s: 10, profile: [0.5, 0.8]}")
    (issue,) = errors_of(bad)
    assert issue.path == "workloads[0].demand.profile"
    assert "largest value is 0.8" in issue.message and "divide every value by 0.8" in issue.message
    load_problem_text(GOOD.replace("requests_per_s: 10}", "requests_per_s: 10, profile: [0.5, 0.9995]}"),
                      file="p.yaml")      # hand-rounded values within 1e-3 of 1 are a peak


def test_a_token_count_below_one_is_bad_input_not_a_crash():
    # 1e-300 output tokens passed "> 0" and then divided by zero in the performance model
    bad = GOOD.replace("mean: 200", "mean: 1e-300").replace("mean: 1000", "mean: 0.5")
    issues = {i.path: i for i in errors_of(bad)}
    assert {"workloads[0].output_tokens.mean", "workloads[0].input_tokens.mean"} <= set(issues)
    assert "at least 1" in issues["workloads[0].output_tokens.mean"].hint
    load_problem_text(GOOD.replace("mean: 200", "mean: 1"), file="p.yaml")   # one token is a request


def test_extreme_numbers_the_model_cannot_carry_are_bad_input():
    # each crashed `fleetopt solve` (overflow in the performance model, NormalDist of p = 0, inf
    # coefficients) before the schema bounded it; found by a sweep of extreme values
    bad = (GOOD.replace("mean: 200", "mean: 1.0e+300").replace("percentile: 99", "percentile: 5.0e-324")
           + "objective: {horizon_months: 1.7976931348623157e+308}\n")
    assert {"workloads[0].output_tokens.mean", "workloads[0].slo.percentile",
            "objective.horizon_months"} <= {i.path for i in errors_of(bad)}


def test_extreme_multi_period_numbers_are_bad_input():
    # found by the same sweep on eight-quarter-growth: a token cv of 1e300 overflowed the length
    # moments, utilisation 5e-324 divided by zero, periods of 1e-300 months made lead times
    # overflow an int, growth multipliers of 1.8e308 overflowed before they were rejected
    text = (ROOT / "problems" / "eight-quarter-growth.yaml").read_text()
    bad = (text.replace("cv: 0.8}", "cv: 1.0e+300}").replace("max_utilization: 0.8", "max_utilization: 5.0e-324")
           .replace("months: 3\n", "months: 1.0e-300\n").replace("growth: [0, 0, 0, 0, 1, 2, 2.2, 2.4]",
                                                                  "growth: [0, 0, 0, 0, 1, 2, 2.2, 1.0e+300]"))
    paths = {i.path for i in errors_of(bad)}
    assert {"workloads[0].input_tokens.cv", "fleet.max_utilization", "objective.periods.months",
            "workloads[1].demand"} <= paths, paths


def test_prices_beyond_a_billion_usd_per_unit_are_bad_input():
    # a carbon price of 1.8e308 USD/t passed ">= 0" and overflowed the energy coefficients
    # (the sweep on enterprise-multi-region); budgets and caps may stay huge ("no limit")
    fleet = "  accelerators: [h100-sxm, l4]\n"
    assert fleet in GOOD
    bad = GOOD.replace(fleet, fleet + "  budget: {max_usd_per_month: 1.0e+300}\n"
                       "  offers:\n    - {accelerator: l4, region: virginia, acquisition: on_demand,"
                       " usd_per_device_hour: 1.0e+300, devices_per_instance: 1, source: quote}\n")
    bad += "objective: {carbon_usd_per_tonne: 1.7976931348623157e+308}\n"
    paths = {i.path for i in errors_of(bad)}
    assert paths == {"objective.carbon_usd_per_tonne", "fleet.offers[0].usd_per_device_hour"}, paths


def test_a_model_coefficient_that_overflows_is_bad_input_naming_the_rows():
    import numpy as np

    from solver.mip.model import ModelBuilder

    b = ModelBuilder()
    x = b.add_vars("x", ["x"], 0.0, 1.0, integer=False)
    with pytest.raises(InputError) as info:
        b.add_rows("caps.budget", [0], x, [np.inf], "<", [1.0], ["usd"])
    assert "caps.budget overflows" in info.value.issues[0].message
    with pytest.raises(InputError):
        b.add_objective("energy", x, [np.nan])


def test_negative_or_missing_custom_price():
    fleet = "fleet:\n  regions: [virginia]\n  accelerators: [h100-sxm, l4]\n"
    text = GOOD.replace(fleet, textwrap.dedent("""\
        fleet:
          regions: [virginia]
          offers:
            - {accelerator: h100-sxm, region: virginia, usd_per_device_hour: -2}
            - {accelerator: l4, region: virginia}
        """))
    issues = errors_of(text)
    paths = {i.path: i for i in issues}
    assert "fleet.offers[0].usd_per_device_hour" in paths
    assert paths["fleet.offers[0].usd_per_device_hour"].line == 14
    assert "fleet.offers[1].usd_per_device_hour" in paths
    assert "missing" in paths["fleet.offers[1].usd_per_device_hour"].message


def test_unknown_ids_get_did_you_mean():
    bad = GOOD.replace("models: [llama-3.1-8b]", "models: [llama3.1-8b]").replace(
        "[h100-sxm, l4]", "[h100, l4]")
    issues = errors_of(bad)
    by_path = {i.path: i for i in issues}
    assert "workloads[0].models[0]" in by_path
    assert "llama-3.1-8b" in by_path["workloads[0].models[0]"].hint
    assert "fleet.accelerators[0]" in by_path
    assert "h100-" in by_path["fleet.accelerators[0]"].hint
    assert by_path["fleet.accelerators[0]"].line == 13


def test_duplicate_workload_id_and_duplicate_key():
    second = ("  - id: chat\n"
              "    demand: {requests_per_s: 1}\n"
              "    input_tokens: {mean: 10}\n"
              "    output_tokens: {mean: 10}\n"
              "    slo: {ttft_ms: 1000, tpot_ms: 50}\n")
    text = GOOD.replace("fleet:", second + "fleet:", 1)
    issues = errors_of(text)
    dup = [i for i in issues if "duplicate workload id 'chat'" in i.message]
    assert dup and dup[0].path == "workloads[1].id" and dup[0].line == 11
    issues = errors_of(GOOD.replace("name: tiny\n", "name: tiny\nname: other\n"))
    assert "duplicate key 'name'" in issues[0].message and issues[0].line == 3


def test_impossible_percentile():
    for p in ("100", "0", "150", "-5"):
        issues = errors_of(GOOD.replace("percentile: 99", f"percentile: {p}"))
        assert issues[0].path == "workloads[0].slo.percentile"
        assert "at least 1 and below 100" in issues[0].message
    # a fraction is a percentile written the wrong way: p0.99 is nobody's SLO
    issues = errors_of(GOOD.replace("percentile: 99", "percentile: 0.99"))
    assert "in percent" in issues[0].message and issues[0].hint == "for p99 write 99"


def test_empty_workload_list():
    text = "schema_version: 1\nname: x\nworkloads: []\n"
    issues = errors_of(text)
    assert issues[0].path == "workloads" and issues[0].line == 3


def test_malformed_yaml_reports_line():
    issues = errors_of(GOOD.replace("slo: {ttft_ms: 1000,", "slo: {ttft_ms: 1000,,"))
    assert "not valid YAML" in issues[0].message
    assert issues[0].line == 8


def test_bad_scenario_path_and_unknown_scenario():
    bad = GOOD.replace("workloads.chat.slo.ttft_ms", "workloads.chta.slo.ttft_ms")
    issues = errors_of(bad)
    assert any("did you mean 'chat'" in i.message for i in issues)
    with pytest.raises(InputError) as info:
        load_problem_text(GOOD, file="p.yaml", scenario="fsat")
    assert "fast" in info.value.issues[0].hint


def test_all_errors_reported_at_once(tmp_path, capsys):
    bad = (GOOD.replace("requests_per_s: 10", "requests_per_s: -1")
           .replace("percentile: 99", "percentile: 100")
           .replace("[h100-sxm, l4]", "[h100-sxm, l5]"))
    f = tmp_path / "bad.yaml"
    f.write_text(bad)
    code = main(["validate", str(f)])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    assert "3 input errors" in err
    for needle in ("bad.yaml:5", "bad.yaml:8", "bad.yaml:13", "did you mean 'l4'"):
        assert needle in err


def test_an_overlay_given_twice_reports_its_errors_once(tmp_path, capsys):
    # QA: `validate problem.yaml overlay.yaml`, the problem naming the overlay: each error twice
    (tmp_path / "ov.yaml").write_text("schema_version: 1\naccelerators:\n- id: l4\n  memory_gb: 24\n")
    (tmp_path / "p.yaml").write_text(GOOD.replace("name: tiny\n", "name: tiny\ncatalog: [ov.yaml]\n"))
    assert main(["validate", str(tmp_path / "p.yaml"), str(tmp_path / "ov.yaml")]) == 2
    err = capsys.readouterr().err
    assert "1 input error:" in err and err.count("memory_gb") == 1


def test_missing_file_and_not_yaml(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 2
    (tmp_path / "bin.yaml").write_bytes(b"\x00\x01\x02")
    assert main(["validate", str(tmp_path / "bin.yaml")]) == 2
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    assert main(["validate", str(tmp_path / "list.yaml")]) == 2
    err = capsys.readouterr().err
    assert "file not found" in err and "binary" in err and "mapping" in err
    assert "Traceback" not in err


def test_set_path_by_id_and_index():
    doc = {"workloads": [{"id": "a", "slo": {"ttft_ms": 1}}], "fleet": {}}
    set_path(doc, "workloads.a.slo.ttft_ms", 5)
    set_path(doc, "workloads.0.slo.tpot_ms", 7)
    set_path(doc, "fleet.max_utilization", 0.5)
    assert doc["workloads"][0]["slo"] == {"ttft_ms": 5, "tpot_ms": 7}
    assert doc["fleet"]["max_utilization"] == 0.5
    with pytest.raises(KeyError):
        set_path(doc, "workloads.b.slo", 1)


def test_load_problem_from_file(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text(GOOD)
    lp = load_problem(f)
    assert lp.file == str(f) and lp.problem.name == "tiny"


def test_cross_field_errors_each_at_their_own_line():
    """The periods check finds two problems in one pass: each is its own issue at its own line."""
    text = GOOD.replace("  - id: chat\n    demand: {requests_per_s: 10}\n",
                        "  - id: chat\n    demand:\n      requests_per_s: 10\n"
                        "      growth: [1, 2, 3]\n      start_period: 7\n")
    text = text.replace("scenarios:", "objective:\n  periods: {count: 2}\nscenarios:")
    assert "growth" in text and "periods" in text
    issues = errors_of(text)
    lines = text.splitlines()
    got = {(i.path, i.line) for i in issues}
    assert ("workloads[0].demand.growth", lines.index("      growth: [1, 2, 3]") + 1) in got
    assert ("workloads[0].demand.start_period", lines.index("      start_period: 7") + 1) in got
    assert len(issues) == 2
    assert all(";" not in i.message for i in issues)


def test_a_boolean_is_not_a_number():
    """YAML reads `yes`/`on`/`true` as booleans; pydantic would take them as 1 (a 1 ms TPOT target)."""
    issues = errors_of(GOOD.replace("tpot_ms: 50", "tpot_ms: yes").replace("fleet:\n", "fleet:\n  max_utilization: true\n"))
    assert sorted(i.path for i in issues) == ["fleet.max_utilization", "workloads[0].slo.tpot_ms"]
    assert all("true/false" in i.message for i in issues)
    # where a boolean belongs it is still accepted, and anything else there says what to write
    load_problem_text(GOOD.replace("  regions: [virginia]\n", "  regions: [virginia]\n  catalog_offers: true\n"))
    (issue,) = errors_of(GOOD.replace("  regions: [virginia]\n", "  regions: [virginia]\n  catalog_offers: maybe\n"))
    assert issue.path == "fleet.catalog_offers" and issue.hint == "write true or false"


def test_yaml_merge_keys_override_without_a_duplicate_error():
    text = GOOD.replace("input_tokens: {mean: 1000}", "input_tokens: &tok {mean: 1000, p90: 2000}").replace(
        "output_tokens: {mean: 200}", "output_tokens:\n      <<: *tok\n      mean: 200")
    w = load_problem_text(text).problem.workloads[0]
    assert (w.output_tokens.mean, w.output_tokens.p90) == (200, 2000)
    # a key written twice in the mapping itself is still a duplicate
    issues = errors_of(text.replace("      mean: 200", "      mean: 200\n      mean: 300"))
    assert "duplicate key 'mean' (first at line 9)" in issues[0].message and issues[0].line == 10


def test_yaml_anchor_defined_twice_names_both_lines():
    issues = errors_of(GOOD.replace("{mean: 1000}", "&a {mean: 1000}").replace("{mean: 200}", "&a {mean: 200}"))
    assert "anchor is defined twice (first at line 6)" in issues[0].message and issues[0].line == 7


def test_scenario_errors_at_the_override_line_and_all_reported():
    text = GOOD.replace("      workloads.chat.slo.ttft_ms: 500",
                        "      workloads.chta.slo.ttft_ms: 500\n"
                        "      workloads.chat.demand.requests_per_s: ten\n"
                        "      workloads.chat.slo.tpot: 25")
    assert text != GOOD
    issues = errors_of(text)
    by_line = {i.line: i for i in issues}
    assert sorted(by_line) == [17, 18, 19]
    assert "did you mean 'chat'" in by_line[17].message
    assert by_line[18].path == "workloads[0].demand.requests_per_s" and "scenario 'fast'" in by_line[18].message
    assert by_line[19].path == "workloads[0].slo.tpot" and "tpot_ms" in by_line[19].hint


def test_wrong_shapes_say_how_to_write_them():
    issues = {i.path: i for i in errors_of(
        GOOD.replace("demand: {requests_per_s: 10}", "demand: 10").replace("models: [llama-3.1-8b]",
                                                                         "models: llama-3.1-8b")
        .replace("id: chat", "id: Chat Bot"))}
    assert "requests_per_s" in issues["workloads[0].demand"].hint
    assert issues["workloads[0].models"].hint == "write a list, e.g. [llama-3.1-8b]"
    assert "'chat-bot'" in issues["workloads[0].id"].hint
    assert not any("PosFigure" in i.message or "Demand" in i.message for i in issues.values())


def test_one_message_at_many_places_is_printed_once():
    from solver.errors import InputError, InputIssue
    same = [InputIssue("unknown accelerator id 'a40'", file="a.yaml", line=10 + i,
                       path=f"measurements[{i}].accelerator", hint="did you mean 'a10g'?") for i in range(40)]
    text = InputError(same + [InputIssue("other", file="a.yaml", line=3)]).format()
    assert text.splitlines() == [
        "41 input errors:",
        "a.yaml:10: measurements[0].accelerator: unknown accelerator id 'a40' (and 39 more places: "
        "measurements[1].accelerator, measurements[2].accelerator, measurements[3].accelerator, ...)",
        "    fix: did you mean 'a10g'?",
        "a.yaml:3: other"]
    assert len(InputError(same[:3]).format().splitlines()) == 1 + 3 * 2    # a few stay one by one


def test_an_override_key_that_names_several_entries_is_refused_with_their_indexes():
    """QA finding: owned A100s and L4s in one region; `fleet.existing.virginia.devices: 1` set the
    first entry (the A100s) and left the L4s, silently.  It now names both and the index path."""
    doc = {"fleet": {"existing": [{"accelerator": "a100-80gb", "region": "virginia", "devices": 8},
                                  {"accelerator": "l4", "region": "virginia", "devices": 4}]}}
    with pytest.raises(KeyError) as info:
        set_path(doc, "fleet.existing.virginia.devices", 1)
    msg = str(info.value)
    assert "2 entries" in msg and "accelerator=a100-80gb" in msg and "accelerator=l4" in msg
    assert "fleet.existing.0.devices" in msg
    assert doc["fleet"]["existing"][0]["devices"] == 8          # nothing was set
    assert set_path(doc, "fleet.existing.1.devices", 1) == ("fleet", "existing", 1, "devices")
    assert doc["fleet"]["existing"][1]["devices"] == 1
    # entries without an id, name or region: the message says how to address them
    with pytest.raises(KeyError) as info:
        set_path({"fleet": {"availability": [{"accelerator": "l4", "max_devices": 3}]}},
                 "fleet.availability.virginia.max_devices", 0)
    assert "None" not in str(info.value) and "fleet.availability.0" in str(info.value)


def test_messages_of_tensor_parallel_fraction_fields_and_cloud_region_names():
    """QA findings: the powers-of-two error had no fix; max_utilization: 80 said only 'at most 1';
    us-east-1 (AWS's name of virginia) got a list of every region id."""
    issues = errors_of(GOOD.replace("accelerators: [h100-sxm, l4]",
                                    "accelerators: [h100-sxm, l4]\n  tensor_parallel: [1, 3]\n"
                                    "  max_utilization: 80\n  max_spot_share: 50")
                       .replace("regions: [virginia]", "regions: [us-east-1, US-WEST-2]"))
    by_path = {i.path: i for i in issues}
    tp = by_path["fleet.tensor_parallel"]
    assert tp.hint.startswith("use 2 or 4 instead")
    mu = by_path["fleet.max_utilization"]
    assert "is a fraction, and 80 reads as 8000 %" in mu.message and mu.hint == "for 80 % write 0.8"
    assert by_path["fleet.max_spot_share"].hint == "for 50 % write 0.5"
    r0, r1 = by_path["fleet.regions[0]"], by_path["fleet.regions[1]"]
    assert r0.hint.startswith("did you mean 'virginia' (us-east-1 is its AWS and Lambda name)?")
    assert r1.hint.startswith("did you mean 'oregon' (US-WEST-2 is its AWS name)?")
    # a value within the bounds is still fine, and 1 < v is still refused above 100
    assert load_problem_text(GOOD.replace("l4]", "l4]\n  max_utilization: 1"), file="p.yaml")
    (big,) = [i for i in errors_of(GOOD.replace("l4]", "l4]\n  max_utilization: 150"))]
    assert big.hint == "use a value of at most 1.0"


def test_a_cv_that_contradicts_the_token_distribution_is_refused_as_perf_refuses_it():
    """QA review: `perf --output-distribution fixed --output-cv 0.5` exits 2, while a problem with
    `{distribution: fixed, cv: 0.9}` solved with the cv silently ignored (fixed means cv 0)."""
    bad = GOOD.replace("output_tokens: {mean: 200}", "output_tokens: {distribution: fixed, cv: 0.9, mean: 200}")
    assert bad != GOOD
    issues = errors_of(bad)
    assert len(issues) == 1 and "cv 0.9 contradicts distribution fixed" in issues[0].message
    load_problem_text(GOOD.replace("output_tokens: {mean: 200}", "output_tokens: {distribution: fixed, cv: 0, mean: 200}"))
    assert "exponential (cv 1)" in errors_of(GOOD.replace("output_tokens: {mean: 200}",
                                                          "output_tokens: {distribution: exponential, cv: 2, mean: 200}"))[0].message


def test_a_solver_name_the_backend_lacks_is_bad_input_at_load():
    """QA (API): `solver: {backend: pulp, solver: cbx}` loaded fine and the solve ended in status
    'error' (on the command line with a message about --solver, a flag never given)."""
    bad = GOOD + "solver: {backend: pulp, solver: cbx, fallback: [ortools:scip, gurobi]}\n"
    issue, other = errors_of(bad)       # both at once, each at its own field (QA s27)
    assert issue.path == "solver.solver"
    assert "solver 'cbx' is not one of pulp's (cbc, highs)" in issue.message
    assert issue.hint.startswith("did you mean 'cbc'?")
    assert other.path == "solver.fallback"
    assert "'gurobi' names no solver (pulp has no solver 'gurobi')" in other.message
    assert "did you mean" not in other.message + (other.hint or "")
    (fb,) = errors_of(GOOD + "solver: {backend: pulp, solver: cbc, fallback: [nosuch:cbc, ortools:scp]}\n")
    assert fb.path == "solver.fallback"
    assert "'nosuch:cbc' names no solver ('nosuch' is not a backend)" in fb.message
    assert "'ortools:scp' names no solver (ortools has no solver 'scp': did you mean 'scip'?)" in fb.message
    load_problem_text(GOOD + "solver: {backend: ortools, solver: SCIP, fallback: [highs, pulp:cbc]}\n")


def test_a_measurement_for_a_workload_takes_no_token_lengths():
    # QA: the lengths were accepted and did nothing (the figure applied to the workload whatever them)
    bad = GOOD + ("measurements:\n  - {accelerator: l4, model: llama-3.1-8b, workload: chat, "
                  "input_tokens: 100, max_requests_per_s: 1}\n")
    (issue,) = errors_of(bad)
    assert issue.path == "measurements[0]" and "not both" in issue.message


def test_a_quality_target_written_as_a_fraction_is_refused():
    """QA: 'min_score: 0.68' (68 meant) passed validation, and the solve returned a llama-3.2-1b fleet
    at quality 49 (every catalog score is above 1, so the target bound nothing)."""
    (issue,) = errors_of(GOOD.replace("min_score: 60", "min_score: 0.68"))
    assert issue.path.endswith("quality.min_score")
    assert "reads as 0.68 of 100" in issue.message and issue.hint == "for 68 % write 68"
    assert errors_of(GOOD.replace("min_score: 60", "min_score: 1"))
    for fine in ("min_score: 0", "min_score: 1.5", "min_score: 60"):
        assert load_problem_text(GOOD.replace("min_score: 60", fine), file="p.yaml")


def test_a_whole_number_of_hundreds_of_digits_is_an_input_error_shown_by_its_length():
    """QA (s20): YAML reads a 401-digit number as a Python int; as an availability cap it passed the
    schema and the solve died of OverflowError (exit 1); as a rate the error printed all 401 digits."""
    from solver.errors import InputError
    from solver.problem.load import load_problem_text
    big = 10 ** 400
    text = PROBLEM_WITH_AVAILABILITY.replace("MAXDEV", str(big))
    with pytest.raises(InputError) as e:
        load_problem_text(text)
    msg = str(e.value)
    assert "fleet.availability[0].max_devices" in msg and "a whole number of 401 digits" in msg
    assert str(big) not in msg
    load_problem_text(PROBLEM_WITH_AVAILABILITY.replace("MAXDEV", "1000000000"))    # the largest cap


PROBLEM_WITH_AVAILABILITY = """
schema_version: 1
name: big-cap
workloads:
  - id: chat
    demand: {requests_per_s: 10}
    input_tokens: {mean: 500, distribution: fixed}
    output_tokens: {mean: 200, distribution: fixed}
    slo: {ttft_ms: 1000, tpot_ms: 50}
fleet:
  regions: [virginia]
  availability:
    - {accelerator: h100-sxm, max_devices: MAXDEV}
objective: {horizon_months: 12}
"""


def test_a_p90_above_the_max_is_refused():
    """QA (s20): {mean: 1000, p90: 5000, max: 2000} validated ok; the p90 sizes the KV memory of the
    SLO percentile's request, the max bounds it: one contradicts the other."""
    from solver.errors import InputError
    from solver.problem.load import load_problem_text
    text = PROBLEM_WITH_AVAILABILITY.replace("MAXDEV", "10").replace(
        "input_tokens: {mean: 500, distribution: fixed}", "input_tokens: {mean: 1000, p90: P90, max: 2000}")
    with pytest.raises(InputError) as e:
        load_problem_text(text.replace("P90", "5000"))
    assert "workloads[0].input_tokens" in str(e.value) and "p90 (5000.0) is above max (2000.0)" in str(e.value)
    load_problem_text(text.replace("P90", "1800"))


def test_set_path_into_a_list_the_problem_does_not_have_says_to_set_the_whole_list():
    """QA s22: a scenario setting 'fleet.budget.max_capex_usd_by_period.1' on a problem without that list
    made a mapping {'1': 0}, refused with the fix 'write a list, e.g. [{'1': 0}]'."""
    doc = {"fleet": {}}
    with pytest.raises(KeyError, match=r"fleet\.budget\.max_capex_usd_by_period is not in the problem, so its "
                                       r"entry 1 cannot be set: set the whole list instead"):
        set_path(doc, "fleet.budget.max_capex_usd_by_period.1", 0)
    # a missing section on the way to a field is still made
    assert set_path(doc, "fleet.budget.max_capex_usd", 5) == ("fleet", "budget", "max_capex_usd")


def test_a_horizon_under_an_hour_is_bad_input():
    """QA s27: horizon_months 1e-200 solved to plan figures of 1e-297 USD that the plan's own verify
    rejected; every price is per hour, so an hour is the shortest horizon."""
    (issue,) = errors_of(GOOD + "objective: {horizon_months: 1.0e-200}\n")
    assert issue.path == "objective.horizon_months" and "under one hour" in issue.message
    assert "0.00137" in issue.hint
    (issue,) = errors_of(GOOD + "objective: {horizon_hours: 0.5}\n")
    assert issue.path == "objective.horizon_hours" and "0.5 hours" in issue.message
    load_problem_text(GOOD + "objective: {horizon_hours: 1}\n")
    load_problem_text(GOOD + "objective: {horizon_months: 0.00137}\n")
