"""Host side of the sparse kernels: SciPy matrices checked and laid out on PEs as (value, index) pairs.

A PE owns some rows of the matrix and holds only their nonzeros, each as two 32-bit words: the value
and a packed index word `(local row << 16) | local column`. The local column counts from the first
column the PE's nonzeros touch (its x *window*), so that a PE needs only x[c0 : c0 + window] and a
banded matrix (a stencil) needs only a band of x. Everything here is NumPy over all nonzeros at once.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import scipy.sparse as sp

from ...arch.spec import PRESET_SIZES, WaferSpec
from ...arch.values import whole_argument
from ...errors import ArgumentError, ArgumentTypeError, call_checked
from ...runtime.device import Device
from ..hosting import complex_input_error, float32_input

INDEX_LIMIT = 1 << 16  # rows and columns of a PE's block: 16 bits each in a packed index word
MAX_BLOCK_WIDTH = 64  # PEs are laid out in rows of at most this many
# The most PEs a host function places: those of the largest wafer preset. (Without a limit pes=2**40 was a
# bare MemoryError from NumPy, building per-PE arrays of 8 TiB.)
MAX_PES = max(w * h for w, h in PRESET_SIZES.values())
CODE_RESERVE_WORDS = 1024  # SRAM kept for the kernel's code and scratch when checking that data fits


@call_checked
def as_csr(a, name: str = "a") -> sp.csr_array:
    """`a` (a SciPy sparse matrix or array, or a dense 2-D array) as a new float32 CSR with explicit zeros
    removed (a stored zero would still be multiplied) and sorted column indices; `a` itself is left as it was."""
    if not (sp.issparse(a) or isinstance(a, np.ndarray)):
        raise ArgumentTypeError(f"{name} must be a SciPy sparse matrix (or a 2-D NumPy array), got "
                                f"{type(a).__name__}")
    if len(a.shape) != 2:
        raise ArgumentError(f"{name} must be 2-D, got shape {a.shape}")
    if a.dtype.kind == "c":  # (the dtype: a DOK matrix has no .data)
        raise complex_input_error(name, f"is complex ({a.dtype})", "matrices")
    if sp.issparse(a):
        check_structure(a, name)
    if isinstance(a, np.ndarray):  # (dense: the values checked as every float32 input is, before the cast)
        a = float32_input(a, name)
    elif a.dtype.kind in "iu":  # duplicates of a COO matrix are added in its dtype: int8 100 + 100 was -56
        a = a.astype(np.int64)
    try:  # (a copy: removing zeros and sorting indices must not change the caller's matrix, nor share arrays)
        csr = sp.csr_array(a, copy=True)
    except (TypeError, ValueError) as exc:
        raise ArgumentTypeError(f"{name} cannot be converted to float32: {exc}") from None
    # The stored values by the kernels' input rule (integers beyond 2**24 and finite values beyond float32's
    # range are refused, not rounded or made inf), after duplicates of a COO matrix are added in its dtype.
    csr.sum_duplicates()
    csr = sp.csr_array((float32_input(csr.data, name), csr.indices, csr.indptr), shape=csr.shape, copy=False)
    csr.eliminate_zeros()
    csr.sort_indices()
    return csr


def check_structure(a, name: str) -> None:
    """Refuse a SciPy matrix (or 1-D sparse vector) whose index arrays do not describe its shape. SciPy checks a CSR/CSC/BSR's column
    (row) indices only on request, and a COO's coordinates only when it is built: a CSR made from
    (data, indices, indptr) with index -1 gave y = x[-1] here, one past its columns a silent 0, and a COO edited
    after it was built crashes SciPy's own conversion. Checked on a copy (check_format may rewrite the index
    arrays' dtype), so that the caller's matrix is left as it was."""
    if a.format in ("csr", "csc", "bsr"):
        try:
            a.copy().check_format(full_check=True)
        except ValueError as exc:
            raise ArgumentError(f"{name} is not a well-formed {a.format.upper()} matrix of shape {a.shape}: {exc}",
                                shape=a.shape) from None
    elif a.format == "coo":  # (a matrix's rows and columns, or a 1-D sparse vector's one axis)
        for axis, coords in enumerate(a.coords):
            if coords.size and (coords.min() < 0 or coords.max() >= a.shape[axis]):
                what = ("row", "column")[axis] if a.ndim == 2 else "vector"
                raise ArgumentError(f"{name} is not a well-formed COO {'matrix' if a.ndim == 2 else 'vector'} of "
                                    f"shape {a.shape}: its {what} indices run from {coords.min()} to {coords.max()}, "
                                    f"outside 0 .. {a.shape[axis] - 1}", shape=a.shape)


def dense_vector(x, n: int, name: str = "x"):
    """`x` with a SciPy sparse vector (a 1-D sparse array of shape (n,)) made dense, so that the checks that
    follow see its shape; a 2-D sparse x is refused naming its shape (np.asarray made it a 0-d object array,
    which was refused as "got shape ()")."""
    if not sp.issparse(x):
        return x
    if x.ndim == 1:
        check_structure(x, name)  # (an edited COO vector's index past its length read as 0, or worse, in toarray)
        return x.toarray()
    raise ArgumentError(f"{name} must be a vector of length {n}, got a SciPy sparse {x.format} of shape {x.shape}: "
                        f"pass a 1-D sparse array (scipy.sparse.coo_array(v)) or {name}.toarray().ravel()")


def vector_block(x, n: int, name: str, what: str) -> np.ndarray:
    """`x` as a float32 (n, k) array: a length-n vector (k = 1) or an (n, k) matrix."""
    x = float32_input(x.toarray() if sp.issparse(x) else x, name)
    if x.ndim not in (1, 2) or x.shape[0] != n:
        raise ArgumentError(f"{name} must have {n} rows ({what}), got shape {x.shape}")
    return x[:, None] if x.ndim == 1 else x  # (not reshape(n, -1): that fails for n = 0)


def without_empty_sides(csr: sp.csr_array, b: np.ndarray) -> tuple[sp.csr_array, np.ndarray]:
    """An empty product as one the kernels can run: a matrix without columns gets one zero column (and the
    (n, k) block b one zero row), a b without columns one zero column. The product is the same, zeros (as
    SciPy gives it); the caller keeps its first k columns. (A kernel's local arrays cannot have length 0.)"""
    m, n = csr.shape
    if n == 0:
        csr, b = sp.csr_array((m, 1), dtype=np.float32), np.zeros((1, b.shape[1]), dtype=np.float32)
    if b.shape[1] == 0:
        b = np.zeros((b.shape[0], 1), dtype=np.float32)
    return csr, b


def block_shape(pes: int, device: Any = None, spare: int = 0) -> tuple[int, int]:
    """(width, height) of a block of at least `pes` PEs, in rows of up to MAX_BLOCK_WIDTH, and no wider
    than `device`'s wafer less `spare` columns (spmspv's source PE), so that 9 PEs on an 8 x 8 wafer are two
    rows of 8 rather than a 9-wide row no 8-wide wafer holds. (Each output row is one PE's, added in pair
    order, so the partition changes no result.)"""
    if not isinstance(pes, (int, np.integer)) or isinstance(pes, bool) or pes < 1:
        raise ArgumentError(f"pes must be a whole number of PEs >= 1, got {pes!r}")
    if pes > MAX_PES:
        name, (w, h) = max(PRESET_SIZES.items(), key=lambda item: item[1][0] * item[1][1])
        raise ArgumentError(f"pes = {pes} is more PEs than a wafer has: at most {MAX_PES:,} (the {w} x {h} PEs of "
                            f"'{name}'); a PE past the matrix's rows holds nothing, so a few rows a PE is plenty")
    width = min(int(pes), MAX_BLOCK_WIDTH)
    if isinstance(device, Device):  # (anything else is the host function's ArgumentTypeError to raise)
        width = max(1, min(width, device.spec.width - spare))
    return width, math.ceil(pes / width)


@dataclasses.dataclass
class SparseLayout:
    """The nonzeros of a matrix on a block of PEs.

    PE p (= y * width + x) owns the output rows `row_ids[offsets[p]:offsets[p + 1]]` (global row numbers,
    in local order) and the nonzeros `pairs[p, 1 : 1 + 2 * pairs[p, 0]]`; it reads
    x[col_start[p] : col_start[p] + window]."""

    width: int
    height: int
    rows: int  # local rows of the PE with the most (R)
    window: int  # x words of the PE with the widest window
    pairs: np.ndarray  # (pes, 1 + 2 * max nonzeros) int32: count, then (value bits, index) pairs
    col_start: np.ndarray  # (pes,) first column of each PE's window
    row_ids: np.ndarray  # global row of every owned row, PE by PE
    offsets: np.ndarray  # (pes + 1,) where each PE's rows start in row_ids
    nnz: np.ndarray  # (pes,) nonzeros per PE

    @property
    def pes(self) -> int:
        return self.width * self.height

    def x_windows(self, x: np.ndarray) -> np.ndarray:
        """(pes, k * window) float32: for each PE, each column of x's window, one after another."""
        n, k = x.shape
        cols = self.col_start[:, None] + np.arange(self.window)
        inside = cols < n
        windows = np.where(inside[:, :, None], x[np.minimum(cols, n - 1)], 0.0)  # (pes, window, k)
        return np.ascontiguousarray(windows.transpose(0, 2, 1).reshape(self.pes, k * self.window), dtype=np.float32)

    def gather_rows(self, y_blocks: np.ndarray, m: int, k: int) -> np.ndarray:
        """The (m, k) result from the kernel's (pes, k * rows) output; rows no PE owns are 0."""
        counts = np.diff(self.offsets)
        pe = np.repeat(np.arange(self.pes), counts)
        local = np.arange(len(pe)) - self.offsets[pe]
        y = np.zeros((m, k), dtype=np.float32)
        y[self.row_ids] = y_blocks.reshape(self.pes, k, self.rows)[pe, :, local]
        return y

    def check_fits(self, spec: WaferSpec, rhs: int, what: str) -> None:
        """An ArgumentError naming the PE, its sizes and the limits if its data cannot fit its SRAM."""
        if self.rows > INDEX_LIMIT or self.window > INDEX_LIMIT:
            # (more PEs shorten a PE's rows, but not the window of one row whose nonzeros lie far apart)
            remedy = "use more PEs" if self.window <= INDEX_LIMIT else (
                f"use more PEs (fewer rows each), or permute the columns so that each row's nonzeros lie within "
                f"{INDEX_LIMIT} columns of each other; a row spanning more is refused on any number of PEs")
            raise ArgumentError(f"{what}: a PE holds {self.rows} rows and an x window of {self.window} columns; a "
                                f"packed index word holds at most {INDEX_LIMIT} of each: {remedy}")
        words = self.pairs.shape[1] + rhs * (self.window + self.rows)
        limit = spec.sram_words - CODE_RESERVE_WORDS
        if words > limit:
            p = int(np.argmax(self.nnz))
            raise ArgumentError(f"{what}: PE {p} holds {int(self.nnz[p])} nonzeros (2 words each), an x window of "
                                f"{self.window} words and {self.rows} output rows per right-hand side ({rhs}): "
                                f"{words * 4} bytes, more than the {limit * 4} bytes of its {spec.sram_bytes}-byte "
                                f"SRAM left for data: use more PEs", needed=words * 4, available=limit * 4)


def layout_rows(csr: sp.csr_array, row_ids: np.ndarray, row_counts: np.ndarray, width: int,
                height: int) -> SparseLayout:
    """Lay out `csr` with PE p owning the next `row_counts[p]` rows of `row_ids` (ascending; a PE's
    nonzeros then lie in one contiguous run of CSR entries, as both partitions below give)."""
    pes = width * height
    m, n = csr.shape
    row_counts = np.concatenate([row_counts, np.zeros(pes - len(row_counts), dtype=np.int64)]).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(row_counts)])
    indptr = csr.indptr.astype(np.int64)
    per_row = np.diff(indptr)[row_ids]
    cumulative = np.concatenate([[0], np.cumsum(per_row)])
    nnz = cumulative[offsets[1:]] - cumulative[offsets[:-1]]
    first = np.where(row_counts > 0, indptr[row_ids[np.minimum(offsets[:-1], len(row_ids) - 1)]]
                     if len(row_ids) else 0, 0)
    local_row = np.full(m, -1, dtype=np.int64)
    local_row[row_ids] = np.arange(len(row_ids)) - np.repeat(offsets[:-1], row_counts)
    pe = np.repeat(np.arange(pes), nnz)
    slot = np.arange(len(pe)) - np.repeat(np.cumsum(nnz) - nnz, nnz)
    entry = first[pe] + slot  # CSR entries, PE by PE
    row_of_entry = np.repeat(np.arange(m), np.diff(indptr))[entry]
    cols = csr.indices[entry].astype(np.int64)
    col_start = np.full(pes, n, dtype=np.int64)
    col_end = np.zeros(pes, dtype=np.int64)
    np.minimum.at(col_start, pe, cols)
    np.maximum.at(col_end, pe, cols + 1)
    col_start = np.where(nnz > 0, col_start, 0)
    max_nnz = int(nnz.max(initial=0))
    pairs = np.zeros((pes, 1 + 2 * max_nnz), dtype=np.int32)
    pairs[:, 0] = nnz
    pairs[pe, 1 + 2 * slot] = csr.data[entry].astype(np.float32).view(np.int32)
    packed = (local_row[row_of_entry] << 16) | (cols - col_start[pe])
    pairs[pe, 2 + 2 * slot] = packed.astype(np.uint32).view(np.int32)
    window = int((col_end - col_start).max(initial=0))
    return SparseLayout(width, height, max(int(row_counts.max(initial=0)), 1), max(window, 1), pairs, col_start,
                        row_ids.astype(np.int64), offsets, nnz)


