"""Importers from Mélange and AIBrix: structure of the generated problem, bad
input, and (end to end) the optimal plan for Mélange's shipped example."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from solver.catalog import default_catalog
from solver.cli import main
from solver.errors import InputError
from solver.importers import import_aibrix, import_melange
from solver.problem.load import load_problem

PEERS = Path(__file__).parent / "data" / "peers"
MELANGE = PEERS / "melange_example.json"
AIBRIX = PEERS / "aibrix_profile_a40.json"


def test_melange_example_structure():
    res = import_melange(MELANGE, catalog=default_catalog())
    doc = res.problem
    # 30 req/s x [[0.2, 0.1], [0.5, 0.2]]
    rates = {w["id"]: w["demand"]["requests_per_s"] for w in doc["workloads"]}
    assert rates == pytest.approx({"bucket-in0-out0": 6.0, "bucket-in0-out1": 3.0,
                                   "bucket-in1-out0": 15.0, "bucket-in1-out1": 6.0})
    prices = {o["accelerator"]: o["usd_per_device_hour"] for o in doc["fleet"]["offers"]}
    assert prices == {"a10g": 1.01, "a100-80gb": 3.67}
    caps = {(m["accelerator"], m["workload"]): m["max_requests_per_s"] for m in doc["measurements"]}
    assert caps[("a10g", "bucket-in1-out0")] == 5 and caps[("a100-80gb", "bucket-in0-out1")] == 20
    assert len(caps) == 8
    assert doc["objective"]["horizon_hours"] == 1 and doc["fleet"]["max_utilization"] == 1.0


def test_aibrix_rows_are_output_lengths():
    res = import_aibrix([AIBRIX], catalog=default_catalog(), total_rate=10,
                        mapping={"simulator-llama2-7b-a40": "l40s"})
    doc = res.problem
    data = json.loads(AIBRIX.read_text())
    out_ticks, in_ticks = data["indexes"]
    assert len(doc["workloads"]) == len(out_ticks) * len(in_ticks)
    w = next(w for w in doc["workloads"] if w["id"] == f"cell-out{out_ticks[0]}-in{in_ticks[-1]}")
    assert w["input_tokens"]["mean"] == in_ticks[-1] and w["output_tokens"]["mean"] == out_ticks[0]
    m = next(m for m in doc["measurements"] if m["workload"] == w["id"])
    assert m["max_requests_per_s"] == data["tputs"][0][-1]
    assert sum(w["demand"]["requests_per_s"] for w in doc["workloads"]) == pytest.approx(10)


def test_unknown_gpu_asks_for_a_mapping():
    with pytest.raises(InputError) as info:
        import_aibrix([AIBRIX], catalog=default_catalog(), total_rate=10)
    assert "--map" in info.value.issues[0].hint


def test_bad_melange_files(tmp_path):
    bad = {"gpu_info": {"A10G": {"cost": -1, "tputs": [[1, "x"]]}},
           "workload_distribution": [[0.5, 0.6]], "total_request_rate": 0}
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(bad))
    with pytest.raises(InputError) as info:
        import_melange(f, catalog=default_catalog())
    msgs = " | ".join(i.message for i in info.value.issues)
    assert "total_request_rate" in msgs
    f.write_text("{not json")
    with pytest.raises(InputError) as info:
        import_melange(f, catalog=default_catalog())
    assert "not valid JSON" in info.value.issues[0].message and info.value.issues[0].line == 1


def test_import_cli_writes_valid_problem_and_protects_files(tmp_path, capsys):
    out = tmp_path / "melange.yaml"
    assert main(["import", "melange", str(MELANGE), "--output", str(out)]) == 0
    assert out.read_text().startswith("# Question:")
    lp = load_problem(out)
    assert len(lp.problem.workloads) == 4
    before = out.read_text()
    assert main(["import", "melange", str(MELANGE), "--output", str(out)]) == 2  # exists
    assert out.read_text() == before
    assert main(["import", "melange", str(MELANGE), "--output", str(MELANGE), "--force"]) == 2
    assert json.loads(MELANGE.read_text())["total_request_rate"] == 30.0
    assert "Traceback" not in capsys.readouterr().err


def test_melange_example_plan_is_optimal(tmp_path, capsys):
    """Mélange's README answer is 3 x A10G + 1 x A100-80GB = $6.70/h with whole
    buckets per GPU type.  With continuous splitting the optimum is lower; by hand:
    A100 load per unit of capacity: 6/20 + 3/20 + 15/40 + 6/20 = 1.125 > 1, so one
    A100 cannot carry everything.  Moving load to an A10G costs least on bucket
    (in1,out0), where the A10G/A100 capacity ratio is highest (5/40 = 0.125):
    0.125 A100-load = 5 req/s of that bucket = exactly one A10G at 5 req/s.
    Cost: 3.67 + 1.01 = $4.68/h.  Any cheaper mix has less than 1 A100 + ... :
    0 A100 needs 6/2 + 3/1 + 15/5 + 6/2 = 12 A10G ($12.12); 2 A100 cost $7.34."""
    problem = tmp_path / "melange.yaml"
    assert main(["import", "melange", str(MELANGE), "--output", str(problem)]) == 0
    plan = tmp_path / "plan.json"
    code = main(["solve", str(problem), "--json", str(plan)])
    assert code == 0, capsys.readouterr().err
    data = json.loads(plan.read_text())
    assert data["status"] == "optimal"
    assert data["objective"]["total"] == pytest.approx(4.68, abs=1e-6)
    devices = {}
    for d in data["deployments"]:
        devices[d["accelerator"]] = devices.get(d["accelerator"], 0) + d["accelerators"]
    assert devices == {"a100-80gb": 1, "a10g": 1}
    # Mélange gives capacities, not latencies: the plan says they are unknown instead of inventing them
    assert all(r["ttft_ms"] is None and r["tpot_ms"] is None for r in data["routing"])
    assert all(k["ttft_ms"] is None for k in data["kpis"])


def test_import_with_catalog_overlay_writes_it_into_the_problem(tmp_path, monkeypatch):
    """A problem imported with --catalog names that overlay itself: it validates and solves alone."""
    overlay = tmp_path / "mine" / "power.yaml"
    overlay.parent.mkdir()
    overlay.write_text("schema_version: 1\nregions:\n  - id: virginia\n"
                       "    electricity_usd_per_kwh: {value: 0.5, source: my utility bill}\n")
    out = tmp_path / "out" / "aibrix.yaml"
    out.parent.mkdir()
    monkeypatch.chdir(tmp_path)
    assert main(["import", "aibrix", str(AIBRIX), "--rate", "10", "--map", "simulator-llama2-7b-a40=l40s",
                 "--catalog", "mine/power.yaml", "--output", str(out)]) == 0
    doc = yaml.safe_load(out.read_text())
    assert doc["catalog"] == ["../mine/power.yaml"]
    monkeypatch.chdir(out.parent.parent.parent)  # anywhere else: the path is relative to the problem
    loaded = load_problem(out)
    assert loaded.catalog.regions["virginia"].electricity_usd_per_kwh.value == 0.5


def test_a_guessed_gpu_name_is_noted(tmp_path):
    """'H100' has several catalog variants: the import says which one it read it as."""
    cfg = json.loads(MELANGE.read_text())
    cfg["gpu_info"] = {"H100": cfg["gpu_info"]["A100-80GB"], "A10G": cfg["gpu_info"]["A10G"]}
    f = tmp_path / "m.json"
    f.write_text(json.dumps(cfg))
    res = import_melange(f, catalog=default_catalog())
    guessed = [n for n in res.notes if n.startswith("GPU names read as")]
    assert len(guessed) == 1 and "H100 -> h100-sxm" in guessed[0] and "A10G" not in guessed[0]


def _import(argv, capsys):
    """Exit code and stderr of ``fleetopt import ...``."""
    code = main(["import", *argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err
    return code, err


def test_a_json_key_given_twice_is_bad_input(tmp_path, capsys):
    """JSON keeps the last of two equal keys: a GPU listed twice would silently lose its first entry."""
    f = tmp_path / "dup.json"
    f.write_text('{"gpu_info": {"A10G": {"cost": 1.01, "tputs": [[2, 1], [5, 2]]},'
                 ' "A100-80GB": {"cost": 3.67, "tputs": [[20, 20], [40, 20]]},'
                 ' "A10G": {"cost": 0.5, "tputs": [[2, 1], [5, 2]]}},'
                 ' "workload_distribution": [[0.2, 0.1], [0.5, 0.2]], "total_request_rate": 30}')
    code, err = _import(["melange", str(f), "-o", str(tmp_path / "x.yaml")], capsys)
    assert code == 2 and f"{f}: gpu_info.A10G: key given twice" in err and "fix:" in err
    assert not (tmp_path / "x.yaml").exists()


def test_aibrix_profiles_for_different_slos_are_refused(tmp_path):
    """Profiles made for different SLOs are not one fleet's: both files and both SLOs are named."""
    base = json.loads(AIBRIX.read_text())
    files = []
    for gpu, ttft in (("a10g", 0.5), ("l40s", 5.0)):
        f = tmp_path / f"{gpu}.json"
        f.write_text(json.dumps({**base, "gpu": gpu, "slos": {"percentile": 99, "ttft": ttft, "tpot": 0.05}}))
        files.append(f)
    with pytest.raises(InputError) as info:
        import_aibrix(files, catalog=default_catalog(), total_rate=10)
    [issue] = info.value.issues
    assert issue.file == str(files[1]) and issue.path == "slos" and str(files[0]) in issue.message
    assert '"ttft": 5.0' in issue.message and '"ttft": 0.5' in issue.message and issue.hint


