"""Hypothesis profiles, in one place for the verifier and the tests.

Every profile first checks one batch of each shape the search draws from (lab/verify/search/cases.py
``every_shape``), so all profiles visit the same compiled programs; ``max_examples`` counts
Hypothesis's own examples after those (ci: 7 + 9 = 16 batches, 2048 cases).

- ``dev``: fast, for editing: fresh random data on every run, and fewer batches than ``ci``
  (7 + 4 = 11, 1408 cases), so it is never the slower of the two;
- ``ci``: derandomized and without a deadline, so CI is repeatable;
- ``thorough``: many examples, extreme scales included;
- ``extreme``: scales only: features up to 1e6, scores up to 1e4, near-collinear
  columns, repeated rows, n = 1.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

from lab.verify.search.cases import EXTREME, ORDINARY, Scales

_quiet = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

PROFILES: dict[str, tuple[dict, Scales]] = {
    "dev": (dict(max_examples=4, deadline=None), ORDINARY),
    "ci": (dict(max_examples=9, deadline=None, derandomize=True, print_blob=True), ORDINARY),
    "thorough": (dict(max_examples=1000, deadline=None), EXTREME),
    "extreme": (dict(max_examples=100, deadline=None, derandomize=True), EXTREME),
}

for _name, (_kw, _) in PROFILES.items():
    settings.register_profile(_name, suppress_health_check=_quiet, **_kw)


def current() -> str:
    """The profile in force: $HYPOTHESIS_PROFILE, else ``ci`` under CI, else ``dev``."""
    return os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
