#!/usr/bin/env bash
# Install everything the tests need, then run them (the README's test command; .ci/run calls it).
#   bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

# torch first: keep one that is installed (a CUDA build, say); otherwise 2.13.0, which here
# resolves to the CPU wheel already on the machine.
"$PY" -c "import torch" 2>/dev/null || "$PY" -m pip install -q torch==2.13.0
"$PY" -m pip install -q -r requirements-test.txt
# The package itself, installed as a user installs it (not editable; hatchling, from
# requirements-test.txt, writes nothing into this folder). The tests import this tree (pytest's
# pythonpath); tests/browser/test_installed.py checks the installed copy from another folder, and
# builds a wheel of its own into a temporary folder, lists it and runs it in a fresh venv.
"$PY" -m pip install -q --no-build-isolation .
export SCVI_VIZ_EXPECT_INSTALLED=1

# Browser tests drive Debian's Chromium through playwright (never `playwright install`).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "Chromium is missing: run 'sudo apt-get install chromium' (browser tests will be skipped)." >&2
  fi
fi

exec "$PY" -m pytest -p no:cacheprovider "$@"
