"""``progress=True`` of the in-memory Gram matrices, their gradient and the metrics built on them.

The bar (tqdm, on stderr) counts the pairs solved and changes no number;
without tqdm, asking for a bar is an ImportError that names it.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

import sigrs

import torch  # noqa: E402  (a test dependency: missing it is an error, not a skip)


def paths(rng, shape, scale=0.3):
    return rng.normal(size=shape) * scale



def test_in_memory_progress_bars_count_the_pairs_and_change_nothing(rng, capsys):
    x, y = paths(rng, (30, 5, 2)), paths(rng, (20, 5, 2))
    derivs = rng.normal(size=(30, 20))
    kw = dict(dyadic_order=1, max_batch=7)
    cases = [
        ("sig_kernel_gram", lambda **p: sigrs.sig_kernel_gram(x, x, **kw, **p), 30 * 31 // 2),
        ("sig_kernel_gram_backprop", lambda **p: sigrs.sig_kernel_gram_backprop(derivs, x, y, right_deriv=True, **kw, **p)[1],
         30 * 20),
        ("sig_mmd", lambda **p: sigrs.sig_mmd(x, y, **kw, **p), 30 * 31 // 2 + 30 * 20 + 20 * 21 // 2),
        ("sig_score", lambda **p: sigrs.sig_score(x, y, **kw, **p), 30 * 31 // 2 + 30 * 20),
        ("expected_sig_score", lambda **p: sigrs.expected_sig_score(x, y, **kw, **p), 30 * 31 // 2 + 30 * 20),
    ]
    for name, call, pairs in cases:
        quiet = call()
        assert capsys.readouterr().err == ""
        shown = call(progress=True)
        np.testing.assert_array_equal(shown, quiet)
        err = capsys.readouterr().err
        assert f"{name}: 100%" in err and f"{pairs}/{pairs}" in err, (name, err[-300:])


def test_progress_bar_on_torch_tensors_keeps_autograd(rng, capsys):
    x = torch.tensor(paths(rng, (12, 5, 2)), requires_grad=True)
    sigrs.sig_kernel_gram(x, x, dyadic_order=1, max_batch=4, progress=True).sum().backward()
    assert "sig_kernel_gram: 100%" in capsys.readouterr().err
    quiet = torch.tensor(x.detach().numpy(), requires_grad=True)
    sigrs.sig_kernel_gram(quiet, quiet, dyadic_order=1, max_batch=4).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), quiet.grad.numpy())


def test_progress_without_tqdm_is_an_import_error_naming_it(rng, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    x = paths(rng, (4, 3, 2))
    with pytest.raises(ImportError, match="pip install tqdm"):
        sigrs.sig_kernel_gram(x, x, dyadic_order=0, progress=True)
    sigrs.sig_kernel_gram(x, x, dyadic_order=0)  # without a bar, no tqdm needed
    with pytest.raises(TypeError, match="progress must be a bool"):
        sigrs.sig_mmd(x, x + 1, dyadic_order=0, progress="yes")
