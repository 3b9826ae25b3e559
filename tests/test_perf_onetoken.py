"""One-token answers have no TPOT (a single token has no time between tokens): the model, the perf
JSON and the plan report it as unknown (NaN / null), not the step time (QA: 317.66 ms)."""

from __future__ import annotations

import json
import math

from solver.catalog import default_catalog
from solver.cli import main
from solver.perf import PerfCandidate, PerfWorkload, evaluate
from solver.perf.model import operating_point

CAT = default_catalog()
CAND = PerfCandidate("h100-sxm", "llama-3.1-8b", "fp8", 1)
ARGS = ["perf", "--accelerator", "h100-sxm", "--model", "llama-3.1-8b", "--quantization", "fp8",
        "--input-tokens", "1000", "--output-tokens", "1"]


def test_one_token_answers_have_no_tpot_in_the_model():
    one = PerfWorkload("one", 1000, 1, 500, 50)
    two = PerfWorkload("two", 1000, 2, 500, 50)
    cap = evaluate(CAT, [CAND], [one, two])
    assert cap.max_rps[0, 0] > 0 and math.isnan(cap.tpot_ms[0, 0])
    assert math.isfinite(cap.tpot_ms[0, 1])                  # two tokens: one gap, a TPOT
    assert math.isnan(operating_point(CAT, CAND, one, 2.0)["tpot_ms"])


def test_one_token_answers_have_null_tpot_in_perf_json(capsys):
    for extra in (["--ttft-ms", "500", "--tpot-ms", "50"], ["--batch", "2"]):
        assert main(ARGS + extra + ["--json"]) == 0
        d = json.loads(capsys.readouterr().out)
        assert d["tpot_ms"] is None and d["tpot_mean_ms"] is None, d


def test_perf_text_says_the_chunk_budget_is_the_engine_setting(capsys):
    # README: the budget is fixed at prefill_chunk_tokens (8192); the text said it was "the smallest
    # within 512-8192 that meets the TTFT target"
    assert main(ARGS[:-1] + ["290", "--ttft-ms", "500", "--tpot-ms", "50"]) == 0
    out = capsys.readouterr().out
    assert "prompt chunk budget 8,192 tokens per iteration" in out
    assert "smallest within" not in out and "prefill_chunk_tokens" in out


def test_a_tpot_target_does_not_limit_one_token_answers():
    """QA review: with one output token there is no gap between tokens, yet the TPOT target set the
    capacity (L4, 500-token prompts: 4.34 req/s at TPOT 50 ms, 0.028 at 1.5 ms; a TPOT Pareto front
    bought 118 L4s).  Any TPOT target now gives what no TPOT target gives; two-token answers still
    feel it (their one gap is a decode step)."""
    cand = PerfCandidate("l4", "llama-3.1-8b", "fp8", 1)
    wls = [PerfWorkload("one", 500, 1, 2000, t, output_dist="fixed") for t in (1.5, 50.0, 1e9)]
    wls.append(PerfWorkload("two", 500, 2, 2000, 1.5, output_dist="fixed"))
    cap = evaluate(CAT, [cand], wls).max_rps[0]
    assert cap[0] == cap[1] == cap[2] > 0
    assert cap[3] < cap[2] * 0.5
