"""Problem + catalog + performance model -> the numbers the MIP needs.

This is the one place where YAML-level concepts (offers, filters, prices,
existing hardware, measurements) become arrays.  The formulation never looks
at the catalog, and the verifier rebuilds the same arrays to check a plan, so
a plan is judged by exactly the numbers it was optimised with.

Sets built here
---------------
* **offers** o: a way to obtain devices of accelerator a(o) in region r(o) by
  acquisition k(o), in units of g(o) devices (a rented instance, a purchased
  server; one device for already-owned hardware).  Sources: catalog cloud
  offers x {on_demand, spot, reserved_1y, reserved_3y} where a price exists
  (unless ``fleet.catalog_offers: false``), ``fleet.offers`` custom prices, the
  catalog ``purchase`` entry in each allowed region, and ``fleet.existing``.
  Among catalog offers identical in (accelerator, region, acquisition, unit
  size) only the cheapest is kept (the others are dominated: same hardware,
  same caps, higher price).
* **candidates** c = (model, quantization, tensor parallelism t, offer): t
  must be in ``fleet.tensor_parallel``, at most ``devices_per_node`` and divide
  the unit size (a replica never spans two rented instances or servers).
* **pairs** (w, c): workload w may be served by c only if the performance model
  gives a positive capacity within w's SLOs and every filter allows it
  (workload models / quantizations / regions, per-request quality).  Pruning
  happens here, so the MIP has variables only for allowed pairs.

Costs per device-hour, by part
------------------------------
rental: the offer price, billed over the horizon; a reservation (1 or 3
years) is billed over its whole term when the horizon is shorter, because the
commitment cannot be cancelled (a 12-month plan that reserves for 3 years pays
3 years); budgets and per-month figures count what the horizon's months pay.  purchase: price / (useful life x 8760 h)
("purchase_amortisation") + price x maintenance fraction / 8760 h
("maintenance") + colocation ("hosting").  Existing (owned) devices: capital
cost is sunk, so only maintenance and hosting, and only for devices the plan
keeps in service.  Custom offers are an all-in hourly price under their
acquisition mode.  Energy (W -> USD over the horizon) is charged for owned
hardware, and for rented hardware only when ``objective.energy_on_rented``
(cloud prices include power).  Carbon is priced on the energy of all
hardware: emissions happen whoever pays the power bill.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping, Optional, Sequence

import numpy as np

from solver.catalog import Catalog
from solver.catalog.schema import Accelerator, Model, Quantization
from solver.problem.schema import Problem

HOURS_PER_YEAR = 8760.0
#: a reservation is paid for its whole term even when the planning horizon is shorter
RESERVED_TERM_HOURS = {"reserved_1y": HOURS_PER_YEAR, "reserved_3y": 3 * HOURS_PER_YEAR}

#: objective parts, in report order
COST_PARTS = ("rental_on_demand", "rental_spot", "rental_reserved_1y", "rental_reserved_3y",
              "purchase_amortisation", "maintenance", "hosting", "energy", "carbon")


@dataclass(frozen=True)
class OfferInfo:
    """One way to obtain devices (see module docstring)."""

    accelerator: str
    region: str
    acquisition: str           # on_demand | spot | reserved_1y | reserved_3y | purchase
    provider: str
    instance: str
    devices_per_unit: int
    existing: bool = False
    max_units: Optional[int] = None          # existing hardware: devices owned
    #: existing hardware: the devices' age at the start (years; their resale value in multi-period
    #: plans) and the age group in the key where an accelerator's owned devices differ in age
    age_years: float = 0.0
    age_group: Optional[str] = None
    #: USD per device-hour by cost part (keys from COST_PARTS, energy excluded)
    usd_per_device_hour: tuple = ()          # tuple of (part, value)
    capex_usd_per_device: float = 0.0        # counts against max_capex_usd
    tdp_w: float = 0.0                       # per device (nameplate)
    idle_w: float = 0.0                      # per device
    pue: float = 1.0
    electricity_usd_per_kwh: float = 0.0
    carbon_g_per_kwh: float = 0.0
    energy_charged: bool = False             # energy cost counted in the objective
    source: str = ""
    #: a commitment bills at least this many hours (reserved terms), whatever the horizon
    min_billed_hours: float = 0.0

    @property
    def key(self) -> str:
        tag = "existing" if self.existing else self.acquisition
        return f"{self.accelerator}@{self.region}/{tag}/{self.provider}:{self.instance}"

    @property
    def hourly_usd_per_device(self) -> float:
        return float(sum(v for _, v in self.usd_per_device_hour))


@dataclass(frozen=True)
class CandidateInfo:
    model: str
    quantization: str
    tensor_parallel: int
    offer: int            # index into offers
    perf: int             # index into perf candidates
    quality: float        # model quality x retention(quantization, model size)


@dataclass
class Coefficients:
    """Everything the formulation needs, as arrays (units in names)."""

    workloads: list[str]
    demand_rps: np.ndarray                 # (W,) peak requests/s
    n_plus_1: np.ndarray                   # (W,) bool
    quality_min: np.ndarray                # (W,) nan when no target
    quality_mean_mode: np.ndarray          # (W,) bool: target on the routed mean
    energy_load_factor: np.ndarray         # (W,) mean/peak of the demand profile (1 = flat)
    offers: list[OfferInfo]
    candidates: list[CandidateInfo]
    pair_w: np.ndarray                     # (P,) workload index
    pair_c: np.ndarray                     # (P,) candidate index
    pair_cap_rps: np.ndarray               # (P,) max requests/s of one replica within SLO (> 0)
    pair_power_w: np.ndarray               # (P,) replica power at pair_cap_rps
    pair_ttft_ms: np.ndarray               # (P,) predicted at capacity
    pair_tpot_ms: np.ndarray               # (P,)
    cand_idle_w: np.ndarray                # (C,) replica idle power
    hours: float
    max_utilization: float
    max_spot_share: float
    #: (label, offer indices, max devices)
    availability: list = field(default_factory=list)
    #: (label, offer indices, max facility kW)
    power_caps: list = field(default_factory=list)
    max_usd_per_month: Optional[float] = None
    max_capex_usd: Optional[float] = None
    carbon_usd_per_tonne: float = 0.0
    include_energy: bool = True
    #: why candidate-workload combinations were dropped (for `explain` and error messages)
    pruned: dict = field(default_factory=dict)
    #: workload id -> {reason: count} (for "why can nothing serve this workload")
    pruned_by_workload: dict = field(default_factory=dict)
    #: workload id -> the `fleetopt perf` command with the model's figures for its nearest
    #: deployment, for each workload nothing can serve (the infeasibility message prints them)
    perf_commands: dict = field(default_factory=dict)
    catalog_version: str = ""
    #: short digest of the performance calibration the capacities were computed with
    #: (:func:`solver.explore.cache.calibration_version`); "" with a stand-in ``perf``
    calibration: str = ""

    # --------------------------------------------------------------- derived arrays
    @property
    def n_w(self) -> int:
        return len(self.workloads)

    @property
    def n_c(self) -> int:
        return len(self.candidates)

    @property
    def n_o(self) -> int:
        return len(self.offers)

    @property
    def n_p(self) -> int:
        return len(self.pair_w)

    def cand_offer(self) -> np.ndarray:
        return np.array([c.offer for c in self.candidates], dtype=np.int64)

    def cand_tp(self) -> np.ndarray:
        return np.array([c.tensor_parallel for c in self.candidates], dtype=float)

    def cand_quality(self) -> np.ndarray:
        return np.array([c.quality for c in self.candidates], dtype=float)

    def offer_array(self, attr: str) -> np.ndarray:
        return np.array([float(getattr(o, attr)) for o in self.offers], dtype=float)

    def offer_part_rate(self, part: str) -> np.ndarray:
        """USD per device-hour of cost ``part`` for every offer."""
        return np.array([dict(o.usd_per_device_hour).get(part, 0.0) for o in self.offers], float)

    def billed_hours(self) -> np.ndarray:
        """Hours each offer's hardware price is paid for: the horizon, or a longer commitment."""
        return np.maximum(self.hours, self.offer_array("min_billed_hours"))

    def after_horizon_usd_per_unit(self) -> dict:
        """{part: USD per unit of each offer} a commitment pays after the horizon (a 3-year
        reservation in a 12-month plan: 24 months): in the total, not in the months the horizon pays
        (budgets, per-month figures).  Parts with nothing after the horizon are left out."""
        g = self.offer_array("devices_per_unit")
        after_h = self.billed_hours() - self.hours
        out = {}
        for part in COST_PARTS:
            if part in ("energy", "carbon"):
                continue
            vec = self.offer_part_rate(part) * g * after_h
            if np.any(vec):
                out[part] = vec
        return out

    def energy_usd_per_w(self) -> np.ndarray:
        """USD over the horizon per watt of IT power drawn, per offer (0 where not charged)."""
        pue = self.offer_array("pue")
        price = self.offer_array("electricity_usd_per_kwh")
        charged = np.array([o.energy_charged for o in self.offers], bool) & self.include_energy
        return np.where(charged, pue * price * self.hours / 1000.0, 0.0)

    def carbon_usd_per_w(self) -> np.ndarray:
        """USD of carbon over the horizon per watt of IT power, per offer."""
        pue = self.offer_array("pue")
        g = self.offer_array("carbon_g_per_kwh")
        return pue * g / 1e6 * self.carbon_usd_per_tonne * self.hours / 1000.0

    def kwh_per_w(self) -> np.ndarray:
        """Facility kWh over the horizon per watt of IT power, per offer."""
        return self.offer_array("pue") * self.hours / 1000.0


