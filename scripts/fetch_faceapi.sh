#!/usr/bin/env bash
# Fetch the face-api.js weights (npm @vladmandic/face-api@1.7.15, pinned + sha512-checked) into the cache
# ($FACEEDIT_CACHE or ~/.cache/faceedit). Without npm, or when the fetch fails, it warns and exits 0: everything
# else works without them, and the tests that need them skip with the reason.
#   --node    also install the pinned Node packages tests/test_faceapi_reference.py runs the original with
#             (into .cache/node, gitignored; pure JavaScript, nothing compiled)
#   --strict  exit non-zero when npm is missing or a step fails (CI)
set -uo pipefail
cd "$(dirname "$0")/.."
node_pkgs=0; strict=0
for arg in "$@"; do
  case "$arg" in
    --node) node_pkgs=1 ;;
    --strict) strict=1 ;;
    *) echo "usage: scripts/fetch_faceapi.sh [--node] [--strict]" >&2; exit 2 ;;
  esac
done
fail() { echo "warning: $1" >&2; [ "$strict" = 1 ] && exit 1; exit 0; }
command -v npm >/dev/null 2>&1 || fail "npm not found: face-api weights not fetched (face-api scorers, identity and perceptual distances unavailable)"
.venv/bin/faceedit scorers fetch-faceapi || fail "face-api weights not fetched (see the error above)"
if [ "$node_pkgs" = 1 ]; then
  npm install --prefix .cache/node --no-audit --no-fund --save-exact --loglevel=error \
    @tensorflow/tfjs@4.22.0 @vladmandic/face-api@1.7.15 >/dev/null \
    || fail "node reference packages not installed in .cache/node"
  echo "node reference packages in .cache/node" >&2
fi
exit 0
