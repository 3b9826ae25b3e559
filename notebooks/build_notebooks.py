"""Write the example notebooks from the cell sources below (run: python notebooks/build_notebooks.py).

The notebooks are generated so that they stay reviewable as plain Python here,
and are committed without outputs.  tests/test_notebooks.py executes each of
them and checks that this script reproduces the committed files.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = '''\
from pathlib import Path
import tempfile

import matplotlib.pyplot as plt

# the repository root: the folder at or above this notebook that holds the example problems
ROOT = next((p for p in [Path.cwd(), *Path.cwd().parents] if (p / "problems" / "chat-assistant.yaml").is_file()),
            None)
if ROOT is None:
    raise FileNotFoundError(
        f"no problems/chat-assistant.yaml in {Path.cwd()} or a folder above it: these notebooks read the "
        "fleetopt repository's example problems. Open the notebook from the repository's notebooks/ folder, "
        "or set ROOT = Path('/path/to/fleetopt') in this cell in place of the search.")
WORK = Path(tempfile.mkdtemp(prefix="fleetopt-nb-"))   # outputs and caches go here, not into the repo
'''


def quickstart() -> list:
    return [
        new_markdown_cell("""\
# fleetopt quickstart: load, solve, inspect, plot

A chat assistant serves 40 requests/s at peak with p99 TTFT under 1 s and p99
TPOT under 50 ms, using a model that scores at least 68 on MMLU (Llama-3.1-8B
scores 73, and stays above 68 in every weight format).  Which
accelerators, quantization, model and replica counts serve it at the lowest
total cost?  (`problems/chat-assistant.yaml`; the same runs from the shell as
`fleetopt solve problems/chat-assistant.yaml`.)"""),
        new_code_cell(SETUP),
        new_markdown_cell("## Load\n`load_problem` validates the YAML against the catalog; "
                          "a mistake is an `InputError` naming the file, line and field."),
        new_code_cell('''\
from solver.problem.load import load_problem

loaded = load_problem(ROOT / "problems" / "chat-assistant.yaml")
p = loaded.problem
for w in p.workloads:
    print(f"{w.id}: {w.demand.requests_per_s} req/s, input {w.input_tokens.mean:.0f} tokens, "
          f"output {w.output_tokens.mean:.0f} tokens, p{w.slo.percentile:g} TTFT <= {w.slo.ttft_ms} ms, "
          f"TPOT <= {w.slo.tpot_ms} ms, quality >= {w.quality.min_score}")
print("catalog:", len(loaded.catalog.accelerators), "accelerators,", len(loaded.catalog.models), "models")
print("scenarios in the file:", [s.name for s in p.scenarios])'''),
        new_markdown_cell("## Solve"),
        new_code_cell('''\
from solver.mip.pipeline import solve_problem
from solver.report import console_text

solved = solve_problem(loaded)
plan = solved.plan.to_dict()
print(console_text(plan))'''),
        new_markdown_cell("## Inspect\nThe plan is plain data (the same dict `fleetopt solve --json` writes)."),
        new_code_cell('''\
print(f"{'deployment':<70} {'replicas':>8} {'util':>6} {'USD':>10}")
for d in plan["deployments"]:
    print(f"{d['id']:<70} {d['replicas']:>8} {d['utilization']:>6.2f} {d['usd']:>10,.0f}")
print()
for r in plan["routing"]:
    print(f"{r['workload']} -> {r['deployment']}: {r['requests_per_s']:.1f} req/s, "
          f"TTFT {r['ttft_ms']:.0f} ms, TPOT {r['tpot_ms']:.1f} ms (at capacity)")'''),
        new_markdown_cell("The verifier recomputes every constraint and cost line from the problem "
                          "without the solver:"),
        new_code_cell('''\
from solver.verify import verify_plan

rep = verify_plan(p, loaded.catalog, plan)
print("violations:", [v.format() for v in rep.violations] or "none", "-", rep.checks, "checks")
print(f"recomputed total {rep.recomputed['total_usd']:,.2f} USD vs plan {plan['objective']['total']:,.2f}")
assert rep.ok'''),
        new_markdown_cell("## Plot\nWhere the money goes, and what the file's scenarios cost."),
        new_code_cell('''\
from solver.report import PART_LABELS

names = [s.name for s in p.scenarios]
plans = {"as written": plan}
for name in names:
    plans[name] = solve_problem(load_problem(ROOT / "problems" / "chat-assistant.yaml", scenario=name)).plan.to_dict()

fig, ax = plt.subplots(figsize=(7, 3.5))
bottom = [0.0] * len(plans)
for part, label in PART_LABELS.items():
    vals = [(pl["objective"]["breakdown"] or {}).get(part, 0.0) * 730 / pl["objective"]["horizon_hours"] for pl in plans.values()]
    if any(vals):
        ax.bar(list(plans), vals, bottom=bottom, label=label)
        bottom = [b + v for b, v in zip(bottom, vals)]
ax.set_ylabel("USD per month")
ax.set_title("chat-assistant: cost by part, per scenario")
ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))   # beside the bars, not over them
plt.tight_layout()
plt.show()
for name, pl in plans.items():
    mix = {pr["accelerator"]: pr["devices"] for pr in pl["procurement"]}
    print(f"{name:<15} {pl['status']:<9} {pl['objective']['usd_per_month']:>10,.0f} USD/month  {mix}")'''),
    ]


def tradeoffs() -> list:
    return [
        new_markdown_cell("""\
