"""Load the Hypothesis profile named by $HYPOTHESIS_PROFILE (see lab/verify/profiles.py), and keep the
counterexamples of the tests' failing runs out of the checkout."""

import pytest
from hypothesis import settings

import lab.verify.profiles as profiles

settings.load_profile(profiles.current())


@pytest.fixture(autouse=True, scope="session")
def _counterexamples_out_of_the_checkout(tmp_path_factory):
    """A failing ``lab verify`` writes its counterexample to .cache/counterexamples/ of the folder it runs in.
    The tests' mutants are named like the lab's models, so theirs go to a temporary folder instead."""
    import lab.cli

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(lab.cli, "COUNTEREXAMPLES", str(tmp_path_factory.mktemp("counterexamples")))
        yield
