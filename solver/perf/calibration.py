"""Calibrate the performance model on published measurements, and report its error.

Input: a CSV with the columns of ``tests/data/calibration.csv`` (a copy of the
project's reference file of TensorRT-LLM and MLPerf Inference v4.1 results;
lines starting with ``#`` are comments).  Each usable row becomes a *case*:

* ``offline``: max-load throughput without latency targets (TensorRT-LLM v1.0
  ``trtllm-bench`` rows, MLPerf Offline) -> ``max_rps x output tokens``;
* ``server``: MLPerf Server, within p99 TTFT and TPOT limits from the row;
* ``static``: TensorRT-LLM static batching (the table does not give the
  batch: we take the largest one memory and the engine allow) ->
  ``batch x O / (prefill(batch x I) + O x decode step)``;
* ``ttft1``: batch-1 first-token latency -> one standalone prefill.

Throughputs are compared per accelerator (``value_per_accelerator``; a replica
of TP devices is divided by TP).  Interpretation choices, each documented in the
README: MLPerf logs omit TP, so NVIDIA Llama-2-70B runs are TP2 on 80 GB parts
and TP1 on 141 GB parts (data README), other rows use the smallest TP that fits;
the "99" and "99.9" MLPerf variants with identical results are one case;
GH200 rows have no catalog entry and are left out; MLPerf's mean input length
is not in the file and is a stated assumption (``MLPERF_INPUT_TOKENS``).

Split: rows are grouped by (source_id, hardware) in file order; every third
(index 2, 5, 8, ...) is held out, the rest is fitted.  The fit minimises the
squared log error of the fitted rows plus a small ridge pull toward the priors,
with a hand-written Nelder-Mead over log-parameters: per (family, compute
format) group a compute efficiency, a bandwidth efficiency and a per-step
overhead, plus the global all-reduce latency and MoE compute efficiency.  Run::

    python -m solver.perf.calibration fit tests/data/calibration.csv \\
        --out catalogs/calibration/perf_params.yaml
    fleetopt perf validate tests/data/calibration.csv
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import hashlib
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from solver.errors import InputError, InputIssue
from solver.perf.model import PerfCandidate, PerfWorkload, engine_spec, evaluate
from solver.perf.params import GroupParams, PerfParams, default_params

#: Mean input tokens of MLPerf's Llama-2-70B (OpenOrca) and Mixtral (OpenOrca+GSM8K+MBXP) sets.
#: Not in the calibration file; the data README says "inputs up to 1024 tokens, a few hundred on
#: average".  Planning assumption (confidence low); sensitivity is reported in the README.
MLPERF_INPUT_TOKENS = 300.0
#: Input-length coefficient of variation assumed for MLPerf's variable-length prompts.
MLPERF_INPUT_CV = 0.5
NO_SLO_MS = 1e12
#: Kinds used for fitting and scoring.  Static-batching rows are reported but not scored: the
#: source table does not give their batch size, so any prediction is a guess about the batch.
FITTED_KINDS = ("offline", "server", "ttft1")

REQUIRED = ("source_id", "model", "precision", "hardware", "num_accelerators", "tensor_parallel",
            "input_len", "output_len", "scenario", "metric", "value", "unit", "value_per_accelerator")

MODEL_MAP = {
    "llama-3.1-8b-instruct": "llama-3.1-8b",
    "llama-3.3-70b-instruct": "llama-3.1-70b",   # same architecture as 3.1-70B (config.json)
    "llama-3.1-405b-instruct": "llama-3.1-405b",
    "llama-2-7b": "llama-2-7b",
    "llama-2-70b": "llama-2-70b",
    "llama-2-70b-chat": "llama-2-70b",
    "mixtral-8x7b": "mixtral-8x7b",
}

HARDWARE_PATTERNS = [  # (regex on the lower-cased hardware name, accelerator id)
    (r"gh200", None),                    # no catalog entry: left out
    (r"gb200", "gb200"),
    (r"b200", "b200"),
    (r"h200", "h200-sxm"),
    (r"h100.*nvl", "h100-nvl"),
    (r"h100.*pcie", "h100-pcie"),
    (r"h100", "h100-sxm"),
    (r"a100", "a100-80gb"),
    (r"l40s", "l40s"),
    (r"mi300x", "mi300x"),
]


@dataclass(frozen=True)
class Case:
    """One measurement row, interpreted."""

    row: int                 # 1-based data row number in the file
    source_id: str
    source: str
    hardware: str
    kind: str                # offline | server | static | ttft1
    metric: str              # throughput | latency
    candidate: PerfCandidate
    workload: PerfWorkload
    measured: float          # per accelerator (throughput) or ms (latency)
    dup_key: tuple


@dataclass(frozen=True)
class Skipped:
    row: int
    hardware: str
    why: str


def _num(text: str) -> Optional[float]:
    m = re.search(r"[-+]?\d+(?:\.\d+)?", text or "")
    return float(m.group(0)) if m else None


def read_rows(path: str | Path) -> list[dict]:
    """CSV rows as dicts (comment lines skipped); missing columns raise InputError."""
    p = Path(path)
    if not p.exists():
        raise InputError(InputIssue(message="file not found", file=str(p),
                                    hint="give the path of a calibration CSV (e.g. tests/data/calibration.csv)"))
    with p.open(newline="") as fh:
        lines = [ln for ln in fh if not ln.lstrip().startswith("#")]
    reader = csv.DictReader(lines)
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        raise InputError(InputIssue(message=f"missing column(s): {', '.join(missing)}", file=str(p), line=1,
                                    hint="the header must have: " + ", ".join(REQUIRED)))
    return list(reader)


def _quant_id(precision: str) -> str:
    p = precision.strip().lower()
    if p.startswith("fp8"):
        return "fp8"
    if p.startswith("fp4"):
        return "fp4"
    if p.startswith("fp16") or p.startswith("bf16"):
        return "bf16"
    if p.startswith("int8"):
        return "int8"
    if p.startswith("int4"):
        return "int4"
    return p


def _smallest_tp(catalog, acc, model, quant, params) -> int:
    spec = None
    for tp in (1, 2, 4, 8):
        spec = engine_spec(catalog, PerfCandidate(acc, model, quant, tp), params)
        if spec.fits:
            return tp
    return 8


def interpret(rows: Sequence[dict], catalog, params: Optional[PerfParams] = None):
    """Turn CSV rows into :class:`Case` objects (and :class:`Skipped` with reasons)."""
    params = params or default_params()
    cases: list[Case] = []
    skipped: list[Skipped] = []
    for n, r in enumerate(rows, start=1):
        hw = r["hardware"]
        acc = None
        for pat, aid in HARDWARE_PATTERNS:
            if re.search(pat, hw.lower()):
                acc = aid if aid else "-"
                break
        if acc in (None, "-"):
            skipped.append(Skipped(n, hw, "no catalog accelerator for this hardware"))
            continue
        model = MODEL_MAP.get(r["model"].strip().lower())
        if model is None or acc not in catalog.accelerators or model not in catalog.models:
            skipped.append(Skipped(n, hw, f"model {r['model']!r} or accelerator {acc!r} not in catalog"))
            continue
        quant = _quant_id(r["precision"])
        if quant not in catalog.quantization:
            skipped.append(Skipped(n, hw, f"precision {r['precision']!r} has no quantization entry"))
            continue
        scen = r["scenario"].lower()
        sid = r["source_id"]
        n_acc = int(float(r["num_accelerators"] or 1))
        tp_txt = (r["tensor_parallel"] or "").strip()
        value = float(r["value"])
        vpa = _num(r["value_per_accelerator"])
        out_len = _num(r["output_len"])
        in_len = _num(r["input_len"]) if re.match(r"^\s*\d", r["input_len"] or "") else None
        metric = "latency" if r["metric"] == "first_token_latency" else "throughput"
        if tp_txt:
            tp = int(float(tp_txt))
        elif sid.startswith("MLPerf") and model == "llama-2-70b" and acc in ("h100-sxm", "h100-pcie"):
            tp = 2      # data README: NVIDIA runs Llama-2-70B FP8 as TP2 on H100-80GB
        elif sid.startswith("MLPerf") and acc.startswith("h200"):
            tp = 1      # ... and TP1 on 141 GB parts
        elif sid.startswith("MLPerf") and acc == "mi300x":
            tp = 1      # AMD: vLLM, TP1 per GPU
        else:
            tp = _smallest_tp(catalog, acc, model, quant, params)
        cand = PerfCandidate(acc, model, quant, tp)
        if in_len is None:
            in_len, cv = MLPERF_INPUT_TOKENS, MLPERF_INPUT_CV
        else:
            cv = 0.0
        if "server" in scen:
            kind = "server"
            wl = PerfWorkload(f"r{n}", in_len, out_len, float(r["ttft_constraint_ms"] or NO_SLO_MS),
                              float(r["tpot_constraint_ms"] or NO_SLO_MS), 99.0, input_cv=cv)
        elif metric == "latency":
            kind = "ttft1"
            wl = PerfWorkload(f"r{n}", in_len, 1.0, NO_SLO_MS, NO_SLO_MS)
        elif "static" in scen:
            kind = "static"
            wl = PerfWorkload(f"r{n}", in_len, out_len, NO_SLO_MS, NO_SLO_MS)
        else:
            kind = "offline"
            wl = PerfWorkload(f"r{n}", in_len, out_len, NO_SLO_MS, NO_SLO_MS, input_cv=cv)
        if metric == "latency":
            measured = value
        elif vpa is not None:
            measured = vpa
        else:
            unit = r["unit"].lower()
            per_gpu = "/gpu" in unit or "per-gpu" in unit or "see note" in unit
            measured = value if per_gpu else value / n_acc
        variant = re.sub(r"-99(\.9)?\b", "", scen)
        dup = (sid, r["source"], hw, r["model"], variant, r.get("system", ""), round(value, 3))
        cases.append(Case(row=n, source_id=sid, source=r["source"], hardware=acc, kind=kind, metric=metric,
                          candidate=cand, workload=wl, measured=measured, dup_key=dup))
    # one case per identical result (MLPerf 99 / 99.9 variants report the same run)
    seen: set = set()
    unique = []
    for c in cases:
        if c.dup_key in seen:
            skipped.append(Skipped(c.row, c.hardware, "duplicate of an identical result (99 vs 99.9 variant)"))
            continue
        seen.add(c.dup_key)
        unique.append(c)
    return unique, skipped


def split_mask(cases: Sequence[Case]) -> np.ndarray:
    """True = fitted, False = held out: every third case of each (source_id, hardware) group."""
    counters: dict[tuple, int] = {}
    mask = np.ones(len(cases), dtype=bool)
    for i, c in enumerate(cases):
        k = (c.source_id, c.hardware)
        j = counters.get(k, 0)
        counters[k] = j + 1
        mask[i] = (j % 3) != 2
    return mask


# --------------------------------------------------------------------------- prediction

def predict(cases: Sequence[Case], catalog, params: PerfParams) -> np.ndarray:
    """Model prediction for each case, in the unit of ``Case.measured``."""
    out = np.full(len(cases), np.nan)
    cands = list(dict.fromkeys(c.candidate for c in cases))
    ci = {c: i for i, c in enumerate(cands)}
    serve = [i for i, c in enumerate(cases) if c.kind in ("offline", "server")]
    if serve:
        wls = [cases[i].workload for i in serve]
        cap = evaluate(catalog, cands, wls, params)
        for j, i in enumerate(serve):
            c = cases[i]
            out[i] = cap.max_rps[ci[c.candidate], j] * c.workload.output_tokens / c.candidate.tensor_parallel
    specs = {}
    for i, c in enumerate(cases):
        if c.kind not in ("static", "ttft1"):
            continue
        spec = specs.get(c.candidate) or specs.setdefault(c.candidate, engine_spec(catalog, c.candidate, params))
        if not spec.fits:
            out[i] = 0.0
            continue
        I, O = c.workload.input_tokens, c.workload.output_tokens
        if c.kind == "ttft1":
            out[i] = float(spec.prefill_ms(I))
            continue
        b = max(1.0, min(spec.max_batch, math.floor(spec.kv_capacity_tokens / (I + O))))
        t = spec.terms
        flops = b * (t.flops_tok * I + 0.5 * t.attn_full * I * I + 0.5 * t.attn_sw * I * min(I, t.window))
        pre_s = (max(flops / t.flops_per_s, t.ne_time_s + t.exp_time_s) + t.overhead_s + t.comm_fixed_s
                 + t.comm_per_token_s * b * I)
        dec_s = O * float(spec.decode_step_ms(b, b * (I + O / 2))) * 1e-3
        out[i] = b * O / (pre_s + dec_s) / c.candidate.tensor_parallel
    return out


# --------------------------------------------------------------------------- fitting

def _groups_in(cases, catalog, params) -> list[tuple[str, str]]:
    keys = []
    for c in cases:
        spec = engine_spec(catalog, c.candidate, params)
        keys.append((catalog.accelerator(c.candidate.accelerator).family, spec.terms.peak_format or "*"))
    return list(dict.fromkeys(keys))


def nelder_mead(f, x0: np.ndarray, step: float = 0.3, iters: int = 3000, tol: float = 1e-7) -> np.ndarray:
    """Minimise ``f`` from ``x0`` (plain Nelder-Mead, standard coefficients)."""
    n = len(x0)
    simplex = [x0.copy()] + [x0 + step * np.eye(n)[i] for i in range(n)]
    vals = [f(x) for x in simplex]
    for _ in range(iters):
        order = np.argsort(vals)
        simplex = [simplex[i] for i in order]
        vals = [vals[i] for i in order]
        if abs(vals[-1] - vals[0]) < tol:
            break
        centroid = np.mean(simplex[:-1], axis=0)
        xr = centroid + (centroid - simplex[-1])
        fr = f(xr)
        if fr < vals[0]:
            xe = centroid + 2.0 * (centroid - simplex[-1])
            fe = f(xe)
            simplex[-1], vals[-1] = (xe, fe) if fe < fr else (xr, fr)
        elif fr < vals[-2]:
            simplex[-1], vals[-1] = xr, fr
        else:
            xc = centroid + 0.5 * (simplex[-1] - centroid)
            fc = f(xc)
            if fc < vals[-1]:
                simplex[-1], vals[-1] = xc, fc
            else:
                best = simplex[0]
                simplex = [best] + [best + 0.5 * (x - best) for x in simplex[1:]]
                vals = [vals[0]] + [f(x) for x in simplex[1:]]
    return simplex[int(np.argmin(vals))]


RIDGE = 0.02   # pull of log-parameters toward the prior (keeps thin groups physical)
#: Ceiling on fitted efficiencies: sustained HBM bandwidth and GEMM throughput stay below the
#: datasheet peaks (planning assumption); without it overhead and bandwidth trade off freely.
EFF_CAP = 0.9


def fit(cases: Sequence[Case], catalog, base: Optional[PerfParams] = None, rounds: int = 3,
        ridge: float = None) -> PerfParams:
    """Fit group efficiencies/overheads and the all-reduce latency on ``cases``."""
    base = base or PerfParams()
    prior = base.default
    ridge = RIDGE if ridge is None else ridge
    cases = [c for c in cases if c.kind in FITTED_KINDS]
    groups = _groups_in(cases, catalog, base)
    counts = {g: 0 for g in groups}
    for c in cases:
        spec = engine_spec(catalog, c.candidate, base)
        counts[(catalog.accelerator(c.candidate.accelerator).family, spec.terms.peak_format or "*")] += 1
    meas = np.array([c.measured for c in cases])
    x_prior = np.concatenate([[math.log(prior.compute_efficiency), math.log(prior.bandwidth_efficiency),
                               math.log(prior.step_overhead_ms)] for _ in groups]
                             + [[math.log(base.global_.allreduce_latency_us),
                                 math.log(base.global_.moe_compute_efficiency)]])

    def make(x) -> PerfParams:
        gs = []
        for k, (fam, fmt) in enumerate(groups):
            ce, be, ov = np.exp(x[3 * k: 3 * k + 3])
            gs.append(GroupParams(family=fam, format=fmt, compute_efficiency=float(min(ce, EFF_CAP)),
                                  bandwidth_efficiency=float(min(be, EFF_CAP)), step_overhead_ms=float(ov),
                                  fit_rows=counts[(fam, fmt)]))
        return base.with_groups(gs, allreduce_latency_us=float(np.exp(x[-2])),
                                moe_compute_efficiency=float(min(np.exp(x[-1]), 1.0)))

    def objective(x) -> float:
        pred = predict(cases, catalog, make(x))
        pred = np.where(pred > 0, pred, 1e-9)
        err = np.log(pred / meas)
        return float(np.mean(err ** 2) + ridge * np.mean((x - x_prior) ** 2))

    x = x_prior.copy()
    for _ in range(rounds):
        x = nelder_mead(objective, x, step=0.25, iters=1500)
    return make(x)


def family_groups(params: PerfParams) -> list[GroupParams]:
    """One ``(family, "*")`` group per fitted family (median of its formats), so that a format without
    data on a calibrated family (e.g. Hopper BF16) keeps that family's bandwidth and overhead."""
    out = []
    fams = sorted({g.family for g in params.groups if g.fit_rows > 0 and g.format != "*"})
    for fam in fams:
        gs = [g for g in params.groups if g.family == fam and g.fit_rows > 0 and g.format != "*"]
        out.append(GroupParams(
            family=fam, format="*",
            compute_efficiency=float(np.median([g.compute_efficiency for g in gs])),
            bandwidth_efficiency=float(np.median([g.bandwidth_efficiency for g in gs])),
            step_overhead_ms=float(np.median([g.step_overhead_ms for g in gs])), fit_rows=0,
            note="median of this family's fitted formats; used for its formats without data"))
    return out