# Trade-offs: latency, carbon, quantization, model tier, heterogeneous fleets

Each section re-solves `problems/chat-assistant.yaml` with one knob turned.
Pareto fronts and sweeps are also commands: `fleetopt pareto PROBLEM --versus
ttft|tpot|quality|carbon` and `fleetopt sweep PROBLEM --set PATH=VALUES`."""),
        new_code_cell(SETUP + '''
from solver.problem.load import load_problem
from solver.explore.pareto import pareto_front
from solver.explore.sweep import parse_set, run_sweep

loaded = load_problem(ROOT / "problems" / "chat-assistant.yaml")'''),
        new_markdown_cell("""\
## Pareto fronts
A tighter TTFT target can only shrink the set of feasible fleets, so cost never
falls as the target tightens; each point is a full plan, checked by the
verifier.  The carbon front caps total CO2 (epsilon-constraint) between the
cheapest plan's CO2 and the lowest-CO2 plan's.  For the chat assistant that is a
single step (its cheapest fleet, an H100 and an A100, against one B200 that costs
a little more and emits about half the CO2: the cell prints it), so the carbon
front drawn is `problems/batch-summarization.yaml`'s, with more points.
`ParetoFront.figure()` draws a front as `fleetopt pareto` does: steps, each plan
at the value it achieves (carbon: its own CO2, not the cap it was solved under),
and each plan once."""),
        new_code_cell('''\
ttft = pareto_front(loaded, "ttft", points=6)
chat_carbon = pareto_front(loaded, "carbon", points=3)
assert chat_carbon.monotone and len({pt.total_usd for pt in chat_carbon.points}) <= 2   # one step at most
print(chat_carbon.table_text())
carbon = pareto_front(load_problem(ROOT / "problems" / "batch-summarization.yaml"), "carbon", points=5)
print(ttft.table_text())
print(carbon.table_text())
assert ttft.monotone and carbon.monotone
assert all(pt.verified for pt in ttft.points + carbon.points)

# the same figures as `fleetopt pareto ... --png`: the front points only (f.front_points)
display(ttft.figure())
display(carbon.figure())'''),
        new_markdown_cell("""\