def test_a_directory_as_input_is_bad_input(tmp_path, capsys):
    out = str(tmp_path / "x.yaml")
    code, err = _import(["aibrix", str(PEERS), "--rate", "10", "-o", out], capsys)
    assert code == 2 and "is a directory" in err and f"{PEERS / '*.json'}" in err
    code, err = _import(["melange", str(PEERS), "-o", out], capsys)
    assert code == 2 and "is a directory" in err
    code, err = _import(["aibrix", str(AIBRIX), "--rate", "10", "--map", "simulator-llama2-7b-a40=l40s",
                         "--distribution", str(PEERS), "-o", out], capsys)
    assert code == 2 and "is a directory" in err and "distribution JSON file" in err


def test_traffic_no_gpu_type_can_serve_is_warned(tmp_path, capsys):
    """A bucket every profile measures at 0 makes the plan infeasible: the import says so (and still succeeds)."""
    cfg = json.loads(MELANGE.read_text())
    for info in cfg["gpu_info"].values():
        info["tputs"][0][0] = 0
    f = tmp_path / "zero.json"
    f.write_text(json.dumps(cfg))
    code, err = _import(["melange", str(f), "-o", str(tmp_path / "x.yaml")], capsys)
    assert code == 0
    [warning] = [line for line in err.splitlines() if line.startswith("warning:")]
    assert "bucket-in0-out0" in warning and "bucket-in0-out1" not in warning and "infeasible" in warning
    assert import_melange(MELANGE, catalog=default_catalog()).warnings == []


def test_map_to_an_unknown_id_names_the_id(tmp_path, capsys):
    code, err = _import(["melange", str(MELANGE), "--map", "A10G=a10", "-o", str(tmp_path / "x.yaml")], capsys)
    assert code == 2 and "'a10' is not a catalog accelerator" in err and "did you mean 'a10g'" in err
    assert "Name one with --map" not in err


def test_distribution_errors_name_its_file(tmp_path, capsys):
    ragged = tmp_path / "dist.json"
    ragged.write_text("[[0.5, 0.5], [0.0]]")
    code, err = _import(["aibrix", str(AIBRIX), "--rate", "10", "--map", "simulator-llama2-7b-a40=l40s",
                         "--distribution", str(ragged), "-o", str(tmp_path / "x.yaml")], capsys)
    assert code == 2 and err.splitlines()[1].startswith(f"{ragged}: distribution: ")


@pytest.mark.parametrize("flags, says", [
    (["--ttft-ms", "-5"], ["--ttft-ms: ", "(got -5)"]),
    (["--input-edges", "1,25,100,250,500"], ["--input-edges: ", "5 edges", "need 3"]),  # extra edges
    (["--output-edges", "0,1,2"], ["--output-edges: ", "midpoints 0.5, 1.5"]),  # a bucket under 1 token
])
def test_bad_flags_are_reported_against_the_flag(tmp_path, capsys, flags, says):
    """Not against the output file, which is not written."""
    out = str(tmp_path / "x.yaml")
    code, err = _import(["melange", str(MELANGE), *flags, "-o", out], capsys)
    assert code == 2 and all(s in err for s in says) and out not in err


def test_a_small_rate_is_kept_and_one_below_the_floor_names_the_total_to_raise(tmp_path):
    """Small bucket rates keep their digits (rounded to 12 decimals 1e-12 became 0, as if the user had
    written 0), and the generated file validates; buckets below the demand floor (1e-05 req/s) are
    refused at import with the total rate that would lift them, not later against the unwritten file."""
    from solver.problem.load import validate_document
    cfg = json.loads(MELANGE.read_text())
    cfg["total_request_rate"] = 0.004                         # buckets of 0.0008-0.0012 req/s
    small = tmp_path / "small.json"
    small.write_text(json.dumps(cfg))
    doc = import_melange(small, catalog=default_catalog()).problem
    rates = [w["demand"]["requests_per_s"] for w in doc["workloads"]]
    assert sum(rates) == pytest.approx(0.004) and min(rates) > 0
    validate_document(doc, None, "small.yaml")
    cfg["total_request_rate"] = 1e-12
    small.write_text(json.dumps(cfg))
    with pytest.raises(InputError) as e:
        import_melange(small, catalog=default_catalog())
    shares = [float(x) for row in json.loads(MELANGE.read_text())["workload_distribution"] for x in row if x]
    need = 1e-12 * 1e-5 / (1e-12 * min(shares) / sum(shares))
    assert "total_request_rate" in str(e.value) and f"{need:.3g}" in str(e.value)


# --- QA import review, findings 2-7 -------------------------------------------------------------

def _melange_variant(tmp_path, name="m.json", **changes):
    """Mélange's example with top-level keys changed (None: dropped); the file's path."""
    cfg = json.loads(MELANGE.read_text())
    for key, value in changes.items():
        if value is None:
            cfg.pop(key)
        else:
            cfg[key] = value
    f = tmp_path / name
    f.write_text(json.dumps(cfg))
    return f


def _comparable(doc):
    """What an import means: rates per bucket, prices, capacities (not where they came from)."""
    return ({w["id"]: w["demand"]["requests_per_s"] for w in doc["workloads"]},
            {o["accelerator"]: o["usd_per_device_hour"] for o in doc["fleet"]["offers"]},
            {(m["accelerator"], m["workload"]): m["max_requests_per_s"] for m in doc["measurements"]},
            doc["fleet"].get("availability"))


def test_melange_readme_forms_are_read(tmp_path):
    """Mélange's Python API names the total rate `overall_rate` and its README describes gpu_info as a
    list of {name, cost, tputs}: both read as the example's own form, and the list form keeps max_count."""
    cat = default_catalog()
    want = _comparable(import_melange(MELANGE, catalog=cat).problem)
    rate = json.loads(MELANGE.read_text())["total_request_rate"]
    overall = _melange_variant(tmp_path, "overall.json", total_request_rate=None, overall_rate=rate)
    assert _comparable(import_melange(overall, catalog=cat).problem) == want
    gpus = json.loads(MELANGE.read_text())["gpu_info"]
    listed = _melange_variant(tmp_path, "list.json", gpu_info=[{"name": n, **v} for n, v in gpus.items()])
    res = import_melange(listed, catalog=cat)
    assert _comparable(res.problem) == want
    assert any(o["source"].endswith("gpu_info[0].cost") for o in res.problem["fleet"]["offers"])
    capped = _melange_variant(tmp_path, "cap.json", gpu_info=[{"name": "A10G", **gpus["A10G"], "max_count": 3},
                                                              {"name": "A100-80GB", **gpus["A100-80GB"]}])
    assert import_melange(capped, catalog=cat).problem["fleet"]["availability"] == [
        {"accelerator": "a10g", "region": "virginia", "max_devices": 3}]
    # the same total under both names is one figure; two different ones are refused
    both = _melange_variant(tmp_path, "both.json", overall_rate=rate)
    assert _comparable(import_melange(both, catalog=cat).problem) == want
    clash = _melange_variant(tmp_path, "clash.json", overall_rate=rate + 1)
    with pytest.raises(InputError) as info:
        import_melange(clash, catalog=cat)
    [issue] = info.value.issues
    assert issue.path == "overall_rate" and "differ" in issue.message and issue.hint


