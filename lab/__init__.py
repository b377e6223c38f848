"""The gradient lab: losses with hand-derived gradients, proved against JAX and finite differences.

    >>> import lab
    >>> model = lab.get("logistic_regression")
    >>> params, history = lab.fit(model, X, y, lr=0.5, steps=500)

Importing ``lab`` does not import JAX; ``lab.verify`` does.
"""

from lab.model import Model, ModelError, get, load, names
from lab.optim import DivergedError, History, fit

__all__ = ["DivergedError", "History", "Model", "ModelError", "fit", "get", "load", "names"]
__version__ = "0.1.0"
