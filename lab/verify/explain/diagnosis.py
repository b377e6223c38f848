"""Diagnosis: what kind of mistake makes the hand gradient differ from autodiff.

Each explanation is tested, not guessed: a factor is fitted and the rest must
vanish within tolerance; "the 1/n is missing" is told apart from "a factor 2"
by doubling the data (stacking X and y twice leaves a mean loss and its true
gradient unchanged, but doubles a sum); "wrong only for some samples" comes
from checking each sample on its own.
"""

from __future__ import annotations

import functools
import re
from fractions import Fraction

import numpy as np

from lab.model import Model
from lab.net import network_of
from lab.verify.case import BATCH, Case
from lab.verify.explain import jacobian
from lab.verify.judge import Verdict, judge, judge_batch, sided
from lab.verify.measure.autodiff import Witness
from lab.verify.measure.hand import hand_gradient
from lab.verify.vocabulary import Kind, What


def _flat(d: dict, keys) -> np.ndarray:
    return np.concatenate([np.ravel(d[k]) for k in keys]) if keys else np.zeros(0)


def _fit_factor(h: np.ndarray, a: np.ndarray, tol: np.ndarray) -> float | None:
    """The c with h ≈ c·a within tolerance (scaled by |c|), or None."""
    aa = float(a @ a)
    if aa == 0 or not np.isfinite(aa):
        return None
    c = float(h @ a) / aa
    slack = (abs(c) + 1) * tol + 1e-9 * np.abs(c * a)
    return c if np.all(np.abs(h - c * a) <= slack) else None


def _name_factor(c: float, n: int, with_n: bool = True) -> str | None:
    """Name c as one of 2, 1/2, n, 1/n and their kin, or None; ``with_n`` adds the value of n."""
    names = {2: "2", 0.5: "1/2", 4: "4", 0.25: "1/4"}
    for value, name in names.items():
        if np.isclose(c, value, rtol=1e-9):
            return name
    for value, name in {n: "n", 1 / n: "1/n", 2 * n: "2n", n / 2: "n/2", 2 / n: "2/n", 1 / (2 * n): "1/(2n)"}.items():
        if np.isclose(c, value, rtol=1e-9):
            return f"{name} (n = {n})" if with_n else name
    frac = Fraction(c).limit_denominator(16)
    if np.isclose(float(frac), c, rtol=1e-9):
        return str(frac)
    return None


def diagnose(
    model: Model, witness: Witness, v: Verdict, wide: Verdict | None = None, shown: Verdict | None = None
) -> str:
    """A sentence naming the kind of mistake behind verdict ``v``.

    ``wide`` is a failing case with more samples than the shrunk ``v`` (the
    first one found, with random dense data); when given, the diagnosis reads
    it, since shrinking can erase a pattern (n = 1 hides "only when y = 1").
    Where the exact referee was the reference (the judge's rules 3 and 5: autodiff gave none), the
    sentence names it, not autodiff.
    """
    said = _diagnose(model, witness, v, wide, shown)
    if v.exact is not None and v.reference is v.exact and v.rule in (3, 5):
        said = said.replace("hand/autodiff", "hand/exact").replace("autodiff's", "the exact gradient's")
        said = said.replace("autodiff", "the exact gradient")
    return said