def test_melange_list_form_refuses_a_nameless_or_repeated_gpu(tmp_path):
    gpus = json.loads(MELANGE.read_text())["gpu_info"]
    f = _melange_variant(tmp_path, gpu_info=[{"name": "A10G", **gpus["A10G"]}, {"cost": 1.0, "tputs": [[1, 1]]},
                                             {"name": "A10G", **gpus["A10G"]}])
    with pytest.raises(InputError) as info:
        import_melange(f, catalog=default_catalog())
    got = {i.path: i for i in info.value.issues}
    assert set(got) == {"gpu_info[1].name", "gpu_info[2].name"}
    assert "gpu_info[0]" in got["gpu_info[2].name"].message and all(i.hint for i in got.values())


def test_melange_readme_distribution_summing_to_125_is_refused_with_the_rescaled_rate(tmp_path):
    """The README's main.py example: fractions summing to 1.25, which Mélange uses as given (16 req/s x
    1.25 = 20 req/s).  Still refused (fractions are documented to sum to 1); the fix keeps its rates."""
    f = _melange_variant(tmp_path, workload_distribution=[[0.25, 0.5], [0.25, 0.25]], total_request_rate=16)
    with pytest.raises(InputError) as info:
        import_melange(f, catalog=default_catalog())
    [issue] = info.value.issues
    assert "sums to 1.25, not 1" in issue.message
    assert "divide each by 1.25" in issue.hint and "total_request_rate to 20" in issue.hint


@pytest.mark.parametrize("ticks, where, says", [
    ([4, 4.5, 16, 32, 64, 128, 256, 512], "indexes[0][1]", "whole token count"),
    ([4, 4, 16, 32, 64, 128, 256, 512], "indexes[0][1]", "not above the tick before it"),
    ([4, 8, 16, 32, 64, 128, 512, 256], "indexes[0][7]", "not above the tick before it"),
    ([4, 8, 16, 32, 64, 128, 256, 0], "indexes[0][7]", "from 1 to"),
])
def test_aibrix_ticks_are_distinct_increasing_whole_counts(tmp_path, capsys, ticks, where, says):
    """Workload ids are made of the ticks ('cell-out4-in128'): 4 and 4.5 (or 4 twice) gave one id twice,
    reported against the output file that was never written."""
    data = json.loads(AIBRIX.read_text())
    data["indexes"][0] = ticks
    f = tmp_path / "profile.json"
    f.write_text(json.dumps(data))
    out = tmp_path / "x.yaml"
    code, err = _import(["aibrix", str(f), "--rate", "10", "--map", "simulator-llama2-7b-a40=l40s",
                         "-o", str(out)], capsys)
    assert code == 2 and f"{f}: {where}: " in err and says in err and "fix: ticks are distinct" in err
    assert str(out) not in err and not out.exists()


def test_an_invalid_generated_problem_is_not_reported_against_the_unwritten_output(tmp_path, capsys, monkeypatch):
    """Whatever the generated problem's validation finds is said of the import, never as
    'OUT.yaml:103: ...' of a file that does not exist."""
    import solver.importers.melange as melange
    real = melange.add_bucket_workload
    monkeypatch.setattr(melange, "add_bucket_workload", lambda doc, wid, *a: real(doc, "same-id", *a))
    out = tmp_path / "x.yaml"
    code, err = _import(["melange", str(MELANGE), "-o", str(out)], capsys)
    assert code == 2 and "duplicate workload id 'same-id'" in err and "nothing was written" in err
    assert not any(line.startswith(str(out)) for line in err.splitlines()) and not out.exists()


def _aibrix_variant(tmp_path, **changes):
    data = json.loads(AIBRIX.read_text())
    data.update(changes)
    f = tmp_path / "profile.json"
    f.write_text(json.dumps(data))
    return f


def _nan_tputs():
    m = json.loads(MELANGE.read_text())["gpu_info"]
    return {**m, "A10G": {**m["A10G"], "tputs": [[float("nan"), 1], [5, 2]]}}


def _gpu(**a10g):
    m = json.loads(MELANGE.read_text())["gpu_info"]
    return {**m, "A10G": {k: v for k, v in {**m["A10G"], **a10g}.items() if v is not None}}


@pytest.mark.parametrize("make, says", [
    (lambda t: _melange_variant(t, gpu_info=_gpu(cost="1.01")), "write it as a number without quotes: 1.01"),
    (lambda t: _melange_variant(t, gpu_info=_gpu(cost="$3.67")), "write it as a number without quotes or $: 3.67"),
    (lambda t: _melange_variant(t, gpu_info=_gpu(cost=None)), "gpu_info.A10G.cost: missing cost"),
    (lambda t: _melange_variant(t, total_request_rate="30"), "write it as a number without quotes: 30"),
    (lambda t: _melange_variant(t, gpu_info=_gpu(tputs=[])), "one per input-length bucket"),
    (lambda t: _melange_variant(t, gpu_info=_gpu(tputs=None)), "gpu_info.A10G.tputs: missing tputs"),
    (lambda t: _melange_variant(t, gpu_info=_gpu(tputs=[[2, 1], [5]])), "gpu_info.A10G.tputs[1]: tputs row 1"),
    # two of three rows too long for the distribution's 2 columns: 'expected 2', not 'the other rows 2'
    (lambda t: _melange_variant(t, gpu_info=_gpu(tputs=[[2, 1, 3], [5, 2, 4], [1, 1]])),
     "tputs row 1 has 3 value(s), expected 2"),
    (lambda t: _melange_variant(t, gpu_info=_gpu(tputs=[[2, -1], [5, 2]])), "the requests/s one unit sustains"),
    (lambda t: _melange_variant(t, gpu_info=_nan_tputs()), "the requests/s one unit sustains"),
    (lambda t: _melange_variant(t, gpu_info=_gpu(tputs=[[2, 1], [5, 2], [1, 1]])), "(the shape of workload_dist"),
    (lambda t: _melange_variant(t, gpu_info=_gpu(max_count=1.5)), "or leave max_count out for no cap"),
    (lambda t: _melange_variant(t, gpu_info=_gpu(max_count=2.0)), "write it as 2"),
    (lambda t: _melange_variant(t, gpu_info={}), "or as a list [{\"name\""),
    (lambda t: _melange_variant(t, gpu_info={"A10G": 1.01}), "for example {\"cost\""),
    (lambda t: _melange_variant(t, total_request_rate=None), "the name Mélange's Python API uses"),
    (lambda t: _melange_variant(t, workload_distribution={"d": [[0.5, 0.5]]}), "the value of its 'd' key"),
    (lambda t: _aibrix_variant(t, cost="0.3"), "write it as a number without quotes: 0.3"),
    (lambda t: _aibrix_variant(t, tputs=[]), "one per output length, each a list of numbers, one per input"),
    (lambda t: _aibrix_variant(t, indexes=[[4, 8]]), "the ticks of tputs' rows (output lengths)"),
])
def test_every_importer_error_has_a_fix(tmp_path, capsys, make, says):
    f = make(tmp_path)
    argv = (["melange", str(f)] if "gpu_info" in f.read_text()
            else ["aibrix", str(f), "--rate", "10", "--map", "simulator-llama2-7b-a40=l40s"])
    code, err = _import([*argv, "-o", str(tmp_path / "x.yaml")], capsys)
    n = int(err.split(" input error")[0].split()[-1])
    assert code == 2 and says in err and err.count("\n    fix: ") == n, err


def test_an_aibrix_profile_wrapped_in_a_list_says_to_unwrap_it(tmp_path, capsys):
    data = json.loads(AIBRIX.read_text())
    for profiles, says in (([data], "remove the [ ] around it"), ([data, data], "in a file of its own")):
        f = tmp_path / "list.json"
        f.write_text(json.dumps(profiles))
        code, err = _import(["aibrix", str(f), "--rate", "10", "-o", str(tmp_path / "x.yaml")], capsys)
        assert code == 2 and "is a JSON object, not a list" in err and says in err


