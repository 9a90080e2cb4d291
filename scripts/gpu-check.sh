#!/usr/bin/env bash
# The GPU check, for a Linux machine with an NVIDIA GPU, Python 3 with PyTorch 2.x + CUDA, and g++; Node and a network
# are optional. Where Node is missing: `bash scripts/gpu-pack.sh` on a machine with npm first (fills dist/ and
# .gpu/), copy the repository over. Then:   bash scripts/gpu-check.sh [OUT_DIR]     (about 5 minutes on one H200)
#  1. node: the machine's own, else the packed one (.gpu/node.xz); dependencies from node_modules or the pack;
#  2. builds the addon against that torch's own libtorch (its C++ standard, C++ ABI, CUDA and NCCL) with g++
#     (native/build.js: no node-gyp, no download of Node's headers);
#  3. clan doctor: a GPU visible, a CUDA build, NCCL bound;
#  4. the CUDA tests: ops and gradients against the CPU, the CLAN iteration against PyTorch CUDA, checkpoints
#     CPU ↔ CUDA, training on the GPU end to end, NCCL collectives and a data-parallel run on the GPU; plus the CPU
#     parity tests on this libtorch (live, against this machine's PyTorch);
#  5. bench step --compare: resnet101, source 1280×720, target 1024×512, fp32 and amp bf16 (JSON lines);
#     bench eval --compare: resnet101 at 1024×512, labels 2048×1024.
# Every step runs; each failure is named, and the script exits 1 if any step failed (0 only when all passed).
# Output goes to the terminal and to OUT_DIR (default $OUT, else ./gpu-check-out): gpu-check.log, tests.tap,
# bench.jsonl, doctor.json. Environment: CLAN_PYTHON (the python with torch; default python3), GPU_CHECK_ADDON (an
# addon already built: skip step 2), GPU_CHECK_STOP=1 (stop at the first failed step).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${1:-${OUT:-gpu-check-out}}
mkdir -p "$OUT_DIR"
exec > >(tee -a "$OUT_DIR/gpu-check.log") 2>&1
export CLAN_PYTHON=${CLAN_PYTHON:-$(command -v python3 || echo python3)} OMP_WAIT_POLICY=PASSIVE CLAN_PARITY_LIVE=1
unset NODE_TEST_CONTEXT  # started from a node test: our own `node --test` must report for itself
FAILED=()
T0=$(date +%s)
step() { echo "== $(date +%T) [+$(( $(date +%s) - T0 )) s] $*"; }
# fail STEP WHY: records the failure; with GPU_CHECK_STOP=1 ends the run at once.
fail() {
  echo "gpu-check: FAILED: $1: $2"
  FAILED+=("$1")
  if [ "${GPU_CHECK_STOP:-0}" = 1 ]; then finish; fi
}
finish() {
  step "done"
  if [ ${#FAILED[@]} -gt 0 ]; then echo "gpu-check: ${#FAILED[@]} step(s) failed: ${FAILED[*]}"; exit 1; fi
  echo "gpu-check: all steps passed"; exit 0
}

step "node"
if ! command -v node >/dev/null; then
  if [ -f .gpu/node.xz ]; then
    NODE_DIR=$(mktemp -d) && xz -dc .gpu/node.xz > "$NODE_DIR/node" && chmod +x "$NODE_DIR/node" && export PATH="$NODE_DIR:$PATH"
  fi
fi
if [ ! -d node_modules/node-addon-api ] && [ -f .gpu/node_modules.tar.xz ]; then tar -xJf .gpu/node_modules.tar.xz; fi
if ! node --version; then fail node "no node on PATH and no .gpu/node.xz (run scripts/gpu-pack.sh where npm works)"; finish; fi
[ -f dist/src/cli/main.js ] || { fail node "dist/ is not built (npm run build, or scripts/gpu-pack.sh)"; finish; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "(no nvidia-smi)"

step "build the addon against PyTorch's libtorch"
if [ -n "${GPU_CHECK_ADDON:-}" ]; then
  export CLAN_NATIVE=$GPU_CHECK_ADDON
  echo "using $CLAN_NATIVE (GPU_CHECK_ADDON)"
elif LIBTORCH=$("$CLAN_PYTHON" -c 'import torch, os; print(os.path.dirname(torch.__file__))'); then
  export LIBTORCH
  node native/config.js report
  if node native/build.js build/gpu --jobs "$(nproc)"; then export CLAN_NATIVE=$PWD/build/gpu/clan_native.node
  else
    fail build "the addon did not compile or link against $LIBTORCH (errors above)"
    # The rest can still be checked without the NCCL binding (the newest part, and the one most tied to torch's version).
    if [ "${GPU_CHECK_STOP:-0}" != 1 ] && CLAN_NO_NCCL=1 node native/build.js build/gpu --jobs "$(nproc)"; then
      echo "gpu-check: built without NCCL (CLAN_NO_NCCL=1) to run the other steps"; export CLAN_NATIVE=$PWD/build/gpu/clan_native.node
    fi
  fi
else
  fail build "$CLAN_PYTHON has no torch (set CLAN_PYTHON to the python that has PyTorch)"
fi
[ -n "${CLAN_NATIVE:-}" ] || finish

step "clan doctor"
node bin/clan.js doctor
if node bin/clan.js doctor --json > "$OUT_DIR/doctor.json"; then
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); const bad = [];
    if (!r.cudaBuild) bad.push("not a CUDA build (" + r.build + ")");
    else if (!r.cuda) bad.push("no GPU visible (" + r.build + ")");
    if (!r.distributed.includes("nccl")) bad.push("NCCL not bound (backends: " + (r.distributed.join(", ") || "none") + ")");
    if (bad.length) { console.log(bad.join("; ")); process.exit(1); }' "$OUT_DIR/doctor.json" > "$OUT_DIR/doctor.why" \
    || fail doctor "$(cat "$OUT_DIR/doctor.why")"
else
  fail doctor "clan doctor --json exited non-zero"
fi

step "CUDA tests"
TESTS=(dist/src/torch/cuda.test.js dist/src/methods/parity-cuda.test.js dist/src/train/device.test.js dist/src/torch/device.test.js
  dist/src/torch/amp.test.js dist/src/train/ddp-cuda.test.js dist/src/methods/parity.test.js dist/src/methods/advent-parity.test.js
  dist/src/cli/train.test.js)
node --test --test-concurrency=1 "${TESTS[@]}" > "$OUT_DIR/tests.tap" 2>&1
rc=$?
grep -E '^(not )?ok|^# (tests|pass|fail|skipped)|CUDA vs|CPU vs|worst|largest' "$OUT_DIR/tests.tap"
[ $rc -eq 0 ] || fail tests "node --test exited $rc ($(grep -c '^not ok' "$OUT_DIR/tests.tap") failed; $OUT_DIR/tests.tap)"
# On a GPU machine no CUDA test may skip for want of a GPU or of NCCL: that would be a pass that tested nothing.
if grep -qE '# SKIP .*(no CUDA|no GPU|no NCCL|has no NCCL)' "$OUT_DIR/tests.tap"; then
  fail tests "CUDA tests skipped: $(grep -E '# SKIP .*(no CUDA|no GPU|no NCCL|has no NCCL)' "$OUT_DIR/tests.tap" | head -1 | sed 's/.*# SKIP //')"
fi

B=(node bin/clan.js bench)
bench() {  # bench NAME ARGS…: one JSON line into bench.jsonl, or a failure
  local name=$1; shift
  step "bench $name"
  if "${B[@]}" "$@" > "$OUT_DIR/bench-$name.json"; then cat "$OUT_DIR/bench-$name.json" | tee -a "$OUT_DIR/bench.jsonl"
  else fail "bench $name" "clan bench $* exited non-zero"; fi
}
bench step-fp32 step --device cuda --backbone resnet101 --height 720 --width 1280 --target-size 1024x512 --iters 8 --warmup 3 --rounds 2 --threads 4 --compare
bench step-bf16 step --device cuda --backbone resnet101 --height 720 --width 1280 --target-size 1024x512 --iters 8 --warmup 3 --rounds 2 --threads 4 --compare --amp bf16
bench eval eval --device cuda --backbone resnet101 --height 512 --width 1024 --iters 20 --warmup 5 --rounds 2 --threads 4 --compare
finish
