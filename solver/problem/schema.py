"""Schema of a fleetopt problem file (``problems/*.yaml``).

A problem says what must be served (``workloads``), what may be used
(``fleet``), what counts as cost (``objective``), how to solve (``solver``) and
named what-ifs (``scenarios``).  Units are in field names.  Unknown keys are
errors, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any, Literal, Optional

from pydantic import Field, field_validator, model_validator

from solver.catalog.schema import ACQUISITIONS, Acquisition, check_id
from solver.errors import did_you_mean
from solver.validation import FIX, Strict

SCHEMA_VERSION = 1


#: tokens in one request, at most (the longest context windows are ~1e7 tokens)
MAX_TOKENS = 1e8
#: a demand multiplier of one period, at most (a million times the base rate)
MAX_GROWTH = 1e6
#: smallest demand a workload may bring, in any period (req/s; about one request a day): HiGHS drops
#: a demand row of 1e-6 within its feasibility tolerance (a plan serving nothing, 'optimal'); from
#: 1e-5 up every backend serves it (routes needing a tiny share of a replica are guarded by the
#: capacity.small_route rows of solver/mip/formulation.py)
MIN_RPS = 1e-5
#: largest demand a workload may bring (req/s): beyond, a unit slip (and products of it overflow)
MAX_RPS = 1e9
#: a daily profile's largest value may fall this far short of 1 (hand-rounded values such as 0.999);
#: the models read every profile relative to its own largest value, so all of them agree on the peak
PROFILE_PEAK_TOL = 1e-3
#: a price or cost per unit (device-hour, device, tonne), at most: beyond it is a typo or unit slip,
#: and its products with hours and devices overflow (limits such as budgets may be larger)
MAX_USD = 1e9
#: a count of devices (a cap, an owned fleet, a rented unit), at most: more than any fleet holds, and
#: a whole number of hundreds of digits (YAML reads one) would overflow the float arrays
MAX_DEVICES = 10 ** 9


def nonempty_filter(v):
    """An allow-list given must allow something: an empty one is refused, not read as 'all'."""
    if v is not None and len(v) == 0:
        raise ValueError("must not be empty (leave the key out to allow all)")
    return v


class TokenStats(Strict):
    """Distribution of a request's token count."""

    # at least one token, at most MAX_TOKENS: 1e-300 tokens is no request, 1e300 no context window,
    # and the performance model's length moments underflow or overflow on them (found by fuzzing)
    mean: float = Field(ge=1, le=MAX_TOKENS, description="Mean tokens per request (1 .. 1e8).")
    p90: Optional[float] = Field(None, ge=1, le=MAX_TOKENS,
                                 description="90th percentile, tokens (used for memory sizing).")
    max: Optional[float] = Field(None, ge=1, le=MAX_TOKENS, description="Largest request, tokens.")
    distribution: Literal["fixed", "exponential", "lognormal"] = Field(
        "lognormal", description="Shape of the token counts, used by the performance model (length "
                                 "moments, answer-length nodes of the TPOT tail) and the simulator: fixed "
                                 "(every request has the mean: cv 0), exponential (cv 1) or lognormal (cv).")
    cv: float = Field(0.5, ge=0, le=10, description="Coefficient of variation (std/mean) for lognormal "
                                                  "(at most 10: the moments of wider ones overflow); fixed "
                                                  "and exponential imply 0 and 1.")

    @model_validator(mode="after")
    def _order(self):
        implied = {"fixed": 0.0, "exponential": 1.0}.get(self.distribution)
        if implied is not None and "cv" in self.model_fields_set and self.cv != implied:
            # the shape fixes the spread: a cv given next to it would be ignored silently
            raise ValueError(f"cv {self.cv:g} contradicts distribution {self.distribution} (cv {implied:g})"
                             + FIX + f"drop cv, or write distribution: lognormal to use cv {self.cv:g}")
        if self.p90 is not None and self.p90 < self.mean * 0.5:
            raise ValueError(f"p90 ({self.p90}) is implausibly below the mean ({self.mean})" + FIX
                             + "token counts are right-skewed: the p90 is normally above the mean; "
                               "check whether the two values are swapped")
        if self.p90 is not None and self.max is not None and self.p90 > self.max:
            # (QA s20: accepted; the p90 sizes the KV memory of the SLO percentile's request)
            raise ValueError(f"p90 ({self.p90}) is above max ({self.max})" + FIX
                             + "the 90th percentile cannot exceed the largest request: check whether the "
                               "two values are swapped")
        if self.max is not None and self.max < self.mean:
            raise ValueError(f"max ({self.max}) is below the mean ({self.mean})" + FIX
                             + "the max bounds every request: give a value of at least the mean")
        return self


class Slo(Strict):
    """Latency targets, met at a percentile of requests."""

    ttft_ms: float = Field(gt=0, description="Time to first token target, milliseconds.")
    tpot_ms: float = Field(gt=0, description="Time per output token target, milliseconds.")
    percentile: float = Field(99.0, description="Percentile at which both targets hold, in percent "
                                                "(1 <= p < 100; 99 for p99).")

    @field_validator("percentile")
    @classmethod
    def _pct(cls, v: float) -> float:
        if 0 < v < 1:
            raise ValueError(f"percentile is in percent, and {v:g} reads as p{v:g}" + FIX
                             + f"for p{100 * v:g} write {100 * v:g}")
        if not 1 <= v < 100:
            raise ValueError(f"percentile must be at least 1 and below 100 (got {v}); "
                             "use e.g. 99 for p99")
        return v


