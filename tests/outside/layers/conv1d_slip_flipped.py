"""1-D convolution (kernel 3, stride 2, padding 1) whose backward scatters tap k with the flipped kernel W[K−1−k].

Style: a NumPy CNN from a blog post that remembered "the gradient of a convolution is a convolution with
the flipped kernel" and applied the flip inside a tap-by-tap scatter, where no flip belongs. Its
gradient check used a symmetric kernel, which hides the slip. Slip: conv_flipped.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
EXPECT = "wrong"
TRAP = "conv_flipped"
KERNEL, STRIDE, PADDING = 3, 2, 1


def init(shape, *, seed=0):
    rng = np.random.default_rng(seed)
    C = shape[-1]
    return {"W": rng.standard_normal((KERNEL, C, C + 1)) / np.sqrt(3 * C), "b": np.zeros(C + 1)}


def _windows(x, xp):
    B, T, C = x.shape
    z = xp.zeros((B, PADDING, C), dtype=x.dtype)
    xpad = xp.concat([z, x, z], axis=1)
    n = (T + 2 * PADDING - KERNEL) // STRIDE + 1
    return xp.stack([xpad[:, k : k + STRIDE * (n - 1) + 1 : STRIDE, :] for k in range(KERNEL)], axis=2)


def forward(params, x):
    xp = array_namespace(x, *params.values())
    return xp.tensordot(_windows(x, xp), params["W"], axes=([2, 3], [0, 1])) + params["b"]


def vjp(params, x, dout):
    W = params["W"]
    B, T, C = x.shape
    n = dout.shape[1]
    dW = np.einsum("btkc,bto->kco", _windows(x, np), dout)
    dxpad = np.zeros((B, T + 2 * PADDING, C))
    for k in range(KERNEL):
        dxpad[:, k : k + STRIDE * (n - 1) + 1 : STRIDE] += dout @ W[KERNEL - 1 - k].T  # the slip: flipped
    return {"W": dW, "b": dout.sum(axis=(0, 1))}, dxpad[:, PADDING : PADDING + T]
