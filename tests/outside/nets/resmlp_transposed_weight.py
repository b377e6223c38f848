"""A deep residual character MLP (makemore's context window, then a ResNet-style stack of pre-RMSNorm
blocks x + ReLU(Linear(RMSNorm(x))) with square H × H weights) whose middle block's linear layer has its
weight gradient transposed: dW = Dᵀ X instead of Xᵀ D, the slip CS231n's "dW = X.T @ dout" warns of. The
weight is square, so the shape is right and nothing crashes. Every other stage is the lab's; the backward
is the composed one. The stage's W is H × H, not the C × 3 its layer's own init makes: the repairs that
test its diagnosis draw fresh cases of the stage's own shapes (they once drew the layer's, and every
repair failed there, so the transpose read "unexplained").
"""

import types

import numpy as np

from lab.layers import cross_entropy, embedding, flatten, linear, relu, rms_norm
from lab.net import Net, residual, stage

KIND = "net"
VOCAB = 27
EXPECT = "wrong"
STAGE = "b1.fc"
NAMED = "d W is the transpose of the true gradient"
H = 5

linear_dwT = types.ModuleType("linear_dwT")
linear_dwT.__dict__.update({k: v for k, v in vars(linear).items() if not k.startswith("__")})


def _vjp(params, x, dout):
    W = params["W"]
    X, D = x.reshape(-1, W.shape[0]), dout.reshape(-1, W.shape[1])
    dW = D.T @ X  # SLIP: should be X.T @ D; square W hides it
    return {"W": dW, "b": D.sum(0)}, (D @ W.T).reshape(x.shape)


linear_dwT.vjp = _vjp


def _block(i, lin):
    return residual(f"b{i}", stage("norm", rms_norm), stage("fc", lin), stage("act", relu))


NET = Net(
    (
        stage("emb", embedding),
        stage("cat", flatten),
        stage("proj", linear),
        _block(0, linear),
        _block(1, linear_dwT),
        _block(2, linear),
        stage("head", linear),
        stage("loss", cross_entropy, smoothing=0.0),
    ),
    targets="last",
)


def init(shape, *, seed=0, C=3):
    rng = np.random.default_rng(seed)
    k = shape[1] - 1
    p = {"emb.W": rng.standard_normal((VOCAB, C))}
    p["proj.W"], p["proj.b"] = rng.standard_normal((k * C, H)) / np.sqrt(k * C), 0.1 * rng.standard_normal(H)
    p["head.W"], p["head.b"] = rng.standard_normal((H, VOCAB)) / np.sqrt(H), 0.1 * rng.standard_normal(VOCAB)
    for i in range(3):
        p[f"b{i}.norm.gamma"] = 1 + 0.1 * rng.standard_normal(H)
        p[f"b{i}.fc.W"] = rng.standard_normal((H, H)) * np.sqrt(2 / H)
        p[f"b{i}.fc.b"] = 0.1 * rng.standard_normal(H)
    return p
