"""The suite's settings, before any test imports the lab's JAX side.

- The Hypothesis profile named by $HYPOTHESIS_PROFILE (see lab/verify/search/profiles.py).
- The suite's own caches: compiled programs and derivation results go to ``$LAB_TEST_CACHE``, else
  ``.cache/tests`` in this checkout, never the user's program store. Subprocesses the tests start
  inherit it through ``LAB_JAX_CACHE``.
"""

import os
from pathlib import Path

from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
os.environ["LAB_JAX_CACHE"] = os.environ.get("LAB_TEST_CACHE") or str(ROOT / ".cache" / "tests")

import lab.verify.search.profiles as profiles  # noqa: E402

settings.load_profile(profiles.current())
