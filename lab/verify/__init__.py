"""The verifier: is a hand-derived gradient right?

The principle. Every number the verifier compares is *measured*: a value and a bound on its own
error, from the program that made it (the rounding interpreter for JAX, the Neville table for
finite differences, a rerun in other precision for the hand code). Two numbers *agree* when
|a − b| ≤ err(a) + err(b), the only tolerance. A case is *skipped* when there is no reference,
*inconclusive* when the reference cannot tell right from wrong, *witnesses disagree* when two
references disagree, *verified* when the hand value agrees with the reference, *inexact* when it
disagrees within its own measured error, and *wrong* otherwise. At a kink the reference is the
interval of one-sided derivatives; where autodiff is not finite, it is the differences.

The rooms:

- ``measure/``: what is measured, each value with its error bound: autodiff (JAX's reverse and
  forward mode, bounded by the rounding interpreter), differences (Ridders' tables), the hand
  code's own rounding (reruns in other precisions), kinks, and the exact referee (JAX's
  derivative program run again at 60 and 120 digits, and the audit of the rounding bounds);
- ``judge``: the rules that turn measured evidence into a verdict; it never runs JAX;
- ``search/``: the cases, the profiles, the engine that searches and shrinks, and one point;
- ``explain/``: diagnosis, the report, and the mutants;
- ``runtime/``: the JAX configuration, the program store and its source key, the measurements kept in
  the store (``memo``), and the cache of the referee's one-operation programs.

This package's public names are below; the command line, the book and the benchmarks use them.
The names load on first use, so importing ``lab.verify`` does not start JAX.
"""

from __future__ import annotations

import importlib

_PUBLIC = {
    "verify": "lab.verify.search.engine",
    "ModelReport": "lab.verify.search.engine",
    "MIN_CASES": "lab.verify.search.engine",
    "check": "lab.verify.search.point",
    "load_point": "lab.verify.search.point",
    "PROFILES": "lab.verify.search.profiles",
    "Case": "lab.verify.case",
    "BATCH": "lab.verify.case",
    "judge": "lab.verify.judge",
    "Verdict": "lab.verify.judge",
    "Witness": "lab.verify.measure.autodiff",
    "approximated": "lab.verify.measure.rounding",
    "exact_loss": "lab.verify.measure.referee",
    "exact_gradient": "lab.verify.measure.referee",
    "exact_hessian": "lab.verify.measure.referee",
    "along": "lab.verify.measure.referee",
    "Exact": "lab.verify.measure.referee",
    "Unsupported": "lab.verify.measure.referee",
    "audit": "lab.verify.measure.referee",
    "Audit": "lab.verify.measure.referee",
    "breaches": "lab.verify.measure.referee",
    "diagnose": "lab.verify.explain.diagnosis",
    "boundary_table": "lab.verify.explain.boundaries",
    "plain_case": "lab.verify.search.layer_cases",
    "table": "lab.verify.explain.report",
    "failures": "lab.verify.explain.report",
    "write_json": "lab.verify.explain.report",
    "precision_note": "lab.verify.explain.report",
    "MUTATIONS": "lab.verify.explain.mutations",
    "Mutation": "lab.verify.explain.mutations",
    "mutant": "lab.verify.explain.mutations",
    "SLIPS": "lab.verify.explain.mutations",
    "slipped": "lab.verify.explain.mutations",
    "STORE": "lab.verify.runtime.programs",
    "MAX_MB": "lab.verify.runtime.store",
    "OPS_DIR": "lab.verify.runtime.ops_cache",
    "OPS_MAX_MB": "lab.verify.runtime.ops_cache",
    "jax": "lab.verify.runtime.jax_config",
    "jnp": "lab.verify.runtime.jax_config",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'lab.verify' has no attribute {name!r}")
    # not kept here: the owner's attribute is the one truth (a test may replace the program store there)
    return getattr(importlib.import_module(_PUBLIC[name]), name)


def __dir__():
    return __all__