def test_a_distribution_object_or_transposed_says_how_to_fix_it(tmp_path, capsys):
    """An AIBrix distribution's rows are output lengths (the profile's 8 output ticks x 5 input ticks):
    a 5x8 one is most likely in Mélange's orientation."""
    argv = ["aibrix", str(AIBRIX), "--rate", "10", "--map", "simulator-llama2-7b-a40=l40s",
            "-o", str(tmp_path / "x.yaml"), "--distribution"]
    dist = tmp_path / "dist.json"
    dist.write_text(json.dumps([[0.025] * 8 for _ in range(5)]))
    code, err = _import([*argv, str(dist)], capsys)
    assert code == 2 and "distribution is 5x8, expected 8x5" in err
    assert "rows are output lengths and columns input lengths" in err and "transposed" in err
    dist.write_text(json.dumps({"distribution": [[0.025] * 5 for _ in range(8)]}))
    code, err = _import([*argv, str(dist)], capsys)
    assert code == 2 and "the value of its 'distribution' key" in err


def test_output_naming_a_folder_says_to_name_a_file(tmp_path, capsys):
    """--force would not help (it then fails on the folder): say what does."""
    folder = tmp_path / "dd"
    folder.mkdir()
    for force in ([], ["--force"]):
        code, err = _import(["melange", str(MELANGE), "-o", str(folder), *force], capsys)
        assert code == 2 and "is a directory" in err and "name a file" in err and "--force" not in err


@pytest.mark.parametrize("flags, says", [
    (["--region", "us-east-1"], ["--region: unknown region id 'us-east-1'", "did you mean 'virginia'",
                                 "us-east-1 is its AWS"]),
    (["--region", "mars"], ["--region: unknown region id 'mars'", "catalog list regions"]),
    (["--model", "llama2-7b"], ["--model: unknown model id", "did you mean 'llama-2-7b'"]),
])
def test_unknown_catalog_ids_are_reported_against_the_flag(tmp_path, capsys, flags, says):
    for tool in (["melange", str(MELANGE)],
                 ["aibrix", str(AIBRIX), "--rate", "10", "--map", "simulator-llama2-7b-a40=l40s"]):
        code, err = _import([*tool, *flags, "-o", str(tmp_path / "x.yaml")], capsys)
        assert code == 2 and all(s in err for s in says)
        assert not err.splitlines()[1].startswith(("regions:", "models:"))


@pytest.mark.parametrize("name, acc", [
    ("NVIDIA-A100-SXM4-80GB", "a100-80gb"), ("NVIDIA-A100-SXM4-40GB", "a100-40gb"),
    ("H100-80GB-HBM3", "h100-sxm"), ("llama2-7b-NVIDIA-H100-80GB-HBM3", "h100-sxm"),
    ("NVIDIA-H100-PCIe", "h100-pcie"), ("NVIDIA-H200-NVL", "h200-nvl"), ("Tesla-T4", "t4"),
    ("simulator-llama2-7b-l4", "l4"), ("H100-94GB-NVL", "h100-nvl"),
    ("A10", None), ("NVIDIA-A10", None), ("NVIDIA-A100-PCIe-40GB", None), ("simulator-llama2-7b-a40", None)])
def test_gpu_product_labels_are_read_word_by_word(tmp_path, name, acc):
    """QA (data audit): GPU names as Kubernetes and NVML write them ('NVIDIA-A100-SXM4-80GB', AIBrix
    deployment names ending in '-NVIDIA-H100-80GB-HBM3') needed --map; an 'A10' was read as the A10G, a
    different card (150 W against the A10G's figures) without a word.  Now product labels map to the
    variant they name, and a card the catalog does not hold (A10, A100 PCIe, A40) asks for --map."""
    cfg = json.loads(MELANGE.read_text())
    cfg["gpu_info"] = {name: cfg["gpu_info"]["A10G"]}
    f = tmp_path / "m.json"
    f.write_text(json.dumps(cfg))
    if acc is None:
        with pytest.raises(InputError) as info:
            import_melange(f, catalog=default_catalog())
        assert f"GPU {name!r} has no catalog accelerator" in str(info.value)
        assert "--map" in info.value.issues[0].hint
    else:
        res = import_melange(f, catalog=default_catalog())
        assert [o["accelerator"] for o in res.problem["fleet"]["offers"]] == [acc]
        assert any(f"{name} -> {acc}" in n for n in res.notes)


def test_keys_in_other_letter_case_are_named(tmp_path, capsys):
    """QA: 'Cost' and 'Tputs' gave "missing cost" without naming the key that was there."""
    cfg = json.loads(MELANGE.read_text())
    a10g = cfg["gpu_info"]["A10G"]
    cfg["gpu_info"]["A10G"] = {"Cost": a10g["cost"], "Tputs": a10g["tputs"]}
    f = tmp_path / "m.json"
    f.write_text(json.dumps(cfg))
    code, err = _import(["melange", str(f), "-o", str(tmp_path / "p.yaml")], capsys)
    assert code == 2
    for key in ("'Cost'", "'Tputs'"):
        assert f"key {key} is not read: keys are lower case" in err
    assert "rename 'Cost' to 'cost'" in err
    cfg = json.loads(MELANGE.read_text())
    cfg["Workload_Distribution"] = cfg.pop("workload_distribution")
    f.write_text(json.dumps(cfg))
    code, err = _import(["melange", str(f), "-o", str(tmp_path / "p.yaml")], capsys)
    assert code == 2 and "key 'Workload_Distribution' is not read" in err
    prof = json.loads(AIBRIX.read_text())
    prof["GPU"] = prof.pop("gpu")
    g = tmp_path / "a.json"
    g.write_text(json.dumps(prof))
    code, err = _import(["aibrix", str(g), "--rate", "10", "-o", str(tmp_path / "q.yaml")], capsys)
    assert code == 2 and "key 'GPU' is not read: keys are lower case ('gpu')" in err


def test_a_melange_unit_is_one_device_and_the_import_says_so():
    """QA: the importer reads a Mélange unit as one device (documented in the problem's description
    only); a multi-GPU unit would get one GPU's power and hosting.  The import now notes it."""
    res = import_melange(MELANGE, catalog=default_catalog())
    assert all(o["devices_per_instance"] == 1 for o in res.problem["fleet"]["offers"])
    assert any("each Mélange unit is read as one device" in n for n in res.notes)
    # QA s18: a user checking the README's $6.70/h against this tool's $4.68/h was not told why
    assert any("a bucket's traffic may split across GPU types here" in n for n in res.notes)


# --- QA import review s20 --------------------------------------------------------------------

BIG = "1" + "0" * 400   # a JSON whole number no float holds (1e400 reads as inf, this as an int)


def _raw_variant(tmp_path, source, old, new, name="big.json"):
    """``source``'s text with ``old`` replaced once by ``new`` (JSON that json.dumps cannot write)."""
    text = source.read_text()
    assert text.count(old) >= 1
    f = tmp_path / name
    f.write_text(text.replace(old, new, 1))
    return f


@pytest.mark.parametrize("source, old, path", [
    (MELANGE, "30.0", "total_request_rate"),
    (MELANGE, "[[2, 1]", "gpu_info.A10G.tputs[0][0]"),
    (MELANGE, "[[0.2, 0.1]", "workload_distribution[0][0]"),
    (MELANGE, '"cost": 1.01', "gpu_info.A10G.cost"),
    (MELANGE, '"cost": 1.01', "gpu_info.A10G.max_count"),
    (AIBRIX, '"cost": 0.3', "cost"),
    (AIBRIX, "[[53.46768813782049", "tputs[0][0]"),
])
def test_a_whole_number_too_big_for_a_float_names_file_and_field(tmp_path, capsys, source, old, path):
    """QA s20: a 401-digit whole number gave 'internal error: OverflowError' (exit 1); a max_count
    of 10^400 imported and broke the solve.  Now exit 2, against the peer file's field."""
    new = {"total_request_rate": BIG, "gpu_info.A10G.tputs[0][0]": f"[[{BIG}, 1]",
           "workload_distribution[0][0]": f"[[{BIG}, 0.1]", "gpu_info.A10G.cost": f'"cost": {BIG}',
           "gpu_info.A10G.max_count": f'"cost": 1.01, "max_count": {BIG}', "cost": f'"cost": {BIG}',
           "tputs[0][0]": f"[[{BIG}"}[path]
    f = _raw_variant(tmp_path, source, old, new)
    argv = (["melange", str(f)] if source == MELANGE
            else ["aibrix", str(f), "--rate", "10", "--map", "simulator-llama2-7b-a40=l40s"])
    out = tmp_path / "x.yaml"
    code, err = _import([*argv, "-o", str(out)], capsys)
    assert code == 2 and f"{f}: {path}: " in err and "a whole number of 401 digits" in err, err
    assert err.startswith("1 input error") and not out.exists()