def _diagnose(
    model: Model, witness: Witness, v: Verdict, wide: Verdict | None = None, shown: Verdict | None = None
) -> str:
    if v.kind in (Kind.CONTRACT, Kind.WITNESSES) or v.what == What.LOSS_AND_GRAD:
        return v.message
    if "the witnesses disagree" in v.message:  # autodiff is the odd one out: say so, not how hand differs from it
        return v.message.split("the witnesses disagree: ", 1)[1]
    if network_of(model) is not None:  # a network: the stage or junction where the error starts
        from lab.verify.explain.boundaries import boundary_table

        return boundary_table(model, v.case).fault or v.message
    if getattr(model.module, "KIND", None) == "layer":
        # the exact facts of a backward first (the judge reads them on the drawn cases of a batch only)
        structure = model.module.structure(v.case.params, v.case.X, v.case.y, **v.case.hyper)
        return structure or _layer_diagnosis(model, witness, v, wide)
    if v.what == What.HESSIAN:
        return _hessian(model, witness, v)
    if _at_kink(v):  # a subgradient outside its bracket: is it wrong off the kinks too?
        off = _probe(model, witness, v)
        if off is not v and _wrong_gradient(off) and off.reference:
            return f"{_diagnose(model, witness, off, shown=v)} (and at a kink, not a subgradient)"
        return v.message
    if not v.reference:  # judged by finite differences alone: the message says it all
        return v.message
    shown = shown or v
    # autodiff's value at a kink is one one-sided derivative, no reference for a subgradient: a wide
    # case that failed there says nothing entry by entry (it once named a factor n "a zero block")
    v = wide if wide is not None and _wrong_gradient(wide) and wide.reference and not _at_kink(wide) else v
    if v.case.X.shape[0] < 8 or (model.n_features is None and v.case.X.shape[1] < 3):
        v = _probe(model, witness, v)
    same = v is shown  # sizes, rows and indices are named only when they are those of the case shown
    keys = list(v.reference)
    h, a, tol = (_flat(x, keys) for x in (v.hand, v.reference, v.tolerance))
    n = shown.case.X.shape[0]
    if not np.all(np.isfinite(h)):  # facts, not a hypothesis: no factor or pattern is read off NaN or inf
        k = next(k for k in keys if not np.all(np.isfinite(v.hand[k])))
        i = tuple(int(j) for j in np.argwhere(~np.isfinite(np.asarray(v.hand[k])))[0])
        at = k + (f"[{', '.join(map(str, i))}]" if i else "")
        hand, ref = float(np.asarray(v.hand[k])[i]), float(np.asarray(v.reference[k])[i])
        case = "" if same else f" (at a case with {v.case.size_words()})"
        if np.isfinite(ref):
            why = "an intermediate of the hand code overflows (e^x past 709.78) or meets 0/0, ∞ − ∞ or 0·∞"
            return f"the hand gradient is {hand} at {at} where the true one is {ref:.6g}{case}: {why}"
        other = "" if np.isnan(ref) or np.sign(ref) == np.sign(hand) else ": of the other sign"
        return f"the hand gradient is {hand} at {at} where the true one is {ref}{case}{other}"
    wrong = [k for k in keys if np.any(np.abs(v.hand[k] - v.reference[k]) > v.tolerance[k])]
    right = [k for k in keys if k not in wrong]

    for k in wrong:
        if np.all(np.asarray(v.hand[k]) == 0):
            return (
                f"missing term or zero block: the hand gradient of {k} is zero where autodiff is not "
                f"(a dropped ∂L/∂{k}?)"
            )

    informative = int(np.sum((np.abs(h - a) <= tol) & (np.abs(a) > tol)))  # entries that agree and are not ~0
    m = v.mismatch
    rel = abs(m.hand - m.reference) / max(abs(m.reference), 1e-300) if m is not None else 0.0
    block = np.size(v.reference[m.param]) if m is not None and m.param else 0
    if int(np.sum(np.abs(h - a) > tol)) == 1 and informative >= 1 and m is not None and (block > 1 or rel < 1e-3):
        sm = shown.mismatch
        if not same and sm is not None and sm.param == m.param:
            m, rel = sm, abs(sm.hand - sm.reference) / max(abs(sm.reference), 1e-300)
        where = m.where if same or m is shown.mismatch else f"one entry of ∂L/∂{m.param}"
        return f"a single entry is wrong: {where} is off by a relative {rel:.1e}; every other entry agrees"

    # Each hypothesis below is fitted on this case and printed only when its repair, applied to the hand
    # gradient, passes the judge at this case and at fresh ones (:func:`_repair_holds`).
    def holds(repair) -> bool:
        return _repair_holds(model, witness, v, repair)

    # a factor is earned only when it is over-determined: two or more entries stand clear of rounding
    c = _fit_factor(h, a, tol) if int(np.sum(np.abs(a) > 10 * tol)) >= 2 else None
    if c is not None and abs(c) > 1e-3 and abs(c - 1) > 1e-3:
        growth = _growth_with_n(model, v.case)
        if np.isclose(c, -1.0, rtol=1e-9) and holds(_scale_all(lambda case: -1.0)):
            return "sign flip: the hand gradient is −1 × autodiff (ŷ − y written as y − ŷ, or a lost minus sign)"
        if (
            growth is not None
            and np.isclose(growth, 2.0, rtol=1e-6)
            and holds(_scale_all(lambda case: case.X.shape[0]))
        ):
            return (
                f"constant factor n (n = {n}): the hand gradient grows with the number of samples; "
                "the 1/n of the mean is missing"
            )
        if (
            growth is not None
            and np.isclose(growth, 0.5, rtol=1e-6)
            and holds(_scale_all(lambda case: 1 / case.X.shape[0]))
        ):
            return (
                f"constant factor 1/n (n = {n}): the hand gradient shrinks with the number of samples; "
                "1/n is applied twice"
            )
        cs = _simple(c) or c
        if holds(_scale_all(lambda case: cs)):
            name = _name_factor(c, v.case.X.shape[0], same) or _fmt(c)
            hint = " (the 2 of the square?)" if name in ("2", "1/2") else ""
            return f"constant factor {name}: the hand gradient is {name} × autodiff{hint}"

    # a factor in each wrong block (a bias gradient averaged twice in every layer), repaired together
    factors = {}
    for k in wrong:
        hk, ak, tk = np.ravel(v.hand[k]), np.ravel(v.reference[k]), np.ravel(v.tolerance[k])
        ck = _fit_factor(hk, ak, tk) if int(np.sum(np.abs(ak) > 10 * tk)) >= 1 else None
        if ck is None or abs(ck - 1) <= 1e-3:
            break
        factors[k] = _simple(ck) or ck
    if right and len(wrong) > 1 and len(factors) == len(wrong):
        if holds(lambda case, g: {k: (x / factors[k] if k in factors else x) for k, x in g.items()}):
            named = {k: _name_factor(c, v.case.X.shape[0], same) or _fmt(c) for k, c in factors.items()}
            if len(set(named.values())) == 1:
                what = f"constant factor {next(iter(named.values()))}"
            else:
                what = "constant factors " + ", ".join(f"{c} ({k})" for k, c in named.items())
            return f"{what} in the gradients of {', '.join(wrong)} only; {', '.join(right)} agree"

    for k in wrong:
        hk, ak, tk = np.ravel(v.hand[k]), np.ravel(v.reference[k]), np.ravel(v.tolerance[k])
        if right and int(np.sum(np.abs(ak) > 10 * tk)) >= 2:
            ck = _fit_factor(hk, ak, tk)
            if ck is not None and abs(ck - 1) > 1e-3:
                cs = _simple(ck) or ck
                if holds(lambda case, g, k=k, cs=cs: {**g, k: g[k] / cs}):
                    nk = _name_factor(ck, v.case.X.shape[0], same) or _fmt(ck)
                    name = "sign flip" if np.isclose(ck, -1.0) else f"constant factor {nk}"
                    return f"{name} in the gradient of {k} only; {', '.join(right)} agree"
        H, A, T = (np.asarray(x[k]) for x in (v.hand, v.reference, v.tolerance))
        if A.ndim == 2 and A.shape[0] == A.shape[1] and np.all(np.abs(H - A.T) <= T + T.T):
            if holds(lambda case, g, k=k: {**g, k: np.swapaxes(g[k], 0, 1)}):
                return f"transposed: the hand gradient of {k} is the transpose of autodiff's"
        if hk.size > 1 and np.all(np.abs(np.sort(hk) - np.sort(ak)) <= tk.max() * 2):
            # the permutation that puts this case's entries in place, tried on fresh cases
            order = np.empty(hk.size, dtype=int)
            order[np.argsort(ak, kind="stable")] = np.argsort(hk, kind="stable")
            shape = np.shape(v.reference[k])
            if holds(lambda case, g, k=k, order=order, shape=shape: {**g, k: np.ravel(g[k])[order].reshape(shape)}):
                return (
                    f"transposed or permuted: the entries of ∂L/∂{k} are right but in the wrong places "
                    "(X where Xᵀ belongs, or a reversed axis)"
                )

    samples = _samples(model, witness, v, same)
    if samples:
        return samples if n > 1 else _of_one(samples)

    for k in wrong:  # a term c·θ_k the loss does not have (or lacks), fitted on this case and tested by removal
        ck = _term(v, k)
        if ck is not None and holds(_without_term((k, ck))):
            if same:
                return _term_said(k, _fmt(ck))
            # c was read on a wider case: the case shown has its own c when c depends on n or a hyperparameter
            here = _term(shown, k) if shown.reference else None
            if here is not None and np.isclose(here, ck, rtol=1e-9):
                return _term_said(k, _fmt(ck))
            wider = f"{_fmt(ck)} on a wider case ({_sizes_and_hyper(v.case)})"
            if here is not None and _repair_holds(model, witness, shown, _without_term((k, here))):
                return _term_said(
                    k, "c", f", c = {_fmt(here)} at the case shown and {wider}: c changes with n or a hyperparameter"
                )
            return _term_said(k, "c", f", c = {wider}")
    # a term in every wrong block at once (liblinear's regularizer covers the bias too), removed together
    terms = {k: _term(v, k) for k in wrong}
    if len(terms) > 1 and None not in terms.values() and holds(_without_term(*terms.items())):
        here = {k: _term(shown, k) if shown.reference else None for k in terms}
        alike = same or all(c is not None and np.isclose(c, terms[k], rtol=1e-9) for k, c in here.items())
        said = ", ".join(f"{_fmt(c)}·{k}" for k, c in terms.items())
        where = "" if alike else f" (read on a wider case, {_sizes_and_hyper(v.case)})"
        return (
            f"missing or extra terms {said} in the gradients of {', '.join(terms)} (a regularization term?)"
            f"{where}; removing them passes"
        )
    return _unexplained(v, wrong, same) + _kink_hint(model, shown)


