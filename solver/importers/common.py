"""Shared pieces of the peer-tool importers: GPU name mapping, JSON reading,
and writing the generated problem."""

from __future__ import annotations

import difflib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional, Sequence

import yaml

from solver.catalog import Catalog
from solver.catalog.gpu_names import accelerator_for_name
from solver.coefficients import quant_for_model, quant_runs_on
from solver.errors import InputError, InputIssue, IssueCollector, unknown_id_hint
from solver.problem.schema import MIN_RPS, Demand
from solver.yamlio import note_input
from solver.validation import shown  # noqa: F401 - the importers show numbers as the problem loader does

#: a workload's demand, at most (req/s): read from the problem schema, so that the importers refuse
#: in the peer file's terms exactly what the generated problem's validation would refuse
MAX_RPS = next(m.le for m in Demand.model_fields["requests_per_s"].metadata if hasattr(m, "le"))
#: a key of a peer file this close to a key the importer reads (difflib ratio, lower case) is taken
#: for a misspelling of it ('max_cnt', 'count' for 'max_count'): 0.7 keeps 'tpot' (0.67 to 'tputs')
#: a key of its own
NEAR_MISS = 0.7
#: devices in one unit of a peer tool's GPU type, at most (the largest catalog node, GB200 NVL72, has 72)
MAX_UNIT_DEVICES = 72


@dataclass
class ImportResult:
    """A generated problem document plus what the import assumed."""

    problem: dict
    notes: list[str] = field(default_factory=list)
    #: what will make the problem fail later (printed as ``warning:``), e.g. traffic no GPU type serves
    warnings: list[str] = field(default_factory=list)

    def to_yaml(self, question: str) -> str:
        header = [f"# Question: {question}"]
        header += [f"# warning: {w}" for w in self.warnings]
        header += [f"# note: {n}" for n in self.notes]
        body = yaml.safe_dump(self.problem, sort_keys=False, allow_unicode=True, width=100)
        return "\n".join(header) + "\n" + body


class _Pairs(list):
    """A JSON object as its (key, value) pairs, repeated keys kept (see :func:`read_json`)."""


def _objects(node: Any, path: str, repeated: list[str]) -> Any:
    """``node`` with every :class:`_Pairs` made a dict; the path of each key seen twice goes to ``repeated``."""
    if isinstance(node, _Pairs):
        out: dict = {}
        for key, value in node:
            p = f"{path}.{key}" if path else key
            if key in out:
                repeated.append(p)
            out[key] = _objects(value, p, repeated)
        return out
    if isinstance(node, list):
        return [_objects(v, f"{path}[{i}]", repeated) for i, v in enumerate(node)]
    return node


def read_json(path: str | Path, *, dir_hint: str = "name a JSON file inside it") -> Any:
    """The parsed JSON file; a key given twice in one object (JSON would keep the last) is bad input."""
    p = Path(path)
    if not p.exists():
        raise InputError(InputIssue(message="file not found", file=str(p), hint="check the path"))
    if p.is_dir():
        raise InputError(InputIssue(message="is a directory, not a file", file=str(p), hint=dir_hint))
    note_input(p)
    try:
        # utf-8-sig: a byte-order mark (some Windows editors write one) is not part of the JSON
        raw = json.loads(p.read_text(encoding="utf-8-sig"), object_pairs_hook=_Pairs)
        repeated: list[str] = []
        data = _objects(raw, "", repeated)
    except OSError as exc:
        raise InputError(InputIssue(message=f"cannot read: {exc.strerror}", file=str(p),
                                    hint="check permissions")) from None
    except UnicodeDecodeError:
        raise InputError(InputIssue(message="not UTF-8 text", file=str(p), hint="give a JSON file")) from None
    except json.JSONDecodeError as exc:
        raise InputError(InputIssue(message=f"not valid JSON: {exc.msg}", file=str(p), line=exc.lineno,
                                    hint="check brackets and commas near this line")) from None
    except RecursionError:
        raise InputError(InputIssue(message="JSON nested too deeply", file=str(p), hint="give a JSON file")) from None
    except ValueError:  # Python refuses to read a whole number of more than 4300 digits
        raise InputError(InputIssue(message="holds a whole number of more than 4300 digits", file=str(p),
                                    hint="write numbers of a usable size (a rate, a price, a count)")) from None
    if repeated:
        raise InputError([InputIssue(message="key given twice in one object (JSON keeps only the last)",
                                     file=str(p), path=k, hint="keep one entry per key: delete or rename the other")
                          for k in repeated])
    return data


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    """``["A40=l40s"]`` -> ``{"a40": "l40s"}`` (names are case-insensitive)."""
    out: dict[str, str] = {}
    for p in pairs or []:
        k, _, v = p.partition("=")
        k, v = k.strip(), v.strip()
        if not k or not v:
            raise InputError(InputIssue(message=f"--map {p!r} must look like NAME=ID", path="--map",
                                        hint="for example --map A10G=a10g"))
        out[k.lower()] = v
    return out


