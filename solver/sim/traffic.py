"""Synthetic traffic and trace files.

Arrivals are Poisson: the number of arrivals in ``[0, duration)`` is drawn
from a Poisson law and their times are sorted uniforms (the exact conditional
law, and vectorised).  Token counts follow each workload's
:class:`~solver.problem.schema.TokenStats`:

* ``fixed``: always ``round(mean)``;
* ``exponential``: exponential with that mean (``cv`` is 1 by definition);
* ``lognormal``: lognormal with that mean and coefficient of variation ``cv``
  (sigma^2 = ln(1 + cv^2), mu = ln(mean) - sigma^2 / 2).

Draws are rounded to whole tokens, at least 1, and capped at ``max`` when the
workload gives one (the cap lowers the mean slightly; the report shows the
simulated means).

Trace CSV (replay your own logs): a header ``arrival_s,workload,input_tokens,
output_tokens`` and one request per row; arrival times in seconds, ascending
or not (they are sorted on reading).
"""

from __future__ import annotations

import dataclasses

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from solver.errors import InputError, InputIssue, unknown_id_hint
from solver.problem.schema import MAX_TOKENS
from solver.yamlio import atomic_write_text, note_input

TRACE_COLUMNS = ("arrival_s", "workload", "input_tokens", "output_tokens")

#: most requests one run may draw: ~100 bytes and a few microseconds each, i.e. about a GB and a
#: minute; beyond, a slip in --duration or in a rate ends in a MemoryError or a run of hours
MAX_REQUESTS = 1e7


def check_request_count(rate_per_s: float, duration_s: float, hint: str = "") -> None:
    """Refuse, before drawing any, a run expected to hold more than :data:`MAX_REQUESTS` requests."""
    if rate_per_s * duration_s > MAX_REQUESTS:
        raise InputError(InputIssue(
            f"{rate_per_s * duration_s:.3g} requests to draw ({rate_per_s:.4g} req/s for {duration_s:g} s), "
            f"more than the {MAX_REQUESTS:,.0f} one run may hold", path="--duration",
            hint=f"shorten --duration (at most {MAX_REQUESTS / rate_per_s:.3g} s at {rate_per_s:.4g} req/s)"
                 + hint))


