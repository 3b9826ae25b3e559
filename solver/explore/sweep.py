"""Sweeps: solve one problem under many edits and collect one results row per scenario.

``--set PATH=V1,V2,...`` gives a grid (the cartesian product of every such
option); ``--set PATH=uniform(a,b)`` / ``normal(mean,sd)`` /
``lognormal(median,sigma)`` draws ``--samples`` values with ``--seed`` (for
demand scenarios, say).  With both, every grid point gets ``samples`` draws.

Each scenario is the base document with the values set at their dotted paths
(:func:`solver.problem.load.set_path`), validated and solved in a worker
process (or a Ray task).  A scenario that fails, e.g. a negative demand drawn
from a normal distribution, becomes a row with its status and error message:
a sweep never stops on one bad scenario.

Rows are cached (:mod:`solver.explore.cache`) by a hash of what decides them,
so a rerun only solves what is new.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import itertools
import math
import numbers
import os
import re
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np
import yaml

from solver.mip.periods import PERIOD_COST_PARTS
from solver.errors import EXIT_BAD_INPUT, FleetoptError, InputError, InputIssue
from solver.explore.cache import (DEFAULT_CACHE_DIR, ResultCache, check_cache_dir, overlay_digests,
                                  scenario_key, tool_version)
from solver.explore.common import (SolveOptions, base_document, caller_overlays, one_line, plan_summary,
                                   require_options)
from solver.problem.load import require_loaded
from solver.report import number_text

DISTRIBUTIONS = ("uniform", "normal", "lognormal")
#: most scenarios one sweep runs: a sweep holds every row (and every document it has to solve)
#: in memory, so 10^6 scenarios took minutes and gigabytes before the first solve
MAX_SCENARIOS = 100_000
#: statuses of rows that did not come from a solve
INVALID = "invalid"      # the edited problem is not valid input (message in `error`)
CRASHED = "crashed"      # an unexpected exception (a bug): never cached
#: fixed columns of the table: `scenario`, the parameters, these, then `devices_<accelerator>` sorted
SUMMARY_COLUMNS = (["status", "total_usd", "usd_per_month"]
                   + [f"cost_{p}_usd" for p in PERIOD_COST_PARTS]
                   + ["devices", "replicas", "co2_kg", "energy_kwh", "solve_s", "solver_s", "gap",
                      "error", "key"])


@dataclass(frozen=True)
class Param:
    """One ``--set``: a dotted path with a list of values (grid) or a distribution."""

    path: str
    values: tuple = ()                 # grid values
    dist: Optional[str] = None         # uniform | normal | lognormal
    args: tuple = ()

    @property
    def random(self) -> bool:
        return self.dist is not None

    def draw(self, rng: np.random.Generator, n: int) -> list[float]:
        a, b = self.args
        if self.dist == "uniform":
            x = rng.uniform(a, b, n)
        elif self.dist == "normal":
            x = rng.normal(a, b, n)
        else:  # lognormal(median, sigma): median x exp(sigma Z)
            x = a * np.exp(b * rng.standard_normal(n))
        return [float(v) for v in x]


def _split_top(text: str) -> list[str]:
    """Split at commas outside brackets/braces/quotes: ``[a,b],[c]`` -> ``['[a,b]', '[c]']``."""
    out, depth, cur, quote = [], 0, [], None
    for ch in text:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur).strip())
    return out


def parse_set(text: str, loaded=None) -> Param:
    """Parse ``PATH=V1,V2`` or ``PATH=dist(a,b)``; values are YAML scalars or flow lists.

    PATH must name a field of the problem schema (checked here, with a "did you mean"); with
    ``loaded`` (what load_problem returned) its list entries must exist in that problem too, else
    :func:`run_sweep` checks them.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_set needs the text of one --set, e.g. 'workloads.chat.slo.ttft_ms=500,1000'; "
                        f"got {type(text).__name__}")
    def bad(msg, hint="e.g. --set workloads.chat.demand.requests_per_s=20,40,80 or "
                      "--set workloads.chat.demand.requests_per_s=lognormal(40,0.3)"):
        return InputError(InputIssue(f"--set {text!r}: {msg}", path="--set", hint=hint))

    path, eq, spec = text.partition("=")
    path, spec = path.strip(), spec.strip()
    if not eq or not path:
        raise bad("expected PATH=VALUES")
    if path.split(".")[0] == "scenarios":
        raise bad("a sweep cannot change `scenarios`", hint="set the fields the scenario sets instead")
    if not spec:
        raise bad("no value after '='")
    m = re.fullmatch(r"([a-z_]+)\((.*)\)", spec)
    if m and m.group(1) in DISTRIBUTIONS:
        try:
            args = tuple(float(a) for a in _split_top(m.group(2)))
        except ValueError:
            raise bad(f"{m.group(1)}(...) takes two numbers") from None
        if len(args) != 2 or not all(math.isfinite(a) for a in args):
            raise bad(f"{m.group(1)}(...) takes two finite numbers")
        a, b = args
        if m.group(1) == "uniform" and not a < b:
            raise bad("uniform(a,b) needs a < b")
        if m.group(1) == "normal" and b < 0:
            raise bad("normal(mean,sd) needs sd >= 0")
        if m.group(1) == "lognormal" and not (a > 0 and b >= 0):
            raise bad("lognormal(median,sigma) needs median > 0 and sigma >= 0")
        check_param_path(path, loaded)
        return Param(path, dist=m.group(1), args=args)
    if m:
        raise bad(f"unknown distribution {m.group(1)!r}", hint=f"use one of {', '.join(DISTRIBUTIONS)}")
    values = []
    for tok in _split_top(spec):
        if tok == "":
            raise bad("empty value in the list")
        try:
            values.append(yaml.safe_load(tok))
        except yaml.YAMLError as exc:
            raise bad(f"value {tok!r} is not a YAML value ({exc.__class__.__name__})") from None
    check_param_path(path, loaded, values[0])
    return Param(path, values=tuple(values))


