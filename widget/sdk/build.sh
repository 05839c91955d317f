#!/usr/bin/env bash
# Regenerates retell-web-client.js (Retell's browser SDK as one ES module), its SHA-256, its
# brotli copy and THIRD_PARTY_LICENSES from the pinned package-lock.json. Needs Node and npm, which only this
# script does: the product's build and CI use the committed files.
#
#   bash widget/sdk/build.sh          # then `git diff --stat widget/sdk` shows nothing
#
# The same lockfile gives byte-identical output: esbuild's bundle is deterministic and the
# licence file is written in sorted order.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here/package.json" "$here/package-lock.json" "$here/entry.js" "$work/"
cd "$work"
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
# esbuild's own binary comes from its npm package (@esbuild/<platform>); --ignore-scripts skips
# only the install check that would re-download it.
node_modules/.bin/esbuild entry.js --bundle --format=esm --minify --target=es2020 \
  --legal-comments=none --charset=utf8 --log-level=warning --metafile=meta.json --outfile=retell-web-client.js
node "$here/licenses.mjs" "$work" meta.json > THIRD_PARTY_LICENSES
# Brotli at quality 11 takes a second of CPU for this file: done once here, not in every build
# (the builder checks that it decompresses to the bundle).
node -e "const z=require('zlib'),f=require('fs');const d=f.readFileSync('retell-web-client.js');
f.writeFileSync('retell-web-client.js.br',z.brotliCompressSync(d,{params:{[z.constants.BROTLI_PARAM_QUALITY]:11,
[z.constants.BROTLI_PARAM_MODE]:z.constants.BROTLI_MODE_TEXT,[z.constants.BROTLI_PARAM_SIZE_HINT]:d.length}}))"
cp retell-web-client.js retell-web-client.js.br THIRD_PARTY_LICENSES "$here/"
cd "$here"
sha256sum retell-web-client.js > retell-web-client.js.sha256
echo "wrote $(wc -c < retell-web-client.js) bytes: $(cut -d' ' -f1 retell-web-client.js.sha256)"
# The day Retell publishes its gateway web client (the one /v3/create-web-call's payload is for),
# the pairing in docs-dev/RETELL.md changes: say so whenever the registry has a newer SDK.
pinned="$(node -p "require('./package.json').dependencies['retell-client-js-sdk']")"
newest="$(npm view retell-client-js-sdk version 2>/dev/null || echo unknown)"
if [ "$newest" != "$pinned" ]; then
  echo "note: npm's newest retell-client-js-sdk is $newest, this bundle pins $pinned: read docs-dev/RETELL.md before moving"
fi
