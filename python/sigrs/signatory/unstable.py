"""signatory's experimental API: the change of basis between ``"words"`` and ``"brackets"`` log-signatures."""

from .words import lyndon_words_to_basis_transform

__all__ = ["lyndon_words_to_basis_transform"]
