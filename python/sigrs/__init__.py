"""sigrs: fast, differentiable path signatures from NumPy, PyTorch and Rust.

The API follows pysiglib 4.0 (same names, parameters and outputs)::

    >>> import numpy as np, sigrs
    >>> x = np.random.rand(32, 100, 3)     # (batch, length, dim)
    >>> s = sigrs.sig(x, 4)                 # (32, sigrs.sig_length(3, 4))

Torch tensors work the same way and are differentiable through autograd.
"""

from ._native import CudaUnavailableError, SigrsError, __version__
from ._device import BUILT_WITH_AVX, SYSTEM, cuda_available, cuda_status, nvrtc_version, show_config
from ._device import lazy_module_attributes as _lazy_module_attributes
from .algebra import (
    extract_sig_coef,
    extract_sig_level,
    linear_sig,
    linear_sig_backprop,
    multi_sig_combine,
    multi_sig_combine_backprop,
    sig_combine,
    sig_combine_backprop,
    sig_inverse,
    sig_join,
    sig_join_backprop,
)
from .coef import sig_coef, sig_coef_backprop
from . import iisignature  # iisignature 0.24's API: `from sigrs import iisignature`
from .kernel import sig_kernel, sig_kernel_backprop, sig_kernel_gram, sig_kernel_gram_backprop
from .sig_metrics import expected_sig_score, sig_mmd, sig_score
from .static_kernels import (
    Context,
    LinearKernel,
    Matern12Kernel,
    Matern32Kernel,
    Matern52Kernel,
    PolynomialKernel,
    RationalQuadraticKernel,
    RBFKernel,
    ScaledLinearKernel,
    StaticKernel,
)
from .logsig import (
    clear_cache,
    hall_basis,
    is_lyndon,
    linear_log_sig,
    linear_log_sig_backprop,
    log_sig,
    log_sig_combine,
    log_sig_combine_backprop,
    log_sig_join,
    log_sig_join_backprop,
    log_sig_length,
    logsig_to_sig,
    logsig_to_sig_backprop,
    lyndon_brackets,
    lyndon_words,
    lyndon_words_of_length,
    prepare_log_sig,
    set_cache_dir,
    sig_to_log_sig,
    sig_to_log_sig_backprop,
)
from ._rotinv import rotinv2d, rotinv2dcoeffs, rotinv2dlength, rotinv2dprepare
from .signature import sig, sig_backprop, sig_length, signature
from .streams import LogSigStream, LogSigWindowStream, SigStream, SigWindowStream
from .transform import transform_path, transform_path_backprop
from .words import idx_to_word, word_to_idx, words, words_of_length

__all__ = [
    "BUILT_WITH_AVX",
    "BUILT_WITH_CUDA",
    "SYSTEM",
    "clear_cache",
    "set_cache_dir",
    "iisignature",
    "Context",
    "LinearKernel",
    "Matern12Kernel",
    "Matern32Kernel",
    "Matern52Kernel",
    "PolynomialKernel",
    "RBFKernel",
    "RationalQuadraticKernel",
    "ScaledLinearKernel",
    "StaticKernel",
    "expected_sig_score",
    "sig_mmd",
    "sig_score",
    "CudaUnavailableError",
    "LogSigStream",
    "LogSigWindowStream",
    "SigStream",
    "SigWindowStream",
    "SigrsError",
    "__version__",
    "cuda_available",
    "cuda_status",
    "nvrtc_version",
    "show_config",
    "extract_sig_coef",
    "extract_sig_level",
    "hall_basis",
    "linear_sig",
    "is_lyndon",
    "linear_log_sig",
    "linear_log_sig_backprop",
    "log_sig",
    "log_sig_combine",
    "log_sig_combine_backprop",
    "log_sig_join",
    "log_sig_join_backprop",
    "log_sig_length",
    "logsig_to_sig",
    "logsig_to_sig_backprop",
    "lyndon_brackets",
    "lyndon_words",
    "lyndon_words_of_length",
    "prepare_log_sig",
    "rotinv2d",
    "rotinv2dcoeffs",
    "rotinv2dlength",
    "rotinv2dprepare",
    "linear_sig_backprop",
    "multi_sig_combine",
    "multi_sig_combine_backprop",
    "sig_combine",
    "sig_combine_backprop",
    "sig_inverse",
    "sig_join",
    "sig_join_backprop",
    "idx_to_word",
    "sig",
    "sig_backprop",
    "sig_coef",
    "sig_coef_backprop",
    "sig_kernel",
    "sig_kernel_backprop",
    "sig_kernel_gram",
    "sig_kernel_gram_backprop",
    "sig_length",
    "sig_to_log_sig",
    "sig_to_log_sig_backprop",
    "signature",
    "transform_path",
    "transform_path_backprop",
    "word_to_idx",
    "words",
    "words_of_length",
]

__getattr__ = _lazy_module_attributes("sigrs")
