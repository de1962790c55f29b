#!/usr/bin/env bash
# Shared by scripts/demo.sh and scripts/test.sh: makes .venv (once), installs
# what the build and the demo need, and builds sigrs into it (release mode).
# Usage: source scripts/setup-env.sh [--test]   (--test adds the test deps)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
pip install --quiet --upgrade pip
pip install --quiet "maturin>=1.7,<2" numpy torch
if [ "${1:-}" = "--test" ]; then
    pip install --quiet pytest hypothesis setuptools wheel "pysiglib==4.0.0"
    # sigrs.dask and progress=True (tests/test_dask.py skips only without dask)
    pip install --quiet "dask[array]>=2024.1" "distributed>=2024.1" "tqdm>=4.60"
    # sigrs.sklearn and sigrs.sktime (tests/test_sklearn.py skips only without them)
    pip install --quiet "scikit-learn>=1.3" "sktime>=0.30"
    # iisignature's setup.py imports numpy, so it must build against the installed one.
    python -c "import iisignature" 2>/dev/null || pip install --quiet --no-build-isolation iisignature
    # signatory (a test oracle for sigrs.signatory) is frozen on torch 1.9 and
    # builds from source against today's torch (~7 minutes, once; pip caches
    # the wheel). Its tests also check signatory's documented semantics
    # without it, so a failed build is reported, not fatal.
    python -c "import torch, signatory" 2>/dev/null \
        || pip install --quiet --no-build-isolation "signatory==1.2.6.1.9.0" \
        || echo "warning: signatory did not build; tests/test_signatory.py runs without its oracle" >&2
fi
maturin develop --release --quiet
