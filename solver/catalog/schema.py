"""Schemas of the catalog files in ``catalogs/``.

Every catalog figure carries its provenance.  A measured or published number is
a :class:`Figure` (``value`` + ``source`` + ``confidence``); plain integers that
describe a model's architecture take the entry's own ``source``.  ``source`` is
either a key of the file's ``sources:`` table or a literal URL / document name.

Units are in field names: ``memory_gb`` (10^9 bytes), ``mem_bw_gbps`` (GB/s),
``peak_tflops`` (dense, no 2:4 sparsity), ``usd_per_device_hour``...
"""

from __future__ import annotations

import math
import re
from types import SimpleNamespace
from typing import Literal, Optional

from pydantic import Field, field_validator, model_validator

from solver.validation import FIX, Strict

SCHEMA_VERSION = 1

#: Number formats a tensor core (or equivalent) can compute in.
NumberFormat = Literal["fp32", "bf16", "fp16", "fp8", "int8", "fp4", "int4"]
Confidence = Literal["high", "medium", "low"]
Acquisition = Literal["on_demand", "spot", "reserved_1y", "reserved_3y", "purchase"]
InterconnectKind = Literal["nvlink", "infinity-fabric", "pcie", "ici", "neuronlink", "roce"]
ACQUISITIONS: tuple[str, ...] = ("on_demand", "spot", "reserved_1y", "reserved_3y", "purchase")

_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def check_id(v: str) -> str:
    if not _ID.match(v):
        suggestion = re.sub(r"[^a-z0-9._-]+", "-", v.strip().lower()).strip("-._") if isinstance(v, str) else ""
        raise ValueError(f"id {v!r} must be lowercase letters, digits, '.', '_' or '-'" + FIX
                         + (f"rename it, e.g. {suggestion!r}" if suggestion else
                            "use lowercase letters, digits, '.', '_' or '-'"))
    return v


class Source(Strict):
    """A document a figure was read from."""

    title: str = Field(description="What the document is.")
    url: Optional[str] = Field(None, description="Where to find it.")
    retrieved: Optional[str] = Field(None, description="Date read (YYYY-MM-DD) or snapshot id.")
    verification: Optional[str] = Field(
        None, description="'retrieved', 'retrieved (secondary)', 'recalled-verify', "
                          "'planning assumption', 'derived' ...")


#: words of a source's `verification` -> the confidence its figures get where they state none (the
#: shipped catalog's practice: assumptions and recalled figures are low, secondary quotes medium)
WEAK_VERIFICATION = (("low", ("assumption", "unverified", "recalled", "approx")),
                     ("medium", ("secondary", "verify")))


def confidence_of_verification(verification: Optional[str]) -> Optional[str]:
    """The confidence a figure citing a source of this verification can claim at most (None: high).
    QA s21: a figure citing a 'planning assumption' defaulted to high confidence."""
    text = (verification or "").lower()
    for level, words in WEAK_VERIFICATION:
        if any(w in text for w in words):
            return level
    return None


#: a catalog figure is 0 or within these magnitudes (the shipped catalogs span 0.018 .. 43,056):
#: beyond them it is a typo or a unit slip, and it overflows the model's arithmetic
FIGURE_MAGNITUDE = (1e-6, 1e9)


def plausible(*checks: tuple) -> None:
    """Refuse figures outside what any device or region has, all at once (QA: memory in MiB, bandwidth
    in TB/s, TDP in kW and electricity per MWh were accepted and gave absurd plans).  Each check is
    (name, value, lo, hi, the likely unit slip)."""
    bad = [f"{name} {value:g} is outside {lo:g} to {hi:g}, what any real figure is: {slip}"
           for name, value, lo, hi, slip in checks if not lo <= value <= hi]
    if bad:
        raise ValueError("; ".join(bad) + FIX + "give each figure in the unit its field name states")


