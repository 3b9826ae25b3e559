"""``fleetopt perf``: what one replica can serve; ``fleetopt perf validate FILE.csv``: model vs measurements."""

from __future__ import annotations

import json
import math
import sys
from types import SimpleNamespace
from typing import Optional

import numpy as np

from solver.errors import EXIT_INFEASIBLE, InputError, InputIssue
from solver.problem.schema import MAX_TOKENS, Slo, TokenStats

GB = 1e9
#: a problem's token counts default to these (TokenStats), so `fleetopt perf` does too: the same
#: figures then give the capacity the solver uses
TOKEN_DISTRIBUTION = TokenStats.model_fields["distribution"].default
TOKEN_CV = TokenStats.model_fields["cv"].default
MAX_CV = 10.0                                  # TokenStats.cv's bound (wider ones overflow the moments)
DISTRIBUTIONS = ("lognormal", "exponential", "fixed")
#: the cv each non-lognormal shape has (its cv flag may only repeat it)
SHAPE_CV = {"fixed": 0.0, "exponential": 1.0}


def register(sub) -> None:
    p = sub.add_parser(
        "perf", help="performance model of one replica: TTFT, TPOT, batch, throughput, memory",
        description="Predict what one replica (accelerator x model x quantization x TP) serves for a "
                    "request shape: at a fixed --batch, or the most requests/s within --ttft-ms/--tpot-ms "
                    "targets (neither: maximum throughput without targets).  "
                    "`fleetopt perf validate FILE.csv` compares the model with measurements.")
    p.epilog = (f"Token counts default to what a problem's workload assumes when it says nothing: "
                f"{TOKEN_DISTRIBUTION} with cv {TOKEN_CV:g} and no p90, "
                f"percentile {Slo.model_fields['percentile'].default:g}; so the figures of a problem's "
                "workload give the capacity `fleetopt solve` uses.  --input-distribution fixed (or "
                "--input-cv 0) for prompts of one length.")
    p.add_argument("--accelerator", metavar="ID")
    p.add_argument("--model", metavar="ID")
    p.add_argument("--quantization", metavar="ID", default="bf16")
    p.add_argument("--tp", type=int, default=1, metavar="N", help="tensor parallel degree (default 1)")
    p.add_argument("--input-tokens", type=float, metavar="N")
    p.add_argument("--output-tokens", type=float, metavar="N")
    p.add_argument("--batch", type=float, metavar="N", help="fixed mean decode batch")
    p.add_argument("--ttft-ms", type=float, metavar="X", help="TTFT target at --percentile")
    p.add_argument("--tpot-ms", type=float, metavar="Y", help="TPOT target")
    p.add_argument("--percentile", type=float, default=99.0, help="percentile of the targets (default 99)")
    for side, what in (("input", "prompt"), ("output", "answer")):
        p.add_argument(f"--{side}-distribution", choices=DISTRIBUTIONS, default=TOKEN_DISTRIBUTION,
                       help=f"shape of the {what} lengths, as {side}_tokens.distribution in a problem "
                            f"(default {TOKEN_DISTRIBUTION}; fixed has cv 0, exponential cv 1)")
        p.add_argument(f"--{side}-cv", type=float, metavar="CV",
                       help=f"coefficient of variation of the {what} length, lognormal only "
                            f"({side}_tokens.cv; default {TOKEN_CV:g})")
        p.add_argument(f"--{side}-p90", type=float, metavar="N",
                       help=f"90th percentile {what} length: each request reserves KV for the p90s "
                            f"({side}_tokens.p90; default none)")
        p.add_argument(f"--{side}-max", type=float, metavar="N",
                       help=f"longest {what}: the request at the SLO percentile, which must fit the "
                            f"context window, is at most this long ({side}_tokens.max; default none)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--catalog", action="append", default=[], metavar="FILE", help="catalog overlay (repeatable)")
    p.add_argument("--params", metavar="FILE", help="calibration file (default: shipped)")
    p.add_argument("--measurements", metavar="FILE.csv",
                   help="table of your own measurements; a matching row replaces the analytic figures")
    psub = p.add_subparsers(dest="perf_command", metavar="SUBCOMMAND")
    v = psub.add_parser("validate", help="predict each row of a calibration CSV; error summary",
                        description="Predict each row of FILE.csv (columns of tests/data/calibration.csv) "
                                    "and print the error, then median and p90 absolute error by source, "
                                    "hardware, kind and metric (held-out vs fitted rows when FILE is the "
                                    "file the parameters were fitted on).  Each row is compared by its metric "
                                    "(output-token throughput; first-token latency at batch 1; inter-token "
                                    "latency / TPOT; latencies in the row's unit, ms or s) at the load its "
                                    "concurrency_or_batch states ('concurrency N' or 'batch N': that decode "
                                    "batch, as fleetopt perf --batch N; 'static batch N'; 'max load'; an "
                                    "MLPerf Server rate with its latency limits).  Model and hardware may be "
                                    "catalog ids or common spellings.  Rows the model cannot reproduce are "
                                    "skipped, each with its reason.")
    v.add_argument("file", metavar="FILE.csv")
    v.add_argument("--json", action="store_true", dest="vjson")
    v.add_argument("--summary-only", action="store_true", help="skip the per-row table")
    v.add_argument("--catalog", action="append", default=[], metavar="FILE", dest="vcatalog",
                   help="catalog overlay (repeatable)")
    v.add_argument("--params", metavar="FILE", dest="vparams", help="calibration file (default: shipped)")
    v.set_defaults(func=run_validate)
    p.set_defaults(func=run)


