"""An sktime transformer: the signature method, computed by sigrs.

Install with ``pip install sigrs[sktime]``; ``import sigrs`` never imports
sktime. :class:`SignatureTransformer` takes the parameters of sktime's own
``SignatureTransformer`` (whose esig backend no longer installs) and gives
its features, computed by :class:`sigrs.sklearn.SignatureTransformer` (see
there for the parameters, the windows and the feature names). It is an
sktime ``BaseTransformer``: it takes every sktime Series and Panel format and
returns one row of features per series.

Example::

    >>> import numpy as np
    >>> from sigrs.sktime import SignatureTransformer
    >>> X = np.random.rand(10, 2, 50)                        # sktime's numpy3D: (n, channels, length)
    >>> SignatureTransformer(window_name="global", depth=3).fit_transform(X).shape
    (10, 39)
"""

from __future__ import annotations

from typing import Any, Optional

try:
    from sktime.transformations.base import BaseTransformer
except ImportError as error:  # pragma: no cover - the tests run with sktime installed
    raise ImportError(f"sigrs.sktime needs sktime ({error}): pip install 'sigrs[sktime]'") from error

import pandas as pd

from .sklearn import SignatureTransformer as _Features

__all__ = ["SignatureTransformer"]


class SignatureTransformer(BaseTransformer):
    """sktime's signature method (augmentations, windows, rescaling,
    (log-)signature), computed by sigrs, as an sktime transformer.

    Parameters
    ----------
    augmentation_list, window_name, window_depth, window_length, window_step, rescaling, sig_tfm, depth
        sktime's parameters, with their meanings (see
        :class:`sigrs.sklearn.SignatureTransformer`).
    logsig_method : {"words", "lyndon", "hall"}, default="words"
        The coordinates of log-signatures.
    n_jobs : int or None, default=-1
        Threads (-1 all cores).

    Examples
    --------
    >>> from sktime.datasets import load_unit_test            # doctest: +SKIP
    >>> X, y = load_unit_test(return_X_y=True)                # doctest: +SKIP
    >>> SignatureTransformer(depth=3).fit_transform(X).shape  # doctest: +SKIP
    (20, 195)
    """

    _tags = {
        "authors": ["sigrs"],
        "scitype:transform-input": "Series",
        "scitype:transform-output": "Primitives",
        "scitype:instancewise": True,
        "X_inner_mtype": "numpy3D",
        "y_inner_mtype": "None",
        "fit_is_empty": False,
        "capability:categorical_in_X": False,
    }

    def __init__(self, augmentation_list: Any = ("basepoint", "addtime"), window_name: str = "dyadic",
                 window_depth: int = 3, window_length: Optional[int] = None, window_step: Optional[int] = None,
                 rescaling: Optional[str] = None, sig_tfm: str = "signature", depth: int = 4,
                 logsig_method: str = "words", n_jobs: Optional[int] = -1) -> None:
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
        super().__init__()

    def _fit(self, X: Any, y: Any = None) -> "SignatureTransformer":
        """Checks the parameters on ``X`` ``(n, channels, length)``."""
        self.features_ = _Features(**self.get_params(), input_layout="ncl").fit(X)
        return self

    def _transform(self, X: Any, y: Any = None) -> pd.DataFrame:
        """The features of each series, ``(n, n_windows * features)``, columns named by word."""
        features = self.features_.transform(X)
        return pd.DataFrame(features, columns=self.features_.get_feature_names_out())

    @classmethod
    def get_test_params(cls, parameter_set: str = "default") -> list:
        """Parameters of the test instances sktime's checks build."""
        return [
            {},
            {"augmentation_list": ("basepoint", "addtime"), "depth": 3, "window_name": "global"},
            {"augmentation_list": ("leadlag",), "window_name": "sliding", "window_length": 3, "window_step": 2,
             "sig_tfm": "logsignature", "depth": 2},
        ]
