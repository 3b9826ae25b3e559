#!/usr/bin/env bash
# Measure kernel ceilings and `fleetopt calibrate` peak fractions on the GPU this runs on.
# Usage (from the repository root, PyTorch with CUDA installed): bash benchmarks/gpu/run_device.sh OUTDIR
# Accelerator ids and datasheet figures are the catalog's (`fleetopt catalog show h100-sxm` / `h200-sxm`).
set -euo pipefail
out=${1:?usage: run_device.sh OUTDIR}
mkdir -p "$out"
name=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
case "$name" in
  *H200*) acc=h200-sxm; bf16=989; fp8=1979; bw=4800 ;;
  *H100*80GB\ HBM3*|*H100\ SXM*) acc=h100-sxm; bf16=989; fp8=1979; bw=3350 ;;
  *) echo "no catalog entry mapped for GPU '$name': add it to this script" >&2; exit 2 ;;
esac
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem,power.limit --format=csv | tee "$out/nvidia-smi.csv"
python3 -m solver calibrate --accelerator "$acc" --formats bf16,fp8 --size 8192 --copy-mb 4096 --repeats 10 \
  --out "$out/calibrate-$acc.yaml" --json | tee "$out/calibrate-$acc.json"
python3 benchmarks/gpu/kernels.py --peak-bf16-tflops "$bf16" --peak-fp8-tflops "$fp8" --mem-bw-gbps "$bw" \
  --out "$out/kernels-$acc.json"
