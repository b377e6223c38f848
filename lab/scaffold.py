"""`lab new NAME`: a model file and its derivation from templates that explain each part.

The templates take the model's nature: what ``y`` may hold (``target``), whether the loss has a
kink (``kink``: 1 when the gradient jumps, 2 when only the second derivative does) and its
hyperparameters (``hyper``: a fuzz range and a valid domain for each).
"""

from __future__ import annotations

import keyword
import math
import re
from dataclasses import dataclass
from pathlib import Path

from lab import model as registry

TEMPLATES = Path(__file__).resolve().parent / "templates"
ROOT = Path(__file__).resolve().parent.parent
KINKS = (1, 2)

#: ŷ per target: the inverse link that keeps predictions where y lives, written into ``predict``.
PREDICT = {
    "real": ("X @ params[\"w\"] + params[\"b\"]", "the identity link: ŷ = z = X w + b"),
    "positive": ("np.exp(X @ params[\"w\"] + params[\"b\"])", "a log link keeps ŷ > 0: ŷ = e^z, z = X w + b"),
    "counts": ("np.exp(X @ params[\"w\"] + params[\"b\"])", "a log link keeps ŷ > 0: ŷ = e^z, z = X w + b"),
    "unit": ("_sigmoid(X @ params[\"w\"] + params[\"b\"])", "a logit link keeps 0 < ŷ < 1: ŷ = σ(z), z = X w + b"),
    "binary": ("_sigmoid(X @ params[\"w\"] + params[\"b\"])", "the probability of y = 1: ŷ = σ(z), z = X w + b"),
    "signed": ("np.where(X @ params[\"w\"] + params[\"b\"] >= 0, 1.0, -1.0)", "the label sign(z), z = X w + b"),
    "classes": ("X @ params[\"w\"] + params[\"b\"]", "one score; for k classes give init W (d, k) and b (k,), as "
                "softmax_regression.py does"),
}  # fmt: skip

#: A loss that usually goes with each target, as a hint in the template.
LOSS_HINT = {
    "real": "mean squared error, mean((ŷ − y)²), or log-cosh",
    "positive": "the Gamma deviance with a log link, mean(y e^{−z} + z)",
    "counts": "the Poisson negative log-likelihood, mean(e^z − y z)",
    "unit": "the Bernoulli log-loss on a fraction, mean(logaddexp(0, z) − y z)",
    "binary": "binary cross-entropy, mean(logaddexp(0, z) − y z)",
    "signed": "the hinge, mean(max(0, 1 − y z)), with its kink declared",
    "classes": "cross-entropy of a softmax, mean(logsumexp(Z) − Z[i, y_i])",
}

SIGMOID = '''

def _sigmoid(z):
    """σ(z) = 1/(1 + e^{−z}), written as e^{−log(1 + e^{−z})} so that it never overflows."""
    return np.exp(-np.logaddexp(0.0, -z))
'''


@dataclass(frozen=True)
class Hyper:
    """A hyperparameter for the template: the range the verifier fuzzes and the values that are valid."""

    name: str
    lo: float
    hi: float
    domain: str = "(-inf, inf)"

    @property
    def default(self) -> float:
        return (self.lo + self.hi) / 2


_HYPER = re.compile(r"^\s*([A-Za-z_]\w*)\s*=\s*([^:\s]+)\s*:\s*(\S+?)\s*(?:\bin\s+(.+?))?\s*$")


def parse_hyper(text: str) -> Hyper:
    """``"tau=0.01:0.99"`` (the fuzz range) or ``"tau=0.01:0.99 in (0, 1)"`` (and its valid domain)."""
    m = _HYPER.match(text)
    where = f"--hyper {text}"
    if not m:
        raise ValueError(
            f"{where}: expected NAME=LO:HI, optionally followed by 'in DOMAIN', e.g. tau=0.01:0.99 in (0, 1)"
        )
    name, lo, hi, domain = m[1], m[2], m[3], m[4]
    if keyword.iskeyword(name) or name in ("params", "X", "y", "xp"):
        raise ValueError(f"{where}: {name!r} cannot name a hyperparameter")
    try:
        lo_f, hi_f = float(lo), float(hi)
    except ValueError:
        raise ValueError(f"{where}: the fuzz range LO:HI must hold two numbers") from None
    if not (math.isfinite(lo_f) and math.isfinite(hi_f) and lo_f < hi_f):
        raise ValueError(f"{where}: the fuzz range needs finite LO < HI; got {lo}:{hi}")
    interval = registry.parse_interval(domain) if domain else registry.ANY_NUMBER
    if not interval.covers(lo_f, hi_f):
        raise ValueError(f"{where}: the fuzz range [{lo_f:g}, {hi_f:g}] lies outside the domain {interval}")
    return Hyper(name, lo_f, hi_f, str(interval))


