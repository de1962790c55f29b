#!/usr/bin/env bash
# Builds the wheel that installs on any Linux with glibc >= 2.17 and checks it
# the way a user would meet it (run by hand; CI does not build wheels):
#   1. the abi3 wheel (CPython >= 3.9), linked by zig against glibc 2.17 so it
#      carries the manylinux2014 tag (a plain local build links against this
#      machine's newer glibc, and older machines refuse the wheel), into dist/;
#   2. auditwheel confirms that no symbol needs more than manylinux_2_17;
#   3. scripts/test-wheel.sh installs it into a fresh virtual environment with
#      only numpy and pytest, and runs the tests that need neither torch nor
#      the peer libraries there.
# Usage: bash scripts/wheel.sh          (PYTHON=python3.X picks the interpreter)
# The build tools (maturin, ziglang, auditwheel) live in target/wheel-tools.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
PYTHON=${PYTHON:-python3}
arch=$(uname -m)

tools=target/wheel-tools
if [ ! -x "$tools/bin/python" ]; then
    "$PYTHON" -m venv "$tools"
fi
"$tools/bin/pip" install --quiet --upgrade pip
"$tools/bin/pip" install --quiet "maturin>=1.7,<2" "ziglang>=0.13,<0.18" "auditwheel>=6"
# maturin finds zig through the `python -m ziglang` of the python on PATH.
export PATH="$repo/$tools/bin:$PATH"
echo "== tools: $(maturin --version), ziglang $(python -c 'import importlib.metadata as m; print(m.version("ziglang"))'), auditwheel $(python -c 'import importlib.metadata as m; print(m.version("auditwheel"))')"

echo "== build"
rm -f dist/sigrs-*.whl
# Default features throughout: sig-cuda loads the CUDA driver and NVRTC at run
# time (cudarc's dynamic loading), so the wheel links no CUDA library.
maturin build --release --zig --compatibility manylinux2014 -o dist/
wheel=$(ls dist/sigrs-*.whl)
echo "== wheel: $wheel ($(du -h "$wheel" | cut -f1))"

echo "== auditwheel show"
report=$(auditwheel show "$wheel")
echo "$report"
# auditwheel wraps its lines; join them before looking for the tag.
if ! tr '\n' ' ' <<<"$report" | grep -q "consistent with the following platform tag: \"manylinux_2_17_$arch\""; then
    echo "error: $wheel is not manylinux_2_17_$arch (manylinux2014) compatible" >&2
    exit 1
fi

echo "== fresh venv with numpy only"
PYTHON=$PYTHON bash scripts/test-wheel.sh "$wheel"
echo "== ok: $wheel"
