"""``fleetopt report PLAN.json --html FILE``: a saved plan as pictures and an HTML page.

Reads a plan written by ``fleetopt solve --json`` (no solving).  With
``--problem`` the problem's ``fleet.max_utilization`` is drawn as the
utilisation ceiling.  Outputs are written atomically and never over an input.
"""

from __future__ import annotations

from pathlib import Path

from solver.cli import option_rules
from solver.errors import InputError, InputIssue
from solver.report import number_text


def register(sub) -> None:
    p = sub.add_parser("report", help="plots and a self-contained HTML report of a saved plan")
    p.add_argument("plan", metavar="PLAN.json", help="plan written by `fleetopt solve --json`")
    p.add_argument("--html", default=None, metavar="FILE",
                   help="write one self-contained HTML file (embedded images, no network)")
    p.add_argument("--png-dir", default=None, metavar="DIR",
                   help="also write each plot as DIR/<name>.png")
    p.add_argument("--problem", default=None, metavar="PROBLEM.yaml",
                   help="the problem the plan was solved from (for the utilisation ceiling)")
    p.add_argument("--catalog", action="append", default=[], metavar="FILE",
                   help="catalog overlay file used with --problem (repeatable)")
    option_rules(p, needs=[("--catalog", "--problem")])
    p.set_defaults(func=run)


def _max_utilization(args, plan: dict) -> float | None:
    """fleet.max_utilization of --problem (with the plan's scenario); None without --problem."""
    if not args.problem:
        return None
    from solver.problem.load import load_problem

    loaded = load_problem(args.problem, scenario=plan.get("scenario"),
                          catalog_overlays=args.catalog)
    name = plan.get("problem")
    if name is not None and name != loaded.problem.name:
        raise InputError(InputIssue(
            f"the plan was solved from problem {name!r}, not {loaded.problem.name!r}",
            file=args.problem, path="--problem",
            hint="pass the problem file the plan was solved from, or leave out --problem"))
    return float(loaded.problem.fleet.max_utilization)


def run(args) -> int:
    from solver.cli import check_outputs
    try:
        from solver.html_report import build_report
        from solver.viz import FIGURES, statistics
    except ImportError as exc:      # an install without its dependencies: say what is missing
        raise InputError(InputIssue(f"`report` needs {exc.name or 'matplotlib'}, which is not installed",
                                    path="report", hint="pip install matplotlib (a fleetopt dependency: "
                                    "reinstall with `pip install -e .`)")) from None
    from solver.plan import load_plan_json
    from solver.yamlio import atomic_write_bytes, atomic_write_text

    if not args.html and not args.png_dir:
        raise InputError(InputIssue("nothing to write", path="--html",
                                    hint="add --html FILE and/or --png-dir DIR"))
    plan = load_plan_json(args.plan)
    for key in ("deployments", "routing", "procurement", "kpis"):
        if key in plan and plan[key] is not None and not isinstance(plan[key], list):
            raise InputError(InputIssue(f"`{key}` must be a list", file=args.plan, path=key,
                                        hint="pass an unmodified file written by `fleetopt solve --json`"))
    if "objective" in plan and not isinstance(plan["objective"], (dict, type(None))):
        raise InputError(InputIssue("`objective` must be an object", file=args.plan, path="objective",
                                    hint="pass an unmodified file written by `fleetopt solve --json`"))
    from solver.verify import structure_issues
    bad = structure_issues(plan)
    if bad:     # QA s22: a hand-edited periods.timeline (an object) crashed the page as a bug
        raise InputError([InputIssue(f"{v.message}", file=args.plan, path=v.where,
                                     hint="pass the plan as `fleetopt solve --json` wrote it "
                                          "(schema: solver/schemas/plan.schema.json)") for v in bad])
    ceiling = _max_utilization(args, plan)
    check_outputs(args, {"html": "--html", "png_dir": "--png-dir"}, folders={"png_dir": FIGURES})
    page, pngs = build_report(plan, max_utilization=ceiling, source=Path(args.plan).name)
    written = []
    if args.png_dir:
        for name in FIGURES:
            if name in pngs:
                target = Path(args.png_dir) / f"{name}.png"
                atomic_write_bytes(target, pngs[name])
                written.append(str(target))
    if args.html:
        atomic_write_text(args.html, page)
        written.append(args.html)
    print(f"report of {args.plan}: status {plan.get('status')}")
    for r in statistics(plan, ceiling):
        v = r["value"]
        shown = (_percent(v) if r["unit"] == "fraction" else
                 (number_text(v, ".6g") if isinstance(v, float) else str(v)))
        unit = "" if r["unit"] == "fraction" else f" {r['unit']}"
        print(f"  {r['name']}: {shown}{unit}")
    for w in written:
        print(f"wrote {w}")
    return 0


def _percent(v: float) -> str:
    """A fraction as a percentage with the digits a small value needs (QA: a gap of 0.0083% read
    'MIP gap: 0.0%')."""
    pct = 100.0 * v
    if pct == 0 or abs(pct) >= 0.1:
        return f"{pct:.1f}%"
    return f"{pct:.2g}%"
