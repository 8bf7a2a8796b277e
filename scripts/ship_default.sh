#!/usr/bin/env bash
# Ship a new embedded default generator from a training run, with everything tied to it, in one command:
#   1. realism of the run (VGG16 precision/recall + identity diversity, 5,000 vs 5,000; face-api FD/KID) → its card
#   2. export G_ema + G + D (fp16) as src/faceedit/assets/default_generator.safetensors (+ .json card)
#   3. the README's sample grids (docs/default_samples.png at ψ 0.7, docs/default_samples_psi1.png at ψ 1)
#   4. refit the shipped attribute directions (scripts/fit_default_directions.sh: report, edit grid and GIF)
#   5. train + export the photo encoder for it (src/faceedit/assets/encoder.safetensors)
#   6. re-measure inversion (benchmarks/inversion.py) and photo-edit paste-back (benchmarks/paste_detail.py)
#   7. commit the run's resumable state (training/default64.state.safetensors)
#   8. remake the shipped art generators (scripts/make_art_generators.sh: they are bound to the default's sha256)
#   9. remake the web page's example photos (scripts/make_example_photos.py: faces of the default)
#  10. where recall is lost, the committed (previous) default against the new one (benchmarks/coverage.py, n = 3,000:
#      recall per CelebA attribute group, attribute frequencies, docs/coverage_missed.jpg)
# Figures go to out/ship/ (JSON + logs); copy the tables into README.md / benchmarks/README.md.
#
# Usage: bash scripts/ship_default.sh RUN_DIR [THREADS]
#   env: SAMPLES (direction samples, 50000), ENCODER_BUDGET (2h), N_REAL (5000), SKIP (steps to skip, e.g. "5 6")
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:?usage: bash scripts/ship_default.sh RUN_DIR [THREADS]}
THREADS=${2:-1}
SAMPLES=${SAMPLES:-50000}
ENCODER_BUDGET=${ENCODER_BUDGET:-2h}
N_REAL=${N_REAL:-5000}
SKIP=" ${SKIP:-} "
F=.venv/bin/faceedit
PY=.venv/bin/python
OUT=out/ship
ASSETS=src/faceedit/assets
mkdir -p "$OUT" training
[ -f "$RUN/checkpoint.pt" ] || { echo "error: no checkpoint.pt in $RUN" >&2; exit 2; }
step() { case "$SKIP" in *" $1 "*) echo "== skip step $1: $2" >&2; return 1 ;; *) echo "== step $1: $2" >&2; return 0 ;; esac; }

if step 1 "realism"; then
  $F eval realism --model "$RUN" --real .cache/data128 --n "$N_REAL" --features vgg16 --json "$OUT/realism_vgg16.json" \
    | tee "$OUT/realism_vgg16.txt"
  $F eval realism --model "$RUN" --real .cache/data128 --n 1000 --features faceapi --json "$OUT/realism_faceapi.json" \
    | tee "$OUT/realism_faceapi.txt"
fi
if step 2 "export"; then
  $F train export "$RUN" -o "$ASSETS/default_generator.safetensors" > "$OUT/card.json"
fi
if step 3 "sample grids"; then
  $F generate --seeds 0-15 --trunc 0.7 --grid docs/default_samples.png
  $F generate --seeds 0-63 --trunc 1.0 --grid docs/default_samples_psi1.png
  $F eval faces --seeds 0-63 --trunc 0.7 --json "$OUT/faces.json"
fi
if step 4 "directions"; then
  bash scripts/fit_default_directions.sh "$SAMPLES" "$THREADS"
fi
if step 5 "encoder"; then
  rm -rf runs/encoder_ship
  $F train encoder --run-dir runs/encoder_ship --data .cache/data128 --model default --time-budget "$ENCODER_BUDGET" \
    --threads "$THREADS"
  $F train export-encoder runs/encoder_ship -o "$ASSETS/encoder.safetensors"
fi
if step 6 "inversion and paste-back figures"; then
  $PY benchmarks/inversion.py --n 16 --threads "$THREADS" --hybrid-steps 100,300 --pivotal-steps 60 \
    --json "$OUT/inversion.json" | tee "$OUT/inversion.txt"
  $PY benchmarks/paste_detail.py --n 12 --threads "$THREADS" --png docs/paste_detail.jpg | tee "$OUT/paste.txt"
fi
if step 7 "resumable training state"; then
  $F train save-state "$RUN" -o training/default64.state.safetensors
fi
if step 8 "art generators"; then
  PYTHON="$PY" bash scripts/make_art_generators.sh
fi
if step 9 "web example photos"; then
  PYTHONPATH=src $PY scripts/make_example_photos.py
fi
if step 10 "coverage by kind of face"; then
  git show HEAD:"$ASSETS/default_generator.safetensors" > "$OUT/previous_default.safetensors"
  $PY benchmarks/coverage.py --models "$OUT/previous_default.safetensors" "$ASSETS/default_generator.safetensors" \
    --real .cache/data128 --n 3000 --threads "$THREADS" --png docs/coverage_missed.jpg --json "$OUT/coverage.json" \
    | tee "$OUT/coverage.txt"
fi
echo "shipped $RUN: card $OUT/card.json; figures in $OUT/" >&2
