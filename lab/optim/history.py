"""What a run records: :class:`History` (loss, gradient norm, step size, time per step), why it
stopped, and :class:`DivergedError` for a run that blew up; the flattening of parameters in
init's key order that the Hessian and Newton's method use."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from lab.model import Params
from lab.optim.separable import SEPARABLE

#: The stop reasons of the iterative optimizers.
CONVERGED = "converged"  # the gradient norm fell to tol
MAX_STEPS = "max steps"
STALLED = "stalled"  # Newton's line search found no decrease (the loss is flat to rounding)
FLAT_START = "flat start"  # the gradient is exactly 0 at the start, and the loss is no higher nearby


class DivergedError(ValueError):
    """Training left the region where the loss is finite or shrinking.

    ``history`` holds the steps up to the divergence; no parameters are returned.
    """

    def __init__(self, message: str, history: History | None = None):
        super().__init__(message)
        self.history = history


@dataclass
class History:
    """One entry per step: the loss and gradient norm at the start of the step, the wall time since the
    start; ``step_size`` holds the size of each step taken (one fewer entry). For :func:`sgd` a step is
    one epoch (one pass over the data, as for :func:`gd`)."""

    loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    step_size: list[float] = field(default_factory=list)
    time: list[float] = field(default_factory=list)
    stop_reason: str = ""
    optimizer: str = ""
    tol: float = math.nan
    note: str = ""  # how the run started or was set up, when that matters (Newton's options)
    #: For a binary classifier trained without a penalty: whether the training classes are linearly separable
    #: (then the loss has no minimum), None when not checked or undecided (:mod:`lab.optim.separable`).
    separable: bool | None = None
    #: True when, moreover, the model's loss keeps falling along the separating direction: it has no minimum,
    #: and :attr:`message` says so in place of "converged", naming ``separable_fix``.
    no_minimum: bool = False
    separable_fix: str = ""
    #: The line search's (:func:`~lab.optim.linesearch.gd_linesearch`), one entry per step: where the two losses
    #: agreed within their measured rounding and the slopes decided (eq. 9), that rounding, err(L_k) + err(L_k+1);
    #: NaN where the losses told the decrease (eq. 8). Empty for the other optimizers.
    rounding: list[float] = field(default_factory=list)

    @property
    def steps(self) -> int:
        return len(self.loss) - 1

    @property
    def message(self) -> str:
        """The stop reason in words, e.g. "converged: gradient norm 3.1e-09 ≤ tol 1e-08", then the note; on
        linearly separable classes (``separable``), that the loss has no minimum, in place of "converged"."""
        gn = self.grad_norm[-1] if self.grad_norm else math.nan
        if self.no_minimum:  # "converged" would be false: there is no minimum to converge to
            said = f"{SEPARABLE}; {self.separable_fix}" if self.separable_fix else SEPARABLE
            said += f" (stopped at step {self.steps}, gradient norm {gn:.2g})"
        elif self.stop_reason == CONVERGED:
            said = f"converged: gradient norm {gn:.2g} ≤ tol {self.tol:g}"
        elif self.stop_reason == MAX_STEPS:
            said = f"max steps: gradient norm {gn:.2g} > tol {self.tol:g}"
        else:
            said = self.stop_reason
        return f"{said}; {self.note}" if self.note else said


def grad_norm(g: Params) -> float:
    return float(np.sqrt(sum(float(np.sum(np.square(v))) for v in g.values())))


# -- flattening: the Hessian is over the parameters in init's key order (w, then b) --------


def flatten(params: Params) -> np.ndarray:
    """The parameters as one vector, in the dict's key order (init's order: w, then b)."""
    return np.concatenate([np.ravel(v) for v in params.values()])


def unflatten(theta: np.ndarray, like: Params) -> Params:
    """The inverse of :func:`flatten`: a dict with the keys and shapes of ``like``."""
    out, i = {}, 0
    for k, v in like.items():
        size = int(np.size(v))
        out[k] = np.reshape(theta[i : i + size], np.shape(v)).copy()
        i += size
    return out
