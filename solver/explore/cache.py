"""Result cache of sweeps: one JSON file per solved scenario, keyed by what decides the result.

The key is the SHA-256 of the canonical JSON of

* the resolved problem document (after the sweep's edits; ``scenarios`` dropped),
* the catalog version (shipped + overlays, with a content hash) and the SHA-256
  of every overlay file the document names,
* the fleetopt version *and* a digest of its own source files (so a code
  change during development never serves a stale result),
* the content of the performance-model calibration in effect (the shipped
  ``catalogs/calibration/perf_params.yaml`` or ``$FLEETOPT_CALIBRATION_DIR``'s:
  outside ``solver/``, so the source digest does not cover it) and the
  versions of the solver libraries (an upgrade can change a row),
* the solver options (backend, solver, time limit, gap, threads).

Records are written atomically by the parent process only, so concurrent
workers never race on a file, and an interrupted sweep keeps what finished.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Optional

import solver
from solver.errors import InputError, InputIssue
from solver.yamlio import atomic_write_text, folder_problem

#: bump when the record layout changes
CACHE_FORMAT = 1
DEFAULT_CACHE_DIR = ".fleetopt-cache"


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace; non-finite floats and odd types made explicit."""
    def fix(x):
        if isinstance(x, float) and not math.isfinite(x):
            return f"float:{x}"
        if isinstance(x, dict):
            return {str(k): fix(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [fix(v) for v in x]
        if x is None or isinstance(x, (str, int, float, bool)):
            return x
        return f"{type(x).__name__}:{x}"
    return json.dumps(fix(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=True)


@lru_cache(maxsize=1)
def source_digest() -> str:
    """SHA-256 over fleetopt's Python sources and packaged data (path + bytes, sorted)."""
    root = Path(solver.__file__).resolve().parent
    h = hashlib.sha256()
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".py", ".yaml", ".json", ".csv")
                   and "__pycache__" not in p.parts)
    for p in files:
        h.update(str(p.relative_to(root)).encode())
        h.update(b"\0")
        h.update(p.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def tool_version() -> str:
    return f"{solver.__version__}+src.{source_digest()[:16]}"


#: the solver libraries whose versions are part of the key (absent ones count as None)
SOLVER_LIBRARIES = ("highspy", "pulp", "ortools")


@lru_cache(maxsize=1)
def solver_versions() -> dict:
    """Installed versions of the solver libraries: a ``pip install -U`` can change a result, or
    turn a cached ``time_limit`` row into an optimal one."""
    from importlib import metadata
    out = {}
    for name in SOLVER_LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


_CALIBRATION: tuple = (None, "")     # (the PerfParams object, its digest)


def calibration_digest() -> str:
    """SHA-256 of the content of the performance-model calibration in effect.

    Its content (:meth:`PerfParams.key`), not its path: a refit rewrites the shipped file in
    place, and ``$FLEETOPT_CALIBRATION_DIR`` may name another.  Computed once per loaded object.
    """
    global _CALIBRATION
    from solver.perf.params import default_params
    params = default_params()
    if _CALIBRATION[0] is not params:
        _CALIBRATION = (params, hashlib.sha256(canonical_json(params.key()).encode()).hexdigest())
    return _CALIBRATION[1]


def calibration_version() -> str:
    """The calibration in effect, as plans record it (``versions.calibration``): a short form of
    :func:`calibration_digest`, like the problem's fingerprint."""
    return "sha256:" + calibration_digest()[:16]


def file_digest(path: str | os.PathLike) -> Optional[str]:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def overlay_digests(doc: dict, problem_file: str, extra: Iterable[str] = ()) -> dict:
    """SHA-256 of every catalog overlay the document names (relative to the problem) and ``extra``."""
    base = Path(problem_file).parent
    out = {}
    names = doc.get("catalog") if isinstance(doc.get("catalog"), list) else []
    for c in names:
        p = Path(str(c))
        out[f"problem:{c}"] = file_digest(p if p.is_absolute() else base / p)
    for c in extra:
        out[f"cli:{c}"] = file_digest(c)
    return out


def scenario_key(doc: dict, *, catalog_version: str, overlays: dict, options: dict) -> str:
    payload = {"format": CACHE_FORMAT, "problem": doc, "catalog": catalog_version,
               "overlays": overlays, "fleetopt": tool_version(), "options": options,
               "calibration": calibration_digest(), "solvers": solver_versions()}
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def check_cache_dir(directory: str | os.PathLike) -> None:
    """:class:`InputError` when the cache cannot be written, before the first solve, not after."""
    problem = folder_problem(directory)
    if not problem:
        # permissions can pass where writing cannot (QA s26: root under /proc); the folder is made now,
        # as the first record would make it, and a file written and removed in it
        try:
            os.makedirs(directory, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=directory, prefix=".probe-"):
                pass
        except OSError as exc:
            problem = f"{type(exc).__name__}: {exc.strerror or exc}"
    if problem:
        raise InputError(InputIssue(f"cannot write the result cache: {problem}", file=str(directory),
                                    path="--cache", hint="name a folder you can write (--cache DIR), "
                                                         "or --no-cache"))


class ResultCache:
    """``DIR/ab/abcdef....json`` per key; unreadable records count as misses."""

    def __init__(self, directory: str | os.PathLike):
        self.dir = Path(directory)

    def path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.json"

    def get(self, key: str) -> Optional[dict]:
        try:
            rec = json.loads(self.path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(rec, dict) or rec.get("key") != key or rec.get("format") != CACHE_FORMAT:
            return None
        return rec

    def put(self, key: str, record: dict) -> None:
        rec = {"format": CACHE_FORMAT, "key": key, **record}
        self.path(key).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path(key), json.dumps(rec, separators=(",", ":")) + "\n")
