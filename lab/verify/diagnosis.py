"""Diagnosis: what kind of mistake makes the hand gradient differ from autodiff.

Each explanation is tested, not guessed: a factor is fitted and the rest must
vanish within tolerance; "the 1/n is missing" is told apart from "a factor 2"
by doubling the data (stacking X and y twice leaves a mean loss and its true
gradient unchanged, but doubles a sum); "wrong only for some samples" comes
from checking each sample on its own.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from lab.model import Model
from lab.verify.cases import BATCH, Case
from lab.verify.judge import Verdict, judge
from lab.verify.witnesses import Witness, hand_gradient


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


def _name_factor(c: float, n: int) -> str | None:
    """Name c as one of 2, 1/2, n, 1/n and their kin, or None."""
    names = {2: "2", 0.5: "1/2", 4: "4", 0.25: "1/4"}
    for value, name in names.items():
        if np.isclose(c, value, rtol=1e-9):
            return name
    for value, name in {n: "n", 1 / n: "1/n", 2 * n: "2n", n / 2: "n/2", 2 / n: "2/n", 1 / (2 * n): "1/(2n)"}.items():
        if np.isclose(c, value, rtol=1e-9):
            return f"{name} (n = {n})"
    frac = Fraction(c).limit_denominator(16)
    if np.isclose(float(frac), c, rtol=1e-9):
        return str(frac)
    return None


def diagnose(model: Model, witness: Witness, v: Verdict, wide: Verdict | None = None) -> str:
    """A sentence naming the kind of mistake behind verdict ``v``.

    ``wide`` is a failing case with more samples than the shrunk ``v`` (the
    first one found, with random dense data); when given, the diagnosis reads
    it, since shrinking can erase a pattern (n = 1 hides "only when y = 1").
    """
    if v.kind in ("contract", "witnesses", "loss_and_grad"):
        return v.message
    if "the witnesses disagree" in v.message:  # autodiff is the odd one out: say so, not how hand differs from it
        return v.message.split("the witnesses disagree: ", 1)[1]
    if v.kind == "hessian":
        return _hessian(v)
    v = wide if wide is not None and wide.kind == "gradient" else v
    if v.case.X.shape[0] < 8 or (model.n_features is None and v.case.X.shape[1] < 3):
        v = _probe(model, witness, v)
    keys = list(v.reference)
    h, a, tol = (_flat(x, keys) for x in (v.hand, v.reference, v.tolerance))
    n = v.case.X.shape[0]
    if not np.all(np.isfinite(h)):
        bad = [k for k in keys if not np.all(np.isfinite(v.hand[k]))]
        return f"the hand gradient of {', '.join(bad)} is not finite (an overflow: use a stable form such as logaddexp)"
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
        return f"a single entry is wrong: {m.where} is off by a relative {rel:.1e}; every other entry agrees"

    c = _fit_factor(h, a, tol)
    if c is not None and abs(c) > 1e-3 and abs(c - 1) > 1e-3:
        if np.isclose(c, -1.0, rtol=1e-9):
            return "sign flip: the hand gradient is −1 × autodiff (ŷ − y written as y − ŷ, or a lost minus sign)"
        growth = _growth_with_n(model, v.case)
        if growth is not None and np.isclose(growth, 2.0, rtol=1e-6):
            return (
                f"constant factor n (n = {n}): the hand gradient grows with the number of samples; "
                "the 1/n of the mean is missing"
            )
        if growth is not None and np.isclose(growth, 0.5, rtol=1e-6):
            return (
                f"constant factor 1/n (n = {n}): the hand gradient shrinks with the number of samples; "
                "1/n is applied twice"
            )
        name = _name_factor(c, n) or f"{c:.6g}"
        hint = " (the 2 of the square?)" if name in ("2", "1/2") else ""
        return f"constant factor {name}: the hand gradient is {name} × autodiff{hint}"

    for k in wrong:
        hk, ak, tk = np.ravel(v.hand[k]), np.ravel(v.reference[k]), np.ravel(v.tolerance[k])
        if right:
            ck = _fit_factor(hk, ak, tk)
            if ck is not None and abs(ck - 1) > 1e-3:
                name = "sign flip" if np.isclose(ck, -1.0) else f"constant factor {_name_factor(ck, n) or f'{ck:.6g}'}"
                return f"{name} in the gradient of {k} only; {', '.join(right)} agree"
        H, A, T = (np.asarray(x[k]) for x in (v.hand, v.reference, v.tolerance))
        if A.ndim == 2 and A.shape[0] == A.shape[1] and np.all(np.abs(H - A.T) <= T + T.T):
            return f"transposed: the hand gradient of {k} is the transpose of autodiff's"
        if hk.size > 1 and np.all(np.abs(np.sort(hk) - np.sort(ak)) <= tk.max() * 2):
            return (
                f"transposed or permuted: the entries of ∂L/∂{k} are right but in the wrong places "
                "(X where Xᵀ belongs, or a reversed axis)"
            )

    samples = _samples(model, witness, v)
    if samples:
        return samples

    for k in wrong:
        p = np.ravel(v.case.params[k])
        dk = np.ravel(v.hand[k] - v.reference[k])
        ck = _fit_factor(dk, p, np.ravel(v.tolerance[k]))
        if ck is not None and ck != 0:
            return f"a missing or extra term {ck:.6g}·{k} in ∂L/∂{k} (a regularization term?)"
    return "unexplained: no sign flip, constant factor, zero block, permutation or per-sample pattern fits"


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
        if r.kind == "gradient":
            return r
    return v


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


def _samples(model: Model, witness: Witness, v: Verdict) -> str:
    """Check each sample alone; name the ones that fail when they are some but not all."""
    case = v.case
    n = case.X.shape[0]
    if n < 2:
        return ""
    singles = [Case(case.params, case.X[i : i + 1], case.y[i : i + 1], case.hyper) for i in range(n)]
    verdicts = []
    for start in range(0, n, BATCH):
        chunk = singles[start : start + BATCH]
        verdicts += [judge(model, c, ev) for c, ev in zip(chunk, witness.evaluate(chunk, BATCH), strict=True)]
    bad = [i for i, r in enumerate(verdicts) if not r.ok]
    if len(bad) == n:
        return _per_sample_factor(model, case, verdicts)
    if not bad:
        return ""
    ys = case.y
    for value in np.unique(ys):
        if set(bad) == set(np.flatnonzero(ys == value)):
            return f"wrong only for some samples: exactly those with y = {value:g} ({len(bad)} of {n})"
    for label, mask in (("y > 0", ys > 0), ("y < 0", ys < 0), ("y ≥ 0", ys >= 0), ("y ≤ 0", ys <= 0)):
        if set(bad) == set(np.flatnonzero(mask)):
            return f"wrong only for some samples: exactly those with {label} ({len(bad)} of {n})"
    rows = ", ".join(map(str, bad[:8])) + (", ..." if len(bad) > 8 else "")
    return f"wrong only for some samples: rows {rows} ({len(bad)} of {n}) fail on their own, the others pass"


def _per_sample_factor(model: Model, case: Case, verdicts: list[Verdict]) -> str:
    """Every sample is off: by a factor that differs between samples, such as σ'(z)?"""
    keys = list(case.params)
    rho = []
    for r in verdicts:
        if not r.hand:
            return ""
        h, a, t = (_flat(x, keys) for x in (r.hand, r.reference, r.tolerance))
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
    return (
        f"a factor that differs between samples (from {rho.min():.3g} to {rho.max():.3g}): "
        "the derivative of a link or activation is wrong"
    )


def _hessian(v: Verdict) -> str:
    H, A, T = v.hand["H"], v.reference["H"], v.tolerance["H"]
    c = _fit_factor(np.ravel(H), np.ravel(A), np.ravel(T))
    where = v.mismatch.where if v.mismatch else "H"
    if c is not None:
        if np.isclose(c, -1.0):
            return "Hessian sign flip: the hand Hessian is −1 × jax.hessian"
        return f"Hessian constant factor {_name_factor(c, v.case.X.shape[0]) or f'{c:.6g}'}"
    if np.all(np.abs(H - A.T) <= T + T.T):
        return "Hessian transposed: the hand Hessian is not symmetric and equals the transpose of jax.hessian"
    if not np.allclose(H, H.T, rtol=0, atol=float(T.max())):
        return f"the hand Hessian is not symmetric; worst entry {where}"
    return f"Hessian wrong at {where}: unexplained"
