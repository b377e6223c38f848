"""Settling a batch in arrays gives every case the verdict that judging it alone gives."""

import numpy as np
import pytest

from lab import model as registry
from lab.verify.case import BATCH
from lab.verify.explain.mutations import MUTATIONS, mutant
from lab.verify.judge import judge, judge_batch
from lab.verify.measure.autodiff import Witness
from lab.verify.search.cases import EXTREME, ORDINARY, every_shape, fill

FIELDS = ("ok", "kind", "margin", "rel_error", "mismatch", "reason", "message", "diagnosis")


def _same(model, scales, shapes=3):
    w = Witness(model)
    compared = 0
    for drawn, seed in every_shape(model, scales)[:shapes]:
        batch = fill(model, list(drawn), BATCH, seed, scales)
        evidence = w.evaluate(batch, len(batch))
        together = list(judge_batch(model, batch, evidence, drawn=2, witness=w))
        for i, (c, ev) in enumerate(zip(batch, evidence, strict=True)):
            alone = judge(model, c, ev, finite_differences=i < 2, witness=w)
            for f in FIELDS:
                a, b = getattr(together[i], f), getattr(alone, f)
                assert a == b or (isinstance(a, float) and np.isnan(a) and np.isnan(b)), (model.name, i, f, a, b)
            for k in alone.hand:
                np.testing.assert_array_equal(together[i].hand[k], alone.hand[k])
                np.testing.assert_array_equal(together[i].tolerance[k], alone.tolerance[k])
            compared += 1
    return compared


@pytest.mark.parametrize("scales", [ORDINARY, EXTREME], ids=["ordinary", "extreme"])
@pytest.mark.parametrize("name", registry.names())
def test_every_case_gets_the_verdict_it_gets_alone(name, scales):
    assert _same(registry.get(name), scales) > 100


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_a_mutant_gets_the_verdicts_it_gets_alone(mutation):
    for name in ("logistic_regression", "softmax_regression"):
        model = registry.get(name)
        if mutation.applies(model):
            _same(mutant(model, mutation), ORDINARY, shapes=1)


def test_a_batch_with_mistakes_settles_only_the_passing_cases():
    """A factor of 1.5 on one case's gradient: that case is judged alone and fails."""
    model = registry.get("logistic_regression")
    w = Witness(model)
    drawn, seed = every_shape(model)[3]
    batch = fill(model, list(drawn), BATCH, seed)
    evidence = w.evaluate(batch, len(batch))
    good = list(judge_batch(model, batch, evidence))
    assert all(v.ok for v in good)
    ev = evidence[5]
    evidence[5] = type(ev)(**{**ev.__dict__, "grad": {k: 1.5 * g for k, g in ev.grad.items()}})
    verdicts = list(judge_batch(model, batch, evidence))
    assert [i for i, v in enumerate(verdicts) if not v.ok] == [5]