class Figure(Strict):
    """A number with its provenance."""

    value: float = Field(description="The number, in the unit the field name states.")
    source: str = Field(min_length=1, description="Key of the file's `sources` table, or a URL/document.")
    confidence: Confidence = Field("high", description="'low' where the source is weak.")
    note: Optional[str] = Field(None, description="How it was derived, caveats.")

    @field_validator("value")
    @classmethod
    def _magnitude(cls, v: float) -> float:
        lo, hi = FIGURE_MAGNITUDE
        if v != 0 and not lo <= abs(v) <= hi:
            raise ValueError(f"{v:g} is outside what a catalog figure can be (0, or {lo:g} to {hi:g} in "
                             "magnitude): check the number and its unit")
        return v


class NonNegFigure(Figure):
    @field_validator("value")
    @classmethod
    def _nonneg(cls, v: float) -> float:
        if v < 0:
            raise ValueError(f"must be >= 0 (got {v:g})" + FIX + "give the figure without a sign, in the unit "
                             "its field name states (0 where there is none)")
        return v


class PosFigure(Figure):
    @field_validator("value")
    @classmethod
    def _pos(cls, v: float) -> float:
        if v <= 0:
            raise ValueError(f"must be > 0 (got {v:g})" + FIX + "give the positive figure, in the unit its field "
                             "name states; to leave something out, delete the entry or field instead of zeroing it")
        return v


# --------------------------------------------------------------------------- accelerators

class Interconnect(Strict):
    """Scale-up link between devices of one node (used for tensor parallelism)."""

    kind: InterconnectKind
    bandwidth_gbps: PosFigure = Field(description="Per device, one direction, GB/s.")
    latency_us: Optional[PosFigure] = Field(None, description="Per collective hop, microseconds.")


class Offer(Strict):
    """A way to rent the device from a cloud provider in one region."""

    provider: str = Field(description="aws, gcp, azure, lambda, runpod ...")
    instance: str = Field(description="Instance type sold (the unit you rent).")
    region: str = Field(description="fleetopt region id (see regions.yaml).")
    devices_per_instance: int = Field(ge=1)
    on_demand_usd_per_device_hour: PosFigure
    spot_usd_per_device_hour: Optional[PosFigure] = None
    reserved_1y_usd_per_device_hour: Optional[PosFigure] = None
    reserved_3y_usd_per_device_hour: Optional[PosFigure] = None

    _check_region = field_validator("region")(check_id)

    def price(self, acquisition: str) -> Optional[Figure]:
        return {
            "on_demand": self.on_demand_usd_per_device_hour,
            "spot": self.spot_usd_per_device_hour,
            "reserved_1y": self.reserved_1y_usd_per_device_hour,
            "reserved_3y": self.reserved_3y_usd_per_device_hour,
        }.get(acquisition)


#: where the lead time of a purchase that states none comes from
LEAD_TIME_DEFAULT_SOURCE = ("planning assumption: one quarter from order to service (fleetopt's default; "
                            "no published lead time in the reference data)")


class Purchase(Strict):
    """Buying the hardware: capital cost, life, upkeep."""

    usd_per_device: PosFigure = Field(description="Purchase price per device (mid of published range).")
    devices_per_server: int = Field(ge=1, description="Devices in the smallest server you can buy.")
    useful_life_years: PosFigure
    maintenance_fraction_per_year: NonNegFigure = Field(
        description="Yearly support/maintenance as a fraction of the purchase price.")
    hosting_usd_per_device_hour: Optional[NonNegFigure] = Field(
        None, description="Colocation space/network per device-hour, excluding energy.")
    lead_time_quarters: NonNegFigure = Field(
        default_factory=lambda: NonNegFigure(value=1, source=LEAD_TIME_DEFAULT_SOURCE, confidence="low"),
        description="Quarters from order to service (multi-period plans; rounded up to whole periods: "
                    "ceil(quarters x 3 / objective.periods.months)).  A plain number is read as a "
                    "figure of low confidence with no source.")
    regions: Optional[list[str]] = Field(None, description="Regions where it can be installed (default: all).")

    @field_validator("lead_time_quarters", mode="before")
    @classmethod
    def _plain_lead_time(cls, v):
        # overlays written before it was a figure give a plain number: keep it, and say it is unsourced
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return {"value": v, "source": "no source given (a plain number in the catalog file)",
                    "confidence": "low"}
        return v