class Unit(NamedTuple):
    """What one unit of a peer tool's GPU type is here: ``devices`` of catalog ``accelerator``, running one
    replica at tensor-parallel degree ``devices`` (the peer files give one rate and one cost per unit)."""

    accelerator: str
    devices: int


def map_gpu(name: str, catalog: Catalog, mapping: dict[str, str], collector: IssueCollector,
            file: str, path: str) -> Optional[Unit]:
    """The unit a peer tool's GPU name stands for, or an issue with a hint.

    --map NAME=ID reads the unit as one device of ID; a name stating a device count ('A100x2', 'H100-SXM-8':
    :func:`device_count`) is a unit of that many devices of the accelerator the rest of the name names."""
    key = name.strip().lower()
    if key in mapping:
        cand = mapping[key]
        if cand not in catalog.accelerators:
            # the flag is wrong, not the file: say so (the file's name is what the user mapped)
            hint = unknown_id_hint(cand, catalog.accelerators, "accelerators")
            collector.extend([InputIssue(message=f"--map {name}={cand}: {cand!r} is not a catalog accelerator",
                                         path="--map", hint=f"{hint} (Or add it with --catalog FILE.)")])
            return None
        return Unit(cand, 1)
    count = device_count(key, catalog)
    if count is not None:
        word, acc = count
        n = int(re.sub(r"\D", "", word))
        if not 1 <= n <= MAX_UNIT_DEVICES:
            collector.add(f"GPU {name!r} names a unit of {n} devices ({word!r}): a unit has 1 to "
                          f"{MAX_UNIT_DEVICES} devices here", file=file, path=path,
                          hint=f"rename it, or read the unit as one {acc} at its cost and rates with "
                               f"--map '{name}={acc}'")
            return None
        return Unit(acc, n)
    cand = accelerator_for_name(key, catalog.accelerators)
    if cand is None or cand not in catalog.accelerators:
        hint = unknown_id_hint(cand or key, catalog.accelerators, "accelerators")
        collector.add(f"GPU {name!r} has no catalog accelerator", file=file, path=path,
                      hint=f"{hint} Name one with --map '{name}=ID' (or add it with --catalog FILE).")
        return None
    return Unit(cand, 1)


def unit_issue(name: str, unit: Unit, model_id: str, catalog: Catalog, collector: IssueCollector, file: str,
               path: str) -> None:
    """An issue where a unit of several devices cannot be one replica of the model at its degree (the
    model's attention heads do not split over it, or one node has fewer devices)."""
    if unit.devices == 1 or model_id not in catalog.models:
        return
    acc, heads = catalog.accelerators[unit.accelerator], catalog.models[model_id].num_attention_heads
    why = (f"{model_id}'s {heads} attention heads do not split over {unit.devices} devices" if heads % unit.devices
           else f"one {unit.accelerator} node has {acc.devices_per_node} devices"
           if unit.devices > acc.devices_per_node else None)
    if why:
        collector.add(f"GPU {name!r} is a unit of {unit.devices} {unit.accelerator} devices, read as one replica "
                      f"at tensor parallelism {unit.devices}, and {why}", file=file, path=path,
                      hint=f"to read the unit as one {unit.accelerator} at its cost and rates (power and hosting "
                           f"one device's), name it with --map '{name}={unit.accelerator}'")


#: a word of a GPU name that counts devices: '4x', 'x4' (the word of its own)
_COUNT_WORD = re.compile(r"^(\d+x|x\d+)$")
#: a count glued to the GPU word: '8xa100', 'a100x2' (groups: count and GPU word, or GPU word and count)
_GLUED_COUNT = re.compile(r"^(\d+x)([a-z].*)$|^(.*\d)(x\d+)$")


def _memory_size(number: str, name: str, catalog: Catalog) -> bool:
    """Whether ``number`` ending ``name`` is the memory of the card the name spells (in GB or GiB, within
    12 %: the catalog keeps 80 GiB as 85.9 GB)."""
    acc = accelerator_for_name(name, catalog.accelerators)
    if acc is None or acc not in catalog.accelerators:
        return False
    mem_gb = catalog.accelerators[acc].memory_gb.value
    return any(abs(mem_gb - float(number) * f) <= 0.12 * mem_gb for f in (1.0, 1.073741824))