# ----------------------------------------------------------------------------- helpers

def quality_of(model: Model, quant: Quantization, formats: Optional[Mapping[str, Quantization]] = None) -> float:
    """Model quality in ``quant``: its score x the quantization's retention for its size band.

    Retention is a fraction of the BF16 score.  A model's score was measured on the weights it
    ships in (``native_formats``, looked up in ``formats``): one released only below BF16
    (DeepSeek-V3 in FP8, gpt-oss in MXFP4) keeps its score in those formats and in wider ones,
    and a narrower format keeps ``retention(quant) / retention(best native format)`` of it.
    """
    native = [formats[f] for f in model.native_formats if formats is not None and f in formats]
    base = max((_retention(model, n) for n in native), default=1.0)
    return model.quality.value * min(1.0, _retention(model, quant) / base)


def _retention(model: Model, quant: Quantization) -> float:
    """The quantization's retention for the model's size band."""
    size = model.total_params_b.value
    bands = quant.retention
    for band in bands:
        if band.min_params_b <= size < band.max_params_b:
            return band.retention.value
    # outside every band: use the nearest one (documented: retention varies slowly with size)
    nearest = min(bands, key=lambda b: min(abs(size - b.min_params_b), abs(size - b.max_params_b)))
    return nearest.retention.value