class Accelerator(Strict):
    id: str
    name: str
    vendor: str
    family: str = Field(description="Architecture family used for calibration (hopper, ampere, ada, blackwell, cdna3, gaudi, tpu, neuron, turing).")
    form_factor: Optional[str] = None
    calibration_group: Optional[str] = Field(
        None, description="Calibration group when it is not the family: parts of one family whose sustained "
                          "efficiency differs (PCIe cards held to 350-400 W, where the SXM part draws 700 W). "
                          "Parameters fall back to the family's where the group has none.")
    memory_gb: PosFigure
    mem_bw_gbps: PosFigure
    peak_tflops: dict[NumberFormat, PosFigure] = Field(description="Dense peak per number format (TOPS for integers).")
    tdp_w: PosFigure
    idle_w: NonNegFigure
    interconnect: Interconnect
    devices_per_node: int = Field(ge=1, description="Devices sharing one scale-up domain (max tensor parallelism).")
    weight_only_formats: list[NumberFormat] = Field(
        default_factory=list,
        description="Formats the device can store and dequantize (weight-only kernels) without native compute.")
    offers: list[Offer] = Field(default_factory=list)
    purchase: Optional[Purchase] = None
    source: Optional[str] = Field(None, description="Default source of plain fields.")
    notes: Optional[str] = None

    _check_id = field_validator("id")(check_id)

    @model_validator(mode="after")
    def _idle_below_tdp(self):
        # each figure alone: wide enough for edge parts and wafer-scale engines (Cerebras WSE-3: 21 PB/s on
        # chip, 125 PFLOPS); then ratios, which a unit slip moves 1,000x whatever the device's size
        # (review: an H100's bandwidth in TB/s or BF16 in GFLOPS, a B200's TDP in kW passed the first)
        top = max((fig.value for fig in self.peak_tflops.values()), default=None)
        plausible(("memory_gb", self.memory_gb.value, 0.1, 10_000, "GB of 10^9 bytes (a MiB figure is ~1,000x)"),
                  ("mem_bw_gbps", self.mem_bw_gbps.value, 1, 1e8, "GB/s (a TB/s figure is 1,000x too small)"),
                  ("tdp_w", self.tdp_w.value, 1, 100_000, "watts per device (a kW figure is 1,000x too small)"),
                  *((f"peak_tflops.{fmt}", fig.value, 0.01, 1e6, "dense TFLOPS (a GFLOPS figure is 1,000x)")
                    for fmt, fig in self.peak_tflops.items()),
                  *(() if top is None else (
                      ("largest peak_tflops per mem_bw_gbps (FLOP per byte)", top * 1e3 / self.mem_bw_gbps.value,
                       0.5, 10_000, "real devices do 6 (wafer-scale) to 1,300 (B200 FP4) FLOP per byte of "
                       "memory bandwidth; check mem_bw_gbps (GB/s) and the peaks (TFLOPS)"),
                      ("largest peak_tflops per tdp_w (TFLOPS per W)", top / self.tdp_w.value, 0, 50,
                       "devices reach up to ~10; check tdp_w (watts) and the peaks (TFLOPS)"))))
        plausible(("interconnect.bandwidth_gbps per mem_bw_gbps", self.interconnect.bandwidth_gbps.value
                   / self.mem_bw_gbps.value, 0, 1, "a device's scale-up link is slower than its memory (B200: "
                   "900 of 8,000 GB/s); check interconnect.bandwidth_gbps (GB/s one way: Gb/s is 8x, both "
                   "directions 2x)"))
        if self.idle_w.value > self.tdp_w.value:
            raise ValueError(f"idle_w ({self.idle_w.value:g}) exceeds tdp_w ({self.tdp_w.value:g})" + FIX
                             + "idle_w is the draw with no work, below the rated tdp_w (the shipped entries "
                               "take 15% of it); check both are watts per device")
        return self


# --------------------------------------------------------------------------- models

