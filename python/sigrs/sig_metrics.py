"""Distances and scores between distributions of paths, from signature kernels (pysiglib's API).

* :func:`sig_mmd`: the unbiased estimator of the squared maximum mean
  discrepancy between two samples of paths.
* :func:`sig_score`: the (generalised) signature kernel score of a sample
  against each of one or more observed paths.
* :func:`expected_sig_score`: that score averaged over a second sample.

All three are built from :func:`sigrs.sig_kernel_gram`, so they take NumPy
arrays or torch tensors and are differentiable through torch autograd. As
in pysiglib, every leading axis of a sample is a batch axis: a sample
``(*batch, length, dim)`` holds ``prod(batch)`` paths.
"""

from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np

from ._arrays import batch_of_paths, checked, checked_like, is_torch
from ._checks import check_bool, check_real
from ._progress import progress_bar
from .kernel import check_method, gram_pairs, sig_kernel_gram

__all__ = ["sig_mmd", "sig_score", "expected_sig_score"]


def _paths(a: Any, name: str, ref: Any = None, ref_name: str = "") -> Any:
    """``a`` checked (NumPy or torch, float32/float64, at least 2-D) and, when
    ``ref`` is given, of the same kind, dtype, device and dimension as ``ref``."""
    if ref is None:
        a = checked(a, name, 2)
    else:
        a = checked_like(a, name, 2, ref, ref_name)
        if a.shape[-1] != ref.shape[-1]:
            raise ValueError(
                f"{name} and {ref_name} must have the same dimension (last axis), got {a.shape[-1]} and {ref.shape[-1]}"
            )
    if a.shape[-2] == 0:
        # checked here so that the error names this function's argument, not the kernel's
        raise ValueError(f"{name} must have at least one point per path (axis -2), got shape {tuple(a.shape)}")
    return a


def _count(a: Any, name: str, function: str) -> int:
    n = a.shape[0]
    if n < 2:
        raise ValueError(
            f"{function} needs at least 2 paths in {name} (the estimator leaves out the pairs of a path with itself), "
            f"got {n}"
        )
    return n


def _check_lam(lam: Any) -> float:
    return check_real(lam, "lam")


def _solved_as_symmetric(method: Any, dyadic_order: Any, order: Any) -> bool:
    """Whether a sample's Gram with itself solves only its upper triangle (one order for both sides)."""
    (order1, order2), _ = check_method(method, dyadic_order, order)
    return order1 == order2


def _off_diagonal_mean(gram: Any) -> Any:
    """``sum_{i != j} G[i, j] / (n (n - 1))`` of a square Gram matrix (its diagonal has no effect,
    also on gradients).

    The two strict triangles are summed, never the whole matrix less its
    trace: k(x, x) can exceed the off-diagonal entries by many orders of
    magnitude (1e15 against 1e2 for RBF kernels of long paths), and the
    subtraction would cancel away the digits of the result."""
    n = gram.shape[0]
    if is_torch(gram):
        import torch

        return (torch.triu(gram, 1).sum() + torch.tril(gram, -1).sum()) / (n * (n - 1))
    return (np.triu(gram, 1).sum() + np.tril(gram, -1).sum()) / (n * (n - 1))


