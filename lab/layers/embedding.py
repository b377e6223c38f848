"""A token embedding: out[b, t, :] = W[x[b, t], :], (B, T) ids → (B, T, C) vectors.

Derivation: derivations/layers/embedding.md

The layer looks up one row of the table W (VOCAB, C) per token. Its backward scatters each
position's upstream gradient back into the row it came from, and a row used by several
positions receives the sum of their gradients (eq. 5). That sum is why the code uses
``np.add.at``: ``dW[ids] += dout`` keeps one of the repeated contributions (numpy#8866).
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "tokens"
VOCAB = 7  # ids are 0..VOCAB-1
SHAPE = ("B", "T")
C = 5  # the embedding width, the file's choice


def init(shape, *, seed=0) -> dict:
    """W ~ N(0, 1): one row of unit-size entries per id (the shape of x does not matter)."""
    return {"W": np.random.default_rng(seed).standard_normal((VOCAB, C))}


def forward(params, x):
    """out = W[x] (eq. 1): a gather of rows, (B, T) → (B·T, C) → (B, T, C)."""
    xp = array_namespace(x, *params.values())
    W = params["W"]
    rows = xp.take(W, xp.reshape(x, (-1,)), axis=0)  # (B*T, C), row n is W[x_n]   (eq. 1)
    return xp.reshape(rows, (*x.shape, W.shape[1]))


def vjp(params, x, dout):
    """dW[v] = Σ over the positions with id v of dout there (eq. 5); the ids get no gradient."""
    W = params["W"]
    dW = np.zeros_like(W)  # a fresh array: writing into it is fine
    ids = np.reshape(x, (-1,))  # (B*T,)
    np.add.at(dW, ids, np.reshape(dout, (-1, W.shape[1])))  # unbuffered: repeated ids accumulate   (eqs. 5, 6)
    return {"W": dW}, None
