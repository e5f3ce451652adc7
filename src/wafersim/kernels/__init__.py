"""Kernels that show the programming model. `assembly` holds hand-written ISA programs (until the
compiler exists they are the reference workloads); `reference` holds plain NumPy versions to check them.
Subpackages: `ml` (ML kernels forward and backward), `classic` (FFTs, Cholesky, histogram, Mandelbrot;
docs/classic-kernels.md)."""
