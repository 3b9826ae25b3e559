"""The replica simulator against closed forms, hand timelines and a naive reference.

Engines here are synthetic (:class:`ConstantEngine`), so these tests do not
depend on the performance model.
"""

from __future__ import annotations

import math
from types import SimpleNamespace as NS

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solver.sim.core import simulate_replica
from solver.sim.engine import ConstantEngine, StepTable
from solver.sim.traffic import poisson_arrivals, sample_tokens


def run(engine, arr, inp, out, max_batch=None, cap=None, chunk=None):
    max_batch = max_batch or engine.max_batch
    cap = cap or engine.kv_capacity_tokens
    table = StepTable(engine, max_batch, cap)
    pre = engine.prefill_ms(np.asarray(inp)) / 1000.0
    marg = engine.prefill_marginal_ms(np.asarray(inp)) / 1000.0
    return simulate_replica(np.asarray(arr, float), inp, out, pre, table, cap, max_batch,
                            prefill_marginal_s=marg, prefill_chunk_tokens=chunk)


def naive_chunked(engine, arr, inp, out, max_batch, cap, chunk):
    """Reference with chunked prefill, one iteration at a time.

    A chunk of c tokens of an n-token prompt costs marginal(n) * c / n (linear cost curve).
    """
    n = len(arr)
    first = [math.nan] * n
    fin = [math.nan] * n
    t, q, kv, done = 0.0, 0, 0, 0
    running: list[list[int]] = []   # [request, tokens generated]
    prefilling: list[list[int]] = []  # [request, prompt tokens left]
    too_big = {j for j in range(n) if inp[j] + out[j] > cap}   # rejected, never queued
    done = len(too_big)
    while done < n:
        a = int(np.searchsorted(arr, t, side="right"))
        while q < a and q in too_big:
            q += 1
        if not running and not prefilling and q == a:
            while q < n and q in too_big:
                q += 1
            if q < n:
                t = max(t, arr[q])
            continue
        while q < a and len(running) + len(prefilling) < max_batch and kv + inp[q] + out[q] <= cap:
            kv += inp[q] + out[q]
            prefilling.append([q, inp[q]])
            q += 1
            while q < a and q in too_big:
                q += 1
        if running:
            dt = engine.decode_step_ms(len(running), sum(inp[j] + g for j, g in running)) / 1000.0
        elif prefilling:
            j = prefilling[0][0]
            dt = float(engine.prefill_ms(inp[j]) - engine.prefill_marginal_ms(inp[j])) / 1000.0
        else:
            dt = 0.0
        budget = chunk
        finished = []
        while prefilling and budget > 0:
            j, left = prefilling[0]
            c = min(left, budget)
            dt += float(engine.prefill_marginal_ms(inp[j])) / 1000.0 * (c / inp[j] if inp[j] else 1.0)
            budget -= c
            prefilling[0][1] -= c
            if prefilling[0][1] == 0:
                finished.append(j)
                prefilling.pop(0)
        t += dt
        still = []
        for r in running:
            r[1] += 1
            if r[1] == out[r[0]]:
                fin[r[0]] = t
                kv -= inp[r[0]] + out[r[0]]
                done += 1
            else:
                still.append(r)
        running = still
        for j in finished:
            first[j] = t
            if out[j] == 1:
                fin[j] = t
                kv -= inp[j] + out[j]
                done += 1
            else:
                running.append([j, 1])
    return np.array(first), np.array(fin)


