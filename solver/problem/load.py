"""Read a problem file, apply a scenario, validate it against the catalog.

Every issue in the file is collected (schema errors, unknown ids with "did you
mean", impossible combinations) and raised together as one
:class:`~solver.errors.InputError`.
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Optional

from pydantic import ValidationError

from solver.catalog import Catalog, missing_file_hint
from solver.errors import InputError, InputIssue, IssueCollector, did_you_mean, unknown_id_hint
from solver.problem.schema import Problem
from solver.validation import pydantic_issues
from solver.yamlio import SourceMap, format_path, load_yaml_file, load_yaml_text


@dataclass(frozen=True)
class LoadedProblem:
    """A validated problem with the catalog it was checked against."""

    problem: Problem
    catalog: Catalog
    file: str
    scenario: Optional[str]
    raw: dict  # the resolved (scenario-applied) document, for hashing and sweeps
    smap: Optional[SourceMap] = field(default=None, compare=False, repr=False)  # lines of `raw`
    #: the caller's catalog overlay files (not the problem's own `catalog:` list), as given: a front
    #: or sweep re-validates its variants with them (QA: they priced the shipped catalog instead)
    overlays: tuple[str, ...] = field(default=(), compare=False)

    @property
    def name(self) -> str:
        return self.problem.name + (f" [{self.scenario}]" if self.scenario else "")


def require_loaded(loaded: Any, who: str) -> "LoadedProblem":
    """``loaded`` if it is a loaded problem; else a TypeError that says how to make one (a path or
    a bare Problem used to fail deep inside with an AttributeError)."""
    if hasattr(loaded, "problem") and hasattr(loaded, "catalog"):
        return loaded
    if isinstance(loaded, (str, os.PathLike)):
        fix = f"call load_problem({str(loaded)!r}) (with scenario= or catalog_overlays= if needed) and pass that"
    elif isinstance(loaded, Problem):
        fix = "pass what load_problem() returned, not its .problem: the catalog comes with it"
    else:
        fix = "pass what load_problem(PATH) returned"
    raise TypeError(f"{who} needs a LoadedProblem, got {type(loaded).__name__}: {fix}")


def _split_path(path: str) -> list[str]:
    return [p for p in str(path).split(".") if p != ""]


def _entry_label(item: dict) -> str:
    """A list entry in a few words: its scalar fields (``accelerator=a100-80gb region=virginia``)."""
    return " ".join(f"{k}={v}" for k, v in item.items() if isinstance(v, (str, int, float)))[:80]


def set_path(doc: dict, path: str, value: Any) -> tuple:
    """Set ``value`` at a dotted ``path``; list entries are addressed by ``id``/``name`` or index.

    Returns the path it set as keys and list indexes (('workloads', 0, 'slo', 'ttft_ms')).
    Raises ``KeyError`` with a readable message when the path does not resolve.
    """
    parts = _split_path(path)
    if not parts:
        raise KeyError("empty path")
    bracketed = [p for p in parts if "[" in p or "]" in p]
    if bracketed:       # (QA s18: 'workloads[chat].x' made a new top-level field, reported at line 1)
        dotted = ".".join(p.replace("[", ".").replace("]", "").strip(".") for p in parts)
        raise KeyError(f"{bracketed[0]!r} is not a field: paths are dotted, list entries addressed by "
                       f"id or index after a dot (did you mean {dotted!r}?)")
    node: Any = doc
    where: list = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            idx = None
            if part.lstrip("-").isdigit():
                idx = int(part)
                if not -len(node) <= idx < len(node):
                    raise KeyError(f"index {idx} out of range at {'.'.join(parts[:i])}")
            else:
                here = '.'.join(parts[:i]) or 'top'
                hits = [j for j, item in enumerate(node)
                        if isinstance(item, dict) and part in (item.get("id"), item.get("name"), item.get("region"))]
                if len(hits) > 1:
                    # several entries share a region (owned A100s and L4s in one site): setting the
                    # first would change an entry the user may not have meant
                    rest = '.'.join(parts[i + 1:])
                    raise KeyError(f"{part!r} names {len(hits)} entries under {here} ("
                                   + "; ".join(f"{j}: {_entry_label(node[j])}" for j in hits)
                                   + f"); address one by its index, e.g. {here}.{hits[0]}"
                                   + (f".{rest}" if rest else ""))
                idx = hits[0] if hits else None
                if idx is None:
                    ids = [str(it.get("id") or it.get("name") or it.get("region")) for it in node
                           if isinstance(it, dict) and (it.get("id") or it.get("name") or it.get("region"))]
                    close = did_you_mean(part, ids)
                    raise KeyError(f"no entry {part!r} under {here}"
                                   + (f"; did you mean {close[0]!r}?" if close else
                                      f"; entries: {', '.join(ids) or 'none named'}")
                                   + f" (entries can also be addressed by index: {here}.0 is the first)")
            where.append(idx % len(node))
            if last:
                node[idx] = value
                return tuple(where)
            node = node[idx]
        elif isinstance(node, dict):
            where.append(part)
            if last:
                node[part] = value
                return tuple(where)
            if part not in node or node[part] is None:
                if parts[i + 1].lstrip("-").isdigit():
                    # (QA s22: 'fleet.budget.max_capex_usd_by_period.1' without that list made a mapping
                    # {'1': 0}, refused as 'write a list, e.g. [{'1': 0}]')
                    whole = ".".join(parts[:i + 1])
                    raise KeyError(f"{whole} is not in the problem, so its entry {parts[i + 1]} cannot be set: "
                                   f"set the whole list instead ({whole}: [...])")
                node[part] = {}
            node = node[part]
        else:
            raise KeyError(f"{'.'.join(parts[:i])} is a value, not a section")


def set_at(doc: dict, where: tuple, value: Any) -> None:
    """Set ``value`` at a path :func:`set_path` resolved (keys and list indexes), creating missing
    sections as it does."""
    node: Any = doc
    for key in where[:-1]:
        if isinstance(node, dict) and (key not in node or node[key] is None):
            node[key] = {}
        node = node[key]
    node[where[-1]] = value


def overlapping_targets(targets: Iterable[tuple[str, tuple]]) -> list[tuple[str, str]]:
    """Pairs of ``(name, resolved path)`` (what :func:`set_path` returned) that set the same field,
    or a section and a field inside it: the result would depend on the order they are applied in
    (an entry by id and by index, a list replaced and one of its entries set)."""
    targets = list(targets)
    return [(a, b) for i, (a, ta) in enumerate(targets) for b, tb in targets[i + 1:]
            if ta[:len(tb)] == tb[:len(ta)]]


class ScenarioSourceMap(SourceMap):
    """Lines of a scenario-resolved document: a value a scenario set is at its override's line."""

    def __init__(self, base: Optional[SourceMap], file: str, overrides: dict[tuple, int]):
        super().__init__(file=file, lines=dict(base.lines) if base else {})
        self.overrides = overrides

    def line_of(self, path) -> Optional[int]:
        path = tuple(path)
        for n in range(len(path), 0, -1):
            if path[:n] in self.overrides:
                return self.overrides[path[:n]]
        # a section an override created (a field the file does not have): the override's line
        for target, line in self.overrides.items():
            if path and target[:len(path)] == path and path not in self.lines:
                return line
        return super().line_of(path)


