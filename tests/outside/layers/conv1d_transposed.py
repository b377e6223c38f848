"""1-D convolution (kernel 3, stride 2, padding 1) whose input gradient is a transposed convolution.

Style: the textbook backward of a strided convolution (e.g. Dumoulin & Visin's "A guide to convolution
arithmetic", and what ``conv_transpose1d`` computes): insert S − 1 zeros between the entries of dout,
pad it with K − 1 zeros at both ends, and slide the *flipped* kernel W[K−1−k]ᵀ over it. The flip is
right here, because the kernel slides over dout instead of scattering tap by tap. The forward is an
im2col gather. Correct.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
EXPECT = "verified"
K, S, P = 3, 2, 1


def init(shape, *, seed=0):
    rng = np.random.default_rng(seed + 2)
    c_in = shape[-1]
    return {"weight": rng.standard_normal((K, c_in, 2)), "bias": rng.standard_normal(2)}


def _im2col(x, xp):
    B, T, C = x.shape
    z = xp.zeros((B, P, C), dtype=x.dtype)
    xpad = xp.concat([z, x, z], axis=1)
    n = (T + 2 * P - K) // S + 1
    cols = [xp.reshape(xpad[:, S * t : S * t + K, :], (B, 1, K * C)) for t in range(n)]
    return xp.concat(cols, axis=1)  # (B, T_out, K·C), tap-major


def forward(params, x):
    xp = array_namespace(x, *params.values())
    W = params["weight"]
    return _im2col(x, xp) @ xp.reshape(W, (K * W.shape[1], W.shape[2])) + params["bias"]


def vjp(params, x, dout):
    W = params["weight"]
    B, T, C = x.shape
    n = dout.shape[1]
    cols = _im2col(x, np)
    dW = np.einsum("btj,bto->jo", cols, dout).reshape(W.shape)
    db = dout.sum(axis=(0, 1))
    # transposed convolution: dilate, pad by K - 1, correlate with the flipped kernel
    dil = np.zeros((B, S * (n - 1) + 1, dout.shape[2]))
    dil[:, ::S] = dout
    dil = np.concatenate([np.zeros((B, K - 1, dout.shape[2])), dil, np.zeros((B, K - 1, dout.shape[2]))], axis=1)
    L = S * (n - 1) + K  # padded positions covered by some window
    dxpad = np.zeros((B, T + 2 * P, C))
    for s in range(L):
        dxpad[:, s] = sum(dil[:, s + j] @ W[K - 1 - j].T for j in range(K))
    return {"weight": dW, "bias": db}, dxpad[:, P : P + T]
