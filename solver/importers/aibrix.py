"""Import AIBrix GPU-optimizer profiles (one JSON file per GPU type).

A profile holds ``gpu`` (name), ``cost`` ($/h), ``tputs`` (requests/s under the
SLO per cell), ``indexes`` and ``slos``.  Mind the orientation: in AIBrix files
the ROWS are OUTPUT lengths and the COLUMNS INPUT lengths (``indexes`` is
``[output_tokens, input_tokens]``), the transpose of Mélange's layout.

Profiles carry no traffic mix, so the caller gives the total rate and either a
distribution matrix (same orientation as the profiles) or accepts a uniform mix
over the cells, which the generated problem states in its description.

Keys: ``gpu``, ``cost``, ``tputs``, ``indexes`` are read, and ``slos`` (the
profiles of one fleet must share it; it is quoted in the description).  AIBrix
also writes ``created`` (a timestamp: skipped without a word), and per-cell
latencies such as ``e2e`` and ``ttft``: not used, because ``tputs`` already
holds the highest rate within the SLO, which the import notes.  Any other key
is not read: a near-miss of a read key ('tput', 'slo') is an error, the rest are
listed in one warning, also written into the generated problem's header.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional, Sequence

from solver.catalog import Catalog
from solver.errors import InputError, InputIssue, IssueCollector
from solver.importers.common import (ImportResult, MAX_RPS, Traffic, add_bucket_workload, add_gpu_profile,
                                     check_flag_ids, check_keys, check_matrix, check_positive,
                                     close_unprofiled_degrees, finish, map_gpu, problem_skeleton, read_json,
                                     same_gpu_issue, short, shown, unit_issue, unit_note,
                                     unmatched_map_warning, unread_warning)
from solver.coefficients import MIN_CAPACITY_RPS
from solver.problem.schema import MAX_TOKENS, MAX_USD

#: what a row and a column of an AIBrix matrix stand for (the transpose of Mélange's)
ROWS_ARE, COLS_ARE = "output length", "input length"
#: the keys read, and those AIBrix writes that are not (per-cell latencies; the creation time)
READ_KEYS = ("gpu", "cost", "tputs", "indexes", "slos")
LATENCY_KEYS = ("e2e", "ttft")
KNOWN_KEYS = ("created", *LATENCY_KEYS)
#: units of the targets in ``slos`` (AIBrix's gen_profile flags: latencies in seconds)
SLO_UNITS = {"e2e": ("<=", "s"), "ttft": ("<=", "s"), "tpot": ("<=", "s"), "tpat": ("<=", "s"),
             "tput": (">=", "req/s"), "tt": (">=", "tokens/s")}


def _plain_number(v: object) -> bool:
    """Whether ``v`` prints as a number ('5', '0.5'; not true, not 400 digits)."""
    return not isinstance(v, bool) and isinstance(v, (int, float)) and abs(v) < 1e20


def unconstrained(slos: dict) -> bool:
    """Whether ``slos`` holds no latency target: ``{"percentile": 0}`` is what AIBrix's gen_profile.py
    writes without an SLO flag, its tputs then the highest throughput whatever the latency (QA s22:
    it was described as 'made for mean')."""
    return slos.get("percentile") in (None, 0) and set(slos) <= {"percentile"}


def slo_text(slos: dict) -> str:
    """``{"percentile": 99, "e2e": 5.0}`` -> 'p99 e2e <= 5 s' (percentile 0 or none: the mean);
    no target -> 'no latency target: throughput unconstrained'."""
    if unconstrained(slos):
        return "no latency target: throughput unconstrained"
    pct = slos.get("percentile")
    head = "mean" if pct in (None, 0) else f"p{pct:g}" if _plain_number(pct) else f"percentile {json.dumps(pct)}"
    parts = []
    for k, v in slos.items():
        if k == "percentile":
            continue
        op, unit = SLO_UNITS.get(k, ("", ""))
        parts.append(f"{k} {op} {v:g} {unit}" if unit and _plain_number(v) else f"{k} {json.dumps(v)}")
    return " ".join([head, ", ".join(parts)]).strip()


def _json_kind(data: object) -> str:
    return {list: "a list", str: "a string", bool: "true/false", type(None): "null"}.get(type(data), "a number")


def _ticks_ok(idx: object, file: str, col: IssueCollector) -> bool:
    """Whether ``indexes`` is [output ticks, input ticks], each distinct whole token counts from 1 to
    MAX_TOKENS in increasing order (workload ids are made of them, so they must not collide)."""
    if not (isinstance(idx, list) and len(idx) == 2 and all(isinstance(a, list) and a for a in idx)):
        col.add("indexes must be [output_token_ticks, input_token_ticks]", file=file, path="indexes",
                hint="two non-empty lists of token counts: the ticks of tputs' rows (output lengths), then of "
                     "its columns (input lengths)")
        return False
    fix = "ticks are distinct whole token counts in increasing order, e.g. [4, 8, 16, 32]"
    ok = True
    for a, ticks in enumerate(idx):
        for k, v in enumerate(ticks):
            where = f"indexes[{a}][{k}]"
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 1 <= v <= MAX_TOKENS:
                col.add(f"tick is not a token count from 1 to {MAX_TOKENS:,.0f} (got {shown(v)})", file=file,
                        path=where, hint=fix)
            elif v != int(v):
                col.add(f"tick {v!r} is not a whole token count", file=file, path=where, hint=fix)
            elif k and isinstance(ticks[k - 1], (int, float)) and v <= ticks[k - 1]:
                col.add(f"tick {v!r} is not above the tick before it ({shown(ticks[k - 1])} at "
                        f"indexes[{a}][{k - 1}])", file=file, path=where, hint=fix)
            else:
                continue
            ok = False
    return ok


def import_aibrix(paths: Sequence[str | Path], *, catalog: Catalog, total_rate: float,
                  distribution: Optional[list[list[float]]] = None, model: str = "llama-2-7b",
                  region: str = "virginia", mapping: Optional[dict[str, str]] = None,
                  ttft_ms: float = 60000.0, tpot_ms: float = 1000.0,
                  distribution_file: Optional[str] = None) -> ImportResult:
    """``distribution_file`` names where ``distribution`` was read (for its errors)."""
    if not paths:
        raise InputError(InputIssue(message="no AIBrix profile files given", hint="name one JSON file per GPU type"))
    if not (isinstance(total_rate, (int, float)) and math.isfinite(total_rate) and total_rate > 0):
        raise InputError(InputIssue(message=f"--rate must be a positive number of requests/s (got {total_rate!r})",
                                    hint="for example --rate 30"))
    if total_rate > MAX_RPS:
        raise InputError(InputIssue(message=f"--rate is above {short(MAX_RPS)} req/s, the most a problem takes "
                                            f"(got {total_rate:g}: a unit slip?)", path="--rate",
                                    hint="give the total requests/s across all cells, e.g. --rate 30"))
    check_flag_ids(catalog, model, region)
    col = IssueCollector()
    mapping = mapping or {}
    profiles = []
    unread: dict[str, list[str]] = {}
    latencies: set[str] = set()
    first: dict[str, tuple[str, object]] = {}  # key -> (file, value) of the first profile stating it

    def differs(key: str, value: object, file: str, hint: str) -> bool:
        """Whether ``value`` of ``key`` differs from the first profile's (an issue naming both files)."""
        if key not in first:
            first[key] = (file, value)
            return False
        file0, value0 = first[key]
        if value == value0:
            return False
        col.add(f"{key} {json.dumps(value)} differ from {json.dumps(value0)} in {file0}", file=file, path=key,
                hint=hint)
        return True

    for path in paths:
        file = str(path)
        data = read_json(path, dir_hint=f"pass the profile JSON files inside it, e.g. {Path(path) / '*.json'}")
        if not isinstance(data, dict):
            hint = 'an object with "gpu", "cost", "tputs" and "indexes" (AIBrix writes one per GPU type)'
            if isinstance(data, list) and data and all(isinstance(d, dict) for d in data):
                hint = ("give the profile object itself: remove the [ ] around it" if len(data) == 1 else
                        f"give each profile in a file of its own (this list holds {len(data)}), and name "
                        "every file")
            col.add(f"an AIBrix profile is a JSON object, not {_json_kind(data)}", file=file, hint=hint)
            continue
        unread[file] = check_keys(data, READ_KEYS, col, file, known=KNOWN_KEYS)
        latencies.update(k for k in LATENCY_KEYS if k in data)
        for key in ("gpu", "cost", "tputs", "indexes"):
            if key not in data:
                col.add(f"missing key {key!r}", file=file, path=key, hint="is this an AIBrix GPU profile?")
        if any(k not in data for k in ("gpu", "cost", "tputs", "indexes")):
            continue
        idx = data["indexes"]
        if not _ticks_ok(idx, file, col):
            continue
        if differs("indexes", idx, file, "profiles of one fleet must share the same buckets"):
            continue
        slos = data.get("slos")
        if slos is not None and not isinstance(slos, dict):
            col.add(f"slos must be an object of the SLO the profile was made for (got {json.dumps(slos)})",
                    file=file, path="slos", hint='for example "slos": {"percentile": 99, "e2e": 5.0} (e2e in '
                                                 'seconds), or delete slos')
            slos = None
        elif slos:
            differs("slos", slos, file, "profiles of one fleet must be made for the same SLO: import "
                                        "each SLO's profiles on their own, or re-profile for one SLO")
        out_ticks, in_ticks = [float(v) for v in idx[0]], [float(v) for v in idx[1]]
        tputs = check_matrix(data["tputs"], len(out_ticks), len(in_ticks), "tputs", file, "tputs", col,
                             rows_are=ROWS_ARE, cols_are=COLS_ARE, shape_of="(the ticks of indexes)",
                             values="the requests/s one unit sustains in that cell within the SLO "
                                    "(0: it cannot serve it)",
                             least_positive=MIN_CAPACITY_RPS)
        cost = data["cost"]
        check_positive(cost, "a positive $/hour", "0.3", col, file, "cost", most=MAX_USD)
        gpu = data["gpu"]
        if not isinstance(gpu, str) or not gpu.strip():
            col.add(f"gpu must be the GPU type's name, a string (got {'null' if gpu is None else shown(gpu)})",
                    file=file, path="gpu",
                    hint='for example "gpu": "A10G" (--map NAME=ID names its catalog accelerator if need be)')
            continue
        unit = map_gpu(gpu, catalog, mapping, col, file, "gpu")
        if unit is not None:
            unit_issue(gpu, unit, model, catalog, col, file, "gpu")
        earlier = next((p for p in profiles if unit is not None and p[1] == unit), None)
        if earlier:
            same_gpu_issue(gpu, file, (earlier[4], earlier[0]), unit.accelerator, col, "gpu",
                           same_file=Path(earlier[0]).resolve() == Path(file).resolve())
        profiles.append((file, unit, cost, tputs, gpu, slos or None))
    col.raise_if_any()
    n_out, n_in = len(out_ticks), len(in_ticks)
    notes = [unit_note("AIBrix", {p[4]: p[1] for p in profiles})]
    if latencies:
        notes.append(f"the profiles' per-cell latencies ({', '.join(sorted(latencies))}) are not used: tputs "
                     "already holds each cell's highest rate within the profiles' SLO")
    guessed = [f"{name} -> {unit.accelerator}" for _, unit, _, _, name, _ in profiles
               if name.strip().lower() not in mapping and name.strip().lower() != unit.accelerator]
    if guessed:
        notes.append("GPU names read as catalog accelerators: " + ", ".join(guessed)
                     + " (another variant: --map 'NAME=ID')")
    stated = distribution is not None
    if distribution is None:
        distribution = [[1.0 / (n_out * n_in)] * n_in for _ in range(n_out)]
        notes.append("no distribution given: traffic spread uniformly over the profile's cells")
    dist = check_matrix(distribution, n_out, n_in, "distribution", distribution_file, "distribution", col,
                        rows_are=ROWS_ARE, cols_are=COLS_ARE, shape_of="(as the profiles' tputs)",
                        values="the fraction of the requests in that cell (0 for none)")
    col.raise_if_any()
    total = sum(map(sum, dist))
    if abs(total - 1) > 1e-6:
        raise InputError(InputIssue(message=f"distribution sums to {total:.6g}, not 1", file=distribution_file,
                                    path="distribution",
                                    hint="rows are output lengths, columns input lengths; fractions add to 1"))
    with_slo = [Path(p[0]).name for p in profiles if p[5]]
    without = [Path(p[0]).name for p in profiles if not p[5]]
    warnings = []
    made_for = ""
    if with_slo:
        stated = next(p[5] for p in profiles if p[5])
        slo, free = slo_text(stated), unconstrained(stated)
        made = f"made with {slo}" if free else f"made for {slo}"
        made_for = f" (profiles were {made})"
        if free:
            notes.append(f"the profiles hold no latency target (slos {json.dumps(stated)}, what AIBrix writes "
                         "without an SLO flag): their tputs are the highest throughputs whatever the latency, and "
                         f"the workloads' SLO ({ttft_ms:g} ms TTFT, {tpot_ms:g} ms TPOT: --ttft-ms, --tpot-ms) is "
                         "a placeholder those rates were not held to, so the plan bounds no latency")
        if without:
            made_for = (f" ({', '.join(with_slo)} {made}; {', '.join(without)} "
                        f"state{'s' if len(without) == 1 else ''} no SLO)")
            one = len(without) == 1
            that = "without a latency target" if free else "for that SLO"
            said = (f"{', '.join(with_slo)} state{'s' if len(with_slo) == 1 else ''} no latency target (slos "
                    f"{json.dumps(stated)}), {', '.join(without)} no slos at all" if free else
                    f"the SLO {slo} is stated in {', '.join(with_slo)}, none in {', '.join(without)}")
            warnings.append(f"{said}: the plan mixes them as one fleet. If "
                            f"{' and '.join(without)} {'was' if one else 'were'} profiled {that} too, add the same "
                            f"slos to {'it' if one else 'them'}; else import each SLO's profiles on their own")
    doc = problem_skeleton(
        name="aibrix-import",
        description=(f"Imported from {len(profiles)} AIBrix profile(s) ({', '.join(p[4] for p in profiles)}); "
                     f"{n_out} output x {n_in} input length cells, {total_rate} req/s. Capacities are the "
                     f"profiled rates (measurements); SLO values are placeholders{made_for}."),
        model=model, region=region, accelerators=sorted({p[1].accelerator for p in profiles}),
        ttft_ms=ttft_ms, tpot_ms=tpot_ms, catalog=catalog)
    cells = {}
    for o in range(n_out):
        for i in range(n_in):
            if dist[o][i] > 0:
                wid = f"cell-out{int(out_ticks[o])}-in{int(in_ticks[i])}"
                cells[(o, i)] = wid
                add_bucket_workload(doc, wid, total_rate * dist[o][i], in_ticks[i], out_ticks[o])
    for file, unit, cost, tputs, gpu, _ in sorted(profiles, key=lambda p: p[1]):
        name = Path(file).name
        add_gpu_profile(doc, unit=unit, region=region, usd_per_hour=cost, provider="aibrix",
                        cost_source=f"AIBrix profile {name}: cost", cells=cells, tputs=tputs,
                        cell_source=lambda r, c, name=name: f"AIBrix profile {name}: tputs[{r}][{c}] (row = output length)")
    close_unprofiled_degrees(doc, "AIBrix")
    traffic = Traffic(rate=total_rate, rate_file=None, rate_field="--rate",
                      dist_file=distribution_file if stated else None, dist_field="distribution", shares=dist,
                      cells={wid: oi for oi, wid in cells.items()})
    warnings += [unread_warning(unread, "gpu, cost, tputs, indexes and slos"),
                 unmatched_map_warning(mapping, [p[4] for p in profiles])]
    return finish(doc, notes, traffic, warnings)
