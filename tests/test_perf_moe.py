"""Few-expert MoE (Mixtral: 8 experts, top-2): the expert traffic 1 - (1 - 2/8)^B is steep at a
small batch.  QA found the p99 TPOT at batch 1 above the step that reads every expert, the p99
falling between batch 2 and 12, and the capacity search settling at batch 1.3 (0.45 req/s) where
batch 24 meets the target at 3.06 req/s.  Expected values: bounds from the printed step terms and
a brute-force scan of the batch, not the search."""

from __future__ import annotations

import numpy as np
import pytest

from solver.catalog import default_catalog
from solver.perf import PerfCandidate, PerfWorkload, engine_spec, evaluate
from solver.perf.model import _ok, _point, _prefill_moments, _prepare, operating_point
from solver.perf.params import default_params

CAT = default_catalog()
P = default_params()
CAND = PerfCandidate("mi300x", "mixtral-8x7b", "bf16", 1)
NO_TTFT = 1e11   # ms: no TTFT target, as `fleetopt perf --batch` without targets


def wl(tpot_ms, ttft_ms=450.0):
    return PerfWorkload("w", 300, 290, ttft_ms, tpot_ms, 99, input_cv=0.5)


def test_tail_at_batch_1_below_reading_every_expert():
    # batch 1 runs 2 of 8 experts; a request's mean step cannot exceed the step that runs all 8
    # (memory-bound: non-expert + all expert bytes at the bandwidth, ~23.9 ms with the fixed step
    # cost; plus k x the compute, every expert's tile padding included: QA s22), over (1 - prefill share)
    t = engine_spec(CAT, CAND, P).terms
    op = operating_point(CAT, CAND, wl(1e6, NO_TTFT), 1.0, P)
    mem_ms = (t.ne_time_s + t.exp_time_s + t.overhead_s + t.comm_fixed_s) * 1e3
    assert 23.0 < mem_ms < 25.0
    step_all_ms = mem_ms + t.unoverlapped * (t.exp_pad_s + t.flops_tok / t.flops_per_s) * 1e3
    assert op["tpot_ms"] < step_all_ms / (1.0 - op["prefill_utilisation"])


def test_tail_grows_with_batch():
    # QA: 27.5, 30.1, 26.7, 28.4 ms at batches 1, 2, 12, 24
    p99 = [operating_point(CAT, CAND, wl(1e6, NO_TTFT), b, P)["tpot_ms"] for b in (1, 2, 4, 8, 12, 24)]
    assert all(a <= b for a, b in zip(p99, p99[1:])), p99


def test_capacity_is_the_largest_feasible_batch():
    # brute force: every batch of a fine geometric grid, feasibility from the model's own miss sum
    for tpot in (29.0, 30.0):
        w = wl(tpot)
        cap = evaluate(CAT, [CAND], [w], P)
        s = _prepare(CAT, [CAND], [w], P)["s"]
        grid = np.exp(np.linspace(np.log(1e-3), np.log(float(s["b_max"][0])), 2000))
        p = _point(grid, {k: (np.repeat(v, grid.size) if isinstance(v, np.ndarray) else v) for k, v in s.items()})
        ok = _ok(p, {"tail": np.repeat(s["tail"], grid.size)})
        best = float(p["lam"][ok].max())
        # batch ~24 and beyond meet 29 ms (QA: 3.06 req/s; 2.78 since the PCIe refit's MoE efficiency,
        # 1.99 since the tile padding doubles the expert FLOPs of 6 tokens per expert, QA s22), far
        # above the 0.45 req/s at batch 1.3 the QA's search settled at
        assert best > 1.5
        assert cap.max_rps[0, 0] >= best * 0.99, (tpot, cap.max_rps[0, 0], best)


# --------------------------------------------------------------------------- a prompt's own experts (QA s21)

DSV3 = PerfCandidate("h200-sxm", "deepseek-v3", "fp8", 8)


def short_prompt():
    return PerfWorkload("w", 50, 300, 1e11, 1e6, 99, input_dist="fixed", output_dist="fixed")


