#!/usr/bin/env bash
# Set up (see setup.sh) and run the main job on the embedded default model; results go to out/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
mkdir -p out
faceedit generate --seeds 0-15 --trunc 0.7 --grid out/faces.png --save-latents out/faces.npz -o out/faces
if faceedit --help | grep -q " morph "; then
  faceedit morph --seeds 3,7,11,3 --frames 16 -o out/morph.gif
fi
echo "demo outputs in out/:"
ls -1 out
