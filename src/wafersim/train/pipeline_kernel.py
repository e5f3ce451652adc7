"""The kernel of one pipelined training step: every dense layer on its own column of PEs, weights and
optimizer state in SRAM, micro-batches of samples streaming through the columns over the fabric.

Launch one block of `L x H` PEs (L layers, H PEs per layer). PE (i, r) holds slice r of layer i: the
output neurons [r * c_i, (r + 1) * c_i) with their weights (K_i x c_i, row-major), bias, gradients and
optimizer state. The host pads every layer to H * c_i outputs with zero weights (`PipelineLayout.pack`), so
all slices are full; padded neurons stay exactly zero and padded logits are left out of the loss.

The batch of B samples goes through in B / M micro-batches of M samples (GPipe order: every micro-batch
forward, then every one backward, then one update). A message carries a slice for all M samples of a
micro-batch (feature-major: the M values of one feature next to each other), so a larger M means fewer,
longer messages and vector operations of length M; while column i works on micro-batch u, column i + 1
works on u - 1, so several micro-batches are in flight. For each micro-batch, forward:

1. column 0 loads its samples from device memory; column i > 0 receives its slice of layer i - 1's output
   from the west and all-gathers the K_i inputs along the column (slices pass south, then north; channel 0);
2. z = b + W_slice^T x for the M samples (K_i vector fmas of length M per output neuron), kept for the
   backward; a = f(z) goes east;
3. the last column computes softmax cross-entropy over the column, sample by sample (scalar all-reduces
   along the column, channel 1), keeps the gradient at its outputs and writes the loss of each sample.

Backward, for each micro-batch: the gradient at the outputs arrives from the east (or from step 3), dz =
da * f'(z); dW += x (x) dz and db += dz (sample by sample, vector fmas of length c_i); the partial input
gradient W_slice dz (K_i x M words, vector fmas of length M over a transposed copy of the weights made at
the start of the step) is reduce-scattered along the column (channel 2: each slice's partial sums travel
to the PE that owns that slice in the previous column), and each PE sends its summed slice west. Then the
optimizer (SGD with momentum, or Adam) updates weights and bias in SRAM, and they and the optimizer state
are written back to device memory.

A layer norm's column (CFG_KIND == NORM, between dense layers) holds each PE's gamma where a dense PE
holds its weights (K = 1) and beta where it holds its bias, so the same optimizer code updates them. It
receives its slice from the west (no all-gather: it needs only its own features) and all-reduces each
sample's sum and sum of squared deviations along the column (`norm_forward`); backward, the two sums of
its input gradient (`norm_backward`), and sends its slice of that gradient west.

**Mixed precision** (`half`, a 16-bit dtype: the trainer's `precision="bfloat16"` or `"float16"`) rounds
where weight-streaming mode's mixed kernels round (`kernels.ml.mixed`): the transposed weights the
products read are a 16-bit copy of the float32 master weights (which the optimizer updates, with its
float32 state); a dense layer rounds its inputs to 16 bits, sums the exact products in float32 from zero
in input order and adds the float32 bias last, then rounds z once; backward it rounds dz (after the
activation's gradient) and the input gradient it sends west. dW and db stay float32; layer norms, the
activations and the loss run in float32 on the 16-bit values. Values stay in float32 words (a 16-bit
value takes a word on the fabric and in SRAM anyway, docs/python-supported.md), so the products run at the
float32 rate. With more than one PE a column the input gradient's partial sums meet in another order than
a single product's (a rounding of float32 sums apart).
"""
from __future__ import annotations

import functools
import math
import operator

import numpy as np

from ..compiler import intrinsics as ws
from ..kernels.ml.elementwise import GELU, RELU, TANH, activate, activate_grad
from ..kernels.ml.rowwise import LOWEST
from ..kernels.reduce import MAX, SUM, combine
from ..runtime.jit import Dispatcher, jit

SGD_CODE, ADAM_CODE = 0, 1
NO_ACTIVATION = -1
# Columns of the per-layer configuration array (one row per layer, int32).
CFG_INPUTS, CFG_OUTPUTS_PER_PE, CFG_ACTIVATION, CFG_PREVIOUS_PER_PE, CFG_KIND, CFG_FEATURES = 0, 1, 2, 3, 4, 5
DENSE, NORM = 0, 1  # CFG_KIND: a dense layer, or a layer norm (its gamma in the weights, beta in the biases)


