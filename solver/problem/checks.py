"""Pre-solve checks: dead ends and no-op settings a valid problem can still have.

The schema and id checks (:mod:`solver.problem.load`) make sure every field is well formed; these
look at what the fleet's filters leave of the catalog's offers, without the performance model, so
they take milliseconds (``fleetopt validate`` stays fast).  Two kinds:

* **errors**: no plan can exist (no allowed offer at all; none that can host an allowed
  tensor-parallel degree; a workload whose regions have no allowed offer).  ``validate`` exits 3
  (infeasible), ``solve`` prints the same text and goes on to report ``infeasible``.
* **warnings**: a setting that does nothing (a region, accelerator, acquisition mode or provider
  no allowed offer uses; owned devices, an offer or a cap that the fleet's filters leave out).
  A plan can still exist; ``validate`` exits 0.
"""

from __future__ import annotations


from dataclasses import dataclass, field
from typing import Iterable, Optional

from solver.catalog.schema import ACQUISITIONS
from solver.errors import InputIssue, did_you_mean
from solver.problem.schema import HOURS_PER_MONTH

#: the tail of every error and warning message: which kind it is and what that means
ERROR_TAIL = " (error: no plan can exist)"
WARNING_TAIL = " (warning: a plan can still exist)"


@dataclass
class Findings:
    """What the pre-solve checks found: ``errors`` (no plan can exist) and ``warnings``."""

    errors: list[InputIssue] = field(default_factory=list)
    warnings: list[InputIssue] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.errors or self.warnings)

    def format(self) -> str:
        """The text ``validate`` and ``solve`` both print (empty when nothing was found)."""
        out = []
        for issues, what in ((self.errors, "error"), (self.warnings, "warning")):
            if issues:
                n = len(issues)
                tail = ("no plan can exist" if what == "error" else "a plan can still exist")
                out.append(f"{n} {what}{'s' if n != 1 else ''} found before solving ({tail}):")
                out += [i.format() for i in issues]
        return "\n".join(out) + ("\n" if out else "")


def _names(values: Iterable[str]) -> str:
    values = list(dict.fromkeys(values))
    return ", ".join(values[:8]) + (f" and {len(values) - 8} more" if len(values) > 8 else "")


def no_offer_text(fleet) -> str:
    """'no on_demand price for l4, a10g in ohio': what a fleet without any offer lacks (also the
    text of ``fleetopt explain``)."""
    return (f"no {'/'.join(fleet.acquisition)} price for "
            f"{_names(fleet.accelerators) if fleet.accelerators else 'any accelerator'} in "
            f"{_names(fleet.regions) if fleet.regions else 'any region'}"
            + (f" from {_names(fleet.providers)}" if fleet.providers else "")
            + ("" if fleet.catalog_offers else " among fleet.offers (fleet.catalog_offers is false)"))


def _hosts(o, catalog, tensor_parallel) -> bool:
    """Whether offer ``o`` can host a replica of some allowed tensor-parallel degree (the rule of
    :func:`solver.coefficients.build_candidates`: a replica never spans two units)."""
    per_node = catalog.accelerators[o.accelerator].devices_per_node
    return any(t <= per_node and ((o.max_units or 0) >= t if o.existing else o.devices_per_unit % t == 0)
               for t in tensor_parallel)


def max_replica_devices(o, catalog) -> int:
    """The most devices one replica can span on offer ``o``: its node, and its unit (or the devices
    owned)."""
    per_node = catalog.accelerators[o.accelerator].devices_per_node
    return min(per_node, (o.max_units or 0) if o.existing else o.devices_per_unit)


def _offers(problem, catalog, **fleet):
    """The offers ``build_offers`` gives with some fleet filters replaced (None: no filter)."""
    from solver.coefficients import build_offers
    if fleet:
        problem = problem.model_copy(update={"fleet": problem.fleet.model_copy(update=fleet)})
    return build_offers(problem, catalog)


