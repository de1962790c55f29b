"""Type stubs of the compiled extension ``sigrs._native`` (crates/sig-py).

One function per op, called by the Python layer only, with arguments it has
already checked: arrays are aligned, C-contiguous float64 or float32 (one
dtype per call, taken from the first array), paths are ``(batch, length,
dim)``, ``out`` arrays are allocated by the caller and filled, and the
options are the family's record from :mod:`sigrs._options`. Every
call releases the GIL, stops with ``KeyboardInterrupt`` within tens of
milliseconds of Ctrl-C, and raises ``ValueError`` (bad sizes),
``OverflowError``, ``SigrsError`` (an internal error, with its message) or
``CudaUnavailableError``; never a crash.
"""

from typing import Any, Optional, Sequence

import numpy as np
from numpy.typing import NDArray

from ._options import (
    AlgebraOptions,
    CoefOptions,
    KernelOptions,
    LogSigOptions,
    SigOptions,
    StaticKernelOptions,
    TransformOptions,
)

Array = NDArray[np.floating]

__version__: str

class SigrsError(Exception):
    """Base class of the exceptions sigrs raises itself."""

class CudaUnavailableError(SigrsError):
    """A CUDA tensor was given but the GPU backend cannot run (the message says why)."""

def resolve_n_jobs(n_jobs: int) -> int:
    """``n_jobs`` as a thread count (1 serial, -1 all cores, k < -1 all but -k-1, at most the cores); ValueError for 0."""

def available_cores() -> int:
    """The cores this process may use (affinity and cgroup quota): the most threads any ``n_jobs`` runs with."""

def record_fields() -> dict[str, list[str]]:
    """The options records the binding reads (by position), and their fields in order."""

def simd_level() -> str:
    """The instruction set the CPU kernels run with here: ``"avx2+fma"`` or ``"baseline"``."""

def clear_basis_caches() -> None:
    """Drops the cached Lyndon and Hall tables (they are rebuilt on next use)."""

# Each op takes its family's options record from sigrs._options (read by position).

# --- signature ------------------------------------------------------------------------

def sig(path: Array, out: Array, initial: Optional[Array], options: SigOptions) -> None:
    """Signatures of ``path`` into ``out`` ``(B, n)`` (``(B, L - 1, n)`` with ``stream``), from ``initial`` ``(B, n)`` if given."""

def sig_backprop(
    path: Array, sig: Array, sig_derivs: Array, out: Array, initial: Optional[Array], initial_out: Optional[Array],
    options: SigOptions,
) -> None:
    """dF/d(path) into ``out`` ``(B, L, d)`` (and dF/d(initial) into ``initial_out``) from ``sig_derivs`` = dF/d(sig)."""

def sig_corrected(path: Array, correction: Array, out: Array, options: SigOptions) -> None:
    """Signatures ``(B, n)`` of ``path`` ``(B, L, d)`` with a per-segment correction: ``(C,)`` shared,
    ``(L - 1, C)`` per segment, or ``(B, L - 1, C)`` per path (the layout read from its number of axes)."""

def sig_corrected_backprop(
    path: Array, correction: Array, sig: Array, sig_derivs: Array, out: Array, correction_out: Optional[Array],
    options: SigOptions,
) -> None:
    """dF/d(path) into ``out`` and, if given, dF/d(correction) into ``correction_out`` (the correction's shape)."""

def sig_quick(
    path: Any, degree: Any, time_aug: Any, lead_lag: Any, end_time: Any, scalar_term: Any, stream: Any, inverse: Any,
    n_jobs: Any,
) -> Optional[Array]:
    """The signatures of a plain ndarray (float32/float64, C-contiguous, at least 2-D) with plain options
    (exact ``int``/``bool``/finite ``float``, ``n_jobs`` within the cores) and small work, as ``sigrs.sig``
    returns them; None for anything else (the caller then takes the checked path)."""

