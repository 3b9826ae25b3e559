"""Backend-neutral linear model: arrays in, arrays out.

The formulation (:mod:`solver.mip.formulation`) builds one :class:`LinearModel`
with vectorised numpy calls; each backend (:mod:`solver.mip.backends`)
translates it to its own API.  Keeping the model as plain arrays lets tests
inspect it, lets two independent solver stacks read exactly the same numbers,
and lets :func:`LinearModel.to_lp_text` write it for debugging without any
solver installed.

Constraint rows are stored in compressed sparse row form (``indptr``,
``indices``, ``data``) built from COO triplets; senses are ``"<"``, ``">"`` or
``"="``.  No scipy: the few operations needed are a sort and a cumulative sum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Iterable, Optional, Sequence

import numpy as np

from solver.errors import InputError, InputIssue

SENSES = ("<", ">", "=")

#: objectives whose largest cost coefficient is below this go to the solvers scaled up
#: (:meth:`LinearModel.objective_scale`) ...
SMALL_OBJECTIVE = 1.0
#: ... by at most this factor
MAX_OBJECTIVE_SCALE = 1e12
#: rows whose coefficients and right-hand side are all below this go to the solvers scaled up
#: (:meth:`LinearModel.small_row_scales`); the fleet model's own rows are larger (a replica's row
#: holds its utilisation cap, 0.85), and stay as they are
SMALL_ROW = 1e-3


@dataclass
class LinearModel:
    """min obj @ v + obj_const  s.t.  A v (sense) rhs,  lb <= v <= ub,  v[is_int] integer."""

    var_names: list[str]
    lb: np.ndarray
    ub: np.ndarray
    is_int: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    sense: np.ndarray          # dtype '<U1'
    rhs: np.ndarray
    row_names: list[str]
    row_family: np.ndarray     # family name per row (for reports and tests)
    obj: np.ndarray
    obj_const: float = 0.0
    #: objective broken into named parts; their sum is ``obj`` (reported line by line)
    obj_parts: dict[str, np.ndarray] = field(default_factory=dict)
    #: name -> index array of a variable block ("y", "n", "x", "s")
    blocks: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_vars(self) -> int:
        return len(self.var_names)

    @property
    def n_rows(self) -> int:
        return len(self.rhs)

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Column indices and coefficients of row ``i``."""
        a, b = self.indptr[i], self.indptr[i + 1]
        return self.indices[a:b], self.data[a:b]

    def row_of_nnz(self) -> np.ndarray:
        """The row of every nonzero, in CSR order (the COO row indices)."""
        return np.repeat(np.arange(self.n_rows, dtype=np.int64), np.diff(self.indptr))

    def activity(self, v: np.ndarray) -> np.ndarray:
        """A @ v for every row (used to check a solution without a solver)."""
        prod = self.data * v[self.indices]
        out = np.zeros(self.n_rows)
        np.add.at(out, self.row_of_nnz(), prod)
        return out

    def violations(self, v: np.ndarray, tol: float = 1e-6) -> list[str]:
        """Rows and bounds that ``v`` breaks by more than ``tol`` (relative to the row size)."""
        act = self.activity(v)
        scale = np.maximum(1.0, np.abs(self.rhs))
        bad: list[str] = []
        with np.errstate(over="ignore"):       # a limit of 1e308 plus its tolerance is inf: no limit
            broken = (((self.sense == "<") & (act > self.rhs + tol * scale))
                      | ((self.sense == ">") & (act < self.rhs - tol * scale))
                      | ((self.sense == "=") & (np.abs(act - self.rhs) > tol * scale)))
        for i in np.flatnonzero(broken):
            bad.append(f"{self.row_names[i]}: {act[i]:.6g} {self.sense[i]} {self.rhs[i]:.6g}")
        for j in np.flatnonzero((v < self.lb - tol) | (v > self.ub + tol)):
            bad.append(f"bound {self.var_names[j]}={v[j]:.6g} outside [{self.lb[j]}, {self.ub[j]}]")
        for j in np.flatnonzero(self.is_int & (np.abs(v - np.round(v)) > 1e-5)):
            bad.append(f"integrality {self.var_names[j]}={v[j]:.6g}")
        return bad

    def objective_value(self, v: np.ndarray) -> float:
        return float(self.obj @ v + self.obj_const)

    def objective_scale(self) -> float:
        """The power of ten that brings the largest cost coefficient to [1, 10) when it is below
        ``SMALL_OBJECTIVE``, else 1: what the solvers get (:meth:`scaled`).

        Why: solvers compare reduced costs and gaps with *absolute* tolerances (HiGHS: 1e-7 on
        dual feasibility, 1e-6 on the MIP gap).  Priced at 1e-7 USD a device-hour, every cost of a
        problem lies below them: CBC, SCIP and HiGHS each called a different plan optimal, 4-8%
        above the optimum.  Costs of a normal size are left as they are.
        """
        c = np.abs(self.obj[np.isfinite(self.obj)])
        big = float(c.max()) if len(c) else 0.0
        if big <= 0.0 or big >= SMALL_OBJECTIVE:
            return 1.0
        # (the exponent capped first: a coefficient of 1e-320 overflowed 10 ** 320, QA fuzz)
        return float(10.0 ** min(math.ceil(-math.log10(big)), round(math.log10(MAX_OBJECTIVE_SCALE))))

    def small_row_scales(self) -> Optional[np.ndarray]:
        """Per row, the power of ten that brings a row whose coefficients and right-hand side are all
        below ``SMALL_ROW`` to [1, 10) (1 for the others), or None when no row is that small.

        Why: solvers accept a row violated by up to an *absolute* tolerance (HiGHS: 1e-7).  A budget of
        7e-9 USD a month, priced in the same tiny units as the costs, was overrun twice over by plans
        four solvers called optimal (QA s21).  Scaling a row by a positive factor keeps its solutions."""
        if not self.n_rows:
            return None
        mag = np.abs(self.rhs).astype(float)
        if len(self.data):
            np.maximum.at(mag, self.row_of_nnz(), np.abs(self.data))
        small = (mag > 0.0) & (mag < SMALL_ROW)
        if not small.any():
            return None
        out = np.ones(self.n_rows)
        out[small] = 10.0 ** np.minimum(np.ceil(-np.log10(mag[small])), round(math.log10(MAX_OBJECTIVE_SCALE)))
        return out

    def scaled(self, scale: float) -> "LinearModel":
        """The model the solvers get: the objective multiplied by ``scale`` (every objective figure -
        value, bound, cutoff - times ``scale``) and the rows of :meth:`small_row_scales` scaled up;
        the same plans and the same optimum.  Itself when nothing changes."""
        rows = self.small_row_scales()
        if scale == 1.0 and rows is None:
            return self
        out = self if scale == 1.0 else replace(
            self, obj=self.obj * scale, obj_const=self.obj_const * scale,
            obj_parts={k: v * scale for k, v in self.obj_parts.items()})
        if rows is not None:
            out = replace(out, data=self.data * rows[self.row_of_nnz()], rhs=self.rhs * rows)
        return out

    def lowered(self, v: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """``v`` with each integer column of ``cols`` (in order) lowered by as many whole units as
        every row and bound still allows, the others held; only where that costs nothing more.

        Why: a replica that no row needs and the objective does not price (its server is paid
        anyway) is a free choice the solvers make differently: plans of the same optimum then
        list idle deployments on one backend and not on another, and their cost is attributed
        to no workload.  Lowering keeps every row within its limit, so the plan stays feasible
        and its objective does not rise.
        """
        out = np.array(v, dtype=float)
        act = self.activity(out)
        rows_of = self.row_of_nnz()
        order = np.argsort(self.indices, kind="stable")
        starts = np.searchsorted(self.indices[order], np.arange(self.n_vars + 1))
        for j in cols:
            j = int(j)
            have = round(out[j])
            if not self.is_int[j] or have <= self.lb[j] or self.obj[j] < 0 or have < 0.5:
                continue
            nz = order[starts[j]:starts[j + 1]]
            rows, a = rows_of[nz], self.data[nz]
            room = float(have - max(self.lb[j], 0.0))
            for i, aij in zip(rows, a):
                sense = self.sense[i]
                if sense == "=":
                    room = 0.0
                elif (sense == "<") == (aij < 0):    # lowering moves the row towards its limit
                    slack = self.rhs[i] - act[i] if sense == "<" else act[i] - self.rhs[i]
                    room = min(room, max(0.0, slack / abs(aij)))
                if room < 1.0:
                    break
            step = math.floor(room + 1e-9)
            if step >= 1:
                out[j] = have - step
                np.add.at(act, rows, -a * step)
        return out

    # ------------------------------------------------------------------ debugging output
    def to_lp_text(self) -> str:
        """CPLEX-LP text of the model (``--save-lp``); readable by CBC, HiGHS and SCIP."""
        vnames = _unique([_lp_name(n, j) for j, n in enumerate(self.var_names)])
        rnames = _unique([_lp_name(n, i) for i, n in enumerate(self.row_names)])

        def name(j: int) -> str:
            return vnames[j]

        def terms(cols: Iterable[int], vals: Iterable[float]) -> str:
            parts = []
            for j, c in zip(cols, vals):
                if c == 0:
                    continue
                parts.append(f"{'+' if c >= 0 else '-'} {abs(c):.17g} {name(j)}")
            return " ".join(parts) if parts else "0 " + name(0)

        out = ["\\ fleetopt model", "Minimize", " obj: " + terms(np.flatnonzero(self.obj),
                                                                   self.obj[self.obj != 0]),
               "Subject To"]
        op = {"<": "<=", ">": ">=", "=": "="}
        for i in range(self.n_rows):
            cols, vals = self.row(i)
            out.append(f" {rnames[i]}: {terms(cols, vals)} "
                       f"{op[self.sense[i]]} {self.rhs[i]:.17g}")
        out.append("Bounds")
        for j in range(self.n_vars):
            ub = "+inf" if not np.isfinite(self.ub[j]) else f"{self.ub[j]:.17g}"
            out.append(f" {self.lb[j]:.17g} <= {name(j)} <= {ub}")
        ints = [name(j) for j in np.flatnonzero(self.is_int)]
        if ints:
            out.append("General")
            out += [" " + n for n in ints]
        out.append("End")
        return "\n".join(out) + "\n"


def _unique(names: list[str]) -> list[str]:
    """Make sanitised names unique by suffixing a counter."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if n in seen:
            seen[n] += 1
            n = f"{n}_{seen[n]}"
        seen.setdefault(n, 0)
        out.append(n)
    return out


def _lp_name(raw: str, i: int) -> str:
    """LP-format-safe name (alphanumerics and a few symbols, at most 255 chars)."""
    safe = "".join(ch if ch.isalnum() or ch in "_.()" else ("(" if ch == "[" else ")" if ch == "]" else "_")
                   for ch in raw)
    if not safe or safe[0].isdigit() or safe[0] == ".":
        safe = "v" + safe
    return (safe[:200] + f"_{i}") if len(safe) > 200 else safe


def overflow_error(what: str) -> InputError:
    """A coefficient of the model is inf or NaN: some input number is so extreme (a price,
    power or bandwidth of 1e308 or 1e-300, a horizon of centuries) that products of it overflow.
    The schemas bound the usual suspects; this names the rest as bad input, not a crash."""
    return InputError(InputIssue(
        f"the model's {what} overflows (a coefficient is inf or NaN)", path="(numbers)",
        hint="an input number is far out of range (check prices, power, bandwidth, demand, "
             "horizon and growth in the problem and catalog overlays for typos and unit slips)"))


class ModelBuilder:
    """Collects variable blocks and constraint rows (COO), then freezes a :class:`LinearModel`."""

    def __init__(self) -> None:
        self._names: list[str] = []
        self._lb: list[np.ndarray] = []
        self._ub: list[np.ndarray] = []
        self._int: list[np.ndarray] = []
        self.blocks: dict[str, np.ndarray] = {}
        self._rows_r: list[np.ndarray] = []
        self._rows_c: list[np.ndarray] = []
        self._rows_v: list[np.ndarray] = []
        self._sense: list[np.ndarray] = []
        self._rhs: list[np.ndarray] = []
        self._row_names: list[str] = []
        self._family: list[np.ndarray] = []
        self.n_vars = 0
        self.n_rows = 0
        self.obj_parts: dict[str, np.ndarray] = {}

    def add_vars(self, block: str, names: Sequence[str], lb, ub, integer: bool) -> np.ndarray:
        """Add a block of variables; returns their indices."""
        n = len(names)
        idx = np.arange(self.n_vars, self.n_vars + n)
        self._names += list(names)
        self._lb.append(np.broadcast_to(np.asarray(lb, float), (n,)).copy())
        self._ub.append(np.broadcast_to(np.asarray(ub, float), (n,)).copy())
        self._int.append(np.full(n, bool(integer)))
        self.n_vars += n
        self.blocks[block] = idx
        return idx

    def add_rows(self, family: str, row_of_term, col, val, sense, rhs,
                 names: Sequence[str]) -> None:
        """Add ``len(rhs)`` rows; term k puts ``val[k]`` at (row_of_term[k], col[k]).

        ``row_of_term`` is local (0..len(rhs)-1).  Duplicate (row, col) terms are summed.
        """
        rhs = np.asarray(rhs, float).ravel()
        m = len(rhs)
        if m == 0:
            return
        r = np.asarray(row_of_term, dtype=np.int64).ravel()
        c = np.asarray(col, dtype=np.int64).ravel()
        v = np.asarray(val, float).ravel()
        if not (len(r) == len(c) == len(v)):
            raise ValueError(f"{family}: term arrays differ in length")
        if len(r) and (r.min() < 0 or r.max() >= m):
            raise ValueError(f"{family}: row index out of range")
        if not np.all(np.isfinite(v)) or not np.all(np.isfinite(rhs)):
            raise overflow_error(family)
        self._rows_r.append(r + self.n_rows)
        self._rows_c.append(c)
        self._rows_v.append(v)
        s = np.broadcast_to(np.asarray(sense, dtype="<U1"), (m,)).copy()
        if not set(np.unique(s)) <= set(SENSES):
            raise ValueError(f"{family}: bad sense")
        self._sense.append(s)
        self._rhs.append(rhs)
        if len(names) != m:
            raise ValueError(f"{family}: {len(names)} names for {m} rows")
        self._row_names += [f"{family}[{n}]" for n in names]
        self._family.append(np.full(m, family, dtype=object))
        self.n_rows += m

    def add_objective(self, part: str, col, val) -> None:
        """Add cost terms to a named objective part (summed into the objective)."""
        if not np.all(np.isfinite(np.asarray(val, float))):
            raise overflow_error(f"objective part {part!r}")
        vec = self.obj_parts.setdefault(part, np.zeros(0))
        if len(vec) < self.n_vars:
            vec = np.concatenate([vec, np.zeros(self.n_vars - len(vec))])
        np.add.at(vec, np.asarray(col, dtype=np.int64), np.asarray(val, float))
        self.obj_parts[part] = vec

    def build(self) -> LinearModel:
        n = self.n_vars
        cat = lambda xs, dt=float: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)  # noqa: E731
        r = cat(self._rows_r, np.int64)
        c = cat(self._rows_c, np.int64)
        v = cat(self._rows_v)
        keep = v != 0
        r, c, v = r[keep], c[keep], v[keep]
        # sum duplicates, sort by (row, col)
        key = r * max(n, 1) + c
        order = np.argsort(key, kind="stable")
        key, r, c, v = key[order], r[order], c[order], v[order]
        uniq, start = np.unique(key, return_index=True)
        v = np.add.reduceat(v, start) if len(v) else v
        r, c = r[start], c[start]
        indptr = np.zeros(self.n_rows + 1, dtype=np.int64)
        np.add.at(indptr, r + 1, 1)
        indptr = np.cumsum(indptr)
        parts = {}
        for k, vec in self.obj_parts.items():
            if len(vec) < n:
                vec = np.concatenate([vec, np.zeros(n - len(vec))])
            parts[k] = vec
        obj = np.sum(list(parts.values()), axis=0) if parts else np.zeros(n)
        return LinearModel(
            var_names=self._names, lb=cat(self._lb), ub=cat(self._ub), is_int=cat(self._int, bool),
            indptr=indptr, indices=c, data=v,
            sense=cat(self._sense, "<U1"), rhs=cat(self._rhs), row_names=self._row_names,
            row_family=cat(self._family, object), obj=obj, obj_parts=parts,
            blocks=dict(self.blocks))