def count_issues(*, samples: Optional[int] = None, seed: int = 0, workers: Optional[int] = None) -> list[InputIssue]:
    """What :func:`expand` and :func:`run_sweep` refuse in ``samples``, ``seed`` and ``workers``,
    every one at once (QA s27: `--workers 0 --samples 0 --seed -1` was reported one flag per run)."""
    out = []
    # numpy's own words ("expected non-negative integer") came out as an internal error (exit 1)
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or seed < 0:
        out.append(InputIssue(f"seed (--seed) must be an integer >= 0, got {seed!r}",
                              hint="e.g. --seed 1 (the same seed gives the same draws)"))
    if samples is not None and (not isinstance(samples, numbers.Integral) or isinstance(samples, bool)
                                or samples < 1):
        out.append(InputIssue(f"samples (--samples) must be at least 1, got {samples!r}",
                              hint="e.g. --samples 50"))
    if workers is not None and (not isinstance(workers, numbers.Integral) or isinstance(workers, bool)
                                or workers < 1):
        out.append(InputIssue(f"workers (--workers) must be >= 1, got {workers!r}",
                              hint="e.g. --workers 2, or leave it out for one per CPU core"))
    return out


def expand(params: Sequence[Param], *, samples: Optional[int] = None, seed: int = 0) -> list[dict]:
    """Scenario assignments {path: value}: grid product x ``samples`` random draws each."""
    grid = [p for p in params if not p.random]
    rand = [p for p in params if p.random]
    paths = [p.path for p in params]
    check_no_overlap(params)
    bad = count_issues(samples=samples, seed=seed)
    if bad:
        raise InputError(bad)
    if rand and not samples:
        raise InputError(InputIssue("random values need samples (--samples N)",
                                    hint="e.g. samples=50, seed=1 (--samples 50 --seed 1)"))
    if samples and not rand:
        raise InputError(InputIssue("samples (--samples) is for random values (uniform/normal/lognormal)",
                                    hint="leave samples out for a grid"))
    reps = samples or 1
    n = math.prod(len(p.values) for p in grid) * reps
    if n > MAX_SCENARIOS:
        sizes = [str(len(p.values)) for p in grid] + ([f"{reps} samples"] if rand else [])
        raise InputError(InputIssue(
            f"the sweep has {n:,} scenarios ({' x '.join(sizes)}), more than the limit of "
            f"{MAX_SCENARIOS:,}", path="--set",
            hint="fewer values per --set (or fewer --samples), or split it into several sweeps, "
                 "e.g. one per value of a --set"))
    points = list(itertools.product(*[p.values for p in grid])) if grid else [()]
    rng = np.random.default_rng(seed)
    draws = {p.path: p.draw(rng, n) for p in rand}
    out = []
    for i, point in enumerate(points):
        for r in range(reps):
            row = i * reps + r
            a = {p.path: v for p, v in zip(grid, point)}
            a.update({p.path: draws[p.path][row] for p in rand})
            out.append({p: a[p] for p in paths})
    return out


#: the problem's solver fields a run_sweep option (a `fleetopt sweep` flag) overrides in every row
OPTION_FLAGS = {"backend": "--backend", "solver": "--solver", "time_limit_s": "--time-limit",
                "mip_gap": "--gap", "threads": "--threads"}


