"""What the simulator needs to know about one replica's engine, and a fast table of it.

The simulator advances a continuous-batching engine iteration by iteration, so
it needs three things from the performance model: how long a prefill of a
prompt takes, how long one decode step takes for ``batch`` sequences holding
``context_tokens`` KV tokens in total, and how much KV cache and how many
sequences fit.  :class:`EngineLike` is exactly that (``solver.perf``'s engine
spec satisfies it); :class:`ConstantEngine` is a synthetic engine with affine
times, used by the closed-form tests so they do not depend on the perf model.

Calling the perf model once per decode step would make the simulator far too
slow, so :class:`StepTable` tabulates the decode step time once per replica on
a grid (every batch size, ``GRID`` context points from 0 to the KV capacity)
and interpolates linearly in context.  For an engine whose step time is affine
in context (a roofline decode on the memory-bound side) the table is exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from solver.perf.arch import prefill_flops


@runtime_checkable
class EngineLike(Protocol):
    """The members of ``solver.perf``'s engine spec that the simulator uses."""

    kv_capacity_tokens: float
    max_batch: int

    def prefill_ms(self, tokens: np.ndarray) -> np.ndarray:  # one prefill of that many tokens
        ...

    def decode_step_ms(self, batch, context_tokens):  # one decode iteration
        ...


def prefill_marginal_ms(engine, tokens) -> np.ndarray:
    """Time a prompt adds to an iteration that runs anyway (weights already being read).

    A prefill that joins a decode step (or another prefill) shares its weight
    reads and fixed overhead, so it costs only its own compute: the perf
    model's ``P_c`` = (2 x active params x n + attention) / effective FLOP/s +
    per-token communication.  Added on top of the step time (no overlap of the
    prompt's compute with the step's memory traffic: the same conservative
    assumption the perf model makes).  Engines may provide
    ``prefill_marginal_ms`` themselves; for ``solver.perf``'s EngineSpec it is
    computed from its terms; otherwise the standalone prefill time is used.
    """
    n = np.asarray(tokens, dtype=float)
    own = getattr(engine, "prefill_marginal_ms", None)
    if callable(own):
        return np.asarray(own(n), dtype=float)
    t = getattr(engine, "terms", None)
    if t is not None and all(hasattr(t, k) for k in ("flops_tok", "attn_full", "attn_sw", "window",
                                                     "flops_per_s", "comm_per_token_s")):
        flops = prefill_flops(t, n)
        return (flops / t.flops_per_s + t.comm_per_token_s * n) * 1e3
    return np.asarray(engine.prefill_ms(n), dtype=float)


def expert_reads(engine) -> dict:
    """A MoE engine's routed-expert read time, the compute time of their tile padding and of one token's
    experts (the routed rows the padding is blended with: arch.padding_blend) and log(1 - p) (p: experts
    per token / experts), as :func:`solver.sim.core.simulate_replica` takes them; nothing for a dense or
    synthetic engine."""
    t = getattr(engine, "terms", None)
    ex, l1p = getattr(t, "exp_time_s", 0.0), getattr(t, "log1m_p", 0.0)
    if not ex or ex <= 0.0 or not l1p:
        return {}
    return {"expert_read_s": float(ex), "expert_pad_s": float(getattr(t, "exp_pad_s", 0.0)),
            "expert_token_s": float(getattr(t, "exp_tok_s", 0.0)), "log1m_expert_share": float(l1p)}


@dataclass(frozen=True)
class ConstantEngine:
    """Synthetic engine with affine times (tests, what-ifs).

    prefill = ``prefill_base_ms + prefill_ms_per_token * tokens``;
    decode step = ``decode_base_ms + decode_ms_per_seq * batch + decode_ms_per_ctx_token * context``.
    """

    prefill_base_ms: float = 0.0
    prefill_ms_per_token: float = 0.0
    decode_base_ms: float = 10.0
    decode_ms_per_seq: float = 0.0
    decode_ms_per_ctx_token: float = 0.0
    kv_capacity_tokens: float = 1e12
    max_batch: int = 256
    marginal_prefill_base: bool = True   # False: a prompt joining a running step costs only its tokens

    def prefill_ms(self, tokens):
        tokens = np.asarray(tokens, dtype=float)
        return self.prefill_base_ms + self.prefill_ms_per_token * tokens

    def prefill_marginal_ms(self, tokens):
        tokens = np.asarray(tokens, dtype=float)
        base = self.prefill_base_ms if self.marginal_prefill_base else 0.0
        return base + self.prefill_ms_per_token * tokens

    def decode_step_ms(self, batch, context_tokens):
        b = np.asarray(batch, dtype=float)
        c = np.asarray(context_tokens, dtype=float)
        out = self.decode_base_ms + self.decode_ms_per_seq * b + self.decode_ms_per_ctx_token * c
        return out if out.ndim else float(out)


