"""Slow, obviously-correct reference implementations used as test oracles.

Everything here is written directly from the definitions and is independent
of ``sigrs``.  The tensor-algebra routines only use ``reshape``, broadcasting
``*``, ``+`` and scalar division, so they work unchanged on NumPy arrays and
on torch tensors (which gives us an autograd-able reference for free).

Conventions
-----------
* A truncated tensor of degree ``N`` over ``R^d`` is a list ``[T0, T1, ..., TN]``
  where ``Tk`` has shape ``(d,) * k`` (``T0`` is a 0-d array / tensor).
* Flattened layout (pysiglib / iisignature): levels 1..N concatenated, each
  level in C order, i.e. word ``(i1, ..., ik)`` sits at
  ``d + d**2 + ... + d**(k-1) + sum_j i_j d**(k-j)``.  With ``scalar_term``
  the level-0 term is prepended.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

try:  # torch is optional for the reference itself
    import torch
except ImportError:  # pragma: no cover
    torch = None


# ---------------------------------------------------------------------------
# backend helpers (numpy / torch)
# ---------------------------------------------------------------------------

def _is_torch(x) -> bool:
    return torch is not None and isinstance(x, torch.Tensor)


def _zeros(like, shape):
    if _is_torch(like):
        return torch.zeros(shape, dtype=like.dtype, device=like.device)
    return np.zeros(shape, dtype=like.dtype)


def _ones(like, shape):
    if _is_torch(like):
        return torch.ones(shape, dtype=like.dtype, device=like.device)
    return np.ones(shape, dtype=like.dtype)


def _concat(parts, axis):
    if _is_torch(parts[0]):
        return torch.cat(parts, dim=axis)
    return np.concatenate(parts, axis=axis)


def _stack(parts, axis):
    if _is_torch(parts[0]):
        return torch.stack(parts, dim=axis)
    return np.stack(parts, axis=axis)


# ---------------------------------------------------------------------------
# sizes and words
# ---------------------------------------------------------------------------

def aug_dimension(dimension: int, time_aug: bool = False, lead_lag: bool = False) -> int:
    """Dimension of the path after the optional transforms."""
    return (2 * dimension if lead_lag else dimension) + (1 if time_aug else 0)


def aug_length(length: int, lead_lag: bool = False) -> int:
    """Length of the path after the optional lead-lag transform."""
    return 2 * length - 1 if (lead_lag and length > 0) else length


def sig_length(dimension: int, degree: int, *, time_aug=False, lead_lag=False,
               scalar_term=False) -> int:
    """Number of coefficients of a flattened truncated signature."""
    d = aug_dimension(dimension, time_aug, lead_lag)
    n = sum(d ** k for k in range(1, degree + 1))
    return n + (1 if scalar_term else 0)


def level_offset(dimension: int, level: int, scalar_term: bool = False) -> int:
    """Index of the first word of ``level`` in the flattened layout."""
    off = sum(dimension ** k for k in range(1, level))
    if scalar_term:
        off += 1
    return off


def all_words(alphabet_size: int, max_length: int):
    """All words of length 0..max_length, in signature layout order."""
    out = [()]
    for k in range(1, max_length + 1):
        out.extend(itertools.product(range(alphabet_size), repeat=k))
    return out


def word_index(word, dimension: int, scalar_term: bool = False) -> int:
    """Flattened index of ``word`` computed from the layout formula."""
    k = len(word)
    if k == 0:
        if not scalar_term:
            raise ValueError("the empty word has no index without the scalar term")
        return 0
    idx = level_offset(dimension, k, scalar_term)
    for j, letter in enumerate(word, start=1):
        idx += letter * dimension ** (k - j)
    return idx


# ---------------------------------------------------------------------------
# truncated tensor algebra
# ---------------------------------------------------------------------------

def outer(a, b):
    """Tensor (outer) product of two homogeneous tensors of any order."""
    return a.reshape(tuple(a.shape) + (1,) * b.ndim) * b


def tensor_identity(like, dimension: int, degree: int):
    """The unit ``1`` of the truncated tensor algebra."""
    levels = [_ones(like, ())]
    for k in range(1, degree + 1):
        levels.append(_zeros(like, (dimension,) * k))
    return levels


def tensor_mul(a, b, degree: int):
    """Truncated product ``a (x) b``: level k = sum_{i+j=k} a_i (x) b_j."""
    out = []
    for k in range(degree + 1):
        acc = None
        for i in range(k + 1):
            term = outer(a[i], b[k - i])
            acc = term if acc is None else acc + term
        out.append(acc)
    return out


def tensor_exp(v, degree: int):
    """exp(v) of a vector v in R^d: level k = v^{(x)k} / k!."""
    levels = [_ones(v, ())]
    current = _ones(v, ())
    for k in range(1, degree + 1):
        current = outer(current, v) / k
        levels.append(current)
    return levels


def signature_levels(path, degree: int):
    """Signature of a single piecewise-linear path ``(L, d)`` as levels.

    Chen's identity: S(x) = exp(dx_1) (x) exp(dx_2) (x) ... (x) exp(dx_{L-1}).
    """
    length, dimension = path.shape
    result = tensor_identity(path, dimension, degree)
    for i in range(1, length):
        result = tensor_mul(result, tensor_exp(path[i] - path[i - 1], degree), degree)
    return result


def flatten_levels(levels, scalar_term: bool = False):
    """Flatten ``[T0, ..., TN]`` into the pysiglib layout."""
    parts = [t.reshape(-1) for t in levels[(0 if scalar_term else 1):]]
    if not parts:
        like = levels[0]
        return _zeros(like, (0,))
    return _concat(parts, 0)


def unflatten(flat, dimension: int, degree: int, scalar_term: bool = False):
    """Inverse of :func:`flatten_levels` for a single flattened signature."""
    flat = flat.reshape(-1)
    levels = []
    pos = 0
    if scalar_term:
        levels.append(flat[0].reshape(()))
        pos = 1
    else:
        levels.append(_ones(flat, ()))
    for k in range(1, degree + 1):
        n = dimension ** k
        levels.append(flat[pos:pos + n].reshape((dimension,) * k))
        pos += n
    assert pos == flat.shape[0], "flat signature has the wrong length"
    return levels


def chen_combine(sig_a, sig_b, dimension: int, degree: int, scalar_term: bool = False):
    """Flattened tensor product of two flattened signatures (one path each)."""
    a = unflatten(sig_a, dimension, degree, scalar_term)
    b = unflatten(sig_b, dimension, degree, scalar_term)
    return flatten_levels(tensor_mul(a, b, degree), scalar_term)


# ---------------------------------------------------------------------------
# path transforms
# ---------------------------------------------------------------------------

def _time_channel(like, length: int, end_time: float):
    if length == 1:
        t = np.zeros(1)
    else:
        t = np.array([end_time * i / (length - 1) for i in range(length)])
    if _is_torch(like):
        return torch.tensor(t, dtype=like.dtype, device=like.device)
    return t.astype(like.dtype)


def lead_lag_transform(path):
    """Lead-lag of ``(..., L, d)``: ``(..., 2L-1, 2d)`` with channels (lag, lead).

    point 2i   = (x_i, x_i)
    point 2i+1 = (x_i, x_{i+1})
    """
    length = path.shape[-2]
    lag_idx, lead_idx = [], []
    for i in range(length):
        lag_idx.append(i)
        lead_idx.append(i)
        if i + 1 < length:
            lag_idx.append(i)
            lead_idx.append(i + 1)
    lag = path[..., lag_idx, :]
    lead = path[..., lead_idx, :]
    return _concat([lag, lead], -1)


def time_augment(path, end_time: float = 1.0):
    """Append time running evenly over 0..end_time as the last channel."""
    length = path.shape[-2]
    t = _time_channel(path, length, end_time)
    batch_shape = tuple(path.shape[:-2])
    if _is_torch(path):
        t = t.reshape((1,) * len(batch_shape) + (length, 1)).expand(batch_shape + (length, 1))
    else:
        t = np.broadcast_to(t.reshape((1,) * len(batch_shape) + (length, 1)),
                            batch_shape + (length, 1))
    return _concat([path, t], -1)


def transform_path(path, *, time_aug=False, lead_lag=False, end_time=1.0):
    """Lead-lag first (if requested), then time augmentation (if requested)."""
    out = path
    if lead_lag:
        out = lead_lag_transform(out)
    if time_aug:
        out = time_augment(out, end_time)
    return out


def transform_path_adjoint(derivs, length: int, dimension: int, *, time_aug=False,
                           lead_lag=False):
    """Adjoint (transpose) of :func:`transform_path` applied to ``derivs``.

    Written with explicit loops over points: the time channel is constant in
    the path, so its gradient is dropped; every lead-lag point that copies
    ``x_i`` sends its gradient back to ``x_i``.
    """
    derivs = np.asarray(derivs, dtype=np.float64)
    batch_shape = derivs.shape[:-2]
    out = np.zeros(batch_shape + (length, dimension))
    g = derivs[..., :-1] if time_aug else derivs
    if not lead_lag:
        out += g
        return out
    for p in range(g.shape[-2]):
        i = p // 2
        lag_src = i
        lead_src = i if p % 2 == 0 else i + 1
        out[..., lag_src, :] += g[..., p, :dimension]
        out[..., lead_src, :] += g[..., p, dimension:]
    return out


# ---------------------------------------------------------------------------
# batched signature
# ---------------------------------------------------------------------------

def sig(path, degree: int, *, time_aug=False, lead_lag=False, end_time=1.0,
        scalar_term=False):
    """Reference signature of ``path`` of shape ``(..., L, d)``.

    Accepts NumPy arrays (computed in float64) or torch tensors (computed in
    the tensor's dtype, differentiable).
    """
    if not _is_torch(path):
        path = np.asarray(path, dtype=np.float64)
    x = transform_path(path, time_aug=time_aug, lead_lag=lead_lag, end_time=end_time)
    batch_shape = tuple(x.shape[:-2])
    length, dimension = x.shape[-2], x.shape[-1]
    n_out = sig_length(dimension, degree, scalar_term=scalar_term)
    flat_x = x.reshape((-1, length, dimension))
    rows = []
    for b in range(flat_x.shape[0]):
        rows.append(flatten_levels(signature_levels(flat_x[b], degree), scalar_term))
    if rows:
        out = _stack(rows, 0)
    else:
        out = _zeros(x, (0, n_out))
    return out.reshape(batch_shape + (n_out,))


def sig_backprop_fd(path, sig_derivs, degree: int, *, time_aug=False, lead_lag=False,
                    end_time=1.0, scalar_term=False, eps=1e-6):
    """Central finite differences of <sig(path), sig_derivs> w.r.t. path (float64)."""
    path = np.array(path, dtype=np.float64)
    sig_derivs = np.asarray(sig_derivs, dtype=np.float64)
    grad = np.zeros_like(path)
    kw = dict(time_aug=time_aug, lead_lag=lead_lag, end_time=end_time, scalar_term=scalar_term)
    for idx in np.ndindex(*path.shape):
        orig = path[idx]
        path[idx] = orig + eps
        fp = np.sum(sig(path, degree, **kw) * sig_derivs)
        path[idx] = orig - eps
        fm = np.sum(sig(path, degree, **kw) * sig_derivs)
        path[idx] = orig
        grad[idx] = (fp - fm) / (2 * eps)
    return grad


def straight_line_signature(increment, degree: int, scalar_term=False):
    """Signature of a single straight segment: exp(increment) (closed form)."""
    v = np.asarray(increment, dtype=np.float64)
    levels = [np.ones(())]
    for k in range(1, degree + 1):
        t = np.ones(())
        for _ in range(k):
            t = np.multiply.outer(t, v)
        levels.append(t / math.factorial(k))
    return flatten_levels(levels, scalar_term)


# ---------------------------------------------------------------------------
# composition: products, inverses, joins, streams, basepoints, initial values
# ---------------------------------------------------------------------------
#
# Flattened signatures here may carry the scalar term or not (inferred from
# the length, as sigrs does); their level 0 is always taken to be 1.  Every
# function accepts NumPy arrays (computed in float64) or torch tensors
# (computed in their dtype, differentiable), with any number of batch axes.

def _as_input(x):
    return x if _is_torch(x) else np.asarray(x, dtype=np.float64)


def _flip_time(path):
    """``path`` with its points in reverse order (axis -2)."""
    if _is_torch(path):
        return torch.flip(path, dims=(-2,))
    return path[..., ::-1, :]


def _reverse_axes(t):
    """A homogeneous tensor with the order of its axes reversed."""
    perm = tuple(range(t.ndim - 1, -1, -1))
    return t.permute(perm) if _is_torch(t) else t.transpose(perm)


def has_scalar_term(n: int, dimension: int, degree: int) -> bool:
    """Whether a flattened signature of length ``n`` carries the level-0 term."""
    full = sig_length(dimension, degree, scalar_term=True)
    if n == full:
        return True
    if n == full - 1:
        return False
    raise ValueError(f"length {n} is no signature length for dimension {dimension}, degree {degree}")


def levels_of(flat, dimension: int, degree: int):
    """Levels of one flattened signature, level 0 set to 1; and its scalar-term flag."""
    st = has_scalar_term(flat.shape[-1], dimension, degree)
    levels = unflatten(flat, dimension, degree, st)
    levels[0] = _ones(flat, ())
    return levels, st


def map_batch(fn, batch_shape, *arrays):
    """``fn`` applied to every batch item of ``arrays`` (each ``batch_shape + ...``),
    restacked; ``None`` entries are passed through as ``None``."""
    batch_shape = tuple(batch_shape)
    rows = []
    for idx in np.ndindex(*batch_shape):
        rows.append(fn(*(None if a is None else a[idx] for a in arrays)))
    return _stack(rows, 0).reshape(batch_shape + tuple(rows[0].shape))


def tensor_add(a, b):
    return [x + y for x, y in zip(a, b)]


def tensor_antipode(levels):
    """Antipode: level k becomes (-1)^k times itself with every word reversed."""
    return [((-1) ** k) * _reverse_axes(t) for k, t in enumerate(levels)]


def tensor_inverse_series(levels, degree: int):
    """Inverse of ``a = 1 + x`` (level 0 equal to 1) by the truncated Neumann
    series ``sum_n (-x)^n`` (independent of the antipode)."""
    dimension = levels[1].shape[0] if degree >= 1 else 0
    minus_x = [_zeros(levels[0], ())] + [-t for t in levels[1:]]
    result = tensor_identity(levels[0], dimension, degree)
    power = tensor_identity(levels[0], dimension, degree)
    for _ in range(degree):
        power = tensor_mul(power, minus_x, degree)
        result = tensor_add(result, power)
    return result


def sig_combine(sig1, sig2, dimension: int, degree: int):
    """``sig1 (x) sig2`` for batches of flattened signatures (layout of ``sig1``)."""
    sig1, sig2 = _as_input(sig1), _as_input(sig2)

    def one(a, b):
        la, st = levels_of(a, dimension, degree)
        lb, _ = levels_of(b, dimension, degree)
        return flatten_levels(tensor_mul(la, lb, degree), st)

    return map_batch(one, sig1.shape[:-1], sig1, sig2)


def multi_sig_combine(sigs, dimension: int, degree: int):
    """``sigs[0] (x) ... (x) sigs[k-1]`` of a list of batches of flattened signatures."""
    sigs = [_as_input(s) for s in sigs]

    def one(*items):
        st = has_scalar_term(items[0].shape[-1], dimension, degree)
        acc = tensor_identity(items[0], dimension, degree)
        for s in items:
            acc = tensor_mul(acc, levels_of(s, dimension, degree)[0], degree)
        return flatten_levels(acc, st)

    return map_batch(one, sigs[0].shape[:-1], *sigs)


def linear_sig(displacement, dimension: int, degree: int, scalar_term: bool = False):
    """exp(v) for a batch of displacements ``(..., dimension)``."""
    displacement = _as_input(displacement)
    return map_batch(lambda v: flatten_levels(tensor_exp(v, degree), scalar_term),
                     displacement.shape[:-1], displacement)


def sig_join(sig_, displacement, dimension: int, degree: int, prepend: bool = False):
    """``sig (x) exp(v)``, or ``exp(v) (x) sig`` with ``prepend``."""
    sig_, displacement = _as_input(sig_), _as_input(displacement)

    def one(s, v):
        ls, st = levels_of(s, dimension, degree)
        e = tensor_exp(v, degree)
        return flatten_levels(tensor_mul(e, ls, degree) if prepend else tensor_mul(ls, e, degree), st)

    return map_batch(one, sig_.shape[:-1], sig_, displacement)


def sig_inverse(sig_, dimension: int, degree: int):
    """Antipode of a batch of flattened signatures (their inverse, for signatures)."""
    sig_ = _as_input(sig_)

    def one(s):
        ls, st = levels_of(s, dimension, degree)
        return flatten_levels(tensor_antipode(ls), st)

    return map_batch(one, sig_.shape[:-1], sig_)


def prepend_basepoint(path, basepoint):
    """``path`` with ``basepoint`` (False, True for the origin, or a point per batch item) first."""
    if basepoint is False:
        return path
    if basepoint is True:
        first = _zeros(path, tuple(path.shape[:-2]) + (1, path.shape[-1]))
    else:
        first = _as_input(basepoint)[..., None, :]
    return _concat([first, path], -2)


def sig_general(path, degree: int, *, time_aug=False, lead_lag=False, end_time=1.0,
                stream=False, basepoint=False, inverse=False, initial=None, scalar_term=False):
    """Signature with every option of ``sigrs.sig``, straight from the definitions.

    * ``basepoint``: the point is prepended before the transforms;
    * the transforms are applied to the whole (based) path, so time runs on
      the whole path's clock;
    * ``stream``: row r is the signature of the transformed path up to the
      image of original point r + 1 (for lead-lag the point (x_{r+1}, x_{r+1}));
    * ``inverse``: the signature of that piece run backwards;
    * ``initial``: ``initial (x) S``, or ``S^-1 (x) initial`` with ``inverse``.
    """
    path = _as_input(path)
    if basepoint is not False and basepoint is not True:
        basepoint = _as_input(basepoint)
    if initial is not None:
        initial = _as_input(initial)
    path = prepend_basepoint(path, basepoint)
    x = transform_path(path, time_aug=time_aug, lead_lag=lead_lag, end_time=end_time)
    batch_shape = tuple(path.shape[:-2])
    length = path.shape[-2]
    dim = x.shape[-1]
    per_point = 2 if lead_lag else 1
    n_out = sig_length(dim, degree, scalar_term=scalar_term)
    ends = [(r + 1) * per_point + 1 for r in range(length - 1)] if stream else [x.shape[-2]]

    def one(xb, init):
        rows = []
        for end in ends:
            piece = xb[:end]
            if inverse:
                s = signature_levels(_flip_time(piece), degree)
            else:
                s = signature_levels(piece, degree)
            if init is not None:
                li, _ = levels_of(init, dim, degree)
                s = tensor_mul(s, li, degree) if inverse else tensor_mul(li, s, degree)
            rows.append(flatten_levels(s, scalar_term))
        if not stream:
            return rows[0]
        if not rows:
            return _zeros(xb, (0, n_out))
        return _stack(rows, 0)

    if batch_shape and 0 in batch_shape:
        return _zeros(x, batch_shape + ((len(ends),) if stream else ()) + (n_out,))
    return map_batch(one, batch_shape, x, initial)


def sig_coef(path, words, *, time_aug=False, lead_lag=False, end_time=1.0, prefixes=False):
    """Signature coefficients at ``words``, read from the full reference
    signature truncated at the longest word (so only for short words).

    With ``prefixes`` each word contributes its non-empty prefixes, shortest
    first; the empty word contributes its coefficient 1.
    """
    path = np.asarray(path, dtype=np.float64)
    dim = aug_dimension(path.shape[-1], time_aug, lead_lag)
    degree = max(1, max(len(w) for w in words))
    full = sig(path, degree, time_aug=time_aug, lead_lag=lead_lag, end_time=end_time, scalar_term=True)
    index = []
    for w in words:
        lengths = range(1, len(w) + 1) if prefixes and w else [len(w)]
        index.extend(word_index(w[:k], dim, scalar_term=True) for k in lengths)
    return full[..., index]


def shuffles(u, v):
    """The shuffle product of two words, as a list of words with repeats
    (``S^u S^v = sum over these of S^w`` for every path)."""
    if not u:
        return [tuple(v)]
    if not v:
        return [tuple(u)]
    return [w + (u[-1],) for w in shuffles(u[:-1], v)] + [w + (v[-1],) for w in shuffles(u, v[:-1])]


# ---------------------------------------------------------------------------
# log-signatures: tensor logarithm / exponential, Lyndon words and brackets
# ---------------------------------------------------------------------------
#
# Everything below follows the definitions literally and is independent of
# sigrs: the logarithm is the truncated series sum (-1)^(n+1) (S-1)^n / n
# built with ``tensor_mul``; Lyndon words are found by testing every word
# against all its rotations; the Lyndon basis element of a Lyndon word is its
# standard bracketing expanded with [a, b] = a (x) b - b (x) a; and the
# coordinates in that basis come from ``numpy.linalg.lstsq``.

def tensor_log_series(levels, degree: int):
    """log(a) of a truncated tensor with level 0 equal to 1 (level 0 of ``levels``
    is ignored and taken to be 1): sum_{n=1}^{N} (-1)^(n+1) x^n / n, x = a - 1.
    The result has level 0 equal to 0."""
    x = [_zeros(levels[0], ())] + list(levels[1:degree + 1])
    result = [_zeros(levels[0], tuple(t.shape)) for t in x]
    power = None
    for n in range(1, degree + 1):
        power = x if power is None else tensor_mul(power, x, degree)
        sign = 1.0 if n % 2 == 1 else -1.0
        result = [r + (sign / n) * p for r, p in zip(result, power)]
    return result


def tensor_exp_series(levels, degree: int):
    """exp(x) of a truncated tensor with level 0 equal to 0 (level 0 of
    ``levels`` is ignored): sum_{n=0}^{N} x^n / n!."""
    x = [_zeros(levels[0], ())] + list(levels[1:degree + 1])
    dimension = levels[1].shape[0] if degree >= 1 else 0
    result = tensor_identity(levels[0], dimension, degree)
    power = tensor_identity(levels[0], dimension, degree)
    for n in range(1, degree + 1):
        power = tensor_mul(power, x, degree)
        result = [r + p / math.factorial(n) for r, p in zip(result, power)]
    return result


def is_lyndon(word) -> bool:
    """A non-empty word is Lyndon iff it is strictly smaller (lexicographically)
    than every one of its proper rotations."""
    w = tuple(word)
    if not w:
        return False
    return all(w < w[k:] + w[:k] for k in range(1, len(w)))


def lyndon_words(dimension: int, degree: int):
    """All Lyndon words over ``0..dimension-1`` of length 1..degree, by length,
    then lexicographically (brute force over all words)."""
    out = []
    for k in range(1, degree + 1):
        for w in itertools.product(range(dimension), repeat=k):
            if is_lyndon(w):
                out.append(w)
    return out


def _moebius(n: int) -> int:
    result, m, p = 1, n, 2
    while p * p <= m:
        if m % p == 0:
            m //= p
            if m % p == 0:
                return 0
            result = -result
        p += 1
    if m > 1:
        result = -result
    return result


def witt_count(dimension: int, degree: int) -> int:
    """Number of Lyndon words of length 1..degree by Witt's formula:
    sum_k (1/k) sum_{j | k} mu(j) d^(k/j)."""
    total = 0
    for k in range(1, degree + 1):
        s = sum(_moebius(j) * dimension ** (k // j) for j in range(1, k + 1) if k % j == 0)
        assert s % k == 0
        total += s // k
    return total


def standard_factorization(word):
    """(u, v) with word = uv and v the longest proper suffix that is Lyndon."""
    w = tuple(word)
    assert len(w) >= 2 and is_lyndon(w)
    for k in range(1, len(w)):
        if is_lyndon(w[k:]):
            return w[:k], w[k:]
    raise AssertionError("a Lyndon word of length >= 2 has a proper Lyndon suffix")


def standard_bracketing(word):
    """The standard bracketing as nested pairs of letters, e.g. (0, (0, 1))."""
    w = tuple(word)
    if len(w) == 1:
        return w[0]
    u, v = standard_factorization(w)
    return (standard_bracketing(u), standard_bracketing(v))


def bracket_expansion(word, dimension: int):
    """P_w as a homogeneous tensor of shape (dimension,) * len(w):
    P_letter = e_letter, P_w = [P_u, P_v] = P_u (x) P_v - P_v (x) P_u."""
    w = tuple(word)
    if len(w) == 1:
        e = np.zeros(dimension)
        e[w[0]] = 1.0
        return e
    u, v = standard_factorization(w)
    pu, pv = bracket_expansion(u, dimension), bracket_expansion(v, dimension)
    return np.multiply.outer(pu, pv) - np.multiply.outer(pv, pu)


def lyndon_basis_matrix(dimension: int, length: int):
    """Columns: the flattened expansions P_w of the Lyndon words of one length."""
    words = [w for w in lyndon_words(dimension, length) if len(w) == length]
    if not words:
        return np.zeros((dimension ** length, 0)), words
    cols = [bracket_expansion(w, dimension).reshape(-1) for w in words]
    return np.stack(cols, axis=1), words


def lyndon_coordinates(log_levels, dimension: int, degree: int):
    """Coordinates in the Lyndon basis of a Lie element given by levels
    (NumPy, float64), by least squares per level; order of ``lyndon_words``."""
    out = []
    for k in range(1, degree + 1):
        mat, words = lyndon_basis_matrix(dimension, k)
        if not words:
            continue
        rhs = np.asarray(log_levels[k], dtype=np.float64).reshape(-1)
        coef, *_ = np.linalg.lstsq(mat, rhs, rcond=None)
        assert np.allclose(mat @ coef, rhs, atol=1e-9 * max(1.0, np.abs(rhs).max())), (
            "level is not in the span of the Lyndon brackets (not a Lie element)")
        out.append(coef)
    return np.concatenate(out) if out else np.zeros(0)


def lyndon_coordinates_triangular(log_levels, dimension: int, degree: int):
    """Lyndon-basis coordinates from the coefficients at the Lyndon words only:
    per level, the square matrix M[w', w] = <P_w, w'> (w, w' Lyndon) is
    unitriangular, and coords = M^-1 (coefficients at the Lyndon words).

    On Lie elements this equals :func:`lyndon_coordinates`; off them (the
    logarithm of a tensor that is no signature) it is the extension pysiglib
    and sigrs use, so it is the reference for gradients with respect to an
    arbitrary signature. Works on NumPy and on torch (differentiable)."""
    like = log_levels[0]
    out = []
    for k in range(1, degree + 1):
        mat, words = lyndon_basis_matrix(dimension, k)
        if not words:
            continue
        idx = [int(np.ravel_multi_index(w, (dimension,) * k)) for w in words]
        square = mat[idx, :]
        assert np.allclose(np.diag(square), 1.0)
        inv = np.linalg.inv(square)
        vals = log_levels[k].reshape(-1)[idx]
        if _is_torch(like):
            out.append(torch.tensor(inv, dtype=like.dtype, device=like.device) @ vals)
        else:
            out.append(inv @ np.asarray(vals, dtype=np.float64))
    if not out:
        return _zeros(like, (0,))
    return _concat(out, 0)



# Hall basis (iisignature's "H"). Elements are numbered as they are made:
# the letters, then for each length n the brackets [u, v] with |u| + |v| = n,
# ordered by (|u|, number of u, number of v), kept when u < v (by number) and
# v is a letter or v = [v', v''] with v' <= u. Expansions as for the Lyndon
# brackets; coordinates by least squares of each level of the expanded log
# on the expansions of that level.

def hall_basis(dimension: int, degree: int):
    """The Hall set as nested pairs of letters (a letter is an int), in order."""
    elems, lengths, left = [], [], []
    for a in range(dimension if degree >= 1 else 0):
        elems.append(a)
        lengths.append(1)
        left.append(None)
    for n in range(2, degree + 1):
        candidates = [(lengths[u], u, v) for u in range(len(elems)) for v in range(len(elems))
                      if lengths[u] + lengths[v] == n]
        for _, u, v in sorted(candidates):
            if u < v and (lengths[v] == 1 or left[v] <= u):
                elems.append((elems[u], elems[v]))
                lengths.append(n)
                left.append(u)
    return elems


def hall_bracket_string(tree) -> str:
    """iisignature's spelling of a bracket: letters from 1, e.g. ``"[1,[1,2]]"``."""
    if isinstance(tree, tuple):
        return f"[{hall_bracket_string(tree[0])},{hall_bracket_string(tree[1])}]"
    return str(tree + 1)


def _tree_length(tree) -> int:
    return _tree_length(tree[0]) + _tree_length(tree[1]) if isinstance(tree, tuple) else 1


def hall_expansion(tree, dimension: int):
    """The bracket ``tree`` as a homogeneous tensor: [a, b] = a (x) b - b (x) a."""
    if not isinstance(tree, tuple):
        e = np.zeros(dimension)
        e[tree] = 1.0
        return e
    pu, pv = hall_expansion(tree[0], dimension), hall_expansion(tree[1], dimension)
    return np.multiply.outer(pu, pv) - np.multiply.outer(pv, pu)


def hall_basis_matrix(dimension: int, length: int):
    """Columns: the flattened expansions of the Hall elements of one length."""
    trees = [t for t in hall_basis(dimension, length) if _tree_length(t) == length]
    if not trees:
        return np.zeros((dimension ** length, 0)), trees
    return np.stack([hall_expansion(t, dimension).reshape(-1) for t in trees], axis=1), trees


def hall_coordinates(log_levels, dimension: int, degree: int):
    """Coordinates in the Hall basis of a Lie element given by levels (NumPy,
    float64), by least squares per level; order of :func:`hall_basis`."""
    out = []
    for k in range(1, degree + 1):
        mat, trees = hall_basis_matrix(dimension, k)
        if not trees:
            continue
        rhs = np.asarray(log_levels[k], dtype=np.float64).reshape(-1)
        coef, *_ = np.linalg.lstsq(mat, rhs, rcond=None)
        assert np.allclose(mat @ coef, rhs, atol=1e-9 * max(1.0, np.abs(rhs).max())), (
            "level is not in the span of the Hall brackets (not a Lie element)")
        out.append(coef)
    return np.concatenate(out) if out else np.zeros(0)


def hall_coordinates_at_lyndon_words(log_levels, dimension: int, degree: int):
    """Hall coordinates from the coefficients at the Lyndon words only: per
    level, coords = M^-1 (coefficients at the Lyndon words), M[w, h] = <P_h, w>
    (square and invertible, since a Lie element is fixed by its values at the
    Lyndon words).

    On Lie elements this equals :func:`hall_coordinates`; off them it is the
    extension sigrs uses (the one :func:`lyndon_coordinates_triangular`
    describes for the Lyndon basis), so it is the reference for gradients with
    respect to an arbitrary signature. NumPy or torch (differentiable)."""
    like = log_levels[0]
    out = []
    for k in range(1, degree + 1):
        mat, trees = hall_basis_matrix(dimension, k)
        if not trees:
            continue
        words = [w for w in lyndon_words(dimension, k) if len(w) == k]
        idx = [int(np.ravel_multi_index(w, (dimension,) * k)) for w in words]
        inv = np.linalg.inv(mat[idx, :])
        vals = log_levels[k].reshape(-1)[idx]
        if _is_torch(like):
            out.append(torch.tensor(inv, dtype=like.dtype, device=like.device) @ vals)
        else:
            out.append(inv @ np.asarray(vals, dtype=np.float64))
    if not out:
        return _zeros(like, (0,))
    return _concat(out, 0)


def lie_levels_from_hall_coordinates(coords, dimension: int, degree: int):
    """Levels ``[0, L1, ..., LN]`` of sum_h c_h P_h for one vector of Hall
    coordinates (order of :func:`hall_basis`). NumPy or torch (differentiable)."""
    coords = _as_input(coords)
    levels = [_zeros(coords, ())]
    pos = 0
    for k in range(1, degree + 1):
        mat, trees = hall_basis_matrix(dimension, k)
        c = coords[pos:pos + len(trees)]
        pos += len(trees)
        m = torch.tensor(mat, dtype=coords.dtype) if _is_torch(coords) else mat
        levels.append((m @ c).reshape((dimension,) * k))
    assert pos == coords.shape[0], "wrong number of Hall coordinates"
    return levels

def _log_levels_to_method(log_levels, dimension: int, degree: int, method: int,
                          scalar_term: bool, solver: str = "lstsq"):
    if method == 0:
        return flatten_levels(log_levels, scalar_term)
    if method == 1:
        parts = [log_levels[len(w)][w].reshape(()) for w in lyndon_words(dimension, degree)]
        if not parts:
            return _zeros(log_levels[0], (0,))
        return _stack(parts, 0)
    if method == 2:
        if solver == "triangular" or _is_torch(log_levels[0]):
            return lyndon_coordinates_triangular(log_levels, dimension, degree)
        return lyndon_coordinates(log_levels, dimension, degree)
    if method == "hall":
        if solver == "triangular" or _is_torch(log_levels[0]):
            return hall_coordinates_at_lyndon_words(log_levels, dimension, degree)
        return hall_coordinates(log_levels, dimension, degree)
    raise ValueError(method)


def sig_to_log_sig(sig_, dimension: int, degree: int, method: int = 1, solver: str = "lstsq"):
    """Reference log-signature of a batch of flattened signatures (with or
    without the scalar term; level 0 taken to be 1) of an augmented path of
    dimension ``dimension``. Method 0 keeps the layout of ``sig_`` (level-0
    entry 0). Methods 2 and ``"hall"`` solve by least squares (NumPy) or, with
    ``solver="triangular"`` or torch input, from the Lyndon-word coefficients.
    NumPy float64, or torch (differentiable)."""
    sig_ = _as_input(sig_)

    def one(s):
        levels, st = levels_of(s, dimension, degree)
        log = tensor_log_series(levels, degree)
        return _log_levels_to_method(log, dimension, degree, method, st, solver)

    return map_batch(one, sig_.shape[:-1], sig_)


def log_sig(path, degree: int, *, time_aug=False, lead_lag=False, end_time=1.0,
            method: int = 1, scalar_term=False, solver: str = "lstsq"):
    """Reference log-signature of ``path`` ``(..., L, d)``: the signature, then
    the tensor logarithm series, then the ``method`` projection."""
    s = sig(path, degree, time_aug=time_aug, lead_lag=lead_lag, end_time=end_time,
            scalar_term=scalar_term and method == 0)
    d = aug_dimension(path.shape[-1], time_aug, lead_lag)
    return sig_to_log_sig(s, d, degree, method, solver)


def log_sig_to_sig(log_sig_expanded, dimension: int, degree: int):
    """exp of a batch of expanded log-signatures (with or without level 0)."""
    x = _as_input(log_sig_expanded)

    def one(v):
        st = has_scalar_term(v.shape[-1], dimension, degree)
        levels = unflatten(v, dimension, degree, st)
        return flatten_levels(tensor_exp_series(levels, degree), st)

    return map_batch(one, x.shape[:-1], x)


# ---------------------------------------------------------------------------
# log-signature -> signature (exp of the Lie element a log-signature describes)
# ---------------------------------------------------------------------------
#
# Method 2 gives the coordinates c_w of the Lie element sum_w c_w P_w in the
# Lyndon basis (P_w the expanded standard bracketing); method 1 gives its
# coefficients at the Lyndon words, which determine a Lie element through the
# unitriangular matrix M[w', w] = <P_w, w'>; method 0 gives the expanded
# tensor itself. The signature is the truncated exponential series.

def lie_levels_from_lyndon_coordinates(coords, dimension: int, degree: int):
    """Levels ``[0, L1, ..., LN]`` of sum_w c_w P_w for one vector of Lyndon-basis
    coordinates (order of :func:`lyndon_words`). NumPy or torch (differentiable)."""
    coords = _as_input(coords)
    levels = [_zeros(coords, ())]
    pos = 0
    for k in range(1, degree + 1):
        mat, words = lyndon_basis_matrix(dimension, k)
        c = coords[pos:pos + len(words)]
        pos += len(words)
        m = torch.tensor(mat, dtype=coords.dtype) if _is_torch(coords) else mat
        levels.append((m @ c).reshape((dimension,) * k))
    assert pos == coords.shape[0], "wrong number of Lyndon coordinates"
    return levels


def lyndon_word_values_to_coordinates(values, dimension: int, degree: int):
    """Lyndon-basis coordinates of the Lie element whose coefficients at the
    Lyndon words are ``values`` (one vector): per level, M^-1 values."""
    values = _as_input(values)
    out = []
    pos = 0
    for k in range(1, degree + 1):
        mat, words = lyndon_basis_matrix(dimension, k)
        if not words:
            continue
        idx = [int(np.ravel_multi_index(w, (dimension,) * k)) for w in words]
        inv = np.linalg.inv(mat[idx, :])
        v = values[pos:pos + len(words)]
        pos += len(words)
        inv = torch.tensor(inv, dtype=values.dtype) if _is_torch(values) else inv
        out.append(inv @ v)
    assert pos == values.shape[0], "wrong number of Lyndon-word values"
    if not out:
        return _zeros(values, (0,))
    return _concat(out, 0)


def logsig_to_sig(log_sig_, dimension: int, degree: int, method: int = 1,
                  scalar_term: bool = False):
    """Reference signature ``exp(l)`` of a batch of log-signatures of an
    (augmented) dimension ``dimension``. Method 0: input signature-shaped (with
    or without level 0, which is ignored), output in the input's layout;
    methods 1, 2 and ``"hall"``: output with the level-0 term 1 iff ``scalar_term``.
    NumPy float64 or torch (differentiable)."""
    if method == 0:
        return log_sig_to_sig(log_sig_, dimension, degree)
    x = _as_input(log_sig_)

    def one(v):
        if method == "hall":
            levels = lie_levels_from_hall_coordinates(v, dimension, degree)
        else:
            coords = v if method == 2 else lyndon_word_values_to_coordinates(v, dimension, degree)
            levels = lie_levels_from_lyndon_coordinates(coords, dimension, degree)
        return flatten_levels(tensor_exp_series(levels, degree), scalar_term)

    return map_batch(one, x.shape[:-1], x)


# ---------------------------------------------------------------------------
# signature kernels
# ---------------------------------------------------------------------------
#
# k(x, y) = <S(x), S(y)> solves the Goursat PDE
#     d^2 k / ds dt = k <dx_s, dy_t>,   k(0, .) = k(., 0) = 1.
# Each increment of x is cut in 2^l1 equal steps and each increment of y in
# 2^l2, so a fine cell (i, j) lies in the coarse cell (i >> l1, j >> l2) and
# sees the double increment of that coarse cell divided by 2^(l1 + l2). On the
# fine grid the PDE is solved by the second-order explicit scheme
#     k[i+1, j+1] = (k[i+1, j] + k[i, j+1]) (1 + a/2 + a^2/12) - k[i, j] (1 - a^2/12).
# A static kernel kappa replaces <dx_s, dy_t> by its double increment
#     kappa(x_{s+1}, y_{t+1}) - kappa(x_s, y_{t+1}) - kappa(x_{s+1}, y_t) + kappa(x_s, y_t).
# Everything below loops over grid points with scalar arithmetic, so it works
# unchanged on NumPy (float64) and on torch tensors (differentiable).


def _sq_dist(a, b):
    return ((a - b) ** 2).sum(-1)


def _dist(a, b):
    d2 = _sq_dist(a, b)
    return torch.sqrt(d2) if _is_torch(d2) else np.sqrt(d2)


def _exp(v):
    return torch.exp(v) if _is_torch(v) else np.exp(v)


def static_kernel_fn(name: str, **params):
    """kappa(a, b) of a named static kernel, from its formula (broadcast over
    the leading axes, the last axis is the point). Parameters and formulas are
    pysiglib's documented ones:

    * ``linear``: <a, b>;  ``scaled_linear`` (scale): scale^2 <a, b>
    * ``rbf`` (sigma): exp(-|a - b|^2 / sigma)
    * ``polynomial`` (degree=3, gamma=1, scale=1): scale (<a, b> + gamma)^degree
    * ``matern12`` (sigma): exp(-r / sigma), r = |a - b|
    * ``matern32`` (sigma): (1 + sqrt3 r / sigma) exp(-sqrt3 r / sigma)
    * ``matern52`` (sigma): (1 + sqrt5 r / sigma + 5 r^2 / (3 sigma^2)) exp(-sqrt5 r / sigma)
    * ``rational_quadratic`` (sigma, alpha=1): (1 + r^2 / (2 alpha sigma^2))^(-alpha)
    """
    if name == "linear":
        return lambda a, b: (a * b).sum(-1)
    if name == "scaled_linear":
        s2 = params.get("scale", 1.0) ** 2
        return lambda a, b: s2 * (a * b).sum(-1)
    if name == "rbf":
        sigma = params["sigma"]
        return lambda a, b: _exp(-_sq_dist(a, b) / sigma)
    if name == "polynomial":
        degree, gamma, scale = params.get("degree", 3.0), params.get("gamma", 1.0), params.get("scale", 1.0)
        return lambda a, b: scale * ((a * b).sum(-1) + gamma) ** degree
    if name == "matern12":
        sigma = params["sigma"]
        return lambda a, b: _exp(-_dist(a, b) / sigma)
    if name == "matern32":
        c = math.sqrt(3.0) / params["sigma"]
        return lambda a, b: (1.0 + c * _dist(a, b)) * _exp(-c * _dist(a, b))
    if name == "matern52":
        c = math.sqrt(5.0) / params["sigma"]
        return lambda a, b: (1.0 + c * _dist(a, b) + (c * _dist(a, b)) ** 2 / 3.0) * _exp(-c * _dist(a, b))
    if name == "rational_quadratic":
        sigma, alpha = params["sigma"], params.get("alpha", 1.0)
        return lambda a, b: (1.0 + _sq_dist(a, b) / (2.0 * alpha * sigma ** 2)) ** (-alpha)
    raise ValueError(f"unknown static kernel {name!r}")


def kernel_increments(x, y, kappa=None):
    """Double increments of one pair of paths ``x`` (L1, d), ``y`` (L2, d):
    ``(L1 - 1, L2 - 1)``. ``kappa=None`` is the linear kernel, computed
    directly as <x_{s+1} - x_s, y_{t+1} - y_t>."""
    if kappa is None:
        dx = x[1:] - x[:-1]
        dy = y[1:] - y[:-1]
        return (dx[:, None, :] * dy[None, :, :]).sum(-1)
    k = kappa(x[:, None, :], y[None, :, :])
    return k[1:, 1:] - k[:-1, 1:] - k[1:, :-1] + k[:-1, :-1]


def dyadic_orders(dyadic_order):
    """``dyadic_order`` (an int or a pair) as a pair."""
    if isinstance(dyadic_order, (tuple, list)):
        l1, l2 = dyadic_order
        return int(l1), int(l2)
    return int(dyadic_order), int(dyadic_order)


def pde_grid_length(length: int, order: int) -> int:
    """Points of the refined grid along a path of ``length`` points."""
    return (length - 1) * 2 ** order + 1


def goursat_pde(delta, dyadic_order, return_grid=False):
    """Solve the Goursat PDE for one double-increment matrix ``delta``
    ``(n1, n2)`` (coarse cells) refined by ``dyadic_order``; return k at the
    far corner, or the whole fine grid ``(n1 2^l1 + 1, n2 2^l2 + 1)``."""
    l1, l2 = dyadic_orders(dyadic_order)
    n1, n2 = int(delta.shape[0]), int(delta.shape[1])
    m1, m2 = n1 * 2 ** l1, n2 * 2 ** l2
    scale = 1.0 / 2 ** (l1 + l2)
    one = _ones(delta, ())
    k = [[one for _ in range(m2 + 1)] for _ in range(m1 + 1)]  # boundary k = 1
    for i in range(m1):
        for j in range(m2):
            a = delta[i >> l1, j >> l2] * scale
            k[i + 1][j + 1] = ((k[i + 1][j] + k[i][j + 1]) * (1.0 + a / 2.0 + a * a / 12.0)
                               - k[i][j] * (1.0 - a * a / 12.0))
    if not return_grid:
        return k[m1][m2]
    return _stack([_stack(row, 0) for row in k], 0)


def _kernel_inputs(path1, path2, time_aug, lead_lag, end_time):
    if not _is_torch(path1):
        path1 = np.asarray(path1, dtype=np.float64)
        path2 = np.asarray(path2, dtype=np.float64)
    kw = dict(time_aug=time_aug, lead_lag=lead_lag, end_time=end_time)
    return transform_path(path1, **kw), transform_path(path2, **kw)


def sig_kernel(path1, path2, dyadic_order, *, kappa=None, time_aug=False, lead_lag=False,
               end_time=1.0, return_grid=False):
    """Reference signature kernels of paired batches ``(..., L1, d)`` and
    ``(..., L2, d)`` (same batch shape): ``(...)``, or the fine PDE grids
    ``(..., G1, G2)`` with ``return_grid``. ``kappa``: a static kernel as
    from :func:`static_kernel_fn` (None: linear). The transforms are applied
    to the paths first. NumPy float64, or torch (differentiable)."""
    x, y = _kernel_inputs(path1, path2, time_aug, lead_lag, end_time)
    batch_shape = tuple(x.shape[:-2])
    assert tuple(y.shape[:-2]) == batch_shape, "paired batches must have one batch shape"

    def one(a, b):
        return goursat_pde(kernel_increments(a, b, kappa), dyadic_order, return_grid)

    return map_batch(one, batch_shape, x, y)


def sig_kernel_gram(path1, path2, dyadic_order, *, kappa=None, time_aug=False, lead_lag=False,
                    end_time=1.0, return_grid=False):
    """Reference Gram matrix ``batch_shape_1 + batch_shape_2`` (then the grid
    axes with ``return_grid``): every path of one batch against every path of
    the other, each pair solved on its own."""
    x, y = _kernel_inputs(path1, path2, time_aug, lead_lag, end_time)
    shape1, shape2 = tuple(x.shape[:-2]), tuple(y.shape[:-2])
    rows = []
    for i in np.ndindex(*shape1):
        for j in np.ndindex(*shape2):
            rows.append(goursat_pde(kernel_increments(x[i], y[j], kappa), dyadic_order, return_grid))
    out = _stack(rows, 0)
    return out.reshape(shape1 + shape2 + tuple(out.shape[1:]))


def sig_kernel_normalized(path1, path2, dyadic_order, **kw):
    """k(x, y) / sqrt(k(x, x) k(y, y)) for paired batches."""
    kxy = sig_kernel(path1, path2, dyadic_order, **kw)
    kxx = sig_kernel(path1, path1, dyadic_order, **kw)
    kyy = sig_kernel(path2, path2, dyadic_order, **kw)
    return kxy / (kxx * kyy) ** 0.5


def truncated_sig_inner_product(path1, path2, degree: int, *, time_aug=False, lead_lag=False,
                                end_time=1.0):
    """sum_{k=0}^{degree} <S^k(x), S^k(y)> from the reference signatures
    (paired batches): the linear signature kernel truncated at ``degree``,
    which the PDE approaches as the dyadic order and the degree grow."""
    kw = dict(time_aug=time_aug, lead_lag=lead_lag, end_time=end_time, scalar_term=True)
    return (sig(path1, degree, **kw) * sig(path2, degree, **kw)).sum(-1)


def sig_kernel_backprop(derivs, path1, path2, dyadic_order, *, kappa=None, time_aug=False,
                        lead_lag=False, end_time=1.0, return_grid=False, gram=False):
    """Gradients (dF/dpath1, dF/dpath2) of F = sum(derivs * K) with K the
    reference kernels (or grids, ``return_grid``; or the Gram matrix,
    ``gram``), by torch autograd through :func:`goursat_pde` in float64."""
    x = torch.tensor(np.asarray(path1, dtype=np.float64), requires_grad=True)
    y = torch.tensor(np.asarray(path2, dtype=np.float64), requires_grad=True)
    fn = sig_kernel_gram if gram else sig_kernel
    k = fn(x, y, dyadic_order, kappa=kappa, time_aug=time_aug, lead_lag=lead_lag,
           end_time=end_time, return_grid=return_grid)
    w = torch.tensor(np.asarray(derivs, dtype=np.float64))
    (k * w).sum().backward()
    return x.grad.numpy(), y.grad.numpy()
