"""Warm start: turn an earlier plan into a starting solution of this problem's model.

A quarterly re-optimisation usually changes little: demand grew, a price moved.
Last quarter's plan is then an excellent first incumbent, and solvers that get
one prune far more of their search.  The plan is matched to this model by
deployment id (``model:quantization:tpN@offer-key``, as plans write it) and
repaired so that it is feasible for the *new* demand whenever it can be:

* each workload's routes are scaled to its new peak (shares kept; routes to
  deployments that no longer exist are dropped and the others scaled up);
* replicas are raised to what the scaled load needs at the model's utilisation
  ceiling (plus the spare where the plan had one);
* units are the fewest that hold the replicas.

Caps (power, budget, availability) are not repaired: a start that breaks one
is still passed on, as a hint that solvers may use or ignore.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from solver.coefficients import Coefficients
from solver.mip.model import LinearModel
from solver.mip.reduced import resize
from solver.plan import deployment_id


@dataclass
class WarmStart:
    values: np.ndarray
    matched_deployments: int
    unmatched: list[str] = field(default_factory=list)
    feasible: bool = False

    def summary(self) -> str:
        text = (f"warm start from {self.matched_deployments} deployment(s) of the earlier plan"
                f" ({'feasible' if self.feasible else 'not feasible as is; a hint only'})")
        if self.unmatched:
            text += f"; not in this problem: {', '.join(sorted(self.unmatched)[:5])}"
            if len(self.unmatched) > 5:
                text += f" and {len(self.unmatched) - 5} more"
        return text


def start_from_plan(k: Coefficients, model: LinearModel, plan: dict) -> WarmStart:
    """A full solution vector for ``model`` built from ``plan`` (a plan JSON dict)."""
    B = model.blocks
    v = np.zeros(model.n_vars)
    ids = {deployment_id(k, c): c for c in range(k.n_c)}
    pair_of = {(int(w), int(c)): p for p, (w, c) in enumerate(zip(k.pair_w, k.pair_c))}
    w_index = {w: i for i, w in enumerate(k.workloads)}
    spare = np.zeros(k.n_c)
    unmatched = []
    matched = 0
    for d in plan.get("deployments") or []:
        c = ids.get(str(d.get("id")))
        if c is None:
            unmatched.append(str(d.get("id")))
            continue
        matched += 1
        spare[c] = 1.0 if (d.get("spare_replicas") or 0) > 0 else 0.0
    x = np.zeros(k.n_p)
    for r in plan.get("routing") or []:
        c = ids.get(str(r.get("deployment")))
        w = w_index.get(str(r.get("workload")))
        p = pair_of.get((w, c)) if c is not None and w is not None else None
        if p is not None:
            x[p] = max(float(r.get("requests_per_s") or 0.0), 0.0)
    # a spare only where the candidate still serves; routes scaled to this problem's demand,
    # replicas and units re-sized to them
    has_s = B["s_of_c"] >= 0
    routed_c = np.zeros(k.n_c)
    np.add.at(routed_c, k.pair_c, x)
    spare = np.where(has_s & (routed_c > 0), spare, 0.0)
    v[B["x"]] = x
    v[B["s_of_c"][has_s]] = spare[has_s]
    v = np.clip(resize(model, v, demand_fit=True), model.lb, model.ub)
    feasible = not model.violations(v, tol=1e-6)
    return WarmStart(v, matched, unmatched, feasible)
