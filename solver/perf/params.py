"""Calibrated parameters of the performance model, with their provenance.

The analytic model (``solver.perf.model``) turns datasheet peaks into times
through a handful of *physical* efficiencies and overheads.  They differ by
accelerator family and by the number format the tensor cores compute in, so
they are stored per ``(family, format)`` group, with a fallback chain:

    (family, format) -> (family, "*") -> default

Parameters are read from ``catalogs/calibration/perf_params.yaml`` (written by
``python -m solver.perf.calibration fit``), kept out of ``catalogs/*.yaml``
because the catalog loader globs those.  Every file records where its numbers
came from: the data file and its sha256, the rows fitted and held out, the
date and the method.  Without the file the priors below apply; they are
planning assumptions (``confidence: low``), not measurements.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Literal, Optional

from pydantic import Field, ValidationError

from solver.errors import InputError, InputIssue
from solver.validation import Strict, pydantic_issues
from solver.catalog.schema import InterconnectKind
from solver.yamlio import load_yaml_file

PARAMS_FILE_NAME = "perf_params.yaml"


def calibration_dir() -> Path:
    """Directory of the shipped calibration (``$FLEETOPT_CALIBRATION_DIR`` overrides)."""
    env = os.environ.get("FLEETOPT_CALIBRATION_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "catalogs" / "calibration"


# --------------------------------------------------------------------------- file schema

class GroupParams(Strict):
    """Efficiencies of one accelerator family computing in one number format."""

    family: str
    format: str = Field(description="Compute format (bf16, fp16, fp8, int8, fp4) or '*' for any.")
    compute_efficiency: float = Field(gt=0, le=1, description="Achieved / dense peak FLOPs in GEMMs.")
    bandwidth_efficiency: float = Field(gt=0, le=1, description="Achieved / datasheet memory bandwidth.")
    step_overhead_ms: float = Field(ge=0, description="Fixed time per engine step (launch, sampling, scheduling).")
    fit_rows: int = Field(0, ge=0, description="Calibration rows that informed this group (0: prior).")
    note: Optional[str] = None


class GlobalParams(Strict):
    """Parameters shared by every accelerator."""

    mem_usable_fraction: float = Field(
        0.90, gt=0, le=1,
        description="The engine's memory share (vLLM gpu_memory_utilization and SGLang mem_fraction_static: of "
                    "device memory; TensorRT-LLM kv_cache_free_gpu_mem_fraction: of the memory left after the "
                    "weights; 0.9 by default in both). The weights fit when they are at most this share of "
                    "device memory; kv_memory_rule says what the KV cache gets.")
    kv_memory_rule: Literal["share_of_total", "share_of_free"] = Field(
        "share_of_free",
        description="KV cache bytes per device: share_of_total = mem_usable_fraction x memory - weights "
                    "(vLLM, SGLang); share_of_free = mem_usable_fraction x (memory - weights) (TensorRT-LLM, "
                    "the engine of most calibration rows). They differ by (1 - fraction) x weights: 7.3 GB "
                    "for a 70B FP8 replica on one H100 (4.7 GB against 11.9 GB). A calibration file without "
                    "this key was written before it existed and is read as share_of_total, the rule it was "
                    "fitted with; without any file (the priors) share_of_free applies.")
    allreduce_latency_us: float = Field(
        8.0, ge=0, description="Latency of one all-reduce when the interconnect entry gives none.")
    link_efficiency: float = Field(0.7, gt=0, le=1, description="Achieved / nominal scale-up link bandwidth.")
    link_efficiency_by_interconnect: dict[InterconnectKind, Annotated[float, Field(gt=0, le=1)]] = Field(
        default_factory=dict,
        description="link_efficiency for one interconnect kind, where tensor-parallel measurements on it were "
                    "fitted (``calibration fit --interconnect-data``); it stands for every loss of a TP group "
                    "on that hardware and software, not only the link's.  Kinds not listed use link_efficiency.")
    max_batch: int = Field(2048, ge=1, description="Largest decode batch an engine schedules.")
    activation_bytes: float = Field(2.0, gt=0, description="Bytes per activation element in all-reduces.")
    unoverlapped_fraction: float = Field(
        0.0, ge=0, le=1,
        description="Share of the smaller of a step's memory and compute times that does not overlap the "
                    "larger (0: ideal roofline max(memory, compute); 1: their sum).  Kernels near the "
                    "ridge point reach neither peak.")
    step_overhead_per_seq_us: float = Field(
        0.0, ge=0, description="Time per sequence in a decode step besides weights, KV and FLOPs "
                               "(sampling, logits, scheduler bookkeeping, per-request kernel work).")
    prefill_chunk_tokens: int = Field(
        8192, ge=1,
        description="Most prompt tokens one engine iteration prefills (chunked prefill: vLLM V1 "
                    "max_num_batched_tokens and TensorRT-LLM max_num_tokens default 8192; the "
                    "simulator's default chunk).  The serving model evaluates every pair at this "
                    "budget (a plan carries none, and a replica serves several workloads).")
    prefill_chunk_min_tokens: int = Field(
        512, ge=1,
        description="Unused since issue 8 (kept so that existing calibration files load): the model "
                    "no longer picks a per-workload budget between this and prefill_chunk_tokens.")
    moe_compute_efficiency: float = Field(
        1.0, gt=0, le=1, description="Multiplier on compute efficiency for MoE models (grouped expert "
                                     "GEMMs run at smaller per-expert batches than dense GEMMs).")
    moe_tile_padding_tokens: float = Field(
        32.0, ge=0, le=128,
        description="Token rows of padding each active routed expert's GEMM computes besides its tokens: "
                    "grouped MoE kernels run every expert's tokens in whole row tiles (Triton matmul_ogs: "
                    "block_m = next power of two of the tokens per expert, 16-128 rows), at most as many "
                    "rows as the pass routes, so a decode step with a few tokens per expert pays up to "
                    "twice the expert FLOPs and a long prefill chunk little.  Default 32, half of a "
                    "64-row tile; the shipped calibration fits it (calibration fit --moe-data).")


class ParamsFile(Strict):
    schema_version: int = 1
    kind: str = "perf-calibration"
    provenance: dict = Field(default_factory=dict)
    global_: GlobalParams = Field(default_factory=GlobalParams, alias="global")
    default: GroupParams
    groups: list[GroupParams] = Field(default_factory=list)


# --------------------------------------------------------------------------- runtime object

#: Priors used when no calibration file exists (planning assumptions, low confidence):
#: roofline models are typically 2-4x optimistic (modelling notes), so efficiencies start at 0.5-0.7.
PRIOR = GroupParams(family="*", format="*", compute_efficiency=0.5, bandwidth_efficiency=0.7,
                    step_overhead_ms=2.0, fit_rows=0,
                    note="prior (planning assumption): no calibration data for this group")


#: 16-bit formats that take each other's calibration group when they have none of their own.
SIXTEEN_BIT_TWIN = {"bf16": ("fp16",), "fp16": ("bf16",)}


def calibration_families(acc) -> tuple[str, ...]:
    """The groups an accelerator's efficiencies come from, most specific first: its ``calibration_group``
    (if any), then its family."""
    group = getattr(acc, "calibration_group", None)
    return (group, acc.family) if group and group != acc.family else (acc.family,)


@dataclass(frozen=True)
class PerfParams:
    """Everything the model needs besides the catalog."""

    global_: GlobalParams = field(default_factory=GlobalParams)
    default: GroupParams = PRIOR
    groups: tuple[GroupParams, ...] = ()
    provenance: tuple = ()
    file: Optional[str] = None

    def group(self, family: str, fmt: str, *fallbacks: str) -> GroupParams:
        """Parameters of ``(family, fmt)`` with the documented fallback chain; ``fallbacks`` are further
        families tried in order before the default (an accelerator's calibration group, then its family).
        bf16 and fp16 run on the same 16-bit tensor path at the same peak: each stands in for the other
        before the family's ``*`` group (QA: fp16 on MI300X fell back to cdna3/* and served 12% less
        than bf16 on the same silicon)."""
        formats = (fmt, *SIXTEEN_BIT_TWIN.get(fmt, ()))
        for fam in (family, *fallbacks):
            for f in formats:
                for g in self.groups:
                    if g.family == fam and g.format == f:
                        return g
            for g in self.groups:
                if g.family == fam and g.format == "*":
                    return g
        return self.default

    def group_of(self, acc, fmt: str) -> GroupParams:
        """Parameters of accelerator ``acc`` computing in ``fmt``: its calibration group, else its family."""
        first, *rest = calibration_families(acc)
        return self.group(first, fmt, *rest)

    def with_groups(self, groups, default: Optional[GroupParams] = None, **global_changes) -> "PerfParams":
        """A copy with other group parameters (used by the fitter)."""
        g = self.global_.model_copy(update=global_changes) if global_changes else self.global_
        return replace(self, groups=tuple(groups), default=default or self.default, global_=g)

    def key(self) -> tuple:
        """Hashable identity (for caches)."""
        return (self.global_.model_dump_json(), self.default.model_dump_json(),
                tuple(g.model_dump_json() for g in self.groups))

    def to_yaml_dict(self, provenance: dict) -> dict:
        return {
            "schema_version": 1,
            "kind": "perf-calibration",
            "provenance": provenance,
            "global": self.global_.model_dump(),
            "default": self.default.model_dump(exclude_none=True),
            "groups": [g.model_dump(exclude_none=True) for g in self.groups],
        }


def load_params(path: str | os.PathLike) -> PerfParams:
    """Read a calibration file; bad content raises :class:`InputError` with file and line."""
    data, smap = load_yaml_file(path)
    if not isinstance(data, dict):
        raise InputError(InputIssue(message="a calibration file must be a mapping", file=str(path), line=1,
                                    hint=f"see catalogs/calibration/{PARAMS_FILE_NAME}"))
    glob = data.get("global")
    if isinstance(glob, dict) and "kv_memory_rule" not in glob:
        # a file written before the rule was a parameter was fitted with the KV cache at the engine share
        # of the whole memory less the weights: read it so (QA s23 review: such a file planned with the
        # new default, and `verify` flagged its own plans' energy)
        data = {**data, "global": {**glob, "kv_memory_rule": "share_of_total"}}
    try:
        pf = ParamsFile.model_validate(data)
    except ValidationError as exc:
        raise InputError(pydantic_issues(exc, ParamsFile, smap, file=str(path))) from None
    return PerfParams(global_=pf.global_, default=pf.default, groups=tuple(pf.groups),
                      provenance=tuple(sorted((k, str(v)) for k, v in pf.provenance.items())),
                      file=str(path))


_DEFAULT: Optional[PerfParams] = None
_DEFAULT_DIR: Optional[Path] = None


def default_params() -> PerfParams:
    """The calibration in effect: ``$FLEETOPT_CALIBRATION_DIR``'s, else the shipped one, or the
    priors if the shipped file is missing (loaded once per folder).

    A ``FLEETOPT_CALIBRATION_DIR`` without a ``perf_params.yaml`` (a typo, a fit written under
    another name) is an :class:`InputError`: it silently planned with the priors (QA: a 35%
    cheaper plan, exit 0, nothing said), where ``FLEETOPT_CATALOG_DIR`` already fails.
    """
    global _DEFAULT, _DEFAULT_DIR
    d = calibration_dir()
    if _DEFAULT is None or _DEFAULT_DIR != d:
        p = d / PARAMS_FILE_NAME
        env = os.environ.get("FLEETOPT_CALIBRATION_DIR")
        if env and not p.is_file():
            where = env if d.is_absolute() else f"{env} ({d.absolute()})"
            what = ("does not exist" if not d.exists() else
                    "is a file, not a folder" if not d.is_dir() else f"is a folder without {PARAMS_FILE_NAME}")
            raise InputError(InputIssue(
                message=f"FLEETOPT_CALIBRATION_DIR={where} {what}: no calibration to plan with "
                        "(the uncalibrated defaults would give other capacities and costs)",
                hint=f"point FLEETOPT_CALIBRATION_DIR at the folder that holds {PARAMS_FILE_NAME} "
                     f"(a fit written with `--out FOLDER/{PARAMS_FILE_NAME}`; a file of another name "
                     "is not read), or unset it to use the shipped calibration"))
        _DEFAULT = load_params(p) if p.exists() else PerfParams()
        _DEFAULT_DIR = d
    return _DEFAULT


def reset_default_params() -> None:
    global _DEFAULT, _DEFAULT_DIR
    _DEFAULT = _DEFAULT_DIR = None