def fitted_default(params: PerfParams) -> GroupParams:
    """Default group for families without data: the median of the fitted groups."""
    gs = [g for g in params.groups if g.fit_rows > 0]
    if not gs:
        return params.default
    return GroupParams(family="*", format="*",
                       compute_efficiency=float(np.median([g.compute_efficiency for g in gs])),
                       bandwidth_efficiency=float(np.median([g.bandwidth_efficiency for g in gs])),
                       step_overhead_ms=float(np.median([g.step_overhead_ms for g in gs])), fit_rows=0,
                       note="median of the fitted groups; used for families without calibration data "
                            "(confidence: low)")


# --------------------------------------------------------------------------- reporting

def errors(pred: np.ndarray, meas: np.ndarray) -> np.ndarray:
    """Absolute relative error, percent."""
    return np.abs(pred - meas) / meas * 100.0


def summary_rows(cases, pred, mask) -> list[dict]:
    """Median and p90 absolute error by (split, metric, source, hardware)."""
    err = errors(pred, np.array([c.measured for c in cases]))
    rows = []
    part_names = (("held-out", ~mask), ("fit", mask), ("all", np.ones_like(mask)))
    for part, m in part_names:
        for metric in ("throughput", "latency"):
            for by in ("all", "source", "hardware", "kind"):
                keyf = {"all": lambda c: "all", "source": lambda c: c.source_id,
                        "hardware": lambda c: c.hardware, "kind": lambda c: c.kind}[by]
                keys = sorted({keyf(c) for c, mm in zip(cases, m) if mm and c.metric == metric})
                for k in keys:
                    sel = np.array([mm and c.metric == metric and keyf(c) == k for c, mm in zip(cases, m)])
                    if not sel.any():
                        continue
                    e = err[sel]
                    rows.append({"part": part, "metric": metric, "by": by, "key": k, "n": int(sel.sum()),
                                 "median_abs_err_pct": float(np.median(e)),
                                 "p90_abs_err_pct": float(np.percentile(e, 90))})
    return rows


