"""Report speed: seconds to draw the four plots and write the HTML page of a plan.

    .venv/bin/python benchmarks/bench_report.py            # every problems/*.yaml
    .venv/bin/python benchmarks/bench_report.py --repeat 5

For each shipped problem: solve it once (not timed), then time
(1) building the four figures, (2) encoding them as PNG, (3) the HTML page
from the PNGs.  Prints the median of --repeat runs per stage and the size of
the page.  No target in the issue; this tracks regressions.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from solver import viz  # noqa: E402
from solver.html_report import render_html  # noqa: E402
from solver.mip.pipeline import solve_problem  # noqa: E402
from solver.problem.load import load_problem  # noqa: E402


def _median_s(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"{'problem':28s} {'figures s':>10s} {'png s':>8s} {'html s':>8s} {'page KiB':>9s}")
    for path in sorted((ROOT / "problems").glob("*.yaml")):
        loaded = load_problem(path)
        plan = solve_problem(loaded).plan.to_dict()
        ceiling = loaded.problem.fleet.max_utilization
        t_fig, figs = _median_s(lambda: viz.figures(plan, ceiling), args.repeat)
        t_png, pngs = _median_s(lambda: {k: viz.png_bytes(f) for k, f in figs.items()}, args.repeat)
        t_html, page = _median_s(lambda: render_html(plan, pngs, max_utilization=ceiling),
                                 args.repeat)
        print(f"{path.stem:28s} {t_fig:10.3f} {t_png:8.3f} {t_html:8.4f} {len(page) / 1024:9.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