def _where_offered(offers, by: str, then: str) -> str:
    """Where offers are, grouped by ``by`` ('accelerator' or 'region'): 'l4: on_demand/spot in
    germany, virginia; purchase in any of 11 regions', ending with what to do (``then``)."""
    groups: dict[str, dict[str, list[str]]] = {}
    for o in offers:
        other = o.region if by == "accelerator" else o.accelerator
        seen = groups.setdefault(getattr(o, by), {}).setdefault(o.acquisition, [])
        if other not in seen:
            seen.append(other)
    parts = []
    for key, modes in list(groups.items())[:6]:
        same: dict[tuple, list[str]] = {}   # modes offered in the same places, written once
        for m in ACQUISITIONS:
            if m in modes:
                same.setdefault(tuple(sorted(modes[m])), []).append(m)
        word = "in" if by == "accelerator" else "for"
        parts.append(f"{key}: " + "; ".join(f"{'/'.join(ms)} {word} {_names(where)}" for where, ms in same.items()))
    return " | ".join(parts) + (" | ..." if len(groups) > 6 else "") + (f"; {then}" if then else "")


def presolve_checks(loaded, smap=None) -> Findings:
    """Errors (no plan can exist) and warnings (settings that do nothing) of a loaded problem."""
    from solver.coefficients import build_offers

    p, cat = loaded.problem, loaded.catalog
    smap = smap if smap is not None else getattr(loaded, "smap", None)
    f = p.fleet
    file = loaded.file
    found = Findings()

    def issue(kind: str, path: tuple, message: str, hint: Optional[str] = None) -> None:
        text = message + (ERROR_TAIL if kind == "error" else WARNING_TAIL)
        line = smap.line_of(path) if smap is not None else None
        from solver.yamlio import format_path
        (found.errors if kind == "error" else found.warnings).append(
            InputIssue(message=text, file=file, line=line, path=format_path(path), hint=hint))

    # owned devices that may move (objective.periods.move_usd_per_device) can serve in every allowed
    # region: the solver sees them there as offers, so must these checks
    from solver.periods import with_move_targets
    offers = build_offers(with_move_targets(p, cat)[0], cat)
    hosting = [o for o in offers if _hosts(o, cat, f.tensor_parallel)]
    accs = list(f.accelerators) if f.accelerators else None
    regs = list(f.regions) if f.regions else None
    modes = list(f.acquisition)
    provs = list(f.providers) if f.providers else None

    def scope(*skip: str) -> str:
        """The fleet's filters in words, those named in ``skip`` left out."""
        words = []
        if "acquisition" not in skip:
            words.append("/".join(modes))
        if "accelerators" not in skip:
            words.append(f"for {_names(accs) if accs else 'any accelerator'}")
        if "regions" not in skip:
            words.append(f"in {_names(regs) if regs else 'any region'}")
        if provs and "providers" not in skip:
            words.append(f"from {_names(provs)}")
        if not f.catalog_offers:
            words.append("(fleet.catalog_offers is false: only fleet.offers)")
        return " ".join(words)

    # ---- a provider no catalog offer has (a typo): told even when it leaves no offer at all
    if provs:
        hosted_provs = {o.provider for o in hosting}
        known = sorted({o.provider for a in cat.accelerators.values() for o in a.offers})
        for j, pv in enumerate(provs):
            if pv not in known:
                close = did_you_mean(pv, known)
                issue("warning", ("fleet", "providers", j), f"no catalog offer is from provider {pv!r}",
                      (f"did you mean {' or '.join(repr(c) for c in close)}? " if close else
                       f"known providers: {', '.join(known)}. ") + "Rename or drop it.")
            elif hosting and pv not in hosted_provs:
                issue("warning", ("fleet", "providers", j),
                      f"no allowed offer is from provider {pv!r} ({scope('providers')}): it adds nothing to the plan",
                      "widen fleet.accelerators, fleet.regions or fleet.acquisition, or drop it")

    # ---- errors: no plan can exist
    if not offers:
        if regs:
            # where the allowed accelerators are offered under the allowed modes, any region
            elsewhere = _offers(p, cat, regions=None)
            hint = (_where_offered(elsewhere, "accelerator",
                                   "add one of those regions to fleet.regions, or widen fleet.accelerators / "
                                   "fleet.acquisition, or add a price under fleet.offers")
                    if elsewhere else None)
        else:
            hint = None
        issue("error", ("fleet",), f"the fleet has no offer at all: {no_offer_text(f)}",
              hint or "widen fleet.accelerators, fleet.regions, fleet.acquisition or fleet.providers, or add a "
                      "price under fleet.offers (`fleetopt catalog show ACCELERATOR` lists where each is offered)")
        return found
    if not hosting:
        sizes = sorted({o.max_units if o.existing else o.devices_per_unit for o in offers})
        issue("error", ("fleet", "tensor_parallel"),
              f"no allowed offer can host a tensor-parallel degree in {list(f.tensor_parallel)}: the allowed "
              f"offers come in units of {_names(str(s) for s in sizes)} device(s), and a replica never spans "
              "two units", "add 1 (or a divisor of a unit's devices) to fleet.tensor_parallel")
        return found
    hosted_regions = {o.region for o in hosting}
    for i, w in enumerate(p.workloads):
        if w.regions and not set(w.regions) & hosted_regions:
            why = [f"fleet.regions leaves out {r}" if regs and r not in regs else f"no allowed offer is in {r}"
                   for r in w.regions]
            issue("error", ("workloads", i, "regions"),
                  f"workload {w.id!r} must be served in {_names(w.regions)}, and {'; '.join(why)}",
                  f"allowed offers are in {_names(sorted(hosted_regions))}: add one of them to the workload's "
                  "regions, or allow offers in its regions (fleet.regions, fleet.accelerators, fleet.acquisition)")

    # ---- a spot-only fleet under a spot share below 1: the share is of each workload's demand, so
    # the rest has nothing to run on, however little is served (QA s22: a new user's [spot] fleet)
    if all(o.acquisition == "spot" and not o.existing for o in hosting) and f.max_spot_share < 1:
        issue("error", ("fleet", "acquisition"),
              f"every allowed offer is spot (fleet.acquisition: {', '.join(modes)}), and spot may serve at most "
              f"fleet.max_spot_share ({f.max_spot_share:g}) of each workload's demand: the rest has nothing to "
              "run on, however little the demand",
              "add on_demand, reserved_1y or purchase to fleet.acquisition (or owned devices under "
              "fleet.existing), or set fleet.max_spot_share: 1 to allow an all-spot fleet (spot capacity can "
              "be reclaimed at any time)")

    # ---- warnings: a daily profile a single-period plan sizes for its peak all day (QA s20: an
    # architect expected on-demand rentals to follow the day; the slices form cost 44% less)
    if p.objective.periods is None and {"on_demand", "spot"} & set(modes):
        for i, w in enumerate(p.workloads):
            prof = w.demand.profile
            if prof and min(prof) < 0.9 * max(prof):
                issue("warning", ("workloads", i, "demand", "profile"),
                      f"a single-period plan holds {w.id}'s peak fleet all day: its rentals do not follow "
                      f"the profile (lowest slice {min(prof) / max(prof):.0%} of the peak); only energy does",
                      "for rentals sized slice by slice, add objective.periods: {count: 1, months: "
                      f"{p.objective.hours / HOURS_PER_MONTH:g}, within_period: slices}} in place of the horizon")
                break

    # ---- warnings: requests longer than every allowed model's context window (QA s22: an input max of
    # 200,000 tokens beside llama-3.1-8b's 131,072 was accepted in silence; the percentile request is sized)
    for i, w in enumerate(p.workloads):
        maxima = [(name, getattr(w, name).max) for name in ("input_tokens", "output_tokens")
                  if getattr(w, name).max is not None]
        windows = {m: cat.models[m].max_context_tokens for m in (w.models or cat.models) if m in cat.models}
        longest = sum(n for _, n in maxima)
        if maxima and windows and longest > max(windows.values()):
            from solver.perf.model import PerfWorkload
            inp, out = PerfWorkload.from_workload(w).percentile_request()
            longer = sorted((mdl.max_context_tokens, m) for m, mdl in cat.models.items()
                            if m not in windows and mdl.max_context_tokens >= longest) if w.models else []
            issue("warning", ("workloads", i, maxima[0][0], "max"),
                  f"{w.id}'s requests reach {' + '.join(f'{n:,.0f}' for _, n in maxima)} tokens "
                  f"({' + '.join(f'{name}.max' for name, _ in maxima)}), more than the context window of every "
                  f"allowed model ({_names(f'{m} {n:,}' for m, n in windows.items())} tokens): requests longer "
                  f"than a model's window cannot run on it. The plan is sized for the p{w.slo.percentile:g} "
                  f"request ({inp:,.0f} input + {out:,.0f} output tokens), not for these",
                  f"lower {' or '.join(f'{name}.max' for name, _ in maxima)} to the longest request the workload "
                  "must serve"
                  + (f", or allow a model with a longer window in workloads[{i}].models (e.g. "
                     f"{', '.join(m for _, m in longer[:3])})" if longer else ""))

    # ---- warnings: settings that do nothing
    def too_small(some) -> str:
        """'come in units of 1 device(s): ...' when ``some`` offers exist and none can host a degree."""
        some = list(some)
        if not some or any(_hosts(o, cat, f.tensor_parallel) for o in some):
            return ""
        sizes = sorted({o.max_units if o.existing else o.devices_per_unit for o in some})
        return (f"come in units of {_names(str(n) for n in sizes)} device(s): none can host a tensor-parallel "
                f"degree in {list(f.tensor_parallel)} (a replica never spans two units), so it adds nothing "
                "to the plan")

    tp_fix = "add 1 (or a divisor of a unit's devices) to fleet.tensor_parallel, or drop it"

    def unused(field: str, attr: str, what: str, elsewhere: str) -> None:
        """Warn about each value of fleet.<field> (regions or accelerators) no hosting offer has."""
        other = "accelerators" if field == "regions" else "regions"
        hosted = {getattr(o, attr) for o in hosting}
        for j, val in enumerate(getattr(f, field) or []):
            if val in hosted:
                continue
            small = too_small(o for o in offers if getattr(o, attr) == val)
            if small:
                issue("warning", ("fleet", field, j), f"the allowed offers {what} {val!r} " + small, tp_fix)
                continue
            there = _offers(p, cat, **{field: [val], other: None}, providers=None, acquisition=list(ACQUISITIONS))
            hint = (_where_offered(there, attr, elsewhere.format(val=val)) if there else
                    f"the catalog has no offer {what.split()[0]} {val}: add a price under fleet.offers, or drop it")
            issue("warning", ("fleet", field, j),
                  f"no allowed offer {'is ' if field == 'regions' else ''}{what} {val!r} ({scope(field)}): it adds "
                  "nothing to the plan", hint)

    unused("regions", "region", "in region", "allow one of them, or drop {val} from fleet.regions")
    unused("accelerators", "accelerator", "of accelerator", "allow one of those regions or modes, or drop it")
    hosted_modes = {o.acquisition for o in hosting}
    for j, m in enumerate(modes):
        if m not in hosted_modes:
            issue("warning", ("fleet", "acquisition", j),
                  f"no allowed offer is {m} ({scope('acquisition')}): this mode adds nothing to the plan",
                  f"widen fleet.accelerators or fleet.regions to ones with a price for {m} "
                  "(`fleetopt catalog show ACCELERATOR` lists them), or drop it")
    # QA s22: the default [1, 2, 4, 8] is no setting of the user's: its 8 on 4-device nodes is no warning
    if hosting and "tensor_parallel" in f.model_fields_set:
        # QA s18: TP 16 and 32 on 8-device nodes were dropped in silence, and explain went on advising
        # "larger tensor parallelism"
        largest = max(max_replica_devices(o, cat) for o in hosting)
        for j, t in enumerate(f.tensor_parallel):
            if not any(_hosts(o, cat, [t]) for o in hosting):
                issue("warning", ("fleet", "tensor_parallel", j),
                      f"tensor-parallel degree {t} fits no allowed offer: a replica spans at most one node "
                      f"and one unit, and the largest the allowed offers hold is {largest} device(s); "
                      "it adds nothing to the plan",
                      f"drop {t}, or allow accelerators with larger nodes (fleet.accelerators)")

    def left_out(acc: Optional[str], reg: Optional[str], mode: Optional[str] = None) -> Optional[str]:
        if acc is not None and accs and acc not in accs:
            return f"fleet.accelerators leaves out {acc}"
        if reg is not None and regs and reg not in regs:
            return f"fleet.regions leaves out {reg}"
        if mode is not None and mode not in modes:
            return f"fleet.acquisition leaves out {mode}"
        return None

    for j, e in enumerate(f.existing):
        why = left_out(e.accelerator, e.region)
        if why:
            issue("warning", ("fleet", "existing", j),
                  f"these {e.devices} owned {e.accelerator} in {e.region} are not used: {why}",
                  "allow them in fleet.accelerators and fleet.regions, or remove the entry (when "
                  "re-optimising with --existing from a plan that sold or used them, keep it and allow them)")
    for j, o in enumerate(f.offers):
        why = left_out(o.accelerator, o.region, o.acquisition)
        if why:
            issue("warning", ("fleet", "offers", j),
                  f"this offer ({o.accelerator} in {o.region}, {o.acquisition}) is not used: {why}",
                  "allow it in the fleet's filters, or remove the entry")
    for j, a in enumerate(f.availability):
        why = left_out(a.accelerator, a.region)
        if why:
            issue("warning", ("fleet", "availability", j),
                  f"this limit ({a.accelerator}{' in ' + a.region if a.region else ''}) limits nothing: {why}",
                  "remove the entry, or allow what it limits")
    for j, c in enumerate(f.power_caps):
        why = left_out(None, c.region)
        if why:
            issue("warning", ("fleet", "power_caps", j), f"this power cap of {c.region} limits nothing: {why}",
                  "remove the entry, or allow the region")
    families = {fam for q in cat.quantization.values() for fam in q.supported_families}
    for aid in sorted({o.accelerator for o in offers}):
        fam = cat.accelerators[aid].family
        if fam not in families:     # QA: a family typed 'Hopper' made every candidate infeasible, silently
            # a near spelling only (the looser default offered 'ampere' for a new family 'acme')
            close = did_you_mean(fam, sorted(families), n=1, cutoff=0.8, substrings=False)
            issue("warning", ("fleet", "accelerators"),
                  f"{aid} (family {fam!r}) runs no quantization: no scheme lists {fam!r} in supported_families",
                  (f"did you mean family {close[0]!r}? " if close else "") + "fix the accelerator's family, or "
                  "add the family to a scheme's supported_families with a catalog overlay")
    from solver.perf.params import default_params
    fitted = sorted({g.family for g in default_params().groups})
    for aid in sorted({o.accelerator for o in offers}):
        group = cat.accelerators[aid].calibration_group
        if group and group != cat.accelerators[aid].family and group not in fitted:
            # (review: 'hoper-pcie' fell back to the SXM parts' efficiencies, 49% more compute, silently)
            close = did_you_mean(group, fitted)
            issue("warning", ("fleet", "accelerators"),
                  f"{aid}'s calibration_group {group!r} has no parameters in the calibration in effect: "
                  f"its family's ({cat.accelerators[aid].family}) are used",
                  (f"did you mean {close[0]!r}? " if close else "") + "fix the catalog entry's calibration_group, "
                  "or fit the group (solver/perf/README.md)")
    slos = {w.id: w.slo for w in p.workloads}
    for j, m in enumerate(p.measurements):
        slo = slos.get(m.workload)
        tighter = [f"{name} target {getattr(slo, name + '_ms'):g} ms < {val:g} ms measured under"
                   for name, val in (("ttft", m.ttft_slo_ms), ("tpot", m.tpot_slo_ms))
                   if slo is not None and val is not None and getattr(slo, name + "_ms") < val * (1 - 1e-9)]
        if tighter:     # review: the rate then silently gave way to the (often more optimistic) model
            issue("warning", ("measurements", j),
                  f"this measurement of {m.accelerator}/{m.model} is not used for {m.workload}: its "
                  f"{', '.join(tighter)}; the performance model's figure is used instead",
                  "measure under the workload's targets, or loosen its targets to the measured ones")
        acc, mdl, q = (cat.accelerators.get(m.accelerator), cat.models.get(m.model),
                       cat.quantization.get(m.quantization))
        candidate = True        # whether the pair can be a candidate at all (else the next check is moot)
        if acc and q and m.max_requests_per_s > 0:
            from solver.coefficients import quant_for_model, quant_runs_on
            candidate = quant_runs_on(q, acc) and quant_for_model(q, m.model)
            # QA s22: an import's bf16 rows for a T4 were dropped with the T4, silently (plan 57% dearer)
            if not quant_runs_on(q, acc):
                runs = sorted(qid for qid, qq in cat.quantization.items()
                              if quant_runs_on(qq, acc) and quant_for_model(qq, m.model)
                              and qq.bytes_per_weight.value == q.bytes_per_weight.value)
                issue("warning", ("measurements", j),
                      f"this measurement runs {m.model} in {m.quantization} on {m.accelerator}, but the catalog's "
                      f"{m.quantization} does not run on the {acc.family} family: the pair is no candidate and "
                      "the measurement is not used",
                      (f"if the replica ran {' or '.join(runs)}, set quantization to it; otherwise " if runs else "")
                      + f"add {acc.family!r} to {m.quantization}'s supported_families with a catalog overlay")
            elif not quant_for_model(q, m.model):
                issue("warning", ("measurements", j),
                      f"this measurement runs {m.model} in {m.quantization}, a scheme the catalog offers for "
                      f"{', '.join(q.models)} only: the pair is no candidate and the measurement is not used",
                      "set quantization to the scheme the replica ran (`fleetopt catalog list quantization`)")
        if m.max_requests_per_s > 0 and acc and mdl and q and candidate:
            from solver.perf.arch import weight_bytes
            per_dev_gb = weight_bytes(mdl, q) / m.tensor_parallel / 1e9
            if per_dev_gb > acc.memory_gb.value:     # QA: an import put a 70B model on one 24 GB A10G
                issue("warning", ("measurements", j),
                      f"this measurement runs {m.model} in {m.quantization} on {m.tensor_parallel} "
                      f"{m.accelerator}: its weights alone take {per_dev_gb:,.1f} GB a device, more than "
                      f"the {acc.memory_gb.value:g} GB it has; the plan will show it as measured",
                      "set tensor_parallel to the devices the measured replica used, or check the model "
                      "and quantization ids (an import's --model)")
    _price_changes_that_do_nothing(p, issue)
    return found


def _price_changes_that_do_nothing(p, issue) -> None:
    """A warning per objective.periods.price_change_per_period key no cost of the plan follows (QA s22: a
    spot change with spot not allowed was accepted and stated in the plan as if it applied)."""
    per = p.objective.periods
    if per is None or per.price_change_per_period is None:
        return
    allowed = set(p.fleet.acquisition)
    for name in per.price_change_per_period.rates():
        if name == "electricity":
            why = (None if p.objective.include_energy or p.objective.energy_on_rented else
                   "no electricity is charged (objective.include_energy and energy_on_rented are false)")
        elif name not in allowed:
            why = f"fleet.acquisition does not allow {name}"
        else:
            why = None
        if why:
            issue("warning", ("objective", "periods", "price_change_per_period", name),
                  f"this price change does nothing: {why}",
                  "remove it, or allow what it changes")