def test_ttft_at_batch_1_pays_the_experts_the_prompt_reads():
    # 50 prompt tokens of 256 experts top-8 route to 1 - (248/256)^50 = 80% of the routed experts;
    # joining a batch-1 step (which reads 1 - 248/256 = 3% of them) the iteration reads at least
    # every non-expert weight and 1 - (248/256)^51 of the experts: its memory floor.  QA: TTFT p99
    # 19.0 ms under the 24.9 ms standalone prefill.
    spec = engine_spec(CAT, DSV3, P)
    t = spec.terms
    op = operating_point(CAT, DSV3, short_prompt(), 1.0, P)
    floor_ms = (t.ne_time_s + t.exp_time_s * (1.0 - (248 / 256) ** 51) + t.overhead_s) * 1e3
    assert op["ttft_ms"] >= floor_ms
    assert op["ttft_ms"] >= float(spec.prefill_ms(50))


def test_prompt_experts_beyond_the_decode_batch_only():
    # the prompt's expert term is ex (1-p)^B (1 - (1-p)^I) plus the tile padding it adds,
    # pad(B + I) - pad(B) with pad(n) = A R / (A + R), A = xp (1 - (1-p)^n), R = xt n: at batch B the mean prompt cost
    # m1 exceeds the compute-only one by exactly that (fixed 50-token prompts, one chunk)
    pp = _prepare(CAT, [DSV3], [short_prompt()], P)
    s = pp["s"]
    t = engine_spec(CAT, DSV3, P).terms
    q = 248 / 256

    def pad(n):
        a, r = t.exp_pad_s * (1.0 - q ** n), t.exp_tok_s * n
        return a * r / (a + r)

    for b in (1.0, 16.0, 200.0):
        extra = _prefill_moments(b, s)[0] - s["m1"]
        want = t.exp_time_s * q ** b * (1.0 - q ** 50) + pad(b + 50) - pad(b)
        assert np.allclose(extra, want, rtol=1e-12, atol=0.0), (b, extra, want)


def test_mixtral_prompt_experts_vanish_at_a_large_batch():
    # 8 experts top-2: a batch of 32 reads 1 - 0.75^32 = 99.99% of them, so a prompt adds < 1e-4 of
    # the expert read time: the capacity at a large batch is what it was.  Its tile padding, the blend
    # A R / (A + R) of t0 rows in each expert run (A) and the rows routed (R = 2 per token, so
    # A / R = 4 t0 (1 - 0.75^n) / n): the batch's 32 tokens and the 332 with the prompt's 300
    cand = PerfCandidate("h100-sxm", "mixtral-8x7b", "fp8", 1)
    w = PerfWorkload("w", 300, 290, 1e11, 1e6, 99, input_cv=0.5)
    t = engine_spec(CAT, cand, P).terms
    s = _prepare(CAT, [cand], [w], P)["s"]
    extra = _prefill_moments(32.0, s)[0] - s["m1"]
    a332, a32, r332, r32 = t.exp_pad_s * (1 - 0.75 ** 332), t.exp_pad_s * (1 - 0.75 ** 32), t.exp_tok_s * 332, t.exp_tok_s * 32
    read = extra[0] - (a332 * r332 / (a332 + r332) - a32 * r32 / (a32 + r32))
    assert 0.0 < read <= t.exp_time_s * 0.75 ** 32 * (1 + 1e-9)


# --------------------------------------------------------------------------- tile padding (QA s22)

