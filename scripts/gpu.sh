#!/usr/bin/env bash
# The GPU checks, for a machine with a GPU but no Rust (DESIGN.md, "Testing
# on a GPU"), in two steps:
#   bash scripts/gpu.sh build   here, where Rust is: the abi3 wheel and the
#                               peers' wheels (pysiglib, pysiglib-cuda) into .gpu/
#   bash scripts/gpu.sh check   there, from the repository root with .gpu/
#                               beside it: installs the wheels into /tmp/site,
#                               runs the GPU tests, the CUDA benchmark and
#                               the block-size sweep (benches/cuda_tune.py);
#                               logs go to $OUT (or .gpu/out)
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
build)
    source scripts/setup-env.sh
    rm -rf .gpu && mkdir -p .gpu
    maturin build --release --quiet -o .gpu/
    # The GPU machine runs CPython 3.12; pysiglib-cuda is pysiglib's GPU plugin.
    pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .gpu "pysiglib==4.0.0" "pysiglib-cuda==4.0.0"
    ls -la .gpu
    ;;
check)
    out=${OUT:-.gpu/out}
    mkdir -p "$out"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/*.whl
    export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt" || true
    python3 -c "import sigrs; sigrs.show_config()" 2>&1 | tee -a "$out/gpu.txt"
    # The GPU tests, the NVRTC compile tests and the CUDA test of the static kernels.
    set +e
    python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/test_cuda_build.py \
        "tests/test_static_kernels.py::test_cuda_tensors_match_cpu" 2>&1 | tee "$out/pytest.txt"
    tests=${PIPESTATUS[0]}
    python3 benches/compare.py --device cuda --repeat "${REPEAT:-5}" --json "$out/bench.json" 2>&1 | tee "$out/bench.txt"
    bench=${PIPESTATUS[0]}
    # Threads per block of the signature kernels, for tuning `threads_for`.
    python3 benches/cuda_tune.py --repeat "${REPEAT:-5}" 2>&1 | tee "$out/tune.txt"
    set -e
    echo "pytest exit $tests, benchmark exit $bench"
    [ "$tests" = 0 ] && [ "$bench" = 0 ]
    ;;
*)
    echo "usage: bash scripts/gpu.sh build|check" >&2
    exit 2
    ;;
esac
