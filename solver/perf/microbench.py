"""Measure peak fractions on the local device: dense matrix products per format, memory copy.

``fleetopt calibrate --accelerator ID`` times square GEMMs (``2 n^3`` FLOP) in
each number format the accelerator's catalog entry has a peak for and the
backend can run, and a device-memory copy (read + write: ``2 x bytes``), then
divides by the catalog's dense peak and bandwidth.  The result is written as a
calibration file (the format of ``catalogs/calibration/perf_params.yaml``):
the shipped parameters with this accelerator's calibration group (its family, or its
``calibration_group``: ``hopper-pcie`` for an H100 PCIe) replaced by the measured
fractions, with the date, device name and sizes as provenance.  Use it with
``--params FILE`` (``fleetopt perf``) or ``FLEETOPT_CALIBRATION_DIR``.

Micro-benchmark fractions are ceilings: serving also runs attention, norms and
small GEMMs, so the fitted serving efficiencies are lower.  The per-step
overhead is kept from the shipped calibration (a GEMM cannot measure it).

Backends: PyTorch (CUDA or CPU; fp8 through ``torch._scaled_mm`` and int8
through ``torch._int_mm`` where the build has them) and NumPy (CPU, fp32 only),
so the command and its tests run without a GPU.
"""

from __future__ import annotations

import datetime as _dt
import platform
import time
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from solver.perf.params import GroupParams, PerfParams, calibration_families


@dataclass
class Measured:
    backend: str
    device_name: str
    gemm_tflops: dict[str, float] = field(default_factory=dict)
    copy_gbps: Optional[float] = None
    gemm_size: int = 0
    copy_mb: float = 0.0
    skipped: dict[str, str] = field(default_factory=dict)


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except Exception:  # noqa: BLE001 - any import failure means "not available"
        return False
    return True


def _best(fn, repeats: int, sync=lambda: None) -> float:
    fn()
    sync()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


