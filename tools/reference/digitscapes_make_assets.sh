#!/usr/bin/env bash
# Rebuilds assets/photos/ (the real-photo backgrounds of the `digitscapes` target domain) from Debian's
# python3-skimage package. Needs apt (Debian 12: python3-skimage 0.19.3-8) and node with the repo's
# node_modules (fast-png, jpeg-js). Licences of each image: assets/photos/LICENSES.md.
#   bash tools/reference/digitscapes_make_assets.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download python3-skimage=0.19.3-8 && dpkg-deb -x python3-skimage_0.19.3-8_all.deb x)
mkdir -p assets/photos
node tools/reference/digitscapes_make_assets.mjs "$work/x/usr/lib/python3/dist-packages/skimage/data" assets/photos
(cd assets/photos && sha256sum -c SHA256SUMS)
