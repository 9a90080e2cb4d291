#!/usr/bin/env bash
# Whole set-up on a fresh Debian 12 machine (Node >= 20 with npm already installed):
# system packages, npm ci (builds the libtorch addon), TypeScript build, and `clan` on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/setup.sh
# onnxruntime-node's install script would fetch its CUDA provider from nuget.org (unreachable offline, and the
# CPU runtime inside the npm package is all `clan predict --engine onnx` needs). npm >= 11.16 skips it because
# package.json's allowScripts denies it; older npm (Node 20 ships npm 10) ignores that field, and this skips it there.
export ONNXRUNTIME_NODE_INSTALL="${ONNXRUNTIME_NODE_INSTALL:-skip}"
npm ci
npm run build
npm link >/dev/null 2>&1 || npm link
echo "clan is on PATH: $(command -v clan)"
