"""Serving-shaped kernel ceilings on one GPU: what the performance model's efficiencies may not exceed.

The performance model (solver/perf) prices a decode step as weights + KV read at
``bandwidth x bandwidth_efficiency`` and a prefill as FLOPs at ``peak x
compute_efficiency``, with both efficiencies fitted to published end-to-end
serving measurements.  This script times the kernels those terms stand for, at
the shapes of the catalog's dense models, so the fitted values can be checked
against what the hardware does:

* decode GEMMs: activations [B, K] x weights [K, N] (the QKV, output, gate/up
  and down projections of Llama-3.1-8B and of a 70B layer at TP 1), B = 1 ...
  256, BF16 and FP8 (``torch._scaled_mm``), each projection alone and a
  layer's four in a row; figure: weight bytes / time against the datasheet
  bandwidth (every weight matrix is read once a step);
* prefill GEMMs: [T, K] x [K, N] for T = 512 ... 8192 tokens; figure: FLOP/s
  against the catalog's dense peak of the format;
* decode attention: one query token per sequence over a KV cache of L tokens
  (GQA 32 query / 8 KV heads of 128, BF16; ``scaled_dot_product_attention``);
  figure: KV bytes / time against the datasheet bandwidth;
* prefill attention: causal, one sequence of L tokens; figure: FLOP/s
  (``4 x L^2 / 2 x heads x head_dim``) against the BF16 peak.

Weights and KV caches rotate over enough copies that each timing reads from
memory, not from the L2 cache; GEMMs run inside CUDA graphs, as decode steps do
in serving engines.  Each figure is the median of ``--repeats`` timed
runs (CUDA events) after warm-up.  Output: one JSON document (``--out``) with
the device, library versions, every shape and figure.

Run on the GPU itself (needs PyTorch with CUDA):
    python3 benchmarks/gpu/kernels.py --peak-bf16-tflops 989 --peak-fp8-tflops 1979 \
        --mem-bw-gbps 3350 --out kernels-h100.json
(the datasheet figures of the accelerator, as in `fleetopt catalog show ID`).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics

#: (model, projection, K, N) per layer at TP 1; Llama-3.1-8B: hidden 4096, 32/8 heads of 128,
#: FFN 14336; Llama-3.1-70B: hidden 8192, 64/8 heads of 128, FFN 28672 (the models' config.json)
DECODE_SHAPES = [
    ("llama-3.1-8b", "qkv", 4096, 6144), ("llama-3.1-8b", "o", 4096, 4096),
    ("llama-3.1-8b", "gate_up", 4096, 28672), ("llama-3.1-8b", "down", 14336, 4096),
    ("llama-3.1-70b", "qkv", 8192, 10240), ("llama-3.1-70b", "o", 8192, 8192),
    ("llama-3.1-70b", "gate_up", 8192, 57344), ("llama-3.1-70b", "down", 28672, 8192),
]
BATCHES = [1, 8, 32, 64, 128, 256]
PREFILL_TOKENS = [512, 2048, 8192]
ATTN_KV_TOKENS = [1024, 4096, 16384, 32768]
ROTATE_BYTES = 2 * 1024 ** 3          # read at least this much between reuses of a buffer (L2 is 50-60 MB)


def timer(torch, fn, repeats: int, warmup: int = 3) -> float:
    """Median seconds of ``fn()`` over ``repeats`` CUDA-event timings."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) / 1e3)
    return statistics.median(times)