def prefill_shape(engine) -> tuple[float, float]:
    """(alpha, beta) with a prompt's marginal cost ~ alpha n + beta n^2 (used to split chunks).

    Fitted through two prompt lengths (1k and 8k tokens) of
    :func:`prefill_marginal_ms` minus its value at 0; only the *shape* matters,
    each request's chunks always add up to its own marginal time.
    """
    n = np.array([0.0, 1024.0, 8192.0])
    m = np.asarray(prefill_marginal_ms(engine, n), dtype=float)
    f1, f2 = m[1] - m[0], m[2] - m[0]
    n1, n2 = n[1], n[2]
    beta = (f2 / n2 - f1 / n1) / (n2 - n1)
    alpha = f1 / n1 - beta * n1
    if not (math.isfinite(alpha) and math.isfinite(beta)) or alpha < 0 or beta < 0:
        return (1.0, 0.0)
    if alpha == 0 and beta == 0:
        return (1.0, 0.0)
    return (float(alpha), float(beta))


#: Context grid points per batch size in :class:`StepTable`.
GRID = 33


class StepTable:
    """Decode step time in seconds by (batch, total context), tabulated for speed.

    ``rows[b]`` holds the step time of batch ``b`` at contexts
    ``0, dx, 2dx, ..., cap``; look-ups interpolate linearly (exact for an
    affine engine, within the grid spacing's curvature otherwise).
    """

    def __init__(self, engine: EngineLike, max_batch: int, kv_capacity_tokens: float):
        self.max_batch = int(max_batch)
        cap = float(kv_capacity_tokens)
        if not math.isfinite(cap) or cap <= 0:
            raise ValueError(f"KV capacity must be a positive finite number of tokens (got {cap})")
        self.cap = cap
        self.dx = cap / (GRID - 1)
        self.inv_dx = 1.0 / self.dx
        ctx = np.linspace(0.0, cap, GRID)
        batches = np.arange(1, self.max_batch + 1, dtype=float)
        ms = _tabulate(engine, batches, ctx)
        if ms.shape != (self.max_batch, GRID) or not np.all(np.isfinite(ms)) or np.any(ms < 0):
            raise ValueError("the engine's decode_step_ms returned a non-finite or negative time")
        sec = ms / 1000.0
        # rows[0] is a placeholder so that rows[b] is batch b
        self.rows: list[list[float]] = [[0.0] * GRID] + [list(map(float, r)) for r in sec]

    def step_s(self, batch: int, context_tokens: float) -> float:
        """One decode step, seconds (scalar; used outside the hot loop)."""
        row = self.rows[batch]
        x = context_tokens * self.inv_dx
        i = int(x)
        if i >= GRID - 1:
            i = GRID - 2
        elif i < 0:
            i = 0
        return row[i] + (row[i + 1] - row[i]) * (x - i)


def _tabulate(engine: EngineLike, batches: np.ndarray, ctx: np.ndarray) -> np.ndarray:
    """Decode step ms on the (batch, context) grid; vectorised when the engine allows it."""
    try:
        out = np.asarray(engine.decode_step_ms(batches[:, None], ctx[None, :]), dtype=float)
        if out.shape == (len(batches), len(ctx)):
            return out
    except (TypeError, ValueError):
        pass
    out = np.empty((len(batches), len(ctx)))
    for i, b in enumerate(batches):
        for j, c in enumerate(ctx):
            out[i, j] = float(engine.decode_step_ms(int(b), float(c)))
    return out