def _load(catalog_files, params_file):
    from solver.catalog import Catalog, default_catalog
    from solver.perf.params import default_params, load_params

    cat = Catalog.load(catalog_files) if catalog_files else default_catalog()
    params = load_params(params_file) if params_file else default_params()
    return cat, params


def _need(args) -> None:
    issues = []
    for opt in ("accelerator", "model", "input_tokens", "output_tokens"):
        if getattr(args, opt) is None:
            issues.append(InputIssue(message=f"--{opt.replace('_', '-')} is required", path="perf",
                                     hint="e.g. fleetopt perf --accelerator h100-sxm --model llama-3.1-8b "
                                          "--quantization fp8 --input-tokens 500 --output-tokens 250"))
    checks = [("batch", args.batch, "> 0"), ("ttft_ms", args.ttft_ms, "> 0"), ("tpot_ms", args.tpot_ms, "> 0")]
    for side in ("input", "output"):
        _token_issues(args, side, issues)
    for name, val, _ in checks:
        if val is not None and not (val > 0 and math.isfinite(val)):
            issues.append(InputIssue(message=f"--{name.replace('_', '-')} must be a positive number (got {val})",
                                     path="perf", hint="give a value greater than 0"))
    if args.tp < 1 or args.tp & (args.tp - 1):
        issues.append(InputIssue(message=f"--tp must be a power of two >= 1 (got {args.tp})", path="perf",
                                 hint="use 1, 2, 4 or 8"))
    if not (0 < args.percentile < 100):
        issues.append(InputIssue(message=f"--percentile must be strictly between 0 and 100 (got {args.percentile})",
                                 path="perf", hint="e.g. 99 for p99"))
    if args.batch is not None and (args.ttft_ms is not None or args.tpot_ms is not None):
        issues.append(InputIssue(message="give --batch or --ttft-ms/--tpot-ms, not both", path="perf",
                                 hint="--batch fixes the operating point; targets let the model pick it"))
    if issues:
        raise InputError(issues)