def _hyper_block(hyper: list[Hyper]) -> str:
    if not hyper:
        return (
            "\n# Keyword-only hyperparameters of loss and grad, with the range the verifier fuzzes, for example\n"
            '# {"delta": (0.1, 5.0)}; then write loss(params, X, y, *, delta=DELTA) and declare the values that\n'
            '# mean something in HYPER_DOMAIN = {"delta": "(0, inf)"}: training refuses any other.\n'
            "HYPERPARAMETERS = {}\n"
        )
    fuzz = ", ".join(f'"{h.name}": ({h.lo!r}, {h.hi!r})' for h in hyper)
    domain = ", ".join(f'"{h.name}": "{h.domain}"' for h in hyper)
    defaults = "".join(f"{h.name.upper()} = {h.default!r}  # the default {h.name}\n" for h in hyper)
    unbounded = [h.name for h in hyper if h.domain == str(registry.ANY_NUMBER)]
    note = (
        f"# {', '.join(unbounded)}: any number is valid until you narrow the domain to what the value means,\n"
        '# for example "(0, 1)" for a quantile or "[0, inf)" for a penalty strength.\n'
        if unbounded
        else ""
    )
    return (
        "\n# Keyword-only hyperparameters of loss and grad: the range the verifier fuzzes, and (HYPER_DOMAIN)\n"
        "# the values that are valid at all. Training, lab.fit and `lab train --hyper` refuse any other.\n"
        f"HYPERPARAMETERS = {{{fuzz}}}\n{note}HYPER_DOMAIN = {{{domain}}}\n{defaults}"
    )


def render(name: str, target: str = "real", kink: int | None = None, hyper: list[Hyper] = ()) -> tuple[str, str]:
    """The text of ``lab/models/NAME.py`` and ``derivations/NAME.md`` for a model of this nature."""
    if target not in registry.TARGETS:
        raise ValueError(f"unknown target {target!r}; choose one of {', '.join(registry.TARGETS)}")
    if kink is not None and kink not in KINKS:
        raise ValueError(f"--kink is 1 (the gradient jumps) or 2 (only the second derivative jumps); got {kink}")
    hyper = list(hyper)
    seen = [h.name for h in hyper]
    if len(set(seen)) != len(seen):
        raise ValueError(f"--hyper names a hyperparameter twice: {', '.join(seen)}")
    kw = (", *, " + ", ".join(f"{h.name}={h.name.upper()}" for h in hyper)) if hyper else ""
    expr, link = PREDICT[target]
    predict_body = f"    # {link}\n    return {expr}\n"
    if "_sigmoid" in expr:
        predict_body += SIGMOID
    kink_block = ""
    if kink is not None:
        kink_block = (TEMPLATES / "kink.py.tmpl").read_text(encoding="utf-8").replace("{kink}", str(kink))
    title = name.replace("_", " ").capitalize()
    fill = {
        "{target}": target,
        "{hyper_block}": _hyper_block(hyper),
        "{predict_body}": predict_body,
        "{loss_hint}": f"    # for a {target!r} target, for example {LOSS_HINT[target]}\n",
        "{kink_block}": kink_block,
        "{kw}": kw,
        "{target_words}": registry.TARGETS[target],
        "{kink_note}": _kink_note(kink),
        "{hyper_grad}": _hyper_grad(hyper),
        "{name}": name,
        "{title}": title,
    }
    out = []
    for t in ("model.py.tmpl", "derivation.md.tmpl"):
        text = (TEMPLATES / t).read_text(encoding="utf-8")
        for key, value in fill.items():
            text = text.replace(key, value)
        out.append(text)
    return out[0], out[1]