## Quantization
The same problem with the workload limited to one weight format at a time (a
sweep over `workloads.chat.quantizations`).  Lower precision shrinks weights
and KV traffic but costs quality (the catalog's retention factors: Llama-3.1-8B
keeps 68.5-73 of its 73 points, so here every format still meets the target of
68; a stricter target would rule the narrow formats out).  Narrower is not
always cheaper: int4 is a weight-only format (weights dequantised, arithmetic
at 16 bits), so a replica serves fewer requests per second than at fp8, where
the arithmetic itself is 8-bit: about half the requests per second on a B200
(`fleetopt perf --accelerator b200 --model qwen2.5-7b --quantization int4
--input-tokens 1000 --output-tokens 300 --ttft-ms 1000 --tpot-ms 50`, against
`--quantization fp8`), so 40 req/s need a second device."""),
        new_code_cell('''\
quants = ["bf16", "fp8", "int8", "int4"]
res = run_sweep(loaded, [parse_set("workloads.chat.quantizations=" + ",".join(f"[{q}]" for q in quants))],
                cache_dir=str(WORK / "cache"), workers=1, keep_plans=True)
print(f"{'quantization':<14} {'status':<11} {'USD/month':>10} {'quality':>8}  fleet")
for r in res.rows:
    pl = res.plans.get(r["scenario"])
    mix = {d["model"] + " " + d["accelerator"]: d["replicas"] for d in pl["deployments"]} if pl else r["error"]
    usd = f"{r['usd_per_month']:,.0f}" if r["usd_per_month"] else "-"
    quality = f"{pl['kpis'][0]['quality']:.1f}" if pl else "-"
    print(f"{r['workloads.chat.quantizations'][0]:<14} {r['status']:<11} {usd:>10} {quality:>8}  {mix}")'''),
        new_markdown_cell("""\
## Model tier
One model at a time (`workloads.chat.models`), with the quality target relaxed
to 0 so that every tier is allowed: the cost of a quality score.  Every weight
format is allowed too, so the solver serves each model in its cheapest format
(often fp4), which scores below the model's catalog (BF16) score: the plot puts
each plan at the quality it delivers (`kpis[0]["quality"]`, the routed mean),
not at the catalog score."""),
        new_code_cell('''\
models = ["llama-3.2-3b", "llama-3.1-8b", "qwen2.5-7b", "gpt-oss-20b", "llama-3.1-70b"]
res = run_sweep(loaded, [parse_set("workloads.chat.models=" + ",".join(f"[{m}]" for m in models)),
                         parse_set("workloads.chat.quality.min_score=0")],
                cache_dir=str(WORK / "cache"), workers=1, keep_plans=True)
xs, ys, labels = [], [], []
print(f"{'model':<16} {'catalog':>7} {'delivered':>9}  {'format':<6} {'status':<10} {'USD/month':>10}")
for r in res.rows:
    m = r["workloads.chat.models"][0]
    catalog_q = loaded.catalog.models[m].quality.value       # the BF16 score
    pl = res.plans.get(r["scenario"])
    if not r["usd_per_month"] or pl is None:
        print(f"{m:<16} {catalog_q:7.1f} {'-':>9}  {'-':<6} {r['status']:<10} {r['error'][:60]}")
        continue
    q = pl["kpis"][0]["quality"]                              # what the plan's formats deliver
    fmt = "+".join(sorted({d["quantization"] for d in pl["deployments"]}))
    print(f"{m:<16} {catalog_q:7.1f} {q:9.1f}  {fmt:<6} {r['status']:<10} {r['usd_per_month']:>10,.0f}")
    xs.append(q); ys.append(r["usd_per_month"]); labels.append(f"{m} {fmt}")
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.scatter(xs, ys)
for i, (x, y, l) in enumerate(sorted(zip(xs, ys, labels))):
    # neighbours at one cost (two fp4 models at one price) get their labels above and below
    ax.annotate(l, (x, y), fontsize=8, xytext=(3, 4 if i % 2 else -10), textcoords="offset points")
span = max(xs) - min(xs)
ax.set_xlim(min(xs) - 0.05 * span, max(xs) + 0.4 * span)   # room for the last label, right of its point
ax.margins(y=0.15)
ax.set_xlabel("quality the plan delivers (routed mean score)")
ax.set_ylabel("USD per month")
ax.set_yscale("log")
ax.set_title("cost of a model tier at 40 req/s")
plt.show()'''),
        new_markdown_cell("""\
