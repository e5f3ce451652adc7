"""Classic kernels, each a `@ws.jit` kernel with a host function (NumPy in; NumPy and `LaunchStats` out), tested
against NumPy/SciPy in tests/test_kernels_classic_*.py and described with their mapping onto the mesh in
docs/classic-kernels.md:

- `fft`: `fft` (a batch of 1-D FFTs, rows over a row of PEs), `fft2` (2-D, with a transpose through the
  fabric) and `fft_long` (one long vector, four-step), complex float32 as pairs of float32, radix-2 Stockham;
- `cholesky`: `cholesky` of an SPD matrix, columns dealt cyclically over a row of PEs; a matrix that is not
  positive definite raises `NotPositiveDefiniteError`;
- `histogram`: `histogram` with equal-width bins, each value routed to the PE owning its bin;
- `mandelbrot`: `mandelbrot` escape-time counts, a tile of pixels per PE, loops as long as the data needs.
"""
from .cholesky import NotPositiveDefiniteError, cholesky
from .common import TileTooLargeError
from .fft import fft, fft2, fft_long
from .histogram import histogram
from .mandelbrot import mandelbrot

__all__ = ["NotPositiveDefiniteError", "TileTooLargeError", "cholesky", "fft", "fft2", "fft_long", "histogram", "mandelbrot"]
