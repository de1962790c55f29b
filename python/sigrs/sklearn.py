"""scikit-learn estimators: signature features and signature-kernel Gram matrices.

Install with ``pip install sigrs[sklearn]``; ``import sigrs`` never imports
scikit-learn, only ``import sigrs.sklearn`` does. (:mod:`sigrs.sktime` wraps
:class:`SignatureTransformer` as an sktime transformer.)

* :class:`SignatureTransformer`: the "generalised signature method" of
  sktime's transformer of the same name (augmentations, windows, rescaling,
  signature or log-signature), computed by sigrs.
* :class:`SignatureKernel`: a callable ``kernel(X, Y)`` returning the Gram
  matrix of signature kernels, for estimators that take a kernel function
  (``SVC(kernel=SignatureKernel(...))``).
* :class:`SignatureGram`: a transformer whose ``fit`` keeps the training
  paths and whose ``transform`` returns the Gram matrix against them, for
  ``Pipeline([("gram", SignatureGram()), ("svc", SVC(kernel="precomputed"))])``.

How arrays become paths (every class alike):

* 3-D ``X``: a batch of paths, ``(n, length, channels)`` with
  ``input_layout="nlc"`` (sigrs's layout, the default) or ``(n, channels,
  length)`` with ``input_layout="ncl"`` (sktime's ``numpy3D``).
* 2-D ``X`` ``(n, m)``, as scikit-learn passes data around: each row is one
  path, flattened. With ``n_channels=None`` the row is a univariate series
  of ``m`` points; with ``n_channels=c`` it holds ``m / c`` points of ``c``
  channels, point after point for ``"nlc"`` (``path.reshape(-1)``), channel
  after channel for ``"ncl"``.

``n_features_in_`` counts the flattened values, ``length * channels``; a
fitted estimator takes paths of the length and channels it was fitted on.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

try:
    from sklearn.base import BaseEstimator, TransformerMixin
    from sklearn.utils.validation import check_array, check_is_fitted
except ImportError as error:  # pragma: no cover - the tests run with scikit-learn installed
    raise ImportError(
        f"sigrs.sklearn needs scikit-learn ({error}): pip install 'sigrs[sklearn]'"
    ) from error

try:
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - scikit-learn < 1.6

    def _validate_data(estimator: Any, X: Any, **kwargs: Any) -> Any:
        return estimator._validate_data(X, **kwargs)


from . import static_kernels as _static
from .algebra import sig_combine, sig_inverse
from .kernel import sig_kernel_gram
from .logsig import hall_basis, lyndon_brackets, lyndon_words, sig_to_log_sig
from .signature import sig as _sig
from .words import words as _words

__all__ = ["SignatureGram", "SignatureKernel", "SignatureTransformer"]

AUGMENTATIONS = ("basepoint", "addtime", "leadlag", "cumsum", "ir")
WINDOWS = ("global", "sliding", "expanding", "dyadic")
_LAYOUTS = ("nlc", "ncl")
_LOGSIG_METHODS = ("words", "lyndon", "hall")
# Prefix signatures of at most this many bytes are held at once (the batch is
# cut into slices to stay under it).
_PREFIX_BYTES = 64 << 20


# --- arrays to paths -----------------------------------------------------------------


def _check_choice(value: Any, name: str, choices: tuple) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def _check_n_channels(n_channels: Any) -> Optional[int]:
    if n_channels is None:
        return None
    if isinstance(n_channels, bool) or not isinstance(n_channels, (int, np.integer)) or n_channels < 1:
        raise ValueError(f"n_channels must be None or an int >= 1, got {n_channels!r}")
    return int(n_channels)


def _to_paths(X: np.ndarray, n_channels: Any, input_layout: Any, shape3: Optional[tuple]) -> np.ndarray:
    """``(n, length, channels)`` paths from the validated 2-D ``X``; ``shape3``
    is the ``(a, b)`` of a 3-D input (in ``input_layout``), None for 2-D input."""
    layout = _check_choice(input_layout, "input_layout", _LAYOUTS)
    c = _check_n_channels(n_channels)
    n, m = X.shape
    if shape3 is not None:
        a, b = shape3
        length, channels = (a, b) if layout == "nlc" else (b, a)
        if c is not None and c != channels:
            raise ValueError(f"n_channels={c} does not match the {channels} channels of the 3-D input (input_layout={layout!r})")
    else:
        channels = 1 if c is None else c
        if m % channels:
            raise ValueError(f"X has {m} values per row, not a multiple of n_channels={channels}")
        length = m // channels
    if layout == "nlc":
        return np.ascontiguousarray(X.reshape(n, length, channels))
    return np.ascontiguousarray(X.reshape(n, channels, length).transpose(0, 2, 1))


def _validated_paths(estimator: Any, X: Any, reset: bool, dtype: Any) -> np.ndarray:
    """Checks ``X`` the scikit-learn way (finite, numeric, ``n_features_in_``) and returns its paths."""
    shape3 = None
    shape = getattr(X, "shape", None)
    if shape is None and isinstance(X, (list, tuple)):
        shape = np.shape(X)
    if shape is not None and len(shape) == 3:
        X = np.asarray(X)
        shape3 = X.shape[1:]
        # validated flattened, so n_features_in_ and the finiteness checks work as for 2-D data
        X = X.reshape(X.shape[0], -1)
    X = _validate_data(estimator, X, reset=reset, dtype=dtype)
    paths = _to_paths(X, estimator.n_channels, estimator.input_layout, shape3)
    if reset:
        estimator.path_shape_ = paths.shape[1:]
    elif paths.shape[1:] != estimator.path_shape_:
        raise ValueError(
            f"X holds paths of shape (length, channels) = {paths.shape[1:]}, but {type(estimator).__name__} "
            f"was fitted on {estimator.path_shape_}"
        )
    return paths


def _n_jobs(n_jobs: Any) -> int:
    # None means one job, as everywhere in scikit-learn
    return 1 if n_jobs is None else n_jobs


class _PathTags:
    """Tags shared by the estimators: 3-D input is accepted."""

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()  # type: ignore[misc]
        tags.input_tags.three_d_array = True
        return tags

    def _more_tags(self) -> dict:  # scikit-learn < 1.6
        return {"X_types": ["2darray", "3darray"]}


# --- the signature method --------------------------------------------------------------


def _augment(paths: np.ndarray, name: str) -> np.ndarray:
    """One of sktime's augmentations on ``(n, length, channels)`` paths, with its channel order."""
    n, length, c = paths.shape
    if name == "basepoint":
        return np.concatenate([np.zeros((n, 1, c), paths.dtype), paths], axis=1)
    if name == "addtime":
        # time is the FIRST channel here (sktime's order; sigrs's time_aug puts it last)
        time = np.broadcast_to(np.linspace(0.0, 1.0, length, dtype=paths.dtype)[None, :, None], (n, length, 1))
        return np.concatenate([time, paths], axis=2)
    if name == "leadlag":
        # 2 length - 1 points, channels (lead, lag): point 2i = (x_i, x_i), 2i+1 = (x_{i+1}, x_i)
        doubled = np.repeat(paths, 2, axis=1)
        return np.concatenate([doubled[:, 1:], doubled[:, :-1]], axis=2)
    if name == "cumsum":
        return np.cumsum(paths, axis=1)
    # "ir", invisibility reset: a first channel of ones ("pen down"), then the
    # last point again with the pen up (0), then the origin
    pen = np.concatenate([np.ones((n, length, 1), paths.dtype), paths], axis=2)
    up = pen[:, -1:].copy()
    up[:, :, 0] = 0
    return np.concatenate([pen, up, np.zeros((n, 1, c + 1), paths.dtype)], axis=1)


