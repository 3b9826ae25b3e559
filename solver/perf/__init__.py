"""Performance model: what one replica of (accelerator, model, quantization, TP) can serve.

``evaluate(catalog, candidates, workloads)`` returns a :class:`Capacity` of
(candidate x workload) arrays: the largest request rate within the workload's
TTFT and TPOT targets, the latencies and batch there, the replica's power, and
why a pair is infeasible.  ``engine_spec`` gives the step-time functions the
simulator needs; ``apply_measurements`` overlays a user's own measurements.
See ``solver/perf/README.md`` for the model, the calibration and its errors.
"""

from solver.perf.arch import REASONS
from solver.perf.measurements import BOUND_MEASURED, TableMeasurement, apply_measurements, load_measurements_csv
from solver.perf.model import (BOUNDS, Capacity, EngineSpec, PerfCandidate, PerfWorkload, engine_spec,
                               evaluate)
from solver.perf.params import PerfParams, default_params, load_params

BOUNDS.setdefault(BOUND_MEASURED, "measured")

__all__ = ["PerfCandidate", "PerfWorkload", "Capacity", "EngineSpec", "REASONS", "BOUNDS", "evaluate",
           "engine_spec", "apply_measurements", "load_measurements_csv", "TableMeasurement", "PerfParams",
           "default_params", "load_params"]
