"""The suite's settings, before any test imports the lab's JAX side.

- The Hypothesis profile named by $HYPOTHESIS_PROFILE (see lab/verify/search/profiles.py).
- The suite's own caches: compiled programs and derivation results go to ``$LAB_TEST_CACHE``, else
  ``.cache/tests`` in this checkout, never the user's program store. Subprocesses the tests start
  inherit it through ``LAB_JAX_CACHE``. It may hold 4 GB (``$LAB_CACHE_MAX_MB``, the user's default is
  512 MB): beside the programs (about 300 MB) it keeps the evidence of every batch the suite's searches
  measure (lab/verify/runtime/memo.py, about 500 MB), which a smaller store would drop first and the
  next run would measure again.
- The counterexamples of the tests' failing runs go to a temporary folder, not the checkout.
"""

import os
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
os.environ["LAB_JAX_CACHE"] = os.environ.get("LAB_TEST_CACHE") or str(ROOT / ".cache" / "tests")
os.environ.setdefault("LAB_CACHE_MAX_MB", "4096")

import lab.verify.search.profiles as profiles  # noqa: E402

settings.load_profile(profiles.current())


@pytest.fixture(autouse=True, scope="session")
def _counterexamples_out_of_the_checkout(tmp_path_factory):
    """A failing ``lab verify`` writes its counterexample to .cache/counterexamples/ of the folder it runs in.
    The tests' mutants are named like the lab's models, so theirs go to a temporary folder instead."""
    import lab.cli

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(lab.cli, "COUNTEREXAMPLES", str(tmp_path_factory.mktemp("counterexamples")))
        yield
