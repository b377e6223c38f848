"""A batch is judged by the same rules as one case (a single case is a batch of one): a mistake in one
case of a batch fails that case and no other."""

import numpy as np

from lab import model as registry
from lab.verify.case import BATCH
from lab.verify.judge import judge, judge_batch
from lab.verify.measure.autodiff import Witness
from lab.verify.search.cases import every_shape, fill


def test_a_mistake_in_one_case_of_a_batch_fails_that_case_alone():
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
    assert verdicts[5].kind == "wrong" and judge(model, batch[5], evidence[5], finite_differences=False).kind == "wrong"
    assert not np.isnan(verdicts[5].margin)