def energy_charged(objective) -> str:
    """Whose electricity the objective's energy part charges, as a plan states it
    (``Objective.energy_charged`` of :mod:`solver.plan`): 'none' (``include_energy`` false), 'all'
    (``energy_on_rented`` true) or 'owned_and_bought' (a rental's price includes its energy)."""
    # (the schema's defaults where a caller's objective leaves a setting out, as test stubs do)
    if not getattr(objective, "include_energy", True):
        return "none"
    return "all" if getattr(objective, "energy_on_rented", False) else "owned_and_bought"


def quant_runs_on(quant: Quantization, acc: Accelerator) -> bool:
    return acc.family in quant.supported_families


def quant_for_model(quant: Quantization, model_id: str) -> bool:
    """Whether the scheme is offered for the model (a scheme whose sources cover some models lists them)."""
    return quant.models is None or model_id in quant.models


def _purchase_parts(acc: Accelerator, existing: bool) -> tuple[tuple, float]:
    p = acc.purchase
    if p is None:
        return (), 0.0
    price = p.usd_per_device.value
    parts = []
    if not existing:
        parts.append(("purchase_amortisation", price / (p.useful_life_years.value * HOURS_PER_YEAR)))
    parts.append(("maintenance", price * p.maintenance_fraction_per_year.value / HOURS_PER_YEAR))
    if p.hosting_usd_per_device_hour is not None:
        parts.append(("hosting", p.hosting_usd_per_device_hour.value))
    return tuple(parts), (0.0 if existing else price)