class Moe(Strict):
    num_experts: int = Field(ge=1)
    experts_per_token: int = Field(ge=1)
    shared_experts: int = Field(0, ge=0)
    expert_intermediate_size: int = Field(ge=1)
    dense_layers: int = Field(0, ge=0, description="Leading layers with a dense FFN instead of experts.")

    @model_validator(mode="after")
    def _routing(self):
        if self.experts_per_token > self.num_experts:
            raise ValueError(f"experts_per_token ({self.experts_per_token}) exceeds num_experts "
                             f"({self.num_experts}): a token cannot route to more experts than there are" + FIX
                             + "give the routed experts per token (config.json num_experts_per_tok) and the routed "
                             "experts per layer (num_local_experts / n_routed_experts)")
        return self


class Mla(Strict):
    """Multi-head latent attention (DeepSeek): KV cache holds a compressed latent."""

    kv_lora_rank: int = Field(ge=1)
    rope_head_dim: int = Field(ge=1)
    v_head_dim: Optional[int] = Field(None, ge=1, description="Value head dimension where it differs from "
                                      "head_dim, the query/key one (DeepSeek-V3: 128 against 192); default "
                                      "head_dim.")


#: stated parameter counts against the architecture's (:func:`architecture_params_b`): beyond this factor
#: the count or a field is wrong (a slipped digit is 10x, a count in millions 1,000x); what the fields do
#: not describe adds far less (biases and norms < 1%, DeepSeek's low-rank queries ~1%, an MTP head 2%, a
#: vision encoder ~30%)
PARAMS_ERROR_FACTOR = 2.0
#: ... and beyond this fraction, a warning: the shipped counts are within 1.5% of the architecture's
PARAMS_WARN_FRACTION = 0.10


def architecture_params_b(m) -> SimpleNamespace:
    """Parameters (billions) the architecture fields of ``m`` imply, summed as the shipped counts
    (source ``params-computed``) were: embeddings (input and output unless tied) + per layer attention
    (query, key, value, output; MLA: full-rank query, latent down- and up-projections) + FFN (dense
    layers) or router, routed and shared experts (MoE layers) + two norms per layer and a final one.
    Returns the total and the routed experts' share (what a token reads in part, as perf.arch splits
    the weights)."""
    h, layers = m.hidden_size, m.num_layers
    if m.mla is not None:
        v_dim = m.mla.v_head_dim or m.head_dim
        attn = (h * m.num_attention_heads * m.head_dim + h * (m.mla.kv_lora_rank + m.mla.rope_head_dim)
                + m.mla.kv_lora_rank * m.num_attention_heads * (m.head_dim - m.mla.rope_head_dim + v_dim)
                + m.num_attention_heads * v_dim * h)
    else:
        q_dim, kv_dim = m.num_attention_heads * m.head_dim, m.num_kv_heads * m.head_dim
        attn = 2 * h * q_dim + 2 * h * kv_dim
    dense_ffn = 3 * h * m.intermediate_size
    routed = shared = 0.0
    dense_layers = layers
    if m.moe is not None:
        e = m.moe
        dense_layers = min(e.dense_layers, layers)
        moe_layers = layers - dense_layers
        expert = 3 * h * e.expert_intermediate_size
        routed = moe_layers * e.num_experts * expert
        shared = moe_layers * (e.shared_experts * expert + h * e.num_experts)     # and the router
    emb = m.vocab_size * h * (1 if m.tie_word_embeddings else 2)
    total = layers * attn + dense_layers * dense_ffn + routed + shared + emb + (2 * layers + 1) * h
    return SimpleNamespace(total=total / 1e9, routed=routed / 1e9)