def _token_issues(args, side: str, issues: list) -> None:
    """The problem schema's bounds on a token count (TokenStats), for --{side}-tokens/-cv/-p90."""
    mean, cv, p90 = (getattr(args, f"{side}_{k}") for k in ("tokens", "cv", "p90"))
    dist = getattr(args, f"{side}_distribution")
    if mean is not None and not (1 <= mean <= MAX_TOKENS):
        issues.append(InputIssue(message=f"--{side}-tokens must be at least 1 token and at most "
                                         f"{MAX_TOKENS:.0e} (got {mean:g})", path="perf",
                                 hint="a request has at least one token (a problem's token counts are "
                                      "refused below 1 too); give the mean tokens per request"))
    most = getattr(args, f"{side}_max")
    if most is not None and not (1 <= most <= MAX_TOKENS and (mean is None or most >= mean)):
        issues.append(InputIssue(message=f"--{side}-max must be at least --{side}-tokens and at most "
                                         f"{MAX_TOKENS:.0e} (got {most:g})", path="perf",
                                 hint="give the longest length a request can have"))
    if p90 is not None and not (1 <= p90 <= MAX_TOKENS):
        issues.append(InputIssue(message=f"--{side}-p90 must be at least 1 token and at most {MAX_TOKENS:.0e} "
                                         f"(got {p90:g})", path="perf", hint="give the 90th percentile length"))
    elif p90 is not None and mean is not None and 1 <= mean and p90 < 0.5 * mean:
        issues.append(InputIssue(message=f"--{side}-p90 {p90:g} is implausibly below --{side}-tokens {mean:g}",
                                 path="perf", hint="token counts are right-skewed: the p90 is normally above "
                                                   "the mean; check whether the two values are swapped"))
    if cv is not None and not (0 <= cv <= MAX_CV):
        issues.append(InputIssue(message=f"--{side}-cv must be between 0 and {MAX_CV:g} (got {cv:g})",
                                 path="perf", hint="e.g. 0.5 (the default); 0 for one length"))
    elif cv is not None and dist in SHAPE_CV and cv != SHAPE_CV[dist]:
        issues.append(InputIssue(message=f"--{side}-cv {cv:g} contradicts --{side}-distribution {dist} "
                                         f"(whose cv is {SHAPE_CV[dist]:g})", path="perf",
                                 hint=f"drop --{side}-cv, or use --{side}-distribution lognormal with it"))


def _tokens(args, side: str) -> SimpleNamespace:
    """--{side}-* as a problem's token statistics (what PerfWorkload.from_tokens reads)."""
    cv = getattr(args, f"{side}_cv")
    return SimpleNamespace(mean=getattr(args, f"{side}_tokens"), p90=getattr(args, f"{side}_p90"),
                           max=getattr(args, f"{side}_max"), distribution=getattr(args, f"{side}_distribution"),
                           cv=TOKEN_CV if cv is None else cv)


def _finite(x) -> Optional[float]:
    """A latency, or None (JSON null) where there is none: one-token answers have no TPOT."""
    return float(x) if math.isfinite(x) else None