class QualityTarget(Strict):
    """Minimum quality on the catalog's scale (MMLU, 0-100).  The shipped scores are the best published
    MMLU figure per model and mix protocols (0-shot CoT for Llama 3.1, 5-shot for Llama 3.2, Llama 2
    and Mixtral, exact match in DeepSeek's table for DeepSeek-V3 and Qwen2.5-72B, base-model scores for
    Llama 2, Mixtral and Qwen2.5-7B, gpt-oss at high reasoning effort): a few points separate protocols, so
    compare close scores with care (each model's note says which it is: `fleetopt catalog show MODEL`)."""

    min_score: float = Field(ge=0, le=100, description="Lowest quality score allowed, on the catalog's "
                                                        "MMLU scale (0-100; the protocol differs per model: "
                                                        "`fleetopt catalog show MODEL`).  A value in (0, 1] "
                                                        "is refused as a fraction (0.68 for 68).")
    mode: Literal["per_request", "mean"] = Field(
        "per_request", description="'per_request': every model used meets it; "
                                   "'mean': the routed mix meets it on average (router).")

    @field_validator("min_score")
    @classmethod
    def _points_not_fraction(cls, v: float) -> float:
        """0.68 meant as 68 points: every catalog score is above 1, so the target would bind nothing
        (QA: a llama-3.2-1b fleet at quality 49 came back for 'min_score: 0.68', without a word)."""
        if 0 < v <= 1:
            raise ValueError(f"min_score is in points of the 0-100 scale, and {v:g} reads as {v:g} of 100"
                             + FIX + f"for {100 * v:g} % write {100 * v:g}")
        return v


class Demand(Strict):
    """Requests per second a workload brings."""

    requests_per_s: float = Field(ge=MIN_RPS, le=MAX_RPS, description="Peak arrival rate, requests per second "
                                  "(at least 1e-05, about one a day: below, solver tolerances cannot tell a "
                                  "served request from an unserved one; at most 1e9: beyond, a unit slip).")
    profile: Optional[list[float]] = Field(
        None, description="Daily profile: fraction of the peak (requests_per_s) in each slice, e.g. 24 hourly "
                    "values; the busiest slice is 1.  A single-period plan holds its peak fleet all day "
                    "(energy follows the profile); with objective.periods and within_period: slices, "
                    "rentals follow it too.")

    growth: Optional[list[float]] = Field(
        None, description="Multi-period plans: demand multiplier per period (relative to requests_per_s); "
                          "one value per period of objective.periods.")
    growth_rate_per_period: Optional[float] = Field(
        None, gt=-1, le=10, description="Multi-period plans: compound growth per period (0.25 = +25 % a period; "
                                        "at most 10, i.e. x11 a period).")
    start_period: int = Field(0, ge=0, le=1000, description="Multi-period plans: first period with demand.")

    @model_validator(mode="after")
    def _one_growth(self):
        if self.growth is not None and self.growth_rate_per_period is not None:
            raise ValueError("give growth or growth_rate_per_period, not both")
        if self.growth is not None and any(not 0 <= g <= MAX_GROWTH for g in self.growth):
            raise ValueError(f"growth multipliers must be between 0 and {MAX_GROWTH:g}")
        return self

    @field_validator("profile")
    @classmethod
    def _profile(cls, v):
        if v is None:
            return v
        if not v:
            raise ValueError("profile must not be empty")
        if any(x < 0 or x > 1 for x in v):
            raise ValueError("profile values are fractions of the peak, each between 0 and 1")
        if max(v) <= 0:
            raise ValueError("profile must have at least one positive slice")
        top = max(v)
        if top < 1 - PROFILE_PEAK_TOL:
            # requests_per_s is the peak, so the busiest slice is 1; a lower maximum says two
            # different peaks (the single-period and the multi-period models would each read one)
            raise ValueError(
                f"the profile's largest value is {top:g}, but its values are fractions of the peak "
                f"(requests_per_s), so the busiest slice is 1: divide every value by {top:g}, or set "
                f"requests_per_s to the busiest slice's rate and scale the profile so its largest value is 1")
        return v


class Workload(Strict):
    """One stream of requests: its demand, request sizes, latency targets and what may serve it."""

    id: str = Field(description="Unique id (scenarios and sweeps address the workload by it): lowercase letters, "
                                "digits, '.', '_' or '-', starting with a letter or digit, e.g. faq-bot.")
    description: Optional[str] = Field(None, description="Free text for the reader.")
    demand: Demand = Field(description="Requests per second it brings.")
    input_tokens: TokenStats = Field(description="Prompt length per request, tokens.")
    output_tokens: TokenStats = Field(description="Generated length per request, tokens.")
    slo: Slo = Field(description="Latency targets.")
    quality: Optional[QualityTarget] = Field(None, description="Minimum model quality (default: any model).")
    models: Optional[list[str]] = Field(None, description="Allowed model ids (default: every model).")
    quantizations: Optional[list[str]] = Field(None, description="Allowed quantization ids.")
    regions: Optional[list[str]] = Field(None, description="Regions this workload may be served in (an "
                                         "allow-list: the plan may use any of them, not each; pin one "
                                         "workload per region for a presence in every one).")
    redundancy: Literal["none", "n+1"] = Field("none", description="'n+1': one spare replica per deployment used.")

    _check_id = field_validator("id")(check_id)

    _nonempty = field_validator("models", "quantizations", "regions")(nonempty_filter)