def resolve_scenario(raw: dict, scenario: Optional[str], smap: Optional[SourceMap] = None,
                     file: Optional[str] = None) -> dict:
    """Return a copy of ``raw`` with the named scenario's overrides applied."""
    collector = IssueCollector(file=file)
    out, _ = apply_scenario(raw, scenario, smap, file, collector)
    collector.raise_if_any()
    return out


def apply_scenario(raw: dict, scenario: Optional[str], smap: Optional[SourceMap], file: Optional[str],
                   collector: IssueCollector) -> tuple[dict, Optional[SourceMap]]:
    """``raw`` with the named scenario's overrides applied, and the lines of the result.

    An override that does not resolve is added to ``collector`` and the others still apply, so
    that the document's remaining errors are reported with it; an unknown scenario name raises.
    """
    if scenario is None:
        return copy.deepcopy(raw), smap
    scenarios = raw.get("scenarios") or []
    if not isinstance(scenarios, list):
        raise InputError(InputIssue(
            message="`scenarios` must be a list of {name, set} entries", file=file, path="scenarios",
            line=smap.line_of(("scenarios",)) if smap else None,
            hint="e.g. scenarios: [{name: fast, set: {workloads.chat.slo.ttft_ms: 500}}]"))
    # one entry per list item (None where it has no string name) so that indexes line up
    names = [s.get("name") if isinstance(s, dict) and isinstance(s.get("name"), str) else None
             for s in scenarios]
    if scenario not in names:
        raise InputError(InputIssue(
            message=f"no scenario named {scenario!r}", file=file, path="scenarios",
            line=smap.line_of(("scenarios",)) if smap else None,
            hint=(unknown_id_hint(scenario, [n for n in names if n], "scenarios",
                                  then="Pass one of the file's scenario names to --scenario.")
                  if any(names) else
                  "this file defines no scenarios; drop --scenario")))
    idx = names.index(scenario)
    sc = scenarios[idx]
    out = copy.deepcopy(raw)
    overrides: dict[tuple, int] = {}

    def line(path):
        return smap.line_of(path) if smap else None

    def clash(a: str, b: str) -> None:
        here = ("scenarios", idx, "set", b)
        collector.add(f"overrides {a!r} and {b!r} set the same field (or one inside the other): the "
                      "result would depend on their order", path=format_path(here), line=line(here),
                      hint="keep one of them, or set the fields inside a section instead of both")

    sets = sc.get("set") or {}
    targets: list[tuple[str, tuple]] = []
    values: list = []
    if not isinstance(sets, dict):
        collector.add("`set` must map dotted paths to values",
                      path=format_path(("scenarios", idx, "set")),
                      line=line(("scenarios", idx, "set")))
        sets = {}
    for path, value in sets.items():
        here = ("scenarios", idx, "set", path)
        if str(path).split(".")[0] == "scenarios":
            collector.add("a scenario cannot change `scenarios`", path=format_path(here), line=line(here))
            continue
        try:
            # every path is resolved on the document as written, as a sweep's --set paths are, and
            # then set: the overrides' order does not matter (QA: renaming workload chat before
            # setting workloads.chat.slo.ttft_ms failed, the other order passed)
            target = set_path(copy.deepcopy(raw), str(path), None)
        except KeyError as exc:
            inside = [q for q in sets if q != path and str(path).startswith(f"{q}.")]
            if inside:      # a section another override replaces (review: reported as 'out of range')
                clash(inside[0], str(path))
                continue
            collector.add(f"override path {path!r} does not resolve: {exc.args[0]}",
                          path=format_path(here), line=line(here),
                          hint="address list entries by id, name or region (workloads.chat.slo.ttft_ms) or by "
                               "index (fleet.existing.0.devices), as the file has them before any override: "
                               "an entry another override renames keeps its old id here")
            continue
        targets.append((str(path), target))
        values.append(value)
        if line(here) is not None:
            overrides[target] = line(here)
    clashes = overlapping_targets(targets)
    if not clashes:         # (with a clash, an earlier override may have replaced a later one's list)
        for (_, target), value in zip(targets, values):
            set_at(out, target, copy.deepcopy(value))
    for a, b in clashes:
        clash(a, b)
    return out, ScenarioSourceMap(smap, file or "", overrides)