def _term_said(k: str, c: str, more: str = "") -> str:
    return f"a missing or extra term {c}·{k} in ∂L/∂{k} (a regularization term?){more}; removing it passes"


def _term(v: Verdict, k: str) -> float | None:
    """The c with hand − autodiff = c·θ_k over the entries of block ``k`` at ``v``'s case, or None."""
    dk = np.ravel(v.hand[k] - v.reference[k])
    ck = _fit_factor(dk, np.ravel(v.case.params[k]), np.ravel(v.tolerance[k]))
    return None if ck is None or ck == 0 else (_simple(ck) or ck)


def _without_term(*terms: tuple[str, float]):
    """The repair that removes each term c·θ_k, given as (k, c), from the hand gradient of ``k``."""
    return lambda case, g: {**g, **{k: g[k] - c * np.asarray(case.params[k]) for k, c in terms}}


def _sizes_and_hyper(case) -> str:
    return ", ".join([case.size_words(), *(f"{h} = {_fmt(float(x))}" for h, x in case.hyper.items())])


def _scale_all(factor):
    """The repair that divides every block of the hand gradient by ``factor(case)``."""
    return lambda case, g: {k: x / factor(case) for k, x in g.items()}


def _unexplained(v: Verdict, wrong: list[str], same: bool = True) -> str:
    """What is known of a mistake no tested hypothesis repairs: which entries, and the ratio's range; read on
    ``v``'s case, named when it is not the case shown (a wider one: the shown one has too few samples)."""
    parts = []
    for k in wrong:
        hk, ak, tk = np.ravel(v.hand[k]), np.ravel(v.reference[k]), np.ravel(v.tolerance[k])
        bad = np.abs(hk - ak) > tk
        with np.errstate(all="ignore"):
            ratio = hk[bad] / ak[bad]
        ratio = ratio[np.isfinite(ratio)]
        span = f", hand/autodiff from {_fmt(float(ratio.min()))} to {_fmt(float(ratio.max()))}" if ratio.size else ""
        parts.append(f"{k}: {int(bad.sum())} of {hk.size} entries{span}")
    where = "" if same else f"on a wider case, {v.case.size_words()}: "
    return (
        "unexplained: no sign flip, constant factor, zero block, permutation, per-sample pattern or extra term "
        f"repairs it ({where}{'; '.join(parts)})"
    )


def _kink_hint(model: Model, v: Verdict) -> str:
    """When the loss has a kink at the case shown and the model declares none: say so, with the two slopes."""
    m = v.mismatch
    if model.kink_order is not None or m is None or m.param is None or not v.reference:
        return ""
    e = {k: np.zeros(np.shape(v.reference[k])) for k in v.reference}
    e[m.param][m.index] = 1.0
    with np.errstate(all="ignore"):
        loss = float(model.module.loss(v.case.params, v.case.X, v.case.y, **v.case.hyper))
    err = 4 * np.finfo(float).eps * max(abs(loss), 1e-300)
    lower, upper = sided(model, v.case, e, 1e-3, err)
    down, e_down, up, e_up = lower.value, lower.err, upper.value, upper.err
    if not (np.isfinite(down) and np.isfinite(up)) or abs(up - down) <= 4 * (e_up + e_down) + 1e-12 * abs(up):
        return ""
    kink = f"; the loss has a kink here: along {m.where} its slope is {down:.6g} on one side and {up:.6g} on the other"
    if v.smooth:  # the judge measured a direction with no kink where hand and autodiff still differ
        return f"{kink}, but {v.smooth}: no mix of the sides gives that, so it is not a subgradient"
    return (
        f"{kink}. Declare KINK_ORDER = 1 and kink_distance in the model file (see lab new --kink), and the "
        "verifier will place samples on it and check a subgradient there"
    )


def _fmt(x: float) -> str:
    """``x`` with enough digits to tell it from 1 (and from its neighbours), at most 17."""
    for k in range(6, 18):
        text = f"{x:.{k}g}"
        if float(text) != 1.0 or x == 1.0:
            return text
    return repr(x)


