"""``fleetopt import melange|aibrix ...``: turn a peer tool's input into a problem file."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

from solver.errors import InputError, InputIssue


def _edges(text, flag):
    if text is None:
        return None
    try:
        vals = [float(v) for v in text.split(",")]
    except ValueError:
        raise InputError(InputIssue(message=f"bucket edges {text!r} must be comma-separated numbers", path=flag,
                                    hint=f"for example {flag} 1,25,100,250")) from None
    if any(b <= a for a, b in zip(vals, vals[1:])):
        raise InputError(InputIssue(message=f"bucket edges {text!r} must increase", path=flag,
                                    hint=f"for example {flag} 1,25,100,250"))
    return vals


def _check_slo_flags(args) -> None:
    """--ttft-ms and --tpot-ms are written into every workload: refuse them here, against the flag."""
    issues = [InputIssue(message=f"{flag} must be a positive number of milliseconds (got {value:g})", path=flag,
                         hint=f"for example {flag} {default:g}")
              for flag, value, default in (("--ttft-ms", args.ttft_ms, 60000), ("--tpot-ms", args.tpot_ms, 1000))
              if not (math.isfinite(value) and value > 0)]
    if issues:
        raise InputError(issues)


def register(sub) -> None:
    p = sub.add_parser("import", help="import a Mélange config or AIBrix profiles as a fleetopt problem")
    tools = p.add_subparsers(dest="tool", metavar="TOOL", required=True)

    def common(q):
        q.add_argument("--output", "-o", required=True, metavar="PROBLEM.yaml")
        q.add_argument("--model", default="llama-2-7b", help="catalog model id the profiles were made for")
        q.add_argument("--region", default="virginia", help="region id to place the fleet in")
        q.add_argument("--map", action="append", default=[], metavar="NAME=ID",
                       help="map a GPU name of the file to a catalog accelerator id (repeatable)")
        q.add_argument("--catalog", action="append", default=[], metavar="FILE", help="catalog overlay")
        q.add_argument("--ttft-ms", type=float, default=60000.0,
                       help="TTFT target written to the problem, ms (default 60000: a placeholder, the profiles embody the SLO)")
        q.add_argument("--tpot-ms", type=float, default=1000.0,
                       help="TPOT target written to the problem, ms (default 1000: a placeholder, as --ttft-ms)")
        q.add_argument("--force", action="store_true", help="overwrite an existing output file")

    m = tools.add_parser("melange", help="a Mélange solver config (JSON)")
    m.add_argument("file")
    m.add_argument("--input-edges", default=None, help="input bucket edges in tokens, e.g. 1,25,100")
    m.add_argument("--output-edges", default=None, help="output bucket edges in tokens")
    common(m)
    m.set_defaults(func=run)

    a = tools.add_parser("aibrix", help="AIBrix GPU profiles (JSON, one per GPU type)")
    a.add_argument("files", nargs="+")
    a.add_argument("--rate", type=float, required=True, help="total requests per second")
    a.add_argument("--distribution", default=None, metavar="FILE.json",
                   help="traffic fractions per cell, rows = output lengths (default: uniform)")
    common(a)
    a.set_defaults(func=run)


def _with_catalog(problem: dict, overlays: list[str]) -> dict:
    """``problem`` with ``catalog: overlays`` placed after its name (the order a reader expects)."""
    out: dict = {}
    for key, value in problem.items():
        out[key] = value
        if key == "name":
            out["catalog"] = overlays
    out.setdefault("catalog", overlays)
    return out


def _unwritten(issue: InputIssue, out: str) -> InputIssue:
    """An issue found in the generated problem, which is not written: said of the import, not of
    the output file (a user cannot open it, nor edit what the importer made)."""
    if issue.file != out:
        return issue      # e.g. a --catalog overlay: that file exists
    return InputIssue(message=f"the imported problem would be invalid (nothing was written to {out}): "
                              f"{issue.path + ': ' if issue.path else ''}{issue.message}",
                      hint=issue.hint)


def run(args) -> int:
    from solver.catalog import Catalog
    from solver.cli import check_outputs
    from solver.importers import import_aibrix, import_melange
    from solver.importers.common import parse_mapping, read_json
    from solver.cli.validate import presolve_findings
    from solver.problem.load import validate_document
    from solver.yamlio import atomic_write_text, load_yaml_text

    _check_slo_flags(args)
    catalog = Catalog.load(args.catalog)
    mapping = parse_mapping(args.map)
    out = Path(args.output)
    inputs = [args.file] if args.tool == "melange" else list(args.files)
    for f in inputs:
        if Path(f).exists() and out.exists() and out.resolve() == Path(f).resolve():
            raise InputError(InputIssue(message="--output would overwrite the input file", file=str(out),
                                        hint="choose another output path"))
    if out.exists() and not out.is_dir() and not args.force:  # a folder: check_outputs says to name a file
        raise InputError(InputIssue(message="output file exists", file=str(out),
                                    hint="choose another path or pass --force to replace it"))
    check_outputs(args, {"output": "--output"})
    if args.tool == "melange":
        res = import_melange(args.file, catalog=catalog, model=args.model, region=args.region,
                             mapping=mapping, input_edges=_edges(args.input_edges, "--input-edges"),
                             output_edges=_edges(args.output_edges, "--output-edges"), ttft_ms=args.ttft_ms,
                             tpot_ms=args.tpot_ms)
        question = f"what is the cheapest GPU mix for the Mélange config {Path(args.file).name}?"
    else:
        dist = (read_json(args.distribution, dir_hint="name the distribution JSON file (a matrix of fractions)")
                if args.distribution else None)
        res = import_aibrix(args.files, catalog=catalog, total_rate=args.rate, distribution=dist,
                            model=args.model, region=args.region, mapping=mapping,
                            ttft_ms=args.ttft_ms, tpot_ms=args.tpot_ms, distribution_file=args.distribution)
        question = "what is the cheapest GPU mix for these AIBrix profiles?"
    if args.catalog:
        # the problem names its overlays itself (paths relative to it), so it solves on its own
        where = out.parent.resolve()
        res.problem = _with_catalog(res.problem, [os.path.relpath(Path(c).resolve(), where) for c in args.catalog])
    text = res.to_yaml(question)
    # The generated file must itself validate before it is written.
    raw, smap = load_yaml_text(text, file=str(out))
    try:
        loaded = validate_document(raw, smap, str(out), base_dir=out.parent)
    except InputError as exc:
        raise InputError([_unwritten(issue, str(out)) for issue in exc.issues]) from None
    # what `validate` would say of it (QA s22: a 70B model measured on one 24 GB GPU, or a T4-only
    # problem no plan can serve, imported with exit 0 and no word)
    found = presolve_findings(loaded)
    atomic_write_text(out, text)
    print(f"wrote {out}: {len(res.problem['workloads'])} workload(s), "
          f"{len(res.problem['fleet']['offers'])} GPU type(s), "
          f"{len(res.problem['measurements'])} measured capacities")
    for n in res.notes:
        print(f"note: {n}", file=sys.stderr)
    for w in res.warnings:
        print(f"warning: {w}", file=sys.stderr)
    # one line per finding, its places together (the same message for each bucket's measurement)
    grouped: dict = {}
    for i in found.errors + found.warnings:
        grouped.setdefault((i.message, i.hint), []).append(i.path)
    for (message, hint), paths in grouped.items():
        where = ", ".join(p for p in paths if p)
        print(f"warning: {out}: {where + ': ' if where else ''}{message}" + (f"\n    fix: {hint}" if hint else ""),
              file=sys.stderr)
    if found.errors:
        print(f"warning: `fleetopt validate {out}` will refuse it as written ({len(found.errors)} error(s) above)",
              file=sys.stderr)
    return 0
