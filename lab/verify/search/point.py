"""A check at one point the user chooses: ``lab.check(model, params, X, y)`` and ``lab verify NAME --at FILE.npz``.

The search draws its own points. A person often has one that matters: the
optimum a fit just found, or the step where training blew up. This judges
that point with every witness (reverse and forward mode, finite differences,
the precision ladder) and returns one verdict that reads well in a terminal
and in a notebook.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lab import model as registry
from lab.verify.case import Case
from lab.verify.vocabulary import Kind

#: What each verdict kind means for a person, and the exit code of `lab verify --at`.
MEANING = {
    Kind.VERIFIED: ("verified", 0),
    Kind.INEXACT: ("verified, inexact", 0),
    Kind.INCONCLUSIVE: ("inconclusive", 2),
    Kind.SKIPPED: ("skipped", 2),
    Kind.WRONG: ("WRONG", 1),
    Kind.WITNESSES: ("WITNESSES DISAGREE", 1),
    Kind.CONTRACT: ("CONTRACT", 2),
}


@dataclass
class Check:
    """The verdict on one point, with what a person needs to act on it."""

    model: str
    status: str  # verified, verified (inexact), inconclusive, skipped, WRONG, ...
    exit_code: int
    detail: str  # one line: the worst error, the reason, or the mismatch
    diagnosis: str = ""
    verdict: object = None  # the judge's Verdict, for programs
    walk: str = ""  # the case walked through the judge's rules (lab verify --explain)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def __str__(self) -> str:
        lines = [f"{self.model}: {self.status}: {self.detail}"]
        if self.diagnosis and self.diagnosis != self.detail:
            lines.append(f"  diagnosis: {self.diagnosis}")
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        color = {0: "#1a7f37", 1: "#cf222e", 2: "#9a6700"}[self.exit_code]
        diag = f"<br><i>diagnosis:</i> {html.escape(self.diagnosis)}" if self.diagnosis else ""
        return (
            f'<div style="border-left:4px solid {color};padding:4px 8px">'
            f'<b>{html.escape(self.model)}</b>: <b style="color:{color}">{html.escape(self.status)}</b><br>'
            f"{html.escape(self.detail)}{diag}</div>"
        )


def check(model, params, X, y, **hyper) -> Check:
    """Judge ``model``'s hand gradient at one point with every witness.

    ``model`` is a :class:`lab.model.Model` or anything :func:`lab.model.load` takes (a name, a
    dotted module, a path). Hyperparameters not given take their defaults. Bad input raises a
    ``ValueError`` that names it.
    """
    m = model if isinstance(model, registry.Model) else registry.load(str(model))
    hyper = m.check_hyper(hyper)  # a ValueError naming an unknown name or a value outside its domain
    if getattr(m.module, "KIND", None) == "layer":  # lab.check(layer, params, x, dout)
        hyper = {k: float(hyper.get(k, m.hyper_defaults[k])) for k in m.hyperparameters}
        return judged(m, layer_case(m, params, X, y, hyper), hyper)
    X, y = registry.check_data(X, y, m.target, m.n_features)
    expected = {k: np.asarray(v, dtype=float) for k, v in m.module.init(X.shape[1]).items()} if not m.shapes else None
    if expected is not None:
        params = registry.check_params(params, expected)
    else:  # models with SHAPES (classes, hidden width): the shapes come from the point itself
        params = {k: np.asarray(v, dtype=np.float64) for k, v in dict(params).items()}
    registry.check_contract(m.with_hyper(**hyper), params, X, y)  # one line naming the function and shapes
    hyper = {k: float(hyper.get(k, m.hyper_defaults[k])) for k in m.hyperparameters}
    return judged(m, Case(params, X, y, hyper, _sizes(m, params, X.shape[1])), hyper)


def judged(m, case: Case, hyper: dict) -> Check:
    """Every witness and the judge at ``case``."""
    from lab.verify.explain.diagnosis import diagnose
    from lab.verify.explain.report import precision_note
    from lab.verify.explain.walk import walk
    from lab.verify.judge import judge
    from lab.verify.measure.autodiff import Witness

    witness = Witness(m)
    ev = witness.evaluate([case], 1)[0]
    v = judge(m, case, ev, finite_differences=True, witness=witness)
    steps = walk(m, case, ev, v)
    status, code = MEANING[v.kind]
    if v.kind.passed:
        detail = f"largest error {v.margin:.1%} of its rounding tolerance ({case.size_words()})"
        if v.at_kink:  # judged against the one-sided derivatives, not autodiff's one value
            said = v.message or "at a kink of the loss: the hand gradient is a valid subgradient"
            detail = f"{said} ({case.size_words()})"
        if v.kind == Kind.INEXACT:
            detail = precision_note(v)
        return Check(m.name, status, code, detail, verdict=v, walk=steps)
    if v.kind in (Kind.INCONCLUSIVE, Kind.SKIPPED):
        lead = "cannot tell here" if v.kind == Kind.INCONCLUSIVE else "nothing to judge here"
        said = f"{lead}: {v.reason}" + (f" ({v.message})" if v.message else "")
        return Check(m.name, status, code, said, verdict=v, walk=steps)
    diagnosis = v.diagnosis or (diagnose(m, witness, v) if v.kind != Kind.CONTRACT else "")
    return Check(m.name, status, code, v.message, diagnosis=diagnosis, verdict=v, walk=steps)


def layer_case(m, params, x, dout, hyper: dict) -> Case:
    """A layer's point as the verifier's case: ``params`` and ``x`` (ids for tokens; a tuple of parts when
    the layer takes one) checked against the layer's own shapes, ``dout`` against its output's; a
    ValueError naming what does not fit."""
    mod = m.module
    f = mod.FORM
    parts = list(x) if f.tuple and isinstance(x, tuple | list) else [x]
    if len(parts) != len(f.kinds):
        raise ValueError(f"x must be a tuple of {len(f.kinds)} parts {f.kinds}")
    sizes, checked = {}, []
    for i, (kind, axes, part) in enumerate(zip(f.kinds, f.axes, parts, strict=True)):
        name = f"x[{i}]" if f.tuple else "x"
        part = np.asarray(part)
        if part.ndim != len(axes):
            raise ValueError(f"{name} must have {len(axes)} axes {axes}; got shape {part.shape}")
        for a, n in zip(axes, part.shape, strict=True):
            if sizes.setdefault(a, n) != n:
                raise ValueError(f"axis {a} has size {sizes[a]} in one part of x and {n} in {name}")
        if kind == "tokens":
            vocab = mod.LAYER.VOCAB
            as_float = np.asarray(part, dtype=np.float64)
            if not np.all(as_float == np.round(as_float)):
                raise ValueError(f"{name} must hold integer ids")
            if part.size and (as_float.min() < 0 or as_float.max() >= vocab):
                raise ValueError(f"{name} holds ids outside 0..{vocab - 1}")
            checked.append(as_float)
        else:
            part = np.asarray(part, dtype=np.float64)
            if not np.all(np.isfinite(part)):
                raise ValueError(f"{name} holds NaN or inf")
            checked.append(part)
    expected = {k: v for k, v in m.init(1, **sizes).items() if k not in f.real_keys}
    params = registry.check_params(params, expected)
    theta, y = f.join(params, tuple(checked) if f.tuple else checked[0])
    out = mod.out_shape(theta, y, **hyper)
    dout = np.asarray(dout, dtype=np.float64)
    if dout.shape != tuple(out):
        raise ValueError(f"dout has shape {dout.shape}; the layer's output has shape {tuple(out)}")
    if not np.all(np.isfinite(dout)):
        raise ValueError("dout holds NaN or inf")
    return Case(theta, dout.reshape(-1, out[-1] if len(out) else 1), y, dict(hyper), sizes, layer=True)


def _sizes(m, params, d: int) -> dict[str, int]:
    """The integer arguments of init (SHAPES) that make ``params``' shapes."""
    if not m.shapes:
        return {}
    import itertools

    names = list(m.shapes)
    ranges = [range(lo, max(hi, 64) + 1) for lo, hi in m.shapes.values()]
    want = {k: np.shape(v) for k, v in params.items()}
    for combo in itertools.product(*ranges):
        sizes = dict(zip(names, combo, strict=True))
        got = {k: np.shape(v) for k, v in m.module.init(d, **sizes).items()}
        if got == want:
            return sizes
    raise ValueError(f"params' shapes {want} fit no {', '.join(names)} of {m.name}")