def build_offers(problem: Problem, catalog: Catalog) -> list[OfferInfo]:
    """Every allowed offer after fleet filters (accelerators, regions, providers, acquisition)."""
    f = problem.fleet
    acc_ok = set(f.accelerators) if f.accelerators else set(catalog.accelerators)
    reg_ok = set(f.regions) if f.regions else set(catalog.regions)
    prov_ok = set(f.providers) if f.providers else None
    modes = set(f.acquisition)
    out: list[OfferInfo] = []

    def region_fields(rid: str) -> dict:
        r = catalog.regions[rid]
        return dict(pue=r.pue.value, electricity_usd_per_kwh=r.electricity_usd_per_kwh.value,
                    carbon_g_per_kwh=r.carbon_g_per_kwh.value)

    def dev_fields(acc: Accelerator) -> dict:
        return dict(tdp_w=acc.tdp_w.value, idle_w=acc.idle_w.value)

    rented: dict[tuple, OfferInfo] = {}
    if f.catalog_offers:
        for aid in sorted(acc_ok):
            acc = catalog.accelerators[aid]
            for off in acc.offers:
                if off.region not in reg_ok or (prov_ok is not None and off.provider not in prov_ok):
                    continue
                for mode in ("on_demand", "spot", "reserved_1y", "reserved_3y"):
                    price = off.price(mode)
                    if mode not in modes or price is None:
                        continue
                    o = OfferInfo(aid, off.region, mode, off.provider, off.instance,
                                  off.devices_per_instance,
                                  usd_per_device_hour=((f"rental_{mode}", price.value),),
                                  source=price.source, energy_charged=problem.objective.energy_on_rented,
                                  min_billed_hours=RESERVED_TERM_HOURS.get(mode, 0.0),
                                  **dev_fields(acc), **region_fields(off.region))
                    k = (aid, off.region, mode, off.devices_per_instance)
                    best = rented.get(k)
                    if best is None or (o.hourly_usd_per_device, o.provider, o.instance) < (
                            best.hourly_usd_per_device, best.provider, best.instance):
                        rented[k] = o
    out += [rented[k] for k in sorted(rented)]
    for j, co in enumerate(f.offers):
        if co.accelerator not in acc_ok or co.region not in reg_ok or co.acquisition not in modes:
            continue
        acc = catalog.accelerators[co.accelerator]
        part = "purchase_amortisation" if co.acquisition == "purchase" else f"rental_{co.acquisition}"
        out.append(OfferInfo(co.accelerator, co.region, co.acquisition, co.provider,
                             f"custom-{j}", co.devices_per_instance,
                             usd_per_device_hour=((part, co.usd_per_device_hour),),
                             source=co.source,
                             min_billed_hours=RESERVED_TERM_HOURS.get(co.acquisition, 0.0),
                             energy_charged=(co.acquisition == "purchase"
                                             or problem.objective.energy_on_rented),
                             **dev_fields(acc), **region_fields(co.region)))
    if "purchase" in modes and f.catalog_offers:
        for aid in sorted(acc_ok):
            acc = catalog.accelerators[aid]
            if acc.purchase is None:
                continue
            regions = acc.purchase.regions or sorted(catalog.regions)
            parts, capex = _purchase_parts(acc, existing=False)
            for rid in sorted(set(regions) & reg_ok):
                out.append(OfferInfo(aid, rid, "purchase", "owned", "server",
                                     acc.purchase.devices_per_server, usd_per_device_hour=parts,
                                     capex_usd_per_device=capex, source=acc.purchase.usd_per_device.source,
                                     energy_charged=True, **dev_fields(acc), **region_fields(rid)))
    # Owned hardware: always available (it is already there), within the accelerator/region filters.
    groups = existing_groups(problem)
    for aid, rid, group in sorted(groups, key=lambda g: (g[0], g[1], -1.0 if g[2] is None else float(g[2]))):
        n, age = groups[(aid, rid, group)]
        if aid not in acc_ok or rid not in reg_ok:
            continue
        acc = catalog.accelerators[aid]
        parts, _ = _purchase_parts(acc, existing=True)
        out.append(OfferInfo(aid, rid, "purchase", "owned", "existing" if group is None else f"existing-{group}y",
                             1, existing=True, max_units=n, age_years=age, age_group=group,
                             usd_per_device_hour=parts, energy_charged=True,
                             source="fleet.existing", **dev_fields(acc), **region_fields(rid)))
    return out


def age_group(age_years: float) -> str:
    """The age as it appears in an owned offer's key: a plain decimal to 1e-6 years ('4.5', '10', '0';
    never an exponent), so ages within 1e-6 years may share a group."""
    return f"{age_years:.6f}".rstrip("0").rstrip(".")


def existing_groups(problem: Problem) -> dict[tuple, tuple[int, float]]:
    """Owned devices by (accelerator, region, age group): (devices, device-weighted age in years).

    A multi-period plan prices retiring a device at its own age (resale value, clipped at zero
    once its useful life is over), so where one accelerator's owned devices differ in age, each
    age is its own group, and offer: pooled at their mean age, a worthless device would be sold
    at the pool's price.  Otherwise (one age, or a single-period problem, where age has no
    price) one group per (accelerator, region), age group None.
    """
    by_acc: dict[str, set] = {}
    for e in problem.fleet.existing:
        by_acc.setdefault(e.accelerator, set()).add(age_group(e.age_years))
    split = problem.objective.periods is not None
    groups: dict[tuple, list] = {}
    for e in problem.fleet.existing:
        g = age_group(e.age_years) if split and len(by_acc[e.accelerator]) > 1 else None
        acc = groups.setdefault((e.accelerator, e.region, g), [0, 0.0])
        acc[0] += e.devices
        acc[1] += e.devices * e.age_years
    return {key: (n, (a / n if n else 0.0)) for key, (n, a) in groups.items()}


