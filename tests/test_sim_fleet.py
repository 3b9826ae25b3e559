"""Fleet-level simulation: routing split, sampling of replicas, metrics, traces, plan files, CLI."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace as NS

import numpy as np
import pytest

from solver.cli import main
from solver.errors import InputError
from solver.sim.engine import ConstantEngine, StepTable
from solver.sim.fleet import SimOptions, simulate_plan
from solver.sim.planfile import parse_plan
from solver.sim.report import format_text, group_metrics, summarize, weighted_percentile
from solver.sim.traffic import generate_trace, parse_trace, trace_to_csv

REPO = Path(__file__).resolve().parents[1]


def workload(wid, rate, inp=100, out=1, dist="fixed", ttft_ms=1000.0, tpot_ms=100.0, pct=99.0):
    return NS(id=wid, demand=NS(requests_per_s=rate),
              input_tokens=NS(mean=inp, cv=0.5, distribution=dist, max=None),
              output_tokens=NS(mean=out, cv=0.5, distribution=dist, max=None),
              slo=NS(ttft_ms=ttft_ms, tpot_ms=tpot_ms, percentile=pct))


def plan_doc(deps, routes):
    return {"deployments": [{"id": d, "accelerator": "x", "model": "m", "quantization": "q",
                             "tensor_parallel": 1, "replicas": r} for d, r in deps],
            "routing": [{"workload": w, "deployment": d, "requests_per_s": x} for w, d, x in routes]}


def test_attainment_of_md1_equals_probability_of_no_wait():
    # One slot, fixed 50 ms prefill, one output token: M/D/1 with rho = 10 x 0.05 = 0.5.
    # With the TTFT target at the service time itself, only requests that found the server
    # idle meet it: P(W = 0) = 1 - rho = 0.5 (PASTA).
    wl = workload("w", 10.0, ttft_ms=50.0 + 1e-6)
    plan = parse_plan(plan_doc([("d", 1)], [("w", "d", 10.0)]), ["w"])
    eng = {"d": ConstantEngine(prefill_base_ms=50, decode_base_ms=1, max_batch=1)}
    sim = simulate_plan([wl], plan, eng, SimOptions(duration_s=4000, warmup_s=10, seed=3))
    g = group_metrics(sim, sim.workload == 0, wl.slo)
    assert g["attainment"] == pytest.approx(0.5, abs=0.015)
    assert g["ttft_p50_ms"] >= 50.0 - 1e-9
    assert not g["meets_slo"]
    assert sim.deployments[0].utilisation == pytest.approx(0.5, abs=0.015)
    # 3990 s measured -> 67 windows of 60 s; ~50 % attainment in each: p99 holds in none
    assert g["window_s"] == 60.0 and g["windows"] == 67 and g["windows_slo_met"] == 0.0


def test_routing_split_and_replica_sampling_preserve_fleet_rates():
    # w: 60 req/s, 1/3 to a (3 replicas), 2/3 to b (10 replicas, of which 4 simulated).
    wl = workload("w", 60.0)
    plan = parse_plan(plan_doc([("a", 3), ("b", 10)], [("w", "a", 20.0), ("w", "b", 40.0)]), ["w"])
    eng = {"a": ConstantEngine(prefill_base_ms=1), "b": ConstantEngine(prefill_base_ms=1)}
    sim = simulate_plan([wl], plan, eng, SimOptions(duration_s=2000, warmup_s=0, seed=1,
                                                    max_replicas=4))
    assert [d.simulated_replicas for d in sim.deployments] == [3, 4]
    assert sim.deployments[1].weight == pytest.approx(2.5)
    # each simulated replica of b sees 40 / 10 = 4 req/s -> 4 x 4 x 2000 = 32000 requests expected
    n_b = int((sim.dep_index == 1).sum())
    assert n_b == pytest.approx(32000, rel=0.03)
    s = summarize(sim, [wl], plan)
    assert s["workloads"]["w"]["requests_per_s"] == pytest.approx(60.0, rel=0.02)
    per_route = {r["deployment"]: r["requests_per_s"] for r in s["routes"]}
    assert per_route["a"] == pytest.approx(20.0, rel=0.03)
    assert per_route["b"] == pytest.approx(40.0, rel=0.03)


def test_same_seed_same_result_and_other_seed_differs():
    wl = workload("w", 30.0, inp=500, out=50, dist="lognormal")
    plan = parse_plan(plan_doc([("d", 2)], [("w", "d", 30.0)]), ["w"])
    eng = {"d": ConstantEngine(prefill_ms_per_token=0.02, decode_base_ms=5, decode_ms_per_seq=0.1)}
    a = simulate_plan([wl], plan, eng, SimOptions(duration_s=100, seed=5))
    b = simulate_plan([wl], plan, eng, SimOptions(duration_s=100, seed=5))
    c = simulate_plan([wl], plan, eng, SimOptions(duration_s=100, seed=6))
    np.testing.assert_array_equal(a.ttft_s, b.ttft_s)
    np.testing.assert_array_equal(a.tpot_s, b.tpot_s)
    assert len(a.ttft_s) != len(c.ttft_s) or not np.array_equal(a.ttft_s, c.ttft_s)


def test_unrunnable_deployment_fails_its_requests():
    wl = workload("w", 5.0)
    plan = parse_plan(plan_doc([("d", 1)], [("w", "d", 5.0)]), ["w"])
    eng = {"d": ConstantEngine(kv_capacity_tokens=0)}
    sim = simulate_plan([wl], plan, eng, SimOptions(duration_s=50, seed=0))
    s = summarize(sim, [wl], plan)
    assert s["workloads"]["w"]["attainment"] == 0.0
    assert "no KV" in s["deployments"][0]["status"]
    assert not s["all_slos_met"]


def test_weighted_percentile_matches_numpy_inverted_cdf_and_weight_duplication():
    rng = np.random.default_rng(0)
    x = rng.normal(size=1001)
    for q in (1, 50, 90, 99):
        assert weighted_percentile(x, np.ones_like(x), q) == pytest.approx(
            np.percentile(x, q, method="inverted_cdf"))
    # weight 3 on an element == three copies of it
    y = np.array([1.0, 2.0, 3.0, 4.0])
    w = np.array([1.0, 3.0, 1.0, 1.0])
    dup = np.array([1.0, 2.0, 2.0, 2.0, 3.0, 4.0])
    for q in (10, 30, 50, 67, 90):
        assert weighted_percentile(y, w, q) == np.percentile(dup, q, method="inverted_cdf")


def test_trace_round_trip_and_replay_follows_routing_shares():
    wls = [workload("a", 20.0, inp=300, out=20, dist="lognormal"), workload("b", 5.0)]
    tr = generate_trace(wls, 400.0, seed=2)
    back = parse_trace(trace_to_csv(tr), ["a", "b"])
    np.testing.assert_allclose(back.arrival_s, tr.arrival_s, atol=1e-6)
    np.testing.assert_array_equal(back.workload, tr.workload)
    np.testing.assert_array_equal(back.input_tokens, tr.input_tokens)
    np.testing.assert_array_equal(back.output_tokens, tr.output_tokens)
    assert (tr.workload == 0).sum() == pytest.approx(8000, rel=0.05)
    plan = parse_plan(plan_doc([("x", 1), ("y", 2)], [("a", "x", 5.0), ("a", "y", 15.0)]), ["a", "b"])
    eng = {"x": ConstantEngine(prefill_base_ms=1), "y": ConstantEngine(prefill_base_ms=1)}
    sim = simulate_plan(wls, plan, eng, SimOptions(seed=0, warmup_s=0), trace=tr)
    n_a = int((tr.workload == 0).sum())
    assert (sim.dep_index == 0).sum() == pytest.approx(0.25 * n_a, rel=0.06)
    assert sim.unrouted == {"b": int((tr.workload == 1).sum())}


def test_trace_errors_name_line_and_column():
    text = ("arrival_s,workload,input_tokens,output_tokens\n"
            "0.5,chat,100,10\n"
            "abc,chat,100,10\n"
            "1.0,chta,100,10\n"
            "2.0,chat,1.5,0\n"
            "3.0,chat\n")
    with pytest.raises(InputError) as ei:
        parse_trace(text, ["chat"], file="t.csv")
    got = [(i.line, i.path) for i in ei.value.issues]
    assert got == [(3, "arrival_s"), (4, "workload"), (5, "input_tokens"), (5, "output_tokens"),
                   (6, "")]
    assert "did you mean 'chat'" in ei.value.issues[1].hint
    with pytest.raises(InputError, match="header"):
        parse_trace("t,w,i,o\n1,chat,1,1\n", ["chat"])


def test_plan_errors_are_collected_with_paths():
    doc = {"deployments": [{"id": "d", "accelerator": "x", "model": "m", "quantization": "q",
                            "tensor_parallel": 0, "replicas": 1},
                           {"id": "e", "model": "m", "quantization": "q", "replicas": -1}],
           "routing": [{"workload": "nope", "deployment": "zz", "requests_per_s": "fast"}]}
    with pytest.raises(InputError) as ei:
        parse_plan(doc, ["chat"], file="p.json")
    paths = [i.path for i in ei.value.issues]
    assert paths == ["deployments[0].tensor_parallel", "deployments[1].accelerator",
                     "deployments[1].replicas", "routing[0].workload", "routing[0].deployment",
                     "routing[0].requests_per_s"]
    # a route to a refused deployment: only the deployment's error, not also "unknown deployment"
    doc["routing"] = [{"workload": "chat", "deployment": "e", "requests_per_s": 1.0}]
    with pytest.raises(InputError) as ei:
        parse_plan(doc, ["chat"], file="p.json")
    assert [i.path for i in ei.value.issues] == ["deployments[0].tensor_parallel",
                                                 "deployments[1].accelerator", "deployments[1].replicas"]
    with pytest.raises(InputError, match="deployments"):
        parse_plan({"status": "infeasible"}, ["chat"])
    with pytest.raises(InputError, match="no deployments .status: infeasible"):
        parse_plan({"status": "infeasible", "deployments": [], "routing": []}, ["chat"])


def test_workload_without_routed_traffic_counts_as_missed():
    wls = [workload("a", 5.0), workload("b", 5.0)]
    plan = parse_plan(plan_doc([("d", 1)], [("a", "d", 5.0)]), ["a", "b"])
    sim = simulate_plan(wls, plan, {"d": ConstantEngine(prefill_base_ms=1)},
                        SimOptions(duration_s=100, seed=0))
    s = summarize(sim, wls, plan)
    assert s["workloads"]["a"]["meets_slo"]
    assert s["unrouted_workloads"] == ["b"] and not s["all_slos_met"]


def test_routed_workload_without_requests_in_the_run_is_not_measured_not_missed():
    """QA: a trace without b's rows, or a Poisson run that draws none of b, called the routed b
    'served no traffic' and an SLO miss (--check exit 6)."""
    wls = [workload("a", 5.0), workload("b", 5.0)]
    plan = parse_plan(plan_doc([("d", 1)], [("a", "d", 5.0), ("b", "d", 5.0)]), ["a", "b"])
    eng = {"d": ConstantEngine(prefill_base_ms=1)}
    # a trace of a only: one request a second for 100 s
    trace = parse_trace("arrival_s,workload,input_tokens,output_tokens\n"
                        + "".join(f"{t},a,100,1\n" for t in range(101)), ["a", "b"])
    sim = simulate_plan(wls, plan, eng, SimOptions(warmup_s=0, seed=0), trace=trace)
    s = summarize(sim, wls, plan)
    assert s["workloads"]["a"]["simulated_requests"] == 101 and "b" not in s["workloads"]
    assert s["unrouted_workloads"] == [] and s["unmeasured_workloads"] == ["b"] and s["all_slos_met"]
    assert "no requests in this run (not measured): b" in format_text(s)
    assert "SLO MISSED" not in format_text(s)
    # Poisson: b at 1e-9 req/s draws nothing in 100 s; b's only request in the warm-up neither
    wls[1] = workload("b", 1e-9)
    plan = parse_plan(plan_doc([("d", 1)], [("a", "d", 5.0), ("b", "d", 1e-9)]), ["a", "b"])
    s = summarize(simulate_plan(wls, plan, eng, SimOptions(duration_s=100, seed=0)), wls, plan)
    assert (s["unrouted_workloads"], s["unmeasured_workloads"], s["all_slos_met"]) == ([], ["b"], True)
    trace = parse_trace("arrival_s,workload,input_tokens,output_tokens\n0,b,100,1\n"
                        + "".join(f"{t},a,100,1\n" for t in range(101)), ["a", "b"])
    s = summarize(simulate_plan(wls, plan, eng, SimOptions(warmup_s=10, seed=0), trace=trace), wls, plan)
    assert (s["unmeasured_workloads"], s["all_slos_met"]) == (["b"], True)
    assert s["workloads"]["a"]["simulated_requests"] == 91   # arrivals 10..100 s
    # a run that measures nothing at all is no evidence that the SLOs are met (review: --check passed it)
    wls[0] = workload("a", 1e-9)
    plan = parse_plan(plan_doc([("d", 1)], [("a", "d", 1e-9), ("b", "d", 1e-9)]), ["a", "b"])
    s = summarize(simulate_plan(wls, plan, eng, SimOptions(duration_s=100, seed=0)), wls, plan)
    assert (s["workloads"], s["unmeasured_workloads"], s["all_slos_met"]) == ({}, ["a", "b"], False)
    assert "no SLO measured" in format_text(s) and "SLO MISSED" not in format_text(s)


def test_out_of_range_trace_and_durations_are_bad_input_not_a_hang_or_memory_error(tmp_path, capsys):
    """QA: 2^62 + 2^62 tokens wrapped in int64 and the replica looped for ever; 1e30 tokens was an
    OverflowError; --duration 1e9 a MemoryError of 149 GiB; a trace spanning 1e12 s asked for one
    window bin per 60 s (124 GiB)."""
    head = "arrival_s,workload,input_tokens,output_tokens\n"
    with pytest.raises(InputError) as ei:
        parse_trace(head + "0,a,4611686018427387904,4611686018427387904\n1,a,1e30,5\n2,a,100000000,1\n",
                    ["a"])
    assert [(i.line, i.path) for i in ei.value.issues] == [(2, "input_tokens"), (2, "output_tokens"),
                                                          (3, "input_tokens")]
    assert "more than 100,000,000" in ei.value.issues[0].message
    assert parse_trace(head + "0,a,100000000,100000000\n", ["a"]).input_tokens[0] == 10 ** 8
    # 3 requests: two in the first 60-s window, one 1e12 s later: 2 windows, in well under a second
    wls = [workload("a", 1.0)]
    plan = parse_plan(plan_doc([("d", 1)], [("a", "d", 1.0)]), ["a"])
    tr = parse_trace(head + "0,a,100,1\n10,a,100,1\n1e12,a,100,1\n", ["a"])
    sim = simulate_plan(wls, plan, {"d": ConstantEngine(prefill_base_ms=1)}, SimOptions(warmup_s=0), trace=tr)
    g = summarize(sim, wls, plan)["workloads"]["a"]
    assert (g["simulated_requests"], g["window_s"], g["windows"]) == (3, 60.0, 2)
    # 40 req/s x 1e9 s = 4e10 requests > 1e7: refused before drawing, with the longest duration
    problem = str(REPO / "problems/chat-assistant.yaml")
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(CHAT_PLAN))
    assert main(["simulate", problem, str(plan_file), "--duration", "1e9"]) == 2
    err = capsys.readouterr().err
    assert "4e+10 requests to draw (40 req/s for 1e+09 s)" in err and "at most 2.5e+05 s" in err
    assert main(["trace", "generate", problem, "-o", str(tmp_path / "t.csv"), "--duration", "1e9"]) == 2
    assert "shorten --duration" in capsys.readouterr().err and not (tmp_path / "t.csv").exists()


def test_trace_replay_on_fewer_simulated_replicas_says_how_many_requests_it_left_out():
    """QA: replaying a trace with --max-replicas 1 on 2 replicas simulated 1239 of 2402 requests
    without a word; the report now says so."""
    wls = [workload("a", 10.0)]
    plan = parse_plan(plan_doc([("d", 4)], [("a", "d", 10.0)]), ["a"])
    tr = parse_trace("arrival_s,workload,input_tokens,output_tokens\n"
                     + "".join(f"{t / 10},a,100,1\n" for t in range(1000)), ["a"])
    eng = {"d": ConstantEngine(prefill_base_ms=1)}
    sim = simulate_plan(wls, plan, eng, SimOptions(warmup_s=0, max_replicas=1), trace=tr)
    s = summarize(sim, wls, plan)
    left = s["trace_requests_not_simulated"]
    assert sim.n_requests + left == 1000 and 150 < sim.n_requests < 350   # ~1/4 of them on replica 0
    assert f"note: {sim.n_requests} of the trace's 1000 requests simulated" in format_text(s)
    assert f"the {left} requests routed to its other replicas are left out" in format_text(s)
    s = summarize(simulate_plan(wls, plan, eng, SimOptions(warmup_s=0, max_replicas=4), trace=tr), wls, plan)
    assert s["trace_requests_not_simulated"] == 0 and "note:" not in format_text(s)


def test_step_table_tracks_the_perf_model_engine():
    from solver.catalog import default_catalog
    from solver.perf import PerfCandidate, engine_spec

    spec = engine_spec(default_catalog(), PerfCandidate("h100-sxm", "gpt-oss-20b", "fp8", 1))
    assert spec.fits
    table = StepTable(spec, spec.max_batch, spec.kv_capacity_tokens)
    rng = np.random.default_rng(0)
    for _ in range(200):
        b = int(rng.integers(1, spec.max_batch + 1))
        ctx = float(rng.uniform(0, spec.kv_capacity_tokens))
        direct = float(spec.decode_step_ms(b, ctx)) / 1000.0
        assert table.step_s(b, ctx) == pytest.approx(direct, rel=0.01)


# ----------------------------------------------------------------------------- CLI

CHAT_PLAN = {
    "scenario": None,
    "deployments": [{"id": "d1", "accelerator": "h100-sxm", "model": "gpt-oss-20b",
                     "quantization": "fp8", "tensor_parallel": 1, "region": "virginia",
                     "acquisition": "on_demand", "replicas": 1, "accelerators": 1}],
    "routing": [{"workload": "chat", "deployment": "d1", "requests_per_s": 40.0, "share": 1.0}],
}


def test_cli_simulate_writes_report_and_json(tmp_path, capsys):
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(CHAT_PLAN))
    out = tmp_path / "sim.json"
    rc = main(["simulate", str(REPO / "problems/chat-assistant.yaml"), str(plan),
               "--duration", "60", "--seed", "1", "--json", str(out)])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "chat" in text and "attain" in text
    res = json.loads(out.read_text())
    w = res["workloads"]["chat"]
    assert 0.0 <= w["attainment"] <= 1.0
    assert w["requests_per_s"] == pytest.approx(40.0, rel=0.1)
    assert res["routes"][0]["predicted"]["source"].startswith("perf model")
    # same seed -> byte-identical metrics
    out2 = tmp_path / "sim2.json"
    main(["simulate", str(REPO / "problems/chat-assistant.yaml"), str(plan),
          "--duration", "60", "--seed", "1", "--json", str(out2)])
    a, b = json.loads(out.read_text()), json.loads(out2.read_text())
    a.pop("speed"), b.pop("speed")
    assert a == b


def test_plan_checked_against_the_problem_name_demand_and_duplicate_routes(tmp_path, capsys):
    """QA: a plan routing 10 of chat's 40 req/s, or 40 of the double-demand scenario's 80, passed
    --check; a plan of another problem raised no warning; a duplicated route doubled its traffic."""
    problem = str(REPO / "problems/chat-assistant.yaml")   # chat: 40 req/s; double-demand: 80
    plan, out = tmp_path / "plan.json", tmp_path / "sim.json"
    half = dict(CHAT_PLAN, problem="chat-assistant",
                routing=[dict(CHAT_PLAN["routing"][0], requests_per_s=10.0)])
    plan.write_text(json.dumps(half))
    assert main(["simulate", problem, str(plan), "--duration", "10", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["demand_mismatch"] == [{"workload": "chat", "routed_rps": 10.0, "demand_rps": 40.0}]
    assert "chat 10 req/s routed of 40" in capsys.readouterr().out
    rc = main(["simulate", problem, str(plan), "--duration", "10", "--check", "--json", str(out)])
    assert json.loads(out.read_text())["all_slos_met"] and rc == 6   # met, but for a quarter of the demand
    assert "--check: the plan routes other req/s than the demand: chat 10 req/s routed of 40" in \
        capsys.readouterr().err
    plan.write_text(json.dumps(dict(CHAT_PLAN, problem="other-problem")))
    main(["simulate", problem, str(plan), "--duration", "10", "--scenario", "double-demand",
          "--json", str(out)])
    assert json.loads(out.read_text())["demand_mismatch"] == [
        {"workload": "chat", "routed_rps": 40.0, "demand_rps": 80.0}]
    text = capsys.readouterr().out
    assert "plan was made for problem 'other-problem', simulating it for 'chat-assistant'" in text
    assert "solved for no scenario, simulating with 'double-demand'" in text
    main(["simulate", problem, str(plan), "--duration", "10", "--json", str(out)])
    assert json.loads(out.read_text())["demand_mismatch"] == []
    dup = dict(CHAT_PLAN, routing=CHAT_PLAN["routing"] * 2)
    plan.write_text(json.dumps(dup))
    assert main(["simulate", problem, str(plan), "--duration", "10"]) == 2
    assert "routing[0] and routing[1] both route 'chat' to deployment 'd1'" in capsys.readouterr().err


def test_cli_messages_say_where_the_input_came_from(tmp_path, capsys, monkeypatch):
    """QA: a scenario read from the plan was blamed on --scenario; a trace at one instant with no
    warm-up was told to pass --warmup 0; the internal-error hint put --debug after the command."""
    problem = str(REPO / "problems/chat-assistant.yaml")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(dict(CHAT_PLAN, scenario="gone")))
    assert main(["simulate", problem, str(plan)]) == 2
    err = capsys.readouterr().err
    assert f"no scenario named 'gone', the scenario the plan file {plan} was solved for (no --scenario given)" in err
    assert "double-demand, tight-latency" in err and '"scenario": null' in err
    plan.write_text(json.dumps(CHAT_PLAN))
    one = tmp_path / "one.csv"
    one.write_text("arrival_s,workload,input_tokens,output_tokens\n5,chat,100,10\n5,chat,100,10\n")
    assert main(["simulate", problem, str(plan), "--trace", str(one), "--warmup", "0"]) == 2
    err = capsys.readouterr().err
    assert "2 request(s) all arrive at one time" in err and "--warmup" not in err
    assert main(["simulate", problem, str(plan), "--duration", "10", "--warmup", "20"]) == 2
    assert capsys.readouterr().err.splitlines()[1].startswith("--warmup 20 s")   # no "<input>:" file

    def crash(args):
        raise RuntimeError("boom")
    monkeypatch.setattr("solver.cli.simulate_cmd.run_simulate", crash)
    assert main(["simulate", problem, str(plan)]) == 1
    assert "rerun as `fleetopt --debug simulate ...`" in capsys.readouterr().err


def test_json_dash_is_the_results_alone_on_stdout(tmp_path, capsys, monkeypatch):
    """QA: `simulate --json -` wrote the JSON after the text report, so `| jq` failed; as with
    `solve --json -`, the console text goes to stderr (and `trace generate -o -` likewise)."""
    monkeypatch.chdir(tmp_path)
    problem = str(REPO / "problems/chat-assistant.yaml")
    (tmp_path / "plan.json").write_text(json.dumps(dict(CHAT_PLAN, problem="other")))
    assert main(["simulate", problem, "plan.json", "--duration", "10", "--json", "-"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["workloads"]["chat"]["simulated_requests"] > 0 and not (tmp_path / "-").exists()
    assert "warning: the plan was made for problem 'other'" in err and "Workloads (all deployments)" in err
    assert main(["trace", "generate", problem, "-o", "-", "--duration", "2"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("arrival_s,workload,") and err.startswith("wrote ")


def test_cli_bad_inputs_exit_2_without_traceback(tmp_path, capsys):
    problem = str(REPO / "problems/chat-assistant.yaml")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["simulate", problem, str(bad)]) == 2
    err = capsys.readouterr().err
    assert "not valid JSON" in err and "Traceback" not in err
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(CHAT_PLAN))
    assert main(["simulate", problem, str(plan), "--duration", "-5"]) == 2
    assert main(["simulate", problem, str(plan), "--duration", "10", "--warmup", "20"]) == 2
    assert "warm-up" in capsys.readouterr().err
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert main(["simulate", problem, str(plan), "--duration", "10",
                 "--json", str(blocker / "out.json")]) == 2
    err = capsys.readouterr().err
    assert ("cannot write" in err or "cannot create the output folder" in err) and "Traceback" not in err


def test_cli_trace_generate_then_replay(tmp_path, capsys):
    problem = str(REPO / "problems/chat-assistant.yaml")
    csv_path = tmp_path / "t.csv"
    assert main(["trace", "generate", problem, "-o", str(csv_path), "--duration", "30"]) == 0
    lines = csv_path.read_text().splitlines()
    assert lines[0] == "arrival_s,workload,input_tokens,output_tokens"
    assert len(lines) - 1 == pytest.approx(40 * 30, rel=0.15)
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(CHAT_PLAN))
    assert main(["simulate", problem, str(plan), "--trace", str(csv_path), "--warmup", "0"]) == 0
    assert f"{len(lines) - 1} requests" in capsys.readouterr().out


def test_cli_trace_generate_of_one_period(tmp_path, capsys):
    """eight-quarter-growth: chat 12 req/s x 1.2^t, summarize 4 req/s x (0,0,0,0,1,2,2.2,2.4) from
    period 4.  Period 0 is chat alone at 12; the default, the busiest, is period 7 at
    12 x 1.2^7 + 9.6 = 52.6 req/s."""
    import csv
    problem = str(REPO / "problems/eight-quarter-growth.yaml")

    def rates(extra):
        out = tmp_path / "t.csv"
        assert main(["trace", "generate", problem, "-o", str(out), "--duration", "200", *extra]) == 0
        with out.open() as f:
            rows = list(csv.DictReader(f))
        return {w: sum(r["workload"] == w for r in rows) / 200 for w in ("chat", "summarize")}

    r0 = rates(["--period", "0"])
    assert r0["summarize"] == 0 and r0["chat"] == pytest.approx(12, rel=0.1)
    r7 = rates([])
    assert "period 7, the busiest" in capsys.readouterr().out
    assert r7["chat"] == pytest.approx(12 * 1.2 ** 7, rel=0.1) and r7["summarize"] == pytest.approx(9.6, rel=0.15)
    assert main(["trace", "generate", problem, "-o", str(tmp_path / "x.csv"), "--period", "8"]) == 2


def test_without_spares_moves_the_spare_replicas_traffic_to_the_others():
    # 30 req/s on 3 replicas, one of them the n+1 spare: 10 req/s each normally,
    # 15 req/s each on the 2 that remain when the spare is taken out.
    wl = workload("w", 30.0)
    doc = plan_doc([("d", 3)], [("w", "d", 30.0)])
    doc["deployments"][0]["spare_replicas"] = 1
    plan = parse_plan(doc, ["w"])
    eng = {"d": ConstantEngine(prefill_base_ms=1)}
    normal = simulate_plan([wl], plan, eng, SimOptions(duration_s=1000, warmup_s=0, seed=2))
    failed = simulate_plan([wl], plan, eng, SimOptions(duration_s=1000, warmup_s=0, seed=2,
                                                       without_spares=True))
    assert normal.deployments[0].simulated_replicas == 3
    assert failed.deployments[0].simulated_replicas == 2
    assert normal.n_requests == pytest.approx(30_000, rel=0.03)
    assert failed.n_requests == pytest.approx(30_000, rel=0.03)   # same fleet load
    assert failed.deployments[0].busy_s / 2 == pytest.approx(15 * 1000 * 0.001, rel=0.05)
    doc["deployments"][0]["spare_replicas"] = 4
    with pytest.raises(InputError, match="spare_replicas"):
        parse_plan(doc, ["w"])


def test_multi_period_plan_is_simulated_on_its_busiest_slice():
    """A multi-period plan keeps its fleet per period and slice; the simulator
    takes one (period, slice): by default the one with the most routed traffic."""
    from solver.sim.planfile import parse_plan, select_period

    dep = "llama-3.1-8b:fp8:tp2@h100-sxm@virginia/on_demand/aws:p5.48xlarge"

    def sl(rate, replicas):
        return {"deployments": [{"id": dep, "replicas": replicas, "spare_replicas": 0}],
                "routing": [{"workload": "chat", "deployment": dep, "requests_per_s": rate}]}

    doc = {"status": "optimal", "deployments": [], "routing": [],
           "periods": {"timeline": [{"period": 0, "slices": [sl(3.0, 1), sl(9.0, 2)]},
                                    {"period": 1, "slices": [sl(5.0, 1), sl(12.0, 3)]}]}}
    flat, label = select_period(doc)
    assert label.startswith("period 1, slice 1")
    plan = parse_plan(flat, ["chat"])
    d = plan.deployments[0]
    assert (d.model, d.quantization, d.tensor_parallel, d.accelerator) == ("llama-3.1-8b", "fp8", 2, "h100-sxm")
    assert d.replicas == 3 and plan.routing[0].requests_per_s == 12.0
    flat0, label0 = select_period(doc, period=0, slice_=0)
    assert parse_plan(flat0, ["chat"]).routing[0].requests_per_s == 3.0 and "period 0, slice 0" in label0
    with pytest.raises(InputError):
        select_period(doc, period=5)
    with pytest.raises(InputError, match="no slice 5 in the plan"):   # not "period None / slice 5"
        select_period(doc, slice_=5)
    single = {"deployments": [{"id": "x"}], "routing": []}
    assert select_period(single) == (single, None)


def test_a_period_without_a_workloads_demand_misses_no_slo_of_it(tmp_path, capsys):
    """eight-quarter-growth's summarisation starts in period 4: simulating period 0 has nothing of it
    to miss (it was counted as a miss and --check exited 6); the JSON says which period and slice."""
    problem = str(REPO / "problems/eight-quarter-growth.yaml")
    plan, out = tmp_path / "plan.json", tmp_path / "sim.json"
    assert main(["solve", problem, "--json", str(plan), "--quiet"]) == 0
    rc = main(["simulate", problem, str(plan), "--period", "0", "--duration", "20", "--check", "--json", str(out)])
    d = json.loads(out.read_text())
    assert (d["period"], d["unrouted_workloads"]) == (0, [])
    assert rc == (0 if d["all_slos_met"] else 6) and set(d["workloads"]) == {"chat"}


def test_a_trace_that_does_not_start_at_zero_keeps_its_rates(tmp_path, capsys):
    """Epoch timestamps (or a trace cut from a longer log): time counts from the first arrival; a
    +3000 s offset made 40 req/s read as 3.7 req/s."""
    problem = str(REPO / "problems/chat-assistant.yaml")
    plan, trace, shifted = tmp_path / "plan.json", tmp_path / "t.csv", tmp_path / "t3000.csv"
    plan.write_text(json.dumps(CHAT_PLAN))
    assert main(["trace", "generate", problem, "-o", str(trace), "--duration", "60"]) == 0
    lines = trace.read_text().splitlines()
    shifted.write_text("\n".join([lines[0]] + [f"{float(r.split(',')[0]) + 3000:.6f}," + r.split(",", 1)[1]
                                                for r in lines[1:]]) + "\n")
    rates = []
    for t in (trace, shifted):
        out = tmp_path / f"{t.stem}.json"
        assert main(["simulate", problem, str(plan), "--trace", str(t), "--warmup", "0", "--json", str(out)]) == 0
        rates.append(json.loads(out.read_text())["workloads"]["chat"]["requests_per_s"])
    assert rates[1] == pytest.approx(rates[0], rel=0.02) and rates[0] == pytest.approx(40, rel=0.15)
    assert "counted from its first arrival" in capsys.readouterr().out


def test_a_trace_request_longer_than_the_models_context_is_refused_and_the_trace_is_checked(tmp_path, capsys):
    """QA (known limit until now): trace token counts were not checked against the problem, and a
    300k-token prompt on a model of 131,072 tokens' context was queued and served (blocking the
    requests behind it) where a server refuses it.  Now it is never served, counted apart, and the
    CLI warns where the trace leaves the problem's token statistics."""
    problem = str(REPO / "problems/chat-assistant.yaml")     # input max 8,000; gpt-oss-20b: 131,072
    plan, trace, edited = tmp_path / "plan.json", tmp_path / "t.csv", tmp_path / "long.csv"
    plan.write_text(json.dumps(CHAT_PLAN))
    assert main(["trace", "generate", problem, "-o", str(trace), "--duration", "60"]) == 0
    lines = trace.read_text().splitlines()
    rows = [r.split(",") for r in lines[1:]]
    for i, r in enumerate(rows):
        if i % 20 == 0:
            r[2] = "200000"                 # 200,000 + answer > 131,072: refused
        elif i % 20 == 1:
            r[2] = "130000"                 # within the window unless its answer pushes it over
    long = sum(1 for r in rows if int(r[2]) + int(r[3]) > 131072)
    assert long >= len(rows) // 20
    edited.write_text("\n".join([lines[0]] + [",".join(r) for r in rows]) + "\n")
    capsys.readouterr()
    out = tmp_path / "s.json"
    assert main(["simulate", problem, str(plan), "--trace", str(edited), "--warmup", "0", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    w = json.loads(out.read_text())["workloads"]["chat"]
    assert w["over_context"] == long and w["unserved"] >= long
    assert f"({long} longer than the model's context window)" in text
    assert "more input_tokens than the problem's input_tokens.max (8,000; up to 200,000)" in text
    # the generated trace itself is within the problem's figures: no warning
    main(["simulate", problem, str(plan), "--trace", str(trace), "--warmup", "0"])
    plain = capsys.readouterr().out
    assert "warning: trace" not in plain and "context window" not in plain


def test_sliding_window_layers_hold_only_their_window_in_the_cache():
    """gpt-oss-20b alternates full-attention and 128-token sliding-window layers (config.json:
    24 layers, half of them sliding, the same KV heads in both): a sequence of c tokens holds c
    tokens in the full layers and min(c, 128) in the sliding ones, so it takes (c + 128) / 2 of the
    cache's every-layer tokens, the perf model's memory rule.  The simulator reserved c (QA: gpt-oss
    batches filled the cache about twice as early as the model plans for)."""
    from solver.catalog import default_catalog
    from solver.perf import PerfCandidate, engine_spec

    spec = engine_spec(default_catalog(), PerfCandidate("h100-sxm", "gpt-oss-20b", "fp8", 1))
    assert spec.terms.kv_full_tok_dev == pytest.approx(spec.terms.kv_sw_tok_dev) and spec.terms.window == 128
    # one 20,000-token prompt with a 100-token answer at a time (0.02 req/s, each served in ~1 s)
    wl = workload("rag", 0.02, inp=20_000, out=100, ttft_ms=10_000.0, tpot_ms=1000.0)
    plan = parse_plan(plan_doc([("d", 1)], [("rag", "d", 0.02)]), ["rag"])
    sim = simulate_plan([wl], plan, {"d": spec}, SimOptions(duration_s=2000, warmup_s=0, seed=2))
    run = sim.deployments[0]
    held = (20_100 + 128) / 2                      # 10,114 cache tokens, not 20,100
    assert run.peak_kv_fraction == pytest.approx(held / spec.kv_capacity_tokens, rel=1e-9)
    assert spec.kv_cache_tokens(100) == 100       # within the window: one cache token per token


def test_a_problem_with_measured_capacities_says_the_simulator_does_not_use_them(tmp_path, capsys):
    """QA (s20): an imported Mélange plan, sized on profiled capacities, simulated as 'all SLOs met'
    on the performance model's figures without a word that the measurements play no part."""
    import yaml
    doc = yaml.safe_load((REPO / "problems/chat-assistant.yaml").read_text())
    doc["measurements"] = [{"accelerator": "h100-sxm", "model": "gpt-oss-20b", "quantization": "fp8",
                            "workload": "chat", "max_requests_per_s": 50.0}]
    problem, plan = tmp_path / "p.yaml", tmp_path / "plan.json"
    problem.write_text(yaml.safe_dump(doc))
    plan.write_text(json.dumps(CHAT_PLAN))
    assert main(["simulate", str(problem), str(plan), "--duration", "5"]) == 0
    out = capsys.readouterr().out
    assert "1 measured capacities" in out and "not the measurements" in out
    assert main(["simulate", str(REPO / "problems/chat-assistant.yaml"), str(plan), "--duration", "5"]) == 0
    assert "measured capacities" not in capsys.readouterr().out


def test_simulate_says_when_the_plan_was_made_from_other_problem_content(tmp_path, capsys):
    """QA s26: a plan simulated against the problem with its prompts edited (1,000 -> 3,000 tokens) was
    flagged optimistic on every route, with nothing saying that the plan was made for other content
    (verify says so from versions.problem)."""
    from solver.problem.load import load_problem
    problem = REPO / "problems/chat-assistant.yaml"
    plan = tmp_path / "plan.json"
    made_for = load_problem(problem).problem.fingerprint()
    plan.write_text(json.dumps(dict(CHAT_PLAN, problem="chat-assistant", versions={"problem": made_for})))
    assert main(["simulate", str(problem), str(plan), "--duration", "5"]) == 0
    assert "made from other problem content" not in capsys.readouterr().out
    edited = tmp_path / "chat-assistant.yaml"
    edited.write_text(problem.read_text().replace("mean: 1000", "mean: 3000", 1))
    assert edited.read_text() != problem.read_text()
    main(["simulate", str(edited), str(plan), "--duration", "5"])
    assert f"warning: the plan was made from other problem content ({made_for}; this file gives " \
           in capsys.readouterr().out


def test_a_route_that_drew_no_request_is_named_and_duration_with_a_trace_is_refused(tmp_path, capsys):
    """QA s26: a route of 0.0005 req/s drew no request in the run and left both route tables without a
    word; --duration 100 with a trace was ignored (the trace's whole span was simulated)."""
    problem = str(REPO / "problems/chat-assistant.yaml")
    two = dict(CHAT_PLAN, deployments=CHAT_PLAN["deployments"] + [dict(CHAT_PLAN["deployments"][0], id="d2")],
               routing=[dict(CHAT_PLAN["routing"][0], requests_per_s=39.9995),
                        {"workload": "chat", "deployment": "d2", "requests_per_s": 0.0005, "share": 0.0}])
    plan, out = tmp_path / "plan.json", tmp_path / "sim.json"
    plan.write_text(json.dumps(two))
    assert main(["simulate", problem, str(plan), "--duration", "20", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["unmeasured_routes"] == [
        {"workload": "chat", "deployment": "d2", "planned_rps": 0.0005}]
    assert "routes with no request in this run (not measured, not in the tables above): chat -> d2 " \
           "(0.0005 req/s planned)" in capsys.readouterr().out
    trace = tmp_path / "t.csv"
    assert main(["trace", "generate", problem, "-o", str(trace), "--duration", "10"]) == 0
    assert main(["simulate", problem, str(plan), "--trace", str(trace), "--duration", "5"]) == 2
    assert "--duration is the length of Poisson traffic; with --trace" in capsys.readouterr().err
