#!/usr/bin/env bash
# Train an EDVR-M-class model (experiment=gpu_m) on one GPU from a pack made by
# scripts/pack_gpu.sh, and export it as $OUT/vsr_m.pt with its training log, in one command
# planned for a 10-minute limit (7 minutes of training, the build and export around them; not
# yet timed on a GPU: the CPU smoke test below is what the tests run):
#   1. the pack's wheels, where the machine's Python lacks hydra / kornia / lpips / av;
#   2. the extension with the CUDA kernels for the visible GPU (skipped on a machine without
#      one, where the extension must already be built: make install);
#   3. training from scratch (bf16, batch 16), stopped at max_steps or trainer.max_time;
#   4. the last (EMA) weights exported to $OUT/vsr_m.pt (or outputs/gpu_m/vsr_m.pt), with the
#      training log and metrics.csv; the run folder (checkpoints) stays in RUN_DIR.
# Hydra overrides given to the script go to the training run. A smoke test of the whole script
# on the CPU (about a minute):
#   bash scripts/train_gpu.sh trainer=cpu model.preset=tiny trainer.max_steps=2 \
#     data.train.batch_size=2 data.train.num_workers=0 data.val.num_workers=0
# Environment: PACK (default gpu_pack/ of the checkout), OUT (where results go; default
# outputs/gpu_m/), RUN_DIR (the Hydra run; default outputs/gpu_m_run/), PYTHON (default
# python3), SPLIT_MB (where a machine returns files of limited size: vsr_m.pt in parts of
# that many MiB, joined with `cat vsr_m.pt.part* > vsr_m.pt`; the model is about 24 MB).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
# Paths as given from the caller's directory; the defaults are in the checkout.
PACK=$(realpath -m "${PACK:-$REPO/gpu_pack}")
OUT_DIR=$(realpath -m "${OUT:-$REPO/outputs/gpu_m}")
PYTHON=${PYTHON:-python3}
RUN_DIR=$(realpath -m "${RUN_DIR:-$REPO/outputs/gpu_m_run}")
cd "$REPO"
export PYTHONUNBUFFERED=1
[ -d "$PACK/frames" ] && [ -d "$PACK/val" ] \
  || { echo "train_gpu: no pack at $PACK (frames/, val/); run scripts/pack_gpu.sh first" >&2; exit 1; }
mkdir -p "$OUT_DIR"
started=$(date +%s)
elapsed() { echo "[$(( $(date +%s) - started )) s]"; }

echo "== packages $(elapsed)"
if ! $PYTHON -c "import hydra, kornia, lpips, av" 2> /dev/null; then
  compgen -G "$PACK/wheels/*.whl" > /dev/null \
    || { echo "train_gpu: hydra/kornia/lpips/av missing and no wheels in $PACK/wheels" >&2; exit 1; }
  site=$(mktemp -d)
  $PYTHON -m pip install -q --no-index --no-deps --no-compile --target "$site" "$PACK"/wheels/*.whl
  export PYTHONPATH=$site${PYTHONPATH:+:$PYTHONPATH}
fi
# Run from the checkout (nothing installed): the repository's `vsr` and conf/.
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}

echo "== extension $(elapsed)"
if $PYTHON -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
  arch=$($PYTHON -c "import torch; print('{}.{}'.format(*torch.cuda.get_device_capability()))")
  VSR_CUDA=1 TORCH_CUDA_ARCH_LIST=$arch MAX_JOBS=${MAX_JOBS:-16} \
    $PYTHON setup.py build_ext --inplace > "$OUT_DIR/build.log" 2>&1 \
    || { tail -40 "$OUT_DIR/build.log"; exit 1; }
fi
$PYTHON -m vsr.ops

echo "== training $(elapsed)"
rm -rf "$RUN_DIR"
$PYTHON -m vsr.training.cli experiment=gpu_m data.root="$PACK/frames" \
  val_root="$PACK/val" hydra.run.dir="$RUN_DIR" "$@" 2>&1 | tee "$OUT_DIR/train.log"

echo "== export $(elapsed)"
$PYTHON -m vsr.training.export "$RUN_DIR/checkpoints/last.ckpt" "$OUT_DIR/vsr_m.pt"
metrics=$(find "$RUN_DIR" -name metrics.csv | head -1)
[ -n "$metrics" ] && cp "$metrics" "$OUT_DIR/metrics.csv"
if [ -n "${SPLIT_MB:-}" ]; then
  split -d -b "${SPLIT_MB}M" "$OUT_DIR/vsr_m.pt" "$OUT_DIR/vsr_m.pt.part"
  rm "$OUT_DIR/vsr_m.pt"
  ls "$OUT_DIR"/vsr_m.pt.part*
fi
echo "done $(elapsed): $OUT_DIR/vsr_m.pt"
