"""1-D max pooling (kernel 3, stride 2) whose backward gives the whole dout to every entry equal to the maximum.

Style: the mask backward ``dx += (window == window.max()) * dout`` (CS231n's max_pool_backward_naive
written with a mask instead of argmax), without dividing by the number of tied entries. Right wherever
the maximum is unique; at a tie of m entries the window passes back m·dout, which no one-sided
derivative gives. Slip: tie_duplicated (a new trap id).
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
TRAP = "tie_duplicated"


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
    dx = np.zeros(x.shape)
    for t in range(dout.shape[1]):
        window = x[:, STRIDE * t : STRIDE * t + KERNEL, :]
        mask = window == window.max(axis=1, keepdims=True)  # the slip: every tied entry gets all of dout
        dx[:, STRIDE * t : STRIDE * t + KERNEL, :] += mask * dout[:, t : t + 1, :]
    return {}, dx
