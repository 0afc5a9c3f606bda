#!/bin/sh
# Trunk post_build hook (Trunk.toml): makes each worker loader one self-contained script.
#
# Trunk's loader shim for a worker is `importScripts("./NAME.js");wasm_bindgen("./NAME_bg.wasm");`.
# Firefox sends a `Referer` header with a classic worker's importScripts() request even when the
# worker script came with `Referrer-Policy: no-referrer` (its fetch() calls honour the header),
# and no request may carry a Referer (ARCHITECTURE.md). So the loader gets the wasm-bindgen glue
# itself in place of the importScripts() call: the worker then starts from one script and
# imports nothing.
set -eu
cd "${TRUNK_STAGING_DIR:?run by trunk as a post_build hook}"
for loader in *_loader.js; do
  glue="${loader%_loader.js}.js"
  call="importScripts(\"./$glue\");"
  content=$(cat "$loader")
  case "$content" in
    "$call"*) ;;
    *) echo "inline-worker-loaders: $loader does not start with $call" >&2; exit 1 ;;
  esac
  rest=${content#"$call"}
  { cat "$glue"; printf '\n%s\n' "$rest"; } > "$loader.tmp"
  mv "$loader.tmp" "$loader"
done
