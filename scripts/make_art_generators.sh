#!/usr/bin/env bash
# Remake the shipped adapted generators (src/faceedit/assets/art) from the public-domain portraits in
# ../shared/data/art_portraits, for the current default generator. Run it again whenever the default is replaced
# (the adapted files record the source's sha256 and refuse to run against another one).
#   bash scripts/make_art_generators.sh [ART_DIR] [SECONDS_EACH]
# The three adaptations run side by side (one thread each); each stops after 100 steps or SECONDS_EACH.
set -euo pipefail
cd "$(dirname "$0")/.."
ART="${1:-../shared/data/art_portraits}"
[ -d "$ART" ] || ART=/work/shared/data/art_portraits
BUDGET="${2:-1200}"
PY="${PYTHON:-.venv/bin/python}"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
OUT=src/faceedit/assets/art
mkdir -p "$OUT"
make_one() {  # name, file, title
  local run=".cache/runs/adapt-$1"
  rm -rf "$run"
  "$PY" -m faceedit adapt "$ART/$2" -o "$OUT/$1.safetensors" --run-dir "$run" --iterations 100 \
    --time-budget "${BUDGET}s" --threads 1 --seed 0 --title "$3" \
    --note "public domain worldwide (artist died more than 100 years ago; see art_portraits/SOURCES.md)" \
    --quiet > ".cache/adapt-$1.log" 2>&1
  chmod 644 "$OUT/$1.safetensors"
  echo "$1: $(tail -n 12 ".cache/adapt-$1.log" | tr -d '\n' | tr -s ' ')"
}
mkdir -p .cache
pids=()
make_one mona_lisa mona_lisa.jpg "Mona Lisa, Leonardo da Vinci, c. 1503-1519" & pids+=($!)
make_one van_gogh van_gogh_self_portrait_1889.jpg "Self-Portrait, Vincent van Gogh, 1889" & pids+=($!)
make_one pearl_earring girl_with_a_pearl_earring.jpg "Girl with a Pearl Earring, Johannes Vermeer, c. 1665" & pids+=($!)
fail=0
for p in "${pids[@]}"; do wait "$p" || fail=1; done
exit "$fail"
