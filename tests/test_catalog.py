"""The shipped catalog and the `fleetopt catalog` command.

Spot checks compare against values copied by hand from the datasheets and
configs (cited next to each number), and against quantities recomputed here
from first principles (parameter counts from the architecture, KV bytes per
token, bytes per weight from the bit layout, retention from the model-card
recoveries).  Overlay tests check merging, provenance and that every kind of
bad overlay is reported with file, line and field path.
"""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import pytest

from solver.catalog import SHIPPED_LAYER, Catalog, default_catalog
from solver.catalog.schema import KINDS
from solver.cli import main
from solver.cli.catalog_cmd import kv_bytes_per_token
from solver.errors import InputError


@pytest.fixture(scope="module")
def cat() -> Catalog:
    return Catalog.load()


def write(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return str(p)


def load_errors(*overlays: str) -> list:
    with pytest.raises(InputError) as info:
        Catalog.load(list(overlays))
    return info.value.issues


# --------------------------------------------------------------------------- shipped content

def test_shipped_catalog_counts(cat):
    assert len(cat.accelerators) >= 16
    assert len(cat.models) >= 10
    assert len(cat.quantization) >= 5
    assert len(cat.regions) >= 6
    for aid in ["h100-sxm", "h100-pcie", "h200-sxm", "b200", "gb200", "a100-80gb", "a100-40gb", "l40s", "l4",
                "a10g", "t4", "mi300x", "mi325x", "gaudi3", "tpu-v5e", "tpu-v6e", "inferentia2"]:
        assert aid in cat.accelerators, aid
    for mid in ["llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b", "llama-3.2-1b", "llama-3.2-3b",
                "mixtral-8x7b", "qwen2.5-7b", "qwen2.5-72b", "deepseek-v3", "gpt-oss-20b", "gpt-oss-120b",
                "llama-2-70b", "llama-2-7b"]:
        assert mid in cat.models, mid
    for qid in ["bf16", "fp8", "int8", "int4", "fp4", "mxfp4"]:
        assert qid in cat.quantization, qid
    for rid in ["virginia", "texas", "california", "ireland", "germany", "nordics"]:
        assert rid in cat.regions, rid
    assert cat.version.startswith("2026.11#")


def test_every_figure_has_a_resolvable_source(cat):
    n = 0
    for kind in KINDS:
        for eid in cat.entries(kind):
            for row in cat.figures(kind, eid):
                n += 1
                src = row["source"]
                assert src in cat.sources or "://" in src, (kind, eid, row["field"], src)
                assert row["confidence"] in ("high", "medium", "low")
                assert row["layer"] == SHIPPED_LAYER
            entry = cat.get(kind, eid)
            if getattr(entry, "source", None):
                assert entry.source in cat.sources, (kind, eid, entry.source)
    assert n > 400  # every offer price, spec and band is a sourced figure


def test_weak_sources_are_never_high_confidence(cat):
    """A figure read from an assumption or an unverified source must not claim high confidence."""
    weak_words = ("planning assumption", "unverified", "recalled", "approx")
    for kind in KINDS:
        for eid in cat.entries(kind):
            for row in cat.figures(kind, eid):
                src = cat.sources.get(row["source"])
                verification = (src.verification or "").lower() if src else ""
                if any(w in verification for w in weak_words):
                    assert row["confidence"] != "high", (kind, eid, row["field"], verification)
                if row["confidence"] == "low":
                    assert row["note"] or "assumption" in verification or "recalled" in verification, \
                        (kind, eid, row["field"], "low-confidence figure without a note")


def test_datasheet_spot_checks(cat):
    a = cat.accelerators
    # NVIDIA H100 datasheet (SXM column): 3.35 TB/s, 1979 TFLOPS BF16 *with sparsity* -> 989 dense, 700 W
    assert a["h100-sxm"].mem_bw_gbps.value == 3350
    assert a["h100-sxm"].peak_tflops["bf16"].value == 989
    assert a["h100-sxm"].peak_tflops["fp8"].value == 1979
    assert a["h100-sxm"].tdp_w.value == 700
    gib = 2**30 / 1e9                        # HBM capacities are binary (source hbm-binary)
    assert a["h100-sxm"].memory_gb.value == pytest.approx(80 * gib, abs=0.01)
    # H200: 141 GB at 4.8 TB/s, same compute as H100 SXM
    assert a["h200-sxm"].memory_gb.value == pytest.approx(141 * gib, abs=0.01)
    assert a["h200-sxm"].mem_bw_gbps.value == 4800
    assert a["h200-sxm"].peak_tflops["bf16"].value == a["h100-sxm"].peak_tflops["bf16"].value
    # DGX B200: 1440 GB / 8 GPUs = 180 GB; 18 PF FP4 sparse -> 9000 dense
    assert a["b200"].memory_gb.value == pytest.approx(183359 * 2**20 / 1e9, abs=0.01)   # skypilot MiB
    assert a["b200"].peak_tflops["fp4"].value == 18000 / 2
    # A100 datasheet: 312 TFLOPS BF16 dense, 2039 GB/s (80GB SXM), 1555 GB/s (40GB)
    assert a["a100-80gb"].peak_tflops["bf16"].value == 312
    assert a["a100-80gb"].mem_bw_gbps.value == 2039
    assert a["a100-40gb"].mem_bw_gbps.value == 1555
    # L4: 24 GB, 300 GB/s, 72 W; T4: 16 GB, 320 GB/s, 65 TFLOPS FP16, 70 W
    assert (a["l4"].memory_gb.value, a["l4"].mem_bw_gbps.value, a["l4"].tdp_w.value) == (24, 300, 72)
    assert (a["t4"].mem_bw_gbps.value, a["t4"].peak_tflops["fp16"].value, a["t4"].tdp_w.value) == (320, 65, 70)
    # MI300X: 192 GB HBM3, 5.3 TB/s, 1307.4 TFLOPS BF16 dense
    assert a["mi300x"].memory_gb.value == pytest.approx(192 * gib, abs=0.01)
    assert a["mi300x"].mem_bw_gbps.value == 5300
    assert a["mi300x"].peak_tflops["bf16"].value == 1307.4
    # Inferentia2: 32 GiB = 32 * 2**30 bytes = 34.36 GB
    assert a["inferentia2"].memory_gb.value == pytest.approx(32 * 2**30 / 1e9, abs=0.01)
    # NVLink4 900 GB/s bidirectional -> 450 per direction; NVLink5 1800 -> 900
    assert a["h100-sxm"].interconnect.bandwidth_gbps.value == 900 / 2
    assert a["b200"].interconnect.bandwidth_gbps.value == 1800 / 2
    assert a["gb200"].devices_per_node == 72
    assert a["h100-sxm"].devices_per_node == 8


def test_no_format_the_hardware_lacks(cat):
    a = cat.accelerators
    for aid, acc in a.items():
        if acc.family == "hopper":
            assert "int4" not in acc.peak_tflops and "fp4" not in acc.peak_tflops, aid
        if acc.family == "ampere":
            assert "fp8" not in acc.peak_tflops and "fp4" not in acc.peak_tflops, aid
        if acc.family != "blackwell" and acc.family != "cdna4":
            assert "fp4" not in acc.peak_tflops, aid
        # a format is either native or weight-only, never both
        assert not set(acc.weight_only_formats) & set(acc.peak_tflops), aid
    assert set(a["t4"].peak_tflops) == {"fp16", "int8", "int4"}
    # dense peaks are never above the next format's (FP8 >= BF16 where both exist)
    for aid, acc in a.items():
        pk = acc.peak_tflops
        if "fp8" in pk and "bf16" in pk:
            assert pk["fp8"].value >= pk["bf16"].value, aid


def test_every_supported_quantization_can_run(cat):
    """Where a scheme claims a family, each device of it stores the weights (natively or weight-only)
    and has a compute path (the scheme's compute format, or 16-bit compute for weight-only)."""
    sixteen = {"bf16", "fp16"}
    for qid, q in cat.quantization.items():
        for aid, a in cat.accelerators.items():
            if a.family not in q.supported_families:
                continue
            pk = set(a.peak_tflops)
            stores = q.weight_format in pk or q.weight_format in a.weight_only_formats
            computes = (q.compute_format in pk
                        or (q.compute_format in sixteen and pk & sixteen)
                        or (q.weight_format in a.weight_only_formats and pk & sixteen))
            assert stores and computes, (qid, aid)
    families = {a.family for a in cat.accelerators.values()}
    for q in cat.quantization.values():
        assert set(q.supported_families) <= families, q.id
    # sourced support matrix (vLLM hw_support): FP8 W8A8 native on Hopper/Ada/Blackwell/CDNA3; INT4 W4A16 not on AMD
    assert {"hopper", "ada", "blackwell", "cdna3", "gaudi"} <= set(cat.quantization["fp8"].supported_families)
    assert "cdna3" not in cat.quantization["int4"].supported_families
    assert "turing" not in cat.quantization["bf16"].supported_families


def _dense_params(m, tied=False) -> float:
    """Parameters of a dense or MoE transformer from its config (attention, FFN, embeddings, norms)."""
    h, L = m.hidden_size, m.num_layers
    q_dim = m.num_attention_heads * m.head_dim
    kv_dim = m.num_kv_heads * m.head_dim
    attn = h * q_dim + 2 * h * kv_dim + q_dim * h
    if m.moe:
        ffn_total = m.moe.num_experts * 3 * h * m.moe.expert_intermediate_size + h * m.moe.num_experts
        ffn_active = m.moe.experts_per_token * 3 * h * m.moe.expert_intermediate_size
    else:
        ffn_total = ffn_active = 3 * h * m.intermediate_size
    emb = m.vocab_size * h * (1 if tied else 2)
    norms = 2 * h * L + h
    total = L * (attn + ffn_total) + emb + norms
    active = L * (attn + ffn_active) + emb + norms
    return total / 1e9, active / 1e9


@pytest.mark.parametrize("mid,tied", [("llama-3.1-8b", False), ("llama-3.1-70b", False),
                                      ("llama-3.1-405b", False), ("llama-3.2-1b", True),
                                      ("llama-3.2-3b", True), ("qwen2.5-7b", False), ("qwen2.5-72b", False),
                                      ("llama-2-70b", False), ("llama-2-7b", False), ("mixtral-8x7b", False)])
def test_parameter_counts_match_the_architecture(cat, mid, tied):
    m = cat.models[mid]
    total, active = _dense_params(m, tied)
    # Qwen2.5 adds q/k/v biases (< 0.1%); everything else is exact up to rounding of the catalog value.
    assert m.total_params_b.value == pytest.approx(total, rel=0.005), (mid, total)
    assert m.active_params_b.value == pytest.approx(active, rel=0.005), (mid, active)


def test_kv_bytes_per_token(cat):
    m = cat.models["llama-3.1-8b"]
    # 2 (K and V) x 32 layers x 8 KV heads x 128 head dim x 2 bytes = 131072
    assert 2 * m.num_layers * m.num_kv_heads * m.head_dim * 2 == 2 * 32 * 8 * 128 * 2 == 131072
    assert kv_bytes_per_token(m) == 131072
    # Llama-3.1-70B: 2 x 80 x 8 x 128 x 2 = 327680 (models.csv kv column)
    assert kv_bytes_per_token(cat.models["llama-3.1-70b"]) == 327680
    # Llama-2-7B is MHA: 2 x 32 x 32 x 128 x 2 = 524288
    assert kv_bytes_per_token(cat.models["llama-2-7b"]) == 524288
    # DeepSeek-V3 MLA: 61 layers x (512 latent + 64 rope) x 2 bytes = 70272
    assert kv_bytes_per_token(cat.models["deepseek-v3"]) == 61 * (512 + 64) * 2 == 70272
    # FP8 KV halves it
    assert kv_bytes_per_token(m, 1.0) == 65536


def test_model_structure(cat):
    ds = cat.models["deepseek-v3"]
    assert ds.moe.dense_layers == 3 and ds.mla.kv_lora_rank == 512 and ds.mla.rope_head_dim == 64
    for mid in ("gpt-oss-20b", "gpt-oss-120b"):
        m = cat.models[mid]
        assert m.sliding_window == 128 and m.sliding_window_layer_fraction == 0.5
        assert m.native_formats == ["mxfp4"]
        assert m.native_formats[0] in cat.quantization
    for m in cat.models.values():
        assert 0 < m.quality.value <= 100
        assert all(f in cat.quantization for f in m.native_formats), m.id
        # tier follows size: small < 10B total, frontier >= 400B total
        if m.total_params_b.value < 10:
            assert m.tier == "small", m.id
        if m.total_params_b.value >= 400:
            assert m.tier == "frontier", m.id


def test_quantization_figures(cat):
    q = cat.quantization
    # bits per weight / 8, scales included
    assert q["int4"].bytes_per_weight.value == pytest.approx((4 + 16 / 128) / 8, abs=1e-4)  # 0.515625
    assert q["fp4"].bytes_per_weight.value == pytest.approx((4 + 8 / 16) / 8, abs=1e-4)    # 0.5625
    assert q["mxfp4"].bytes_per_weight.value == pytest.approx((4 + 8 / 32) / 8, abs=1e-4)  # 0.53125
    assert q["bf16"].bytes_per_weight.value == 2 and q["fp8"].bytes_per_weight.value == 1
    assert q["int4"].weight_only and q["int4"].compute_format == "bf16"
    assert not q["fp8"].weight_only and q["fp8"].compute_format == "fp8"

    def band(qid, size_b):
        hits = [r for r in q[qid].retention if r.min_params_b <= size_b < r.max_params_b]
        assert len(hits) == 1, (qid, size_b)
        return hits[0].retention.value

    # W4A16 recoveries (RedHat/NeuralMagic model cards): 8B mean of 93.0, 98.9, 96.1, 99.7, 97.4
    assert band("int4", 8.03) == pytest.approx(sum([93.0, 98.9, 96.1, 99.7, 97.4]) / 5 / 100, abs=5e-4)
    assert band("int4", 70.55) == pytest.approx(sum([100.0, 99.4, 97.4, 101.0, 99.2]) / 5 / 100, abs=5e-4)
    assert band("int4", 405.85) == pytest.approx(sum([98.7, 100.0, 99.0, 98.0, 98.5]) / 5 / 100, abs=5e-4)
    assert band("fp4", 8.03) == pytest.approx(74.0 / 78.9, abs=5e-4)
    assert band("bf16", 1000) == 1.0
    # bands cover every size without gaps and retention never exceeds 1
    for qid, scheme in q.items():
        for size in (0.5, 8, 15, 70, 199.9, 200, 671, 5000):
            assert 0 < band(qid, size) <= 1.0
    # the modelling notes: FP8 close to lossless, INT8 W8A8 loses 1-3% (Kurtic et al.: the scheme's
    # aggregate 98.5% in shared/data/quantization.csv); INT8 never rated above FP8 (QA: the 8B and 70B
    # model cards put it at 1.0 and 0.998, above FP8's 0.995)
    for size in (0.5, 8, 15, 70, 199.9, 200, 405, 671):
        assert 0.97 <= band("int8", size) <= 0.99, size
        assert band("int8", size) < band("fp8", size) <= 1.0, size
    assert band("int8", 70.55) == pytest.approx(0.985)


def test_offers_prices_and_regions(cat):
    n_offers = 0
    for aid, a in cat.accelerators.items():
        for o in a.offers:
            n_offers += 1
            od = o.on_demand_usd_per_device_hour.value
            assert o.region in cat.regions
            if o.spot_usd_per_device_hour:
                assert o.spot_usd_per_device_hour.value < od, (aid, o.instance, o.region)
            r1, r3 = o.reserved_1y_usd_per_device_hour, o.reserved_3y_usd_per_device_hour
            if r1 or r3:
                assert r3.value < r1.value < od
                assert r1.confidence == "low" and r3.confidence == "low"
            if o.provider in ("aws", "gcp"):
                # provider regions named in regions.yaml must agree with the offer's placement
                assert o.provider in cat.regions[o.region].cloud_regions, (aid, o.provider, o.region)
    assert n_offers >= 50
    # p5.48xlarge us-east-1: $55.04 per instance / 8 GPUs = $6.88 per GPU-hour
    p5 = [o for o in cat.accelerators["h100-sxm"].offers if o.instance == "p5.48xlarge" and o.region == "virginia"]
    assert p5[0].on_demand_usd_per_device_hour.value == pytest.approx(55.04 / 8)
    assert p5[0].reserved_1y_usd_per_device_hour.value == pytest.approx(55.04 / 8 * 0.7, abs=1e-4)
    # inf2.48xlarge us-east-1 $12.98127 / 12 chips
    inf = [o for o in cat.accelerators["inferentia2"].offers if o.region == "virginia"][0]
    assert inf.on_demand_usd_per_device_hour.value == pytest.approx(12.98127 / 12, abs=1e-5)


def test_purchase_terms(cat):
    gb = cat.accelerators["gb200"].purchase
    assert gb.usd_per_device.value == pytest.approx(3.1e6 / 72, abs=0.01)
    assert gb.devices_per_server == 72
    h = cat.accelerators["h100-sxm"].purchase
    assert h.usd_per_device.value == (25000 + 30000) / 2 and h.devices_per_server == 8
    # colocation: CBRE H2-2024 $184.06 per kW-month x 0.7 kW / 730 h per month
    assert h.hosting_usd_per_device_hour.value == pytest.approx(184.06 * 0.7 / 730, abs=1e-4)
    for aid, a in cat.accelerators.items():
        if a.family in ("tpu", "neuron"):
            assert a.purchase is None, aid  # cloud-only hardware
        if a.purchase:
            assert a.purchase.useful_life_years.value == 5
            assert 0 < a.purchase.maintenance_fraction_per_year.value < 0.5


def test_power(cat):
    for aid, a in cat.accelerators.items():
        assert 0 < a.idle_w.value < a.tdp_w.value
        if a.idle_w.source == "idle-assumption":
            assert a.idle_w.value == pytest.approx(0.15 * a.tdp_w.value, abs=0.05)
            assert a.idle_w.confidence == "low"


def test_regions(cat):
    r = cat.regions
    # EIA 2023 industrial: Virginia 8.92, Texas 6.60, California 18.64 c/kWh
    assert r["virginia"].electricity_usd_per_kwh.value == 0.0892
    assert r["texas"].electricity_usd_per_kwh.value == 0.066
    assert r["california"].electricity_usd_per_kwh.value == 0.1864
    # Eurostat H1-2024 Ireland 0.256 EUR/kWh at 1.08 USD/EUR
    assert r["ireland"].electricity_usd_per_kwh.value == pytest.approx(0.256 * 1.08, abs=1e-4)
    assert r["germany"].carbon_g_per_kwh.value == 381
    for region in r.values():
        assert 1.0 <= region.pue.value < 2.5
        assert region.carbon_g_per_kwh.value < 1000
    providers = {p: rid for rid, reg in r.items() for p, names in reg.cloud_regions.items() for _ in names}
    assert "aws" in providers and "gcp" in providers
    assert r["virginia"].cloud_regions["aws"] == ["us-east-1"]


# --------------------------------------------------------------------------- overlays

def test_a_purchase_lead_time_carries_its_provenance(tmp_path, cat):
    """QA: the lead time multi-period plans use was a bare number with no source.  The shipped one is
    a low-confidence planning assumption with its source; a plain number in an overlay still loads,
    as a figure of low confidence that says it has no source."""
    for aid, a in cat.accelerators.items():
        if a.purchase:
            lt = a.purchase.lead_time_quarters
            assert (lt.value, lt.source, lt.confidence) == (1, "lead-time-assumption", "low"), aid
    ov = write(tmp_path, "lead.yaml", """\
        schema_version: 1
        accelerators:
          - id: h100-sxm
            purchase: {lead_time_quarters: 2}
        """)
    lt = Catalog.load([ov]).accelerators["h100-sxm"].purchase.lead_time_quarters
    assert lt.value == 2 and lt.confidence == "low" and lt.source.startswith("no source given")


def test_overlay_changes_one_price(tmp_path, cat):
    ov = write(tmp_path, "quote.yaml", """\
        schema_version: 1
        accelerators:
          - id: h100-sxm
            purchase:
              usd_per_device: {value: 21000, source: "negotiated vendor quote 2026", confidence: high}
        """)
    merged = Catalog.load([ov])
    p = merged.accelerators["h100-sxm"].purchase
    assert p.usd_per_device.value == 21000
    assert merged.layer_of("accelerators", "h100-sxm", ("purchase", "usd_per_device")) == ov
    # everything else keeps its shipped value and layer
    assert p.useful_life_years.value == cat.accelerators["h100-sxm"].purchase.useful_life_years.value
    assert merged.layer_of("accelerators", "h100-sxm", ("purchase", "useful_life_years")) == SHIPPED_LAYER
    assert merged.layer_of("accelerators", "h100-sxm", ("mem_bw_gbps",)) == SHIPPED_LAYER
    assert merged.accelerators["h100-sxm"].offers == cat.accelerators["h100-sxm"].offers
    rows = {r["field"]: r for r in merged.figures("accelerators", "h100-sxm")}
    assert rows["purchase.usd_per_device"]["layer"] == ov
    assert rows["purchase.usd_per_device"]["source_text"] == "negotiated vendor quote 2026"
    assert rows["tdp_w"]["layer"] == SHIPPED_LAYER
    assert merged.version != cat.version  # content hash changes with the content


#: an overlay that gives l4 one offer (the list replaces the shipped ones whole)
ONE_L4_OFFER = """\
        schema_version: 1
        accelerators:
          - id: l4
            offers:
              - provider: colo
                instance: rack-a
                region: texas
                devices_per_instance: 4
                on_demand_usd_per_device_hour: {value: 0.41, source: "contract 2026-11"}
        """


PROBLEM_ON_L4 = """\
        schema_version: 1
        name: l4-colo
        catalog: [{overlay}]
        workloads:
          - id: chat
            demand: {{requests_per_s: 1}}
            input_tokens: {{mean: 500}}
            output_tokens: {{mean: 200}}
            slo: {{ttft_ms: 2000, tpot_ms: 100}}
            models: [llama-3.1-8b]
        fleet:
          accelerators: [l4]
        """


def test_overlay_replaces_offer_list(tmp_path):
    ov = write(tmp_path, "offers.yaml", ONE_L4_OFFER)
    merged = Catalog.load([ov])
    offers = merged.accelerators["l4"].offers
    assert len(offers) == 1 and offers[0].on_demand_usd_per_device_hour.value == 0.41
    assert merged.layer_of("accelerators", "l4", ("offers", 0, "on_demand_usd_per_device_hour")) == ov


def test_overlay_adds_an_accelerator(tmp_path, capsys):
    ov = write(tmp_path, "private.yaml", """\
        schema_version: 1
        sources:
          lab: {title: "Our lab measurements", verification: retrieved}
        accelerators:
          - id: lab-npu
            name: Lab NPU
            vendor: lab
            family: hopper
            memory_gb: {value: 64, source: lab}
            mem_bw_gbps: {value: 2000, source: lab}
            peak_tflops:
              bf16: {value: 500, source: lab}
            tdp_w: {value: 300, source: lab}
            idle_w: {value: 40, source: lab}
            interconnect:
              kind: pcie
              bandwidth_gbps: {value: 32, source: lab}
            devices_per_node: 4
            offers:
              - provider: lab
                instance: box
                region: virginia
                devices_per_instance: 4
                on_demand_usd_per_device_hour: {value: 1.5, source: lab}
        """)
    merged = Catalog.load([ov])
    assert "lab-npu" in merged.accelerators
    assert merged.layer_of("accelerators", "lab-npu") == ov
    assert len(merged.accelerators) == len(Catalog.load().accelerators) + 1
    assert main(["catalog", "list", "accelerators", "--json", "--catalog", ov]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert ov in doc["layers"]
    lab = [a for a in doc["accelerators"] if a["id"] == "lab-npu"][0]
    assert lab["layer"] == ov
    assert {f["layer"] for f in lab["figures"]} == {ov}
    assert {f["source_text"] for f in lab["figures"]} == {"Our lab measurements [retrieved]"}


def _one(issues, needle):
    hits = [i for i in issues if needle in i.message]
    assert hits, [i.format() for i in issues]
    return hits[0]


def test_overlay_unknown_field_did_you_mean(tmp_path):
    ov = write(tmp_path, "typo.yaml", """\
        schema_version: 1
        accelerators:
          - id: h100-sxm
            memory_gbb: {value: 80, source: x}
        """)
    issue = _one(load_errors(ov), "unknown field")
    assert issue.file == ov and issue.line == 4
    assert issue.path == "accelerators[0].memory_gbb"
    assert "memory_gb" in issue.hint


def test_overlay_negative_price(tmp_path):
    ov = write(tmp_path, "neg.yaml", """\
        schema_version: 1
        accelerators:
          - id: t4
            offers:
              - provider: aws
                instance: g4dn.xlarge
                region: virginia
                devices_per_instance: 1
                on_demand_usd_per_device_hour: {value: -0.5, source: "typo"}
        """)
    issue = _one(load_errors(ov), "must be > 0")
    assert issue.file == ov and issue.line == 9
    assert issue.path.startswith("accelerators[0].offers[0].on_demand_usd_per_device_hour")


def test_overlay_unknown_region(tmp_path):
    ov = write(tmp_path, "region.yaml", """\
        schema_version: 1
        accelerators:
          - id: t4
            offers:
              - provider: aws
                instance: g4dn.xlarge
                region: virgina
                devices_per_instance: 1
                on_demand_usd_per_device_hour: {value: 0.5, source: "quote"}
        """)
    issue = _one(load_errors(ov), "unknown region 'virgina'")
    assert issue.file == ov and issue.line == 7
    assert issue.path == "accelerators[0].offers[0].region"
    assert "virginia" in issue.hint


def test_overlay_duplicate_id(tmp_path):
    ov = write(tmp_path, "dup.yaml", """\
        schema_version: 1
        regions:
          - id: mars
            name: Mars
            country: XX
            electricity_usd_per_kwh: {value: 0.1, source: "guess"}
            pue: {value: 1.2, source: "guess"}
            carbon_g_per_kwh: {value: 0, source: "guess"}
          - id: mars
            name: Mars again
        """)
    issue = _one(load_errors(ov), "duplicate id 'mars'")
    assert issue.file == ov and issue.line == 9
    assert issue.path == "regions[1].id"


def test_overlay_malformed_yaml(tmp_path):
    ov = write(tmp_path, "broken.yaml", """\
        schema_version: 1
        accelerators:
          - id: t4
            tdp_w: {value: 70, source: x
          - id: l4
        """)
    issue = _one(load_errors(ov), "not valid YAML")
    assert issue.file == ov and issue.line in (4, 5)


def test_overlay_bad_confidence(tmp_path):
    ov = write(tmp_path, "conf.yaml", """\
        schema_version: 1
        accelerators:
          - id: t4
            tdp_w: {value: 70, source: "some paper"}
            idle_w: {value: 9, source: "some paper", confidence: sure}
        """)
    conf = _one(load_errors(ov), "Input should be")
    assert conf.file == ov and conf.line == 5 and conf.path.startswith("accelerators[0].idle_w.confidence")


def test_overlay_figure_of_extreme_magnitude_is_bad_input(tmp_path):
    # 1e-300 GB/s or a 1.8e308 W TDP passed "> 0" and overflowed the model's products (a
    # systematic sweep of extreme values through `fleetopt solve` found them)
    ov = write(tmp_path, "extreme.yaml", """\
        schema_version: 1
        accelerators:
          - id: t4
            mem_bw_gbps: {value: 1.0e-300, source: "some paper"}
            tdp_w: {value: 1.7976931348623157e+308, source: "some paper"}
            idle_w: {value: 0, source: "some paper"}
        """)
    issues = load_errors(ov)
    paths = {i.path.rsplit(".", 1)[0] for i in issues if "outside what a catalog figure can be" in i.message}
    assert paths == {"accelerators[0].mem_bw_gbps", "accelerators[0].tdp_w"}, [i.format() for i in issues]


def test_overlay_unknown_source_key(tmp_path):
    ov = write(tmp_path, "src.yaml", """\
        schema_version: 1
        accelerators:
          - id: t4
            tdp_w: {value: 70, source: nowhere}
        """)
    issue = _one(load_errors(ov), "source 'nowhere' is not in any `sources:` table")
    assert issue.file == ov and issue.line == 4 and issue.path == "accelerators[0].tdp_w.source"


def test_overlay_errors_through_cli(tmp_path, capsys):
    ov = write(tmp_path, "typo.yaml", """\
        schema_version: 1
        models:
          - id: llama-3.1-8b
            qualty: {value: 70, source: x}
        """)
    assert main(["catalog", "list", "models", "--catalog", ov]) == 2
    err = capsys.readouterr().err
    assert f"{ov}:4: models[0].qualty: unknown field" in err
    assert "did you mean 'quality'" in err
    assert "Traceback" not in err


# --------------------------------------------------------------------------- CLI

def test_cli_list_json_counts(cat, capsys):
    assert main(["catalog", "list", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["layers"] == [SHIPPED_LAYER]
    assert doc["catalog_version"] == cat.version
    for kind in KINDS:
        assert [e["id"] for e in doc[kind]] == sorted(cat.entries(kind))
    h100 = [a for a in doc["accelerators"] if a["id"] == "h100-sxm"][0]
    fields = {f["field"]: f for f in h100["figures"]}
    assert fields["mem_bw_gbps"]["value"] == 3350
    assert fields["mem_bw_gbps"]["source"] == "nvidia-h100"
    assert "nvidia.com" in fields["mem_bw_gbps"]["source_text"]
    assert fields["idle_w"]["confidence"] == "low"
    assert set(fields["mem_bw_gbps"]) == {"field", "value", "source", "source_text", "confidence",
                                          "confidence_from", "note", "layer"}


def test_cli_list_one_kind_table(capsys):
    assert main(["catalog", "list", "regions"]) == 0
    out = capsys.readouterr().out
    assert "regions (" in out and "virginia" in out and "accelerators (" not in out
    assert main(["catalog", "list", "accelerator"]) == 0  # singular accepted
    out = capsys.readouterr().out
    assert "h100-sxm" in out and "~105" in out  # low-confidence idle power is marked


def test_cli_show(capsys):
    assert main(["catalog", "show", "h100-sxm"]) == 0
    out = capsys.readouterr().out
    assert "3350" in out and "nvidia-h100" in out and "https://www.nvidia.com/en-us/data-center/h100/" in out
    assert "p5.48xlarge" in out
    assert main(["catalog", "show", "llama-3.1-8b"]) == 0
    assert "131072 bytes per token" in capsys.readouterr().out
    assert main(["catalog", "show", "fp8", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "quantization" and doc["id"] == "fp8"
    assert any(f["field"] == "bytes_per_weight" and f["value"] == 1.0 for f in doc["figures"])


def test_cli_show_layer_of_overlay(tmp_path, capsys):
    ov = write(tmp_path, "power.yaml", """\
        schema_version: 1
        regions:
          - id: virginia
            electricity_usd_per_kwh: {value: 0.07, source: "utility contract 2026"}
        """)
    assert main(["catalog", "show", "virginia", "--json", "--catalog", ov]) == 0
    doc = json.loads(capsys.readouterr().out)
    rows = {f["field"]: f for f in doc["figures"]}
    assert rows["electricity_usd_per_kwh"] == {**rows["electricity_usd_per_kwh"], "value": 0.07, "layer": ov}
    assert rows["pue"]["layer"] == SHIPPED_LAYER


@pytest.mark.parametrize("argv,needle", [
    (["catalog", "show", "h100"], "did you mean 'h100-sxm'"),
    (["catalog", "show", "llama-3.1-8b", "--kind", "regions"], "unknown region id"),
    (["catalog", "list", "acelerators"], "did you mean 'accelerators'"),
    (["catalog", "list", "--catalog", "does-not-exist.yaml"], "file not found"),
])
def test_cli_bad_input_exit_2(capsys, argv, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert "Traceback" not in err


def test_cli_catalog_without_subcommand(capsys):
    assert main(["catalog"]) == 2
    assert "list" in capsys.readouterr().err


def test_quality_of_native_formats():
    """A score measured on the weights a model ships in holds in that format (DeepSeek-V3: FP8,
    gpt-oss: MXFP4); narrower formats lose retention relative to the native one; BF16 models as before."""
    from solver.coefficients import quality_of
    cat = default_catalog()
    q = cat.quantization

    def band(model, quant):  # retention of the model's size band, read off the catalog directly
        size = cat.models[model].total_params_b.value
        return next(b.retention.value for b in q[quant].retention if b.min_params_b <= size < b.max_params_b)

    ds, oss, llama = cat.models["deepseek-v3"], cat.models["gpt-oss-120b"], cat.models["llama-3.1-8b"]
    assert ds.native_formats == ["fp8"] and oss.native_formats == ["mxfp4"]
    assert quality_of(ds, q["fp8"], q) == 88.5 == quality_of(ds, q["bf16"], q)
    assert quality_of(ds, q["int8"], q) == pytest.approx(88.5 * band("deepseek-v3", "int8") / band("deepseek-v3", "fp8"))
    assert quality_of(oss, q["mxfp4"], q) == 90.0
    assert quality_of(llama, q["fp8"], q) == pytest.approx(73.0 * band("llama-3.1-8b", "fp8"))
    assert band("llama-3.1-8b", "fp8") < 1 and band("deepseek-v3", "fp8") < 1


def test_an_overlay_id_close_to_a_known_one_gets_did_you_mean(tmp_path):
    """'virgina' is a new region needing every field, or a typo: the report says which is likelier."""
    ov = tmp_path / "typo.yaml"
    ov.write_text("schema_version: 1\nregions:\n  - id: virgina\n"
                  "    electricity_usd_per_kwh: {value: 0.5, source: my bill}\n")
    with pytest.raises(InputError) as info:
        Catalog.load([ov])
    hints = [i for i in info.value.issues if i.path == "regions[0].id"]
    assert len(hints) == 1 and hints[0].line == 3 and "did you mean 'virginia'?" in hints[0].hint


def test_solving_a_catalog_file_says_it_is_an_overlay(capsys):
    from solver.cli import main
    assert main(["solve", "catalogs/regions.yaml"]) == 2
    err = capsys.readouterr().err
    assert "this is a catalog overlay" in err and "--catalog" in err


MOE_ENTRY = """\
    schema_version: 1
    sources:
      t: {title: test}
    models:
      - id: bad-moe
        name: Bad MoE
        arch: moe
        tier: medium
        num_layers: 48
        hidden_size: 4096
        num_attention_heads: 32
        num_kv_heads: 4
        head_dim: 128
        intermediate_size: 12288
        vocab_size: 151936
        max_context_tokens: 131072
        moe: {num_experts: %d, experts_per_token: %d, expert_intermediate_size: %d, dense_layers: 1}
        total_params_b: {value: 30.5, source: t}
        active_params_b: {value: 3.3, source: t}
        quality: {value: 70, source: t}
        source: t
"""


def test_moe_routing_more_experts_than_exist_is_an_input_error(tmp_path):
    # QA's moe-k-gt-e.yaml: 200 experts per token of 128; was accepted (routing probability capped at 1)
    issues = load_errors(write(tmp_path, "moe.yaml", MOE_ENTRY % (128, 200, 384)))
    assert any(i.path == "models[0].moe" and "experts_per_token (200) exceeds num_experts (128)" in i.message
               and "num_experts_per_tok" in i.hint for i in issues), issues


def test_moe_routed_experts_beyond_total_params_is_an_input_error(tmp_path):
    # QA's entry: (48 - 1) layers x 128 experts x 3 x 4096 x 768 = 56.77 B routed parameters > 30.5 B
    # total (was capped at 30.5 B silently); 384 gives 28.39 B and loads
    assert 47 * 128 * 3 * 4096 * 768 / 1e9 == pytest.approx(56.77, abs=0.005)
    assert 47 * 128 * 3 * 4096 * 384 / 1e9 == pytest.approx(28.39, abs=0.005)
    issues = load_errors(write(tmp_path, "moe.yaml", MOE_ENTRY % (128, 8, 768)))
    assert any(i.path == "models[0]" and "56.77 B parameters" in i.message and "total_params_b (30.5)" in i.message
               and "expert_intermediate_size" in i.hint for i in issues), issues
    Catalog.load([write(tmp_path, "ok.yaml", MOE_ENTRY % (128, 8, 384))])


def test_an_overlays_errors_name_the_overlay_not_the_shipped_files(tmp_path):
    """QA: an overlay holding two kinds had its quantization error blamed on catalogs/quantization.yaml,
    and a field missing in an offer list it replaces on catalogs/accelerators.yaml."""
    ov = write(tmp_path, "two.yaml", """\
        schema_version: 1
        accelerators:
          - id: l4
            offers:
              - provider: colo
                instance: rack-a
                region: texas
                on_demand_usd_per_device_hour: {value: 0.41, source: "contract 2026-11"}
        regions:
          - id: virginia
            pue: 0.9
        """)
    with pytest.raises(InputError) as e:
        Catalog.load([ov])
    where = {(i.file, i.line, i.path) for i in e.value.issues}
    assert (str(ov), 5, "accelerators[0].offers[0].devices_per_instance") in where, where   # the offer's line
    assert (str(ov), 11, "regions[0].pue") in where, where
    assert all(i.file == str(ov) for i in e.value.issues)


def test_validate_checks_a_catalog_overlay_on_top_of_the_ones_it_builds_on(tmp_path, capsys):
    """QA: `validate --catalog quebec.yaml offer.yaml` loaded offer.yaml alone ('unknown region quebec')."""
    region = write(tmp_path, "quebec.yaml", """\
        schema_version: 1
        regions:
          - id: quebec
            name: Quebec
            country: CA
            electricity_usd_per_kwh: {value: 0.0394, source: "Hydro-Quebec rate M 2026"}
            pue: {value: 1.2, source: "operator figure"}
            carbon_g_per_kwh: {value: 1.7, source: "Hydro-Quebec 2024 report"}
        """)
    offer = write(tmp_path, "offer.yaml", """\
        schema_version: 1
        accelerators:
          - id: l4
            offers:
              - provider: colo
                instance: rack-a
                region: quebec
                devices_per_instance: 4
                on_demand_usd_per_device_hour: {value: 0.41, source: "contract 2026-11"}
        """)
    assert main(["validate", str(offer)]) == 2
    assert "quebec" in capsys.readouterr().err
    assert main(["validate", "--catalog", str(region), str(offer)]) == 0
    assert capsys.readouterr().out.startswith(f"ok: {offer}")


def test_figures_in_the_wrong_unit_are_refused_all_at_once(tmp_path):
    """QA: memory in MiB, bandwidth in TB/s, TDP in kW, TFLOPS in GFLOPS, electricity per MWh, a quality
    of 730 and a retention of -0.97 were accepted: a 406 GB model ran on one '49,152 GB' card at 0.2 W."""
    ov = write(tmp_path, "units.yaml", """\
        schema_version: 1
        accelerators:
          - id: l4
            memory_gb: {value: 24576, source: "spec sheet"}
            mem_bw_gbps: {value: 0.3, source: "spec sheet"}
            tdp_w: {value: 0.072, source: "spec sheet"}
            idle_w: {value: 0.01, source: "spec sheet"}
        models:
          - id: llama-3.1-8b
            quality: {value: 730, source: "model card"}
        quantization:
          - id: int4
            retention:
              - {min_params_b: 200, max_params_b: 100, retention: {value: 0.97, source: "paper"}}
        regions:
          - id: virginia
            electricity_usd_per_kwh: {value: 89.2, source: "EIA"}
        """)
    with pytest.raises(InputError) as e:
        Catalog.load([ov])
    text = "\\n".join(i.message for i in e.value.issues)
    for needle in ("memory_gb 24576", "mem_bw_gbps 0.3", "tdp_w 0.072", "quality 730",
                   "min_params_b (200) is above max_params_b (100)", "electricity_usd_per_kwh 89.2"):
        assert needle in text, needle
    assert all(i.file == str(ov) for i in e.value.issues)


def test_a_source_key_another_catalog_file_defines_differently_is_refused(tmp_path):
    """QA: a later overlay's `sources:` entry re-titled every citation of that key in earlier files
    (the shipped H100 figures then cited 'my own notes')."""
    ov = write(tmp_path, "src.yaml", """\
        schema_version: 1
        sources:
          nvidia-h100: {title: my own notes}
        accelerators:
          - id: l4
            tdp_w: {value: 72, source: nvidia-h100}
        """)
    with pytest.raises(InputError) as e:
        Catalog.load([ov])
    (issue,) = e.value.issues
    assert issue.file == str(ov) and issue.path == "sources.nvidia-h100" and "already defined by" in issue.message


def test_validate_notes_the_lists_an_overlay_replaces_whole(tmp_path, capsys):
    """QA: one offer replaced the twelve shipped ones of an accelerator with no word (documented, but a
    user patching one price loses the rest)."""
    ov = write(tmp_path, "one.yaml", ONE_L4_OFFER)
    shipped = len(default_catalog().accelerators["l4"].offers)
    assert shipped > 1
    assert main(["validate", str(ov)]) == 0
    err = capsys.readouterr().err
    said = f"accelerators.l4.offers: these 1 replace the {shipped} of the catalog below"
    assert said in err
    # QA s25: and where a problem uses the overlay, validate and solve say it too
    prob = write(tmp_path, "p.yaml", PROBLEM_ON_L4.format(overlay=ov))
    assert main(["validate", str(prob)]) in (0, 3)
    assert said in capsys.readouterr().err


def test_model_entries_say_what_is_inconsistent_and_how_to_fix_it(tmp_path):
    """QA: a typo in native_formats was dropped silently, a dense model with a moe block ran as MoE, and
    the KV-heads message gave no values."""
    def errors(path) -> str:
        with pytest.raises(InputError) as e:
            Catalog.load([path])
        return "\n".join(f"{i.path}: {i.message} | {i.hint}" for i in e.value.issues)

    ov = write(tmp_path, "m.yaml", """\
        schema_version: 1
        models:
          - id: llama-3.1-70b
            num_kv_heads: 48
          - id: qwen2.5-7b
            moe: {num_experts: 8, experts_per_token: 2, expert_intermediate_size: 1024}
        """)
    text = errors(ov)
    assert "num_attention_heads (64) must be a multiple of num_kv_heads (48)" in text
    assert "arch is 'dense' but a `moe:` block is given" in text
    # references are checked once every entry is valid on its own
    only = write(tmp_path, "n.yaml", """\
        schema_version: 1
        models:
          - id: llama-3.1-8b
            native_formats: [fp-8]
        """)
    text = errors(only)
    assert "models[0].native_formats[0]: unknown quantization 'fp-8'" in text and "did you mean 'fp8'" in text


def test_unit_slips_on_large_devices_are_caught_by_ratios(tmp_path):
    """Review: wide per-figure bounds let an H100's bandwidth in TB/s (3.35), its BF16 peak in GFLOPS
    (989,000) and a B200's TDP in kW (1.0) through; FLOP per byte (H100 FP8: 1,979e3 / 3.35 = 590,746)
    and TFLOPS per W (B200 FP4: 9,000 / 1.0) are far outside what devices have (6-1,300; <= ~10)."""
    ov = write(tmp_path, "slips.yaml", """\
        schema_version: 1
        accelerators:
          - id: h100-sxm
            mem_bw_gbps: {value: 3.35, source: "spec sheet"}
          - id: b200
            tdp_w: {value: 1.0, source: "spec sheet"}
            idle_w: {value: 0.15, source: "spec sheet"}
        """)
    with pytest.raises(InputError) as e:
        Catalog.load([ov])
    text = "\n".join(i.message for i in e.value.issues)
    assert "FLOP per byte) 590746" in text and "TFLOPS per W) 9000 " in text, text
    assert default_catalog().accelerators["b200"].tdp_w.value == 1000      # the shipped entries pass
