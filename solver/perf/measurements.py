"""Measured overrides: a user's own capacity figures replace the analytic ones.

A measurement (``problem.measurements``, :class:`solver.problem.schema.Measurement`)
applies to a (candidate, workload) pair when accelerator, model, quantization
and tensor parallelism match and either the workload id matches or, for a
measurement without a workload id, its input and output token counts are each
within 10% of the workload's means.  A workload-id match wins over a
token-length match; among equals the later measurement wins.  ``max_requests_per_s``
replaces ``max_rps``; TTFT, TPOT and power replace the model's figures when
given.  A measured 0 means "cannot serve" (reason ``R_MEASURED_ZERO``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np

from solver.perf.arch import R_MEASURED_ZERO
from solver.perf.model import BOUND_NONE, Capacity, PerfCandidate, PerfWorkload

#: Tolerance on token lengths when a measurement names no workload.
TOKEN_MATCH_TOLERANCE = 0.10

#: Bound code for pairs whose capacity comes from a measurement.
BOUND_MEASURED = 6


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= TOKEN_MATCH_TOLERANCE * b


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
                arrays["reason"][i, j] = 0
                arrays["bound"][i, j] = BOUND_MEASURED
                if m.ttft_ms is not None:
                    arrays["ttft_ms"][i, j] = m.ttft_ms
                if m.tpot_ms is not None:
                    arrays["tpot_ms"][i, j] = m.tpot_ms
                if m.power_w is not None:
                    arrays["power_w"][i, j] = m.power_w
                tpot = arrays["tpot_ms"][i, j]
                if np.isfinite(tpot) and tpot > 0:
                    # Little's law: requests in decode = rate x output tokens x TPOT
                    arrays["batch"][i, j] = rps * w.output_tokens * tpot * 1e-3
    return replace(capacity, **arrays)
