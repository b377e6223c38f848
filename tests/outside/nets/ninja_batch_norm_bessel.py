"""A batch-norm character MLP with its whole backward written out, in the style of Karpathy's "becoming a
backprop ninja" (makemore part 4, exercise 1), with the notebook's Bessel slip against a biased forward.

emb → concat → linear → batchnorm → tanh → linear → cross-entropy, the backward one intermediate at a time
(bnmeani, bndiff, bndiff2, bnvar, bnvar_inv, bnraw; logit_maxes, counts, counts_sum, probs, logprobs), no
layer's vjp called. The forward's variance is the lab's biased 1/n, but the backward of ``bnvar`` keeps
the notebook's 1/(n−1): ``dbndiff2 = 1/(n−1) · ones · dbnvar``. The gradient at the batch norm's input
(the boundary ``hidden``) and below is wrong; dγ, dβ and everything above are right. At B = 1 the
1/(n−1) is inf and the backward gives NaN (np.float64, so it does not raise): a wrong value, named at the
stage like any other, never "nonzero at dout = 0". The backward is the file's own, so the lab names the
stage whose step in it is wrong, not a stage's vjp.
"""

import numpy as np

from lab.layers import batch_norm, cross_entropy, embedding, flatten, linear, tanh
from lab.net import Net, stage

KIND = "net"
VOCAB = 27
EXPECT = "wrong"
NAMED = "the file's own backward gives the gradient at its input (hidden) wrong"
STAGE = "norm"

NET = Net(
    (
        stage("emb", embedding),
        stage("cat", flatten),
        stage("hidden", linear),
        stage("norm", batch_norm),
        stage("act", tanh),
        stage("logits", linear),
        stage("loss", cross_entropy, smoothing=0.0),
    ),
    targets="last",
)
EPS = batch_norm.EPS


def init(shape, *, seed=0, n_embd=3, n_hidden=5):
    rng = np.random.default_rng(seed)
    block = shape[1] - 1
    return {
        "emb.W": rng.standard_normal((VOCAB, n_embd)),
        "hidden.W": rng.standard_normal((block * n_embd, n_hidden)) * (5 / 3) / np.sqrt(block * n_embd),
        "hidden.b": 0.1 * rng.standard_normal(n_hidden),
        "norm.gamma": 1.0 + 0.1 * rng.standard_normal(n_hidden),
        "norm.beta": 0.1 * rng.standard_normal(n_hidden),
        "logits.W": 0.1 * rng.standard_normal((n_hidden, VOCAB)),
        "logits.b": 0.1 * rng.standard_normal(VOCAB),
    }


def vjp(params, x, dout, record=None):
    record = record or (lambda name, g: None)
    C, W1, b1 = params["emb.W"], params["hidden.W"], params["hidden.b"]
    bngain, bnbias = params["norm.gamma"], params["norm.beta"]
    W2, b2 = params["logits.W"], params["logits.b"]
    Xb, Yb = x[:, :-1], x[:, -1]
    n = Xb.shape[0]
    # ---- forward, "chunked into smaller steps that are possible to backward one at a time"
    emb = C[Xb]
    embcat = emb.reshape(emb.shape[0], -1)
    hprebn = embcat @ W1 + b1
    bnmeani = 1 / n * hprebn.sum(0, keepdims=True)
    bndiff = hprebn - bnmeani
    bndiff2 = bndiff**2
    bnvar = 1 / n * bndiff2.sum(0, keepdims=True)  # the lab's batch norm: biased
    bnvar_inv = (bnvar + EPS) ** -0.5
    bnraw = bndiff * bnvar_inv
    hpreact = bngain * bnraw + bnbias
    h = np.tanh(hpreact)
    logits = h @ W2 + b2
    logit_maxes = logits.max(1, keepdims=True)
    norm_logits = logits - logit_maxes
    counts = np.exp(norm_logits)
    counts_sum = counts.sum(1, keepdims=True)
    counts_sum_inv = counts_sum**-1
    probs = counts * counts_sum_inv
    logprobs = np.log(probs)
    # loss = -logprobs[range(n), Yb].mean()
    # ---- backward, exercise 1
    dlogprobs = np.zeros_like(logprobs)
    dlogprobs[range(n), Yb] = -1.0 / n
    dlogprobs *= dout
    dprobs = (1.0 / probs) * dlogprobs
    dcounts_sum_inv = (counts * dprobs).sum(1, keepdims=True)
    dcounts = counts_sum_inv * dprobs
    dcounts_sum = (-(counts_sum**-2)) * dcounts_sum_inv
    dcounts += np.ones_like(counts) * dcounts_sum
    dnorm_logits = counts * dcounts
    dlogits = dnorm_logits.copy()
    dlogit_maxes = (-dnorm_logits).sum(1, keepdims=True)
    dlogits += np.eye(logits.shape[1])[logits.argmax(1)] * dlogit_maxes
    record("logits", dlogits[:, None, :])
    dh = dlogits @ W2.T
    dW2 = h.T @ dlogits
    db2 = dlogits.sum(0)
    record("act", dh[:, None, :])
    dhpreact = (1.0 - h**2) * dh
    record("norm", dhpreact[:, None, :])
    dbngain = (bnraw * dhpreact).sum(0)
    dbnraw = bngain * dhpreact
    dbnbias = dhpreact.sum(0)
    dbndiff = bnvar_inv * dbnraw
    dbnvar_inv = (bndiff * dbnraw).sum(0, keepdims=True)
    dbnvar = (-0.5 * (bnvar + EPS) ** -1.5) * dbnvar_inv
    dbndiff2 = np.float64(1.0) / (n - 1) * np.ones_like(bndiff2) * dbnvar  # SLIP: Bessel's n-1; the forward used 1/n
    dbndiff += (2 * bndiff) * dbndiff2
    dhprebn = dbndiff.copy()
    dbnmeani = (-dbndiff).sum(0)
    dhprebn += 1.0 / n * (np.ones_like(hprebn) * dbnmeani)
    record("hidden", dhprebn[:, None, :])
    dembcat = dhprebn @ W1.T
    dW1 = embcat.T @ dhprebn
    db1 = dhprebn.sum(0)
    record("cat", dembcat[:, None, :])
    demb = dembcat.view().reshape(emb.shape)
    record("emb", demb)
    dC = np.zeros_like(C)
    for k in range(Xb.shape[0]):
        for j in range(Xb.shape[1]):
            ix = Xb[k, j]
            dC[ix] += demb[k, j]
    grads = {"emb.W": dC, "hidden.W": dW1, "hidden.b": db1, "norm.gamma": dbngain, "norm.beta": dbnbias,
             "logits.W": dW2, "logits.b": db2}  # fmt: skip
    return grads, None
