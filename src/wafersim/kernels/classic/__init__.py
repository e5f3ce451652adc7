"""Classic kernels: FFT, Cholesky, histogram, Mandelbrot."""
