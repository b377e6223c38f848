"""1-D max pooling (kernel 3, stride 2) whose backward assigns with fancy indexing: ``dx[b, idx, c] = dout``.

Style: the argmax-index backward of many NumPy ports (and NNlib.jl before #205): compute the flat
position of each window's maximum, then write dout there. NumPy keeps the last write at a repeated
index, so an entry that is the maximum of two overlapping windows gets one dout, not the sum.
Every test with stride = kernel passes it. Slip: overlap_assign (np.add.at is needed).
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
MIN_SIZES = {"T": 3}
KINK_ORDER = 1
KERNEL, STRIDE = 3, 2
EXPECT = "wrong"
TRAP = "overlap_assign"


def init(shape, *, seed=0):
    return {}


def forward(params, x):
    xp = array_namespace(x, *params.values())
    n = (x.shape[1] - KERNEL) // STRIDE + 1
    return xp.stack([xp.max(x[:, STRIDE * t : STRIDE * t + KERNEL, :], axis=1) for t in range(n)], axis=1)


def kink_distance(params, x):
    x = np.asarray(x)
    n = (x.shape[1] - KERNEL) // STRIDE + 1
    s = np.sort(np.stack([x[:, STRIDE * t : STRIDE * t + KERNEL, :] for t in range(n)], axis=1), axis=2)
    return s[:, :, -1, :] - s[:, :, -2, :]


def vjp(params, x, dout):
    B, T, C = x.shape
    n = dout.shape[1]
    win = np.stack([x[:, STRIDE * t : STRIDE * t + KERNEL, :] for t in range(n)], axis=1)
    idx = STRIDE * np.arange(n)[None, :, None] + np.argmax(win, axis=2)  # (B, n, C) positions in T
    bi = np.broadcast_to(np.arange(B)[:, None, None], idx.shape)
    ci = np.broadcast_to(np.arange(C)[None, None, :], idx.shape)
    dx = np.zeros(x.shape)
    dx[bi, idx, ci] = dout  # the slip: repeated positions keep the last write
    return {}, dx