def test_a_step_pads_each_expert_it_runs_blended_with_its_routed_rows():
    """gpt-oss-120b (36 layers, 128 experts top-4, 2880 x 2880 experts) on H200 with 32 rows of padding
    and the memory and compute times summed (unoverlapped fraction 1): a decode step's extra time over
    the same step without padding is the padding's FLOPs at the replica's FLOP/s, A R / (A + R) rows
    (A = 32 rows in each expert run, R = the rows routed).  Batch 64: 1 - (31/32)^64 = 0.86892 of the 128
    experts run, A = 3559.1, R = 256, 238.82 rows; batch 2048 (64 tokens per expert; all run,
    1 - (31/32)^2048 = 1 - 5e-29): A = 4096, R = 8192, 2730.67 rows.  QA s22: gpt-oss decode was too
    fast, prefill too slow."""
    cand = PerfCandidate("h200-sxm", "gpt-oss-120b", "mxfp4", 1)
    per_row = 36 * 3 * 2 * 2880 * 2880              # FLOPs of one token row through one expert, all layers
    specs = [engine_spec(CAT, cand, P.with_groups(P.groups, unoverlapped_fraction=1.0, moe_tile_padding_tokens=t0))
             for t0 in (0.0, 32.0)]
    F = specs[0].terms.flops_per_s
    for b, rows in ((64, 238.82), (2048, 2730.67)):
        extra_ms = float(specs[1].decode_step_ms(b, b * 2000) - specs[0].decode_step_ms(b, b * 2000))
        assert extra_ms == pytest.approx(rows * per_row / F * 1e3, rel=2e-5), b
    # a standalone prefill of 8192 tokens (256 per expert) runs every expert: A = 4096, R = 32768
    extra_ms = float(specs[1].prefill_ms(8192) - specs[0].prefill_ms(8192))
    assert extra_ms == pytest.approx(4096 * 32768 / 36864 * per_row / F * 1e3, rel=1e-9)


def test_dense_models_pay_no_padding():
    t = engine_spec(CAT, PerfCandidate("h100-sxm", "llama-3.1-8b", "fp8", 1), P).terms
    assert t.exp_pad_s == 0.0 and t.exp_tok_s == 0.0


def test_a_larger_batch_never_lowers_the_mean_tpot():
    """QA s22: with the padding min(A, R) a prompt joining the step paid its routed rows twice below
    the kink n ~ t0 / p and ~nothing above it, so gpt-oss-120b fp8 on H200 at 128/64 tokens went from
    145 to 184 req/s and its mean TPOT fell from 123.9 to 107.6 ms as the batch grew from 1150 to 1268.
    The blend A R / (A + R) grows smoothly: a larger batch costs every request some time."""
    cand = PerfCandidate("h200-sxm", "gpt-oss-120b", "fp8", 1)
    w = PerfWorkload("w", 128, 64, NO_TTFT, 1e6, 99)
    ops = [operating_point(CAT, cand, w, b, P) for b in range(1000, 1401, 10)]
    tpot = [op["tpot_mean_ms"] for op in ops]
    rps = [op["max_rps"] for op in ops]
    assert all(a < b for a, b in zip(tpot, tpot[1:])), tpot
    # the rate grows with the batch by at most its share: lambda = B / (O x mean TPOT)
    assert all(b / a < 1.01 + 1e-9 for a, b in zip(rps, rps[1:])), rps


def test_a_feasible_range_narrower_than_the_old_scan_step_is_found():
    """QA s26: gpt-oss-120b BF16 at TP2 on H200, 58 / 42 tokens (cv 1), TTFT 10,609 ms, TPOT 50.8 ms at
    p99.9: the model's own criterion is met at batch 100-128 (a range x1.3 wide) but not at 20-80, and the
    scan down from the bound in steps of x1.65 passed over it and settled near batch 6 (10.4 req/s).  At
    the fixed batch 119.7 `perf --batch` meets both targets (an operating point, no search): the capacity
    is at least that point's rate."""
    cat = default_catalog()
    cand = PerfCandidate("h200-sxm", "gpt-oss-120b", "bf16", 2)
    w = PerfWorkload("w", 58, 42, 10609, 50.8, percentile=99.9, input_cv=1.0, output_cv=1.0)
    op = operating_point(cat, cand, w, 119.7)
    assert op["ttft_ms"] <= 10609 and op["tpot_ms"] <= 50.8
    cap = evaluate(cat, [cand], [w])
    assert cap.max_rps[0, 0] >= op["max_rps"] * (1 - 1e-6) > 60.0
