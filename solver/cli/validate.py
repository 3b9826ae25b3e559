"""``fleetopt validate FILE...``: check problem (or catalog) files without solving.

Exit 2 when a file has input errors; else exit 3 when a pre-solve check
(:mod:`solver.problem.checks`, and :func:`quantization_dead_ends` here) proves that no plan can
exist; else 0, with its warnings (settings that do nothing) printed on stderr.
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
    from solver.problem.load import validate_document

    raw, smap = load_yaml_file(path)
    if isinstance(raw, dict) and "workloads" not in raw and any(
            k in raw for k in ("accelerators", "models", "quantization", "regions", "sources")):
        cat = Catalog.load(list(catalog) + [path])      # on top of the --catalog overlays it builds on
        if catalog_warnings is not None:
            catalog_warnings.extend(cat.warnings)
        n = sum(len(cat.entries(k)) for k in ("accelerators", "models", "quantization", "regions"))
        return (f"ok: {path} (catalog overlay; merged catalog has {n} entries"
                + (f", {len(cat.warnings)} warning(s)" if cat.warnings else "") + ")")
    lp = validate_document(raw, smap, path, catalog_overlays=catalog, scenario=scenario)
    p = lp.problem
    if catalog_warnings is not None:
        catalog_warnings.extend(problem_catalog_warnings(lp))
    found = presolve_findings(lp)
    if findings is not None:
        findings.append(found)
    if found.errors:
        return f"infeasible: {path}: {p.name!r}: {len(found.errors)} error(s) found before solving"
    return (f"ok: {path}: {p.name!r}, {len(p.workloads)} workload(s), "
            f"{len(p.scenarios)} scenario(s)"
            + (f", {len(found.warnings)} warning(s)" if found.warnings else ""))


def problem_catalog_warnings(loaded) -> list[InputIssue]:
    """The warnings of a problem's catalog (its overlays' likely mistakes) that the pre-solve checks
    do not restate: an accelerator family no scheme runs is one of theirs, named there for the
    accelerators the fleet allows (QA s21: `validate` printed it twice)."""
    return [w for w in loaded.catalog.warnings
            if not (w.path and w.path.startswith("accelerators") and w.path.endswith(".family"))]


def presolve_findings(loaded):
    """What ``validate`` and ``solve`` print before solving: :func:`~solver.problem.checks.presolve_checks`'
    findings, with :func:`quantization_dead_ends` among the errors."""
    from solver.problem.checks import presolve_checks
    found = presolve_checks(loaded)
    found.errors += quantization_dead_ends(loaded)
    return found


def quantization_dead_ends(loaded) -> list[InputIssue]:
    """An error per workload none of whose allowed quantizations runs on the family of any allowed
    accelerator that can host a replica in its regions (QA s21: fp8 only, on trainium2 of a family no
    fp8 scheme lists: validate exited 0, the solve then found no plan).  Like the other pre-solve
    checks it reads the catalog and the fleet's offers only (no performance model)."""
    from solver.coefficients import build_offers, quant_for_model, quant_runs_on
    from solver.periods import with_move_targets
    from solver.problem.checks import ERROR_TAIL, _hosts
    from solver.yamlio import format_path

    p, cat = loaded.problem, loaded.catalog
    smap = getattr(loaded, "smap", None)
    hosting = [o for o in build_offers(with_move_targets(p, cat)[0], cat) if _hosts(o, cat, p.fleet.tensor_parallel)]
    out = []
    for i, w in enumerate(p.workloads):
        accs = sorted({o.accelerator for o in hosting if not w.regions or o.region in w.regions})
        quants = list(w.quantizations or cat.quantization)
        models = list(w.models or cat.models)
        running = [q for q in quants if any(quant_runs_on(cat.quantization[q], cat.accelerators[a]) for a in accs)]
        if running and not any(quant_for_model(cat.quantization[q], m) for q in running for m in models):
            # (QA s21: a scheme whose sources cover gpt-oss only, allowed for a Llama workload)
            out.append(InputIssue(
                message=(f"workload {w.id!r}: {' and '.join(running)} "
                         + ("runs on the allowed accelerators but is" if len(running) == 1 else
                            "run on the allowed accelerators but are")
                         + " offered for other models only ("
                         + "; ".join(f"{q}: {', '.join(cat.quantization[q].models)}" for q in running)
                         + f"), not for {', '.join(models)}" + ERROR_TAIL),
                hint=f"allow another quantization in workloads[{i}].quantizations, or one of those models in "
                     f"workloads[{i}].models",
                file=loaded.file, path=format_path(("workloads", i, "quantizations")),
                line=smap.line_of(("workloads", i, "quantizations")) if smap else None))
            continue
        if not accs or running:
            continue        # no offer at all is another check's error
        families = sorted({cat.accelerators[a].family for a in accs})
        fams = " and ".join(families)
        where = f"the allowed accelerators ({', '.join(f'{a} (family {cat.accelerators[a].family})' for a in accs)})"
        if w.quantizations:
            names = " or ".join(quants)
            runs = "; ".join(f"{q} runs on {', '.join(cat.quantization[q].supported_families) or 'no family'}"
                             for q in quants)
            others = sorted(q for q in cat.quantization if q not in quants
                            and any(quant_runs_on(cat.quantization[q], cat.accelerators[a]) for a in accs))
            message = f"workload {w.id!r} allows only {names}, and it runs on none of {where}: {runs}"
            # each scheme with the allowed families it runs on (QA s21: 'they run on ada and ampere and
            # hopper' was said of schemes that run on some of them only)
            runs_here = [f"{q} ({', '.join(sorted(set(cat.quantization[q].supported_families) & set(families)))})"
                         for q in others]
            hint = ((f"allow one of {', '.join(runs_here)} in workloads[{i}].quantizations, " if others else "")
                    + f"allow an accelerator of a family {names} runs on in fleet.accelerators, or, if the serving "
                    f"software runs {names} on {fams}, add the family to the scheme's supported_families with a "
                    f"catalog overlay (`fleetopt catalog show {quants[0]}`)")
        else:
            message = (f"workload {w.id!r}: no quantization scheme of the catalog runs on {where}: none lists "
                       f"{fams} in its supported_families")
            hint = (f"allow accelerators of another family in fleet.accelerators, or fix the accelerator's family, "
                    f"or add {fams} to a scheme's supported_families with a catalog overlay "
                    "(`fleetopt catalog show SCHEME`)")
        path = ("workloads", i, "quantizations") if w.quantizations else ("fleet", "accelerators")
        out.append(InputIssue(message=message + ERROR_TAIL, file=loaded.file, path=format_path(path),
                              line=smap.line_of(path) if smap is not None else None, hint=hint))
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