def device_count(key: str, catalog: Catalog) -> Optional[tuple[str, str]]:
    """(the count, the accelerator the rest names) where a GPU name states a device count, else None.

    The rule (QA s22: 'A10G-4x' and 'H100-SXM-8' were read as one device while 'A100x2' was refused):
    a number with an x, as a word or glued to the GPU word ('4x', 'x4', '8xA100', 'A100x2'), or a
    number alone as the name's last word ('H100-SXM-8', 'MI300X-8'), where the rest of the name names a
    catalog accelerator, unless that number is the card's memory ('A100-40', 'T4-16': GB); a number before
    the GPU word ('deepseek-r1-0528-h100') is part of a name.  Such a unit is read as that many devices
    (:func:`map_gpu`); until 2026-12-07 it was refused, and --map read it as one device."""
    words = [w for w in re.split(r"[-_ ()]+", key) if w]
    for i, w in enumerate(words):
        glued = _GLUED_COUNT.match(w)
        count = w
        if _COUNT_WORD.match(w):
            rest = words[:i] + words[i + 1:]
        elif glued:
            count = glued.group(1) or glued.group(4)
            rest = words[:i] + [glued.group(2) or glued.group(3)] + words[i + 1:]
        elif w.isdigit() and i == len(words) - 1 and i > 0:
            if _memory_size(w, "-".join(words), catalog):
                continue        # 'A100-40', 'H100-80', 'T4-16': the card's memory, not a count (QA s22 review)
            rest = words[:i]
        else:
            continue
        acc = accelerator_for_name("-".join(rest), catalog.accelerators) if rest else None
        if acc is not None and acc in catalog.accelerators:
            return count, acc
    return None


def capped_twice(profiles: dict, collector: IssueCollector, file: str) -> None:
    """An issue where GPU types of one accelerator in units of different sizes carry a max_count: the
    problem caps devices per accelerator and region, not per unit size.  ``profiles`` maps names to
    (unit, cost, tputs, max_count, field path)."""
    by_acc: dict[str, list] = {}
    for name, (unit, _cost, _tputs, max_count, path) in profiles.items():
        if unit is not None:
            by_acc.setdefault(unit.accelerator, []).append((name, unit, max_count, path))
    for acc, group in sorted(by_acc.items()):
        capped = [g for g in group if g[2] is not None]
        if len(group) > 1 and capped:
            names = ", ".join(repr(g[0]) for g in group)
            collector.add(f"GPU types {names} are units of {acc} of different sizes, and "
                          f"{', '.join(repr(g[0]) for g in capped)} carries a max_count: the generated problem "
                          f"caps the devices of an accelerator per region, not per unit size", file=file,
                          path=capped[0][3] + ".max_count",
                          hint="import each unit size on its own, or drop max_count and write one cap on "
                               f"{acc}'s devices under fleet.availability of the generated problem")


def same_gpu_issue(name: str, file: str, earlier: tuple[str, str], acc: str, collector: IssueCollector,
                   path: str, same_file: bool = False) -> None:
    """An issue for a GPU type whose accelerator an earlier one (its ``(name, where)``) has: --map tells
    two names apart, not one name given twice (QA s22: it was the fix for the same file given twice)."""
    name0, where0 = earlier
    if same_file:
        collector.add(f"the same file is given twice (also as {where0})", file=file, path=path,
                      hint="name each profile file once")
    elif name.strip().lower() == name0.strip().lower():
        collector.add(f"profiles the same GPU {name!r} as {where0}", file=file, path=path,
                      hint="keep one of the two (--map cannot tell them apart: it goes by the GPU name)")
    else:
        collector.add(f"GPU {name!r} maps to accelerator {acc!r}, as {name0!r} ({where0}) does", file=file,
                      path=path, hint=f"if they are different GPUs, name this one's accelerator with --map "
                                      f"'{name}=ID'; if they are the same, keep one of the two")