@dataclass
class Validation:
    """Predictions and errors for every case of a file, with the split when it is the fitted file."""

    cases: list
    skipped: list
    pred: np.ndarray
    fit_mask: Optional[np.ndarray]     # None: the file is not the one the parameters were fitted on
    scored: np.ndarray                 # kinds used for scoring (static-batching rows are not)

    @property
    def err_pct(self) -> np.ndarray:
        return errors(self.pred, np.array([c.measured for c in self.cases]))

    def summary(self) -> list[dict]:
        """Scored cases only; parts: held-out / fit / all (just 'all' for a foreign file)."""
        sel = self.scored
        cases = [c for c, k in zip(self.cases, sel) if k]
        mask = self.fit_mask[sel] if self.fit_mask is not None else np.zeros(len(cases), dtype=bool)
        rows = summary_rows(cases, self.pred[sel], mask)
        if self.fit_mask is None:
            rows = [r for r in rows if r["part"] == "all"]
        return rows


def validate_file(csv_path, catalog, params: PerfParams) -> Validation:
    """Predict every row of a calibration-format CSV with ``params``."""
    rows = read_rows(csv_path)
    cases, skipped = interpret(rows, catalog, params)
    pred = predict(cases, catalog, params)
    prov = dict(params.provenance)
    fitted_here = prov.get("data_sha256") == file_sha256(csv_path)
    mask = split_mask(cases) if fitted_here else None
    scored = np.array([c.kind in FITTED_KINDS for c in cases], dtype=bool)
    return Validation(cases=cases, skipped=skipped, pred=pred, fit_mask=mask, scored=scored)


