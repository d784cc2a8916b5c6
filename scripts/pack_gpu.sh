#!/usr/bin/env bash
# Pack what scripts/train_gpu.sh needs on a GPU machine that reaches no network, into one
# git-ignored folder (default gpu_pack/) small enough to travel with the checkout (64 MiB in
# all on this workplace's device machines):
#   wheels/  the packages a bare PyTorch image lacks (hydra-core, omegaconf, antlr4, kornia,
#            kornia-rs, lpips, av), at the versions this checkout's .venv is tested with, built
#            for the GPU machine's Python (GPU_PYTHON, default 3.12) on x86-64 Linux;
#   frames/  the training clips as JPEG frames (vsr-prepare-videos --jpeg-quality 95), short
#            side 256 as Vimeo-90K, the first FRAMES (default 7) frames of each clip, the
#            held-out clips left out (the same ones as the tiny model's);
#   val/     the held-out frames benchmarks/bench_quality.py measures, for monitoring only.
# Needs: make install, ../shared/data (SHARED=... to point elsewhere), pip's access to PyPI.
#   scripts/pack_gpu.sh [PACK_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
PACK=${1:-gpu_pack}
SHARED=${SHARED:-../shared/data}
PY=${PYTHON:-.venv/bin/python}
GPU_PYTHON=${GPU_PYTHON:-3.12}
FRAMES=${FRAMES:-7}
LIMIT_MIB=${LIMIT_MIB:-64}
HELD_OUT=(imageio_realshort.mp4 psd_issue-195-aspect-ratio.mp4 psd_fades.mp4
          mmagic_test_inference.mp4)

for dir in "$SHARED/train_extra" "$SHARED/videos"; do
  [ -d "$dir" ] || { echo "pack_gpu: $dir not found; set SHARED=/path/to/shared/data" >&2; exit 1; }
done
rm -rf "$PACK"
mkdir -p "$PACK/wheels"

echo "== wheels for Python $GPU_PYTHON"
pinned() { $PY -m pip show "$1" | awk '/^Version:/ {print $2}'; }
platforms=()
for tag in manylinux_2_28 manylinux_2_27 manylinux_2_17 manylinux2014 manylinux1; do
  platforms+=(--platform "${tag}_x86_64")
done
$PY -m pip download -q --no-deps --only-binary=:all: --python-version "$GPU_PYTHON" \
  --implementation cp "${platforms[@]}" -d "$PACK/wheels" \
  "hydra-core==$(pinned hydra-core)" "omegaconf==$(pinned omegaconf)" \
  "kornia==$(pinned kornia)" "kornia_rs==$(pinned kornia_rs)" "lpips==$(pinned lpips)" \
  "av==$(pinned av)"
# antlr4's runtime (Hydra's parser) is published as a source archive only: build its wheel.
$PY -m pip wheel -q --no-deps -w "$PACK/wheels" \
  "antlr4-python3-runtime==$(pinned antlr4-python3-runtime)"

echo "== training frames"
$PY -m vsr.data.extract "$SHARED/train_extra" "$SHARED/videos" "$PACK/frames" \
  --max-frames "$FRAMES" --max-short-side 256 --jpeg-quality 95 --skip "${HELD_OUT[@]}" \
  > "$PACK/frames.log"
echo "$(find "$PACK/frames" -name '*.jpg' | wc -l) frames of $(ls "$PACK/frames" | wc -l) clips"

echo "== held-out frames"
$PY benchmarks/bench_quality.py --sets clips --scales 4 --degradations bicubic \
  --videos "$SHARED/videos" --work-dir "$PACK/bench" > /dev/null
mv "$PACK/bench/frames" "$PACK/val"
rm -rf "$PACK/bench"

# What travels: the tracked files plus the pack.
tracked=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
packed=$(du -sb "$PACK" | cut -f1)
total_mib=$(( (tracked + packed) / 1048576 ))
echo "pack $(( packed / 1048576 )) MiB + checkout $(( tracked / 1048576 )) MiB = $total_mib MiB"
if [ "$total_mib" -ge "$LIMIT_MIB" ]; then
  echo "pack_gpu: over the $LIMIT_MIB MiB a device call carries; lower FRAMES" >&2
  exit 1
fi