def _check_no_flag_overrides(params: Sequence[Param], options: SolveOptions) -> None:
    """A swept solver field that an option also sets is refused: the option wins in every row while
    the table lists the swept value (QA s26: `--set solver.time_limit_s=0.5,20 --time-limit 20` solved
    the 0.5 row with 20 s and called it so)."""
    issues = []
    for p in params:
        section, _, name = p.path.partition(".")
        if section == "solver" and name in OPTION_FLAGS and getattr(options, name) is not None:
            flag = OPTION_FLAGS[name]
            issues.append(InputIssue(
                f"--set {p.path} sweeps what {flag} sets for every row ({flag} {getattr(options, name)}): "
                "the flag would win and the table would list values never used",
                path=p.path, hint=f"drop {flag} (each row then uses its {p.path}), or drop the --set"))
    if issues:
        raise InputError(issues)


def check_no_overlap(params: Sequence[Param], targets: Optional[Sequence[tuple]] = None) -> None:
    """:class:`InputError` naming both flags when two ``--set`` address the same field, or a section
    and a field inside it: the result would depend on the order of the flags.

    ``targets``: the paths :func:`check_param_path` resolved on the problem (an entry by id and by
    index are one field); else the paths as written.
    """
    from solver.problem.load import overlapping_targets
    if targets is None:
        targets = [tuple(p.path.split(".")) for p in params]
    pairs = overlapping_targets(zip([p.path for p in params], targets))
    if pairs:
        raise InputError([InputIssue(f"--set {a} and --set {b} name the same field (or one inside the "
                                     "other): the result would depend on their order", path="--set",
                                     hint="give all values of a field in one --set, comma-separated; "
                                          "set a section or the fields inside it, not both")
                          for a, b in pairs])


def _models_in(annotation) -> list:
    """Pydantic model classes inside an annotation (Optional[X], list[X], X | None)."""
    import typing

    from pydantic import BaseModel
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out = []
    for arg in typing.get_args(annotation):
        out += _models_in(arg)
    return out


def _is_list(annotation) -> bool:
    import typing
    if typing.get_origin(annotation) is list:
        return True
    return any(_is_list(a) for a in typing.get_args(annotation))


def check_schema_path(path: str) -> None:
    """Raise :class:`InputError` when ``path`` names no field of the problem schema.

    ``set_path`` creates missing mapping keys, so a typo would otherwise turn every
    scenario into the same "extra field" error row.  List entries (by id or index)
    are not checked here: :func:`apply` on the base document reports those.
    """
    from solver.errors import did_you_mean
    from solver.problem.schema import Problem
    model, parts, i = Problem, path.split("."), 0
    while i < len(parts) and model is not None:
        fields = model.model_fields
        name = parts[i]
        if name not in fields:
            close = did_you_mean(name, list(fields))
            raise InputError(InputIssue(
                f"--set path {path!r}: {'.'.join(parts[:i]) or 'the problem'} has no field {name!r}",
                path="--set", hint=(f"did you mean {close[0]!r}?" if close else
                                    f"fields: {', '.join(fields)}")))
        ann = fields[name].annotation
        inner = _models_in(ann)
        i += 1
        if _is_list(ann) and inner:
            i += 1          # skip the entry id / index
        model = inner[0] if inner else None


def check_param_path(path: str, loaded=None, value: Any = 1.0) -> Optional[tuple]:
    """:class:`InputError` when ``path`` names no schema field or (given ``loaded``) no entry of
    that problem, naming the path with a "did you mean"; else (given ``loaded``) the path resolved
    to keys and list indexes."""
    from solver.problem.load import set_path
    check_schema_path(path)
    if loaded is None:
        return None
    loaded = require_loaded(loaded, "parse_set")
    try:
        return set_path(base_document(loaded), path, value)
    except KeyError as exc:
        raise InputError(InputIssue(f"--set path {path!r} does not resolve: {exc.args[0]}",
                                    path="--set", file=loaded.file,
                                    hint="dotted path into the problem, list entries by id, e.g. "
                                         "workloads.chat.slo.ttft_ms")) from None


def _params(params: Any) -> list[Param]:
    """``params`` as a list of :class:`Param`: one Param is a list of one; text says to parse it."""
    if isinstance(params, Param):
        return [params]
    if isinstance(params, str):
        params = [params]
    try:
        params = list(params)
    except TypeError:
        raise TypeError(f"run_sweep needs a list of Param (from parse_set), got {type(params).__name__}") from None
    for p in params:
        if isinstance(p, str):
            raise TypeError(f"run_sweep needs Param objects, got the text {p!r}: pass parse_set({p!r}) "
                            "(the --set syntax PATH=V1,V2 or PATH=dist(a,b)), e.g. run_sweep(lp, [parse_set(...)])")
        if not isinstance(p, Param):
            raise TypeError(f"run_sweep needs Param objects (from parse_set), got {type(p).__name__}")
    return params


