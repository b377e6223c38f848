"""Cross-entropy over tokens with label smoothing: the mean over B·T positions of −Σ_v q_v log softmax(z)_v.

Derivation: derivations/layers/cross_entropy.md

A scalar loss as a layer. The logits z are its parameter, (B, T, V); x holds the target ids,
(B, T), integers in 0..V−1. The smoothed target q = (1 − ε) onehot(x) + ε/V puts ε/V on every
class (eq. 2). The output has shape () and is the mean over the B·T positions (eq. 4), so the
gradient carries the factor 1/(B·T): dz = dout · (softmax(z) − q) / (B·T) (eq. 7).
"""

import math

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "tokens"
VOCAB = 7  # V, the number of classes; ids are 0..V-1
SHAPE = ("B", "T")
HYPERPARAMETERS = {"smoothing": (0.0, 0.3)}  # ε, the mass spread evenly over the V classes
SMOOTHING = 0.1


def init(shape, *, seed=0) -> dict:
    """Logits of unit size for targets of this shape: {"logits": (B, T, V)}."""
    rng = np.random.default_rng(seed)
    return {"logits": rng.standard_normal((*shape, VOCAB))}


def _targets(x, V, dtype, smoothing, xp):
    """q = (1 − ε) onehot(x) + ε/V (eq. 2): (B, T) ids → (B, T, V) probabilities."""
    onehot = xp.astype(xp.expand_dims(x, axis=-1) == xp.arange(V), dtype)  # (B, T, V)
    return (1.0 - smoothing) * onehot + smoothing / V


def forward(params, x, *, smoothing=SMOOTHING):
    """L = −(1/(B·T)) Σ_{b,t} Σ_v q_btv log p_btv (eqs. 3, 4), with log p by log-sum-exp (eqs. 5, 9)."""
    xp = array_namespace(x, *params.values())
    z = params["logits"]
    m = xp.max(z, axis=-1, keepdims=True)  # (B, T, 1)   (eq. 9)
    logp = (z - m) - xp.log(xp.sum(xp.exp(z - m), axis=-1, keepdims=True))  # log softmax, (B, T, V)   (eqs. 5, 9)
    q = _targets(x, z.shape[-1], z.dtype, smoothing, xp)  # (B, T, V)   (eq. 2)
    n = math.prod(x.shape)  # B·T positions
    return -xp.sum(q * logp) / n  # the mean over B·T, shape ()   (eqs. 3, 4)


def vjp(params, x, dout, *, smoothing=SMOOTHING):
    """({"logits": dout · (p − q)/(B·T)}, None) (eq. 7); the targets are ids, so no dx."""
    z = params["logits"]
    V = z.shape[-1]
    e = np.exp(z - np.max(z, axis=-1, keepdims=True))  # (eq. 9)
    g = e / np.sum(e, axis=-1, keepdims=True)  # softmax p, (B, T, V)   (eq. 1)
    G, y = np.reshape(g, (-1, V)), np.reshape(x, (-1,))  # a row per position; G is a view: writing it writes g
    rows = np.arange(G.shape[0])
    # ∂ℓ_bt/∂z_bt = p − q, q read off (eq. 2) without building the one-hot array: ε/V at every class, and
    # (1 − ε) + ε/V, rounded once as q is, at the target   (eq. 6)
    p_y = G[rows, y]
    G -= smoothing / V
    G[rows, y] = p_y - ((1.0 - smoothing) + smoothing / V)
    # each row's largest logit takes minus the sum of the others, since Σ_v (p_v − q_v) = 0   (eq. 10)
    top = np.argmax(np.reshape(z, (-1, V)), axis=-1)  # the first maximum
    G[rows, top] = 0.0
    G[rows, top] = -np.sum(G, axis=-1)
    n = math.prod(x.shape)  # B·T: the mean's 1/(B·T), over both axes   (eq. 4)
    return {"logits": (np.asarray(dout) / n) * g}, None  # (eq. 7)
