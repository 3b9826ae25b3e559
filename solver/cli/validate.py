"""``fleetopt validate FILE...``: check problem (or catalog) files without solving."""

from __future__ import annotations

import sys

from solver.errors import EXIT_BAD_INPUT, InputError, InputIssue
from solver.yamlio import load_yaml_file


def register(sub) -> None:
    p = sub.add_parser("validate", help="check problem or catalog files; report every error at once")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--catalog", action="append", default=[], metavar="FILE",
                   help="catalog overlay file (repeatable)")
    p.add_argument("--scenario", default=None, help="validate with this scenario applied")
    p.set_defaults(func=run)


def validate_file(path: str, catalog: list[str], scenario=None) -> str:
    """Validate one file; return a one-line summary or raise InputError."""
    from solver.catalog import Catalog
    from solver.problem.load import validate_document

    raw, smap = load_yaml_file(path)
    if isinstance(raw, dict) and "workloads" not in raw and any(
            k in raw for k in ("accelerators", "models", "quantization", "regions")):
        cat = Catalog.load([path])
        n = sum(len(cat.entries(k)) for k in ("accelerators", "models", "quantization", "regions"))
        return f"ok: {path} (catalog overlay; merged catalog has {n} entries)"
    lp = validate_document(raw, smap, path, catalog_overlays=catalog, scenario=scenario)
    p = lp.problem
    return (f"ok: {path}: {p.name!r}, {len(p.workloads)} workload(s), "
            f"{len(p.scenarios)} scenario(s)")


def run(args) -> int:
    issues: list[InputIssue] = []
    for f in args.files:
        try:
            print(validate_file(f, args.catalog, args.scenario))
        except InputError as exc:
            issues.extend(exc.issues)
    if issues:
        print(InputError(issues).format(), file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0