def describe(cat, params, cand, wl, batch=None) -> dict:
    """Everything `fleetopt perf` prints, as a dict."""
    from solver.perf import BOUNDS, REASONS, engine_spec, evaluate
    from solver.perf.arch import kv_bytes_per_token, weight_bytes
    from solver.perf.arch import R_TPOT_TOO_TIGHT, R_TTFT_TOO_TIGHT
    from solver.perf.model import length_quantile, lightest_load_ms, operating_point
    from solver.perf.params import calibration_families

    acc, model, q = cat.accelerator(cand.accelerator), cat.model(cand.model), cat.quant(cand.quantization)
    spec = engine_spec(cat, cand, params)
    t = spec.terms
    usable = acc.memory_gb.value * params.global_.mem_usable_fraction
    weights_gb = weight_bytes(model, q) / cand.tensor_parallel / GB
    kvf, kvs = kv_bytes_per_token(model, q, cand.tensor_parallel)
    grp = params.group_of(acc, t.peak_format or "*")
    wanted = f"{calibration_families(acc)[0]}/{t.peak_format or '*'}"
    ctx = wl.mean_decode_context_tokens()
    out = {
        "candidate": {"accelerator": cand.accelerator, "model": cand.model, "quantization": cand.quantization,
                      "tensor_parallel": cand.tensor_parallel},
        "workload": {"input_tokens": wl.input_tokens, "output_tokens": wl.output_tokens,
                     "input_cv": wl.input_cv, "output_cv": wl.output_cv, "output_distribution": wl.output_dist,
                     "input_tokens_p90": wl.input_tokens_p90, "output_tokens_p90": wl.output_tokens_p90,
                     "input_tokens_max": wl.input_tokens_max, "output_tokens_max": wl.output_tokens_max,
                     "ttft_ms_target": None if wl.ttft_ms >= 1e11 else wl.ttft_ms,
                     "tpot_ms_target": None if wl.tpot_ms >= 1e11 else wl.tpot_ms,
                     "percentile": wl.percentile},
        "hardware": {"family": acc.family, "compute_format": t.peak_format,
                     "peak_tflops_per_device": t.peak_tflops if t.peak_format else None,
                     "mem_bw_gbps": acc.mem_bw_gbps.value,
                     "calibration": {"group": f"{grp.family}/{grp.format}", "fit_rows": grp.fit_rows,
                                     "for": wanted, "fallback": _fallback(params, wanted, grp),
                                     "compute_efficiency": grp.compute_efficiency,
                                     "bandwidth_efficiency": grp.bandwidth_efficiency,
                                     "step_overhead_ms": grp.step_overhead_ms,
                                     "file": params.file}},
        "memory_per_device_gb": {
            "total": acc.memory_gb.value,
            "weights": weights_gb,
            # none where the replica cannot run at all (QA: an unsupported format showed 17 GB of KV
            # cache, then "0 tokens fit")
            "kv_cache": t.kv_cap_bytes_dev / GB if spec.fits else 0.0,
            # what neither weights nor KV take (activations, CUDA graphs), by the calibration's
            # kv_memory_rule; where the replica cannot run, the engine's share left aside
            "workspace_reserve": (acc.memory_gb.value - weights_gb - t.kv_cap_bytes_dev / GB) if spec.fits
                                 else acc.memory_gb.value - usable,
        },
        "kv_bytes_per_token_per_device": kvf + kvs,
        "kv_bytes_per_token_replica": sum(kv_bytes_per_token(model, q, 1)),
        "kv_capacity_tokens": spec.kv_capacity_tokens,
        "fits": spec.fits,
        # sliding-window layers keep at most a window a sequence: more tokens fit than capacity / all
        # layers' bytes (QA: gpt-oss showed the all-layers figure alone)
        "sliding_window": None if not model.sliding_window else {
            "window_tokens": model.sliding_window, "kv_bytes_per_token_full_layers": kvf,
            "kv_bytes_per_token_sliding_layers": kvs, "mean_context_tokens": ctx,
            "kv_capacity_tokens_at_mean_context": math.floor(
                t.kv_cap_bytes_dev / (kvf + kvs * min(ctx, model.sliding_window) / ctx)) if spec.fits else 0},
        "prefill_ms_batch1": float(spec.prefill_ms(wl.input_tokens)) if spec.fits else None,
        # at the context the model decodes at (the answer length-biased), not I + O / 2 (QA)
        "decode_step_ms_batch1": float(spec.decode_step_ms(1, ctx)) if spec.fits else None,
        # the request at the SLO percentile, which must fit the context window
        "context": dict(zip(("window_tokens", "percentile_input_tokens", "percentile_output_tokens"),
                            (model.max_context_tokens, *wl.percentile_request()))),
    }
    if batch is not None:
        # a batch far beyond what memory holds (1e308) overflows the queueing moments on its way to
        # 'exceeds the largest batch memory allows', which drops every figure of it below: numpy's
        # RuntimeWarnings there said nothing true (QA s27)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            op = operating_point(cat, cand, wl, batch, params)
        out["feasible"] = op["reason"] == 0
        out["reason"] = REASONS[op["reason"]]
        if op["reason"] == 0:
            out["max_batch_memory"] = op["max_batch_memory"]
            if batch > op["max_batch_memory"]:
                out["feasible"] = False
                out["reason"] = (f"batch {batch:g} exceeds the largest batch memory allows "
                                 f"({op['max_batch_memory']:.0f})")
            regime = "compute" if op["compute_bound"] else "bandwidth"
            out.update(batch=batch, max_rps=op["max_rps"], ttft_ms=op["ttft_ms"], tpot_ms=_finite(op["tpot_ms"]),
                       tpot_mean_ms=_finite(op["tpot_mean_ms"]), prefill_chunk_tokens=op["prefill_chunk_tokens"],
                       power_w=op["power_w"], output_tokens_per_s=op["max_rps"] * wl.output_tokens,
                       bound=f"fixed batch; decode step {regime}-bound")
            if not out["feasible"]:
                # a batch memory cannot hold has no operating point: none of its figures, as where the
                # weights do not fit (QA s23: throughput 11,042 tok/s beside 'feasible: false')
                for key in ("max_rps", "ttft_ms", "tpot_ms", "tpot_mean_ms", "prefill_chunk_tokens", "power_w",
                            "output_tokens_per_s", "bound"):
                    out.pop(key)
        return out
    cap = evaluate(cat, [cand], [wl], params)
    r = int(cap.reason[0, 0])
    out["feasible"] = r == 0
    out["reason"] = REASONS[r]
    out["max_batch_memory"] = float(cap.max_batch_memory[0, 0])
    if r in (R_TPOT_TOO_TIGHT, R_TTFT_TOO_TIGHT):
        ttft0, tpot0 = lightest_load_ms(cat, [cand], [wl], params)
        out["lightest_load"] = {"ttft_ms": float(ttft0[0, 0]), "tpot_ms": _finite(tpot0[0, 0])}
        if r == R_TTFT_TOO_TIGHT and wl.input_cv > 0:
            # a spread of prompt lengths: the percentile prompt, not the mean one, sets the TTFT
            # the prompt the TTFT tail sees: lognormal of the mean and cv, as the model's moments are
            i_q = length_quantile(wl.input_tokens, wl.input_cv, "lognormal", wl.percentile / 100.0)
            out["lightest_load"].update(percentile_input_tokens=i_q,
                                        percentile_prefill_ms=float(spec.prefill_ms(i_q)))
    if r == 0:
        op = operating_point(cat, cand, wl, float(cap.batch[0, 0]), params)
        regime = "compute" if op["compute_bound"] else "bandwidth"
        out.update(batch=float(cap.batch[0, 0]), max_rps=float(cap.max_rps[0, 0]),
                   ttft_ms=float(cap.ttft_ms[0, 0]), tpot_ms=_finite(cap.tpot_ms[0, 0]),
                   tpot_mean_ms=_finite(op["tpot_mean_ms"]), prefill_chunk_tokens=op["prefill_chunk_tokens"],
                   power_w=float(cap.power_w[0, 0]),
                   output_tokens_per_s=float(cap.max_rps[0, 0]) * wl.output_tokens,
                   bound=BOUNDS[int(cap.bound[0, 0])] + ("" if "TPOT" in BOUNDS[int(cap.bound[0, 0])]
                                                         else f"; decode step {regime}-bound"))
    return out