def check_keys(obj: dict, read, col: IssueCollector, file: str, path: str = "", known=()) -> list[str]:
    """The keys of ``obj`` the importer neither reads (``read``) nor knows as the peer format's own
    (``known``: read by the peer tool, not by fleetopt), as field paths, for one warning.  A key that
    is a read key in other letter case ('Cost': the peer tools read lower case) or a near-miss of one
    ('max_cnt') is an issue instead: its value would be dropped and the plan would ignore what the
    user meant."""
    unread = []
    for k in obj:
        if k in read or k in known:
            continue
        where = f"{path}.{k}" if path else k
        if k.lower() in read and k.lower() not in obj:
            col.add(f"key {k!r} is not read: keys are lower case ({k.lower()!r})", file=file, path=where,
                    hint=f"rename {k!r} to {k.lower()!r}")
            continue
        near = difflib.get_close_matches(k.lower(), list(read), n=1, cutoff=NEAR_MISS)
        if near:
            col.add(f"key {k!r} is not read: did you mean {near[0]!r}?", file=file, path=where,
                    hint=f"rename {k!r} to {near[0]!r} (or delete it if it is not meant as {near[0]})")
            continue
        unread.append(where)
    return unread


def unread_warning(unread: dict[str, list[str]], read: str) -> Optional[str]:
    """One warning naming, per file, the keys no part of the import read; ``read`` says what is."""
    listed = "; ".join(f"{Path(f).name}: {', '.join(keys)}" for f, keys in unread.items() if keys)
    if not listed:
        return None
    return (f"keys not read, so the plan does not use them: {listed}. The plan is built from {read}, plus "
            f"the flags (--model, --region, --ttft-ms, --tpot-ms): delete these keys, or if they matter, "
            f"write what they mean into the generated problem")


def unmatched_map_warning(mapping: dict[str, str], names: list[str]) -> Optional[str]:
    """A warning for each --map NAME=ID whose NAME no input GPU has (it would change nothing)."""
    have = {n.strip().lower() for n in names}
    missed = [k for k in mapping if k not in have]
    if not missed:
        return None
    return (f"--map {', '.join(f'{k}={mapping[k]}' for k in missed)}: not used, no GPU in the input files has "
            f"{'that name' if len(missed) == 1 else 'those names'} (names match in any letter case; the files' "
            f"GPU names: {', '.join(sorted(set(names)))})")


def unit_note(tool: str, units: dict[str, Unit]) -> str:
    """What a unit of each GPU type is here, for the import's notes: ``units`` maps the files' GPU names
    to their units."""
    several = sorted((name, u) for name, u in units.items() if u.devices > 1)
    one = ("each {tool} unit is read as one device of its catalog accelerator (its power, hosting and device "
           "counts are one GPU's)").format(tool=tool)
    if not several:
        return one + ("; a GPU name with a device count ('A100x2', 'H100-SXM-8') is read as a unit of that many "
                      "devices")
    listed = ", ".join(f"{name} = {u.devices} x {u.accelerator}" for name, u in several)
    return (f"where a GPU name states a device count, the {tool} unit is that many devices running one replica "
            f"at that tensor-parallel degree ({listed}): its cost is split over its devices, its measured rates "
            f"are the replica's, and power and hosting are counted per device; a unit that ran one replica "
            f"per GPU costs and serves the same in the plan, only its replicas' TP reads differently; "
            + ("the other units are one device each" if len(several) < len(units) else "")).rstrip("; ")


#: how the 16-bit format note ends: the files do not say which format was profiled
UNSAID_FORMAT = ("the peer files do not say which format was profiled: if the profiles ran another one, change "
                 "quantizations: in the workloads and quantization: in the measurements to its id "
                 "(`fleetopt catalog list quantization`)")


@dataclass
class Precision:
    """The 16-bit formats the measurements are written for: ``schemes`` (the workloads allow them),
    ``of`` per accelerator (every one of ``schemes`` its family runs), and what to say about them."""

    schemes: list[str]
    of: dict[str, list[str]]
    note: str
    warning: Optional[str] = None


