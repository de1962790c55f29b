#!/usr/bin/env bash
# Builds sigrs and runs every test: the Rust unit and doc tests, then pytest
# (against tests/reference.py, iisignature and pysiglib).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release -p sig-core -p sig-cuda
# sig-core's docs as docs.rs would build them: a broken link fails here.
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p sig-core -q
source scripts/setup-env.sh --test
python -m pytest tests -q "$@"
