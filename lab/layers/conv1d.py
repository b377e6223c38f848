"""1-D convolution over time (cross-correlation, as in torch's Conv1d), with zero padding and a stride.

Derivation: derivations/layers/conv1d.md

Shapes: x is (B, T, C_in); W is (KERNEL, C_in, C_out); b is (C_out,); the output is
(B, T_out, C_out) with T_out = (T + 2·PADDING − KERNEL) // STRIDE + 1. C_out = C_in + 1,
so that no transpose of W has W's shape. STRIDE < KERNEL: neighbouring windows overlap,
and an input entry can feed two outputs, so its gradient is a sum (``+=``, never ``=``).
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
KERNEL, STRIDE, PADDING = 3, 2, 1


def out_len(T: int) -> int:
    """T_out = (T + 2P − K) // S + 1 (eqs. 2, 9)."""
    return (T + 2 * PADDING - KERNEL) // STRIDE + 1


def init(shape, *, seed=0) -> dict:
    """W with entries of size 1/sqrt(K·C_in) (fan-in), b small; C_out = C_in + 1."""
    rng = np.random.default_rng(seed)
    C_in = shape[-1]
    C_out = C_in + 1
    return {
        "W": rng.standard_normal((KERNEL, C_in, C_out)) / np.sqrt(KERNEL * C_in),
        "b": 0.1 * rng.standard_normal(C_out),
    }


def windows(x, xp):
    """The padded input's windows, (B, T_out, KERNEL, C): entry [b, t, k] is x_pad[b, S·t + k] (eqs. 1, 3)."""
    B, T, C = x.shape
    zeros = xp.zeros((B, PADDING, C), dtype=x.dtype)
    xpad = xp.concat([zeros, x, zeros], axis=1)  # (B, T + 2P, C)   (eq. 1)
    stop = STRIDE * (out_len(T) - 1) + 1
    return xp.stack([xpad[:, k : k + stop : STRIDE, :] for k in range(KERNEL)], axis=2)  # (eq. 3)


def forward(params, x):
    """out[b, t, o] = Σ_k Σ_c x_pad[b, S·t + k, c] W[k, c, o] + b[o] (eq. 3)."""
    xp = array_namespace(x, *params.values())
    return xp.tensordot(windows(x, xp), params["W"], axes=([2, 3], [0, 1])) + params["b"]  # (eq. 3)


def vjp(params, x, dout):
    """dW[k] = Σ_{b,t} window_k ⊗ dout, db = Σ dout, dx scattered back window by window with += (eqs. 5–7)."""
    W = params["W"]
    B, T, C = x.shape
    win = windows(x, np)  # (B, T_out, K, C)
    dW = np.einsum("btkc,bto->kco", win, dout)  # (K, C_in, C_out)   (eq. 5)
    db = np.sum(dout, axis=(0, 1))  # (C_out,)   (eq. 6)
    dxpad = np.zeros((B, T + 2 * PADDING, C))
    stop = STRIDE * (out_len(T) - 1) + 1
    for k in range(KERNEL):  # tap k of every window; windows overlap, so taps add up (eq. 7)
        dxpad[:, k : k + stop : STRIDE, :] += dout @ W[k].T  # W[k], not W[K−1−k]: no flip here (eq. 7)
    return {"W": dW, "b": db}, dxpad[:, PADDING : PADDING + T, :]  # the pads get no gradient
