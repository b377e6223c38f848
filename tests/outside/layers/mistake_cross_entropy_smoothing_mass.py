"""Token cross-entropy with label smoothing whose backward forgets the ε/V on every class.

Style: a PyTorch-like functional module, ``F.cross_entropy(logits, y, label_smoothing=eps)``
re-implemented in NumPy: the forward mixes the one-hot target with the uniform ε/V correctly,
but the backward scales the familiar one-hot gradient, ``probs - (1 - eps) * onehot``. The
slip: q also puts ε/V on every class, so each entry is ε/V too large (the rows sum to ε, not 0).
Exact at ε = 0. Trap id "smoothing_mass" (a new id, proposed by this file).
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "tokens"
VOCAB = 7
SHAPE = ("B", "T")
EXPECT = "wrong"
TRAP = "smoothing_mass"
HYPERPARAMETERS = {"smoothing": (0.0, 0.3)}


def init(shape, *, seed=0):
    return {"logits": np.random.default_rng(seed).normal(size=(*shape, VOCAB))}


def _log_softmax(z, xp):
    m = xp.max(z, axis=-1, keepdims=True)
    return z - m - xp.log(xp.sum(xp.exp(z - m), axis=-1, keepdims=True))


def forward(params, x, *, smoothing=0.1):
    xp = array_namespace(x, *params.values())
    z = params["logits"]
    V = z.shape[-1]
    logp = _log_softmax(z, xp)
    onehot = xp.astype(xp.expand_dims(x, axis=-1) == xp.arange(V), z.dtype)
    nll = -xp.sum(onehot * logp, axis=-1)
    smooth = -xp.mean(logp, axis=-1)
    return xp.mean((1.0 - smoothing) * nll + smoothing * smooth)


def vjp(params, x, dout, *, smoothing=0.1):
    z = params["logits"]
    V = z.shape[-1]
    probs = np.exp(_log_softmax(z, np))
    onehot = (x[..., None] == np.arange(V)).astype(z.dtype)
    dz = probs - (1.0 - smoothing) * onehot  # BUG: q is (1 - eps) onehot + eps / V
    return {"logits": dout * dz / x.size}, None
