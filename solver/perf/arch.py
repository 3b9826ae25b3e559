"""Per-candidate physics: bytes and FLOPs of one replica, before any workload.

A *candidate* is one replica shape: (accelerator, model, quantization, tensor
parallel degree).  This module derives, once per candidate, every term the
serving model needs, in SI units (bytes, FLOP, seconds):

* weights per device = total parameters x bytes per weight / TP; the replica
  fits when that is at most the usable share of device memory
  (``mem_usable_fraction``); the KV cache gets that share of what the weights leave
  (TensorRT-LLM's convention, ``kv_memory_rule: share_of_free``) or the share less the
  weights (vLLM's, ``share_of_total``): :func:`kv_cache_bytes`; the rest is activation
  workspace and CUDA graphs;
* KV bytes per token per device: ``2 x layers x ceil(kv_heads / TP) x head_dim
  x kv bytes`` (GQA-aware; KV heads are replicated when TP exceeds them); MLA
  caches ``layers x (kv_lora_rank + rope_head_dim)`` per token, replicated on
  every TP rank; sliding-window layers are counted separately because they hold
  at most ``window`` tokens per sequence (and a prompt of n tokens has n m - m^2 / 2
  query-key pairs in them, m = min(n, window): :func:`sliding_prefill_pairs`);
* MoE: non-expert and routed-expert weight bytes apart, and the probability
  ``p = experts_per_token / num_experts`` that one token routes to a given
  expert: a decode step over B tokens touches ``1 - (1 - p)^B`` of the experts
  (uniform routing); each expert it runs also computes ``moe_tile_padding_tokens``
  rows of padding (grouped GEMMs run whole row tiles), blended harmonically with the rows
  the step routes, ``t0 tau / (tau + t0)`` rows for an expert's ``tau`` tokens (a tile is under twice
  an expert's tokens from 8 tokens up; below, the kernel's 16-row floor pads more, which the blend
  leaves out: a planning approximation): :func:`expert_padding_s`;
* the tensor-core peak that applies (the quantization's compute format; a
  weight-only format computes at 16-bit; no path -> infeasible) times the
  calibrated compute efficiency, the memory bandwidth times its efficiency;
  attention FLOPs run at the KV cache format's peak (:func:`_attention_format`)
  and are stored scaled by ``peak / attention peak``, so that every consumer
  divides all FLOPs by the one ``flops_per_s``;
* all-reduce cost: two per layer per step, ring algorithm:
  ``latency + 2 (TP-1)/TP x bytes / (link bandwidth x efficiency)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from solver.catalog.schema import Accelerator, Model, Quantization
from solver.perf.params import PerfParams

GB = 1e9
TFLOPS = 1e12

# Infeasibility reasons of a candidate (shared with the serving model).
R_OK = 0
R_QUANT_UNSUPPORTED = 1
R_NO_COMPUTE_PATH = 2
R_WEIGHTS_DONT_FIT = 3
R_CONTEXT_TOO_LONG = 4
R_NO_KV_ROOM = 5
R_TPOT_TOO_TIGHT = 6
R_TTFT_TOO_TIGHT = 7
R_TP_TOO_LARGE = 8
R_MEASURED_ZERO = 9
R_TP_HEADS = 10
R_QUANT_NOT_FOR_MODEL = 11

REASONS: dict[int, str] = {
    R_OK: "ok",
    R_QUANT_UNSUPPORTED: "quantization not supported on this accelerator family",
    R_NO_COMPUTE_PATH: "no compute path for the quantization's number format on this accelerator",
    R_WEIGHTS_DONT_FIT: "weights do not fit in device memory (try more tensor parallelism or a smaller format)",
    R_CONTEXT_TOO_LONG: "input + output tokens at the SLO percentile exceed the model's context window",
    R_NO_KV_ROOM: "no room in memory for the KV cache of one request",
    R_TPOT_TOO_TIGHT: "TPOT target is below the TPOT at the lightest load (its percentile answer's steps, prompts included)",
    R_TTFT_TOO_TIGHT: "TTFT target is below the TTFT at the lightest load (its percentile prompt's prefill)",
    R_TP_TOO_LARGE: "tensor parallel degree exceeds the devices of one node",
    R_MEASURED_ZERO: "measured: cannot serve",
    R_TP_HEADS: "tensor parallel degree does not divide the attention heads",
    R_QUANT_NOT_FOR_MODEL: "the quantization scheme is offered for other models only (its `models` list)",
}


def _peak_format(acc: Accelerator, q: Quantization) -> Optional[str]:
    """Number format whose tensor peak applies, or None if the device has no path.

    INT4 weight-only (W4A16) computes at the activation format: Hopper lists no
    INT4 tensor throughput and must not get one.  bf16 and fp16 stand in for each
    other (T4 has fp16 only).  A format without native compute runs weight-only
    (dequantised to 16-bit) when the device lists it in ``weight_only_formats``.
    """
    peaks = acc.peak_tflops
    sixteen = next((f for f in ("bf16", "fp16") if f in peaks), None)
    fmt = q.compute_format
    if fmt in peaks:
        return fmt
    if fmt in ("bf16", "fp16"):
        return sixteen
    if q.weight_only or q.weight_format in acc.weight_only_formats:
        return sixteen
    return None


def _attention_format(acc: Accelerator, q: Quantization, fmt: Optional[str]) -> Optional[str]:
    """Number format attention (QK^T, PV) runs in: the KV cache's, not the weights'.

    Attention multiplies activations by cached keys and values, so no 4-bit weight format applies
    to it: an FP8 KV cache (1 byte) runs FP8 attention kernels (TensorRT-LLM's FP8 context FMHA
    with an FP8 KV cache) where the device has an FP8 peak, anything else runs at 16 bits.  NVFP4
    on Blackwell thus costs attention at FP8, half the FP4 peak (QA s21: Llama-3.3-70B FP4 at
    32k-token prompts was 22% faster than TensorRT-LLM's published figure)."""
    if fmt is None:
        return None
    peaks = acc.peak_tflops
    if q.kv_bytes_per_element.value <= 1.0 and "fp8" in peaks:
        return "fp8"
    return next((f for f in ("bf16", "fp16") if f in peaks), fmt)


def padding_blend(rows_s, routed_s):
    """Padding time from ``rows_s`` (``t0`` rows in each expert run) and ``routed_s`` (the rows
    routed), as their harmonic blend ``A R / (A + R)``: per expert run ``t0 tau / (tau + t0)`` rows
    for its ``tau`` tokens, so the rows computed never fall as tokens grow and a token's marginal cost
    falls smoothly from 2 rows to 1.  The former ``min(A, R)`` had a kink at ``n ~ t0 / p`` where a
    joining prompt's padding dropped to ~0 (QA s22: +27% req/s and a lower mean TPOT for a 10% larger
    batch, capacity that fell as bandwidth rose).  Numbers or numpy arrays: the one definition the perf
    model, the calibration and the simulator share (the 1e-300 keeps 0 rows at 0, not 0 / 0)."""
    return rows_s * routed_s / (rows_s + routed_s + 1e-300)


def expert_padding_s(t: "CandidateTerms", n):
    """Compute time of the tile padding of a pass over ``n`` tokens: the blend (:func:`padding_blend`)
    of ``moe_tile_padding_tokens`` rows in each expert it runs, ``exp_pad_s (1 - (1 - p)^n)``, and the
    rows it routes, ``exp_tok_s n``: Triton's grouped MoE GEMM (triton_kernels matmul_ogs) runs block_m
    = the next power of two of the tokens per expert (at least 16 rows), under twice them from 8 tokens
    per expert up (below, the 16-row floor pads more than the blend counts: an approximation where the
    step reads weights far longer than it computes).  0 for a dense model.  Numbers or numpy arrays."""
    import numpy as np
    return padding_blend(t.exp_pad_s * -np.expm1(n * t.log1m_p), t.exp_tok_s * n)


def sliding_prefill_pairs(n, window):
    """Causal query-key pairs of a prompt of ``n`` tokens in a sliding-window layer: each query sees
    the last min(i, window) tokens, n m - m^2 / 2 with m = min(n, window) (n^2 / 2 within the window,
    as full attention's 0.5 n^2).  Works on numbers and numpy arrays (window may be inf)."""
    import numpy as np
    m = np.minimum(n, window)
    return m * n - 0.5 * m * m


def prefill_flops(t: "CandidateTerms", n):
    """FLOPs of one prefill of ``n`` prompt tokens on one device: the weights' 2 x active params per
    token, full-attention pairs n^2 / 2 and the sliding layers' pairs (:func:`sliding_prefill_pairs`).
    Numbers or numpy arrays.  (One definition for the perf model, its calibration and the simulator.)"""
    return t.flops_tok * n + 0.5 * t.attn_full * n * n + t.attn_sw * sliding_prefill_pairs(n, t.window)


#: bytes of a weight the format leaves unquantized (BF16/FP16)
UNQUANTIZED_BYTES = 2.0


def embedding_params(model: Model) -> float:
    """Parameters of one vocab_size x hidden_size matrix: the input embedding (and the output layer,
    which holds another unless tied)."""
    return float(model.vocab_size) * model.hidden_size


def kv_cache_bytes(memory_bytes: float, weight_bytes_dev: float, gp) -> float:
    """KV cache bytes per device beside ``weight_bytes_dev`` of weights (0 when they do not fit), by the
    engine convention ``gp.kv_memory_rule`` (:class:`solver.perf.params.GlobalParams`): a share of the
    device memory less the weights (vLLM), or a share of what the weights leave (TensorRT-LLM; on a
    memory-tight replica 2.5x more: 70B FP8 on one H100)."""
    f = gp.mem_usable_fraction
    if f * memory_bytes - weight_bytes_dev <= 0:
        return 0.0
    if gp.kv_memory_rule == "share_of_total":
        return f * memory_bytes - weight_bytes_dev
    return f * (memory_bytes - weight_bytes_dev)


def weight_bytes(model: Model, q: Quantization) -> float:
    """All weights of the model in this format, bytes (scales included via bytes_per_weight).

    Only the weights the format quantizes (``q.quantized_weights``) take ``bytes_per_weight``; the
    rest stays 16-bit: the input embedding and the output layer (QA s19: RedHatAI's Llama-3.1-70B
    W8A8 checkpoint is 72.7 GB, 68.45 B linear weights x 1 byte + 2.10 B embedding and output weights
    x 2 bytes; all 70.55 B at one byte gave 70.55 GB, and INT4 8B models 27% light), and for a format
    that quantizes only routed experts (gpt-oss's MXFP4) attention, router and embeddings as well."""
    total = model.total_params_b.value * GB
    bpw = q.bytes_per_weight.value
    if bpw >= UNQUANTIZED_BYTES:
        return total * bpw
    if q.quantized_weights == "experts" and model.moe is not None:
        quantized = expert_params(model)
    else:
        kept = embedding_params(model) * (1 if model.tie_word_embeddings else 2)
        quantized = max(total - kept, 0.0)
    return quantized * bpw + (total - quantized) * UNQUANTIZED_BYTES


def unread_embedding_bytes(model: Model, q: Quantization) -> float:
    """Bytes of weights a decode step does not read: the input embedding is a row lookup (a few
    rows per step), unless the output layer shares it (then the whole matrix is read for the logits)."""
    if model.tie_word_embeddings:
        return 0.0
    return embedding_params(model) * max(q.bytes_per_weight.value, UNQUANTIZED_BYTES)


def kv_bytes_per_token(model: Model, q: Quantization, tp: int = 1) -> tuple[float, float]:
    """KV-cache bytes per token of context on one device: (full-attention layers, sliding layers).

    GQA: 2 (K and V) x layers x kv heads on this device x head_dim x bytes/element.
    MLA: layers x (kv_lora_rank + rope_head_dim) x bytes, replicated on each rank.
    """
    kvb = q.kv_bytes_per_element.value
    if model.mla is not None:
        per_layer = (model.mla.kv_lora_rank + model.mla.rope_head_dim) * kvb
    else:
        heads_dev = math.ceil(model.num_kv_heads / tp)
        per_layer = 2 * heads_dev * model.head_dim * kvb
    sw_layers = round(model.num_layers * model.sliding_window_layer_fraction) if model.sliding_window else 0
    return per_layer * (model.num_layers - sw_layers), per_layer * sw_layers


def expert_params(model: Model) -> float:
    """Parameters in routed experts (gate, up, down projections of each expert)."""
    if model.moe is None:
        return 0.0
    m = model.moe
    layers = model.num_layers - m.dense_layers
    n = layers * m.num_experts * 3.0 * model.hidden_size * m.expert_intermediate_size
    return min(n, model.total_params_b.value * GB)


@dataclass(frozen=True)
class CandidateTerms:
    """Per-candidate scalars in SI units (seconds, bytes, FLOP)."""

    reason: int
    tp: int
    family: str
    peak_format: Optional[str]
    weight_bytes_dev: float        # all weights on one device
    ne_time_s: float               # non-expert weight read time per step
    exp_time_s: float              # all routed-expert weights read time per step
    exp_pad_s: float               # compute time of the tile padding rows of every routed expert
    exp_tok_s: float               # compute time of one token's routed experts (the routed rows the padding blends with)
    log1m_p: float                 # log(1 - experts_per_token/num_experts); 0 for dense
    kv_full_tok_dev: float         # bytes/token/device, full-attention layers
    kv_sw_tok_dev: float           # bytes/token/device, sliding-window layers
    window: float                  # sliding window tokens (inf if none)
    kv_cap_bytes_dev: float        # KV bytes that fit beside the weights, per device
    flops_tok: float               # 2 x active params (per token, whole replica)
    attn_full: float               # attention FLOP per (token x context token), full layers, in
    #                                compute-format FLOPs (x peak / attention format's peak)
    attn_decode_full: float        # the same in decode (differs for MLA: attention over the latent)
    attn_sw: float                 # same for sliding layers
    flops_per_s: float             # replica: TP x peak x efficiency
    bytes_per_s: float             # device: bandwidth x efficiency
    overhead_s: float              # per engine step
    unoverlapped: float            # share of min(memory, compute) time added to the max (imperfect overlap)
    overhead_per_seq_s: float      # per sequence in a decode step (sampling, scheduling, per-request kernels)
    comm_fixed_s: float            # all-reduce latency per step (2 x layers)
    comm_per_token_s: float        # all-reduce bandwidth time per token in the step
    max_context: float
    max_batch: int
    idle_w: float                  # replica
    tdp_w: float                   # replica
    mem_bw_gbps: float
    peak_tflops: float


def candidate_terms(acc: Accelerator, model: Model, q: Quantization, tp: int,
                    params: PerfParams) -> CandidateTerms:
    """Derive :class:`CandidateTerms`; infeasible candidates carry a reason code."""
    reason = R_OK
    if acc.family not in q.supported_families:
        reason = R_QUANT_UNSUPPORTED
    elif q.models is not None and model.id not in q.models:
        reason = R_QUANT_NOT_FOR_MODEL
    fmt = _peak_format(acc, q)
    if fmt is None and reason == R_OK:
        reason = R_NO_COMPUTE_PATH
    if tp > acc.devices_per_node and reason == R_OK:
        reason = R_TP_TOO_LARGE
    if model.num_attention_heads % tp and reason == R_OK:
        reason = R_TP_HEADS
    g = params.group_of(acc, fmt or "*")
    gp = params.global_
    w_all = weight_bytes(model, q)
    w_dev = w_all / tp
    usable = acc.memory_gb.value * GB * gp.mem_usable_fraction
    if usable - w_dev <= 0 and reason == R_OK:
        reason = R_WEIGHTS_DONT_FIT
    kv_cap = kv_cache_bytes(acc.memory_gb.value * GB, w_dev, gp)
    bw = acc.mem_bw_gbps.value * GB * g.bandwidth_efficiency
    peak = acc.peak_tflops[fmt].value * TFLOPS if fmt else 1.0
    attn_fmt = _attention_format(acc, q, fmt)
    # attention FLOPs in compute-format FLOPs: they run at the attention format's peak
    attn_slow = peak / (acc.peak_tflops[attn_fmt].value * TFLOPS) if fmt else 1.0
    flops_s = tp * peak * g.compute_efficiency * (gp.moe_compute_efficiency if model.moe else 1.0)
    e_params = expert_params(model)
    bpw = q.bytes_per_weight.value
    exp_bytes_dev = e_params * bpw / tp
    # what a decode step reads besides the experts: every other weight but the input embedding's rows
    ne_bytes_dev = w_dev - exp_bytes_dev - unread_embedding_bytes(model, q) / tp
    if model.moe is not None:
        p = min(model.moe.experts_per_token / model.moe.num_experts, 1.0)
        log1m_p = math.log1p(-p) if p < 1 else -1e9
    else:
        log1m_p = 0.0
    kvf, kvs = kv_bytes_per_token(model, q, tp)
    sw_frac = model.sliding_window_layer_fraction if model.sliding_window else 0.0
    # QK^T over the query/key head dim and AV over the value head dim, 2 FLOP per MAC, per context
    # token and layer: 4 x heads x head_dim where the two agree; MLA prefill (up-projected heads) takes
    # the value head dim apart (DeepSeek-V3: 192 and 128, 1.2x less than 4 x 192; QA)
    v_dim = model.mla.v_head_dim if model.mla is not None and model.mla.v_head_dim else model.head_dim
    attn = 2.0 * model.num_attention_heads * (model.head_dim + v_dim) * model.num_layers * attn_slow
    # MLA decodes with the up-projections absorbed (DeepSeek-V2/V3, FlashMLA): each head's query meets
    # the cached latent + RoPE key (kv_lora_rank + rope_head_dim) and its output is the latent
    # (kv_lora_rank): 2 heads (2 kv_lora_rank + rope_head_dim) per layer, 2.8x the MHA count for
    # DeepSeek-V3 (QA); prefill runs the up-projected heads, as counted above
    attn_dec = (2.0 * model.num_attention_heads * (2 * model.mla.kv_lora_rank + model.mla.rope_head_dim)
                * model.num_layers * attn_slow if model.mla is not None else attn)
    if tp > 1:
        lat = (acc.interconnect.latency_us.value if acc.interconnect.latency_us
               else gp.allreduce_latency_us) * 1e-6
        link = (acc.interconnect.bandwidth_gbps.value * GB
                * gp.link_efficiency_by_interconnect.get(acc.interconnect.kind, gp.link_efficiency))
        comm_fixed = 2 * model.num_layers * lat
        comm_tok = 2 * model.num_layers * 2 * (tp - 1) / tp * model.hidden_size * gp.activation_bytes / link
    else:
        comm_fixed = comm_tok = 0.0
    idle = acc.idle_w.value * tp
    return CandidateTerms(
        reason=reason, tp=tp, family=acc.family, peak_format=fmt,
        weight_bytes_dev=w_dev, ne_time_s=ne_bytes_dev / bw, exp_time_s=exp_bytes_dev / bw,
        # each expert a step runs computes t0 rows beyond its tokens (whole row tiles; QA s22: gpt-oss
        # decode at ~28 tokens per expert ran ~2x the expert FLOPs), at the replica's FLOP/s
        exp_pad_s=2.0 * gp.moe_tile_padding_tokens * e_params / flops_s,
        exp_tok_s=2.0 * e_params * (-math.expm1(log1m_p)) / flops_s,
        log1m_p=log1m_p, kv_full_tok_dev=kvf, kv_sw_tok_dev=kvs,
        window=float(model.sliding_window) if model.sliding_window else math.inf,
        kv_cap_bytes_dev=max(kv_cap, 0.0),
        # (the input embedding is a lookup, no FLOPs; tied, the same matrix makes the logits)
        flops_tok=2.0 * (model.active_params_b.value * GB
                         - (0.0 if model.tie_word_embeddings else embedding_params(model))),
        attn_full=attn * (1 - sw_frac), attn_sw=attn * sw_frac, attn_decode_full=attn_dec * (1 - sw_frac),
        flops_per_s=flops_s, bytes_per_s=bw, overhead_s=g.step_overhead_ms * 1e-3,
        overhead_per_seq_s=gp.step_overhead_per_seq_us * 1e-6, unoverlapped=gp.unoverlapped_fraction,
        comm_fixed_s=comm_fixed, comm_per_token_s=comm_tok,
        max_context=float(model.max_context_tokens), max_batch=gp.max_batch,
        idle_w=idle, tdp_w=acc.tdp_w.value * tp, mem_bw_gbps=acc.mem_bw_gbps.value,
        peak_tflops=peak / TFLOPS)
