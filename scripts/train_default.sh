#!/usr/bin/env bash
# Start or continue the default generator's training, at low priority, the way every session does:
#   - builds the aligned training set first if it is missing (.cache/data128: CelebAMask-HQ + CelebA, re-aligned
#     with the project's FFHQ alignment; UTKFace is left out: its crop is too tight, ~59 % of each square padding);
#   - continues runs/default64 from its full checkpoint when the folder exists (same machine), else from the
#     committed resumable state training/default64.state.safetensors (a new machine: fp16 G, G_ema, D, step,
#     images seen and augmentation state; Adam restarts with a short learning-rate warm-up);
#   - keeps an fp16 G_ema snapshot every 8 kimg (benchmarks/gan_quality.py measures them).
# At the end of a session in which the run advanced >= 40 kimg, commit its state:
#   .venv/bin/faceedit train save-state runs/default64 -o training/default64.state.safetensors && git add training
#
# Usage: bash scripts/train_default.sh [TIME_BUDGET] [THREADS]      (default 12h, 2 threads; stop it with kill -TERM)
#   It uses up to THREADS threads and fewer while other processes keep cores busy (--adapt-threads, checked every
#   30 s): 2 threads train ~2x faster than 1 on an idle 2-core machine, but ~5x slower than 1 while tests run.
#   env: RUN (runs/default64), STATE (training/default64.state.safetensors), DATA (.cache/data128),
#   COMPILE (0; 1 adds --compile, which gave no gain on the 2-core VM: benchmarks/README.md, GAN training speed)
set -euo pipefail
cd "$(dirname "$0")/.."
BUDGET=${1:-12h}
THREADS=${2:-2}
RUN=${RUN:-runs/default64}
STATE=${STATE:-training/default64.state.safetensors}
DATA=${DATA:-.cache/data128}
COMPILE=${COMPILE:-0}
F=.venv/bin/faceedit
[ -x "$F" ] || bash scripts/setup.sh
if [ ! -f "$DATA/manifest.jsonl" ]; then
  nice -n 10 "$F" data build --src ../shared/data --out "$DATA" --size 128 --workers 2 \
    --sources celebamask-hq,celeba,celeba-89x109 --val-fraction 0.03 --quiet
fi
args=(train gan --data "$DATA" --run-dir "$RUN" --threads "$THREADS" --adapt-threads --snapshot-kimg 8 --time-budget "$BUDGET"
      --sample-minutes 20 --no-progress)
[ "$COMPILE" = 1 ] && args+=(--compile)
if [ ! -f "$RUN/checkpoint.pt" ]; then
  if [ -f "$STATE" ]; then
    args+=(--resume-from "$STATE")
  else
    echo "error: neither $RUN/checkpoint.pt nor $STATE exists; start a new run with faceedit train gan" >&2
    exit 2
  fi
fi
mkdir -p "$(dirname "$RUN")"
exec nice -n 19 "$F" "${args[@]}"