def apply(doc: dict, assignment: dict) -> dict:
    from solver.problem.load import set_path
    out = copy.deepcopy(doc)
    for path, value in assignment.items():
        set_path(out, path, copy.deepcopy(value))
    return out


# ---------------------------------------------------------------------- the worker
_CATALOGS: dict = {}


def run_scenario(task: dict) -> dict:
    """Validate and solve one edited document (runs in a worker process or Ray task).

    Returns ``{"row": summary, "plan": plan dict or None, "cacheable": bool}``; never raises.
    """
    t0 = time.perf_counter()
    plan = None
    cacheable = True
    try:
        from solver.explore.common import validate_edited
        from solver.mip.pipeline import solve_problem
        loaded = validate_edited(task["doc"], task["file"], overlays=task["overlays"])
        # One catalog object per version and process: the performance model memoises its
        # per-candidate terms on the catalog object, so scenarios after the first reuse them.
        cat = _CATALOGS.setdefault(loaded.catalog.version, loaded.catalog)
        if cat is not loaded.catalog:
            loaded = dataclasses.replace(loaded, catalog=cat)
        solved = solve_problem(loaded, **task["options"])
        plan = solved.plan.to_dict()
        row = plan_summary(plan)
        row["error"] = plan.get("message") if row["status"] not in ("optimal", "time_limit") else ""
        cacheable = row["status"] != "error"
    except InputError as exc:
        row = {"status": INVALID, "error": one_line(exc)}
    except Exception as exc:  # noqa: BLE001 - a row, not a crash of the whole sweep
        row = {"status": CRASHED, "error": one_line(exc)}
        cacheable = False
    row["solve_s"] = time.perf_counter() - t0
    return {"row": row, "plan": plan, "cacheable": cacheable}


# ---------------------------------------------------------------------- progress
class Progress:
    """tqdm when installed, else a one-line bar; silent when disabled (not a TTY, --quiet)."""

    def __init__(self, total: int, enabled: bool, stream=None):
        self.total, self.enabled = total, enabled
        self.stream = stream or sys.stderr
        self.done = self.cached = 0
        self.t0 = time.perf_counter()
        self._bar = None
        if enabled:
            try:
                from tqdm import tqdm
                self._bar = tqdm(total=total, file=self.stream, unit="scenario", leave=True)
            except ImportError:
                self._bar = None

    def update(self, cached: bool = False) -> None:
        self.done += 1
        self.cached += int(cached)
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(cached=self.cached, refresh=False)
            return
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        self.stream.write(f"\r[{'#' * filled}{' ' * (width - filled)}] {self.done}/{self.total} "
                          f"({self.cached} cached) {time.perf_counter() - self.t0:.1f}s")
        self.stream.flush()

    def close(self) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
        else:
            self.stream.write("\n")
            self.stream.flush()


# ---------------------------------------------------------------------- the sweep
@dataclass
class SweepCounts:
    """How far a sweep got, kept up to date while it runs (``run_sweep(counts=...)``), so that a
    sweep stopped by a signal can say what it leaves behind (QA: SIGTERM exited 143 with no word)."""

    total: int = 0          # scenarios
    done: int = 0           # with a row
    from_cache: int = 0     # read back from the cache
    stored: int = 0         # solved now and written to the cache
    cache: Optional[str] = None

    def interrupted_text(self, out: str, how: str) -> str:
        """The line for the user: rows done, what is cached, that ``out`` was not written, how to
        resume."""
        solved = self.done - self.from_cache
        parts = [f"{self.from_cache} read from the cache"] if self.from_cache else []
        if solved:
            parts.append(f"{solved} solved" + ("" if self.cache is None else " and cached" if self.stored == solved
                                               else f", {self.stored} of them cached"))
        text = (f"interrupted ({how}): {self.done} of {self.total} scenarios done"
                + (f" ({', '.join(parts)})" if parts else "")
                + f"; {out} was not written (the table is written once every scenario has its row)")
        cached = self.from_cache + self.stored
        if self.cache is None:
            return text + "; no cache was used, so running the command again solves every scenario"
        if not cached:
            return text + (f"; nothing was cached in {self.cache} yet, so running the command again solves "
                           "every scenario")
        return (text + f"; run the same command again to resume: the {cached} scenario"
                f"{'s' if cached != 1 else ''} cached in {self.cache} {'are' if cached != 1 else 'is'} read back, "
                "not solved again")


