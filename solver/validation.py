"""Turn pydantic validation errors into :class:`InputIssue` lists.

Schemas are strict (``extra="forbid"``); an unknown key gets a "did you mean"
from the model's own field names, and every message carries file, line and
field path.
"""

from __future__ import annotations

import re

import typing
from typing import Any, Type

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator

from solver.errors import InputIssue, did_you_mean
from solver.yamlio import SourceMap, format_path, parse_path


class Strict(BaseModel):
    """Base of every input schema: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True,
                              allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_as_number(cls, value: Any, info: ValidationInfo) -> Any:
        """Reject true/false where no boolean belongs: pydantic would read `tpot_ms: yes` as 1 ms."""
        field = cls.model_fields.get(info.field_name or "")
        if field is None or _admits_bool(field.annotation):
            return value
        if _holds_bool(value, deep=not _holds_model(field.annotation)):
            raise ValueError("true/false is not a value of this field (YAML reads yes/no/on/off "
                             "as booleans): give a number, or quote the text")
        return value


def _annotation_parts(ann: Any) -> list:
    """``ann`` and every type nested in it (Optional, list, dict, Annotated, Literal)."""
    out, stack = [], [ann]
    while stack:
        a = stack.pop()
        out.append(a)
        stack.extend(typing.get_args(a))
    return out


def _admits_bool(ann: Any) -> bool:
    return any(a is bool or a is Any for a in _annotation_parts(ann))


def _holds_model(ann: Any) -> bool:
    return any(isinstance(a, type) and issubclass(a, BaseModel) for a in _annotation_parts(ann))


def _holds_bool(value: Any, deep: bool) -> bool:
    """Whether ``value`` is a boolean or (``deep``: containers of plain values) holds one."""
    if isinstance(value, bool):
        return True
    if deep and isinstance(value, (list, tuple)):
        return any(_holds_bool(v, True) for v in value)
    if deep and isinstance(value, dict):
        return any(_holds_bool(v, True) for v in value.values())
    return False


def _model_at(model: Type[BaseModel], loc: tuple) -> Type[BaseModel] | None:
    """Walk ``loc`` through nested model annotations to find the model that owns it."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        f = current.model_fields.get(part)
        if f is None:
            return None
        ann = f.annotation
        # unwrap Optional / list / dict / Union to the first BaseModel inside
        stack = [ann]
        found = None
        while stack:
            a = stack.pop(0)
            if isinstance(a, type) and issubclass(a, BaseModel):
                found = a
                break
            stack.extend(typing.get_args(a))
        if found is None:
            return None
        current = found
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


_BOUND_HINTS = {
    "greater_than": ("gt", "use a value above {}"),
    "greater_than_equal": ("ge", "use a value of at least {}"),
    "less_than": ("lt", "use a value below {}"),
    "less_than_equal": ("le", "use a value of at most {}"),
    "too_short": ("min_length", "give at least {} entries"),
}

_FRIENDLY = {
    "missing": "required field is missing",
    "extra_forbidden": "unknown field",
    "finite_number": "must be a finite number (not NaN or infinity)",
    "model_type": "must be a mapping of fields",
    "model_attributes_type": "must be a mapping of fields",
    "dict_type": "must be a mapping",
    "list_type": "must be a list",
}

#: a validator's message may end with FIX + how to fix it; the part after it becomes the hint
FIX = " | fix: "


def shown(v) -> str:
    """``repr(v)``, but a whole number of more than 20 digits by its length (a message stays readable:
    YAML and JSON read a 400-digit number as a Python int)."""
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 10 ** 20:
        return f"a whole number of {len(str(abs(v)))} digits"
    return repr(v)


def _shape_hint(typ: str, model: Type[BaseModel], loc: tuple, given: Any) -> str | None:
    """How to write a value of the right shape where a mapping or a list was expected."""
    if typ == "list_type":
        return f"write a list, e.g. [{given}]"
    owner = _model_at(model, loc)
    if owner is None:
        return None
    fields = list(owner.model_fields)
    if "value" in fields and "source" in fields:  # a catalog figure
        return f"write `{{value: {given}, source: \"where the figure comes from\"}}`"
    required = [n for n, f in owner.model_fields.items() if f.is_required()]
    return ("write it as a mapping of " + ", ".join(f"`{n}`" for n in (required or fields)[:6])
            + (", ..." if len(required or fields) > 6 else "")
            + (" (required)" if required else ""))


