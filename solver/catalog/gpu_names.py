"""GPU names as other tools write them -> catalog accelerator ids.

Peer tools (Mélange, AIBrix), Kubernetes / NVML product labels and published measurements name
GPUs in their own ways: 'A10G', 'NVIDIA-A100-SXM4-80GB', 'llama2-7b-NVIDIA-H100-80GB-HBM3', 'NVIDIA
H200-NVL-141GB', 'AMD Instinct MI300X-NPS1-SPX-192GB-750W'.  One reading serves the importers and the
calibration's measurement files, so that a name means the same part in both.
"""

from __future__ import annotations

import re
from typing import Collection, Optional

#: Common GPU names -> catalog ids.  (Not "a10": the A10 is another card than AWS's A10G, with other
#: power and peak figures; QA: it was read as the A10G without a word.  Not "l40": the L40 is not the
#: L40S.)
GPU_ALIASES = {
    "a10g": "a10g",
    "a100": "a100-80gb", "a100-80gb": "a100-80gb", "a100-80g": "a100-80gb", "a100_80gb": "a100-80gb",
    "a100-40gb": "a100-40gb", "a100-40g": "a100-40gb",
    "h100": "h100-sxm", "h100-80gb": "h100-sxm", "h100-sxm": "h100-sxm", "h100-pcie": "h100-pcie",
    "h200": "h200-sxm", "l4": "l4", "l40s": "l40s", "t4": "t4", "b200": "b200",
    "mi300x": "mi300x", "mi325x": "mi325x",
}


def accelerator_for_name(name: str, catalog_ids: Collection[str]) -> Optional[str]:
    """The catalog accelerator ``name`` spells, or None.

    The whole name first (an alias or a catalog id), then word by word (words split at '-', '_' and
    spaces): the first GPU word decides; 'nvl' or 'pcie' after an H100 / H200 names that variant
    (None where the catalog has no such entry); an A100 is the 40 GB part where '40gb' (or '40') follows, and
    none of the catalog's where 'pcie' follows (the A100 PCIe is a 300 W card the catalog lacks).
    """
    key = name.strip().lower()
    whole = GPU_ALIASES.get(key) or (key if key in catalog_ids else None)
    if whole is not None:
        return whole
    words = [w for w in re.split(r"[-_ ()]+", key) if w]
    for i, w in enumerate(words):
        rest = words[i + 1:]
        if w in ("h100", "h200"):
            variant = next((r for r in rest if r in ("nvl", "pcie")), None)
            cand = f"{w}-{variant}" if variant else GPU_ALIASES[w]
            return cand if cand in catalog_ids else None
        if w == "a100":
            if "pcie" in rest:
                return None
            # ('a100-40': the 40 GB part, as a memory size ends a name; QA s22 review: it was the 80 GB)
            cand = "a100-40gb" if any(r in ("40gb", "40g", "40") for r in rest) else "a100-80gb"
            return cand if cand in catalog_ids else None
        cand = GPU_ALIASES.get(w) or (w if w in catalog_ids else None)
        if cand is not None:
            return cand
    return None