#: how providers write their own names in messages
PROVIDER_NAMES = {"aws": "AWS", "gcp": "GCP", "azure": "Azure", "lambda": "Lambda", "runpod": "RunPod",
                  "oci": "OCI", "coreweave": "CoreWeave"}


def cloud_region_hint(value: str, cat: Catalog) -> Optional[str]:
    """'did you mean 'virginia' (us-east-1 is its AWS name)?' when ``value`` is a cloud provider's
    name of a catalog region (fleetopt regions are locations that several providers serve)."""
    hits: dict[str, list[str]] = {}
    for rid, region in cat.regions.items():
        for provider, names in region.cloud_regions.items():
            if any(str(n).lower() == value.lower() for n in names):
                hits.setdefault(rid, []).append(PROVIDER_NAMES.get(provider, provider))
    if not hits:
        return None
    said = " or ".join(f"{rid!r} ({value} is its {' and '.join(provs)} name)" for rid, provs in sorted(hits.items()))
    return (f"did you mean {said}? Regions are fleetopt ids for locations; `fleetopt catalog list regions` "
            "shows each with its cloud region names.")


def _best_reached(cat: Catalog, models: list[str], quantizations: Any, accelerators: Optional[list[str]]) -> str:
    """'85.57 (what llama-3.1-70b reaches in fp8, ...)': the best score an allowed model reaches in an
    allowed format that some allowed accelerator runs (``accelerators``: the fleet's, None when
    fleet.accelerators is not yet valid), rounded down to hundredths as `fleetopt explain` writes it,
    so that a target lowered to it has a plan (QA s22: 'at most 86', its catalog score, where fp8
    reaches 85.57; 'at most 73' in bf16, where the fleet's T4s run fp8 only)."""
    from solver.coefficients import quality_of, quant_for_model, quant_runs_on
    quants = [qid for qid in (quantizations if isinstance(quantizations, list) else cat.quantization)
              if isinstance(qid, str) and qid in cat.quantization]
    accs = [cat.accelerators[a] for a in (accelerators if accelerators is not None else cat.accelerators)]
    pairs = [(quality_of(cat.models[m], cat.quantization[qid], cat.quantization), m, qid)
             for m in models for qid in quants if quant_for_model(cat.quantization[qid], m)]
    runs = [p for p in pairs if any(quant_runs_on(cat.quantization[p[2]], a) for a in accs)]
    unchecked = "" if accelerators is not None else (
        "; not checked against fleet.accelerators, which names no valid accelerator yet")
    if not runs:
        best = max(models, key=lambda m: cat.models[m].quality.value)
        return f"{cat.models[best].quality.value:g} (its catalog score" + (
            f"; no allowed format of the allowed models runs on fleet.accelerators ({', '.join(accelerators)}): "
            "allow a format or an accelerator that runs one as well)" if pairs and accelerators is not None
            else f"{unchecked})")
    score, m, qid = max(runs)
    return (f"{math.floor(score * 100 + 1e-9) / 100:g} (what {m} reaches in {qid}, the best allowed model and "
            f"format{' an allowed accelerator runs' if len(runs) < len(pairs) else ''}; `fleetopt explain` says "
            f"what each format reaches{unchecked})")


