"""Cross-entropy over tokens with x = (logits, targets), as a training loop passes them.

Style: a loss layer in the manner of llm.c's ``crossentropy_forward(losses, probs, targets)``,
where the logits are the input and the targets ride along with them; only the logits are
differentiated, so ``vjp`` returns d x as (d logits, None). No label smoothing.
"""

import numpy as np
from array_api_compat import array_namespace

EXPECT = "verified"
KIND = "layer"
INPUT = ("real", "tokens")
SHAPE = (("B", "T", "V"), ("B", "T"))
VOCAB = 5
MIN_SIZES = {"V": VOCAB}  # the logits' last axis is the vocabulary


def init(shape, *, seed=0):
    return {}


def forward(params, x):
    logits, targets = x
    xp = array_namespace(logits, targets)
    m = xp.max(logits, axis=-1, keepdims=True)
    logz = m[..., 0] + xp.log(xp.sum(xp.exp(logits - m), axis=-1))
    picked = xp.sum(logits * (xp.arange(VOCAB) == targets[..., None]), axis=-1)
    return xp.mean(logz - picked)


def vjp(params, x, dout):
    logits, targets = x
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    p = e / e.sum(axis=-1, keepdims=True)
    p[np.arange(VOCAB) == targets[..., None]] -= 1.0  # p is a fresh array: writing it is fine
    return {}, (dout * p / targets.size, None)