def sixteen_bit(catalog: Catalog, model: str, accelerators: Sequence[str]) -> Precision:
    """The 16-bit formats (``weight_format`` bf16 or fp16) to write the profiles in, looked up in the
    catalog with the solver's own rule (family and model), bf16 first.

    QA s22: a T4 profile written as bf16, which the catalog's bf16 does not list for family turing, was
    pruned before its measured rates were looked at.  One format for every GPU type where one runs on all
    (a T4 with an A100: fp16); else each GPU type gets each chosen format its family runs, measured with
    the same figures, since a format the workloads allow but no measurement names would be planned
    with the performance model's figures instead of the profile's."""
    cands = sorted((q.id for q in catalog.quantization.values()
                    if q.weight_format in ("bf16", "fp16") and q.weight_format == q.compute_format),
                   key=lambda q: (q != "bf16", q))
    runs = {a: [q for q in cands if quant_runs_on(catalog.quantization[q], catalog.accelerators[a])
                and quant_for_model(catalog.quantization[q], model)] for a in accelerators}
    common = next((q for q in cands if all(q in runs[a] for a in accelerators)), None)
    schemes = [common] if common else []
    for a in accelerators:
        if runs[a] and not set(runs[a]) & set(schemes):
            schemes.append(runs[a][0])
    schemes = schemes or cands[:1] or ["bf16"]
    of = {a: [q for q in schemes if q in runs[a]] or schemes[:1] for a in accelerators}
    lost = [a for a in accelerators if not runs[a]]
    warning = None
    if lost:
        fams = ", ".join(f"{a} (family {catalog.accelerators[a].family})" for a in lost)
        warning = (f"{fams}: no 16-bit quantization scheme of the catalog ({', '.join(cands) or 'none'}) runs "
                   f"{'it' if len(lost) == 1 else 'them'} for {model}, so the plan cannot use "
                   f"{'its' if len(lost) == 1 else 'their'} measured rates (written for {schemes[0]}, which the "
                   f"solver leaves out there): if the serving software runs 16-bit weights on that family, add "
                   f"it to the supported_families of {' or '.join(cands) or 'a 16-bit scheme'} in a catalog "
                   f"overlay (--catalog FILE); else drop the GPU type")
    if len(schemes) == 1:
        why = ""
        if schemes[0] != "bf16" and "bf16" in cands:
            shut = sorted({catalog.accelerators[a].family for a in accelerators if "bf16" not in runs[a]})
            why = (f", a 16-bit format every GPU type here runs (the catalog's bf16 does not list family "
                   f"{', '.join(shut)})")
        note = f"every workload and measurement is written for quantization {schemes[0]}{why}; {UNSAID_FORMAT}"
    else:
        each = "; ".join(f"{a}: {' and '.join(of[a])}" for a in accelerators)
        note = (f"measurements are written in the 16-bit formats each GPU type's family runs ({each}; one "
                f"profile, the same figures in each) and the workloads allow {', '.join(schemes)}: no one "
                f"16-bit format of the catalog runs on every GPU type here; {UNSAID_FORMAT}")
    return Precision(schemes=schemes, of=of, note=note, warning=warning)


def spelled_number(v: Any) -> Optional[str]:
    """The number a string spells once quotes and a '$' are dropped ('$3.67' -> '3.67'), else None."""
    if not isinstance(v, str):
        return None
    text = v.strip().lstrip("$").strip()
    try:
        x = float(text)
    except ValueError:
        return None
    return text if math.isfinite(x) else None


def as_number(v: Any) -> Optional[float]:
    """``v`` as a finite float, else None: not a number (true/false is not one), NaN, infinite, or a
    whole number too large for a float (JSON allows 400 digits; converting them raises)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        x = float(v)
    except OverflowError:
        return None
    return x if math.isfinite(x) else None


def short(x: float) -> str:
    """1e9 as '1e9' (not '1e+09')."""
    return f"{x:g}".replace("e+0", "e").replace("e+", "e")


def check_positive(v: Any, what: str, example: str, collector: IssueCollector, file: str, path: str,
                   most: Optional[float] = None) -> None:
    """An issue unless ``v`` is a finite number above 0 and at most ``most``; ``what`` says what it is
    ('a positive $/hour').  ``most`` is the generated problem's own limit, checked here so that it is
    reported once, in the peer file's terms."""
    x = as_number(v)
    if x is not None and x > 0 and (most is None or x <= most):
        return
    text, key = spelled_number(v), path.rsplit(".", 1)[-1]
    too_big = (x is not None and x > 0) or (x is None and isinstance(v, int) and not isinstance(v, bool) and v > 0)
    if v is None:
        collector.add(f"missing {key}: {what}", file=file, path=path, hint=f"add it as a number, e.g. {example}")
    elif too_big and most is not None:
        collector.add(f"{key} is above {short(most)}, the most a problem takes (got {shown(v)}: a unit slip?)",
                      file=file, path=path, hint=f"give {what} of at most {short(most)}, e.g. {example}")
    elif too_big:
        collector.add(f"{key} is too large for a number (got {shown(v)})", file=file, path=path,
                      hint=f"give {what}, e.g. {example}")
    elif text is not None and float(text) > 0:
        collector.add(f"{key} must be {what} (got the string {v!r})", file=file, path=path,
                      hint=f"write it as a number without quotes{' or $' if '$' in v else ''}: {text}")
    else:
        collector.add(f"{key} must be {what} (got {shown(v)})", file=file, path=path,
                      hint=f"give a number above 0, e.g. {example}")