def test_a_number_of_more_than_4300_digits_is_bad_input(tmp_path, capsys):
    """Python refuses to read such a whole number at all (a ValueError that is no JSONDecodeError)."""
    f = _raw_variant(tmp_path, MELANGE, "30.0", "1" + "0" * 5000)
    code, err = _import(["melange", str(f), "-o", str(tmp_path / "x.yaml")], capsys)
    assert code == 2 and f"{f}: holds a whole number of more than 4300 digits" in err


@pytest.mark.parametrize("where, key, meant", [
    ("gpu", "max_cnt", "max_count"), ("gpu", "count", "max_count"),
    ("top", "total_requests_rate", "total_request_rate"),
    ("aibrix", "slo", "slos"), ("aibrix", "tput", "tputs")])
def test_a_near_miss_of_a_read_key_is_an_error(tmp_path, capsys, where, key, meant):
    """QA s20: 'max_cnt': 0 on a GPU was dropped without a word (the plan had no cap)."""
    if where == "aibrix":
        data = json.loads(AIBRIX.read_text())
        data[key] = 1 if key == "slo" else data.pop("tputs")
        f = tmp_path / "a.json"
        f.write_text(json.dumps(data))
        argv, path = ["aibrix", str(f), "--rate", "10", "--map", "simulator-llama2-7b-a40=l40s"], key
    else:
        cfg = json.loads(MELANGE.read_text())
        (cfg["gpu_info"]["A100-80GB"] if where == "gpu" else cfg)[key] = 0
        f = tmp_path / "m.json"
        f.write_text(json.dumps(cfg))
        argv, path = ["melange", str(f)], ("gpu_info.A100-80GB." if where == "gpu" else "") + key
    code, err = _import([*argv, "-o", str(tmp_path / "x.yaml")], capsys)
    assert code == 2 and f"{f}: {path}: key '{key}' is not read: did you mean '{meant}'?" in err, err
    assert f"fix: rename '{key}' to '{meant}'" in err


def test_other_unread_keys_are_one_warning_in_the_output_and_the_problem(tmp_path, capsys):
    """QA s20: a top-level "slo_ms": 200 and an AIBrix "model" key were dropped silently.  Keys the peer
    format has but fleetopt does not use: AIBrix's per-cell latencies get a note, 'created' nothing."""
    cfg = json.loads(MELANGE.read_text())
    cfg["slo_ms"] = 200
    cfg["gpu_info"]["A10G"]["note"] = "spot"
    f = tmp_path / "m.json"
    f.write_text(json.dumps(cfg))
    out = tmp_path / "m.yaml"
    code, err = _import(["melange", str(f), "-o", str(out)], capsys)
    said = "keys not read, so the plan does not use them: m.json: slo_ms, gpu_info.A10G.note."
    assert code == 0 and f"warning: {said}" in err and err.count("keys not read") == 1
    assert f"# warning: {said}" in out.read_text()
    assert "slice_factor" not in err.split("warning:")[1]   # the format's own key: not listed
    data = json.loads(AIBRIX.read_text())
    assert "created" in data
    data.update(model="llama-3-70b", e2e=[[1.0] * 5] * 8, ttft=[[0.1] * 5] * 8)
    g = tmp_path / "a.json"
    g.write_text(json.dumps(data))
    code, err = _import(["aibrix", str(g), "--rate", "10", "--map", "simulator-llama2-7b-a40=l40s",
                         "-o", str(tmp_path / "a.yaml")], capsys)
    assert code == 0 and "keys not read, so the plan does not use them: a.json: model." in err
    assert "note: the profiles' per-cell latencies (e2e, ttft) are not used" in err and "created" not in err


def test_a_slice_factor_melange_would_refuse_is_warned_of(tmp_path, capsys):
    f = _melange_variant(tmp_path, slice_factor="x")
    code, err = _import(["melange", str(f), "-o", str(tmp_path / "x.yaml")], capsys)
    assert code == 0 and "warning: m.json: slice_factor 'x' is not a whole number >= 1" in err
    code, err = _import(["melange", str(MELANGE), "-o", str(tmp_path / "y.yaml")], capsys)
    assert code == 0 and "slice_factor" not in err.replace("slices of slice_factor", "")


def _profile(tmp_path, name, gpu, **changes):
    data = json.loads(AIBRIX.read_text())
    data.update(gpu=gpu, **changes)
    f = tmp_path / name
    f.write_text(json.dumps(data))
    return f


def test_aibrix_profiles_with_and_without_slos_are_warned_of(tmp_path, capsys):
    """QA s20: one profile with slos and one without were merged silently and the description said
    the SLO held for both (and printed it as a Python dict)."""
    with_slo = _profile(tmp_path, "a.json", "a10g", slos={"percentile": 99, "e2e": 5.0})
    without = _profile(tmp_path, "b.json", "l40s")
    out = tmp_path / "x.yaml"
    code, err = _import(["aibrix", str(with_slo), str(without), "--rate", "10", "-o", str(out)], capsys)
    assert code == 0
    assert ("warning: the SLO p99 e2e <= 5 s is stated in a.json, none in b.json: the plan mixes them as one "
            "fleet. If b.json was profiled for that SLO too, add the same slos to it") in err
    desc = yaml.safe_load(out.read_text())["description"]
    assert "(a.json made for p99 e2e <= 5 s; b.json states no SLO)" in desc and "{" not in desc
    # both with the same SLO: said once, no warning
    both = _profile(tmp_path, "c.json", "l40s", slos={"percentile": 99, "e2e": 5.0})
    code, err = _import(["aibrix", str(with_slo), str(both), "--rate", "10", "-o", str(tmp_path / "y.yaml")], capsys)
    assert code == 0 and "warning" not in err
    assert "(profiles were made for p99 e2e <= 5 s)" in yaml.safe_load((tmp_path / "y.yaml").read_text())["description"]


def test_aibrix_slos_that_is_not_an_object_is_an_error(tmp_path, capsys):
    f = _profile(tmp_path, "a.json", "l40s", slos="p99")
    code, err = _import(["aibrix", str(f), "--rate", "10", "-o", str(tmp_path / "x.yaml")], capsys)
    assert code == 2 and f'{f}: slos: slos must be an object of the SLO the profile was made for (got "p99")' in err


@pytest.mark.parametrize("tool, change, path, says", [
    ("melange", {"total_request_rate": 1e12}, "total_request_rate", "total_request_rate is above 1e9"),
    ("melange", {"gpu_info": "cost"}, "gpu_info.A10G.cost", "cost is above 1e9"),
    ("aibrix", {"cost": 1e308}, "cost", "cost is above 1e9"),
])
def test_the_problems_limits_are_checked_in_the_peer_files_terms(tmp_path, capsys, tool, change, path, says):
    """QA s20: a rate of 1e12 gave 'workloads[0].demand.requests_per_s: Input should be <= 1e9' and three
    more such lines of the generated problem; now one issue against the peer file's field."""
    if tool == "melange":
        f = (_melange_variant(tmp_path, gpu_info=_gpu(cost=1e308)) if "gpu_info" in change
             else _melange_variant(tmp_path, **change))
        argv = ["melange", str(f)]
    else:
        f = _aibrix_variant(tmp_path, **change)
        argv = ["aibrix", str(f), "--rate", "10", "--map", "simulator-llama2-7b-a40=l40s"]
    code, err = _import([*argv, "-o", str(tmp_path / "x.yaml")], capsys)
    assert code == 2 and err.startswith("1 input error") and f"{f}: {path}: {says}" in err, err
    assert "would be invalid" not in err and "fix: give a positive" in err


def test_the_largest_rate_a_problem_takes_imports(tmp_path, capsys):
    """1e9 req/s is the schema's own bound: at it the import goes through (30 -> 1e9 in the example)."""
    f = _melange_variant(tmp_path, total_request_rate=1e9)
    code, err = _import(["melange", str(f), "-o", str(tmp_path / "x.yaml")], capsys)
    assert code == 0, err


def test_an_aibrix_rate_above_the_limit_is_one_error_against_the_flag(tmp_path, capsys):
    code, err = _import(["aibrix", str(AIBRIX), "--rate", "1e300", "--map", "simulator-llama2-7b-a40=l40s",
                         "-o", str(tmp_path / "x.yaml")], capsys)
    assert code == 2 and err.startswith("1 input error") and "--rate: --rate is above 1e9 req/s" in err