def pydantic_issues(exc: ValidationError, model: Type[BaseModel], smap: SourceMap | None,
                    prefix: tuple = (), file: str | None = None) -> list[InputIssue]:
    """Convert a :class:`ValidationError` into issues with lines and hints."""
    issues: list[InputIssue] = []
    file = file or (smap.file if smap else None)
    for err in exc.errors(include_url=False):
        loc = tuple(err.get("loc", ()))
        # Drop pydantic's union-branch labels such as 'function-after[...]' or type tags.
        loc = tuple(p for p in loc if isinstance(p, int) or not (
            "[" in str(p) and "]" in str(p)) and str(p) not in ("float", "int", "str", "bool"))
        full = prefix + loc
        typ = err.get("type", "")
        msg = _FRIENDLY.get(typ, err.get("msg", "invalid value"))
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        msg, _, own_fix = msg.partition(FIX)
        hint = None
        if typ == "extra_forbidden" and loc:
            owner = _model_at(model, loc[:-1])
            if owner is not None:
                names = list(owner.model_fields)
                close = did_you_mean(str(loc[-1]), names)
                if close:
                    hint = f"did you mean {' or '.join(repr(c) for c in close)}?"
                else:
                    hint = "allowed fields here: " + ", ".join(names)
                hint += " Remove or rename the key." if close else "; remove or rename the key"
        elif typ == "missing" and loc:
            hint = f"add `{loc[-1]}:` here"
        elif "input" in err and typ not in ("missing",):
            given = err["input"]
            if not isinstance(given, (dict, list)) and "(got " not in msg:
                msg = f"{msg} (got {shown(given)})"
            ctx = err.get("ctx") or {}
            if "expected" in ctx:
                hint = f"use one of {ctx['expected']}"
            elif typ in _BOUND_HINTS:
                key = _BOUND_HINTS[typ][0]
                hint = _BOUND_HINTS[typ][1].format(ctx.get(key))
            elif typ == "finite_number":        # (QA s18: no fix line)
                hint = "give a plain finite number (YAML reads .nan, .inf and 1e400 as not finite)"
            elif typ in ("int_from_float", "int_parsing_size"):
                # (QA s27: "got a number with a fractional part (got 1e-300)" with no fix line)
                hint = "give a whole number (e.g. 2), within the field's range"
            elif typ in ("float_parsing", "int_parsing", "float_type", "int_type"):
                hint = "give a plain number; the unit is in the field name"
            elif typ in ("bool_parsing", "bool_type"):
                hint = "write true or false"
            elif typ in ("string_type",):
                hint = "write a text value (quote it if YAML reads it as a number or a date)"
            elif typ in ("model_type", "model_attributes_type", "dict_type", "list_type"):
                hint = _shape_hint(typ, model, loc, given)
        if own_fix:
            hint = own_fix
        parts = _located_parts(msg) if typ == "value_error" else None
        if parts:
            # a cross-field check names each problem's own field ('workloads[1].demand.growth: ...'):
            # one issue per problem, each at its own line
            for sub, text in parts:
                line = smap.line_of(full + sub) if smap else None
                issues.append(InputIssue(message=text, file=file, line=line, path=format_path(full + sub)))
            continue
        line = smap.line_of(full) if smap else None
        issues.append(InputIssue(message=msg, file=file, line=line,
                                 path=format_path(full), hint=hint))
    return issues


_PATH_AT_START = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*(?:\[\d*\])*(?:\.[A-Za-z_][A-Za-z0-9_]*(?:\[\d*\])*)*): (.+)$",
                            re.S)


def _located_parts(msg: str) -> list[tuple[tuple, str]] | None:
    """Split a validator's '; '-joined message whose every part starts with a field path.

    Returns [(path, text)], or None when the message is not of that form (then it stays one issue).
    """
    out = []
    for part in msg.split("; "):
        hit = _PATH_AT_START.match(part.strip())
        if not hit:
            return None
        out.append((parse_path(hit.group(1)), hit.group(2)))
    return out
