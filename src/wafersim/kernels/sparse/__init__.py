"""Sparse kernels that never multiply by zero (docs/sparsity.md): SciPy sparse matrices in, NumPy out."""
from .dense import dense_spmv
from .layout import as_csr
from .spmspv import spmspv
from .spmv import hypersparse_spmv, spmm, spmv, stencil7_matrix, stencil7_spmv

__all__ = ["as_csr", "dense_spmv", "hypersparse_spmv", "spmm", "spmspv", "spmv", "stencil7_matrix", "stencil7_spmv"]
