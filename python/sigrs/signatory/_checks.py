"""signatory's argument checks, in its order and with its messages.

signatory raises ValueError for bad values and its C++ binding TypeError for
non-int sizes; code written against it catches those, so every public
function of :mod:`sigrs.signatory` checks here before calling sigrs (whose
own checks raise other types with other messages).
"""

from __future__ import annotations

import operator
from typing import Any, Optional, Sequence, Tuple, Union

import torch

import sigrs

MODES = {"expand": 0, "words": 1, "brackets": 2}
"""signatory's log-signature modes and the sigrs ``method`` of each."""


def int_arg(value: Any, name: str) -> int:
    """``value`` as an int; TypeError for floats and other non-integers."""
    if type(value) is int:
        return value
    if isinstance(value, float):
        raise TypeError(f"Argument '{name}' must be an int, got float {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"Argument '{name}' must be an int, got {type(value).__name__} {value!r}") from None


def tensor_arg(value: Any, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"Argument '{name}' must be a torch.Tensor, got {type(value).__name__}")
    return value


def channels_depth(
    channels: Any,
    depth: Any,
    channels_message: str = "Argument 'channels' must be at least one.",
    depth_message: str = "Argument 'depth' must be an integer greater than or equal to one.",
) -> Tuple[int, int]:
    """Both as ints, at least one (signatory's messages vary from function to function)."""
    channels = int_arg(channels, "channels")
    depth = int_arg(depth, "depth")
    if channels < 1:
        raise ValueError(channels_message)
    if depth < 1:
        raise ValueError(depth_message)
    return channels, depth


def sig_length(channels: int, depth: int, scalar_term: bool = False) -> int:
    """:func:`sigrs.sig_length`, with signatory's ValueError when it does not fit in 64 bits."""
    try:
        return sigrs.sig_length(channels, depth, scalar_term=scalar_term)
    except OverflowError:
        raise ValueError("Integer overflow detected.") from None


def basepoint_arg(basepoint: Any) -> Union[bool, torch.Tensor]:
    """signatory's reading: ``True`` or a tensor is a basepoint; anything else is none."""
    if basepoint is True or isinstance(basepoint, torch.Tensor):
        return basepoint
    return False


def mode_arg(mode: Any) -> int:
    """The sigrs method of a signatory log-signature mode."""
    if isinstance(mode, str) and mode in MODES:
        return MODES[mode]
    raise ValueError("Invalid values for argument 'mode'. Valid values are 'expand', 'brackets', or 'words'.")


def _same_device_dtype(tensor: torch.Tensor, name: str, path: torch.Tensor) -> None:
    if tensor.device != path.device:
        raise ValueError(f"Argument '{name}' does not have the same device as 'path'.")
    if tensor.dtype != path.dtype:
        raise ValueError(f"Argument '{name}' does not have the same dtype as 'path'.")


def signature_args(
    path: Any, depth: Any, basepoint: Union[bool, torch.Tensor], initial: Optional[torch.Tensor], scalar_term: bool
) -> int:
    """Checks the arguments of :func:`signature`; returns ``depth``."""
    path = tensor_arg(path, "path")
    depth = int_arg(depth, "depth")
    if path.dim() == 2:
        raise ValueError(
            "Argument 'path' must be a 3-dimensional tensor, with dimensions corresponding to (batch, stream, "
            "channel) respectively. If you just want the signature or logsignature of a single path then wrap it in "
            "a single batch dimension by replacing e.g. `signature(path, depth)` with "
            "`signature(path.unsqueeze(0), depth).squeeze(0)`."
        )
    if path.dim() != 3:
        raise ValueError(
            "Argument 'path' must be a 3-dimensional tensor, with dimensions corresponding to (batch, stream, "
            f"channel) respectively; got shape {tuple(path.shape)}."
        )
    batch, length, channels = path.shape
    if batch == 0 or length == 0 or channels == 0:
        raise ValueError(f"Argument 'path' cannot have dimensions of size zero; got shape {tuple(path.shape)}.")
    if basepoint is False and length == 1:
        raise ValueError(
            "Argument 'path' must have stream dimension of size at least 2. (Need at least this many points to "
            "define a path.)"
        )
    if depth < 1:
        raise ValueError(f"Argument 'depth' must be an integer greater than or equal to one; got {depth}.")
    if not path.is_floating_point():
        raise ValueError(f"Argument 'path' must be of floating point type; got {path.dtype}.")
    if path.dtype != torch.float32 and path.dtype != torch.float64:
        # signatory raised ValueError for the floating dtypes it could not compute in, too
        raise ValueError(f"Argument 'path' must be float32 or float64 (sigrs computes in those); got {path.dtype}.")
    if isinstance(basepoint, torch.Tensor):
        if basepoint.dim() != 2:
            raise ValueError(
                "Argument 'basepoint' must be a 2-dimensional tensor, corresponding to (batch, channel) "
                f"respectively; got shape {tuple(basepoint.shape)}."
            )
        if tuple(basepoint.shape) != (batch, channels):
            raise ValueError(
                "Arguments 'basepoint' and 'path' must have dimensions of the same size; got basepoint "
                f"{tuple(basepoint.shape)} for path {tuple(path.shape)}, expected {(batch, channels)}."
            )
        _same_device_dtype(basepoint, "basepoint", path)
    if initial is not None:
        if initial.dim() != 2:
            raise ValueError(
                "Argument 'initial' must be a 2-dimensional tensor, corresponding to (batch, signature_channels) "
                f"respectively; got shape {tuple(initial.shape)}."
            )
        expected = (batch, sig_length(channels, depth, scalar_term))
        if tuple(initial.shape) != expected:
            raise ValueError(
                "Argument 'initial' must have correctly sized batch and channel dimensions; got "
                f"{tuple(initial.shape)}, expected {expected}."
            )
        _same_device_dtype(initial, "initial", path)
    return depth


def sigtensors_args(sigtensors: Sequence[Any], channels: Any, depth: Any, scalar_term: bool) -> Tuple[int, int]:
    """Checks the arguments of :func:`multi_signature_combine`; returns ``(channels, depth)``."""
    channels, depth = channels_depth(channels, depth)
    if len(sigtensors) == 0:
        raise ValueError("sigtensors must be of nonzero length.")
    expected = sig_length(channels, depth, scalar_term)
    for elem in sigtensors:
        tensor_arg(elem, "sigtensors")
        if elem.dim() != 2:
            raise ValueError(
                "An element of sigtensors is not two-dimensional. Every element must have two dimensions, "
                "corresponding to (batch, signature_channels(input_channels, depth, scalar_term)); got shape "
                f"{tuple(elem.shape)}."
            )
        if elem.shape[0] != sigtensors[0].shape[0]:
            raise ValueError("Not every element of sigtensors has the same number of batch dimensions.")
        if elem.shape[1] != expected:
            raise ValueError(
                f"An element of sigtensors did not have the right number of channels: got {elem.shape[1]}, expected "
                f"{expected}."
            )
    return channels, depth


def logsignature_args(signature: Any, channels: int, depth: int, stream: bool, scalar_term: bool) -> torch.Tensor:
    """Checks the signature given to :func:`signature_to_logsignature`."""
    signature = tensor_arg(signature, "signature")
    shape = tuple(signature.shape)
    if stream and signature.dim() != 3:
        raise ValueError(
            "Argument 'signature' must be a 3-dimensional tensor, with dimensions corresponding to (batch, stream, "
            f"channel) respectively; got shape {shape}."
        )
    if not stream and signature.dim() != 2:
        raise ValueError(
            "Argument 'signature' must be a 2-dimensional tensor, with dimensions corresponding to (batch, channel) "
            f"respectively; got shape {shape}."
        )
    if 0 in shape:
        raise ValueError(f"Argument 'signature' cannot have dimensions of size zero; got shape {shape}.")
    expected = sig_length(channels, depth, scalar_term)
    if shape[-1] != expected:
        raise ValueError(
            "Argument 'signature' has the wrong number of channels for the specified channels and depth; got "
            f"{shape[-1]}, expected {expected}."
        )
    if not signature.is_floating_point():
        raise ValueError(f"Argument 'signature' must be of floating point type; got {signature.dtype}.")
    if signature.dtype != torch.float32 and signature.dtype != torch.float64:
        raise ValueError(
            f"Argument 'signature' must be float32 or float64 (sigrs computes in those); got {signature.dtype}."
        )
    return signature