def check_flag_ids(catalog: Catalog, model: str, region: str) -> None:
    """--model and --region name catalog ids: refuse them against the flag (a cloud region name
    such as 'us-east-1' gets the catalog region it belongs to)."""
    from solver.problem.load import cloud_region_hint
    issues = []
    if model not in catalog.models:
        issues.append(InputIssue(message=f"unknown model id {model!r}", path="--model",
                                 hint=unknown_id_hint(model, catalog.models, "models")))
    if region not in catalog.regions:
        issues.append(InputIssue(message=f"unknown region id {region!r}", path="--region",
                                 hint=(cloud_region_hint(region, catalog)
                                       or unknown_id_hint(region, catalog.regions, "regions"))))
    if issues:
        raise InputError(issues)


def _shape_hint(what: str, rows: int | None, cols: int | None, rows_are: str, cols_are: str) -> str:
    size = f" ({rows}x{cols})" if rows is not None and cols is not None else ""
    return f"give {what} as a list of rows, one per {rows_are}, each a list of numbers, one per {cols_are}{size}"


def check_matrix(m: Any, rows: int | None, cols: int | None, what: str, file: str, path: str,
                 collector: IssueCollector, *, rows_are: str = "row bucket", cols_are: str = "column bucket",
                 values: str = "a number >= 0", shape_of: str = "",
                 least_positive: float = 0.0) -> Optional[list[list[float]]]:
    """A rectangular matrix of finite numbers >= 0, or an issue with a fix.  ``rows_are`` and
    ``cols_are`` name what a row and a column stand for (in the hints); ``values`` what each entry is;
    ``shape_of`` where the expected shape comes from ('as workload_distribution'); an entry above 0
    must be at least ``least_positive`` (capacities: the problem schema's floor, said in the peer
    file's terms)."""
    if m is None:
        collector.add(f"missing {what}", file=file, path=path,
                      hint=_shape_hint(what, rows, cols, rows_are, cols_are))
        return None
    if isinstance(m, dict):
        lists = [k for k, v in m.items() if isinstance(v, list)]
        inner = f": the value of its {lists[0]!r} key" if len(lists) == 1 else " (a list of rows)"
        collector.add(f"{what} is a JSON object, not a matrix", file=file, path=path,
                      hint=f"give the matrix itself, not an object around it{inner}")
        return None
    if not isinstance(m, list) or not m or not all(isinstance(r, list) and r for r in m):
        bad = [i for i, r in enumerate(m) if not (isinstance(r, list) and r)] if isinstance(m, list) else []
        where = f" (row {bad[0]} is {json.dumps(m[bad[0]])[:40]})" if bad else ""
        collector.add(f"{what} must be a non-empty matrix (list of lists){where}", file=file,
                      path=f"{path}[{bad[0]}]" if bad else path, hint=_shape_hint(what, rows, cols, rows_are, cols_are))
        return None
    if cols is not None:
        width = cols
    else:  # the most common row length (the first row's on a tie)
        lengths = [len(r) for r in m]
        width = max(lengths, key=lambda n: (lengths.count(n), -lengths.index(n)))
    ragged = [i for i, r in enumerate(m) if len(r) != width]
    if ragged and len(ragged) < len(m):
        for i in ragged:
            # the width the other input fixes, else the most common one (review: 'the other rows 2'
            # when two of three rows had 3 and the distribution 2 columns)
            than = f"expected {width}" if cols is not None else f"the other rows {width}"
            collector.add(f"{what} row {i} has {len(m[i])} value(s), {than}", file=file,
                          path=f"{path}[{i}]", hint=f"give every row {width} values, one per {cols_are}")
        return None
    width = len(m[0])
    if any(len(r) != width for r in m):  # every row differs from the expected width
        collector.add(f"{what} rows have different lengths ({', '.join(str(len(r)) for r in m)})", file=file,
                      path=path, hint=_shape_hint(what, rows, cols, rows_are, cols_are))
        return None
    if (rows is not None and len(m) != rows) or (cols is not None and width != cols):
        hint = (f"rows are {rows_are}s and columns {cols_are}s: {what} must be {rows}x{cols}"
                f"{' ' + shape_of if shape_of else ''}")
        if len(m) == cols and width == rows:
            hint += f"; this one is transposed (rows = {cols_are}s): swap its rows and columns"
        collector.add(f"{what} is {len(m)}x{width}, expected {rows}x{cols}", file=file, path=path, hint=hint)
        return None
    out = []
    for i, r in enumerate(m):
        row = []
        for j, v in enumerate(r):
            x = as_number(v)
            if x is None or x < 0:
                text = spelled_number(v)
                hint = (f"write it as a number without quotes: {text}" if text is not None and float(text) >= 0
                        else f"each entry is {values}")
                collector.add(f"{what}[{i}][{j}] must be a finite number >= 0 (got {shown(v)})",
                              file=file, path=f"{path}[{i}][{j}]", hint=hint)
                return None
            if 0 < x < least_positive:
                collector.add(f"{what}[{i}][{j}] is {x:g}, above 0 but below {least_positive:g}, the least a "
                              "capacity may be (one request every "
                              f"{1 / least_positive / 86400:.1f} days; the solvers cannot be trusted below)",
                              file=file, path=f"{path}[{i}][{j}]",
                              hint="write 0 if the GPU cannot serve that cell, or check the unit (requests/s)")
                return None
            row.append(x)
        out.append(row)
    return out