def _layer_diagnosis(model: Model, witness: Witness, v: Verdict, wide: Verdict | None = None) -> str:
    """The diagnosis of a layer's failing verdict ``v``.

    The shrunk case is the clearest reproducer but the poorest evidence (at B = T = C = 1 a factor and a
    missing identity look alike), and at a kink the reference is a set, not a value. So the diagnosis is
    read at a failing case of the largest sizes with plain inputs when there is one, else at ``v``; the
    sizes are said when the case read is not the one shown."""
    from lab.verify.search import layer_cases

    bad = [k for k in v.reference if not np.all(np.isfinite(v.hand[k])) and np.all(np.isfinite(v.reference[k]))]
    if bad:  # a fact, not a hypothesis: no factor or pattern is read off NaN
        return (
            f"the backward's {', '.join('d ' + k for k in bad)} is NaN or inf where the loss and its derivative are "
            "finite: an intermediate of the backward overflows (e^x past 709.78) or divides 0 by 0"
        )
    # hyperparameters drawn afresh, so that a factor 1 − p is not also 1/√B where the shrunk p is 1/2
    rng = np.random.default_rng(3)
    hyper = {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in model.hyperparameters.items()}
    menu = layer_cases.menu(model)
    read = _layer_probe(model, witness, menu[-1], hyper) or v

    @functools.cache
    def other() -> Verdict | None:  # other sizes and hyperparameters: is a factor a size or a number?
        fresh = {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in model.hyperparameters.items()}
        return _layer_probe(model, witness, menu[-2], fresh) if len(menu) > 1 else None

    said = _read_layer(model, witness, read, elsewhere=lambda k: _factor_at(v, k) + _factor_at(other(), k))
    if read is v:
        return said
    if said.startswith("unexplained") and _at_kink(v):
        return v.diagnosis or v.message
    sizes = ", ".join([f"{a} = {n}" for a, n in read.case.sizes.items()] + [f"{k} = {x:.6g}" for k, x in hyper.items()])
    kink = "; and at the kink shown, not a subgradient" if _at_kink(v) else ""
    return f"{said} (read at a failing case with {sizes}{kink})"


def _read_layer(model: Model, witness: Witness, v: Verdict, elsewhere=lambda k: []) -> str:
    """For a layer's backward: which of its outputs (d x, d of each param) are wrong and which agree, and
    the first of these that holds, each tested:

    - each wrong one is a constant multiple of the true one, the factor named by the sizes and
      hyperparameters it equals (dividing it out passes the judge at the failing case and fresh ones);
    - a pattern of the hand's Jacobian beside the true one (lab/verify/explain/jacobian.py);
    - the hand code is right when it reads a parameter reversed along an axis (a flipped kernel);
    - some wrong blocks are constant multiples of the true ones, the others are wrong otherwise.

    ``elsewhere(k)`` is block k's factor at failing cases of other sizes (:func:`_factor_at`): they tell a
    factor that is a size (√B) from a number (2)."""
    if v.diagnosis or not v.reference or not v.tolerance:
        return v.diagnosis or v.message
    wrong = [k for k in v.reference if np.any(~(np.abs(v.hand[k] - v.reference[k]) <= v.tolerance[k]))]
    right = [k for k in v.reference if k not in wrong]
    if not wrong:
        return v.message
    agree = f"; {', '.join(map(_block, right))} {'agrees' if len(right) == 1 else 'agree'}" if right else ""
    factors = {}
    for k in wrong:
        h, a, t = (np.ravel(np.asarray(x, dtype=float)) for x in (v.hand[k], v.reference[k], v.tolerance[k]))
        c = _fit_factor(h, a, t) if int(np.sum(np.abs(a) > 10 * t)) >= 2 else None
        if c is None or c == 0:
            factors = {}
            break
        factors[k] = c
    if factors and _layer_repair_holds(model, witness, v, _divided(model, factors)):
        said = "; ".join(
            f"{_block(k)} is {_layer_factor(c, v.case, also=elsewhere(k))} × the true gradient"
            for k, c in factors.items()
        )
        return f"{said}{agree}"
    said = _transposed(model, witness, v, wrong)
    if said:
        return f"{said}{agree}"
    jacs = _jacobians(model, witness, v)
    if jacs:
        for pattern in (jacobian.spurious, jacobian.diagonal, jacobian.some_of_each_sum, jacobian.summed_along,
                        jacobian.identity, jacobian.projection):  # fmt: skip
            try:
                said = pattern(model, jacs, wrong)
            except (ValueError, IndexError, KeyError):  # a shape the pattern does not read: no claim
                said = None
            if said:
                return f"{said}{agree}"
    said = _reversed(model, witness, v, wrong)
    if said:
        return f"{said}{agree}"
    partial = _partial_factors(jacs, wrong, v.case) if jacs else ""
    if partial:
        return partial + agree
    out = f"unexplained: {', '.join(map(_block, wrong))} {_is(wrong)} wrong{agree}"
    for k in wrong:
        h, a = np.ravel(v.hand[k]), np.ravel(v.reference[k])
        bad = ~(np.abs(h - a) <= np.ravel(v.tolerance[k]))
        with np.errstate(all="ignore"):
            ratio = h[bad & (a != 0)] / a[bad & (a != 0)]
        span = f", hand/true from {ratio.min():.3g} to {ratio.max():.3g}" if ratio.size else ""
        out += f"; {_block(k)}: {int(bad.sum())} of {bad.size} entries{span}"
    return out


def _layer_probe(model: Model, witness: Witness, sizes: dict, hyper: dict) -> Verdict | None:
    """A wrong verdict off the kinks at a fresh plain case of these sizes, when there is one."""
    from lab.verify.search import layer_cases

    try:
        cases = layer_cases.plain(model, sizes, hyper, 4, seed=2)
        verdicts = judge_batch(model, cases, witness.evaluate(cases, BATCH), referee=False)
        try:
            for r in verdicts:
                if _wrong_gradient(r) and not _at_kink(r) and r.reference:
                    return r
        finally:
            verdicts.close()
    except Exception:
        return None
    return None


