"""Generate ``docs/problem-reference.md``: every problem field, from the pydantic schema.

The page is written from :mod:`solver.problem.schema` (field types, bounds, defaults and
descriptions), never by hand, so it cannot drift: ``tests/test_problem_reference.py`` fails when the
committed page differs from what this module generates.  Regenerate with::

    python -m solver.problem.reference            # writes docs/problem-reference.md
    python -m solver.problem.reference --check    # exit 1 when the page is stale
"""

from __future__ import annotations

import argparse
import inspect
import sys
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from solver.problem.schema import Problem

PAGE = Path(__file__).resolve().parents[2] / "docs" / "problem-reference.md"

#: units of fields whose name does not end in one (the suffix rule is in :func:`_unit`)
UNITS = {
    "percentile": "percent", "max_utilization": "fraction", "max_spot_share": "fraction",
    "resale_fraction": "fraction", "discount_rate_per_period": "fraction per period",
    "growth_rate_per_period": "fraction per period", "growth": "multiplier", "profile": "fraction of peak",
    "mip_gap": "fraction", "min_score": "score (0-100)", "cv": "ratio", "mean": "tokens", "p90": "tokens",
    "max": "tokens", "devices": "devices", "max_devices": "devices", "devices_per_instance": "devices",
    "tensor_parallel": "devices", "count": "periods", "months": "months", "start_period": "period index",
    "threads": "threads", "max_kw_by_period": "kW per period", "max_devices_by_period": "devices per period",
    "max_capex_usd_by_period": "USD per period",
    # objective.periods.price_change_per_period's keys (only these fields of the problem have these names)
    **{k: "fraction per period" for k in ("on_demand", "spot", "reserved_1y", "reserved_3y", "purchase",
                                          "electricity")},
}
#: unit suffixes of field names, longest first
SUFFIXES = (("_usd_per_device_hour", "USD per device-hour"), ("_usd_per_device", "USD per device"),
            ("_usd_per_month", "USD per month"), ("_usd_per_tonne", "USD per tCO2e"), ("_usd", "USD"),
            ("requests_per_s", "requests/s"), ("_ms", "ms"), ("_s", "s"), ("_kw", "kW"), ("_w", "W"),
            ("_hours", "hours"), ("_months", "months"), ("_years", "years"), ("_tokens", "tokens"))


def _unit(name: str) -> str:
    if name in UNITS:
        return UNITS[name]
    for suffix, unit in SUFFIXES:
        if name.endswith(suffix) or name == suffix.lstrip("_"):
            return unit
    return ""


def _models(ann: Any) -> list[type]:
    out, stack = [], [ann]
    while stack:
        a = stack.pop(0)
        if isinstance(a, type) and issubclass(a, BaseModel):
            out.append(a)
        else:
            stack.extend(typing.get_args(a))
    return out


def _type(ann: Any) -> str:
    """An annotation in words: 'list of [Workload](#workload)', 'one of on_demand, spot', 'number'."""
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is typing.Union:
        rest = [a for a in args if a is not type(None)]
        return " or ".join(_type(a) for a in rest)
    if origin is Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if origin in (list, tuple):
        return "list of " + _type(args[0])
    if origin is dict:
        return f"mapping {_type(args[0])} -> {_type(args[1])}"
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return f"[{ann.__name__}](#{ann.__name__.lower()})"
    return {float: "number", int: "integer", str: "text", bool: "true/false"}.get(ann, "any")


def _bounds(field) -> str:
    words = []
    for m in field.metadata:
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"), ("min_length", "entries >=")):
            v = getattr(m, attr, None)
            if v is not None:
                words.append(f"{sign} {v:g}" if isinstance(v, float) else f"{sign} {v}")
    return ", ".join(words)


def _default(field) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            return "(its defaults)"
    else:
        value = field.default
    if value is None:
        return "not set"
    if value is PydanticUndefined:
        return "**required**"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if isinstance(value, str):
        return f"`{value}`"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def generate() -> str:
    """The page's Markdown text."""
    order: list[type] = []
    where: dict[type, list[str]] = {Problem: ["(top level)"]}
    queue: list[tuple[type, str]] = [(Problem, "")]
    while queue:
        model, prefix = queue.pop(0)
        if model not in order:
            order.append(model)
        for name, field in model.model_fields.items():
            ann = field.annotation
            is_list = any(typing.get_origin(a) is list for a in [ann, *typing.get_args(ann)])
            path = f"{prefix}{name}" + ("[]" if is_list else "")
            for sub in _models(ann):
                where.setdefault(sub, [])
                if f"`{path}`" not in where[sub]:
                    where[sub].append(f"`{path}`")
                if sub not in order:
                    queue.append((sub, f"{path}."))
    out = ["# Problem file reference", "",
           "<!-- generated by `python -m solver.problem.reference` from solver/problem/schema.py; "
           "do not edit by hand -->", "",
           "Every field of a problem file (`problems/*.yaml`), generated from the schema that validates it. "
           "Units are in field names; unknown keys are errors. Sections follow the file's nesting; a "
           "type in brackets links to its section.", "",
           "Contents: " + ", ".join(f"[{m.__name__}](#{m.__name__.lower()})" for m in order), ""]
    for model in order:
        out += [f"## {model.__name__}", ""]
        doc = inspect.cleandoc(model.__dict__.get("__doc__") or "")   # its own, not Strict's
        if doc:
            out += [" ".join(doc.split("\n\n")[0].split()), ""]
        out += [f"At: {', '.join(where[model])}", "",
                "| field | type | unit | default | meaning |", "|---|---|---|---|---|"]
        for name, field in model.model_fields.items():
            typ = _type(field.annotation)
            bounds = _bounds(field)
            unit = "" if _models(field.annotation) else _unit(name)
            out.append(f"| `{name}` | {_cell(typ + (f' ({bounds})' if bounds else ''))} | {unit} | "
                       f"{_cell(_default(field))} | {_cell(field.description or '')} |")
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 when the page differs from the schema")
    ap.add_argument("--out", default=str(PAGE), help="where to write (default: docs/problem-reference.md)")
    args = ap.parse_args(argv)
    text, out = generate(), Path(args.out)
    if args.check:
        stale = not out.exists() or out.read_text(encoding="utf-8") != text
        if stale:
            print(f"{out} is stale: run `python -m solver.problem.reference`", file=sys.stderr)
        return 1 if stale else 0
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
