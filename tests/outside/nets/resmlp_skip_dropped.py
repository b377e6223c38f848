"""A character MLP with a residual block, its backward composed by hand from the layers' vjps,
and the skip's gradient forgotten at the block's input: the body's gradient alone flows on.

The mistake of a learner who writes ``dx = dbody`` where ``x + f(x)`` needs ``dx = dout + dbody``.
"""

import numpy as np

from lab.layers import cross_entropy, embedding, flatten, layer_norm, linear, tanh
from lab.net import Net, residual, stage

KIND = "net"
VOCAB = 27
EXPECT = "wrong"
NAMED = "lacks the skip's"

NET = Net(
    (
        stage("emb", embedding),
        stage("cat", flatten),
        stage("proj", linear),
        residual("block", stage("ln", layer_norm), stage("fc", linear), stage("act", tanh)),
        stage("head", linear),
        stage("loss", cross_entropy, smoothing=0.0),
    ),
    targets="last",
)


def init(shape, *, seed=0, C=3, H=4):
    rng = np.random.default_rng(seed)
    k = shape[1] - 1
    return {
        "emb.W": rng.standard_normal((VOCAB, C)),
        "proj.W": rng.standard_normal((k * C, H)) / np.sqrt(k * C),
        "proj.b": 0.1 * rng.standard_normal(H),
        "block.ln.gamma": 1 + 0.1 * rng.standard_normal(H),
        "block.ln.beta": 0.1 * rng.standard_normal(H),
        "block.fc.W": rng.standard_normal((H, H)) / np.sqrt(H),
        "block.fc.b": 0.1 * rng.standard_normal(H),
        "head.W": rng.standard_normal((H, VOCAB)) / np.sqrt(H),
        "head.b": 0.1 * rng.standard_normal(VOCAB),
    }


def vjp(params, x, dout, record=None):
    record = record or (lambda name, g: None)
    p = lambda s: {k.split(".")[-1]: v for k, v in params.items() if k.rsplit(".", 1)[0] == s}  # noqa: E731
    ids, target = x[:, :-1], x[:, -1:]
    e = embedding.forward(p("emb"), ids)
    c = flatten.forward({}, e)
    h0 = linear.forward(p("proj"), c)
    n = layer_norm.forward(p("block.ln"), h0)
    f = linear.forward(p("block.fc"), n)
    a = tanh.forward({}, f)
    h1 = h0 + a
    z = linear.forward(p("head"), h1)
    grads = {}
    dz = cross_entropy.vjp({"logits": z}, target, dout, smoothing=0.0)[0]["logits"]
    record("head", dz)
    g, dh1 = linear.vjp(p("head"), h1, dz)
    grads.update({f"head.{k}": v for k, v in g.items()})
    record("block", dh1)
    record("block.act", dh1)
    _, df = tanh.vjp({}, f, dh1)
    record("block.fc", df)
    g, dn = linear.vjp(p("block.fc"), n, df)
    grads.update({f"block.fc.{k}": v for k, v in g.items()})
    record("block.ln", dn)
    g, dh0 = layer_norm.vjp(p("block.ln"), h0, dn)
    grads.update({f"block.ln.{k}": v for k, v in g.items()})
    # the skip's dh1 is not added: dh0 should be dh1 + dh0
    record("proj", dh0)
    g, dc = linear.vjp(p("proj"), c, dh0)
    grads.update({f"proj.{k}": v for k, v in g.items()})
    record("cat", dc)
    _, de = flatten.vjp({}, e, dc)
    record("emb", de)
    g, _ = embedding.vjp(p("emb"), ids, de)
    grads["emb.W"] = g["W"]
    return grads, None
