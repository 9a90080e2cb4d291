#!/usr/bin/env bash
# CI's PyTorch 2.x builds, beside the default Debian 1.13 one (which keeps build/Release and the full test suite):
#   torch-2.14.1-cu13  PyTorch 2.14.1 built for CUDA 13 with its nvidia-* libraries (C++20 headers, NCCL bound);
#   torch-2.13.0-cpu   PyTorch 2.13.0's CPU wheel (C++17, MKL, NNPACK compiled in).
# For each: a venv cached under ${CLAN_CACHE:-~/.cache/clan} (made once; pip only), the addon compiled into build/<name>
# by native/build.js (compile + link), then the tests that matter on that build with CLAN_NATIVE pointing at it (it
# loads): the binding, c10d (Gloo; NCCL's tests skip without a GPU and say so), the parity fixtures of that PyTorch
# version where recorded and the live parity against that very torch, a short training that prints nothing else,
# checkpoints saved, resumed and loaded, and the device/launcher checks. No GPU is needed.
#   bash scripts/ci-torch2.sh [NAME ...]      (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${CLAN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/clan}
PY=${CLAN_VENV_PYTHON:-/usr/bin/python3}  # Debian 12's 3.11: the cp311 wheels
# The nvidia-* wheels torch 2.14.1 links (its own pins where it has them); --no-deps: the cuda-toolkit meta-package
# it names is not needed to load libtorch.
NV14=(nvidia-cublas nvidia-cuda-runtime nvidia-cufft nvidia-cufile nvidia-cuda-cupti nvidia-curand nvidia-cusolver nvidia-cusparse
  nvidia-nvjitlink nvidia-cuda-nvrtc nvidia-nvtx nvidia-cudnn-cu13==9.24.0.43 nvidia-cusparselt-cu13==0.8.1 nvidia-nccl-cu13==2.30.7
  nvidia-nvshmem-cu13==3.4.5)
# torch's own Python dependencies, newer than Debian's (its typing_extensions lacks `deprecated`), in the venv itself
# (version floors from torch 2.14's metadata: a system package that is older is shadowed, not taken)
PYDEPS=("typing-extensions>=4.10" "filelock" "fsspec>=0.8.5" "jinja2" "markupsafe" "sympy>=1.13.3" "mpmath" "networkx>=2.5.1")
TESTS=(dist/src/torch/native.test.js dist/src/torch/dist.test.js dist/src/methods/parity.test.js dist/src/methods/advent-parity.test.js
  dist/src/methods/parity-cuda.test.js dist/src/train/resume.test.js dist/src/train/device.test.js dist/src/train/ddp-cuda.test.js
  dist/src/io/checkpoint.test.js dist/src/cli/train.test.js dist/src/torch/cuda.test.js)

venv() {  # venv NAME PIP-ARGS…: $CACHE/venv-NAME with those packages, made once (its marker lists them: a change remakes it)
  local dir=$CACHE/venv-$1; shift
  if [ "$(cat "$dir/.complete" 2>/dev/null)" != "$*" ]; then
    rm -rf "$dir" && mkdir -p "$CACHE"
    "$PY" -m venv --system-site-packages "$dir" >&2
    "$dir/bin/pip" install -q --no-deps --retries 0 --timeout 20 --disable-pip-version-check "$@" >&2
    echo "$*" > "$dir/.complete"
  fi
  echo "$dir"
}

variant() {  # variant NAME: venv, build, tests
  local name=$1 dir t0=$(date +%s)
  case $name in
    torch-2.14.1-cu13) dir=$(venv "$name" torch==2.14.1 "${NV14[@]}" "${PYDEPS[@]}") ;;
    torch-2.13.0-cpu) dir=$(venv "$name" torch==2.13.0 "${PYDEPS[@]}") ;;
    *) echo "ci-torch2: unknown variant '$name' (torch-2.14.1-cu13, torch-2.13.0-cpu)"; exit 2 ;;
  esac
  local t1=$(date +%s)
  local site
  site=$("$dir/bin/python" -c 'import torch, os; print(os.path.dirname(torch.__file__))')
  LIBTORCH=$site node native/build.js "build/$name" --jobs "$(nproc)"
  local t2=$(date +%s)
  CLAN_NATIVE=$PWD/build/$name/clan_native.node node bin/clan.js doctor
  CLAN_NATIVE=$PWD/build/$name/clan_native.node CLAN_PYTHON=$dir/bin/python CLAN_PARITY_LIVE=1 \
    node --test --test-concurrency=1 "${TESTS[@]}" > "build/$name/tests.tap" 2>&1 || { grep -E -A12 '^not ok' "build/$name/tests.tap" | head -80; exit 1; }
  grep -E '^# (tests|pass|fail|skipped)' "build/$name/tests.tap" | tr '\n' ' '; echo
  grep -E '# SKIP' "build/$name/tests.tap" | sed 's/^/  skipped: /' || true
  echo "ci-torch2: $name: venv $((t1 - t0)) s, build $((t2 - t1)) s, tests $(( $(date +%s) - t2 )) s"
}

names=("$@")
[ ${#names[@]} -gt 0 ] || names=(torch-2.14.1-cu13 torch-2.13.0-cpu)
for n in "${names[@]}"; do variant "$n"; done