@dataclass
class SweepResult:
    rows: list
    columns: list
    n_cached: int
    n_solved: int
    n_failed: int
    seconds: float
    executor: str
    plans: dict = field(default_factory=dict, repr=False)   # scenario index -> plan dict
    cache: Optional[str] = None     # the cache folder, None when none was used or it was dropped

    def summary_text(self) -> str:
        ok = [r["total_usd"] for r in self.rows if r.get("total_usd") is not None]
        invalid = sum(r["status"] == INVALID for r in self.rows)
        n = len(self.rows)
        line = (f"{n} scenario{'s' if n != 1 else ''}: {self.n_cached} cached, {self.n_solved} solved, "
                f"{self.n_failed - invalid} without a plan"
                + (f", {invalid} not valid input" if invalid else "")
                + f", in {self.seconds:.1f} s ({self.executor})")
        if ok:
            q = np.percentile(ok, [0, 50, 90, 100])
            line += ("\ntotal cost over the horizon, USD: " + "  ".join(
                f"{name} {number_text(v, '.4g')}" for name, v in zip(("min", "median", "p90", "max"), q)))
        statuses: dict[str, int] = {}
        for r in self.rows:
            statuses[r["status"]] = statuses.get(r["status"], 0) + 1
        line += "\nstatus: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
        return line + "\n"


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def run_sweep(loaded, params: Sequence[Param], *, samples: Optional[int] = None, seed: int = 0,
              options: SolveOptions = SolveOptions(), overlays: Optional[Sequence[str]] = None,
              workers: Optional[int] = None, cache_dir: Optional[str] = DEFAULT_CACHE_DIR,
              use_ray: bool = False, progress: bool = False, keep_plans: bool = False,
              on_row: Optional[Callable[[dict], None]] = None,
              counts: Optional[SweepCounts] = None) -> SweepResult:
    """Solve every scenario of ``params`` (cached ones are read back, not solved).

    ``overlays``: catalog overlay files to solve every scenario with; by default the ones
    ``loaded`` was loaded with.  ``counts``: kept up to date as rows come in (what an
    interrupted sweep reports).
    """
    loaded = require_loaded(loaded, "run_sweep")
    overlays = caller_overlays(loaded, overlays)
    params = _params(params)
    t0 = time.perf_counter()
    # a --solver of another backend than the problem's is refused up front, as `solve` does,
    # not N `invalid` rows; unless a --set changes the solver section (then each row says)
    sets_solver = any(p.path.split(".")[0] == "solver" for p in params)
    bad = require_options(options, "run_sweep").issues(
        default_backend=None if sets_solver else loaded.problem.solver.backend)
    bad += count_issues(samples=samples, seed=seed, workers=workers)
    if bad:
        raise InputError(bad)
    _check_no_flag_overrides(params, options)
    workers = workers or default_workers()
    base = base_document(loaded)
    # Every path must resolve on the base document (a typo is a usage error, not N error rows),
    # and no two may overlap there.  Scenarios are set by the resolved paths (entries by index),
    # so that setting one entry's id cannot change what another path names.
    targets = [check_param_path(p.path, loaded, p.values[0] if p.values else 1.0) for p in params]
    check_no_overlap(params, targets)
    where = {p.path: ".".join(map(str, t)) for p, t in zip(params, targets)}
    assignments = expand(params, samples=samples, seed=seed)
    cat_version = loaded.catalog.version
    opt_key = {**options.kwargs(), "defaults": loaded.problem.solver.model_dump(mode="json")}
    if cache_dir:
        check_cache_dir(cache_dir)
    cache = ResultCache(cache_dir) if cache_dir else None
    counts = counts if counts is not None else SweepCounts()
    counts.total, counts.cache = len(assignments), str(cache.dir) if cache is not None else None
    rows: list[Optional[dict]] = [None] * len(assignments)
    plans: dict[int, Any] = {}
    todo: dict[str, list[int]] = {}       # key -> scenario indices (duplicates solve once)
    docs: dict[str, dict] = {}
    n_cached = 0
    bar = Progress(len(assignments), progress)

    def finish(i: int, key: str, rec: dict, cached: bool) -> None:
        row = {"scenario": i, **assignments[i], **dict.fromkeys(SUMMARY_COLUMNS), **rec["row"],
               "key": key}
        rows[i] = row
        counts.done += 1
        if keep_plans and rec.get("plan") is not None:
            plans[i] = rec["plan"]
        bar.update(cached=cached)
        if on_row is not None:
            on_row(row)

    for i, a in enumerate(assignments):
        doc = apply(base, {where[p]: v for p, v in a.items()})
        key = scenario_key(doc, catalog_version=cat_version,
                           overlays=overlay_digests(doc, loaded.file, overlays), options=opt_key)
        rec = cache.get(key) if cache else None
        if rec is not None:
            n_cached += 1
            counts.from_cache += 1
            finish(i, key, rec, True)
        else:
            todo.setdefault(key, []).append(i)
            docs[key] = doc
    tasks = [{"key": key, "doc": docs[key], "file": loaded.file, "overlays": list(overlays),
              "options": options.kwargs()} for key in todo]

    def done(task: dict, rec: dict) -> None:
        nonlocal cache
        key = task["key"]
        if cache is not None and rec["cacheable"]:
            try:
                cache.put(key, {"row": rec["row"], "plan": rec["plan"], "fleetopt": tool_version()})
                counts.stored += len(todo[key])
            except (OSError, InputError) as exc:   # the rows matter more than the cache
                print(f"warning: cannot write the result cache {cache.dir} ({one_line(exc)}); "
                      "going on without it", file=sys.stderr)
                cache = None
        for i in todo[key]:
            finish(i, key, rec, False)

    executor = "cached"
    try:
        if tasks:
            if use_ray:
                executor = "ray"
                _run_ray(tasks, workers, done)
            elif workers == 1 or len(tasks) == 1:
                executor = "in-process"
                for t in tasks:
                    done(t, _interruptible(run_scenario, t))
            else:
                executor = f"{min(workers, len(tasks))} processes"
                _run_pool(tasks, workers, done)
    finally:
        bar.close()
    assert all(r is not None for r in rows)
    n_failed = sum(1 for r in rows if r["status"] not in ("optimal", "time_limit"))
    # what was solved now: neither read from the cache nor a variant that is not valid input
    n_solved = sum(1 for key, idx in todo.items() for i in idx if rows[i]["status"] != INVALID)
    columns = table_columns(rows, [p.path for p in params])
    return SweepResult(rows=rows, columns=columns, n_cached=n_cached,
                       n_solved=n_solved, n_failed=n_failed,
                       seconds=time.perf_counter() - t0, executor=executor, plans=plans,
                       cache=str(cache.dir) if cache is not None else None)