def _each_within(values: Optional[list], top: float = math.inf) -> Optional[list]:
    """A limit per period: every figure from 0 to ``top`` (a list, unlike a single figure, has no
    bounds of its own in the schema's field types)."""
    bad = [f"{x:g} for period {t}" for t, x in enumerate(values or []) if not 0 <= x <= top]
    if bad:
        raise ValueError(f"every period's limit must be at least 0{'' if top == math.inf else f' and at most {top:g}'} "
                         f"(got {', '.join(bad)})" + FIX + "give one figure per period, 0 for none")
    return values


class Availability(Strict):
    """At most this many devices of one accelerator in one region (one figure, or one per period)."""

    accelerator: str = Field(description="Accelerator id it limits.")
    region: Optional[str] = Field(None, description="Region id it limits (default: all regions together).")
    max_devices: Optional[int] = Field(None, ge=0, le=MAX_DEVICES, description="Most devices the plan may obtain "
                                       "(rent or buy; owned devices in fleet.existing are not counted), in every "
                                       "period.  Give this or max_devices_by_period, not both.")
    max_devices_by_period: Optional[list[int]] = Field(
        None, description="Multi-period plans: most devices the plan may obtain in each period, one whole number "
                          "(0 .. 1e9) per period of objective.periods (supply that ramps up: [0, 0, 8, 16, ...]); "
                          "in place of max_devices.  Devices in service in the period count, as with max_devices: "
                          "for purchases, those bought earlier and still in service too, not the new orders alone.")
    acquisition: Optional[list[Acquisition]] = Field(None, description="Modes it limits (default: all).")

    @field_validator("max_devices_by_period")
    @classmethod
    def _devices_each(cls, v):
        return _each_within(v, MAX_DEVICES)

    def devices_in(self, t: int) -> int:
        """The limit in period ``t`` (the single figure, or the period's)."""
        return self.max_devices if self.max_devices_by_period is None else self.max_devices_by_period[t]


class PowerCap(Strict):
    """Facility power limit of a region (IT power x PUE), kilowatts."""

    region: str = Field(description="Region id it limits.")
    max_kw: Optional[float] = Field(None, ge=0, description="Facility power limit, kW: the nameplate (TDP) power of "
                                    "every device procured in the region x its PUE (what a facility provisions "
                                    "for; the reports' IT power at mean load is lower), in every period.  Give "
                                    "this or max_kw_by_period, not both.")
    max_kw_by_period: Optional[list[float]] = Field(
        None, description="Multi-period plans: the facility power limit in each period, kW (>= 0), one figure per "
                          "period of objective.periods (a hall that comes online later: [200, 200, 800, ...]); in "
                          "place of max_kw.")
    applies_to: list[Acquisition] = Field(
        default_factory=lambda: list(ACQUISITIONS),
        description="Acquisition modes whose hardware draws on this site's power; owned devices (fleet.existing) "
                    "count as purchase, and owned devices left idle draw none.")

    @field_validator("max_kw_by_period")
    @classmethod
    def _kw_each(cls, v):
        return _each_within(v)

    def kw_in(self, t: int) -> float:
        """The limit in period ``t`` (the single figure, or the period's)."""
        return self.max_kw if self.max_kw_by_period is None else self.max_kw_by_period[t]


class Budget(Strict):
    """Spending limits (leave a limit out for none)."""

    max_usd_per_month: Optional[float] = Field(
        None, gt=0, description="What a month of the horizon pays: all costs over the horizon per 730 h, "
                                "a reservation at its monthly rate (the part of a longer term paid after the "
                                "horizon is in the total, not in this figure); multi-period plans: each "
                                "period's accrued cost per month.")
    max_capex_usd: Optional[float] = Field(None, ge=0, description="Purchases over the horizon.")
    max_capex_usd_by_period: Optional[list[float]] = Field(
        None, description="Multi-period plans: purchases ordered in each period, at their price then (the catalog's, "
                          "changed by objective.periods.price_change_per_period.purchase where given), at most "
                          "this much (>= 0); one figure per period of objective.periods (a capex budget per quarter "
                          "or year).  max_capex_usd, if also given, still caps the horizon's total.")

    @field_validator("max_capex_usd_by_period")
    @classmethod
    def _capex_each(cls, v):
        return _each_within(v)


class ExistingDevices(Strict):
    """Hardware already owned: its cost is sunk, its upkeep and energy are not (devices a plan leaves
    idle are switched off: no upkeep, no energy; plans list them)."""

    accelerator: str = Field(description="Accelerator id of the owned devices.")
    region: str = Field(description="Region id where they are installed.")
    devices: int = Field(ge=1, le=MAX_DEVICES, description="Number of owned devices.")
    age_years: float = Field(0.0, ge=0, description="Their age at the start, years (multi-period plans: "
                                                    "their remaining book value for resale, each entry at its "
                                                    "own age; an accelerator owned at several ages is one "
                                                    "offer per age, `existing-<age>y` in the plan).")


