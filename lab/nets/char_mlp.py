"""A makemore-style character MLP: the last T − 1 characters predict the next one.

Derivation: derivations/nets/char_mlp.md

embedding → concatenated context → linear → layer norm → tanh → linear → cross-entropy
(Bengio et al., 2003; Karpathy's makemore, part 3). A window x of ids is (B, T): the first
k = T − 1 ids are the context, the last is the id to predict. Each context id becomes a row of
the table emb.W (V, C); the k rows side by side are one vector of k·C (eq. 1), which the hidden
layer maps to H units, normalizes and squashes (eqs. 2–4); the output layer gives V logits
(eq. 5), and the loss is their cross-entropy with the true next id, the mean over the B windows
(eq. 6). Its hand backward is each stage's vjp, from the loss down (eqs. 7–12).
"""

import numpy as np

from lab.layers import cross_entropy, embedding, flatten, layer_norm, linear, tanh
from lab.net import Net, stage

KIND = "net"
VOCAB = 27  # "." (id 0, the end of a name) and a–z, as lab.data.VOCAB
C, H = 3, 5  # the widths the verifier draws with: small, so its cases stay cheap
TRAIN = {"block": 3, "C": 10, "H": 200, "lr": 1e-2}  # makemore's sizes: 3 characters of context, 10-wide, 200 units

NET = Net(
    (
        stage("emb", embedding),  # (B, k) ids → (B, k, C)   (eq. 1)
        stage("cat", flatten),  # → (B, 1, k·C), the context side by side   (eq. 1)
        stage("hidden", linear),  # → (B, 1, H)   (eq. 2)
        stage("norm", layer_norm),  # each window's H units to mean 0, variance 1   (eq. 3)
        stage("act", tanh),  # (eq. 4)
        stage("logits", linear),  # → (B, 1, V)   (eq. 5)
        stage("loss", cross_entropy, smoothing=0.0),  # the mean over B of −log p(next id)   (eq. 6)
    ),
    targets="last",
)


def init(shape, *, seed=0, C=C, H=H) -> dict:
    """Parameters for windows of ``shape`` (B, T): a context of k = T − 1 ids, widths C and H.

    The hidden weights have makemore's (5/3)/sqrt(fan-in) scale (Kaiming's gain for tanh), though the
    layer norm after them makes that scale immaterial: it gives tanh inputs of unit size whatever it is.
    The output weights are small, so the first loss is near log V (eq. 13).
    """
    rng = np.random.default_rng(seed)
    k = shape[1] - 1
    return {
        "emb.W": rng.standard_normal((VOCAB, C)),
        "hidden.W": rng.standard_normal((k * C, H)) * (5 / 3) / np.sqrt(k * C),
        "hidden.b": 0.1 * rng.standard_normal(H),
        "norm.gamma": 1.0 + 0.1 * rng.standard_normal(H),
        "norm.beta": 0.1 * rng.standard_normal(H),
        "logits.W": 0.1 * rng.standard_normal((H, VOCAB)) / np.sqrt(H),
        "logits.b": np.zeros(VOCAB),
    }
