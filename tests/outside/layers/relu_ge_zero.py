"""A ReLU whose backward takes relu'(0) = 1: the mask is x >= 0.

Style: a hand-rolled NumPy framework that writes the derivative as a step function,
``heaviside(x, 1)``. At x = 0 any slope in [0, 1] is a valid subgradient, so 1 is as right
as PyTorch's 0 or JAX's 1/2. Correct.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
EXPECT = "verified"
KINK_ORDER = 1


def init(shape, *, seed=0):
    return {}


def kink_distance(params, x):
    return np.abs(x)


def forward(params, x):
    xp = array_namespace(x)
    return xp.maximum(x, xp.zeros_like(x))


def vjp(params, x, dout):
    return {}, dout * np.heaviside(x, 1.0)  # relu'(x) = 1 for x >= 0
