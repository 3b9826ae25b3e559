"""Helpers shared by the MIP tests: hand-made coefficients without any catalog.

(Collected by pytest but holds no tests; imported by the test_mip* modules.)
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from solver.coefficients import CandidateInfo, Coefficients, OfferInfo


def offer(acc="a", region="r", mode="on_demand", g=1, usd_per_device_hour=1.0, *, existing=False,
          max_units=None, tdp_w=700.0, idle_w=0.0, pue=1.0, elec=0.0, carbon=0.0,
          energy_charged=False, capex=0.0, parts: Optional[tuple] = None, instance="i") -> OfferInfo:
    part = "purchase_amortisation" if mode == "purchase" else f"rental_{mode}"
    return OfferInfo(acc, region, mode, "p", instance, g, existing=existing, max_units=max_units,
                     usd_per_device_hour=parts if parts is not None else ((part, usd_per_device_hour),),
                     capex_usd_per_device=capex, tdp_w=tdp_w, idle_w=idle_w, pue=pue,
                     electricity_usd_per_kwh=elec, carbon_g_per_kwh=carbon,
                     energy_charged=energy_charged)


def coeffs(offers: Sequence[OfferInfo], cands: Sequence[tuple], pairs: Sequence[tuple],
           demand: Sequence[float], *, u=1.0, hours=1.0, spot_share=1.0, n_plus_1=None,
           quality_min=None, mean_mode=None, load_factor=None, idle_c=None, **kw) -> Coefficients:
    """cands: (offer index, tp, quality); pairs: (w, c, cap_rps[, power_w])."""
    W = len(demand)
    C = len(cands)
    cand = [CandidateInfo(f"m{i}", "q", t, o, i, q) for i, (o, t, q) in enumerate(cands)]
    pw = np.array([p[0] for p in pairs], np.int64)
    pc = np.array([p[1] for p in pairs], np.int64)
    cap = np.array([p[2] for p in pairs], float)
    idle = np.zeros(C) if idle_c is None else np.asarray(idle_c, float)
    power = np.array([p[3] if len(p) > 3 else idle[p[1]] for p in pairs], float)
    return Coefficients(
        workloads=[f"w{i}" for i in range(W)], demand_rps=np.asarray(demand, float),
        n_plus_1=np.zeros(W, bool) if n_plus_1 is None else np.asarray(n_plus_1, bool),
        quality_min=np.full(W, np.nan) if quality_min is None else np.asarray(quality_min, float),
        quality_mean_mode=np.zeros(W, bool) if mean_mode is None else np.asarray(mean_mode, bool),
        energy_load_factor=np.ones(W) if load_factor is None else np.asarray(load_factor, float),
        offers=list(offers), candidates=cand, pair_w=pw, pair_c=pc, pair_cap_rps=cap,
        pair_power_w=power, pair_ttft_ms=np.full(len(pairs), 100.0),
        pair_tpot_ms=np.full(len(pairs), 20.0), cand_idle_w=idle, hours=hours,
        max_utilization=u, max_spot_share=spot_share, **kw)