def _block(k: str) -> str:
    return "d x" if k == "x" else f"d {k}"


def _jacobians(model: Model, witness: Witness, v: Verdict) -> list | None:
    """The hand's and the true Jacobian at the failing case and at two fresh plain cases of its sizes."""
    from lab.verify.search import layer_cases

    keys = list(v.reference)
    out = []
    try:
        for case in [v.case, *layer_cases.plain(model, v.case.sizes, v.case.hyper, 2, seed=1)]:
            jac = jacobian.measure(model, witness, case, keys)
            if jac is None:
                return None
            out.append(jac)
    except Exception:
        return None
    return out


def _transposed(model: Model, witness: Witness, v: Verdict, wrong: list[str]) -> str:
    """Is a wrong square block the transpose of the true one (Dᵀ X where Xᵀ D belongs)? Tested by repair."""
    for k in wrong:
        H, A, T = (np.asarray(x[k], dtype=float) for x in (v.hand, v.reference, v.tolerance))
        if H.ndim != 2 or H.shape[0] != H.shape[1] or H.shape[0] < 2 or not np.all(np.abs(H.T - A) <= T + T.T):
            continue

        def back(theta, X, y, _k=k, **h):
            g = model.module.grad(theta, X, y, **h)
            return {j: (np.swapaxes(g[j], 0, 1) if j == _k else g[j]) for j in g}

        if _layer_repair_holds(model, witness, v, back):
            return f"{_block(k)} is the transpose of the true gradient (Dᵀ X where Xᵀ D belongs?)"
    return ""


def _reversed(model: Model, witness: Witness, v: Verdict, wrong: list[str]) -> str:
    """Is the hand code right when one of its blocks, or a parameter it reads, is reversed along an axis?"""
    params = [k for k in v.case.params if k not in model.module.FORM.real_keys]
    mod = model.module
    for p in params:
        for a, size in enumerate(np.shape(v.case.params[p])):
            if size < 2:
                continue

            def reads(theta, X, y, _p=p, _a=a, **h):
                g = mod.grad(theta, X, y, **h)
                flipped = mod.grad({**theta, _p: np.flip(theta[_p], axis=_a)}, X, y, **h)
                return {k: (flipped[k] if k in wrong and k != _p else g[k]) for k in g}

            if p not in wrong and _layer_repair_holds(model, witness, v, reads):
                return (
                    f"{', '.join(map(_block, wrong))} is right when the hand code reads {p} reversed along its "
                    f"axis {a} (size {size}): the backward uses the flipped kernel, where the forward's own "
                    f"taps belong"
                )
            if p in wrong:

                def back(theta, X, y, _p=p, _a=a, **h):
                    g = mod.grad(theta, X, y, **h)
                    return {k: (np.flip(g[k], axis=_a) if k == _p else g[k]) for k in g}

                if _layer_repair_holds(model, witness, v, back):
                    return (
                        f"{_block(p)} is the true gradient reversed along its axis {a} (size {size}): "
                        "the taps are flipped"
                    )
    return ""


def _partial_factors(jacs: list, wrong: list[str], case: Case) -> str:
    """Some wrong blocks are constant multiples of the true ones at every case (H/c = J within
    tolerance), the others are not: name those factors, and the rest as wrong too."""
    found = {}
    for k in wrong:
        c = None
        for jac in jacs:
            cols = jac.cols(k)
            H, J, E = jac.H[:, cols], jac.J[:, cols], jac.E[:, cols]
            tol = jac.tol(cols, E, H, J)
            here = _fit_factor(np.ravel(H), np.ravel(J), np.ravel(tol)) if np.sum(np.abs(J) > 10 * tol) >= 2 else None
            if here is None or (c is not None and not np.isclose(here, c, rtol=1e-9)):
                c = None
                break
            c = here
        if c is not None and abs(c) > 1e-3 and abs(c - 1) > 1e-3:
            found[k] = c
    if not found or len(found) == len(wrong):
        return ""
    rest = [k for k in wrong if k not in found]
    groups: dict[str, list[str]] = {}
    for k, c in found.items():
        groups.setdefault(_layer_factor(c, case, jacs[0]), []).append(k)
    said = "; ".join(
        f"{' and '.join(map(_block, ks))} {'is' if len(ks) == 1 else 'are each'} {label} × the true gradient"
        for label, ks in groups.items()
    )
    them = "it" if len(found) == 1 else "them"
    return f"{said} (dividing it out makes {them} right); {', '.join(map(_block, rest))} {_is(rest)} wrong too"


def _is(blocks: list) -> str:
    return "is" if len(blocks) == 1 else "are"


def _factor_at(shown: Verdict | None, k: str) -> list[tuple[float, Case]]:
    """Block ``k``'s factor (hand over true) at the case ``shown`` with the case, when it is one there."""
    if shown is None or not shown.reference or k not in shown.reference:
        return []
    h, a, t = (np.ravel(np.asarray(x[k], dtype=float)) for x in (shown.hand, shown.reference, shown.tolerance))
    c = _fit_factor(h, a, t) if int(np.sum(np.abs(a) > 10 * t)) >= 2 else None
    return [] if c is None or c == 0 else [(c, shown.case)]


