"""Shared pytest configuration and fixtures for the sigrs test suite."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

# Make the helper modules in this directory importable regardless of how
# pytest was invoked (rootdir, import mode, ...).
_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from _util import F32_RTOL, F64_RTOL, cuda_available  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "cuda: test needs a CUDA device visible to torch (skipped otherwise)"
    )


def pytest_collection_modifyitems(config, items):
    if cuda_available():
        return
    skip = pytest.mark.skip(reason="torch.cuda is not available")
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)


@pytest.fixture
def rng():
    """A fresh, seeded NumPy generator per test (tests are order independent)."""
    return np.random.default_rng(20240611)


@pytest.fixture(params=[np.float64, np.float32], ids=["f64", "f32"])
def np_dtype(request):
    return request.param


@pytest.fixture
def rtol(np_dtype):
    """Relative (to max |expected|) tolerance for the parametrised dtype."""
    return F64_RTOL if np_dtype == np.float64 else F32_RTOL


@pytest.fixture(params=["numpy", "torch"])
def backend(request):
    if request.param == "torch":
        pytest.importorskip("torch")
    return request.param