def _check_limits_by_period(raw: dict, smap: Optional[SourceMap], collector: IssueCollector,
                            scenario: Optional[str] = None) -> None:
    """The per-period limits (power caps, availability, capex) against objective.periods: one figure or
    one list per limit, and a list only with one value per period.

    On the raw document, each at its own field's line, whatever else is wrong (QA s22: as a model
    validator of the problem they came as one error at line 1, and not at all beside a field error
    such as a negative period limit)."""
    def mapping(node):
        return node if isinstance(node, dict) else {}

    fleet, per = mapping(raw.get("fleet")), mapping(raw.get("objective")).get("periods")
    count = mapping(per).get("count")
    count = count if isinstance(count, int) and not isinstance(count, bool) and count >= 1 else None
    limits = [(("fleet", "power_caps", j), "max_kw", mapping(c), True)
              for j, c in enumerate(fleet.get("power_caps") if isinstance(fleet.get("power_caps"), list) else [])]
    limits += [(("fleet", "availability", j), "max_devices", mapping(a), True)
               for j, a in enumerate(fleet.get("availability") if isinstance(fleet.get("availability"), list) else [])]
    if isinstance(fleet.get("budget"), dict):
        limits.append((("fleet", "budget"), "max_capex_usd", fleet["budget"], False))
    tail = f" (with scenario {scenario!r})" if scenario else ""

    def add(path: tuple, message: str, hint: str) -> None:
        collector.add(message + tail, path=format_path(path), line=smap.line_of(path) if smap else None, hint=hint)

    for where, name, entry, exactly_one in limits:
        one, listed = entry.get(name), entry.get(f"{name}_by_period")
        by_period = (*where, f"{name}_by_period")
        if exactly_one and one is None and listed is None:
            add(where, "no limit given",
                f"give {name} (one figure for the horizon)"
                + (f" or {name}_by_period (one per period)" if per is not None else ""))
        elif exactly_one and one is not None and listed is not None:
            add(where, f"both {name} and {name}_by_period are given",
                f"keep one: {name} for one figure in every period, {name}_by_period for one per period (a "
                f"scenario that switches to the list sets {'.'.join(map(str, where))}.{name}: null; one that "
                f"switches to one figure sets {'.'.join(map(str, where))}.{name}_by_period: null)")
        if not isinstance(listed, list):
            continue        # none, or the schema reports its type
        if per is None:
            add(by_period, "a figure per period needs a multi-period plan",
                f"add objective.periods (e.g. periods: {{count: {max(len(listed), 1)}, months: 3}}), or for a "
                f"single period give {name} instead")
        elif count is not None and len(listed) != count:
            add(by_period, f"{len(listed)} value{'' if len(listed) == 1 else 's'} for {count} periods "
                       "(objective.periods.count)", f"give exactly {count}, one per period")