def _hyper_grad(hyper: list[Hyper]) -> str:
    """The derivation's block calls grad at a chosen hyperparameter through ``with_hyper``: ``model.grad`` takes
    none (``model.grad(..., tau=...)`` is a TypeError)."""
    if not hyper:
        return ""
    chosen = ", ".join(f"{h.name}={h.default!r}" for h in hyper)
    return (
        f"  # at the default {', '.join(h.name for h in hyper)}\n"
        f"g_at = model.with_hyper({chosen}).grad(params, X, y)  # never grad(..., {hyper[0].name}=...): a TypeError"
    )


def _kink_note(kink: int | None) -> str:
    if kink is None:
        return ""
    what = "the gradient jumps" if kink == 1 else "the second derivative jumps"
    return (
        f"\nThe loss has a kink where {what} (`KINK_ORDER = {kink}`); `kink_distance` measures how far each"
        "\nsample is from it. Say here where the kink lies and which subgradient `grad` returns there."
    )


#: The options' placeholders of the derivation template: anything may stand in their place.
_OPTIONS = ("{target_words}", "{kink_note}", "{hyper_grad}", "{target}")


def is_template(text: str, name: str) -> bool:
    """Whether a derivation's ``text`` is still the template ``lab new`` wrote for ``name``, whatever options
    it was written with (blank space at the ends of lines aside)."""
    layer = (TEMPLATES / "layer.md.tmpl").read_text(encoding="utf-8")
    layer = layer.replace("{name}", name).replace("{title}", name.replace("_", " ").capitalize())
    if _strip(layer) == _strip(text):
        return True
    tmpl = (TEMPLATES / "derivation.md.tmpl").read_text(encoding="utf-8")
    tmpl = tmpl.replace("{name}", name).replace("{title}", name.replace("_", " ").capitalize())
    parts = re.split("(" + "|".join(re.escape(o) for o in _OPTIONS) + ")", _strip(tmpl))
    pattern = "".join(".*?" if p in _OPTIONS else re.escape(p) for p in parts)
    return re.fullmatch(pattern, _strip(text), re.S) is not None


def _strip(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def new(
    name: str, root: Path = ROOT, *, target: str = "real", kink: int | None = None, hyper: list[Hyper] = ()
) -> tuple[Path, Path]:
    """Write ``lab/models/NAME.py`` and ``derivations/NAME.md`` under ``root``; return their paths."""
    if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_") or name != name.lower():
        raise ValueError(f"{name!r} is not a valid model name: use a lower-case Python identifier such as log_cosh")
    py = root / "lab" / "models" / f"{name}.py"
    md = root / "derivations" / f"{name}.md"
    taken = [str(p.relative_to(root)) for p in (py, md) if p.exists()]
    if taken or (root == ROOT and name in registry.names()):
        raise ValueError(f"model {name!r} exists already ({', '.join(taken) or 'registered'}); pick another name")
    texts = render(name, target, kink, hyper)
    for path, text in zip((py, md), texts, strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return py, md


def new_layer(name: str, root: Path = ROOT) -> tuple[Path, Path]:
    """Write ``lab/layers/NAME.py`` and ``derivations/layers/NAME.md`` under ``root``; return their paths."""
    if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_") or name != name.lower():
        raise ValueError(f"{name!r} is not a valid layer name: use a lower-case Python identifier such as swiglu")
    py = root / "lab" / "layers" / f"{name}.py"
    md = root / "derivations" / "layers" / f"{name}.md"
    taken = [str(p.relative_to(root)) for p in (py, md) if p.exists()]
    if taken:
        raise ValueError(f"layer {name!r} exists already ({', '.join(taken)}); pick another name")
    title = name.replace("_", " ").capitalize()
    for path, tmpl in ((py, "layer.py.tmpl"), (md, "layer.md.tmpl")):
        text = (TEMPLATES / tmpl).read_text(encoding="utf-8")
        text = (
            text.format(name=name, title=title)
            if tmpl.endswith(".py.tmpl")
            else text.replace("{name}", name).replace("{title}", title)
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return py, md
