"""Inverted dropout in CS231n's style: the forward stores the scaled mask, the backward multiplies by it.

Style: CS231n assignment 2, ``dropout_forward``: ``mask = (np.random.rand(*x.shape) < keep) / keep;
out = x * mask; cache = (dropout_param, mask)`` and ``dropout_backward``: ``dx = dout * mask``.
Here p is the drop probability and the draw comes from a fixed seed, so that forward and
backward see one mask. The 1/(1 - p) lives inside the stored mask. Correct.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
EXPECT = "verified"
HYPERPARAMETERS = {"p": (0.05, 0.8)}
SEED = 231


def init(shape, *, seed=0):
    return {}


def dropout_forward(x, p, xp=np):
    rand = xp.asarray(np.random.default_rng(SEED).random(x.shape))
    mask = xp.astype(rand >= p, x.dtype) / (1 - p)  # the scale is part of the mask
    out = x * mask
    cache = mask
    return out, cache


def dropout_backward(dout, cache):
    mask = cache
    return dout * mask


def forward(params, x, *, p=0.5):
    return dropout_forward(x, p, array_namespace(x))[0]


def vjp(params, x, dout, *, p=0.5):
    _, cache = dropout_forward(x, p)
    return {}, dropout_backward(dout, cache)
