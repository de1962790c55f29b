#!/usr/bin/env bash
# Builds sigrs and runs the demo: signatures and their gradients on built-in data.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-env.sh
python examples/demo.py
