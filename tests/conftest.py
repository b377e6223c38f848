"""Load the Hypothesis profile named by $HYPOTHESIS_PROFILE (see lab/verify/search/profiles.py)."""

from hypothesis import settings

import lab.verify.search.profiles as profiles

settings.load_profile(profiles.current())
