#!/usr/bin/env bash
# On a machine with a CUDA GPU, in one run: the CUDA tests, the tests that compare with
# scvi-tools (they need it installed: requirements-dev.txt), and the decode benchmark on the
# CPU and the GPU side by side.
#   bash benchmarks/cuda_checks.sh [OUTDIR]
# OUTDIR receives tests.log, decode.log and decode.json (default: the current folder).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-.}
mkdir -p "$out"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1

"$PY" - <<'EOF'
import torch, scvi, scvi_viz
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, scvi-tools {scvi.__version__}, scvi-viz {scvi_viz.__version__}")
print("GPU:", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none")
EOF

status=0
"$PY" -m pytest -p no:cacheprovider -q -rs tests/test_cuda.py tests/test_core_nn.py tests/test_de.py \
    2>&1 | tee "$out/tests.log" || status=1
"$PY" benchmarks/decode.py --json "$out/decode.json" 2>&1 | tee "$out/decode.log" || status=1
exit $status