def test_a_tiny_bucket_is_named_and_dropping_it_is_the_first_fix(tmp_path, capsys):
    """QA s20 (mtiny.json): a share of 1e-7 at 30 req/s is 3e-6 req/s, below the 1e-5 a plan can serve.
    The message named no file or field and first said to raise the traffic; now dropping that bucket
    comes first, then the rate that would lift it to 1e-5: 1e-5 / 1e-7 = 100 req/s."""
    gpus = {n: {**g, "tputs": [*g["tputs"], [1, 1]]} for n, g in json.loads(MELANGE.read_text())["gpu_info"].items()}
    f = _melange_variant(tmp_path, gpu_info=gpus, workload_distribution=[[0.2, 0.0999999], [0.5, 0.2], [1e-07, 0]])
    code, err = _import(["melange", str(f), "-o", str(tmp_path / "x.yaml")], capsys)
    assert code == 2 and err.startswith("1 input error")
    assert f"{f}: workload_distribution[2][0]: bucket workload_distribution[2][0] gets 1e-07 of " in err
    fix = err.split("fix: ")[1]
    assert fix.index("set its share to 0") < fix.index("raise total_request_rate to at least 100 req/s"), fix


def test_a_rate_too_small_for_every_bucket_is_said_of_the_rate(tmp_path, capsys):
    """1e-9 req/s over the example's shares (smallest 0.1): raise it to 1e-5 / 0.1 = 1e-4 req/s."""
    f = _melange_variant(tmp_path, total_request_rate=1e-9)
    code, err = _import(["melange", str(f), "-o", str(tmp_path / "x.yaml")], capsys)
    assert code == 2 and err.startswith("1 input error")
    assert f"{f}: total_request_rate: total_request_rate 1e-09 req/s gives every bucket less than" in err
    assert "fix: raise total_request_rate to at least 0.0001 req/s" in err


@pytest.mark.parametrize("gpu, shown_as", [(None, "null"), (40, "40")])
def test_an_aibrix_gpu_that_is_not_a_string_says_so(tmp_path, capsys, gpu, shown_as):
    """QA s20: "gpu": null gave "GPU 'None' has no catalog accelerator ... --map 'None=ID'"."""
    f = _aibrix_variant(tmp_path, gpu=gpu)
    code, err = _import(["aibrix", str(f), "--rate", "10", "-o", str(tmp_path / "x.yaml")], capsys)
    assert code == 2 and f"{f}: gpu: gpu must be the GPU type's name, a string (got {shown_as})" in err
    assert "None=ID" not in err and "did you mean" not in err


def test_a_map_for_a_name_no_file_has_is_warned_of(tmp_path, capsys):
    out = tmp_path / "x.yaml"
    code, err = _import(["melange", str(MELANGE), "--map", "A10=a10g", "-o", str(out)], capsys)
    said = "--map a10=a10g: not used, no GPU in the input files has that name"
    assert code == 0 and f"warning: {said}" in err and "the files' GPU names: A100-80GB, A10G)" in err
    assert f"# warning: {said}" in out.read_text()


def test_import_notes_say_no_internal_reference_and_state_units_and_bf16(tmp_path, capsys):
    """QA s20: a note cited 'QA'; AIBrix imports had no note that a unit is one device; neither said
    that bf16 is assumed."""
    mel = import_melange(MELANGE, catalog=default_catalog())
    aib = import_aibrix([AIBRIX], catalog=default_catalog(), total_rate=10,
                        mapping={"simulator-llama2-7b-a40": "l40s"})
    assert not any("QA" in n for n in mel.notes + aib.notes)
    assert any("$6.70/h in its README, $4.68/h here" in n for n in mel.notes)
    assert any("each AIBrix unit is read as one device" in n for n in aib.notes)
    for res in (mel, aib):
        assert any("quantization bf16" in n and "change quantizations:" in n for n in res.notes)


def test_a_utf8_byte_order_mark_is_accepted(tmp_path, capsys):
    """QA s20: a BOM gave 'Unexpected UTF-8 BOM ... fix: check brackets and commas'."""
    f = tmp_path / "bom.json"
    f.write_text(MELANGE.read_text(), encoding="utf-8-sig")
    assert f.read_bytes()[:3] == b"\xef\xbb\xbf"
    code, err = _import(["melange", str(f), "-o", str(tmp_path / "x.yaml")], capsys)
    assert code == 0, err


def test_a_profiled_rate_above_0_but_below_the_capacity_floor_is_refused_at_its_cell(tmp_path, capsys):
    """QA (s20): a Mélange cell of 1e-10 req/s imported and gave HiGHS and SCIP wrong plans called
    optimal; the problem schema now refuses a measured rate in (0, 1e-6), so the import says which
    cell, in the file's terms, and writes nothing; 0 (cannot serve) and 1e-6 import."""
    from solver.cli import main
    cfg = json.loads(MELANGE.read_text())
    gpu = next(iter(cfg["gpu_info"]))
    for cell, ok in ((1e-10, False), (0, True), (1e-6, True)):
        tputs = json.loads(json.dumps(cfg["gpu_info"][gpu]["tputs"]))
        tputs[0][0] = cell
        f = _melange_variant(tmp_path, gpu_info={**cfg["gpu_info"], gpu: {**cfg["gpu_info"][gpu], "tputs": tputs}})
        out = tmp_path / f"p{cell}.yaml"
        rc = main(["import", "melange", str(f), "-o", str(out)])
        err = capsys.readouterr().err
        if ok:
            assert rc == 0 and out.exists(), err
        else:
            assert rc == 2 and not out.exists()
            assert f"gpu_info.{gpu}.tputs[0][0]" in err and "write 0 if the GPU cannot serve" in err
            assert "imported problem would be invalid" not in err


# --- QA import review s22 --------------------------------------------------------------------

def _renamed(tmp_path, name="m.json", **gpus):
    """Mélange's example with its GPU types as ``gpus`` (new name -> profile of an example GPU, or a dict)."""
    cfg = json.loads(MELANGE.read_text())
    cfg["gpu_info"] = {new: cfg["gpu_info"][old] if isinstance(old, str) else old for new, old in gpus.items()}
    f = tmp_path / name
    f.write_text(json.dumps(cfg))
    return f


def _solve(problem, tmp_path, capsys):
    plan = tmp_path / "plan.json"
    assert main(["solve", str(problem), "--json", str(plan)]) == 0, capsys.readouterr().err
    data = json.loads(plan.read_text())
    devices = {}
    for d in data["deployments"]:
        key = (d["accelerator"], d["quantization"])
        devices[key] = devices.get(key, 0) + d["accelerators"]
    return data, devices


def test_a_t4_profile_is_written_in_fp16_which_its_family_runs(tmp_path, capsys):
    """QA s22 (mv/name_T4.json): the example with 'A10G' renamed 'T4' was written as bf16, which the catalog's
    bf16 does not list for family turing, so the T4 was pruned and the plan was 2 x A100 ($7.34/h).  Written in
    fp16 (run by both families), the T4 has the A10G's figures and the plan is the example's by hand (see
    test_melange_example_plan_is_optimal): 1 A100 + 1 T4 = 3.67 + 1.01 = $4.68/h."""
    f = _renamed(tmp_path, **{"A100-80GB": "A100-80GB", "T4": "A10G"})
    res = import_melange(f, catalog=default_catalog())
    assert {m["quantization"] for m in res.problem["measurements"]} == {"fp16"}
    assert all(w["quantizations"] == ["fp16"] for w in res.problem["workloads"])
    assert any("quantization fp16" in n and "does not list family turing" in n for n in res.notes)
    out = tmp_path / "t4.yaml"
    assert main(["import", "melange", str(f), "-o", str(out)]) == 0
    data, devices = _solve(out, tmp_path, capsys)
    assert data["objective"]["total"] == pytest.approx(4.68, abs=1e-6)
    assert devices == {("a100-80gb", "fp16"): 1, ("t4", "fp16"): 1}


