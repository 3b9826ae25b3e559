"""``fleetopt validate FILE...``: check problem (or catalog) files without solving.

Exit 2 when a file has input errors; else exit 3 when a pre-solve check
(:mod:`solver.problem.checks`) proves that no plan can exist; else 0, with its warnings (settings
that do nothing) printed on stderr.
"""

from __future__ import annotations

import sys

from solver.cli import Once
from solver.errors import EXIT_BAD_INPUT, EXIT_INFEASIBLE, InputError, InputIssue
from solver.yamlio import load_yaml_file


def register(sub) -> None:
    p = sub.add_parser("validate", help="check problem or catalog files; report every error at once")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--catalog", action="append", default=[], metavar="FILE",
                   help="catalog overlay file (repeatable)")
    p.add_argument("--scenario", action=Once, default=None,
                   help="validate with this scenario applied")
    p.set_defaults(func=run)


def validate_file(path: str, catalog: list[str], scenario=None, findings: list | None = None,
                  catalog_warnings: list | None = None) -> str:
    """Validate one file; return a one-line summary or raise InputError.

    A problem file's pre-solve :class:`~solver.problem.checks.Findings` are appended to
    ``findings`` when given, and the warnings of the catalog it was checked against (an overlay's
    likely mistakes: an id collision, a family no scheme runs ...) to ``catalog_warnings``.
    """
    from solver.catalog import Catalog
    from solver.problem.checks import presolve_checks
    from solver.problem.load import validate_document

    raw, smap = load_yaml_file(path)
    if isinstance(raw, dict) and "workloads" not in raw and any(
            k in raw for k in ("accelerators", "models", "quantization", "regions", "sources")):
        cat = Catalog.load(list(catalog) + [path])      # on top of the --catalog overlays it builds on
        if catalog_warnings is not None:
            catalog_warnings.extend(cat.warnings)
        n = sum(len(cat.entries(k)) for k in ("accelerators", "models", "quantization", "regions"))
        return (f"ok: {path} (catalog overlay; merged catalog has {n} entries"
                + (f", {len(cat.warnings)} warning(s)" if cat.warnings else "") + ")") + "".join(
            f"\n  note: {text}" for text in replaced_lists(raw, Catalog.load(list(catalog))))
    lp = validate_document(raw, smap, path, catalog_overlays=catalog, scenario=scenario)
    p = lp.problem
    if catalog_warnings is not None:
        catalog_warnings.extend(lp.catalog.warnings)
    found = presolve_checks(lp)
    if findings is not None:
        findings.append(found)
    if found.errors:
        return f"infeasible: {path}: {p.name!r}: {len(found.errors)} error(s) found before solving"
    return (f"ok: {path}: {p.name!r}, {len(p.workloads)} workload(s), "
            f"{len(p.scenarios)} scenario(s)"
            + (f", {len(found.warnings)} warning(s)" if found.warnings else ""))


def replaced_lists(raw: dict, base) -> list[str]:
    """The lists an overlay replaces whole in entries the catalog below it has (QA: one offer silently
    dropped the twelve shipped ones), one sentence each."""
    out = []
    for kind in ("accelerators", "models", "quantization", "regions"):
        for entry in raw.get(kind) or []:
            if not isinstance(entry, dict) or entry.get("id") not in base.entries(kind):
                continue
            old = base.entries(kind)[entry["id"]]
            for key, val in entry.items():
                before = getattr(old, key, None)
                if isinstance(val, list) and isinstance(before, list) and len(before) > len(val):
                    out.append(f"{kind}.{entry['id']}.{key}: these {len(val)} replace the {len(before)} of the "
                               "catalog below (lists are replaced whole; repeat the items to keep, as "
                               "`fleetopt catalog show ID` lists them)")
    return out


def run(args) -> int:
    from solver.catalog import warnings_text

    issues: list[InputIssue] = []
    findings: list = []
    cat_warnings: list[InputIssue] = []
    for f in args.files:
        try:
            print(validate_file(f, args.catalog, args.scenario, findings, cat_warnings))
        except InputError as exc:
            # an overlay named on the command line and by a problem given beside it is read twice:
            # its errors are reported once
            issues.extend(i for i in exc.issues if i not in issues)
    # an overlay validated beside a problem that lists it warns once
    print(warnings_text(dict.fromkeys(cat_warnings)), end="", file=sys.stderr)
    for found in findings:
        print(found.format(), end="", file=sys.stderr)
    if issues:
        print(InputError(issues).format(), file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_INFEASIBLE if any(found.errors for found in findings) else 0