class CustomOffer(Strict):
    """A price the user negotiated or measured, for any accelerator and region.

    One hourly price per device covers everything: with ``acquisition: purchase`` it is an
    all-in hourly rate for owned hardware (a lease), so it carries no capex (``max_capex_usd``
    does not count it), no lead time and no useful life; the catalog's ``purchase`` block of an
    accelerator is the way to model a purchase with those.
    """

    accelerator: str = Field(description="Accelerator id offered.")
    region: str = Field(description="Region id where it is offered.")
    acquisition: Acquisition = Field("on_demand", description="How the devices are obtained (its price is "
                                                              "counted under this mode).")
    usd_per_device_hour: float = Field(gt=0, le=MAX_USD, description="All-in price per device-hour, USD "
                                       "(for purchase: an hourly rate, no capex or lead time).")
    devices_per_instance: int = Field(1, ge=1, le=1024, description="Devices per rented unit (a replica never spans two).")
    provider: str = Field("custom", description="Name shown in the plan (fleet.providers does not filter "
                                                "custom offers).")
    source: str = Field("user", description="Where the price comes from, shown in the plan.")


class Fleet(Strict):
    """What may be used to serve the workloads: hardware, places, ways to obtain it and its limits."""

    accelerators: Optional[list[str]] = Field(None, description="Allowed accelerator ids (default: all).")
    regions: Optional[list[str]] = Field(None, description="Allowed region ids (default: all).")
    providers: Optional[list[str]] = Field(None, description="Allowed cloud providers (default: all).")
    acquisition: list[Acquisition] = Field(default_factory=lambda: ["on_demand"],
                                           description="Allowed ways to obtain devices: on_demand, spot, "
                                                       "reserved_1y, reserved_3y (rent) or purchase (buy).")
    tensor_parallel: list[int] = Field(default_factory=lambda: [1, 2, 4, 8],
                                       description="Allowed tensor-parallel degrees (devices per replica; "
                                                   "powers of two).")
    max_utilization: float = Field(0.85, ge=0.01, le=1, description="Planned load ceiling per replica "
                                                                   "(0.01 .. 1).")
    max_spot_share: float = Field(0.5, ge=0, le=1, description="Largest share of a workload on spot.")
    availability: list[Availability] = Field(default_factory=list, description="Limits on how many devices "
                                             "of an accelerator can be had (scarce hardware).")
    power_caps: list[PowerCap] = Field(default_factory=list, description="Facility power limits per region.")
    budget: Optional[Budget] = Field(None, description="Spending limits (default: none).")
    existing: list[ExistingDevices] = Field(default_factory=list, description="Hardware already owned "
                                            "(its purchase is sunk; upkeep and energy are counted for the devices in service).")
    offers: list[CustomOffer] = Field(default_factory=list, description="Extra or negotiated prices.")
    catalog_offers: bool = Field(True, description="Use the catalog's cloud offers (false: only `offers`).")

    # (QA s18: an empty list was read as no filter, i.e. everything allowed)
    _nonempty = field_validator("accelerators", "regions", "providers")(nonempty_filter)

    @field_validator("tensor_parallel")
    @classmethod
    def _tp(cls, v):
        if not v:
            raise ValueError("must list at least one degree")
        bad = [t for t in v if t < 1 or t & (t - 1)]
        if bad:
            near = sorted({n for t in bad for n in _powers_of_two_near(t)})
            raise ValueError(f"tensor-parallel degrees must be powers of two (got {bad})" + FIX
                             + f"use {' or '.join(str(n) for n in near)} instead (a degree splits the model's "
                               "attention heads evenly across devices: 1, 2, 4 or 8)")
        return sorted(set(v))

    @field_validator("max_utilization", "max_spot_share", mode="before")
    @classmethod
    def _fraction_not_percent(cls, v, info):
        """80 is 80 % written as a percentage: say to write 0.8 (percentile does the reverse)."""
        if isinstance(v, (int, float)) and not isinstance(v, bool) and 1 < v <= 100:
            raise ValueError(f"{info.field_name} is a fraction, and {v:g} reads as {100 * v:g} %" + FIX
                             + f"for {v:g} % write {v / 100:g}")
        return v

    @field_validator("acquisition")
    @classmethod
    def _acq(cls, v):
        if not v:
            raise ValueError("must list at least one acquisition mode")
        return list(dict.fromkeys(v))


def _powers_of_two_near(t: int) -> list[int]:
    """The powers of two either side of ``t`` (1 for t < 1)."""
    if t < 1:
        return [1]
    lo = 1 << (int(t).bit_length() - 1)
    return [lo, lo * 2]


HOURS_PER_MONTH = 730.0  # 8760 h / 12


#: a price change per period, at least (-1 would make a price 0) and at most (10: elevenfold a period)
MIN_PRICE_CHANGE, MAX_PRICE_CHANGE = -1.0, 10.0


def _change(what: str) -> Any:
    """A compound price change per period for ``what`` (a field of :class:`PriceChange`)."""
    return Field(None, gt=MIN_PRICE_CHANGE, le=MAX_PRICE_CHANGE,
                 description=f"Change per period of {what}: a fraction per period, compound (-0.05: 5 % "
                             "cheaper each period; 0.02: 2 % dearer); more than -1, at most 10, and its compound "
                             "over the horizon, (1 + change)^(count - 1), within x1e-9 .. x1e9; default: none (0).")


