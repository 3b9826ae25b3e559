"""Import a Mélange solver config (Griggs et al., 2024, arXiv:2404.14527).

Format (data only, see its README): ``gpu_info`` maps a GPU type to ``cost``
($/h per unit) and ``tputs`` (R x C: highest requests/s one unit sustains on
input bucket i x output bucket j within the SLO; 0 = cannot meet the SLO),
optionally ``max_count``; ``workload_distribution`` (R x C fractions summing to
1); ``total_request_rate`` (req/s); ``slice_factor`` (Mélange's own
discretisation: a solver setting, ignored here because fleetopt lets a bucket's
traffic split continuously across GPU types, which is never worse).

Each bucket with traffic becomes a workload; each (GPU, bucket) profile becomes
a measurement; each GPU type an hourly offer.  Bucket token bounds are not in
the file: by default the example bounds of Mélange's README are used (1-25,
25-100, 100-250 tokens) and the bucket midpoint is the workload's length; they
only matter for reports, since the capacities are the measured ones.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Sequence

from solver.catalog import Catalog
from solver.errors import InputError, InputIssue, IssueCollector
from solver.importers.common import (ImportResult, add_bucket_workload, add_gpu_profile, check_matrix, finish,
                                     map_gpu, problem_skeleton, read_json)
from solver.problem.schema import MAX_TOKENS

#: Bucket edges from Mélange's README example (tokens).
README_EDGES = [1, 25, 100, 250]


def _midpoints(edges: Optional[Sequence[float]], n: int, what: str, file: str,
               col: IssueCollector) -> list[float]:
    """The midpoints of ``n`` buckets: of the ``n + 1`` edges given with --{what}-edges, else of the
    README's edges; an issue (against the flag or the file) where they do not fit."""
    flag = f"--{what}-edges"
    fix = f"give {flag} with {n + 1} increasing comma-separated token counts"
    if edges is None:
        if len(README_EDGES) < n + 1:
            col.add(f"{n} {what} buckets, more than the {len(README_EDGES) - 1} whose edges are known "
                    f"(Mélange's README example)", file=file, hint=fix)
            return []
        edges = README_EDGES[:n + 1]
    given = ",".join(f"{e:g}" for e in edges)
    if len(edges) != n + 1:
        col.extend([InputIssue(message=f"{flag} {given}: {len(edges)} edges, but the {n} {what} buckets of "
                                       f"{Path(file).name} need {n + 1}", path=flag, hint=fix)])
        return []
    mids = [(edges[i] + edges[i + 1]) / 2 for i in range(n)]
    if not all(1 <= m <= MAX_TOKENS for m in mids):
        col.extend([InputIssue(message=f"{flag} {given}: bucket midpoints {', '.join(f'{m:g}' for m in mids)} "
                                       f"tokens; each must be 1 to {MAX_TOKENS:,.0f}", path=flag, hint=fix)])
    return mids


