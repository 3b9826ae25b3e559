"""Shared pieces of Pareto fronts and sweeps: re-validating an edited
problem document, and a flat summary of a plan (one table row)."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Optional, Sequence

from solver.mip.periods import PERIOD_COST_PARTS
from solver.errors import InputError
from solver.mip.options import SolveOptions  # noqa: F401 - its home before solve_problem checked it

#: plan statuses that carry a fleet
HAS_PLAN = ("optimal", "time_limit")


def base_document(loaded) -> dict:
    """The document a front's or sweep's variants of ``loaded`` are built from, without
    ``scenarios`` (they do not change a solve).

    ``loaded.raw`` while it validates to ``loaded.problem`` (the file's own spelling: sweep cache
    keys stay as they were); else ``loaded.problem`` itself.  A problem edited in memory
    (``dataclasses.replace(loaded, problem=...)``, as homogeneous_baseline does) is what
    solve_problem solves, so fronts and sweeps must start from it too (QA: they solved the file).
    """
    if _validates_to(getattr(loaded, "raw", None), loaded.problem):
        doc = copy.deepcopy(loaded.raw)
    else:
        # exclude_unset: the fields the problem sets, not every default (some exclude others)
        doc = loaded.problem.model_dump(mode="json", exclude_unset=True)
    doc.pop("scenarios", None)
    return doc


def _validates_to(raw, problem) -> bool:
    """Whether ``raw`` is still the document ``problem`` was validated from (a fraction of a ms)."""
    from solver.problem.schema import Problem
    if not isinstance(raw, dict):
        return False
    try:
        return Problem.model_validate(raw) == problem
    except ValueError:        # pydantic's ValidationError: raw was edited into something invalid
        return False


def caller_overlays(loaded, overlays: Optional[Sequence[str]]) -> tuple[str, ...]:
    """The catalog overlays a front's or sweep's variants are validated with: ``overlays`` (one
    path or a list) when given, else those ``loaded`` was loaded with (QA: a problem loaded with an overlay got fronts
    and sweeps priced on the shipped catalog)."""
    if overlays is None:
        return tuple(getattr(loaded, "overlays", ()))
    if isinstance(overlays, (str, os.PathLike)):     # one file, as load_problem takes it (QA: its characters)
        return (str(overlays),)
    try:
        return tuple(str(o) for o in overlays)
    except TypeError:
        raise TypeError(f"overlays must be a catalog overlay path or a list of them, got "
                        f"{type(overlays).__name__}: e.g. overlays=['negotiated.yaml']") from None


def require_options(options, who: str) -> SolveOptions:
    """``options`` if it is a SolveOptions; else a TypeError that says how to make one (QA: a dict
    failed with "'dict' object has no attribute 'check'")."""
    if isinstance(options, SolveOptions):
        return options
    fix = (f"options=SolveOptions(**{options!r})" if isinstance(options, dict) else
           "e.g. options=SolveOptions(time_limit_s=60)")
    raise TypeError(f"{who} needs options= as a SolveOptions (from solver.explore.common import "
                    f"SolveOptions), got {type(options).__name__}: pass {fix}")


def validate_edited(doc: dict, file: str, *, overlays: Sequence[str] = ()):
    """Validate an edited problem document (no line numbers: it no longer matches the file).

    Catalog overlay paths stay relative to the original problem file.
    """
    from solver.problem.load import validate_document
    return validate_document(doc, None, file, catalog_overlays=list(overlays),
                             base_dir=Path(file).parent, check_scenarios=False)


def one_line(exc: BaseException) -> str:
    """An exception as one table cell: every input issue, '; '-separated."""
    if isinstance(exc, InputError):
        parts = []
        for i in exc.issues:
            where = f"{i.path}: " if i.path else ""
            parts.append(f"{where}{i.message}" + (f" ({i.hint})" if i.hint else ""))
        return "; ".join(parts)
    return f"{type(exc).__name__}: {exc}"


def plan_summary(plan: dict) -> dict:
    """Flat numbers of a plan JSON dict: status, totals, cost parts, devices per accelerator."""
    obj = plan.get("objective") or {}
    br = obj.get("breakdown") or {}
    tot = plan.get("totals") or {}
    sol = plan.get("solver") or {}
    has = plan.get("status") in HAS_PLAN
    row = {
        "status": plan.get("status"),
        "total_usd": obj.get("total") if has else None,
        "usd_per_month": obj.get("usd_per_month") if has else None,
    }
    for part in PERIOD_COST_PARTS:    # the single-period parts, then the multi-period one-offs
        row[f"cost_{part}_usd"] = br.get(part, 0.0) if has else None
    row["devices"] = tot.get("devices") if has else None
    row["replicas"] = tot.get("replicas") if has else None
    row["co2_kg"] = tot.get("co2_kg") if has else None
    row["energy_kwh"] = tot.get("energy_kwh") if has else None
    row["solver_s"] = sol.get("seconds")
    row["gap"] = sol.get("gap")
    per_acc: dict[str, int] = {}
    for p in plan.get("procurement") or []:
        per_acc[p["accelerator"]] = per_acc.get(p["accelerator"], 0) + int(p["devices"])
    for acc in sorted(per_acc):
        row[f"devices_{acc}"] = per_acc[acc]
    timeline = (plan.get("periods") or {}).get("timeline") if has else None
    if timeline:
        # a multi-period plan has no procurement table: its capex and the devices it buys, by
        # accelerator, over the horizon (QA s20: a sweep's rows could not compare the purchases)
        row["capex_usd"] = sum(r.get("capex_usd") or 0.0 for r in timeline)
        bought: dict[str, int] = {}
        for r in timeline:
            for u in r.get("units") or []:
                if u.get("buy"):
                    acc = u.get("accelerator") or str(u["offer"]).split("@")[0]
                    bought[acc] = bought.get(acc, 0) + int(u["buy"]) * int(u.get("devices_per_unit") or 1)
        for acc in sorted(bought):
            row[f"devices_bought_{acc}"] = bought[acc]
    return row


def fleet_mix(plan: dict) -> str:
    """Short text of the procured devices, e.g. '3x a10g + 1x h100-sxm'."""
    per_acc: dict[str, int] = {}
    for p in plan.get("procurement") or []:
        per_acc[p["accelerator"]] = per_acc.get(p["accelerator"], 0) + int(p["devices"])
    return " + ".join(f"{n}x {a}" for a, n in sorted(per_acc.items())) or "-"