def file_sha256(path) -> str:
    """sha256 of the data lines (``#`` comment lines excluded), so a copy with a provenance header
    and the original file have the same digest."""
    data = b"".join(ln for ln in Path(path).read_bytes().splitlines(keepends=True)
                    if not ln.lstrip().startswith(b"#"))
    return hashlib.sha256(data).hexdigest()


def run_fit(csv_path: str, out_path: str, catalog=None) -> tuple[PerfParams, list, np.ndarray, np.ndarray]:
    """Fit on the file's fit part and write the parameters with provenance."""
    from solver.catalog import default_catalog
    from solver.yamlio import atomic_write_text  # type: ignore[attr-defined]
    import yaml

    catalog = catalog or default_catalog()
    rows = read_rows(csv_path)
    base = PerfParams()
    cases, skipped = interpret(rows, catalog, base)
    mask = split_mask(cases)
    fit_cases = [c for c, m in zip(cases, mask) if m]
    params = fit(fit_cases, catalog, base)
    params = params.with_groups(list(params.groups) + family_groups(params), default=fitted_default(params))
    pred = predict(cases, catalog, params)
    sel = np.array([c.kind in FITTED_KINDS for c in cases], dtype=bool)
    summ = [s for s in summary_rows([c for c, k in zip(cases, sel) if k], pred[sel], mask[sel])
            if s["by"] == "all"]
    prov = {
        "data_file": str(csv_path),
        "data_sha256": file_sha256(csv_path),
        "data_sha256_note": "sha256 of the data lines (comment lines excluded)",
        "original": "../shared/data/measured/calibration.csv (TensorRT-LLM perf tables, MLPerf Inference v4.1)",
        "date": _dt.date.today().isoformat(),
        "method": ("least squares on log error of the fitted rows + ridge 0.02 toward priors, efficiencies capped at 0.9; "
                   "hand-written Nelder-Mead (3 rounds x 1500 iterations) over log-parameters"),
        "split": "every 3rd case of each (source_id, hardware) group held out, in file order",
        "rows_in_file": len(rows),
        "cases": len(cases),
        "cases_fit": int(mask.sum()),
        "cases_held_out": int((~mask).sum()),
        "fit_rows": ",".join(str(c.row) for c, m in zip(cases, mask) if m),
        "held_out_rows": ",".join(str(c.row) for c, m in zip(cases, mask) if not m),
        "skipped_rows": f"{len(skipped)} (GH200: no catalog entry; duplicate 99/99.9 MLPerf results)",
        "assumptions": (f"MLPerf mean input tokens {MLPERF_INPUT_TOKENS:g} (not in the file; low confidence); "
                        f"MLPerf input CV {MLPERF_INPUT_CV}; MLPerf TP: H100-80GB TP2, H200 TP1, MI300X TP1 "
                        "(data README), others smallest TP that fits"),
        "scored_kinds": ", ".join(FITTED_KINDS) + " (static-batching rows: batch size not in the source)",
        "held_out_error": "; ".join(f"{s['metric']}: median {s['median_abs_err_pct']:.1f}% "
                                    f"p90 {s['p90_abs_err_pct']:.1f}% (n={s['n']})"
                                    for s in summ if s["part"] == "held-out"),
        "command": f"python -m solver.perf.calibration fit {csv_path} --out {out_path}",
    }
    text = ("# Fitted parameters of the performance model (solver/perf). Generated; do not edit by hand.\n"
            + yaml.safe_dump(params.to_yaml_dict(prov), sort_keys=False, width=100))
    try:
        atomic_write_text(out_path, text)
    except Exception:  # noqa: BLE001 - fall back to a plain write
        Path(out_path).parent.mkdir(parents=True, exist_ok=True)
        Path(out_path).write_text(text)
    return params, cases, pred, mask


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m solver.perf.calibration")
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fit", help="fit parameters on a calibration CSV and write them")
    f.add_argument("csv")
    f.add_argument("--out", default="catalogs/calibration/perf_params.yaml")
    args = ap.parse_args(argv)
    try:
        params, cases, pred, mask = run_fit(args.csv, args.out)
    except InputError as exc:
        print(exc.format(), file=sys.stderr)
        return 2
    sel = np.array([c.kind in FITTED_KINDS for c in cases], dtype=bool)
    for s in summary_rows([c for c, k in zip(cases, sel) if k], pred[sel], mask[sel]):
        if s["by"] in ("all",):
            print(f"{s['part']:9s} {s['metric']:10s} n={s['n']:3d} median {s['median_abs_err_pct']:5.1f}% "
                  f"p90 {s['p90_abs_err_pct']:5.1f}%")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
