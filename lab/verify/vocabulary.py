"""The verifier's words: what a case came to, why, and which hand function it was about.

Every room reads these fields (diagnosis, report, JSON, command line, book), never message text.
They are string enums, so a JSON report and a test can compare them with plain strings.
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    """What one case came to (see the principle in lab/verify/__init__.py)."""

    VERIFIED = "verified"  # the hand value agrees with the reference
    INEXACT = "inexact"  # it disagrees, within its own measured error: right mathematics, lost digits
    INCONCLUSIVE = "inconclusive"  # the reference cannot tell right from wrong here
    SKIPPED = "skipped"  # there is no reference here
    WITNESSES = "witnesses disagree"  # two references disagree with each other
    WRONG = "wrong"  # the hand value disagrees with the reference beyond both errors
    CONTRACT = "contract"  # the code does not keep the model contract (it raised, or gave wrong shapes)

    @property
    def passed(self) -> bool:
        """Checked, and right."""
        return self in (Kind.VERIFIED, Kind.INEXACT)

    @property
    def failed(self) -> bool:
        """Checked, and not right (or not checkable because the code breaks the contract)."""
        return self in (Kind.WITNESSES, Kind.WRONG, Kind.CONTRACT)


class What(StrEnum):
    """The hand function a verdict is about."""

    GRADIENT = "gradient"
    HESSIAN = "hessian"
    LOSS_AND_GRAD = "loss_and_grad"


class Reason(StrEnum):
    """Why a case was skipped or proves nothing."""

    LOSS_NOT_FINITE = "the loss is not finite"
    NO_PARAMETERS = "the parameters have no entries at this shape"
    NO_FINITE_STEPS = "autodiff is not finite and the loss has no finite steps"
    BOUND_NOT_FINITE = "the rounding bound of autodiff is not finite"
    HAND_ERROR_UNMEASURED = (
        "the hand value is off the exact one, and its own rounding, for which autodiff's bound stands, is "
        "neither bounded nor measured"
    )
    PART_UNREFERENCED = "autodiff is not finite, and some entries have neither finite steps nor an exact value"
    WITHIN_ROUNDING = "each entry of autodiff is within its error bound of 0"
    KINKS_TOGETHER = "the sides of its kinks cannot be told apart"
    UNDECLARED_KINK = (
        "at a kink the model does not declare, the hand value lies outside the one-sided derivatives, which "
        "bound the valid subgradients only where the loss is convex there"
    )


class Status(StrEnum):
    """What verifying one model came to. A passing model whose cases were mostly inconclusive is
    still ``PASS`` (nothing was wrong), but the report says so (``ModelReport.mostly_inconclusive``)."""

    PASS = "pass"  # enough cases checked, none wrong
    FAIL = "fail"  # a case is wrong, or the witnesses disagree
    ERROR = "error"  # the code breaks the contract, or too little could be checked