def _check_ids(raw: dict, cat: Catalog, smap: Optional[SourceMap], file: str,
               collector: IssueCollector, unreachable_quality: bool = True, scenario: Optional[str] = None) -> None:
    """Every id the problem names must exist in the catalog (or in the problem); with
    ``unreachable_quality``, a quality target above every allowed model is an issue too; and the
    per-period limits must match the periods (:func:`_check_limits_by_period`, here so that a problem
    edited in memory and validated again is checked too; ``scenario`` is named in their messages).

    Works on the raw document, defensively, so that these checks run (and are
    reported together with schema errors) even when other fields are invalid.
    """

    def line(path):
        return smap.line_of(path) if smap else None

    def check(value, kind, path, known=None):
        if not isinstance(value, str):
            return  # the schema reports the wrong type
        table = known if known is not None else cat.entries(kind)
        if value not in table:
            noun = {"models": "model", "regions": "region", "accelerators": "accelerator",
                    "quantization": "quantization", "workloads": "workload"}[kind]
            hint = (cloud_region_hint(value, cat) if kind == "regions" else None) or unknown_id_hint(value, table, kind)
            collector.add(f"unknown {noun} id {value!r}", path=format_path(path), line=line(path), hint=hint)

    def items(node):
        return list(enumerate(node)) if isinstance(node, list) else []

    def mapping(node):
        return node if isinstance(node, dict) else {}

    # the fleet's accelerators, where they are known (a quality target's hint counts only the formats
    # they run); None: fleet.accelerators names none that is valid yet
    given = mapping(raw.get("fleet")).get("accelerators")
    accs = ([a for a in given if isinstance(a, str) and a in cat.accelerators] if isinstance(given, list)
            else list(cat.accelerators) if given is None else [])
    accs = accs or None
    wl_ids: dict[str, int] = {}
    for i, w in items(raw.get("workloads")):
        w = mapping(w)
        wid = w.get("id")
        if isinstance(wid, str):
            if wid in wl_ids:
                collector.add(f"duplicate workload id {wid!r} (also workloads[{wl_ids[wid]}])",
                              path=format_path(("workloads", i, "id")), line=line(("workloads", i, "id")),
                              hint="give each workload a unique id")
            wl_ids.setdefault(wid, i)
        for key, kind in (("models", "models"), ("quantizations", "quantization"),
                          ("regions", "regions")):
            for j, v in items(w.get(key)):
                check(v, kind, ("workloads", i, key, j))
        q = mapping(w.get("quality")).get("min_score")
        if unreachable_quality and isinstance(q, (int, float)) and not isinstance(q, bool):
            allowed = [m for m in (w.get("models") if isinstance(w.get("models"), list) else cat.models)
                       if isinstance(m, str) and m in cat.models]
            if allowed:
                best_id = max(allowed, key=lambda m: cat.models[m].quality.value)
                best = cat.models[best_id].quality
                if best.value < q:
                    # what would meet it (QA s18: "allow a stronger model" named none)
                    bench = cat.models[best_id].quality_benchmark
                    stronger = cat.models_reaching(q, benchmark=bench)
                    allow = (f", or add {' or '.join(f'{m} ({cat.models[m].quality.value:g})' for m in stronger)} "
                             f"to workloads[{i}].models" if stronger and isinstance(w.get("models"), list) else
                             "" if stronger else f"; no catalog model scores {q} on {bench}")
                    collector.add(
                        f"quality target {q} is above the best allowed model "
                        f"({best_id}: {best.value} {bench})",
                        path=format_path(("workloads", i, "quality", "min_score")),
                        line=line(("workloads", i, "quality", "min_score")),
                        hint=f"lower min_score to at most {_best_reached(cat, allowed, w.get('quantizations'), accs)}"
                             f"{allow}")
    f = mapping(raw.get("fleet"))
    for j, a in items(f.get("accelerators")):
        check(a, "accelerators", ("fleet", "accelerators", j))
    for j, r in items(f.get("regions")):
        check(r, "regions", ("fleet", "regions", j))
    for group in ("availability", "existing", "offers"):
        for j, item in items(f.get(group)):
            item = mapping(item)
            check(item.get("accelerator"), "accelerators", ("fleet", group, j, "accelerator"))
            if item.get("region") is not None:
                check(item.get("region"), "regions", ("fleet", group, j, "region"))
    for j, pc in items(f.get("power_caps")):
        check(mapping(pc).get("region"), "regions", ("fleet", "power_caps", j, "region"))
    for j, m in items(raw.get("measurements")):
        m = mapping(m)
        check(m.get("accelerator"), "accelerators", ("measurements", j, "accelerator"))
        check(m.get("model"), "models", ("measurements", j, "model"))
        check(m.get("quantization", "bf16"), "quantization", ("measurements", j, "quantization"))
        if m.get("workload") is not None:
            check(m.get("workload"), "workloads", ("measurements", j, "workload"), known=wl_ids)
    names: dict[str, int] = {}
    for j, sc in items(raw.get("scenarios")):
        name = mapping(sc).get("name")
        if isinstance(name, str):
            if name in names:
                collector.add(f"duplicate scenario name {name!r}",
                              path=format_path(("scenarios", j, "name")),
                              line=line(("scenarios", j, "name")),
                              hint="give each scenario a unique name")
            names.setdefault(name, j)
    _check_limits_by_period(raw, smap, collector, scenario)