@jit
def activate_runtime(v, kind, relu_used, gelu_used, tanh_used):
    """f(v) for an activation code known only at run time (NO_ACTIVATION: v); the compile-time flags
    leave out the code of activations no layer has."""
    if relu_used and kind == RELU:
        return activate(v, RELU)
    if gelu_used and kind == GELU:
        return activate(v, GELU)
    if tanh_used and kind == TANH:
        return activate(v, TANH)
    return v


@jit
def activate_grad_runtime(v, g, kind, relu_used, gelu_used, tanh_used):
    """g * f'(v) for an activation code known only at run time (see `activate_runtime`)."""
    if relu_used and kind == RELU:
        return activate_grad(v, g, RELU)
    if gelu_used and kind == GELU:
        return activate_grad(v, g, GELU)
    if tanh_used and kind == TANH:
        return activate_grad(v, g, TANH)
    return g


@jit
def column_allreduce(v, op):
    """Reduce `v` over this PE's column of the block (up to row 0), and return the result on every PE."""
    acc = v
    if ws.has_neighbor(ws.SOUTH):
        acc = combine(acc, ws.recv(ws.SOUTH, channel=1), op)
    if ws.has_neighbor(ws.NORTH):
        ws.send(ws.NORTH, acc, channel=1)
        acc = ws.recv(ws.NORTH, channel=1)
    if ws.has_neighbor(ws.SOUTH):
        ws.send(ws.SOUTH, acc, channel=1)
    return acc


@jit
def optimizer_update(w, g, s1, s2, n, lr, h1, h2, eps, c1, c2, opt):
    """Update w[0:n] from its gradient g (which it overwrites): SGD (s1 the velocity, h1 the momentum) or
    Adam (s1, s2 the moments, h1, h2 the betas, c1, c2 the bias corrections 1 / (1 - beta ** t)); `opt`
    is a compile-time constant. Vector ops, but for Adam's square root and division (no vector form)."""
    s1[0:n] = s1[0:n] * h1
    if opt == ADAM_CODE:
        a1 = 1.0 - h1
        a2 = 1.0 - h2
        s1[0:n] = g[0:n] * a1 + s1[0:n]
        s2[0:n] = s2[0:n] * h2
        g[0:n] = g[0:n] * g[0:n]
        s2[0:n] = g[0:n] * a2 + s2[0:n]
        g[0:n] = s2[0:n] * c2
        for e in range(n):
            g[e] = 1.0 / (math.sqrt(g[e]) + eps)
        g[0:n] = g[0:n] * s1[0:n]
        step = -lr * c1
        w[0:n] = g[0:n] * step + w[0:n]
    else:
        s1[0:n] = s1[0:n] + g[0:n]
        step = -lr
        w[0:n] = s1[0:n] * step + w[0:n]


# The layer norm's rescaling where a sample's float32 sums overflow (values of about 2e19 and up): a power of
# two, so the scaled values are exact, small enough that values up to float32's largest square and sum within
# float32 (3.4e38 * 2**-100 = 2.7e8), large enough that the values that overflowed stay normal numbers.
NORM_SCALE = 2.0 ** -100


@jit
def norm_forward(y, zs, rs, gamma, beta, zb, sb, samples, c, valid, inv_features, eps):
    """Layer norm of a micro-batch's slice y (c x samples, feature-major) in place: each sample's mean
    and variance over the column (two all-reduces), the normalised values kept in zs[zb:] and each
    sample's 1/std in rs[sb:]; padded features (from `valid` on) give 0. A sample whose sum or sum of
    squared deviations leaves float32's range (finite values of about 2e19 and up) is normalised again
    from its values times NORM_SCALE (`norm_forward_scaled`): the same result, not one of beta or nan."""
    for m in range(samples):
        total = 0.0
        for j in range(valid):
            total += y[j * samples + m]
        mean = column_allreduce(total, SUM) * inv_features
        squares = 0.0
        for j in range(valid):
            d = y[j * samples + m] - mean
            squares += d * d
        spread = column_allreduce(squares, SUM)   # the same on every PE of the column: they branch alike
        if math.isfinite(spread):
            rstd = 1.0 / math.sqrt(spread * inv_features + eps)
            for j in range(c):
                e = j * samples + m
                normed = (y[e] - mean) * rstd if j < valid else 0.0
                zs[zb + e] = normed
                y[e] = normed * gamma[j] + beta[j]
        else:
            rstd = norm_forward_scaled(y, zs, gamma, beta, zb, m, samples, c, valid, inv_features, eps)
        rs[sb + m] = rstd


