"""Check a multi-period plan (its ``periods`` section) without any solver.

For every period and slice: demand met from the problem's own numbers (peak x
growth x profile), routes allowed and within SLO (a pair the performance model
gives a positive capacity), quality targets (per request: every route; ``mean``: the
routed mix), replica load within ``max_utilization`` of the
non-spare replicas, N+1 spares, units cover replicas, spot share, availability caps
(devices procured, owned ones excluded), power caps
(nameplate, against the plan's ``nameplate_kw``), each at the period's own figure where the
problem gives one per period.  For every period: stock balance of
purchases (lead time), reservations (term) and owned devices (retirements, moves; against the plan's
``owned`` and ``idle_owned_devices``), budget, capex (against the plan's ``capex_usd``; and
``fleet.budget.max_capex_usd_by_period``), and what the
period pays, part by part (``cost_usd``) and in total.  Over the
horizon: capex, and the objective recomputed by plain loops, part by part (``objective.breakdown``,
discounted) and in total, against the plan's figures; every price at the problem's
``price_change_per_period`` (a rental at its period's, a reservation at its start's, a server at its
order's, electricity at its period's; owned devices at catalog price), which the plan must state as the
problem gives it; the caps the plan states, against the problem's;
the single-period sections (procurement, deployments, routing, KPIs), which a multi-period plan leaves empty.
A plan that pools owned devices of different ages under one offer (an earlier version's) gets one
violation that says so.

It shares with the optimiser the coefficient arrays (offers, candidate capacity
and power from the performance model), not the model or its solution.
"""

from __future__ import annotations

import math

from solver.coefficients import RESERVED_TERM_HOURS, age_group, build_coefficients, quality_of
from solver.periods import (merge_slices, owned_offers, pooled_owned_keys, pooled_owned_text, price_changes,
                            profile_fractions, stated_caps, stated_prices, with_move_targets)
from solver.plan import deployment_id
from solver.problem.schema import HOURS_PER_MONTH
from solver.verify import (REL_TOL, VerifyReport, _over, _reported, _same, check_objective_figures,
                           check_energy_charged, check_reported_totals, cost_differs)


def _demand(w, t: int, frac: float) -> float:
    d = w.demand
    if t < d.start_period:
        return 0.0
    if d.growth is not None:
        g = d.growth[t]
    elif d.growth_rate_per_period is not None:
        g = (1.0 + d.growth_rate_per_period) ** (t - d.start_period)
    else:
        g = 1.0
    return d.requests_per_s * g * frac