def sig_mmd(
    sample1: Any,
    sample2: Any,
    *,
    method: str = "finite_difference",
    dyadic_order: Optional[Union[int, tuple]] = None,
    order: Optional[int] = None,
    static_kernel: Any = None,
    time_aug: bool = False,
    lead_lag: bool = False,
    end_time: float = 1.0,
    n_jobs: int = -1,
    max_batch: int = -1,
    progress: bool = False,
) -> Any:
    """The squared signature-kernel MMD between two samples of paths (unbiased estimator).

    With ``x_1..x_m`` from ``sample1``, ``y_1..y_n`` from ``sample2`` and ``k`` the signature kernel::

        MMD^2 = 1/(m(m-1)) sum_{i != j} k(x_i, x_j) - 2/(mn) sum_{i,j} k(x_i, y_j)
                + 1/(n(n-1)) sum_{i != j} k(y_i, y_j)

    Args:
        sample1: ``(*batch_1, length_1, dim)``, ``m = prod(batch_1) >= 2`` paths.
        sample2: ``(*batch_2, length_2, dim)``, ``n = prod(batch_2) >= 2`` paths;
            the same kind (NumPy/torch), dtype and ``dim`` as ``sample1``.
        method: ``"finite_difference"`` or ``"polynomial"``, as in :func:`sigrs.sig_kernel`.
        dyadic_order: required with finite differences; as in :func:`sigrs.sig_kernel`.
        order: required with ``method="polynomial"`` (2 to 64); as in :func:`sigrs.sig_kernel`.
        static_kernel, time_aug, lead_lag, end_time, n_jobs: as in :func:`sigrs.sig_kernel`
            (``n_jobs`` defaults to -1, all cores, as everywhere in sigrs; pysiglib defaults to 1).
        max_batch: as in :func:`sigrs.sig_kernel_gram`.
        progress: one tqdm progress bar over the pairs of the three Gram
            matrices, as in :func:`sigrs.sig_kernel_gram` (sigrs's addition;
            pysiglib has no such argument).

    Returns:
        A 0-d array or tensor (may be slightly negative: the estimator is unbiased,
        not non-negative); differentiable in both samples for torch.

    Example::

        >>> x, y = np.random.rand(20, 50, 3), np.random.rand(15, 50, 3)
        >>> sigrs.sig_mmd(x, y, dyadic_order=1).shape
        ()
    """
    check_method(method, dyadic_order, order)
    sample1 = _paths(sample1, "sample1")
    sample2 = _paths(sample2, "sample2", sample1, "sample1")
    x, y = batch_of_paths(sample1), batch_of_paths(sample2)
    _count(x, "sample1", "sig_mmd")
    _count(y, "sample2", "sig_mmd")
    kw = dict(dyadic_order=dyadic_order, static_kernel=static_kernel, time_aug=time_aug, lead_lag=lead_lag,
              end_time=end_time, n_jobs=n_jobs, max_batch=max_batch, method=method, order=order)
    if check_bool(progress, "progress"):
        sym = _solved_as_symmetric(method, dyadic_order, order)
        with progress_bar(gram_pairs(x, x, sym) + gram_pairs(x, y, False) + gram_pairs(y, y, sym), "sig_mmd"):
            return _mmd(x, y, kw)
    return _mmd(x, y, kw)


def _mmd(x: Any, y: Any, kw: dict) -> Any:
    xx = sig_kernel_gram(x, x, **kw)  # one object twice: only the upper triangle is solved
    xy = sig_kernel_gram(x, y, **kw)
    yy = sig_kernel_gram(y, y, **kw)
    res = _off_diagonal_mean(xx) - 2.0 * xy.mean() + _off_diagonal_mean(yy)
    return res if is_torch(res) else np.asarray(res)


def sig_score(
    sample: Any,
    y: Any,
    *,
    method: str = "finite_difference",
    dyadic_order: Optional[Union[int, tuple]] = None,
    order: Optional[int] = None,
    lam: float = 1.0,
    static_kernel: Any = None,
    time_aug: bool = False,
    lead_lag: bool = False,
    end_time: float = 1.0,
    n_jobs: int = -1,
    max_batch: int = -1,
    progress: bool = False,
) -> Any:
    """The (generalised) signature kernel score of a sample against each path ``y`` (unbiased estimator).

    With ``x_1..x_m`` from ``sample`` and ``k`` the signature kernel, for each ``y``::

        score(y) = lam/(m(m-1)) sum_{i != j} k(x_i, x_j) - 2/m sum_i k(x_i, y)

    (with ``lam = 1``, a proper scoring rule: lower is better).

    Args:
        sample: ``(*batch, length_1, dim)``, ``m = prod(batch) >= 2`` paths.
        y: ``(length_2, dim)`` (one path) or ``(*batch_y, length_2, dim)``; scored
            independently of each other. The same kind, dtype and ``dim`` as ``sample``.
        lam: the weight ``lam`` of the sample's self-similarity term (default 1.0).
        method, dyadic_order, order, static_kernel, time_aug: as in :func:`sig_mmd`.
        lead_lag, end_time, n_jobs, max_batch, progress: as in :func:`sig_mmd`.

    Returns:
        ``batch_y`` scores, or shape ``(1,)`` for a single 2-D ``y`` (as pysiglib);
        differentiable in ``sample`` and ``y`` for torch.

    Example::

        >>> sample, y = np.random.rand(20, 50, 3), np.random.rand(4, 50, 3)
        >>> sigrs.sig_score(sample, y, dyadic_order=1).shape
        (4,)
    """
    return _score(sample, y, ("sample", "y", "sig_score"), dyadic_order, lam, static_kernel, time_aug, lead_lag,
                  end_time, n_jobs, max_batch, method, order, progress)