def _layer_factor(c: float, case: Case, jac=None, also: list[tuple[float, Case]] = ()) -> str:
    """``c`` in words: a size of the input (B, T, C) or of a parameter's axis, a hyperparameter's 1 − p,
    their square roots or inverses, or a plain number. ``also``: the factor read at other cases, each
    with its case; a name is said only when it gives the factor at each of them."""
    names = _factor_names(case, jac)
    elsewhere = [(c2, _factor_names(case2, jac, every=True)) for c2, case2 in also]

    def holds(label: str, inverse: bool) -> bool:
        for c2, there in elsewhere:
            v2 = there.get(label)
            if v2 is None or not np.isclose(c2, 1 / v2 if inverse else v2, rtol=1e-9):
                return False
        return True

    said, tested = [], []  # every name it has (T and Wq.shape[1] may be equal), and those another case tried
    for label, value in names.items():
        if value > 0 and value != 1:
            for inverse in (False, True):
                if np.isclose(c, 1 / value if inverse else value, rtol=1e-9) and holds(label, inverse):
                    said.append(f"1/{label}" if inverse else label)
                    if any(not np.isclose(there.get(label), value, rtol=1e-9) for _, there in elsewhere):
                        tested.append(said[-1])
    if tested:  # a size or hyperparameter that changed, and the factor with it
        return f"{' or '.join(tested)} (= {c:.6g})"
    constant = all(np.isclose(c2, c, rtol=1e-9) for c2, _ in elsewhere)
    plain = {-1.0: "−1", 2.0: "2", 0.5: "1/2"}
    plain |= {float(np.sqrt(k)): f"√{k}" for k in (2, 3, 5, 6, 7, 8)}  # a head's width, a file's constant
    plain |= {float(1 / np.sqrt(k)): f"1/√{k}" for k in (2, 3, 5, 6, 7, 8)}
    number = next((label for value, label in plain.items() if np.isclose(c, value, rtol=1e-9)), None)
    if said:  # no case told them apart from each other, nor from a number
        return f"{' or '.join(said + ([number] if number and constant else []))} (= {c:.6g})"
    if not constant:
        return _fmt(c)  # it changes from case to case, and no size or hyperparameter says how
    if number is not None:
        return number if number in ("−1", "2", "1/2") else f"{number} (= {c:.6g})"
    return _fmt(c)  # 1.000001, never a 1 that reads as right


def _factor_names(case: Case, jac=None, every: bool = False) -> dict[str, float]:
    """The values a factor may be named by at ``case``: its sizes, hyperparameters, parameters' axes (each
    size once, by the first parameter with it, unless ``every``)."""
    known = {}
    for axis, size in case.sizes.items():
        known[axis] = float(size)
        known[f"√{axis}"] = float(np.sqrt(size))
    for k, val in case.hyper.items():
        known[f"(1 − {k})"] = 1.0 - float(val)
    sizes = set()  # a parameter's axis is named once per size: the first parameter with it
    for k, val in case.params.items():
        if (jac is not None and k not in jac.keys) or re.fullmatch(r"x\d*", k):  # x: an input
            continue
        for a, size in enumerate(np.shape(val)):
            if every or size not in sizes:
                sizes.add(size)
                known[f"{k}.shape[{a}]"] = float(size)
                known[f"√({k}.shape[{a}])"] = float(np.sqrt(size))
    return known


def _divided(model: Model, factors: dict):
    mod = model.module

    def grad(theta, X, y, **h):  # not ``p``: a hyperparameter may be called p (dropout)
        g = mod.grad(theta, X, y, **h)
        return {k: np.asarray(val) / factors.get(k, 1.0) for k, val in g.items()}

    return grad


def _layer_repair_holds(model: Model, witness: Witness, v: Verdict, grad) -> bool:
    """Does the repaired hand vjp ``grad`` pass at the failing case and at fresh ones of its sizes?"""
    from lab.verify.search import layer_cases
    from lab.verify.search.profiles import PROFILES

    repaired = model.replaced("repaired", grad=grad)
    try:
        cases = layer_cases.fill(model, [v.case], 3, seed=1, scales=PROFILES["ci"][1])
        # without the referee: a repair that autodiff calls wrong is not printed, whatever the referee says
        return all(r.ok for r in judge_batch(repaired, cases, witness.evaluate(cases, BATCH), referee=False))
    except Exception:
        return False


def _at_kink(v: Verdict) -> bool:
    """Whether ``v`` was judged against the subgradient bracket at a kink (lab/verify/judge.py, rule 4)."""
    return v.at_kink


def _wrong_gradient(v: Verdict) -> bool:
    return v.kind == Kind.WRONG and v.what == What.GRADIENT


def _probe(model: Model, witness: Witness, v: Verdict) -> Verdict:
    """A failing case with 24 samples of random data and parameters, when one exists; else ``v``.

    The shrunk case is the clearest reproducer but the poorest evidence: zeros
    hide which entries and which samples are wrong.
    """
    from lab.data import synthetic

    rng = np.random.default_rng(0)
    d = model.n_features or max(v.case.X.shape[1], 3)
    for seed in range(3):
        X, y, _ = synthetic(model, n=24, d=d, seed=seed)
        params = {k: rng.standard_normal(np.shape(p)) for k, p in model.init(d).items()}
        case = Case(params, X, y, v.case.hyper)
        r = judge(model, case, witness.evaluate([case], BATCH)[0])
        if _wrong_gradient(r):
            return r
    return v


#: A per-sample pattern read on wider data, said of a counterexample with one sample: the words change,
#: the finding does not.
_ONE = (
    ("wrong only for some samples: exactly those where ", "wrong only where "),
    (
        "wrong only for some samples, by a ratio that depends on the score: per sample, ",
        "wrong by a ratio that depends on the score: ",
    ),
    (
        "wrong for every sample, by a ratio that depends on the score: per sample, ",
        "wrong by a ratio that depends on the score: ",
    ),
    (
        "wrong only for some samples: some samples fail on their own, the others pass",
        "wrong at some points and right at others",
    ),
    (" per sample;", ";"),
    (
        "a factor that differs between samples: the hand gradient of each sample alone is",
        "a factor that varies with the data: the hand gradient is",
    ),
)


def _of_one(text: str) -> str:
    for many, one in _ONE:
        text = text.replace(many, one)
    return text


def _simple(c: float | None) -> float | None:
    """``c`` as a fraction with a denominator of at most 100 when it is one to 1e-9, else None."""
    if c is None or not np.isfinite(c):
        return None
    f = float(Fraction(c).limit_denominator(100))
    return f if f != 0 and abs(f - c) <= 1e-9 * abs(c) else None


