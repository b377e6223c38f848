"""Load the Hypothesis profile named by $HYPOTHESIS_PROFILE (see lab/verify/profiles.py)."""

from hypothesis import settings

import lab.verify.profiles as profiles

settings.load_profile(profiles.current())
