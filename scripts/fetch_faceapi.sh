#!/usr/bin/env bash
# Fetch the face-api.js weights (npm @vladmandic/face-api@1.7.15, pinned + sha512-checked) into the cache
# ($FACEEDIT_CACHE or ~/.cache/faceedit). Without npm it says so and exits 0: everything else works without them.
#   --node   also install the pinned Node packages that tests/test_faceapi_reference.py runs the original with
#            (into .cache/node, gitignored; pure JavaScript, nothing compiled).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v npm >/dev/null 2>&1; then
  echo "npm not found: skipping the face-api weights (face-api scorers and identity/perceptual distances unavailable)" >&2
  exit 0
fi
.venv/bin/faceedit scorers fetch-faceapi
if [ "${1:-}" = "--node" ]; then
  npm install --prefix .cache/node --no-audit --no-fund --save-exact --loglevel=error \
    @tensorflow/tfjs@4.22.0 @vladmandic/face-api@1.7.15 >/dev/null
  echo "node reference packages in .cache/node" >&2
fi
