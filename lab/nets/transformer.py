"""A small causal transformer over characters: every position predicts the next id.

Derivation: derivations/nets/transformer.md

token embedding + positions → L blocks of (layer norm → causal multi-head self-attention →
residual → layer norm → MLP → residual) → layer norm → linear head → cross-entropy (GPT-2's
pre-norm block, as in Karpathy's nanoGPT and makemore). A window x of ids is (B, T + 1): the
first T ids are read and position t predicts id t + 1 (eq. 1). The head's weight is the token
table transposed (tied, eq. 9), so its gradient is the sum of the head's and the embedding's
(eq. 15). Its hand backward is each stage's vjp from the loss down (eqs. 11, 12), each residual
block adding the skip's gradient to its body's (eqs. 13, 14).
"""

import numpy as np

from lab.layers import cross_entropy, embedding, gelu, layer_norm, linear, multi_head_attention, position
from lab.net import Net, residual, stage

KIND = "net"
VOCAB = 27  # "." (id 0) and a–z, as lab.data.VOCAB
L = 2  # blocks
C = 4  # the width the verifier draws with: two heads of size 2
TRAIN = {"block": 8, "C": 32, "lr": 3e-3}  # 8 characters of context, 32 wide; Adam's rate
HEADS = multi_head_attention.H  # the attention layer's number of heads; the head size is C / HEADS


def _block(i: int) -> tuple:
    return (
        residual(f"b{i}.attn", stage("ln", layer_norm), stage("mha", multi_head_attention)),  # (eqs. 3, 4)
        residual(f"b{i}.mlp", stage("ln", layer_norm), stage("fc", linear), stage("gelu", gelu),
                 stage("proj", linear)),  # (eqs. 5, 6)
    )  # fmt: skip


def network(n_blocks: int) -> Net:
    """The transformer with ``n_blocks`` blocks."""
    blocks = tuple(s for i in range(n_blocks) for s in _block(i))
    return Net(
        (
            stage("tok", embedding),  # (B, T) ids → (B, T, C)   (eq. 2)
            stage("pos", position),  # + P[t]   (eq. 2)
            *blocks,
            stage("lnf", layer_norm),  # (eq. 7)
            stage("head", linear, tie={"W": "tok.W.T"}),  # logits = h Wteᵀ + b   (eqs. 8, 9)
            stage("loss", cross_entropy, smoothing=0.0),  # the mean over B·T of −log p(next id)   (eq. 10)
        ),
        targets="next",
    )


NET = network(L)


def init(shape, *, seed=0, C=C, L=L) -> dict:
    """Parameters for windows of ``shape`` (B, T + 1): C wide, L blocks (``network(L)``), positions for T ids.

    The token table and the positions are drawn small, N(0, 0.02²) as in GPT-2: the head reads the table
    too (tied), so its logits start near 0 and the first loss near log V (eq. 17); the layer norms make
    the blocks indifferent to the stream's size. Other weights have entries of size 1/sqrt(fan-in); each
    block's last projection is smaller by 1/sqrt(2L), GPT-2's scale for a sum of 2L residual branches
    (eq. 16).
    """
    rng = np.random.default_rng(seed)
    T = shape[1] - 1
    D = C // HEADS  # the head size
    p = {"tok.W": 0.02 * rng.standard_normal((VOCAB, C)), "pos.P": 0.02 * rng.standard_normal((T, C))}  # (eq. 17)
    for i in range(L):
        a, m = f"b{i}.attn", f"b{i}.mlp"
        for ln in (f"{a}.ln", f"{m}.ln"):
            p[f"{ln}.gamma"], p[f"{ln}.beta"] = 1.0 + 0.1 * rng.standard_normal(C), 0.1 * rng.standard_normal(C)
        for w in ("Wq", "Wk", "Wv"):
            p[f"{a}.mha.{w}"] = rng.standard_normal((C, HEADS * D)) / np.sqrt(C)
        p[f"{a}.mha.Wo"] = rng.standard_normal((HEADS * D, C)) / np.sqrt(HEADS * D * 2 * L)
        p[f"{m}.fc.W"], p[f"{m}.fc.b"] = rng.standard_normal((C, 4 * C)) / np.sqrt(C), 0.1 * rng.standard_normal(4 * C)
        p[f"{m}.proj.W"] = rng.standard_normal((4 * C, C)) / np.sqrt(4 * C * 2 * L)
        p[f"{m}.proj.b"] = 0.1 * rng.standard_normal(C)
    p["lnf.gamma"], p["lnf.beta"] = 1.0 + 0.1 * rng.standard_normal(C), 0.1 * rng.standard_normal(C)
    p["head.b"] = np.zeros(VOCAB)
    return p
