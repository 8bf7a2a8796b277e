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
faceedit edit 0-3 --smiling 3 --age 3 --male 3 --grid --columns 7 -o out/edit_grid.png   # rows: -3 … +3 per attribute
faceedit edit --latent out/faces.npz#5 --smiling 3 --keep male,age --compare -o out/face5_smiling.png
faceedit animate --seed 3 --attr smiling,age,yaw --range -3 3 --frames 16 --pingpong -o out/edit.gif
faceedit stylize out/faces/seed0005.png --style-model starry_night --size 256 -o out/face5_starry_night.png
faceedit stylize out/faces -o out/faces_starry_night --style-model starry_night --size 256
faceedit stylize out/morph.gif --style-model great_wave --size 256 -o out/morph_great_wave.gif
echo "demo outputs in out/:"
ls -1 out
