"""A character MLP with its whole backward written out by hand, in the style of Karpathy's
"becoming a backprop ninja" (makemore part 4): one line per intermediate, no layer's vjp called.

The forward is the lab's stages (the network's definition); the backward below is this file's own,
and it says its gradient at each stage's output with ``record``, as the notebook's ``cmp`` reads them.
"""

import numpy as np

from lab.layers import cross_entropy, embedding, flatten, layer_norm, linear, tanh
from lab.net import Net, stage

KIND = "net"
VOCAB = 27
EXPECT = "verified"

NET = Net(
    (
        stage("emb", embedding),
        stage("cat", flatten),
        stage("hidden", linear),
        stage("norm", layer_norm),
        stage("act", tanh),
        stage("logits", linear),
        stage("loss", cross_entropy, smoothing=0.0),
    ),
    targets="last",
)
EPS = layer_norm.EPS


def init(shape, *, seed=0, C=3, H=5):
    rng = np.random.default_rng(seed)
    k = shape[1] - 1
    return {
        "emb.W": rng.standard_normal((VOCAB, C)),
        "hidden.W": rng.standard_normal((k * C, H)) / np.sqrt(k * C),
        "hidden.b": 0.1 * rng.standard_normal(H),
        "norm.gamma": 1.0 + 0.1 * rng.standard_normal(H),
        "norm.beta": 0.1 * rng.standard_normal(H),
        "logits.W": rng.standard_normal((H, VOCAB)) / np.sqrt(H),
        "logits.b": 0.1 * rng.standard_normal(VOCAB),
    }


def vjp(params, x, dout, record=None):
    record = record or (lambda name, g: None)
    Xb, Yb = x[:, :-1], x[:, -1]
    n = Xb.shape[0]
    # forward, kept
    emb = params["emb.W"][Xb]  # (n, k, C)
    embcat = emb.reshape(n, -1)  # (n, k*C)
    hprebn = embcat @ params["hidden.W"] + params["hidden.b"]
    mu = hprebn.mean(1, keepdims=True)
    diff = hprebn - mu
    var = (diff**2).mean(1, keepdims=True)
    rstd = (var + EPS) ** -0.5
    xhat = diff * rstd
    hpreact = params["norm.gamma"] * xhat + params["norm.beta"]
    h = np.tanh(hpreact)
    logits = h @ params["logits.W"] + params["logits.b"]
    # backward
    counts = np.exp(logits - logits.max(1, keepdims=True))
    probs = counts / counts.sum(1, keepdims=True)
    dlogits = probs.copy()
    dlogits[range(n), Yb] -= 1
    dlogits *= dout / n
    record("logits", dlogits[:, None, :])
    dh = dlogits @ params["logits.W"].T
    dW2 = h.T @ dlogits
    db2 = dlogits.sum(0)
    record("act", dh[:, None, :])
    dhpreact = (1.0 - h**2) * dh
    record("norm", dhpreact[:, None, :])
    dgamma = (xhat * dhpreact).sum(0)
    dbeta = dhpreact.sum(0)
    dxhat = params["norm.gamma"] * dhpreact
    dhprebn = rstd * (dxhat - dxhat.mean(1, keepdims=True) - xhat * (dxhat * xhat).mean(1, keepdims=True))
    record("hidden", dhprebn[:, None, :])
    dembcat = dhprebn @ params["hidden.W"].T
    dW1 = embcat.T @ dhprebn
    db1 = dhprebn.sum(0)
    record("cat", dembcat[:, None, :])
    demb = dembcat.reshape(emb.shape)
    record("emb", demb)
    dC = np.zeros_like(params["emb.W"])
    for i in range(Xb.shape[0]):
        for j in range(Xb.shape[1]):
            dC[Xb[i, j]] += demb[i, j]
    grads = {"emb.W": dC, "hidden.W": dW1, "hidden.b": db1, "norm.gamma": dgamma, "norm.beta": dbeta,
             "logits.W": dW2, "logits.b": db2}  # fmt: skip
    return grads, None
