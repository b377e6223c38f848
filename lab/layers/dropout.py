"""Inverted dropout with a fixed mask: out = x ⊙ m / (1 − p), with m = [u ≥ p] for a fixed uniform u.

Derivation: derivations/layers/dropout.md

The "random" draw u comes from the file's SEED and x's shape alone (eq. 1), so forward and vjp,
called separately, see the same mask. The mask depends on p through the threshold (eq. 2); the
kept entries are scaled by 1/(1 − p) so that the output's expectation is x (eq. 4). The backward
scales by the same factor (eq. 6).
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
HYPERPARAMETERS = {"p": (0.05, 0.8)}  # the probability of dropping an entry
P = 0.5
SEED = 0


def init(shape, *, seed=0) -> dict:
    """No parameters."""
    return {}


def uniform(shape) -> np.ndarray:
    """u, one uniform draw in [0, 1) per entry, from SEED and the shape alone (eq. 1)."""
    return np.random.default_rng(SEED).random(tuple(shape))


def forward(params, x, *, p=P):
    """out = x ⊙ [u ≥ p] / (1 − p) (eqs. 2, 3)."""
    xp = array_namespace(x, *params.values())
    u = xp.asarray(uniform(x.shape))  # the same u in every call   (eq. 1)
    mask = xp.astype(u >= p, x.dtype)  # keep where u ≥ p: with probability 1 − p   (eq. 2)
    return x * mask / (1.0 - p)  # inverted dropout: E[out] = x   (eqs. 3, 4)


def vjp(params, x, dout, *, p=P):
    """dx = dout ⊙ m / (1 − p) (eq. 6): the forward's mask and its scale."""
    mask = (uniform(x.shape) >= p).astype(np.asarray(dout).dtype)  # the forward's m   (eq. 2)
    return {}, dout * mask / (1.0 - p)  # (eq. 6)
