"""``fleetopt catalog list|show``: browse the catalog and where each figure comes from.

An architect deciding whether to trust a plan needs to see the numbers behind
it: every figure is printed with its source and confidence, and with the layer
(shipped catalog or which ``--catalog`` overlay) that supplied it.  Figures of
low confidence carry a ``~`` in tables.  ``--json`` gives the same content for
scripts.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Iterable, Optional

from solver.catalog.schema import KINDS
from solver.errors import InputError, InputIssue, did_you_mean

#: Accepted spellings of each kind (singular forms are common typing).
_KIND_ALIASES = {k: k for k in KINDS}
_KIND_ALIASES.update({"accelerator": "accelerators", "model": "models", "region": "regions",
                      "quant": "quantization", "quantizations": "quantization"})

LOW_MARK = "~"
#: after a confidence the file did not state, taken from the source's verification
DERIVED_MARK = "*"


def register(sub) -> None:
    p = sub.add_parser("catalog", help="list catalog entries or show one, with sources and confidence",
                       description="Browse the merged catalog (shipped files plus --catalog overlays).")
    csub = p.add_subparsers(dest="catalog_command", metavar="SUBCOMMAND")

    lp = csub.add_parser("list", help="table of entries of one kind (or all kinds)")
    lp.add_argument("kind", nargs="?", default=None, metavar="KIND",
                    help="accelerators, models, quantization or regions (default: all)")
    _common(lp)
    lp.set_defaults(func=run_list)

    sp = csub.add_parser("show", help="every field and figure of one entry, with source and layer")
    sp.add_argument("id", metavar="ID", help="entry id, e.g. h100-sxm, llama-3.1-70b, fp8, virginia")
    sp.add_argument("--kind", default=None, help="restrict the look-up to one kind")
    _common(sp)
    sp.set_defaults(func=run_show)

    p.set_defaults(func=_no_subcommand(p))


def _common(p) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--catalog", action="append", default=[], metavar="FILE",
                   help="catalog overlay file, applied over the shipped catalog (repeatable; later wins)")


def _no_subcommand(parser):
    def run(args) -> int:
        parser.print_help(sys.stderr)
        return 2
    return run


# --------------------------------------------------------------------------- helpers

def resolve_kind(kind: str) -> str:
    """Canonical kind name, or an InputError with a did-you-mean hint."""
    k = _KIND_ALIASES.get(str(kind).strip().lower())
    if k is None:
        close = did_you_mean(str(kind), KINDS)
        raise InputError(InputIssue(
            message=f"unknown catalog kind {kind!r}", path="KIND",
            hint=(f"did you mean {close[0]!r}? " if close else "") + "Kinds: " + ", ".join(KINDS) + "."))
    return k


def _load(overlays: Iterable[str]):
    """The merged catalog; its warnings (an overlay's likely mistakes) go to stderr."""
    from solver.catalog import Catalog, warnings_text
    cat = Catalog.load(list(overlays))
    print(warnings_text(cat.warnings), end="", file=sys.stderr)
    return cat


def kv_bytes_per_token(model, bytes_per_element: float = 2.0) -> float:
    """KV-cache bytes per token of context (all layers), for display.

    Standard attention keeps a key and a value per KV head per layer; MLA keeps
    one compressed latent plus a RoPE key per layer.  Sliding-window layers are
    counted in full (an upper bound for long contexts).
    """
    if model.mla is not None:
        return model.num_layers * (model.mla.kv_lora_rank + model.mla.rope_head_dim) * bytes_per_element
    return 2 * model.num_layers * model.num_kv_heads * model.head_dim * bytes_per_element


def _low_paths(cat, kind: str, eid: str) -> dict[str, str]:
    return {row["field"]: row["confidence"] for row in cat.figures(kind, eid)}


def _fmt(fig, conf: Optional[str] = None, digits: int = 4) -> str:
    if fig is None:
        return "-"
    v = fig.value if hasattr(fig, "value") else fig
    text = f"{v:.{digits}g}" if isinstance(v, float) and not float(v).is_integer() else f"{v:g}"
    c = conf if conf is not None else getattr(fig, "confidence", "high")
    return (LOW_MARK + text) if c == "low" else text


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    out = [line(headers), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    return "\n".join(out)


def _cheapest_on_demand(acc):
    prices = [o.on_demand_usd_per_device_hour for o in acc.offers]
    return min(prices, key=lambda f: f.value) if prices else None


# --------------------------------------------------------------------------- tables

def _rows_accelerators(cat) -> tuple[list[str], list[list[str]]]:
    headers = ["id", "name", "family", "mem GB", "BW GB/s", "16-bit TFLOPS", "FP8", "INT8", "FP4",
               "TDP W", "idle W", "scale-up", "offers", "from $/dev-h", "buy $/dev"]
    rows = []
    for aid, a in sorted(cat.accelerators.items()):
        pk = a.peak_tflops
        sixteen = pk.get("bf16") or pk.get("fp16")
        cheapest = _cheapest_on_demand(a)
        rows.append([aid, a.name, a.family, _fmt(a.memory_gb), _fmt(a.mem_bw_gbps), _fmt(sixteen),
                     _fmt(pk.get("fp8")), _fmt(pk.get("int8")), _fmt(pk.get("fp4")), _fmt(a.tdp_w),
                     _fmt(a.idle_w), f"{a.devices_per_node} {a.interconnect.kind}", str(len(a.offers)),
                     _fmt(cheapest), _fmt(a.purchase.usd_per_device, digits=6) if a.purchase else "-"])
    return headers, rows


def _rows_models(cat):
    headers = ["id", "tier", "arch", "layers", "params B", "active B", "context", "KV KiB/token@16bit",
               "MMLU", "native"]
    rows = []
    for mid, m in sorted(cat.models.items()):
        kv = kv_bytes_per_token(m) / 1024
        rows.append([mid, m.tier, m.arch + (" MLA" if m.mla else ""), str(m.num_layers),
                     _fmt(m.total_params_b), _fmt(m.active_params_b), str(m.max_context_tokens),
                     f"{kv:g}", _fmt(m.quality), ",".join(m.native_formats) or "-"])
    return headers, rows


def _rows_quantization(cat):
    headers = ["id", "weights/acts/compute", "B/weight", "KV B/elem", "weight-only", "retention by size",
               "families"]
    rows = []
    for qid, q in sorted(cat.quantization.items()):
        bands = []
        for r in q.retention:
            lo, hi = r.min_params_b, r.max_params_b
            if lo <= 0 and hi >= 1e5:
                label = ""
            elif hi >= 1e5:
                label = f">={lo:g}B:"
            elif lo <= 0:
                label = f"<{hi:g}B:"
            else:
                label = f"{lo:g}-{hi:g}B:"
            bands.append(label + _fmt(r.retention))
        rows.append([qid, f"{q.weight_format}/{q.activation_format}/{q.compute_format}",
                     _fmt(q.bytes_per_weight), _fmt(q.kv_bytes_per_element), "yes" if q.weight_only else "no",
                     " ".join(bands), ",".join(q.supported_families)])
    return headers, rows


def _rows_regions(cat):
    headers = ["id", "name", "country", "$/kWh", "PUE", "gCO2/kWh", "cloud regions"]
    rows = []
    for rid, r in sorted(cat.regions.items()):
        clouds = "; ".join(f"{p}: {','.join(v)}" for p, v in sorted(r.cloud_regions.items()))
        rows.append([rid, r.name, r.country, _fmt(r.electricity_usd_per_kwh), _fmt(r.pue),
                     _fmt(r.carbon_g_per_kwh), clouds or "-"])
    return headers, rows


_ROWS = {"accelerators": _rows_accelerators, "models": _rows_models,
         "quantization": _rows_quantization, "regions": _rows_regions}


# --------------------------------------------------------------------------- JSON

def entry_json(cat, kind: str, eid: str) -> dict[str, Any]:
    """One entry as JSON: its fields plus tidy figure rows with source and layer."""
    entry = cat.get(kind, eid)
    out = {"id": eid}
    out.update(entry.model_dump(mode="json", exclude_none=True))
    out["layer"] = cat.layer_of(kind, eid)
    out["figures"] = [{k: row[k] for k in ("field", "value", "source", "source_text", "confidence",
                                            "confidence_from", "note", "layer")}
                      for row in cat.figures(kind, eid)]
    return out


def catalog_json(cat, kinds: Iterable[str]) -> dict[str, Any]:
    doc: dict[str, Any] = {"catalog_version": cat.version, "layers": list(dict.fromkeys(cat.layers))}
    for kind in kinds:
        doc[kind] = [entry_json(cat, kind, eid) for eid in sorted(cat.entries(kind))]
    return doc


# --------------------------------------------------------------------------- commands

def run_list(args) -> int:
    kinds = [resolve_kind(args.kind)] if args.kind else list(KINDS)
    cat = _load(args.catalog)
    if args.json:
        print(json.dumps(catalog_json(cat, kinds), indent=2))
        return 0
    blocks = [f"catalog {cat.version}; layers: {', '.join(dict.fromkeys(cat.layers))}"]
    for kind in kinds:
        headers, rows = _ROWS[kind](cat)
        blocks.append(f"{kind} ({len(rows)})\n" + _table(headers, rows))
    blocks.append(f"{LOW_MARK} = low confidence (planning assumption or unverified); "
                  "`fleetopt catalog show ID` prints every figure with its source.")
    print("\n\n".join(blocks))
    return 0


def _find(cat, eid: str, kind: Optional[str]):
    if kind:
        k = resolve_kind(kind)
        cat.get(k, eid)  # raises with did-you-mean
        return k
    k, _ = cat.find(eid)
    return k


def run_show(args) -> int:
    cat = _load(args.catalog)
    kind = _find(cat, args.id, args.kind)
    doc = entry_json(cat, kind, args.id)
    if args.json:
        print(json.dumps({"catalog_version": cat.version, "kind": kind, **doc}, indent=2))
        return 0
    entry = cat.get(kind, args.id)
    single = kind[:-1] if kind.endswith("s") else kind
    changed: dict[str, list[str]] = {}
    for path, layer in sorted(cat.provenance.get((kind, args.id), {}).items(), key=lambda kv: str(kv[0])):
        if path and path[0] != "id" and layer != doc["layer"] and str(path[0]) not in changed.setdefault(layer, []):
            changed[layer].append(str(path[0]))
    by = "".join(f"; {', '.join(fields)} from layer {layer}" for layer, fields in changed.items())
    lines = [f"{single} {args.id}: {getattr(entry, 'name', '')}  (catalog {cat.version}; "
             f"entry from layer: {doc['layer']}{by})", ""]
    plain = _plain_fields(entry)
    if plain:
        width = max(len(k) for k, _ in plain)
        lines += [f"  {k.ljust(width)}  {v}" for k, v in plain]
        lines.append("")
    if kind == "models":
        lines.append(f"  KV cache at 16 bits: {kv_bytes_per_token(entry):g} bytes per token "
                     "(derived from the architecture)")
        lines.append("")
    headers = ["field", "value", "conf", "layer", "source", "note"]
    rows = [[r["field"], _fmt(r["value"], r["confidence"], digits=8),
             r["confidence"] + (DERIVED_MARK if r["confidence_from"] else ""), r["layer"], r["source"],
             r["note"] or ""] for r in doc["figures"]]
    lines.append(_table(headers, rows))
    lines.append("")
    lines.append("sources:")
    for key in dict.fromkeys([r["source"] for r in doc["figures"]]
                             + ([entry.source] if getattr(entry, "source", None) else [])):
        lines.append(f"  {key}: {cat.source_text(key)}")
    lines.append("")
    lines.append(f"{LOW_MARK} = low confidence")
    if any(r["confidence_from"] for r in doc["figures"]):
        lines.append(f"{DERIVED_MARK} = the file states no confidence: it is the one the source's verification "
                     "allows ('assumption', 'unverified', 'recalled', 'approx': low; 'secondary', 'verify': medium); "
                     "write `confidence:` in the figure to state it")
    print("\n".join(lines))
    return 0


def _plain_fields(entry) -> list[tuple[str, str]]:
    """Non-figure fields of an entry, flattened for display."""
    from pydantic import BaseModel

    from solver.catalog.schema import Figure

    out: list[tuple[str, str]] = []

    def walk(obj, prefix: str) -> None:
        if isinstance(obj, Figure):
            return
        if isinstance(obj, BaseModel):
            for name in type(obj).model_fields:
                walk(getattr(obj, name), f"{prefix}.{name}" if prefix else name)
        elif isinstance(obj, dict):
            if obj and all(isinstance(v, Figure) for v in obj.values()):
                return
            if all(not isinstance(v, (BaseModel, dict, list)) or isinstance(v, list)
                   and all(isinstance(x, str) for x in v) for v in obj.values()):
                out.append((prefix, "; ".join(f"{k}: {_scalar(v)}" for k, v in obj.items()) or "-"))
                return
            for k, v in obj.items():
                walk(v, f"{prefix}.{k}")
        elif isinstance(obj, list):
            if all(not isinstance(x, BaseModel) for x in obj):
                out.append((prefix, _scalar(obj)))
                return
            for i, x in enumerate(obj):
                # one compact line per list item (offers, retention bands): its plain fields
                parts = [f"{name}={_scalar(getattr(x, name))}" for name in type(x).model_fields
                         if getattr(x, name) is not None and not isinstance(getattr(x, name), Figure)
                         and not isinstance(getattr(x, name), BaseModel)]
                out.append((f"{prefix}[{i}]", " ".join(parts) or "(figures only)"))
        elif obj is not None:
            out.append((prefix, _scalar(obj)))

    walk(entry, "")
    return out


def _scalar(v) -> str:
    if isinstance(v, list):
        return ", ".join(str(x) for x in v) if v else "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)