def naive(engine, arr, inp, out, max_batch, cap):
    """Reference: the same semantics, one iteration at a time, calling the engine directly."""
    n = len(arr)
    first = [math.nan] * n
    fin = [math.nan] * n
    t = 0.0
    q = 0
    running: list[list[int]] = []  # [request, tokens generated]
    kv = 0
    done = 0
    while done < n:
        a = int(np.searchsorted(arr, t, side="right"))
        if not running and q == a:
            t = arr[q]
            continue
        admitted = []
        while q < a and len(running) + len(admitted) < max_batch and kv + inp[q] + out[q] <= cap:
            kv += inp[q] + out[q]
            admitted.append(q)
            q += 1
        dt = sum(float(engine.prefill_ms(inp[j])) / 1000.0 for j in admitted)
        if running:
            ctx = sum(inp[j] + g for j, g in running)
            dt += engine.decode_step_ms(len(running), ctx) / 1000.0
        t += dt
        still = []
        for r in running:
            r[1] += 1
            if r[1] == out[r[0]]:
                fin[r[0]] = t
                kv -= inp[r[0]] + out[r[0]]
                done += 1
            else:
                still.append(r)
        running = still
        for j in admitted:
            first[j] = t
            if out[j] == 1:
                fin[j] = t
                kv -= inp[j] + out[j]
                done += 1
            else:
                running.append([j, 1])
    return np.array(first), np.array(fin)


def test_single_request_at_low_load_sees_exact_prefill_and_step_time():
    # prefill = 20 ms + 0.01 ms/token * 500 = 25 ms; decode step = 8 ms (no context term)
    eng = ConstantEngine(prefill_base_ms=20, prefill_ms_per_token=0.01, decode_base_ms=8)
    r = run(eng, [1.0, 100.0], np.array([500, 500]), np.array([11, 11]))
    ttft = r.first_token_s - np.array([1.0, 100.0])
    assert ttft == pytest.approx([0.025, 0.025], abs=1e-12)
    tpot = (r.finish_s - r.first_token_s) / 10
    assert tpot == pytest.approx([0.008, 0.008], abs=1e-12)
    # busy: 2 x (25 ms + 10 x 8 ms) = 0.21 s
    assert r.busy_s == pytest.approx(0.21, abs=1e-12)


def test_hand_timeline_with_batching_and_prefill_interference():
    # prefill 100 ms flat, decode 10 ms flat.  R1 at 0 (3 tokens out), R2 at 50 ms (2 tokens).
    # t=0.00 admit R1; prefill -> first token R1 at 0.10
    # t=0.10 R2 waiting: admit; iteration = prefill R2 (0.10) + decode R1 (0.01) -> 0.21
    #        R1 has 2 tokens, R2 has its first token at 0.21
    # t=0.21 decode both (0.01) -> 0.22: R1 done (3 tokens), R2 done (2 tokens)
    eng = ConstantEngine(prefill_base_ms=100, decode_base_ms=10)
    r = run(eng, [0.0, 0.05], np.array([10, 10]), np.array([3, 2]))
    assert r.first_token_s == pytest.approx([0.10, 0.21], abs=1e-12)
    assert r.finish_s == pytest.approx([0.22, 0.22], abs=1e-12)
    tpot = (r.finish_s - r.first_token_s) / (np.array([3, 2]) - 1)
    assert tpot == pytest.approx([0.06, 0.01], abs=1e-12)


def test_kv_limit_makes_requests_wait_for_memory():
    # Each request needs 60 + 40 = 100 KV tokens; capacity 150 holds one at a time.
    # prefill 10 ms, decode 5 ms.  R1 at 0: first 0.010, 39 steps -> done 0.010 + 0.195 = 0.205.
    # R2 arrives at 0.001 but waits for memory: admitted at 0.205, first token 0.215,
    # done 0.215 + 0.195 = 0.410.
    eng = ConstantEngine(prefill_base_ms=10, decode_base_ms=5)
    inp, out = np.array([60, 60]), np.array([40, 40])
    r = run(eng, [0.0, 0.001], inp, out, max_batch=8, cap=150)
    assert r.first_token_s == pytest.approx([0.010, 0.215], abs=1e-12)
    assert r.finish_s == pytest.approx([0.205, 0.410], abs=1e-12)
    assert r.peak_kv_tokens == 100
    # with room for both, R2 is admitted at 0.010 and gets its first token at 0.010+0.010+0.005
    r2 = run(eng, [0.0, 0.001], inp, out, max_batch=8, cap=200)
    assert r2.first_token_s == pytest.approx([0.010, 0.025], abs=1e-12)