def _fallback(params, wanted: str, grp) -> Optional[str]:
    """Where the calibration group used is not the (family, compute format) asked for: which group had no
    fitted rows and what stands in for it, in words (QA: "hopper/*: ..., 0 fitted rows" read as if Hopper
    had no data, where Hopper FP8 has 74 rows and hopper/* is their median)."""
    used = f"{grp.family}/{grp.format}"
    if used == wanted:
        return None
    if grp.family == "*":
        what = ("the global fit over all families" if grp.fit_rows == 0 and params.groups
                else "the uncalibrated prior (no calibration groups)")
    elif grp.format == "*":
        fitted = [f"{g.format}: {g.fit_rows} rows" for g in params.groups
                  if g.family == grp.family and g.format != "*" and g.fit_rows > 0]
        what = f"the median of {grp.family}'s fitted formats" + (f" ({'; '.join(fitted)})" if fitted else "")
    else:
        what = f"{grp.fit_rows} fitted rows"
    return f"no fitted rows for {wanted}; uses {used}, {what}"


def _text(d: dict) -> str:
    c, w, m = d["candidate"], d["workload"], d["memory_per_device_gb"]
    h = d["hardware"]
    cal = h["calibration"]
    lines = [f"{c['accelerator']} x {c['model']} {c['quantization']} TP{c['tensor_parallel']}  "
             f"({h['family']}, {h['compute_format'] or 'no compute path'} peak "
             f"{h['peak_tflops_per_device'] or 0:.0f} TFLOPS/device, {h['mem_bw_gbps']:.0f} GB/s; "
             + (f"calibration {cal['group']}: " if cal["fallback"] is None else f"calibration: {cal['fallback']}: ")
             + f"compute eff {cal['compute_efficiency']:.2f}, bandwidth eff {cal['bandwidth_efficiency']:.2f}, "
             f"overhead {cal['step_overhead_ms']:.2f} ms/step"
             + (f", {cal['fit_rows']} fitted rows)" if cal["fallback"] is None else ")")]
    tgt = []
    if w["ttft_ms_target"] is not None:
        tgt.append(f"TTFT p{w['percentile']:g} <= {w['ttft_ms_target']:g} ms")
    if w["tpot_ms_target"] is not None:
        tgt.append(f"TPOT <= {w['tpot_ms_target']:g} ms")
    def spread(cv, dist="lognormal", p90=None) -> str:
        shape = "fixed" if cv == 0 else ("exponential" if dist == "exponential" else f"lognormal cv {cv:g}")
        return shape + ("" if p90 is None else f", p90 {p90:g}")

    lines.append(f"workload: {w['input_tokens']:g} input ({spread(w['input_cv'], p90=w['input_tokens_p90'])}) / "
                 f"{w['output_tokens']:g} output tokens ({spread(w['output_cv'], w['output_distribution'], w['output_tokens_p90'])}); "
                 + ("targets " + ", ".join(tgt) if tgt else "no latency targets"))
    if m["weights"] + m["workspace_reserve"] > m["total"] + 1e-9:
        # (QA s26: the reserve read as a workspace the replica needs, 8.1 GB, where one 0.02% larger card
        # runs with 0.8 GB: it is the share the fit rule keeps from the weights, not what an engine uses)
        usable = m["total"] - m["workspace_reserve"]
        lines.append(f"memory per device: {m['total']:.1f} GB: the weights {m['weights']:.1f} GB exceed the "
                     f"{usable:.1f} GB the model lets weights take (mem_usable_fraction of the memory; the rest is "
                     "kept for activations and the KV cache)")
    elif not d["fits"]:
        lines.append(f"memory per device: {m['total']:.1f} GB: weights {m['weights']:.1f} GB + workspace reserve "
                     f"{m['workspace_reserve']:.1f} GB; no KV cache (the replica cannot run here)")
    else:
        lines.append(f"memory per device: {m['total']:.1f} GB = weights {m['weights']:.1f} GB + KV cache "
                     f"{m['kv_cache']:.1f} GB + workspace reserve {m['workspace_reserve']:.1f} GB")
    sw = d.get("sliding_window")
    if sw:
        lines.append(f"KV cache: {sw['kv_bytes_per_token_full_layers']:,.0f} B/token/device in full-attention "
                     f"layers + {sw['kv_bytes_per_token_sliding_layers']:,.0f} in sliding-window layers (at most "
                     f"{sw['window_tokens']:,} tokens a sequence; {d['kv_bytes_per_token_replica']:,.0f} B/token at "
                     f"TP1 in all); {sw['kv_capacity_tokens_at_mean_context']:,} tokens fit at the mean context of "
                     f"{sw['mean_context_tokens']:,.0f} tokens a sequence ({d['kv_capacity_tokens']:,} if every "
                     f"layer kept every token); largest batch memory allows: {d.get('max_batch_memory', 0):,.0f}")
    else:
        lines.append(f"KV cache: {d['kv_bytes_per_token_per_device']:,.0f} B/token/device "
                     f"({d['kv_bytes_per_token_replica']:,.0f} B/token at TP1); "
                     f"{d['kv_capacity_tokens']:,} tokens fit; largest batch memory allows: "
                     f"{d.get('max_batch_memory', 0):,.0f}")
    if d.get("prefill_ms_batch1") is not None:
        lines.append(f"batch-1: prefill {d['prefill_ms_batch1']:.1f} ms, decode step "
                     f"{d['decode_step_ms_batch1']:.2f} ms")
    if not d["feasible"]:
        lines.append(f"cannot serve: {d['reason']}")
        ctx = d["context"]
        if ctx["percentile_input_tokens"] + ctx["percentile_output_tokens"] > ctx["window_tokens"]:
            lines.append(f"  the p{w['percentile']:g} request: {ctx['percentile_input_tokens']:,.0f} input + "
                         f"{ctx['percentile_output_tokens']:,.0f} output tokens; context window "
                         f"{ctx['window_tokens']:,} tokens (a longer request cannot run at all)")
        lo = d.get("lightest_load")
        if lo is not None:
            tpot = "no TPOT (one output token)" if lo["tpot_ms"] is None else f"TPOT p{w['percentile']:g} {lo['tpot_ms']:.2f} ms"
            lines.append(f"at the lightest load: TTFT p{w['percentile']:g} {lo['ttft_ms']:.1f} ms, {tpot} "
                         f"(the targets must be at least these)")
            if "percentile_input_tokens" in lo:
                lines.append(f"the TTFT percentile is set by the longest prompts, not the mean one (batch-1 prefill "
                             f"above): with input cv {w['input_cv']:g} a p{w['percentile']:g} prompt has "
                             f"{lo['percentile_input_tokens']:,.0f} tokens, whose prefill alone takes "
                             f"{lo['percentile_prefill_ms']:.1f} ms")
        return "\n".join(lines)
    def ms(x, digits: int) -> str:
        return "not measured" if x is None else f"{x:.{digits}f} ms"

    if w["output_tokens"] > 1:
        tpot = (f"TPOT p{w['percentile']:g} {ms(d['tpot_ms'], 2)}"
                + (f" (mean {d['tpot_mean_ms']:.2f} ms)" if d.get("tpot_mean_ms") is not None else ""))
    else:
        tpot = "no TPOT (one output token)"
    batch = "not measured" if d["batch"] is None else f"{d['batch']:.3g}"
    lines.append(f"operating point: batch {batch}, {d['max_rps']:.3g} requests/s, "
                 f"{d['output_tokens_per_s']:,.0f} output tokens/s, TTFT p{w['percentile']:g} "
                 f"{ms(d['ttft_ms'], 1)}, {tpot}, power {d['power_w']:.0f} W")
    if d.get("prefill_chunk_tokens") is not None:
        lines.append(f"engine: prompt chunk budget {d['prefill_chunk_tokens']:,.0f} tokens per iteration "
                     "(the engine's setting, prefill_chunk_tokens in the calibration file; not chosen per workload)")
    lines.append(f"bound: {d['bound']}")
    return "\n".join(lines)


