"""Token cross-entropy with label smoothing, forward as lse(z) − ⟨q, z⟩, backward in llm.c's loops.

Style: llm.c's ``crossentropy_forward`` / ``crossentropy_softmax_backward`` (a loop over b and t,
``dloss = 1/(B*T)`` per position, ``dlogits[i] += (p - indicator) * dloss``), with the indicator
replaced by the smoothed target. The forward uses Σ_v q_v = 1 to write
−Σ_v q_v log p_v = lse(z) − Σ_v q_v z_v: the log-sum-exp taken once, outside the sum. Correct.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "tokens"
VOCAB = 7
SHAPE = ("B", "T")
EXPECT = "verified"
HYPERPARAMETERS = {"smoothing": (0.0, 0.3)}


def init(shape, *, seed=0):
    return {"logits": np.random.default_rng(seed).normal(size=(*shape, VOCAB))}


def forward(params, x, *, smoothing=0.0):
    xp = array_namespace(x, *params.values())
    z = params["logits"]
    B, T, V = z.shape
    m = xp.max(z, axis=-1)
    lse = m + xp.log(xp.sum(xp.exp(z - xp.expand_dims(m, axis=-1)), axis=-1))  # (B, T)
    onehot = xp.astype(xp.expand_dims(x, axis=-1) == xp.arange(V), z.dtype)
    q_dot_z = (1.0 - smoothing) * xp.sum(onehot * z, axis=-1) + smoothing / V * xp.sum(z, axis=-1)
    return xp.sum(lse - q_dot_z) / (B * T)


def vjp(params, x, dout, *, smoothing=0.0):
    z = params["logits"]
    B, T, V = z.shape
    dlogits = np.zeros_like(z)
    dloss = float(dout) / (B * T)  # the mean's 1/(B*T), per position
    for b in range(B):
        for t in range(T):
            row = z[b, t]
            probs = np.exp(row - row.max())
            probs /= probs.sum()
            ix = int(x[b, t])
            for i in range(V):
                indicator = (1.0 - smoothing) * (i == ix) + smoothing / V
                dlogits[b, t, i] += (probs[i] - indicator) * dloss
    return {"logits": dlogits}, None
