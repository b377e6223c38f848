"""RMS norm in the style of LLaMA's ``RMSNorm`` (x * rsqrt(mean(x²) + eps) * weight), with a backward
written in terms of x and the inverse RMS r, not x̂: dx = r·g − r³·x·mean(g ⊙ x).

Style: Meta's llama/model.py forward; the backward as a fused kernel (e.g. Triton tutorials) writes it,
by the quotient rule on x·r with dr/dx = −r³x/C. The same vector as the lab's, in another order. Correct.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
HYPERPARAMETERS = {"eps": (1e-8, 1e-3)}
EXPECT = "verified"


def init(shape, *, seed=0):
    rng = np.random.default_rng(seed + 3)
    return {"weight": 1.0 + 0.3 * rng.standard_normal(shape[-1])}


def forward(params, x, *, eps=1e-6):
    xp = array_namespace(x, *params.values())
    r = 1.0 / xp.sqrt(xp.mean(x**2, axis=-1, keepdims=True) + eps)  # rsqrt
    return x * r * params["weight"]


def vjp(params, x, dout, *, eps=1e-6):
    r = 1.0 / np.sqrt(np.mean(x**2, axis=-1, keepdims=True) + eps)
    g = dout * params["weight"]
    dx = r * g - r**3 * x * np.mean(g * x, axis=-1, keepdims=True)
    return {"weight": np.sum(dout * x * r, axis=(0, 1))}, dx