def _numpy_measure(formats: Sequence[str], n: int, copy_mb: float, repeats: int) -> Measured:
    m = Measured(backend="numpy", device_name=f"CPU {platform.processor() or platform.machine()}",
                 gemm_size=n, copy_mb=copy_mb)
    rng = np.random.default_rng(0)
    for fmt in formats:
        if fmt != "fp32":
            m.skipped[fmt] = "numpy backend runs fp32 only"
            continue
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        t = _best(lambda: a @ b, repeats)
        m.gemm_tflops[fmt] = 2.0 * n ** 3 / t / 1e12
    src = np.ones(int(copy_mb * 1e6 // 4), dtype=np.float32)
    dst = np.empty_like(src)
    t = _best(lambda: np.copyto(dst, src), repeats)
    m.copy_gbps = 2.0 * src.nbytes / t / 1e9
    return m


def _torch_measure(formats: Sequence[str], n: int, copy_mb: float, repeats: int, device: str) -> Measured:
    import torch

    dev = torch.device(device)
    cuda = dev.type == "cuda"
    name = torch.cuda.get_device_name(dev) if cuda else f"CPU {platform.processor() or platform.machine()}"
    sync = (lambda: torch.cuda.synchronize(dev)) if cuda else (lambda: None)
    m = Measured(backend=f"torch {torch.__version__}", device_name=name, gemm_size=n, copy_mb=copy_mb)
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    gen = torch.Generator(device=dev).manual_seed(0)
    for fmt in formats:
        try:
            if fmt in dtypes:
                a = torch.randn(n, n, device=dev, dtype=dtypes[fmt], generator=gen)
                b = torch.randn(n, n, device=dev, dtype=dtypes[fmt], generator=gen)
                fn = lambda a=a, b=b: a @ b  # noqa: E731
            elif fmt == "fp8" and cuda and hasattr(torch, "float8_e4m3fn") and hasattr(torch, "_scaled_mm"):
                a = torch.randn(n, n, device=dev, generator=gen).to(torch.float8_e4m3fn)
                b = torch.randn(n, n, device=dev, generator=gen).to(torch.float8_e4m3fn).t()
                one = torch.ones((), device=dev)
                fn = lambda a=a, b=b: torch._scaled_mm(a, b, scale_a=one, scale_b=one,  # noqa: E731
                                                       out_dtype=torch.bfloat16)
            elif fmt == "int8" and cuda and hasattr(torch, "_int_mm"):
                a = torch.randint(-8, 8, (n, n), device=dev, dtype=torch.int8, generator=gen)
                b = torch.randint(-8, 8, (n, n), device=dev, dtype=torch.int8, generator=gen)
                fn = lambda a=a, b=b: torch._int_mm(a, b)  # noqa: E731
            else:
                m.skipped[fmt] = f"no {fmt} matrix product in this backend/device"
                continue
            t = _best(fn, repeats, sync)
            m.gemm_tflops[fmt] = 2.0 * n ** 3 / t / 1e12
        except Exception as exc:  # noqa: BLE001 - a format the build cannot run is reported, not fatal
            m.skipped[fmt] = f"{type(exc).__name__}: {exc}"[:200]
    src = torch.ones(int(copy_mb * 1e6 // 4), device=dev, dtype=torch.float32)
    dst = torch.empty_like(src)
    t = _best(lambda: dst.copy_(src), repeats, sync)
    m.copy_gbps = 2.0 * src.numel() * 4 / t / 1e9
    return m


def measure(formats: Sequence[str], *, backend: str = "auto", device: Optional[str] = None, n: int = 4096,
            copy_mb: float = 1024.0, repeats: int = 5) -> Measured:
    """Time GEMMs of ``n x n`` per format and a ``copy_mb`` MB copy; best of ``repeats``."""
    if backend == "auto":
        backend = "torch" if torch_available() else "numpy"
    if backend == "numpy":
        return _numpy_measure(formats, n, copy_mb, repeats)
    if backend == "torch":
        if device is None:
            import torch
            device = "cuda" if torch.cuda.is_available() else "cpu"
        return _torch_measure(formats, n, copy_mb, repeats, device)
    raise ValueError(f"unknown backend {backend!r}")


def overlay_params(base: PerfParams, acc, measured: Measured) -> tuple[PerfParams, dict]:
    """Base parameters with the groups of ``acc``'s calibration group (what its predictions read:
    :func:`solver.perf.params.calibration_families`) set to the measured peak fractions.  (Review: it
    wrote an H100 PCIe's measurement into ``hopper``, which the SXM parts read and the PCIe card does
    not.)"""
    bw_frac = measured.copy_gbps / acc.mem_bw_gbps.value if measured.copy_gbps else None
    fracs = {f: t / acc.peak_tflops[f].value for f, t in measured.gemm_tflops.items() if f in acc.peak_tflops}
    group = calibration_families(acc)[0]
    groups = [g for g in base.groups if not (g.family == group and g.format in fracs)]
    for fmt, fr in sorted(fracs.items()):
        old = base.group_of(acc, fmt)
        groups.append(GroupParams(
            family=group, format=fmt, compute_efficiency=float(min(fr, 1.0)),
            bandwidth_efficiency=float(min(bw_frac, 1.0)) if bw_frac else old.bandwidth_efficiency,
            step_overhead_ms=old.step_overhead_ms, fit_rows=0,
            note=(f"measured on {measured.device_name} ({measured.backend}): GEMM {fmt} "
                  f"{measured.gemm_tflops[fmt]:.2f} TFLOPS = {fr:.3f} of peak; copy "
                  f"{measured.copy_gbps or 0:.0f} GB/s; overhead from the shipped calibration")))
    prov = dict(base.provenance)
    prov.update({
        "overlay": "fleetopt calibrate",
        "overlay_date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "overlay_device": measured.device_name,
        "overlay_accelerator": acc.id,
        "overlay_backend": measured.backend,
        "overlay_sizes": f"GEMM {measured.gemm_size}^3, copy {measured.copy_mb:g} MB",
        "overlay_peak_fractions": ", ".join(f"{f}={v:.3f}" for f, v in sorted(fracs.items()))
                                  + (f", bandwidth={bw_frac:.3f}" if bw_frac else ""),
    })
    return base.with_groups(groups), prov
