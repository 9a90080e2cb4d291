#!/usr/bin/env bash
# The GPU check, for a Linux machine with an NVIDIA GPU, Python 3 with PyTorch 2.x + CUDA, and gcc, but no Node
# and no network. First, where npm works: `bash scripts/gpu-pack.sh` (fills dist/ and .gpu/); copy the repository
# over; then there:  bash scripts/gpu-check.sh [OUT_DIR]    (about 5 minutes on one H100/H200)
#  1. builds the addon against that torch's own libtorch (its C++ ABI, its CUDA libraries) with g++, as
#     binding.gyp would (node-gyp itself needs a download of Node's headers; .gpu/node-api has the four it uses);
#  2. clan doctor (GPU, compute capability, CUDA / cuDNN / NCCL versions);
#  3. the CUDA tests: ops and gradients against the CPU, the CLAN iteration against PyTorch CUDA (1e-3),
#     checkpoints CPU ↔ CUDA, training with the GPU end to end; plus the CPU parity test on this libtorch;
#  4. bench step --compare: resnet101, source 1280×720, target 1024×512, fp32 and amp bf16 (JSON lines);
#     bench eval --compare: resnet101 at 1024×512, labels 2048×1024.
# Everything printed is also written to OUT_DIR (default $OUT, else ./gpu-check-out).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${1:-${OUT:-gpu-check-out}}
mkdir -p "$OUT_DIR"
exec > >(tee -a "$OUT_DIR/gpu-check.log") 2>&1
step() { echo "== $(date +%T) $*"; }
export CLAN_PYTHON=${CLAN_PYTHON:-$(command -v python3)} OMP_WAIT_POLICY=PASSIVE CLAN_PARITY_LIVE=1

step "node"
if ! command -v node >/dev/null; then
  NODE_DIR=$(mktemp -d) && xz -dc .gpu/node.xz > "$NODE_DIR/node" && chmod +x "$NODE_DIR/node" && export PATH="$NODE_DIR:$PATH"
fi
[ -d node_modules/node-addon-api ] || tar -xJf .gpu/node_modules.tar.xz
node --version || { echo "gpu-check: no node (run scripts/gpu-pack.sh first)"; exit 1; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

step "build the addon against PyTorch's libtorch"
LIBTORCH=$("$CLAN_PYTHON" -c 'import torch, os; print(os.path.dirname(torch.__file__))') || { echo "gpu-check: $CLAN_PYTHON has no torch"; exit 1; }
export LIBTORCH
node native/config.js report
CFLAGS="-O2 -fPIC -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS -fexceptions -frtti $(node native/config.js cflags)"
INCS="-I.gpu/node-api -I$(node -p "require('node-addon-api').include_dir")"
for d in $(node native/config.js includes); do INCS="$INCS -I$d"; done
mkdir -p build/Release build/gpu-obj
t0=$(date +%s)
pids=()
for f in native/*.cc; do
  g++ $CFLAGS $INCS -c "$f" -o "build/gpu-obj/$(basename "$f" .cc).o" 2> "build/gpu-obj/$(basename "$f" .cc).err" & pids+=($!)
done
fail=0; for p in "${pids[@]}"; do wait "$p" || fail=1; done
# c10d's Gloo API is the least stable part across torch versions: without it the rest still builds and runs.
others=$(ls build/gpu-obj/*.err | grep -v '/dist\.err$')
if [ $fail -ne 0 ] && grep -q error build/gpu-obj/dist.err && ! grep -q error $others; then
  echo "gpu-check: native/dist.cc did not compile against this torch (build/gpu-obj/dist.err); building without data-parallel"
  grep -h -A4 error build/gpu-obj/dist.err | head -20
  g++ $CFLAGS -DCLAN_NO_GLOO $INCS -c native/dist.cc -o build/gpu-obj/dist.o && fail=0
fi
if [ $fail -ne 0 ]; then grep -h -B2 -A6 'error' build/gpu-obj/*.err | head -80; echo "gpu-check: addon build FAILED"; exit 1; fi
g++ -shared -o build/Release/clan_native.node build/gpu-obj/*.o $(node native/config.js libs) || { echo "gpu-check: link FAILED"; exit 1; }
echo "built in $(( $(date +%s) - t0 )) s"

step "clan doctor"
node bin/clan.js doctor

step "CUDA tests"
node --test --test-concurrency=1 dist/src/torch/cuda.test.js dist/src/methods/parity-cuda.test.js dist/src/train/device.test.js \
  dist/src/torch/device.test.js dist/src/torch/amp.test.js dist/src/methods/parity.test.js 2>&1 | tee "$OUT_DIR/tests.tap" \
  | grep -E '^(not )?ok|^# (tests|pass|fail|skipped)|CUDA vs|CPU vs|worst|error:'

step "bench step (resnet101, 1280x720 source, 1024x512 target)"
B="node bin/clan.js bench"
$B step --device cuda --backbone resnet101 --height 720 --width 1280 --target-size 512x1024 --iters 8 --warmup 3 --rounds 3 --threads 4 --compare | tee -a "$OUT_DIR/bench.jsonl"
$B step --device cuda --backbone resnet101 --height 720 --width 1280 --target-size 512x1024 --iters 8 --warmup 3 --rounds 3 --threads 4 --compare --amp bf16 | tee -a "$OUT_DIR/bench.jsonl"
step "bench eval (resnet101, 1024x512 → 2048x1024)"
$B eval --device cuda --backbone resnet101 --height 512 --width 1024 --iters 20 --warmup 5 --rounds 3 --threads 4 --compare | tee -a "$OUT_DIR/bench.jsonl"
step "done"