def test_reserving_the_longest_answer_admits_fewer_requests():
    # Same two requests as above, cap 200: with their actual 100 tokens each both fit, but
    # reserving 140 tokens each (input + a 80-token longest answer) lets only one in at a time:
    # R2 waits for R1 (done 0.205) and gets its first token at 0.215.
    eng = ConstantEngine(prefill_base_ms=10, decode_base_ms=5)
    inp, out = np.array([60, 60]), np.array([40, 40])
    table = StepTable(eng, 8, 200)
    pre = eng.prefill_ms(inp) / 1000.0
    r = simulate_replica(np.array([0.0, 0.001]), inp, out, pre, table, 200, 8,
                         kv_reserve_tokens=np.array([140, 140]))
    assert r.first_token_s == pytest.approx([0.010, 0.215], abs=1e-12)
    assert r.peak_kv_tokens == 140
    # the reservation is what the cache holds (below the final context where sliding-window layers
    # hold only a window): two 1-token reservations both fit
    r2 = simulate_replica(np.array([0.0, 0.001]), inp, out, pre, table, 200, 8,
                          kv_reserve_tokens=np.array([1, 1]))
    assert r2.first_token_s == pytest.approx([0.010, 0.025], abs=1e-12)
    assert r2.peak_kv_tokens == 2          # what was reserved, not the final contexts (200)


def test_request_larger_than_the_cache_is_rejected_not_hung():
    eng = ConstantEngine(prefill_base_ms=1, decode_base_ms=1)
    r = run(eng, [0.0, 0.0], np.array([100, 10]), np.array([100, 10]), max_batch=4, cap=150)
    assert r.rejected.tolist() == [True, False]
    assert math.isnan(r.first_token_s[0]) and r.first_token_s[1] == pytest.approx(0.001)


def test_max_batch_limit_queues_the_rest():
    # max_batch 2, three simultaneous requests of 5 output tokens, prefill 0, decode 10 ms.
    # R1, R2 admitted at 0 (first token at 0), 4 steps -> done 0.04; R3 admitted at 0.04.
    eng = ConstantEngine(prefill_base_ms=0, decode_base_ms=10)
    r = run(eng, [0.0, 0.0, 0.0], np.array([1, 1, 1]), np.array([5, 5, 5]), max_batch=2)
    assert r.first_token_s == pytest.approx([0.0, 0.0, 0.04], abs=1e-12)
    assert r.finish_s == pytest.approx([0.04, 0.04, 0.08], abs=1e-12)


def test_md1_mean_wait_matches_closed_form():
    # Single slot (max_batch 1), one output token: service = prefill = 10 ms fixed.
    # M/D/1: W = rho * S / (2 (1 - rho)); rho = 70 * 0.010 = 0.7 -> W = 0.0116667 s.
    S, lam = 0.010, 70.0
    eng = ConstantEngine(prefill_base_ms=S * 1000, decode_base_ms=1, max_batch=1)
    rng = np.random.default_rng(7)
    arr = poisson_arrivals(lam, 4000.0, rng)
    n = len(arr)
    r = run(eng, arr, np.full(n, 100), np.ones(n, np.int64), max_batch=1)
    wait = r.first_token_s - arr - S
    rho = lam * S
    w_closed = rho * S / (2 * (1 - rho))
    assert wait.min() >= -1e-12
    assert wait.mean() == pytest.approx(w_closed, rel=0.04)
    assert r.busy_s / r.end_s == pytest.approx(rho, rel=0.02)