def sig_quick_tensor(
    data_ptr: int, shape: Sequence[int], float64: bool, degree: Any, time_aug: Any, lead_lag: Any, end_time: Any,
    scalar_term: Any, stream: Any, inverse: Any, n_jobs: Any,
) -> Optional[Array]:
    """:func:`sig_quick` on the memory of a C-contiguous CPU tensor of ``shape`` (kept alive by the caller), as a new ndarray."""

def sig_backprop_quick(
    path: Any, sig: Any, sig_derivs: Any, degree: Any, time_aug: Any, lead_lag: Any, end_time: Any, stream: Any,
    inverse: Any, n_jobs: Any,
) -> Optional[Array]:
    """dF/d(path) of plain ndarrays with plain options and small work, as ``sigrs.sig_backprop`` returns it
    (the scalar term read from ``sig``'s length); None for anything else, shapes that do not fit included."""

# --- transform ------------------------------------------------------------------------

def transform_path(path: Array, out: Array, options: TransformOptions) -> None:
    """The transformed paths ``(B, L', d')`` of ``path`` into ``out``."""

def transform_path_backprop(derivs: Array, out: Array, options: TransformOptions) -> None:
    """dF/d(path) into ``out`` ``(B, L, d)`` from ``derivs`` = dF/d(transformed path) ``(B, L', d')``."""

# --- algebra: signatures of any shape (..., n), read flat --------------------------------

def sig_combine(sig1: Array, sig2: Array, out: Array, options: AlgebraOptions) -> None:
    """``sig1 (x) sig2``, pairwise, into ``out``."""

def sig_combine_backprop(derivs: Array, sig1: Array, sig2: Array, out1: Array, out2: Array, options: AlgebraOptions) -> None:
    """Gradients of :func:`sig_combine` into ``out1`` and ``out2``."""

def multi_sig_combine(sigs: Array, out: Array, options: AlgebraOptions) -> None:
    """The product of ``sigs`` ``(B, k, n)`` along ``k`` into ``out`` ``(B, n)``."""

def multi_sig_combine_backprop(derivs: Array, sigs: Array, out: Array, options: AlgebraOptions) -> None:
    """Gradient of :func:`multi_sig_combine` into ``out`` ``(B, k, n)``."""

def sig_join(sig: Array, displacement: Array, out: Array, options: AlgebraOptions) -> None:
    """``sig (x) exp(displacement)`` (``exp(displacement) (x) sig`` with ``prepend``) into ``out``."""

def sig_join_backprop(derivs: Array, sig: Array, displacement: Array, out_sig: Array, out_displacement: Array, options: AlgebraOptions) -> None:
    """Gradients of :func:`sig_join` into ``out_sig`` and ``out_displacement``."""

def sig_scale(sig: Array, scales: Array, out: Array, dimension: int, degree: int, n_jobs: int) -> None:
    """``sig`` (without level 0) with word ``i1...ik`` times ``scales[i1]...scales[ik]``, into ``out``."""

def sig_scale_backprop(derivs: Array, sig: Array, scales: Array, out_sig: Array, out_scales: Array, dimension: int, degree: int, n_jobs: int) -> None:
    """Gradients of :func:`sig_scale` into ``out_sig`` and ``out_scales``."""

def sig_jacobian(path: Array, out: Array, dimension: int, degree: int, n_jobs: int) -> None:
    """``out[i, j, w]`` = d sig_w / d ``path[i, j]``: ``path`` ``(length, dimension)``, ``out`` ``(length, dimension, sig_len)`` (no level 0)."""

def linear_sig(displacement: Array, out: Array, options: AlgebraOptions) -> None:
    """``exp(displacement)`` into ``out``."""

def linear_sig_backprop(derivs: Array, displacement: Array, out: Array, options: AlgebraOptions) -> None:
    """Gradient of :func:`linear_sig` into ``out`` (shaped like ``displacement``)."""

def sig_inverse(sig: Array, out: Array, options: AlgebraOptions) -> None:
    """The inverses (antipodes) of ``sig`` into ``out``."""

