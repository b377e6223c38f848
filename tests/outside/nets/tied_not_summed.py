"""A bigram-style character model with its output weight tied to the embedding table, and the
backward written by hand: the head's gradient of the shared table overwrites the embedding's
instead of adding to it.
"""

import numpy as np

from lab.layers import cross_entropy, embedding, linear, tanh
from lab.net import Net, stage

KIND = "net"
VOCAB = 27
EXPECT = "wrong"
NAMED = "tied weights not summed"

NET = Net(
    (
        stage("tok", embedding),
        stage("act", tanh),
        stage("head", linear, tie={"W": "tok.W.T"}),
        stage("loss", cross_entropy, smoothing=0.0),
    ),
    targets="next",
)


def init(shape, *, seed=0, C=4):
    rng = np.random.default_rng(seed)
    return {"tok.W": rng.standard_normal((VOCAB, C)) / np.sqrt(C), "head.b": 0.1 * rng.standard_normal(VOCAB)}


def vjp(params, x, dout, record=None):
    record = record or (lambda name, g: None)
    ids, targets = x[:, :-1], x[:, 1:]
    W = params["tok.W"]
    e = embedding.forward({"W": W}, ids)
    a = tanh.forward({}, e)
    head = {"W": W.T, "b": params["head.b"]}
    z = linear.forward(head, a)
    dz = cross_entropy.vjp({"logits": z}, targets, dout, smoothing=0.0)[0]["logits"]
    record("head", dz)
    g_head, da = linear.vjp(head, a, dz)
    record("act", da)
    _, de = tanh.vjp({}, e, da)
    record("tok", de)
    g_tok, _ = embedding.vjp({"W": W}, ids, de)
    grads = {"tok.W": g_tok["W"], "head.b": g_head["b"]}
    grads["tok.W"] = g_head["W"].T  # overwrites the embedding's gradient: should be +=
    return grads, None