@jit
def norm_forward_scaled(y, zs, gamma, beta, zb, m, samples, c, valid, inv_features, eps):
    """`norm_forward` for sample m from its values times NORM_SCALE (exact: a power of two), whose sums stay
    in float32's range: xhat = (x s - mean(x s)) / sqrt(var(x s) + eps s**2); returns 1/std of x itself,
    rstd(x s) * s. A sample holding inf or nan still gives nan, as NumPy's layer norm does."""
    total = 0.0
    for j in range(valid):
        total += y[j * samples + m] * NORM_SCALE
    mean = column_allreduce(total, SUM) * inv_features
    squares = 0.0
    for j in range(valid):
        d = y[j * samples + m] * NORM_SCALE - mean
        squares += d * d
    scaled_eps = eps * NORM_SCALE * NORM_SCALE   # in two products: 2**-200 is below float32's range
    spread = column_allreduce(squares, SUM) * inv_features   # the same on every PE of the column
    rstd = 0.0
    unscaled = 1.0 / math.sqrt(eps)
    if spread != 0.0:  # (nan too: a sample holding inf or nan)
        rstd = 1.0 / math.sqrt(spread + scaled_eps)
        unscaled = rstd * NORM_SCALE
    # else every scaled value equals the mean exactly (the sums overflowed, so some value is 2**60 or more,
    # 2**-40 scaled: values all that near their mean differ from it by 0 or by 2**-66 and more, whose square
    # float32 holds): each output is beta and 1/std 1/sqrt(eps), as NumPy's, where 1/sqrt(0 + scaled_eps)
    # was inf (eps * 2**-200 rounds to 0 in float32) and the output 0 * inf, nan
    for j in range(c):
        e = j * samples + m
        normed = (y[e] * NORM_SCALE - mean) * rstd if j < valid else 0.0
        zs[zb + e] = normed
        y[e] = normed * gamma[j] + beta[j]
    return unscaled


@jit
def norm_backward(y, zs, rs, gamma, dgamma, dbeta, zb, sb, samples, c, valid, inv_features):
    """The layer norm's backward for a micro-batch: y holds the gradient at its outputs (c x samples) and
    gets the gradient at its inputs, dx = rstd (g - mean(g) - xhat mean(g xhat)) with g = dy gamma (the
    means all-reduced over the column); dgamma += dy xhat and dbeta += dy."""
    for m in range(samples):
        g_sum = 0.0
        gx_sum = 0.0
        for j in range(valid):
            g = y[j * samples + m] * gamma[j]
            g_sum += g
            gx_sum += g * zs[zb + j * samples + m]
        g_mean = column_allreduce(g_sum, SUM) * inv_features
        gx_mean = column_allreduce(gx_sum, SUM) * inv_features
        rstd = rs[sb + m]
        for j in range(c):
            e = j * samples + m
            dy = y[e]
            normed = zs[zb + e]
            dgamma[j] = dy * normed + dgamma[j]
            dbeta[j] = dbeta[j] + dy
            y[e] = rstd * (dy * gamma[j] - g_mean - normed * gx_mean) if j < valid else 0.0


@jit
def round_to_half(v, lo, n, hbuf):
    """Round v[lo:lo + n] in place to the 16-bit type of `hbuf` (a local 16-bit array of at least n
    elements): one conversion each way, `vcvth` then `vcvtf`."""
    hbuf[0:n] = v[lo:lo + n]
    v[lo:lo + n] = hbuf[0:n]