def _run_pool(tasks: list, workers: int, done: Callable) -> None:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool
    # fork (Linux): workers start at once with fleetopt imported, and scripts need no
    # `if __name__ == "__main__"` guard; elsewhere spawn (which does need the guard).
    methods = mp.get_all_start_methods()
    ctx = mp.get_context("fork" if "fork" in methods else "spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=ctx,
                             initializer=_exit_with_parent, initargs=(os.getpid(),)) as pool:
        futs: dict = {}
        unsent: list = []
        broken: Optional[BaseException] = None
        for t in tasks:
            if broken is None:
                try:
                    futs[pool.submit(run_scenario, t)] = t
                    continue
                except BrokenProcessPool as exc:   # a worker died before every task was sent
                    broken = exc
            unsent.append(t)
        try:
            with sigterm_exits():
                for f in as_completed(futs):
                    try:
                        rec = f.result()
                    except Exception as exc:  # noqa: BLE001 - a worker died (killed, out of memory)
                        rec = _crashed(exc)
                    done(futs[f], rec)
                for t in unsent:    # never ran: the pool broke first (a race the suite hit once in ~5 runs)
                    done(t, _crashed(broken))
        except BaseException:
            # SIGTERM, Ctrl-C or a failing `done`: the workers would go on (or wait forever) as
            # orphans holding the caller's pipes.  SIGTERM first, so that a worker running CBC
            # kills it and removes its temporary folder (solver.mip.stop.solver_scratch; SIGKILL
            # left both behind), then SIGKILL for any still there
            procs = list((pool._processes or {}).values())
            for proc in procs:
                proc.terminate()
            deadline = time.monotonic() + WORKER_STOP_S
            for proc in procs:
                proc.join(max(0.0, deadline - time.monotonic()))
                if proc.exitcode is None:
                    proc.kill()
            raise


#: set while :func:`sigterm_exits` has its handler installed
_SIGTERM_RAISES = threading.Event()
#: set when :func:`_interruptible` left a scenario's thread behind (cleared by :func:`sigterm_exits`)
_ABANDONED = threading.Event()