def sig_inverse_backprop(derivs: Array, out: Array, options: AlgebraOptions) -> None:
    """Gradient of :func:`sig_inverse` (the antipode's transpose; level 0 gets 0) into ``out``."""

# --- log-signatures: method 0 expanded, 1 Lyndon words, 2 Lyndon basis, 4 Hall basis ---------

def sig_to_log_sig(sig: Array, out: Array, options: LogSigOptions) -> None:
    """Log-signatures of the signatures ``sig`` into ``out``."""

def sig_to_log_sig_backprop(sig: Array, derivs: Array, out: Array, options: LogSigOptions) -> None:
    """dF/d(sig) into ``out`` from ``derivs`` = dF/d(log-signature)."""

def logsig_to_sig(log_sig: Array, out: Array, options: LogSigOptions) -> None:
    """Signatures ``exp(L)`` of the log-signatures into ``out``."""

def logsig_to_sig_backprop(log_sig: Array, derivs: Array, out: Array, options: LogSigOptions) -> None:
    """dF/d(log_sig) into ``out`` from ``derivs`` = dF/d(signature)."""

def log_sig_combine(log_sig1: Array, log_sig2: Array, out: Array, options: LogSigOptions) -> None:
    """``BCH(log_sig1, log_sig2)`` (Lyndon coordinates, pairwise) into ``out``."""

def log_sig_combine_backprop(deriv: Array, ls1: Array, ls2: Array, out1: Array, out2: Array, options: LogSigOptions) -> None:
    """dF/d(ls1), dF/d(ls2) into ``out1``, ``out2`` from ``deriv`` = dF/d(combined)."""

def log_sig_join(log_sig: Array, displacement: Array, out: Array, options: LogSigOptions) -> None:
    """``BCH(log_sig, displacement)`` (Lyndon coordinates) into ``out``."""

def log_sig_join_backprop(
    d_out: Array, log_sig: Array, displacement: Array, out_log_sig: Array, out_displacement: Array, options: LogSigOptions
) -> None:
    """dF/d(log_sig), dF/d(displacement) into the outputs from ``d_out`` = dF/d(joined)."""

def log_sig_length(dimension: int, degree: int, method: int, scalar_term: bool) -> int:
    """Length of a log-signature for ``method`` (building its tables on first use)."""

def is_lyndon(word: list[int]) -> bool:
    """Whether ``word`` is a Lyndon word."""

def lyndon_words(dimension: int, degree: int) -> list[list[int]]:
    """The Lyndon words of length ``1..degree``, by length then lexicographically."""

def lyndon_brackets(dimension: int, degree: int) -> list[Optional[tuple[int, int]]]:
    """The standard bracketing ``(u, v)`` (positions in :func:`lyndon_words`) of each Lyndon word; None for a letter."""

def lyndon_triangle(dimension: int, degree: int) -> list[tuple[int, int, int]]:
    """``(w, u, c)``: Lyndon word ``u`` has coefficient ``c != 0`` in the expanded bracket of ``w``, by ``u`` then ``w``."""

def hall_basis(dimension: int, degree: int) -> list[Optional[tuple[int, int]]]:
    """The Hall basis in iisignature's order: None for a letter, ``(left, right)`` (earlier elements) for a bracket."""

# --- signature coefficients -------------------------------------------------------------

def sig_coef(path: Array, out: Array, prefixes: bool, options: CoefOptions) -> None:
    """Coefficients at the options' words (letters of the transformed path) into ``out`` ``(B, n)``; with ``prefixes``, of every prefix too."""

def sig_coef_backprop(path: Array, coefs: Array, derivs: Array, out: Array, options: CoefOptions) -> None:
    """dF/d(path) into ``out`` from the ``prefixes=True`` coefficients and ``derivs`` = dF/d(coefs)."""

# --- rotation invariants of planar paths --------------------------------------------------