def local_words(batch: int, max_inputs: int, max_outputs: int, micro_batch: int = 1, mixed: bool = False) -> int:
    """SRAM words of the step kernel's local arrays (those of `pipelined_step_kernel`, one by one): a lower
    bound of a PE's SRAM use (code, spills and vector temporaries come on top), so that a model far too
    large for pipelined mode is refused without compiling the kernel."""
    B, KM, CM, M = batch, max_inputs, max_outputs, micro_batch
    WM = KM * CM
    rounding = max(WM, KM * M, CM * M) if mixed else 1
    return 5 * WM + 4 * CM + 2 * CM * M + B * KM + 2 * B * CM + B + rounding + KM * M + CM * M


@functools.lru_cache(maxsize=None)
def pipelined_step_kernel(batch: int, max_inputs: int, max_outputs: int, optimizer: int,
                          activations: tuple[int, ...] = (RELU, GELU, TANH), boundscheck: bool = False,
                          micro_batch: int = 1, norms: bool = False, half: np.dtype | None = None) -> Dispatcher:
    """The step kernel for `batch` samples in micro-batches of `micro_batch` (which divides it), layers of
    at most `max_inputs` inputs and `max_outputs` outputs per PE, optimizer code `optimizer` (SGD_CODE or
    ADAM_CODE) and the activation codes the layers use (the others' code is left out: faster compiles),
    `norms` whether any layer is a layer norm (else its code is left out);
    `half` a 16-bit dtype for mixed precision (see the module docstring), None for float32;
    see the module docstring. Bounds checks cost a third of its cycles: the tests run it with them
    (`boundscheck=True`)."""
    # Python ints: an np.int64 closed over is refused in int32 arithmetic with run-time values
    B, KM, CM, M = (operator.index(v) for v in (batch, max_inputs, max_outputs, micro_batch))
    assert B % M == 0, (B, M)
    U = B // M
    HAS_RELU, HAS_GELU, HAS_TANH = (code in activations for code in (RELU, GELU, TANH))
    HAS_NORM = norms
    WM = KM * CM
    MIXED = half is not None
    HALF = np.dtype(half).type if MIXED else np.float32
    HW = max(WM, KM * M, CM * M) if MIXED else 1  # the rounding buffer (one word when unused)

    @jit(boundscheck=boundscheck)
    def pipelined_step(x, labels, cfg, wpack, bpack, s1w, s2w, s1b, s2b, loss, classes, lr, h1, h2, eps, c1, c2,
                       norm_eps):
        layer = ws.threadIdx.x
        r = ws.threadIdx.y
        last = ws.blockDim.x - 1
        height = ws.blockDim.y
        me = layer * height + r
        k = cfg[layer, CFG_INPUTS]
        c = cfg[layer, CFG_OUTPUTS_PER_PE]
        kind = cfg[layer, CFG_ACTIVATION]
        cp = cfg[layer, CFG_PREVIOUS_PER_PE]
        is_norm = HAS_NORM and cfg[layer, CFG_KIND] == NORM
        features = cfg[layer, CFG_FEATURES]
        valid_features = max(0, min(c, features - r * c))
        inv_features = 1.0 / features
        n = k * c
        km = k * M
        cm = c * M
        pm = cp * M
        wt = ws.local.array(WM, np.float32)         # K x c, row-major
        wtt = ws.local.array(WM, np.float32)        # c x K: the same weights transposed
        dw = ws.local.array(WM, np.float32)
        m1 = ws.local.array(WM, np.float32)
        m2 = ws.local.array(WM, np.float32)
        bias = ws.local.array(CM, np.float32)
        db = ws.local.array(CM, np.float32)
        b1 = ws.local.array(CM, np.float32)
        b2 = ws.local.array(CM, np.float32)
        y = ws.local.array(CM * M, np.float32)       # a micro-batch's outputs or their gradients, c x M
        yt = ws.local.array(CM * M, np.float32)      # the same, M x c
        xs = ws.local.array(B * KM, np.float32)      # every micro-batch's inputs, K x M each, for dW
        zs = ws.local.array(B * CM, np.float32)      # every micro-batch's pre-activations, c x M each
        gs = ws.local.array(B * CM, np.float32)      # the last layer: gradients at its outputs, c x M each
        rs = ws.local.array(B, np.float32)           # a layer norm: each sample's 1 / std
        hbuf = ws.local.array(HW, HALF)              # mixed precision: values on their way to 16 bits
        part = ws.local.array(KM * M, np.float32)
        other = ws.local.array(CM * M, np.float32)   # a slice of the previous layer's, cp x M
        wt[0:n] = wpack[me, 0:n]
        for kk in range(k):                          # W transposed: the backward's W dz by vector fmas
            for j in range(c):
                wtt[j * k + kk] = wt[kk * c + j]
        if MIXED:                                    # the 16-bit copy the products read; wt stays the master
            round_to_half(wtt, 0, n, hbuf)
        m1[0:n] = s1w[me, 0:n]
        m2[0:n] = s2w[me, 0:n]
        bias[0:c] = bpack[me, 0:c]
        b1[0:c] = s1b[me, 0:c]
        b2[0:c] = s2b[me, 0:c]
        dw[0:n] = 0.0
        db[0:c] = 0.0
        has_n = ws.has_neighbor(ws.NORTH)
        has_s = ws.has_neighbor(ws.SOUTH)
        # ------------------------------------------------------------------ forward, micro-batch by micro-batch
        for u in range(U):
            xb = u * KM * M                          # input kk of sample m at xs[xb + kk * M + m]
            zb = u * CM * M
            if is_norm:                              # its slice from the west: no all-gather
                ws.recv(ws.WEST, out=y[0:cm])
                norm_forward(y, zs, rs, wt, bias, zb, u * M, M, c, valid_features, inv_features, norm_eps)
            else:
                if layer == 0:
                    for m in range(M):                   # one vector load a sample, then K x M in SRAM
                        part[0:k] = x[u * M + m, 0:k]
                        xo = xb + m
                        for kk in range(k):
                            xs[xo] = part[kk]
                            xo += M
                else:
                    mine = xb + r * pm
                    ws.recv(ws.WEST, out=xs[mine:mine + pm])
                    for j in range(r):                   # all-gather: slices 0 .. r-1 come from the north
                        o = xb + j * pm
                        ws.recv(ws.NORTH, out=xs[o:o + pm])
                        if has_s:
                            ws.send(ws.SOUTH, xs[o:o + pm])
                    if has_s:
                        ws.send(ws.SOUTH, xs[mine:mine + pm])
                    for jj in range(height - 1 - r):     # ... and slices height-1 .. r+1 from the south
                        o = xb + (height - 1 - jj) * pm
                        ws.recv(ws.SOUTH, out=xs[o:o + pm])
                        if has_n:
                            ws.send(ws.NORTH, xs[o:o + pm])
                    if has_n:
                        ws.send(ws.NORTH, xs[mine:mine + pm])
                if MIXED:
                    round_to_half(xs, xb, km, hbuf)
                wo = 0                                   # offsets kept running: no multiply per fma
                for j in range(c):                       # output j of the M samples: K vector fmas of length M
                    yo = j * M
                    if MIXED:                            # float32 sums from 0, the bias last (as mixed.py)
                        y[yo:yo + M] = 0.0
                    else:
                        y[yo:yo + M] = bias[j]
                    xo = xb
                    for kk in range(k):
                        y[yo:yo + M] = xs[xo:xo + M] * wtt[wo + kk] + y[yo:yo + M]
                        xo += M
                    if MIXED:
                        y[yo:yo + M] = y[yo:yo + M] + bias[j]
                    wo += k
                if MIXED:                                # z rounded once to 16 bits
                    round_to_half(y, 0, cm, hbuf)
                zs[zb:zb + cm] = y[0:cm]
                for q in range(cm):
                    y[q] = activate_runtime(y[q], kind, HAS_RELU, HAS_GELU, HAS_TANH)
            if layer < last:
                ws.send(ws.EAST, y[0:cm])
            else:
                valid = max(0, min(c, classes - r * c))  # padded logits take no part in the loss
                for m in range(M):
                    top = LOWEST
                    for j in range(valid):
                        top = max(top, y[j * M + m])
                    top = column_allreduce(top, MAX)
                    total = 0.0
                    for j in range(valid):
                        e = math.exp(y[j * M + m] - top)
                        gs[zb + j * M + m] = e
                        total += e
                    total = column_allreduce(total, SUM)
                    s = u * M + m
                    label = labels[s]
                    owner = label >= r * c and label < r * c + valid
                    picked = 0.0
                    if owner:
                        picked = y[(label - r * c) * M + m]
                    picked = column_allreduce(picked, SUM)
                    scale = 1.0 / (total * B)
                    for j in range(c):
                        gs[zb + j * M + m] = gs[zb + j * M + m] * scale if j < valid else 0.0
                    if owner:
                        gs[zb + (label - r * c) * M + m] = gs[zb + (label - r * c) * M + m] - 1.0 / B
                    if r == 0:
                        loss[s] = (top - picked) + math.log(total)  # (as ml.cross_entropy: exact far from 0)
        # ------------------------------------------------------------------ backward, micro-batch by micro-batch
        for u in range(U):
            zb = u * CM * M
            xb = u * KM * M
            if layer == last:
                y[0:cm] = gs[zb:zb + cm]
            else:
                ws.recv(ws.EAST, out=y[0:cm])
            if is_norm:
                norm_backward(y, zs, rs, wt, dw, db, zb, u * M, M, c, valid_features, inv_features)
                ws.send(ws.WEST, y[0:cm])
            else:
                for q in range(cm):
                    y[q] = activate_grad_runtime(zs[zb + q], y[q], kind, HAS_RELU, HAS_GELU, HAS_TANH)
                if MIXED:                                # dz in 16 bits, for dW, db and dx
                    round_to_half(y, 0, cm, hbuf)
                for j in range(c):                       # dz transposed, M x c: dW's updates are vectors of c
                    for m in range(M):
                        yt[m * c + j] = y[j * M + m]
                for m in range(M):
                    wo = 0
                    xo = xb + m
                    for kk in range(k):
                        dw[wo:wo + c] = yt[m * c:m * c + c] * xs[xo] + dw[wo:wo + c]
                        wo += c
                        xo += M
                    db[0:c] = db[0:c] + yt[m * c:m * c + c]
                if layer > 0:
                    part[0:km] = 0.0                     # this slice's part of the input gradient W dz, K x M
                    for j in range(c):
                        wo = j * k
                        po = 0
                        for kk in range(k):
                            part[po:po + M] = y[j * M:j * M + M] * wtt[wo] + part[po:po + M]
                            wo += 1
                            po += M
                    # Reduce-scatter along the column: slice j's partial sums travel to PE j, from the south
                    # (slices north of this PE first) and from the north (the farthest slice first).
                    for j in range(r):
                        o = j * pm
                        if has_s:
                            ws.recv(ws.SOUTH, out=other[0:pm], channel=2)
                            part[o:o + pm] = part[o:o + pm] + other[0:pm]
                        ws.send(ws.NORTH, part[o:o + pm], channel=2)
                    mine = r * pm
                    if has_s:
                        ws.recv(ws.SOUTH, out=other[0:pm], channel=2)
                        part[mine:mine + pm] = part[mine:mine + pm] + other[0:pm]
                    for jj in range(height - 1 - r):
                        o = (height - 1 - jj) * pm
                        if has_n:
                            ws.recv(ws.NORTH, out=other[0:pm], channel=2)
                            part[o:o + pm] = part[o:o + pm] + other[0:pm]
                        ws.send(ws.SOUTH, part[o:o + pm], channel=2)
                    if has_n:
                        ws.recv(ws.NORTH, out=other[0:pm], channel=2)
                        part[mine:mine + pm] = part[mine:mine + pm] + other[0:pm]
                    if MIXED:                            # dx leaves in 16 bits
                        round_to_half(part, mine, pm, hbuf)
                    ws.send(ws.WEST, part[mine:mine + pm])
        # ------------------------------------------------------------------ the optimizer, in SRAM
        optimizer_update(wt, dw, m1, m2, n, lr, h1, h2, eps, c1, c2, optimizer)
        optimizer_update(bias, db, b1, b2, c, lr, h1, h2, eps, c1, c2, optimizer)
        wpack[me, 0:n] = wt[0:n]
        s1w[me, 0:n] = m1[0:n]
        s2w[me, 0:n] = m2[0:n]
        bpack[me, 0:c] = bias[0:c]
        s1b[me, 0:c] = b1[0:c]
        s2b[me, 0:c] = b2[0:c]

    return pipelined_step
