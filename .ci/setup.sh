#!/usr/bin/env bash
# System packages the project needs (idempotent). Debian 12; on Ubuntu 24.04 the same package names exist.
#   libtorch-dev        libtorch (headers + libs) for the addon
#   libgloo-dev         gloo headers: data-parallel training through c10d (ProcessGroupGloo)
#   libopenblas0-openmp fast BLAS: without it Debian's libtorch uses the reference BLAS (8x slower ResNet steps)
#   python3-torch       PyTorch for the benchmarks' comparisons (tests never need it)
#   python3-pil         Pillow, for tools/reference scripts only
#   python3-venv        venvs for CI's PyTorch 2.x builds (scripts/ci-torch2.sh)
#   chromium            headless browser for the report test
set -euo pipefail
PKGS=(libtorch-dev libgloo-dev libopenblas0-openmp python3-torch python3-pil python3-venv chromium g++ make python3 xz-utils)
missing=()
for p in "${PKGS[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