HOLDS = "an .npz of X, y and one array per parameter, e.g. np.savez('point.npz', X=X, y=y, w=w, b=b)"


def load_point(path: str | Path) -> tuple[dict, np.ndarray, np.ndarray]:
    """``(params, X, y)`` from an ``.npz`` file holding X, y and one array per parameter name (and whatever
    else it holds, such as hyperparameters, under its own name). Any other file: a ValueError saying what
    the file is and what it must hold; nothing is ever unpickled."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"no such file: {path}")
    with open(p, "rb") as f:
        head = f.read(6)
    if head.startswith(b"\x93NUMPY"):
        raise ValueError(f"{path} is an .npy file, one array; --at reads {HOLDS}")
    if not head.startswith(b"PK"):  # an .npz is a zip archive
        what = "an empty file" if not head else "not an .npz file (not a zip archive)"
        raise ValueError(f"{path} is {what}; --at reads {HOLDS}")
    try:
        with np.load(p, allow_pickle=False) as z:
            data = {k: np.asarray(z[k]) for k in z.files}
    except Exception as e:  # a damaged archive, or an entry of Python objects (never loaded)
        why = "it holds Python objects, not numbers" if "pickle" in str(e) else f"{type(e).__name__}: {e}"
        raise ValueError(f"{path} cannot be read as an .npz of arrays ({why}); --at reads {HOLDS}") from None
    missing = [k for k in ("X", "y") if k not in data]
    if missing:
        raise ValueError(f"{path} has no {' or '.join(missing)}; it holds {', '.join(sorted(data)) or 'nothing'}")
    X, y = data.pop("X"), data.pop("y")
    return data, X, y
