"""Import a Mélange solver config (Griggs et al., 2024, arXiv:2404.14527).

Format (data only, see its README): ``gpu_info`` maps a GPU type to ``cost``
($/h per unit) and ``tputs`` (R x C: highest requests/s one unit sustains on
input bucket i x output bucket j within the SLO; 0 = cannot meet the SLO),
optionally ``max_count`` (the README's other form, a list of ``{name, cost,
tputs}`` objects, is read too); ``workload_distribution`` (R x C fractions
summing to 1); ``total_request_rate`` (req/s; ``overall_rate``, the name of
MelangeSolver's Python argument, is read as the same key); ``slice_factor``
(Mélange's own discretisation: a solver setting, not read here because fleetopt
lets a bucket's traffic split continuously across GPU types, which is never
worse; a value Mélange would refuse is warned of).

Keys: those above are the format's.  Any other key is not read: one that is a
near-miss of a read key ('max_cnt', 'count' for ``max_count``) is an error (its
value would be dropped), the rest are listed in one warning, also written into
the generated problem's header.

Each bucket with traffic becomes a workload; each (GPU, bucket) profile becomes
a measurement; each GPU type an hourly offer.  Bucket token bounds are not in
the file: by default the example bounds of Mélange's README are used (1-25,
25-100, 100-250 tokens) and the bucket midpoint is the workload's length; they
only matter for reports, since the capacities are the measured ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional, Sequence

from solver.catalog import Catalog
from solver.errors import InputError, InputIssue, IssueCollector
from solver.importers.common import (ImportResult, MAX_RPS, Traffic, add_bucket_workload, add_gpu_profile,
                                     capped_twice, check_flag_ids, check_keys, check_matrix, check_positive,
                                     close_unprofiled_degrees, finish, map_gpu, problem_skeleton, read_json,
                                     same_gpu_issue, shown, unit_issue, unit_note, unmatched_map_warning,
                                     unread_warning)
from solver.coefficients import MIN_CAPACITY_RPS
from solver.problem.schema import MAX_TOKENS, MAX_USD

#: Bucket edges from Mélange's README example (tokens).
README_EDGES = [1, 25, 100, 250]
#: Mélange's example config (its README's answer: $6.70/h), as name -> (cost, tputs), distribution, rate:
#: the note comparing with that answer is for this file only (QA s22: it was printed for every file)
README_GPUS = {"A10G": (1.01, [[2, 1], [5, 2]]), "A100-80GB": (3.67, [[20, 20], [40, 20]])}
README_DIST = [[0.2, 0.1], [0.5, 0.2]]
README_RATE = 30
#: what a row and a column of Mélange's matrices stand for
ROWS_ARE, COLS_ARE = "input-length bucket", "output-length bucket"
#: the total rate's key: the name of example.json and Mélange's README, then of its Python API
RATE_KEYS = ("total_request_rate", "overall_rate")
#: the keys read: at the top, and of one GPU type (the list form adds "name")
TOP_KEYS = ("gpu_info", "workload_distribution", *RATE_KEYS)
GPU_KEYS = ("cost", "tputs", "max_count")
#: max_count, at most: the problem schema sets no bound, but a cap of more devices than any fleet
#: has is no cap, and one beyond a float (10^400) broke the solve
MAX_COUNT = 10 ** 9


def _rate_key(data: dict, col: IssueCollector) -> str:
    """The key that holds the total rate (``overall_rate`` is an alias), or an issue."""
    given = [k for k in RATE_KEYS if k in data]
    if not given:
        col.add("missing key 'total_request_rate'", path="total_request_rate",
                hint="add total_request_rate: the requests/s across all buckets (overall_rate, the name "
                     "Mélange's Python API uses, is read too)")
        return RATE_KEYS[0]
    if len(given) == 2 and data[given[0]] != data[given[1]]:
        col.add(f"total_request_rate {data[given[0]]!r} and overall_rate {data[given[1]]!r} differ "
                "(two names of the total rate)", path="overall_rate", hint="keep one of them")
    return given[0]


def _gpu_entries(gpus: Any, col: IssueCollector) -> list[tuple[str, Any, str]]:
    """(name, entry, field path) per GPU type of ``gpu_info``: an object mapping names to
    {cost, tputs}, or (the form Mélange's README also describes) a list of {name, cost, tputs}."""
    form = ('write gpu_info as {"A10G": {"cost": 1.01, "tputs": [[...]]}, ...} or as a list '
            '[{"name": "A10G", "cost": 1.01, "tputs": [[...]]}, ...]')
    if isinstance(gpus, dict) and gpus:
        return [(name, info, f"gpu_info.{name}") for name, info in gpus.items()]
    if not isinstance(gpus, list) or not gpus:
        col.add(f"gpu_info must name at least one GPU type (got {json.dumps(gpus)})", path="gpu_info", hint=form)
        return []
    out, seen = [], {}
    for k, item in enumerate(gpus):
        p = f"gpu_info[{k}]"
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name.strip():
            col.add(f"a GPU type in the list form is an object with name, cost and tputs (got {json.dumps(item)})",
                    path=p + ".name" if isinstance(item, dict) else p,
                    hint='for example {"name": "A10G", "cost": 1.01, "tputs": [[2, 1], [5, 2]]}')
            continue
        if name in seen:
            col.add(f"GPU type {name!r} listed twice (also {seen[name]})", path=p + ".name",
                    hint="keep one entry per GPU type: delete or rename the other")
            continue
        seen[name] = p
        out.append((name, item, p))
    return out


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
    unread = check_keys(data, TOP_KEYS, col, file, known=("slice_factor",))
    warnings = []
    sf = data.get("slice_factor", 1)
    if isinstance(sf, bool) or not isinstance(sf, int) or sf < 1:
        warnings.append(f"{Path(file).name}: slice_factor {shown(sf)} is not a whole number >= 1, which Mélange "
                        "would refuse; fleetopt does not use slice_factor, so the plan is unaffected")
    rate_key = _rate_key(data, col)
    for key, hint in (("gpu_info", "add gpu_info: GPU name -> {cost, tputs} (is this a Mélange solver config?)"),
                      ("workload_distribution", "add workload_distribution: the fraction of the requests per "
                                                "bucket, rows = input lengths, columns = output lengths")):
        if key not in data:
            col.add(f"missing key {key!r}", path=key, hint=hint)
    col.raise_if_any()
    check_flag_ids(catalog, model, region)
    rate = data[rate_key]
    check_positive(rate, "a positive number of requests/s", "30", col, file, rate_key, most=MAX_RPS)
    dist = check_matrix(data["workload_distribution"], None, None, "workload_distribution", file,
                        "workload_distribution", col, rows_are=ROWS_ARE, cols_are=COLS_ARE,
                        values="the fraction of the requests in that bucket (0 for none)")
    gpus = _gpu_entries(data["gpu_info"], col)
    col.raise_if_any()
    assert dist is not None
    total = sum(map(sum, dist))
    if abs(total - 100) <= 1e-6 * 100:
        # QA s22: percentages; the per-bucket-rate reading (30 -> 3000 req/s) came first
        keep = (f": these look like percentages, so divide each by 100 and keep {rate_key} {rate:g}; or, "
                f"to keep the per-bucket rates Mélange computes from them ({rate_key} x entry), divide each by "
                f"100 and set {rate_key} to {rate * total:.6g}")
    elif abs(total - 1.0) > 1e-6:
        keep = (f": to keep its per-bucket rates (Mélange uses the fractions as given), divide each by "
                f"{total:.6g} and set {rate_key} to {rate * total:.6g}") if total > 0 else ""
    if abs(total - 1.0) > 1e-6:
        col.add(f"workload_distribution sums to {total:.6g}, not 1", path="workload_distribution",
                hint=f"fractions of the requests per bucket must add up to 1{keep}")
    rows, cols = len(dist), len(dist[0])
    mapping = mapping or {}
    profiles = {}
    for name, info, p in gpus:
        unit = map_gpu(name, catalog, mapping, col, file, p)
        if unit is not None:
            unit_issue(name, unit, model, catalog, col, file, p)
        if not isinstance(info, dict):
            col.add(f"must be an object with cost and tputs (got {json.dumps(info)})", path=p,
                    hint='for example {"cost": 1.01, "tputs": [[2, 1], [5, 2]]}')
            continue
        unread += check_keys(info, GPU_KEYS + (("name",) if p.startswith("gpu_info[") else ()), col, file, p)
        cost = info.get("cost")
        check_positive(cost, "a positive $/hour", "1.01", col, file, p + ".cost", most=MAX_USD)
        tputs = check_matrix(info.get("tputs"), rows, cols, "tputs", file, p + ".tputs", col,
                             rows_are=ROWS_ARE, cols_are=COLS_ARE, shape_of="(the shape of workload_distribution)",
                             values="the requests/s one unit sustains in that bucket within the SLO "
                                    "(0: it cannot serve it)",
                             least_positive=MIN_CAPACITY_RPS)
        max_count = info.get("max_count")
        fix_count = ("give the most units of this GPU type that can be had, a whole number such as 1 or 2, or "
                     "leave max_count out for no cap")
        if max_count is not None and (isinstance(max_count, bool) or not isinstance(max_count, int) or max_count < 0):
            whole = isinstance(max_count, float) and max_count.is_integer() and 0 <= max_count <= MAX_COUNT
            col.add(f"max_count must be a whole number >= 0 (got {shown(max_count)})", path=p + ".max_count",
                    hint=f"write it as {int(max_count)}" if whole else fix_count)
        elif max_count is not None and max_count > MAX_COUNT:
            col.add(f"max_count is above {MAX_COUNT:,}, more units than any fleet has (got {shown(max_count)})",
                    path=p + ".max_count", hint=fix_count)
        earlier = next(((n, v[4]) for n, v in profiles.items() if unit is not None and v[0] == unit), None)
        if earlier:
            same_gpu_issue(name, file, earlier, unit.accelerator, col, p)
        profiles[name] = (unit, cost, tputs, max_count, p)
    capped_twice(profiles, col, file)
    in_mid = _midpoints(input_edges, rows, "input", file, col)
    out_mid = _midpoints(output_edges, cols, "output", file, col)
    col.raise_if_any()

    stem = Path(file).stem
    doc = problem_skeleton(
        name=f"melange-{stem}",
        description=(f"Imported from the Mélange config {Path(file).name}: {len(profiles)} GPU types, "
                     f"{rows}x{cols} request-size buckets, {rate} req/s. Capacities are Mélange's "
                     f"profiled rates (measurements), prices its hourly costs; a Mélange unit is one "
                     f"replica on its devices (one device unless its GPU name states a count). The SLO "
                     f"values below are placeholders: the profiles already embody Mélange's SLO."),
        model=model, region=region, accelerators=sorted({v[0].accelerator for v in profiles.values()}),
        ttft_ms=ttft_ms, tpot_ms=tpot_ms, catalog=catalog)
    notes = ["bucket token lengths are midpoints of "
             + ("the given edges" if input_edges or output_edges else "Mélange's README example bounds"),
             unit_note("Mélange", {name: v[0] for name, v in profiles.items()}),
             "a bucket's traffic may split across GPU types here (Mélange assigns it in slices of "
             "slice_factor), so the plan can cost less than Mélange's answer for the same file"]
    if ({name: (v[1], v[2]) for name, v in profiles.items()} == README_GPUS and dist == README_DIST
            and rate == README_RATE):
        notes[-1] += " (this is Mélange's example config: $6.70/h in its README, $4.68/h here)"
    guessed = [f"{name} -> {unit.accelerator}" for name, (unit, *_rest) in sorted(profiles.items())
               if name.strip().lower() not in mapping and name.strip().lower() != unit.accelerator]
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
    for name, (unit, cost, tputs, max_count, p) in sorted(profiles.items(), key=lambda kv: kv[1][0]):
        add_gpu_profile(doc, unit=unit, region=region, usd_per_hour=cost, provider="melange",
                        cost_source=f"Mélange config {base}: {p}.cost", cells=wids,
                        tputs=tputs, cell_source=lambda r, c, p=p: f"Mélange config {base}: {p}.tputs[{r}][{c}]")
        if max_count is not None:
            doc["fleet"]["availability"].append({"accelerator": unit.accelerator, "region": region,
                                                 "max_devices": int(max_count) * unit.devices})
    close_unprofiled_degrees(doc, "Mélange")
    traffic = Traffic(rate=rate, rate_file=file, rate_field=rate_key, dist_file=file,
                      dist_field="workload_distribution", shares=dist, cells={wid: ij for ij, wid in wids.items()})
    warnings += [unread_warning({file: unread}, "gpu_info, workload_distribution and " + rate_key),
                 unmatched_map_warning(mapping, list(profiles))]
    return finish(doc, notes, traffic, warnings)
