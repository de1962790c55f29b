"""pysiglib's torch namespace: ``import sigrs.torch_api as ...`` where a program had
``import pysiglib.torch_api as ...``.

pysiglib keeps a second set of functions here, wrapped in
``torch.autograd.Function`` s, because its top-level functions are not
differentiable. sigrs's top-level functions already are (each has its
autograd rule and runs on CPU and CUDA tensors), so this module hands out
those same functions under pysiglib's torch names; they take NumPy arrays
as well.

Example::

    >>> import torch
    >>> import sigrs.torch_api as sig_api
    >>> path = torch.rand(10, 100, 5, dtype=torch.float64, requires_grad=True)
    >>> sig_api.sig(path, 3).sum().backward()
    >>> path.grad.shape
    torch.Size([10, 100, 5])
"""

from . import BUILT_WITH_AVX, SYSTEM
from ._device import lazy_module_attributes as _lazy_module_attributes
from .algebra import extract_sig_coef, linear_sig, sig_combine, sig_join
from .coef import sig_coef
from .kernel import sig_kernel, sig_kernel_gram
from .logsig import (
    clear_cache,
    is_lyndon,
    linear_log_sig,
    log_sig,
    log_sig_combine,
    log_sig_join,
    log_sig_length,
    logsig_to_sig,
    lyndon_words,
    lyndon_words_of_length,
    prepare_log_sig,
    set_cache_dir,
    sig_to_log_sig,
)
from .sig_metrics import expected_sig_score, sig_mmd, sig_score
from .signature import sig, sig_length, signature
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
from .streams import LogSigStream, LogSigWindowStream, SigStream, SigWindowStream
from .transform import transform_path
from .words import idx_to_word, word_to_idx, words, words_of_length

__all__ = [
    "BUILT_WITH_AVX",
    "BUILT_WITH_CUDA",
    "SYSTEM",
    "Context",
    "LinearKernel",
    "LogSigStream",
    "LogSigWindowStream",
    "Matern12Kernel",
    "Matern32Kernel",
    "Matern52Kernel",
    "PolynomialKernel",
    "RBFKernel",
    "RationalQuadraticKernel",
    "ScaledLinearKernel",
    "SigStream",
    "SigWindowStream",
    "StaticKernel",
    "clear_cache",
    "expected_sig_score",
    "extract_sig_coef",
    "idx_to_word",
    "is_lyndon",
    "linear_log_sig",
    "linear_sig",
    "log_sig",
    "log_sig_combine",
    "log_sig_join",
    "log_sig_length",
    "logsig_to_sig",
    "lyndon_words",
    "lyndon_words_of_length",
    "prepare_log_sig",
    "set_cache_dir",
    "sig",
    "sig_coef",
    "sig_combine",
    "sig_join",
    "sig_kernel",
    "sig_kernel_gram",
    "sig_length",
    "sig_mmd",
    "sig_score",
    "sig_to_log_sig",
    "signature",
    "transform_path",
    "word_to_idx",
    "words",
    "words_of_length",
]

__getattr__ = _lazy_module_attributes("sigrs.torch_api")
