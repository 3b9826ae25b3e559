"""Measured overrides: a user's own capacity figures replace the analytic ones.

A measurement (``problem.measurements``, :class:`solver.problem.schema.Measurement`)
applies to a (candidate, workload) pair when accelerator, model, quantization
and tensor parallelism match and either the workload id matches or, for a
measurement without a workload id, its input and output token counts are each
within 10% of the workload's means.  A workload-id match wins over a
token-length match; among equals the later measurement wins.  ``max_requests_per_s``
replaces ``max_rps``; TTFT, TPOT and power replace the model's figures when
given.  A measured 0 means "cannot serve" (reason ``R_MEASURED_ZERO``).

A measurement taken under latency targets (``ttft_slo_ms`` / ``tpot_slo_ms``)
applies, by workload id or by token lengths, only to workloads whose targets
are at least as loose: a rate sustained under tighter targets is safe to use
for looser ones, never the other way round.  Without power, a pair the model
cannot serve draws the replica's nameplate power (the model's figure is idle).

``load_measurements_csv`` reads such a table (one measurement per row; max
requests/s or max output tokens/s) and reports bad rows with file and line.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from solver.errors import InputError, InputIssue
from solver.yamlio import read_text_file
from solver.perf.arch import R_MEASURED_ZERO
from solver.perf.model import BOUND_NONE, Capacity, PerfCandidate, PerfWorkload

#: Tolerance on token lengths when a measurement names no workload.
TOKEN_MATCH_TOLERANCE = 0.10

#: Bound code for pairs whose capacity comes from a measurement.
BOUND_MEASURED = 6


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= TOKEN_MATCH_TOLERANCE * b


def _slo_compatible(m, w: PerfWorkload) -> bool:
    """A measurement under targets applies only to workloads with targets at least as loose."""
    ttft = getattr(m, "ttft_slo_ms", None)
    tpot = getattr(m, "tpot_slo_ms", None)
    return (ttft is None or ttft <= w.ttft_ms * (1 + 1e-9)) and (tpot is None or tpot <= w.tpot_ms * (1 + 1e-9))


@dataclass(frozen=True)
class TableMeasurement:
    """One row of a measurement table (same fields as ``problem.measurements`` plus its SLO)."""

    accelerator: str
    model: str
    quantization: str
    tensor_parallel: int
    workload: Optional[str]
    input_tokens: Optional[float]
    output_tokens: Optional[float]
    max_requests_per_s: float
    ttft_ms: Optional[float] = None
    tpot_ms: Optional[float] = None
    power_w: Optional[float] = None
    ttft_slo_ms: Optional[float] = None
    tpot_slo_ms: Optional[float] = None
    source: str = "user measurement"


TABLE_COLUMNS = ("accelerator", "model", "quantization", "tensor_parallel", "workload", "input_tokens",
                 "output_tokens", "ttft_slo_ms", "tpot_slo_ms", "max_requests_per_s", "max_output_tokens_per_s",
                 "ttft_ms", "tpot_ms", "power_w", "source")


def load_measurements_csv(path, catalog=None) -> list[TableMeasurement]:
    """Read a measurement table; every problem is reported at once with file and line.

    Columns (header row; ``#`` lines are comments): accelerator, model, quantization (default bf16),
    tensor_parallel (default 1), workload or input_tokens + output_tokens, optional ttft_slo_ms /
    tpot_slo_ms (targets the measurement was taken under), max_requests_per_s or
    max_output_tokens_per_s (converted with output_tokens), optional ttft_ms, tpot_ms, power_w, source.
    """
    p = Path(path)
    # (QA s18: a directory or a binary file here was an 'internal error')
    raw = read_text_file(p, kind="CSV", suffix=".csv").splitlines()
    numbered = [(i + 1, ln) for i, ln in enumerate(raw) if ln.strip() and not ln.lstrip().startswith("#")]
    if not numbered:
        raise InputError(InputIssue(message="empty measurement table", file=str(p), line=1,
                                    hint="first line: " + ",".join(TABLE_COLUMNS)))
    reader = csv.reader([ln for _, ln in numbered])
    header = [h.strip() for h in next(reader)]
    issues: list[InputIssue] = []
    unknown = [h for h in header if h not in TABLE_COLUMNS]
    for h in unknown:
        from solver.errors import did_you_mean
        close = did_you_mean(h, TABLE_COLUMNS)
        issues.append(InputIssue(message=f"unknown column {h!r}", file=str(p), line=numbered[0][0],
                                 hint=(f"did you mean {close[0]!r}?" if close else
                                       "allowed: " + ", ".join(TABLE_COLUMNS))))
    for need in ("accelerator", "model"):
        if need not in header:
            issues.append(InputIssue(message=f"missing column {need!r}", file=str(p), line=numbered[0][0],
                                     hint="columns: " + ", ".join(TABLE_COLUMNS)))
    if issues:
        raise InputError(issues)
    out: list[TableMeasurement] = []
    for (line, _), values in zip(numbered[1:], reader):
        row = {h: (v.strip() if v is not None else "") for h, v in zip(header, values)}

        def num(name, positive=True, allow_zero=False):
            txt = row.get(name, "")
            if txt == "":
                return None
            try:
                v = float(txt)
            except ValueError:
                issues.append(InputIssue(message=f"{name} must be a number (got {txt!r})", file=str(p),
                                         line=line, path=name))
                return None
            if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
                issues.append(InputIssue(message=f"{name} must be {'>= 0' if allow_zero else '> 0'} (got {txt})",
                                         file=str(p), line=line, path=name))
                return None
            return v

        n_before = len(issues)
        acc, mdl = row.get("accelerator", ""), row.get("model", "")
        quant = row.get("quantization", "") or "bf16"
        tp = num("tensor_parallel") or 1.0
        if tp != int(tp) or int(tp) & (int(tp) - 1):
            issues.append(InputIssue(message=f"tensor_parallel must be a power of two (got {tp:g})",
                                     file=str(p), line=line, path="tensor_parallel"))
        if catalog is not None:
            from solver.errors import unknown_id_hint
            for kind, eid, col in (("accelerators", acc, "accelerator"), ("models", mdl, "model"),
                                   ("quantization", quant, "quantization")):
                if eid not in catalog.entries(kind):
                    issues.append(InputIssue(message=f"unknown {col} {eid!r}", file=str(p), line=line, path=col,
                                             hint=unknown_id_hint(eid, catalog.entries(kind), kind)))
        wid = row.get("workload", "") or None
        it, ot = num("input_tokens"), num("output_tokens")
        if wid is None and (it is None or ot is None):
            issues.append(InputIssue(message="give `workload`, or both `input_tokens` and `output_tokens`",
                                     file=str(p), line=line))
        rps, tps = num("max_requests_per_s", allow_zero=True), num("max_output_tokens_per_s", allow_zero=True)
        if rps is None and tps is not None:
            if ot is None:
                issues.append(InputIssue(message="max_output_tokens_per_s needs output_tokens to convert to "
                                                 "requests per second", file=str(p), line=line,
                                         path="output_tokens"))
            else:
                rps = tps / ot
        if rps is None and len(issues) == n_before:
            issues.append(InputIssue(message="give max_requests_per_s or max_output_tokens_per_s", file=str(p),
                                     line=line, path="max_requests_per_s"))
        if len(issues) > n_before:
            continue
        out.append(TableMeasurement(
            accelerator=acc, model=mdl, quantization=quant, tensor_parallel=int(tp), workload=wid,
            input_tokens=it, output_tokens=ot, max_requests_per_s=rps, ttft_ms=num("ttft_ms"),
            tpot_ms=num("tpot_ms"), power_w=num("power_w"), ttft_slo_ms=num("ttft_slo_ms"),
            tpot_slo_ms=num("tpot_slo_ms"), source=row.get("source", "") or f"{p.name}:{line}"))
    if issues:
        raise InputError(issues)
    return out


def apply_measurements(capacity: Capacity, candidates: Sequence[PerfCandidate],
                       workloads: Sequence[PerfWorkload], measurements) -> Capacity:
    """A new :class:`Capacity` with measured figures in place of analytic ones."""
    if not measurements:
        return capacity
    arrays = {k: getattr(capacity, k).copy() for k in
              ("max_rps", "ttft_ms", "tpot_ms", "batch", "power_w", "reason", "bound")}
    cand_index: dict[tuple, list[int]] = {}
    for i, c in enumerate(candidates):
        cand_index.setdefault((c.accelerator, c.model, c.quantization, c.tensor_parallel), []).append(i)
    # priority: 1 = token match, 2 = workload id match; later measurements win ties
    prio = np.zeros(arrays["max_rps"].shape, dtype=np.int8)
    for m in measurements:
        rows = cand_index.get((m.accelerator, m.model, m.quantization, m.tensor_parallel), [])
        if not rows:
            continue
        for j, w in enumerate(workloads):
            if m.workload is not None:
                if m.workload != w.id:
                    continue
                p = 2
            else:
                if not (_close(m.input_tokens, w.input_tokens) and _close(m.output_tokens, w.output_tokens)):
                    continue
                p = 1
            if not _slo_compatible(m, w):
                # a rate measured under a looser target says nothing of a tighter one (QA: a workload's
                # measurement kept its rate at a 1 ms TTFT on a Pareto front)
                continue
            for i in rows:
                if p < prio[i, j]:
                    continue
                prio[i, j] = p
                rps = float(m.max_requests_per_s)
                arrays["max_rps"][i, j] = rps
                if rps <= 0:
                    arrays["reason"][i, j] = R_MEASURED_ZERO
                    arrays["bound"][i, j] = BOUND_NONE
                    arrays["ttft_ms"][i, j] = np.nan
                    arrays["tpot_ms"][i, j] = np.nan
                    arrays["batch"][i, j] = 0.0
                    arrays["power_w"][i, j] = capacity.idle_power_w[i]
                    continue
                servable = arrays["reason"][i, j] == 0     # by the analytic model, before this row
                arrays["reason"][i, j] = 0
                arrays["bound"][i, j] = BOUND_MEASURED
                # latencies the measurement does not give are unknown (NaN: null in a plan), not the
                # analytic model's, which belong to another operating point
                arrays["ttft_ms"][i, j] = np.nan if m.ttft_ms is None else m.ttft_ms
                arrays["tpot_ms"][i, j] = np.nan if m.tpot_ms is None else m.tpot_ms
                if m.power_w is not None:
                    arrays["power_w"][i, j] = m.power_w
                elif not servable and capacity.peak_power_w is not None:
                    # the model's figure there is idle power (it cannot serve the pair): a replica
                    # running at its measured maximum draws about its nameplate (QA: energy and CO2
                    # of measured-only pairs were the idle draw)
                    arrays["power_w"][i, j] = capacity.peak_power_w[i]
                tpot = arrays["tpot_ms"][i, j]
                if np.isfinite(tpot) and tpot > 0:
                    # Little's law: requests in decode = rate x output tokens x TPOT
                    arrays["batch"][i, j] = rps * w.output_tokens * tpot * 1e-3
    return replace(capacity, **arrays)