def _overlay_measurement(d, cat, params, cand, wl, path) -> None:
    """Replace the analytic operating point by a matching measured one (and say so)."""
    from solver.perf import BOUND_MEASURED, REASONS, apply_measurements, evaluate, load_measurements_csv
    from solver.perf.arch import R_MEASURED_ZERO

    table = load_measurements_csv(path, cat)
    cap = apply_measurements(evaluate(cat, [cand], [wl], params), [cand], [wl], table)
    r, b = int(cap.reason[0, 0]), int(cap.bound[0, 0])
    if r == R_MEASURED_ZERO:
        d.update(feasible=False, reason=REASONS[r], measured=True)
    elif b == BOUND_MEASURED:
        rps = float(cap.max_rps[0, 0])

        def known(x) -> Optional[float]:     # what the measurement does not give is unknown (null)
            return float(x) if math.isfinite(x) else None

        tpot = known(cap.tpot_ms[0, 0])
        d.update(feasible=True, reason=REASONS[0], measured=True, max_rps=rps,
                 ttft_ms=known(cap.ttft_ms[0, 0]), tpot_ms=tpot, tpot_mean_ms=None,
                 # the batch follows from a measured TPOT (Little's law); the analytic one is another point
                 batch=known(cap.batch[0, 0]) if tpot is not None else None, power_w=float(cap.power_w[0, 0]),
                 output_tokens_per_s=rps * wl.output_tokens, bound=f"measured ({path})")
    else:
        d["measured"] = False