def problem_skeleton(name: str, description: str, model: str, region: str, accelerators: list[str],
                     ttft_ms: float, tpot_ms: float, catalog: Catalog) -> dict:
    return {
        "schema_version": 1,
        "name": name,
        "description": description,
        "workloads": [],
        "fleet": {
            "accelerators": accelerators,
            "regions": [region],
            "acquisition": ["on_demand"],
            "tensor_parallel": [1],
            "max_utilization": 1.0,
            "catalog_offers": False,
            "offers": [],
            "availability": [],
        },
        "objective": {"horizon_hours": 1, "include_energy": False, "carbon_usd_per_tonne": 0},
        "solver": {"backend": "pulp", "mip_gap": 0.0, "time_limit_s": 60},
        "measurements": [],
        "_model": model, "_slo": (ttft_ms, tpot_ms), "_precision": sixteen_bit(catalog, model, accelerators),
    }


def add_bucket_workload(doc: dict, wid: str, rate: float, input_tokens: float, output_tokens: float) -> None:
    ttft_ms, tpot_ms = doc["_slo"]
    doc["workloads"].append({
        "id": wid,
        "demand": {"requests_per_s": float(f"{rate:.12g}")},  # 12 digits: no float noise, no tiny rate made 0
        "input_tokens": {"mean": float(input_tokens), "distribution": "fixed", "cv": 0.0},
        "output_tokens": {"mean": float(output_tokens), "distribution": "fixed", "cv": 0.0},
        "slo": {"ttft_ms": ttft_ms, "tpot_ms": tpot_ms, "percentile": 99},
        "models": [doc["_model"]],
        "quantizations": list(doc["_precision"].schemes),
    })


def add_gpu_profile(doc: dict, *, unit: Unit, region: str, usd_per_hour: float, provider: str,
                    cost_source: str, cells: dict, tputs: list[list[float]],
                    cell_source: Callable[[int, int], str]) -> None:
    """One GPU type: its hourly offer (a unit of ``unit.devices`` devices at the unit's cost) and one
    measured capacity per traffic cell, of one replica at tensor parallelism ``unit.devices``.

    ``cells`` maps a matrix index (r, c) to a workload id; ``cell_source(r, c)`` names where the
    figure came from.  (A function, not a format string: the text holds the user's file name, and
    ``'cfg{x}.json'`` formatted as a template was a KeyError, exit 1 - QA s27.)
    """
    n = unit.devices
    doc["fleet"]["offers"].append({
        "accelerator": unit.accelerator, "region": region, "acquisition": "on_demand",
        "usd_per_device_hour": float(usd_per_hour) / n, "devices_per_instance": n, "provider": provider,
        "source": cost_source + (f" (the unit's $/h over its {n} devices)" if n > 1 else "")})
    if n not in doc["fleet"]["tensor_parallel"]:
        doc["fleet"]["tensor_parallel"] = sorted([*doc["fleet"]["tensor_parallel"], n])
    for quant in doc["_precision"].of[unit.accelerator]:
        for (r, c), wid in sorted(cells.items()):
            doc["measurements"].append({
                "accelerator": unit.accelerator, "model": doc["_model"], "quantization": quant,
                "tensor_parallel": n, "workload": wid, "max_requests_per_s": float(tputs[r][c]),
                "source": cell_source(r, c)})