def verify_period_plan(problem, catalog, plan: dict, *, perf=None) -> VerifyReport:
    rep = VerifyReport()
    per = problem.objective.periods
    pp = plan["periods"]
    if per is None:
        rep.add("periods", "plan", "the plan has periods but the problem has no objective.periods")
        return rep
    T, months = per.count, per.months
    h = months * HOURS_PER_MONTH
    if pp["count"] != T or len(pp["timeline"]) != T:
        rep.add("periods", "plan", f"periods.count is {pp['count']} and periods.timeline has "
                f"{len(pp['timeline'])} periods; the problem's objective.periods.count is {T}")
        return rep
    for name, value in (("months", months), ("period_hours", h),
                        ("discount_rate_per_period", per.discount_rate_per_period)):
        _reported(rep, f"periods.{name}", pp, name, value, kind="periods", source="the problem gives")
    check_period_sections(rep, plan)
    f = problem.fleet
    for name, value in stated_caps(f).items():
        _reported(rep, f"periods.{name}", pp, name, value, kind="periods", source="the problem gives")
    rates = price_changes(per)
    check_stated_prices(rep, pp, rates)
    padded, owned = with_move_targets(problem, catalog)   # placeholder offers for moved devices
    k = owned_offers(build_coefficients(padded, catalog, perf=perf, dominance=False), owned)
    pooled = pooled_owned_keys(plan, [o.key for o in k.offers])
    if pooled:          # each of the checks below would fail on it: say why, once
        rep.add("offer", "periods.timeline", f"{pooled_owned_text(pooled)}; solve the problem again for a plan "
                "this version verifies")
        return rep
    u = f.max_utilization
    wl = {w.id: w for w in problem.workloads}
    offers = {o.key: (i, o) for i, o in enumerate(k.offers)}
    cands = {deployment_id(k, c): c for c in range(k.n_c)}
    pair = {(k.workloads[k.pair_w[p]], int(k.pair_c[p])): p for p in range(k.n_p)}
    # long enough for the longest reservation that starts in the last period (terms run past the horizon)
    longest = max(2, math.ceil(max(RESERVED_TERM_HOURS.values()) / h - 1e-9))
    disc = [(1.0 + per.discount_rate_per_period) ** -t for t in range(T + longest + 1)]
    e_per_wh = [0.0] * k.n_o
    c_per_wh = [0.0] * k.n_o
    for i, o in enumerate(k.offers):
        charged = o.energy_charged and problem.objective.include_energy
        e_per_wh[i] = o.pue * o.electricity_usd_per_kwh / 1000.0 if charged else 0.0
        c_per_wh[i] = o.pue * o.carbon_g_per_kwh / 1e6 * problem.objective.carbon_usd_per_tonne / 1000.0
    def price(o, t: int) -> float:
        """Multiplier of offer o's price for a decision made in period t (owned devices: sunk, 1)."""
        return 1.0 if o.existing else (1.0 + rates.get(o.acquisition, 0.0)) ** t

    def in_service_usd(i: int, o, t: int) -> float:
        """What one unit of a purchase or reservation offer costs while in service in period t,
        discounted: its hourly parts other than what the decision itself pays (a purchase's
        depreciation, and its maintenance where prices change; a reservation's rate) and the energy
        and carbon of its devices at idle, as the checks below price them.  A decision's ``buy_usd``
        / ``reserve_usd`` adds this for the periods its units serve (QA s26: those figures, printed in
        period_units.csv, went unchecked)."""
        g, usd = o.devices_per_unit, 0.0
        for part, r in o.usd_per_device_hour:
            paid_by_decision = (part == "purchase_amortisation" or part.startswith("rental_reserved")
                                or (part == "maintenance" and bool(rates.get("purchase"))
                                    and o.acquisition == "purchase"))
            if not paid_by_decision:
                usd += g * r * h
        usd += g * o.idle_w * h * (e_per_wh[i] * (1.0 + rates.get("electricity", 0.0)) ** t + c_per_wh[i])
        return usd * disc[t]

    kind = {}
    for key, (i, o) in offers.items():
        kind[key] = ("existing" if o.existing else "elastic" if o.acquisition in ("on_demand", "spot")
                     else "reserved" if o.acquisition in RESERVED_TERM_HOURS else "purchase")
    weights = [s["weight"] for s in pp["slices"]]
    members = [s["profile_index"] for s in pp["slices"]]
    # within_period "peak": one slice per period at each workload's daily peak, energy at its mean load
    peak = per.within_period == "peak"
    if peak and len(weights) != 1:
        rep.add("slices", "plan", f"periods are sized for the daily peak (one slice), the plan has {len(weights)}")
    load_share = {w.id: (sum(w.demand.profile) / len(w.demand.profile) / max(w.demand.profile)
                         if peak and w.demand.profile and max(w.demand.profile) > 0 else 1.0)
                  for w in problem.workloads}
    if abs(sum(weights) - 1.0) > 1e-6:
        rep.add("slices", "plan", f"slice weights sum to {sum(weights)}, not 1")
    # the slices are the problem's (its workloads' daily profiles, merged where every workload has one
    # level): a plan's own weights or hours would let it price and size its fleet on another day (QA:
    # weights 0.6/0.3/0.1 for 0.5/0.33/0.17, or the peak hours relabelled, passed with laundered costs)
    day = profile_fractions(list(problem.workloads))
    n_hours = day.shape[1]
    want = [list(range(n_hours))] if peak else [list(m) for m in merge_slices(day)[2]]
    rep.checks += 1
    if [sorted(m) for m in members] != want:
        rep.add("slices", "periods.slices", f"the plan's slices hold the hours {members}, the problem's daily "
                f"profiles make {want}")
    if len(want) == len(weights):
        for s_, m in enumerate(want):
            rep.checks += 1
            if abs(weights[s_] - len(m) / n_hours) > 1e-9:
                rep.add("slices", f"periods.slices[{s_}].weight", f"plan says {weights[s_]:.9g}, the slice "
                        f"holds {len(m)} of {n_hours} hours: {len(m) / n_hours:.9g}")
        # the rest of the check sizes and prices the problem's day, slice by slice
        weights, members = [len(m) / n_hours for m in want], want
    obj: dict[str, float] = {}      # the objective by part (discounted), recomputed
    energy_kwh = co2_kg = 0.0
    capex = 0.0
    accrued = 0.0
    idle_periods = 0.0      # owned devices not in service, summed over the periods
    history: dict[tuple, list] = {}
    moved: dict[str, int] = {}          # offer key -> devices moved in minus moved out, so far
    for t, row in enumerate(pp["timeline"]):
        kwh_before, co2_before = energy_kwh, co2_kg
        for mv in row.get("moves", []):
            a, b = offers.get(mv["from"]), offers.get(mv["to"])
            rep.checks += 1
            if (a is None or b is None or per.move_usd_per_device is None or not a[1].existing
                    or not b[1].existing or a[1].accelerator != b[1].accelerator
                    or a[1].age_group != b[1].age_group):
                rep.add("move", f"period {t}", f"{mv['from']} -> {mv['to']} is not an allowed move")
                continue
            moved[mv["from"]] = moved.get(mv["from"], 0) - mv["devices"]
            moved[mv["to"]] = moved.get(mv["to"], 0) + mv["devices"]
            _add(obj, "moves", mv["devices"] * per.move_usd_per_device * disc[t])
        units = {}
        for ur in row["units"]:
            if ur["offer"] not in offers:
                rep.add("offer", f"period {t}", f"unknown offer {ur['offer']}")
                continue
            units[ur["offer"]] = ur
            o_ = offers[ur["offer"]][1]
            # the row's descriptive fields are the offer's (reports print them, and read its counts by kind)
            for field_, want_ in (("accelerator", o_.accelerator), ("region", o_.region),
                                  ("acquisition", o_.acquisition), ("kind", kind[ur["offer"]]),
                                  ("devices_per_unit", o_.devices_per_unit)):
                rep.checks += 1
                if ur.get(field_) != want_:
                    rep.add("structure", f"periods.timeline[{t}].units {ur['offer']}.{field_}",
                            (f"plan says {ur[field_]!r}" if field_ in ur else "missing") + f", the offer is {want_!r}")
            by = ur.get("by_slice")
            if kind[ur["offer"]] == "elastic" and by is not None and (
                    not isinstance(by, list) or len(by) != len(weights)):
                rep.add("structure", f"periods.timeline[{t}].units {ur['offer']}.by_slice",
                        f"{by!r}: one count per slice ({len(weights)}) expected")
                # read as no rentals below (flagged here); a copy: the plan given is never changed
                units[ur["offer"]] = {**ur, "by_slice": None}
            for dec, right in (("buy", "purchase"), ("reserve", "reserved"), ("retire", "existing")):
                history.setdefault((dec, ur["offer"]), [0] * T)[t] = ur.get(dec, 0)
                if ur.get(dec) and kind[ur["offer"]] != right:
                    rep.add("structure", f"{ur['offer']} period {t}", f"a {dec} decision on a "
                            f"{kind[ur['offer']]} offer (only {right} offers have one)")
        pay_t: dict[str, float] = {}    # what period t pays, by part (undiscounted)
        capex_t = idle_t = 0.0
        # ---- stock balance and fixed-unit costs
        for key, (i, o) in offers.items():
            ur = units.get(key, {})
            g = o.devices_per_unit
            rates_o = dict(o.usd_per_device_hour)
            kd = kind[key]
            if kd == "elastic":
                continue
            n = ur.get("in_service", 0)
            rep.checks += 1
            if kd == "purchase":
                acc = catalog.accelerators[o.accelerator].purchase
                lead = math.ceil(acc.lead_time_quarters.value * 3.0 / months - 1e-9) if (acc and o.instance == "server") else 0
                arrived = sum(history.get(("buy", key), [0] * T)[tau] for tau in range(0, t - lead + 1))
                if n != arrived:
                    rep.add("stock", f"{key} period {t}", f"{n} units in service, {arrived} ordered by "
                            f"period {t - lead} (lead time {lead})", abs(n - arrived))
                if ur.get("buy") and t + lead > T - 1:
                    rep.add("stock", f"{key} period {t}", "ordered too late to serve within the horizon")
                capex_t += ur.get("buy", 0) * g * o.capex_usd_per_device * price(o, t)
                life = acc.useful_life_years.value * 8760.0 if (acc and o.instance == "server") else math.inf
                buys = history.get(("buy", key), [0] * T)
                commit = sum(in_service_usd(i, o, t2) for t2 in range(t + lead, T))    # per unit ordered in t
                for part, r in rates_o.items():
                    if part == "purchase_amortisation":
                        # the objective: each order depreciated over the periods of its useful life
                        # within the horizon, at its period's price; the period: what the orders in
                        # service depreciate in t, each at its own
                        held = sum(disc[t2] * min(h, max(0.0, life - (t2 - t - lead) * h))
                                   for t2 in range(t + lead, T))
                        _add(obj, part, ur.get("buy", 0) * g * r * price(o, t) * held)
                        commit += g * r * price(o, t) * held
                        _add(pay_t, part, sum(buys[tau] * g * r * price(o, tau)
                                              * min(h, max(0.0, life - (t - tau - lead) * h))
                                              for tau in range(t - lead + 1)))
                    elif part == "maintenance" and rates.get("purchase"):
                        # a fraction of the price: each order's at its period's price, while in service
                        _add(obj, part, ur.get("buy", 0) * g * r * price(o, t) * h * sum(disc[t + lead:T]))
                        commit += g * r * price(o, t) * h * sum(disc[t + lead:T])
                        _add(pay_t, part, sum(buys[tau] * g * r * price(o, tau) * h for tau in range(t - lead + 1)))
                    else:       # upkeep of the units in service
                        _add(obj, part, n * g * r * h * disc[t])
                        _add(pay_t, part, n * g * r * h)
                if ur.get("buy"):
                    _reported(rep, f"periods.timeline[{t}] {key}.buy_usd", ur, "buy_usd", ur["buy"] * commit,
                              kind="cost")
                continue
            elif kd == "reserved":
                L, paid = _reservation_terms(RESERVED_TERM_HOURS[o.acquisition], h)
                started = history.get(("reserve", key), [0] * T)
                active = sum(started[tau] for tau in range(max(0, t - L + 1), t + 1))
                if n != active:
                    rep.add("stock", f"{key} period {t}", f"{n} reserved units in service, {active} "
                            f"reservations active (term {L} periods)", abs(n - active))
                commit = sum(in_service_usd(i, o, t2) for t2 in range(t, min(t + L, T)))    # per unit reserved in t
                for part, r in rates_o.items():
                    if part.startswith("rental_reserved"):
                        # paid by the hour from the start of period t, for the whole contract, at t's rate
                        term_usd = g * r * price(o, t) * sum(
                            disc[t + j] * min(h, max(0.0, paid - j * h)) for j in range(math.ceil(paid / h)))
                        _add(obj, part, ur.get("reserve", 0) * term_usd)
                        commit += term_usd
                        _add(pay_t, part, g * r * sum(started[tau] * price(o, tau)
                                                      * min(h, max(0.0, paid - (t - tau) * h))
                                                      for tau in range(t + 1)))
                    else:
                        _add(obj, part, n * g * r * h * disc[t])
                        _add(pay_t, part, n * g * r * h)
                if ur.get("reserve"):
                    _reported(rep, f"periods.timeline[{t}] {key}.reserve_usd", ur, "reserve_usd",
                              ur["reserve"] * commit, kind="cost")
                continue
            else:
                retired = sum(history.get(("retire", key), [0] * T)[:t + 1])
                have = (o.max_units or 0) + moved.get(key, 0)
                if _over(n + retired, have):
                    rep.add("stock", f"{key} period {t}", f"{n} in service + {retired} retired exceed the "
                            f"{have} owned here (incl. moves)", n + retired - have)
                _reported(rep, f"periods.timeline[{t}] {key}.owned", ur, "owned", have - retired, kind="stock")
                idle_t += have - retired - n * g
                for part, r in rates_o.items():
                    _add(obj, part, n * g * r * h * disc[t])
                    _add(pay_t, part, n * g * r * h)
                if ur.get("retire"):
                    val = _resale(problem, catalog, o, t, per), _resale(problem, catalog, o, T, per)
                    retire_usd = ur["retire"] * (disc[t] * (per.retire_usd_per_device - val[0]) + disc[T] * val[1])
                    _add(obj, "retirement", retire_usd)
                    # the figure the retirement note sums (QA s26: an edited retire_usd passed)
                    _reported(rep, f"periods.timeline[{t}] {key}.retire_usd", ur, "retire_usd", retire_usd,
                              kind="cost")
        # ---- per slice
        rep.checks += 1
        if len(row["slices"]) != len(weights):
            rep.add("structure", f"periods.timeline[{t}].slices", f"{len(row['slices'])} slices, the plan's "
                    f"periods.slices (and its day) {len(weights)}")
        for s, sl in enumerate(row["slices"][:len(weights)]):
            ws = weights[s]
            dep = {d["id"]: d for d in sl["deployments"]}
            served = {w: 0.0 for w in wl}
            load = {d: 0.0 for d in dep}
            spot = {w: 0.0 for w in wl}
            qsum = {w: 0.0 for w in wl}         # req/s x quality, and the req/s it covers
            qrps = {w: 0.0 for w in wl}
            n_plus = {}
            watts = [0.0] * k.n_o
            for r in sl["routing"]:
                w, q = wl.get(r["workload"]), _quality(catalog, r["deployment"])
                if w is not None and w.quality and q is not None and r["requests_per_s"] > 1e-9:
                    qsum[w.id] += r["requests_per_s"] * q
                    qrps[w.id] += r["requests_per_s"]
                    if w.quality.mode == "per_request" and q < w.quality.min_score - 1e-9:
                        rep.add("quality", f"{w.id} -> {r['deployment']} period {t} slice {s}",
                                f"quality {q:.4g} below the per-request target {w.quality.min_score}",
                                w.quality.min_score - q)
                        continue
                c = cands.get(r["deployment"])
                p = pair.get((r["workload"], c)) if c is not None else None
                rep.checks += 1
                if p is None or r["deployment"] not in dep:
                    rep.add("route", f"period {t} slice {s}", f"{r['workload']} -> {r['deployment']} is not "
                            "an allowed, SLO-feasible deployment of the plan")
                    continue
                served[r["workload"]] += r["requests_per_s"]
                load[r["deployment"]] += r["requests_per_s"] / k.pair_cap_rps[p]
                o = k.offers[k.candidates[c].offer]
                if o.acquisition == "spot" and not o.existing:
                    spot[r["workload"]] += r["requests_per_s"]
                if wl[r["workload"]].redundancy == "n+1" and r["requests_per_s"] > 1e-9:
                    n_plus[r["deployment"]] = True
                watts[k.candidates[c].offer] += (r["requests_per_s"] / k.pair_cap_rps[p] * load_share[r["workload"]]
                                                 * max(k.pair_power_w[p] - k.cand_idle_w[c], 0.0))
            for wid, w in wl.items():
                prof = w.demand.profile
                frac = (1.0 if peak else prof[members[s][0]] / max(prof)) if prof else 1.0    # of the peak
                need = _demand(w, t, frac)
                told = (row.get("demand_rps") or {}).get(wid)
                if told is not None and s < len(told) and abs(told[s] - need) > REL_TOL * max(1.0, need):
                    rep.add("kpi", f"{wid} period {t} slice {s}", f"plan says demand {told[s]:.6g} req/s, "
                            f"the problem {need:.6g}")
                rep.checks += 1
                if abs(served[wid] - need) > REL_TOL * max(need, 1e-6):     # relative (a period may have none)
                    rep.add("demand", f"{wid} period {t} slice {s}", f"routes {served[wid]:.6g} req/s of "
                            f"{need:.6g}", need - served[wid])
                if f.max_spot_share < 1 and _over(spot[wid], f.max_spot_share * need):
                    rep.add("spot_share", f"{wid} period {t} slice {s}", f"{spot[wid]:.6g} req/s on spot, "
                            f"cap {f.max_spot_share:.0%} of {need:.6g}")
                if w.quality and w.quality.mode == "mean" and qrps[wid] > 0:     # as the model's quality.mean
                    rep.checks += 1
                    mean = qsum[wid] / qrps[wid]
                    if mean < w.quality.min_score - 1e-6:
                        rep.add("quality", f"{wid} period {t} slice {s}", f"routed mean quality {mean:.6g} "
                                f"below the target {w.quality.min_score}", w.quality.min_score - mean)
            used = {}
            for did, d in dep.items():
                c = cands.get(did)
                if c is None:
                    rep.add("deployment", f"period {t} slice {s}", f"unknown deployment {did}")
                    continue
                rep.checks += 1
                lim = u * (d["replicas"] - d["spare_replicas"])
                if _over(load[did], lim) or (lim <= 0 and load[did] > 0):
                    rep.add("capacity", f"{did} period {t} slice {s}", f"load {load[did]:.6g} replicas > "
                            f"{u} x {d['replicas'] - d['spare_replicas']} non-spare")
                if n_plus.get(did) and d["spare_replicas"] < 1:
                    rep.add("redundancy", f"{did} period {t} slice {s}", "N+1 workload without a spare")
                cand = k.candidates[c]
                o = k.offers[cand.offer]
                used[o.key] = used.get(o.key, 0) + cand.tensor_parallel * d["replicas"]
                watts[cand.offer] += d["replicas"] * (k.cand_idle_w[c] - cand.tensor_parallel * o.idle_w)
            kw = {}
            avail = [0.0] * len(f.availability)     # devices procured under each cap (owned ones excluded)
            for key, (i, o) in offers.items():
                ur = units.get(key, {})
                n = (ur.get("by_slice") or [0] * len(weights))[s] if kind[key] == "elastic" else ur.get("in_service", 0)
                # (a by_slice of another length was flagged with the unit rows and read as none)
                g = o.devices_per_unit
                rep.checks += 1
                if _over(used.get(key, 0), g * n):
                    rep.add("units", f"{key} period {t} slice {s}", f"replicas need {used.get(key, 0)} devices, "
                            f"{g * n} procured")
                watts[i] += n * g * o.idle_w
                if kind[key] == "elastic":       # at the period's price
                    for part, r in o.usd_per_device_hour:
                        _add(obj, part, n * g * r * price(o, t) * h * ws * disc[t])
                        _add(pay_t, part, n * g * r * price(o, t) * h * ws)
                for j, pc in enumerate(f.power_caps):
                    if pc.region == o.region and o.acquisition in pc.applies_to:
                        kw[j] = kw.get(j, 0.0) + n * g * o.tdp_w * o.pue / 1000.0
                for j, av in enumerate(f.availability):
                    if (o.accelerator == av.accelerator and not o.existing and av.region in (None, o.region)
                            and (not av.acquisition or o.acquisition in av.acquisition)):
                        avail[j] += n * g
            for j, av in enumerate(f.availability):
                rep.checks += 1
                lim = av.devices_in(t)
                if _over(avail[j], lim):
                    field_ = "" if av.max_devices_by_period is None else f".max_devices_by_period[{t}]"
                    rep.add("availability", f"fleet.availability[{j}]{field_} {av.accelerator}@{av.region or 'any'} "
                            f"period {t} slice {s}", f"{avail[j]:g} devices procured, at most {lim}"
                            + (f" in period {t}" if field_ else ""), avail[j] - lim)
            for j, pc in enumerate(f.power_caps):
                rep.checks += 1
                lim = pc.kw_in(t)
                if _over(kw.get(j, 0.0), lim):
                    where = (f"{pc.region} period {t} slice {s}" if pc.max_kw_by_period is None else
                             f"fleet.power_caps[{j}].max_kw_by_period[{t}] {pc.region} period {t} slice {s}")
                    rep.add("power", where, f"nameplate {kw[j]:.6g} kW > {lim} kW"
                            + ("" if pc.max_kw_by_period is None else f" in period {t}"), kw[j] - lim)
                if "nameplate_kw" in row:       # plans of an earlier version lack it
                    told = row["nameplate_kw"]
                    _same(rep, f"periods.timeline[{t}].nameplate_kw[{j}][{s}]",
                          told[j][s] if j < len(told) and s < len(told[j]) else None, kw.get(j, 0.0), kind="power")
            for i, o in enumerate(k.offers):
                wh = watts[i] * h * ws
                # electricity at the period's price, the carbon price unchanged
                for part, rate in (("energy", e_per_wh[i] * (1.0 + rates.get("electricity", 0.0)) ** t),
                                   ("carbon", c_per_wh[i])):
                    _add(obj, part, wh * rate * disc[t])
                    _add(pay_t, part, wh * rate)
                energy_kwh += wh * o.pue / 1000.0
                co2_kg += wh * o.pue / 1000.0 * o.carbon_g_per_kwh / 1000.0
        # the period's facility kWh and CO2 (plans of an earlier version state the horizon's only)
        _reported(rep, f"periods.timeline[{t}].energy_kwh", row, "energy_kwh", energy_kwh - kwh_before)
        _reported(rep, f"periods.timeline[{t}].co2_kg", row, "co2_kg", co2_kg - co2_before)
        # what the period pays: each part the plan states (the reports print them), its sum and its total
        acc_t = sum(pay_t.values())
        _check_parts(rep, f"periods.timeline[{t}].cost_usd", row.get("cost_usd") or {}, pay_t)
        rep.checks += 1
        if cost_differs(row.get("total_usd"), acc_t):
            rep.add("cost", f"periods.timeline[{t}].total_usd", f"plan says {row.get('total_usd')} USD, "
                    f"recomputed {acc_t:.2f}", None if row.get("total_usd") is None else row["total_usd"] - acc_t)
        parts_t = sum((row.get("cost_usd") or {}).values())
        if cost_differs(row.get("total_usd"), parts_t):
            rep.add("cost", f"periods.timeline[{t}]", f"its parts add up to {parts_t:.2f} USD, its total says "
                    f"{row.get('total_usd')}")
        accrued += acc_t
        capex += capex_t
        _reported(rep, f"periods.timeline[{t}].capex_usd", row, "capex_usd", capex_t, kind="capex")
        _reported(rep, f"periods.timeline[{t}].idle_owned_devices", row, "idle_owned_devices", idle_t, kind="stock")
        idle_periods += idle_t
        if f.budget and f.budget.max_usd_per_month is not None and _over(acc_t / months, f.budget.max_usd_per_month):
            rep.add("budget", f"period {t}", f"{acc_t / months:.2f} USD/month > {f.budget.max_usd_per_month}")
        if f.budget and f.budget.max_capex_usd_by_period is not None:
            rep.checks += 1
            lim = f.budget.max_capex_usd_by_period[t]
            if _over(capex_t, lim):
                at = (f"at period {t}'s price (the catalog's x {(1.0 + rates['purchase']) ** t:.6g}, objective.periods."
                      "price_change_per_period.purchase)" if rates.get("purchase") else "at catalog price")
                rep.add("capex", f"fleet.budget.max_capex_usd_by_period[{t}] period {t}", f"servers ordered in "
                        f"period {t} cost {capex_t:.2f} USD {at} > {lim:g}", capex_t - lim)
    if f.budget and f.budget.max_capex_usd is not None and _over(capex, f.budget.max_capex_usd):
        rep.add("capex", "horizon", f"{capex:.2f} USD > {f.budget.max_capex_usd}")
    totals = plan.get("totals") or {}
    for name, value in (("capex_usd", capex), ("accrued_usd", accrued), ("periods", float(T)),
                        ("idle_owned_device_periods", idle_periods)):
        _reported(rep, f"totals.{name}", totals, name, value)
    # the penalty is a modelling device (stability), not a cash cost; it is reported apart, and it
    # follows from the plan's own change list: penalty per device changed in periods >= 1
    pen = (plan["objective"].get("breakdown") or {}).get("change_penalty", 0.0) or 0.0
    change = pp.get("change")
    per_device = per.change_penalty_usd_per_device or 0.0
    expected = 0.0
    for d in (change or {}).get("decisions", []) if per_device > 0 else []:
        size = 1 if d["decision"] == "move" else (offers[d["offer"]][1].devices_per_unit if d["offer"] in offers else 0)
        expected += per_device * size * abs(d["new_units"] - d["old_units"]) * (d["period"] > 0)
    rep.checks += 1
    if cost_differs(pen, expected):
        rep.add("cost", "objective.breakdown.change_penalty", f"plan says {pen:.2f}, its change list gives "
                f"{expected:.2f}" + ("" if change else " (no previous plan)"), pen - expected)
    # the objective by part, as the model sums it (discounted), and its total
    told = {p: v for p, v in (plan["objective"].get("breakdown") or {}).items() if p != "change_penalty"}
    _check_parts(rep, "objective.breakdown", told, obj)
    total = sum(obj.values()) + pen
    claimed = plan["objective"].get("total")
    rep.checks += 1
    if cost_differs(claimed, total):
        rep.add("cost", "objective.total", f"plan says {claimed}, recomputed {total:.2f}",
                None if claimed is None else claimed - total)
    check_objective_figures(rep, plan, total, T * h)
    check_energy_charged(rep, plan, problem.objective)
    check_reported_totals(rep, plan, energy_kwh, co2_kg)
    rep.recomputed = {"total_usd": float(total), "breakdown": {**obj, "change_penalty": pen},
                      "energy_kwh": float(energy_kwh), "co2_kg": float(co2_kg), "capex_usd": float(capex)}
    return rep