def rotating(make, nbytes: int):
    """Enough copies of one buffer that cycling through them reads ROTATE_BYTES from memory."""
    n = max(2, -(-ROTATE_BYTES // max(nbytes, 1)))
    return [make() for _ in range(min(n, 64))]


def graph_time(torch, calls, repeats: int) -> float:
    """Median seconds of running ``calls`` in order, captured as one CUDA graph.

    Serving engines run decode steps as CUDA graphs (vLLM, TensorRT-LLM), so launch latency is not
    part of what the bandwidth efficiency stands for; timing kernels one launch at a time would
    count ~15-20 us of it against a 10-30 us GEMM.
    """
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for c in calls:
            c()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for c in calls:
            c()
    return timer(torch, graph.replay, repeats)


def matmul(torch, fmt: str, m: int, k: int):
    """(input [m, k], weight factory [k, n], product) for ``fmt``: bf16, or fp8 e4m3 with BF16 output."""
    if fmt == "bf16":
        x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
        return x, (lambda n: torch.randn(k, n, device="cuda", dtype=torch.bfloat16)), (lambda x, w: x @ w)
    # _scaled_mm wants dimensions divisible by 16: a smaller batch is padded (as FP8 kernels do)
    x = torch.randn(16 * -(-m // 16), k, device="cuda").to(torch.float8_e4m3fn)
    one = torch.ones((), device="cuda")
    return (x, (lambda n: torch.randn(n, k, device="cuda").to(torch.float8_e4m3fn).t()),
            (lambda x, w: torch._scaled_mm(x, w, scale_a=one, scale_b=one, out_dtype=torch.bfloat16)))


def gemm(torch, fmt: str, m: int, k: int, n: int, repeats: int) -> float:
    """Seconds per [m, k] x [k, n] product in ``fmt``, over rotating weights in one CUDA graph."""
    x, weight, mm = matmul(torch, fmt, m, k)
    ws = rotating(lambda: weight(n), (2 if fmt == "bf16" else 1) * k * n)
    return graph_time(torch, [lambda w=w: mm(x, w) for w in ws], repeats) / len(ws)


def decode_layers(torch, fmt: str, shapes, batch: int, repeats: int) -> tuple[float, int]:
    """Seconds per layer of a decode step's projections (``shapes``: (K, N) each), and layer bytes.

    Distinct layers (as many as ROTATE_BYTES of weights) run back to back in one CUDA graph, as the
    layers of one decode step do.
    """
    wbytes = 2 if fmt == "bf16" else 1
    layer_bytes = sum(wbytes * k * n for k, n in shapes)
    n_layers = min(64, max(2, -(-ROTATE_BYTES // layer_bytes)))
    calls = []
    inputs = {k: matmul(torch, fmt, batch, k) for k, _ in shapes}
    for _ in range(n_layers):
        for k, n in shapes:
            x, weight, mm = inputs[k]
            calls.append(lambda x=x, w=weight(n), mm=mm: mm(x, w))
    return graph_time(torch, calls, repeats) / n_layers, layer_bytes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--peak-bf16-tflops", type=float, required=True)
    ap.add_argument("--peak-fp8-tflops", type=float, required=True)
    ap.add_argument("--mem-bw-gbps", type=float, required=True)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    peak = {"bf16": args.peak_bf16_tflops * 1e12, "fp8": args.peak_fp8_tflops * 1e12}
    bw = args.mem_bw_gbps * 1e9
    out = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "cuda": torch.version.cuda,
           "python": platform.python_version(), "datasheet": vars(args).copy(),
           "decode_gemm": [], "decode_layer": [], "prefill_gemm": [], "decode_attention": [], "prefill_attention": []}

    for fmt, wbytes in (("bf16", 2), ("fp8", 1)):
        for model, proj, k, n in DECODE_SHAPES:
            for b in BATCHES:
                t = gemm(torch, fmt, b, k, n, args.repeats)
                out["decode_gemm"].append({
                    "format": fmt, "model": model, "proj": proj, "batch": b, "k": k, "n": n, "us": t * 1e6,
                    "weight_bw_fraction": wbytes * k * n / t / bw,
                    "compute_fraction": 2 * b * k * n / t / peak[fmt]})
        for model in sorted({m for m, *_ in DECODE_SHAPES}):
            shapes = [(k, n) for m, _, k, n in DECODE_SHAPES if m == model]
            for b in BATCHES:
                t, nbytes = decode_layers(torch, fmt, shapes, b, args.repeats)
                flops = 2 * b * sum(k * n for k, n in shapes)
                out["decode_layer"].append({
                    "format": fmt, "model": model, "batch": b, "us_per_layer": t * 1e6, "layer_bytes": nbytes,
                    "weight_bw_fraction": nbytes / t / bw, "compute_fraction": flops / t / peak[fmt]})
        for model, proj, k, n in DECODE_SHAPES:
            if proj not in ("gate_up", "down"):
                continue
            for tok in PREFILL_TOKENS:
                t = gemm(torch, fmt, tok, k, n, max(5, args.repeats // 2))
                out["prefill_gemm"].append({
                    "format": fmt, "model": model, "proj": proj, "tokens": tok, "k": k, "n": n, "us": t * 1e6,
                    "compute_fraction": 2 * tok * k * n / t / peak[fmt]})

    heads, kv_heads, hd = 32, 8, 128
    for length in ATTN_KV_TOKENS:
        batch = max(1, int(4e9 // (2 * length * kv_heads * hd * 2)))      # ~4 GB of KV per timing
        batch = min(batch, 256)
        q = torch.randn(batch, heads, 1, hd, device="cuda", dtype=torch.bfloat16)
        kvs = rotating(lambda: (torch.randn(batch, kv_heads, length, hd, device="cuda", dtype=torch.bfloat16),
                                torch.randn(batch, kv_heads, length, hd, device="cuda", dtype=torch.bfloat16)),
                       2 * batch * kv_heads * length * hd * 2)
        it = iter(range(10 ** 9))

        def step():
            kk, vv = kvs[next(it) % len(kvs)]
            return F.scaled_dot_product_attention(q, kk, vv, enable_gqa=True)
        t = timer(torch, step, args.repeats)
        kv_bytes = 2 * batch * kv_heads * length * hd * 2
        out["decode_attention"].append({"kv_tokens": length, "batch": batch, "us": t * 1e6,
                                        "kv_bw_fraction": kv_bytes / t / bw})

    for length in (2048, 8192, 32768):
        q = torch.randn(1, heads, length, hd, device="cuda", dtype=torch.bfloat16)
        k = torch.randn(1, heads, length, hd, device="cuda", dtype=torch.bfloat16)
        v = torch.randn(1, heads, length, hd, device="cuda", dtype=torch.bfloat16)
        t = timer(torch, lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True), max(5, args.repeats // 2))
        flops = 4 * length * length / 2 * heads * hd
        out["prefill_attention"].append({"tokens": length, "us": t * 1e6, "compute_fraction": flops / t / peak["bf16"]})

    with open(args.out, "w") as fh:
        json.dump(out, fh, indent=1)
    for key in ("decode_gemm", "decode_layer", "prefill_gemm", "decode_attention", "prefill_attention"):
        for row in out[key]:
            print(key, json.dumps(row))


if __name__ == "__main__":
    main()