## Heterogeneous vs homogeneous
The optimiser may mix accelerator types; the baseline solves once per type
with the fleet restricted to it (`fleetopt solve --baseline homogeneous`).
The first cell compares the two for the chat assistant (one workload, one
region); the second for `problems/enterprise-multi-region.yaml` (several
workloads and regions), whose fleet is devices the company already owns
(`fleet.existing`: the plan pays their upkeep, not their price), in two regions:
much of its saving is using the owned devices where they stand, which a
one-type fleet cannot."""),
        new_code_cell('''\
from solver.mip.pipeline import homogeneous_baseline, solve_problem

chat_best = solve_problem(loaded).plan
chat_base = homogeneous_baseline(loaded, chat_best.objective.total)
saving = chat_base["saving_percent"]     # of the best single type's cost
print(f"chat assistant: mixed fleet {chat_best.objective.total:,.0f} USD ("
      + " + ".join(f"{pr.devices}x {pr.accelerator}" for pr in chat_best.procurement)
      + f"); best single type {chat_base['best_accelerator']} {chat_base['best_total_usd']:,.0f} USD: "
      + (f"the mixed fleet saves {saving:.1f}%" if saving > 0 else "one type is as cheap"))'''),
        new_code_cell('''\
enterprise = load_problem(ROOT / "problems" / "enterprise-multi-region.yaml")
best = solve_problem(enterprise).plan
base = homogeneous_baseline(enterprise, best.objective.total)
rows = sorted((r for r in base["per_accelerator"] if r["total_usd"] is not None), key=lambda r: r["total_usd"])
print(f"mixed fleet: {best.objective.total:,.0f} USD over the horizon, "
      + ", ".join(f"{pr.devices}x {pr.accelerator} in {pr.region}" + (" (owned)" if pr.existing else "")
                  for pr in best.procurement))
for r in rows[:6]:
    print(f"  only {r['accelerator']:<12} {r['total_usd']:>12,.0f} USD")
print(f"best single type: {base['best_accelerator']}, the mixed fleet saves {base['saving_percent']:.1f}%")
assert best.objective.total <= base["best_total_usd"] * (1 + 1e-6)   # a restriction never helps'''),
    ]


def quarterly() -> list:
    return [
        new_markdown_cell("""\
# Quarterly re-optimisation: a procurement timeline under growing demand

Demand for the chat assistant grows 20% a quarter for two years.  Each quarter
is solved as its own problem (a sweep over the demand), and the timeline shows
what the fleet holds each quarter and what changes between quarters.