def _augmented_shape(length: int, channels: int, augmentations: tuple) -> tuple:
    for name in augmentations:
        if name == "basepoint":
            length += 1
        elif name == "addtime":
            channels += 1
        elif name == "leadlag":
            length, channels = 2 * length - 1, 2 * channels
        elif name == "ir":
            length, channels = length + 2, channels + 1
    return length, channels


def signature_windows(window_name: str, length: int, *, window_depth: int = 3, window_length: Optional[int] = None,
                      window_step: Optional[int] = None) -> list:
    """The windows of sktime's signature method over a path of ``length`` points.

    Each window is a pair ``(start, end)``: points ``start .. end - 1``.

    * ``"global"``: the whole path.
    * ``"sliding"``: ``(k s, k s + w)`` for ``k = 0, 1, ...`` while it fits.
    * ``"expanding"``: ``(0, w + k s)`` while it fits.
    * ``"dyadic"``: for each level ``j = 0..window_depth`` the path cut into
      ``2^j`` pieces, piece ``i`` being ``(floor(i L / 2^j), floor((i + 1) L / 2^j))``;
      level by level, left to right. Needs ``2^window_depth <= length``.

    (``w = window_length``, ``s = window_step``.)

    Example::

        >>> from sigrs.sklearn import signature_windows
        >>> signature_windows("dyadic", 6, window_depth=1)
        [(0, 6), (0, 3), (3, 6)]
        >>> signature_windows("sliding", 6, window_length=4, window_step=1)
        [(0, 4), (1, 5), (2, 6)]
    """
    _check_choice(window_name, "window_name", WINDOWS)
    if window_name == "global":
        return [(0, length)]
    if window_name == "dyadic":
        depth = _positive_int(window_depth, "window_depth", 0)
        if depth > 62 or 2**depth > length:
            raise ValueError(
                f"window_depth={depth} is too deep for paths of {length} points (after the augmentations): "
                f"a dyadic window of depth j needs at least 2^j points, so window_depth <= {int(math.log2(max(length, 1)))}"
            )
        return [((i * length) >> j, ((i + 1) * length) >> j) for j in range(depth + 1) for i in range(2**j)]
    w = _positive_int(window_length, "window_length", 1, f" (needed by window_name={window_name!r})")
    s = _positive_int(window_step, "window_step", 1, f" (needed by window_name={window_name!r})")
    if w > length:
        raise ValueError(f"window_length={w} is longer than the paths ({length} points after the augmentations)")
    if window_name == "sliding":
        return [(k * s, k * s + w) for k in range((length - w) // s + 1)]
    return [(0, w + k * s) for k in range((length - w) // s + 1)]


def _positive_int(value: Any, name: str, minimum: int, why: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}{why}, got {value!r}")
    return int(value)


def _bracket(b: Any) -> str:
    return str(b) if isinstance(b, int) else f"[{_bracket(b[0])},{_bracket(b[1])}]"


class SignatureTransformer(_PathTags, TransformerMixin, BaseEstimator):
    """Signature features of time series: sktime's signature method, computed by sigrs.

    The parameters and their meanings are those of sktime's
    ``SignatureTransformer`` (Morrill et al., "A generalised signature method
    for multivariate time series"), whose features it reproduces, minus the
    ``backend`` (esig, which no longer installs): augment each path, cut it
    into windows, take the (log-)signature of each window, concatenate.

    Every window's signature comes from one stream of prefix signatures per
    path (one :func:`sigrs.sig` call with ``stream=True``) by Chen's identity,
    ``S(window) = S(prefix to its start)^-1 (x) S(prefix to its end)``, so the
    cost hardly grows with the number of windows. (The precision of a window
    far along a long path follows the size of the prefix signatures.)

    Parameters
    ----------
    augmentation_list : sequence of str or str or None, default=("basepoint", "addtime")
        Applied in the order given, each on the previous one's output:
        ``"basepoint"`` prepends the origin; ``"addtime"`` adds time running
        from 0 to 1 over the points, as the FIRST channel; ``"leadlag"`` the
        lead-lag path, channels ``(lead, lag)``; ``"cumsum"`` the cumulative
        sum over time; ``"ir"`` (invisibility reset) a first channel of ones,
        then two extra points: the last point with that channel 0, then the
        origin. (These channel orders are sktime's; :func:`sigrs.sig`'s own
        ``time_aug`` and ``lead_lag`` order them differently.)
    window_name : {"global", "sliding", "expanding", "dyadic"}, default="dyadic"
        The windows (see :func:`signature_windows`), over the augmented path.
    window_depth : int, default=3
        Levels of the dyadic windows after the first: ``2^(window_depth+1) - 1``
        windows. Used by ``"dyadic"`` only.
    window_length, window_step : int or None, default=None
        Width and step of the sliding and expanding windows (required by them).
    rescaling : {None, "pre", "post"}, default=None
        ``"pre"`` multiplies the augmented path by ``(depth!)^(1/depth)``;
        ``"post"`` multiplies level ``k`` of each signature by ``k!`` (not
        with log-signatures, as in sktime).
    sig_tfm : {"signature", "logsignature"}, default="signature"
    depth : int, default=4
        Truncation level (``>= 1``).
    logsig_method : {"words", "lyndon", "hall"}, default="words"
        The coordinates of the log-signatures (see ``sigrs.logsig``):
        coefficients at the Lyndon words (sigrs's default), in the Lyndon
        basis, or in the Hall basis (esig, sktime's backend, uses a Hall basis).
    n_jobs : int or None, default=-1
        Threads: -1 all cores, None or 1 serial, as in :func:`sigrs.sig`.
    input_layout : {"nlc", "ncl"}, default="nlc"
        Of 3-D input (and of 2-D rows with ``n_channels``): ``(n, length,
        channels)``, or sktime's ``(n, channels, length)``.
    n_channels : int or None, default=None
        How 2-D input ``(n, m)`` splits into channels (see the module); None:
        one channel.

    Attributes
    ----------
    n_features_in_ : int
        ``length * channels`` of the fitted paths.
    path_shape_ : tuple
        ``(length, channels)`` of the fitted paths.
    windows_ : list of (int, int)
        The windows, over the augmented path.

    Notes
    -----
    Feature names (:meth:`get_feature_names_out`) give the word of each signature
    coordinate with 0-based letters (the channels of the augmented path), as
    ``"S(0,2)"``; ``"logS(0,1)"`` for a Lyndon word's coefficient, and
    ``"logS[0,[0,1]]"`` for a Lyndon or Hall bracket. With several windows
    each name starts with its window, ``"w3_S(0,2)"`` (windows from 0).

    Examples
    --------
    >>> import numpy as np
    >>> from sigrs.sklearn import SignatureTransformer
    >>> X = np.random.rand(10, 50, 2)                  # 10 paths, 50 points, 2 channels
    >>> t = SignatureTransformer(window_name="dyadic", window_depth=2, depth=3)
    >>> t.fit_transform(X).shape                      # 7 windows x sig_length(3, 3) features
    (10, 273)
    >>> t.get_feature_names_out()[[0, 40, 272]].tolist()
    ['w0_S(0)', 'w1_S(1)', 'w6_S(2,2,2)']
    """

    def __init__(self, augmentation_list: Any = ("basepoint", "addtime"), window_name: str = "dyadic",
                 window_depth: int = 3, window_length: Optional[int] = None, window_step: Optional[int] = None,
                 rescaling: Optional[str] = None, sig_tfm: str = "signature", depth: int = 4,
                 logsig_method: str = "words", n_jobs: Optional[int] = -1, input_layout: str = "nlc",
                 n_channels: Optional[int] = None) -> None:
        self.augmentation_list = augmentation_list
        self.window_name = window_name
        self.window_depth = window_depth
        self.window_length = window_length
        self.window_step = window_step
        self.rescaling = rescaling
        self.sig_tfm = sig_tfm
        self.depth = depth
        self.logsig_method = logsig_method
        self.n_jobs = n_jobs
        self.input_layout = input_layout
        self.n_channels = n_channels

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _more_tags(self) -> dict:  # scikit-learn < 1.6
        return {**super()._more_tags(), "preserves_dtype": [np.float64, np.float32]}

    def _augmentations(self) -> tuple:
        augs = self.augmentation_list
        if augs is None:
            return ()
        if isinstance(augs, str):
            augs = (augs,)
        try:
            augs = tuple(augs)
        except TypeError:
            raise ValueError(f"augmentation_list must be None, a str or a sequence of str, got {augs!r}") from None
        for a in augs:
            if a not in AUGMENTATIONS:
                raise ValueError(f"augmentation_list may hold only {', '.join(map(repr, AUGMENTATIONS))}, got {a!r} in {augs!r}")
        return augs

    def _check_params(self) -> tuple:
        augs = self._augmentations()
        _check_choice(self.sig_tfm, "sig_tfm", ("signature", "logsignature"))
        _check_choice(self.logsig_method, "logsig_method", _LOGSIG_METHODS)
        if self.rescaling is not None:
            _check_choice(self.rescaling, "rescaling", ("pre", "post"))
        if self.rescaling == "post" and self.sig_tfm == "logsignature":
            raise ValueError("rescaling='post' scales signature levels and does not apply to sig_tfm='logsignature' "
                             "(as in sktime); use rescaling=None or 'pre'")
        _positive_int(self.depth, "depth", 1)
        return augs

    def fit(self, X: Any, y: Any = None) -> "SignatureTransformer":
        """Checks the parameters and records the shape of the paths.

        Parameters
        ----------
        X : array-like, ``(n, length, channels)`` (or ``(n, channels,
            length)``, or 2-D: see the module)
        y : ignored

        Returns
        -------
        self
        """
        augs = self._check_params()
        paths = _validated_paths(self, X, True, [np.float64, np.float32])
        length, channels = _augmented_shape(*paths.shape[1:], augs)
        self.windows_ = signature_windows(self.window_name, length, window_depth=self.window_depth,
                                          window_length=self.window_length, window_step=self.window_step)
        self.augmented_channels_ = channels
        return self

    def transform(self, X: Any) -> np.ndarray:
        """The signature features of each path.

        Parameters
        ----------
        X : array-like, paths of the fitted shape

        Returns
        -------
        ndarray ``(n, n_windows * features)``: window after window, each
        ``sig_length(channels, depth)`` signature coordinates (or
        ``log_sig_length`` log-signature ones) of the augmented path. The
        dtype of ``X`` (float32 or float64; float64 for other input).
        """
        check_is_fitted(self)
        augs = self._check_params()
        paths = _validated_paths(self, X, False, [np.float64, np.float32])
        for name in augs:
            paths = _augment(paths, name)
        if self.rescaling == "pre":
            paths = paths * paths.dtype.type(math.factorial(self.depth) ** (1.0 / self.depth))
        n, length, d = paths.shape
        sig_len = (d ** (self.depth + 1) - 1) // (d - 1) if d > 1 else self.depth + 1  # with the scalar term
        step = max(1, _PREFIX_BYTES // max(1, length * sig_len * paths.itemsize))
        out = np.concatenate([self._windows(paths[i:i + step]) for i in range(0, max(n, 1), step)], axis=0)
        return out.reshape(n, -1)

    def _windows(self, paths: np.ndarray) -> np.ndarray:
        """``(n, n_windows, features)`` for a slice of the batch."""
        n, length, d = paths.shape
        n_jobs = _n_jobs(self.n_jobs)
        starts = np.array([a for a, _ in self.windows_])
        ends = np.array([b - 1 for _, b in self.windows_])
        if len(self.windows_) == 1 and self.windows_[0] == (0, length):
            sigs = _sig(paths, self.depth, scalar_term=True, n_jobs=n_jobs)[:, None]
        else:
            # prefixes[:, t] = S(x_0 .. x_t); t = 0 is the identity
            rows = _sig(paths, self.depth, stream=True, scalar_term=True, n_jobs=n_jobs)
            identity = np.zeros((n, 1, rows.shape[-1]), paths.dtype)
            identity[..., 0] = 1
            prefixes = np.concatenate([identity, rows], axis=1)
            sigs = prefixes[:, ends]
            if starts.any():
                before = sig_inverse(prefixes[:, starts], d, self.depth, n_jobs=n_jobs)
                sigs = sig_combine(before, sigs, d, self.depth, n_jobs=n_jobs)
        if self.sig_tfm == "logsignature":
            return sig_to_log_sig(sigs, d, self.depth, method=self.logsig_method, n_jobs=n_jobs)
        sigs = sigs[..., 1:]
        if self.rescaling == "post":
            factors = np.concatenate([np.full(d**k, math.factorial(k), paths.dtype) for k in range(1, self.depth + 1)])
            sigs = sigs * factors
        return sigs

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The name of each output column (see the class).

        Parameters
        ----------
        input_features : ignored (the names come from words, not inputs)

        Returns
        -------
        ndarray of str, ``(n_windows * features,)``
        """
        check_is_fitted(self)
        d, depth = self.augmented_channels_, self.depth
        if self.sig_tfm == "signature":
            names = [f"S({','.join(map(str, w))})" for w in _words(d, depth)[1:]]
        elif self.logsig_method == "words":
            names = [f"logS({','.join(map(str, w))})" for w in lyndon_words(d, depth)]
        else:
            basis = lyndon_brackets(d, depth) if self.logsig_method == "lyndon" else hall_basis(d, depth)
            names = [f"logS[{b}]" if isinstance(b, int) else f"logS{_bracket(b)}" for b in basis]
        if len(self.windows_) > 1:
            names = [f"w{k}_{name}" for k in range(len(self.windows_)) for name in names]
        return np.asarray(names, dtype=object)


# --- signature kernels ------------------------------------------------------------------


_STATIC_KERNELS = {
    "linear": (_static.LinearKernel, ()),
    "scaled_linear": (_static.ScaledLinearKernel, ()),
    "rbf": (_static.RBFKernel, ("sigma",)),
    "matern12": (_static.Matern12Kernel, ("sigma",)),
    "matern32": (_static.Matern32Kernel, ("sigma",)),
    "matern52": (_static.Matern52Kernel, ("sigma",)),
    "rational_quadratic": (_static.RationalQuadraticKernel, ("sigma",)),
    "polynomial": (_static.PolynomialKernel, ()),
}


def _static_kernel(static_kernel: Any, sigma: Any, params: Any) -> Any:
    """The :class:`sigrs.StaticKernel` that a name (with ``sigma`` and ``params``) or an instance names."""
    if isinstance(static_kernel, _static.StaticKernel):
        return static_kernel
    if not isinstance(static_kernel, str) or static_kernel not in _STATIC_KERNELS:
        raise ValueError(
            f"static_kernel must be a sigrs.StaticKernel or one of {', '.join(map(repr, _STATIC_KERNELS))}, got {static_kernel!r}"
        )
    cls, takes = _STATIC_KERNELS[static_kernel]
    kwargs = dict(params or {})
    if "sigma" in takes:
        kwargs.setdefault("sigma", sigma)
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise ValueError(f"static_kernel_params {params!r} do not fit static_kernel={static_kernel!r}: {error}") from None


class _KernelParams:
    """The parameters every signature-kernel class shares, and the Gram they give."""

    def __init__(self, dyadic_order: Any = 1, static_kernel: Any = "linear", sigma: float = 1.0,
                 static_kernel_params: Optional[dict] = None, time_aug: bool = False, lead_lag: bool = False,
                 end_time: float = 1.0, normalize: bool = False, n_jobs: Optional[int] = -1, max_batch: int = -1,
                 input_layout: str = "nlc", n_channels: Optional[int] = None) -> None:
        self.dyadic_order = dyadic_order
        self.static_kernel = static_kernel
        self.sigma = sigma
        self.static_kernel_params = static_kernel_params
        self.time_aug = time_aug
        self.lead_lag = lead_lag
        self.end_time = end_time
        self.normalize = normalize
        self.n_jobs = n_jobs
        self.max_batch = max_batch
        self.input_layout = input_layout
        self.n_channels = n_channels

    def _gram(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        kernel = _static_kernel(self.static_kernel, self.sigma, self.static_kernel_params)
        return sig_kernel_gram(
            x, y, dyadic_order=self.dyadic_order, static_kernel=kernel, time_aug=self.time_aug, lead_lag=self.lead_lag,
            end_time=self.end_time, normalize=self.normalize, n_jobs=_n_jobs(self.n_jobs), max_batch=self.max_batch,
        )


_KERNEL_PARAMS_DOC = """
    dyadic_order : int or (int, int), default=1
        Refinement of the PDE grid (see :func:`sigrs.sig_kernel`).
    static_kernel : str or sigrs.StaticKernel, default="linear"
        ``"linear"``, ``"scaled_linear"``, ``"rbf"``, ``"matern12"``,
        ``"matern32"``, ``"matern52"``, ``"rational_quadratic"``,
        ``"polynomial"`` (the kernels of ``sigrs.static_kernels``), or an
        instance.
    sigma : float, default=1.0
        The length scale of ``"rbf"``, the Matern and the rational quadratic
        kernels (a parameter of its own so that a grid search can tune it).
    static_kernel_params : dict or None, default=None
        Other keyword arguments of the static kernel (``scale``, ``alpha``,
        ``degree``, ``gamma``).
    time_aug, lead_lag : bool, default=False
        Transform the paths first, as in :func:`sigrs.sig_kernel` (time last,
        channels ``(lag, lead)``).
    end_time : float, default=1.0
    normalize : bool, default=False
        ``k(x, y) / sqrt(k(x, x) k(y, y))``.
    n_jobs : int or None, default=-1
        Threads: -1 all cores, None or 1 serial.
    max_batch : int, default=-1
        Pairs per chunk (see :func:`sigrs.sig_kernel_gram`).
    input_layout : {"nlc", "ncl"}, default="nlc"
    n_channels : int or None, default=None
        How rows of 2-D input split into channels (see the module).
"""


class SignatureKernel(_KernelParams, BaseEstimator):
    # the shared parameters are written once (_KERNEL_PARAMS_DOC)
    __doc__ = """The signature kernel as a function ``kernel(X, Y)`` of two 2-D arrays, for
    estimators that take a kernel callable (``SVC(kernel=SignatureKernel(...))``).

    Called on two 1-D rows, as ``sklearn.metrics.pairwise_kernels`` (and so
    ``KernelRidge``) calls a callable metric, it returns their kernel as a
    float; that solves one PDE per call, so prefer the 2-D form or
    :class:`SignatureGram` where the estimator allows.

    scikit-learn hands such a callable 2-D arrays only, so each row is one
    flattened path: tell it the channels with ``n_channels`` (and their order
    with ``input_layout``). Its parameters are nested parameters of the
    estimator holding it (``svc__kernel__dyadic_order`` in a grid search).
    It is not itself an estimator (it has no ``fit``).

    Parameters
    ----------""" + _KERNEL_PARAMS_DOC + """
    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.svm import SVC
    >>> from sigrs.sklearn import SignatureKernel
    >>> X = np.random.rand(20, 30 * 2)                       # 20 paths of 30 points, 2 channels
    >>> y = np.arange(20) % 2
    >>> k = SignatureKernel(n_channels=2, static_kernel="rbf", sigma=0.5)
    >>> k(X[:3], X).shape
    (3, 20)
    >>> SVC(kernel=k).fit(X, y).predict(X[:4]).shape
    (4,)
    """

    def __call__(self, X: Any, Y: Any = None) -> np.ndarray:
        """The Gram matrix ``K[i, j] = k(X[i], Y[j])`` (``Y = X`` when None).

        Parameters
        ----------
        X : ``(n_x, length * channels)``; Y : ``(n_y, length * channels)`` or None
            (or two 1-D rows)

        Returns
        -------
        ndarray ``(n_x, n_y)``, float64 (a float for two rows)
        """
        if Y is not None and np.ndim(X) == 1 and np.ndim(Y) == 1:
            return float(self._gram(self._paths(np.asarray(X)[None], "X"), self._paths(np.asarray(Y)[None], "Y"))[0, 0])
        x = self._paths(X, "X")
        y = x if Y is None else self._paths(Y, "Y")
        return self._gram(x, y)

    def _paths(self, X: Any, name: str) -> np.ndarray:
        # 2-D, finite, dense, numeric: what scikit-learn hands a kernel callable
        X = check_array(X, dtype=np.float64, input_name=name)
        return _to_paths(X, self.n_channels, self.input_layout, None)


class SignatureGram(_PathTags, _KernelParams, TransformerMixin, BaseEstimator):
    # the shared parameters are written once (_KERNEL_PARAMS_DOC)
    __doc__ = """Signature-kernel features: ``fit`` keeps the training paths, ``transform``
    returns the Gram matrix of signature kernels against them.

    Made for ``Pipeline([("gram", SignatureGram(...)), ("svc",
    SVC(kernel="precomputed"))])``, which cross-validates and grid-searches
    over the kernel's parameters like any pipeline (each fold keeps its own
    training paths).

    Parameters
    ----------""" + _KERNEL_PARAMS_DOC + """
    Attributes
    ----------
    X_fit_ : ndarray ``(n_train, length, channels)``
        The training paths, float64.
    n_features_in_ : int
        ``length * channels``.
    path_shape_ : tuple
        ``(length, channels)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.pipeline import Pipeline
    >>> from sklearn.svm import SVC
    >>> from sigrs.sklearn import SignatureGram
    >>> X, y = np.random.rand(20, 30, 2), np.arange(20) % 2      # 20 paths of 30 points, 2 channels
    >>> model = Pipeline([("gram", SignatureGram(static_kernel="rbf")), ("svc", SVC(kernel="precomputed"))])
    >>> model.fit(X, y).predict(X[:4]).shape
    (4,)
    >>> SignatureGram().fit(X).transform(X[:3]).shape
    (3, 20)
    """

    def fit(self, X: Any, y: Any = None) -> "SignatureGram":
        """Keeps the training paths.

        Parameters
        ----------
        X : array-like, ``(n, length, channels)`` (or see the module); y : ignored

        Returns
        -------
        self
        """
        _static_kernel(self.static_kernel, self.sigma, self.static_kernel_params)  # a bad kernel fails here
        self.X_fit_ = _validated_paths(self, X, True, np.float64)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """``K[i, j] = k(X[i], X_fit_[j])``.

        Parameters
        ----------
        X : array-like, paths of the fitted shape

        Returns
        -------
        ndarray ``(n, n_train)``, float64
        """
        check_is_fitted(self)
        return self._gram(_validated_paths(self, X, False, np.float64), self.X_fit_)

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        """``fit(X).transform(X)``, solving only one triangle of the symmetric Gram matrix."""
        self.fit(X)
        return self._gram(self.X_fit_, self.X_fit_)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """``"k0", "k1", ...``: the kernel against each training path.

        Returns
        -------
        ndarray of str, ``(n_train,)``
        """
        check_is_fitted(self)
        return np.asarray([f"k{j}" for j in range(len(self.X_fit_))], dtype=object)
