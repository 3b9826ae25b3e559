"""``fleetopt verify PROBLEM.yaml PLAN.json``: recheck a plan without any solver."""

from __future__ import annotations

from solver.cli import Once
from solver.errors import EXIT_OK, EXIT_VIOLATIONS, InputError, InputIssue
from solver.report import number_text


def register(sub) -> None:
    p = sub.add_parser("verify", help="recompute a plan's cost and constraints; list violations")
    p.add_argument("problem", metavar="PROBLEM.yaml")
    p.add_argument("plan", metavar="PLAN.json")
    p.add_argument("--scenario", action=Once, default=None,
                   help="scenario to apply (default: the one recorded in the plan)")
    p.add_argument("--catalog", action="append", default=[], metavar="FILE",
                   help="catalog overlay file (repeatable)")
    p.set_defaults(func=run)


def run(args) -> int:
    from solver.plan import load_plan_json
    from solver.problem.load import load_problem
    from solver.verify import is_number, verify_plan

    plan = load_plan_json(args.plan)
    scenario = args.scenario if args.scenario is not None else plan.get("scenario")
    loaded = load_problem(args.problem, scenario=scenario, catalog_overlays=args.catalog)
    try:
        rep = verify_plan(loaded.problem, loaded.catalog, plan)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise InputError(InputIssue(
            f"malformed plan: {type(exc).__name__}: {exc}", file=args.plan,
            hint="pass an unmodified file written by `fleetopt solve --json` "
                 "(schema: solver/schemas/plan.schema.json)")) from None
    r = rep.recomputed
    claimed = (plan.get("objective") or {}).get("total")
    print(f"verify {args.plan} against {args.problem}" + (f" [{scenario}]" if scenario else ""))
    if plan.get("problem") not in (None, loaded.problem.name):
        print(f"  note: the plan was made for problem {plan.get('problem')!r}, this file is "
              f"{loaded.problem.name!r}")
    for note in provenance_notes(plan, loaded, scenario, "this check uses"):
        print(f"  note: {note}")
    if r:
        print(f"  recomputed cost {r['total_usd']:,.2f} USD (plan says "
              f"{'-' if claimed is None else format(claimed, ',.2f') if is_number(claimed) else repr(claimed)}), "
              f"energy {r['energy_kwh']:,.0f} kWh, "
              f"CO2 {number_text(r['co2_kg'] / 1000)} t")
    if rep.ok:
        print(f"  ok: {rep.checks} checks, no violation")
        return EXIT_OK
    print(f"  {len(rep.violations)} violation(s)" + (f" in {rep.checks} checks:" if rep.checks else ":"))
    for v in rep.violations:
        print("  - " + v.format())
    return EXIT_VIOLATIONS


def provenance_notes(plan: dict, loaded, scenario, use: str) -> list[str]:
    """Why a plan's figures may differ from what this run recomputes: it was made from other problem
    content (``versions.problem``: the file edited, another scenario), with another catalog or another
    performance calibration.  ``use``: how the sentences name this run ('this check uses').  `verify`
    prints them as notes, `simulate` as warnings (QA s26: a plan simulated against an edited problem
    read as the performance model's optimism)."""
    notes = []
    versions = plan.get("versions") if isinstance(plan.get("versions"), dict) else {}
    made_for = versions.get("problem")
    if made_for and made_for != loaded.problem.fingerprint():
        # QA: a plan checked against an edited problem (or another scenario) passed or failed with nothing
        # saying that the two do not belong together
        notes.append(f"the plan was made from other problem content ({made_for}; this file"
                     + (f" with scenario {scenario!r}" if scenario else "")
                     + f" gives {loaded.problem.fingerprint()}): the file was edited since, or the plan comes "
                       "from another scenario or file; figures that differ follow from that")
    made_with = versions.get("catalog")
    if made_with and made_with != loaded.catalog.version:
        # QA: a plan solved with an overlay showed 7-17 violations without it, and nothing said why
        notes.append(f"the plan was made with catalog {made_with}, {use} {loaded.catalog.version}: figures "
                     "that differ follow from that; pass the overlays the plan was solved with "
                     "(--catalog FILE, or `catalog:` in the problem)")
    calibrated = versions.get("calibration")
    if calibrated:
        from solver.explore.cache import calibration_version
        from solver.perf.params import calibration_dir
        in_use = calibration_version()
        if calibrated != in_use:
            # QA: a plan made with FLEETOPT_CALIBRATION_DIR showed 15 violations without it
            notes.append(f"the plan was made with performance calibration {calibrated}, {use} {in_use} "
                         f"({calibration_dir()}): capacities and latencies that differ follow from that; set "
                         "FLEETOPT_CALIBRATION_DIR to the folder of the calibration the plan was made with "
                         "(or unset it for the shipped one)")
    return notes