def count_check(name: str, stated: float, implied: float, what: str) -> Optional[tuple[str, str, str]]:
    """('error' or 'warning', what is wrong, how to fix) where ``stated`` is beyond PARAMS_ERROR_FACTOR
    or PARAMS_WARN_FRACTION of ``implied``; None where it agrees."""
    if implied <= 0:
        return None
    ratio = stated / implied
    if abs(ratio - 1) <= PARAMS_WARN_FRACTION:
        return None
    severity = "warning" if 1 / PARAMS_ERROR_FACTOR <= ratio <= PARAMS_ERROR_FACTOR else "error"
    msg = f"{name} {stated:g} is {ratio:.3g}x the {implied:.4g} B parameters {what}"
    power = round(math.log10(ratio))
    if power and abs(ratio / 10 ** power - 1) < PARAMS_WARN_FRACTION:
        fix = (f"{name} looks {10 ** abs(power):g}x too {'large' if power > 0 else 'small'} (a slipped digit, "
               f"or a count not in billions): write {stated / 10 ** power:.4g}")
    else:
        fix = (f"check {name} (billions) against the model card and the architecture fields against "
               "config.json, and fix the one that is wrong"
               + ("" if severity == "error" else "; a count that includes parts these fields do not describe "
                  "(a vision encoder, a multi-token-prediction head) differs by design"))
    return severity, msg, fix


def parameter_checks(m) -> list[tuple[str, str, str, str]]:
    """(field, severity, what is wrong, how to fix) of ``m``'s stated parameter counts against its
    architecture: the total against :func:`architecture_params_b`'s, the active count against what the
    stated total implies (the total less the routed experts a token skips: the split perf.arch uses)."""
    arch = architecture_params_b(m)
    total, active = m.total_params_b.value, m.active_params_b.value
    out = []
    bad = count_check("total_params_b", total, arch.total,
                      "the architecture fields give (embeddings, attention, FFN or experts, norms)")
    if bad:
        out.append(("total_params_b", *bad))
    if bad and bad[0] == "error":
        return out
    base = total - arch.routed          # what every token reads: all but the routed experts
    k = m.moe
    if active < base * 0.99:
        out.append(("active_params_b", "error",
                    f"active_params_b {active:g} is below the {base:.4g} B parameters every token passes through "
                    + (f"(total_params_b {total:g} - routed experts {arch.routed:.4g} B: attention, embeddings, "
                       "router, dense layers and shared experts)" if k else
                       f"(a dense model's total_params_b, {total:g})"),
                    (f"active = that + experts_per_token / num_experts x routed experts = {base:.4g} + "
                     f"{k.experts_per_token}/{k.num_experts} x {arch.routed:.4g} = "
                     f"{base + arch.routed * k.experts_per_token / k.num_experts:.4g} B, embeddings included: "
                     "write that (or fix total_params_b)" if k else
                     f"a dense model uses every weight for every token: write active_params_b: {total:g}")))
        return out
    if k is not None:
        implied = base + arch.routed * k.experts_per_token / k.num_experts
        bad = count_check("active_params_b", active, implied,
                          f"total_params_b {total:g} implies per token (all but the routed experts a token skips, "
                          "embeddings included)")
        if bad:
            out.append(("active_params_b", *bad))
    return out