#: the totals a multi-period plan states (:func:`solver.periods_plan.build_period_plan`; plans of earlier
#: versions state fewer), each recomputed below
PERIOD_TOTALS = frozenset({"periods", "capex_usd", "accrued_usd", "energy_kwh", "co2_kg", "idle_owned_device_periods"})


def check_period_sections(rep: VerifyReport, plan: dict) -> None:
    """A multi-period plan states its fleet, routes and costs per period: the single-period sections
    (``procurement``, ``deployments``, ``routing``, ``kpis``; the schema requires them) stay empty, its
    totals are the horizon's and its objective has no after-horizon split (reservations are in the
    total over their whole term).  Anything else there would be read by other tools, and checked by none."""
    for name in ("procurement", "deployments", "routing", "kpis"):
        rep.checks += 1
        if plan.get(name):
            n = len(plan[name]) if isinstance(plan[name], list) else 1
            rep.add("structure", name, f"{n} {'entry' if n == 1 else 'entries'} in a multi-period plan, which "
                    "states its fleet per period (periods.timeline) and leaves this section empty")
    extra = sorted(set(plan.get("totals") or {}) - PERIOD_TOTALS)
    rep.checks += 1
    if extra:
        rep.add("structure", "totals", f"{', '.join(extra)}: not a total of a multi-period plan "
                f"(those are {', '.join(sorted(PERIOD_TOTALS))})")
    rep.checks += 1
    if "after_horizon_usd" in (plan.get("objective") or {}):
        rep.add("structure", "objective.after_horizon_usd", "a multi-period plan has none (its total "
                "charges each reservation's whole term)")