def row_blocks(m: int, pes: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR rows over PEs: PE p gets rows [p * R, (p + 1) * R), R = ceil(m / pes). (row_ids, row_counts)."""
    per = math.ceil(m / pes)
    counts = np.clip(m - per * np.arange(pes), 0, per)
    return np.arange(m, dtype=np.int64), counts


def nonempty_row_blocks(csr: sp.csr_array, pes: int) -> tuple[np.ndarray, np.ndarray]:
    """Hypersparse: only the rows with nonzeros, split into `pes` runs of about equal nonzero counts."""
    counts = np.diff(csr.indptr)
    nonempty = np.flatnonzero(counts).astype(np.int64)
    if len(nonempty) == 0:
        return nonempty, np.zeros(pes, dtype=np.int64)
    cumulative = np.cumsum(counts[nonempty])
    targets = cumulative[-1] * np.arange(1, pes) / pes
    cuts = np.minimum(np.searchsorted(cumulative, targets, side="left") + 1, len(nonempty))
    bounds = np.concatenate([[0], cuts, [len(nonempty)]])
    return nonempty, np.diff(bounds)


REPEATS_MAX = 2**31 - 1  # (the kernels' loop count is an int32 argument of the launch)


def check_repeats(repeats: object) -> int:
    """`repeats` as an int from 1 to 2**31 - 1: the kernels take it as an int32 (past it the launch refused
    "argument 4 (repeats)", naming no host function); an `ArgumentTypeError` for a non-integer."""
    if isinstance(repeats, (int, np.integer)) and not isinstance(repeats, bool) and repeats > REPEATS_MAX:
        raise ArgumentError(f"repeats must be at most 2**31 - 1 = {REPEATS_MAX} (the kernel's loop count is an "
                            f"int32), got {repeats}")
    return whole_argument(repeats, "repeats", 1)
