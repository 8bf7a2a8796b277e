#!/usr/bin/env bash
# Set up (see setup.sh) and run the main job on the embedded default model; results go to out/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
mkdir -p out
faceedit generate --seeds 0-15 --trunc 0.7 --grid out/faces.png --save-latents out/faces.npz -o out/faces
faceedit mix --rows 0-3 --cols 4-7 --layers coarse -o out/mixing_grid.png
faceedit morph 3 7 --frames 24 --bounce -o out/morph.gif
echo "demo outputs in out/:"
ls -1 out
