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
    # scale each workload's routes to its demand in this problem
    routed = np.zeros(k.n_w)
    np.add.at(routed, k.pair_w, x)
    scale = np.where(routed > 0, k.demand_rps / np.maximum(routed, 1e-12), 0.0)
    x = x * scale[k.pair_w]
    # replicas the load needs, plus the spare
    load = np.zeros(k.n_c)
    np.add.at(load, k.pair_c, x / (k.max_utilization * k.pair_cap_rps))
    has_s = B["s_of_c"] >= 0
    spare = np.where(has_s & (load > 0), spare, 0.0)
    y = np.ceil(load - 1e-9) + spare
    y = np.minimum(y, model.ub[B["y"]])
    devices = np.zeros(k.n_o)
    np.add.at(devices, k.cand_offer(), k.cand_tp() * y)
    g = k.offer_array("devices_per_unit")
    n = np.ceil(devices / g - 1e-9)
    v[B["y"]] = y
    v[B["n"]] = n
    v[B["x"]] = x
    v[B["s_of_c"][has_s]] = spare[has_s]
    v = np.clip(v, model.lb, model.ub)
    feasible = not model.violations(v, tol=1e-6)
    return WarmStart(v, matched, unmatched, feasible)
