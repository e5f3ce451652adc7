"""ML kernels on the mesh, float32, forward and backward, each with a host function (NumPy in, NumPy and
`LaunchStats` out), tested against NumPy in tests/test_kernels_ml.py:

- `dense`: `matmul` (the library's SUMMA GEMM, zero-padded to a square), `dense_forward` (y = x W + b),
  `dense_backward` (dX, dW, db), `column_sum`;
- `elementwise`: `bias_add`, `add`, `activation_forward` / `activation_backward` for ReLU, GELU (tanh
  approximation) and tanh;
- `rowwise`: `softmax` / `softmax_backward` (with a scale and an optional causal mask), `layer_norm` /
  `layer_norm_backward`, `cross_entropy` (softmax cross-entropy with its gradient);
- `attention`: `attention_forward` / `attention_backward`, one scaled dot-product attention head;
- `layout`: the row layout they share, `combine_stats` and `time_split`;
- `mixed`: mixed precision, `matmul_mixed` (16-bit operands, float32 accumulation) behind the `precision=`
  option of `dense_forward` and `dense_backward` (`PRECISIONS`: "float32", "float16", "bfloat16").

docs/training.md shows them at work in `wafersim.train`.
"""
from .attention import attention_backward, attention_forward
from .dense import column_sum, dense_backward, dense_forward, matmul
from .elementwise import ACTIVATIONS, activation_backward, activation_forward, add, bias_add
from .layout import DEFAULT_CHUNK, MLShapeError, TileTooLargeError, combine_stats, time_split
from .mixed import PRECISIONS, matmul_mixed
from .rowwise import cross_entropy, layer_norm, layer_norm_backward, softmax, softmax_backward

__all__ = [
    "ACTIVATIONS", "DEFAULT_CHUNK", "MLShapeError", "TileTooLargeError", "activation_backward", "activation_forward",
    "add", "attention_backward", "attention_forward",
    "bias_add", "column_sum", "combine_stats", "cross_entropy", "dense_backward", "dense_forward", "layer_norm",
    "layer_norm_backward", "matmul", "softmax", "softmax_backward", "time_split",
    "PRECISIONS", "matmul_mixed",
]