def _score(sample, y, names, dyadic_order, lam, static_kernel, time_aug, lead_lag, end_time, n_jobs, max_batch,
           method, order, progress):
    """:func:`sig_score`, with the argument and function names its errors use."""
    sample_name, y_name, function = names
    check_method(method, dyadic_order, order)
    lam = _check_lam(lam)
    sample = _paths(sample, sample_name)
    y = _paths(y, y_name, sample, sample_name)
    batch_y = tuple(y.shape[:-2])
    x, y = batch_of_paths(sample), batch_of_paths(y)
    m = _count(x, sample_name, function)
    kw = dict(dyadic_order=dyadic_order, static_kernel=static_kernel, time_aug=time_aug, lead_lag=lead_lag,
              end_time=end_time, n_jobs=n_jobs, max_batch=max_batch, method=method, order=order)
    if check_bool(progress, "progress"):
        with progress_bar(gram_pairs(x, x, _solved_as_symmetric(method, dyadic_order, order)) + gram_pairs(x, y, False), function):
            xx, xy = _score_grams(x, y, kw)
    else:
        xx, xy = _score_grams(x, y, kw)
    res = lam * _off_diagonal_mean(xx) - xy.sum(0) * (2.0 / m)
    if batch_y:
        res = res.reshape(batch_y)
    return res


def _score_grams(x: Any, y: Any, kw: dict) -> tuple:
    xx = sig_kernel_gram(x, x, **kw)  # one object twice: only the upper triangle is solved
    xy = sig_kernel_gram(x, y, **kw)  # (m, n_y)
    return xx, xy


def expected_sig_score(
    sample1: Any,
    sample2: Any,
    *,
    method: str = "finite_difference",
    dyadic_order: Optional[Union[int, tuple]] = None,
    order: Optional[int] = None,
    lam: float = 1.0,
    static_kernel: Any = None,
    time_aug: bool = False,
    lead_lag: bool = False,
    end_time: float = 1.0,
    n_jobs: int = -1,
    max_batch: int = -1,
    progress: bool = False,
) -> Any:
    """The signature kernel score of ``sample1`` averaged over the paths of ``sample2``.

    With ``x_1..x_m`` from ``sample1`` and ``y_1..y_n`` from ``sample2``::

        lam/(m(m-1)) sum_{i != j} k(x_i, x_j) - 2/(mn) sum_{i,j} k(x_i, y_j)

    the mean of :func:`sig_score` ``(sample1, y_j)`` over ``j``.

    Args:
        sample1: ``(*batch_1, length_1, dim)``, ``m >= 2`` paths.
        sample2: ``(*batch_2, length_2, dim)``, ``n >= 1`` paths.
        lam, method, dyadic_order, order, static_kernel, time_aug: as in :func:`sig_score`.
        lead_lag, end_time, n_jobs, max_batch, progress: as in :func:`sig_score`.

    Returns:
        Shape ``(1,)``; differentiable in both samples for torch.

    Example::

        >>> x, y = np.random.rand(20, 50, 3), np.random.rand(15, 50, 3)
        >>> sigrs.expected_sig_score(x, y, dyadic_order=1).shape
        (1,)
    """
    res = _score(sample1, sample2, ("sample1", "sample2", "expected_sig_score"), dyadic_order, lam, static_kernel,
                 time_aug, lead_lag, end_time, n_jobs, max_batch, method, order, progress)
    return res.mean().reshape(1)