def test_gpu_types_with_no_common_16_bit_format_keep_to_their_profiles(tmp_path, capsys):
    """A T4 (fp16 only), a Gaudi 2 (bf16 only) and an A100 (both): the workloads allow both formats, so the
    A100 is measured in each (the same profile), else its unmeasured format would be planned with the
    performance model's figures.  Gaudi 2 at $2/h with rates [[10, 10], [20, 10]].  By hand the optimum
    stays 1 A100 + 1 T4 = $4.68/h: one A100 alone needs 1.125 loads, and an A100 with anything but one T4
    costs more (with a Gaudi 2: $5.67); without an A100, the traffic is 6/10 + 3/10 + 15/20 + 6/10 = 2.25
    Gaudi-loads, a T4 relieves at most 5/20 = 0.25 of one (bucket in1-out0), so 2 Gaudi 2 + 1 T4 ($5.01) is
    the least of those; 12 T4 cost $12.12."""
    f = _renamed(tmp_path, **{"A100-80GB": "A100-80GB", "T4": "A10G",
                              "gaudi2": {"cost": 2.0, "tputs": [[10, 10], [20, 10]]}})
    res = import_melange(f, catalog=default_catalog())
    formats = {}
    for m in res.problem["measurements"]:
        formats.setdefault(m["accelerator"], set()).add(m["quantization"])
    assert formats == {"a100-80gb": {"bf16", "fp16"}, "gaudi2": {"bf16"}, "t4": {"fp16"}}
    assert len(res.problem["measurements"]) == 4 * 4
    assert all(w["quantizations"] == ["bf16", "fp16"] for w in res.problem["workloads"])
    out = tmp_path / "mix.yaml"
    assert main(["import", "melange", str(f), "-o", str(out)]) == 0
    data, devices = _solve(out, tmp_path, capsys)
    assert data["objective"]["total"] == pytest.approx(4.68, abs=1e-6)
    assert sum(n for (acc, _), n in devices.items() if acc == "a100-80gb") == 1 and devices[("t4", "fp16")] == 1
    assert all(r["ttft_ms"] is None for r in data["routing"])    # measured figures only, no model's latency


def test_a_gpu_no_16_bit_scheme_runs_is_warned_of(tmp_path, capsys):
    """QA s22: a measurement in a format its accelerator cannot run was imported without a word (exit 0) and
    pruned at solve time.  An overlay taking turing out of fp16 leaves a T4 no 16-bit format: warned of."""
    overlay = tmp_path / "no-turing.yaml"
    overlay.write_text("schema_version: 1\nquantization:\n  - id: fp16\n"
                       "    supported_families: [hopper, blackwell, ampere, ada, cdna3, cdna4, neuron]\n")
    f = _renamed(tmp_path, **{"A100-80GB": "A100-80GB", "T4": "A10G"})
    out = tmp_path / "x.yaml"
    code, err = _import(["melange", str(f), "--catalog", str(overlay), "-o", str(out)], capsys)
    assert code == 0
    # the importer's own warning, then validate's (one line for the T4's measurements)
    warning, measured = [line for line in err.splitlines() if line.startswith("warning:")]
    assert "does not run on the turing family" in measured and "measurements[" in measured
    assert "t4 (family turing): no 16-bit quantization scheme of the catalog (bf16, fp16) runs it" in warning
    assert "add it to the supported_families" in warning and "a100" not in warning
    assert "# warning: t4 (family turing)" in out.read_text()


def test_the_same_aibrix_gpu_twice_says_to_keep_one(tmp_path, capsys):
    """QA s22: two profiles of one GPU name (or one file given twice) were told to 'map them to distinct ids
    with --map', which keys on that shared name."""
    a = _profile(tmp_path, "a.json", "simulator-llama2-7b-a100")
    b = _profile(tmp_path, "b.json", "simulator-llama2-7b-a100")
    out = str(tmp_path / "x.yaml")
    code, err = _import(["aibrix", str(a), str(b), "--rate", "10", "-o", out], capsys)
    assert code == 2 and f"{b}: gpu: profiles the same GPU 'simulator-llama2-7b-a100' as {a}" in err
    assert "fix: keep one of the two" in err and "distinct ids" not in err
    code, err = _import(["aibrix", str(a), str(a), "--rate", "10", "-o", out], capsys)
    assert code == 2 and f"{a}: gpu: the same file is given twice" in err and "name each profile file once" in err
    c = _profile(tmp_path, "c.json", "a100-80gb")    # another name for the same accelerator: --map can tell them
    code, err = _import(["aibrix", str(a), str(c), "--rate", "10", "-o", out], capsys)
    assert code == 2 and "--map 'a100-80gb=ID'" in err


def test_a_distribution_in_percent_says_to_keep_the_rate_first(tmp_path, capsys):
    """QA s22 (mv/dist_percent.json): [[20, 10], [50, 20]] sums to 100; the only fix offered was a total of
    30 x 100 = 3000 req/s.  Percentages are the likely reading: divide by 100, keep 30 req/s."""
    f = _melange_variant(tmp_path, workload_distribution=[[20, 10], [50, 20]])
    code, err = _import(["melange", str(f), "-o", str(tmp_path / "x.yaml")], capsys)
    assert code == 2 and "workload_distribution sums to 100, not 1" in err
    fix = err.split("fix: ")[1]
    assert fix.index("divide each by 100 and keep total_request_rate 30;") < fix.index(
        "set total_request_rate to 3000")


def test_an_aibrix_profile_without_a_latency_target_says_so(tmp_path, capsys):
    """QA s22: slos {"percentile": 0} (AIBrix's gen_profile.py without an SLO flag) was described as 'made
    for mean'; it holds no target, so the problem's SLO is only the --ttft-ms / --tpot-ms placeholders."""
    f = _profile(tmp_path, "a.json", "l40s", slos={"percentile": 0})
    out = tmp_path / "x.yaml"
    code, err = _import(["aibrix", str(f), "--rate", "10", "-o", str(out)], capsys)
    assert code == 0
    desc = yaml.safe_load(out.read_text())["description"]
    assert "(profiles were made with no latency target: throughput unconstrained)" in desc and "mean" not in desc
    assert "note: the profiles hold no latency target" in err and "(60000 ms TTFT, 1000 ms TPOT" in err
    g = _profile(tmp_path, "b.json", "a10g", slos={"percentile": 0, "e2e": 5.0})   # a target: the mean
    code, err = _import(["aibrix", str(g), "--rate", "10", "-o", str(tmp_path / "y.yaml")], capsys)
    assert code == 0 and "no latency target" not in err
    assert "(profiles were made for mean e2e <= 5 s)" in yaml.safe_load((tmp_path / "y.yaml").read_text())[
        "description"]


@pytest.mark.parametrize("name, n, acc", [
    ("A10G-4x", 4, "a10g"), ("a10g_x4", 4, "a10g"), ("2x-A100", 2, "a100-80gb"),
    ("H100-SXM-8", 8, "h100-sxm"), ("MI300X-8", 8, "mi300x"), ("A100x2", 2, "a100-80gb"),
    ("8xA100", 8, "a100-80gb"), ("4xA10G", 4, "a10g")])
def test_a_gpu_name_with_a_device_count_is_a_unit_of_that_many_devices(tmp_path, capsys, name, n, acc):
    """QA s22: 'A10G-4x', 'H100-SXM-8' ... were read as one device, 'A100x2', '8xA100' refused as unknown;
    then every such name was refused.  Now the unit is n devices running one replica at TP n: an offer of
    n devices at the unit's cost / n, the profile measured at TP n, and 0 req/s at TP 1 (no profile ran
    it, and the analytic model must not fill it in); --map NAME=ID still reads it as one device."""
    f = _renamed(tmp_path, **{name: "A10G"})
    out = tmp_path / "x.yaml"
    code, err = _import(["melange", str(f), "-o", str(out)], capsys)
    assert code == 0, err
    doc = yaml.safe_load(out.read_text())
    offer = doc["fleet"]["offers"][0]
    assert offer["accelerator"] == acc and offer["devices_per_instance"] == n
    assert offer["usd_per_device_hour"] == pytest.approx(1.01 / n)
    assert doc["fleet"]["tensor_parallel"] == [1, n]
    rates = {(m["tensor_parallel"], m["workload"]): m["max_requests_per_s"] for m in doc["measurements"]}
    assert rates == {**{(n, w): r for w, r in zip(("bucket-in0-out0", "bucket-in0-out1", "bucket-in1-out0",
                                                     "bucket-in1-out1"), (2, 1, 5, 2))},
                     **{(1, w): 0.0 for w in ("bucket-in0-out0", "bucket-in0-out1", "bucket-in1-out0",
                                              "bucket-in1-out1")}}
    assert f"{name} = {n} x {acc}" in err
    code, err = _import(["melange", str(f), "--map", f"{name}={acc}", "-o", str(out), "--force"], capsys)
    assert code == 0 and yaml.safe_load(out.read_text())["fleet"]["offers"][0]["devices_per_instance"] == 1