def sample_tokens(stats, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` token counts drawn from a TokenStats-like object (mean, cv, distribution, max)."""
    mean = float(stats.mean)
    dist = getattr(stats, "distribution", "lognormal")
    if dist == "fixed":
        x = np.full(n, mean)
    elif dist == "exponential":
        x = rng.exponential(mean, n)
    elif dist == "lognormal":
        cv = float(getattr(stats, "cv", 0.5))
        if cv == 0:
            x = np.full(n, mean)
        else:
            s2 = math.log1p(cv * cv)
            x = rng.lognormal(math.log(mean) - s2 / 2.0, math.sqrt(s2), n)
    else:
        raise ValueError(f"unknown token distribution {dist!r}")
    tokens = np.maximum(np.rint(x), 1).astype(np.int64)
    cap = getattr(stats, "max", None)
    if cap is not None:
        np.minimum(tokens, max(int(cap), 1), out=tokens)
    return tokens


def poisson_arrivals(rate_per_s: float, duration_s: float, rng: np.random.Generator) -> np.ndarray:
    """Sorted arrival times of a Poisson process of ``rate_per_s`` on ``[0, duration_s)``."""
    if rate_per_s <= 0 or duration_s <= 0:
        return np.empty(0)
    n = int(rng.poisson(rate_per_s * duration_s))
    t = rng.uniform(0.0, duration_s, n)
    t.sort()
    return t


@dataclass
class Trace:
    """Requests as columns; ``workload`` holds indexes into ``workload_ids``."""

    arrival_s: np.ndarray
    workload: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    workload_ids: list[str]

    def __len__(self) -> int:
        return len(self.arrival_s)

    def from_first_arrival(self) -> "Trace":
        """The same requests with time counted from the first arrival: a trace of epoch timestamps
        (or one cut from a longer log) would otherwise read as hours of silence before it."""
        start = float(self.arrival_s.min()) if len(self) else 0.0
        return dataclasses.replace(self, arrival_s=self.arrival_s - start) if start else self

    def sorted(self) -> "Trace":
        order = np.argsort(self.arrival_s, kind="stable")
        return Trace(self.arrival_s[order], self.workload[order], self.input_tokens[order],
                     self.output_tokens[order], list(self.workload_ids))


def generate_trace(workloads: Sequence, duration_s: float, seed: int,
                   rates_per_s: dict[str, float] | None = None) -> Trace:
    """Poisson arrivals of every workload (at its peak rate unless ``rates_per_s`` says)."""
    rng = np.random.default_rng(seed)
    ids = [w.id for w in workloads]
    rates = [(rates_per_s or {}).get(w.id, w.demand.requests_per_s) for w in workloads]
    check_request_count(sum(rates), duration_s)
    parts = []
    for k, (w, rate) in enumerate(zip(workloads, rates)):
        t = poisson_arrivals(rate, duration_s, rng)
        parts.append((t, np.full(len(t), k, dtype=np.int64),
                      sample_tokens(w.input_tokens, len(t), rng),
                      sample_tokens(w.output_tokens, len(t), rng)))
    if not parts:
        return Trace(np.empty(0), np.empty(0, np.int64), np.empty(0, np.int64),
                     np.empty(0, np.int64), ids)
    tr = Trace(*(np.concatenate([p[i] for p in parts]) for i in range(4)), workload_ids=ids)
    return tr.sorted()


def trace_to_csv(trace: Trace) -> str:
    """CSV text of a trace (arrival times with microsecond resolution)."""
    buf = io.StringIO()
    buf.write(",".join(TRACE_COLUMNS) + "\n")
    ids = trace.workload_ids
    for t, w, i, o in zip(trace.arrival_s.tolist(), trace.workload.tolist(),
                          trace.input_tokens.tolist(), trace.output_tokens.tolist()):
        buf.write(f"{t:.6f},{ids[w]},{i},{o}\n")
    return buf.getvalue()


def write_trace(path: str | Path, trace: Trace, protect: Iterable = ()) -> None:
    """Write a trace CSV atomically (a reader never sees half a file)."""
    atomic_write_text(path, trace_to_csv(trace), protect=tuple(protect))


def read_trace(path: str | Path, workload_ids: Sequence[str], max_issues: int = 20) -> Trace:
    """Read and validate a trace CSV; every bad row is reported with its line and column."""
    p = Path(path)
    file = str(p)
    if not p.exists():
        raise InputError(InputIssue("file not found", file=file,
                                    hint="check the path of the trace CSV"))
    if p.is_dir():
        raise InputError(InputIssue("is a directory, not a file", file=file,
                                    hint="name a .csv file"))
    note_input(p)
    try:
        text = p.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(InputIssue(f"not UTF-8 text (byte {exc.start})", file=file,
                                    hint="save the trace as UTF-8 CSV")) from None
    except OSError as exc:
        raise InputError(InputIssue(f"cannot read: {exc.strerror}", file=file,
                                    hint="check permissions")) from None
    return parse_trace(text, workload_ids, file=file, max_issues=max_issues)


def parse_trace(text: str, workload_ids: Sequence[str], file: str = "<trace>",
                max_issues: int = 20) -> Trace:
    """Parse trace CSV text (see :func:`read_trace`)."""
    issues: list[InputIssue] = []
    lines = text.splitlines()
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(InputIssue("empty trace file", file=file, line=1,
                                    hint="the first line must be the header "
                                         + ",".join(TRACE_COLUMNS))) from None
    header = [h.strip() for h in header]
    if header != list(TRACE_COLUMNS):
        raise InputError(InputIssue(
            f"header is {','.join(header)!r}", file=file, line=1,
            hint="the first line must be exactly " + ",".join(TRACE_COLUMNS)))
    index = {w: k for k, w in enumerate(workload_ids)}
    arr: list[float] = []
    wl: list[int] = []
    inp: list[int] = []
    out: list[int] = []

    def bad(line: int, column: str, msg: str, hint: str) -> None:
        if len(issues) < max_issues:
            issues.append(InputIssue(msg, file=file, line=line, path=column, hint=hint))

    n_bad = 0
    for lineno, row in enumerate(reader, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 4:
            n_bad += 1
            bad(lineno, "", f"expected 4 columns, found {len(row)}",
                "each row is arrival_s,workload,input_tokens,output_tokens")
            continue
        ok = True
        try:
            t = float(row[0])
            if not math.isfinite(t) or t < 0:
                raise ValueError
        except ValueError:
            ok = False
            bad(lineno, "arrival_s", f"not a non-negative number of seconds: {row[0]!r}",
                "write the arrival time in seconds, e.g. 12.5")
        w = row[1].strip()
        if w not in index:
            ok = False
            bad(lineno, "workload", f"unknown workload {w!r}",
                unknown_id_hint(w, workload_ids, "workloads",
                                then="(the workload ids of the problem file)"))
        vals = []
        for col, raw in (("input_tokens", row[2]), ("output_tokens", row[3])):
            try:
                v = float(raw)
                if not v.is_integer() or v < (0 if col == "input_tokens" else 1):
                    raise ValueError
                if v > MAX_TOKENS:   # no request is that long; int64 sums of such counts wrap
                    ok = False
                    bad(lineno, col, f"{raw.strip()} tokens is more than {MAX_TOKENS:,.0f}",
                        "a request's token count is at most 1e8 (the problem schema's bound)")
                    continue
                vals.append(int(v))
            except ValueError:
                ok = False
                least = 0 if col == "input_tokens" else 1
                bad(lineno, col, f"not a whole number >= {least}: {raw!r}",
                    "write a token count, e.g. 512")
        if ok:
            arr.append(t)
            wl.append(index[w])
            inp.append(vals[0])
            out.append(vals[1])
        else:
            n_bad += 1
    if issues:
        if n_bad > len(issues):
            issues.append(InputIssue(f"... and more bad rows ({n_bad} in all)", file=file))
        raise InputError(issues)
    if not arr:
        raise InputError(InputIssue("the trace has a header but no requests", file=file, line=2,
                                    hint="add rows arrival_s,workload,input_tokens,output_tokens"))
    return Trace(np.asarray(arr, float), np.asarray(wl, np.int64), np.asarray(inp, np.int64),
                 np.asarray(out, np.int64), list(workload_ids)).sorted()
