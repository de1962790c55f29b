#!/usr/bin/env bash
# Builds the documentation site into docs/_build/html, offline, with every
# warning an error (-W) and every cross-reference checked (-n). Runs the
# gallery (docs/examples/plot_*.py, about a minute on 2 cores).
# Usage: bash scripts/docs.sh [extra sphinx-build arguments]
# Needs the project venv with sigrs built (scripts/setup-env.sh does both);
# installs the documentation tools into it when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import sigrs._native" 2>/dev/null; then
    # shellcheck disable=SC1091
    source scripts/setup-env.sh
fi
# shellcheck disable=SC1091
. .venv/bin/activate
python -c "import sphinx, pydata_sphinx_theme, sphinx_gallery, matplotlib, torch, dask, sklearn, sktime" 2>/dev/null \
    || pip install --quiet "sphinx>=7" pydata-sphinx-theme "sphinx-gallery>=0.17" matplotlib \
        torch scikit-learn sktime "dask[array]>=2024.1" "distributed>=2024.1"
# A stale gallery or API stub would hide a page that no longer builds.
rm -rf docs/_build docs/auto_examples docs/api/generated docs/sg_execution_times.rst
sphinx-build -W -n --keep-going -b html docs docs/_build/html "$@"
echo "docs: open docs/_build/html/index.html"