def check_stated_prices(rep: VerifyReport, pp: dict, rates: dict) -> None:
    """The price changes the plan states (:func:`solver.periods.stated_prices`) are the problem's: a plan
    of a problem without any states none."""
    want = stated_prices(rates).get("price_change_per_period")
    told = pp.get("price_change_per_period")
    rep.checks += 1
    if told != want:
        rep.add("periods", "periods.price_change_per_period", f"plan says {told!r}, the problem gives {want!r}"
                + (" (objective.periods.price_change_per_period)" if want else ""))


def _add(parts: dict, part: str, usd: float) -> None:
    parts[part] = parts.get(part, 0.0) + usd


def _check_parts(rep: VerifyReport, where: str, told: dict, parts: dict) -> None:
    """Each cost part the plan states against the recomputed one (a part it leaves out is 0: the plan
    drops a period's parts that are 0; one it states that nothing here costs must be 0)."""
    for part in sorted(set(told) | set(parts)):
        rep.checks += 1
        c, v = told.get(part, 0.0), parts.get(part, 0.0)
        if cost_differs(c, v):
            rep.add("cost", f"{where}.{part}", f"plan says {c if c is None else f'{c:.10g}'}, "
                    f"recomputed {v:.10g}", None if c is None else c - v)


def _quality(catalog, did: str):
    """Quality of a deployment id's model in its quantization (``model:quantization:tpN@offer``, as
    :func:`solver.plan.deployment_id` writes it), from the catalog; None when it names neither."""
    parts = did.partition("@")[0].split(":")
    if len(parts) != 3 or parts[0] not in catalog.models or parts[1] not in catalog.quantization:
        return None
    return quality_of(catalog.models[parts[0]], catalog.quantization[parts[1]], catalog.quantization)


def _reservation_terms(term_h: float, h: float) -> tuple[int, float]:
    """(whole periods a contract of term_h hours serves, hours paid for them): a term shorter
    than a period is renewed until the period is covered; units are fixed within a period."""
    serves = max(1, math.floor(term_h / h + 1e-9))
    return serves, term_h * max(1, math.ceil(serves * h / term_h - 1e-9))


def _resale(problem, catalog, o, t: int, per) -> float:
    """Resale value of one device of owned offer ``o`` retired at the start of period ``t``: the mean
    over the ``fleet.existing`` entries it stands for of each entry's own clipped value."""
    acc = catalog.accelerators[o.accelerator].purchase
    if acc is None:
        return 0.0
    lst = [(e.devices, e.age_years) for e in problem.fleet.existing
           if e.accelerator == o.accelerator and e.region == o.region
           and (o.age_group is None or age_group(e.age_years) == o.age_group)]
    if not lst:          # a move target: the devices moved there, of the offer's age
        lst = [(1, o.age_years)]
    life = acc.useful_life_years.value
    value = sum(d * max(0.0, 1.0 - (a + t * per.months / 12.0) / life) for d, a in lst) / sum(d for d, _ in lst)
    return per.resale_fraction * acc.usd_per_device.value * value
