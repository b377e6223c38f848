"""1-D max pooling over time with overlapping windows (KERNEL = 3, STRIDE = 2, no padding).

Derivation: derivations/layers/max_pool1d.md

Shapes: x is (B, T, C) with T ≥ KERNEL; the output is (B, T_out, C) with
T_out = (T − KERNEL) // STRIDE + 1. Each channel is pooled on its own. STRIDE < KERNEL:
an entry can be the maximum of two windows, and then its gradient is the sum of both (``+=``).
At a tie inside a window the gradient goes to the first maximal entry (torch's choice); any
split of it among the tied entries is a valid subgradient (eq. 6).
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
MIN_SIZES = {"T": 3}
KERNEL, STRIDE = 3, 2
KINK_ORDER = 1  # out is continuous; its derivative jumps where a window's top two entries swap


def init(shape, *, seed=0) -> dict:
    """No parameters."""
    return {}


def windows(x, xp):
    """(B, T_out, KERNEL, C): entry [b, t, k] is x[b, S·t + k] (eq. 1)."""
    T_out = (x.shape[1] - KERNEL) // STRIDE + 1
    stop = STRIDE * (T_out - 1) + 1
    return xp.stack([x[:, k : k + stop : STRIDE, :] for k in range(KERNEL)], axis=2)  # (eq. 1)


def forward(params, x):
    """out[b, t, c] = max_k x[b, S·t + k, c] (eq. 2)."""
    xp = array_namespace(x, *params.values())
    return xp.max(windows(x, xp), axis=2)  # (eq. 2)


def kink_distance(params, x):
    """Per window and channel, the gap between its largest and second-largest entry (0 at a tie) (eq. 5)."""
    top = np.sort(windows(np.asarray(x), np), axis=2)  # ascending along the window
    return top[:, :, -1, :] - top[:, :, -2, :]  # (B, T_out, C)   (eq. 5)


def vjp(params, x, dout):
    """Each window's dout goes to its first maximal entry; overlapping windows add (eqs. 3, 4, 6)."""
    win = windows(x, np)
    first = np.argmax(win, axis=2)  # the first maximal tap k of each window, (B, T_out, C)   (eq. 6)
    dx = np.zeros(x.shape)
    stop = STRIDE * (dout.shape[1] - 1) + 1
    for k in range(KERNEL):  # tap k of every window: += because an entry can win two windows (eq. 4)
        dx[:, k : k + stop : STRIDE, :] += dout * (first == k)  # (eq. 3)
    return {}, dx