def _repair_holds(model: Model, witness: Witness, v: Verdict, repair, what: str = "grad") -> bool:
    """Does the hand gradient, repaired by ``repair(case, hand)``, pass where it failed and at two fresh cases?

    A diagnosis names a mistake; it is printed only when undoing that mistake makes the gradient right,
    judged by the same rules, at the failing case and at cases it was not fitted on (fresh data and
    parameters of the same shape, so no new program is compiled).
    """
    from lab.data import synthetic

    mod = model.module
    if what == "grad":
        repaired = model.replaced(
            "repaired",
            grad=lambda p, X, y, **h: repair(
                Case(p, X, y, h), {k: np.asarray(g) for k, g in mod.grad(p, X, y, **h).items()}
            ),
        )
    else:
        repaired = model.replaced(
            "repaired", hessian=lambda p, X, y, **h: repair(Case(p, X, y, h), np.asarray(mod.hessian(p, X, y, **h)))
        )
    rng = np.random.default_rng(1)
    n, d = v.case.X.shape
    cases = [v.case]
    for seed in (1, 2):
        try:
            X, y, _ = synthetic(model, n=n, d=d, seed=seed)
        except Exception:
            break
        params = {k: rng.standard_normal(np.shape(p)) for k, p in v.case.params.items()}
        cases.append(Case(params, X, y, v.case.hyper, v.case.sizes))
    try:
        evidence = witness.evaluate(cases, BATCH)
        return all(r.ok for r in judge_batch(repaired, cases, evidence))
    except Exception:
        return False


def _growth_with_n(model: Model, case: Case) -> float | None:
    """How the hand gradient scales when the data are stacked twice (1 for a correct mean)."""
    twice = Case(case.params, np.vstack([case.X, case.X]), np.concatenate([case.y, case.y]), case.hyper)
    try:
        h1 = _flat(hand_gradient(model, case), list(case.params))
        h2 = _flat(hand_gradient(model, twice), list(case.params))
    except Exception:
        return None
    hh = float(h1 @ h1)
    return float(h2 @ h1) / hh if hh > 0 else None


def _samples(model: Model, witness: Witness, v: Verdict, same: bool = True) -> str:
    """Check each sample alone; name the ones that fail when they are some but not all.

    Before it names samples by their labels, it reads the per-sample error as a function of the
    score (:func:`_score_pattern`): three different slips in an exponential all look like
    "wrong for y > 0", but their ratios to the truth (e^{2z}, −1, e^{z}) tell them apart.
    """
    case = v.case
    n = case.X.shape[0]
    if n < 2:
        return ""
    verdicts = _single(model, witness, case)
    bad = [i for i, r in enumerate(verdicts) if not r.ok]
    if len(bad) == n:
        return _per_sample_factor(model, witness, case, verdicts)
    if not bad:
        return ""
    ys = case.y
    count = f" ({len(bad)} of {n})" if same else ""
    label = _label(bad, ys)
    if _added_up(v, verdicts) is False:
        which = f"the samples where {label}" if label else "some samples"
        return (
            f"not confined to some samples: {which} fail on their own{count} and the others pass, but the "
            "case's error is not theirs added up (neither their sum nor their mean): the samples interact"
        )
    pattern = _score_pattern(model, witness, case, bad)
    if pattern:
        return pattern
    if label:
        return f"wrong only for some samples: exactly those where {label}{count}"
    if not same:
        return "wrong only for some samples: some samples fail on their own, the others pass"
    rows = ", ".join(map(str, bad[:8])) + (", ..." if len(bad) > 8 else "")
    return f"wrong only for some samples: rows {rows} ({len(bad)} of {n}) fail on their own, the others pass"


def _label(bad: list[int], ys: np.ndarray) -> str:
    """The condition on y ("y = 1", "y > 0") that picks out exactly the failing samples, or ""."""
    for value in np.unique(ys):
        if set(bad) == set(np.flatnonzero(ys == value)):
            return f"y = {value:g}"
    for label, mask in (("y > 0", ys > 0), ("y < 0", ys < 0), ("y ≥ 0", ys >= 0), ("y ≤ 0", ys <= 0)):
        if set(bad) == set(np.flatnonzero(mask)):
            return label
    return ""


def _added_up(v: Verdict, singles: list[Verdict]) -> bool | None:
    """Is the case's error, hand − reference, the sum or the mean of the samples' own errors (within the
    tolerances)? That is what "wrong only for some samples" claims: mending those samples' terms mends
    the case. None when a verdict lacks its values."""
    keys = list(v.reference)
    if not keys or set(v.hand) != set(keys) or any(set(r.hand) != set(keys) or set(r.reference) != set(keys)
                                                   for r in singles):  # fmt: skip
        return None
    try:
        D = _flat(v.hand, keys) - _flat(v.reference, keys)
        T = _flat(v.tolerance, keys) if set(v.tolerance) == set(keys) else np.zeros_like(D)
        d = sum(_flat(r.hand, keys) - _flat(r.reference, keys) for r in singles)
        t = sum(_flat(r.tolerance, keys) if set(r.tolerance) == set(keys) else np.zeros_like(D) for r in singles)
    except ValueError:  # shapes that differ between a case and its samples
        return None
    return any(bool(np.all(np.abs(D - c * d) <= T + c * t)) for c in (1.0, 1.0 / len(singles)))


def _single(model: Model, witness: Witness, case: Case, y: np.ndarray | None = None) -> list[Verdict]:
    """The verdict on each sample of ``case`` alone (with targets ``y`` in place of the case's, if given)."""
    ys = case.y if y is None else y
    singles = [Case(case.params, case.X[i : i + 1], ys[i : i + 1], case.hyper) for i in range(case.X.shape[0])]
    out = []
    for start in range(0, len(singles), BATCH):
        chunk = singles[start : start + BATCH]
        out += [judge(model, c, ev) for c, ev in zip(chunk, witness.evaluate(chunk, BATCH), strict=True)]
    return out