def test_mm1_mean_wait_matches_closed_form():
    # Exponential prompt lengths (mean 2000 tokens) at 0.005 ms/token: exponential service of
    # mean 10 ms.  M/M/1: W = rho / (mu - lambda) = 0.6 / (100 - 60) = 0.015 s.
    lam, mean_s = 60.0, 0.010
    eng = ConstantEngine(prefill_ms_per_token=0.005, decode_base_ms=1, max_batch=1)
    rng = np.random.default_rng(11)
    arr = poisson_arrivals(lam, 4000.0, rng)
    n = len(arr)
    inp = sample_tokens(NS(mean=2000, distribution="exponential", max=None), n, rng)
    r = run(eng, arr, inp, np.ones(n, np.int64), max_batch=1)
    wait = r.first_token_s - arr - inp * 0.005 / 1000
    rho = lam * mean_s
    assert wait.mean() == pytest.approx(rho / (1 / mean_s - lam), rel=0.05)


@pytest.mark.parametrize("seed,cap,max_batch", [(1, 1e9, 16), (2, 3000, 64), (3, 2500, 3)])
def test_fast_forwarding_equals_iteration_by_iteration_reference(seed, cap, max_batch):
    # Affine step time in batch and context: the mid-point rule and the quadratic are exact,
    # so the event-skipping simulator must reproduce the naive one to rounding.
    eng = ConstantEngine(prefill_base_ms=3, prefill_ms_per_token=0.02, decode_base_ms=6,
                         decode_ms_per_seq=0.3, decode_ms_per_ctx_token=0.002,
                         kv_capacity_tokens=cap, max_batch=max_batch)
    rng = np.random.default_rng(seed)
    arr = poisson_arrivals(40.0, 40.0, rng)
    n = len(arr)
    inp = sample_tokens(NS(mean=300, cv=1.0, distribution="lognormal", max=1200), n, rng)
    out = sample_tokens(NS(mean=30, cv=1.0, distribution="lognormal", max=200), n, rng)
    r = run(eng, arr, inp, out, max_batch=max_batch, cap=cap)
    f_ref, d_ref = naive(eng, arr, inp.tolist(), out.tolist(), max_batch, cap)
    assert n > 1000
    np.testing.assert_allclose(r.first_token_s, f_ref, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(r.finish_s, d_ref, rtol=1e-9, atol=1e-9)


def test_token_sampling_moments():
    rng = np.random.default_rng(3)
    x = sample_tokens(NS(mean=1000, cv=0.8, distribution="lognormal", max=None), 200_000, rng)
    assert x.mean() == pytest.approx(1000, rel=0.01)
    assert x.std() / x.mean() == pytest.approx(0.8, rel=0.03)
    capped = sample_tokens(NS(mean=1000, cv=0.8, distribution="lognormal", max=1500), 1000, rng)
    assert capped.max() <= 1500 and capped.min() >= 1
    fixed = sample_tokens(NS(mean=99.6, distribution="fixed", max=None), 5, rng)
    assert fixed.tolist() == [100] * 5


def test_chunked_prefill_hand_timeline():
    # prefill 0.01 ms/token (no base), decode 5 ms flat, chunks of 100 tokens.
    # R1 (10 tokens in) at 0: first token at 0.0001 s, then decodes alone.
    # R2 (250 tokens in, 2 out) at 0.001: the decode step in flight ends at 0.0051;
    # then 3 mixed iterations: 5 + 1, 5 + 1, 5 + 0.5 ms -> first token at 0.0226 s,
    # one more decode step (5 ms) -> done at 0.0276 s.
    eng = ConstantEngine(prefill_ms_per_token=0.01, decode_base_ms=5)
    r = run(eng, [0.0, 0.001], np.array([10, 250]), np.array([100, 2]), chunk=100)
    assert r.first_token_s == pytest.approx([0.0001, 0.0226], abs=1e-12)
    assert r.finish_s[1] == pytest.approx(0.0276, abs=1e-12)
    # whole prompt: one iteration of 5 + 2.5 ms after 0.0051
    w = run(eng, [0.0, 0.001], np.array([10, 250]), np.array([100, 2]), chunk=None)
    assert w.first_token_s[1] == pytest.approx(0.0126, abs=1e-12)
    # R1 decoded during R2's chunks: 5 iterations by 0.0276 -> 6 tokens, 94 steps of 5 ms left
    assert r.finish_s[0] == pytest.approx(0.0276 + 94 * 0.005, abs=1e-9)


@pytest.mark.parametrize("seed,chunk,cap,max_batch", [(4, 64, 1e9, 16), (5, 256, 2500, 8),
                                                      (6, 1, 1e9, 4)])
def test_chunked_prefill_equals_iteration_by_iteration_reference(seed, chunk, cap, max_batch):
    eng = ConstantEngine(prefill_base_ms=2, prefill_ms_per_token=0.02, decode_base_ms=6,
                         decode_ms_per_seq=0.3, decode_ms_per_ctx_token=0.002,
                         kv_capacity_tokens=cap, max_batch=max_batch, marginal_prefill_base=False)
    rng = np.random.default_rng(seed)
    arr = poisson_arrivals(25.0, 30.0 if chunk > 1 else 8.0, rng)
    n = len(arr)
    inp = sample_tokens(NS(mean=300, cv=1.0, distribution="lognormal", max=1200), n, rng)
    out = sample_tokens(NS(mean=30, cv=1.0, distribution="lognormal", max=200), n, rng)
    r = run(eng, arr, inp, out, max_batch=max_batch, cap=cap, chunk=chunk)
    f_ref, d_ref = naive_chunked(eng, arr, inp.tolist(), out.tolist(), max_batch, cap, chunk)
    np.testing.assert_allclose(r.first_token_s, f_ref, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(r.finish_s, d_ref, rtol=1e-9, atol=1e-9)


# ----------------------------------------------------------------------------- properties

cases = st.fixed_dictionaries({
    "seed": st.integers(0, 10_000),
    "n": st.integers(1, 40),
    "rate": st.floats(1.0, 200.0),
    "chunk": st.one_of(st.none(), st.integers(1, 600)),
    "max_batch": st.integers(1, 12),
    "cap": st.integers(50, 3000),
    "decode_ctx": st.sampled_from([0.0, 0.001, 0.01]),
    "prefill_base": st.sampled_from([0.0, 2.0]),
})


def _draw(c):
    rng = np.random.default_rng(c["seed"])
    arr = np.sort(rng.uniform(0, c["n"] / c["rate"], c["n"]))
    inp = rng.integers(0, 400, c["n"])
    out = rng.integers(1, 60, c["n"])
    eng = ConstantEngine(prefill_base_ms=c["prefill_base"], prefill_ms_per_token=0.02,
                         decode_base_ms=5, decode_ms_per_seq=0.2,
                         decode_ms_per_ctx_token=c["decode_ctx"], kv_capacity_tokens=c["cap"],
                         max_batch=c["max_batch"], marginal_prefill_base=False)
    return eng, arr, inp, out


@settings(max_examples=60, deadline=None)
@given(cases)
def test_invariants_and_reference(c):
    eng, arr, inp, out = _draw(c)
    r = run(eng, arr, inp, out, max_batch=c["max_batch"], cap=c["cap"], chunk=c["chunk"])
    served = ~r.rejected
    assert np.array_equal(r.rejected, inp + out > c["cap"])
    # a request's first token comes after its own prefill work; its decode after that
    assert np.all(r.first_token_s[served] - arr[served]
                  >= 0.02 * inp[served] / 1000.0 - 1e-12)
    assert np.all(r.finish_s[served] - r.first_token_s[served]
                  >= (out[served] - 1) * 0.0052 - 1e-12)
    # FIFO: first tokens in arrival order
    f = r.first_token_s[served]
    assert np.all(np.diff(f) >= -1e-12)
    assert r.peak_kv_tokens <= c["cap"]
    assert r.busy_s <= r.end_s + 1e-9
    # and the event-skipping simulator reproduces the iteration-by-iteration reference
    chunk = c["chunk"] if c["chunk"] is not None else 10**9
    f_ref, d_ref = naive_chunked(eng, arr, inp.tolist(), out.tolist(), c["max_batch"], c["cap"],
                                 chunk)
    keep = served
    np.testing.assert_allclose(r.first_token_s[keep], f_ref[keep], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(r.finish_s[keep], d_ref[keep], rtol=1e-9, atol=1e-9)


def test_a_moe_prompt_joining_a_decode_step_reads_the_experts_the_step_leaves():
    """QA s21: a prompt joining a running step paid its compute only, as if every weight were read
    anyway; a MoE step reads only its batch's experts.  R1 (prefill 10 ms alone) decodes at 5 ms a
    step; R2's 50-token prompt (no compute cost here) joins the first step: + all-expert read 20 ms
    x (1 - 8/256)^1 (the step's one sequence leaves those unread) x (1 - (1 - 8/256)^50)."""
    from solver.sim.engine import expert_reads
    eng = ConstantEngine(prefill_base_ms=10, decode_base_ms=5, marginal_prefill_base=False)
    inp, out = np.array([60, 50]), np.array([40, 40])
    table = StepTable(eng, 8, 1e6)
    pre = eng.prefill_ms(inp) / 1000.0
    marg = eng.prefill_marginal_ms(inp) / 1000.0
    q = 1 - 8 / 256
    kw = expert_reads(NS(terms=NS(exp_time_s=0.020, log1m_p=math.log(q))))
    assert kw == {"expert_read_s": 0.020, "expert_pad_s": 0.0, "expert_token_s": 0.0,
                  "log1m_expert_share": pytest.approx(math.log(q))}
    r = simulate_replica(np.array([0.0, 0.001]), inp, out, pre, table, 1e6, 8, prefill_marginal_s=marg, **kw)
    assert r.first_token_s == pytest.approx([0.010, 0.015 + 0.020 * q * (1 - q ** 50)], abs=1e-12)
    dense = simulate_replica(np.array([0.0, 0.001]), inp, out, pre, table, 1e6, 8, prefill_marginal_s=marg,
                             **expert_reads(NS(terms=NS(exp_time_s=0.0, log1m_p=0.0))))
    assert dense.first_token_s == pytest.approx([0.010, 0.015], abs=1e-12)


def test_a_moe_prompt_joining_a_decode_step_adds_the_tile_padding_of_the_experts_it_runs():
    """QA s22: grouped expert GEMMs run whole row tiles.  As above, with padding of 10 ms over every
    expert and 0.4 ms of routed compute per token: an iteration over x tokens pads the harmonic blend
    A R / (A + R) of A = 10 ms (1 - q^x) and R = 0.4 ms x; R2's 50 prompt tokens beside one decoding
    sequence add pad(51) - pad(1) (q = 1 - 8/256): A(51) = 10 (1 - 0.19807) = 8.0193 ms, R(51) = 20.4 ms,
    pad(51) = 5.7565 ms; A(1) = 0.3125 ms, R(1) = 0.4 ms, pad(1) = 0.17544 ms: 5.5811 ms."""
    from solver.sim.engine import expert_reads
    eng = ConstantEngine(prefill_base_ms=10, decode_base_ms=5, marginal_prefill_base=False)
    inp, out = np.array([60, 50]), np.array([40, 40])
    table = StepTable(eng, 8, 1e6)
    pre = eng.prefill_ms(inp) / 1000.0
    marg = eng.prefill_marginal_ms(inp) / 1000.0
    q = 1 - 8 / 256
    kw = expert_reads(NS(terms=NS(exp_time_s=0.020, exp_pad_s=0.010, exp_tok_s=0.0004, log1m_p=math.log(q))))
    r = simulate_replica(np.array([0.0, 0.001]), inp, out, pre, table, 1e6, 8, prefill_marginal_s=marg, **kw)
    a51, a1 = 0.010 * (1 - q ** 51), 0.010 / 32
    pad = a51 * 0.0204 / (a51 + 0.0204) - a1 * 0.0004 / (a1 + 0.0004)
    assert pad == pytest.approx(5.5811e-3, abs=1e-7)
    assert r.first_token_s == pytest.approx([0.010, 0.015 + 0.020 * q * (1 - q ** 50) + pad], abs=1e-12)