def rotinv2d_spanning(level: int) -> tuple[NDArray[np.float64], int, NDArray[np.float64], int]:
    """The spanning invariants of an even ``level``: ``(real, n_real, imag, n_imag)``, rows flat ``(n, 2**level)``."""

def rotinv2d_known(degree: int) -> list[tuple[NDArray[np.float64], int, NDArray[np.float64], int]]:
    """The shuffle-product invariants of each even level up to ``degree``, as :func:`rotinv2d_spanning` gives one level."""

def rotinv2d_squish(rows: NDArray[np.float64], n_rows: int, level: int, parity: int) -> NDArray[np.float64]:
    """``rows`` as the flat ``(2**(level-1), n_rows)`` matrix of their words of ``parity`` (number of y's mod 2)."""

def rotinv2d_unsquish(matrix: NDArray[np.float64], n_cols: int, level: int, parity: int) -> NDArray[np.float64]:
    """The inverse of :func:`rotinv2d_squish`: the columns as flat rows ``(n_cols, 2**level)``."""

def rotinv2d_project_away(
    a: NDArray[np.float64], d: int, m: int, basis: NDArray[np.float64], basis_cols: int, rank: int
) -> NDArray[np.float64]:
    """``a`` ``(d, m)`` minus its columns' parts along the first ``rank`` columns of ``basis`` ``(d, basis_cols)``, in iisignature's order of operations."""

def rotinv2d(path: Array, coefficients: Array, out: Array, degree: int, rows_per_level: list[int], n_jobs: int) -> None:
    """Rotation invariants of ``path`` ``(B, L, 2)`` into ``out`` ``(B, n)`` for the flat basis ``coefficients`` (levels 2..degree)."""

def rotinv2d_backprop(
    path: Array, coefficients: Array, derivs: Array, out: Array, degree: int, rows_per_level: list[int], n_jobs: int
) -> None:
    """dF/d(path) into ``out`` ``(B, L, 2)`` from ``derivs`` = dF/d(invariants) ``(B, n)``."""

# --- words ------------------------------------------------------------------------------

def sig_length(dimension: int, degree: int, scalar_term: bool) -> int:
    """Length of a signature; OverflowError when it does not fit in memory."""

def word_to_idx(word: list[int], alphabet_size: int, scalar_term: bool) -> int:
    """Flat index of ``word`` in a signature."""

def idx_to_word(idx: int, alphabet_size: int, scalar_term: bool) -> list[int]:
    """The word at flat index ``idx``."""

# --- signature kernels: the static kernel is a built-in one, by name and parameters ------------
# names: "linear" [factor], "rbf" [sigma], "polynomial" [degree, gamma, scale], "matern12" [sigma],
# "matern32" [sigma], "matern52" [sigma], "rational_quadratic" [sigma, alpha].
# The solver: finite differences at dyadic orders (order1, order2), or, when options.poly_order > 0,
# the polynomial solver at that degree (grids then one value per vertex, (B, L1, L2); k_grid unread).

def sig_kernel(path1: Array, path2: Array, out: Array, options: KernelOptions) -> bool:
    """Kernels of the pairs ``(path1[p], path2[p])`` into ``out`` ``(B,)``, or the refined grids
    ``(B, G1, G2)`` with ``return_grid``; True when a polynomial kernel clamped a negative base."""

def sig_kernel_backprop(
    path1: Array, path2: Array, derivs: Array, k_grid: Optional[Array], out1: Array, out2: Array, options: KernelOptions
) -> None:
    """dF/d(path1) into ``out1`` (with ``left_deriv``) and dF/d(path2) into ``out2`` (with ``right_deriv``) from
    ``derivs`` = dF/dk (or dF/d(grid) with ``return_grid``)."""

def sig_kernel_from_increments(delta: Array, out: Array, options: KernelOptions) -> None:
    """Kernels from given double increments ``(B, n1, n2)`` (a user-written static kernel's) into ``out``."""