#: the widest a price may move over a horizon (compound change): beyond, a model's costs span more than
#: 18 orders of magnitude beside the unchanged ones and solvers' tolerances cannot compare them
PRICE_FACTOR_MIN, PRICE_FACTOR_MAX = 1e-9, 1e9


def _inward(x: float) -> float:
    """``x`` to three significant digits, rounded toward zero: a bound quoted in a fix that, pasted, still
    holds (QA s22: 'at most 1.98' was refused; the bound is 1.976)."""
    if x == 0:
        return 0.0
    step = 10.0 ** (math.floor(math.log10(abs(x))) - 2)
    return math.trunc(x / step) * step


class PriceChange(Strict):
    """How prices move from one period to the next in a multi-period plan (fractions per period,
    compound; a field left out: that price stays).  A decision made in period t pays the price
    x (1 + change)^t: rentals serving period t, a reservation started in t (its rate for its whole
    term), a server ordered in t (its price, so its depreciation, its maintenance - a fraction of its
    price - and what the capex caps count; hosting stays), electricity used in t.  Owned devices
    (fleet.existing) are sunk: their upkeep and resale value stay at the catalog price.  Example
    (GPUs 4 % cheaper a quarter, electricity 1 % dearer): `price_change_per_period: {purchase: -0.04,
    on_demand: -0.04, electricity: 0.01}`."""

    on_demand: Optional[float] = _change("on-demand rental prices")
    spot: Optional[float] = _change("spot rental prices")
    reserved_1y: Optional[float] = _change("1-year reservation rates (a term pays its start period's rate)")
    reserved_3y: Optional[float] = _change("3-year reservation rates (a term pays its start period's rate)")
    purchase: Optional[float] = _change("the purchase price of a server ordered in the period (catalog "
                                        "purchase.usd_per_device; custom purchase offers: their hourly rate)")
    electricity: Optional[float] = _change("the electricity price of every region (carbon price unchanged)")

    def rates(self) -> dict[str, float]:
        """{price: change per period} of the prices that change (non-zero), in field order."""
        return {name: float(v) for name, v in self if v}


class Periods(Strict):
    """Plan over a horizon of periods (e.g. 8 quarters): purchases accumulate, demand grows."""

    count: int = Field(ge=1, le=40, description="Number of periods.")
    months: float = Field(3.0, ge=0.1, le=120, description="Length of one period, months (3 = quarters; "
                                                          "0.1 .. 120). Units are fixed within a period, so a "
                                                          "reservation serves whole periods only and pays its "
                                                          "whole term: 1 year in 5-month periods serves 2 and pays "
                                                          "2 months in the third; in 18-month periods two 1-year "
                                                          "contracts serve one. A purchase's lead time is "
                                                          "rounded up to whole periods (ceil(lead_time_quarters x "
                                                          "3 / months): one quarter in 6-month periods is one "
                                                          "period, in 24-month periods too); a purchased device "
                                                          "serves on after its useful life (depreciation stops, "
                                                          "maintenance and hosting go on).")
    discount_rate_per_period: float = Field(0.0, ge=0, lt=1, description="Costs of period t weigh (1+d)^-t.")
    resale_fraction: float = Field(
        0.0, ge=0, le=1, description="Resale value of a retired device as a fraction of its straight-line "
                                     "book value (price x remaining life / useful life). User assumption.  "
                                     "The plan's 'retirement' cost part is the retirement cost less the resale "
                                     "now plus the resale value the device would still have at the horizon's "
                                     "end (which a kept device is not credited): what retiring changes.")
    retire_usd_per_device: float = Field(0.0, ge=0, le=MAX_USD, description="Cost to decommission one owned device.")
    move_usd_per_device: Optional[float] = Field(
        None, gt=0, le=MAX_USD, description="Cost to move one owned device to another allowed region (shipping, "
                                "re-racking), paid in the period it is made; a moved device serves that whole period in its new "
                                "region (no transit time); default: owned devices stay where they are.")
    change_penalty_usd_per_device: float = Field(
        0.0, ge=0, le=MAX_USD, description="Re-optimisation: cost per device of a buy/reserve/retire decision that "
                               "differs from the previous plan (keeps plans stable when savings are small).")
    within_period: Literal["slices", "peak"] = Field(
        "slices", description="How the daily profile enters each period. slices: every slice of the "
                              "profile is served by its own rentals (autoscaling within the day; one copy "
                              "of the serving model per period and distinct slice). peak: each period is "
                              "sized for its daily peak, energy charged at the profile's mean load - the "
                              "single-period model's treatment, one copy per period (smaller models; "
                              "rentals cannot follow the day).")
    price_change_per_period: Optional[PriceChange] = Field(
        None, description="Prices that change from period to period, each a fraction per period, compound "
                          "(on_demand, spot, reserved_1y, reserved_3y, purchase, electricity; e.g. {purchase: "
                          "-0.05} for servers 5 % cheaper each period): a decision made in period t pays the "
                          "price x (1 + change)^t (see PriceChange); default: every price stays as in the "
                          "catalog.")

    @model_validator(mode="after")
    def _prices_change_over_periods(self):
        if self.count == 1 and self.price_change_per_period is not None and self.price_change_per_period.rates():
            raise ValueError("price_change_per_period is set, and count is 1: prices change from one period to "
                             "the next, and a single period has no later one for them to change in" + FIX
                             + "remove price_change_per_period, or plan over several periods (e.g. count: 8, "
                               "months: 3)")
        if self.price_change_per_period is not None:
            # (QA s22: on_demand 10 over 20 periods put 6e19 USD per device-hour in the model: HiGHS read it
            # as infinite - 'error', a time limit after 0.5 s - and CBC called 40 periods infeasible)
            far = {name: (1.0 + r) ** (self.count - 1) for name, r in self.price_change_per_period.rates().items()}
            # within a rounding of the bounds: (1 - 0.9) ** 9 is 9.99999999999998e-10, and -0.9 over 10
            # periods is the figure the fix below suggests (QA s26: the suggestion was refused)
            bad = {name: f for name, f in far.items()
                   if not PRICE_FACTOR_MIN * (1 - 1e-9) <= f <= PRICE_FACTOR_MAX * (1 + 1e-9)}
            if bad:
                raise ValueError(
                    "price_change_per_period compounds to "
                    + ", ".join(f"{name} x{f:.3g}" for name, f in bad.items())
                    + f" by the last of {self.count} periods: beyond x{PRICE_FACTOR_MIN:g} .. x{PRICE_FACTOR_MAX:g} "
                    "solvers cannot weigh the costs against each other" + FIX
                    + "give a change per period whose compound over the horizon stays within that range (e.g. "
                      f"at most {_inward(PRICE_FACTOR_MAX ** (1 / max(self.count - 1, 1)) - 1):g} and at least "
                      f"{_inward(PRICE_FACTOR_MIN ** (1 / max(self.count - 1, 1)) - 1):g} per period over "
                      f"{self.count} periods)")
        return self


