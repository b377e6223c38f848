"""Inverted dropout whose backward multiplies by the 0/1 mask but forgets the 1/(1 − p).

Style: a hand-written NumPy network (``self.mask = rng.random(x.shape) >= p``; forward
``x * self.mask / (1 - p)``; backward ``dout * self.mask``). The slip: the forward scales the
kept entries by 1/(1 − p), the backward does not, so every kept gradient is (1 − p) times too
small. Hard to see at small p.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
EXPECT = "wrong"
TRAP = "dropout_scale"
HYPERPARAMETERS = {"p": (0.05, 0.8)}
SEED = 7


def init(shape, *, seed=0):
    return {}


def _keep(shape, p, xp=np):
    return xp.asarray(np.random.default_rng(SEED).random(shape)) >= p


def forward(params, x, *, p=0.5):
    xp = array_namespace(x)
    return x * xp.astype(_keep(x.shape, p, xp), x.dtype) / (1 - p)


def vjp(params, x, dout, *, p=0.5):
    return {}, dout * _keep(x.shape, p)  # BUG: the forward's 1 / (1 - p) is missing