def sig_kernel_from_increments_backprop(delta: Array, derivs: Array, k_grid: Optional[Array], out: Array, options: KernelOptions) -> None:
    """dF/d(delta) into ``out`` ``(B, n1, n2)``."""

def static_kernel_deltas(x: Array, y: Array, out: Array, options: StaticKernelOptions) -> bool:
    """A built-in static kernel's double increments of ``x`` ``(B, L1, d)`` and ``y`` ``(B, L2, d)`` into
    ``out`` ``(B, L1 - 1, L2 - 1)``; True when a polynomial kernel clamped a negative base."""

def static_kernel_backprop(x: Array, y: Array, derivs: Array, out_x: Array, out_y: Array, options: StaticKernelOptions) -> None:
    """dF/dx into ``out_x`` and dF/dy into ``out_y`` from ``derivs`` = dF/d(delta)."""

# --- the GPU backend ------------------------------------------------------------------------

class CudaSigProblem:
    """A batch of paths and the signature options of a GPU call."""

    def __init__(
        self, *, batch: int, length: int, dim: int, degree: int, time_aug: bool, lead_lag: bool, end_time: float,
        scalar_term: bool, stream: bool, inverse: bool, float64: bool,
    ) -> None: ...

class CudaTransformProblem:
    """A batch of paths and the transform of a GPU ``transform_path`` call."""

    def __init__(self, *, batch: int, length: int, dim: int, time_aug: bool, lead_lag: bool, end_time: float, float64: bool) -> None: ...

class CudaPlacement:
    """Where and how to launch: device ordinal, ``CUstream`` handle, launch limits, NVRTC search directories."""

    def __init__(self, *, device: int, stream: int, max_blocks: int, force_global: bool, threads: int, nvrtc_dirs: list[str]) -> None: ...

def cuda_status() -> tuple[bool, str]:
    """``(available, detail)``: whether a CUDA driver with a device was found, and its version or why not."""

def cuda_sig_workspace(problem: CudaSigProblem, placement: CudaPlacement, backward: bool) -> tuple[int, int]:
    """``(scratch, incr_grads)``: numbers of scratch the forward (or backward) pass needs."""

def cuda_sig_forward(problem: CudaSigProblem, placement: CudaPlacement, paths: int, initial: int, out: int, scratch: int) -> None:
    """Signatures of device memory (pointers; ``initial`` 0 for none), queued on the placement's stream."""

def cuda_sig_backward(
    problem: CudaSigProblem, placement: CudaPlacement, paths: int, sigs: int, sig_grads: int, incr_grads: int,
    initial_grads: int, scratch: int, out: int,
) -> None:
    """Gradient of GPU signatures (pointers), queued on the placement's stream."""

def cuda_transform_path(problem: CudaTransformProblem, placement: CudaPlacement, paths: int, out: int) -> None:
    """``transform_path`` on device memory."""

def cuda_transform_path_backprop(problem: CudaTransformProblem, placement: CudaPlacement, derivs: int, out: int) -> None:
    """``transform_path_backprop`` on device memory."""

def cuda_sig_layout(d: int, degree: int) -> tuple[int, int, int, int, int]:
    """``(threads, block, sig_len, forward_len, backward_len)`` of the (d, degree) kernel specialisation."""

def cuda_compilations() -> int:
    """NVRTC compilations run by this process so far."""

def nvrtc_version(dirs: list[str]) -> tuple[int, int, str]:
    """``(major, minor, path)`` of the NVRTC found in ``dirs`` or on the system path."""

def nvrtc_compile_all(dirs: list[str]) -> list[tuple[str, Optional[int], str]]:
    """Compiles every bundled kernel: ``(file name, PTX bytes or None, error message)``."""

def nvrtc_compile(dirs: list[str], name: str, source: str) -> str:
    """The PTX of ``source`` compiled with the bundled kernels' options, or SigrsError with NVRTC's log."""

def cuda_kernel_sources() -> list[tuple[str, str]]:
    """The bundled CUDA sources: ``(file name, source)``."""