class Objective(Strict):
    """What the plan minimises: every cost over the horizon, in USD."""

    # (at least an hour, the unit every price is given in: a horizon of 1e-200 months gave plan figures
    # of 1e-297 USD that the plan's own rounding and the verifier's arithmetic disagreed on, QA s27)
    horizon_months: Optional[float] = Field(None, gt=0, le=1200,
                                            description="Costs are summed over this horizon (default 12; at least "
                                                        "one hour, 1/730; at most 100 years).")
    horizon_hours: Optional[float] = Field(None, gt=0, le=1200 * 730,
                                           description="Alternative to horizon_months (e.g. 1 for $/hour; at "
                                                       "least 1).")
    include_energy: bool = Field(True, description="Count electricity of owned hardware.")

    @field_validator("horizon_months", "horizon_hours")
    @classmethod
    def _at_least_an_hour(cls, v: Optional[float], info):
        hours = v * HOURS_PER_MONTH if v is not None and info.field_name == "horizon_months" else v
        if hours is not None and hours < 1 - 1e-12:
            raise ValueError(f"a horizon of {hours:.3g} hours is under one hour, the unit every price is given in"
                             + FIX + ("use at least 0.00137 (one hour: 1/730 of a month), or horizon_hours: 1"
                                      if info.field_name == "horizon_months" else "use at least 1"))
        return v
    energy_on_rented: bool = Field(False, description="Also charge energy for rented devices "
                                                      "(cloud prices already include it).")
    carbon_usd_per_tonne: float = Field(0.0, ge=0, le=MAX_USD, description="Carbon price on all energy, USD/tCO2e.")
    currency: Literal["USD"] = Field("USD", description="Currency of every price (USD only).")
    periods: Optional[Periods] = Field(
        None, description="Plan over several periods (procurement timeline); default: one period.")

    @model_validator(mode="before")
    @classmethod
    def _price_change_under_periods(cls, data):
        """A price change written beside `periods` (or on a single-period problem) belongs under it."""
        if isinstance(data, dict) and "price_change_per_period" in data:
            raise ValueError("price_change_per_period is not a field of objective: prices that change from "
                             "period to period belong to a multi-period plan, under objective.periods" + FIX
                             + "move it under objective.periods (e.g. periods: {count: 8, months: 3, "
                               "price_change_per_period: {purchase: -0.05}}); a single-period plan has one price "
                               "per offer: change the catalog's or fleet.offers' price instead")
        return data

    @model_validator(mode="after")
    def _one_horizon(self):
        if self.horizon_months is not None and self.horizon_hours is not None:
            raise ValueError("give horizon_months or horizon_hours, not both")
        if self.periods is not None and (self.horizon_months is not None or self.horizon_hours is not None):
            raise ValueError("with `periods`, the horizon is periods.count x periods.months; "
                             "leave out horizon_months / horizon_hours")
        return self

    @property
    def hours(self) -> float:
        """Length of the horizon in hours (730 h per month)."""
        if self.horizon_hours is not None:
            return self.horizon_hours
        if self.periods is not None:
            return self.periods.count * self.periods.months * HOURS_PER_MONTH
        return (self.horizon_months if self.horizon_months is not None else 12.0) * HOURS_PER_MONTH


