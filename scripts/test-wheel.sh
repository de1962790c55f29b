#!/usr/bin/env bash
# Tests a built sigrs wheel as a user meets it: a fresh virtual environment
# with only numpy, pytest and the wheel, and the tests that need neither
# torch nor the peer libraries (pysiglib, iisignature), run from a directory
# where the source tree's python/ cannot be imported.
# Usage: bash scripts/test-wheel.sh [WHEEL]   (default: the one in dist/)
# Called by scripts/wheel.sh and by .github/workflows/release.yml.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
wheel=${1:-$(ls "$repo"/dist/sigrs-*.whl)}
wheel=$(cd "$(dirname "$wheel")" && pwd)/$(basename "$wheel")
PYTHON=${PYTHON:-$(command -v python3 || command -v python)}

work=$(mktemp -d "${TMPDIR:-/tmp}/sigrs-wheel.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$PYTHON" -m venv "$work/env"
py="$work/env/bin/python"
[ -x "$py" ] || py="$work/env/Scripts/python.exe"   # Windows
"$py" -m pip install --quiet --upgrade pip
"$py" -m pip install --quiet numpy pytest "$wheel"
"$py" -m pip list --format=freeze

cd "$work"   # nothing of the source tree is importable from here
"$py" - <<'EOF'
import os, sys
import sigrs
print("sigrs", sigrs.__version__, "from", sigrs.__file__)
# Installed into this environment, not picked up from the source tree.
prefix = os.path.realpath(sys.prefix)
if os.path.commonpath([os.path.realpath(sigrs.__file__), prefix]) != prefix:
    sys.exit(f"error: sigrs was imported from {sigrs.__file__}, not from {prefix}")
sigrs.show_config()
EOF

# test_wheel_smoke.py covers each family (sig, log_sig, coef, algebra,
# kernels, streams) against tests/reference.py. On Linux the NumPy suites
# whose every test runs without torch come too (some need fork, /proc or
# resource limits). Two error tests build torch devices: left out.
t=$repo/tests
files=("$t/test_wheel_smoke.py" "$t/test_errors.py")
if [ "$(uname -s)" = Linux ]; then
    files+=("$t/test_signature.py" "$t/test_words.py" "$t/test_quick_paths.py"
            "$t/test_kernel_compile.py" "$t/test_robustness_kernel.py")
fi
"$py" -m pytest -q -p no:cacheprovider --rootdir "$repo" "${files[@]}" \
    --deselect "tests/test_errors.py::test_cuda_device_check_explains_why_cuda_cannot_run" \
    --deselect "tests/test_errors.py::test_other_devices_are_a_value_error"
