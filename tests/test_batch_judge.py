"""A batch is judged by the same rules as one case (a single case is a batch of one): a mistake in one
case of a batch fails that case and no other."""

import numpy as np

from lab import model as registry
from lab.verify.case import BATCH
from lab.verify.judge import judge, judge_batch
from lab.verify.measure.autodiff import Witness
from lab.verify.search.cases import every_shape, fill


def test_a_mistake_in_one_case_of_a_batch_fails_that_case_alone():
    """A hand gradient wrong by a factor 1.5 at one case of a batch only: that case fails, no other does,
    and judging it alone gives the same verdict."""
    from types import SimpleNamespace

    from lab.model import Model

    model = registry.get("logistic_regression")
    w = Witness(model)
    drawn, seed = every_shape(model)[3]
    batch = fill(model, list(drawn), BATCH, seed)
    evidence = w.evaluate(batch, len(batch))
    good = list(judge_batch(model, batch, evidence))
    assert all(v.ok for v in good)
    i = 20  # past the fill's first cases, which repeat the drawn ones (the same seed)
    target, mod = batch[i], model.module

    def grad(p, X, y, **h):
        g = mod.grad(p, X, y, **h)
        hit = np.array_equal(X, target.X) and all(np.array_equal(p[k], target.params[k]) for k in p)
        return {k: 1.5 * np.asarray(v) for k, v in g.items()} if hit else g

    fake = SimpleNamespace(**{k: getattr(mod, k) for k in dir(mod) if not k.startswith("__")})
    fake.grad, fake.__file__, fake.__name__ = grad, mod.__file__, mod.__name__ + "~case5"
    bad = Model(model.name + "~case5", fake)
    verdicts = list(judge_batch(bad, batch, evidence))
    assert [j for j, v in enumerate(verdicts) if not v.ok] == [i]
    assert verdicts[i].kind == "wrong" and judge(bad, target, evidence[i], finite_differences=False).kind == "wrong"
    assert not np.isnan(verdicts[i].margin)
