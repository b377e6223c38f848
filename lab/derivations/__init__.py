"""Checking derivations and lessons: labels that resolve, citations that exist, Python blocks that pass.

This is not verification of a gradient (that is lab/verify/); it checks the text that justifies one.
"""

from lab.derivations.check import (
    CITE,
    LESSONS,
    RESULTS,
    TAG,
    Background,
    DerivationResult,
    check_all,
    check_file,
    check_lesson,
    check_lessons,
    cited,
    derivation_for,
    label_key,
    run_lesson,
)

__all__ = [
    "CITE",
    "RESULTS",
    "TAG",
    "Background",
    "LESSONS",
    "DerivationResult",
    "check_all",
    "check_file",
    "check_lesson",
    "check_lessons",
    "cited",
    "derivation_for",
    "label_key",
    "run_lesson",
]