def run(args) -> int:
    if getattr(args, "perf_command", None):
        return run_validate(args)
    _need(args)
    from solver.perf import PerfCandidate, PerfWorkload

    cat, params = _load(args.catalog, args.params)
    cand = PerfCandidate(args.accelerator, args.model, args.quantization, args.tp)
    for kind, eid in (("accelerators", args.accelerator), ("models", args.model),
                      ("quantization", args.quantization)):
        cat.get(kind, eid)
    big = 1e12
    wl = PerfWorkload.from_tokens("cli", _tokens(args, "input"), _tokens(args, "output"), args.ttft_ms or big,
                                  args.tpot_ms or big, args.percentile)
    d = describe(cat, params, cand, wl, args.batch)
    if args.measurements:
        _overlay_measurement(d, cat, params, cand, wl, args.measurements)
    print(json.dumps(d, indent=2) if args.json else _text(d))
    return 0 if d["feasible"] else EXIT_INFEASIBLE


def run_validate(args) -> int:
    from solver.perf.calibration import KIND_TEXT, validate_file

    cat, params = _load(args.vcatalog or args.catalog, args.vparams or args.params)
    v = validate_file(args.file, cat, params)
    err = v.err_pct
    split = (["fit" if m else "held-out" for m in v.fit_mask] if v.fit_mask is not None
             else ["-"] * len(v.cases))
    rows = []
    for c, p, e, s, sc, how in zip(v.cases, v.pred, err, split, v.scored, v.how):
        rows.append({"row": c.row, "source": c.source_id, "hardware": c.hardware,
                     "model": c.candidate.model, "quantization": c.candidate.quantization,
                     "tp": c.candidate.tensor_parallel, "kind": c.kind, "metric": c.metric,
                     "unit": "output tokens/s per accelerator" if c.metric == "throughput" else "ms",
                     "input_tokens": c.workload.input_tokens, "output_tokens": c.workload.output_tokens,
                     "measured": c.measured, "predicted": _finite(p), "abs_err_pct": _finite(e),
                     "split": s, "scored": bool(sc), "modelled_as": how})
    summary = v.summary()
    if args.vjson or args.json:
        print(json.dumps({"params": params.file, "rows": rows, "summary": summary,
                          "skipped": [{"row": s.row, "hardware": s.hardware, "why": s.why} for s in v.skipped]},
                         indent=2))
        return 0
    out = sys.stdout
    if not args.summary_only:
        out.write(f"{'row':>4} {'source':22} {'hardware':10} {'model':15} {'q':5} {'tp':>2} {'kind':7} "
                  f"{'in':>6} {'out':>6} {'measured':>10} {'predicted':>10} {'err%':>6} split  modelled as\n")
        for r in rows:
            unit = "" if r["metric"] == "throughput" else f"{r['metric'].upper()} ms"
            pred = "-" if r["predicted"] is None else f"{r['predicted']:.1f}"
            e = "-" if r["abs_err_pct"] is None else f"{r['abs_err_pct']:.1f}"
            out.write(f"{r['row']:4d} {r['source'][:22]:22} {r['hardware']:10} {r['model'][:15]:15} "
                      f"{r['quantization']:5} {r['tp']:2d} {r['kind']:7} {r['input_tokens']:6.0f} "
                      f"{r['output_tokens']:6.0f} {r['measured']:10.1f} {pred:>10} {e:>6} "
                      f"{r['split']}{'' if r['scored'] else ' (not scored)'}{unit and ' ' + unit}  "
                      f"{r['modelled_as']}\n")
        out.write("\n")
    kinds: dict[str, int] = {}
    for c in v.cases:
        kinds[c.kind] = kinds.get(c.kind, 0) + 1
    out.write("rows by kind: " + "; ".join(f"{n} {k} = {KIND_TEXT[k]}" for k, n in kinds.items()) + "\n")
    out.write("Summary: absolute error of the prediction, % (throughput in output tokens/s per accelerator; "
              "ttft and itl in ms)\n")
    out.write(f"{'part':9} {'metric':10} {'by':8} {'key':24} {'n':>4} {'median':>7} {'p90':>7}\n")
    for s in summary:
        out.write(f"{s['part']:9} {s['metric']:10} {s['by']:8} {s['key'][:24]:24} {s['n']:4d} "
                  f"{s['median_abs_err_pct']:7.1f} {s['p90_abs_err_pct']:7.1f}\n")
    static = np.array([c.kind == "static" for c in v.cases], dtype=bool)
    if static.any():
        e = err[static]
        out.write(f"not scored: {int(static.sum())} static-batching rows (TensorRT-LLM 0.5/0.6 static batching at "
                  f"each row's stated batch; the model describes in-flight batching): median "
                  f"{float(np.median(e)):.1f}%, p90 {float(np.percentile(e, 90)):.1f}%\n")
    none = [r["row"] for r in rows if r["predicted"] is None]
    if none:
        out.write(f"not scored: {len(none)} rows without a prediction (rows {_row_list(none)}; the reason is "
                  "in the last column)\n")
    if v.skipped:
        by_why: dict[str, list] = {}
        for s in v.skipped:
            by_why.setdefault(s.why, []).append(s.row)
        out.write(f"skipped rows ({len(v.skipped)}):\n")
        for why, ns in by_why.items():
            out.write(f"  {len(ns)} x {why} (row{'s' if len(ns) > 1 else ''} {_row_list(ns)})\n")
    if v.fitted_as:
        out.write(f"note: {v.fitted_as} was fitted on every row of this file: its errors are in-sample, not a "
                  "test (held-out rows of TP groups off NVLink: tests/data/heldout_mi300x_tp8.csv)\n")
    elif v.fit_mask is None:
        out.write("note: this file is not the one the parameters were fitted on: every row counts as a test row\n")
    return 0


def _row_list(rows: list, most: int = 12) -> str:
    """Data row numbers, the first ``most`` of them."""
    return ", ".join(map(str, rows[:most])) + (f" and {len(rows) - most} more" if len(rows) > most else "")
