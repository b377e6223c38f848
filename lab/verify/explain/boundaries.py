"""A network's boundary table, and the stage or junction at fault.

The table compares, at every boundary (a stage's output) and for every parameter, the gradient the
hand backward passed with the true one. The true gradients come from one measured reverse pass of
the network with a zero-valued tap at each boundary (lab/net.py's ``tapped``): the gradient of the
loss with respect to a tap is the gradient at that boundary, with its rounding bound, and the judge
compares it with what the hand code said there, as it compares any gradient.

Working down from the loss, the first stage whose gradients are wrong while the gradient reaching
it is right is where the error starts. Its ``vjp`` is run again on the *true* upstream gradient and
judged alone: if it fails there, the stage is at fault and its own diagnosis says how; if it passes,
the stage is right and the junction around it is not: the skip of a residual block, or a weight
tied to another stage whose gradient is not the sum over its uses. A junction's name is a
hypothesis tested by repair: the missing gradient is added back and must make the value agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lab import net as nets
from lab.layer import as_model as layer_model
from lab.model import Model
from lab.verify.case import Case
from lab.verify.judge import Measured, Verdict, agree, judge, share
from lab.verify.measure.autodiff import Witness


@dataclass
class Row:
    """One line of the table: a boundary ("@" + stage) or a parameter."""

    key: str
    what: str  # the layer, "residual", or "parameter"
    shape: tuple[int, ...]
    true_max: float  # max |true gradient|
    diff_max: float  # max |hand − true|
    share: float  # worst |hand − true| over its tolerance; ≤ 1 agrees
    said: bool = True  # the hand code said a gradient at this boundary

    @property
    def ok(self) -> bool:
        return self.said and self.share <= 1.0

    @property
    def name(self) -> str:
        return self.key.removeprefix(nets.TAP)

    @property
    def label(self) -> str:
        """``d hidden`` (the gradient at stage hidden's output) or ``d hidden.W``."""
        return f"d {self.name}"


@dataclass
class Table:
    rows: list[Row]
    verdict: Verdict  # the tapped network's verdict: hand, reference and tolerance per key
    case: Case  # the tapped case
    fault: str = ""

    def text(self) -> str:
        """The table as a learner writes it by hand (Karpathy's ``cmp``), from the loss down."""
        head = f"{'gradient of':<28} {'stage':<22} {'shape':<14} {'max |true|':>10} {'max |hand−true|':>15} " \
               f"{'of tol.':>8}  ok"  # fmt: skip
        lines = [head, "-" * len(head)]
        for r in self.rows:
            if not r.said:
                lines.append(f"{r.label:<28} {r.what:<22} {str(r.shape):<14} {r.true_max:>10.3g} {'not said':>15}")
                continue
            mark = "ok" if r.ok else "WRONG"
            lines.append(f"{r.label:<28} {r.what:<22} {str(r.shape):<14} {r.true_max:>10.3g} {r.diff_max:>15.3g} "
                         f"{min(r.share, 9.99e99):>8.2g}  {mark}")  # fmt: skip
        return "\n".join(lines)


def layer_name(module) -> str:
    """A layer module's short name: ``linear`` for lab.layers.linear and for a mutant of it."""
    return str(getattr(module, "__name__", "?")).rsplit(".", 1)[-1].rsplit("/", 1)[-1].split("~")[0]


def _order(net: nets.Net) -> list:
    """Stages and blocks from the loss down: each stage, then (for a block's first stage) its block."""
    out = []
    for s in reversed(net.stages):
        if isinstance(s, nets.Residual):
            out.append(s)
            out.extend(reversed(s.body))
        else:
            out.append(s)
    return out


def inputs_of(net: nets.Net) -> dict[str, str | None]:
    """For each stage, the boundary whose output it reads (None: the ids)."""
    out, prev = {}, None
    for s in net.stages:
        if isinstance(s, nets.Residual):
            h = prev
            for b in s.body:
                out[b.name] = h
                h = b.name
            prev = s.name
        else:
            out[s.name] = prev
            prev = s.name
    return out


def tapped_case(model: Model, case: Case) -> tuple[Model, Case]:
    """The tapped network and the case with a zero tap at each boundary."""
    network = nets.network_of(model)
    tm = nets.tapped(model)
    params, x = model.module.FORM.split(case.params, case.y)
    _, outputs, _ = nets.activations(network.NET, params, x)
    theta = dict(case.params, **{nets.TAP + k: np.zeros(np.shape(v)) for k, v in outputs.items()})
    return tm, Case(theta, case.X, case.y, dict(case.hyper), dict(case.sizes), layer=True)


def boundary_table(model: Model, case: Case) -> Table:
    """The boundary table of the network ``model`` at ``case``, and the stage or junction at fault."""
    network = nets.network_of(model)
    tm, tc = tapped_case(model, case)
    witness = Witness(tm)
    ev = witness.evaluate([tc], 1)[0]
    with np.errstate(all="ignore"):  # a NaN or overflow in the hand code is a value the table shows
        hand = tm.module.grad(tc.params, tc.X, tc.y, **tc.hyper)
    v = judge(tm, tc, ev, finite_differences=False, witness=witness)
    ref = v.reference or ev.grad
    tol = v.tolerance or {}
    rows = []
    whats = {s.name: layer_name(s.layer) for s in nets.walk(network.NET)}
    said = _said(model, case)
    for s in _order(network.NET)[1:]:
        key = nets.TAP + s.name
        what = "residual" if isinstance(s, nets.Residual) else whats[s.name]
        rows.append(_row(key, what, hand, ref, tol, ev, said=s.name in said))
        if isinstance(s, nets.Stage):
            rows.extend(_row(k, "parameter", hand, ref, tol, ev) for k in nets.own_keys(s, case.params))
    t = Table(rows, v, tc)
    t.fault = _fault(model, network.NET, t, hand, ref, tol, ev)
    return t


def _tolerance(key: str, tol: dict, ev) -> np.ndarray:
    """The judge's tolerance for ``key``, else autodiff's own bound (a case the judge passed early)."""
    return np.asarray(tol[key]) if key in tol else np.asarray(ev.grad_err[key])


def _said(model: Model, case: Case) -> set[str]:
    """The boundaries whose gradient the hand backward says (``record``), by stage name: a NaN it says is
    a wrong gradient, not one left unsaid."""
    names: set[str] = set()
    params, x = model.module.FORM.split(model_params(model, case), case.y)
    dout = np.asarray(case.X, dtype=float).reshape(())
    with np.errstate(all="ignore"):
        nets.hand_vjp(nets.network_of(model))(params, x, dout, record=lambda name, g: names.add(name))
    return names


def _row(key, what, hand, ref, tol, ev, said: bool = True) -> Row:
    h, r = np.asarray(hand[key], dtype=float), np.asarray(ref[key], dtype=float)
    t = _tolerance(key, tol, ev)
    with np.errstate(invalid="ignore"):
        diff = float(np.max(np.abs(h - r))) if h.size else 0.0
        worst = float(np.max(share(Measured(h, t), Measured(r, np.zeros_like(r))))) if h.size else 0.0
    return Row(key, what, tuple(np.shape(r)), float(np.max(np.abs(r))) if r.size else 0.0, diff, worst, said)


def _fault(model: Model, net: nets.Net, t: Table, hand, ref, tol, ev) -> str:
    wrong = {r.key for r in t.rows if r.said and not r.ok}
    if not wrong:
        return ""
    params, x = model.module.FORM.split(model_params(model, t.case), t.case.y)
    inputs, _, targets = nets.activations(net, params, x)
    feeds = inputs_of(net)
    uses: dict[str, list] = {}
    for s in nets.walk(net):
        for k in nets.own_keys(s, params):
            uses.setdefault(k, []).append((s, k[len(s.name) + 1 :], False))
        for key, source, transposed in s.tied:
            uses.setdefault(source, []).append((s, key, transposed))
    dout = np.asarray(t.case.X, dtype=float).reshape(())
    checked: dict = {}
    rank = {s.name: i for i, s in enumerate(st for st in _order(net) if isinstance(st, nets.Stage))}
    deepest = {k: max((u[0] for u in us), key=lambda st: rank[st.name]) for k, us in uses.items()}

    def upstream(s):  # the true gradient reaching stage s: dout itself for the loss
        return dout if s is net.stages[-1] else np.asarray(ref[nets.TAP + s.name])

    def alone(s):  # the stage's vjp judged alone, at its input and the true gradient reaching it
        if s.name not in checked:
            checked[s.name] = _alone(s, net, nets.stage_params(s, params), inputs[s.name], targets, upstream(s))
        return checked[s.name]

    for s in _order(net):
        if isinstance(s, nets.Residual):
            continue
        fed = feeds[s.name]
        bad_in = fed is not None and nets.TAP + fed in wrong
        # a weight used by several stages is judged at the last of them from the loss, once the gradient
        # reaching each use is known to be right
        bad = [k for k, us in uses.items() if k in wrong and deepest[k] is s]
        if not (bad_in or bad):
            continue
        # a stage is at fault when it fails alone; for a shared weight, any of its users may be
        for suspect in [s] + [u[0] for k in bad for u in uses[k] if u[0] is not s]:
            check = alone(suspect)
            if not check.ok:
                said = check.diagnosis or check.detail
                label = f"{suspect.name} ({layer_name(suspect.layer)})"
                return f"at {label}: given the right dout, {_parts(check)}: {said}"
        # every stage is right alone: the junction around this one is not, or, where the file writes its own
        # whole backward (its stages' vjps are not what ran), that backward's step through this stage
        own = callable(getattr(nets.network_of(model), "vjp", None))
        if bad_in:
            sp = nets.stage_params(s, params)
            said = _junction_in(net, s, fed, hand, ref, tol, ev, inputs[s.name], sp, upstream(s), own)
        else:
            said = _junction_tied(bad[0], uses[bad[0]], hand, ref, tol, ev, inputs, params, own)
        if said is None:  # the file's own backward, through stage s
            mine = [f"d {k[len(s.name) + 1 :]}" for k in nets.own_keys(s, params) if k in wrong]
            parts = ([f"the gradient at its input ({fed})"] if bad_in else []) + mine
            what = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
            return (f"at {s.name} ({layer_name(s.layer)}): given the right gradient at its output, the file's own "
                    f"backward gives {what} wrong")  # fmt: skip
        return said
    first = next(r for r in t.rows if r.key in wrong)
    return f"unexplained: the hand gradient differs first at {first.name}, and no stage fails alone"


def model_params(model: Model, case: Case) -> dict:
    return {k: v for k, v in case.params.items() if not k.startswith(nets.TAP)}


def _alone(s: nets.Stage, net: nets.Net, sp: dict, x_in, targets, upstream):
    """The stage's own vjp judged alone at its input with the true upstream gradient (a Check)."""
    from lab.verify.search.point import judged

    m = layer_model(f"layers/{layer_name(s.layer)}", s.layer)
    f = m.module.FORM
    is_loss = s is net.stages[-1]
    x = targets if is_loss else x_in
    theta, y = f.join(sp if not is_loss else {net.loss_param: x_in}, x)
    hyper = dict(s.hyper)
    out = m.module.out_shape(theta, y, **hyper)
    up = np.asarray(upstream, dtype=float).reshape(out)
    case = Case(theta, up.reshape(-1, out[-1] if len(out) else 1), y, hyper, _sizes(f, x), layer=True)
    return judged(m, case, hyper)


def _sizes(f, x) -> dict:
    parts = list(x) if f.tuple else [x]
    sizes = {}
    for axes, part in zip(f.axes, parts, strict=True):
        sizes.update(zip(axes, np.shape(part), strict=True))
    return sizes


def _parts(check) -> str:
    """Which of the stage's outputs are wrong alone: "its dx", "its d W"."""
    v = check.verdict
    if v is None or not v.reference:
        return "its backward is wrong"
    bad = []
    for k in v.reference:
        h, r = np.asarray(v.hand.get(k, np.nan)), np.asarray(v.reference[k])
        t = np.asarray(v.tolerance.get(k, 0.0))
        if not np.all(np.abs(h - r) <= t):
            bad.append("dx" if k.startswith("x") else f"d {k}")
    if not bad:
        return "its backward is wrong"
    said = bad[0] if len(bad) == 1 else f"{', '.join(bad[:-1])} and {bad[-1]}"
    return f"its {said} {'is' if len(bad) == 1 else 'are'} wrong"


def _agrees(value, key, ref, tol, ev) -> bool:
    return bool(np.all(agree(Measured(np.asarray(value), _tolerance(key, tol, ev)),
                             Measured(np.asarray(ref[key]), np.zeros(np.shape(ref[key]))))))  # fmt: skip


def _junction_in(net, s, fed, hand, ref, tol, ev, x_in, sp, upstream, own: bool = False) -> str | None:
    """The stage ``s`` is right alone, yet the gradient at its input boundary ``fed`` is wrong. None when no
    junction explains it and the file writes its own backward (then that backward's step through s is)."""
    key = nets.TAP + fed
    block = next((r for r in net.stages if isinstance(r, nets.Residual) and r.body[0] is s), None)
    h = np.asarray(hand[key])
    if block is not None:
        skip = np.asarray(ref[nets.TAP + block.name])  # the gradient the skip carries: the block's output's
        if _agrees(h + skip, key, ref, tol, ev):  # repair: add the skip's gradient back
            return (f"at the junction {block.name} (residual): the gradient at {fed} lacks the skip's: it is the "
                    f"body's alone; x + f(x) passes dout to x as well, and the two must be added")  # fmt: skip
        _, dx = s.layer.vjp(sp, x_in, upstream, **dict(s.hyper))
        if _agrees(h + np.asarray(dx), key, ref, tol, ev):
            return (f"at the junction {block.name} (residual): the gradient at {fed} lacks the body's: it is the "
                    f"skip's alone; the gradient of x + f(x) adds f's vjp to dout")  # fmt: skip
        if not own:
            return (f"at the junction {block.name} (residual): the gradient at {fed} is not the sum of the skip's "
                    "and the body's")  # fmt: skip
    if own:
        return None
    return f"between {fed} and {s.name}: {s.name}'s vjp is right alone, but the gradient reaching {fed} is not its dx"


def _junction_tied(k, uses, hand, ref, tol, ev, inputs, params, own: bool = False) -> str | None:
    """A parameter whose gradient is wrong while each stage that uses it is right alone. None when it has one
    use and the file writes its own backward (then that backward's step through the stage is wrong)."""
    if len(uses) < 2:
        return None if own else f"at {k}: each stage is right alone, but the gradient of {k} is not its stage's"
    h = np.asarray(hand[k])
    for s, key, transposed in uses:
        upstream = np.asarray(ref[nets.TAP + s.name])
        dp, _ = s.layer.vjp(nets.stage_params(s, params), inputs[s.name], upstream, **dict(s.hyper))
        part = np.asarray(dp[key]).T if transposed else np.asarray(dp[key])
        if _agrees(h + part, k, ref, tol, ev):  # repair: add this use's gradient back
            names = " and ".join(u[0].name for u in uses)
            return (f"at the tied weight {k}: its gradient lacks {s.name}'s use; {k} is used by {names}, "
                    f"and its gradient is the sum over its uses (tied weights not summed)")  # fmt: skip
    return f"at the tied weight {k}: each use is right alone, but the gradient is not the sum over its uses"