def validate_document(raw: Any, smap: Optional[SourceMap], file: str, *,
                      catalog_overlays: Iterable[str | os.PathLike] = (),
                      scenario: Optional[str] = None, base_dir: Optional[Path] = None,
                      check_scenarios: bool = True, unreachable_quality: bool = True) -> LoadedProblem:
    """Validate a parsed problem document; raise :class:`InputError` with every issue.

    ``unreachable_quality=False`` lets a quality target above every allowed model through: the
    problem is then infeasible, not malformed, and ``fleetopt explain`` diagnoses it with the rest."""
    if isinstance(catalog_overlays, (str, os.PathLike)):   # one file, not its characters
        catalog_overlays = [catalog_overlays]
    catalog_overlays = tuple(str(o) for o in catalog_overlays)   # read twice (scenarios), recorded
    if not isinstance(raw, dict):
        raise InputError(InputIssue(
            message="a problem file must be a YAML mapping (schema_version, name, workloads, ...)",
            file=file, line=1, hint="see problems/*.yaml for examples"))
    overlay_keys = [key for key in ("accelerators", "models", "quantization", "regions", "sources") if key in raw]
    if overlay_keys and "workloads" not in raw:
        raise InputError(InputIssue(
            message=f"this is a catalog overlay (it has `{overlay_keys[0]}`), not a problem", file=file, line=1,
            hint="pass it to a problem with --catalog FILE, or list it under `catalog:` in the problem file; "
                 "`fleetopt validate FILE` checks an overlay on its own"))
    collector = IssueCollector(file=file)
    base_smap = smap
    resolved, smap = apply_scenario(raw, scenario, smap, file, collector)
    problem: Optional[Problem] = None
    try:
        problem = Problem.model_validate(resolved)
    except ValidationError as exc:
        # a value the scenario set is reported at the override's line (ScenarioSourceMap); the
        # message names the scenario, since the base file's value there may be fine
        issues = pydantic_issues(exc, Problem, smap, file=file)
        if scenario:
            issues = [InputIssue(message=i.message + f" (with scenario {scenario!r})", file=i.file,
                                 line=i.line, path=i.path, hint=i.hint) for i in issues]
        collector.extend(issues)
    # Catalog: shipped + the problem's own overlays + the caller's.
    overlays: list[Path] = []
    missing: list[str] = []
    base = base_dir or Path(file).parent
    cat_list = resolved.get("catalog") or []
    if isinstance(cat_list, list):
        for j, c in enumerate(cat_list):
            p = Path(str(c))
            p = p if p.is_absolute() else base / p
            if not p.exists():
                collector.add("catalog overlay file not found", path=format_path(("catalog", j)),
                              line=smap.line_of(("catalog", j)) if smap else None,
                              hint=f"looked for {p}; " + missing_file_hint(p, "the problem file"))
                missing.append(str(c))
            else:
                overlays.append(p)
    overlays += [Path(o) for o in catalog_overlays]
    catalog: Optional[Catalog] = None
    try:
        catalog = Catalog.load(overlays)
    except InputError as exc:
        collector.extend(exc.issues)
    if catalog is not None:
        ids = IssueCollector(file=collector.file)
        _check_ids(resolved, catalog, smap, file, ids, unreachable_quality, scenario)
        if missing:
            # QA s25: ids the missing overlay defines were each reported as unknown, with a 'did you
            # mean' pointing at some shipped id
            names = " and ".join(missing)
            ids.issues = [replace(i, message=i.message + f" (catalog overlay {names}, not found, may define it)",
                                  hint=f"fix the path of {names} first; if it does not define this id: {i.hint}")
                          if i.message.startswith("unknown ") else i for i in ids.issues]
        collector.extend(ids.issues)
    if problem is not None and catalog is not None:
        if check_scenarios and scenario is None:
            for s in problem.scenarios:
                try:
                    validate_document(raw, base_smap, file, catalog_overlays=catalog_overlays,
                                      scenario=s.name, base_dir=base_dir, check_scenarios=False,
                                      unreachable_quality=unreachable_quality)
                except InputError as exc:
                    collector.extend(i for i in exc.issues if i not in collector.issues)
    collector.raise_if_any()
    assert problem is not None and catalog is not None
    return LoadedProblem(problem=problem, catalog=catalog, file=file, scenario=scenario,
                         raw=resolved, smap=smap, overlays=catalog_overlays)