def prune_dominated_offers(offers: list[OfferInfo], problem: Problem) -> tuple[list[OfferInfo], int]:
    """Drop offers that another offer of the same hardware beats in every respect.

    o1 dominates o2 when both offer the same accelerator in the same region in
    units of the same size, neither is owned hardware, both or neither are spot
    (the spot-share cap), every availability and power cap that counts o1 also
    counts o2, and o1 costs no more per device over the horizon (hardware over
    the billed hours, and whether energy is charged) nor in capital, nor - under a
    monthly budget - per month of the horizon (a 3-year reservation in a 12-month
    plan costs more over its term than on-demand but less a month).  Moving
    units from o2 to o1 then keeps every constraint and costs no more, so the
    optimum is unchanged.  Exact ties keep the earlier offer.  Typical effect:
    of on-demand, 1-year and 3-year reservations of one instance type, only the
    cheapest over the horizon survives.
    """
    f = problem.fleet
    H = problem.objective.hours

    def caps(o: OfferInfo) -> frozenset:
        out = set()
        for j, av in enumerate(f.availability):
            if (av.accelerator == o.accelerator and (av.region is None or av.region == o.region)
                    and (not av.acquisition or o.acquisition in av.acquisition)):
                out.add(("availability", j))
        for j, pc in enumerate(f.power_caps):
            if pc.region == o.region and o.acquisition in pc.applies_to:
                out.add(("power", j))
        return frozenset(out)

    def cost(o: OfferInfo) -> float:
        return o.hourly_usd_per_device * max(H, o.min_billed_hours)

    budgeted = f.budget is not None and f.budget.max_usd_per_month is not None

    keep: list[OfferInfo] = []
    dropped = 0
    for i, o2 in enumerate(offers):
        dominated = False
        if not o2.existing:
            for j, o1 in enumerate(offers):
                if j == i or o1.existing or (o1.accelerator, o1.region, o1.devices_per_unit) != (
                        o2.accelerator, o2.region, o2.devices_per_unit):
                    continue
                if (o1.acquisition == "spot") != (o2.acquisition == "spot"):
                    continue
                if not caps(o1) <= caps(o2):
                    continue
                c1, c2 = cost(o1), cost(o2)
                e1, e2 = int(o1.energy_charged), int(o2.energy_charged)
                if c1 > c2 or e1 > e2 or o1.capex_usd_per_device > o2.capex_usd_per_device:
                    continue
                # the budget row counts the horizon's months only (caps_budget): per hour, the rate
                m1, m2 = (o1.hourly_usd_per_device, o2.hourly_usd_per_device) if budgeted else (0.0, 0.0)
                if m1 > m2:
                    continue
                strict = (c1 < c2 or e1 < e2 or o1.capex_usd_per_device < o2.capex_usd_per_device
                          or m1 < m2 or caps(o1) < caps(o2))
                if strict or j < i:
                    dominated = True
                    break
        if dominated:
            dropped += 1
        else:
            keep.append(o2)
    return keep, dropped


def _tp_fits(t: int, offer: OfferInfo, acc: Accelerator) -> bool:
    if t > acc.devices_per_node:
        return False
    if offer.existing:
        return t <= (offer.max_units or 0)
    return offer.devices_per_unit % t == 0


#: The least capacity a replica may have to count as serving a workload, req/s (one request every
#: 11.6 days); below it the capacity rows' coefficients (1 / capacity) reach 1e6 and beyond.
MIN_CAPACITY_RPS = 1e-6
#: The most replicas of one deployment that serving a workload's largest demand may take; a
#: deployment that would need more is treated as having no capacity for it.  QA (s20): a measured
#: capacity of 1e-9 req/s for a 6 req/s workload (6e9 replicas) made HiGHS and SCIP return plans
#: 57% too dear or infeasible as "optimal" (6e8 was still solved right by every backend).
MAX_REPLICAS_TO_SERVE = 1e7


def least_capacity_rps(wls, n_periods: int = 0) -> np.ndarray:
    """(W,) the capacity below which a replica counts as unable to serve each workload: the larger of
    :data:`MIN_CAPACITY_RPS` and its largest demand over the periods / :data:`MAX_REPLICAS_TO_SERVE`."""
    def most_growth(d) -> float:
        if not n_periods:
            return 1.0
        if d.growth:
            return max(1.0, max(d.growth))
        if d.growth_rate_per_period:
            return max(1.0, (1.0 + d.growth_rate_per_period) ** max(0, n_periods - 1 - d.start_period))
        return 1.0

    peak = np.array([w.demand.requests_per_s * most_growth(w.demand) for w in wls], float)
    return np.maximum(MIN_CAPACITY_RPS, peak / MAX_REPLICAS_TO_SERVE)