def test_a_two_gpu_unit_is_planned_as_one_replica_on_two_devices(tmp_path, capsys):
    """Mélange's example with its A100-80GB unit made a 2-GPU unit at twice the cost and twice the rates
    ('2xA100': $7.34/h, [[40, 40], [80, 40]] req/s).  By hand: one such unit carries every bucket at
    6/40 + 3/40 + 15/80 + 6/40 = 0.5625 of its rate; A10Gs alone need 6/2 + 3/1 + 15/5 + 6/2 = 12 units
    ($12.12); any plan with the A100 unit costs at least its $7.34.  So the optimum is one unit: 2 A100
    devices, one replica at TP 2, $7.34/h, and no TP-1 A100 replica (it was never profiled)."""
    f = _renamed(tmp_path, **{"A10G": "A10G", "2xA100": {"cost": 7.34, "tputs": [[40, 40], [80, 40]]}})
    out = tmp_path / "x.yaml"
    code, err = _import(["melange", str(f), "-o", str(out)], capsys)
    assert code == 0, err
    data, devices = _solve(out, tmp_path, capsys)
    assert devices == {("a100-80gb", "bf16"): 2}
    assert [(d["tensor_parallel"], d["replicas"]) for d in data["deployments"]] == [(2, 1)]
    assert data["objective"]["total"] == pytest.approx(7.34, rel=1e-9)
    plan = tmp_path / "plan.json"
    assert main(["verify", str(out), str(plan)]) == 0


@pytest.mark.parametrize("name, says", [
    ("3xA100", "llama-2-7b's 32 attention heads do not split over 3 devices"),
    ("16xA100", "one a100-80gb node has 8 devices")])
def test_a_unit_that_cannot_be_one_replica_is_refused_with_the_one_device_reading(tmp_path, capsys, name, says):
    f = _renamed(tmp_path, **{name: "A10G"})
    out = tmp_path / "x.yaml"
    code, err = _import(["melange", str(f), "-o", str(out)], capsys)
    assert code == 2 and says in err and f"--map '{name}=a100-80gb'" in err and not out.exists()


def test_a_max_count_caps_a_units_devices(tmp_path, capsys):
    f = _renamed(tmp_path, **{"A10G": "A10G", "A100x2": {"cost": 7.34, "tputs": [[40, 40], [80, 40]],
                                                          "max_count": 3}})
    out = tmp_path / "x.yaml"
    assert _import(["melange", str(f), "-o", str(out)], capsys)[0] == 0
    assert yaml.safe_load(out.read_text())["fleet"]["availability"] == [
        {"accelerator": "a100-80gb", "region": "virginia", "max_devices": 6}]
    # two unit sizes of one accelerator, one capped: the problem cannot cap one unit size alone
    g = _renamed(tmp_path, name="g.json", **{"A100-80GB": "A100-80GB", "A100x2": {
        "cost": 7.34, "tputs": [[40, 40], [80, 40]], "max_count": 3}})
    code, err = _import(["melange", str(g), "-o", str(tmp_path / "y.yaml")], capsys)
    assert code == 2 and "units of a100-80gb of different sizes" in err


def test_one_gpu_and_two_gpu_units_of_one_accelerator_share_its_tp1_profile(tmp_path, capsys):
    """An 'A100-80GB' unit (TP 1 profiled) and an 'A100x2' unit (TP 2 profiled) are two offers of one
    accelerator: no TP is left to the analytic model (no zero rows), and the plan may run the TP-1 profile
    on the two-device unit's devices, at its cost per device."""
    f = _renamed(tmp_path, **{"A100-80GB": "A100-80GB", "A100x2": {"cost": 6.0, "tputs": [[40, 40], [80, 40]]}})
    out = tmp_path / "x.yaml"
    code, err = _import(["melange", str(f), "-o", str(out)], capsys)
    assert code == 0, err
    doc = yaml.safe_load(out.read_text())
    assert sorted((o["devices_per_instance"], o["usd_per_device_hour"]) for o in doc["fleet"]["offers"]) == [
        (1, 3.67), (2, 3.0)]
    assert all(m["max_requests_per_s"] > 0 for m in doc["measurements"])
    assert sorted({m["tensor_parallel"] for m in doc["measurements"]}) == [1, 2]


def test_a_number_before_the_gpu_word_is_part_of_the_name(tmp_path):
    f = _renamed(tmp_path, **{"deepseek-r1-0528-h100": "A10G"})
    res = import_melange(f, catalog=default_catalog())
    assert [o["accelerator"] for o in res.problem["fleet"]["offers"]] == ["h100-sxm"]


def test_the_readme_comparison_is_noted_for_melanges_example_only(tmp_path):
    """QA s22: '$6.70/h in its README, $4.68/h here' was said of every Mélange file."""
    said = "$6.70/h in its README, $4.68/h here"
    assert any(said in n for n in import_melange(MELANGE, catalog=default_catalog()).notes)
    for change in ({"total_request_rate": 31}, {"workload_distribution": [[0.1, 0.2], [0.5, 0.2]]},
                   {"gpu_info": _gpu(cost=1.0)}):
        notes = import_melange(_melange_variant(tmp_path, **change), catalog=default_catalog()).notes
        assert not any(said in n for n in notes)
        assert any("the plan can cost less than Mélange's answer" in n for n in notes)


def test_import_prints_what_validate_would_warn_of(tmp_path, capsys):
    """QA s22: `import melange --model llama-2-70b` measured a 70B model on one 24 GB A10G and exited 0
    with no word; `validate` warned of it.  The import now prints validate's findings: by hand, 68.98e9
    parameters x 2 bytes (bf16) = 138 GB on one device, above the A10G's 24 GB."""
    out = tmp_path / "x70.yaml"
    assert main(["import", "melange", str(MELANGE), "--model", "llama-2-70b", "--output", str(out)]) == 0
    err = capsys.readouterr().err
    assert "weights alone take 138.0 GB a device, more than the 24 GB" in err
    # one line per GPU type (its four buckets' measurements together): 138 GB is above the A100-80GB's
    # 85.9 GB (80 GiB) too
    assert f"warning: {out}: measurements[4], measurements[5], measurements[6], measurements[7]: " in err
    assert err.count("weights alone take") == 2
    # a clean import prints none of them
    out2 = tmp_path / "ok.yaml"
    assert main(["import", "melange", str(MELANGE), "--output", str(out2)]) == 0
    assert "weights alone take" not in capsys.readouterr().err


def test_a_memory_size_ending_a_gpu_name_is_not_a_device_count():
    """Review s22: 'A100-40' was refused as a unit of 40 devices, with a --map hint to the 80 GB card; a
    trailing number that is the card's memory (GB, or GiB as the catalog keeps 80 GiB as 85.9 GB) names the
    card.  A count that is no memory size is still one."""
    from solver.catalog import default_catalog
    from solver.catalog.gpu_names import accelerator_for_name
    from solver.importers.common import device_count
    cat = default_catalog()
    for name, acc in (("a100-40", "a100-40gb"), ("h100-80", "h100-sxm"), ("t4-16", "t4"), ("l40s-48", "l40s")):
        assert device_count(name, cat) is None, name
        assert accelerator_for_name(name, cat.accelerators) == acc, name
    assert device_count("h100-sxm-8", cat) == ("8", "h100-sxm")
    assert device_count("mi300x-8", cat) == ("8", "mi300x")


@pytest.mark.parametrize("tool,src,name", [("melange", MELANGE, "cfg{x}.json"), ("aibrix", AIBRIX, "a40{}.json"),
                                           ("aibrix", AIBRIX, "a40{0!r}{.x}.json")])
def test_braces_in_a_file_name_are_text_not_a_template(tmp_path, capsys, tool, src, name):
    """QA s27: the file name went into a template formatted later: 'cfg{x}.json' was a KeyError,
    'a40{}.json' an IndexError (exit 1). The name is copied as written into each figure's source."""
    f = tmp_path / name
    f.write_bytes(src.read_bytes())
    out = tmp_path / "out.yaml"
    extra = ["--rate", "10", "--map", "simulator-llama2-7b-a40=l40s"] if tool == "aibrix" else []
    code, err = _import([tool, str(f), *extra, "--output", str(out)], capsys)
    assert code == 0, err
    sources = [m["source"] for m in yaml.safe_load(out.read_text())["measurements"] if "tputs[" in m["source"]]
    assert sources and all(name in s for s in sources) and any("tputs[0][0]" in s for s in sources)