**What is approximate here.**  Each quarter is optimised on its own, with the
problem's 12-month horizon, so the plan may switch accelerator types between
quarters without any switching cost, and a reserved-1y contract bought in one
quarter is not carried into the next as a sunk commitment.  Read the timeline
as "the cheapest fleet for each quarter's peak", an upper bound on how much
should change, not as a schedule that minimises the two-year total.  For that
schedule, the multi-period model plans every quarter at once
(`objective.periods`: purchases with lead times, reservations over their term,
owned devices, budgets per month; `problems/eight-quarter-growth.yaml`), and
`fleetopt solve --existing PLAN.json --executed-through K` re-optimises it each quarter,
keeping the decisions of the quarters already carried out (README: quarterly re-optimisation).
The last section does both from Python."""),
        new_code_cell(SETUP + '''
from solver.problem.load import load_problem
from solver.explore.sweep import parse_set, run_sweep

loaded = load_problem(ROOT / "problems" / "chat-assistant.yaml")
peak0 = loaded.problem.workloads[0].demand.requests_per_s
quarters = [f"Q{q % 4 + 1} Y{q // 4 + 1}" for q in range(8)]
demand = [round(peak0 * 1.2 ** q, 2) for q in range(8)]
print(dict(zip(quarters, demand)))'''),
        new_code_cell('''\
res = run_sweep(loaded, [parse_set("workloads.chat.demand.requests_per_s=" + ",".join(map(str, demand)))],
                cache_dir=str(WORK / "cache"), workers=2, keep_plans=True)
print(res.summary_text())
assert all(r["status"] == "optimal" for r in res.rows)
plans = [res.plans[i] for i in range(len(quarters))]'''),
        new_markdown_cell("## Procurement timeline\nDevices held per quarter, and the change from the "
                          "quarter before (+ more devices, - fewer: the chat assistant rents, on demand "
                          "or reserved)."),
        new_code_cell('''\
from matplotlib.ticker import MaxNLocator

accs = sorted({pr["accelerator"] for pl in plans for pr in pl["procurement"]})
held = [{a: sum(pr["devices"] for pr in pl["procurement"] if pr["accelerator"] == a) for a in accs}
        for pl in plans]
print(f"{'quarter':<8} {'req/s':>7} {'USD/month':>10}  " + "  ".join(f"{a:>10}" for a in accs))
prev = {a: 0 for a in accs}
for q, d, pl, h in zip(quarters, demand, plans, held):
    cells = []
    for a in accs:
        delta = h[a] - prev[a]
        cells.append(f"{h[a]:>4} ({delta:+d})" if delta else f"{h[a]:>4}     ")
    print(f"{q:<8} {d:>7.1f} {pl['objective']['usd_per_month']:>10,.0f}  " + "  ".join(f"{c:>10}" for c in cells))
    prev = h

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
bottom = [0] * len(quarters)
for a in accs:
    vals = [h[a] for h in held]
    ax1.bar(quarters, vals, bottom=bottom, label=a)
    bottom = [b + v for b, v in zip(bottom, vals)]
ax1.set_ylabel("devices held"); ax1.set_title("fleet by quarter"); ax1.legend(fontsize=8)
ax1.yaxis.set_major_locator(MaxNLocator(integer=True))     # whole devices
ax1.tick_params(axis="x", rotation=45)
ax2.plot(quarters, [pl["objective"]["usd_per_month"] for pl in plans], marker="o", label="cost")
ax2b = ax2.twinx()
ax2b.plot(quarters, demand, color="grey", linestyle="--", label="demand")
ax2.set_ylabel("USD per month"); ax2b.set_ylabel("peak req/s"); ax2.set_title("cost and demand")
ax2.legend(ax2.get_lines() + ax2b.get_lines(), ["cost", "demand"], fontsize=8, loc="upper left")
ax2.tick_params(axis="x", rotation=45)
plt.tight_layout(); plt.show()'''),
        new_markdown_cell("""\
## A demand surprise in the last quarter
Forecasts miss.  Draw the last quarter's peak from a lognormal around the
forecast (median = forecast, sigma 0.25, i.e. roughly +-25%) and look at the
spread of the cost of the fleet that each outcome needs."""),
        new_code_cell('''\
import numpy as np

res2 = run_sweep(loaded, [parse_set(f"workloads.chat.demand.requests_per_s=lognormal({demand[-1]},0.25)")],
                 samples=16, seed=4, cache_dir=str(WORK / "cache"), workers=2)
ok = [r for r in res2.rows if r["status"] == "optimal"]
costs = np.array([r["usd_per_month"] for r in ok])
draws = np.array([r["workloads.chat.demand.requests_per_s"] for r in ok])
print(res2.summary_text())
print(f"forecast plan: {plans[-1]['objective']['usd_per_month']:,.0f} USD/month; "
      f"outcomes p10 {np.percentile(costs, 10):,.0f}, median {np.median(costs):,.0f}, p90 {np.percentile(costs, 90):,.0f}")
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.scatter(draws, costs)
ax.axvline(demand[-1], color="grey", linestyle="--", label="forecast")
ax.set_xlabel("peak req/s drawn"); ax.set_ylabel("USD per month"); ax.legend()
ax.set_title("cost of the needed fleet under a demand surprise")
plt.show()'''),
        new_markdown_cell("""\
