#!/usr/bin/env bash
# One command of a GPU window: continue (or start) the StyleGAN2 training on the GPU for a few minutes, then
# leave fp16 weights (G_ema, G, D + card), the run log and a sample grid under $OUT for the next command.
#
# Each call ends well inside the 9-10 minute limit with a checkpoint; calls chain:
#   1st call:  INIT=<CPU model .safetensors> scripts/gpu_train.sh      (grown from the CPU model, else fresh)
#   next call: scripts/gpu_train.sh                                    (same machine still warm: full state
#              from $RUN_DIR/checkpoint.pt)
#              PREV=<last call's $OUT/gpu128.safetensors> scripts/gpu_train.sh   (fresh machine: from the fp16
#              weights, fresh optimiser state; kimg / GPU-minute totals carry on)
#
# Settings (environment): DATA (pack, <= 40 MiB; default .cache/pack128.zip), RES (128), BATCH (64),
# RUN_DIR (runs/gpu128), OUT (default $OUT or out/gpu), TRAIN_SECONDS (training time, default 450),
# HARD_LIMIT (seconds before the trainer is sent SIGTERM, default 520: it checkpoints and stops),
# CHANNEL_BASE / CHANNEL_MAX / Z_DIM / W_DIM / MAPPING (architecture of a fresh run; default = the CPU model's so
# that INIT can grow it), PYTHON. Extra arguments go to `faceedit train gan` (e.g. --device cpu for a dry run).
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=${DATA:-.cache/pack128.zip}
RES=${RES:-128}
BATCH=${BATCH:-64}
RUN_DIR=${RUN_DIR:-runs/gpu$RES}
OUT=${OUT:-out/gpu}
TRAIN_SECONDS=${TRAIN_SECONDS:-450}
HARD_LIMIT=${HARD_LIMIT:-520}
CHANNEL_BASE=${CHANNEL_BASE:-2048}
CHANNEL_MAX=${CHANNEL_MAX:-128}
Z_DIM=${Z_DIM:-256}
W_DIM=${W_DIM:-256}
MAPPING=${MAPPING:-2}
PREV=${PREV:-}
INIT=${INIT:-}

if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT" "$RUN_DIR"

if [ ! -e "$DATA" ]; then
    echo "gpu_train: data pack not found: $DATA" >&2
    exit 2
fi

args=(train gan --data "$DATA" --res "$RES" --batch "$BATCH" --run-dir "$RUN_DIR"
      --channel-base "$CHANNEL_BASE" --channel-max "$CHANNEL_MAX" --z-dim "$Z_DIM" --w-dim "$W_DIM"
      --mapping-layers "$MAPPING" --time-budget "$TRAIN_SECONDS" --checkpoint-minutes 3 --sample-minutes 4
      --log-seconds 20 --no-progress)
if [ -f "$RUN_DIR/checkpoint.pt" ]; then
    echo "gpu_train: resuming full state from $RUN_DIR/checkpoint.pt" >&2
elif [ -n "$PREV" ] && [ -f "$PREV" ]; then
    echo "gpu_train: resuming from weights $PREV (fresh optimiser state)" >&2
    args+=(--resume-from "$PREV")
elif [ -n "$INIT" ] && [ -f "$INIT" ]; then
    echo "gpu_train: new run grown from $INIT" >&2
    args+=(--init-from "$INIT")
else
    echo "gpu_train: new run from scratch" >&2
fi

# SIGTERM at HARD_LIMIT: the trainer writes its checkpoint and stops; KILL 30 s later if it hangs.
status=0
timeout --signal=TERM --kill-after=30 "$HARD_LIMIT" "$PYTHON" -m faceedit "${args[@]}" "$@" || status=$?
if [ "$status" -ne 0 ] && [ "$status" -ne 124 ]; then
    echo "gpu_train: training exited with status $status" >&2
fi
if [ -f "$RUN_DIR/checkpoint.pt" ]; then
    "$PYTHON" -m faceedit train export "$RUN_DIR" -o "$OUT/gpu$RES.safetensors" > /dev/null
    cp "$RUN_DIR/log.jsonl" "$OUT/log.jsonl"
    [ -f "$RUN_DIR/samples/latest.png" ] && cp "$RUN_DIR/samples/latest.png" "$OUT/samples.png"
    echo "gpu_train: wrote $OUT/gpu$RES.safetensors" >&2
fi
exit "$status"