def _interruptible(fn: Callable, arg: Any) -> Any:
    """``fn(arg)``; while :func:`sigterm_exits` is in force, in a worker thread while the main
    thread waits in short joins, so that a signal handler's exception (SIGTERM's SystemExit,
    Ctrl-C) ends the wait at once: Python runs handlers in the main thread between bytecodes, never
    while it is inside HiGHS, which would have held a SIGTERM for the rest of the solve.  On such an
    exception the solver processes and folders of the solve are ended
    (:func:`solver.mip.stop.end_children`) and the thread is left behind: the caller that
    installed the handler ends the process with ``os._exit`` (:func:`solve_abandoned`), as an
    interpreter exit with that thread in HiGHS, or still unwinding out of it, aborts ("terminate
    called without an active exception", exit 134, in about 2 of 5 tries).  Otherwise (a library
    call) ``fn(arg)`` here, as before."""
    if threading.current_thread() is not threading.main_thread() or not _SIGTERM_RAISES.is_set():
        return fn(arg)
    out: dict = {}

    def work() -> None:
        try:
            out["value"] = fn(arg)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            out["error"] = exc

    worker = threading.Thread(target=work, name="fleetopt-sweep-scenario", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.1)
    except BaseException:
        _ABANDONED.set()
        from solver.mip.stop import end_children
        end_children()
        raise
    if "error" in out:
        raise out["error"]
    return out["value"]


def solve_abandoned() -> bool:
    """Whether an interrupted sweep left the thread of an in-process scenario behind (see
    :func:`_interruptible`): then only ``os._exit`` ends the process cleanly."""
    return _ABANDONED.is_set()


#: seconds a pool worker gets to end its solver and remove its temporary folder after SIGTERM
WORKER_STOP_S = 3.0


#: seconds between a pool worker's checks that the sweep's process is still there
PARENT_CHECK_S = 1.0