class Model(Strict):
    id: str
    name: str
    hf_repo: Optional[str] = None
    arch: Literal["dense", "moe"]
    tier: Literal["small", "medium", "large", "frontier"]
    num_layers: int = Field(ge=1)
    hidden_size: int = Field(ge=1)
    num_attention_heads: int = Field(ge=1)
    num_kv_heads: int = Field(ge=1)
    head_dim: int = Field(ge=1)
    intermediate_size: int = Field(ge=1)
    vocab_size: int = Field(ge=1)
    tie_word_embeddings: bool = Field(False, description=(
        "Whether the output layer shares the input embedding matrix (config.json tie_word_embeddings): "
        "the embeddings then hold vocab_size x hidden_size parameters once, else twice."))
    max_context_tokens: int = Field(ge=1)
    moe: Optional[Moe] = None
    mla: Optional[Mla] = None
    sliding_window: Optional[int] = Field(None, ge=1, description="Window of the sliding-window layers, tokens.")
    sliding_window_layer_fraction: float = Field(0.0, ge=0, le=1)
    total_params_b: PosFigure
    active_params_b: PosFigure
    quality: Figure = Field(description="Quality score, MMLU 0-100 (the protocol per model is in its note).")
    quality_benchmark: str = "MMLU"
    quality_reasoning_effort: Optional[Literal["low", "medium", "high"]] = Field(None, description=(
        "Reasoning effort the quality score was measured at (reasoning models): the answers then carry "
        "chain-of-thought tokens, which a workload's output_tokens must count for the plan to hold."))
    native_formats: list[str] = Field(default_factory=list, description="Quantization ids the model ships in (weights).")
    source: str = Field(description="Source of the architecture integers.")
    notes: Optional[str] = None

    _check_id = field_validator("id")(check_id)

    @field_validator("quality")
    @classmethod
    def _points_not_fraction(cls, v: Figure) -> Figure:
        """0.814 meant as 81.4 points: a problem's min_score is in points and refuses a fraction, so the
        model could be asked for nothing but 'at most 0.814' (QA s21)."""
        if 0 < v.value <= 1:
            raise ValueError(f"quality is in points of the 0-100 scale (MMLU %), and {v.value:g} reads as "
                             f"{v.value:g} of 100" + FIX + f"for {100 * v.value:g} % write {100 * v.value:g}")
        return v

    @model_validator(mode="after")
    def _consistent(self):
        plausible(("quality", self.quality.value, 0, 100, "a score on the 0-100 scale (MMLU %), as quality.min_score"),
                  ("max_context_tokens", self.max_context_tokens, 512, 1e8,
                   "tokens (128K is 131072; 128 reads as 128 tokens)"))
        if self.arch == "moe" and self.moe is None:
            raise ValueError("arch is 'moe' but the `moe:` block is missing")
        if self.arch == "dense" and self.moe is not None:     # QA: the model ran as MoE, listed as dense
            raise ValueError("arch is 'dense' but a `moe:` block is given" + FIX
                             + "write arch: moe, or drop the moe block")
        if self.moe is not None:
            # routed-expert weights (gate, up, down per expert and MoE layer), as solver.perf.arch counts them;
            # beyond total_params_b the performance model would have to cap them silently
            m = self.moe
            routed_b = ((self.num_layers - m.dense_layers) * m.num_experts * 3.0 * self.hidden_size
                        * m.expert_intermediate_size / 1e9)
            if routed_b > self.total_params_b.value * 1.0001:
                raise ValueError(
                    f"the routed experts hold {routed_b:.4g} B parameters ((num_layers {self.num_layers} - "
                    f"dense_layers {m.dense_layers}) x num_experts {m.num_experts} x 3 x hidden_size "
                    f"{self.hidden_size} x expert_intermediate_size {m.expert_intermediate_size}), more than "
                    f"total_params_b ({self.total_params_b.value:g})" + FIX
                    + "check moe.expert_intermediate_size (config.json moe_intermediate_size), moe.num_experts, "
                    "moe.dense_layers and total_params_b against the model card")
        if self.active_params_b.value > self.total_params_b.value * 1.0001:
            raise ValueError(f"active_params_b ({self.active_params_b.value:g}) exceeds total_params_b "
                             f"({self.total_params_b.value:g})" + FIX + "active parameters are a part of the total")
        if self.num_attention_heads % self.num_kv_heads:
            raise ValueError(f"num_attention_heads ({self.num_attention_heads}) must be a multiple of num_kv_heads "
                             f"({self.num_kv_heads})" + FIX + "num_kv_heads is config.json's num_key_value_heads "
                             "(grouped-query attention: it divides num_attention_heads)")
        return self


# --------------------------------------------------------------------------- quantization

class Retention(Strict):
    """Accuracy retained (fraction of BF16 score) for models in a size band."""

    min_params_b: float = Field(0, ge=0)
    max_params_b: float = Field(1e6, gt=0)
    retention: Figure

    @model_validator(mode="after")
    def _band(self):
        if self.min_params_b > self.max_params_b:
            raise ValueError(f"min_params_b ({self.min_params_b:g}) is above max_params_b ({self.max_params_b:g})"
                             + FIX + "swap the two bounds")
        plausible(("retention", self.retention.value, 0.01, 1.5, "a fraction of the BF16 score (0.97 = 97%)"))
        return self


