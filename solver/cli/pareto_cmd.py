"""``fleetopt pareto PROBLEM.yaml --versus ttft|tpot|quality|carbon``: cost against a target.

Prints one row per point, writes every point's full plan in one JSON file and
a PNG plot.  Exit code 0 when every point verifies and the front is monotone,
6 (violations) otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

from solver.cli import Once, add_verbose, console_stream, option_rules
from solver.errors import EXIT_OK, EXIT_TIME_LIMIT, EXIT_VIOLATIONS
from solver.mip.backends import BACKENDS


def register(sub) -> None:
    p = sub.add_parser("pareto", help="cost against a latency, quality or CO2 target "
                                      "(epsilon-constraint front; every point a verified plan)")
    p.add_argument("problem", metavar="PROBLEM.yaml")
    p.add_argument("--objective", choices=["cost"], default="cost",
                   help="what each point minimises (only total cost so far)")
    p.add_argument("--versus", required=True, choices=["ttft", "tpot", "quality", "carbon"],
                   help="ttft/tpot: scale every workload's target down; quality: raise min_score; "
                        "carbon: cap total CO2")
    p.add_argument("--points", type=int, default=8, metavar="N", help="points on the front (default 8)")
    p.add_argument("--scenario", action=Once, default=None,
                   help="apply this named scenario first")
    p.add_argument("--catalog", action="append", default=[], metavar="FILE",
                   help="catalog overlay file (repeatable)")
    p.add_argument("--backend", choices=sorted(BACKENDS), default=None)
    p.add_argument("--solver", default=None)
    p.add_argument("--time-limit", type=float, default=None, metavar="S", help="seconds per solve")
    p.add_argument("--gap", type=float, default=None, metavar="G", help="relative MIP gap")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out-dir", default="out", metavar="DIR",
                   help="where the JSON and PNG go (default: out/)")
    p.add_argument("--json", default=None, metavar="FILE",
                   help="front with every plan (default: DIR/NAME.pareto-VERSUS.json; '-': on stdout, "
                        "the console text then on stderr)")
    p.add_argument("--png", default=None, metavar="FILE",
                   help="plot (default: DIR/NAME.pareto-VERSUS.png)")
    p.add_argument("--no-plot", action="store_true", help="do not write the PNG")
    option_rules(p, excludes=[("--png", "--no-plot")])
    p.add_argument("--no-verify", action="store_true", help="skip checking each plan (faster)")
    add_verbose(p)
    p.set_defaults(func=run)


def file_stem(name: str) -> str:
    """A problem's name as a file name inside --out-dir (QA s18: 'name: ../../escaped' wrote above
    it, an absolute name anywhere, a null byte or 300 characters crashed): letters, digits, '.', '_'
    and '-' kept, every other run of characters one '_', no leading dot, at most 100 characters."""
    import re

    stem = re.sub(r"[^\w.-]+", "_", name).lstrip(".")[:100]
    return stem or "problem"


def run(args) -> int:
    import json

    from solver.cli import check_outputs
    from solver.explore.common import SolveOptions
    from solver.explore.pareto import pareto_front
    from solver.problem.load import load_problem
    from solver.yamlio import atomic_write_text

    loaded = load_problem(args.problem, scenario=args.scenario, catalog_overlays=args.catalog)
    opts = SolveOptions(args.backend, args.solver, args.time_limit, args.gap, args.threads).check()
    stem = f"{file_stem(loaded.problem.name)}.pareto-{args.versus}"
    json_path = Path(args.json) if args.json else Path(args.out_dir) / f"{stem}.json"
    png_path = None if args.no_plot else Path(args.png) if args.png else Path(args.out_dir) / f"{stem}.png"
    check_outputs(SimpleNamespace(json=json_path, png=png_path), {"json": "--json", "png": "--png"})
    front = pareto_front(loaded, args.versus, points=args.points, options=opts,
                         overlays=args.catalog, verify=not args.no_verify)
    # `--json -`: the JSON alone on stdout (`| jq`), the table on stderr, as `solve` does
    console = console_stream(json_path, png_path)
    print(front.table_text(), end="", file=console)
    atomic_write_text(json_path, json.dumps(front.to_dict(), indent=1) + "\n")
    print(f"wrote {json_path}", file=console)
    if png_path is not None:
        try:
            front.write_png(png_path)
            print(f"wrote {png_path}", file=console)
        except ImportError:
            print("note: matplotlib is not installed (pip install matplotlib, a fleetopt dependency); no PNG written",
                  file=sys.stderr)
    bad = [p for p in front.points if p.verified is False]
    for p in bad:
        print(f"error: point {p.index} fails verification: " + "; ".join(p.violations[:3]),
              file=sys.stderr)
    if not front.monotone:
        print("error: the front is not monotone: " + "; ".join(front.monotone_issues), file=sys.stderr)
    if bad or not front.monotone:
        return EXIT_VIOLATIONS
    # as whatif and robust: a result built on a plan stopped at its time limit is exit 4
    return EXIT_TIME_LIMIT if front.unproven else EXIT_OK
