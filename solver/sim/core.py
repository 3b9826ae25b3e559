"""Discrete-event simulation of one continuous-batching replica.

Semantics (what a request sees), chosen to match a vLLM-style server without
chunked prefill and without preemption:

* Requests wait in one FIFO queue.  At the start of every iteration the engine
  admits queued requests in arrival order while the batch has room
  (``max_batch`` sequences) and the KV cache can hold the request's *final*
  context (input + output tokens are reserved at admission, so a running
  sequence is never preempted; ``kv_reserve_tokens`` can reserve more, e.g.
  the workload's longest answer as TensorRT-LLM's no-evict policy does).  A request that does not fit blocks the ones
  behind it (head-of-line), as in vLLM's FCFS scheduler.  When memory is full,
  requests queue.
* Prefill is chunked (Sarathi / vLLM chunked prefill): every iteration
  processes up to ``prefill_chunk_tokens`` prompt tokens of the admitted
  requests, oldest first, in the same forward pass as one decode step of the
  sequences already decoding; ``None`` prefills every admitted prompt whole
  in one iteration.  Decode tokens do not count against the chunk budget.
  An iteration's time is the decode step plus the *marginal* prefill time of
  its prompt tokens (their compute; weights are read once per pass), or, when
  no sequence is decoding, the pass's own weight reads and overhead plus that.
  A chunk's share of a prompt's marginal time follows the prompt's cost curve
  (linear + quadratic attention).  Decoders wait for the prefill work in their
  iteration: this is the prefill interference that hurts TPOT.  A request gets
  its first token at the end of the iteration that finishes its prompt (TTFT =
  queueing + waiting for the iteration boundary + its prefill chunks).
* An iteration without prefill work is one decode step of every running sequence;
  its time comes from :class:`~solver.sim.engine.StepTable` at the batch's
  current total context.  A sequence of ``n`` output tokens finishes ``n - 1``
  decode steps after its first token; TPOT = (finish - first token) / (n - 1).

Speed: iterations are not simulated one by one.  Between two events (an
arrival that can be admitted, a completion) the batch does not change, so the
decode steps in between are advanced at once: the number of steps until the
next completion is known exactly (a heap keyed by the global decode-step
counter at which each sequence finishes), the number of steps until the next
arrival is found by solving the quadratic that the (locally affine) step time
gives, and the elapsed time of ``k`` steps whose context grows by ``batch``
tokens per step is ``k`` times the step time at the mid-point context (exact
for an affine step time).  The work per request is therefore a handful of
Python operations, independent of its number of output tokens.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from solver.perf.arch import padding_blend
from solver.sim.engine import GRID, StepTable


@dataclass
class ReplicaResult:
    """Per-request timestamps (seconds; NaN = rejected) and engine statistics."""

    first_token_s: np.ndarray
    finish_s: np.ndarray
    rejected: np.ndarray          # bool: needs more KV than the whole cache holds
    busy_s: float                 # time with at least one sequence prefilling or decoding
    end_s: float                  # time the last request finished
    batch_seconds: float          # integral of the batch size over busy time
    peak_kv_tokens: float
    decode_steps: int
    prefill_iterations: int


def simulate_replica(arrival_s, input_tokens, output_tokens, prefill_s, table: StepTable,
                     kv_capacity_tokens: float, max_batch: int,
                     prefill_marginal_s=None, prefill_chunk_tokens=None,
                     prefill_shape: tuple = (1.0, 0.0), kv_reserve_tokens=None,
                     expert_read_s: float = 0.0, log1m_expert_share: float = 0.0,
                     expert_pad_s: float = 0.0, expert_token_s: float = 0.0) -> ReplicaResult:
    """Simulate one replica serving the given requests (arrival times sorted ascending).

    ``prefill_s``: standalone prefill time of each request's prompt (seconds);
    ``prefill_marginal_s``: what the prompt adds to a pass that runs anyway
    (default: the standalone time).  ``prefill_chunk_tokens``: prompt tokens
    per iteration (None: whole prompts).  ``prefill_shape`` = (alpha, beta):
    a prompt's cost grows as ``alpha n + beta n^2`` (attention), which splits
    its marginal time between its chunks (the chunks always sum to it).
    ``kv_reserve_tokens``: cache tokens (``kv_capacity_tokens``' unit) reserved per request at
    admission (default: its final context, input + output; less where sliding-window layers hold
    only a window of it, more to reserve for the longest answer).
    ``expert_read_s``, ``log1m_expert_share``: a MoE model's time to read all its routed experts and
    log(1 - experts per token / experts).  The prompt tokens of a mixed iteration read the experts
    they route to that its decode batch of b leaves unread: ``expert_read_s (1 - p)^b (1 - (1 - p)^n)``
    for n prompt tokens (uniform routing, as the perf model's ``_prefill_moments``; QA s21: a
    50-token DeepSeek-V3 prompt beside one decoding sequence reads 80% of the experts).
    ``expert_pad_s``, ``expert_token_s``: the compute time of every expert's tile padding (grouped
    GEMMs run whole row tiles) and of one token's experts; an iteration over x tokens pads
    ``A R / (A + R)``, ``A = expert_pad_s (1 - (1 - p)^x)``, ``R = expert_token_s x``
    (``solver.perf.arch.padding_blend``),
    and its prompt tokens add their share beyond the decode batch's.
    """
    arrival_s = np.asarray(arrival_s, dtype=float)
    inp = np.asarray(input_tokens, dtype=np.int64)
    out = np.asarray(output_tokens, dtype=np.int64)
    pre = np.asarray(prefill_s, dtype=float)
    marg = pre if prefill_marginal_s is None else np.asarray(prefill_marginal_s, dtype=float)
    n_all = len(arrival_s)
    if not (len(inp) == len(out) == len(pre) == len(marg) == n_all):
        raise ValueError("arrival, input, output and prefill arrays must have one entry per request")
    if n_all and np.any(np.diff(arrival_s) < 0):
        raise ValueError("arrival times must be sorted")
    if np.any(out < 1) or np.any(inp < 0):
        raise ValueError("output tokens must be >= 1 and input tokens >= 0")
    max_batch = int(max_batch)
    if max_batch < 1:
        raise ValueError("max_batch must be at least 1")
    if max_batch > table.max_batch:
        raise ValueError("the step table is smaller than max_batch")
    cap = float(kv_capacity_tokens)
    final_all = inp + out            # context a sequence holds when it finishes
    if kv_reserve_tokens is None:
        need_all = final_all
    else:
        need_all = np.asarray(kv_reserve_tokens, dtype=np.int64)
        if len(need_all) != n_all:
            raise ValueError("kv_reserve_tokens must have one entry per request")
    rejected = need_all > cap
    keep = np.flatnonzero(~rejected)

    first_all = np.full(n_all, np.nan)
    fin_all = np.full(n_all, np.nan)

    arr = arrival_s[keep].tolist()
    need = need_all[keep].tolist()
    final = final_all[keep].tolist()
    ctx0 = (inp[keep] + 1).tolist()  # context a sequence holds right after its prefill
    outl = out[keep].tolist()
    prel = pre[keep].tolist()
    margl = marg[keep].tolist()
    n = len(arr)
    first = [math.nan] * n
    fin = [math.nan] * n

    inpl = inp[keep].tolist()
    done = [0] * n                   # prompt tokens already prefilled (chunked prefill)
    chunk = math.inf if prefill_chunk_tokens is None else float(prefill_chunk_tokens)
    if chunk < 1:
        raise ValueError("prefill_chunk_tokens must be at least 1")
    alpha, beta = prefill_shape
    rows = table.rows
    inv_dx = table.inv_dx
    gmax = GRID - 2
    heap: list = []
    push = heapq.heappush
    pop = heapq.heappop
    pf: deque = deque()              # admitted requests still in prefill, FIFO

    t = 0.0
    steps = 0        # global decode-step counter
    q = 0            # head of the FIFO queue (index of the oldest waiting request)
    a = 0            # number of requests that have arrived by time t
    ndec = 0         # sequences decoding
    kv = 0           # KV tokens reserved by admitted sequences
    ctx = 0          # KV tokens actually held by decoding sequences
    busy = 0.0
    batch_sec = 0.0
    kv_peak = 0
    n_prefill_iters = 0

    while True:
        while a < n and arr[a] <= t:
            a += 1
        if q == a and ndec == 0 and not pf:
            if a == n:
                break
            t = arr[a]          # idle until the next arrival
            continue
        # admit in arrival order while the batch and the KV cache have room
        while q < a and ndec + len(pf) < max_batch and kv + need[q] <= cap:
            kv += need[q]
            pf.append(q)
            q += 1
        if pf:
            # --- a mixed iteration: one decode step + up to `chunk` prompt tokens
            b = ndec
            if b:
                row = rows[b]
                x = ctx * inv_dx
                i = int(x)
                if i > gmax:
                    i = gmax
                dt = row[i] + (row[i + 1] - row[i]) * (x - i)
            else:               # nothing decoding: the pass pays weights and overhead itself
                j = pf[0]
                dt = prel[j] - margl[j]
            if kv > kv_peak:
                kv_peak = kv
            budget = chunk
            completed = []
            n_prompt = 0             # prompt tokens this iteration runs
            while pf and budget > 0:
                j = pf[0]
                s0 = done[j]
                size = inpl[j]
                rem = size - s0
                if rem <= budget:
                    n_prompt += rem
                    if s0 == 0:
                        dt += margl[j]
                    else:       # the rest of a chunked prompt: its share of the prompt's cost
                        dt += margl[j] * (1.0 - (alpha * s0 + beta * s0 * s0)
                                          / (alpha * size + beta * size * size))
                    budget -= rem
                    pf.popleft()
                    completed.append(j)
                else:
                    s1 = s0 + budget
                    n_prompt += budget
                    dt += margl[j] * ((alpha * (s1 - s0) + beta * (s1 * s1 - s0 * s0))
                                      / (alpha * size + beta * size * size))
                    done[j] = int(s1)
                    budget = 0
            if b and expert_read_s > 0.0:
                # (b == 0: the pass reads what its first prompt needs, in that prompt's standalone time)
                dt += expert_read_s * math.exp(b * log1m_expert_share) * -math.expm1(n_prompt * log1m_expert_share)
                if expert_pad_s > 0.0:
                    x = b + n_prompt
                    dt += (padding_blend(expert_pad_s * -math.expm1(x * log1m_expert_share), expert_token_s * x)
                           - padding_blend(expert_pad_s * -math.expm1(b * log1m_expert_share), expert_token_s * b))
            if b:
                steps += 1
                ctx += b
            t += dt
            busy += dt
            batch_sec += dt * (b + len(pf) + len(completed))
            n_prefill_iters += 1
            while heap and heap[0][0] <= steps:
                _, j = pop(heap)
                fin[j] = t
                ndec -= 1
                kv -= need[j]
                ctx -= final[j]
            for j in completed:
                first[j] = t
                o = outl[j]
                if o == 1:
                    fin[j] = t
                    kv -= need[j]
                else:
                    push(heap, (steps + o - 1, j))
                    ndec += 1
                    ctx += ctx0[j]
            continue
        # --- decode steps with an unchanged batch, advanced together
        b = ndec
        kmax = heap[0][0] - steps
        row = rows[b]
        x = ctx * inv_dx
        i = int(x)
        if i > gmax:
            i = gmax
        r0 = row[i]
        dr = row[i + 1] - r0
        s0 = r0 + dr * (x - i)
        if q < a or a == n or s0 <= 0.0:
            k = kmax            # blocked (or nothing else will happen) until a completion
        else:
            budget = arr[a] - t
            d = dr * inv_dx * b  # growth of the step time per step
            if d <= 1e-12 * s0:
                k = math.ceil(budget / s0)
            else:
                h = s0 - 0.5 * d
                k = math.ceil((math.sqrt(h * h + 2.0 * d * budget) - h) / d)
            if k < 1:
                k = 1
            elif k > kmax:
                k = kmax
        if k == 1:
            el = s0
        else:
            xm = (ctx + b * (k - 1) * 0.5) * inv_dx
            im = int(xm)
            if im > gmax:
                im = gmax
            el = k * (row[im] + (row[im + 1] - row[im]) * (xm - im))
        t += el
        busy += el
        batch_sec += el * b
        steps += k
        ctx += b * k
        while heap and heap[0][0] <= steps:
            _, j = pop(heap)
            fin[j] = t
            ndec -= 1
            kv -= need[j]
            ctx -= final[j]

    first_all[keep] = first
    fin_all[keep] = fin
    return ReplicaResult(first_token_s=first_all, finish_s=fin_all, rejected=rejected,
                         busy_s=busy, end_s=t, batch_seconds=batch_sec,
                         peak_kv_tokens=float(kv_peak), decode_steps=steps,
                         prefill_iterations=n_prefill_iters)