class SolverOptions(Strict):
    """How to solve (the CLI flags --backend, --solver, --time-limit, --gap, --threads override these)."""

    backend: Literal["pulp", "ortools", "highspy"] = Field(
        "highspy", description="Solver stack: highspy (default; its solver 'reduced' proves the same gap and "
                               "scales to hyperscale instances), pulp or ortools.")
    solver: Optional[str] = Field(None, description="pulp: cbc | highs; ortools: scip | cbc | highs; "
                                                    "highspy: reduced (large instances) | highs.")
    fallback: list[str] = Field(default_factory=list, description="Solvers to try if the first is missing or fails.")
    time_limit_s: float = Field(60.0, gt=0, description="Wall-clock limit of a solve, seconds.")
    mip_gap: float = Field(1e-4, ge=0, lt=1, description="Relative optimality gap at which the search stops "
                                                         "(1e-4 = 0.01 %).")
    threads: Optional[int] = Field(None, ge=1, le=4096, description=(
        "Solver threads (default: the solver's own). HiGHS keeps the count of its first run in a "
        "process (a notebook, a sweep worker): later runs there get that count."))

    @field_validator("solver")
    @classmethod
    def _known_solver(cls, solver: Optional[str], info):
        # checked here, at load, not when the solve starts: a typo must not become a solve that
        # ends in status "error" (or, on the command line, a message about a flag never given)
        from solver.mip.backends import BACKENDS
        backend = info.data.get("backend")
        if solver is None or backend not in BACKENDS or solver.lower() in BACKENDS[backend]:
            return solver
        names = [n for names in BACKENDS.values() for n in names]
        close = did_you_mean(solver.lower(), names)
        raise ValueError(f"solver {solver!r} is not one of {backend}'s ({', '.join(BACKENDS[backend])})" + FIX
                         + (f"did you mean {close[0]!r}? " if close else "")
                         + "; ".join(f"{b}: {', '.join(n)}" for b, n in BACKENDS.items()))

    @field_validator("fallback")
    @classmethod
    def _known_fallbacks(cls, fallback: list[str], info):
        # a field of its own, so that the error points at the fallback line, and "did you mean" is about
        # the fallback's own names (QA s27: 'nosuch:cbc' got the solver line and "did you mean 'cbc'?")
        from solver.mip.backends import BACKENDS
        backend = info.data.get("backend", "highspy")
        bad = []
        for fb in fallback:
            be, _, name = fb.rpartition(":")
            be = be or backend
            if be in BACKENDS and name.lower() in BACKENDS[be]:
                continue
            if be not in BACKENDS:
                close = did_you_mean(be, list(BACKENDS))
                why = f"{be!r} is not a backend"
            else:
                close = did_you_mean(name.lower(), list(BACKENDS[be]))
                why = f"{be} has no solver {name!r}"
            bad.append(f"{fb!r} names no solver ({why}" + (f": did you mean {close[0]!r}?)" if close else ")"))
        if bad:
            raise ValueError("; ".join(bad) + FIX + "write BACKEND:SOLVER, e.g. "
                             f"ortools:scip, or a solver of {backend}; "
                             + "; ".join(f"{b}: {', '.join(n)}" for b, n in BACKENDS.items()))
        return fallback


class Measurement(Strict):
    """A user's own capacity measurement; replaces the analytic figure where it applies."""

    accelerator: str = Field(description="Accelerator id measured.")
    model: str = Field(description="Model id measured.")
    quantization: str = Field("bf16", description="Quantization id measured.")
    tensor_parallel: int = Field(1, ge=1, le=1024, description="Devices per replica in the measurement.")
    workload: Optional[str] = Field(None, description="Workload id it applies to (default: any with the same token lengths).")
    input_tokens: Optional[float] = Field(None, gt=0, description="Mean prompt length measured, tokens "
                                                                  "(without `workload`).")
    output_tokens: Optional[float] = Field(None, gt=0, description="Mean generated length measured, tokens "
                                                                   "(without `workload`).")
    max_requests_per_s: float = Field(ge=0, description="Highest rate one replica sustains within the SLO; 0 = cannot serve; "
                                            "otherwise at least 1e-06 (one request per 11.6 days).")
    ttft_ms: Optional[float] = Field(None, gt=0, description="Measured TTFT at that rate.")
    tpot_ms: Optional[float] = Field(None, gt=0, description="Measured TPOT at that rate.")
    power_w: Optional[float] = Field(None, gt=0, description="Measured power per replica at that rate "
                                     "(default: the performance model's at its operating point; where the "
                                     "model cannot serve the pair, the replica's nameplate power).")
    ttft_slo_ms: Optional[float] = Field(
        None, gt=0, description="TTFT target the rate was measured under; then it applies only to "
                                "workloads whose TTFT target is at least this loose (without it, whatever "
                                "their target).")
    tpot_slo_ms: Optional[float] = Field(
        None, gt=0, description="TPOT target the rate was measured under (same rule as ttft_slo_ms).")
    source: str = Field("user measurement", description="Where the figure comes from, shown in the plan.")

    @field_validator("max_requests_per_s")
    @classmethod
    def _capacity_floor(cls, v: float) -> float:
        from solver.coefficients import MIN_CAPACITY_RPS
        if 0 < v < MIN_CAPACITY_RPS:
            raise ValueError(f"{v:g} req/s per replica is below {MIN_CAPACITY_RPS:g} (one request every "
                             f"{1 / MIN_CAPACITY_RPS / 86400:.1f} days): at such a rate the MIP's "
                             "coefficients lie too far apart for a solver to be trusted" + FIX
                             + "write 0 if the deployment cannot serve this workload, or check the unit "
                             "(requests per second per replica)")
        return v

    @model_validator(mode="after")
    def _applies(self):
        if self.workload is None and (self.input_tokens is None or self.output_tokens is None):
            raise ValueError("give `workload`, or both `input_tokens` and `output_tokens`")
        if self.workload is not None and (self.input_tokens is not None or self.output_tokens is not None):
            # with a workload the figure applies to it whatever its lengths: the tokens would do nothing
            raise ValueError("give `workload` or `input_tokens`/`output_tokens`, not both: a measurement "
                             "for a workload applies to it whatever its token lengths; drop the token "
                             "lengths, or drop `workload` to apply it to every workload of those lengths")
        return self