## Re-optimising a multi-period plan
The same problem as one multi-period plan: 8 quarters of 3 months
(`objective.periods`), demand growing 20% a quarter, and servers may be bought
as well as rented (`purchase`, in service after the catalog's lead time), so
that the plan makes decisions a later re-optimisation must live with."""),
        new_code_cell('''\
import copy

from solver.mip.pipeline import solve_problem
from solver.problem.load import validate_document

doc = copy.deepcopy(loaded.raw)          # the problem file as a dict, edited in memory
doc.pop("scenarios")
doc["objective"].pop("horizon_months")   # the periods make the horizon
doc["objective"]["periods"] = {"count": 8, "months": 3}
doc["fleet"]["acquisition"] = ["on_demand", "reserved_1y", "purchase"]
doc["workloads"][0]["demand"]["growth_rate_per_period"] = 0.2
first = solve_problem(validate_document(doc, None, "chat-assistant-8q.yaml")).plan
print(first.status, f"{first.objective.total:,.0f} USD, the objective over 8 quarters")'''),
        new_markdown_cell("""\
Two quarters later (periods 0 and 1 carried out) demand has grown faster than
forecast: 35% a quarter from the third quarter on.  `previous=` (the first plan)
with `executed_through=1` keeps what was decided in periods 0 and 1 (purchases,
reservations) and re-plans the rest; from the shell, `fleetopt solve NEW.yaml
--existing FIRST.json --executed-through 1`.  The change report is the one
that command prints."""),
        new_code_cell('''\
from solver.report import CHANGE_TITLE, console_text

doc2 = copy.deepcopy(doc)
chat_demand = doc2["workloads"][0]["demand"]
del chat_demand["growth_rate_per_period"]
# multipliers of the first quarter's peak: as forecast for periods 0-1 (1, 1.2), then +35% a quarter
chat_demand["growth"] = [round(1.2 ** min(q, 1) * 1.35 ** max(q - 1, 0), 4) for q in range(8)]
second = solve_problem(validate_document(doc2, None, "chat-assistant-8q-faster.yaml"),
                       previous=first, executed_through=1).plan.to_dict()


def bought(plan, through):
    """(period, offer, units) bought up to period ``through``."""
    return [(t["period"], u["offer"], u["buy"]) for t in plan["periods"]["timeline"][:through + 1]
            for u in t["units"] if u.get("buy")]


assert bought(second, 1) == bought(first.to_dict(), 1)   # what was carried out stays
print("bought in periods 0-1 (kept):", bought(second, 1))
print(CHANGE_TITLE + console_text(second).split(CHANGE_TITLE, 1)[1])'''),
    ]


NOTEBOOKS = {"quickstart.ipynb": quickstart, "tradeoffs.ipynb": tradeoffs,
             "quarterly-reoptimisation.ipynb": quarterly}


CLEANUP = new_code_cell("import shutil\n\nshutil.rmtree(WORK, ignore_errors=True)   # the temporary outputs")


def build(name: str) -> nbformat.NotebookNode:
    nb = new_notebook(cells=NOTEBOOKS[name]() + [CLEANUP])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    # stable cell ids, so that rebuilding gives byte-identical files
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{Path(name).stem}-{i:02d}"
    return nb


def text(name: str) -> str:
    return nbformat.writes(build(name)) + "\n"


def main(argv=None) -> int:
    for name in NOTEBOOKS:
        (HERE / name).write_text(text(name), encoding="utf-8")
        print(f"wrote {HERE / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
