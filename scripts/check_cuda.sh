#!/usr/bin/env bash
# The GPU checks in one go, for a machine with an NVIDIA GPU (about 5 minutes on an H200):
#   1. build the extension with the CUDA kernels for the visible GPU, in place;
#   2. run every test marked `cuda` (CPU-vs-CUDA, fp16/bf16, autocast, determinism, chunks);
#   3. run the operator benchmark on the GPU (float32 and bfloat16 against torchvision).
# Uses whatever python3 holds torch there (PYTHON=... to choose); results go to $OUT or ./cuda-check.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
OUT_DIR=${OUT:-cuda-check}
mkdir -p "$OUT_DIR"
export PYTHONUNBUFFERED=1

echo "== build (VSR_CUDA=1, arch of the visible GPU)"
arch=$($PYTHON -c "import torch; print('{}.{}'.format(*torch.cuda.get_device_capability()))")
VSR_CUDA=1 TORCH_CUDA_ARCH_LIST=$arch MAX_JOBS=${MAX_JOBS:-8} \
  $PYTHON setup.py build_ext --inplace > "$OUT_DIR/build.log" 2>&1 \
  || { tail -40 "$OUT_DIR/build.log"; exit 1; }
$PYTHON -m vsr.ops | tee "$OUT_DIR/ops.txt"

echo "== CUDA tests"
# Only the operator's tests are required here; the other packages' CUDA tests need
# dependencies (kornia, lpips, av) that a bare GPU image may lack, so they run when importable.
$PYTHON -m pytest -q -m cuda tests/ops -p no:cacheprovider 2>&1 | tee "$OUT_DIR/tests_ops.txt"
status=${PIPESTATUS[0]}
$PYTHON -m pytest -q -m cuda tests/metrics tests/inference -p no:cacheprovider \
  --continue-on-collection-errors 2>&1 | tail -15 | tee "$OUT_DIR/tests_other.txt"

echo "== benchmark"
$PYTHON benchmarks/bench_dcn.py --device cuda --min-seconds 1 2>&1 | tee "$OUT_DIR/bench_dcn.txt"
exit "$status"
