"""The gradient lab: losses with hand-derived gradients, proved against JAX and finite differences.

    >>> import lab
    >>> model = lab.get("logistic_regression")
    >>> params, history = lab.fit(model, X, y, lr=0.5, steps=500)
    >>> lab.check(model, params, X, y)   # the hand gradient at that point, judged by every witness

Importing ``lab`` does not import JAX; ``lab.verify`` does.
"""

import lab.layer  # noqa: F401  (registers the layer kind with lab.model, so load() takes layer files)
import lab.net  # noqa: F401  (registers the network kind: load() takes nets/NAME and network files)
from lab.model import Model, ModelError, get, load, names
from lab.optim import DivergedError, History, fit


def check(model, params, X, y, **hyper):
    """The verdict on ``model``'s hand gradient at one point (see lab/verify/search/point.py); imports JAX."""
    from lab.verify import check as _check

    return _check(model, params, X, y, **hyper)


__all__ = ["DivergedError", "History", "Model", "ModelError", "check", "fit", "get", "load", "names"]
__version__ = "0.1.0"
