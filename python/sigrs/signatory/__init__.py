"""signatory 1.2's public API over sigrs, for code written against signatory.

signatory (https://github.com/patrick-kidger/signatory) is pinned to torch
1.9. This package gives its functions, classes, argument checks and output
layouts on today's torch, so that::

    import sigrs.signatory as signatory

runs signatory code unchanged. Nothing here computes a signature or knows a
Lyndon word: signatures, products, inverses and log-signatures are sigrs
calls, interval queries go through :class:`sigrs.SigStream`, and words and
brackets come from sigrs's core. This package checks arguments the way
signatory does (ValueError for bad values), reads its options and reshapes.

The conventions are sigrs's too: a batch of paths is ``(batch, stream,
channel)`` (signatory requires exactly three dimensions), a signature is
``(batch, channels + ... + channels**depth)`` with words by length and then
lexicographically, and ``scalar_term=True`` prepends the constant 1.

Modules: ``signatures`` (signatures and their products), ``logsignatures``,
``words`` (words, Lyndon words and brackets, their counts and change of
basis), ``path`` (:class:`Path`), ``inversion`` (:func:`invert_signature`,
signatory's path reconstruction), ``augment`` (:class:`Augment` and the
deprecated :func:`max_parallelism`) and ``unstable``.

Example::

    >>> import torch
    >>> import sigrs.signatory as signatory
    >>> path = torch.rand(8, 20, 3, requires_grad=True)   # (batch, stream, channel)
    >>> sig = signatory.signature(path, 4)               # (8, 120)
    >>> sig.sum().backward()
"""

from . import unstable
from .augment import Augment, max_parallelism
from .inversion import invert_signature
from .logsignatures import (LogSignature, Logsignature, SignatureToLogSignature, SignatureToLogsignature,
                            logsignature, signature_to_logsignature)
from .path import Path
from .signatures import (Signature, extract_signature_term, multi_signature_combine, signature, signature_channels,
                         signature_combine)
from .words import all_words, logsignature_channels, lyndon_brackets, lyndon_words

__version__ = "1.2.6"
"""The signatory version whose API this package follows."""

__all__ = [
    "Augment", "LogSignature", "Logsignature", "Path", "Signature", "SignatureToLogSignature",
    "SignatureToLogsignature", "all_words", "extract_signature_term", "invert_signature", "logsignature",
    "logsignature_channels", "lyndon_brackets", "lyndon_words", "max_parallelism", "multi_signature_combine",
    "signature", "signature_channels", "signature_combine", "signature_to_logsignature", "unstable",
]
