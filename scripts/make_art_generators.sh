#!/usr/bin/env bash
# Remake the shipped adapted generators (src/faceedit/assets/art) from the public-domain portraits in
# ../shared/data/art_portraits, for the current default generator. Run it again whenever the default is replaced
# (the adapted files record the source's sha256 and refuse to run against another one).
#   bash scripts/make_art_generators.sh [ART_DIR] [SECONDS_EACH]
set -euo pipefail
cd "$(dirname "$0")/.."
ART="${1:-../shared/data/art_portraits}"
[ -d "$ART" ] || ART=/work/shared/data/art_portraits
BUDGET="${2:-360}"
PY="${PYTHON:-python}"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
OUT=src/faceedit/assets/art
mkdir -p "$OUT"
make_one() {  # name, file, title
  local run=".cache/runs/adapt-$1"
  rm -rf "$run"
  "$PY" -m faceedit adapt "$ART/$2" -o "$OUT/$1.safetensors" --run-dir "$run" --iterations 200 \
    --time-budget "${BUDGET}s" --threads 1 --seed 0 --title "$3" \
    --note "public domain worldwide (artist died more than 100 years ago; see art_portraits/SOURCES.md)"
}
make_one mona_lisa mona_lisa.jpg "Mona Lisa, Leonardo da Vinci, c. 1503-1519"
make_one van_gogh van_gogh_self_portrait_1889.jpg "Self-Portrait, Vincent van Gogh, 1889"
make_one pearl_earring girl_with_a_pearl_earring.jpg "Girl with a Pearl Earring, Johannes Vermeer, c. 1665"
