#!/usr/bin/env bash
# One short command for a session that has a CUDA GPU (#24): the GPU-marked tests, the generation benchmark at
# 1024 px (fp32 / bf16 / NVIDIA's fp16 recipe) and the 1024-px direction-fitting throughput, with the figures
# written under $OUT (default out/gpu_check) for benchmarks/README.md. About 3-4 minutes on one H100.
#
#   bash scripts/gpu_check.sh            # on the GPU machine (e.g. through the device tool)
#   PYTHON=.venv/bin/python bash scripts/gpu_check.sh
#
# Without CUDA it stops at once with a one-line error (the gpu tests would all be skipped).
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
OUT=${OUT:-out/gpu_check}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"

if ! "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "error: no CUDA GPU is visible to PyTorch ($PYTHON) here; run this on the GPU machine" >&2
    exit 2
fi
"$PYTHON" -c "import torch; print('GPU:', torch.cuda.get_device_name(0), '| torch', torch.__version__)" \
    | tee "$OUT/device.txt"
status=0
echo "== GPU-marked tests"
"$PYTHON" -m pytest -q -p no:cacheprovider -m gpu tests 2>&1 | tee "$OUT/tests.txt" | tail -5
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
echo "== generation benchmark (1024 px)"
timeout 240 "$PYTHON" benchmarks/generate.py --device cuda --res 256 1024 --batch 1 16 --repeats 3 \
    --variants bf16 fp16 2>&1 | tee "$OUT/generate.txt" || status=1
echo "== direction fitting throughput (1024 px)"
timeout 180 "$PYTHON" benchmarks/directions.py --big --device cuda --samples 256 --batch 32 2>&1 \
    | tee "$OUT/directions.txt" || status=1
exit $status
