"""A ReLU whose backward masks by the upstream gradient, dout > 0, instead of by the input.

Style: a from-scratch autograd tutorial (``self.grad * (self.grad > 0)``). The slip: the mask
must come from the forward's input (or output), x > 0; masking by dout zeroes the negative
gradients of active units and passes the positive gradients of dead ones. It passes a test
with positive inputs and a positive upstream gradient.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
EXPECT = "wrong"
TRAP = "mask_by_dout"
KINK_ORDER = 1


def init(shape, *, seed=0):
    return {}


def kink_distance(params, x):
    return np.abs(x)


def forward(params, x):
    xp = array_namespace(x)
    return xp.where(x > 0, x, xp.zeros_like(x))


def vjp(params, x, dout):
    return {}, dout * (dout > 0)  # BUG: should be (x > 0)
