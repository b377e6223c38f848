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
from contextlib import contextmanager

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


@contextmanager
def same_draws_everywhere():
    """Within it, Hypothesis draws from its own constants only.

    Hypothesis mixes into its draws the constants it reads from the source of every loaded module
    outside site-packages (hypothesis/internal/conjecture/providers.py, ``_get_local_constants``), so
    a derandomized profile drew other cases when pandas sat on PYTHONPATH, or when the command line
    had imported more of the lab than a test had (issue 18: 13,696 cases and a pass, or 26,205 and a
    failure). The pool stays empty while the verifier searches; the cache of the constants each
    draw may use is emptied on the way in and out.
    """
    try:
        from hypothesis.internal.conjecture import providers

        local, cache, empty = providers._get_local_constants, providers.CONSTANTS_CACHE.cache, providers.Constants()
    except (ImportError, AttributeError):  # another Hypothesis: draws as it does
        yield
        return
    providers._get_local_constants = lambda: empty
    cache.clear()
    try:
        yield
    finally:
        providers._get_local_constants = local
        cache.clear()


def current() -> str:
    """The profile in force: $HYPOTHESIS_PROFILE, else ``ci`` under CI, else ``dev``."""
    return os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