def load_problem(path: str | os.PathLike, *, scenario: Optional[str] = None,
                 catalog_overlays: Iterable[str | os.PathLike] | str | os.PathLike = (),
                 unreachable_quality: bool = True) -> LoadedProblem:
    """Read, resolve and validate a problem file; ``catalog_overlays`` is one overlay file or a list
    (``unreachable_quality``: :func:`validate_document`)."""
    if not isinstance(path, (str, os.PathLike)):
        # QA s23: load_problem(123) raised pathlib's TypeError eight frames deep
        raise TypeError(f"load_problem needs the path of a problem file (str or pathlib.Path), got "
                        f"{type(path).__name__}: pass e.g. load_problem('problems/chat-assistant.yaml'), "
                        "or load_problem_text(TEXT) for YAML text")
    raw, smap = load_yaml_file(path)
    return validate_document(raw, smap, str(path), catalog_overlays=catalog_overlays,
                             scenario=scenario, unreachable_quality=unreachable_quality)


def load_problem_text(text: str, *, file: str = "<string>", scenario: Optional[str] = None,
                      base_dir: Optional[Path] = None) -> LoadedProblem:
    """Same as :func:`load_problem` for YAML text (tests, notebooks)."""
    raw, smap = load_yaml_text(text, file=file)
    return validate_document(raw, smap, file, scenario=scenario, base_dir=base_dir or Path("."))
