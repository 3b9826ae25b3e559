"""The catalog facade: accelerators, models, quantization schemes and regions.

One small object, :class:`Catalog`, hides the files.  It reads the shipped
catalog (``catalogs/*.yaml``), layers a user's own files on top (``--catalog
FILE``: negotiated prices, private hardware, a new model), merging entries by
id, validates the result strictly, and answers look-ups with "did you mean"
errors.  For every figure it can say which layer (file) it came from.

Overlay semantics: an overlay entry whose id exists replaces the fields it
names (nested mappings merge key by key; a list or a sourced figure is replaced
whole); an entry with a new id is added.  ``sources`` tables merge by key.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

from pydantic import BaseModel, ValidationError

from solver.catalog.schema import (KINDS, Accelerator, CatalogFile, Figure, Model, Quantization,
                                   Region, Source, confidence_of_verification, parameter_checks)
from solver.errors import InputError, InputIssue, IssueCollector, did_you_mean, unknown_id_hint
from solver.validation import pydantic_issues
from solver.yamlio import SourceMap, format_path, load_yaml_file, note_input

SHIPPED_LAYER = "shipped"

#: Parsed YAML by (path, mtime, size): re-reading an unchanged file is skipped.
#: Layers are never mutated (merging deep-copies), so sharing is safe.
_PARSED: dict[tuple, tuple] = {}


def shipped_catalog_dir() -> Path:
    """Directory of the shipped catalog (``$FLEETOPT_CATALOG_DIR`` overrides)."""
    env = os.environ.get("FLEETOPT_CATALOG_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "catalogs"


@dataclass
class _Layer:
    name: str
    file: str
    data: dict
    smap: SourceMap


def _is_figure(d: Any) -> bool:
    return isinstance(d, dict) and "value" in d and "source" in d


def _merge(base: dict, over: dict, layer: str, prov: dict, path: tuple) -> dict:
    """Deep-merge ``over`` into a copy of ``base``; record the layer of each replaced path."""
    out = dict(base)
    for k, v in over.items():
        p = path + (k,)
        if isinstance(v, dict) and isinstance(out.get(k), dict) and not _is_figure(v):
            out[k] = _merge(out[k], v, layer, prov, p)
        else:
            out[k] = copy.deepcopy(v)
            # forget finer provenance below p, then record this layer for p
            for q in [q for q in prov if q[:len(p)] == p]:
                del prov[q]
            prov[p] = layer
    return out


#: fields that say which thing an entry is: an overlay changing one under a known id describes another
#: thing, which merging into the known entry mixes with that entry's other figures (QA s21)
IDENTITY = {"accelerators": ("family", "vendor", "name"), "models": ("name", "hf_repo", "arch"),
            "quantization": ("name", "weight_format", "compute_format"), "regions": ("name", "country")}


def _kept_paths(base: dict, over: dict, path: tuple = ()) -> list[tuple]:
    """Paths of ``base`` that merging ``over`` into it leaves as they were."""
    out: list[tuple] = []
    for k, v in base.items():
        if k == "id":
            continue
        if k not in over:
            out.append(path + (k,))
        elif isinstance(v, dict) and isinstance(over[k], dict) and not _is_figure(over[k]):
            out += _kept_paths(v, over[k], path + (k,))
    return out


def _derive_confidence(node: Any, sources: dict, path: tuple, derived: dict, overclaimed: list) -> None:
    """Give each figure that states no confidence the one its source's `verification` allows
    (:func:`~solver.catalog.schema.confidence_of_verification`), recording ``derived[path] =
    verification``; list in ``overclaimed`` the paths that state 'high' where it allows only 'low'.
    QA s21: figures citing a 'planning assumption' defaulted to high confidence."""
    if _is_figure(node):
        src = sources.get(node["source"]) if isinstance(node["source"], str) else None
        ver = src.get("verification") if isinstance(src, dict) else None
        level = confidence_of_verification(ver) if isinstance(ver, str) else None
        if level and "confidence" not in node:
            node["confidence"] = level
            derived[path] = ver
        elif level == "low" and node.get("confidence") == "high":
            overclaimed.append((path, ver))
    elif isinstance(node, dict):
        for k, v in node.items():
            _derive_confidence(v, sources, path + (k,), derived, overclaimed)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _derive_confidence(v, sources, path + (i,), derived, overclaimed)


def _close(word: str, choices: Iterable[str]) -> list[str]:
    """Near spellings of ``word`` only (a family, source key or file name is short)."""
    return did_you_mean(word, sorted(set(choices)), n=2, cutoff=0.8, substrings=False)


def _hint(close: list[str], rest: str) -> str:
    """'did you mean X? Rest' or 'rest'."""
    if not close:
        return rest
    return f"did you mean {' or '.join(repr(c) for c in close)}? " + rest[0].upper() + rest[1:]


def missing_file_hint(path: Path, relative_to: str = "the current directory") -> str:
    """What to do about a file that is not there: the files beside it with a close name first
    (QA s21: `quant-overlay.yml` where `quant-overlay.yaml` exists)."""
    try:
        near = [f.name for f in (path.parent if str(path.parent) else Path(".")).iterdir()
                if f.is_file() and f.suffix in (".yaml", ".yml", ".json")]
    except OSError:
        near = []
    return _hint([str(path.parent / c) for c in _close(path.name, near)],
                 f"check the path; it is relative to {relative_to}")


@dataclass
class Catalog:
    """Validated catalog, merged from one or more layers."""

    accelerators: dict[str, Accelerator]
    models: dict[str, Model]
    quantization: dict[str, Quantization]
    regions: dict[str, Region]
    sources: dict[str, Source]
    layers: list[str]
    version: str
    #: (kind, id) -> {field path tuple: layer name}
    provenance: dict[tuple[str, str], dict[tuple, str]] = field(default_factory=dict)
    #: what loads but is likely wrong (an overlay's id collision, a family no scheme runs ...)
    warnings: list[InputIssue] = field(default_factory=list)
    #: (kind, id) -> {figure path: the source verification its confidence was derived from}
    derived_confidence: dict[tuple[str, str], dict[tuple, str]] = field(default_factory=dict)

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, overlays: Iterable[str | os.PathLike] = (), *,
             shipped_dir: Optional[str | os.PathLike] = None,
             include_shipped: bool = True,
             inline: Optional[list[tuple[str, dict, SourceMap]]] = None) -> "Catalog":
        """Read the shipped catalog plus ``overlays`` (in order, later wins)."""
        collector = IssueCollector()
        layers: list[_Layer] = []
        if include_shipped:
            d = Path(shipped_dir) if shipped_dir else shipped_catalog_dir()
            files = sorted(d.glob("*.yaml"))
            if not files:
                raise InputError(InputIssue(message="no catalog files found", file=str(d),
                                            hint="set FLEETOPT_CATALOG_DIR or reinstall fleetopt"))
            for f in files:
                cls._read_layer(f, SHIPPED_LAYER, layers, collector)
        for f in overlays:
            cls._read_layer(Path(f), str(f), layers, collector)
        for name, data, smap in inline or []:
            layers.append(_Layer(name=name, file=smap.file, data=data, smap=smap))
        collector.raise_if_any()
        return cls._build(layers)

    @staticmethod
    def _read_layer(path: Path, name: str, layers: list, collector: IssueCollector) -> None:
        try:
            st = path.stat()
            key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
        except OSError:
            key = None
        note_input(path)      # read, from the cache or not: no output of this command may replace it
        if key is None and not path.exists():
            collector.add("catalog overlay file not found", file=str(path), hint=missing_file_hint(path))
            return
        try:
            if key is not None and key in _PARSED:
                data, smap = _PARSED[key]
            else:
                data, smap = load_yaml_file(path)
                if key is not None:
                    _PARSED[key] = (data, smap)
        except InputError as exc:
            collector.extend(exc.issues)
            return
        if not isinstance(data, dict):
            collector.add("a catalog file must be a mapping with `schema_version` and entry lists",
                          file=str(path), line=1, hint="see catalogs/*.yaml for the layout")
            return
        layers.append(_Layer(name=name, file=str(path), data=data, smap=smap))

    @classmethod
    def _build(cls, layers: list[_Layer]) -> "Catalog":
        collector = IssueCollector()
        merged: dict[str, dict[str, dict]] = {k: {} for k in KINDS}
        added: dict[tuple, tuple] = {}     # (kind, id) an overlay added -> (layer, index, ids known before)
        origin: dict[tuple[str, str], list[tuple[_Layer, int]]] = {}
        prov: dict[tuple[str, str], dict[tuple, str]] = {}
        sources: dict[str, Any] = {}
        source_file: dict[str, str] = {}    # source key -> the file that defined it first
        versions: list[str] = []
        warnings: list[InputIssue] = []
        for layer in layers:
            data = layer.data
            allowed = set(CatalogFile.model_fields)
            for key in data:
                if key not in allowed:
                    close = did_you_mean(str(key), allowed)
                    collector.add(f"unknown top-level key {key!r}", file=layer.file,
                                  line=layer.smap.line_of((key,)), path=str(key),
                                  hint=(f"did you mean {close[0]!r}?" if close else
                                        "allowed: " + ", ".join(sorted(allowed))))
            if data.get("schema_version") != 1:
                collector.add(f"schema_version must be 1 (got {data.get('schema_version')!r})",
                              file=layer.file, line=layer.smap.line_of(("schema_version",)),
                              path="schema_version", hint="add `schema_version: 1` at the top")
            if data.get("catalog_version"):
                versions.append(str(data["catalog_version"]))
            srcs = data.get("sources") or {}
            if isinstance(srcs, dict):
                for key, val in srcs.items():
                    if key in sources and sources[key] != val and layer.name != SHIPPED_LAYER:
                        # QA: a later overlay's `price` re-titled an earlier file's citations (and the
                        # shipped ones), silently
                        collector.add(f"source key {key!r} is already defined by {source_file[key]} with "
                                      f"another entry ({sources[key]!r} there, {val!r} here)",
                                      file=layer.file, line=layer.smap.line_of(("sources", key)),
                                      path=f"sources.{key}", hint="give this source another key (keys are shared "
                                      "by every catalog file), or cite the existing one")
                        continue
                    sources[key] = val
                    source_file.setdefault(key, layer.file)
            for kind in KINDS:
                entries = data.get(kind) or []
                if not isinstance(entries, list):
                    collector.add(f"`{kind}` must be a list of entries", file=layer.file,
                                  line=layer.smap.line_of((kind,)), path=kind)
                    continue
                seen_here: dict[str, int] = {}
                for i, entry in enumerate(entries):
                    if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
                        collector.add("each entry must be a mapping with a string `id`",
                                      file=layer.file, line=layer.smap.line_of((kind, i)),
                                      path=format_path((kind, i)), hint="add `id: some-name`")
                        continue
                    eid = entry["id"]
                    if eid in seen_here:
                        collector.add(f"duplicate id {eid!r} (also entry {seen_here[eid]})",
                                      file=layer.file, line=layer.smap.line_of((kind, i, "id")),
                                      path=format_path((kind, i, "id")),
                                      hint="ids must be unique within a file; merge the two entries")
                        continue
                    seen_here[eid] = i
                    key = (kind, eid)
                    p = prov.setdefault(key, {})
                    if eid in merged[kind]:
                        if layer.name != SHIPPED_LAYER:
                            changed = cls._identity_change(kind, merged[kind][eid], entry, layer, i,
                                                           origin[key][0][0])
                            # another device under a known id: that warning says what it keeps
                            warnings += changed or cls._replaced_lists(kind, merged[kind][eid], entry, layer, i)
                        merged[kind][eid] = _merge(merged[kind][eid], entry, layer.name, p, ())
                    else:
                        if merged[kind] and layer.name != SHIPPED_LAYER:
                            # an overlay's new id: a typo of a known one would ask for every field
                            added[key] = (layer, i, list(merged[kind]))
                        merged[kind][eid] = copy.deepcopy(entry)
                        p.clear()
                        p[()] = layer.name
                    origin.setdefault(key, []).append((layer, i))
        collector.raise_if_any()
        derived: dict[tuple[str, str], dict[tuple, str]] = {}
        overclaimed: list[tuple] = []
        for kind in KINDS:
            for eid, raw in merged[kind].items():
                found: list = []
                _derive_confidence(raw, sources, (), derived.setdefault((kind, eid), {}), found)
                overclaimed += [(kind, eid, path, ver) for path, ver in found]

        # Validate the merged entries one by one, mapping errors back to the right file and line.
        valid: dict[str, dict[str, Any]] = {k: {} for k in KINDS}
        schema = {"accelerators": Accelerator, "models": Model, "quantization": Quantization,
                  "regions": Region}
        for kind in KINDS:
            for eid, raw in merged[kind].items():
                try:
                    valid[kind][eid] = schema[kind].model_validate(raw)
                    if kind == "models":
                        for fld, severity, msg, fix in parameter_checks(valid[kind][eid]):
                            issue = InputIssue(message=msg, hint=fix, **cls._place(
                                origin[(kind, eid)], prov.get((kind, eid), {}), kind, (fld,)))
                            (collector.issues if severity == "error" else warnings).append(issue)
                except ValidationError as exc:
                    errors = exc.errors(include_url=False)
                    close = did_you_mean(eid, added[(kind, eid)][2]) if (kind, eid) in added else []
                    missing = [".".join(map(str, e.get("loc", ()))) for e in errors if e.get("type") == "missing"]
                    for err in errors:
                        if close and err.get("type") == "missing":
                            continue    # QA s25: 13 'missing' errors buried the typo of a known id
                        loc = tuple(err.get("loc", ()))
                        layer, idx = cls._origin_for(origin[(kind, eid)], kind, loc, prov.get((kind, eid), {}))
                        sub = ValidationError.from_exception_data(exc.title, [err])
                        collector.extend(pydantic_issues(sub, schema[kind], layer.smap,
                                                         prefix=(kind, idx), file=layer.file))
                    if close and missing:
                        layer, idx, _ = added[(kind, eid)]
                        collector.add(f"{eid!r} is no {kind} id of the catalog, so this entry adds a new one, "
                                      f"which needs every field ({len(missing)} missing: {', '.join(missing[:5])}"
                                      f"{', ...' if len(missing) > 5 else ''})",
                                      file=layer.file,
                                      line=layer.smap.line_of((kind, idx, "id")), path=format_path((kind, idx, "id")),
                                      hint=f"did you mean {close[0]!r}? An entry with a known id changes only the "
                                           "fields it names")
        if collector.issues:
            # QA s25: a region or source typo surfaced only on a second run, once the schema errors were
            # fixed; check the references of the raw entries now, so one run reports both
            for kind in KINDS:
                for eid, raw in merged[kind].items():
                    for path, what, ref in _raw_references(kind, raw):
                        table = merged["regions"] if what == "region" else sources
                        if ref in table or (what == "source" and _looks_like_reference(ref)):
                            continue
                        message, hint = (_unknown_region(ref, table) if what == "region" else
                                         _unknown_source(ref, table))
                        collector.add(message, hint=hint,
                                      **cls._place(origin[(kind, eid)], prov.get((kind, eid), {}), kind, path))
        try:
            src_models = {k: Source.model_validate(v) for k, v in sources.items()}
        except ValidationError as exc:
            collector.extend(pydantic_issues(exc, Source, None, prefix=("sources",)))
            src_models = {}
        collector.raise_if_any()

        cat = cls(accelerators=valid["accelerators"], models=valid["models"],
                  quantization=valid["quantization"], regions=valid["regions"],
                  sources=src_models, layers=[l.name for l in layers],
                  version="+".join(dict.fromkeys(versions)) or "unversioned", provenance=prov,
                  derived_confidence={k: v for k, v in derived.items() if v})
        cat._check_references(collector, origin)
        collector.raise_if_any()
        for kind, eid, path, ver in overclaimed:
            warnings.append(InputIssue(
                message=f"confidence is 'high', but its source says {ver!r}",
                hint="write confidence: low (or medium), or cite a source that was retrieved",
                **cls._place(origin[(kind, eid)], prov.get((kind, eid), {}), kind, path + ("confidence",))))
        cat.warnings = warnings + cat._support_warnings(origin)
        digest = hashlib.sha256(json.dumps(cat.to_dict(), sort_keys=True).encode()).hexdigest()[:10]
        cat.version = f"{cat.version}#{digest}"
        return cat

    @staticmethod
    def _origin_for(origins: list, kind: str, loc: tuple, prov: dict) -> tuple:
        """The layer (and entry index) that supplied the value at ``loc``: the layer that set its longest
        prefix (a list an overlay replaced is the overlay's, also where a field is missing in it), else
        the last layer that has the path.  QA: an overlay's errors were blamed on the shipped files."""
        for n in range(len(loc), 0, -1):
            name = prov.get(loc[:n])
            if name is not None:
                hit = [(layer, idx) for layer, idx in origins if layer.name == name]
                if hit:
                    return hit[-1]
        for layer, idx in reversed(origins):
            node: Any = layer.data[kind][idx]
            ok = True
            for part in loc:
                if isinstance(node, dict) and part in node:
                    node = node[part]
                elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                    node = node[part]
                else:
                    ok = False
                    break
            if ok:
                return layer, idx
        return origins[-1]

    @classmethod
    def _place(cls, origins: list, prov: dict, kind: str, path: tuple) -> dict:
        """file, line and path of the value at ``path`` of an entry, in the layer that supplied it."""
        layer, idx = cls._origin_for(origins, kind, tuple(path), prov)
        full = (kind, idx) + tuple(path)
        return dict(file=layer.file, line=layer.smap.line_of(full), path=format_path(full))

    @staticmethod
    def _replaced_lists(kind: str, base: dict, entry: dict, layer: _Layer, idx: int) -> list[InputIssue]:
        """A warning per list an overlay entry replaces whole with fewer items (QA: one offer silently
        dropped the twelve shipped ones; QA s25: the note was printed only when the overlay was validated
        alone, not by `validate PROBLEM` or `solve`)."""
        out = []
        for key, val in entry.items():
            before = base.get(key)
            if isinstance(val, list) and isinstance(before, list) and len(before) > len(val):
                out.append(InputIssue(
                    message=f"{kind}.{entry['id']}.{key}: these {len(val)} replace the {len(before)} of the "
                            "catalog below (lists are replaced whole)",
                    hint=f"repeat the items to keep, as `fleetopt catalog show {entry['id']}` lists them; or "
                         "leave it, if dropping the others is meant",
                    file=layer.file, line=layer.smap.line_of((kind, idx, key)), path=format_path((kind, idx, key))))
        return out

    @staticmethod
    def _identity_change(kind: str, base: dict, entry: dict, layer: _Layer, idx: int,
                         first: _Layer) -> list[InputIssue]:
        """A warning where an overlay entry with a known id gives it another family, vendor, name ...:
        it then describes another thing, yet merges field by field into the known one (QA s21: an `l4`
        of family neuron kept the L4's FP8 peak, price, weight-only formats and purchase terms)."""
        changed = [(f, entry[f], base[f]) for f in IDENTITY[kind] if f in entry and f in base and entry[f] != base[f]]
        if not changed:
            return []
        eid, single = entry["id"], kind[:-1] if kind.endswith("s") else kind
        below = "the shipped catalog" if first.name == SHIPPED_LAYER else first.file
        kept = [format_path(p) for p in _kept_paths(base, entry)]
        return [InputIssue(
            message=(f"{eid!r} is the id of {below}'s {single} {base.get('name', eid)!r}, but this entry gives "
                     "another " + " and ".join(f"{f} ({new!r} for {old!r})" for f, new, old in changed)
                     + ": it is merged into that entry field by field"
                     + (f", and keeps from it {', '.join(kept)}" if kept else "")),
            hint=(f"to add another {single}, give it an id of its own (not in `fleetopt catalog list {kind}`) "
                  f"and every field; to change {below}'s {eid!r}, keep its "
                  + " and ".join(f for f, _, _ in changed)),
            file=layer.file, line=layer.smap.line_of((kind, idx, "id")), path=format_path((kind, idx, "id")))]

    def _support_warnings(self, origin: dict) -> list[InputIssue]:
        """Accelerator families and peaks no quantization scheme runs, and scheme families no accelerator
        has (QA s21: the family typo 'nueron' and a new family validated without a word, and no plan could
        use either device)."""
        out: list[InputIssue] = []

        def place(kind, eid, path):
            return self._place(origin[(kind, eid)], self.provenance.get((kind, eid), {}), kind, path)

        families = {a.family for a in self.accelerators.values()}
        supported = {f for q in self.quantization.values() for f in q.supported_families}
        for aid, acc in self.accelerators.items():
            if acc.family not in supported:
                close = _close(acc.family, supported)
                out.append(InputIssue(
                    message=f"family {acc.family!r} is in no quantization scheme's supported_families, so no "
                            f"model can run on {aid!r}",
                    hint=_hint(close, f"for a new family, add {acc.family!r} to the supported_families of the "
                               f"schemes it runs, in an overlay entry such as `- {{id: bf16, supported_families: "
                               f"[..., {acc.family}]}}` under `quantization:` (the list replaces the shipped one: "
                               "repeat the families `fleetopt catalog show bf16` lists)"),
                    **place("accelerators", aid, ("family",))))
                continue
            for fmt in acc.peak_tflops:
                if self.layer_of("accelerators", aid, ("peak_tflops", fmt)) == SHIPPED_LAYER:
                    continue        # the shipped unused peaks are datasheet figures (see docs/catalog.md)
                schemes = [qid for qid, q in self.quantization.items() if q.compute_format == fmt]
                if not any(acc.family in self.quantization[q].supported_families for q in schemes):
                    out.append(InputIssue(
                        message=(f"no quantization scheme computing in {fmt} lists family {acc.family!r}"
                                 + (f" (the {fmt} schemes: {', '.join(schemes)})" if schemes else
                                    f" (no scheme computes in {fmt})")
                                 + ", so no plan uses this peak"),
                        hint=(f"if the serving software runs {fmt} on {acc.family} devices, add {acc.family!r} to "
                              f"the supported_families of {' or '.join(schemes)} in an overlay; else leave the peak out"
                              if schemes else f"leave the peak out, or add a quantization scheme computing in {fmt}"),
                        **place("accelerators", aid, ("peak_tflops", fmt))))
        for qid, q in self.quantization.items():
            for j, mid in enumerate(q.models or []):
                if mid not in self.models:
                    close = _close(mid, self.models)
                    out.append(InputIssue(
                        message=f"no model of the catalog has id {mid!r}, so the scheme is offered for no such model",
                        hint=_hint(close, "list catalog model ids (fleetopt catalog list models)"),
                        **place("quantization", qid, ("models", j))))
            for j, fam in enumerate(q.supported_families):
                if fam not in families:
                    close = _close(fam, families)
                    out.append(InputIssue(
                        message=f"no accelerator of the catalog has family {fam!r}",
                        hint=_hint(close, "if an overlay adds accelerators of that family, load it before "
                                   "this one (`--catalog THAT.yaml` first)"),
                        **place("quantization", qid, ("supported_families", j))))
            # QA s25: an overlay's int4 bands stopped at 15 B, and a 70 B model took the 8 B band's retention
            # without a word (solver.coefficients uses the nearest band outside every band)
            bands = q.retention
            outside = [(mid, m.total_params_b.value) for mid, m in self.models.items()
                       if (q.models is None or mid in q.models)
                       and not any(b.min_params_b <= m.total_params_b.value < b.max_params_b
                                                              for b in bands)]
            if outside:
                listed = ", ".join(f"{mid} ({size:g} B)" for mid, size in outside[:4]) + (
                    f" and {len(outside) - 4} more" if len(outside) > 4 else "")
                out.append(InputIssue(
                    message=f"{listed} fall{'s' if len(outside) == 1 else ''} in no retention band of {qid!r} "
                            f"(bands {', '.join(f'{b.min_params_b:g}-{b.max_params_b:g} B' for b in bands)}): "
                            "the nearest band's retention is used",
                    hint="add a band that covers these sizes (the list replaces the shipped one: repeat the bands "
                         f"`fleetopt catalog show {qid}` lists), or leave it if the nearest band is right",
                    **place("quantization", qid, ("retention",))))
        return out

    def _check_references(self, collector: IssueCollector, origin: dict) -> None:
        """Cross-entry checks: offers name known regions, sources exist."""
        def where(kind, eid, path):
            return self._place(origin[(kind, eid)], self.provenance.get((kind, eid), {}), kind, path)

        for aid, acc in self.accelerators.items():
            for j, off in enumerate(acc.offers):
                if off.region not in self.regions:
                    message, hint = _unknown_region(off.region, self.regions)
                    collector.add(message, hint=hint, **where("accelerators", aid, ("offers", j, "region")))
            if acc.purchase and acc.purchase.regions:
                for j, r in enumerate(acc.purchase.regions):
                    if r not in self.regions:
                        message, hint = _unknown_region(r, self.regions)
                        collector.add(message, hint=hint, **where("accelerators", aid, ("purchase", "regions", j)))
        for mid, model in self.models.items():
            for j, q in enumerate(model.native_formats):
                if q not in self.quantization:      # QA: 'fp-8' was dropped silently (scored as a BF16 release)
                    collector.add(f"unknown quantization {q!r} in native_formats",
                                  hint=unknown_id_hint(q, self.quantization, "quantization"),
                                  **where("models", mid, ("native_formats", j)))
        for kind in KINDS:
            for eid, entry in self.entries(kind).items():
                for path, fig in _figures(entry):
                    if fig.source not in self.sources and not _looks_like_reference(fig.source):
                        message, hint = _unknown_source(fig.source, self.sources)
                        collector.add(message, hint=hint, **where(kind, eid, path + ("source",)))

    # ------------------------------------------------------------------ look-ups
    def entries(self, kind: str) -> dict[str, Any]:
        if kind not in KINDS:
            raise InputError(InputIssue(message=f"unknown catalog kind {kind!r}",
                                        hint=unknown_id_hint(kind, KINDS, "kinds")))
        return getattr(self, kind)

    def get(self, kind: str, eid: str) -> Any:
        table = self.entries(kind)
        if eid not in table:
            raise InputError(InputIssue(message=f"unknown {kind[:-1] if kind.endswith('s') else kind} id {eid!r}",
                                        path=kind, hint=unknown_id_hint(eid, table, kind)))
        return table[eid]

    def find(self, eid: str) -> tuple[str, Any]:
        """Find an id in any kind (for `catalog show ID`)."""
        for kind in KINDS:
            if eid in self.entries(kind):
                return kind, self.entries(kind)[eid]
        every = [i for k in KINDS for i in self.entries(k)]
        close = did_you_mean(eid, every)
        hint = (f"did you mean {' or '.join(repr(c) for c in close)}? " if close else "") + \
            "Run `fleetopt catalog list` to see every id."
        raise InputError(InputIssue(message=f"no catalog entry with id {eid!r}", hint=hint))

    def accelerator(self, eid: str) -> Accelerator:
        return self.get("accelerators", eid)

    def model(self, eid: str) -> Model:
        return self.get("models", eid)

    def quant(self, eid: str) -> Quantization:
        return self.get("quantization", eid)

    def region(self, eid: str) -> Region:
        return self.get("regions", eid)

    def models_reaching(self, score: float, *, benchmark: str = "MMLU", exclude: Iterable[str] = (),
                        limit: int = 3) -> list[str]:
        """Up to ``limit`` model ids, lowest score first, whose catalog score on ``benchmark`` is at least
        ``score`` (their best format), leaving out ``exclude``: what a quality target could be met with."""
        left_out = set(exclude)
        reach = [m for m, mm in self.models.items() if m not in left_out and mm.quality_benchmark == benchmark
                 and mm.quality.value >= score - 1e-9]
        return sorted(reach, key=lambda m: (self.models[m].quality.value, m))[:limit]

    def layer_of(self, kind: str, eid: str, path: tuple = ()) -> str:
        """Which layer supplied the value at ``path`` of entry ``eid``."""
        prov = self.provenance.get((kind, eid), {})
        p = tuple(path)
        while True:
            if p in prov:
                return prov[p]
            if not p:
                return SHIPPED_LAYER
            p = p[:-1]

    def source_text(self, key: str) -> str:
        """Human-readable source for a figure's ``source`` field."""
        s = self.sources.get(key)
        if s is None:
            return key
        return s.title + (f" <{s.url}>" if s.url else "") + (
            f" [{s.verification}]" if s.verification else "")

    def figures(self, kind: str, eid: str) -> list[dict]:
        """Every sourced figure of an entry, with its source and layer (tidy rows)."""
        entry = self.get(kind, eid)
        rows = []
        derived = self.derived_confidence.get((kind, eid), {})
        for path, fig in _figures(entry):
            rows.append({"field": format_path(path), "value": fig.value, "source": fig.source,
                         "source_text": self.source_text(fig.source), "confidence": fig.confidence,
                         "confidence_from": derived.get(path), "note": fig.note,
                         "layer": self.layer_of(kind, eid, path)})
        return rows

    def to_dict(self) -> dict:
        return {k: {i: e.model_dump(mode="json") for i, e in sorted(self.entries(k).items())}
                for k in KINDS}


def _unknown_region(ref: str, regions) -> tuple[str, str]:
    """(message, hint) for a region reference no catalog region has."""
    return f"unknown region {ref!r}", unknown_id_hint(ref, regions, "regions")


def _unknown_source(ref: str, sources) -> tuple[str, str]:
    """(message, hint) for a figure's source that no `sources:` table has."""
    close = _close(ref, sources)
    return (f"source {ref!r} is not in any `sources:` table",
            _hint(close, ("else " if close else "") + "add it to `sources:` or give a URL / document title"))


def _raw_references(kind: str, raw: Any) -> list[tuple[tuple, str, str]]:
    """(path, 'region' or 'source', the id) of each reference in a raw (unvalidated) entry: offer and
    purchase regions of an accelerator, and the source of every figure-shaped mapping (value + source)."""
    out: list[tuple[tuple, str, str]] = []

    def walk(obj: Any, path: tuple) -> None:
        if isinstance(obj, dict):
            if "value" in obj and isinstance(obj.get("source"), str):
                out.append((path + ("source",), "source", obj["source"]))
            for k, v in obj.items():
                walk(v, path + (k,))
        elif isinstance(obj, list):
            for i, v in enumerate(obj):
                walk(v, path + (i,))

    walk(raw, ())
    if kind == "accelerators" and isinstance(raw, dict):
        offers = raw.get("offers")
        for j, off in enumerate(offers if isinstance(offers, list) else []):
            if isinstance(off, dict) and isinstance(off.get("region"), str):
                out.append((("offers", j, "region"), "region", off["region"]))
        purchase = raw.get("purchase")
        regions = purchase.get("regions") if isinstance(purchase, dict) else None
        for j, r in enumerate(regions if isinstance(regions, list) else []):
            if isinstance(r, str):
                out.append((("purchase", "regions", j), "region", r))
    return out


def _looks_like_reference(s: str) -> bool:
    return "://" in s or " " in s or s.endswith(".pdf")


def _figures(obj: Any, path: tuple = ()) -> list[tuple[tuple, Figure]]:
    """All :class:`Figure` values inside a schema object, with their paths."""
    out: list[tuple[tuple, Figure]] = []
    if isinstance(obj, Figure):
        return [(path, obj)]
    if isinstance(obj, BaseModel):
        for name in type(obj).model_fields:
            out += _figures(getattr(obj, name), path + (name,))
    elif isinstance(obj, dict):
        for k, v in obj.items():
            out += _figures(v, path + (k,))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out += _figures(v, path + (i,))
    return out


def warnings_text(issues: Iterable[InputIssue]) -> str:
    """The catalog's warnings as the commands print them (empty when none)."""
    issues = list(issues)
    if not issues:
        return ""
    n = len(issues)
    return (f"{n} catalog warning{'s' if n != 1 else ''} (the catalog loads, but check these):\n"
            + "\n".join(i.format() for i in issues) + "\n")


_DEFAULT: Optional[Catalog] = None


def default_catalog() -> Catalog:
    """The shipped catalog, loaded once per process."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Catalog.load()
    return _DEFAULT


__all__ = ["Catalog", "default_catalog", "missing_file_hint", "shipped_catalog_dir", "warnings_text",
           "SHIPPED_LAYER"]
