"""Searches that several tests ask for, run once per test process.

The ci profile is derandomized, so the same model under the same profile gives the same report: a test
file that needs a mutant's report asks here, and the second one gets it without searching again.
"""

import functools

from lab import model as registry
from lab.verify.explain.mutations import MUTATIONS, mutant
from lab.verify.search.engine import verify

_MUTATIONS = {mu.name: mu for mu in MUTATIONS}


@functools.cache
def mutant_report(name: str, mutation: str, profile: str = "ci"):
    """The report of ``verify`` on registered model ``name`` with ``mutation`` seeded into its gradient."""
    return verify(mutant(registry.get(name), _MUTATIONS[mutation]), profile=profile)