class Quantization(Strict):
    id: str
    name: str
    weight_format: NumberFormat
    activation_format: NumberFormat
    compute_format: NumberFormat = Field(description="Whose peak applies (W4A16 computes at bf16).")
    bytes_per_weight: PosFigure = Field(description="Including scale overhead.")
    kv_bytes_per_element: PosFigure
    weight_only: bool
    quantized_weights: Literal["linear", "experts"] = Field("linear", description=(
        "Which weights the format stores at bytes_per_weight; the others stay 16-bit. 'linear': every linear "
        "layer of the transformer blocks (the input embedding and the output layer stay 16-bit, as in the "
        "published INT8/FP8/INT4 checkpoints); 'experts': only an MoE model's routed experts (gpt-oss ships "
        "MXFP4 experts with 16-bit attention and embeddings; a dense model's linear layers then)."))
    supported_families: list[str] = Field(description="Accelerator families that run it (natively or weight-only).")
    models: Optional[list[str]] = Field(None, description=(
        "Model ids the scheme is offered for, where its sources cover only those (a serving recipe of one "
        "model family); none: every model."))
    retention: list[Retention] = Field(min_length=1)
    source: Optional[str] = None
    notes: Optional[str] = None

    _check_id = field_validator("id")(check_id)

    @model_validator(mode="after")
    def _bytes_match_format(self):
        # QA s25: int4 at 4.25 bytes per weight (bits written as bytes) and a 16-byte KV element passed, and
        # the "4-bit" scheme was planned at 8.5x BF16's weight bytes
        nominal = FORMAT_BYTES[self.weight_format]
        plausible(("bytes_per_weight", self.bytes_per_weight.value, nominal, nominal * MAX_SCALE_OVERHEAD,
                   f"bytes per weight of the {self.weight_format} format: {nominal:g} plus its scales (a figure in "
                   f"bits is 8x too large)"),
                  ("kv_bytes_per_element", self.kv_bytes_per_element.value, 0.25, 4,
                   "bytes per cached element, 2-bit to fp32 (a figure in bits is 8x too large)"))
        return self


#: bytes of one weight in each number format, before scales
FORMAT_BYTES = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "fp4": 0.5, "int4": 0.5}
#: a format's bytes per weight with its scales, at most, over its bare bytes: a 16-bit scale and a 16-bit
#: zero point per group of 16 4-bit weights is 0.75 bytes (x1.5); the shipped schemes add 3-12.5 %
MAX_SCALE_OVERHEAD = 1.6


# --------------------------------------------------------------------------- regions

class Region(Strict):
    id: str
    name: str
    country: str
    electricity_usd_per_kwh: PosFigure
    pue: PosFigure
    carbon_g_per_kwh: NonNegFigure
    cloud_regions: dict[str, list[str]] = Field(default_factory=dict,
                                                description="Provider -> provider region names here.")
    notes: Optional[str] = None

    _check_id = field_validator("id")(check_id)

    @field_validator("pue")
    @classmethod
    def _pue(cls, v: Figure) -> Figure:
        if v.value < 1.0:
            raise ValueError(f"PUE must be >= 1.0 (got {v.value})" + FIX + "1.0 is a facility with no overhead")
        return v

    @model_validator(mode="after")
    def _plausible(self):
        plausible(("electricity_usd_per_kwh", self.electricity_usd_per_kwh.value, 0, 5,
                   "USD per kWh (a per-MWh price is 1,000x too large)"),
                  ("carbon_g_per_kwh", self.carbon_g_per_kwh.value, 0, 2_000, "grams of CO2 per kWh"))
        return self


# --------------------------------------------------------------------------- files

class CatalogFile(Strict):
    """One catalog YAML file (shipped or a user's overlay)."""

    schema_version: Literal[1]
    catalog_version: Optional[str] = None
    description: Optional[str] = None
    sources: dict[str, Source] = Field(default_factory=dict)
    accelerators: list[Accelerator] = Field(default_factory=list)
    models: list[Model] = Field(default_factory=list)
    quantization: list[Quantization] = Field(default_factory=list)
    regions: list[Region] = Field(default_factory=list)


KINDS: tuple[str, ...] = ("accelerators", "models", "quantization", "regions")
