"""1-D convolution (kernel 3, stride 2, padding 1) whose backward writes each tap's gradient with ``=``.

Style: a loop over output positions that writes ``dx_pad[:, s:s+K] = dout[:, t] @ W_flat.T`` window by
window (as a port of a stride = kernel pooling backward would). With stride 2 < kernel 3 the windows
overlap, and each write erases the previous window's contribution at the shared position.
Slip: overlap_assign.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
EXPECT = "wrong"
TRAP = "overlap_assign"
KERNEL, STRIDE, PADDING = 3, 2, 1


def init(shape, *, seed=0):
    rng = np.random.default_rng(seed)
    C = shape[-1]
    return {"W": rng.standard_normal((KERNEL, C, C + 1)) / np.sqrt(3 * C), "b": np.zeros(C + 1)}


def forward(params, x):
    xp = array_namespace(x, *params.values())
    B, T, C = x.shape
    z = xp.zeros((B, PADDING, C), dtype=x.dtype)
    xpad = xp.concat([z, x, z], axis=1)
    n = (T + 2 * PADDING - KERNEL) // STRIDE + 1
    W = params["W"]
    outs = [xp.tensordot(xpad[:, STRIDE * t : STRIDE * t + KERNEL, :], W, axes=([1, 2], [0, 1])) for t in range(n)]
    return xp.stack(outs, axis=1) + params["b"]


def vjp(params, x, dout):
    W = params["W"]
    B, T, C = x.shape
    xpad = np.pad(x, ((0, 0), (PADDING, PADDING), (0, 0)))
    dW = np.zeros(W.shape)
    dxpad = np.zeros(xpad.shape)
    for t in range(dout.shape[1]):
        s = STRIDE * t
        dW += np.einsum("bkc,bo->kco", xpad[:, s : s + KERNEL], dout[:, t])
        dxpad[:, s : s + KERNEL] = np.einsum("bo,kco->bkc", dout[:, t], W)  # the slip: = where += is needed
    return {"W": dW, "b": dout.sum(axis=(0, 1))}, dxpad[:, PADDING : PADDING + T]