def _pair_filters(wls, offers, cand_raw, raw_pi, quality, max_rps, pruned, by_wl,
                  least_rps=None) -> np.ndarray:
    """(raw candidates x workloads) mask of the pairs that survive every filter.

    A pair is dropped by the first filter it fails, in this order: the workload's models, its
    quantizations, its regions, its per-request quality target, then no capacity within its SLOs
    (a capacity below ``least_rps``, :func:`least_capacity_rps`, counts as none); each drop is counted
    once, under that reason, in ``pruned`` and ``by_wl`` (updated in place).
    """
    n_w = len(wls)
    if not cand_raw or n_w == 0:
        return np.zeros((len(cand_raw), n_w), bool)
    raw_m = [key[1] for key, _ in cand_raw]
    raw_q = [key[2] for key, _ in cand_raw]
    raw_r = [offers[oi].region for _, oi in cand_raw]

    def allowed(raw_values, allow_of) -> np.ndarray:
        """(raw x workloads): the workload's list allows the candidate's value (no list: all)."""
        values = sorted(set(raw_values))
        pos = {v: i for i, v in enumerate(values)}
        table = np.ones((len(values), n_w), bool)
        for wi, w in enumerate(wls):
            allow = allow_of(w)
            if allow:
                table[:, wi] = [v in allow for v in values]
        return table[np.array([pos[v] for v in raw_values], np.int64)]

    raw_qual = np.array([quality[(m, q)] for m, q in zip(raw_m, raw_q)], float)
    per_request_min = np.array([w.quality.min_score if (w.quality is not None and w.quality.mode == "per_request")
                                else -np.inf for w in wls], float)
    left = np.ones((len(cand_raw), n_w), bool)
    for reason, passes in (
            ("model_filter", allowed(raw_m, lambda w: w.models)),
            ("quantization_filter", allowed(raw_q, lambda w: w.quantizations)),
            ("region_filter", allowed(raw_r, lambda w: w.regions)),
            ("quality_per_request", ~(raw_qual[:, None] < per_request_min[None, :] - 1e-9)),
            ("no_capacity", max_rps[raw_pi] >= (least_rps[None, :] if least_rps is not None
                                                 else MIN_CAPACITY_RPS))):
        dropped = left & ~passes
        per_w = dropped.sum(axis=0)
        pruned[reason] += int(per_w.sum())
        for wi, w in enumerate(wls):
            by_wl[w.id][reason] += int(per_w[wi])
        left &= passes
    return left