def import_melange(path: str | Path, *, catalog: Catalog, model: str = "llama-2-7b",
                   region: str = "virginia", mapping: Optional[dict[str, str]] = None,
                   input_edges: Optional[Sequence[float]] = None,
                   output_edges: Optional[Sequence[float]] = None,
                   ttft_ms: float = 60000.0, tpot_ms: float = 1000.0) -> ImportResult:
    file = str(path)
    data = read_json(path, dir_hint="name the Mélange config (JSON) inside it")
    col = IssueCollector(file=file)
    if not isinstance(data, dict):
        raise InputError(InputIssue(message="a Mélange config is a JSON object", file=file,
                                    hint="expected keys gpu_info, workload_distribution, total_request_rate"))
    for key in ("gpu_info", "workload_distribution", "total_request_rate"):
        if key not in data:
            col.add(f"missing key {key!r}", path=key, hint="is this a Mélange solver config?")
    col.raise_if_any()
    model_ok = model in catalog.models
    if not model_ok:
        catalog.get("models", model)  # raises with did-you-mean
    if region not in catalog.regions:
        catalog.get("regions", region)
    rate = data["total_request_rate"]
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate <= 0:
        col.add(f"total_request_rate must be a positive number (got {rate!r})", path="total_request_rate")
    dist = check_matrix(data["workload_distribution"], None, None, "workload_distribution", file,
                        "workload_distribution", col)
    gpus = data["gpu_info"]
    if not isinstance(gpus, dict) or not gpus:
        col.add("gpu_info must map GPU names to {cost, tputs}", path="gpu_info")
        gpus = {}
    col.raise_if_any()
    assert dist is not None
    total = sum(map(sum, dist))
    if abs(total - 1.0) > 1e-6:
        col.add(f"workload_distribution sums to {total:.6g}, not 1", path="workload_distribution",
                hint="fractions of the requests per bucket must add up to 1")
    rows, cols = len(dist), len(dist[0])
    mapping = mapping or {}
    profiles = {}
    for name, info in gpus.items():
        p = f"gpu_info.{name}"
        acc = map_gpu(name, catalog, mapping, col, file, p)
        if not isinstance(info, dict):
            col.add("must be an object with cost and tputs", path=p)
            continue
        cost = info.get("cost")
        if isinstance(cost, bool) or not isinstance(cost, (int, float)) or not math.isfinite(cost) or cost <= 0:
            col.add(f"cost must be a positive $/hour (got {cost!r})", path=p + ".cost")
        tputs = check_matrix(info.get("tputs"), rows, cols, "tputs", file, p + ".tputs", col)
        max_count = info.get("max_count")
        if max_count is not None and (isinstance(max_count, bool) or not isinstance(max_count, int) or max_count < 0):
            col.add(f"max_count must be a whole number >= 0 (got {max_count!r})", path=p + ".max_count")
        if acc is not None and acc in [v[0] for v in profiles.values()]:
            col.add(f"two GPU types map to accelerator {acc!r}", path=p,
                    hint="map them to distinct ids with --map")
        profiles[name] = (acc, cost, tputs, max_count)
    in_mid = _midpoints(input_edges, rows, "input", file, col)
    out_mid = _midpoints(output_edges, cols, "output", file, col)
    col.raise_if_any()

    stem = Path(file).stem
    doc = problem_skeleton(
        name=f"melange-{stem}",
        description=(f"Imported from the Mélange config {Path(file).name}: {len(profiles)} GPU types, "
                     f"{rows}x{cols} request-size buckets, {rate} req/s. Capacities are Mélange's "
                     f"profiled rates (measurements), prices its hourly costs; a Mélange unit is one "
                     f"device here. The SLO values below are placeholders: the profiles already "
                     f"embody Mélange's SLO."),
        model=model, region=region, accelerators=sorted(v[0] for v in profiles.values()),
        ttft_ms=ttft_ms, tpot_ms=tpot_ms)
    notes = ["bucket token lengths are midpoints of "
             + ("the given edges" if input_edges or output_edges else "Mélange's README example bounds")]
    guessed = [f"{name} -> {acc}" for name, (acc, *_rest) in sorted(profiles.items())
               if name.strip().lower() not in mapping and name.strip().lower() != acc]
    if guessed:
        notes.append("GPU names read as catalog accelerators: " + ", ".join(guessed)
                     + " (another variant: --map 'NAME=ID')")
    wids = {}
    for i in range(rows):
        for j in range(cols):
            if dist[i][j] > 0:
                wid = f"bucket-in{i}-out{j}"
                wids[(i, j)] = wid
                add_bucket_workload(doc, wid, rate * dist[i][j], in_mid[i], out_mid[j])
    base = Path(file).name
    for name, (acc, cost, tputs, max_count) in sorted(profiles.items(), key=lambda kv: kv[1][0]):
        add_gpu_profile(doc, accelerator=acc, region=region, usd_per_hour=cost, provider="melange",
                        cost_source=f"Mélange config {base}: gpu_info.{name}.cost", cells=wids,
                        tputs=tputs, cell_source=f"Mélange config {base}: gpu_info.{name}.tputs[{{r}}][{{c}}]")
        if max_count is not None:
            doc["fleet"]["availability"].append({"accelerator": acc, "region": region,
                                                 "max_devices": int(max_count)})
    return finish(doc, notes)