def close_unprofiled_degrees(doc: dict, tool: str) -> None:
    """Measure 0 req/s for each (accelerator, tensor-parallel degree) a unit could host but no profile ran.

    A unit of several devices adds its degree to fleet.tensor_parallel, which every accelerator's offers
    then host where their units are large enough: without these rows an A100x2 unit would also host two
    replicas at TP 1 (and an A100 unit a TP-2 replica, were it a unit of 2) whose capacity came from the
    performance model at the problem's placeholder SLO instead of a profile."""
    sizes: dict[str, set[int]] = {}
    for o in doc["fleet"]["offers"]:
        sizes.setdefault(o["accelerator"], set()).add(o["devices_per_instance"])
    measured = {(m["accelerator"], m["tensor_parallel"]) for m in doc["measurements"]}
    for acc, have in sorted(sizes.items()):
        for tp in doc["fleet"]["tensor_parallel"]:
            if (acc, tp) in measured or not any(n % tp == 0 for n in have):
                continue
            for quant in doc["_precision"].of[acc]:
                for w in doc["workloads"]:
                    doc["measurements"].append({
                        "accelerator": acc, "model": doc["_model"], "quantization": quant, "tensor_parallel": tp,
                        "workload": w["id"], "max_requests_per_s": 0.0,
                        "source": f"not profiled: no {tool} unit of {acc} ran a replica at tensor parallelism {tp}"})


def unservable_warning(doc: dict) -> Optional[str]:
    """A warning naming the buckets with traffic that every GPU type measures at 0 req/s, if any."""
    served = {m["workload"] for m in doc["measurements"] if m["max_requests_per_s"] > 0}
    lost = [f"{w['id']} ({w['demand']['requests_per_s']:g} req/s)" for w in doc["workloads"] if w["id"] not in served]
    if not lost:
        return None
    one = len(lost) == 1
    return (f"no GPU type can serve bucket{'' if one else 's'} {', '.join(lost)}: every profile measures "
            f"0 req/s there, so the plan will be infeasible unless a GPU type that can serve "
            f"{'it' if one else 'them'} is added")


@dataclass
class Traffic:
    """Where the generated demand comes from, so that a bucket too small to plan for is named by
    the peer file's field ('workload_distribution[2][0]' of m.json), not by a workload id."""

    rate: float
    rate_file: Optional[str]   # None: the rate is a flag
    rate_field: str            # 'total_request_rate', '--rate'
    dist_file: Optional[str]   # None: no file (AIBrix' default uniform mix)
    dist_field: str            # 'workload_distribution', 'distribution'
    shares: list[list[float]]
    cells: dict                # workload id -> (row, column) of shares


def _tiny_buckets(doc: dict, traffic: Traffic) -> list[InputIssue]:
    """An issue per bucket whose demand is below MIN_RPS (one for the rate if every bucket is)."""
    rates = {w["id"]: w["demand"]["requests_per_s"] for w in doc["workloads"]}
    tiny = [w for w, r in rates.items() if r < MIN_RPS]
    if not tiny:
        return []
    t = traffic
    need = MIN_RPS / min(t.shares[r][c] for r, c in (t.cells[w] for w in tiny))
    raise_rate = f"raise {t.rate_field} to at least {need:.3g} req/s"
    if len(tiny) == len(rates):
        return [InputIssue(message=f"{t.rate_field} {t.rate:g} req/s gives every bucket less than {MIN_RPS:g} "
                                   f"req/s, the smallest demand a plan can serve (largest: {max(rates.values()):.3g}"
                                   " req/s)", file=t.rate_file, path=t.rate_field, hint=raise_rate)]
    issues = []
    for wid in tiny:
        r, c = t.cells[wid]
        issues.append(InputIssue(
            message=f"bucket {t.dist_field}[{r}][{c}] gets {t.shares[r][c]:.3g} of {t.rate_field} {t.rate:g} req/s = "
                    f"{rates[wid]:.3g} req/s, less than {MIN_RPS:g} req/s, the smallest demand a plan can serve",
            file=t.dist_file, path=f"{t.dist_field}[{r}][{c}]",
            hint=f"drop or merge that bucket: set its share to 0, adding it to a neighbouring bucket's share so that "
                 f"the shares still sum to 1; or, if the traffic really is larger, {raise_rate}"))
    return issues


def finish(doc: dict, notes: list[str], traffic: Traffic, warnings: Sequence[Optional[str]] = ()) -> ImportResult:
    """The import's result; ``warnings`` (None: nothing to say) precede what the problem itself warns of."""
    doc.pop("_slo")
    doc.pop("_model")
    precision = doc.pop("_precision")
    tiny = _tiny_buckets(doc, traffic)
    if tiny:
        raise InputError(tiny)
    if not doc["fleet"]["availability"]:
        del doc["fleet"]["availability"]
    said = [w for w in (*warnings, precision.warning, unservable_warning(doc)) if w]
    return ImportResult(problem=doc, notes=[*notes, precision.note], warnings=said)