def _score_pattern(model: Model, witness: Witness, case: Case, rows: list[int]) -> str:
    """For a linear-score model (w, b): is the hand ∂ℓ/∂z of the failing samples c·e^{kz} times the truth?

    ∂ℓ_i/∂b is ∂ℓ_i/∂z_i for one sample. When the samples are right at y = 0, the ratio is read
    on the part that y switches on, ∂ℓ/∂z(y) − ∂ℓ/∂z(0): that is where a slip inside y·e^{−z} lives.
    The fit needs three samples with different scores and must leave nothing but rounding.
    """
    p = case.params
    if set(p) != {"w", "b"} or np.ndim(p["w"]) != 1 or np.ndim(p["b"]) != 0 or len(rows) < 3:
        return ""
    idx = np.asarray(rows)
    z = (case.X @ p["w"] + p["b"])[idx]
    if np.ptp(z) < 1e-3 * max(1.0, float(np.max(np.abs(z)))):
        return ""
    full = _single(model, witness, Case(p, case.X[idx], case.y[idx], case.hyper))
    hand = np.array([float(r.hand["b"]) for r in full if r.hand])
    true = np.array([float(r.reference["b"]) for r in full if r.reference])
    if hand.size != idx.size or true.size != idx.size:
        return ""
    part = ""
    if model.target in ("real", "counts", "binary", "positive", "unit"):
        zero = _single(model, witness, Case(p, case.X[idx], case.y[idx], case.hyper), np.zeros(idx.size))
        if all(r.passed and r.reference for r in zero):
            hand = hand - np.array([float(r.hand["b"]) for r in zero])
            true = true - np.array([float(r.reference["b"]) for r in zero])
            part = " in the part that y multiplies"
    with np.errstate(all="ignore"):
        rho = hand / true
    if not np.all(np.isfinite(rho)) or np.any(rho == 0) or len(set(np.sign(rho))) > 1:
        return ""
    k, logc = np.polyfit(z, np.log(np.abs(rho)), 1)
    fit = logc + k * z
    if np.max(np.abs(np.log(np.abs(rho)) - fit)) > 1e-6 * max(1.0, float(np.max(np.abs(fit)))):
        return ""
    c = float(np.sign(rho[0]) * np.exp(logc))
    k2 = round(2 * k) / 2
    if abs(k - k2) > 1e-6:
        return ""
    exp = "" if k2 == 0 else "e^{" + ("−" if k2 < 0 else "") + ("" if abs(k2) == 1 else f"{abs(k2):g}") + "z}"
    hints = {
        2.0: "e^{z} where e^{−z} belongs?",
        -2.0: "e^{−z} where e^{z} belongs?",
        1.0: "a dropped factor e^{−z}?",
        -1.0: "a dropped factor e^{z}?",
        0.0: "a lost sign of the chain rule?" if np.isclose(c, -1.0) else "a constant factor on one term?",
    }
    factor = (_name_factor(c, 1, False) or _fmt(c)) if not np.isclose(c, 1.0) else ""
    ratio = (f"{factor}·{exp}" if factor and exp else factor or exp) or "1"
    if np.isclose(c, -1.0) and exp:
        ratio = f"−{exp}"
    return (
        f"wrong only for some samples, by a ratio that depends on the score: per sample, the hand ∂ℓ/∂z{part} "
        f"is {ratio} times the true one ({hints.get(k2, 'a wrong exponent?')})"
    )


def _per_sample_factor(model: Model, witness: Witness, case: Case, verdicts: list[Verdict]) -> str:
    """Every sample is off: by a factor that differs between samples, such as σ'(z)?"""
    keys = list(case.params)
    rho = []
    for r in verdicts:
        if not r.hand or not r.reference:
            return ""
        h, a, t = (_flat(x, keys) for x in (r.hand, r.reference, r.tolerance))
        if int(np.sum(np.abs(a) > 10 * t)) < 2:  # one entry fits any factor: not earned
            return ""
        c = _fit_factor(h, a, t)
        if c is None:
            return ""
        rho.append(c)
    rho = np.array(rho)
    if model.target == "binary":
        p = np.asarray(model.module.predict(case.params, case.X), dtype=float)
        if np.allclose(rho, p * (1 - p), rtol=1e-6, atol=0):
            return (
                "wrong sigmoid derivative: ∂ℓ/∂z carries an extra factor σ'(z) = p(1 − p) per sample; "
                "for cross-entropy the σ' cancels and ∂ℓ/∂z = p − y"
            )
    pattern = _score_pattern(model, witness, case, list(range(case.X.shape[0])))
    if pattern:
        return pattern.replace("wrong only for some samples, by", "wrong for every sample, by")
    if np.ptp(rho) <= 1e-6 * float(np.max(np.abs(rho))):
        return ""  # the same factor for all: not a pattern between samples
    return (  # the facts: each sample alone is off by a factor, and the factors differ (their cause is not tested)
        f"a factor that differs between samples: the hand gradient of each sample alone is c times the true "
        f"one, c from {_fmt(float(rho.min()))} to {_fmt(float(rho.max()))}"
    )


def _hessian(model: Model, witness: Witness, v: Verdict) -> str:
    """A wrong Hessian: a sign or a constant factor, each printed only when dividing it out passes."""
    H, A, T = v.hand["H"], v.reference["H"], v.tolerance["H"]
    c = _fit_factor(np.ravel(H), np.ravel(A), np.ravel(T))
    where = v.mismatch.where if v.mismatch else "H"
    if c is not None and c != 0:
        cs = _simple(c) or c
        if _repair_holds(model, witness, v, lambda case, M: M / cs, what="hessian"):
            if np.isclose(c, -1.0):
                return "Hessian sign flip: the hand Hessian is −1 × jax.hessian"
            return f"Hessian constant factor {_name_factor(c, v.case.X.shape[0]) or _fmt(c)}"
    if np.all(np.abs(H - A.T) <= T + T.T):
        return "Hessian transposed: the hand Hessian is not symmetric and equals the transpose of jax.hessian"
    if not np.allclose(H, H.T, rtol=0, atol=float(T.max())):
        return f"the hand Hessian is not symmetric; worst entry {where}"
    with np.errstate(all="ignore"):
        ratio = H / A
    bad = (np.abs(H - A) > T) & np.isfinite(ratio)
    span = (
        f"; hand/jax.hessian from {_fmt(float(ratio[bad].min()))} to {_fmt(float(ratio[bad].max()))}"
        if bad.any()
        else ""
    )
    return f"Hessian wrong at {where}: unexplained ({int(bad.sum())} of {H.size} entries wrong{span})"