def build_coefficients(problem: Problem, catalog: Catalog, *, perf=None,
                       dominance: bool = True) -> Coefficients:
    """Build the MIP's coefficient arrays from a validated problem.

    ``perf`` is the performance module (default :mod:`solver.perf`); tests may pass a
    stand-in with the same ``PerfCandidate``/``PerfWorkload``/``evaluate``/``apply_measurements``.
    """
    if perf is None:
        import solver.perf as perf  # noqa: PLW0621 - deferred: heavy, and optional in unit tests
    calibration = ""
    if getattr(perf, "__name__", "") == "solver.perf":     # the real model reads the calibration
        from solver.explore.cache import calibration_version
        calibration = calibration_version()
    f = problem.fleet
    wls = problem.workloads
    offers = build_offers(problem, catalog)
    n_offers_dominated = 0
    if dominance:
        offers, n_offers_dominated = prune_dominated_offers(offers, problem)

    # Models / quantizations any workload allows.
    models_ok = sorted({m for w in wls for m in (w.models or catalog.models)})
    quants_ok = sorted({q for w in wls for q in (w.quantizations or catalog.quantization)})
    # Unique performance candidates (accelerator, model, quantization, tp) over the offers.
    perf_keys: list[tuple] = []
    perf_index: dict[tuple, int] = {}
    cand_raw: list[tuple] = []   # (perf key, offer index)
    for oi, o in enumerate(offers):
        acc = catalog.accelerators[o.accelerator]
        for t in f.tensor_parallel:
            if not _tp_fits(t, o, acc):
                continue
            for m in models_ok:
                for q in quants_ok:
                    if not quant_runs_on(catalog.quantization[q], acc) or \
                            not quant_for_model(catalog.quantization[q], m):
                        continue
                    k = (o.accelerator, m, q, t)
                    if k not in perf_index:
                        perf_index[k] = len(perf_keys)
                        perf_keys.append(k)
                    cand_raw.append((k, oi))
    pcands = [perf.PerfCandidate(a, m, q, t) for (a, m, q, t) in perf_keys]
    pwls = [perf.PerfWorkload.from_workload(w) for w in wls]
    if pcands:
        cap = perf.evaluate(catalog, pcands, pwls)
        if problem.measurements:
            cap = perf.apply_measurements(cap, pcands, pwls, problem.measurements)
        max_rps = np.asarray(cap.max_rps, float)
        ttft = np.asarray(cap.ttft_ms, float)
        tpot = np.asarray(cap.tpot_ms, float)
        power = np.asarray(cap.power_w, float)
        idle = np.asarray(cap.idle_power_w, float)
    else:
        max_rps = ttft = tpot = power = np.zeros((0, len(wls)))
        idle = np.zeros(0)

    quality = {(m, q): quality_of(catalog.models[m], catalog.quantization[q], catalog.quantization)
               for m in models_ok for q in quants_ok}
    reasons = ("no_capacity", "model_filter", "quantization_filter", "region_filter",
               "quality_per_request")
    pruned = {r: 0 for r in reasons}
    by_wl = {w.id: {r: 0 for r in reasons} for w in wls}
    pruned["offers_dominated"] = n_offers_dominated
    raw_pi = np.array([perf_index[key] for key, _ in cand_raw], np.int64)    # perf row of each raw candidate
    periods = problem.objective.periods
    ok = _pair_filters(wls, offers, cand_raw, raw_pi, quality, max_rps, pruned, by_wl,
                       least_capacity_rps(wls, periods.count if periods is not None else 0))
    used = np.flatnonzero(ok.any(axis=1))
    candidates = [CandidateInfo(cand_raw[r][0][1], cand_raw[r][0][2], cand_raw[r][0][3], cand_raw[r][1],
                                int(raw_pi[r]), quality[(cand_raw[r][0][1], cand_raw[r][0][2])])
                  for r in used]
    # pairs in candidate order, workloads in problem order within a candidate
    pc, pw = np.nonzero(ok[used])
    ppi = raw_pi[used][pc]
    pcap, ppow = max_rps[ppi, pw], power[ppi, pw]
    pttft, ptpot = ttft[ppi, pw], tpot[ppi, pw]
    cidle = idle[raw_pi[used]]

    # Availability caps: devices of one accelerator (in a region, for some modes) procured.
    avail = []
    for j, av in enumerate(f.availability):
        modes = set(av.acquisition) if av.acquisition else None
        idx = [i for i, o in enumerate(offers) if o.accelerator == av.accelerator and not o.existing
               and (av.region is None or o.region == av.region)
               and (modes is None or o.acquisition in modes)]
        # a limit given per period: its largest figure here (what holds in every period); the
        # multi-period model reads each period's own (solver.periods.PeriodSpec)
        avail.append((f"{av.accelerator}@{av.region or 'any'}#{j}", np.array(idx, np.int64),
                      float(max(av.max_devices_by_period or [av.max_devices or 0]))))
    caps = []
    for j, pcap_ in enumerate(f.power_caps):
        idx = [i for i, o in enumerate(offers) if o.region == pcap_.region
               and o.acquisition in set(pcap_.applies_to)]
        caps.append((f"{pcap_.region}#{j}", np.array(idx, np.int64),
                     float(max(pcap_.max_kw_by_period or [pcap_.max_kw or 0.0]))))

    def load_factor(w) -> float:
        prof = w.demand.profile
        return float(np.mean(prof) / np.max(prof)) if prof else 1.0

    k = Coefficients(
        workloads=[w.id for w in wls],
        demand_rps=np.array([w.demand.requests_per_s for w in wls], float),
        n_plus_1=np.array([w.redundancy == "n+1" for w in wls], bool),
        quality_min=np.array([w.quality.min_score if w.quality else np.nan for w in wls], float),
        quality_mean_mode=np.array([bool(w.quality and w.quality.mode == "mean") for w in wls], bool),
        energy_load_factor=np.array([load_factor(w) for w in wls], float),
        offers=offers, candidates=candidates,
        pair_w=np.array(pw, np.int64), pair_c=np.array(pc, np.int64),
        pair_cap_rps=np.array(pcap, float), pair_power_w=np.array(ppow, float),
        pair_ttft_ms=np.array(pttft, float), pair_tpot_ms=np.array(ptpot, float),
        cand_idle_w=np.array(cidle, float),
        hours=problem.objective.hours, max_utilization=f.max_utilization,
        max_spot_share=f.max_spot_share, availability=avail, power_caps=caps,
        max_usd_per_month=f.budget.max_usd_per_month if f.budget else None,
        max_capex_usd=f.budget.max_capex_usd if f.budget else None,
        carbon_usd_per_tonne=problem.objective.carbon_usd_per_tonne,
        include_energy=problem.objective.include_energy,
        pruned=pruned, pruned_by_workload=by_wl, catalog_version=catalog.version,
        calibration=calibration,
    )
    if len(set(pw)) < len(wls):       # some workload has no candidate: say how to see why
        from solver.explain import nearest_perf_commands
        k.perf_commands = nearest_perf_commands(problem, catalog, k, perf=perf)
    return prune_dominated(k) if dominance else k


