"""The compiled witness programs compute what the loss says, rounding each operation as written.

XLA fuses a·b + c into one FMA on processors that have one, and not in every copy of a
recomputed value; lab/verify/runtime/jax_config.py caps the instruction set so that it cannot. These
tests hold every model's compiled program to JAX run one operation at a time.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from lab import model as registry
from lab.verify.measure.autodiff import Witness
from lab.verify.runtime import jax_config as _jax
from lab.verify.runtime.ops_cache import one_op_programs_kept
from lab.verify.search.cases import EXTREME, ORDINARY, every_shape

pytestmark = pytest.mark.slow  # compiles or runs kernels: minutes

jax = _jax.jax


def test_compiled_programs_round_each_operation_as_written():
    assert not _jax.fuses_multiply_add()


def _compiled(evidence, hessian: bool):
    """The program's outputs (values, bounds) for these cases, from the witness's evidence for them."""

    def tree(err):
        sfx = "_err" if err else ""
        out = {
            "loss": np.array([getattr(e, "loss" + sfx) for e in evidence]),
            "grad": {k: np.stack([getattr(e, "grad" + sfx)[k] for e in evidence]) for k in evidence[0].grad},
            "jvp": np.stack([getattr(e, "jvp" + sfx) for e in evidence]),
        }
        if hessian:
            out["hessian"] = np.stack([getattr(e, "hessian" + sfx) for e in evidence])
        return out

    return tree(False), tree(True)


def _first(tree, n: int):
    return jax.tree_util.tree_map(lambda a: a[:n], tree)


def _leaves(tree):
    return [np.asarray(a) for a in jax.tree_util.tree_leaves(tree)]


@pytest.mark.parametrize("scales", [ORDINARY, EXTREME], ids=["ordinary", "extreme"])
@pytest.mark.parametrize("name", registry.names())
def test_the_compiled_program_agrees_with_one_operation_at_a_time(name, scales):
    """Both are evaluations of the same loss: finite at the same entries, within each other's rounding
    bounds, and with bounds of the same size (a fused program bounded a y − z of 0 at 7.9e-17, where
    it is 1.2e-15). Sums may run in another order, so the bits may differ. JAX compiles each primitive
    at each shape for the second (about 500 programs, 13 s, for softmax): they are kept in the suite's
    store like the referee's, so a second run reads them back."""
    m = registry.get(name)
    w = Witness(m)
    for batch, _ in every_shape(m, scales)[:2]:
        cases = list(batch)[:4]
        cv, ce = _compiled(w.evaluate(cases, 4), w.has_hessian)
        args = jax.device_put(w._arrays(cases, 4))
        with jax.disable_jit(), one_op_programs_kept():  # the compiled program above is made outside it
            ev, ee = _first(w._all(*args), len(cases))
        for c, e, cb, eb in zip(_leaves(cv), _leaves(ev), _leaves(ce), _leaves(ee), strict=True):
            np.testing.assert_array_equal(np.isfinite(c), np.isfinite(e), err_msg=f"{name}: finite at other entries")
            ok = np.isfinite(c) & np.isfinite(cb) & np.isfinite(eb)
            with np.errstate(invalid="ignore"):
                assert np.all(np.abs(c - e)[ok] <= (cb + eb)[ok]), f"{name}: values apart by more than their bounds"
            assert np.all(cb[ok] >= 0.5 * eb[ok]), f"{name}: the compiled bound is smaller than the eager one"


@pytest.mark.skipif(" fma " not in open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else True,
                    reason="a processor without FMA cannot fuse")  # fmt: skip
def test_jax_started_before_the_lab_is_one_clear_error():
    """XLA reads its flags once, when JAX makes its CPU client: started earlier, the cap cannot hold."""
    code = (
        "import jax, jax.numpy as jnp; jnp.zeros(1)\n"
        "from lab import model; from lab.verify.measure.autodiff import Witness\n"
        "for _ in range(2):  # and again: a second witness must not trust the fused programs either\n"
        "    try:\n        Witness(model.get('linear_regression'))\n"
        "    except RuntimeError as e:\n        print(e)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.count("import lab before JAX starts") == 2, out.stdout + out.stderr