class Scenario(Strict):
    """A named variant: dotted-path overrides applied to the base problem.

    Paths address list entries by id, name or region (``workloads.chat.slo.ttft_ms: 500``) or by
    index (``fleet.existing.0.devices: 4``); a region that several entries share must be an index.
    """

    name: str = Field(description="Name passed to --scenario: lowercase letters, digits, '.', '_' or '-', "
                                  "starting with a letter or digit, e.g. peak-2027.")
    description: Optional[str] = Field(None, description="Free text for the reader.")
    set: dict[str, Any] = Field(default_factory=dict, description="Dotted path -> new value, e.g. "
                                                                  "`workloads.chat.slo.ttft_ms: 500`.  Paths "
                                                                  "address the file as written, whatever the "
                                                                  "other overrides set (an entry renamed by one "
                                                                  "keeps its old id in the others), so their "
                                                                  "order does not matter; two that set the same "
                                                                  "field, or a section and a field in it, are "
                                                                  "refused.")

    _check_name = field_validator("name")(check_id)


class Problem(Strict):
    """A problem file: what must be served, with what, at what cost."""

    schema_version: Literal[1] = Field(description="Version of this schema (1).")
    name: str = Field(description="Name shown in plans and reports.")
    description: Optional[str] = Field(None, description="Free text for the reader.")
    catalog: list[str] = Field(default_factory=list, description="Catalog overlay files, relative to this file.")
    workloads: list[Workload] = Field(min_length=1, description="What must be served (at least one).")
    fleet: Fleet = Field(default_factory=Fleet, description="What may serve it.")
    objective: Objective = Field(default_factory=Objective, description="What counts as cost.")
    solver: SolverOptions = Field(default_factory=SolverOptions, description="How to solve.")
    measurements: list[Measurement] = Field(default_factory=list, description="Own capacity measurements; "
                                            "they replace the performance model's figures where they apply.")
    scenarios: list[Scenario] = Field(default_factory=list, description="Named what-ifs (--scenario NAME).")

    def fingerprint(self) -> str:
        """A short hash of what the plan depends on: the (scenario-resolved) workloads, fleet,
        objective and measurements, not the free text, the solver options, the overlay paths (the
        catalog has its own version) nor the unused scenarios.  Plans record it so that ``verify``
        can say when a plan is checked against another problem or an edited file."""
        doc = self.model_dump(mode="json", exclude={"description": True, "catalog": True, "solver": True,
                                                     "scenarios": True,
                                                     "workloads": {"__all__": {"description"}}})
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=True)
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]

    @model_validator(mode="after")
    def _periods_consistent(self):
        """growth / start_period / profiles agree with objective.periods (see solver/periods.py)."""
        per = self.objective.periods
        bad = []
        for i, w in enumerate(self.workloads):
            d = w.demand
            where = f"workloads[{i}].demand"
            if per is None:
                if d.growth is not None or d.growth_rate_per_period is not None or d.start_period:
                    bad.append(f"{where}: growth / start_period need objective.periods "
                               "(e.g. periods: {count: 8, months: 3})")
                continue
            if d.growth is not None and len(d.growth) != per.count:
                bad.append(f"{where}.growth: {len(d.growth)} multipliers for {per.count} periods "
                           f"(give exactly {per.count})")
            if d.start_period >= per.count:
                bad.append(f"{where}.start_period: {d.start_period} is not within the {per.count} periods")
            elif d.growth is None or len(d.growth) == per.count:
                rps = [d.requests_per_s * (d.growth[t] if d.growth is not None else
                                           (1.0 + (d.growth_rate_per_period or 0.0)) ** (t - d.start_period))
                       for t in range(d.start_period, per.count)]
                tiny = [t + d.start_period for t, r in enumerate(rps) if 0 < r < MIN_RPS]
                if tiny:
                    bad.append(f"{where}: period(s) {', '.join(map(str, tiny))} get a demand below {MIN_RPS:g} "
                               f"req/s, the smallest a solver can tell from none (period {tiny[0]}: "
                               f"{rps[tiny[0] - d.start_period]:.3g}); give them no demand (a growth multiplier "
                               "of 0) or at least that much")
        if per is not None:
            lengths = {len(w.demand.profile) for w in self.workloads if w.demand.profile}
            if len(lengths) > 1:
                bad.append(f"workloads[].demand.profile: profiles have different numbers of slices "
                           f"({sorted(lengths)}): give every profile the same slices (e.g. 24 hourly values)")
        if bad:
            raise ValueError("; ".join(bad))
        return self
