"""The tanh-approximate GELU written through the sigmoid: x · σ(2u), since ½(1 + tanh u) = σ(2u).

Style: the "x * sigmoid(1.702 x)" family of GELU code, here with the exact identity for the tanh
form, u = √(2/π)(x + 0.044715 x³). σ is computed as exp(−softplus(−z)) with logaddexp, as
``jax.nn.log_sigmoid`` does, so it neither overflows nor cancels for large |z|. The backward uses
σ' = σ(1 − σ) with 1 − σ(z) = σ(−z). Correct: the same function as the tanh form.
"""

import numpy as np
from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
EXPECT = "verified"
C0, C1 = 0.7978845608028654, 0.044715  # √(2/π) and the cubic coefficient


def init(shape, *, seed=0):
    return {}


def _sigmoid(z, xp):
    return xp.exp(-xp.logaddexp(xp.zeros_like(z), -z))  # σ(z) = exp(−log(1 + e^(−z)))


def forward(params, x):
    xp = array_namespace(x)
    z = 2.0 * C0 * (x + C1 * x**3)
    return x * _sigmoid(z, xp)


def vjp(params, x, dout):
    z = 2.0 * C0 * (x + C1 * x**3)
    s, s_neg = _sigmoid(z, np), _sigmoid(-z, np)  # σ(z) and 1 − σ(z)
    dz = 2.0 * C0 * (1.0 + 3.0 * C1 * x**2)
    return {}, dout * (s + x * s * s_neg * dz)
