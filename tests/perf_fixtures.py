"""Small catalog objects for the performance-model tests (built from the schema classes).

Figures are copied from the project's reference data (accelerator datasheets,
HF config.json); the tests do not read the shipped catalog so that they pin the
model's arithmetic, not the catalog's contents.
"""

from __future__ import annotations

from solver.catalog import Catalog
from solver.catalog.schema import Accelerator, Model, Quantization

SRC = "test fixture (see tests/perf_fixtures.py)"


def fig(v):
    return {"value": v, "source": SRC}


def accelerator(id="h100-sxm", family="hopper", memory_gb=80, mem_bw_gbps=3350, peaks=None,
                tdp_w=700, idle_w=100, link_gbps=450, latency_us=None, kind="nvlink",
                devices_per_node=8, weight_only=("int4",)) -> Accelerator:
    peaks = peaks if peaks is not None else {"bf16": 989, "fp16": 989, "fp8": 1979, "int8": 1979}
    ic = {"kind": kind, "bandwidth_gbps": fig(link_gbps)}
    if latency_us is not None:
        ic["latency_us"] = fig(latency_us)
    return Accelerator.model_validate(dict(
        id=id, name=id, vendor="x", family=family, memory_gb=fig(memory_gb), mem_bw_gbps=fig(mem_bw_gbps),
        peak_tflops={k: fig(v) for k, v in peaks.items()}, tdp_w=fig(tdp_w), idle_w=fig(idle_w),
        interconnect=ic, devices_per_node=devices_per_node, weight_only_formats=list(weight_only)))


def model(id, layers, hidden, heads, kv_heads, head_dim, inter, total_b, active_b=None, moe=None,
          mla=None, max_ctx=131072, sliding_window=None, sw_frac=0.0, vocab=128256) -> Model:
    d = dict(id=id, name=id, arch="moe" if moe else "dense", tier="medium", num_layers=layers,
             hidden_size=hidden, num_attention_heads=heads, num_kv_heads=kv_heads, head_dim=head_dim,
             intermediate_size=inter, vocab_size=vocab, max_context_tokens=max_ctx,
             total_params_b=fig(total_b), active_params_b=fig(active_b or total_b), quality=fig(70),
             source=SRC, sliding_window=sliding_window, sliding_window_layer_fraction=sw_frac)
    if moe:
        d["moe"] = moe
    if mla:
        d["mla"] = mla
    return Model.model_validate(d)


def quant(id, bpw, kvb, wfmt, afmt, cfmt, weight_only=False,
          families=("hopper", "ampere", "ada", "blackwell", "cdna3")) -> Quantization:
    return Quantization.model_validate(dict(
        id=id, name=id, weight_format=wfmt, activation_format=afmt, compute_format=cfmt,
        bytes_per_weight=fig(bpw), kv_bytes_per_element=fig(kvb), weight_only=weight_only,
        supported_families=list(families), retention=[{"retention": fig(1.0)}]))


LLAMA_8B = model("llama-3.1-8b", 32, 4096, 32, 8, 128, 14336, 8.03)
LLAMA_70B = model("llama-3.1-70b", 80, 8192, 64, 8, 128, 28672, 70.55)
MIXTRAL = model("mixtral-8x7b", 32, 4096, 32, 8, 128, 14336, 46.7, 12.88, max_ctx=32768, vocab=32000,
                moe={"num_experts": 8, "experts_per_token": 2, "expert_intermediate_size": 14336})
DEEPSEEK_V3 = model("deepseek-v3", 61, 7168, 128, 128, 128, 18432, 671.03, 37.55, max_ctx=163840,
                    moe={"num_experts": 256, "experts_per_token": 8, "shared_experts": 1,
                         "expert_intermediate_size": 2048, "dense_layers": 3},
                    mla={"kv_lora_rank": 512, "rope_head_dim": 64})

BF16 = quant("bf16", 2.0, 2.0, "bf16", "bf16", "bf16")
FP8 = quant("fp8", 1.0, 1.0, "fp8", "fp8", "fp8", families=("hopper", "ada", "blackwell", "cdna3"))
INT4 = quant("int4", 0.5156, 2.0, "int4", "bf16", "bf16", weight_only=True)
FP4 = quant("fp4", 0.5625, 1.0, "fp4", "fp4", "fp4", families=("blackwell",))

H100 = accelerator()
A100 = accelerator("a100-80gb", "ampere", 80, 2039, {"bf16": 312, "fp16": 312, "int8": 624}, 400, 60, 300)
H200 = accelerator("h200-sxm", "hopper", 141, 4800)


def catalog(accs=(H100, A100, H200), models=(LLAMA_8B, LLAMA_70B, MIXTRAL, DEEPSEEK_V3),
            quants=(BF16, FP8, INT4, FP4)) -> Catalog:
    return Catalog(accelerators={a.id: a for a in accs}, models={m.id: m for m in models},
                   quantization={q.id: q for q in quants}, regions={}, sources={}, layers=["test"],
                   version="test")
