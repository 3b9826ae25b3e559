"""Calibrate the performance model on published measurements, and report its error.

Input: a CSV with the columns of ``tests/data/calibration.csv`` (a copy of the
project's reference file of TensorRT-LLM and MLPerf Inference v4.1 results;
lines starting with ``#`` are comments).  Each usable row becomes a *case*:

* ``offline``: max-load throughput without latency targets (TensorRT-LLM v1.0
  ``trtllm-bench`` rows, MLPerf Offline) -> ``max_rps x output tokens``;
* ``server``: MLPerf Server, within p99 TTFT and TPOT limits from the row;
* ``static``: TensorRT-LLM 0.5/0.6 static batching at the batch the row states
  (``concurrency_or_batch``: "static batch 768"; where a row gives none, the
  largest one memory and the engine allow) ->
  ``batch x O / (prefill(batch x I) + O x decode step)``;
* ``ttft1``: batch-1 first-token latency -> one standalone prefill;
* ``batch``: throughput at a stated batch or concurrency ("concurrency 1", "batch 16") -> the
  operating point at that mean decode batch (``fleetopt perf --batch N``); at or above the batch the
  replica reaches at max load, the max-load figure;
* ``itl``: inter-token latency / TPOT (mean, or the percentile the metric names) at a stated batch
  or concurrency, or at max load.

Latencies are read in the row's unit (ms, s, us).  A row whose metric, unit or load the model cannot
reproduce (end-to-end latency, requests/s, TTFT under load, a throughput at a set request rate outside
an MLPerf Server row) is skipped with the reason; so is a model or hardware name that is no catalog
entry (ids and common spellings are read: :func:`model_of`, :func:`accelerator_of`).

Throughputs are compared per accelerator (``value_per_accelerator``; a replica
of TP devices is divided by TP).  Interpretation choices, each documented in the
README: MLPerf logs omit TP, so NVIDIA Llama-2-70B runs are TP2 on 80 GB parts
and TP1 on 141 GB parts (data README), other rows use the smallest TP that fits;
the "99" and "99.9" MLPerf variants with identical results are one case;
GH200 rows have no catalog entry and are left out; MLPerf's mean input length
is not in the file and is a stated assumption (``MLPERF_INPUT_TOKENS``).

Split: rows are grouped by (source_id, hardware) in file order; every third
(index 2, 5, 8, ...) is held out, the rest is fitted.  The fit (:func:`fit`)
keeps every parameter in a physical range (``BOUNDS``), writes each (family,
compute format) group as the global fit plus a penalised deviation
(hierarchical shrinkage: sparse groups stay near the global fit), and uses a
soft-L1 loss on the log error so that single outliers do not drag a group;
MLPerf reference-implementation rows are excluded (``EXCLUDED_WHY``).  With
``--interconnect-data``, the link efficiency of each interconnect kind that file's
tensor-parallel rows run on is fitted next (:func:`fit_link_efficiency`); with ``--moe-data``,
the MoE tile padding on that file's fit rows and the main file's MoE fit rows
(:func:`fit_tile_padding`).  Run::

    python -m solver.perf.calibration fit tests/data/calibration.csv \\
        --out my-calibration/perf_params.yaml --interconnect-data tests/data/interconnect_tp.csv \\
        --moe-data catalogs/calibration/gpt_oss_trtllm.csv
    fleetopt perf validate tests/data/calibration.csv --params my-calibration/perf_params.yaml
    FLEETOPT_CALIBRATION_DIR=my-calibration fleetopt solve PROBLEM.yaml     # plan with it
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import difflib
import hashlib
import io
import math
from collections import Counter
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from solver.errors import InputError, InputIssue
from solver.yamlio import read_text_file
from solver.perf.arch import expert_padding_s, prefill_flops
from solver.perf.model import PerfCandidate, PerfWorkload, engine_spec, evaluate, operating_point
from solver.perf.params import GroupParams, PerfParams, calibration_families, default_params

#: Mean input tokens of MLPerf's Llama-2-70B (OpenOrca) and Mixtral (OpenOrca+GSM8K+MBXP) sets.
#: Not in the calibration file; the data README says "inputs up to 1024 tokens, a few hundred on
#: average".  Planning assumption (confidence low); sensitivity is reported in the README.
MLPERF_INPUT_TOKENS = 300.0
#: Input-length coefficient of variation assumed for MLPerf's variable-length prompts.
MLPERF_INPUT_CV = 0.5
NO_SLO_MS = 1e12
#: Kinds used for fitting and scoring.  Static-batching rows are reported but neither fitted nor
#: scored: they measure TensorRT-LLM 0.5/0.6's static batching (2023), an engine mode the model does
#: not describe (it models in-flight batching, as every other row's engine runs).
FITTED_KINDS = ("offline", "server", "ttft1")

REQUIRED = ("source_id", "model", "precision", "hardware", "num_accelerators", "tensor_parallel",
            "input_len", "output_len", "scenario", "metric", "value", "unit", "value_per_accelerator")

#: Names of models the catalog lacks whose architecture is a catalog model's (config.json identical).
MODEL_TWINS = {"llama-3.3-70b": "llama-3.1-70b"}
#: Words of a model name that say nothing about its architecture: tuning, packaging, checkpoint format
#: (the precision column says the format).
_MODEL_NOISE = {"instruct", "chat", "hf", "it", "fp8", "fp4", "nvfp4", "mxfp4", "int8", "int4", "awq", "gptq",
                "w8a8", "w4a16", "w4a8", "fp16", "bf16", "dynamic", "quantized"}

@dataclass(frozen=True)
class Case:
    """One measurement row, interpreted."""

    row: int                 # 1-based data row number in the file
    source_id: str
    source: str
    hardware: str
    kind: str                # offline | server | static | ttft1 | batch | itl (KIND_TEXT)
    metric: str              # throughput | ttft | itl
    candidate: PerfCandidate
    workload: PerfWorkload
    measured: float          # per accelerator (throughput) or ms (ttft, itl)
    dup_key: tuple
    batch: Optional[float] = None   # static, batch, itl: the batch or concurrency the row states
    how: str = ""                   # how the row is modelled, in words (the validate table's last column)
    percentile: Optional[float] = None   # itl: the percentile the metric names (None: the mean)


#: What each kind of case is compared with.
KIND_TEXT = {
    "offline": "throughput at max load, no latency limits",
    "server": "the largest rate within the row's TTFT/TPOT limits",
    "static": "static batching at the row's batch (not scored)",
    "ttft1": "first-token latency vs a batch-1 prefill",
    "batch": "throughput at the row's batch or concurrency, as fleetopt perf --batch N",
    "itl": "inter-token latency vs the TPOT at the row's batch or concurrency, or at max load",
}


@dataclass(frozen=True)
class Skipped:
    row: int
    hardware: str
    why: str


def _num(text: str) -> Optional[float]:
    m = re.search(r"[-+]?\d+(?:\.\d+)?", text or "")
    return float(m.group(0)) if m else None


def read_rows(path: str | Path, example: str = "tests/data/calibration.csv") -> list[dict]:
    """CSV rows as dicts (comment lines skipped; each row's file line under ``_line``); a file that
    is missing, a folder, unreadable, not UTF-8 text or without the required columns raises InputError."""
    return _read_csv(path, example)[0]


def _read_csv(path: str | Path, example: str = "tests/data/calibration.csv") -> tuple[list[dict], str]:
    """:func:`read_rows` and the data digest (:func:`file_sha256`) of one read of the file: a FIFO
    (``<(cat f.csv)``) or /dev/null can be read only once, and other loaders accept them (QA s27:
    'not a file (a folder?)'); folders, unreadable and binary files are said as every loader says
    them (:func:`solver.yamlio.read_text_file`)."""
    p = Path(path)
    hint = f"give the path of a CSV in the calibration format (e.g. {example})"
    try:
        missing_file = not p.exists()
    except OSError:
        missing_file = False            # (read_text_file says why the name cannot be read)
    if missing_file:
        raise InputError(InputIssue(message="file not found", file=str(p), hint=hint))
    text = read_text_file(p, kind="CSV", suffix=".csv")
    digest = _data_digest(text.encode("utf-8"))
    # newline="": lines end as the csv module expects (a quoted field may hold a newline)
    lines = io.StringIO(text[1:] if text.startswith("\ufeff") else text, newline="")
    numbered = [(n, ln) for n, ln in enumerate(lines, start=1) if not ln.lstrip().startswith("#")]
    reader = csv.DictReader([ln for _, ln in numbered])
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        raise InputError(InputIssue(message=f"missing column(s): {', '.join(missing)}", file=str(p), line=1,
                                    hint="the header must have: " + ", ".join(REQUIRED)))
    rows = list(reader)
    for i, row in enumerate(rows):
        row["_line"] = numbered[min(i + 1, len(numbered) - 1)][0]     # one line per row
        row["_file"] = str(p)
    return rows, digest


#: Rows left out of fitting and scoring, with the reason (documented in the README).
EXCLUDED_WHY = ("MLPerf reference implementation (untuned vLLM 0.5.2, 'reference' in the result path): "
                "5-8x slower than the TensorRT-LLM runs on the same L40S; not a tuned serving engine")


def _excluded(row: dict) -> Optional[str]:
    """Reason to leave a row out, or None."""
    url = (row.get("source_url") or "").lower()
    if row.get("source_id", "").startswith("MLPerf") and "-reference-" in url:
        return EXCLUDED_WHY
    return None


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


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[-_ ()/,]+", text.strip().lower()) if w]


def accelerator_of(hardware: str, catalog_ids=None) -> Optional[str]:
    """Catalog accelerator of a measurement row's hardware name, or None: the importers' reading
    (:func:`solver.catalog.gpu_names.accelerator_for_name`).  (QA: this file's own patterns read
    every H200 as the SXM part and every A100 as the 80 GB SXM one, and skipped L4, A10G and MI325X.)
    Where no word of the name is a GPU that reading knows (it refuses some variants on purpose: an A100
    PCIe is none of the catalog's parts), one to three adjacent words that spell a catalog id without its
    hyphens: 'Intel Gaudi 3' is gaudi3, 'Google TPU v6e' tpu-v6e."""
    from solver.catalog import default_catalog
    from solver.catalog.gpu_names import GPU_ALIASES, accelerator_for_name
    ids = catalog_ids if catalog_ids is not None else default_catalog().accelerators
    found = accelerator_for_name(hardware, ids)
    words = _words(hardware)
    if found is not None or any(w in GPU_ALIASES for w in words):
        return found
    compact = {re.sub(r"[^a-z0-9]", "", i): i for i in ids}
    for n in (1, 2, 3):
        for k in range(len(words) - n + 1):
            hit = compact.get("".join(words[k:k + n]))
            if hit:
                return hit
    return None


def _model_key(name: str) -> str:
    """A model name without organisation, tuning and checkpoint words, split where letters meet digits,
    so that spellings of one model compare equal: 'meta-llama/Llama-3.3-70B-Instruct' -> 'llama-3.3-70b',
    'Llama2-70b-chat-hf' -> 'llama-2-70b', 'Mixtral 8x7B v0.1' -> 'mixtral-8x7b'."""
    words = [w for w in re.split(r"[\s_()\-]+", name.strip().lower().split("/")[-1])
             if w and w not in _MODEL_NOISE]
    if len(words) > 1 and words[0] == "meta":                          # Meta-Llama-3.1-8B
        words = words[1:]
    if len(words) > 1 and re.fullmatch(r"v\d+\.\d+", words[-1]):       # a release: Mixtral-8x7B-v0.1
        words = words[:-1]
    out: list[str] = []
    for w in words:
        m = re.fullmatch(r"([a-z]+)(\d.*)", w)
        out.extend(m.groups() if m else (w,))
    return "-".join(out)


def _model_spellings(catalog) -> dict[str, set]:
    """{spelling key: catalog ids}: each model's id, display name and Hugging Face repository."""
    out: dict[str, set] = {}
    for mid, m in catalog.models.items():
        for text in (mid, m.name, getattr(m, "hf_repo", None)):
            if text:
                out.setdefault(_model_key(text), set()).add(mid)
    return out


def model_of(name: str, catalog) -> Optional[str]:
    """Catalog model a measurement row's model name spells, or None: a catalog id, another spelling of a
    model's id, name or repository (:func:`_model_key`; one model only), or a ``MODEL_TWINS`` name."""
    key = name.strip().lower()
    if key in catalog.models:
        return key
    k = _model_key(name)
    hits = _model_spellings(catalog).get(k, set())
    if len(hits) == 1:
        return next(iter(hits))
    twin = MODEL_TWINS.get(k)
    return twin if twin in catalog.models else None


def _close(grams: Sequence[str], spellings: dict[str, set], n: int = 3, cutoff: float = 0.6) -> list[str]:
    """Up to ``n`` catalog ids whose spellings are closest to any of ``grams`` (ratio >= ``cutoff``)."""
    best: dict[str, float] = {}
    for g in grams:
        for sp, ids in spellings.items():
            r = difflib.SequenceMatcher(None, g, sp).ratio()
            for i in ids:
                if r >= cutoff and r > best.get(i, 0.0):
                    best[i] = r
    return sorted(best, key=lambda i: (-best[i], i))[:n]


def _unknown_model(name: str, catalog) -> str:
    close = _close([_model_key(name)], _model_spellings(catalog))
    return (f"model {name!r} is not a catalog model" + (f" (did you mean {', '.join(close)}?)" if close else "")
            + "; write a catalog model id (fleetopt catalog list models) or add the model with --catalog")


def _unknown_hardware(hardware: str, catalog) -> str:
    words = _words(hardware)
    grams = words + ["".join(words[k:k + 2]) for k in range(len(words) - 1)]
    # a near spelling only: part numbers one letter apart are other parts (GH200 is no GB200)
    close = _close(grams, {re.sub(r"[^a-z0-9]", "", i): {i} for i in catalog.accelerators}, cutoff=0.85)
    return (f"hardware {hardware!r} is not a catalog accelerator"
            + (f" (did you mean {', '.join(close)}?)" if close else "")
            + "; write a catalog accelerator id (fleetopt catalog list accelerators) or add it with --catalog")


_METRICS = "output-token throughput, first-token latency (TTFT), inter-token latency (ITL / TPOT)"


def _ms_per_unit(text: str) -> Optional[float]:
    """Milliseconds in one unit of a latency ('ms', 's', 'us', ...), or None when it is not a time unit."""
    t = text.strip().lower()
    if re.match(r"(ms|msec|millisec)", t):
        return 1.0
    if re.match(r"(us|µs|μs|usec|microsec)", t):
        return 1e-3
    if re.match(r"(s|sec|secs|second|seconds)\b", t):
        return 1000.0
    return None


def _metric_of(metric: str, unit: str):
    """How a row's metric is compared: ``(metric, ms per unit, percentile)`` with metric throughput, ttft
    or itl (ms per unit None for throughput; percentile None for a mean), or the reason it cannot be (str)."""
    m = re.sub(r"[\s\-/]+", "_", metric.strip().lower())
    u = unit.strip().lower()
    if re.search(r"first_?token|ttft|time_to_first", m):
        which = "ttft"
    elif re.search(r"inter_?token|(^|_)itl(_|$)|tpot|time_per_output_token", m):
        which = "itl"
    elif re.search(r"throughput|tokens?_per_s|tok_s|(^|_)tps(_|$)", m):
        which = "throughput"
    else:
        return f"metric {metric!r} is not one the model predicts ({_METRICS})"
    if which == "throughput":
        if (re.search(r"request|(^|_)req(_|$)|input|prompt|prefill|total_token", m)
                or re.search(r"\breq(uests?)?\s*/\s*s|requests? per s|input", u)):
            return (f"metric {metric!r} (unit {unit!r}) counts requests or input tokens: the model predicts "
                    "output tokens per second")
        per_s = re.search(r"/\s*s\b|/\s*sec|per\s+s(ec(ond)?)?\b|\btps\b", u)
        if u and not (re.search(r"tok", u) and per_s):
            return f"unit {unit!r} of metric {metric!r}: a throughput is compared in output tokens per second"
        if not u and not re.search(r"output|token|tok", m):
            return f"metric {metric!r} has no unit: write 'output tokens/s' (or the unit it has) in the unit column"
        return ("throughput", None, None)
    scale = _ms_per_unit(u) if u else None
    if not u:
        suffix = re.search(r"_(ms|s|us)$", m)
        scale = _ms_per_unit(suffix.group(1)) if suffix else None
    if scale is None:
        return f"unit {unit!r} of the latency metric {metric!r}: write ms or s in the unit column"
    pct = re.search(r"(?:^|[^a-z0-9])p(\d{1,2}(?:\.\d+)?)(?![\d.])", f"{m} {u}")
    return (which, scale, float(pct.group(1)) if pct else (50.0 if "median" in m else None))


_STATIC_RE = re.compile(r"static\s+batch(?:[\s_-]*size)?\s*[:=]?\s*(\d+)")
_CONCURRENCY_RE = re.compile(r"concurren(?:cy|t[\s_-]*requests)\s*[:=]?\s*(\d+)"
                             r"|(\d+)\s*(?:concurrent|parallel|simultaneous)"
                             r"|(\d+)\s*(?:users|clients)\b|\b(?:users|clients)\s*[:=]?\s*(\d+)")
_BATCH_RE = re.compile(r"(?<![\w-])(?<!max )(?<!max_)batch(?:[\s_-]*size)?\s*[:=]?\s*(\d+)|\bbs\s*[:=]?\s*(\d+)")
_SINGLE_RE = re.compile(r"single[\s_-]*(?:request|stream|user|query)|one request at a time")
_RATE_RE = re.compile(r"poisson|qps|request[\s_-]*rate|\breq(?:uests?)?\s*/\s*s|arrival")
_MAX_RE = re.compile(r"\bmax(?:imum)?\b|offline|all (?:samples|requests|prompts)|saturat|throughput|rate\s*[:=]?\s*inf")


def _load_of(text: str) -> tuple[Optional[str], Optional[float]]:
    """The load a ``concurrency_or_batch`` (or scenario) text states: ('static', N or None), ('batch', N)
    for a batch or a closed-loop concurrency, ('rate', None), ('max', None), ('unknown', None), or
    (None, None) for an empty text.  A maximum ('max batch 256', 'max num seqs') is an engine limit, not
    the load: such a text is max load."""
    t = (text or "").strip().lower()
    if not t:
        return None, None
    for form, rx in (("static", _STATIC_RE), ("batch", _CONCURRENCY_RE), ("batch", _BATCH_RE)):
        m = rx.search(t)
        if m:
            return form, float(next(g for g in m.groups() if g))
    if _SINGLE_RE.search(t):
        return "batch", 1.0
    if "static" in t:
        return "static", None
    if re.search(r"rate\s*[:=]?\s*inf", t) or not _RATE_RE.search(t):
        if _MAX_RE.search(t):
            return "max", None
        if re.fullmatch(r"\d+", t):
            return "batch", float(t)
        return "unknown", None
    return "rate", None


def interpret(rows: Sequence[dict], catalog, params: Optional[PerfParams] = None):
    """Turn CSV rows into :class:`Case` objects (and :class:`Skipped` with reasons).

    A row is compared only where its metric is one the model predicts (throughput in output tokens per
    second, TTFT, ITL / TPOT; latencies in the row's unit) at the load it states
    (``concurrency_or_batch``, else its scenario); any other row is skipped with the reason."""
    params = params or default_params()
    cases: list[Case] = []
    skipped: list[Skipped] = []

    def one(n: int, r: dict) -> None:
        hw = r["hardware"]
        acc = accelerator_of(hw, catalog.accelerators)
        model = model_of(r["model"], catalog)
        if acc is None or model is None:
            whys = ([] if model else [_unknown_model(r["model"], catalog)]) + \
                   ([] if acc else [_unknown_hardware(hw, catalog)])
            skipped.append(Skipped(n, hw, "; ".join(whys)))
            return
        why = _excluded(r)
        if why:
            skipped.append(Skipped(n, hw, why))
            return
        quant = _quant_id(r["precision"])
        if quant not in catalog.quantization:
            skipped.append(Skipped(n, hw, f"precision {r['precision']!r} has no quantization entry "
                                          f"(catalog: {', '.join(catalog.quantization)})"))
            return
        got = _metric_of(r["metric"], r["unit"])
        if isinstance(got, str):
            skipped.append(Skipped(n, hw, got))
            return
        metric, ms_per_unit, pct = got
        scen = r["scenario"].lower()
        load_txt = (r.get("concurrency_or_batch") or "").strip()
        form, batch = _load_of(load_txt)
        said = f"concurrency_or_batch {load_txt!r}"
        if form is None:
            form, batch = _load_of(scen)
            said = f"scenario {r['scenario']!r} (no concurrency_or_batch)"
        if batch is not None and batch <= 0:
            # (QA s21: 'batch 0' read as no batch, i.e. max load, and scored at 78%)
            skipped.append(Skipped(n, hw, f"{said}: a load of {batch:g} requests is no load the model can "
                                          "reproduce; write 'concurrency N' or 'batch N' with N >= 1, or 'max load'"))
            return
        if "static" in scen and form != "static":
            form, batch = "static", batch if form == "batch" else None
        if metric == "ttft" and not (form in ("batch", "static") and batch == 1):
            skipped.append(Skipped(n, hw, f"first-token latency at {said}: the model's TTFT (a batch-1 prefill) "
                                          "is compared only with rows at batch 1 / concurrency 1"))
            return
        if metric == "throughput":
            kind = {"static": "static", "batch": "batch", "max": "offline"}.get(form)
            if "server" in scen and form != "batch":
                kind = "server"
        else:
            kind = "ttft1" if metric == "ttft" else ("itl" if form in ("batch", "max") else None)
        if kind is None:
            skipped.append(Skipped(n, hw, _load_why(metric, form, said)))
            return
        sid = r["source_id"]
        n_acc = int(float(r["num_accelerators"] or 1))
        tp_txt = (r["tensor_parallel"] or "").strip()
        value = float(r["value"])
        vpa = _num(r["value_per_accelerator"])
        out_len = _num(r["output_len"])
        in_len = _num(r["input_len"]) if re.match(r"^\s*\d", r["input_len"] or "") else None
        if in_len is None and not sid.startswith("MLPerf"):
            # (QA s26: TGI rows with 'ShareGPT prompts (lengths not stated)' were modelled at MLPerf's
            # 300-token mean without a word; their errors then mix the prompt length with the model's)
            skipped.append(Skipped(n, hw, f"input_len {r['input_len']!r} is not a number: only MLPerf rows "
                                          "(source_id 'MLPerf...') may leave it unstated, read as OpenOrca's "
                                          f"{MLPERF_INPUT_TOKENS:g}-token mean; give the mean input tokens"))
            return
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
        if kind == "server":
            wl = PerfWorkload(f"r{n}", in_len, out_len, float(r["ttft_constraint_ms"] or NO_SLO_MS),
                              float(r["tpot_constraint_ms"] or NO_SLO_MS), 99.0, input_cv=cv)
            limits = [f"{k} {float(r[c]):g} ms" for k, c in (("TTFT p99", "ttft_constraint_ms"),
                                                            ("TPOT p99", "tpot_constraint_ms")) if r[c]]
            how = "largest rate within " + (", ".join(limits) if limits else "no latency limits")
        elif kind == "ttft1":
            wl = PerfWorkload(f"r{n}", in_len, 1.0, NO_SLO_MS, NO_SLO_MS)
            how = "batch-1 prefill"
        elif kind == "static":
            wl = PerfWorkload(f"r{n}", in_len, out_len, NO_SLO_MS, NO_SLO_MS)
            how = f"static batch {batch:g}" if batch else "static batch (the largest that fits)"
        elif kind == "offline":
            wl = PerfWorkload(f"r{n}", in_len, out_len, NO_SLO_MS, NO_SLO_MS, input_cv=cv)
            how = "max load"
        else:
            wl = PerfWorkload(f"r{n}", in_len, out_len, NO_SLO_MS, NO_SLO_MS, pct or 99.0, input_cv=cv)
            stat = "mean TPOT" if pct is None else f"p{pct:g} TPOT"
            at = f"decode batch {batch:g} from {load_txt or r['scenario']!r}" if batch else "max load"
            how = at if kind == "batch" else f"{stat} at {at}"
        if metric != "throughput":
            measured = value * ms_per_unit
        elif vpa is not None:
            measured = vpa
        else:
            unit = r["unit"].lower()
            per_gpu = "/gpu" in unit or "per-gpu" in unit or "see note" in unit
            measured = value if per_gpu else value / n_acc
        variant = re.sub(r"-99(\.9)?\b", "", scen)
        # (the lengths, the load, the precision, TP and the statistic too: rows of one table with equal
        # figures are not one result; QA s21: a p50 and a p99 ITL of 6 ms, an FP8 and a BF16 row, were one)
        dup = (sid, r["source"], hw, r["model"], variant, r.get("system", ""), round(value, 3), metric, pct,
               r["input_len"], r["output_len"], load_txt, quant, tp_txt)
        cases.append(Case(row=n, source_id=sid, source=r["source"], hardware=acc, kind=kind, metric=metric,
                          candidate=cand, workload=wl, measured=measured, dup_key=dup,
                          batch=batch if kind in ("static", "batch", "itl") else None, how=how,
                          percentile=pct if kind == "itl" else None))

    issues = []
    for n, r in enumerate(rows, start=1):
        try:
            one(n, r)
        except (ValueError, TypeError) as exc:
            # a value that is not a number, a length that is missing: the row, not a traceback
            issues.append(InputIssue(message=f"data row {n}: {exc}", file=r.get("_file"), line=r.get("_line"),
                                     hint="every number column must hold a number (input_len may be text "
                                          "only in MLPerf rows, 'variable', read as 300 tokens; other rows "
                                          "with text there are skipped)"))
    if issues:
        raise InputError(issues)
    # one case per identical result (MLPerf 99 / 99.9 variants report the same run)
    seen: set = set()
    unique = []
    for c in cases:
        if c.dup_key in seen:
            skipped.append(Skipped(c.row, c.hardware, "duplicate of an identical result (same source, system, "
                                                      "hardware, model, precision, TP, shape, load and figure: "
                                                      "MLPerf's 99 and 99.9 variants report one run)"))
            continue
        seen.add(c.dup_key)
        unique.append(c)
    return unique, skipped


def _load_why(metric: str, form: Optional[str], said: str) -> str:
    """Why a row's load cannot be modelled for its metric."""
    fix = "write 'concurrency N', 'batch N' or 'max load' in concurrency_or_batch"
    if form == "rate" and metric == "throughput":
        return (f"{said}: a set request rate; the model predicts the largest rate within the row's latency "
                "limits (MLPerf Server rows: scenario 'Server' with ttft_constraint_ms / tpot_constraint_ms), "
                "not the throughput at a given rate")
    if form == "rate":
        return (f"inter-token latency at {said}, a set request rate: the model gives the TPOT at a stated "
                f"batch or at max load; {fix}")
    if form == "static":
        return f"inter-token latency under static batching ({said}): the model describes in-flight batching"
    if form == "unknown":
        return f"{said} is not a load the model can reproduce: {fix}"
    return f"neither concurrency_or_batch nor the scenario says the load: {fix}"


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

def predict(cases: Sequence[Case], catalog, params: PerfParams, notes: Optional[list] = None) -> np.ndarray:
    """Model prediction for each case, in the unit of ``Case.measured``; NaN where the model has none
    (an ITL row of a replica that cannot run).  ``notes`` (a list) receives, per case, how the load was
    changed or why there is no prediction, else None.

    A stated batch or concurrency at or above the batch the replica reaches at max load (memory or the
    engine's limit) is that max load: more requests than the replica can batch only queue."""
    out = np.full(len(cases), np.nan)
    said: list = [None] * len(cases)
    cands = list(dict.fromkeys(c.candidate for c in cases))
    ci = {c: i for i, c in enumerate(cands)}
    serve = [i for i, c in enumerate(cases) if c.kind in ("offline", "server", "batch", "itl")]
    if serve:
        wls = [cases[i].workload for i in serve]
        cap = evaluate(catalog, cands, wls, params)
        for j, i in enumerate(serve):
            c = cases[i]
            k = ci[c.candidate]
            out[i] = cap.max_rps[k, j] * c.workload.output_tokens / c.candidate.tensor_parallel
            if c.kind not in ("batch", "itl"):
                continue
            if cap.reason[k, j] != 0:
                if c.kind == "itl":
                    out[i] = np.nan
                said[i] = f"no operating point: {cap.reason_text(k, j)}"
                continue
            b_max = float(cap.batch[k, j])
            if c.batch is not None and c.batch >= b_max:
                said[i] = f"at max load: batch {c.batch:g} >= {b_max:g}, the most the replica batches"
            if c.kind == "batch" and said[i]:
                continue
            op = operating_point(catalog, c.candidate, c.workload, min(c.batch or b_max, b_max), params)
            if c.kind == "batch":
                out[i] = op["max_rps"] * c.workload.output_tokens / c.candidate.tensor_parallel
            else:
                out[i] = op["tpot_mean_ms"] if c.percentile is None else op["tpot_ms"]
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
        # the row's own batch; where it gives none, the largest that memory and the engine allow
        b = c.batch or max(1.0, min(spec.max_batch, math.floor(spec.kv_capacity_tokens / (I + O))))
        t = spec.terms
        flops = b * prefill_flops(t, I)
        a, m = flops / t.flops_per_s + expert_padding_s(t, b * I), t.ne_time_s + t.exp_time_s
        pre_s = (max(a, m) + t.unoverlapped * min(a, m) + t.overhead_s + t.comm_fixed_s
                 + t.comm_per_token_s * b * I)
        dec_s = O * float(spec.decode_step_ms(b, b * (I + O / 2))) * 1e-3
        out[i] = b * O / (pre_s + dec_s) / c.candidate.tensor_parallel
    if notes is not None:
        notes[:] = said
    return out


# --------------------------------------------------------------------------- fitting

def _group_keys(cases, catalog, params) -> list[tuple[str, str]]:
    """Each case's (calibration group, compute format): the group its parameters are fitted in."""
    return [(calibration_families(catalog.accelerator(c.candidate.accelerator))[0],
             engine_spec(catalog, c.candidate, params).terms.peak_format or "*") for c in cases]


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


#: Physical ranges of the fitted parameters (justified in solver/perf/README.md, "Bounds"):
#: sustained HBM bandwidth in copy kernels reaches 85-92% of the datasheet figure, serving
#: kernels somewhat less; dense GEMMs reach 60-80% of the dense peak and serving mixes of small
#: and large GEMMs less; an engine step costs between a CUDA-graph launch and a Python scheduler
#: pass; one small all-reduce costs a few to tens of microseconds.
BOUNDS: dict[str, tuple[float, float]] = {
    "compute_efficiency": (0.25, 0.85),
    "bandwidth_efficiency": (0.55, 0.92),
    "step_overhead_ms": (0.3, 8.0),
    "allreduce_latency_us": (3.0, 50.0),
    "moe_compute_efficiency": (0.3, 1.0),
    "step_overhead_per_seq_us": (0.0, 30.0),
    "unoverlapped_fraction": (0.0, 1.0),
    # 0 to the largest row tile of the Triton MoE kernels' rule (block_m of 16-128 rows)
    "moe_tile_padding_tokens": (0.0, 128.0),
}
GROUP_KEYS = ("compute_efficiency", "bandwidth_efficiency", "step_overhead_ms")
#: Global parameters the fit sets (one value for every accelerator).
GLOBAL_KEYS = ("allreduce_latency_us", "moe_compute_efficiency", "step_overhead_per_seq_us",
               "unoverlapped_fraction", "moe_tile_padding_tokens")
#: Prior centre of the global (all-family) parameters: mid-range efficiencies, 2 ms per step.
FIT_PRIOR = {"compute_efficiency": 0.5, "bandwidth_efficiency": 0.8, "step_overhead_ms": 2.0,
             "allreduce_latency_us": 10.0, "moe_compute_efficiency": 0.6, "step_overhead_per_seq_us": 5.0,
             "unoverlapped_fraction": 0.3, "moe_tile_padding_tokens": 32.0}
#: Robust loss: soft-L1 on the log error with this scale (about 15%): quadratic below, linear above,
#: so one row that is off by 5x pulls like a handful of 15% rows, not like 100 of them.
LOSS_SCALE = 0.15
#: Hierarchical shrinkage: penalty on each group's deviation from the global parameters (in the
#: bounded logit coordinates).  The data term is a *sum* over rows, so a group with many rows
#: follows its data and a group with few stays near the global fit.
SHRINK = 0.1
#: Weak pull of the global parameters toward FIT_PRIOR (keeps unidentified directions put).
PRIOR_WEIGHT = 0.01
RIDGE = SHRINK        # name kept for callers of the previous fitter


def _to_value(theta, key):
    lo, hi = BOUNDS[key]
    return lo + (hi - lo) / (1.0 + np.exp(-np.clip(theta, -30.0, 30.0)))


def _to_theta(value, key):
    lo, hi = BOUNDS[key]
    f = min(max((value - lo) / (hi - lo), 1e-6), 1 - 1e-6)
    return math.log(f / (1 - f))


def _lm_robust(residual_fn, x0: np.ndarray, penalty_w: np.ndarray, penalty_c: np.ndarray,
               scale: float, iters: int = 60, h: float = 1e-4) -> np.ndarray:
    """Minimise ``sum rho(e_i) + sum penalty_w (x - penalty_c)^2`` with soft-L1 ``rho`` of scale ``scale``:
    Levenberg-Marquardt on iteratively reweighted least squares, forward-difference Jacobian."""
    def total(x, e):
        return float(np.sum(2 * scale ** 2 * (np.sqrt(1 + (e / scale) ** 2) - 1))
                     + np.sum(penalty_w * (x - penalty_c) ** 2))

    x = x0.copy()
    e = residual_fn(x)
    f = total(x, e)
    mu = 1e-2
    for _ in range(iters):
        J = np.empty((e.size, x.size))
        for k in range(x.size):
            xk = x.copy()
            xk[k] += h
            J[:, k] = (residual_fn(xk) - e) / h
        w = 1.0 / np.sqrt(1 + (e / scale) ** 2)
        A = J.T @ (w[:, None] * J) + np.diag(penalty_w)
        g = J.T @ (w * e) + penalty_w * (x - penalty_c)
        improved = False
        for _ in range(8):
            step = np.linalg.solve(A + mu * np.diag(np.diag(A) + 1e-9), -g)
            xn = x + step
            en = residual_fn(xn)
            fn = total(xn, en)
            if fn < f:
                improved = True
                break
            mu *= 10
        if not improved:
            break
        rel = (f - fn) / max(f, 1e-12)
        x, e, f = xn, en, fn
        mu = max(mu / 3, 1e-6)
        if rel < 1e-7:
            break
    return x


def fit(cases: Sequence[Case], catalog, base: Optional[PerfParams] = None, rounds: int = 3,
        ridge: float = None, prior_weight: float = None, fixed: Optional[dict] = None) -> PerfParams:
    """Fit group efficiencies/overheads and the global parameters (``GLOBAL_KEYS``) on ``cases``.

    Every parameter lives in its physical range (``BOUNDS``, through a logistic map); each (family,
    format) group is the global fit plus a deviation penalised with weight ``ridge`` (default
    ``SHRINK``; hierarchical shrinkage, weaker for groups with more rows); the data term is a soft-L1
    loss on the log error (``LOSS_SCALE``).  ``rounds`` restarts the optimiser from its result.
    ``fixed`` holds global parameters at the given values (a variant of the model to compare).
    """
    base = base or PerfParams()
    fixed = dict(fixed or {})
    shrink = SHRINK if ridge is None else ridge
    pw = PRIOR_WEIGHT if prior_weight is None else prior_weight
    cases = [c for c in cases if c.kind in FITTED_KINDS]
    keys = _group_keys(cases, catalog, base)
    groups = list(dict.fromkeys(keys))
    counts = Counter(keys)
    meas = np.array([c.measured for c in cases])
    G = len(groups)
    free = [k for k in GLOBAL_KEYS if k not in fixed]
    # x = [global (3), deviations (3 per group), the free global parameters]
    x_glob0 = np.array([_to_theta(FIT_PRIOR[k], k) for k in GROUP_KEYS])
    x0 = np.concatenate([x_glob0, np.zeros(3 * G), [_to_theta(FIT_PRIOR[k], k) for k in free]])
    pen_w = np.concatenate([np.full(3, pw), np.full(3 * G, shrink), np.full(len(free), pw)]) + 1e-9
    pen_c = x0.copy()

    def make(x) -> PerfParams:
        gs = []
        for k, (fam, fmt) in enumerate(groups):
            th = x[:3] + x[3 + 3 * k: 6 + 3 * k]
            ce, be, ov = (float(_to_value(t, key)) for t, key in zip(th, GROUP_KEYS))
            gs.append(GroupParams(family=fam, format=fmt, compute_efficiency=ce, bandwidth_efficiency=be,
                                  step_overhead_ms=ov, fit_rows=counts[(fam, fmt)]))
        glob = GroupParams(family="*", format="*", fit_rows=0,
                           **{key: float(_to_value(t, key)) for t, key in zip(x[:3], GROUP_KEYS)},
                           note="global (hierarchical) fit: used for families without calibration data "
                                "(confidence: low)")
        tail = x[3 + 3 * G:]
        return base.with_groups(gs, default=glob, **fixed,
                                **{key: float(_to_value(t, key)) for t, key in zip(tail, free)})

    def residuals(x) -> np.ndarray:
        pred = predict(cases, catalog, make(x))
        pred = np.where(pred > 0, pred, 1e-9)
        return np.log(pred / meas)

    x = x0
    for _ in range(max(rounds, 1)):
        x = _lm_robust(residuals, x, pen_w, pen_c, LOSS_SCALE)
    return make(x)


def soft_l1(r: np.ndarray, scale: float = LOSS_SCALE) -> float:
    """The fit's robust loss of log errors ``r``: quadratic below ``scale``, linear beyond."""
    return float(np.sum(2 * scale ** 2 * (np.sqrt(1 + (r / scale) ** 2) - 1)))


def fit_link_efficiency(cases: Sequence[Case], catalog, params: PerfParams,
                        lo: float = 0.05, hi: float = 1.0) -> dict:
    """``link_efficiency`` of each interconnect kind on the tensor-parallel ``cases`` over it, every
    other parameter of ``params`` held: {kind: (efficiency, rows)}.

    Why apart from :func:`fit`: the main calibration data has tensor parallelism on NVLink only, so
    nothing in it constrains another vendor's TP group (QA: 8x MI300X TP8 with vLLM ran at 0.55-0.75x
    the throughput the NVLink efficiency predicted, on every one of ten public rows).  One scalar per
    kind, found by golden-section search on the same soft-L1 loss of log errors; it absorbs every
    loss of such a TP group (collectives, GEMMs split eight ways, the engine), not only the link's.
    """
    cases = [c for c in cases if c.kind in FITTED_KINDS and c.candidate.tensor_parallel > 1]
    by_kind: dict = {}
    for c in cases:
        by_kind.setdefault(catalog.accelerator(c.candidate.accelerator).interconnect.kind, []).append(c)
    fitted: dict = {}
    for kind, group in sorted(by_kind.items()):
        meas = np.array([c.measured for c in group])

        def loss(e: float) -> float:
            trial = params.with_groups(params.groups, link_efficiency_by_interconnect={
                **params.global_.link_efficiency_by_interconnect, **{k: v for k, (v, _) in fitted.items()},
                kind: e})
            pred = np.maximum(predict(group, catalog, trial), 1e-9)
            return soft_l1(np.log(pred / meas))

        fitted[kind] = (round(_golden_section(loss, lo, hi, 1e-4), 4), len(group))
    return fitted


def _golden_section(loss, a: float, b: float, tol: float) -> float:
    """The minimum of a unimodal ``loss`` on [a, b], to ``tol``."""
    g = (math.sqrt(5) - 1) / 2
    x1, x2 = b - g * (b - a), a + g * (b - a)
    f1, f2 = loss(x1), loss(x2)
    while b - a > tol:
        if f1 <= f2:
            b, x2, f2 = x2, x1, f1
            x1 = b - g * (b - a)
            f1 = loss(x1)
        else:
            a, x1, f1 = x1, x2, f2
            x2 = a + g * (b - a)
            f2 = loss(x2)
    return (a + b) / 2


def fit_tile_padding(cases: Sequence[Case], catalog, params: PerfParams) -> tuple[float, int]:
    """``moe_tile_padding_tokens`` on the MoE ``cases``, every other parameter of ``params`` held:
    (padding rows, cases used).

    Why apart from :func:`fit`: the main data's only MoE model, Mixtral (8 experts, MLPerf batches of
    hundreds of tokens per expert), hardly depends on it (its fitted value is the prior's), while
    gpt-oss decodes at a few dozen tokens per each of 128 experts, where a tile's padding is half the
    expert FLOPs.  Fitted jointly (a QA s22 prototype), gpt-oss's rows moved the shared efficiencies
    (held-out p90 16.2 -> 18.3%, Mixtral median 1.2 -> 3.2%); one scalar here leaves them as the main
    data set them.
    Golden-section search on the soft-L1 loss of the log errors within ``BOUNDS``."""
    cases = [c for c in cases if c.kind in FITTED_KINDS and catalog.model(c.candidate.model).moe is not None]
    meas = np.array([c.measured for c in cases])

    def loss(t0: float) -> float:
        pred = np.maximum(predict(cases, catalog, params.with_groups(params.groups, moe_tile_padding_tokens=t0)),
                          1e-9)
        return soft_l1(np.log(pred / meas))

    return round(_golden_section(loss, *BOUNDS["moe_tile_padding_tokens"], 0.01), 2), len(cases)


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
    """Default group for families without data: the global (hierarchical) fit."""
    return params.default


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
        for metric in ("throughput", "ttft", "itl"):
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
    scored: np.ndarray                 # scored cases: SCORED_KINDS with a prediction
    fitted_as: Optional[str] = None    # what was fitted on every row of this file (the interconnect data)
    how: Optional[list] = None         # per case: how it was modelled, in words

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


#: Kinds scored by ``perf validate``: the fitted ones and the fixed-batch / inter-token-latency rows
#: (not fitted: the reference file has none).  Static-batching rows are reported, not scored.
SCORED_KINDS = FITTED_KINDS + ("batch", "itl")


def validate_file(csv_path, catalog, params: PerfParams) -> Validation:
    """Predict every row of a calibration-format CSV with ``params``."""
    rows, digest = _read_csv(csv_path)
    cases, skipped = interpret(rows, catalog, params)
    notes: list = []
    pred = predict(cases, catalog, params, notes)
    prov = dict(params.provenance)
    fitted_here = prov.get("data_sha256") == digest
    mask = split_mask(cases) if fitted_here else None
    fitted_as = None
    # (provenance values are kept as text: the interconnect entry names its file's digest)
    if not fitted_here and digest in prov.get("moe_data", ""):
        mask = split_mask(cases)          # its fit rows set the MoE tile padding; the rest are held out
    elif not fitted_here and digest in prov.get("interconnect", ""):
        # (QA: this file's errors were reported as test rows, where they are the link fit's own rows)
        mask = np.ones(len(cases), dtype=bool)
        fitted_as = "the link efficiency per interconnect kind"
    scored = np.array([c.kind in SCORED_KINDS and bool(np.isfinite(p)) for c, p in zip(cases, pred)], dtype=bool)
    how = [f"{c.how}; {note}" if note else c.how for c, note in zip(cases, notes)]
    return Validation(cases=cases, skipped=skipped, pred=pred, fit_mask=mask, scored=scored, fitted_as=fitted_as,
                      how=how)


def file_sha256(path) -> str:
    """sha256 of the data lines (``#`` comment lines excluded), so a copy with a provenance header
    and the original file have the same digest."""
    return _data_digest(Path(path).read_bytes())


def _data_digest(raw: bytes) -> str:
    """:func:`file_sha256` of a file's bytes."""
    data = b"".join(ln for ln in raw.splitlines(keepends=True) if not ln.lstrip().startswith(b"#"))
    return hashlib.sha256(data).hexdigest()


def run_fit(csv_path: str, out_path: str, catalog=None, interconnect_csv: Optional[str] = None,
            moe_csv: Optional[str] = None) -> tuple[PerfParams, list, np.ndarray, np.ndarray]:
    """Fit on the file's fit part and write the parameters with provenance; with ``interconnect_csv``,
    then the link efficiency of each interconnect kind its tensor-parallel rows use
    (:func:`fit_link_efficiency`, on every row of that file); with ``moe_csv``, then the MoE tile padding
    on the fit parts of that file and of the main file's MoE rows (:func:`fit_tile_padding`; the same
    every-third split, so that file's held-out rows stay out)."""
    from solver.catalog import default_catalog
    from solver.yamlio import atomic_write_text  # type: ignore[attr-defined]
    import yaml

    catalog = catalog or default_catalog()
    rows, digest = _read_csv(csv_path)       # (one read each: a FIFO can be read only once)
    # read before the main fit (~30 s): a mistyped path is reported at once
    tp_rows, tp_digest = _read_csv(interconnect_csv, "tests/data/interconnect_tp.csv") if interconnect_csv \
        else (None, None)
    moe_rows, moe_digest = _read_csv(moe_csv, "catalogs/calibration/gpt_oss_trtllm.csv") if moe_csv \
        else (None, None)
    base = PerfParams()
    cases, skipped = interpret(rows, catalog, base)
    mask = split_mask(cases)
    fit_cases = [c for c, m in zip(cases, mask) if m]
    params = fit(fit_cases, catalog, base)
    params = params.with_groups(list(params.groups) + family_groups(params), default=fitted_default(params))
    link_note = None
    if interconnect_csv is not None:
        tp_cases, _ = interpret(tp_rows, catalog, params)
        before = predict([c for c in tp_cases if c.kind in FITTED_KINDS], catalog, params)
        links = fit_link_efficiency(tp_cases, catalog, params)
        if not links:
            raise InputError(InputIssue(
                message="no tensor-parallel row (tensor_parallel > 1) of a catalog accelerator to fit on",
                file=str(interconnect_csv), hint="give rows of TP groups, with their tensor_parallel column"))
        params = params.with_groups(params.groups, link_efficiency_by_interconnect={
            k: v for k, (v, _) in links.items()})
        fitted_cases = [c for c in tp_cases if c.kind in FITTED_KINDS]
        after = predict(fitted_cases, catalog, params)
        meas = np.array([c.measured for c in fitted_cases])
        link_note = {
            "data_file": str(interconnect_csv),
            "data_sha256": tp_digest,
            "method": ("link_efficiency per interconnect kind on that file's TP > 1 rows, every other parameter "
                       f"held; golden-section search on the soft-L1 loss (scale {LOSS_SCALE}) of the log errors"),
            "fitted": "; ".join(f"{k}: {v:g} on {n} rows" for k, (v, n) in links.items()),
            "error_on_those_rows": (f"median {np.median(np.abs(errors(before, meas))):.1f}% before (link_efficiency "
                                    f"{params.global_.link_efficiency:g}), {np.median(np.abs(errors(after, meas))):.1f}% "
                                    "after (in-sample)"),
        }
    moe_note = None
    if moe_csv is not None:
        m_cases, _ = interpret(moe_rows, catalog, params)
        m_mask = split_mask(m_cases)
        if not any(catalog.model(c.candidate.model).moe is not None for c in m_cases):
            raise InputError(InputIssue(message="no row of a mixture-of-experts catalog model to fit on",
                                        file=str(moe_csv), hint="give rows of MoE models (gpt-oss, Mixtral, ...)"))
        t0, n_used = fit_tile_padding([c for c, m in zip(cases, mask) if m]
                                      + [c for c, m in zip(m_cases, m_mask) if m], catalog, params)
        held = [c for c, m in zip(m_cases, m_mask) if not m and c.kind in FITTED_KINDS]
        meas = np.array([c.measured for c in held])
        before = predict(held, catalog, params)
        before_t0 = params.global_.moe_tile_padding_tokens
        params = params.with_groups(params.groups, moe_tile_padding_tokens=t0)
        after = predict(held, catalog, params)
        moe_note = {
            "data_file": str(moe_csv),
            "data_sha256": moe_digest,
            "method": ("moe_tile_padding_tokens on the fit rows of that file and the main file's MoE fit rows, "
                       "every other parameter held; golden-section search on the soft-L1 loss (scale "
                       f"{LOSS_SCALE}) of the log errors; the same split as the main file (every 3rd case of "
                       "each (source_id, hardware) group held out)"),
            "fitted": f"moe_tile_padding_tokens: {t0:g} on {n_used} rows",
            "held_out_rows": ",".join(str(c.row) for c in held),
            "held_out_error": (f"median {np.median(errors(before, meas)):.1f}% before (the main fit's "
                               f"{before_t0:g}), {np.median(errors(after, meas)):.1f}% after (n={len(held)})"
                               if held else "no held-out row"),
        }
    pred = predict(cases, catalog, params)
    sel = np.array([c.kind in FITTED_KINDS for c in cases], dtype=bool)
    summ = [s for s in summary_rows([c for c, k in zip(cases, sel) if k], pred[sel], mask[sel])
            if s["by"] == "all"]
    prov = {
        "data_file": str(csv_path),
        "data_sha256": digest,
        "data_sha256_note": "sha256 of the data lines (comment lines excluded)",
        "original": "../shared/data/measured/calibration.csv (TensorRT-LLM perf tables, MLPerf Inference v4.1)",
        "date": _dt.date.today().isoformat(),
        "method": (f"soft-L1 loss (scale {LOSS_SCALE}) on the log error of the fitted rows; parameters bounded "
                   f"({', '.join(f'{k} {lo:g}-{hi:g}' for k, (lo, hi) in BOUNDS.items())}) through a logistic map; "
                   f"each (family, format) group = global fit + deviation with penalty {SHRINK} (hierarchical "
                   f"shrinkage: groups with few rows stay near the global fit), global pulled toward "
                   f"{FIT_PRIOR} with weight {PRIOR_WEIGHT}; Levenberg-Marquardt on reweighted least squares "
                   "(hand-written, 3 restarts)"),
        "split": "every 3rd case of each (source_id, hardware) group held out, in file order",
        "rows_in_file": len(rows),
        "cases": len(cases),
        "cases_fit": int(mask.sum()),
        "cases_held_out": int((~mask).sum()),
        "fit_rows": ",".join(str(c.row) for c, m in zip(cases, mask) if m),
        "held_out_rows": ",".join(str(c.row) for c, m in zip(cases, mask) if not m),
        "skipped_rows": f"{len(skipped)} (GH200: no catalog entry; duplicate 99/99.9 MLPerf results; excluded rows below)",
        "excluded_rows": "; ".join(f"{k.row}: {k.why}" for k in skipped if k.why == EXCLUDED_WHY) or "none",
        "assumptions": (f"MLPerf mean input tokens {MLPERF_INPUT_TOKENS:g} (not in the file; low confidence); "
                        f"MLPerf input CV {MLPERF_INPUT_CV}; MLPerf TP: H100-80GB TP2, H200 TP1, MI300X TP1 "
                        "(data README), others smallest TP that fits"),
        "scored_kinds": ", ".join(FITTED_KINDS) + " (static-batching rows of TensorRT-LLM 0.5/0.6 are reported, not scored)",
        "held_out_error": "; ".join(f"{s['metric']}: median {s['median_abs_err_pct']:.1f}% "
                                    f"p90 {s['p90_abs_err_pct']:.1f}% (n={s['n']})"
                                    for s in summ if s["part"] == "held-out"),
        "command": (f"python -m solver.perf.calibration fit {csv_path} --out {out_path}"
                    + (f" --interconnect-data {interconnect_csv}" if interconnect_csv else "")
                    + (f" --moe-data {moe_csv}" if moe_csv else "")),
    }
    if link_note:
        prov["interconnect"] = link_note
    if moe_note:
        prov["moe_data"] = moe_note
    text = ("# Fitted parameters of the performance model (solver/perf). Generated; do not edit by hand.\n"
            + yaml.safe_dump(params.to_yaml_dict(prov), sort_keys=False, width=100))
    atomic_write_text(out_path, text)
    return params, cases, pred, mask


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m solver.perf.calibration")
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fit", help="fit parameters on a calibration CSV and write them")
    f.add_argument("csv")
    # no default: the shipped file sets every figure the docs quote, so replacing it is a choice made
    # by name (QA: the documented command silently moved Hopper FP8 compute 0.577 -> 0.585)
    f.add_argument("--out", required=True,
                   help="where to write, e.g. my-calibration/perf_params.yaml (use it with "
                        "FLEETOPT_CALIBRATION_DIR=my-calibration, or perf validate --params); "
                        "catalogs/calibration/perf_params.yaml replaces the shipped fit")
    f.add_argument("--interconnect-data", default=None, metavar="CSV",
                   help="tensor-parallel rows on interconnects the main file does not cover (same columns): "
                        "fits link_efficiency per interconnect kind, e.g. tests/data/interconnect_tp.csv")
    f.add_argument("--moe-data", default=None, metavar="CSV",
                   help="rows of mixture-of-experts models (same columns): fits moe_tile_padding_tokens on "
                        "their fit rows and the main file's MoE rows, e.g. catalogs/calibration/gpt_oss_trtllm.csv")
    args = ap.parse_args(argv)
    try:
        params, cases, pred, mask = run_fit(args.csv, args.out, interconnect_csv=args.interconnect_data,
                                            moe_csv=args.moe_data)
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
