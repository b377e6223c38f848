"""1-D max pooling (kernel 3, stride 2) whose backward splits dout evenly among tied maxima, as JAX does.

Style: JAX's derivative of ``reduce_max`` (``_reduce_chooser_jvp_rule``): a mask of the entries equal
to the window's maximum, divided by how many there are. Windows are gathered with a strided slice per
tap and scattered back with ``+=`` per tap. At a tie this differs from torch's first index and is
equally valid (a convex combination of the one-sided derivatives). Correct.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
MIN_SIZES = {"T": 3}
KINK_ORDER = 1
KERNEL, STRIDE = 3, 2
EXPECT = "verified"


def init(shape, *, seed=0):
    return {}


def _windows(x, xp):
    n = (x.shape[1] - KERNEL) // STRIDE + 1
    return xp.stack([x[:, k : k + STRIDE * (n - 1) + 1 : STRIDE, :] for k in range(KERNEL)], axis=2)


def forward(params, x):
    xp = array_namespace(x, *params.values())
    return xp.max(_windows(x, xp), axis=2)


def kink_distance(params, x):
    s = np.sort(_windows(np.asarray(x), np), axis=2)
    return s[:, :, -1, :] - s[:, :, -2, :]


def vjp(params, x, dout):
    win = _windows(x, np)
    hit = win == win.max(axis=2, keepdims=True)
    share = hit / hit.sum(axis=2, keepdims=True)  # 1/m to each of m tied maxima
    dx = np.zeros(x.shape)
    n = dout.shape[1]
    for k in range(KERNEL):
        dx[:, k : k + STRIDE * (n - 1) + 1 : STRIDE, :] += dout * share[:, :, k, :]
    return {}, dx