def prune_dominated(k: Coefficients) -> Coefficients:
    """Drop candidates that another candidate on the same offer beats in every respect.

    c1 dominates c2 when they share the offer and, for every workload c2 can
    serve, c1 serves it too with at least the capacity and at most the load
    power per request; c1 uses no more devices (t) and adds no more idle power
    above its devices' own idle (the procured units pay that either way); and,
    if any of those workloads has a routed-mean quality target, c1's quality is
    no lower.  Replacing c2's replicas one for one by c1's keeps every
    constraint (same offer: same units, region, acquisition, caps) and costs no
    more, so the optimum is unchanged.  Exact ties keep the earlier candidate.
    This only shrinks the MIP; it changes no answer.
    """
    if k.n_c == 0:
        return k
    W, C = k.n_w, k.n_c
    cap = np.zeros((C, W))
    cap[k.pair_c, k.pair_w] = k.pair_cap_rps
    lpw = np.full((C, W), np.inf)
    lpw[k.pair_c, k.pair_w] = (np.maximum(k.pair_power_w - k.cand_idle_w[k.pair_c], 0.0)
                               / k.pair_cap_rps)
    serves = cap > 0
    mean_w = k.quality_mean_mode & ~np.isnan(k.quality_min)
    q_matters = (serves & mean_w[None, :]).any(axis=1)        # (C,) per dominated candidate
    tp = k.cand_tp()
    off = k.cand_offer()
    # idle power a replica adds above its devices' own idle (which the procured units pay anyway)
    idle = k.cand_idle_w - tp * k.offer_array("idle_w")[off]
    qual = k.cand_quality()
    drop = np.zeros(C, bool)
    for o in np.unique(off):
        idx = np.flatnonzero(off == o)
        if len(idx) < 2:
            continue
        ca, lp, sv = cap[idx], lpw[idx], serves[idx]
        # ge[i, j]: i at least as good as j on every workload j serves
        cap_ge = (ca[:, None, :] >= ca[None, :, :]) | ~sv[None, :, :]
        pw_le = (lp[:, None, :] <= lp[None, :, :]) | ~sv[None, :, :]
        ge = cap_ge.all(axis=2) & pw_le.all(axis=2)
        t, id_, q, qm = tp[idx], idle[idx], qual[idx], q_matters[idx]
        ge &= (t[:, None] <= t[None, :]) & (id_[:, None] <= id_[None, :])
        ge &= (q[:, None] >= q[None, :]) | ~qm[None, :]
        strict = (((ca[:, None, :] > ca[None, :, :]) & sv[None, :, :]).any(axis=2)
                  | ((lp[:, None, :] < lp[None, :, :]) & sv[None, :, :]).any(axis=2)
                  | (t[:, None] < t[None, :]) | (id_[:, None] < id_[None, :])
                  | ((q[:, None] > q[None, :]) & qm[None, :]))
        order = np.arange(len(idx))
        dom = ge & (strict | (order[:, None] < order[None, :]))
        np.fill_diagonal(dom, False)
        drop[idx[dom.any(axis=0)]] = True
    if not drop.any():
        return k
    keep = np.flatnonzero(~drop)
    new_index = np.full(C, -1, np.int64)
    new_index[keep] = np.arange(len(keep))
    psel = ~drop[k.pair_c]
    pruned = dict(k.pruned)
    pruned["dominated"] = pruned.get("dominated", 0) + int(drop.sum())
    return replace(k, candidates=[k.candidates[c] for c in keep], pair_w=k.pair_w[psel],
                   pair_c=new_index[k.pair_c[psel]], pair_cap_rps=k.pair_cap_rps[psel],
                   pair_power_w=k.pair_power_w[psel], pair_ttft_ms=k.pair_ttft_ms[psel],
                   pair_tpot_ms=k.pair_tpot_ms[psel], cand_idle_w=k.cand_idle_w[keep],
                   pruned=pruned)


def restrict_accelerators(problem: Problem, accelerators: Sequence[str]) -> Problem:
    """A copy of ``problem`` whose fleet may use only ``accelerators`` (homogeneous baseline)."""
    fleet = problem.fleet.model_copy(update={"accelerators": list(accelerators)})
    return problem.model_copy(update={"fleet": fleet})