def _exit_with_parent(parent: int) -> None:
    """Pool worker initializer: end the worker once the sweep's process is gone.

    Killed with SIGKILL (``timeout -s KILL``, the OOM killer), the parent runs no clean-up, and
    its workers would wait on the task pipe for ever, re-parented to init.

    SIGTERM gets its default action back: a worker forked while ``fleetopt sweep``'s
    :func:`sigterm_exits` is in force inherits its handler, which Python runs only once HiGHS
    returns, so the parent's ``terminate()`` waited :data:`WORKER_STOP_S` and then killed it.
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    def watch():
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        from solver.mip.stop import end_children
        end_children()         # a CBC it runs, and its folder, would outlive it
        os._exit(1)
    threading.Thread(target=watch, name="fleetopt-parent-watch", daemon=True).start()


@contextlib.contextmanager
def sigterm_exits():
    """Within the block SIGTERM raises SystemExit(143) in the main thread, so that clean-up runs
    (see :func:`_run_pool`) and ``fleetopt sweep`` can say what it leaves behind, where it would end
    the process at once; only where SIGTERM has its default action (a block inside another leaves
    the outer one's handler in place)."""
    if threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def handler(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, handler)
    _ABANDONED.clear()
    _SIGTERM_RAISES.set()
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _SIGTERM_RAISES.clear()


class RayUnavailable(FleetoptError):
    """Ray cannot run the sweep here (not installed, no client, no cluster): an environment to fix."""

    exit_code = EXIT_BAD_INPUT


def _crashed(exc: BaseException) -> dict:
    return {"row": {"status": CRASHED, "error": one_line(exc)}, "plan": None, "cacheable": False}


def ray_available() -> bool:
    """Whether Ray is installed (without importing it: that takes seconds)."""
    import importlib.util
    return importlib.util.find_spec("ray") is not None


#: seconds to wait for a Ray cluster's address to accept a connection
RAY_CONNECT_TIMEOUT_S = 10.0


def check_ray_address(address: str, timeout: float = RAY_CONNECT_TIMEOUT_S) -> None:
    """:class:`RayUnavailable` when a cluster address (``HOST:PORT``) does not accept a connection.

    ``ray.init`` retries an unreachable address for ever (a batch sweep hung for > 400 s);
    ``auto`` and ``ray://`` (Ray Client, which has its own time-out) are left to Ray.
    """
    import socket
    host, sep, port = address.rpartition(":")
    if "://" in address or not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise RayUnavailable(f"Ray did not start at {address}: cannot connect within {timeout:g} s "
                             f"({exc}); is the cluster up? (or run without --ray and unset RAY_ADDRESS, "
                             "or --no-ray)") from None


def _run_ray(tasks: list, workers: int, done: Callable) -> None:
    """One Ray task per scenario; a local Ray instance unless RAY_ADDRESS names a cluster.

    On a cluster, every node needs fleetopt installed (same version) in its Python.
    """
    try:
        import ray
    except ImportError:
        raise RayUnavailable("--ray needs Ray, which is not installed: pip install 'fleetopt[ray]' "
                             "(or run without --ray and unset RAY_ADDRESS)") from None
    started = False
    main = threading.current_thread() is threading.main_thread()
    before = signal.getsignal(signal.SIGTERM) if main else None
    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS") or None
        kw = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
        if address is None:
            kw["num_cpus"] = workers
        else:
            check_ray_address(address)
        try:
            ray.init(address=address, **kw)
        except Exception as exc:  # noqa: BLE001 - Ray's own words say what is missing
            raise RayUnavailable(f"Ray did not start{f' at {address}' if address else ''}: {exc} "
                                 "(or run without --ray and unset RAY_ADDRESS)") from None
        started = True
        # ray.init replaced the caller's SIGTERM handling (its Python handler exits 15, and its
        # core worker's C++ handler aborts with a stack dump: exit 134); put it back, so that
        # SIGTERM exits 143 as with processes, after the `finally` stopped the local instance
        if before is not None:
            signal.signal(signal.SIGTERM, before)
    try:
        remote = ray.remote(num_cpus=1)(run_scenario)
        refs = {remote.remote(t): t for t in tasks}
        pending = list(refs)
        with sigterm_exits():
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                for r in ready:
                    try:
                        rec = ray.get(r)
                    except Exception as exc:  # noqa: BLE001 - a task or its worker failed
                        rec = _crashed(exc)
                    done(refs[r], rec)
    finally:
        if started:
            ray.shutdown()
            if before is not None:
                signal.signal(signal.SIGTERM, before)


# ---------------------------------------------------------------------- the table
def table_columns(rows: Sequence[dict], param_paths: Sequence[str]) -> list[str]:
    """The leading columns, then (when some row has them) a multi-period plan's capex, then the
    devices per accelerator (``devices_<acc>``: procured; ``devices_bought_<acc>``: bought over a
    multi-period plan's horizon), sorted (QA s20: the capex plan_summary gave was dropped here)."""
    keys = {k for r in rows for k in r}
    devs = sorted(k for k in keys if k.startswith("devices_"))
    return ["scenario", *param_paths, *SUMMARY_COLUMNS, *(["capex_usd"] if "capex_usd" in keys else []), *devs]


def _cell(v: Any) -> Any:
    import json
    if isinstance(v, (list, dict)):
        return json.dumps(v, separators=(",", ":"))
    return v


def check_output(path) -> None:
    """Fail before solving anything when the table cannot be written in the asked format."""
    from pathlib import Path
    suffix = Path(path).suffix.lower()
    if suffix not in (".csv", ".parquet"):
        # (QA: '--out -' and '--out out/' said "unknown results format '(none)'")
        what = (f"unknown results format {suffix!r}" if suffix else
                f"--out {str(path)!r} is not a file name ending .csv or .parquet (the table is written to a "
                "file, not to stdout or a folder)")
        raise InputError(InputIssue(what, path="--out", hint="name the file .csv or .parquet, e.g. --out results.csv"))
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
            import pyarrow.parquet  # noqa: F401
        except ImportError:
            raise InputError(InputIssue("writing Parquet needs pyarrow, which is not installed",
                                        path="--out",
                                        hint="pip install pyarrow, or use --out results.csv")) from None


def write_table(result: SweepResult, path, *, protect: tuple = ()) -> str:
    """Write the rows as CSV (always) or Parquet (``.parquet``, needs pyarrow); returns the format."""
    from pathlib import Path

    from solver.yamlio import atomic_write_bytes, atomic_write_text
    path = Path(path)
    check_output(path)
    if path.suffix.lower() == ".parquet":
        import io

        import pyarrow as pa
        import pyarrow.parquet as pq
        cols = {c: [_cell(r.get(c)) for r in result.rows] for c in result.columns}
        for c, vals in cols.items():  # one type per column: mixed parameter values become text
            kinds = {type(v) for v in vals if v is not None}
            if len(kinds) > 1 and not kinds <= {int, float}:
                cols[c] = [None if v is None else str(v) for v in vals]
            elif kinds == {int, float}:
                cols[c] = [None if v is None else float(v) for v in vals]
        buf = io.BytesIO()
        pq.write_table(pa.table(cols), buf)
        atomic_write_bytes(path, buf.getvalue(), protect=protect)
        return "parquet"
    import csv
    import io
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(result.columns)
    for r in result.rows:
        w.writerow(["" if r.get(c) is None else _cell(r.get(c)) for c in result.columns])
    atomic_write_text(path, buf.getvalue(), protect=protect)
    return "csv"
